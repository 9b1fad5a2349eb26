//! The scheduler: a background task, owned by the [`crate::Application`], that every
//! `SCHEDULER_POLL_MS` claims due scheduled calls, places them, and settles attempts whose call
//! has ended ([`ScheduleService::work`]); and [`ScheduledDialer`], how it reaches Twilio
//! without a request to take the server's address from (`PUBLIC_URL`).

use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounter;

use switchboard_domain::call::Call;
use switchboard_domain::ports::{Dial, Telephony};
use switchboard_domain::schedule::{CallDialer, ScheduleService};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

use crate::routes::outbound::dial_for;
use crate::state::AppState;

/// Places scheduled calls through the configured telephony, addressed to `PUBLIC_URL`.
#[derive(Clone)]
pub struct ScheduledDialer {
    state: AppState,
}

impl ScheduledDialer {
    /// A dialer over the server's state.
    #[must_use]
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    fn base(&self) -> Option<String> {
        self.state
            .settings
            .public_url
            .as_ref()
            .map(|url| url.as_str().trim_end_matches('/').to_owned())
    }
}

impl CallDialer for ScheduledDialer {
    fn telephony(&self) -> Result<Arc<dyn Telephony>, String> {
        let (Some(telephony), Some(_)) = (
            &self.state.telephony,
            &self.state.settings.twilio.phone_number,
        ) else {
            return Err(
                "telephony not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN \
                        and TWILIO_PHONE_NUMBER"
                    .into(),
            );
        };
        if self.base().is_none() {
            return Err(
                "PUBLIC_URL is not set: scheduled calls need it to tell Twilio where \
                        to send the call's audio and progress"
                    .into(),
            );
        }
        if !self.state.speech.can_carry_calls() {
            return Err("phone calls need speech recognition and synthesis: set \
                        DEEPGRAM_API_KEY or OPENAI_API_KEY, and ELEVENLABS_API_KEY or \
                        OPENAI_API_KEY"
                .into());
        }
        Ok(telephony.clone())
    }

    fn dial(&self, call: &Call) -> Dial {
        let from = self
            .state
            .settings
            .twilio
            .phone_number
            .clone()
            .unwrap_or_default();
        dial_for(&self.state, &from, &self.base().unwrap_or_default(), call)
    }
}

/// The worker before it runs.
pub struct Scheduler {
    service: ScheduleService,
    dialer: Arc<dyn CallDialer>,
    poll: Duration,
    worker: String,
    passes: IntCounter,
}

impl Scheduler {
    /// A worker of this instance (its claims carry a fresh id), stepping every `poll` (settings
    /// refuse zero; a zero `poll` leaves the worker off rather than spinning). `passes` counts
    /// its finished passes (`/metrics`).
    #[must_use]
    pub fn new(
        service: ScheduleService,
        dialer: Arc<dyn CallDialer>,
        poll: Duration,
        passes: IntCounter,
    ) -> Self {
        Self {
            service,
            dialer,
            poll,
            worker: format!("switchboard-{}", uuid::Uuid::new_v4().simple()),
            passes,
        }
    }

    /// Starts the task; it runs until [`SchedulerTask::stop`] or until the handle is dropped.
    #[must_use]
    pub fn start(self) -> SchedulerTask {
        let (stop, stopped) = watch::channel(false);
        if self.poll.is_zero() {
            warn!("a zero poll interval: this instance places no scheduled calls");
            return SchedulerTask { stop, task: None };
        }
        SchedulerTask {
            stop,
            task: Some(tokio::spawn(self.run(stopped))),
        }
    }

    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let batch = usize::try_from(self.service.settings().batch).unwrap_or(usize::MAX);
        let mut ticks = tokio::time::interval(self.poll);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        info!(worker = %self.worker, poll_ms = self.poll.as_millis(), "scheduler started");
        loop {
            tokio::select! {
                biased;
                // A stop, or the owner gone.
                _ = stopped.changed() => break,
                _ = ticks.tick() => {}
            }
            // A full batch means more may be due: take it at once rather than a poll later.
            loop {
                match self.service.work(&self.worker, self.dialer.as_ref()).await {
                    Ok(done) if done.claimed >= batch && !*stopped.borrow() => {}
                    Ok(_) => break,
                    Err(error) => {
                        warn!(error = ?error, "the scheduler's step failed; it tries again at the next poll");
                        break;
                    }
                }
            }
            self.passes.inc();
        }
        info!(worker = %self.worker, "scheduler stopped");
    }
}

/// The running worker. Dropping it aborts the task; [`SchedulerTask::stop`] lets the step under
/// way finish first.
pub struct SchedulerTask {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl SchedulerTask {
    /// Asks the worker to stop after its current step and waits up to `grace` for it; then
    /// aborts it. A call it was placing when aborted is left under its lease, which the next
    /// claim after the lease resolves without dialling twice.
    pub async fn stop(mut self, grace: Duration) {
        // Nobody listening means the task has ended already.
        let _ = self.stop.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(grace, &mut task).await.is_err()
        {
            warn!("the scheduler did not stop in time; aborting it");
            task.abort();
        }
    }
}

impl Drop for SchedulerTask {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
