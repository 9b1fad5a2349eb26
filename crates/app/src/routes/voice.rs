//! Voice in the browser and by upload: the streaming call socket (`/ws/voice/{call_id}`), seed
//! 002's utterance socket and `respond-audio`, seed 000's audio messages, seed 001's
//! `create-room`, and call recordings.

use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::agent::AgentConfig;
use switchboard_domain::call::{CallChannel, CallDirection, CallStart};
use switchboard_domain::ids::CallId;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::http::address::websocket_base;
use crate::http::extract::CurrentUser;
use crate::http::json::ApiJson;
use crate::http::upload::{read_upload, require_multipart};
use crate::routes::calls::{CallView, SalesReply, SessionReply, session_turn, target};
use crate::routes::parse_path_id;
use crate::routes::telephony::upgrade;
use crate::state::AppState;
use crate::voice;
use crate::voice::socket::request_token;
use crate::voice::tokens::Purpose;
use crate::voice::utterance::{agent_of, hear};

/// How long a browser has to connect with the token it was given.
const BROWSER_TOKEN_TTL_MINUTES: i64 = 10;
/// The largest recording one audio turn may upload.
const MAX_AUDIO_BYTES: usize = 25 * 1024 * 1024;

/// Where a browser connects to talk in a call, and with what.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoiceConnection {
    /// The WebSocket address, token included.
    pub url: String,
    /// The token alone, for clients that send it as the first message instead.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// `pcm_s16le`: 16-bit little-endian samples, both ways.
    pub encoding: &'static str,
    pub sample_rate: u32,
}

/// A web call, ready for the browser to connect.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebCall {
    pub call_id: String,
    /// The same as `connection.url` (seed 001 reads `room_url`).
    pub room_url: String,
    pub url: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub first_message: String,
    pub connection: VoiceConnection,
    pub call: CallView,
}

/// The browser socket address for a call, with a fresh token.
pub(crate) fn voice_connection(
    req: &HttpRequest,
    state: &AppState,
    call: CallId,
) -> VoiceConnection {
    let expires_at = Utc::now() + chrono::Duration::minutes(BROWSER_TOKEN_TTL_MINUTES);
    let token = state.call_tokens.issue(Purpose::Browser, call, expires_at);
    let base = websocket_base(req, &state.settings);
    VoiceConnection {
        url: format!("{base}/ws/voice/{call}?token={token}"),
        token,
        expires_at,
        encoding: "pcm_s16le",
        sample_rate: 16_000,
    }
}

/// Seed 001's request for a browser call.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateRoomRequest {
    /// The agent who answers; default: the organisation's newest active agent.
    pub agent_id: Option<String>,
    pub customer_name: Option<String>,
}

/// Starts a web call and returns where the browser connects.
pub(crate) async fn start_web_call(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    start: CallStart,
) -> Result<WebCall, ApiError> {
    if !state.speech.can_carry_calls() {
        return Err(ApiError::ServiceUnavailable(
            "voice calls need speech recognition and synthesis: set DEEPGRAM_API_KEY or \
             OPENAI_API_KEY, and ELEVENLABS_API_KEY or OPENAI_API_KEY"
                .into(),
        ));
    }
    let opened = state
        .calls
        .start(user.0.organization_id, Some(user.0.user_id), start)
        .await?;
    let connection = voice_connection(req, state, opened.call.id);
    Ok(WebCall {
        call_id: opened.call.id.to_string(),
        room_url: connection.url.clone(),
        url: connection.url.clone(),
        token: connection.token.clone(),
        expires_at: connection.expires_at,
        first_message: opened.first_message.clone(),
        connection,
        call: CallView::new(opened.call, Some(opened.first_message), None),
    })
}

