//! Analytics and call search over a million calls on PostgreSQL (docs/performance.md).
//!
//! `cargo bench --bench analytics_load` (part of `make bench`) seeds 1,000,000 calls of one
//! organisation over the last 365 days into the database `switchboard_bench` (created when
//! missing and kept: a later run finds the calls and does not seed again), with an analysis for
//! every ended call and a two-line transcript for a fifth of them. It then times, through the
//! real HTTP server, the dashboard over 7, 30 and 90 days and a filtered, searched call list,
//! and prints the median and 90th percentile of repeated requests, and the plans PostgreSQL
//! chose. Run as a test (`cargo test`), it does nothing: seeding takes minutes.

#![expect(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use switchboard::{Application, Overrides, Settings};
use switchboard_domain::conversation::ConversationState;
use switchboard_storage::Database;
use switchboard_storage::testing::{execute, kept_postgres_database, query_text};

const DATABASE: &str = "switchboard_bench";
const CALLS: i64 = 1_000_000;
const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench password 1234";
const REPEATS: usize = 30;

fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        println!("analytics_load: seeding a million calls is for `cargo bench`; skipped");
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let Some(url) = kept_postgres_database(DATABASE).await? else {
        return Ok(());
    };
    let data_dir = tempfile::tempdir()?;
    let env = BTreeMap::from([
        ("HOST".to_owned(), "127.0.0.1".to_owned()),
        ("PORT".to_owned(), "0".to_owned()),
        ("HTTP_WORKERS".to_owned(), "2".to_owned()),
        ("DATA_DIR".to_owned(), data_dir.path().display().to_string()),
        ("DATABASE_URL".to_owned(), url.clone()),
        (
            "SECRET_KEY".to_owned(),
            "analytics-bench-secret-key-0123456789abcdef".to_owned(),
        ),
        ("RATE_LIMIT_AUTH_PER_MIN".to_owned(), "0".to_owned()),
        ("RUST_LOG".to_owned(), "warn".to_owned()),
        // The seeded analyses are complete; nothing is left for the worker.
        ("SCHEDULER_POLL_MS".to_owned(), "60000".to_owned()),
    ]);
    let application = Application::build(Settings::from_map(&env)?, Overrides::default()).await?;
    let base = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    let client = reqwest::Client::builder().no_proxy().build()?;

    let token = sign_in(&client, &base).await?;
    let me: Value = client
        .get(format!("{base}/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let organization = me["organization_id"]
        .as_str()
        .context("no organisation id")?
        .parse::<uuid::Uuid>()?;
    let database = Database::connect(&url).await?;
    let agent = seed(&database, &client, &base, &token, organization).await?;

    let list = format!(
        "/api/v1/calls?search=refund&status=completed&sentiment=negative&date_from={}&page_size=20",
        (chrono::Utc::now() - chrono::Duration::days(90)).format("%Y-%m-%d")
    );
    let targets = [
        (
            "dashboard, 7 days",
            "/api/v1/analytics/dashboard?days=7".to_owned(),
        ),
        (
            "dashboard, 30 days",
            "/api/v1/analytics/dashboard?days=30".to_owned(),
        ),
        (
            "dashboard, 90 days",
            "/api/v1/analytics/dashboard?days=90".to_owned(),
        ),
        (
            "dashboard, 30 days, one agent",
            format!("/api/v1/analytics/dashboard?days=30&agent_id={agent}"),
        ),
        (
            "metrics with latency, 30 days",
            "/analytics/metrics?time_range=30d".to_owned(),
        ),
        (
            "call list: search + status + sentiment + date",
            list.clone(),
        ),
        (
            "call list: search only",
            "/api/v1/calls?search=refund".to_owned(),
        ),
    ];
    println!("\n| request | median ms | p90 ms | answer |");
    println!("|---|---|---|---|");
    for (name, path) in &targets {
        let (median, p90, summary) = time(&client, &base, &token, path).await?;
        println!("| {name} | {median:.1} | {p90:.1} | {summary} |");
    }
    explain(&database, organization).await?;
    Ok(())
}

async fn sign_in(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let body = json!({"email": EMAIL, "password": PASSWORD});
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&body)
        .send()
        .await?;
    let answer: Value = if login.status().is_success() {
        login.json().await?
    } else {
        client
            .post(format!("{base}/api/v1/auth/register"))
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?
    };
    answer["access_token"]
        .as_str()
        .map(ToOwned::to_owned)
        .context("no access token")
}

