//! Live transcription over Deepgram's WebSocket (PROVIDERS.md §2.1): opening the stream (with
//! retries), the writer task that owns the sending half, the sink that feeds it, and the event
//! stream that reads the receiving half.
//!
//! Ownership: the event stream owns the writer task (it aborts it when dropped), and the sink
//! owns the writer's bounded channel (the writer sends `CloseStream` and ends when the sink
//! closes or is dropped). So the task ends when the caller is done with either half, and the
//! audio path never queues more than the channel holds.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use switchboard_audio::pcm::i16_to_pcm16le;
use switchboard_domain::ports::{SpeechError, SttConfig, SttEvent, SttEvents, SttSink, SttStream};
use switchboard_provider_http::{ApiKey, ErrorAnswer, error_text, retry_after};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::debug;
use url::Url;

use crate::failure::Failure;
use crate::wire::{self, CLOSE_STREAM, FINALIZE, Incoming, KEEP_ALIVE};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What one live stream needs to know from the adapter's configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LiveSettings {
    pub(crate) connect_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) keep_alive_interval: Duration,
    pub(crate) send_buffer: usize,
}

/// `listen` (the `/v1/listen` endpoint as a `ws`/`wss` URL) with the stream's query: the
/// model, raw PCM16 at the caller's rate, and the turn-taking signals the port reports.
/// Endpointing of 0 ms turns endpointing off; `utterance_end_ms` goes only with interim
/// results (Deepgram requires them for it) and when not 0.
pub(crate) fn stream_url(listen: &Url, model: &str, config: &SttConfig) -> Url {
    let mut url = listen.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("model", model)
            .append_pair("encoding", "linear16")
            .append_pair("sample_rate", &config.sample_rate_hz.to_string())
            .append_pair("channels", "1");
        if let Some(language) = config.language.as_deref().filter(|l| !l.is_empty()) {
            query.append_pair("language", language);
        }
        query.append_pair("interim_results", bool_text(config.interim_results));
        if config.endpointing_ms == 0 {
            query.append_pair("endpointing", "false");
        } else {
            query.append_pair("endpointing", &config.endpointing_ms.to_string());
        }
        if config.interim_results && config.utterance_end_ms > 0 {
            query.append_pair("utterance_end_ms", &config.utterance_end_ms.to_string());
        }
        query
            .append_pair("vad_events", "true")
            .append_pair("smart_format", "true")
            .append_pair("punctuate", "true");
    }
    url
}

fn bool_text(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// One attempt to open a stream: connect and complete the handshake within `timeout`.
pub(crate) async fn connect(
    url: &Url,
    authorization: Option<&HeaderValue>,
    key: &ApiKey,
    timeout: Duration,
) -> Result<Socket, Failure> {
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| Failure::Malformed(anyhow::anyhow!("cannot build the stream request: {e}")))?;
    if let Some(value) = authorization {
        request.headers_mut().insert(AUTHORIZATION, value.clone());
    }
    // Audio goes out in small frames that should leave at once, not wait for Nagle.
    let connecting = tokio_tungstenite::connect_async_with_config(request, None, true);
    match tokio::time::timeout(timeout, connecting).await {
        Err(_) => Err(Failure::Timeout),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(error)) => Err(handshake_failure(error, key)),
    }
}

/// A refused handshake carries Deepgram's error body (when it arrived with the head) or its
/// `dg-error` header; anything else is a connection failure.
fn handshake_failure(error: tungstenite::Error, key: &ApiKey) -> Failure {
    match error {
        tungstenite::Error::Http(response) => {
            let status = response.status();
            let body = response.body().as_deref().unwrap_or_default();
            let message = wire::error_message(body).or_else(|| {
                response
                    .headers()
                    .get("dg-error")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            });
            Failure::Status(ErrorAnswer {
                status,
                message: key.redact(&error_text(status, body, message)),
                retry_after: retry_after(response.headers(), SystemTime::now()),
            })
        }
        other => Failure::Connection(key.redact(&format!("cannot open the stream: {other}"))),
    }
}

/// Splits an open socket into the port's sink and events, and starts the writer.
pub(crate) fn start(socket: Socket, settings: LiveSettings) -> SttStream {
    let (outgoing, incoming) = socket.split();
    let (commands, received) = mpsc::channel(settings.send_buffer.max(1));
    let (closing, closing_seen) = watch::channel(false);
    let writer = tokio::spawn(write(
        outgoing,
        received,
        settings.keep_alive_interval,
        closing,
    ));
    let reader = Reader {
        socket: incoming,
        closing: Some(closing_seen),
        close_timeout: settings.close_timeout,
        close_deadline: None,
        turns: Turns::default(),
        done: false,
        _writer: AbortOnDrop(writer),
    };
    // Fused: a caller polling again after the end (in a `select!` loop, say) gets `None`
    // again rather than a panic.
    let events: SttEvents = Box::pin(
        futures_util::stream::unfold(reader, |mut reader| async move {
            let item = reader.next_event().await?;
            Some((item, reader))
        })
        .fuse(),
    );
    SttStream {
        sink: Box::new(DeepgramSink {
            commands,
            close_timeout: settings.close_timeout,
            closed: false,
        }),
        events,
    }
}

