//! `ScheduleRepository` on sea-orm, with the workers' claim.
//!
//! The claim is one `UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING *` statement that
//! moves due rows to `dialing` under a lease:
//! - On PostgreSQL the inner select takes its rows `FOR UPDATE SKIP LOCKED`: concurrent
//!   claimers lock disjoint rows without waiting for each other, and a row another claimer
//!   changed since this statement's snapshot is re-checked against the claimable condition
//!   before it is taken (READ COMMITTED re-evaluation), so a row is never claimed twice.
//! - SQLite has no row locks: the statement takes the database's single write lock before it
//!   reads (a writing statement begins a write transaction), so claimers run one after the
//!   other and each sees the previous one's leases.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement, TransactionTrait,
};
use switchboard_domain::call::{CallStatus, CallTarget};
use switchboard_domain::ids::{
    AgentId, CallId, CampaignId, OrganizationId, ScheduledCallId, UserId,
};
use switchboard_domain::page::{PageRequest, Paged};
use switchboard_domain::phone_number::E164;
use switchboard_domain::ports::{RepositoryError, SaveScheduleOutcome, ScheduleRepository};
use switchboard_domain::schedule::{
    Attempt, CallingWindow, Lease, RetryPolicy, ScheduleFilter, ScheduleStatus, ScheduledCall,
};

use crate::accounts::unexpected;
use crate::entities::{call, scheduled_call};
use crate::paging::fetch_page;
use crate::{Backend, Database};

/// Scheduled calls in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmSchedule {
    db: Database,
}

