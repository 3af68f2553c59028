//! The worker handed to the temporal-worker-controller: its `Connection`, the
//! `WorkerDeployment` (the same pod template minus what the controller injects) and the
//! per-build `WorkerResourceTemplate`s. CRDs, kept as JSON.

use super::*;

/// The temporal-worker-controller's API group and version.
pub const CONTROLLER_API: &str = "temporal.io/v1alpha1";

/// The controller's `Connection`: where Temporal is and which Secret holds the credentials.
pub(crate) fn connection(c: &DeployConfig) -> Object {
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
            "metadata": { "name": c.app.name, "namespace": c.app.namespace, "labels": labels(c, Role::Worker.name()) },
            "spec": spec,
        }),
    }
}

/// The controller's `WorkerDeployment`: the worker's pod template plus the rollout policy. The
/// controller creates one Deployment per build from it and injects TEMPORAL_ADDRESS,
/// TEMPORAL_NAMESPACE, TEMPORAL_DEPLOYMENT_NAME, TEMPORAL_WORKER_BUILD_ID and the credentials.
pub(crate) fn worker_deployment(c: &DeployConfig, plain: &Deployment) -> Option<Object> {
    let wc = c.worker.controller.as_ref()?;
    let spec = plain.spec.as_ref()?;
    let mut rollout = json!({ "strategy": wc.rollout.crd_name() });
    if !wc.steps.is_empty() {
        rollout["steps"] = wc.steps.iter().map(|s| json!({ "rampPercentage": s.ramp_percentage, "pauseDuration": s.pause.go() })).collect();
    }
    if let Some(gate) = &wc.gate_workflow {
        rollout["gate"] = json!({ "workflowType": gate });
    }
    let mut wd_spec = json!({
        "template": serde_json::to_value(&spec.template).unwrap_or(Value::Null),
        "rollout": rollout,
        "sunset": { "scaledownDelay": wc.scaledown_delay.go(), "deleteDelay": wc.delete_delay.go() },
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
pub(crate) fn per_build(c: &DeployConfig, what: &str, mut object: Value, target: &str) -> Object {
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
            "metadata": { "name": name, "namespace": c.app.namespace, "labels": labels(c, Role::Worker.name()) },
            "spec": { "workerDeploymentRef": { "name": format!("{}-worker", c.app.name) }, "template": object },
        }),
    }
}
