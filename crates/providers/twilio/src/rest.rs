//! [`TwilioClient`], the REST adapter of the `Telephony` port (PROVIDERS.md 1.1 to 1.4): it
//! places calls (`POST Calls.json` with inline `<Connect><Stream>` TwiML), modifies live ones
//! (`POST Calls/{sid}.json`: hang up, transfer, say and hang up) and fetches them. It owns the
//! HTTP Basic credentials, the form encoding, Twilio's Call JSON and error bodies, and the
//! translation of Twilio's answers into [`TelephonyError`].

use std::fmt;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use switchboard_domain::call::CallStatus;
use switchboard_domain::ports::{Dial, PlacedCall, ProviderCallState, Telephony, TelephonyError};
use switchboard_provider_http::endpoint;
use tracing::{debug, instrument};
use url::Url;

use crate::config::{TwilioConfig, TwilioConfigError};
use crate::transport::{Expected, Failure, Resend, Transport, is_sid};
use crate::twiml;

/// Twilio refuses inline TwiML longer than this many characters.
pub const MAX_TWIML_CHARS: usize = 4000;
/// Twilio's API version, the first segment of every path.
const API_VERSION: &str = "2010-04-01";
/// A Call resource is a few kilobytes; anything much larger is not one.
const CALL_RESOURCE: Expected = Expected {
    name: "a Call resource",
    max_bytes: 64 * 1024,
};
/// The call progress events a dial asks to hear about, each sent as its own form key.
const STATUS_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];
/// Twilio's error code for an operation on a call that is not in progress (it has ended, or has
/// not been answered yet).
const INVALID_CALL_STATE: u64 = 21220;

/// A Twilio call status name (`CallStatus` of a status callback, `status` of a Call resource) as
/// the call's status; `None` for a name Twilio does not use.
#[must_use]
pub fn call_status(twilio: &str) -> Option<CallStatus> {
    Some(match twilio {
        "queued" | "initiated" => CallStatus::Queued,
        "ringing" => CallStatus::Ringing,
        "in-progress" | "answered" => CallStatus::InProgress,
        "completed" => CallStatus::Completed,
        "busy" => CallStatus::Busy,
        "no-answer" => CallStatus::NoAnswer,
        "failed" => CallStatus::Failed,
        "canceled" => CallStatus::Canceled,
        _ => return None,
    })
}

/// A call as Twilio reports it (`GET Calls/{sid}.json`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallDetails {
    /// `CA...`.
    pub sid: String,
    /// `queued`, `ringing`, `in-progress`, `completed`, `busy`, `failed`, `no-answer` or
    /// `canceled`.
    pub status: String,
    /// How long the call lasted, once it has ended (Twilio sends it as a string).
    pub duration_secs: Option<u32>,
    /// `human`, `machine_start`, `unknown`, ... when answering-machine detection ran.
    pub answered_by: Option<String>,
    /// `outbound-api` for the calls [`TwilioClient`] places, `inbound`, ...
    pub direction: Option<String>,
}

/// Places and controls phone calls through Twilio's REST API.
///
/// - `dial` is sent once: it is retried only when no connection to Twilio could be made, since
///   then nothing was sent and no call can exist. Any failure after the request may have left
///   (a timeout, a broken connection, a 5xx, even a 429) is returned as it is, so a call is never
///   placed twice; a timeout or broken connection says the call may have been placed.
/// - Requests on a live call set its state or its TwiML, so sending them again does no harm:
///   they are retried on 429 (after `Retry-After`), 5xx and connection failures.
/// - 404 on a call, and Twilio's 21220 (the call is not in progress), are `NoSuchCall`; other
///   4xx are `Rejected` with Twilio's message and error code; 429, 5xx, timeouts and connection
///   failures are `Unavailable`.
pub struct TwilioClient {
    transport: Transport,
    calls_url: Url,
    base_url: Url,
    account_sid: String,
}

impl fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioClient")
            .field("account_sid", &self.account_sid)
            .field("calls_url", &self.calls_url.as_str())
            .field("transport", &self.transport)
            .finish()
    }
}

