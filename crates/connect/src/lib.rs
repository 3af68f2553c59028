//! A Temporal client from temporal-k8s configuration, shared by everything that dials Temporal:
//! the hosted roles (tk8s-host) and `tk8s companion`, which must not link the SDK core.
//!
//! - [`connect`]: connection options from the validated settings (plaintext, TLS with a custom CA
//!   and server name, mTLS from a `kubernetes.io/tls` mount, an API key), reloading client
//!   certificates and API key files as Kubernetes rotates them, dialling with a deadline and
//!   back-off, and the one cheap RPC that proves the namespace exists;
//! - [`diagnose`]: why a connection failed and what to do, from typed causes.

pub mod connect;
pub mod diagnose;
pub mod loopback;

pub use connect::{LoadedCert, Prepared, Reloader, check_namespace, facts, load_certified_key, prepare, utc};
pub use diagnose::{Diagnosis, Facts, Hint};

use std::path::PathBuf;
use tk8s_config::exit;
use tk8s_config::spec as S;

/// A TLS file (client certificate, key, CA) or an API key file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MaterialError {
    #[error("{}: cannot read: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: not a PEM {what}: {source}", path.display())]
    NotPem { path: PathBuf, what: &'static str, source: rustls::pki_types::pem::Error },
    #[error("{}: contains no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: not an X.509 certificate: {reason}", path.display())]
    NotX509 { path: PathBuf, reason: String },
    #[error("{} does not match {}: {source}", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf, source: rustls::Error },
    #[error("{} is empty", path.display())]
    Empty { path: PathBuf },
}

/// Why Temporal cannot be used as configured.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A file the configuration names holds unusable material. Exit 78.
    #[error("{setting}: {source}")]
    Material { setting: &'static str, source: Box<MaterialError> },
    /// The client certificate has expired. Exit 78.
    #[error("client certificate {} expired on {not_after}\n  hint: mount a renewed certificate (check whoever issues it, e.g. cert-manager); nothing can connect with this one", path.display())]
    CertificateExpired { path: PathBuf, not_after: String },
    /// Exit 78.
    #[error("{} {address:?} is not valid: {source}", S::TEMPORAL_ADDRESS.key)]
    Address { address: String, source: url::ParseError },
    /// The namespace is not on the server. Exit 78.
    #[error("namespace {namespace:?} does not exist on the server\n  hint: set {} or create it with `temporal operator namespace create`", S::TEMPORAL_NAMESPACE.env)]
    NoSuchNamespace { namespace: String },
    /// Temporal did not answer within the deadline. Exit 1.
    #[error("cannot connect to Temporal: {0}")]
    Unreachable(Diagnosis),
}

impl ConnectError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ConnectError::Unreachable(_) => exit::FAILURE,
            _ => exit::CONFIG,
        }
    }
}
