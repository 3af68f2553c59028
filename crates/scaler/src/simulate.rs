//! A deterministic simulator of a worker pool, to compare scaling rules on the same load:
//! replicas with a number of task slots each, a start-up delay before a new replica takes
//! work, tasks with durations arriving per a trace, and scale-downs that drain (a replica
//! being removed takes no new task and finishes what it runs within the grace period; what is
//! still running after it is killed and retried). One step is one second.
//!
//! The rules compared: ours ([`crate::rule`]), KEDA's `temporal` trigger (backlog only:
//! `ceil(backlog / target)`, 5-minute HPA scale-down window, scale to zero after the cooldown
//! once the backlog is empty), and an HPA on CPU (busy slots as CPU, 80 % target, 5-minute
//! scale-down window).

use crate::rule::{Inputs, Params, Rule};
use std::collections::VecDeque;
use std::time::Duration;

/// Tasks arriving in one second: how many, and how long each runs (seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    pub tasks: u32,
    pub duration_s: u32,
}

/// A named load, one entry per second.
#[derive(Debug, Clone)]
pub struct Trace {
    pub name: &'static str,
    pub seconds: Vec<Arrival>,
}

fn repeat(n: usize, a: Arrival) -> Vec<Arrival> {
    vec![a; n]
}

const IDLE: Arrival = Arrival { tasks: 0, duration_s: 1 };

/// The traces every rule is run over.
pub fn traces() -> Vec<Trace> {
    let short = |tasks| Arrival { tasks, duration_s: 2 };
    vec![
        Trace { name: "burst", seconds: [repeat(60, IDLE), repeat(30, short(40)), repeat(1110, IDLE)].concat() },
        Trace { name: "ramp", seconds: [(0..600).map(|s| short(s / 30)).collect::<Vec<_>>(), repeat(600, IDLE)].concat() },
        Trace { name: "steady", seconds: [repeat(900, short(6)), repeat(300, IDLE)].concat() },
        Trace {
            name: "long-activities",
            // 30 activities of 15 minutes start at once, then nothing arrives: the queue is empty
            // while the work runs.
            seconds: [vec![Arrival { tasks: 30, duration_s: 900 }], repeat(1499, IDLE)].concat(),
        },
        Trace { name: "oscillating", seconds: (0..1200).map(|s| if (s / 120) % 2 == 0 { short(12) } else { IDLE }).collect() },
    ]
}

/// A rule as the simulator drives it: current state in, replicas wanted out.
pub trait Scaler {
    fn name(&self) -> &'static str;
    fn desired(&mut self, now_s: f64, inputs: &Inputs) -> u32;
}

pub struct Ours(pub Rule);

impl Scaler for Ours {
    fn name(&self) -> &'static str {
        "tk8s"
    }
    fn desired(&mut self, now_s: f64, inputs: &Inputs) -> u32 {
        self.0.decide(now_s, inputs).desired
    }
}

/// A Kubernetes HPA's scale-down stabilization: the highest recommendation of the window.
struct Stabilizer {
    window_s: f64,
    history: VecDeque<(f64, u32)>,
}

impl Stabilizer {
    fn new(window_s: f64) -> Stabilizer {
        Stabilizer { window_s, history: VecDeque::new() }
    }
    fn apply(&mut self, now_s: f64, recommendation: u32) -> u32 {
        self.history.push_back((now_s, recommendation));
        while self.history.front().is_some_and(|(t, _)| *t < now_s - self.window_s) {
            self.history.pop_front();
        }
        self.history.iter().map(|(_, r)| *r).max().unwrap_or(recommendation)
    }
}

/// KEDA's `temporal` trigger: backlog only (`targetQueueSize`), the HPA's window for scaling
/// down, and zero after `cooldownPeriod` of an empty backlog when `minReplicaCount` is 0.
pub struct KedaBacklog {
    pub target_queue_size: u64,
    pub min: u32,
    pub max: u32,
    pub cooldown_s: f64,
    stabilizer: Stabilizer,
    last_active_s: f64,
}

