//! The guided set-up through seed 000's `/onboarding` routes and the canonical
//! `/api/v1/onboarding`.

use reqwest::Method;
use serde_json::{Value, json};
use switchboard_testkit::TestApp;

use crate::support::{expect_error, expect_json};

async fn step(app: &TestApp, path: &str, body: &Value, token: &str) -> anyhow::Result<Value> {
    expect_json(app.post_json(path, body, Some(token)).await?, 200).await
}

async fn status(app: &TestApp, token: &str) -> anyhow::Result<Value> {
    expect_json(app.get("/onboarding/status", Some(token)).await?, 200).await
}

fn unique_number() -> String {
    format!("+1415{:07}", uuid::Uuid::new_v4().as_u128() % 10_000_000)
}

fn fields(body: &Value) -> Vec<&str> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str())
        .collect()
}

fn agent_id(status: &Value) -> anyhow::Result<String> {
    status["agent_id"]
        .as_str()
        .map(ToOwned::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no agent_id in {status}"))
}

#[tokio::test]
async fn the_whole_set_up_through_the_seed_routes() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;

    let fresh = status(&app, &token).await?;
    assert_eq!(
        fresh["steps"],
        json!({"company": false, "agent": false, "knowledge": false, "voice": false,
               "channels": false, "deploy": false})
    );
    assert_eq!(fresh["completed_steps"], json!([]));
    assert_eq!(fresh["next_step"], "company");
    assert_eq!(fresh["completed"], false);
    assert_eq!(fresh["agent_id"], Value::Null);
    assert_eq!(fresh["profile"], Value::Null);
    assert_eq!(fresh["organization"]["time_zone"], "UTC");

    let company = step(
        &app,
        "/onboarding/company",
        &json!({
            "company_name": "Acme Dental",
            "industry": "Healthcare",
            "website": "acme-dental.example",
            "description": "Two practices in Berlin",
            "company_size": "11-50",
            "time_zone": "Europe/Berlin"
        }),
        &token,
    )
    .await?;
    assert_eq!(company["steps"]["company"], true);
    assert_eq!(company["next_step"], "agent");
    assert_eq!(company["organization"]["name"], "Acme Dental");
    assert_eq!(company["organization"]["time_zone"], "Europe/Berlin");
    assert_eq!(
        company["profile"],
        json!({"name": "Acme Dental", "industry": "Healthcare",
               "website": "https://acme-dental.example", "description": "Two practices in Berlin",
               "size": "11-50", "time_zone": "Europe/Berlin"})
    );
    let me = expect_json(app.get("/auth/me", Some(&token)).await?, 200).await?;
    assert!(
        me.to_string().contains("Acme Dental"),
        "the organisation itself was renamed: {me}"
    );

    let agent = step(
        &app,
        "/onboarding/agent",
        &json!({
            "agent_name": "Ava",
            "purpose": "Books and moves appointments",
            "system_prompt": "You book appointments for Acme Dental.",
            "greeting": "Hi, this is {agent_name} from {company}.",
            "language": "en-US"
        }),
        &token,
    )
    .await?;
    assert_eq!(agent["steps"]["agent"], true);
    assert_eq!(agent["next_step"], "knowledge");
    assert_eq!(agent["agent"]["name"], "Ava");
    assert_eq!(
        agent["agent"]["description"],
        "Books and moves appointments"
    );
    assert_eq!(
        agent["agent"]["status"], "inactive",
        "not live before deploy"
    );
    let id = agent_id(&agent)?;
    let stored = expect_json(
        app.get(&format!("/api/v1/agents/{id}"), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(
        stored["first_message"],
        "Hi, this is {agent_name} from {company}."
    );
    assert_eq!(stored["language"], "en-US");

    let voice = step(
        &app,
        "/onboarding/voice",
        &json!({"voice_id": "voice-7", "provider": "openai", "speed": 1.1,
                "personality": "Warm and patient", "tone": "professional"}),
        &token,
    )
    .await?;
    assert_eq!(voice["steps"]["voice"], true);
    assert_eq!(
        voice["voice"],
        json!({"provider": "openai", "voice_id": "voice-7", "speed": 1.1,
               "personality": "Warm and patient", "tone": "professional"})
    );
    let stored = expect_json(
        app.get(&format!("/api/v1/agents/{id}"), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(stored["voice"]["voice_id"], "voice-7");
    assert_eq!(
        stored["system_prompt"], "You book appointments for Acme Dental.",
        "the personality leaves the prompt alone"
    );

    let number = unique_number();
    let channels = step(
        &app,
        "/onboarding/channels",
        &json!({"phone": true, "web": true, "phone_number": number}),
        &token,
    )
    .await?;
    assert_eq!(channels["steps"]["channels"], true);
    assert_eq!(
        channels["channels"],
        json!({"phone": true, "web": true, "phone_number": number})
    );
    let numbers = expect_json(app.get("/api/v1/phone-numbers", Some(&token)).await?, 200).await?;
    assert_eq!(numbers["total"], 1);
    assert_eq!(numbers["items"][0]["number"], number.as_str());
    assert_eq!(numbers["items"][0]["assigned_agent_id"], id.as_str());
    assert_eq!(numbers["items"][0]["status"], "active");

    let deployed = expect_json(
        app.post_json("/onboarding/deploy", &json!({}), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(deployed["steps"]["deploy"], true);
    assert_eq!(deployed["agent"]["status"], "active");
    assert!(deployed["deployed_at"].is_string(), "{deployed}");
    assert_eq!(
        deployed["completed_steps"],
        json!(["company", "agent", "voice", "channels", "deploy"])
    );
    // The knowledge step is the one left: until it is done the set-up is not complete.
    assert_eq!(deployed["next_step"], "knowledge");
    assert_eq!(deployed["completed"], false);
    assert_eq!(deployed["knowledge_documents"], 0);

    let canonical = expect_json(
        app.get("/api/v1/onboarding/status", Some(&token)).await?,
        200,
    )
    .await?;
    assert_eq!(canonical, status(&app, &token).await?);
    assert_eq!(canonical, deployed);

    // The knowledge step: documents for the onboarding agent, and the set-up is complete.
    let form = reqwest::multipart::Form::new()
        .part(
            "files",
            reqwest::multipart::Part::bytes(b"Cleanings take forty minutes.".to_vec())
                .file_name("services.txt")
                .mime_str("text/plain")?,
        )
        .part(
            "files",
            reqwest::multipart::Part::bytes(b"# Hours\n\nOpen Monday to Saturday.".to_vec())
                .file_name("hours.md")
                .mime_str("text/markdown")?,
        );
    let knowledge = app
        .request(reqwest::Method::POST, "/onboarding/knowledge")
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await?;
    let knowledge = expect_json(knowledge, 200).await?;
    assert_eq!(knowledge["steps"]["knowledge"], true);
    assert_eq!(knowledge["knowledge_documents"], 2);
    assert_eq!(knowledge["completed"], true);
    assert_eq!(knowledge["next_step"], Value::Null);
    let stored = expect_json(
        app.get(&format!("/api/v1/agents/{id}"), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(
        stored["knowledge_document_ids"].as_array().map(Vec::len),
        Some(2)
    );
    Ok(())
}

#[tokio::test]
async fn the_knowledge_step_needs_the_agent_and_files() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let file = || -> anyhow::Result<reqwest::multipart::Form> {
        Ok(reqwest::multipart::Form::new().part(
            "files",
            reqwest::multipart::Part::bytes(b"Some facts.".to_vec())
                .file_name("facts.txt")
                .mime_str("text/plain")?,
        ))
    };
    let early = app
        .request(reqwest::Method::POST, "/api/v1/onboarding/knowledge")
        .bearer_auth(&token)
        .multipart(file()?)
        .send()
        .await?;
    let body = expect_error(early, 409).await?;
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("agent")),
        "{body}"
    );
    step(&app, "/onboarding/agent", &json!({"name": "Ava"}), &token).await?;
    let empty = app
        .request(reqwest::Method::POST, "/onboarding/knowledge")
        .bearer_auth(&token)
        .multipart(reqwest::multipart::Form::new().text("note", "no files"))
        .send()
        .await?;
    expect_error(empty, 422).await?;
    let not_multipart = app
        .post_json("/onboarding/knowledge", &json!({}), Some(&token))
        .await?;
    expect_error(not_multipart, 415).await?;
    let status = status(&app, &token).await?;
    assert_eq!(status["steps"]["knowledge"], false);
    Ok(())
}

#[tokio::test]
async fn steps_can_be_answered_again() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    step(
        &app,
        "/api/v1/onboarding/company",
        &json!({"name": "Acme", "industry": "Retail", "time_zone": "Europe/Berlin"}),
        &token,
    )
    .await?;
    let company = step(
        &app,
        "/api/v1/onboarding/company",
        &json!({"name": "Acme Stores", "size": "51-200"}),
        &token,
    )
    .await?;
    assert_eq!(company["organization"]["name"], "Acme Stores");
    assert_eq!(
        company["organization"]["time_zone"], "Europe/Berlin",
        "without a zone the zone stays"
    );
    assert_eq!(
        company["profile"]["industry"],
        Value::Null,
        "the profile is replaced"
    );
    assert_eq!(company["profile"]["size"], "51-200");

    let first = step(
        &app,
        "/api/v1/onboarding/agent",
        &json!({"name": "Ava", "description": "Front desk"}),
        &token,
    )
    .await?;
    let again = step(
        &app,
        "/api/v1/onboarding/agent",
        &json!({"name": "Bea"}),
        &token,
    )
    .await?;
    assert_eq!(agent_id(&again)?, agent_id(&first)?, "the same agent");
    assert_eq!(again["agent"]["name"], "Bea");
    assert_eq!(
        again["agent"]["description"], "Front desk",
        "fields not sent keep their value"
    );
    let agents = expect_json(app.get("/api/v1/agents", Some(&token)).await?, 200).await?;
    assert_eq!(agents["total"], 1);

    step(
        &app,
        "/api/v1/onboarding/voice",
        &json!({"voice_id": "voice-1", "tone": "casual"}),
        &token,
    )
    .await?;
    let voice = step(
        &app,
        "/api/v1/onboarding/voice",
        &json!({"speed": 0.9, "tone": "formal"}),
        &token,
    )
    .await?;
    assert_eq!(voice["voice"]["voice_id"], "voice-1");
    assert_eq!(voice["voice"]["speed"], 0.9);
    assert_eq!(voice["voice"]["tone"], "formal");

    let number = unique_number();
    for _ in 0..2 {
        step(
            &app,
            "/api/v1/onboarding/channels",
            &json!({"phone_number": number}),
            &token,
        )
        .await?;
    }
    let numbers = expect_json(app.get("/api/v1/phone-numbers", Some(&token)).await?, 200).await?;
    assert_eq!(numbers["total"], 1, "the organisation's number is reused");
    let web_only = step(
        &app,
        "/api/v1/onboarding/channels",
        &json!({"web": true}),
        &token,
    )
    .await?;
    assert_eq!(
        web_only["channels"],
        json!({"phone": false, "web": true, "phone_number": null})
    );

    let deployed = step(&app, "/api/v1/onboarding/deploy", &json!({}), &token).await?;
    let redeployed = step(&app, "/api/v1/onboarding/deploy", &json!({}), &token).await?;
    assert_eq!(redeployed["agent"]["status"], "active");
    assert_eq!(agent_id(&redeployed)?, agent_id(&deployed)?);
    Ok(())
}

#[tokio::test]
async fn steps_that_need_earlier_ones_say_which() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    for path in ["/onboarding/voice", "/onboarding/channels"] {
        let body = json!({"voice_id": "voice-1", "web": true});
        let refused = expect_error(app.post_json(path, &body, Some(&token)).await?, 409).await?;
        let detail = refused["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("agent step"), "{path}: {detail}");
    }
    let refused = expect_error(
        app.post_json("/onboarding/deploy", &json!({}), Some(&token))
            .await?,
        409,
    )
    .await?;
    assert_eq!(
        refused["detail"],
        "complete the company and agent steps before the deploy step"
    );

    step(&app, "/onboarding/agent", &json!({"name": "Ava"}), &token).await?;
    let refused = expect_error(
        app.post_json("/onboarding/deploy", &json!({}), Some(&token))
            .await?,
        409,
    )
    .await?;
    assert_eq!(
        refused["detail"],
        "complete the company step before the deploy step"
    );
    let unchanged = status(&app, &token).await?;
    assert_eq!(unchanged["agent"]["status"], "inactive");
    assert_eq!(unchanged["steps"]["deploy"], false);
    Ok(())
}

#[tokio::test]
async fn bad_answers_name_their_fields() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let post = |path: &'static str, body: Value| {
        let app = &app;
        let token = token.clone();
        async move { app.post_json(path, &body, Some(&token)).await }
    };

    let body = expect_error(post("/onboarding/company", json!({})).await?, 422).await?;
    assert_eq!(fields(&body), ["name"]);
    let body = expect_error(
        post(
            "/onboarding/company",
            json!({"name": " ", "website": "ftp://acme.example", "time_zone": "Mars/Olympus"}),
        )
        .await?,
        422,
    )
    .await?;
    assert_eq!(fields(&body), ["name", "website", "time_zone"]);
    let body = expect_error(
        post("/onboarding/company", json!({"name": ["Acme"]})).await?,
        422,
    )
    .await?;
    assert_eq!(fields(&body), ["name"]);
    let malformed = app
        .request(Method::POST, "/onboarding/company")
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await?;
    expect_error(malformed, 400).await?;

    let body = expect_error(
        post("/onboarding/agent", json!({"language": "english please"})).await?,
        422,
    )
    .await?;
    assert_eq!(fields(&body), ["name", "language"]);
    step(&app, "/onboarding/agent", &json!({"name": "Ava"}), &token).await?;

    let body = expect_error(
        post(
            "/onboarding/voice",
            json!({"provider": "acme-tts", "speed": 9, "tone": "x".repeat(201)}),
        )
        .await?,
        422,
    )
    .await?;
    assert_eq!(fields(&body), ["tone", "provider", "speed"]);

    let body = expect_error(post("/onboarding/channels", json!({})).await?, 422).await?;
    assert_eq!(fields(&body), ["channels"]);
    let body = expect_error(
        post("/onboarding/channels", json!({"phone_number": "555-0100"})).await?,
        422,
    )
    .await?;
    assert_eq!(fields(&body), ["phone_number"]);
    let body = expect_error(
        post(
            "/onboarding/channels",
            json!({"phone": false, "web": true, "phone_number": unique_number()}),
        )
        .await?,
        422,
    )
    .await?;
    assert_eq!(fields(&body), ["phone_number"]);

    let after = status(&app, &token).await?;
    assert_eq!(
        after["completed_steps"],
        json!(["agent"]),
        "refused answers store nothing"
    );
    Ok(())
}

#[tokio::test]
async fn a_number_of_another_organisation_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let theirs = app.signed_in_user().await?;
    let mine = app.signed_in_user().await?;
    let number = unique_number();
    expect_json(
        app.post_json(
            "/api/v1/phone-numbers",
            &json!({"number": number}),
            Some(&theirs),
        )
        .await?,
        201,
    )
    .await?;
    step(&app, "/onboarding/agent", &json!({"name": "Ava"}), &mine).await?;
    let refused = expect_error(
        app.post_json(
            "/onboarding/channels",
            &json!({"phone": true, "phone_number": number}),
            Some(&mine),
        )
        .await?,
        409,
    )
    .await?;
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.contains("another organisation")),
        "{refused}"
    );
    assert_eq!(status(&app, &mine).await?["steps"]["channels"], false);
    let their_numbers =
        expect_json(app.get("/api/v1/phone-numbers", Some(&theirs)).await?, 200).await?;
    assert_eq!(their_numbers["items"][0]["assigned_agent_id"], Value::Null);
    Ok(())
}

