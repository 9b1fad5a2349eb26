//! `CallRepository` on sea-orm.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, Func, LikeExpr, Query, SimpleExpr, UnionType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use switchboard_domain::agent::AgentStats;
use switchboard_domain::call::{
    Call, CallAnalysisState, CallChannel, CallDirection, CallFilter, CallSort, CallStatus,
    CallTurn, NewCallTurn, Speaker, TurnLatency,
};
use switchboard_domain::ids::{AgentId, CallId, OrganizationId};
use switchboard_domain::page::{PageRequest, Paged};
use switchboard_domain::ports::{CallRepository, RepositoryError, SaveCallOutcome};

use crate::accounts::unexpected;
use crate::analytics::{LATENCY_BY_KEY, RESPONSE_MS, Sql, latency_figures};
use crate::call_analyses::{self, attach};
use crate::entities::{call, call_turn, organization};
use crate::paging::fetch_page;
use crate::{Backend, Database};

/// Calls and transcripts in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmCalls {
    db: Database,
}

impl SeaOrmCalls {
    /// An adapter over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The call of `row`, if any, with its analysis state.
    async fn with_analysis(
        &self,
        row: Option<call::Model>,
    ) -> Result<Option<Call>, RepositoryError> {
        let Some(row) = row else {
            return Ok(None);
        };
        let mut calls = [call_from_row(row)?];
        attach(self.db.connection(), &mut calls).await?;
        let [call] = calls;
        Ok(Some(call))
    }
}

fn stored<T>(what: &str, id: uuid::Uuid, parsed: Result<T, String>) -> Result<T, RepositoryError> {
    parsed.map_err(|e| RepositoryError(anyhow::anyhow!("stored {what} of call {id}: {e}")))
}

fn call_from_row(row: call::Model) -> Result<Call, RepositoryError> {
    Ok(Call {
        id: CallId::from_uuid(row.id),
        organization_id: OrganizationId::from_uuid(row.organization_id),
        agent_id: row.agent_id.map(AgentId::from_uuid),
        agent_name: row.agent_name,
        scenario: row.scenario,
        channel: stored("channel", row.id, CallChannel::parse(&row.channel))?,
        direction: stored("direction", row.id, CallDirection::parse(&row.direction))?,
        status: stored("status", row.id, CallStatus::parse(&row.status))?,
        customer_name: row.customer_name,
        phone_number: row.phone_number,
        session_key: row.session_key,
        started_at: row.started_at,
        ended_at: row.ended_at,
        end_reason: row.end_reason,
        context: row.context,
        conversation: serde_json::from_value(row.conversation).map_err(|e| {
            anyhow::anyhow!("stored conversation of call {} is unreadable: {e}", row.id)
        })?,
        version: row.version,
        recording_url: row.recording_url,
        metadata: row.metadata.unwrap_or(serde_json::Value::Null),
        provider_call_id: row.provider_call_id,
        talk_secs: row.talk_secs,
        idempotency_key: row.idempotency_key,
        created_at: row.created_at,
        updated_at: row.updated_at,
        // Filled in by `call_analyses::attach` for ended calls.
        analysis: CallAnalysisState::NotQueued,
    })
}

fn turn_from_row(row: call_turn::Model) -> Result<CallTurn, RepositoryError> {
    let ms = |value: Option<i64>| value.and_then(|ms| u64::try_from(ms).ok());
    let latency = row.total_ms.map(|total| TurnLatency {
        first_token_ms: ms(row.first_token_ms),
        total_ms: u64::try_from(total).unwrap_or(0),
        transcript_ms: ms(row.transcript_ms),
        first_audio_ms: ms(row.first_audio_ms),
        first_frame_ms: ms(row.first_frame_ms),
    });
    Ok(CallTurn {
        call_id: CallId::from_uuid(row.call_id),
        index: u32::try_from(row.turn_index).unwrap_or(0),
        speaker: stored("speaker", row.call_id, Speaker::parse(&row.speaker))?,
        text: row.text,
        at: row.at,
        latency,
    })
}

fn conversation_json(call: &Call) -> Result<serde_json::Value, RepositoryError> {
    serde_json::to_value(&call.conversation)
        .map_err(|e| RepositoryError(anyhow::anyhow!("conversation does not serialise: {e}")))
}

