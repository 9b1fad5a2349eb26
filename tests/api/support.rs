//! Assertions shared by the black-box tests.

use reqwest::{Response, StatusCode};
use serde_json::Value;

/// Asserts `response` has `status` and the uniform error body, and returns that body.
pub async fn expect_error(response: Response, status: u16) -> anyhow::Result<Value> {
    let actual = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await?;
    anyhow::ensure!(
        actual == StatusCode::from_u16(status)?,
        "expected {status}, got {actual}: {text}"
    );
    anyhow::ensure!(
        content_type.starts_with("application/json"),
        "error with content type {content_type:?}: {text}"
    );
    let body: Value = serde_json::from_str(&text)?;
    anyhow::ensure!(
        body["status_code"] == status,
        "status_code does not repeat the status: {body}"
    );
    anyhow::ensure!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "no detail: {body}"
    );
    Ok(body)
}

/// Asserts `response` has `status` and returns its JSON body.
pub async fn expect_json(response: Response, status: u16) -> anyhow::Result<Value> {
    let actual = response.status();
    let text = response.text().await?;
    anyhow::ensure!(
        actual == StatusCode::from_u16(status)?,
        "expected {status}, got {actual}: {text}"
    );
    Ok(serde_json::from_str(&text)?)
}

/// A unique e-mail address.
pub fn email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// GETs `path` as `token` every 20 ms until `done` holds for the JSON answer, and returns it;
/// an error naming `what` with the last answer once `within` has passed.
pub async fn get_until(
    app: &switchboard_testkit::TestApp,
    path: &str,
    token: &str,
    within: std::time::Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let body = expect_json(app.get(path, Some(token)).await?, 200).await?;
        if done(&body) {
            return Ok(body);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