#[tokio::test]
async fn organisations_see_only_their_own_set_up() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let first = app.signed_in_user().await?;
    let second = app.signed_in_user().await?;
    step(
        &app,
        "/onboarding/company",
        &json!({"name": "First Co"}),
        &first,
    )
    .await?;
    let theirs = step(&app, "/onboarding/agent", &json!({"name": "Ava"}), &first).await?;
    let their_agent = agent_id(&theirs)?;

    let mine = status(&app, &second).await?;
    assert_eq!(mine["completed_steps"], json!([]));
    assert_eq!(mine["agent_id"], Value::Null);
    assert_ne!(mine["organization"]["name"], "First Co");
    expect_error(
        app.get(&format!("/api/v1/agents/{their_agent}"), Some(&second))
            .await?,
        404,
    )
    .await?;
    expect_error(
        app.post_json(
            "/onboarding/voice",
            &json!({"voice_id": "voice-9"}),
            Some(&second),
        )
        .await?,
        409,
    )
    .await?;
    let created = step(&app, "/onboarding/agent", &json!({"name": "Own"}), &second).await?;
    assert_ne!(agent_id(&created)?, their_agent);
    let untouched = status(&app, &first).await?;
    assert_eq!(untouched["agent"]["name"], "Ava");
    assert_eq!(untouched["organization"]["name"], "First Co");
    Ok(())
}

