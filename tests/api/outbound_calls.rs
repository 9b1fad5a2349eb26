//! Outbound phone calls end to end: placing them through the Twilio REST fake (idempotent, rate
//! limited, capped per organisation), Twilio's status callbacks (signed, out of order), the
//! answered call's media stream, hanging up and transferring.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_testkit::{
    FakeElevenLabs, FakeOpenAi, FakeTwilio, Reply, TestApp, TestAppBuilder, TwilioCall,
    TwimlStream, twilio_signature,
};

use crate::support::{expect_error, expect_json, get_until};

const CUSTOMER: &str = "+14155550123";
const WAIT: Duration = Duration::from_secs(20);

struct Dialer {
    app: TestApp,
    openai: FakeOpenAi,
    twilio: FakeTwilio,
    token: String,
    agent: String,
    _elevenlabs: FakeElevenLabs,
}

async fn dialer(
    configure: impl FnOnce(TestAppBuilder) -> TestAppBuilder,
) -> anyhow::Result<Dialer> {
    let openai = FakeOpenAi::start().await?;
    let elevenlabs = FakeElevenLabs::start().await?;
    let twilio = FakeTwilio::start().await?;
    let builder = TestApp::builder()
        .with_openai(&openai)
        .with_elevenlabs(&elevenlabs)
        .with_twilio_rest(&twilio);
    let app = configure(builder).spawn().await?;
    let token = app.signed_in_user().await?;
    let agent = expect_json(
        app.post_json(
            "/api/v1/agents",
            &json!({
                "name": "Ava",
                "system_prompt": "You confirm appointments.",
                "first_message": "Hi, this is Ava from the clinic.",
                "tools": [{"type": "builtin", "name": "transfer_call"}],
            }),
            Some(&token),
        )
        .await?,
        201,
    )
    .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(Dialer {
        app,
        openai,
        twilio,
        token,
        agent,
        _elevenlabs: elevenlabs,
    })
}

async fn place(d: &Dialer, key: Option<&str>) -> anyhow::Result<reqwest::Response> {
    let mut request = d
        .app
        .request(reqwest::Method::POST, "/api/v1/calls")
        .bearer_auth(&d.token)
        .json(&json!({"channel": "phone", "agent_id": d.agent, "phone_number": CUSTOMER}));
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    Ok(request.send().await?)
}

/// Twilio's status callback for `sid`, signed.
async fn report(
    app: &TestApp,
    sid: &str,
    status: &str,
    extra: &[(&str, &str)],
) -> anyhow::Result<u16> {
    let url = app.url("/telephony/twilio/status");
    let mut params = vec![("CallSid", sid), ("CallStatus", status)];
    params.extend_from_slice(extra);
    Ok(app
        .request(reqwest::Method::POST, "/telephony/twilio/status")
        .header("x-twilio-signature", twilio_signature(&url, &params))
        .form(&params)
        .send()
        .await?
        .status()
        .as_u16())
}

async fn call(d: &Dialer, id: &str) -> anyhow::Result<Value> {
    expect_json(
        d.app
            .get(&format!("/api/v1/calls/{id}"), Some(&d.token))
            .await?,
        200,
    )
    .await
}

async fn until_status(d: &Dialer, id: &str, status: &str) -> anyhow::Result<Value> {
    let path = format!("/api/v1/calls/{id}");
    let what = format!("status {status}");
    get_until(&d.app, &path, &d.token, WAIT, &what, |body| {
        body["status"] == status
    })
    .await
}

