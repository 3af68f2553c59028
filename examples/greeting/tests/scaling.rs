//! The scaling signal live, against a real dev server: an orchestrator in `rate` mode pushes
//! more work than one worker with two activity slots drains; the scaler's desired count rises;
//! a second worker joins; the backlog drains and every workflow completes; the desired count
//! falls, but only after the hold (a quarter of the scale-down window, and the surge hold). KEDA's view is read through a gRPC client
//! generated from KEDA's external scaler protocol.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use tk8s_config::spec as S;
use tk8s_scaler::keda::proto::external_scaler_client::ExternalScalerClient;
use tk8s_scaler::keda::proto::{GetMetricsRequest, ScaledObjectRef};
use tk8s_testkit::{DevServer, Host, Proc, app_env, free_port, http_get, wait_until};

/// The scale-down window; the rule's first hold is a quarter of it, and the surge hold is set
/// to the same, so whichever term made the peak, it is held this long.
const WINDOW_S: f64 = 40.0;
const HOLD_S: f64 = WINDOW_S / 4.0;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_greeting"))
}

fn gauge(body: &str, name: &str) -> Option<f64> {
    body.lines().find(|l| l.starts_with(name) && l[name.len()..].starts_with('{')).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// A worker on a known admin port (the scaler is told where the workers' /metrics are).
fn worker(server: &DevServer, admin: u16) -> Proc {
    let mut env = app_env(&server.address());
    env.insert(S::WORKER_MAX_CONCURRENT_ACTIVITIES.env.into(), "2".into());
    env.insert(S::ADMIN_BIND.env.into(), "127.0.0.1".into());
    env.insert(S::ADMIN_PORT.env.into(), admin.to_string());
    let p = Proc::spawn(bin(), &["worker"], &env);
    assert!(wait_until(Duration::from_secs(30), || http_get(admin, "/readyz").map(|r| r.0) == Some(200)), "{}", p.output());
    p
}

#[test]
fn desired_replicas_rise_under_load_and_fall_only_after_the_hold() {
    let server = DevServer::start();
    let (admin_a, admin_b) = (free_port(), free_port());
    let _a = worker(&server, admin_a);
    let mut env = app_env(&server.address());
    for (k, v) in [
        (S::SCALER_PORT.env, "0".to_string()),
        (S::SCALER_BIND.env, "127.0.0.1".to_string()),
        (S::SCALER_INTERVAL.env, "500ms".to_string()),
        (S::SCALER_SCALE_DOWN_WINDOW.env, format!("{WINDOW_S}s")),
        (S::SCALER_SURGE_HOLD.env, format!("{HOLD_S}s")),
        (S::SCALER_DRAIN_WITHIN.env, "10s".to_string()),
        (S::SCALER_WORKER_METRICS.env, format!("127.0.0.1:{admin_a},127.0.0.1:{admin_b}")),
    ] {
        env.insert(k.into(), v);
    }
    let scaler = Host::spawn(bin(), &["scaler"], &env);
    assert!(scaler.wait_ready(Duration::from_secs(30)), "{}", scaler.proc.output());
    let grpc_port: u16 = {
        let mut port = None;
        wait_until(Duration::from_secs(10), || {
            port = scaler
                .proc
                .output()
                .lines()
                .find(|l| l.contains("scaler serving"))
                .and_then(|l| l.split("\"addr\":\"").nth(1)?.split('"').next()?.rsplit(':').next()?.parse().ok());
            port.is_some()
        });
        port.unwrap_or_else(|| panic!("the scaler did not log its gRPC address:\n{}", scaler.proc.output()))
    };

    // More work than one worker drains: 4 workflows a second, each with a 1 s activity, on two
    // slots (2 activities a second).
    let mut load = app_env(&server.address());
    for (k, v) in [
        (S::ORCHESTRATOR_MODE.env, "rate"),
        (S::ORCHESTRATOR_RATE.env, "4"),
        (S::ORCHESTRATOR_RUN_FOR.env, "8s"),
        (S::ORCHESTRATOR_INPUT.env, "{\"name\":\"load\",\"work_ms\":1000}"),
    ] {
        load.insert(k.into(), v.into());
    }
    let mut orchestrator = Host::spawn(bin(), &["orchestrator"], &load);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut client =
        runtime.block_on(ExternalScalerClient::connect(format!("http://127.0.0.1:{grpc_port}"))).expect("the scaler serves gRPC");
    let object = ScaledObjectRef {
        name: "greeting-worker".into(),
        namespace: "default".into(),
        scaler_metadata: BTreeMap::new().into_iter().collect(),
    };
    let keda_desired = |client: &mut ExternalScalerClient<_>| {
        let request = GetMetricsRequest { scaled_object_ref: Some(object.clone()), metric_name: "s0-tk8s_desired_worker_replicas".into() };
        runtime.block_on(client.get_metrics(request)).ok().map(|r| r.into_inner().metric_values[0].metric_value)
    };

    // Sample the scaler's decision (gRPC, as KEDA sees it) and its raw need (/metrics).
    let started = Instant::now();
    let mut samples: Vec<(f64, i64, f64)> = Vec::new();
    let mut second: Option<Proc> = None;
    let mut peak = 0;
    let done = |server: &DevServer| {
        let s = server.statuses("WorkflowId STARTS_WITH 'greeting-rate-'");
        !s.is_empty() && s.values().all(|v| v == "WORKFLOW_EXECUTION_STATUS_COMPLETED")
    };
    while started.elapsed() < Duration::from_secs(150) {
        std::thread::sleep(Duration::from_millis(250));
        let (Some(desired), Some(raw)) =
            (keda_desired(&mut client), http_get(scaler.admin_port(), "/metrics").and_then(|(_, b)| gauge(&b, "tk8s_scaler_raw_replicas")))
        else {
            continue;
        };
        samples.push((started.elapsed().as_secs_f64(), desired, raw));
        peak = peak.max(desired);
        if desired >= 2 && second.is_none() {
            second = Some(worker(&server, admin_b));
        }
        let finished = orchestrator.proc.wait_exit(Duration::ZERO).is_some();
        if finished && desired == 1 && peak >= 2 && done(&server) {
            break;
        }
    }
    let trace: Vec<String> = samples.iter().map(|(t, d, r)| format!("{t:.1}s desired {d} raw {r}")).collect();
    assert!(second.is_some() && peak >= 2, "the desired count never rose above 1:\n{}\n{}", trace.join("\n"), scaler.proc.output());
    assert!(
        wait_until(Duration::from_secs(60), || done(&server)),
        "workflows did not all complete: {:?}",
        server.statuses("WorkflowId STARTS_WITH 'greeting-rate-'")
    );
    // The fall: after the last moment the raw need was at the peak's level, at least the hold
    // passes (less one decision interval and the sampling period).
    let fall = samples
        .iter()
        .position(|(t, d, _)| *d < peak && samples.iter().any(|(t2, d2, _)| *d2 == peak && t2 < t))
        .unwrap_or_else(|| panic!("the desired count never fell:\n{}", trace.join("\n")));
    let last_high = samples[..fall].iter().rev().find(|(_, _, r)| *r >= peak as f64).map(|(t, _, _)| *t).unwrap_or(0.0);
    let waited = samples[fall].0 - last_high;
    assert!(waited >= HOLD_S - 1.5, "fell {waited:.1} s after the need did, inside the {HOLD_S} s hold:\n{}", trace.join("\n"));
    let is_active = runtime.block_on(client.is_active(object.clone())).unwrap().into_inner().result;
    assert!(is_active, "one replica stays (min_replicas 1)");
    eprintln!("measured: desired peaked at {peak}; fell {waited:.1} s after the need dropped (hold {HOLD_S} s)");
}
