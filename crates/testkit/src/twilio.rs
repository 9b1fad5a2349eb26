//! A Twilio simulator for phone calls: it signs webhooks the way Twilio does, reads the TwiML the
//! server answers, and plays Twilio's side of a Media Streams socket: `connected` and `start`
//! with the stream's parameters, caller audio as 20 ms mu-law frames at real-time pace, key
//! presses, `stop`. Like Twilio, it echoes each of the server's marks once the audio before it
//! has been received (the server paces its audio in real time, so that is when it plays), and it
//! keeps everything the server sent for the test to inspect.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use switchboard_audio::codec::mulaw;
use switchboard_twilio::media::{self, ServerMessage, client};
use switchboard_twilio::signature;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// The auth token the test server is configured with (`TWILIO_AUTH_TOKEN`).
pub const FAKE_TWILIO_AUTH_TOKEN: &str = "twilio-test-auth-token-0123456789";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The `X-Twilio-Signature` Twilio would send for a form POST to `url`.
#[must_use]
pub fn twilio_signature(url: &str, params: &[(&str, &str)]) -> String {
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    signature::sign(FAKE_TWILIO_AUTH_TOKEN, url, &params)
}

/// The media stream a TwiML answer connects the call to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwimlStream {
    pub url: String,
    pub parameters: Vec<(String, String)>,
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(
        tag[start..end]
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

impl TwimlStream {
    /// Reads `<Connect><Stream url=...><Parameter .../>` out of a TwiML document.
    ///
    /// # Errors
    /// When the document connects no stream.
    pub fn from_twiml(xml: &str) -> anyhow::Result<Self> {
        let stream_at = xml
            .find("<Stream ")
            .ok_or_else(|| anyhow::anyhow!("the TwiML connects no stream: {xml}"))?;
        let stream_tag = &xml[stream_at
            ..xml[stream_at..]
                .find('>')
                .map_or(xml.len(), |e| stream_at + e)];
        let url = attribute(stream_tag, "url")
            .ok_or_else(|| anyhow::anyhow!("the <Stream> has no url: {xml}"))?;
        let parameters = xml[stream_at..]
            .split("<Parameter ")
            .skip(1)
            .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
            .collect();
        Ok(Self { url, parameters })
    }

    /// The value of one parameter.
    #[must_use]
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the server sent on the stream, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// This many bytes (samples) of mu-law audio.
    Media(usize),
    Mark(String),
    Clear,
}

/// Everything heard so far.
#[derive(Debug, Default)]
pub struct Heard {
    /// The agent's audio, mu-law, as received (a `clear` does not remove it: it was sent).
    pub audio: Vec<u8>,
    pub events: Vec<StreamEvent>,
    /// Messages that were not valid Media Streams messages.
    pub malformed: Vec<String>,
    /// The server closed the socket.
    pub closed: bool,
}

impl Heard {
    /// How many `clear`s arrived.
    #[must_use]
    pub fn clears(&self) -> usize {
        self.events
            .iter()
            .filter(|e| **e == StreamEvent::Clear)
            .count()
    }

    /// The names of the marks that arrived.
    #[must_use]
    pub fn marks(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Mark(name) => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The agent's audio as linear samples at 8 kHz.
    #[must_use]
    pub fn samples(&self) -> Vec<i16> {
        mulaw::decode(&self.audio)
    }
}

struct Shared {
    heard: Mutex<Heard>,
    changed: Notify,
}

/// Twilio's side of one call's media stream.
pub struct TwilioCall {
    writer: Arc<tokio::sync::Mutex<SplitSink<Socket, Message>>>,
    shared: Arc<Shared>,
    reader: JoinHandle<()>,
    stream_sid: String,
    call_sid: String,
    chunk: u64,
    timestamp_ms: u64,
}

impl std::fmt::Debug for TwilioCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioCall")
            .field("stream_sid", &self.stream_sid)
            .finish_non_exhaustive()
    }
}

impl Drop for TwilioCall {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn read_stream(
    mut reader: SplitStream<Socket>,
    writer: Arc<tokio::sync::Mutex<SplitSink<Socket, Message>>>,
    shared: Arc<Shared>,
    stream_sid: String,
) {
    while let Some(message) = reader.next().await {
        let Ok(Message::Text(text)) = message else {
            if matches!(message, Ok(Message::Close(_)) | Err(_)) {
                break;
            }
            continue;
        };
        let parsed = media::parse_server(&text);
        let echo = {
            let mut heard = shared.heard.lock().unwrap_or_else(PoisonError::into_inner);
            match parsed {
                Ok(ServerMessage::Media(bytes)) => {
                    heard.events.push(StreamEvent::Media(bytes.len()));
                    heard.audio.extend_from_slice(&bytes);
                    None
                }
                Ok(ServerMessage::Mark(name)) => {
                    heard.events.push(StreamEvent::Mark(name.clone()));
                    Some(name)
                }
                Ok(ServerMessage::Clear) => {
                    heard.events.push(StreamEvent::Clear);
                    None
                }
                Err(_) => {
                    heard.malformed.push(text.to_string());
                    None
                }
            }
        };
        shared.changed.notify_waiters();
        if let Some(name) = echo {
            let mut writer = writer.lock().await;
            let _ = writer
                .send(Message::text(client::mark(&stream_sid, &name)))
                .await;
        }
    }
    shared
        .heard
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .closed = true;
    shared.changed.notify_waiters();
}

impl TwilioCall {
    /// Opens the stream a TwiML answer named, as Twilio would for the call `call_sid`: sends
    /// `connected`, then `start` with the stream's parameters.
    ///
    /// # Errors
    /// When the socket cannot be opened.
    pub async fn connect(stream: &TwimlStream, call_sid: &str) -> anyhow::Result<Self> {
        let parameters: Vec<(&str, &str)> = stream
            .parameters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Self::connect_with(&stream.url, call_sid, &parameters).await
    }

