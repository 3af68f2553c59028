//! Layers that are the same bytes on every build: entries in path order, owners root unless said
//! otherwise, one timestamp for everything, gzip without a name or time in its header.

use crate::ImageError;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One thing in a layer.
#[derive(Debug, Clone)]
pub enum Entry {
    Dir { path: String, mode: u32, uid: u32 },
    File { path: String, mode: u32, uid: u32, data: Vec<u8> },
    Symlink { path: String, target: PathBuf },
}

impl Entry {
    fn path(&self) -> &str {
        match self {
            Entry::Dir { path, .. } | Entry::File { path, .. } | Entry::Symlink { path, .. } => path,
        }
    }
}

/// A built layer: the tar (whose digest is the config's diff id) and its gzip (the blob).
#[derive(Debug, Clone)]
pub struct Layer {
    pub gz: Vec<u8>,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    /// `sha256:<hex>` of the gzip.
    pub digest: String,
    pub tar_size: u64,
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

impl Layer {
    /// A layer of `entries`, every time stamped `mtime` (seconds since the epoch).
    pub fn of(mut entries: Vec<Entry>, mtime: u64) -> Result<Layer, ImageError> {
        entries.sort_by(|a, b| a.path().cmp(b.path()));
        let mut builder = tar::Builder::new(Vec::new());
        builder.mode(tar::HeaderMode::Deterministic);
        let err = |source: std::io::Error| ImageError::Write { path: PathBuf::from("<layer>"), source };
        for e in &entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(mtime);
            match e {
                Entry::Dir { path, mode, uid } => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*mode);
                    h.set_uid(u64::from(*uid));
                    h.set_gid(u64::from(*uid));
                    h.set_size(0);
                    builder.append_data(&mut h, format!("{path}/"), std::io::empty()).map_err(err)?;
                }
                Entry::File { path, mode, uid, data } => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_uid(u64::from(*uid));
                    h.set_gid(u64::from(*uid));
                    h.set_size(data.len() as u64);
                    builder.append_data(&mut h, path, data.as_slice()).map_err(err)?;
                }
                Entry::Symlink { path, target } => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    builder.append_link(&mut h, path, target).map_err(err)?;
                }
            }
        }
        let tar = builder.into_inner().map_err(err)?;
        let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).map_err(err)?;
        let gz = gz.finish().map_err(err)?;
        Ok(Layer { diff_id: sha256(&tar), digest: sha256(&gz), tar_size: tar.len() as u64, gz })
    }
}

/// Every entry under `root` (a root filesystem), named relative to it, owned by root except the
/// paths in `owned_by_user` (given to `uid`); `/tmp` is world-writable with the sticky bit.
pub fn tree(root: &Path, owned_by_user: &[&str], uid: u32) -> Result<Vec<Entry>, ImageError> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let read = std::fs::read_dir(&dir).map_err(|source| ImageError::Read { path: dir.clone(), source })?;
        for e in read.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&p).map_err(|source| ImageError::Read { path: p.clone(), source })?;
            let owner = if owned_by_user.iter().any(|o| rel == *o || rel.starts_with(&format!("{o}/"))) { uid } else { 0 };
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p).map_err(|source| ImageError::Read { path: p.clone(), source })?;
                out.push(Entry::Symlink { path: rel, target });
            } else if meta.is_dir() {
                let mode = if rel == "tmp" { 0o1777 } else { mode };
                out.push(Entry::Dir { path: rel, mode, uid: owner });
                stack.push(p);
            } else {
                let data = std::fs::read(&p).map_err(|source| ImageError::Read { path: p.clone(), source })?;
                out.push(Entry::File { path: rel, mode, uid: owner, data });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_entries_give_the_same_digests_whatever_their_order() {
        let a = vec![
            Entry::Dir { path: "usr".into(), mode: 0o755, uid: 0 },
            Entry::File { path: "usr/app".into(), mode: 0o755, uid: 0, data: b"binary".to_vec() },
        ];
        let mut b = a.clone();
        b.reverse();
        let (la, lb) = (Layer::of(a.clone(), 7).unwrap(), Layer::of(b, 7).unwrap());
        assert_eq!((la.digest.clone(), la.diff_id.clone()), (lb.digest, lb.diff_id));
        assert_ne!(la.digest, Layer::of(a, 8).unwrap().digest, "the time is part of the layer");
        // What the tar holds, read back.
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(la.gz.as_slice()));
        let names: Vec<String> = ar.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["usr/", "usr/app"]);
    }
}
