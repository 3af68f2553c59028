//! The deploy config (`tk8s-deploy.toml`): what `tk8s render` turns into manifests. Parsed, not
//! validated: serde enums, durations parsed once ([`Span`]); unknown keys are errors. What serde
//! cannot see (a field that needs another, bounds that depend on a mode) is checked after parsing
//! and reported as [`Problem`]s that name `file:line`, the key and a hint, printed like the
//! runtime configuration's errors. Environments override a few fields each and become kustomize
//! overlays.

use crate::RenderError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;
use tk8s_config::spec as S;
use tk8s_config::{ConfigError, Origin, Problem};

/// A duration as the deploy config writes it (`"20s"`, `"5m"`, `"1h30m"`): checked when the file
/// is parsed, kept with its text so rendered env vars say what the user wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    text: String,
    value: Duration,
}

impl Span {
    /// A span from text the code itself supplies (a table default); `None` if it does not parse.
    pub fn parse(text: &str) -> Option<Span> {
        tk8s_config::parse_duration(text).map(|value| Span { text: text.to_string(), value })
    }

    pub fn duration(&self) -> Duration {
        self.value
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whole seconds, the form Kubernetes' Go types parse (`"300s"`).
    pub fn go(&self) -> String {
        format!("{}s", self.value.as_secs())
    }

    /// Whole seconds, as a span the code supplies.
    pub(crate) fn seconds(secs: u64) -> Span {
        Span { text: format!("{secs}s"), value: Duration::from_secs(secs) }
    }

    /// The table default of a duration setting.
    fn default_of(setting: &S::Setting) -> Span {
        setting.default.and_then(Span::parse).unwrap_or(Span { text: "0s".into(), value: Duration::ZERO })
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl JsonSchema for Span {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(ms|s|m|h|d))+$|^0$",
            "description": "A duration: a number and a unit (ms, s, m, h, d), e.g. \"20s\", \"5m\", \"1h30m\"."
        })
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let text = String::deserialize(d)?;
        Span::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("{text:?} is not a duration: write a number with a unit, such as \"20s\", \"5m\" or \"1h\""))
        })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// The app: its name, image and namespace.
    pub app: App,
    /// How the pods reach Temporal.
    pub temporal: Temporal,
    #[serde(default)]
    /// Payload encryption with the codec key ring (keys from a Secret or an external store).
    pub encryption: Option<Encryption>,
    /// The worker role: polls the task queue, runs workflows and activities.
    pub worker: RoleConfig,
    #[serde(default)]
    /// The orchestrator role (optional): starts workflows.
    pub orchestrator: Option<Orchestrator>,
    #[serde(default)]
    /// Metrics, alerts, dashboards and traces.
    pub monitoring: Monitoring,
    /// Deploy `tk8s codec-server` next to the app, for the Temporal UI and CLI.
    #[serde(default)]
    pub codec_server: Option<CodecServer>,
    #[serde(default)]
    /// Named environments (kustomize overlays, Helm values files), each overriding a few keys.
    pub environments: BTreeMap<String, Environment>,
    /// Policy checks (checkov ids) deliberately not met, each with the reason why.
    #[serde(default)]
    pub skip_checks: Vec<SkipCheck>,
    /// What the app's binary says its code defines (from `app.binary`), once read.
    #[serde(skip)]
    pub code: Option<tk8s_config::AppReport>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SkipCheck {
    /// The checkov check id, e.g. `CKV_K8S_43`.
    pub id: String,
    /// Why the check is not met (a sentence at least).
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// App name: object names and the `app.kubernetes.io/name` label.
    pub name: String,
    /// Image repository, e.g. `registry.example.com/greeting`.
    pub image: String,
    /// Image tag of this release.
    pub tag: String,
    /// Kubernetes namespace the app runs in.
    pub namespace: String,
    /// Task queue (defaults to the app name).
    #[serde(default)]
    pub task_queue: Option<String>,
    /// Secrets of type `kubernetes.io/dockerconfigjson` every pod pulls its images with (the
    /// credentials themselves are never rendered).
    #[serde(default)]
    pub image_pull_secrets: Vec<String>,
    /// The registry needs credentials: `tk8s lint` then flags pods without a pull secret.
    #[serde(default)]
    pub private_registry: bool,
    /// The app's built binary (relative to this file). `tk8s render` and `tk8s deploy` ask it for
    /// the defaults its code defines (`<app> config defaults --output json`) and refuse a deploy
    /// config that disagrees with them; `tk8s image build` puts it in the image.
    #[serde(default)]
    pub binary: Option<std::path::PathBuf>,
    /// How long a rollout may make no progress before Kubernetes marks it failed
    /// (`progressDeadlineSeconds`, ProgressDeadlineExceeded); `tk8s deploy` then stops waiting
    /// and says why. Shorter than `tk8s deploy --wait`'s default, so that a stuck rollout is
    /// reported as stuck rather than as slow.
    #[serde(default = "default_progress_deadline")]
    pub progress_deadline: Span,
}

fn default_progress_deadline() -> Span {
    Span::seconds(240)
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Auth {
    None,
    /// Client certificate from a `kubernetes.io/tls` Secret (`tls.crt`, `tls.key`, `ca.crt`).
    Mtls,
    /// API key from a Secret (key `api-key`); implies TLS.
    ApiKey,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Temporal {
    /// `host:port` of the Temporal frontend.
    pub address: String,
    /// Temporal namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// `none`, `mtls` (needs `tls_secret`) or `api-key` (needs `api_key_secret`).
    pub auth: Auth,
    /// Secret holding the client certificate (auth = "mtls").
    #[serde(default)]
    pub tls_secret: Option<String>,
    /// Secret holding the API key under `api-key` (auth = "api-key").
    #[serde(default)]
    pub api_key_secret: Option<String>,
    #[serde(default)]
    /// Name to verify in the server certificate, when it differs from the address host.
    pub server_name: Option<String>,
}

fn default_namespace() -> String {
    "default".into()
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// Secret with one `<id>.key` entry per key and an `active` entry.
    pub key_secret: String,
    /// Mount the keys through the Secrets Store CSI driver instead (Azure Key Vault, AWS, GCP,
    /// Vault): renders a SecretProviderClass named after `key_secret`.
    #[serde(default)]
    pub secret_provider: Option<SecretProvider>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecretProvider {
    pub provider: Provider,
    /// Provider parameters, passed through (e.g. keyvaultName, tenantId, objects).
    pub parameters: BTreeMap<String, String>,
}

/// The Secrets Store CSI driver's providers.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Azure,
    Aws,
    Gcp,
    Vault,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Azure => "azure",
            Provider::Aws => "aws",
            Provider::Gcp => "gcp",
            Provider::Vault => "vault",
        }
    }
}

