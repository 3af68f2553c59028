//! Builds the control plane once per machine from Debian's source package of Kubernetes 1.20.2
//! (the newest Debian source that still ships `vendor/`), into the per-machine cache, never the
//! clone. Three fixes make the 1.20 tree build with Debian's Go 1.19: GOPATH mode, generated
//! OpenAPI definitions (not in the tarball), and reflect2 v1.0.2 in place of the vendored v1.0.1
//! (which makes the API server panic on JSON bodies, what kube-rs sends).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The Debian source package version the control plane is built from.
pub const SOURCE_VERSION: &str = "1.20.5+really1.20.2-1.1+deb12u1";
const SOURCE_TARBALL: &str = "kubernetes_1.20.5+really1.20.2.orig.tar.gz";
/// Bump the suffix when the recipe below changes, so that caches rebuild.
const BIN_DIR: &str = "bin-v1.20.2-r1";
/// The control plane's programs, built from the tree; etcd is Debian's.
pub const PROGRAMS: [&str; 3] = ["kube-apiserver", "kube-controller-manager", "kube-scheduler"];
/// Debian's reflect2 v1.0.2 (package golang-github-modern-go-reflect2-dev).
const REFLECT2: &str = "/usr/share/gocode/src/github.com/modern-go/reflect2";
const BUILD_HINT: &str = "run `cargo xtask cluster build` (about 8 minutes once per machine; `cargo xtask test` does it)";

/// `<per-machine cache>/kube-1.20`, next to the image bases.
pub fn kube_dir() -> PathBuf {
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    tk8s_image::base::cache_dir(&env).join("kube-1.20")
}

/// The directory of built programs, or why there is none yet.
pub fn built() -> Result<PathBuf, String> {
    let bin = kube_dir().join(BIN_DIR);
    let missing: Vec<&str> = PROGRAMS.iter().copied().filter(|p| !bin.join(p).is_file()).collect();
    if !missing.is_empty() {
        return Err(format!(
            "the Kubernetes 1.20 control plane is not built ({} missing in {})\n  hint: {BUILD_HINT}",
            missing.join(", "),
            bin.display()
        ));
    }
    for tool in ["etcd", "openssl"] {
        if which(tool).is_none() {
            return Err(format!("`{tool}` is not installed\n  hint: run `cargo xtask tools` (it installs Debian's etcd-server)"));
        }
    }
    Ok(bin)
}

pub(crate) fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(program)).find(|p| p.is_file()))
}

fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let out = command.output().map_err(|e| format!("{shown}: cannot start: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let tail =
        |b: &[u8]| String::from_utf8_lossy(b).lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    Err(format!("{shown} failed ({}):\n{}\n{}", out.status, tail(&out.stdout), tail(&out.stderr)))
}

/// Build what is missing; `log` receives one line per step with its time.
pub fn build(log: &mut dyn FnMut(String)) -> Result<PathBuf, String> {
    if let Ok(bin) = built() {
        log(format!("the control plane is built: {}", bin.display()));
        return Ok(bin);
    }
    for (tool, package) in [("go", "golang-go"), ("etcd", "etcd-server")] {
        if which(tool).is_none() {
            return Err(format!("`{tool}` is not installed\n  hint: run `cargo xtask tools` (it installs Debian's {package})"));
        }
    }
    if !Path::new(REFLECT2).join("go_above_118.go").is_file() {
        return Err(format!(
            "{REFLECT2} is missing\n  hint: run `cargo xtask tools` (it installs Debian's golang-github-modern-go-reflect2-dev)"
        ));
    }
    let kube = kube_dir();
    let gopath = kube.join("gopath");
    let tree = gopath.join("src/k8s.io/kubernetes");
    if !tree.join("go.mod").is_file() {
        let tarball = source_tarball(&kube, log)?;
        let started = Instant::now();
        let tmp = tree.with_extension("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        run(Command::new("tar").arg("xzf").arg(&tarball).arg("-C").arg(&tmp).arg("--strip-components=1"))?;
        replace_reflect2(&tmp)?;
        std::fs::rename(&tmp, &tree).map_err(|e| format!("{}: {e}", tree.display()))?;
        log(format!("extracted the source and replaced reflect2 in {:.0?}", started.elapsed()));
    }
    let go = |args: &[&str]| {
        let mut c = Command::new("nice");
        c.args(["-n", "19", "go"]).args(args).current_dir(&tree);
        c.env("GO111MODULE", "off").env("GOPATH", &gopath).env("GOCACHE", kube.join("gocache")).env("CGO_ENABLED", "0").env("GOFLAGS", "");
        c
    };
    let openapi = tree.join("pkg/generated/openapi/zz_generated.openapi.go");
    if !openapi.is_file() {
        let started = Instant::now();
        let generator = gopath.join("bin/openapi-gen");
        run(&mut go(&["build", "-o", &generator.to_string_lossy(), "./vendor/k8s.io/kube-openapi/cmd/openapi-gen"]))?;
        let packages = openapi_packages(&tree)?;
        let mut c = Command::new("nice");
        c.args(["-n", "19"]).arg(&generator).current_dir(&tree).env("GO111MODULE", "off").env("GOPATH", &gopath);
        c.args(["--logtostderr", "-i", &packages.join(","), "-p", "k8s.io/kubernetes/pkg/generated/openapi", "-O", "zz_generated.openapi"]);
        c.args(["-h", "vendor/k8s.io/code-generator/hack/boilerplate.go.txt", "-r"]).arg(kube.join("openapi-violations.report"));
        run(&mut c)?;
        log(format!("generated the OpenAPI definitions of {} packages in {:.0?}", packages.len(), started.elapsed()));
    }
    let bin = kube.join(BIN_DIR);
    std::fs::create_dir_all(&bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    let ldflags = version_ldflags();
    for program in PROGRAMS {
        if bin.join(program).is_file() {
            continue;
        }
        let started = Instant::now();
        let tmp = bin.join(format!("{program}.tmp"));
        run(&mut go(&["build", "-trimpath", "-ldflags", &ldflags, "-o", &tmp.to_string_lossy(), &format!("./cmd/{program}")]))?;
        std::fs::rename(&tmp, bin.join(program)).map_err(|e| e.to_string())?;
        log(format!("built {program} in {:.0?}", started.elapsed()));
    }
    built()
}

/// `-X` flags that make the binaries report v1.20.2 (GOPATH mode: the vendored package paths).
fn version_ldflags() -> String {
    let mut flags = String::from("-s -w");
    for kv in [
        "gitVersion=v1.20.2",
        "gitMajor=1",
        "gitMinor=20",
        "gitTreeState=clean",
        "gitCommit=faecb196815e248d3ecfb03c680a4507229c2a56",
        "buildDate=2021-01-13T13:20:00Z",
    ] {
        for package in ["k8s.io/client-go/pkg/version", "k8s.io/component-base/version"] {
            flags.push_str(&format!(" -X k8s.io/kubernetes/vendor/{package}.{kv}"));
        }
    }
    flags
}

/// The orig tarball from Debian's source package, fetched with `apt-get source` (after adding a
/// `deb-src` entry that mirrors the system's own `deb` entries, when there is none).
fn source_tarball(kube: &Path, log: &mut dyn FnMut(String)) -> Result<PathBuf, String> {
    let dl = kube.join("dl");
    let tarball = dl.join(SOURCE_TARBALL);
    if tarball.is_file() {
        return Ok(tarball);
    }
    std::fs::create_dir_all(&dl).map_err(|e| format!("{}: {e}", dl.display()))?;
    let started = Instant::now();
    let written = ensure_deb_src(Path::new("/etc/apt"))?;
    if !written.is_empty() {
        log(format!("added {written:?} so that apt-get can fetch source packages"));
        run(Command::new("apt-get").args(["update", "-qq"]))?;
    }
    let fetch = || {
        run(Command::new("apt-get").current_dir(&dl).args(["source", "-qq", "--download-only", &format!("kubernetes={SOURCE_VERSION}")]))
    };
    if fetch().is_err() {
        // The entry may be new to apt's lists.
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        fetch().map_err(|e| format!("{e}\n  hint: the Debian source package kubernetes={SOURCE_VERSION} (bookworm) must be reachable through apt's deb-src entries"))?;
    }
    log(format!("fetched Debian's source package kubernetes={SOURCE_VERSION} in {:.0?}", started.elapsed()));
    Ok(tarball)
}

/// Write `sources.list.d/tk8s-deb-src.{sources,list}` mirroring the distribution's own `deb`
/// entries (Debian's or Ubuntu's; third-party repositories are left out) as `deb-src`, unless
/// a source entry exists already. Returns the files written.
pub fn ensure_deb_src(apt: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = apt.join("sources.list.d");
    let (mut stanzas, mut lines) = (Vec::new(), Vec::new());
    let distribution = |text: &str| text.contains("debian") || text.contains("ubuntu");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    files.push(apt.join("sources.list"));
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        if text
            .lines()
            .any(|l| l.trim() == "Types: deb-src" || l.trim().starts_with("Types: deb deb-src") || l.trim_start().starts_with("deb-src "))
        {
            return Ok(Vec::new());
        }
        if file.extension().is_some_and(|e| e == "sources") {
            for stanza in text.split("\n\n").filter(|s| distribution(s)) {
                if stanza.lines().any(|l| l.trim() == "Types: deb") {
                    stanzas.push(
                        stanza
                            .trim()
                            .lines()
                            .map(|l| if l.trim() == "Types: deb" { "Types: deb-src" } else { l })
                            .collect::<Vec<_>>()
                            .join("\n"),
                    );
                }
            }
        } else {
            for line in text.lines().map(str::trim_start).filter(|l| l.starts_with("deb ") && distribution(l)) {
                lines.push(line.replacen("deb ", "deb-src ", 1));
            }
        }
    }
    if stanzas.is_empty() && lines.is_empty() {
        return Err(format!(
            "no Debian or Ubuntu `deb` entry found under {} to mirror as deb-src\n  hint: add a deb-src entry for bookworm by hand",
            apt.display()
        ));
    }
    let header = "# Added by temporal-k8s (cargo xtask cluster build): source packages for the test control plane.\n";
    let mut written = Vec::new();
    for (name, entries, separator) in [("tk8s-deb-src.sources", &stanzas, "\n\n"), ("tk8s-deb-src.list", &lines, "\n")] {
        if entries.is_empty() {
            continue;
        }
        let path = dir.join(name);
        std::fs::write(&path, format!("{header}{}\n", entries.join(separator)))
            .map_err(|e| format!("{}: {e}\n  hint: run as root, or add a deb-src entry by hand", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

fn replace_reflect2(tree: &Path) -> Result<(), String> {
    let vendored = tree.join("vendor/github.com/modern-go/reflect2");
    let _ = std::fs::remove_dir_all(&vendored);
    std::fs::create_dir_all(&vendored).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(REFLECT2).map_err(|e| format!("{REFLECT2}: {e}"))?.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "go" || e == "s") {
            std::fs::copy(&path, vendored.join(entry.file_name())).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The packages tagged `+k8s:openapi-gen=` (as 1.20's Makefile finds them): staging packages by
/// their vendored path, the code generator's and the sample API server's left out.
fn openapi_packages(tree: &Path) -> Result<Vec<String>, String> {
    let mut found = std::collections::BTreeSet::new();
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            let top = dir == tree;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if !(top && (name.starts_with('_') || name.starts_with('.') || name == "vendor")) {
                    stack.push(path);
                }
                continue;
            }
            if !name.ends_with(".go") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let tagged = text.lines().any(|l| l.strip_prefix("//").is_some_and(|r| r.trim_start().starts_with("+k8s:")));
            if tagged && text.contains("+k8s:openapi-gen=") {
                let rel = dir.strip_prefix(tree).unwrap_or(&dir).to_string_lossy().to_string();
                let rel = rel.strip_prefix("staging/src/").map(|r| format!("vendor/{r}")).unwrap_or(rel);
                if !rel.starts_with("vendor/k8s.io/code-generator/") && !rel.starts_with("vendor/k8s.io/sample-apiserver/") {
                    found.insert(format!("k8s.io/kubernetes/{rel}"));
                }
            }
        }
    }
    Ok(found.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deb822_entry_is_mirrored_as_deb_src_once() {
        let apt = tempfile::tempdir().unwrap();
        let d = apt.path().join("sources.list.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("debian.sources"),
            "Types: deb\nURIs: http://mirror/debian\nSuites: bookworm\nComponents: main\n\nTypes: deb\nURIs: http://mirror/debian-security\nSuites: bookworm-security\nComponents: main\n",
        )
        .unwrap();
        std::fs::write(d.join("vendor.list"), "deb https://vendor.example/apt stable main\n").unwrap();
        let written = ensure_deb_src(apt.path()).unwrap();
        assert_eq!(written.len(), 1, "the vendor's one-line entry is not mirrored: {written:?}");
        let text = std::fs::read_to_string(&written[0]).unwrap();
        assert_eq!(text.matches("Types: deb-src").count(), 2, "{text}");
        assert!(text.contains("Suites: bookworm-security"), "{text}");
        assert!(!text.contains("Types: deb\n"), "{text}");
        assert!(ensure_deb_src(apt.path()).unwrap().is_empty(), "a second call finds the entry");
    }

    #[test]
    fn a_one_line_entry_is_mirrored_and_no_entry_is_an_error() {
        let apt = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(apt.path().join("sources.list.d")).unwrap();
        assert!(ensure_deb_src(apt.path()).unwrap_err().contains("no Debian or Ubuntu `deb` entry"));
        std::fs::write(apt.path().join("sources.list"), "deb http://mirror/debian bookworm main\n").unwrap();
        let written = ensure_deb_src(apt.path()).unwrap();
        let text = std::fs::read_to_string(&written[0]).unwrap();
        assert!(text.contains("deb-src http://mirror/debian bookworm main"), "{text}");
    }

    #[test]
    fn the_version_flags_use_vendored_package_paths() {
        let flags = version_ldflags();
        assert!(flags.contains("-X k8s.io/kubernetes/vendor/k8s.io/component-base/version.gitVersion=v1.20.2"), "{flags}");
        assert_eq!(flags.matches("-X ").count(), 12);
    }
}