impl SeaOrmSchedule {
    /// An adapter over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

const FINAL_CALL_STATUSES: [CallStatus; 5] = [
    CallStatus::Completed,
    CallStatus::Busy,
    CallStatus::NoAnswer,
    CallStatus::Failed,
    CallStatus::Canceled,
];

fn corrupt(id: uuid::Uuid, what: &str, e: impl std::fmt::Display) -> RepositoryError {
    RepositoryError(anyhow::anyhow!(
        "stored {what} of scheduled call {id} is unreadable: {e}"
    ))
}

fn from_row(row: scheduled_call::Model) -> Result<ScheduledCall, RepositoryError> {
    let id = row.id;
    let target = match (row.agent_id, row.scenario) {
        (Some(agent), _) => CallTarget::Agent(AgentId::from_uuid(agent)),
        (None, Some(scenario)) => CallTarget::Scenario(scenario),
        (None, None) => CallTarget::Default,
    };
    let window = row
        .calling_window
        .map(serde_json::from_value::<CallingWindow>)
        .transpose()
        .map_err(|e| corrupt(id, "calling window", e))?;
    let attempts: Vec<Attempt> =
        serde_json::from_value(row.attempts).map_err(|e| corrupt(id, "attempts", e))?;
    let lease = match (row.claimed_by, row.claimed_until) {
        (Some(worker), Some(until)) => Some(Lease { worker, until }),
        _ => None,
    };
    Ok(ScheduledCall {
        id: ScheduledCallId::from_uuid(id),
        organization_id: OrganizationId::from_uuid(row.organization_id),
        user_id: UserId::from_uuid(row.user_id),
        campaign_id: row.campaign_id.map(CampaignId::from_uuid),
        target,
        phone_number: E164::parse(&row.phone_number).map_err(|e| corrupt(id, "number", e))?,
        customer_name: row.customer_name,
        scheduled_for: row.scheduled_for,
        due_at: row.due_at,
        window,
        retry: RetryPolicy {
            max_attempts: u32::try_from(row.max_attempts)
                .map_err(|e| corrupt(id, "attempts", e))?,
            delay: chrono::Duration::seconds(row.retry_delay_secs),
        },
        status: ScheduleStatus::parse(&row.status).map_err(|e| corrupt(id, "status", e))?,
        attempts,
        lease,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn json<T: serde::Serialize>(value: &T, what: &str) -> Result<serde_json::Value, RepositoryError> {
    serde_json::to_value(value)
        .map_err(|e| RepositoryError(anyhow::anyhow!("{what} does not serialise: {e}")))
}

fn target_columns(target: &CallTarget) -> (Option<uuid::Uuid>, Option<String>) {
    match target {
        CallTarget::Agent(agent) => (Some(agent.as_uuid()), None),
        CallTarget::Scenario(name) => (None, Some(name.clone())),
        CallTarget::Default => (None, None),
    }
}

fn window_json(call: &ScheduledCall) -> Result<Option<serde_json::Value>, RepositoryError> {
    call.window
        .as_ref()
        .map(|w| json(w, "calling window"))
        .transpose()
}

fn active_model(call: &ScheduledCall) -> Result<scheduled_call::ActiveModel, RepositoryError> {
    let (agent_id, scenario) = target_columns(&call.target);
    Ok(scheduled_call::ActiveModel {
        id: Set(call.id.as_uuid()),
        organization_id: Set(call.organization_id.as_uuid()),
        user_id: Set(call.user_id.as_uuid()),
        campaign_id: Set(call.campaign_id.map(|c| c.as_uuid())),
        agent_id: Set(agent_id),
        scenario: Set(scenario),
        phone_number: Set(call.phone_number.as_str().to_owned()),
        customer_name: Set(call.customer_name.clone()),
        scheduled_for: Set(call.scheduled_for),
        due_at: Set(call.due_at),
        calling_window: Set(window_json(call)?),
        max_attempts: Set(i32::try_from(call.retry.max_attempts).unwrap_or(i32::MAX)),
        retry_delay_secs: Set(call.retry.delay.num_seconds()),
        status: Set(call.status.as_str().to_owned()),
        attempts: Set(json(&call.attempts, "attempts")?),
        current_call_id: Set(call.current_call_id().map(|c| c.as_uuid())),
        claimed_by: Set(call.lease.as_ref().map(|l| l.worker.clone())),
        claimed_until: Set(call.lease.as_ref().map(|l| l.until)),
        version: Set(call.version),
        created_at: Set(call.created_at),
        updated_at: Set(call.updated_at),
    })
}

/// The claim statement for `backend`; its parameters are the worker, the lease's end, now, and
/// the limit.
fn claim_statement(
    backend: Backend,
    now: DateTime<Utc>,
    worker: &str,
    until: DateTime<Utc>,
    limit: u32,
) -> Statement {
    let pending = ScheduleStatus::Pending.as_str();
    let dialing = ScheduleStatus::Dialing.as_str();
    match backend {
        Backend::Postgres => Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "UPDATE scheduled_calls \
                 SET status = '{dialing}', claimed_by = $1, claimed_until = $2, \
                     version = version + 1, updated_at = $3 \
                 WHERE id IN ( \
                     SELECT id FROM scheduled_calls \
                     WHERE (status = '{pending}' AND due_at <= $3) \
                        OR (status = '{dialing}' AND claimed_until IS NOT NULL \
                            AND claimed_until < $3) \
                     ORDER BY due_at, id \
                     LIMIT $4 \
                     FOR UPDATE SKIP LOCKED) \
                 RETURNING *"
            ),
            [
                worker.into(),
                until.into(),
                now.into(),
                i64::from(limit).into(),
            ],
        ),
        Backend::Sqlite => Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!(
                "UPDATE scheduled_calls \
                 SET status = '{dialing}', claimed_by = ?, claimed_until = ?, \
                     version = version + 1, updated_at = ? \
                 WHERE id IN ( \
                     SELECT id FROM scheduled_calls \
                     WHERE (status = '{pending}' AND due_at <= ?) \
                        OR (status = '{dialing}' AND claimed_until IS NOT NULL \
                            AND claimed_until < ?) \
                     ORDER BY due_at, id \
                     LIMIT ?) \
                 RETURNING *"
            ),
            [
                worker.into(),
                until.into(),
                now.into(),
                now.into(),
                now.into(),
                i64::from(limit).into(),
            ],
        ),
    }
}

#[async_trait]
impl ScheduleRepository for SeaOrmSchedule {
    async fn insert(&self, calls: &[ScheduledCall]) -> Result<(), RepositoryError> {
        if calls.is_empty() {
            return Ok(());
        }
        let rows = calls
            .iter()
            .map(active_model)
            .collect::<Result<Vec<_>, _>>()?;
        let txn = self.db.connection().begin().await.map_err(unexpected)?;
        // In chunks: PostgreSQL takes at most 65535 parameters per statement.
        for chunk in rows.chunks(500) {
            scheduled_call::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await
                .map_err(unexpected)?;
        }
        txn.commit().await.map_err(unexpected)?;
        Ok(())
    }

    async fn find(
        &self,
        organization: OrganizationId,
        id: ScheduledCallId,
    ) -> Result<Option<ScheduledCall>, RepositoryError> {
        scheduled_call::Entity::find_by_id(id.as_uuid())
            .filter(scheduled_call::Column::OrganizationId.eq(organization.as_uuid()))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(from_row)
            .transpose()
    }

    async fn list(
        &self,
        organization: OrganizationId,
        filter: &ScheduleFilter,
        page: PageRequest,
    ) -> Result<Paged<ScheduledCall>, RepositoryError> {
        let mut query = scheduled_call::Entity::find()
            .filter(scheduled_call::Column::OrganizationId.eq(organization.as_uuid()));
        if let Some(status) = filter.status {
            query = query.filter(scheduled_call::Column::Status.eq(status.as_str()));
        }
        if let Some(campaign) = filter.campaign_id {
            query = query.filter(scheduled_call::Column::CampaignId.eq(campaign.as_uuid()));
        }
        let query = query
            .order_by_asc(scheduled_call::Column::DueAt)
            .order_by_asc(scheduled_call::Column::Id);
        let (rows, total) = fetch_page(query, page, self.db.connection()).await?;
        Ok(Paged {
            items: rows.into_iter().map(from_row).collect::<Result<_, _>>()?,
            total,
        })
    }

