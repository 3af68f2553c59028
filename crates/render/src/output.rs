//! Writing rendered objects to disk, deterministically: `plain/` (one file per object),
//! `kustomize/base/` plus one overlay per environment that patches only what the environment
//! overrides. A test shows that `kubectl kustomize` of each overlay gives exactly the objects
//! rendered for that environment.

use crate::RenderError;
use crate::deploy::{DeployConfig, Scaler};
use crate::objects::{Object, alert_groups, objects};
use serde_json::{Value, json};
use std::path::Path;

pub fn to_yaml(value: &Value) -> String {
    serde_norway::to_string(value).unwrap_or_default()
}

fn write(path: &Path, text: &str) -> Result<(), RenderError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| RenderError::Io(format!("{}: {e}", dir.display())))?;
    }
    std::fs::write(path, text).map_err(|e| RenderError::Io(format!("{}: {e}", path.display())))
}

const HEADER: &str = "# Rendered by `tk8s render`; do not edit. Change the deploy config and render again.\n";

/// All files for `config`, as (relative path, contents), sorted.
pub fn files(config: &DeployConfig) -> Vec<(String, String)> {
    let base = objects(config);
    let mut out = Vec::new();
    for o in &base {
        out.push((format!("plain/{}", o.file), format!("{HEADER}{}", to_yaml(&o.value))));
        out.push((format!("kustomize/base/{}", o.file), format!("{HEADER}{}", to_yaml(&o.value))));
    }
    for (rel, text) in crate::helm::chart(config) {
        out.push((format!("helm/{}/{rel}", config.app.name), text));
    }
    out.push(("prometheus/rules.yaml".into(), format!("{HEADER}{}", to_yaml(&json!({ "groups": alert_groups(config) })))));
    let resources: Vec<&str> = base.iter().map(|o| o.file.as_str()).collect();
    out.push(("kustomize/base/kustomization.yaml".into(), format!("{HEADER}{}", to_yaml(&json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    })))));
    for (name, env) in &config.environments {
        let rendered = config.for_environment(env);
        out.push((format!("kustomize/overlays/{name}/kustomization.yaml"), format!("{HEADER}{}", to_yaml(&overlay(config, &rendered)))));
    }
    out.sort();
    out
}

/// A kustomization that turns the base into `env`'s objects.
fn overlay(base: &DeployConfig, env: &DeployConfig) -> Value {
    let mut k = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["../../base"],
        "labels": [{ "pairs": { "app.kubernetes.io/version": env.app.tag }, "includeSelectors": false, "includeTemplates": true }],
        "images": [{ "name": format!("{}", base.app.image), "newTag": env.app.tag }],
    });
    let mut patches = Vec::new();
    let worker = format!("{}-worker", base.app.name);
    let autoscaled = env.worker.autoscaling.as_ref().is_some_and(|a| a.mode != Scaler::None);
    if !autoscaled && env.worker.replicas != base.worker.replicas {
        k["replicas"] = json!([{ "name": worker, "count": env.worker.replicas }]);
    }
    if let (Some(a), Some(b)) = (&env.worker.autoscaling, &base.worker.autoscaling) {
        let (kind, min, max) = match a.mode {
            Scaler::Hpa => ("HorizontalPodAutoscaler", "/spec/minReplicas", "/spec/maxReplicas"),
            Scaler::Keda => ("ScaledObject", "/spec/minReplicaCount", "/spec/maxReplicaCount"),
            Scaler::None => ("", "", ""),
        };
        if !kind.is_empty() && (a.min_replicas != b.min_replicas || a.max_replicas != b.max_replicas) {
            patches.push(json!({
                "target": { "kind": kind, "name": worker },
                "patch": to_yaml(&json!([
                    { "op": "replace", "path": min, "value": a.min_replicas },
                    { "op": "replace", "path": max, "value": a.max_replicas },
                ])),
            }));
        }
    }
    let roles = std::iter::once(("worker", &env.worker, &base.worker))
        .chain(env.orchestrator.iter().zip(base.orchestrator.iter()).map(|(e, b)| ("orchestrator", &e.role, &b.role)));
    for (component, e, b) in roles {
        let changed: Vec<(&String, &String)> = e.settings.iter().filter(|(k, v)| b.settings.get(*k) != Some(*v)).collect();
        if changed.is_empty() {
            continue;
        }
        let env_vars: Vec<Value> = changed.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect();
        patches.push(json!({
            "target": { "kind": "Deployment", "name": format!("{}-{component}", base.app.name) },
            "patch": to_yaml(&json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": { "name": format!("{}-{component}", base.app.name) },
                "spec": { "template": { "spec": { "containers": [{ "name": component, "env": env_vars }] } } },
            })),
        }));
    }
    if !patches.is_empty() {
        k["patches"] = Value::Array(patches);
    }
    k
}

/// Write every file under `out`, and remove rendered files that are no longer produced.
pub fn write_all(config: &DeployConfig, out: &Path) -> Result<usize, RenderError> {
    let files = files(config);
    for (rel, text) in &files {
        write(&out.join(rel), text)?;
    }
    Ok(files.len())
}

/// Objects for an environment (what an overlay must produce), or the base.
pub fn objects_for(config: &DeployConfig, environment: Option<&str>) -> Result<Vec<Object>, RenderError> {
    match environment {
        None => Ok(objects(config)),
        Some(name) => {
            let env = config.environments.get(name).ok_or_else(|| RenderError::Config(format!("no environment {name:?}")))?;
            Ok(objects(&config.for_environment(env)))
        }
    }
}
