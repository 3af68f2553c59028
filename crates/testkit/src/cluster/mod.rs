//! A real Kubernetes 1.20.2 control plane for tests and `cargo xtask cluster`: Debian's etcd and
//! an API server, controller manager and scheduler built from Debian's source package
//! ([`build`]), bound to 127.0.0.1 on free ports with fresh certificates ([`pki`]), and a fake
//! node ([`node`]) that stands in for a kubelet. Test control planes die with the process that
//! started them (parent-death signal, and kill on drop); a detached one (`cargo xtask cluster
//! up`) records its processes so that `down` stops every one of them.

pub mod adapt_1_20;
pub mod build;
pub mod crds;
pub mod node;
pub mod pki;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running control plane. Stopped on drop unless it was started detached.
pub struct ControlPlane {
    pub dir: PathBuf,
    pub apiserver_port: u16,
    children: Vec<(String, Child)>,
    detached: bool,
}

/// The file a detached control plane records its processes in: `name pid` per line.
const PIDS: &str = "pids";

impl ControlPlane {
    /// Start etcd, the API server, the controller manager and the scheduler with state in `dir`
    /// (created; fresh certificates), and wait until the API server is ready and the default
    /// ServiceAccount exists (the controllers work). `detached` processes outlive the caller.
    /// Call it from a thread that lives as long as the control plane: a test's children get a
    /// kill signal when that thread ends.
    pub async fn start(dir: &Path, detached: bool, log: &mut dyn FnMut(String)) -> Result<ControlPlane, String> {
        let bin = build::built()?;
        let started = Instant::now();
        std::fs::create_dir_all(dir.join("logs")).map_err(|e| format!("{}: {e}", dir.display()))?;
        let ports: Vec<u16> = (0..5).map(|_| crate::free_port()).collect();
        let (etcd, peer, apiserver_port, kcm_port, scheduler_port) = (ports[0], ports[1], ports[2], ports[3], ports[4]);
        pki::write(dir, apiserver_port)?;
        let mut plane = ControlPlane { dir: dir.to_path_buf(), apiserver_port, children: Vec::new(), detached };
        let p = |name: &str| dir.join(name).to_string_lossy().to_string();

        let etcd_url = format!("http://127.0.0.1:{etcd}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        plane.spawn(
            "etcd",
            Path::new("etcd"),
            &[
                "--name=tk8s",
                &format!("--data-dir={}", p("etcd")),
                &format!("--listen-client-urls={etcd_url}"),
                &format!("--advertise-client-urls={etcd_url}"),
                &format!("--listen-peer-urls={peer_url}"),
                &format!("--initial-advertise-peer-urls={peer_url}"),
                &format!("--initial-cluster=tk8s={peer_url}"),
                "--log-level=warn",
            ],
        )?;
        plane
            .wait("etcd", Duration::from_secs(30), || async { crate::http_get(etcd, "/health").is_some_and(|(code, _)| code == 200) })
            .await?;

        plane.spawn(
            "kube-apiserver",
            &bin.join("kube-apiserver"),
            &[
                &format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                &format!("--secure-port={apiserver_port}"),
                "--insecure-port=0",
                &format!("--tls-cert-file={}", p("pki/apiserver.crt")),
                &format!("--tls-private-key-file={}", p("pki/apiserver.key")),
                &format!("--client-ca-file={}", p("pki/ca.crt")),
                &format!("--service-account-key-file={}", p("pki/sa.pub")),
                &format!("--service-account-signing-key-file={}", p("pki/sa.key")),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                &format!("--service-cluster-ip-range={}", pki::SERVICE_CIDR),
                "--authorization-mode=Node,RBAC",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--v=1",
            ],
        )?;
        let client = plane.client().await?;
        let readyz = || {
            let client = client.clone();
            async move {
                let request = http::Request::get("/readyz").body(Vec::new()).expect("a static request");
                client.request_text(request).await.is_ok_and(|body| body.trim() == "ok")
            }
        };
        plane.wait("kube-apiserver /readyz", Duration::from_secs(120), readyz).await?;
        log(format!("kube-apiserver ready on https://127.0.0.1:{apiserver_port} after {:.1?}", started.elapsed()));

        let kubeconfig = |stem: &str| p(&format!("{stem}.kubeconfig"));
        plane.spawn(
            "kube-controller-manager",
            &bin.join("kube-controller-manager"),
            &[
                &format!("--kubeconfig={}", kubeconfig("kcm")),
                &format!("--authentication-kubeconfig={}", kubeconfig("kcm")),
                &format!("--authorization-kubeconfig={}", kubeconfig("kcm")),
                "--bind-address=127.0.0.1",
                &format!("--secure-port={kcm_port}"),
                "--port=0",
                "--leader-elect=false",
                &format!("--service-account-private-key-file={}", p("pki/sa.key")),
                &format!("--root-ca-file={}", p("pki/ca.crt")),
                "--use-service-account-credentials=true",
                &format!("--service-cluster-ip-range={}", pki::SERVICE_CIDR),
                "--profiling=false",
                "--v=1",
            ],
        )?;
        plane.spawn(
            "kube-scheduler",
            &bin.join("kube-scheduler"),
            &[
                &format!("--kubeconfig={}", kubeconfig("scheduler")),
                &format!("--authentication-kubeconfig={}", kubeconfig("scheduler")),
                &format!("--authorization-kubeconfig={}", kubeconfig("scheduler")),
                "--bind-address=127.0.0.1",
                &format!("--secure-port={scheduler_port}"),
                "--port=0",
                "--leader-elect=false",
                "--profiling=false",
                "--v=1",
            ],
        )?;
        let default_account = || {
            let client = client.clone();
            async move {
                let api: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> = kube::Api::namespaced(client, "default");
                api.get_opt("default").await.ok().flatten().is_some_and(|sa| !sa.secrets.unwrap_or_default().is_empty())
            }
        };
        plane.wait("the default ServiceAccount (the controllers at work)", Duration::from_secs(90), default_account).await?;
        log(format!("control plane ready after {:.1?}; KUBECONFIG={}", started.elapsed(), plane.kubeconfig().display()));
        Ok(plane)
    }

