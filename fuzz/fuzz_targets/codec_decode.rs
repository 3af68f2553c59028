//! The codec's decode path on arbitrary payloads: whatever a history or a codec server request
//! holds, decoding returns an error or a payload, never panics. The input is read as a protobuf
//! `Payload` (metadata and data both attacker-chosen), and its bytes are also tried as the data
//! of a payload that claims to be encrypted under a known key, compressed or not.

#![no_main]
use libfuzzer_sys::fuzz_target;
use prost::Message;
use std::sync::{Arc, OnceLock};
use temporalio_common::protos::temporal::api::common::v1::Payload;
use tk8s_codec::{Codec, KeyRing};

fn codec() -> &'static Arc<Codec> {
    static CODEC: OnceLock<Arc<Codec>> = OnceLock::new();
    CODEC.get_or_init(|| Codec::new(KeyRing::new([("k1".to_string(), [7u8; 32])].into(), "k1").expect("ring"), Some(16)))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(payload) = Payload::decode(data) {
        let _ = codec().decode(&payload);
    }
    let claimed = Payload {
        metadata: [("encoding".into(), b"binary/encrypted".to_vec()), ("encryption-key-id".into(), b"k1".to_vec())].into(),
        data: data.to_vec(),
        ..Default::default()
    };
    assert!(codec().decode(&claimed).is_err(), "forged ciphertext decoded");
    // A real round trip of the input as plaintext always comes back unchanged.
    let plain = Payload { metadata: [("encoding".into(), b"json/plain".to_vec())].into(), data: data.to_vec(), ..Default::default() };
    let sealed = codec().encode(&plain).expect("encode");
    assert_eq!(codec().decode(&sealed).expect("decode"), plain);
});
