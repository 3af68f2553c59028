//! The `/metrics` expositions of both roles, after real work, pass `promtool check metrics`
//! and carry the families dashboards and alerts rely on.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tk8s_testkit::{DevServer, Host, app_env, http_get, wait_until};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_greeting"))
}

fn promtool(exposition: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is not installed: run `cargo xtask tools` (it installs Debian's prometheus package)");
    child.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn both_roles_expose_lint_clean_prometheus_metrics() {
    let server = DevServer::start();
    let w = Host::spawn(bin(), &["worker"], &app_env(&server.address()));
    assert!(w.wait_ready(Duration::from_secs(30)), "{}", w.proc.output());
    let mut env = app_env(&server.address());
    env.insert("TK8S_ORCHESTRATOR_MODE".into(), "interval".into());
    env.insert("TK8S_ORCHESTRATOR_INTERVAL".into(), "1s".into());
    env.insert("TK8S_BACKLOG_INTERVAL".into(), "1s".into());
    let o = Host::spawn(bin(), &["orchestrator"], &env);
    assert!(
        wait_until(Duration::from_secs(30), || o.metric("tk8s_orchestrator_workflows_completed_total").unwrap_or(0.0) >= 2.0),
        "{}",
        o.proc.output()
    );

    let (_, worker_metrics) = http_get(w.admin_port(), "/metrics").expect("worker /metrics");
    let (_, orchestrator_metrics) = http_get(o.admin_port(), "/metrics").expect("orchestrator /metrics");
    for (role, text, families) in [
        (
            "worker",
            &worker_metrics,
            &[
                "tk8s_build_info{app=\"greeting\",role=\"worker\"",
                "tk8s_ready 1",
                "tk8s_worker_slot_utilization_ratio{worker_type=\"ActivityWorker\"}",
                "temporal_workflow_completed_total{",
                "temporal_activity_execution_latency_seconds_bucket{",
                "temporal_num_pollers{",
                "temporal_request_total{",
            ][..],
        ),
        (
            "orchestrator",
            &orchestrator_metrics,
            &[
                "tk8s_build_info{app=\"greeting\",role=\"orchestrator\"",
                "tk8s_orchestrator_workflows_started_total{task_queue=\"greeting\"}",
                "tk8s_orchestrator_workflows_completed_total{task_queue=\"greeting\"}",
                "tk8s_orchestrator_workflows_failed_total",
                "tk8s_task_queue_backlog{task_queue=\"greeting\",task_type=\"workflow\"}",
                "tk8s_task_queue_backlog_age_seconds{",
                "tk8s_task_queue_pollers{task_queue=\"greeting\",task_type=\"activity\"}",
            ][..],
        ),
    ] {
        for family in families {
            assert!(text.contains(family), "{role} /metrics lacks {family}:\n{text}");
        }
        let (ok, lint) = promtool(text);
        assert!(ok && lint.trim().is_empty(), "promtool on {role} /metrics:\n{lint}");
    }
}
