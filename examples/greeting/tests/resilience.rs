//! Failure scenarios against real dev servers: readiness through a server outage, SIGTERM with
//! activities in flight, and SIGKILL of one of two workers under load. Each prints the figures
//! it measured (run with `--nocapture` to see them).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use tk8s_testkit::{DevServer, Host, SIGKILL, SIGTERM, app_env, wait_until};

const COMPLETED: &str = "WORKFLOW_EXECUTION_STATUS_COMPLETED";
const ACTIVITY_SLOTS_USED: &str =
    "temporal_worker_task_slots_used{namespace=\"default\",task_queue=\"greeting\",worker_type=\"ActivityWorker\"}";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_greeting"))
}

fn start_batch(server: &DevServer, prefix: &str, count: u32, work_ms: u64) {
    let mut env = app_env(&server.address());
    env.insert("TK8S_ORCHESTRATOR_COUNT".into(), count.to_string());
    env.insert("TK8S_ORCHESTRATOR_WAIT".into(), "false".into());
    env.insert("TK8S_WORKFLOW_ID_PREFIX".into(), prefix.into());
    env.insert("TK8S_WORKFLOW_INPUT".into(), format!("{{\"name\":\"{prefix}\",\"work_ms\":{work_ms}}}"));
    let mut o = Host::spawn(bin(), &["orchestrator"], &env);
    let status = o.proc.wait_exit(Duration::from_secs(60)).expect("orchestrator finishes");
    assert!(status.success(), "{}", o.proc.output());
}

/// Every workflow of the batch is inside its long activity (`process_greeting`, heartbeating),
/// not in the instant one before it.
fn long_activities_running(server: &DevServer, prefix: &str, count: usize) -> bool {
    (1..=count).all(|n| server.activity_heartbeating(&format!("{prefix}-once-{n}"), "process_greeting"))
}

fn all_complete(server: &DevServer, prefix: &str, count: usize) -> bool {
    let s = server.statuses(&format!("WorkflowId STARTS_WITH '{prefix}-'"));
    s.len() == count && s.values().all(|v| v == COMPLETED)
}

fn worker(env: &BTreeMap<String, String>) -> Host {
    let w = Host::spawn(bin(), &["worker"], env);
    assert!(w.wait_ready(Duration::from_secs(30)), "{}", w.proc.output());
    w
}

/// No activity failed, timed out or was cancelled in any of the workflows.
fn no_activity_trouble(server: &DevServer, prefix: &str, count: usize) {
    for n in 1..=count {
        let events = server.history_event_types(&format!("{prefix}-once-{n}"));
        let bad: Vec<_> = events
            .iter()
            .filter(|e| e.contains("ACTIVITY_TASK_FAILED") || e.contains("ACTIVITY_TASK_TIMED_OUT") || e.contains("ACTIVITY_TASK_CANCEL"))
            .collect();
        assert!(bad.is_empty(), "{prefix}-once-{n}: {bad:?}");
    }
}

#[test]
fn readiness_follows_a_server_outage_and_no_workflow_is_lost() {
    let mut server = DevServer::start_persistent();
    let w = worker(&app_env(&server.address()));
    assert_eq!(tk8s_testkit::http_get(w.admin_port(), "/startupz").map(|r| r.0), Some(200));
    assert_eq!(tk8s_testkit::http_get(w.admin_port(), "/livez").map(|r| r.0), Some(200));
    start_batch(&server, "outage", 3, 3000);
    assert!(wait_until(Duration::from_secs(20), || long_activities_running(&server, "outage", 3)), "{}", w.proc.output());

    let stopped = Instant::now();
    server.stop();
    assert!(wait_until(Duration::from_secs(10), || w.readyz() == Some(503)), "still ready 10 s into the outage");
    let to_unready = stopped.elapsed();
    let (_, body) = tk8s_testkit::http_get(w.admin_port(), "/readyz").expect("admin answers during the outage");
    assert!(body.contains("temporal unreachable") || body.contains("polls failing"), "{body}");
    assert_eq!(tk8s_testkit::http_get(w.admin_port(), "/livez").map(|r| r.0), Some(200), "liveness must not follow Temporal");

    std::thread::sleep(Duration::from_secs(2));
    let restarted = Instant::now();
    server.restart();
    assert!(w.wait_ready(Duration::from_secs(60)), "not ready again after the restart:\n{}", w.proc.output());
    let to_ready = restarted.elapsed();
    assert!(
        wait_until(Duration::from_secs(90), || all_complete(&server, "outage", 3)),
        "{:?}",
        server.statuses("WorkflowId STARTS_WITH 'outage-'")
    );
    eprintln!("measured: readiness 503 after {} ms of outage; 200 again {} ms after restart", to_unready.as_millis(), to_ready.as_millis());
}

