//! The guided set-up of a new organisation: six steps (company, agent, knowledge, voice, channels,
//! deploy) that store the organisation's profile and configure its first agent, the onboarding
//! agent, on which every later step acts. Any step can be answered again to change its answer,
//! and the status tells which steps are done and which comes next.
//!
//! The onboarding agent is created `inactive` (configured but taking no calls) and becomes
//! `active` at the deploy step. If it is deleted later, the steps that configured it count as not
//! done, and the agent step creates a new one.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::{DisplayName, Organization, TimeZone};
use crate::agent::{Agent, AgentError, AgentInput, AgentService, AgentStatus, VoiceInput};
use crate::ids::{AgentId, OrganizationId};
use crate::phone_number::{E164, PhoneNumberError, PhoneNumberInput, PhoneNumberService};
use crate::ports::{AccountRepository, Clock, OnboardingRepository, RepositoryError};
use crate::validation::{ValidationErrors, is_http_url};

const MAX_SHORT_TEXT_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 5000;
const MAX_PERSONALITY_CHARS: usize = 1000;

/// One step of the guided set-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnboardingStep {
    Company,
    Agent,
    Knowledge,
    Voice,
    Channels,
    Deploy,
}

impl OnboardingStep {
    /// Every step, in the order a client walks them.
    pub const ALL: [Self; 6] = [
        Self::Company,
        Self::Agent,
        Self::Knowledge,
        Self::Voice,
        Self::Channels,
        Self::Deploy,
    ];

    /// The step's name, as in its route.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Company => "company",
            Self::Agent => "agent",
            Self::Knowledge => "knowledge",
            Self::Voice => "voice",
            Self::Channels => "channels",
            Self::Deploy => "deploy",
        }
    }

    /// The steps that must be done before this one: every step after the agent's acts on the
    /// onboarding agent, and going live also needs the organisation's profile.
    #[must_use]
    pub const fn requires(self) -> &'static [Self] {
        match self {
            Self::Company | Self::Agent => &[],
            Self::Knowledge | Self::Voice | Self::Channels => &[Self::Agent],
            Self::Deploy => &[Self::Company, Self::Agent],
        }
    }
}

impl fmt::Display for OnboardingStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the company step keeps besides the organisation's name and time zone, which are the
/// organisation's own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyProfile {
    pub industry: Option<String>,
    /// An `http(s)` URL.
    pub website: Option<String>,
    pub description: Option<String>,
    /// Free text such as `1-10` or `51-200`.
    pub size: Option<String>,
}

/// How the agent should come across, chosen with its voice. It is kept as the person's answer;
/// the agent's system prompt stays exactly as they wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Personality {
    /// For example `friendly and patient`.
    pub personality: Option<String>,
    /// For example `professional`.
    pub tone: Option<String>,
}

/// Where the onboarding agent answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    pub phone: bool,
    pub web: bool,
    /// The number the agent answers, when one was given; it is one of the organisation's numbers,
    /// assigned to the agent.
    pub phone_number: Option<E164>,
}

/// An organisation's progress as stored: each step's answer and when the step was done.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Onboarding {
    pub profile: Option<CompanyProfile>,
    pub agent_id: Option<AgentId>,
    pub personality: Option<Personality>,
    pub channels: Option<Channels>,
    /// How many documents the knowledge step added.
    pub knowledge_documents: u64,
    pub company_completed_at: Option<DateTime<Utc>>,
    pub agent_completed_at: Option<DateTime<Utc>>,
    pub knowledge_completed_at: Option<DateTime<Utc>>,
    pub voice_completed_at: Option<DateTime<Utc>>,
    pub channels_completed_at: Option<DateTime<Utc>>,
    pub deployed_at: Option<DateTime<Utc>>,
}

impl Onboarding {
    /// When `step` was last answered, if ever.
    #[must_use]
    pub const fn completed_at(&self, step: OnboardingStep) -> Option<DateTime<Utc>> {
        match step {
            OnboardingStep::Company => self.company_completed_at,
            OnboardingStep::Agent => self.agent_completed_at,
            OnboardingStep::Knowledge => self.knowledge_completed_at,
            OnboardingStep::Voice => self.voice_completed_at,
            OnboardingStep::Channels => self.channels_completed_at,
            OnboardingStep::Deploy => self.deployed_at,
        }
    }
}

