//! The schedule use cases: scheduling one call or a campaign, listing, reading and canceling
//! them, and the worker's steps: claim what is due, place it (or move it to its window's next
//! opening), and settle attempts whose call has ended.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt as _;
use tracing::{info, instrument, warn};

use super::input::{
    MAX_CAMPAIGN_NUMBERS, Recipient, ScheduleRequest, parse_recipient, parse_retry, parse_time,
    parse_window,
};
use super::model::{AttemptOutcome, ScheduleFilter, ScheduleStatus, ScheduledCall};
use crate::call::{
    Call, CallChannel, CallDirection, CallError, CallService, CallStart, CallTarget,
    UNCONFIRMED_END_REASON,
};
use crate::ids::{AgentId, CampaignId, OrganizationId, ScheduledCallId, UserId};
use crate::page::{PageRequest, Paged};
use crate::ports::{
    AccountRepository, AgentRepository, Clock, Dial, RepositoryError, SaveScheduleOutcome,
    ScheduleRepository, Telephony,
};
use crate::scenario::{ScenarioError, ScenarioService};
use crate::validation::ValidationErrors;

/// How the worker places a stored call: the telephony port and the [`Dial`] for a call, as the
/// application configured them.
pub trait CallDialer: Send + Sync {
    /// The telephony provider to dial through, or a sentence naming what is not configured
    /// (it becomes the failed attempt's detail).
    ///
    /// # Errors
    /// The sentence, when calls cannot be placed.
    fn telephony(&self) -> Result<Arc<dyn Telephony>, String>;

    /// Where the media and progress reports of `call` (stored, about to be dialled) go.
    fn dial(&self, call: &Call) -> Dial;
}

/// Why a schedule operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("scheduled call not found")]
    NotFound,
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// Only a pending scheduled call can be canceled.
    #[error("the scheduled call is {} and can no longer be canceled", .status.as_str())]
    NotCancelable { status: ScheduleStatus },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RepositoryError> for ScheduleError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}

/// How the worker behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleSettings {
    /// How long a claim lasts. Far longer than placing one call takes (the telephony adapter's
    /// timeouts and retries), so a lease only runs out when its worker has stopped.
    pub lease: Duration,
    /// How long a call waits when it could not be placed for reasons of ours (the organisation's
    /// calls at once are at their cap, a storage failure), without using an attempt.
    pub postpone: Duration,
    /// Scheduled calls claimed per step.
    pub batch: u32,
    /// Calls one worker places at once.
    pub concurrency: usize,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        Self {
            lease: Duration::minutes(5),
            postpone: Duration::seconds(30),
            batch: 50,
            concurrency: 4,
        }
    }
}

/// What one worker step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkDone {
    /// Scheduled calls claimed.
    pub claimed: usize,
    /// Attempts whose call ended, settled.
    pub settled: usize,
}

/// The ports the schedule service works through.
#[derive(Clone)]
pub struct SchedulePorts {
    pub schedules: Arc<dyn ScheduleRepository>,
    pub agents: Arc<dyn AgentRepository>,
    pub accounts: Arc<dyn AccountRepository>,
    pub clock: Arc<dyn Clock>,
}

/// Scheduled calls of an organisation, and the worker's steps.
#[derive(Clone)]
pub struct ScheduleService {
    ports: SchedulePorts,
    scenarios: ScenarioService,
    calls: CallService,
    settings: ScheduleSettings,
}

/// How many times a write is retried against concurrent writers (a cancel racing a claim).
const SAVE_ATTEMPTS: usize = 3;
/// Why an attempt whose dial the provider never confirmed was given up.
const UNCONFIRMED_ATTEMPT: &str =
    "the instance placing the call stopped before the provider confirmed it";

impl ScheduleService {
    /// Wires the service.
    #[must_use]
    pub fn new(
        ports: SchedulePorts,
        scenarios: ScenarioService,
        calls: CallService,
        settings: ScheduleSettings,
    ) -> Self {
        Self {
            ports,
            scenarios,
            calls,
            settings,
        }
    }

