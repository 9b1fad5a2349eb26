//! Placing phone calls: the canonical `POST /api/v1/calls` with `channel: "phone"` (through
//! [`place_phone_call`]), seed 003's `make-call` routes (and POST twins), and seed 001's
//! `/api/calls/start` and `/api/calls/end`. Call initiation is rate limited per user
//! (`RATE_LIMIT_CALLS_PER_MIN`), capped per organisation, and deduplicated by `Idempotency-Key`.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use switchboard_domain::call::{Call, CallChannel, CallDirection, CallStart, CallTarget, Opened};
use switchboard_domain::ids::CallId;
use switchboard_domain::ports::{Dial, TelephonyError};
use tracing::warn;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::http::address::{public_base, websocket_of};
use crate::http::extract::{CurrentUser, rate_limit};
use crate::http::json::ApiJson;
use crate::routes::calls::{CallView, target};
use crate::routes::parse_path_id;
use crate::routes::voice::start_web_call;
use crate::state::AppState;
use crate::voice;

/// How long an outbound call rings before it counts as unanswered.
const RING_TIMEOUT_SECS: u32 = 30;
/// The longest idempotency key kept.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The `Idempotency-Key` header, when the client sent one.
pub(crate) fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("Idempotency-Key must be printable text".into()))?
        .trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )));
    }
    Ok(Some(key.to_owned()))
}

