//! From a deploy config to Kubernetes objects, built with typed `k8s-openapi` structs. Ports,
//! probe paths and defaults come from `tk8s-config`'s settings table, the same source the binary
//! reads, so a rendered manifest cannot disagree with the binary it runs.

use tk8s_config::spec as S;
use crate::deploy::{Auth, DeployConfig, Resources, Role, Scaler, go_duration, grace};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, ExternalMetricSource, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec,
    MetricIdentifier, MetricSpec, MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    CSIVolumeSource, Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar, HTTPGetAction,
    PodReadinessGate, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretVolumeSource,
    SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec, TopologySpreadConstraint, Volume, VolumeMount,
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
    if c.encryption.is_some() {
        put(S::CODEC_KEYS_DIR.env, CODEC_KEYS_DIR);
    }
    if let Some(endpoint) = &c.monitoring.otlp_endpoint {
        put(S::LOG_OTLP_ENDPOINT.env, endpoint);
    }
    ConfigMap { metadata: meta(c, format!("{}-config", c.app.name), "config"), data: Some(data), ..Default::default() }
}

/// An HTTP GET probe on the container port named `port`.
pub(crate) fn http_probe(port: &str, path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction { path: Some(path.into()), port: IntOrString::String(port.into()), ..Default::default() }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Default::default()
    }
}

pub(crate) fn quantity(s: &str) -> Quantity {
    Quantity(s.to_string())
}

pub(crate) fn secret_volume(name: &str, secret: &str) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource { secret_name: Some(secret.into()), default_mode: Some(0o440), ..Default::default() }),
        ..Default::default()
    }
}

/// Whether the temporal-worker-controller runs this role (it then supplies the connection:
/// address, namespace, mTLS mount or API key, Worker Versioning env).
fn controller_managed(c: &DeployConfig, component: &str) -> bool {
    component == "worker" && c.worker.controller.is_some()
}

/// A role's container env: its settings, the drain grace, and the API key file it mounts.
pub(crate) fn role_env(c: &DeployConfig, role: &Role, component: &str) -> BTreeMap<String, String> {
    let mut env = role.settings.clone();
    env.insert(S::SHUTDOWN_GRACE.env.into(), role.shutdown_grace.clone());
    if c.temporal.auth == Auth::ApiKey && !controller_managed(c, component) {
        env.insert(S::TEMPORAL_API_KEY_FILE.env.into(), format!("{API_KEY_DIR}/api-key"));
    }
    env
}

/// Pod annotations for Prometheus' annotation-based discovery.
pub(crate) fn scrape_annotations(port: i32) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("prometheus.io/scrape".to_string(), "true".to_string()),
        ("prometheus.io/port".to_string(), port.to_string()),
        ("prometheus.io/path".to_string(), "/metrics".to_string()),
    ])
}

/// The deploy config's reasoned checkov skips, as `checkov.io/skip<n>` annotations.
pub(crate) fn skip_annotations(c: &DeployConfig) -> BTreeMap<String, String> {
    c.skip_checks.iter().enumerate().map(|(i, s)| (format!("checkov.io/skip{}", i + 1), format!("{}={}", s.id, s.reason))).collect()
}

/// The codec keys, from a Secret or through the Secrets Store CSI driver.
pub(crate) fn codec_keys_volume(c: &DeployConfig) -> Option<Volume> {
    let e = c.encryption.as_ref()?;
    Some(match &e.secret_provider {
        Some(_) => Volume {
            name: "codec-keys".into(),
            csi: Some(CSIVolumeSource {
                driver: "secrets-store.csi.k8s.io".into(),
                read_only: Some(true),
                volume_attributes: Some(BTreeMap::from([("secretProviderClass".to_string(), e.key_secret.clone())])),
                ..Default::default()
            }),
            ..Default::default()
        },
        None => secret_volume("codec-keys", &e.key_secret),
    })
}

/// Every container: no privilege escalation, read-only root, non-root, no capabilities, seccomp.
pub(crate) fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Default::default() }),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
        ..Default::default()
    }
}

/// Every pod: the distroless image's non-root user, seccomp RuntimeDefault.
pub(crate) fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(65532),
        run_as_group: Some(65532),
        fs_group: Some(65532),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
        ..Default::default()
    }
}

