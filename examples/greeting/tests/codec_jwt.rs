//! `tk8s codec-server` accepting JWT bearer tokens (what the Temporal UI forwards with
//! `passAccessToken`) verified against a JWKS fetched over real HTTPS from a server with a test
//! CA's certificate (trusted through SSL_CERT_FILE, as in a container): ES256 and RS256 keys,
//! every claim and algorithm rule, key rotation by a new `kid`, rate-limited refetches.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tk8s_testkit::{HttpsDocument, TestCa, http_request, wait_until};

fn tk8s() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_greeting")).with_file_name("tk8s");
    assert!(path.is_file(), "{} is missing: run `cargo build -p tk8s-cli` (cargo xtask test does)", path.display());
    path
}

const AUDIENCE: &str = "temporal-ui";
const ISSUER: &str = "https://idp.test";

enum Signer {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl Signer {
    fn ec() -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Signer::Ec(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap())
    }

    /// ring cannot generate RSA keys; openssl (on every Debian) can.
    fn rsa(dir: &Path) -> Signer {
        let file = dir.join("rsa.der");
        let out = std::process::Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-outform", "DER", "-out"])
            .arg(&file)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // OpenSSL 3 writes the DER as an RSAPrivateKey (PKCS#1).
        Signer::Rsa(RsaKeyPair::from_der(&std::fs::read(file).unwrap()).unwrap())
    }

    fn jwk(&self, kid: &str) -> Value {
        match self {
            Signer::Ec(k) => {
                let point = k.public_key().as_ref();
                json!({ "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..]) })
            }
            Signer::Rsa(k) => {
                let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(k.public());
                json!({ "kty": "RSA", "kid": kid, "use": "sig", "n": URL_SAFE_NO_PAD.encode(&c.n), "e": URL_SAFE_NO_PAD.encode(&c.e) })
            }
        }
    }

    fn alg(&self) -> &'static str {
        match self {
            Signer::Ec(_) => "ES256",
            Signer::Rsa(_) => "RS256",
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Signer::Ec(k) => k.sign(&rng, message).unwrap().as_ref().to_vec(),
            Signer::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig).unwrap();
                sig
            }
        }
    }

    fn token(&self, kid: &str, claims: &Value) -> String {
        let head = URL_SAFE_NO_PAD.encode(json!({ "alg": self.alg(), "kid": kid, "typ": "JWT" }).to_string());
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{head}.{body}");
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(self.sign(signed.as_bytes())))
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn claims() -> Value {
    json!({ "sub": "alice@example.com", "aud": AUDIENCE, "iss": ISSUER, "exp": now() + 300, "iat": now() })
}

fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

fn encode_status(port: u16, token: Option<&str>) -> u16 {
    let body = json!({ "payloads": [{ "metadata": { "encoding": STANDARD.encode("json/plain") }, "data": STANDARD.encode("\"hi\"") }] })
        .to_string();
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    http_request(port, "POST", "/encode", &headers, &body).map(|r| r.0).unwrap_or(0)
}

