//! TLS, mTLS and API-key connections through a real TLS terminator (rustls + HTTP/2) in front of a
//! real dev server, with certificates made for the test: happy paths, a wrong CA and a missing
//! client certificate failing clearly, and certificate and API key rotation without a restart.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tk8s_testkit::{DevServer, Host, Leaf, Terminator, TerminatorOptions, TestCa, app_env, wait_until};

const SERVER_NAME: &str = "temporal.test";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_greeting"))
}

struct Setup {
    server: DevServer,
    ca: TestCa,
    terminator: Terminator,
    dir: tempfile::TempDir,
}

fn setup(mtls: bool, api_key: Option<&str>) -> Setup {
    let server = DevServer::start();
    let ca = TestCa::new("tk8s test CA");
    let leaf = ca.leaf(SERVER_NAME, &[SERVER_NAME]);
    let terminator = Terminator::start(TerminatorOptions {
        server_cert_pem: leaf.cert_pem,
        server_key_pem: leaf.key_pem,
        client_ca_pem: mtls.then(|| ca.cert_pem()),
        api_key: api_key.map(String::from),
        upstream: server.address().parse().expect("socket address"),
    });
    let dir = tempfile::tempdir().unwrap();
    ca.write_ca(dir.path());
    Setup { server, ca, terminator, dir }
}

impl Setup {
    /// Env for an app that reaches Temporal through the terminator, trusting our CA.
    fn env(&self) -> BTreeMap<String, String> {
        let mut env = app_env(&format!("127.0.0.1:{}", self.terminator.port));
        env.insert("TEMPORAL_TLS_SERVER_CA_CERT_PATH".into(), self.dir.path().join("ca.crt").display().to_string());
        env.insert("TEMPORAL_TLS_SERVER_NAME".into(), SERVER_NAME.into());
        env
    }

    fn run_one_workflow(&self, env: &BTreeMap<String, String>, prefix: &str) {
        let mut env = env.clone();
        env.insert("TK8S_WORKFLOW_ID_PREFIX".into(), prefix.into());
        let mut o = Host::spawn(bin(), &["orchestrator"], &env);
        let status = o.proc.wait_exit(Duration::from_secs(60)).expect("orchestrator finishes");
        assert!(status.success(), "orchestrator failed:\n{}", o.proc.output());
        let statuses = self.server.statuses(&format!("WorkflowId = '{prefix}-once-1'"));
        assert_eq!(statuses.values().next().map(String::as_str), Some("WORKFLOW_EXECUTION_STATUS_COMPLETED"), "{statuses:?}");
    }
}

fn fails_within(host: &mut Host, seconds: u64) -> (Option<i32>, String) {
    let status = host.proc.wait_exit(Duration::from_secs(seconds)).expect("process gives up");
    (status.code(), host.proc.output())
}

#[test]
fn tls_with_custom_ca_and_server_name_runs_workflows() {
    let s = setup(false, None);
    let w = Host::spawn(bin(), &["worker"], &s.env());
    assert!(w.wait_ready(Duration::from_secs(30)), "{}", w.proc.output());
    s.run_one_workflow(&s.env(), "tls");
    assert_eq!(s.terminator.seen().handshake_failures, 0);
}

#[test]
fn wrong_ca_fails_clearly() {
    let s = setup(false, None);
    let other = TestCa::new("some other CA");
    let other_dir = tempfile::tempdir().unwrap();
    let mut env = s.env();
    env.insert("TEMPORAL_TLS_SERVER_CA_CERT_PATH".into(), other.write_ca(other_dir.path()).display().to_string());
    env.insert("TK8S_CONNECT_TIMEOUT".into(), "2s".into());
    let mut w = Host::spawn(bin(), &["worker"], &env);
    let (code, out) = fails_within(&mut w, 30);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("cannot connect to Temporal") && out.contains("hint: the server's certificate is not signed by a trusted CA"),
        "{out}"
    );
    assert!(s.terminator.seen().handshake_failures > 0);
}

fn write_client(dir: &Path, leaf: &Leaf) {
    leaf.write_tls_dir(dir);
}

#[test]
fn mtls_from_a_secret_mount_and_rotation_without_restart() {
    let mut s = setup(true, None);
    let mount = s.dir.path().join("mount");
    let cert_a = s.ca.leaf("worker-a", &["worker-a"]);
    let cert_b = s.ca.leaf("worker-b", &["worker-b"]);
    write_client(&mount, &cert_a);
    std::fs::copy(s.dir.path().join("ca.crt"), mount.join("ca.crt")).unwrap();
    let mut env = app_env(&format!("127.0.0.1:{}", s.terminator.port));
    env.insert("TK8S_TLS_CERT_DIR".into(), mount.display().to_string());
    env.insert("TEMPORAL_TLS_SERVER_NAME".into(), SERVER_NAME.into());
    // The worker also gets what the temporal-worker-controller injects for a Connection's mTLS
    // Secret: explicit paths into the same mount. They agree with TK8S_TLS_CERT_DIR.
    let mut worker_env = env.clone();
    worker_env.insert("TEMPORAL_TLS".into(), "true".into());
    worker_env.insert("TEMPORAL_TLS_CLIENT_CERT_PATH".into(), mount.join("tls.crt").display().to_string());
    worker_env.insert("TEMPORAL_TLS_CLIENT_KEY_PATH".into(), mount.join("tls.key").display().to_string());
    let mut w = Host::spawn(bin(), &["worker"], &worker_env);
    assert!(w.wait_ready(Duration::from_secs(30)), "{}", w.proc.output());
    assert!(s.terminator.seen().client_certs.iter().all(|c| *c == cert_a.cert_der), "only cert A so far");
    s.run_one_workflow(&env, "mtls-a");

    // Kubernetes rotates the Secret in place; the worker picks it up without a restart. New TLS
    // connections present the new certificate; restarting the terminator forces reconnection.
    let pid = w.proc.pid();
    write_client(&mount, &cert_b);
    assert!(wait_until(Duration::from_secs(10), || w.proc.output().contains("client certificate reloaded")), "{}", w.proc.output());
    s.terminator.restart();
    assert!(
        wait_until(Duration::from_secs(30), || s.terminator.seen().client_certs.contains(&cert_b.cert_der)),
        "worker never presented cert B:\n{}",
        w.proc.output()
    );
    assert!(w.wait_ready(Duration::from_secs(30)), "{}", w.proc.output());
    assert!(w.proc.is_running() && w.proc.pid() == pid, "worker restarted");
    s.run_one_workflow(&env, "mtls-b");
}

