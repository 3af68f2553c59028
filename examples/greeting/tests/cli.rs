//! The hosted app's command line (from tk8s-host, on clap): `--help` on every command answers
//! with exit 0 and is kept as a snapshot; usage errors exit 64; `probe` refuses unknown
//! endpoints as a usage error.

use std::path::Path;
use std::process::{Command, Output};

fn greeting(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_greeting")).args(args).env_clear().output().expect("run greeting")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn every_command_answers_help_with_exit_0_and_the_text_is_kept() {
    for command in [
        &[][..],
        &["worker"],
        &["orchestrator"],
        &["scaler"],
        &["check"],
        &["probe"],
        &["replay"],
        &["config"],
        &["config", "show"],
        &["config", "defaults"],
    ] {
        for flag in ["--help", "-h"] {
            let args: Vec<&str> = command.iter().copied().chain([flag]).collect();
            let out = greeting(&args);
            assert_eq!(out.status.code(), Some(0), "greeting {}: {}", args.join(" "), text(&out));
        }
        let out = greeting(&command.iter().copied().chain(["--help"]).collect::<Vec<_>>());
        let name = if command.is_empty() { "greeting".to_string() } else { format!("greeting-{}", command.join("-")) };
        let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.txt"));
        tk8s_testkit::assert_snapshot(&snapshot, &String::from_utf8_lossy(&out.stdout));
    }
    // Each command lists exactly the settings its role reads; `config show` lists them all.
    use tk8s_config::role::{Binary, Role};
    let listed = |help: &str, flag: &str| help.contains(&format!("--{flag} "));
    for role in Role::of(Binary::App) {
        let help = String::from_utf8_lossy(&greeting(&[role.name, "--help"]).stdout).to_string();
        for s in tk8s_config::spec::SETTINGS {
            assert_eq!(listed(&help, s.flag), s.applies_to(role.role), "{} --help and --{}", role.name, s.flag);
            assert!(!listed(&help, s.flag) || help.contains(s.env), "{} --help shows --{} without {}", role.name, s.flag, s.env);
        }
    }
    let show = String::from_utf8_lossy(&greeting(&["config", "show", "--help"]).stdout).to_string();
    assert!(tk8s_config::spec::SETTINGS.iter().all(|s| listed(&show, s.flag)), "config show --help lacks a setting");
    let scaler = String::from_utf8_lossy(&greeting(&["scaler", "--help"]).stdout).to_string();
    assert!(scaler.contains("Scaler settings:\n      --scaler-bind"), "{scaler}");
}

#[test]
fn usage_errors_exit_64() {
    for (args, needle) in [
        (&["wrker"][..], "similar subcommand exists: 'worker'"),
        (&["probe", "healthz"][..], "possible values: livez, readyz, startupz"),
        (&["config"][..], "Usage: greeting config"),
        (&[][..], "Usage: greeting"),
    ] {
        let out = greeting(args);
        assert_eq!(out.status.code(), Some(64), "greeting {args:?}: {}", text(&out));
        assert!(text(&out).contains(needle), "greeting {args:?} should mention {needle:?}:\n{}", text(&out));
    }
}
