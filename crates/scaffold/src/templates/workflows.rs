//! The workflow and its activity. Workflow code must be deterministic: it runs again from its
//! history whenever a worker picks it up, so anything that can change (time, randomness, I/O)
//! belongs in an activity.

use std::time::Duration;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowResult};

#[workflow]
#[derive(Default)]
pub struct HelloWorkflow;

#[workflow_methods]
impl HelloWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30)).build();
        let hello = ctx.execute_activity(HelloActivities::greet, name, options).await?;
        Ok(hello)
    }
}

pub struct HelloActivities;

#[activities]
impl HelloActivities {
    #[activity]
    pub async fn greet(_ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
        Ok(format!("Hello, {name}!"))
    }
}