impl KedaBacklog {
    pub fn new(target_queue_size: u64, min: u32, max: u32) -> KedaBacklog {
        KedaBacklog { target_queue_size, min, max, cooldown_s: 300.0, stabilizer: Stabilizer::new(300.0), last_active_s: 0.0 }
    }
}

impl Scaler for KedaBacklog {
    fn name(&self) -> &'static str {
        "keda-backlog"
    }
    fn desired(&mut self, now_s: f64, i: &Inputs) -> u32 {
        if i.backlog > 0 {
            self.last_active_s = now_s;
        }
        if self.min == 0 && i.backlog == 0 && now_s - self.last_active_s >= self.cooldown_s {
            self.stabilizer.history.clear();
            return 0;
        }
        let rec = (i.backlog.div_ceil(self.target_queue_size.max(1)) as u32).clamp(self.min.max(1), self.max);
        self.stabilizer.apply(now_s, rec)
    }
}

/// An HPA on CPU: busy slots stand for CPU; `ceil(current * utilization / target)`.
pub struct CpuHpa {
    pub target: f64,
    pub min: u32,
    pub max: u32,
    pub slots_per_replica: u64,
    stabilizer: Stabilizer,
}

impl CpuHpa {
    pub fn new(min: u32, max: u32, slots_per_replica: u64) -> CpuHpa {
        CpuHpa { target: 0.8, min, max, slots_per_replica, stabilizer: Stabilizer::new(300.0) }
    }
}

impl Scaler for CpuHpa {
    fn name(&self) -> &'static str {
        "cpu-hpa"
    }
    fn desired(&mut self, now_s: f64, i: &Inputs) -> u32 {
        let current = i.current_replicas.max(1);
        let utilization = i.slots_used as f64 / (f64::from(current) * self.slots_per_replica as f64);
        // The HPA's 10 % tolerance.
        let rec = if (utilization / self.target - 1.0).abs() <= 0.1 {
            current
        } else {
            (f64::from(current) * utilization / self.target).ceil() as u32
        };
        self.stabilizer.apply(now_s, rec.clamp(self.min.max(1), self.max))
    }
}

/// The pool being simulated.
#[derive(Debug, Clone)]
pub struct Pool {
    pub slots_per_replica: u32,
    pub startup_s: u32,
    pub grace_s: u32,
}

#[derive(Debug, Clone)]
struct Replica {
    ready_at: u32,
    /// Remaining seconds of each running task.
    running: Vec<u32>,
    /// Being removed since this second (takes no new work).
    draining_since: Option<u32>,
}

/// What one rule did on one trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub rule: &'static str,
    pub trace: &'static str,
    /// Seconds from the last arrival until the backlog and the running work are gone.
    pub time_to_drain_s: u32,
    /// 95th percentile of the time tasks waited for a slot.
    pub schedule_to_start_p95_s: u32,
    /// Replica-minutes paid for (replicas starting or draining included).
    pub replica_minutes: f64,
    pub scale_events: u32,
    /// Scale-downs that removed a replica with work still running.
    pub scale_downs_with_work_in_flight: u32,
    /// Tasks killed because a draining replica's grace ran out.
    pub tasks_killed: u32,
    /// Replicas (serving, starting or draining) at each second.
    pub replicas: Vec<u32>,
}

