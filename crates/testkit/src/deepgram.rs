//! `FakeDeepgram`: a loopback server that speaks Deepgram's listen API (PROVIDERS.md §2): the
//! live WebSocket on `GET /v1/listen` (§2.1) and pre-recorded transcription on
//! `POST /v1/listen` (§2.2), on one port; each connection's request line says which.
//!
//! It "hears" speech by energy: linear16 audio whose RMS over a 20 ms window passes a threshold
//! is speech (tests send a tone), anything quieter silence (tests send zeros). Everything is
//! timed by the audio it received, not by the clock, so a test's outcome does not depend on how
//! fast the machine is. Live streams answer like Deepgram: `SpeechStarted` (with `vad_events`),
//! interim `Results` while speech goes on (with `interim_results`), a final `speech_final`
//! result with the next scripted phrase after `endpointing` ms of silence, then `UtteranceEnd`
//! (with `utterance_end_ms`). `Finalize` settles the pending speech at once (`from_finalize`),
//! `CloseStream` settles it, sends `Metadata` and closes.
//!
//! The key is checked (`Authorization: Token <key>`); every handshake and request is recorded
//! with its query, and every stream with the control messages it received. Handshakes can be
//! refused and streams cut on request, and recordings can be answered with error statuses.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use crate::http1::{Request, read_request, write_response};

/// The key the fake accepts unless told otherwise.
pub const FAKE_DEEPGRAM_KEY: &str = "dg-test-switchboard-fake-key";

/// What the fake says once the script is empty.
pub const DEFAULT_DEEPGRAM_PHRASE: &str = "Hello from the fake listener.";

/// Audio whose RMS over a window passes this is speech; a tone at a tenth of full scale does.
const SPEECH_RMS: f64 = 500.0;
/// The window speech is judged over, in milliseconds.
const WINDOW_MS: u32 = 20;
/// An interim result goes out once speech has lasted this long, then every
/// `INTERIM_EVERY_MS` more.
const FIRST_INTERIM_MS: u32 = 100;
const INTERIM_EVERY_MS: u32 = 200;
/// Deepgram's endpointing when the query does not set it.
const DEFAULT_ENDPOINTING_MS: u32 = 10;
/// Recordings larger than this are not read: the connection is closed.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// How long the fake waits for the client's close frame after its own.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// One `GET /v1/listen` handshake, and the stream it opened if it was accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveConnection {
    /// 101 when the stream was accepted, else the status it was refused with.
    pub status: u16,
    /// The query parameters, in order.
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
    /// Bytes of audio received (binary frames).
    pub audio_bytes: usize,
    pub keep_alives: usize,
    pub finalizes: usize,
    pub close_streams: usize,
    /// The `type` of every message the fake sent, in order.
    pub sent: Vec<String>,
    /// The stream has ended (closed by either side, or cut).
    pub ended: bool,
}

impl LiveConnection {
    /// The first value of a query parameter.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.query, name)
    }

    /// Whether the handshake was accepted.
    #[must_use]
    pub fn accepted(&self) -> bool {
        self.status == 101
    }
}

/// One `POST /v1/listen`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TranscriptionRequest {
    /// The query parameters, in order.
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body_bytes: usize,
    /// The status the fake answered with.
    pub status: u16,
}

impl TranscriptionRequest {
    /// The first value of a query parameter.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.query, name)
    }
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// What the fake does next; a std mutex, held only for short synchronous work, never across an
/// await.
#[derive(Debug)]
struct Script {
    api_key: String,
    phrases: VecDeque<String>,
    /// Statuses to refuse the coming handshakes with, in order.
    rejections: VecDeque<u16>,
    /// The next accepted stream is cut after sending this many messages.
    drop_after: Option<usize>,
    /// Statuses to answer the coming recordings with, in order.
    post_failures: VecDeque<u16>,
}

impl Script {
    fn next_phrase(&mut self) -> String {
        self.phrases
            .pop_front()
            .unwrap_or_else(|| DEFAULT_DEEPGRAM_PHRASE.to_owned())
    }

    fn peek_phrase(&self) -> &str {
        self.phrases
            .front()
            .map_or(DEFAULT_DEEPGRAM_PHRASE, String::as_str)
    }
}

