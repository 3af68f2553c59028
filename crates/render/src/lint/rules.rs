//! The lint rules, one function each. Each takes the [`Context`] and returns its findings; each
//! has a test below with the smallest manifests that trigger it and a near miss that does not.

use super::{Context, Finding, Host, Rule, finding};
use crate::codec_server::codec_server_port;
use crate::objects::{PRIVATE_REGISTRY, admin_port};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tk8s_config::Role;
use tk8s_config::spec as S;

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "TK001",
        summary: "terminationGracePeriodSeconds shorter than the drain (shutdown grace + hard deadline)",
        check: grace_shorter_than_drain,
    },
    Rule {
        id: "TK002",
        summary: "probes that do not hit the host's /livez, /readyz, /startupz on its admin port, or exec probes",
        check: probes_miss_the_host,
    },
    Rule { id: "TK003", summary: "autoscaling (HPA or KEDA) aimed at the orchestrator", check: orchestrator_autoscaled },
    Rule { id: "TK004", summary: "PodDisruptionBudget that blocks every eviction", check: pdb_blocks_evictions },
    Rule {
        id: "TK005",
        summary: "secrets inlined in manifests (Secret data, or API keys, codec keys, private keys as plain env)",
        check: inlined_secrets,
    },
    Rule { id: "TK006", summary: "containers without CPU/memory requests or a memory limit", check: missing_resources },
    Rule {
        id: "TK007",
        summary: "more than one orchestrator replica (duplicate starts are rejected, but the work is wasted)",
        check: several_orchestrators,
    },
    Rule { id: "TK008", summary: "an API key configured with TLS turned off", check: api_key_without_tls },
    Rule {
        id: "TK009",
        summary: "an HPA, ScaledObject or VPA aimed straight at a temporal-worker-controller WorkerDeployment (its Deployments are per build)",
        check: autoscaler_on_worker_deployment,
    },
    Rule {
        id: "TK010",
        summary: "a WorkerDeployment pod template that sets what the controller injects (Worker Versioning env, API key, the mTLS volume and mount)",
        check: template_sets_controller_injections,
    },
    Rule {
        id: "TK011",
        summary: "scaling to zero on the backlog alone (running activities are invisible to it and get evicted)",
        check: zero_on_backlog_alone,
    },
    Rule {
        id: "TK012",
        summary: "a scale-down window shorter than the worker's drain (shutdown grace)",
        check: scale_down_faster_than_drain,
    },
    Rule {
        id: "TK013",
        summary: "pods pulling from a private registry (tk8s.io/private-registry) without imagePullSecrets",
        check: private_registry_without_pull_secret,
    },
    Rule {
        id: "TK014",
        summary: "a host container that overrides the image's entrypoint or user (the image contract: the app binary is the ENTRYPOINT, uid 65532)",
        check: breaks_the_image_contract,
    },
    Rule {
        id: "TK015",
        summary: "a Python or TypeScript worker whose graceful shutdown is not declared, or longer than the pod's termination grace (both SDKs default to 0: activities are cut off at SIGTERM)",
        check: sdk_shutdown_undeclared,
    },
    Rule {
        id: "TK016",
        summary: "an exec probe on a Temporal worker that proves nothing (ls, cat, true, echo, test)",
        check: exec_probe_proves_nothing,
    },
    Rule {
        id: "TK017",
        summary: "a Temporal worker pod with no readiness signal (no readinessProbe in the pod)",
        check: worker_without_readiness,
    },
    Rule {
        id: "TK018",
        summary: "a tk8s worker rendered without its replay gate (a rollout could ship workflow code that cannot replay what is running)",
        check: worker_without_replay_gate,
    },
];

/// What the temporal-worker-controller adds to every container of a WorkerDeployment's pods.
const CONTROLLER_ENV: &[&str] = &[S::WORKER_DEPLOYMENT_NAME.env, S::WORKER_BUILD_ID.env, S::TEMPORAL_API_KEY.env];
/// The volume (and mount path) the controller adds for a Connection's mTLS Secret.
const CONTROLLER_TLS_VOLUME: (&str, &str) = ("temporal-tls", crate::objects::TLS_DIR);
/// Settings whose values are secrets.
const SECRET_ENV: &[&str] = &[S::TEMPORAL_API_KEY.env, S::CODEC_KEYS.env, S::env::TLS_DATA[1].0, S::env::TLS_DATA[0].0];

/// A duration setting as a container's env sets it, else the setting's default.
fn setting_duration(env: &BTreeMap<String, String>, setting: &S::Setting) -> Duration {
    env.get(setting.env).and_then(|v| tk8s_config::parse_duration(v)).or_else(|| setting.default_duration()).unwrap_or_default()
}

fn is_codec_server(h: &Host<'_>) -> bool {
    h.role == Some(Role::CodecServer)
}