pub(crate) fn resource_requirements(r: &Resources) -> ResourceRequirements {
    let mut limits = BTreeMap::from([("memory".to_string(), quantity(&r.memory_limit))]);
    if let Some(cpu) = &r.cpu_limit {
        limits.insert("cpu".into(), quantity(cpu));
    }
    ResourceRequirements {
        requests: Some(BTreeMap::from([("cpu".into(), quantity(&r.cpu_request)), ("memory".into(), quantity(&r.memory_request))])),
        limits: Some(limits),
        ..Default::default()
    }
}

/// Spread a component's pods across zones and nodes.
pub(crate) fn spread_constraints(c: &DeployConfig, component: &str) -> Vec<TopologySpreadConstraint> {
    ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
        .iter()
        .map(|key| TopologySpreadConstraint {
            max_skew: 1,
            topology_key: key.to_string(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            label_selector: Some(LabelSelector { match_labels: Some(selector_labels(c, component)), ..Default::default() }),
            ..Default::default()
        })
        .collect()
}

fn deployment(c: &DeployConfig, role: &Role, component: &str) -> Deployment {
    let name = format!("{}-{component}", c.app.name);
    let managed = controller_managed(c, component);
    let env: Vec<EnvVar> =
        role_env(c, role, component).into_iter().map(|(k, v)| EnvVar { name: k, value: Some(v), ..Default::default() }).collect();
    let (mut volumes, mut mounts) = (Vec::new(), Vec::new());
    let mut mount = |volume: Volume, path: &str| {
        mounts.push(VolumeMount { name: volume.name.clone(), mount_path: path.into(), read_only: Some(true), ..Default::default() });
        volumes.push(volume);
    };
    match (c.temporal.auth, &c.temporal.tls_secret, &c.temporal.api_key_secret) {
        _ if managed => {} // the controller mounts or injects the credentials itself
        (Auth::Mtls, Some(secret), _) => mount(secret_volume("temporal-tls", secret), TLS_DIR),
        (Auth::ApiKey, _, Some(secret)) => mount(secret_volume("temporal-api-key", secret), API_KEY_DIR),
        _ => {}
    }
    if let Some(v) = codec_keys_volume(c) {
        mount(v, CODEC_KEYS_DIR);
    }
    let image = format!("{}:{}", c.app.image, c.app.tag);
    let security = container_security();
    let env_from = vec![EnvFromSource {
        config_map_ref: Some(ConfigMapEnvSource { name: format!("{}-config", c.app.name), ..Default::default() }),
        ..Default::default()
    }];
    let resources = resource_requirements(&role.resources);
    let container = Container {
        name: component.into(),
        image: Some(image.clone()),
        image_pull_policy: Some("Always".into()),
        args: Some(vec![component.into()]),
        env_from: Some(env_from.clone()),
        env: Some(env.clone()),
        ports: Some(vec![ContainerPort { name: Some("admin".into()), container_port: admin_port(), protocol: Some("TCP".into()), ..Default::default() }]),
        startup_probe: Some(http_probe("admin", "/startupz", 2, 60)),
        readiness_probe: Some(http_probe("admin", "/readyz", 5, 2)),
        liveness_probe: Some(http_probe("admin", "/livez", 10, 3)),
        resources: Some(resources.clone()),
        security_context: Some(security.clone()),
        volume_mounts: (!mounts.is_empty()).then(|| mounts.clone()),
        ..Default::default()
    };
    // Waits for Temporal with the app's own check (no curl in a distroless image).
    let wait = Container {
        name: "wait-for-temporal".into(),
        image: Some(image),
        image_pull_policy: Some("Always".into()),
        args: Some(vec!["check".into()]),
        env_from: Some(env_from),
        env: Some(vec![EnvVar { name: S::TEMPORAL_CONNECT_TIMEOUT.env.into(), value: Some("120s".into()), ..Default::default() }]),
        resources: Some(resources),
        security_context: Some(security),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        ..Default::default()
    };
    let spread = role.spread.then(|| spread_constraints(c, component));
    let grace_s = grace(role).as_secs() as i64 + hard_deadline_s() + KILL_MARGIN_S;
    let mut annotations = scrape_annotations(admin_port());
    // An autoscaled worker leaves `replicas` to the HPA or KEDA.
    let replicas = match &role.autoscaling {
        Some(a) if a.mode != Scaler::None => None,
        _ => Some(role.replicas),
    };
    let mut metadata = meta(c, name.clone(), component);
    let skips = skip_annotations(c);
    if managed {
        // The controller copies the template's annotations onto each Deployment it creates.
        annotations.extend(skips);
    } else if !skips.is_empty() {
        metadata.annotations = Some(skips);
    }
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas,
            revision_history_limit: Some(5),
            selector: LabelSelector { match_labels: Some(selector_labels(c, component)), ..Default::default() },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(role.max_surge)),
                    max_unavailable: Some(IntOrString::Int(if component == "orchestrator" { 0 } else { role.max_unavailable })),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels(c, component)), annotations: Some(annotations), ..Default::default() }),
                spec: Some(PodSpec {
                    service_account_name: Some(name.clone()),
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(grace_s),
                    security_context: Some(pod_security()),
                    // A controller-managed worker gets its connection only in the main container, and
                    // the controller promotes a build only once its pollers are up.
                    init_containers: (!managed).then(|| vec![wait]),
                    containers: vec![container],
                    topology_spread_constraints: spread,
                    readiness_gates: (!role.readiness_gates.is_empty()).then(|| {
                        role.readiness_gates.iter().map(|t| PodReadinessGate { condition_type: t.clone() }).collect()
                    }),
                    volumes: (!volumes.is_empty()).then_some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn service_account(c: &DeployConfig, component: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(c, format!("{}-{component}", c.app.name), component),
        automount_service_account_token: Some(false),
        ..Default::default()
    }
}

fn metrics_service(c: &DeployConfig, component: &str) -> Service {
    service(c, format!("{}-{component}-metrics", c.app.name), component, "admin", admin_port())
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

fn pdb(c: &DeployConfig) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(c, format!("{}-worker", c.app.name), "worker"),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(c.worker.max_unavailable)),
            selector: Some(LabelSelector { match_labels: Some(selector_labels(c, "worker")), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn hpa(c: &DeployConfig) -> Option<HorizontalPodAutoscaler> {
    let a = c.worker.autoscaling.as_ref().filter(|a| a.mode == Scaler::Hpa)?;
    let name = format!("{}-worker", c.app.name);
    let (backlog_metric, backlog_labels) = if c.worker.controller.is_some() {
        // Per build: the controller adds the build's identity labels to this selector.
        ("temporal_approximate_backlog_count", BTreeMap::from([("task_type".to_string(), "Activity".to_string())]))
    } else {
        (
            "tk8s_task_queue_backlog",
            BTreeMap::from([("task_queue".to_string(), c.task_queue().to_string()), ("task_type".to_string(), "activity".to_string())]),
        )
    };
    Some(HorizontalPodAutoscaler {
        metadata: meta(c, name.clone(), "worker"),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference { api_version: Some("apps/v1".into()), kind: "Deployment".into(), name },
            min_replicas: Some(a.min_replicas),
            max_replicas: a.max_replicas,
            metrics: Some(vec![
                MetricSpec {
                    type_: "Resource".into(),
                    resource: Some(ResourceMetricSource {
                        name: "cpu".into(),
                        target: MetricTarget { type_: "Utilization".into(), average_utilization: Some(a.cpu_utilization), ..Default::default() },
                    }),
                    ..Default::default()
                },
                MetricSpec {
                    type_: "External".into(),
                    external: Some(ExternalMetricSource {
                        metric: MetricIdentifier {
                            name: backlog_metric.into(),
                            selector: Some(LabelSelector { match_labels: Some(backlog_labels), ..Default::default() }),
                        },
                        target: MetricTarget { type_: "AverageValue".into(), average_value: Some(quantity(&a.backlog_per_pod.to_string())), ..Default::default() },
                    }),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// KEDA's ScaledObject (a CRD: kept as JSON) with KEDA's `temporal` trigger.
fn scaled_object(c: &DeployConfig) -> Option<Object> {
    let a = c.worker.autoscaling.as_ref().filter(|a| a.mode == Scaler::Keda)?;
    let mut metadata = json!({
        "endpoint": c.temporal.address,
        "namespace": c.temporal.namespace,
        "taskQueue": c.task_queue(),
        "targetQueueSize": a.backlog_per_pod.to_string(),
        "queueTypes": "workflow,activity",
    });
    if c.temporal.auth == Auth::ApiKey {
        metadata["apiKeyFromEnv"] = json!(S::TEMPORAL_API_KEY.env);
    }
    Some(Object {
        file: "scaledobject-worker.yaml".into(),
        value: json!({
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": { "name": format!("{}-worker", c.app.name), "namespace": c.app.namespace, "labels": labels(c, "worker") },
            "spec": {
                "scaleTargetRef": { "name": format!("{}-worker", c.app.name) },
                "minReplicaCount": a.min_replicas,
                "maxReplicaCount": a.max_replicas,
                "triggers": [ { "type": "temporal", "metadata": metadata } ],
            },
        }),
    })
}

/// A NetworkPolicy port.
pub(crate) fn port(p: i32, proto: &str) -> NetworkPolicyPort {
    NetworkPolicyPort { port: Some(IntOrString::Int(p)), protocol: Some(proto.into()), ..Default::default() }
}

/// A NetworkPolicy peer: every pod of one namespace.
pub(crate) fn ns(name: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([("kubernetes.io/metadata.name".to_string(), name.to_string())])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Egress to the cluster DNS.
pub(crate) fn dns_egress() -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule { to: Some(vec![ns("kube-system")]), ports: Some(vec![port(53, "UDP"), port(53, "TCP")]) }
}

fn network_policy(c: &DeployConfig) -> NetworkPolicy {
    let temporal_port = c.temporal.address.rsplit_once(':').and_then(|(_, p)| p.parse::<i32>().ok()).unwrap_or(7233);
    NetworkPolicy {
        metadata: meta(c, c.app.name.clone(), "network"),
        spec: Some(NetworkPolicySpec {
            // The Temporal roles; the codec server has its own policy.
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([("app.kubernetes.io/name".to_string(), c.app.name.clone())])),
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "app.kubernetes.io/component".into(),
                    operator: "In".into(),
                    values: Some(vec!["worker".into(), "orchestrator".into()]),
                }]),
            }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule { from: Some(vec![ns(&c.monitoring.namespace)]), ports: Some(vec![port(admin_port(), "TCP")]) }]),
            egress: Some(
                [
                    Some(dns_egress()),
                    Some(NetworkPolicyEgressRule { to: None, ports: Some(vec![port(temporal_port, "TCP")]) }),
                    c.monitoring.otlp_port().map(|p| NetworkPolicyEgressRule { to: None, ports: Some(vec![port(p, "TCP")]) }),
                ]
                .into_iter()
                .flatten()
                .collect(),
            ),
        }),
    }
}

/// Alert rules (Prometheus rule groups): worker not ready, backlog growing, poll failures, slow
/// schedule-to-start. Rendered as a PrometheusRule and as a plain rules file for promtool.
pub fn alert_groups(c: &DeployConfig) -> Value {
    let tq = c.task_queue();
    let ns = &c.app.namespace;
    let rule = |alert: &str, expr: String, r#for: &str, severity: &str, summary: &str, description: &str| {
        json!({
            "alert": alert,
            "expr": expr,
            "for": r#for,
            "labels": { "severity": severity },
            "annotations": { "summary": summary, "description": description },
        })
    };
    json!([{
        "name": format!("{}-temporal", c.app.name),
        "rules": [
            rule("TemporalWorkerNotReady",
                 format!("min by (namespace, pod) (tk8s_ready{{namespace=\"{ns}\"}}) == 0"), "5m", "warning",
                 "A temporal-k8s host has been unready for 5 minutes",
                 "{{ $labels.pod }} answers 503 on /readyz: not connected to Temporal, polls failing, or stuck draining. See its /readyz body."),
            rule("TemporalBacklogGrowing",
                 format!("tk8s_task_queue_backlog{{task_queue=\"{tq}\"}} > 100 and deriv(tk8s_task_queue_backlog{{task_queue=\"{tq}\"}}[10m]) > 0"), "15m", "warning",
                 "Task queue backlog above 100 and still growing",
                 "{{ $labels.task_type }} backlog on {{ $labels.task_queue }} is {{ $value }}: workers cannot keep up (check autoscaling limits and worker errors)."),
            rule("TemporalPollFailures",
                 format!("sum by (namespace, pod) (rate(temporal_long_request_failure_total{{namespace=\"{ns}\",operation=~\"Poll.*\"}}[5m])) > 0"), "10m", "critical",
                 "Task queue polls keep failing",
                 "{{ $labels.pod }} cannot poll Temporal: check connectivity, TLS material and credentials."),
            rule("TemporalClientCertificateExpiringSoon",
                 format!("min by (namespace, pod) (tk8s_client_certificate_expiry_timestamp_seconds{{namespace=\"{ns}\"}}) - time() < 7 * 86400"), "10m", "warning",
                 "A Temporal client certificate expires within 7 days",
                 "{{ $labels.pod }} presents a client certificate that expires in {{ $value | humanizeDuration }}: check that it is being renewed (e.g. by cert-manager); once it expires the host cannot connect to Temporal."),
            rule("TemporalScheduleToStartSlow",
                 format!("histogram_quantile(0.95, sum by (le, task_queue) (rate(temporal_activity_schedule_to_start_latency_seconds_bucket{{task_queue=\"{tq}\"}}[5m]))) > 10"), "10m", "warning",
                 "Activities wait more than 10 s to start (p95)",
                 "Workers on {{ $labels.task_queue }} lack slots or replicas."),
        ]
    }])
}

/// Secrets Store CSI: the codec keys come from an external store (CRD, kept as JSON).
fn secret_provider_class(c: &DeployConfig) -> Option<Object> {
    let e = c.encryption.as_ref()?;
    let p = e.secret_provider.as_ref()?;
    Some(Object {
        file: "secretproviderclass-codec-keys.yaml".into(),
        value: json!({
            "apiVersion": "secrets-store.csi.x-k8s.io/v1",
            "kind": "SecretProviderClass",
            "metadata": { "name": e.key_secret, "namespace": c.app.namespace, "labels": labels(c, "encryption") },
            "spec": { "provider": p.provider, "parameters": p.parameters },
        }),
    })
}

/// VerticalPodAutoscaler (CRD, kept as JSON). Memory only when an HPA already scales on CPU.
fn vpa(c: &DeployConfig, role: &Role, component: &str) -> Option<Object> {
    let mode = role.vpa.as_ref()?;
    let hpa_on_cpu = component == "worker" && role.autoscaling.as_ref().is_some_and(|a| a.mode == Scaler::Hpa);
    let resources = if hpa_on_cpu { json!(["memory"]) } else { json!(["cpu", "memory"]) };
    let name = format!("{}-{component}", c.app.name);
    let value = json!({
        "apiVersion": "autoscaling.k8s.io/v1",
        "kind": "VerticalPodAutoscaler",
        "metadata": { "name": name, "namespace": c.app.namespace, "labels": labels(c, component) },
        "spec": {
            "targetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": name },
            "updatePolicy": { "updateMode": mode },
            "resourcePolicy": { "containerPolicies": [{ "containerName": component, "controlledResources": resources }] },
        },
    });
    Some(if controller_managed(c, component) {
        per_build(c, "vpa", value, "/spec/targetRef")
    } else {
        Object { file: format!("vpa-{component}.yaml"), value }
    })
}

