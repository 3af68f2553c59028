//! The hosted app's command line, on clap: one command per row of tk8s-config's role table that
//! an app offers (`worker`, `orchestrator`, `scaler`, `check`, `probe`) plus `config show`, each
//! taking exactly the settings its role reads as flags. `--help` works on every command; usage
//! errors exit 64 with clap's suggestions.

use clap::{Arg, ArgMatches, Command};
use tk8s_config::role::{Binary, Role};
use tk8s_config::{Flags, cli as settings, exit};

/// What to do, as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    Role(Role),
    /// `probe ENDPOINT`.
    Probe(String),
    Replay(crate::replay::ReplayArgs),
    ConfigShow,
    /// `config defaults`: what the code defines, as JSON (`--output json`) or text.
    ConfigDefaults {
        json: bool,
    },
}

fn after_help() -> String {
    format!(
        "Settings come from, lowest first: defaults < temporal.toml profile < tk8s.toml (--config or {}) < environment < flags.\n{}",
        tk8s_config::CONFIG_ENV,
        exit::HELP
    )
}

pub fn command(app: &str) -> Command {
    let mut cmd = Command::new(app.to_string())
        .about(format!("{app}: a Temporal application hosted by temporal-k8s"))
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .after_help(after_help());
    for spec in Role::of(Binary::App) {
        let mut sub = Command::new(spec.name).about(spec.about).args(settings::args(spec.role)).after_help(after_help());
        if spec.role == Role::Probe {
            sub = sub.arg(Arg::new("endpoint").value_parser(["livez", "readyz", "startupz"]).default_value("readyz"));
        }
        if spec.role == Role::Replay {
            sub = sub.args(replay_args());
        }
        cmd = cmd.subcommand(sub);
    }
    let defaults = Command::new("defaults")
        .about("Print the defaults this app's code defines (name, task queue, workflow input, every setting's default); tk8s render compares its deploy config with them")
        .arg(Arg::new("output").long("output").value_parser(["text", "json"]).default_value("text").help("Output format"));
    cmd.subcommand(settings::config_command().mut_subcommand("show", |c| c.after_help(after_help())).subcommand(defaults))
}

fn replay_args() -> Vec<Arg> {
    use clap::{ArgAction, value_parser};
    vec![
        Arg::new("from")
            .long("from")
            .value_name("PATH")
            .action(ArgAction::Append)
            .value_parser(value_parser!(std::path::PathBuf))
            .help("History files (`temporal workflow show --output json`) or directories of them (what --save writes); without --server, only these"),
        Arg::new("server")
            .long("server")
            .action(ArgAction::SetTrue)
            .help("Also replay from the namespace (the default without --from): open workflows on the task queue, then recently closed ones"),
        Arg::new("save")
            .long("save")
            .value_name("DIR")
            .value_parser(value_parser!(std::path::PathBuf))
            .help("Keep the histories fetched from the namespace here (<type>/<id>__<run>.json): a corpus to replay in CI"),
        Arg::new("output").long("output").value_parser(["text", "json"]).default_value("text").help("The report's format"),
    ]
}

/// The parsed command and the settings flags given to it.
pub fn parse(command: Command, args: &[String]) -> Result<(Invocation, Flags), clap::Error> {
    let name = command.get_name().to_string();
    let matches = command.try_get_matches_from(std::iter::once(name).chain(args.iter().cloned()))?;
    let Some((sub, m)) = matches.subcommand() else {
        return Err(clap::Error::new(clap::error::ErrorKind::MissingSubcommand));
    };
    let (invocation, sub): (Invocation, &ArgMatches) = match (Role::from_name(sub), m.subcommand()) {
        (Some(Role::Probe), _) => (Invocation::Probe(m.get_one::<String>("endpoint").cloned().unwrap_or_default()), m),
        (Some(Role::Replay), _) => {
            let from: Vec<std::path::PathBuf> = m.get_many("from").into_iter().flatten().cloned().collect();
            let args = crate::replay::ReplayArgs {
                server: m.get_flag("server") || from.is_empty(),
                from,
                save: m.get_one("save").cloned(),
                json: m.get_one::<String>("output").is_some_and(|o| o == "json"),
            };
            (Invocation::Replay(args), m)
        }
        (Some(role), _) => (Invocation::Role(role), m),
        (None, Some(("show", show))) => (Invocation::ConfigShow, show),
        (None, Some(("defaults", d))) => {
            return Ok((Invocation::ConfigDefaults { json: d.get_one::<String>("output").is_some_and(|o| o == "json") }, Flags::default()));
        }
        (None, _) => return Err(clap::Error::new(clap::error::ErrorKind::MissingSubcommand)),
    };
    Ok((invocation, settings::flags(sub)))
}

/// Print clap's help, version or usage error; the exit code (0 for help and version, 64 for
/// a usage error, a missing command included).
pub fn report(e: &clap::Error) -> u8 {
    let _ = e.print();
    use clap::error::ErrorKind::*;
    match e.kind() {
        DisplayHelp | DisplayVersion => exit::OK,
        _ => exit::USAGE,
    }
}
