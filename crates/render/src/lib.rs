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

pub use deploy::{
    App, Auth, Autoscaler, Autoscaling, CodecServer, DeployConfig, Environment, Provider, RampStep, RoleConfig, Rollout, SkipCheck, Span,
    Temporal, VpaMode, WorkerController,
};
pub use lint::{Finding, LintReport, RULES, lint, lint_paths, parse_documents};
pub use objects::{Object, admin_port, alert_groups, dashboard_panels, objects};
pub use output::{files, objects_for, to_yaml, write_all};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The deploy config is wrong; each problem names `file:line`, the key and a hint. Exit 78.
    #[error(transparent)]
    Config(#[from] tk8s_config::ConfigError),
    /// An input (deploy config, manifest) cannot be read. Exit 66.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: std::path::PathBuf, source: std::io::Error },
    /// A manifest is not YAML Kubernetes objects. Exit 65.
    #[error("{}: {reason}", path.display())]
    Manifest { path: std::path::PathBuf, reason: String },
    /// An output cannot be written. Exit 73.
    #[error("cannot write {}: {source}", path.display())]
    Write { path: std::path::PathBuf, source: std::io::Error },
}

impl RenderError {
    /// The sysexits code a binary should exit with.
    pub fn exit_code(&self) -> u8 {
        use tk8s_config::exit;
        match self {
            RenderError::Config(e) => e.exit_code(),
            RenderError::Read { .. } => exit::NO_INPUT,
            RenderError::Manifest { .. } => exit::DATA,
            RenderError::Write { .. } => exit::CANT_CREATE,
        }
    }
}

/// A commented starting deploy config, written by `tk8s init`.
pub const INIT_TEMPLATE: &str = include_str!("init.toml");
