//! The background worker: one task, owned by the [`crate::Application`], that looks for due
//! post-call analyses every `SCHEDULER_POLL_MS`, works through them, and stops when told to (or
//! when its owner is dropped). Jobs live in the database, so a stopped worker loses nothing:
//! pending jobs wait, and a job it held comes back to any instance once its lease runs out.

use std::time::Duration;

use switchboard_domain::call::AnalysisService;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{Instrument, info, warn};

/// Jobs claimed at once; the worker claims again as soon as a batch is done.
const BATCH: u32 = 4;

/// The running worker task and the signal that stops it.
#[derive(Debug)]
pub struct Worker {
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the worker on the current runtime.
    #[must_use]
    pub fn spawn(analysis: AnalysisService, poll: Duration) -> Self {
        let (shutdown, stopped) = watch::channel(false);
        let task =
            tokio::spawn(run(analysis, poll, stopped).instrument(tracing::info_span!("worker")));
        Self {
            shutdown,
            task: Some(task),
        }
    }

    /// Asks the worker to stop after the job in hand, waits up to `grace` for it, and aborts it
    /// after that (a job cut short comes back when its lease runs out).
    pub async fn stop(mut self, grace: Duration) {
        let _ = self.shutdown.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(grace, &mut task).await.is_err()
        {
            warn!("the worker did not stop in time; its current job resumes after its lease");
            task.abort();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn run(analysis: AnalysisService, poll: Duration, mut stopped: watch::Receiver<bool>) {
    info!(poll_ms = poll.as_millis(), "the worker is running");
    // Storage failures are reported when they start and when they end, not on every poll.
    let mut failing = false;
    loop {
        // Everything due is worked through before the worker sleeps again.
        loop {
            if *stopped.borrow() {
                return;
            }
            match analysis.run_due(BATCH).await {
                Ok(outcomes) => {
                    if failing {
                        info!("analysis jobs can be claimed again");
                        failing = false;
                    }
                    if outcomes.is_empty() {
                        break;
                    }
                }
                Err(error) => {
                    if !failing {
                        warn!(error = %error.0, "analysis jobs cannot be claimed; trying again at every poll");
                        failing = true;
                    }
                    break;
                }
            }
        }
        tokio::select! {
            // A stop signal, or the owner gone.
            _ = stopped.changed() => return,
            () = tokio::time::sleep(poll) => {}
        }
    }
}
