//! The admin server, on its own port and its own OS thread with a single-threaded runtime, so
//! probes answer even when the worker's runtime is saturated.
//!
//! - `GET /livez`: 200 unless the host loop has stopped ticking (wedged). Cheap.
//! - `GET /startupz`: 200 once connected to Temporal and (worker) polling; 503 before.
//! - `GET /readyz`: 200 when connected, polling and not draining; otherwise 503. Both carry a
//!   JSON body with the reasons and the facts behind them.
//! - `GET /metrics`: Prometheus text: the SDK's `temporal_*` and our `tk8s_*` metrics.

use crate::HostError;
use crate::health::Health;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Clone)]
struct AdminState {
    health: Arc<Health>,
    exporter: SocketAddr,
}

fn app(state: AdminState) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/startupz", get(startupz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn livez(State(s): State<AdminState>) -> Response {
    if s.health.live() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "host loop is not responding\n").into_response()
    }
}

async fn startupz(State(s): State<AdminState>) -> Response {
    let r = s.health.readiness();
    let code = if r.started { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(r)).into_response()
}

async fn readyz(State(s): State<AdminState>) -> Response {
    let r = s.health.readiness();
    let code = if r.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(r)).into_response()
}

async fn metrics(State(s): State<AdminState>) -> Response {
    match scrape(s.exporter).await {
        Ok(body) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics registry did not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable\n").into_response()
        }
    }
}

/// Fetch the exposition from the SDK's exporter on loopback (off the admin runtime's thread).
async fn scrape(exporter: SocketAddr) -> std::io::Result<String> {
    let got = tokio::task::spawn_blocking(move || tk8s_connect::loopback::get(exporter, "/metrics", std::time::Duration::from_secs(5)))
        .await
        .map_err(std::io::Error::other)??;
    match got {
        (200, body) => Ok(body),
        (status, _) => Err(std::io::Error::other(format!("HTTP {status}"))),
    }
}

/// Bind (so a taken port is reported before anything else starts) and serve on a dedicated
/// thread. Returns the bound address.
pub fn spawn(addr: SocketAddr, health: Arc<Health>, exporter: SocketAddr) -> Result<SocketAddr, HostError> {
    let listener = std::net::TcpListener::bind(addr).map_err(|source| HostError::AdminBind { addr, source })?;
    listener.set_nonblocking(true).map_err(|source| HostError::AdminBind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| HostError::AdminBind { addr, source })?;
    let router = app(AdminState { health, exporter });
    std::thread::Builder::new()
        .name("tk8s-admin".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => return tracing::error!(error = %e, "admin runtime failed to start"),
            };
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        if let Err(e) = axum::serve(l, router).await {
                            tracing::error!(error = %e, "admin server stopped");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "admin listener failed"),
                }
            });
        })
        .map_err(|e| HostError::startup("cannot start the admin thread", e))?;
    Ok(bound)
}