    /// How the worker behaves.
    #[must_use]
    pub const fn settings(&self) -> ScheduleSettings {
        self.settings
    }

    /// Schedules one call.
    ///
    /// # Errors
    /// `Invalid` naming every bad field (`phone_number`, `customer_name`, `scheduled_time`,
    /// `agent_id`, `scenario`, `window.*`, `max_attempts`, `retry_delay_minutes`).
    #[instrument(skip_all, fields(organization.id = %organization))]
    pub async fn schedule_one(
        &self,
        organization: OrganizationId,
        user: UserId,
        recipient: Recipient,
        request: ScheduleRequest,
    ) -> Result<ScheduledCall, ScheduleError> {
        let mut errors = ValidationErrors::new();
        let parsed = parse_recipient(&recipient, "phone_number", "customer_name", &mut errors);
        let mut calls = self
            .build(
                organization,
                user,
                None,
                parsed.into_iter().collect(),
                &request,
                errors,
            )
            .await?;
        calls
            .pop()
            .ok_or_else(|| ScheduleError::Unexpected(anyhow::anyhow!("nothing was scheduled")))
    }

    /// Schedules a campaign: one call per number, with shared settings and one campaign id.
    ///
    /// # Errors
    /// `Invalid` naming every bad field, numbers as `numbers[i]` (a repeated number included);
    /// at most [`MAX_CAMPAIGN_NUMBERS`] numbers.
    #[instrument(skip_all, fields(organization.id = %organization, numbers = recipients.len()))]
    pub async fn schedule_campaign(
        &self,
        organization: OrganizationId,
        user: UserId,
        recipients: Vec<Recipient>,
        request: ScheduleRequest,
    ) -> Result<(CampaignId, Vec<ScheduledCall>), ScheduleError> {
        let mut errors = ValidationErrors::new();
        if recipients.is_empty() {
            errors.add("numbers", "name at least one number");
        }
        if recipients.len() > MAX_CAMPAIGN_NUMBERS {
            errors.add(
                "numbers",
                format!("at most {MAX_CAMPAIGN_NUMBERS} numbers per campaign"),
            );
        }
        let mut parsed = Vec::with_capacity(recipients.len());
        for (index, recipient) in recipients.iter().enumerate() {
            let number_field = format!("numbers[{index}].phone_number");
            let name_field = format!("numbers[{index}].customer_name");
            if let Some((number, name)) =
                parse_recipient(recipient, &number_field, &name_field, &mut errors)
            {
                if parsed.iter().any(|(n, _)| *n == number) {
                    errors.add(number_field, "this number is already in the campaign");
                } else {
                    parsed.push((number, name));
                }
            }
        }
        let campaign = CampaignId::new();
        let calls = self
            .build(organization, user, Some(campaign), parsed, &request, errors)
            .await?;
        Ok((campaign, calls))
    }

    async fn build(
        &self,
        organization: OrganizationId,
        user: UserId,
        campaign: Option<CampaignId>,
        recipients: Vec<(crate::phone_number::E164, Option<String>)>,
        request: &ScheduleRequest,
        mut errors: ValidationErrors,
    ) -> Result<Vec<ScheduledCall>, ScheduleError> {
        let now = self.ports.clock.now();
        let org = self
            .ports
            .accounts
            .find_organization(organization)
            .await?
            .ok_or_else(|| anyhow::anyhow!("organisation {organization} is missing"))?;
        let scheduled_for = parse_time(request.scheduled_time.as_deref(), now, &mut errors);
        let window = parse_window(request.window.as_ref(), &org.time_zone, &mut errors);
        let retry = parse_retry(request, &mut errors);
        let target = self
            .target(organization, user, request, &mut errors)
            .await?;
        errors.into_result(()).map_err(ScheduleError::Invalid)?;
        let due_at = window
            .as_ref()
            .map_or(scheduled_for, |w| w.next_open(scheduled_for));
        let calls: Vec<ScheduledCall> = recipients
            .into_iter()
            .map(|(phone_number, customer_name)| ScheduledCall {
                id: ScheduledCallId::new(),
                organization_id: organization,
                user_id: user,
                campaign_id: campaign,
                target: target.clone(),
                phone_number,
                customer_name,
                scheduled_for,
                due_at,
                window: window.clone(),
                retry,
                status: ScheduleStatus::Pending,
                attempts: Vec::new(),
                lease: None,
                version: 0,
                created_at: now,
                updated_at: now,
            })
            .collect();
        self.ports.schedules.insert(&calls).await?;
        info!(
            scheduled = calls.len(),
            %due_at,
            "calls scheduled"
        );
        Ok(calls)
    }

