//! The `scaler` role's objects, rendered when the worker autoscales on signal `tk8s`: its
//! Deployment (one replica: one decision, one scale-down window), a Service for KEDA's gRPC
//! calls, a metrics Service for Prometheus, and a NetworkPolicy that lets KEDA in and lets it read
//! the workers' `/metrics` (the slots in use). The workers' metrics Service is headless so that
//! its name resolves to every worker pod.

use super::*;
use crate::deploy::{Autoscaling, Signal};

/// The worker's autoscaling when the scaler decides it (signal `tk8s`, no controller).
pub(crate) fn scaler_autoscaling(c: &DeployConfig) -> Option<&Autoscaling> {
    c.worker.autoscaling.as_ref().filter(|a| a.mode != Autoscaler::None && a.signal(c.backlog_by_default()) == Signal::Tk8s)
}

/// The scaler's gRPC port (KEDA's external scaler protocol), from the settings table.
pub fn scaler_port() -> i32 {
    S::SCALER_PORT.default_int().and_then(|p| i32::try_from(p).ok()).unwrap_or(9100)
}

/// Where KEDA reaches the scaler.
pub(crate) fn scaler_address(c: &DeployConfig) -> String {
    format!("{}-scaler.{}.svc.cluster.local:{}", c.app.name, c.app.namespace, scaler_port())
}

/// The scaler as a role: small, one replica, the decision's bounds and window from the config.
pub(crate) fn scaler_role(c: &DeployConfig, a: &Autoscaling) -> RoleConfig {
    let mut settings = a.scaler_settings.clone();
    settings.insert(S::SCALER_MIN_REPLICAS.env.into(), a.min_replicas.to_string());
    settings.insert(S::SCALER_MAX_REPLICAS.env.into(), a.max_replicas.to_string());
    settings.insert(S::SCALER_SCALE_DOWN_WINDOW.env.into(), a.scale_down_window.to_string());
    settings.insert(
        S::SCALER_WORKER_METRICS.env.into(),
        format!("{}-worker-metrics.{}.svc.cluster.local:{}", c.app.name, c.app.namespace, admin_port()),
    );
    RoleConfig {
        replicas: 1,
        resources: Resources {
            cpu_request: "50m".into(),
            cpu_limit: Some("250m".into()),
            memory_request: "64Mi".into(),
            memory_limit: "128Mi".into(),
        },
        shutdown_grace: Span::seconds(5),
        autoscaling: None,
        max_unavailable: 0,
        max_surge: 1,
        vpa: None,
        spread: false,
        readiness_gates: Vec::new(),
        settings,
        controller: None,
        sdk: Default::default(),
        image: None,
        command: Vec::new(),
        args: Vec::new(),
        env: Default::default(),
        graceful_shutdown: None,
        metrics_port: None,
        replay_gate: None,
    }
}

/// The scaler container's env, when the scaler is rendered.
pub(crate) fn scaler_env(c: &DeployConfig) -> Option<BTreeMap<String, String>> {
    scaler_autoscaling(c).map(|a| role_env(c, &scaler_role(c, a), Role::Scaler))
}

/// Pods of one component of this app, in the app's namespace.
pub(crate) fn component_pods(c: &DeployConfig, component: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector { match_labels: Some(selector_labels(c, component)), ..Default::default() }),
        ..Default::default()
    }
}

fn scaler_network_policy(c: &DeployConfig, a: &Autoscaling) -> NetworkPolicy {
    let ingress = (a.mode == Autoscaler::Keda)
        .then(|| NetworkPolicyIngressRule { from: Some(vec![ns(&a.keda_namespace)]), ports: Some(vec![port(scaler_port(), "TCP")]) });
    NetworkPolicy {
        metadata: meta(c, format!("{}-scaler", c.app.name), "network"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector { match_labels: Some(selector_labels(c, Role::Scaler.name())), ..Default::default() }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(ingress.into_iter().collect()),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![component_pods(c, Role::Worker.name())]),
                ports: Some(vec![port(admin_port(), "TCP")]),
            }]),
        }),
    }
}

/// Everything the scaler needs, or nothing when another signal is in force.
pub(crate) fn scaler_objects(c: &DeployConfig) -> Vec<Object> {
    let Some(a) = scaler_autoscaling(c) else { return Vec::new() };
    let role = scaler_role(c, a);
    vec![
        obj("serviceaccount-scaler.yaml", &service_account(c, Role::Scaler)),
        obj("deployment-scaler.yaml", &deployment(c, &role, Role::Scaler)),
        obj(
            "service-scaler.yaml",
            &service(c, format!("{}-{}", c.app.name, Role::Scaler), Role::Scaler.name(), Role::Scaler.name(), scaler_port()),
        ),
        obj("service-scaler-metrics.yaml", &metrics_service(c, Role::Scaler)),
        obj("networkpolicy-scaler.yaml", &scaler_network_policy(c, a)),
    ]
}
