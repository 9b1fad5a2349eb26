//! Phone calls: placing an outbound call through the telephony port (with a per-organisation cap
//! on calls at once and an idempotency key, so a retried request never dials twice), and
//! following the provider's reports of its progress, which may arrive out of order and never move
//! a call backwards.

use super::events::tell_saved;
use super::model::{Call, CallChannel, CallDirection, CallStatus};
use super::service::{CallError, CallService, CallStart, Opened};
use crate::conversation::ConversationState;
use crate::ids::{OrganizationId, UserId};
use crate::phone_number::E164;
use crate::ports::{ChatRole, Dial, SaveCallOutcome, Telephony};
use crate::validation::ValidationErrors;

/// How many writes of one status report are tried against concurrent updates of the call.
const SAVE_ATTEMPTS: usize = 5;

/// The end reason of a phone call whose dial the provider never confirmed: whether the phone
/// rang is unknown, so nothing dials it again.
pub const UNCONFIRMED_END_REASON: &str = "interrupted";

/// Calls an organisation may have at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallLimits {
    /// Live calls per organisation, inbound and outbound together.
    pub per_organization: u32,
    /// Of those, slots only inbound calls may take, so outbound campaigns never lock callers out.
    pub inbound_reserved: u32,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            per_organization: 50,
            inbound_reserved: 5,
        }
    }
}

impl CallLimits {
    /// How many live calls leave room for one more in this direction.
    #[must_use]
    pub fn room_for(&self, direction: CallDirection) -> u32 {
        match direction {
            CallDirection::Inbound => self.per_organization,
            CallDirection::Outbound => self.per_organization.saturating_sub(self.inbound_reserved),
        }
    }
}

/// The greeting a call opened with, read back from its conversation.
fn first_message(conversation: &ConversationState) -> String {
    conversation
        .messages
        .iter()
        .find(|m| m.role == ChatRole::Assistant)
        .and_then(|m| m.content.clone())
        .unwrap_or_default()
}

impl CallService {
    /// Whether the organisation may take one more call in `direction` now.
    ///
    /// # Errors
    /// `TooManyCalls` at the cap.
    pub async fn check_capacity(
        &self,
        organization: OrganizationId,
        direction: CallDirection,
    ) -> Result<(), CallError> {
        let limit = self.limits().room_for(direction);
        let live = self.ports().calls.count_active(organization).await?;
        if live >= u64::from(limit) {
            return Err(CallError::TooManyCalls {
                limit: self.limits().per_organization,
            });
        }
        Ok(())
    }

    /// Places an outbound phone call: stores it (queued), then asks the telephony provider to
    /// dial, with the `Dial` that `dial` builds for the stored call. A request with an
    /// idempotency key the organisation used before answers that call and dials nothing.
    ///
    /// # Errors
    /// `Invalid` for a number that is not E.164; `TooManyCalls`; as [`CallService::start`];
    /// `Telephony` when the provider refuses or fails (the call is stored as failed).
    pub async fn place(
        &self,
        organization: OrganizationId,
        user: Option<UserId>,
        mut start: CallStart,
        telephony: &dyn Telephony,
        dial: impl FnOnce(&Call) -> Dial + Send,
    ) -> Result<Opened, CallError> {
        let raw = start.phone_number.clone().unwrap_or_default();
        let number = E164::parse(&raw).map_err(|message| {
            let mut errors = ValidationErrors::new();
            errors.add("phone_number", message);
            CallError::Invalid(errors)
        })?;
        start.phone_number = Some(number.as_str().to_owned());
        start.channel = CallChannel::Phone;
        start.direction = CallDirection::Outbound;
        if let Some(key) = &start.idempotency_key
            && let Some(call) = self
                .ports()
                .calls
                .find_by_idempotency_key(organization, key)
                .await?
        {
            let first_message = first_message(&call.conversation);
            return Ok(Opened {
                call,
                first_message,
            });
        }
        self.check_capacity(organization, CallDirection::Outbound)
            .await?;
        let mut opened = self.start(organization, user, start).await?;
        if !opened.call.is_active() {
            // The conversation ended before it began (a flow that only says goodbye): there is
            // nobody to call.
            return Ok(opened);
        }
        let outcome = telephony.dial(&dial(&opened.call)).await;
        let call = &mut opened.call;
        let was = call.status;
        let expected = call.version;
        call.version += 1;
        call.updated_at = self.ports().clock.now();
        let result = match outcome {
            Ok(placed) => {
                call.provider_call_id = Some(placed.provider_call_id);
                Ok(())
            }
            Err(e) => {
                call.finish(CallStatus::Failed, "dial_failed", call.updated_at);
                Err(CallError::Telephony(e))
            }
        };
        match self.ports().calls.save(call, expected, &[]).await? {
            SaveCallOutcome::Saved => tell_saved(self.events(), was, call, &[], call.updated_at),
            // The provider reported progress before the placement was written: keep theirs,
            // adding the provider's id.
            SaveCallOutcome::Conflict => {
                if let Some(id) = call.provider_call_id.clone() {
                    self.note_provider_id(call.id, &id).await?;
                }
            }
        }
        result.map(|()| opened)
    }

