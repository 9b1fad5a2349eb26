//! `TwilioIntelligence` against testkit's `FakeTwilioIntelligence`: every page of sentences read
//! in order, the limits on where and how far paging goes, Twilio's refusals and failures, and
//! malformed sids refused before anything is sent.

use std::time::Duration;

use switchboard_domain::ports::{TranscriptSource, TranscriptSourceError};
use switchboard_domain::transcript::TranscriptSid;
use switchboard_testkit::{
    FAKE_TWILIO_ACCOUNT_SID, FAKE_TWILIO_AUTH_TOKEN, FakeTwilioIntelligence, fake_sentence,
};
use switchboard_twilio::{
    ApiKey, IntelligenceConfig, TwilioConfig, TwilioConfigError, TwilioIntelligence,
};
use url::Url;

type TestResult = anyhow::Result<()>;

/// Retries after the first attempt, as the client is configured here.
const MAX_RETRIES: u32 = 2;

fn account(account_sid: &str, token: &str) -> anyhow::Result<TwilioConfig> {
    // The REST base URL is not used by the transcript client.
    let mut config = TwilioConfig::with_base_url(
        account_sid,
        ApiKey::new(token),
        Url::parse("http://127.0.0.1:9")?,
    );
    config.max_retries = MAX_RETRIES;
    config.retry_base = Duration::from_millis(5);
    config.max_retry_wait = Duration::from_millis(20);
    config.request_timeout = Duration::from_secs(5);
    Ok(config)
}

fn client_with(
    fake: &FakeTwilioIntelligence,
    token: &str,
    page_size: u32,
    max_pages: u32,
) -> anyhow::Result<TwilioIntelligence> {
    let mut paging = IntelligenceConfig::with_base_url(Url::parse(&fake.base_url())?);
    paging.page_size = page_size;
    paging.max_pages = max_pages;
    Ok(TwilioIntelligence::new(
        &account(FAKE_TWILIO_ACCOUNT_SID, token)?,
        &paging,
    )?)
}

fn client(
    fake: &FakeTwilioIntelligence,
    page_size: u32,
    max_pages: u32,
) -> anyhow::Result<TwilioIntelligence> {
    client_with(fake, FAKE_TWILIO_AUTH_TOKEN, page_size, max_pages)
}

fn sid(raw: &str) -> anyhow::Result<TranscriptSid> {
    TranscriptSid::parse(raw).map_err(anyhow::Error::msg)
}

#[tokio::test]
async fn every_page_is_followed_in_order() -> TestResult {
    let fake = FakeTwilioIntelligence::start().await?;
    let transcript = fake.add_transcript(7);
    let intelligence = client(&fake, 3, 10)?;

    let fetched = intelligence.fetch(&sid(&transcript)?).await?;

    let expected: Vec<_> = (0..7).map(fake_sentence).collect();
    assert_eq!(fetched.sentences, expected);
    assert_eq!(Some(fetched.resource), fake.resource(&transcript));
    assert_eq!(fetched.facts.status.as_deref(), Some("completed"));
    assert_eq!(fetched.facts.duration_secs, Some(14));

    let requests = fake.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    let resource = format!("/v2/Transcripts/{transcript}");
    let sentences = format!("{resource}/Sentences");
    assert_eq!(paths, [&resource, &sentences, &sentences, &sentences]);
    let pages: Vec<Option<&str>> = requests[1..].iter().map(|r| r.param("Page")).collect();
    assert_eq!(pages, [None, Some("1"), Some("2")]);
    assert!(
        requests[1..]
            .iter()
            .all(|r| r.param("PageSize") == Some("3"))
    );
    Ok(())
}

#[tokio::test]
async fn a_transcript_of_exactly_max_pages_is_read_whole() -> TestResult {
    let fake = FakeTwilioIntelligence::start().await?;
    let transcript = fake.add_transcript(6);
    let intelligence = client(&fake, 2, 3)?;

    let fetched = intelligence.fetch(&sid(&transcript)?).await?;

    assert_eq!(fetched.sentences.len(), 6);
    assert_eq!(
        fake.requests().iter().filter(|r| r.is_sentences()).count(),
        3
    );
    Ok(())
}

#[tokio::test]
async fn a_transcript_of_more_than_max_pages_is_refused_not_cut_short() -> TestResult {
    let fake = FakeTwilioIntelligence::start().await?;
    let transcript = fake.add_transcript(7);
    let intelligence = client(&fake, 3, 2)?;

    let result = intelligence.fetch(&sid(&transcript)?).await;

    let Err(TranscriptSourceError::Refused(message)) = &result else {
        panic!("a longer transcript is refused: {result:?}");
    };
    assert!(message.contains("more than 2 pages"), "{message}");
    assert_eq!(
        fake.requests().iter().filter(|r| r.is_sentences()).count(),
        2,
        "no page beyond the limit is asked for"
    );
    Ok(())
}

