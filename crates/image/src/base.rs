//! The runtime base, assembled from Debian packages the way distroless is: `apt-get download`
//! the packages, unpack each with `dpkg-deb -x`, drop what a binary never reads, add a
//! `nonroot` user (65532) and the CA bundle. No base image is pulled, so this works with no
//! registry access. The result is cached per machine under [`cache_dir`] (one directory per
//! package list), and reused until `refresh` asks for a new one.

use crate::{ImageError, run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian packages a Rust binary linked against glibc with rustls/ring needs at run time.
/// (distroless `cc` also carries libssl, libstdc++ and libgomp, which these binaries do not
/// use, and tzdata, which they do not read: all times are UTC.)
pub const PACKAGES: &[&str] = &["libc6", "libgcc-s1", "ca-certificates", "base-files", "netbase"];

/// What the packages bring that a binary never reads: iconv modules, vector math, docs, the CA
/// sources once bundled, the scripts that maintain them.
const PRUNE: &[&str] = &[
    "usr/lib/x86_64-linux-gnu/gconv",
    "lib/x86_64-linux-gnu/libmvec.so.1",
    "usr/share/man",
    "usr/share/info",
    "usr/share/lintian",
    "usr/share/doc",
    "usr/share/ca-certificates",
    "usr/sbin/update-ca-certificates",
    "etc/ca-certificates",
];

/// Files the base adds beside the packages' own.
const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n";

/// An assembled base: its root filesystem and the package versions it was made from.
#[derive(Debug, Clone)]
pub struct Base {
    pub rootfs: PathBuf,
    /// `name=version`, sorted.
    pub packages: Vec<String>,
}

/// Where bases (and other per-machine image inputs) are cached: `$TK8S_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/tk8s`, else `$HOME/.cache/tk8s`.
pub fn cache_dir(env: &BTreeMap<String, String>) -> PathBuf {
    if let Some(d) = env.get("TK8S_CACHE_DIR") {
        return PathBuf::from(d);
    }
    match (env.get("XDG_CACHE_HOME"), env.get("HOME")) {
        (Some(x), _) => Path::new(x).join("tk8s"),
        (None, Some(h)) => Path::new(h).join(".cache/tk8s"),
        (None, None) => PathBuf::from("/tmp/tk8s-cache"),
    }
}

const APT_HINT: &str = "the base is assembled from Debian packages: run this on Debian or Ubuntu (apt-get and dpkg-deb), after `apt-get update`; elsewhere build with the project's Dockerfile";

impl Base {
    /// The cached base for [`PACKAGES`], assembled first if there is none (or `refresh`).
    pub fn ensure(cache: &Path, refresh: bool) -> Result<Base, ImageError> {
        Base::ensure_with(cache, PACKAGES, refresh)
    }

    /// The same for another package list: [`PACKAGES`] and what a runtime needs beyond them
    /// (e.g. Debian's Python for a Python worker).
    pub fn ensure_with(cache: &Path, packages: &[&str], refresh: bool) -> Result<Base, ImageError> {
        let dir = cache.join("base").join(packages.join("+"));
        let (rootfs, versions) = (dir.join("rootfs"), dir.join("packages.txt"));
        if !refresh
            && rootfs.is_dir()
            && let Ok(text) = std::fs::read_to_string(&versions)
        {
            return Ok(Base { rootfs, packages: text.lines().map(String::from).collect() });
        }
        let work = dir.with_extension("partial");
        let _ = std::fs::remove_dir_all(&work);
        let (debs, root) = (work.join("debs"), work.join("rootfs"));
        for d in [&debs, &root] {
            std::fs::create_dir_all(d).map_err(|source| ImageError::Write { path: d.clone(), source })?;
        }
        run("apt-get", Command::new("apt-get").current_dir(&debs).arg("download").args(packages), APT_HINT)?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(&debs)
            .map_err(|source| ImageError::Read { path: debs.clone(), source })?
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        let mut packages = Vec::new();
        for deb in &files {
            run("dpkg-deb", Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root), APT_HINT)?;
            let field =
                |f: &str| run("dpkg-deb", Command::new("dpkg-deb").arg("-f").arg(deb).arg(f), APT_HINT).map(|s| s.trim().to_string());
            packages.push(format!("{}={}", field("Package")?, field("Version")?));
        }
        packages.sort();
        let mozilla = root.join("usr/share/ca-certificates/mozilla");
        let mut certs: Vec<PathBuf> = std::fs::read_dir(&mozilla)
            .map_err(|source| ImageError::Read { path: mozilla.clone(), source })?
            .flatten()
            .map(|e| e.path())
            .collect();
        certs.sort();
        let bundle: String = certs.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect();
        for p in PRUNE {
            let path = root.join(p);
            let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        }
        for (rel, text) in [
            ("etc/ssl/certs/ca-certificates.crt", bundle.as_str()),
            ("etc/passwd", PASSWD),
            ("etc/group", GROUP),
            ("etc/nsswitch.conf", "hosts: files dns\n"),
        ] {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap_or(&root))
                .and_then(|_| std::fs::write(&path, text))
                .map_err(|source| ImageError::Write { path, source })?;
        }
        for d in ["home/nonroot", "tmp"] {
            std::fs::create_dir_all(root.join(d)).map_err(|source| ImageError::Write { path: root.join(d), source })?;
        }
        let _ = std::fs::remove_dir_all(&debs);
        std::fs::write(work.join("packages.txt"), packages.join("\n") + "\n")
            .map_err(|source| ImageError::Write { path: work.join("packages.txt"), source })?;
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&work, &dir).map_err(|source| ImageError::Write { path: dir.clone(), source })?;
        Ok(Base { rootfs, packages })
    }

    /// Libraries `binary` links that the base does not hold (by file name, as the loader finds
    /// them), from `ldd`.
    pub fn missing_libraries(&self, binary: &Path) -> Result<Vec<String>, ImageError> {
        let ldd = run("ldd", Command::new("ldd").arg(binary), "ldd comes with glibc (Debian package libc-bin)")?;
        let dirs = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "lib", "usr/lib"];
        Ok(ldd
            .lines()
            .filter_map(|l| {
                let name = l.split_whitespace().next()?;
                let file = Path::new(name).file_name()?.to_str()?.to_string();
                (!file.starts_with("linux-vdso")).then_some(file)
            })
            .filter(|file| !dirs.iter().any(|d| self.rootfs.join(d).join(file).exists()))
            .collect())
    }
}
