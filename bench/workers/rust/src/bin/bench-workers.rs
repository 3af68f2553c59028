//! `cargo xtask bench workers`: the host against a bare SDK worker, Python and TypeScript, side
//! by side. Per run: a fresh dev server; the workers under test started and timed to their first
//! poll (and, for the host, to `/readyz` 200); the same starter (`bench-starter`) runs a warm-up,
//! then the measured workflows at a fixed concurrency; worker and server CPU from /proc before
//! and after the measured phase; idle and peak RSS. Workers are run in a rotated order each
//! repetition. Writes `workers.json`, `workers.md` (tables with ratios) and `workers.svg`.

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tk8s_config::spec as S;
use tk8s_testkit::{DevServer, wait_until};

#[derive(Parser, Debug)]
#[command(about = "Benchmark Temporal workers side by side")]
struct Args {
    /// Repetitions of every (scenario, worker) pair.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Measured workflows per run.
    #[arg(long, default_value_t = 600)]
    workflows: u64,
    /// Warm-up workflows per run, not measured.
    #[arg(long, default_value_t = 100)]
    warmup: u64,
    /// Workflows in flight.
    #[arg(long, default_value_t = 50)]
    concurrency: u64,
    /// The dev server's store.
    #[arg(long, default_value = "mem", value_parser = ["mem", "sqlite"])]
    db: String,
    /// Scenarios (omes names where they match).
    #[arg(long = "scenario", default_values_t = ["greeting".to_string()],
          value_parser = ["greeting", "workflow_with_single_noop_activity", "fan_out", "heartbeating", "memory_heavy", "cpu_heavy"])]
    scenarios: Vec<String>,
    /// Workers to compare.
    /// `bare-metrics` is the bare worker with the SDK's own Prometheus metrics on (the host's
    /// registry and options), scraped like the host.
    #[arg(long = "worker", default_values_t = ["host".to_string(), "bare-metrics".to_string(), "bare".to_string(), "python".to_string(), "typescript".to_string()],
          value_parser = ["host", "bare", "bare-metrics", "python", "typescript"])]
    workers: Vec<String>,
    /// Worker replicas against the one server (e.g. 1, 2, 4 to see where the server is the bound).
    #[arg(long = "replicas", default_values_t = [1usize])]
    replicas: Vec<usize>,
    /// Extra env for the host worker (`NAME=VALUE`), to compare settings.
    #[arg(long = "host-env")]
    host_env: Vec<String>,
    /// Extra env for the bare worker (`NAME=VALUE`), e.g. `BENCH_GRPC_COMPRESSION=none`.
    #[arg(long = "bare-env")]
    bare_env: Vec<String>,
    /// Run every worker inside a cgroup with this memory limit (MiB), as a pod's container: the
    /// worker sees the limit at /sys/fs/cgroup (its own cgroup and mount namespaces), as under
    /// Kubernetes. Needs root and cgroup v1 (this machine's); records OOM kills.
    #[arg(long)]
    cgroup_memory_mib: Option<u64>,
    /// With `--cgroup-memory-mib`: the CPU limit (CFS quota), in CPUs.
    #[arg(long, default_value_t = 1.0)]
    cgroup_cpus: f64,
    /// `work_ms` of the scenario's activity (heartbeating, memory_heavy, cpu_heavy).
    #[arg(long)]
    work_ms: Option<u64>,
    /// How often the host's and bare-metrics' /metrics are scraped during a run, in seconds (a
    /// Prometheus scrape interval; 0 = never).
    #[arg(long, default_value_t = 5)]
    scrape_every: u64,
    /// Label of this run in the results (e.g. "defaults", "before").
    #[arg(long, default_value = "current")]
    label: String,
    /// Where to write the results.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// The workspace root (for the Python and TypeScript workers).
    #[arg(long)]
    root: PathBuf,
    /// The directory holding bench-host, bench-bare and bench-starter.
    #[arg(long)]
    bin: PathBuf,
}

