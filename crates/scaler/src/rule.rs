//! The scaling rule: how many worker replicas a task queue needs, from what Temporal knows.
//!
//! ```text
//! running   = ceil(slots_used / slots_per_replica)                 never fewer: work in flight
//! capacity  = ceil(slots_used / (slots_per_replica * target_util))  headroom for what runs
//! backlog   = ceil(backlog / (dispatch_per_replica * drain_within)) drain the queue in time
//! raw       = max(running, capacity + backlog), at least 1 while anything runs or waits
//! desired   = clamp(raw, min, max); up at once, down to the highest raw of the window;
//!             0 only with min = 0, after backlog, slots in use and running workflows have
//!             all been zero for `zero_after`
//! ```
//!
//! `dispatch_per_replica` is measured (the task queue's dispatch rate over the replicas that
//! poll it); before there is a rate, each replica is taken to drain one slot-full of backlog.
//! Pure: the caller supplies the time, so the simulator and the tests drive it exactly.

use std::collections::VecDeque;
use std::time::Duration;

/// The rule's parameters (settings `scaler.*`, documented in the README).
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Share of a replica's slots the rule aims to keep busy (0-1].
    pub target_utilization: f64,
    /// Drain the backlog within this time at the measured dispatch rate.
    pub drain_within: Duration,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// A lower desired count takes effect only once it has been the highest for this long.
    pub scale_down_window: Duration,
    /// With `min_replicas = 0`: how long the queue must be idle (no backlog, nothing running,
    /// no open workflows) before going to zero.
    pub zero_after: Duration,
    /// Task slots per replica when the workers do not report theirs.
    pub slots_per_replica: u64,
}

impl From<&tk8s_config::Scaler> for Params {
    fn from(s: &tk8s_config::Scaler) -> Self {
        Params {
            target_utilization: s.target_utilization,
            drain_within: s.drain_within,
            min_replicas: s.min_replicas,
            max_replicas: s.max_replicas,
            scale_down_window: s.scale_down_window,
            zero_after: s.zero_after,
            slots_per_replica: s.slots_per_replica,
        }
    }
}

/// The settings table's defaults (`scaler.*`), never restated here.
impl Default for Params {
    fn default() -> Self {
        Params::from(&tk8s_config::Scaler::defaults())
    }
}

/// What Temporal says about the task queue now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Inputs {
    /// Activity tasks waiting.
    pub backlog: u64,
    /// Age of the oldest waiting task (either type).
    pub backlog_age_s: f64,
    /// Activity tasks handed to workers per second.
    pub dispatch_rate: f64,
    /// Workflow tasks waiting.
    pub workflow_backlog: u64,
    /// Workflow tasks handed to workers per second.
    pub workflow_dispatch_rate: f64,
    /// Tasks added per second (both types).
    pub add_rate: f64,
    /// Workers polling now.
    pub pollers: u64,
    /// Task slots in use across the workers (activities and workflow tasks).
    pub slots_used: u64,
    /// Slots one replica offers, when the workers report it.
    pub slots_per_replica: Option<u64>,
    /// Workflows open on the task queue.
    pub running_workflows: u64,
    /// Replicas now (the pollers' distinct workers, or what the autoscaler last set).
    pub current_replicas: u32,
}

/// One decision and the terms behind it (exported as gauges).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Decision {
    pub desired: u32,
    /// Before the window and bounds.
    pub raw: u32,
    pub running_need: u32,
    pub capacity_need: u32,
    pub backlog_need: u32,
    /// Tasks per second one replica dispatches (measured; 0 before there is a rate).
    pub dispatch_per_replica: f64,
}

/// The rule with the memory its window and its zero timer need.
#[derive(Debug, Clone)]
pub struct Rule {
    params: Params,
    /// Recent raw decisions (seconds since start, raw), for the scale-down window.
    window: VecDeque<(f64, u32)>,
    /// When the queue was last seen busy (seconds), for the way to zero.
    last_busy_s: Option<f64>,
    last_desired: Option<u32>,
}

