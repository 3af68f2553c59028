//! From checked values to the typed [`Config`]: one function per section, each applying the
//! rules that involve more than one of its settings (an API key over plaintext, a certificate
//! without its key, two sources of keys, Worker Versioning half configured, ...). Every problem
//! names where each value came from.

use crate::error::Problem;
use crate::resolved::Resolved;
use crate::spec::{self as S, Setting};
use crate::*;
use std::path::PathBuf;

/// Two settings that say the same thing in different ways were both given.
pub(crate) fn conflict(r: &Resolved<'_>, problems: &mut Vec<Problem>, setting: &'static Setting, other: &Setting, hint: &str) {
    problems.push(r.problem(setting, format!("is set together with {} (from {})", other.key, r.origin(other)), Some(hint.into())));
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
    let companion = companion(r, problems);
    if !problems.is_empty() {
        return None;
    }
    Some(Config {
        app_name: inputs.app.name.clone(),
        temporal,
        worker,
        shutdown: Shutdown { grace: r.duration(&S::SHUTDOWN_GRACE), hard_deadline: r.duration(&S::SHUTDOWN_HARD_DEADLINE) },
        admin: r.socket(&S::ADMIN_BIND, &S::ADMIN_PORT),
        readiness_check_interval: r.duration(&S::READINESS_CHECK_INTERVAL),
        log,
        orchestrator,
        codec,
        codec_server,
        scaler,
        companion,
        replay: Replay {
            closed_within: r.duration(&S::REPLAY_CLOSED_WITHIN),
            max_per_type: r.int(&S::REPLAY_MAX_PER_TYPE),
            max_total: r.int(&S::REPLAY_MAX_TOTAL),
            query: r.opt_text(&S::REPLAY_QUERY),
            concurrency: r.int(&S::REPLAY_CONCURRENCY),
            batch: r.int(&S::REPLAY_BATCH),
        },
        resolved: Vec::new(),
    })
}

/// The connection: credentials, TLS material, the address.
fn temporal(r: &Resolved<'_>, inputs: &Inputs<'_>, problems: &mut Vec<Problem>) -> Temporal {
    let api_key = api_key(r, problems);
    let (client_cert, ca) = client_cert(r, problems);
    let tls = tls(r, api_key.is_some(), client_cert, ca, problems);
    let address = r.text(&S::TEMPORAL_ADDRESS);
    if !valid_host_port(&address) {
        problems.push(r.problem(
            &S::TEMPORAL_ADDRESS,
            format!("= {address:?} is not valid: expected host:port"),
            Some("for example temporal-frontend.temporal.svc:7233 or 127.0.0.1:7233".into()),
        ));
    }
    Temporal {
        address,
        namespace: r.text(&S::TEMPORAL_NAMESPACE),
        api_key,
        tls,
        grpc_meta: source::grpc_meta(inputs.env).into_iter().map(|(k, v)| (k, Secret(v))).collect(),
        connect_timeout: r.duration(&S::TEMPORAL_CONNECT_TIMEOUT),
        cert_expiry_warning: r.duration(&S::TEMPORAL_TLS_CERT_EXPIRY_WARNING),
        grpc_gzip: r.text(&S::TEMPORAL_GRPC_COMPRESSION) == "gzip",
    }
}

