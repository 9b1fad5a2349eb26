//! Scenarios: a persona and a goal for a call, either built in (`sales`, `support`,
//! `appointment`) or written by a user (at most 20 each).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::{OrganizationId, ScenarioKey, UserId};
use crate::ports::{Clock, InsertScenarioError, RepositoryError, ScenarioRepository};
use crate::validation::ValidationErrors;

/// How many custom scenarios one user may keep.
pub const MAX_SCENARIOS_PER_USER: u64 = 20;
const MAX_TEXT_CHARS: usize = 20_000;

/// A user's scenario as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    pub key: ScenarioKey,
    /// The public handle, e.g. `custom_1732190000_9f3a61c2`; unique even within one second.
    pub scenario_id: String,
    pub organization_id: OrganizationId,
    pub owner: UserId,
    pub settings: ScenarioSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a scenario makes the agent be and do.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ScenarioSettings {
    pub persona: String,
    pub prompt: String,
    /// A voice style such as `aggressive_male` or `concerned_female`.
    pub voice_type: String,
    pub temperature: f64,
}

/// A scenario shipped with Switchboard, usable by name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BuiltinScenario {
    pub name: &'static str,
    pub persona: &'static str,
    pub prompt: &'static str,
    pub voice_type: &'static str,
    pub temperature: f64,
}

impl BuiltinScenario {
    /// The scenario's settings.
    #[must_use]
    pub fn settings(&self) -> ScenarioSettings {
        ScenarioSettings {
            persona: self.persona.to_owned(),
            prompt: self.prompt.to_owned(),
            voice_type: self.voice_type.to_owned(),
            temperature: self.temperature,
        }
    }
}

/// The built-in scenarios.
pub const BUILTIN_SCENARIOS: &[BuiltinScenario] = &[
    BuiltinScenario {
        name: "sales",
        persona: "You are a warm, upbeat sales representative. You listen more than you talk, \
                  and you never pressure anyone.",
        prompt: "Find out whether the person has a need our product solves. Ask about their \
                 situation, explain the one benefit that matters to them, and if they are \
                 interested, offer to book a follow-up. Accept a no gracefully.",
        voice_type: "friendly_female",
        temperature: 0.7,
    },
    BuiltinScenario {
        name: "support",
        persona: "You are a calm, patient support agent who takes ownership of problems.",
        prompt: "Understand the caller's problem, confirm it in your own words, and walk them \
                 through a fix one step at a time. If you cannot solve it, say what happens next \
                 and when.",
        voice_type: "calm_male",
        temperature: 0.5,
    },
    BuiltinScenario {
        name: "appointment",
        persona: "You are an efficient, courteous scheduling assistant.",
        prompt: "Help the caller book, move or cancel an appointment. Confirm the date, time and \
                 purpose, repeat them back, and make sure nothing is double-booked.",
        voice_type: "professional_female",
        temperature: 0.4,
    },
];

/// Finds a built-in scenario by name (case-insensitive).
#[must_use]
pub fn builtin_scenario(name: &str) -> Option<&'static BuiltinScenario> {
    BUILTIN_SCENARIOS
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
}

/// A scenario's fields as sent.
#[derive(Clone, Debug, Default)]
pub struct ScenarioInput {
    pub persona: Option<String>,
    pub prompt: Option<String>,
    pub voice_type: Option<String>,
    pub temperature: Option<f64>,
}

fn required_text(field: &str, value: Option<&str>, errors: &mut ValidationErrors) -> String {
    let value = value.unwrap_or_default().trim();
    if value.is_empty() {
        errors.add(field, "must not be empty");
    } else if value.chars().count() > MAX_TEXT_CHARS {
        errors.add(
            field,
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        );
    }
    value.to_owned()
}

impl ScenarioInput {
    /// Valid settings: persona and prompt required; voice type a short slug (default
    /// `neutral`); temperature 0..=2 (default 0.7).
    ///
    /// # Errors
    /// Every invalid field.
    pub fn parse(self) -> Result<ScenarioSettings, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let persona = required_text("persona", self.persona.as_deref(), &mut errors);
        let prompt = required_text("prompt", self.prompt.as_deref(), &mut errors);
        let voice_type = self
            .voice_type
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "neutral".to_owned());
        if voice_type.len() > 50
            || !voice_type
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            errors.add("voice_type", "must be up to 50 letters, digits, _ or -");
        }
        let temperature = self.temperature.unwrap_or(0.7);
        if !(0.0..=2.0).contains(&temperature) {
            errors.add("temperature", "must be between 0 and 2");
        }
        errors.into_result(ScenarioSettings {
            persona,
            prompt,
            voice_type,
            temperature,
        })
    }
}

/// Why a scenario operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario not found")]
    NotFound,
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error(
        "you have {limit} custom scenarios, the most allowed; delete one before creating another"
    )]
    LimitReached { limit: u64 },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RepositoryError> for ScenarioError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}

/// A user's custom scenarios.
#[derive(Clone)]
pub struct ScenarioService {
    scenarios: Arc<dyn ScenarioRepository>,
    clock: Arc<dyn Clock>,
}

