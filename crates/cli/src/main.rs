//! `tk8s`: glue only. Parse the command line (clap), load configuration (the same layering as
//! the hosted apps), call the library that does the work, print its error once, and map the
//! outcome to an exit code: 0 ok, 1 failure (lint findings, a failed rollout included), 64 usage,
//! 65 a manifest that is not YAML objects, 66 an input that cannot be read, 69 the Kubernetes API
//! unreachable, 73 an output that cannot be written, 78 configuration.

mod image;

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use tk8s_config::{AppDefaults, Config, Role, cli as settings, exit};

fn command() -> Command {
    let codec_server = Role::CodecServer.spec();
    Command::new("tk8s")
        .about("Run Temporal workers on Kubernetes: render, lint and deploy the assets, serve the codec")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("new")
                .about("Start your own app: a cargo project with one workflow, its deploy config, a Dockerfile and a README")
                .arg(
                    Arg::new("name")
                        .value_name("NAME")
                        .required(true)
                        .help("The app's name (a DNS label: it names the binary and the Kubernetes objects)"),
                )
                .arg(
                    Arg::new("dir")
                        .long("dir")
                        .value_name("DIR")
                        .value_parser(value_parser!(PathBuf))
                        .help("Where to create it (default: ./NAME)"),
                )
                .arg(
                    Arg::new("toolkit-path")
                        .long("toolkit-path")
                        .value_name("DIR")
                        .value_parser(value_parser!(PathBuf))
                        .help("Depend on a local checkout of temporal-k8s instead of its git repository"),
                ),
        )
        .subcommand(
            Command::new("init")
                .about("Write a commented deploy config to start from")
                .arg(Arg::new("file").value_name("FILE").default_value("tk8s-deploy.toml").value_parser(value_parser!(PathBuf)))
                .arg(
                    Arg::new("name")
                        .long("name")
                        .value_name("APP")
                        .help("The app's name (default: the current directory's name, if it is a DNS label)"),
                ),
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
                        .help("Directory to write into; the render owns it and removes files it no longer writes"),
                )
                .arg(
                    Arg::new("force")
                        .long("force")
                        .action(ArgAction::SetTrue)
                        .help("Take over a directory that holds files the render did not write (they are kept)"),
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
                    .help("Manifest files, or directories searched for *.yaml (a render's directory: its objects)"),
            ),
        )
        .subcommand(
            Command::new("deploy")
                .about("Apply the render to the cluster (server-side apply), prune what the config dropped, wait for the rollout")
                .args(cluster_args())
                .arg(Arg::new("image").long("image").value_name("REPOSITORY:TAG").help("Deploy this image instead of the config's"))
                .arg(
                    Arg::new("dry-run")
                        .long("dry-run")
                        .action(ArgAction::SetTrue)
                        .help("Show the diff against the cluster (server-side dry run); change nothing"),
                )
                .arg(
                    Arg::new("prune")
                        .long("prune")
                        .action(ArgAction::SetTrue)
                        .help("Delete objects an earlier deploy applied that the config no longer produces"),
                )
                .arg(
                    Arg::new("skip-replay-gate")
                        .long("skip-replay-gate")
                        .action(ArgAction::SetTrue)
                        .help("Roll out without replaying the running workflows' histories against the new image first (dangerous)"),
                )
                .arg(wait_arg()),
        )
        .subcommand(
            Command::new("restart")
                .about("Restart a role's pods the way `kubectl rollout restart` does, then wait for the rollout")
                .args(cluster_args())
                .arg(
                    Arg::new("role")
                        .long("role")
                        .value_name("ROLE")
                        .help("worker, orchestrator, scaler or codec-server (default: every Deployment)"),
                )
                .arg(wait_arg()),
        )
        .subcommand(
            Command::new("status")
                .about("Per role: replicas, readiness, the image running, and each pod's own /readyz answer")
                .args(cluster_args()),
        )
        .subcommand(Command::new(codec_server.name).about(codec_server.about).args(settings::args(Role::CodecServer)))
        .subcommand(Command::new(Role::Companion.name()).about(Role::Companion.spec().about).args(settings::args(Role::Companion)))
        .subcommand(image::command())
        .subcommand(settings::config_command())
        .subcommand(
            Command::new("completions")
                .about("Print a shell completion script")
                .arg(Arg::new("shell").required(true).value_parser(value_parser!(clap_complete::Shell))),
        )
}

/// What every cluster command takes: the deploy config, an environment, a kubeconfig context.
fn cluster_args() -> Vec<Arg> {
    vec![
        Arg::new("config").long("config").value_name("FILE").required(true).value_parser(value_parser!(PathBuf)).help("The deploy config"),
        Arg::new("env").long("env").value_name("ENV").help("An [environments.ENV] of the deploy config"),
        Arg::new("context").long("context").value_name("NAME").help("The kubeconfig context (default: the current one)"),
    ]
}

