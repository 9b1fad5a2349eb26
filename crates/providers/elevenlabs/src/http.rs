//! The HTTP transport: `POST {base}/v1/text-to-speech/{voice}/stream`, the audio read from the
//! response body as it arrives (PROVIDERS.md 3.1).

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName};
use reqwest::{Client, Response};
use switchboard_provider_http::{ApiKey, ErrorAnswer, client, describe, endpoint};
use tokio::time::Instant;
use tracing::debug;
use url::Url;

use crate::config::ElevenLabsConfigError;
use crate::failure::{Failure, error_message};
use crate::format::Decoder;
use crate::request::{StreamBody, Utterance};

/// `optimize_streaming_latency=3`: the strongest latency optimisation that keeps the text
/// normaliser on (4 turns it off, and numbers and dates would be read out badly).
const OPTIMIZE_STREAMING_LATENCY: &str = "3";

/// The client, with the key in a default header marked sensitive.
#[derive(Clone)]
pub(crate) struct HttpTransport {
    client: Client,
    key: ApiKey,
    /// `{base}/v1/text-to-speech`; the voice and `/stream` are appended per request.
    tts_url: Url,
}

impl std::fmt::Debug for HttpTransport {
    // The client's own `Debug` lists its default headers, the key among them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("tts_url", &self.tts_url.as_str())
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    pub(crate) fn new(
        key: &ApiKey,
        base_url: &Url,
        connect_timeout: Duration,
    ) -> Result<Self, ElevenLabsConfigError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("xi-api-key"),
            key.header_value("")
                .map_err(|_| ElevenLabsConfigError::InvalidKey)?,
        );
        let client = client(headers, connect_timeout)
            .map_err(|e| ElevenLabsConfigError::Client(describe(&e)))?;
        let tts_url = endpoint(base_url, "/v1/text-to-speech")
            .map_err(|_| ElevenLabsConfigError::BaseUrl(base_url.to_string()))?;
        Ok(Self {
            client,
            key: key.clone(),
            tts_url,
        })
    }

    /// The streaming URL for `utterance`: its voice as an escaped path segment, the output
    /// format and the latency setting as query parameters (not body fields).
    pub(crate) fn url(&self, utterance: &Utterance) -> Url {
        let mut url = self.tts_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(&utterance.voice).push("stream");
        }
        url.query_pairs_mut()
            .append_pair("output_format", &utterance.format.query_value())
            .append_pair("optimize_streaming_latency", OPTIMIZE_STREAMING_LATENCY);
        url
    }

    /// One attempt: send, check the status, and read until the first audio, so that failures
    /// before it can still be retried. `None` as the first chunk means the body ended without
    /// audio.
    pub(crate) async fn start(
        &self,
        url: &Url,
        body: &[u8],
        utterance: &Utterance,
        first_chunk_timeout: Duration,
        idle_timeout: Duration,
    ) -> Result<(Option<Vec<i16>>, HttpAudio), Failure> {
        let deadline = Instant::now() + first_chunk_timeout;
        let send = self
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send();
        let response = tokio::time::timeout_at(deadline, send)
            .await
            .map_err(|_| Failure::Timeout)?
            .map_err(|e| Failure::from_reqwest(&e))?;
        if !response.status().is_success() {
            return Err(Failure::Status(
                ErrorAnswer::read(response, &self.key, error_message).await,
            ));
        }
        let mut audio = HttpAudio {
            response,
            decoder: Decoder::new(utterance.format),
            idle_timeout,
        };
        let first = audio.next_by(Some(deadline)).await?;
        Ok((first, audio))
    }
}

/// A response body being read as audio.
#[derive(Debug)]
pub(crate) struct HttpAudio {
    response: Response,
    decoder: Decoder,
    idle_timeout: Duration,
}

impl HttpAudio {
    /// The next non-empty run of samples, `None` at the end of the body. Each read of the body
    /// waits until `deadline` when given (the first audio), else for the idle timeout.
    pub(crate) async fn next_by(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<Vec<i16>>, Failure> {
        loop {
            let deadline = deadline.unwrap_or_else(|| Instant::now() + self.idle_timeout);
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .map_err(|_| Failure::Timeout)?
                .map_err(|e| Failure::from_reqwest(&e))?;
            let Some(bytes) = chunk else {
                if self.decoder.has_carry() {
                    debug!("ElevenLabs audio ended with half a sample; dropping it");
                }
                return Ok(None);
            };
            let samples = self.decoder.push(&bytes);
            if !samples.is_empty() {
                return Ok(Some(samples));
            }
        }
    }
}

/// The body to send for `utterance`.
pub(crate) fn body(utterance: &Utterance) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&StreamBody::from(utterance))
}
