//! The benchmark scenarios, named as Temporal's omes names them where they match, as Rust
//! workflows: `greeting` (the example's three chained activities, its own code),
//! `workflow_with_single_noop_activity`, `fan_out` (ten activities at once) and
//! `heartbeating` (one activity that heartbeats every 100 ms for `work_ms`), and two shapes for
//! sizing a pod: `memory_heavy` (one activity holds [`MEMORY_HEAVY_MIB`] MiB, touched, for
//! `work_ms`) and `cpu_heavy` (one activity does `work_ms` million multiply-adds, about `work_ms` of a core). The Python and
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

/// What one `memory_heavy` activity holds.
pub const MEMORY_HEAVY_MIB: usize = 32;

#[workflow]
#[derive(Default)]
pub struct MemoryHeavyWorkflow;

#[workflow_methods]
impl MemoryHeavyWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: BenchInput) -> WorkflowResult<String> {
        Ok(ctx.execute_activity(BenchActivities::hold_memory, input.work_ms, options()).await?)
    }
}

#[workflow]
#[derive(Default)]
pub struct CpuHeavyWorkflow;

#[workflow_methods]
impl CpuHeavyWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: BenchInput) -> WorkflowResult<String> {
        Ok(ctx.execute_activity(BenchActivities::burn_cpu, input.work_ms, options()).await?)
    }
}

pub struct BenchActivities;

#[activities]
impl BenchActivities {
    #[activity]
    pub async fn noop(_ctx: ActivityContext, _name: String) -> Result<String, ActivityError> {
        Ok("done".into())
    }

    /// Hold [`MEMORY_HEAVY_MIB`] MiB, every page written (resident, anonymous), for `ms`.
    #[activity]
    pub async fn hold_memory(_ctx: ActivityContext, ms: u64) -> Result<String, ActivityError> {
        let mut block = vec![0u8; MEMORY_HEAVY_MIB << 20];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(format!("held {} pages", std::hint::black_box(&block).iter().step_by(4096).filter(|b| **b == 1).count()))
    }

    /// A fixed amount of CPU work, `ms` million multiply-adds (about `ms` of one core on this
    /// machine), on a blocking thread as CPU-bound activity code should run: under a CPU limit
    /// it takes longer, as real work does.
    #[activity]
    pub async fn burn_cpu(_ctx: ActivityContext, ms: u64) -> Result<String, ActivityError> {
        let x = tokio::task::spawn_blocking(move || {
            let mut x = 1u64;
            for _ in 0..ms * 1_000_000 {
                x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407));
            }
            x
        })
        .await?;
        Ok(format!("{x:x}"))
    }
}

/// Register every scenario's workflows and activities on a worker.
pub fn register(options: &mut temporalio_sdk::WorkerOptions) -> Result<(), temporalio_sdk::WorkflowRegistrationError> {
    options
        .register_workflow::<GreetingWorkflow>()?
        .register_workflow::<SingleNoopActivityWorkflow>()?
        .register_workflow::<FanOutWorkflow>()?
        .register_workflow::<HeartbeatWorkflow>()?
        .register_workflow::<MemoryHeavyWorkflow>()?
        .register_workflow::<CpuHeavyWorkflow>()?
        .register_activities(GreetingActivities)
        .register_activities(BenchActivities);
    Ok(())
}
