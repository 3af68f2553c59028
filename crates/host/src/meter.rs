//! A `CoreMeter` that forwards everything to the Prometheus meter and, on the way, watches the
//! few instruments that tell whether this worker is really polling. The SDK has no health API;
//! this is its one public seam for seeing poll outcomes as core records them.

use crate::health::Health;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use temporalio_common::telemetry::metrics::{
    CoreMeter, Counter, CounterBase, Gauge, GaugeBase, GaugeF64, Histogram, HistogramDuration, HistogramF64, MetricAttributable,
    MetricAttributes, MetricKeyValue, MetricParameters, NewAttributes, UpDownCounter,
};

/// What an observed instrument means for health.
#[derive(Debug, Clone, Copy)]
enum Signal {
    PollOk,
    /// Counts only when the `operation` label is a poll.
    RequestFailure,
    Pollers,
    SlotsUsed,
    SlotsAvailable,
}

fn signal_for(name: &str) -> Option<Signal> {
    match name.strip_prefix("temporal_").unwrap_or(name) {
        "workflow_task_queue_poll_succeed" | "workflow_task_queue_poll_empty" | "activity_poll_no_task" | "activity_task_received" => {
            Some(Signal::PollOk)
        }
        "long_request_failure" => Some(Signal::RequestFailure),
        "num_pollers" => Some(Signal::Pollers),
        "worker_task_slots_used" => Some(Signal::SlotsUsed),
        "worker_task_slots_available" => Some(Signal::SlotsAvailable),
        _ => None,
    }
}

fn label(attributes: &MetricAttributes, name: &str) -> Option<String> {
    match attributes {
        MetricAttributes::Prometheus { labels } => labels.as_prom_labels().get(name).cloned(),
        _ => None,
    }
}

fn is_poll(attributes: &MetricAttributes) -> bool {
    label(attributes, "operation").is_some_and(|op| op.starts_with("Poll"))
}

/// Derives `tk8s_worker_slot_utilization_ratio` from core's used/available slot gauges.
struct Slots {
    ratio: GaugeF64,
    meter: Arc<dyn CoreMeter>,
    by_type: Mutex<HashMap<String, (u64, u64)>>,
}

impl Slots {
    fn record(&self, attributes: &MetricAttributes, signal: Signal, value: u64) {
        let Some(worker_type) = label(attributes, "worker_type") else { return };
        let (used, available) = {
            let mut map = self.by_type.lock().unwrap_or_else(|e| e.into_inner());
            let entry = map.entry(worker_type.clone()).or_default();
            match signal {
                Signal::SlotsUsed => entry.0 = value,
                _ => entry.1 = value,
            }
            *entry
        };
        if used + available > 0 {
            let attrs = self.meter.new_attributes(NewAttributes { attributes: vec![MetricKeyValue::new("worker_type", worker_type)] });
            self.ratio.record(used as f64 / (used + available) as f64, &attrs);
        }
    }
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slots")
    }
}

#[derive(Debug)]
pub struct WatchingMeter {
    inner: Arc<dyn CoreMeter>,
    health: Arc<Health>,
    slots: Arc<Slots>,
}

impl WatchingMeter {
    pub fn new(inner: Arc<dyn CoreMeter>, health: Arc<Health>) -> Self {
        let ratio = inner.gauge_f64(
            MetricParameters::builder()
                .name("tk8s_worker_slot_utilization_ratio")
                .description("Fraction of this worker's task slots in use, by worker_type.")
                .build(),
        );
        let slots = Arc::new(Slots { ratio, meter: inner.clone(), by_type: Mutex::default() });
        Self { inner, health, slots }
    }

    fn watched<T>(&self, inner: T, signal: Signal) -> Arc<Watched<T>> {
        Arc::new(Watched { inner, signal, health: self.health.clone(), slots: self.slots.clone() })
    }
}

struct Watched<T> {
    inner: T,
    signal: Signal,
    health: Arc<Health>,
    slots: Arc<Slots>,
}

struct Bound<T> {
    inner: T,
    attributes: MetricAttributes,
    signal: Signal,
    health: Arc<Health>,
    slots: Arc<Slots>,
}

impl<T: Clone> Watched<T> {
    /// The instrument bound to one attribute set, still watched.
    fn bound(&self, attributes: &MetricAttributes) -> Bound<T> {
        Bound {
            inner: self.inner.clone(),
            attributes: attributes.clone(),
            signal: self.signal,
            health: self.health.clone(),
            slots: self.slots.clone(),
        }
    }
}

impl MetricAttributable<Box<dyn CounterBase>> for Watched<Counter> {
    fn with_attributes(&self, attributes: &MetricAttributes) -> Result<Box<dyn CounterBase>, Box<dyn std::error::Error>> {
        Ok(Box::new(self.bound(attributes)))
    }
}

impl CounterBase for Bound<Counter> {
    fn adds(&self, value: u64) {
        self.inner.add(value, &self.attributes);
        match self.signal {
            Signal::PollOk => self.health.record_poll_ok(),
            Signal::RequestFailure if is_poll(&self.attributes) => self.health.record_poll_failure(),
            _ => {}
        }
    }
}

impl MetricAttributable<Box<dyn GaugeBase>> for Watched<Gauge> {
    fn with_attributes(&self, attributes: &MetricAttributes) -> Result<Box<dyn GaugeBase>, Box<dyn std::error::Error>> {
        Ok(Box::new(self.bound(attributes)))
    }
}

impl GaugeBase for Bound<Gauge> {
    fn records(&self, value: u64) {
        self.inner.record(value, &self.attributes);
        match self.signal {
            Signal::Pollers if value > 0 => self.health.record_pollers_started(),
            Signal::SlotsUsed | Signal::SlotsAvailable => self.slots.record(&self.attributes, self.signal, value),
            _ => {}
        }
    }
}

impl CoreMeter for WatchingMeter {
    fn new_attributes(&self, attribs: NewAttributes) -> MetricAttributes {
        self.inner.new_attributes(attribs)
    }

    fn extend_attributes(&self, existing: MetricAttributes, attribs: NewAttributes) -> MetricAttributes {
        self.inner.extend_attributes(existing, attribs)
    }

    fn counter(&self, params: MetricParameters) -> Counter {
        let signal = signal_for(&params.name);
        let inner = self.inner.counter(params);
        match signal {
            Some(signal) => Counter::new(self.watched(inner, signal)),
            None => inner,
        }
    }

    fn histogram(&self, params: MetricParameters) -> Histogram {
        self.inner.histogram(params)
    }

    fn histogram_f64(&self, params: MetricParameters) -> HistogramF64 {
        self.inner.histogram_f64(params)
    }

    fn histogram_duration(&self, params: MetricParameters) -> HistogramDuration {
        self.inner.histogram_duration(params)
    }

    fn gauge(&self, params: MetricParameters) -> Gauge {
        let signal = signal_for(&params.name);
        let inner = self.inner.gauge(params);
        match signal {
            Some(signal @ (Signal::Pollers | Signal::SlotsUsed | Signal::SlotsAvailable)) => Gauge::new(self.watched(inner, signal)),
            _ => inner,
        }
    }

    fn gauge_f64(&self, params: MetricParameters) -> GaugeF64 {
        self.inner.gauge_f64(params)
    }

    fn up_down_counter(&self, params: MetricParameters) -> UpDownCounter {
        self.inner.up_down_counter(params)
    }
}