/// The temporal-worker-controller's API group and version.
pub const CONTROLLER_API: &str = "temporal.io/v1alpha1";

/// The controller's `Connection`: where Temporal is and which Secret holds the credentials.
fn connection(c: &DeployConfig) -> Object {
    let mut spec = json!({ "hostPort": c.temporal.address });
    if let Some(name) = &c.temporal.server_name {
        spec["tls"] = json!({ "serverName": name });
    }
    match (c.temporal.auth, &c.temporal.tls_secret, &c.temporal.api_key_secret) {
        (Auth::Mtls, Some(secret), _) => spec["mutualTLSSecretRef"] = json!({ "name": secret }),
        (Auth::ApiKey, _, Some(secret)) => spec["apiKeySecretRef"] = json!({ "name": secret, "key": "api-key" }),
        _ => {}
    }
    Object {
        file: "connection.yaml".into(),
        value: json!({
            "apiVersion": CONTROLLER_API,
            "kind": "Connection",
            "metadata": { "name": c.app.name, "namespace": c.app.namespace, "labels": labels(c, "worker") },
            "spec": spec,
        }),
    }
}

/// The controller's `WorkerDeployment`: the worker's pod template plus the rollout policy. The
/// controller creates one Deployment per build from it and injects TEMPORAL_ADDRESS,
/// TEMPORAL_NAMESPACE, TEMPORAL_DEPLOYMENT_NAME, TEMPORAL_WORKER_BUILD_ID and the credentials.
fn worker_deployment(c: &DeployConfig, plain: &Deployment) -> Option<Object> {
    let wc = c.worker.controller.as_ref()?;
    let spec = plain.spec.as_ref()?;
    let mut rollout = json!({ "strategy": wc.rollout.crd_name() });
    if !wc.steps.is_empty() {
        rollout["steps"] =
            wc.steps.iter().map(|s| json!({ "rampPercentage": s.ramp_percentage, "pauseDuration": go_duration(&s.pause) })).collect();
    }
    if let Some(gate) = &wc.gate_workflow {
        rollout["gate"] = json!({ "workflowType": gate });
    }
    let mut wd_spec = json!({
        "template": serde_json::to_value(&spec.template).unwrap_or(Value::Null),
        "rollout": rollout,
        "sunset": { "scaledownDelay": go_duration(&wc.scaledown_delay), "deleteDelay": go_duration(&wc.delete_delay) },
        "workerOptions": { "connectionRef": { "name": c.app.name }, "temporalNamespace": c.temporal.namespace },
    });
    if let Some(r) = spec.replicas {
        wd_spec["replicas"] = json!(r);
    }
    Some(Object {
        file: "workerdeployment-worker.yaml".into(),
        value: json!({
            "apiVersion": CONTROLLER_API,
            "kind": "WorkerDeployment",
            "metadata": serde_json::to_value(&plain.metadata).unwrap_or(Value::Null),
            "spec": wd_spec,
        }),
    })
}

