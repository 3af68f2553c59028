//! The Helm chart, generated from the same typed objects as the plain manifests: each template is
//! an object rendered with sentinel values in the places values may change (image, replicas,
//! autoscaling bounds, settings), the sentinels then swapped for template expressions. So the
//! chart cannot drift from `tk8s render`; a test runs `helm template` with every values file and
//! compares the objects with the render of the matching environment.

use crate::deploy::{Autoscaler, DeployConfig};
use crate::objects::{objects, role_env};
use crate::output::to_yaml;
use serde_json::{Value, json};
use tk8s_config::Role;
use tk8s_config::spec as S;

const REPO: &str = "@@REPO@@";
const TAG: &str = "@@TAG@@";
const TK8S_REPO: &str = "@@TK8S_REPO@@";
const NAMESPACE: &str = "@@NAMESPACE@@";
const MIN: &str = "@@MIN@@";
const MAX: &str = "@@MAX@@";
const MIN_TEXT: &str = "@@MIN_TEXT@@";
const PULL_SECRETS: &str = "@@PULL_SECRETS@@";
const MAX_TEXT: &str = "@@MAX_TEXT@@";

/// The roles whose env and replicas are chart values (the scaler follows the worker's bounds).
const VALUES_ROLES: [Role; 2] = [Role::Worker, Role::Orchestrator];

fn env_sentinel(role: &str) -> String {
    format!("@@ENV_{role}@@")
}

fn replicas_sentinel(role: &str) -> String {
    format!("@@REPLICAS_{role}@@")
}

/// Values for one config: what the chart's templates read.
fn values(c: &DeployConfig) -> Value {
    let role = |r: &crate::deploy::RoleConfig, role: Role| {
        let mut v = json!({ "replicas": r.replicas });
        if !crate::objects::is_sdk_worker(c, role) {
            v["env"] = json!(role_env(c, r, role));
        }
        if let Some(a) = r.autoscaling.as_ref().filter(|a| a.mode != Autoscaler::None) {
            v["autoscaling"] = json!({ "minReplicas": a.min_replicas, "maxReplicas": a.max_replicas });
        }
        v
    };
    let mut v = json!({
        "namespace": c.app.namespace,
        "imagePullSecrets": c.app.image_pull_secrets.iter().map(|n| json!({ "name": n })).collect::<Vec<_>>(),
        "image": { "repository": c.app.image, "tag": c.app.tag },
    });
    v[Role::Worker.name()] = role(&c.worker, Role::Worker);
    if let Some(o) = &c.orchestrator {
        v[Role::Orchestrator.name()] = role(&o.role, Role::Orchestrator);
    }
    if c.uses_tk8s_image() {
        v["image"]["tk8sRepository"] = json!(c.tk8s_image());
        v["image"]["tk8sTag"] = json!(c.tk8s_image_ref().rsplit_once(':').map(|(_, t)| t.to_string()).unwrap_or_default());
    }
    v
}

/// The keys of `over` whose values differ from `base` (a values-<env>.yaml overlay).
fn diff(base: &Value, over: &Value) -> Option<Value> {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            let m: serde_json::Map<String, Value> = o
                .iter()
                .filter_map(|(k, v)| match b.get(k) {
                    Some(bv) => diff(bv, v).map(|d| (k.clone(), d)),
                    None => Some((k.clone(), v.clone())),
                })
                .collect();
            (!m.is_empty()).then_some(Value::Object(m))
        }
        (b, o) if b == o => None,
        (_, o) => Some(o.clone()),
    }
}

fn schema(values: &Value) -> Value {
    match values {
        Value::Object(m) => json!({
            "type": "object",
            // Settings maps accept any further TK8S_* setting; everything else is closed.
            "additionalProperties": !m.is_empty() && m.keys().all(|k| k.starts_with(tk8s_config::spec::env::PREFIX)),
            "properties": m.iter().map(|(k, v)| (k.clone(), schema(v))).collect::<serde_json::Map<_, _>>(),
        }),
        Value::Number(_) => json!({ "type": "integer", "minimum": 0 }),
        Value::String(_) => json!({ "type": "string", "minLength": 1 }),
        Value::Bool(_) => json!({ "type": "boolean" }),
        _ => json!({}),
    }
}

