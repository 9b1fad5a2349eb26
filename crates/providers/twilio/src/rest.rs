//! [`TwilioClient`], the REST adapter of the `Telephony` port (PROVIDERS.md 1.1 to 1.4): it
//! places calls (`POST Calls.json` with inline `<Connect><Stream>` TwiML), modifies live ones
//! (`POST Calls/{sid}.json`: hang up, transfer, say and hang up) and fetches them. It owns the
//! HTTP Basic credentials, the form encoding, Twilio's Call JSON and error bodies, and the
//! translation of Twilio's answers into [`TelephonyError`].

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Client, Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use switchboard_domain::ports::{Dial, PlacedCall, Telephony, TelephonyError};
use switchboard_provider_http::{
    ApiKey, BodyError, ErrorAnswer, Retry, RetryPolicy, Retryable, client, describe, endpoint,
    error_text, read_body,
};
use tracing::{debug, instrument};
use url::Url;

use crate::config::{TwilioConfig, TwilioConfigError};
use crate::twiml;

/// Twilio refuses inline TwiML longer than this many characters.
pub const MAX_TWIML_CHARS: usize = 4000;
/// Twilio's API version, the first segment of every path.
const API_VERSION: &str = "2010-04-01";
/// A Call resource is a few kilobytes; anything much larger is not one.
const CALL_BODY_LIMIT: usize = 64 * 1024;
/// The call progress events a dial asks to hear about, each sent as its own form key.
const STATUS_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];
/// Twilio's error code for an operation on a call that is not in progress (it has ended, or has
/// not been answered yet).
const INVALID_CALL_STATE: u64 = 21220;

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
        let call = self
            .transport
            .send("fetch", Method::GET, &url, None, Resend::Idempotent)
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
        let call = self
            .transport
            .send(
                "dial",
                Method::POST,
                &self.calls_url,
                Some(encode(&form)),
                Resend::OnlyUnsent,
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

/// Letters and digits only (`CA...`, `AC...`), so a sid never changes the path it goes into.
fn is_sid(sid: &str) -> bool {
    !sid.is_empty() && sid.len() <= 64 && sid.bytes().all(|b| b.is_ascii_alphanumeric())
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

/// Whether a request may be sent again after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resend {
    /// Only when it cannot have reached Twilio: creating a call is not idempotent.
    OnlyUnsent,
    /// Sending it twice has the effect of sending it once.
    Idempotent,
}

/// What a request was about, which decides what a 404 means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// Creating a call: a 404 is about the account, not a call.
    NewCall,
    /// A call that exists, or should.
    LiveCall,
}

/// The HTTP client, the credentials and the retry policy.
struct Transport {
    client: Client,
    token: ApiKey,
    timeout: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for Transport {
    // The client's own `Debug` lists its default headers; the credentials are marked sensitive
    // there, but they have no business in debug output at all.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Transport {
    fn new(config: &TwilioConfig) -> Result<Self, TwilioConfigError> {
        if config.auth_token.expose().is_empty() {
            return Err(TwilioConfigError::EmptyToken);
        }
        // HTTP Basic, `AccountSid:AuthToken`; the encoded pair is as secret as the token, so it
        // lives only in a header value marked sensitive.
        let credentials = ApiKey::new(STANDARD.encode(format!(
            "{}:{}",
            config.account_sid,
            config.auth_token.expose()
        )));
        let authorization = credentials
            .header_value("Basic ")
            .map_err(|e| TwilioConfigError::Client(e.to_string()))?;
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, authorization);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let client = client(headers, config.connect_timeout)
            .map_err(|e| TwilioConfigError::Client(describe(&e)))?;
        Ok(Self {
            client,
            token: config.auth_token.clone(),
            timeout: config.request_timeout,
            retry: RetryPolicy {
                max_retries: config.max_retries,
                base: config.retry_base,
                max_wait: config.max_retry_wait,
            },
        })
    }