#[tokio::test]
async fn a_next_page_on_another_host_is_not_followed() -> TestResult {
    let fake = FakeTwilioIntelligence::start().await?;
    let elsewhere = FakeTwilioIntelligence::start().await?;
    let transcript = fake.add_transcript(5);
    fake.point_next_pages_at(&elsewhere.base_url());
    let intelligence = client(&fake, 2, 10)?;

    let result = intelligence.fetch(&sid(&transcript)?).await;

    let Err(TranscriptSourceError::Unavailable(message)) = &result else {
        panic!("a foreign next page is refused: {result:?}");
    };
    assert!(message.contains("another host"), "{message}");
    assert!(
        elsewhere.requests().is_empty(),
        "the credentials went to another host"
    );
    assert_eq!(
        fake.requests().iter().filter(|r| r.is_sentences()).count(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_transcript_is_not_found() -> TestResult {
    let fake = FakeTwilioIntelligence::start().await?;
    let intelligence = client(&fake, 50, 10)?;

    let result = intelligence
        .fetch(&sid("GT0123456789abcdef0123456789abcdef")?)
        .await;

    assert!(
        matches!(result, Err(TranscriptSourceError::NotFound)),
        "{result:?}"
    );
    assert_eq!(fake.requests().len(), 1, "a 404 is not retried");
    Ok(())
}

#[tokio::test]
async fn wrong_credentials_are_refused_once_without_showing_the_token() -> TestResult {
    let fake = FakeTwilioIntelligence::start().await?;
    let transcript = fake.add_transcript(3);
    let wrong_token = "not-the-auth-token-0123456789";
    let intelligence = client_with(&fake, wrong_token, 50, 10)?;

    let result = intelligence.fetch(&sid(&transcript)?).await;

    let Err(TranscriptSourceError::Refused(message)) = &result else {
        panic!("wrong credentials are refused: {result:?}");
    };
    assert!(message.contains("401"), "{message}");
    assert!(!message.contains(wrong_token), "{message}");
    assert!(!format!("{intelligence:?}").contains(wrong_token));
    assert_eq!(fake.requests().len(), 1, "a 401 is not retried");
    Ok(())
}

#[tokio::test]
async fn a_503_is_retried_and_then_read_whole() -> TestResult {
    let fake = FakeTwilioIntelligence::start().await?;
    let transcript = fake.add_transcript(4);
    let intelligence = client(&fake, 2, 10)?;

    fake.fail_next(1, 503);
    let fetched = intelligence.fetch(&sid(&transcript)?).await?;
    assert_eq!(fetched.sentences.len(), 4);
    let answered: Vec<u16> = fake.requests().iter().map(|r| r.answered).collect();
    assert_eq!(answered, [503, 200, 200, 200]);

    Ok(())
}

#[tokio::test]
async fn a_service_that_keeps_failing_is_unavailable_after_the_retries() -> TestResult {
    let fake = FakeTwilioIntelligence::start().await?;
    let transcript = fake.add_transcript(4);
    let intelligence = client(&fake, 2, 10)?;
    fake.fail_next(10, 503);

    let result = intelligence.fetch(&sid(&transcript)?).await;

    let Err(TranscriptSourceError::Unavailable(message)) = &result else {
        panic!("expected unavailable: {result:?}");
    };
    assert!(message.contains("503"), "{message}");
    assert_eq!(fake.requests().len(), usize::try_from(MAX_RETRIES)? + 1);
    Ok(())
}

#[tokio::test]
async fn a_malformed_sid_is_refused_before_any_request() -> TestResult {
    let fake = FakeTwilioIntelligence::start().await?;
    fake.add_transcript(1);

    for raw in [
        "",
        "GT",
        "GT../../Accounts",
        "GT0123456789abcdef0123456789abcde",
        "GT0123456789abcdef0123456789abcdef0",
        "GT0123456789abcdef0123456789abcdeg",
        "CA0123456789abcdef0123456789abcdef",
        "GT0123456789abcdef/123456789abcdef",
    ] {
        assert!(TranscriptSid::parse(raw).is_err(), "{raw:?} was accepted");
    }
    // The account SID goes into the credentials and is checked when the client is built.
    let bad_account = TwilioIntelligence::new(
        &account("AC/../evil", FAKE_TWILIO_AUTH_TOKEN)?,
        &IntelligenceConfig::with_base_url(Url::parse(&fake.base_url())?),
    );
    assert!(matches!(
        bad_account.err(),
        Some(TwilioConfigError::AccountSid(_))
    ));
    assert!(fake.requests().is_empty());
    Ok(())
}
