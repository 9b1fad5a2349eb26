//! Accounts, sessions and tokens, through every canonical route and seed alias.

use chrono::Duration;
use serde_json::{Value, json};
use switchboard_testkit::TestApp;

use crate::support::{email, expect_error, expect_json};

const PASSWORD: &str = "correct horse battery";

fn str_field<'a>(body: &'a Value, field: &str) -> anyhow::Result<&'a str> {
    body[field]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no string {field:?} in {body}"))
}

fn assert_auth_union(body: &Value, email: &str) -> anyhow::Result<()> {
    // Seed 000: token, user, session_id. Seed 003: id, email, is_active, access_token,
    // refresh_token, token_type.
    assert_eq!(body["email"], email);
    assert_eq!(body["is_active"], true);
    assert_eq!(body["is_admin"], false);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["user"]["email"], email);
    assert_eq!(body["user"]["id"], body["id"]);
    assert!(body["expires_in"].as_i64().is_some_and(|s| s > 0));
    for field in ["id", "access_token", "refresh_token", "session_id"] {
        assert!(!str_field(body, field)?.is_empty(), "{field} empty");
    }
    Ok(())
}

#[tokio::test]
async fn every_registration_route_creates_a_signed_in_user() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/signup",
        "/auth/register",
        "/auth/signup",
    ] {
        let email = email();
        let response = app
            .post_json(
                path,
                &json!({"email": email, "password": PASSWORD, "name": "Ada", "company": "Engines"}),
                None,
            )
            .await?;
        let body = expect_json(response, 201).await?;
        assert_auth_union(&body, &email)?;
        assert_eq!(body["user"]["full_name"], "Ada");

        let token = str_field(&body, "access_token")?;
        for me in [
            "/auth/me",
            "/users/me",
            "/api/v1/auth/me",
            "/api/v1/users/me",
        ] {
            let user = expect_json(app.get(me, Some(token)).await?, 200).await?;
            assert_eq!(user["email"], email, "{me}");
            assert_eq!(user["id"], body["id"], "{me}");
            assert_eq!(user["is_active"], true);
            assert_eq!(user["is_admin"], false);
            assert_eq!(user["organization"]["name"], "Engines");
            assert_eq!(user["organization"]["id"], user["organization_id"]);
        }
    }
    Ok(())
}

#[tokio::test]
async fn each_user_gets_an_organisation_of_their_own() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let a = app.signed_in_user().await?;
    let b = app.signed_in_user().await?;
    let a = expect_json(app.get("/users/me", Some(&a)).await?, 200).await?;
    let b = expect_json(app.get("/users/me", Some(&b)).await?, 200).await?;
    assert_ne!(a["organization_id"], b["organization_id"]);
    assert!(
        str_field(&a["organization"], "name")?.ends_with("'s organisation"),
        "{a}"
    );
    Ok(())
}

#[tokio::test]
async fn a_duplicate_email_conflicts_whatever_its_case() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let email = email();
    app.register(&email, PASSWORD).await?;
    let response = app
        .post_json(
            "/auth/signup",
            &json!({"email": email.to_uppercase(), "password": PASSWORD}),
            None,
        )
        .await?;
    expect_error(response, 409).await?;
    Ok(())
}

#[tokio::test]
async fn invalid_registrations_name_every_bad_field() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let response = app
        .post_json(
            "/auth/register",
            &json!({"email": "not-an-email", "password": "short"}),
            None,
        )
        .await?;
    let body = expect_error(response, 422).await?;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["email", "password"]);
    let detail = str_field(&body, "detail")?;
    assert!(
        detail.contains("email") && detail.contains("8 characters"),
        "{detail}"
    );

    let missing = app
        .post_json("/auth/register", &json!({"email": email()}), None)
        .await?;
    let body = expect_error(missing, 422).await?;
    assert!(str_field(&body, "detail")?.contains("password"), "{body}");
    Ok(())
}

