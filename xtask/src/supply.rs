//! `cargo xtask deny`: the supply-chain gate CI runs. cargo-deny (installed once per machine,
//! outside the clone) checks the workspace against `deny.toml`: licences on the allow-list,
//! crates only from the crates registry, duplicate majors reported, and advisories read offline
//! from the snapshot of the RustSec database in `../shared/advisory-db` (a user's CI reads the
//! live database instead: `cargo deny check`). Then it proves the gate can fail: the fixture in
//! `supply/fixtures/refused` (a GPL licence and a crate with a known advisory) must be refused.

use crate::{Result, root};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The cargo-deny release the gate is pinned to.
const CARGO_DENY: &str = "0.20.2";
/// The database cargo-deny reads by default; in CI, git reads it from the snapshot.
const LIVE_DATABASE: &str = "https://github.com/RustSec/advisory-db";
/// What the fixture must be refused for.
const FIXTURE_ADVISORY: &str = "RUSTSEC-2021-0003";
const FIXTURE_LICENCE: &str = "GPL-3.0-only";

/// Where cargo-installed tools live: the per-machine cache, never the clone.
pub fn tools_root() -> PathBuf {
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    tk8s_image::base::cache_dir(&env).join("cargo-tools")
}

/// `cargo install --locked NAME@VERSION` into [`tools_root`] unless that version is there.
pub fn cargo_tool(name: &str, version: &str) -> Result<PathBuf> {
    let root = tools_root();
    let bin = root.join("bin").join(name);
    let stamp = root.join(format!("{name}.version"));
    if bin.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|v| v.trim() == version) {
        return Ok(bin);
    }
    eprintln!("xtask: installing {name} {version} from the crates registry into {} (once per machine)", root.display());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    crate::run(
        Command::new(cargo).args(["install", "--locked", "--quiet", "--force", "--root"]).arg(&root).arg(format!("{name}@{version}")),
    )?;
    std::fs::write(&stamp, version).map_err(|e| e.to_string())?;
    Ok(bin)
}

const SNAPSHOT: &str = "advisory-db.tar.gz";

/// Where the machine keeps the advisory snapshot: `$TK8S_ADVISORY_DB`, else `shared/advisory-db`
/// beside the workspace or one of its ancestors (the workplace's layout), else the workplace's
/// own `/work/shared` (for a clone made elsewhere, e.g. in /tmp).
fn snapshot() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("TK8S_ADVISORY_DB").map(|d| PathBuf::from(d).join(SNAPSHOT)).into_iter().collect();
    candidates.extend(root().ancestors().skip(1).map(|a| a.join("shared/advisory-db").join(SNAPSHOT)));
    candidates.push(PathBuf::from("/work/shared/advisory-db").join(SNAPSHOT));
    candidates.into_iter().find(|p| p.is_file())
}

/// The snapshot extracted and committed into a git repository (cargo-deny fetches from git).
fn advisory_db(dir: &Path) -> Result<PathBuf> {
    let snapshot = snapshot().ok_or_else(|| {
        format!(
            "no snapshot of the RustSec advisory database: {SNAPSHOT} is in none of $TK8S_ADVISORY_DB, shared/advisory-db beside the workspace or an ancestor of it, or /work/shared/advisory-db\n  hint: set TK8S_ADVISORY_DB to the directory that holds it; with network access run `cargo deny check` against the live database instead"
        )
    })?;
    crate::run(Command::new("tar").arg("-xzf").arg(&snapshot).arg("-C").arg(dir))?;
    let repo = dir.join("advisory-db");
    let git = |args: &[&str]| {
        crate::run(
            Command::new("git")
                .current_dir(&repo)
                .args(["-c", "user.name=tk8s", "-c", "user.email=tk8s@localhost", "-c", "commit.gpgsign=false"])
                .args(args)
                .stdout(std::process::Stdio::null()),
        )
    };
    git(&["init", "-q", "-b", "main"])?;
    git(&["add", "-A"])?;
    git(&["commit", "-q", "-m", "snapshot"])?;
    Ok(repo)
}

