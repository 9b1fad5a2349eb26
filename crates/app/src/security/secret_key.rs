//! The server's secret key: from `SECRET_KEY`, or in development generated once and kept in the
//! data folder so tokens survive restarts.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::settings::{Environment, Secret, Settings};

const KEY_FILE: &str = "secret.key";

/// Why no key could be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretKeyError {
    #[error("SECRET_KEY: required when SWITCHBOARD_ENV=production")]
    Missing,
    #[error("SECRET_KEY: cannot keep a generated key at {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The configured key, or the development key under `DATA_DIR` (created on first use, with a
/// warning, readable by the owner only).
///
/// # Errors
/// `Missing` in production without a key; `File` when the development key cannot be read or
/// written.
pub fn resolve_secret_key(settings: &Settings) -> Result<Secret, SecretKeyError> {
    if let Some(key) = &settings.secret_key {
        return Ok(key.clone());
    }
    if settings.environment == Environment::Production {
        return Err(SecretKeyError::Missing);
    }
    let path = settings.data_dir.join(KEY_FILE);
    let key = read_or_create(&path).map_err(|source| SecretKeyError::File {
        path: path.clone(),
        source,
    })?;
    tracing::warn!(
        key.path = %path.display(),
        "SECRET_KEY is not set; using the development key kept in the data folder (set SECRET_KEY in production)"
    );
    Ok(key)
}

fn read_or_create(path: &Path) -> std::io::Result<Secret> {
    match std::fs::read_to_string(path) {
        Ok(existing) if !existing.trim().is_empty() => {
            return Ok(Secret::new(existing.trim().to_owned()));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let key: [u8; 32] = rand::random();
    let key = hex::encode(key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(key.as_bytes())?;
    Ok(Secret::new(key))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use super::*;

    fn settings_in(dir: &Path) -> Settings {
        let mut map = BTreeMap::new();
        map.insert("DATA_DIR".to_owned(), dir.display().to_string());
        Settings::from_map(&map).unwrap()
    }

    #[test]
    fn development_key_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings_in(dir.path());
        let first = resolve_secret_key(&settings).unwrap();
        let second = resolve_secret_key(&settings).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.expose().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key file is private");
        }
    }

    #[test]
    fn a_configured_key_wins() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = settings_in(dir.path());
        settings.secret_key = Some(Secret::new("configured".into()));
        assert_eq!(
            resolve_secret_key(&settings).unwrap().expose(),
            "configured"
        );
        assert!(!dir.path().join(KEY_FILE).exists());
    }
}
