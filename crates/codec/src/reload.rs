//! A codec built from configuration whose key ring follows the key directory: the host loop and
//! the codec server call [`Reloading::refresh`] periodically; a new, valid ring replaces the old
//! one, an invalid one is logged and ignored (the old keys keep working).

use crate::{Codec, CodecError, KeySource};
use std::sync::Arc;
use std::time::SystemTime;

pub struct Reloading {
    codec: Arc<Codec>,
    source: KeySource,
    stamp: Option<Vec<(String, SystemTime)>>,
}

impl Reloading {
    /// Load and check the keys now; an error here is a configuration error.
    pub fn from_config(config: &tk8s_config::Codec) -> Result<Reloading, CodecError> {
        let source = match &config.keys {
            tk8s_config::CodecKeys::Dir(dir) => KeySource::Dir { dir: dir.clone(), active: config.active_key.clone() },
            tk8s_config::CodecKeys::Inline(spec) => KeySource::Spec { spec: spec.expose().to_string(), active: config.active_key.clone() },
        };
        let stamp = source.stamp();
        let ring = source.load()?;
        tracing::info!(active_key = ring.active_id(), keys = ?ring.ids(), "payload encryption on");
        Ok(Reloading { codec: Codec::new(ring, config.compress_above), source, stamp })
    }

    pub fn codec(&self) -> Arc<Codec> {
        self.codec.clone()
    }

    /// Reload the ring if the key files changed.
    pub fn refresh(&mut self) {
        let stamp = self.source.stamp();
        if stamp == self.stamp {
            return;
        }
        self.stamp = stamp;
        match self.source.load() {
            Ok(ring) => {
                tracing::info!(active_key = ring.active_id(), keys = ?ring.ids(), "encryption keys reloaded");
                self.codec.replace_ring(ring);
            }
            Err(e) => tracing::warn!(error = %e, "encryption keys changed but do not load; keeping the previous ring"),
        }
    }
}
