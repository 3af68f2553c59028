//! The greeting workflow: three chained activities (compose a greeting, process it, finalise
//! it). Activities heartbeat while they work and stop when cancelled, so a draining worker can
//! hand them back cleanly.

#![allow(unreachable_pub)]
use serde::{Deserialize, Serialize};
use std::time::Duration;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowResult};

/// Workflow input. `work_ms` makes the processing step take that long (to exercise draining).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GreetingInput {
    pub name: String,
    #[serde(default)]
    pub work_ms: u64,
}

impl GreetingInput {
    /// Accept either JSON (`{"name":"Ada","work_ms":2000}`) or a bare name.
    pub fn parse(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_else(|_| GreetingInput { name: text.to_string(), work_ms: 0 })
    }
}

#[workflow]
#[derive(Default)]
pub struct GreetingWorkflow;

#[workflow_methods]
impl GreetingWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: GreetingInput) -> WorkflowResult<String> {
        let options =
            || ActivityOptions::with_start_to_close_timeout(Duration::from_secs(60)).heartbeat_timeout(Duration::from_secs(10)).build();
        let greeting = ctx.execute_activity(GreetingActivities::compose_greeting, input.name.clone(), options()).await?;
        let processed = ctx.execute_activity(GreetingActivities::process_greeting, (greeting, input.work_ms), options()).await?;
        let done = ctx.execute_activity(GreetingActivities::finalise_greeting, processed, options()).await?;
        Ok(done)
    }
}

pub struct GreetingActivities;

#[activities]
impl GreetingActivities {
    #[activity]
    pub async fn compose_greeting(_ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
        Ok(format!("Hello, {name}!"))
    }

    /// Simulates work in 100 ms steps, heartbeating after each and stopping if cancelled.
    #[activity]
    pub async fn process_greeting(ctx: ActivityContext, (greeting, work_ms): (String, u64)) -> Result<String, ActivityError> {
        let steps = work_ms.div_ceil(100);
        let start: u64 = ctx.heartbeat_details().deserialize()?.unwrap_or(0);
        for step in start..steps {
            if ctx.is_cancelled() {
                return Err(ActivityError::cancelled());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            ctx.record_heartbeat(step + 1).await?;
        }
        Ok(format!("{greeting} Welcome to Temporal on Kubernetes."))
    }

    #[activity]
    pub async fn finalise_greeting(ctx: ActivityContext, processed: String) -> Result<String, ActivityError> {
        let attempt = ctx.info().attempt;
        Ok(format!("{processed} (attempt {attempt})"))
    }
}
