//! [`OpenAiWhisper`]: the [`SpeechToText`] port over `POST {base}/audio/transcriptions`.
//!
//! Whole recordings are one multipart request. A live stream is built on the same batch
//! requests: its audio is cut into segments of speech by voice activity detection (see
//! `segmenter`), each segment transcribed as it ends. Two tasks, owned by the event stream,
//! do the work: the segmenter reads the sink's audio (through a bounded channel, so a sender
//! waits rather than queueing without bound) and hands segments to the transcriber (through a
//! channel of two, so at most three segments of `max_segment` are ever held), which sends one
//! request at a time so the finals come in speaking order.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::Stream;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use switchboard_audio::wav::write_wav_mono;
use switchboard_domain::ports::{
    SpeechError, SpeechToText, SttConfig, SttEvent, SttSink, SttStream,
};
use switchboard_provider_http::read_body;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;
use url::Url;

use crate::config::{OpenAiConfig, OpenAiConfigError, TranscriptionConfig};
use crate::http::{Failure, Transport, endpoint};
use crate::segmenter::{Cut, Segment, Segmenter};

/// A transcription answer is a short JSON document.
const RESPONSE_LIMIT: usize = 1024 * 1024;
/// Audio pieces the sink may queue before `send_audio` waits (a second at 20 ms pieces).
const AUDIO_QUEUE: usize = 50;
/// Segments waiting for the transcriber before the segmenter waits.
const SEGMENT_QUEUE: usize = 2;
/// Events waiting for the reader before the tasks wait.
const EVENT_QUEUE: usize = 32;
/// Segments shorter than this are not worth a request: there is no word in them.
const MIN_SEGMENT_MS: u32 = 100;

/// Speech recognition by OpenAI's Whisper (or `gpt-4o-transcribe`), or any server that speaks
/// its transcription API.
///
/// Requests are retried on 408, 409, 429, 5xx and connection failures, honouring
/// `Retry-After`. A live stream reports `SpeechStarted` when its detector hears speech and a
/// `Final` with `speech_final` when the speech ends (after `endpointing_ms` of silence) and its
/// segment is transcribed; speech longer than `max_segment` is reported in several finals, the
/// earlier ones without `speech_final`, and closed by `UtteranceEnd` if the last part has no
/// words. Whisper has no interim results, so `interim_results` is ignored, and the detector's
/// end of speech is the only endpoint, so `utterance_end_ms` is too. A transcription that fails
/// after its retries ends the stream with the error.
#[derive(Debug)]
pub struct OpenAiWhisper {
    client: Arc<Client>,
    name: String,
    default_model: String,
    default_language: Option<String>,
    max_segment: Duration,
    vad: switchboard_audio::vad::VadConfig,
}

/// What the transcriber needs, shared between the adapter and its streams' tasks.
#[derive(Debug)]
struct Client {
    transport: Transport,
    url: Url,
    request_timeout: Duration,
}

impl OpenAiWhisper {
    /// An adapter for `config` and `transcription`; nothing is sent until the first request.
    ///
    /// # Errors
    /// When the base URL is not http(s), the model is empty, the longest segment is not
    /// between 1 and 600 seconds, the key or organization cannot be an HTTP header, or the HTTP
    /// client cannot be built.
    pub fn new(
        config: &OpenAiConfig,
        transcription: TranscriptionConfig,
    ) -> Result<Self, OpenAiConfigError> {
        if transcription.model.trim().is_empty() {
            return Err(OpenAiConfigError::EmptyModel);
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&transcription.max_segment)
        {
            return Err(OpenAiConfigError::MaxSegment);
        }
        Ok(Self {
            client: Arc::new(Client {
                transport: Transport::new(config)?,
                url: endpoint(&config.base_url, "/audio/transcriptions")?,
                request_timeout: config.request_timeout,
            }),
            name: format!("openai/{}", transcription.model),
            default_model: transcription.model,
            default_language: transcription.language,
            max_segment: transcription.max_segment,
            vad: transcription.vad,
        })
    }
}

impl Client {
    /// Transcribes one recording; the text as the model gave it, trimmed.
    async fn transcribe(
        &self,
        samples: &[i16],
        sample_rate_hz: u32,
        model: &str,
        language: Option<&str>,
    ) -> Result<String, SpeechError> {
        let wav = write_wav_mono(samples, sample_rate_hz)
            .map_err(|e| SpeechError::Rejected(format!("cannot send this audio: {e}")))?;
        let language = language_code(language);
        debug!(
            stt.model = model,
            audio_ms = samples.len() as u64 * 1000 / u64::from(sample_rate_hz.max(1)),
            "transcription request"
        );
        let answer = self
            .transport
            .run("transcription", || {
                self.attempt(wav.clone(), model, language.as_deref())
            })
            .await
            .map_err(|failure| {
                debug!(failure = ?failure, "transcription request failed");
                failure.into_speech_error()
            })?;
        Ok(answer.text.trim().to_owned())
    }

