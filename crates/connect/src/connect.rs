//! Turning the validated connection settings into a Temporal client: plaintext, TLS with a
//! custom CA and server name, mTLS from files (as a `kubernetes.io/tls` Secret mounts them), or
//! an API key (which always implies TLS). Client certificates and API key files are watched and
//! reloaded in place, because Kubernetes rotates Secret volumes without restarting the pod.

use crate::diagnose::{Diagnosis, Facts, Hint, diagnose};
use crate::{ConnectError, MaterialError};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use temporalio_client::errors::ClientConnectError;
use temporalio_client::{
    CertifiedKey, Client, ClientOptions, Connection, ConnectionOptions, ErasedClientPlugin, GrpcCompression, ResolvesClientCert,
    SignatureScheme, TlsOptions,
};
use temporalio_common::data_converters::DataConverter;
use temporalio_common::telemetry::metrics::TemporalMeter;
use tk8s_config::spec as S;
use tk8s_config::watched::{Refresh, Watch, Watched};
use tk8s_config::{ApiKey, ClientCert, Config};
use tracing::{info, warn};

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default().cloned().unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// A client certificate and key pair as loaded: the key for rustls, and when the leaf expires.
#[derive(Debug)]
pub struct LoadedCert {
    pub key: Arc<CertifiedKey>,
    /// The leaf certificate's `notAfter`, in seconds since the Unix epoch.
    pub not_after: i64,
}

/// Read and check a client certificate and key pair: both parse, and the key belongs to the
/// certificate. Used at start-up (a failure is a configuration error) and on every reload.
pub fn load_certified_key(cert: &ClientCert) -> Result<LoadedCert, MaterialError> {
    let read = |path: &Path| std::fs::read(path).map_err(|source| MaterialError::Read { path: path.to_path_buf(), source });
    let not_pem = |path: &Path, what: &'static str, source| MaterialError::NotPem { path: path.to_path_buf(), what, source };
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&read(&cert.cert)?).collect::<Result<_, _>>().map_err(|e| not_pem(&cert.cert, "certificate", e))?;
    let Some(leaf) = chain.first() else {
        return Err(MaterialError::NoCertificate { path: cert.cert.clone() });
    };
    let (_, parsed) =
        x509_parser::parse_x509_certificate(leaf).map_err(|e| MaterialError::NotX509 { path: cert.cert.clone(), reason: e.to_string() })?;
    let not_after = parsed.validity().not_after.timestamp();
    let key = PrivateKeyDer::from_pem_slice(&read(&cert.key)?).map_err(|e| not_pem(&cert.key, "private key", e))?;
    let key = CertifiedKey::from_der(chain, key, &provider()).map_err(|source| MaterialError::KeyMismatch {
        cert: cert.cert.clone(),
        key: cert.key.clone(),
        source,
    })?;
    Ok(LoadedCert { key: Arc::new(key), not_after })
}

