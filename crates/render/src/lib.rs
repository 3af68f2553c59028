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
pub mod reference;

pub use deploy::{
    App, Auth, Autoscaler, Autoscaling, CodecServer, DeployConfig, Environment, KeyProblem, Provider, RampStep, ReplayGate, RoleConfig,
    Rollout, Sdk, SkipCheck, Span, Temporal, VpaMode, WorkerController, is_dns_label,
};
pub use lint::{Finding, LintReport, RULES, lint, lint_paths, parse_documents};
pub use objects::{
    CODEC_KEYS_ENV, GRACEFUL_SHUTDOWN_ANNOTATION, Object, REPLAY_GATE, SDK_ANNOTATION, TASK_QUEUE_ENV, admin_port, alert_groups,
    dashboard_panels, objects,
};
pub use output::{MARKER, Written, files, objects_for, to_yaml, write_all};

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
    /// The output directory holds files a render did not write. Exit 73.
    #[error("{} holds files `tk8s render` did not write (it has no {})\n  hint: render into an empty directory, or pass --force to take it over (later renders then remove files they no longer write)", path.display(), output::MARKER)]
    NotOurs { path: std::path::PathBuf },
    /// No Kubernetes objects were found where lint looked. Exit 66.
    #[error(
        "no Kubernetes objects in {}\n  hint: point lint at manifest files or a directory of them (for a render's output: its plain/ directory, or the render directory itself)",
        paths
    )]
    NothingToLint { paths: String },
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
            RenderError::Write { .. } | RenderError::NotOurs { .. } => exit::CANT_CREATE,
            RenderError::NothingToLint { .. } => exit::NO_INPUT,
        }
    }
}

/// A commented starting deploy config for the app `name`, written by `tk8s init` and `tk8s new`:
/// minimal defaults (no kinds that need an operator), every option shown commented. With
/// `binary` (a path relative to the file), render checks the config against the app's code.
pub fn init_template(name: &str, binary: Option<&str>) -> String {
    let binary = match binary {
        Some(b) => format!("binary = \"{b}\"        # the built app: render checks this file against its code"),
        None => format!("# binary = \"target/release/{name}\"   # the built app: render then checks this file against its code"),
    };
    include_str!("init.toml").replace("@APP@", name).replace("@BINARY@", &binary)
}
