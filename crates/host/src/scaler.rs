//! The `scaler` role: a scaling signal for the app's task queue that knows Temporal. Every
//! `scaler.interval` it reads what Temporal itself knows and decides with `tk8s_scaler::Rule`:
//!
//! - `DescribeTaskQueue` with stats, for workflow and activity tasks: backlog, backlog age, add
//!   and dispatch rates, pollers;
//! - the workers' own `/metrics` (`scaler.worker_metrics`: a headless Service name that resolves
//!   to every worker pod, or a list): activity slots in use and free per worker, and how many
//!   replicas answer. Without it, `ListWorkers` (the workers' heartbeats); a worker whose
//!   heartbeat is older than three `worker.heartbeat_interval`s is not counted. Found here: the
//!   Rust SDK 1.1 sends its heartbeat once, at start (one `RecordWorkerHeartbeat` request per
//!   worker, whatever the interval), so heartbeat slot counts go stale; the metrics are current;
//! - `CountWorkflowExecutions`: workflows still open on the task queue (a queue is not idle
//!   while one is, even with nothing to dispatch).
//!
//! The decision is served to KEDA over its external scaler protocol on `scaler.port`, and the
//! decision and each input are gauges on `/metrics` (`tk8s_desired_worker_replicas`,
//! `tk8s_scaler_*`). A failed read keeps the last decision and is logged.

use crate::HostError;
use crate::shutdown::ShutdownSignal;
use crate::telemetry::HostMetrics;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use temporalio_client::Client;
use temporalio_client::grpc::WorkflowService;
use temporalio_client::tonic::{Code, Request, Status};
use temporalio_common::protos::temporal::api::enums::v1::{TaskQueueKind, TaskQueueType, WorkerStatus};
use temporalio_common::protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    CountWorkflowExecutionsRequest, DescribeTaskQueueRequest, ListWorkersRequest,
};
use tk8s_config::Config;
use tk8s_scaler::{Decision, Inputs, Params, Rule};
use tokio::sync::watch;
use tracing::{info, warn};

pub async fn run(config: &Config, client: Client, metrics: Arc<HostMetrics>, mut signal: ShutdownSignal) -> Result<(), HostError> {
    let addr = config.scaler.addr;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| HostError::ScalerBind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| HostError::ScalerBind { addr, source })?;
    let (tx, rx) = watch::channel(None::<Decision>);
    let mut stop = signal.clone();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(tk8s_scaler::keda::Service::new(rx).server())
            .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async move { stop.requested().await }),
    );
    info!(addr = %bound, task_queue = %config.worker.task_queue, "scaler serving KEDA's external scaler protocol (gRPC)");
    let mut rule = Rule::new(Params::from(&config.scaler));
    let started = Instant::now();
    let labels = metrics.labels(&[("task_queue", &config.worker.task_queue)]);
    let mut ticker = tokio::time::interval(config.scaler.interval);
    let mut last_desired = None;
    let mut warned_heartbeats = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = signal.requested() => break,
        }
        match collect(&client, config, &mut warned_heartbeats).await {
            Ok(inputs) => {
                let d = rule.decide(started.elapsed().as_secs_f64(), &inputs);
                metrics.record_scaler(&labels, &inputs, &d);
                if last_desired != Some(d.desired) {
                    info!(
                        desired = d.desired,
                        raw = d.raw,
                        running = d.running_need,
                        capacity = d.capacity_need,
                        backlog_need = d.backlog_need,
                        backlog = inputs.backlog,
                        slots_used = inputs.slots_used,
                        replicas = inputs.current_replicas,
                        open_workflows = inputs.running_workflows,
                        "desired worker replicas"
                    );
                    last_desired = Some(d.desired);
                }
                let _ = tx.send(Some(d));
            }
            Err(e) => warn!(error = %e.message(), code = ?e.code(), "cannot read the task queue; keeping the last decision"),
        }
    }
    let _ = server.await;
    info!("shutdown ended: scaler stopped");
    Ok(())
}

