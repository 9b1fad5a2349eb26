//! The reconciler: a background task, owned by the [`crate::Application`] like the scheduler,
//! that every `CALL_RECONCILE_POLL_SECS` asks the telephony provider about live phone calls not
//! updated for `CALL_RECONCILE_AFTER_SECS` ([`CallService::reconcile_stale`]), so a call whose
//! end was never reported does not stay live for ever. A task of its own rather than a step of
//! the scheduler's loop: it polls a minute apart, not half a second, and runs without
//! `PUBLIC_URL`, which the scheduler's calls need.

use std::sync::Arc;
use std::time::Duration;

use switchboard_domain::call::CallService;
use switchboard_domain::ports::Telephony;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

/// Calls checked per pass: each is one request to the provider.
pub const RECONCILE_BATCH: u32 = 100;

/// The worker before it runs.
pub struct Reconciler {
    calls: CallService,
    telephony: Option<Arc<dyn Telephony>>,
    after: Duration,
    poll: Duration,
}

impl Reconciler {
    /// A worker checking calls not updated for `after`, every `poll`; without telephony (or
    /// with a zero `poll`, which settings refuse) it does not run.
    #[must_use]
    pub fn new(
        calls: CallService,
        telephony: Option<Arc<dyn Telephony>>,
        after: Duration,
        poll: Duration,
    ) -> Self {
        Self {
            calls,
            telephony,
            after,
            poll,
        }
    }

    /// Starts the task; it runs until [`ReconcilerTask::stop`] or until the handle is dropped.
    #[must_use]
    pub fn start(self) -> ReconcilerTask {
        let (stop, stopped) = watch::channel(false);
        let Some(telephony) = self.telephony.clone() else {
            return ReconcilerTask { stop, task: None };
        };
        if self.poll.is_zero() {
            warn!("a zero poll interval: this instance reconciles no phone calls");
            return ReconcilerTask { stop, task: None };
        }
        ReconcilerTask {
            stop,
            task: Some(tokio::spawn(self.run(telephony, stopped))),
        }
    }

    async fn run(self, telephony: Arc<dyn Telephony>, mut stopped: watch::Receiver<bool>) {
        let after = chrono::Duration::from_std(self.after).unwrap_or(chrono::Duration::MAX);
        let mut ticks = tokio::time::interval(self.poll);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        info!(
            after_secs = self.after.as_secs(),
            poll_secs = self.poll.as_secs(),
            "call reconciler started"
        );
        loop {
            tokio::select! {
                biased;
                // A stop, or the owner gone.
                _ = stopped.changed() => break,
                _ = ticks.tick() => {}
            }
            // A full batch that changed calls may have more behind it: take it at once. A full
            // batch that changed nothing (calls the provider says are still live) waits for the
            // next poll rather than asking about the same calls again.
            loop {
                match self
                    .calls
                    .reconcile_stale(telephony.as_ref(), after, RECONCILE_BATCH)
                    .await
                {
                    Ok(done)
                        if done.checked >= RECONCILE_BATCH as usize
                            && done.changed > 0
                            && !*stopped.borrow() => {}
                    Ok(_) => break,
                    Err(error) => {
                        warn!(error = ?error, "the call reconciler's pass failed; it tries again at the next poll");
                        break;
                    }
                }
            }
        }
        info!("call reconciler stopped");
    }
}

/// The running worker. Dropping it aborts the task; [`ReconcilerTask::stop`] lets the pass under
/// way finish first.
pub struct ReconcilerTask {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ReconcilerTask {
    /// Asks the worker to stop after its current pass and waits up to `grace` for it; then
    /// aborts it. A call it was ending when aborted is ended by the next pass, here or on
    /// another instance.
    pub async fn stop(mut self, grace: Duration) {
        // Nobody listening means the task has ended already.
        let _ = self.stop.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(grace, &mut task).await.is_err()
        {
            warn!("the call reconciler did not stop in time; aborting it");
            task.abort();
        }
    }
}

impl Drop for ReconcilerTask {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
