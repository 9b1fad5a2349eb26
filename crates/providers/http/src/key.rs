//! [`ApiKey`]: a provider's credential, kept out of debug output and out of the messages that
//! servers sometimes echo it in.

use std::fmt;
use std::sync::Arc;

use reqwest::header::{HeaderValue, InvalidHeaderValue};

/// An API key. Its `Debug` never shows it, and [`ApiKey::redact`] takes it out of text that came
/// from a server. Cloning is cheap: the adapters' transports each hold a copy.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Arc<str>);

impl ApiKey {
    /// Wraps a key. Whether an empty key is allowed is the adapter's decision.
    #[must_use]
    pub fn new(key: impl Into<String>) -> Self {
        Self(Arc::from(key.into()))
    }

    /// The key itself, for the adapter that sends it; nothing else should need it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `{prefix}{key}` as a header value marked sensitive, which keeps it out of reqwest's and
    /// hyper's debug output: `header_value("Bearer ")` for an `Authorization` header,
    /// `header_value("")` for a header that carries the bare key.
    ///
    /// # Errors
    /// When the key (or prefix) holds characters a header value cannot.
    pub fn header_value(&self, prefix: &str) -> Result<HeaderValue, InvalidHeaderValue> {
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", self.0))?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// `text` with every occurrence of the key replaced by `<redacted>`, for messages that come
    /// from the server. An empty key redacts nothing.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&*self.0, "<redacted>")
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_key_never_prints_and_is_redacted_from_messages() {
        let key = ApiKey::new("sk-secret-123");
        assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
        assert_eq!(
            key.redact("Incorrect API key provided: sk-secret-123, or sk-secret-123."),
            "Incorrect API key provided: <redacted>, or <redacted>."
        );
        assert_eq!(ApiKey::new("").redact("nothing to hide"), "nothing to hide");
    }

    #[test]
    fn header_values_are_sensitive_and_refuse_what_a_header_cannot_hold() {
        let value = ApiKey::new("sk-1").header_value("Bearer ").unwrap();
        assert_eq!(value.to_str().unwrap(), "Bearer sk-1");
        assert!(value.is_sensitive());
        assert!(ApiKey::new("a\nb").header_value("").is_err());
    }
}
