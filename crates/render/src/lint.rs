//! `tk8s lint`: Temporal-specific mistakes that generic scanners do not know, checked on any
//! manifests (ours or hand-written). Each finding names the object, says what is wrong and how
//! to fix it. A container counts as a temporal-k8s host when it runs `worker`, `orchestrator`
//! or sets any `TK8S_*` variable.

use tk8s_config::spec as S;
use crate::codec_server::codec_server_port;
use crate::objects::admin_port;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static str,
    pub object: String,
    pub message: String,
    pub hint: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}\n  hint: {}", self.rule, self.object, self.message, self.hint)
    }
}

/// The rules, for `tk8s lint --help` and the README.
pub const RULES: &[(&str, &str)] = &[
    ("TK001", "terminationGracePeriodSeconds shorter than the drain (shutdown grace + hard deadline)"),
    ("TK002", "probes that do not hit the host's /livez, /readyz, /startupz on its admin port, or exec probes"),
    ("TK003", "autoscaling (HPA or KEDA) aimed at the orchestrator"),
    ("TK004", "PodDisruptionBudget that blocks every eviction"),
    ("TK005", "secrets inlined in manifests (Secret data, or API keys, codec keys, private keys as plain env)"),
    ("TK006", "containers without CPU/memory requests or a memory limit"),
    ("TK007", "more than one orchestrator replica (duplicate starts are rejected, but the work is wasted)"),
    ("TK008", "an API key configured with TLS turned off"),
    ("TK009", "an HPA, ScaledObject or VPA aimed straight at a temporal-worker-controller WorkerDeployment (its Deployments are per build)"),
    ("TK010", "a WorkerDeployment pod template that sets what the controller injects (Worker Versioning env, API key, the mTLS volume and mount)"),
];

/// What the temporal-worker-controller adds to every container of a WorkerDeployment's pods.
const CONTROLLER_ENV: &[&str] = &[S::WORKER_DEPLOYMENT_NAME.env, S::WORKER_BUILD_ID.env, S::TEMPORAL_API_KEY.env];
/// The volume (and mount path) the controller adds for a Connection's mTLS Secret.
const CONTROLLER_TLS_VOLUME: (&str, &str) = ("temporal-tls", crate::objects::TLS_DIR);

const SECRET_ENV: &[&str] = &[S::TEMPORAL_API_KEY.env, S::CODEC_KEYS.env, S::env::TLS_DATA[1].0, S::env::TLS_DATA[0].0];

fn name_of(o: &Value) -> String {
    format!("{}/{}", o["kind"].as_str().unwrap_or("?"), o["metadata"]["name"].as_str().unwrap_or("?"))
}

fn finding(rule: &'static str, o: &Value, message: String, hint: &str) -> Finding {
    Finding { rule, object: name_of(o), message, hint: hint.into() }
}

/// A workload's containers and their effective environment (ConfigMaps from `envFrom` included).
struct Host<'a> {
    object: &'a Value,
    container: &'a Value,
    role: Option<String>,
    env: BTreeMap<String, String>,
}

fn hosts<'a>(objects: &'a [Value]) -> Vec<Host<'a>> {
    let config_maps: BTreeMap<&str, &Value> = objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .filter_map(|o| Some((o["metadata"]["name"].as_str()?, &o["data"])))
        .collect();
    let mut out = Vec::new();
    for o in objects.iter().filter(|o| matches!(o["kind"].as_str(), Some("Deployment" | "StatefulSet" | "WorkerDeployment"))) {
        let Some(containers) = o.pointer("/spec/template/spec/containers").and_then(Value::as_array) else { continue };
        for c in containers {
            let mut env = BTreeMap::new();
            for from in c["envFrom"].as_array().into_iter().flatten() {
                if let Some(Value::Object(data)) = from["configMapRef"]["name"].as_str().and_then(|n| config_maps.get(n).copied()) {
                    env.extend(data.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())));
                }
            }
            for e in c["env"].as_array().into_iter().flatten() {
                if let Some(name) = e["name"].as_str() {
                    env.insert(name.to_string(), e["value"].as_str().map(String::from).unwrap_or_else(|| "<from secret>".into()));
                }
            }
            let role = c["args"][0].as_str().filter(|a| ["worker", "orchestrator", "codec-server"].contains(a)).map(String::from);
            if role.is_some() || env.keys().any(|k| k.starts_with(tk8s_config::spec::env::PREFIX)) {
                out.push(Host { object: o, container: c, role, env });
            }
        }
    }
    out
}

/// A duration setting as a container's env sets it, else the setting's default.
fn setting_duration(env: &BTreeMap<String, String>, setting: &tk8s_config::spec::Setting) -> Duration {
    env.get(setting.env).and_then(|v| tk8s_config::parse_duration(v)).or_else(|| setting.default_duration()).unwrap_or_default()
}

fn port_matches(probe: &Value, container: &Value, port: i64) -> bool {
    match &probe["httpGet"]["port"] {
        Value::Number(n) => n.as_i64() == Some(port),
        Value::String(name) => container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"].as_str() == Some(name) && p["containerPort"].as_i64() == Some(port)),
        _ => false,
    }
}