    /// Who will talk, checked now so that a typo is a 422 today rather than a failed call later.
    async fn target(
        &self,
        organization: OrganizationId,
        user: UserId,
        request: &ScheduleRequest,
        errors: &mut ValidationErrors,
    ) -> Result<CallTarget, ScheduleError> {
        let agent = request
            .agent_id
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty());
        let scenario = request
            .scenario
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        match (agent, scenario) {
            (Some(raw), _) => {
                let found = match raw.parse::<AgentId>() {
                    Ok(id) => self.ports.agents.find(organization, id).await?,
                    Err(_) => None,
                };
                match found {
                    Some(agent) => Ok(CallTarget::Agent(agent.id)),
                    None => {
                        errors.add("agent_id", "no agent with this id in your organisation");
                        Ok(CallTarget::Default)
                    }
                }
            }
            (None, Some(name)) => match self.scenarios.resolve(user, name).await {
                Ok(_) => Ok(CallTarget::Scenario(name.to_owned())),
                Err(ScenarioError::NotFound) => {
                    errors.add(
                        "scenario",
                        "no built-in scenario with this name and no custom scenario with this id",
                    );
                    Ok(CallTarget::Default)
                }
                Err(other) => Err(ScheduleError::Unexpected(anyhow::anyhow!(other))),
            },
            (None, None) => Ok(CallTarget::Default),
        }
    }

    /// The organisation's scheduled call with its attempts.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn get(
        &self,
        organization: OrganizationId,
        id: ScheduledCallId,
    ) -> Result<ScheduledCall, ScheduleError> {
        self.ports
            .schedules
            .find(organization, id)
            .await?
            .ok_or(ScheduleError::NotFound)
    }

    /// A page of the organisation's scheduled calls, soonest due first.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn list(
        &self,
        organization: OrganizationId,
        filter: &ScheduleFilter,
        page: PageRequest,
    ) -> Result<Paged<ScheduledCall>, ScheduleError> {
        Ok(self
            .ports
            .schedules
            .list(organization, filter, page)
            .await?)
    }

    /// Cancels a pending scheduled call; canceling a canceled one answers it as it is.
    ///
    /// # Errors
    /// `NotFound`; `NotCancelable` once a worker has claimed it or it has ended.
    #[instrument(skip_all, fields(scheduled_call.id = %id))]
    pub async fn cancel(
        &self,
        organization: OrganizationId,
        id: ScheduledCallId,
    ) -> Result<ScheduledCall, ScheduleError> {
        for _ in 0..SAVE_ATTEMPTS {
            let mut call = self.get(organization, id).await?;
            match call.status {
                ScheduleStatus::Canceled => return Ok(call),
                ScheduleStatus::Pending => {}
                status => return Err(ScheduleError::NotCancelable { status }),
            }
            let expected = call.version;
            call.version += 1;
            call.status = ScheduleStatus::Canceled;
            call.updated_at = self.ports.clock.now();
            if self.ports.schedules.save(&call, expected).await? == SaveScheduleOutcome::Saved {
                return Ok(call);
            }
        }
        // Lost every race: a worker is claiming it right now.
        let call = self.get(organization, id).await?;
        Err(ScheduleError::NotCancelable {
            status: call.status,
        })
    }

    /// One step of the worker `worker`: claims what is due, places each claimed call (a few at
    /// once), then settles attempts whose call has ended. A failure of one call is logged and
    /// leaves the others alone.
    ///
    /// # Errors
    /// Only when claiming or settling fails in storage.
    pub async fn work(
        &self,
        worker: &str,
        dialer: &dyn CallDialer,
    ) -> Result<WorkDone, ScheduleError> {
        let claimed = self.claim_due(worker, self.settings.batch).await?;
        let count = claimed.len();
        futures_util::stream::iter(claimed)
            .for_each_concurrent(self.settings.concurrency.max(1), |call| async move {
                let id = call.id;
                if let Err(error) = self.dial_claimed(call, dialer).await {
                    warn!(scheduled_call.id = %id, error = ?error, "a scheduled call could not be placed; it is retried when its lease runs out");
                }
            })
            .await;
        let settled = self.settle_finished(self.settings.batch).await?;
        Ok(WorkDone {
            claimed: count,
            settled,
        })
    }

    /// Claims up to `limit` due scheduled calls for `worker`, each under a lease.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn claim_due(
        &self,
        worker: &str,
        limit: u32,
    ) -> Result<Vec<ScheduledCall>, ScheduleError> {
        let now = self.ports.clock.now();
        Ok(self
            .ports
            .schedules
            .claim_due(now, worker, now + self.settings.lease, limit)
            .await?)
    }

    /// Takes one claimed scheduled call a step further and stores it:
    /// - when a claimer before this one stored this attempt's call (found by the attempt's
    ///   idempotency key), that call is adopted, never dialled again; if the provider never
    ///   confirmed it, the attempt is `interrupted` and the call not retried;
    /// - outside its window, it waits for the window's next opening;
    /// - without telephony, the attempt fails with the reason (retried as the policy says);
    /// - else the call is placed; a refusal fails the attempt; the organisation's cap on calls
    ///   at once postpones it without using an attempt.
    ///
    /// Returns the scheduled call as stored.
    ///
    /// # Errors
    /// On storage failure; a lost lease (another worker wrote first) is not an error.
    #[instrument(skip_all, fields(scheduled_call.id = %call.id))]
    pub async fn dial_claimed(
        &self,
        mut call: ScheduledCall,
        dialer: &dyn CallDialer,
    ) -> Result<ScheduledCall, ScheduleError> {
        let now = self.ports.clock.now();
        let number = call.next_attempt_number();
        let key = call.attempt_key(number);
        let organization = call.organization_id;
        let placed = self
            .calls
            .find_placed(organization, &key)
            .await
            .map_err(call_error)?;
        if let Some(placed) = placed {
            self.adopt(&mut call, number, placed, now).await?;
            return self.store(call).await;
        }
        if let Some(window) = &call.window
            && !window.is_open(now)
        {
            let opens = window.next_open(now);
            call.postpone(opens, now);
            return self.store(call).await;
        }
        let telephony = match dialer.telephony() {
            Ok(telephony) => telephony,
            Err(reason) => {
                warn!(reason = %reason, "a scheduled call is due but cannot be placed");
                call.conclude(number, None, AttemptOutcome::Failed, Some(reason), now);
                return self.store(call).await;
            }
        };
        let start = CallStart {
            target: call.target.clone(),
            channel: CallChannel::Phone,
            direction: CallDirection::Outbound,
            customer_name: call.customer_name.clone(),
            phone_number: Some(call.phone_number.as_str().to_owned()),
            session_key: None,
            provider_call_id: None,
            idempotency_key: Some(key.clone()),
        };
        let outcome = self
            .calls
            .place(
                organization,
                Some(call.user_id),
                start,
                telephony.as_ref(),
                |stored: &Call| dialer.dial(stored),
            )
            .await;
        let now = self.ports.clock.now();
        match outcome {
            Ok(opened) => match AttemptOutcome::of_call(opened.call.status) {
                // The conversation ended before it began (a flow that only says goodbye).
                Some(ended) => {
                    call.conclude(number, Some(opened.call.id), ended, None, now);
                }
                None => call.dialled(number, opened.call.id, now),
            },
            Err(CallError::TooManyCalls { limit }) => {
                info!(
                    limit,
                    "the organisation is at its cap of calls at once; the scheduled call waits"
                );
                let at = now + self.settings.postpone;
                call.postpone(call.window.as_ref().map_or(at, |w| w.next_open(at)), now);
            }
            Err(e @ (CallError::Unexpected(_) | CallError::Busy)) => {
                // Ours, not the callee's: wait a little without using an attempt. Should the call
                // have been stored, the next claim finds it by its key.
                warn!(error = ?e, "placing a scheduled call failed; it is tried again shortly");
                call.postpone(now + self.settings.postpone, now);
            }
            Err(refused) => {
                let stored = self
                    .calls
                    .find_placed(organization, &key)
                    .await
                    .map_err(call_error)?;
                warn!(error = %refused, "a scheduled call's attempt failed");
                call.conclude(
                    number,
                    stored.map(|c| c.id),
                    AttemptOutcome::Failed,
                    Some(refused.to_string()),
                    now,
                );
            }
        }
        self.store(call).await
    }

    /// Takes over the call a stopped claimer stored for attempt `number`.
    async fn adopt(
        &self,
        call: &mut ScheduledCall,
        number: u32,
        placed: Call,
        now: DateTime<Utc>,
    ) -> Result<(), ScheduleError> {
        if placed.end_reason.as_deref() == Some(UNCONFIRMED_END_REASON) {
            // The reconciler ended it before this claim came: never dialled again either.
            call.conclude(
                number,
                Some(placed.id),
                AttemptOutcome::Interrupted,
                Some(UNCONFIRMED_ATTEMPT.into()),
                now,
            );
        } else if let Some(ended) = AttemptOutcome::of_call(placed.status) {
            call.conclude(number, Some(placed.id), ended, None, now);
        } else if placed.provider_call_id.is_some() {
            call.dialled(number, placed.id, now);
        } else {
            let placed = self
                .calls
                .give_up_unconfirmed(placed.id)
                .await
                .map_err(call_error)?;
            if placed.provider_call_id.is_some() && !placed.status.is_final() {
                // Confirmed in the meantime.
                call.dialled(number, placed.id, now);
            } else {
                warn!(call.id = %placed.id, "a scheduled call's placement was interrupted; it is not dialled again");
                call.conclude(
                    number,
                    Some(placed.id),
                    AttemptOutcome::Interrupted,
                    Some(UNCONFIRMED_ATTEMPT.into()),
                    now,
                );
            }
        }
        Ok(())
    }

    /// Settles up to `limit` attempts whose call has ended: completed is done; busy, no answer,
    /// failed and canceled are retried while attempts remain (within the window), else the
    /// scheduled call has failed. Returns how many were settled.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn settle_finished(&self, limit: u32) -> Result<usize, ScheduleError> {
        let finished = self.ports.schedules.finished(limit).await?;
        let mut settled = 0;
        for (mut call, status) in finished {
            let (Some(outcome), Some(number)) = (
                AttemptOutcome::of_call(status),
                call.open_attempt().map(|a| a.number),
            ) else {
                continue;
            };
            let now = self.ports.clock.now();
            call.conclude(number, None, outcome, None, now);
            let expected = call.version;
            call.version += 1;
            // Another instance settling the same call at once wins or loses here; either way
            // it is settled once.
            if self.ports.schedules.save(&call, expected).await? == SaveScheduleOutcome::Saved {
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// Writes a worker's result, bumping the version. A conflict means the lease was lost to
    /// another worker: its write stands.
    async fn store(&self, mut call: ScheduledCall) -> Result<ScheduledCall, ScheduleError> {
        let expected = call.version;
        call.version += 1;
        match self.ports.schedules.save(&call, expected).await? {
            SaveScheduleOutcome::Saved => Ok(call),
            SaveScheduleOutcome::Conflict => {
                warn!(scheduled_call.id = %call.id, "another worker took this scheduled call over; its result stands");
                self.ports
                    .schedules
                    .find(call.organization_id, call.id)
                    .await?
                    .ok_or(ScheduleError::NotFound)
            }
        }
    }
}

fn call_error(e: CallError) -> ScheduleError {
    ScheduleError::Unexpected(anyhow::anyhow!(e))
}