#[test]
fn jwts_verified_against_a_jwks_over_https_with_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("codec-keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(keys.join("k1.key"), STANDARD.encode([7u8; 32])).unwrap();
    std::fs::write(keys.join("active"), "k1").unwrap();
    let ca = TestCa::new("tk8s test IdP CA");
    let ca_file = ca.write_ca(dir.path());
    let leaf = ca.leaf("localhost", &["localhost"]);
    let (ec, rsa, next, stranger) = (Signer::ec(), Signer::rsa(dir.path()), Signer::ec(), Signer::ec());
    let idp = HttpsDocument::start(&leaf.cert_pem, &leaf.key_pem, &jwks(&[ec.jwk("ec-1"), rsa.jwk("rsa-1")]));
    let url = format!("https://localhost:{}/.well-known/jwks.json", idp.port);
    let (server, port) = tk8s_testkit::codec_server(
        &tk8s(),
        None,
        &keys,
        &[
            ("TK8S_CODEC_SERVER_JWKS_URL", &url),
            ("TK8S_CODEC_SERVER_JWT_AUDIENCE", AUDIENCE),
            ("TK8S_CODEC_SERVER_JWT_ISSUER", ISSUER),
            ("SSL_CERT_FILE", &ca_file.display().to_string()),
        ],
    );
    assert!(wait_until(Duration::from_secs(10), || server.output().contains("JWKS loaded")), "{}", server.output());
    assert_eq!(encode_status(port, Some(&ec.token("ec-1", &claims()))), 200, "{}", server.output());
    assert_eq!(encode_status(port, Some(&rsa.token("rsa-1", &claims()))), 200, "{}", server.output());

    let with = |k: &str, v: Value| {
        let mut c = claims();
        c[k] = v;
        c
    };
    let good = ec.token("ec-1", &claims());
    let (head, rest) = good.split_once('.').unwrap();
    let tampered =
        format!("{head}.{}.{}", URL_SAFE_NO_PAD.encode(with("sub", json!("mallory")).to_string()), rest.split_once('.').unwrap().1);
    let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"ec-1"}"#), URL_SAFE_NO_PAD.encode(claims().to_string()));
    let rejected = [
        ("no token", None),
        ("expired", Some(ec.token("ec-1", &with("exp", json!(now() - 3600))))),
        (
            "no exp",
            Some(ec.token("ec-1", &{
                let mut c = claims();
                c.as_object_mut().unwrap().remove("exp");
                c
            })),
        ),
        ("other audience", Some(ec.token("ec-1", &with("aud", json!("billing-app"))))),
        ("other issuer", Some(ec.token("ec-1", &with("iss", json!("https://evil.test"))))),
        ("not yet valid", Some(ec.token("ec-1", &with("nbf", json!(now() + 3600))))),
        ("tampered claims", Some(tampered)),
        ("alg none", Some(none)),
        ("signed by a stranger under a known kid", Some(stranger.token("ec-1", &claims()))),
        ("RSA key named as EC", Some(rsa.token("ec-1", &claims()))),
        ("garbage", Some("not.a.jwt".to_string())),
    ];
    for (why, token) in &rejected {
        assert_eq!(encode_status(port, token.as_deref()), 401, "{why} was accepted");
    }

    // Tokens naming a key the server has not seen refetch the JWKS, at most every few seconds.
    let fetched = idp.hits();
    for _ in 0..20 {
        assert_eq!(encode_status(port, Some(&next.token("ec-2", &claims()))), 401);
    }
    assert!(idp.hits() - fetched <= 1, "{} fetches for 20 unknown-kid tokens", idp.hits() - fetched);
    // The provider rolls a new key: tokens signed with it pass once the server refetches.
    idp.set(&jwks(&[ec.jwk("ec-1"), rsa.jwk("rsa-1"), next.jwk("ec-2")]));
    let rolled = next.token("ec-2", &claims());
    assert!(wait_until(Duration::from_secs(15), || encode_status(port, Some(&rolled)) == 200), "{}", server.output());
    assert_eq!(encode_status(port, Some(&ec.token("ec-1", &claims()))), 200, "old keys still pass");

    let logs = server.output();
    assert!(logs.contains("token rejected: expired") && logs.contains("token rejected: wrong audience"), "{logs}");
    assert!(!logs.contains(head), "a token reached the log:\n{logs}");

    // Without the CA in its trust store the server cannot fetch the keys and refuses every JWT.
    let (server, untrusting) = tk8s_testkit::codec_server(
        &tk8s(),
        None,
        &keys,
        &[("TK8S_CODEC_SERVER_JWKS_URL", &url), ("TK8S_CODEC_SERVER_JWT_AUDIENCE", AUDIENCE)],
    );
    assert_eq!(encode_status(untrusting, Some(&ec.token("ec-1", &claims()))), 401);
    assert!(wait_until(Duration::from_secs(5), || server.output().contains("cannot load the JWKS")), "{}", server.output());
}