/// A VerticalPodAutoscaler's update mode.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum VpaMode {
    /// Recommendations only.
    Off,
    /// Requests set when a pod is created.
    Initial,
    /// Requests kept up to date (pods are evicted to apply them).
    Auto,
}

impl VpaMode {
    pub fn name(self) -> &'static str {
        match self {
            VpaMode::Off => "Off",
            VpaMode::Initial => "Initial",
            VpaMode::Auto => "Auto",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU request, e.g. `"250m"`.
    pub cpu_request: String,
    /// Memory request, e.g. `"128Mi"`.
    pub memory_request: String,
    #[serde(default)]
    /// CPU limit (none by default: CPU throttling slows heartbeats).
    pub cpu_limit: Option<String>,
    /// Memory limit, e.g. `"256Mi"`.
    pub memory_limit: String,
}

/// Which autoscaler scales the worker (not to be confused with the `scaler` role, which computes
/// the signal it can follow).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Autoscaler {
    #[default]
    None,
    /// HorizontalPodAutoscaler on an External metric from prometheus-adapter: the scaler's
    /// `tk8s_desired_worker_replicas` (signal `tk8s`), or CPU and the orchestrator's
    /// `tk8s_task_queue_backlog` (signal `backlog`).
    Hpa,
    /// KEDA ScaledObject: an `external` trigger served by the scaler (signal `tk8s`), or KEDA's
    /// own backlog-only `temporal` trigger (signal `backlog`).
    Keda,
}

/// What the worker's autoscaler scales on.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Signal {
    /// The `scaler` role's desired replicas: slots in use at a target utilisation, the backlog
    /// drained within a target time, a scale-down window, zero only when nothing waits, runs or
    /// is open. Renders the scaler Deployment and its Services.
    Tk8s,
    /// The task queue backlog alone (KEDA's `temporal` trigger, or an HPA on CPU and backlog):
    /// blind to work in flight. Kept for comparison, and per build under the controller.
    Backlog,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Autoscaling {
    #[serde(default)]
    pub mode: Autoscaler,
    /// Fewest replicas (0 only with mode `keda`).
    pub min_replicas: i32,
    /// Most replicas.
    pub max_replicas: i32,
    /// Target CPU utilisation in percent (HPA with signal `backlog`).
    #[serde(default = "default_cpu")]
    pub cpu_utilization: i32,
    /// Desired backlog per worker pod (signal `backlog`).
    #[serde(default = "default_backlog")]
    pub backlog_per_pod: i32,
    /// `tk8s` (default for hosted workers); `backlog` under the temporal-worker-controller (whose
    /// signals are per build) and for SDK workers (the scaler role runs from a hosted app's image).
    #[serde(default)]
    pub signal: Option<Signal>,
    /// A lower replica count waits this long (the scaler's window with signal `tk8s`, the
    /// autoscaler's scale-down stabilisation with `backlog`).
    #[serde(default = "default_scale_down_window")]
    pub scale_down_window: Span,
    /// The namespace KEDA runs in (its operator calls the scaler's gRPC port).
    #[serde(default = "default_keda_namespace")]
    pub keda_namespace: String,
    /// Extra `TK8S_SCALER_*` settings for the scaler (see the configuration reference).
    #[serde(default)]
    pub scaler_settings: BTreeMap<String, String>,
}

impl Autoscaling {
    /// The signal in force: the chosen one, else `backlog` where `tk8s` cannot run.
    pub fn signal(&self, backlog_by_default: bool) -> Signal {
        self.signal.unwrap_or(if backlog_by_default { Signal::Backlog } else { Signal::Tk8s })
    }
}

/// Which Temporal SDK a worker is written with.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Sdk {
    /// A binary built on tk8s-host (the default): its own probes, drain and settings.
    #[default]
    Tk8s,
    Python,
    Typescript,
    Go,
    Java,
    Dotnet,
}

impl Sdk {
    pub fn name(self) -> &'static str {
        match self {
            Sdk::Tk8s => "tk8s",
            Sdk::Python => "python",
            Sdk::Typescript => "typescript",
            Sdk::Go => "go",
            Sdk::Java => "java",
            Sdk::Dotnet => "dotnet",
        }
    }

    /// SDKs whose graceful shutdown defaults to 0: activities are cut off at SIGTERM unless the
    /// code sets it (Python `graceful_shutdown_timeout`, TypeScript `shutdownGraceTime`).
    pub fn drains_by_default(self) -> bool {
        !matches!(self, Sdk::Python | Sdk::Typescript)
    }
}

fn default_scale_down_window() -> Span {
    Span::default_of(&S::SCALER_SCALE_DOWN_WINDOW)
}
fn default_keda_namespace() -> String {
    "keda".into()
}

