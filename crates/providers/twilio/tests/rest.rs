//! `TwilioClient` on the wire, against testkit's `FakeTwilio`: the dial's form and TwiML, Basic
//! auth, Call JSON, Twilio's refusals and what they become, which requests are sent again and
//! which never are, hanging up (and its `canceled` fallback), transfers, voicemail messages and
//! fetching a call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchboard_domain::call::CallStatus;
use switchboard_domain::ports::{
    Dial, MediaStreamTarget, ProviderCallState, Telephony, TelephonyError,
};
use switchboard_testkit::{FAKE_TWILIO_PHONE_NUMBER, FakeTwilio, TwimlStream};
use switchboard_twilio::{
    ApiKey, CallDetails, MAX_TWIML_CHARS, TwilioClient, TwilioConfig, TwilioConfigError, twiml,
};
use tokio::net::TcpListener;
use url::Url;

type TestResult = anyhow::Result<()>;

const TO: &str = "+14155550100";

fn config_for(base_url: &str, token: &str) -> anyhow::Result<TwilioConfig> {
    let mut config = TwilioConfig::with_base_url(
        switchboard_testkit::FAKE_TWILIO_ACCOUNT_SID,
        ApiKey::new(token),
        Url::parse(base_url)?,
    );
    config.retry_base = Duration::from_millis(5);
    config.max_retry_wait = Duration::from_millis(20);
    config.request_timeout = Duration::from_secs(5);
    Ok(config)
}

fn client(fake: &FakeTwilio) -> anyhow::Result<TwilioClient> {
    Ok(TwilioClient::new(&config_for(
        &fake.base_url(),
        fake.auth_token(),
    )?)?)
}

fn dial_request(machine_detection: bool) -> Dial {
    Dial {
        to: TO.to_owned(),
        from: FAKE_TWILIO_PHONE_NUMBER.to_owned(),
        stream: MediaStreamTarget {
            url: "wss://agent.example.com/telephony/twilio/media".to_owned(),
            parameters: vec![
                (
                    "call_id".to_owned(),
                    "0196b1c2-7e6f-7a10-8000-000000000001".to_owned(),
                ),
                ("token".to_owned(), "a&b\"c<d>'e".to_owned()),
            ],
        },
        status_callback: "https://agent.example.com/telephony/twilio/status?call=1&x=2".to_owned(),
        machine_detection_callback: machine_detection
            .then(|| "https://agent.example.com/telephony/twilio/amd".to_owned()),
        ring_timeout_secs: 25,
    }
}

/// Places a call through `client` and returns its sid.
async fn placed(client: &TwilioClient) -> anyhow::Result<String> {
    Ok(client.dial(&dial_request(false)).await?.provider_call_id)
}

