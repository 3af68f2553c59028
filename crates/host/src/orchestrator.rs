//! The orchestrator role: start workflows in one of four modes, with deterministic workflow ids
//! so a restarted orchestrator never starts the same unit of work twice, and export the task
//! queue's backlog and poller count (the signal worker autoscaling needs).
//!
//! Workflow ids: `once` uses `<prefix>-once-<n>`; `interval` and `rate` use
//! `<prefix>-<mode>-<slot>`, where the slot is the number of whole periods since the Unix epoch,
//! so two orchestrators (or one restarted) agree on the id for each tick. Ids are started with
//! the reject-duplicate policy, so a finished id is never re-run either.

use crate::shutdown::ShutdownSignal;
use crate::telemetry::HostMetrics;
use crate::{HostError, WorkflowError};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use temporalio_client::errors::WorkflowStartError;
use temporalio_client::schedules::{CreateScheduleOptions, ScheduleAction, ScheduleError, ScheduleIntervalSpec, ScheduleSpec};
use temporalio_client::{Client, WorkflowGetResultOptions, WorkflowIdReusePolicy, WorkflowStartOptions};
use temporalio_common::HasWorkflowDefinition;
use temporalio_common::data_converters::{TemporalDeserializable, TemporalSerializable};
use tk8s_config::{Config, Mode};
use tokio::sync::Semaphore;
use tracing::{info, warn};

/// The outcome of one start request.
#[derive(Debug, Clone)]
pub struct StartedWorkflow {
    pub workflow_id: String,
    /// The id was already taken: started earlier (possibly by a previous orchestrator run).
    pub already_started: bool,
}

/// How the orchestrator starts one kind of workflow; build it with [`typed`].
pub trait Starter: Send + Sync {
    fn start<'a>(
        &'a self,
        client: &'a Client,
        task_queue: &'a str,
        workflow_id: &'a str,
        input: &'a str,
    ) -> BoxFuture<'a, Result<StartedWorkflow, WorkflowError>>;
    /// Wait for the workflow to close; `Err` says how it failed.
    fn wait<'a>(&'a self, client: &'a Client, workflow_id: &'a str) -> BoxFuture<'a, Result<(), WorkflowError>>;
    fn schedule_action(&self, task_queue: &str, workflow_id_prefix: &str, input: &str) -> ScheduleAction;
}

struct Typed<M, F> {
    workflow: M,
    input: F,
}

/// A [`Starter`] for the workflow `workflow()` names (e.g. `|| GreetingWorkflow::run`; the
/// SDK's workflow markers are not `Clone`), with `input` turning the configured input text into
/// the workflow's input type.
pub fn typed<W, M, F>(workflow: M, input: F) -> impl Starter
where
    W: HasWorkflowDefinition + Send + Sync + 'static,
    W::Input: TemporalSerializable + Send + Sync + 'static,
    W::Output: TemporalDeserializable + Send + 'static,
    M: Fn() -> W + Send + Sync + 'static,
    F: Fn(&str) -> W::Input + Send + Sync + 'static,
{
    Typed { workflow, input }
}

impl<W, M, F> Starter for Typed<M, F>
where
    W: HasWorkflowDefinition + Send + Sync + 'static,
    W::Input: TemporalSerializable + Send + Sync + 'static,
    W::Output: TemporalDeserializable + Send + 'static,
    M: Fn() -> W + Send + Sync + 'static,
    F: Fn(&str) -> W::Input + Send + Sync + 'static,
{
    fn start<'a>(
        &'a self,
        client: &'a Client,
        task_queue: &'a str,
        workflow_id: &'a str,
        input: &'a str,
    ) -> BoxFuture<'a, Result<StartedWorkflow, WorkflowError>> {
        Box::pin(async move {
            let options =
                WorkflowStartOptions::new(task_queue, workflow_id).id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate).build();
            match client.start_workflow((self.workflow)(), (self.input)(input), options).await {
                Ok(_) => Ok(StartedWorkflow { workflow_id: workflow_id.into(), already_started: false }),
                Err(WorkflowStartError::AlreadyStarted { .. }) => {
                    Ok(StartedWorkflow { workflow_id: workflow_id.into(), already_started: true })
                }
                Err(e) => Err(WorkflowError::Start { workflow_id: workflow_id.into(), source: e.into() }),
            }
        })
    }

    fn wait<'a>(&'a self, client: &'a Client, workflow_id: &'a str) -> BoxFuture<'a, Result<(), WorkflowError>> {
        Box::pin(async move {
            let handle = client.get_workflow_handle::<W>(workflow_id);
            handle
                .get_result(WorkflowGetResultOptions::default())
                .await
                .map(|_| ())
                .map_err(|e| WorkflowError::Failed { workflow_id: workflow_id.into(), source: e.into() })
        })
    }

    fn schedule_action(&self, task_queue: &str, workflow_id_prefix: &str, input: &str) -> ScheduleAction {
        ScheduleAction::start_workflow((self.workflow)(), (self.input)(input), task_queue, workflow_id_prefix)
    }
}

