//! OAuth 2 for web servers (PROVIDERS.md 5.1): the consent URL, and the token endpoint's two
//! grants, `authorization_code` and `refresh_token`.

use chrono::Duration;
use serde::Deserialize;
use switchboard_domain::ports::{CalendarProviderError, GrantedTokens};
use url::Url;

use crate::config::{CALENDAR_SCOPE, GoogleConfig};
use crate::transport::{Resend, Transport};

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
    scope: Option<String>,
}

/// How long an access token lives when Google does not say (it always does, as 3599).
const DEFAULT_EXPIRES_IN_SECS: i64 = 3600;
/// The longest lifetime believed. Google's access tokens live an hour; a larger answer is capped
/// so the token is refreshed in time rather than trusted for years, and so the arithmetic on it
/// cannot overflow.
const MAX_EXPIRES_IN_SECS: i64 = 24 * 3600;

/// The consent page's URL for `state`.
pub(crate) fn authorization_url(config: &GoogleConfig, auth_endpoint: &Url, state: &str) -> String {
    let mut url = auth_endpoint.clone();
    url.query_pairs_mut()
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", config.redirect_uri.as_str())
        .append_pair("response_type", "code")
        .append_pair("scope", CALENDAR_SCOPE)
        .append_pair("access_type", "offline")
        .append_pair("prompt", "consent")
        .append_pair("include_granted_scopes", "true")
        .append_pair("state", state);
    url.into()
}

/// Posts a grant to the token endpoint.
pub(crate) async fn grant(
    transport: &Transport,
    config: &GoogleConfig,
    grant: &[(&str, &str)],
    resend: Resend,
) -> Result<GrantedTokens, CalendarProviderError> {
    let mut form: Vec<(&str, &str)> = vec![
        ("client_id", config.client_id.as_str()),
        ("client_secret", config.client_secret.expose()),
    ];
    form.extend_from_slice(grant);
    let answer: TokenAnswer = transport
        .send("token", resend, || {
            transport
                .client()
                .post(config.token_url.clone())
                .form(&form)
        })
        .await?;
    if answer.access_token.is_empty() {
        return Err(CalendarProviderError::Unexpected(anyhow::anyhow!(
            "Google's token answer has an empty access token"
        )));
    }
    let expires_in = answer
        .expires_in
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_EXPIRES_IN_SECS)
        .min(MAX_EXPIRES_IN_SECS);
    Ok(GrantedTokens {
        access_token: answer.access_token,
        refresh_token: answer.refresh_token.filter(|t| !t.is_empty()),
        expires_in: Duration::seconds(expires_in),
        scope: answer.scope,
    })
}
