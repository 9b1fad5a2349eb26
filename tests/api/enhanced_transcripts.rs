//! Enhanced transcripts (seed 003) of the organisation's own calls, run through the call API,
//! and of stored Twilio Voice Intelligence transcripts, with filters and paging.

use serde_json::{Value, json};
use switchboard_testkit::{FakeOpenAi, FakeTwilioIntelligence, TestApp};

use crate::support::{expect_error, expect_json};

fn text(body: &Value, field: &str) -> String {
    body[field].as_str().unwrap_or_default().to_owned()
}

/// A text call with two customer messages; returns its id and every line said, in order.
async fn text_call(
    app: &TestApp,
    token: &str,
    start: Value,
) -> anyhow::Result<(String, Vec<String>)> {
    let call = expect_json(
        app.post_json("/api/v1/calls", &start, Some(token)).await?,
        201,
    )
    .await?;
    let id = text(&call, "id");
    let mut lines = vec![text(&call, "first_message")];
    for message in ["My order is late", "It was due on Monday"] {
        let turn = expect_json(
            app.post_json(
                &format!("/api/v1/calls/{id}/messages"),
                &json!({"message": message}),
                Some(token),
            )
            .await?,
            200,
        )
        .await?;
        lines.push(message.to_owned());
        lines.push(text(&turn, "reply"));
    }
    Ok((id, lines))
}

struct World {
    app: TestApp,
    _model: FakeOpenAi,
    fake: FakeTwilioIntelligence,
    token: String,
    sales_call: String,
    sales_lines: Vec<String>,
    inbound_call: String,
    stored_sid: String,
}

/// A stored Twilio transcript labelled as an outbound sales call, an outbound sales call and
/// an inbound support call, made in that order (Twilio dates transcripts to the second, so the
/// transcript is made first to be the oldest).
async fn world() -> anyhow::Result<World> {
    let model = FakeOpenAi::start().await?;
    model.set_default_reply(switchboard_testkit::Reply::text(
        "Let me check that for you.",
    ));
    let fake = FakeTwilioIntelligence::start().await?;
    let app = TestApp::builder()
        .with_openai(&model)
        .with_twilio_intelligence(&fake, 50)
        .spawn()
        .await?;
    let token = app.signed_in_user().await?;
    let stored_sid = fake.add_transcript(4);
    expect_json(
        app.post_json(
            &format!("/store-transcript/{stored_sid}"),
            &json!({"scenario_name": "Sales", "call_direction": "outbound"}),
            Some(&token),
        )
        .await?,
        201,
    )
    .await?;
    let (sales_call, sales_lines) = text_call(
        &app,
        &token,
        json!({"scenario": "sales", "direction": "outbound", "customer_name": "John"}),
    )
    .await?;
    let (inbound_call, _) = text_call(&app, &token, json!({"scenario": "support"})).await?;
    Ok(World {
        app,
        _model: model,
        fake,
        token,
        sales_call,
        sales_lines,
        inbound_call,
        stored_sid,
    })
}

async fn list(world: &World, query: &str) -> anyhow::Result<Vec<String>> {
    let listed = expect_json(
        world
            .app
            .get(
                &format!("/api/enhanced-transcripts/{query}"),
                Some(&world.token),
            )
            .await?,
        200,
    )
    .await?;
    Ok(listed
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| text(item, "transcript_sid"))
        .collect())
}

