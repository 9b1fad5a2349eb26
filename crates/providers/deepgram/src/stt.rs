//! [`DeepgramStt`]: the [`SpeechToText`] port over Deepgram, live streams and whole recordings.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Client;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use switchboard_audio::check_sample_rate;
use switchboard_audio::wav::write_wav_mono;
use switchboard_domain::ports::{SpeechError, SpeechToText, SttConfig, SttStream};
use switchboard_provider_http::{ApiKey, RetryPolicy, client, describe, endpoint};
use tracing::{debug, instrument};
use url::Url;

use crate::config::{DeepgramConfig, DeepgramConfigError};
use crate::failure::Failure;
use crate::live::{self, LiveSettings};
use crate::prerecorded;

/// Deepgram speech recognition.
///
/// [`SpeechToText::open`] opens a WebSocket to `/v1/listen` sending PCM16 (`linear16`) at the
/// caller's rate, and resolves once Deepgram accepted it; connection failures, 408, 429 and 5xx
/// are retried (by `retry`), a refused handshake (401, 403, other 4xx) is `Rejected` at once.
/// The sink's audio goes out as binary frames through a writer task with a bounded channel,
/// which also sends a `KeepAlive` whenever no audio went out for `keep_alive_interval`.
///
/// Events: interim results become `Interim`, final ones `Final` (empty transcripts are not
/// reported, but an empty `speech_final` final that ends a turn whose words came without
/// `speech_final` becomes `UtteranceEnd`), `SpeechStarted` and `UtteranceEnd` pass through,
/// anything else is ignored. After `close` the events end with Deepgram's close; a connection
/// that drops (or that Deepgram closes unasked) ends them with `Unavailable` (`Rejected` for
/// Deepgram's policy close, which it uses for audio it cannot decode).
///
/// [`SpeechToText::transcribe`] posts a WAV file to `/v1/listen` with the same retries; it
/// must be answered within `answer_timeout` or fails with `Timeout`.
pub struct DeepgramStt {
    client: Client,
    key: ApiKey,
    authorization: Option<HeaderValue>,
    /// `/v1/listen` over HTTP(S), for recordings.
    listen_http: Url,
    /// `/v1/listen` over WS(S), for live streams.
    listen_ws: Url,
    model: String,
    name: String,
    retry: RetryPolicy,
    answer_timeout: Duration,
    live: LiveSettings,
}

impl fmt::Debug for DeepgramStt {
    // The client's and the header's own `Debug` would show the key (marked sensitive, but it
    // has no business in debug output at all).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeepgramStt")
            .field("listen", &self.listen_http.as_str())
            .field("model", &self.model)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl DeepgramStt {
    /// An adapter for `config`; nothing is sent until the first stream or recording. An empty
    /// key sends no `Authorization` header, for self-hosted Deepgram servers that need none.
    ///
    /// # Errors
    /// When the base URL is not http(s) with a host, the model name is empty, the key cannot be
    /// an HTTP header, the keep-alive interval or send buffer is zero, or the HTTP client cannot
    /// be built.
    pub fn new(config: DeepgramConfig) -> Result<Self, DeepgramConfigError> {
        if config.model.trim().is_empty() {
            return Err(DeepgramConfigError::EmptyModel);
        }
        if config.keep_alive_interval.is_zero() {
            return Err(DeepgramConfigError::KeepAliveInterval);
        }
        if config.send_buffer == 0 {
            return Err(DeepgramConfigError::SendBuffer);
        }
        let listen_http = endpoint(&config.base_url, "/v1/listen")
            .map_err(|_| DeepgramConfigError::BaseUrl(config.base_url.to_string()))?;
        let mut listen_ws = listen_http.clone();
        let ws = if listen_http.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        listen_ws
            .set_scheme(ws)
            .map_err(|()| DeepgramConfigError::BaseUrl(config.base_url.to_string()))?;

        let authorization = if config.api_key.expose().is_empty() {
            None
        } else {
            Some(
                config
                    .api_key
                    .header_value("Token ")
                    .map_err(|_| DeepgramConfigError::InvalidKey)?,
            )
        };
        let mut headers = HeaderMap::new();
        if let Some(value) = &authorization {
            headers.insert(AUTHORIZATION, value.clone());
        }
        let client = client(headers, config.connect_timeout)
            .map_err(|e| DeepgramConfigError::Client(describe(&e)))?;
        Ok(Self {
            client,
            key: config.api_key,
            authorization,
            listen_http,
            listen_ws,
            name: format!("deepgram/{}", config.model),
            model: config.model,
            retry: config.retry,
            answer_timeout: config.answer_timeout,
            live: LiveSettings {
                connect_timeout: config.connect_timeout,
                close_timeout: config.answer_timeout,
                keep_alive_interval: config.keep_alive_interval,
                send_buffer: config.send_buffer,
            },
        })
    }

    /// The request's model, or the configured one.
    fn model_for<'a>(&'a self, requested: &'a str) -> &'a str {
        if requested.trim().is_empty() {
            &self.model
        } else {
            requested
        }
    }
}

/// Logs a retry in this adapter's words.
fn log_retry(what: &'static str) -> impl FnMut(&Failure, u32, Duration) {
    move |failure, retry, wait| {
        debug!(
            request = what,
            retry,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            failure = ?failure,
            "Deepgram request failed; retrying"
        );
    }
}

fn check_rate(sample_rate_hz: u32) -> Result<(), SpeechError> {
    check_sample_rate(sample_rate_hz)
        .map(|_| ())
        .map_err(|e| SpeechError::Rejected(e.to_string()))
}

#[async_trait]
impl SpeechToText for DeepgramStt {
    fn name(&self) -> &str {
        &self.name
    }

    #[instrument(skip_all, fields(stt.model = %self.model_for(&config.model), stt.sample_rate_hz = config.sample_rate_hz))]
    async fn open(&self, config: SttConfig) -> Result<SttStream, SpeechError> {
        check_rate(config.sample_rate_hz)?;
        let url = live::stream_url(&self.listen_ws, self.model_for(&config.model), &config);
        let socket = self
            .retry
            .run(
                || {
                    live::connect(
                        &url,
                        self.authorization.as_ref(),
                        &self.key,
                        self.live.connect_timeout,
                    )
                },
                log_retry("stream"),
            )
            .await
            .map_err(Failure::into_speech_error)?;
        Ok(live::start(socket, self.live))
    }

    #[instrument(skip_all, fields(stt.model = %self.model, audio.samples = samples.len(), audio.sample_rate_hz = sample_rate_hz))]
    async fn transcribe(
        &self,
        samples: &[i16],
        sample_rate_hz: u32,
    ) -> Result<String, SpeechError> {
        check_rate(sample_rate_hz)?;
        if samples.is_empty() {
            // Nothing was said; Deepgram would refuse an empty file.
            return Ok(String::new());
        }
        let wav = write_wav_mono(samples, sample_rate_hz).map_err(|e| {
            SpeechError::Unexpected(anyhow::anyhow!("cannot write the WAV file: {e}"))
        })?;
        let url = prerecorded::request_url(&self.listen_http, &self.model);
        self.retry
            .run(
                || prerecorded::attempt(&self.client, &self.key, &url, &wav, self.answer_timeout),
                log_retry("transcription"),
            )
            .await
            .map_err(Failure::into_speech_error)
    }
}
