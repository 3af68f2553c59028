//! JWT bearer tokens for the codec server, verified against a JWKS: what the Temporal UI sends
//! when it forwards the signed-in user's access token (`passAccessToken`). Only asymmetric
//! algorithms (RS256, ES256) are accepted, pinned by the key's type, so a token cannot choose a
//! weaker check (`none`, HMAC with a public key). Signatures are checked by `ring`; the claims
//! `exp` (required), `nbf`, `aud` (required) and `iss` (when configured) are checked here.
//!
//! Keys come from a URL (re-fetched every [`REFRESH`], and at most every [`MISS_REFETCH`] when a
//! token names a key not yet seen, which is how providers roll keys) or from a file (re-read
//! when it changes). A fetch that fails keeps the keys already loaded. A verified token is
//! remembered (by hash) for up to a minute, never past its `exp` nor past a change of keys, so
//! the UI's repeated requests with one token cost one signature check.

use crate::CodecError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tk8s_config::{Jwks, Jwt};
use tokio::sync::Mutex;

/// How often keys from a URL are fetched again regardless of misses.
pub const REFRESH: Duration = Duration::from_secs(300);
/// Least time between fetches caused by tokens naming unknown keys.
pub const MISS_REFETCH: Duration = Duration::from_secs(5);
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_S: i64 = 60;
/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq)]
enum Key {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed P-256 point (0x04 || x || y).
    P256(Vec<u8>),
}

impl Key {
    fn alg(&self) -> &'static str {
        match self {
            Key::Rsa { .. } => "RS256",
            Key::P256(_) => "ES256",
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Key::Rsa { n, e } => RsaPublicKeyComponents { n, e }.verify(&RSA_PKCS1_2048_8192_SHA256, message, signature).is_ok(),
            Key::P256(point) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(message, signature).is_ok(),
        }
    }
}

fn b64(field: &Value, name: &str) -> Result<Vec<u8>, String> {
    let text = field.as_str().ok_or_else(|| format!("key lacks {name}"))?;
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).map_err(|_| format!("key's {name} is not base64url"))
}

/// Parse a JWKS document; keys of other types, or not for signatures, are skipped.
fn parse_jwks(text: &str) -> Result<HashMap<String, Key>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let keys = doc["keys"].as_array().ok_or("no \"keys\" array")?;
    let mut out = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        if k["use"].as_str().is_some_and(|u| u != "sig") {
            continue;
        }
        let key = match (k["kty"].as_str(), k["crv"].as_str()) {
            (Some("RSA"), _) => Key::Rsa { n: b64(&k["n"], "n")?, e: b64(&k["e"], "e")? },
            (Some("EC"), Some("P-256")) => {
                let (x, y) = (b64(&k["x"], "x")?, b64(&k["y"], "y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(format!("key {i}: P-256 coordinates must be 32 bytes"));
                }
                Key::P256([&[4u8][..], &x, &y].concat())
            }
            _ => continue,
        };
        if k["alg"].as_str().is_some_and(|a| a != key.alg()) {
            continue;
        }
        out.insert(k["kid"].as_str().unwrap_or("").to_string(), key);
    }
    Ok(out)
}

struct Cache {
    keys: Arc<HashMap<String, Key>>,
    /// When the source was last fetched (URL) or looked at (file).
    checked: Option<Instant>,
    stamp: Option<SystemTime>,
}

/// How long a verified token is taken on trust before its signature is checked again (also
/// bounded by its `exp`, and forgotten whenever the keys are reloaded).
const ACCEPTED_FOR_S: i64 = 60;
/// Most tokens remembered; past that the memory starts afresh.
const ACCEPTED_MAX: usize = 4096;

/// Verifies JWT bearer tokens against one configured JWKS.
pub struct Verifier {
    config: Jwt,
    cache: Mutex<Cache>,
    /// SHA-256 of recently verified tokens -> unix time until which they pass without a check
    /// (the UI sends the same token with every request).
    accepted: std::sync::Mutex<HashMap<[u8; 32], i64>>,
}

