//! One app, three builds of its workflow, chosen by `REPLAY_FAMILY_VERSION` (1, 2 or 3) as a
//! rollout would swap images: the replay gate's test subject. Input `"short"` completes at once;
//! `"long"` then waits an hour on a timer, so it stays open.
//!
//! - v1: activity `reserve`, then (long) the timer;
//! - v2: activity `price` inserted before `reserve`: v1's histories cannot replay (the first
//!   command differs);
//! - v3: the same change behind `patched("price-first")`: v1's histories replay (the patch is
//!   off for them), new runs take the new path.

use std::process::ExitCode;
use std::time::Duration;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowResult};

fn options() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30)).build()
}

async fn wait_if_long(ctx: &mut WorkflowContext<impl Sized>, input: &str) {
    if input == "long" {
        ctx.timer(Duration::from_secs(3600)).await;
    }
}

#[workflow]
#[derive(Default)]
pub struct OrderV1;

#[workflow_methods]
impl OrderV1 {
    #[run(name = "OrderWorkflow")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: String) -> WorkflowResult<String> {
        let reserved = ctx.execute_activity(OrderActivities::reserve, input.clone(), options()).await?;
        wait_if_long(ctx, &input).await;
        Ok(reserved)
    }
}

#[workflow]
#[derive(Default)]
pub struct OrderV2;

#[workflow_methods]
impl OrderV2 {
    #[run(name = "OrderWorkflow")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: String) -> WorkflowResult<String> {
        let priced = ctx.execute_activity(OrderActivities::price, input.clone(), options()).await?;
        let reserved = ctx.execute_activity(OrderActivities::reserve, priced, options()).await?;
        wait_if_long(ctx, &input).await;
        Ok(reserved)
    }
}

#[workflow]
#[derive(Default)]
pub struct OrderV3;

#[workflow_methods]
impl OrderV3 {
    #[run(name = "OrderWorkflow")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: String) -> WorkflowResult<String> {
        let input_for_reserve = if ctx.patched("price-first") {
            ctx.execute_activity(OrderActivities::price, input.clone(), options()).await?
        } else {
            input.clone()
        };
        let reserved = ctx.execute_activity(OrderActivities::reserve, input_for_reserve, options()).await?;
        wait_if_long(ctx, &input).await;
        Ok(reserved)
    }
}

pub struct OrderActivities;

#[activities]
impl OrderActivities {
    #[activity]
    pub async fn reserve(_ctx: ActivityContext, order: String) -> Result<String, ActivityError> {
        Ok(format!("reserved {order}"))
    }

    #[activity]
    pub async fn price(_ctx: ActivityContext, order: String) -> Result<String, ActivityError> {
        Ok(format!("priced {order}"))
    }
}

fn main() -> ExitCode {
    let version = std::env::var("REPLAY_FAMILY_VERSION").unwrap_or_else(|_| "1".into());
    tk8s_host::App::new("orders")
        .task_queue("orders")
        .workflow_input("short")
        .worker(move |options| {
            match version.as_str() {
                "2" => options.register_workflow::<OrderV2>()?,
                "3" => options.register_workflow::<OrderV3>()?,
                _ => options.register_workflow::<OrderV1>()?,
            }
            .register_activities(OrderActivities);
            Ok(())
        })
        .orchestrator(tk8s_host::typed(|| OrderV1::run, |input: &str| input.to_string()))
        .main()
}
