//! Users and organisations: who signs in, and the tenant their resources belong to.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::{OrganizationId, UserId};

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longer passwords are refused too: hashing megabytes would be an easy denial of service.
pub const MAX_PASSWORD_BYTES: usize = 1024;
const MAX_EMAIL_BYTES: usize = 254;
const MAX_NAME_CHARS: usize = 200;

/// A syntactically valid e-mail address, trimmed and lower-cased so that look-ups and the
/// uniqueness rule ignore case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses an address: one `@`, a non-empty local part without spaces, and a domain with a dot
    /// whose labels are non-empty.
    ///
    /// # Errors
    /// Returns a sentence naming what is wrong.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("must not be empty".into());
        }
        if email.len() > MAX_EMAIL_BYTES {
            return Err(format!("must be at most {MAX_EMAIL_BYTES} characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must be an e-mail address like name@example.com".into());
        };
        let valid_local = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_graphic() && !"@()<>[]\\,;:\"".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let valid_domain = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if valid_local && valid_domain {
            Ok(Self(email))
        } else {
            Err("must be an e-mail address like name@example.com".into())
        }
    }

    /// The normalised address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed, checked for length. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Accepts passwords of at least [`MIN_PASSWORD_CHARS`] characters and at most
    /// [`MAX_PASSWORD_BYTES`] bytes.
    ///
    /// # Errors
    /// Returns a sentence naming the rule that failed.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() < MIN_PASSWORD_CHARS {
            return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(format!("must be at most {MAX_PASSWORD_BYTES} bytes"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Wraps a password for a login attempt without the length rules: a login must answer
    /// "wrong credentials", not reveal which rules the stored password follows.
    #[must_use]
    pub fn for_login(raw: &str) -> Self {
        let mut end = raw.len().min(MAX_PASSWORD_BYTES);
        while !raw.is_char_boundary(end) {
            end -= 1;
        }
        Self(raw[..end].to_owned())
    }

    /// The password itself, for the hasher only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A PHC-format password hash as stored (for example `$argon2id$v=19$...`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a stored hash.
    #[must_use]
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A display name for a person or an organisation: trimmed, 1 to 200 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses a name.
    ///
    /// # Errors
    /// Returns a sentence when the name is empty or too long.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(format!("must be at most {MAX_NAME_CHARS} characters"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time-zone name such as `Europe/Berlin` or `UTC`, in its canonical spelling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TimeZone(String);

impl TimeZone {
    /// Parses a zone name of the IANA database, ignoring case (`europe/berlin` is `Europe/Berlin`).
    ///
    /// # Errors
    /// Returns a sentence when the name is not in the database.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        name.parse::<chrono_tz::Tz>()
            .ok()
            .or_else(|| {
                chrono_tz::TZ_VARIANTS
                    .iter()
                    .copied()
                    .find(|tz| tz.name().eq_ignore_ascii_case(name))
            })
            .map(|tz| Self(tz.name().to_owned()))
            .ok_or_else(|| {
                format!("{name:?} is not an IANA time zone such as Europe/Berlin or UTC")
            })
    }

    /// The canonical name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person who signs in. Every user belongs to exactly one organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    pub organization_id: OrganizationId,
    pub email: EmailAddress,
    pub full_name: Option<String>,
    pub is_active: bool,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user together with the hash needed to check their password.
#[derive(Clone, Debug)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: PasswordHash,
}

/// The tenant: every agent, call and number belongs to one organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    /// IANA time zone name; analytics days and calling windows are this zone's days.
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Everything needed to create a user and the organisation they own, in one step.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub email: EmailAddress,
    pub full_name: Option<DisplayName>,
    pub organization_name: DisplayName,
    pub password_hash: PasswordHash,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised() {
        assert_eq!(
            EmailAddress::parse("  Ada@Example.COM ").map(|e| e.0),
            Ok("ada@example.com".to_owned())
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "ada@exa mple.com",
            "a da@example.com",
            ".ada@example.com",
            "ada..b@example.com",
            "ada@-example.com",
            "ada@example..com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn usual_emails_are_accepted() {
        for good in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "x_y-z@ex-ample.io",
        ] {
            assert!(EmailAddress::parse(good).is_ok(), "{good:?} was refused");
        }
    }

    #[test]
    fn password_length_rules() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        // Eight characters, more than eight bytes: characters count, not bytes.
        assert!(Password::parse("ééééééé").is_err());
        assert!(Password::parse("éééééééé").is_ok());
        assert!(Password::parse(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
    }

    #[test]
    fn login_password_is_truncated_on_a_char_boundary() {
        let long = "é".repeat(MAX_PASSWORD_BYTES);
        let password = Password::for_login(&long);
        assert!(password.expose().len() <= MAX_PASSWORD_BYTES);
    }

    #[test]
    fn secrets_do_not_print() {
        let password = Password::for_login("hunter2hunter2");
        assert!(!format!("{password:?}").contains("hunter2"));
        let hash = PasswordHash::new("$argon2id$secret".into());
        assert!(!format!("{hash:?}").contains("secret"));
    }

    #[test]
    fn time_zones_are_iana_names_in_canonical_spelling() {
        assert_eq!(
            TimeZone::parse(" europe/berlin ").map(|z| z.0),
            Ok("Europe/Berlin".into())
        );
        assert_eq!(TimeZone::parse("UTC").map(|z| z.0), Ok("UTC".into()));
        for bad in ["", "Mars/Olympus", "GMT+25", "Europe/"] {
            assert!(TimeZone::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn display_names() {
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"n".repeat(201)).is_err());
        assert_eq!(DisplayName::parse(" Acme ").map(|n| n.0), Ok("Acme".into()));
    }
}
