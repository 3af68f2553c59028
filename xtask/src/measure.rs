//! `cargo xtask measure`: the release host's own figures against a real dev server: start to
//! ready, idle shutdown, memory, binary size; `bench/results/host.json`.

use crate::dev::{Children, free_port, start_dev_server};
use crate::{Result, root, run};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tk8s_config::spec as S;

fn http_status(port: u16, path: &str) -> Option<u16> {
    tk8s_testkit::http_get(port, path).map(|(status, _)| status)
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
pub fn measure() -> Result {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo).current_dir(root()).args(["build", "--quiet", "--release", "-p", "greeting"]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let greeting = target.join("release/greeting");
    let temporal = root().join(".venv/bin/temporal");
    let port = free_port(0);
    let address = format!("127.0.0.1:{port}");
    let children = Arc::new(Children(Mutex::new(Vec::new())));
    start_dev_server(
        &children,
        &temporal,
        port,
        &["--headless", "--http-port", &free_port(0).to_string(), "--metrics-port", &free_port(0).to_string(), "--log-level", "error"],
    )?;
    let spawn = |role: &str, admin: u16, extra: &[(&str, &str)]| {
        let mut cmd = Command::new(&greeting);
        cmd.arg(role)
            .env_clear()
            .env(S::TEMPORAL_ADDRESS.env, &address)
            .env(S::ADMIN_PORT.env, admin.to_string())
            .env(S::ADMIN_BIND.env, "127.0.0.1")
            .env(S::LOG_FORMAT.env, "json")
            .env(S::READINESS_CHECK_INTERVAL.env, "1s")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
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
    let status =
        spawn("orchestrator", free_port(0), &[(S::ORCHESTRATOR_COUNT.env, "200")]).and_then(|mut o| o.wait()).map_err(|e| e.to_string())?;
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
        median(ready_ms.clone()),
        ready_ms.iter().map(|v| (v * 10.0).round() / 10.0).collect::<Vec<_>>(),
        median(exit_ms.clone()),
        exit_ms.iter().map(|v| (v * 10.0).round() / 10.0).collect::<Vec<_>>(),
    );
    let dir = root().join("bench/results");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("host.json"), &json).map_err(|e| e.to_string())?;
    print!("{json}");
    Ok(())
}
