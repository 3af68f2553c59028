//! The image contract: what an app's container image must be for the manifests `tk8s render`
//! writes to run it. `tk8s image build` builds images to it, the Dockerfiles (the example's and
//! the one `tk8s new` writes) follow it, render's manifests and Helm notes rely on it, and
//! `tk8s lint` flags manifests that break it (TK014).
//!
//! - the app's binary is `/usr/local/bin/<app>` and is the image's ENTRYPOINT; the role is the
//!   container's argument (`args: [worker]`), `worker` when none is given;
//! - the image runs as uid/gid 65532 (`nonroot`), needs no writable root filesystem and no
//!   capabilities;
//! - `TK8S_LOG_FORMAT=json`, and the admin port (`/livez` `/readyz` `/startupz` `/metrics`) is
//!   exposed;
//! - images built from a Dockerfile also carry `HEALTHCHECK <app> probe readyz` (no curl in a
//!   distroless image); the OCI format `tk8s image build` writes has no field for one, and
//!   Kubernetes uses the rendered probes instead.

use crate::role::Role;
use crate::spec;

/// Where the app's binary lives in the image.
pub const BIN_DIR: &str = "/usr/local/bin";
/// The uid and gid the image runs as (distroless' `nonroot`).
pub const USER: u32 = 65532;
/// The role a container runs when its manifest gives no argument.
pub const DEFAULT_ROLE: Role = Role::Worker;

/// The app binary's path in the image: its ENTRYPOINT.
pub fn entrypoint(app: &str) -> String {
    format!("{BIN_DIR}/{app}")
}

/// The admin port the image exposes: the setting's default.
pub fn admin_port() -> u16 {
    spec::ADMIN_PORT.default_int().and_then(|p| u16::try_from(p).ok()).unwrap_or(9090)
}

/// Environment the image sets.
pub fn env() -> Vec<(&'static str, String)> {
    vec![(spec::LOG_FORMAT.env, "json".into()), (spec::ADMIN_PORT.env, admin_port().to_string())]
}
