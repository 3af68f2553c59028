//! The worker as the temporal-worker-controller runs it, against a real `temporal server
//! start-dev`: the pod template `tk8s render` puts in the WorkerDeployment, plus the env the
//! controller injects into every container (its documented behaviour: TEMPORAL_ADDRESS from the
//! Connection, TEMPORAL_NAMESPACE, TEMPORAL_DEPLOYMENT_NAME = `<k8s namespace>/<name>`,
//! TEMPORAL_WORKER_BUILD_ID). Two builds run side by side; new executions follow the current
//! build, which is what the controller's rollout changes. The controller itself cannot run here
//! (no cluster); this checks that the rendered template and the host agree with what it injects.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tk8s_render::{DeployConfig, objects};
use tk8s_testkit::{DevServer, Host, app_env, wait_until};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_greeting"))
}

fn deploy_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy.toml")
}

/// The greeting deploy config with the worker under the controller, pointed at `address`.
fn controller_config(address: &str) -> DeployConfig {
    let text = std::fs::read_to_string(deploy_config())
        .unwrap()
        .replace("# [worker.controller]", "[worker.controller]")
        .replace("temporal-frontend.temporal.svc.cluster.local:7233", address);
    DeployConfig::parse(&deploy_config(), &text).unwrap()
}

fn kind<'a>(objs: &'a [Value], kind: &str) -> &'a Value {
    objs.iter().find(|o| o["kind"] == kind).unwrap_or_else(|| panic!("no {kind} rendered"))
}

/// The worker container's args and env as a pod of build `build_id` gets them.
fn pod_env(config: &DeployConfig, build_id: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let objs: Vec<Value> = objects(config).into_iter().map(|o| o.value).collect();
    let wd = kind(&objs, "WorkerDeployment");
    let container = &wd["spec"]["template"]["spec"]["containers"][0];
    let mut env = app_env("unset:1"); // PATH and test timings; the address comes from the Connection
    for (k, v) in kind(&objs, "ConfigMap")["data"].as_object().unwrap() {
        env.insert(k.clone(), v.as_str().unwrap().to_string());
    }
    for e in container["env"].as_array().unwrap() {
        env.insert(e["name"].as_str().unwrap().into(), e["value"].as_str().unwrap().into());
    }
    let name = format!("{}/{}", wd["metadata"]["namespace"].as_str().unwrap(), wd["metadata"]["name"].as_str().unwrap());
    for (k, v) in [
        ("TEMPORAL_ADDRESS", kind(&objs, "Connection")["spec"]["hostPort"].as_str().unwrap()),
        ("TEMPORAL_NAMESPACE", wd["spec"]["workerOptions"]["temporalNamespace"].as_str().unwrap()),
        ("TEMPORAL_DEPLOYMENT_NAME", &name),
        ("TEMPORAL_WORKER_BUILD_ID", build_id),
    ] {
        env.insert(k.into(), v.into());
    }
    let args = container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
    (args, env)
}

fn start_build(config: &DeployConfig, build_id: &str) -> Host {
    let (args, env) = pod_env(config, build_id);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let w = Host::spawn(bin(), &args, &env);
    assert!(w.wait_ready(Duration::from_secs(30)), "build {build_id} never became ready:\n{}", w.proc.output());
    w
}

/// What the controller does when a build's rollout completes: make it current.
fn make_current(server: &DevServer, deployment: &str, build_id: &str) {
    let ok = || {
        server
            .cli(&["worker", "deployment", "set-current-version", "--deployment-name", deployment, "--build-id", build_id, "--yes"])
            .status
            .success()
    };
    assert!(wait_until(Duration::from_secs(30), ok), "could not make {build_id} current");
}

/// Start one greeting workflow and return the build it ran on, from its history.
fn run_one(server: &DevServer, prefix: &str) -> String {
    let mut env = app_env(&server.address());
    env.insert("TK8S_WORKFLOW_ID_PREFIX".into(), prefix.into());
    let mut o = Host::spawn(bin(), &["orchestrator"], &env);
    assert!(o.proc.wait_exit(Duration::from_secs(60)).expect("exits").success(), "{}", o.proc.output());
    let id = format!("{prefix}-once-1");
    let describe = server.cli(&["workflow", "describe", "--workflow-id", &id, "--output", "json"]);
    assert!(describe.status.success(), "{}", String::from_utf8_lossy(&describe.stderr));
    let v: Value = serde_json::from_slice(&describe.stdout).unwrap();
    assert_eq!(v["workflowExecutionInfo"]["status"], "WORKFLOW_EXECUTION_STATUS_COMPLETED", "{v:#}");
    let info = &v["workflowExecutionInfo"]["versioningInfo"];
    assert_eq!(info["behavior"], "VERSIONING_BEHAVIOR_AUTO_UPGRADE", "{v:#}");
    info["deploymentVersion"]["buildId"].as_str().unwrap_or_else(|| panic!("no build recorded: {v:#}")).to_string()
}

#[test]
fn rendered_worker_template_with_the_controllers_env_runs_versioned_builds() {
    let server = DevServer::start();
    let config = controller_config(&server.address());
    let deployment = "greeting/greeting-worker";
    let _v1 = start_build(&config, "0.1.0-5d8f7c9b");
    make_current(&server, deployment, "0.1.0-5d8f7c9b");
    assert_eq!(run_one(&server, "build-one"), "0.1.0-5d8f7c9b");

    // A new image: the controller starts the new build beside the old one, then routes to it.
    let mut next = config.clone();
    next.app.tag = "0.2.0".into();
    let _v2 = start_build(&next, "0.2.0-8e1a3b07");
    make_current(&server, deployment, "0.2.0-8e1a3b07");
    assert_eq!(run_one(&server, "build-two"), "0.2.0-8e1a3b07");

    let described = server.cli(&["worker", "deployment", "describe", "--name", deployment, "--output", "json"]);
    let text = String::from_utf8_lossy(&described.stdout);
    assert!(described.status.success(), "{}", String::from_utf8_lossy(&described.stderr));
    assert!(text.contains("0.1.0-5d8f7c9b") && text.contains("0.2.0-8e1a3b07"), "both builds registered:\n{text}");
}
