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
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Fetch the exposition from the SDK's exporter on loopback (HTTP/1.0: one request, then EOF).
async fn scrape(exporter: SocketAddr) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(exporter).await?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").await?;
    let mut raw = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut raw))
        .await
        .map_err(|_| std::io::Error::other("timed out"))??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other("malformed response"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(std::io::Error::other(head.lines().next().unwrap_or("").to_string()));
    }
    Ok(body.to_string())
}

/// Bind (so a taken port is reported before anything else starts) and serve on a dedicated
/// thread. Returns the bound address.
pub fn spawn(addr: SocketAddr, health: Arc<Health>, exporter: SocketAddr) -> Result<SocketAddr, HostError> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| HostError::Startup(format!("admin server cannot bind {addr}: {e}; hint: set TK8S_ADMIN_PORT to a free port")))?;
    listener.set_nonblocking(true).map_err(|e| HostError::Startup(e.to_string()))?;
    let bound = listener.local_addr().map_err(|e| HostError::Startup(e.to_string()))?;
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
        .map_err(|e| HostError::Startup(format!("cannot start admin thread: {e}")))?;
    Ok(bound)
}
