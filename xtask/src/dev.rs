//! `cargo xtask dev`: the example system on this machine, no containers: a dev server with its
//! Web UI, the greeting worker and an orchestrator (optionally with encryption and the codec
//! server), logs streamed, Ctrl-C drains.

use crate::{Result, root, run, tools::tools};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tk8s_config::spec as S;

pub(crate) fn free_port(preferred: u16) -> u16 {
    if preferred != 0 && TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return preferred;
    }
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(preferred)
}

pub(crate) struct Children(pub(crate) Mutex<Vec<(String, Child)>>);

impl Children {
    pub(crate) fn spawn(self: &Arc<Self>, name: &str, cmd: &mut Command) -> Result {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
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
    pub(crate) fn stop_all(&self) {
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

    pub(crate) fn any_exited(&self) -> Option<String> {
        let mut children = self.0.lock().unwrap_or_else(|e| e.into_inner());
        children.iter_mut().find_map(|(name, c)| matches!(c.try_wait(), Ok(Some(_))).then(|| name.clone()))
    }
}

/// Start `temporal server start-dev` on 127.0.0.1:`port` and wait until it is healthy.
pub(crate) fn start_dev_server(children: &Arc<Children>, temporal: &Path, port: u16, extra: &[&str]) -> Result {
    children.spawn(
        "temporal",
        Command::new(temporal).args(["server", "start-dev", "--ip", "127.0.0.1", "--port", &port.to_string()]).args(extra),
    )?;
    let address = format!("127.0.0.1:{port}");
    let up = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        Command::new(temporal)
            .args(["operator", "cluster", "health", "--address", &address])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !up {
        children.stop_all();
        return Err("the Temporal dev server did not start".into());
    }
    Ok(())
}

pub fn dev(args: &[String]) -> Result {
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
    // Only what runs: the example and `tk8s` (for the codec server). cargo's own progress bar
    // shows through; the first build compiles the Temporal SDK and takes minutes.
    eprintln!("xtask: building greeting and tk8s (the first build compiles the Temporal SDK: several minutes)");
    let started = Instant::now();
    run(Command::new(&cargo).current_dir(root()).args(["build", "-p", "greeting", "-p", "tk8s-cli", "--bins"]))?;
    eprintln!("xtask: built in {:.0} s", started.elapsed().as_secs_f64());
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
    let log_format = std::env::var(S::LOG_FORMAT.env).unwrap_or_else(|_| "text".into());
    // --encrypted: a fresh dev key, both roles encrypting, and `tk8s codec-server` wired into
    // the Web UI, which then shows plaintext while the history holds only ciphertext.
    let codec = encrypted.then(|| free_port(8888));
    let keys = target.join("tk8s-dev-keys");
    let mut server_args: Vec<String> = [
        "--ui-ip",
        "127.0.0.1",
        "--ui-port",
        &ui.to_string(),
        "--http-port",
        &free_port(7243).to_string(),
        "--metrics-port",
        &free_port(7253).to_string(),
        "--ui-disable-news-fetch",
        "--log-level",
        "warn",
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
        children.spawn(
            "codec-server",
            Command::new(target.join("debug/tk8s"))
                .arg("codec-server")
                .env(S::CODEC_KEYS_DIR.env, &keys)
                .env(S::CODEC_SERVER_BIND.env, "127.0.0.1")
                .env(S::CODEC_SERVER_PORT.env, codec.to_string())
                .env(S::CODEC_SERVER_ALLOWED_ORIGINS.env, format!("http://127.0.0.1:{ui}"))
                .env(S::LOG_FORMAT.env, &log_format),
        )?;
    }
    let host = |role: &str, admin: u16| {
        let mut cmd = Command::new(&greeting);
        cmd.arg(role)
            .env(S::TEMPORAL_ADDRESS.env, &address)
            .env(S::ADMIN_BIND.env, "127.0.0.1")
            .env(S::ADMIN_PORT.env, admin.to_string())
            .env(S::LOG_FORMAT.env, &log_format);
        if codec.is_some() {
            cmd.env(S::CODEC_KEYS_DIR.env, &keys);
        }
        cmd
    };
    children.spawn("worker", &mut host("worker", worker_admin))?;
    children.spawn(
        "orchestrator",
        host("orchestrator", orch_admin).env(S::ORCHESTRATOR_MODE.env, "interval").env(S::ORCHESTRATOR_INTERVAL.env, "3s"),
    )?;
    eprintln!(
        "\nxtask: greeting system running\n  Temporal UI      http://127.0.0.1:{ui}\n  Temporal gRPC    {address}\n  \
         worker           http://127.0.0.1:{worker_admin}/readyz  /metrics\n  orchestrator     http://127.0.0.1:{orch_admin}/readyz  /metrics\n  \
         list workflows   .venv/bin/temporal workflow list --address {address}\n{}  Ctrl-C drains the worker and stops everything\n",
        codec
            .map(|c| format!("  codec server     http://127.0.0.1:{c} (the UI decodes through it; keys in {})\n", keys.display()))
            .unwrap_or_default()
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
                .args([
                    "workflow",
                    "count",
                    "--address",
                    &address,
                    "--query",
                    "ExecutionStatus='Completed' AND WorkflowType='GreetingWorkflow'",
                ])
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
pub(crate) fn write_dev_key(dir: &std::path::Path) -> Result {
    use std::io::Read;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut key)).map_err(|e| format!("reading /dev/urandom: {e}"))?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join("k1.key"), hex)
        .and_then(|_| std::fs::write(dir.join("active"), "k1"))
        .map_err(|e| format!("{}: {e}", dir.display()))
}
