//! Whether a Deployment's rollout is done, judged from its status the way `kubectl rollout
//! status` judges it, and why a pod is not coming up (the container states that mean waiting
//! will not help). Pure: the status objects are passed in, so the rules are tested on recorded
//! objects, failures included.

use serde_json::Value;

/// One Deployment's rollout, as a progress line shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub name: String,
    pub desired: i64,
    pub updated: i64,
    pub ready: i64,
    pub available: i64,
    pub state: State,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Still rolling out; the text says what it waits for (kubectl's wording).
    Waiting(String),
    Done,
    /// It will not finish by waiting: the reason.
    Failed(String),
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// kubectl's rules: the spec update must be observed; a Progressing condition with reason
/// ProgressDeadlineExceeded fails; then every replica updated, no old replica left, every
/// updated replica available.
pub fn evaluate(deployment: &Value) -> Progress {
    let name = deployment["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let status = &deployment["status"];
    let desired = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let (replicas, updated, ready, available) =
        (int(&status["replicas"]), int(&status["updatedReplicas"]), int(&status["readyReplicas"]), int(&status["availableReplicas"]));
    let state = if int(&deployment["metadata"]["generation"]) > int(&status["observedGeneration"]) {
        State::Waiting("waiting for the deployment spec update to be observed".into())
    } else if let Some(c) = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded")
    {
        State::Failed(format!("exceeded its progress deadline: {}", c["message"].as_str().unwrap_or_default()))
    } else if updated < desired {
        State::Waiting(format!("{updated} out of {desired} new replicas have been updated"))
    } else if replicas > updated {
        State::Waiting(format!("{} old replicas are pending termination", replicas - updated))
    } else if available < updated {
        State::Waiting(format!("{available} of {updated} updated replicas are available"))
    } else {
        State::Done
    };
    Progress { name, desired, updated, ready, available, state }
}

/// Container waiting reasons that do not resolve by waiting.
const STUCK: &[&str] =
    &["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError"];

/// Why a pod will not become ready, if a container says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodProblem {
    pub pod: String,
    pub container: String,
    pub reason: String,
    pub message: String,
    /// The last exit code, for a container that keeps restarting (78: a configuration error).
    pub last_exit: Option<i64>,
}

impl std::fmt::Display for PodProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pod {} container {}: {}", self.pod, self.container, self.reason)?;
        if let Some(code) = self.last_exit {
            write!(f, " (last exit code {code}{})", if code == 78 { ": a configuration error, see its log" } else { "" })?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

pub fn pod_problem(pod: &Value) -> Option<PodProblem> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    ["initContainerStatuses", "containerStatuses"].iter().flat_map(|list| pod["status"][*list].as_array().into_iter().flatten()).find_map(
        |c| {
            let waiting = &c["state"]["waiting"];
            let reason = waiting["reason"].as_str().filter(|r| STUCK.contains(r))?;
            Some(PodProblem {
                pod: name.into(),
                container: c["name"].as_str().unwrap_or_default().into(),
                reason: reason.into(),
                message: waiting["message"].as_str().unwrap_or_default().into(),
                last_exit: c["lastState"]["terminated"]["exitCode"].as_i64(),
            })
        },
    )
}

/// The strategic merge patch `kubectl rollout restart` sends: a changed pod template annotation,
/// so the Deployment rolls every pod under its own surge and availability rules.
pub fn restart_patch(now_rfc3339: &str) -> Value {
    serde_json::json!({ "spec": { "template": { "metadata": { "annotations": { "kubectl.kubernetes.io/restartedAt": now_rfc3339 } } } } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(generation: i64, observed: i64, spec: i64, status: Value) -> Value {
        let mut s = status;
        s["observedGeneration"] = json!(observed);
        json!({ "metadata": { "name": "app-worker", "generation": generation }, "spec": { "replicas": spec }, "status": s })
    }

    fn state(d: &Value) -> State {
        evaluate(d).state
    }

    #[test]
    fn kubectls_rules_in_kubectls_order() {
        let w = |s: &str| State::Waiting(s.into());
        assert_eq!(
            state(&deployment(2, 1, 2, json!({ "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2 }))),
            w("waiting for the deployment spec update to be observed")
        );
        assert_eq!(
            state(&deployment(2, 2, 3, json!({ "replicas": 3, "updatedReplicas": 1, "availableReplicas": 3 }))),
            w("1 out of 3 new replicas have been updated")
        );
        assert_eq!(
            state(&deployment(2, 2, 2, json!({ "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2 }))),
            w("1 old replicas are pending termination")
        );
        assert_eq!(
            state(&deployment(2, 2, 2, json!({ "replicas": 2, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1 }))),
            w("1 of 2 updated replicas are available")
        );
        let done = deployment(2, 2, 2, json!({ "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2 }));
        assert_eq!(state(&done), State::Done);
        assert_eq!((evaluate(&done).ready, evaluate(&done).desired), (2, 2));
    }

    #[test]
    fn a_progress_deadline_fails_even_with_replicas_missing() {
        let d = deployment(
            3,
            3,
            2,
            json!({ "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1, "conditions": [
            { "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable" },
            { "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
              "message": "ReplicaSet \"app-worker-5d9\" has timed out progressing." }] }),
        );
        assert_eq!(
            state(&d),
            State::Failed("exceeded its progress deadline: ReplicaSet \"app-worker-5d9\" has timed out progressing.".into())
        );
        // A Progressing condition that is still progressing is no failure.
        let ok = deployment(
            3,
            3,
            2,
            json!({ "replicas": 2, "updatedReplicas": 1, "conditions": [
            { "type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated" }] }),
        );
        assert!(matches!(state(&ok), State::Waiting(_)));
    }

    #[test]
    fn stuck_containers_are_named_with_their_reason() {
        let crash = json!({ "metadata": { "name": "app-worker-abc" }, "status": { "containerStatuses": [{
            "name": "worker", "restartCount": 4,
            "state": { "waiting": { "reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container" } },
            "lastState": { "terminated": { "exitCode": 78 } } }] } });
        let p = pod_problem(&crash).unwrap();
        assert_eq!((p.reason.as_str(), p.last_exit), ("CrashLoopBackOff", Some(78)));
        assert!(p.to_string().contains("a configuration error"), "{p}");
        let pull = json!({ "metadata": { "name": "app-worker-def" }, "status": { "initContainerStatuses": [{
            "name": "wait-for-temporal", "state": { "waiting": { "reason": "ImagePullBackOff", "message": "Back-off pulling image \"r/app:9\"" } } }] } });
        assert_eq!(pod_problem(&pull).unwrap().container, "wait-for-temporal");
        let starting = json!({ "metadata": { "name": "p" }, "status": { "containerStatuses": [{
            "name": "worker", "state": { "waiting": { "reason": "ContainerCreating" } } }] } });
        assert_eq!(pod_problem(&starting), None, "still starting is not stuck");
    }

    #[test]
    fn the_restart_patch_is_kubectls() {
        assert_eq!(
            restart_patch("2026-12-02T10:00:00Z"),
            json!({ "spec": { "template": { "metadata": { "annotations": { "kubectl.kubernetes.io/restartedAt": "2026-12-02T10:00:00Z" } } } } })
        );
    }
}