impl TwilioClient {
    /// A client for the account `config` names; nothing is sent until the first request.
    ///
    /// # Errors
    /// When the account SID is not letters and digits, the token is empty, the base URL is not
    /// http(s) with a host, or the HTTP client cannot be built.
    pub fn new(config: &TwilioConfig) -> Result<Self, TwilioConfigError> {
        if !is_sid(&config.account_sid) {
            return Err(TwilioConfigError::AccountSid(config.account_sid.clone()));
        }
        let calls_url = endpoint(
            &config.base_url,
            &format!("/{API_VERSION}/Accounts/{}/Calls.json", config.account_sid),
        )
        .map_err(|_| TwilioConfigError::BaseUrl(config.base_url.to_string()))?;
        Ok(Self {
            transport: Transport::new(config)?,
            calls_url,
            base_url: config.base_url.clone(),
            account_sid: config.account_sid.clone(),
        })
    }

    /// Asks Twilio how a call stands.
    ///
    /// # Errors
    /// `NoSuchCall` when Twilio does not know the call; otherwise as the port's errors describe.
    #[instrument(skip_all, fields(call.sid = %provider_call_id))]
    pub async fn fetch_call(&self, provider_call_id: &str) -> Result<CallDetails, TelephonyError> {
        let url = self.call_url(provider_call_id)?;
        let call: CallResource = self
            .transport
            .send(
                "fetch",
                Method::GET,
                &url,
                None,
                Resend::Idempotent,
                CALL_RESOURCE,
            )
            .await
            .map_err(|failure| failure.into_error(Target::LiveCall))?;
        Ok(call.into_details())
    }

    /// `Calls/{sid}.json`; a sid that is not letters and digits cannot name a Twilio call (and
    /// must not reach the path).
    fn call_url(&self, sid: &str) -> Result<Url, TelephonyError> {
        if !is_sid(sid) {
            return Err(TelephonyError::NoSuchCall);
        }
        endpoint(
            &self.base_url,
            &format!(
                "/{API_VERSION}/Accounts/{}/Calls/{sid}.json",
                self.account_sid
            ),
        )
        .map_err(|e| TelephonyError::Unexpected(e.into()))
    }

    /// POSTs `form` to a live call; the answer is the call after the change.
    async fn modify(
        &self,
        operation: &'static str,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<CallResource, Failure> {
        self.transport
            .send(
                operation,
                Method::POST,
                url,
                Some(encode(form)),
                Resend::Idempotent,
                CALL_RESOURCE,
            )
            .await
    }

    /// Replaces a live call's TwiML.
    async fn redirect(
        &self,
        operation: &'static str,
        provider_call_id: &str,
        twiml: &str,
    ) -> Result<(), TelephonyError> {
        check_twiml(twiml)?;
        let url = self.call_url(provider_call_id)?;
        let call = self
            .modify(operation, &url, &[("Twiml", twiml)])
            .await
            .map_err(|failure| failure.into_error(Target::LiveCall))?;
        debug!(call.status = %call.status, "Twilio took the call's new TwiML");
        Ok(())
    }
}

#[async_trait]
impl Telephony for TwilioClient {
    fn name(&self) -> &str {
        "twilio"
    }

    #[instrument(skip_all)]
    async fn dial(&self, dial: &Dial) -> Result<PlacedCall, TelephonyError> {
        let parameters: Vec<(&str, &str)> = dial
            .stream
            .parameters
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let twiml = twiml::connect_stream(&dial.stream.url, &parameters, None);
        check_twiml(&twiml)?;
        let timeout = dial.ring_timeout_secs.to_string();
        let mut form = vec![
            ("To", dial.to.as_str()),
            ("From", dial.from.as_str()),
            ("Twiml", twiml.as_str()),
            ("StatusCallback", dial.status_callback.as_str()),
            ("StatusCallbackMethod", "POST"),
        ];
        // Repeated keys, as Twilio's SDKs send them: a space-joined value breaks the callbacks.
        form.extend(STATUS_EVENTS.map(|event| ("StatusCallbackEvent", event)));
        form.push(("Timeout", timeout.as_str()));
        if let Some(callback) = &dial.machine_detection_callback {
            form.extend([
                ("MachineDetection", "DetectMessageEnd"),
                ("AsyncAmd", "true"),
                ("AsyncAmdStatusCallback", callback.as_str()),
                ("AsyncAmdStatusCallbackMethod", "POST"),
            ]);
        }
        let call: CallResource = self
            .transport
            .send(
                "dial",
                Method::POST,
                &self.calls_url,
                Some(encode(&form)),
                Resend::OnlyUnsent,
                CALL_RESOURCE,
            )
            .await
            .map_err(|failure| failure.into_error(Target::NewCall))?;
        debug!(call.sid = %call.sid, call.status = %call.status, "Twilio accepted the call");
        Ok(PlacedCall {
            provider_call_id: call.sid,
            status: call.status,
        })
    }