/// Put sentinels where values apply, in the object's JSON.
fn mark(c: &DeployConfig, o: &mut Value) {
    if o["metadata"]["namespace"].is_string() {
        o["metadata"]["namespace"] = json!(NAMESPACE);
    }
    for labels in ["/metadata/labels", "/spec/template/metadata/labels"] {
        if let Some(Value::Object(l)) = o.pointer_mut(labels)
            && l.contains_key("app.kubernetes.io/version")
        {
            l.insert("app.kubernetes.io/version".into(), json!(TAG));
        }
    }
    let image = format!("{}:{}", c.app.image, c.app.tag);
    let tk8s_image = c.tk8s_image_ref();
    let component = o["metadata"]["labels"]["app.kubernetes.io/component"].as_str().unwrap_or("").to_string();
    if o["kind"] == "Job" && component == crate::objects::REPLAY_GATE {
        // Before the chart's objects are installed or upgraded; the previous run is replaced, a
        // passing one removed (a failing one stays, with its log, until the next attempt).
        let annotations = o["metadata"].as_object_mut().map(|m| m.entry("annotations").or_insert_with(|| json!({})));
        if let Some(Value::Object(a)) = annotations {
            a.insert("helm.sh/hook".into(), json!("pre-install,pre-upgrade"));
            a.insert("helm.sh/hook-delete-policy".into(), json!("before-hook-creation,hook-succeeded"));
        }
    }
    if matches!(o["kind"].as_str(), Some("Deployment" | "WorkerDeployment" | "Job")) {
        if let Some(Value::Object(pod)) = o.pointer_mut("/spec/template/spec") {
            pod.insert("imagePullSecrets".into(), json!(PULL_SECRETS));
        }
        for list in ["/spec/template/spec/containers", "/spec/template/spec/initContainers"] {
            if let Some(Value::Array(cs)) = o.pointer_mut(list) {
                for container in cs {
                    if container["image"] == json!(image) {
                        container["image"] = json!(format!("{REPO}:{TAG}"));
                    } else if container["image"] == json!(tk8s_image) {
                        container["image"] = json!(format!("{TK8S_REPO}:{TAG}"));
                    }
                }
            }
        }
        if component == Role::Scaler.name()
            && let Some(Value::Array(env)) = o.pointer_mut("/spec/template/spec/containers/0/env")
        {
            // The scaler decides within the worker's autoscaling bounds: the same values.
            for e in env.iter_mut() {
                match e["name"].as_str() {
                    Some(n) if n == S::SCALER_MIN_REPLICAS.env => e["value"] = json!(MIN_TEXT),
                    Some(n) if n == S::SCALER_MAX_REPLICAS.env => e["value"] = json!(MAX_TEXT),
                    _ => {}
                }
            }
        }
        if !VALUES_ROLES.iter().any(|r| r.name() == component) {
            return;
        }
        // An SDK worker's env holds a Secret reference: it stays as rendered, not a value.
        let sdk_worker = component == Role::Worker.name() && c.worker.sdk != crate::deploy::Sdk::Tk8s;
        if !sdk_worker && let Some(c0) = o.pointer_mut("/spec/template/spec/containers/0") {
            c0["env"] = json!(env_sentinel(&component));
        }
        if o["spec"]["replicas"].is_number() {
            o["spec"]["replicas"] = json!(replicas_sentinel(&component));
        }
    }
    let hpa_spec = match o["kind"].as_str() {
        Some("HorizontalPodAutoscaler") => Some("/spec"),
        Some("WorkerResourceTemplate") if o["spec"]["template"]["kind"] == "HorizontalPodAutoscaler" => Some("/spec/template/spec"),
        _ => None,
    };
    if let Some(spec) = hpa_spec.and_then(|p| o.pointer_mut(p)) {
        spec["minReplicas"] = json!(MIN);
        spec["maxReplicas"] = json!(MAX);
    }
    if o["kind"] == "ScaledObject" {
        o["spec"]["minReplicaCount"] = json!(MIN);
        o["spec"]["maxReplicaCount"] = json!(MAX);
    }
}