    async fn attempt(
        &self,
        wav: Vec<u8>,
        model: &str,
        language: Option<&str>,
    ) -> Result<Transcription, Failure> {
        // A form is consumed by sending, so every attempt builds its own.
        let file = Part::bytes(wav)
            .file_name("audio.wav")
            .mime_str("audio/wav")
            .map_err(|e| Failure::Malformed(e.into()))?;
        let mut form = Form::new()
            .part("file", file)
            .text("model", model.to_owned())
            .text("response_format", "json");
        if let Some(language) = language {
            form = form.text("language", language.to_owned());
        }
        let mut response = self
            .transport
            .post(&self.url)
            .timeout(self.request_timeout)
            .multipart(form)
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(&e))?;
        if !response.status().is_success() {
            return Err(self.transport.status_failure(response).await);
        }
        let bytes = read_body(&mut response, RESPONSE_LIMIT).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Failure::Malformed(anyhow::anyhow!(
                "the transcription answer is not as documented: {e}"
            ))
        })
    }
}

/// The `json` answer, `{"text": "…"}` (usage and the rest ignored).
#[derive(Debug, Deserialize)]
struct Transcription {
    #[serde(default)]
    text: String,
}

/// The two-letter ISO 639-1 code of a BCP 47 tag (`en-US` gives `en`), which is what the API
/// takes; `None` for tags whose language has no two-letter code.
fn language_code(tag: Option<&str>) -> Option<String> {
    let primary = tag?.trim().split(['-', '_']).next()?;
    (primary.len() == 2 && primary.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| primary.to_ascii_lowercase())
}

#[async_trait]
impl SpeechToText for OpenAiWhisper {
    fn name(&self) -> &str {
        &self.name
    }

    async fn open(&self, config: SttConfig) -> Result<SttStream, SpeechError> {
        let rate = config.sample_rate_hz;
        let mut vad = self.vad.clone();
        // The stream's endpointing decides when speech has ended; the detector needs at least
        // one frame of silence, and its floor window must cover the end.
        vad.end_ms = config.endpointing_ms.max(20);
        vad.floor_window_ms = vad.floor_window_ms.max(vad.end_ms);
        let max_samples = usize::try_from(self.max_segment.as_millis() * u128::from(rate) / 1000)
            .unwrap_or(usize::MAX);
        let segmenter = Segmenter::new(rate, vad, max_samples)
            .map_err(|e| SpeechError::Rejected(format!("cannot segment this audio: {e}")))?;
        let model = if config.model.trim().is_empty() {
            self.default_model.clone()
        } else {
            config.model.trim().to_owned()
        };
        let job = Job {
            client: Arc::clone(&self.client),
            model,
            language: config.language,
            sample_rate_hz: rate,
        };
        let (audio, audio_rx) = mpsc::channel(AUDIO_QUEUE);
        let (segments, segments_rx) = mpsc::channel(SEGMENT_QUEUE);
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
        let segmenting = TaskGuard(tokio::spawn(segment(
            segmenter,
            audio_rx,
            segments,
            events.clone(),
        )));
        let transcribing = TaskGuard(tokio::spawn(transcribe(job, segments_rx, events)));
        debug!(stt.rate_hz = rate, "transcription stream opened");
        Ok(SttStream {
            sink: Box::new(WhisperSink { audio }),
            events: Box::pin(Events {
                events: events_rx,
                tasks: Some([segmenting, transcribing]),
            }),
        })
    }

    async fn transcribe(
        &self,
        samples: &[i16],
        sample_rate_hz: u32,
    ) -> Result<String, SpeechError> {
        if samples.is_empty() {
            return Ok(String::new());
        }
        self.client
            .transcribe(
                samples,
                sample_rate_hz,
                &self.default_model,
                self.default_language.as_deref(),
            )
            .await
    }
}

/// What the sink sends the segmenter.
#[derive(Debug)]
enum Command {
    Audio(Vec<i16>),
    Finalize,
    Close,
}

/// The sending half of a live stream.
#[derive(Debug)]
struct WhisperSink {
    audio: mpsc::Sender<Command>,
}

