//! JWT bearer tokens for the codec server, verified against a JWKS: what the Temporal UI sends
//! when it forwards the signed-in user's access token (`passAccessToken`). Parsing, signature
//! and claim checks are `jsonwebtoken`'s; what is ours is the policy around it:
//!
//! - Only RS256 and ES256, **pinned by the key's type**: an RSA key verifies only RS256, a P-256
//!   key only ES256, so a token cannot choose a weaker check (`none`, HMAC keyed with a public
//!   key). `exp` and `aud` are required, `nbf` and `iss` (when configured) checked, 60 s leeway.
//! - Keys come from a URL (re-fetched every [`REFRESH`], and at most every [`MISS_REFETCH`] when
//!   a token names a key not yet seen, which is how providers roll keys) or from a file (re-read
//!   when it changes). A fetch that fails keeps the keys already loaded. No lock is held while
//!   fetching: requests meanwhile use the keys already loaded.
//! - A verified token is remembered (by SHA-256) for up to a minute, never past its `exp` nor
//!   past a change of keys, so the UI's repeated requests with one token cost one signature check.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tk8s_config::watched::{Refresh, Watch, Watched};
use tk8s_config::{Jwks, Jwt};

/// How often keys from a URL are fetched again regardless of misses.
pub const REFRESH: Duration = Duration::from_secs(300);
/// Least time between fetches caused by tokens naming unknown keys.
pub const MISS_REFETCH: Duration = Duration::from_secs(5);
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_S: u64 = 60;
/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// How long a JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a verified token is taken on trust before its signature is checked again.
const ACCEPTED_FOR_S: i64 = 60;
/// Most tokens remembered; past that the memory starts afresh.
const ACCEPTED_MAX: usize = 4096;

/// Why a token or a JWKS was refused. Never contains a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token rejected: {0}")]
    Token(String),
    #[error("JWKS {source_name}: {reason}")]
    Jwks { source_name: String, reason: String },
}

fn reject(why: impl Into<String>) -> JwtError {
    JwtError::Token(why.into())
}

/// One usable key: the only algorithm it may verify, and the key itself.
#[derive(Clone)]
struct Key {
    alg: Algorithm,
    decoding: DecodingKey,
    /// The JWK as published, to tell whether a reload changed anything.
    jwk: Jwk,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} key", self.alg)
    }
}

type Keys = HashMap<String, Key>;

/// The algorithm a JWK may verify, by its type; `None` for keys we do not accept.
fn pinned_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        _ => return None,
    };
    let declared_ok = match jwk.common.key_algorithm {
        None => true,
        Some(KeyAlgorithm::RS256) => alg == Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => alg == Algorithm::ES256,
        Some(_) => false,
    };
    declared_ok.then_some(alg)
}

/// Parse a JWKS document; keys of other types, or not for signatures, are skipped (providers
/// publish encryption keys and algorithms we refuse in the same document).
fn parse_jwks(text: &str) -> Result<Keys, String> {
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = doc.get("keys").and_then(|k| k.as_array()).ok_or("no \"keys\" array")?;
    let mut out = Keys::new();
    for value in list {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value.clone()) else { continue };
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let Some(alg) = pinned_algorithm(&jwk) else { continue };
        let Ok(decoding) = DecodingKey::from_jwk(&jwk) else { continue };
        out.insert(jwk.common.key_id.clone().unwrap_or_default(), Key { alg, decoding, jwk });
    }
    Ok(out)
}

fn same_keys(a: &Keys, b: &Keys) -> bool {
    a.len() == b.len() && a.iter().all(|(kid, k)| b.get(kid).is_some_and(|o| o.jwk == k.jwk))
}

/// Where the keys come from.
enum Source {
    Url { url: String, client: reqwest::Client, keys: RwLock<Arc<Keys>>, fetched: Mutex<Option<Instant>>, fetching: AtomicBool },
    File(Watched<Keys, JwtError>),
}

/// Verifies JWT bearer tokens against one configured JWKS.
pub struct Verifier {
    audience: String,
    issuer: Option<String>,
    source: Source,
    /// SHA-256 of recently verified tokens -> unix time until which they pass without a check.
    accepted: Mutex<HashMap<[u8; 32], i64>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("jwks", &self.source_name()).field("audience", &self.audience).finish()
    }
}