fn wait_arg() -> Arg {
    Arg::new("wait")
        .long("wait")
        .value_name("DURATION")
        .default_value("5m")
        .help("How long to wait for every Deployment to roll out (\"0s\": do not wait)")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let matches = match command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) {
                exit::OK
            } else {
                exit::USAGE
            });
        }
    };
    ExitCode::from(match matches.subcommand() {
        Some(("new", m)) => new(m),
        Some(("init", m)) => init(m.get_one::<PathBuf>("file").cloned().unwrap_or_default(), m.get_one::<String>("name").cloned()),
        Some(("render", m)) => render(m),
        Some(("lint", m)) => lint(m),
        Some((name @ ("deploy" | "restart" | "status"), m)) => cluster_command(name, m),
        Some((name, m)) if Role::from_name(name) == Some(Role::CodecServer) => match load(m, &env) {
            Ok(config) => codec_server(config),
            Err(code) => code,
        },
        Some((name, m)) if Role::from_name(name) == Some(Role::Companion) => match load(m, &env) {
            Ok(config) => companion(config, env.get(tk8s_config::spec::env::HOSTNAME).cloned()),
            Err(code) => code,
        },
        Some(("config", m)) => match m.subcommand().map(|(_, m)| load(m, &env)) {
            Some(Ok(config)) => {
                print!("{}", config.show());
                exit::OK
            }
            Some(Err(code)) => code,
            None => exit::USAGE,
        },
        Some(("image", m)) => image::run(m, &env),
        Some(("completions", m)) => {
            if let Some(shell) = m.get_one::<clap_complete::Shell>("shell") {
                clap_complete::generate(*shell, &mut command(), "tk8s", &mut std::io::stdout());
            }
            exit::OK
        }
        _ => exit::USAGE,
    })
}

/// Load configuration for a command that takes settings; on error, print it and give the code.
fn load(matches: &ArgMatches, env: &BTreeMap<String, String>) -> Result<Config, u8> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    let app = AppDefaults { name: "tk8s".into(), task_queue: "tk8s".into(), workflow_input: String::new() };
    let flags = settings::flags(matches);
    Config::load(&tk8s_config::Inputs { env, flags: &flags, app: &app, cwd: &cwd }).map_err(|e| {
        eprintln!("error: {e}");
        e.exit_code()
    })
}

