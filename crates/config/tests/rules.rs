//! The configuration rules, table-driven, through the loader in process: every case must be
//! refused with exit code 78, name where the bad value came from (env, file:line, flag), say what
//! was expected, and never echo a secret. Command lines go through the same clap parse as a
//! binary's (`cli::args` then `cli::flags`). What only the host can check (PEM contents, a key
//! that does not match its certificate, codec key material) and what clap refuses (exit 64) are
//! tested on the binary in examples/greeting/tests/config_errors.rs.

use std::collections::BTreeMap;
use std::path::Path;
use tk8s_config::{AppDefaults, Config, ConfigError, Inputs, Role, cli};

const SECRET: &str = "sekrit-api-key-0123456789";

struct Case {
    name: &'static str,
    /// Env vars; `{dir}` is replaced by the case's temp directory.
    env: &'static [(&'static str, &'static str)],
    /// `worker` command-line arguments.
    args: &'static [&'static str],
    /// Files to create in the temp dir: (name, contents).
    files: &'static [(&'static str, &'static str)],
    /// A `tk8s.toml` to create in the temp dir.
    toml: Option<&'static str>,
    /// Substrings the error must contain (the source, what was expected).
    expect: &'static [&'static str],
}

const fn env(name: &'static str, env: &'static [(&'static str, &'static str)], expect: &'static [&'static str]) -> Case {
    Case { name, env, args: &[], files: &[], toml: None, expect }
}

const fn file(name: &'static str, body: &'static str, expect: &'static [&'static str]) -> Case {
    Case { name, env: &[("TK8S_CONFIG", "{dir}/tk8s.toml")], args: &[], files: &[], toml: Some(body), expect }
}

