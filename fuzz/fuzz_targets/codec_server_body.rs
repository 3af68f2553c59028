//! The codec server's request bodies: arbitrary bytes through the same parsing and decoding the
//! `/decode` and `/encode` handlers run. Never panics; what parses is decoded or refused.

#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use tk8s_codec::{Codec, KeyRing};
use tk8s_codec_server::router::{parse_payloads, payload_json};

fn codec() -> &'static Arc<Codec> {
    static CODEC: OnceLock<Arc<Codec>> = OnceLock::new();
    CODEC.get_or_init(|| Codec::new(KeyRing::new([("k1".to_string(), [7u8; 32])].into(), "k1").expect("ring"), None))
}

fuzz_target!(|body: &[u8]| {
    let Ok(payloads) = parse_payloads(body) else { return };
    if let Ok(decoded) = codec().decode_all(&payloads) {
        for p in &decoded {
            let _ = payload_json(p);
        }
    }
    if let Ok(encoded) = codec().encode_all(&payloads) {
        assert_eq!(codec().decode_all(&encoded).expect("decode what was encoded"), payloads);
    }
});