/// Seed 001: a browser call with an agent ("room"): the answer says where to connect.
#[utoipa::path(
    tag = "voice",
    security(("bearer" = [])),
    request_body = CreateRoomRequest,
    responses(
        (status = 201, description = "The call and where to connect", body = WebCall),
        (status = 404, description = "No such agent", body = ErrorBody),
        (status = 409, description = "The agent is paused or inactive", body = ErrorBody),
        (status = 503, description = "Speech or the language model is not configured", body = ErrorBody),
    )
)]
#[post("/create-room")]
pub async fn create_room(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    body: Option<ApiJson<CreateRoomRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.map(ApiJson::into_inner).unwrap_or_default();
    let start = CallStart {
        target: target(body.agent_id.as_deref(), None)?,
        channel: CallChannel::Web,
        direction: CallDirection::Inbound,
        customer_name: body.customer_name,
        phone_number: None,
        session_key: None,
        provider_call_id: None,
        idempotency_key: None,
    };
    let call = start_web_call(&req, &state, &user, start).await?;
    Ok(HttpResponse::Created().json(call))
}

/// The streaming call socket: PCM16 at 16 kHz both ways plus JSON events. The token is a call
/// token (from `POST /api/v1/calls` with `channel: "web"` or `create-room`) or an access token,
/// in the `token` query parameter or a first `{"type":"auth","token":...}` message.
#[utoipa::path(
    tag = "voice",
    params(
        ("call_id" = String, Path, description = "The call's id"),
        ("token" = Option<String>, Query, description = "A call token or access token"),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket request", body = ErrorBody),
    )
)]
#[get("/voice/{call_id}")]
pub async fn voice_socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let call: CallId = parse_path_id(&path, "call")?;
    let token = request_token(&req);
    let (response, session, stream) = upgrade(&req, body)?;
    actix_web::rt::spawn(voice::browser::serve(state, session, stream, call, token));
    Ok(response)
}

/// Seed 002's utterance socket: WAV in, `user_text`, WAV out (or `agent_text`).
#[utoipa::path(
    tag = "voice",
    params(
        ("call_id" = String, Path, description = "The call's id, from start-call"),
        ("token" = Option<String>, Query, description = "An access token or call token"),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket request", body = ErrorBody),
    )
)]
#[get("/voice-chat/{call_id}")]
pub async fn voice_chat(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = request_token(&req);
    let (response, mut session, stream) = upgrade(&req, body)?;
    let Ok(call) = path.parse::<CallId>() else {
        // Seed 002: an invalid call id gets an error message, then the close.
        actix_web::rt::spawn(async move {
            let _ = session
                .text(r#"{"type":"error","message":"call not found"}"#)
                .await;
            let _ = session.close(None).await;
        });
        return Ok(response);
    };
    actix_web::rt::spawn(voice::voice_chat::serve(
        state, session, stream, call, token,
    ));
    Ok(response)
}

/// The recording in a multipart upload, under one of `fields`.
async fn uploaded_audio(
    req: &HttpRequest,
    multipart: Multipart,
    fields: &[&str],
) -> Result<Vec<u8>, ApiError> {
    require_multipart(req, "the recording in the `audio_file` field")?;
    let upload = read_upload(multipart, fields, MAX_AUDIO_BYTES).await?;
    upload
        .files
        .into_iter()
        .next()
        .map(|file| file.bytes)
        .ok_or_else(|| ApiError::BadRequest("the audio file is missing or empty".into()))
}

/// What the caller said in an uploaded recording, heard by the agent's recogniser.
async fn words_in(
    state: &AppState,
    agent: Option<&AgentConfig>,
    audio: &[u8],
) -> Result<String, ApiError> {
    let stt = state
        .speech
        .recogniser(agent)
        .map_err(|e| ApiError::ServiceUnavailable(e.0))?;
    let text = hear(stt.as_ref(), audio).await?;
    if text.is_empty() {
        return Err(ApiError::BadRequest(
            "no speech was recognised in the audio".into(),
        ));
    }
    Ok(text)
}

/// Seed 002: the caller's spoken answer (WAV or MP3), transcribed and answered like a text turn.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(("call_id" = String, Path, description = "The call's id")),
    request_body(content = String, content_type = "multipart/form-data", description = "`audio_file`: WAV or MP3"),
    responses(
        (status = 200, description = "The reply", body = SalesReply),
        (status = 400, description = "The audio is empty or unreadable", body = ErrorBody),
        (status = 404, description = "No such call, or it has ended", body = ErrorBody),
        (status = 415, description = "Not multipart, or audio that is neither WAV nor MP3", body = ErrorBody),
        (status = 500, description = "Speech recognition failed", body = ErrorBody),
        (status = 503, description = "Speech recognition or the language model is unavailable", body = ErrorBody),
    )
)]
#[post("/respond-audio/{call_id}")]
pub async fn respond_audio(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    multipart: Multipart,
) -> Result<web::Json<SalesReply>, ApiError> {
    let id: CallId = parse_path_id(&path, "call")?;
    let organization = user.0.organization_id;
    let (call, _) = state.calls.get(organization, id).await?;
    if !call.is_active() {
        return Err(ApiError::NotFound("the call has ended".into()));
    }
    let audio = uploaded_audio(&req, multipart, &["audio_file", "file", "audio"]).await?;
    let text = words_in(&state, agent_of(&call).as_ref(), &audio).await?;
    let answer = state.calls.respond(organization, id, &text).await?;
    Ok(web::Json(SalesReply {
        reply: answer.reply.text,
        should_end_call: answer.reply.should_end_call,
        transcript: Some(text),
    }))
}

