//! What the Google adapter tests share: an adapter pointed at a `FakeGoogle`, with quick
//! retries, and a connected user's tokens.

use std::time::Duration;

use switchboard_domain::ports::{CalendarProvider, GrantedTokens};
use switchboard_google::{ApiKey, GoogleCalendar, GoogleConfig};
use switchboard_testkit::{
    FAKE_GOOGLE_CLIENT_ID, FAKE_GOOGLE_CLIENT_SECRET, FAKE_GOOGLE_REDIRECT_URI, FakeGoogle,
};
use url::Url;

/// Retries after the first attempt, as the adapter is configured here.
pub const MAX_RETRIES: u32 = 2;

/// The fake's client, with `secret`.
pub fn config_with_secret(fake: &FakeGoogle, secret: &str) -> anyhow::Result<GoogleConfig> {
    let mut config = GoogleConfig::new(
        FAKE_GOOGLE_CLIENT_ID.to_owned(),
        ApiKey::new(secret),
        Url::parse(FAKE_GOOGLE_REDIRECT_URI)?,
        Url::parse(&fake.oauth_base_url())?,
        Url::parse(&fake.token_url())?,
        Url::parse(&fake.calendar_base_url())?,
    );
    config.max_retries = MAX_RETRIES;
    config.retry_base = Duration::from_millis(5);
    config.request_timeout = Duration::from_secs(5);
    Ok(config)
}

/// An adapter for the fake's own client.
pub fn adapter(fake: &FakeGoogle) -> anyhow::Result<GoogleCalendar> {
    Ok(GoogleCalendar::new(config_with_secret(
        fake,
        FAKE_GOOGLE_CLIENT_SECRET,
    )?)?)
}

/// The tokens of a user who just consented.
pub async fn connected(
    fake: &FakeGoogle,
    google: &GoogleCalendar,
) -> anyhow::Result<GrantedTokens> {
    Ok(google.exchange_code(&fake.consent()).await?)
}
