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
    scaler: ScalerGauges,
    meter: Arc<dyn CoreMeter>,
}

/// The scaler's decision and each of its inputs.
struct ScalerGauges {
    desired: Gauge,
    raw: Gauge,
    need: Gauge,
    backlog: Gauge,
    backlog_age: GaugeF64,
    dispatch_rate: GaugeF64,
    add_rate: GaugeF64,
    pollers: Gauge,
    slots_used: Gauge,
    slots_per_replica: Gauge,
    open_workflows: Gauge,
    replicas: Gauge,
}

impl HostMetrics {
    /// Record a scaling decision and its inputs.
    pub fn record_scaler(
        &self,
        labels: &temporalio_common::telemetry::metrics::MetricAttributes,
        i: &tk8s_scaler::Inputs,
        d: &tk8s_scaler::Decision,
    ) {
        let s = &self.scaler;
        s.desired.record(u64::from(d.desired), labels);
        s.raw.record(u64::from(d.raw), labels);
        for (term, value) in [("running", d.running_need), ("capacity", d.capacity_need), ("backlog", d.backlog_need)] {
            let with_term =
                self.meter.extend_attributes(labels.clone(), NewAttributes { attributes: vec![MetricKeyValue::new("term", term)] });
            s.need.record(u64::from(value), &with_term);
        }
        s.backlog.record(i.backlog + i.workflow_backlog, labels);
        s.backlog_age.record(i.backlog_age_s, labels);
        s.dispatch_rate.record(i.dispatch_rate + i.workflow_dispatch_rate, labels);
        s.add_rate.record(i.add_rate, labels);
        s.pollers.record(i.pollers, labels);
        s.slots_used.record(i.slots_used, labels);
        s.slots_per_replica.record(i.slots_per_replica.unwrap_or(0), labels);
        s.open_workflows.record(i.running_workflows, labels);
        s.replicas.record(u64::from(i.current_replicas), labels);
    }

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
        scaler: ScalerGauges {
            desired: m.gauge(param(
                "tk8s_desired_worker_replicas",
                "Worker replicas the task queue needs now (the scaler's decision, after its window and bounds).",
            )),
            raw: m.gauge(param("tk8s_scaler_raw_replicas", "Worker replicas needed before the scale-down window and the bounds.")),
            need: m.gauge(param(
                "tk8s_scaler_need_replicas",
                "Each term of the need: running (work in flight), capacity (at the target utilization), backlog (to drain in time).",
            )),
            backlog: m.gauge(param("tk8s_scaler_backlog", "Tasks waiting in the task queue (workflow and activity).")),
            backlog_age: m.gauge_f64(
                MetricParameters::builder().name("tk8s_scaler_backlog_age_seconds").description("Age of the oldest waiting task.").build(),
            ),
            dispatch_rate: m.gauge_f64(param("tk8s_scaler_dispatch_rate", "Tasks handed to workers per second.")),
            add_rate: m.gauge_f64(param("tk8s_scaler_add_rate", "Tasks added to the task queue per second.")),
            pollers: m.gauge(param("tk8s_scaler_pollers", "Workers polling the task queue.")),
            slots_used: m.gauge(param(
                "tk8s_scaler_slots_used",
                "Activity slots in use across the workers (their /metrics, else their heartbeats).",
            )),
            slots_per_replica: m.gauge(param(
                "tk8s_scaler_slots_per_replica",
                "Activity slots one worker replica offers (its /metrics or heartbeat; 0 when unknown).",
            )),
            open_workflows: m.gauge(param("tk8s_scaler_open_workflows", "Workflows still open on the task queue.")),
            replicas: m.gauge(param("tk8s_scaler_current_replicas", "Worker replicas up now (heartbeating or polling).")),
        },
        meter: prometheus.clone(),
    });
    Ok(Telemetry { options, client_meter, metrics, exporter: exporter.bound_addr })
}