/// Counts outcomes and keeps the orchestrator's metrics in step.
struct Tally {
    metrics: Arc<HostMetrics>,
    labels: temporalio_common::telemetry::metrics::MetricAttributes,
}

impl Tally {
    fn started(&self) {
        self.metrics.started.add(1, &self.labels);
    }
    fn finished(&self, workflow_id: &str, result: &Result<(), WorkflowError>) {
        match result {
            Ok(()) => self.metrics.completed.add(1, &self.labels),
            Err(e) => {
                warn!(workflow_id, error = %e, "workflow did not complete");
                self.metrics.failed.add(1, &self.labels);
            }
        }
    }
}

pub async fn run(
    config: &Config,
    client: Client,
    starter: Arc<dyn Starter>,
    metrics: Arc<HostMetrics>,
    mut signal: ShutdownSignal,
) -> Result<(), HostError> {
    let o = &config.orchestrator;
    let task_queue = config.worker.task_queue.clone();
    let tally = Arc::new(Tally { labels: metrics.labels(&[("task_queue", &task_queue)]), metrics: metrics.clone() });
    // Export every counter from the start (at 0), so rates and alerts work before the first event.
    for counter in [&metrics.started, &metrics.completed, &metrics.failed] {
        counter.add(0, &tally.labels);
    }
    let backlog =
        tokio::spawn(watch_backlog(client.clone(), config.temporal.namespace.clone(), task_queue.clone(), o.backlog_interval, metrics));
    let result = match o.mode {
        Mode::Once { count } => once(config, &client, &starter, &tally, count, &mut signal).await,
        Mode::Interval { every } => ticking(config, &client, &starter, &tally, "interval", every, &mut signal).await,
        Mode::Rate { per_second } => {
            let period = Duration::from_secs_f64(1.0 / per_second);
            ticking(config, &client, &starter, &tally, "rate", period, &mut signal).await
        }
        Mode::Schedule { every } => schedule(config, &client, &starter, every).await,
    };
    backlog.abort();
    result
}

async fn start_one(
    client: &Client,
    starter: &Arc<dyn Starter>,
    tally: &Tally,
    task_queue: &str,
    id: &str,
    input: &str,
) -> Result<bool, HostError> {
    let started = starter.start(client, task_queue, id, input).await?;
    if started.already_started {
        info!(workflow_id = id, "workflow already started earlier; not starting it again");
    } else {
        tally.started();
        info!(workflow_id = id, "workflow started");
    }
    Ok(!started.already_started)
}

async fn once(
    config: &Config,
    client: &Client,
    starter: &Arc<dyn Starter>,
    tally: &Arc<Tally>,
    count: u64,
    signal: &mut ShutdownSignal,
) -> Result<(), HostError> {
    let o = &config.orchestrator;
    let ids: Vec<String> = (1..=count).map(|n| format!("{}-once-{n}", o.id_prefix)).collect();
    let mut fresh = 0u64;
    for id in &ids {
        if signal.is_requested() {
            info!("shutdown ended: stopped starting workflows");
            return Ok(());
        }
        fresh += u64::from(start_one(client, starter, tally, &config.worker.task_queue, id, &o.input).await?);
    }
    info!(requested = count, newly_started = fresh, "all workflows started");
    if !o.wait {
        return Ok(());
    }
    let mut waits: FuturesUnordered<_> = ids.iter().map(|id| async move { (id, starter.wait(client, id).await) }).collect();
    let mut failed = 0u64;
    loop {
        tokio::select! {
            next = waits.next() => match next {
                Some((id, result)) => {
                    tally.finished(id, &result);
                    failed += u64::from(result.is_err());
                }
                None => break,
            },
            _ = signal.requested() => {
                info!("shutdown ended: stopped waiting for results");
                return Ok(());
            }
        }
    }
    if failed > 0 {
        return Err(HostError::WorkflowsFailed { failed, count });
    }
    info!(completed = count, "all workflows completed");
    Ok(())
}

