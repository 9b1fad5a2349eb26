//! Seed 003's transcripts: Twilio Voice Intelligence transcripts stored in Twilio's own format
//! (`POST /store-transcript/{sid}`, `GET /stored-twilio-transcripts[/{sid}]`), and enhanced
//! transcripts of both those and the organisation's own calls (`GET /api/enhanced-transcripts/`
//! and `/{sid}`). Every route needs a user; each user sees their organisation's transcripts only.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchboard_domain::call::CallDirection;
use switchboard_domain::page::MAX_PAGE_SIZE;
use switchboard_domain::transcript::{
    EnhancedTranscript, FlowLine, Participant, ParticipantRole, StoreRequest, StoredTranscript,
    TranscriptFilter, TranscriptOrigin,
};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::http::extract::CurrentUser;
use crate::http::json::ApiJson;
use crate::routes::page_request;
use crate::state::AppState;

/// How a transcript being stored is labelled; both optional. What is left out is taken from
/// the organisation's own call the transcript names, when there is one.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StoreTranscriptRequest {
    #[schema(example = "Sales Call")]
    pub scenario_name: Option<String>,
    /// `inbound` or `outbound`.
    pub call_direction: Option<String>,
}

/// A stored transcript exactly as Twilio's `GET /v2/Transcripts/{sid}` answered it, with its
/// sentences (as `GET .../Sentences` answered them, in order) under `sentences`, and how it was
/// stored under `stored` (`id`, `stored_at`, `scenario_name`, `call_direction`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct TwilioTranscriptView(Map<String, Value>);

impl From<StoredTranscript> for TwilioTranscriptView {
    fn from(transcript: StoredTranscript) -> Self {
        let mut object = match transcript.resource {
            Value::Object(object) => object,
            // Stored resources are objects; anything else is kept, under its own key.
            other => Map::from_iter([("resource".to_owned(), other)]),
        };
        object.insert("sentences".into(), Value::Array(transcript.sentences));
        object.insert(
            "stored".into(),
            serde_json::json!({
                "id": transcript.id,
                "stored_at": transcript.stored_at,
                "scenario_name": transcript.labels.scenario_name,
                "call_direction": transcript.labels.call_direction.map(CallDirection::as_str),
            }),
        );
        Self(object)
    }
}

/// The answer to a store.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredTranscriptResponse {
    #[schema(example = "Transcript stored successfully")]
    pub message: &'static str,
    pub transcript_sid: String,
    /// `true` when this request stored it; `false` when it was stored already (Twilio was not
    /// asked again).
    pub created: bool,
    pub transcript: TwilioTranscriptView,
}

/// Paging of the stored list, in the shape of Twilio's `meta` (`page` counts from 1 here).
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredListMeta {
    #[schema(example = "transcripts")]
    pub key: &'static str,
    pub page: u64,
    pub page_size: u64,
    /// How many transcripts the organisation has stored.
    pub total: u64,
    pub url: String,
    pub first_page_url: String,
    pub previous_page_url: Option<String>,
    pub next_page_url: Option<String>,
}

/// A page of stored transcripts, the most recently stored first.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredTranscriptList {
    pub transcripts: Vec<TwilioTranscriptView>,
    pub meta: StoredListMeta,
}

/// The stored list's paging.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct StoredListQuery {
    /// From 1 (default 1).
    pub page: Option<u64>,
    /// 1 to 100 (default 20).
    pub page_size: Option<u64>,
}

const STORED_LIST_PATH: &str = "/stored-twilio-transcripts";

fn page_url(page: u64, page_size: u64) -> String {
    format!("{STORED_LIST_PATH}?page={page}&page_size={page_size}")
}

