//! The readiness rule, pure: what the last look at the task queue says about this pod's worker.
//! Ready means Temporal answered the last check (recently), a poller with this pod's identity
//! polled within the freshness window and after the companion started, and the pod is not
//! shutting down. `/readyz`'s JSON body says which of these fails.

use serde::Serialize;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The task types a worker polls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskType {
    Workflow,
    Activity,
}

/// A poller Temporal reports on the task queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Poller {
    pub identity: String,
    pub task_type: TaskType,
    pub last_access: SystemTime,
    /// Whether its identity belongs to this pod.
    pub ours: bool,
}

/// One of this pod's pollers, as `/readyz` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct OwnPoller {
    pub identity: String,
    pub task_type: TaskType,
    pub last_poll_ms_ago: u64,
}

/// The answer of `/readyz` and `/startupz`.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// Why not; empty when ready.
    pub reasons: Vec<String>,
    /// Ready at least once since the companion started (what `/startupz` answers).
    pub started: bool,
    pub draining: bool,
    pub temporal_reachable: bool,
    pub last_check_ms_ago: Option<u64>,
    pub own_pollers: Vec<OwnPoller>,
    /// Pollers on the task queue that are not this pod's.
    pub other_pollers: usize,
}

#[derive(Debug, Default)]
struct Inner {
    /// The last check: when, and the pollers or why it failed.
    last: Option<(Instant, SystemTime, Result<Vec<Poller>, String>)>,
    started: bool,
    draining: bool,
    tick: Option<Instant>,
    /// The newest poll of this pod's worker seen so far.
    last_own_poll: Option<SystemTime>,
}

/// The companion's view of its pod's worker, shared by the check loop and the server.
#[derive(Debug)]
pub struct Health {
    since: SystemTime,
    freshness: Duration,
    check_interval: Duration,
    inner: Mutex<Inner>,
}

/// Pollers seen before the companion started, less this slack for clocks, are not this run's.
const CLOCK_SLACK: Duration = Duration::from_secs(5);