/// One step's answer, as the repository stores it. The agent step is recorded apart, by
/// [`OnboardingRepository::replace_agent`], because creating the first agent must happen once.
#[derive(Clone, Debug, PartialEq)]
pub enum StepAnswer {
    Company(CompanyProfile),
    Knowledge { documents: u64 },
    Voice(Personality),
    Channels(Channels),
    Deployed,
}

/// Where an organisation stands in the guided set-up.
#[derive(Clone, Debug, PartialEq)]
pub struct OnboardingStatus {
    pub organization: Organization,
    pub record: Onboarding,
    /// The onboarding agent, unless none was created yet or it has been deleted since.
    pub agent: Option<Agent>,
}

impl OnboardingStatus {
    /// Whether `step` is done. The steps after the agent's count only while the agent they
    /// configured still exists.
    #[must_use]
    pub fn is_done(&self, step: OnboardingStep) -> bool {
        let answered = self.record.completed_at(step).is_some();
        match step {
            OnboardingStep::Company => answered,
            _ => answered && self.agent.is_some(),
        }
    }

    /// The steps done, in walking order.
    #[must_use]
    pub fn completed_steps(&self) -> Vec<OnboardingStep> {
        OnboardingStep::ALL
            .into_iter()
            .filter(|step| self.is_done(*step))
            .collect()
    }

    /// The first step not done yet; `None` once every step is done.
    #[must_use]
    pub fn next_step(&self) -> Option<OnboardingStep> {
        OnboardingStep::ALL
            .into_iter()
            .find(|step| !self.is_done(*step))
    }

    /// Whether all six steps are done.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.next_step().is_none()
    }

    /// The steps `step` needs that are not done yet.
    #[must_use]
    pub fn missing_for(&self, step: OnboardingStep) -> Vec<OnboardingStep> {
        step.requires()
            .iter()
            .copied()
            .filter(|required| !self.is_done(*required))
            .collect()
    }
}

/// The company step's fields as sent.
#[derive(Clone, Debug, Default)]
pub struct CompanyInput {
    pub name: Option<String>,
    pub industry: Option<String>,
    pub website: Option<String>,
    pub description: Option<String>,
    pub size: Option<String>,
    /// An IANA zone; when absent the organisation keeps its zone.
    pub time_zone: Option<String>,
}

/// A valid company step.
#[derive(Clone, Debug, PartialEq)]
struct CompanyAnswer {
    name: DisplayName,
    time_zone: Option<TimeZone>,
    profile: CompanyProfile,
}

/// A trimmed optional text of at most `max` characters; empty means not given.
fn optional_text(
    field: &str,
    value: Option<String>,
    max: usize,
    errors: &mut ValidationErrors,
) -> Option<String> {
    let value = value?;
    let value = value.trim();
    if value.chars().count() > max {
        errors.add(field, format!("must be at most {max} characters"));
    }
    (!value.is_empty()).then(|| value.to_owned())
}

/// A website as people type it: `acme.com` is taken to mean `https://acme.com`.
fn website(raw: Option<String>, errors: &mut ValidationErrors) -> Option<String> {
    let raw = optional_text("website", raw, 2000, errors)?;
    let url = if raw.contains("://") {
        raw
    } else {
        format!("https://{raw}")
    };
    let host = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?', '#']).next())
        .unwrap_or_default();
    if is_http_url(&url) && is_domain_with_port(host) {
        Some(url)
    } else {
        errors.add(
            "website",
            "must be an http(s) URL such as https://example.com",
        );
        None
    }
}

/// `example.com` or `shop.example.com:8443`: dotted labels of letters, digits and hyphens, and
/// an optional port. This keeps out what only looks like a site once `https://` is put in front,
/// such as `mailto:someone@example.com`.
fn is_domain_with_port(host: &str) -> bool {
    let (domain, port) = host.split_once(':').unwrap_or((host, "1"));
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && !port.is_empty()
        && port.len() <= 5
        && port.chars().all(|c| c.is_ascii_digit())
}

