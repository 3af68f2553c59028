//! A worker in another language, made observable by `tk8s companion`: the Python worker in
//! `examples/python-worker` (temporalio from PyPI) in an image built here from Debian packages
//! (Debian's Python 3.11 on the distroless-equivalent base, by tk8s-image), and the companion
//! from a `tk8s` image built the same way, run by podman beside a real dev server, each
//! "pod" a hostname as in Kubernetes. It checks what the probes will see:
//!
//! - `/readyz` is 503 until the Python worker polls, then 200;
//! - a companion of another pod on the same task queue stays 503 (it does not take another
//!   pod's poller for its own);
//! - workflows complete; `/metrics` carries the companion's gauges and the worker's own metrics;
//! - killing the Python worker turns readiness off within the freshness window;
//! - SIGTERM turns the companion's readiness off at once.
//!
//! The figures (time from the worker's first poll to 200, from its death to 503, the
//! companion's idle CPU and RSS) are printed; none is asserted beyond a generous bound.
//! podman here runs with host networking, so "the pod" is its hostname, not its network.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tk8s_config::spec as S;
use tk8s_image::{base, oci};
use tk8s_testkit::containers::Podman;
use tk8s_testkit::{DevServer, free_port, http_get, wait_until, workspace_root};

const PYTHON_SDK: &str = "temporalio==1.35.0";
/// Debian's Python 3.11 and the libraries its standard library and the SDK load.
const PYTHON_PACKAGES: &[&str] = &[
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "zlib1g",
    "libexpat1",
    "libssl3",
    "libffi8",
    "libbz2-1.0",
    "liblzma5",
    "libcrypt1",
    "libuuid1",
];
const QUEUE: &str = "seeds";
/// Short windows, so the test is quick; the defaults are 5 s and 70 s.
const INTERVAL: &str = "1s";
const FRESHNESS_S: u64 = 10;

fn created() -> u64 {
    0
}

/// The SDK installed for Debian's Python 3.11, cached per machine.
fn site_packages(cache: &Path) -> PathBuf {
    let dir = cache.join(format!("python-site-{}", PYTHON_SDK.replace("==", "-")));
    if !dir.join("temporalio").is_dir() {
        let partial = dir.with_extension("partial");
        let _ = std::fs::remove_dir_all(&partial);
        let pip = workspace_root().join(".venv/bin/pip");
        let out = Command::new(&pip)
            .args(["install", "--quiet", "--disable-pip-version-check", "--python-version", "3.11", "--only-binary", ":all:", "--target"])
            .arg(&partial)
            .arg(PYTHON_SDK)
            .output()
            .expect("pip (cargo xtask tools installs .venv)");
        assert!(out.status.success(), "pip install {PYTHON_SDK}: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::rename(&partial, &dir).unwrap();
    }
    dir
}

fn build(podman: &Podman, spec: &oci::ImageSpec, packages: &[&str], work: &Path) -> String {
    let cache = base::cache_dir(&std::env::vars().collect());
    let b = base::Base::ensure_with(&cache, packages, false).expect("the base from Debian packages");
    let layout = work.join(format!("{}-layout", spec.app));
    let built = oci::build(spec, &b, &layout).unwrap();
    let reference = format!("localhost/{}:{}", spec.app, spec.tag);
    podman
        .run("skopeo", &["copy", "--quiet", &format!("oci:{}:{}", layout.display(), spec.tag), &format!("containers-storage:{reference}")])
        .unwrap();
    eprintln!("any-sdk: image {reference}: {:.1} MB ({:.1} MB compressed)", built.size as f64 / 1e6, built.compressed_size as f64 / 1e6);
    reference
}

/// Containers removed when the test ends, however it ends.
struct Containers<'a>(&'a Podman, Vec<String>);

impl Drop for Containers<'_> {
    fn drop(&mut self) {
        for name in &self.1 {
            let _ = self.0.run("podman", &["rm", "-f", "-t", "0", name]);
        }
    }
}

