//! Call tokens: short-lived capabilities that let a socket join one call without a user's access
//! token (a browser cannot set headers on a WebSocket, and Twilio cannot authenticate at all).
//! A token is `<expiry unix seconds>.<hex HMAC-SHA256 over purpose, call id and expiry>`, keyed
//! with the server's secret key, so any instance sharing the key accepts it and nothing is stored.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use switchboard_domain::ids::CallId;

type HmacSha256 = Hmac<Sha256>;

/// What a token lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Join a call's browser socket.
    Browser,
    /// Carry a phone call's media stream.
    MediaStream,
}

impl Purpose {
    const fn label(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::MediaStream => "media-stream",
        }
    }
}

/// Issues and checks call tokens.
#[derive(Clone)]
pub struct CallTokens {
    key: Vec<u8>,
}

impl std::fmt::Debug for CallTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallTokens(..)")
    }
}

impl CallTokens {
    /// Tokens keyed with `secret` (the server's secret key).
    #[must_use]
    pub fn new(secret: &str) -> Self {
        Self {
            key: secret.as_bytes().to_vec(),
        }
    }

    fn mac(&self, purpose: Purpose, call: CallId, expires: i64) -> Vec<u8> {
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(mac) => mac,
            // HMAC takes keys of any length; this arm cannot be reached.
            Err(_) => return Vec::new(),
        };
        mac.update(purpose.label().as_bytes());
        mac.update(b"\0");
        mac.update(call.to_string().as_bytes());
        mac.update(b"\0");
        mac.update(expires.to_string().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A token for `call`, valid until `expires`.
    #[must_use]
    pub fn issue(&self, purpose: Purpose, call: CallId, expires: DateTime<Utc>) -> String {
        let expires = expires.timestamp();
        format!(
            "{expires}.{}",
            hex::encode(self.mac(purpose, call, expires))
        )
    }

    /// Whether `token` lets its holder into `call` for `purpose` at `now`.
    #[must_use]
    pub fn verify(&self, purpose: Purpose, call: CallId, token: &str, now: DateTime<Utc>) -> bool {
        let Some((expires, signature)) = token.split_once('.') else {
            return false;
        };
        let (Ok(expires), Ok(signature)) = (expires.parse::<i64>(), hex::decode(signature)) else {
            return false;
        };
        expires > now.timestamp() && bool::from(self.mac(purpose, call, expires).ct_eq(&signature))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_token_opens_its_call_for_its_purpose_until_it_expires() {
        let tokens = CallTokens::new("a secret key of at least thirty-two bytes");
        let now = Utc::now();
        let call = CallId::new();
        let token = tokens.issue(Purpose::Browser, call, now + chrono::Duration::minutes(5));
        assert!(tokens.verify(Purpose::Browser, call, &token, now));
        assert!(!tokens.verify(Purpose::MediaStream, call, &token, now));
        assert!(!tokens.verify(Purpose::Browser, CallId::new(), &token, now));
        assert!(!tokens.verify(
            Purpose::Browser,
            call,
            &token,
            now + chrono::Duration::minutes(6)
        ));
        let other = CallTokens::new("another secret key of thirty-two bytes");
        assert!(!other.verify(Purpose::Browser, call, &token, now));
        for forged in [
            "",
            "123",
            "abc.def",
            &format!("{}.00", now.timestamp() + 60),
        ] {
            assert!(!tokens.verify(Purpose::Browser, call, forged, now));
        }
    }
}
