//! The worker role: build SDK worker options from configuration, run the worker on the main
//! task (the SDK's `Worker::run` is not `Send`), and turn the shutdown signal every role waits on
//! into the SDK's graceful shutdown, logging how the drain ended.

use crate::HostError;
use crate::shutdown::ShutdownSignal;
use std::time::Instant;
use temporalio_client::Client;
use temporalio_common::WorkerDeploymentVersion;
use temporalio_common::telemetry::TelemetryOptions;
use temporalio_common::worker::{VersioningBehavior, WorkerDeploymentOptions};
use temporalio_sdk::runtime::worker_tuner::{
    FixedSizeSlotSupplier, ResourceBasedController, ResourceBasedSlotOptions, ResourceBasedSlotsForType, ResourceBasedTunerOptions,
    TunerHolder,
};
use temporalio_sdk::runtime::{AutoscalingOptions, PollerBehavior, RuntimeOptions};
use temporalio_sdk::{Runtime, Worker, WorkerOptions, WorkflowRegistrationError};
use tk8s_config::{Config, Tuner};
use tracing::info;

/// The tuner the worker runs with: workflow tasks always on fixed slots (short, and their memory
/// is bounded by the workflow cache); activities and local activities on fixed slots, or on the
/// SDK's resource-based tuner (one controller for both, capped by the configured maximums). Under
/// a memory limit, the log says how much memory each activity slot may use.
fn tuner(config: &Config, limits: crate::cgroup::Limits) -> TunerHolder {
    let w = &config.worker;
    let builder = TunerHolder::builder()
        .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(w.max_concurrent_workflow_tasks))
        .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(10));
    let limit_mib = limits.memory_bytes.map(|b| b >> 20);
    match w.tuner {
        Tuner::Fixed => {
            let per_slot_mib = limit_mib.map(|l| l / w.max_concurrent_activities.max(1) as u64);
            info!(
                tuner = "fixed",
                activity_slots = w.max_concurrent_activities,
                memory_limit_mib = ?limit_mib,
                memory_per_activity_slot_mib = ?per_slot_mib,
                cpu_limit = ?limits.cpus,
                "worker slots"
            );
            builder
                .activity_task_slot_supplier(FixedSizeSlotSupplier::new(w.max_concurrent_activities))
                .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(w.max_concurrent_local_activities))
                .build()
        }
        Tuner::Resource { target_memory, target_cpu } => {
            info!(
                tuner = "resource",
                target_memory_usage = target_memory,
                target_cpu_usage = target_cpu,
                max_activity_slots = w.max_concurrent_activities,
                memory_limit_mib = ?limit_mib,
                cpu_limit = ?limits.cpus,
                "worker slots"
            );
            let controller = ResourceBasedController::new(
                ResourceBasedTunerOptions::builder().target_memory_usage(target_memory).target_cpu_usage(target_cpu).build(),
            );
            let slots = |maximum: usize| {
                ResourceBasedSlotsForType::with_controller(
                    controller.clone(),
                    ResourceBasedSlotOptions::builder().maximum_slots(maximum).build(),
                )
            };
            builder
                .activity_task_slot_supplier(slots(w.max_concurrent_activities))
                .local_activity_task_slot_supplier(slots(w.max_concurrent_local_activities))
                .build()
        }
    }
}

fn options(config: &Config) -> WorkerOptions {
    let w = &config.worker;
    let tuner = tuner(config, crate::cgroup::Limits::read());
    // Worker Versioning (the temporal-worker-controller sets TEMPORAL_DEPLOYMENT_NAME and
    // TEMPORAL_WORKER_BUILD_ID); otherwise the SDK's default build id from the executable.
    let deployment = w.versioning.as_ref().map(|v| {
        let behavior = if v.pinned { VersioningBehavior::Pinned } else { VersioningBehavior::AutoUpgrade };
        let version = WorkerDeploymentVersion::builder().deployment_name(v.deployment_name.clone()).build_id(v.build_id.clone()).build();
        WorkerDeploymentOptions::new(version).use_worker_versioning(true).default_versioning_behavior(behavior).build()
    });
    let pollers = |maximum: usize, minimum: usize| {
        if w.poller_autoscaling {
            PollerBehavior::Autoscaling(
                AutoscalingOptions::builder().minimum(minimum).maximum(maximum).initial(maximum.min(5).max(minimum)).build(),
            )
        } else {
            PollerBehavior::SimpleMaximum(maximum)
        }
    };
    WorkerOptions::new(w.task_queue.clone())
        .maybe_deployment_options(deployment)
        .tuner(tuner)
        .max_cached_workflows(w.max_cached_workflows)
        .workflow_task_poller_behavior(pollers(w.workflow_pollers, 2))
        .activity_task_poller_behavior(pollers(w.activity_pollers, 1))
        .maybe_max_worker_activities_per_second(w.max_activities_per_second)
        .graceful_shutdown_period(config.shutdown.grace)
        .build()
}

pub async fn run(
    config: &Config,
    client: Client,
    telemetry: TelemetryOptions,
    register: &dyn Fn(&mut WorkerOptions) -> Result<(), WorkflowRegistrationError>,
    signal: ShutdownSignal,
) -> Result<(), HostError> {
    let runtime_options =
        RuntimeOptions::builder().telemetry_options(telemetry).build().map_err(|e| HostError::startup("runtime options", e))?;
    let runtime = Runtime::from_current_tokio(runtime_options).map_err(|e| HostError::startup("SDK runtime", e))?;
    let mut options = options(config);
    register(&mut options).map_err(|e| HostError::startup("registering workflows", e))?;
    let mut worker = Worker::new(&runtime, client, options).map_err(|e| HostError::startup("creating the worker", e))?;
    let stop = worker.shutdown_handle();
    let mut requested = signal.clone();
    // The SDK's stop only cancels tokens and queues the ShutdownWorker call: it does not block.
    let stopper = tokio::spawn(async move {
        requested.requested().await;
        stop();
    });
    info!(task_queue = %config.worker.task_queue, "worker polling");
    let result = worker.run().await;
    stopper.abort();
    let drained_ms = signal.since().map(|t| Instant::now().duration_since(t).as_millis() as u64);
    match (result, drained_ms) {
        (Ok(()), Some(ms)) => {
            info!(drain_ms = ms, "shutdown ended: drained, all in-flight work finished or was handed back");
            Ok(())
        }
        (Ok(()), None) => Err(HostError::WorkerStoppedUnasked),
        (Err(e), _) => Err(HostError::Worker(e.into())),
    }
}
