//! Stand-ins for the Prometheus Operator's CRDs (ServiceMonitor, PrometheusRule): the real
//! group, versions, kinds and scope, with an open schema (`x-kubernetes-preserve-unknown-fields`)
//! instead of the operator's full one. They let a test install "the operator's kinds" into the
//! test cluster and watch a deploy that failed on a missing CRD succeed; the objects' contents
//! are checked against the real schemas elsewhere (the render's validators).

use serde_json::{Value, json};

/// The CRD of `kind` (plural `plural`) in `group`, version `version`, namespaced, open schema.
pub fn open_crd(group: &str, version: &str, kind: &str, plural: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{plural}.{group}") },
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": { "kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List") },
            "versions": [{
                "name": version, "served": true, "storage": true,
                "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } },
            }],
        },
    })
}

/// The Prometheus Operator's two kinds that `tk8s render` uses.
pub fn prometheus_operator() -> Vec<Value> {
    vec![
        open_crd("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors"),
        open_crd("monitoring.coreos.com", "v1", "PrometheusRule", "prometheusrules"),
    ]
}
