//! The scaling rule: how many worker replicas a task queue needs, from what Temporal knows.
//!
//! ```text
//! task_s    = slots_used / dispatch_rate            how long a task holds a slot (Little's law)
//! running   = ceil(slots_used / slots_per_replica)  never fewer: work in flight
//! capacity  = ceil(max(slots_used, add_rate * task_s) / (slots_per_replica * target_util))
//!                                                   headroom for what runs and what arrives
//! backlog   = ceil(backlog / (dispatch_per_replica * drain_within))  surge to drain the queue,
//!                                                   each task type at its own measured rate
//! raw       = max(running, capacity + backlog), at least 1 while anything runs or waits
//! desired   = clamp(max(raw, highest steady need of the hold), min, max)
//! ```
//!
//! Up at once. Down: the *steady* need (what arrives, at the target utilization) must have been
//! lower for the hold before replicas go; a backlog's surge is held only for `surge_hold` (a
//! pod's start), so the replicas a burst called for leave once they are idle. The hold starts at a quarter of `scale_down_window` and doubles
//! (up to the window) each time a scale-down is followed by a scale-up within the window: a
//! load that comes back is held through, a single burst is not paid for minutes after. Zero only
//! with `min_replicas = 0`, after backlog, slots in use and open workflows have all been zero for
//! `zero_after`. Before there is a rate, each replica is taken to drain one slot-full of backlog.
//! Pure: the caller supplies the time, so the simulator and the tests drive it exactly; the
//! defaults are the ones the simulator's replay measured (README, "Replay").

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
    /// The replicas a backlog's surge called for are kept at least this long (a pod's start).
    pub surge_hold: Duration,
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
            surge_hold: s.surge_hold,
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
    /// The part of the capacity need that what arrives calls for: the steady need the
    /// scale-down hold keeps (what runs is kept anyway, a backlog's surge is not held).
    pub arrival_need: u32,
    pub backlog_need: u32,
    /// Tasks per second one replica dispatches (measured; 0 before there is a rate).
    pub dispatch_per_replica: f64,
}

/// The rule with the memory its window and its zero timer need.
#[derive(Debug, Clone)]
pub struct Rule {
    params: Params,
    /// Recent steady needs (seconds since start, need), for the scale-down hold.
    window: VecDeque<(f64, u32)>,
    /// When the queue was last seen busy (seconds), for the way to zero.
    last_busy_s: Option<f64>,
    /// How long a lower need must last now (seconds): starts at a quarter of the window,
    /// doubles when a scale-down is followed by a scale-up within the window (the load came
    /// back: hold longer), halves after a window without such a regret.
    hold_s: f64,
    /// The last fall of the held steady need not yet judged (seconds).
    last_down_s: Option<f64>,
    last_held: Option<u32>,
    /// Recent raw needs (seconds, need), for the surge hold.
    surges: VecDeque<(f64, u32)>,
}

/// The hold a lower need starts with, as a share of `scale_down_window`: short, so a single
/// burst's replicas go soon; it doubles each time the load comes back within the window.
const FIRST_HOLD_SHARE: f64 = 0.25;

fn ceil_div(a: f64, b: f64) -> u32 {
    if a <= 0.0 || b <= 0.0 { 0 } else { (a / b).ceil().min(f64::from(u32::MAX)) as u32 }
}