#[tokio::test]
async fn an_own_call_has_participants_flow_and_summary() -> anyhow::Result<()> {
    let world = world().await?;
    let detail = expect_json(
        world
            .app
            .get(
                &format!("/api/enhanced-transcripts/{}", world.sales_call),
                Some(&world.token),
            )
            .await?,
        200,
    )
    .await?;
    assert_eq!(detail["source"], "call");
    assert_eq!(detail["transcript_sid"], world.sales_call.as_str());
    assert_eq!(detail["call_direction"], "outbound");
    assert_eq!(detail["scenario_name"], "sales");
    let flow = detail["conversation_flow"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let said: Vec<String> = flow.iter().map(|line| text(line, "text")).collect();
    assert_eq!(said, world.sales_lines);
    let roles: Vec<String> = flow
        .iter()
        .map(|line| text(&line["speaker"], "role"))
        .collect();
    assert_eq!(roles, ["agent", "customer", "agent", "customer", "agent"]);
    assert_eq!(flow[1]["speaker"]["channel"], 0);
    assert_eq!(flow[1]["speaker"]["name"], "John");
    assert_eq!(flow[1]["sequence"], 2);
    assert_eq!(flow[1]["word_count"], 4);
    // A line lasts until the next one starts.
    assert_eq!(flow[0]["end_time"], flow[1]["start_time"]);
    assert!(
        flow[0]["start_time"].as_f64().is_some_and(|t| t >= 0.0),
        "{}",
        flow[0]
    );

    let customer = &detail["participant_info"]["0"];
    assert_eq!(customer["role"], "customer");
    assert_eq!(customer["sentence_count"], 2);
    assert_eq!(customer["word_count"], 4 + 5);
    let agent = &detail["participant_info"]["1"];
    assert_eq!(agent["role"], "agent");
    assert_eq!(agent["sentence_count"], 3);
    let words: u64 = flow
        .iter()
        .filter_map(|line| line["word_count"].as_u64())
        .sum();
    assert_eq!(detail["summary_data"]["total_words"], words);
    assert_eq!(detail["summary_data"]["total_sentences"], 5);
    assert_eq!(detail["summary_data"]["participant_count"], 2);
    assert!(detail["summary_data"]["average_confidence"].is_null());
    assert_eq!(detail["full_text"], world.sales_lines.join(" "));
    Ok(())
}

#[tokio::test]
async fn a_stored_twilio_transcript_maps_channels_to_roles() -> anyhow::Result<()> {
    let world = world().await?;
    let detail = expect_json(
        world
            .app
            .get(
                &format!("/api/enhanced-transcripts/{}", world.stored_sid),
                Some(&world.token),
            )
            .await?,
        200,
    )
    .await?;
    assert_eq!(detail["source"], "twilio");
    assert_eq!(detail["duration"], 8);
    assert_eq!(detail["scenario_name"], "Sales");
    assert_eq!(detail["call_direction"], "outbound");
    let first = &detail["conversation_flow"][0];
    assert_eq!(
        first["speaker"],
        json!({"channel": 1, "role": "agent", "name": "AI Agent"})
    );
    assert_eq!(first["start_time"], 0.5);
    assert_eq!(first["end_time"], 2.0);
    assert_eq!(first["duration"], 1.5);
    assert_eq!(first["confidence"], 0.9);
    assert_eq!(first["word_count"], 6);
    assert_eq!(
        detail["conversation_flow"][1]["speaker"]["role"],
        "customer"
    );
    let customer = &detail["participant_info"]["2"];
    assert_eq!(customer["sentence_count"], 2);
    assert_eq!(customer["total_speaking_time"], 3.0);
    let average = detail["summary_data"]["average_confidence"]
        .as_f64()
        .unwrap_or_default();
    assert!((average - 0.8).abs() < 1e-9, "{average}");
    assert_eq!(detail["summary_data"]["total_sentences"], 4);
    assert_eq!(detail["summary_data"]["total_duration_seconds"], 8);
    // Read from the database: Twilio was asked once, when it was stored.
    assert_eq!(world.fake.requests().len(), 2);
    Ok(())
}

#[tokio::test]
async fn the_list_filters_by_direction_and_scenario_and_pages() -> anyhow::Result<()> {
    let world = world().await?;
    let all = list(&world, "").await?;
    assert_eq!(
        all,
        vec![
            world.inbound_call.clone(),
            world.sales_call.clone(),
            world.stored_sid.clone(),
        ]
    );
    let listed = expect_json(
        world
            .app
            .get("/api/enhanced-transcripts/", Some(&world.token))
            .await?,
        200,
    )
    .await?;
    let item = &listed[2];
    assert_eq!(item["source"], "twilio");
    assert_eq!(listed[0]["source"], "call");
    assert_eq!(listed[0]["conversation_turns"], 5);
    assert_eq!(item["conversation_turns"], 4);
    assert_eq!(item["participant_count"], 2);
    assert_eq!(item["summary"]["duration_formatted"], "0:08");
    assert_eq!(
        item["summary"]["participant_info"]["1"],
        json!({"role": "agent", "name": "AI Agent"})
    );
    assert_eq!(item["total_words"], 24);

    assert_eq!(
        list(&world, "?call_direction=outbound").await?,
        vec![world.sales_call.clone(), world.stored_sid.clone()]
    );
    assert_eq!(
        list(&world, "?scenario_name=SALES").await?,
        vec![world.sales_call.clone(), world.stored_sid.clone()]
    );
    assert_eq!(
        list(&world, "?call_direction=inbound&scenario_name=support").await?,
        vec![world.inbound_call.clone()]
    );
    assert_eq!(
        list(&world, "?skip=1&limit=1").await?,
        vec![world.sales_call.clone()]
    );
    assert!(list(&world, "?skip=3").await?.is_empty());
    let body = expect_error(
        world
            .app
            .get(
                "/api/enhanced-transcripts/?call_direction=sideways",
                Some(&world.token),
            )
            .await?,
        422,
    )
    .await?;
    assert_eq!(body["errors"][0]["field"], "call_direction");
    expect_error(
        world
            .app
            .get("/api/enhanced-transcripts/?limit=0", Some(&world.token))
            .await?,
        422,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn transcripts_stay_within_their_organisation() -> anyhow::Result<()> {
    let world = world().await?;
    let other = world.app.signed_in_user().await?;
    let listed = expect_json(
        world
            .app
            .get("/api/enhanced-transcripts/", Some(&other))
            .await?,
        200,
    )
    .await?;
    assert_eq!(listed, json!([]));
    for sid in [&world.sales_call, &world.stored_sid] {
        expect_error(
            world
                .app
                .get(&format!("/api/enhanced-transcripts/{sid}"), Some(&other))
                .await?,
            404,
        )
        .await?;
    }
    expect_error(
        world
            .app
            .get(
                "/api/enhanced-transcripts/CA0123456789abcdef0123456789abcdef",
                Some(&world.token),
            )
            .await?,
        404,
    )
    .await?;
    expect_error(
        world
            .app
            .get("/api/enhanced-transcripts/GT12", Some(&world.token))
            .await?,
        400,
    )
    .await?;
    expect_error(
        world.app.get("/api/enhanced-transcripts/", None).await?,
        401,
    )
    .await?;
    Ok(())
}
