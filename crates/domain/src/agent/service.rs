//! The agent use cases: create, read, update, delete, pause and resume, within one organisation.

use std::sync::Arc;

use super::config::{AgentStats, AgentStatus};
use super::events::{AgentChange, agent_event};
use super::input::AgentInput;
use super::{Agent, AgentConfig};
use crate::events::EventPublisher;
use crate::ids::{AgentId, OrganizationId};
use crate::knowledge::{DocumentId, DocumentRepository};
use crate::page::{PageRequest, Paged};
use crate::ports::{AgentRepository, CallRepository, Clock, RepositoryError};
use crate::validation::ValidationErrors;

/// Why an agent operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No such agent in the caller's organisation (it may exist in another).
    #[error("agent not found")]
    NotFound,
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("agent {name:?} is {} and takes no new calls; resume it first", status.as_str())]
    NotAcceptingCalls { name: String, status: AgentStatus },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RepositoryError> for AgentError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}

/// Agents of an organisation.
#[derive(Clone)]
pub struct AgentService {
    agents: Arc<dyn AgentRepository>,
    documents: Arc<dyn DocumentRepository>,
    calls: Arc<dyn CallRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventPublisher>,
}

impl AgentService {
    /// Wires the service to its ports; `events` is told every change (`agent.updated`).
    #[must_use]
    pub fn new(
        agents: Arc<dyn AgentRepository>,
        documents: Arc<dyn DocumentRepository>,
        calls: Arc<dyn CallRepository>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventPublisher>,
    ) -> Self {
        Self {
            agents,
            documents,
            calls,
            clock,
            events,
        }
    }

    fn tell(&self, change: AgentChange, agent: &Agent) {
        self.events
            .publish(agent_event(change, agent, self.clock.now()));
    }