impl WhisperSink {
    async fn send(&self, command: Command) -> Result<(), SpeechError> {
        self.audio
            .send(command)
            .await
            .map_err(|_| SpeechError::Unavailable("the transcription stream has ended".into()))
    }
}

#[async_trait]
impl SttSink for WhisperSink {
    async fn send_audio(&mut self, samples: &[i16]) -> Result<(), SpeechError> {
        if samples.is_empty() {
            return Ok(());
        }
        self.send(Command::Audio(samples.to_vec())).await
    }

    async fn finalize(&mut self) -> Result<(), SpeechError> {
        self.send(Command::Finalize).await
    }

    async fn close(&mut self) -> Result<(), SpeechError> {
        self.send(Command::Close).await
    }
}

/// The segmenter task: reads the sink's commands until `Close` or the sink is dropped, and
/// hands segments on. Ends early when the transcriber or the reader has gone.
async fn segment(
    mut segmenter: Segmenter,
    mut commands: mpsc::Receiver<Command>,
    segments: mpsc::Sender<Segment>,
    events: mpsc::Sender<Result<SttEvent, SpeechError>>,
) {
    while let Some(command) = commands.recv().await {
        let cuts = match command {
            Command::Audio(samples) => segmenter.push(&samples),
            // `finalize` settles what was heard without judging the speaker finished.
            Command::Finalize => segmenter.cut(false).map(Cut::Segment).into_iter().collect(),
            Command::Close => {
                if let Some(last) = segmenter.cut(true) {
                    let _ = segments.send(last).await;
                }
                // Returning drops the segment sender: the transcriber finishes what it has, and
                // the events end after its last.
                return;
            }
        };
        for cut in cuts {
            let sent = match cut {
                Cut::SpeechStarted => events.send(Ok(SttEvent::SpeechStarted)).await.is_ok(),
                Cut::Segment(segment) => segments.send(segment).await.is_ok(),
            };
            if !sent {
                return;
            }
        }
    }
    // The sink was dropped without `close`: what was pending is lost, as the port allows.
}

/// What every transcription of one stream shares.
#[derive(Debug)]
struct Job {
    client: Arc<Client>,
    model: String,
    language: Option<String>,
    sample_rate_hz: u32,
}

/// The transcriber task: one request at a time, in segment order; finals for segments with
/// words, `UtteranceEnd` for a wordless end of speech that follows finals without
/// `speech_final`. Ends with an error item when a transcription fails.
async fn transcribe(
    job: Job,
    mut segments: mpsc::Receiver<Segment>,
    events: mpsc::Sender<Result<SttEvent, SpeechError>>,
) {
    let min_samples = (job.sample_rate_hz * MIN_SEGMENT_MS / 1000) as usize;
    // Whether finals were reported for speech that has not ended yet.
    let mut utterance_open = false;
    while let Some(segment) = segments.recv().await {
        let text = if segment.samples.len() < min_samples {
            String::new()
        } else {
            match job
                .client
                .transcribe(
                    &segment.samples,
                    job.sample_rate_hz,
                    &job.model,
                    job.language.as_deref(),
                )
                .await
            {
                Ok(text) => text,
                Err(error) => {
                    let _ = events.send(Err(error)).await;
                    return;
                }
            }
        };
        let event = if !text.is_empty() {
            utterance_open = !segment.speech_final;
            SttEvent::Final {
                text,
                speech_final: segment.speech_final,
            }
        } else if segment.speech_final && utterance_open {
            utterance_open = false;
            SttEvent::UtteranceEnd
        } else {
            continue;
        };
        if events.send(Ok(event)).await.is_err() {
            return;
        }
    }
}

/// Aborts its task when dropped: a stream's tasks live no longer than its event stream.
#[derive(Debug)]
struct TaskGuard(JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The event stream of a live transcription. It owns the stream's tasks: dropping it stops
/// them; after an error item it ends, and stops them too.
#[derive(Debug)]
struct Events {
    events: mpsc::Receiver<Result<SttEvent, SpeechError>>,
    /// `None` once the stream has ended.
    tasks: Option<[TaskGuard; 2]>,
}

impl Stream for Events {
    type Item = Result<SttEvent, SpeechError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.tasks.is_none() {
            return Poll::Ready(None);
        }
        let polled = this.events.poll_recv(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.tasks = None;
            this.events.close();
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes_come_from_the_tags_primary_subtag() {
        assert_eq!(language_code(Some("en-GB")).as_deref(), Some("en"));
        assert_eq!(language_code(Some("es")).as_deref(), Some("es"));
        assert_eq!(language_code(Some("yue-HK")), None);
        assert_eq!(language_code(None), None);
    }
}
