//! Payload encryption for temporal-k8s: an AES-256-GCM [`Codec`] with a rotating [`KeyRing`]
//! and the SDK hook ([`SdkCodec`]). This is all a worker links; the codec server that lets the
//! Web UI and the CLI read encrypted payloads is `tk8s-codec-server`.
//!
//! What the codec does not cover (the SDK sends these around it): search attributes, static
//! summaries and details, and failure messages and stack traces (unless the failure converter
//! encodes them as payloads).

mod codec;
mod keys;
mod reload;

pub use codec::{Codec, ENCRYPTED, METADATA_ENCODING, METADATA_KEY_ID, SdkCodec, ZLIB};
pub use keys::{ACTIVE_FILE, KEY_SUFFIX, KeyRing, KeySource, parse_key_material};
pub use reload::Reloading;

/// What can go wrong with keys and payloads.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// Key material or key ring configuration is unusable.
    #[error("{0}")]
    Keys(String),
    /// The payload names a key this process does not have.
    #[error(
        "payload was encrypted with key id {id:?}, which is not in the key ring (known: {known}); hint: add that key (decrypt-only is enough)"
    )]
    UnknownKey { id: String, known: String },
    /// Authentication failed: wrong key material for that id, or tampered data.
    #[error("decrypting payload with key id {id:?} failed: wrong key for that id, or the data was tampered with")]
    Decrypt { id: String },
    /// Not a payload we can read.
    #[error("malformed payload: {0}")]
    Malformed(String),
}
