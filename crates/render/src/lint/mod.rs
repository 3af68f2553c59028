//! `tk8s lint`: Temporal-specific mistakes that generic scanners do not know, checked on any
//! manifests (ours or hand-written). Each finding names the object, says what is wrong and how
//! to fix it. A container counts as a temporal-k8s host when it runs `worker`, `orchestrator`
//! or sets any `TK8S_*` variable. The rules are one function each, in `rules.rs`.

mod rules;

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use tk8s_config::Role;

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

/// One rule: its id, what it catches (for `--help` and the README), and the check.
pub struct Rule {
    pub id: &'static str,
    pub summary: &'static str,
    check: fn(&Context<'_>) -> Vec<Finding>,
}

/// Every rule, in the order their findings are reported.
pub const RULES: &[Rule] = rules::RULES;

/// What the rules look at: the objects, and the temporal-k8s hosts among their containers.
pub(crate) struct Context<'a> {
    objects: &'a [Value],
    hosts: Vec<Host<'a>>,
}

impl<'a> Context<'a> {
    fn new(objects: &'a [Value]) -> Self {
        Context { objects, hosts: hosts(objects) }
    }
}

/// Check manifests (each a parsed object). Returns every finding, rule by rule, each rule's in
/// object order.
pub fn lint(objects: &[Value]) -> Vec<Finding> {
    let context = Context::new(objects);
    RULES.iter().flat_map(|rule| (rule.check)(&context)).collect()
}

fn name_of(o: &Value) -> String {
    format!("{}/{}", o["kind"].as_str().unwrap_or("?"), o["metadata"]["name"].as_str().unwrap_or("?"))
}

fn finding(rule: &'static str, o: &Value, message: String, hint: &str) -> Finding {
    Finding { rule, object: name_of(o), message, hint: hint.into() }
}

/// A workload's containers and their effective environment (ConfigMaps from `envFrom` included).
pub(crate) struct Host<'a> {
    object: &'a Value,
    container: &'a Value,
    role: Option<Role>,
    env: BTreeMap<String, String>,
}

fn hosts<'a>(objects: &'a [Value]) -> Vec<Host<'a>> {
    let config_maps: BTreeMap<&str, &Value> =
        objects.iter().filter(|o| o["kind"] == "ConfigMap").filter_map(|o| Some((o["metadata"]["name"].as_str()?, &o["data"]))).collect();
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
            // A container running one of the long-running roles of the role table.
            let role =
                c["args"][0].as_str().and_then(Role::from_name).filter(|r| r.spec().lifetime == tk8s_config::role::Lifetime::Service);
            if role.is_some() || env.keys().any(|k| k.starts_with(tk8s_config::spec::env::PREFIX)) {
                out.push(Host { object: o, container: c, role, env });
            }
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

/// The manifest files under `dir`, recursively, in name order. A render's output directory
/// (it has the render's marker) is linted through its `plain/` objects, which the kustomize
/// base and the chart repeat; a Helm chart's templates are not YAML until rendered, so a
/// directory holding a `Chart.yaml` is left out (lint `helm template`'s output instead).
fn manifests_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), crate::RenderError> {
    use crate::RenderError;
    if dir.join(crate::output::MARKER).is_file() && dir.join("plain").is_dir() {
        return manifests_under(&dir.join("plain"), out);
    }
    if dir.join("Chart.yaml").is_file() {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| RenderError::Read { path: dir.to_path_buf(), source })?;
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            manifests_under(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    Ok(())
}

/// Lint files, and the manifests under directories (see [`manifests_under`]). Finding no
/// Kubernetes object at all is an error: a lint that checked nothing must not pass.
pub fn lint_paths(paths: &[std::path::PathBuf]) -> Result<LintReport, crate::RenderError> {
    use crate::RenderError;
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            manifests_under(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    let mut objects = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|source| RenderError::Read { path: file.clone(), source })?;
        let docs = parse_documents(&text).map_err(|reason| RenderError::Manifest { path: file.clone(), reason })?;
        // Objects have a kind; other YAML (values files, alert rule groups) is not linted.
        objects.extend(docs.into_iter().filter(|d| d["kind"].is_string()));
    }
    if objects.is_empty() {
        return Err(RenderError::NothingToLint { paths: paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ") });
    }
    Ok(LintReport { files: files.len(), objects: objects.len(), findings: lint(&objects) })
}
