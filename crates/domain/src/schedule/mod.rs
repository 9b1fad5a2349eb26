//! Scheduled calls: outbound phone calls to place at a given time, alone or as a campaign of
//! many numbers, optionally only within a calling window and with retries when nobody answers;
//! and the worker's steps that place them through [`crate::call::CallService::place`].
//!
//! Claims and leases, so that N instances never dial one scheduled call twice:
//! - A worker claims due calls atomically (`pending` -> `dialing`, with a lease of its own
//!   until a deadline): two claimers never get the same call while the lease lasts.
//! - Every attempt's call is placed with an idempotency key of its own
//!   ([`ScheduledCall::attempt_key`]). A worker that stopped mid-placement leaves its lease to
//!   run out; whoever claims the call next looks that key up first and adopts the call it
//!   finds instead of dialling. A found call the provider never confirmed (no provider id) may
//!   or may not have rung: its attempt is `interrupted` and never retried.
//! - Once placed, the attempt's call id is stored and the lease released; the call's end
//!   (reported by the provider) settles the attempt, with a compare-and-set on the version so
//!   that two instances settle it once.

mod input;
mod model;
mod service;
mod window;

pub use input::{MAX_CAMPAIGN_NUMBERS, MAX_DAYS_AHEAD, Recipient, ScheduleRequest, WindowRequest};
pub use model::{
    Attempt, AttemptOutcome, Lease, NextStep, RetryPolicy, ScheduleFilter, ScheduleStatus,
    ScheduledCall,
};
pub use service::{
    CallDialer, ScheduleError, SchedulePorts, ScheduleService, ScheduleSettings, WorkDone,
};
pub use window::CallingWindow;
