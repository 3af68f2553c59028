//! Container images of temporal-k8s apps without a Dockerfile, a builder or a daemon, the way
//! `ko` builds Go images: the app's own binary on a distroless-equivalent base, written as an OCI
//! image layout.
//!
//! - [`base`]: the base's root filesystem, assembled from Debian packages (glibc, libgcc, CA
//!   certificates, base-files, netbase) the way distroless itself is made, cached per machine;
//! - [`layer`]: deterministic layers: entries sorted, owners and times fixed, gzip without a
//!   timestamp, so the same inputs give the same digests on every build;
//! - [`oci`]: the OCI layout (blobs, manifest, index) with the image contract's config
//!   (`tk8s_config::contract`) and OCI labels;
//! - [`push`]: to a registry with skopeo, keeping the digests;
//! - [`sbom`]: the CycloneDX SBOM of the binary (from its `cargo auditable` data) and the base.
//!
//! Times come from `SOURCE_DATE_EPOCH` when it is set (else 0), so two builds of one commit
//! give one digest.

pub mod base;
pub mod layer;
pub mod oci;
pub mod push;
pub mod sbom;

use std::path::PathBuf;

/// What can go wrong building or pushing an image; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A tool the step needs is missing or failed. Exit 69.
    #[error("{tool}: {reason}\n  hint: {hint}")]
    Tool { tool: &'static str, reason: String, hint: String },
    /// An input cannot be read. Exit 66.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// An output cannot be written. Exit 73.
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    /// The binary needs libraries the base does not hold. Exit 65.
    #[error("{} needs {} which the base does not hold\n  hint: build it against glibc without extra shared libraries (rustls, not OpenSSL), or add the Debian package that provides them", binary.display(), missing.join(", "))]
    MissingLibraries { binary: PathBuf, missing: Vec<String> },
}

impl ImageError {
    pub fn exit_code(&self) -> u8 {
        use tk8s_config::exit;
        match self {
            ImageError::Tool { .. } => exit::UNAVAILABLE,
            ImageError::Read { .. } => exit::NO_INPUT,
            ImageError::Write { .. } => exit::CANT_CREATE,
            ImageError::MissingLibraries { .. } => exit::DATA,
        }
    }
}

/// `SOURCE_DATE_EPOCH` (reproducible builds' convention), or 0.
pub fn source_date_epoch(env: &std::collections::BTreeMap<String, String>) -> u64 {
    env.get("SOURCE_DATE_EPOCH").and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// Run a command; its stdout, or a [`ImageError::Tool`] with its stderr and `hint`.
pub(crate) fn run(tool: &'static str, cmd: &mut std::process::Command, hint: &str) -> Result<String, ImageError> {
    let out = cmd.stdin(std::process::Stdio::null()).output().map_err(|e| ImageError::Tool {
        tool,
        reason: format!("cannot run it: {e}"),
        hint: hint.into(),
    })?;
    if !out.status.success() {
        return Err(ImageError::Tool {
            tool,
            reason: format!("failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()),
            hint: hint.into(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