    /// The organisation's call placed with this idempotency key, if any.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn find_placed(
        &self,
        organization: OrganizationId,
        idempotency_key: &str,
    ) -> Result<Option<Call>, CallError> {
        Ok(self
            .ports()
            .calls
            .find_by_idempotency_key(organization, idempotency_key)
            .await?)
    }

    /// Ends, as failed (`interrupted`), a queued call the provider never confirmed: its placing
    /// instance stopped between storing it and recording the provider's id. Whether the phone
    /// rang is unknown, so it is not dialled again; ending it frees its slot among the
    /// organisation's calls at once. Any other call is returned as it is.
    ///
    /// # Errors
    /// `NotFound`; `Busy` when the call keeps changing under the update.
    pub async fn give_up_unconfirmed(&self, id: crate::ids::CallId) -> Result<Call, CallError> {
        for _ in 0..SAVE_ATTEMPTS {
            let Some(mut call) = self.ports().calls.find_unscoped(id).await? else {
                return Err(CallError::NotFound);
            };
            if call.status != CallStatus::Queued || call.provider_call_id.is_some() {
                return Ok(call);
            }
            let now = self.ports().clock.now();
            let was = call.status;
            let expected = call.version;
            call.version += 1;
            call.updated_at = now;
            call.finish(CallStatus::Failed, UNCONFIRMED_END_REASON, now);
            if self.ports().calls.save(&call, expected, &[]).await? == SaveCallOutcome::Saved {
                tell_saved(self.events(), was, &call, &[], now);
                return Ok(call);
            }
        }
        Err(CallError::Busy)
    }

    async fn note_provider_id(
        &self,
        id: crate::ids::CallId,
        provider_call_id: &str,
    ) -> Result<(), CallError> {
        for _ in 0..SAVE_ATTEMPTS {
            let Some(mut call) = self.ports().calls.find_unscoped(id).await? else {
                return Err(CallError::NotFound);
            };
            let expected = call.version;
            call.version += 1;
            call.provider_call_id = Some(provider_call_id.to_owned());
            if self.ports().calls.save(&call, expected, &[]).await? == SaveCallOutcome::Saved {
                return Ok(());
            }
        }
        Err(CallError::Busy)
    }

    /// Applies the telephony provider's report that the call `provider_call_id` is now in
    /// `status`, with its connected seconds when the report has them. Reports that would move
    /// the call backwards (they arrive out of order) change nothing; a report for an unknown
    /// call is `Ok(None)`.
    ///
    /// # Errors
    /// Only on storage failure, or `Busy` when the call keeps changing under the update.
    pub async fn provider_status(
        &self,
        provider_call_id: &str,
        status: CallStatus,
        talk_secs: Option<i64>,
    ) -> Result<Option<Call>, CallError> {
        for _ in 0..SAVE_ATTEMPTS {
            let Some(mut call) = self
                .ports()
                .calls
                .find_by_provider_id(provider_call_id)
                .await?
            else {
                return Ok(None);
            };
            let moves = call.status.may_become(status);
            let counts = talk_secs.is_some() && talk_secs != call.talk_secs && status.is_final();
            if !moves && !counts {
                return Ok(Some(call));
            }
            let now = self.ports().clock.now();
            let was = call.status;
            let expected = call.version;
            call.version += 1;
            call.updated_at = now;
            if moves {
                if status.is_final() {
                    let reason = match status {
                        CallStatus::Busy => "busy",
                        CallStatus::NoAnswer => "no_answer",
                        CallStatus::Canceled => "canceled",
                        CallStatus::Failed => "failed",
                        _ => "completed",
                    };
                    call.finish(status, reason, now);
                } else {
                    call.status = status;
                }
            }
            if counts {
                call.talk_secs = talk_secs;
            }
            if self.ports().calls.save(&call, expected, &[]).await? == SaveCallOutcome::Saved {
                tell_saved(self.events(), was, &call, &[], now);
                return Ok(Some(call));
            }
        }
        Err(CallError::Busy)
    }

    /// Ends the call `provider_call_id` as completed with `reason` (an answering machine took
    /// it, say), unless it has ended already; `Ok(None)` for a call this server does not know.
    ///
    /// # Errors
    /// Only on storage failure, or `Busy` when the call keeps changing under the update.
    pub async fn end_by_provider_id(
        &self,
        provider_call_id: &str,
        reason: &str,
    ) -> Result<Option<Call>, CallError> {
        for _ in 0..SAVE_ATTEMPTS {
            let Some(mut call) = self
                .ports()
                .calls
                .find_by_provider_id(provider_call_id)
                .await?
            else {
                return Ok(None);
            };
            if !call.is_active() {
                return Ok(Some(call));
            }
            let now = self.ports().clock.now();
            let was = call.status;
            let expected = call.version;
            call.version += 1;
            call.updated_at = now;
            call.finish(CallStatus::Completed, reason, now);
            if self.ports().calls.save(&call, expected, &[]).await? == SaveCallOutcome::Saved {
                tell_saved(self.events(), was, &call, &[], now);
                return Ok(Some(call));
            }
        }
        Err(CallError::Busy)
    }
}
