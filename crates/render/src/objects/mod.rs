//! From a deploy config to Kubernetes objects, built with typed `k8s-openapi` structs. Ports,
//! probe paths and defaults come from `tk8s-config`'s settings table, the same source the binary
//! reads, so a rendered manifest cannot disagree with the binary it runs.

use crate::deploy::{Auth, Autoscaler, DeployConfig, Resources, RoleConfig, Span};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, ExternalMetricSource, HPAScalingRules, HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior,
    HorizontalPodAutoscalerSpec, MetricIdentifier, MetricSpec, MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    CSIVolumeSource, Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar, HTTPGetAction,
    LocalObjectReference, PodReadinessGate, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    SecretVolumeSource, SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec, TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tk8s_config::Role;
use tk8s_config::spec as S;

mod autoscaling;
mod controller;
mod monitoring;
mod network;
mod pod;
mod replay;
mod scaler;
mod sdk;

pub(crate) use autoscaling::*;
pub(crate) use controller::*;
pub(crate) use monitoring::*;
pub use monitoring::{adapter_rules, alert_groups, dashboard_panels};
pub(crate) use network::*;
pub use pod::PRIVATE_REGISTRY;
pub(crate) use pod::*;
pub use replay::REPLAY_GATE;
pub(crate) use replay::replay_gate;
pub use scaler::scaler_port;
pub(crate) use scaler::*;
pub use sdk::{CODEC_KEYS_ENV, GRACEFUL_SHUTDOWN_ANNOTATION, SDK_ANNOTATION, TASK_QUEUE_ENV, rendered_sdk_env};
pub(crate) use sdk::{companion_env, is_sdk_worker, sdk_env};

/// Path inside the container of each mounted Secret. `TLS_DIR` is also where the
/// temporal-worker-controller mounts a Connection's mTLS Secret, so `TK8S_TLS_CERT_DIR` holds for
/// controller-managed workers too (the controller's explicit cert paths point into it).
pub const TLS_DIR: &str = "/etc/temporal/tls";

pub const API_KEY_DIR: &str = "/etc/temporal/api-key";

pub const CODEC_KEYS_DIR: &str = "/etc/tk8s/codec-keys";

/// Extra seconds between the host's own hard deadline and the kubelet's SIGKILL.
pub const KILL_MARGIN_S: i64 = 5;

/// The admin port and paths, from the settings table the binary itself uses.
pub fn admin_port() -> i32 {
    S::ADMIN_PORT.default_int().and_then(|p| i32::try_from(p).ok()).unwrap_or(9090)
}

fn hard_deadline_s() -> i64 {
    S::SHUTDOWN_HARD_DEADLINE.default_duration().map(|d| d.as_secs() as i64).unwrap_or(5)
}

/// A rendered object: file name (without directory) and its JSON value.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub file: String,
    pub value: Value,
}

pub(crate) fn obj<T: serde::Serialize + k8s_openapi::Resource>(file: &str, o: &T) -> Object {
    let mut value = serde_json::to_value(o).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut value {
        m.insert("apiVersion".into(), Value::String(T::API_VERSION.into()));
        m.insert("kind".into(), Value::String(T::KIND.into()));
    }
    Object { file: file.into(), value }
}

pub(crate) fn labels(c: &DeployConfig, component: &str) -> BTreeMap<String, String> {
    [
        ("app.kubernetes.io/name", c.app.name.as_str()),
        ("app.kubernetes.io/instance", c.app.name.as_str()),
        ("app.kubernetes.io/component", component),
        ("app.kubernetes.io/part-of", c.app.name.as_str()),
        ("app.kubernetes.io/version", c.app.tag.as_str()),
        ("app.kubernetes.io/managed-by", "tk8s"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `progressDeadlineSeconds` of every Deployment, from `app.progress_deadline` (at least 1 s,
/// which Kubernetes requires).
pub(crate) fn progress_deadline_seconds(c: &DeployConfig) -> Option<i32> {
    Some(c.app.progress_deadline.duration().as_secs().clamp(1, i32::MAX as u64) as i32)
}

/// A RollingUpdate strategy.
pub(crate) fn rolling_update(max_surge: i32, max_unavailable: i32) -> DeploymentStrategy {
    DeploymentStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::Int(max_surge)),
            max_unavailable: Some(IntOrString::Int(max_unavailable)),
        }),
    }
}

pub(crate) fn selector_labels(c: &DeployConfig, component: &str) -> BTreeMap<String, String> {
    [("app.kubernetes.io/name", c.app.name.as_str()), ("app.kubernetes.io/component", component)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn meta(c: &DeployConfig, name: String, component: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name), namespace: Some(c.app.namespace.clone()), labels: Some(labels(c, component)), ..Default::default() }
}

/// Non-secret settings shared by both roles.
fn config_map(c: &DeployConfig) -> ConfigMap {
    let mut data = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        data.insert(k.to_string(), v.to_string());
    };
    put(S::TEMPORAL_ADDRESS.env, &c.temporal.address);
    put(S::TEMPORAL_NAMESPACE.env, &c.temporal.namespace);
    put(S::WORKER_TASK_QUEUE.env, c.task_queue());
    put(S::LOG_FORMAT.env, "json");
    put(S::ADMIN_PORT.env, &admin_port().to_string());
    match c.temporal.auth {
        Auth::None => {}
        Auth::Mtls => put(S::TEMPORAL_TLS_CERT_DIR.env, TLS_DIR),
        Auth::ApiKey => put(S::TEMPORAL_TLS.env, "true"),
    }
    if let Some(name) = &c.temporal.server_name {
        put(S::TEMPORAL_TLS_SERVER_NAME.env, name);
    }
    if let Some(endpoint) = &c.monitoring.otlp_endpoint {
        put(S::LOG_OTLP_ENDPOINT.env, endpoint);
    }
    ConfigMap { metadata: meta(c, format!("{}-config", c.app.name), "config"), data: Some(data), ..Default::default() }
}