const QUEUE: &str = "bench";

/// CPU time of a process (user + system), in milliseconds.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<f64>().ok()).sum();
    ticks * 1000.0 / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The state letter of a process (`Z` for a zombie), if it exists.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().next()?.chars().next()
}

/// A /proc/PID/status field in KiB (VmRSS, VmHWM).
fn status_kib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim_start_matches(':').split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// A cgroup v1 pair (memory, cpu) one worker runs in, removed when dropped.
struct Cgroup {
    memory: PathBuf,
    cpu: PathBuf,
}

impl Cgroup {
    fn create(name: &str, memory_mib: u64, cpus: f64) -> Result<Cgroup, String> {
        let (memory_root, cpu_root) = (Path::new("/sys/fs/cgroup/memory"), Path::new("/sys/fs/cgroup/cpu"));
        if !memory_root.join("memory.limit_in_bytes").is_file() || !cpu_root.join("cpu.cfs_quota_us").is_file() {
            return Err("--cgroup-memory-mib needs cgroup v1 memory and cpu hierarchies at /sys/fs/cgroup/{memory,cpu} (cgroup v2 is not supported by this harness yet)".into());
        }
        let cg = Cgroup { memory: memory_root.join(name), cpu: cpu_root.join(name) };
        let write = |file: PathBuf, value: String| {
            std::fs::write(&file, &value).map_err(|e| format!("{}: {e} (writing {value}; run as root)", file.display()))
        };
        std::fs::create_dir_all(&cg.memory).map_err(|e| format!("{}: {e}", cg.memory.display()))?;
        std::fs::create_dir_all(&cg.cpu).map_err(|e| format!("{}: {e}", cg.cpu.display()))?;
        write(cg.memory.join("memory.limit_in_bytes"), (memory_mib << 20).to_string())?;
        write(cg.cpu.join("cpu.cfs_period_us"), "100000".into())?;
        write(cg.cpu.join("cpu.cfs_quota_us"), ((cpus * 100_000.0).round() as u64).max(1000).to_string())?;
        Ok(cg)
    }

    /// OOM kills in this cgroup so far.
    fn oom_kills(&self) -> f64 {
        std::fs::read_to_string(self.memory.join("memory.oom_control"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Peak memory charged to the cgroup (RSS and page cache), MiB.
    fn peak_mib(&self) -> f64 {
        std::fs::read_to_string(self.memory.join("memory.max_usage_in_bytes"))
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1048576.0
    }

    /// `command` run inside the cgroup, in its own cgroup and mount namespaces with the cgroup
    /// hierarchies mounted again, so /sys/fs/cgroup shows the limits at its root as in a pod.
    fn wrap(&self, command: Command) -> Command {
        let mut wrapped = Command::new("sh");
        wrapped.env_clear().envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))));
        if let Some(dir) = command.get_current_dir() {
            wrapped.current_dir(dir);
        }
        wrapped
            .args([
                "-c",
                r#"echo $$ > "$1/cgroup.procs" && echo $$ > "$2/cgroup.procs" && shift 2 && exec unshare --mount --cgroup --propagation private sh -c 'for c in memory cpu; do umount -l /sys/fs/cgroup/$c && mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c || exit 70; done; exec "$@"' sh "$@""#,
                "sh",
            ])
            .arg(&self.memory)
            .arg(&self.cpu)
            .arg(command.get_program())
            .args(command.get_args());
        wrapped
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The worker has exited (Worker drops first); an empty cgroup can be removed.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.memory).is_ok() || !self.memory.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::remove_dir(&self.cpu);
    }
}