/// Check manifests (each a parsed object). Returns every finding, in object order.
pub fn lint(objects: &[Value]) -> Vec<Finding> {
    let mut out = Vec::new();
    let hosts = hosts(objects);
    for h in &hosts {
        let o = h.object;
        let codec_server = h.role.as_deref() == Some("codec-server");
        // The codec server serves its probes on its own port and has no drain to protect.
        let port = if codec_server {
            h.env.get(S::CODEC_SERVER_PORT.env).and_then(|p| p.parse().ok()).unwrap_or(i64::from(codec_server_port()))
        } else {
            h.env.get(S::ADMIN_PORT.env).and_then(|p| p.parse().ok()).unwrap_or(i64::from(admin_port()))
        };
        // TK001
        let drain = setting_duration(&h.env, &S::SHUTDOWN_GRACE) + setting_duration(&h.env, &S::SHUTDOWN_HARD_DEADLINE);
        let period = o.pointer("/spec/template/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30);
        if !codec_server && (period as u64) < drain.as_secs() {
            out.push(finding("TK001", o, format!(
                "terminationGracePeriodSeconds is {period}s but the host drains for up to {}s (TK8S_SHUTDOWN_GRACE + TK8S_SHUTDOWN_HARD_DEADLINE); the kubelet would SIGKILL in-flight activities",
                drain.as_secs()),
                "set terminationGracePeriodSeconds to the drain plus a few seconds, or shorten TK8S_SHUTDOWN_GRACE"));
        }
        // TK002
        for (field, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/livez"), ("startupProbe", "/startupz")] {
            let probe = &h.container[field];
            if probe.is_null() {
                if field == "readinessProbe" {
                    out.push(finding("TK002", o, format!("container {} has no readinessProbe", h.container["name"].as_str().unwrap_or("?")),
                        "probe httpGet /readyz on the admin port: it is 503 until the worker polls and during drains"));
                }
                continue;
            }
            if !probe["exec"].is_null() {
                out.push(finding("TK002", o, format!("{field} is an exec probe; it says nothing about the worker"), &format!("use httpGet {path} on port {port}")));
            } else if probe["httpGet"]["path"].as_str() != Some(path) || !port_matches(probe, h.container, port) {
                out.push(finding("TK002", o, format!(
                    "{field} calls {}:{} but the host serves {path} on port {port}",
                    probe["httpGet"]["path"].as_str().unwrap_or("?"), probe["httpGet"]["port"]),
                    &format!("use httpGet {path} on the admin port ({port}, TK8S_ADMIN_PORT)")));
            }
        }
        // TK005
        for e in h.container["env"].as_array().into_iter().flatten() {
            if let Some(name) = e["name"].as_str()
                && SECRET_ENV.contains(&name)
                && e["value"].is_string()
            {
                out.push(finding("TK005", o, format!("{name} is set inline in the manifest"), "reference a Secret (secretKeyRef or a mounted file such as TK8S_API_KEY_FILE)"));
            }
        }
        // TK006
        let r = &h.container["resources"];
        if r["requests"]["cpu"].is_null() || r["requests"]["memory"].is_null() || r["limits"]["memory"].is_null() {
            out.push(finding("TK006", o, format!("container {} lacks cpu/memory requests or a memory limit", h.container["name"].as_str().unwrap_or("?")),
                "set requests (the scheduler and HPA need them) and a memory limit"));
        }
        // TK007
        if h.role.as_deref() == Some("orchestrator") && o.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1) > 1 {
            out.push(finding("TK007", o, "runs more than one orchestrator replica".into(),
                "run one: ids are deterministic, so extra replicas only race to start the same workflows"));
        }
        // TK008
        let has_key = h.env.contains_key(S::TEMPORAL_API_KEY.env) || h.env.contains_key(S::TEMPORAL_API_KEY_FILE.env);
        if has_key && h.env.get(S::TEMPORAL_TLS.env).is_some_and(|v| matches!(v.as_str(), "false" | "0" | "no" | "off")) {
            out.push(finding("TK008", o, "an API key is configured with TEMPORAL_TLS=false".into(), "API keys must travel over TLS: remove TEMPORAL_TLS=false"));
        }
    }
    let orchestrators: Vec<&str> = hosts.iter().filter(|h| h.role.as_deref() == Some("orchestrator")).filter_map(|h| h.object["metadata"]["name"].as_str()).collect();
    let worker_deployments: Vec<&str> = objects.iter().filter(|o| o["kind"] == "WorkerDeployment").filter_map(|o| o["metadata"]["name"].as_str()).collect();
    for o in objects {
        match o["kind"].as_str() {
            Some(kind @ ("HorizontalPodAutoscaler" | "ScaledObject" | "VerticalPodAutoscaler")) => {
                let target = if kind == "VerticalPodAutoscaler" { &o["spec"]["targetRef"] } else { &o["spec"]["scaleTargetRef"] };
                let name = target["name"].as_str().unwrap_or("");
                // TK003
                if orchestrators.contains(&name) {
                    out.push(finding("TK003", o, format!("scales {name}, which runs the orchestrator"),
                        "autoscale the worker Deployment; the orchestrator starts work and must stay at one replica"));
                }
                // TK009
                if target["kind"] == "WorkerDeployment" || worker_deployments.contains(&name) {
                    out.push(finding("TK009", o, format!("targets {name}, a worker run by the temporal-worker-controller, which runs one Deployment per build ({name}-<build id>)"),
                        "put it in a WorkerResourceTemplate with an empty target ({}): the controller gives every build its own copy"));
                }
            }
            // TK010
            Some("WorkerDeployment") => {
                let mtls = objects.iter().any(|c| {
                    c["kind"] == "Connection" && c["metadata"]["name"] == o["spec"]["workerOptions"]["connectionRef"]["name"] && !c["spec"]["mutualTLSSecretRef"].is_null()
                });
                let pod = &o["spec"]["template"]["spec"];
                let (volume, path) = CONTROLLER_TLS_VOLUME;
                if mtls && pod["volumes"].as_array().into_iter().flatten().any(|v| v["name"] == volume) {
                    out.push(finding("TK010", o, format!("defines volume {volume:?}, which the controller adds for the mTLS Connection: its Deployments would be rejected (duplicate volume)"),
                        "leave the client certificate to the Connection's mutualTLSSecretRef"));
                }
                for c in pod["containers"].as_array().into_iter().flatten() {
                    let cname = c["name"].as_str().unwrap_or("?");
                    if mtls && c["volumeMounts"].as_array().into_iter().flatten().any(|m| m["mountPath"] == path) {
                        out.push(finding("TK010", o, format!("container {cname} mounts {path}, where the controller mounts the mTLS Secret: its Deployments would be rejected (duplicate mount path)"),
                            "remove the mount; the controller mounts the Connection's Secret there"));
                    }
                    for e in c["env"].as_array().into_iter().flatten().filter_map(|e| e["name"].as_str()).filter(|n| CONTROLLER_ENV.contains(n)) {
                        out.push(finding("TK010", o, format!("container {cname} sets {e}, which the controller injects; the value here is dead and misleading"),
                            "remove it: the controller sets it from the WorkerDeployment and its Connection"));
                    }
                }
            }
            // TK004
            Some("PodDisruptionBudget") => {
                let spec = &o["spec"];
                let blocks = match (&spec["maxUnavailable"], &spec["minAvailable"]) {
                    (Value::Number(n), _) => n.as_i64() == Some(0),
                    (Value::String(s), _) => s.trim() == "0%" || s.trim() == "0",
                    (_, Value::String(s)) => s.trim() == "100%",
                    (_, Value::Number(n)) => {
                        let selector = &spec["selector"]["matchLabels"];
                        let replicas = objects.iter().filter(|d| d["kind"] == "Deployment").find(|d| {
                            let labels = &d["spec"]["template"]["metadata"]["labels"];
                            selector.as_object().is_some_and(|m| m.iter().all(|(k, v)| &labels[k] == v))
                        }).and_then(|d| d.pointer("/spec/replicas").and_then(Value::as_i64));
                        replicas.is_some_and(|r| n.as_i64().unwrap_or(0) >= r)
                    }
                    _ => false,
                };
                if blocks {
                    out.push(finding("TK004", o, "allows no voluntary eviction: node drains and cluster upgrades stall".into(),
                        "allow at least one pod to go: maxUnavailable: 1 (workers drain gracefully)"));
                }
            }
            // TK005
            Some("Secret") if !o["data"].is_null() || !o["stringData"].is_null() => {
                out.push(finding("TK005", o, "a Secret with its values is part of the manifests".into(),
                    "keep Secret values out of git: create them out of band (or with a SecretProviderClass / sealed secrets) and only reference them"));
            }
            Some("ConfigMap") => {
                for key in SECRET_ENV {
                    if !o["data"][key].is_null() {
                        out.push(finding("TK005", o, format!("{key} is stored in a ConfigMap"), "move it to a Secret and mount it"));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Parse every YAML document in `text` (skipping empty ones).
pub fn parse_documents(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let v: Value = serde::Deserialize::deserialize(doc).map_err(|e| e.to_string())?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// What `tk8s lint` found in a set of files.
#[derive(Debug)]
pub struct LintReport {
    pub files: usize,
    pub objects: usize,
    pub findings: Vec<Finding>,
}

/// Lint files, and the `*.yaml`/`*.yml` files directly inside directories, in name order.
pub fn lint_paths(paths: &[std::path::PathBuf]) -> Result<LintReport, crate::RenderError> {
    use crate::RenderError;
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| RenderError::Read { path: path.clone(), source })?;
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml")));
        } else {
            files.push(path.clone());
        }
    }
    files.sort();
    let mut objects = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|source| RenderError::Read { path: file.clone(), source })?;
        objects.extend(parse_documents(&text).map_err(|reason| RenderError::Manifest { path: file.clone(), reason })?);
    }
    Ok(LintReport { files: files.len(), objects: objects.len(), findings: lint(&objects) })
}
