//! Scenarios through seed 003's routes and `/api/v1/scenarios`.

use reqwest::Method;
use serde_json::{Value, json};
use switchboard_testkit::TestApp;

use crate::support::{expect_error, expect_json};

fn scenario(n: usize) -> Value {
    json!({
        "persona": format!("You are persona number {n}."),
        "prompt": "Understand the customer's needs.",
        "voice_type": "aggressive_male",
        "temperature": 0.7
    })
}

#[tokio::test]
async fn seed_routes_create_list_update_and_delete() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let created = expect_json(
        app.post_json("/realtime/custom-scenario", &scenario(1), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(created["message"], "Custom scenario created successfully");
    let scenario_id = created["scenario_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(scenario_id.starts_with("custom_"), "{scenario_id}");

    let listed = expect_json(app.get("/custom-scenarios", Some(&token)).await?, 200).await?;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let item = &listed[0];
    assert_eq!(item["scenario_id"], scenario_id.as_str());
    for field in [
        "id",
        "persona",
        "prompt",
        "voice_type",
        "temperature",
        "created_at",
    ] {
        assert!(!item[field].is_null(), "{field} missing in {item}");
    }

    let updated = app
        .request(Method::PUT, &format!("/custom-scenarios/{scenario_id}"))
        .bearer_auth(&token)
        .json(&json!({"voice_type": "concerned_female", "temperature": 0.8}))
        .send()
        .await?;
    let updated = expect_json(updated, 200).await?;
    assert_eq!(updated["voice_type"], "concerned_female");
    assert_eq!(updated["persona"], "You are persona number 1.");

    let canonical = expect_json(
        app.get(&format!("/api/v1/scenarios/{scenario_id}"), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(canonical["temperature"], 0.8);

    let deleted = app
        .request(Method::DELETE, &format!("/custom-scenarios/{scenario_id}"))
        .bearer_auth(&token)
        .send()
        .await?;
    let deleted = expect_json(deleted, 200).await?;
    assert_eq!(deleted["message"], "Custom scenario deleted successfully");
    expect_error(
        app.get(&format!("/api/v1/scenarios/{scenario_id}"), Some(&token))
            .await?,
        404,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn the_twenty_first_scenario_is_refused_and_ids_never_collide() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let creations = (0..20).map(|n| {
        let body = scenario(n);
        let app = &app;
        let token = token.clone();
        async move {
            app.post_json("/api/v1/scenarios", &body, Some(&token))
                .await
        }
    });
    let mut ids = std::collections::BTreeSet::new();
    for response in futures_util::future::join_all(creations).await {
        let body = expect_json(response?, 201).await?;
        ids.insert(body["scenario_id"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        ids.len(),
        20,
        "every scenario_id is unique, even within one second"
    );
    let refused = app
        .post_json("/realtime/custom-scenario", &scenario(21), Some(&token))
        .await?;
    let body = expect_error(refused, 409).await?;
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("20")),
        "{body}"
    );
    let listed = expect_json(app.get("/api/v1/scenarios", Some(&token)).await?, 200).await?;
    assert_eq!(listed["total"], 20);
    assert_eq!(listed["limit"], 20);
    // Another user has a limit of their own.
    let other = app.signed_in_user().await?;
    expect_json(
        app.post_json("/api/v1/scenarios", &scenario(0), Some(&other))
            .await?,
        201,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn scenario_creation_is_rate_limited_per_user() -> anyhow::Result<()> {
    let app = TestApp::builder()
        .env("RATE_LIMIT_SCENARIOS_PER_MIN", "3")
        .spawn()
        .await?;
    let token = app.signed_in_user().await?;
    for n in 0..3 {
        expect_json(
            app.post_json("/api/v1/scenarios", &scenario(n), Some(&token))
                .await?,
            201,
        )
        .await?;
    }
    let limited = app
        .post_json("/realtime/custom-scenario", &scenario(3), Some(&token))
        .await?;
    assert!(limited.headers().contains_key("retry-after"));
    expect_error(limited, 429).await?;
    let other = app.signed_in_user().await?;
    expect_json(
        app.post_json("/api/v1/scenarios", &scenario(0), Some(&other))
            .await?,
        201,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn invalid_scenarios_and_other_users() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let owner = app.signed_in_user().await?;
    let stranger = app.signed_in_user().await?;
    let bad = app
        .post_json(
            "/realtime/custom-scenario",
            &json!({"persona": "", "voice_type": "x y", "temperature": 5}),
            Some(&owner),
        )
        .await?;
    let body = expect_error(bad, 422).await?;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["persona", "prompt", "voice_type", "temperature"]);

    let created = expect_json(
        app.post_json("/api/v1/scenarios", &scenario(1), Some(&owner))
            .await?,
        201,
    )
    .await?;
    let scenario_id = created["scenario_id"].as_str().unwrap_or_default();
    expect_error(
        app.get(&format!("/api/v1/scenarios/{scenario_id}"), Some(&stranger))
            .await?,
        404,
    )
    .await?;
    let put = app
        .request(Method::PUT, &format!("/custom-scenarios/{scenario_id}"))
        .bearer_auth(&stranger)
        .json(&scenario(2))
        .send()
        .await?;
    expect_error(put, 404).await?;
    let delete = app
        .request(Method::DELETE, &format!("/custom-scenarios/{scenario_id}"))
        .bearer_auth(&stranger)
        .send()
        .await?;
    expect_error(delete, 404).await?;
    let theirs = expect_json(app.get("/custom-scenarios", Some(&stranger)).await?, 200).await?;
    assert_eq!(theirs, json!([]));
    let builtin = expect_json(
        app.get("/api/v1/scenarios/builtin", Some(&stranger))
            .await?,
        200,
    )
    .await?;
    let names: Vec<&str> = builtin
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["sales", "support", "appointment"]);
    Ok(())
}
