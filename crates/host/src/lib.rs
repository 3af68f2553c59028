//! Host Temporal workers and orchestrators in production on Kubernetes.
//!
//! An application registers its workflows and activities (written with the official Temporal
//! Rust SDK) on an [`App`] and calls [`App::main`]. The host gives it layered configuration,
//! plaintext/TLS/mTLS/API-key connections with certificate reload, an admin server (`/livez`,
//! `/readyz`, `/startupz`, `/metrics`), JSON logs that include the SDK core's own, and a graceful
//! shutdown with a hard deadline. One binary serves both roles:
//!
//! ```text
//! greeting worker         # poll the task queue, run workflows and activities
//! greeting orchestrator   # start workflows (once / interval / rate / schedule)
//! greeting check          # exit 0 once Temporal answers (for init containers)
//! greeting probe readyz   # exit 0 if this container's own /readyz is 200 (HEALTHCHECK)
//! greeting config show    # print every resolved setting and where it came from
//! greeting config defaults --output json   # what the code defines (tk8s render checks it)
//! greeting replay          # replay running and recent histories against this build (the gate)
//! ```

mod admin;
mod cgroup;
mod cli;
mod error;
mod health;
mod host_loop;
mod meter;
mod orchestrator;
mod replay;
mod scaler;
mod shutdown;
mod telemetry;
mod traces;

mod worker;

pub use error::{HostError, WorkflowError};
pub use orchestrator::{StartedWorkflow, Starter, typed};
pub use tk8s_config::{AppDefaults, Config, ConfigError, Role};
pub use tk8s_connect::{MaterialError, load_certified_key};

use health::Health;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use temporalio_common::data_converters::DataConverter;
use temporalio_sdk::{WorkerOptions, WorkflowRegistrationError};
use tk8s_config::exit;
use tracing::{error, info};

pub(crate) type Register = Box<dyn Fn(&mut WorkerOptions) -> Result<(), WorkflowRegistrationError>>;

/// A Temporal application hosted by temporal-k8s.
pub struct App {
    defaults: AppDefaults,
    register: Option<Register>,
    starter: Option<Arc<dyn Starter>>,
    /// A custom data converter; `None` uses payload encryption when configured.
    data_converter: Option<MakeConverter>,
}

/// Builds the data converter from the resolved configuration.
type MakeConverter = Arc<dyn Fn(&Config) -> Result<DataConverter, HostError>>;

impl App {
    /// An app named `name`; its task queue defaults to the same name.
    pub fn new(name: &str) -> Self {
        Self {
            defaults: AppDefaults { name: name.into(), task_queue: name.into(), workflow_input: String::new() },
            register: None,
            starter: None,
            data_converter: None,
        }
    }

    /// Default task queue (overridable by `TK8S_TASK_QUEUE` and friends).
    pub fn task_queue(mut self, task_queue: &str) -> Self {
        self.defaults.task_queue = task_queue.into();
        self
    }

    /// Default workflow input for the orchestrator (overridable by `TK8S_WORKFLOW_INPUT`).
    pub fn workflow_input(mut self, input: &str) -> Self {
        self.defaults.workflow_input = input.into();
        self
    }

    /// Register workflows and activities for the `worker` role.
    pub fn worker(mut self, register: impl Fn(&mut WorkerOptions) -> Result<(), WorkflowRegistrationError> + 'static) -> Self {
        self.register = Some(Box::new(register));
        self
    }

    /// What the `orchestrator` role starts. See [`typed`] for the usual way.
    pub fn orchestrator(mut self, starter: impl Starter + 'static) -> Self {
        self.starter = Some(Arc::new(starter));
        self
    }

    /// Replace the data converter. Without this, the host encrypts payloads with the
    /// configured key ring (`TK8S_CODEC_KEYS_DIR`), or leaves them as they are.
    pub fn data_converter(mut self, f: impl Fn(&Config) -> Result<DataConverter, HostError> + 'static) -> Self {
        self.data_converter = Some(Arc::new(f));
        self
    }