    /// The admin's kubeconfig (system:masters).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// A client with the admin's credentials.
    pub async fn client(&self) -> Result<kube::Client, String> {
        client_for(&self.kubeconfig()).await
    }

    fn spawn(&mut self, name: &str, program: &Path, args: &[&str]) -> Result<(), String> {
        let log = self.dir.join("logs").join(format!("{name}.log"));
        let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        // A test's processes die with it (setpriv sets the parent-death signal, then execs).
        let mut command = if self.detached { Command::new(program) } else { Command::new("setpriv") };
        if !self.detached {
            command.args(["--pdeathsig", "KILL", "--"]).arg(program);
        }
        command.args(args).stdin(Stdio::null()).stdout(file.try_clone().map_err(|e| e.to_string())?).stderr(file);
        if self.detached {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let child = command.spawn().map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        if self.detached {
            record_pid(&self.dir, name, child.id())?;
        }
        self.children.push((name.to_string(), child));
        Ok(())
    }

    /// Start a detached process of the caller's own (the fake node of `cargo xtask cluster up`),
    /// recorded with the others.
    pub fn spawn_detached(&mut self, name: &str, program: &Path, args: &[&str]) -> Result<(), String> {
        assert!(self.detached, "only a detached control plane records extra processes");
        self.spawn(name, program, args)
    }

    async fn wait<F, Fut>(&mut self, what: &str, timeout: Duration, mut ready: F) -> Result<(), String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if ready().await {
                return Ok(());
            }
            for (name, child) in &mut self.children {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("{name} exited ({status}) while waiting for {what}:\n{}", log_tail(&self.dir, name)));
                }
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = self.children.iter().map(|(n, _)| format!("--- {n}\n{}", log_tail(&self.dir, n))).collect();
                return Err(format!("{what} not ready after {timeout:?}\n{}", logs.join("\n")));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Memory of each process (RSS, KiB), for reports.
    pub fn rss_kib(&self) -> Vec<(String, u64)> {
        self.children.iter().map(|(n, c)| (n.clone(), rss_kib(c.id()).unwrap_or(0))).collect()
    }

    /// Stop every process (newest first): SIGTERM, then SIGKILL after 5 s.
    pub fn stop(&mut self) {
        while let Some((_, mut child)) = self.children.pop() {
            crate::signal(child.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if !self.detached {
            self.stop();
        }
    }
}

/// A client for a kubeconfig file.
pub async fn client_for(kubeconfig: &Path) -> Result<kube::Client, String> {
    let config = kube::config::Kubeconfig::read_from(kubeconfig).map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
    let config =
        kube::Config::from_custom_kubeconfig(config, &Default::default()).await.map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
    kube::Client::try_from(config).map_err(|e| e.to_string())
}

fn record_pid(dir: &Path, name: &str, pid: u32) -> Result<(), String> {
    use std::io::Write;
    let path = dir.join(PIDS);
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    writeln!(f, "{name} {pid}").map_err(|e| e.to_string())
}

/// The processes a detached control plane in `dir` recorded, with whether each still runs (as
/// the program it was: a recycled pid is not ours).
pub fn recorded(dir: &Path) -> Vec<(String, u32, bool)> {
    let text = std::fs::read_to_string(dir.join(PIDS)).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(name, pid)| pid.trim().parse().ok().map(|pid: u32| (name.to_string(), pid)))
        .map(|(name, pid)| {
            let ours = std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let program = String::from_utf8_lossy(c.split(|b| *b == 0).next().unwrap_or_default()).to_string();
                program.ends_with(name.as_str()) || name == "fake-node"
            });
            let alive =
                ours && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.split_whitespace().nth(2) != Some("Z"));
            (name, pid, alive)
        })
        .collect()
}

/// Stop a detached control plane's processes (the fake node and the scheduler first) and
/// remove its state. Returns what was stopped.
pub fn stop_detached(dir: &Path) -> Vec<String> {
    let mut stopped = Vec::new();
    for (name, pid, alive) in recorded(dir).into_iter().rev() {
        if !alive {
            continue;
        }
        crate::signal(pid, libc::SIGTERM);
        let gone = crate::wait_until(Duration::from_secs(5), || !std::path::Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid));
        if !gone {
            crate::signal(pid, libc::SIGKILL);
        }
        stopped.push(format!("{name} (pid {pid})"));
    }
    let _ = std::fs::remove_dir_all(dir);
    stopped
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn log_tail(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(dir.join("logs").join(format!("{name}.log"))).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