fn ceil_div(a: f64, b: f64) -> u32 {
    if a <= 0.0 || b <= 0.0 { 0 } else { (a / b).ceil().min(f64::from(u32::MAX)) as u32 }
}

impl Rule {
    pub fn new(params: Params) -> Rule {
        Rule { params, window: VecDeque::new(), last_busy_s: None, last_desired: None }
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The raw need, before the window and bounds.
    pub fn need(&self, i: &Inputs) -> Decision {
        let p = &self.params;
        let slots = i.slots_per_replica.filter(|s| *s > 0).unwrap_or(p.slots_per_replica).max(1) as f64;
        let running_need = ceil_div(i.slots_used as f64, slots);
        let capacity_need = ceil_div(i.slots_used as f64, slots * p.target_utilization.clamp(0.01, 1.0));
        // Per replica that takes work now: the pollers (a replica still starting dispatches
        // nothing, and counting it would make the rate look lower and the need grow).
        let serving = if i.pollers > 0 { i.pollers as f64 } else { f64::from(i.current_replicas.max(1)) };
        let per_replica = |rate: f64| if rate > 0.0 { rate / serving } else { 0.0 };
        let dispatch_per_replica = per_replica(i.dispatch_rate);
        // Each task type drains at its own measured rate (workflow tasks are quick; a slow
        // activity backlog must not hide behind their rate).
        let drain = |backlog: u64, rate_per_replica: f64| {
            if backlog == 0 {
                0
            } else if rate_per_replica > 0.0 {
                ceil_div(backlog as f64, rate_per_replica * p.drain_within.as_secs_f64().max(1.0))
            } else {
                ceil_div(backlog as f64, slots)
            }
        };
        let backlog_need =
            drain(i.backlog, dispatch_per_replica).saturating_add(drain(i.workflow_backlog, per_replica(i.workflow_dispatch_rate)));
        let mut raw = running_need.max(capacity_need.saturating_add(backlog_need));
        if raw == 0 && (i.backlog > 0 || i.workflow_backlog > 0 || i.running_workflows > 0) {
            raw = 1;
        }
        Decision { desired: raw, raw, running_need, capacity_need, backlog_need, dispatch_per_replica }
    }

    /// Decide at `now_s` (seconds on any monotonic clock).
    pub fn decide(&mut self, now_s: f64, inputs: &Inputs) -> Decision {
        let p = self.params.clone();
        let mut d = self.need(inputs);
        let busy = inputs.backlog > 0 || inputs.workflow_backlog > 0 || inputs.slots_used > 0 || inputs.running_workflows > 0;
        if busy || self.last_busy_s.is_none() {
            self.last_busy_s = Some(now_s);
        }
        self.window.push_back((now_s, d.raw));
        let horizon = now_s - p.scale_down_window.as_secs_f64();
        while self.window.front().is_some_and(|(t, _)| *t < horizon) {
            self.window.pop_front();
        }
        // Up at once; down only to the highest need seen within the window.
        let windowed = self.window.iter().map(|(_, r)| *r).max().unwrap_or(d.raw);
        let mut desired = windowed.clamp(p.min_replicas.max(1), p.max_replicas.max(1));
        // Zero only when allowed, and only after a full idle period: never with work in flight.
        let idle_for = now_s - self.last_busy_s.unwrap_or(now_s);
        if p.min_replicas == 0 && !busy && windowed == 0 && idle_for >= p.zero_after.as_secs_f64() {
            desired = 0;
        }
        // Never below what runs now, whatever the bounds say.
        desired = desired.max(d.running_need.min(p.max_replicas.max(1)));
        self.last_desired = Some(desired);
        d.desired = desired;
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            target_utilization: 0.5,
            drain_within: Duration::from_secs(10),
            min_replicas: 1,
            max_replicas: 20,
            scale_down_window: Duration::from_secs(60),
            zero_after: Duration::from_secs(120),
            slots_per_replica: 10,
        }
    }

