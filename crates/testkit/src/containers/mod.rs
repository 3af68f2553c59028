//! Images and pods on this machine, the way users run them, with Debian's buildah, podman,
//! skopeo and docker-registry (no Docker engine, no Kubernetes):
//!
//! - [`Podman`]: podman and buildah with a private configuration and storage under a state
//!   directory (runc, cgroupfs, file events: no systemd here), so nothing touches the machine's
//!   own container storage;
//! - [`Podman::ensure_base`]: the runtime base the Dockerfile names
//!   (`gcr.io/distroless/cc-debian12:nonroot`) when it cannot be pulled, assembled the way
//!   distroless itself is made: Debian packages unpacked into a root filesystem, a `nonroot`
//!   user 65532, the CA bundle, then imported;
//! - [`Podman::build`]: one target of `deploy/docker/Dockerfile` with buildah, from binaries
//!   built on the host (`--build-context build=DIR` stands in for the Dockerfile's build stage);
//! - [`Registry`]: a registry on 127.0.0.1 to push to and pull from;
//! - [`Pods`]: `podman kube play` of rendered manifests, adapted by [`adapt`], stopped with a
//!   drain (`podman pod stop`) and removed when dropped.

pub mod adapt;
pub mod local;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The image the Dockerfile's runtime stage starts from.
pub const BASE_IMAGE: &str = "gcr.io/distroless/cc-debian12:nonroot";
/// Debian packages a Rust binary linked against glibc with rustls/ring needs at run time.
/// (distroless `cc` also carries libssl, libstdc++ and libgomp, which these binaries do not use,
/// and tzdata, which they do not read: all times are UTC.)
pub const BASE_PACKAGES: &[&str] = &["libc6", "libgcc-s1", "ca-certificates", "base-files", "netbase"];
/// What the packages bring that a binary never reads: iconv modules, vector math, docs, the CA
/// sources once bundled, the scripts that maintain them.
const BASE_PRUNE: &[&str] = &[
    "usr/lib/x86_64-linux-gnu/gconv",
    "lib/x86_64-linux-gnu/libmvec.so.1",
    "usr/share/man",
    "usr/share/info",
    "usr/share/lintian",
    "usr/share/ca-certificates",
    "usr/sbin/update-ca-certificates",
    "etc/ca-certificates",
];
/// Label on an assembled base, holding the package versions it was made from.
pub const BASE_LABEL: &str = "org.temporal-k8s.base-packages";

