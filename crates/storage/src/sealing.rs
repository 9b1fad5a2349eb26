//! Sealing secrets at rest: tokens that grant access elsewhere (a calendar's OAuth tokens) are
//! stored encrypted with ChaCha20-Poly1305, under a key derived from the server's secret key
//! with HKDF-SHA256 for this purpose alone, and a random nonce per value. Each value is bound to
//! where it is stored (the associated data), so a sealed value copied to another row or column
//! does not open.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

/// The HKDF `info` of the sealing key: no other key derived from the secret key uses it.
const KEY_PURPOSE: &[u8] = b"switchboard/storage/sealed-tokens/v1";
/// What every sealed value starts with, naming the scheme, so a later scheme can be told apart.
const PREFIX: &str = "v1:";
const NONCE_BYTES: usize = 12;

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the sealed value is malformed")]
    Malformed,
    /// Another key sealed it, it belongs elsewhere, or it was altered.
    #[error("the sealed value does not open with this key (was SECRET_KEY changed?)")]
    WrongKey,
    #[error("the value could not be sealed")]
    Seal,
}

/// Seals and opens values with the key derived from the server's secret key.
#[derive(Clone)]
pub struct TokenSealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for TokenSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSealer(<key redacted>)")
    }
}

impl TokenSealer {
    /// A sealer whose key is derived from `secret_key` (the `SECRET_KEY` setting).
    #[must_use]
    pub fn from_secret_key(secret_key: &str) -> Self {
        let mut key = [0_u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit of 255 * 32, so expanding cannot fail.
        let _ = Hkdf::<Sha256>::new(None, secret_key.as_bytes()).expand(KEY_PURPOSE, &mut key);
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    /// `value` sealed for the place `bound_to` names (for example `<organisation id>/access`).
    ///
    /// # Errors
    /// `Seal` when the cipher refuses (it does not for values of sane size).
    pub fn seal(&self, value: &str, bound_to: &str) -> Result<String, SealError> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: bound_to.as_bytes(),
                },
            )
            .map_err(|_| SealError::Seal)?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD_NO_PAD.encode(bytes)))
    }

    /// The value `sealed` holds, if it was sealed with this key for `bound_to`.
    ///
    /// # Errors
    /// `Malformed` or `WrongKey`.
    pub fn open(&self, sealed: &str, bound_to: &str) -> Result<String, SealError> {
        let encoded = sealed.strip_prefix(PREFIX).ok_or(SealError::Malformed)?;
        let bytes = STANDARD_NO_PAD
            .decode(encoded)
            .map_err(|_| SealError::Malformed)?;
        if bytes.len() < NONCE_BYTES {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: bound_to.as_bytes(),
                },
            )
            .map_err(|_| SealError::WrongKey)?;
        String::from_utf8(plain).map_err(|_| SealError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_place() {
        let sealer = TokenSealer::from_secret_key("key one");
        let sealed = sealer.seal("ya29.secret", "org/access").unwrap();
        assert!(!sealed.contains("ya29.secret"));
        assert_eq!(sealer.open(&sealed, "org/access").unwrap(), "ya29.secret");
        // A fresh nonce each time: the same value never seals the same way twice.
        assert_ne!(sealer.seal("ya29.secret", "org/access").unwrap(), sealed);
        assert!(matches!(
            sealer.open(&sealed, "org/refresh"),
            Err(SealError::WrongKey)
        ));
        let other = TokenSealer::from_secret_key("key two");
        assert!(matches!(
            other.open(&sealed, "org/access"),
            Err(SealError::WrongKey)
        ));
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(sealer.open(&altered, "org/access").is_err());
        assert!(matches!(
            sealer.open("plain text", "org/access"),
            Err(SealError::Malformed)
        ));
    }
}