#[tokio::test]
async fn a_dial_sends_every_field_as_a_form_and_reads_the_placed_call() -> TestResult {
    let fake = FakeTwilio::start().await?;
    let client = client(&fake)?;

    let placed = client.dial(&dial_request(false)).await?;

    let dials = fake.dials();
    assert_eq!(dials.len(), 1);
    let dial = &dials[0];
    assert_eq!(dial.answered, 201);
    assert_eq!(
        dial.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        dial.form.keys(),
        [
            "To",
            "From",
            "Twiml",
            "StatusCallback",
            "StatusCallbackMethod",
            "StatusCallbackEvent",
            "StatusCallbackEvent",
            "StatusCallbackEvent",
            "StatusCallbackEvent",
            "Timeout",
        ]
    );
    assert_eq!(dial.form.get("To"), Some(TO));
    assert_eq!(dial.form.get("From"), Some(FAKE_TWILIO_PHONE_NUMBER));
    assert_eq!(
        dial.form.get("StatusCallback"),
        Some("https://agent.example.com/telephony/twilio/status?call=1&x=2")
    );
    assert_eq!(dial.form.get("StatusCallbackMethod"), Some("POST"));
    assert_eq!(
        dial.form.all("StatusCallbackEvent"),
        ["initiated", "ringing", "answered", "completed"]
    );
    assert_eq!(dial.form.get("Timeout"), Some("25"));

    // The TwiML connects the stream, its parameters escaped, and reads back as sent.
    let sent = dial.twiml().unwrap_or_default();
    assert_eq!(
        sent,
        twiml::connect_stream(
            "wss://agent.example.com/telephony/twilio/media",
            &[
                ("call_id", "0196b1c2-7e6f-7a10-8000-000000000001"),
                ("token", "a&b\"c<d>'e"),
            ],
            None,
        )
    );
    assert!(
        sent.contains(r#"value="a&amp;b&quot;c&lt;d&gt;&apos;e""#),
        "{sent}"
    );
    let stream = TwimlStream::from_twiml(sent)?;
    assert_eq!(stream.url, "wss://agent.example.com/telephony/twilio/media");
    assert_eq!(stream.parameter("token"), Some("a&b\"c<d>'e"));
    assert_eq!(
        stream.parameter("call_id"),
        Some("0196b1c2-7e6f-7a10-8000-000000000001")
    );

    // The Call JSON's sid and status.
    assert_eq!(Some(placed.provider_call_id.as_str()), dial.sid.as_deref());
    assert!(placed.provider_call_id.starts_with("CA"));
    assert_eq!(placed.status, "queued");
    let call = fake
        .call(&placed.provider_call_id)
        .ok_or_else(|| anyhow::anyhow!("the fake holds no such call"))?;
    assert_eq!((call.to.as_str(), call.status.as_str()), (TO, "queued"));
    assert_eq!(client.name(), "twilio");
    Ok(())
}

#[tokio::test]
async fn machine_detection_fields_go_only_when_asked_for() -> TestResult {
    let fake = FakeTwilio::start().await?;
    let client = client(&fake)?;

    client.dial(&dial_request(true)).await?;
    client.dial(&dial_request(false)).await?;

    let dials = fake.dials();
    let with = &dials[0].form;
    assert_eq!(with.get("MachineDetection"), Some("DetectMessageEnd"));
    assert_eq!(with.get("AsyncAmd"), Some("true"));
    assert_eq!(
        with.get("AsyncAmdStatusCallback"),
        Some("https://agent.example.com/telephony/twilio/amd")
    );
    assert_eq!(with.get("AsyncAmdStatusCallbackMethod"), Some("POST"));
    let without = &dials[1].form;
    for key in [
        "MachineDetection",
        "AsyncAmd",
        "AsyncAmdStatusCallback",
        "AsyncAmdStatusCallbackMethod",
    ] {
        assert_eq!(without.get(key), None, "{key}");
    }
    Ok(())
}

#[tokio::test]
async fn a_wrong_token_is_rejected_with_twilios_code_and_never_shown() -> TestResult {
    let fake = FakeTwilio::start().await?;
    let client = TwilioClient::new(&config_for(&fake.base_url(), "not-the-token-42")?)?;

    let error = client.dial(&dial_request(false)).await;

    let Err(TelephonyError::Rejected(message)) = error else {
        panic!("expected a refusal, got {error:?}");
    };
    assert!(message.contains("20003"), "{message}");
    assert!(message.contains("Authenticate"), "{message}");
    assert!(!message.contains("not-the-token-42"), "{message}");
    assert_eq!(fake.dials()[0].answered, 401);
    let debug = format!("{client:?}");
    assert!(!debug.contains("not-the-token-42"), "{debug}");
    assert!(!debug.contains(&base64_of("not-the-token-42")), "{debug}");
    Ok(())
}

/// The Basic credentials a client with `token` sends.
fn base64_of(token: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{token}",
        switchboard_testkit::FAKE_TWILIO_ACCOUNT_SID
    ))
}