/// A fresh public id: the creation second plus 32 random bits, so two scenarios created in the
/// same second still differ.
fn new_scenario_id(now: DateTime<Utc>) -> String {
    let random = uuid::Uuid::new_v4();
    format!(
        "custom_{}_{}",
        now.timestamp(),
        &random.simple().to_string()[..8]
    )
}

impl ScenarioService {
    /// Wires the service to its ports.
    #[must_use]
    pub fn new(scenarios: Arc<dyn ScenarioRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { scenarios, clock }
    }

    /// Creates a scenario for `owner`.
    ///
    /// # Errors
    /// `Invalid`, or `LimitReached` when the owner has [`MAX_SCENARIOS_PER_USER`] already.
    pub async fn create(
        &self,
        organization: OrganizationId,
        owner: UserId,
        input: ScenarioInput,
    ) -> Result<Scenario, ScenarioError> {
        let settings = input.parse().map_err(ScenarioError::Invalid)?;
        let now = self.clock.now();
        let scenario = Scenario {
            key: ScenarioKey::new(),
            scenario_id: new_scenario_id(now),
            organization_id: organization,
            owner,
            settings,
            created_at: now,
            updated_at: now,
        };
        match self
            .scenarios
            .insert_within_limit(&scenario, MAX_SCENARIOS_PER_USER)
            .await
        {
            Ok(()) => Ok(scenario),
            Err(InsertScenarioError::LimitReached { limit }) => {
                Err(ScenarioError::LimitReached { limit })
            }
            Err(InsertScenarioError::Unexpected(e)) => Err(ScenarioError::Unexpected(e)),
        }
    }

    /// The owner's scenarios, oldest first.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn list(&self, owner: UserId) -> Result<Vec<Scenario>, ScenarioError> {
        Ok(self.scenarios.list(owner).await?)
    }

    /// One of the owner's scenarios.
    ///
    /// # Errors
    /// `NotFound` when the owner has no scenario with this id.
    pub async fn get(&self, owner: UserId, scenario_id: &str) -> Result<Scenario, ScenarioError> {
        self.scenarios
            .find(owner, scenario_id)
            .await?
            .ok_or(ScenarioError::NotFound)
    }

    /// Replaces the fields that were sent.
    ///
    /// # Errors
    /// `NotFound` or `Invalid`.
    pub async fn update(
        &self,
        owner: UserId,
        scenario_id: &str,
        input: ScenarioInput,
    ) -> Result<Scenario, ScenarioError> {
        let mut scenario = self.get(owner, scenario_id).await?;
        let current = &scenario.settings;
        let merged = ScenarioInput {
            persona: input.persona.or_else(|| Some(current.persona.clone())),
            prompt: input.prompt.or_else(|| Some(current.prompt.clone())),
            voice_type: input
                .voice_type
                .or_else(|| Some(current.voice_type.clone())),
            temperature: input.temperature.or(Some(current.temperature)),
        };
        scenario.settings = merged.parse().map_err(ScenarioError::Invalid)?;
        scenario.updated_at = self.clock.now();
        if self.scenarios.update(&scenario).await? {
            Ok(scenario)
        } else {
            Err(ScenarioError::NotFound)
        }
    }

    /// Deletes one of the owner's scenarios.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn delete(&self, owner: UserId, scenario_id: &str) -> Result<(), ScenarioError> {
        if self.scenarios.delete(owner, scenario_id).await? {
            Ok(())
        } else {
            Err(ScenarioError::NotFound)
        }
    }

    /// The settings a call runs with: a built-in scenario by name, else the owner's custom one.
    ///
    /// # Errors
    /// `NotFound` when neither exists.
    pub async fn resolve(
        &self,
        owner: UserId,
        name_or_id: &str,
    ) -> Result<ScenarioSettings, ScenarioError> {
        if let Some(builtin) = builtin_scenario(name_or_id) {
            return Ok(builtin.settings());
        }
        Ok(self.get(owner, name_or_id).await?.settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_within_one_second() {
        let now = Utc::now();
        let ids: std::collections::BTreeSet<String> =
            (0..1000).map(|_| new_scenario_id(now)).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|id| id.starts_with(&format!("custom_{}_", now.timestamp())))
        );
    }

    #[test]
    fn input_rules() {
        let errors = ScenarioInput {
            persona: Some(" ".into()),
            prompt: None,
            voice_type: Some("not a slug!".into()),
            temperature: Some(3.0),
        }
        .parse()
        .err()
        .unwrap_or_default();
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["persona", "prompt", "voice_type", "temperature"]);
        let ok = ScenarioInput {
            persona: Some("A".into()),
            prompt: Some("B".into()),
            ..ScenarioInput::default()
        }
        .parse();
        assert_eq!(
            ok.map(|s| (s.voice_type, s.temperature)),
            Ok(("neutral".to_owned(), 0.7))
        );
    }

    #[test]
    fn builtins_are_found_by_name() {
        assert!(builtin_scenario("Sales").is_some());
        assert!(builtin_scenario("support").is_some());
        assert!(builtin_scenario("appointment").is_some());
        assert!(builtin_scenario("custom_1_2").is_none());
    }
}
