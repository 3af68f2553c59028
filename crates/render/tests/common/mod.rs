//! Helpers shared by the render test files: the greeting deploy config, its
//! temporal-worker-controller variants, and what the controller is handed in the form the
//! Kubernetes validators know.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tk8s_render::DeployConfig;

/// Uncomment the commented-out table starting at `# [header]` (up to the next blank line).
pub fn uncomment(text: &str, header: &str) -> String {
    let start = text.find(&format!("# [{header}]")).unwrap_or_else(|| panic!("no commented [{header}]"));
    let end = text[start..].find("\n\n").map(|e| start + e).unwrap_or(text.len());
    let block: String = text[start..end].lines().map(|l| l.strip_prefix("# ").unwrap_or(l)).collect::<Vec<_>>().join("\n");
    format!("{}{}{}", &text[..start], block, &text[end..])
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

pub fn greeting() -> DeployConfig {
    DeployConfig::load(&root().join("examples/greeting/deploy.toml")).expect("greeting deploy config")
}

/// The worker under the temporal-worker-controller: a progressive rollout with a gate, mTLS,
/// per-build HPA and VPA.
pub fn controller_mtls() -> DeployConfig {
    let base = root().join("examples/greeting/deploy.toml");
    let text = std::fs::read_to_string(&base)
        .unwrap()
        .replace("auth = \"none\"", "auth = \"mtls\"\ntls_secret = \"greeting-temporal-tls\"\nserver_name = \"temporal.example.com\"")
        .replace("# [worker.controller]", "[worker.controller]")
        .replace("# rollout = ", "rollout = ")
        .replace("# steps = ", "steps = ")
        .replace("# gate_workflow", "gate_workflow")
        .replace("spread = true", "spread = true\nvpa = \"Off\"")
        .replace("[environments.dev]", "[environments.dev]\ntag = \"0.2.0-rc.1\"")
        .replace("[environments.prod]", "[environments.prod]\nimage_pull_secrets = [\"greeting-registry-prod\"]")
        .replace("# image_pull_secrets = ", "image_pull_secrets = ")
        .replace("# private_registry = ", "private_registry = ")
        .replace("# otlp_endpoint = ", "otlp_endpoint = ");
    DeployConfig::parse(&base, &text).unwrap()
}

/// The worker under the controller with an API key, encryption, fixed replicas, all-at-once.
pub fn controller_api_key() -> DeployConfig {
    let base = root().join("examples/greeting/deploy.toml");
    let text = std::fs::read_to_string(&base)
        .unwrap()
        .replace("auth = \"none\"", "auth = \"api-key\"\napi_key_secret = \"greeting-temporal-api-key\"")
        .replace("# [encryption]\n# key_secret", "[encryption]\nkey_secret")
        .replace("# [worker.controller]", "[worker.controller]")
        .replace("mode = \"hpa\"", "mode = \"none\"");
    // With a codec server for the UI, authenticated by JWTs and static tokens.
    DeployConfig::parse(&base, &uncomment(&text, "codec_server")).unwrap()
}

pub fn find_value<'a>(objs: &'a [tk8s_render::Object], kind: &str) -> Option<&'a Value> {
    objs.iter().map(|o| &o.value).find(|v| v["kind"] == kind)
}

/// What the controller is handed, as objects the validators know: the WorkerDeployment's pod
/// template as a core `PodTemplate` (annotations as the controller copies them onto its
/// Deployments), and each WorkerResourceTemplate's object with the build's Deployment filled in
/// where the controller fills it.
pub fn controller_outputs(objs: &[tk8s_render::Object]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for o in objs.iter().map(|o| &o.value) {
        match o["kind"].as_str() {
            Some("WorkerDeployment") => out.push((
                format!("podtemplate-{}.yaml", o["metadata"]["name"].as_str().unwrap()),
                json!({
                    "apiVersion": "v1",
                    "kind": "PodTemplate",
                    "metadata": {
                        "name": o["metadata"]["name"], "namespace": o["metadata"]["namespace"],
                        "annotations": o["spec"]["template"]["metadata"]["annotations"],
                    },
                    "template": o["spec"]["template"],
                }),
            )),
            Some("WorkerResourceTemplate") => {
                let mut t = o["spec"]["template"].clone();
                let build = format!("{}-0-1-0-5d8f7c9b", o["spec"]["workerDeploymentRef"]["name"].as_str().unwrap());
                let target = json!({ "apiVersion": "apps/v1", "kind": "Deployment", "name": build });
                for path in ["/spec/scaleTargetRef", "/spec/targetRef"] {
                    if let Some(slot) = t.pointer_mut(path) {
                        assert_eq!(slot, &json!({}), "the controller fills {path} only when it is empty");
                        *slot = target.clone();
                    }
                }
                t["metadata"] = json!({ "name": format!("{}-{build}", o["metadata"]["name"].as_str().unwrap()), "namespace": o["metadata"]["namespace"] });
                out.push((format!("{}.yaml", o["metadata"]["name"].as_str().unwrap()), t));
            }
            _ => {}
        }
    }
    out
}

/// The worker written with the Python SDK: its own image and command, an API key, encryption,
/// KEDA on the backlog, its graceful shutdown declared and its metrics relayed.
pub fn sdk_python() -> DeployConfig {
    let base = root().join("examples/greeting/deploy.toml");
    let text = std::fs::read_to_string(&base)
        .unwrap()
        .replace("auth = \"none\"", "auth = \"api-key\"\napi_key_secret = \"greeting-temporal-api-key\"")
        .replace("# [encryption]\n# key_secret", "[encryption]\nkey_secret")
        .replace("mode = \"hpa\"", "mode = \"keda\"")
        .replace(
            "spread = true",
            "spread = true\nsdk = \"python\"\nimage = \"registry.example.com/greeting-py:1.4.2\"\ncommand = [\"python\", \"-m\", \"greeting.worker\"]\ngraceful_shutdown = \"30s\"\nmetrics_port = 9464",
        )
        .replace("[worker.settings]                          # any TK8S_* setting from the configuration reference\nTK8S_MAX_CONCURRENT_ACTIVITIES = \"100\"", "[worker.env]\nMAX_CONCURRENT_ACTIVITIES = \"100\"");
    DeployConfig::parse(&base, &text).unwrap_or_else(|e| panic!("{e}"))
}

/// The worker written with the TypeScript SDK, over mTLS, with an HPA on CPU and backlog.
pub fn sdk_typescript() -> DeployConfig {
    let base = root().join("examples/greeting/deploy.toml");
    let text = std::fs::read_to_string(&base)
        .unwrap()
        .replace("auth = \"none\"", "auth = \"mtls\"\ntls_secret = \"greeting-temporal-tls\"\nserver_name = \"temporal.example.com\"")
        .replace("spread = true", "spread = true\nsdk = \"typescript\"\nargs = [\"lib/worker.js\"]\ngraceful_shutdown = \"15s\"")
        .replace("[worker.settings]                          # any TK8S_* setting from the configuration reference\nTK8S_MAX_CONCURRENT_ACTIVITIES = \"100\"", "");
    DeployConfig::parse(&base, &text).unwrap_or_else(|e| panic!("{e}"))
}
