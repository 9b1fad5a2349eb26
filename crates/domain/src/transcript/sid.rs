//! [`TranscriptSid`]: the id Twilio Voice Intelligence gives a transcript.

use std::fmt;

use serde::Serialize;

/// `GT` followed by 32 hexadecimal digits, as Twilio writes every transcript's sid. Parsing it
/// before anything is looked up means a malformed sid is refused before any request leaves, and
/// never reaches a URL path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TranscriptSid(String);

impl TranscriptSid {
    const PREFIX: &'static str = "GT";
    const HEX_DIGITS: usize = 32;

    /// Parses a sid, keeping its letters' case (Twilio writes lower-case hex).
    ///
    /// # Errors
    /// A sentence saying what a sid looks like.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let valid = raw.strip_prefix(Self::PREFIX).is_some_and(|hex| {
            hex.len() == Self::HEX_DIGITS && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "{raw:?} is not a transcript sid: expected GT followed by 32 hexadecimal digits"
            ))
        }
    }

    /// Whether `raw` has a transcript sid's prefix, so it is meant as one (and is refused as a
    /// malformed one rather than looked for as something else).
    #[must_use]
    pub fn looks_like(raw: &str) -> bool {
        raw.trim().starts_with(Self::PREFIX)
    }

    /// The sid.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TranscriptSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::TranscriptSid;

    #[test]
    fn sids_are_gt_and_32_hex_digits() {
        let sid = "GT0123456789abcdef0123456789ABCDEF";
        assert_eq!(
            TranscriptSid::parse(sid).map(|s| s.to_string()),
            Ok(sid.into())
        );
        for bad in [
            "",
            "GT",
            "GT1234567890",
            "CA0123456789abcdef0123456789abcdef",
            "GT0123456789abcdef0123456789abcdeg",
            "GT0123456789abcdef0123456789abcdef0",
            "GT0123456789abcdef/../../abcdef012",
        ] {
            assert!(TranscriptSid::parse(bad).is_err(), "{bad:?}");
        }
    }
}
