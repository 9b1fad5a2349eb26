//! Twilio's side of phone calls: the voice webhook that answers an inbound call with TwiML
//! connecting it to a media stream, and the media stream sockets themselves
//! (`/telephony/twilio/media`, and seed 003's `/media-stream/{scenario}`). Webhooks carry no user
//! token: every one must pass the `X-Twilio-Signature` check.

use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use switchboard_domain::call::{CallChannel, CallDirection, CallError, CallStart, CallTarget};
use switchboard_domain::phone_number::{E164, PhoneNumberStatus};
use switchboard_twilio::{call_status, signature, twiml};
use tracing::{info, warn};

use crate::error::{ApiError, ErrorBody};
use crate::http::address::{public_base, websocket_base};
use crate::state::AppState;
use crate::voice;

const NOT_IN_SERVICE: &str = "Sorry, this number is not taking calls right now. Goodbye.";
const BUSY: &str = "Sorry, all our lines are busy right now. Please call again in a few minutes.";
const CANNOT_TAKE: &str = "Sorry, we cannot take your call right now. Please try again later.";

/// The form fields of a webhook, every value kept (a name may repeat).
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// Checks `X-Twilio-Signature` over the URL Twilio requested and the form.
fn verify_signature(
    req: &HttpRequest,
    state: &AppState,
    pairs: &[(String, String)],
) -> Result<(), ApiError> {
    let twilio = &state.settings.twilio;
    if !twilio.validate_signatures {
        warn!(
            "TWILIO_VALIDATE_SIGNATURES=false: a Twilio webhook was accepted without checking its signature"
        );
        return Ok(());
    }
    let Some(token) = &twilio.auth_token else {
        return Err(ApiError::ServiceUnavailable(
            "Twilio webhooks cannot be checked: set TWILIO_AUTH_TOKEN".into(),
        ));
    };
    let url = format!("{}{}", public_base(req, &state.settings), req.uri());
    let given = req
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if signature::is_valid(token.expose(), &url, pairs, given) {
        Ok(())
    } else {
        warn!(url = %url, "a Twilio webhook failed the signature check");
        Err(ApiError::Forbidden(
            "the X-Twilio-Signature header does not match this request".into(),
        ))
    }
}

fn twiml_response(xml: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::xml())
        .body(xml)
}

/// Answers a call that came in on one of the organisation's numbers: the call is stored, then
/// the TwiML connects it to a media stream; an unknown number or an agent that is not taking
/// calls gets a spoken apology and a hang-up.
#[utoipa::path(
    tag = "telephony",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's voice webhook parameters (CallSid, From, To, ...)"),
    responses(
        (status = 200, description = "TwiML", content_type = "application/xml", body = String),
        (status = 403, description = "The X-Twilio-Signature check failed", body = ErrorBody),
        (status = 503, description = "TWILIO_AUTH_TOKEN is not set", body = ErrorBody),
    )
)]
#[post("/telephony/twilio/voice")]
pub async fn twilio_voice(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let pairs = form_pairs(&body);
    verify_signature(&req, &state, &pairs)?;
    let Some(called) = field(&pairs, "To").and_then(|to| E164::parse(to).ok()) else {
        return Ok(twiml_response(twiml::say_and_hang_up(NOT_IN_SERVICE)));
    };
    let number = state.phone_numbers.find_for_inbound(&called).await?;
    let Some((organization, agent)) = number
        .filter(|n| n.status == PhoneNumberStatus::Active)
        .and_then(|n| n.assigned_agent_id.map(|agent| (n.organization_id, agent)))
    else {
        info!("a call came in on a number without an active agent");
        return Ok(twiml_response(twiml::say_and_hang_up(NOT_IN_SERVICE)));
    };
    if let Err(error) = state
        .calls
        .check_capacity(organization, CallDirection::Inbound)
        .await
    {
        info!(reason = %error, "an inbound call was turned away");
        return Ok(twiml_response(twiml::say_and_hang_up(BUSY)));
    }
    if !state.speech.can_carry_calls() {
        warn!("a phone call came in, but speech recognition or synthesis is not configured");
        return Ok(twiml_response(twiml::say_and_hang_up(CANNOT_TAKE)));
    }
    let start = CallStart {
        target: CallTarget::Agent(agent),
        channel: CallChannel::Phone,
        direction: CallDirection::Inbound,
        customer_name: field(&pairs, "CallerName").map(ToOwned::to_owned),
        phone_number: field(&pairs, "From").map(ToOwned::to_owned),
        session_key: None,
        provider_call_id: field(&pairs, "CallSid").map(ToOwned::to_owned),
        idempotency_key: None,
    };
    let opened = match state.calls.start(organization, None, start).await {
        Ok(opened) if opened.call.is_active() => opened,
        Ok(_) => return Ok(twiml_response(twiml::say_and_hang_up(CANNOT_TAKE))),
        // Another call took the last slot between the check above and this one's insert.
        Err(e @ CallError::TooManyCalls { .. }) => {
            info!(reason = %e, "an inbound call was turned away");
            return Ok(twiml_response(twiml::say_and_hang_up(BUSY)));
        }
        Err(
            e @ (CallError::AgentNotFound
            | CallError::AgentUnavailable(_)
            | CallError::ModelFailed(_)
            | CallError::ModelNotConfigured { .. }),
        ) => {
            info!(reason = %e, "an inbound call was turned away");
            return Ok(twiml_response(twiml::say_and_hang_up(CANNOT_TAKE)));
        }
        Err(e) => return Err(e.into()),
    };
    let stream = voice::twilio::stream_target(
        &websocket_base(&req, &state.settings),
        &state,
        opened.call.id,
    );
    let parameters: Vec<(&str, &str)> = stream
        .parameters
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    Ok(twiml_response(twiml::connect_stream(
        &stream.url,
        &parameters,
        None,
    )))
}