#[test]
fn missing_client_certificate_fails_clearly() {
    let s = setup(true, None);
    let mut env = s.env();
    env.insert("TK8S_CONNECT_TIMEOUT".into(), "2s".into());
    let mut w = Host::spawn(bin(), &["worker"], &env);
    let (code, out) = fails_within(&mut w, 30);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("cannot connect to Temporal"), "{out}");
    assert!(
        out.contains("hint: the server requires a client certificate"),
        "the error should point at the missing client certificate:\n{out}"
    );
}

#[test]
fn api_key_over_tls_and_key_file_rotation() {
    const KEY_1: &str = "api-key-one-8f3b9c";
    const KEY_2: &str = "api-key-two-61d0aa";
    let s = setup(false, Some(KEY_1));
    let key_file = s.dir.path().join("api-key");
    std::fs::write(&key_file, KEY_1).unwrap();
    let mut env = s.env();
    env.insert("TK8S_API_KEY_FILE".into(), key_file.display().to_string());
    let w = Host::spawn(bin(), &["worker"], &env);
    assert!(w.wait_ready(Duration::from_secs(30)), "{}", w.proc.output());
    let mut orchestrator_env = s.env();
    orchestrator_env.insert("TEMPORAL_API_KEY".into(), KEY_1.into());
    s.run_one_workflow(&orchestrator_env, "apikey-1");
    assert!(s.terminator.seen().authorized_requests > 0);
    assert_eq!(s.terminator.seen().rejected_requests, 0);

    // The server starts demanding key 2: the worker turns unready, then recovers once the
    // mounted key file is rotated, without a restart.
    s.terminator.set_api_key(Some(KEY_2));
    assert!(wait_until(Duration::from_secs(10), || w.readyz() == Some(503)), "worker stayed ready with a revoked key");
    std::fs::write(&key_file, KEY_2).unwrap();
    assert!(w.wait_ready(Duration::from_secs(15)), "{}", w.proc.output());
    orchestrator_env.insert("TEMPORAL_API_KEY".into(), KEY_2.into());
    s.run_one_workflow(&orchestrator_env, "apikey-2");
    let out = w.proc.output();
    assert!(!out.contains(KEY_1) && !out.contains(KEY_2), "API key in logs:\n{out}");

    // A wrong key at start-up fails clearly and does not echo the key.
    orchestrator_env.insert("TEMPORAL_API_KEY".into(), "wrong-key-zzz".into());
    let mut o = Host::spawn(bin(), &["orchestrator"], &orchestrator_env);
    let (code, out) = fails_within(&mut o, 30);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("Unauthenticated") && !out.contains("wrong-key-zzz"), "{out}");
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn client_certificate_expiry_is_exported_warned_about_and_an_expired_one_refused() {
    let s = setup(true, None);
    let mount = s.dir.path().join("mount");
    std::fs::copy(s.dir.path().join("ca.crt"), {
        std::fs::create_dir_all(&mount).unwrap();
        mount.join("ca.crt")
    })
    .unwrap();
    let mut env = app_env(&format!("127.0.0.1:{}", s.terminator.port));
    env.insert("TK8S_TLS_CERT_DIR".into(), mount.display().to_string());
    env.insert("TEMPORAL_TLS_SERVER_NAME".into(), SERVER_NAME.into());

    // Already expired: refused before anything is dialled, naming the file and the date.
    let expired_at = unix_now() - 2 * 86_400;
    write_client(&mount, &s.ca.leaf_until("worker", &["worker"], expired_at));
    let mut w = Host::spawn(bin(), &["worker"], &env);
    let (code, out) = fails_within(&mut w, 30);
    assert_eq!(code, Some(78), "{out}");
    let day = {
        // The date as the host prints it (RFC 3339, UTC): check the year-month-day part.
        let days = expired_at.div_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02}T")
    };
    assert!(out.contains("tls.crt expired on") && out.contains(&day), "{out}");

    // Expiring in 3 days (inside the default 7-day warning window): the worker runs, says so,
    // and exports the exact notAfter.
    let not_after = unix_now() + 3 * 86_400;
    write_client(&mount, &s.ca.leaf_until("worker", &["worker"], not_after));
    let w = Host::spawn(bin(), &["worker"], &env);
    assert!(w.wait_ready(Duration::from_secs(30)), "{}", w.proc.output());
    assert!(wait_until(Duration::from_secs(10), || w.proc.output().contains("client certificate expires soon")), "{}", w.proc.output());
    let exported = w.metric("tk8s_client_certificate_expiry_timestamp_seconds").unwrap_or(0.0);
    assert_eq!(exported as i64, not_after, "the gauge must hold the certificate's notAfter");
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's civil-from-days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
