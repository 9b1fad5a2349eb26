//! Phone numbers: E.164 validation, which agent answers a number, and inbound routing by number.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, OrganizationId, PhoneNumberId};
use crate::page::{PageRequest, Paged};
use crate::ports::{
    AgentRepository, Clock, PhoneNumberRepository, RepositoryError, SavePhoneNumberError,
};
use crate::validation::ValidationErrors;

/// A phone number in E.164 form: `+`, a country code, at most 15 digits in all. It deserialises
/// through [`E164::parse`], so a stored or sent number is valid however it arrives.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct E164(String);

impl<'de> Deserialize<'de> for E164 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl E164 {
    /// Parses a number, ignoring the spaces, dashes, dots and parentheses people write in them.
    ///
    /// # Errors
    /// A sentence when the number is not `+` followed by 8 to 15 digits, the first not 0.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = compact.strip_prefix('+').unwrap_or_default();
        let valid = (8..=15).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Self(compact))
        } else {
            Err(format!(
                "{raw:?} is not an E.164 number like +14155550123 (+, country code, up to 15 digits)"
            ))
        }
    }

    /// The number, e.g. `+14155550123`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with all but the last four digits hidden, for logs.
    #[must_use]
    pub fn masked(&self) -> String {
        let keep = 4.min(self.0.len());
        format!("+…{}", &self.0[self.0.len() - keep..])
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a number takes calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneNumberStatus {
    /// Assigned to an agent and taking calls.
    Active,
    /// Assigned, but switched off.
    Inactive,
    /// No agent answers it.
    Unassigned,
}

impl PhoneNumberStatus {
    /// The stored and displayed name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Unassigned => "unassigned",
        }
    }

    /// Parses a name.
    ///
    /// # Errors
    /// A sentence listing the valid names.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "active" => Ok(Self::Active),
            "inactive" => Ok(Self::Inactive),
            "unassigned" => Ok(Self::Unassigned),
            other => Err(format!(
                "{other:?} is not one of active, inactive, unassigned"
            )),
        }
    }
}

/// A number of an organisation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PhoneNumber {
    pub id: PhoneNumberId,
    pub organization_id: OrganizationId,
    pub number: E164,
    pub assigned_agent_id: Option<AgentId>,
    pub status: PhoneNumberStatus,
    pub label: Option<String>,
    pub calls_received: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A number's fields as sent. `assigned_agent_id: Some(None)` (or an empty string) unassigns.
#[derive(Clone, Debug, Default)]
pub struct PhoneNumberInput {
    pub number: Option<String>,
    pub assigned_agent_id: Option<Option<String>>,
    pub status: Option<String>,
    pub label: Option<String>,
}

/// Why a phone-number operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("phone number not found")]
    NotFound,
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("this number is registered already")]
    NumberTaken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RepositoryError> for PhoneNumberError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}

impl From<SavePhoneNumberError> for PhoneNumberError {
    fn from(e: SavePhoneNumberError) -> Self {
        match e {
            SavePhoneNumberError::NumberTaken => Self::NumberTaken,
            SavePhoneNumberError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

/// The organisation's numbers and their agents.
#[derive(Clone)]
pub struct PhoneNumberService {
    numbers: Arc<dyn PhoneNumberRepository>,
    agents: Arc<dyn AgentRepository>,
    clock: Arc<dyn Clock>,
}

impl PhoneNumberService {
    /// Wires the service to its ports.
    #[must_use]
    pub fn new(
        numbers: Arc<dyn PhoneNumberRepository>,
        agents: Arc<dyn AgentRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            numbers,
            agents,
            clock,
        }
    }

    /// Adds a number, optionally assigned to an agent.
    ///
    /// # Errors
    /// `Invalid` (bad number, unknown agent, impossible status) or `NumberTaken`.
    pub async fn create(
        &self,
        organization: OrganizationId,
        input: PhoneNumberInput,
    ) -> Result<PhoneNumber, PhoneNumberError> {
        let now = self.clock.now();
        let mut number = PhoneNumber {
            id: PhoneNumberId::new(),
            organization_id: organization,
            number: E164(String::new()),
            assigned_agent_id: None,
            status: PhoneNumberStatus::Unassigned,
            label: None,
            calls_received: 0,
            created_at: now,
            updated_at: now,
        };
        let mut errors = ValidationErrors::new();
        if input.number.is_none() {
            errors.add("number", "is required");
        }
        self.apply(&mut number, input, errors).await?;
        self.numbers.insert(&number).await?;
        Ok(number)
    }

    /// A page of the organisation's numbers.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn list(
        &self,
        organization: OrganizationId,
        page: PageRequest,
    ) -> Result<Paged<PhoneNumber>, PhoneNumberError> {
        Ok(self.numbers.list(organization, page).await?)
    }

    /// One number.
    ///
    /// # Errors
    /// `NotFound` unless it is the organisation's.
    pub async fn get(
        &self,
        organization: OrganizationId,
        id: PhoneNumberId,
    ) -> Result<PhoneNumber, PhoneNumberError> {
        self.numbers
            .find(organization, id)
            .await?
            .ok_or(PhoneNumberError::NotFound)
    }

    /// Changes what was sent: the number, its agent (assign or unassign), status, label.
    ///
    /// # Errors
    /// `NotFound`, `Invalid` or `NumberTaken`.
    pub async fn update(
        &self,
        organization: OrganizationId,
        id: PhoneNumberId,
        input: PhoneNumberInput,
    ) -> Result<PhoneNumber, PhoneNumberError> {
        let mut number = self.get(organization, id).await?;
        self.apply(&mut number, input, ValidationErrors::new())
            .await?;
        number.updated_at = self.clock.now();
        if self.numbers.update(&number).await? {
            Ok(number)
        } else {
            Err(PhoneNumberError::NotFound)
        }
    }

    /// Removes a number.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn delete(
        &self,
        organization: OrganizationId,
        id: PhoneNumberId,
    ) -> Result<(), PhoneNumberError> {
        if self.numbers.delete(organization, id).await? {
            Ok(())
        } else {
            Err(PhoneNumberError::NotFound)
        }
    }

