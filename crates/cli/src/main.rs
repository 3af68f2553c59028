//! `tk8s`: glue only. Parse the command, load configuration (the same layering as the hosted
//! apps), run, map the outcome to an exit code (0 ok, 1 failure, 64 usage, 78 configuration).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tk8s_config::{AppDefaults, Config};

const HELP: &str = "tk8s: run Temporal workers on Kubernetes

usage: tk8s <command> [--config tk8s.toml] [--<setting> <value>]...

commands:
  init [FILE]                       write a commented deploy config (default tk8s-deploy.toml)
  render --config FILE --out DIR    write manifests (plain/) and kustomize base + overlays
  lint PATH...                      check manifests (files or directories) for Temporal-specific
                                    mistakes; exit 1 on findings
  codec-server                      serve /encode and /decode for the Temporal Web UI and CLI
  config show                       print every resolved setting and its origin (secrets redacted)

settings: see the configuration reference in the README; `greeting --help` lists the flags.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    let app = AppDefaults { name: "tk8s".into(), task_queue: "tk8s".into(), workflow_input: String::new() };
    let load = |settings: &[String]| Config::load(&tk8s_config::Inputs { env: &env, args: settings, app: &app, cwd: &cwd });
    let code = match args.split_first() {
        Some((cmd, rest)) if cmd == "codec-server" => match load(rest) {
            Ok(config) => codec_server(config),
            Err(e) => config_error(&e),
        },
        Some((cmd, rest)) if cmd == "init" => init(rest),
        Some((cmd, rest)) if cmd == "render" => render(rest),
        Some((cmd, rest)) if cmd == "lint" => lint(rest),
        Some((cmd, rest)) if cmd == "config" && rest.first().map(String::as_str) == Some("show") => match load(&rest[1..]) {
            Ok(config) => {
                print!("{}", config.show());
                0
            }
            Err(e) => config_error(&e),
        },
        Some((cmd, _)) if cmd == "--version" => {
            println!("tk8s {}", env!("CARGO_PKG_VERSION"));
            0
        }
        None => {
            print!("{HELP}");
            0
        }
        Some((cmd, _)) if cmd == "--help" || cmd == "help" => {
            print!("{HELP}");
            0
        }
        Some((cmd, _)) => {
            eprintln!("error: unknown command {cmd:?}\n  hint: run tk8s --help");
            64
        }
    };
    ExitCode::from(code)
}

fn init(args: &[String]) -> u8 {
    let path = args.first().map(String::as_str).unwrap_or("tk8s-deploy.toml");
    if std::path::Path::new(path).exists() {
        eprintln!("error: {path} exists; not overwriting it\n  hint: pass another file name");
        return 64;
    }
    match std::fs::write(path, tk8s_render::INIT_TEMPLATE) {
        Ok(()) => {
            println!("wrote {path}; edit it, then: tk8s render --config {path} --out deploy");
            0
        }
        Err(e) => {
            eprintln!("error: cannot write {path}: {e}");
            1
        }
    }
}

fn render(args: &[String]) -> u8 {
    let (mut config, mut out) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" => config = it.next().cloned(),
            "--out" => out = it.next().cloned(),
            other => {
                eprintln!("error: unexpected argument {other:?}\n  hint: tk8s render --config FILE --out DIR");
                return 64;
            }
        }
    }
    let (Some(config), Some(out)) = (config, out) else {
        eprintln!("error: render needs --config FILE and --out DIR");
        return 64;
    };
    let deploy = match tk8s_render::DeployConfig::load(std::path::Path::new(&config)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return 78;
        }
    };
    match tk8s_render::write_all(&deploy, std::path::Path::new(&out)) {
        Ok(n) => {
            println!("wrote {n} files under {out}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn lint(paths: &[String]) -> u8 {
    if paths.is_empty() {
        eprintln!("error: lint needs files or directories of manifests\n  hint: tk8s lint deploy/greeting/plain");
        return 64;
    }
    let mut files = Vec::new();
    for p in paths {
        let path = std::path::PathBuf::from(p);
        match std::fs::read_dir(&path) {
            Ok(entries) => files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))),
            Err(_) => files.push(path),
        }
    }
    files.sort();
    let mut objects = Vec::new();
    for f in &files {
        let parsed = std::fs::read_to_string(f).map_err(|e| e.to_string()).and_then(|t| tk8s_render::parse_documents(&t));
        match parsed {
            Ok(docs) => objects.extend(docs),
            Err(e) => {
                eprintln!("error: {}: {e}", f.display());
                return 78;
            }
        }
    }
    let findings = tk8s_render::lint(&objects);
    for f in &findings {
        println!("{f}");
    }
    println!("{} objects in {} files, {} findings", objects.len(), files.len(), findings.len());
    u8::from(!findings.is_empty())
}

fn config_error(e: &tk8s_config::ConfigError) -> u8 {
    eprintln!("error: {e}");
    e.exit_code() as u8
}

fn codec_server(config: Config) -> u8 {
    let Some(codec_config) = &config.codec else {
        eprintln!("error: the codec server needs encryption keys\n  hint: set TK8S_CODEC_KEYS_DIR to the mounted key directory");
        return 78;
    };
    tk8s_host::init_logging(&config);
    let mut keys = match tk8s_codec::Reloading::from_config(codec_config) {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "encryption keys are not usable");
            return 78;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return 1;
        }
    };
    let s = &config.codec_server;
    let jwt = s.jwt.clone().map(|j| Arc::new(tk8s_codec::jwt::Verifier::new(j)));
    let options = tk8s_codec::server::ServerOptions {
        allowed_origins: s.allowed_origins.clone(),
        tokens_file: s.tokens_file.clone(),
        jwt: jwt.clone(),
        max_body_bytes: s.max_body_bytes,
    };
    let router = tk8s_codec::server::app(keys.codec(), options, tk8s_codec::server::ServerMetrics::new());
    runtime.block_on(async move {
        if let Some(verifier) = &jwt {
            // Loaded now so a wrong URL shows at start; a failure is retried on the next token.
            match verifier.load().await {
                Ok(n) => tracing::info!(keys = n, "JWKS loaded; JWT bearer tokens accepted"),
                Err(e) => tracing::warn!(error = %e, "cannot load the JWKS yet; JWTs are refused until it loads"),
            }
        }
        let listener = match tokio::net::TcpListener::bind(s.addr).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(addr = %s.addr, error = %e, "codec server cannot bind; hint: set TK8S_CODEC_SERVER_PORT to a free port");
                return 1;
            }
        };
        let bound = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        tracing::info!(addr = %bound, origins = ?s.allowed_origins, auth = s.tokens_file.is_some() || s.jwt.is_some(),
                       "codec server listening: POST /encode /decode (also /{{namespace}}/...), GET /livez /readyz /metrics");
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                keys.refresh();
            }
        });
        let shutdown = async {
            use tokio::signal::unix::{SignalKind, signal};
            match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
                }
                _ => std::future::pending::<()>().await,
            }
            tracing::info!("shutdown requested: finishing open requests");
        };
        match axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
            Ok(()) => {
                tracing::info!("codec server stopped");
                0
            }
            Err(e) => {
                tracing::error!(error = %e, "codec server failed");
                1
            }
        }
    })
}
