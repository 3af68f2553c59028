//! The only changes made to rendered manifests so that podman 4.3 can play them on one machine.
//! Each is one function below, named in [`ADAPTATIONS`] with the podman behaviour it works
//! around; nothing else in the manifests changes, and the production render is not bent to suit
//! podman. What podman cannot carry at all (Services, autoscalers, PodDisruptionBudgets,
//! NetworkPolicies, the Prometheus Operator's kinds) is left out and checked by the validators.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Every adaptation, with the podman behaviour it works around.
pub const ADAPTATIONS: &[(&str, &str)] = &[
    ("only Deployments", "podman kube play runs pods; Services, HPAs, PDBs, NetworkPolicies and CRD kinds mean nothing to it"),
    ("one replica", "every replica would bind the same host ports under host networking"),
    (
        "host networking, no containerPorts",
        "a dev server on 127.0.0.1 is reachable only with host networking, and podman refuses port mappings with it",
    ),
    ("a port per pod", "all pods share the host's ports: each gets its own admin (or codec server) port, in its env and its probes"),
    ("envFrom inlined into env", "podman 4.3 lets envFrom override env (Kubernetes does the opposite)"),
    (
        "Secret volumes as host directories",
        "podman 4.3 writes a Secret's data base64-encoded instead of decoded, ignores stringData and defaultMode, and fails without `optional`",
    ),
    (
        "Service addresses as host ports",
        "no cluster DNS here, and every pod is on the host's network: a setting that names a Service (or a second port) is given the host port of the pod behind it",
    ),
    ("no livenessProbe", "podman turns it into a curl healthcheck (no curl in a distroless image, no systemd here to run it)"),
    (
        "restartPolicy OnFailure",
        "under restartPolicy Always podman restarts init containers that exited 0 and fails the pod (podman #16343)",
    ),
];

/// What the adaptations need to know about this machine.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Host port for each Deployment's server (admin port; the codec server's own port), by
    /// Deployment name.
    pub ports: BTreeMap<String, u16>,
    /// The env var that sets a Deployment's port, by Deployment name (default: the admin port's).
    pub port_env: BTreeMap<String, String>,
    pub default_port_env: String,
    /// A directory holding each Secret's files, by Secret name.
    pub secrets: BTreeMap<String, PathBuf>,
    /// Settings that replace what the render says, by Deployment name: Service addresses and
    /// second ports, pointed at this host.
    pub env: BTreeMap<String, BTreeMap<String, String>>,
}

/// Adapt rendered objects for `podman kube play`. Fails when a Deployment has no planned port
/// or a volume names a Secret with no planned directory.
pub fn adapt(objects: &[Value], plan: &Plan) -> Result<Vec<Value>, String> {
    let config_maps: BTreeMap<String, BTreeMap<String, String>> = objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .filter_map(|o| {
            let data = o["data"].as_object()?.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect();
            Some((o["metadata"]["name"].as_str()?.to_string(), data))
        })
        .collect();
    let mut out = Vec::new();
    for o in objects.iter().filter(|o| o["kind"] == "Deployment") {
        let mut d = o.clone();
        let name = d["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let port = *plan.ports.get(&name).ok_or_else(|| format!("no port planned for Deployment {name}"))?;
        let port_env = plan.port_env.get(&name).unwrap_or(&plan.default_port_env).clone();
        one_replica(&mut d);
        let spec = &mut d["spec"]["template"]["spec"];
        host_network(spec);
        restart_on_failure(spec);
        secrets_as_host_directories(spec, &plan.secrets)?;
        for list in ["containers", "initContainers"] {
            for c in spec[list].as_array_mut().into_iter().flatten() {
                inline_env_from(c, &config_maps)?;
                own_port(c, &port_env, port);
                if let Some(env) = plan.env.get(&name) {
                    services_as_host_ports(c, env);
                }
                drop_liveness_probe(c);
            }
        }
        out.push(d);
    }
    Ok(out)
}

fn one_replica(d: &mut Value) {
    d["spec"]["replicas"] = json!(1);
}

fn host_network(spec: &mut Value) {
    spec["hostNetwork"] = json!(true);
    for list in ["containers", "initContainers"] {
        for c in spec[list].as_array_mut().into_iter().flatten() {
            if let Some(c) = c.as_object_mut() {
                c.remove("ports");
            }
        }
    }
}

fn restart_on_failure(spec: &mut Value) {
    spec["restartPolicy"] = json!("OnFailure");
}

fn secrets_as_host_directories(spec: &mut Value, secrets: &BTreeMap<String, PathBuf>) -> Result<(), String> {
    for v in spec["volumes"].as_array_mut().into_iter().flatten() {
        let Some(secret) = v.get("secret").and_then(|s| s["secretName"].as_str()).map(String::from) else { continue };
        let dir = secrets.get(&secret).ok_or_else(|| format!("no files planned for Secret {secret}"))?;
        if let Some(v) = v.as_object_mut() {
            v.remove("secret");
            v.insert("hostPath".into(), json!({ "path": dir.display().to_string(), "type": "Directory" }));
        }
    }
    Ok(())
}

/// Kubernetes order: the ConfigMap's entries first, then `env` (which wins).
fn inline_env_from(c: &mut Value, config_maps: &BTreeMap<String, BTreeMap<String, String>>) -> Result<(), String> {
    let mut env: Vec<(String, Value)> = Vec::new();
    let mut set = |name: String, entry: Value| match env.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = entry,
        None => env.push((name, entry)),
    };
    for source in c["envFrom"].as_array().into_iter().flatten() {
        let name = source["configMapRef"]["name"].as_str().ok_or("envFrom other than a configMapRef")?;
        let data = config_maps.get(name).ok_or_else(|| format!("envFrom names ConfigMap {name}, which is not rendered"))?;
        for (k, v) in data {
            set(k.clone(), json!({ "name": k, "value": v }));
        }
    }
    for e in c["env"].as_array().into_iter().flatten() {
        set(e["name"].as_str().unwrap_or_default().to_string(), e.clone());
    }
    if let Some(obj) = c.as_object_mut() {
        obj.remove("envFrom");
        obj.insert("env".into(), Value::Array(env.into_iter().map(|(_, e)| e).collect()));
    }
    Ok(())
}

