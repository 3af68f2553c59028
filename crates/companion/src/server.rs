//! The companion's HTTP server on the pod's admin port, where the rendered probes point:
//!
//! - `GET /livez`: 200 unless the check loop has stopped (the companion's own liveness);
//! - `GET /worker/livez`: 503 once the worker, ready before, has not polled for three
//!   freshness windows while Temporal answers (the worker container's liveness: a wedged
//!   process is restarted, an outage restarts nothing);
//! - `GET /startupz`: 200 once the worker has been ready once; 503 before;
//! - `GET /readyz`: 200 while Temporal answers and a poller of this pod is fresh, 503 otherwise
//!   and from the first SIGTERM on; both with the JSON of [`Readiness`](crate::health::Readiness);
//! - `GET /metrics`: the companion's `tk8s_companion_*` gauges, then the worker's own metrics
//!   relayed from `companion.worker_metrics` (one scrape target per pod).

use crate::health::Health;
use crate::metrics::Metrics;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct ServerState {
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    /// `host:port` of the worker's Prometheus endpoint.
    pub worker_metrics: Option<String>,
}

pub fn app(state: ServerState) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/worker/livez", get(worker_livez))
        .route("/startupz", get(startupz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn livez(State(s): State<ServerState>) -> Response {
    if s.health.live() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "check loop stopped\n").into_response()
    }
}

async fn worker_livez(State(s): State<ServerState>) -> Response {
    if s.health.worker_live() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "the worker has not polled for three freshness windows while Temporal answers\n").into_response()
    }
}

async fn startupz(State(s): State<ServerState>) -> Response {
    let r = s.health.readiness();
    let code = if r.started { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(r)).into_response()
}

async fn readyz(State(s): State<ServerState>) -> Response {
    let r = s.health.readiness();
    let code = if r.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(r)).into_response()
}

async fn metrics(State(s): State<ServerState>) -> Response {
    let relayed = match s.worker_metrics.clone() {
        Some(target) => {
            let got = tokio::task::spawn_blocking(move || {
                let addr = std::net::ToSocketAddrs::to_socket_addrs(&target).ok()?.next()?;
                tk8s_connect::loopback::get(addr, "/metrics", Duration::from_secs(3)).ok()
            })
            .await
            .ok()
            .flatten();
            match got {
                Some((200, body)) => {
                    s.metrics.worker_metrics_up.set(1);
                    Some(body)
                }
                _ => {
                    s.metrics.worker_metrics_up.set(0);
                    None
                }
            }
        }
        None => None,
    };
    let mut body = s.metrics.render();
    if let Some(worker) = relayed {
        body.push_str(&worker);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{Poller, TaskType};
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use std::time::SystemTime;
    use tower::ServiceExt;

    async fn get(app: &Router, path: &str) -> (u16, String) {
        let response = app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn the_probes_follow_the_pods_pollers() {
        let health = Arc::new(Health::new(SystemTime::now() - Duration::from_secs(60), Duration::from_secs(70), Duration::from_secs(5)));
        let metrics = Arc::new(Metrics::new());
        let app = app(ServerState { health: health.clone(), metrics: metrics.clone(), worker_metrics: None });
        assert_eq!(get(&app, "/livez").await.0, 200);
        let (status, body) = get(&app, "/readyz").await;
        assert_eq!(status, 503);
        assert!(body.contains("\"reasons\":[\"Temporal not checked yet\"]"), "{body}");
        assert_eq!(get(&app, "/startupz").await.0, 503);
        let ours = Poller { identity: "1@p".into(), task_type: TaskType::Workflow, last_access: SystemTime::now(), ours: true };
        health.record(Ok(vec![ours.clone()]));
        metrics.record(Some(&[ours]), &[(TaskType::Workflow, 1)], true);
        assert_eq!(get(&app, "/readyz").await.0, 200);
        assert_eq!(get(&app, "/startupz").await.0, 200);
        assert_eq!(get(&app, "/worker/livez").await.0, 200);
        let (_, text) = get(&app, "/metrics").await;
        assert!(text.contains("tk8s_companion_ready 1") && text.contains("tk8s_companion_own_pollers{task_type=\"workflow\"} 1"), "{text}");
        health.mark_draining();
        assert_eq!(get(&app, "/readyz").await.0, 503);
    }
}
