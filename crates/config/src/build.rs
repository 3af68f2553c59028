//! From checked values to the typed [`Config`]: one function per section, each applying the
//! rules that involve more than one of its settings (an API key over plaintext, a certificate
//! without its key, two sources of keys, Worker Versioning half configured, ...). Every problem
//! names where each value came from.

use crate::error::Problem;
use crate::source::Origin;
use crate::spec::Setting;
use crate::value::Value;
use crate::*;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub(crate) struct Resolved<'a>(pub(crate) &'a [(&'static Setting, Option<(Value, Origin)>)]);

impl Resolved<'_> {
    fn get(&self, key: &str) -> Option<&(Value, Origin)> {
        self.0.iter().find(|(s, _)| s.key == key).and_then(|(_, v)| v.as_ref())
    }
    fn text(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            (Value::Text(t), _) => Some(t.clone()),
            _ => None,
        }
    }
    /// Settings of integer kind with a default are always present once checked (a unit test
    /// holds SETTINGS to that), so absence reads as 0 rather than a panic.
    fn int(&self, key: &str) -> i64 {
        match self.get(key) {
            Some((Value::Int(i), _)) => *i,
            _ => 0,
        }
    }
    fn float(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            (Value::Float(f), _) => Some(*f),
            _ => None,
        }
    }
    fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            (Value::Bool(b), _) => Some(*b),
            _ => None,
        }
    }
    fn duration(&self, key: &str) -> Option<Duration> {
        match self.get(key)? {
            (Value::Duration(d), _) => Some(*d),
            _ => None,
        }
    }
    fn path(&self, key: &str) -> Option<PathBuf> {
        match self.get(key)? {
            (Value::Path(p), _) => Some(p.clone()),
            _ => None,
        }
    }
    fn list(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some((Value::List(l), _)) => l.clone(),
            _ => Vec::new(),
        }
    }
    fn ip(&self, key: &str) -> IpAddr {
        match self.get(key) {
            Some((Value::Ip(ip), _)) => *ip,
            _ => IpAddr::from([0, 0, 0, 0]),
        }
    }
    fn origin(&self, key: &str) -> Origin {
        self.get(key).map(|(_, o)| o.clone()).unwrap_or(Origin::Default)
    }
}

/// Two settings that say the same thing in different ways were both given.
pub(crate) fn conflict(r: &Resolved<'_>, problems: &mut Vec<Problem>, key: &'static str, other: &str, hint: &str) {
    problems.push(Problem::new(
        r.origin(key),
        Some(key),
        format!("is set together with {other} (from {})", r.origin(other)),
        Some(hint.into()),
    ));
}

/// Build typed sections and apply the rules that involve more than one setting.
pub(crate) fn build(r: &Resolved<'_>, inputs: &Inputs<'_>, problems: &mut Vec<Problem>) -> Option<Config> {
    let temporal = temporal(r, inputs, problems);
    let worker = worker(r, problems);
    let log = log(r, problems);
    let codec = codec(r, problems);
    let codec_server = codec_server(r, problems);
    let orchestrator = orchestrator(r, inputs);
    let scaler = scaler(r, problems);
    if !problems.is_empty() {
        return None;
    }
    let port = u16::try_from(r.int("admin.port")).unwrap_or(0);
    Some(Config {
        app_name: inputs.app.name.clone(),
        temporal: temporal?,
        worker: worker?,
        shutdown: Shutdown {
            grace: r.duration("shutdown.grace").unwrap_or_default(),
            hard_deadline: r.duration("shutdown.hard_deadline").unwrap_or_default(),
        },
        admin: SocketAddr::new(r.ip("admin.bind"), port),
        readiness_check_interval: r.duration("readiness.check_interval").unwrap_or(Duration::from_secs(2)),
        log,
        orchestrator,
        codec,
        codec_server,
        scaler,
        resolved: Vec::new(),
    })
}

