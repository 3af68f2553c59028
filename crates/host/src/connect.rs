//! Turning the validated connection settings into a Temporal client: plaintext, TLS with a
//! custom CA and server name, mTLS from files (as a `kubernetes.io/tls` Secret mounts them), or
//! an API key (which always implies TLS). Client certificates and API key files are watched and
//! reloaded in place, because Kubernetes rotates Secret volumes without restarting the pod.

use crate::HostError;
use crate::diagnose::{Diagnosis, Facts, diagnose};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use temporalio_client::errors::ClientConnectError;
use temporalio_client::{
    CertifiedKey, Client, ClientOptions, Connection, ConnectionOptions, ResolvesClientCert,
    SignatureScheme, TlsOptions,
};
use temporalio_common::data_converters::DataConverter;
use temporalio_common::telemetry::metrics::TemporalMeter;
use tk8s_config::{ApiKey, ClientCert, Config};
use tracing::{info, warn};

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default().cloned().unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// Read and check a client certificate and key pair: both parse, and the key belongs to the
/// certificate. Used at start-up (a failure is a configuration error) and on every reload.
pub fn load_certified_key(cert: &ClientCert) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert.cert)
        .map_err(|e| format!("{}: cannot read certificate: {e}", cert.cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate: {e}", cert.cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: contains no PEM certificate", cert.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&cert.key)
        .map_err(|e| format!("{}: not a PEM private key: {e}", cert.key.display()))?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| {
        format!("{} does not match {}: {e}", cert.key.display(), cert.cert.display())
    })
}

fn check_ca(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: contains no PEM certificate", path.display()));
    }
    Ok(bytes)
}

/// A client certificate resolver that swaps in new files when they change on disk.
#[derive(Debug)]
pub struct ReloadingCert {
    files: ClientCert,
    current: RwLock<(Arc<CertifiedKey>, Option<SystemTime>)>,
}

/// A file's modification time (following the symlinks a Secret mount uses).
fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn modified(files: &ClientCert) -> Option<SystemTime> {
    mtime(&files.cert).max(mtime(&files.key))
}

impl ReloadingCert {
    pub fn load(files: ClientCert) -> Result<Arc<Self>, String> {
        let key = load_certified_key(&files)?;
        let stamp = modified(&files);
        Ok(Arc::new(Self { files, current: RwLock::new((Arc::new(key), stamp)) }))
    }

    /// Reload if the files changed. A pair that does not load (e.g. caught half-written) keeps
    /// the previous one in use and is retried on the next call.
    pub fn refresh(&self) {
        let stamp = modified(&self.files);
        if stamp == self.current.read().unwrap_or_else(|e| e.into_inner()).1 {
            return;
        }
        match load_certified_key(&self.files) {
            Ok(key) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = (Arc::new(key), stamp);
                info!(cert = %self.files.cert.display(), "client certificate reloaded");
            }
            Err(e) => warn!(error = %e, "client certificate changed but does not load; keeping the previous one"),
        }
    }
}

impl ResolvesClientCert for ReloadingCert {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|e| e.into_inner()).0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Files that may change under us and what to do about it.
pub struct Reloader {
    cert: Option<Arc<ReloadingCert>>,
    api_key: Option<(PathBuf, Option<SystemTime>)>,
}

impl Reloader {
    /// Check watched files; apply what changed to the live connection.
    pub fn poll(&mut self, connection: &Connection) {
        if let Some(cert) = &self.cert {
            cert.refresh();
        }
        if let Some((path, stamp)) = &mut self.api_key {
            let now = mtime(path);
            if now != *stamp {
                match read_api_key(path) {
                    Ok(key) => {
                        connection.set_api_key(Some(key));
                        *stamp = now;
                        info!(file = %path.display(), "API key reloaded");
                    }
                    Err(e) => warn!(error = %e, "API key file changed but cannot be used; keeping the previous key"),
                }
            }
        }
    }
}

/// What the configuration says about the connection, for [`diagnose`].
pub fn facts(config: &Config) -> Facts {
    let tls = config.temporal.tls.as_ref();
    Facts {
        tls: tls.is_some(),
        client_cert: tls.is_some_and(|t| t.client_cert.is_some()),
    }
}

fn read_api_key(path: &Path) -> Result<String, String> {
    let key = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let key = key.trim().to_string();
    if key.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(key)
}

/// Everything checked before dialling: what can be wrong with TLS material is a configuration
/// error (exit 78), reported before any port is bound.
pub struct Prepared {
    options: ConnectionOptions,
    reloader: Reloader,
    /// Install the SDK's OpenTelemetry plugin (client interceptors, and through the client the
    /// worker's workflow and activity interceptors).
    traced: bool,
    facts: Facts,
}