/// Fetches a transcript and all its sentences from Twilio Voice Intelligence and stores it for
/// the organisation (seed 003). Stored already: the stored copy, without asking Twilio.
#[utoipa::path(
    tag = "transcripts",
    security(("bearer" = [])),
    params(("sid" = String, Path, description = "The transcript's sid: GT and 32 hexadecimal digits")),
    request_body(content = Option<StoreTranscriptRequest>, description = "Optional labels"),
    responses(
        (status = 201, description = "Fetched from Twilio and stored", body = StoredTranscriptResponse),
        (status = 200, description = "Stored already; Twilio was not asked", body = StoredTranscriptResponse),
        (status = 400, description = "Not a transcript sid", body = ErrorBody),
        (status = 404, description = "Twilio knows no such transcript", body = ErrorBody),
        (status = 422, description = "Invalid labels", body = ErrorBody),
        (status = 502, description = "Twilio refused or failed; nothing was stored", body = ErrorBody),
        (status = 503, description = "Twilio is not configured", body = ErrorBody),
    )
)]
#[post("/store-transcript/{sid}")]
pub async fn store_transcript(
    user: CurrentUser,
    state: web::Data<AppState>,
    sid: web::Path<String>,
    body: Option<ApiJson<StoreTranscriptRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.map(ApiJson::into_inner).unwrap_or_default();
    let stored = state
        .transcripts
        .store(
            user.0.organization_id,
            user.0.user_id,
            &sid,
            StoreRequest {
                scenario_name: body.scenario_name,
                call_direction: body.call_direction,
            },
        )
        .await?;
    let response = StoredTranscriptResponse {
        message: if stored.created {
            "Transcript stored successfully"
        } else {
            "Transcript already stored"
        },
        transcript_sid: stored.transcript.sid.to_string(),
        created: stored.created,
        transcript: stored.transcript.into(),
    };
    Ok(if stored.created {
        HttpResponse::Created().json(response)
    } else {
        HttpResponse::Ok().json(response)
    })
}

/// The organisation's stored transcripts in Twilio's list format, from the database alone.
#[utoipa::path(
    tag = "transcripts",
    security(("bearer" = [])),
    params(StoredListQuery),
    responses(
        (status = 200, description = "A page of stored transcripts", body = StoredTranscriptList),
        (status = 422, description = "Invalid paging", body = ErrorBody),
    )
)]
#[get("/stored-twilio-transcripts")]
pub async fn list_stored_transcripts(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<StoredListQuery>,
) -> Result<web::Json<StoredTranscriptList>, ApiError> {
    let page = page_request(query.page, query.page_size)?;
    let listed = state
        .transcripts
        .list_stored(user.0.organization_id, page)
        .await?;
    let shown = page.offset() + listed.items.len() as u64;
    Ok(web::Json(StoredTranscriptList {
        transcripts: listed.items.into_iter().map(Into::into).collect(),
        meta: StoredListMeta {
            key: "transcripts",
            page: page.page,
            page_size: page.page_size,
            total: listed.total,
            url: page_url(page.page, page.page_size),
            first_page_url: page_url(1, page.page_size),
            previous_page_url: (page.page > 1).then(|| page_url(page.page - 1, page.page_size)),
            next_page_url: (shown < listed.total).then(|| page_url(page.page + 1, page.page_size)),
        },
    }))
}

/// One stored transcript in Twilio's format, from the database alone.
#[utoipa::path(
    tag = "transcripts",
    security(("bearer" = [])),
    params(("sid" = String, Path, description = "The transcript's sid")),
    responses(
        (status = 200, description = "The transcript and its sentences", body = TwilioTranscriptView),
        (status = 400, description = "Not a transcript sid", body = ErrorBody),
        (status = 404, description = "Not stored by this organisation", body = ErrorBody),
    )
)]
#[get("/stored-twilio-transcripts/{sid}")]
pub async fn get_stored_transcript(
    user: CurrentUser,
    state: web::Data<AppState>,
    sid: web::Path<String>,
) -> Result<web::Json<TwilioTranscriptView>, ApiError> {
    let transcript = state
        .transcripts
        .stored(user.0.organization_id, &sid)
        .await?;
    Ok(web::Json(transcript.into()))
}

/// The enhanced list's filters and paging.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct EnhancedQuery {
    /// Transcripts to skip (default 0).
    pub skip: Option<u64>,
    /// 1 to 100 (default 50).
    pub limit: Option<u64>,
    /// `inbound` or `outbound`.
    pub call_direction: Option<String>,
    /// A scenario's name (or a custom scenario's id), without regard to case.
    pub scenario_name: Option<String>,
}

const DEFAULT_ENHANCED_LIMIT: u64 = 50;

