//! The telephony port: placing phone calls and controlling them while they last. An adapter
//! (Twilio) turns these requests into its own API; the call's audio then arrives over a media
//! stream the request names.

use async_trait::async_trait;

use crate::call::CallStatus;

/// Why the telephony provider could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum TelephonyError {
    /// The request was refused: an invalid or unreachable number, a caller id the account may
    /// not use, bad credentials. Retrying will not help; the message says why.
    #[error("the telephony provider refused the request: {0}")]
    Rejected(String),
    /// The call is unknown to the provider, or already over.
    #[error("the telephony provider does not know this call, or it has ended")]
    NoSuchCall,
    /// Unreachable, overloaded or failing, after the adapter's own retries.
    #[error("the telephony provider is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Where a call's audio goes once it is answered: a bidirectional media stream, with parameters
/// the stream's first message carries back (the call's id and a token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaStreamTarget {
    /// A `wss://` address.
    pub url: String,
    pub parameters: Vec<(String, String)>,
}

/// A phone call to place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dial {
    /// E.164.
    pub to: String,
    /// E.164: a number of the account.
    pub from: String,
    pub stream: MediaStreamTarget,
    /// Where the provider reports the call's progress (ringing, answered, completed, ...).
    pub status_callback: String,
    /// Where the provider reports whether a person or a machine answered; `None` skips
    /// answering-machine detection.
    pub machine_detection_callback: Option<String>,
    /// How long to let it ring.
    pub ring_timeout_secs: u32,
}

/// A call the provider accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedCall {
    /// The provider's id of the call (Twilio's `CallSid`).
    pub provider_call_id: String,
    /// The provider's status name when it answered (`queued`, ...).
    pub status: String,
}

/// How the provider says a call stands now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProviderCallState {
    pub status: CallStatus,
    /// Seconds the call was connected, once it has ended.
    pub talk_secs: Option<i64>,
}

/// Placing and controlling phone calls.
///
/// Contract, for every adapter:
/// - `dial` resolves once the provider has accepted the call (not when it is answered); it is
///   not retried after the provider may have accepted it, so a call is never placed twice.
/// - `hang_up`, `transfer` and `play_and_hang_up` act on a live call; `NoSuchCall` when it is
///   unknown or over. They are idempotent from the caller's side: hanging up an ended call is
///   `NoSuchCall`, never a second call.
/// - `fetch` only reads; `NoSuchCall` means the provider does not know the call at all.
#[async_trait]
pub trait Telephony: Send + Sync {
    /// The provider, for logs and health.
    fn name(&self) -> &str;

    /// Places an outbound call.
    ///
    /// # Errors
    /// As [`TelephonyError`] describes.
    async fn dial(&self, dial: &Dial) -> Result<PlacedCall, TelephonyError>;

    /// Ends a call: cancels it while it rings, hangs it up once answered.
    ///
    /// # Errors
    /// As [`TelephonyError`] describes.
    async fn hang_up(&self, provider_call_id: &str) -> Result<(), TelephonyError>;

    /// Moves a live call to another number (a cold transfer: the agent leaves the call).
    ///
    /// # Errors
    /// As [`TelephonyError`] describes.
    async fn transfer(&self, provider_call_id: &str, to: &str) -> Result<(), TelephonyError>;

    /// Says `text` on a live call, then hangs up (a voicemail message).
    ///
    /// # Errors
    /// As [`TelephonyError`] describes.
    async fn play_and_hang_up(
        &self,
        provider_call_id: &str,
        text: &str,
    ) -> Result<(), TelephonyError>;

    /// How the call stands at the provider now, for calls whose progress reports went missing.
    ///
    /// # Errors
    /// As [`TelephonyError`] describes.
    async fn fetch(&self, provider_call_id: &str) -> Result<ProviderCallState, TelephonyError>;
}
