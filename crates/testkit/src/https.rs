//! A static HTTPS endpoint: one document, replaceable while running, served with a certificate
//! from a test CA over HTTP/1.1. It stands in for an identity provider's JWKS URL in the codec
//! server's JWT tests, and counts the requests it answers so tests can see refetch behaviour.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_rustls::TlsAcceptor;

pub struct HttpsDocument {
    pub port: u16,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicU64>,
    stop: Option<(tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl HttpsDocument {
    /// Serve `body` at every path on 127.0.0.1, with `cert_pem`/`key_pem` (e.g. a [`crate::Leaf`]).
    pub fn start(cert_pem: &str, key_pem: &str, body: &str) -> HttpsDocument {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<_, _>>().expect("cert");
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("tls versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("cert and key");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (body, hits) = (Arc::new(Mutex::new(body.to_string())), Arc::new(AtomicU64::new(0)));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (b, h) = (body.clone(), hits.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let accept = async {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else { continue };
                        let (acceptor, b, h) = (acceptor.clone(), b.clone(), h.clone());
                        tokio::spawn(async move {
                            let Ok(tls) = acceptor.accept(tcp).await else { return };
                            let service = hyper::service::service_fn(move |_req: Request<Incoming>| {
                                h.fetch_add(1, Ordering::SeqCst);
                                let text = b.lock().unwrap_or_else(|e| e.into_inner()).clone();
                                async move {
                                    Ok::<_, std::convert::Infallible>(
                                        Response::builder()
                                            .header("content-type", "application/json")
                                            .body(Full::new(Bytes::from(text)))
                                            .expect("response"),
                                    )
                                }
                            });
                            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
                        });
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = rx => {}
                }
            });
        });
        HttpsDocument { port, body, hits, stop: Some((tx, thread)) }
    }

    /// Serve `body` from now on.
    pub fn set(&self, body: &str) {
        *self.body.lock().unwrap_or_else(|e| e.into_inner()) = body.to_string();
    }

    /// Requests answered so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for HttpsDocument {
    fn drop(&mut self) {
        if let Some((tx, thread)) = self.stop.take() {
            let _ = tx.send(());
            let _ = thread.join();
        }
    }
}
