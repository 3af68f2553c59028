//! The key ring: one active key that encrypts, any number of keys that only decrypt. Keys come
//! from a directory with one file per key (how a Kubernetes Secret or a Secrets Store CSI volume
//! is mounted) or, for local use, from a `id=key,id=key` string. Key material is 32 bytes, given
//! raw, as base64, or as hex; anything else is rejected with the file that holds it.

use crate::CodecError;
use base64::Engine;
use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file in a key directory that names the active key id.
pub const ACTIVE_FILE: &str = "active";
/// Key files end with this; the stem is the key id.
pub const KEY_SUFFIX: &str = ".key";

pub struct KeyRing {
    active: String,
    keys: BTreeMap<String, LessSafeKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("active", &self.active).field("ids", &self.ids()).finish()
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Decode 32 bytes of key material from raw bytes, base64 or hex.
pub fn parse_key_material(bytes: &[u8]) -> Result<[u8; 32], String> {
    if bytes.len() == 32 {
        return Ok(bytes.try_into().unwrap_or([0; 32]));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| format!("is {} bytes; expected 32 raw bytes, or base64 or hex text", bytes.len()))?;
    let text = text.trim();
    let decoded = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..32).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16)).collect::<Result<Vec<u8>, _>>().ok()
    } else {
        base64::engine::general_purpose::STANDARD.decode(text).ok()
    };
    match decoded {
        Some(k) if k.len() == 32 => Ok(k.try_into().unwrap_or([0; 32])),
        Some(k) => Err(format!("decodes to {} bytes; AES-256 needs exactly 32 (e.g. `openssl rand -base64 32`)", k.len())),
        None => Err("is neither 32 raw bytes nor base64 nor 64 hex digits; create one with `openssl rand -base64 32`".into()),
    }
}

fn aead_key(material: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, material).unwrap_or_else(|_| unreachable!("32-byte AES-256 key")))
}

impl KeyRing {
    /// A ring from key material by id; `active` must be one of them.
    pub fn new(keys: BTreeMap<String, [u8; 32]>, active: &str) -> Result<KeyRing, CodecError> {
        for id in keys.keys() {
            if !valid_id(id) {
                return Err(CodecError::Keys(format!("key id {id:?} is not valid: use letters, digits, '-', '_' or '.'")));
            }
        }
        if !keys.contains_key(active) {
            let known: Vec<_> = keys.keys().cloned().collect();
            return Err(CodecError::Keys(format!(
                "active key id {active:?} is not in the key ring (known: {}); hint: add {active}{KEY_SUFFIX} or change the active id",
                known.join(", ")
            )));
        }
        Ok(KeyRing { active: active.to_string(), keys: keys.iter().map(|(id, k)| (id.clone(), aead_key(k))).collect() })
    }

    /// Parse `id=key,id=key` (keys base64 or hex). The active key is `active`, or the first.
    pub fn from_spec(spec: &str, active: Option<&str>) -> Result<KeyRing, CodecError> {
        let mut keys = BTreeMap::new();
        let mut first = None;
        for (n, part) in spec.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
            let (id, key) = part.split_once('=').ok_or_else(|| {
                CodecError::Keys(format!("entry {} is not id=key; hint: write TK8S_CODEC_KEYS as k1=<base64>,k2=<base64>", n + 1))
            })?;
            let material = parse_key_material(key.trim().as_bytes()).map_err(|e| CodecError::Keys(format!("key {:?} {e}", id.trim())))?;
            first.get_or_insert_with(|| id.trim().to_string());
            keys.insert(id.trim().to_string(), material);
        }
        let active = active.map(String::from).or(first).ok_or_else(|| CodecError::Keys("no keys given".into()))?;
        KeyRing::new(keys, &active)
    }

    /// Load `<id>.key` files from `dir`. The active id is read from the `active` file in `dir`
    /// when present (so promotion is a Secret update), else `active`.
    pub fn from_dir(dir: &Path, active: Option<&str>) -> Result<KeyRing, CodecError> {
        let entries = std::fs::read_dir(dir).map_err(|e| CodecError::Keys(format!("{}: cannot read key directory: {e}", dir.display())))?;
        let mut keys = BTreeMap::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(id) = name.strip_suffix(KEY_SUFFIX) else { continue };
            if name.starts_with('.') {
                continue; // kubelet's ..data / ..timestamp entries
            }
            let path = entry.path();
            let bytes = std::fs::read(&path).map_err(|e| CodecError::Keys(format!("{}: {e}", path.display())))?;
            let material = parse_key_material(&bytes).map_err(|e| CodecError::Keys(format!("{}: key {e}", path.display())))?;
            keys.insert(id.to_string(), material);
        }
        if keys.is_empty() {
            return Err(CodecError::Keys(format!(
                "{}: no key files; hint: add one file per key named <id>{KEY_SUFFIX} holding 32 bytes (base64 is fine)",
                dir.display()
            )));
        }
        let active_file = dir.join(ACTIVE_FILE);
        let active = match std::fs::read_to_string(&active_file) {
            Ok(id) => id.trim().to_string(),
            Err(_) => active.map(String::from).ok_or_else(|| {
                CodecError::Keys(format!(
                    "{}: no `{ACTIVE_FILE}` file and no active key configured; hint: write the active key id into {}",
                    dir.display(),
                    active_file.display()
                ))
            })?,
        };
        KeyRing::new(keys, &active)
    }

    pub fn active_id(&self) -> &str {
        &self.active
    }

    pub fn active(&self) -> (&str, &LessSafeKey) {
        (&self.active, &self.keys[&self.active])
    }

    pub fn get(&self, id: &str) -> Option<&LessSafeKey> {
        self.keys.get(id)
    }

    pub fn ids(&self) -> Vec<&str> {
        self.keys.keys().map(String::as_str).collect()
    }
}

