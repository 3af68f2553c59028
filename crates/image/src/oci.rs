//! An app's image as an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/*`): the
//! base layer, the app's layer (its binary at the contract's path), optional extra files, and a
//! config that follows `tk8s_config::contract`. skopeo and podman read the layout; nothing in it
//! depends on when or where it was built, so one commit gives one digest.

use crate::ImageError;
use crate::base::Base;
use crate::layer::{Entry, Layer, sha256, tree};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tk8s_config::contract;

/// What to build.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// The app's name: the binary lands at `/usr/local/bin/<app>`, the ENTRYPOINT.
    pub app: String,
    /// The app's binary; `None` for an image whose program comes from `trees` (an interpreter
    /// and a script), which then sets `entrypoint`.
    pub binary: Option<PathBuf>,
    /// The ENTRYPOINT, when it is not the contract's `/usr/local/bin/<app>`.
    pub entrypoint: Option<Vec<String>>,
    pub tag: String,
    /// Extra files in their own layer (path in the image, contents), e.g. an SBOM.
    pub files: Vec<(String, Vec<u8>)>,
    /// Directories copied in, each into its own layer (host directory, path in the image).
    pub trees: Vec<(PathBuf, String)>,
    /// Labels, `org.opencontainers.image.*` among them.
    pub labels: BTreeMap<String, String>,
    /// Seconds since the epoch for every time in the image (`SOURCE_DATE_EPOCH`).
    pub created: u64,
}

/// A built image.
#[derive(Debug, Clone)]
pub struct Built {
    /// The OCI layout directory.
    pub layout: PathBuf,
    pub tag: String,
    /// `sha256:` digest of the manifest: what a registry will call the image.
    pub digest: String,
    /// `sha256:` digest of the config: the image id podman and docker show.
    pub id: String,
    /// Sum of the uncompressed layers.
    pub size: u64,
    /// Sum of the compressed layers and the config: what a push uploads.
    pub compressed_size: u64,
    /// Package versions of the base.
    pub base_packages: Vec<String>,
}

