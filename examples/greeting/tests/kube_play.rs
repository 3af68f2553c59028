//! The deploy half run for real: images built from `deploy/docker/Dockerfile` with buildah (the
//! base assembled from Debian packages), pushed to a registry on 127.0.0.1, and the rendered
//! manifests of the example (with encryption and the codec server on) played as pods by podman
//! against a real dev server, after the small, listed adaptations in
//! `tk8s_testkit::containers::adapt`. Checks what a cluster would: the containers run as uid
//! 65532 with a read-only root filesystem and no capabilities; every probe path and port in the
//! rendered manifests answers 200 from the pod; worker and orchestrator talk to Temporal from
//! their pods; the codec server decodes with its mounted keys and tokens; stopping the pods
//! drains the worker.
//!
//! podman here runs pods with host networking, so "from the pod" means from the pod's network
//! namespace, which is the host's. Skipped (with the reason printed) only when the runtime
//! refuses to work on this kernel; a missing podman is a failure (`cargo xtask tools`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tk8s_testkit::containers::adapt::adapt;
use tk8s_testkit::containers::local::{self, DEV_TOKEN};
use tk8s_testkit::containers::{Podman, Pods, Registry};
use tk8s_testkit::{DevServer, http_get, http_request, wait_until, workspace_root};

const TAG: &str = "kube-play";

fn greeting() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_greeting"))
}

/// A stripped copy of a binary: debug info would make the image hundreds of MB.
fn stripped(bin: &Path, dir: &Path) -> PathBuf {
    let out = dir.join(bin.file_name().unwrap());
    let status = std::process::Command::new("strip").arg("-o").arg(&out).arg(bin).status().expect("run strip");
    assert!(status.success(), "strip {}", bin.display());
    out
}

/// Every httpGet probe of every container in the rendered Deployments: (deployment, container,
/// probe kind, path, port as rendered).
fn probes(objects: &[serde_json::Value]) -> Vec<(String, String, String, String, serde_json::Value)> {
    let mut out = Vec::new();
    for d in objects.iter().filter(|o| o["kind"] == "Deployment") {
        let name = d["metadata"]["name"].as_str().unwrap().to_string();
        for c in d["spec"]["template"]["spec"]["containers"].as_array().unwrap() {
            for kind in ["startupProbe", "readinessProbe", "livenessProbe"] {
                if let Some(get) = c[kind].get("httpGet") {
                    out.push((
                        name.clone(),
                        c["name"].as_str().unwrap().into(),
                        kind.into(),
                        get["path"].as_str().unwrap().into(),
                        get["port"].clone(),
                    ));
                }
            }
        }
    }
    out
}

fn proc_status(pid: u32) -> BTreeMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.to_string(), v.trim().to_string())))
        .collect()
}

fn root_mount_options(pid: u32) -> String {
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
    mounts.lines().find(|l| l.split_whitespace().nth(4) == Some("/")).and_then(|l| l.split_whitespace().nth(5)).unwrap_or("").to_string()
}

