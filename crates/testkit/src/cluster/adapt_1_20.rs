//! The only changes made to rendered objects so that the Kubernetes 1.20 test control plane can
//! take them: the render targets current Kubernetes, and two of its API versions arrived after
//! 1.20. Each change is listed in [`ADAPTATIONS`]; the production render is never bent to suit
//! the test cluster, and `tk8s deploy` refuses unadapted objects on 1.20 (its discovery check).

use serde_json::Value;

/// Every adaptation: the API version rendered, the one 1.20 serves, and why the move is exact.
pub const ADAPTATIONS: &[(&str, &str, &str)] = &[
    ("autoscaling/v2", "autoscaling/v2beta2", "HorizontalPodAutoscaler: v2 (Kubernetes 1.23) is v2beta2's schema promoted unchanged"),
    (
        "policy/v1",
        "policy/v1beta1",
        "PodDisruptionBudget: v1 (Kubernetes 1.21) has v1beta1's fields; only an empty selector's meaning differs, and the render always sets one",
    ),
];

/// The objects with every listed API version replaced; all else untouched.
pub fn adapt(objects: &[Value]) -> Vec<Value> {
    objects
        .iter()
        .cloned()
        .map(|mut o| {
            let api_version = o["apiVersion"].as_str().unwrap_or_default().to_string();
            if let Some((_, served, _)) = ADAPTATIONS.iter().find(|(rendered, ..)| *rendered == api_version) {
                o["apiVersion"] = Value::from(*served);
            }
            o
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn only_the_listed_versions_move() {
        let objects = vec![
            json!({ "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "spec": { "maxReplicas": 5 } }),
            json!({ "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "spec": { "maxUnavailable": 1, "selector": { "matchLabels": { "a": "b" } } } }),
            json!({ "apiVersion": "apps/v1", "kind": "Deployment" }),
        ];
        let adapted = super::adapt(&objects);
        assert_eq!(adapted[0]["apiVersion"], "autoscaling/v2beta2");
        assert_eq!(adapted[0]["spec"], objects[0]["spec"]);
        assert_eq!(adapted[1]["apiVersion"], "policy/v1beta1");
        assert_eq!(adapted[2], objects[2]);
    }
}
