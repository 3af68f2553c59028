//! The host loop, beside the role: it ticks every second for `/livez`, applies rotated files
//! (client certificate, API key, codec keys), checks that Temporal answers every readiness check
//! interval (and only then), keeps the readiness and certificate-expiry gauges, and warns while
//! the client certificate is about to expire.

use crate::health::Health;
use crate::telemetry::HostMetrics;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use temporalio_client::Client;
use tk8s_config::Config;
use tk8s_connect::{Reloader, utc};
use tracing::{error, info, warn};

/// How often an expiring certificate is warned about again.
const EXPIRY_REMINDER: Duration = Duration::from_secs(3600);

pub struct HostLoop {
    pub client: Client,
    pub config: Config,
    pub health: Arc<Health>,
    pub metrics: Arc<HostMetrics>,
    pub reloader: Reloader,
    pub encryption: Option<tk8s_codec::Reloading>,
}

impl HostLoop {
    pub async fn run(mut self) {
        let interval = self.config.readiness_check_interval;
        let no_labels = self.metrics.labels(&[]);
        let mut last_ready = None;
        let mut last_check: Option<Instant> = None;
        let mut warned: Option<(i64, Instant)> = None;
        loop {
            self.health.tick();
            self.reloader.poll(self.client.connection());
            if let Some(e) = &self.encryption {
                e.refresh();
            }
            self.certificate_expiry(&mut warned);
            if last_check.is_none_or(|t| t.elapsed() >= interval) {
                last_check = Some(Instant::now());
                let result = tk8s_connect::check_namespace(&self.client, &self.config, interval).await.map_err(|e| e.to_string());
                self.health.record_check(result);
                let r = self.health.readiness();
                self.metrics.ready.record(u64::from(r.ready), &no_labels);
                if last_ready != Some(r.ready) {
                    if r.ready {
                        info!("ready");
                    } else {
                        warn!(reasons = ?r.reasons, "not ready");
                    }
                    last_ready = Some(r.ready);
                }
            }
            let until_check = last_check.map(|t| interval.saturating_sub(t.elapsed())).unwrap_or_default();
            tokio::time::sleep(until_check.clamp(Duration::from_millis(50), Duration::from_secs(1))).await;
        }
    }

    /// Export the client certificate's expiry and warn while it is close (again after a reload
    /// or an hour).
    fn certificate_expiry(&self, warned: &mut Option<(i64, Instant)>) {
        let Some((path, not_after)) = self.reloader.client_cert_expiry() else { return };
        self.metrics.client_cert_expiry.record(u64::try_from(not_after).unwrap_or(0), &self.metrics.labels(&[]));
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let left = not_after - now;
        if left > self.config.temporal.cert_expiry_warning.as_secs() as i64 {
            return;
        }
        let due = warned.is_none_or(|(seen, at)| seen != not_after || at.elapsed() >= EXPIRY_REMINDER);
        if !due {
            return;
        }
        *warned = Some((not_after, Instant::now()));
        let (cert, expires) = (path.display().to_string(), utc(not_after));
        if left <= 0 {
            error!(cert, not_after = %expires, "client certificate has expired: new connections to Temporal will fail; mount a renewed one");
        } else {
            warn!(cert, not_after = %expires, expires_in_s = left,
                  "client certificate expires soon: check that it is being renewed (e.g. by cert-manager)");
        }
    }
}
