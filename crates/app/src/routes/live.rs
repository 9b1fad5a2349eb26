//! The live feeds' sockets (`WS /ws`, `WS /ws/calls/{call_id}`): the upgrade here, the feed in
//! [`crate::events::feeds`]. Messages are described in `docs/events.md`.

use actix_web::{HttpRequest, HttpResponse, get, web};
use switchboard_domain::ids::CallId;

use crate::error::{ApiError, ErrorBody};
use crate::events::feeds;
use crate::routes::parse_path_id;
use crate::routes::telephony::upgrade;
use crate::state::AppState;
use crate::voice::socket::request_token;

/// Seed 000's activity feed: every event of the organisation as it happens (calls started, moved
/// and ended, transcript lines, analyses, agent changes), after a `ready` message, plus
/// `metrics` with live counts when they change. The token is a user's access token, in the
/// `token` query parameter or a first `{"type":"auth","token":...}` message; a bad one closes
/// the socket with code 4401.
#[utoipa::path(
    tag = "live",
    params(
        ("token" = Option<String>, Query, description = "An access token"),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket request", body = ErrorBody),
    )
)]
#[get("")]
pub async fn activity_feed(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = request_token(&req);
    let (response, session, stream) = upgrade(&req, body)?;
    actix_web::rt::spawn(feeds::serve_organization(state, session, stream, token));
    Ok(response)
}

/// Seed 001's call feed: a `snapshot` of the call and its transcript, then its status moves,
/// transcript lines (with latency), end and analysis as they happen. Authenticated like
/// `WS /ws`; a call that is not the user's organisation's closes the socket with code 4404.
#[utoipa::path(
    tag = "live",
    params(
        ("call_id" = String, Path, description = "The call's id"),
        ("token" = Option<String>, Query, description = "An access token"),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket request", body = ErrorBody),
        (status = 404, description = "Not a call id", body = ErrorBody),
    )
)]
#[get("/calls/{call_id}")]
pub async fn call_feed(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let call: CallId = parse_path_id(&path, "call")?;
    let token = request_token(&req);
    let (response, session, stream) = upgrade(&req, body)?;
    actix_web::rt::spawn(feeds::serve_call(state, session, stream, call, token));
    Ok(response)
}