/// A `WorkerResourceTemplate`: the controller stamps out one copy of `object` per running worker
/// build, filling the `{}` left at `target` with that build's Deployment.
fn per_build(c: &DeployConfig, what: &str, mut object: Value, target: &str) -> Object {
    if let Some(t) = object.pointer_mut(target) {
        *t = json!({});
    }
    if let Value::Object(m) = &mut object {
        m.remove("metadata");
    }
    let name = format!("{}-worker-{what}", c.app.name);
    Object {
        file: format!("workerresourcetemplate-{what}.yaml"),
        value: json!({
            "apiVersion": CONTROLLER_API,
            "kind": "WorkerResourceTemplate",
            "metadata": { "name": name, "namespace": c.app.namespace, "labels": labels(c, "worker") },
            "spec": { "workerDeploymentRef": { "name": format!("{}-worker", c.app.name) }, "template": object },
        }),
    }
}

fn service_monitor(c: &DeployConfig) -> Object {
    Object {
        file: "servicemonitor.yaml".into(),
        value: json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": { "name": c.app.name, "namespace": c.app.namespace, "labels": labels(c, "monitoring") },
            "spec": {
                "selector": { "matchLabels": { "app.kubernetes.io/name": c.app.name } },
                "namespaceSelector": { "matchNames": [c.app.namespace] },
                "endpoints": [{ "port": "admin", "path": "/metrics", "interval": "30s" }],
            },
        }),
    }
}