#[test]
fn sigterm_drains_in_flight_activities_within_the_grace_period() {
    let server = DevServer::start();
    let mut env = app_env(&server.address());
    env.insert("TK8S_SHUTDOWN_GRACE".into(), "15s".into());
    let mut a = worker(&env);
    start_batch(&server, "drain", 3, 4000);
    assert!(
        wait_until(Duration::from_secs(20), || long_activities_running(&server, "drain", 3)),
        "the long activities never ran on worker A:\n{}",
        a.proc.output()
    );

    let signalled = Instant::now();
    a.proc.signal(SIGTERM);
    assert!(wait_until(Duration::from_secs(10), || a.readyz() == Some(503)), "readiness did not turn off on SIGTERM");
    let status = a.proc.wait_exit(Duration::from_secs(20)).expect("worker A exits within grace + deadline");
    let drain = signalled.elapsed();
    assert!(status.success(), "{}", a.proc.output());
    assert!(drain < Duration::from_secs(15), "drain took {drain:?}");
    assert!(a.proc.output().contains("shutdown ended: drained"), "{}", a.proc.output());
    // The activities in flight at the signal finished on A itself: drained, not handed over.
    let a_identity = format!("{}@", a.proc.pid());
    for n in 1..=3 {
        let by = server.activity_completed_by(&format!("drain-once-{n}"), "process_greeting");
        assert!(
            by.as_deref().is_some_and(|i| i.starts_with(&a_identity)),
            "drain-once-{n}: process_greeting completed by {by:?}, not worker A"
        );
    }

    // Another worker finishes the workflows (their next activities were not started on A).
    let _b = worker(&app_env(&server.address()));
    assert!(
        wait_until(Duration::from_secs(60), || all_complete(&server, "drain", 3)),
        "{:?}",
        server.statuses("WorkflowId STARTS_WITH 'drain-'")
    );
    no_activity_trouble(&server, "drain", 3);
    eprintln!("measured: SIGTERM with 3 activities in flight -> exit 0 after {} ms", drain.as_millis());
}

#[test]
fn sigkill_of_one_of_two_workers_under_load_loses_no_workflow() {
    let server = DevServer::start();
    let env = app_env(&server.address());
    let a = worker(&env);
    let _b = worker(&env);
    start_batch(&server, "kill", 12, 1500);
    assert!(wait_until(Duration::from_secs(10), || a.metric(ACTIVITY_SLOTS_USED).unwrap_or(0.0) >= 1.0), "worker A never ran an activity");
    let killed = Instant::now();
    a.proc.signal(SIGKILL);
    assert!(
        wait_until(Duration::from_secs(90), || all_complete(&server, "kill", 12)),
        "{:?}",
        server.statuses("WorkflowId STARTS_WITH 'kill-'")
    );
    eprintln!("measured: all 12 workflows completed {} ms after SIGKILL of one worker", killed.elapsed().as_millis());
}