#[tokio::test]
async fn an_outbound_call_from_dial_to_hang_up() -> anyhow::Result<()> {
    let d = dialer(|b| b).await?;
    let placed = expect_json(place(&d, Some("appointment-42")).await?, 201).await?;
    assert_eq!(placed["channel"], "phone");
    assert_eq!(placed["direction"], "outbound");
    assert_eq!(placed["status"], "queued");
    let id = placed["id"].as_str().unwrap_or_default().to_owned();
    let sid = placed["provider_call_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(sid.starts_with("CA"), "{placed}");

    // A retried request with the same key finds the call; nothing is dialled twice.
    let again = expect_json(place(&d, Some("appointment-42")).await?, 201).await?;
    assert_eq!(again["id"], id.as_str());
    let dials = d.twilio.dials();
    assert_eq!(dials.len(), 1);
    let form = &dials[0].form;
    assert_eq!(form.get("To"), Some(CUSTOMER));
    assert_eq!(
        form.get("From"),
        Some(switchboard_testkit::FAKE_TWILIO_PHONE_NUMBER)
    );
    assert_eq!(
        form.get("StatusCallback")
            .map(|u| u.ends_with("/telephony/twilio/status")),
        Some(true)
    );
    assert_eq!(form.all("StatusCallbackEvent").len(), 4);

    // Progress reports; one arrives late and changes nothing.
    assert_eq!(report(&d.app, &sid, "ringing", &[]).await?, 204);
    until_status(&d, &id, "ringing").await?;
    // The callee answers: Twilio runs the TwiML and opens the media stream.
    let stream = TwimlStream::from_twiml(dials[0].twiml().unwrap_or_default())?;
    assert_eq!(stream.parameter("call_id"), Some(id.as_str()));
    let mut media = TwilioCall::connect(&stream, &sid).await?;
    media.silence(400).await?;
    media
        .wait_for("the greeting", WAIT, |heard| {
            (!heard.marks().is_empty()).then_some(())
        })
        .await?;
    until_status(&d, &id, "in_progress").await?;
    assert_eq!(report(&d.app, &sid, "ringing", &[]).await?, 204);
    assert_eq!(call(&d, &id).await?["status"], "in_progress");

    // The user hangs up from the API: the call ends here and at Twilio.
    let ended = expect_json(
        d.app
            .post_json(
                &format!("/api/v1/calls/{id}/end"),
                &json!({}),
                Some(&d.token),
            )
            .await?,
        200,
    )
    .await?;
    assert_eq!(ended["status"], "completed");
    let hang_ups = d.twilio.modifications(&sid);
    assert_eq!(
        hang_ups.first().and_then(|m| m.status.as_deref()),
        Some("completed")
    );
    // Twilio's final report brings the connected seconds.
    assert_eq!(
        report(&d.app, &sid, "completed", &[("CallDuration", "12")]).await?,
        204
    );
    let stored = call(&d, &id).await?;
    assert_eq!(stored["duration_seconds"], 12);
    assert_eq!(stored["status"], "completed");
    Ok(())
}

#[tokio::test]
async fn unanswered_and_refused_calls_end_as_such() -> anyhow::Result<()> {
    let d = dialer(|b| b).await?;
    let placed = expect_json(place(&d, None).await?, 201).await?;
    let id = placed["id"].as_str().unwrap_or_default();
    let sid = placed["provider_call_id"].as_str().unwrap_or_default();
    // Out of order: "busy" first, then a stale "ringing".
    assert_eq!(report(&d.app, sid, "busy", &[]).await?, 204);
    assert_eq!(report(&d.app, sid, "ringing", &[]).await?, 204);
    let stored = call(&d, id).await?;
    assert_eq!(stored["status"], "busy");
    assert_eq!(stored["end_reason"], "busy");
    // A report for a call nobody here placed is acknowledged and ignored.
    assert_eq!(
        report(
            &d.app,
            "CAffffffffffffffffffffffffffffffff",
            "completed",
            &[]
        )
        .await?,
        204
    );
    // An unsigned report is refused.
    let forged = d
        .app
        .request(reqwest::Method::POST, "/telephony/twilio/status")
        .form(&[("CallSid", sid), ("CallStatus", "completed")])
        .send()
        .await?;
    expect_error(forged, 403).await?;

    // Twilio refusing the number: a 400 naming Twilio's reason, and a failed call on record.
    d.twilio.reject_next_dial(
        400,
        21211,
        "The 'To' number +14155550123 is not a valid phone number.",
    );
    let refused = expect_error(place(&d, None).await?, 400).await?;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("21211"),
        "{refused}"
    );
    let list = expect_json(
        d.app
            .get("/api/v1/calls?status=failed", Some(&d.token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["end_reason"], "dial_failed");
    // Not a phone number: 422 naming the field, and nothing dialled.
    let dials = d.twilio.dials().len();
    let bad = d
        .app
        .post_json(
            "/api/v1/calls",
            &json!({"channel": "phone", "agent_id": d.agent, "phone_number": "555-0123"}),
            Some(&d.token),
        )
        .await?;
    let body = expect_error(bad, 422).await?;
    assert_eq!(body["errors"][0]["field"], "phone_number");
    assert_eq!(d.twilio.dials().len(), dials);
    Ok(())
}

#[tokio::test]
async fn call_initiation_is_rate_limited_and_capped() -> anyhow::Result<()> {
    let d = dialer(|b| {
        b.env("RATE_LIMIT_CALLS_PER_MIN", "2")
            .env("CALL_CONCURRENCY_PER_ORG", "3")
            .env("CALL_CONCURRENCY_INBOUND_RESERVED", "1")
    })
    .await?;
    expect_json(place(&d, None).await?, 201).await?;
    expect_json(place(&d, None).await?, 201).await?;
    // Two calls are live and one slot is kept for inbound callers: a third outbound call is
    // refused whatever the rate.
    let limited = place(&d, None).await?;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    assert_eq!(d.twilio.dials().len(), 2);
    Ok(())
}

#[tokio::test]
async fn the_concurrency_cap_keeps_slots_for_inbound_callers() -> anyhow::Result<()> {
    let d = dialer(|b| {
        b.env("CALL_CONCURRENCY_PER_ORG", "2")
            .env("CALL_CONCURRENCY_INBOUND_RESERVED", "1")
    })
    .await?;
    expect_json(place(&d, None).await?, 201).await?;
    let capped = expect_error(place(&d, None).await?, 429).await?;
    assert!(
        capped["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("limit of 2"),
        "{capped}"
    );
    assert_eq!(d.twilio.dials().len(), 1);
    Ok(())
}

#[tokio::test]
async fn seed_routes_place_and_end_calls() -> anyhow::Result<()> {
    let d = dialer(|b| b).await?;
    let made = expect_json(
        d.app
            .get(&format!("/make-call/{CUSTOMER}/sales"), Some(&d.token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(made["status"], "success");
    assert!(
        made["call_sid"]
            .as_str()
            .unwrap_or_default()
            .starts_with("CA")
    );
    let calendar = expect_json(
        d.app
            .get(
                &format!("/make-calendar-call-scenario/{CUSTOMER}"),
                Some(&d.token),
            )
            .await?,
        200,
    )
    .await?;
    assert_eq!(calendar["message"], "Calendar call initiated");
    assert_eq!(calendar["phone_number"], CUSTOMER);
    let unknown = d
        .app
        .get(
            &format!("/make-custom-call/{CUSTOMER}/custom_0_nope"),
            Some(&d.token),
        )
        .await?;
    expect_error(unknown, 404).await?;

    let started = expect_json(
        d.app
            .post_json(
                "/api/calls/start",
                &json!({"agent_id": d.agent, "phone_number": CUSTOMER}),
                Some(&d.token),
            )
            .await?,
        201,
    )
    .await?;
    let sid = started["provider_call_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ended = expect_json(
        d.app
            .post_json(
                "/api/calls/end",
                &json!({"call_id": started["id"]}),
                Some(&d.token),
            )
            .await?,
        200,
    )
    .await?;
    assert_eq!(ended["status"], "completed");
    assert_eq!(
        d.twilio
            .modifications(&sid)
            .first()
            .and_then(|m| m.status.clone())
            .as_deref(),
        Some("completed")
    );
    // Without Twilio configured, placing a call is a 503 naming the settings.
    let bare = TestApp::spawn().await?;
    let token = bare.signed_in_user().await?;
    let body = expect_error(
        bare.get(&format!("/make-call/{CUSTOMER}/sales"), Some(&token))
            .await?,
        503,
    )
    .await?;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("TWILIO_ACCOUNT_SID")
    );
    Ok(())
}

#[tokio::test]
async fn the_agent_transfers_a_live_call() -> anyhow::Result<()> {
    let d = dialer(|b| b).await?;
    d.openai
        .enqueue_transcription(switchboard_testkit::TranscriptionReply::text(
            "I want to talk to a person.",
        ));
    d.openai.enqueue(Reply::tool_call(
        "transfer_call",
        json!({"phone_number": "+14155550142", "reason": "asked for a person"}),
    ));
    d.openai
        .enqueue(Reply::text("Of course, I am putting you through now."));
    let placed = expect_json(place(&d, None).await?, 201).await?;
    let sid = placed["provider_call_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let id = placed["id"].as_str().unwrap_or_default().to_owned();
    let stream = TwimlStream::from_twiml(d.twilio.dials()[0].twiml().unwrap_or_default())?;
    let mut media = TwilioCall::connect(&stream, &sid).await?;
    media.silence(400).await?;
    media
        .wait_for("the greeting", WAIT, |heard| {
            (!heard.marks().is_empty()).then_some(())
        })
        .await?;
    media
        .speak(&switchboard_testkit::tone(300.0, 700, 8000, 8000))
        .await?;
    media.silence(900).await?;
    let ended = until_status(&d, &id, "completed").await?;
    assert_eq!(ended["end_reason"], "transferred");
    let transfer = d
        .twilio
        .modifications(&sid)
        .into_iter()
        .find_map(|m| m.twiml)
        .ok_or_else(|| anyhow::anyhow!("no transfer reached Twilio"))?;
    assert!(transfer.contains("<Dial>+14155550142</Dial>"), "{transfer}");
    Ok(())
}

#[tokio::test]
async fn an_answering_machine_gets_the_voicemail_message() -> anyhow::Result<()> {
    let d = dialer(|b| b).await?;
    let message = "Hi, this is Ava from the clinic. Please call us back.";
    let updated = d
        .app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/v1/agents/{}", d.agent),
        )
        .bearer_auth(&d.token)
        .json(&json!({"voicemail": {"detect_machine": true, "message": message}}))
        .send()
        .await?;
    let agent = expect_json(updated, 200).await?;
    assert_eq!(agent["voicemail"]["detect_machine"], true);

    let placed = expect_json(place(&d, None).await?, 201).await?;
    let id = placed["id"].as_str().unwrap_or_default().to_owned();
    let sid = placed["provider_call_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let dial = &d.twilio.dials()[0].form;
    assert_eq!(dial.get("MachineDetection"), Some("DetectMessageEnd"));
    assert_eq!(dial.get("AsyncAmd"), Some("true"));
    assert_eq!(
        dial.get("AsyncAmdStatusCallback")
            .map(|u| u.ends_with("/telephony/twilio/amd")),
        Some(true)
    );
    let stream = TwimlStream::from_twiml(d.twilio.dials()[0].twiml().unwrap_or_default())?;
    let mut media = TwilioCall::connect(&stream, &sid).await?;
    media.silence(300).await?;

    let url = d.app.url("/telephony/twilio/amd");
    let amd = |answered_by: &'static str| {
        let params = [
            ("CallSid", sid.clone()),
            ("AnsweredBy", answered_by.to_owned()),
        ];
        let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        d.app
            .request(reqwest::Method::POST, "/telephony/twilio/amd")
            .header("x-twilio-signature", twilio_signature(&url, &refs))
            .form(&params)
            .send()
    };
    // A person: nothing changes.
    assert_eq!(amd("human").await?.status(), 204);
    assert!(d.twilio.modifications(&sid).is_empty());
    // A machine, after its beep: the message is left and the call ends as voicemail.
    assert_eq!(amd("machine_end_beep").await?.status(), 204);
    let left = d
        .twilio
        .modifications(&sid)
        .into_iter()
        .find_map(|m| m.twiml)
        .ok_or_else(|| anyhow::anyhow!("no voicemail reached Twilio"))?;
    assert!(
        left.contains(message) && left.contains("<Hangup/>"),
        "{left}"
    );
    media.hang_up().await?;
    let ended = until_status(&d, &id, "completed").await?;
    assert_eq!(ended["end_reason"], "voicemail");
    Ok(())
}

/// A server reconciling stale phone calls every second, on a clock the test moves.
fn reconciling(b: TestAppBuilder) -> TestAppBuilder {
    b.with_manual_clock()
        .env("CALL_RECONCILE_AFTER_SECS", "600")
        .env("CALL_RECONCILE_POLL_SECS", "1")
        .env("ACCESS_TOKEN_TTL_SECS", "86400")
        .env("RATE_LIMIT_CALLS_PER_MIN", "100")
}

#[tokio::test]
async fn calls_whose_end_twilio_never_reported_are_reconciled_from_twilio() -> anyhow::Result<()> {
    let d = dialer(|b| {
        reconciling(b)
            .env("CALL_CONCURRENCY_PER_ORG", "3")
            .env("CALL_CONCURRENCY_INBOUND_RESERVED", "1")
    })
    .await?;
    let answered = expect_json(place(&d, None).await?, 201).await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let lost = expect_json(place(&d, None).await?, 201).await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // The organisation's outbound slots are taken.
    expect_error(place(&d, None).await?, 429).await?;

    // Both calls end at Twilio, but no status callback ever arrives: one was completed after 42
    // connected seconds, the other's record is gone from the account.
    let dials = d.twilio.dials();
    let answered_sid = dials[0].sid.clone().unwrap_or_default();
    assert!(d.twilio.update_call(&answered_sid, |call| {
        call.status = "completed".into();
        call.duration_secs = Some(42);
    }));
    assert!(
        d.twilio
            .forget_call(dials[1].sid.as_deref().unwrap_or_default())
    );

    // Ten minutes without news: the reconciler asks Twilio.
    d.app.clock().advance(chrono::Duration::minutes(11));
    let completed = until_status(&d, &answered, "completed").await?;
    assert_eq!(completed["duration_seconds"], 42);
    assert_eq!(completed["end_reason"], "completed");
    let failed = until_status(&d, &lost, "failed").await?;
    assert_eq!(failed["end_reason"], "lost");

    // The slots are free again.
    expect_json(place(&d, None).await?, 201).await?;
    // Twilio's late callback for the completed call changes nothing.
    assert_eq!(
        report(&d.app, &answered_sid, "in-progress", &[]).await?,
        204
    );
    assert_eq!(call(&d, &answered).await?["status"], "completed");
    Ok(())
}
