//! [`ElevenLabsTts`]: the [`TextToSpeech`] port over either transport, with retries before the
//! first audio and none after it.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::{StreamExt as _, stream};
use switchboard_domain::ports::{AudioStream, SpeechError, SpeechRequest, TextToSpeech};
use switchboard_provider_http::RetryPolicy;
use tokio::time::Instant;
use tracing::debug;

use crate::config::{ElevenLabsConfig, ElevenLabsConfigError, ElevenLabsTransport};
use crate::failure::Failure;
use crate::format::OutputFormat;
use crate::http::{self, HttpAudio, HttpTransport};
use crate::request::{Utterance, VoiceSettings, clamp_speed, language_code};
use crate::ws::{WsAudio, WsTransport};

/// ElevenLabs text-to-speech.
///
/// The output format is chosen from the request's rate so that nothing needs resampling:
/// `ulaw_8000` for 8 kHz (decoded to PCM16 here), `pcm_{rate}` for 16, 22.05, 24, 44.1 and
/// 48 kHz, `pcm_24000` for any other rate; the stream states the rate it delivers.
///
/// [`TextToSpeech::synthesize`] resolves with the first audio in hand: until then 408, 429, 5xx,
/// connection failures and transient closes are retried under the configured policy; after it
/// nothing is (it would repeat audio), and a failure ends the stream with an error item.
/// Dropping the stream closes the connection, which stops the synthesis.
#[derive(Debug)]
pub struct ElevenLabsTts {
    transport: Transport,
    name: String,
    model_id: String,
    default_voice_id: String,
    stability: f32,
    similarity_boost: f32,
    first_chunk_timeout: Duration,
    idle_timeout: Duration,
    retry: RetryPolicy,
}

#[derive(Debug)]
enum Transport {
    Http(HttpTransport),
    WebSocket(WsTransport),
}

/// The audio of an utterance still being read, from either transport.
#[derive(Debug)]
enum Audio {
    Http(HttpAudio),
    WebSocket(Box<WsAudio>),
}

impl Audio {
    async fn next(&mut self) -> Result<Option<Vec<i16>>, Failure> {
        match self {
            Self::Http(audio) => audio.next_by(None).await,
            Self::WebSocket(audio) => audio.next_by(None).await,
        }
    }
}

impl ElevenLabsTts {
    /// An adapter for `config`; nothing is sent until the first request.
    ///
    /// # Errors
    /// When the key is empty or cannot be an HTTP header, the base URL is not http(s) with a
    /// host, the model id is empty, a voice setting lies outside 0..=1, or the HTTP client
    /// cannot be built.
    pub fn new(config: ElevenLabsConfig) -> Result<Self, ElevenLabsConfigError> {
        if config.api_key.expose().is_empty() {
            return Err(ElevenLabsConfigError::EmptyKey);
        }
        if config.model_id.trim().is_empty() {
            return Err(ElevenLabsConfigError::EmptyModel);
        }
        let unit = 0.0..=1.0;
        if !unit.contains(&config.stability) || !unit.contains(&config.similarity_boost) {
            return Err(ElevenLabsConfigError::VoiceSettings);
        }
        let transport = match config.transport {
            ElevenLabsTransport::Http => Transport::Http(HttpTransport::new(
                &config.api_key,
                &config.base_url,
                config.connect_timeout,
            )?),
            ElevenLabsTransport::WebSocket => Transport::WebSocket(WsTransport::new(
                &config.api_key,
                &config.base_url,
                config.connect_timeout,
            )?),
        };
        Ok(Self {
            transport,
            name: format!("elevenlabs/{}", config.model_id),
            model_id: config.model_id,
            default_voice_id: config.default_voice_id,
            stability: config.stability,
            similarity_boost: config.similarity_boost,
            first_chunk_timeout: config.first_chunk_timeout,
            idle_timeout: config.idle_timeout,
            retry: config.retry,
        })
    }

