//! Layered, validated configuration for temporal-k8s hosts.
//!
//! Precedence, lowest first: built-in defaults < app defaults < temporal.toml profile <
//! `tk8s.toml` < environment < command-line flags. Everything is checked before the process
//! binds a port or dials Temporal; every problem names its source (`file:line`, `env NAME`,
//! `flag --name`), what was expected, and a hint. This crate does no network I/O and reads the
//! process environment only through the map it is given, so tests never mutate the real one.

mod build;
pub mod cli;
pub mod contract;
mod error;
pub mod exit;
mod resolved;
pub mod role;
mod source;
pub mod spec;
mod value;
pub mod watched;

pub use error::{ConfigError, Problem};
pub use role::{Role, Roles};
pub use source::{Flags, Origin};
pub use spec::env::CONFIG as CONFIG_ENV;
pub use value::{Value, format_duration, parse_duration};

use source::{Entry, Layered};
use spec::{Kind, SETTINGS, Setting};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
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

/// What a hosted app's binary says about itself (`<app> config defaults --output json`): the
/// defaults only its code knows, and the settings table it was built with. `tk8s render` reads
/// it from the deploy config's `app.binary`, so a deploy config cannot silently disagree with
/// the code it deploys.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AppReport {
    /// The app's name: its binary's name and the image's `/usr/local/bin/<name>`.
    pub name: String,
    /// The toolkit version the binary was built with.
    pub toolkit_version: String,
    pub task_queue: String,
    pub workflow_input: String,
    /// Every setting's built-in default, by environment variable.
    pub settings: BTreeMap<String, String>,
}

impl AppReport {
    pub fn new(app: &AppDefaults) -> AppReport {
        AppReport {
            name: app.name.clone(),
            toolkit_version: env!("CARGO_PKG_VERSION").into(),
            task_queue: app.task_queue.clone(),
            workflow_input: app.workflow_input.clone(),
            settings: SETTINGS.iter().filter_map(|s| Some((s.env.to_string(), s.default?.to_string()))).collect(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<AppReport, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// The same as `key = value` lines, for people.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "name = {}\ntoolkit_version = {}\ntask_queue = {}\nworkflow_input = {}\n",
            self.name, self.toolkit_version, self.task_queue, self.workflow_input
        );
        for (k, v) in &self.settings {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out
    }
}

/// Everything needed to load: the environment as a map, the settings flags clap parsed, the
/// app's defaults, and the directory relative paths are resolved against.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub env: &'a BTreeMap<String, String>,
    pub flags: &'a Flags,
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
    /// gzip gRPC requests (`temporal.grpc_compression`).
    pub grpc_gzip: bool,
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
    /// How activity slots are handed out (`worker.tuner`).
    pub tuner: Tuner,
    /// Scale pollers by the server's feedback, up to the maximums.
    pub poller_autoscaling: bool,
    /// How often the worker heartbeats to Temporal (slot usage for the scaler).
    pub heartbeat_interval: Duration,
    /// Worker Versioning: `None` runs an unversioned worker.
    pub versioning: Option<Versioning>,
}

/// `worker.tuner`: fixed activity slots, or the SDK's resource-based tuner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tuner {
    Fixed,
    Resource { target_memory: f64, target_cpu: f64 },
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

/// The `scaler` role: where it serves KEDA, and the rule's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaler {
    pub addr: SocketAddr,
    pub interval: Duration,
    pub target_utilization: f64,
    pub drain_within: Duration,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub scale_down_window: Duration,
    pub surge_hold: Duration,
    pub zero_after: Duration,
    pub slots_per_replica: u64,
    /// `host:port` of the workers' admin servers (each name may resolve to many pods).
    pub worker_metrics: Vec<String>,
}

impl Scaler {
    /// The scaler as the settings table's defaults describe it (what the simulator and the
    /// benchmark compare against), read through the same getters the loader uses.
    pub fn defaults() -> Scaler {
        build::scaler(&resolved::Resolved::new(&[], true), &mut Vec::new())
    }
}

/// `<app> replay`: which histories the namespace gives the replay, and how many at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub closed_within: Duration,
    pub max_per_type: usize,
    pub max_total: usize,
    pub query: Option<String>,
    pub concurrency: usize,
    pub batch: usize,
}

/// `tk8s companion`: how it decides whether this pod's worker is polling.
#[derive(Debug, Clone, PartialEq)]
pub struct Companion {
    pub check_interval: Duration,
    pub poller_freshness: Duration,
    /// Identity patterns (`*` any text, `{pod}` the pod's name).
    pub identity: Vec<String>,
    /// `host:port` of the worker's own Prometheus endpoint, relayed on /metrics.
    pub worker_metrics: Option<String>,
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
    pub scaler: Scaler,
    pub companion: Companion,
    pub replay: Replay,
    /// Every setting's value and origin, for `config show`.
    resolved: Vec<(&'static Setting, Option<(Value, Origin)>)>,
}

impl Config {
    /// Load and validate configuration from all layers.
    pub fn load(inputs: &Inputs<'_>) -> Result<Config, ConfigError> {
        Config::load_as(inputs, true)
    }