/// RFC 3339 (UTC) for a Unix time, for messages.
pub fn utc(unix: i64) -> String {
    match x509_parser::time::ASN1Time::from_timestamp(unix).map(|t| t.to_datetime()) {
        Ok(d) => format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", d.year(), u8::from(d.month()), d.day(), d.hour(), d.minute(), d.second()),
        Err(_) => format!("{unix} (Unix time)"),
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn check_ca(path: &Path) -> Result<Vec<u8>, MaterialError> {
    let bytes = std::fs::read(path).map_err(|source| MaterialError::Read { path: path.to_path_buf(), source })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes).collect::<Result<_, _>>().map_err(|source| MaterialError::NotPem {
        path: path.to_path_buf(),
        what: "certificate",
        source,
    })?;
    if certs.is_empty() {
        return Err(MaterialError::NoCertificate { path: path.to_path_buf() });
    }
    Ok(bytes)
}

/// A client certificate resolver that swaps in new files when they change on disk (a pair that
/// does not load, e.g. caught half-written, keeps the previous one in use).
#[derive(Debug)]
pub struct ReloadingCert {
    files: ClientCert,
    watched: Watched<LoadedCert, MaterialError>,
}

impl ReloadingCert {
    pub fn load(files: ClientCert) -> Result<Arc<Self>, MaterialError> {
        let pair = files.clone();
        let watched =
            Watched::new(Watch::Files(vec![files.cert.clone(), files.key.clone()]), Duration::ZERO, move || load_certified_key(&pair))?;
        Ok(Arc::new(Self { files, watched }))
    }

    /// Reload if the files changed.
    pub fn refresh(&self) {
        match self.watched.refresh() {
            Refresh::Unchanged => {}
            Refresh::Reloaded => {
                info!(cert = %self.files.cert.display(), not_after = %utc(self.watched.get().not_after), "client certificate reloaded")
            }
            Refresh::Failed(e) => warn!(error = %e, "client certificate changed but does not load; keeping the previous one"),
        }
    }

    /// The certificate file and its `notAfter` (Unix seconds).
    pub fn expiry(&self) -> (&Path, i64) {
        (&self.files.cert, self.watched.get().not_after)
    }
}

impl ResolvesClientCert for ReloadingCert {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.watched.get().key.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Files that may change under us and what to do about it.
pub struct Reloader {
    cert: Option<Arc<ReloadingCert>>,
    api_key: Option<Watched<String, MaterialError>>,
}

impl Reloader {
    /// Check watched files; apply what changed to the live connection.
    pub fn poll(&mut self, connection: &Connection) {
        if let Some(cert) = &self.cert {
            cert.refresh();
        }
        if let Some(key) = &self.api_key {
            match key.refresh() {
                Refresh::Unchanged => {}
                Refresh::Reloaded => {
                    connection.set_api_key(Some(key.get().to_string()));
                    info!("API key reloaded");
                }
                Refresh::Failed(e) => warn!(error = %e, "API key file changed but cannot be used; keeping the previous key"),
            }
        }
    }

    /// The client certificate's file and `notAfter`, when one is configured.
    pub fn client_cert_expiry(&self) -> Option<(PathBuf, i64)> {
        self.cert.as_ref().map(|c| {
            let (path, not_after) = c.expiry();
            (path.to_path_buf(), not_after)
        })
    }
}

/// What the configuration says about the connection, for [`diagnose`].
pub fn facts(config: &Config) -> Facts {
    let tls = config.temporal.tls.as_ref();
    Facts { tls: tls.is_some(), client_cert: tls.is_some_and(|t| t.client_cert.is_some()) }
}

fn read_api_key(path: &Path) -> Result<String, MaterialError> {
    let key = std::fs::read_to_string(path).map_err(|source| MaterialError::Read { path: path.to_path_buf(), source })?;
    let key = key.trim().to_string();
    if key.is_empty() {
        return Err(MaterialError::Empty { path: path.to_path_buf() });
    }
    Ok(key)
}

/// Everything checked before dialling: what can be wrong with TLS material is a configuration
/// error (exit 78), reported before any port is bound.
pub struct Prepared {
    options: ConnectionOptions,
    reloader: Reloader,
    /// Client plugins (the host's OpenTelemetry plugin, which through the client also reaches
    /// the worker's workflow and activity interceptors).
    plugins: Vec<ErasedClientPlugin>,
    facts: Facts,
}

pub fn prepare(config: &Config, meter: Option<TemporalMeter>, identity: String) -> Result<Prepared, ConnectError> {
    let t = &config.temporal;
    // With a client-certificate resolver the SDK (temporalio-client 1.1, `dynamic-tls`) dials
    // through its own rustls connector, but tonic refuses an `https://` target that has no
    // tonic-level TLS config ("HttpsUriWithoutTlsSupport"). Its connector does TLS whatever the
    // scheme, so that path gets an `http://` target; the TLS handshake is unchanged.
    let reloading_client_cert = t.tls.as_ref().is_some_and(|tls| tls.client_cert.is_some());
    let scheme = if t.tls.is_some() && !reloading_client_cert { "https" } else { "http" };
    let url = url::Url::parse(&format!("{scheme}://{}", t.address))
        .map_err(|source| ConnectError::Address { address: t.address.clone(), source })?;
    let mut tls_options = None;
    let mut cert = None;
    if let Some(tls) = &t.tls {
        let ca = tls
            .server_ca
            .as_deref()
            .map(check_ca)
            .transpose()
            .map_err(|source| ConnectError::Material { setting: S::TEMPORAL_TLS_SERVER_CA_CERT_PATH.key, source: Box::new(source) })?;
        cert = tls
            .client_cert
            .clone()
            .map(ReloadingCert::load)
            .transpose()
            .map_err(|source| ConnectError::Material { setting: "client certificate", source: Box::new(source) })?;
        if let Some((path, not_after)) = cert.as_ref().map(|c| c.expiry())
            && not_after <= unix_now()
        {
            return Err(ConnectError::CertificateExpired { path: path.to_path_buf(), not_after: utc(not_after) });
        }
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
            let path = p.clone();
            let watched = Watched::new(Watch::Files(vec![p.clone()]), Duration::ZERO, move || read_api_key(&path))
                .map_err(|source| ConnectError::Material { setting: S::TEMPORAL_API_KEY_FILE.key, source: Box::new(source) })?;
            (Some(watched.get().to_string()), Some(watched))
        }
        None => (None, None),
    };
    let headers: HashMap<String, String> = t.grpc_meta.iter().map(|(k, v)| (k.clone(), v.expose().to_string())).collect();
    let options = ConnectionOptions::new(url)
        .identity(identity)
        .maybe_metrics_meter(meter)
        .maybe_tls_options(tls_options)
        .maybe_api_key(api_key)
        .connect_timeout(t.connect_timeout.min(std::time::Duration::from_secs(5)))
        .grpc_compression(if t.grpc_gzip { GrpcCompression::Gzip } else { GrpcCompression::None })
        .maybe_headers((!headers.is_empty()).then_some(headers))
        .build();
    Ok(Prepared { options, reloader: Reloader { cert, api_key: api_key_file }, plugins: Vec::new(), facts: facts(config) })
}

impl Prepared {
    /// Dial Temporal. Retries until `deadline` so a worker that starts before the server is
    /// up (common in a fresh cluster) waits instead of crash-looping.
    /// Install a client plugin (e.g. the host's trace export).
    pub fn plugin(mut self, plugin: impl Into<ErasedClientPlugin>) -> Prepared {
        self.plugins.push(plugin.into());
        self
    }

    pub async fn connect(
        self,
        namespace: &str,
        data_converter: DataConverter,
        deadline: Duration,
    ) -> Result<(Client, Reloader), ConnectError> {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(200);
        // Report the most telling failure seen: one with a hint beats a later one without.
        let mut telling: Option<Diagnosis> = None;
        let host = self.options.target.host_str().map(String::from);
        let port = self.options.target.port().unwrap_or(7233);
        let connection = loop {
            // Each attempt gets at most the time that is left, so the deadline holds.
            let left = deadline.saturating_sub(started.elapsed());
            let attempt = tokio::time::timeout(left.max(Duration::from_millis(1)), Connection::connect(self.options.clone())).await;
            let failure = match attempt {
                Ok(Ok(c)) => break c,
                Ok(Err(e)) => e,
                Err(_) => {
                    let summary = format!("no connection within {}", tk8s_config::format_duration(deadline));
                    return Err(ConnectError::Unreachable(telling.unwrap_or(Diagnosis { summary, hint: None })));
                }
            };
            let mut diagnosis = match &failure {
                // The transport was up: the first RPC failed after the TLS handshake.
                ClientConnectError::SystemInfoCallError(status) => diagnose(status, self.facts, true),
                other => diagnose(other, self.facts, false),
            };
            if diagnosis.hint.is_none()
                && let Some(host) = &host
                && host.parse::<std::net::IpAddr>().is_err()
                && tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host((host.as_str(), port)))
                    .await
                    .is_ok_and(|r| r.is_err())
            {
                // Our own lookup of the name failed: a typo, or a Service in another namespace.
                diagnosis.hint = Some(Hint::UnknownHost);
            }
            let left = deadline.saturating_sub(started.elapsed());
            if left.is_zero() {
                let best = match telling {
                    Some(t) if diagnosis.hint.is_none() => t,
                    _ => diagnosis,
                };
                return Err(ConnectError::Unreachable(best));
            }
            warn!(error = %diagnosis.summary, retry_in_ms = delay.min(left).as_millis() as u64, "cannot connect to Temporal yet");
            if diagnosis.hint.is_some() {
                telling = Some(diagnosis);
            }
            tokio::time::sleep(delay.min(left)).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        };
        let options = ClientOptions::new(namespace).data_converter(data_converter);
        let options = options.plugins(self.plugins);
        let client = Client::new(connection, options.build())
            .map_err(|e| ConnectError::Unreachable(Diagnosis { summary: e.to_string(), hint: None }))?;
        Ok((client, self.reloader))
    }
}

/// One cheap RPC that proves the server answers and the namespace exists.
pub async fn check_namespace(client: &Client, config: &Config, timeout: Duration) -> Result<(), ConnectError> {
    let namespace = config.temporal.namespace.as_str();
    use temporalio_client::grpc::WorkflowService;
    use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest;
    let mut svc = client.clone();
    let mut request =
        temporalio_client::tonic::Request::new(DescribeNamespaceRequest { namespace: namespace.to_string(), ..Default::default() });
    request.set_timeout(timeout);
    match tokio::time::timeout(timeout, svc.describe_namespace(request)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(status)) if status.code() == temporalio_client::tonic::Code::NotFound => {
            Err(ConnectError::NoSuchNamespace { namespace: namespace.to_string() })
        }
        Ok(Err(status)) => Err(ConnectError::Unreachable(diagnose(&status, facts(config), true))),
        Err(_) => Err(ConnectError::Unreachable(Diagnosis {
            summary: format!("no answer within {}", tk8s_config::format_duration(timeout)),
            hint: None,
        })),
    }
}