/// A voice in the conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpeakerView {
    pub channel: u32,
    /// `agent` or `customer`.
    pub role: &'static str,
    pub name: String,
}

fn role_name(role: ParticipantRole) -> &'static str {
    match role {
        ParticipantRole::Agent => "agent",
        ParticipantRole::Customer => "customer",
    }
}

fn origin_name(origin: TranscriptOrigin) -> &'static str {
    match origin {
        TranscriptOrigin::Call => "call",
        TranscriptOrigin::Twilio => "twilio",
    }
}

impl From<&Participant> for SpeakerView {
    fn from(p: &Participant) -> Self {
        Self {
            channel: p.channel,
            role: role_name(p.role),
            name: p.name.clone(),
        }
    }
}

/// A participant in a list item's summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantBrief {
    pub role: &'static str,
    pub name: String,
}

/// A list item's summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnhancedBrief {
    /// `m:ss` (`h:mm:ss` from an hour on), when the duration is known.
    #[schema(example = "3:00")]
    pub duration_formatted: Option<String>,
    /// By channel.
    pub participant_info: BTreeMap<String, ParticipantBrief>,
}

/// One transcript of the enhanced list.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnhancedTranscriptItem {
    /// The call's id, or the stored copy's.
    pub id: String,
    /// A Voice Intelligence sid (`GT...`); for an own call its `CallSid`, else its id.
    pub transcript_sid: String,
    /// `call` (an own call) or `twilio` (a stored Voice Intelligence transcript).
    pub source: &'static str,
    pub call_date: DateTime<Utc>,
    /// Seconds.
    pub duration: Option<i64>,
    pub call_direction: Option<&'static str>,
    pub scenario_name: Option<String>,
    pub participant_count: u64,
    pub conversation_turns: u64,
    pub total_words: u64,
    pub summary: EnhancedBrief,
}

impl From<EnhancedTranscript> for EnhancedTranscriptItem {
    fn from(t: EnhancedTranscript) -> Self {
        Self {
            summary: EnhancedBrief {
                duration_formatted: t.duration_formatted(),
                participant_info: t
                    .participants
                    .iter()
                    .map(|p| {
                        (
                            p.participant.channel.to_string(),
                            ParticipantBrief {
                                role: role_name(p.participant.role),
                                name: p.participant.name.clone(),
                            },
                        )
                    })
                    .collect(),
            },
            id: t.id,
            transcript_sid: t.transcript_sid,
            source: origin_name(t.origin),
            call_date: t.call_date,
            duration: t.duration,
            call_direction: t.call_direction.map(CallDirection::as_str),
            scenario_name: t.scenario_name,
            participant_count: t.summary.participant_count,
            conversation_turns: t.summary.total_sentences,
            total_words: t.summary.total_words,
        }
    }
}

/// A participant and how much they said.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantView {
    pub channel: u32,
    pub role: &'static str,
    pub name: String,
    /// Seconds.
    pub total_speaking_time: f64,
    pub word_count: u64,
    pub sentence_count: u64,
}

/// One line of the conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowLineView {
    pub sequence: u64,
    pub speaker: SpeakerView,
    pub text: String,
    /// Seconds from the start of the conversation.
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    pub duration: Option<f64>,
    pub confidence: Option<f64>,
    pub word_count: u64,
}

impl From<FlowLine> for FlowLineView {
    fn from(line: FlowLine) -> Self {
        Self {
            sequence: line.sequence,
            speaker: (&line.speaker).into(),
            text: line.text,
            start_time: line.start_time,
            end_time: line.end_time,
            duration: line.duration,
            confidence: line.confidence,
            word_count: line.word_count,
        }
    }
}

/// Figures over the whole transcript.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryView {
    pub total_duration_seconds: Option<i64>,
    pub total_sentences: u64,
    pub total_words: u64,
    pub participant_count: u64,
    pub average_confidence: Option<f64>,
}

/// A transcript with participants, conversation flow and summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnhancedTranscriptView {
    pub id: String,
    pub transcript_sid: String,
    pub source: &'static str,
    pub call_date: DateTime<Utc>,
    pub duration: Option<i64>,
    pub call_direction: Option<&'static str>,
    pub scenario_name: Option<String>,
    pub full_text: String,
    /// By channel.
    pub participant_info: BTreeMap<String, ParticipantView>,
    pub conversation_flow: Vec<FlowLineView>,
    pub summary_data: SummaryView,
}

