//! The real Temporal Web UI (served by `temporal server start-dev --ui-codec-endpoint`), opened
//! in real headless Chromium, shows the decoded greeting of an encrypted workflow: the browser
//! itself calls `tk8s codec-server` (CORS preflight included), as in production.

use base64::Engine;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tk8s_testkit::{DevServer, Host, app_env, free_port};

fn greeting() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_greeting"))
}

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui")
}

#[test]
fn web_ui_in_chromium_shows_the_decoded_greeting() {
    assert!(ui_dir().join("node_modules/playwright-core").is_dir(), "playwright-core is not installed: run `cargo xtask tools`");
    assert!(Path::new("/usr/bin/chromium").is_file(), "Chromium is not installed: run `cargo xtask tools` (Debian package chromium)");
    let keys = tempfile::tempdir().unwrap();
    std::fs::write(keys.path().join("k1.key"), base64::engine::general_purpose::STANDARD.encode([5u8; 32])).unwrap();
    std::fs::write(keys.path().join("active"), "k1").unwrap();

    // The UI must be told the codec server's address before either starts: a fixed port.
    let codec_port = free_port();
    let server = DevServer::start_with_ui(vec!["--ui-codec-endpoint".into(), format!("http://127.0.0.1:{codec_port}")]);
    let ui = server.ui_port.expect("UI port");
    let origin = format!("http://127.0.0.1:{ui}");
    let (codec, _) = tk8s_testkit::codec_server(
        &greeting().with_file_name("tk8s"),
        Some(codec_port),
        keys.path(),
        &[("TK8S_CODEC_SERVER_ALLOWED_ORIGINS", &origin)],
    );

    let mut app = app_env(&server.address());
    app.insert("TK8S_CODEC_KEYS_DIR".into(), keys.path().display().to_string());
    let w = Host::spawn(greeting(), &["worker"], &app);
    assert!(w.wait_ready(Duration::from_secs(30)), "{}", w.proc.output());
    let mut o = Host::spawn(greeting(), &["orchestrator"], &app);
    assert!(o.proc.wait_exit(Duration::from_secs(60)).expect("orchestrator exits").success(), "{}", o.proc.output());

    let screenshot = std::env::temp_dir().join("tk8s-web-ui-decoded.png");
    let url = format!("http://127.0.0.1:{ui}/namespaces/default/workflows/greeting-once-1");
    let out = Command::new("node")
        .current_dir(ui_dir())
        .args(["decode.mjs", &url, "Hello, World! Welcome to Temporal on Kubernetes.", &screenshot.display().to_string()])
        .output()
        .expect("run node");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the UI did not show the decoded greeting (screenshot {}):\n{text}\ncodec server:\n{}",
        screenshot.display(),
        codec.output()
    );
    let logs = codec.output();
    assert!(
        logs.contains("\"method\":\"OPTIONS\"") && logs.contains("\"method\":\"POST\""),
        "the browser should preflight then POST:\n{logs}"
    );
}