#[test]
fn as_pid_1_sigterm_still_drains_and_a_second_signal_exits_at_once() {
    let server = DevServer::start();
    // PID 1 of a fresh PID namespace gets no default signal actions: only handled signals reach
    // it. `unshare --fork` makes the worker that PID 1, as in a container without an init.
    let mut env = app_env(&server.address());
    env.insert("TK8S_SHUTDOWN_GRACE".into(), "30s".into());
    let unshare = Path::new("/usr/bin/unshare");
    let mut pid1 = Host::spawn(unshare, &["--pid", "--fork", "--mount-proc", bin().to_str().unwrap(), "worker"], &env);
    assert!(pid1.wait_ready(Duration::from_secs(30)), "{}", pid1.proc.output());
    let outer = pid1.proc.pid();
    let children = std::fs::read_to_string(format!("/proc/{outer}/task/{outer}/children")).unwrap();
    let worker_pid: u32 = children.split_whitespace().next().expect("unshare has a child").parse().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{worker_pid}/status")).unwrap();
    assert!(status.lines().any(|l| l.starts_with("NSpid:") && l.trim_end().ends_with("\t1")), "not PID 1 in its namespace:\n{status}");

    start_batch(&server, "pid1", 2, 60_000);
    assert!(wait_until(Duration::from_secs(20), || long_activities_running(&server, "pid1", 2)), "{}", pid1.proc.output());
    tk8s_testkit::signal(worker_pid, SIGTERM);
    // Not a latency check (those are measured by `cargo xtask measure`): an ignored SIGTERM never
    // turns readiness off; a loaded 2-core machine may take a while to answer.
    assert!(
        wait_until(Duration::from_secs(10), || pid1.readyz() == Some(503)),
        "PID 1 ignored SIGTERM (readyz now {:?}, running {}):\n{}",
        pid1.readyz(),
        pid1.proc.is_running(),
        pid1.proc.output()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(pid1.proc.is_running(), "exited before its 60 s activities could drain");
    let second = Instant::now();
    tk8s_testkit::signal(worker_pid, SIGTERM);
    let status = pid1.proc.wait_exit(Duration::from_secs(5)).expect("second signal exits at once");
    assert_eq!(status.code(), Some(130), "{}", pid1.proc.output());
    assert!(pid1.proc.output().contains("second signal"), "{}", pid1.proc.output());
    eprintln!("measured: second SIGTERM -> exit after {} ms", second.elapsed().as_millis());
}

#[test]
fn the_hard_deadline_forces_exit_when_the_server_hangs_during_shutdown() {
    use tk8s_testkit::{Terminator, TerminatorOptions, TestCa};
    let server = DevServer::start();
    let ca = TestCa::new("deadline CA");
    let leaf = ca.leaf("temporal.test", &["temporal.test"]);
    let terminator = Terminator::start(TerminatorOptions {
        server_cert_pem: leaf.cert_pem,
        server_key_pem: leaf.key_pem,
        client_ca_pem: None,
        api_key: None,
        upstream: server.address().parse().unwrap(),
    });
    let dir = tempfile::tempdir().unwrap();
    let mut env = app_env(&format!("127.0.0.1:{}", terminator.port));
    env.insert("TEMPORAL_TLS_SERVER_CA_CERT_PATH".into(), ca.write_ca(dir.path()).display().to_string());
    env.insert("TEMPORAL_TLS_SERVER_NAME".into(), "temporal.test".into());
    env.insert("TK8S_SHUTDOWN_GRACE".into(), "1s".into());
    env.insert("TK8S_SHUTDOWN_HARD_DEADLINE".into(), "2s".into());
    let mut w = Host::spawn(bin(), &["worker"], &env);
    assert!(w.wait_ready(Duration::from_secs(30)), "{}", w.proc.output());
    // Activities in flight whose completions can no longer reach the server.
    start_batch(&server, "deadline", 2, 60_000);
    assert!(wait_until(Duration::from_secs(20), || long_activities_running(&server, "deadline", 2)), "{}", w.proc.output());
    terminator.set_blackhole(true);
    let signalled = Instant::now();
    w.proc.signal(SIGTERM);
    let status = w.proc.wait_exit(Duration::from_secs(15)).expect("the hard deadline forces an exit");
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(70), "{}", w.proc.output());
    assert!(w.proc.output().contains("hard deadline hit"), "{}", w.proc.output());
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(6),
        "exited after {took:?}, expected ~3 s (grace 1 s + deadline 2 s)"
    );
    eprintln!("measured: hung server at shutdown -> forced exit (70) after {} ms", took.as_millis());
}
