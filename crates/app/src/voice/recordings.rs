//! Call recordings on disk: one WAV file per call under `DATA_DIR/recordings`, written once when
//! the call ends (to a temporary name first, so a reader never sees half a file), served to the
//! call's organisation at `GET /api/v1/calls/{id}/recording`.

use std::path::PathBuf;

use switchboard_domain::ids::CallId;
use url::Url;

/// Where recordings live and how they are addressed.
#[derive(Clone, Debug)]
pub struct Recordings {
    dir: PathBuf,
    public_url: Option<Url>,
}

impl Recordings {
    /// Recordings under `data_dir/recordings`, linked under `public_url` when one is set (else by
    /// path alone).
    #[must_use]
    pub fn new(data_dir: &std::path::Path, public_url: Option<Url>) -> Self {
        Self {
            dir: data_dir.join("recordings"),
            public_url,
        }
    }

    fn path_of(&self, call: CallId) -> PathBuf {
        self.dir.join(format!("{call}.wav"))
    }

    /// The address the call's `recording_url` shows.
    #[must_use]
    pub fn url_of(&self, call: CallId) -> String {
        let path = format!("/api/v1/calls/{call}/recording");
        match &self.public_url {
            Some(base) => base.join(&path).map_or(path, |url| url.to_string()),
            None => path,
        }
    }

    /// Writes a call's recording.
    ///
    /// # Errors
    /// When the directory or file cannot be written.
    pub async fn store(&self, call: CallId, wav: &[u8]) -> std::io::Result<()> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let path = self.path_of(call);
        let partial = path.with_extension("wav.partial");
        tokio::fs::write(&partial, wav).await?;
        tokio::fs::rename(&partial, &path).await
    }

    /// A call's recording, when there is one.
    ///
    /// # Errors
    /// When the file exists but cannot be read.
    pub async fn load(&self, call: CallId) -> std::io::Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.path_of(call)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn stores_and_loads_by_call() {
        let dir = tempfile::tempdir().unwrap();
        let recordings = Recordings::new(dir.path(), None);
        let call = CallId::new();
        assert_eq!(recordings.load(call).await.unwrap(), None);
        recordings.store(call, b"RIFF....").await.unwrap();
        assert_eq!(
            recordings.load(call).await.unwrap().as_deref(),
            Some(&b"RIFF...."[..])
        );
        assert_eq!(recordings.load(CallId::new()).await.unwrap(), None);
        assert_eq!(
            recordings.url_of(call),
            format!("/api/v1/calls/{call}/recording")
        );
        let public = Recordings::new(
            dir.path(),
            Some(Url::parse("https://voice.example.com").unwrap()),
        );
        assert_eq!(
            public.url_of(call),
            format!("https://voice.example.com/api/v1/calls/{call}/recording")
        );
    }
}