/// Swap sentinels in rendered YAML for template expressions.
fn templatise(yaml: &str, app: &str) -> String {
    let mut out = String::new();
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let pad = " ".repeat(indent);
        let trimmed = line.trim_start();
        if let Some(role) = VALUES_ROLES.iter().map(|r| r.name()).find(|r| trimmed == format!("env: '{}'", env_sentinel(r))) {
            out.push_str(&format!("{pad}env:\n{pad}{{{{- range $name, $value := .Values.{role}.env }}}}\n{pad}- name: {{{{ $name }}}}\n{pad}  value: {{{{ $value | quote }}}}\n{pad}{{{{- end }}}}\n"));
            continue;
        }
        if trimmed == format!("imagePullSecrets: '{PULL_SECRETS}'") {
            out.push_str(&format!(
                "{pad}{{{{- with .Values.imagePullSecrets }}}}\n{pad}imagePullSecrets: {{{{ toJson . }}}}\n{pad}{{{{- end }}}}\n"
            ));
            continue;
        }
        // Braces already in the YAML (Prometheus alert templates) are literal text for Helm.
        let mut l = line
            .replace("{{", "{{`{{")
            .replace("}}", "}}`}}")
            .replace(&format!("'{REPO}:{TAG}'"), &format!("{{{{ include \"{app}.image\" . }}}}"))
            .replace(&format!("'{TK8S_REPO}:{TAG}'"), "{{ printf \"%s:%s\" .Values.image.tk8sRepository .Values.image.tk8sTag | quote }}")
            .replace(&format!("'{TAG}'"), "{{ .Values.image.tag | quote }}")
            .replace(&format!("'{NAMESPACE}'"), "{{ .Values.namespace | default .Release.Namespace }}")
            .replace(&format!("'{MIN}'"), "{{ .Values.worker.autoscaling.minReplicas }}")
            .replace(&format!("'{MAX}'"), "{{ .Values.worker.autoscaling.maxReplicas }}")
            .replace(&format!("'{MIN_TEXT}'"), "{{ .Values.worker.autoscaling.minReplicas | quote }}")
            .replace(&format!("'{MAX_TEXT}'"), "{{ .Values.worker.autoscaling.maxReplicas | quote }}");
        for role in VALUES_ROLES.iter().map(|r| r.name()) {
            l = l.replace(&format!("'{}'", replicas_sentinel(role)), &format!("{{{{ .Values.{role}.replicas }}}}"));
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

const HEADER: &str = "# Generated by `tk8s render`; do not edit. Change the deploy config and render again.\n";

/// The chart's files, relative to the chart directory.
pub fn chart(c: &DeployConfig) -> Vec<(String, String)> {
    let app = &c.app.name;
    // The namespace the objects go to: the values' (the deploy config's) unless emptied.
    let ns = "{{ .Values.namespace | default .Release.Namespace }}";
    let bin = tk8s_config::contract::entrypoint(app);
    let mut out = vec![
        (
            "Chart.yaml".to_string(),
            format!(
                "{HEADER}{}",
                to_yaml(&json!({
                    "apiVersion": "v2",
                    "name": app,
                    "description": format!("{app}: a Temporal worker and orchestrator hosted by temporal-k8s"),
                    "type": "application",
                    "version": "0.1.0",
                    "appVersion": c.app.tag,
                }))
            ),
        ),
        (
            "templates/_helpers.tpl".to_string(),
            format!(
                "{{{{/* Generated by `tk8s render`. */}}}}\n{{{{- define \"{app}.image\" -}}}}\n{{{{ printf \"%s:%s\" .Values.image.repository .Values.image.tag | quote }}}}\n{{{{- end }}}}\n"
            ),
        ),
        (
            "templates/NOTES.txt".to_string(),
            format!(
                "{app} {{{{ .Values.image.tag }}}} is installed in namespace {ns}.\n\n\
             Namespace: the values' `namespace` (the deploy config's); set it to \"\" to follow --namespace.\n\n\
             Readiness (200 once connected to Temporal and polling):\n  \
             kubectl -n {ns} port-forward svc/{app}-worker-metrics 9090 && curl -s localhost:9090/readyz\n\
             Metrics: /metrics on port 9090 of every pod (tk8s_* and temporal_*).\n\
             Settings in effect (any worker pod):\n  \
             kubectl -n {ns} exec $(kubectl -n {ns} get pod -l app.kubernetes.io/name={app},app.kubernetes.io/component=worker -o name | head -n1) -- {bin} config show\n{}",
                if c.worker.controller.is_some() {
                    format!("Builds and rollout (temporal-worker-controller):\n  kubectl -n {ns} get workerdeployment {app}-worker\n")
                } else {
                    String::new()
                }
            ),
        ),
    ];
    let base = values(c);
    out.push(("values.yaml".into(), format!("{HEADER}{}", to_yaml(&base))));
    let mut values_schema = schema(&base);
    // Empty means "follow --namespace".
    values_schema["properties"]["namespace"] = json!({ "type": "string" });
    values_schema["properties"]["imagePullSecrets"] = json!({
        "type": "array",
        "items": { "type": "object", "properties": { "name": { "type": "string", "minLength": 1 } }, "required": ["name"], "additionalProperties": false },
    });
    out.push(("values.schema.json".into(), format!("{}\n", serde_json::to_string_pretty(&values_schema).unwrap_or_default())));
    for (name, env) in &c.environments {
        let over = diff(&base, &values(&c.for_environment(env))).unwrap_or_else(|| json!({}));
        out.push((format!("values-{name}.yaml"), format!("{HEADER}{}", to_yaml(&over))));
    }
    for o in objects(c) {
        let mut v = o.value.clone();
        mark(c, &mut v);
        out.push((format!("templates/{}", o.file), format!("{HEADER}{}", templatise(&to_yaml(&v), app))));
    }
    out
}
