//! How deliveries are signed, and how a receiver checks them (docs/webhooks.md shows the same
//! algorithm in other languages): `Switchboard-Signature: t=<unix seconds>,v1=<hex>` where the
//! hex is `HMAC-SHA256(secret, "<t>.<body>")`. Signing the timestamp with the body lets
//! receivers refuse old deliveries replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Switchboard-Signature";
/// The header carrying the event's id (the same in every attempt).
pub const EVENT_ID_HEADER: &str = "Switchboard-Event-Id";
/// The header carrying the event's type.
pub const EVENT_TYPE_HEADER: &str = "Switchboard-Event-Type";
/// The header carrying the delivery's id, for support requests.
pub const DELIVERY_ID_HEADER: &str = "Switchboard-Delivery-Id";
/// How far a receiver should let the signed time be from its own clock, by default.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

fn mac(secret: &str, timestamp: i64, body: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac
}

/// The signature header's value for `body` sent at `timestamp` (unix seconds).
#[must_use]
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(digest))
}

/// Why a signature was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is not t=<unix>,v1=<hex>")]
    Malformed,
    #[error("the signed time is outside the tolerance")]
    Expired,
    #[error("no signature matches the body")]
    Mismatch,
}

/// Checks a signature header against `body`, as a receiver does: the time within
/// `tolerance_secs` of `now` (unix seconds) and one of the `v1` values equal, compared in
/// constant time.
///
/// # Errors
/// As [`SignatureError`] says.
pub fn verify(
    secret: &str,
    header: &str,
    body: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            Some(("v1", value)) => {
                candidates.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?);
            }
            // Other schemes may be added later; receivers skip what they do not know.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Expired);
    }
    let matches = candidates
        .iter()
        .any(|candidate| mac(secret, timestamp, body).verify_slice(candidate).is_ok());
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_vector() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature("whsec_test", 1_700_000_000, r#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn signatures_verify_within_the_tolerance_only() {
        let header = signature("whsec_test", 1_000, "{}");
        assert_eq!(verify("whsec_test", &header, "{}", 1_100, 300), Ok(()));
        assert_eq!(
            verify("whsec_test", &header, "{}", 1_400, 300),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify("whsec_other", &header, "{}", 1_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_test", &header, "{ }", 1_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_test", "v1=00", "{}", 1_000, 300),
            Err(SignatureError::Malformed)
        );
    }
}