/// `%words%`, lower-cased, with LIKE's own wildcards escaped so they match themselves.
fn like_pattern(words: &str) -> String {
    let escaped: String = words
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

/// The ids of the organisation's calls whose transcript, customer name or number contains
/// `words` (case-insensitive; the number as typed). One union of three simple LIKEs rather than
/// an OR across tables: each branch can use its own trigram index on PostgreSQL (migration
/// 000013), and the union is joined to the calls once.
fn searched(organization: OrganizationId, words: &str) -> sea_orm::sea_query::SelectStatement {
    let pattern = like_pattern(words);
    let like = || LikeExpr::new(pattern.clone()).escape('\\');
    let lower = |column: Expr| Expr::expr(Func::lower(column));
    let in_name = Query::select()
        .column(call::Column::Id)
        .from(call::Entity)
        .and_where(call::Column::OrganizationId.eq(organization.as_uuid()))
        .and_where(lower(Expr::col(call::Column::CustomerName)).like(like()))
        .to_owned();
    let in_number = Query::select()
        .column(call::Column::Id)
        .from(call::Entity)
        .and_where(call::Column::OrganizationId.eq(organization.as_uuid()))
        .and_where(call::Column::PhoneNumber.like(like()))
        .to_owned();
    Query::select()
        .column(call_turn::Column::CallId)
        .from(call_turn::Entity)
        .and_where(lower(Expr::col(call_turn::Column::Text)).like(like()))
        .union(UnionType::Distinct, in_name)
        .union(UnionType::Distinct, in_number)
        .to_owned()
}

/// `calls.id` among the `candidates` of a search. On PostgreSQL as `= ANY(ARRAY(...))`: the
/// candidates are collected once (from the trigram indexes) and each is looked up by key;
/// `IN (...)` let the planner, which cannot know how few they are, hash them against a scan of
/// every call of the organisation (docs/performance.md has both plans). SQLite keeps `IN`.
fn among_searched(
    backend: Backend,
    candidates: sea_orm::sea_query::SelectStatement,
) -> sea_orm::sea_query::SimpleExpr {
    match backend {
        Backend::Postgres => Expr::cust_with_exprs(
            "$1 = ANY(ARRAY($2))",
            [
                Expr::col((call::Entity, call::Column::Id)).into(),
                SimpleExpr::SubQuery(None, Box::new(candidates.into_sub_query_statement())),
            ],
        ),
        Backend::Sqlite => call::Column::Id.in_subquery(candidates),
    }
}

fn to_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// Appends turns after the `existing` ones.
async fn append_turns(
    connection: &impl ConnectionTrait,
    call: CallId,
    existing: u64,
    turns: &[NewCallTurn],
) -> Result<(), RepositoryError> {
    if turns.is_empty() {
        return Ok(());
    }
    let rows = turns
        .iter()
        .enumerate()
        .map(|(offset, turn)| call_turn::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            call_id: Set(call.as_uuid()),
            turn_index: Set(i32::try_from(existing + offset as u64).unwrap_or(i32::MAX)),
            speaker: Set(turn.speaker.as_str().to_owned()),
            text: Set(turn.text.clone()),
            at: Set(turn.at),
            first_token_ms: Set(turn.latency.and_then(|l| l.first_token_ms).map(to_i64)),
            total_ms: Set(turn.latency.map(|l| to_i64(l.total_ms))),
            transcript_ms: Set(turn.latency.and_then(|l| l.transcript_ms).map(to_i64)),
            first_audio_ms: Set(turn.latency.and_then(|l| l.first_audio_ms).map(to_i64)),
            first_frame_ms: Set(turn.latency.and_then(|l| l.first_frame_ms).map(to_i64)),
        });
    call_turn::Entity::insert_many(rows)
        .exec_without_returning(connection)
        .await
        .map_err(unexpected)?;
    Ok(())
}

/// Writes a new call with its first turns, and queues its analysis when it is already over.
async fn insert_call(
    txn: &DatabaseTransaction,
    call: &Call,
    turns: &[NewCallTurn],
) -> Result<(), RepositoryError> {
    call::Entity::insert(call::ActiveModel {
        id: Set(call.id.as_uuid()),
        organization_id: Set(call.organization_id.as_uuid()),
        agent_id: Set(call.agent_id.map(|a| a.as_uuid())),
        agent_name: Set(call.agent_name.clone()),
        scenario: Set(call.scenario.clone()),
        channel: Set(call.channel.as_str().to_owned()),
        direction: Set(call.direction.as_str().to_owned()),
        status: Set(call.status.as_str().to_owned()),
        customer_name: Set(call.customer_name.clone()),
        phone_number: Set(call.phone_number.clone()),
        session_key: Set(call.session_key.clone()),
        started_at: Set(call.started_at),
        ended_at: Set(call.ended_at),
        end_reason: Set(call.end_reason.clone()),
        context: Set(call.context.clone()),
        conversation: Set(conversation_json(call)?),
        version: Set(call.version),
        recording_url: Set(call.recording_url.clone()),
        metadata: Set((!call.metadata.is_null()).then(|| call.metadata.clone())),
        provider_call_id: Set(call.provider_call_id.clone()),
        talk_secs: Set(call.talk_secs),
        idempotency_key: Set(call.idempotency_key.clone()),
        created_at: Set(call.created_at),
        updated_at: Set(call.updated_at),
        // Filled in when the call's analysis completes.
        analysis_sentiment: Set(None),
        analysis_sentiment_score: Set(None),
        analysis_category: Set(None),
        analysis_resolution: Set(None),
    })
    .exec_without_returning(txn)
    .await
    .map_err(unexpected)?;
    append_turns(txn, call.id, 0, turns).await?;
    if !call.is_active() {
        call_analyses::queue(txn, call).await?;
    }
    Ok(())
}

