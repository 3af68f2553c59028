//! `tk8s new NAME`: a ready cargo project for a Temporal app on temporal-k8s, outside this
//! repository: `Cargo.toml` (the toolkit as a git dependency, or a path for a local checkout;
//! every crate the app needs; the release profile the toolkit's images use), a `Cargo.lock`
//! with the versions the toolkit is tested with, one workflow and one activity, a deploy config
//! that names the app's binary, a Dockerfile that builds from the project alone, and a README
//! with the five commands from nothing to a rollout.

use std::path::{Path, PathBuf};

/// Where the app's `tk8s-host` comes from.
#[derive(Debug, Clone)]
pub enum Toolkit {
    /// A git repository (the default: this project's).
    Git(String),
    /// A local checkout of this repository (its root).
    Path(PathBuf),
}

/// The toolkit's repository, as its workspace declares it.
pub const REPOSITORY: &str = "https://github.com/temporal-k8s/temporal-k8s";

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// Exit 64.
    #[error("{name:?} is not a usable app name: {why}\n  hint: lowercase letters, digits and '-', starting with a letter, e.g. \"orders\"")]
    Name { name: String, why: &'static str },
    /// Exit 73.
    #[error("{} exists and is not empty\n  hint: choose another directory with --dir, or remove it", path.display())]
    Occupied { path: PathBuf },
    /// Exit 73.
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

impl ScaffoldError {
    pub fn exit_code(&self) -> u8 {
        use tk8s_config::exit;
        match self {
            ScaffoldError::Name { .. } => exit::USAGE,
            ScaffoldError::Occupied { .. } | ScaffoldError::Write { .. } => exit::CANT_CREATE,
        }
    }
}

/// An app name must be a cargo package name, a binary name and a DNS label all at once.
fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let why = if !tk8s_render::is_dns_label(name) {
        "it must be a DNS label (it names Kubernetes objects)"
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        "it must start with a letter (it is a cargo package and a binary)"
    } else if ["test", "build", "deps", "examples", "tk8s"].contains(&name) {
        "cargo or tk8s uses that name"
    } else {
        return Ok(());
    };
    Err(ScaffoldError::Name { name: name.into(), why })
}

/// The project's files, relative to its directory.
pub fn files(name: &str, toolkit: &Toolkit) -> Result<Vec<(PathBuf, String)>, ScaffoldError> {
    check_name(name)?;
    let host = match toolkit {
        Toolkit::Git(url) => format!("{{ git = \"{url}\" }}"),
        Toolkit::Path(root) => format!("{{ path = \"{}\" }}", root.join("crates/host").display()),
    };
    let fill = |t: &str| t.replace("@APP@", name).replace("@REPO@", REPOSITORY).replace("@TOOLKIT@", &host);
    let mut deploy = tk8s_render::init_template(name, Some(&format!("target/release/{name}")));
    deploy.insert_str(0, &format!("# {name}'s deploy config. The reference of every key: {REPOSITORY}/blob/main/docs/deploy-config.md\n"));
    Ok(vec![
        ("Cargo.toml".into(), fill(include_str!("templates/Cargo.toml"))),
        // The versions the toolkit is built and tested with; cargo adds the app and drops the rest.
        ("Cargo.lock".into(), include_str!("../../../Cargo.lock").to_string()),
        ("src/main.rs".into(), fill(include_str!("templates/main.rs"))),
        ("src/workflows.rs".into(), fill(include_str!("templates/workflows.rs"))),
        ("deploy.toml".into(), deploy),
        ("Dockerfile".into(), fill(include_str!("templates/Dockerfile"))),
        (".dockerignore".into(), include_str!("templates/dockerignore").into()),
        (".gitignore".into(), include_str!("templates/gitignore").into()),
        ("README.md".into(), fill(include_str!("templates/README.md"))),
        ("replay/README.md".into(), fill(include_str!("templates/replay-README.md"))),
    ])
}

/// Write the project into `dir` (which must not exist or be empty); the files written.
pub fn scaffold(name: &str, dir: &Path, toolkit: &Toolkit) -> Result<Vec<PathBuf>, ScaffoldError> {
    let files = files(name, toolkit)?;
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(ScaffoldError::Occupied { path: dir.to_path_buf() });
    }
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ScaffoldError::Write { path: parent.to_path_buf(), source })?;
        }
        std::fs::write(&path, text).map_err(|source| ScaffoldError::Write { path: path.clone(), source })?;
        written.push(rel);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_cannot_be_an_app_are_refused_with_a_hint() {
        for bad in ["Orders", "my_app", "1st", "tk8s", "", "a-very-long-name-that-does-not-fit-in-a-dns-label-at-all"] {
            let e = files(bad, &Toolkit::Git(REPOSITORY.into())).unwrap_err();
            assert_eq!(e.exit_code(), 64, "{bad}");
            assert!(e.to_string().contains("hint:"), "{e}");
        }
    }

    #[test]
    fn the_project_names_only_the_app_and_its_deploy_config_parses() {
        let files = files("orders", &Toolkit::Path("/src/temporal-k8s".into())).unwrap();
        let get = |name: &str| &files.iter().find(|(p, _)| p == Path::new(name)).unwrap().1;
        assert!(get("Cargo.toml").contains("tk8s-host = { path = \"/src/temporal-k8s/crates/host\" }"));
        for (path, text) in &files {
            assert!(!text.contains("@APP@") && !text.contains("@TOOLKIT@"), "{} has a placeholder left", path.display());
            assert!(!text.contains("greeting") || path.ends_with("Cargo.lock"), "{} names the example", path.display());
        }
        let deploy = tk8s_render::DeployConfig::parse(Path::new("deploy.toml"), get("deploy.toml")).unwrap();
        assert_eq!((deploy.app.name.as_str(), deploy.app.binary.as_deref()), ("orders", Some(Path::new("target/release/orders"))));
        let dir = tempfile::tempdir().unwrap();
        scaffold("orders", dir.path(), &Toolkit::Git(REPOSITORY.into())).unwrap();
        let again = scaffold("orders", dir.path(), &Toolkit::Git(REPOSITORY.into())).unwrap_err();
        assert_eq!(again.exit_code(), 73, "{again}");
    }
}
