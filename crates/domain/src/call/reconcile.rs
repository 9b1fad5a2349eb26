//! Reconciling phone calls whose progress reports went missing: a status callback lost, or sent
//! while no instance was up. Such a call would stay live for ever, holding a slot under the
//! organisation's cap and keeping a scheduled call `dialing`. The provider is asked how each
//! stands, and its answer goes through the path a status callback takes.
//!
//! Any number of instances may reconcile the same calls at once: every write is guarded by the
//! call's version and only ever moves a call forward, so a call ends once, with one `call.ended`
//! event and one analysis job, whichever instance gets there first.

use chrono::Duration;
use tracing::{info, warn};

use super::events::tell_saved;
use super::model::{Call, CallStatus};
use super::service::{CallError, CallService};
use crate::ports::{SaveCallOutcome, Telephony, TelephonyError};

/// How many writes of one end are tried against concurrent updates of the call.
const SAVE_ATTEMPTS: usize = 5;

/// The end reason of a call the provider says it does not know.
pub const LOST_END_REASON: &str = "lost";

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Stale live calls looked at.
    pub checked: usize,
    /// Of those, calls this pass moved on (ended, mostly).
    pub changed: usize,
}

impl CallService {
    /// Looks at up to `limit` live phone calls not updated for `older_than` and brings each up
    /// to date:
    /// - with a provider id: the provider's status and duration are applied as a status callback
    ///   would apply them ([`CallService::provider_status`]); a call the provider does not know
    ///   ends as failed (`lost`); a provider that cannot answer now leaves the call for the next
    ///   pass;
    /// - without one, the dial was never confirmed: the call ends as
    ///   [`CallService::give_up_unconfirmed`] ends it, as a scheduled call's claimer would.
    ///
    /// A call the provider still reports live is left as it is (its media session, on whichever
    /// instance, carries it).
    ///
    /// # Errors
    /// Only when the stale calls cannot be read; a failure on one call is logged and leaves the
    /// others alone.
    pub async fn reconcile_stale(
        &self,
        telephony: &dyn Telephony,
        older_than: Duration,
        limit: u32,
    ) -> Result<Reconciled, CallError> {
        let updated_before = self.ports().clock.now() - older_than;
        let stale = self
            .ports()
            .calls
            .find_stale_live_phone_calls(updated_before, limit)
            .await?;
        let mut done = Reconciled {
            checked: stale.len(),
            changed: 0,
        };
        for call in stale {
            match self.reconcile_one(telephony, &call).await {
                Ok(true) => done.changed += 1,
                Ok(false) => {}
                Err(error) => {
                    warn!(call.id = %call.id, error = ?error, "a stale call could not be reconciled; it is tried again at the next pass");
                }
            }
        }
        Ok(done)
    }

    /// Whether the call changed.
    async fn reconcile_one(
        &self,
        telephony: &dyn Telephony,
        call: &Call,
    ) -> Result<bool, CallError> {
        let Some(provider_call_id) = &call.provider_call_id else {
            let after = self.give_up_unconfirmed(call.id).await?;
            let changed = after.version != call.version && !after.is_active();
            if changed {
                info!(call.id = %call.id, "a call the provider never confirmed was ended");
            }
            return Ok(changed);
        };
        match telephony.fetch(provider_call_id).await {
            Ok(state) => {
                let after = self
                    .provider_status(provider_call_id, state.status, state.talk_secs)
                    .await?;
                let changed = after.is_some_and(|after| after.status != call.status);
                if changed {
                    info!(call.id = %call.id, call.status = state.status.as_str(), "a stale call was brought up to date from the provider");
                }
                Ok(changed)
            }
            Err(TelephonyError::NoSuchCall) => {
                let changed = self.end_lost(call).await?;
                if changed {
                    warn!(call.id = %call.id, "the provider does not know a live call; it was ended as lost");
                }
                Ok(changed)
            }
            Err(error) => Err(CallError::Telephony(error)),
        }
    }

    /// Ends `seen` as failed (`lost`) unless it has ended or moved on since it was read: a call
    /// updated since then has news of its own, and waits for the next pass. Whether it changed.
    async fn end_lost(&self, seen: &Call) -> Result<bool, CallError> {
        for _ in 0..SAVE_ATTEMPTS {
            let Some(mut call) = self.ports().calls.find_unscoped(seen.id).await? else {
                return Err(CallError::NotFound);
            };
            if !call.is_active() || call.updated_at != seen.updated_at {
                return Ok(false);
            }
            let now = self.ports().clock.now();
            let was = call.status;
            let expected = call.version;
            call.version += 1;
            call.updated_at = now;
            call.finish(CallStatus::Failed, LOST_END_REASON, now);
            if self.ports().calls.save(&call, expected, &[]).await? == SaveCallOutcome::Saved {
                tell_saved(self.events(), was, &call, &[], now);
                return Ok(true);
            }
        }
        Err(CallError::Busy)
    }
}
