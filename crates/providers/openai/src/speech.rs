//! [`OpenAiSpeech`]: the [`TextToSpeech`] port over `POST {base}/audio/speech`, its headerless
//! 24 kHz PCM read as it arrives.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::{StreamExt as _, stream};
use reqwest::Response;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Serialize;
use switchboard_domain::ports::{AudioStream, SpeechError, SpeechRequest, TextToSpeech};
use tokio::time::Instant;
use tracing::debug;
use url::Url;

use crate::config::{OpenAiConfig, OpenAiConfigError, SpeechConfig};
use crate::http::{Failure, Transport, endpoint};

/// `response_format: "pcm"` is 16-bit little-endian mono at this rate, whatever the caller plays
/// at; the session resamples.
const PCM_RATE_HZ: u32 = 24_000;
/// The slowest and fastest pace the API accepts.
const SPEED_RANGE: (f32, f32) = (0.25, 4.0);

/// Speech from OpenAI's API, or any server that speaks it.
///
/// [`TextToSpeech::synthesize`] resolves with the first audio in hand: until then 408, 409, 429,
/// 5xx and connection failures are retried (up to `max_retries`, honouring `Retry-After`);
/// after it nothing is, and a failure ends the stream with an error item. `first_token_timeout`
/// bounds the wait for the first audio, `idle_timeout` each silence after it. Dropping the stream
/// drops the response, which closes the connection.
#[derive(Debug)]
pub struct OpenAiSpeech {
    transport: Transport,
    url: Url,
    model: String,
    default_voice: String,
    name: String,
    first_chunk_timeout: Duration,
    idle_timeout: Duration,
}

impl OpenAiSpeech {
    /// An adapter for `config` and `speech`; nothing is sent until the first request.
    ///
    /// # Errors
    /// When the base URL is not http(s), the model or default voice is empty, the key or
    /// organization cannot be an HTTP header, or the HTTP client cannot be built.
    pub fn new(config: &OpenAiConfig, speech: SpeechConfig) -> Result<Self, OpenAiConfigError> {
        if speech.model.trim().is_empty() {
            return Err(OpenAiConfigError::EmptyModel);
        }
        if speech.default_voice.trim().is_empty() {
            return Err(OpenAiConfigError::EmptyVoice);
        }
        Ok(Self {
            transport: Transport::new(config)?,
            url: endpoint(&config.base_url, "/audio/speech")?,
            name: format!("openai/{}", speech.model),
            model: speech.model,
            default_voice: speech.default_voice,
            first_chunk_timeout: config.first_token_timeout,
            idle_timeout: config.idle_timeout,
        })
    }

    /// One attempt: send, check the status, and read until the first audio, so that failures
    /// before it can still be retried.
    async fn attempt(&self, body: &[u8]) -> Result<(Option<Vec<i16>>, Body), Failure> {
        let deadline = Instant::now() + self.first_chunk_timeout;
        let send = self
            .transport
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/octet-stream")
            .body(body.to_vec())
            .send();
        let response = tokio::time::timeout_at(deadline, send)
            .await
            .map_err(|_| Failure::Timeout)?
            .map_err(|e| Failure::from_reqwest(&e))?;
        if !response.status().is_success() {
            return Err(self.transport.status_failure(response).await);
        }
        let mut body = Body {
            response,
            decoder: Pcm16Decoder::default(),
            idle_timeout: self.idle_timeout,
        };
        let first = body.next_by(Some(deadline)).await?;
        Ok((first, body))
    }
}

#[async_trait]
impl TextToSpeech for OpenAiSpeech {
    fn name(&self) -> &str {
        &self.name
    }