/// Grafana dashboard panels: (title, PromQL). Every expression is checked by promtool in a test.
pub fn dashboard_panels(c: &DeployConfig) -> Vec<(&'static str, String)> {
    let (ns, tq) = (&c.app.namespace, c.task_queue());
    vec![
        ("Ready pods", format!("sum by (pod) (tk8s_ready{{namespace=\"{ns}\"}})")),
        ("Task queue backlog", format!("max by (task_type) (tk8s_task_queue_backlog{{task_queue=\"{tq}\"}})")),
        ("Workflows completed / s", format!("sum(rate(temporal_workflow_completed_total{{task_queue=\"{tq}\"}}[5m]))")),
        ("Workflows failed / s", format!("sum(rate(temporal_workflow_failed_total{{task_queue=\"{tq}\"}}[5m]))")),
        ("Activity schedule-to-start p95 (s)", format!("histogram_quantile(0.95, sum by (le) (rate(temporal_activity_schedule_to_start_latency_seconds_bucket{{task_queue=\"{tq}\"}}[5m])))")),
        ("Slot utilisation", format!("max by (worker_type) (tk8s_worker_slot_utilization_ratio{{namespace=\"{ns}\"}})")),
        ("Poll failures / s", format!("sum by (operation) (rate(temporal_long_request_failure_total{{namespace=\"{ns}\",operation=~\"Poll.*\"}}[5m]))")),
    ]
}

