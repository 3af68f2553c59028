//! The codec server's HTTP surface, as a router tests can call without a socket.
//!
//! - `POST /encode`, `POST /decode`, and the same under `/{namespace}/` (as the CLI's
//!   `--codec-endpoint` may use): body and answer are proto3 JSON `{"payloads":[{"metadata":
//!   {"encoding":"<base64>"},"data":"<base64>"}]}`; the `X-Namespace` header is logged only.
//! - CORS for an explicit allow-list of origins (the Web UI's), preflight included; other origins
//!   get no CORS headers and a 403 preflight.
//! - Bearer tokens from a mounted file (one per line, re-read when it changes) and/or JWTs
//!   verified against a JWKS ([`crate::jwt`]); with neither configured, authentication is off,
//!   which [`crate::serve`] allows only on loopback unless the user explicitly asks for it.
//! - 401 without a valid token, 413 over the body limit, 400 with a JSON error on malformed JSON
//!   or base64 or an undecodable payload, 405 on other methods.
//! - `GET /livez`, `/readyz`, `/metrics` on the same port.
//!
//! Logs name the request, never payload data or tokens.

use crate::jwt::Verifier;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use temporalio_common::protos::temporal::api::common::v1::Payload;
use tk8s_codec::Codec;
use tk8s_config::watched::{Refresh, Watch, Watched};

#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Origins allowed to call from a browser, e.g. `http://127.0.0.1:8233`. Exact match.
    pub allowed_origins: Vec<String>,
    /// File of accepted bearer tokens. With neither this nor `jwt`, authentication is off.
    pub tokens_file: Option<PathBuf>,
    /// Also accept JWT bearer tokens that this verifier accepts.
    pub jwt: Option<Arc<Verifier>>,
    pub max_body_bytes: usize,
}

/// The tokens file cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("tokens file {}: {source}", path.display())]
pub struct TokensFileError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Accepted bearer tokens from a mounted file, re-read when it changes. The file is looked at no
/// more than once a second, so a busy server does not stat it on every request.
struct Tokens(Watched<Vec<Vec<u8>>, TokensFileError>);

const TOKEN_RECHECK: Duration = Duration::from_secs(1);

impl Tokens {
    fn load(path: PathBuf) -> Result<Tokens, TokensFileError> {
        let file = path.clone();
        let read = move || {
            std::fs::read_to_string(&file)
                .map(|t| t.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| l.as_bytes().to_vec()).collect())
                .map_err(|source| TokensFileError { path: file.clone(), source })
        };
        Watched::new(Watch::Files(vec![path]), TOKEN_RECHECK, read).map(Tokens)
    }

    fn accepts(&self, given: &str) -> bool {
        if let Refresh::Failed(e) = self.0.refresh() {
            tracing::warn!(error = %e, "tokens file changed but cannot be read; keeping the tokens already loaded");
        }
        // Compare against every token without stopping early.
        self.0.get().iter().fold(false, |ok, t| ok | constant_time_eq(t, given.as_bytes()))
    }
}

/// Whether the request may use the codec: a bearer token from the tokens file, or a JWT the
/// verifier accepts. Rejections are logged with their reason, never with the token.
async fn authorized(state: &State, headers: &HeaderMap) -> bool {
    if state.tokens.is_none() && state.options.jwt.is_none() {
        return true;
    }
    let Some(given) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) else {
        return false;
    };
    let given = given.trim();
    if state.tokens.as_ref().is_some_and(|t| t.accepts(given)) {
        return true;
    }
    match &state.options.jwt {
        Some(verifier) => match verifier.verify(given).await {
            Ok(()) => true,
            Err(reason) => {
                tracing::info!(%reason, "bearer token rejected");
                false
            }
        },
        None => false,
    }
}

/// Equality whose time does not depend on where the inputs first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub struct ServerMetrics {
    pub registry: Registry,
    requests: IntCounterVec,
    payloads: IntCounterVec,
    duration: HistogramVec,
}