fn reject(why: impl Into<String>) -> CodecError {
    CodecError::Token(why.into())
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("jwks", &self.source()).field("audience", &self.config.audience).finish()
    }
}

impl Verifier {
    pub fn new(config: Jwt) -> Verifier {
        Verifier { config, cache: Mutex::new(Cache { keys: Arc::default(), checked: None, stamp: None }), accepted: Default::default() }
    }

    /// Load the keys now (at start, so a wrong URL shows in the log before the first request).
    pub async fn load(&self) -> Result<usize, CodecError> {
        let mut cache = self.cache.lock().await;
        self.reload(&mut cache).await?;
        Ok(cache.keys.len())
    }

    async fn reload(&self, cache: &mut Cache) -> Result<(), CodecError> {
        cache.checked = Some(Instant::now());
        let text = match &self.config.jwks {
            Jwks::Url(url) => fetch(url).await.map_err(|e| CodecError::Keys(format!("JWKS {url}: {e}")))?,
            Jwks::File(path) => {
                cache.stamp = crate::mtime(path);
                read_file(path)?
            }
        };
        let keys = parse_jwks(&text).map_err(|e| CodecError::Keys(format!("JWKS {}: {e}", self.source())))?;
        if *cache.keys != keys {
            self.forget_accepted();
        }
        cache.keys = Arc::new(keys);
        Ok(())
    }

    fn source(&self) -> String {
        match &self.config.jwks {
            Jwks::Url(url) => url.clone(),
            Jwks::File(path) => path.display().to_string(),
        }
    }

    /// The key for `kid`, loading keys again when they are due or the id is new.
    async fn key(&self, kid: &str) -> Option<Key> {
        let mut cache = self.cache.lock().await;
        let since = cache.checked.map(|t| t.elapsed());
        let due = match &self.config.jwks {
            Jwks::Url(_) => since.is_none_or(|s| s >= REFRESH || (!cache.keys.contains_key(kid) && s >= MISS_REFETCH)),
            // The file is looked at no more than once a second.
            Jwks::File(path) => {
                let look = since.is_none_or(|s| s >= Duration::from_secs(1));
                if look {
                    cache.checked = Some(Instant::now());
                }
                look && (cache.stamp.is_none() || crate::mtime(path) != cache.stamp)
            }
        };
        if due && let Err(e) = self.reload(&mut cache).await {
            tracing::warn!(error = %e, "cannot load the JWKS; keeping the keys already loaded");
        }
        cache.keys.get(kid).cloned()
    }

