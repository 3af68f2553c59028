//! The replay gate in `tk8s deploy`: the rendered Job (`<app> replay --output json` from the new
//! image) runs before anything that would roll the worker; its verdict is read from the Job's
//! status and the replay's JSON report in its log. The decisions are pure; `lib.rs` makes the
//! requests.

use serde_json::Value;

/// The gate's Job among the rendered objects.
pub fn find(objects: &[Value]) -> Option<&Value> {
    objects.iter().find(|o| o["kind"] == "Job" && o["metadata"]["labels"]["app.kubernetes.io/component"] == tk8s_render::REPLAY_GATE)
}

/// Where a Job is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Running,
    Succeeded,
    /// Failed, with the reason the Job controller gives (`BackoffLimitExceeded`,
    /// `DeadlineExceeded`) when it gives one.
    Failed(String),
}

pub fn state(job: &Value) -> JobState {
    let status = &job["status"];
    if status["succeeded"].as_i64().unwrap_or(0) > 0 {
        return JobState::Succeeded;
    }
    let failed_condition = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Failed" && c["status"] == "True")
        .map(|c| c["reason"].as_str().unwrap_or("Failed").to_string());
    match failed_condition {
        Some(reason) => JobState::Failed(reason),
        None if status["failed"].as_i64().unwrap_or(0) > 0 => JobState::Failed("its pod failed".into()),
        None => JobState::Running,
    }
}

/// The replay's verdict from its log: the summary line and each failure, read from the last
/// JSON report in it; `None` when the log holds none (the replay did not get that far).
pub fn verdict(log: &str) -> Option<String> {
    let report: Value =
        log.lines().rev().find_map(|l| serde_json::from_str::<Value>(l.trim()).ok().filter(|v| v.get("replayed").is_some()))?;
    let n = |k: &str| report[k].as_u64().unwrap_or(0);
    let mut text = format!(
        "replayed {} histories ({} from the namespace, {} from files): {} failed, {} undecodable",
        n("replayed") + n("failed") + n("undecodable"),
        n("from_namespace"),
        n("from_files"),
        n("failed"),
        n("undecodable")
    );
    for f in report["failures"].as_array().into_iter().flatten() {
        let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
        text.push_str(&format!(
            "\n  FAILED {} {} (run {}): {}: {}",
            s("workflow_type"),
            s("workflow_id"),
            s("run_id"),
            s("kind"),
            s("message")
        ));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn job_states_as_the_job_controller_reports_them() {
        assert_eq!(state(&json!({ "status": {} })), JobState::Running);
        assert_eq!(state(&json!({ "status": { "active": 1 } })), JobState::Running);
        assert_eq!(state(&json!({ "status": { "succeeded": 1 } })), JobState::Succeeded);
        let deadline =
            json!({ "status": { "failed": 1, "conditions": [{ "type": "Failed", "status": "True", "reason": "DeadlineExceeded" }] } });
        assert_eq!(state(&deadline), JobState::Failed("DeadlineExceeded".into()));
        assert_eq!(state(&json!({ "status": { "failed": 1 } })), JobState::Failed("its pod failed".into()));
    }

    #[test]
    fn the_verdict_is_the_reports_with_each_failure() {
        let log = "{\"level\":\"INFO\",\"message\":\"replaying\"}\n{\"replayed\":3,\"failed\":1,\"undecodable\":0,\"from_namespace\":4,\"from_files\":0,\"failures\":[{\"workflow_type\":\"OrderWorkflow\",\"workflow_id\":\"o-1\",\"run_id\":\"r\",\"kind\":\"nondeterminism\",\"message\":\"[TMPRL1100] ...\"}]}\n";
        let v = verdict(log).unwrap();
        assert!(v.starts_with("replayed 4 histories (4 from the namespace, 0 from files): 1 failed"), "{v}");
        assert!(v.contains("FAILED OrderWorkflow o-1 (run r): nondeterminism: [TMPRL1100]"), "{v}");
        assert_eq!(verdict("no report here\n"), None);
    }
}