/// The connection: credentials, TLS material, the address.
fn temporal(r: &Resolved<'_>, inputs: &Inputs<'_>, problems: &mut Vec<Problem>) -> Option<Temporal> {
    let api_key = api_key(r, problems);
    let (client_cert, ca) = client_cert(r, problems);
    let tls = tls(r, api_key.is_some(), client_cert, ca, problems);
    let address = r.text("temporal.address").unwrap_or_default();
    if !valid_host_port(&address) {
        problems.push(Problem::new(
            r.origin("temporal.address"),
            Some("temporal.address"),
            format!("= {address:?} is not valid: expected host:port"),
            Some("for example temporal-frontend.temporal.svc:7233 or 127.0.0.1:7233".into()),
        ));
    }
    Some(Temporal {
        address,
        namespace: r.text("temporal.namespace").unwrap_or_default(),
        api_key,
        tls,
        grpc_meta: source::grpc_meta(inputs.env).into_iter().map(|(k, v)| (k, Secret(v))).collect(),
        connect_timeout: r.duration("temporal.connect_timeout").unwrap_or(Duration::from_secs(10)),
        cert_expiry_warning: r.duration("temporal.tls_cert_expiry_warning").unwrap_or(Duration::from_secs(7 * 86_400)),
        grpc_gzip: r.text("temporal.grpc_compression").as_deref() == Some("gzip"),
    })
}

