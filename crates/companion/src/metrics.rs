//! The companion's own gauges: what it saw, so a dashboard can tell "the worker stopped polling"
//! from "Temporal is unreachable".

use crate::health::{Poller, TaskType};
use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    pub ready: IntGauge,
    pub temporal_reachable: IntGauge,
    pub own_pollers: IntGaugeVec,
    pub pollers: IntGaugeVec,
    pub checks: IntCounterVec,
    pub worker_metrics_up: IntGauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("a valid metric name");
            registry.register(Box::new(g.clone())).expect("registered once");
            g
        };
        let by_type = |name: &str, help: &str| {
            let g = IntGaugeVec::new(Opts::new(name, help), &["task_type"]).expect("a valid metric name");
            registry.register(Box::new(g.clone())).expect("registered once");
            g
        };
        let checks = IntCounterVec::new(Opts::new("tk8s_companion_checks_total", "DescribeTaskQueue checks, by result"), &["result"])
            .expect("a valid metric name");
        registry.register(Box::new(checks.clone())).expect("registered once");
        Metrics {
            ready: gauge("tk8s_companion_ready", "1 while /readyz answers 200"),
            temporal_reachable: gauge("tk8s_companion_temporal_reachable", "1 when Temporal answered the last check"),
            own_pollers: by_type("tk8s_companion_own_pollers", "Pollers of this pod that polled within the freshness window"),
            pollers: by_type("tk8s_companion_pollers", "Pollers Temporal reports on the task queue, every pod's"),
            checks,
            worker_metrics_up: gauge("tk8s_companion_worker_metrics_up", "1 when the worker's own metrics answered the last relay"),
            registry,
        }
    }

    /// Update the gauges from one check.
    pub fn record(&self, pollers: Option<&[Poller]>, own_fresh: &[(TaskType, usize)], ready: bool) {
        self.ready.set(i64::from(ready));
        self.temporal_reachable.set(i64::from(pollers.is_some()));
        self.checks.with_label_values(&[if pollers.is_some() { "ok" } else { "failed" }]).inc();
        for t in [TaskType::Workflow, TaskType::Activity] {
            let name = if t == TaskType::Workflow { "workflow" } else { "activity" };
            let seen = pollers.map(|p| p.iter().filter(|p| p.task_type == t).count()).unwrap_or(0);
            self.pollers.with_label_values(&[name]).set(seen as i64);
            let own = own_fresh.iter().filter(|(tt, _)| *tt == t).map(|(_, n)| *n).sum::<usize>();
            self.own_pollers.with_label_values(&[name]).set(own as i64);
        }
    }

    pub fn render(&self) -> String {
        TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