impl From<EnhancedTranscript> for EnhancedTranscriptView {
    fn from(t: EnhancedTranscript) -> Self {
        Self {
            participant_info: t
                .participants
                .iter()
                .map(|p| {
                    (
                        p.participant.channel.to_string(),
                        ParticipantView {
                            channel: p.participant.channel,
                            role: role_name(p.participant.role),
                            name: p.participant.name.clone(),
                            total_speaking_time: p.total_speaking_time,
                            word_count: p.word_count,
                            sentence_count: p.sentence_count,
                        },
                    )
                })
                .collect(),
            summary_data: SummaryView {
                total_duration_seconds: t.summary.total_duration_seconds,
                total_sentences: t.summary.total_sentences,
                total_words: t.summary.total_words,
                participant_count: t.summary.participant_count,
                average_confidence: t.summary.average_confidence,
            },
            id: t.id,
            transcript_sid: t.transcript_sid,
            source: origin_name(t.origin),
            call_date: t.call_date,
            duration: t.duration,
            call_direction: t.call_direction.map(CallDirection::as_str),
            scenario_name: t.scenario_name,
            full_text: t.full_text,
            conversation_flow: t.flow.into_iter().map(Into::into).collect(),
        }
    }
}

async fn enhanced_list(
    user: &CurrentUser,
    state: &AppState,
    query: EnhancedQuery,
) -> Result<Vec<EnhancedTranscriptItem>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_ENHANCED_LIMIT);
    if limit == 0 || limit > MAX_PAGE_SIZE {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        ));
    }
    let direction = query
        .call_direction
        .as_deref()
        .map(str::trim)
        .filter(|raw| !raw.is_empty())
        .map(CallDirection::parse)
        .transpose()
        .map_err(|message| ApiError::field("call_direction", message))?;
    let filter = TranscriptFilter {
        direction,
        scenario_name: query
            .scenario_name
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty()),
    };
    let transcripts = state
        .transcripts
        .enhanced_list(
            user.0.organization_id,
            &filter,
            query.skip.unwrap_or(0),
            limit,
        )
        .await?;
    Ok(transcripts.into_iter().map(Into::into).collect())
}

/// Enhanced transcripts of the organisation's own calls and stored Twilio transcripts, newest
/// first (seed 003).
#[utoipa::path(
    tag = "transcripts",
    security(("bearer" = [])),
    params(EnhancedQuery),
    responses(
        (status = 200, description = "Transcripts, newest first", body = Vec<EnhancedTranscriptItem>),
        (status = 422, description = "An invalid filter or limit", body = ErrorBody),
    )
)]
#[get("/api/enhanced-transcripts/")]
pub async fn list_enhanced_transcripts(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<EnhancedQuery>,
) -> Result<web::Json<Vec<EnhancedTranscriptItem>>, ApiError> {
    Ok(web::Json(
        enhanced_list(&user, &state, query.into_inner()).await?,
    ))
}

/// One enhanced transcript: a stored Twilio transcript by its `GT...` sid, or an own call by
/// its id or its Twilio `CallSid`.
#[utoipa::path(
    tag = "transcripts",
    security(("bearer" = [])),
    params(("sid" = String, Path, description = "A transcript sid (GT...), a call id, or a call's CallSid")),
    responses(
        (status = 200, description = "The transcript", body = EnhancedTranscriptView),
        (status = 400, description = "A malformed GT... sid", body = ErrorBody),
        (status = 404, description = "No such transcript in the organisation", body = ErrorBody),
    )
)]
#[get("/api/enhanced-transcripts/{sid}")]
pub async fn get_enhanced_transcript(
    user: CurrentUser,
    state: web::Data<AppState>,
    sid: web::Path<String>,
) -> Result<web::Json<EnhancedTranscriptView>, ApiError> {
    let transcript = state
        .transcripts
        .enhanced(user.0.organization_id, &sid)
        .await?;
    Ok(web::Json(transcript.into()))
}