/// The statuses of calls that are over; every other status is a live call.
const ENDED: [CallStatus; 5] = [
    CallStatus::Completed,
    CallStatus::Busy,
    CallStatus::NoAnswer,
    CallStatus::Failed,
    CallStatus::Canceled,
];

/// The statuses of live calls, named rather than excluded where an index on the status should
/// be used: `IN` reads only their entries, `NOT IN` reads all.
const LIVE: [CallStatus; 3] = [
    CallStatus::Queued,
    CallStatus::Ringing,
    CallStatus::InProgress,
];

/// The organisation's live calls, counted on `connection`.
async fn count_live(
    connection: &impl ConnectionTrait,
    organization: OrganizationId,
) -> Result<u64, RepositoryError> {
    call::Entity::find()
        .filter(call::Column::OrganizationId.eq(organization.as_uuid()))
        .filter(call::Column::Status.is_not_in(ENDED.map(CallStatus::as_str)))
        .count(connection)
        .await
        .map_err(unexpected)
}

#[async_trait]
impl CallRepository for SeaOrmCalls {
    async fn insert(&self, call: &Call, turns: &[NewCallTurn]) -> Result<(), RepositoryError> {
        let txn = self.db.connection().begin().await.map_err(unexpected)?;
        insert_call(&txn, call, turns).await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(())
    }