/// Upgrades to a WebSocket, or answers why not.
pub(super) fn upgrade(
    req: &HttpRequest,
    body: web::Payload,
) -> Result<(HttpResponse, actix_ws::Session, actix_ws::MessageStream), ApiError> {
    actix_ws::handle(req, body)
        .map_err(|e| ApiError::BadRequest(format!("this route speaks WebSocket only: {e}")))
}

/// Twilio Media Streams: the audio of a call this server connected (the stream's `call_id` and
/// `token` parameters name it).
#[utoipa::path(
    tag = "telephony",
    responses(
        (status = 101, description = "Switching to the Media Streams WebSocket protocol"),
        (status = 400, description = "Not a WebSocket request", body = ErrorBody),
    )
)]
#[get("/telephony/twilio/media")]
pub async fn twilio_media(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    open_media_stream(&req, body, state)
}

/// Accepts a media stream socket and serves it in a task of its own.
fn open_media_stream(
    req: &HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (response, session, stream) = upgrade(req, body)?;
    actix_web::rt::spawn(voice::twilio::serve(state, session, stream));
    Ok(response)
}

/// Seed 003's media stream address; the stream's parameters name the call, which already runs
/// the scenario.
#[utoipa::path(
    tag = "telephony",
    params(("scenario" = String, Path, description = "The scenario the call runs")),
    responses(
        (status = 101, description = "Switching to the Media Streams WebSocket protocol"),
        (status = 400, description = "Not a WebSocket request", body = ErrorBody),
    )
)]
#[get("/media-stream/{scenario}")]
pub async fn media_stream(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    _scenario: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    open_media_stream(&req, body, state)
}

/// Twilio's progress reports for a call (`StatusCallback`): ringing, answered, and how it ended,
/// with its duration. Reports may arrive out of order and never move a call backwards; a report
/// for a call this server does not know is acknowledged and ignored.
#[utoipa::path(
    tag = "telephony",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's status callback parameters (CallSid, CallStatus, CallDuration, ...)"),
    responses(
        (status = 204, description = "Acknowledged"),
        (status = 403, description = "The X-Twilio-Signature check failed", body = ErrorBody),
        (status = 503, description = "TWILIO_AUTH_TOKEN is not set", body = ErrorBody),
    )
)]
#[post("/telephony/twilio/status")]
pub async fn twilio_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let pairs = form_pairs(&body);
    verify_signature(&req, &state, &pairs)?;
    let (Some(call_sid), Some(status)) = (
        field(&pairs, "CallSid"),
        field(&pairs, "CallStatus").and_then(call_status),
    ) else {
        return Ok(HttpResponse::NoContent().finish());
    };
    let talk_secs = field(&pairs, "CallDuration").and_then(|d| d.parse::<i64>().ok());
    match state
        .calls
        .provider_status(call_sid, status, talk_secs)
        .await?
    {
        Some(call) => info!(call.id = %call.id, call.status = call.status.as_str(), "call status"),
        None => info!("a status report for a call this server does not know, ignored"),
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Twilio's answering-machine detection result for an outbound call (`AsyncAmdStatusCallback`).
/// When a machine answered, the call ends as `voicemail`: the agent's voicemail message is left
/// (Twilio says it, then hangs up), or the call is hung up when the agent has none.
#[utoipa::path(
    tag = "telephony",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's detection result (CallSid, AnsweredBy, ...)"),
    responses(
        (status = 204, description = "Acknowledged"),
        (status = 403, description = "The X-Twilio-Signature check failed", body = ErrorBody),
        (status = 503, description = "TWILIO_AUTH_TOKEN is not set", body = ErrorBody),
    )
)]
#[post("/telephony/twilio/amd")]
pub async fn twilio_amd(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let pairs = form_pairs(&body);
    verify_signature(&req, &state, &pairs)?;
    let (Some(call_sid), Some(answered_by)) =
        (field(&pairs, "CallSid"), field(&pairs, "AnsweredBy"))
    else {
        return Ok(HttpResponse::NoContent().finish());
    };
    if !(answered_by.starts_with("machine") || answered_by == "fax") {
        return Ok(HttpResponse::NoContent().finish());
    }
    let Some(call) = state
        .calls
        .end_by_provider_id(call_sid, "voicemail")
        .await?
    else {
        return Ok(HttpResponse::NoContent().finish());
    };
    let message = voice::utterance::agent_of(&call)
        .map(|agent| agent.voicemail.message)
        .unwrap_or_default();
    if let Some(telephony) = &state.telephony {
        // Twilio ends the media stream when the call is redirected; the session then stores the
        // rest of the call, keeping this end reason.
        let done = if message.is_empty() {
            telephony.hang_up(call_sid).await
        } else {
            telephony.play_and_hang_up(call_sid, &message).await
        };
        if let Err(error) = done {
            warn!(%error, call.id = %call.id, "the voicemail could not be left");
        }
    }
    info!(call.id = %call.id, answered_by, "an answering machine took the call");
    Ok(HttpResponse::NoContent().finish())
}
