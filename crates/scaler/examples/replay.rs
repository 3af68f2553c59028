//! The replay: every scaling rule over load traces on the simulated pool
//! (`tk8s_scaler::simulate`). With no arguments it runs the built-in traces, prints the table
//! and writes `bench/results/scaling.{json,md,svg}` (`cargo xtask bench scaling`). With
//! `--trace FILE.csv` (repeatable; `time_s,arrivals,duration_s` per line) it replays your own
//! load shapes and prints their table; `--out DIR` writes the JSON, Markdown and chart there.

use plotters::prelude::*;
use std::path::{Path, PathBuf};
use tk8s_scaler::simulate::{Outcome, Pool, Trace, default_pool, read_trace, replay, traces, verdicts};

const USAGE: &str = "usage: replay [--trace FILE.csv]... [--out DIR]";

fn main() {
    if let Err(e) = run() {
        eprintln!("replay: {e}");
        std::process::exit(if e.to_string().starts_with("usage") { 64 } else { 1 });
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (mut files, mut out) = (Vec::<PathBuf>::new(), None::<PathBuf>);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--trace" => files.push(args.next().ok_or(format!("{USAGE}\n--trace needs a file"))?.into()),
            "--out" => out = Some(args.next().ok_or(format!("{USAGE}\n--out needs a directory"))?.into()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("{USAGE}\nunknown argument {other:?}").into()),
        }
    }
    let traces: Vec<Trace> = if files.is_empty() {
        out.get_or_insert_with(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results"));
        traces()
    } else {
        files.iter().map(|f| read_trace(f)).collect::<Result<_, _>>()?
    };
    let pool = default_pool();
    let max = 20;
    let outcomes = replay(&traces, &pool, max);
    let mut table = format!(
        "Pool: {} slots per replica, {} s to start, {} s drain grace, at most {max} replicas, scale to zero allowed.\n\n\
         | trace | rule | time to drain (s) | schedule-to-start p95 (s) | replica-minutes | scale events | replicas removed before ready | scale-downs with work in flight | tasks killed |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        pool.slots_per_replica, pool.startup_s, pool.grace_s
    );
    for o in &outcomes {
        let drain = if o.time_to_drain_s == u32::MAX { "never".to_string() } else { o.time_to_drain_s.to_string() };
        table.push_str(&format!(
            "| {} | {} | {drain} | {} | {:.1} | {} | {} | {} | {} |\n",
            o.trace,
            o.rule,
            o.schedule_to_start_p95_s,
            o.replica_minutes,
            o.scale_events,
            o.removed_before_ready,
            o.scale_downs_with_work_in_flight,
            o.tasks_killed
        ));
    }
    table.push_str(
        "\nOur rule against the best peer on each trace (goal: p95 at most the fastest peer's + 1 s, replica-minutes at most 1.1x the cheapest peer that kills no task, nothing killed):\n\n\
         | trace | p95 (s) | fastest peer's p95 (s) | replica-minutes | cheapest safe peer's | ratio | goal |\n|---|---|---|---|---|---|---|\n",
    );
    for v in verdicts(&outcomes) {
        let (cheapest, ratio) = match v.cheapest_safe_peer_minutes {
            Some(m) => (format!("{m:.1}"), format!("{:.2}", v.replica_minutes / m)),
            None => ("none".into(), "-".into()),
        };
        table.push_str(&format!(
            "| {} | {} | {} | {:.1} | {cheapest} | {ratio} | {} |\n",
            v.trace,
            v.p95_s,
            v.best_peer_p95_s,
            v.replica_minutes,
            if v.holds(1, 1.1) { "held" } else { "missed" }
        ));
    }
    table.push_str(
        "\nThe same goal on other pools (the defaults were chosen on the pool above; goal held on how many traces, and where it was missed):\n\n\
         | slots per replica | start (s) | held | missed on |\n|---|---|---|---|\n",
    );
    for other in [(10, 10), (10, 40), (5, 20), (20, 20)] {
        let pool = Pool { slots_per_replica: other.0, startup_s: other.1, ..default_pool() };
        let v = verdicts(&replay(&traces, &pool, max));
        let missed: Vec<String> = v
            .iter()
            .filter(|v| !v.holds(1, 1.1))
            .map(|v| {
                format!(
                    "{} (p95 {} s vs {} s, {:.2}x the replica-minutes)",
                    v.trace,
                    v.p95_s,
                    v.best_peer_p95_s,
                    v.replica_minutes / v.cheapest_safe_peer_minutes.unwrap_or(f64::INFINITY)
                )
            })
            .collect();
        table.push_str(&format!(
            "| {} | {} | {} of {} | {} |\n",
            other.0,
            other.1,
            v.len() - missed.len(),
            v.len(),
            if missed.is_empty() { "-".to_string() } else { missed.join("; ") }
        ));
    }
    println!("{table}");
    let Some(out) = out else { return Ok(()) };
    std::fs::create_dir_all(&out)?;
    let rows: Vec<String> = outcomes
        .iter()
        .map(|o| {
            format!(
                "{{\"trace\": \"{}\", \"rule\": \"{}\", \"time_to_drain_s\": {}, \"schedule_to_start_p95_s\": {}, \"replica_minutes\": {:.1}, \"scale_events\": {}, \"removed_before_ready\": {}, \"scale_downs_with_work_in_flight\": {}, \"tasks_killed\": {}}}",
                o.trace.replace('"', "'"),
                o.rule,
                if o.time_to_drain_s == u32::MAX { "null".to_string() } else { o.time_to_drain_s.to_string() },
                o.schedule_to_start_p95_s,
                o.replica_minutes,
                o.scale_events,
                o.removed_before_ready,
                o.scale_downs_with_work_in_flight,
                o.tasks_killed
            )
        })
        .collect();
    std::fs::write(out.join("scaling.json"), format!("{{\n  \"replay\": [\n    {}\n  ]\n}}\n", rows.join(",\n    ")))?;
    std::fs::write(out.join("scaling.md"), &table)?;
    chart(&out.join("scaling.svg"), &traces, &outcomes)?;
    Ok(())
}

fn chart(file: &Path, traces: &[Trace], outcomes: &[Outcome]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(file, (1000, 220 * traces.len() as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((traces.len(), 1));
    let colors = [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(127, 127, 127)];
    for (area, trace) in areas.iter().zip(traces) {
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