#[tokio::test]
async fn login_answers_with_the_union_of_seed_fields() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let email = email();
    app.register(&email, PASSWORD).await?;
    for path in ["/auth/login", "/api/v1/auth/login"] {
        let response = app
            .post_json(
                path,
                &json!({"email": email.to_uppercase(), "password": PASSWORD}),
                None,
            )
            .await?;
        let body = expect_json(response, 200).await?;
        assert_auth_union(&body, &email)?;
        let token = str_field(&body, "token")?;
        expect_json(app.get("/auth/me", Some(token)).await?, 200).await?;
    }
    Ok(())
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let email = email();
    app.register(&email, PASSWORD).await?;
    let wrong_password = app
        .post_json(
            "/auth/login",
            &json!({"email": email, "password": "not the password"}),
            None,
        )
        .await?;
    let wrong_password = expect_error(wrong_password, 401).await?;
    let unknown = app
        .post_json(
            "/auth/login",
            &json!({"email": "nobody@example.com", "password": "not the password"}),
            None,
        )
        .await?;
    let unknown = expect_error(unknown, 401).await?;
    let malformed = app
        .post_json(
            "/auth/login",
            &json!({"email": "not an email", "password": "x"}),
            None,
        )
        .await?;
    let malformed = expect_error(malformed, 401).await?;
    assert_eq!(wrong_password, unknown);
    assert_eq!(wrong_password, malformed);
    Ok(())
}

#[tokio::test]
async fn protected_routes_refuse_missing_malformed_and_tampered_tokens() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;

    let missing = app.get("/users/me", None).await?;
    assert_eq!(
        missing
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    expect_error(missing, 401).await?;

    let basic = app
        .request(reqwest::Method::GET, "/users/me")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await?;
    expect_error(basic, 401).await?;
    expect_error(app.get("/users/me", Some("garbage")).await?, 401).await?;

    // Flip one character of the signature, then one of the claims.
    let mut chars: Vec<char> = token.chars().collect();
    let last = chars.len() - 2;
    chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
    let bad_signature: String = chars.into_iter().collect();
    expect_error(app.get("/users/me", Some(&bad_signature)).await?, 401).await?;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims: Vec<char> = parts[1].chars().collect();
    claims[5] = if claims[5] == 'x' { 'y' } else { 'x' };
    parts[1] = claims.into_iter().collect();
    expect_error(app.get("/users/me", Some(&parts.join("."))).await?, 401).await?;

    // A token signed with another key.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"iss": "switchboard", "sub": uuid::Uuid::new_v4(), "exp": 4_000_000_000_i64}),
        &jsonwebtoken::EncodingKey::from_secret(b"another key"),
    )?;
    expect_error(app.get("/users/me", Some(&forged)).await?, 401).await?;
    Ok(())
}

#[tokio::test]
async fn access_tokens_expire() -> anyhow::Result<()> {
    let app = TestApp::builder().with_manual_clock().spawn().await?;
    let token = app.signed_in_user().await?;
    expect_json(app.get("/users/me", Some(&token)).await?, 200).await?;
    app.clock().advance(Duration::minutes(14));
    expect_json(app.get("/users/me", Some(&token)).await?, 200).await?;
    app.clock().advance(Duration::minutes(2));
    let body = expect_error(app.get("/users/me", Some(&token)).await?, 401).await?;
    assert!(str_field(&body, "detail")?.contains("expired"), "{body}");
    Ok(())
}

async fn refresh(app: &TestApp, token: &str) -> anyhow::Result<reqwest::Response> {
    Ok(app
        .post_json("/auth/refresh", &json!({"refresh_token": token}), None)
        .await?)
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_session() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let email = email();
    let first = app.register(&email, PASSWORD).await?;
    let first_refresh = str_field(&first, "refresh_token")?;

    let second = expect_json(refresh(&app, first_refresh).await?, 200).await?;
    assert_auth_union(&second, &email)?;
    assert_eq!(second["session_id"], first["session_id"]);
    let second_refresh = str_field(&second, "refresh_token")?;
    assert_ne!(second_refresh, first_refresh);
    let second_access = str_field(&second, "access_token")?;
    expect_json(app.get("/users/me", Some(second_access)).await?, 200).await?;

    // The used token is refused, and presenting it revokes the whole session: the newest refresh
    // token and the access tokens stop working too.
    let reuse = expect_error(refresh(&app, first_refresh).await?, 401).await?;
    assert!(
        str_field(&reuse, "detail")?.contains("already used"),
        "{reuse}"
    );
    expect_error(refresh(&app, second_refresh).await?, 401).await?;
    expect_error(app.get("/users/me", Some(second_access)).await?, 401).await?;

    // Another login opens a new, working session.
    let login = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": PASSWORD}),
            None,
        )
        .await?;
    let login = expect_json(login, 200).await?;
    assert_ne!(login["session_id"], first["session_id"]);
    expect_json(
        refresh(&app, str_field(&login, "refresh_token")?).await?,
        200,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_let_exactly_one_through() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let registered = app.register(&email(), PASSWORD).await?;
    let token = str_field(&registered, "refresh_token")?.to_owned();
    let attempts = (0..6).map(|_| refresh(&app, &token));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.map(|r| r.status().as_u16()))
        .collect::<Result<_, _>>()?;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
    // The exchange is a compare-and-set: exactly one of them rotates the token.
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    Ok(())
}

