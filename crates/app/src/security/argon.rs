//! `PasswordHasher` with argon2id (19 MiB, 2 passes: the OWASP baseline).

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString, rand_core};
use argon2::{Argon2, PasswordHash as PhcHash};
use async_trait::async_trait;
use switchboard_domain::account::{Password, PasswordHash};
use switchboard_domain::ports::PasswordHasher;

/// Hashes on tokio's blocking pool: a hash takes tens of milliseconds of CPU, which must not
/// stall the threads serving other requests.
#[derive(Clone)]
pub struct Argon2Hasher {
    dummy: PasswordHash,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Argon2Hasher")
    }
}

fn hash_now(password: &str) -> anyhow::Result<PasswordHash> {
    let salt = SaltString::generate(&mut rand_core::OsRng);
    let phc = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    Ok(PasswordHash::new(phc.to_string()))
}

fn verify_now(password: &str, hash: &str) -> anyhow::Result<bool> {
    let parsed = PhcHash::new(hash).map_err(|e| anyhow::anyhow!("stored hash is invalid: {e}"))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

impl Argon2Hasher {
    /// Prepares the hasher, including the dummy hash checked for unknown accounts.
    ///
    /// # Errors
    /// When argon2 cannot hash at all.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            dummy: hash_now("switchboard dummy password")?,
        })
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash> {
        let password = password.expose().to_owned();
        tokio::task::spawn_blocking(move || hash_now(&password)).await?
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> anyhow::Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or(&self.dummy).as_str().to_owned();
        let password = password.expose().to_owned();
        let matches = tokio::task::spawn_blocking(move || verify_now(&password, &hash)).await??;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verifiable() {
        let hasher = Argon2Hasher::new().unwrap();
        let password = Password::parse("correct horse battery").unwrap();
        let a = hasher.hash(&password).await.unwrap();
        let b = hasher.hash(&password).await.unwrap();
        assert!(a.as_str().starts_with("$argon2id$"));
        assert_ne!(a, b, "each hash has its own salt");
        assert!(hasher.verify(&password, Some(&a)).await.unwrap());
        let wrong = Password::for_login("incorrect horse");
        assert!(!hasher.verify(&wrong, Some(&a)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_accounts_never_match_even_the_dummy_password() {
        let hasher = Argon2Hasher::new().unwrap();
        let dummy = Password::for_login("switchboard dummy password");
        assert!(!hasher.verify(&dummy, None).await.unwrap());
    }
}
