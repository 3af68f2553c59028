//! A real TLS terminator in front of a plaintext dev server, as a cloud load balancer or an
//! ingress would be: TLS (optionally requiring a client certificate signed by a given CA),
//! HTTP/2, optional `authorization: Bearer <key>` enforcement, then gRPC forwarded over h2c.
//! It records which client certificates and keys it saw, so tests can prove what was sent.

use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio_rustls::TlsAcceptor;

#[derive(Clone)]
pub struct TerminatorOptions {
    pub server_cert_pem: String,
    pub server_key_pem: String,
    /// Require client certificates signed by this CA (mTLS).
    pub client_ca_pem: Option<String>,
    /// Require `authorization: Bearer <key>` on every request.
    pub api_key: Option<String>,
    pub upstream: SocketAddr,
}

/// What the terminator observed.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// DER of the client certificate of each accepted TLS connection.
    pub client_certs: Vec<Vec<u8>>,
    pub handshake_failures: u64,
    pub authorized_requests: u64,
    pub rejected_requests: u64,
}

pub struct Terminator {
    pub port: u16,
    options: TerminatorOptions,
    api_key: Arc<Mutex<Option<String>>>,
    blackhole: Arc<std::sync::atomic::AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    stop: Option<(tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl Terminator {
    pub fn start(options: TerminatorOptions) -> Terminator {
        let api_key = Arc::new(Mutex::new(options.api_key.clone()));
        let mut t = Terminator { port: 0, options, api_key, blackhole: Arc::default(), seen: Arc::default(), stop: None };
        t.run();
        t
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// From now on, accept requests but never answer them (a server that hangs).
    pub fn set_blackhole(&self, on: bool) {
        self.blackhole.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Change the API key required from now on (`None`: no key required).
    pub fn set_api_key(&self, key: Option<&str>) {
        *self.api_key.lock().unwrap_or_else(|e| e.into_inner()) = key.map(String::from);
    }

    /// Drop every connection and listen again on the same port (forces clients to reconnect).
    pub fn restart(&mut self) {
        self.shutdown();
        self.run();
    }

    fn shutdown(&mut self) {
        if let Some((tx, thread)) = self.stop.take() {
            let _ = tx.send(());
            let _ = thread.join();
        }
    }

    fn run(&mut self) {
        let config = server_config(&self.options);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (port, options, seen, api_key) = (self.port, self.options.clone(), self.seen.clone(), self.api_key.clone());
        let blackhole = self.blackhole.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
            runtime.block_on(async move {
                // Port 0 the first time (the OS picks a free one); the same port on a restart.
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind terminator port");
                let _ = ready_tx.send(listener.local_addr().map(|a| a.port()).unwrap_or(port));
                tokio::select! {
                    _ = serve(listener, TlsAcceptor::from(Arc::new(config)), options.upstream, api_key, blackhole, seen) => {}
                    _ = rx => {}
                }
            });
            runtime.shutdown_background();
        });
        self.port = ready_rx.recv().expect("terminator started");
        self.stop = Some((tx, thread));
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn server_config(o: &TerminatorOptions) -> ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(o.server_cert_pem.as_bytes()).collect::<Result<_, _>>().expect("server cert");
    let key = PrivateKeyDer::from_pem_slice(o.server_key_pem.as_bytes()).expect("server key");
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().expect("tls versions");
    let builder = match &o.client_ca_pem {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(c.expect("client CA")).expect("add client CA");
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().expect("verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).expect("server cert and key");
    config.alpn_protocols = vec![b"h2".to_vec()];
    config
}

type Body = BoxBody<Bytes, hyper::Error>;

fn grpc_error(code: u8, message: &str) -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .header("grpc-status", code.to_string())
        .header("grpc-message", message)
        .body(Full::new(Bytes::new()).map_err(|never| match never {}).boxed())
        .expect("static response")
}

async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    upstream: SocketAddr,
    api_key: Arc<Mutex<Option<String>>>,
    blackhole: Arc<std::sync::atomic::AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new()).http2_only(true).build_http();
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let (acceptor, api_key, seen, client) = (acceptor.clone(), api_key.clone(), seen.clone(), client.clone());
        let blackhole = blackhole.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(_) => {
                    seen.lock().unwrap_or_else(|e| e.into_inner()).handshake_failures += 1;
                    return;
                }
            };
            if let Some(cert) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
                seen.lock().unwrap_or_else(|e| e.into_inner()).client_certs.push(cert.to_vec());
            }
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                let (seen, client) = (seen.clone(), client.clone());
                let required = api_key.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let hang = blackhole.load(std::sync::atomic::Ordering::SeqCst);
                async move {
                    if hang {
                        std::future::pending::<()>().await;
                    }
                    if let Some(key) = &required {
                        let ok = req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {key}"));
                        let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                        if !ok {
                            s.rejected_requests += 1;
                            return Ok::<_, hyper::Error>(grpc_error(16, "missing or wrong API key"));
                        }
                        s.authorized_requests += 1;
                    }
                    let path = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
                    *req.uri_mut() = format!("http://{upstream}{path}").parse().expect("upstream uri");
                    Ok(match client.request(req).await {
                        Ok(resp) => resp.map(|b| b.boxed()),
                        Err(e) => grpc_error(14, &format!("upstream: {e}")),
                    })
                }
            });
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), service).await;
        });
    }
}