#[derive(Debug)]
struct State {
    script: Mutex<Script>,
    live: Mutex<Vec<LiveConnection>>,
    posts: Mutex<Vec<TranscriptionRequest>>,
    /// Bumped after every change to the records, so tests can wait for one.
    changes: watch::Sender<u64>,
    ids: AtomicU64,
}

impl State {
    fn request_id(&self) -> String {
        format!("fake-{:08}", self.ids.fetch_add(1, Ordering::Relaxed))
    }

    /// Records a handshake and returns its index.
    fn record_live(&self, connection: LiveConnection) -> usize {
        let index = {
            let mut live = lock(&self.live);
            live.push(connection);
            live.len() - 1
        };
        self.changed();
        index
    }

    fn update_live(&self, index: usize, update: impl FnOnce(&mut LiveConnection)) {
        if let Some(connection) = lock(&self.live).get_mut(index) {
            update(connection);
        }
        self.changed();
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has failed already; its data is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fake Deepgram on `127.0.0.1`, stopped when dropped.
#[derive(Debug)]
pub struct FakeDeepgram {
    address: SocketAddr,
    state: Arc<State>,
    server: JoinHandle<()>,
}

impl Drop for FakeDeepgram {
    fn drop(&mut self) {
        // The accept task owns every connection task (a JoinSet), so this ends them all.
        self.server.abort();
    }
}

impl FakeDeepgram {
    /// Starts a fake on a free port, accepting [`FAKE_DEEPGRAM_KEY`] and saying
    /// [`DEFAULT_DEEPGRAM_PHRASE`] until scripted otherwise.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let state = Arc::new(State {
            script: Mutex::new(Script {
                api_key: FAKE_DEEPGRAM_KEY.to_owned(),
                phrases: VecDeque::new(),
                rejections: VecDeque::new(),
                drop_after: None,
                post_failures: VecDeque::new(),
            }),
            live: Mutex::new(Vec::new()),
            posts: Mutex::new(Vec::new()),
            changes: watch::Sender::new(0),
            ids: AtomicU64::new(1),
        });
        let server = tokio::spawn(accept(listener, Arc::clone(&state)));
        Ok(Self {
            address,
            state,
            server,
        })
    }

    /// `http://127.0.0.1:{port}`, the base URL (the adapter appends `/v1/listen`).
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The key the fake accepts.
    #[must_use]
    pub fn api_key(&self) -> String {
        lock(&self.state.script).api_key.clone()
    }

    /// Accepts another key from now on.
    pub fn set_api_key(&self, key: &str) {
        key.clone_into(&mut lock(&self.state.script).api_key);
    }

    /// Queues what the coming utterances (live finals, and recordings with speech in them)
    /// say, in order; [`DEFAULT_DEEPGRAM_PHRASE`] once they are used up.
    pub fn script<S: Into<String>>(&self, phrases: impl IntoIterator<Item = S>) {
        lock(&self.state.script)
            .phrases
            .extend(phrases.into_iter().map(Into::into));
    }

    /// Cuts the next accepted stream, without a close frame, once the fake has sent it
    /// `n_messages` messages (at once after the handshake for 0). Only that stream: the one
    /// after it is served normally.
    pub fn drop_after(&self, n_messages: usize) {
        lock(&self.state.script).drop_after = Some(n_messages);
    }

    /// Refuses the next handshake with `status` and a Deepgram error body (the key is not even
    /// checked); the one after it is served normally.
    pub fn reject_next(&self, status: u16) {
        lock(&self.state.script).rejections.push_back(status);
    }

    /// Answers the next `count` recordings with `status` and a Deepgram error body.
    pub fn fail_next_transcriptions(&self, count: usize, status: u16) {
        lock(&self.state.script)
            .post_failures
            .extend(std::iter::repeat_n(status, count));
    }

    /// How many streams were accepted.
    #[must_use]
    pub fn connections(&self) -> usize {
        lock(&self.state.live)
            .iter()
            .filter(|c| c.accepted())
            .count()
    }

    /// Every handshake so far, refused ones included, in arrival order.
    #[must_use]
    pub fn live_connections(&self) -> Vec<LiveConnection> {
        lock(&self.state.live).clone()
    }

    /// Every recording posted so far, in arrival order.
    #[must_use]
    pub fn transcriptions(&self) -> Vec<TranscriptionRequest> {
        lock(&self.state.posts).clone()
    }

    /// Waits until `n` streams were accepted; `false` if `within` passed first.
    pub async fn wait_for_connections(&self, n: usize, within: Duration) -> bool {
        self.wait_until(within, |live| {
            live.iter().filter(|c| c.accepted()).count() >= n
        })
        .await
    }

    /// Waits until `condition` holds for the handshakes so far (as
    /// [`FakeDeepgram::live_connections`] lists them); `false` if `within` passed first.
    pub async fn wait_until(
        &self,
        within: Duration,
        mut condition: impl FnMut(&[LiveConnection]) -> bool,
    ) -> bool {
        let mut changes = self.state.changes.subscribe();
        let waiting = async {
            loop {
                if condition(&lock(&self.state.live)) {
                    return;
                }
                if changes.changed().await.is_err() {
                    // The server is gone; nothing will change any more.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(within, waiting).await.is_ok()
    }
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve(stream, Arc::clone(&state)));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "fake Deepgram could not accept");
                    // Out of descriptors, most likely; spinning would not free any.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            // Reaps finished connections so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Reads the request and hands it to the live or the pre-recorded side.
async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let _ = stream.set_nodelay(true);
    // A WebSocket client sends nothing after its handshake until it is answered, so reading
    // the request here leaves the stream at the first frame.
    let Ok(Some(request)) = read_request(&mut stream, MAX_BODY_BYTES).await else {
        return;
    };
    let upgrade = request
        .header("upgrade")
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    match (request.method.as_str(), request.path(), upgrade) {
        ("GET", "/v1/listen", true) => live(stream, &request, state).await,
        ("POST", "/v1/listen", false) => {
            let (status, body) = prerecorded(&request, &state);
            let id = state.request_id();
            let _ = write_response(
                &mut stream,
                status,
                &[("content-type", "application/json"), ("dg-request-id", &id)],
                body.to_string().as_bytes(),
            )
            .await;
        }
        (method, path, _) => {
            let (status, body) = modern_error(404, "NOT_FOUND", &format!("{method} {path}"));
            let _ = write_response(
                &mut stream,
                status,
                &[("content-type", "application/json")],
                body.to_string().as_bytes(),
            )
            .await;
        }
    }
}