/// What the sink asks the writer to send.
#[derive(Debug)]
enum Command {
    /// PCM16 LE, one binary frame.
    Audio(Vec<u8>),
    Finalize,
    /// `CloseStream`; the writer says whether it went out, then ends.
    Close(oneshot::Sender<bool>),
}

/// Aborts the task when dropped, so a task never outlives its owner.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The writer: sends what the sink asks for, in order, and a `KeepAlive` whenever no audio
/// went out for `keep_alive`. It ends after `CloseStream` (asked for, or because the sink is
/// gone), when a send fails (the connection dropped), or when the event stream aborts it.
async fn write(
    mut socket: SplitSink<Socket, Message>,
    mut commands: mpsc::Receiver<Command>,
    keep_alive: Duration,
    closing: watch::Sender<bool>,
) {
    let idle = tokio::time::sleep(keep_alive);
    tokio::pin!(idle);
    let acknowledge = loop {
        let message = tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Audio(bytes)) => {
                    idle.as_mut().reset(Instant::now() + keep_alive);
                    Message::binary(bytes)
                }
                Some(Command::Finalize) => Message::text(FINALIZE),
                Some(Command::Close(acknowledge)) => break Some(acknowledge),
                // The sink was dropped without closing: close anyway, so Deepgram still sends
                // what it has and the event stream ends.
                None => break None,
            },
            () = &mut idle => {
                idle.as_mut().reset(Instant::now() + keep_alive);
                Message::text(KEEP_ALIVE)
            }
        };
        if let Err(error) = socket.send(message).await {
            debug!(error = %error, "the Deepgram stream could not send; its writer stops");
            return;
        }
    };
    // The reader starts its wait for the last results now.
    closing.send_replace(true);
    let sent = match socket.send(Message::text(CLOSE_STREAM)).await {
        Ok(()) => true,
        Err(error) => {
            debug!(error = %error, "the Deepgram stream could not send CloseStream");
            false
        }
    };
    if let Some(acknowledge) = acknowledge {
        // The sink may have given up waiting; then nobody needs the answer.
        let _ = acknowledge.send(sent);
    }
}

/// The sending half handed to the caller.
struct DeepgramSink {
    commands: mpsc::Sender<Command>,
    close_timeout: Duration,
    closed: bool,
}

impl DeepgramSink {
    async fn send(&self, command: Command) -> Result<(), SpeechError> {
        if self.closed {
            return Err(SpeechError::Unavailable(
                "the Deepgram stream is closed".to_owned(),
            ));
        }
        // Waits while the channel is full: a slow connection slows the caller down.
        self.commands.send(command).await.map_err(|_| lost())
    }
}

fn lost() -> SpeechError {
    SpeechError::Unavailable("the connection to Deepgram was lost".to_owned())
}

#[async_trait]
impl SttSink for DeepgramSink {
    async fn send_audio(&mut self, samples: &[i16]) -> Result<(), SpeechError> {
        if samples.is_empty() {
            return Ok(());
        }
        self.send(Command::Audio(i16_to_pcm16le(samples))).await
    }

    async fn finalize(&mut self) -> Result<(), SpeechError> {
        self.send(Command::Finalize).await
    }

    /// Queues `CloseStream` behind the audio already sent and waits until it went out.
    async fn close(&mut self) -> Result<(), SpeechError> {
        if self.closed {
            return Ok(());
        }
        let (acknowledge, sent) = oneshot::channel();
        // Both the queue and the connection may be stuck behind a server that stopped
        // reading, so the whole of closing is bounded.
        let closing = async {
            self.send(Command::Close(acknowledge)).await?;
            match sent.await {
                Ok(true) => Ok(()),
                Ok(false) | Err(_) => Err(lost()),
            }
        };
        let outcome = tokio::time::timeout(self.close_timeout, closing)
            .await
            .unwrap_or(Err(SpeechError::Timeout));
        self.closed = true;
        outcome
    }
}

/// The receiving half: reads Deepgram's messages and turns them into the port's events.
struct Reader {
    socket: SplitStream<Socket>,
    /// Turns `true` once `CloseStream` is going out; `None` once that was seen, or once the
    /// writer ended without closing.
    closing: Option<watch::Receiver<bool>>,
    close_timeout: Duration,
    /// Set once `CloseStream` went out: Deepgram's last results and close must come by then.
    close_deadline: Option<Instant>,
    turns: Turns,
    done: bool,
    _writer: AbortOnDrop,
}

