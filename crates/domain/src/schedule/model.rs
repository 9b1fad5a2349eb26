//! A scheduled call as stored: whom to call, with which agent or scenario, when, within which
//! window, how often to try, and what each attempt came to; and the rule that decides what
//! follows an attempt.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::window::CallingWindow;
use crate::call::{CallStatus, CallTarget};
use crate::ids::{CallId, CampaignId, OrganizationId, ScheduledCallId, UserId};
use crate::phone_number::E164;

/// Where a scheduled call is in its life.
///
/// `pending` waits for `due_at`; `dialing` has an attempt under way (being placed by a worker
/// holding the lease, or placed and waiting for the call to end); then one of the ends: `done`
/// (a call completed), `failed` (no attempt left), `canceled` (by a user, while pending).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleStatus {
    Pending,
    Dialing,
    Done,
    Failed,
    Canceled,
}

impl ScheduleStatus {
    const ALL: [Self; 5] = [
        Self::Pending,
        Self::Dialing,
        Self::Done,
        Self::Failed,
        Self::Canceled,
    ];

    /// The stored and displayed name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Dialing => "dialing",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Parses a stored or submitted name (`cancelled` too).
    ///
    /// # Errors
    /// A sentence listing the valid names.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim().to_ascii_lowercase();
        if name == "cancelled" {
            return Ok(Self::Canceled);
        }
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| {
                format!("{raw:?} is not one of pending, dialing, done, failed, canceled")
            })
    }

    /// Whether nothing more will happen to the scheduled call.
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Canceled)
    }
}

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Answered and ended normally.
    Completed,
    Busy,
    NoAnswer,
    /// The call failed, or could not be placed (the attempt's detail says why).
    Failed,
    /// The provider canceled the call before it was answered.
    Canceled,
    /// The instance placing the call stopped before the provider confirmed it, so nobody
    /// knows whether the phone rang; never retried, so that nobody is called twice.
    Interrupted,
}

impl AttemptOutcome {
    /// The outcome of an attempt whose call ended in `status`; `None` while it has not ended.
    #[must_use]
    pub const fn of_call(status: CallStatus) -> Option<Self> {
        match status {
            CallStatus::Completed => Some(Self::Completed),
            CallStatus::Busy => Some(Self::Busy),
            CallStatus::NoAnswer => Some(Self::NoAnswer),
            CallStatus::Failed => Some(Self::Failed),
            CallStatus::Canceled => Some(Self::Canceled),
            CallStatus::Queued | CallStatus::Ringing | CallStatus::InProgress => None,
        }
    }

    /// The stored and displayed name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Busy => "busy",
            Self::NoAnswer => "no_answer",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Interrupted => "interrupted",
        }
    }

    /// Whether another attempt may follow (busy, no answer, failed, canceled).
    #[must_use]
    pub const fn may_retry(self) -> bool {
        matches!(
            self,
            Self::Busy | Self::NoAnswer | Self::Failed | Self::Canceled
        )
    }
}

/// One try at the call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    /// The call placed for it; `None` when none could be stored.
    pub call_id: Option<CallId>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// `None` while the call is under way.
    pub outcome: Option<AttemptOutcome>,
    /// Why it failed, when more is known than the outcome says (a provider's refusal, a
    /// missing setting).
    pub detail: Option<String>,
}

/// How often a scheduled call is tried when nobody answers or it fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 means no retry).
    pub max_attempts: u32,
    /// The wait after a failed attempt before the next (then the window's next opening).
    pub delay: Duration,
}

impl RetryPolicy {
    /// The most attempts one scheduled call may have.
    pub const MAX_ATTEMPTS: u32 = 10;
    /// The shortest and longest delay between attempts, in minutes.
    pub const DELAY_MINUTES: std::ops::RangeInclusive<u32> = 1..=1440;

    /// What follows an attempt that ended with `outcome`, after `attempts_made` attempts, at
    /// `now`: done when it completed; another attempt `delay` later (moved to the window's next
    /// opening) when the outcome may be retried and attempts remain; else give up.
    #[must_use]
    pub fn next(
        &self,
        outcome: AttemptOutcome,
        attempts_made: u32,
        now: DateTime<Utc>,
        window: Option<&CallingWindow>,
    ) -> NextStep {
        if outcome == AttemptOutcome::Completed {
            return NextStep::Done;
        }
        if outcome.may_retry() && attempts_made < self.max_attempts {
            let at = now + self.delay;
            return NextStep::RetryAt(window.map_or(at, |w| w.next_open(at)));
        }
        NextStep::GiveUp
    }
}

impl Default for RetryPolicy {
    /// One attempt: a scheduled call rings once unless retries are asked for.
    fn default() -> Self {
        Self {
            max_attempts: 1,
            delay: Duration::minutes(10),
        }
    }
}

/// What follows an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    Done,
    RetryAt(DateTime<Utc>),
    GiveUp,
}