fn own_port(c: &mut Value, port_env: &str, port: u16) {
    let entry = json!({ "name": port_env, "value": port.to_string() });
    if let Some(env) = c["env"].as_array_mut() {
        match env.iter_mut().find(|e| e["name"] == port_env) {
            Some(e) => *e = entry,
            None => env.push(entry),
        }
    }
    for probe in ["readinessProbe", "startupProbe", "livenessProbe"] {
        if c[probe]["httpGet"].is_object() {
            c[probe]["httpGet"]["port"] = json!(port);
        }
    }
}

fn services_as_host_ports(c: &mut Value, planned: &BTreeMap<String, String>) {
    if let Some(env) = c["env"].as_array_mut() {
        for (name, value) in planned {
            let entry = json!({ "name": name, "value": value });
            match env.iter_mut().find(|e| e["name"] == name.as_str()) {
                Some(e) => *e = entry,
                None => env.push(entry),
            }
        }
    }
}

fn drop_liveness_probe(c: &mut Value) {
    if let Some(c) = c.as_object_mut() {
        c.remove("livenessProbe");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> Vec<Value> {
        vec![
            json!({ "kind": "ConfigMap", "metadata": { "name": "cfg" }, "data": { "TK8S_LOG_LEVEL": "info", "TEMPORAL_ADDRESS": "x:7233" } }),
            json!({ "kind": "Service", "metadata": { "name": "svc" } }),
            json!({ "kind": "Deployment", "metadata": { "name": "app-worker" }, "spec": { "replicas": 3, "template": { "spec": {
                "initContainers": [{ "name": "wait", "envFrom": [{ "configMapRef": { "name": "cfg" } }] }],
                "containers": [{
                    "name": "worker",
                    "env": [{ "name": "TK8S_LOG_LEVEL", "value": "debug" }],
                    "envFrom": [{ "configMapRef": { "name": "cfg" } }],
                    "ports": [{ "containerPort": 9090, "name": "admin" }],
                    "readinessProbe": { "httpGet": { "path": "/readyz", "port": "admin" } },
                    "livenessProbe": { "httpGet": { "path": "/livez", "port": "admin" } },
                }],
                "volumes": [{ "name": "keys", "secret": { "secretName": "codec-keys", "defaultMode": 288 } }],
            } } } }),
        ]
    }

    fn plan() -> Plan {
        Plan {
            ports: [("app-worker".to_string(), 19000)].into(),
            port_env: BTreeMap::new(),
            default_port_env: "TK8S_ADMIN_PORT".into(),
            secrets: [("codec-keys".to_string(), PathBuf::from("/tmp/keys"))].into(),
            env: [("app-worker".to_string(), [("TK8S_SCALER_WORKER_METRICS".to_string(), "127.0.0.1:19001".to_string())].into())].into(),
        }
    }

    #[test]
    fn each_listed_adaptation_is_made_and_nothing_else() {
        let out = adapt(&rendered(), &plan()).unwrap();
        assert_eq!(out.len(), 1, "only the Deployment is played");
        let d = &out[0];
        let spec = &d["spec"]["template"]["spec"];
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(spec["hostNetwork"], true);
        assert_eq!(spec["restartPolicy"], "OnFailure");
        assert_eq!(spec["volumes"][0], json!({ "name": "keys", "hostPath": { "path": "/tmp/keys", "type": "Directory" } }));
        let c = &spec["containers"][0];
        assert!(c.get("ports").is_none() && c.get("livenessProbe").is_none() && c.get("envFrom").is_none());
        assert_eq!(c["readinessProbe"]["httpGet"], json!({ "path": "/readyz", "port": 19000 }));
        let env: BTreeMap<&str, &str> =
            c["env"].as_array().unwrap().iter().map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap())).collect();
        assert_eq!(
            env,
            [
                ("TK8S_LOG_LEVEL", "debug"),
                ("TEMPORAL_ADDRESS", "x:7233"),
                ("TK8S_ADMIN_PORT", "19000"),
                ("TK8S_SCALER_WORKER_METRICS", "127.0.0.1:19001")
            ]
            .into(),
            "env wins over envFrom"
        );
        let init = &spec["initContainers"][0];
        assert_eq!(init["env"].as_array().unwrap().len(), 4, "init containers get the ConfigMap, the port and the addresses too");
        // Nothing else changed: undo the listed changes and compare with the input.
        assert_eq!(d["metadata"], rendered()[2]["metadata"]);
        assert_eq!(c["name"], "worker");
        assert_eq!(ADAPTATIONS.len(), 9);
    }

    #[test]
    fn what_cannot_be_planned_is_an_error() {
        let mut p = plan();
        p.secrets.clear();
        assert!(adapt(&rendered(), &p).unwrap_err().contains("Secret codec-keys"));
        let mut p = plan();
        p.ports.clear();
        assert!(adapt(&rendered(), &p).unwrap_err().contains("app-worker"));
    }
}
