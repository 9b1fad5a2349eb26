//! Calls reported by other systems (Vapi's end-of-call reports), stored after the webhook has
//! been answered: the handler hands the call to a bounded queue and answers at once; one task,
//! owned by the [`crate::Application`], stores them with at most [`CONCURRENCY`] at a time and
//! logs failures. The task ends when every sender is gone (the server stopped) or its owner is
//! dropped.

use std::sync::Arc;
use std::time::Duration;

use switchboard_domain::call::{CallService, ExternalCall};
use switchboard_domain::ids::OrganizationId;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{Instrument, info, warn};

/// Reports waiting to be stored; a full queue refuses more, so the sender can retry later.
pub const CAPACITY: usize = 256;
/// Reports stored at once: each is one database transaction.
pub const CONCURRENCY: usize = 4;

/// One call to store, and where it came from (for the logs).
#[derive(Debug)]
pub struct Job {
    pub organization: OrganizationId,
    pub source: &'static str,
    pub call: ExternalCall,
}

/// The sending side, kept in the app state.
#[derive(Clone, Debug)]
pub struct CallLogQueue {
    sender: mpsc::Sender<Job>,
}

/// The queue is full (or stopped): nothing was queued.
#[derive(Debug, thiserror::Error)]
#[error("too many call reports are waiting to be stored")]
pub struct QueueFull;

impl CallLogQueue {
    /// Queues a call without waiting.
    ///
    /// # Errors
    /// `QueueFull` when [`CAPACITY`] reports are already waiting or the writer has stopped.
    pub fn submit(&self, job: Job) -> Result<(), QueueFull> {
        self.sender.try_send(job).map_err(|_| QueueFull)
    }
}

/// The task that stores queued calls; aborted when dropped.
#[derive(Debug)]
pub struct CallLogWriter {
    task: Option<JoinHandle<()>>,
}

impl CallLogWriter {
    /// Starts the writer on the current runtime and returns the queue that feeds it.
    #[must_use]
    pub fn spawn(calls: CallService) -> (CallLogQueue, Self) {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        let task = tokio::spawn(run(calls, receiver).instrument(tracing::info_span!("call_logs")));
        (CallLogQueue { sender }, Self { task: Some(task) })
    }

    /// Waits up to `grace` for queued calls to be stored (the queue closes once the server has
    /// stopped), then aborts what is left.
    pub async fn stop(mut self, grace: Duration) {
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(grace, &mut task).await.is_err()
        {
            warn!("call reports were still being stored at shutdown; the rest are dropped");
            task.abort();
        }
    }
}

impl Drop for CallLogWriter {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn run(calls: CallService, mut receiver: mpsc::Receiver<Job>) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    // The stores in flight belong to this task: dropping the set (an abort) aborts them too.
    let mut in_flight = JoinSet::new();
    while let Some(job) = receiver.recv().await {
        // Finished stores are reaped as we go, so the set stays at most CONCURRENCY long.
        while in_flight.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let calls = calls.clone();
        in_flight.spawn(
            async move {
                let _permit = permit;
                let Job {
                    organization,
                    source,
                    call,
                } = job;
                let key = call.idempotency_key.clone();
                match calls.log_external(organization, call).await {
                    Ok((call, turns)) => info!(
                        call.id = %call.id,
                        source,
                        key = key.as_deref().unwrap_or(""),
                        turns = turns.len(),
                        "a reported call is stored"
                    ),
                    Err(error) => warn!(
                        source,
                        key = key.as_deref().unwrap_or(""),
                        error = %error,
                        "a reported call could not be stored"
                    ),
                }
            }
            .in_current_span(),
        );
    }
    while in_flight.join_next().await.is_some() {}
}
