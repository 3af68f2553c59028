//! The replay: every scaling rule over every load trace on the simulated pool
//! (`tk8s_scaler::simulate`). Prints the table, writes `bench/results/scaling.json` and a chart
//! of replicas over time per trace (`bench/results/scaling.svg`). Run with
//! `cargo xtask bench scaling`.

use plotters::prelude::*;
use std::path::Path;
use tk8s_scaler::simulate::{Outcome, default_pool, replay, traces};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = default_pool();
    let max = 20;
    let outcomes = replay(&pool, max);
    let mut table = format!(
        "Pool: {} slots per replica, {} s to start, {} s drain grace, at most {max} replicas, scale to zero allowed.\n\n\
         | trace | rule | time to drain (s) | schedule-to-start p95 (s) | replica-minutes | scale events | scale-downs with work in flight | tasks killed |\n\
         |---|---|---|---|---|---|---|---|\n",
        pool.slots_per_replica, pool.startup_s, pool.grace_s
    );
    for o in &outcomes {
        let drain = if o.time_to_drain_s == u32::MAX { "never".to_string() } else { o.time_to_drain_s.to_string() };
        table.push_str(&format!(
            "| {} | {} | {drain} | {} | {:.1} | {} | {} | {} |\n",
            o.trace,
            o.rule,
            o.schedule_to_start_p95_s,
            o.replica_minutes,
            o.scale_events,
            o.scale_downs_with_work_in_flight,
            o.tasks_killed
        ));
    }
    println!("{table}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    std::fs::create_dir_all(&out)?;
    let rows: Vec<String> = outcomes
        .iter()
        .map(|o| {
            format!(
                "{{\"trace\": \"{}\", \"rule\": \"{}\", \"time_to_drain_s\": {}, \"schedule_to_start_p95_s\": {}, \"replica_minutes\": {:.1}, \"scale_events\": {}, \"scale_downs_with_work_in_flight\": {}, \"tasks_killed\": {}}}",
                o.trace,
                o.rule,
                if o.time_to_drain_s == u32::MAX { "null".to_string() } else { o.time_to_drain_s.to_string() },
                o.schedule_to_start_p95_s,
                o.replica_minutes,
                o.scale_events,
                o.scale_downs_with_work_in_flight,
                o.tasks_killed
            )
        })
        .collect();
    std::fs::write(out.join("scaling.json"), format!("{{\n  \"replay\": [\n    {}\n  ]\n}}\n", rows.join(",\n    ")))?;
    std::fs::write(out.join("scaling.md"), &table)?;
    chart(&out.join("scaling.svg"), &outcomes)?;
    Ok(())
}

fn chart(file: &Path, outcomes: &[Outcome]) -> Result<(), Box<dyn std::error::Error>> {
    let traces = traces();
    let root = SVGBackend::new(file, (1000, 220 * traces.len() as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((traces.len(), 1));
    let colors = [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(127, 127, 127)];
    for (area, trace) in areas.iter().zip(&traces) {
        let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.trace == trace.name).collect();
        let len = trace.seconds.len() as f64 / 60.0;
        let top = mine.iter().flat_map(|o| o.replicas.iter()).copied().max().unwrap_or(1) as f64 + 1.0;
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{}: replicas over time (minutes)", trace.name), ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(36)
            .build_cartesian_2d(0.0..len, 0.0..top)?;
        chart.configure_mesh().draw()?;
        let load_top = trace.seconds.iter().map(|a| a.tasks).max().unwrap_or(1).max(1) as f64;
        chart.draw_series(AreaSeries::new(
            trace.seconds.iter().enumerate().step_by(5).map(|(s, a)| (s as f64 / 60.0, f64::from(a.tasks) / load_top * top * 0.5)),
            0.0,
            RGBColor(44, 160, 44).mix(0.15),
        ))?;
        for (k, o) in mine.iter().enumerate() {
            let color = colors[k % colors.len()];
            chart
                // Every 5 s is enough for the eye and keeps the file small.
                .draw_series(LineSeries::new(
                    o.replicas.iter().enumerate().step_by(5).map(|(s, r)| (s as f64 / 60.0, f64::from(*r))),
                    color.stroke_width(2),
                ))?
                .label(o.rule)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    }
    root.present()?;
    Ok(())
}