/// Run `scaler` over `trace` with a pool that starts with `initial` replicas.
pub fn run(trace: &Trace, pool: &Pool, scaler: &mut dyn Scaler, initial: u32) -> Outcome {
    let mut replicas: Vec<Replica> = (0..initial).map(|_| Replica { ready_at: 0, running: Vec::new(), draining_since: None }).collect();
    // Waiting tasks: (arrived at, duration).
    let mut queue: VecDeque<(u32, u32)> = VecDeque::new();
    let (mut waits, mut events, mut hits, mut killed, mut replica_seconds) = (Vec::new(), 0u32, 0u32, 0u32, 0u64);
    let mut series = Vec::new();
    let mut dispatched_last = 0u32;
    let last_arrival = trace.seconds.iter().rposition(|a| a.tasks > 0).unwrap_or(0) as u32;
    let mut drained_at = None;
    let mut target = initial;
    for now in 0..trace.seconds.len() as u32 {
        let arrival = trace.seconds[now as usize];
        for _ in 0..arrival.tasks {
            queue.push_back((now, arrival.duration_s));
        }
        // Running tasks progress; draining replicas that are empty, or past their grace, leave.
        for r in &mut replicas {
            r.running.retain_mut(|left| {
                *left = left.saturating_sub(1);
                *left > 0
            });
        }
        replicas.retain_mut(|r| match r.draining_since {
            Some(since) if r.running.is_empty() => {
                let _ = since;
                false
            }
            Some(since) if now - since >= pool.grace_s => {
                killed += r.running.len() as u32;
                for left in r.running.drain(..) {
                    queue.push_front((now, left.max(1)));
                }
                false
            }
            _ => true,
        });
        // Dispatch to ready, non-draining replicas with free slots, oldest task first.
        let mut dispatched = 0;
        for r in replicas.iter_mut().filter(|r| r.ready_at <= now && r.draining_since.is_none()) {
            while r.running.len() < pool.slots_per_replica as usize {
                let Some((arrived, duration)) = queue.pop_front() else { break };
                waits.push(now - arrived);
                r.running.push(duration);
                dispatched += 1;
            }
        }
        let serving: Vec<&Replica> = replicas.iter().filter(|r| r.draining_since.is_none()).collect();
        let inputs = Inputs {
            backlog: queue.len() as u64,
            backlog_age_s: queue.front().map(|(t, _)| f64::from(now - t)).unwrap_or(0.0),
            dispatch_rate: f64::from(dispatched_last.max(dispatched)),
            add_rate: f64::from(arrival.tasks),
            pollers: serving.iter().filter(|r| r.ready_at <= now).count() as u64,
            slots_used: replicas.iter().map(|r| r.running.len() as u64).sum(),
            slots_per_replica: Some(u64::from(pool.slots_per_replica)),
            running_workflows: (queue.len() + replicas.iter().map(|r| r.running.len()).sum::<usize>()) as u64,
            current_replicas: serving.len() as u32,
            ..Default::default()
        };
        dispatched_last = dispatched;
        let wanted = scaler.desired(f64::from(now), &inputs);
        if wanted != target {
            events += 1;
            target = wanted;
        }
        let serving_now = replicas.iter().filter(|r| r.draining_since.is_none()).count() as u32;
        if target > serving_now {
            for _ in serving_now..target {
                replicas.push(Replica { ready_at: now + pool.startup_s, running: Vec::new(), draining_since: None });
            }
        } else if target < serving_now {
            // Kubernetes picks pods to remove; prefer the not-yet-ready and the least busy.
            let mut order: Vec<usize> = (0..replicas.len()).filter(|i| replicas[*i].draining_since.is_none()).collect();
            order.sort_by_key(|i| (replicas[*i].ready_at <= now, replicas[*i].running.len()));
            for i in order.into_iter().take((serving_now - target) as usize) {
                if !replicas[i].running.is_empty() {
                    hits += 1;
                }
                replicas[i].draining_since = Some(now);
            }
        }
        replica_seconds += replicas.len() as u64;
        series.push(replicas.len() as u32);
        let idle = queue.is_empty() && replicas.iter().all(|r| r.running.is_empty());
        if now >= last_arrival && idle && drained_at.is_none() {
            drained_at = Some(now);
        }
    }
    waits.sort_unstable();
    let p95 = waits.get(((waits.len() as f64 * 0.95) as usize).min(waits.len().saturating_sub(1))).copied().unwrap_or(0);
    Outcome {
        rule: scaler.name(),
        trace: trace.name,
        time_to_drain_s: drained_at.map(|d| d - last_arrival).unwrap_or(u32::MAX),
        schedule_to_start_p95_s: p95,
        replica_minutes: replica_seconds as f64 / 60.0,
        scale_events: events,
        scale_downs_with_work_in_flight: hits,
        tasks_killed: killed,
        replicas: series,
    }
}