    async fn insert_within_cap(
        &self,
        call: &Call,
        turns: &[NewCallTurn],
        cap: u64,
    ) -> Result<bool, RepositoryError> {
        let txn = self.db.connection().begin().await.map_err(unexpected)?;
        // Writing the organisation's row first serialises its call inserts: PostgreSQL locks
        // the row until commit, and SQLite takes its write lock here, before the count is read.
        organization::Entity::update_many()
            .col_expr(
                organization::Column::UpdatedAt,
                Expr::col(organization::Column::UpdatedAt).into(),
            )
            .filter(organization::Column::Id.eq(call.organization_id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        if count_live(&txn, call.organization_id).await? >= cap {
            txn.rollback().await.map_err(unexpected)?;
            return Ok(false);
        }
        insert_call(&txn, call, turns).await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(true)
    }

    async fn find(
        &self,
        organization: OrganizationId,
        id: CallId,
    ) -> Result<Option<Call>, RepositoryError> {
        let row = call::Entity::find_by_id(id.as_uuid())
            .filter(call::Column::OrganizationId.eq(organization.as_uuid()))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?;
        self.with_analysis(row).await
    }

    async fn find_unscoped(&self, id: CallId) -> Result<Option<Call>, RepositoryError> {
        let row = call::Entity::find_by_id(id.as_uuid())
            .one(self.db.connection())
            .await
            .map_err(unexpected)?;
        self.with_analysis(row).await
    }

    async fn find_by_idempotency_key(
        &self,
        organization: OrganizationId,
        key: &str,
    ) -> Result<Option<Call>, RepositoryError> {
        call::Entity::find()
            .filter(call::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(call::Column::IdempotencyKey.eq(key))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(call_from_row)
            .transpose()
    }

    async fn count_active(&self, organization: OrganizationId) -> Result<u64, RepositoryError> {
        count_live(self.db.connection(), organization).await
    }

    async fn find_stale_live_phone_calls(
        &self,
        updated_before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<Call>, RepositoryError> {
        // Served by `ix_calls_status_updated`: few calls are live, so the scan is short however
        // many have ended.
        call::Entity::find()
            .filter(call::Column::Status.is_in(LIVE.map(CallStatus::as_str)))
            .filter(call::Column::Channel.eq(CallChannel::Phone.as_str()))
            .filter(call::Column::UpdatedAt.lt(updated_before))
            .order_by_asc(call::Column::UpdatedAt)
            .order_by_asc(call::Column::Id)
            .limit(u64::from(limit))
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(call_from_row)
            .collect()
    }

    async fn find_by_provider_id(
        &self,
        provider_call_id: &str,
    ) -> Result<Option<Call>, RepositoryError> {
        let row = call::Entity::find()
            .filter(call::Column::ProviderCallId.eq(provider_call_id))
            .order_by_desc(call::Column::StartedAt)
            .one(self.db.connection())
            .await
            .map_err(unexpected)?;
        self.with_analysis(row).await
    }

    async fn list(
        &self,
        organization: OrganizationId,
        filter: &CallFilter,
        sort: CallSort,
        page: PageRequest,
    ) -> Result<Paged<Call>, RepositoryError> {
        let mut query =
            call::Entity::find().filter(call::Column::OrganizationId.eq(organization.as_uuid()));
        if let Some(status) = filter.status {
            query = query.filter(call::Column::Status.eq(status.as_str()));
        }
        if let Some(direction) = filter.direction {
            query = query.filter(call::Column::Direction.eq(direction.as_str()));
        }
        if let Some(channel) = filter.channel {
            query = query.filter(call::Column::Channel.eq(channel.as_str()));
        }
        if let Some(agent) = filter.agent_id {
            query = query.filter(call::Column::AgentId.eq(agent.as_uuid()));
        }
        if let Some(from) = filter.started_from {
            query = query.filter(call::Column::StartedAt.gte(from));
        }
        if let Some(before) = filter.started_before {
            query = query.filter(call::Column::StartedAt.lt(before));
        }
        if let Some(words) = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|w| !w.is_empty())
        {
            query = query.filter(among_searched(
                self.db.backend(),
                searched(organization, words),
            ));
        }
        // A completed analysis's fields are copied onto its call (NULL until then), so these
        // filters match the calls whose completed analysis has them.
        if let Some(sentiment) = filter.sentiment {
            query = query.filter(call::Column::AnalysisSentiment.eq(sentiment.as_str()));
        }
        if let Some(category) = &filter.category {
            query = query.filter(call::Column::AnalysisCategory.eq(category.as_str()));
        }
        if let Some(resolution) = filter.resolution {
            query = query.filter(call::Column::AnalysisResolution.eq(resolution.as_str()));
        }
        query = match sort {
            CallSort::Newest => query
                .order_by_desc(call::Column::StartedAt)
                .order_by_desc(call::Column::Id),
            CallSort::Oldest => query
                .order_by_asc(call::Column::StartedAt)
                .order_by_asc(call::Column::Id),
        };
        let (rows, total) = fetch_page(query, page, self.db.connection()).await?;
        let mut items = rows
            .into_iter()
            .map(call_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        attach(self.db.connection(), &mut items).await?;
        Ok(Paged { items, total })
    }

    async fn find_by_session(
        &self,
        organization: OrganizationId,
        session_key: &str,
    ) -> Result<Option<Call>, RepositoryError> {
        let row = call::Entity::find()
            .filter(call::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(call::Column::SessionKey.eq(session_key))
            .order_by_desc(call::Column::StartedAt)
            .one(self.db.connection())
            .await
            .map_err(unexpected)?;
        self.with_analysis(row).await
    }

    async fn save(
        &self,
        call: &Call,
        expected_version: i64,
        turns: &[NewCallTurn],
    ) -> Result<SaveCallOutcome, RepositoryError> {
        let txn = self.db.connection().begin().await.map_err(unexpected)?;
        // The version guard makes the update a compare-and-set: of two turns of one call
        // answered at once, only the first to commit is stored.
        let updated = call::Entity::update_many()
            .col_expr(call::Column::Status, Expr::value(call.status.as_str()))
            .col_expr(call::Column::EndedAt, Expr::value(call.ended_at))
            .col_expr(
                call::Column::EndReason,
                Expr::value(call.end_reason.clone()),
            )
            .col_expr(
                call::Column::Conversation,
                Expr::value(conversation_json(call)?),
            )
            .col_expr(
                call::Column::RecordingUrl,
                Expr::value(call.recording_url.clone()),
            )
            .col_expr(
                call::Column::ProviderCallId,
                Expr::value(call.provider_call_id.clone()),
            )
            .col_expr(call::Column::TalkSecs, Expr::value(call.talk_secs))
            .col_expr(call::Column::Version, Expr::value(call.version))
            .col_expr(call::Column::UpdatedAt, Expr::value(call.updated_at))
            .filter(call::Column::Id.eq(call.id.as_uuid()))
            .filter(call::Column::OrganizationId.eq(call.organization_id.as_uuid()))
            .filter(call::Column::Version.eq(expected_version))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        if updated.rows_affected != 1 {
            txn.rollback().await.map_err(unexpected)?;
            return Ok(SaveCallOutcome::Conflict);
        }
        let existing = call_turn::Entity::find()
            .filter(call_turn::Column::CallId.eq(call.id.as_uuid()))
            .count(&txn)
            .await
            .map_err(unexpected)?;
        append_turns(&txn, call.id, existing, turns).await?;
        if !call.is_active() {
            call_analyses::queue(&txn, call).await?;
        }
        txn.commit().await.map_err(unexpected)?;
        Ok(SaveCallOutcome::Saved)
    }

    async fn agent_stats(
        &self,
        organization: OrganizationId,
        agents: &[AgentId],
    ) -> Result<Vec<(AgentId, AgentStats)>, RepositoryError> {
        if agents.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<uuid::Uuid> = agents.iter().map(AgentId::as_uuid).collect();
        let status_is =
            |status: CallStatus| Expr::case(call::Column::Status.eq(status.as_str()), 1).finally(0);
        let counts: Vec<(uuid::Uuid, i64, i64, i64)> = call::Entity::find()
            .select_only()
            .column(call::Column::AgentId)
            .column_as(call::Column::Id.count(), "calls")
            .column_as(
                Expr::expr(status_is(CallStatus::Completed)).sum(),
                "completed",
            )
            .column_as(Expr::expr(status_is(CallStatus::Failed)).sum(), "failed")
            .filter(call::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(call::Column::AgentId.is_in(ids.clone()))
            .group_by(call::Column::AgentId)
            .into_tuple()
            .all(self.db.connection())
            .await
            .map_err(unexpected)?;
        // Mean and nearest-rank percentiles of the wait for each answer, per agent, in the
        // database (the same query as the analytics latency figures).
        let mut sql = Sql::new(self.db.backend());
        sql.push("WITH lat AS (SELECT c.agent_id AS k, ")
            .push(RESPONSE_MS)
            .push(" AS ms FROM call_turns t JOIN calls c ON c.id = t.call_id WHERE c.organization_id = ")
            .bind(organization.as_uuid())
            .push(" AND c.agent_id IN (");
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(*id);
        }
        sql.push(") AND t.speaker = 'agent' AND t.total_ms IS NOT NULL)")
            .push(LATENCY_BY_KEY);
        let latencies = self
            .db
            .connection()
            .query_all(sql.build())
            .await
            .map_err(unexpected)?
            .iter()
            .map(|row| {
                let agent: uuid::Uuid = row.try_get("", "k").map_err(unexpected)?;
                Ok((agent, latency_figures(row)?))
            })
            .collect::<Result<Vec<_>, RepositoryError>>()?;
        Ok(counts
            .into_iter()
            .map(|(agent, calls, completed, failed)| {
                let finished = completed + failed;
                let latency = latencies
                    .iter()
                    .find(|(id, _)| *id == agent)
                    .map(|(_, figures)| *figures)
                    .unwrap_or_default();
                let stats = AgentStats {
                    calls_handled: u64::try_from(calls).unwrap_or(0),
                    avg_latency: latency.avg_ms.unwrap_or(0.0),
                    p50_latency: latency.p50_ms.unwrap_or(0),
                    p90_latency: latency.p90_ms.unwrap_or(0),
                    success_rate: if finished > 0 {
                        completed as f64 / finished as f64
                    } else {
                        0.0
                    },
                };
                (AgentId::from_uuid(agent), stats)
            })
            .collect())
    }

    async fn turns_of(&self, calls: &[CallId]) -> Result<Vec<CallTurn>, RepositoryError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        call_turn::Entity::find()
            .filter(call_turn::Column::CallId.is_in(calls.iter().map(CallId::as_uuid)))
            .order_by_asc(call_turn::Column::CallId)
            .order_by_asc(call_turn::Column::TurnIndex)
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(turn_from_row)
            .collect()
    }

    async fn turns(&self, call: CallId) -> Result<Vec<CallTurn>, RepositoryError> {
        call_turn::Entity::find()
            .filter(call_turn::Column::CallId.eq(call.as_uuid()))
            .order_by_asc(call_turn::Column::TurnIndex)
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(turn_from_row)
            .collect()
    }
}