impl CompanyInput {
    /// The organisation's name and zone and the rest of its profile, naming every bad field.
    fn parse(self) -> Result<CompanyAnswer, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = match self.name {
            Some(name) => errors.check("name", DisplayName::parse(&name)),
            None => {
                errors.add("name", "is required");
                None
            }
        };
        let industry = optional_text("industry", self.industry, MAX_SHORT_TEXT_CHARS, &mut errors);
        let website = website(self.website, &mut errors);
        let description = optional_text(
            "description",
            self.description,
            MAX_DESCRIPTION_CHARS,
            &mut errors,
        );
        let size = optional_text("size", self.size, MAX_SHORT_TEXT_CHARS, &mut errors);
        let time_zone = self
            .time_zone
            .filter(|zone| !zone.trim().is_empty())
            .and_then(|zone| errors.check("time_zone", TimeZone::parse(&zone)));
        match name {
            Some(name) if errors.is_empty() => Ok(CompanyAnswer {
                name,
                time_zone,
                profile: CompanyProfile {
                    industry,
                    website,
                    description,
                    size,
                },
            }),
            _ => Err(errors),
        }
    }
}

/// The voice step's fields as sent: the agent's voice (absent fields keep their value) and how it
/// should come across.
#[derive(Clone, Debug, Default)]
pub struct VoiceStepInput {
    pub voice: VoiceInput,
    pub personality: Option<String>,
    pub tone: Option<String>,
}

/// How the agent should come across, trimmed and bounded.
fn personality(
    personality: Option<String>,
    tone: Option<String>,
    errors: &mut ValidationErrors,
) -> Personality {
    Personality {
        personality: optional_text("personality", personality, MAX_PERSONALITY_CHARS, errors),
        tone: optional_text("tone", tone, MAX_SHORT_TEXT_CHARS, errors),
    }
}

/// The channels step's fields as sent.
#[derive(Clone, Debug, Default)]
pub struct ChannelsInput {
    /// Answer phone calls; defaults to whether a number is given.
    pub phone: Option<bool>,
    /// Answer in the browser; defaults to no.
    pub web: Option<bool>,
    /// A number for the agent to answer, E.164.
    pub phone_number: Option<String>,
}

impl ChannelsInput {
    /// Valid channels: at least one, and a number only with the phone channel.
    fn parse(self) -> Result<Channels, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let sent = self.phone_number.filter(|n| !n.trim().is_empty());
        // Judged by what was sent, so a mistyped number reports only the number.
        let phone = self.phone.unwrap_or(sent.is_some());
        let number = sent.and_then(|n| errors.check("phone_number", E164::parse(&n)));
        let web = self.web.unwrap_or(false);
        if !phone && number.is_some() {
            errors.add(
                "phone_number",
                "is only used by the phone channel; send phone: true or leave the number out",
            );
        }
        if !phone && !web {
            errors.add(
                "channels",
                "choose at least one channel: phone, web or both",
            );
        }
        errors.into_result(Channels {
            phone,
            web,
            phone_number: number,
        })
    }
}

/// Why a step was refused.
#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// The step acts on something an earlier step sets up.
    #[error("complete the {} before the {step} step", step_list(missing))]
    StepsMissing {
        step: OnboardingStep,
        missing: Vec<OnboardingStep>,
    },
    /// The number belongs to another organisation.
    #[error("this phone number is registered to another organisation")]
    NumberTaken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// `agent step`, `company and agent steps`.
fn step_list(steps: &[OnboardingStep]) -> String {
    let names: Vec<&str> = steps.iter().map(|s| s.as_str()).collect();
    match names.as_slice() {
        [] => "earlier steps".to_owned(),
        [one] => format!("{one} step"),
        [rest @ .., last] => format!("{} and {last} steps", rest.join(", ")),
    }
}

impl From<RepositoryError> for OnboardingError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}

/// An agent failure during `step`: bad fields stay bad fields, and an agent that vanished means
/// the agent step has to be done (again).
fn agent_error(step: OnboardingStep, e: AgentError) -> OnboardingError {
    match e {
        AgentError::Invalid(errors) => OnboardingError::Invalid(errors),
        AgentError::NotFound => OnboardingError::StepsMissing {
            step,
            missing: vec![OnboardingStep::Agent],
        },
        AgentError::NotAcceptingCalls { .. } => OnboardingError::Unexpected(e.into()),
        AgentError::Unexpected(cause) => OnboardingError::Unexpected(cause),
    }
}

