//! The hosted app's command line, on clap: `worker`, `orchestrator`, `check`, `probe`,
//! `config show`, each taking every setting as a flag (generated from tk8s-config's table).
//! `--help` works on every command; usage errors exit 64 with clap's suggestions.

use clap::{Arg, ArgMatches, Command};
use tk8s_config::cli as settings;

/// What to do, as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    Run(crate::Role),
    Check,
    Probe(String),
    ConfigShow,
}

const AFTER_HELP: &str = "Settings come from, lowest first: defaults < temporal.toml profile < tk8s.toml (--config or TK8S_CONFIG) < environment < flags.\n\
Exit codes: 0 ok, 1 failure, 64 usage error, 70 shutdown hard deadline hit, 78 configuration error, 130 second signal.";

pub fn command(app: &str) -> Command {
    let with_settings = |c: Command| c.args(settings::args()).after_help(AFTER_HELP);
    Command::new(app.to_string())
        .about(format!("{app}: a Temporal application hosted by temporal-k8s"))
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .after_help(AFTER_HELP)
        .subcommand(with_settings(Command::new("worker").about("Poll the task queue and run workflows and activities")))
        .subcommand(with_settings(Command::new("orchestrator").about("Start workflows (mode: once, interval, rate, schedule)")))
        .subcommand(with_settings(
            Command::new("scaler")
                .about("Serve a scaling signal for the task queue: desired worker replicas, to KEDA (gRPC) and on /metrics"),
        ))
        .subcommand(with_settings(
            Command::new("check").about("Exit 0 once Temporal answers and the namespace exists (for init containers)"),
        ))
        .subcommand(with_settings(
            Command::new("probe")
                .about("Exit 0 if this host's own admin endpoint answers 200 (a container HEALTHCHECK without curl)")
                .arg(Arg::new("endpoint").value_parser(["livez", "readyz", "startupz"]).default_value("readyz")),
        ))
        .subcommand(settings::config_command().mut_subcommand("show", |c| c.after_help(AFTER_HELP)))
}

/// The parsed command and the settings flags given to it.
pub fn parse(command: Command, args: &[String]) -> Result<(Invocation, Vec<String>), clap::Error> {
    let name = command.get_name().to_string();
    let matches = command.try_get_matches_from(std::iter::once(name).chain(args.iter().cloned()))?;
    let (invocation, sub): (Invocation, &ArgMatches) = match matches.subcommand() {
        Some(("worker", m)) => (Invocation::Run(crate::Role::Worker), m),
        Some(("orchestrator", m)) => (Invocation::Run(crate::Role::Orchestrator), m),
        Some(("scaler", m)) => (Invocation::Run(crate::Role::Scaler), m),
        Some(("check", m)) => (Invocation::Check, m),
        Some(("probe", m)) => (Invocation::Probe(m.get_one::<String>("endpoint").cloned().unwrap_or_default()), m),
        Some(("config", m)) => match m.subcommand() {
            Some(("show", m)) => (Invocation::ConfigShow, m),
            _ => unreachable!("clap requires a config subcommand"),
        },
        _ => unreachable!("clap requires a subcommand"),
    };
    Ok((invocation, settings::given(sub)))
}

/// Print clap's help, version or usage error; the exit code (0 for help and version, 64 for
/// a usage error, a missing command included).
pub fn report(e: &clap::Error) -> u8 {
    let _ = e.print();
    use clap::error::ErrorKind::*;
    match e.kind() {
        DisplayHelp | DisplayVersion => 0,
        _ => 64,
    }
}