/// What one read gave.
enum Read {
    Message(Option<Result<Message, tungstenite::Error>>),
    TimedOut,
}

impl Reader {
    /// The next event, an error that ends the stream, or `None` once it has ended.
    async fn next_event(&mut self) -> Option<Result<SttEvent, SpeechError>> {
        while !self.done {
            let message = match self.read().await {
                Read::TimedOut => {
                    self.done = true;
                    return Some(Err(SpeechError::Timeout));
                }
                Read::Message(message) => message,
            };
            match message {
                Some(Ok(Message::Text(text))) => match wire::parse_incoming(&text) {
                    Ok(incoming) => {
                        if let Some(event) = self.turns.translate(incoming) {
                            return Some(Ok(event));
                        }
                    }
                    Err(error) => {
                        debug!(error = %error, "ignored a Deepgram message that is not as documented");
                    }
                },
                // Deepgram sends no binary frames on this endpoint; pings are answered by
                // tungstenite itself.
                Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Frame(_))) => {}
                Some(Ok(Message::Close(frame))) => {
                    self.done = true;
                    if !self.closing_requested() {
                        return Some(Err(closed_by_server(frame.as_ref())));
                    }
                }
                Some(Err(error)) => {
                    self.done = true;
                    return Some(Err(SpeechError::Unavailable(format!(
                        "the Deepgram stream broke: {error}"
                    ))));
                }
                None => {
                    self.done = true;
                    if !self.closing_requested() {
                        return Some(Err(SpeechError::Unavailable(
                            "Deepgram closed the connection".to_owned(),
                        )));
                    }
                }
            }
        }
        None
    }

    /// Whether `CloseStream` went out (or is going out): the writer raises the flag before
    /// sending it, so any close that answers it finds the flag raised, even when this reader
    /// has not yet seen the flag change.
    fn closing_requested(&self) -> bool {
        self.close_deadline.is_some()
            || self
                .closing
                .as_ref()
                .is_some_and(|closing| *closing.borrow())
    }

    /// Reads the next message; once `CloseStream` went out, only until the close deadline.
    async fn read(&mut self) -> Read {
        loop {
            if let Some(deadline) = self.close_deadline {
                return match tokio::time::timeout_at(deadline, self.socket.next()).await {
                    Ok(message) => Read::Message(message),
                    Err(_) => Read::TimedOut,
                };
            }
            let Some(closing) = self.closing.as_mut() else {
                return Read::Message(self.socket.next().await);
            };
            // Reading is cancel-safe: a message half read stays in the socket's buffer.
            tokio::select! {
                // The flag first, so the deadline starts before the next read.
                biased;
                seen = async { closing.wait_for(|closing| *closing).await.is_ok() } => {
                    if seen {
                        self.close_deadline = Some(Instant::now() + self.close_timeout);
                    }
                    // Either way the signal has said all it will.
                    self.closing = None;
                }
                message = self.socket.next() => return Read::Message(message),
            }
        }
    }
}

/// Turns Deepgram's messages into the port's events, remembering whether a turn is open.
#[derive(Debug, Default)]
struct Turns {
    /// A non-empty final without `speech_final` was reported and no turn end since.
    utterance_open: bool,
}

impl Turns {
    /// The port's event for one message, if any. Empty transcripts are not reported, except
    /// that an empty `speech_final` final ends a turn whose words came in finals without
    /// `speech_final`: it becomes [`SttEvent::UtteranceEnd`] (the port's "the utterance is
    /// over even if no final carried `speech_final`"). An empty one with no such turn open is
    /// endpointing on silence, and says nothing.
    fn translate(&mut self, incoming: Incoming) -> Option<SttEvent> {
        match incoming {
            Incoming::Results {
                transcript,
                is_final: false,
                ..
            } => (!transcript.is_empty()).then_some(SttEvent::Interim { text: transcript }),
            Incoming::Results {
                transcript,
                is_final: true,
                speech_final,
            } => {
                if transcript.is_empty() {
                    (speech_final && std::mem::take(&mut self.utterance_open))
                        .then_some(SttEvent::UtteranceEnd)
                } else {
                    self.utterance_open = !speech_final;
                    Some(SttEvent::Final {
                        text: transcript,
                        speech_final,
                    })
                }
            }
            Incoming::SpeechStarted => Some(SttEvent::SpeechStarted),
            Incoming::UtteranceEnd => {
                self.utterance_open = false;
                Some(SttEvent::UtteranceEnd)
            }
            Incoming::Other(kind) => {
                debug!(message.type = %kind, "ignored a Deepgram message");
                None
            }
        }
    }
}