fn query_of(request: &Request) -> Vec<(String, String)> {
    request
        .target
        .split_once('?')
        .map(|(_, query)| {
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// Deepgram's legacy error shape, which its authentication and audio errors use.
fn legacy_error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"err_code": code, "err_msg": message, "request_id": "fake-error"}),
    )
}

/// Deepgram's newer error shape.
fn modern_error(status: u16, category: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"category": category, "message": message, "details": format!("the fake answered {status}"), "request_id": "fake-error"}),
    )
}

/// A scripted failure: client errors in the legacy shape, the rest in the newer one, so tests
/// see both.
fn scripted_error(status: u16) -> (u16, Value) {
    if (400..500).contains(&status) && status != 429 {
        legacy_error(
            status,
            "Bad Request",
            "the fake was told to refuse this request",
        )
    } else {
        modern_error(status, "INTERNAL_SERVER_ERROR", "the fake was told to fail")
    }
}

fn invalid_credentials() -> (u16, Value) {
    legacy_error(
        401,
        "INVALID_AUTH",
        "Invalid credentials. Double-check your API key.",
    )
}

fn authorized(request: &Request, key: &str) -> bool {
    request.header("authorization") == Some(format!("Token {key}").as_str())
}

// ---------------------------------------------------------------------------------------------
// Live streams

/// How a stream was asked to behave, from its query.
#[derive(Debug)]
struct Options {
    sample_rate: u32,
    interim_results: bool,
    vad_events: bool,
    /// `None` with `endpointing=false`.
    endpointing_ms: Option<u32>,
    utterance_end: bool,
    model: String,
}

