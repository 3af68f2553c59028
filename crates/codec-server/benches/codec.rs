//! Benchmarks, not tests: print figures and keep them in `bench/results/codec.json`.
//!
//! 1. Codec encode/decode throughput for 1 KiB and 16 KiB payloads on one core, as a ratio to
//!    `openssl speed -evp aes-256-gcm` run by this process on the same machine, same run.
//! 2. Codec server requests per second and latency percentiles for a small batch (10 payloads of
//!    256 bytes, what the Web UI sends for a workflow page) from a loopback load generator:
//!    server and generator each get one runtime thread, so each has a core. Then the same with
//!    an ES256 JWT verified on every request, as a ratio to the run without authentication.
//!
//! Run with `cargo bench -p tk8s-codec-server --bench codec` (or `cargo xtask bench`).

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::process::Command;
use std::time::{Duration, Instant};
use temporalio_common::protos::temporal::api::common::v1::Payload;
use tk8s_codec::{Codec, KeyRing};
use tk8s_codec_server::router::{ServerMetrics, ServerOptions, app, payload_json};

const SECONDS: u64 = 3;

fn codec() -> std::sync::Arc<Codec> {
    Codec::new(KeyRing::new([("bench".to_string(), [42u8; 32])].into(), "bench").unwrap(), None)
}

fn payload(size: usize) -> Payload {
    let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    Payload { metadata: [("encoding".into(), b"json/plain".to_vec())].into(), data, ..Default::default() }
}

/// Bytes of payload data per second through `f`.
fn throughput(size: usize, mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(SECONDS) {
        for _ in 0..64 {
            f();
        }
        n += 64;
    }
    (n * size as u64) as f64 / started.elapsed().as_secs_f64()
}

/// `openssl speed -evp aes-256-gcm` for one block size, in bytes per second.
fn openssl(size: usize) -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-evp", "aes-256-gcm", "-bytes", &size.to_string(), "-seconds", &SECONDS.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.starts_with("AES-256-GCM"))?;
    let k: f64 = line.split_whitespace().last()?.trim_end_matches('k').parse().ok()?;
    Some(k * 1000.0)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this target too, unoptimised,
    // and must neither take the time nor overwrite the kept results.
    if !std::env::args().any(|a| a == "--bench") {
        println!("codec benchmark: skipped (run `cargo bench -p tk8s-codec-server --bench codec`)");
        return;
    }
    let codec = codec();
    let mut rows = Vec::new();
    println!("{:<8} {:>14} {:>14} {:>14} {:>10} {:>10}", "size", "encode MB/s", "decode MB/s", "openssl MB/s", "enc/ossl", "dec/ossl");
    for size in [1024usize, 16384] {
        let p = payload(size);
        let sealed = codec.encode(&p).unwrap();
        let enc = throughput(size, || {
            std::hint::black_box(codec.encode(std::hint::black_box(&p)).unwrap());
        });
        let dec = throughput(size, || {
            std::hint::black_box(codec.decode(std::hint::black_box(&sealed)).unwrap());
        });
        let ossl = openssl(size).unwrap_or(f64::NAN);
        println!("{:<8} {:>14.0} {:>14.0} {:>14.0} {:>10.3} {:>10.3}", size, enc / 1e6, dec / 1e6, ossl / 1e6, enc / ossl, dec / ossl);
        rows.push(format!(
            "{{\"payload_bytes\": {size}, \"encode_bytes_per_s\": {enc:.0}, \"decode_bytes_per_s\": {dec:.0}, \"openssl_bytes_per_s\": {ossl:.0}, \"encode_ratio_to_openssl\": {:.3}, \"decode_ratio_to_openssl\": {:.3}}}",
            enc / ossl, dec / ossl
        ));
    }

    // The codec server without authentication, then with an ES256 JWT verified on every request
    // (what a UI behind single sign-on sends): the same load, so the ratio is JWT's cost.
    let open = serve(codec.clone(), None);
    let (jwt_options, token) = jwt_setup();
    let with_jwt = serve(codec.clone(), Some(jwt_options));
    let plain = load(&codec, open, None);
    let jwt = load(&codec, with_jwt, Some(&token));
    for (name, r) in [("no auth", &plain), ("ES256 JWT", &jwt)] {
        println!(
            "codec server, {name}: {:.0} req/s, p50 {} us, p99 {} us, {} errors (16 connections, 10 payloads x 256 B per request)",
            r.rps, r.p50, r.p99, r.errors
        );
    }
    println!("codec server with JWT / without: {:.3} of the requests per second", jwt.rps / plain.rps);
    let json = format!(
        "{{\n  \"codec\": [\n    {}\n  ],\n  \"codec_server\": {},\n  \"codec_server_jwt_es256\": {},\n  \"jwt_to_no_auth_requests_ratio\": {:.3}\n}}\n",
        rows.join(",\n    "),
        plain.json(),
        jwt.json(),
        jwt.rps / plain.rps
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("codec.json"), json);
}

