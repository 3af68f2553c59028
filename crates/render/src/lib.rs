//! `tk8s render` and `tk8s lint`: one deploy config in, Kubernetes manifests and kustomize
//! overlays out, built as typed `k8s-openapi` objects (no string templates) from the same
//! settings table the binary reads; and a linter for the Temporal-specific mistakes generic
//! scanners miss. Pure functions; the CLI does the I/O.

mod codec_server;
mod deploy;
mod helm;
mod lint;
mod objects;
mod output;

pub use deploy::{App, Auth, Autoscaling, CodecServer, DeployConfig, Environment, RampStep, Role, Rollout, Scaler, SkipCheck, Temporal, WorkerController};
pub use lint::{Finding, RULES, lint, parse_documents};
pub use objects::{Object, admin_port, alert_groups, dashboard_panels, objects};
pub use output::{files, objects_for, to_yaml, write_all};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The deploy config is wrong; the message names `file:line` or the setting.
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Io(String),
}

/// A commented starting deploy config, written by `tk8s init`.
pub const INIT_TEMPLATE: &str = include_str!("init.toml");