/// A time as RFC 3339 (`1970-01-01T00:00:00Z`), for `created` and labels.
pub fn rfc3339(secs: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Build `spec` on `base` into the OCI layout `out` (replaced if it exists).
pub fn build(spec: &ImageSpec, base: &Base, out: &Path) -> Result<Built, ImageError> {
    let mut layers = vec![Layer::of(tree(&base.rootfs, &["home/nonroot"], contract::USER)?, spec.created)?];
    if let Some(path) = &spec.binary {
        let missing = base.missing_libraries(path)?;
        if !missing.is_empty() {
            return Err(ImageError::MissingLibraries { binary: path.clone(), missing });
        }
        let binary = std::fs::read(path).map_err(|source| ImageError::Read { path: path.clone(), source })?;
        let bin_dir = contract::BIN_DIR.trim_start_matches('/');
        let mut app = vec![
            Entry::Dir { path: "usr".into(), mode: 0o755, uid: 0 },
            Entry::Dir { path: "usr/local".into(), mode: 0o755, uid: 0 },
            Entry::Dir { path: bin_dir.into(), mode: 0o755, uid: 0 },
        ];
        app.push(Entry::File { path: format!("{bin_dir}/{}", spec.app), mode: 0o755, uid: 0, data: binary });
        layers.push(Layer::of(app, spec.created)?);
    }
    for (source, dest) in &spec.trees {
        let dest = dest.trim_matches('/');
        let mut entries: Vec<Entry> = tree(source, &[], 0)?
            .into_iter()
            .map(|e| match e {
                Entry::Dir { path, mode, uid } => Entry::Dir { path: format!("{dest}/{path}"), mode, uid },
                Entry::File { path, mode, uid, data } => Entry::File { path: format!("{dest}/{path}"), mode, uid, data },
                Entry::Symlink { path, target } => Entry::Symlink { path: format!("{dest}/{path}"), target },
            })
            .collect();
        let mut parent = Some(Path::new(dest));
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            entries.push(Entry::Dir { path: p.to_string_lossy().into_owned(), mode: 0o755, uid: 0 });
            parent = p.parent();
        }
        layers.push(Layer::of(entries, spec.created)?);
    }
    if !spec.files.is_empty() {
        let mut entries = Vec::new();
        let mut dirs = std::collections::BTreeSet::new();
        for (path, data) in &spec.files {
            let path = path.trim_start_matches('/').to_string();
            let mut parent = Path::new(&path).parent();
            while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
                dirs.insert(p.to_string_lossy().into_owned());
                parent = p.parent();
            }
            entries.push(Entry::File { path, mode: 0o644, uid: 0, data: data.clone() });
        }
        entries.extend(dirs.into_iter().map(|path| Entry::Dir { path, mode: 0o755, uid: 0 }));
        layers.push(Layer::of(entries, spec.created)?);
    }
    let created = rfc3339(spec.created);
    let env: Vec<String> = std::iter::once("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string())
        .chain(contract::env().into_iter().map(|(k, v)| format!("{k}={v}")))
        .collect();
    let config = json!({
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": format!("{0}:{0}", contract::USER),
            "Entrypoint": spec.entrypoint.clone().unwrap_or_else(|| vec![contract::entrypoint(&spec.app)]),
            "Cmd": [contract::DEFAULT_ROLE.name()],
            "Env": env,
            "ExposedPorts": { format!("{}/tcp", contract::admin_port()): {} },
            "WorkingDir": "/",
            "Labels": spec.labels,
        },
        "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>() },
        "history": layers.iter().map(|_| json!({ "created": created, "created_by": "tk8s image build" })).collect::<Vec<_>>(),
    });
    let config_bytes = serde_json::to_vec(&config).unwrap_or_default();
    let config_digest = sha256(&config_bytes);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_bytes.len() },
        "layers": layers.iter().map(|l| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": l.digest, "size": l.gz.len(),
        })).collect::<Vec<_>>(),
        "annotations": spec.labels.iter().filter(|(k, _)| k.starts_with("org.opencontainers.image.")).collect::<BTreeMap<_, _>>(),
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    let digest = sha256(&manifest_bytes);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": manifest_bytes.len(),
            "annotations": { "org.opencontainers.image.ref.name": spec.tag },
        }],
    });
    let _ = std::fs::remove_dir_all(out);
    let blobs = out.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|source| ImageError::Write { path: blobs.clone(), source })?;
    let write = |path: PathBuf, bytes: &[u8]| std::fs::write(&path, bytes).map_err(|source| ImageError::Write { path, source });
    let blob = |d: &str| blobs.join(d.trim_start_matches("sha256:"));
    for l in &layers {
        write(blob(&l.digest), &l.gz)?;
    }
    write(blob(&config_digest), &config_bytes)?;
    write(blob(&digest), &manifest_bytes)?;
    write(out.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    write(out.join("index.json"), &serde_json::to_vec(&index).unwrap_or_default())?;
    Ok(Built {
        layout: out.to_path_buf(),
        tag: spec.tag.clone(),
        digest,
        id: config_digest,
        size: layers.iter().map(|l| l.tar_size).sum(),
        compressed_size: layers.iter().map(|l| l.gz.len() as u64).sum::<u64>() + config_bytes.len() as u64,
        base_packages: base.packages.clone(),
    })
}

/// The config of a built image, read back from its layout (tests, `tk8s image build` output).
pub fn config(layout: &Path) -> Result<Value, ImageError> {
    let read = |p: PathBuf| -> Result<Value, ImageError> {
        let bytes = std::fs::read(&p).map_err(|source| ImageError::Read { path: p.clone(), source })?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::Read { path: p, source: std::io::Error::other(e) })
    };
    let index = read(layout.join("index.json"))?;
    let blob = |d: &Value| layout.join("blobs/sha256").join(d.as_str().unwrap_or_default().trim_start_matches("sha256:"));
    let manifest = read(blob(&index["manifests"][0]["digest"]))?;
    read(blob(&manifest["config"]["digest"]))
}