    /// Check the environment a container of a pod will get, as the binary in it will when it
    /// starts (every value and every cross-field rule), without the files it names: those are
    /// mounted in the pod, not here. What `tk8s render` runs on each role's env.
    pub fn check_pod_env(env: &BTreeMap<String, String>, app: &AppDefaults) -> Result<(), ConfigError> {
        let inputs = Inputs { env, flags: &Flags::default(), app, cwd: Path::new("/") };
        Config::load_as(&inputs, false).map(|_| ())
    }

    fn load_as(inputs: &Inputs<'_>, files_here: bool) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let mut layered = Layered::new();

        layered.insert(spec::WORKER_TASK_QUEUE.key, app_entry(&inputs.app.task_queue));
        layered.insert(spec::ORCHESTRATOR_INPUT.key, app_entry(&inputs.app.workflow_input));

        // temporal.toml: its location and profile may themselves come from any layer above it.
        let mut locate = Layered::new();
        let config_file = inputs
            .flags
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
        for (setting, value) in &inputs.flags.settings {
            flag_layer.insert(setting.key, Entry { raw: Raw::Text(value.clone()), origin: Origin::Flag(setting.flag.into()) });
        }
        for layer in [&file_layer, &env_layer, &flag_layer] {
            for key in [spec::TEMPORAL_CONFIG_FILE.key, spec::TEMPORAL_PROFILE.key] {
                if let Some(e) = layer.get(key) {
                    locate.insert(key, e.clone());
                }
            }
        }
        let profile = locate.get(spec::TEMPORAL_PROFILE.key).and_then(|e| match &e.raw {
            Raw::Text(t) => Some((t.clone(), e.origin.clone())),
            _ => None,
        });
        let profile = profile.as_ref().map(|(name, origin)| (name.as_str(), origin));
        match locate.get(spec::TEMPORAL_CONFIG_FILE.key).map(|e| &e.raw) {
            // An explicit file that cannot be read is reported by the setting's own check.
            Some(Raw::Text(p)) => source::temporal_profile_layer(&inputs.cwd.join(p), true, profile, &mut layered, &mut problems),
            _ => match default_temporal_toml(inputs.env) {
                Some(path) => source::temporal_profile_layer(&path, false, profile, &mut layered, &mut problems),
                None => {
                    if let Some((name, origin)) = profile {
                        problems.push(Problem::new(
                            origin.clone(),
                            Some(spec::TEMPORAL_PROFILE.key),
                            format!(
                                "= {name:?} was asked for, but there is no temporal.toml to read it from: neither {} nor {} is set",
                                spec::env::XDG_CONFIG_HOME,
                                spec::env::HOME
                            ),
                            Some(format!("set {} to the file that holds the profile", spec::TEMPORAL_CONFIG_FILE.env)),
                        ));
                    }
                }
            },
        }
        layered.extend(file_layer);
        layered.extend(env_layer);
        layered.extend(flag_layer);

        let base_dir = file_text.as_ref().and_then(|(p, _)| p.parent().map(Path::to_path_buf)).unwrap_or_else(|| inputs.cwd.to_path_buf());
        let mut resolved = Vec::with_capacity(SETTINGS.len());
        for setting in SETTINGS {
            let entry = layered
                .get(setting.key)
                .cloned()
                .or_else(|| setting.default.map(|d| Entry { raw: Raw::Text(d.into()), origin: Origin::Default }));
            let checked = entry.and_then(|entry| {
                // Paths from the command line or env are relative to the working directory.
                let base = match entry.origin {
                    Origin::File { .. } => base_dir.as_path(),
                    _ => inputs.cwd,
                };
                let checked = match (&entry.raw, setting.kind) {
                    // A path in a pod: only its form can be checked here.
                    (Raw::Text(t), Kind::File | Kind::Dir) if !files_here && Path::new(t).is_absolute() => Ok(Value::Path(t.into())),
                    _ => value::check(setting, &entry.raw, base),
                };
                match checked {
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
        let r = resolved::Resolved::new(&resolved, files_here);
        let config = build::build(&r, inputs, &mut problems);
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

/// The configuration reference as a Markdown table, generated from [`SETTINGS`]. The README
/// embeds it; a test fails when the README's copy is stale.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    let mut section = None;
    for s in SETTINGS {
        if section != Some(s.section) {
            section = Some(s.section);
            out.push_str(&format!(
                "{}**{}** (`[{}]` in `tk8s.toml`)\n\n| key | env | flag | default | read by | description |\n|---|---|---|---|---|---|\n",
                if out.is_empty() { "" } else { "\n" },
                s.section.heading(),
                s.section.name()
            ));
        }
        let default = s.default.map(|d| format!("`{d}`")).unwrap_or_default();
        let secret = if s.secret { " **Secret.**" } else { "" };
        let choices = match s.kind {
            Kind::Choice(c) => format!(" One of: {}.", c.join(", ")),
            _ => String::new(),
        };
        let roles: Vec<&str> = s.roles.iter().map(role::Role::name).collect();
        out.push_str(&format!(
            "| `{}` | `{}` | `--{}` | {default} | {} | {}{choices}{secret} |\n",
            s.key,
            s.env,
            s.flag,
            roles.join(", "),
            s.doc
        ));
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
