//! The `state` of an OAuth consent: it carries who asked (user and organisation) through the
//! provider's consent page to the unauthenticated callback, signed so it cannot be forged or
//! altered, and short-lived so a leaked one soon stops working.
//!
//! A state is `<organisation>.<user>.<expiry unix seconds>.<nonce>.<hex HMAC-SHA256>`, keyed with
//! a key derived from the server's secret key (HKDF-SHA256, for this purpose alone), so any
//! instance sharing the key accepts it and nothing is stored.

use chrono::{DateTime, Duration, Utc};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use switchboard_domain::ids::{OrganizationId, UserId};

type HmacSha256 = Hmac<Sha256>;

/// The HKDF `info` of the state key: no other key derived from the secret key uses it.
const KEY_PURPOSE: &[u8] = b"switchboard/oauth-state/v1";
/// How long a user has to consent.
pub const STATE_TTL_MINUTES: i64 = 10;

/// Whose consent a verified state is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateOwner {
    pub organization: OrganizationId,
    pub user: UserId,
}

/// Why a state was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error("the state is malformed")]
    Malformed,
    #[error("the state's signature does not match")]
    Forged,
    #[error("the state has expired; start connecting again")]
    Expired,
}

/// Issues and verifies OAuth states.
#[derive(Clone)]
pub struct OAuthStates {
    key: [u8; 32],
}

impl std::fmt::Debug for OAuthStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OAuthStates(..)")
    }
}

impl OAuthStates {
    /// States keyed from `secret` (the server's secret key).
    #[must_use]
    pub fn new(secret: &str) -> Self {
        let mut key = [0_u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit, so expanding cannot fail.
        let _ = Hkdf::<Sha256>::new(None, secret.as_bytes()).expand(KEY_PURPOSE, &mut key);
        Self { key }
    }

    fn mac(&self, signed: &str) -> Vec<u8> {
        match HmacSha256::new_from_slice(&self.key) {
            Ok(mut mac) => {
                mac.update(signed.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            // HMAC takes keys of any length; this arm cannot be reached.
            Err(_) => Vec::new(),
        }
    }

    /// A state for `owner`'s consent, valid for [`STATE_TTL_MINUTES`] from `now`.
    #[must_use]
    pub fn issue(&self, owner: StateOwner, now: DateTime<Utc>) -> String {
        let expires = (now + Duration::minutes(STATE_TTL_MINUTES)).timestamp();
        let nonce: [u8; 8] = rand::random();
        let signed = format!(
            "{}.{}.{expires}.{}",
            owner.organization.as_uuid().simple(),
            owner.user.as_uuid().simple(),
            hex::encode(nonce)
        );
        let signature = hex::encode(self.mac(&signed));
        format!("{signed}.{signature}")
    }

    /// Whose consent `state` is, if this server issued it and it has not expired at `now`.
    ///
    /// # Errors
    /// `Malformed`, `Forged` (altered, or signed with another key) or `Expired`.
    pub fn verify(&self, state: &str, now: DateTime<Utc>) -> Result<StateOwner, StateError> {
        let (signed, signature) = state.rsplit_once('.').ok_or(StateError::Malformed)?;
        let signature = hex::decode(signature).map_err(|_| StateError::Malformed)?;
        if !bool::from(self.mac(signed).ct_eq(&signature)) {
            return Err(StateError::Forged);
        }
        let mut parts = signed.split('.');
        let (Some(organization), Some(user), Some(expires), Some(_nonce), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(StateError::Malformed);
        };
        let organization = organization
            .parse::<OrganizationId>()
            .map_err(|_| StateError::Malformed)?;
        let user = user.parse::<UserId>().map_err(|_| StateError::Malformed)?;
        let expires: i64 = expires.parse().map_err(|_| StateError::Malformed)?;
        if expires <= now.timestamp() {
            return Err(StateError::Expired);
        }
        Ok(StateOwner { organization, user })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_state_names_its_owner_until_it_expires_and_resists_tampering() {
        let states = OAuthStates::new("a secret key of at least thirty-two bytes");
        let now = Utc::now();
        let owner = StateOwner {
            organization: OrganizationId::new(),
            user: UserId::new(),
        };
        let state = states.issue(owner, now);
        assert_eq!(states.verify(&state, now), Ok(owner));
        assert_eq!(
            states.verify(&state, now + Duration::minutes(STATE_TTL_MINUTES)),
            Err(StateError::Expired)
        );
        // Another user's id in place of the owner's breaks the signature.
        let other = UserId::new().as_uuid().simple().to_string();
        let swapped = state.replace(&owner.user.as_uuid().simple().to_string(), &other);
        assert_eq!(states.verify(&swapped, now), Err(StateError::Forged));
        let elsewhere = OAuthStates::new("another secret key of thirty-two bytes");
        assert_eq!(elsewhere.verify(&state, now), Err(StateError::Forged));
        for bad in ["", "abc", "a.b.c.d.zz"] {
            assert!(states.verify(bad, now).is_err(), "{bad}");
        }
    }
}
