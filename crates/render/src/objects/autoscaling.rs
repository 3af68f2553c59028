//! How the worker scales and stays available: HPA (CPU and the backlog metric), KEDA
//! ScaledObject, VPA, PodDisruptionBudget.

use super::*;

pub(crate) fn pdb(c: &DeployConfig) -> PodDisruptionBudget {
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

pub(crate) fn hpa(c: &DeployConfig) -> Option<HorizontalPodAutoscaler> {
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
                        target: MetricTarget {
                            type_: "Utilization".into(),
                            average_utilization: Some(a.cpu_utilization),
                            ..Default::default()
                        },
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
                        target: MetricTarget {
                            type_: "AverageValue".into(),
                            average_value: Some(quantity(&a.backlog_per_pod.to_string())),
                            ..Default::default()
                        },
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
pub(crate) fn scaled_object(c: &DeployConfig) -> Option<Object> {
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

/// VerticalPodAutoscaler (CRD, kept as JSON). Memory only when an HPA already scales on CPU.
pub(crate) fn vpa(c: &DeployConfig, role: &Role, component: &str) -> Option<Object> {
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