#[test]
fn images_build_and_the_rendered_manifests_run_as_pods() {
    let podman = Podman::new(&workspace_root().join(".tk8s/containers")).unwrap_or_else(|e| panic!("{e}"));
    if let Err(why) = podman.check_runtime() {
        eprintln!("SKIPPED: podman cannot run containers on this machine:\n{why}");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let bins = (stripped(greeting(), work.path()), stripped(&greeting().with_file_name("tk8s"), work.path()));
    podman.ensure_base(&[&bins.0, &bins.1]).unwrap_or_else(|e| panic!("{e}"));
    let dockerfile = workspace_root().join("deploy/docker/Dockerfile");
    let local = (format!("localhost/tk8s-test/greeting:{TAG}"), format!("localhost/tk8s-test/tk8s:{TAG}"));
    podman.build(&dockerfile, "greeting", &[("greeting", &bins.0)], &local.0).unwrap_or_else(|e| panic!("{e}"));
    podman.build(&dockerfile, "tk8s", &[("tk8s", &bins.1)], &local.1).unwrap_or_else(|e| panic!("{e}"));
    let registry = Registry::start().unwrap_or_else(|e| panic!("{e}"));
    registry.push(&podman, &local.0, "greeting", TAG).unwrap_or_else(|e| panic!("{e}"));
    registry.push(&podman, &local.1, "tk8s", TAG).unwrap_or_else(|e| panic!("{e}"));
    let server = DevServer::start();

    // The image itself, as `docker run` would run it hardened; its HEALTHCHECK is the binary's
    // own probe (no curl in the image).
    let admin = tk8s_testkit::free_port();
    let run = format!("tk8s-test-run-{}", std::process::id());
    let started = podman.run(
        "podman",
        &[
            "run",
            "-d",
            "--name",
            &run,
            "--network",
            "host",
            "--read-only",
            "--user",
            "65532",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "-e",
            &format!("TEMPORAL_ADDRESS={}", server.address()),
            "-e",
            &format!("TK8S_ADMIN_PORT={admin}"),
            &local.0,
            "worker",
        ],
    );
    let cleanup = |name: &str| {
        let _ = podman.run("podman", &["rm", "-f", name]);
    };
    started.unwrap_or_else(|e| panic!("{e}"));
    let ready = wait_until(Duration::from_secs(30), || http_get(admin, "/readyz").map(|r| r.0) == Some(200));
    let health = podman.run("podman", &["healthcheck", "run", &run]);
    let stop = podman.run("podman", &["stop", "-t", "20", &run]);
    let logs =
        podman.command("podman").args(["logs", &run]).output().map(|o| String::from_utf8_lossy(&o.stdout).to_string()).unwrap_or_default();
    cleanup(&run);
    assert!(ready, "the image never became ready:\n{logs}");
    assert!(health.is_ok(), "the image's HEALTHCHECK failed: {health:?}");
    assert!(stop.is_ok() && logs.contains("shutdown ended: drained"), "podman stop did not drain:\n{logs}");

    // The rendered manifests as pods.
    let example = std::fs::read_to_string(workspace_root().join("examples/greeting/deploy.toml")).unwrap();
    let text = local::deploy_config(&example, &registry, TAG, &server.address(), "1s").unwrap_or_else(|e| panic!("{e}"));
    let config = tk8s_render::DeployConfig::parse(Path::new("deploy.toml"), &text).expect("the example, pointed here, parses");
    let objects: Vec<serde_json::Value> = tk8s_render::objects_for(&config, None).unwrap().into_iter().map(|o| o.value).collect();
    let plan = local::plan(&work.path().join("secrets")).unwrap_or_else(|e| panic!("{e}"));
    let ports = plan.ports.clone();
    let adapted = adapt(&objects, &plan).unwrap_or_else(|e| panic!("{e}"));
    let pods = Pods::play(&podman, &adapted, 30).unwrap_or_else(|e| panic!("{e}"));
    let logs = |deployment: &str, container: &str| pods.logs(&pods.container(deployment, container));
    for (deployment, port) in &ports {
        assert!(
            wait_until(Duration::from_secs(60), || http_get(*port, "/readyz").map(|r| r.0) == Some(200)),
            "{deployment} never became ready on port {port}:\n{}",
            logs(deployment, deployment.trim_start_matches("greeting-"))
        );
    }

    // Every probe the manifests declare answers 200 (liveness included, which podman cannot run).
    let rendered_probes = probes(&objects);
    assert!(rendered_probes.len() >= 7, "{rendered_probes:?}");
    for (deployment, container, kind, path, _) in &rendered_probes {
        let code = http_get(ports[deployment], path).map(|r| r.0);
        assert_eq!(code, Some(200), "{deployment}/{container} {kind} {path}");
    }

    // Hardened as rendered: uid 65532, read-only root, no capabilities.
    for (deployment, container) in [
        ("greeting-worker", "worker"),
        ("greeting-orchestrator", "orchestrator"),
        ("greeting-scaler", "scaler"),
        ("greeting-codec-server", "codec-server"),
    ] {
        let pid = pods.pid(&pods.container(deployment, container)).unwrap_or_else(|e| panic!("{e}"));
        let status = proc_status(pid);
        assert!(status["Uid"].split_whitespace().all(|u| u == "65532"), "{container}: Uid {}", status["Uid"]);
        assert_eq!(status["CapEff"], "0000000000000000", "{container}: effective capabilities");
        assert_eq!(status["NoNewPrivs"], "1", "{container}: no_new_privs");
        assert!(root_mount_options(pid).split(',').any(|o| o == "ro"), "{container}: root filesystem is writable");
    }

    // Worker and orchestrator talk to Temporal from their pods: workflows complete, encrypted.
    let completed = || {
        server
            .statuses("WorkflowId STARTS_WITH 'greeting-interval-'")
            .values()
            .filter(|s| *s == "WORKFLOW_EXECUTION_STATUS_COMPLETED")
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(60), || completed() >= 3),
        "no workflows completed:\n{}\n{}",
        logs("greeting-worker", "worker"),
        logs("greeting-orchestrator", "orchestrator")
    );

    // The scaler pod reads the worker pod's /metrics (where the headless Service would send it)
    // and decides within the rendered bounds.
    let scaler = ports["greeting-scaler"];
    let gauge = |text: &str, name: &str| -> Option<f64> {
        text.lines().find(|l| l.starts_with(name) && !l.starts_with(&format!("{name}_"))).and_then(|l| l.rsplit(' ').next()?.parse().ok())
    };
    let mut last = String::new();
    let decided = wait_until(Duration::from_secs(30), || {
        last = http_get(scaler, "/metrics").map(|r| r.1).unwrap_or_default();
        gauge(&last, "tk8s_scaler_slots_per_replica") == Some(100.0)
            && gauge(&last, "tk8s_desired_worker_replicas").is_some_and(|d| d >= 2.0)
    });
    assert!(
        decided,
        "the scaler did not read the worker's slots or decide within min..max:\n{last}\n{}",
        logs("greeting-scaler", "scaler")
    );

    // The codec server decodes with its mounted keys, for holders of a mounted token only.
    let codec = ports["greeting-codec-server"];
    let body = r#"{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"IkhlbGxvIg=="}]}"#;
    let auth = format!("Bearer {DEV_TOKEN}");
    let (code, encoded) = http_request(codec, "POST", "/encode", &[("authorization", &auth), ("content-type", "application/json")], body)
        .expect("codec server answers");
    assert_eq!(code, 200, "{encoded}");
    let (code, decoded) =
        http_request(codec, "POST", "/decode", &[("authorization", &auth), ("content-type", "application/json")], &encoded)
            .expect("codec server answers");
    assert_eq!(code, 200, "{decoded}");
    assert!(decoded.contains("IkhlbGxvIg=="), "{decoded}");
    assert_eq!(http_request(codec, "POST", "/decode", &[], &encoded).map(|r| r.0), Some(401));

    // Stopped as a node drains a pod: the worker finishes its drain.
    pods.stop().unwrap_or_else(|e| panic!("{e}"));
    let worker_logs = logs("greeting-worker", "worker");
    assert!(worker_logs.contains("shutdown ended: drained"), "{worker_logs}");
    drop(pods);
    eprintln!(
        "measured: {} probes answered 200 from 3 pods; {} workflows completed; images {} / {} bytes (debug build, stripped)",
        rendered_probes.len(),
        completed(),
        podman.image_size(&local.0).unwrap_or(0),
        podman.image_size(&local.1).unwrap_or(0)
    );
    for image in [
        local.0.clone(),
        local.1.clone(),
        format!("{}:{TAG}", registry.repository("greeting")),
        format!("{}:{TAG}", registry.repository("tk8s")),
    ] {
        let _ = podman.run("podman", &["rmi", "-f", &image]);
    }
}
