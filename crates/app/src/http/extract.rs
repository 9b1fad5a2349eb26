//! Extractors: the authenticated caller, the rate limit of credential routes, the client's
//! address and agent.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use switchboard_domain::auth::{ClientInfo, Principal};
use switchboard_domain::ports::{Quota, RateDecision};

use crate::error::ApiError;
use crate::state::AppState;

const MAX_USER_AGENT_CHARS: usize = 256;

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("application state is not registered")))
}

/// The caller, authenticated by a bearer access token of a live session.
#[derive(Clone, Copy, Debug)]
pub struct CurrentUser(pub Principal);

/// The bearer token of the `Authorization` header, if any.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state?;
            let token = token.ok_or_else(|| {
                ApiError::Unauthorized(
                    "not authenticated: send Authorization: Bearer <access token>".into(),
                )
            })?;
            Ok(Self(state.auth.authenticate(&token).await?))
        })
    }
}

/// The client's address as seen by this server. Proxies' forwarding headers are not trusted:
/// they are the client's to forge.
#[must_use]
pub fn client_address(req: &HttpRequest) -> String {
    req.peer_addr()
        .map_or_else(|| "unknown".to_owned(), |addr| addr.ip().to_string())
}

/// Address and user agent, kept on a new session.
#[must_use]
pub fn client_info(req: &HttpRequest) -> ClientInfo {
    ClientInfo {
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect()),
        ip_address: Some(client_address(req)),
    }
}

/// Present in a handler's arguments, counts one credential attempt (sign-up, login, refresh)
/// against the client address's quota (`RATE_LIMIT_AUTH_PER_MIN`), answering 429 beyond it.
#[derive(Clone, Copy, Debug)]
pub struct AuthAttempt;

impl FromRequest for AuthAttempt {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let key = format!("auth:{}", client_address(req));
        Box::pin(async move {
            let state = state?;
            rate_limit(&state, &key, state.settings.rate_limits.auth_per_min).await?;
            Ok(Self)
        })
    }
}

/// Counts one hit of `key` against `per_minute` (0: unlimited).
///
/// # Errors
/// `RateLimited` with the wait until the next allowed hit.
pub async fn rate_limit(state: &AppState, key: &str, per_minute: u32) -> Result<(), ApiError> {
    match state.limiter.hit(key, Quota::per_minute(per_minute)).await {
        RateDecision::Allowed { .. } => Ok(()),
        RateDecision::Limited { retry_after } => Err(ApiError::RateLimited(retry_after)),
    }
}