/// Deepgram closes a stream it cannot serve with a reason (`NET-0001` after 10 s without audio,
/// `DATA-0000` for audio it cannot decode); 1008 (policy) means the audio was refused.
fn closed_by_server(frame: Option<&CloseFrame>) -> SpeechError {
    let Some(frame) = frame else {
        return SpeechError::Unavailable("Deepgram closed the stream".to_owned());
    };
    let text = format!(
        "Deepgram closed the stream ({}): {}",
        u16::from(frame.code),
        frame.reason
    );
    if frame.code == CloseCode::Policy {
        SpeechError::Rejected(text)
    } else {
        SpeechError::Unavailable(text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn listen() -> Url {
        Url::parse("wss://api.deepgram.com/v1/listen").unwrap()
    }

    fn query(url: &Url) -> Vec<(String, String)> {
        url.query_pairs().into_owned().collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_query_states_the_audio_and_the_turn_signals() {
        let config = SttConfig {
            language: Some("en-US".into()),
            ..SttConfig::default()
        };
        let url = stream_url(&listen(), "nova-3", &config);
        assert_eq!(url.path(), "/v1/listen");
        assert_eq!(
            query(&url),
            pairs(&[
                ("model", "nova-3"),
                ("encoding", "linear16"),
                ("sample_rate", "16000"),
                ("channels", "1"),
                ("language", "en-US"),
                ("interim_results", "true"),
                ("endpointing", "300"),
                ("utterance_end_ms", "1000"),
                ("vad_events", "true"),
                ("smart_format", "true"),
                ("punctuate", "true"),
            ])
        );

        let quiet = SttConfig {
            sample_rate_hz: 8000,
            interim_results: false,
            endpointing_ms: 0,
            ..SttConfig::default()
        };
        let url = stream_url(&listen(), "nova-2-phonecall", &quiet);
        assert_eq!(
            query(&url),
            pairs(&[
                ("model", "nova-2-phonecall"),
                ("encoding", "linear16"),
                ("sample_rate", "8000"),
                ("channels", "1"),
                ("interim_results", "false"),
                ("endpointing", "false"),
                ("vad_events", "true"),
                ("smart_format", "true"),
                ("punctuate", "true"),
            ])
        );
    }

    fn results(transcript: &str, is_final: bool, speech_final: bool) -> Incoming {
        Incoming::Results {
            transcript: transcript.into(),
            is_final,
            speech_final,
        }
    }

    #[test]
    fn empty_results_are_dropped_unless_they_end_an_open_turn() {
        let mut turns = Turns::default();
        assert_eq!(turns.translate(results("", false, false)), None);
        assert_eq!(
            turns.translate(results("book a", false, false)),
            Some(SttEvent::Interim {
                text: "book a".into()
            })
        );
        // Endpointing on silence, with no words pending, says nothing.
        assert_eq!(turns.translate(results("", true, true)), None);
        assert_eq!(
            turns.translate(results("book a table", true, false)),
            Some(SttEvent::Final {
                text: "book a table".into(),
                speech_final: false
            })
        );
        assert_eq!(turns.translate(results("", true, false)), None);
        // The pause after those words ends the turn, once.
        assert_eq!(
            turns.translate(results("", true, true)),
            Some(SttEvent::UtteranceEnd)
        );
        assert_eq!(turns.translate(results("", true, true)), None);
        // A turn ended by a `speech_final` final is not ended again by an empty one.
        assert_eq!(
            turns.translate(results("for two", true, true)),
            Some(SttEvent::Final {
                text: "for two".into(),
                speech_final: true
            })
        );
        assert_eq!(turns.translate(results("", true, true)), None);
        // Deepgram's own `UtteranceEnd` is always reported, and closes the turn.
        assert_eq!(
            turns.translate(results("tomorrow", true, false)),
            Some(SttEvent::Final {
                text: "tomorrow".into(),
                speech_final: false
            })
        );
        assert_eq!(
            turns.translate(Incoming::UtteranceEnd),
            Some(SttEvent::UtteranceEnd)
        );
        assert_eq!(turns.translate(results("", true, true)), None);
        assert_eq!(
            turns.translate(Incoming::SpeechStarted),
            Some(SttEvent::SpeechStarted)
        );
        assert_eq!(turns.translate(Incoming::Other("Metadata".into())), None);
    }

    #[test]
    fn close_codes_tell_refused_audio_from_trouble() {
        let policy = CloseFrame {
            code: CloseCode::Policy,
            reason: "DATA-0000".into(),
        };
        assert!(matches!(
            closed_by_server(Some(&policy)),
            SpeechError::Rejected(m) if m.contains("DATA-0000")
        ));
        let error = CloseFrame {
            code: CloseCode::Error,
            reason: "NET-0001".into(),
        };
        assert!(matches!(
            closed_by_server(Some(&error)),
            SpeechError::Unavailable(m) if m.contains("1011")
        ));
        assert!(matches!(
            closed_by_server(None),
            SpeechError::Unavailable(_)
        ));
    }
}
