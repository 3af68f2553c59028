//! NetworkPolicies: default deny, DNS and Temporal out, the admin port in from monitoring (and
//! from the scaler, which reads the workers' slots in use).

use super::*;

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

pub(crate) fn network_policy(c: &DeployConfig) -> NetworkPolicy {
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
                    values: Some(
                        [Role::Worker, Role::Orchestrator]
                            .into_iter()
                            .chain(scaler_autoscaling(c).map(|_| Role::Scaler))
                            .map(|r| r.name().to_string())
                            // The replay gate dials Temporal like the worker.
                            .chain(c.replay_gate().map(|_| REPLAY_GATE.to_string()))
                            .collect(),
                    ),
                }]),
            }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(
                [
                    Some(NetworkPolicyIngressRule {
                        from: Some(vec![ns(&c.monitoring.namespace)]),
                        ports: Some(vec![port(admin_port(), "TCP")]),
                    }),
                    // The scaler reads the workers' slots in use from their /metrics.
                    scaler_autoscaling(c).map(|_| NetworkPolicyIngressRule {
                        from: Some(vec![component_pods(c, Role::Scaler.name())]),
                        ports: Some(vec![port(admin_port(), "TCP")]),
                    }),
                ]
                .into_iter()
                .flatten()
                .collect(),
            ),
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
