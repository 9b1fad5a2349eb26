//! A call carried by a live voice channel (a phone media stream, a browser socket): the channel
//! takes the stored call up, records each transcript line the moment it is said, and finishes the
//! call with what the caller heard, so a call that breaks off keeps every line spoken before.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::events::tell_saved;
use super::model::{Call, CallStatus, NewCallTurn};
use super::service::{CallError, CallService, context_of};
use crate::conversation::{CallContext, ConversationEngine, ConversationState};
use crate::events::EventPublisher;
use crate::ids::{CallId, OrganizationId};
use crate::ports::{CallRepository, Clock, SaveCallOutcome};

/// How often a write is retried after a concurrent update of the call (a client ending it, say)
/// before giving up.
const SAVE_ATTEMPTS: usize = 5;

/// A stored call that a voice channel is carrying.
pub struct LiveCall {
    call: Call,
    context: CallContext,
    engine: ConversationEngine,
    calls: Arc<dyn CallRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventPublisher>,
}

impl std::fmt::Debug for LiveCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCall")
            .field("call", &self.call.id)
            .finish_non_exhaustive()
    }
}

impl CallService {
    /// Takes up a stored, active call for a voice channel. With `organization`, the call must be
    /// that organisation's (a user's socket); without, the id alone finds it (a provider's media
    /// stream, which the server pointed at this call itself).
    ///
    /// # Errors
    /// `NotFound`; `Ended` when the call is over.
    pub async fn go_live(
        &self,
        id: CallId,
        organization: Option<OrganizationId>,
    ) -> Result<LiveCall, CallError> {
        let calls = Arc::clone(&self.ports().calls);
        let call = match organization {
            Some(organization) => calls.find(organization, id).await?,
            None => calls.find_unscoped(id).await?,
        }
        .ok_or(CallError::NotFound)?;
        if !call.is_active() {
            return Err(CallError::Ended);
        }
        let context = context_of(&call)?;
        Ok(LiveCall {
            call,
            context,
            engine: self.engine().clone(),
            calls,
            clock: Arc::clone(&self.ports().clock),
            events: Arc::clone(&self.ports().events),
        })
    }
}

impl LiveCall {
    /// The call as last written.
    #[must_use]
    pub fn call(&self) -> &Call {
        &self.call
    }

    /// What the conversation engine needs for this call.
    #[must_use]
    pub fn context(&self) -> &CallContext {
        &self.context
    }

    /// The engine that answers the call's turns.
    #[must_use]
    pub fn engine(&self) -> &ConversationEngine {
        &self.engine
    }

    /// Now, by the service's clock.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Notes that the channel has joined: the call is in progress (a queued or ringing outbound
    /// call has been answered), with the provider's id of the call when the channel knows it.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn answered(&mut self, provider_call_id: Option<&str>) -> Result<(), CallError> {
        let same_id =
            provider_call_id.is_none() || self.call.provider_call_id.as_deref() == provider_call_id;
        if same_id && self.call.status == CallStatus::InProgress {
            return Ok(());
        }
        self.write(&[], |call| {
            if let Some(id) = provider_call_id {
                call.provider_call_id = Some(id.to_owned());
            }
            if call.status.may_become(CallStatus::InProgress) {
                call.status = CallStatus::InProgress;
            }
        })
        .await
    }

    /// Appends a transcript line.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn record(&mut self, turn: NewCallTurn) -> Result<(), CallError> {
        self.write(std::slice::from_ref(&turn), |_| {}).await
    }

    /// Ends the call, keeping the conversation as the caller heard it and the recording's
    /// address. A call that was already ended meanwhile (by a client) keeps its status and reason.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn finish(
        &mut self,
        conversation: ConversationState,
        status: CallStatus,
        reason: &str,
        recording_url: Option<String>,
    ) -> Result<Call, CallError> {
        let at = self.clock.now();
        self.write(&[], |call| {
            call.conversation = conversation.clone();
            if recording_url.is_some() {
                call.recording_url.clone_from(&recording_url);
            }
            if call.is_active() {
                call.finish(status, reason, at);
            }
        })
        .await?;
        Ok(self.call.clone())
    }

    /// Applies `change` and writes the call with `turns`; when another writer got there first,
    /// reads the call again, applies `change` to that, and tries again, so nothing is lost.
    async fn write(
        &mut self,
        turns: &[NewCallTurn],
        change: impl Fn(&mut Call),
    ) -> Result<(), CallError> {
        for _ in 0..SAVE_ATTEMPTS {
            let mut next = self.call.clone();
            change(&mut next);
            let expected = next.version;
            next.version += 1;
            next.updated_at = self.clock.now();
            match self.calls.save(&next, expected, turns).await? {
                SaveCallOutcome::Saved => {
                    tell_saved(
                        self.events.as_ref(),
                        self.call.status,
                        &next,
                        turns,
                        next.updated_at,
                    );
                    self.call = next;
                    return Ok(());
                }
                SaveCallOutcome::Conflict => {
                    let stored = self
                        .calls
                        .find_unscoped(self.call.id)
                        .await?
                        .ok_or(CallError::NotFound)?;
                    // Keep the conversation this channel holds; take everything else as stored.
                    let conversation = std::mem::take(&mut self.call.conversation);
                    self.call = stored;
                    self.call.conversation = conversation;
                }
            }
        }
        Err(CallError::Busy)
    }
}