fn dashboard(c: &DeployConfig) -> ConfigMap {
    let panels: Vec<Value> = dashboard_panels(c)
        .into_iter()
        .enumerate()
        .map(|(i, (title, expr))| json!({
            "id": i + 1,
            "title": title,
            "type": "timeseries",
            "datasource": { "type": "prometheus", "uid": "${datasource}" },
            "gridPos": { "h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8 },
            "targets": [{ "refId": "A", "expr": expr }],
        }))
        .collect();
    let dashboard = json!({
        "title": format!("{} (temporal-k8s)", c.app.name),
        "uid": format!("tk8s-{}", c.app.name),
        "schemaVersion": 39,
        "tags": ["temporal", "tk8s"],
        "time": { "from": "now-6h", "to": "now" },
        "templating": { "list": [{ "name": "datasource", "type": "datasource", "query": "prometheus" }] },
        "panels": panels,
    });
    let mut meta = meta(c, format!("{}-dashboard", c.app.name), "monitoring");
    if let Some(l) = meta.labels.as_mut() {
        l.insert("grafana_dashboard".into(), "1".into());
    }
    ConfigMap {
        metadata: meta,
        data: Some(BTreeMap::from([(format!("{}.json", c.app.name), serde_json::to_string_pretty(&dashboard).unwrap_or_default())])),
        ..Default::default()
    }
}

fn prometheus_rule(c: &DeployConfig) -> Object {
    Object {
        file: "prometheusrule.yaml".into(),
        value: json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": { "name": c.app.name, "namespace": c.app.namespace, "labels": labels(c, "monitoring") },
            "spec": { "groups": alert_groups(c) },
        }),
    }
}

