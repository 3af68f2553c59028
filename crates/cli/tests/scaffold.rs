//! Your own app, as a new user gets it: `tk8s new` into a directory outside the repository (with
//! `--toolkit-path` to this checkout instead of the git dependency), `cargo build` against the
//! shared target directory, its worker and orchestrator against a real dev server until the
//! workflows complete, its deploy config rendered (checked against the binary) and linted clean,
//! its image built by `tk8s image build` and run by podman hardened (read-only root, uid 65532,
//! no capabilities, no new privileges) until `/readyz` is 200, then stopped with a clean drain.
//!
//! The image is built from the debug binary, stripped, so the test needs no release build of the
//! SDK (the same binary a release build would put there, minus optimisation). A missing podman,
//! cargo or hadolint is a failure (`cargo xtask tools`); only a container runtime that refuses to
//! run on this kernel is skipped, saying why.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tk8s_testkit::containers::Podman;
use tk8s_testkit::{DevServer, Host, free_port, http_get, wait_until, workspace_root};

const APP: &str = "orders";

fn tk8s(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tk8s")).args(args).current_dir(dir).output().expect("run tk8s")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The target directory this test was built into (`.../debug/deps/scaffold-*`): the app builds
/// there too, so it reuses the SDK already compiled for the workspace.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// Removes a container when the test ends, however it ends.
struct Container<'a>(&'a Podman, String);

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.0.run("podman", &["rm", "-f", "-t", "0", &self.1]);
    }
}