impl Options {
    fn parse(query: &[(String, String)]) -> Result<Self, String> {
        let flag = |name| param(query, name) == Some("true");
        let encoding = param(query, "encoding").unwrap_or_default();
        if encoding != "linear16" {
            return Err(format!(
                "the fake hears only encoding=linear16, not {encoding:?}"
            ));
        }
        let sample_rate = param(query, "sample_rate")
            .and_then(|r| r.parse::<u32>().ok())
            .filter(|r| (8000..=48_000).contains(r))
            .ok_or("sample_rate must be given with encoding")?;
        if param(query, "channels").is_some_and(|c| c != "1") {
            return Err("the fake hears one channel".to_owned());
        }
        let endpointing_ms = match param(query, "endpointing") {
            None => Some(DEFAULT_ENDPOINTING_MS),
            Some("false") => None,
            Some(ms) => Some(ms.parse().map_err(|_| "endpointing must be ms or false")?),
        };
        let utterance_end = param(query, "utterance_end_ms").is_some();
        if utterance_end && !flag("interim_results") {
            return Err("utterance_end_ms requires interim_results=true".to_owned());
        }
        Ok(Self {
            sample_rate,
            interim_results: flag("interim_results"),
            vad_events: flag("vad_events"),
            endpointing_ms,
            utterance_end,
            model: param(query, "model").unwrap_or("base").to_owned(),
        })
    }
}

/// Answers the handshake (refusing it as scripted or for a wrong key) and serves the stream.
async fn live(mut stream: TcpStream, request: &Request, state: Arc<State>) {
    let query = query_of(request);
    let mut record = LiveConnection {
        query: query.clone(),
        authorization: request.header("authorization").map(ToOwned::to_owned),
        ..LiveConnection::default()
    };
    let (rejection, key) = {
        let mut script = lock(&state.script);
        (script.rejections.pop_front(), script.api_key.clone())
    };
    let options = Options::parse(&query);
    let handshake_key = request.header("sec-websocket-key");
    let refusal = if let Some(status) = rejection {
        Some(scripted_error(status))
    } else if !authorized(request, &key) {
        Some(invalid_credentials())
    } else if let Err(message) = &options {
        Some(modern_error(400, "INVALID_QUERY_PARAMETER", message))
    } else if handshake_key.is_none() {
        Some(modern_error(
            400,
            "BAD_REQUEST",
            "not a WebSocket handshake",
        ))
    } else {
        None
    };
    if let Some((status, body)) = refusal {
        record.status = status;
        record.ended = true;
        state.record_live(record);
        refuse(&mut stream, status, &body, &state.request_id()).await;
        return;
    }
    let (Some(handshake_key), Ok(options)) = (handshake_key, options) else {
        return;
    };
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\ndg-request-id: {}\r\n\r\n",
        derive_accept_key(handshake_key.as_bytes()),
        state.request_id()
    );
    if stream.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    record.status = 101;
    let index = state.record_live(record);
    let drop_after = lock(&state.script).drop_after.take();
    let socket = WebSocketStream::from_raw_socket(stream, Role::Server, None).await;
    let mut session = Session {
        socket,
        state: Arc::clone(&state),
        index,
        options,
        drop_after,
        sent: 0,
        samples: Vec::new(),
        odd_byte: None,
        audio_ms: 0,
        utterance: None,
    };
    let _ = session.run().await;
    // Closes the connection (without a close frame when the session was cut) before the
    // record says so.
    drop(session);
    state.update_live(index, |c| c.ended = true);
}

