//! Twilio Voice Intelligence transcripts stored in Twilio's format: `POST /store-transcript/{sid}`
//! against the loopback Voice Intelligence fake, then `GET /stored-twilio-transcripts[/{sid}]`
//! from the database alone.

use reqwest::Method;
use serde_json::{Value, json};
use switchboard_testkit::{FakeTwilioIntelligence, TestApp, fake_sentence};

use crate::support::{expect_error, expect_json};

async fn app_with(fake: &FakeTwilioIntelligence, page_size: u32) -> anyhow::Result<TestApp> {
    TestApp::builder()
        .with_twilio_intelligence(fake, page_size)
        .spawn()
        .await
}

async fn store(
    app: &TestApp,
    token: &str,
    sid: &str,
    body: Option<Value>,
) -> reqwest::Result<reqwest::Response> {
    let mut request = app
        .request(Method::POST, &format!("/store-transcript/{sid}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await
}

#[tokio::test]
async fn storing_reads_every_sentence_page_in_order_and_keeps_twilio_json() -> anyhow::Result<()> {
    let fake = FakeTwilioIntelligence::start().await?;
    let app = app_with(&fake, 50).await?;
    let token = app.signed_in_user().await?;
    let sid = fake.add_transcript(120);

    let stored = expect_json(store(&app, &token, &sid, None).await?, 201).await?;
    assert_eq!(stored["created"], true);
    assert_eq!(stored["transcript_sid"], sid.as_str());
    let transcript = &stored["transcript"];
    // The resource verbatim: every key Twilio sent, with its value.
    let resource = fake.resource(&sid).unwrap_or_default();
    for (key, value) in resource.as_object().into_iter().flatten() {
        assert_eq!(&transcript[key], value, "{key}");
    }
    let sentences = transcript["sentences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(sentences.len(), 120);
    for (n, sentence) in sentences.iter().enumerate() {
        assert_eq!(sentence, &fake_sentence(n), "sentence {n}");
    }
    assert!(
        transcript["stored"]["stored_at"].is_string(),
        "{transcript}"
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert_eq!(requests[0].path, format!("/v2/Transcripts/{sid}"));
    let pages: Vec<_> = requests[1..]
        .iter()
        .map(|r| (r.is_sentences(), r.param("PageSize"), r.param("Page")))
        .collect();
    assert_eq!(
        pages,
        vec![
            (true, Some("50"), None),
            (true, Some("50"), Some("1")),
            (true, Some("50"), Some("2")),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_stored_transcript_is_answered_without_asking_twilio_again() -> anyhow::Result<()> {
    let fake = FakeTwilioIntelligence::start().await?;
    let app = app_with(&fake, 50).await?;
    let token = app.signed_in_user().await?;
    let sid = fake.add_transcript(3);
    let first = expect_json(store(&app, &token, &sid, None).await?, 201).await?;
    let asked = fake.requests().len();

    let second = expect_json(
        store(
            &app,
            &token,
            &sid,
            Some(json!({"scenario_name": "Sales Call"})),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(second["created"], false);
    assert_eq!(second["message"], "Transcript already stored");
    assert_eq!(second["transcript"], first["transcript"]);
    assert_eq!(fake.requests().len(), asked, "Twilio was asked again");
    Ok(())
}

#[tokio::test]
async fn stored_transcripts_are_listed_in_pages_and_read_from_the_database() -> anyhow::Result<()> {
    let fake = FakeTwilioIntelligence::start().await?;
    let app = app_with(&fake, 50).await?;
    let token = app.signed_in_user().await?;
    let mut sids = Vec::new();
    for n in 0..3 {
        let sid = fake.add_transcript(n + 1);
        expect_json(store(&app, &token, &sid, None).await?, 201).await?;
        sids.push(sid);
    }
    let asked = fake.requests().len();

    let first = expect_json(
        app.get("/stored-twilio-transcripts?page_size=2", Some(&token))
            .await?,
        200,
    )
    .await?;
    let listed: Vec<_> = first["transcripts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["sid"].as_str().unwrap_or_default().to_owned())
        .collect();
    // The most recently stored first.
    assert_eq!(listed, vec![sids[2].clone(), sids[1].clone()]);
    assert_eq!(
        first["transcripts"][0]["sentences"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(first["meta"]["key"], "transcripts");
    assert_eq!(first["meta"]["total"], 3);
    assert_eq!(first["meta"]["page"], 1);
    assert_eq!(
        first["meta"]["next_page_url"],
        "/stored-twilio-transcripts?page=2&page_size=2"
    );
    let second = expect_json(
        app.get(
            "/stored-twilio-transcripts?page=2&page_size=2",
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(second["transcripts"][0]["sid"], sids[0].as_str());
    assert!(second["meta"]["next_page_url"].is_null());
    expect_error(
        app.get("/stored-twilio-transcripts?page_size=500", Some(&token))
            .await?,
        422,
    )
    .await?;

    assert_eq!(fake.requests().len(), asked, "listing never asks Twilio");
    // Twilio gone: the copy is still there.
    drop(fake);
    let one = expect_json(
        app.get(
            &format!("/stored-twilio-transcripts/{}", sids[1]),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(one["sid"], sids[1].as_str());
    assert_eq!(one["sentences"][1], fake_sentence(1));
    Ok(())
}

#[tokio::test]
async fn unknown_and_malformed_sids() -> anyhow::Result<()> {
    let fake = FakeTwilioIntelligence::start().await?;
    let app = app_with(&fake, 50).await?;
    let token = app.signed_in_user().await?;
    let unknown = format!("GT{}", uuid::Uuid::new_v4().simple());

    let body = expect_error(store(&app, &token, &unknown, None).await?, 404).await?;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("not found"),
        "{body}"
    );
    assert_eq!(fake.requests().len(), 1);

    for bad in [
        "GT1234567890",
        "CA0123456789abcdef0123456789abcdef",
        "GT0123456789abcdef0123456789abcdeg",
    ] {
        let body = expect_error(store(&app, &token, bad, None).await?, 400).await?;
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("GT followed by 32"),
            "{body}"
        );
        expect_error(
            app.get(&format!("/stored-twilio-transcripts/{bad}"), Some(&token))
                .await?,
            400,
        )
        .await?;
    }
    assert_eq!(fake.requests().len(), 1, "a malformed sid is never sent");
    expect_error(
        app.get(
            &format!("/stored-twilio-transcripts/{unknown}"),
            Some(&token),
        )
        .await?,
        404,
    )
    .await?;
    let sid = fake.add_transcript(1);
    let labels = json!({"call_direction": "sideways"});
    let body = expect_error(store(&app, &token, &sid, Some(labels)).await?, 422).await?;
    assert_eq!(body["errors"][0]["field"], "call_direction");
    expect_error(app.get("/stored-twilio-transcripts", None).await?, 401).await?;
    Ok(())
}

#[tokio::test]
async fn twilio_failures_answer_502_and_store_nothing() -> anyhow::Result<()> {
    let fake = FakeTwilioIntelligence::start().await?;
    let app = app_with(&fake, 2).await?;
    let token = app.signed_in_user().await?;
    let sid = fake.add_transcript(5);

    // Refused credentials are not retried.
    fake.fail_next(1, 401);
    let body = expect_error(store(&app, &token, &sid, None).await?, 502).await?;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("refused"),
        "{body}"
    );
    assert_eq!(fake.requests().len(), 1);

    // Unavailable after every retry.
    fake.fail_next(3, 503);
    let body = expect_error(store(&app, &token, &sid, None).await?, 502).await?;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("unavailable"),
        "{body}"
    );
    let listed = expect_json(
        app.get("/stored-twilio-transcripts", Some(&token)).await?,
        200,
    )
    .await?;
    assert_eq!(listed["meta"]["total"], 0);
    expect_error(
        app.get(&format!("/stored-twilio-transcripts/{sid}"), Some(&token))
            .await?,
        404,
    )
    .await?;

    // The first attempt and every retry were answered 503.
    let unavailable = fake.requests().iter().filter(|r| r.answered == 503).count();
    assert_eq!(unavailable, 3);
    Ok(())
}

#[tokio::test]
async fn a_passing_failure_is_retried_and_the_transcript_stored_whole() -> anyhow::Result<()> {
    let fake = FakeTwilioIntelligence::start().await?;
    let app = app_with(&fake, 2).await?;
    let token = app.signed_in_user().await?;
    let sid = fake.add_transcript(5);
    fake.fail_next(1, 503);
    let stored = expect_json(store(&app, &token, &sid, None).await?, 201).await?;
    assert_eq!(
        stored["transcript"]["sentences"].as_array().map(Vec::len),
        Some(5)
    );
    let answered: Vec<u16> = fake.requests().iter().map(|r| r.answered).collect();
    assert_eq!(answered, vec![503, 200, 200, 200, 200]);
    Ok(())
}

#[tokio::test]
async fn without_twilio_storing_is_503_naming_the_settings() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let sid = format!("GT{}", uuid::Uuid::new_v4().simple());
    let body = expect_error(store(&app, &token, &sid, None).await?, 503).await?;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("TWILIO_AUTH_TOKEN"),
        "{body}"
    );
    Ok(())
}

#[tokio::test]
async fn another_organisation_cannot_see_them() -> anyhow::Result<()> {
    let fake = FakeTwilioIntelligence::start().await?;
    let app = app_with(&fake, 50).await?;
    let mine = app.signed_in_user().await?;
    let theirs = app.signed_in_user().await?;
    let sid = fake.add_transcript(2);
    expect_json(store(&app, &mine, &sid, None).await?, 201).await?;

    let listed = expect_json(
        app.get("/stored-twilio-transcripts", Some(&theirs)).await?,
        200,
    )
    .await?;
    assert_eq!(listed["transcripts"], json!([]));
    expect_error(
        app.get(&format!("/stored-twilio-transcripts/{sid}"), Some(&theirs))
            .await?,
        404,
    )
    .await?;
    expect_error(
        app.get(&format!("/api/enhanced-transcripts/{sid}"), Some(&theirs))
            .await?,
        404,
    )
    .await?;
    // Their own copy is theirs, fetched for them.
    let stored = expect_json(store(&app, &theirs, &sid, None).await?, 201).await?;
    assert_eq!(stored["created"], true);
    Ok(())
}