impl Verifier {
    /// A verifier for the configured JWKS. A file is read now (its error is a start-up error);
    /// a URL is fetched by [`Verifier::load`].
    pub fn new(config: &Jwt) -> Result<Verifier, JwtError> {
        let source = match &config.jwks {
            Jwks::Url(url) => {
                let client = reqwest::Client::builder()
                    .timeout(FETCH_TIMEOUT)
                    .user_agent(concat!("tk8s-codec-server/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| JwtError::Jwks { source_name: url.clone(), reason: format!("HTTP client: {e}") })?;
                Source::Url {
                    url: url.clone(),
                    client,
                    keys: RwLock::default(),
                    fetched: Mutex::new(None),
                    fetching: AtomicBool::new(false),
                }
            }
            Jwks::File(path) => {
                let file = path.clone();
                let read = move || read_file(&file);
                Source::File(Watched::new(Watch::Files(vec![path.clone()]), Duration::from_secs(1), read)?)
            }
        };
        Ok(Verifier { audience: config.audience.clone(), issuer: config.issuer.clone(), source, accepted: Mutex::default() })
    }

    fn source_name(&self) -> String {
        match &self.source {
            Source::Url { url, .. } => url.clone(),
            Source::File(w) => format!("{w:?}"),
        }
    }

    /// Fetch the keys now (at start, so a wrong URL shows in the log before the first request).
    /// The number of usable keys.
    pub async fn load(&self) -> Result<usize, JwtError> {
        match &self.source {
            Source::Url { .. } => {
                self.fetch_keys().await?;
                Ok(self.keys().len())
            }
            Source::File(w) => Ok(w.get().len()),
        }
    }

    fn keys(&self) -> Arc<Keys> {
        match &self.source {
            Source::Url { keys, .. } => keys.read().unwrap_or_else(|e| e.into_inner()).clone(),
            Source::File(w) => w.get(),
        }
    }

    /// Fetch the JWKS and swap it in. Concurrent callers do not wait: while one fetch runs,
    /// others return at once and use the keys already loaded.
    async fn fetch_keys(&self) -> Result<(), JwtError> {
        let Source::Url { url, client, keys, fetched, fetching } = &self.source else { return Ok(()) };
        if fetching.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        *fetched.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let result = fetch(client, url).await.and_then(|text| parse_jwks(&text));
        fetching.store(false, Ordering::Release);
        let new = result.map_err(|reason| JwtError::Jwks { source_name: url.clone(), reason })?;
        let changed = !same_keys(&keys.read().unwrap_or_else(|e| e.into_inner()), &new);
        *keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
        if changed {
            self.forget_accepted();
        }
        Ok(())
    }

    /// The key for `kid`, loading keys again when they are due or the id is new.
    async fn key(&self, kid: &str) -> Option<Key> {
        match &self.source {
            Source::Url { fetched, .. } => {
                let since = fetched.lock().unwrap_or_else(|e| e.into_inner()).map(|t| t.elapsed());
                let known = self.keys().contains_key(kid);
                let due = since.is_none_or(|s| s >= REFRESH || (!known && s >= MISS_REFETCH));
                if due && let Err(e) = self.fetch_keys().await {
                    tracing::warn!(error = %e, "cannot load the JWKS; keeping the keys already loaded");
                }
            }
            Source::File(w) => match w.refresh() {
                Refresh::Reloaded => self.forget_accepted(),
                Refresh::Failed(e) => tracing::warn!(error = %e, "JWKS file changed but does not load; keeping the keys already loaded"),
                Refresh::Unchanged => {}
            },
        }
        self.keys().get(kid).cloned()
    }

    fn forget_accepted(&self) {
        self.accepted.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Check a bearer token: signature by a JWKS key of the token's algorithm, `exp`, `nbf`,
    /// `aud` and `iss`. A token verified in the last minute (and not expired since) passes
    /// without the signature check.
    pub async fn verify(&self, token: &str) -> Result<(), JwtError> {
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
    async fn verify_fully(&self, token: &str) -> Result<i64, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| match part(token, 0).and_then(|h| h.get("alg").cloned()) {
            // An algorithm jsonwebtoken does not even name, such as `none`.
            Some(alg) => reject(format!("algorithm {alg} is not accepted (RS256, ES256)")),
            None => reject("not a JWT"),
        })?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(reject(format!("algorithm {:?} is not accepted (RS256, ES256)", header.alg)));
        }
        let kid = header.kid.unwrap_or_default();
        let key = self.key(&kid).await.ok_or_else(|| reject(format!("no key {kid:?} in the JWKS")))?;
        if key.alg != header.alg {
            return Err(reject(format!("key {kid:?} is not an {:?} key", header.alg)));
        }
        let mut validation = Validation::new(key.alg);
        validation.leeway = LEEWAY_S;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "aud"]);
        validation.set_audience(&[&self.audience]);
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
        }
        #[derive(serde::Deserialize)]
        struct Claims {
            // Optional here so that a missing `exp` is reported as such by the validation.
            exp: Option<i64>,
        }
        match jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation) {
            Ok(data) => Ok(data.claims.exp.unwrap_or(0)),
            Err(e) => Err(reject(match e.kind() {
                ErrorKind::InvalidSignature => "bad signature".to_string(),
                ErrorKind::ExpiredSignature => "expired".into(),
                ErrorKind::ImmatureSignature => "not valid yet (nbf)".into(),
                ErrorKind::InvalidAudience | ErrorKind::MissingRequiredClaim(_) if !has_claim(token, "aud") => {
                    "wrong audience (none given)".into()
                }
                ErrorKind::InvalidAudience => "wrong audience".into(),
                ErrorKind::InvalidIssuer => "wrong issuer".into(),
                ErrorKind::MissingRequiredClaim(c) => format!("no {c} claim"),
                _ => "malformed token".into(),
            })),
        }
    }
}

