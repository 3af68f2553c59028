//! Payload encryption turned on by configuration alone, against a real dev server: history holds
//! only ciphertext, the real `temporal` CLI shows plaintext through `tk8s codec-server`, keys
//! rotate without a restart, and a missing key fails workflow tasks visibly until it arrives.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tk8s_testkit::{DevServer, Host, app_env, wait_until};

use tk8s_testkit::COMPLETED;

fn greeting() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_greeting"))
}

fn tk8s() -> PathBuf {
    // Another package's binary, built into the same target directory (`cargo xtask test` builds
    // every binary first; cargo builds only this package's for its tests).
    let path = greeting().with_file_name("tk8s");
    assert!(path.is_file(), "{} is missing: run `cargo build -p tk8s-cli` (cargo xtask test does)", path.display());
    path
}

fn key_b64(seed: u8) -> String {
    STANDARD.encode([seed; 32])
}

fn key_dir(keys: &[(&str, u8)], active: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (id, seed) in keys {
        std::fs::write(dir.path().join(format!("{id}.key")), key_b64(*seed)).unwrap();
    }
    std::fs::write(dir.path().join("active"), active).unwrap();
    dir
}

fn env_with_keys(server: &DevServer, dir: &Path) -> BTreeMap<String, String> {
    let mut env = app_env(&server.address());
    env.insert("TK8S_CODEC_KEYS_DIR".into(), dir.display().to_string());
    env
}

fn start(server: &DevServer, dir: &Path, prefix: &str, count: u32, work_ms: u64, wait: bool) -> Host {
    let mut env = env_with_keys(server, dir);
    env.insert("TK8S_WORKFLOW_ID_PREFIX".into(), prefix.into());
    env.insert("TK8S_ORCHESTRATOR_COUNT".into(), count.to_string());
    env.insert("TK8S_ORCHESTRATOR_WAIT".into(), wait.to_string());
    env.insert("TK8S_WORKFLOW_INPUT".into(), format!("{{\"name\":\"World\",\"work_ms\":{work_ms}}}"));
    let mut o = Host::spawn(greeting(), &["orchestrator"], &env);
    let status = o.proc.wait_exit(Duration::from_secs(90)).expect("orchestrator finishes");
    assert!(status.success(), "{}", o.proc.output());
    o
}

/// Every payload object in a JSON history: (encoding, key id, data).
fn payloads(v: &Value, out: &mut Vec<(String, String, Vec<u8>)>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::Object(meta)), Some(data)) = (m.get("metadata"), m.get("data"))
                && let Some(enc) = meta.get("encoding").and_then(Value::as_str)
            {
                let decode = |s: &str| String::from_utf8_lossy(&STANDARD.decode(s).unwrap_or_default()).to_string();
                let key = meta.get("encryption-key-id").and_then(Value::as_str).map(decode).unwrap_or_default();
                out.push((decode(enc), key, STANDARD.decode(data.as_str().unwrap_or("")).unwrap_or_default()));
            }
            m.values().for_each(|v| payloads(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| payloads(v, out)),
        _ => {}
    }
}

