//! Analytics over HTTP, checked number by number against the hand-computed fixture of
//! `switchboard_testkit::analytics_fixture` (eight calls over New York's days around the end
//! of summer time): seed 004's dashboard and overview, seed 000's overview and metrics, and
//! the agents' figures, on the organisation's own days; and the errors of bad parameters.

use serde_json::{Value, json};
use switchboard_domain::call::CallStatus;
use switchboard_domain::ids::{AgentId, OrganizationId};
use switchboard_testkit::{
    CallRecord, FIXTURE_NOW, FIXTURE_TIME_ZONE, TestApp, analytics_fixture, answered_in, instant,
    store_calls,
};

use crate::support::{expect_error, expect_json};

struct Fixture {
    app: TestApp,
    token: String,
    ava: String,
    ben: String,
    /// Another organisation's agent.
    stranger: String,
}

async fn get(app: &TestApp, path: &str, token: &str) -> anyhow::Result<Value> {
    expect_json(app.get(path, Some(token)).await?, 200).await
}

/// A signed-in user of an organisation in `zone`, its id, and its agents named `names`.
async fn organisation(
    app: &TestApp,
    zone: &str,
    names: &[&str],
) -> anyhow::Result<(String, OrganizationId, Vec<String>)> {
    let token = app.signed_in_user().await?;
    expect_json(
        app.post_json(
            "/api/v1/onboarding/company",
            &json!({"name": "Acme", "time_zone": zone}),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    let me = get(app, "/api/v1/auth/me", &token).await?;
    assert_eq!(me["organization"]["time_zone"], zone, "{me}");
    let organization: OrganizationId =
        me["organization_id"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .map_err(|_| anyhow::anyhow!("no organisation id in {me}"))?;
    let mut agents = Vec::new();
    for name in names {
        let agent = expect_json(
            app.post_json("/api/v1/agents", &json!({"name": name}), Some(&token))
                .await?,
            201,
        )
        .await?;
        agents.push(agent["id"].as_str().unwrap_or_default().to_owned());
    }
    Ok((token, organization, agents))
}

fn agent_id(raw: &str) -> anyhow::Result<AgentId> {
    raw.parse()
        .map_err(|_| anyhow::anyhow!("bad agent id {raw}"))
}

/// The server at the fixture's "now", the fixture stored, and a stranger's call on the same
/// day that must never count.
async fn fixture() -> anyhow::Result<Fixture> {
    let app = TestApp::builder()
        .with_clock_at(instant(FIXTURE_NOW))
        .spawn()
        .await?;
    let (token, organization, agents) =
        organisation(&app, FIXTURE_TIME_ZONE, &["Ava", "Ben"]).await?;
    let (ava, ben) = (agents[0].clone(), agents[1].clone());
    let database = app.database().await?;
    store_calls(
        &database,
        organization,
        &analytics_fixture(agent_id(&ava)?, agent_id(&ben)?),
    )
    .await?;
    let (_, other, others) = organisation(&app, "UTC", &["Eve"]).await?;
    store_calls(
        &database,
        other,
        &[CallRecord {
            agent_id: Some(agent_id(&others[0])?),
            started_at: instant("2026-11-04T12:00:00Z"),
            status: CallStatus::Completed,
            duration_secs: Some(999),
            latencies: vec![answered_in(5)],
            analysis: None,
        }],
    )
    .await?;
    Ok(Fixture {
        app,
        token,
        ava,
        ben,
        stranger: others[0].clone(),
    })
}

/// `(date, calls, avg_sentiment, resolution_rate, avg_duration_seconds)` of each trend day.
fn trend_rows(days: &Value) -> Vec<(String, u64, f64, f64, f64)> {
    days.as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["date"].as_str().unwrap_or_default().to_owned(),
                d["calls"].as_u64().unwrap_or(u64::MAX),
                d["avg_sentiment"].as_f64().unwrap_or(f64::NAN),
                d["resolution_rate"].as_f64().unwrap_or(f64::NAN),
                d["avg_duration_seconds"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

fn row(
    date: &str,
    calls: u64,
    sentiment: f64,
    resolution: f64,
    secs: f64,
) -> (String, u64, f64, f64, f64) {
    (date.to_owned(), calls, sentiment, resolution, secs)
}

#[tokio::test]
async fn the_dashboard_adds_up_the_fixture_on_new_york_days() -> anyhow::Result<()> {
    let f = fixture().await?;
    let dashboard = get(&f.app, "/api/v1/analytics/dashboard?days=7", &f.token).await?;
    assert_eq!(dashboard["days"], 7);
    assert_eq!(dashboard["time_zone"], "America/New_York");
    // Calls 2 to 8; call 1 started at 23:30 on 28 October, New York time.
    assert_eq!(
        dashboard["overview"],
        json!({
            "total_calls": 7,
            "avg_duration_seconds": 90.8333,
            "resolution_rate": 50.0,
            "avg_sentiment_score": 0.0667,
            "calls_today": 2,
            "calls_this_week": 7,
            "completed_calls": 5,
            "failed_calls": 1,
            "success_rate": 0.8333,
            "analysed_calls": 6,
        })
    );
    assert_eq!(
        dashboard["sentiment"],
        json!({"positive": 2, "neutral": 1, "negative": 2, "mixed": 1})
    );
    assert_eq!(
        dashboard["categories"],
        json!({"categories": {"billing": 3, "technical_support": 2, "returns": 1}})
    );
    assert_eq!(
        dashboard["top_issues"],
        json!([
            {"category": "billing", "count": 3},
            {"category": "technical_support", "count": 2},
            {"category": "returns", "count": 1},
        ])
    );
    // 1 November lasted 25 hours: call 4 (04:30 UTC on the 2nd) is its last hour. Calls 5 and
    // 6 are a minute apart across local midnight.
    assert_eq!(
        trend_rows(&dashboard["trends"]),
        vec![
            row("2026-10-29", 1, 0.6, 100.0, 120.0),
            row("2026-10-30", 0, 0.0, 0.0, 0.0),
            row("2026-10-31", 0, 0.0, 0.0, 0.0),
            row("2026-11-01", 2, -0.25, 0.0, 60.0),
            row("2026-11-02", 1, 0.1, 100.0, 45.0),
            row("2026-11-03", 1, 0.9, 100.0, 200.0),
            row("2026-11-04", 2, -0.7, 0.0, 60.0),
        ]
    );
    let recent: Vec<(&str, &Value, &Value)> = dashboard["recent_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["started_at"].as_str().unwrap_or_default(),
                &c["status"],
                &c["sentiment"],
            )
        })
        .collect();
    assert_eq!(recent.len(), 5, "{dashboard}");
    assert!(recent[0].0.starts_with("2026-11-04T14:00:00"), "{recent:?}");
    assert_eq!(
        (recent[0].1, recent[0].2),
        (&json!("in_progress"), &Value::Null)
    );
    assert!(recent[1].0.starts_with("2026-11-04T13:00:00"), "{recent:?}");
    assert_eq!(
        (recent[1].1, recent[1].2),
        (&json!("completed"), &json!("negative"))
    );
    assert!(recent[4].0.starts_with("2026-11-02T04:30:00"), "{recent:?}");
    assert_eq!(dashboard["recent_calls"][1]["duration"], 60);
    assert_eq!(dashboard["recent_calls"][1]["agent_id"], json!(f.ben));

    // Seed 004's overview alone, and a one-day period: today only, the week still counted.
    let overview = get(&f.app, "/api/v1/analytics/overview?days=7", &f.token).await?;
    assert_eq!(overview, dashboard["overview"]);
    let today = get(&f.app, "/api/v1/analytics/overview?days=1", &f.token).await?;
    assert_eq!(today["total_calls"], 2);
    assert_eq!(today["calls_this_week"], 7);
    assert_eq!(today["avg_duration_seconds"], 60.0);
    assert_eq!(today["avg_sentiment_score"], -0.7);
    assert_eq!(today["analysed_calls"], 1);
    // Eight days reach call 1.
    let eight = get(&f.app, "/api/v1/analytics/dashboard?days=8", &f.token).await?;
    assert_eq!(eight["overview"]["total_calls"], 8);
    assert_eq!(eight["trends"][0]["date"], "2026-10-28");
    assert_eq!(eight["trends"].as_array().map(Vec::len), Some(8));
    // Ninety days are read in parts of a month; the fixture's days come out as eight days did.
    let ninety = get(&f.app, "/api/v1/analytics/dashboard?days=90", &f.token).await?;
    assert_eq!(ninety["overview"], eight["overview"]);
    assert_eq!(ninety["sentiment"], eight["sentiment"]);
    let trends = ninety["trends"].as_array().cloned().unwrap_or_default();
    assert_eq!(trends.len(), 90);
    assert_eq!(
        trends[82..],
        eight["trends"].as_array().cloned().unwrap_or_default()[..]
    );
    assert!(trends[..82].iter().all(|day| day["calls"] == 0), "{ninety}");
    Ok(())
}

#[tokio::test]
async fn metrics_and_agent_figures_carry_nearest_rank_latency_percentiles() -> anyhow::Result<()> {
    let f = fixture().await?;
    let metrics = get(&f.app, "/analytics/metrics?time_range=7d", &f.token).await?;
    assert_eq!(metrics["time_range"], "7d");
    assert_eq!(metrics["days"], 7);
    // 18 measured answers in the week: p50 is the 9th (550), p90 the 17th (1050).
    assert_eq!(
        metrics["latency"],
        json!({"turns": 18, "avg_ms": 597.2, "p50_ms": 550, "p90_ms": 1050})
    );
    let daily: Vec<(&Value, &Value)> = metrics["daily"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| (&d["date"], &d["latency"]))
        .collect();
    let latency = |turns: u64, avg: f64, p50: u64, p90: u64| json!({"turns": turns, "avg_ms": avg, "p50_ms": p50, "p90_ms": p90});
    let none = json!({"turns": 0, "avg_ms": null, "p50_ms": null, "p90_ms": null});
    assert_eq!(daily.len(), 7);
    assert_eq!(daily[0].1, &latency(2, 300.0, 200, 400));
    assert_eq!(daily[1].1, &none);
    // Calls 3 and 4 share 1 November: 300, 500, 700, 900.
    assert_eq!(
        daily[3],
        (&json!("2026-11-01"), &latency(4, 600.0, 500, 900))
    );
    assert_eq!(daily[4].1, &latency(1, 150.0, 150, 150));
    assert_eq!(daily[5].1, &latency(10, 700.0, 650, 1050));
    assert_eq!(daily[6].1, &latency(1, 600.0, 600, 600));
    assert_eq!(metrics["daily"][3]["calls"], 2);
    assert_eq!(metrics["daily"][3]["failed"], 1);
    assert_eq!(metrics["overview"]["total_calls"], 7);

    // Seed 000's overview, and both limited to one agent.
    let overview = get(&f.app, "/analytics/overview", &f.token).await?;
    assert_eq!(overview["time_range"], "7d");
    assert_eq!(overview["total_calls"], 7);
    let ben = get(
        &f.app,
        &format!("/analytics/overview?time_range=30d&agent_id={}", f.ben),
        &f.token,
    )
    .await?;
    assert_eq!(ben["total_calls"], 3);
    assert_eq!(ben["success_rate"], 0.6667);
    assert_eq!(ben["agent_id"], json!(f.ben));

    // Ava's days: calls 2, 4, 6 and 7, sixteen answers.
    let ava = get(
        &f.app,
        &format!("/api/v1/agents/{}/stats?days=7", f.ava),
        &f.token,
    )
    .await?;
    assert_eq!(ava["agent_id"], json!(f.ava));
    assert_eq!(
        ava["latency"],
        json!({"turns": 16, "avg_ms": 606.3, "p50_ms": 550, "p90_ms": 1050})
    );
    assert_eq!(ava["overview"]["total_calls"], 4);
    assert_eq!(ava["overview"]["completed_calls"], 3);
    assert_eq!(ava["daily"][3]["latency"], latency(3, 500.0, 500, 700));
    let ben = get(&f.app, &format!("/agents/{}/stats", f.ben), &f.token).await?;
    assert_eq!(
        ben["latency"],
        json!({"turns": 2, "avg_ms": 525.0, "p50_ms": 150, "p90_ms": 900})
    );
    assert_eq!(ben["overview"]["success_rate"], 0.6667);

    // The agent resource: all of Ava's calls, call 1 included (17 answers, from 100 ms).
    let agent = get(&f.app, &format!("/api/v1/agents/{}", f.ava), &f.token).await?;
    assert_eq!(
        agent["stats"],
        json!({
            "calls_handled": 5,
            "avg_latency": 576.5,
            "p50_latency": 550,
            "p90_latency": 1050,
            "success_rate": 1.0,
        })
    );
    Ok(())
}

#[tokio::test]
async fn bad_parameters_are_named_and_other_organisations_agents_are_not_found()
-> anyhow::Result<()> {
    let f = fixture().await?;
    for (path, field) in [
        ("/api/v1/analytics/dashboard?days=0", "days"),
        ("/api/v1/analytics/dashboard?days=91", "days"),
        ("/api/v1/analytics/overview?days=week", "days"),
        ("/api/v1/analytics/dashboard?agent_id=nobody", "agent_id"),
        ("/analytics/metrics?time_range=1y", "time_range"),
        ("/analytics/overview?time_range=7", "time_range"),
    ] {
        let body = expect_error(f.app.get(path, Some(&f.token)).await?, 422).await?;
        assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
    }
    let ava_stats = format!("/api/v1/agents/{}/stats?days=365", f.ava);
    let body = expect_error(f.app.get(&ava_stats, Some(&f.token)).await?, 422).await?;
    assert_eq!(body["errors"][0]["field"], "days");
    for path in [
        format!("/api/v1/analytics/dashboard?agent_id={}", f.stranger),
        format!("/analytics/metrics?agent_id={}", f.stranger),
        format!("/api/v1/agents/{}/stats", f.stranger),
    ] {
        expect_error(f.app.get(&path, Some(&f.token)).await?, 404).await?;
    }
    expect_error(f.app.get("/api/v1/analytics/dashboard", None).await?, 401).await?;
    Ok(())
}
