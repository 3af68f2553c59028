//! `tk8s codec-server`: Temporal's codec protocol over HTTP, so the Web UI and the `temporal`
//! CLI can show payloads that workers encrypted with `tk8s-codec`. Separate from the codec so
//! that workers link only the codec, not this HTTP stack, JWT verification or a JWKS client.
//!
//! - [`router`]: the routes (`/encode`, `/decode`, CORS, auth, `/livez` `/readyz` `/metrics`);
//! - [`jwt`]: JWT bearer tokens verified against a JWKS;
//! - [`serve`]: the server's lifecycle (refuse an unprotected exposure, load keys, bind, serve
//!   until shutdown, follow key rotation), as a library function tests call in process.

pub mod jwt;
pub mod router;
mod serve;

pub use serve::{Bound, ServeError, bind, serve};
