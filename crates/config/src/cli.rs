//! The settings as `clap` arguments, generated from [`SETTINGS`], so every binary's `--help`
//! lists exactly the flags the loader accepts, with their env var and default.
//!
//! clap owns the command tree, help, suggestions and usage errors; the values a user typed go
//! on to [`Config::load`](crate::Config::load) as flags, whose own parser records their origin
//! and checks them like every other layer (a bad value is a configuration error naming
//! `flag --name`, exit 78, not a usage error). clap therefore takes every value as text.

use crate::spec::{Kind, SETTINGS, Setting};
use clap::{Arg, ArgAction, ArgMatches, Command};

/// The id of the `--config` argument.
const CONFIG_ID: &str = "config";

fn value_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Text { .. } => "TEXT",
        Kind::Int { .. } => "N",
        Kind::Float { .. } => "NUMBER",
        Kind::Bool => "BOOL",
        Kind::Duration { .. } => "DURATION",
        Kind::Choice(_) => "WORD",
        Kind::File => "FILE",
        Kind::Dir => "DIR",
        Kind::Ip => "IP",
        Kind::Port => "PORT",
        Kind::List => "LIST",
    }
}

/// First sentence of a setting's doc, for the short help.
fn short_doc(doc: &str) -> String {
    let first = doc.split(". ").next().unwrap_or(doc).trim_end_matches('.');
    first.replace('`', "")
}

fn arg(setting: &'static Setting) -> Arg {
    let mut notes = vec![format!("env: {}", setting.env)];
    if let Kind::Choice(words) = setting.kind {
        notes.push(format!("one of: {}", words.join(", ")));
    }
    if let Some(d) = setting.default {
        notes.push(format!("default: {d}"));
    }
    let arg = Arg::new(setting.key)
        .long(setting.flag)
        .value_name(value_name(setting.kind))
        .action(ArgAction::Set)
        .help(format!("{} [{}]", short_doc(setting.doc), notes.join("] [")))
        .long_help(format!("{}\n\n[{}]", setting.doc.replace('`', ""), notes.join("] [")))
        .help_heading(heading(setting));
    match setting.kind {
        // `--tls` alone means true, as the loader reads it.
        Kind::Bool => arg.num_args(0..=1).default_missing_value("true"),
        // A negative number is a value to check (and refuse), not a flag.
        Kind::Int { .. } | Kind::Float { .. } => arg.allow_negative_numbers(true),
        _ => arg,
    }
}

fn heading(setting: &Setting) -> &'static str {
    match setting.key.split('.').next().unwrap_or("") {
        "temporal" => "Connection settings",
        "worker" => "Worker settings",
        "shutdown" => "Shutdown settings",
        "admin" | "readiness" => "Admin server settings",
        "log" => "Logging settings",
        "orchestrator" => "Orchestrator settings",
        "codec" => "Payload encryption settings",
        "codec_server" => "Codec server settings",
        _ => "Other settings",
    }
}

/// `--config` and one argument per setting, for a command that loads configuration.
pub fn args() -> Vec<Arg> {
    let config = Arg::new(CONFIG_ID)
        .long("config")
        .value_name("FILE")
        .action(ArgAction::Set)
        .help(format!("tk8s.toml to read settings from [env: {}]", crate::spec::env::CONFIG))
        .help_heading("Configuration");
    std::iter::once(config).chain(SETTINGS.iter().map(arg)).collect()
}

/// The settings the user gave, as `--flag=value` in the order given, for
/// [`Inputs::args`](crate::Inputs::args).
pub fn given(matches: &ArgMatches) -> Vec<String> {
    let mut given: Vec<(usize, String)> = Vec::new();
    let mut take = |id: &str, flag: &str| {
        if let (Some(values), Some(indices)) = (matches.get_raw(id), matches.indices_of(id)) {
            for (value, index) in values.zip(indices) {
                given.push((index, format!("--{flag}={}", value.to_string_lossy())));
            }
        }
    };
    take(CONFIG_ID, "config");
    for s in SETTINGS {
        take(s.key, s.flag);
    }
    given.sort_by_key(|(i, _)| *i);
    given.into_iter().map(|(_, a)| a).collect()
}

/// `config show`, as every binary that takes settings offers it: every resolved setting and its
/// origin, secrets redacted.
pub fn config_command() -> Command {
    Command::new("config")
        .about("Inspect the configuration")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(Command::new("show").about("Print every resolved setting and its origin (secrets redacted)").args(args()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Vec<String>, clap::Error> {
        let cmd = clap::Command::new("t").args(args());
        cmd.try_get_matches_from(std::iter::once("t").chain(argv.iter().copied())).map(|m| given(&m))
    }

    #[test]
    fn every_setting_is_a_flag_and_values_pass_through_unchecked_in_order() {
        let got = parse(&["--task-queue", "q", "--tls", "--max-concurrent-activities=abc", "--config", "x.toml"]).unwrap();
        assert_eq!(got, ["--task-queue=q", "--tls=true", "--max-concurrent-activities=abc", "--config=x.toml"]);
        assert_eq!(parse(&["--tls", "false"]).unwrap(), ["--tls=false"]);
        assert_eq!(parse(&["--rate", "-1"]).unwrap(), ["--rate=-1"], "checked later, as a value");
        let cmd = clap::Command::new("t").args(args());
        for s in SETTINGS {
            assert!(cmd.get_arguments().any(|a| a.get_long() == Some(s.flag)), "--{} missing", s.flag);
        }
    }

    #[test]
    fn a_typo_is_a_usage_error_with_a_suggestion() {
        let e = parse(&["--task-queu", "x"]).unwrap_err().to_string();
        assert!(e.contains("--task-queue"), "{e}");
    }
}
