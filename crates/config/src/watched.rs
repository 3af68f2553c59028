//! Files named by the configuration that change under a running process: Kubernetes rotates
//! Secret and ConfigMap volumes in place (client certificates, API keys, codec keys, bearer
//! tokens, a JWKS). [`Watched`] holds the value loaded from such files and loads it again when
//! they change; a change that does not load keeps the previous value in use.
//!
//! A change is seen by comparing a stamp of each file's device, inode, length and modification
//! time, following symlinks. The kubelet updates a Secret volume by writing a new timestamped
//! directory and swapping the `..data` symlink: the files keep their names but resolve to new
//! inodes, so the swap is seen even when the new files carry the old modification time.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// What to look at for changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Watch {
    /// These files (a missing file is a state like any other).
    Files(Vec<PathBuf>),
    /// Every entry of this directory (a key directory: files may be added and removed).
    Dir(PathBuf),
}

/// One file's identity and content version.
type FileStamp = Option<(u64, u64, u64, i64, i64)>;

fn file_stamp(path: &Path) -> FileStamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

impl Watch {
    fn stamp(&self) -> Vec<(PathBuf, FileStamp)> {
        match self {
            Watch::Files(files) => files.iter().map(|f| (f.clone(), file_stamp(f))).collect(),
            Watch::Dir(dir) => {
                let mut entries: Vec<(PathBuf, FileStamp)> = std::fs::read_dir(dir)
                    .map(|it| {
                        it.flatten()
                            .map(|e| e.path())
                            .map(|p| {
                                let s = file_stamp(&p);
                                (p, s)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                entries.sort();
                entries
            }
        }
    }
}

/// What [`Watched::refresh`] did.
#[derive(Debug)]
pub enum Refresh<E> {
    /// Nothing changed (or it was looked at too recently).
    Unchanged,
    /// The files changed and the new value is in use.
    Reloaded,
    /// The files changed but do not load; the previous value stays in use. The same state is
    /// not tried again until the files change once more.
    Failed(E),
}

struct Looked {
    stamp: Vec<(PathBuf, FileStamp)>,
    at: Instant,
}

type Loader<T, E> = Box<dyn Fn() -> Result<T, E> + Send + Sync>;

/// A value loaded from files, reloaded when they change.
pub struct Watched<T, E> {
    watch: Watch,
    load: Loader<T, E>,
    current: RwLock<Arc<T>>,
    looked: Mutex<Looked>,
    /// Files are looked at no more often than this, however often `refresh` is called.
    min_interval: Duration,
}

impl<T, E> std::fmt::Debug for Watched<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched").field("watch", &self.watch).finish_non_exhaustive()
    }
}

impl<T, E> Watched<T, E> {
    /// Load now (an error here is the caller's start-up error) and watch from then on.
    pub fn new(watch: Watch, min_interval: Duration, load: impl Fn() -> Result<T, E> + Send + Sync + 'static) -> Result<Self, E> {
        let stamp = watch.stamp();
        let value = load()?;
        Ok(Watched {
            watch,
            load: Box::new(load),
            current: RwLock::new(Arc::new(value)),
            looked: Mutex::new(Looked { stamp, at: Instant::now() }),
            min_interval,
        })
    }

    /// The value in use. No I/O.
    pub fn get(&self) -> Arc<T> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Look at the files (at most once per `min_interval`) and reload if they changed.
    pub fn refresh(&self) -> Refresh<E> {
        let mut looked = self.looked.lock().unwrap_or_else(|e| e.into_inner());
        if looked.at.elapsed() < self.min_interval {
            return Refresh::Unchanged;
        }
        looked.at = Instant::now();
        let stamp = self.watch.stamp();
        if stamp == looked.stamp {
            return Refresh::Unchanged;
        }
        looked.stamp = stamp;
        drop(looked);
        match (self.load)() {
            Ok(value) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(value);
                Refresh::Reloaded
            }
            Err(e) => Refresh::Failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: PathBuf) -> impl Fn() -> Result<String, String> {
        move || {
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            if text.starts_with("bad") { Err(format!("cannot use {text:?}")) } else { Ok(text) }
        }
    }

    #[test]
    fn a_kubelet_style_symlink_swap_is_followed_and_a_bad_change_keeps_the_old_value() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // The kubelet's layout: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>/.
        let write_version = |name: &str, text: &str| {
            let version = root.join(name);
            std::fs::create_dir(&version).unwrap();
            std::fs::write(version.join("tls.crt"), text).unwrap();
            let tmp = root.join("..data_tmp");
            std::os::unix::fs::symlink(&version, &tmp).unwrap();
            std::fs::rename(&tmp, root.join("..data")).unwrap();
        };
        write_version("..v1", "first");
        std::os::unix::fs::symlink(root.join("..data/tls.crt"), root.join("tls.crt")).unwrap();
        let file = root.join("tls.crt");
        let watched = Watched::new(Watch::Files(vec![file.clone()]), Duration::ZERO, read(file.clone())).unwrap();
        assert_eq!(*watched.get(), "first");
        assert!(matches!(watched.refresh(), Refresh::Unchanged));

        // Same length, same mtime as far as a coarse clock goes: only the inode tells.
        write_version("..v2", "secnd");
        let v1 = std::fs::metadata(root.join("..v1/tls.crt")).unwrap();
        let v2 = root.join("..v2/tls.crt");
        std::fs::File::options().write(true).open(&v2).unwrap().set_modified(v1.modified().unwrap()).unwrap();
        assert!(matches!(watched.refresh(), Refresh::Reloaded));
        assert_eq!(*watched.get(), "secnd");

        write_version("..v3", "bad data");
        assert!(matches!(watched.refresh(), Refresh::Failed(_)));
        assert_eq!(*watched.get(), "secnd", "a change that does not load keeps the old value");
        assert!(matches!(watched.refresh(), Refresh::Unchanged), "the same bad state is not retried");
    }

    #[test]
    fn a_directory_is_watched_for_added_and_removed_files_and_looks_are_rate_limited() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "1").unwrap();
        let d = dir.path().to_path_buf();
        let count = move || Ok::<usize, String>(std::fs::read_dir(&d).unwrap().count());
        let watched = Watched::new(Watch::Dir(dir.path().into()), Duration::ZERO, count).unwrap();
        std::fs::write(dir.path().join("b"), "2").unwrap();
        assert!(matches!(watched.refresh(), Refresh::Reloaded));
        assert_eq!(*watched.get(), 2);
        std::fs::remove_file(dir.path().join("a")).unwrap();
        assert!(matches!(watched.refresh(), Refresh::Reloaded));
        assert_eq!(*watched.get(), 1);

        let slow = Watched::new(Watch::Dir(dir.path().into()), Duration::from_secs(3600), || Ok::<u8, String>(0)).unwrap();
        std::fs::write(dir.path().join("c"), "3").unwrap();
        assert!(matches!(slow.refresh(), Refresh::Unchanged), "looked at too recently");
    }
}