/// Every object for one configuration, in a stable order.
pub fn objects(c: &DeployConfig) -> Vec<Object> {
    let worker = deployment(c, &c.worker, "worker");
    let mut out = vec![obj("configmap.yaml", &config_map(c)), obj("serviceaccount-worker.yaml", &service_account(c, "worker"))];
    match worker_deployment(c, &worker) {
        Some(wd) => out.extend([connection(c), wd]),
        None => out.push(obj("deployment-worker.yaml", &worker)),
    }
    out.extend([
        obj("service-worker-metrics.yaml", &metrics_service(c, "worker")),
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
    out.extend(vpa(c, &c.worker, "worker"));
    out.extend(secret_provider_class(c));
    if c.monitoring.prometheus_operator {
        out.push(service_monitor(c));
        out.push(prometheus_rule(c));
    }
    if c.monitoring.grafana_dashboard {
        out.push(obj("configmap-dashboard.yaml", &dashboard(c)));
    }
    out.extend(crate::codec_server::objects(c));
    if let Some(o) = &c.orchestrator {
        out.push(obj("serviceaccount-orchestrator.yaml", &service_account(c, "orchestrator")));
        out.push(obj("deployment-orchestrator.yaml", &deployment(c, &o.role, "orchestrator")));
        out.push(obj("service-orchestrator-metrics.yaml", &metrics_service(c, "orchestrator")));
        out.extend(vpa(c, &o.role, "orchestrator"));
    }
    out
}
