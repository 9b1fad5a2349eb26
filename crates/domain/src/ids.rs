//! Typed identifiers, so an organisation id can never be passed where a user id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered identifier (UUID v7), so ids sort by creation.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an identifier read back from storage or a token.
            #[must_use]
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// Identifies a user account.
    UserId
);
id_type!(
    /// Identifies an organisation, the tenant every resource belongs to.
    OrganizationId
);
id_type!(
    /// Identifies a login session (one chain of rotating refresh tokens).
    SessionId
);
id_type!(
    /// Identifies one refresh token of a session.
    RefreshTokenId
);
id_type!(
    /// Identifies an agent.
    AgentId
);
id_type!(
    /// Identifies a phone number owned by an organisation.
    PhoneNumberId
);
id_type!(
    /// Identifies a stored scenario (its public handle is the `scenario_id` string).
    ScenarioKey
);
id_type!(
    /// Identifies a call.
    CallId
);
id_type!(
    /// Identifies a scheduled outbound call.
    ScheduledCallId
);
id_type!(
    /// Identifies a campaign: scheduled calls made together, with shared settings.
    CampaignId
);
id_type!(
    /// Identifies one event, so a receiver that gets it twice can drop the copy.
    EventId
);
id_type!(
    /// Identifies an organisation's webhook subscription.
    WebhookId
);
id_type!(
    /// Identifies one event queued for one webhook subscription (a row of the delivery log).
    WebhookDeliveryId
);
id_type!(
    /// Identifies an uploaded knowledge document.
    DocumentId
);
id_type!(
    /// Identifies one chunk of a document's text, the unit that is embedded and searched.
    ChunkId
);
id_type!(
    /// Identifies an organisation's stored copy of a Twilio Voice Intelligence transcript.
    StoredTranscriptId
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_json() {
        let id = DocumentId::new();
        assert_eq!(id.to_string().parse::<DocumentId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<DocumentId>(&json).unwrap(), id);
        assert!("not-a-uuid".parse::<ChunkId>().is_err());
    }
}