/// Read everything the rule needs from Temporal. `workers_info` is deprecated in favour of a
/// list that omits the heartbeat, which holds the slot counts the rule needs.
#[allow(deprecated)]
async fn collect(client: &Client, config: &Config, warned_heartbeats: &mut bool) -> Result<Inputs, Status> {
    let namespace = config.temporal.namespace.clone();
    let queue = config.worker.task_queue.clone();
    let mut inputs = Inputs::default();
    let mut pollers = std::collections::BTreeSet::new();
    for kind in [TaskQueueType::Workflow, TaskQueueType::Activity] {
        let request = DescribeTaskQueueRequest {
            namespace: namespace.clone(),
            task_queue: Some(TaskQueue { name: queue.clone(), kind: TaskQueueKind::Normal as i32, ..Default::default() }),
            task_queue_type: kind as i32,
            report_stats: true,
            ..Default::default()
        };
        let r = client.clone().describe_task_queue(Request::new(request)).await?.into_inner();
        let stats = r.stats.unwrap_or_default();
        let backlog = u64::try_from(stats.approximate_backlog_count).unwrap_or(0);
        let dispatch = f64::from(stats.tasks_dispatch_rate);
        if kind == TaskQueueType::Activity {
            (inputs.backlog, inputs.dispatch_rate) = (backlog, dispatch);
        } else {
            (inputs.workflow_backlog, inputs.workflow_dispatch_rate) = (backlog, dispatch);
        }
        let age = stats.approximate_backlog_age.map(|d| d.seconds as f64 + f64::from(d.nanos) / 1e9).unwrap_or(0.0);
        inputs.backlog_age_s = inputs.backlog_age_s.max(age);
        inputs.add_rate += f64::from(stats.tasks_add_rate);
        pollers.extend(r.pollers.into_iter().map(|p| p.identity));
    }
    inputs.pollers = pollers.len() as u64;
    inputs.current_replicas = pollers.len() as u32;
    if !config.scaler.worker_metrics.is_empty() {
        let (used, per_replica, answered) = scrape_slots(&config.scaler.worker_metrics).await;
        inputs.slots_used = used;
        inputs.slots_per_replica = per_replica;
        inputs.current_replicas = inputs.current_replicas.max(answered);
        return finish(client, config, inputs).await;
    }
    // Slots from the workers' heartbeats, when the server serves them.
    let workers =
        ListWorkersRequest { namespace: namespace.clone(), page_size: 1000, query: format!("TaskQueue = '{queue}'"), ..Default::default() };
    match client.clone().list_workers(Request::new(workers)).await {
        Ok(r) => {
            let now = SystemTime::now();
            let fresh = config.worker.heartbeat_interval * 3;
            let beats: Vec<_> = r
                .into_inner()
                .workers_info
                .into_iter()
                .filter_map(|w| w.worker_heartbeat)
                .filter(|h| h.status == WorkerStatus::Running as i32)
                .filter(|h| {
                    let at = h
                        .heartbeat_time
                        .as_ref()
                        .map(|t| SystemTime::UNIX_EPOCH + Duration::new(t.seconds.max(0) as u64, t.nanos.max(0) as u32));
                    at.is_some_and(|at| now.duration_since(at).unwrap_or_default() <= fresh)
                })
                .collect();
            if !beats.is_empty() {
                let slots = |h: &temporalio_common::protos::temporal::api::worker::v1::WorkerHeartbeat| {
                    h.activity_task_slots_info.clone().unwrap_or_default()
                };
                inputs.slots_used = beats.iter().map(|h| u64::try_from(slots(h).current_used_slots).unwrap_or(0)).sum();
                let per: Vec<u64> = beats
                    .iter()
                    .map(|h| u64::try_from(slots(h).current_used_slots + slots(h).current_available_slots).unwrap_or(0))
                    .collect();
                inputs.slots_per_replica = per.iter().copied().max().filter(|s| *s > 0);
                inputs.current_replicas = inputs.current_replicas.max(beats.len() as u32);
            }
        }
        Err(e) if matches!(e.code(), Code::Unimplemented | Code::PermissionDenied) => {
            if !*warned_heartbeats {
                warn!(error = %e.message(), "the server does not list workers: scaling on backlog and pollers only, without slot usage");
                *warned_heartbeats = true;
            }
        }
        Err(e) => return Err(e),
    }
    finish(client, config, inputs).await
}

/// Add the workflows still open on the task queue.
async fn finish(client: &Client, config: &Config, mut inputs: Inputs) -> Result<Inputs, Status> {
    let (namespace, queue) = (config.temporal.namespace.clone(), &config.worker.task_queue);
    let open = CountWorkflowExecutionsRequest { namespace, query: format!("TaskQueue = '{queue}' AND ExecutionStatus = 'Running'") };
    inputs.running_workflows =
        u64::try_from(client.clone().count_workflow_executions(Request::new(open)).await?.into_inner().count).unwrap_or(0);
    Ok(inputs)
}

/// Activity slots from every worker's `/metrics`: (in use in total, per replica, workers that
/// answered). Each `host:port` may resolve to many addresses (a headless Service).
async fn scrape_slots(targets: &[String]) -> (u64, Option<u64>, u32) {
    let mut addrs = std::collections::BTreeSet::new();
    for target in targets {
        match tokio::net::lookup_host(target.as_str()).await {
            Ok(found) => addrs.extend(found),
            Err(e) => warn!(target, error = %e, "cannot resolve the workers' metrics address"),
        }
    }
    let scrapes = addrs
        .into_iter()
        .map(|addr| tokio::task::spawn_blocking(move || tk8s_connect::loopback::get(addr, "/metrics", Duration::from_secs(2))));
    let (mut used, mut per_replica, mut answered) = (0u64, None::<u64>, 0u32);
    for scrape in futures::future::join_all(scrapes).await {
        let Ok(Ok((200, body))) = scrape else { continue };
        let value = |name: &str| -> u64 {
            body.lines()
                .filter(|l| l.starts_with(name) && l.contains("worker_type=\"ActivityWorker\""))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .map(|v| v.max(0.0) as u64)
                .sum()
        };
        let (u, free) = (value("temporal_worker_task_slots_used{"), value("temporal_worker_task_slots_available{"));
        used += u;
        per_replica = Some(per_replica.unwrap_or(0).max(u + free));
        answered += 1;
    }
    (used, per_replica.filter(|p| *p > 0), answered)
}