fn default_cpu() -> i32 {
    70
}
fn default_backlog() -> i32 {
    20
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// Replicas (when not autoscaled).
    pub replicas: i32,
    /// Requests and limits of the role's container.
    pub resources: Resources,
    /// Drain time after SIGTERM (the host's `shutdown.grace`).
    #[serde(default = "default_grace")]
    pub shutdown_grace: Span,
    #[serde(default)]
    pub autoscaling: Option<Autoscaling>,
    /// Pods that may be unavailable during voluntary disruptions (PodDisruptionBudget).
    #[serde(default = "default_one")]
    pub max_unavailable: i32,
    /// Extra pods a rolling update may start.
    #[serde(default = "default_one")]
    pub max_surge: i32,
    /// A VerticalPodAutoscaler: `Off` (recommendations only), `Initial` or `Auto`. With an
    /// HPA on CPU it controls memory only, so the two never fight over the same resource.
    #[serde(default)]
    pub vpa: Option<VpaMode>,
    /// Spread pods across zones and nodes.
    #[serde(default = "default_true")]
    pub spread: bool,
    /// Pod readiness gates: condition types an external controller must set (e.g. a load
    /// balancer controller's target-health condition) before the pod counts as ready.
    #[serde(default)]
    pub readiness_gates: Vec<String>,
    /// Extra `TK8S_*` settings for this role (see the configuration reference).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Worker only: hand the worker to the temporal-worker-controller (a `WorkerDeployment`
    /// and its `Connection` instead of a plain Deployment; one Deployment per build).
    #[serde(default)]
    pub controller: Option<WorkerController>,
    /// Worker only: the SDK it is written with. Anything but `tk8s` renders the worker's own
    /// image with `tk8s companion` beside it (a native sidecar) for probes and metrics, and the
    /// connection as Temporal's own environment variables.
    #[serde(default)]
    pub sdk: Sdk,
    /// An SDK worker's image, `repository:tag` (default: `app.image:app.tag`).
    #[serde(default)]
    pub image: Option<String>,
    /// An SDK worker's command (default: the image's entrypoint).
    #[serde(default)]
    pub command: Vec<String>,
    /// An SDK worker's arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// An SDK worker's own environment (its settings; the connection is rendered for it).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How long the SDK worker's code lets activities finish after SIGTERM (Python
    /// `graceful_shutdown_timeout`, TypeScript `shutdownGraceTime`, Go `WorkerStopTimeout`, Java
    /// `shutdown` + `awaitTermination`): the pod's termination grace follows it, and `tk8s lint`
    /// (TK015) flags a Python or TypeScript worker that does not declare it.
    #[serde(default)]
    pub graceful_shutdown: Option<Span>,
    /// The SDK worker's Prometheus port in the pod, relayed by the companion's /metrics.
    #[serde(default)]
    pub metrics_port: Option<u16>,
    /// Worker only: the replay gate, a Job that replays running and recent histories against
    /// the new image before the worker is rolled out (on by default for tk8s workers).
    #[serde(default)]
    pub replay_gate: Option<ReplayGate>,
}

/// The replay gate: `<app> replay` as a Job in front of every rollout of the worker. `tk8s
/// deploy` waits for it and applies nothing else when it fails; Helm runs it as a
/// pre-install/pre-upgrade hook.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReplayGate {
    /// Render the gate (default true; a worker without one can roll out code that cannot
    /// replay what is running: lint TK018).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How long the replay may take before the Job fails (and the rollout with it).
    #[serde(default = "default_gate_deadline")]
    pub deadline: Span,
    /// `TK8S_REPLAY_*` settings for the replay (caps, window, query; see the configuration reference).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

impl Default for ReplayGate {
    fn default() -> Self {
        ReplayGate { enabled: true, deadline: default_gate_deadline(), settings: BTreeMap::new() }
    }
}

fn default_gate_deadline() -> Span {
    Span::seconds(600)
}

/// How new workflow executions move to a new build (the controller's rollout strategies).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Rollout {
    /// All new executions go to the new build as soon as its pollers are healthy.
    #[default]
    AllAtOnce,
    /// Ramp through `steps`.
    Progressive,
    /// Start the new build's pods but leave routing to an operator.
    Manual,
}

impl Rollout {
    /// The name the controller's CRD uses.
    pub fn crd_name(self) -> &'static str {
        match self {
            Rollout::AllAtOnce => "AllAtOnce",
            Rollout::Progressive => "Progressive",
            Rollout::Manual => "Manual",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RampStep {
    /// Percent of new executions sent to the new build during this step (1-99).
    pub ramp_percentage: i32,
    /// How long to hold this step (at least 30s).
    pub pause: Span,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkerController {
    #[serde(default)]
    pub rollout: Rollout,
    /// Ramp steps, required for `rollout = "progressive"`.
    #[serde(default)]
    pub steps: Vec<RampStep>,
    /// A workflow type that must complete on the new build before it gets any traffic.
    #[serde(default)]
    pub gate_workflow: Option<String>,
    /// After a build is drained: scale its Deployment to zero after this long...
    #[serde(default = "default_scaledown")]
    pub scaledown_delay: Span,
    /// ...and delete it after this long.
    #[serde(default = "default_delete")]
    pub delete_delay: Span,
}

/// The temporal-worker-controller's own defaults (its CRD's), not settings of ours.
fn default_scaledown() -> Span {
    Span { text: "1h".into(), value: Duration::from_secs(3600) }
}
fn default_delete() -> Span {
    Span { text: "24h".into(), value: Duration::from_secs(86_400) }
}

fn default_grace() -> Span {
    Span::default_of(&S::SHUTDOWN_GRACE)
}
fn default_one() -> i32 {
    1
}
fn default_true() -> bool {
    true
}

/// `tk8s codec-server` as a Deployment, run from the `tk8s` image (deploy/docker/Dockerfile,
/// target `tk8s`, built with the app and tagged alike): decrypts payloads for the Web UI (from
/// users' browsers, through an ingress) and the CLI, so it always requires authentication.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CodecServer {
    /// Image repository of `tk8s`; default: the app's repository with its last path segment
    /// replaced by `tk8s` (`registry.example.com/greeting` -> `registry.example.com/tk8s`).
    #[serde(default)]
    pub image: Option<String>,
    /// Tag of the `tk8s` image; default: the version of the `tk8s` that renders (the codec
    /// server is part of the toolkit, not of the app).
    #[serde(default)]
    pub tag: Option<String>,
    /// Replicas of the codec server.
    #[serde(default = "default_codec_replicas")]
    pub replicas: i32,
    /// The Temporal UI's origin(s), exactly as browsers send them.
    pub allowed_origins: Vec<String>,
    /// Namespaces allowed to connect (the ingress controller's, which browsers come through).
    #[serde(default)]
    pub ingress_namespaces: Vec<String>,
    /// JWTs from your identity provider (what the UI forwards with `passAccessToken`).
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default)]
    /// The `aud` a JWT must carry (with `jwks_url`).
    pub jwt_audience: Option<String>,
    #[serde(default)]
    /// The `iss` a JWT must carry.
    pub jwt_issuer: Option<String>,
    /// A Secret with static bearer tokens (one per line) under the key `tokens`.
    #[serde(default)]
    pub tokens_secret: Option<String>,
    /// Requests and limits of the codec server.
    pub resources: Resources,
}

