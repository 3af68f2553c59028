//! `cargo xtask image` and `cargo xtask kube`: the deploy half on this machine.
//!
//! - `image`: release binaries, the runtime base (assembled from Debian packages when it cannot
//!   be pulled), the `greeting` and `tk8s` images from `deploy/docker/Dockerfile` with buildah;
//!   sizes uncompressed and as pushed to a registry on 127.0.0.1; `bench/results/images.json`.
//! - `kube`: those images pushed to a registry on 127.0.0.1, the example's rendered manifests
//!   (encryption and the codec server on) played by podman against a dev server after the listed
//!   adaptations, readiness awaited, workflows watched; Ctrl-C (or `--exit-after N` completed
//!   workflows) stops the pods with a drain.

use crate::{Result, root};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tk8s_testkit::containers::adapt::{ADAPTATIONS, adapt};
use tk8s_testkit::containers::{BASE_IMAGE, Podman, Pods, Registry, local};

const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Built {
    pub podman: Podman,
    pub greeting: String,
    pub tk8s: String,
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Build the release binaries and both images; report and keep their sizes.
pub fn image(_args: &[String]) -> Result<Built> {
    let started = Instant::now();
    // Release binaries carry their dependency list (cargo auditable): the SBOM is read from them.
    crate::supply::auditable_release_build(&["greeting", "tk8s-cli"])?;
    let compile_s = started.elapsed().as_secs_f64();
    let release = target_dir().join("release");
    let (greeting_bin, tk8s_bin) = (release.join("greeting"), release.join("tk8s"));
    let podman = Podman::new(&root().join(".tk8s/containers"))?;
    podman.check_runtime().map_err(|e| format!("podman cannot run containers here: {e}"))?;
    let t = Instant::now();
    let packages = podman.ensure_base(&[&greeting_bin, &tk8s_bin])?;
    let base_s = t.elapsed().as_secs_f64();
    let dockerfile = root().join("deploy/docker/Dockerfile");
    let (greeting, tk8s) = (format!("localhost/greeting:{VERSION}"), format!("localhost/tk8s:{VERSION}"));
    let t = Instant::now();
    podman.build(&dockerfile, "greeting", &[("greeting", &greeting_bin)], &greeting)?;
    let greeting_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    podman.build(&dockerfile, "tk8s", &[("tk8s", &tk8s_bin)], &tk8s)?;
    let tk8s_s = t.elapsed().as_secs_f64();
    let registry = Registry::start()?;
    let file_size = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let base = podman.image_size(BASE_IMAGE)?;
    let mut rows = Vec::new();
    println!("\n{:<10} {:>14} {:>14} {:>14} {:>10}", "image", "uncompressed", "pushed (gzip)", "binary", "build");
    for (name, image, bin, secs) in [("greeting", &greeting, &greeting_bin, greeting_s), ("tk8s", &tk8s, &tk8s_bin, tk8s_s)] {
        let size = podman.image_size(image)?;
        let pushed = registry.push(&podman, image, name, VERSION)?;
        println!("{name:<10} {:>14} {:>14} {:>14} {:>9.1}s", mb(size), mb(pushed), mb(file_size(bin)), secs);
        rows.push(format!(
            "{{\"image\": \"{name}\", \"uncompressed_bytes\": {size}, \"pushed_bytes\": {pushed}, \"binary_bytes\": {}, \"build_s\": {secs:.2}}}",
            file_size(bin)
        ));
    }
    println!(
        "base {BASE_IMAGE}: {} ({}; {:.1}s); release build {:.0}s",
        mb(base),
        if packages.is_empty() { "pulled".to_string() } else { packages.join(" ") },
        base_s,
        compile_s
    );
    // The same binaries as `tk8s image build` makes images: provenance labels, the SBOM, one
    // digest per commit.
    let supply =
        crate::supply::provenance_images(&[("greeting", "greeting", greeting_bin.clone()), ("tk8s-cli", "tk8s", tk8s_bin.clone())])?;
    println!(
        "\n{:<10} {:>12} {:>15} {:>16} {:>14}  digest (the same on a second build)",
        "image", "sbom crates", "auditable list", "debian packages", "uncompressed"
    );
    for i in &supply {
        println!("{:<10} {:>12} {:>15} {:>16} {:>14}  {}", i.name, i.crates, i.recorded, i.debian_packages, mb(i.size), i.digest);
    }
    let supply_rows: Vec<String> = supply
        .iter()
        .map(|i| format!("{{\"image\": \"{}\", \"sbom_crates\": {}, \"auditable_list_crates\": {}, \"sbom_debian_packages\": {}, \"uncompressed_bytes\": {}, \"digest\": \"{}\", \"reproducible\": true}}", i.name, i.crates, i.recorded, i.debian_packages, i.size, i.digest))
        .collect();
    let quoted: Vec<String> = packages.iter().map(|p| format!("\"{p}\"")).collect();
    let json = format!(
        "{{\n  \"images\": [\n    {}\n  ],\n  \"tk8s_image_build\": [\n    {}\n  ],\n  \"base\": {{\"image\": \"{BASE_IMAGE}\", \"uncompressed_bytes\": {base}, \"packages\": [{}], \"assemble_s\": {base_s:.2}}},\n  \"release_build_s\": {compile_s:.0}\n}}\n",
        rows.join(",\n    "),
        supply_rows.join(",\n    "),
        quoted.join(", ")
    );
    let dir = root().join("bench/results");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("images.json"), json).map_err(|e| format!("images.json: {e}"))?;
    Ok(Built { podman, greeting, tk8s })
}