/// podman and buildah with their own configuration and storage.
#[derive(Debug, Clone)]
pub struct Podman {
    state: PathBuf,
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    } else {
        Err(format!("{cmd:?} failed ({}):\n{}{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

impl Podman {
    /// Use `state` for configuration and storage. Fails when podman or buildah is missing (install
    /// them with `cargo xtask tools`) or when the runtime refuses to work here (`podman info`).
    pub fn new(state: &Path) -> Result<Podman, String> {
        std::fs::create_dir_all(state).map_err(|e| format!("{}: {e}", state.display()))?;
        let state = state.canonicalize().map_err(|e| format!("{}: {e}", state.display()))?;
        let conf = "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
                    [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n";
        let storage = format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            state.join("storage").display(),
            state.join("run").display()
        );
        for (name, text) in [("containers.conf", conf.to_string()), ("storage.conf", storage)] {
            std::fs::write(state.join(name), text).map_err(|e| format!("{name}: {e}"))?;
        }
        let podman = Podman { state };
        for tool in ["podman", "buildah", "skopeo"] {
            output(podman.command(tool).arg("--version"))
                .map_err(|e| format!("{tool} is not usable: {e}\nhint: run `cargo xtask tools` (installs it from Debian)"))?;
        }
        Ok(podman)
    }

    /// Whether the runtime works on this kernel: `Err` with podman's reason if not.
    pub fn check_runtime(&self) -> Result<(), String> {
        output(self.command("podman").args(["info", "--format", "{{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}}"])).map(|_| ())
    }

    /// A `podman`, `buildah` or `skopeo` command using this configuration and storage.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("CONTAINERS_CONF", self.state.join("containers.conf")).env("CONTAINERS_STORAGE_CONF", self.state.join("storage.conf"));
        c
    }

    pub fn run(&self, program: &str, args: &[&str]) -> Result<String, String> {
        output(self.command(program).args(args))
    }

    pub fn state(&self) -> &Path {
        &self.state
    }

    pub fn image_exists(&self, image: &str) -> bool {
        self.command("podman").args(["image", "exists", image]).status().is_ok_and(|s| s.success())
    }

    /// Uncompressed size of a local image, in bytes.
    pub fn image_size(&self, image: &str) -> Result<u64, String> {
        self.run("podman", &["image", "inspect", "--format", "{{.Size}}", image])?
            .trim()
            .parse()
            .map_err(|e| format!("size of {image}: {e}"))
    }

    /// Make [`BASE_IMAGE`] available: keep one that exists (pulled or assembled before),
    /// otherwise assemble it from [`BASE_PACKAGES`]. Refuses a base that lacks a library one of
    /// `binaries` needs. Returns the package versions of an assembled base (empty otherwise).
    pub fn ensure_base(&self, binaries: &[&Path]) -> Result<Vec<String>, String> {
        let versions = if self.image_exists(BASE_IMAGE) {
            let label =
                self.run("podman", &["image", "inspect", "--format", &format!("{{{{index .Labels \"{BASE_LABEL}\"}}}}"), BASE_IMAGE])?;
            label.trim().split(' ').filter(|s| !s.is_empty() && *s != "<no").map(String::from).collect()
        } else {
            self.assemble_base()?
        };
        let rootfs = self.state.join("base/rootfs");
        if rootfs.is_dir() {
            for binary in binaries {
                let missing = missing_libraries(&rootfs, binary)?;
                if !missing.is_empty() {
                    return Err(format!("the base lacks {} needed by {}", missing.join(", "), binary.display()));
                }
            }
        }
        Ok(versions)
    }

    fn assemble_base(&self) -> Result<Vec<String>, String> {
        let dir = self.state.join("base");
        let (debs, rootfs) = (dir.join("debs"), dir.join("rootfs"));
        let _ = std::fs::remove_dir_all(&dir);
        for d in [&debs, &rootfs] {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        output(Command::new("apt-get").current_dir(&debs).arg("download").args(BASE_PACKAGES))
            .map_err(|e| format!("downloading the base packages: {e}\nhint: run `apt-get update` first"))?;
        let mut versions = Vec::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&debs).map_err(|e| e.to_string())?.flatten().map(|e| e.path()).collect();
        files.sort();
        for deb in &files {
            output(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&rootfs))?;
            let field = |f: &str| output(Command::new("dpkg-deb").args(["-f"]).arg(deb).arg(f)).map(|s| s.trim().to_string());
            versions.push(format!("{}={}", field("Package")?, field("Version")?));
        }
        let bundle: String = {
            let mut certs: Vec<PathBuf> = std::fs::read_dir(rootfs.join("usr/share/ca-certificates/mozilla"))
                .map_err(|e| format!("CA certificates: {e}"))?
                .flatten()
                .map(|e| e.path())
                .collect();
            certs.sort();
            certs.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
        };
        for p in BASE_PRUNE {
            let path = rootfs.join(p);
            let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        }
        let write = |rel: &str, text: &str| {
            let path = rootfs.join(rel);
            std::fs::create_dir_all(path.parent().unwrap_or(&rootfs))
                .and_then(|_| std::fs::write(&path, text))
                .map_err(|e| format!("{rel}: {e}"))
        };
        write("etc/ssl/certs/ca-certificates.crt", &bundle)?;
        write(
            "etc/passwd",
            "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
        )?;
        write("etc/group", "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")?;
        write("etc/nsswitch.conf", "hosts: files dns\n")?;
        std::fs::create_dir_all(rootfs.join("home/nonroot")).map_err(|e| e.to_string())?;
        output(Command::new("chown").args(["65532:65532"]).arg(rootfs.join("home/nonroot")))?;
        output(Command::new("chmod").args(["1777"]).arg(rootfs.join("tmp")))?;
        let tar = Command::new("tar").args(["--numeric-owner", "-C"]).arg(&rootfs).args(["-c", "."]).stdout(Stdio::piped()).spawn();
        let mut tar = tar.map_err(|e| format!("tar: {e}"))?;
        let stdout = tar.stdout.take().ok_or("tar has no stdout")?;
        let label = format!("LABEL {BASE_LABEL}=\"{}\"", versions.join(" "));
        let import = self
            .command("podman")
            .args(["import", "--change", "USER 65532:65532", "--change", &label, "-", BASE_IMAGE])
            .stdin(stdout)
            .output();
        let _ = tar.wait();
        let import = import.map_err(|e| format!("podman import: {e}"))?;
        if !import.status.success() {
            return Err(format!("podman import failed: {}", String::from_utf8_lossy(&import.stderr)));
        }
        Ok(versions)
    }

    /// Build `target` of `dockerfile` as `tag`, with `binaries` (name, path) standing in for the
    /// Dockerfile's `build` stage output (`/out/<name>`). `--format docker` keeps HEALTHCHECK.
    pub fn build(&self, dockerfile: &Path, target: &str, binaries: &[(&str, &Path)], tag: &str) -> Result<(), String> {
        let work = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = work.path().join("build/out");
        std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
        for (name, path) in binaries {
            let dest = out.join(name);
            if std::fs::hard_link(path, &dest).is_err() {
                std::fs::copy(path, &dest).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        let context = work.path().join("context");
        std::fs::create_dir_all(&context).map_err(|e| e.to_string())?;
        let build_context = format!("build={}", work.path().join("build").display());
        self.run(
            "buildah",
            &[
                "bud",
                "--isolation",
                "chroot",
                "--pull=never",
                "--format",
                "docker",
                "--layers=false",
                "-f",
                &dockerfile.display().to_string(),
                "--target",
                target,
                "--build-context",
                &build_context,
                "-t",
                tag,
                &context.display().to_string(),
            ],
        )
        .map(|_| ())
    }
}

/// Libraries `binary` links that `rootfs` does not hold (by file name, as the loader finds them).
pub fn missing_libraries(rootfs: &Path, binary: &Path) -> Result<Vec<String>, String> {
    let ldd = output(Command::new("ldd").arg(binary))?;
    let dirs = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "lib", "usr/lib"];
    Ok(ldd
        .lines()
        .filter_map(|l| {
            let name = l.split_whitespace().next()?;
            let file = Path::new(name).file_name()?.to_str()?.to_string();
            (!file.starts_with("linux-vdso")).then_some(file)
        })
        .filter(|file| !dirs.iter().any(|d| rootfs.join(d).join(file).exists()))
        .collect())
}

/// A container registry (CNCF distribution, `docker-registry` from Debian) on 127.0.0.1.
pub struct Registry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Result<Registry, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = crate::free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nlog:\n  level: warn\n",
                dir.path().join("data").display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start docker-registry: {e}\nhint: run `cargo xtask tools` (Debian package docker-registry)"))?;
        let registry = Registry { child, port, _dir: dir };
        let up = crate::wait_until(Duration::from_secs(10), || crate::http_get(port, "/v2/").is_some_and(|(s, _)| s == 200));
        if up { Ok(registry) } else { Err("the registry did not answer /v2/".into()) }
    }

    /// `127.0.0.1:<port>/<name>`.
    pub fn repository(&self, name: &str) -> String {
        format!("127.0.0.1:{}/{name}", self.port)
    }

    /// Push a local image as `<registry>/<name>:<tag>`; the compressed size pushed (the sum of
    /// the manifest's layers and config), in bytes.
    pub fn push(&self, podman: &Podman, local: &str, name: &str, tag: &str) -> Result<u64, String> {
        let remote = format!("{}:{tag}", self.repository(name));
        podman.run("podman", &["push", "--tls-verify=false", local, &format!("docker://{remote}")])?;
        let raw = podman.run("skopeo", &["inspect", "--tls-verify=false", "--raw", &format!("docker://{remote}")])?;
        let manifest: serde_json::Value = serde_json::from_str(&raw).map_err(|e| format!("manifest of {remote}: {e}"))?;
        let layers: u64 = manifest["layers"].as_array().into_iter().flatten().filter_map(|l| l["size"].as_u64()).sum();
        Ok(layers + manifest["config"]["size"].as_u64().unwrap_or(0))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pods started by `podman kube play`; stopped with a drain and removed when dropped.
pub struct Pods {
    podman: Podman,
    file: PathBuf,
    pub names: Vec<String>,
    grace_s: u64,
    _dir: tempfile::TempDir,
}

impl Pods {
    /// Play `objects` (already adapted) with `podman kube play`, pulling from an insecure local
    /// registry. `grace_s`: how long `podman pod stop` waits for the drain.
    pub fn play(podman: &Podman, objects: &[serde_json::Value], grace_s: u64) -> Result<Pods, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let file = dir.path().join("play.yaml");
        let mut yaml = String::new();
        for o in objects {
            yaml.push_str("---\n");
            yaml.push_str(&serde_norway::to_string(o).map_err(|e| e.to_string())?);
        }
        std::fs::File::create(&file).and_then(|mut f| f.write_all(yaml.as_bytes())).map_err(|e| e.to_string())?;
        let names = objects
            .iter()
            .filter(|o| o["kind"] == "Deployment")
            .filter_map(|o| o["metadata"]["name"].as_str().map(|n| format!("{n}-pod-0")))
            .collect();
        let pods = Pods { podman: podman.clone(), file, names, grace_s, _dir: dir };
        podman.run("podman", &["kube", "play", "--tls-verify=false", &pods.file.display().to_string()])?;
        Ok(pods)
    }

    /// The name of container `container` in the pod of Deployment `deployment`.
    pub fn container(&self, deployment: &str, container: &str) -> String {
        format!("{deployment}-pod-0-{container}")
    }

    /// What a container printed.
    pub fn logs(&self, container: &str) -> String {
        self.podman
            .command("podman")
            .args(["logs", container])
            .output()
            .map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
            .unwrap_or_default()
    }

    /// The host PID of a container's main process.
    pub fn pid(&self, container: &str) -> Result<u32, String> {
        self.podman
            .run("podman", &["inspect", "--format", "{{.State.Pid}}", container])?
            .trim()
            .parse()
            .map_err(|e| format!("pid of {container}: {e}"))
    }

    /// Stop the pods the way a node drains them: SIGTERM, then up to the grace period (podman's
    /// `kube down` would SIGKILL at once, podman #22397).
    pub fn stop(&self) -> Result<(), String> {
        let grace = self.grace_s.to_string();
        let mut args = vec!["pod", "stop", "-t", grace.as_str()];
        args.extend(self.names.iter().map(String::as_str));
        self.podman.run("podman", &args).map(|_| ())
    }
}

impl Drop for Pods {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = self.podman.run("podman", &["kube", "down", &self.file.display().to_string()]);
        for name in &self.names {
            let _ = self.podman.run("podman", &["pod", "rm", "-f", name]);
        }
    }
}
