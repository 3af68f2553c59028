//! Layered, validated configuration for temporal-k8s hosts.
//!
//! Precedence, lowest first: built-in defaults < app defaults < temporal.toml profile <
//! `tk8s.toml` < environment < command-line flags. Everything is checked before the process
//! binds a port or dials Temporal; every problem names its source (`file:line`, `env NAME`,
//! `flag --name`), what was expected, and a hint. This crate does no network I/O and reads the
//! process environment only through the map it is given, so tests never mutate the real one.

pub mod cli;
mod error;
mod source;
pub mod spec;
mod value;
pub mod watched;

pub use error::{ConfigError, Problem};
pub use source::Origin;
pub use spec::env::CONFIG as CONFIG_ENV;
pub use value::{Value, format_duration, parse_duration};

use source::{Entry, Layered};
use spec::{Kind, SETTINGS, Setting};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use value::Raw;

/// What a host application contributes: its name and the defaults only it knows.
#[derive(Debug, Clone)]
pub struct AppDefaults {
    /// Used as the default workflow id prefix and in logs.
    pub name: String,
    pub task_queue: String,
    pub workflow_input: String,
}

/// Everything needed to load: the environment as a map, the settings arguments, the app's
/// defaults, and the directory relative paths are resolved against.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub env: &'a BTreeMap<String, String>,
    pub args: &'a [String],
    pub app: &'a AppDefaults,
    pub cwd: &'a Path,
}

/// A secret string that never prints itself.
#[derive(Clone, PartialEq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the API key comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiKey {
    Inline(Secret),
    /// Re-read when the file changes.
    File(PathBuf),
}

