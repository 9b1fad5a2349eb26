//! `StoredTranscriptRepository` on sea-orm: organisations' copies of Voice Intelligence
//! transcripts, and the index that lists them together with the organisation's own calls.

use async_trait::async_trait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Statement, Value,
};
use switchboard_domain::call::CallDirection;
use switchboard_domain::ids::{CallId, OrganizationId, StoredTranscriptId, UserId};
use switchboard_domain::page::{PageRequest, Paged};
use switchboard_domain::ports::{
    RepositoryError, StoreOutcome, StoredTranscriptRepository, TranscriptEntry,
};
use switchboard_domain::transcript::{
    StoredTranscript, TranscriptFacts, TranscriptFilter, TranscriptLabels, TranscriptSid,
};

use crate::Database;
use crate::accounts::unexpected;
use crate::entities::stored_twilio_transcript as row;
use crate::paging::fetch_page;

/// Stored Twilio transcripts in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmTranscripts {
    db: Database,
}

impl SeaOrmTranscripts {
    /// An adapter over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn broken(what: &str, id: uuid::Uuid, error: impl std::fmt::Display) -> RepositoryError {
    RepositoryError(anyhow::anyhow!(
        "stored transcript {id} has an unreadable {what}: {error}"
    ))
}

fn transcript_from_row(row: row::Model) -> Result<StoredTranscript, RepositoryError> {
    let sid = TranscriptSid::parse(&row.transcript_sid).map_err(|e| broken("sid", row.id, e))?;
    let sentences = match row.sentences {
        serde_json::Value::Array(sentences) => sentences,
        other => return Err(broken("sentence list", row.id, other)),
    };
    let call_direction = row
        .call_direction
        .as_deref()
        .map(CallDirection::parse)
        .transpose()
        .map_err(|e| broken("call direction", row.id, e))?;
    Ok(StoredTranscript {
        id: StoredTranscriptId::from_uuid(row.id),
        organization_id: OrganizationId::from_uuid(row.organization_id),
        user_id: UserId::from_uuid(row.user_id),
        sid,
        resource: row.transcript,
        sentences,
        facts: TranscriptFacts {
            status: row.status,
            date_created: row.date_created,
            date_updated: row.date_updated,
            duration_secs: row.duration,
            language_code: row.language_code,
            source_sid: row.source_sid,
        },
        labels: TranscriptLabels {
            scenario_name: row.scenario_name,
            call_direction,
        },
        stored_at: row.stored_at,
    })
}

fn row_of(transcript: &StoredTranscript) -> row::ActiveModel {
    let facts = &transcript.facts;
    row::ActiveModel {
        id: Set(transcript.id.as_uuid()),
        organization_id: Set(transcript.organization_id.as_uuid()),
        user_id: Set(transcript.user_id.as_uuid()),
        transcript_sid: Set(transcript.sid.to_string()),
        status: Set(facts.status.clone()),
        date_created: Set(facts.date_created),
        date_updated: Set(facts.date_updated),
        duration: Set(facts.duration_secs),
        language_code: Set(facts.language_code.clone()),
        source_sid: Set(facts.source_sid.clone()),
        scenario_name: Set(transcript.labels.scenario_name.clone()),
        call_direction: Set(transcript
            .labels
            .call_direction
            .map(|d| d.as_str().to_owned())),
        call_date: Set(transcript.call_date()),
        transcript: Set(transcript.resource.clone()),
        sentences: Set(serde_json::Value::Array(transcript.sentences.clone())),
        sentence_count: Set(i32::try_from(transcript.sentences.len()).unwrap_or(i32::MAX)),
        stored_at: Set(transcript.stored_at),
    }
}

/// A statement's text and its bound values, numbered as the backend wants them.
struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            text: String::new(),
            values: Vec::new(),
        }
    }

    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => {
                let n = self.values.len();
                self.text.push_str(&format!("${n}"));
            }
            _ => self.text.push('?'),
        }
        self
    }

    fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// The `WHERE` of one side of the index: the organisation and the filter's narrowing, on the