/// What a phone call is placed with.
pub(crate) struct PhoneCall {
    pub target: CallTarget,
    pub phone_number: String,
    pub customer_name: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Places an outbound phone call for the user.
pub(crate) async fn place_phone_call(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    call: PhoneCall,
) -> Result<Opened, ApiError> {
    rate_limit(
        state,
        &format!("calls:{}", user.0.user_id),
        state.settings.rate_limits.calls_per_min,
    )
    .await?;
    let (Some(telephony), Some(from)) = (&state.telephony, &state.settings.twilio.phone_number)
    else {
        return Err(ApiError::ServiceUnavailable(
            "phone calls are not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and \
             TWILIO_PHONE_NUMBER"
                .into(),
        ));
    };
    if !state.speech.can_carry_calls() {
        return Err(ApiError::ServiceUnavailable(
            "phone calls need speech recognition and synthesis: set DEEPGRAM_API_KEY or \
             OPENAI_API_KEY, and ELEVENLABS_API_KEY or OPENAI_API_KEY"
                .into(),
        ));
    }
    let start = CallStart {
        target: call.target,
        channel: CallChannel::Phone,
        direction: CallDirection::Outbound,
        customer_name: call.customer_name,
        phone_number: Some(call.phone_number),
        session_key: None,
        provider_call_id: None,
        idempotency_key: call.idempotency_key,
    };
    let base = public_base(req, &state.settings);
    let opened = state
        .calls
        .place(
            user.0.organization_id,
            Some(user.0.user_id),
            start,
            telephony.as_ref(),
            |call: &Call| dial_for(state, from, &base, call),
        )
        .await?;
    Ok(opened)
}

/// The `Dial` of a stored outbound call: from `from`, its media stream (with a token naming the
/// call) and progress reports addressed to `base`, the server's public address.
pub(crate) fn dial_for(state: &AppState, from: &str, base: &str, call: &Call) -> Dial {
    Dial {
        to: call.phone_number.clone().unwrap_or_default(),
        from: from.to_owned(),
        stream: voice::twilio::stream_target(&websocket_of(base), state, call.id),
        status_callback: format!("{base}/telephony/twilio/status"),
        machine_detection_callback: detects_machines(call)
            .then(|| format!("{base}/telephony/twilio/amd")),
        ring_timeout_secs: RING_TIMEOUT_SECS,
    }
}

/// Whether the call's agent asks for answering-machine detection.
fn detects_machines(call: &Call) -> bool {
    crate::voice::utterance::agent_of(call).is_some_and(|agent| agent.voicemail.detect_machine)
}

/// Ends a call: stored as ended, the live session (if this instance carries it) told to stop,
/// and a phone call hung up at the provider.
/// How long ending a call waits for the session carrying it to finish it.
const LIVE_END_WAIT: Duration = Duration::from_secs(5);

pub(crate) async fn end_call(
    state: &AppState,
    user: &CurrentUser,
    id: CallId,
) -> Result<Call, ApiError> {
    let organization = user.0.organization_id;
    // A call carried here is ended by its session, which writes the last transcript lines
    // first; ending it in the database underneath would queue its analysis before them. The
    // call is looked up in the caller's organisation before anything is asked of it.
    let (call, _) = state.calls.get(organization, id).await?;
    if call.is_active() {
        state.live_calls.end_and_wait(id, LIVE_END_WAIT).await;
    }
    // Ends the call if its session did not (or none here carries it); as it is otherwise.
    let call = state.calls.end(organization, id).await?;
    if call.channel == CallChannel::Phone
        && let (Some(telephony), Some(provider_id)) = (&state.telephony, &call.provider_call_id)
    {
        match telephony.hang_up(provider_id).await {
            Ok(()) | Err(TelephonyError::NoSuchCall) => {}
            // The call is ended here either way; the provider's own timeout ends it there.
            Err(error) => warn!(%error, call.id = %id, "hanging up at the provider failed"),
        }
    }
    Ok(call)
}

/// Seed 003's answer to a placed call.
#[derive(Debug, Serialize, ToSchema)]
pub struct MadeCall {
    /// `success` (`Custom call initiated` for custom scenarios).
    pub status: &'static str,
    /// Twilio's id of the call.
    pub call_sid: Option<String>,
    /// Switchboard's id of the call.
    pub call_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Calendar calls: whether the call reads and books the organisation's calendar (false when
    /// none is connected: the call is placed without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar_connected: Option<bool>,
}

async fn make_call(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    phone_number: &str,
    scenario: &str,
) -> Result<Opened, ApiError> {
    place_phone_call(
        req,
        state,
        user,
        PhoneCall {
            target: CallTarget::Scenario(scenario.to_owned()),
            phone_number: phone_number.to_owned(),
            customer_name: None,
            idempotency_key: idempotency_key(req)?,
        },
    )
    .await
}

fn made(opened: Opened, status: &'static str) -> MadeCall {
    MadeCall {
        status,
        call_sid: opened.call.provider_call_id,
        call_id: opened.call.id.to_string(),
        message: None,
        phone_number: None,
        calendar_connected: None,
    }
}

/// Seed 003: calls `phone_number` with a built-in scenario (`sales`, `support`, `appointment`).
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(
        ("phone_number" = String, Path, description = "E.164"),
        ("scenario" = String, Path, description = "A built-in scenario or a custom scenario id"),
    ),
    responses(
        (status = 200, description = "Placed", body = MadeCall),
        (status = 400, description = "Twilio refused the call", body = ErrorBody),
        (status = 404, description = "No such scenario", body = ErrorBody),
        (status = 422, description = "Not an E.164 number", body = ErrorBody),
        (status = 429, description = "Too many calls started, or at once", body = ErrorBody),
        (status = 503, description = "Twilio or speech is not configured", body = ErrorBody),
    )
)]
#[get("/make-call/{phone_number}/{scenario}")]
pub async fn make_standard_call(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<MadeCall>, ApiError> {
    let (phone, scenario) = path.into_inner();
    let opened = make_call(&req, &state, &user, &phone, &scenario).await?;
    Ok(web::Json(made(opened, "success")))
}

/// Seed 003's `make-call`, as a POST (placing a call is not a safe read).
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(
        ("phone_number" = String, Path, description = "E.164"),
        ("scenario" = String, Path, description = "A built-in scenario or a custom scenario id"),
    ),
    responses(
        (status = 200, description = "Placed", body = MadeCall),
        (status = 429, description = "Too many calls started, or at once", body = ErrorBody),
        (status = 503, description = "Twilio or speech is not configured", body = ErrorBody),
    )
)]
#[post("/make-call/{phone_number}/{scenario}")]
pub async fn make_standard_call_post(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<MadeCall>, ApiError> {
    let (phone, scenario) = path.into_inner();
    let opened = make_call(&req, &state, &user, &phone, &scenario).await?;
    Ok(web::Json(made(opened, "success")))
}

/// Seed 003: calls `phone_number` with one of the user's custom scenarios.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(
        ("phone_number" = String, Path, description = "E.164"),
        ("scenario_id" = String, Path, description = "A custom scenario id"),
    ),
    responses(
        (status = 200, description = "Placed", body = MadeCall),
        (status = 404, description = "No such scenario", body = ErrorBody),
        (status = 429, description = "Too many calls started, or at once", body = ErrorBody),
        (status = 503, description = "Twilio or speech is not configured", body = ErrorBody),
    )
)]
#[get("/make-custom-call/{phone_number}/{scenario_id}")]
pub async fn make_custom_call(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<MadeCall>, ApiError> {
    let (phone, scenario) = path.into_inner();
    let opened = make_call(&req, &state, &user, &phone, &scenario).await?;
    Ok(web::Json(made(opened, "Custom call initiated")))
}

/// Seed 003: calls `phone_number` to book an appointment (the built-in `appointment` scenario).
/// With the organisation's calendar connected the call is calendar-aware: its agent knows the
/// upcoming events and can check availability and book; without one the call is placed all the
/// same, without calendar tools, and `calendar_connected` is false.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(("phone_number" = String, Path, description = "E.164")),
    responses(
        (status = 200, description = "Placed", body = MadeCall),
        (status = 429, description = "Too many calls started, or at once", body = ErrorBody),
        (status = 503, description = "Twilio or speech is not configured", body = ErrorBody),
    )
)]
#[get("/make-calendar-call-scenario/{phone_number}")]
pub async fn make_calendar_call(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<MadeCall>, ApiError> {
    let opened = make_call(&req, &state, &user, &path, "appointment").await?;
    let phone_number = opened.call.phone_number.clone();
    let calendar_connected = opened.call.is_calendar_aware();
    let mut answer = made(opened, "success");
    answer.message = Some("Calendar call initiated");
    answer.phone_number = phone_number;
    answer.calendar_connected = Some(calendar_connected);
    Ok(web::Json(answer))
}

/// Seed 001's request to start a call.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SeedStartRequest {
    pub agent_id: Option<String>,
    /// The number to call (phone calls).
    pub phone_number: Option<String>,
    /// `phone` (when a number is given) or `web`.
    #[serde(alias = "channel")]
    pub r#type: Option<String>,
    pub customer_name: Option<String>,
}

