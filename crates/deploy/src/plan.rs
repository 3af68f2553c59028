//! What `tk8s deploy` will apply, in which order, and what it may prune. Pure: the objects come
//! from `tk8s-render`, the cluster's answers are passed in.
//!
//! Order: what others refer to goes first (Namespace, ServiceAccounts, ConfigMaps, Services),
//! then workloads, then what acts on workloads (autoscalers, disruption budgets, policies,
//! monitoring). Pruning follows the ApplySet convention (KEP-3659, what `kubectl apply --prune
//! --applyset` uses): a parent ConfigMap carries the id and the group-kinds ever applied; every
//! member carries `applyset.kubernetes.io/part-of: <id>`; a member the config no longer produces
//! is deleted. Nothing without the label is ever pruned.

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

pub const PART_OF: &str = "applyset.kubernetes.io/part-of";
pub const APPLYSET_ID: &str = "applyset.kubernetes.io/id";
pub const TOOLING: &str = "applyset.kubernetes.io/tooling";
pub const GROUP_KINDS: &str = "applyset.kubernetes.io/contains-group-kinds";
/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "tk8s";

/// Where a kind goes in the apply order (lower first).
pub fn rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "ServiceAccount" => 1,
        "ConfigMap" | "SecretProviderClass" => 2,
        "Service" => 3,
        // The replay gate runs before anything that rolls the worker.
        "Connection" | "Job" => 4,
        "Deployment" | "StatefulSet" | "WorkerDeployment" => 5,
        "HorizontalPodAutoscaler" | "ScaledObject" | "VerticalPodAutoscaler" | "WorkerResourceTemplate" => 6,
        "PodDisruptionBudget" => 7,
        "NetworkPolicy" => 8,
        _ => 9, // ServiceMonitor, PrometheusRule and other monitoring kinds
    }
}

/// Kinds served by the API server itself (no CRD needed).
pub fn is_builtin(api_version: &str) -> bool {
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    group.is_empty() || !group.contains('.') || (group.ends_with(".k8s.io") && group != "autoscaling.k8s.io")
}

/// The Kubernetes release that first served a built-in kind in an API version the render uses
/// (for the error on a cluster too old for the render).
const INTRODUCED: &[(&str, &str, &str)] = &[
    ("autoscaling/v2", "HorizontalPodAutoscaler", "1.23"),
    ("policy/v1", "PodDisruptionBudget", "1.21"),
    ("batch/v1", "CronJob", "1.21"),
    ("networking.k8s.io/v1", "NetworkPolicy", "1.7"),
    ("networking.k8s.io/v1", "Ingress", "1.19"),
    ("apps/v1", "Deployment", "1.9"),
];

/// When `kind` in `api_version` was first served, if this tool knows.
pub fn introduced_in(api_version: &str, kind: &str) -> Option<&'static str> {
    INTRODUCED.iter().find(|(a, k, _)| *a == api_version && *k == kind).map(|(.., v)| *v)
}

/// A built-in kind the cluster does not serve in the version the render uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unserved {
    pub api_version: String,
    pub kind: String,
    /// The object that needs it.
    pub name: String,
    pub since: Option<&'static str>,
}

/// An object's identity: group, kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn of(o: &Value) -> ObjectRef {
        ObjectRef {
            api_version: o["apiVersion"].as_str().unwrap_or_default().into(),
            kind: o["kind"].as_str().unwrap_or_default().into(),
            namespace: o["metadata"]["namespace"].as_str().map(String::from),
            name: o["metadata"]["name"].as_str().unwrap_or_default().into(),
        }
    }

    /// `Kind.group` as ApplySets spell it (`Deployment.apps`, `Service`).
    pub fn group_kind(&self) -> String {
        group_kind(&self.api_version, &self.kind)
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

pub fn group_kind(api_version: &str, kind: &str) -> String {
    match api_version.rsplit_once('/') {
        Some((group, _)) => format!("{kind}.{group}"),
        None => kind.to_string(),
    }
}

/// The ApplySet id of a ConfigMap parent: `applyset-<base64url(sha256(name.namespace.kind.group))>-v1`.
pub fn applyset_id(parent: &str, namespace: &str) -> String {
    let digest = Sha256::digest(format!("{parent}.{namespace}.ConfigMap.").as_bytes());
    format!("applyset-{}-v1", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest))
}

