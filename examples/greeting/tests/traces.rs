//! Trace export over OTLP against a real OTLP/gRPC receiver and a real dev server: the
//! orchestrator's workflow start, the worker's workflow run and its three activities form one
//! trace across the two processes, named after the app, with payload encryption on.

use base64::Engine;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use tk8s_testkit::{DevServer, Host, OtlpReceiver, SIGTERM, app_env};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_greeting"))
}

#[test]
fn one_greeting_is_one_trace_across_orchestrator_and_worker() {
    let server = DevServer::start();
    let receiver = OtlpReceiver::start();
    let mut env = app_env(&server.address());
    env.insert("OTEL_EXPORTER_OTLP_ENDPOINT".into(), format!("http://127.0.0.1:{}", receiver.port));
    env.insert("TK8S_WORKFLOW_ID_PREFIX".into(), "traced".into());
    // With payload encryption on, as in production: the trace header travels through the codec.
    let keys = tempfile::tempdir().unwrap();
    std::fs::write(keys.path().join("k1.key"), base64::engine::general_purpose::STANDARD.encode([3u8; 32])).unwrap();
    std::fs::write(keys.path().join("active"), "k1").unwrap();
    env.insert("TK8S_CODEC_KEYS_DIR".into(), keys.path().display().to_string());
    let mut worker = Host::spawn(bin(), &["worker"], &env);
    assert!(worker.wait_ready(Duration::from_secs(30)), "{}", worker.proc.output());
    let mut o = Host::spawn(bin(), &["orchestrator"], &env);
    assert!(o.proc.wait_exit(Duration::from_secs(60)).expect("orchestrator exits").success(), "{}", o.proc.output());
    // The worker flushes what it buffered when it drains.
    worker.proc.signal(SIGTERM);
    assert!(worker.proc.wait_exit(Duration::from_secs(30)).expect("worker exits").success(), "{}", worker.proc.output());

    let spans = receiver.spans();
    let start = spans.iter().find(|s| s.name == "StartWorkflow:GreetingWorkflow").unwrap_or_else(|| panic!("no start span: {spans:#?}"));
    let trace: Vec<_> = spans.iter().filter(|s| s.trace_id == start.trace_id).collect();
    let names: BTreeSet<&str> = trace.iter().map(|s| s.name.as_str()).collect();
    for want in [
        "StartWorkflow:GreetingWorkflow",
        "RunWorkflow:GreetingWorkflow",
        "StartActivity:GreetingActivities::compose_greeting",
        "RunActivity:GreetingActivities::compose_greeting",
        "StartActivity:GreetingActivities::process_greeting",
        "RunActivity:GreetingActivities::process_greeting",
        "StartActivity:GreetingActivities::finalise_greeting",
        "RunActivity:GreetingActivities::finalise_greeting",
    ] {
        assert!(names.contains(want), "{want} missing from the trace: {names:?}\nall spans: {spans:#?}");
    }
    // Every span but the start has its parent in the same trace.
    let ids: BTreeSet<&str> = trace.iter().map(|s| s.span_id.as_str()).collect();
    for s in &trace {
        assert!(s.name == start.name || ids.contains(s.parent_span_id.as_str()), "{} has no parent in the trace", s.name);
    }
    let role = |name: &str| trace.iter().find(|s| s.name == name).map(|s| s.resource.get("tk8s.role").cloned().unwrap_or_default());
    assert_eq!(role("StartWorkflow:GreetingWorkflow").as_deref(), Some("orchestrator"));
    assert_eq!(role("RunActivity:GreetingActivities::compose_greeting").as_deref(), Some("worker"));
    assert_eq!(
        trace.iter().find(|s| s.name == "RunWorkflow:GreetingWorkflow").unwrap().attributes.get("temporalWorkflowID").map(String::as_str),
        Some("traced-once-1")
    );
    assert!(trace.iter().all(|s| s.resource.get("service.name").map(String::as_str) == Some("greeting")), "{trace:#?}");
}