    /// The number a call came in on, whichever organisation has it.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn find_for_inbound(
        &self,
        number: &E164,
    ) -> Result<Option<PhoneNumber>, PhoneNumberError> {
        Ok(self.numbers.find_by_number(number).await?)
    }

    /// Applies the input, checking the agent belongs to the organisation, and keeps the status
    /// consistent: no agent means unassigned; assigning an agent activates an unassigned number.
    async fn apply(
        &self,
        number: &mut PhoneNumber,
        input: PhoneNumberInput,
        mut errors: ValidationErrors,
    ) -> Result<(), PhoneNumberError> {
        if let Some(raw) = &input.number
            && let Some(parsed) = errors.check("number", E164::parse(raw))
        {
            number.number = parsed;
        }
        if let Some(agent) = input.assigned_agent_id {
            match agent.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
                None => number.assigned_agent_id = None,
                Some(raw) => {
                    let found = match raw.parse::<AgentId>() {
                        Ok(id) => self.agents.find(number.organization_id, id).await?,
                        Err(_) => None,
                    };
                    match found {
                        Some(agent) => number.assigned_agent_id = Some(agent.id),
                        None => errors.add(
                            "assigned_agent_id",
                            "no agent with this id in your organisation",
                        ),
                    }
                }
            }
        }
        let requested = input
            .status
            .as_deref()
            .and_then(|s| errors.check("status", PhoneNumberStatus::parse(s)));
        number.status = match (number.assigned_agent_id, requested) {
            (None, None | Some(PhoneNumberStatus::Unassigned)) => PhoneNumberStatus::Unassigned,
            (None, Some(_)) => {
                errors.add("status", "a number without an agent can only be unassigned");
                PhoneNumberStatus::Unassigned
            }
            (Some(_), Some(PhoneNumberStatus::Unassigned)) => {
                errors.add(
                    "status",
                    "a number with an agent is active or inactive; unassign the agent instead",
                );
                number.status
            }
            (Some(_), Some(status)) => status,
            (Some(_), None) if number.status == PhoneNumberStatus::Unassigned => {
                PhoneNumberStatus::Active
            }
            (Some(_), None) => number.status,
        };
        if let Some(label) = input.label {
            let label = label.trim();
            if label.chars().count() > 100 {
                errors.add("label", "must be at most 100 characters");
            }
            number.label = (!label.is_empty()).then(|| label.to_owned());
        }
        errors.into_result(()).map_err(PhoneNumberError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_accepts_common_writing_and_normalises() {
        assert_eq!(
            E164::parse("+1 (415) 555-0123").map(|n| n.0),
            Ok("+14155550123".into())
        );
        assert_eq!(
            E164::parse(" +44 20 7946 0958 ").map(|n| n.0),
            Ok("+442079460958".into())
        );
    }

    #[test]
    fn e164_refuses_the_rest() {
        for bad in [
            "",
            "4155550123",
            "+0123456789",
            "+1415555012345678",
            "+1-800-FLOWERS",
            "+123",
            "++14155550123",
        ] {
            assert!(E164::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn masked_numbers_keep_four_digits() {
        assert_eq!(
            E164::parse("+14155550123").map(|n| n.masked()),
            Ok("+…0123".into())
        );
    }
}