/// Where a ring comes from, so it can be reloaded when the files change.
#[derive(Debug, Clone)]
pub enum KeySource {
    Dir {
        dir: PathBuf,
        active: Option<String>,
    },
    /// Fixed for the life of the process.
    Spec {
        spec: String,
        active: Option<String>,
    },
}

impl KeySource {
    pub fn load(&self) -> Result<KeyRing, CodecError> {
        match self {
            KeySource::Dir { dir, active } => KeyRing::from_dir(dir, active.as_deref()),
            KeySource::Spec { spec, active } => KeyRing::from_spec(spec, active.as_deref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn key_material_forms() {
        let raw: Vec<u8> = (0u8..32).collect();
        assert_eq!(parse_key_material(&raw).unwrap().to_vec(), raw);
        assert_eq!(parse_key_material(B64.as_bytes()).unwrap().to_vec(), raw);
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_key_material(format!("{hex}\n").as_bytes()).unwrap().to_vec(), raw);
        assert!(parse_key_material(b"c2hvcnQ=").unwrap_err().contains("decodes to 5 bytes"));
        assert!(parse_key_material(b"not a key!").unwrap_err().contains("openssl rand"));
    }

    #[test]
    fn directory_ring_with_active_file_and_errors_naming_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k1.key"), B64).unwrap();
        std::fs::write(dir.path().join("k2.key"), B64).unwrap();
        std::fs::write(dir.path().join("README"), "ignored").unwrap();
        let e = KeyRing::from_dir(dir.path(), None).unwrap_err().to_string();
        assert!(e.contains("no `active` file"), "{e}");
        assert_eq!(KeyRing::from_dir(dir.path(), Some("k1")).unwrap().active_id(), "k1");
        std::fs::write(dir.path().join(ACTIVE_FILE), "k2\n").unwrap();
        let ring = KeyRing::from_dir(dir.path(), Some("k1")).unwrap();
        assert_eq!((ring.active_id(), ring.ids()), ("k2", vec!["k1", "k2"]));
        std::fs::write(dir.path().join("bad.key"), "short").unwrap();
        let e = KeyRing::from_dir(dir.path(), None).unwrap_err().to_string();
        assert!(e.contains("bad.key: key is neither"), "{e}");
    }

    #[test]
    fn spec_ring() {
        let ring = KeyRing::from_spec(&format!("a={B64}, b={B64}"), Some("b")).unwrap();
        assert_eq!(ring.active_id(), "b");
        assert!(
            KeyRing::from_spec(&format!("a={B64}"), Some("c")).unwrap_err().to_string().contains("\"c\" is not in the key ring (known: a)")
        );
        assert!(KeyRing::from_spec("nonsense", None).unwrap_err().to_string().contains("entry 1 is not id=key"));
    }
}