struct Worker {
    child: Child,
    log: PathBuf,
    admin_port: Option<u16>,
    /// Where its Prometheus metrics are served (the host's admin port, bare-metrics' exporter).
    metrics_port: Option<u16>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        tk8s_testkit::signal(self.child.id(), tk8s_testkit::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &Args, kind: &str, address: &str, dir: &Path, n: usize, cgroup: Option<&Cgroup>) -> Worker {
    let log = dir.join(format!("{kind}-{n}.log"));
    let out = std::fs::File::create(&log).expect("worker log");
    // Only what a worker needs from this environment: a stray TK8S_* variable would be refused.
    let keep: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k == "PATH" || k == "HOME").collect();
    let fresh = |program: PathBuf| {
        let mut c = Command::new(program);
        c.env_clear().envs(keep.iter().cloned());
        c
    };
    let mut cmd;
    let mut admin_port = None;
    let mut metrics_port = None;
    match kind {
        "host" => {
            cmd = fresh(args.bin.join("bench-host"));
            let port = tk8s_testkit::free_port();
            admin_port = Some(port);
            metrics_port = Some(port);
            cmd.arg("worker")
                .env(S::TEMPORAL_ADDRESS.env, address)
                .env(S::ADMIN_BIND.env, "127.0.0.1")
                .env(S::ADMIN_PORT.env, port.to_string())
                .env(S::LOG_FORMAT.env, "json");
            for kv in &args.host_env {
                if let Some((k, v)) = kv.split_once('=') {
                    cmd.env(k, v);
                }
            }
        }
        "bare" | "bare-metrics" => {
            cmd = fresh(args.bin.join("bench-bare"));
            cmd.args([address, QUEUE]);
            if kind == "bare-metrics" {
                let port = tk8s_testkit::free_port();
                metrics_port = Some(port);
                cmd.env("BENCH_METRICS_PORT", port.to_string());
            }
            for kv in &args.bare_env {
                if let Some((k, v)) = kv.split_once('=') {
                    cmd.env(k, v);
                }
            }
        }
        "python" => {
            cmd = fresh(args.root.join(".venv-bench/bin/python"));
            cmd.arg(args.root.join("bench/workers/python/worker.py")).args([address, QUEUE]);
        }
        _ => {
            cmd = fresh(PathBuf::from("node"));
            cmd.current_dir(args.root.join("bench/workers/typescript")).args(["worker.js", address, QUEUE]);
        }
    }
    if let Some(cg) = cgroup {
        cmd = cg.wrap(cmd);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup log"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {kind} worker: {e}"));
    Worker { child, log, admin_port, metrics_port }
}

fn starter(args: &Args) -> Command {
    Command::new(args.bin.join("bench-starter"))
}