fn default_codec_replicas() -> i32 {
    2
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Orchestrator {
    #[serde(flatten)]
    pub role: RoleConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// Namespace of the Prometheus that scrapes the admin port (NetworkPolicy ingress).
    #[serde(default = "default_monitoring")]
    pub namespace: String,
    /// Render a ServiceMonitor and a PrometheusRule (needs the Prometheus Operator's CRDs).
    #[serde(default = "default_true")]
    pub prometheus_operator: bool,
    /// Render a Grafana dashboard ConfigMap (label `grafana_dashboard: "1"` for Grafana's sidecar).
    #[serde(default = "default_true")]
    pub grafana_dashboard: bool,
    /// OTLP/gRPC collector for traces (`http://host:port`): set for both roles, and allowed
    /// through the NetworkPolicy.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring { namespace: default_monitoring(), prometheus_operator: true, grafana_dashboard: true, otlp_endpoint: None }
    }
}

impl Monitoring {
    /// The collector's port, from a checked `otlp_endpoint`.
    pub fn otlp_port(&self) -> Option<i32> {
        let e = self.otlp_endpoint.as_ref()?;
        let rest = e.split_once("://")?.1.trim_end_matches('/');
        let default = if e.starts_with("https://") { 443 } else { 80 };
        Some(rest.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or(default))
    }
}

fn default_monitoring() -> String {
    "monitoring".into()
}

/// What an environment may override.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    #[serde(default)]
    /// Image tag in this environment.
    pub tag: Option<String>,
    #[serde(default)]
    /// Worker replicas in this environment.
    pub worker_replicas: Option<i32>,
    #[serde(default)]
    /// Autoscaling minimum in this environment.
    pub min_replicas: Option<i32>,
    #[serde(default)]
    /// Autoscaling maximum in this environment.
    pub max_replicas: Option<i32>,
    #[serde(default)]
    /// Log level of every role in this environment (`TK8S_LOG_LEVEL`).
    pub log_level: Option<String>,
    /// Replaces `app.image_pull_secrets` in this environment (e.g. another registry's credentials).
    #[serde(default)]
    pub image_pull_secrets: Option<Vec<String>>,
}

