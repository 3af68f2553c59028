//! The one table of settings. File keys, environment variables, flags, defaults, validation
//! rules, `config show` and the README's configuration reference all come from [`SETTINGS`], so
//! they cannot disagree with each other. Each setting names its section and the roles that
//! read it, so every command's `--help` lists exactly its own settings.

use crate::role::{Role, Roles};

/// What kind of value a setting holds, and the bounds it must respect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Free text; `non_empty` rejects "" and whitespace-only values.
    Text { non_empty: bool },
    /// A whole number in `min..=max`.
    Int { min: i64, max: i64 },
    /// A decimal number in `min..=max` (exclusive of `min` when `min_exclusive`).
    Float { min: f64, max: f64, min_exclusive: bool },
    /// `true`/`false` (env and flags also accept 1/0, yes/no, on/off).
    Bool,
    /// A duration such as `500ms`, `20s`, `5m`, `1h`, in `min_ms..=max_ms`.
    Duration { min_ms: u64, max_ms: u64 },
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A path to a file that must exist and be readable.
    File,
    /// A path to a directory that must exist.
    Dir,
    /// An IP address to bind to.
    Ip,
    /// A TCP port; 0 asks the OS for a free port (useful in tests).
    Port,
    /// A list of strings: a TOML array, or comma-separated text in env and flags.
    List,
}

/// The `tk8s.toml` table a setting lives in, which is also its `--help` heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Temporal,
    Worker,
    Shutdown,
    Admin,
    Readiness,
    Log,
    Orchestrator,
    Codec,
    CodecServer,
    Scaler,
    Companion,
    Replay,
}

impl Section {
    /// The table name in `tk8s.toml`: the part of a key before the dot.
    pub const fn name(self) -> &'static str {
        match self {
            Section::Temporal => "temporal",
            Section::Worker => "worker",
            Section::Shutdown => "shutdown",
            Section::Admin => "admin",
            Section::Readiness => "readiness",
            Section::Log => "log",
            Section::Orchestrator => "orchestrator",
            Section::Codec => "codec",
            Section::CodecServer => "codec_server",
            Section::Scaler => "scaler",
            Section::Companion => "companion",
            Section::Replay => "replay",
        }
    }

    /// The heading its settings are listed under in `--help`.
    pub const fn heading(self) -> &'static str {
        match self {
            Section::Temporal => "Connection settings",
            Section::Worker => "Worker settings",
            Section::Shutdown => "Shutdown settings",
            Section::Admin | Section::Readiness => "Admin server settings",
            Section::Log => "Logging settings",
            Section::Orchestrator => "Orchestrator settings",
            Section::Codec => "Payload encryption settings",
            Section::CodecServer => "Codec server settings",
            Section::Scaler => "Scaler settings",
            Section::Companion => "Companion settings",
            Section::Replay => "Replay settings",
        }
    }
}

/// One configurable value.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub section: Section,
    /// The roles that read it: their `--help` lists it, and render gives it only to them.
    pub roles: Roles,
    /// Dotted key, also its place in `tk8s.toml` (`section.name`).
    pub key: &'static str,
    /// Environment variable that sets it.
    pub env: &'static str,
    /// Long command-line flag that sets it (without the leading `--`).
    pub flag: &'static str,
    pub kind: Kind,
    /// Built-in default, as text; `None` means "unset unless configured".
    pub default: Option<&'static str>,
    /// Secrets are never printed; `config show` shows `<redacted>`.
    pub secret: bool,
    pub doc: &'static str,
}

impl Setting {
    /// The default as a whole number (ports, limits), when it is one.
    pub fn default_int(&self) -> Option<i64> {
        self.default?.parse().ok()
    }

    /// The default as a duration, when it is one.
    pub fn default_duration(&self) -> Option<std::time::Duration> {
        crate::parse_duration(self.default?)
    }

    /// Whether `role` reads this setting.
    pub fn applies_to(&self, role: Role) -> bool {
        self.roles.contains(role)
    }
}

#[allow(clippy::too_many_arguments)]
const fn s(
    section: Section,
    roles: Roles,
    key: &'static str,
    env: &'static str,
    flag: &'static str,
    kind: Kind,
    default: Option<&'static str>,
    doc: &'static str,
) -> Setting {
    Setting { section, roles, key, env, flag, kind, default, secret: false, doc }
}

const fn secret(
    section: Section,
    roles: Roles,
    key: &'static str,
    env: &'static str,
    flag: &'static str,
    kind: Kind,
    doc: &'static str,
) -> Setting {
    Setting { section, roles, key, env, flag, kind, default: None, secret: true, doc }
}

const TEXT: Kind = Kind::Text { non_empty: true };
const SEC: u64 = 1000;

