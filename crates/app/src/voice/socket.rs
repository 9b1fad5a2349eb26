//! What every voice socket does before its call starts: find the credential (the
//! `Authorization` header, a `token` query parameter, or a first message `{"type":"auth",
//! "token":...}`, since browsers cannot set headers on a WebSocket), check that it opens the
//! call, and report failures as `{"type":"error","message":...}` before closing.

use std::time::Duration;

use actix_web::HttpRequest;
use actix_ws::{Message, MessageStream, Session};
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::json;
use switchboard_domain::ids::{CallId, OrganizationId};

use super::tokens::Purpose;
use crate::http::extract::bearer_token;
use crate::state::AppState;

/// How long a client has to send its first message when the token is not in the request.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct AuthMessage {
    #[serde(rename = "type")]
    kind: String,
    token: Option<String>,
}

/// The credential the upgrade request carries, if any.
#[must_use]
pub fn request_token(req: &HttpRequest) -> Option<String> {
    bearer_token(req).or_else(|| {
        url::form_urlencoded::parse(req.query_string().as_bytes())
            .find(|(name, _)| name == "token")
            .map(|(_, token)| token.trim().to_owned())
            .filter(|token| !token.is_empty())
    })
}

/// Waits for `{"type":"auth","token":...}` as the first message.
pub async fn first_message_token(stream: &mut MessageStream) -> Option<String> {
    let wait = async {
        loop {
            match stream.next().await? {
                Ok(Message::Text(text)) => {
                    let message: AuthMessage = serde_json::from_str(&text).ok()?;
                    return (message.kind == "auth").then_some(message.token).flatten();
                }
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Nop) => {}
                _ => return None,
            }
        }
    };
    tokio::time::timeout(AUTH_TIMEOUT, wait)
        .await
        .ok()
        .flatten()
}

/// The organisation whose call `token` opens: a call token issued for this call, or a user's
/// access token (the call must then be the user's organisation's, which the caller checks by
/// reading the call within it).
pub async fn authorize(
    state: &AppState,
    call: CallId,
    token: &str,
) -> Result<Option<OrganizationId>, &'static str> {
    if state
        .call_tokens
        .verify(Purpose::Browser, call, token, chrono::Utc::now())
    {
        return Ok(None);
    }
    match state.auth.authenticate(token).await {
        Ok(principal) => Ok(Some(principal.organization_id)),
        Err(_) => Err("not authenticated: the token is invalid or expired"),
    }
}

/// Sends `{"type":"error","message":...}` and closes the socket.
pub async fn refuse(mut session: Session, message: &str) {
    let _ = session
        .text(json!({"type": "error", "message": message}).to_string())
        .await;
    let _ = session.close(None).await;
}