impl Health {
    pub fn new(since: SystemTime, freshness: Duration, check_interval: Duration) -> Health {
        Health { since, freshness, check_interval, inner: Mutex::new(Inner::default()) }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A check finished: the pollers on the task queue, or why Temporal did not answer.
    pub fn record(&self, result: Result<Vec<Poller>, String>) {
        let mut i = self.inner();
        if let Ok(pollers) = &result
            && let Some(newest) =
                pollers.iter().filter(|p| p.ours && p.last_access + CLOCK_SLACK >= self.since).map(|p| p.last_access).max()
        {
            i.last_own_poll = Some(i.last_own_poll.map_or(newest, |l| l.max(newest)));
        }
        i.last = Some((Instant::now(), SystemTime::now(), result));
        i.tick = Some(Instant::now());
        drop(i);
        if self.readiness().ready {
            self.inner().started = true;
        }
    }

    pub fn mark_draining(&self) {
        self.inner().draining = true;
    }

    /// The check loop is still going (a wedged loop is what `/livez` reports).
    pub fn live(&self) -> bool {
        self.inner().tick.is_none_or(|t| t.elapsed() < self.check_interval * 3 + Duration::from_secs(30))
    }

    /// The worker process is alive but no longer polls: it was ready once, Temporal answers, and
    /// none of its pollers has been seen for three freshness windows. What the worker
    /// container's liveness probe asks (`/worker/livez`), so the kubelet restarts a wedged worker
    /// but not every worker while Temporal is down.
    pub fn worker_live(&self) -> bool {
        let i = self.inner();
        let answering = matches!(&i.last, Some((_, _, Ok(_))));
        let gone = i.last_own_poll.is_some_and(|t| SystemTime::now().duration_since(t).unwrap_or_default() > self.freshness * 3);
        !(i.started && answering && gone)
    }

    pub fn readiness(&self) -> Readiness {
        self.readiness_at(Instant::now(), SystemTime::now())
    }

    fn readiness_at(&self, now: Instant, wall: SystemTime) -> Readiness {
        let i = self.inner();
        let mut reasons = Vec::new();
        if i.draining {
            reasons.push("shutting down".to_string());
        }
        let (mut own, mut others, mut reachable, mut ago) = (Vec::new(), 0, false, None);
        match &i.last {
            None => reasons.push("Temporal not checked yet".into()),
            Some((at, _, Err(e))) => {
                ago = Some(now.duration_since(*at).as_millis() as u64);
                reasons.push(format!("Temporal did not answer the last check: {e}"));
            }
            Some((at, _, Ok(pollers))) => {
                reachable = true;
                let age = now.duration_since(*at);
                ago = Some(age.as_millis() as u64);
                if age > self.check_interval * 3 {
                    reasons.push(format!("the last check is {} s old", age.as_secs()));
                }
                for p in pollers {
                    if !p.ours {
                        others += 1;
                        continue;
                    }
                    let since_poll = wall.duration_since(p.last_access).unwrap_or_default();
                    if p.last_access + CLOCK_SLACK >= self.since && since_poll <= self.freshness {
                        own.push(OwnPoller {
                            identity: p.identity.clone(),
                            task_type: p.task_type,
                            last_poll_ms_ago: since_poll.as_millis() as u64,
                        });
                    }
                }
                if own.is_empty() {
                    reasons.push(format!(
                        "no poller of this pod seen on the task queue within {} s ({others} other pollers)",
                        self.freshness.as_secs()
                    ));
                }
            }
        }
        Readiness {
            ready: reasons.is_empty(),
            reasons,
            started: i.started,
            draining: i.draining,
            temporal_reachable: reachable,
            last_check_ms_ago: ago,
            own_pollers: own,
            other_pollers: others,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poller(ours: bool, secs_ago: u64) -> Poller {
        Poller {
            identity: "1@p".into(),
            task_type: TaskType::Activity,
            last_access: SystemTime::now() - Duration::from_secs(secs_ago),
            ours,
        }
    }

    fn health() -> Health {
        Health::new(SystemTime::now() - Duration::from_secs(120), Duration::from_secs(70), Duration::from_secs(5))
    }

    #[test]
    fn ready_only_with_a_fresh_poller_of_this_pod() {
        let h = health();
        assert!(!h.readiness().ready && !h.readiness().started, "not checked yet");
        h.record(Ok(vec![poller(false, 1)]));
        let r = h.readiness();
        assert!(!r.ready && r.temporal_reachable && r.other_pollers == 1, "{r:?}");
        assert!(r.reasons[0].contains("no poller of this pod"), "{r:?}");
        h.record(Ok(vec![poller(true, 100)]));
        assert!(!h.readiness().ready, "a poll 100 s ago is stale");
        h.record(Ok(vec![poller(true, 3), poller(false, 1)]));
        let r = h.readiness();
        assert!(r.ready && r.started && r.own_pollers.len() == 1, "{r:?}");
        h.record(Err("Unavailable".into()));
        let r = h.readiness();
        assert!(!r.ready && r.started && !r.temporal_reachable, "started stays true: {r:?}");
        h.record(Ok(vec![poller(true, 3)]));
        h.mark_draining();
        assert_eq!(h.readiness().reasons, ["shutting down"]);
        assert!(h.worker_live());
    }

    #[test]
    fn a_worker_that_stopped_polling_long_ago_is_not_live_but_an_outage_is_not_its_fault() {
        let h = Health::new(SystemTime::now() - Duration::from_secs(600), Duration::from_secs(10), Duration::from_secs(1));
        assert!(h.worker_live(), "before it ever polled: the startup probe's business");
        h.record(Ok(vec![poller(true, 1)]));
        assert!(h.worker_live());
        h.record(Ok(vec![poller(true, 45)]));
        assert!(h.worker_live(), "the newest poll seen stays the newest");
        h.inner().last_own_poll = Some(SystemTime::now() - Duration::from_secs(31));
        assert!(!h.worker_live(), "no poll for three windows while Temporal answers");
        h.record(Err("Unavailable".into()));
        assert!(h.worker_live(), "Temporal is down: restarting the worker would not help");
    }

    #[test]
    fn a_poller_from_before_the_companion_started_is_not_this_runs() {
        let h = Health::new(SystemTime::now(), Duration::from_secs(70), Duration::from_secs(5));
        h.record(Ok(vec![poller(true, 30)]));
        assert!(!h.readiness().ready, "polled 30 s before this pod's companion started");
    }
}
