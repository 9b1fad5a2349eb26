//! Malformed input of every kind gets the uniform error body with the right status, never a 500.

use reqwest::Method;
use serde_json::json;
use switchboard_testkit::TestApp;

use crate::support::{expect_error, expect_json};

#[tokio::test]
async fn malformed_bodies() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let post = |body: &'static str, content_type: &'static str| {
        app.request(Method::POST, "/auth/login")
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    expect_error(post("{not json", "application/json").await?, 400).await?;
    expect_error(post("", "application/json").await?, 400).await?;
    expect_error(
        post(r#"{"email": 5, "password": []}"#, "application/json").await?,
        422,
    )
    .await?;
    expect_error(
        post(r#"{"email": "a@b.co"}"#, "application/json").await?,
        422,
    )
    .await?;
    expect_error(post("[]", "application/json").await?, 422).await?;
    expect_error(
        post("email=a&password=b", "application/x-www-form-urlencoded").await?,
        415,
    )
    .await?;
    expect_error(
        post(r#"{"email":"a@b.co","password":"x"}"#, "text/plain").await?,
        415,
    )
    .await?;
    let no_type = app
        .request(Method::POST, "/auth/login")
        .body(r#"{"email":"a@b.co","password":"x"}"#)
        .send()
        .await?;
    expect_error(no_type, 415).await?;
    Ok(())
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() -> anyhow::Result<()> {
    let app = TestApp::builder()
        .env("MAX_BODY_BYTES", "2048")
        .spawn()
        .await?;
    let big = json!({"email": "a@b.co", "password": "x".repeat(4096)});
    let body = expect_error(app.post_json("/auth/login", &big, None).await?, 413).await?;
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("2048")),
        "{body}"
    );
    // Without a Content-Length the limit holds too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(br#"{"email":"a@b.co","password":""#.to_vec()),
        Ok(vec![b'x'; 4096]),
        Ok(br#""}"#.to_vec()),
    ];
    let streamed = app
        .request(Method::POST, "/auth/login")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await?;
    expect_error(streamed, 413).await?;
    Ok(())
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let body = expect_error(app.get("/no/such/route", None).await?, 404).await?;
    assert_eq!(body["detail"], "no route for GET /no/such/route");
    expect_error(app.get("/api/v1/auth/nothing", None).await?, 404).await?;

    let wrong = app.get("/auth/login", None).await?;
    assert_eq!(
        wrong.headers().get("allow").map(|v| v.as_bytes()),
        Some(&b"POST"[..])
    );
    expect_error(wrong, 405).await?;
    let wrong = app.request(Method::DELETE, "/health").send().await?;
    assert_eq!(
        wrong.headers().get("allow").map(|v| v.as_bytes()),
        Some(&b"GET"[..])
    );
    expect_error(wrong, 405).await?;
    Ok(())
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let echoed = app
        .request(Method::GET, "/health")
        .header("x-request-id", "trace-me-123")
        .send()
        .await?;
    assert_eq!(
        echoed.headers().get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"trace-me-123"[..])
    );
    let generated = app.get("/health", None).await?;
    let id = generated
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id:?}");
    // Errors carry one as well.
    let error = app.get("/nowhere", None).await?;
    assert!(error.headers().contains_key("x-request-id"));
    Ok(())
}

#[tokio::test]
async fn cors_allows_configured_origins_only() -> anyhow::Result<()> {
    let app = TestApp::builder()
        .env("FRONTEND_URL", "http://localhost:5173")
        .env("CORS_ORIGINS", "https://app.example.com")
        .spawn()
        .await?;
    for origin in ["http://localhost:5173", "https://app.example.com"] {
        let preflight = app
            .request(Method::OPTIONS, "/auth/login")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await?;
        assert!(
            preflight.status().is_success(),
            "{origin}: {}",
            preflight.status()
        );
        assert_eq!(
            preflight
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.as_bytes()),
            Some(origin.as_bytes())
        );
    }
    let foreign = app
        .request(Method::GET, "/health")
        .header("origin", "https://evil.example")
        .send()
        .await?;
    assert!(
        !foreign
            .headers()
            .contains_key("access-control-allow-origin")
    );
    Ok(())
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    expect_json(app.get("/health", None).await?, 200).await?;
    expect_error(app.get("/users/me", None).await?, 401).await?;
    let metrics = app.get("/metrics", None).await?;
    assert!(
        metrics
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"))
    );
    let text = metrics.text().await?;
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/health",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"http_request_errors_total{class="client",method="GET",route="/users/me"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\""));
    Ok(())
}
