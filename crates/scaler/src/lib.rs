//! How many worker replicas a task queue needs, from what Temporal itself knows: the backlog
//! and how fast it is dispatched, the slots the workers have in use (their heartbeats), and the
//! workflows still open. Pure parts here; the `scaler` role of a hosted app (tk8s-host) reads
//! Temporal, feeds [`rule::Rule`], serves [`keda`] and exports the gauges.
//!
//! - [`rule`]: the rule (pure; time supplied by the caller);
//! - [`simulate`]: a deterministic worker-pool simulator and the traces the rule is compared on,
//!   against KEDA's backlog-only trigger and an HPA on CPU;
//! - [`keda`]: KEDA's external scaler protocol (gRPC), served from the latest decision.

pub mod keda;
pub mod rule;
pub mod simulate;

pub use rule::{Decision, Inputs, Params, Rule};