/// A name that can be an app's (object names, labels, the namespace): a DNS label short enough
/// for the suffixes objects get (`-orchestrator-metrics`).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 53
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Ask an app's binary what its code defines.
fn ask_binary(binary: &Path) -> Result<tk8s_config::AppReport, String> {
    if !binary.is_file() {
        return Err(format!("= {} does not exist", binary.display()));
    }
    let out = std::process::Command::new(binary)
        .args(["config", "defaults", "--output", "json"])
        .env_clear()
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("= {} cannot be run: {e}", binary.display()))?;
    if !out.status.success() {
        return Err(format!(
            "= {} is not a temporal-k8s app: `config defaults --output json` failed ({}): {}",
            binary.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    tk8s_config::AppReport::from_json(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| format!("= {}: its `config defaults` output is not what tk8s expects: {e}", binary.display()))
}

/// A problem found after parsing, about one key, before it is placed in the file.
#[derive(Debug)]
pub struct KeyProblem {
    key: String,
    message: String,
    hint: Option<String>,
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

fn finding(key: impl Into<String>, message: impl Into<String>, hint: Option<&str>) -> KeyProblem {
    KeyProblem { key: key.into(), message: message.into(), hint: hint.map(String::from) }
}

/// Where each key of a TOML document is: its dotted path (`worker.controller.steps[1].pause`)
/// and the byte ranges of the key and its value.
struct Places(Vec<(String, std::ops::Range<usize>, std::ops::Range<usize>)>);

impl Places {
    fn of(text: &str) -> Places {
        use toml::de::{DeTable, DeValue};
        fn walk(table: &DeTable<'_>, prefix: &str, out: &mut Vec<(String, std::ops::Range<usize>, std::ops::Range<usize>)>) {
            for (k, v) in table {
                let path = if prefix.is_empty() { k.get_ref().to_string() } else { format!("{prefix}.{}", k.get_ref()) };
                out.push((path.clone(), k.span(), v.span()));
                match v.get_ref() {
                    DeValue::Table(t) => walk(t, &path, out),
                    DeValue::Array(items) => {
                        for (i, item) in items.iter().enumerate() {
                            let at = format!("{path}[{i}]");
                            out.push((at.clone(), item.span(), item.span()));
                            if let DeValue::Table(t) = item.get_ref() {
                                walk(t, &at, out);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        if let Ok(doc) = DeTable::parse(text) {
            walk(doc.get_ref(), "", &mut out);
        }
        Places(out)
    }

    /// The key whose key or value holds `offset` most narrowly.
    fn key_at(&self, offset: usize) -> Option<&str> {
        self.0
            .iter()
            .filter(|(_, k, v)| k.contains(&offset) || v.contains(&offset))
            .min_by_key(|(_, k, v)| if v.contains(&offset) { v.len() } else { k.len() })
            .map(|(p, _, _)| p.as_str())
    }

    /// Where `key` (or the nearest enclosing key that the file spells) starts.
    fn start_of(&self, key: &str) -> Option<usize> {
        let mut key = key;
        loop {
            if let Some((_, k, _)) = self.0.iter().find(|(p, _, _)| p == key) {
                return Some(k.start);
            }
            key = &key[..key.rfind(['.', '['])?];
        }
    }
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The hint for a value serde refused: where every key is described.
const REFERENCE_HINT: &str = "see the commented deploy config `tk8s init` writes, or the deploy config reference in the README";

impl DeployConfig {
    /// Whether anything runs from the `tk8s` image (the codec server, an SDK worker's companion).
    pub fn uses_tk8s_image(&self) -> bool {
        self.codec_server.is_some() || self.worker.sdk != Sdk::Tk8s
    }

    /// The `tk8s` image the codec server runs from, `repository:tag`: tagged with the toolkit's
    /// version (the `tk8s` that rendered it), not the app's, unless `codec_server.tag` says.
    pub fn tk8s_image_ref(&self) -> String {
        let tag = self.codec_server.as_ref().and_then(|c| c.tag.clone()).unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
        format!("{}:{tag}", self.tk8s_image())
    }

    /// The `tk8s` image repository (the codec server's, the companion's).
    pub fn tk8s_image(&self) -> String {
        if let Some(image) = self.codec_server.as_ref().and_then(|c| c.image.clone()) {
            return image;
        }
        match self.app.image.rsplit_once('/') {
            Some((registry, _)) => format!("{registry}/tk8s"),
            None => "tk8s".into(),
        }
    }

    /// Parse and check a deploy config; `path` is only used in messages. Every problem names
    /// `path:line` and the key.
    pub fn parse(path: &Path, text: &str) -> Result<DeployConfig, RenderError> {
        let at = |line: usize| Origin::File { path: path.to_path_buf(), line };
        let config: DeployConfig = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let key = Places::of(text).key_at(offset).map(String::from);
            let message = e.message().trim().to_string();
            let problem = match key {
                Some(key) => {
                    Problem::at_key(at(line_at(text, offset)), key, format!("is not valid: {message}"), Some(REFERENCE_HINT.into()))
                }
                None => Problem::new(at(line_at(text, offset)), None, message, Some(REFERENCE_HINT.into())),
            };
            RenderError::Config(ConfigError::Invalid(vec![problem]))
        })?;
        let mut findings = config.check();
        if findings.is_empty() {
            findings = config.check_settings();
            for (name, env) in &config.environments {
                for mut f in config.for_environment(env).check_settings() {
                    f.message = format!("{} (in environment {name})", f.message);
                    if env.log_level.is_some() && f.key.ends_with(S::LOG_LEVEL.env) {
                        f.key = format!("environments.{name}.log_level");
                    }
                    findings.push(f);
                }
            }
        }
        if findings.is_empty() {
            return Ok(config);
        }
        Err(Self::placed(path, text, findings))
    }

    /// Findings placed in the file: `path:line`, the key, the message and the hint.
    fn placed(path: &Path, text: &str, findings: Vec<KeyProblem>) -> RenderError {
        let at = |line: usize| Origin::File { path: path.to_path_buf(), line };
        let places = Places::of(text);
        let problems = findings
            .into_iter()
            .map(|f| {
                let line = places.start_of(&f.key).map(|o| line_at(text, o)).unwrap_or(1);
                Problem::at_key(at(line), f.key, f.message, f.hint)
            })
            .collect();
        RenderError::Config(ConfigError::Invalid(problems))
    }

    /// Read and parse a deploy config; with `app.binary`, also ask the binary what its code
    /// defines and refuse a config that disagrees.
    pub fn load(path: &Path) -> Result<DeployConfig, RenderError> {
        let text = std::fs::read_to_string(path).map_err(|source| RenderError::Read { path: path.to_path_buf(), source })?;
        let mut config = DeployConfig::parse(path, &text)?;
        if let Some(binary) = config.app.binary.clone() {
            let binary = path.parent().unwrap_or(Path::new(".")).join(binary);
            let report = ask_binary(&binary).map_err(|message| {
                Self::placed(
                    path,
                    &text,
                    vec![KeyProblem {
                        key: "app.binary".into(),
                        message,
                        hint: Some("build it first (cargo build --release), or point app.binary at the built binary".into()),
                    }],
                )
            })?;
            let findings = config.agree_with(report);
            if !findings.is_empty() {
                return Err(Self::placed(path, &text, findings));
            }
        }
        Ok(config)
    }

    /// Take what the code defines, or say where the deploy config disagrees with it.
    pub fn agree_with(&mut self, code: tk8s_config::AppReport) -> Vec<KeyProblem> {
        let mut findings = Vec::new();
        if code.name != self.app.name {
            findings.push(finding(
                "app.name",
                format!("= {:?}, but the binary is the app {:?} (image path /usr/local/bin/{})", self.app.name, code.name, code.name),
                Some(&format!("set name = {:?}, or rename the app in its code (App::new)", code.name)),
            ));
        }
        if let Some(queue) = &self.app.task_queue
            && *queue != code.task_queue
        {
            findings.push(finding(
                "app.task_queue",
                format!("= {queue:?}, but the code's task queue is {:?}: pods would poll a queue nothing starts work on", code.task_queue),
                Some("remove task_queue (the code's is used), or change App::task_queue in the code"),
            ));
        }
        if findings.is_empty() {
            self.code = Some(code);
        }
        findings
    }

    /// Each role's env checked the way its binary will check it at start: a value or a
    /// combination the binary refuses (exit 78) is refused here, with the binary's own words.
    fn check_settings(&self) -> Vec<KeyProblem> {
        let app = tk8s_config::AppDefaults {
            name: self.app.name.clone(),
            task_queue: self.task_queue().to_string(),
            workflow_input: self.code.as_ref().map(|c| c.workflow_input.clone()).unwrap_or_default(),
        };
        let mut findings = Vec::new();
        for (role, table, env) in crate::objects::containers_env(self) {
            let Err(e) = tk8s_config::Config::check_pod_env(&env, &app) else { continue };
            for p in e.problems() {
                let setting = p.key.as_deref().and_then(S::by_key);
                let own = setting.filter(|s| self.own_setting(table, s.env)).map(|s| format!("{table}.{}", s.env));
                let subject = setting.map(|s| s.env).unwrap_or("the environment");
                findings.push(KeyProblem {
                    key: own.clone().unwrap_or_else(|| table.to_string()),
                    message: match own {
                        Some(_) => format!("{} (the {role} would refuse it at start, exit 78)", p.message),
                        None => format!("gives the {role} {subject} {} (it would refuse it at start, exit 78)", p.message),
                    },
                    hint: p.hint.clone(),
                });
            }
        }
        findings
    }

    /// Whether the deploy config table `table` sets `env` itself.
    fn own_setting(&self, table: &str, env: &str) -> bool {
        match table {
            "worker.settings" => self.worker.settings.contains_key(env),
            "orchestrator.settings" => self.orchestrator.as_ref().is_some_and(|o| o.role.settings.contains_key(env)),
            "worker" => false,
            _ => self.worker.autoscaling.as_ref().is_some_and(|a| a.scaler_settings.contains_key(env)),
        }
    }

    /// The roles this config runs as pods of the app's image, with their part of the config.
    fn roles(&self) -> impl Iterator<Item = (&'static str, &RoleConfig)> {
        std::iter::once((tk8s_config::Role::Worker.name(), &self.worker))
            .chain(self.orchestrator.iter().map(|o| (tk8s_config::Role::Orchestrator.name(), &o.role)))
    }

    /// What serde cannot see: rules across fields.
    fn check(&self) -> Vec<KeyProblem> {
        let mut problems = Vec::new();
        let dns = is_dns_label;
        let dns_hint = Some("lowercase letters, digits and '-', at most 53 characters, e.g. \"orders\"");
        if !dns(&self.app.name) {
            problems.push(finding("app.name", format!("= {:?} must be a DNS label", self.app.name), dns_hint));
        }
        if !dns(&self.app.namespace) {
            problems.push(finding("app.namespace", format!("= {:?} must be a DNS label", self.app.namespace), dns_hint));
        }
        let secret_name = |s: &str| {
            !s.is_empty()
                && s.len() <= 253
                && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                && s.starts_with(|c: char| c.is_ascii_alphanumeric())
                && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        };
        let pull_secrets = std::iter::once(("app.image_pull_secrets".to_string(), &self.app.image_pull_secrets)).chain(
            self.environments
                .iter()
                .filter_map(|(n, e)| e.image_pull_secrets.as_ref().map(|l| (format!("environments.{n}.image_pull_secrets"), l))),
        );
        for (key, list) in pull_secrets {
            for name in list.iter().filter(|n| !secret_name(n)) {
                problems.push(finding(
                    key.clone(),
                    format!("has {name:?}, which is not a Secret name"),
                    Some("lowercase letters, digits, '-' and '.'"),
                ));
            }
        }
        if self.temporal.address.rsplit_once(':').is_none_or(|(_, p)| p.parse::<u16>().is_err()) {
            problems.push(finding(
                "temporal.address",
                format!("= {:?} must be host:port", self.temporal.address),
                Some("e.g. \"temporal-frontend.temporal.svc.cluster.local:7233\""),
            ));
        }
        match self.temporal.auth {
            Auth::Mtls if self.temporal.tls_secret.is_none() => problems.push(finding(
                "temporal.auth",
                "= \"mtls\" needs temporal.tls_secret (a kubernetes.io/tls Secret)",
                Some("add tls_secret = \"<name>\" under [temporal]: the Secret holding tls.crt, tls.key and, if the server's CA is private, ca.crt"),
            )),
            Auth::ApiKey if self.temporal.api_key_secret.is_none() => problems.push(finding(
                "temporal.auth",
                "= \"api-key\" needs temporal.api_key_secret",
                Some("add api_key_secret = \"<name>\" under [temporal]: the Secret holding the key under `api-key`"),
            )),
            _ => {}
        }
        for (name, role) in self.roles() {
            if role.replicas < 0 {
                problems.push(finding(format!("{name}.replicas"), "must not be negative", None));
            }
            for key in role.settings.keys() {
                if S::by_env(key).is_none() {
                    let hint = S::closest(key, S::SETTINGS.iter().map(|s| s.env))
                        .map(|k| format!("did you mean {k}?"))
                        .unwrap_or_else(|| "see the configuration reference in the README".into());
                    problems.push(KeyProblem {
                        key: format!("{name}.settings.{key}"),
                        message: "is not a known setting".into(),
                        hint: Some(hint),
                    });
                }
            }
            if let Some(a) = &role.autoscaling {
                problems.extend(self.check_autoscaling(name, a));
            }
        }
        problems.extend(self.check_sdk());
        if let Some(o) = &self.orchestrator
            && o.role.controller.is_some()
        {
            problems.push(finding(
                "orchestrator.controller",
                "is not allowed: only the worker can be handed to the temporal-worker-controller",
                Some("the orchestrator starts no workflows, so it has no versions: remove [orchestrator.controller]"),
            ));
        }
        if let Some(wc) = &self.worker.controller {
            problems.extend(self.check_controller(wc));
        }
        if let Some(e) = &self.monitoring.otlp_endpoint
            && (!(e.starts_with("http://") || e.starts_with("https://")) || self.monitoring.otlp_port().is_none())
        {
            problems.push(finding(
                "monitoring.otlp_endpoint",
                format!("= {e:?} must be http://host:port or https://host:port"),
                Some("the collector's OTLP/gRPC port, usually 4317"),
            ));
        }
        if let Some(cs) = &self.codec_server {
            if self.encryption.is_none() {
                problems.push(finding(
                    "codec_server",
                    "needs [encryption]: it decrypts with the same keys",
                    Some("add [encryption] with key_secret, or remove [codec_server]"),
                ));
            }
            if cs.jwks_url.is_none() && cs.tokens_secret.is_none() {
                problems.push(finding(
                    "codec_server",
                    "has no authentication: anyone who reaches it can decrypt every payload",
                    Some("set jwks_url (with jwt_audience) or tokens_secret"),
                ));
            }
            if cs.jwks_url.as_ref().is_some_and(|u| !u.starts_with("https://")) {
                problems.push(finding("codec_server.jwks_url", "must be an https:// URL", Some("signing keys must come over TLS")));
            }
            if cs.jwks_url.is_some() != cs.jwt_audience.is_some() {
                let key = if cs.jwks_url.is_some() { "codec_server.jwks_url" } else { "codec_server.jwt_audience" };
                problems.push(finding(
                    key,
                    "and codec_server.jwt_audience go together",
                    Some("set both: the audience keeps out tokens issued to other applications"),
                ));
            }
            if cs.allowed_origins.iter().any(|o| !(o.starts_with("https://") || o.starts_with("http://")) || o.ends_with('/')) {
                problems.push(finding(
                    "codec_server.allowed_origins",
                    "are origins such as \"https://temporal.example.com\"",
                    Some("scheme, host and optional port, with no path or trailing '/'"),
                ));
            }
            if cs.replicas < 1 {
                problems.push(finding("codec_server.replicas", "must be at least 1", None));
            }
        }
        for (i, skip) in self.skip_checks.iter().enumerate() {
            if skip.reason.trim().len() < 10 {
                problems.push(finding(
                    format!("skip_checks[{i}].reason"),
                    format!("for {} is too short", skip.id),
                    Some("give a written reason (at least a sentence) for not meeting the check"),
                ));
            }
            if !skip.id.starts_with("CKV") || skip.id.contains(char::is_whitespace) {
                problems.push(finding(
                    format!("skip_checks[{i}].id"),
                    format!("= {:?} is not a checkov check id", skip.id),
                    Some("checkov's ids look like CKV_K8S_43"),
                ));
            }
        }
        problems
    }

    /// What a worker written with another SDK may and must say.
    fn check_sdk(&self) -> Vec<KeyProblem> {
        let mut problems = Vec::new();
        let w = &self.worker;
        let sdk_only = [
            ("image", w.image.is_some()),
            ("command", !w.command.is_empty()),
            ("args", !w.args.is_empty()),
            ("env", !w.env.is_empty()),
            ("graceful_shutdown", w.graceful_shutdown.is_some()),
            ("metrics_port", w.metrics_port.is_some()),
        ];
        if w.sdk == Sdk::Tk8s {
            for (key, set) in sdk_only {
                if set {
                    problems.push(finding(
                        format!("worker.{key}"),
                        "only applies to a worker written with another SDK",
                        Some("set worker.sdk (python, typescript, go, java, dotnet), or remove it: a tk8s host takes its settings from [worker.settings]"),
                    ));
                }
            }
        } else {
            if !w.settings.is_empty() {
                problems.push(finding(
                    "worker.settings",
                    format!("are tk8s host settings; a {} worker does not read them", w.sdk.name()),
                    Some("put the worker's own variables under [worker.env]"),
                ));
            }
            if w.controller.is_some() {
                problems.push(finding(
                    "worker.controller",
                    format!("is not supported for a {} worker yet", w.sdk.name()),
                    Some("remove [worker.controller]; the temporal-worker-controller's own docs cover SDK workers"),
                ));
            }
            for key in w.env.keys() {
                if crate::objects::rendered_sdk_env().contains(&key.as_str()) || key.starts_with(S::env::PREFIX) {
                    problems.push(finding(
                        format!("worker.env.{key}"),
                        "is rendered from the deploy config (the connection) or belongs to tk8s",
                        Some("set the connection under [temporal]; keep [worker.env] for the worker's own variables"),
                    ));
                }
            }
        }
        if w.sdk != Sdk::Tk8s && w.replay_gate.as_ref().is_some_and(|g| g.enabled) {
            problems.push(finding(
                "worker.replay_gate.enabled",
                format!("is not available for a {} worker: the gate runs the app's own `replay` command", w.sdk.name()),
                Some("remove it, and replay in the worker's CI with the SDK's replayer (e.g. Python's temporalio.worker.Replayer)"),
            ));
        }
        for key in w.replay_gate.iter().flat_map(|g| g.settings.keys()) {
            if !S::by_env(key).is_some_and(|s| s.section == S::Section::Replay) {
                problems.push(finding(
                    format!("worker.replay_gate.settings.{key}"),
                    "is not a replay setting",
                    Some("replay settings are the replay.* rows of the configuration reference (TK8S_REPLAY_*)"),
                ));
            }
        }
        if self.orchestrator.as_ref().is_some_and(|o| o.role.sdk != Sdk::Tk8s) {
            problems.push(finding(
                "orchestrator.sdk",
                "only the worker can be written with another SDK",
                Some("start workflows from your own code, or use a tk8s app's orchestrator role"),
            ));
        }
        problems
    }

    fn check_autoscaling(&self, name: &str, a: &Autoscaling) -> Vec<KeyProblem> {
        let mut problems = Vec::new();
        let floor = if a.mode == Autoscaler::Keda { 0 } else { 1 };
        if a.min_replicas < floor || a.max_replicas < a.min_replicas.max(1) {
            problems.push(if a.mode == Autoscaler::Keda {
                finding(format!("{name}.autoscaling"), "needs 0 <= min_replicas <= max_replicas and max_replicas >= 1", None)
            } else {
                finding(
                    format!("{name}.autoscaling"),
                    "needs 1 <= min_replicas <= max_replicas",
                    Some("only mode = \"keda\" scales to zero; an HPA cannot"),
                )
            });
        }
        let controlled = self.backlog_by_default();
        if self.worker.sdk != Sdk::Tk8s && a.signal == Some(Signal::Tk8s) {
            problems.push(finding(
                format!("{name}.autoscaling.signal"),
                format!(
                    "= \"tk8s\" is not available for a {} worker yet: the scaler role runs from a hosted app's image",
                    self.worker.sdk.name()
                ),
                Some("use signal = \"backlog\" (KEDA's temporal trigger, or an HPA on CPU and backlog)"),
            ));
        } else if self.worker.controller.is_some() && a.signal == Some(Signal::Tk8s) {
            problems.push(finding(
                format!("{name}.autoscaling.signal"),
                "= \"tk8s\" does not work with worker.controller: the scaler decides for the whole task queue, the controller needs one signal per build",
                Some("use signal = \"backlog\" (per-build HPAs)"),
            ));
        }
        if a.signal(controlled) == Signal::Tk8s {
            for key in a.scaler_settings.keys() {
                if !S::by_env(key).is_some_and(|s| s.section == S::Section::Scaler) {
                    problems.push(finding(
                        format!("{name}.autoscaling.scaler_settings.{key}"),
                        "is not a scaler setting",
                        Some("scaler settings are the scaler.* rows of the configuration reference (TK8S_SCALER_*)"),
                    ));
                }
            }
        } else if !a.scaler_settings.is_empty() {
            problems.push(finding(format!("{name}.autoscaling.scaler_settings"), "only apply to signal = \"tk8s\"", None));
        }
        problems
    }

    /// The rules the controller's CRDs and webhook enforce, checked here so that a mistake names
    /// the deploy config instead of surfacing as a rejected apply.
    fn check_controller(&self, wc: &WorkerController) -> Vec<KeyProblem> {
        let mut problems = Vec::new();
        let host_port_ok = self.temporal.address.rsplit_once(':').is_some_and(|(h, p)| {
            !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') && p.chars().all(|c| c.is_ascii_digit())
        });
        if !host_port_ok {
            problems.push(finding(
                "temporal.address",
                format!("= {:?}: the controller's Connection takes a plain host:port", self.temporal.address),
                Some("letters, digits, '.' and '-', then the port; no scheme or IPv6 brackets"),
            ));
        }
        if self.worker.autoscaling.as_ref().is_some_and(|a| a.mode == Autoscaler::Keda) {
            problems.push(finding(
                "worker.autoscaling.mode",
                "= \"keda\" does not work with worker.controller",
                Some("use mode = \"hpa\" (rendered as a WorkerResourceTemplate, one HPA per worker build)"),
            ));
        }
        match (wc.rollout, wc.steps.is_empty()) {
            (Rollout::Progressive, true) => problems.push(finding(
                "worker.controller.rollout",
                "= \"progressive\" needs steps",
                Some("e.g. steps = [{ ramp_percentage = 10, pause = \"5m\" }]"),
            )),
            (Rollout::AllAtOnce | Rollout::Manual, false) => {
                problems.push(finding("worker.controller.steps", "only apply to rollout = \"progressive\"", None))
            }
            _ => {}
        }
        if wc.steps.len() > 20 {
            problems.push(finding("worker.controller.steps", "has more than 20 steps", Some("the controller takes at most 20")));
        }
        let mut last = 0;
        for (i, step) in wc.steps.iter().enumerate() {
            if !(1..=99).contains(&step.ramp_percentage) || step.ramp_percentage <= last {
                problems.push(finding(
                    format!("worker.controller.steps[{i}].ramp_percentage"),
                    format!("= {}: each step must ramp further than the last, between 1 and 99", step.ramp_percentage),
                    None,
                ));
            }
            last = step.ramp_percentage;
            if step.pause.duration() < Duration::from_secs(30) {
                problems.push(finding(
                    format!("worker.controller.steps[{i}].pause"),
                    format!("= {:?} must be at least \"30s\"", step.pause.as_str()),
                    Some("the controller holds each step at least 30s"),
                ));
            }
        }
        if wc.gate_workflow.as_ref().is_some_and(|g| g.trim().is_empty()) {
            problems.push(finding("worker.controller.gate_workflow", "is empty", Some("name a workflow type, or leave it out")));
        }
        problems
    }

    /// The replay gate in force: the worker's, or the default for a tk8s worker; `None` when off.
    pub fn replay_gate(&self) -> Option<ReplayGate> {
        match (&self.worker.replay_gate, self.worker.sdk) {
            (Some(g), _) if g.enabled => Some(g.clone()),
            (None, Sdk::Tk8s) => Some(ReplayGate::default()),
            _ => None,
        }
    }

    /// Whether the worker autoscales on the backlog unless told otherwise: the scaler role cannot
    /// serve a controller-managed worker (per build) or an SDK worker (it runs from a hosted
    /// app's image).
    pub fn backlog_by_default(&self) -> bool {
        self.worker.controller.is_some() || self.worker.sdk != Sdk::Tk8s
    }

    /// The task queue: the deploy config's, else the code's (from `app.binary`), else the app's
    /// name (which is also what `App::new` defaults it to).
    pub fn task_queue(&self) -> &str {
        self.app.task_queue.as_deref().or(self.code.as_ref().map(|c| c.task_queue.as_str())).unwrap_or(&self.app.name)
    }

    /// The config as one environment sees it.
    pub fn for_environment(&self, env: &Environment) -> DeployConfig {
        let mut c = self.clone();
        if let Some(tag) = &env.tag {
            c.app.tag = tag.clone();
        }
        if let Some(r) = env.worker_replicas {
            c.worker.replicas = r;
        }
        if let Some(a) = &mut c.worker.autoscaling {
            a.min_replicas = env.min_replicas.unwrap_or(a.min_replicas);
            a.max_replicas = env.max_replicas.unwrap_or(a.max_replicas);
        }
        if let Some(secrets) = &env.image_pull_secrets {
            c.app.image_pull_secrets = secrets.clone();
        }
        if let Some(level) = &env.log_level {
            let hosted_worker = (c.worker.sdk == Sdk::Tk8s).then_some(&mut c.worker);
            for role in hosted_worker.into_iter().chain(c.orchestrator.as_mut().map(|o| &mut o.role)) {
                role.settings.insert(S::LOG_LEVEL.env.into(), level.clone());
            }
        }
        c
    }
}
