//! The payload codec: each payload is serialised whole, optionally zlib-compressed (as the Go
//! SDK's zlib codec does, `encoding: binary/zlib`), then sealed with AES-256-GCM under a random
//! 96-bit nonce. Output: `encoding: binary/encrypted`, `encryption-key-id: <id>`, data =
//! nonce ‖ ciphertext ‖ tag: the wire format of Temporal's Go and Python encryption samples, so
//! their codec servers and ours read each other's payloads (compressed ones need a zlib codec
//! in their chain). Payloads without that encoding pass through decode untouched.

use crate::CodecError;
use crate::keys::KeyRing;
use futures::future::BoxFuture;
use prost::Message;
use ring::aead::{Aad, NONCE_LEN, Nonce};
use ring::rand::{SecureRandom, SystemRandom};
use std::io::{Read, Write};
use std::sync::{Arc, RwLock};
use temporalio_common::data_converters::{PayloadCodec, PayloadConversionError, SerializationContextData};
use temporalio_common::protos::temporal::api::common::v1::Payload;

pub const METADATA_ENCODING: &str = "encoding";
pub const METADATA_KEY_ID: &str = "encryption-key-id";
pub const ENCRYPTED: &[u8] = b"binary/encrypted";
pub const ZLIB: &[u8] = b"binary/zlib";
const TAG_LEN: usize = 16;
/// Refuse to inflate a compressed payload beyond this (a decompression bomb guard).
const MAX_INFLATED: u64 = 256 * 1024 * 1024;

pub struct Codec {
    ring: RwLock<Arc<KeyRing>>,
    /// Compress serialised payloads larger than this many bytes before encrypting.
    compress_above: Option<usize>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec").field("ring", &self.ring()).field("compress_above", &self.compress_above).finish()
    }
}

impl Codec {
    pub fn new(ring: KeyRing, compress_above: Option<usize>) -> Arc<Codec> {
        Self::from_shared(Arc::new(ring), compress_above)
    }

    pub fn from_shared(ring: Arc<KeyRing>, compress_above: Option<usize>) -> Arc<Codec> {
        Arc::new(Codec { ring: RwLock::new(ring), compress_above, rng: SystemRandom::new() })
    }

    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Swap in a new key ring (rotation); payloads in flight finish with the ring they started with.
    pub fn replace_ring(&self, ring: Arc<KeyRing>) {
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = ring;
    }

    pub fn encode(&self, payload: &Payload) -> Result<Payload, CodecError> {
        let mut plain = payload.encode_to_vec();
        if self.compress_above.is_some_and(|limit| plain.len() > limit) {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&plain).map_err(|e| CodecError::Malformed(format!("compressing: {e}")))?;
            let data = z.finish().map_err(|e| CodecError::Malformed(format!("compressing: {e}")))?;
            let inner = Payload { metadata: [(METADATA_ENCODING.to_string(), ZLIB.to_vec())].into(), data, ..Default::default() };
            plain = inner.encode_to_vec();
        }
        let ring = self.ring();
        let (id, key) = ring.active();
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CodecError::Malformed("no randomness available for a nonce".into()))?;
        let mut data = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
        data.extend_from_slice(&nonce);
        data.extend_from_slice(&plain);
        let tag = key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data[NONCE_LEN..])
            .map_err(|_| CodecError::Malformed("encryption failed".into()))?;
        data.extend_from_slice(tag.as_ref());
        Ok(Payload {
            metadata: [(METADATA_ENCODING.to_string(), ENCRYPTED.to_vec()), (METADATA_KEY_ID.to_string(), id.as_bytes().to_vec())].into(),
            data,
            ..Default::default()
        })
    }

    pub fn decode(&self, payload: &Payload) -> Result<Payload, CodecError> {
        if payload.metadata.get(METADATA_ENCODING).map(Vec::as_slice) != Some(ENCRYPTED) {
            return Ok(payload.clone());
        }
        let id = payload
            .metadata
            .get(METADATA_KEY_ID)
            .map(|v| String::from_utf8_lossy(v).to_string())
            .ok_or_else(|| CodecError::Malformed(format!("encrypted payload has no {METADATA_KEY_ID} metadata")))?;
        let ring = self.ring();
        let key = ring.get(&id).ok_or_else(|| CodecError::UnknownKey { id: id.clone(), known: ring.ids().join(", ") })?;
        if payload.data.len() < NONCE_LEN + TAG_LEN {
            return Err(CodecError::Decrypt { id });
        }
        let (nonce, sealed) = payload.data.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CodecError::Decrypt { id: id.clone() })?;
        let mut buf = sealed.to_vec();
        let plain = key.open_in_place(nonce, Aad::empty(), &mut buf).map_err(|_| CodecError::Decrypt { id: id.clone() })?;
        let inner = Payload::decode(&plain[..])
            .map_err(|e| CodecError::Malformed(format!("decrypted payload (key {id:?}) is not a Payload: {e}")))?;
        if inner.metadata.get(METADATA_ENCODING).map(Vec::as_slice) != Some(ZLIB) {
            return Ok(inner);
        }
        let mut inflated = Vec::new();
        flate2::read::ZlibDecoder::new(&inner.data[..])
            .take(MAX_INFLATED + 1)
            .read_to_end(&mut inflated)
            .map_err(|e| CodecError::Malformed(format!("zlib payload does not inflate: {e}")))?;
        if inflated.len() as u64 > MAX_INFLATED {
            return Err(CodecError::Malformed("zlib payload inflates beyond 256 MiB".into()));
        }
        Payload::decode(&inflated[..]).map_err(|e| CodecError::Malformed(format!("inflated payload is not a Payload: {e}")))
    }

    pub fn encode_all(&self, payloads: &[Payload]) -> Result<Vec<Payload>, CodecError> {
        payloads.iter().map(|p| self.encode(p)).collect()
    }

    pub fn decode_all(&self, payloads: &[Payload]) -> Result<Vec<Payload>, CodecError> {
        payloads.iter().map(|p| self.decode(p)).collect()
    }
}