fn readyz(port: u16) -> Option<u16> {
    http_get(port, "/readyz").map(|(s, _)| s)
}

#[test]
fn the_companion_knows_whether_this_pods_python_worker_polls() {
    let work = tempfile::tempdir().unwrap();
    let podman = Podman::new(&work.path().join("podman")).expect("podman (cargo xtask tools)");
    if let Err(why) = podman.check_runtime() {
        eprintln!("SKIPPED: the container runtime does not work here: {why}");
        return;
    }
    let cache = base::cache_dir(&std::env::vars().collect());
    // The images: Python on Debian's packages with the SDK and the example worker; tk8s.
    let app = work.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::copy(workspace_root().join("examples/python-worker/worker.py"), app.join("worker.py")).unwrap();
    let mut packages = base::PACKAGES.to_vec();
    packages.extend(PYTHON_PACKAGES);
    let python = build(
        &podman,
        &oci::ImageSpec {
            app: "python-worker".into(),
            binary: None,
            entrypoint: Some(vec!["/usr/bin/python3.11".into(), "/app/worker.py".into()]),
            tag: "test".into(),
            files: Vec::new(),
            trees: vec![(site_packages(&cache), "/usr/lib/python3/dist-packages".into()), (app, "/app".into())],
            labels: Default::default(),
            created: created(),
        },
        &packages,
        work.path(),
    );
    let tk8s = work.path().join("tk8s");
    assert!(Command::new("strip").arg("-o").arg(&tk8s).arg(env!("CARGO_BIN_EXE_tk8s")).status().unwrap().success());
    let companion_image = build(
        &podman,
        &oci::ImageSpec {
            app: "tk8s".into(),
            binary: Some(tk8s),
            entrypoint: None,
            tag: "test".into(),
            files: Vec::new(),
            trees: Vec::new(),
            labels: Default::default(),
            created: created(),
        },
        base::PACKAGES,
        work.path(),
    );

    let server = DevServer::start();
    let mut guard = Containers(&podman, Vec::new());
    let id = std::process::id();
    let metrics_port = free_port();
    let run = |guard: &mut Containers<'_>, name: &str, pod: &str, image: &str, env: &[(&str, String)], args: &[&str]| {
        let name = format!("{name}-{id}");
        guard.1.push(name.clone());
        let mut cmd: Vec<String> = [
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "host",
            "--hostname",
            pod,
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (k, v) in env {
            cmd.extend(["-e".into(), format!("{k}={v}")]);
        }
        cmd.push(image.into());
        cmd.extend(args.iter().map(|a| a.to_string()));
        podman.run("podman", &cmd.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
        name
    };
    let companion = |guard: &mut Containers<'_>, pod: &str, port: u16| {
        let env = [
            ("HOSTNAME", pod.to_string()),
            (S::TEMPORAL_ADDRESS.env, server.address()),
            (S::WORKER_TASK_QUEUE.env, QUEUE.to_string()),
            (S::ADMIN_PORT.env, port.to_string()),
            (S::ADMIN_BIND.env, "127.0.0.1".to_string()),
            (S::COMPANION_CHECK_INTERVAL.env, INTERVAL.to_string()),
            (S::COMPANION_POLLER_FRESHNESS.env, format!("{FRESHNESS_S}s")),
            (S::COMPANION_WORKER_METRICS.env, format!("127.0.0.1:{metrics_port}")),
            (S::SHUTDOWN_HARD_DEADLINE.env, "30s".to_string()),
        ];
        run(guard, &format!("companion-{pod}"), pod, &companion_image, &env, &["companion"])
    };
    let (port_a, port_b) = (free_port(), free_port());
    let companion_a = companion(&mut guard, "pod-a", port_a);
    companion(&mut guard, "pod-b", port_b);
    let logs = |name: &str| podman.run("podman", &["logs", name]).unwrap_or_default();
    assert!(wait_until(Duration::from_secs(30), || readyz(port_a) == Some(503)), "companion A:\n{}", logs(&companion_a));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(readyz(port_a), Some(503), "ready before any worker polls:\n{}", logs(&companion_a));

    // The Python worker of pod A.
    let worker_env = [
        (S::TEMPORAL_ADDRESS.env, server.address()),
        (tk8s_render::TASK_QUEUE_ENV, QUEUE.to_string()),
        ("METRICS_PORT", metrics_port.to_string()),
        ("PYTHONUNBUFFERED", "1".to_string()),
    ];
    let worker = run(&mut guard, "python-worker", "pod-a", &python, &worker_env, &[]);
    assert!(wait_until(Duration::from_secs(60), || logs(&worker).contains("polling")), "the Python worker:\n{}", logs(&worker));
    let polling = Instant::now();
    assert!(wait_until(Duration::from_secs(60), || readyz(port_a) == Some(200)), "never ready:\n{}", logs(&companion_a));
    eprintln!("any-sdk: /readyz 200 {:.1} s after the worker said it polls", polling.elapsed().as_secs_f64());
    let (_, body) = http_get(port_a, "/readyz").unwrap();
    assert!(body.contains("\"own_pollers\":[{") && body.contains("@pod-a"), "{body}");

    // Another pod's companion does not take pod A's poller for its own.
    std::thread::sleep(Duration::from_secs(3));
    let (status, body) = http_get(port_b, "/readyz").unwrap();
    assert_eq!(status, 503, "pod B's companion: {body}");
    assert!(body.contains("no poller of this pod") && body.contains("other pollers"), "{body}");

    // Work goes through, and one scrape of the companion carries both kinds of metrics.
    for n in 0..3 {
        let out = server.cli(&[
            "workflow",
            "execute",
            "--type",
            "SeedWorkflow",
            "--task-queue",
            QUEUE,
            "--workflow-id",
            &format!("seed-{n}"),
            "--input",
            "\"tomato\"",
        ]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("seed for tomato, grown, harvested"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let (_, metrics) = http_get(port_a, "/metrics").unwrap();
    assert!(metrics.contains("tk8s_companion_ready 1") && metrics.contains("tk8s_companion_worker_metrics_up 1"), "{metrics}");
    assert!(metrics.lines().any(|l| l.starts_with("temporal_") && l.contains("task_queue=\"seeds\"")), "no SDK metrics relayed");
    let pid = podman.run("podman", &["inspect", "--format", "{{.State.Pid}}", &companion_a]).unwrap().trim().to_string();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status.lines().find(|l| l.starts_with("VmRSS")).unwrap_or_default().to_string();
    let cpu = |p: &str| -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or("").split_whitespace().collect();
        (fields.get(11).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0)
            + fields.get(12).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0))
            / 100.0
    };
    let (c0, t0) = (cpu(&pid), Instant::now());
    std::thread::sleep(Duration::from_secs(10));
    eprintln!("any-sdk: companion at a 1 s interval: {:.2}% of a core, {rss}", (cpu(&pid) - c0) / t0.elapsed().as_secs_f64() * 100.0);

    // The worker dies: readiness goes within the freshness window (and a check or two).
    podman.run("podman", &["kill", "-s", "KILL", &worker]).unwrap();
    let died = Instant::now();
    assert!(wait_until(Duration::from_secs(FRESHNESS_S * 6), || readyz(port_a) == Some(503)), "still ready after the worker died");
    eprintln!("any-sdk: {}", http_get(port_a, "/readyz").map(|r| r.1).unwrap_or_default());
    eprintln!("any-sdk: /readyz 503 {:.1} s after the worker was killed (freshness {FRESHNESS_S} s)", died.elapsed().as_secs_f64());

    // SIGTERM: readiness off at once (it keeps answering 503 until its linger ends).
    podman.run("podman", &["kill", "-s", "TERM", &companion_a]).unwrap();
    assert!(wait_until(Duration::from_secs(5), || readyz(port_a) == Some(503)));
    let (_, body) = http_get(port_a, "/readyz").unwrap();
    assert!(body.contains("shutting down"), "{body}");
    drop(guard);
}