/// The port the host serves its probes on: the admin port, or the codec server's own.
fn probe_port(h: &Host<'_>) -> i64 {
    if is_codec_server(h) {
        h.env.get(S::CODEC_SERVER_PORT.env).and_then(|p| p.parse().ok()).unwrap_or(i64::from(codec_server_port()))
    } else {
        h.env.get(S::ADMIN_PORT.env).and_then(|p| p.parse().ok()).unwrap_or(i64::from(admin_port()))
    }
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

fn container_name(c: &Value) -> &str {
    c["name"].as_str().unwrap_or("?")
}

/// TK001. The codec server has no drain to protect.
fn grace_shorter_than_drain(cx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for h in cx.hosts.iter().filter(|h| !is_codec_server(h)) {
        let drain = setting_duration(&h.env, &S::SHUTDOWN_GRACE) + setting_duration(&h.env, &S::SHUTDOWN_HARD_DEADLINE);
        let period = h.object.pointer("/spec/template/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30);
        if (period as u64) < drain.as_secs() {
            out.push(finding("TK001", h.object, format!(
                "terminationGracePeriodSeconds is {period}s but the host drains for up to {}s ({} + {}); the kubelet would SIGKILL in-flight activities",
                drain.as_secs(), S::SHUTDOWN_GRACE.env, S::SHUTDOWN_HARD_DEADLINE.env),
                &format!("set terminationGracePeriodSeconds to the drain plus a few seconds, or shorten {}", S::SHUTDOWN_GRACE.env)));
        }
    }
    out
}

/// TK002
fn probes_miss_the_host(cx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for h in &cx.hosts {
        let port = probe_port(h);
        for (field, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/livez"), ("startupProbe", "/startupz")] {
            let probe = &h.container[field];
            if probe.is_null() {
                if field == "readinessProbe" {
                    out.push(finding(
                        "TK002",
                        h.object,
                        format!("container {} has no readinessProbe", container_name(h.container)),
                        "probe httpGet /readyz on the admin port: it is 503 until the worker polls and during drains",
                    ));
                }
                continue;
            }
            if !probe["exec"].is_null() {
                out.push(finding(
                    "TK002",
                    h.object,
                    format!("{field} is an exec probe; it says nothing about the worker"),
                    &format!("use httpGet {path} on port {port}"),
                ));
            } else if probe["httpGet"]["path"].as_str() != Some(path) || !port_matches(probe, h.container, port) {
                out.push(finding(
                    "TK002",
                    h.object,
                    format!(
                        "{field} calls {}:{} but the host serves {path} on port {port}",
                        probe["httpGet"]["path"].as_str().unwrap_or("?"),
                        probe["httpGet"]["port"]
                    ),
                    &format!("use httpGet {path} on the admin port ({port}, {})", S::ADMIN_PORT.env),
                ));
            }
        }
    }
    out
}

/// The workload an autoscaler targets: (target object, its name).
fn scale_target(o: &Value) -> Option<(&Value, &str)> {
    let target = match o["kind"].as_str()? {
        "VerticalPodAutoscaler" => &o["spec"]["targetRef"],
        "HorizontalPodAutoscaler" | "ScaledObject" => &o["spec"]["scaleTargetRef"],
        _ => return None,
    };
    Some((target, target["name"].as_str().unwrap_or("")))
}

/// TK003
fn orchestrator_autoscaled(cx: &Context<'_>) -> Vec<Finding> {
    let orchestrators: Vec<&str> =
        cx.hosts.iter().filter(|h| h.role == Some(Role::Orchestrator)).filter_map(|h| h.object["metadata"]["name"].as_str()).collect();
    cx.objects
        .iter()
        .filter_map(|o| scale_target(o).map(|(_, name)| (o, name)))
        .filter(|(_, name)| orchestrators.contains(name))
        .map(|(o, name)| {
            finding(
                "TK003",
                o,
                format!("scales {name}, which runs the orchestrator"),
                "autoscale the worker Deployment; the orchestrator starts work and must stay at one replica",
            )
        })
        .collect()
}

/// TK004
fn pdb_blocks_evictions(cx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for o in cx.objects.iter().filter(|o| o["kind"] == "PodDisruptionBudget") {
        let spec = &o["spec"];
        let blocks = match (&spec["maxUnavailable"], &spec["minAvailable"]) {
            (Value::Number(n), _) => n.as_i64() == Some(0),
            (Value::String(s), _) => s.trim() == "0%" || s.trim() == "0",
            (_, Value::String(s)) => s.trim() == "100%",
            (_, Value::Number(n)) => {
                let selector = &spec["selector"]["matchLabels"];
                let replicas = cx
                    .objects
                    .iter()
                    .filter(|d| d["kind"] == "Deployment")
                    .find(|d| {
                        let labels = &d["spec"]["template"]["metadata"]["labels"];
                        selector.as_object().is_some_and(|m| m.iter().all(|(k, v)| &labels[k] == v))
                    })
                    .and_then(|d| d.pointer("/spec/replicas").and_then(Value::as_i64));
                replicas.is_some_and(|r| n.as_i64().unwrap_or(0) >= r)
            }
            _ => false,
        };
        if blocks {
            out.push(finding(
                "TK004",
                o,
                "allows no voluntary eviction: node drains and cluster upgrades stall".into(),
                "allow at least one pod to go: maxUnavailable: 1 (workers drain gracefully)",
            ));
        }
    }
    out
}

/// TK005
fn inlined_secrets(cx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for h in &cx.hosts {
        for e in h.container["env"].as_array().into_iter().flatten() {
            if let Some(name) = e["name"].as_str()
                && SECRET_ENV.contains(&name)
                && e["value"].is_string()
            {
                out.push(finding(
                    "TK005",
                    h.object,
                    format!("{name} is set inline in the manifest"),
                    &format!("reference a Secret (secretKeyRef or a mounted file such as {})", S::TEMPORAL_API_KEY_FILE.env),
                ));
            }
        }
    }
    for o in cx.objects {
        match o["kind"].as_str() {
            Some("Secret") if !o["data"].is_null() || !o["stringData"].is_null() => {
                out.push(finding("TK005", o, "a Secret with its values is part of the manifests".into(),
                    "keep Secret values out of git: create them out of band (or with a SecretProviderClass / sealed secrets) and only reference them"));
            }
            Some("ConfigMap") => {
                for key in SECRET_ENV.iter().filter(|k| !o["data"][**k].is_null()) {
                    out.push(finding("TK005", o, format!("{key} is stored in a ConfigMap"), "move it to a Secret and mount it"));
                }
            }
            _ => {}
        }
    }
    out
}

/// TK006
fn missing_resources(cx: &Context<'_>) -> Vec<Finding> {
    cx.hosts
        .iter()
        .filter(|h| {
            let r = &h.container["resources"];
            r["requests"]["cpu"].is_null() || r["requests"]["memory"].is_null() || r["limits"]["memory"].is_null()
        })
        .map(|h| {
            finding(
                "TK006",
                h.object,
                format!("container {} lacks cpu/memory requests or a memory limit", container_name(h.container)),
                "set requests (the scheduler and HPA need them) and a memory limit",
            )
        })
        .collect()
}

/// TK007
fn several_orchestrators(cx: &Context<'_>) -> Vec<Finding> {
    cx.hosts
        .iter()
        .filter(|h| h.role == Some(Role::Orchestrator) && h.object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1) > 1)
        .map(|h| {
            finding(
                "TK007",
                h.object,
                "runs more than one orchestrator replica".into(),
                "run one: ids are deterministic, so extra replicas only race to start the same workflows",
            )
        })
        .collect()
}

/// TK008
fn api_key_without_tls(cx: &Context<'_>) -> Vec<Finding> {
    cx.hosts
        .iter()
        .filter(|h| {
            let has_key = h.env.contains_key(S::TEMPORAL_API_KEY.env) || h.env.contains_key(S::TEMPORAL_API_KEY_FILE.env);
            has_key && h.env.get(S::TEMPORAL_TLS.env).is_some_and(|v| matches!(v.as_str(), "false" | "0" | "no" | "off"))
        })
        .map(|h| {
            finding(
                "TK008",
                h.object,
                format!("an API key is configured with {}=false", S::TEMPORAL_TLS.env),
                &format!("API keys must travel over TLS: remove {}=false", S::TEMPORAL_TLS.env),
            )
        })
        .collect()
}

/// TK009
fn autoscaler_on_worker_deployment(cx: &Context<'_>) -> Vec<Finding> {
    let worker_deployments: Vec<&str> =
        cx.objects.iter().filter(|o| o["kind"] == "WorkerDeployment").filter_map(|o| o["metadata"]["name"].as_str()).collect();
    cx.objects
        .iter()
        .filter_map(|o| scale_target(o).map(|(target, name)| (o, target, name)))
        .filter(|(_, target, name)| target["kind"] == "WorkerDeployment" || worker_deployments.contains(name))
        .map(|(o, _, name)| finding("TK009", o,
            format!("targets {name}, a worker run by the temporal-worker-controller, which runs one Deployment per build ({name}-<build id>)"),
            "put it in a WorkerResourceTemplate with an empty target ({}): the controller gives every build its own copy"))
        .collect()
}

/// TK010
fn template_sets_controller_injections(cx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for o in cx.objects.iter().filter(|o| o["kind"] == "WorkerDeployment") {
        let mtls = cx.objects.iter().any(|c| {
            c["kind"] == "Connection"
                && c["metadata"]["name"] == o["spec"]["workerOptions"]["connectionRef"]["name"]
                && !c["spec"]["mutualTLSSecretRef"].is_null()
        });
        let pod = &o["spec"]["template"]["spec"];
        let (volume, path) = CONTROLLER_TLS_VOLUME;
        if mtls && pod["volumes"].as_array().into_iter().flatten().any(|v| v["name"] == volume) {
            out.push(finding("TK010", o, format!("defines volume {volume:?}, which the controller adds for the mTLS Connection: its Deployments would be rejected (duplicate volume)"),
                "leave the client certificate to the Connection's mutualTLSSecretRef"));
        }
        for c in pod["containers"].as_array().into_iter().flatten() {
            let cname = container_name(c);
            if mtls && c["volumeMounts"].as_array().into_iter().flatten().any(|m| m["mountPath"] == path) {
                out.push(finding("TK010", o, format!("container {cname} mounts {path}, where the controller mounts the mTLS Secret: its Deployments would be rejected (duplicate mount path)"),
                    "remove the mount; the controller mounts the Connection's Secret there"));
            }
            for e in c["env"].as_array().into_iter().flatten().filter_map(|e| e["name"].as_str()).filter(|n| CONTROLLER_ENV.contains(n)) {
                out.push(finding(
                    "TK010",
                    o,
                    format!("container {cname} sets {e}, which the controller injects; the value here is dead and misleading"),
                    "remove it: the controller sets it from the WorkerDeployment and its Connection",
                ));
            }
        }
    }
    out
}

/// TK011. KEDA's `temporal` trigger sees the task queue's backlog; with `minReplicaCount` 0 (KEDA's
/// default) it deactivates the workload once nothing waits, while activities may still run.
fn zero_on_backlog_alone(cx: &Context<'_>) -> Vec<Finding> {
    cx.objects
        .iter()
        .filter(|o| o["kind"] == "ScaledObject")
        .filter(|o| o["spec"]["minReplicaCount"].as_i64().unwrap_or(0) == 0)
        .filter(|o| {
            let triggers = o["spec"]["triggers"].as_array().map(Vec::as_slice).unwrap_or_default();
            !triggers.is_empty() && triggers.iter().all(|t| t["type"] == "temporal")
        })
        .map(|o| {
            finding(
                "TK011",
                o,
                "scales to zero when the task queue's backlog is empty, even while activities still run (the backlog does not count work in flight)".into(),
                "scale on tk8s's scaler (signal = \"tk8s\": an `external` trigger, zero only after backlog, slots in use and open workflows were all zero for scaler.zero_after), or set minReplicaCount to 1",
            )
        })
        .collect()
}

/// The autoscaler's own scale-down window: `behavior.scaleDown.stabilizationWindowSeconds`, 300 s
/// when unset (the HPA's default, which KEDA keeps).
fn autoscaler_window(o: &Value) -> Duration {
    let behavior = match o["kind"].as_str() {
        Some("ScaledObject") => &o["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"],
        _ => &o["spec"]["behavior"],
    };
    Duration::from_secs(behavior["scaleDown"]["stabilizationWindowSeconds"].as_u64().unwrap_or(300))
}

/// Whether an autoscaler follows tk8s's scaler (which applies its own window first).
fn follows_scaler(o: &Value) -> bool {
    let triggers = o["spec"]["triggers"].as_array().into_iter().flatten();
    let metrics = o["spec"]["metrics"].as_array().into_iter().flatten();
    triggers.into_iter().any(|t| t["type"] == "external")
        || metrics.into_iter().any(|m| m["external"]["metric"]["name"] == "tk8s_desired_worker_replicas")
}

/// TK012. Replicas removed after a short lull are replicas whose work was just handed out: each
/// then drains for up to its shutdown grace, so a window shorter than that drain churns pods
/// that are still finishing work.
fn scale_down_faster_than_drain(cx: &Context<'_>) -> Vec<Finding> {
    let scaler_window =
        cx.hosts.iter().find(|h| h.role == Some(Role::Scaler)).map(|h| setting_duration(&h.env, &S::SCALER_SCALE_DOWN_WINDOW));
    let mut out = Vec::new();
    for o in cx.objects.iter().filter(|o| matches!(o["kind"].as_str(), Some("HorizontalPodAutoscaler" | "ScaledObject"))) {
        let Some((_, target)) = scale_target(o) else { continue };
        let Some(host) = cx.hosts.iter().find(|h| h.object["metadata"]["name"] == target && h.role == Some(Role::Worker)) else {
            continue;
        };
        let mut window = autoscaler_window(o);
        if follows_scaler(o) {
            window += scaler_window.unwrap_or_else(|| S::SCALER_SCALE_DOWN_WINDOW.default_duration().unwrap_or_default());
        }
        let drain = setting_duration(&host.env, &S::SHUTDOWN_GRACE);
        if window < drain {
            out.push(finding(
                "TK012",
                o,
                format!("removes replicas after {} s of lower demand, but a worker drains for up to {} s ({})", window.as_secs(), drain.as_secs(), S::SHUTDOWN_GRACE.env),
                "lengthen the scale-down window (scale_down_window in the deploy config, or behavior.scaleDown.stabilizationWindowSeconds) to at least the drain",
            ));
        }
    }
    out
}

/// TK013. A private registry refuses anonymous pulls: the pods would sit in ImagePullBackOff.
fn private_registry_without_pull_secret(cx: &Context<'_>) -> Vec<Finding> {
    cx.objects
        .iter()
        .filter(|o| matches!(o["kind"].as_str(), Some("Deployment" | "StatefulSet" | "WorkerDeployment")))
        .filter(|o| o.pointer("/spec/template/metadata/annotations").is_some_and(|a| a[PRIVATE_REGISTRY] == "true"))
        .filter(|o| o.pointer("/spec/template/spec/imagePullSecrets").and_then(Value::as_array).is_none_or(Vec::is_empty))
        .map(|o| {
            finding(
                "TK013",
                o,
                "pulls from a private registry but names no imagePullSecrets: its pods would stay in ImagePullBackOff".into(),
                "set app.image_pull_secrets in the deploy config and create the Secret: kubectl create secret docker-registry NAME --docker-server=REGISTRY --docker-username=USER --docker-password=PASSWORD",
            )
        })
        .collect()
}

/// TK014. The image contract (`tk8s_config::contract`): the app's binary is the ENTRYPOINT and
/// the role is the argument; a `command` replaces the binary (a shell wrapper loses SIGTERM as
/// PID 1, and the drain with it), and another user breaks the files the image owns.
fn breaks_the_image_contract(cx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for h in cx.hosts.iter().filter(|h| h.role.is_some()) {
        if let Some(command) = h.container["command"].as_array().filter(|c| !c.is_empty()) {
            out.push(finding(
                "TK014",
                h.object,
                format!("container {} sets command {command:?}, replacing the app binary the image runs", container_name(h.container)),
                "remove command: the image's ENTRYPOINT is the app binary; give the role as args (e.g. args: [worker])",
            ));
        }
        let user = h.container["securityContext"]["runAsUser"]
            .as_u64()
            .or(h.object.pointer("/spec/template/spec/securityContext/runAsUser").and_then(Value::as_u64));
        if let Some(uid) = user.filter(|u| *u != u64::from(tk8s_config::contract::USER)) {
            out.push(finding(
                "TK014",
                h.object,
                format!(
                    "container {} runs as uid {uid}; the image is built for uid {}",
                    container_name(h.container),
                    tk8s_config::contract::USER
                ),
                "run as 65532 (runAsUser/runAsGroup), as the image's USER says",
            ));
        }
    }
    out
}

/// A pod's containers, init containers (native sidecars) included.
fn pod_containers(o: &Value) -> impl Iterator<Item = &Value> {
    ["/spec/template/spec/containers", "/spec/template/spec/initContainers"]
        .into_iter()
        .filter_map(|p| o.pointer(p).and_then(Value::as_array))
        .flatten()
}

/// A container that runs a Temporal worker of any SDK: it gets Temporal's connection variables.
fn is_temporal_worker(c: &Value) -> bool {
    c["env"].as_array().into_iter().flatten().any(|e| e["name"] == S::TEMPORAL_ADDRESS.env)
        || c["envFrom"].is_array() && c["args"][0] == Role::Worker.name()
}

fn workloads<'a>(cx: &'a Context<'_>) -> impl Iterator<Item = &'a Value> {
    cx.objects.iter().filter(|o| matches!(o["kind"].as_str(), Some("Deployment" | "StatefulSet" | "WorkerDeployment")))
}

/// TK015. The Python and TypeScript SDKs do not wait for running activities at shutdown unless
/// the worker's code says how long to (`graceful_shutdown_timeout`, `shutdownGraceTime`).
fn sdk_shutdown_undeclared(cx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for o in workloads(cx) {
        let annotations = &o["spec"]["template"]["metadata"]["annotations"];
        let Some(sdk) = annotations[crate::SDK_ANNOTATION].as_str() else { continue };
        let period = o.pointer("/spec/template/spec/terminationGracePeriodSeconds").and_then(Value::as_u64).unwrap_or(30);
        match annotations[crate::GRACEFUL_SHUTDOWN_ANNOTATION].as_str().and_then(tk8s_config::parse_duration) {
            None if matches!(sdk, "python" | "typescript") => out.push(finding(
                "TK015",
                o,
                format!("runs a {sdk} worker whose graceful shutdown is not declared; the {sdk} SDK's default is 0, so activities are cut off at SIGTERM"),
                "set it in the worker's code (Python: Worker(graceful_shutdown_timeout=timedelta(seconds=30)); TypeScript: Worker.create({ shutdownGraceTime: '30s' })) and declare it as worker.graceful_shutdown in the deploy config",
            )),
            Some(d) if d.as_secs() >= period => out.push(finding(
                "TK015",
                o,
                format!("lets its {sdk} worker drain for {} s but terminationGracePeriodSeconds is {period}", d.as_secs()),
                "raise terminationGracePeriodSeconds above the worker's graceful shutdown (render does this from worker.graceful_shutdown)",
            )),
            _ => {}
        }
    }
    out
}

/// TK016. `ls /` or `cat` of a file succeeds whatever the worker does.
fn exec_probe_proves_nothing(cx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for o in workloads(cx) {
        // tk8s hosts' exec probes are TK002's.
        let hosted = |c: &Value| cx.hosts.iter().any(|h| std::ptr::eq(h.container, c));
        for c in pod_containers(o).filter(|c| is_temporal_worker(c) && !hosted(c)) {
            for field in ["readinessProbe", "livenessProbe", "startupProbe"] {
                let Some(cmd) = c[field]["exec"]["command"].as_array() else { continue };
                let words: Vec<&str> = cmd.iter().filter_map(Value::as_str).collect();
                let program = words.iter().find(|w| !matches!(**w, "sh" | "/bin/sh" | "bash" | "/bin/bash" | "-c")).copied().unwrap_or("");
                let first = program.split_whitespace().next().unwrap_or("").rsplit('/').next().unwrap_or("");
                if matches!(first, "ls" | "cat" | "true" | "echo" | "test" | "stat" | "[") {
                    out.push(finding(
                        "TK016",
                        o,
                        format!("{field} of {} runs `{}`, which succeeds whether or not the worker polls", container_name(c), words.join(" ")),
                        "probe the worker's real state: run `tk8s companion` beside it (worker.sdk in the deploy config) and probe its /readyz",
                    ));
                }
            }
        }
    }
    out
}

/// TK017. Without a readiness probe, a pod counts as ready as soon as its process starts, polling
/// or not: rollouts move on and PodDisruptionBudgets count pods that do no work.
fn worker_without_readiness(cx: &Context<'_>) -> Vec<Finding> {
    workloads(cx)
        .filter(|o| pod_containers(o).any(is_temporal_worker))
        .filter(|o| pod_containers(o).all(|c| c["readinessProbe"].is_null()))
        .map(|o| {
            finding(
                "TK017",
                o,
                "runs a Temporal worker with no readinessProbe: it counts as ready whether it polls or not".into(),
                "a tk8s host: probe /readyz on its admin port; any other SDK: run `tk8s companion` beside it (worker.sdk in the deploy config)",
            )
        })
        .collect()
}

/// TK018. A rolling update hands running workflows to the new code; without the gate nothing
/// checks that the new code can replay them, and the failure shows hours later as stuck
/// workflows. Only manifests tk8s rendered are held to it (hand-written ones have their own CI).
fn worker_without_replay_gate(cx: &Context<'_>) -> Vec<Finding> {
    let gated = cx.objects.iter().any(|o| o["kind"] == "Job" && pod_containers(o).any(|c| c["args"][0] == Role::Replay.name()));
    if gated {
        return Vec::new();
    }
    cx.hosts
        .iter()
        .filter(|h| h.role == Some(Role::Worker) && h.object["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "tk8s")
        .map(|h| {
            finding(
                "TK018",
                h.object,
                "has no replay gate: a rollout could ship workflow code that cannot replay the histories of running workflows, which then stall on non-determinism errors".into(),
                "keep worker.replay_gate on (the default): tk8s deploy runs it before touching the worker, Helm as a pre-upgrade hook",
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Context, lint};
    use serde_json::{Value, json};

    /// A worker Deployment as a hand-written manifest might have it, good in every respect.
    fn worker() -> Value {
        json!({ "kind": "Deployment", "metadata": { "name": "w" }, "spec": { "replicas": 2, "template": {
            "metadata": { "labels": { "app": "w" } },
            "spec": { "terminationGracePeriodSeconds": 30, "containers": [{
                "name": "worker", "args": ["worker"],
                "env": [{ "name": "TK8S_SHUTDOWN_GRACE", "value": "20s" }],
                "ports": [{ "name": "admin", "containerPort": 9090 }],
                "readinessProbe": { "httpGet": { "path": "/readyz", "port": "admin" } },
                "livenessProbe": { "httpGet": { "path": "/livez", "port": 9090 } },
                "resources": { "requests": { "cpu": "100m", "memory": "64Mi" }, "limits": { "memory": "128Mi" } },
            }] } } } })
    }

    fn rule(id: &str, objects: &[Value]) -> usize {
        let rule = super::RULES.iter().find(|r| r.id == id).unwrap();
        (rule.check)(&Context::new(objects)).len()
    }

    fn with(f: impl Fn(&mut Value)) -> Value {
        let mut w = worker();
        f(&mut w);
        w
    }

    #[test]
    fn a_good_worker_has_no_findings() {
        assert!(lint(&[worker()]).is_empty(), "{:?}", lint(&[worker()]));
    }

    #[test]
    fn tk001_grace_shorter_than_the_drain() {
        assert_eq!(rule("TK001", &[with(|w| w["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(20))]), 1);
        assert_eq!(
            rule("TK001", &[with(|w| w["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(25))]),
            0,
            "20s + 5s fits"
        );
    }

    #[test]
    fn tk002_probes_that_miss_the_host() {
        let c = |w: &mut Value| w["spec"]["template"]["spec"]["containers"][0].clone();
        assert_eq!(
            rule(
                "TK002",
                &[with(
                    |w| w["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = json!({ "exec": { "command": ["ls", "/"] } })
                )]
            ),
            1
        );
        assert_eq!(
            rule("TK002", &[with(|w| w["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = json!(8080))]),
            1
        );
        assert_eq!(
            rule(
                "TK002",
                &[with(|w| {
                    let mut x = c(w);
                    x.as_object_mut().unwrap().remove("readinessProbe");
                    w["spec"]["template"]["spec"]["containers"][0] = x;
                })]
            ),
            1
        );
        assert_eq!(rule("TK002", &[worker()]), 0);
    }

    #[test]
    fn tk003_and_tk009_autoscalers_on_the_wrong_target() {
        let orchestrator = with(|w| {
            w["metadata"]["name"] = json!("o");
            w["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["orchestrator"]);
        });
        let hpa = |target: &str, kind: &str| json!({ "kind": "HorizontalPodAutoscaler", "metadata": { "name": "h" }, "spec": { "scaleTargetRef": { "kind": kind, "name": target } } });
        assert_eq!(rule("TK003", &[orchestrator.clone(), hpa("o", "Deployment")]), 1);
        assert_eq!(rule("TK003", &[orchestrator, worker(), hpa("w", "Deployment")]), 0);
        assert_eq!(rule("TK009", &[hpa("w", "WorkerDeployment")]), 1);
        assert_eq!(rule("TK009", &[worker(), hpa("w", "Deployment")]), 0);
    }

    #[test]
    fn tk004_pdbs_that_block_every_eviction() {
        let pdb = |spec: Value| json!({ "kind": "PodDisruptionBudget", "metadata": { "name": "p" }, "spec": spec });
        assert_eq!(rule("TK004", &[pdb(json!({ "maxUnavailable": 0 }))]), 1);
        assert_eq!(rule("TK004", &[worker(), pdb(json!({ "minAvailable": 2, "selector": { "matchLabels": { "app": "w" } } }))]), 1);
        assert_eq!(rule("TK004", &[worker(), pdb(json!({ "maxUnavailable": 1 }))]), 0);
    }

    #[test]
    fn tk005_inlined_secrets() {
        assert_eq!(
            rule(
                "TK005",
                &[with(|w| w["spec"]["template"]["spec"]["containers"][0]["env"] = json!([{ "name": "TEMPORAL_API_KEY", "value": "k" }]))]
            ),
            1
        );
        assert_eq!(rule("TK005", &[json!({ "kind": "Secret", "metadata": { "name": "s" }, "data": { "a": "Yg==" } })]), 1);
        assert_eq!(
            rule("TK005", &[json!({ "kind": "ConfigMap", "metadata": { "name": "c" }, "data": { "TK8S_CODEC_KEYS": "k1=..." } })]),
            1
        );
        assert_eq!(
            rule(
                "TK005",
                &[with(|w| w["spec"]["template"]["spec"]["containers"][0]["env"] =
                    json!([{ "name": "TEMPORAL_API_KEY", "valueFrom": { "secretKeyRef": { "name": "s", "key": "k" } } }]))]
            ),
            0
        );
    }

    #[test]
    fn tk006_missing_resources() {
        assert_eq!(rule("TK006", &[with(|w| w["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = json!({}))]), 1);
        assert_eq!(rule("TK006", &[worker()]), 0);
    }

    #[test]
    fn tk007_several_orchestrators() {
        let o = |replicas: i64| {
            with(|w| {
                w["spec"]["replicas"] = json!(replicas);
                w["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["orchestrator"]);
            })
        };
        assert_eq!((rule("TK007", &[o(2)]), rule("TK007", &[o(1)])), (1, 0));
    }

    #[test]
    fn tk008_an_api_key_without_tls() {
        let env = |tls: &str| {
            with(|w| {
                w["spec"]["template"]["spec"]["containers"][0]["env"] = json!([
            { "name": "TK8S_API_KEY_FILE", "value": "/etc/temporal/api-key/api-key" }, { "name": "TEMPORAL_TLS", "value": tls }])
            })
        };
        assert_eq!((rule("TK008", &[env("false")]), rule("TK008", &[env("true")])), (1, 0));
    }

    #[test]
    fn tk010_a_template_that_sets_what_the_controller_injects() {
        let wd = |env: &str| {
            json!({ "kind": "WorkerDeployment", "metadata": { "name": "w" }, "spec": {
            "workerOptions": { "connectionRef": { "name": "c" } },
            "template": { "spec": { "containers": [{ "name": "worker", "env": [{ "name": env, "value": "x" }] }] } } } })
        };
        assert_eq!(rule("TK010", &[wd("TEMPORAL_WORKER_BUILD_ID")]), 1);
        assert_eq!(rule("TK010", &[wd("TK8S_LOG_LEVEL")]), 0);
    }

    fn scaled_object(min: Option<i64>, trigger: &str, window: Option<u64>) -> Value {
        let mut o = json!({ "kind": "ScaledObject", "metadata": { "name": "w" }, "spec": {
            "scaleTargetRef": { "name": "w" }, "triggers": [{ "type": trigger, "metadata": {} }] } });
        if let Some(min) = min {
            o["spec"]["minReplicaCount"] = json!(min);
        }
        if let Some(w) = window {
            o["spec"]["advanced"] =
                json!({ "horizontalPodAutoscalerConfig": { "behavior": { "scaleDown": { "stabilizationWindowSeconds": w } } } });
        }
        o
    }

    #[test]
    fn tk011_scaling_to_zero_on_the_backlog_alone() {
        // KEDA's default minReplicaCount is 0.
        assert_eq!(rule("TK011", &[worker(), scaled_object(None, "temporal", None)]), 1);
        assert_eq!(rule("TK011", &[worker(), scaled_object(Some(0), "temporal", None)]), 1);
        assert_eq!(rule("TK011", &[worker(), scaled_object(Some(1), "temporal", None)]), 0);
        assert_eq!(rule("TK011", &[worker(), scaled_object(Some(0), "external", None)]), 0);
    }

    #[test]
    fn tk012_a_scale_down_window_shorter_than_the_drain() {
        // The worker drains for 20 s.
        assert_eq!(rule("TK012", &[worker(), scaled_object(Some(1), "temporal", Some(10))]), 1);
        assert_eq!(rule("TK012", &[worker(), scaled_object(Some(1), "temporal", Some(20))]), 0);
        // Unset: the HPA's 300 s default.
        assert_eq!(rule("TK012", &[worker(), scaled_object(Some(1), "temporal", None)]), 0);
        // Behind the scaler, its own window comes first: 0 s in KEDA + the scaler's.
        let scaler = |window: &str| {
            json!({ "kind": "Deployment", "metadata": { "name": "s" }, "spec": { "template": { "spec": { "containers": [{
                "name": "scaler", "args": ["scaler"], "env": [{ "name": "TK8S_SCALER_SCALE_DOWN_WINDOW", "value": window }] }] } } } })
        };
        assert_eq!(rule("TK012", &[worker(), scaler("5s"), scaled_object(Some(1), "external", Some(0))]), 1);
        assert_eq!(rule("TK012", &[worker(), scaler("5m"), scaled_object(Some(1), "external", Some(0))]), 0);
        // An autoscaler on something that is not a worker is not this rule's business.
        assert_eq!(rule("TK012", &[scaled_object(Some(1), "temporal", Some(0))]), 0);
    }

    #[test]
    fn tk013_a_private_registry_without_a_pull_secret() {
        let private = |secrets: Value| {
            with(|w| {
                w["spec"]["template"]["metadata"]["annotations"] = json!({ "tk8s.io/private-registry": "true" });
                w["spec"]["template"]["spec"]["imagePullSecrets"] = secrets.clone();
            })
        };
        assert_eq!(rule("TK013", &[private(json!(null))]), 1);
        assert_eq!(rule("TK013", &[private(json!([]))]), 1);
        assert_eq!(rule("TK013", &[private(json!([{ "name": "regcred" }]))]), 0);
        assert_eq!(rule("TK013", &[worker()]), 0, "not said to be private");
    }

    /// A Python worker Deployment with its companion, as render writes it.
    fn python(graceful: Option<&str>) -> Value {
        let mut annotations = json!({ "tk8s.io/sdk": "python" });
        if let Some(g) = graceful {
            annotations["tk8s.io/graceful-shutdown"] = json!(g);
        }
        json!({ "kind": "Deployment", "metadata": { "name": "py" }, "spec": { "template": {
            "metadata": { "annotations": annotations },
            "spec": { "terminationGracePeriodSeconds": 35,
                "initContainers": [{ "name": "companion", "args": ["companion"], "restartPolicy": "Always" }],
                "containers": [{ "name": "worker", "env": [{ "name": "TEMPORAL_ADDRESS", "value": "t:7233" }],
                    "readinessProbe": { "httpGet": { "path": "/readyz", "port": 9090 } } }] } } } })
    }

    #[test]
    fn tk015_an_undeclared_or_too_long_sdk_shutdown() {
        assert_eq!(rule("TK015", &[python(None)]), 1);
        assert_eq!(rule("TK015", &[python(Some("30s"))]), 0);
        assert_eq!(rule("TK015", &[python(Some("60s"))]), 1, "longer than the termination grace");
        let mut go = python(None);
        go["spec"]["template"]["metadata"]["annotations"]["tk8s.io/sdk"] = json!("go");
        assert_eq!(rule("TK015", &[go]), 0, "Go's worker stop timeout is not 0 by default");
    }

    #[test]
    fn tk016_and_tk017_probes_that_prove_nothing_and_no_probe_at_all() {
        let with_probe = |probe: Value| {
            let mut p = python(Some("30s"));
            p["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = probe;
            p
        };
        assert_eq!(rule("TK016", &[with_probe(json!({ "exec": { "command": ["ls", "/"] } }))]), 1);
        assert_eq!(rule("TK016", &[with_probe(json!({ "exec": { "command": ["/bin/sh", "-c", "cat /tmp/healthy"] } }))]), 1);
        assert_eq!(rule("TK016", &[with_probe(json!({ "exec": { "command": ["python", "check.py"] } }))]), 0);
        assert_eq!(rule("TK017", &[with_probe(Value::Null)]), 1);
        assert_eq!(rule("TK017", &[python(Some("30s"))]), 0);
        assert_eq!(rule("TK017", &[worker()]), 0, "a tk8s host with its probes");
    }

    #[test]
    fn tk018_a_rendered_worker_without_its_replay_gate() {
        let rendered = with(|w| w["metadata"]["labels"] = json!({ "app.kubernetes.io/managed-by": "tk8s" }));
        assert_eq!(rule("TK018", std::slice::from_ref(&rendered)), 1);
        let gate = json!({ "kind": "Job", "metadata": { "name": "g" }, "spec": { "template": { "spec": {
            "containers": [{ "name": "replay", "args": ["replay", "--output", "json"] }] } } } });
        assert_eq!(rule("TK018", &[rendered, gate]), 0);
        assert_eq!(rule("TK018", &[worker()]), 0, "hand-written manifests are not held to it");
    }

    #[test]
    fn tk014_a_host_that_breaks_the_image_contract() {
        let wrapped = with(|w| w["spec"]["template"]["spec"]["containers"][0]["command"] = json!(["/bin/sh", "-c", "exec app worker"]));
        assert_eq!(rule("TK014", &[wrapped]), 1);
        let root = with(|w| w["spec"]["template"]["spec"]["securityContext"] = json!({ "runAsUser": 0 }));
        assert_eq!(rule("TK014", &[root]), 1);
        let right = with(|w| w["spec"]["template"]["spec"]["securityContext"] = json!({ "runAsUser": 65532 }));
        assert_eq!(rule("TK014", &[right, worker()]), 0);
    }
}
