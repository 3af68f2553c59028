//! The benchmark scenarios, named as Temporal's omes names them where they match, as Rust
//! workflows: `greeting` (the example's three chained activities, its own code),
//! `workflow_with_single_noop_activity`, `fan_out` (ten activities at once) and
//! `heartbeating` (one activity that heartbeats every 100 ms for `work_ms`). The Python and
//! TypeScript workers in `bench/workers/` register the same workflow types and activity names.

#![allow(unreachable_pub)]
use greeting::workflows::GreetingActivities;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowResult};

pub use greeting::workflows::{GreetingInput, GreetingWorkflow};

/// Input of the bench-only workflows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BenchInput {
    pub name: String,
    #[serde(default)]
    pub work_ms: u64,
}

fn options() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(60)).heartbeat_timeout(Duration::from_secs(10)).build()
}

#[workflow]
#[derive(Default)]
pub struct SingleNoopActivityWorkflow;

#[workflow_methods]
impl SingleNoopActivityWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: BenchInput) -> WorkflowResult<String> {
        Ok(ctx.execute_activity(BenchActivities::noop, input.name, options()).await?)
    }
}

#[workflow]
#[derive(Default)]
pub struct FanOutWorkflow;

#[workflow_methods]
impl FanOutWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: BenchInput) -> WorkflowResult<String> {
        let all = (0..10).map(|_| ctx.execute_activity(BenchActivities::noop, input.name.clone(), options()));
        let results = futures::future::join_all(all).await;
        let done = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok(format!("{} done", done.len()))
    }
}

#[workflow]
#[derive(Default)]
pub struct HeartbeatWorkflow;

#[workflow_methods]
impl HeartbeatWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: BenchInput) -> WorkflowResult<String> {
        Ok(ctx.execute_activity(GreetingActivities::process_greeting, (input.name, input.work_ms), options()).await?)
    }
}

pub struct BenchActivities;

#[activities]
impl BenchActivities {
    #[activity]
    pub async fn noop(_ctx: ActivityContext, _name: String) -> Result<String, ActivityError> {
        Ok("done".into())
    }
}

/// Register every scenario's workflows and activities on a worker.
pub fn register(options: &mut temporalio_sdk::WorkerOptions) -> Result<(), temporalio_sdk::WorkflowRegistrationError> {
    options
        .register_workflow::<GreetingWorkflow>()?
        .register_workflow::<SingleNoopActivityWorkflow>()?
        .register_workflow::<FanOutWorkflow>()?
        .register_workflow::<HeartbeatWorkflow>()?
        .register_activities(GreetingActivities)
        .register_activities(BenchActivities);
    Ok(())
}
