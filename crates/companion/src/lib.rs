//! `tk8s companion`: health for a Temporal worker written in any language, without a line of
//! its code changed. No SDK exposes a health endpoint, but the server knows: DescribeTaskQueue
//! lists each poller with its identity and when it last polled, and every SDK's default
//! identity is `<pid>@<hostname>`, where a pod's hostname is its name. Run beside the worker in
//! its pod (a native sidecar), the companion answers the pod's probes:
//!
//! - [`health`]: the readiness rule (Temporal reachable, a poller of this pod fresh, not
//!   shutting down);
//! - [`identity`]: which identities are this pod's (`companion.identity`, `*@{pod}` by default);
//! - [`server`]: `/livez` `/readyz` `/startupz` `/metrics` on the admin port;
//! - [`metrics`]: its own gauges (the worker's own metrics are relayed after them).
//!
//! It makes two DescribeTaskQueue calls (workflow and activity task types) per
//! `companion.check_interval` (5 s by default: 0.4 requests/s per pod), links no SDK core, and
//! uses the pod's Temporal connection settings (TEMPORAL_ADDRESS, TLS, API key), as the worker
//! does.

pub mod health;
pub mod identity;
pub mod metrics;
pub mod server;

use health::{Health, Poller, TaskType};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use temporalio_client::Client;
use temporalio_client::grpc::WorkflowService;
use temporalio_client::tonic::Request;
use temporalio_common::protos::temporal::api::enums::v1::{TaskQueueKind, TaskQueueType};
use temporalio_common::protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeTaskQueueRequest;
use tk8s_config::{Config, exit, spec};
use tracing::{info, warn};

#[derive(Debug, thiserror::Error)]
pub enum CompanionError {
    /// The connection settings are unusable (78) or the admin port is taken (1).
    #[error(transparent)]
    Temporal(#[from] tk8s_connect::ConnectError),
    #[error("companion cannot bind {addr}: {source}\n  hint: set {} to a free port", spec::ADMIN_PORT.env)]
    Bind { addr: SocketAddr, source: std::io::Error },
}

impl CompanionError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CompanionError::Temporal(e) => e.exit_code(),
            CompanionError::Bind { .. } => exit::FAILURE,
        }
    }
}

/// Check, serve, and on `shutdown` turn readiness off, serve 503 for `shutdown.hard_deadline`
/// (so the kubelet reads "not ready" rather than "refused"), then return.
pub async fn run(config: &Config, pod: &str, shutdown: impl Future<Output = ()> + Send) -> Result<(), CompanionError> {
    let c = &config.companion;
    let identities = identity::Identities::new(&c.identity, pod);
    let health = Arc::new(Health::new(SystemTime::now(), c.poller_freshness, c.check_interval));
    let metrics = Arc::new(metrics::Metrics::new());
    let listener =
        tokio::net::TcpListener::bind(config.admin).await.map_err(|source| CompanionError::Bind { addr: config.admin, source })?;
    let bound = listener.local_addr().map_err(|source| CompanionError::Bind { addr: config.admin, source })?;
    let state = server::ServerState { health: health.clone(), metrics: metrics.clone(), worker_metrics: c.worker_metrics.clone() };
    let serving = tokio::spawn(async move { axum::serve(listener, server::app(state)).await });
    info!(admin = %bound, task_queue = %config.worker.task_queue, pod, identity = ?c.identity, interval_ms = c.check_interval.as_millis() as u64,
        "companion listening: /livez /readyz /startupz /metrics");
    // Configuration problems (unreadable certificates, a bad address) stop it now; an
    // unreachable Temporal only keeps it not ready.
    tk8s_connect::prepare(config, None, format!("tk8s-companion@{pod}"))?;
    let checking = check_loop(config, identities, health.clone(), metrics);
    tokio::pin!(shutdown);
    tokio::select! {
        () = checking => {}
        () = &mut shutdown => {}
    }
    health.mark_draining();
    info!(linger_ms = config.shutdown.hard_deadline.as_millis() as u64, "shutdown requested: readiness off");
    tokio::time::sleep(config.shutdown.hard_deadline).await;
    serving.abort();
    info!("companion stopped");
    Ok(())
}

/// Every interval: connect if not connected, then ask for the task queue's pollers.
async fn check_loop(config: &Config, identities: identity::Identities, health: Arc<Health>, metrics: Arc<metrics::Metrics>) {
    let mut client: Option<Client> = None;
    let mut ticker = tokio::time::interval(config.companion.check_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ready = None;
    loop {
        ticker.tick().await;
        if client.is_none() {
            let prepared = match tk8s_connect::prepare(config, None, "tk8s-companion".into()) {
                Ok(p) => p,
                Err(e) => {
                    health.record(Err(e.to_string()));
                    continue;
                }
            };
            let deadline = config.companion.check_interval.max(Duration::from_secs(2));
            match prepared.connect(&config.temporal.namespace, Default::default(), deadline).await {
                Ok((c, _)) => client = Some(c),
                Err(e) => {
                    warn!(error = %e, "companion cannot reach Temporal yet");
                    health.record(Err(e.to_string()));
                    metrics.record(None, &[], false);
                    continue;
                }
            }
        }
        let Some(c) = &client else { continue };
        let result = pollers(c, config, &identities).await;
        let seen = result.as_ref().ok().cloned();
        health.record(result);
        let r = health.readiness();
        let own: Vec<(TaskType, usize)> = [TaskType::Workflow, TaskType::Activity]
            .into_iter()
            .map(|t| (t, r.own_pollers.iter().filter(|p| p.task_type == t).count()))
            .collect();
        metrics.record(seen.as_deref(), &own, r.ready);
        if last_ready != Some(r.ready) {
            info!(ready = r.ready, reasons = ?r.reasons, own_pollers = r.own_pollers.len(), "readiness changed");
            last_ready = Some(r.ready);
        }
    }
}

/// The pollers on the worker's task queue, workflow and activity tasks, each marked as this
/// pod's or not.
async fn pollers(client: &Client, config: &Config, ids: &identity::Identities) -> Result<Vec<Poller>, String> {
    let mut out = Vec::new();
    for (kind, task_type) in [(TaskQueueType::Workflow, TaskType::Workflow), (TaskQueueType::Activity, TaskType::Activity)] {
        let request = DescribeTaskQueueRequest {
            namespace: config.temporal.namespace.clone(),
            task_queue: Some(TaskQueue {
                name: config.worker.task_queue.clone(),
                kind: TaskQueueKind::Normal as i32,
                ..Default::default()
            }),
            task_queue_type: kind as i32,
            ..Default::default()
        };
        let mut request = Request::new(request);
        request.set_timeout(Duration::from_secs(5));
        let response = client.clone().describe_task_queue(request).await.map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
        for p in response.into_inner().pollers {
            let last_access = p
                .last_access_time
                .map(|t| SystemTime::UNIX_EPOCH + Duration::new(u64::try_from(t.seconds).unwrap_or(0), u32::try_from(t.nanos).unwrap_or(0)))
                .unwrap_or(SystemTime::UNIX_EPOCH);
            out.push(Poller { ours: ids.matches(&p.identity), identity: p.identity, task_type, last_access });
        }
    }
    Ok(out)
}