/// The apply plan for one render.
#[derive(Debug, Clone)]
pub struct Plan {
    pub namespace: String,
    /// The ApplySet parent (a ConfigMap in the namespace).
    pub parent: Value,
    pub id: String,
    /// Every object, labelled as a member, in apply order.
    pub objects: Vec<Value>,
}

impl Plan {
    /// Order the objects and label each as a member of the app's ApplySet.
    pub fn new(app: &str, namespace: &str, objects: Vec<Value>) -> Plan {
        let parent_name = format!("{app}-applyset");
        let id = applyset_id(&parent_name, namespace);
        let mut objects: Vec<Value> = objects
            .into_iter()
            .map(|mut o| {
                if !o["metadata"]["labels"].is_object() {
                    o["metadata"]["labels"] = json!({});
                }
                o["metadata"]["labels"][PART_OF] = json!(id);
                o
            })
            .collect();
        // Stable: equal ranks keep the render's order.
        objects.sort_by_key(|o| rank(o["kind"].as_str().unwrap_or_default()));
        let group_kinds: BTreeSet<String> = objects.iter().map(|o| ObjectRef::of(o).group_kind()).collect();
        let parent = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": parent_name,
                "namespace": namespace,
                "labels": { APPLYSET_ID: id, "app.kubernetes.io/managed-by": "tk8s" },
                "annotations": {
                    TOOLING: format!("tk8s/v{}", env!("CARGO_PKG_VERSION")),
                    GROUP_KINDS: group_kinds.into_iter().collect::<Vec<_>>().join(","),
                },
            },
        });
        Plan { namespace: namespace.into(), parent, id, objects }
    }

    pub fn refs(&self) -> BTreeSet<ObjectRef> {
        self.objects.iter().map(ObjectRef::of).collect()
    }

    /// The group-kinds this plan applies.
    pub fn group_kinds(&self) -> BTreeSet<String> {
        split_group_kinds(self.parent["metadata"]["annotations"][GROUP_KINDS].as_str().unwrap_or_default())
    }

    /// The parent as it must be during the apply: group-kinds of the last apply and this one, so a
    /// failure half-way still leaves every member findable for the next prune.
    pub fn parent_during_apply(&self, live_parent: Option<&Value>) -> Value {
        let mut kinds = self.group_kinds();
        if let Some(live) = live_parent {
            kinds.extend(split_group_kinds(live["metadata"]["annotations"][GROUP_KINDS].as_str().unwrap_or_default()));
        }
        let mut p = self.parent.clone();
        p["metadata"]["annotations"][GROUP_KINDS] = json!(kinds.into_iter().collect::<Vec<_>>().join(","));
        p
    }
}