    /// Sends a request (with `form` as its body), retrying as `resend` allows, and reads the
    /// Call resource Twilio answers with.
    async fn send(
        &self,
        operation: &'static str,
        method: Method,
        url: &Url,
        form: Option<String>,
        resend: Resend,
    ) -> Result<CallResource, Failure> {
        let form = form.as_deref();
        let result = self
            .retry
            .run(
                || {
                    let method = method.clone();
                    async move {
                        self.attempt(method, url, form)
                            .await
                            .map_err(|failure| Attempt { failure, resend })
                    }
                },
                |attempt, retry, wait| {
                    debug!(
                        twilio.operation = operation,
                        retry,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        failure = %attempt.failure,
                        "Twilio request failed; retrying"
                    );
                },
            )
            .await;
        result.map_err(|attempt| {
            debug!(
                twilio.operation = operation,
                failure = %attempt.failure,
                "Twilio request failed"
            );
            attempt.failure
        })
    }

    async fn attempt(
        &self,
        method: Method,
        url: &Url,
        form: Option<&str>,
    ) -> Result<CallResource, Failure> {
        let mut request = self
            .client
            .request(method, url.clone())
            .timeout(self.timeout);
        if let Some(form) = form {
            request = request
                .header(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                )
                .body(form.to_owned());
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(&e))?;
        if !response.status().is_success() {
            return Err(Failure::Refused(self.refusal(response).await));
        }
        let body = read_body(&mut response, CALL_BODY_LIMIT).await?;
        serde_json::from_slice(&body).map_err(|e| {
            Failure::Malformed(anyhow::anyhow!(
                "Twilio's answer is not a Call resource: {e}"
            ))
        })
    }

    /// Reads an error answer: its status, Twilio's error code and message (token redacted).
    async fn refusal(&self, response: Response) -> Refusal {
        let mut code = None;
        let answer = ErrorAnswer::read(response, &self.token, |body, status| {
            let parsed = serde_json::from_slice::<ErrorBody>(body).unwrap_or_default();
            code = parsed.code();
            error_text(status, body, parsed.message())
        })
        .await;
        Refusal {
            status: answer.status,
            code,
            message: answer.message,
            retry_after: answer.retry_after,
        }
    }
}

/// An error answer from Twilio.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    /// Twilio's error code (`21211`, ...), when the body had one.
    code: Option<u64>,
    message: String,
    retry_after: Option<Duration>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(
                f,
                "Twilio error {code} (HTTP {}): {}",
                self.status.as_u16(),
                self.message
            ),
            None => write!(
                f,
                "Twilio answered HTTP {}: {}",
                self.status.as_u16(),
                self.message
            ),
        }
    }
}

/// Why one attempt failed, before it becomes a [`TelephonyError`].
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// Twilio answered with an error status.
    #[error("{0}")]
    Refused(Refusal),
    /// No connection could be made, so nothing was sent.
    #[error("cannot reach Twilio: {0}")]
    Unsent(String),
    /// The connection broke once the request may have been sent.
    #[error("the connection to Twilio broke: {0}")]
    Broken(String),
    /// No answer within the request timeout.
    #[error("Twilio did not answer in time")]
    Timeout,
    /// The answer did not follow the protocol.
    #[error("{0}")]
    Malformed(anyhow::Error),
}

impl Failure {
    fn from_reqwest(error: &reqwest::Error) -> Self {
        // A connect error (refused, unreachable, TLS, or the connect timeout) comes before the
        // request is written, so it is checked before the timeout a connect timeout also is.
        if error.is_connect() {
            Self::Unsent(describe(error))
        } else if error.is_timeout() {
            Self::Timeout
        } else {
            Self::Broken(describe(error))
        }
    }

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

/// A body that could not be read counts as a broken connection (or a timeout); one too large to
/// hold is not a Call resource.
impl From<BodyError> for Failure {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::TooLarge { limit } => Self::Malformed(anyhow::anyhow!(
                "Twilio's answer is larger than {limit} bytes"
            )),
            BodyError::Read(error) if error.is_timeout() => Self::Timeout,
            BodyError::Read(error) => Self::Broken(describe(&error)),
        }
    }
}

/// A failure and whether its request may be sent again.
#[derive(Debug)]
struct Attempt {
    failure: Failure,
    resend: Resend,
}

