//! The greeting system end to end against a real `temporal server start-dev`: the worker and
//! the orchestrator binaries in every orchestrator mode, checked through the `temporal` CLI.

use std::path::Path;
use std::time::Duration;
use tk8s_testkit::{DevServer, Host, app_env, wait_until};

use tk8s_testkit::COMPLETED;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_greeting"))
}

fn worker(server: &DevServer) -> Host {
    let w = Host::spawn(bin(), &["worker"], &app_env(&server.address()));
    assert!(w.wait_ready(Duration::from_secs(30)), "worker never became ready:\n{}", w.proc.output());
    w
}

fn orchestrate(server: &DevServer, settings: &[(&str, &str)]) -> Host {
    let mut env = app_env(&server.address());
    for (k, v) in settings {
        env.insert(k.to_string(), v.to_string());
    }
    Host::spawn(bin(), &["orchestrator"], &env)
}

fn all_completed(server: &DevServer, query: &str, at_least: usize) -> bool {
    let statuses = server.statuses(query);
    statuses.len() >= at_least && statuses.values().all(|s| s == COMPLETED)
}

#[test]
fn once_mode_runs_workflows_to_completion_and_never_double_starts() {
    let server = DevServer::start();
    let w = worker(&server);
    let mut o = orchestrate(&server, &[("TK8S_ORCHESTRATOR_COUNT", "3")]);
    let status = o.proc.wait_exit(Duration::from_secs(60)).expect("orchestrator finishes");
    assert!(status.success(), "orchestrator failed:\n{}", o.proc.output());
    let statuses = server.statuses("WorkflowType='GreetingWorkflow'");
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    assert!(statuses.keys().all(|id| id.starts_with("greeting-once-")), "{statuses:?}");
    assert!(statuses.values().all(|s| s == COMPLETED), "{statuses:?}");
    let result = server.cli(&["workflow", "result", "--workflow-id", "greeting-once-1"]);
    let text = String::from_utf8_lossy(&result.stdout);
    assert!(text.contains("Hello, World! Welcome to Temporal on Kubernetes."), "{text}");

    // A restarted orchestrator finds its ids taken and starts nothing new.
    let mut again = orchestrate(&server, &[("TK8S_ORCHESTRATOR_COUNT", "3")]);
    assert!(again.proc.wait_exit(Duration::from_secs(60)).expect("second run finishes").success(), "{}", again.proc.output());
    assert!(again.proc.output().contains("already started earlier"), "{}", again.proc.output());
    assert_eq!(server.statuses("WorkflowType='GreetingWorkflow'").len(), 3);
    // Our counters: the worker saw three workflows complete.
    assert_eq!(w.metric("temporal_workflow_completed_total"), Some(3.0));

    // The container HEALTHCHECK: `greeting probe readyz` asks the host's own admin port.
    let probe = |port: u16| {
        std::process::Command::new(bin())
            .args(["probe", "readyz"])
            .env_clear()
            .env("TK8S_ADMIN_PORT", port.to_string())
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(probe(w.admin_port()), Some(0));
    assert_eq!(probe(tk8s_testkit::free_port()), Some(1), "nothing listens there");
}

#[test]
fn interval_and_rate_modes_use_deterministic_slot_ids() {
    let server = DevServer::start();
    let _w = worker(&server);
    let mut interval = orchestrate(
        &server,
        &[("TK8S_ORCHESTRATOR_MODE", "interval"), ("TK8S_ORCHESTRATOR_INTERVAL", "1s"), ("TK8S_ORCHESTRATOR_RUN_FOR", "3500ms")],
    );
    let mut rate = orchestrate(
        &server,
        &[
            ("TK8S_ORCHESTRATOR_MODE", "rate"),
            ("TK8S_ORCHESTRATOR_RATE", "5"),
            ("TK8S_ORCHESTRATOR_RUN_FOR", "2s"),
            ("TK8S_WORKFLOW_ID_PREFIX", "load"),
        ],
    );
    assert!(interval.proc.wait_exit(Duration::from_secs(30)).expect("interval stops").success(), "{}", interval.proc.output());
    assert!(rate.proc.wait_exit(Duration::from_secs(30)).expect("rate stops").success(), "{}", rate.proc.output());
    let q_interval = "WorkflowId STARTS_WITH 'greeting-interval-'";
    let q_rate = "WorkflowId STARTS_WITH 'load-rate-'";
    assert!(wait_until(Duration::from_secs(30), || all_completed(&server, q_interval, 3)), "{:?}", server.statuses(q_interval));
    assert!(wait_until(Duration::from_secs(30), || all_completed(&server, q_rate, 8)), "{:?}", server.statuses(q_rate));
    let interval_ids = server.statuses(q_interval);
    assert!(interval_ids.len() <= 5, "one per second for 3.5 s: {interval_ids:?}");
    // Ids are consecutive epoch slots.
    let mut slots: Vec<u128> = interval_ids.keys().filter_map(|id| id.rsplit('-').next()?.parse().ok()).collect();
    slots.sort();
    assert!(slots.windows(2).all(|w| w[1] == w[0] + 1), "{slots:?}");
    let rate_count = server.statuses(q_rate).len();
    assert!((8..=12).contains(&rate_count), "5/s for 2 s started {rate_count}");
}

#[test]
fn schedule_mode_creates_then_updates_a_schedule_that_starts_workflows() {
    let server = DevServer::start();
    let _w = worker(&server);
    let settings = [("TK8S_ORCHESTRATOR_MODE", "schedule"), ("TK8S_SCHEDULE_EVERY", "1s")];
    let mut first = orchestrate(&server, &settings);
    assert!(first.proc.wait_exit(Duration::from_secs(30)).expect("exits").success(), "{}", first.proc.output());
    assert!(first.proc.output().contains("schedule created"), "{}", first.proc.output());
    let mut second = orchestrate(&server, &[("TK8S_ORCHESTRATOR_MODE", "schedule"), ("TK8S_SCHEDULE_EVERY", "2s")]);
    assert!(second.proc.wait_exit(Duration::from_secs(30)).expect("exits").success(), "{}", second.proc.output());
    assert!(second.proc.output().contains("schedule updated"), "{}", second.proc.output());
    let describe = server.cli(&["schedule", "describe", "--schedule-id", "greeting-schedule", "--output", "json"]);
    let text = String::from_utf8_lossy(&describe.stdout);
    assert!(describe.status.success(), "{}", String::from_utf8_lossy(&describe.stderr));
    assert!(text.contains("GreetingWorkflow") && text.contains("\"2s\""), "schedule not updated to 2s:\n{text}");
    let q = "WorkflowId STARTS_WITH 'greeting-' AND WorkflowType='GreetingWorkflow'";
    assert!(wait_until(Duration::from_secs(30), || all_completed(&server, q, 1)), "schedule started nothing: {:?}", server.statuses(q));
}

#[test]
fn orchestrator_exports_backlog_and_pollers_and_a_missing_namespace_is_a_config_error() {
    let server = DevServer::start();
    // No worker yet: four workflows from a fire-and-forget run, plus one from a long-lived
    // interval orchestrator that we watch, pile up in the backlog.
    let mut batch = orchestrate(&server, &[("TK8S_ORCHESTRATOR_COUNT", "4"), ("TK8S_ORCHESTRATOR_WAIT", "false")]);
    assert!(batch.proc.wait_exit(Duration::from_secs(30)).expect("exits").success(), "{}", batch.proc.output());
    let mut o = orchestrate(
        &server,
        &[("TK8S_ORCHESTRATOR_MODE", "interval"), ("TK8S_ORCHESTRATOR_INTERVAL", "24h"), ("TK8S_BACKLOG_INTERVAL", "1s")],
    );
    assert!(o.wait_ready(Duration::from_secs(30)), "{}", o.proc.output());
    let backlog = "tk8s_task_queue_backlog{task_queue=\"greeting\",task_type=\"workflow\"}";
    // The server's count is approximate and converges over a few seconds.
    assert!(wait_until(Duration::from_secs(30), || o.metric(backlog) == Some(5.0)), "backlog: {:?}", o.metric(backlog));
    assert_eq!(o.metric("tk8s_task_queue_pollers{task_queue=\"greeting\",task_type=\"workflow\"}"), Some(0.0));
    let _w = worker(&server);
    assert!(wait_until(Duration::from_secs(30), || o.metric(backlog) == Some(0.0)), "backlog: {:?}", o.metric(backlog));
    assert!(o.metric("tk8s_task_queue_pollers{task_queue=\"greeting\",task_type=\"workflow\"}").unwrap_or(0.0) >= 1.0);
    assert!(wait_until(Duration::from_secs(30), || o.metric("tk8s_orchestrator_workflows_completed_total") == Some(1.0)));
    o.proc.signal(tk8s_testkit::SIGTERM);
    assert!(o.proc.wait_exit(Duration::from_secs(10)).expect("exits on SIGTERM").success(), "{}", o.proc.output());

    let mut env = app_env(&server.address());
    env.insert("TEMPORAL_NAMESPACE".into(), "no-such-namespace".into());
    let mut w = Host::spawn(bin(), &["worker"], &env);
    let status = w.proc.wait_exit(Duration::from_secs(30)).expect("exits");
    assert_eq!(status.code(), Some(78), "{}", w.proc.output());
    assert!(w.proc.output().contains("namespace \\\"no-such-namespace\\\" does not exist"), "{}", w.proc.output());
}
