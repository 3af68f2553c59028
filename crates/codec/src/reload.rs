//! A codec built from configuration whose key ring follows the key directory: the host loop and
//! the codec server call [`Reloading::refresh`] periodically; a new, valid ring replaces the old
//! one, an invalid one is logged and ignored (the old keys keep working).

use crate::{Codec, CodecError, KeyRing, KeySource};
use std::sync::Arc;
use std::time::Duration;
use tk8s_config::watched::{Refresh, Watch, Watched};

pub struct Reloading {
    codec: Arc<Codec>,
    /// `None` for inline keys, which are fixed for the life of the process.
    watched: Option<Watched<KeyRing, CodecError>>,
}

impl Reloading {
    /// Load and check the keys now; an error here is a configuration error.
    pub fn from_config(config: &tk8s_config::Codec) -> Result<Reloading, CodecError> {
        let active = config.active_key.clone();
        let (codec, watched) = match &config.keys {
            tk8s_config::CodecKeys::Dir(dir) => {
                let source = KeySource::Dir { dir: dir.clone(), active };
                let watched = Watched::new(Watch::Dir(dir.clone()), Duration::ZERO, move || source.load())?;
                (Codec::from_shared(watched.get(), config.compress_above), Some(watched))
            }
            tk8s_config::CodecKeys::Inline(spec) => {
                let ring = KeySource::Spec { spec: spec.expose().to_string(), active }.load()?;
                (Codec::new(ring, config.compress_above), None)
            }
        };
        let ring = codec.ring();
        tracing::info!(active_key = ring.active_id(), keys = ?ring.ids(), "payload encryption on");
        Ok(Reloading { codec, watched })
    }

    pub fn codec(&self) -> Arc<Codec> {
        self.codec.clone()
    }

    /// Reload the ring if the key files changed.
    pub fn refresh(&self) {
        let Some(watched) = &self.watched else { return };
        match watched.refresh() {
            Refresh::Unchanged => {}
            Refresh::Reloaded => {
                let ring = watched.get();
                tracing::info!(active_key = ring.active_id(), keys = ?ring.ids(), "encryption keys reloaded");
                self.codec.replace_ring(ring);
            }
            Refresh::Failed(e) => tracing::warn!(error = %e, "encryption keys changed but do not load; keeping the previous ring"),
        }
    }
}