async fn ticking(
    config: &Config,
    client: &Client,
    starter: &Arc<dyn Starter>,
    tally: &Arc<Tally>,
    mode: &str,
    period: Duration,
    signal: &mut ShutdownSignal,
) -> Result<(), HostError> {
    let o = &config.orchestrator;
    let period_us = period.as_micros().max(1);
    let began = tokio::time::Instant::now();
    // Bound the starts and result waits in flight, so a slow server cannot pile up work.
    let in_flight = Arc::new(Semaphore::new(256));
    let mut last_slot = None;
    loop {
        if o.run_for.is_some_and(|d| began.elapsed() >= d) {
            info!("run_for elapsed; stopping");
            return Ok(());
        }
        let now_us = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros();
        let slot = now_us / period_us;
        if last_slot != Some(slot) {
            last_slot = Some(slot);
            let id = format!("{}-{mode}-{slot}", o.id_prefix);
            let permit = tokio::select! {
                p = in_flight.clone().acquire_owned() => p.map_err(|e| HostError::startup("start permits", e))?,
                _ = signal.requested() => break,
            };
            let (client, starter, tally) = (client.clone(), starter.clone(), tally.clone());
            let (task_queue, input) = (config.worker.task_queue.clone(), o.input.clone());
            tokio::spawn(async move {
                let _permit = permit;
                match start_one(&client, &starter, &tally, &task_queue, &id, &input).await {
                    Ok(true) => {
                        let result = starter.wait(&client, &id).await;
                        tally.finished(&id, &result);
                    }
                    Ok(false) => {}
                    Err(e) => warn!(error = %e, "start failed; the next tick tries a new id"),
                }
            });
        }
        let next_us = (slot + 1) * period_us;
        let sleep = Duration::from_micros(u64::try_from(next_us.saturating_sub(now_us)).unwrap_or(0));
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = signal.requested() => break,
        }
    }
    info!("shutdown ended: stopped starting workflows");
    Ok(())
}

async fn schedule(config: &Config, client: &Client, starter: &Arc<dyn Starter>, every: Duration) -> Result<(), HostError> {
    let o = &config.orchestrator;
    let action = || starter.schedule_action(&config.worker.task_queue, &o.id_prefix, &o.input);
    let spec = || ScheduleSpec::builder().intervals(vec![ScheduleIntervalSpec::from(every)]).build();
    let options = CreateScheduleOptions::builder().action(action()).spec(spec()).build();
    match client.create_schedule(&o.schedule_id, options).await {
        Ok(_) => {
            info!(schedule_id = %o.schedule_id, every = %tk8s_config::format_duration(every), "schedule created");
            Ok(())
        }
        Err(ScheduleError::Rpc(status)) if status.code() == temporalio_client::tonic::Code::AlreadyExists => {
            let (action, spec) = (action(), spec());
            client
                .get_schedule_handle(&o.schedule_id)
                .update(
                    move |update| {
                        update.set_action(action).set_spec(spec);
                    },
                    Default::default(),
                )
                .await
                .map_err(|e| HostError::Schedule { action: "updating", schedule_id: o.schedule_id.clone(), source: e.into() })?;
            info!(schedule_id = %o.schedule_id, every = %tk8s_config::format_duration(every), "schedule updated");
            Ok(())
        }
        Err(e) => Err(HostError::Schedule { action: "creating", schedule_id: o.schedule_id.clone(), source: e.into() }),
    }
}

/// Periodically read backlog and pollers for both task types of the queue.
async fn watch_backlog(client: Client, namespace: String, task_queue: String, every: Duration, metrics: Arc<HostMetrics>) {
    use temporalio_client::grpc::WorkflowService;
    use temporalio_common::protos::temporal::api::enums::v1::{TaskQueueKind, TaskQueueType};
    use temporalio_common::protos::temporal::api::taskqueue::v1::TaskQueue;
    use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeTaskQueueRequest;
    loop {
        for (task_type, kind) in [("workflow", TaskQueueType::Workflow), ("activity", TaskQueueType::Activity)] {
            let mut svc = client.clone();
            let request = DescribeTaskQueueRequest {
                namespace: namespace.clone(),
                task_queue: Some(TaskQueue { name: task_queue.clone(), kind: TaskQueueKind::Normal as i32, ..Default::default() }),
                task_queue_type: kind as i32,
                report_stats: true,
                ..Default::default()
            };
            match svc.describe_task_queue(temporalio_client::tonic::Request::new(request)).await {
                Ok(response) => {
                    let r = response.into_inner();
                    let labels = metrics.labels(&[("task_queue", &task_queue), ("task_type", task_type)]);
                    let stats = r.stats.unwrap_or_default();
                    metrics.backlog.record(u64::try_from(stats.approximate_backlog_count).unwrap_or(0), &labels);
                    let age = stats.approximate_backlog_age.map(|d| d.seconds as f64 + f64::from(d.nanos) / 1e9).unwrap_or(0.0);
                    metrics.backlog_age.record(age, &labels);
                    metrics.pollers.record(r.pollers.len() as u64, &labels);
                }
                Err(status) => warn!(task_type, error = %status.message(), "cannot describe task queue"),
            }
        }
        tokio::time::sleep(every).await;
    }
}