/// A worker's claim on a scheduled call: until `until`, no other worker takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub worker: String,
    pub until: DateTime<Utc>,
}

/// An outbound call to place at a given time.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledCall {
    pub id: ScheduledCallId,
    pub organization_id: OrganizationId,
    /// Who scheduled it: their custom scenarios are the ones found.
    pub user_id: UserId,
    /// The campaign it was scheduled with, when it was one of many.
    pub campaign_id: Option<CampaignId>,
    pub target: CallTarget,
    pub phone_number: E164,
    pub customer_name: Option<String>,
    /// The time the client asked for (now, when it asked for a time already past).
    pub scheduled_for: DateTime<Utc>,
    /// When the next step is due: the first attempt, a retry, or the window's next opening.
    pub due_at: DateTime<Utc>,
    pub window: Option<CallingWindow>,
    pub retry: RetryPolicy,
    pub status: ScheduleStatus,
    pub attempts: Vec<Attempt>,
    /// Held while a worker places an attempt.
    pub lease: Option<Lease>,
    /// Bumped by every write, so two writers never both apply.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ScheduledCall {
    /// The number the next attempt gets.
    #[must_use]
    pub fn next_attempt_number(&self) -> u32 {
        u32::try_from(self.attempts.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// The idempotency key the call of attempt `number` is placed with: whoever places that
    /// attempt again finds the call already made instead of dialling a second time.
    #[must_use]
    pub fn attempt_key(&self, number: u32) -> String {
        format!("scheduled-call:{}:{number}", self.id)
    }

    /// The attempt whose call is under way.
    #[must_use]
    pub fn open_attempt(&self) -> Option<&Attempt> {
        self.attempts.last().filter(|a| a.outcome.is_none())
    }

    /// The call of the attempt under way.
    #[must_use]
    pub fn current_call_id(&self) -> Option<CallId> {
        self.open_attempt().and_then(|a| a.call_id)
    }

    /// Ends the attempt under way with `outcome` (or records a finished one, when none is under
    /// way), then moves the scheduled call on as its retry policy says: done, pending until
    /// the retry, or failed. The lease is released.
    pub fn conclude(
        &mut self,
        number: u32,
        call_id: Option<CallId>,
        outcome: AttemptOutcome,
        detail: Option<String>,
        now: DateTime<Utc>,
    ) -> NextStep {
        match self.attempts.last_mut() {
            Some(open) if open.outcome.is_none() && open.number == number => {
                open.outcome = Some(outcome);
                open.ended_at = Some(now);
                open.detail = detail;
                open.call_id = open.call_id.or(call_id);
            }
            _ => self.attempts.push(Attempt {
                number,
                call_id,
                started_at: now,
                ended_at: Some(now),
                outcome: Some(outcome),
                detail,
            }),
        }
        let made = u32::try_from(self.attempts.len()).unwrap_or(u32::MAX);
        let next = self.retry.next(outcome, made, now, self.window.as_ref());
        match next {
            NextStep::Done => self.status = ScheduleStatus::Done,
            NextStep::GiveUp => self.status = ScheduleStatus::Failed,
            NextStep::RetryAt(at) => {
                self.status = ScheduleStatus::Pending;
                self.due_at = at;
            }
        }
        self.lease = None;
        self.updated_at = now;
        next
    }

    /// Records that attempt `number` placed `call`, now under way; the lease is released and
    /// the scheduled call waits for the call to end.
    pub fn dialled(&mut self, number: u32, call: CallId, now: DateTime<Utc>) {
        self.attempts.push(Attempt {
            number,
            call_id: Some(call),
            started_at: now,
            ended_at: None,
            outcome: None,
            detail: None,
        });
        self.status = ScheduleStatus::Dialing;
        self.lease = None;
        self.updated_at = now;
    }

    /// Puts the call back to wait until `at`, without using an attempt (its window is closed,
    /// or the organisation has as many calls at once as it may).
    pub fn postpone(&mut self, at: DateTime<Utc>, now: DateTime<Utc>) {
        self.status = ScheduleStatus::Pending;
        self.due_at = at;
        self.lease = None;
        self.updated_at = now;
    }
}

/// Which scheduled calls a list shows; every field narrows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduleFilter {
    pub status: Option<ScheduleStatus>,
    pub campaign_id: Option<CampaignId>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn utc(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn scheduled(retry: RetryPolicy, window: Option<CallingWindow>) -> ScheduledCall {
        let now = utc("2026-06-10T08:00:00Z");
        ScheduledCall {
            id: ScheduledCallId::new(),
            organization_id: OrganizationId::new(),
            user_id: UserId::new(),
            campaign_id: None,
            target: CallTarget::Scenario("sales".into()),
            phone_number: E164::parse("+14155550123").unwrap(),
            customer_name: None,
            scheduled_for: now,
            due_at: now,
            window,
            retry,
            status: ScheduleStatus::Dialing,
            attempts: Vec::new(),
            lease: None,
            version: 0,
            created_at: now,
            updated_at: now,
        }
    }

    const THREE_TRIES: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        delay: Duration::minutes(30),
    };

    #[test]
    fn a_completed_call_is_done_whatever_remains() {
        let now = utc("2026-06-10T08:00:00Z");
        assert_eq!(
            THREE_TRIES.next(AttemptOutcome::Completed, 1, now, None),
            NextStep::Done
        );
    }

    #[test]
    fn busy_no_answer_failed_and_canceled_retry_while_attempts_remain() {
        let now = utc("2026-06-10T08:00:00Z");
        for outcome in [
            AttemptOutcome::Busy,
            AttemptOutcome::NoAnswer,
            AttemptOutcome::Failed,
            AttemptOutcome::Canceled,
        ] {
            assert_eq!(
                THREE_TRIES.next(outcome, 1, now, None),
                NextStep::RetryAt(utc("2026-06-10T08:30:00Z")),
                "{outcome:?}"
            );
            assert_eq!(
                THREE_TRIES.next(outcome, 2, now, None),
                NextStep::RetryAt(utc("2026-06-10T08:30:00Z"))
            );
            assert_eq!(THREE_TRIES.next(outcome, 3, now, None), NextStep::GiveUp);
            assert_eq!(
                RetryPolicy::default().next(outcome, 1, now, None),
                NextStep::GiveUp
            );
        }
    }

    #[test]
    fn an_interrupted_attempt_is_never_retried() {
        let now = utc("2026-06-10T08:00:00Z");
        assert_eq!(
            THREE_TRIES.next(AttemptOutcome::Interrupted, 1, now, None),
            NextStep::GiveUp
        );
    }

    #[test]
    fn a_retry_waits_for_the_window() {
        let days: Vec<String> = ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|d| (*d).to_owned())
            .collect();
        let window = CallingWindow::parse("Europe/Berlin", &days, "09:00", "17:00").unwrap();
        // Friday 16:45 in Berlin: 30 minutes later is closed, so Monday 09:00.
        let now = utc("2026-06-12T14:45:00Z");
        assert_eq!(
            THREE_TRIES.next(AttemptOutcome::NoAnswer, 1, now, Some(&window)),
            NextStep::RetryAt(utc("2026-06-15T07:00:00Z"))
        );
    }

    #[test]
    fn concluding_closes_the_open_attempt_and_moves_the_call_on() {
        let mut call = scheduled(THREE_TRIES, None);
        let now = utc("2026-06-10T08:00:00Z");
        let first = CallId::new();
        call.dialled(1, first, now);
        assert_eq!(call.current_call_id(), Some(first));
        assert_eq!(call.next_attempt_number(), 2);
        let later = now + Duration::minutes(2);
        let next = call.conclude(1, None, AttemptOutcome::Busy, None, later);
        assert_eq!(next, NextStep::RetryAt(later + Duration::minutes(30)));
        assert_eq!(call.status, ScheduleStatus::Pending);
        assert_eq!(call.due_at, later + Duration::minutes(30));
        assert_eq!(call.attempts.len(), 1);
        assert_eq!(call.attempts[0].call_id, Some(first));
        assert_eq!(call.attempts[0].ended_at, Some(later));
        assert_eq!(call.current_call_id(), None);

        // An attempt that never got a call is recorded whole.
        let next = call.conclude(
            2,
            None,
            AttemptOutcome::Failed,
            Some("telephony not configured".into()),
            later,
        );
        assert!(matches!(next, NextStep::RetryAt(_)));
        assert_eq!(call.attempts.len(), 2);
        assert_eq!(call.attempts[1].number, 2);
        assert_eq!(
            call.attempts[1].detail.as_deref(),
            Some("telephony not configured")
        );

        call.dialled(3, CallId::new(), later);
        call.conclude(3, None, AttemptOutcome::NoAnswer, None, later);
        assert_eq!(call.status, ScheduleStatus::Failed);
        assert_eq!(call.attempts.len(), 3);
    }

    #[test]
    fn attempt_keys_differ_per_attempt_and_call() {
        let a = scheduled(THREE_TRIES, None);
        let b = scheduled(THREE_TRIES, None);
        assert_ne!(a.attempt_key(1), a.attempt_key(2));
        assert_ne!(a.attempt_key(1), b.attempt_key(1));
    }

    #[test]
    fn statuses_parse_and_print() {
        for status in ScheduleStatus::ALL {
            assert_eq!(ScheduleStatus::parse(status.as_str()), Ok(status));
        }
        assert_eq!(
            ScheduleStatus::parse(" Cancelled "),
            Ok(ScheduleStatus::Canceled)
        );
        assert!(ScheduleStatus::parse("ringing").is_err());
        assert!(ScheduleStatus::Done.is_final() && !ScheduleStatus::Dialing.is_final());
    }
}
