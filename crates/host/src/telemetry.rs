//! Logs and metrics for the whole process, set up once: one tracing subscriber that the host,
//! the application and the SDK core all write to (JSON lines in containers, human text on a
//! terminal), and one Prometheus registry that holds the SDK's `temporal_*` metrics and our
//! `tk8s_*` metrics. The registry is the SDK's own; its exporter listens on an ephemeral
//! loopback port and the admin server relays it on the public `/metrics`.

use crate::HostError;
use crate::health::Health;
use crate::meter::WatchingMeter;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use temporalio_common::telemetry::metrics::{
    CoreMeter, Counter, Gauge, GaugeF64, MetricKeyValue, MetricParameters, NewAttributes, TemporalMeter,
};
use temporalio_common::telemetry::{PrometheusExporterOptions, TelemetryOptions, start_prometheus_metric_exporter, telemetry_init};
use tk8s_config::Config;
use tracing::Subscriber;

/// The metric instruments the host records itself.
pub struct HostMetrics {
    pub ready: Gauge,
    pub started: Counter,
    pub completed: Counter,
    pub failed: Counter,
    pub backlog: Gauge,
    pub backlog_age: GaugeF64,
    pub pollers: Gauge,
    pub client_cert_expiry: Gauge,
    meter: Arc<dyn CoreMeter>,
}

impl HostMetrics {
    /// Attributes for one label set.
    pub fn labels(&self, kvs: &[(&str, &str)]) -> temporalio_common::telemetry::metrics::MetricAttributes {
        self.meter.new_attributes(NewAttributes { attributes: kvs.iter().map(|(k, v)| MetricKeyValue::new(*k, v.to_string())).collect() })
    }
}

/// Everything telemetry hands to the rest of the host.
pub struct Telemetry {
    pub options: TelemetryOptions,
    pub client_meter: Option<TemporalMeter>,
    pub metrics: Arc<HostMetrics>,
    /// Loopback address of the SDK's Prometheus exporter, relayed by the admin server.
    pub exporter: SocketAddr,
}

fn param(name: &'static str, description: &'static str) -> MetricParameters {
    MetricParameters::builder().name(name).description(description).build()
}

pub fn init(
    config: &Config,
    role: &str,
    subscriber: Arc<dyn Subscriber + Send + Sync>,
    health: Arc<Health>,
) -> Result<Telemetry, HostError> {
    let exporter = start_prometheus_metric_exporter(
        PrometheusExporterOptions::builder()
            .socket_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
            .global_tags(HashMap::new())
            .counters_total_suffix(true)
            .unit_suffix(true)
            .use_seconds_for_durations(true)
            .build(),
    )
    .map_err(|e| HostError::startup("cannot start the metrics registry", e))?;
    let prometheus: Arc<dyn CoreMeter> = exporter.meter.clone();
    let watching: Arc<dyn CoreMeter> = Arc::new(WatchingMeter::new(prometheus.clone(), health));
    let options = TelemetryOptions::builder().metrics(watching).subscriber_override(subscriber).attach_service_name(false).build();
    let client_meter =
        telemetry_init(options.clone()).map_err(|e| HostError::startup("cannot initialise telemetry", e))?.get_temporal_metric_meter();

    let m = &prometheus;
    let build_info = m.gauge(param("tk8s_build_info", "Build information of the temporal-k8s host; always 1."));
    let labels = m.new_attributes(NewAttributes {
        attributes: vec![
            MetricKeyValue::new("version", env!("CARGO_PKG_VERSION")),
            MetricKeyValue::new("app", config.app_name.clone()),
            MetricKeyValue::new("role", role.to_string()),
        ],
    });
    build_info.record(1, &labels);
    let metrics = Arc::new(HostMetrics {
        ready: m.gauge(param("tk8s_ready", "1 when /readyz answers 200, else 0.")),
        started: m.counter(param("tk8s_orchestrator_workflows_started", "Workflows started by the orchestrator.")),
        completed: m.counter(param("tk8s_orchestrator_workflows_completed", "Started workflows that completed successfully.")),
        failed: m.counter(param(
            "tk8s_orchestrator_workflows_failed",
            "Started workflows that failed, timed out, or were cancelled or terminated.",
        )),
        backlog: m
            .gauge(param("tk8s_task_queue_backlog", "Approximate number of tasks waiting in the task queue (DescribeTaskQueue stats).")),
        backlog_age: m.gauge_f64(
            MetricParameters::builder()
                .name("tk8s_task_queue_backlog_age_seconds")
                .description("Age of the oldest task waiting in the task queue.")
                .build(),
        ),
        pollers: m.gauge(param("tk8s_task_queue_pollers", "Workers that polled the task queue recently.")),
        client_cert_expiry: m.gauge(param(
            "tk8s_client_certificate_expiry_timestamp_seconds",
            "When the client certificate presented to Temporal expires (notAfter), in seconds since the Unix epoch.",
        )),
        meter: prometheus.clone(),
    });
    Ok(Telemetry { options, client_meter, metrics, exporter: exporter.bound_addr })
}
