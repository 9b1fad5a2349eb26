//! `AccessTokens` as HS256 JSON Web Tokens.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchboard_domain::ids::{OrganizationId, SessionId, UserId};
use switchboard_domain::ports::{AccessClaims, AccessTokenError, AccessTokens};

use crate::settings::Secret;

const ISSUER: &str = "switchboard";
const TOKEN_TYPE: &str = "access";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: UserId,
    org: OrganizationId,
    sid: SessionId,
    adm: bool,
    typ: String,
    iat: i64,
    exp: i64,
}

/// Signs with a key derived from `SECRET_KEY`, so the same secret can later derive other keys
/// (for encrypting stored OAuth tokens) without one use weakening another.
pub struct JwtTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtTokens")
    }
}

impl JwtTokens {
    /// Keys derived from the server's secret.
    #[must_use]
    pub fn new(secret: &Secret) -> Self {
        let key = Sha256::new()
            .chain_update(b"switchboard/access-token/v1\0")
            .chain_update(secret.expose().as_bytes())
            .finalize();
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is judged by the domain against its clock; the signature, issuer and the
        // presence of `exp` are checked here.
        validation.validate_exp = false;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
        }
    }
}

fn from_timestamp(secs: i64) -> Result<DateTime<Utc>, AccessTokenError> {
    DateTime::from_timestamp(secs, 0).ok_or(AccessTokenError::Invalid)
}

impl AccessTokens for JwtTokens {
    fn issue(&self, claims: &AccessClaims) -> anyhow::Result<String> {
        let claims = Claims {
            iss: ISSUER.to_owned(),
            sub: claims.user_id,
            org: claims.organization_id,
            sid: claims.session_id,
            adm: claims.is_admin,
            typ: TOKEN_TYPE.to_owned(),
            iat: claims.issued_at.timestamp(),
            exp: claims.expires_at.timestamp(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    fn decode(&self, token: &str) -> Result<AccessClaims, AccessTokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AccessTokenError::Invalid)?;
        let claims = data.claims;
        if claims.typ != TOKEN_TYPE {
            return Err(AccessTokenError::Invalid);
        }
        Ok(AccessClaims {
            user_id: claims.sub,
            organization_id: claims.org,
            session_id: claims.sid,
            is_admin: claims.adm,
            issued_at: from_timestamp(claims.iat)?,
            expires_at: from_timestamp(claims.exp)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{Duration, SubsecRound};

    use super::*;

    fn claims() -> AccessClaims {
        let now = Utc::now().trunc_subsecs(0);
        AccessClaims {
            user_id: UserId::new(),
            organization_id: OrganizationId::new(),
            session_id: SessionId::new(),
            is_admin: false,
            issued_at: now,
            expires_at: now + Duration::minutes(15),
        }
    }

    #[test]
    fn round_trip() {
        let tokens = JwtTokens::new(&Secret::new("k".repeat(32)));
        let claims = claims();
        let token = tokens.issue(&claims).unwrap();
        assert_eq!(tokens.decode(&token).unwrap(), claims);
    }

    #[test]
    fn another_key_or_a_changed_byte_is_refused() {
        let tokens = JwtTokens::new(&Secret::new("k".repeat(32)));
        let other = JwtTokens::new(&Secret::new("o".repeat(32)));
        let token = tokens.issue(&claims()).unwrap();
        assert_eq!(other.decode(&token), Err(AccessTokenError::Invalid));
        let mut tampered = token.into_bytes();
        let middle = tampered.len() / 2;
        tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(tokens.decode(&tampered), Err(AccessTokenError::Invalid));
        assert_eq!(tokens.decode("not.a.jwt"), Err(AccessTokenError::Invalid));
    }
}