    async fn synthesize(&self, request: &SpeechRequest) -> Result<AudioStream, SpeechError> {
        let empty = || AudioStream {
            sample_rate_hz: PCM_RATE_HZ,
            chunks: Box::pin(stream::empty()),
        };
        if request.text.trim().is_empty() {
            // Nothing to say is an utterance of no audio, not a refusal.
            return Ok(empty());
        }
        let voice = if request.voice.trim().is_empty() {
            self.default_voice.as_str()
        } else {
            request.voice.trim()
        };
        let body = SpeechBody {
            model: &self.model,
            input: &request.text,
            voice,
            response_format: "pcm",
            speed: clamp_speed(request.speed),
        };
        let body = serde_json::to_vec(&body).map_err(|e| SpeechError::Unexpected(e.into()))?;
        let started_at = Instant::now();
        let (first, body) = self
            .transport
            .run("speech", || self.attempt(&body))
            .await
            .map_err(|failure| {
                debug!(failure = ?failure, "speech request failed");
                failure.into_speech_error()
            })?;
        debug!(
            first_audio_ms = u64::try_from(started_at.elapsed().as_millis()).unwrap_or(u64::MAX),
            "speech started"
        );
        let Some(first) = first else {
            return Ok(empty());
        };
        // The stream owns the response: dropping it closes the connection. After an error item
        // it ends.
        let rest = stream::unfold(Some(body), |body| async move {
            let mut body = body?;
            match body.next_by(None).await {
                Ok(Some(samples)) => Some((Ok(samples), Some(body))),
                Ok(None) => None,
                Err(failure) => {
                    debug!(failure = ?failure, "speech audio broke off");
                    Some((Err(failure.into_speech_error()), None))
                }
            }
        });
        Ok(AudioStream {
            sample_rate_hz: PCM_RATE_HZ,
            chunks: Box::pin(stream::once(async { Ok(first) }).chain(rest)),
        })
    }
}

/// The request body of 4.4 in PROVIDERS.md. `speed` stays an f32 so that it is written as
/// typed (1.2, not 1.2000000476837158).
#[derive(Debug, Serialize)]
struct SpeechBody<'a> {
    model: &'a str,
    input: &'a str,
    voice: &'a str,
    response_format: &'static str,
    speed: f32,
}

/// `speed` clamped to what the API accepts; a pace that is not a number is the natural one.
fn clamp_speed(speed: f32) -> f32 {
    if speed.is_finite() {
        speed.clamp(SPEED_RANGE.0, SPEED_RANGE.1)
    } else {
        1.0
    }
}

/// A response body being read as PCM16.
#[derive(Debug)]
struct Body {
    response: Response,
    decoder: Pcm16Decoder,
    idle_timeout: Duration,
}

impl Body {
    /// The next non-empty run of samples, `None` at the end of the body. Each read waits until
    /// `deadline` when given (the first audio), else for the idle timeout.
    async fn next_by(&mut self, deadline: Option<Instant>) -> Result<Option<Vec<i16>>, Failure> {
        loop {
            let deadline = deadline.unwrap_or_else(|| Instant::now() + self.idle_timeout);
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .map_err(|_| Failure::Timeout)?
                .map_err(|e| Failure::from_reqwest(&e))?;
            let Some(bytes) = chunk else {
                return Ok(None);
            };
            let samples = self.decoder.push(&bytes);
            if !samples.is_empty() {
                return Ok(Some(samples));
            }
        }
    }
}

/// PCM16 little-endian bytes to samples, carrying a sample split across two chunks over.
#[derive(Debug, Default)]
struct Pcm16Decoder {
    carry: Option<u8>,
}

impl Pcm16Decoder {
    fn push(&mut self, bytes: &[u8]) -> Vec<i16> {
        let mut samples = Vec::with_capacity(bytes.len().div_ceil(2));
        let mut rest = bytes;
        if let Some(low) = self.carry.take() {
            let Some((&high, tail)) = rest.split_first() else {
                self.carry = Some(low);
                return samples;
            };
            samples.push(i16::from_le_bytes([low, high]));
            rest = tail;
        }
        let mut pairs = rest.chunks_exact(2);
        samples.extend(
            pairs
                .by_ref()
                .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
        );
        self.carry = pairs.remainder().first().copied();
        samples
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn samples_split_across_chunks_are_carried_over() {
        let samples: Vec<i16> = vec![1, -2, 300, i16::MIN, i16::MAX];
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        for split in [&[1_usize, 2, 3, 4][..], &[5, 5], &[0, 9, 1]] {
            let mut decoder = Pcm16Decoder::default();
            let mut out = Vec::new();
            let mut at = 0;
            for &n in split {
                out.extend(decoder.push(&bytes[at..at + n]));
                at += n;
            }
            assert_eq!(out, samples, "split {split:?}");
            assert_eq!(decoder.carry, None);
        }
    }

    #[test]
    fn the_body_has_openais_shape_with_the_speed_clamped() {
        let body = SpeechBody {
            model: "tts-1",
            input: "Hello.",
            voice: "alloy",
            response_format: "pcm",
            speed: clamp_speed(9.0),
        };
        let wire: serde_json::Value =
            serde_json::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"model": "tts-1", "input": "Hello.", "voice": "alloy",
                               "response_format": "pcm", "speed": 4.0})
        );
        assert!((clamp_speed(0.1) - 0.25).abs() < f32::EPSILON);
        assert!((clamp_speed(f32::INFINITY) - 1.0).abs() < f32::EPSILON);
    }
}
