//! `tk8s image build`: glue between the deploy config and tk8s-image. The app's name, image
//! repository, tag and binary come from the deploy config, so the image is the one the rendered
//! manifests name.

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tk8s_config::exit;
use tk8s_image::{base, oci, push, sbom};

pub fn command() -> Command {
    Command::new("image").about("Container images of your app").subcommand_required(true).arg_required_else_help(true).subcommand(
        Command::new("build")
            .about("Build the app's image from its binary on a distroless-equivalent base (no Dockerfile, no daemon), as an OCI layout; push it when asked")
            .arg(Arg::new("config").long("config").value_name("FILE").required(true).value_parser(value_parser!(PathBuf)).help("The deploy config (app.name, app.image, app.tag, app.binary)"))
            .arg(Arg::new("binary").long("binary").value_name("PATH").value_parser(value_parser!(PathBuf)).help("The app's binary (default: app.binary)"))
            .arg(Arg::new("tag").long("tag").value_name("TAG").help("Image tag (default: app.tag)"))
            .arg(Arg::new("out").long("out").value_name("DIR").value_parser(value_parser!(PathBuf)).help("Where to write the OCI layout (default: target/tk8s-image/<app> next to the deploy config)"))
            .arg(Arg::new("label").long("label").value_name("KEY=VALUE").action(ArgAction::Append).help("An extra image label (repeatable)"))
            .arg(Arg::new("push").long("push").action(ArgAction::SetTrue).help("Push to app.image:TAG with skopeo (registry credentials as skopeo finds them)"))
            .arg(Arg::new("insecure-registry").long("insecure-registry").action(ArgAction::SetTrue).help("Push over plain HTTP or to an untrusted certificate (a local registry)"))
            .arg(Arg::new("refresh-base").long("refresh-base").action(ArgAction::SetTrue).help("Assemble the base from Debian packages again instead of the cached one"))
            .after_help("The base is cached in $TK8S_CACHE_DIR, else $XDG_CACHE_HOME/tk8s, else ~/.cache/tk8s. SOURCE_DATE_EPOCH sets every time in the image, so one commit gives one digest."),
    )
}

pub fn run(m: &ArgMatches, env: &BTreeMap<String, String>) -> u8 {
    let Some(("build", m)) = m.subcommand() else { return exit::USAGE };
    let Some(path) = m.get_one::<PathBuf>("config") else { return exit::USAGE };
    let config = match tk8s_render::DeployConfig::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let Some(binary) = m.get_one::<PathBuf>("binary").cloned().or_else(|| config.app.binary.as_ref().map(|b| dir.join(b))) else {
        eprintln!(
            "error: no binary to put in the image\n  hint: set binary = \"target/release/{}\" under [app] in {}, or pass --binary",
            config.app.name,
            path.display()
        );
        return exit::USAGE;
    };
    let tag = m.get_one::<String>("tag").cloned().unwrap_or_else(|| config.app.tag.clone());
    let out = m.get_one::<PathBuf>("out").cloned().unwrap_or_else(|| dir.join("target/tk8s-image").join(&config.app.name));
    let created = tk8s_image::source_date_epoch(env);
    let mut labels = BTreeMap::from([
        ("org.opencontainers.image.title".to_string(), config.app.name.clone()),
        ("org.opencontainers.image.version".to_string(), tag.clone()),
        ("org.opencontainers.image.created".to_string(), oci::rfc3339(created)),
    ]);
    for label in m.get_many::<String>("label").into_iter().flatten() {
        let Some((k, v)) = label.split_once('=') else {
            eprintln!("error: --label {label:?} is not KEY=VALUE");
            return exit::USAGE;
        };
        labels.insert(k.to_string(), v.to_string());
    }
    let mut spec = oci::ImageSpec {
        app: config.app.name.clone(),
        binary: Some(binary),
        entrypoint: None,
        tag: tag.clone(),
        files: Vec::new(),
        trees: Vec::new(),
        labels,
        created,
    };
    let result = base::Base::ensure(&base::cache_dir(env), m.get_flag("refresh-base")).and_then(|b| {
        match sbom::attach(&mut spec, &b, &BTreeMap::new(), None)? {
            Some((n, _)) => println!("sbom    {} ({n} crates from the binary, {} Debian packages)", sbom::path_in_image(&spec.app), b.packages.len()),
            None => eprintln!(
                "warning: {} carries no dependency list, so the SBOM in the image lists the base only\n  hint: build it with `cargo auditable build --release` (cargo install cargo-auditable)",
                spec.binary.as_ref().map(|b| b.display().to_string()).unwrap_or_default()
            ),
        }
        oci::build(&spec, &b, &out)
    });
    let built = match result {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let mb = |b: u64| b as f64 / 1e6;
    println!("image   {}:{tag}", config.app.image);
    println!("digest  {}", built.digest);
    println!("id      {}", built.id);
    println!("size    {:.1} MB ({:.1} MB compressed)", mb(built.size), mb(built.compressed_size));
    println!("layout  {}", built.layout.display());
    if m.get_flag("push") {
        let reference = format!("{}:{tag}", config.app.image);
        match push::push(&built, &reference, m.get_flag("insecure-registry")) {
            Ok(digest) => println!("pushed  {reference}@{digest}"),
            Err(e) => {
                eprintln!("error: {e}");
                return e.exit_code();
            }
        }
    } else {
        println!(
            "load it skopeo copy oci:{}:{tag} containers-storage:{}:{tag}   (or push with --push)",
            built.layout.display(),
            config.app.name
        );
    }
    exit::OK
}