    fn forget_accepted(&self) {
        self.accepted.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Check a bearer token: signature by a JWKS key, `exp`, `nbf`, `aud` and `iss`. A token
    /// verified in the last minute (and not expired since) passes without the signature check.
    pub async fn verify(&self, token: &str) -> Result<(), CodecError> {
        let digest: [u8; 32] = ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref().try_into().unwrap_or([0; 32]);
        let now = unix_now();
        if self.accepted.lock().unwrap_or_else(|e| e.into_inner()).get(&digest).is_some_and(|until| now < *until) {
            return Ok(());
        }
        let exp = self.verify_fully(token).await?;
        let mut accepted = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
        if accepted.len() >= ACCEPTED_MAX {
            accepted.clear();
        }
        accepted.insert(digest, exp.min(now + ACCEPTED_FOR_S));
        Ok(())
    }

    /// The full check; the token's `exp` when it passes.
    async fn verify_fully(&self, token: &str) -> Result<i64, CodecError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(reject("not a JWT"));
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| reject("not base64url"));
        let header: Value = serde_json::from_slice(&decode(h)?).map_err(|_| reject("header is not JSON"))?;
        let alg = header["alg"].as_str().unwrap_or("");
        if alg != "RS256" && alg != "ES256" {
            return Err(reject(format!("algorithm {alg:?} is not accepted (RS256, ES256)")));
        }
        let kid = header["kid"].as_str().unwrap_or("");
        let key = self.key(kid).await.ok_or_else(|| reject(format!("no key {kid:?} in the JWKS")))?;
        if key.alg() != alg {
            return Err(reject(format!("key {kid:?} is not an {alg} key")));
        }
        if !key.verify(&token.as_bytes()[..h.len() + 1 + p.len()], &decode(s)?) {
            return Err(reject("bad signature"));
        }
        let claims: Value = serde_json::from_slice(&decode(p)?).map_err(|_| reject("claims are not JSON"))?;
        check_claims(&claims, &self.config, unix_now())?;
        Ok(claims["exp"].as_i64().unwrap_or(0))
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn check_claims(claims: &Value, config: &Jwt, now: i64) -> Result<(), CodecError> {
    let exp = claims["exp"].as_i64().ok_or_else(|| reject("no exp claim"))?;
    if now > exp + LEEWAY_S {
        return Err(reject("expired"));
    }
    if claims["nbf"].as_i64().is_some_and(|nbf| now + LEEWAY_S < nbf) {
        return Err(reject("not valid yet (nbf)"));
    }
    let aud_ok = match &claims["aud"] {
        Value::String(a) => *a == config.audience,
        Value::Array(list) => list.iter().any(|a| a.as_str() == Some(config.audience.as_str())),
        _ => false,
    };
    if !aud_ok {
        return Err(reject("wrong audience"));
    }
    if let Some(iss) = &config.issuer
        && claims["iss"].as_str() != Some(iss.as_str())
    {
        return Err(reject("wrong issuer"));
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<String, CodecError> {
    std::fs::read_to_string(path).map_err(|e| CodecError::Keys(format!("JWKS file {}: {e}", path.display())))
}

/// GET `url` (https with the system's trust store, which honours SSL_CERT_FILE; plain http only
/// on loopback, as the config allows), within 10 s.
async fn fetch(url: &str) -> Result<String, String> {
    tokio::time::timeout(Duration::from_secs(10), fetch_inner(url)).await.map_err(|_| "timed out after 10s".to_string())?
}

async fn fetch_inner(url: &str) -> Result<String, String> {
    use http_body_util::{BodyExt, Empty, Limited};
    use hyper_util::rt::TokioIo;
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let host = uri.host().ok_or("URL has no host")?.trim_start_matches('[').trim_end_matches(']').to_string();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("connect: {e}"))?;
    let request = hyper::Request::get(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .header(hyper::header::HOST, uri.authority().map(|a| a.as_str()).unwrap_or(&host))
        .header(hyper::header::ACCEPT, "application/json")
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    macro_rules! send {
        ($io:expr) => {{
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new($io)).await.map_err(|e| format!("http: {e}"))?;
            tokio::spawn(conn);
            sender.send_request(request).await.map_err(|e| format!("http: {e}"))?
        }};
    }
    let response = if https {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| format!("server name: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?;
        send!(tls)
    } else {
        send!(tcp)
    };
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let body = Limited::new(response.into_body(), MAX_JWKS_BYTES).collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
    String::from_utf8(body.to_vec()).map_err(|_| "body is not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> Jwt {
        Jwt { jwks: Jwks::File("unused".into()), audience: "temporal-ui".into(), issuer: Some("https://idp.example.com".into()) }
    }

    #[test]
    fn claims_need_a_future_exp_the_audience_and_the_issuer() {
        let c = config();
        let good = json!({ "exp": 1000, "aud": "temporal-ui", "iss": "https://idp.example.com" });
        assert!(check_claims(&good, &c, 900).is_ok());
        assert!(check_claims(&good, &c, 1000 + LEEWAY_S).is_ok(), "leeway");
        let cases = [
            (json!({ "aud": "temporal-ui", "iss": "https://idp.example.com" }), 0, "no exp"),
            (good.clone(), 1001 + LEEWAY_S, "expired"),
            (json!({ "exp": 1000, "nbf": 800, "aud": "temporal-ui", "iss": "https://idp.example.com" }), 700, "nbf"),
            (json!({ "exp": 1000, "aud": "other-app", "iss": "https://idp.example.com" }), 0, "audience"),
            (json!({ "exp": 1000, "aud": ["a", "b"], "iss": "https://idp.example.com" }), 0, "audience"),
            (json!({ "exp": 1000, "iss": "https://idp.example.com" }), 0, "audience"),
            (json!({ "exp": 1000, "aud": "temporal-ui", "iss": "https://evil.example.com" }), 0, "issuer"),
        ];
        for (claims, now, why) in cases {
            let e = check_claims(&claims, &c, now).expect_err(why).to_string();
            assert!(e.contains(why), "{why}: {e}");
        }
        assert!(check_claims(&json!({ "exp": 1000, "aud": ["x", "temporal-ui"], "iss": "https://idp.example.com" }), &c, 0).is_ok());
    }

    /// An ES256 key: its JWK and a signer of tokens with `kid`.
    fn es256(kid: &str) -> (Value, impl Fn(&Value) -> String) {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let point = key.public_key().as_ref().to_vec();
        let jwk = json!({ "kty": "EC", "crv": "P-256", "kid": kid, "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..]) });
        let kid = kid.to_string();
        (jwk, move |claims: &Value| {
            let signed = format!("{}.{}", URL_SAFE_NO_PAD.encode(json!({ "alg": "ES256", "kid": kid }).to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
            let sig = key.sign(&ring::rand::SystemRandom::new(), signed.as_bytes()).unwrap();
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
        })
    }

    #[tokio::test]
    async fn a_jwks_file_is_followed_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwks.json");
        let (jwk1, sign1) = es256("one");
        let (jwk2, sign2) = es256("two");
        std::fs::write(&file, json!({ "keys": [jwk1] }).to_string()).unwrap();
        let verifier = Verifier::new(Jwt { jwks: Jwks::File(file.clone()), audience: "temporal-ui".into(), issuer: None });
        assert_eq!(verifier.load().await.unwrap(), 1);
        let claims = json!({ "aud": "temporal-ui", "exp": unix_now() + 60 });
        assert!(verifier.verify(&sign1(&claims)).await.is_ok());
        assert!(verifier.verify(&sign2(&claims)).await.is_err(), "key two is not in the file yet");
        // The provider rotates: key two replaces key one (a later mtime, as a kubelet swap gives).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        std::fs::write(&file, json!({ "keys": [jwk2] }).to_string()).unwrap();
        let mut accepted = false;
        for _ in 0..30 {
            if verifier.verify(&sign2(&claims)).await.is_ok() {
                accepted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(accepted, "the new key was never picked up");
        assert!(verifier.verify(&sign1(&claims)).await.is_err(), "the retired key still passes");
    }

    #[test]
    fn jwks_keeps_signature_keys_of_known_types() {
        let x = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let doc = json!({ "keys": [
            { "kty": "EC", "crv": "P-256", "kid": "ec", "x": x, "y": x, "alg": "ES256" },
            { "kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB" },
            { "kty": "RSA", "kid": "enc", "n": "AQAB", "e": "AQAB", "use": "enc" },
            { "kty": "RSA", "kid": "wrong-alg", "n": "AQAB", "e": "AQAB", "alg": "ES256" },
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
        ]});
        let keys = parse_jwks(&doc.to_string()).unwrap();
        let mut ids: Vec<&str> = keys.keys().map(String::as_str).collect();
        ids.sort();
        assert_eq!(ids, ["ec", "rsa"]);
        assert!(parse_jwks("{}").unwrap_err().contains("keys"));
    }
}