    #[instrument(skip_all, fields(call.sid = %provider_call_id))]
    async fn hang_up(&self, provider_call_id: &str) -> Result<(), TelephonyError> {
        let url = self.call_url(provider_call_id)?;
        let refusal = match self
            .modify("hang up", &url, &[("Status", "completed")])
            .await
        {
            Ok(call) => {
                debug!(call.status = %call.status, "Twilio is hanging up the call");
                return Ok(());
            }
            Err(Failure::Refused(refusal)) if refusal.status == StatusCode::BAD_REQUEST => refusal,
            Err(failure) => return Err(failure.into_error(Target::LiveCall)),
        };
        // Twilio would not complete the call; `canceled` is the status for a call that is still
        // queued or ringing. A call that is over refuses both, which makes it `NoSuchCall`.
        debug!(refusal = %refusal, "Twilio would not complete the call; canceling it");
        let call = self
            .modify("cancel", &url, &[("Status", "canceled")])
            .await
            .map_err(|failure| failure.into_error(Target::LiveCall))?;
        // `canceled` leaves a call in progress alone: it is still up, and Twilio said why.
        if call.status == "in-progress" {
            return Err(TelephonyError::Rejected(refusal.to_string()));
        }
        debug!(call.status = %call.status, "Twilio is canceling the call");
        Ok(())
    }

    #[instrument(skip_all, fields(call.sid = %provider_call_id))]
    async fn fetch(&self, provider_call_id: &str) -> Result<ProviderCallState, TelephonyError> {
        let details = self.fetch_call(provider_call_id).await?;
        let status = call_status(&details.status).ok_or_else(|| {
            TelephonyError::Unexpected(anyhow::anyhow!(
                "Twilio reported the call in a status it does not document: {:?}",
                details.status
            ))
        })?;
        Ok(ProviderCallState {
            status,
            talk_secs: details.duration_secs.map(i64::from),
        })
    }

    #[instrument(skip_all, fields(call.sid = %provider_call_id))]
    async fn transfer(&self, provider_call_id: &str, to: &str) -> Result<(), TelephonyError> {
        self.redirect("transfer", provider_call_id, &twiml::dial(to))
            .await
    }

    #[instrument(skip_all, fields(call.sid = %provider_call_id))]
    async fn play_and_hang_up(
        &self,
        provider_call_id: &str,
        text: &str,
    ) -> Result<(), TelephonyError> {
        self.redirect(
            "play and hang up",
            provider_call_id,
            &twiml::say_and_hang_up(text),
        )
        .await
    }
}

/// Refuses TwiML Twilio would refuse, before anything is sent.
fn check_twiml(twiml: &str) -> Result<(), TelephonyError> {
    let chars = twiml.chars().count();
    if chars > MAX_TWIML_CHARS {
        return Err(TelephonyError::Rejected(format!(
            "the TwiML is {chars} characters long; Twilio takes at most {MAX_TWIML_CHARS}"
        )));
    }
    Ok(())
}

/// `application/x-www-form-urlencoded`, keys kept in order and repeated as given.
fn encode(form: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}

/// What a request was about, which decides what a 404 means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// Creating a call: a 404 is about the account, not a call.
    NewCall,
    /// A call that exists, or should.
    LiveCall,
}