/// The three rules with comparable settings: scale to zero allowed, up to `max` replicas.
pub fn rules(pool: &Pool, max: u32) -> Vec<Box<dyn Scaler>> {
    let params = Params {
        target_utilization: 0.7,
        drain_within: Duration::from_secs(60),
        min_replicas: 0,
        max_replicas: max,
        scale_down_window: Duration::from_secs(300),
        zero_after: Duration::from_secs(300),
        slots_per_replica: u64::from(pool.slots_per_replica),
    };
    vec![
        Box::new(Ours(Rule::new(params))),
        Box::new(KedaBacklog::new(u64::from(pool.slots_per_replica), 0, max)),
        Box::new(CpuHpa::new(1, max, u64::from(pool.slots_per_replica))),
    ]
}

/// The pool the README's replay table uses.
pub fn default_pool() -> Pool {
    Pool { slots_per_replica: 10, startup_s: 20, grace_s: 30 }
}

/// Every rule over every trace.
pub fn replay(pool: &Pool, max: u32) -> Vec<Outcome> {
    let mut out = Vec::new();
    for trace in traces() {
        for mut scaler in rules(pool, max) {
            out.push(run(&trace, pool, scaler.as_mut(), 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome<'a>(all: &'a [Outcome], rule: &str, trace: &str) -> &'a Outcome {
        all.iter().find(|o| o.rule == rule && o.trace == trace).unwrap()
    }

    #[test]
    fn every_rule_runs_every_trace_to_its_end() {
        let all = replay(&default_pool(), 20);
        let rules: std::collections::BTreeSet<&str> = all.iter().map(|o| o.rule).collect();
        let traces: std::collections::BTreeSet<&str> = all.iter().map(|o| o.trace).collect();
        assert_eq!(rules.len(), 3, "{rules:?}");
        assert_eq!(all.len(), rules.len() * traces.len(), "one outcome per rule and trace");
        for o in &all {
            assert!(!o.replicas.is_empty() && o.replica_minutes > 0.0, "{} / {}: {o:?}", o.rule, o.trace);
        }
    }

    #[test]
    fn the_replay_is_deterministic() {
        assert_eq!(replay(&default_pool(), 20), replay(&default_pool(), 20));
    }

    #[test]
    fn our_rule_never_removes_a_replica_with_work_in_flight_or_kills_a_task() {
        for o in replay(&default_pool(), 20).iter().filter(|o| o.rule == "tk8s") {
            assert_eq!((o.scale_downs_with_work_in_flight, o.tasks_killed), (0, 0), "{}: {o:?}", o.trace);
            assert_ne!(o.time_to_drain_s, u32::MAX, "{} never drained", o.trace);
        }
    }

    #[test]
    fn backlog_only_scaling_evicts_long_running_work_when_the_queue_is_empty() {
        let all = replay(&default_pool(), 20);
        let keda = outcome(&all, "keda-backlog", "long-activities");
        assert!(keda.scale_downs_with_work_in_flight > 0 && keda.tasks_killed > 0, "{keda:?}");
        let ours = outcome(&all, "tk8s", "long-activities");
        assert_eq!(ours.tasks_killed, 0);
    }

    #[test]
    fn no_flapping_inside_the_window() {
        // Between two scale events in opposite directions, at least the window passes.
        for o in replay(&default_pool(), 20).iter().filter(|o| o.rule == "tk8s") {
            let mut last_up: Option<usize> = None;
            for t in 1..o.replicas.len() {
                if o.replicas[t] > o.replicas[t - 1] {
                    last_up = Some(t);
                }
                // A replica leaving right after one was added would be flapping (draining and
                // scale-up of others excluded: count only drops below the previous plateau).
                if let Some(up) = last_up
                    && o.replicas[t] < o.replicas[t - 1]
                    && t - up < 60
                {
                    // Leaving replicas are draining ones, not a scale-down decision: allowed
                    // only when the decision to scale down was older than the window.
                    panic!("{}: replicas fell {} s after rising", o.trace, t - up);
                }
            }
        }
    }

    #[test]
    fn scaling_up_drains_a_burst_faster_than_backlog_divided_by_a_fixed_target() {
        let all = replay(&default_pool(), 20);
        let ours = outcome(&all, "tk8s", "burst");
        assert!(ours.time_to_drain_s < 120, "{ours:?}");
    }
}
