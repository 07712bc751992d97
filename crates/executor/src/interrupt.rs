//! Stopping a run from outside (Ctrl-C): a flag the executor checks before each task, and a
//! signal that work in flight waits on so it can be dropped at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// A run's interruption, shared by whoever triggers it (the binary's signal handler) and the
/// executor. Once triggered, no new task starts, tasks in flight are abandoned (their
/// commands stopped on the hosts by the transport) and connections are closed.
#[derive(Clone, Default)]
pub struct Interrupt(Arc<State>);

#[derive(Default)]
struct State {
    triggered: AtomicBool,
    notify: Notify,
}

impl Interrupt {
    pub fn new() -> Self {
        Interrupt::default()
    }

    /// Interrupts the run; idempotent.
    pub fn trigger(&self) {
        self.0.triggered.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub fn is_triggered(&self) -> bool {
        self.0.triggered.load(Ordering::SeqCst)
    }

    /// Resolves once the run is interrupted (at once if it already is).
    pub async fn triggered(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a trigger in between is not missed.
            notified.as_mut().enable();
            if self.is_triggered() {
                return;
            }
            notified.await;
        }
    }
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Interrupt")
            .field(&self.is_triggered())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_wake_on_trigger_and_later_waits_return_at_once() {
        let interrupt = Interrupt::new();
        assert!(!interrupt.is_triggered());
        let waiter = tokio::spawn({
            let interrupt = interrupt.clone();
            async move { interrupt.triggered().await }
        });
        tokio::task::yield_now().await;
        interrupt.trigger();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("task");
        interrupt.triggered().await;
        assert!(interrupt.is_triggered());
    }
}