/// A phone-number failure of the channels step, with fields named as that step names them.
fn number_error(e: PhoneNumberError) -> OnboardingError {
    match e {
        PhoneNumberError::NumberTaken => OnboardingError::NumberTaken,
        PhoneNumberError::Invalid(errors) => {
            let mut renamed = ValidationErrors::new();
            for error in errors.errors() {
                let field = if error.field == "number" {
                    "phone_number"
                } else {
                    error.field.as_str()
                };
                renamed.add(field, error.message.clone());
            }
            OnboardingError::Invalid(renamed)
        }
        PhoneNumberError::NotFound => {
            OnboardingError::Unexpected(anyhow::anyhow!("a phone number vanished while assigned"))
        }
        PhoneNumberError::Unexpected(cause) => OnboardingError::Unexpected(cause),
    }
}

/// The guided set-up of an organisation.
#[derive(Clone)]
pub struct OnboardingService {
    onboarding: Arc<dyn OnboardingRepository>,
    accounts: Arc<dyn AccountRepository>,
    agents: AgentService,
    phone_numbers: PhoneNumberService,
    clock: Arc<dyn Clock>,
}

impl OnboardingService {
    /// Wires the service to its ports and the services it drives.
    #[must_use]
    pub fn new(
        onboarding: Arc<dyn OnboardingRepository>,
        accounts: Arc<dyn AccountRepository>,
        agents: AgentService,
        phone_numbers: PhoneNumberService,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            onboarding,
            accounts,
            agents,
            phone_numbers,
            clock,
        }
    }

    /// Where the organisation stands.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn status(
        &self,
        organization: OrganizationId,
    ) -> Result<OnboardingStatus, OnboardingError> {
        let org = self
            .accounts
            .find_organization(organization)
            .await?
            .ok_or_else(|| anyhow::anyhow!("organisation {organization} does not exist"))?;
        let record = self
            .onboarding
            .find(organization)
            .await?
            .unwrap_or_default();
        let agent = match record.agent_id {
            Some(id) => self.live_agent(organization, id).await?,
            None => None,
        };
        Ok(OnboardingStatus {
            organization: org,
            record,
            agent,
        })
    }

    /// The company step: renames the organisation, sets its time zone when one is given, and
    /// stores the rest of the profile (replacing an earlier answer).
    ///
    /// # Errors
    /// `Invalid` naming every bad field.
    pub async fn company(
        &self,
        organization: OrganizationId,
        input: CompanyInput,
    ) -> Result<OnboardingStatus, OnboardingError> {
        let answer = input.parse().map_err(OnboardingError::Invalid)?;
        let now = self.clock.now();
        let updated = self
            .accounts
            .update_organization_profile(organization, &answer.name, answer.time_zone.as_ref(), now)
            .await?;
        if !updated {
            return Err(anyhow::anyhow!("organisation {organization} does not exist").into());
        }
        self.onboarding
            .record(organization, StepAnswer::Company(answer.profile), now)
            .await?;
        self.status(organization).await
    }

    /// The agent step: creates the onboarding agent (inactive until the deploy step) or, when it
    /// exists, changes the fields that were sent.
    ///
    /// # Errors
    /// `Invalid` naming every bad field (a new agent needs a name).
    pub async fn agent(
        &self,
        organization: OrganizationId,
        input: AgentInput,
    ) -> Result<OnboardingStatus, OnboardingError> {
        let step = OnboardingStep::Agent;
        let (recorded, live) = self.recorded_agent(organization).await?;
        if let Some(agent) = live {
            self.agents
                .update(organization, agent.id, input, None)
                .await
                .map_err(|e| agent_error(step, e))?;
            return self.status(organization).await;
        }
        let created = self
            .agents
            .create(
                organization,
                input.clone(),
                Some(AgentStatus::Inactive.as_str()),
            )
            .await
            .map_err(|e| agent_error(step, e))?;
        let won = self
            .onboarding
            .replace_agent(organization, recorded, created.id, self.clock.now())
            .await?;
        if !won {
            // A concurrent request recorded its agent first: keep that one, so the organisation
            // ends up with one onboarding agent, and give it this answer.
            self.agents
                .delete(organization, created.id)
                .await
                .map_err(|e| agent_error(step, e))?;
            let winner = self
                .onboarding
                .find(organization)
                .await?
                .and_then(|r| r.agent_id)
                .ok_or_else(|| anyhow::anyhow!("the onboarding agent vanished while recorded"))?;
            self.agents
                .update(organization, winner, input, None)
                .await
                .map_err(|e| agent_error(step, e))?;
        }
        self.status(organization).await
    }

    /// The voice step: sets the onboarding agent's voice (fields not sent keep their value) and
    /// stores how it should come across.
    ///
    /// # Errors
    /// `StepsMissing` before the agent step; `Invalid` naming every bad field.
    pub async fn voice(
        &self,
        organization: OrganizationId,
        input: VoiceStepInput,
    ) -> Result<OnboardingStatus, OnboardingError> {
        let step = OnboardingStep::Voice;
        let agent = self.require_agent(organization, step).await?;
        let mut errors = ValidationErrors::new();
        let personality = personality(input.personality, input.tone, &mut errors);
        let voice_only = AgentInput {
            voice: input.voice,
            ..AgentInput::default()
        };
        // Checked before anything is stored, so that one answer names the voice's and the
        // personality's problems together.
        if let Err(voice_errors) = voice_only.clone().apply_to(&agent.config) {
            for e in voice_errors.errors() {
                // This step sends the voice's fields flat: `speed`, not `voice.speed`.
                let field = e.field.strip_prefix("voice.").unwrap_or(&e.field);
                errors.add(field, e.message.clone());
            }
        }
        if !errors.is_empty() {
            return Err(OnboardingError::Invalid(errors));
        }
        self.agents
            .update(organization, agent.id, voice_only, None)
            .await
            .map_err(|e| agent_error(step, e))?;
        self.onboarding
            .record(
                organization,
                StepAnswer::Voice(personality),
                self.clock.now(),
            )
            .await?;
        self.status(organization).await
    }

    /// The channels step: stores where the agent answers and, with a phone number, makes it the
    /// organisation's number answered by the onboarding agent (adding it, or reassigning it when
    /// the organisation has it already).
    ///
    /// # Errors
    /// `Invalid` naming every bad field; `StepsMissing` before the agent step; `NumberTaken` when
    /// another organisation has the number.
    pub async fn channels(
        &self,
        organization: OrganizationId,
        input: ChannelsInput,
    ) -> Result<OnboardingStatus, OnboardingError> {
        let step = OnboardingStep::Channels;
        let channels = input.parse().map_err(OnboardingError::Invalid)?;
        let agent = self.require_agent(organization, step).await?;
        if let Some(number) = &channels.phone_number {
            self.assign_number(organization, number, agent.id).await?;
        }
        self.onboarding
            .record(
                organization,
                StepAnswer::Channels(channels),
                self.clock.now(),
            )
            .await?;
        self.status(organization).await
    }

    /// The knowledge step's record, for the step that uploads the documents: marks the step done
    /// with the number of documents it added to the onboarding agent.
    ///
    /// # Errors
    /// `StepsMissing` before the agent step.
    pub async fn record_knowledge(
        &self,
        organization: OrganizationId,
        documents: u64,
    ) -> Result<OnboardingStatus, OnboardingError> {
        self.require_agent(organization, OnboardingStep::Knowledge)
            .await?;
        self.onboarding
            .record(
                organization,
                StepAnswer::Knowledge { documents },
                self.clock.now(),
            )
            .await?;
        self.status(organization).await
    }

    /// The deploy step: activates the onboarding agent, so it takes calls, and records when.
    ///
    /// # Errors
    /// `StepsMissing` naming the company and agent steps when they are not done.
    pub async fn deploy(
        &self,
        organization: OrganizationId,
    ) -> Result<OnboardingStatus, OnboardingError> {
        let step = OnboardingStep::Deploy;
        let status = self.status(organization).await?;
        let missing = status.missing_for(step);
        let Some(agent) = status.agent.filter(|_| missing.is_empty()) else {
            return Err(OnboardingError::StepsMissing { step, missing });
        };
        self.agents
            .set_status(organization, agent.id, AgentStatus::Active)
            .await
            .map_err(|e| agent_error(step, e))?;
        self.onboarding
            .record(organization, StepAnswer::Deployed, self.clock.now())
            .await?;
        self.status(organization).await
    }

    /// The onboarding agent, which `step` acts on.
    ///
    /// # Errors
    /// `StepsMissing` naming the agent step when there is no live onboarding agent.
    pub async fn require_agent(
        &self,
        organization: OrganizationId,
        step: OnboardingStep,
    ) -> Result<Agent, OnboardingError> {
        let (_, agent) = self.recorded_agent(organization).await?;
        agent.ok_or(OnboardingError::StepsMissing {
            step,
            missing: vec![OnboardingStep::Agent],
        })
    }

    /// The recorded onboarding agent's id and, unless it has been deleted since, the agent.
    async fn recorded_agent(
        &self,
        organization: OrganizationId,
    ) -> Result<(Option<AgentId>, Option<Agent>), OnboardingError> {
        let recorded = self
            .onboarding
            .find(organization)
            .await?
            .and_then(|r| r.agent_id);
        let agent = match recorded {
            Some(id) => self.live_agent(organization, id).await?,
            None => None,
        };
        Ok((recorded, agent))
    }

    /// The agent unless it has been deleted.
    async fn live_agent(
        &self,
        organization: OrganizationId,
        id: AgentId,
    ) -> Result<Option<Agent>, OnboardingError> {
        match self.agents.get(organization, id).await {
            Ok(agent) => Ok(Some(agent)),
            Err(AgentError::NotFound) => Ok(None),
            Err(e) => Err(agent_error(OnboardingStep::Agent, e)),
        }
    }

    /// Makes `number` the organisation's, answered by `agent` and taking calls.
    async fn assign_number(
        &self,
        organization: OrganizationId,
        number: &E164,
        agent: AgentId,
    ) -> Result<(), OnboardingError> {
        let assignment = PhoneNumberInput {
            assigned_agent_id: Some(Some(agent.to_string())),
            status: Some("active".to_owned()),
            ..PhoneNumberInput::default()
        };
        let existing = self
            .phone_numbers
            .find_for_inbound(number)
            .await
            .map_err(number_error)?;
        match existing {
            Some(found) if found.organization_id != organization => {
                Err(OnboardingError::NumberTaken)
            }
            Some(found) => self
                .phone_numbers
                .update(organization, found.id, assignment)
                .await
                .map(drop)
                .map_err(number_error),
            None => self
                .phone_numbers
                .create(
                    organization,
                    PhoneNumberInput {
                        number: Some(number.as_str().to_owned()),
                        ..assignment
                    },
                )
                .await
                .map(drop)
                .map_err(number_error),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn fields(errors: &ValidationErrors) -> Vec<&str> {
        errors.errors().iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn company_needs_a_name_and_names_every_bad_field() {
        let input = CompanyInput {
            website: Some("ftp://acme.example".into()),
            time_zone: Some("Mars/Olympus".into()),
            industry: Some("x".repeat(201)),
            ..CompanyInput::default()
        };
        assert_eq!(
            fields(&input.parse().unwrap_err()),
            ["name", "industry", "website", "time_zone"]
        );
    }

    #[test]
    fn company_answers_are_trimmed_and_websites_completed() {
        let answer = CompanyInput {
            name: Some(" Acme ".into()),
            website: Some("acme.example".into()),
            size: Some(" ".into()),
            time_zone: Some("america/new_york".into()),
            ..CompanyInput::default()
        }
        .parse()
        .unwrap();
        assert_eq!(answer.name.as_str(), "Acme");
        assert_eq!(
            answer.profile.website.as_deref(),
            Some("https://acme.example")
        );
        assert_eq!(answer.profile.size, None);
        assert_eq!(
            answer.time_zone.as_ref().map(TimeZone::as_str),
            Some("America/New_York")
        );
        let no_zone = CompanyInput {
            name: Some("Acme".into()),
            ..CompanyInput::default()
        };
        assert_eq!(no_zone.parse().unwrap().time_zone, None);
    }

    #[test]
    fn websites_must_be_web_addresses() {
        for bad in [
            "not a site",
            "https://",
            "mailto:someone@acme.example",
            "acme",
            "https://acme.example:http",
        ] {
            let input = CompanyInput {
                name: Some("Acme".into()),
                website: Some(bad.into()),
                ..CompanyInput::default()
            };
            assert_eq!(fields(&input.parse().unwrap_err()), ["website"], "{bad:?}");
        }
    }

    #[test]
    fn channels_need_one_channel_and_a_number_only_for_the_phone() {
        let number_means_phone = ChannelsInput {
            phone_number: Some("+1 415 555 0100".into()),
            ..ChannelsInput::default()
        }
        .parse()
        .unwrap();
        assert!(number_means_phone.phone);
        assert!(!number_means_phone.web);
        assert_eq!(
            number_means_phone.phone_number.as_ref().map(E164::as_str),
            Some("+14155550100")
        );
        let none = ChannelsInput::default().parse().unwrap_err();
        assert_eq!(fields(&none), ["channels"]);
        let contradiction = ChannelsInput {
            phone: Some(false),
            web: Some(true),
            phone_number: Some("+14155550100".into()),
        }
        .parse()
        .unwrap_err();
        assert_eq!(fields(&contradiction), ["phone_number"]);
        let bad_number = ChannelsInput {
            phone_number: Some("555-0100".into()),
            ..ChannelsInput::default()
        }
        .parse()
        .unwrap_err();
        assert_eq!(fields(&bad_number), ["phone_number"]);
    }

    fn status(record: Onboarding, with_agent: bool) -> OnboardingStatus {
        let now = Utc::now();
        let organization = Organization {
            id: OrganizationId::new(),
            name: "Acme".into(),
            time_zone: "UTC".into(),
            created_at: now,
            updated_at: now,
        };
        let agent = with_agent.then(|| Agent {
            id: AgentId::new(),
            organization_id: organization.id,
            config: AgentInput {
                name: Some("Ava".into()),
                ..AgentInput::default()
            }
            .into_new_config()
            .unwrap(),
            status: AgentStatus::Inactive,
            created_at: now,
            updated_at: now,
        });
        OnboardingStatus {
            organization,
            record,
            agent,
        }
    }

    #[test]
    fn progress_walks_the_steps_in_order() {
        let fresh = status(Onboarding::default(), false);
        assert_eq!(fresh.next_step(), Some(OnboardingStep::Company));
        assert!(fresh.completed_steps().is_empty());
        assert_eq!(
            fresh.missing_for(OnboardingStep::Deploy),
            [OnboardingStep::Company, OnboardingStep::Agent]
        );

        let now = Utc::now();
        let mut record = Onboarding {
            company_completed_at: Some(now),
            agent_completed_at: Some(now),
            voice_completed_at: Some(now),
            ..Onboarding::default()
        };
        let partway = status(record.clone(), true);
        assert_eq!(
            partway.completed_steps(),
            [
                OnboardingStep::Company,
                OnboardingStep::Agent,
                OnboardingStep::Voice
            ]
        );
        assert_eq!(partway.next_step(), Some(OnboardingStep::Knowledge));
        assert!(partway.missing_for(OnboardingStep::Deploy).is_empty());

        record.knowledge_completed_at = Some(now);
        record.channels_completed_at = Some(now);
        record.deployed_at = Some(now);
        let done = status(record.clone(), true);
        assert!(done.is_complete());
        assert_eq!(done.next_step(), None);

        let agent_deleted = status(record, false);
        assert_eq!(agent_deleted.completed_steps(), [OnboardingStep::Company]);
        assert_eq!(agent_deleted.next_step(), Some(OnboardingStep::Agent));
    }

    #[test]
    fn missing_steps_are_named() {
        let one = OnboardingError::StepsMissing {
            step: OnboardingStep::Voice,
            missing: vec![OnboardingStep::Agent],
        };
        assert_eq!(
            one.to_string(),
            "complete the agent step before the voice step"
        );
        let two = OnboardingError::StepsMissing {
            step: OnboardingStep::Deploy,
            missing: vec![OnboardingStep::Company, OnboardingStep::Agent],
        };
        assert_eq!(
            two.to_string(),
            "complete the company and agent steps before the deploy step"
        );
    }
}
