//! Authentication costs: token signing and checking, the rate limiter, and login through the real
//! service on SQLite. `login/unknown_email` against `login/wrong_password` shows that an unknown
//! account cannot be told from a wrong password by timing (docs/performance.md).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use switchboard::rate_limit::InMemoryRateLimiter;
use switchboard::security::{Argon2Hasher, JwtTokens};
use switchboard::settings::Secret;
use switchboard_domain::auth::{AuthService, ClientInfo, RegisterInput, TokenPolicy};
use switchboard_domain::ids::{OrganizationId, SessionId, UserId};
use switchboard_domain::ports::{AccessClaims, AccessTokens, Quota, RateLimiter, SystemClock};
use switchboard_storage::testing::TestDatabase;
use switchboard_storage::{SeaOrmAccounts, SeaOrmSessions};

fn tokens(c: &mut Criterion) {
    let tokens = JwtTokens::new(&Secret::new("k".repeat(32)));
    let now = Utc::now();
    let claims = AccessClaims {
        user_id: UserId::new(),
        organization_id: OrganizationId::new(),
        session_id: SessionId::new(),
        is_admin: false,
        issued_at: now,
        expires_at: now + Duration::minutes(15),
    };
    let token = tokens.issue(&claims).unwrap();
    c.bench_function("access_token/issue", |b| {
        b.iter(|| tokens.issue(&claims).unwrap())
    });
    c.bench_function("access_token/decode", |b| {
        b.iter(|| tokens.decode(&token).unwrap())
    });
}

fn rate_limiter(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let limiter = InMemoryRateLimiter::new(Arc::new(SystemClock));
    let quota = Quota::per_minute(u32::MAX);
    c.bench_function("rate_limiter/hit", |b| {
        b.to_async(&runtime)
            .iter(|| limiter.hit("auth:127.0.0.1", quota));
    });
}

fn login(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (auth, _db) = runtime.block_on(async {
        let db = TestDatabase::sqlite().await.unwrap();
        let auth = AuthService::new(
            Arc::new(SeaOrmAccounts::new(db.database().clone())),
            Arc::new(SeaOrmSessions::new(db.database().clone())),
            Arc::new(Argon2Hasher::new().unwrap()),
            Arc::new(JwtTokens::new(&Secret::new("k".repeat(32)))),
            Arc::new(SystemClock),
            TokenPolicy {
                access_ttl: Duration::minutes(15),
                refresh_ttl: Duration::days(30),
            },
        );
        let input =
            RegisterInput::parse("bench@example.com", "correct horse battery", None, None).unwrap();
        auth.register(input, ClientInfo::default()).await.unwrap();
        (auth, db)
    });
    let mut group = c.benchmark_group("login");
    group.sample_size(30);
    group.bench_function("unknown_email", |b| {
        b.to_async(&runtime).iter(|| async {
            let result = auth
                .login(
                    "nobody@example.com",
                    "wrong password",
                    ClientInfo::default(),
                )
                .await;
            assert!(result.is_err());
        });
    });
    group.bench_function("wrong_password", |b| {
        b.to_async(&runtime).iter(|| async {
            let result = auth
                .login("bench@example.com", "wrong password", ClientInfo::default())
                .await;
            assert!(result.is_err());
        });
    });
    group.bench_function("success", |b| {
        b.to_async(&runtime).iter(|| async {
            auth.login(
                "bench@example.com",
                "correct horse battery",
                ClientInfo::default(),
            )
            .await
            .unwrap();
        });
    });
    group.finish();
}

criterion_group!(benches, tokens, rate_limiter, login);
criterion_main!(benches);