pub fn split_group_kinds(text: &str) -> BTreeSet<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// What to delete: members found in the cluster (listed by the part-of label) that this plan no
/// longer produces. Objects without the label were never listed, so never pruned.
pub fn prune_set(plan: &Plan, live_members: &[Value]) -> Vec<ObjectRef> {
    let keep = plan.refs();
    let mut out: Vec<ObjectRef> = live_members
        .iter()
        .filter(|o| o["metadata"]["labels"][PART_OF] == json!(plan.id))
        .map(ObjectRef::of)
        .filter(|r| !keep.iter().any(|k| k.kind == r.kind && k.name == r.name && group_of(&k.api_version) == group_of(&r.api_version)))
        .collect();
    // Delete in reverse apply order: what acts on workloads first.
    out.sort_by_key(|r| std::cmp::Reverse(rank(&r.kind)));
    out
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(api_version: &str, kind: &str, name: &str) -> Value {
        json!({ "apiVersion": api_version, "kind": kind, "metadata": { "name": name, "namespace": "ns" } })
    }

    fn rendered() -> Vec<Value> {
        vec![
            o("v1", "ConfigMap", "app-config"),
            o("apps/v1", "Deployment", "app-worker"),
            o("autoscaling/v2", "HorizontalPodAutoscaler", "app-worker"),
            o("v1", "ServiceAccount", "app-worker"),
            o("networking.k8s.io/v1", "NetworkPolicy", "app"),
            o("v1", "Service", "app-worker-metrics"),
            o("monitoring.coreos.com/v1", "ServiceMonitor", "app"),
            o("policy/v1", "PodDisruptionBudget", "app-worker"),
        ]
    }

    #[test]
    fn objects_go_in_dependency_order_and_carry_the_applyset_label() {
        let plan = Plan::new("app", "ns", rendered());
        let kinds: Vec<&str> = plan.objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "ServiceAccount",
                "ConfigMap",
                "Service",
                "Deployment",
                "HorizontalPodAutoscaler",
                "PodDisruptionBudget",
                "NetworkPolicy",
                "ServiceMonitor"
            ]
        );
        assert!(plan.objects.iter().all(|o| o["metadata"]["labels"][PART_OF] == json!(plan.id)));
        assert_eq!(
            plan.parent["metadata"]["annotations"][GROUP_KINDS],
            "ConfigMap,Deployment.apps,HorizontalPodAutoscaler.autoscaling,NetworkPolicy.networking.k8s.io,PodDisruptionBudget.policy,Service,ServiceAccount,ServiceMonitor.monitoring.coreos.com"
        );
    }

    #[test]
    fn the_applyset_id_follows_the_convention() {
        // KEP-3659: base64url, no padding, of sha256("<name>.<namespace>.<kind>.<group>"); "" for core.
        let id = applyset_id("app-applyset", "ns");
        assert!(id.starts_with("applyset-") && id.ends_with("-v1"));
        assert_eq!(id.len(), "applyset-".len() + 43 + "-v1".len());
        assert_ne!(id, applyset_id("app-applyset", "other"), "the namespace is part of the id");
    }

    #[test]
    fn only_labelled_members_the_config_no_longer_produces_are_pruned() {
        let plan = Plan::new("app", "ns", rendered());
        let member = |mut v: Value, id: &str| {
            v["metadata"]["labels"] = json!({ PART_OF: id });
            v
        };
        let live = vec![
            member(o("apps/v1", "Deployment", "app-worker"), &plan.id), // still produced
            member(o("keda.sh/v1alpha1", "ScaledObject", "app-worker"), &plan.id), // dropped from the config
            member(o("v1", "Service", "app-old"), &plan.id),            // dropped
            member(o("v1", "Service", "someone-elses"), "applyset-other-v1"), // another ApplySet
            o("v1", "ConfigMap", "unlabelled"),                         // not ours
        ];
        let pruned: Vec<String> = prune_set(&plan, &live).iter().map(ToString::to_string).collect();
        assert_eq!(pruned, ["ScaledObject/app-worker", "Service/app-old"]);
    }

    #[test]
    fn during_apply_the_parent_lists_old_and_new_group_kinds() {
        let plan = Plan::new("app", "ns", rendered());
        let live = json!({ "metadata": { "annotations": { GROUP_KINDS: "ScaledObject.keda.sh,Service" } } });
        let kinds = split_group_kinds(plan.parent_during_apply(Some(&live))["metadata"]["annotations"][GROUP_KINDS].as_str().unwrap());
        assert!(kinds.contains("ScaledObject.keda.sh") && kinds.contains("Deployment.apps"));
    }

    #[test]
    fn builtin_kinds_are_told_from_crd_kinds() {
        for v in ["v1", "apps/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1"] {
            assert!(is_builtin(v), "{v}");
        }
        for v in [
            "keda.sh/v1alpha1",
            "monitoring.coreos.com/v1",
            "autoscaling.k8s.io/v1",
            "temporal.io/v1alpha1",
            "secrets-store.csi.x-k8s.io/v1",
        ] {
            assert!(!is_builtin(v), "{v}");
        }
    }
}