/// The cluster-shaped local run.
pub fn kube(args: &[String]) -> Result {
    let mut exit_after = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--exit-after" => exit_after = Some(it.next().and_then(|n| n.parse::<usize>().ok()).ok_or("--exit-after takes a number")?),
            other => return Err(format!("unknown argument {other:?}; usage: cargo xtask kube [--exit-after N]")),
        }
    }
    let built = image(&[])?;
    let podman = &built.podman;
    let registry = Registry::start()?;
    registry.push(podman, &built.greeting, "greeting", "dev")?;
    registry.push(podman, &built.tk8s, "tk8s", "dev")?;
    let server = tk8s_testkit::DevServer::start();
    let example = std::fs::read_to_string(root().join("examples/greeting/deploy.toml")).map_err(|e| e.to_string())?;
    let text = local::deploy_config(&example, &registry, "dev", &server.address(), "3s")?;
    let config = tk8s_render::DeployConfig::parse(std::path::Path::new("examples/greeting/deploy.toml (pointed at this machine)"), &text)
        .map_err(|e| e.to_string())?;
    let objects: Vec<serde_json::Value> =
        tk8s_render::objects_for(&config, None).map_err(|e| e.to_string())?.into_iter().map(|o| o.value).collect();
    let state = root().join(".tk8s/kube");
    let _ = std::fs::remove_dir_all(&state);
    let plan = local::plan(&state.join("secrets"))?;
    let adapted = adapt(&objects, &plan)?;
    println!("\nxtask: adaptations for podman 4.3 (nothing else in the rendered manifests changes):");
    for (what, why) in ADAPTATIONS {
        println!("  - {what}: {why}");
    }
    let started = Instant::now();
    let pods = Pods::play(podman, &adapted, 30)?;
    for (deployment, port) in &plan.ports {
        let ready =
            tk8s_testkit::wait_until(Duration::from_secs(60), || tk8s_testkit::http_get(*port, "/readyz").map(|r| r.0) == Some(200));
        if !ready {
            let container = pods.container(deployment, deployment.trim_start_matches("greeting-"));
            return Err(format!("{deployment} never became ready:\n{}", pods.logs(&container)));
        }
    }
    println!("\nxtask: pods ready {:.1}s after kube play", started.elapsed().as_secs_f64());
    for (deployment, port) in &plan.ports {
        println!("  {deployment:<24} http://127.0.0.1:{port}/readyz");
    }
    println!(
        "  Temporal gRPC            {}\n  list workflows           .venv/bin/temporal workflow list --address {}\n  Ctrl-C stops the pods (drain) and removes them\n",
        server.address(),
        server.address()
    );
    let stopping = Arc::new(AtomicBool::new(false));
    {
        let stopping = stopping.clone();
        let _ = ctrlc::set_handler(move || stopping.store(true, Ordering::SeqCst));
    }
    let watch = Instant::now();
    let outcome = loop {
        std::thread::sleep(Duration::from_millis(500));
        if stopping.load(Ordering::SeqCst) {
            break Ok(());
        }
        if let Some(n) = exit_after {
            let done = server
                .statuses("WorkflowId STARTS_WITH 'greeting-interval-'")
                .values()
                .filter(|s| *s == "WORKFLOW_EXECUTION_STATUS_COMPLETED")
                .count();
            if done >= n {
                println!("xtask: {n} workflows completed by the pods after {:.1} s", watch.elapsed().as_secs_f64());
                break Ok(());
            }
            if watch.elapsed() > Duration::from_secs(120) {
                break Err(format!("only {done} of {n} workflows completed in 120 s"));
            }
        }
    };
    let t = Instant::now();
    pods.stop()?;
    let worker = pods.logs(&pods.container("greeting-worker", "worker"));
    let drained = worker.contains("shutdown ended: drained");
    println!(
        "xtask: pods stopped in {:.1} s; worker {}",
        t.elapsed().as_secs_f64(),
        if drained { "drained cleanly" } else { "did NOT log a clean drain" }
    );
    drop(pods);
    outcome?;
    if drained { Ok(()) } else { Err(format!("the worker did not drain:\n{worker}")) }
}