/// Writes a refusal as Deepgram does, its body in the same write as its head so the client
/// reads both together.
async fn refuse(stream: &mut TcpStream, status: u16, body: &Value, id: &str) {
    let body = body.to_string();
    let reason = reason(status);
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\ndg-request-id: {id}\r\ndg-error: {reason}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.flush().await;
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// The stream was cut, or the client went away.
#[derive(Debug)]
struct Gone;

/// Speech heard since the last settled result.
#[derive(Debug)]
struct Utterance {
    start_ms: u64,
    speech_ms: u32,
    /// Silence since the last speech window, in milliseconds; 0 while speaking.
    silence_ms: u32,
}

/// One live stream.
struct Session {
    socket: WebSocketStream<TcpStream>,
    state: Arc<State>,
    index: usize,
    options: Options,
    drop_after: Option<usize>,
    sent: usize,
    samples: Vec<i16>,
    /// The first byte of a sample split between two frames.
    odd_byte: Option<u8>,
    /// How much audio was heard, in milliseconds.
    audio_ms: u64,
    utterance: Option<Utterance>,
}

impl Session {
    async fn run(&mut self) -> Result<(), Gone> {
        if self.drop_after == Some(0) {
            return Err(Gone);
        }
        while let Some(message) = self.socket.next().await {
            match message.map_err(|_| Gone)? {
                Message::Binary(bytes) => {
                    self.state
                        .update_live(self.index, |c| c.audio_bytes += bytes.len());
                    self.hear(&bytes).await?;
                }
                Message::Text(text) => {
                    let kind = serde_json::from_str::<Value>(&text)
                        .ok()
                        .and_then(|v| v["type"].as_str().map(ToOwned::to_owned))
                        .unwrap_or_default();
                    match kind.as_str() {
                        "KeepAlive" => self.state.update_live(self.index, |c| c.keep_alives += 1),
                        "Finalize" => {
                            self.state.update_live(self.index, |c| c.finalizes += 1);
                            self.settle(false, true).await?;
                        }
                        "CloseStream" => {
                            self.state.update_live(self.index, |c| c.close_streams += 1);
                            self.settle(false, false).await?;
                            let metadata = self.metadata();
                            self.send(metadata).await?;
                            return self.close().await;
                        }
                        _ => tracing::debug!(message = %text, "fake Deepgram ignored a message"),
                    }
                }
                Message::Close(_) => return Ok(()),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
        Ok(())
    }

    /// Closes with a normal close frame and waits (briefly) for the client's.
    async fn close(&mut self) -> Result<(), Gone> {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        self.socket
            .send(Message::Close(Some(frame)))
            .await
            .map_err(|_| Gone)?;
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(Ok(_)) = self.socket.next().await {}
        })
        .await;
        Ok(())
    }

    /// Sends one JSON message, and cuts the stream when the script says so.
    async fn send(&mut self, message: Value) -> Result<(), Gone> {
        let kind = message["type"].as_str().unwrap_or_default().to_owned();
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .map_err(|_| Gone)?;
        self.sent += 1;
        self.state.update_live(self.index, |c| c.sent.push(kind));
        if self.drop_after == Some(self.sent) {
            return Err(Gone);
        }
        Ok(())
    }

    fn window_len(&self) -> usize {
        (self.options.sample_rate * WINDOW_MS / 1000) as usize
    }

    /// Takes a binary frame of PCM16 LE and judges each whole window in it.
    async fn hear(&mut self, bytes: &[u8]) -> Result<(), Gone> {
        let mut bytes = bytes;
        if let Some(low) = self.odd_byte.take()
            && let Some((&high, rest)) = bytes.split_first()
        {
            self.samples.push(i16::from_le_bytes([low, high]));
            bytes = rest;
        }
        let mut pairs = bytes.chunks_exact(2);
        self.samples
            .extend(pairs.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
        self.odd_byte = pairs.remainder().first().copied();
        let window = self.window_len();
        while self.samples.len() >= window {
            let speech = rms(&self.samples[..window]) > SPEECH_RMS;
            self.samples.drain(..window);
            self.window(speech).await?;
        }
        Ok(())
    }

    /// One 20 ms window, speech or silence.
    async fn window(&mut self, speech: bool) -> Result<(), Gone> {
        let now_ms = self.audio_ms;
        self.audio_ms += u64::from(WINDOW_MS);
        if speech {
            let utterance = self.utterance.get_or_insert(Utterance {
                start_ms: now_ms,
                speech_ms: 0,
                silence_ms: 0,
            });
            let started = utterance.speech_ms == 0;
            let start_ms = utterance.start_ms;
            utterance.speech_ms += WINDOW_MS;
            utterance.silence_ms = 0;
            let speech_ms = utterance.speech_ms;
            if started && self.options.vad_events {
                let message =
                    json!({"type": "SpeechStarted", "channel": [0], "timestamp": seconds(now_ms)});
                self.send(message).await?;
            }
            if self.options.interim_results
                && speech_ms >= FIRST_INTERIM_MS
                && (speech_ms - FIRST_INTERIM_MS).is_multiple_of(INTERIM_EVERY_MS)
            {
                let partial = {
                    let script = lock(&self.state.script);
                    let words: Vec<&str> = script.peek_phrase().split_whitespace().collect();
                    words[..words.len().div_ceil(2)].join(" ")
                };
                let message = self.results(&partial, start_ms, false, false, false);
                self.send(message).await?;
            }
            return Ok(());
        }
        let Some(utterance) = self.utterance.as_mut() else {
            return Ok(());
        };
        utterance.silence_ms += WINDOW_MS;
        if self
            .options
            .endpointing_ms
            .is_some_and(|ms| utterance.silence_ms >= ms)
        {
            self.settle(true, false).await?;
            if self.options.utterance_end {
                let message = json!({"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": seconds(self.audio_ms)});
                self.send(message).await?;
            }
        }
        Ok(())
    }

    /// Settles the pending speech into a final result with the next phrase. With nothing
    /// pending, `Finalize` still gets its (empty) result, as from Deepgram.
    async fn settle(&mut self, speech_final: bool, from_finalize: bool) -> Result<(), Gone> {
        match self.utterance.take() {
            Some(utterance) => {
                let phrase = lock(&self.state.script).next_phrase();
                let message = self.results(
                    &phrase,
                    utterance.start_ms,
                    true,
                    speech_final,
                    from_finalize,
                );
                self.send(message).await
            }
            None if from_finalize => {
                let message = self.results("", self.audio_ms, true, false, true);
                self.send(message).await
            }
            None => Ok(()),
        }
    }

    /// A `Results` message for the audio from `start_ms` to now.
    fn results(
        &self,
        transcript: &str,
        start_ms: u64,
        is_final: bool,
        speech_final: bool,
        from_finalize: bool,
    ) -> Value {
        let duration_ms = self.audio_ms.saturating_sub(start_ms);
        json!({
            "type": "Results",
            "channel_index": [0, 1],
            "duration": seconds(duration_ms),
            "start": seconds(start_ms),
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {"alternatives": [alternative(transcript, start_ms, duration_ms)]},
            "metadata": {
                "request_id": "fake-stream",
                "model_info": {"name": format!("general-{}", self.options.model), "version": "fake", "arch": self.options.model},
                "model_uuid": "00000000-0000-0000-0000-000000000000"
            }
        })
    }

    fn metadata(&self) -> Value {
        json!({
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": "fake-stream",
            "sha256": "0".repeat(64),
            "created": "2025-01-01T00:00:00.000Z",
            "duration": seconds(self.audio_ms),
            "channels": 1
        })
    }
}

/// An alternative with its words spread over the stretch of audio.
fn alternative(transcript: &str, start_ms: u64, duration_ms: u64) -> Value {
    let words: Vec<&str> = transcript.split_whitespace().collect();
    let each_ms = duration_ms / (words.len().max(1) as u64);
    let words: Vec<Value> = words
        .iter()
        .enumerate()
        .map(|(i, word)| {
            let start = start_ms + each_ms * i as u64;
            json!({
                "word": word.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'').to_lowercase(),
                "start": seconds(start),
                "end": seconds(start + each_ms),
                "confidence": 0.98,
                "punctuated_word": word
            })
        })
        .collect();
    json!({"transcript": transcript, "confidence": 0.98, "words": words})
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / samples.len() as f64).sqrt()
}

