//! No input produces a 500: every documented route gets hostile bodies, paths and headers.

use reqwest::Method;
use serde_json::Value;
use switchboard_testkit::TestApp;

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next() & 0xFF) as u8).collect()
    }
}

fn hostile_bodies(rng: &mut Lcg) -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = [
        "",
        "null",
        "[]",
        "{}",
        "\"string\"",
        "1e999999",
        "{\"email\": null, \"password\": null}",
        "{\"email\": \"a@b.co\", \"password\": \"12345678\", \"email\": \"dup@b.co\"}",
        "{\"email\": \"\\ud800@x.com\", \"password\": \"\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\"}",
        "{\"refresh_token\": 18446744073709551616}",
        "{\"email\": [\"a\"], \"password\": {\"nested\": true}}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    bodies.push(format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes());
    bodies.push(
        format!(
            "{{\"email\": \"{}@example.com\", \"password\": \"{}\"}}",
            "a".repeat(100_000),
            "p".repeat(100_000)
        )
        .into_bytes(),
    );
    bodies.push(vec![0xFF, 0xFE, b'{', 0x80, b'}']);
    for len in [1, 16, 300, 4096] {
        bodies.push(rng.bytes(len));
    }
    bodies
}

fn hostile_tokens() -> Vec<String> {
    vec![
        String::new(),
        "null".into(),
        "a.b.c".into(),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".into(),
        "x".repeat(8000),
        "ünïcödé".into(),
    ]
}

/// A 503 naming the setting a provider needs is the documented answer for a provider that is
/// not configured, not a server error.
fn is_unconfigured(status: u16, body: &str) -> bool {
    status == 503
        && body.contains("set ")
        && (body.contains("_API_KEY") || body.contains("TWILIO_"))
}

#[tokio::test]
async fn no_input_produces_a_server_error() -> anyhow::Result<()> {
    let app = TestApp::builder()
        .env("MAX_BODY_BYTES", "65536")
        .env("TWILIO_AUTH_TOKEN", "a-token-so-webhooks-are-checked")
        .env("VAPI_SECRET", "a-secret-so-webhooks-are-checked")
        .spawn()
        .await?;
    let doc: Value = app.get("/openapi.json", None).await?.json().await?;
    let token = app.signed_in_user().await?;
    let mut rng = Lcg(0x5EED);
    let bodies = hostile_bodies(&mut rng);
    let mut checked = 0;
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (path, item) in &paths {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_none() {
                continue;
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes())?;
            // Path parameters get malformed and foreign values.
            let concrete: Vec<String> = [
                "not-an-id",
                "00000000-0000-0000-0000-000000000000",
                "%FF%FE",
                "..%2F..%2Fetc",
            ]
            .iter()
            .map(|v| {
                path.split('/')
                    .map(|s| if s.starts_with('{') { *v } else { s })
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect();
            for target in concrete.iter().take(if path.contains('{') { 4 } else { 1 }) {
                for body in &bodies {
                    for auth in [None, Some(token.as_str())] {
                        let mut request = app
                            .request(method.clone(), target)
                            .header("content-type", "application/json")
                            .body(body.clone());
                        if let Some(auth) = auth {
                            request = request.bearer_auth(auth);
                        }
                        let response = request.send().await?;
                        let status = response.status();
                        let detail = response.text().await?;
                        assert!(
                            status.as_u16() < 500 || is_unconfigured(status.as_u16(), &detail),
                            "{method} {target} answered {status} {detail:.200} to {:?}",
                            String::from_utf8_lossy(&body[..body.len().min(80)])
                        );
                        checked += 1;
                    }
                }
                for bad in hostile_tokens() {
                    let status = app
                        .request(method.clone(), target)
                        .header("authorization", format!("Bearer {bad}"))
                        .send()
                        .await?
                        .status();
                    assert!(
                        status.as_u16() < 500,
                        "{method} {target} with token {bad:.20} answered {status}"
                    );
                    checked += 1;
                }
            }
        }
    }
    // Query strings and odd headers on a route that reads neither.
    for query in [
        "?page=-1",
        "?page=%FF",
        "?a[]=1&a[]=2",
        &format!("?x={}", "y".repeat(10_000)),
    ] {
        let status = app.get(&format!("/health{query}"), None).await?.status();
        assert!(status.as_u16() < 500, "/health{query} answered {status}");
    }
    assert!(checked > 500, "only {checked} requests were checked");
    Ok(())
}