/// Declares each setting as a constant named after its key (`temporal.address` is
/// `TEMPORAL_ADDRESS`), and [`SETTINGS`] as the list of all of them, so other crates name a
/// setting's env var or flag through its constant (`spec::TEMPORAL_ADDRESS.env`) and never
/// spell it by hand.
macro_rules! settings {
    ($($(#[$doc:meta])* $name:ident = $def:expr;)*) => {
        $($(#[$doc])* pub const $name: Setting = $def;)*
        /// Every setting temporal-k8s understands. Connection settings reuse Temporal's own
        /// envconfig variable names so a user configures a worker exactly as they configure the
        /// `temporal` CLI.
        pub const SETTINGS: &[Setting] = &[$($name),*];
    };
}

settings! {
    // --- connection (Temporal envconfig names) ---
    TEMPORAL_ADDRESS = s(Section::Temporal, Roles::CONNECTS, "temporal.address", "TEMPORAL_ADDRESS", "address", TEXT, Some("127.0.0.1:7233"),
      "Temporal frontend `host:port`.");
    TEMPORAL_NAMESPACE = s(Section::Temporal, Roles::CONNECTS, "temporal.namespace", "TEMPORAL_NAMESPACE", "namespace", TEXT, Some("default"),
      "Temporal namespace.");
    TEMPORAL_PROFILE = s(Section::Temporal, Roles::CONNECTS, "temporal.profile", "TEMPORAL_PROFILE", "profile", TEXT, None,
      "Profile to read from the temporal.toml file (as the `temporal` CLI does).");
    TEMPORAL_CONFIG_FILE = s(Section::Temporal, Roles::CONNECTS, "temporal.config_file", "TEMPORAL_CONFIG_FILE", "temporal-config-file", Kind::File, None,
      "Path of a temporal.toml client config file; its profile sits between defaults and tk8s.toml.");
    TEMPORAL_API_KEY = secret(Section::Temporal, Roles::CONNECTS, "temporal.api_key", "TEMPORAL_API_KEY", "api-key", TEXT,
      "API key (implies TLS). Prefer `temporal.api_key_file` in Kubernetes.");
    TEMPORAL_API_KEY_FILE = s(Section::Temporal, Roles::CONNECTS, "temporal.api_key_file", "TK8S_API_KEY_FILE", "api-key-file", Kind::File, None,
      "File holding the API key (a mounted Secret); re-read on change. Implies TLS.");
    TEMPORAL_TLS = s(Section::Temporal, Roles::CONNECTS, "temporal.tls", "TEMPORAL_TLS", "tls", Kind::Bool, None,
      "Use TLS. Defaults to on when an API key, client certificate or CA is configured.");
    TEMPORAL_TLS_CERT_DIR = s(Section::Temporal, Roles::CONNECTS, "temporal.tls_cert_dir", "TK8S_TLS_CERT_DIR", "tls-cert-dir", Kind::Dir, None,
      "Directory laid out as a `kubernetes.io/tls` Secret mount: `tls.crt`, `tls.key`, optional `ca.crt`. Reloaded on change.");
    TEMPORAL_TLS_CLIENT_CERT_PATH = s(Section::Temporal, Roles::CONNECTS, "temporal.tls_client_cert_path", "TEMPORAL_TLS_CLIENT_CERT_PATH", "tls-client-cert", Kind::File, None,
      "Client certificate (PEM) for mTLS. Reloaded on change.");
    TEMPORAL_TLS_CLIENT_KEY_PATH = s(Section::Temporal, Roles::CONNECTS, "temporal.tls_client_key_path", "TEMPORAL_TLS_CLIENT_KEY_PATH", "tls-client-key", Kind::File, None,
      "Client private key (PEM) for mTLS. Reloaded on change.");
    TEMPORAL_TLS_SERVER_CA_CERT_PATH = s(Section::Temporal, Roles::CONNECTS, "temporal.tls_server_ca_cert_path", "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "tls-ca", Kind::File, None,
      "CA certificate (PEM) that signs the server certificate, when it is not publicly trusted.");
    TEMPORAL_TLS_SERVER_NAME = s(Section::Temporal, Roles::CONNECTS, "temporal.tls_server_name", "TEMPORAL_TLS_SERVER_NAME", "tls-server-name", TEXT, None,
      "Server name to verify in the server certificate (SNI), when it differs from the address host.");
    TEMPORAL_GRPC_COMPRESSION = s(Section::Temporal, Roles::CONNECTS, "temporal.grpc_compression", "TK8S_GRPC_COMPRESSION", "grpc-compression",
      Kind::Choice(&["gzip", "none"]), Some("none"),
      "gzip-compress gRPC requests to Temporal (and accept compressed answers), or not. Off by default: measured with `cargo xtask bench workers`, gzip cost about 30 % of the worker's CPU per workflow for no throughput gain inside a cluster; turn it on where bandwidth to Temporal costs more than CPU (e.g. across regions).");
    TEMPORAL_TLS_CERT_EXPIRY_WARNING = s(Section::Temporal, Roles::CONNECTS, "temporal.tls_cert_expiry_warning", "TK8S_TLS_CERT_EXPIRY_WARNING", "tls-cert-expiry-warning",
      Kind::Duration { min_ms: 0, max_ms: 365 * 24 * 3600 * SEC }, Some("7d"),
      "Log a warning (at start, on every reload and hourly) once the client certificate expires within this time; its expiry is exported as `tk8s_client_certificate_expiry_timestamp_seconds`. A certificate that has already expired is refused at start-up.");
    TEMPORAL_CONNECT_TIMEOUT = s(Section::Temporal, Roles::CONNECTS, "temporal.connect_timeout", "TK8S_CONNECT_TIMEOUT", "connect-timeout",
      Kind::Duration { min_ms: 100, max_ms: 600 * SEC }, Some("10s"),
      "How long start-up keeps trying to reach Temporal before giving up (exit 1); each attempt gets at most 5s.");
    // --- worker ---
    WORKER_TASK_QUEUE = s(Section::Worker, Roles::HOSTED.with(Role::Companion).with(Role::Replay), "worker.task_queue", "TK8S_TASK_QUEUE", "task-queue", TEXT, None,
      "Task queue the worker polls and the orchestrator starts workflows on (the app supplies a default).");
    WORKER_MAX_CONCURRENT_WORKFLOW_TASKS = s(Section::Worker, Roles::of(&[Role::Worker]), "worker.max_concurrent_workflow_tasks", "TK8S_MAX_CONCURRENT_WORKFLOW_TASKS", "max-concurrent-workflow-tasks",
      Kind::Int { min: 2, max: 10_000 }, Some("100"), "Workflow task slots.");
    WORKER_MAX_CONCURRENT_ACTIVITIES = s(Section::Worker, Roles::of(&[Role::Worker]), "worker.max_concurrent_activities", "TK8S_MAX_CONCURRENT_ACTIVITIES", "max-concurrent-activities",
      Kind::Int { min: 1, max: 10_000 }, Some("100"), "Activity slots.");
    WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES = s(Section::Worker, Roles::of(&[Role::Worker]), "worker.max_concurrent_local_activities", "TK8S_MAX_CONCURRENT_LOCAL_ACTIVITIES", "max-concurrent-local-activities",
      Kind::Int { min: 1, max: 10_000 }, Some("100"), "Local activity slots.");
    WORKER_TUNER = s(Section::Worker, Roles::of(&[Role::Worker]), "worker.tuner", "TK8S_WORKER_TUNER", "worker-tuner",
      Kind::Choice(&["fixed", "resource"]), Some("fixed"),
      "How many activities run at once. `fixed`: `worker.max_concurrent_activities` slots (size them to the pod: the worker logs its memory limit and the memory each slot may use at start). `resource`: the SDK's resource-based tuner hands out activity and local-activity slots (up to those maximums) while the container's memory and CPU stay under `worker.target_memory_usage` and `worker.target_cpu_usage`, read from its cgroup limits; measured here, it lets activities that allocate tens of MiB at once overshoot a 256 MiB limit (README, \"Sizing workers to their pod\").");
    WORKER_TARGET_MEMORY_USAGE = s(Section::Worker, Roles::of(&[Role::Worker]), "worker.target_memory_usage", "TK8S_WORKER_TARGET_MEMORY_USAGE", "worker-target-memory-usage",
      Kind::Float { min: 0.0, max: 1.0, min_exclusive: true }, Some("0.8"),
      "With the resource tuner: share of the container's memory limit the worker's anonymous memory may reach before it takes no more activities.");
    WORKER_TARGET_CPU_USAGE = s(Section::Worker, Roles::of(&[Role::Worker]), "worker.target_cpu_usage", "TK8S_WORKER_TARGET_CPU_USAGE", "worker-target-cpu-usage",
      Kind::Float { min: 0.0, max: 1.0, min_exclusive: true }, Some("0.9"),
      "With the resource tuner: share of the container's CPU limit the worker may use before it takes no more activities.");
    WORKER_WORKFLOW_POLLERS = s(Section::Worker, Roles::of(&[Role::Worker]), "worker.workflow_pollers", "TK8S_WORKFLOW_POLLERS", "workflow-pollers",
      Kind::Int { min: 2, max: 100 }, Some("5"), "Maximum concurrent workflow task polls (at least 2: sticky + normal queue).");
    WORKER_ACTIVITY_POLLERS = s(Section::Worker, Roles::of(&[Role::Worker]), "worker.activity_pollers", "TK8S_ACTIVITY_POLLERS", "activity-pollers",
      Kind::Int { min: 1, max: 100 }, Some("5"), "Maximum concurrent activity task polls.");
    WORKER_POLLER_AUTOSCALING = s(Section::Worker, Roles::of(&[Role::Worker]), "worker.poller_autoscaling", "TK8S_POLLER_AUTOSCALING", "poller-autoscaling", Kind::Bool, Some("false"),
      "Let the SDK scale the pollers of each task type between 1 (2 for workflow tasks) and the maximums above, following the server's feedback, instead of keeping the maximum open.");
    WORKER_HEARTBEAT_INTERVAL = s(Section::Worker, Roles::of(&[Role::Worker, Role::Scaler]), "worker.heartbeat_interval", "TK8S_WORKER_HEARTBEAT_INTERVAL", "worker-heartbeat-interval",
      Kind::Duration { min_ms: 1000, max_ms: 60 * SEC }, Some("10s"),
      "How often the worker reports itself to Temporal (worker heartbeats: slots in use and free, pollers), which the `scaler` role can read for its scaling signal and `temporal worker list` shows. The SDK's default is 60s, too stale to scale on.");
    WORKER_MAX_CACHED_WORKFLOWS = s(Section::Worker, Roles::of(&[Role::Worker]), "worker.max_cached_workflows", "TK8S_MAX_CACHED_WORKFLOWS", "max-cached-workflows",
      Kind::Int { min: 0, max: 100_000 }, Some("1000"), "Sticky workflow cache size (0 disables sticky execution).");
    WORKER_MAX_ACTIVITIES_PER_SECOND = s(Section::Worker, Roles::of(&[Role::Worker]), "worker.max_activities_per_second", "TK8S_MAX_ACTIVITIES_PER_SECOND", "max-activities-per-second",
      Kind::Float { min: 0.0, max: 1_000_000.0, min_exclusive: true }, None, "Per-worker activity rate limit.");
    WORKER_DEPLOYMENT_NAME = s(Section::Worker, Roles::of(&[Role::Worker]), "worker.deployment_name", "TEMPORAL_DEPLOYMENT_NAME", "deployment-name", TEXT, None,
      "Worker Deployment name for Worker Versioning (set by the temporal-worker-controller); with a build id, opts the worker in.");
    WORKER_BUILD_ID = s(Section::Worker, Roles::of(&[Role::Worker]), "worker.build_id", "TEMPORAL_WORKER_BUILD_ID", "build-id", TEXT, None,
      "Build id of this worker's code for Worker Versioning (set by the temporal-worker-controller).");
    WORKER_VERSIONING_BEHAVIOR = s(Section::Worker, Roles::of(&[Role::Worker]), "worker.versioning_behavior", "TK8S_VERSIONING_BEHAVIOR", "versioning-behavior",
      Kind::Choice(&["auto-upgrade", "pinned"]), Some("auto-upgrade"),
      "Default versioning behavior of workflows on a versioned worker: move to new versions, or stay on the one they started on.");
    // --- shutdown ---
    SHUTDOWN_GRACE = s(Section::Shutdown, Roles::HOSTED.with(Role::CodecServer).with(Role::Companion), "shutdown.grace", "TK8S_SHUTDOWN_GRACE", "shutdown-grace",
      Kind::Duration { min_ms: 0, max_ms: 3600 * SEC }, Some("20s"),
      "After SIGTERM, how long in-flight activities get to finish before they are cancelled.");
    SHUTDOWN_HARD_DEADLINE = s(Section::Shutdown, Roles::HOSTED.with(Role::CodecServer).with(Role::Companion), "shutdown.hard_deadline", "TK8S_SHUTDOWN_HARD_DEADLINE", "shutdown-hard-deadline",
      Kind::Duration { min_ms: 100, max_ms: 600 * SEC }, Some("5s"),
      "Extra time after the grace period before the process exits regardless (the SDK can hang).");
    // --- admin server ---
    ADMIN_BIND = s(Section::Admin, Roles::HOSTED.with(Role::Companion), "admin.bind", "TK8S_ADMIN_BIND", "admin-bind", Kind::Ip, Some("0.0.0.0"),
      "Address the admin server (/livez /readyz /startupz /metrics) binds to.");
    ADMIN_PORT = s(Section::Admin, Roles::HOSTED.with(Role::Probe).with(Role::Companion), "admin.port", "TK8S_ADMIN_PORT", "admin-port", Kind::Port, Some("9090"),
      "Port of the admin server.");
    READINESS_CHECK_INTERVAL = s(Section::Readiness, Roles::HOSTED, "readiness.check_interval", "TK8S_READINESS_CHECK_INTERVAL", "readiness-check-interval",
      Kind::Duration { min_ms: 200, max_ms: 60 * SEC }, Some("2s"),
      "How often the host checks that Temporal answers; /readyz turns 503 after one failed check.");
    // --- logging ---
    LOG_FORMAT = s(Section::Log, Roles::LOGGING, "log.format", "TK8S_LOG_FORMAT", "log-format", Kind::Choice(&["auto", "json", "text"]), Some("auto"),
      "`json` lines, human `text`, or `auto` (json unless stdout is a terminal).");
    LOG_LEVEL = s(Section::Log, Roles::LOGGING, "log.level", "TK8S_LOG_LEVEL", "log-level", Kind::Choice(&["trace", "debug", "info", "warn", "error"]),
      Some("info"), "Log level for the host, the app and the SDK core.");
    LOG_OTLP_ENDPOINT = s(Section::Log, Roles::HOSTED, "log.otlp_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "otlp-endpoint", TEXT, None,
      "OTLP/gRPC collector (e.g. `http://otel-collector.monitoring:4317`) to export traces to: workflow starts, workflow runs and activities, one trace across processes (the SDK's OpenTelemetry plugin, `_tracer-data` header). `OTEL_RESOURCE_ATTRIBUTES` applies. Unset: no traces.");
    LOG_SERVICE_NAME = s(Section::Log, Roles::HOSTED, "log.service_name", "OTEL_SERVICE_NAME", "service-name", TEXT, None,
      "`service.name` of exported traces (default: the app's name), as OpenTelemetry reads it.");
    // --- orchestrator ---
    ORCHESTRATOR_MODE = s(Section::Orchestrator, Roles::of(&[Role::Orchestrator]), "orchestrator.mode", "TK8S_ORCHESTRATOR_MODE", "mode",
      Kind::Choice(&["once", "interval", "rate", "schedule"]), Some("once"),
      "`once`: start `count` workflows and exit; `interval`: one every `interval`; `rate`: `rate` per second; `schedule`: create or update a Temporal Schedule.");
    ORCHESTRATOR_COUNT = s(Section::Orchestrator, Roles::of(&[Role::Orchestrator]), "orchestrator.count", "TK8S_ORCHESTRATOR_COUNT", "count", Kind::Int { min: 1, max: 1_000_000 }, Some("1"),
      "Workflows to start in `once` mode.");
    ORCHESTRATOR_INTERVAL = s(Section::Orchestrator, Roles::of(&[Role::Orchestrator]), "orchestrator.interval", "TK8S_ORCHESTRATOR_INTERVAL", "interval",
      Kind::Duration { min_ms: 100, max_ms: 24 * 3600 * SEC }, Some("10s"), "Period in `interval` mode.");
    ORCHESTRATOR_RATE = s(Section::Orchestrator, Roles::of(&[Role::Orchestrator]), "orchestrator.rate", "TK8S_ORCHESTRATOR_RATE", "rate",
      Kind::Float { min: 0.0, max: 1000.0, min_exclusive: true }, Some("1"), "Workflows per second in `rate` mode.");
    ORCHESTRATOR_RUN_FOR = s(Section::Orchestrator, Roles::of(&[Role::Orchestrator]), "orchestrator.run_for", "TK8S_ORCHESTRATOR_RUN_FOR", "run-for",
      Kind::Duration { min_ms: 100, max_ms: 30 * 24 * 3600 * SEC }, None,
      "Stop `interval` or `rate` mode after this long (default: run until signalled).");
    ORCHESTRATOR_SCHEDULE_ID = s(Section::Orchestrator, Roles::of(&[Role::Orchestrator]), "orchestrator.schedule_id", "TK8S_SCHEDULE_ID", "schedule-id", TEXT, None,
      "Schedule id in `schedule` mode (default: `<id_prefix>-schedule`).");
    ORCHESTRATOR_SCHEDULE_EVERY = s(Section::Orchestrator, Roles::of(&[Role::Orchestrator]), "orchestrator.schedule_every", "TK8S_SCHEDULE_EVERY", "schedule-every",
      Kind::Duration { min_ms: 1000, max_ms: 365 * 24 * 3600 * SEC }, Some("1m"), "Schedule interval in `schedule` mode.");
    ORCHESTRATOR_ID_PREFIX = s(Section::Orchestrator, Roles::of(&[Role::Orchestrator]), "orchestrator.id_prefix", "TK8S_WORKFLOW_ID_PREFIX", "id-prefix", TEXT, None,
      "Prefix of deterministic workflow ids (default: the app name).");
    ORCHESTRATOR_INPUT = s(Section::Orchestrator, Roles::of(&[Role::Orchestrator]), "orchestrator.input", "TK8S_WORKFLOW_INPUT", "input", Kind::Text { non_empty: false }, None,
      "Input passed to each started workflow (the app supplies a default).");
    ORCHESTRATOR_WAIT = s(Section::Orchestrator, Roles::of(&[Role::Orchestrator]), "orchestrator.wait", "TK8S_ORCHESTRATOR_WAIT", "wait", Kind::Bool, Some("true"),
      "In `once` mode, wait for every started workflow to finish and fail if any failed.");
    // --- payload encryption ---
    CODEC_KEYS_DIR = s(Section::Codec, Roles::ENCRYPTS, "codec.keys_dir", "TK8S_CODEC_KEYS_DIR", "codec-keys-dir", Kind::Dir, None,
      "Directory of AES-256 keys, one `<id>.key` file each (32 bytes raw, base64 or hex), plus an optional `active` file naming the encrypting key. Turns payload encryption on; reloaded on change.");
    CODEC_KEYS = secret(Section::Codec, Roles::ENCRYPTS, "codec.keys", "TK8S_CODEC_KEYS", "codec-keys", TEXT,
      "Keys inline for local use, `id=<base64>,id=<base64>`. Turns payload encryption on.");
    CODEC_ACTIVE_KEY = s(Section::Codec, Roles::ENCRYPTS, "codec.active_key", "TK8S_CODEC_ACTIVE_KEY", "codec-active-key", TEXT, None,
      "Id of the key that encrypts (others only decrypt); the key directory's `active` file overrides it.");
    CODEC_COMPRESS_ABOVE = s(Section::Codec, Roles::ENCRYPTS, "codec.compress_above", "TK8S_CODEC_COMPRESS_ABOVE", "codec-compress-above",
      Kind::Int { min: 0, max: 256 * 1024 * 1024 }, Some("0"),
      "Compress payloads larger than this many bytes before encrypting (zlib, as the Go SDK's codec); 0 never compresses.");
    CODEC_SERVER_BIND = s(Section::CodecServer, Roles::of(&[Role::CodecServer]), "codec_server.bind", "TK8S_CODEC_SERVER_BIND", "codec-server-bind", Kind::Ip, Some("0.0.0.0"),
      "Address `tk8s codec-server` binds to.");
    CODEC_SERVER_PORT = s(Section::CodecServer, Roles::of(&[Role::CodecServer]), "codec_server.port", "TK8S_CODEC_SERVER_PORT", "codec-server-port", Kind::Port, Some("8888"),
      "Port of `tk8s codec-server` (also serves /livez /readyz /metrics).");
    CODEC_SERVER_ALLOWED_ORIGINS = s(Section::CodecServer, Roles::of(&[Role::CodecServer]), "codec_server.allowed_origins", "TK8S_CODEC_SERVER_ALLOWED_ORIGINS", "codec-server-allowed-origins", Kind::List, None,
      "Browser origins allowed by CORS, exactly as the browser sends them (e.g. the Temporal UI's `https://temporal.example.com`).");
    CODEC_SERVER_TOKENS_FILE = s(Section::CodecServer, Roles::of(&[Role::CodecServer]), "codec_server.tokens_file", "TK8S_CODEC_SERVER_TOKENS_FILE", "codec-server-tokens-file", Kind::File, None,
      "File of accepted bearer tokens, one per line (a mounted Secret; re-read on change). With neither this nor a JWKS, the codec server runs only on loopback (see `codec_server.allow_unauthenticated`).");
    CODEC_SERVER_JWKS_URL = s(Section::CodecServer, Roles::of(&[Role::CodecServer]), "codec_server.jwks_url", "TK8S_CODEC_SERVER_JWKS_URL", "codec-server-jwks-url", TEXT, None,
      "Your identity provider's JWKS URL (https; its `jwks_uri`): bearer tokens may then also be JWTs (RS256, ES256) signed by one of its keys, as the Temporal UI forwards with `passAccessToken`. Re-fetched every 5 minutes and when a token names an unknown key.");
    CODEC_SERVER_JWKS_FILE = s(Section::CodecServer, Roles::of(&[Role::CodecServer]), "codec_server.jwks_file", "TK8S_CODEC_SERVER_JWKS_FILE", "codec-server-jwks-file", Kind::File, None,
      "A JWKS file instead of a URL (e.g. a mounted ConfigMap); re-read when it changes.");
    CODEC_SERVER_JWT_AUDIENCE = s(Section::CodecServer, Roles::of(&[Role::CodecServer]), "codec_server.jwt_audience", "TK8S_CODEC_SERVER_JWT_AUDIENCE", "codec-server-jwt-audience", TEXT, None,
      "The `aud` a JWT must carry (e.g. the UI's OIDC client id); required with a JWKS, so tokens issued for other applications are refused.");
    CODEC_SERVER_JWT_ISSUER = s(Section::CodecServer, Roles::of(&[Role::CodecServer]), "codec_server.jwt_issuer", "TK8S_CODEC_SERVER_JWT_ISSUER", "codec-server-jwt-issuer", TEXT, None,
      "The `iss` a JWT must carry (your identity provider's issuer URL).");
    CODEC_SERVER_MAX_BODY_BYTES = s(Section::CodecServer, Roles::of(&[Role::CodecServer]), "codec_server.max_body_bytes", "TK8S_CODEC_SERVER_MAX_BODY_BYTES", "codec-server-max-body-bytes",
      Kind::Int { min: 1024, max: 256 * 1024 * 1024 }, Some("4194304"), "Largest request body accepted (413 above).");
    CODEC_SERVER_ALLOW_UNAUTHENTICATED = s(Section::CodecServer, Roles::of(&[Role::CodecServer]), "codec_server.allow_unauthenticated", "TK8S_CODEC_SERVER_ALLOW_UNAUTHENTICATED",
      "codec-server-allow-unauthenticated", Kind::Bool, Some("false"),
      "Serve /encode and /decode without authentication on a non-loopback address; only for a codec server behind something that authenticates every request (an authenticating proxy). Without it, `tk8s codec-server` with no tokens file and no JWKS refuses to start unless it binds to loopback, since anyone who reaches it could decrypt every payload.");
    ORCHESTRATOR_BACKLOG_INTERVAL = s(Section::Orchestrator, Roles::of(&[Role::Orchestrator]), "orchestrator.backlog_interval", "TK8S_BACKLOG_INTERVAL", "backlog-interval",
      Kind::Duration { min_ms: 1000, max_ms: 3600 * SEC }, Some("15s"),
      "How often the orchestrator reads the task queue backlog and poller count for /metrics.");
    // --- scaler (the `scaler` role: a scaling signal for the task queue, served to KEDA) ---
    SCALER_BIND = s(Section::Scaler, Roles::of(&[Role::Scaler]), "scaler.bind", "TK8S_SCALER_BIND", "scaler-bind", Kind::Ip, Some("0.0.0.0"),
      "Address the scaler's KEDA external scaler (gRPC) binds to.");
    SCALER_PORT = s(Section::Scaler, Roles::of(&[Role::Scaler]), "scaler.port", "TK8S_SCALER_PORT", "scaler-port", Kind::Port, Some("9100"),
      "Port of the scaler's KEDA external scaler (gRPC). Its gauges are on the admin port's /metrics.");
    SCALER_INTERVAL = s(Section::Scaler, Roles::of(&[Role::Scaler]), "scaler.interval", "TK8S_SCALER_INTERVAL", "scaler-interval",
      Kind::Duration { min_ms: 500, max_ms: 300 * SEC }, Some("5s"),
      "How often the scaler reads the task queue, the workers' heartbeats and the open workflows, and decides.");
    SCALER_TARGET_UTILIZATION = s(Section::Scaler, Roles::of(&[Role::Scaler]), "scaler.target_utilization", "TK8S_SCALER_TARGET_UTILIZATION", "scaler-target-utilization",
      Kind::Float { min: 0.0, max: 1.0, min_exclusive: true }, Some("0.8"),
      "Share of a replica's activity slots the scaler aims to keep busy.");
    SCALER_DRAIN_WITHIN = s(Section::Scaler, Roles::of(&[Role::Scaler]), "scaler.drain_within", "TK8S_SCALER_DRAIN_WITHIN", "scaler-drain-within",
      Kind::Duration { min_ms: 1000, max_ms: 24 * 3600 * SEC }, Some("3s"),
      "Add replicas to drain the backlog within this time, each at the rate it completes tasks when busy. Short: a backlog gets its replicas at once, and they go again once it is drained (the scale-down window does not hold them).");
    SCALER_MIN_REPLICAS = s(Section::Scaler, Roles::of(&[Role::Scaler]), "scaler.min_replicas", "TK8S_SCALER_MIN_REPLICAS", "scaler-min-replicas",
      Kind::Int { min: 0, max: 10_000 }, Some("1"),
      "Fewest replicas; 0 allows scaling to zero once nothing waits, runs or is open for `scaler.zero_after`.");
    SCALER_MAX_REPLICAS = s(Section::Scaler, Roles::of(&[Role::Scaler]), "scaler.max_replicas", "TK8S_SCALER_MAX_REPLICAS", "scaler-max-replicas",
      Kind::Int { min: 1, max: 10_000 }, Some("10"), "Most replicas.");
    SCALER_SCALE_DOWN_WINDOW = s(Section::Scaler, Roles::of(&[Role::Scaler]), "scaler.scale_down_window", "TK8S_SCALER_SCALE_DOWN_WINDOW", "scaler-scale-down-window",
      Kind::Duration { min_ms: 0, max_ms: 24 * 3600 * SEC }, Some("3m"),
      "The longest a lower replica count waits before it takes effect (no flapping). The scaler starts with a quarter of it and doubles the wait each time the load comes back within the window after a scale-down.");
    SCALER_SURGE_HOLD = s(Section::Scaler, Roles::of(&[Role::Scaler]), "scaler.surge_hold", "TK8S_SCALER_SURGE_HOLD", "scaler-surge-hold",
      Kind::Duration { min_ms: 0, max_ms: 3600 * SEC }, Some("30s"),
      "How long the replicas a backlog called for are kept at least. A little more than your pods take to start (image pull to ready), so none is removed while it still starts.");
    SCALER_ZERO_AFTER = s(Section::Scaler, Roles::of(&[Role::Scaler]), "scaler.zero_after", "TK8S_SCALER_ZERO_AFTER", "scaler-zero-after",
      Kind::Duration { min_ms: 0, max_ms: 7 * 24 * 3600 * SEC }, Some("10m"),
      "With `scaler.min_replicas` 0: how long backlog, slots in use and open workflows must all be zero before scaling to zero.");
    SCALER_WORKER_METRICS = s(Section::Scaler, Roles::of(&[Role::Scaler]), "scaler.worker_metrics", "TK8S_SCALER_WORKER_METRICS", "scaler-worker-metrics", Kind::List, None,
      "Where the workers' /metrics are, as `host:port`: a headless Service's name resolves to every worker pod (what `tk8s render` sets up), or list the workers. The scaler reads the slots in use from them. Unset: from the workers' heartbeats (`ListWorkers`), which the Rust SDK 1.1 sends only once, at start.");
    SCALER_SLOTS_PER_REPLICA = s(Section::Scaler, Roles::of(&[Role::Scaler]), "scaler.slots_per_replica", "TK8S_SCALER_SLOTS_PER_REPLICA", "scaler-slots-per-replica",
      Kind::Int { min: 1, max: 100_000 }, Some("100"),
      "Activity slots per worker replica when the workers' heartbeats do not report theirs.");
    // --- companion (`tk8s companion`: probes for a worker written with any SDK) ---
    COMPANION_CHECK_INTERVAL = s(Section::Companion, Roles::of(&[Role::Companion]), "companion.check_interval", "TK8S_COMPANION_CHECK_INTERVAL", "companion-check-interval",
      Kind::Duration { min_ms: 1000, max_ms: 300 * SEC }, Some("5s"),
      "How often the companion asks Temporal (DescribeTaskQueue, one call per task type) which pollers it sees on the task queue. Each pod makes 2 calls per interval: mind your namespace's rate limits (Temporal Cloud's) before going lower.");
    COMPANION_POLLER_FRESHNESS = s(Section::Companion, Roles::of(&[Role::Companion]), "companion.poller_freshness", "TK8S_COMPANION_POLLER_FRESHNESS", "companion-poller-freshness",
      Kind::Duration { min_ms: 5 * SEC, max_ms: 3600 * SEC }, Some("70s"),
      "A poller of this pod counts as alive when Temporal saw it poll within this time. SDKs hold each poll open up to a minute on an idle queue, so keep it above 60s; a dead worker turns /readyz 503 within this plus one check interval.");
    COMPANION_IDENTITY = s(Section::Companion, Roles::of(&[Role::Companion]), "companion.identity", "TK8S_COMPANION_IDENTITY", "companion-identity",
      Kind::List, Some("*@{pod}"),
      "Which worker identities belong to this pod: patterns where `*` is any text and `{pod}` the pod's name (its HOSTNAME). Every SDK's default identity is `<pid>@<hostname>`; change it if your worker sets its own identity.");
    COMPANION_WORKER_METRICS = s(Section::Companion, Roles::of(&[Role::Companion]), "companion.worker_metrics", "TK8S_COMPANION_WORKER_METRICS", "companion-worker-metrics", TEXT, None,
      "`host:port` of the worker's own Prometheus endpoint in the pod (e.g. 127.0.0.1:9464): the companion's /metrics relays it after its own, so the pod has one scrape target.");
    // --- replay (`<app> replay`: the replay gate) ---
    REPLAY_CLOSED_WITHIN = s(Section::Replay, Roles::of(&[Role::Replay]), "replay.closed_within", "TK8S_REPLAY_CLOSED_WITHIN", "replay-closed-within",
      Kind::Duration { min_ms: 0, max_ms: 365 * 24 * 3600 * SEC }, Some("7d"),
      "Besides every open workflow, replay workflows that closed within this time (0: open ones only). Recent closed histories show what the code did lately, including paths open workflows have not reached yet.");
    REPLAY_MAX_PER_TYPE = s(Section::Replay, Roles::of(&[Role::Replay]), "replay.max_per_type", "TK8S_REPLAY_MAX_PER_TYPE", "replay-max-per-type",
      Kind::Int { min: 1, max: 1_000_000 }, Some("100"),
      "Most histories replayed per workflow type from the namespace (open ones first, then the most recently closed).");
    REPLAY_MAX_TOTAL = s(Section::Replay, Roles::of(&[Role::Replay]), "replay.max_total", "TK8S_REPLAY_MAX_TOTAL", "replay-max-total",
      Kind::Int { min: 1, max: 10_000_000 }, Some("1000"), "Most histories replayed from the namespace in all.");
    REPLAY_QUERY = s(Section::Replay, Roles::of(&[Role::Replay]), "replay.query", "TK8S_REPLAY_QUERY", "replay-query", TEXT, None,
      "An extra visibility filter, ANDed with the task queue and type (e.g. `StartTime > '2026-01-01T00:00:00Z'`).");
    REPLAY_CONCURRENCY = s(Section::Replay, Roles::of(&[Role::Replay]), "replay.concurrency", "TK8S_REPLAY_CONCURRENCY", "replay-concurrency",
      Kind::Int { min: 1, max: 64 }, Some("4"), "Histories fetched at once from Temporal (mind the namespace's rate limits).");
    REPLAY_BATCH = s(Section::Replay, Roles::of(&[Role::Replay]), "replay.batch", "TK8S_REPLAY_BATCH", "replay-batch",
      Kind::Int { min: 1, max: 10_000 }, Some("50"),
      "Histories held in memory and replayed together: what bounds the memory of a replay, whatever the number of histories.");
}

/// Environment variables read outside the settings table. Like the table's, they are spelled
/// only here.
pub mod env {
    /// The prefix of every temporal-k8s variable (an unknown one is an error).
    pub const PREFIX: &str = "TK8S_";
    /// Path of `tk8s.toml` (the `--config` flag's variable).
    pub const CONFIG: &str = "TK8S_CONFIG";
    /// Prefix of variables that become gRPC headers (Temporal envconfig).
    pub const GRPC_META_PREFIX: &str = "TEMPORAL_GRPC_META_";
    /// Inline certificate data (Temporal envconfig): refused, with the `_PATH` form as the fix.
    pub const TLS_DATA: &[(&str, &str)] = &[
        ("TEMPORAL_TLS_CLIENT_CERT_DATA", super::TEMPORAL_TLS_CLIENT_CERT_PATH.env),
        ("TEMPORAL_TLS_CLIENT_KEY_DATA", super::TEMPORAL_TLS_CLIENT_KEY_PATH.env),
        ("TEMPORAL_TLS_SERVER_CA_CERT_DATA", super::TEMPORAL_TLS_SERVER_CA_CERT_PATH.env),
    ];
    /// The pod name in Kubernetes; part of the worker identity Temporal shows.
    pub const HOSTNAME: &str = "HOSTNAME";
    /// Where the default temporal.toml lives (`$XDG_CONFIG_HOME/temporalio/temporal.toml`, else
    /// `$HOME/.config/...`), as the `temporal` CLI looks for it.
    pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
    pub const HOME: &str = "HOME";
}

/// The setting with this dotted key.
pub fn by_key(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// The setting this environment variable sets.
pub fn by_env(env: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env == env)
}

/// The closest known name to `wrong` among `candidates`, for "did you mean" hints.
pub fn closest<'a>(wrong: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates.map(|c| (edit_distance(wrong, c), c)).filter(|(d, c)| *d <= (c.len() / 3).max(2)).min_by_key(|(d, _)| *d).map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keys_envs_and_flags_are_unique_and_envs_are_prefixed() {
        let mut seen = HashSet::new();
        for s in SETTINGS {
            assert!(seen.insert(s.key), "duplicate key {}", s.key);
            assert!(seen.insert(s.env), "duplicate env {}", s.env);
            assert!(seen.insert(s.flag), "duplicate flag {}", s.flag);
            assert!(s.env.starts_with("TK8S_") || s.env.starts_with("TEMPORAL_") || s.env.starts_with("OTEL_"), "{}", s.env);
            assert_eq!(s.key.split('.').count(), 2, "{} must be section.name", s.key);
            assert!(s.key.starts_with(&format!("{}.", s.section.name())), "{} is not in section {:?}", s.key, s.section);
            assert!(!s.roles.is_empty(), "{} applies to no role: say which roles read it", s.key);
        }
    }

    #[test]
    fn numeric_settings_have_defaults_that_pass_their_own_checks() {
        for s in SETTINGS {
            if let Some(d) = s.default {
                let checked = crate::value::check(s, &crate::value::Raw::Text(d.into()), std::path::Path::new("/"));
                assert!(checked.is_ok(), "{}: default {d:?} fails its own check: {checked:?}", s.key);
            } else {
                assert!(!matches!(s.kind, Kind::Int { .. } | Kind::Port), "{} is an integer without a default", s.key);
            }
        }
    }

    #[test]
    fn closest_suggests_near_misses_only() {
        let keys = SETTINGS.iter().map(|s| s.key);
        assert_eq!(closest("worker.task_queu", keys), Some("worker.task_queue"));
        assert_eq!(closest("completely.different", SETTINGS.iter().map(|s| s.key)), None);
    }
}