// ---------------------------------------------------------------------------------------------
// Pre-recorded transcription

/// Answers a posted recording: the next phrase when any 20 ms window of it is speech, an empty
/// transcript for silence.
fn prerecorded(request: &Request, state: &State) -> (u16, Value) {
    let (failure, key) = {
        let mut script = lock(&state.script);
        (script.post_failures.pop_front(), script.api_key.clone())
    };
    let (status, body) = if let Some(status) = failure {
        scripted_error(status)
    } else if !authorized(request, &key) {
        invalid_credentials()
    } else {
        match wav_samples(&request.body) {
            None => legacy_error(
                400,
                "Bad Request",
                "Bad Request: failed to process audio: corrupt or unsupported data",
            ),
            Some((rate, samples)) => {
                let window = (rate * WINDOW_MS / 1000).max(1) as usize;
                let speech = samples
                    .chunks(window)
                    .any(|w| w.len() == window && rms(w) > SPEECH_RMS);
                let transcript = if speech {
                    lock(&state.script).next_phrase()
                } else {
                    String::new()
                };
                let duration_ms = samples.len() as u64 * 1000 / u64::from(rate);
                (
                    200,
                    transcription(&transcript, duration_ms, &state.request_id()),
                )
            }
        }
    };
    lock(&state.posts).push(TranscriptionRequest {
        query: query_of(request),
        authorization: request.header("authorization").map(ToOwned::to_owned),
        content_type: request.header("content-type").map(ToOwned::to_owned),
        body_bytes: request.body.len(),
        status,
    });
    state.changed();
    (status, body)
}