#[tokio::test]
async fn refused_dials_are_rejected_with_twilios_message_and_code() -> TestResult {
    let fake = FakeTwilio::start().await?;
    let client = client(&fake)?;

    fake.reject_next_dial(
        400,
        21219,
        "The number +14155550100 is unverified. Trial accounts may only make calls to verified numbers.",
    );
    let error = client.dial(&dial_request(false)).await;
    let Err(TelephonyError::Rejected(message)) = error else {
        panic!("expected a refusal, got {error:?}");
    };
    assert!(message.contains("21219"), "{message}");
    assert!(
        message.contains("Trial accounts may only make calls to verified numbers."),
        "{message}"
    );

    // The fake's own check of the number, as Twilio's.
    let mut bad = dial_request(false);
    bad.to = "12345".to_owned();
    let error = client.dial(&bad).await;
    let Err(TelephonyError::Rejected(message)) = error else {
        panic!("expected a refusal, got {error:?}");
    };
    assert!(message.contains("21211"), "{message}");
    assert!(message.contains("Invalid 'To' Phone Number"), "{message}");
    // A refusal is not sent again.
    assert_eq!(fake.dials().len(), 2);
    Ok(())
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_unavailable_and_a_dial_is_never_sent_twice() -> TestResult
{
    let fake = FakeTwilio::start().await?;
    let client = client(&fake)?;

    for status in [500, 503, 429] {
        fake.fail_next(1, status);
        let error = client.dial(&dial_request(false)).await;
        let Err(TelephonyError::Unavailable(message)) = error else {
            panic!("{status}: expected unavailability, got {error:?}");
        };
        assert!(message.contains(&status.to_string()), "{message}");
    }
    let answered: Vec<u16> = fake.dials().iter().map(|d| d.answered).collect();
    assert_eq!(answered, [500, 503, 429]);
    Ok(())
}

#[tokio::test]
async fn a_dial_that_may_have_arrived_is_not_sent_again_when_twilio_is_silent() -> TestResult {
    // A server that takes the request and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    let mut config = config_for(&format!("http://{address}"), "token")?;
    config.request_timeout = Duration::from_millis(300);
    let client = TwilioClient::new(&config)?;

    let error = client.dial(&dial_request(false)).await;

    server.abort();
    let Err(TelephonyError::Unavailable(message)) = error else {
        panic!("expected unavailability, got {error:?}");
    };
    assert!(message.contains("may have been placed"), "{message}");
    // Any retry would have connected before the dial returned.
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
async fn an_unreachable_twilio_is_unavailable() -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    drop(listener);
    let client = TwilioClient::new(&config_for(&format!("http://{address}"), "token")?)?;

    let error = client.dial(&dial_request(false)).await;

    assert!(
        matches!(error, Err(TelephonyError::Unavailable(_))),
        "{error:?}"
    );
    Ok(())
}

#[tokio::test]
async fn hanging_up_completes_a_call_in_progress() -> TestResult {
    let fake = FakeTwilio::start().await?;
    let client = client(&fake)?;
    let sid = placed(&client).await?;
    fake.update_call(&sid, |call| call.status = "in-progress".to_owned());

    client.hang_up(&sid).await?;

    let modifications = fake.modifications(&sid);
    assert_eq!(modifications.len(), 1);
    assert_eq!(modifications[0].form.keys(), ["Status"]);
    assert_eq!(modifications[0].status.as_deref(), Some("completed"));
    assert_eq!(
        fake.call(&sid).map(|c| c.status),
        Some("completed".to_owned())
    );
    Ok(())
}

#[tokio::test]
async fn hanging_up_cancels_a_call_twilio_will_not_complete() -> TestResult {
    let fake = FakeTwilio::start().await?;
    let client = client(&fake)?;
    let sid = placed(&client).await?;
    fake.update_call(&sid, |call| call.status = "ringing".to_owned());
    fake.reject_next_modification(400, 21220, "Call is not in-progress. Cannot complete.");

    client.hang_up(&sid).await?;

    let asked: Vec<(Option<String>, u16)> = fake
        .modifications(&sid)
        .into_iter()
        .map(|m| (m.status, m.answered))
        .collect();
    assert_eq!(
        asked,
        [
            (Some("completed".to_owned()), 400),
            (Some("canceled".to_owned()), 200)
        ]
    );
    assert_eq!(
        fake.call(&sid).map(|c| c.status),
        Some("canceled".to_owned())
    );
    Ok(())
}

#[tokio::test]
async fn a_call_in_progress_that_twilio_will_not_complete_is_not_reported_hung_up() -> TestResult {
    let fake = FakeTwilio::start().await?;
    let client = client(&fake)?;
    let sid = placed(&client).await?;
    fake.update_call(&sid, |call| call.status = "in-progress".to_owned());
    fake.reject_next_modification(400, 21999, "Something else is wrong.");

    let error = client.hang_up(&sid).await;

    // `canceled` leaves a call in progress alone, so the call is still up.
    let Err(TelephonyError::Rejected(message)) = error else {
        panic!("expected a refusal, got {error:?}");
    };
    assert!(message.contains("21999"), "{message}");
    assert_eq!(
        fake.call(&sid).map(|c| c.status),
        Some("in-progress".to_owned())
    );
    Ok(())
}

#[tokio::test]
async fn ended_and_unknown_calls_are_no_such_call() -> TestResult {
    let fake = FakeTwilio::start().await?;
    let client = client(&fake)?;
    let sid = placed(&client).await?;
    fake.update_call(&sid, |call| call.status = "in-progress".to_owned());
    client.hang_up(&sid).await?;

    // Hanging up twice: Twilio refuses both statuses for a call that is over.
    let again = client.hang_up(&sid).await;
    assert!(
        matches!(again, Err(TelephonyError::NoSuchCall)),
        "{again:?}"
    );
    let statuses: Vec<u16> = fake
        .modifications(&sid)
        .iter()
        .map(|m| m.answered)
        .collect();
    assert_eq!(statuses, [200, 400, 400]);
    let transfer = client.transfer(&sid, "+14155550111").await;
    assert!(
        matches!(transfer, Err(TelephonyError::NoSuchCall)),
        "{transfer:?}"
    );
    let play = client.play_and_hang_up(&sid, "Goodbye.").await;
    assert!(matches!(play, Err(TelephonyError::NoSuchCall)), "{play:?}");

    let unknown = "CA0000000000000000000000000000beef";
    for result in [
        client.hang_up(unknown).await,
        client.transfer(unknown, "+14155550111").await,
        client.play_and_hang_up(unknown, "Hello").await,
        client.fetch_call(unknown).await.map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(TelephonyError::NoSuchCall)),
            "{result:?}"
        );
    }
    assert_eq!(fake.modifications(unknown).len(), 3);

    // A sid that could change the path is not sent at all.
    let sneaky = client.hang_up("CA1/../../Messages").await;
    assert!(
        matches!(sneaky, Err(TelephonyError::NoSuchCall)),
        "{sneaky:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_transfer_dials_the_number_in_the_calls_new_twiml() -> TestResult {
    let fake = FakeTwilio::start().await?;
    let client = client(&fake)?;
    let sid = placed(&client).await?;
    fake.update_call(&sid, |call| call.status = "in-progress".to_owned());

    client.transfer(&sid, "+14155550111").await?;

    let modifications = fake.modifications(&sid);
    assert_eq!(modifications.len(), 1);
    assert_eq!(modifications[0].form.keys(), ["Twiml"]);
    let sent = modifications[0].twiml.as_deref().unwrap_or_default();
    assert_eq!(sent, twiml::dial("+14155550111"));
    assert!(
        sent.ends_with("<Response><Dial>+14155550111</Dial></Response>"),
        "{sent}"
    );
    assert_eq!(fake.call(&sid).and_then(|c| c.twiml).as_deref(), Some(sent));
    Ok(())
}

