//! `GET /health` and `GET /health/ready`.

use switchboard_testkit::{TestApp, TestDatabaseKind};

use crate::support::expect_json;

#[tokio::test]
async fn health_reports_database_and_providers_with_seed_fields() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let body = expect_json(app.get("/health", None).await?, 200).await?;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["app_title"], "Switchboard");
    assert!(body["app_version"].is_string());
    assert_eq!(body["version"], body["app_version"]);
    assert_eq!(body["database"]["status"], "ok");
    let backend = match app.database_kind {
        TestDatabaseKind::Sqlite => "sqlite",
        TestDatabaseKind::Postgres => "postgresql",
    };
    assert_eq!(body["database"]["backend"], backend);
    for provider in [
        "openai",
        "deepgram",
        "elevenlabs",
        "twilio",
        "google_calendar",
        "pinecone",
        "vapi",
        "redis",
    ] {
        assert_eq!(
            body["providers"][provider]["status"], "not_configured",
            "{provider}"
        );
    }
    assert_eq!(body["providers"]["openai"]["setting"], "OPENAI_API_KEY");
    assert_eq!(body["llm_service_status"], "not_configured");
    assert!(
        body["llm_service_details"]
            .as_str()
            .is_some_and(|d| d.contains("OPENAI_API_KEY"))
    );
    expect_json(app.get("/health/ready", None).await?, 200).await?;
    Ok(())
}

#[tokio::test]
async fn configured_providers_show_and_keys_do_not() -> anyhow::Result<()> {
    let app = TestApp::builder()
        .env("OPENAI_API_KEY", "sk-test-very-secret")
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        .env("DEEPGRAM_API_KEY", "dg-very-secret")
        .spawn()
        .await?;
    let response = app.get("/health", None).await?;
    let text = response.text().await?;
    assert!(!text.contains("very-secret"), "{text}");
    let body: serde_json::Value = serde_json::from_str(&text)?;
    assert_eq!(body["providers"]["openai"]["status"], "configured");
    assert_eq!(body["providers"]["deepgram"]["status"], "configured");
    assert_eq!(body["providers"]["elevenlabs"]["status"], "not_configured");
    assert_eq!(body["llm_service_status"], "ok");
    Ok(())
}