/// The §2.2 answer.
fn transcription(transcript: &str, duration_ms: u64, id: &str) -> Value {
    json!({
        "metadata": {
            "request_id": id,
            "sha256": "0".repeat(64),
            "created": "2025-01-01T00:00:00Z",
            "duration": seconds(duration_ms),
            "channels": 1,
            "models": ["00000000-0000-0000-0000-000000000000"],
            "model_info": {"00000000-0000-0000-0000-000000000000": {"name": "general-nova-3", "version": "fake", "arch": "nova-3"}}
        },
        "results": {"channels": [{
            "alternatives": [alternative(transcript, 0, duration_ms)],
            "detected_language": "en"
        }]}
    })
}

/// The rate and samples of a 16-bit mono PCM WAV file; `None` for anything else.
fn wav_samples(bytes: &[u8]) -> Option<(u32, Vec<i16>)> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let mut at = 12;
    let mut rate = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = usize::try_from(u32_at(at + 4)?).ok()?;
        let body = at + 8;
        if id == b"fmt " {
            let (format, channels, bits) = (u16_at(body)?, u16_at(body + 2)?, u16_at(body + 14)?);
            if format != 1 || channels != 1 || bits != 16 {
                return None;
            }
            rate = Some(u32_at(body + 4)?).filter(|r| *r > 0);
        } else if id == b"data" {
            let data = bytes.get(body..body.checked_add(size)?)?;
            let samples = data
                .chunks_exact(2)
                .map(|p| i16::from_le_bytes([p[0], p[1]]))
                .collect();
            return Some((rate?, samples));
        }
        at = body.checked_add(size)?.checked_add(size % 2)?;
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn wav_files_are_read_and_other_bytes_refused() {
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&40_u32.to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16_u32.to_le_bytes());
        for value in [1_u16, 1] {
            wav.extend_from_slice(&value.to_le_bytes());
        }
        wav.extend_from_slice(&16_000_u32.to_le_bytes());
        wav.extend_from_slice(&32_000_u32.to_le_bytes());
        for value in [2_u16, 16] {
            wav.extend_from_slice(&value.to_le_bytes());
        }
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&4_u32.to_le_bytes());
        for sample in [7_i16, -3] {
            wav.extend_from_slice(&sample.to_le_bytes());
        }
        assert_eq!(wav_samples(&wav), Some((16_000, vec![7, -3])));
        assert_eq!(wav_samples(b"ID3 not a wav file"), None);
        assert_eq!(wav_samples(&wav[..wav.len() - 1]), None);
    }

    #[test]
    fn loudness_is_judged_by_rms() {
        assert!(rms(&[0; 320]) < SPEECH_RMS);
        assert!(rms(&[3000, -3000].repeat(160)) > SPEECH_RMS);
    }

    #[test]
    fn options_come_from_the_query() {
        let query = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let options = Options::parse(&query(&[
            ("model", "nova-3"),
            ("encoding", "linear16"),
            ("sample_rate", "16000"),
            ("interim_results", "true"),
            ("endpointing", "100"),
            ("utterance_end_ms", "1000"),
            ("vad_events", "true"),
        ]))
        .unwrap();
        assert_eq!(options.sample_rate, 16_000);
        assert_eq!(options.endpointing_ms, Some(100));
        assert!(options.interim_results && options.vad_events && options.utterance_end);

        let off = Options::parse(&query(&[
            ("encoding", "linear16"),
            ("sample_rate", "8000"),
            ("endpointing", "false"),
        ]))
        .unwrap();
        assert_eq!(off.endpointing_ms, None);
        assert!(!off.interim_results && !off.vad_events);

        assert!(Options::parse(&query(&[("encoding", "mulaw"), ("sample_rate", "8000")])).is_err());
        assert!(Options::parse(&query(&[("encoding", "linear16")])).is_err());
        assert!(
            Options::parse(&query(&[
                ("encoding", "linear16"),
                ("sample_rate", "16000"),
                ("utterance_end_ms", "1000"),
            ]))
            .is_err()
        );
    }
}