#[tokio::test]
async fn a_deleted_agent_is_replaced_by_the_agent_step() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    step(
        &app,
        "/onboarding/company",
        &json!({"name": "Acme"}),
        &token,
    )
    .await?;
    let first = step(&app, "/onboarding/agent", &json!({"name": "Ava"}), &token).await?;
    step(
        &app,
        "/onboarding/voice",
        &json!({"voice_id": "voice-1"}),
        &token,
    )
    .await?;
    let old = agent_id(&first)?;
    let deleted = app
        .request(Method::DELETE, &format!("/api/v1/agents/{old}"))
        .bearer_auth(&token)
        .send()
        .await?;
    expect_json(deleted, 200).await?;

    let gone = status(&app, &token).await?;
    assert_eq!(gone["completed_steps"], json!(["company"]));
    assert_eq!(gone["next_step"], "agent");
    assert_eq!(gone["agent_id"], Value::Null);
    expect_error(
        app.post_json(
            "/onboarding/voice",
            &json!({"voice_id": "voice-2"}),
            Some(&token),
        )
        .await?,
        409,
    )
    .await?;

    let replaced = step(&app, "/onboarding/agent", &json!({"name": "Bea"}), &token).await?;
    assert_ne!(agent_id(&replaced)?, old);
    assert_eq!(replaced["completed_steps"], json!(["company", "agent"]));
    assert_eq!(
        replaced["voice"],
        Value::Null,
        "the new agent has no voice step"
    );
    Ok(())
}

#[tokio::test]
async fn concurrent_first_agent_steps_leave_one_agent() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let attempts = (0..4).map(|n| {
        let body = json!({"name": format!("Agent {n}")});
        let app = &app;
        let token = &token;
        async move { step(app, "/onboarding/agent", &body, token).await }
    });
    let answers = futures_util::future::try_join_all(attempts).await?;
    let ids: Vec<String> = answers.iter().map(agent_id).collect::<Result<_, _>>()?;
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let agents = expect_json(app.get("/api/v1/agents", Some(&token)).await?, 200).await?;
    assert_eq!(agents["total"], 1, "{agents}");
    Ok(())
}

#[tokio::test]
async fn every_step_needs_a_signed_in_user() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    for prefix in ["/onboarding", "/api/v1/onboarding"] {
        expect_error(app.get(&format!("{prefix}/status"), None).await?, 401).await?;
        for name in ["company", "agent", "voice", "channels", "deploy"] {
            let path = format!("{prefix}/{name}");
            let response = app.post_json(&path, &json!({"name": "Acme"}), None).await?;
            expect_error(response, 401).await?;
        }
    }
    Ok(())
}