/// One API key source; a key file that is empty is a problem now, not at the first dial.
fn api_key(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> Option<ApiKey> {
    match (r.opt_text(&S::TEMPORAL_API_KEY), r.path(&S::TEMPORAL_API_KEY_FILE)) {
        (Some(_), Some(_)) => {
            conflict(
                r,
                problems,
                &S::TEMPORAL_API_KEY_FILE,
                &S::TEMPORAL_API_KEY,
                "keep one: the file form is rotated by Kubernetes without a restart",
            );
            None
        }
        (Some(k), None) => Some(ApiKey::Inline(Secret(k))),
        (None, Some(p)) => {
            match std::fs::read_to_string(&p) {
                _ if !r.files_here => {}
                Ok(k) if !k.trim().is_empty() => {}
                _ => problems.push(r.problem(
                    &S::TEMPORAL_API_KEY_FILE,
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
    let cert_dir = r.path(&S::TEMPORAL_TLS_CERT_DIR);
    let mut cert = r.path(&S::TEMPORAL_TLS_CLIENT_CERT_PATH);
    let mut key = r.path(&S::TEMPORAL_TLS_CLIENT_KEY_PATH);
    let mut ca = r.path(&S::TEMPORAL_TLS_SERVER_CA_CERT_PATH);
    if let Some(dir) = &cert_dir {
        // Explicit paths into the same directory agree with it (the temporal-worker-controller
        // sets them for the Secret it mounts at the directory tk8s renders).
        let agrees = |p: &Option<PathBuf>, name: &str| p.as_ref().is_none_or(|p| *p == dir.join(name));
        if !agrees(&cert, "tls.crt") || !agrees(&key, "tls.key") {
            problems.push(r.problem(
                &S::TEMPORAL_TLS_CERT_DIR,
                "is set together with a client certificate or key path that is not in it".into(),
                Some("use either the Secret mount directory or explicit paths, not both".into()),
            ));
        }
        for (name, slot) in [("tls.crt", &mut cert), ("tls.key", &mut key)] {
            let p = dir.join(name);
            if p.is_file() || !r.files_here {
                *slot = Some(p);
            } else {
                problems.push(r.problem(
                    &S::TEMPORAL_TLS_CERT_DIR,
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
            problems.push(r.problem(
                &S::TEMPORAL_TLS_CLIENT_CERT_PATH,
                "is set but no client key is".into(),
                Some(format!("set {} too: mTLS needs both", S::TEMPORAL_TLS_CLIENT_KEY_PATH.env)),
            ));
            None
        }
        (None, Some(_)) => {
            problems.push(r.problem(
                &S::TEMPORAL_TLS_CLIENT_KEY_PATH,
                "is set but no client certificate is".into(),
                Some(format!("set {} too: mTLS needs both", S::TEMPORAL_TLS_CLIENT_CERT_PATH.env)),
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
    let server_name = r.opt_text(&S::TEMPORAL_TLS_SERVER_NAME);
    let wants_tls = has_api_key || client_cert.is_some() || ca.is_some() || server_name.is_some();
    let tls_on = match r.opt_bool(&S::TEMPORAL_TLS) {
        Some(false) if wants_tls => {
            let why = if has_api_key { "an API key is configured" } else { "TLS files or a server name are configured" };
            problems.push(r.problem(
                &S::TEMPORAL_TLS,
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
fn worker(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> Worker {
    // The app always supplies a task queue, as a layer below the file.
    let task_queue = r.opt_text(&S::WORKER_TASK_QUEUE).unwrap_or_default();
    if task_queue.chars().any(char::is_whitespace) || task_queue.len() > 1000 {
        problems.push(r.problem(
            &S::WORKER_TASK_QUEUE,
            format!("= {task_queue:?} is not valid: expected a name without whitespace, at most 1000 bytes"),
            None,
        ));
    }
    let max_cached_workflows: usize = r.int(&S::WORKER_MAX_CACHED_WORKFLOWS);
    let max_wft: usize = r.int(&S::WORKER_MAX_CONCURRENT_WORKFLOW_TASKS);
    if max_cached_workflows > 0 && max_wft < 2 {
        problems.push(r.problem(&S::WORKER_MAX_CONCURRENT_WORKFLOW_TASKS, "must be at least 2 when the sticky cache is on".into(), None));
    }
    let versioning = match (r.opt_text(&S::WORKER_DEPLOYMENT_NAME), r.opt_text(&S::WORKER_BUILD_ID)) {
        (Some(deployment_name), Some(build_id)) => {
            Some(Versioning { deployment_name, build_id, pinned: r.text(&S::WORKER_VERSIONING_BEHAVIOR) == "pinned" })
        }
        (None, None) => None,
        (one, _) => {
            let (set, missing) = if one.is_some() {
                (&S::WORKER_DEPLOYMENT_NAME, &S::WORKER_BUILD_ID)
            } else {
                (&S::WORKER_BUILD_ID, &S::WORKER_DEPLOYMENT_NAME)
            };
            problems.push(r.problem(
                set,
                "is set alone: Worker Versioning needs both a deployment name and a build id".into(),
                Some(format!("set {} too, or neither", missing.env)),
            ));
            None
        }
    };
    Worker {
        task_queue,
        max_concurrent_workflow_tasks: max_wft,
        max_concurrent_activities: r.int(&S::WORKER_MAX_CONCURRENT_ACTIVITIES),
        max_concurrent_local_activities: r.int(&S::WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES),
        workflow_pollers: r.int(&S::WORKER_WORKFLOW_POLLERS),
        activity_pollers: r.int(&S::WORKER_ACTIVITY_POLLERS),
        max_cached_workflows,
        max_activities_per_second: r.opt_float(&S::WORKER_MAX_ACTIVITIES_PER_SECOND),
        tuner: {
            let (target_memory, target_cpu) = (r.float(&S::WORKER_TARGET_MEMORY_USAGE), r.float(&S::WORKER_TARGET_CPU_USAGE));
            match r.text(&S::WORKER_TUNER).as_str() {
                "resource" => Tuner::Resource { target_memory, target_cpu },
                _ => Tuner::Fixed,
            }
        },
        poller_autoscaling: r.bool(&S::WORKER_POLLER_AUTOSCALING),
        heartbeat_interval: r.duration(&S::WORKER_HEARTBEAT_INTERVAL),
        versioning,
    }
}

/// Logs and traces.
fn log(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> Log {
    let otlp_endpoint = r.opt_text(&S::LOG_OTLP_ENDPOINT);
    if let Some(e) = &otlp_endpoint
        && !(e.starts_with("http://") || e.starts_with("https://"))
    {
        problems.push(r.problem(
            &S::LOG_OTLP_ENDPOINT,
            format!("= {e:?} is not an http:// or https:// URL"),
            Some("give the collector's OTLP/gRPC address, e.g. http://otel-collector.monitoring:4317".into()),
        ));
    }
    let format = match r.text(&S::LOG_FORMAT).as_str() {
        "json" => LogFormat::Json,
        "text" => LogFormat::Text,
        _ => LogFormat::Auto,
    };
    Log { format, level: r.text(&S::LOG_LEVEL), otlp_endpoint, service_name: r.opt_text(&S::LOG_SERVICE_NAME) }
}

/// The orchestrator's mode and ids.
fn orchestrator(r: &Resolved<'_>, inputs: &Inputs<'_>) -> Orchestrator {
    let id_prefix = r.opt_text(&S::ORCHESTRATOR_ID_PREFIX).unwrap_or_else(|| inputs.app.name.clone());
    let mode = match r.text(&S::ORCHESTRATOR_MODE).as_str() {
        "interval" => Mode::Interval { every: r.duration(&S::ORCHESTRATOR_INTERVAL) },
        "rate" => Mode::Rate { per_second: r.float(&S::ORCHESTRATOR_RATE) },
        "schedule" => Mode::Schedule { every: r.duration(&S::ORCHESTRATOR_SCHEDULE_EVERY) },
        _ => Mode::Once { count: r.int(&S::ORCHESTRATOR_COUNT) },
    };
    Orchestrator {
        mode,
        run_for: r.opt_duration(&S::ORCHESTRATOR_RUN_FOR),
        schedule_id: r.opt_text(&S::ORCHESTRATOR_SCHEDULE_ID).unwrap_or_else(|| format!("{id_prefix}-schedule")),
        id_prefix,
        // The app always supplies an input, as a layer below the file.
        input: r.opt_text(&S::ORCHESTRATOR_INPUT).unwrap_or_default(),
        wait: r.bool(&S::ORCHESTRATOR_WAIT),
        backlog_interval: r.duration(&S::ORCHESTRATOR_BACKLOG_INTERVAL),
    }
}

/// The scaler: bounds that make sense together.
pub(crate) fn scaler(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> Scaler {
    let (min, max): (u32, u32) = (r.int(&S::SCALER_MIN_REPLICAS), r.int(&S::SCALER_MAX_REPLICAS));
    if min > max {
        problems.push(r.problem(
            &S::SCALER_MIN_REPLICAS,
            format!("= {min} is more than {} = {max} (from {})", S::SCALER_MAX_REPLICAS.key, r.origin(&S::SCALER_MAX_REPLICAS)),
            Some(format!("raise {} or lower {}", S::SCALER_MAX_REPLICAS.env, S::SCALER_MIN_REPLICAS.env)),
        ));
    }
    Scaler {
        addr: r.socket(&S::SCALER_BIND, &S::SCALER_PORT),
        interval: r.duration(&S::SCALER_INTERVAL),
        target_utilization: r.float(&S::SCALER_TARGET_UTILIZATION),
        drain_within: r.duration(&S::SCALER_DRAIN_WITHIN),
        min_replicas: min,
        max_replicas: max,
        scale_down_window: r.duration(&S::SCALER_SCALE_DOWN_WINDOW),
        surge_hold: r.duration(&S::SCALER_SURGE_HOLD),
        zero_after: r.duration(&S::SCALER_ZERO_AFTER),
        slots_per_replica: r.int(&S::SCALER_SLOTS_PER_REPLICA),
        worker_metrics: r.list(&S::SCALER_WORKER_METRICS),
    }
}

/// The companion: a worker metrics address that is one.
fn companion(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> Companion {
    let worker_metrics = r.opt_text(&S::COMPANION_WORKER_METRICS);
    if let Some(m) = &worker_metrics
        && !valid_host_port(m)
    {
        problems.push(r.problem(
            &S::COMPANION_WORKER_METRICS,
            format!("= {m:?} is not valid: expected host:port"),
            Some("the worker's Prometheus endpoint in the pod, e.g. 127.0.0.1:9464 (no scheme, no path)".into()),
        ));
    }
    let freshness = r.duration(&S::COMPANION_POLLER_FRESHNESS);
    Companion {
        check_interval: r.duration(&S::COMPANION_CHECK_INTERVAL),
        poller_freshness: freshness,
        identity: r.list(&S::COMPANION_IDENTITY),
        worker_metrics,
    }
}

/// Payload encryption: one source of keys.
fn codec(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> Option<Codec> {
    let codec_keys = match (r.path(&S::CODEC_KEYS_DIR), r.opt_text(&S::CODEC_KEYS)) {
        (Some(_), Some(_)) => {
            conflict(
                r,
                problems,
                &S::CODEC_KEYS_DIR,
                &S::CODEC_KEYS,
                "use the key directory in Kubernetes (it rotates); inline keys are for local runs",
            );
            None
        }
        (Some(dir), None) => Some(CodecKeys::Dir(dir)),
        (None, Some(spec)) => Some(CodecKeys::Inline(Secret(spec))),
        (None, None) => None,
    };
    if codec_keys.is_none() && r.opt_text(&S::CODEC_ACTIVE_KEY).is_some() {
        problems.push(r.problem(
            &S::CODEC_ACTIVE_KEY,
            format!("is set but no keys are ({} or {})", S::CODEC_KEYS_DIR.key, S::CODEC_KEYS.key),
            Some(format!("set {} to the mounted key directory", S::CODEC_KEYS_DIR.env)),
        ));
    }
    let compress_above: usize = r.int(&S::CODEC_COMPRESS_ABOVE);
    codec_keys.map(|keys| Codec {
        keys,
        active_key: r.opt_text(&S::CODEC_ACTIVE_KEY),
        compress_above: (compress_above > 0).then_some(compress_above),
    })
}

/// The codec server: address, CORS, authentication.
fn codec_server(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> CodecServer {
    CodecServer {
        addr: r.socket(&S::CODEC_SERVER_BIND, &S::CODEC_SERVER_PORT),
        allowed_origins: r.list(&S::CODEC_SERVER_ALLOWED_ORIGINS),
        tokens_file: r.path(&S::CODEC_SERVER_TOKENS_FILE),
        jwt: codec_server_jwt(r, problems),
        max_body_bytes: r.int(&S::CODEC_SERVER_MAX_BODY_BYTES),
        allow_unauthenticated: r.bool(&S::CODEC_SERVER_ALLOW_UNAUTHENTICATED),
    }
}

/// The codec server's JWT settings, checked together: one JWKS source, https unless on loopback,
/// and an audience (without one, a token the identity provider issued to any application passes).
fn codec_server_jwt(r: &Resolved<'_>, problems: &mut Vec<Problem>) -> Option<Jwt> {
    let (url, file) = (r.opt_text(&S::CODEC_SERVER_JWKS_URL), r.path(&S::CODEC_SERVER_JWKS_FILE));
    let audience = r.opt_text(&S::CODEC_SERVER_JWT_AUDIENCE);
    let jwks = match (url, file) {
        (Some(_), Some(_)) => {
            conflict(r, problems, &S::CODEC_SERVER_JWKS_FILE, &S::CODEC_SERVER_JWKS_URL, "keep one source of signing keys");
            return None;
        }
        (Some(url), None) => {
            let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"].iter().any(|p| url.starts_with(p));
            if !url.starts_with("https://") && !loopback {
                problems.push(r.problem(
                    &S::CODEC_SERVER_JWKS_URL,
                    format!("= {url:?} is not an https:// URL"),
                    Some("signing keys must come over TLS (plain http is accepted on loopback only)".into()),
                ));
            }
            Jwks::Url(url)
        }
        (None, Some(file)) => Jwks::File(file),
        (None, None) => {
            for setting in [&S::CODEC_SERVER_JWT_AUDIENCE, &S::CODEC_SERVER_JWT_ISSUER] {
                if r.opt_text(setting).is_some() {
                    problems.push(r.problem(
                        setting,
                        "has no effect without a JWKS".into(),
                        Some(format!("set {} (or {}), or remove it", S::CODEC_SERVER_JWKS_URL.env, S::CODEC_SERVER_JWKS_FILE.env)),
                    ));
                }
            }
            return None;
        }
    };
    let Some(audience) = audience else {
        let source = if matches!(jwks, Jwks::Url(_)) { &S::CODEC_SERVER_JWKS_URL } else { &S::CODEC_SERVER_JWKS_FILE };
        problems.push(r.problem(
            source,
            format!("is set without {}", S::CODEC_SERVER_JWT_AUDIENCE.key),
            Some(format!(
                "set {} to the audience your tokens carry: without it, tokens issued to any application would pass",
                S::CODEC_SERVER_JWT_AUDIENCE.env
            )),
        ));
        return None;
    };
    Some(Jwt { jwks, audience, issuer: r.opt_text(&S::CODEC_SERVER_JWT_ISSUER) })
}

fn valid_host_port(address: &str) -> bool {
    let Some((host, port)) = address.rsplit_once(':') else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    !host.is_empty() && !host.contains("://") && !host.contains(char::is_whitespace) && port.parse::<u16>().is_ok_and(|p| p > 0)
}
