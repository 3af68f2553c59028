//! The `tk8s` binary as a user meets it: `--help` on every command (exit 0, text kept as a
//! snapshot so a change to it is seen in review), usage errors (exit 64), completions, and the
//! codec server's refusal to run unprotected on a reachable address.

use std::path::Path;
use std::process::{Command, Output};
use tk8s_testkit::{Proc, assert_snapshot, wait_until};

fn tk8s(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tk8s")).args(args).env_clear().output().expect("run tk8s")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

const COMMANDS: &[&[&str]] = &[
    &[],
    &["new"],
    &["init"],
    &["render"],
    &["lint"],
    &["deploy"],
    &["restart"],
    &["status"],
    &["image"],
    &["image", "build"],
    &["codec-server"],
    &["config"],
    &["config", "show"],
    &["completions"],
];

#[test]
fn every_command_answers_help_with_exit_0_and_the_text_is_kept() {
    for command in COMMANDS {
        for flag in ["--help", "-h"] {
            let args: Vec<&str> = command.iter().copied().chain([flag]).collect();
            let out = tk8s(&args);
            assert_eq!(out.status.code(), Some(0), "tk8s {}: {}", args.join(" "), text(&out));
            assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: tk8s"), "tk8s {}: {}", args.join(" "), text(&out));
        }
        let out = tk8s(&command.iter().copied().chain(["--help"]).collect::<Vec<_>>());
        let name = if command.is_empty() { "tk8s".to_string() } else { format!("tk8s-{}", command.join("-")) };
        let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.txt"));
        assert_snapshot(&snapshot, &String::from_utf8_lossy(&out.stdout));
    }
    let out = tk8s(&["--version"]);
    assert_eq!(
        (out.status.code(), String::from_utf8_lossy(&out.stdout).trim().to_string()),
        (Some(0), format!("tk8s {}", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn usage_errors_exit_64_with_a_suggestion() {
    for (args, needle) in [
        (&["rendr"][..], "similar subcommand exists: 'render'"),
        (&["render", "--config", "x.toml"][..], "--out <DIR>"),
        (&["lint"][..], "<PATH>"),
        (&["codec-server", "--codec-server-prot", "1"][..], "--codec-server-port"),
        (&[][..], "Usage: tk8s"),
    ] {
        let out = tk8s(args);
        assert_eq!(out.status.code(), Some(64), "tk8s {args:?}: {}", text(&out));
        assert!(text(&out).contains(needle), "tk8s {args:?} should mention {needle:?}:\n{}", text(&out));
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tk8s")).args(["init", "--help"]).current_dir(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "init --help wrote a file");
}

/// The cluster commands check what they can before contacting a cluster, and say where the
/// cluster configuration was looked for when there is none.
#[test]
fn cluster_commands_report_bad_flags_and_a_missing_kubeconfig_before_touching_a_cluster() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/greeting/deploy.toml");
    let config = config.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tk8s"))
            .args(args)
            .env_clear()
            .env("HOME", dir.path())
            .env("KUBECONFIG", dir.path().join("missing-kubeconfig"))
            .output()
            .unwrap()
    };
    for (args, code, needle) in [
        (vec!["deploy", "--config", config, "--env", "staging"], 64, "no such environment (it has: dev, prod)"),
        (vec!["deploy", "--config", config, "--image", "registry.example.com/greeting"], 64, "expected REPOSITORY:TAG"),
        (vec!["deploy", "--config", config, "--wait", "soon"], 64, "--wait \"soon\" is not a duration"),
        (vec!["deploy", "--config", "/nonexistent/deploy.toml"], 66, "cannot read /nonexistent/deploy.toml"),
        (vec!["status", "--config", config], 78, "hint: set KUBECONFIG"),
        (vec!["restart", "--config", config, "--role", "worker"], 78, "cannot configure a Kubernetes client"),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(code), "tk8s {args:?}: {}", text(&out));
        assert!(text(&out).contains(needle), "tk8s {args:?} should mention {needle:?}:\n{}", text(&out));
    }
}

#[test]
fn completions_for_common_shells() {
    for shell in ["bash", "zsh", "fish"] {
        let out = tk8s(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("codec-server"), "{shell}");
    }
}

fn keys_dir(dir: &Path) -> String {
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("k1.key"), "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    std::fs::write(keys.join("active"), "k1").unwrap();
    keys.display().to_string()
}

#[test]
fn codec_server_without_auth_on_a_reachable_address_exits_78_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys_dir(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_tk8s")).arg("codec-server").env_clear().env("TK8S_CODEC_KEYS_DIR", &keys).output().unwrap();
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    for needle in [
        "default: codec_server.bind = 0.0.0.0",
        "decrypt every payload",
        "TK8S_CODEC_SERVER_TOKENS_FILE",
        "TK8S_CODEC_SERVER_JWKS_URL",
        "TK8S_CODEC_SERVER_BIND",
        "TK8S_CODEC_SERVER_ALLOW_UNAUTHENTICATED=true",
    ] {
        assert!(text(&out).contains(needle), "{needle:?} missing:\n{}", text(&out));
    }
}

#[test]
fn codec_server_opted_out_of_auth_starts_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys_dir(dir.path());
    let env = [
        ("TK8S_CODEC_KEYS_DIR", keys.as_str()),
        ("TK8S_CODEC_SERVER_ALLOW_UNAUTHENTICATED", "true"),
        ("TK8S_CODEC_SERVER_PORT", "0"),
        ("TK8S_LOG_FORMAT", "json"),
    ];
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut p = Proc::spawn(Path::new(env!("CARGO_BIN_EXE_tk8s")), &["codec-server"], &env);
    assert!(wait_until(std::time::Duration::from_secs(20), || p.output().contains("codec server listening")), "{}", p.output());
    assert!(p.output().contains("WITHOUT authentication"), "{}", p.output());
    assert!(p.is_running());
}
