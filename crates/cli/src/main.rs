//! `tk8s`: glue only. Parse the command line (clap), load configuration (the same layering as
//! the hosted apps), call the library that does the work, print its error once, and map the
//! outcome to an exit code: 0 ok, 1 failure (lint findings included), 64 usage, 65 a manifest
//! that is not YAML objects, 66 an input that cannot be read, 73 an output that cannot be
//! written, 78 configuration.

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use tk8s_config::{AppDefaults, Config, cli as settings};

fn command() -> Command {
    let with_settings = |c: Command| c.args(settings::args());
    Command::new("tk8s")
        .about("Run Temporal workers on Kubernetes: render and lint deploy assets, serve the codec")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("init")
                .about("Write a commented deploy config to start from")
                .arg(Arg::new("file").value_name("FILE").default_value("tk8s-deploy.toml").value_parser(value_parser!(PathBuf))),
        )
        .subcommand(
            Command::new("render")
                .about("Write manifests (plain/), kustomize base and overlays, a Helm chart and alert rules")
                .arg(
                    Arg::new("config")
                        .long("config")
                        .value_name("FILE")
                        .required(true)
                        .value_parser(value_parser!(PathBuf))
                        .help("The deploy config"),
                )
                .arg(
                    Arg::new("out")
                        .long("out")
                        .value_name("DIR")
                        .required(true)
                        .value_parser(value_parser!(PathBuf))
                        .help("Directory to write into"),
                ),
        )
        .subcommand(
            Command::new("lint").about("Check manifests for Temporal-specific mistakes; exit 1 on findings").arg(
                Arg::new("paths")
                    .value_name("PATH")
                    .required(true)
                    .num_args(1..)
                    .action(ArgAction::Append)
                    .value_parser(value_parser!(PathBuf))
                    .help("Manifest files, or directories whose *.yaml files are read"),
            ),
        )
        .subcommand(with_settings(Command::new("codec-server").about("Serve /encode and /decode for the Temporal Web UI and CLI")))
        .subcommand(
            Command::new("config")
                .about("Inspect the configuration")
                .subcommand_required(true)
                .arg_required_else_help(true)
                .subcommand(with_settings(Command::new("show").about("Print every resolved setting and its origin (secrets redacted)"))),
        )
        .subcommand(
            Command::new("completions")
                .about("Print a shell completion script")
                .arg(Arg::new("shell").required(true).value_parser(value_parser!(clap_complete::Shell))),
        )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let matches =
        match command().try_get_matches_from(&args) {
            Ok(m) => m,
            Err(e) => {
                let _ = e.print();
                return ExitCode::from(
                    if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) { 0 } else { 64 },
                );
            }
        };
    ExitCode::from(match matches.subcommand() {
        Some(("init", m)) => init(m.get_one::<PathBuf>("file").cloned().unwrap_or_default()),
        Some(("render", m)) => render(m),
        Some(("lint", m)) => lint(m),
        Some(("codec-server", m)) => match load(m, &env) {
            Ok(config) => codec_server(config),
            Err(code) => code,
        },
        Some(("config", m)) => match m.subcommand().map(|(_, m)| load(m, &env)) {
            Some(Ok(config)) => {
                print!("{}", config.show());
                0
            }
            Some(Err(code)) => code,
            None => 64,
        },
        Some(("completions", m)) => {
            if let Some(shell) = m.get_one::<clap_complete::Shell>("shell") {
                clap_complete::generate(*shell, &mut command(), "tk8s", &mut std::io::stdout());
            }
            0
        }
        _ => 64,
    })
}

/// Load configuration for a command that takes settings; on error, print it and give the code.
fn load(matches: &ArgMatches, env: &BTreeMap<String, String>) -> Result<Config, u8> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    let app = AppDefaults { name: "tk8s".into(), task_queue: "tk8s".into(), workflow_input: String::new() };
    let args = settings::given(matches);
    Config::load(&tk8s_config::Inputs { env, args: &args, app: &app, cwd: &cwd }).map_err(|e| {
        eprintln!("error: {e}");
        e.exit_code() as u8
    })
}

fn init(path: PathBuf) -> u8 {
    if path.exists() {
        eprintln!("error: {} exists; not overwriting it\n  hint: pass another file name", path.display());
        return 73;
    }
    match std::fs::write(&path, tk8s_render::INIT_TEMPLATE) {
        Ok(()) => {
            println!("wrote {}; edit it, then: tk8s render --config {} --out deploy", path.display(), path.display());
            0
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            73
        }
    }
}

fn render(m: &ArgMatches) -> u8 {
    let (Some(config), Some(out)) = (m.get_one::<PathBuf>("config"), m.get_one::<PathBuf>("out")) else { return 64 };
    let written = tk8s_render::DeployConfig::load(config).and_then(|deploy| tk8s_render::write_all(&deploy, out));
    match written {
        Ok(n) => {
            println!("wrote {n} files under {}", out.display());
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn lint(m: &ArgMatches) -> u8 {
    let paths: Vec<PathBuf> = m.get_many::<PathBuf>("paths").map(|p| p.cloned().collect()).unwrap_or_default();
    match tk8s_render::lint_paths(&paths) {
        Ok(report) => {
            for f in &report.findings {
                println!("{f}");
            }
            println!("{} objects in {} files, {} findings", report.objects, report.files, report.findings.len());
            u8::from(!report.findings.is_empty())
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn codec_server(config: Config) -> u8 {
    // Refused before logging starts, so the refusal reads like every other configuration error.
    if let Err(e) = config.codec_server_access() {
        eprintln!("error: {e}");
        return e.exit_code() as u8;
    }
    tk8s_logging::init(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(tk8s_codec_server::serve(&config, shutdown_signal())) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(error = %e, "codec server exiting");
            e.exit_code()
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        }
        _ => std::future::pending::<()>().await,
    }
    tracing::info!("shutdown requested: finishing open requests");
}