impl Failure {
    fn into_error(self, target: Target) -> TelephonyError {
        match self {
            Self::Refused(refusal)
                if target == Target::LiveCall
                    && (refusal.status == StatusCode::NOT_FOUND
                        || refusal.code == Some(INVALID_CALL_STATE)) =>
            {
                TelephonyError::NoSuchCall
            }
            Self::Refused(refusal)
                if refusal.status == StatusCode::TOO_MANY_REQUESTS
                    || refusal.status.is_server_error() =>
            {
                TelephonyError::Unavailable(refusal.to_string())
            }
            Self::Refused(refusal) => TelephonyError::Rejected(refusal.to_string()),
            Self::Unsent(_) => TelephonyError::Unavailable(self.to_string()),
            Self::Broken(_) | Self::Timeout if target == Target::NewCall => {
                TelephonyError::Unavailable(format!("{self}; the call may have been placed"))
            }
            Self::Broken(_) | Self::Timeout => TelephonyError::Unavailable(self.to_string()),
            Self::Malformed(error) => TelephonyError::Unexpected(error),
        }
    }
}

/// The fields of Twilio's Call resource the adapter reads; the rest are ignored.
#[derive(Debug, Deserialize)]
struct CallResource {
    sid: String,
    status: String,
    /// A string of seconds (`"15"`), or null until the call ends.
    #[serde(default)]
    duration: Option<Value>,
    #[serde(default)]
    answered_by: Option<String>,
    #[serde(default)]
    direction: Option<String>,
}

impl CallResource {
    fn into_details(self) -> CallDetails {
        CallDetails {
            duration_secs: self.duration.as_ref().and_then(whole_seconds),
            sid: self.sid,
            status: self.status,
            answered_by: self.answered_by,
            direction: self.direction,
        }
    }
}

/// `"15"` (Twilio's form) or `15`.
fn whole_seconds(value: &Value) -> Option<u32> {
    match value {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(number) => number.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::transport::Refusal;

    #[test]
    fn refusals_map_onto_the_ports_errors() {
        let refused = |status: u16, code: Option<u64>| {
            Failure::Refused(Refusal {
                status: StatusCode::from_u16(status).unwrap(),
                code,
                message: "m".into(),
                retry_after: None,
            })
        };
        assert!(matches!(
            refused(404, Some(20404)).into_error(Target::LiveCall),
            TelephonyError::NoSuchCall
        ));
        assert!(matches!(
            refused(400, Some(INVALID_CALL_STATE)).into_error(Target::LiveCall),
            TelephonyError::NoSuchCall
        ));
        // Creating a call: a 404 is about the account.
        assert!(matches!(
            refused(404, Some(20404)).into_error(Target::NewCall),
            TelephonyError::Rejected(_)
        ));
        for status in [400, 401, 403, 422] {
            let error = refused(status, Some(21211)).into_error(Target::NewCall);
            let TelephonyError::Rejected(message) = error else {
                panic!("{status}: {error:?}");
            };
            assert_eq!(message, format!("Twilio error 21211 (HTTP {status}): m"));
        }
        for status in [429, 500, 502, 503] {
            assert!(matches!(
                refused(status, None).into_error(Target::LiveCall),
                TelephonyError::Unavailable(_)
            ));
        }
        let TelephonyError::Unavailable(message) = Failure::Timeout.into_error(Target::NewCall)
        else {
            panic!("a timeout is unavailability");
        };
        assert!(message.contains("may have been placed"), "{message}");
    }

    #[test]
    fn durations_come_as_strings_or_numbers() {
        assert_eq!(whole_seconds(&Value::from("15")), Some(15));
        assert_eq!(whole_seconds(&Value::from(7)), Some(7));
        assert_eq!(whole_seconds(&Value::Null), None);
        assert_eq!(whole_seconds(&Value::from("soon")), None);
    }

    #[test]
    fn forms_repeat_keys_and_escape_values() {
        assert_eq!(
            encode(&[
                ("StatusCallbackEvent", "initiated"),
                ("StatusCallbackEvent", "ringing"),
                ("To", "+14155550100"),
                ("Twiml", "<Say>a & b</Say>"),
            ]),
            "StatusCallbackEvent=initiated&StatusCallbackEvent=ringing&To=%2B14155550100&Twiml=%3CSay%3Ea+%26+b%3C%2FSay%3E"
        );
    }
}
