//! Writing rendered objects to disk, deterministically: `plain/` (one file per object),
//! `kustomize/base/` plus one overlay per environment that patches only what the environment
//! overrides. A test shows that `kubectl kustomize` of each overlay gives exactly the objects
//! rendered for that environment.

use crate::RenderError;
use crate::deploy::{Autoscaler, DeployConfig};
use crate::objects::{Object, alert_groups, objects, role_env, scaler_env};
use serde_json::{Value, json};
use std::path::Path;
use tk8s_config::Role;

/// YAML text for `value`. The emitter follows YAML 1.2, but Kubernetes, Helm and PyYAML read
/// YAML 1.1, where a bare `Off`, `yes` or `n` is a boolean: such strings are quoted.
pub fn to_yaml(value: &Value) -> String {
    let text = serde_norway::to_string(value).unwrap_or_default();
    let mut out = String::with_capacity(text.len() + 16);
    // Indentation of the line that opened a block scalar (`|`, `|-`, `>`): its content is literal.
    let mut block: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if block.is_some_and(|b| indent > b || line.trim().is_empty()) {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        block = None;
        let split = line.rfind(": ").map(|i| i + 2).or_else(|| line.trim_start().starts_with("- ").then(|| indent + 2));
        match split {
            Some(at) if is_yaml11_bool(&line[at..]) => out.push_str(&format!("{}'{}'", &line[..at], &line[at..])),
            _ => out.push_str(line),
        }
        if ["|", "|-", "|+", ">", ">-", ">+"].iter().any(|m| line.ends_with(&format!(" {m}"))) {
            block = Some(indent);
        }
        out.push('\n');
    }
    out
}

fn is_yaml11_bool(word: &str) -> bool {
    matches!(word, "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO" | "on" | "On" | "ON" | "off" | "Off" | "OFF")
}

fn write(path: &Path, text: &str) -> Result<(), RenderError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| RenderError::Write { path: dir.to_path_buf(), source })?;
    }
    std::fs::write(path, text).map_err(|source| RenderError::Write { path: path.to_path_buf(), source })
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
    if let Some(rules) = crate::objects::adapter_rules(config) {
        out.push(("prometheus/adapter-rules.yaml".into(), format!("{HEADER}{}", to_yaml(&rules))));
    }
    let resources: Vec<&str> = base.iter().map(|o| o.file.as_str()).collect();
    out.push((
        "kustomize/base/kustomization.yaml".into(),
        format!(
            "{HEADER}{}",
            to_yaml(&json!({
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": resources,
            }))
        ),
    ));
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
    let managed = base.worker.controller.is_some();
    // kustomize knows the built-in kinds; the controller's CRDs get JSON patches instead.
    let (hpa_target, hpa_spec) = if managed { (format!("{worker}-hpa"), "/spec/template/spec") } else { (worker.clone(), "/spec") };
    // JSON patch operations on the WorkerDeployment, applied as one patch at the end.
    let mut worker_ops = Vec::new();
    if managed && env.app.tag != base.app.tag {
        // The labels transformer knows pod templates of built-in kinds only (images it finds anywhere).
        worker_ops
            .push(json!({ "op": "replace", "path": "/spec/template/metadata/labels/app.kubernetes.io~1version", "value": env.app.tag }));
    }
    let autoscaled = env.worker.autoscaling.as_ref().is_some_and(|a| a.mode != Autoscaler::None);
    if !autoscaled && env.worker.replicas != base.worker.replicas {
        if managed {
            worker_ops.push(json!({ "op": "replace", "path": "/spec/replicas", "value": env.worker.replicas }));
        } else {
            k["replicas"] = json!([{ "name": worker, "count": env.worker.replicas }]);
        }
    }
    if let (Some(a), Some(b)) = (&env.worker.autoscaling, &base.worker.autoscaling) {
        let (kind, target, min, max) = match a.mode {
            Autoscaler::Hpa => {
                let kind = if managed { "WorkerResourceTemplate" } else { "HorizontalPodAutoscaler" };
                (kind, hpa_target.clone(), format!("{hpa_spec}/minReplicas"), format!("{hpa_spec}/maxReplicas"))
            }
            Autoscaler::Keda => ("ScaledObject", worker.clone(), "/spec/minReplicaCount".into(), "/spec/maxReplicaCount".into()),
            Autoscaler::None => ("", String::new(), String::new(), String::new()),
        };
        if !kind.is_empty() && (a.min_replicas != b.min_replicas || a.max_replicas != b.max_replicas) {
            patches.push(json!({
                "target": { "kind": kind, "name": target },
                "patch": to_yaml(&json!([
                    { "op": "replace", "path": min, "value": a.min_replicas },
                    { "op": "replace", "path": max, "value": a.max_replicas },
                ])),
            }));
        }
    }
    let mut roles = vec![(Role::Worker, role_env(env, &env.worker, Role::Worker), role_env(base, &base.worker, Role::Worker))];
    if let (Some(e), Some(b)) = (&env.orchestrator, &base.orchestrator) {
        roles.push((Role::Orchestrator, role_env(env, &e.role, Role::Orchestrator), role_env(base, &b.role, Role::Orchestrator)));
    }
    if let (Some(e), Some(b)) = (scaler_env(env), scaler_env(base)) {
        roles.push((Role::Scaler, e, b));
    }
    for (role, e_env, b_env) in roles {
        let component = role.name();
        if e_env == b_env {
            continue;
        }
        if role == Role::Worker && managed {
            let env_vars: Vec<Value> = e_env.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect();
            worker_ops.push(json!({ "op": "replace", "path": "/spec/template/spec/containers/0/env", "value": env_vars }));
            continue;
        }
        let changed: Vec<(&String, &String)> = e_env.iter().filter(|(k, v)| b_env.get(*k) != Some(*v)).collect();
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
    if env.app.image_pull_secrets != base.app.image_pull_secrets {
        // A JSON patch replaces the list (a strategic merge would merge it by name).
        let secrets: Vec<Value> = env.app.image_pull_secrets.iter().map(|n| json!({ "name": n })).collect();
        let op = json!({ "op": "add", "path": "/spec/template/spec/imagePullSecrets", "value": secrets });
        for o in objects(base).iter().filter(|o| matches!(o.value["kind"].as_str(), Some("Deployment" | "Job"))) {
            let (kind, name) = (o.value["kind"].as_str().unwrap_or_default(), o.value["metadata"]["name"].as_str().unwrap_or_default());
            patches.push(json!({ "target": { "kind": kind, "name": name }, "patch": to_yaml(&json!([op.clone()])) }));
        }
        if managed {
            worker_ops.push(op);
        }
    }
    if !worker_ops.is_empty() {
        patches.push(json!({ "target": { "kind": "WorkerDeployment", "name": worker }, "patch": to_yaml(&Value::Array(worker_ops)) }));
    }
    if !patches.is_empty() {
        k["patches"] = Value::Array(patches);
    }
    k
}