impl ServerMetrics {
    pub fn new() -> Arc<ServerMetrics> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("tk8s_codec_requests_total", "Codec server requests by endpoint and status code."),
            &["endpoint", "code"],
        )
        .unwrap_or_else(|e| unreachable!("static metric: {e}"));
        let payloads =
            IntCounterVec::new(Opts::new("tk8s_codec_payloads_total", "Payloads encoded or decoded by the codec server."), &["operation"])
                .unwrap_or_else(|e| unreachable!("static metric: {e}"));
        let duration = HistogramVec::new(
            HistogramOpts::new("tk8s_codec_request_duration_seconds", "Codec server request latency.")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]),
            &["endpoint"],
        )
        .unwrap_or_else(|e| unreachable!("static metric: {e}"));
        let build = prometheus::IntGaugeVec::new(Opts::new("tk8s_build_info", "Build information; always 1."), &["version", "app", "role"])
            .unwrap_or_else(|e| unreachable!("static metric: {e}"));
        build.with_label_values(&[env!("CARGO_PKG_VERSION"), "tk8s", "codec-server"]).set(1);
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(payloads.clone()),
            Box::new(duration.clone()),
            Box::new(build),
        ] {
            let _ = registry.register(c);
        }
        for op in ["encode", "decode"] {
            payloads.with_label_values(&[op]).inc_by(0);
        }
        Arc::new(ServerMetrics { registry, requests, payloads, duration })
    }
}

struct State {
    codec: Arc<Codec>,
    options: ServerOptions,
    tokens: Option<Tokens>,
    metrics: Arc<ServerMetrics>,
}

/// The codec server's router (no socket: tests call it with `oneshot`). Fails only when the
/// tokens file cannot be read.
pub fn app(codec: Arc<Codec>, options: ServerOptions, metrics: Arc<ServerMetrics>) -> Result<Router, TokensFileError> {
    let tokens = options.tokens_file.clone().map(Tokens::load).transpose()?;
    let state = Arc::new(State { codec, options, tokens, metrics });
    Ok(Router::new().fallback(move |req: Request<Body>| {
        let state = state.clone();
        async move { handle(state, req).await }
    }))
}

fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (code, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// Which operation a path asks for: `/encode`, `/decode`, `/{ns}/encode`, `/{ns}/decode`.
fn operation(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["encode"] | [_, "encode"] => Some("encode"),
        ["decode"] | [_, "decode"] => Some("decode"),
        _ => None,
    }
}

async fn handle(state: Arc<State>, req: Request<Body>) -> Response {
    let started = Instant::now();
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(String::from);
    let allowed = origin.as_ref().filter(|o| state.options.allowed_origins.iter().any(|a| a == *o)).cloned();
    let namespace = req.headers().get("x-namespace").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let endpoint = operation(&path).unwrap_or(match path.as_str() {
        "/livez" | "/readyz" | "/metrics" => "admin",
        _ => "other",
    });
    let mut response = route(&state, req, operation(&path), origin.is_some(), allowed.is_some()).await;
    if let Some(origin) = allowed {
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&origin) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
        h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
    let code = response.status();
    if endpoint != "admin" {
        state.metrics.requests.with_label_values(&[endpoint, code.as_str()]).inc();
        state.metrics.duration.with_label_values(&[endpoint]).observe(started.elapsed().as_secs_f64());
        tracing::info!(%method, path, status = code.as_u16(), namespace, duration_us = started.elapsed().as_micros() as u64, "codec request");
    }
    response
}

async fn route(state: &State, req: Request<Body>, op: Option<&'static str>, has_origin: bool, origin_allowed: bool) -> Response {
    match (req.method(), req.uri().path(), op) {
        (&Method::GET, "/livez" | "/readyz", _) => (StatusCode::OK, "ok\n").into_response(),
        (&Method::GET, "/metrics", _) => {
            let mut buf = Vec::new();
            let _ = TextEncoder::new().encode(&state.metrics.registry.gather(), &mut buf);
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], buf).into_response()
        }
        (&Method::OPTIONS, _, Some(_)) => {
            if has_origin && !origin_allowed {
                return error(StatusCode::FORBIDDEN, "origin not allowed");
            }
            Response::builder()
                .status(StatusCode::NO_CONTENT)
                .header(header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS")
                .header(header::ACCESS_CONTROL_ALLOW_HEADERS, "authorization, content-type, x-namespace")
                .header(header::ACCESS_CONTROL_MAX_AGE, "600")
                .header(header::ALLOW, "POST, OPTIONS")
                .body(Body::empty())
                .unwrap_or_else(|_| StatusCode::NO_CONTENT.into_response())
        }
        (&Method::POST, _, Some(op)) => {
            if !authorized(state, req.headers()).await {
                let mut r = error(StatusCode::UNAUTHORIZED, "missing or invalid bearer token");
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return r;
            }
            let body = match to_bytes(req.into_body(), state.options.max_body_bytes).await {
                Ok(b) => b,
                Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, format!("body exceeds {} bytes", state.options.max_body_bytes)),
            };
            let payloads = match parse_payloads(&body) {
                Ok(p) => p,
                Err(e) => return error(StatusCode::BAD_REQUEST, e),
            };
            let result = if op == "encode" { state.codec.encode_all(&payloads) } else { state.codec.decode_all(&payloads) };
            match result {
                Ok(out) => {
                    state.metrics.payloads.with_label_values(&[op]).inc_by(out.len() as u64);
                    axum::Json(json!({ "payloads": out.iter().map(payload_json).collect::<Vec<_>>() })).into_response()
                }
                Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
            }
        }
        (_, _, Some(_)) => {
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
            r
        }
        (_, "/livez" | "/readyz" | "/metrics", _) => error(StatusCode::METHOD_NOT_ALLOWED, "use GET"),
        _ => error(StatusCode::NOT_FOUND, "not found: use /encode or /decode"),
    }
}