    async fn save(
        &self,
        call: &ScheduledCall,
        expected_version: i64,
    ) -> Result<SaveScheduleOutcome, RepositoryError> {
        let (agent_id, scenario) = target_columns(&call.target);
        let updated = scheduled_call::Entity::update_many()
            .col_expr(
                scheduled_call::Column::CampaignId,
                Expr::value(call.campaign_id.map(|c| c.as_uuid())),
            )
            .col_expr(scheduled_call::Column::AgentId, Expr::value(agent_id))
            .col_expr(scheduled_call::Column::Scenario, Expr::value(scenario))
            .col_expr(
                scheduled_call::Column::PhoneNumber,
                Expr::value(call.phone_number.as_str()),
            )
            .col_expr(
                scheduled_call::Column::CustomerName,
                Expr::value(call.customer_name.clone()),
            )
            .col_expr(
                scheduled_call::Column::ScheduledFor,
                Expr::value(call.scheduled_for),
            )
            .col_expr(scheduled_call::Column::DueAt, Expr::value(call.due_at))
            .col_expr(
                scheduled_call::Column::CallingWindow,
                Expr::value(window_json(call)?),
            )
            .col_expr(
                scheduled_call::Column::MaxAttempts,
                Expr::value(i32::try_from(call.retry.max_attempts).unwrap_or(i32::MAX)),
            )
            .col_expr(
                scheduled_call::Column::RetryDelaySecs,
                Expr::value(call.retry.delay.num_seconds()),
            )
            .col_expr(
                scheduled_call::Column::Status,
                Expr::value(call.status.as_str()),
            )
            .col_expr(
                scheduled_call::Column::Attempts,
                Expr::value(json(&call.attempts, "attempts")?),
            )
            .col_expr(
                scheduled_call::Column::CurrentCallId,
                Expr::value(call.current_call_id().map(|c| c.as_uuid())),
            )
            .col_expr(
                scheduled_call::Column::ClaimedBy,
                Expr::value(call.lease.as_ref().map(|l| l.worker.clone())),
            )
            .col_expr(
                scheduled_call::Column::ClaimedUntil,
                Expr::value(call.lease.as_ref().map(|l| l.until)),
            )
            .col_expr(scheduled_call::Column::Version, Expr::value(call.version))
            .col_expr(
                scheduled_call::Column::UpdatedAt,
                Expr::value(call.updated_at),
            )
            .filter(scheduled_call::Column::Id.eq(call.id.as_uuid()))
            .filter(scheduled_call::Column::OrganizationId.eq(call.organization_id.as_uuid()))
            .filter(scheduled_call::Column::Version.eq(expected_version))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(if updated.rows_affected == 1 {
            SaveScheduleOutcome::Saved
        } else {
            SaveScheduleOutcome::Conflict
        })
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        worker: &str,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ScheduledCall>, RepositoryError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let statement = claim_statement(self.db.backend(), now, worker, until, limit);
        let mut rows = scheduled_call::Entity::find()
            .from_raw_sql(statement)
            .all(self.db.connection())
            .await
            .map_err(unexpected)?;
        // RETURNING keeps no order of its own.
        rows.sort_by(|a, b| a.due_at.cmp(&b.due_at).then(a.id.cmp(&b.id)));
        rows.into_iter().map(from_row).collect()
    }

    async fn finished(
        &self,
        limit: u32,
    ) -> Result<Vec<(ScheduledCall, CallStatus)>, RepositoryError> {
        let ended = Query::select()
            .column(call::Column::Id)
            .from(call::Entity)
            .and_where(call::Column::Status.is_in(FINAL_CALL_STATUSES.map(CallStatus::as_str)))
            .to_owned();
        let rows = scheduled_call::Entity::find()
            .filter(scheduled_call::Column::Status.eq(ScheduleStatus::Dialing.as_str()))
            .filter(scheduled_call::Column::ClaimedUntil.is_null())
            .filter(scheduled_call::Column::CurrentCallId.in_subquery(ended))
            .order_by_asc(scheduled_call::Column::DueAt)
            .limit(u64::from(limit))
            .all(self.db.connection())
            .await
            .map_err(unexpected)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let call_ids: Vec<uuid::Uuid> = rows.iter().filter_map(|r| r.current_call_id).collect();
        let statuses: Vec<(uuid::Uuid, String)> = call::Entity::find()
            .select_only()
            .column(call::Column::Id)
            .column(call::Column::Status)
            .filter(call::Column::Id.is_in(call_ids))
            .into_tuple()
            .all(self.db.connection())
            .await
            .map_err(unexpected)?;
        let mut finished = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(call_id) = row.current_call_id else {
                continue;
            };
            let Some((_, status)) = statuses.iter().find(|(id, _)| *id == call_id) else {
                continue;
            };
            let status = CallStatus::parse(status).map_err(|e| {
                corrupt(
                    row.id,
                    &format!("call {}'s status", CallId::from_uuid(call_id)),
                    e,
                )
            })?;
            finished.push((from_row(row)?, status));
        }
        Ok(finished)
    }
}