/// One API key source; a key file that is empty is a problem now, not at the first dial.
fn api_key(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> Option<ApiKey> {
    match (r.text("temporal.api_key"), r.path("temporal.api_key_file")) {
        (Some(_), Some(_)) => {
            conflict(
                r,
                problems,
                "temporal.api_key_file",
                "temporal.api_key",
                "keep one: the file form is rotated by Kubernetes without a restart",
            );
            None
        }
        (Some(k), None) => Some(ApiKey::Inline(Secret(k))),
        (None, Some(p)) => {
            match std::fs::read_to_string(&p) {
                Ok(k) if !k.trim().is_empty() => {}
                _ => problems.push(Problem::new(
                    r.origin("temporal.api_key_file"),
                    Some("temporal.api_key_file"),
                    format!("= {} is empty", p.display()),
                    Some("the file must contain the API key".into()),
                )),
            }
            Some(ApiKey::File(p))
        }
        (None, None) => None,
    }
}

/// The client certificate and key (from a Secret mount directory, or explicit paths that agree
/// with it) and the CA (explicit, or the mount's `ca.crt`).
fn client_cert(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> (Option<ClientCert>, Option<PathBuf>) {
    let cert_dir = r.path("temporal.tls_cert_dir");
    let mut cert = r.path("temporal.tls_client_cert_path");
    let mut key = r.path("temporal.tls_client_key_path");
    let mut ca = r.path("temporal.tls_server_ca_cert_path");
    if let Some(dir) = &cert_dir {
        // Explicit paths into the same directory agree with it (the temporal-worker-controller
        // sets them for the Secret it mounts at the directory tk8s renders).
        let agrees = |p: &Option<PathBuf>, name: &str| p.as_ref().is_none_or(|p| *p == dir.join(name));
        if !agrees(&cert, "tls.crt") || !agrees(&key, "tls.key") {
            problems.push(Problem::new(
                r.origin("temporal.tls_cert_dir"),
                Some("temporal.tls_cert_dir"),
                "is set together with a client certificate or key path that is not in it".into(),
                Some("use either the Secret mount directory or explicit paths, not both".into()),
            ));
        }
        for (name, slot) in [("tls.crt", &mut cert), ("tls.key", &mut key)] {
            let p = dir.join(name);
            if p.is_file() {
                *slot = Some(p);
            } else {
                problems.push(Problem::new(
                    r.origin("temporal.tls_cert_dir"),
                    Some("temporal.tls_cert_dir"),
                    format!("= {} has no {name}", dir.display()),
                    Some("mount a kubernetes.io/tls Secret there (keys tls.crt and tls.key)".into()),
                ));
            }
        }
        if ca.is_none() && dir.join("ca.crt").is_file() {
            ca = Some(dir.join("ca.crt"));
        }
    }
    let client_cert = match (cert, key) {
        (Some(cert), Some(key)) => Some(ClientCert { cert, key }),
        (Some(_), None) => {
            problems.push(Problem::new(
                r.origin("temporal.tls_client_cert_path"),
                Some("temporal.tls_client_cert_path"),
                "is set but no client key is".into(),
                Some("set TEMPORAL_TLS_CLIENT_KEY_PATH too: mTLS needs both".into()),
            ));
            None
        }
        (None, Some(_)) => {
            problems.push(Problem::new(
                r.origin("temporal.tls_client_key_path"),
                Some("temporal.tls_client_key_path"),
                "is set but no client certificate is".into(),
                Some("set TEMPORAL_TLS_CLIENT_CERT_PATH too: mTLS needs both".into()),
            ));
            None
        }
        (None, None) => None,
    };
    (client_cert, ca)
}

/// TLS: on when asked, or when anything needs it; refused off when an API key would travel in
/// plaintext or TLS material would be ignored.
fn tls(
    r: &Resolved<'_>,
    has_api_key: bool,
    client_cert: Option<ClientCert>,
    ca: Option<PathBuf>,
    problems: &mut Vec<Problem>,
) -> Option<Tls> {
    let server_name = r.text("temporal.tls_server_name");
    let wants_tls = has_api_key || client_cert.is_some() || ca.is_some() || server_name.is_some();
    let tls_on = match r.bool("temporal.tls") {
        Some(false) if wants_tls => {
            let why = if has_api_key { "an API key is configured" } else { "TLS files or a server name are configured" };
            problems.push(Problem::new(
                r.origin("temporal.tls"),
                Some("temporal.tls"),
                format!("= false, but {why}"),
                Some(if has_api_key {
                    "an API key must never travel in plaintext: enable TLS or remove the key".into()
                } else {
                    "enable TLS, or remove the TLS settings".into()
                }),
            ));
            false
        }
        Some(on) => on,
        None => wants_tls,
    };
    tls_on.then_some(Tls { server_ca: ca, server_name, client_cert })
}

/// The worker: its task queue, slots, cache and Worker Versioning.
fn worker(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> Option<Worker> {
    let task_queue = r.text("worker.task_queue").unwrap_or_default();
    if task_queue.chars().any(char::is_whitespace) || task_queue.len() > 1000 {
        problems.push(Problem::new(
            r.origin("worker.task_queue"),
            Some("worker.task_queue"),
            format!("= {task_queue:?} is not valid: expected a name without whitespace, at most 1000 bytes"),
            None,
        ));
    }
    let usize_of = |k: &str| usize::try_from(r.int(k)).unwrap_or(0);
    let max_cached_workflows = usize_of("worker.max_cached_workflows");
    let max_wft = usize_of("worker.max_concurrent_workflow_tasks");
    if max_cached_workflows > 0 && max_wft < 2 {
        problems.push(Problem::new(
            r.origin("worker.max_concurrent_workflow_tasks"),
            Some("worker.max_concurrent_workflow_tasks"),
            "must be at least 2 when the sticky cache is on".into(),
            None,
        ));
    }
    let versioning = match (r.text("worker.deployment_name"), r.text("worker.build_id")) {
        (Some(deployment_name), Some(build_id)) => {
            Some(Versioning { deployment_name, build_id, pinned: r.text("worker.versioning_behavior").as_deref() == Some("pinned") })
        }
        (None, None) => None,
        (one, _) => {
            let (set, missing) = if one.is_some() {
                ("worker.deployment_name", "TEMPORAL_WORKER_BUILD_ID")
            } else {
                ("worker.build_id", "TEMPORAL_DEPLOYMENT_NAME")
            };
            problems.push(Problem::new(
                r.origin(set),
                Some(set),
                "is set alone: Worker Versioning needs both a deployment name and a build id".into(),
                Some(format!("set {missing} too, or neither")),
            ));
            None
        }
    };
    Some(Worker {
        task_queue,
        max_concurrent_workflow_tasks: max_wft,
        max_concurrent_activities: usize_of("worker.max_concurrent_activities"),
        max_concurrent_local_activities: usize_of("worker.max_concurrent_local_activities"),
        workflow_pollers: usize_of("worker.workflow_pollers"),
        activity_pollers: usize_of("worker.activity_pollers"),
        max_cached_workflows,
        max_activities_per_second: r.float("worker.max_activities_per_second"),
        poller_autoscaling: r.bool("worker.poller_autoscaling").unwrap_or(false),
        heartbeat_interval: r.duration("worker.heartbeat_interval").unwrap_or(Duration::from_secs(10)),
        versioning,
    })
}

/// Logs and traces.
fn log(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> Log {
    let otlp_endpoint = r.text("log.otlp_endpoint");
    if let Some(e) = &otlp_endpoint
        && !(e.starts_with("http://") || e.starts_with("https://"))
    {
        problems.push(Problem::new(
            r.origin("log.otlp_endpoint"),
            Some("log.otlp_endpoint"),
            format!("= {e:?} is not an http:// or https:// URL"),
            Some("give the collector's OTLP/gRPC address, e.g. http://otel-collector.monitoring:4317".into()),
        ));
    }

    let level = r.text("log.level").unwrap_or_else(|| "info".into());
    let format = match r.text("log.format").as_deref() {
        Some("json") => LogFormat::Json,
        Some("text") => LogFormat::Text,
        _ => LogFormat::Auto,
    };
    Log { format, level, otlp_endpoint, service_name: r.text("log.service_name") }
}

/// The orchestrator's mode and ids.
fn orchestrator(r: &Resolved<'_>, inputs: &Inputs<'_>) -> Orchestrator {
    let id_prefix = r.text("orchestrator.id_prefix").unwrap_or_else(|| inputs.app.name.clone());
    let mode = match r.text("orchestrator.mode").as_deref() {
        Some("interval") => Mode::Interval { every: r.duration("orchestrator.interval").unwrap_or_default() },
        Some("rate") => Mode::Rate { per_second: r.float("orchestrator.rate").unwrap_or(1.0) },
        Some("schedule") => Mode::Schedule { every: r.duration("orchestrator.schedule_every").unwrap_or_default() },
        _ => Mode::Once { count: u64::try_from(r.int("orchestrator.count")).unwrap_or(1) },
    };
    Orchestrator {
        mode,
        run_for: r.duration("orchestrator.run_for"),
        schedule_id: r.text("orchestrator.schedule_id").unwrap_or_else(|| format!("{id_prefix}-schedule")),
        id_prefix,
        input: r.text("orchestrator.input").unwrap_or_default(),
        wait: r.bool("orchestrator.wait").unwrap_or(true),
        backlog_interval: r.duration("orchestrator.backlog_interval").unwrap_or(Duration::from_secs(15)),
    }
}

/// The scaler: bounds that make sense together.
fn scaler(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> Scaler {
    let count = |k: &str| u32::try_from(r.int(k)).unwrap_or(0);
    let (min, max) = (count("scaler.min_replicas"), count("scaler.max_replicas"));
    if min > max {
        problems.push(Problem::new(
            r.origin("scaler.min_replicas"),
            Some("scaler.min_replicas"),
            format!("= {min} is more than scaler.max_replicas = {max} (from {})", r.origin("scaler.max_replicas")),
            Some("raise TK8S_SCALER_MAX_REPLICAS or lower TK8S_SCALER_MIN_REPLICAS".into()),
        ));
    }
    Scaler {
        addr: SocketAddr::new(r.ip("scaler.bind"), u16::try_from(r.int("scaler.port")).unwrap_or(0)),
        interval: r.duration("scaler.interval").unwrap_or(Duration::from_secs(5)),
        target_utilization: r.float("scaler.target_utilization").unwrap_or(0.7),
        drain_within: r.duration("scaler.drain_within").unwrap_or(Duration::from_secs(60)),
        min_replicas: min,
        max_replicas: max,
        scale_down_window: r.duration("scaler.scale_down_window").unwrap_or(Duration::from_secs(300)),
        zero_after: r.duration("scaler.zero_after").unwrap_or(Duration::from_secs(600)),
        slots_per_replica: u64::try_from(r.int("scaler.slots_per_replica")).unwrap_or(100),
        worker_metrics: r.list("scaler.worker_metrics"),
    }
}

/// Payload encryption: one source of keys.
fn codec(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> Option<Codec> {
    let codec_keys = match (r.path("codec.keys_dir"), r.text("codec.keys")) {
        (Some(_), Some(_)) => {
            conflict(
                r,
                problems,
                "codec.keys_dir",
                "codec.keys",
                "use the key directory in Kubernetes (it rotates); inline keys are for local runs",
            );
            None
        }
        (Some(dir), None) => Some(CodecKeys::Dir(dir)),
        (None, Some(spec)) => Some(CodecKeys::Inline(Secret(spec))),
        (None, None) => None,
    };
    if codec_keys.is_none() && r.text("codec.active_key").is_some() {
        problems.push(Problem::new(
            r.origin("codec.active_key"),
            Some("codec.active_key"),
            "is set but no keys are (codec.keys_dir or codec.keys)".into(),
            Some("set TK8S_CODEC_KEYS_DIR to the mounted key directory".into()),
        ));
    }
    let compress_above = usize::try_from(r.int("codec.compress_above")).unwrap_or(0);
    codec_keys.map(|keys| Codec {
        keys,
        active_key: r.text("codec.active_key"),
        compress_above: (compress_above > 0).then_some(compress_above),
    })
}

/// The codec server: address, CORS, authentication.
fn codec_server(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> CodecServer {
    let usize_of = |k: &str| usize::try_from(r.int(k)).unwrap_or(0);
    CodecServer {
        addr: SocketAddr::new(r.ip("codec_server.bind"), u16::try_from(r.int("codec_server.port")).unwrap_or(0)),
        allowed_origins: r.list("codec_server.allowed_origins"),
        tokens_file: r.path("codec_server.tokens_file"),
        jwt: codec_server_jwt(r, problems),
        max_body_bytes: usize_of("codec_server.max_body_bytes"),
        allow_unauthenticated: r.bool("codec_server.allow_unauthenticated").unwrap_or(false),
    }
}

/// The codec server's JWT settings, checked together: one JWKS source, https unless on loopback,
/// and an audience (without one, a token the identity provider issued to any application passes).
fn codec_server_jwt(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> Option<Jwt> {
    let (url, file) = (r.text("codec_server.jwks_url"), r.path("codec_server.jwks_file"));
    let audience = r.text("codec_server.jwt_audience");
    let jwks = match (url, file) {
        (Some(_), Some(_)) => {
            conflict(r, problems, "codec_server.jwks_file", "codec_server.jwks_url", "keep one source of signing keys");
            return None;
        }
        (Some(url), None) => {
            let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"].iter().any(|p| url.starts_with(p));
            if !url.starts_with("https://") && !loopback {
                problems.push(Problem::new(
                    r.origin("codec_server.jwks_url"),
                    Some("codec_server.jwks_url"),
                    format!("= {url:?} is not an https:// URL"),
                    Some("signing keys must come over TLS (plain http is accepted on loopback only)".into()),
                ));
            }
            Jwks::Url(url)
        }
        (None, Some(file)) => Jwks::File(file),
        (None, None) => {
            for key in ["codec_server.jwt_audience", "codec_server.jwt_issuer"] {
                if r.text(key).is_some() {
                    problems.push(Problem::new(
                        r.origin(key),
                        Some(key),
                        "has no effect without a JWKS".into(),
                        Some("set codec_server.jwks_url (or jwks_file), or remove it".into()),
                    ));
                }
            }
            return None;
        }
    };
    let Some(audience) = audience else {
        let source = if matches!(jwks, Jwks::Url(_)) { "codec_server.jwks_url" } else { "codec_server.jwks_file" };
        problems.push(Problem::new(r.origin(source), Some(source), "is set without codec_server.jwt_audience".into(),
            Some("set TK8S_CODEC_SERVER_JWT_AUDIENCE to the audience your tokens carry: without it, tokens issued to any application would pass".into())));
        return None;
    };
    Some(Jwt { jwks, audience, issuer: r.text("codec_server.jwt_issuer") })
}

fn valid_host_port(address: &str) -> bool {
    let Some((host, port)) = address.rsplit_once(':') else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    !host.is_empty() && !host.contains("://") && !host.contains(char::is_whitespace) && port.parse::<u16>().is_ok_and(|p| p > 0)
}
