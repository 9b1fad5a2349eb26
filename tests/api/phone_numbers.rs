//! Phone numbers through `/api/v1/phone-numbers` and seed 001's `/api/phone-numbers`.

use reqwest::Method;
use serde_json::{Value, json};
use switchboard_testkit::TestApp;

use crate::support::{expect_error, expect_json};

async fn agent(app: &TestApp, token: &str, name: &str) -> anyhow::Result<String> {
    let body = expect_json(
        app.post_json("/api/v1/agents", &json!({"name": name}), Some(token))
            .await?,
        201,
    )
    .await?;
    Ok(body["id"].as_str().unwrap_or_default().to_owned())
}

async fn put(
    app: &TestApp,
    path: &str,
    body: &Value,
    token: &str,
) -> anyhow::Result<reqwest::Response> {
    Ok(app
        .request(Method::PUT, path)
        .bearer_auth(token)
        .json(body)
        .send()
        .await?)
}

#[tokio::test]
async fn numbers_are_normalised_assigned_and_unassigned() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let ava = agent(&app, &token, "Ava").await?;
    for prefix in ["/api/v1/phone-numbers", "/api/phone-numbers"] {
        let digits = if prefix.contains("v1") {
            "+1 (415) 555-0100"
        } else {
            "+1 415 555 0101"
        };
        let created = app
            .post_json(
                prefix,
                &json!({"number": digits, "label": "Front desk"}),
                Some(&token),
            )
            .await?;
        let number = expect_json(created, 201).await?;
        assert!(
            number["number"]
                .as_str()
                .is_some_and(|n| n.starts_with("+1415555010")),
            "{number}"
        );
        assert_eq!(number["phone_number"], number["number"]);
        assert_eq!(number["status"], "unassigned");
        assert_eq!(number["calls_received"], 0);
        let path = format!("{prefix}/{}", number["id"].as_str().unwrap_or_default());

        let assigned = expect_json(
            put(&app, &path, &json!({"assigned_agent_id": ava}), &token).await?,
            200,
        )
        .await?;
        assert_eq!(assigned["assigned_agent_id"], ava.as_str());
        assert_eq!(assigned["status"], "active");
        let inactive = expect_json(
            put(&app, &path, &json!({"status": "inactive"}), &token).await?,
            200,
        )
        .await?;
        assert_eq!(inactive["status"], "inactive");
        assert_eq!(inactive["label"], "Front desk");
        let unassigned = expect_json(
            put(&app, &path, &json!({"assigned_agent_id": null}), &token).await?,
            200,
        )
        .await?;
        assert_eq!(unassigned["assigned_agent_id"], Value::Null);
        assert_eq!(unassigned["status"], "unassigned");
        expect_json(app.get(&path, Some(&token)).await?, 200).await?;
    }
    let listed = expect_json(app.get("/api/phone-numbers", Some(&token)).await?, 200).await?;
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    let page = expect_json(
        app.get("/api/v1/phone-numbers?page_size=1", Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[tokio::test]
async fn bad_numbers_duplicates_and_foreign_agents_are_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let stranger = app.signed_in_user().await?;
    let foreign_agent = agent(&app, &stranger, "Theirs").await?;
    for bad in ["4155550123", "+0123456789", "+1-800-FLOWERS", ""] {
        let response = app
            .post_json(
                "/api/v1/phone-numbers",
                &json!({"number": bad}),
                Some(&token),
            )
            .await?;
        let body = expect_error(response, 422).await?;
        assert_eq!(body["errors"][0]["field"], "number", "{bad}");
    }
    let missing = app
        .post_json("/api/v1/phone-numbers", &json!({}), Some(&token))
        .await?;
    expect_error(missing, 422).await?;
    let foreign = app
        .post_json(
            "/api/v1/phone-numbers",
            &json!({"number": "+14155550199", "assigned_agent_id": foreign_agent}),
            Some(&token),
        )
        .await?;
    let body = expect_error(foreign, 422).await?;
    assert_eq!(body["errors"][0]["field"], "assigned_agent_id");
    let wrong_status = app
        .post_json(
            "/api/v1/phone-numbers",
            &json!({"number": "+14155550199", "status": "active"}),
            Some(&token),
        )
        .await?;
    expect_error(wrong_status, 422).await?;

    let mine = expect_json(
        app.post_json(
            "/api/v1/phone-numbers",
            &json!({"number": "+14155550199"}),
            Some(&token),
        )
        .await?,
        201,
    )
    .await?;
    // Unique across the deployment: another organisation cannot take it either.
    let taken = app
        .post_json(
            "/api/phone-numbers",
            &json!({"number": "+1 415 555 0199"}),
            Some(&stranger),
        )
        .await?;
    expect_error(taken, 409).await?;
    // Invisible and untouchable for the other organisation.
    let path = format!(
        "/api/v1/phone-numbers/{}",
        mine["id"].as_str().unwrap_or_default()
    );
    expect_error(app.get(&path, Some(&stranger)).await?, 404).await?;
    expect_error(
        put(&app, &path, &json!({"label": "x"}), &stranger).await?,
        404,
    )
    .await?;
    let delete = app
        .request(Method::DELETE, &path)
        .bearer_auth(&stranger)
        .send()
        .await?;
    expect_error(delete, 404).await?;
    let theirs = expect_json(
        app.get("/api/v1/phone-numbers", Some(&stranger)).await?,
        200,
    )
    .await?;
    assert_eq!(theirs["total"], 0);
    Ok(())
}

#[tokio::test]
async fn deleting_an_agent_unassigns_its_numbers() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let ava = agent(&app, &token, "Ava").await?;
    let number = app
        .post_json(
            "/api/v1/phone-numbers",
            &json!({"number": "+442079460958", "agent_id": ava}),
            Some(&token),
        )
        .await?;
    let number = expect_json(number, 201).await?;
    assert_eq!(number["status"], "active");
    let delete = app
        .request(Method::DELETE, &format!("/api/v1/agents/{ava}"))
        .bearer_auth(&token)
        .send()
        .await?;
    expect_json(delete, 200).await?;
    let path = format!(
        "/api/v1/phone-numbers/{}",
        number["id"].as_str().unwrap_or_default()
    );
    let after = expect_json(app.get(&path, Some(&token)).await?, 200).await?;
    assert_eq!(after["assigned_agent_id"], Value::Null);
    assert_eq!(after["status"], "unassigned");
    let reassign = put(&app, &path, &json!({"assigned_agent_id": ava}), &token).await?;
    expect_error(reassign, 422).await?;
    Ok(())
}