struct Load {
    rps: f64,
    p50: u64,
    p99: u64,
    errors: u64,
}

impl Load {
    fn json(&self) -> String {
        format!(
            "{{\"requests_per_s\": {:.0}, \"p50_us\": {}, \"p99_us\": {}, \"errors\": {}, \"connections\": 16, \"payloads_per_request\": 10, \"payload_bytes\": 256}}",
            self.rps, self.p50, self.p99, self.errors
        )
    }
}

/// A codec server on its own thread and runtime (one core); its address.
fn serve(codec: std::sync::Arc<Codec>, jwt: Option<tk8s_config::Jwt>) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let jwt = jwt.map(|j| std::sync::Arc::new(tk8s_codec_server::jwt::Verifier::new(&j).unwrap()));
    let router =
        app(codec, ServerOptions { allowed_origins: vec![], tokens_file: None, jwt, max_body_bytes: 4 << 20 }, ServerMetrics::new())
            .unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move { axum::serve(tokio::net::TcpListener::from_std(listener).unwrap(), router).await.unwrap() });
    });
    addr
}

/// A JWKS file with one ES256 key, and a token it accepts for an hour.
fn jwt_setup() -> (tk8s_config::Jwt, String) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = key.public_key().as_ref();
    let jwks = serde_json::json!({ "keys": [{ "kty": "EC", "crv": "P-256", "kid": "bench", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..]) }] });
    let file = std::env::temp_dir().join(format!("tk8s-bench-jwks-{}.json", std::process::id()));
    std::fs::write(&file, jwks.to_string()).unwrap();
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let signed = format!(
        "{}.{}",
        B64.encode(serde_json::json!({ "alg": "ES256", "kid": "bench" }).to_string()),
        B64.encode(serde_json::json!({ "aud": "temporal-ui", "exp": exp }).to_string())
    );
    let sig = key.sign(&rng, signed.as_bytes()).unwrap();
    let token = format!("{signed}.{}", B64.encode(sig.as_ref()));
    (tk8s_config::Jwt { jwks: tk8s_config::Jwks::File(file), audience: "temporal-ui".into(), issuer: None }, token)
}

/// 16 keep-alive connections decoding a 10-payload batch for 2 x SECONDS, on this thread's runtime.
fn load(codec: &Codec, addr: std::net::SocketAddr, token: Option<&str>) -> Load {
    let batch: Vec<_> = (0..10).map(|_| payload_json(&codec.encode(&payload(256)).unwrap())).collect();
    let body = Bytes::from(serde_json::json!({ "payloads": batch }).to_string());
    let auth = token.map(|t| format!("Bearer {t}"));
    let concurrency = 16;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (count, mut latencies, elapsed, errors) = rt.block_on(async move {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(SECONDS * 2);
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (client, body, auth) = (client.clone(), body.clone(), auth.clone());
            tasks.push(tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0u64);
                while Instant::now() < deadline {
                    let mut req = hyper::Request::post(format!("http://{addr}/default/decode"))
                        .header("content-type", "application/json")
                        .header("x-namespace", "default");
                    if let Some(a) = &auth {
                        req = req.header("authorization", a.as_str());
                    }
                    let req = req.body(Full::new(body.clone())).unwrap();
                    let t = Instant::now();
                    match client.request(req).await {
                        Ok(resp) if resp.status().is_success() => {
                            let _ = resp.into_body().collect().await;
                            lat.push(t.elapsed().as_micros() as u64);
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            }));
        }
        let (mut all, mut errors) = (Vec::new(), 0);
        for t in tasks {
            let (lat, e) = t.await.unwrap();
            all.extend(lat);
            errors += e;
        }
        (all.len(), all, started.elapsed(), errors)
    });
    latencies.sort_unstable();
    let pct = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied().unwrap_or(0);
    Load { rps: count as f64 / elapsed.as_secs_f64(), p50: pct(0.5), p99: pct(0.99), errors }
}
