//! The codec server's lifecycle: check that the configuration does not expose an unprotected
//! codec server, load the keys and the JWKS, bind, serve until `shutdown` resolves, follow key
//! rotation meanwhile, and let open requests finish within `shutdown.grace` (then stop anyway:
//! a client that never finishes its request must not hold a pod past its termination grace).

use crate::jwt::Verifier;
use crate::router::{ServerMetrics, ServerOptions, app};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tk8s_codec::Reloading;
use tk8s_config::{CodecServerAccess, Config, ConfigError, exit, spec};

/// How often the key directory is looked at.
const KEY_REFRESH: Duration = Duration::from_secs(2);

/// Why the codec server did not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is refused (an unprotected exposure, no keys, bad key material or
    /// JWKS file). Exit 78.
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{what}: {reason}\n  hint: {hint}")]
    Unusable { what: &'static str, reason: String, hint: String },
    /// The port is taken or not ours to bind. Exit 1.
    #[error("cannot bind {addr}: {source}\n  hint: set {} to a free port", spec::CODEC_SERVER_PORT.env)]
    Bind { addr: SocketAddr, source: std::io::Error },
    /// Serving failed. Exit 1.
    #[error("codec server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// SIGTERM/SIGINT handlers cannot be installed: without them the server could not drain.
    /// Exit 1.
    #[error("cannot install signal handlers: {source}")]
    Signals { source: std::io::Error },
    /// Open requests were still running when the drain's time was up. Exit 70.
    #[error("open requests did not finish within {} of the shutdown request; stopped anyway\n  hint: raise {} if requests legitimately take this long", tk8s_config::format_duration(*.0), spec::SHUTDOWN_GRACE.env)]
    DrainDeadline(Duration),
}

impl ServeError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeError::Config(e) => e.exit_code(),
            ServeError::Unusable { .. } => exit::CONFIG,
            ServeError::Bind { .. } | ServeError::Serve(_) | ServeError::Signals { .. } => exit::FAILURE,
            ServeError::DrainDeadline(_) => exit::DEADLINE,
        }
    }
}

/// A codec server bound to its address, ready to serve.
pub struct Bound {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    keys: Reloading,
    /// How long open requests get once shutdown is requested.
    drain: Duration,
}

impl Bound {
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serve until `shutdown` resolves, then let open requests finish within the drain time.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
        let keys = self.keys;
        let refresher = tokio::spawn(async move {
            loop {
                tokio::time::sleep(KEY_REFRESH).await;
                keys.refresh();
            }
        });
        let (requested_tx, requested_rx) = tokio::sync::oneshot::channel::<()>();
        let graceful = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = requested_tx.send(());
        });
        let drain = self.drain;
        let deadline = async move {
            match requested_rx.await {
                Ok(()) => tokio::time::sleep(drain).await,
                // The server stopped without a shutdown request: nothing to time.
                Err(_) => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            r = graceful => r.map_err(ServeError::Serve),
            () = deadline => Err(ServeError::DrainDeadline(drain)),
        };
        refresher.abort();
        result?;
        tracing::info!("codec server stopped");
        Ok(())
    }
}

/// Everything before serving: refuse an unprotected exposure, load the keys (and a JWKS),
/// bind. Nothing is bound when the configuration is refused.
pub async fn bind(config: &Config) -> Result<Bound, ServeError> {
    let access = config.codec_server_access()?;
    let Some(codec_config) = &config.codec else {
        return Err(ServeError::Unusable {
            what: "the codec server has no encryption keys",
            reason: "neither a key directory nor inline keys are configured".into(),
            hint: format!("set {} to the mounted key directory", spec::CODEC_KEYS_DIR.env),
        });
    };
    let keys = Reloading::from_config(codec_config).map_err(|e| ServeError::Unusable {
        what: "encryption keys are not usable",
        reason: e.to_string(),
        hint: format!("check the files in {}", spec::CODEC_KEYS_DIR.env),
    })?;
    let s = &config.codec_server;
    let jwt = match &s.jwt {
        Some(j) => Some(Arc::new(Verifier::new(j).map_err(|e| ServeError::Unusable {
            what: "the JWKS is not usable",
            reason: e.to_string(),
            hint: format!("check {}", spec::CODEC_SERVER_JWKS_FILE.env),
        })?)),
        None => None,
    };
    if let Some(verifier) = &jwt {
        // Loaded now so a wrong URL shows at start; a failure is retried on the next token.
        match verifier.load().await {
            Ok(n) => tracing::info!(keys = n, "JWKS loaded; JWT bearer tokens accepted"),
            Err(e) => tracing::warn!(error = %e, "cannot load the JWKS yet; JWTs are refused until it loads"),
        }
    }
    let options = ServerOptions {
        allowed_origins: s.allowed_origins.clone(),
        tokens_file: s.tokens_file.clone(),
        jwt,
        max_body_bytes: s.max_body_bytes,
    };
    let router = app(keys.codec(), options, ServerMetrics::new()).map_err(|e| ServeError::Unusable {
        what: "the tokens file is not usable",
        reason: e.to_string(),
        hint: format!("check {}", spec::CODEC_SERVER_TOKENS_FILE.env),
    })?;
    let listener = tokio::net::TcpListener::bind(s.addr).await.map_err(|source| ServeError::Bind { addr: s.addr, source })?;
    let bound = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    if access == CodecServerAccess::UnauthenticatedByChoice {
        tracing::warn!(addr = %bound, setting = spec::CODEC_SERVER_ALLOW_UNAUTHENTICATED.env,
            "codec server WITHOUT authentication on a non-loopback address: anyone who can reach it can decrypt every payload; only run it like this behind a proxy that authenticates every request");
    }
    tracing::info!(addr = %bound, origins = ?s.allowed_origins, auth = access == CodecServerAccess::Authenticated,
        "codec server listening: POST /encode /decode (also /{{namespace}}/...), GET /livez /readyz /metrics");
    Ok(Bound { listener, router, keys, drain: config.shutdown.grace })
}

/// [`bind`], then [`Bound::run`].
pub async fn serve(config: &Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
    bind(config).await?.run(shutdown).await
}
