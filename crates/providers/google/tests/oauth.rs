//! `GoogleCalendar`'s OAuth 2 half against testkit's `FakeGoogle`: the consent URL, the code
//! exchange and the refresh grant, what Google's refusals become, which token requests are sent
//! again, and the client secret kept out of every message.

mod support;

use std::collections::HashMap;

use chrono::Duration;
use switchboard_domain::ports::{CalendarProvider, CalendarProviderError};
use switchboard_google::{CALENDAR_SCOPE, GoogleCalendar, GoogleConfigError};
use switchboard_testkit::{
    FAKE_GOOGLE_CLIENT_ID, FAKE_GOOGLE_CLIENT_SECRET, FAKE_GOOGLE_REDIRECT_URI, FakeGoogle,
};
use url::Url;

use support::{MAX_RETRIES, adapter, config_with_secret, connected};

type TestResult = anyhow::Result<()>;

#[tokio::test]
async fn the_consent_url_asks_for_offline_calendar_access_and_carries_the_state() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let state = "a b&c=d/é";

    let url = Url::parse(&google.authorization_url(state))?;

    assert_eq!(
        url.origin().ascii_serialization(),
        fake.oauth_base_url(),
        "the consent page is on the configured OAuth host"
    );
    assert_eq!(url.path(), "/o/oauth2/v2/auth");
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let expected = HashMap::from(
        [
            ("client_id", FAKE_GOOGLE_CLIENT_ID),
            ("redirect_uri", FAKE_GOOGLE_REDIRECT_URI),
            ("response_type", "code"),
            ("scope", CALENDAR_SCOPE),
            ("access_type", "offline"),
            ("prompt", "consent"),
            ("include_granted_scopes", "true"),
            ("state", state),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    assert_eq!(params, expected);
    assert!(
        !url.as_str().contains(FAKE_GOOGLE_CLIENT_SECRET),
        "the secret never goes to the browser"
    );
    assert!(fake.requests().is_empty(), "building the URL sends nothing");
    Ok(())
}

#[tokio::test]
async fn a_code_is_exchanged_for_working_tokens() -> TestResult {
    let fake = FakeGoogle::start().await?;
    fake.set_expires_in(1800);
    let google = adapter(&fake)?;
    let code = fake.consent();

    let tokens = google.exchange_code(&code).await?;

    assert!(tokens.access_token.starts_with("ya29."));
    assert!(
        tokens
            .refresh_token
            .as_deref()
            .is_some_and(|t| t.starts_with("1//"))
    );
    assert_eq!(tokens.expires_in, Duration::seconds(1800));
    assert_eq!(tokens.scope.as_deref(), Some(CALENDAR_SCOPE));

    let requests = fake.token_requests("authorization_code");
    assert_eq!(requests.len(), 1);
    let form = &requests[0].form;
    assert_eq!(form.get("code"), Some(code.as_str()));
    assert_eq!(form.get("redirect_uri"), Some(FAKE_GOOGLE_REDIRECT_URI));
    assert_eq!(form.get("client_id"), Some(FAKE_GOOGLE_CLIENT_ID));
    assert_eq!(form.get("client_secret"), Some(FAKE_GOOGLE_CLIENT_SECRET));

    // The access token opens the calendar.
    google
        .list_events(&tokens.access_token, "primary", chrono::Utc::now(), 5)
        .await?;
    Ok(())
}

#[tokio::test]
async fn an_unknown_or_used_code_is_an_invalid_grant() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;

    let unknown = google.exchange_code("4/0A-never-issued").await;
    assert!(
        matches!(&unknown, Err(CalendarProviderError::InvalidGrant(m)) if m.contains("Malformed auth code")),
        "{unknown:?}"
    );

    let code = fake.consent();
    google.exchange_code(&code).await?;
    let used = google.exchange_code(&code).await;
    assert!(
        matches!(used, Err(CalendarProviderError::InvalidGrant(_))),
        "a code works once: {used:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_wrong_client_secret_is_rejected_without_showing_it() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let wrong_secret = "GOCSPX-not-the-right-secret";
    let google = GoogleCalendar::new(config_with_secret(&fake, wrong_secret)?)?;

    let result = google.exchange_code(&fake.consent()).await;

    let Err(CalendarProviderError::Rejected(message)) = &result else {
        panic!("a wrong secret is a rejected client, not a revoked grant: {result:?}");
    };
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("OAuth client was not found"), "{message}");
    assert!(!message.contains(wrong_secret), "{message}");
    assert_eq!(fake.token_requests("authorization_code").len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_refresh_gives_a_new_access_token_and_keeps_no_refresh_token() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let first = connected(&fake, &google).await?;
    let refresh_token = first.refresh_token.clone().unwrap_or_default();
    fake.expire_access_tokens();

    let refreshed = google.refresh(&refresh_token).await?;

    assert_ne!(refreshed.access_token, first.access_token);
    assert_eq!(
        refreshed.refresh_token, None,
        "Google gives no new refresh token on a refresh; the caller keeps the old one"
    );
    assert_eq!(refreshed.expires_in, Duration::seconds(3599));
    let requests = fake.token_requests("refresh_token");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].form.get("refresh_token"),
        Some(refresh_token.as_str())
    );
    google
        .list_events(&refreshed.access_token, "primary", chrono::Utc::now(), 5)
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_revoked_refresh_token_is_an_invalid_grant() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let tokens = connected(&fake, &google).await?;
    fake.revoke_refresh_tokens();

    let result = google
        .refresh(tokens.refresh_token.as_deref().unwrap_or_default())
        .await;

    assert!(
        matches!(&result, Err(CalendarProviderError::InvalidGrant(m)) if m.contains("expired or revoked")),
        "{result:?}"
    );
    assert_eq!(
        fake.token_requests("refresh_token").len(),
        1,
        "a refusal is not retried"
    );
    Ok(())
}