/// One measured run: figures by name.
fn run_once(args: &Args, scenario: &str, kind: &str, replicas: usize, rep: usize) -> Result<BTreeMap<String, f64>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let server = if args.db == "sqlite" { DevServer::start_persistent() } else { DevServer::start() };
    let address = server.address();
    let server_pid = server.pid().ok_or("no server pid")?;
    let t0 = Instant::now();
    let cgroups: Vec<Cgroup> = match args.cgroup_memory_mib {
        Some(mib) => (0..replicas)
            .map(|n| Cgroup::create(&format!("tk8s-bench-{}-{rep}-{n}", std::process::id()), mib, args.cgroup_cpus))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let workers: Vec<Worker> = (0..replicas).map(|n| spawn(args, kind, &address, dir.path(), n, cgroups.get(n))).collect();
    let first_poll = starter(args).args(["wait-pollers", &address, QUEUE, "60"]).status().map_err(|e| e.to_string())?;
    if !first_poll.success() {
        let log = std::fs::read_to_string(&workers[0].log).unwrap_or_default();
        return Err(format!("{kind} never polled:\n{log}"));
    }
    let mut figures = BTreeMap::new();
    figures.insert("start_to_first_poll_ms".to_string(), t0.elapsed().as_secs_f64() * 1000.0);
    if let Some(port) = workers[0].admin_port {
        wait_until(Duration::from_secs(30), || tk8s_testkit::http_get(port, "/readyz").map(|r| r.0) == Some(200));
        figures.insert("start_to_ready_ms".to_string(), t0.elapsed().as_secs_f64() * 1000.0);
    }
    std::thread::sleep(Duration::from_secs(2));
    let pids: Vec<u32> = workers.iter().map(|w| w.child.id()).collect();
    figures.insert("idle_rss_mib".into(), pids.iter().map(|p| status_kib(*p, "VmRSS")).sum::<f64>() / 1024.0 / replicas as f64);
    // Prometheus, as in a cluster: every worker with metrics is scraped at the same rate.
    let scraping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let scrapes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let scraper = (args.scrape_every > 0).then(|| {
        let ports: Vec<u16> = workers.iter().filter_map(|w| w.metrics_port).collect();
        let (scraping, scrapes, every) = (scraping.clone(), scrapes.clone(), Duration::from_secs(args.scrape_every));
        std::thread::spawn(move || {
            while scraping.load(std::sync::atomic::Ordering::Relaxed) {
                for port in &ports {
                    if tk8s_testkit::http_get(*port, "/metrics").is_some_and(|(status, _)| status == 200) {
                        scrapes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                let until = Instant::now() + every;
                while Instant::now() < until && scraping.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
    });
    let prefix = format!("{scenario}-{kind}-{rep}");
    let work_ms = args
        .work_ms
        .unwrap_or(match scenario {
            "heartbeating" => 2000,
            "memory_heavy" => 1000,
            "cpu_heavy" => 200,
            _ => 0,
        })
        .to_string();
    let work_ms = work_ms.as_str();
    let mut run = starter(args)
        .args([
            "run",
            &address,
            QUEUE,
            scenario,
            &args.warmup.to_string(),
            &args.workflows.to_string(),
            &args.concurrency.to_string(),
            &prefix,
            work_ms,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    // A worker that dies (OOM-killed) would leave the starter waiting: stop it.
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let worker_died = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (watching, worker_died, starter_pid) = (watching.clone(), worker_died.clone(), run.id());
        let pids = pids.clone();
        std::thread::spawn(move || {
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                if pids.iter().any(|p| !Path::new(&format!("/proc/{p}")).exists() || proc_state(*p) == Some('Z')) {
                    worker_died.store(true, std::sync::atomic::Ordering::Relaxed);
                    tk8s_testkit::signal(starter_pid, tk8s_testkit::SIGTERM);
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let mut lines = BufReader::new(run.stdout.take().ok_or("no starter stdout")?).lines();
    let mut before = None;
    let mut result: Option<Value> = None;
    for line in lines.by_ref().map_while(Result::ok) {
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if v["phase"] == "measuring" {
            before = Some((pids.iter().map(|p| cpu_ms(*p)).sum::<f64>(), cpu_ms(server_pid)));
        } else if v.get("completed").is_some() {
            result = Some(v);
        }
    }
    let after = (pids.iter().map(|p| cpu_ms(*p)).sum::<f64>(), cpu_ms(server_pid));
    let _ = run.wait();
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = watchdog.join();
    scraping.store(false, std::sync::atomic::Ordering::Relaxed);
    if let Some(t) = scraper {
        let _ = t.join();
    }
    figures.insert("scrapes".into(), scrapes.load(std::sync::atomic::Ordering::Relaxed) as f64);
    if !cgroups.is_empty() {
        figures.insert("oom_kills".into(), cgroups.iter().map(Cgroup::oom_kills).sum());
        figures.insert("cgroup_peak_mib".into(), cgroups.iter().map(Cgroup::peak_mib).fold(0.0, f64::max));
    }
    if worker_died.load(std::sync::atomic::Ordering::Relaxed) {
        // The run's throughput is what completed before the worker died: nothing, as measured.
        figures.insert("worker_died".into(), 1.0);
        figures.insert("workflows_per_s".into(), 0.0);
        drop(workers);
        return Ok(figures);
    }
    let (result, before) = match (result, before) {
        (Some(r), Some(b)) => (r, b),
        _ => return Err(format!("the starter did not finish for {kind}")),
    };
    let completed = result["completed"].as_f64().unwrap_or(0.0).max(1.0);
    figures.insert("workflows_per_s".into(), result["workflows_per_s"].as_f64().unwrap_or(0.0));
    figures.insert("latency_p50_ms".into(), result["latency_p50_ms"].as_f64().unwrap_or(0.0));
    figures.insert("latency_p95_ms".into(), result["latency_p95_ms"].as_f64().unwrap_or(0.0));
    figures.insert("failed".into(), result["failed"].as_f64().unwrap_or(0.0));
    figures.insert("worker_cpu_ms_per_wf".into(), (after.0 - before.0) / completed);
    figures.insert("server_cpu_ms_per_wf".into(), (after.1 - before.1) / completed);
    figures.insert("peak_rss_mib".into(), pids.iter().map(|p| status_kib(*p, "VmHWM")).fold(0.0, f64::max) / 1024.0);
    drop(workers);
    drop(server);
    Ok(figures)
}

/// Min, median and max of one figure over the repetitions.
type Spread = (f64, f64, f64);
/// Spread of every figure, per (scenario, replicas, worker).
type Summary = BTreeMap<(String, usize, String), BTreeMap<String, Spread>>;

fn stats(values: &mut [f64]) -> Spread {
    values.sort_by(|a, b| a.total_cmp(b));
    let median = if values.is_empty() { 0.0 } else { values[values.len() / 2] };
    (values.first().copied().unwrap_or(0.0), median, values.last().copied().unwrap_or(0.0))
}

const FIGURES: &[(&str, &str)] = &[
    ("workflows_per_s", "wf/s"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p95_ms", "p95 ms"),
    ("worker_cpu_ms_per_wf", "worker CPU ms/wf"),
    ("server_cpu_ms_per_wf", "server CPU ms/wf"),
    ("peak_rss_mib", "peak RSS MiB"),
    ("idle_rss_mib", "idle RSS MiB"),
    ("start_to_first_poll_ms", "start → first poll ms"),
];

fn main() {
    let args = Args::parse();
    let mut runs: Vec<Value> = Vec::new();
    let total = args.scenarios.len() * args.reps * args.workers.len() * args.replicas.len();
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for scenario in &args.scenarios {
        for &replicas in &args.replicas {
            for rep in 0..args.reps {
                // Rotate the order each repetition so no worker always runs first (or last).
                let mut order = args.workers.clone();
                let shift = rep % order.len().max(1);
                order.rotate_left(shift);
                for kind in &order {
                    bar.set_message(format!("{scenario} x{replicas} {kind} rep {}", rep + 1));
                    match run_once(&args, scenario, kind, replicas, rep) {
                        Ok(f) => runs.push(json!({ "scenario": scenario, "worker": kind, "replicas": replicas, "rep": rep, "figures": f })),
                        Err(e) => bar.suspend(|| eprintln!("run failed: {scenario} {kind} rep {rep}: {e}")),
                    }
                    bar.inc(1);
                }
            }
        }
    }
    bar.finish_and_clear();
    // Min / median / max per (scenario, replicas, worker).
    let mut summary: Summary = BTreeMap::new();
    for scenario in &args.scenarios {
        for &replicas in &args.replicas {
            for kind in &args.workers {
                let mine: Vec<&Value> =
                    runs.iter().filter(|r| r["scenario"] == *scenario && r["worker"] == *kind && r["replicas"] == replicas).collect();
                if mine.is_empty() {
                    continue;
                }
                let mut per = BTreeMap::new();
                for (f, _) in FIGURES.iter().chain(
                    [
                        ("start_to_ready_ms", ""),
                        ("failed", ""),
                        ("scrapes", ""),
                        ("oom_kills", ""),
                        ("cgroup_peak_mib", ""),
                        ("worker_died", ""),
                    ]
                    .iter(),
                ) {
                    let mut v: Vec<f64> = mine.iter().filter_map(|r| r["figures"][*f].as_f64()).collect();
                    if !v.is_empty() {
                        per.insert(f.to_string(), stats(&mut v));
                    }
                }
                summary.insert((scenario.clone(), replicas, kind.clone()), per);
            }
        }
    }
    let md = markdown(&args, &summary);
    println!("{md}");
    std::fs::create_dir_all(&args.out).expect("results dir");
    let label = &args.label;
    let summary_json: Vec<Value> = summary
        .iter()
        .map(|((s, r, w), per)| {
            json!({ "scenario": s, "replicas": r, "worker": w,
                    "figures": per.iter().map(|(k, (min, med, max))| (k.clone(), json!({ "min": min, "median": med, "max": max }))).collect::<serde_json::Map<_, _>>() })
        })
        .collect();
    let doc = json!({
        "label": label, "reps": args.reps, "workflows": args.workflows, "warmup": args.warmup, "concurrency": args.concurrency,
        "db": args.db, "host_env": args.host_env, "bare_env": args.bare_env, "scrape_every_s": args.scrape_every,
        "cgroup_memory_mib": args.cgroup_memory_mib, "cgroup_cpus": args.cgroup_memory_mib.map(|_| args.cgroup_cpus), "work_ms": args.work_ms,
        "summary": summary_json, "runs": runs,
    });
    let file = if label == "current" { "workers.json".to_string() } else { format!("workers-{label}.json") };
    std::fs::write(args.out.join(&file), serde_json::to_string_pretty(&doc).unwrap_or_default()).expect("write json");
    let md_file = if label == "current" { "workers.md".to_string() } else { format!("workers-{label}.md") };
    std::fs::write(args.out.join(md_file), &md).expect("write md");
    if let Err(e) = chart(&args, &summary) {
        eprintln!("chart: {e}");
    }
}

fn markdown(args: &Args, summary: &Summary) -> String {
    let mut out = format!(
        "Medians of {} reps ({} measured workflows after {} warm-up, {} in flight, dev server store: {}; min–max in brackets; /metrics scraped every {} s).\n",
        args.reps, args.workflows, args.warmup, args.concurrency, args.db, args.scrape_every
    );
    if let Some(mib) = args.cgroup_memory_mib {
        out.push_str(&format!(
            "Every worker in a cgroup limited to {mib} MiB and {} CPU (no swap); host env: {:?}.\n",
            args.cgroup_cpus, args.host_env
        ));
    }
    let mut columns: Vec<(&str, &str)> = FIGURES.to_vec();
    if args.cgroup_memory_mib.is_some() {
        columns.extend([
            ("failed", "failed"),
            ("oom_kills", "OOM kills"),
            ("worker_died", "worker died"),
            ("cgroup_peak_mib", "cgroup peak MiB"),
        ]);
    }
    for scenario in &args.scenarios {
        for &replicas in &args.replicas {
            out.push_str(&format!("\n**{scenario}**, {replicas} worker replica{}\n\n| worker |", if replicas == 1 { "" } else { "s" }));
            for (_, title) in &columns {
                out.push_str(&format!(" {title} |"));
            }
            out.push_str("\n|---|");
            out.push_str(&"---|".repeat(columns.len()));
            out.push('\n');
            for kind in &args.workers {
                let Some(per) = summary.get(&(scenario.clone(), replicas, kind.clone())) else { continue };
                out.push_str(&format!("| {kind} |"));
                for (f, _) in &columns {
                    let (min, med, max) = per.get(*f).copied().unwrap_or_default();
                    out.push_str(&format!(" {med:.2} [{min:.2}–{max:.2}] |"));
                }
                out.push('\n');
            }
            let get =
                |kind: &str, f: &str| summary.get(&(scenario.clone(), replicas, kind.to_string())).and_then(|p| p.get(f)).map(|s| s.1);
            for other in ["bare-metrics", "bare", "python", "typescript"] {
                if let (Some(hc), Some(oc), Some(hr), Some(or)) = (
                    get("host", "worker_cpu_ms_per_wf"),
                    get(other, "worker_cpu_ms_per_wf"),
                    get("host", "peak_rss_mib"),
                    get(other, "peak_rss_mib"),
                ) {
                    out.push_str(&format!(
                        "\nhost / {other}: CPU per workflow {:.2}x, peak RSS {:.2}x ({:+.1} MiB)",
                        hc / oc,
                        hr / or,
                        hr - or
                    ));
                }
            }
            for other in ["bare-metrics", "bare"] {
                if let (Some(h), Some(b)) = (get("host", "workflows_per_s"), get(other, "workflows_per_s")) {
                    out.push_str(&format!("\nhost / {other}: throughput {:.2}x", h / b));
                }
                if let (Some(hc), Some(hs), Some(bc), Some(bs)) = (
                    get("host", "worker_cpu_ms_per_wf"),
                    get("host", "server_cpu_ms_per_wf"),
                    get(other, "worker_cpu_ms_per_wf"),
                    get(other, "server_cpu_ms_per_wf"),
                ) {
                    out.push_str(&format!(
                        "\nhost overhead over {other}, CPU per workflow: {:+.1}% (corrected by each run's server CPU, for this VM's speed drift: {:+.1}%)",
                        (hc / bc - 1.0) * 100.0,
                        ((hc / hs) / (bc / bs) - 1.0) * 100.0
                    ));
                }
            }
            out.push('\n');
        }
    }
    out
}

/// Bars per worker: median worker CPU per workflow and peak RSS, per scenario (first replica count).
fn chart(args: &Args, summary: &Summary) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let file = if args.label == "current" { args.out.join("workers.svg") } else { args.out.join(format!("workers-{}.svg", args.label)) };
    let panels = [
        ("worker_cpu_ms_per_wf", "worker CPU ms per workflow"),
        ("peak_rss_mib", "peak RSS MiB"),
        ("workflows_per_s", "workflows per second"),
    ];
    let height = 300 * args.scenarios.len() as u32;
    let root = SVGBackend::new(&file, (1200, height.max(300))).into_drawing_area();
    root.fill(&WHITE)?;
    let rows = root.split_evenly((args.scenarios.len(), panels.len()));
    let colors = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(127, 127, 127), RGBColor(44, 160, 44), RGBColor(214, 39, 40)];
    let replicas = args.replicas.first().copied().unwrap_or(1);
    for (i, scenario) in args.scenarios.iter().enumerate() {
        for (j, (figure, title)) in panels.iter().enumerate() {
            let area = &rows[i * panels.len() + j];
            let values: Vec<(usize, &String, f64, f64, f64)> = args
                .workers
                .iter()
                .enumerate()
                .filter_map(|(k, w)| {
                    summary.get(&(scenario.clone(), replicas, w.clone()))?.get(*figure).map(|(lo, med, hi)| (k, w, *lo, *med, *hi))
                })
                .collect();
            let top = values.iter().map(|v| v.4).fold(0.0, f64::max) * 1.15 + 1e-9;
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{scenario}: {title}"), ("sans-serif", 14))
                .margin(8)
                .x_label_area_size(24)
                .y_label_area_size(44)
                .build_cartesian_2d((0..args.workers.len()).into_segmented(), 0.0..top)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_label_formatter(&|x| match x {
                    SegmentValue::CenterOf(k) => args.workers.get(*k).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .draw()?;
            for (k, _, lo, med, hi) in &values {
                let color = colors[*k % colors.len()];
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(SegmentValue::Exact(*k), 0.0), (SegmentValue::Exact(*k + 1), *med)],
                    color.mix(0.8).filled(),
                )))?;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(SegmentValue::CenterOf(*k), *lo), (SegmentValue::CenterOf(*k), *hi)],
                    BLACK.stroke_width(2),
                )))?;
            }
        }
    }
    root.present()?;
    Ok(())
}