pub fn deny(_args: &[String]) -> Result {
    let deny = cargo_tool("cargo-deny", CARGO_DENY)?;
    let scratch = tempfile_dir()?;
    let db = advisory_db(&scratch)?;
    // deny.toml as committed (the live database's URL); git, which cargo-deny fetches with, is
    // told to read that URL from the snapshot instead, and the database lands in scratch space.
    let policy = std::fs::read_to_string(root().join("deny.toml")).map_err(|e| format!("deny.toml: {e}"))?;
    let offline =
        policy.replacen("[advisories]\n", &format!("[advisories]\ndb-path = {:?}\n", scratch.join("dbs").display().to_string()), 1);
    let config = scratch.join("deny.toml");
    std::fs::write(&config, offline).map_err(|e| e.to_string())?;
    let check = |manifest: &Path| {
        Command::new(&deny)
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", format!("url.file://{}.insteadOf", db.display()))
            .env("GIT_CONFIG_VALUE_0", LIVE_DATABASE)
            .arg("--manifest-path")
            .arg(manifest)
            .args(["--color", "never", "--locked", "--config"])
            .arg(&config)
            .args(["check", "--show-stats"])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", deny.display()))
    };

    let main = check(&root().join("Cargo.toml"))?;
    let report = String::from_utf8_lossy(&main.stderr).to_string();
    println!("{}", summary(&report));
    if !main.status.success() {
        let _ = std::fs::remove_dir_all(&scratch);
        return Err(format!("the supply-chain gate refused the workspace:\n{report}"));
    }

    let fixture = check(&root().join("supply/fixtures/refused/Cargo.toml"))?;
    let _ = std::fs::remove_dir_all(&scratch);
    let report = String::from_utf8_lossy(&fixture.stderr).to_string();
    let refused_for = |what: &str| report.contains(what);
    if fixture.status.success() || !refused_for(FIXTURE_ADVISORY) || !refused_for(FIXTURE_LICENCE) {
        return Err(format!(
            "the gate did not refuse the fixture for both {FIXTURE_ADVISORY} and {FIXTURE_LICENCE} (exit {:?}):\n{report}",
            fixture.status.code()
        ));
    }
    println!("the gate refuses the fixture: {FIXTURE_ADVISORY} (advisory) and {FIXTURE_LICENCE} (licence)");
    Ok(())
}