const CASES: &[Case] = &[
    env(
        "int not a number",
        &[("TK8S_MAX_CONCURRENT_ACTIVITIES", "ten")],
        &["env TK8S_MAX_CONCURRENT_ACTIVITIES", "\"ten\"", "whole number from 1 to 10000"],
    ),
    env("int below range", &[("TK8S_MAX_CONCURRENT_ACTIVITIES", "0")], &["env TK8S_MAX_CONCURRENT_ACTIVITIES", "from 1 to 10000"]),
    env("pollers below 2", &[("TK8S_WORKFLOW_POLLERS", "1")], &["env TK8S_WORKFLOW_POLLERS", "from 2 to 100"]),
    env("port out of range", &[("TK8S_ADMIN_PORT", "70000")], &["env TK8S_ADMIN_PORT", "port number"]),
    env("bind not an IP", &[("TK8S_ADMIN_BIND", "not-an-ip")], &["env TK8S_ADMIN_BIND", "IP address"]),
    env("duration without unit", &[("TK8S_SHUTDOWN_GRACE", "20")], &["env TK8S_SHUTDOWN_GRACE", "hint: write a number with a unit"]),
    env("duration over max", &[("TK8S_SHUTDOWN_GRACE", "2h")], &["env TK8S_SHUTDOWN_GRACE", "duration from 0s to 1h"]),
    env("log format unknown", &[("TK8S_LOG_FORMAT", "yaml")], &["env TK8S_LOG_FORMAT", "one of auto, json, text"]),
    env("log level unknown", &[("TK8S_LOG_LEVEL", "verbose")], &["env TK8S_LOG_LEVEL", "one of trace"]),
    env("mode unknown", &[("TK8S_ORCHESTRATOR_MODE", "burst")], &["env TK8S_ORCHESTRATOR_MODE", "once, interval, rate, schedule"]),
    env("rate zero", &[("TK8S_ORCHESTRATOR_RATE", "0")], &["env TK8S_ORCHESTRATOR_RATE", "greater than 0"]),
    env("rate negative", &[("TK8S_ORCHESTRATOR_RATE", "-1")], &["env TK8S_ORCHESTRATOR_RATE"]),
    env("task queue empty", &[("TK8S_TASK_QUEUE", " ")], &["env TK8S_TASK_QUEUE", "non-empty"]),
    env("task queue with space", &[("TK8S_TASK_QUEUE", "my queue")], &["env TK8S_TASK_QUEUE", "without whitespace"]),
    env("unknown TK8S variable", &[("TK8S_TASKQUEUE", "x")], &["env TK8S_TASKQUEUE", "did you mean TK8S_TASK_QUEUE?"]),
    env("address without port", &[("TEMPORAL_ADDRESS", "localhost")], &["env TEMPORAL_ADDRESS", "host:port"]),
    env("address with scheme", &[("TEMPORAL_ADDRESS", "http://temporal:7233")], &["env TEMPORAL_ADDRESS", "host:port"]),
    env("tls not a bool", &[("TEMPORAL_TLS", "maybe")], &["env TEMPORAL_TLS", "true or false"]),
    env(
        "api key over plaintext",
        &[("TEMPORAL_TLS", "false"), ("TEMPORAL_API_KEY", SECRET)],
        &["env TEMPORAL_TLS", "API key", "plaintext"],
    ),
    env(
        "client cert missing file",
        &[("TEMPORAL_TLS_CLIENT_CERT_PATH", "/nonexistent/tls.crt")],
        &["env TEMPORAL_TLS_CLIENT_CERT_PATH", "/nonexistent/tls.crt does not exist"],
    ),
    env(
        "cert without key",
        &[("TEMPORAL_TLS_CLIENT_CERT_PATH", "{dir}/good.crt")],
        &["env TEMPORAL_TLS_CLIENT_CERT_PATH", "no client key", "set TEMPORAL_TLS_CLIENT_KEY_PATH too"],
    ),
    env(
        "key without cert",
        &[("TEMPORAL_TLS_CLIENT_KEY_PATH", "{dir}/good.key")],
        &["env TEMPORAL_TLS_CLIENT_KEY_PATH", "no client certificate", "set TEMPORAL_TLS_CLIENT_CERT_PATH too"],
    ),
    env("cert dir missing", &[("TK8S_TLS_CERT_DIR", "/nonexistent/tls")], &["env TK8S_TLS_CERT_DIR", "not one"]),
    env(
        "cert dir without key",
        &[("TK8S_TLS_CERT_DIR", "{dir}/halfdir")],
        &["env TK8S_TLS_CERT_DIR", "has no tls.key", "kubernetes.io/tls"],
    ),
    env(
        "cert dir plus a cert elsewhere",
        &[
            ("TK8S_TLS_CERT_DIR", "{dir}/halfdir"),
            ("TEMPORAL_TLS_CLIENT_CERT_PATH", "{dir}/good.crt"),
            ("TEMPORAL_TLS_CLIENT_KEY_PATH", "{dir}/good.key"),
        ],
        &["env TK8S_TLS_CERT_DIR", "not in it"],
    ),
    env(
        "jwks over plain http",
        &[("TK8S_CODEC_SERVER_JWKS_URL", "http://idp.example.com/jwks"), ("TK8S_CODEC_SERVER_JWT_AUDIENCE", "ui")],
        &["env TK8S_CODEC_SERVER_JWKS_URL", "not an https:// URL", "loopback only"],
    ),
    env(
        "jwks without audience",
        &[("TK8S_CODEC_SERVER_JWKS_URL", "https://idp.example.com/jwks")],
        &["env TK8S_CODEC_SERVER_JWKS_URL", "without codec_server.jwt_audience", "set TK8S_CODEC_SERVER_JWT_AUDIENCE", "any application"],
    ),
    env(
        "audience without jwks",
        &[("TK8S_CODEC_SERVER_JWT_AUDIENCE", "ui")],
        &["env TK8S_CODEC_SERVER_JWT_AUDIENCE", "no effect without a JWKS", "set TK8S_CODEC_SERVER_JWKS_URL"],
    ),
    env(
        "two JWKS sources",
        &[
            ("TK8S_CODEC_SERVER_JWKS_URL", "https://idp.example.com/jwks"),
            ("TK8S_CODEC_SERVER_JWKS_FILE", "{dir}/good.crt"),
            ("TK8S_CODEC_SERVER_JWT_AUDIENCE", "ui"),
        ],
        &["env TK8S_CODEC_SERVER_JWKS_FILE", "together with codec_server.jwks_url (from env TK8S_CODEC_SERVER_JWKS_URL)"],
    ),
    env(
        "otlp endpoint without scheme",
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "otel-collector:4317")],
        &["env OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector.monitoring:4317"],
    ),
    env("api key file empty", &[("TK8S_API_KEY_FILE", "{dir}/empty.key")], &["env TK8S_API_KEY_FILE", "is empty"]),
    env(
        "api key twice",
        &[("TK8S_API_KEY_FILE", "{dir}/api.key"), ("TEMPORAL_API_KEY", SECRET)],
        &["env TK8S_API_KEY_FILE", "together with temporal.api_key", "env TEMPORAL_API_KEY"],
    ),
    env(
        "inline key data",
        &[("TEMPORAL_TLS_CLIENT_KEY_DATA", SECRET)],
        &["env TEMPORAL_TLS_CLIENT_KEY_DATA", "TEMPORAL_TLS_CLIENT_KEY_PATH"],
    ),
    env("codec key dir missing", &[("TK8S_CODEC_KEYS_DIR", "/nonexistent/keys")], &["env TK8S_CODEC_KEYS_DIR", "not one"]),
    env(
        "codec keys twice",
        &[("TK8S_CODEC_KEYS_DIR", "{dir}/halfdir"), ("TK8S_CODEC_KEYS", SECRET)],
        &["env TK8S_CODEC_KEYS_DIR", "together with codec.keys"],
    ),
    env(
        "active key without keys",
        &[("TK8S_CODEC_ACTIVE_KEY", "k1")],
        &["env TK8S_CODEC_ACTIVE_KEY", "no keys are (codec.keys_dir or codec.keys)", "set TK8S_CODEC_KEYS_DIR"],
    ),
    env(
        "versioning half configured",
        &[("TEMPORAL_DEPLOYMENT_NAME", "greeting")],
        &["env TEMPORAL_DEPLOYMENT_NAME", "needs both", "set TEMPORAL_WORKER_BUILD_ID too"],
    ),
    env(
        "versioning, the other half",
        &[("TEMPORAL_WORKER_BUILD_ID", "abc")],
        &["env TEMPORAL_WORKER_BUILD_ID", "needs both", "set TEMPORAL_DEPLOYMENT_NAME too"],
    ),
    env(
        "scaler bounds crossed",
        &[("TK8S_SCALER_MIN_REPLICAS", "5"), ("TK8S_SCALER_MAX_REPLICAS", "2")],
        &["env TK8S_SCALER_MIN_REPLICAS", "= 5 is more than scaler.max_replicas = 2 (from env TK8S_SCALER_MAX_REPLICAS)"],
    ),
    env(
        "several problems at once",
        &[("TK8S_ADMIN_PORT", "x"), ("TK8S_LOG_LEVEL", "loud")],
        &["2 problems", "env TK8S_ADMIN_PORT", "env TK8S_LOG_LEVEL"],
    ),
    file(
        "file: unknown key",
        "# comment\n[worker]\ntask_queu = \"x\"\n",
        &["tk8s.toml:3", "unknown setting `worker.task_queu`", "did you mean `worker.task_queue`?"],
    ),
    file(
        "file: unknown section",
        "[wrker]\ntask_queue = \"x\"\n",
        &["tk8s.toml:2", "unknown setting `wrker.task_queue`", "did you mean `worker.task_queue`?"],
    ),
    file("file: wrong type", "[worker]\n\nmax_concurrent_activities = \"ten\"\n", &["tk8s.toml:3", "worker.max_concurrent_activities"]),
    file("file: bad TOML", "[worker]\ntask_queue = \"x\nmore = 1\n", &["tk8s.toml:2", "not valid TOML"]),
    file("file: duration as number", "[shutdown]\ngrace = 20\n", &["tk8s.toml:2", "shutdown.grace", "hint: quote it and add a unit"]),
    file(
        "file: relative cert path resolved next to the file",
        "[temporal]\ntls_server_ca_cert_path = \"missing-ca.crt\"\n",
        &["tk8s.toml:2", "missing-ca.crt does not exist"],
    ),
    Case {
        name: "flag: config missing",
        env: &[],
        args: &["--config", "/nonexistent/tk8s.toml"],
        files: &[],
        toml: None,
        expect: &["flag --config", "cannot be read"],
    },
    env("env: config missing", &[("TK8S_CONFIG", "/nonexistent/tk8s.toml")], &["env TK8S_CONFIG", "cannot be read"]),
    Case {
        name: "flag: bad value",
        env: &[],
        args: &["--max-concurrent-activities=abc"],
        files: &[],
        toml: None,
        expect: &["flag --max-concurrent-activities", "\"abc\""],
    },
    Case {
        name: "flag: bad duration, over a good env value",
        env: &[("TK8S_SHUTDOWN_GRACE", "10s")],
        args: &["--shutdown-grace", "soon"],
        files: &[],
        toml: None,
        expect: &["flag --shutdown-grace", "\"soon\""],
    },
    Case {
        name: "temporal.toml: unknown profile",
        env: &[("TEMPORAL_CONFIG_FILE", "{dir}/temporal.toml"), ("TEMPORAL_PROFILE", "staging")],
        args: &[],
        files: &[("temporal.toml", "[profile.default]\naddress = \"127.0.0.1:7233\"\n")],
        toml: None,
        expect: &["env TEMPORAL_PROFILE", "\"staging\" is not a profile in {dir}/temporal.toml", "profiles in the file: default"],
    },
    Case {
        name: "temporal.toml: profile flag, default file missing",
        env: &[("HOME", "{dir}/home")],
        args: &["--profile", "prod"],
        files: &[],
        toml: None,
        expect: &[
            "flag --profile",
            "\"prod\" was asked for",
            "{dir}/home/.config/temporalio/temporal.toml (the default temporal.toml) cannot be read",
            "set TEMPORAL_CONFIG_FILE",
        ],
    },
    Case {
        name: "temporal.toml: explicit file missing",
        env: &[("TEMPORAL_CONFIG_FILE", "{dir}/nope.toml")],
        args: &[],
        files: &[],
        toml: None,
        expect: &["env TEMPORAL_CONFIG_FILE", "nope.toml does not exist"],
    },
    Case {
        name: "temporal.toml: not valid",
        env: &[("TEMPORAL_CONFIG_FILE", "{dir}/temporal.toml")],
        args: &[],
        files: &[("temporal.toml", "[profile.default]\nadress = \"x\"\n")],
        toml: None,
        expect: &["{dir}/temporal.toml (profile default)", "not a valid temporal.toml"],
    },
    Case {
        name: "temporal.toml: API key with TLS disabled",
        env: &[("TEMPORAL_CONFIG_FILE", "{dir}/temporal.toml")],
        args: &[],
        files: &[(
            "temporal.toml",
            "[profile.default]\naddress = \"127.0.0.1:7233\"\napi_key = \"sekrit-api-key-0123456789\"\n[profile.default.tls]\ndisabled = true\n",
        )],
        toml: None,
        expect: &["(profile default)", "API key"],
    },
];

