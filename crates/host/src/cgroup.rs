//! The container's own limits, read from its cgroup the way the SDK's resource-based tuner reads
//! them (the cgroup mounted at /sys/fs/cgroup: a pod's, under a cgroup namespace), so the worker
//! can say at start what it runs under and how much memory each activity slot may use.

use std::path::Path;

/// Memory and CPU limits of the cgroup the process runs in; `None` where there is none.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    /// CPUs (quota over period).
    pub cpus: Option<f64>,
}

/// A limit at or above this is "no limit" (cgroup v1 writes a page-rounded i64::MAX).
const UNLIMITED: u64 = 1 << 60;

impl Limits {
    pub fn read() -> Limits {
        Limits::read_from(Path::new("/sys/fs/cgroup"))
    }

    /// From a cgroup mount: v2 (`memory.max`, `cpu.max`) or v1 (`memory/memory.limit_in_bytes`,
    /// `cpu/cpu.cfs_quota_us` and `cpu.cfs_period_us`).
    pub fn read_from(root: &Path) -> Limits {
        let read = |p: &str| std::fs::read_to_string(root.join(p)).ok().map(|s| s.trim().to_string());
        let memory_bytes = read("memory.max")
            .or_else(|| read("memory/memory.limit_in_bytes"))
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|b| *b < UNLIMITED);
        let cpus = match read("cpu.max") {
            Some(v) => {
                let mut parts = v.split_whitespace();
                match (parts.next().and_then(|q| q.parse::<f64>().ok()), parts.next().and_then(|p| p.parse::<f64>().ok())) {
                    (Some(quota), Some(period)) if period > 0.0 => Some(quota / period),
                    _ => None,
                }
            }
            None => {
                let quota = read("cpu/cpu.cfs_quota_us").and_then(|q| q.parse::<i64>().ok()).filter(|q| *q > 0);
                let period = read("cpu/cpu.cfs_period_us").and_then(|p| p.parse::<i64>().ok()).filter(|p| *p > 0);
                quota.zip(period).map(|(q, p)| q as f64 / p as f64)
            }
        };
        Limits { memory_bytes, cpus }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory of this test's own, removed when dropped.
    struct Scratch(std::path::PathBuf);
    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("tk8s-cgroup-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn v2_limits_and_their_absence() {
        let dir = Scratch::new("v2");
        std::fs::write(dir.path().join("memory.max"), "268435456\n").unwrap();
        std::fs::write(dir.path().join("cpu.max"), "50000 100000\n").unwrap();
        assert_eq!(Limits::read_from(dir.path()), Limits { memory_bytes: Some(256 << 20), cpus: Some(0.5) });
        std::fs::write(dir.path().join("memory.max"), "max\n").unwrap();
        std::fs::write(dir.path().join("cpu.max"), "max 100000\n").unwrap();
        assert_eq!(Limits::read_from(dir.path()), Limits::default());
    }

    #[test]
    fn v1_limits_and_their_absence() {
        let dir = Scratch::new("v1");
        for d in ["memory", "cpu"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("memory/memory.limit_in_bytes"), "536870912\n").unwrap();
        std::fs::write(dir.path().join("cpu/cpu.cfs_quota_us"), "150000\n").unwrap();
        std::fs::write(dir.path().join("cpu/cpu.cfs_period_us"), "100000\n").unwrap();
        assert_eq!(Limits::read_from(dir.path()), Limits { memory_bytes: Some(512 << 20), cpus: Some(1.5) });
        std::fs::write(dir.path().join("memory/memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        std::fs::write(dir.path().join("cpu/cpu.cfs_quota_us"), "-1\n").unwrap();
        assert_eq!(Limits::read_from(dir.path()), Limits::default());
    }
}