/// The file in a render's output directory that lists what the render wrote: the next render
/// removes what it no longer writes, and refuses a directory that has no such list.
pub const MARKER: &str = ".tk8s-render";

/// What [`write_all`] did.
#[derive(Debug, Default)]
pub struct Written {
    pub files: usize,
    /// Files an earlier render wrote that this one no longer produces, now removed.
    pub removed: Vec<String>,
}

/// Write every file under `out`, owning the directory: files an earlier render wrote and this
/// one does not are removed (an HPA left behind after autoscaling was turned off would otherwise
/// still be applied, and break `helm template`). A directory with other content and no
/// [`MARKER`] is refused unless `force`, so a render never mixes with files it did not write.
pub fn write_all(config: &DeployConfig, out: &Path, force: bool) -> Result<Written, RenderError> {
    let files = files(config);
    let marker = out.join(MARKER);
    let earlier: Vec<String> = match std::fs::read_to_string(&marker) {
        Ok(text) => text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(String::from).collect(),
        Err(_) => {
            let occupied = std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(false);
            if occupied && !force {
                return Err(RenderError::NotOurs { path: out.to_path_buf() });
            }
            Vec::new()
        }
    };
    let mut removed = Vec::new();
    for rel in earlier.iter().filter(|rel| !files.iter().any(|(f, _)| f == *rel)) {
        // Only plain relative paths a render writes; a hand-edited list cannot reach outside.
        if rel.split('/').any(|part| part == ".." || part.is_empty()) {
            continue;
        }
        let path = out.join(rel);
        if path.is_file() {
            std::fs::remove_file(&path).map_err(|source| RenderError::Write { path: path.clone(), source })?;
            removed.push(rel.clone());
            // Directories the render no longer uses go too, once empty.
            let mut dir = path.parent();
            while let Some(d) = dir.filter(|d| *d != out) {
                if std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
    }
    for (rel, text) in &files {
        write(&out.join(rel), text)?;
    }
    let list: String = files.iter().map(|(rel, _)| format!("{rel}\n")).collect();
    write(&marker, &format!("# Files written by `tk8s render`; the next render removes those it no longer writes.\n{list}"))?;
    Ok(Written { files: files.len(), removed })
}

/// Objects for an environment (what an overlay must produce), or the base.
pub fn objects_for(config: &DeployConfig, environment: Option<&str>) -> Result<Vec<Object>, RenderError> {
    match environment {
        None => Ok(objects(config)),
        Some(name) => {
            let env = config.environments.get(name).ok_or_else(|| {
                let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
                RenderError::Config(tk8s_config::ConfigError::Invalid(vec![tk8s_config::Problem::new(
                    tk8s_config::Origin::Flag("env".into()),
                    None,
                    format!("= {name:?} is not an environment of the deploy config"),
                    Some(format!("environments: {}", if known.is_empty() { "none".into() } else { known.join(", ") })),
                )]))
            })?;
            Ok(objects(&config.for_environment(env)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::to_yaml;
    use serde_json::json;

    #[test]
    fn yaml_11_booleans_are_quoted_but_block_scalars_are_left_alone() {
        let text = to_yaml(&json!({ "updateMode": "Off", "list": ["yes", "n", "fine"], "ok": "Offline", "doc": "line: no\nnext: Off\n" }));
        assert!(text.contains("updateMode: 'Off'") && text.contains("- 'yes'") && text.contains("- 'n'"), "{text}");
        assert!(text.contains("ok: Offline") && text.contains("  line: no\n  next: Off\n"), "{text}");
        let back: serde_json::Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(back["doc"], "line: no\nnext: Off\n");
        assert_eq!(back["updateMode"], "Off");
    }
}