#[tokio::test]
async fn a_voicemail_message_is_said_then_the_call_hangs_up() -> TestResult {
    let fake = FakeTwilio::start().await?;
    let client = client(&fake)?;
    let sid = placed(&client).await?;
    fake.update_call(&sid, |call| call.status = "in-progress".to_owned());

    client
        .play_and_hang_up(&sid, "Hi, it's Acme <support> & co. Call us back!")
        .await?;

    let modifications = fake.modifications(&sid);
    assert_eq!(modifications.len(), 1);
    let sent = modifications[0].twiml.as_deref().unwrap_or_default();
    assert_eq!(
        sent,
        twiml::say_and_hang_up("Hi, it's Acme <support> & co. Call us back!")
    );
    assert!(
        sent.contains(
            "<Say>Hi, it&apos;s Acme &lt;support&gt; &amp; co. Call us back!</Say><Hangup/>"
        ),
        "{sent}"
    );

    // TwiML Twilio would refuse is not sent.
    let long = "a".repeat(MAX_TWIML_CHARS);
    let error = client.play_and_hang_up(&sid, &long).await;
    assert!(
        matches!(error, Err(TelephonyError::Rejected(_))),
        "{error:?}"
    );
    assert_eq!(fake.modifications(&sid).len(), 1);
    Ok(())
}

#[tokio::test]
async fn requests_on_a_live_call_are_retried_on_server_errors_and_rate_limits() -> TestResult {
    let fake = FakeTwilio::start().await?;
    let client = client(&fake)?;
    let sid = placed(&client).await?;
    fake.update_call(&sid, |call| call.status = "in-progress".to_owned());

    fake.fail_next(2, 503);
    client.transfer(&sid, "+14155550111").await?;
    let answered: Vec<u16> = fake
        .modifications(&sid)
        .iter()
        .map(|m| m.answered)
        .collect();
    assert_eq!(answered, [503, 503, 200]);

    // Once the retries are spent (two by default), Twilio is unavailable.
    fake.fail_next(3, 429);
    let error = client.hang_up(&sid).await;
    assert!(
        matches!(error, Err(TelephonyError::Unavailable(_))),
        "{error:?}"
    );
    assert_eq!(fake.modifications(&sid).len(), 6);
    assert_eq!(
        fake.call(&sid).map(|c| c.status),
        Some("in-progress".to_owned())
    );
    Ok(())
}