fn history_payloads(server: &DevServer, workflow_id: &str) -> Vec<(String, String, Vec<u8>)> {
    let out = server.cli(&["workflow", "show", "--workflow-id", workflow_id, "--output", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut found = Vec::new();
    payloads(&v, &mut found);
    found
}

#[test]
fn history_holds_only_ciphertext_and_the_cli_decodes_through_the_codec_server() {
    let server = DevServer::start();
    let keys = key_dir(&[("k1", 1)], "k1");
    let w = Host::spawn(greeting(), &["worker"], &env_with_keys(&server, keys.path()));
    assert!(w.wait_ready(Duration::from_secs(30)), "{}", w.proc.output());
    start(&server, keys.path(), "enc", 1, 0, true);

    let found = history_payloads(&server, "enc-once-1");
    assert!(found.len() >= 7, "input, 3 activity inputs and results, workflow result: {found:?}");
    for (encoding, key, data) in &found {
        assert_eq!((encoding.as_str(), key.as_str()), ("binary/encrypted", "k1"));
        let text = String::from_utf8_lossy(data);
        assert!(!text.contains("World") && !text.contains("Hello"), "plaintext in history: {text}");
    }

    let tokens = keys.path().join("tokens");
    std::fs::write(&tokens, "cli-token\n").unwrap();
    let tokens_file = tokens.display().to_string();
    let (codec, port) = tk8s_testkit::codec_server(
        &tk8s(),
        None,
        keys.path(),
        &[("TK8S_CODEC_SERVER_TOKENS_FILE", &tokens_file), ("TK8S_CODEC_SERVER_ALLOWED_ORIGINS", "http://127.0.0.1:8233")],
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let result = server.cli(&[
        "workflow",
        "result",
        "--workflow-id",
        "enc-once-1",
        "--codec-endpoint",
        &endpoint,
        "--codec-auth",
        "Bearer cli-token",
    ]);
    let text = String::from_utf8_lossy(&result.stdout);
    assert!(text.contains("Hello, World! Welcome to Temporal on Kubernetes."), "{text}{}", String::from_utf8_lossy(&result.stderr));
    let show = server.cli(&[
        "workflow",
        "show",
        "--workflow-id",
        "enc-once-1",
        "--output",
        "json",
        "--codec-endpoint",
        &endpoint,
        "--codec-auth",
        "Bearer cli-token",
    ]);
    let mut decoded = Vec::new();
    payloads(&serde_json::from_slice(&show.stdout).expect("history JSON"), &mut decoded);
    assert_eq!(decoded.len(), found.len(), "{}", String::from_utf8_lossy(&show.stderr));
    assert!(decoded.iter().all(|(encoding, _, _)| encoding == "json/plain"), "{decoded:?}");
    let texts: Vec<String> = decoded.iter().map(|(_, _, d)| String::from_utf8_lossy(d).to_string()).collect();
    assert!(texts.iter().any(|t| t.contains("\"name\":\"World\"")), "{texts:?}");
    // Without the token the codec server refuses (the CLI would retry a 401 until its deadline).
    let sealed = serde_json::json!({"payloads": [{"metadata": {"encoding": STANDARD.encode("binary/encrypted"),
        "encryption-key-id": STANDARD.encode("k1")}, "data": STANDARD.encode(&found[0].2)}]})
    .to_string();
    let denied = tk8s_testkit::http_request(port, "POST", "/default/decode", &[("Content-Type", "application/json")], &sealed);
    assert_eq!(denied.as_ref().map(|r| r.0), Some(401), "{denied:?}");
    let allowed = tk8s_testkit::http_request(port, "POST", "/decode", &[("Authorization", "Bearer cli-token")], &sealed);
    assert_eq!(allowed.as_ref().map(|r| r.0), Some(200), "{allowed:?}");
    let logs = codec.output();
    assert!(logs.contains("\"status\":200") && logs.contains("\"status\":401"), "{logs}");
    assert!(!logs.contains("cli-token") && !logs.contains("Hello"), "codec server logged secrets or payloads:\n{logs}");
}

#[test]
fn key_rotation_completes_old_workflows_without_restarting_the_worker() {
    let server = DevServer::start();
    let keys = key_dir(&[("k1", 1)], "k1");
    let mut w = Host::spawn(greeting(), &["worker"], &env_with_keys(&server, keys.path()));
    assert!(w.wait_ready(Duration::from_secs(30)), "{}", w.proc.output());
    let pid = w.proc.pid();
    start(&server, keys.path(), "rot", 3, 4000, false);

    // Step 1: add key B as decrypt-only everywhere. Step 2: promote it.
    std::fs::write(keys.path().join("k2.key"), key_b64(2)).unwrap();
    assert!(wait_until(Duration::from_secs(10), || w.proc.output().contains("encryption keys reloaded")), "{}", w.proc.output());
    std::fs::write(keys.path().join("active"), "k2").unwrap();
    assert!(wait_until(Duration::from_secs(10), || w.proc.output().contains("\"active_key\":\"k2\"")), "{}", w.proc.output());

    let all_done = || {
        let s = server.statuses("WorkflowId STARTS_WITH 'rot-'");
        s.len() == 3 && s.values().all(|v| v == COMPLETED)
    };
    assert!(wait_until(Duration::from_secs(60), all_done), "{:?}", server.statuses("WorkflowId STARTS_WITH 'rot-'"));
    assert!(w.proc.is_running() && w.proc.pid() == pid, "worker restarted");
    let ids: std::collections::BTreeSet<String> = history_payloads(&server, "rot-once-1").into_iter().map(|(_, k, _)| k).collect();
    assert_eq!(ids, ["k1".to_string(), "k2".to_string()].into(), "history should span both keys");

    // Step 3: retire key A; new work runs on B alone.
    std::fs::remove_file(keys.path().join("k1.key")).unwrap();
    start(&server, keys.path(), "rot-after", 1, 0, true);
}

#[test]
fn a_missing_key_fails_workflow_tasks_visibly_until_the_key_arrives() {
    let server = DevServer::start();
    let worker_keys = key_dir(&[("k1", 1)], "k1");
    let starter_keys = key_dir(&[("k3", 3)], "k3");
    let w = Host::spawn(greeting(), &["worker"], &env_with_keys(&server, worker_keys.path()));
    assert!(w.wait_ready(Duration::from_secs(30)), "{}", w.proc.output());
    start(&server, starter_keys.path(), "lost", 1, 0, false);

    // The SDK answers an undecodable activation with a failed workflow task; under load the
    // server may time the task out first. Either way the failure is in the history.
    let failed_task = || {
        server
            .history_event_types("lost-once-1")
            .iter()
            .any(|e| e.contains("WORKFLOW_TASK_FAILED") || e.contains("WORKFLOW_TASK_TIMED_OUT"))
    };
    assert!(wait_until(Duration::from_secs(30), failed_task), "{:?}", server.history_event_types("lost-once-1"));
    assert!(w.proc.output().contains("\\\"k3\\\""), "the worker log should name the missing key:\n{}", w.proc.output());
    assert_eq!(
        server.statuses("WorkflowId = 'lost-once-1'").values().next().map(String::as_str),
        Some("WORKFLOW_EXECUTION_STATUS_RUNNING")
    );

    std::fs::write(worker_keys.path().join("k3.key"), key_b64(3)).unwrap();
    let done = || server.statuses("WorkflowId = 'lost-once-1'").values().next().map(String::as_str) == Some(COMPLETED);
    assert!(wait_until(Duration::from_secs(60), done), "{:?}", server.history_event_types("lost-once-1"));
}