    /// Each agent's figures from its calls, in the order given; zeros for agents without calls.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn stats(
        &self,
        organization: OrganizationId,
        agents: &[AgentId],
    ) -> Result<Vec<AgentStats>, AgentError> {
        let computed = self.calls.agent_stats(organization, agents).await?;
        Ok(agents
            .iter()
            .map(|id| {
                computed
                    .iter()
                    .find(|(agent, _)| agent == id)
                    .map(|(_, stats)| *stats)
                    .unwrap_or_default()
            })
            .collect())
    }

    /// Creates an agent; `status` defaults to active.
    ///
    /// # Errors
    /// `Invalid` naming every bad field.
    pub async fn create(
        &self,
        organization: OrganizationId,
        input: AgentInput,
        status: Option<&str>,
    ) -> Result<Agent, AgentError> {
        let status = parse_status(status);
        let config = input.into_new_config();
        let (config, status) = combine(config, status)?;
        self.check_documents(organization, &config, &[]).await?;
        let now = self.clock.now();
        let agent = Agent {
            id: AgentId::new(),
            organization_id: organization,
            config,
            status: status.unwrap_or(AgentStatus::Active),
            created_at: now,
            updated_at: now,
        };
        self.agents.insert(&agent).await?;
        self.tell(AgentChange::Created, &agent);
        Ok(agent)
    }

    /// One page of the organisation's agents, newest first, optionally of one status.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn list(
        &self,
        organization: OrganizationId,
        status: Option<AgentStatus>,
        page: PageRequest,
    ) -> Result<Paged<Agent>, AgentError> {
        Ok(self.agents.list(organization, status, page).await?)
    }

    /// One agent.
    ///
    /// # Errors
    /// `NotFound` unless the agent exists in this organisation and is not deleted.
    pub async fn get(
        &self,
        organization: OrganizationId,
        id: AgentId,
    ) -> Result<Agent, AgentError> {
        self.agents
            .find(organization, id)
            .await?
            .ok_or(AgentError::NotFound)
    }

    /// Changes the fields that were sent.
    ///
    /// # Errors
    /// `NotFound`, or `Invalid` naming every bad field.
    pub async fn update(
        &self,
        organization: OrganizationId,
        id: AgentId,
        input: AgentInput,
        status: Option<&str>,
    ) -> Result<Agent, AgentError> {
        let mut agent = self.get(organization, id).await?;
        let (config, status) = combine(input.apply_to(&agent.config), parse_status(status))?;
        self.check_documents(organization, &config, &agent.config.knowledge_document_ids)
            .await?;
        agent.config = config;
        if let Some(status) = status {
            agent.status = status;
        }
        agent.updated_at = self.clock.now();
        self.save(&agent).await?;
        self.tell(AgentChange::Updated, &agent);
        Ok(agent)
    }

    /// Pauses (no new calls) or resumes an agent.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn set_status(
        &self,
        organization: OrganizationId,
        id: AgentId,
        status: AgentStatus,
    ) -> Result<Agent, AgentError> {
        let mut agent = self.get(organization, id).await?;
        if agent.status != status {
            agent.status = status;
            agent.updated_at = self.clock.now();
            self.save(&agent).await?;
            let change = match status {
                AgentStatus::Active => AgentChange::Resumed,
                AgentStatus::Paused => AgentChange::Paused,
                AgentStatus::Inactive => AgentChange::Deactivated,
            };
            self.tell(change, &agent);
        }
        Ok(agent)
    }

    /// Replaces the agent's call flow (`Value::Null` removes it).
    ///
    /// # Errors
    /// `NotFound`, or `Invalid` listing every problem of the graph, with fields relative to the
    /// flow.
    pub async fn put_flow(
        &self,
        organization: OrganizationId,
        id: AgentId,
        flow: serde_json::Value,
    ) -> Result<Agent, AgentError> {
        let mut agent = self.get(organization, id).await?;
        agent.config.call_flow = match flow {
            serde_json::Value::Null => None,
            flow => Some(super::flow_check::check(flow).map_err(AgentError::Invalid)?),
        };
        agent.updated_at = self.clock.now();
        self.save(&agent).await?;
        self.tell(AgentChange::FlowChanged, &agent);
        Ok(agent)
    }

    /// Deletes an agent. Its past calls stay readable: the record is kept, hidden.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn delete(
        &self,
        organization: OrganizationId,
        id: AgentId,
    ) -> Result<(), AgentError> {
        // Read first so the event can name the agent; the delete decides whether it happened.
        let mut agent = self.get(organization, id).await?;
        let now = self.clock.now();
        if self.agents.delete(organization, id, now).await? {
            agent.updated_at = now;
            self.tell(AgentChange::Deleted, &agent);
            Ok(())
        } else {
            Err(AgentError::NotFound)
        }
    }

    /// Every newly attached knowledge document must be the organisation's; ids already attached
    /// are kept as they are.
    async fn check_documents(
        &self,
        organization: OrganizationId,
        config: &AgentConfig,
        already: &[uuid::Uuid],
    ) -> Result<(), AgentError> {
        let new: Vec<DocumentId> = config
            .knowledge_document_ids
            .iter()
            .filter(|id| !already.contains(id))
            .map(|id| DocumentId::from_uuid(*id))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let found = self.documents.find_many(organization, &new).await?;
        let mut errors = ValidationErrors::new();
        for (index, id) in config.knowledge_document_ids.iter().enumerate() {
            let id = DocumentId::from_uuid(*id);
            if new.contains(&id) && !found.iter().any(|d| d.id == id) {
                errors.add(
                    format!("knowledge_document_ids[{index}]"),
                    "no document with this id in your organisation",
                );
            }
        }
        errors.into_result(()).map_err(AgentError::Invalid)
    }

    async fn save(&self, agent: &Agent) -> Result<(), AgentError> {
        if self.agents.update(agent).await? {
            Ok(())
        } else {
            Err(AgentError::NotFound)
        }
    }
}

fn parse_status(status: Option<&str>) -> Result<Option<AgentStatus>, String> {
    status.map(AgentStatus::parse).transpose()
}

/// Merges the configuration's and the status's errors into one answer.
fn combine(
    config: Result<AgentConfig, ValidationErrors>,
    status: Result<Option<AgentStatus>, String>,
) -> Result<(AgentConfig, Option<AgentStatus>), AgentError> {
    match (config, status) {
        (Ok(config), Ok(status)) => Ok((config, status)),
        (config, status) => {
            let mut errors = config.err().unwrap_or_default();
            if let Err(message) = status {
                errors.add("status", message);
            }
            Err(AgentError::Invalid(errors))
        }
    }
}
