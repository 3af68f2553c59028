//! The settings as `clap` arguments, generated from [`SETTINGS`], so every command's `--help`
//! lists exactly the flags it reads (the settings whose roles include it), grouped by section,
//! with their env var and default.
//!
//! clap is the one parser of the command line: it owns the command tree, help, suggestions and
//! usage errors (exit 64), and [`flags`] hands its result to [`Config::load`](crate::Config::load)
//! as the flag layer, each value with its setting. The loader checks those values like every
//! other layer (a bad one is a configuration error naming `flag --name`, exit 78), so clap takes
//! every value as text.

use crate::role::Role;
use crate::source::Flags;
use crate::spec::{Kind, SETTINGS, Setting};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::PathBuf;

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
        .help_heading(setting.section.heading());
    match setting.kind {
        // `--tls` alone means true, as the loader reads it.
        Kind::Bool => arg.num_args(0..=1).default_missing_value("true"),
        // A negative number is a value to check (and refuse), not a flag.
        Kind::Int { .. } | Kind::Float { .. } => arg.allow_negative_numbers(true),
        _ => arg,
    }
}

fn config_arg() -> Arg {
    Arg::new(CONFIG_ID)
        .long("config")
        .value_name("FILE")
        .action(ArgAction::Set)
        .help(format!("tk8s.toml to read settings from [env: {}]", crate::spec::env::CONFIG))
        .help_heading("Configuration")
}

/// `--config` and one argument per setting `role` reads.
pub fn args(role: Role) -> Vec<Arg> {
    std::iter::once(config_arg()).chain(SETTINGS.iter().filter(|s| s.applies_to(role)).map(arg)).collect()
}

/// `--config` and one argument per setting, for `config show`.
pub fn all_args() -> Vec<Arg> {
    std::iter::once(config_arg()).chain(SETTINGS.iter().map(arg)).collect()
}

/// The settings the user gave, with the `--config` file, for [`Inputs::flags`](crate::Inputs).
/// A setting given twice keeps the last value, as every layer does.
pub fn flags(matches: &ArgMatches) -> Flags {
    let mut given: Vec<(usize, &'static Setting, String)> = Vec::new();
    for s in SETTINGS {
        // Only the settings this command takes are arguments of it (clap panics on others).
        let Ok(Some(values)) = matches.try_get_raw(s.key) else { continue };
        for (value, index) in values.zip(matches.indices_of(s.key).into_iter().flatten()) {
            given.push((index, s, value.to_string_lossy().into_owned()));
        }
    }
    given.sort_by_key(|(i, _, _)| *i);
    let config_file = matches.try_get_one::<String>(CONFIG_ID).ok().flatten().map(PathBuf::from);
    Flags { config_file, settings: given.into_iter().map(|(_, s, v)| (s, v)).collect() }
}

/// `config show`, as every binary that takes settings offers it: every resolved setting and its
/// origin, secrets redacted.
pub fn config_command() -> Command {
    Command::new("config")
        .about("Inspect the configuration")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(Command::new("show").about("Print every resolved setting and its origin (secrets redacted)").args(all_args()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Section;

    fn parse(role: Role, argv: &[&str]) -> Result<Flags, clap::Error> {
        let cmd = clap::Command::new("t").args(args(role));
        cmd.try_get_matches_from(std::iter::once("t").chain(argv.iter().copied())).map(|m| flags(&m))
    }

    fn given(f: &Flags) -> Vec<(&'static str, &str)> {
        f.settings.iter().map(|(s, v)| (s.flag, v.as_str())).collect()
    }

    #[test]
    fn values_go_through_unchecked_in_order_with_their_setting() {
        let f = parse(Role::Worker, &["--task-queue", "q", "--tls", "--max-concurrent-activities=abc", "--config", "x.toml"]).unwrap();
        assert_eq!(given(&f), [("task-queue", "q"), ("tls", "true"), ("max-concurrent-activities", "abc")]);
        assert_eq!(f.config_file, Some(PathBuf::from("x.toml")));
        assert_eq!(given(&parse(Role::Worker, &["--tls", "false"]).unwrap()), [("tls", "false")]);
        assert_eq!(given(&parse(Role::Orchestrator, &["--rate", "-1"]).unwrap()), [("rate", "-1")], "checked later, as a value");
    }

    #[test]
    fn each_role_takes_exactly_its_settings() {
        for role in crate::role::ROLES.iter().map(|r| r.role) {
            let cmd = clap::Command::new("t").args(args(role));
            for s in SETTINGS {
                let has = cmd.get_arguments().any(|a| a.get_long() == Some(s.flag));
                assert_eq!(has, s.applies_to(role), "--{} on {role}", s.flag);
            }
        }
        let cmd = clap::Command::new("t").args(args(Role::CodecServer));
        assert!(cmd.get_arguments().all(|a| a.get_long() != Some("max-concurrent-activities")));
        let scaler = SETTINGS.iter().find(|s| s.section == Section::Scaler).unwrap();
        assert_eq!(arg(scaler).get_help_heading(), Some("Scaler settings"));
    }

    #[test]
    fn a_typo_is_a_usage_error_with_a_suggestion() {
        let e = parse(Role::Worker, &["--task-queu", "x"]).unwrap_err().to_string();
        assert!(e.contains("--task-queue"), "{e}");
    }
}