fn prepare_files(dir: &Path) {
    // File settings are checked for existence here; their contents are the host's business.
    std::fs::write(dir.join("good.crt"), "certificate\n").unwrap();
    std::fs::write(dir.join("good.key"), "key\n").unwrap();
    std::fs::write(dir.join("empty.key"), "\n").unwrap();
    std::fs::write(dir.join("api.key"), SECRET).unwrap();
    std::fs::create_dir_all(dir.join("halfdir")).unwrap();
    std::fs::write(dir.join("halfdir/tls.crt"), "certificate\n").unwrap();
}

/// Load as `greeting worker ARGS` would, in process.
fn load(env: &BTreeMap<String, String>, args: &[String], cwd: &Path) -> Result<Config, ConfigError> {
    let cmd = clap::Command::new("worker").args(cli::args(Role::Worker));
    let matches =
        cmd.try_get_matches_from(std::iter::once("worker".to_string()).chain(args.iter().cloned())).expect("clap accepts the case");
    let flags = cli::flags(&matches);
    let app = AppDefaults { name: "greeting".into(), task_queue: "greeting".into(), workflow_input: "World".into() };
    Config::load(&Inputs { env, flags: &flags, app: &app, cwd })
}

#[test]
fn every_bad_config_is_refused_naming_its_source() {
    assert!(CASES.len() >= 50, "the table must keep at least 50 cases");
    let mut failures = Vec::new();
    for case in CASES {
        let dir = tempfile::tempdir().unwrap();
        prepare_files(dir.path());
        for (name, body) in case.files.iter().chain(case.toml.as_ref().map(|t| ("tk8s.toml", *t)).as_ref()) {
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        let sub = |s: &str| s.replace("{dir}", &dir.path().display().to_string());
        let mut env = BTreeMap::from([("HOME".to_string(), "/nonexistent".to_string())]);
        for (k, v) in case.env {
            env.insert(k.to_string(), sub(v));
        }
        let args: Vec<String> = case.args.iter().map(|a| sub(a)).collect();
        let (code, text) = match load(&env, &args, dir.path()) {
            Ok(_) => (0, "loaded without a problem".to_string()),
            Err(e) => (e.exit_code(), e.to_string()),
        };
        let mut problems = Vec::new();
        if code != 78 {
            problems.push(format!("exit {code}, expected 78"));
        }
        if text.contains(SECRET) {
            problems.push("echoed the secret".into());
        }
        for e in case.expect {
            if !text.contains(&sub(e)) {
                problems.push(format!("error lacks {e:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("[{}] {}\n--- error ---\n{text}", case.name, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), CASES.len(), failures.join("\n"));
}

#[test]
fn a_good_config_loads_with_every_layer_in_its_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tk8s.toml"), "[worker]\nmax_concurrent_activities = 7\n[shutdown]\ngrace = \"30s\"\n").unwrap();
    let env = BTreeMap::from([
        ("HOME".to_string(), "/nonexistent".to_string()),
        ("TK8S_CONFIG".to_string(), "tk8s.toml".to_string()),
        ("TK8S_TASK_QUEUE".to_string(), "from-env".to_string()),
        ("TK8S_MAX_CONCURRENT_ACTIVITIES".to_string(), "9".to_string()),
    ]);
    let config = load(&env, &["--shutdown-grace".into(), "25s".into(), "--tls".into()], dir.path()).unwrap();
    assert_eq!(config.worker.max_concurrent_activities, 9, "env over file");
    assert_eq!(config.shutdown.grace, std::time::Duration::from_secs(25), "flag over file");
    assert_eq!(config.worker.task_queue, "from-env");
    assert!(config.temporal.tls.is_some(), "--tls alone means true");
    assert_eq!(config.orchestrator.input, "World", "the app's default");
    assert_eq!(config.worker.max_concurrent_workflow_tasks, 100, "the table's default");
    let show = config.show();
    assert!(show.contains("[flag --shutdown-grace]") && show.contains("[env TK8S_MAX_CONCURRENT_ACTIVITIES]"), "{show}");
}

#[test]
fn the_scaler_defaults_are_the_tables() {
    let s = tk8s_config::Scaler::defaults();
    let spec = tk8s_config::spec::SCALER_SCALE_DOWN_WINDOW;
    assert_eq!(Some(s.scale_down_window), spec.default_duration());
    assert_eq!(Some(i64::from(s.max_replicas)), tk8s_config::spec::SCALER_MAX_REPLICAS.default_int());
    assert_eq!(s.target_utilization.to_string(), tk8s_config::spec::SCALER_TARGET_UTILIZATION.default.unwrap());
}