    /// Opens a stream to `url` with these custom parameters.
    ///
    /// # Errors
    /// When the socket cannot be opened.
    pub async fn connect_with(
        url: &str,
        call_sid: &str,
        parameters: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let (socket, _) = connect_async(url).await?;
        let (writer, reader) = socket.split();
        let writer = Arc::new(tokio::sync::Mutex::new(writer));
        let shared = Arc::new(Shared {
            heard: Mutex::new(Heard::default()),
            changed: Notify::new(),
        });
        let stream_sid = format!("MZ{}", uuid::Uuid::new_v4().simple());
        let reader = tokio::spawn(read_stream(
            reader,
            Arc::clone(&writer),
            Arc::clone(&shared),
            stream_sid.clone(),
        ));
        let call = Self {
            writer,
            shared,
            reader,
            stream_sid,
            call_sid: call_sid.to_owned(),
            chunk: 0,
            timestamp_ms: 0,
        };
        call.send_text(client::connected()).await?;
        call.send_text(client::start(&call.stream_sid, call_sid, parameters))
            .await?;
        Ok(call)
    }

    async fn send_text(&self, text: String) -> anyhow::Result<()> {
        self.writer.lock().await.send(Message::text(text)).await?;
        Ok(())
    }

    /// Sends caller audio; once the server has ended the stream (a transfer, a hang-up), the
    /// line simply stops sending, as Twilio's does.
    async fn send_media(&self, text: String) -> anyhow::Result<()> {
        match self.writer.lock().await.send(Message::text(text)).await {
            Ok(()) => Ok(()),
            Err(
                tokio_tungstenite::tungstenite::Error::ConnectionClosed
                | tokio_tungstenite::tungstenite::Error::AlreadyClosed
                | tokio_tungstenite::tungstenite::Error::Protocol(_),
            ) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Sends a raw text frame (for malformed-input tests).
    ///
    /// # Errors
    /// When the socket is gone.
    pub async fn send_raw(&self, text: &str) -> anyhow::Result<()> {
        self.send_text(text.to_owned()).await
    }

    /// Speaks `samples` (linear, 8 kHz) as 20 ms mu-law frames at real-time pace; stops quietly
    /// once the server has ended the stream.
    ///
    /// # Errors
    /// When the socket fails otherwise.
    pub async fn speak(&mut self, samples: &[i16]) -> anyhow::Result<()> {
        let mut pace = tokio::time::interval(Duration::from_millis(20));
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        for frame in samples.chunks(160) {
            pace.tick().await;
            self.chunk += 1;
            self.timestamp_ms += 20;
            let text = client::media(
                &self.stream_sid,
                self.chunk,
                self.timestamp_ms,
                &mulaw::encode(frame),
            );
            self.send_media(text).await?;
        }
        Ok(())
    }

    /// Stays silent for `ms` (sending silent frames, as a phone line does).
    ///
    /// # Errors
    /// When the socket is gone.
    pub async fn silence(&mut self, ms: u64) -> anyhow::Result<()> {
        let samples = vec![0_i16; usize::try_from(ms * 8).unwrap_or(0)];
        self.speak(&samples).await
    }

    /// Presses a key.
    ///
    /// # Errors
    /// When the socket is gone.
    pub async fn press(&self, digit: char) -> anyhow::Result<()> {
        self.send_text(client::dtmf(&self.stream_sid, digit)).await
    }

    /// Hangs up: `stop`, then the socket closes.
    ///
    /// # Errors
    /// When the socket is gone.
    pub async fn hang_up(self) -> anyhow::Result<()> {
        self.send_text(client::stop(&self.stream_sid, &self.call_sid))
            .await?;
        let mut writer = self.writer.lock().await;
        let _ = writer.close().await;
        Ok(())
    }

    /// Drops the connection without `stop`, as a network failure would.
    pub fn vanish(self) {
        drop(self);
    }

    /// Waits until `check` finds what it looks for in what was heard, or `timeout` passes.
    ///
    /// # Errors
    /// On timeout, with `what` in the message.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Heard) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.shared.changed.notified();
            {
                let heard = self
                    .shared
                    .heard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some(found) = check(&heard) {
                    return Ok(found);
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let heard = self
                    .shared
                    .heard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                anyhow::bail!(
                    "timed out waiting for {what}; heard {} bytes of audio and {:?}",
                    heard.audio.len(),
                    heard
                        .events
                        .iter()
                        .filter(|e| !matches!(e, StreamEvent::Media(_)))
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// Reads what was heard so far.
    pub fn heard<T>(&self, read: impl FnOnce(&Heard) -> T) -> T {
        read(
            &self
                .shared
                .heard
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}
