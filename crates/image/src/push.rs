//! Pushing and loading a built layout with skopeo, which copies blobs as they are: the digest
//! in the registry is the one [`crate::oci::build`] computed.

use crate::oci::Built;
use crate::{ImageError, run};
use std::process::Command;

const SKOPEO_HINT: &str = "install skopeo (Debian/Ubuntu: apt-get install skopeo); or copy the OCI layout with any tool that reads one";

/// Push to `reference` (`registry/repository:tag`); `insecure`: plain HTTP or an untrusted
/// certificate (a local registry). Returns the digest the registry holds.
pub fn push(built: &Built, reference: &str, insecure: bool) -> Result<String, ImageError> {
    let digest_file = built.layout.join("pushed-digest");
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--quiet", "--preserve-digests"]);
    if insecure {
        cmd.arg("--dest-tls-verify=false");
    }
    cmd.arg("--digestfile").arg(&digest_file);
    cmd.arg(format!("oci:{}:{}", built.layout.display(), built.tag)).arg(format!("docker://{reference}"));
    run("skopeo", &mut cmd, SKOPEO_HINT)?;
    let digest = std::fs::read_to_string(&digest_file).map_err(|source| ImageError::Read { path: digest_file.clone(), source })?;
    let _ = std::fs::remove_file(&digest_file);
    Ok(digest.trim().to_string())
}