/// Seed 000: a spoken message in a chat session (a multipart `file`, WAV or MP3).
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(("session_id" = String, Path, description = "The client's session id")),
    request_body(content = String, content_type = "multipart/form-data", description = "`file` (or `audio`, `audio_file`): WAV or MP3; optional `agent_id`"),
    responses(
        (status = 200, description = "The reply, with the transcript", body = SessionReply),
        (status = 400, description = "The audio is empty or unreadable", body = ErrorBody),
        (status = 415, description = "Not multipart, or audio that is neither WAV nor MP3", body = ErrorBody),
        (status = 500, description = "Speech recognition failed", body = ErrorBody),
        (status = 503, description = "Speech recognition or the language model is unavailable", body = ErrorBody),
    )
)]
#[post("/{session_id}/audio")]
pub async fn session_audio(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    multipart: Multipart,
) -> Result<web::Json<SessionReply>, ApiError> {
    require_multipart(&req, "the recording in the `file` field")?;
    let upload = read_upload(multipart, &["file", "audio", "audio_file"], MAX_AUDIO_BYTES).await?;
    let agent_id = upload.field("agent_id").map(ToOwned::to_owned);
    let audio = upload
        .files
        .into_iter()
        .next()
        .map(|file| file.bytes)
        .ok_or_else(|| ApiError::BadRequest("the audio file is missing or empty".into()))?;
    let text = words_in(&state, None, &audio).await?;
    let mut reply =
        session_turn(&state, &user, path.into_inner(), agent_id.as_deref(), &text).await?;
    reply.transcript = Some(text);
    Ok(web::Json(reply))
}

/// A call's recording (a stereo WAV: caller left, agent right).
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(("call_id" = String, Path, description = "The call's id")),
    responses(
        (status = 200, description = "The recording", content_type = "audio/wav", body = Vec<u8>),
        (status = 404, description = "No such call in your organisation, or no recording", body = ErrorBody),
    )
)]
#[get("/{call_id}/recording")]
pub async fn recording(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: CallId = parse_path_id(&path, "call")?;
    // Reading the call first keeps other organisations' recordings out of reach.
    state.calls.get(user.0.organization_id, id).await?;
    let wav = state
        .recordings
        .load(id)
        .await
        .map_err(|e| anyhow::anyhow!("the recording of call {id} cannot be read: {e}"))?
        .ok_or_else(|| ApiError::NotFound("this call has no recording".into()))?;
    Ok(HttpResponse::Ok().content_type("audio/wav").body(wav))
}