#[test]
fn a_new_app_builds_runs_renders_and_ships_as_a_hardened_image() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let root = workspace_root();
    let out = tk8s(work.path(), &["new", APP, "--toolkit-path", root.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let app = work.path().join(APP);
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        "src/workflows.rs",
        "deploy.toml",
        "Dockerfile",
        ".dockerignore",
        "README.md",
        "replay/README.md",
    ] {
        assert!(app.join(f).is_file(), "{f} missing");
    }

    // Build it, against the shared target directory.
    let target = target_dir();
    let build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet"])
        .current_dir(&app)
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_INCREMENTAL", "0")
        .output()
        .expect("run cargo");
    assert!(build.status.success(), "the new app does not build:\n{}", text(&build));
    let binary = target.join("debug").join(APP);
    eprintln!("scaffold: built after {:.1} s", started.elapsed().as_secs_f64());

    // Its worker and orchestrator against a dev server.
    let server = DevServer::start();
    let env = tk8s_testkit::app_env(&server.address());
    let worker = Host::spawn(&binary, &["worker"], &env);
    assert!(worker.wait_ready(Duration::from_secs(30)), "worker not ready:\n{}", worker.proc.output());
    let mut orchestrator_env = env.clone();
    orchestrator_env.insert(tk8s_config::spec::ORCHESTRATOR_COUNT.env.into(), "3".into());
    let mut orchestrator = Host::spawn(&binary, &["orchestrator"], &orchestrator_env);
    let status = orchestrator.proc.wait_exit(Duration::from_secs(60));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "orchestrator:\n{}", orchestrator.proc.output());
    assert!(orchestrator.proc.output().contains("all workflows completed"), "{}", orchestrator.proc.output());
    let completed = server.statuses(&format!("WorkflowType = 'HelloWorkflow' AND TaskQueue = '{APP}'"));
    assert_eq!(completed.values().filter(|s| s.as_str() == tk8s_testkit::COMPLETED).count(), 3, "{completed:?}");
    eprintln!("scaffold: 3 workflows completed after {:.1} s", started.elapsed().as_secs_f64());

    // Its replay gate: what ran replays with this build, saved into its corpus and replayed
    // from there with no server, as its CI would.
    let replay = |args: &[&str], env: &std::collections::BTreeMap<String, String>| {
        Command::new(&binary).arg("replay").args(args).env_clear().envs(env).current_dir(&app).output().unwrap()
    };
    let out = replay(&["--save", "replay"], &env);
    assert!(out.status.success() && text(&out).contains("HelloWorkflow: 3 replayed, 0 failed"), "{}", text(&out));
    let mut offline = env.clone();
    offline.insert(tk8s_config::spec::TEMPORAL_ADDRESS.env.into(), "127.0.0.1:1".into());
    let out = replay(&["--from", "replay"], &offline);
    assert!(out.status.success() && text(&out).contains("3 from files"), "{}", text(&out));

    // Render (the deploy config is checked against the binary) and lint.
    let deploy_toml = app.join("deploy.toml");
    let config = std::fs::read_to_string(&deploy_toml).unwrap();
    let config = config.replace(&format!("binary = \"target/release/{APP}\""), &format!("binary = \"{}\"", binary.display()));
    std::fs::write(&deploy_toml, &config).unwrap();
    let render = tk8s(&app, &["render", "--config", "deploy.toml", "--out", "deploy"]);
    assert!(render.status.success(), "{}", text(&render));
    assert!(!text(&render).contains("warning"), "{}", text(&render));
    let cm = std::fs::read_to_string(app.join("deploy/plain/configmap.yaml")).unwrap();
    assert!(cm.contains(&format!("TK8S_TASK_QUEUE: {APP}")), "{cm}");
    let lint = tk8s(&app, &["lint", "deploy"]);
    assert!(lint.status.success() && text(&lint).contains(", 0 findings"), "{}", text(&lint));
    std::fs::write(&deploy_toml, config.replace(&format!("# task_queue = \"{APP}\""), "task_queue = \"payments\"")).unwrap();
    let refused = tk8s(&app, &["render", "--config", "deploy.toml", "--out", "deploy"]);
    assert_eq!(refused.status.code(), Some(78), "{}", text(&refused));
    assert!(text(&refused).contains("but the code's task queue is \"orders\""), "{}", text(&refused));
    std::fs::write(&deploy_toml, &config).unwrap();

    // Its Dockerfile passes hadolint.
    let hadolint =
        Command::new(root.join(".venv/bin/hadolint")).arg(app.join("Dockerfile")).output().expect("hadolint (cargo xtask tools)");
    assert!(hadolint.status.success(), "{}", text(&hadolint));

    // Its image, run hardened.
    let stripped = work.path().join(format!("{APP}-stripped"));
    assert!(Command::new("strip").arg("-o").arg(&stripped).arg(&binary).status().unwrap().success());
    let layout = work.path().join("image");
    let image = tk8s(
        &app,
        &["image", "build", "--config", "deploy.toml", "--binary", stripped.to_str().unwrap(), "--out", layout.to_str().unwrap()],
    );
    assert!(image.status.success(), "{}", text(&image));
    let size = text(&image).lines().find(|l| l.starts_with("size")).unwrap_or_default().to_string();
    eprintln!("scaffold: image built after {:.1} s ({size})", started.elapsed().as_secs_f64());
    let podman = Podman::new(&work.path().join("podman")).expect("podman (cargo xtask tools)");
    if let Err(why) = podman.check_runtime() {
        eprintln!("SKIPPED the image run: the container runtime does not work here: {why}");
        return;
    }
    let reference = format!("localhost/{APP}:0.1.0");
    podman
        .run("skopeo", &["copy", "--quiet", &format!("oci:{}:0.1.0", layout.display()), &format!("containers-storage:{reference}")])
        .unwrap();
    let admin = free_port();
    let name = format!("tk8s-scaffold-{}", std::process::id());
    let guard = Container(&podman, name.clone());
    let env_args = [
        format!("TEMPORAL_ADDRESS={}", server.address()),
        format!("TK8S_ADMIN_PORT={admin}"),
        "TK8S_ADMIN_BIND=127.0.0.1".into(),
        "TK8S_READINESS_CHECK_INTERVAL=500ms".into(),
    ];
    let mut args =
        vec!["run", "-d", "--name", &name, "--network", "host", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"];
    for e in &env_args {
        args.extend(["-e", e.as_str()]);
    }
    args.push(&reference);
    podman.run("podman", &args).unwrap();
    let ready = wait_until(Duration::from_secs(60), || http_get(admin, "/readyz").is_some_and(|(s, _)| s == 200));
    let logs = || podman.run("podman", &["logs", &name]).unwrap_or_default();
    assert!(ready, "the image's worker never got ready:\n{}", logs());
    eprintln!("scaffold: image running and ready after {:.1} s", started.elapsed().as_secs_f64());
    let user = podman.run("podman", &["exec", &name, "/usr/local/bin/orders", "config", "defaults"]).map(|_| ());
    assert!(user.is_ok(), "the binary is at the contract's path");
    // The process as the kernel sees it: uid 65532, no capabilities, no new privileges.
    let pid = podman.run("podman", &["inspect", "--format", "{{.State.Pid}}", &name]).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let field =
        |k: &str| status.lines().find(|l| l.starts_with(k)).unwrap_or_default().split_whitespace().nth(1).unwrap_or_default().to_string();
    assert_eq!(
        (field("Uid:"), field("CapEff:"), field("NoNewPrivs:")),
        ("65532".into(), "0000000000000000".into(), "1".into()),
        "{status}"
    );
    podman.run("podman", &["stop", "-t", "30", &name]).unwrap();
    let exit = podman.run("podman", &["inspect", "--format", "{{.State.ExitCode}}", &name]).unwrap();
    assert_eq!(exit.trim(), "0", "{}", logs());
    assert!(logs().contains("shutdown ended: drained"), "{}", logs());
    drop(guard);
    drop(worker);
}
