//! Webhook subscriptions and their deliveries: what an organisation asked to be told, where,
//! and what became of each event sent there.

use std::fmt;

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;

use crate::events::EventKind;
use crate::ids::{EventId, OrganizationId, WebhookDeliveryId, WebhookId};

/// Subscriptions one organisation may have.
pub const MAX_SUBSCRIPTIONS_PER_ORGANIZATION: u64 = 20;
/// The shortest secret a user may choose; generated ones are much longer.
pub const MIN_SECRET_CHARS: usize = 24;
const MAX_SECRET_CHARS: usize = 256;
const MAX_URL_CHARS: usize = 2048;
const MAX_DESCRIPTION_CHARS: usize = 200;
/// The prefix of generated secrets, so a leaked one is recognisable as ours.
const SECRET_PREFIX: &str = "whsec_";
/// The event type of the test event `POST /webhooks/{id}/test` sends.
pub const PING_EVENT_TYPE: &str = "ping";

/// Where deliveries go: an absolute http(s) URL with a host and no credentials in it (those
/// would be stored and shown in the clear; the signature is how receivers authenticate us).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Parses a URL as sent.
    ///
    /// # Errors
    /// A sentence saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("is required".into());
        }
        if raw.len() > MAX_URL_CHARS {
            return Err(format!("must be at most {MAX_URL_CHARS} characters"));
        }
        let url = url::Url::parse(raw)
            .map_err(|e| format!("is not an absolute URL like https://example.com/hooks ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("must be http or https, not {}", url.scheme()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must name a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "must not carry a user name or password; receivers check the signature instead"
                    .into(),
            );
        }
        Ok(Self(url.to_string()))
    }

    /// Reads back a stored URL (valid when it was stored).
    #[must_use]
    pub fn from_stored(url: String) -> Self {
        Self(url)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key deliveries are signed with. Its `Debug` never shows it; it is shown to the user
/// only when created or rotated.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// A fresh secret: `whsec_` and 32 random bytes in hex.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0_u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!("{SECRET_PREFIX}{}", hex::encode(bytes)))
    }

    /// A secret the user chose.
    ///
    /// # Errors
    /// When it is shorter than [`MIN_SECRET_CHARS`], too long, or holds spaces or control
    /// characters (it must survive being pasted into a receiver's configuration).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let length = raw.chars().count();
        if length < MIN_SECRET_CHARS {
            return Err(format!("must be at least {MIN_SECRET_CHARS} characters"));
        }
        if length > MAX_SECRET_CHARS {
            return Err(format!("must be at most {MAX_SECRET_CHARS} characters"));
        }
        if !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err("must be printable ASCII without spaces".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// Reads back a stored secret.
    #[must_use]
    pub fn from_stored(secret: String) -> Self {
        Self(secret)
    }

    /// The secret itself, for signing and for the one answer that shows it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Parses the event types a subscription asks for: at least one, each a known name; repeats
/// are dropped, the order kept.
///
/// # Errors
/// A sentence naming the unknown type and the known ones.
pub fn parse_event_kinds(raw: &[String]) -> Result<Vec<EventKind>, String> {
    if raw.is_empty() {
        return Err("must name at least one event type".into());
    }
    let mut kinds = Vec::with_capacity(raw.len());
    for name in raw {
        let Some(kind) = EventKind::parse(name.trim()) else {
            let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
            return Err(format!(
                "{name:?} is not an event type; use {}",
                known.join(", ")
            ));
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// Parses an optional description: trimmed, empty meaning none.
///
/// # Errors
/// When it is longer than 200 characters.
pub fn parse_description(raw: &str) -> Result<Option<String>, String> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(format!(
            "must be at most {MAX_DESCRIPTION_CHARS} characters"
        ));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// One organisation's request to be told about some kinds of event at a URL.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookSubscription {
    pub id: WebhookId,
    pub organization_id: OrganizationId,
    pub url: WebhookUrl,
    pub events: Vec<EventKind>,
    pub description: Option<String>,
    pub secret: WebhookSecret,
    /// Disabled subscriptions get no new deliveries, and their pending ones wait.
    pub enabled: bool,
    /// Why it was disabled, when the server did it (a receiver that kept failing or said 410).
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookSubscription {
    /// Whether events of `kind` go to this subscription.
    #[must_use]
    pub fn wants(&self, kind: EventKind) -> bool {
        self.enabled && self.events.contains(&kind)
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Being sent by a worker now.
    Delivering,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: every attempt failed, or the receiver answered 410 Gone.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [Self; 4] = [
        Self::Pending,
        Self::Delivering,
        Self::Delivered,
        Self::Failed,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivering => "delivering",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// Parses a name.
    ///
    /// # Errors
    /// A sentence listing the valid names.
    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw.trim())
            .ok_or_else(|| format!("{raw:?} is not one of pending, delivering, delivered, failed"))
    }
}

/// One event queued for one subscription, and what its attempts gave.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookDelivery {
    pub id: WebhookDeliveryId,
    pub subscription_id: WebhookId,
    pub organization_id: OrganizationId,
    /// The event's own id: the same in every attempt, so receivers can drop repeats.
    pub event_id: EventId,
    /// `call.started`, ..., or `ping`.
    pub event_type: String,
    /// The body sent, as JSON.
    pub payload: serde_json::Value,
    pub status: DeliveryStatus,
    /// Attempts made (or under way).
    pub attempts: u32,
    /// Pending: when the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's status code on the last attempt, when it answered.
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed (bounded).
    pub last_error: Option<String>,
    /// How long the last attempt took.
    pub last_duration_ms: Option<u64>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookDelivery {
    /// A delivery of `payload` to `subscription`, due at `now`.
    #[must_use]
    pub fn queued(
        subscription: &WebhookSubscription,
        event_id: EventId,
        event_type: &str,
        payload: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: WebhookDeliveryId::new(),
            subscription_id: subscription.id,
            organization_id: subscription.organization_id,
            event_id,
            event_type: event_type.to_owned(),
            payload,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_attempt_at: None,
            last_status_code: None,
            last_error: None,
            last_duration_ms: None,
            delivered_at: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// What one attempt gave, as recorded in the delivery log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn urls_are_absolute_http_without_credentials() {
        assert_eq!(
            WebhookUrl::parse(" https://hooks.example.com/in?x=1 ")
                .unwrap()
                .as_str(),
            "https://hooks.example.com/in?x=1"
        );
        assert!(WebhookUrl::parse("http://127.0.0.1:9/h").is_ok());
        for bad in [
            "",
            "/relative",
            "hooks.example.com",
            "ftp://example.com/x",
            "https://user:pass@example.com/x",
            "https://token@example.com/x",
            "mailto:a@example.com",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secrets_are_long_and_never_printed() {
        let secret = WebhookSecret::generate();
        assert!(secret.expose().starts_with("whsec_"));
        assert_eq!(secret.expose().len(), 6 + 64);
        assert_ne!(secret, WebhookSecret::generate());
        assert!(!format!("{secret:?}").contains(secret.expose()));
        assert!(WebhookSecret::parse("short").is_err());
        assert!(WebhookSecret::parse("has spaces in it but is long enough").is_err());
        assert!(WebhookSecret::parse("a-long-enough-secret-0123456789").is_ok());
    }

    #[test]
    fn event_kinds_are_known_and_deduplicated() {
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            parse_event_kinds(&names(&["call.ended", "call.started", "call.ended"])).unwrap(),
            [EventKind::CallEnded, EventKind::CallStarted]
        );
        assert!(parse_event_kinds(&[]).is_err());
        let error = parse_event_kinds(&names(&["call.nope"])).unwrap_err();
        assert!(error.contains("call.started"), "{error}");
    }
}
