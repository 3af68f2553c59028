//! Bad configuration, table-driven, against the real binary: every case must exit with 78
//! (EX_CONFIG) or 64 (EX_USAGE), name where the bad value came from, never panic, and never
//! echo a secret. Nothing here needs a Temporal server: validation happens before dialling.
//!
//! The bulk of the configuration rules are tested in process in crates/config/tests/rules.rs;
//! these are what only the binary shows: exit codes and output end to end, clap's usage errors,
//! and what the host checks after the loader (PEM contents, a key that does not match its
//! certificate, codec key material).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use tk8s_testkit::TestCa;

const SECRET: &str = "sekrit-api-key-0123456789";

struct Case {
    name: &'static str,
    /// Extra env vars; `{dir}` is replaced by the case's temp directory.
    env: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    /// Files to create in the temp dir: (name, contents).
    files: &'static [(&'static str, &'static str)],
    code: i32,
    /// Substrings the error output must contain (the source, what was expected).
    expect: &'static [&'static str],
}

const fn case(name: &'static str, env: &'static [(&'static str, &'static str)], expect: &'static [&'static str]) -> Case {
    Case { name, env, args: &[], files: &[], code: 78, expect }
}

const CASES: &[Case] = &[
    case(
        "int not a number",
        &[("TK8S_MAX_CONCURRENT_ACTIVITIES", "ten")],
        &["env TK8S_MAX_CONCURRENT_ACTIVITIES", "\"ten\"", "whole number from 1 to 10000"],
    ),
    case(
        "cert and key do not match",
        &[("TEMPORAL_TLS_CLIENT_CERT_PATH", "{dir}/good.crt"), ("TEMPORAL_TLS_CLIENT_KEY_PATH", "{dir}/other.key")],
        &["other.key does not match", "good.crt"],
    ),
    case(
        "cert not PEM",
        &[("TEMPORAL_TLS_CLIENT_CERT_PATH", "{dir}/garbage.txt"), ("TEMPORAL_TLS_CLIENT_KEY_PATH", "{dir}/good.key")],
        &["garbage.txt", "certificate"],
    ),
    case("CA not PEM", &[("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "{dir}/garbage.txt")], &["temporal.tls_server_ca_cert_path", "garbage.txt"]),
    Case {
        name: "file: unknown key",
        env: &[("TK8S_CONFIG", "{dir}/tk8s.toml")],
        args: &[],
        files: &[("tk8s.toml", "# comment\n[worker]\ntask_queu = \"x\"\n")],
        code: 78,
        expect: &["tk8s.toml:3", "unknown setting `worker.task_queu`", "did you mean `worker.task_queue`?"],
    },
    Case {
        name: "flag: bad value",
        env: &[],
        args: &["--max-concurrent-activities=abc"],
        files: &[],
        code: 78,
        expect: &["flag --max-concurrent-activities", "\"abc\""],
    },
    Case {
        name: "flag: unknown",
        env: &[],
        args: &["--task-queu", "x"],
        files: &[],
        code: 64,
        expect: &["unexpected argument '--task-queu'", "a similar argument exists: '--task-queue'"],
    },
    Case {
        name: "flag: missing value",
        env: &[],
        args: &["--task-queue"],
        files: &[],
        code: 64,
        expect: &["a value is required for '--task-queue"],
    },
    case("codec key too short", &[("TK8S_CODEC_KEYS_DIR", "{dir}/keys-short")], &["short.key: key decodes to 5 bytes", "exactly 32"]),
    case(
        "codec key dir without active key",
        &[("TK8S_CODEC_KEYS_DIR", "{dir}/keys-noactive")],
        &["no `active` file", "hint: write the active key id"],
    ),
    case(
        "codec active key unknown",
        &[("TK8S_CODEC_KEYS_DIR", "{dir}/keys-noactive"), ("TK8S_CODEC_ACTIVE_KEY", "k9")],
        &["active key id", "k9", "is not in the key ring (known: k1)"],
    ),
    case("codec inline keys malformed", &[("TK8S_CODEC_KEYS", SECRET)], &["entry 1 is not id=key", "TK8S_CODEC_KEYS"]),
    case(
        "several problems at once",
        &[("TK8S_ADMIN_PORT", "x"), ("TK8S_LOG_LEVEL", "loud")],
        &["2 problems", "env TK8S_ADMIN_PORT", "env TK8S_LOG_LEVEL"],
    ),
];

fn prepare_files(dir: &Path) {
    let ca = TestCa::new("config-test CA");
    let good = ca.leaf("worker", &["worker"]);
    let other = ca.leaf("other", &["other"]);
    std::fs::write(dir.join("good.crt"), &good.cert_pem).unwrap();
    std::fs::write(dir.join("good.key"), &good.key_pem).unwrap();
    std::fs::write(dir.join("other.key"), &other.key_pem).unwrap();
    std::fs::write(dir.join("garbage.txt"), "this is not PEM\n").unwrap();
    std::fs::write(dir.join("empty.key"), "\n").unwrap();
    std::fs::write(dir.join("api.key"), SECRET).unwrap();
    std::fs::create_dir_all(dir.join("halfdir")).unwrap();
    std::fs::create_dir_all(dir.join("keys-short")).unwrap();
    std::fs::write(dir.join("keys-short/short.key"), "c2hvcnQ=").unwrap();
    std::fs::write(dir.join("keys-short/active"), "short").unwrap();
    std::fs::create_dir_all(dir.join("keys-noactive")).unwrap();
    std::fs::write(dir.join("keys-noactive/k1.key"), "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    std::fs::write(dir.join("halfdir/tls.crt"), &good.cert_pem).unwrap();
}

#[test]
fn every_bad_config_exits_with_a_clear_error_naming_its_source() {
    assert!(CASES.len() >= 12, "the table must keep at least 12 cases");
    let mut failures = Vec::new();
    for case in CASES {
        let dir = tempfile::tempdir().unwrap();
        prepare_files(dir.path());
        for (name, body) in case.files {
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        let sub = |s: &str| s.replace("{dir}", &dir.path().display().to_string());
        // Nothing listens on this address: a case that got past validation would fail to
        // connect with exit 1, not 78.
        let mut env: BTreeMap<String, String> = tk8s_testkit::app_env("127.0.0.1:1");
        env.insert("TK8S_CONNECT_TIMEOUT".into(), "200ms".into());
        for (k, v) in case.env {
            env.insert(k.to_string(), sub(v));
        }
        let args: Vec<String> = std::iter::once("worker".to_string()).chain(case.args.iter().map(|a| sub(a))).collect();
        let out = Command::new(env!("CARGO_BIN_EXE_greeting")).args(&args).env_clear().envs(&env).current_dir(dir.path()).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let mut problems = Vec::new();
        if out.status.code() != Some(case.code) {
            problems.push(format!("exit {:?}, expected {}", out.status.code(), case.code));
        }
        if text.contains("panicked") {
            problems.push("panicked".into());
        }
        if text.contains(SECRET) {
            problems.push("echoed the secret".into());
        }
        for e in case.expect {
            if !text.contains(&sub(e)) {
                problems.push(format!("output lacks {e:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("[{}] {}\n--- output ---\n{text}", case.name, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), CASES.len(), failures.join("\n"));
}

#[test]
fn config_show_prints_origins_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tk8s.toml"), "[worker]\nmax_concurrent_activities = 7\n").unwrap();
    let mut env = tk8s_testkit::app_env("127.0.0.1:7233");
    env.insert("TEMPORAL_API_KEY".into(), SECRET.into());
    env.insert("TEMPORAL_GRPC_META_X_TOKEN".into(), "header-secret-value".into());
    env.insert("TK8S_TASK_QUEUE".into(), "from-env".into());
    let out = Command::new(env!("CARGO_BIN_EXE_greeting"))
        .args(["config", "show", "--config", "tk8s.toml", "--shutdown-grace", "25s"])
        .env_clear()
        .envs(&env)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let line = |key: &str| text.lines().find(|l| l.starts_with(&format!("{key} "))).unwrap_or_default().to_string();
    assert!(
        line("worker.max_concurrent_activities").contains("7  [") && line("worker.max_concurrent_activities").contains("tk8s.toml:2]"),
        "{text}"
    );
    assert!(line("worker.task_queue").contains("from-env  [env TK8S_TASK_QUEUE]"), "{text}");
    assert!(line("shutdown.grace").contains("25s  [flag --shutdown-grace]"), "{text}");
    assert!(line("worker.max_concurrent_workflow_tasks").contains("100  [default]"), "{text}");
    assert!(line("orchestrator.input").contains("World  [app default]"), "{text}");
    assert!(line("temporal.api_key").contains("<redacted>  [env TEMPORAL_API_KEY]"), "{text}");
    assert!(line("temporal.tls").contains("(unset)"), "{text}");
    assert!(text.contains("grpc_meta.x-token"), "{text}");
    assert!(!text.contains(SECRET) && !text.contains("header-secret-value"), "secret leaked:\n{text}");
    assert_eq!(text.lines().count(), tk8s_config_settings_count() + 1, "{text}");
}

fn tk8s_config_settings_count() -> usize {
    tk8s_config::spec::SETTINGS.len()
}