#[tokio::test]
async fn refresh_tokens_expire() -> anyhow::Result<()> {
    let app = TestApp::builder()
        .with_manual_clock()
        .env("REFRESH_TOKEN_TTL_SECS", "3600")
        .spawn()
        .await?;
    let registered = app.register(&email(), PASSWORD).await?;
    app.clock().advance(Duration::minutes(61));
    let body = expect_error(
        refresh(&app, str_field(&registered, "refresh_token")?).await?,
        401,
    )
    .await?;
    assert!(str_field(&body, "detail")?.contains("expired"), "{body}");
    Ok(())
}

#[tokio::test]
async fn unknown_and_empty_refresh_tokens_are_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    expect_error(refresh(&app, "sbr_nonsense").await?, 401).await?;
    expect_error(refresh(&app, "").await?, 401).await?;
    let missing = app.post_json("/auth/refresh", &json!({}), None).await?;
    expect_error(missing, 422).await?;
    Ok(())
}

#[tokio::test]
async fn logout_revokes_the_session() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let email = email();
    let registered = app.register(&email, PASSWORD).await?;
    let access = str_field(&registered, "access_token")?;
    let refresh_token = str_field(&registered, "refresh_token")?;
    let other = app
        .post_json(
            "/auth/login",
            &json!({"email": email, "password": PASSWORD}),
            None,
        )
        .await?;
    let other = expect_json(other, 200).await?;

    for path in ["/auth/logout", "/api/v1/auth/logout"] {
        let unauthenticated = app.post_json(path, &json!({}), None).await?;
        expect_error(unauthenticated, 401).await?;
    }
    let response = app
        .post_json("/auth/logout", &json!({}), Some(access))
        .await?;
    expect_json(response, 200).await?;
    expect_error(app.get("/auth/me", Some(access)).await?, 401).await?;
    expect_error(refresh(&app, refresh_token).await?, 401).await?;
    // Logging out of one session leaves the user's other sessions alone.
    expect_json(
        app.get("/auth/me", Some(str_field(&other, "access_token")?))
            .await?,
        200,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn credential_routes_are_rate_limited_per_address() -> anyhow::Result<()> {
    let app = TestApp::builder()
        .with_manual_clock()
        .env("RATE_LIMIT_AUTH_PER_MIN", "5")
        .spawn()
        .await?;
    // The sign-up is the first of five attempts the address may make this minute.
    let token = app.signed_in_user().await?;
    let wrong = json!({"email": "nobody@example.com", "password": "whatever1"});
    let attempt = || app.post_json("/auth/login", &wrong, None);
    for _ in 0..4 {
        expect_error(attempt().await?, 401).await?;
    }
    let limited = attempt().await?;
    let retry_after: u64 = limited
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no Retry-After"))?;
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    expect_error(limited, 429).await?;
    // Sign-up and refresh count against the same quota; reading one's profile does not.
    let signup = app
        .post_json(
            "/auth/signup",
            &json!({"email": email(), "password": PASSWORD}),
            None,
        )
        .await?;
    expect_error(signup, 429).await?;
    expect_error(refresh(&app, "sbr_x").await?, 429).await?;
    expect_json(app.get("/users/me", Some(&token)).await?, 200).await?;

    app.clock().advance(Duration::seconds(61));
    expect_error(attempt().await?, 401).await?;
    Ok(())
}