/// Parse `{"payloads":[...]}` in proto3 JSON (bytes as base64).
pub fn parse_payloads(body: &[u8]) -> Result<Vec<Payload>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let list = match v.get("payloads") {
        Some(Value::Array(list)) => list,
        Some(_) => return Err("`payloads` must be an array".into()),
        None => return Ok(Vec::new()),
    };
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            let b64 = |v: &Value, what: &str| -> Result<Vec<u8>, String> {
                let s = v.as_str().ok_or_else(|| format!("payloads[{i}].{what} must be a base64 string"))?;
                STANDARD.decode(s).map_err(|_| format!("payloads[{i}].{what} is not valid base64"))
            };
            let mut metadata = HashMap::new();
            match p.get("metadata") {
                Some(Value::Object(m)) => {
                    for (k, v) in m {
                        metadata.insert(k.clone(), b64(v, &format!("metadata.{k}"))?);
                    }
                }
                Some(Value::Null) | None => {}
                Some(_) => return Err(format!("payloads[{i}].metadata must be an object")),
            }
            let data = match p.get("data") {
                Some(Value::Null) | None => Vec::new(),
                Some(v) => b64(v, "data")?,
            };
            Ok(Payload { metadata, data, ..Default::default() })
        })
        .collect()
}

pub fn payload_json(p: &Payload) -> Value {
    let metadata: serde_json::Map<String, Value> = p.metadata.iter().map(|(k, v)| (k.clone(), Value::String(STANDARD.encode(v)))).collect();
    json!({ "metadata": metadata, "data": STANDARD.encode(&p.data) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tk8s_codec::KeyRing;
    use tower::ServiceExt;

    const UI: &str = "http://127.0.0.1:8233";

    fn router(tokens: Option<&str>) -> (Router, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let tokens_file = tokens.map(|t| {
            let p = dir.path().join("tokens");
            std::fs::write(&p, t).unwrap();
            p
        });
        let codec = Codec::new(KeyRing::new([("k1".to_string(), [7u8; 32])].into(), "k1").unwrap(), None);
        let opts = ServerOptions { allowed_origins: vec![UI.into()], tokens_file, jwt: None, max_body_bytes: 4096 };
        (app(codec, opts, ServerMetrics::new()).unwrap(), dir)
    }

    async fn call(r: &Router, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (StatusCode, HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = r.clone().oneshot(req.body(Body::from(body.to_string())).unwrap()).await.unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    fn plain_body() -> String {
        json!({"payloads":[{"metadata":{"encoding":STANDARD.encode("json/plain")},"data":STANDARD.encode("\"Hello\"")}]}).to_string()
    }

    #[tokio::test]
    async fn encode_then_decode_under_both_path_forms() {
        let (r, _d) = router(None);
        let (code, _, enc) = call(&r, "POST", "/encode", &[], &plain_body()).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(enc["payloads"][0]["metadata"]["encoding"], STANDARD.encode("binary/encrypted"));
        let (code, _, dec) = call(&r, "POST", "/default/decode", &[("x-namespace", "default")], &enc.to_string()).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(dec["payloads"][0]["data"], STANDARD.encode("\"Hello\""));
    }

    #[tokio::test]
    async fn auth_size_json_base64_and_method_errors() {
        let (r, _d) = router(Some("tok-1\ntok-2\n"));
        let (code, h, body) = call(&r, "POST", "/decode", &[], &plain_body()).await;
        assert_eq!((code, h.get("www-authenticate").is_some()), (StatusCode::UNAUTHORIZED, true));
        assert!(body["error"].as_str().unwrap().contains("bearer token"));
        let (code, _, _) = call(&r, "POST", "/decode", &[("authorization", "Bearer nope")], &plain_body()).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED);
        let auth = [("authorization", "Bearer tok-2")];
        assert_eq!(call(&r, "POST", "/decode", &auth, &plain_body()).await.0, StatusCode::OK);
        let big = format!("{{\"payloads\":[{{\"data\":\"{}\"}}]}}", "A".repeat(8000));
        assert_eq!(call(&r, "POST", "/encode", &auth, &big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
        let (code, _, body) = call(&r, "POST", "/encode", &auth, "{not json").await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(body["error"].as_str().unwrap().contains("not JSON"));
        let (code, _, body) = call(&r, "POST", "/encode", &auth, "{\"payloads\":[{\"data\":\"***\"}]}").await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(body["error"].as_str().unwrap().contains("payloads[0].data is not valid base64"));
        let (code, h, _) = call(&r, "GET", "/encode", &auth, "").await;
        assert_eq!((code, h.get("allow").map(|v| v.to_str().unwrap())), (StatusCode::METHOD_NOT_ALLOWED, Some("POST, OPTIONS")));
        assert_eq!(call(&r, "PUT", "/ns/decode", &auth, "").await.0, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn undecodable_payload_is_a_400_naming_the_key() {
        let (r, _d) = router(None);
        let body = json!({"payloads":[{"metadata":{"encoding":STANDARD.encode("binary/encrypted"),"encryption-key-id":STANDARD.encode("k9")},"data":STANDARD.encode([0u8; 40])}]});
        let (code, _, body) = call(&r, "POST", "/decode", &[], &body.to_string()).await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(body["error"].as_str().unwrap().contains("\"k9\""), "{body}");
    }

    #[tokio::test]
    async fn cors_only_for_allowed_origins_including_preflight() {
        let (r, _d) = router(Some("tok"));
        let pre =
            [("origin", UI), ("access-control-request-method", "POST"), ("access-control-request-headers", "content-type,x-namespace")];
        let (code, h, _) = call(&r, "OPTIONS", "/decode", &pre, "").await;
        assert_eq!(code, StatusCode::NO_CONTENT, "preflight needs no token");
        assert_eq!(h["access-control-allow-origin"], UI);
        assert!(h["access-control-allow-headers"].to_str().unwrap().contains("x-namespace"));
        let evil = [("origin", "http://evil.example"), ("access-control-request-method", "POST")];
        let (code, h, _) = call(&r, "OPTIONS", "/decode", &evil, "").await;
        assert_eq!(code, StatusCode::FORBIDDEN);
        assert!(h.get("access-control-allow-origin").is_none());
        let (_, h, _) =
            call(&r, "POST", "/decode", &[("origin", "http://localhost:8233"), ("authorization", "Bearer tok")], &plain_body()).await;
        assert!(h.get("access-control-allow-origin").is_none(), "localhost is not 127.0.0.1");
        let (_, h, _) = call(&r, "POST", "/decode", &[("origin", UI)], &plain_body()).await;
        assert_eq!(h["access-control-allow-origin"], UI, "even a 401 carries CORS headers so the browser can read it");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The decode path never panics on arbitrary bodies, metadata or ciphertext.
        #[test]
        fn decode_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
                               data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
                               key_id in "[a-z0-9]{0,3}") {
            let codec = Codec::new(KeyRing::new([("k1".to_string(), [7u8; 32])].into(), "k1").unwrap(), Some(16));
            if let Ok(payloads) = parse_payloads(&body) {
                let _ = codec.decode_all(&payloads);
            }
            let p = Payload {
                metadata: [("encoding".into(), b"binary/encrypted".to_vec()), ("encryption-key-id".into(), key_id.into_bytes())].into(),
                data,
                ..Default::default()
            };
            proptest::prop_assert!(codec.decode(&p).is_err());
        }
    }
}