/// Part `n` of a token (0 header, 1 claims) as JSON, for explaining a refusal.
fn part(token: &str, n: usize) -> Option<serde_json::Value> {
    use base64::Engine;
    let text = token.split('.').nth(n)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Whether the token's claims name `claim` (to tell a missing audience from a wrong one).
fn has_claim(token: &str, claim: &str) -> bool {
    part(token, 1).is_some_and(|v| v.get(claim).is_some())
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn read_file(path: &PathBuf) -> Result<Keys, JwtError> {
    let fail = |reason: String| JwtError::Jwks { source_name: path.display().to_string(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    parse_jwks(&text).map_err(fail)
}

/// GET `url` (https with the system's trust store, which honours SSL_CERT_FILE; plain http only
/// on loopback, as the config allows; proxies from HTTPS_PROXY/NO_PROXY), at most
/// [`MAX_JWKS_BYTES`].
async fn fetch(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let mut response = client.get(url).header(reqwest::header::ACCEPT, "application/json").send().await.map_err(|e| describe(&e))?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!("document is larger than {MAX_JWKS_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| "body is not UTF-8".into())
}

/// reqwest's error with its causes (the TLS reason is in the chain, not the top line).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

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
            let signed = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(json!({ "alg": "ES256", "kid": kid }).to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let sig = key.sign(&ring::rand::SystemRandom::new(), signed.as_bytes()).unwrap();
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
        })
    }

    fn verifier(dir: &tempfile::TempDir, keys: &[Value], issuer: Option<&str>) -> Verifier {
        let file = dir.path().join("jwks.json");
        std::fs::write(&file, json!({ "keys": keys }).to_string()).unwrap();
        Verifier::new(&Jwt { jwks: Jwks::File(file), audience: "temporal-ui".into(), issuer: issuer.map(String::from) }).unwrap()
    }

    #[tokio::test]
    async fn claims_need_a_current_exp_the_audience_and_the_issuer() {
        let dir = tempfile::tempdir().unwrap();
        let (jwk, sign) = es256("k");
        let v = verifier(&dir, &[jwk], Some("https://idp.example.com"));
        let now = unix_now();
        let iss = "https://idp.example.com";
        assert!(v.verify(&sign(&json!({ "exp": now + 60, "aud": "temporal-ui", "iss": iss }))).await.is_ok());
        assert!(v.verify(&sign(&json!({ "exp": now - 30, "aud": "temporal-ui", "iss": iss }))).await.is_ok(), "within the leeway");
        assert!(v.verify(&sign(&json!({ "exp": now + 60, "aud": ["x", "temporal-ui"], "iss": iss }))).await.is_ok());
        let cases = [
            (json!({ "aud": "temporal-ui", "iss": iss }), "no exp"),
            (json!({ "exp": now - 120, "aud": "temporal-ui", "iss": iss }), "expired"),
            (json!({ "exp": now + 600, "nbf": now + 300, "aud": "temporal-ui", "iss": iss }), "nbf"),
            (json!({ "exp": now + 60, "aud": "other-app", "iss": iss }), "audience"),
            (json!({ "exp": now + 60, "aud": ["a", "b"], "iss": iss }), "audience"),
            (json!({ "exp": now + 60, "iss": iss }), "audience"),
            (json!({ "exp": now + 60, "aud": "temporal-ui", "iss": "https://evil.example.com" }), "issuer"),
        ];
        for (claims, why) in cases {
            let e = v.verify(&sign(&claims)).await.expect_err(why).to_string();
            assert!(e.contains(why), "{why}: {e}");
        }
    }

    #[tokio::test]
    async fn algorithms_are_pinned_by_key_type() {
        let dir = tempfile::tempdir().unwrap();
        let (jwk, sign) = es256("k");
        let v = verifier(&dir, &[jwk], None);
        let claims = json!({ "exp": unix_now() + 60, "aud": "temporal-ui" });
        let good = sign(&claims);
        let payload = good.split('.').nth(1).unwrap();
        for (alg, why) in [("none", "not accepted"), ("HS256", "not accepted"), ("RS256", "not an RS256 key")] {
            let header = URL_SAFE_NO_PAD.encode(json!({ "alg": alg, "kid": "k" }).to_string());
            let forged = format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(b"sig"));
            let e = v.verify(&forged).await.expect_err(alg).to_string();
            assert!(e.contains(why), "{alg}: {e}");
        }
        let tampered = format!(
            "{}.{}.{}",
            good.split('.').next().unwrap(),
            URL_SAFE_NO_PAD.encode(json!({ "exp": unix_now() + 9999, "aud": "temporal-ui" }).to_string()),
            good.split('.').nth(2).unwrap()
        );
        assert!(v.verify(&tampered).await.unwrap_err().to_string().contains("bad signature"));
        assert!(v.verify("garbage").await.unwrap_err().to_string().contains("not a JWT"));
    }

    #[tokio::test]
    async fn a_jwks_file_is_followed_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (jwk1, sign1) = es256("one");
        let (jwk2, sign2) = es256("two");
        let verifier = verifier(&dir, &[jwk1], None);
        assert_eq!(verifier.load().await.unwrap(), 1);
        let claims = json!({ "aud": "temporal-ui", "exp": unix_now() + 60 });
        assert!(verifier.verify(&sign1(&claims)).await.is_ok());
        assert!(verifier.verify(&sign2(&claims)).await.is_err(), "key two is not in the file yet");
        // The provider rotates: key two replaces key one.
        std::fs::write(dir.path().join("jwks.json"), json!({ "keys": [jwk2] }).to_string()).unwrap();
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
        let (ec, _) = es256("ec");
        let mut ec_declared = ec.clone();
        ec_declared["kid"] = json!("ec-declared");
        ec_declared["alg"] = json!("ES256");
        // A 2048-bit modulus is not needed to parse; `e` = 65537.
        let n = URL_SAFE_NO_PAD.encode([0xc5u8; 256]);
        let doc = json!({ "keys": [
            ec, ec_declared,
            { "kty": "RSA", "kid": "rsa", "n": n, "e": "AQAB" },
            { "kty": "RSA", "kid": "enc", "n": n, "e": "AQAB", "use": "enc" },
            { "kty": "RSA", "kid": "wrong-alg", "n": n, "e": "AQAB", "alg": "ES256" },
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
            { "kty": "unknown", "kid": "future" },
        ]});
        let keys = parse_jwks(&doc.to_string()).unwrap();
        let mut ids: Vec<&str> = keys.keys().map(String::as_str).collect();
        ids.sort();
        assert_eq!(ids, ["ec", "ec-declared", "rsa"]);
        assert!(parse_jwks("{}").unwrap_err().contains("keys"));
    }
}