    fn utterance(&self, request: &SpeechRequest) -> Result<Utterance, SpeechError> {
        let voice = if request.voice.trim().is_empty() {
            self.default_voice_id.trim()
        } else {
            request.voice.trim()
        };
        if voice.is_empty() {
            return Err(SpeechError::Rejected(
                "no ElevenLabs voice: the request names none and no default is configured".into(),
            ));
        }
        Ok(Utterance {
            voice: voice.to_owned(),
            text: request.text.clone(),
            model_id: self.model_id.clone(),
            format: OutputFormat::for_rate(request.sample_rate_hz),
            settings: VoiceSettings {
                stability: self.stability,
                similarity_boost: self.similarity_boost,
                speed: clamp_speed(request.speed),
            },
            language: language_code(request.language.as_deref()),
        })
    }

    /// Runs attempts under the retry policy until one has the first audio in hand.
    async fn start(&self, utterance: &Utterance) -> Result<(Option<Vec<i16>>, Audio), Failure> {
        let on_retry = |failure: &Failure, retry: u32, wait: Duration| {
            debug!(
                retry,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                failure = ?failure,
                "ElevenLabs synthesis failed before any audio; retrying"
            );
        };
        match &self.transport {
            Transport::Http(transport) => {
                let url = transport.url(utterance);
                let body = http::body(utterance).map_err(|e| Failure::Malformed(e.into()))?;
                let attempt = || {
                    transport.start(
                        &url,
                        &body,
                        utterance,
                        self.first_chunk_timeout,
                        self.idle_timeout,
                    )
                };
                let (first, audio) = self.retry.run(attempt, on_retry).await?;
                Ok((first, Audio::Http(audio)))
            }
            Transport::WebSocket(transport) => {
                let url = transport.url(utterance);
                let attempt = || {
                    transport.start(&url, utterance, self.first_chunk_timeout, self.idle_timeout)
                };
                let (first, audio) = self.retry.run(attempt, on_retry).await?;
                Ok((first, Audio::WebSocket(Box::new(audio))))
            }
        }
    }
}

#[async_trait]
impl TextToSpeech for ElevenLabsTts {
    fn name(&self) -> &str {
        &self.name
    }

    async fn synthesize(&self, request: &SpeechRequest) -> Result<AudioStream, SpeechError> {
        let utterance = self.utterance(request)?;
        let sample_rate_hz = utterance.format.sample_rate_hz();
        if utterance.text.trim().is_empty() {
            // Nothing to say is an utterance of no audio, not a refusal.
            return Ok(AudioStream {
                sample_rate_hz,
                chunks: Box::pin(stream::empty()),
            });
        }
        let started_at = Instant::now();
        let (first, audio) = self.start(&utterance).await.map_err(|failure| {
            debug!(failure = ?failure, "ElevenLabs synthesis failed");
            failure.into_speech_error()
        })?;
        debug!(
            tts.rate_hz = sample_rate_hz,
            tts.format = %utterance.format.query_value(),
            first_audio_ms = u64::try_from(started_at.elapsed().as_millis()).unwrap_or(u64::MAX),
            "ElevenLabs synthesis started"
        );
        let Some(first) = first else {
            return Ok(AudioStream {
                sample_rate_hz,
                chunks: Box::pin(stream::empty()),
            });
        };
        // The stream owns the connection: dropping it drops the body or socket, which closes
        // the connection and stops ElevenLabs. After an error item it ends.
        let rest = stream::unfold(Some(audio), |audio| async move {
            let mut audio = audio?;
            match audio.next().await {
                Ok(Some(samples)) => Some((Ok(samples), Some(audio))),
                Ok(None) => None,
                Err(failure) => {
                    debug!(failure = ?failure, "ElevenLabs audio broke off");
                    Some((Err(failure.into_speech_error()), None))
                }
            }
        });
        Ok(AudioStream {
            sample_rate_hz,
            chunks: Box::pin(stream::once(async { Ok(first) }).chain(rest)),
        })
    }
}