/// Client certificate and key for mTLS, as files (reloaded when they change).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    pub server_ca: Option<PathBuf>,
    pub server_name: Option<String>,
    pub client_cert: Option<ClientCert>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Temporal {
    pub address: String,
    pub namespace: String,
    pub api_key: Option<ApiKey>,
    /// `None` means plaintext.
    pub tls: Option<Tls>,
    /// gRPC headers from `TEMPORAL_GRPC_META_*`. Values may be credentials: never logged.
    pub grpc_meta: BTreeMap<String, Secret>,
    pub connect_timeout: Duration,
    /// Warn once the client certificate expires within this time.
    pub cert_expiry_warning: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Worker {
    pub task_queue: String,
    pub max_concurrent_workflow_tasks: usize,
    pub max_concurrent_activities: usize,
    pub max_concurrent_local_activities: usize,
    pub workflow_pollers: usize,
    pub activity_pollers: usize,
    pub max_cached_workflows: usize,
    pub max_activities_per_second: Option<f64>,
    /// Worker Versioning: `None` runs an unversioned worker.
    pub versioning: Option<Versioning>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Versioning {
    pub deployment_name: String,
    pub build_id: String,
    /// `true`: workflows stay on the version they started on; `false`: auto-upgrade.
    pub pinned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shutdown {
    pub grace: Duration,
    pub hard_deadline: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Json,
    Text,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Log {
    pub format: LogFormat,
    pub level: String,
    /// Where to export traces (OTLP over gRPC), if anywhere.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of exported traces; `None`: the app's name.
    pub service_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Once { count: u64 },
    Interval { every: Duration },
    Rate { per_second: f64 },
    Schedule { every: Duration },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Orchestrator {
    pub mode: Mode,
    pub run_for: Option<Duration>,
    pub id_prefix: String,
    pub schedule_id: String,
    pub input: String,
    pub wait: bool,
    pub backlog_interval: Duration,
}

/// Where the encryption keys come from.
#[derive(Debug, Clone, PartialEq)]
pub enum CodecKeys {
    /// A directory of `<id>.key` files (reloaded on change).
    Dir(PathBuf),
    /// `id=<base64>,...` from the environment (fixed for the life of the process).
    Inline(Secret),
}

/// Payload encryption; `None` in [`Config::codec`] means payloads travel unencrypted.
#[derive(Debug, Clone, PartialEq)]
pub struct Codec {
    pub keys: CodecKeys,
    pub active_key: Option<String>,
    pub compress_above: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CodecServer {
    pub addr: SocketAddr,
    pub allowed_origins: Vec<String>,
    pub tokens_file: Option<PathBuf>,
    pub jwt: Option<Jwt>,
    pub max_body_bytes: usize,
    pub allow_unauthenticated: bool,
}

impl CodecServer {
    pub fn authenticated(&self) -> bool {
        self.tokens_file.is_some() || self.jwt.is_some()
    }
}

/// How `tk8s codec-server` is protected, as [`Config::codec_server_access`] decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecServerAccess {
    /// Bearer tokens and/or JWTs are required.
    Authenticated,
    /// No authentication, but only this host can connect.
    LoopbackOnly,
    /// No authentication on a reachable address, because the user said so explicitly.
    UnauthenticatedByChoice,
}

/// JWT bearer tokens for the codec server: where the signing keys are and what the claims must say.
#[derive(Debug, Clone, PartialEq)]
pub struct Jwt {
    pub jwks: Jwks,
    pub audience: String,
    pub issuer: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Jwks {
    Url(String),
    File(PathBuf),
}

/// The resolved, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub app_name: String,
    pub temporal: Temporal,
    pub worker: Worker,
    pub shutdown: Shutdown,
    pub admin: SocketAddr,
    pub readiness_check_interval: Duration,
    pub log: Log,
    pub orchestrator: Orchestrator,
    pub codec: Option<Codec>,
    pub codec_server: CodecServer,
    /// Every setting's value and origin, for `config show`.
    resolved: Vec<(&'static Setting, Option<(Value, Origin)>)>,
}

impl Config {
    /// Load and validate configuration from all layers.
    pub fn load(inputs: &Inputs<'_>) -> Result<Config, ConfigError> {
        let args = source::parse_args(inputs.args).map_err(ConfigError::Usage)?;
        let mut problems = Vec::new();
        let mut layered = Layered::new();

        layered.insert("worker.task_queue", app_entry(&inputs.app.task_queue));
        layered.insert("orchestrator.input", app_entry(&inputs.app.workflow_input));

        // temporal.toml: its location and profile may themselves come from any layer above it.
        let mut locate = Layered::new();
        let config_file = args
            .config_file
            .clone()
            .map(|p| (p, Origin::Flag("config".into())))
            .or_else(|| inputs.env.get(CONFIG_ENV).map(|p| (PathBuf::from(p), Origin::Env(CONFIG_ENV.into()))));
        let file_text = match &config_file {
            Some((path, origin)) => match std::fs::read_to_string(inputs.cwd.join(path)) {
                Ok(text) => Some((inputs.cwd.join(path), text)),
                Err(e) => {
                    problems.push(Problem::new(
                        origin.clone(),
                        None,
                        format!("config file {} cannot be read: {e}", path.display()),
                        Some("pass an existing tk8s.toml, or drop the setting to use defaults".into()),
                    ));
                    None
                }
            },
            None => None,
        };
        let mut file_layer = Layered::new();
        if let Some((path, text)) = &file_text {
            source::file_layer(path, text, &mut file_layer, &mut problems);
        }
        let mut env_layer = Layered::new();
        source::env_layer(inputs.env, &mut env_layer, &mut problems);
        let mut flag_layer = Layered::new();
        for (setting, value) in &args.settings {
            flag_layer.insert(setting.key, Entry { raw: Raw::Text(value.clone()), origin: Origin::Flag(setting.flag.into()) });
        }
        for layer in [&file_layer, &env_layer, &flag_layer] {
            for key in ["temporal.config_file", "temporal.profile"] {
                if let Some(e) = layer.get(key) {
                    locate.insert(key, e.clone());
                }
            }
        }
        let profile = locate.get("temporal.profile").and_then(|e| match &e.raw {
            Raw::Text(t) => Some((t.clone(), e.origin.clone())),
            _ => None,
        });
        let profile = profile.as_ref().map(|(name, origin)| (name.as_str(), origin));
        match locate.get("temporal.config_file").map(|e| &e.raw) {
            // An explicit file that cannot be read is reported by the setting's own check.
            Some(Raw::Text(p)) => source::temporal_profile_layer(&inputs.cwd.join(p), true, profile, &mut layered, &mut problems),
            _ => match default_temporal_toml(inputs.env) {
                Some(path) => source::temporal_profile_layer(&path, false, profile, &mut layered, &mut problems),
                None => {
                    if let Some((name, origin)) = profile {
                        problems.push(Problem::new(
                            origin.clone(),
                            Some("temporal.profile"),
                            format!("= {name:?} was asked for, but there is no temporal.toml to read it from: neither {} nor {} is set", spec::env::XDG_CONFIG_HOME, spec::env::HOME),
                            Some(format!("set {} to the file that holds the profile", spec::TEMPORAL_CONFIG_FILE.env)),
                        ));
                    }
                }
            },
        }
        layered.extend(file_layer);
        layered.extend(env_layer);
        layered.extend(flag_layer);

        let base_dir = file_text
            .as_ref()
            .and_then(|(p, _)| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| inputs.cwd.to_path_buf());
        let mut resolved = Vec::with_capacity(SETTINGS.len());
        for setting in SETTINGS {
            let entry = layered.get(setting.key).cloned().or_else(|| {
                setting.default.map(|d| Entry { raw: Raw::Text(d.into()), origin: Origin::Default })
            });
            let checked = entry.and_then(|entry| {
                // Paths from the command line or env are relative to the working directory.
                let base = match entry.origin {
                    Origin::File { .. } => base_dir.as_path(),
                    _ => inputs.cwd,
                };
                match value::check(setting, &entry.raw, base) {
                    Ok(v) => Some((v, entry.origin)),
                    Err(r) => {
                        problems.push(Problem::new(
                            entry.origin,
                            Some(setting.key),
                            format!("= {} is not valid: expected {}", entry.raw.display(setting.secret), r.expected),
                            r.hint.or_else(|| Some(format!("set it with {} or --{}: {}", setting.env, setting.flag, setting.doc))),
                        ));
                        None
                    }
                }
            });
            resolved.push((setting, checked));
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        let r = Resolved(&resolved);
        let config = build(&r, inputs, &mut problems);
        match config {
            Some(mut c) if problems.is_empty() => {
                c.resolved = resolved;
                Ok(c)
            }
            _ => Err(ConfigError::Invalid(problems)),
        }
    }

    /// Where a setting's value came from (`None` when it is unset).
    pub fn origin(&self, setting: &Setting) -> Option<&Origin> {
        self.resolved.iter().find(|(s, _)| s.key == setting.key).and_then(|(_, v)| v.as_ref()).map(|(_, o)| o)
    }

    /// Whether the codec server may start as configured. Anyone who reaches a codec server
    /// without authentication can decrypt every payload (and forge encrypted ones through
    /// `/encode`), so that is allowed on loopback, or elsewhere only when
    /// `codec_server.allow_unauthenticated` says so.
    pub fn codec_server_access(&self) -> Result<CodecServerAccess, ConfigError> {
        let s = &self.codec_server;
        if s.authenticated() {
            return Ok(CodecServerAccess::Authenticated);
        }
        if s.addr.ip().is_loopback() {
            return Ok(CodecServerAccess::LoopbackOnly);
        }
        if s.allow_unauthenticated {
            return Ok(CodecServerAccess::UnauthenticatedByChoice);
        }
        let origin = self.origin(&spec::CODEC_SERVER_BIND).cloned().unwrap_or(Origin::Default);
        Err(ConfigError::Invalid(vec![Problem::new(
            origin,
            Some(spec::CODEC_SERVER_BIND.key),
            format!(
                "= {} lets other hosts reach the codec server, but no authentication is configured: anyone who can connect could decrypt every payload",
                s.addr.ip()
            ),
            Some(format!(
                "set {} (static tokens) or {} with {} (JWTs from your identity provider); or bind to 127.0.0.1 with {} for local use; or, behind a proxy that authenticates every request, set {}=true",
                spec::CODEC_SERVER_TOKENS_FILE.env,
                spec::CODEC_SERVER_JWKS_URL.env,
                spec::CODEC_SERVER_JWT_AUDIENCE.env,
                spec::CODEC_SERVER_BIND.env,
                spec::CODEC_SERVER_ALLOW_UNAUTHENTICATED.env,
            )),
        )]))
    }

    /// One line per setting: key, value (secrets redacted), origin.
    pub fn show(&self) -> String {
        let width = SETTINGS.iter().map(|s| s.key.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (setting, value) in &self.resolved {
            let (text, origin) = match value {
                Some((_, origin)) if setting.secret => ("<redacted>".to_string(), origin.to_string()),
                Some((v, origin)) => (v.render(), origin.to_string()),
                None => ("(unset)".to_string(), String::new()),
            };
            out.push_str(&format!("{:width$}  {text}", setting.key));
            if !origin.is_empty() {
                out.push_str(&format!("  [{origin}]"));
            }
            out.push('\n');
        }
        for name in self.temporal.grpc_meta.keys() {
            out.push_str(&format!("{:width$}  <redacted>  [env {}*]\n", format!("grpc_meta.{name}"), spec::env::GRPC_META_PREFIX));
        }
        out
    }
}

fn app_entry(text: &str) -> Entry {
    Entry { raw: Raw::Text(text.into()), origin: Origin::App }
}

fn default_temporal_toml(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    let base = env
        .get(spec::env::XDG_CONFIG_HOME)
        .map(PathBuf::from)
        .or_else(|| env.get(spec::env::HOME).map(|h| Path::new(h).join(".config")))?;
    Some(base.join("temporalio").join("temporal.toml"))
}

struct Resolved<'a>(&'a [(&'static Setting, Option<(Value, Origin)>)]);

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
fn conflict(r: &Resolved<'_>, problems: &mut Vec<Problem>, key: &'static str, other: &str, hint: &str) {
    problems.push(Problem::new(
        r.origin(key),
        Some(key),
        format!("is set together with {other} (from {})", r.origin(other)),
        Some(hint.into()),
    ));
}

/// Build typed sections and apply the rules that involve more than one setting.
fn build(r: &Resolved<'_>, inputs: &Inputs<'_>, problems: &mut Vec<Problem>) -> Option<Config> {
    let api_key = match (r.text("temporal.api_key"), r.path("temporal.api_key_file")) {
        (Some(_), Some(_)) => {
            conflict(r, problems, "temporal.api_key_file", "temporal.api_key", "keep one: the file form is rotated by Kubernetes without a restart");
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
    };
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
    let server_name = r.text("temporal.tls_server_name");
    let wants_tls = api_key.is_some() || client_cert.is_some() || ca.is_some() || server_name.is_some();
    let tls_on = match r.bool("temporal.tls") {
        Some(false) if wants_tls => {
            let why = if api_key.is_some() { "an API key is configured" } else { "TLS files or a server name are configured" };
            problems.push(Problem::new(
                r.origin("temporal.tls"),
                Some("temporal.tls"),
                format!("= false, but {why}"),
                Some(if api_key.is_some() {
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
    let tls = tls_on.then_some(Tls { server_ca: ca, server_name, client_cert });
    let jwt = codec_server_jwt(r, problems);
    let otlp_endpoint = r.text("log.otlp_endpoint");
    if let Some(e) = &otlp_endpoint
        && !(e.starts_with("http://") || e.starts_with("https://"))
    {
        problems.push(Problem::new(r.origin("log.otlp_endpoint"), Some("log.otlp_endpoint"), format!("= {e:?} is not an http:// or https:// URL"),
            Some("give the collector's OTLP/gRPC address, e.g. http://otel-collector.monitoring:4317".into())));
    }

    let address = r.text("temporal.address").unwrap_or_default();
    if !valid_host_port(&address) {
        problems.push(Problem::new(
            r.origin("temporal.address"),
            Some("temporal.address"),
            format!("= {address:?} is not valid: expected host:port"),
            Some("for example temporal-frontend.temporal.svc:7233 or 127.0.0.1:7233".into()),
        ));
    }
    let task_queue = r.text("worker.task_queue").unwrap_or_default();
    if task_queue.chars().any(char::is_whitespace) || task_queue.len() > 1000 {
        problems.push(Problem::new(
            r.origin("worker.task_queue"),
            Some("worker.task_queue"),
            format!("= {task_queue:?} is not valid: expected a name without whitespace, at most 1000 bytes"),
            None,
        ));
    }
    let grace = r.duration("shutdown.grace").unwrap_or_default();
    let hard_deadline = r.duration("shutdown.hard_deadline").unwrap_or_default();
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
    let id_prefix = r.text("orchestrator.id_prefix").unwrap_or_else(|| inputs.app.name.clone());
    let mode = match r.text("orchestrator.mode").as_deref() {
        Some("interval") => Mode::Interval { every: r.duration("orchestrator.interval").unwrap_or_default() },
        Some("rate") => Mode::Rate { per_second: r.float("orchestrator.rate").unwrap_or(1.0) },
        Some("schedule") => Mode::Schedule { every: r.duration("orchestrator.schedule_every").unwrap_or_default() },
        _ => Mode::Once { count: u64::try_from(r.int("orchestrator.count")).unwrap_or(1) },
    };
    let level = r.text("log.level").unwrap_or_else(|| "info".into());
    let format = match r.text("log.format").as_deref() {
        Some("json") => LogFormat::Json,
        Some("text") => LogFormat::Text,
        _ => LogFormat::Auto,
    };
    let port = u16::try_from(r.int("admin.port")).unwrap_or(0);
    let codec_keys = match (r.path("codec.keys_dir"), r.text("codec.keys")) {
        (Some(_), Some(_)) => {
            conflict(r, problems, "codec.keys_dir", "codec.keys", "use the key directory in Kubernetes (it rotates); inline keys are for local runs");
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
    if !problems.is_empty() {
        return None;
    }
    Some(Config {
        app_name: inputs.app.name.clone(),
        temporal: Temporal {
            address,
            namespace: r.text("temporal.namespace").unwrap_or_default(),
            api_key,
            tls,
            grpc_meta: source::grpc_meta(inputs.env).into_iter().map(|(k, v)| (k, Secret(v))).collect(),
            connect_timeout: r.duration("temporal.connect_timeout").unwrap_or(Duration::from_secs(10)),
            cert_expiry_warning: r.duration("temporal.tls_cert_expiry_warning").unwrap_or(Duration::from_secs(7 * 86_400)),
        },
        worker: Worker {
            task_queue,
            max_concurrent_workflow_tasks: max_wft,
            max_concurrent_activities: usize_of("worker.max_concurrent_activities"),
            max_concurrent_local_activities: usize_of("worker.max_concurrent_local_activities"),
            workflow_pollers: usize_of("worker.workflow_pollers"),
            activity_pollers: usize_of("worker.activity_pollers"),
            max_cached_workflows,
            max_activities_per_second: r.float("worker.max_activities_per_second"),
            versioning,
        },
        shutdown: Shutdown { grace, hard_deadline },
        admin: SocketAddr::new(r.ip("admin.bind"), port),
        readiness_check_interval: r.duration("readiness.check_interval").unwrap_or(Duration::from_secs(2)),
        log: Log { format, level, otlp_endpoint, service_name: r.text("log.service_name") },
        orchestrator: Orchestrator {
            mode,
            run_for: r.duration("orchestrator.run_for"),
            schedule_id: r.text("orchestrator.schedule_id").unwrap_or_else(|| format!("{id_prefix}-schedule")),
            id_prefix,
            input: r.text("orchestrator.input").unwrap_or_default(),
            wait: r.bool("orchestrator.wait").unwrap_or(true),
            backlog_interval: r.duration("orchestrator.backlog_interval").unwrap_or(Duration::from_secs(15)),
        },
        codec: codec_keys.map(|keys| Codec {
            keys,
            active_key: r.text("codec.active_key"),
            compress_above: (compress_above > 0).then_some(compress_above),
        }),
        codec_server: CodecServer {
            addr: SocketAddr::new(r.ip("codec_server.bind"), u16::try_from(r.int("codec_server.port")).unwrap_or(0)),
            allowed_origins: r.list("codec_server.allowed_origins"),
            tokens_file: r.path("codec_server.tokens_file"),
            jwt,
            max_body_bytes: usize_of("codec_server.max_body_bytes"),
            allow_unauthenticated: r.bool("codec_server.allow_unauthenticated").unwrap_or(false),
        },
        resolved: Vec::new(),
    })
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
                    problems.push(Problem::new(r.origin(key), Some(key), "has no effect without a JWKS".into(),
                        Some("set codec_server.jwks_url (or jwks_file), or remove it".into())));
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
    !host.is_empty()
        && !host.contains("://")
        && !host.contains(char::is_whitespace)
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// The configuration reference as a Markdown table, generated from [`SETTINGS`]. The README
/// embeds it; a test fails when the README's copy is stale.
pub fn reference_markdown() -> String {
    let mut out = String::from("| key (`tk8s.toml`) | env | flag | default | description |\n|---|---|---|---|---|\n");
    for s in SETTINGS {
        let default = match (s.default, s.kind) {
            (Some(d), _) => format!("`{d}`"),
            (None, _) => "".into(),
        };
        let secret = if s.secret { " **Secret.**" } else { "" };
        let kind = match s.kind {
            Kind::Choice(c) => format!(" One of: {}.", c.join(", ")),
            _ => String::new(),
        };
        out.push_str(&format!("| `{}` | `{}` | `--{}` | {default} | {}{kind}{secret} |\n", s.key, s.env, s.flag, s.doc));
    }
    out
}

#[cfg(test)]
mod readme_tests {
    /// The README's configuration reference is generated from [`crate::spec::SETTINGS`]. Run
    /// with `TK8S_BLESS=1` to rewrite it after changing a setting.
    #[test]
    fn readme_reference_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
        let readme = std::fs::read_to_string(&path).expect("README.md");
        let (start, end) = ("<!-- config-reference:start -->\n", "<!-- config-reference:end -->");
        let (Some(a), Some(b)) = (readme.find(start), readme.find(end)) else {
            panic!("README.md lacks the config-reference markers");
        };
        let current = &readme[a + start.len()..b];
        let wanted = super::reference_markdown();
        if current != wanted {
            if std::env::var_os("TK8S_BLESS").is_some() {
                let updated = format!("{}{wanted}{}", &readme[..a + start.len()], &readme[b..]);
                std::fs::write(&path, updated).expect("write README.md");
            } else {
                panic!("README.md configuration reference is stale; run `TK8S_BLESS=1 cargo test -p tk8s-config readme`");
            }
        }
    }
}
