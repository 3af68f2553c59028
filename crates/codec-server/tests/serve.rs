//! The codec server's lifecycle in process: secure by default (an unprotected server on a
//! reachable address is refused before anything is bound), both endpoints protected alike, and
//! an explicit opt-out that still serves.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use tk8s_config::{AppDefaults, Config, ConfigError};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn config(dir: &tempfile::TempDir, settings: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("k1.key"), KEY).unwrap();
    std::fs::write(keys.join("active"), "k1").unwrap();
    let mut env: BTreeMap<String, String> =
        [("TK8S_CODEC_KEYS_DIR", keys.display().to_string())].into_iter().map(|(k, v)| (k.into(), v)).collect();
    for (k, v) in settings {
        env.insert(k.to_string(), v.to_string());
    }
    let app = AppDefaults { name: "tk8s".into(), task_queue: "tk8s".into(), workflow_input: String::new() };
    Config::load(&tk8s_config::Inputs { env: &env, flags: &Default::default(), app: &app, cwd: dir.path() })
}

/// Serve in the background; the address on loopback and a handle that stops it.
async fn start(config: Config) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let bound = tk8s_codec_server::bind(&config).await.expect("binds");
    let port = bound.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        bound
            .run(async move {
                let _ = rx.await;
            })
            .await
            .expect("serves");
    });
    (SocketAddr::from(([127, 0, 0, 1], port)), tx, task)
}

async fn post(addr: SocketAddr, path: &str, token: Option<&str>) -> u16 {
    let body = r#"{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"IkhlbGxvIg=="}]}"#;
    let mut req = reqwest::Client::new().post(format!("http://{addr}{path}")).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("answers").status().as_u16()
}

#[tokio::test]
async fn no_authentication_on_a_reachable_address_is_refused_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("0.0.0.0:0").unwrap().local_addr().unwrap().port().to_string();
    let c = config(&dir, &[("TK8S_CODEC_SERVER_PORT", &port)]).unwrap();
    let e = match tk8s_codec_server::bind(&c).await {
        Ok(_) => panic!("an unauthenticated codec server on 0.0.0.0 started"),
        Err(e) => e,
    };
    assert_eq!(e.exit_code(), 78);
    let text = e.to_string();
    for needle in [
        "default",
        "codec_server.bind = 0.0.0.0",
        "decrypt every payload",
        "TK8S_CODEC_SERVER_TOKENS_FILE",
        "TK8S_CODEC_SERVER_JWKS_URL",
        "TK8S_CODEC_SERVER_BIND",
        "TK8S_CODEC_SERVER_ALLOW_UNAUTHENTICATED=true",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    assert!(std::net::TcpListener::bind(format!("0.0.0.0:{port}")).is_ok(), "the port was bound although start-up was refused");
    // The same through an env var names the env var.
    let c = config(&dir, &[("TK8S_CODEC_SERVER_BIND", "::"), ("TK8S_CODEC_SERVER_PORT", &port)]).unwrap();
    let text = tk8s_codec_server::bind(&c).await.err().expect("refused").to_string();
    assert!(text.contains("env TK8S_CODEC_SERVER_BIND"), "{text}");
}

#[tokio::test]
async fn on_loopback_without_authentication_both_endpoints_serve() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(&dir, &[("TK8S_CODEC_SERVER_BIND", "127.0.0.1"), ("TK8S_CODEC_SERVER_PORT", "0")]).unwrap();
    let (addr, stop, task) = start(c).await;
    assert_eq!(post(addr, "/encode", None).await, 200);
    assert_eq!(post(addr, "/default/decode", None).await, 200);
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn with_tokens_encode_and_decode_both_require_one() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "tok-1\n").unwrap();
    let c = config(&dir, &[("TK8S_CODEC_SERVER_PORT", "0"), ("TK8S_CODEC_SERVER_TOKENS_FILE", tokens.to_str().unwrap())]).unwrap();
    let (addr, stop, task) = start(c).await;
    for path in ["/encode", "/decode", "/ns/encode", "/ns/decode"] {
        assert_eq!(post(addr, path, None).await, 401, "{path} without a token");
        assert_eq!(post(addr, path, Some("wrong")).await, 401, "{path} with a wrong token");
        assert_eq!(post(addr, path, Some("tok-1")).await, 200, "{path} with the token");
    }
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn an_explicit_opt_out_serves_unauthenticated_on_all_interfaces() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(&dir, &[("TK8S_CODEC_SERVER_PORT", "0"), ("TK8S_CODEC_SERVER_ALLOW_UNAUTHENTICATED", "true")]).unwrap();
    assert_eq!(c.codec_server_access().unwrap(), tk8s_config::CodecServerAccess::UnauthenticatedByChoice);
    let (addr, stop, task) = start(c).await;
    assert_eq!(post(addr, "/encode", None).await, 200);
    assert_eq!(post(addr, "/decode", None).await, 200);
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn a_request_that_never_finishes_cannot_hold_the_shutdown_past_the_grace() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let c = config(&dir, &[("TK8S_CODEC_SERVER_BIND", "127.0.0.1"), ("TK8S_CODEC_SERVER_PORT", "0"), ("TK8S_SHUTDOWN_GRACE", "300ms")])
        .unwrap();
    let bound = tk8s_codec_server::bind(&c).await.expect("binds");
    let addr = SocketAddr::from(([127, 0, 0, 1], bound.local_addr().unwrap().port()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bound.run(async move {
        let _ = rx.await;
    }));
    // A client that announces a body and never sends it: its request stays open.
    let mut stuck = tokio::net::TcpStream::connect(addr).await.unwrap();
    stuck.write_all(b"POST /decode HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{").await.unwrap();
    // The server has the request once a second one on another connection has been answered.
    assert_eq!(post(addr, "/decode", None).await, 200);
    tx.send(()).unwrap();
    let result = tokio::time::timeout(std::time::Duration::from_secs(20), server).await.expect("the drain has a deadline").unwrap();
    let e = result.expect_err("the open request was cut off, and that is an error");
    assert_eq!(e.exit_code(), 70, "{e}");
    assert!(e.to_string().contains("within 300ms") && e.to_string().contains("TK8S_SHUTDOWN_GRACE"), "{e}");
    drop(stuck);
}
