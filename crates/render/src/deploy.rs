//! The deploy config (`tk8s-deploy.toml`): what `tk8s render` turns into manifests. Unknown keys
//! are errors; every error names `file:line` and says what was expected. Environments override a
//! few fields each and become kustomize overlays.

use crate::RenderError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tk8s_config::spec as S;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    pub app: App,
    pub temporal: Temporal,
    #[serde(default)]
    pub encryption: Option<Encryption>,
    pub worker: Role,
    #[serde(default)]
    pub orchestrator: Option<Orchestrator>,
    #[serde(default)]
    pub monitoring: Monitoring,
    /// Deploy `tk8s codec-server` next to the app, for the Temporal UI and CLI.
    #[serde(default)]
    pub codec_server: Option<CodecServer>,
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,
    /// Policy checks (checkov ids) deliberately not met, each with the reason why.
    #[serde(default)]
    pub skip_checks: Vec<SkipCheck>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SkipCheck {
    pub id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// App name: object names and the `app.kubernetes.io/name` label.
    pub name: String,
    /// Image repository, e.g. `registry.example.com/greeting`.
    pub image: String,
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
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Auth {
    None,
    /// Client certificate from a `kubernetes.io/tls` Secret (`tls.crt`, `tls.key`, `ca.crt`).
    Mtls,
    /// API key from a Secret (key `api-key`); implies TLS.
    ApiKey,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Temporal {
    /// `host:port` of the Temporal frontend.
    pub address: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub auth: Auth,
    /// Secret holding the client certificate (auth = "mtls").
    #[serde(default)]
    pub tls_secret: Option<String>,
    /// Secret holding the API key under `api-key` (auth = "api-key").
    #[serde(default)]
    pub api_key_secret: Option<String>,
    #[serde(default)]
    pub server_name: Option<String>,
}

fn default_namespace() -> String {
    "default".into()
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// Secret with one `<id>.key` entry per key and an `active` entry.
    pub key_secret: String,
    /// Mount the keys through the Secrets Store CSI driver instead (Azure Key Vault, AWS, GCP,
    /// Vault): renders a SecretProviderClass named after `key_secret`.
    #[serde(default)]
    pub secret_provider: Option<SecretProvider>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecretProvider {
    /// `azure`, `aws`, `gcp` or `vault`.
    pub provider: String,
    /// Provider parameters, passed through (e.g. keyvaultName, tenantId, objects).
    pub parameters: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub cpu_request: String,
    pub memory_request: String,
    #[serde(default)]
    pub cpu_limit: Option<String>,
    pub memory_limit: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Scaler {
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
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
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

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Autoscaling {
    #[serde(default)]
    pub mode: Scaler,
    pub min_replicas: i32,
    pub max_replicas: i32,
    #[serde(default = "default_cpu")]
    pub cpu_utilization: i32,
    /// Desired backlog per worker pod (signal `backlog`).
    #[serde(default = "default_backlog")]
    pub backlog_per_pod: i32,
    /// `tk8s` (default; `backlog` under the temporal-worker-controller, whose signals are per build).
    #[serde(default)]
    pub signal: Option<Signal>,
    /// A lower replica count waits this long (the scaler's window with signal `tk8s`, the
    /// autoscaler's scale-down stabilisation with `backlog`).
    #[serde(default = "default_scale_down_window")]
    pub scale_down_window: String,
    /// The namespace KEDA runs in (its operator calls the scaler's gRPC port).
    #[serde(default = "default_keda_namespace")]
    pub keda_namespace: String,
    /// Extra `TK8S_SCALER_*` settings for the scaler (see the configuration reference).
    #[serde(default)]
    pub scaler_settings: BTreeMap<String, String>,
}

impl Autoscaling {
    /// The signal in force: `tk8s` unless chosen otherwise, `backlog` under the controller.
    pub fn signal(&self, controlled: bool) -> Signal {
        self.signal.unwrap_or(if controlled { Signal::Backlog } else { Signal::Tk8s })
    }
}

fn default_scale_down_window() -> String {
    "5m".into()
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

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub replicas: i32,
    pub resources: Resources,
    /// Drain time after SIGTERM (the host's `shutdown.grace`).
    #[serde(default = "default_grace")]
    pub shutdown_grace: String,
    #[serde(default)]
    pub autoscaling: Option<Autoscaling>,
    /// Pods that may be unavailable during voluntary disruptions (PodDisruptionBudget).
    #[serde(default = "default_one")]
    pub max_unavailable: i32,
    #[serde(default = "default_one")]
    pub max_surge: i32,
    /// A VerticalPodAutoscaler: `Off` (recommendations only), `Initial` or `Auto`. With an
    /// HPA on CPU it controls memory only, so the two never fight over the same resource.
    #[serde(default)]
    pub vpa: Option<String>,
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
}

/// How new workflow executions move to a new build (the controller's rollout strategies).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
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

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RampStep {
    /// Percent of new executions sent to the new build during this step (1-99).
    pub ramp_percentage: i32,
    /// How long to hold this step (at least 30s).
    pub pause: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
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
    pub scaledown_delay: String,
    /// ...and delete it after this long.
    #[serde(default = "default_delete")]
    pub delete_delay: String,
}

fn default_scaledown() -> String {
    "1h".into()
}
fn default_delete() -> String {
    "24h".into()
}

fn default_grace() -> String {
    "20s".into()
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
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CodecServer {
    /// Image repository of `tk8s`; default: the app's repository with its last path segment
    /// replaced by `tk8s` (`registry.example.com/greeting` -> `registry.example.com/tk8s`). The
    /// tag is the app's: both images are built from the same commit.
    #[serde(default)]
    pub image: Option<String>,
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
    pub jwt_audience: Option<String>,
    #[serde(default)]
    pub jwt_issuer: Option<String>,
    /// A Secret with static bearer tokens (one per line) under the key `tokens`.
    #[serde(default)]
    pub tokens_secret: Option<String>,
    pub resources: Resources,
}

fn default_codec_replicas() -> i32 {
    2
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Orchestrator {
    #[serde(flatten)]
    pub role: Role,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
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
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub worker_replicas: Option<i32>,
    #[serde(default)]
    pub min_replicas: Option<i32>,
    #[serde(default)]
    pub max_replicas: Option<i32>,
    #[serde(default)]
    pub log_level: Option<String>,
    /// Replaces `app.image_pull_secrets` in this environment (e.g. another registry's credentials).
    #[serde(default)]
    pub image_pull_secrets: Option<Vec<String>>,
}

impl DeployConfig {
    /// Parse and check a deploy config; `path` is only used in messages.
    /// The `tk8s` image repository the codec server runs from.
    pub fn tk8s_image(&self) -> String {
        if let Some(image) = self.codec_server.as_ref().and_then(|c| c.image.clone()) {
            return image;
        }
        match self.app.image.rsplit_once('/') {
            Some((registry, _)) => format!("{registry}/tk8s"),
            None => "tk8s".into(),
        }
    }

    pub fn parse(path: &Path, text: &str) -> Result<DeployConfig, RenderError> {
        let config: DeployConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1).unwrap_or(1);
            RenderError::Config(format!("{}:{line}: {}", path.display(), e.message().trim()))
        })?;
        config.check(path)?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<DeployConfig, RenderError> {
        let text = std::fs::read_to_string(path).map_err(|source| RenderError::Read { path: path.to_path_buf(), source })?;
        DeployConfig::parse(path, &text)
    }

    fn check(&self, path: &Path) -> Result<(), RenderError> {
        let mut problems = Vec::new();
        let dns = |s: &str| {
            !s.is_empty()
                && s.len() <= 53
                && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !s.starts_with('-')
                && !s.ends_with('-')
        };
        if !dns(&self.app.name) {
            problems
                .push(format!("app.name {:?} must be a DNS label (lowercase letters, digits, '-', at most 53 characters)", self.app.name));
        }
        if !dns(&self.app.namespace) {
            problems.push(format!("app.namespace {:?} must be a DNS label", self.app.namespace));
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
                problems.push(format!("{key}: {name:?} is not a Secret name (lowercase letters, digits, '-', '.')"));
            }
        }
        if self.temporal.address.rsplit_once(':').is_none_or(|(_, p)| p.parse::<u16>().is_err()) {
            problems.push(format!("temporal.address {:?} must be host:port", self.temporal.address));
        }
        match self.temporal.auth {
            Auth::Mtls if self.temporal.tls_secret.is_none() => {
                problems.push("temporal.auth = \"mtls\" needs temporal.tls_secret (a kubernetes.io/tls Secret)".into())
            }
            Auth::ApiKey if self.temporal.api_key_secret.is_none() => {
                problems.push("temporal.auth = \"api-key\" needs temporal.api_key_secret".into())
            }
            _ => {}
        }
        let mut roles = vec![("worker", &self.worker)];
        if let Some(o) = &self.orchestrator {
            roles.push(("orchestrator", &o.role));
        }
        for (name, role) in roles {
            if tk8s_config::parse_duration(&role.shutdown_grace).is_none() {
                problems.push(format!("{name}.shutdown_grace {:?} is not a duration such as \"20s\"", role.shutdown_grace));
            }
            if role.replicas < 0 {
                problems.push(format!("{name}.replicas must not be negative"));
            }
            for key in role.settings.keys() {
                if tk8s_config::spec::SETTINGS.iter().all(|s| s.env != key) {
                    problems.push(format!("{name}.settings.{key} is not a known setting (see the configuration reference)"));
                }
            }
            if let Some(a) = &role.autoscaling {
                problems.extend(self.check_autoscaling(name, a));
            }
        }
        if let Some(p) = self.encryption.as_ref().and_then(|e| e.secret_provider.as_ref())
            && !["azure", "aws", "gcp", "vault"].contains(&p.provider.as_str())
        {
            problems.push(format!("encryption.secret_provider.provider {:?} must be azure, aws, gcp or vault", p.provider));
        }
        for (name, role) in std::iter::once(("worker", &self.worker)).chain(self.orchestrator.iter().map(|o| ("orchestrator", &o.role))) {
            if let Some(mode) = &role.vpa
                && !["Off", "Initial", "Auto"].contains(&mode.as_str())
            {
                problems.push(format!("{name}.vpa {mode:?} must be Off, Initial or Auto"));
            }
        }
        if let Some(o) = &self.orchestrator
            && o.role.controller.is_some()
        {
            problems.push("orchestrator.controller: only the worker can be handed to the temporal-worker-controller (it starts no workflows, so it has no versions)".into());
        }
        if let Some(wc) = &self.worker.controller {
            problems.extend(self.check_controller(wc));
        }
        if let Some(e) = &self.monitoring.otlp_endpoint
            && (!(e.starts_with("http://") || e.starts_with("https://")) || self.monitoring.otlp_port().is_none())
        {
            problems.push(format!("monitoring.otlp_endpoint {e:?} must be http://host:port or https://host:port (the collector's OTLP/gRPC port, usually 4317)"));
        }
        if let Some(cs) = &self.codec_server {
            if self.encryption.is_none() {
                problems.push("codec_server needs [encryption]: it decrypts with the same keys".into());
            }
            if cs.jwks_url.is_none() && cs.tokens_secret.is_none() {
                problems.push("codec_server needs jwks_url (with jwt_audience) or tokens_secret: without authentication anyone who reaches it can decrypt every payload".into());
            }
            if cs.jwks_url.as_ref().is_some_and(|u| !u.starts_with("https://")) {
                problems.push("codec_server.jwks_url must be an https:// URL".into());
            }
            if cs.jwks_url.is_some() != cs.jwt_audience.is_some() {
                problems.push("codec_server.jwks_url and codec_server.jwt_audience go together (the audience keeps out tokens issued to other applications)".into());
            }
            if cs.allowed_origins.iter().any(|o| !(o.starts_with("https://") || o.starts_with("http://")) || o.ends_with('/')) {
                problems.push("codec_server.allowed_origins are origins such as \"https://temporal.example.com\" (scheme, host, optional port; no path)".into());
            }
            if cs.replicas < 1 {
                problems.push("codec_server.replicas must be at least 1".into());
            }
        }
        for skip in &self.skip_checks {
            if skip.reason.trim().len() < 10 {
                problems.push(format!("skip_checks {}: give a written reason (at least a sentence) for not meeting the check", skip.id));
            }
            if !skip.id.starts_with("CKV") || skip.id.contains(char::is_whitespace) {
                problems.push(format!("skip_checks id {:?} is not a checkov check id (CKV_...)", skip.id));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RenderError::Config(problems.into_iter().map(|p| format!("{}: {p}", path.display())).collect::<Vec<_>>().join("\n")))
        }
    }

    fn check_autoscaling(&self, name: &str, a: &Autoscaling) -> Vec<String> {
        let mut problems = Vec::new();
        let floor = if a.mode == Scaler::Keda { 0 } else { 1 };
        if a.min_replicas < floor || a.max_replicas < a.min_replicas.max(1) {
            problems.push(if a.mode == Scaler::Keda {
                format!("{name}.autoscaling needs 0 <= min_replicas <= max_replicas and max_replicas >= 1")
            } else {
                format!("{name}.autoscaling needs 1 <= min_replicas <= max_replicas (only mode = \"keda\" scales to zero; an HPA cannot)")
            });
        }
        if tk8s_config::parse_duration(&a.scale_down_window).is_none() {
            problems.push(format!("{name}.autoscaling.scale_down_window {:?} is not a duration such as \"5m\"", a.scale_down_window));
        }
        let controlled = self.worker.controller.is_some();
        if controlled && a.signal == Some(Signal::Tk8s) {
            problems.push(format!("{name}.autoscaling.signal = \"tk8s\" with worker.controller: the scaler decides for the whole task queue, the controller needs one signal per build; use signal = \"backlog\" (per-build HPAs)"));
        }
        if a.signal(controlled) == Signal::Tk8s {
            for key in a.scaler_settings.keys() {
                if !S::SETTINGS.iter().any(|s| s.env == key && s.key.starts_with("scaler.")) {
                    problems.push(format!(
                        "{name}.autoscaling.scaler_settings.{key} is not a scaler setting (scaler.*, see the configuration reference)"
                    ));
                }
            }
        } else if !a.scaler_settings.is_empty() {
            problems.push(format!("{name}.autoscaling.scaler_settings only apply to signal = \"tk8s\""));
        }
        problems
    }

    /// The rules the controller's CRDs and webhook enforce, checked here so that a mistake names
    /// the deploy config instead of surfacing as a rejected apply.
    fn check_controller(&self, wc: &WorkerController) -> Vec<String> {
        let mut problems = Vec::new();
        let host_port_ok = self.temporal.address.rsplit_once(':').is_some_and(|(h, p)| {
            !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') && p.chars().all(|c| c.is_ascii_digit())
        });
        if !host_port_ok {
            problems.push(format!(
                "temporal.address {:?}: the controller's Connection takes a plain host:port (letters, digits, '.', '-'); no scheme or IPv6 brackets",
                self.temporal.address
            ));
        }
        if self.worker.autoscaling.as_ref().is_some_and(|a| a.mode == Scaler::Keda) {
            problems.push("worker.autoscaling.mode = \"keda\" with worker.controller: use mode = \"hpa\" (rendered as a WorkerResourceTemplate, one HPA per worker build)".into());
        }
        match (wc.rollout, wc.steps.is_empty()) {
            (Rollout::Progressive, true) => problems.push(
                "worker.controller.rollout = \"progressive\" needs steps, e.g. steps = [{ ramp_percentage = 10, pause = \"5m\" }]".into(),
            ),
            (Rollout::AllAtOnce | Rollout::Manual, false) => {
                problems.push("worker.controller.steps only apply to rollout = \"progressive\"".into())
            }
            _ => {}
        }
        if wc.steps.len() > 20 {
            problems.push("worker.controller.steps: at most 20 steps".into());
        }
        let mut last = 0;
        for (i, step) in wc.steps.iter().enumerate() {
            if !(1..=99).contains(&step.ramp_percentage) || step.ramp_percentage <= last {
                problems.push(format!(
                    "worker.controller.steps[{i}].ramp_percentage = {}: each step must ramp further than the last, between 1 and 99",
                    step.ramp_percentage
                ));
            }
            last = step.ramp_percentage;
            if tk8s_config::parse_duration(&step.pause).is_none_or(|d| d < Duration::from_secs(30)) {
                problems.push(format!("worker.controller.steps[{i}].pause {:?} must be a duration of at least \"30s\"", step.pause));
            }
        }
        for (key, value) in [("scaledown_delay", &wc.scaledown_delay), ("delete_delay", &wc.delete_delay)] {
            if tk8s_config::parse_duration(value).is_none() {
                problems.push(format!("worker.controller.{key} {value:?} is not a duration such as \"1h\""));
            }
        }
        if wc.gate_workflow.as_ref().is_some_and(|g| g.trim().is_empty()) {
            problems.push("worker.controller.gate_workflow is empty: name a workflow type, or leave it out".into());
        }
        problems
    }

    pub fn task_queue(&self) -> &str {
        self.app.task_queue.as_deref().unwrap_or(&self.app.name)
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
            for role in std::iter::once(&mut c.worker).chain(c.orchestrator.as_mut().map(|o| &mut o.role)) {
                role.settings.insert(S::LOG_LEVEL.env.into(), level.clone());
            }
        }
        c
    }
}

/// Parse a duration setting that [`DeployConfig::check`] already accepted.
pub fn grace(role: &Role) -> Duration {
    tk8s_config::parse_duration(&role.shutdown_grace).unwrap_or(Duration::from_secs(20))
}

/// A checked duration in the form Kubernetes' Go types parse (`"300s"`).
pub fn go_duration(text: &str) -> String {
    format!("{}s", tk8s_config::parse_duration(text).unwrap_or_default().as_secs())
}
