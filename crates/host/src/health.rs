//! Health state shared by the host loop, the metrics watcher and the admin server: the facts
//! behind `/livez`, `/startupz` and `/readyz`. Plain atomics, so the admin thread can read them
//! without waiting on anything the worker holds.

use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Never set: timestamps are milliseconds since [`Health::epoch`] plus one, so 0 means "never".
const NEVER: u64 = 0;

#[derive(Debug)]
pub struct Health {
    epoch: Instant,
    /// Whether this process polls task queues (worker role); readiness then needs healthy polls.
    polls: bool,
    check_interval: Duration,
    started: AtomicBool,
    draining: AtomicBool,
    loop_tick: AtomicU64,
    temporal_ok: AtomicBool,
    temporal_checked: AtomicU64,
    temporal_error: Mutex<Option<String>>,
    pollers_started: AtomicBool,
    poll_ok: AtomicU64,
    poll_failed: AtomicU64,
}

/// The answer of `/readyz`.
#[derive(Debug, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// Why not ready; empty when ready.
    pub reasons: Vec<String>,
    pub started: bool,
    pub draining: bool,
    pub temporal_reachable: bool,
    pub last_check_ms_ago: Option<u64>,
    pub last_poll_ok_ms_ago: Option<u64>,
    pub last_poll_failure_ms_ago: Option<u64>,
}

impl Health {
    pub fn new(polls: bool, check_interval: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            polls,
            check_interval,
            started: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            loop_tick: AtomicU64::new(NEVER),
            temporal_ok: AtomicBool::new(false),
            temporal_checked: AtomicU64::new(NEVER),
            temporal_error: Mutex::new(None),
            pollers_started: AtomicBool::new(false),
            poll_ok: AtomicU64::new(NEVER),
            poll_failed: AtomicU64::new(NEVER),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn ago(&self, stamp: &AtomicU64) -> Option<u64> {
        match stamp.load(Ordering::Acquire) {
            NEVER => None,
            t => Some(self.now().saturating_sub(t)),
        }
    }

    /// The host loop is alive; `/livez` fails when this stops being called.
    pub fn tick(&self) {
        self.loop_tick.store(self.now(), Ordering::Release);
    }

    pub fn mark_started(&self) {
        self.started.store(true, Ordering::Release);
    }

    pub fn mark_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Record the outcome of a connectivity check against Temporal.
    pub fn record_check(&self, result: Result<(), String>) {
        let ok = result.is_ok();
        *self.temporal_error.lock().unwrap_or_else(|e| e.into_inner()) = result.err();
        self.temporal_ok.store(ok, Ordering::Release);
        self.temporal_checked.store(self.now(), Ordering::Release);
    }

    pub fn record_pollers_started(&self) {
        self.pollers_started.store(true, Ordering::Release);
    }

    pub fn record_poll_ok(&self) {
        self.poll_ok.store(self.now(), Ordering::Release);
    }

    pub fn record_poll_failure(&self) {
        self.poll_failed.store(self.now(), Ordering::Release);
    }

    /// Live unless the host loop has not ticked for a long time (it ticks every second).
    pub fn live(&self) -> bool {
        self.ago(&self.loop_tick).is_none_or(|ms| ms < 15_000)
    }

    /// Start-up is over once the host is connected and (for workers) polling.
    pub fn started(&self) -> bool {
        self.started.load(Ordering::Acquire) && (!self.polls || self.pollers_started.load(Ordering::Acquire))
    }

    /// A poll failure counts until a later successful poll, or until it is older than this
    /// window while connectivity checks pass (a long poll that is merely waiting reports
    /// nothing for up to a minute, so "no news" after recovery must count as good news).
    fn poll_failure_window(&self) -> u64 {
        (self.check_interval.as_millis() as u64 * 3).max(6_000)
    }

    pub fn readiness(&self) -> Readiness {
        let started = self.started();
        let draining = self.is_draining();
        let checked_ago = self.ago(&self.temporal_checked);
        let check_fresh = checked_ago.is_some_and(|ms| ms <= self.check_interval.as_millis() as u64 * 3 + 1000);
        let temporal_ok = self.temporal_ok.load(Ordering::Acquire) && check_fresh;
        let ok_ago = self.ago(&self.poll_ok);
        let fail_ago = self.ago(&self.poll_failed);
        let mut reasons = Vec::new();
        if draining {
            reasons.push("shutting down: draining in-flight work".to_string());
        }
        if !started {
            reasons.push(if self.polls { "starting: not polling yet" } else { "starting: not connected yet" }.to_string());
        }
        if !temporal_ok {
            let err = self.temporal_error.lock().unwrap_or_else(|e| e.into_inner()).clone();
            reasons.push(match (err, checked_ago) {
                (Some(e), _) => format!("temporal unreachable: {e}"),
                (None, None) => "temporal not checked yet".to_string(),
                (None, Some(_)) => "temporal check overdue".to_string(),
            });
        }
        if self.polls
            && let Some(f) = fail_ago
        {
            let recovered = ok_ago.is_some_and(|o| o < f);
            if !recovered && f < self.poll_failure_window() {
                reasons.push(format!("task queue polls failing (last failure {f} ms ago)"));
            }
        }
        Readiness {
            ready: reasons.is_empty(),
            reasons,
            started,
            draining,
            temporal_reachable: temporal_ok,
            last_check_ms_ago: checked_ago,
            last_poll_ok_ms_ago: ok_ago,
            last_poll_failure_ms_ago: fail_ago,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_is_ready_only_when_started_connected_polling_and_not_draining() {
        let h = Health::new(true, Duration::from_secs(2));
        assert!(!h.readiness().ready);
        h.mark_started();
        h.record_check(Ok(()));
        assert!(!h.readiness().ready, "not polling yet");
        h.record_pollers_started();
        assert!(h.readiness().ready);
        h.record_poll_failure();
        let r = h.readiness();
        assert!(!r.ready && r.reasons[0].contains("polls failing"), "{r:?}");
        std::thread::sleep(Duration::from_millis(2));
        h.record_poll_ok();
        assert!(h.readiness().ready);
        h.record_check(Err("connection refused".into()));
        let r = h.readiness();
        assert!(!r.ready && r.reasons[0].contains("connection refused"), "{r:?}");
        h.record_check(Ok(()));
        h.mark_draining();
        assert!(!h.readiness().ready);
    }

    #[test]
    fn orchestrator_needs_no_polls() {
        let h = Health::new(false, Duration::from_secs(2));
        h.mark_started();
        h.record_check(Ok(()));
        assert!(h.readiness().ready);
    }
}