/// Seed 001: starts a call: a phone call to `phone_number`, or a browser call (`room_url`).
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    request_body = SeedStartRequest,
    responses(
        (status = 201, description = "Started", body = CallView),
        (status = 404, description = "No such agent", body = ErrorBody),
        (status = 409, description = "The agent is paused or inactive", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
        (status = 429, description = "Too many calls started, or at once", body = ErrorBody),
        (status = 503, description = "Twilio or speech is not configured", body = ErrorBody),
    )
)]
#[post("/start")]
pub async fn seed_start(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<SeedStartRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let channel = match (body.r#type.as_deref(), &body.phone_number) {
        (Some(raw), _) => CallChannel::parse(raw).map_err(|m| ApiError::field("type", m))?,
        (None, Some(_)) => CallChannel::Phone,
        (None, None) => CallChannel::Web,
    };
    let target = target(body.agent_id.as_deref(), None)?;
    match channel {
        CallChannel::Phone => {
            let phone_number = body
                .phone_number
                .ok_or_else(|| ApiError::field("phone_number", "required for phone calls"))?;
            let opened = place_phone_call(
                &req,
                &state,
                &user,
                PhoneCall {
                    target,
                    phone_number,
                    customer_name: body.customer_name,
                    idempotency_key: idempotency_key(&req)?,
                },
            )
            .await?;
            Ok(HttpResponse::Created().json(CallView::new(
                opened.call,
                Some(opened.first_message),
                None,
            )))
        }
        CallChannel::Web | CallChannel::Text => {
            let start = CallStart {
                target,
                channel: CallChannel::Web,
                direction: CallDirection::Inbound,
                customer_name: body.customer_name,
                phone_number: None,
                session_key: None,
                provider_call_id: None,
                idempotency_key: None,
            };
            let web_call = start_web_call(&req, &state, &user, start).await?;
            let mut view = web_call.call;
            view.connection = Some(web_call.connection);
            Ok(HttpResponse::Created().json(view))
        }
    }
}

/// Seed 001's request to end a call.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SeedEndRequest {
    pub call_id: String,
}

/// Seed 001: ends a call (and hangs up a live one).
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    request_body = SeedEndRequest,
    responses(
        (status = 200, description = "The ended call", body = CallView),
        (status = 404, description = "No such call in your organisation", body = ErrorBody),
    )
)]
#[post("/end")]
pub async fn seed_end(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<SeedEndRequest>,
) -> Result<web::Json<CallView>, ApiError> {
    let id: CallId = parse_path_id(&body.call_id, "call")?;
    let call = end_call(&state, &user, id).await?;
    Ok(web::Json(CallView::new(call, None, None)))
}