    /// Run with the process's arguments and environment; the exit code says how it ended:
    /// 0 ok, 1 failure, 64 usage error, 70 shutdown deadline hit, 78 configuration error.
    pub fn main(self) -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
        let code = self.run(&args, &env, &cwd);
        use std::io::Write;
        let _ = std::io::stdout().flush();
        ExitCode::from(code)
    }

    /// [`App::main`] with explicit inputs; returns the exit code.
    pub fn run(self, args: &[String], env: &BTreeMap<String, String>, cwd: &std::path::Path) -> u8 {
        let (invocation, flags) = match cli::parse(cli::command(&self.defaults.name), args) {
            Ok(parsed) => parsed,
            Err(e) => return cli::report(&e),
        };
        if let cli::Invocation::ConfigDefaults { json } = invocation {
            // What the code defines, whatever the environment says.
            let report = tk8s_config::AppReport::new(&self.defaults);
            print!("{}", if json { report.to_json() + "\n" } else { report.to_text() });
            return exit::OK;
        }
        let config = match Config::load(&tk8s_config::Inputs { env, flags: &flags, app: &self.defaults, cwd }) {
            Ok(config) => config,
            Err(e) => {
                eprintln!("error: {e}");
                return e.exit_code();
            }
        };
        let host = HostEnv { hostname: env.get(tk8s_config::spec::env::HOSTNAME).cloned() };
        match invocation {
            cli::Invocation::Role(role) => self.run_role(role, config, host),
            cli::Invocation::Probe(endpoint) => probe(&config, &endpoint),
            cli::Invocation::Replay(args) => self.replay(config, host, &args),
            cli::Invocation::ConfigShow => {
                print!("{}", config.show());
                exit::OK
            }
            cli::Invocation::ConfigDefaults { .. } => exit::OK,
        }
    }

    /// Replay histories against this build's workflows; print the report; the exit code.
    fn replay(self, config: Config, host: HostEnv, args: &replay::ReplayArgs) -> u8 {
        let _subscriber = tk8s_logging::init_for_command(&config.log);
        let Some(register) = &self.register else {
            let e = HostError::NoRole(Role::Worker);
            eprintln!("error: {e}");
            return e.exit_code();
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                return exit::FAILURE;
            }
        };
        let result = runtime.block_on(async {
            let encryption = match (&self.data_converter, &config.codec) {
                (None, Some(codec)) => Some(tk8s_codec::Reloading::from_config(codec).map_err(HostError::Keys)?),
                _ => None,
            };
            let data_converter = match (&self.data_converter, &encryption) {
                (Some(custom), _) => custom(&config)?,
                (None, Some(e)) => encrypting_converter(e.codec()),
                (None, None) => DataConverter::default(),
            };
            let client = if args.server {
                let prepared = tk8s_connect::prepare(&config, None, host.identity(&config, Role::Replay.name()))?;
                let (client, _) = prepared
                    .connect(&config.temporal.namespace, data_converter.clone(), config.temporal.connect_timeout)
                    .await
                    .map_err(|e| match e {
                        tk8s_connect::ConnectError::Unreachable(d) => HostError::ReplayUnavailable(d.to_string()),
                        other => HostError::Temporal(other),
                    })?;
                Some(client)
            } else {
                None
            };
            replay::run(&config, client, register, data_converter, encryption.map(|e| e.codec()), args).await
        });
        runtime.shutdown_background();
        match result {
            Ok(report) => {
                if args.json {
                    println!("{}", serde_json::to_string(&report).unwrap_or_default());
                } else {
                    print!("{}", report.text());
                }
                if report.ok() {
                    exit::OK
                } else {
                    HostError::ReplayRefused { failed: report.failed, undecodable: report.undecodable }.exit_code()
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        }
    }

    /// Run a role on a fresh runtime; the exit code.
    fn run_role(self, role: Role, config: Config, host: HostEnv) -> u8 {
        let subscriber = tk8s_logging::init(&config.log);
        let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                error!(error = %e, "cannot start the async runtime");
                return exit::FAILURE;
            }
        };
        let result = runtime.block_on(self.run_role_async(role, config, subscriber, host));
        let code = match result {
            Ok(()) => exit::OK,
            Err(e) => {
                error!(error = %e, "exiting");
                e.exit_code()
            }
        };
        // The role has finished and said so; SDK background tasks (heartbeats, a poll stuck on a
        // dead connection) must not hold the exit hostage, so the runtime is left behind.
        runtime.shutdown_background();
        info!(code, "process exiting");
        code
    }

    async fn run_role_async(
        self,
        role: Role,
        config: Config,
        subscriber: Arc<dyn tracing::Subscriber + Send + Sync>,
        host: HostEnv,
    ) -> Result<(), HostError> {
        info!(app = %config.app_name, role = role.name(), version = env!("CARGO_PKG_VERSION"),
              address = %config.temporal.address, namespace = %config.temporal.namespace,
              task_queue = %config.worker.task_queue, tls = config.temporal.tls.is_some(),
              api_key = config.temporal.api_key.is_some(), "starting");
        let mut encryption = match (&self.data_converter, &config.codec) {
            (None, Some(codec)) => Some(tk8s_codec::Reloading::from_config(codec).map_err(HostError::Keys)?),
            _ => None,
        };
        let data_converter = match (&self.data_converter, &encryption) {
            (Some(custom), _) => custom(&config)?,
            (None, Some(e)) => encrypting_converter(e.codec()),
            (None, None) => DataConverter::default(),
        };
        if role == Role::Check {
            let prepared = tk8s_connect::prepare(&config, None, host.identity(&config, role.name()))?;
            let (client, _) = prepared.connect(&config.temporal.namespace, data_converter, config.temporal.connect_timeout).await?;
            tk8s_connect::check_namespace(&client, &config, config.temporal.connect_timeout).await?;
            info!("Temporal is reachable and the namespace exists");
            return Ok(());
        }
        let health = Arc::new(Health::new(role == Role::Worker, config.readiness_check_interval));
        health.tick();
        let telemetry = telemetry::init(&config, role.name(), subscriber, health.clone())?;
        let traces = traces::start(&config, role.name())?;
        let prepared = tk8s_connect::prepare(&config, telemetry.client_meter.clone(), host.identity(&config, role.name()))?;
        let prepared = if traces.is_some() { prepared.plugin(traces::plugin()) } else { prepared };
        let admin = admin::spawn(config.admin, health.clone(), telemetry.exporter)?;
        info!(admin = %admin, "admin server listening: /livez /readyz /startupz /metrics");

        let signal = shutdown::install(health.clone(), config.shutdown.grace, config.shutdown.hard_deadline)
            .map_err(|e| HostError::startup("cannot install signal handlers", e))?;

        let mut early_signal = signal.clone();
        let connected = tokio::select! {
            c = prepared.connect(&config.temporal.namespace, data_converter, config.temporal.connect_timeout) => c,
            _ = early_signal.requested() => {
                info!("shutdown ended: signalled before connecting");
                return Ok(());
            }
        };
        let (client, reloader) = connected?;
        tk8s_connect::check_namespace(&client, &config, config.temporal.connect_timeout).await?;
        health.record_check(Ok(()));
        health.mark_started();
        info!("connected to Temporal");

        let watcher = tokio::spawn(
            host_loop::HostLoop {
                client: client.clone(),
                config: config.clone(),
                health: health.clone(),
                metrics: telemetry.metrics.clone(),
                reloader,
                encryption: encryption.take(),
            }
            .run(),
        );

        let result = match role {
            Role::Worker => match &self.register {
                Some(register) => worker::run(&config, client, telemetry.options, register, signal).await,
                None => Err(HostError::NoRole(role)),
            },
            Role::Orchestrator => match &self.starter {
                Some(starter) => orchestrator::run(&config, client, starter.clone(), telemetry.metrics.clone(), signal).await,
                None => Err(HostError::NoRole(role)),
            },
            Role::Scaler => scaler::run(&config, client, telemetry.metrics.clone(), signal).await,
            // Not offered by an app's command tree (see tk8s-config's role table).
            Role::Check | Role::Probe | Role::CodecServer | Role::Companion | Role::Replay => Err(HostError::NoRole(role)),
        };
        watcher.abort();
        if let Some(t) = traces {
            t.finish().await;
        }
        result
    }
}