/// The SDK hook: the worker inherits it from the client's data converter. The context carries
/// no workflow id or namespace, so the codec cannot vary by them.
pub struct SdkCodec(pub Arc<Codec>);

impl PayloadCodec for SdkCodec {
    fn encode(
        &self,
        _: &SerializationContextData,
        payloads: Vec<Payload>,
    ) -> BoxFuture<'static, Result<Vec<Payload>, PayloadConversionError>> {
        let result = self.0.encode_all(&payloads).map_err(|e| PayloadConversionError::EncodingError(Box::new(e)));
        Box::pin(async move { result })
    }

    fn decode(
        &self,
        _: &SerializationContextData,
        payloads: Vec<Payload>,
    ) -> BoxFuture<'static, Result<Vec<Payload>, PayloadConversionError>> {
        let result = self.0.decode_all(&payloads).map_err(|e| PayloadConversionError::EncodingError(Box::new(e)));
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ring(ids: &[&str], active: &str) -> KeyRing {
        let keys: BTreeMap<String, [u8; 32]> = ids.iter().enumerate().map(|(i, id)| (id.to_string(), [i as u8 + 1; 32])).collect();
        KeyRing::new(keys, active).unwrap()
    }

    fn json(text: &str) -> Payload {
        Payload { metadata: [("encoding".into(), b"json/plain".to_vec())].into(), data: text.as_bytes().to_vec(), ..Default::default() }
    }

    #[test]
    fn round_trip_hides_plaintext_and_uses_fresh_nonces() {
        let codec = Codec::new(ring(&["k1"], "k1"), None);
        let p = json("\"Hello, World!\"");
        let (a, b) = (codec.encode(&p).unwrap(), codec.encode(&p).unwrap());
        assert_eq!(a.metadata["encoding"], ENCRYPTED);
        assert_eq!(a.metadata["encryption-key-id"], b"k1");
        assert!(!a.data.windows(5).any(|w| w == b"Hello"));
        assert_ne!(a.data[..NONCE_LEN], b.data[..NONCE_LEN], "nonce reused");
        assert_eq!(codec.decode(&a).unwrap(), p);
    }

    #[test]
    fn rotation_decrypts_old_keys_and_encrypts_with_the_new_one() {
        let codec = Codec::new(ring(&["k1"], "k1"), None);
        let old = codec.encode(&json("1")).unwrap();
        codec.replace_ring(Arc::new(ring(&["k1", "k2"], "k2")));
        assert_eq!(codec.encode(&json("2")).unwrap().metadata["encryption-key-id"], b"k2");
        assert_eq!(codec.decode(&old).unwrap(), json("1"));
        codec.replace_ring(Arc::new(ring(&["k2"], "k2")));
        let e = codec.decode(&old).unwrap_err().to_string();
        assert!(e.contains("\"k1\"") && e.contains("known: k2"), "{e}");
    }

    #[test]
    fn tampering_and_wrong_keys_are_errors_naming_the_key() {
        let codec = Codec::new(ring(&["k1"], "k1"), None);
        let mut p = codec.encode(&json("\"x\"")).unwrap();
        let last = p.data.len() - 1;
        p.data[last] ^= 1;
        assert_eq!(codec.decode(&p).unwrap_err(), CodecError::Decrypt { id: "k1".into() });
        let other = Codec::new(KeyRing::new([("k1".to_string(), [9u8; 32])].into(), "k1").unwrap(), None);
        let good = codec.encode(&json("\"x\"")).unwrap();
        assert_eq!(other.decode(&good).unwrap_err(), CodecError::Decrypt { id: "k1".into() });
        let mut short = good.clone();
        short.data.truncate(10);
        assert!(codec.decode(&short).is_err());
    }

    #[test]
    fn unencrypted_payloads_pass_through() {
        let codec = Codec::new(ring(&["k1"], "k1"), None);
        assert_eq!(codec.decode(&json("42")).unwrap(), json("42"));
    }

    #[test]
    fn large_payloads_are_compressed_inside_the_encryption() {
        let codec = Codec::new(ring(&["k1"], "k1"), Some(1024));
        let big = json(&format!("\"{}\"", "hello ".repeat(2000)));
        let small = json("\"hi\"");
        let (eb, es) = (codec.encode(&big).unwrap(), codec.encode(&small).unwrap());
        assert!(eb.data.len() < big.data.len() / 4, "not compressed: {} bytes", eb.data.len());
        assert_eq!(codec.decode(&eb).unwrap(), big);
        assert_eq!(codec.decode(&es).unwrap(), small);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]
        /// Any payload survives encode/decode, compressed or not; any single flipped bit in the
        /// ciphertext is detected.
        #[test]
        fn round_trip_and_tamper_detection(
            metadata in proptest::collection::hash_map("[a-z-]{1,12}", proptest::collection::vec(proptest::prelude::any::<u8>(), 0..32), 0..4),
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
            compress in proptest::option::of(0usize..2048),
            flip in proptest::prelude::any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let codec = Codec::new(ring(&["k1", "k2"], "k2"), compress);
            let p = Payload { metadata, data, ..Default::default() };
            let mut sealed = codec.encode(&p).unwrap();
            proptest::prop_assert_eq!(&codec.decode(&sealed).unwrap(), &p);
            let i = flip.index(sealed.data.len());
            sealed.data[i] ^= 1 << bit;
            proptest::prop_assert!(codec.decode(&sealed).is_err());
        }
    }
}
