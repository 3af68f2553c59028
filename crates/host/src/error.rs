//! What can stop a host, each with the exit code it maps to. Causes are kept as typed sources
//! where the cause has a type; hints are attached where the failure is classified (a file that is
//! not a certificate, a namespace that does not exist, a connection failure: see `diagnose.rs`).

use crate::Role;
use std::error::Error as StdError;
use std::net::SocketAddr;
use tk8s_config::exit;
use tk8s_config::spec as S;

type Source = Box<dyn StdError + Send + Sync>;

/// Why a started workflow did not complete, or could not be started.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("starting {workflow_id}: {source}")]
    Start { workflow_id: String, source: Source },
    #[error("{workflow_id} did not complete: {source}")]
    Failed { workflow_id: String, source: Source },
}

/// What can stop a host from running.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The encryption keys do not load. Exit 78.
    #[error("encryption keys: {0}")]
    Keys(#[source] tk8s_codec::CodecError),
    /// Temporal cannot be used as configured (material, address, namespace) or reached: the
    /// connection's own exit code (78 or 1).
    #[error(transparent)]
    Temporal(#[from] tk8s_connect::ConnectError),
    /// A history file or directory to replay cannot be read or is not a history. Exit 66.
    #[error("{}: {reason}\n  hint: give the JSON `temporal workflow show --output json` writes, or a directory `{} replay --save` wrote", path.display(), "<app>")]
    ReplayInput { path: std::path::PathBuf, reason: String },
    /// Temporal cannot be listed or read for histories. Exit 69.
    #[error("cannot read histories from Temporal: {0}")]
    ReplayUnavailable(String),
    /// Some histories do not replay (exit 1) or cannot be decoded (exit 65); the report says which.
    #[error("{failed} histories do not replay with this build, {undecodable} cannot be decoded")]
    ReplayRefused { failed: usize, undecodable: usize },
    /// Traces cannot be exported to the configured collector. Exit 78.
    #[error("{} = {endpoint}: {source}", S::LOG_OTLP_ENDPOINT.key)]
    Traces { endpoint: String, source: Source },
    /// Exit 1.
    #[error("admin server cannot bind {addr}: {source}\n  hint: set {} to a free port", S::ADMIN_PORT.env)]
    AdminBind { addr: SocketAddr, source: std::io::Error },
    /// Exit 1.
    #[error("scaler cannot bind {addr}: {source}\n  hint: set {} to a free port", S::SCALER_PORT.env)]
    ScalerBind { addr: SocketAddr, source: std::io::Error },
    /// The app registers nothing for this role. Exit 1.
    #[error("this app has no {} role: {}", .0.name(), match .0 { Role::Worker => "it registers no workflows or activities (App::worker)", Role::Orchestrator => "it registers nothing to start (App::orchestrator)", _ => "the host does not run it" })]
    NoRole(Role),
    /// Anything else that prevents start-up. Exit 1.
    #[error("{what}: {source}")]
    Startup { what: &'static str, source: Source },
    /// The SDK worker failed. Exit 1.
    #[error("worker failed: {0}")]
    Worker(#[source] Source),
    #[error("the worker stopped without a shutdown request")]
    WorkerStoppedUnasked,
    /// A schedule could not be created or updated. Exit 1.
    #[error("{action} schedule {schedule_id}: {source}")]
    Schedule { action: &'static str, schedule_id: String, source: Source },
    /// In `once` mode, some started workflows did not complete. Exit 1.
    #[error("{failed} of {count} workflows did not complete successfully")]
    WorkflowsFailed { failed: u64, count: u64 },
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
}

impl HostError {
    pub fn exit_code(&self) -> u8 {
        match self {
            HostError::Temporal(e) => e.exit_code(),
            HostError::ReplayInput { .. } => exit::NO_INPUT,
            HostError::ReplayUnavailable(_) => exit::UNAVAILABLE,
            HostError::ReplayRefused { failed: 0, .. } => exit::DATA,
            HostError::ReplayRefused { .. } => exit::FAILURE,
            HostError::Keys(_) | HostError::Traces { .. } => exit::CONFIG,
            _ => exit::FAILURE,
        }
    }

    pub(crate) fn startup(what: &'static str, source: impl Into<Source>) -> HostError {
        HostError::Startup { what, source: source.into() }
    }
}