    #[test]
    fn slots_in_use_at_the_target_utilization_plus_the_backlog_to_drain() {
        let rule = Rule::new(params());
        // 12 slots busy of 10 per replica at 50 %: 3 replicas; 100 waiting at 2 tasks/s per
        // replica (8/s over the 4 that poll; 2 more still start) drained in 10 s: 5 more.
        let i = Inputs { slots_used: 12, backlog: 100, dispatch_rate: 8.0, pollers: 4, current_replicas: 6, ..Default::default() };
        let d = rule.need(&i);
        assert_eq!((d.running_need, d.capacity_need, d.backlog_need, d.raw), (2, 3, 5, 8));
        assert_eq!(d.dispatch_per_replica, 2.0);
        // Without a measured rate, one slot-full per replica.
        let d = rule.need(&Inputs { backlog: 35, ..Default::default() });
        assert_eq!(d.backlog_need, 4);
        // Each task type at its own rate: fast workflow tasks do not hide slow activities.
        let d = rule.need(&Inputs {
            backlog: 40,
            dispatch_rate: 2.0,
            workflow_backlog: 5,
            workflow_dispatch_rate: 50.0,
            pollers: 1,
            ..Default::default()
        });
        assert_eq!(d.backlog_need, 2 + 1, "40 activities at 2/s in 10 s: 2; 5 workflow tasks at 50/s: 1");
        // Reported slots win over the configured fallback.
        assert_eq!(rule.need(&Inputs { slots_used: 40, slots_per_replica: Some(100), ..Default::default() }).capacity_need, 1);
    }

    #[test]
    fn never_fewer_than_running_work_needs_even_above_max() {
        let mut rule = Rule::new(Params { max_replicas: 3, ..params() });
        let d = rule.decide(0.0, &Inputs { slots_used: 25, ..Default::default() });
        assert_eq!(d.running_need, 3);
        assert_eq!(d.desired, 3, "bounded by max, but at least what runs (3)");
        let mut rule = Rule::new(Params { max_replicas: 2, ..params() });
        assert_eq!(
            rule.decide(0.0, &Inputs { slots_used: 25, ..Default::default() }).desired,
            2,
            "max is a hard cap on what the cluster allows"
        );
    }

    #[test]
    fn up_at_once_down_only_after_the_window() {
        let mut rule = Rule::new(params());
        assert_eq!(rule.decide(0.0, &Inputs { slots_used: 40, ..Default::default() }).desired, 8);
        // Load falls: the desired count holds for the window, then follows.
        assert_eq!(rule.decide(30.0, &Inputs { slots_used: 5, ..Default::default() }).desired, 8);
        assert_eq!(rule.decide(59.0, &Inputs { slots_used: 5, ..Default::default() }).desired, 8);
        assert_eq!(rule.decide(61.0, &Inputs { slots_used: 5, ..Default::default() }).desired, 1);
        // Up again at once.
        assert_eq!(rule.decide(62.0, &Inputs { slots_used: 60, ..Default::default() }).desired, 12);
    }

    #[test]
    fn zero_only_when_allowed_and_idle_for_the_whole_period() {
        let p = Params { min_replicas: 0, ..params() };
        let mut rule = Rule::new(p.clone());
        let idle = Inputs::default();
        assert_eq!(rule.decide(0.0, &Inputs { running_workflows: 1, ..Default::default() }).desired, 1, "an open workflow keeps a worker");
        assert_eq!(rule.decide(100.0, &idle).desired, 1, "idle for 100 s of 120");
        assert_eq!(rule.decide(121.0, &idle).desired, 0);
        assert_eq!(rule.decide(122.0, &Inputs { backlog: 1, ..Default::default() }).desired, 1, "back from zero at once");
        // With min 1 it never goes to zero.
        let mut rule = Rule::new(params());
        assert_eq!(rule.decide(1000.0, &idle).desired, 1);
    }
}