/// Seeds the calls unless they are there; the agent a tenth of them belong to.
async fn seed(
    database: &Database,
    client: &reqwest::Client,
    base: &str,
    token: &str,
    organization: uuid::Uuid,
) -> anyhow::Result<uuid::Uuid> {
    let agents: Value = client
        .get(format!("{base}/api/v1/agents"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let agent = match agents["items"][0]["id"].as_str() {
        Some(id) => id.to_owned(),
        None => client
            .post(format!("{base}/api/v1/agents"))
            .bearer_auth(token)
            .json(&json!({"name": "Ava"}))
            .send()
            .await?
            .error_for_status()?
            .json::<Value>()
            .await?["id"]
            .as_str()
            .context("no agent id")?
            .to_owned(),
    };
    let agent: uuid::Uuid = agent.parse()?;
    let count = |sql: String| async move {
        let rows = query_text(database, &sql).await?;
        anyhow::Ok(
            rows.first()
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(0),
        )
    };
    let have = count(format!(
        "SELECT COUNT(*)::text FROM calls WHERE organization_id = '{organization}'"
    ))
    .await?;
    if have >= CALLS {
        println!("analytics_load: {have} calls already seeded in {DATABASE}");
        // A migration may have rewritten the rows since (000015 copied each analysis onto its
        // call); vacuuming marks the pages all-visible again, as a settled database has them,
        // so index-only scans need not visit the rows.
        execute(database, "VACUUM ANALYZE calls").await?;
        return Ok(agent);
    }
    println!("analytics_load: seeding {CALLS} calls into {DATABASE} ...");
    let started = Instant::now();
    let conversation = serde_json::to_string(&ConversationState::default())?;
    // One call every 31.536 s reaches back 365 days; durations 30 s to 10 min.
    let statements = [
        format!("DELETE FROM calls WHERE organization_id = '{organization}'"),
        // Each call carries its analysis's fields (as completing an analysis writes them), drawn
        // from bytes of its id; the analyses copy them.
        format!(
            "INSERT INTO calls (id, organization_id, agent_id, agent_name, channel, direction, \
               status, customer_name, phone_number, started_at, ended_at, end_reason, context, \
               conversation, version, created_at, updated_at, analysis_sentiment, \
               analysis_sentiment_score, analysis_category, analysis_resolution) \
             SELECT g.id, '{organization}', \
               CASE WHEN i % 10 = 0 THEN '{agent}'::uuid END, 'Ava', 'phone', \
               CASE WHEN i % 3 = 0 THEN 'outbound' ELSE 'inbound' END, \
               CASE WHEN i % 10 < 8 THEN 'completed' WHEN i % 10 = 8 THEN 'failed' \
                 ELSE 'no_answer' END, \
               'Customer ' || (i % 50000), '+1415' || lpad((i % 10000000)::text, 7, '0'), \
               now() - i * interval '31.536 seconds', \
               now() - i * interval '31.536 seconds' + (30 + i % 570) * interval '1 second', \
               'hangup', '{{}}'::jsonb, '{conversation}'::jsonb, 1, \
               now() - i * interval '31.536 seconds', now() - i * interval '31.536 seconds', \
               (ARRAY['positive','neutral','negative','mixed'])[1 + get_byte(uuid_send(g.id), 14) % 4], \
               (get_byte(uuid_send(g.id), 13) - 128) / 128.0, \
               (ARRAY['billing','technical_support','returns','order_status','account', \
                 'shipping','cancellation','general_inquiry'])[1 + get_byte(uuid_send(g.id), 12) % 8], \
               (ARRAY['resolved','unresolved','escalated'])[1 + get_byte(uuid_send(g.id), 11) % 3] \
             FROM (SELECT i, gen_random_uuid() AS id FROM generate_series(1, {CALLS}) AS i) AS g"
        ),
        format!(
            "INSERT INTO call_analyses (call_id, organization_id, status, attempts, due_at, \
               summary, sentiment, sentiment_score, category, resolution, key_topics, \
               action_items, extracted, analyzer, completed_at, created_at, updated_at) \
             SELECT c.id, c.organization_id, 'completed', 1, c.ended_at, 'Seeded.', \
               c.analysis_sentiment, c.analysis_sentiment_score, c.analysis_category, \
               c.analysis_resolution, '[]'::jsonb, '[]'::jsonb, '{{}}'::jsonb, 'local', \
               c.ended_at, c.ended_at, c.ended_at \
             FROM calls c WHERE c.organization_id = '{organization}'"
        ),
        // A fifth of the calls have a transcript; one caller line in a hundred asks for a refund.
        format!(
            "INSERT INTO call_turns (id, call_id, turn_index, speaker, text, at, first_token_ms, \
               total_ms, first_frame_ms) \
             SELECT gen_random_uuid(), c.id, t.n, \
               CASE t.n WHEN 0 THEN 'customer' ELSE 'agent' END, \
               CASE WHEN t.n = 1 THEN 'Let me check that for you.' \
                 WHEN get_byte(uuid_send(c.id), 10) < 13 THEN 'I would like a refund for my order' \
                 ELSE 'Where is parcel ' || get_byte(uuid_send(c.id), 9) || '-' || \
                   get_byte(uuid_send(c.id), 8) || '?' END, \
               c.started_at + t.n * interval '2 seconds', \
               CASE t.n WHEN 1 THEN 150 + get_byte(uuid_send(c.id), 7) * 3 END, \
               CASE t.n WHEN 1 THEN 1800 END, \
               CASE t.n WHEN 1 THEN 400 + get_byte(uuid_send(c.id), 6) * 4 END \
             FROM calls c CROSS JOIN (VALUES (0), (1)) AS t(n) \
             WHERE c.organization_id = '{organization}' AND get_byte(uuid_send(c.id), 15) % 5 = 0"
        ),
        "VACUUM ANALYZE calls".to_owned(),
        "VACUUM ANALYZE call_analyses".to_owned(),
        "VACUUM ANALYZE call_turns".to_owned(),
    ];
    for statement in &statements {
        execute(database, statement).await?;
    }
    println!(
        "analytics_load: seeded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(agent)
}

/// Median and 90th percentile (ms) of `REPEATS` requests after a warm-up, and a word on the
/// answer so a fast wrong answer shows.
async fn time(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
) -> anyhow::Result<(f64, f64, String)> {
    let mut times = Vec::with_capacity(REPEATS);
    let mut last = Value::Null;
    for round in 0..REPEATS + 3 {
        let started = Instant::now();
        let response = client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        last = response.json().await?;
        let took: Duration = started.elapsed();
        // The first requests prepare statements and warm caches.
        if round >= 3 {
            times.push(took.as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |p: usize| times[(p * times.len()).div_ceil(100).saturating_sub(1)];
    let summary = if last["overview"].is_object() {
        format!("{} calls", last["overview"]["total_calls"])
    } else {
        format!("{} matching calls", last["total"])
    };
    Ok((at(50), at(90), summary))
}

/// The plans of the dashboard's day sums and of the searched list's count, as evidence of the
/// indexes they use.
async fn explain(database: &Database, organization: uuid::Uuid) -> anyhow::Result<()> {
    let queries = [
        (
            "dashboard day sums (90 days)",
            format!(
                "EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF) \
                 SELECT CAST(c.started_at AT TIME ZONE 'UTC' AS DATE) AS day, COUNT(*), \
                 COUNT(*) FILTER (WHERE c.status = 'completed'), \
                 SUM(COALESCE(c.talk_secs, CAST(TRUNC(date_part('epoch', \
                   c.ended_at - c.started_at)) AS BIGINT))), \
                 COUNT(c.analysis_sentiment), \
                 COUNT(*) FILTER (WHERE c.analysis_resolution = 'resolved'), \
                 SUM(c.analysis_sentiment_score), \
                 COUNT(*) FILTER (WHERE c.analysis_sentiment = 'negative') \
                 FROM calls c WHERE c.organization_id = '{organization}' \
                 AND c.started_at >= now() - interval '90 days' AND c.started_at < now() \
                 GROUP BY 1 ORDER BY 1"
            ),
        ),
        (
            "dashboard categories (90 days)",
            format!(
                "EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF) \
                 SELECT c.analysis_category, COUNT(*) AS n FROM calls c \
                 WHERE c.organization_id = '{organization}' \
                 AND c.started_at >= now() - interval '90 days' AND c.started_at < now() \
                 AND c.analysis_category IS NOT NULL \
                 GROUP BY c.analysis_category ORDER BY n DESC, c.analysis_category"
            ),
        ),
        (
            "searched list count (search + status + sentiment)",
            format!(
                "EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF) SELECT COUNT(*) FROM calls \
                 WHERE organization_id = '{organization}' AND status = 'completed' \
                 AND analysis_sentiment = 'negative' AND id = ANY(ARRAY( \
                 SELECT call_id FROM call_turns WHERE lower(text) LIKE '%refund%' \
                 UNION SELECT id FROM calls WHERE organization_id = '{organization}' \
                   AND lower(customer_name) LIKE '%refund%' \
                 UNION SELECT id FROM calls WHERE organization_id = '{organization}' \
                   AND phone_number LIKE '%refund%'))"
            ),
        ),
    ];
    for (name, sql) in queries {
        println!("\n{name}:");
        for line in query_text(database, &sql).await? {
            println!("    {line}");
        }
    }
    Ok(())
}
