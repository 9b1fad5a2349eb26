//! Contract tests of the analytics aggregates on SQLite and on PostgreSQL, over the
//! hand-computed fixture of `switchboard_testkit::analytics_fixture`: both databases must give
//! the same numbers, local days and nearest-rank percentiles included.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use switchboard_domain::account::{DisplayName, EmailAddress, NewAccount, PasswordHash};
use switchboard_domain::analytics::{AnalyticsWindow, LatencyFigures, Scope};
use switchboard_domain::ids::{AgentId, OrganizationId, UserId};
use switchboard_domain::ports::{AccountRepository, AnalyticsRepository, CallRepository};
use switchboard_storage::on_both_backends;
use switchboard_storage::{Database, SeaOrmAccounts, SeaOrmAnalytics, SeaOrmCalls};
use switchboard_testkit::{
    FIXTURE_NOW, FIXTURE_TIME_ZONE, analytics_fixture, instant, store_calls,
};

on_both_backends!(aggregates_follow_local_days_and_agree_on_both_databases);

async fn organisation(db: &Database) -> anyhow::Result<OrganizationId> {
    let accounts = SeaOrmAccounts::new(db.clone());
    let organization = OrganizationId::new();
    accounts
        .create_account(NewAccount {
            user_id: UserId::new(),
            organization_id: organization,
            email: EmailAddress::parse(&format!("{}@example.com", uuid::Uuid::new_v4().simple()))
                .unwrap(),
            full_name: None,
            organization_name: DisplayName::parse("Acme").unwrap(),
            password_hash: PasswordHash::new("$argon2id$v=19$stub".into()),
            created_at: instant(FIXTURE_NOW),
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(organization)
}

async fn aggregates_follow_local_days_and_agree_on_both_databases(
    db: Database,
) -> anyhow::Result<()> {
    let organization = organisation(&db).await?;
    let other = organisation(&db).await?;
    let (ava, ben) = (AgentId::new(), AgentId::new());
    let fixture = analytics_fixture(ava, ben);
    store_calls(&db, organization, &fixture).await?;
    // The same calls in another organisation never count.
    store_calls(&db, other, &fixture).await?;
    let analytics: Arc<dyn AnalyticsRepository> = Arc::new(SeaOrmAnalytics::new(db.clone()));
    let window = AnalyticsWindow::ending_at(instant(FIXTURE_NOW), FIXTURE_TIME_ZONE, 7)?;
    let all = Scope {
        organization,
        agent: None,
    };

    let days = analytics.day_totals(all, &window).await?;
    let summary: Vec<(String, u64, u64, i64, u64, u64)> = days
        .iter()
        .map(|d| {
            (
                d.date.to_string(),
                d.calls,
                d.with_duration,
                d.duration_secs,
                d.analysed,
                d.resolved,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("2026-10-29".into(), 1, 1, 120, 1, 1),
            ("2026-11-01".into(), 2, 2, 120, 2, 0),
            ("2026-11-02".into(), 1, 1, 45, 1, 1),
            ("2026-11-03".into(), 1, 1, 200, 1, 1),
            ("2026-11-04".into(), 2, 1, 60, 1, 0),
        ],
        "days without calls are left out; the rest are New York's days"
    );
    let november_first = &days[1];
    assert_eq!((november_first.completed, november_first.failed), (1, 1));
    assert_eq!(november_first.sentiments.negative, 1);
    assert_eq!(november_first.sentiments.neutral, 1);
    assert!((november_first.sentiment_score_sum - -0.5).abs() < 1e-9);

    let categories: Vec<(String, u64)> = analytics
        .categories(all, &window)
        .await?
        .into_iter()
        .map(|c| (c.category, c.count))
        .collect();
    assert_eq!(
        categories,
        vec![
            ("billing".into(), 3),
            ("technical_support".into(), 2),
            ("returns".into(), 1)
        ]
    );

    let recent = analytics.recent_calls(all, &window, 2).await?;
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0].started_at, instant("2026-11-04T14:00:00Z"));
    assert_eq!(recent[0].duration_secs, None);
    assert_eq!(recent[1].duration_secs, Some(60));
    assert_eq!(recent[1].agent_id, Some(ben));

    let (whole, daily) = analytics.latency(all, &window).await?;
    assert_eq!(
        whole,
        LatencyFigures {
            turns: 18,
            avg_ms: Some(597.2),
            p50_ms: Some(550),
            p90_ms: Some(1050),
        }
    );
    let daily: Vec<(String, u64, Option<u64>, Option<u64>)> = daily
        .iter()
        .map(|d| {
            (
                d.date.to_string(),
                d.latency.turns,
                d.latency.p50_ms,
                d.latency.p90_ms,
            )
        })
        .collect();
    assert_eq!(
        daily,
        vec![
            ("2026-10-29".into(), 2, Some(200), Some(400)),
            ("2026-11-01".into(), 4, Some(500), Some(900)),
            ("2026-11-02".into(), 1, Some(150), Some(150)),
            ("2026-11-03".into(), 10, Some(650), Some(1050)),
            ("2026-11-04".into(), 1, Some(600), Some(600)),
        ]
    );

    let only_ben = Scope {
        organization,
        agent: Some(ben),
    };
    let ben_days = analytics.day_totals(only_ben, &window).await?;
    assert_eq!(ben_days.iter().map(|d| d.calls).sum::<u64>(), 3);
    let (ben_latency, _) = analytics.latency(only_ben, &window).await?;
    assert_eq!(
        (ben_latency.p50_ms, ben_latency.p90_ms),
        (Some(150), Some(900))
    );

    // The agent resource's figures: all of an agent's calls, whenever they were.
    let calls = SeaOrmCalls::new(db.clone());
    let stats = calls.agent_stats(organization, &[ava, ben]).await?;
    let ava_stats = stats.iter().find(|(id, _)| *id == ava).unwrap().1;
    assert_eq!(ava_stats.calls_handled, 5);
    assert_eq!(ava_stats.avg_latency, 576.5);
    assert_eq!((ava_stats.p50_latency, ava_stats.p90_latency), (550, 1050));
    let ben_stats = stats.iter().find(|(id, _)| *id == ben).unwrap().1;
    assert_eq!((ben_stats.p50_latency, ben_stats.p90_latency), (150, 900));
    assert_eq!(ben_stats.avg_latency, 525.0);
    Ok(())
}