#[tokio::test]
async fn fetching_a_call_reads_its_status_duration_and_who_answered() -> TestResult {
    let fake = FakeTwilio::start().await?;
    let client = client(&fake)?;
    let sid = placed(&client).await?;

    assert_eq!(
        client.fetch_call(&sid).await?,
        CallDetails {
            sid: sid.clone(),
            status: "queued".to_owned(),
            duration_secs: None,
            answered_by: None,
            direction: Some("outbound-api".to_owned()),
        }
    );

    fake.update_call(&sid, |call| {
        call.status = "completed".to_owned();
        call.answered_by = Some("machine_end_beep".to_owned());
        call.duration_secs = Some(42);
    });
    let details = client.fetch_call(&sid).await?;
    assert_eq!(details.status, "completed");
    assert_eq!(details.duration_secs, Some(42));
    assert_eq!(details.answered_by.as_deref(), Some("machine_end_beep"));

    // A fetch is retried like any idempotent request.
    fake.fail_next(1, 500);
    assert_eq!(client.fetch_call(&sid).await?.status, "completed");
    Ok(())
}

#[tokio::test]
async fn the_port_reads_a_calls_status_and_connected_seconds() -> TestResult {
    let fake = FakeTwilio::start().await?;
    let client = client(&fake)?;
    let sid = placed(&client).await?;
    let telephony: &dyn Telephony = &client;
    assert_eq!(
        telephony.fetch(&sid).await?,
        ProviderCallState {
            status: CallStatus::Queued,
            talk_secs: None,
        }
    );
    for (twilio, status) in [
        ("ringing", CallStatus::Ringing),
        ("in-progress", CallStatus::InProgress),
        ("no-answer", CallStatus::NoAnswer),
        ("busy", CallStatus::Busy),
        ("failed", CallStatus::Failed),
        ("canceled", CallStatus::Canceled),
    ] {
        fake.update_call(&sid, |call| call.status = twilio.to_owned());
        assert_eq!(telephony.fetch(&sid).await?.status, status, "{twilio}");
    }
    fake.update_call(&sid, |call| {
        call.status = "completed".to_owned();
        call.duration_secs = Some(42);
    });
    assert_eq!(
        telephony.fetch(&sid).await?,
        ProviderCallState {
            status: CallStatus::Completed,
            talk_secs: Some(42),
        }
    );

    // A status Twilio does not document is not guessed at.
    fake.update_call(&sid, |call| call.status = "teleported".to_owned());
    assert!(matches!(
        telephony.fetch(&sid).await,
        Err(TelephonyError::Unexpected(_))
    ));
    // A deleted call, like one Twilio never had, is unknown.
    assert!(fake.forget_call(&sid));
    assert!(matches!(
        telephony.fetch(&sid).await,
        Err(TelephonyError::NoSuchCall)
    ));
    Ok(())
}

#[tokio::test]
async fn dials_are_seen_by_tests_waiting_for_them() -> TestResult {
    let fake = FakeTwilio::start().await?;
    let client = Arc::new(client(&fake)?);
    let dialer = Arc::clone(&client);
    let task = tokio::spawn(async move { dialer.dial(&dial_request(false)).await });

    assert!(fake.wait_for_dials(1, Duration::from_secs(5)).await);
    task.await??;
    assert!(!fake.wait_for_dials(2, Duration::from_millis(50)).await);
    Ok(())
}

#[test]
fn configurations_the_client_cannot_use_are_refused() -> TestResult {
    let base = Url::parse("https://api.twilio.com")?;
    let refused = |sid: &str, token: &str, base: &Url| {
        TwilioClient::new(&TwilioConfig::with_base_url(
            sid,
            ApiKey::new(token),
            base.clone(),
        ))
        .err()
    };
    assert_eq!(
        refused("", "t", &base),
        Some(TwilioConfigError::AccountSid(String::new()))
    );
    assert_eq!(
        refused("AC1/..", "t", &base),
        Some(TwilioConfigError::AccountSid("AC1/..".to_owned()))
    );
    assert_eq!(
        refused("AC1", "", &base),
        Some(TwilioConfigError::EmptyToken)
    );
    assert!(matches!(
        refused("AC1", "t", &Url::parse("ftp://example.com")?),
        Some(TwilioConfigError::BaseUrl(_))
    ));
    assert_eq!(refused("AC1", "t", &base), None);
    Ok(())
}