impl Retryable for Attempt {
    /// An idempotent request is retried on 429 (after `Retry-After`), 5xx and connection
    /// failures; a dial only when nothing was sent. A timeout has spent the caller's patience.
    fn retry(&self) -> Retry {
        match (&self.failure, self.resend) {
            (Failure::Unsent(_), _) | (Failure::Broken(_), Resend::Idempotent) => {
                Retry::Yes { after: None }
            }
            (Failure::Refused(refusal), Resend::Idempotent)
                if refusal.status == StatusCode::TOO_MANY_REQUESTS
                    || refusal.status.is_server_error() =>
            {
                Retry::Yes {
                    after: refusal.retry_after,
                }
            }
            _ => Retry::No,
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

/// Twilio's error bodies: the legacy `{code, message, more_info, status}`, or RFC 9457's
/// `{type, title, status, code, detail}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

impl ErrorBody {
    /// The legacy `message`, else RFC 9457's `detail` (about this occurrence), else its `title`.
    fn message(self) -> Option<String> {
        [self.message, self.detail, self.title]
            .into_iter()
            .flatten()
            .find(|m| !m.trim().is_empty())
    }

    /// A number, or a string of digits.
    fn code(&self) -> Option<u64> {
        match self.code.as_ref()? {
            Value::Number(number) => number.as_u64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(body: &str) -> (Option<u64>, Option<String>) {
        let parsed = serde_json::from_str::<ErrorBody>(body).unwrap_or_default();
        (parsed.code(), parsed.message())
    }

    #[test]
    fn error_bodies_of_both_shapes_give_their_code_and_message() {
        assert_eq!(
            parse(
                r#"{"code":21211,"message":"The 'To' number 123 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#
            ),
            (
                Some(21211),
                Some("The 'To' number 123 is not a valid phone number.".into())
            )
        );
        assert_eq!(
            parse(
                r#"{"type":"https://www.twilio.com/docs/errors/20003","title":"Authentication Error","status":401,"code":20003,"detail":"Your AccountSid or AuthToken was incorrect."}"#
            ),
            (
                Some(20003),
                Some("Your AccountSid or AuthToken was incorrect.".into())
            )
        );
        assert_eq!(
            parse(r#"{"title":"Not Found","status":404,"code":"20404"}"#),
            (Some(20404), Some("Not Found".into()))
        );
        assert_eq!(parse("<html>bad gateway</html>"), (None, None));
    }

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
    fn only_idempotent_requests_are_resent_after_they_may_have_arrived() {
        let attempt = |failure, resend| Attempt { failure, resend }.is_retryable();
        let refused = |status: u16| {
            Failure::Refused(Refusal {
                status: StatusCode::from_u16(status).unwrap(),
                code: None,
                message: "m".into(),
                retry_after: None,
            })
        };
        for resend in [Resend::OnlyUnsent, Resend::Idempotent] {
            assert!(attempt(Failure::Unsent("refused".into()), resend));
            assert!(!attempt(Failure::Timeout, resend));
            assert!(!attempt(refused(400), resend));
            assert!(!attempt(refused(404), resend));
        }
        assert!(attempt(refused(429), Resend::Idempotent));
        assert!(attempt(refused(503), Resend::Idempotent));
        assert!(attempt(Failure::Broken("reset".into()), Resend::Idempotent));
        assert!(!attempt(refused(429), Resend::OnlyUnsent));
        assert!(!attempt(refused(503), Resend::OnlyUnsent));
        assert!(!attempt(
            Failure::Broken("reset".into()),
            Resend::OnlyUnsent
        ));
    }

    #[test]
    fn durations_come_as_strings_or_numbers() {
        assert_eq!(whole_seconds(&Value::from("15")), Some(15));
        assert_eq!(whole_seconds(&Value::from(7)), Some(7));
        assert_eq!(whole_seconds(&Value::Null), None);
        assert_eq!(whole_seconds(&Value::from("soon")), None);
    }

    #[test]
    fn sids_are_letters_and_digits() {
        assert!(is_sid("CA0123456789abcdef0123456789abcdef"));
        assert!(!is_sid(""));
        assert!(!is_sid("CA1/../../Messages"));
        assert!(!is_sid("CA1.json?x"));
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
