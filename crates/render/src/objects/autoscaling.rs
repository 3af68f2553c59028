//! How the worker scales and stays available: HPA (the scaler's desired replicas, or CPU and
//! the backlog), KEDA ScaledObject (the scaler as an external scaler, or KEDA's backlog-only
//! `temporal` trigger), VPA, PodDisruptionBudget.

use super::*;
use crate::deploy::{Autoscaling, Signal};

pub(crate) fn pdb(c: &DeployConfig) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(c, format!("{}-{}", c.app.name, Role::Worker), Role::Worker.name()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(c.worker.max_unavailable)),
            selector: Some(LabelSelector { match_labels: Some(selector_labels(c, Role::Worker.name())), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Seconds a lower replica count waits in the autoscaler itself. With signal `tk8s` the scaler
/// already applied the window, so a second one would only double it.
fn autoscaler_scale_down_window_s(c: &DeployConfig, a: &Autoscaling) -> i32 {
    match a.signal(c.backlog_by_default()) {
        Signal::Tk8s => 0,
        Signal::Backlog => a.scale_down_window.duration().as_secs() as i32,
    }
}

fn external_metric(name: &str, labels: BTreeMap<String, String>, average_value: &str) -> MetricSpec {
    MetricSpec {
        type_: "External".into(),
        external: Some(ExternalMetricSource {
            metric: MetricIdentifier {
                name: name.into(),
                selector: Some(LabelSelector { match_labels: Some(labels), ..Default::default() }),
            },
            target: MetricTarget { type_: "AverageValue".into(), average_value: Some(quantity(average_value)), ..Default::default() },
        }),
        ..Default::default()
    }
}

/// The HPA's metrics. Signal `tk8s`: the scaler's desired replicas as an External metric with an
/// average value of 1 per pod, so the HPA's own arithmetic (`ceil(total / 1)`) lands exactly on
/// the scaler's decision; no CPU metric, which cannot see work in flight. Signal `backlog`: CPU
/// and the backlog per pod (per build under the controller).
fn hpa_metrics(c: &DeployConfig, a: &Autoscaling) -> Vec<MetricSpec> {
    let tq = || BTreeMap::from([("task_queue".to_string(), c.task_queue().to_string())]);
    match a.signal(c.backlog_by_default()) {
        Signal::Tk8s => vec![external_metric("tk8s_desired_worker_replicas", tq(), "1")],
        Signal::Backlog => {
            let backlog = if c.worker.controller.is_some() {
                // Per build: the controller adds the build's identity labels to this selector.
                external_metric(
                    "temporal_approximate_backlog_count",
                    BTreeMap::from([("task_type".to_string(), "Activity".to_string())]),
                    &a.backlog_per_pod.to_string(),
                )
            } else {
                let mut labels = tq();
                labels.insert("task_type".into(), "activity".into());
                external_metric("tk8s_task_queue_backlog", labels, &a.backlog_per_pod.to_string())
            };
            let cpu = MetricSpec {
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
            };
            vec![cpu, backlog]
        }
    }
}

pub(crate) fn hpa(c: &DeployConfig) -> Option<HorizontalPodAutoscaler> {
    let a = c.worker.autoscaling.as_ref().filter(|a| a.mode == Autoscaler::Hpa)?;
    let name = format!("{}-worker", c.app.name);
    Some(HorizontalPodAutoscaler {
        metadata: meta(c, name.clone(), Role::Worker.name()),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference { api_version: Some("apps/v1".into()), kind: "Deployment".into(), name },
            min_replicas: Some(a.min_replicas),
            max_replicas: a.max_replicas,
            metrics: Some(hpa_metrics(c, a)),
            behavior: Some(HorizontalPodAutoscalerBehavior {
                scale_down: Some(HPAScalingRules {
                    stabilization_window_seconds: Some(autoscaler_scale_down_window_s(c, a)),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }),
        ..Default::default()
    })
}

/// KEDA's ScaledObject (a CRD: kept as JSON). Signal `tk8s`: an `external` trigger, KEDA calling
/// the scaler over its external scaler protocol (no Prometheus in the path; activity from
/// IsActive, so zero replicas only when the scaler says nothing waits, runs or is open). Signal
/// `backlog`: KEDA's `temporal` trigger, which sees the backlog only.
pub(crate) fn scaled_object(c: &DeployConfig) -> Option<Object> {
    let a = c.worker.autoscaling.as_ref().filter(|a| a.mode == Autoscaler::Keda)?;
    let trigger = match a.signal(c.backlog_by_default()) {
        Signal::Tk8s => json!({
            "type": "external",
            "metadata": { "scalerAddress": scaler_address(c), "taskQueue": c.task_queue() },
        }),
        Signal::Backlog => {
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
            json!({ "type": "temporal", "metadata": metadata })
        }
    };
    Some(Object {
        file: "scaledobject-worker.yaml".into(),
        value: json!({
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": { "name": format!("{}-worker", c.app.name), "namespace": c.app.namespace, "labels": labels(c, Role::Worker.name()) },
            "spec": {
                "scaleTargetRef": { "name": format!("{}-worker", c.app.name) },
                "minReplicaCount": a.min_replicas,
                "maxReplicaCount": a.max_replicas,
                "advanced": { "horizontalPodAutoscalerConfig": { "behavior": {
                    "scaleDown": { "stabilizationWindowSeconds": autoscaler_scale_down_window_s(c, a) },
                } } },
                "triggers": [trigger],
            },
        }),
    })
}

/// VerticalPodAutoscaler (CRD, kept as JSON). Memory only when an HPA already scales on CPU.
pub(crate) fn vpa(c: &DeployConfig, config: &RoleConfig, role: Role) -> Option<Object> {
    let component = role.name();
    let mode = config.vpa.as_ref()?;
    let hpa_on_cpu = role == Role::Worker && config.autoscaling.as_ref().is_some_and(|a| a.mode == Autoscaler::Hpa);
    let resources = if hpa_on_cpu { json!(["memory"]) } else { json!(["cpu", "memory"]) };
    let name = format!("{}-{component}", c.app.name);
    let value = json!({
        "apiVersion": "autoscaling.k8s.io/v1",
        "kind": "VerticalPodAutoscaler",
        "metadata": { "name": name, "namespace": c.app.namespace, "labels": labels(c, component) },
        "spec": {
            "targetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": name },
            "updatePolicy": { "updateMode": mode.name() },
            "resourcePolicy": { "containerPolicies": [{ "containerName": component, "controlledResources": resources }] },
        },
    });
    Some(if controller_managed(c, role) {
        per_build(c, "vpa", value, "/spec/targetRef")
    } else {
        Object { file: format!("vpa-{component}.yaml"), value }
    })
}
