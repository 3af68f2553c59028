//! The example's deploy config and Secrets for a cluster-shaped run on this machine (used by the
//! kube play test and `cargo xtask kube`): images from a registry on 127.0.0.1, a dev server on
//! 127.0.0.1, encryption and the codec server on, dev key material in host directories.

use super::Registry;
use super::adapt::Plan;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tk8s_config::spec as S;

/// A dev AES-256 key (base64) and the codec server's dev bearer token.
pub const DEV_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const DEV_TOKEN: &str = "dev-codec-token";
/// The Deployments the example renders with the codec server on.
pub const DEPLOYMENTS: &[&str] = &["greeting-worker", "greeting-orchestrator", "greeting-scaler", "greeting-codec-server"];

/// The example's deploy config (`examples/greeting/deploy.toml`), pointed at this machine.
pub fn deploy_config(example: &str, registry: &Registry, tag: &str, temporal: &str, interval: &str) -> Result<String, String> {
    let mut doc: toml::Table = example.parse().map_err(|e| format!("the example deploy config: {e}"))?;
    let mut table = |key: &str| -> toml::Table { doc.remove(key).and_then(|v| v.as_table().cloned()).unwrap_or_default() };
    let mut app = table("app");
    app.insert("image".into(), registry.repository("greeting").into());
    app.insert("tag".into(), tag.into());
    let mut t = table("temporal");
    t.insert("address".into(), temporal.into());
    let mut orchestrator = table("orchestrator");
    let mut settings = toml::Table::new();
    settings.insert(S::ORCHESTRATOR_MODE.env.into(), "interval".into());
    settings.insert(S::ORCHESTRATOR_INTERVAL.env.into(), interval.into());
    orchestrator.insert("settings".into(), settings.into());
    doc.insert("app".into(), app.into());
    doc.insert("temporal".into(), t.into());
    doc.insert("orchestrator".into(), orchestrator.into());
    doc.insert("encryption".into(), toml::toml! { key_secret = "greeting-codec-keys" }.into());
    let mut codec_server: toml::Table = toml::toml! {
            allowed_origins = ["http://127.0.0.1:8233"]
            tokens_secret = "greeting-codec-tokens"
            [resources]
            cpu_request = "50m"
            cpu_limit = "250m"
            memory_request = "32Mi"
            memory_limit = "64Mi"
    };
    // The `tk8s` image is tagged with the toolkit's version unless the config says otherwise;
    // here both images carry the test's tag.
    codec_server.insert("tag".into(), tag.into());
    doc.insert("codec_server".into(), codec_server.into());
    toml::to_string(&doc).map_err(|e| e.to_string())
}

/// Write the Secrets the config references (codec keys, codec server tokens) into `dir`, one
/// directory each, readable by the containers' user; a plan with a free port per Deployment.
pub fn plan(dir: &Path) -> Result<Plan, String> {
    let mut secrets = BTreeMap::new();
    for (name, files) in
        [("greeting-codec-keys", vec![("k1.key", DEV_KEY), ("active", "k1")]), ("greeting-codec-tokens", vec![("tokens", DEV_TOKEN)])]
    {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for (file, body) in files {
            std::fs::write(d.join(file), format!("{body}\n")).map_err(|e| e.to_string())?;
        }
        secrets.insert(name.to_string(), d);
    }
    let _ = std::process::Command::new("chmod").args(["-R", "a+rX"]).arg(dir).status();
    let ports: BTreeMap<String, u16> = DEPLOYMENTS.iter().map(|d| (d.to_string(), crate::free_port())).collect();
    // The scaler's KEDA port, and the worker pods behind the headless Service it reads.
    let scaler_env = [
        (S::SCALER_PORT.env.to_string(), crate::free_port().to_string()),
        (S::SCALER_WORKER_METRICS.env.to_string(), format!("127.0.0.1:{}", ports["greeting-worker"])),
    ];
    Ok(Plan {
        ports,
        port_env: [("greeting-codec-server".to_string(), S::CODEC_SERVER_PORT.env.to_string())].into(),
        default_port_env: S::ADMIN_PORT.env.to_string(),
        secrets,
        env: [("greeting-scaler".to_string(), scaler_env.into())].into(),
    })
}

/// Where the Secret directories go by default.
pub fn secrets_dir(state: &Path) -> PathBuf {
    state.join("secrets")
}
