//! Signals and the shutdown sequence: the first SIGTERM/SIGINT starts a drain (readiness turns
//! 503 at once, polling stops, in-flight work gets the grace period); a watchdog thread exits
//! the process when grace + hard deadline pass even if the SDK hangs; a second signal exits at
//! once. Handlers are installed explicitly, so this works as PID 1 in a container. Every role
//! waits on the one [`ShutdownSignal`] this returns: the worker turns it into the SDK's stop.

use crate::health::Health;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tk8s_config::exit;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{error, info, warn};

/// Resolves when shutdown was requested.
#[derive(Clone)]
pub struct ShutdownSignal(watch::Receiver<Option<Instant>>);

impl ShutdownSignal {
    pub async fn requested(&mut self) {
        let _ = self.0.wait_for(Option::is_some).await;
    }

    pub fn is_requested(&self) -> bool {
        self.0.borrow().is_some()
    }

    /// When shutdown was requested.
    pub fn since(&self) -> Option<Instant> {
        *self.0.borrow()
    }
}

/// Install signal handlers; the signal every role waits on.
pub fn install(health: Arc<Health>, grace: Duration, hard_deadline: Duration) -> std::io::Result<ShutdownSignal> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        let deadline = grace + hard_deadline;
        info!(
            signal = name,
            grace_ms = grace.as_millis() as u64,
            deadline_ms = deadline.as_millis() as u64,
            "shutdown requested: readiness off, polling stops, in-flight work drains"
        );
        health.mark_draining();
        let _ = tx.send(Some(Instant::now()));
        std::thread::Builder::new()
            .name("tk8s-shutdown-deadline".into())
            .spawn(move || {
                std::thread::sleep(deadline);
                error!(
                    deadline_ms = deadline.as_millis() as u64,
                    "shutdown ended: hard deadline hit before the worker finished draining; exiting"
                );
                std::process::exit(i32::from(exit::DEADLINE));
            })
            .ok();
        let second = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        warn!(signal = second, "shutdown ended: second signal, exiting at once");
        std::process::exit(i32::from(exit::SECOND_SIGNAL));
    });
    Ok(ShutdownSignal(rx))
}
