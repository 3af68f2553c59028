//! `cargo xtask cluster build|up|down|status`: a real Kubernetes 1.20 control plane on this
//! machine (testkit's `cluster` module underneath), for trying `tk8s deploy` by hand. `up`
//! leaves it running detached with a fake node; `down` stops every process it started.

use std::time::Instant;
use tk8s_testkit::cluster::{self, ControlPlane, build, node};

const USAGE: &str = "usage: cargo xtask cluster <build | up | down | status>";

pub fn cluster(args: &[String]) -> crate::Result {
    let dir = build::kube_dir().join("run");
    match args.first().map(String::as_str) {
        Some("build") => build::build(&mut |line| eprintln!("xtask: {line}")).map(|_| ()),
        Some("up") => up(&dir),
        Some("down") => {
            let stopped = cluster::stop_detached(&dir);
            eprintln!(
                "xtask: stopped {}",
                if stopped.is_empty() { "nothing (no control plane was up)".into() } else { stopped.join(", ") }
            );
            Ok(())
        }
        Some("status") => {
            let recorded = cluster::recorded(&dir);
            if recorded.is_empty() {
                println!("no control plane is up (`cargo xtask cluster up` starts one)");
            }
            for (name, pid, alive) in recorded {
                let state =
                    if alive { format!("running, RSS {} MiB", cluster::rss_kib(pid).unwrap_or(0) / 1024) } else { "not running".into() };
                println!("{name:<24} pid {pid:<8} {state}");
            }
            if dir.join("admin.kubeconfig").is_file() {
                println!("KUBECONFIG={}", dir.join("admin.kubeconfig").display());
            }
            Ok(())
        }
        // The detached fake node `up` starts: runs until killed.
        Some("fake-node") => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let client = cluster::client_for(&dir.join("admin.kubeconfig")).await?;
                let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                node::run(client, node::NAME, stop, &|line| eprintln!("{line}")).await
            })
        }
        Some("--help" | "-h") => {
            println!(
                "{USAGE}\n\n  build   build the control plane from Debian's source package once per machine (about 8 minutes)\n  up      start it detached on free 127.0.0.1 ports with a fake node; prints KUBECONFIG\n  down    stop every process `up` started and remove its state\n  status  its processes and their memory"
            );
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}

fn up(dir: &std::path::Path) -> crate::Result {
    if cluster::recorded(dir).iter().any(|(.., alive)| *alive) {
        return Err("a control plane is already up (`cargo xtask cluster status`); `cargo xtask cluster down` stops it".into());
    }
    let _ = std::fs::remove_dir_all(dir);
    build::build(&mut |line| eprintln!("xtask: {line}"))?;
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let result = runtime.block_on(async {
        let mut plane = ControlPlane::start(dir, true, &mut |line| eprintln!("xtask: {line}")).await?;
        let me = std::env::current_exe().map_err(|e| e.to_string())?;
        plane.spawn_detached("fake-node", &me, &["cluster", "fake-node"])?;
        node::wait_ready(&plane.client().await?, node::NAME, std::time::Duration::from_secs(30)).await?;
        Ok(plane)
    });
    match result {
        Ok(plane) => {
            eprintln!(
                "xtask: up in {:.1?}: a real Kubernetes v1.20.2 control plane and a fake node (it runs no containers)",
                started.elapsed()
            );
            println!("export KUBECONFIG={}", plane.kubeconfig().display());
            Ok(())
        }
        Err(e) => {
            cluster::stop_detached(dir);
            Err(e)
        }
    }
}