#[tokio::test]
async fn a_failing_token_endpoint_is_retried_for_a_refresh() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let tokens = connected(&fake, &google).await?;
    let refresh_token = tokens.refresh_token.unwrap_or_default();
    fake.fail_next_token_request(503, "backend_error");
    fake.fail_next_token_request(500, "internal_failure");

    google.refresh(&refresh_token).await?;

    let answered: Vec<u16> = fake
        .token_requests("refresh_token")
        .iter()
        .map(|r| r.answered)
        .collect();
    assert_eq!(answered, [503, 500, 200]);
    Ok(())
}

#[tokio::test]
async fn a_token_endpoint_that_keeps_failing_is_unavailable_after_the_retries() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let tokens = connected(&fake, &google).await?;
    for _ in 0..=MAX_RETRIES + 1 {
        fake.fail_next_token_request(503, "backend_error");
    }

    let result = google
        .refresh(tokens.refresh_token.as_deref().unwrap_or_default())
        .await;

    assert!(
        matches!(result, Err(CalendarProviderError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(
        fake.token_requests("refresh_token").len(),
        usize::try_from(MAX_RETRIES)? + 1
    );
    Ok(())
}

#[tokio::test]
async fn a_code_exchange_is_never_sent_twice() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    fake.fail_next_token_request(503, "backend_error");

    let result = google.exchange_code(&fake.consent()).await;

    assert!(
        matches!(result, Err(CalendarProviderError::Unavailable(_))),
        "{result:?}"
    );
    // A code is single use: had Google redeemed it before failing, a resend would be refused
    // and hide the real failure.
    assert_eq!(fake.token_requests("authorization_code").len(), 1);
    Ok(())
}

#[tokio::test]
async fn an_absurd_token_lifetime_is_capped_rather_than_trusted() -> TestResult {
    let fake = FakeGoogle::start().await?;
    fake.set_expires_in(i64::MAX);
    let google = adapter(&fake)?;

    let tokens = connected(&fake, &google).await?;

    assert!(tokens.expires_in > Duration::zero());
    assert!(
        tokens.expires_in <= Duration::days(1),
        "{:?}",
        tokens.expires_in
    );
    Ok(())
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let config = config_with_secret(&fake, FAKE_GOOGLE_CLIENT_SECRET)?;
    let google = GoogleCalendar::new(config.clone())?;
    let tokens = connected(&fake, &google).await?;
    let refresh_token = tokens.refresh_token.clone().unwrap_or_default();
    let kept = tokens.clone().issued_at(chrono::Utc::now());

    for debug in [
        format!("{config:?}"),
        format!("{google:?}"),
        format!("{tokens:?}"),
        format!("{kept:?}"),
    ] {
        assert!(!debug.contains(FAKE_GOOGLE_CLIENT_SECRET), "{debug}");
        assert!(!debug.contains(&tokens.access_token), "{debug}");
        assert!(!debug.contains(&refresh_token), "{debug}");
    }
    assert!(format!("{config:?}").contains(FAKE_GOOGLE_CLIENT_ID));
    Ok(())
}

#[tokio::test]
async fn a_configuration_without_a_client_is_refused() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let mut no_id = config_with_secret(&fake, FAKE_GOOGLE_CLIENT_SECRET)?;
    no_id.client_id = "  ".into();
    assert_eq!(
        GoogleCalendar::new(no_id).err(),
        Some(GoogleConfigError::EmptyClientId)
    );
    assert_eq!(
        GoogleCalendar::new(config_with_secret(&fake, "")?).err(),
        Some(GoogleConfigError::EmptyClientSecret)
    );
    Ok(())
}