impl Rule {
    pub fn new(params: Params) -> Rule {
        let hold_s = Self::base_hold_s(&params);
        Rule { params, window: VecDeque::new(), last_busy_s: None, hold_s, last_down_s: None, last_held: None, surges: VecDeque::new() }
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    fn base_hold_s(p: &Params) -> f64 {
        p.scale_down_window.as_secs_f64() * FIRST_HOLD_SHARE
    }

    /// The raw need, before the window and bounds.
    pub fn need(&self, i: &Inputs) -> Decision {
        let p = &self.params;
        let slots = i.slots_per_replica.filter(|s| *s > 0).unwrap_or(p.slots_per_replica).max(1) as f64;
        let util = p.target_utilization.clamp(0.01, 1.0);
        let running_need = ceil_div(i.slots_used as f64, slots);
        // How long a task holds a slot (Little's law: slots in use over tasks started per
        // second), and so the slots what arrives now will hold; at the target utilization,
        // with what runs now when that is more.
        let rate = i.dispatch_rate + i.workflow_dispatch_rate;
        let task_s = if rate > 0.0 && i.slots_used > 0 { i.slots_used as f64 / rate } else { 0.0 };
        let arriving = i.add_rate * task_s;
        let arrival_need = ceil_div(arriving, slots * util);
        let capacity_need = ceil_div((i.slots_used as f64).max(arriving), slots * util);
        // The backlog drained within `drain_within`, each task type at the rate a replica that
        // takes work dispatches it now (with a backlog waiting, a replica is busy: that is what
        // it completes), so fast workflow tasks do not hide a slow activity backlog. Per
        // replica that polls (a replica still starting dispatches nothing); before there is a
        // rate, each replica takes one slot-full.
        let serving = if i.pollers > 0 { i.pollers as f64 } else { f64::from(i.current_replicas.max(1)) };
        let per_replica = |rate: f64| if rate > 0.0 { rate / serving } else { 0.0 };
        let dispatch_per_replica = per_replica(i.dispatch_rate);
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
        Decision { desired: raw, raw, running_need, capacity_need, arrival_need, backlog_need, dispatch_per_replica }
    }

    /// Decide at `now_s` (seconds on any monotonic clock).
    pub fn decide(&mut self, now_s: f64, inputs: &Inputs) -> Decision {
        let p = self.params.clone();
        let mut d = self.need(inputs);
        let busy = inputs.backlog > 0 || inputs.workflow_backlog > 0 || inputs.slots_used > 0 || inputs.running_workflows > 0;
        if busy || self.last_busy_s.is_none() {
            self.last_busy_s = Some(now_s);
        }
        // The hold keeps the steady need (what arrives, at the target utilization), not the
        // extra replicas a backlog called for nor the work a surge left running (never fewer
        // than what runs, below): once the backlog is drained and they are idle, they go.
        let steady = d.arrival_need;
        self.window.push_back((now_s, steady));
        let full = p.scale_down_window.as_secs_f64();
        while self.window.front().is_some_and(|(t, _)| *t < now_s - full) {
            self.window.pop_front();
        }
        let held = self.window.iter().filter(|(t, _)| *t >= now_s - self.hold_s).map(|(_, r)| *r).max().unwrap_or(steady);
        // A surge is kept for `surge_hold`, so no replica it asked for is removed while it
        // still starts (a pod that never served is churn).
        self.surges.push_back((now_s, d.raw));
        while self.surges.front().is_some_and(|(t, _)| *t < now_s - p.surge_hold.as_secs_f64()) {
            self.surges.pop_front();
        }
        let surge = self.surges.iter().map(|(_, r)| *r).max().unwrap_or(d.raw);
        let windowed = held.max(surge).max(d.raw);
        let mut desired = windowed.clamp(p.min_replicas.max(1), p.max_replicas.max(1));
        // Zero only when allowed, and only after a full idle period: never with work in flight.
        let idle_for = now_s - self.last_busy_s.unwrap_or(now_s);
        if p.min_replicas == 0 && !busy && windowed == 0 && idle_for >= p.zero_after.as_secs_f64() {
            desired = 0;
        }
        // Never below what runs now, whatever the bounds say.
        desired = desired.max(d.running_need.min(p.max_replicas.max(1)));
        // The hold learns from the steady need only (a backlog's surge comes and goes with
        // the backlog): it fell, then rose again within the window: the load came back.
        if let Some(last) = self.last_held {
            if held < last {
                self.last_down_s = Some(now_s);
            } else if held > last && self.last_down_s.is_some_and(|down| now_s - down <= full) {
                self.hold_s = (self.hold_s * 2.0).min(full);
                self.last_down_s = None;
                // The longer hold counts from now: needs from before the regret stay gone.
                self.window.retain(|(t, _)| *t >= now_s);
            }
        }
        if self.last_down_s.is_some_and(|down| now_s - down > full) {
            self.hold_s = (self.hold_s / 2.0).max(Self::base_hold_s(&p));
            self.last_down_s = None;
        }
        self.last_held = Some(held);
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
            surge_hold: Duration::ZERO,
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
    fn up_at_once_down_only_after_the_hold() {
        // The first hold is a quarter of the 60-s window.
        let mut rule = Rule::new(params());
        let arriving = |rate: f64| Inputs { slots_used: (rate * 2.0) as u64, dispatch_rate: rate, add_rate: rate, ..Default::default() };
        assert_eq!(rule.decide(0.0, &arriving(20.0)).desired, 8, "40 slots of 2-s tasks at 50 % of 10");
        // Load falls: the desired count holds, then follows.
        assert_eq!(rule.decide(10.0, &arriving(2.5)).desired, 8);
        assert_eq!(rule.decide(14.0, &arriving(2.5)).desired, 8);
        assert_eq!(rule.decide(16.0, &arriving(2.5)).desired, 1);
        // Up again at once.
        assert_eq!(rule.decide(17.0, &arriving(30.0)).desired, 12);
    }

    #[test]
    fn the_hold_is_short_after_one_burst_and_doubles_when_the_load_comes_back() {
        // Window 60 s: the first hold is 15 s. 20 tasks/s of 2 s at 50 % of 10 slots: 8.
        let mut rule = Rule::new(params());
        let busy = Inputs { slots_used: 40, dispatch_rate: 20.0, add_rate: 20.0, ..Default::default() };
        let quiet = Inputs { slots_used: 5, dispatch_rate: 2.5, add_rate: 2.5, ..Default::default() };
        assert_eq!(rule.decide(0.0, &busy).desired, 8);
        assert_eq!(rule.decide(14.0, &quiet).desired, 8, "within the first hold");
        assert_eq!(rule.decide(16.0, &quiet).desired, 1, "a quarter of the window later");
        // The load comes back within the window: the hold doubles to 30 s.
        assert_eq!(rule.decide(20.0, &busy).desired, 8);
        assert_eq!(rule.decide(45.0, &quiet).desired, 8, "25 s: inside the longer hold");
        assert_eq!(rule.decide(51.0, &quiet).desired, 1);
        // A window passes without the load coming back: the hold halves again.
        assert_eq!(rule.decide(200.0, &quiet).desired, 1);
        assert_eq!(rule.decide(201.0, &busy).desired, 8);
        assert_eq!(rule.decide(217.0, &quiet).desired, 1, "back to 15 s");
    }

    #[test]
    fn a_backlog_surge_is_not_held_once_the_backlog_is_drained() {
        let mut rule = Rule::new(params());
        // 10 slots busy on one replica at 5 tasks/s (2-s tasks), 300 waiting: drained within
        // 10 s at 5/s per replica needs 6 more.
        let surge = Inputs { slots_used: 10, dispatch_rate: 5.0, add_rate: 5.0, backlog: 300, pollers: 1, ..Default::default() };
        let d = rule.decide(0.0, &surge);
        assert_eq!((d.running_need, d.capacity_need, d.backlog_need, d.desired), (1, 2, 6, 8));
        // The backlog is gone and the work is done: the surge leaves at once, the steady need
        // (2) is held.
        let after = Inputs { slots_used: 2, dispatch_rate: 1.0, add_rate: 1.0, pollers: 8, ..Default::default() };
        assert_eq!(rule.decide(1.0, &after).desired, 2);
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