fn encrypting_converter(codec: Arc<tk8s_codec::Codec>) -> DataConverter {
    use temporalio_common::data_converters::{DefaultFailureConverter, PayloadConverter};
    DataConverter::new(PayloadConverter::default(), DefaultFailureConverter::default(), tk8s_codec::SdkCodec(codec))
}

/// What the host takes from its environment beyond settings (given to [`App::run`], never read
/// from the process).
struct HostEnv {
    /// The pod name in Kubernetes.
    hostname: Option<String>,
}

impl HostEnv {
    /// The worker identity Temporal shows: `<pid>@<pod>/<app>/<role>`.
    fn identity(&self, config: &Config, role: &str) -> String {
        let host = self.hostname.as_deref().unwrap_or("localhost");
        format!("{}@{host}/{}/{role}", std::process::id(), config.app_name)
    }
}

/// GET one of our own admin endpoints on loopback: the container HEALTHCHECK, with no curl in
/// a distroless image. Exit 0 on 200, 1 otherwise.
fn probe(config: &Config, endpoint: &str) -> u8 {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], config.admin.port()));
    match tk8s_connect::loopback::get(addr, &format!("/{endpoint}"), Duration::from_secs(3)) {
        Ok((200, _)) => exit::OK,
        Ok((status, _)) => {
            eprintln!("{endpoint}: HTTP {status}");
            exit::FAILURE
        }
        Err(e) => {
            eprintln!("{endpoint}: {addr}: {e}");
            exit::FAILURE
        }
    }
}
