//! The Secrets a render refers to but never contains (TLS material, API keys, codec keys, codec
//! tokens, registry credentials), found in the objects themselves, and for each the `kubectl`
//! command that makes it. `tk8s deploy` refuses to apply while one is missing: pods would sit in
//! `ContainerCreating` or `CreateContainerConfigError` with the reason buried in events.

use serde_json::Value;
use std::collections::BTreeMap;

/// How a Secret is used, which decides the command that creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecretUse {
    /// `imagePullSecrets`: registry credentials.
    ImagePull,
    /// A volume whose Secret holds `tls.crt`/`tls.key` (mounted where the host reads mTLS files).
    Tls,
    /// Any other volume or env reference: files or values named by the render.
    Generic,
}

/// A Secret the objects need, and who needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeededSecret {
    pub name: String,
    pub usage: SecretUse,
    /// `Kind/name` of the objects that refer to it.
    pub used_by: Vec<String>,
    /// Keys the objects read from it, when they name them.
    pub keys: Vec<String>,
}

impl NeededSecret {
    /// The command that creates it, with placeholders for what only the user has.
    pub fn create_command(&self, namespace: &str) -> String {
        match self.usage {
            SecretUse::ImagePull => format!(
                "kubectl -n {namespace} create secret docker-registry {} --docker-server=REGISTRY --docker-username=USER --docker-password=PASSWORD",
                self.name
            ),
            SecretUse::Tls => {
                format!(
                    "kubectl -n {namespace} create secret generic {} --from-file=tls.crt --from-file=tls.key --from-file=ca.crt",
                    self.name
                )
            }
            SecretUse::Generic if self.keys.is_empty() => {
                format!("kubectl -n {namespace} create secret generic {} --from-file=KEY=FILE", self.name)
            }
            SecretUse::Generic => {
                let files: Vec<String> = self.keys.iter().map(|k| format!("--from-file={k}=FILE")).collect();
                format!("kubectl -n {namespace} create secret generic {} {}", self.name, files.join(" "))
            }
        }
    }
}

/// Every Secret the objects refer to, by name.
pub fn needed_secrets(objects: &[Value]) -> Vec<NeededSecret> {
    let mut found: BTreeMap<String, NeededSecret> = BTreeMap::new();
    let mut need = |name: &str, usage: SecretUse, owner: String, key: Option<&str>| {
        let s = found.entry(name.to_string()).or_insert_with(|| NeededSecret {
            name: name.into(),
            usage,
            used_by: Vec::new(),
            keys: Vec::new(),
        });
        s.usage = s.usage.min(usage);
        if !s.used_by.contains(&owner) {
            s.used_by.push(owner);
        }
        if let Some(k) = key
            && !s.keys.iter().any(|x| x == k)
        {
            s.keys.push(k.into());
        }
    };
    for o in objects {
        let owner = format!("{}/{}", o["kind"].as_str().unwrap_or("?"), o["metadata"]["name"].as_str().unwrap_or("?"));
        // The temporal-worker-controller's Connection names the worker's credentials.
        for (field, usage, key) in [("mutualTLSSecretRef", SecretUse::Tls, None), ("apiKeySecretRef", SecretUse::Generic, Some("api-key"))]
        {
            if let Some(name) = o["spec"][field]["name"].as_str() {
                need(name, usage, owner.clone(), o["spec"][field]["key"].as_str().or(key));
            }
        }
        let Some(pod) = o.pointer("/spec/template/spec") else { continue };
        for s in pod["imagePullSecrets"].as_array().into_iter().flatten() {
            if let Some(name) = s["name"].as_str() {
                need(name, SecretUse::ImagePull, owner.clone(), None);
            }
        }
        for v in pod["volumes"].as_array().into_iter().flatten() {
            let Some(name) = v["secret"]["secretName"].as_str() else { continue };
            if v["secret"]["optional"] == true {
                continue;
            }
            let mounted_at = pod["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["volumeMounts"].as_array().into_iter().flatten())
                .find(|m| m["name"] == v["name"])
                .and_then(|m| m["mountPath"].as_str())
                .unwrap_or_default();
            let usage = if mounted_at.ends_with("/tls") { SecretUse::Tls } else { SecretUse::Generic };
            let keys: Vec<&str> = v["secret"]["items"].as_array().into_iter().flatten().filter_map(|i| i["key"].as_str()).collect();
            if keys.is_empty() {
                need(name, usage, owner.clone(), None);
            }
            for k in keys {
                need(name, usage, owner.clone(), Some(k));
            }
        }
        for list in ["containers", "initContainers"] {
            for c in pod[list].as_array().into_iter().flatten() {
                for e in c["env"].as_array().into_iter().flatten() {
                    let r = &e["valueFrom"]["secretKeyRef"];
                    if let Some(name) = r["name"].as_str()
                        && r["optional"] != true
                    {
                        need(name, SecretUse::Generic, owner.clone(), r["key"].as_str());
                    }
                }
                for e in c["envFrom"].as_array().into_iter().flatten() {
                    if let Some(name) = e["secretRef"]["name"].as_str()
                        && e["secretRef"]["optional"] != true
                    {
                        need(name, SecretUse::Generic, owner.clone(), None);
                    }
                }
            }
        }
    }
    found.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_of_reference_is_found_with_its_command() {
        let deployment = json!({ "kind": "Deployment", "metadata": { "name": "app-worker" }, "spec": { "template": { "spec": {
            "imagePullSecrets": [{ "name": "regcred" }],
            "containers": [{ "name": "worker",
                "volumeMounts": [{ "name": "temporal-tls", "mountPath": "/etc/temporal/tls" }, { "name": "keys", "mountPath": "/etc/tk8s/codec-keys" }],
                "env": [{ "name": "X", "valueFrom": { "secretKeyRef": { "name": "api", "key": "api-key" } } }],
                "envFrom": [{ "secretRef": { "name": "optional-one", "optional": true } }] }],
            "volumes": [
                { "name": "temporal-tls", "secret": { "secretName": "app-tls" } },
                { "name": "keys", "secret": { "secretName": "app-keys" } },
                { "name": "maybe", "secret": { "secretName": "not-needed", "optional": true } },
            ] } } } });
        let connection =
            json!({ "kind": "Connection", "metadata": { "name": "app" }, "spec": { "mutualTLSSecretRef": { "name": "app-tls" } } });
        let found = needed_secrets(&[deployment, connection]);
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["api", "app-keys", "app-tls", "regcred"]);
        let by = |n: &str| found.iter().find(|s| s.name == n).unwrap();
        assert_eq!(by("app-tls").usage, SecretUse::Tls);
        assert_eq!(by("app-tls").used_by, ["Deployment/app-worker", "Connection/app"]);
        assert_eq!(
            by("regcred").create_command("ns"),
            "kubectl -n ns create secret docker-registry regcred --docker-server=REGISTRY --docker-username=USER --docker-password=PASSWORD"
        );
        assert_eq!(by("api").create_command("ns"), "kubectl -n ns create secret generic api --from-file=api-key=FILE");
        assert!(by("app-tls").create_command("ns").contains("--from-file=tls.crt --from-file=tls.key"));
    }
}