pub fn prepare(config: &Config, meter: Option<TemporalMeter>, identity: String) -> Result<Prepared, HostError> {
    let t = &config.temporal;
    // With a client-certificate resolver the SDK (temporalio-client 1.1, `dynamic-tls`) dials
    // through its own rustls connector, but tonic refuses an `https://` target that has no
    // tonic-level TLS config ("HttpsUriWithoutTlsSupport"). Its connector does TLS whatever the
    // scheme, so that path gets an `http://` target; the TLS handshake is unchanged.
    let reloading_client_cert = t.tls.as_ref().is_some_and(|tls| tls.client_cert.is_some());
    let scheme = if t.tls.is_some() && !reloading_client_cert { "https" } else { "http" };
    let url = url::Url::parse(&format!("{scheme}://{}", t.address))
        .map_err(|e| HostError::Config(format!("temporal.address {:?} is not valid: {e}", t.address)))?;
    let mut tls_options = None;
    let mut cert = None;
    if let Some(tls) = &t.tls {
        let ca = tls
            .server_ca
            .as_deref()
            .map(check_ca)
            .transpose()
            .map_err(|e| HostError::Config(format!("temporal.tls_server_ca_cert_path: {e}")))?;
        cert = tls
            .client_cert
            .clone()
            .map(ReloadingCert::load)
            .transpose()
            .map_err(|e| HostError::Config(format!("client certificate: {e}")))?;
        tls_options = Some(
            TlsOptions::builder()
                .maybe_server_root_ca_cert(ca)
                .maybe_domain(tls.server_name.clone())
                .maybe_client_cert_resolver(cert.clone().map(|c| c as Arc<dyn ResolvesClientCert>))
                .build(),
        );
    }
    let (api_key, api_key_file) = match &t.api_key {
        Some(ApiKey::Inline(k)) => (Some(k.expose().to_string()), None),
        Some(ApiKey::File(p)) => {
            let key = read_api_key(p).map_err(|e| HostError::Config(format!("temporal.api_key_file: {e}")))?;
            (Some(key), Some((p.clone(), mtime(p))))
        }
        None => (None, None),
    };
    let headers: HashMap<String, String> =
        t.grpc_meta.iter().map(|(k, v)| (k.clone(), v.expose().to_string())).collect();
    let options = ConnectionOptions::new(url)
        .identity(identity)
        .maybe_metrics_meter(meter)
        .maybe_tls_options(tls_options)
        .maybe_api_key(api_key)
        .connect_timeout(t.connect_timeout.min(std::time::Duration::from_secs(5)))
        .maybe_headers((!headers.is_empty()).then_some(headers))
        .build();
    Ok(Prepared { options, reloader: Reloader { cert, api_key: api_key_file }, traced: false, facts: facts(config) })
}

impl Prepared {
    /// Dial Temporal. Retries until `deadline` so a worker that starts before the server is
    /// up (common in a fresh cluster) waits instead of crash-looping.
    /// Trace workflow starts, runs and activities (see [`crate::traces`]).
    pub fn traced(mut self, on: bool) -> Prepared {
        self.traced = on;
        self
    }

    pub async fn connect(
        self,
        namespace: &str,
        data_converter: DataConverter,
        deadline: Duration,
    ) -> Result<(Client, Reloader), HostError> {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(200);
        // Report the most telling failure seen: one with a hint beats a later one without.
        let mut telling: Option<Diagnosis> = None;
        let connection = loop {
            match Connection::connect(self.options.clone()).await {
                Ok(c) => break c,
                Err(e) => {
                    let diagnosis = match &e {
                        // The transport was up: the first RPC failed after the TLS handshake.
                        ClientConnectError::SystemInfoCallError(status) => diagnose(status, self.facts, true),
                        other => diagnose(other, self.facts, false),
                    };
                    if started.elapsed() + delay >= deadline {
                        let best = match telling {
                            Some(t) if diagnosis.hint.is_none() => t,
                            _ => diagnosis,
                        };
                        return Err(HostError::Connect(best));
                    }
                    warn!(error = %diagnosis.summary, retry_in_ms = delay.as_millis() as u64, "cannot connect to Temporal yet");
                    if diagnosis.hint.is_some() {
                        telling = Some(diagnosis);
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        };
        let options = ClientOptions::new(namespace).data_converter(data_converter);
        let options = if self.traced { options.plugin(crate::traces::plugin()) } else { options };
        let client = Client::new(connection, options.build())
            .map_err(|e| HostError::Connect(Diagnosis { summary: e.to_string(), hint: None }))?;
        Ok((client, self.reloader))
    }
}