/// The environment a role's container starts with: the shared ConfigMap, then its own env
/// (which Kubernetes lets override the ConfigMap). What the binary in it will check.
pub(crate) fn container_env(c: &DeployConfig, config: &RoleConfig, role: Role) -> BTreeMap<String, String> {
    let mut env = config_map(c).data.unwrap_or_default();
    env.extend(role_env(c, config, role));
    env
}

/// Each role's container env from the app's image, with the deploy config table its own
/// settings come from (for messages).
pub(crate) fn containers_env(c: &DeployConfig) -> Vec<(Role, &'static str, BTreeMap<String, String>)> {
    let mut out = vec![if is_sdk_worker(c, Role::Worker) {
        // The worker is not a tk8s binary; its companion is, with the ConfigMap's settings.
        let mut env = config_map(c).data.unwrap_or_default();
        env.extend(companion_env(c));
        (Role::Companion, "worker", env)
    } else {
        (Role::Worker, "worker.settings", container_env(c, &c.worker, Role::Worker))
    }];
    if let Some(o) = &c.orchestrator {
        out.push((Role::Orchestrator, "orchestrator.settings", container_env(c, &o.role, Role::Orchestrator)));
    }
    if let Some(a) = scaler_autoscaling(c) {
        out.push((Role::Scaler, "worker.autoscaling.scaler_settings", container_env(c, &scaler_role(c, a), Role::Scaler)));
    }
    out
}

/// Whether the temporal-worker-controller runs this role (it then supplies the connection:
/// address, namespace, mTLS mount or API key, Worker Versioning env).
fn controller_managed(c: &DeployConfig, role: Role) -> bool {
    role == Role::Worker && c.worker.controller.is_some()
}

/// A role's container env: its settings, the drain grace, and the API key file it mounts.
pub(crate) fn role_env(c: &DeployConfig, config: &RoleConfig, role: Role) -> BTreeMap<String, String> {
    if is_sdk_worker(c, role) {
        return sdk_env(c);
    }
    let mut env = config.settings.clone();
    env.insert(S::SHUTDOWN_GRACE.env.into(), config.shutdown_grace.to_string());
    // Only the roles that mount the keys are told where they are (an SDK worker's companion
    // reads the ConfigMap too, and has no keys).
    if c.encryption.is_some() {
        env.insert(S::CODEC_KEYS_DIR.env.into(), CODEC_KEYS_DIR.into());
    }
    if c.temporal.auth == Auth::ApiKey && !controller_managed(c, role) {
        env.insert(S::TEMPORAL_API_KEY_FILE.env.into(), format!("{API_KEY_DIR}/api-key"));
    }
    env
}

fn service_account(c: &DeployConfig, role: Role) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(c, format!("{}-{role}", c.app.name), role.name()),
        automount_service_account_token: Some(false),
        ..Default::default()
    }
}

/// A ClusterIP Service for one named container port of a component's pods.
pub(crate) fn service(c: &DeployConfig, name: String, component: &str, port_name: &str, port: i32) -> Service {
    Service {
        metadata: meta(c, name, component),
        spec: Some(ServiceSpec {
            selector: Some(selector_labels(c, component)),
            ports: Some(vec![ServicePort {
                name: Some(port_name.into()),
                port,
                target_port: Some(IntOrString::String(port_name.into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Every object for one configuration, in a stable order.
pub fn objects(c: &DeployConfig) -> Vec<Object> {
    let worker = deployment(c, &c.worker, Role::Worker);
    let mut out = vec![obj("configmap.yaml", &config_map(c)), obj("serviceaccount-worker.yaml", &service_account(c, Role::Worker))];
    match worker_deployment(c, &worker) {
        Some(wd) => out.extend([connection(c), wd]),
        None => out.push(obj("deployment-worker.yaml", &worker)),
    }
    out.extend([
        obj("service-worker-metrics.yaml", &metrics_service(c, Role::Worker)),
        obj("pdb-worker.yaml", &pdb(c)),
        obj("networkpolicy.yaml", &network_policy(c)),
    ]);
    match hpa(c) {
        Some(h) if c.worker.controller.is_some() => {
            let value = obj("", &h).value;
            out.push(per_build(c, "hpa", value, "/spec/scaleTargetRef"));
        }
        Some(h) => out.push(obj("hpa-worker.yaml", &h)),
        None => {}
    }
    out.extend(scaled_object(c));
    out.extend(scaler_objects(c));
    out.extend(vpa(c, &c.worker, Role::Worker));
    out.extend(secret_provider_class(c));
    out.extend(replay_gate(c));
    if c.monitoring.prometheus_operator {
        out.push(service_monitor(c));
        out.push(prometheus_rule(c));
    }
    if c.monitoring.grafana_dashboard {
        out.push(obj("configmap-dashboard.yaml", &dashboard(c)));
    }
    out.extend(crate::codec_server::objects(c));
    if let Some(o) = &c.orchestrator {
        out.push(obj("serviceaccount-orchestrator.yaml", &service_account(c, Role::Orchestrator)));
        out.push(obj("deployment-orchestrator.yaml", &deployment(c, &o.role, Role::Orchestrator)));
        out.push(obj("service-orchestrator-metrics.yaml", &metrics_service(c, Role::Orchestrator)));
        out.extend(vpa(c, &o.role, Role::Orchestrator));
    }
    out
}