/// cargo-deny's closing lines ("advisories ok, bans ok, ...").
fn summary(report: &str) -> String {
    report
        .lines()
        .filter(|l| l.contains(" ok") || l.contains("FAILED") || l.starts_with("warning["))
        .take(20)
        .collect::<Vec<_>>()
        .join("\n")
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tk8s-deny-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// The cargo-auditable release the release binaries are built with.
pub const CARGO_AUDITABLE: &str = "0.7.7";

/// `cargo auditable build --release --locked -p ...`: release binaries that carry their
/// dependency list.
pub fn auditable_release_build(packages: &[&str]) -> Result {
    let tool = cargo_tool("cargo-auditable", CARGO_AUDITABLE)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let path = std::env::join_paths(
        std::iter::once(tool.parent().map(Path::to_path_buf).unwrap_or_default())
            .chain(std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default()),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root()).env("PATH", path).args(["auditable", "build", "--release", "--locked"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    crate::run(&mut cmd)
}

/// One image built the way `tk8s image build` builds it, twice, with its SBOM checked.
pub struct SupplyImage {
    pub name: String,
    pub digest: String,
    pub crates: usize,
    /// Crates in the binary's embedded list before narrowing (proc macros and other members'
    /// optional dependencies included).
    pub recorded: usize,
    pub debian_packages: usize,
    pub size: u64,
}

/// The greeting and tk8s images as `tk8s image build` makes them (the path a user's CI takes),
/// with provenance labels from the commit and the SBOM: each built twice with
/// `SOURCE_DATE_EPOCH` from the commit (the digests must match), and its SBOM's crates checked
/// against `cargo tree` (every crate the binary links, no other).
pub fn provenance_images(binaries: &[(&str, &str, PathBuf)]) -> Result<Vec<SupplyImage>> {
    let git = |args: &[&str]| -> Result<String> {
        let out = Command::new("git").current_dir(root()).args(args).output().map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let created = match env.get("SOURCE_DATE_EPOCH") {
        Some(_) => tk8s_image::source_date_epoch(&env),
        None => git(&["log", "-1", "--format=%ct"])?.parse().unwrap_or(0),
    };
    let revision = git(&["rev-parse", "HEAD"])?;
    let licences = licences()?;
    let base = tk8s_image::base::Base::ensure(&tk8s_image::base::cache_dir(&env), false).map_err(|e| e.to_string())?;
    let trees = linked_by_cargo_tree(&binaries.iter().map(|(package, ..)| *package).collect::<Vec<_>>())?;
    let out = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target")).join("tk8s-image");
    let mut images = Vec::new();
    for ((package, app, binary), expected) in binaries.iter().zip(trees) {
        let labels = std::collections::BTreeMap::from([
            ("org.opencontainers.image.title".to_string(), app.to_string()),
            ("org.opencontainers.image.source".to_string(), env!("CARGO_PKG_REPOSITORY").to_string()),
            ("org.opencontainers.image.revision".to_string(), revision.clone()),
            ("org.opencontainers.image.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ("org.opencontainers.image.created".to_string(), tk8s_image::oci::rfc3339(created)),
            ("org.opencontainers.image.licenses".to_string(), env!("CARGO_PKG_LICENSE").to_string()),
        ]);
        let mut spec = tk8s_image::oci::ImageSpec {
            app: app.to_string(),
            binary: Some(binary.clone()),
            entrypoint: None,
            tag: env!("CARGO_PKG_VERSION").to_string(),
            files: Vec::new(),
            trees: Vec::new(),
            labels,
            created,
        };
        // The binary's own list, narrowed to what `cargo tree` says this build links (every one
        // of which must be in the binary's list).
        let (crates, recorded) = tk8s_image::sbom::attach(&mut spec, &base, &licences, Some(&expected))
            .map_err(|e| format!("{app}: {e}"))?
            .ok_or_else(|| format!("{} has no dependency list: it was not built with cargo auditable", binary.display()))?;
        if crates != expected.len() {
            return Err(format!(
                "the SBOM of {app} lists {crates} crates, `cargo tree -e normal,no-proc-macro -p {package}` {}",
                expected.len()
            ));
        }
        let first = tk8s_image::oci::build(&spec, &base, &out.join(format!("{app}-1"))).map_err(|e| e.to_string())?;
        let second = tk8s_image::oci::build(&spec, &base, &out.join(format!("{app}-2"))).map_err(|e| e.to_string())?;
        if first.digest != second.digest {
            return Err(format!("two builds of {app} at one commit gave two digests: {} and {}", first.digest, second.digest));
        }
        images.push(SupplyImage {
            name: app.to_string(),
            digest: first.digest,
            crates,
            recorded,
            debian_packages: base.packages.len(),
            size: first.size,
        });
    }
    Ok(images)
}

/// Licence expressions by `name@version`, from `cargo metadata`.
fn licences() -> Result<std::collections::BTreeMap<String, String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root())
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .map_err(|e| e.to_string())?;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    Ok(doc["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let licence =
                p["license"].as_str().map(String::from).or_else(|| p["license_file"].as_str().map(|f| format!("LicenseRef-file-{f}")))?;
            Some((format!("{}@{}", p["name"].as_str()?, p["version"].as_str()?), licence))
        })
        .collect())
}

/// For each package, `(name, version)` of every crate `cargo tree` says its binary links:
/// normal dependencies, proc macros left out, features unified as in one build of them all.
fn linked_by_cargo_tree(packages: &[&str]) -> Result<Vec<std::collections::BTreeSet<(String, String)>>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root()).args(["tree", "--locked", "-e", "normal,no-proc-macro", "--prefix", "none", "-f", "{p}"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    let out = cmd.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("cargo tree failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let trees: Vec<std::collections::BTreeSet<(String, String)>> = text
        .split("\n\n")
        .filter(|t| !t.trim().is_empty())
        .map(|tree| {
            tree.lines()
                .filter_map(|l| {
                    let mut words = l.split_whitespace();
                    let name = words.next()?;
                    let version = words.next()?.trim_start_matches('v');
                    Some((name.to_string(), version.to_string()))
                })
                .collect()
        })
        .collect();
    if trees.len() != packages.len() {
        return Err(format!("cargo tree printed {} trees for {} packages", trees.len(), packages.len()));
    }
    Ok(trees)
}