/// side's own direction and scenario columns.
fn narrow(
    sql: &mut Sql,
    organization: OrganizationId,
    filter: &TranscriptFilter,
    direction_column: &str,
    scenario_column: &str,
) {
    sql.push(" WHERE organization_id = ")
        .bind(organization.as_uuid());
    if let Some(direction) = filter.direction {
        sql.push(&format!(" AND {direction_column} = "))
            .bind(direction.as_str());
    }
    if let Some(scenario) = &filter.scenario_name {
        sql.push(&format!(" AND LOWER({scenario_column}) = LOWER("))
            .bind(scenario.as_str())
            .push(")");
    }
}

#[async_trait]
impl StoredTranscriptRepository for SeaOrmTranscripts {
    async fn store(&self, transcript: &StoredTranscript) -> Result<StoreOutcome, RepositoryError> {
        // `ON CONFLICT DO NOTHING` on the (organisation, sid) unique index: a concurrent store
        // that got there first leaves this one inserting nothing, and no error to tell apart.
        let inserted = row::Entity::insert(row_of(transcript))
            .on_conflict(
                OnConflict::columns([row::Column::OrganizationId, row::Column::TranscriptSid])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(self.db.connection())
            .await
            .map_err(unexpected)?;
        if inserted == 1 {
            return Ok(StoreOutcome::Stored);
        }
        let existing = self
            .find(transcript.organization_id, &transcript.sid)
            .await?
            .ok_or_else(|| {
                RepositoryError(anyhow::anyhow!(
                    "transcript {} was neither stored nor found",
                    transcript.sid
                ))
            })?;
        Ok(StoreOutcome::Existing(Box::new(existing)))
    }

    async fn find(
        &self,
        organization: OrganizationId,
        sid: &TranscriptSid,
    ) -> Result<Option<StoredTranscript>, RepositoryError> {
        row::Entity::find()
            .filter(row::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(row::Column::TranscriptSid.eq(sid.as_str()))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(transcript_from_row)
            .transpose()
    }

    async fn find_many(
        &self,
        organization: OrganizationId,
        ids: &[StoredTranscriptId],
    ) -> Result<Vec<StoredTranscript>, RepositoryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        row::Entity::find()
            .filter(row::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(row::Column::Id.is_in(ids.iter().map(StoredTranscriptId::as_uuid)))
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(transcript_from_row)
            .collect()
    }

    async fn list(
        &self,
        organization: OrganizationId,
        page: PageRequest,
    ) -> Result<Paged<StoredTranscript>, RepositoryError> {
        let query = row::Entity::find()
            .filter(row::Column::OrganizationId.eq(organization.as_uuid()))
            .order_by_desc(row::Column::StoredAt)
            .order_by_desc(row::Column::Id);
        let (rows, total) = fetch_page(query, page, self.db.connection()).await?;
        Ok(Paged {
            items: rows
                .into_iter()
                .map(transcript_from_row)
                .collect::<Result<_, _>>()?,
            total,
        })
    }

    async fn index(
        &self,
        organization: OrganizationId,
        filter: &TranscriptFilter,
        skip: u64,
        limit: u64,
    ) -> Result<Vec<TranscriptEntry>, RepositoryError> {
        let connection = self.db.connection();
        // One ordered, paged list over two tables: a UNION ALL the database sorts and pages,
        // written out because both backends must read the same compound query.
        let mut sql = Sql::new(connection.get_database_backend());
        sql.push(
            "SELECT kind, id, at FROM (SELECT 'call' AS kind, id, started_at AS at FROM calls",
        );
        narrow(&mut sql, organization, filter, "direction", "scenario");
        sql.push(
            " AND EXISTS (SELECT 1 FROM call_turns WHERE call_turns.call_id = calls.id) \
             UNION ALL SELECT 'stored' AS kind, id, call_date AS at \
             FROM stored_twilio_transcripts",
        );
        narrow(
            &mut sql,
            organization,
            filter,
            "call_direction",
            "scenario_name",
        );
        sql.push(") AS entries ORDER BY at DESC, id DESC LIMIT ")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .push(" OFFSET ")
            .bind(i64::try_from(skip).unwrap_or(i64::MAX));
        let rows = connection
            .query_all(sql.statement())
            .await
            .map_err(unexpected)?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("", "kind").map_err(unexpected)?;
                let id: uuid::Uuid = row.try_get("", "id").map_err(unexpected)?;
                Ok(match kind.as_str() {
                    "call" => TranscriptEntry::Call(CallId::from_uuid(id)),
                    _ => TranscriptEntry::Stored(StoredTranscriptId::from_uuid(id)),
                })
            })
            .collect()
    }
}