fn new(m: &ArgMatches) -> u8 {
    let Some(name) = m.get_one::<String>("name") else { return exit::USAGE };
    let dir = m.get_one::<PathBuf>("dir").cloned().unwrap_or_else(|| PathBuf::from(name));
    let toolkit = match m.get_one::<PathBuf>("toolkit-path") {
        Some(p) => match p.canonicalize() {
            Ok(p) if p.join("crates/host/Cargo.toml").is_file() => tk8s_scaffold::Toolkit::Path(p),
            _ => {
                eprintln!("error: --toolkit-path {} is not a temporal-k8s checkout (no crates/host/Cargo.toml)", p.display());
                return exit::USAGE;
            }
        },
        None => tk8s_scaffold::Toolkit::Git(tk8s_scaffold::REPOSITORY.into()),
    };
    match tk8s_scaffold::scaffold(name, &dir, &toolkit) {
        Ok(files) => {
            for f in &files {
                println!("created {}", dir.join(f).display());
            }
            println!(
                "\nnext: cd {} && cargo build --release (the first build compiles the Temporal SDK: several minutes); README.md has the rest",
                dir.display()
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn init(path: PathBuf, name: Option<String>) -> u8 {
    let name = name.unwrap_or_else(|| {
        let dir = std::env::current_dir().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().to_lowercase()));
        dir.filter(|n| tk8s_render::is_dns_label(n)).unwrap_or_else(|| "myapp".into())
    });
    if !tk8s_render::is_dns_label(&name) {
        eprintln!("error: --name {name:?} is not a DNS label\n  hint: lowercase letters, digits and '-', at most 53 characters");
        return exit::USAGE;
    }
    if path.exists() {
        eprintln!("error: {} exists; not overwriting it\n  hint: pass another file name", path.display());
        return exit::CANT_CREATE;
    }
    match std::fs::write(&path, tk8s_render::init_template(&name, None)) {
        Ok(()) => {
            println!("wrote {}; edit it, then: tk8s render --config {} --out deploy", path.display(), path.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            exit::CANT_CREATE
        }
    }
}

fn render(m: &ArgMatches) -> u8 {
    let (Some(config), Some(out)) = (m.get_one::<PathBuf>("config"), m.get_one::<PathBuf>("out")) else { return exit::USAGE };
    let written = tk8s_render::DeployConfig::load(config).and_then(|deploy| {
        if deploy.code.is_none() {
            eprintln!(
                "warning: {} sets no app.binary: its task queue ({}) is not checked against the app's code\n  hint: set binary = \"target/release/<app>\" under [app]",
                config.display(),
                deploy.task_queue()
            );
        }
        tk8s_render::write_all(&deploy, out, m.get_flag("force"))
    });
    match written {
        Ok(w) => {
            for gone in &w.removed {
                println!("removed {gone} (no longer rendered)");
            }
            println!("wrote {} files under {}", w.files, out.display());
            exit::OK
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
            if report.findings.is_empty() { exit::OK } else { exit::FAILURE }
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// `deploy`, `restart`, `status`: load the deploy config, connect, run, report.
fn cluster_command(name: &str, m: &ArgMatches) -> u8 {
    let Some(path) = m.get_one::<PathBuf>("config") else { return exit::USAGE };
    let config = match tk8s_render::DeployConfig::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let wait = match m.try_get_one::<String>("wait").ok().flatten().map(|w| (w, tk8s_config::parse_duration(w))) {
        None => None,
        Some((_, Some(d))) if d.is_zero() => None,
        Some((_, Some(d))) => Some(d),
        Some((w, None)) => {
            eprintln!("error: --wait {w:?} is not a duration\n  hint: e.g. --wait 5m, or --wait 0s not to wait");
            return exit::USAGE;
        }
    };
    let environment = m.get_one::<String>("env").cloned();
    // Flag mistakes are reported before any cluster is contacted.
    let checked = tk8s_deploy::DeployOptions {
        environment: environment.clone(),
        image: m.try_get_one::<String>("image").ok().flatten().cloned(),
        ..Default::default()
    };
    if let Err(e) = tk8s_deploy::render(&config, &checked) {
        eprintln!("error: {e}");
        return e.exit_code();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let cluster = tk8s_deploy::Cluster::connect(m.get_one::<String>("context").map(String::as_str)).await?;
        match name {
            "deploy" => {
                let options = tk8s_deploy::DeployOptions {
                    environment,
                    image: m.get_one::<String>("image").cloned(),
                    dry_run: m.get_flag("dry-run"),
                    prune: m.get_flag("prune"),
                    wait,
                    skip_replay_gate: m.get_flag("skip-replay-gate"),
                };
                if options.skip_replay_gate {
                    eprintln!(
                        "WARNING: --skip-replay-gate: the new image is rolled out without replaying the histories of running workflows; if it cannot replay them, they will stall on non-determinism errors"
                    );
                }
                let report = tk8s_deploy::deploy(&cluster, &config, &options).await?;
                print_report(&report, options.dry_run);
            }
            "restart" => {
                for p in tk8s_deploy::restart(&cluster, &config, m.get_one::<String>("role").map(String::as_str), wait).await? {
                    println!("{:24} {}", p.name, tk8s_deploy::progress_text(&p));
                }
            }
            _ => {
                for role in tk8s_deploy::status(&cluster, &config, environment.as_deref()).await? {
                    let progress = role.progress.as_ref().map(tk8s_deploy::progress_text).unwrap_or_else(|| "not deployed".into());
                    println!("{:24} {progress}\n{:24} image {}", role.deployment, "", role.image);
                    for (pod, readyz) in &role.pods {
                        println!("  {pod}: {readyz}");
                    }
                }
            }
        }
        Ok::<(), tk8s_deploy::DeployError>(())
    });
    match outcome {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn print_report(report: &tk8s_deploy::Report, dry_run: bool) {
    let (would, did) = if dry_run { ("would be ", "would apply") } else { ("", "applied") };
    if report.namespace_created {
        println!("namespace {would}created");
    }
    for (name, diff) in &report.diffs {
        println!("--- {name}\n{diff}");
    }
    if let Some(verdict) = &report.replay_gate {
        println!("replay gate passed: {verdict}");
    }
    println!("{did} {} objects", report.applied.len());
    for p in &report.pruned {
        println!("pruned{} {p}", if dry_run { " (dry run)" } else { "" });
    }
    for p in &report.rollouts {
        println!("{:24} {}", p.name, tk8s_deploy::progress_text(p));
    }
}

fn companion(config: Config, hostname: Option<String>) -> u8 {
    tk8s_logging::init(&config.log);
    let Some(pod) = hostname.filter(|h| !h.is_empty()) else {
        eprintln!(
            "error: HOSTNAME is not set: the companion finds this pod's worker by it\n  hint: Kubernetes sets it to the pod's name; elsewhere set HOSTNAME to the host the worker reports in its identity"
        );
        return exit::CONFIG;
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let signal = match shutdown_signal() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot install signal handlers");
                return Err(exit::FAILURE);
            }
        };
        tk8s_companion::run(&config, &pod, signal).await.map_err(|e| {
            tracing::error!(error = %e, "companion exiting");
            e.exit_code()
        })
    });
    runtime.shutdown_background();
    result.err().unwrap_or(exit::OK)
}

fn codec_server(config: Config) -> u8 {
    // Refused before logging starts, so the refusal reads like every other configuration error.
    if let Err(e) = config.codec_server_access() {
        eprintln!("error: {e}");
        return e.exit_code();
    }
    tk8s_logging::init(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let signal = shutdown_signal().map_err(|source| tk8s_codec_server::ServeError::Signals { source })?;
        tk8s_codec_server::serve(&config, signal).await
    });
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            tracing::error!(error = %e, "codec server exiting");
            e.exit_code()
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT. The handlers are installed now, so a failure shows
/// before the server binds anything.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?);
    Ok(async move {
        let name = tokio::select! { _ = term.recv() => "SIGTERM", _ = int.recv() => "SIGINT" };
        tracing::info!(signal = name, "shutdown requested");
    })
}
