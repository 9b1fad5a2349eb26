//! `FakeElevenLabs`: a loopback server that speaks ElevenLabs' streaming text-to-speech
//! (PROVIDERS.md 3.1 and 3.2) on one port: `POST /v1/text-to-speech/{voice}/stream` answers
//! with chunked audio, and `/v1/text-to-speech/{voice}/stream-input` upgrades to the WebSocket
//! protocol.
//!
//! The audio is recognisable rather than speech: the fake tone ([`crate::FAKE_TTS_TONE_HZ`]) for
//! [`crate::fake_tts_duration_ms`] of the text, encoded in the requested `output_format`
//! (`pcm_8000` … `pcm_48000`, `ulaw_8000`) and sent in several pieces, the first of odd length
//! so that a PCM sample straddles two of them. It checks `xi-api-key` (401 otherwise) and the
//! ranges ElevenLabs enforces (speed 0.7 to 1.2), records every request, and can be told to
//! fail: with a status, in the middle of the audio, or by closing the socket with a code.

use std::collections::{BTreeMap, VecDeque};
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::audio::{audio_pieces, fake_tts_samples, mulaw_encode, pcm16le};
use crate::http1::{self, read_request};

/// The key the fake accepts unless told otherwise.
pub const FAKE_ELEVENLABS_KEY: &str = "sk_test_switchboard_fake_elevenlabs_key";

const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// ElevenLabs refuses longer texts in one request.
const MAX_TEXT_CHARS: usize = 10_000;

/// Which of the two endpoints a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElevenLabsEndpoint {
    /// `POST /v1/text-to-speech/{voice}/stream`.
    Stream,
    /// The `/v1/text-to-speech/{voice}/stream-input` WebSocket.
    StreamInput,
}

/// One request (HTTP) or connection (WebSocket) the fake received.
#[derive(Clone, Debug)]
pub struct ElevenLabsRequest {
    pub endpoint: ElevenLabsEndpoint,
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The voice id from the path (percent-encoded, as sent).
    pub voice: String,
    /// The query parameters, decoded.
    pub query: BTreeMap<String, String>,
    /// The `xi-api-key` header.
    pub api_key: Option<String>,
    /// The JSON body of an HTTP request (`Null` for a WebSocket, or a body that is not JSON).
    pub body: Value,
    /// The client's WebSocket messages, in order, each parsed as JSON (`Null` when not JSON).
    pub messages: Vec<Value>,
    pub received_at: Instant,
}

/// A scripted misbehaviour for one coming request.
#[derive(Clone, Debug)]
enum Failure {
    /// Answer this status (to the HTTP request, or to the WebSocket handshake).
    Status(u16),
    /// Send about half the audio, then cut the connection without ending the body (or without
    /// a close frame).
    MidStream,
    /// WebSocket: after the first message, close with this code and reason (HTTP: hang up
    /// without answering).
    Close { code: u16, reason: String },
}

/// The script; a std mutex, held only to read or change it, never across an await.
#[derive(Debug)]
struct Script {
    api_key: String,
    failures: VecDeque<Failure>,
    fail_always: Option<u16>,
    chunk_delay: Duration,
}

#[derive(Debug)]
struct State {
    script: Mutex<Script>,
    /// A std mutex for the same reason; WebSocket messages are appended as they arrive.
    requests: Mutex<Vec<ElevenLabsRequest>>,
    /// Answers the client closed before their end.
    cancelled: watch::Sender<usize>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has failed already; its data is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    fn next_failure(&self) -> Option<Failure> {
        let mut script = lock(&self.script);
        script
            .failures
            .pop_front()
            .or_else(|| script.fail_always.map(Failure::Status))
    }

    fn record(&self, request: ElevenLabsRequest) -> usize {
        let mut requests = lock(&self.requests);
        requests.push(request);
        requests.len() - 1
    }

    fn record_message(&self, index: usize, message: Value) {
        if let Some(request) = lock(&self.requests).get_mut(index) {
            request.messages.push(message);
        }
    }

    fn count_cancelled(&self) {
        self.cancelled.send_modify(|count| *count += 1);
    }
}

/// A fake ElevenLabs API on `127.0.0.1`, stopped when dropped.
#[derive(Debug)]
pub struct FakeElevenLabs {
    address: SocketAddr,
    state: Arc<State>,
    server: JoinHandle<()>,
}

impl Drop for FakeElevenLabs {
    fn drop(&mut self) {
        // The accept task owns every connection task (a JoinSet), so this ends them all.
        self.server.abort();
    }
}

impl FakeElevenLabs {
    /// Starts a fake on a free port, accepting [`FAKE_ELEVENLABS_KEY`].
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let state = Arc::new(State {
            script: Mutex::new(Script {
                api_key: FAKE_ELEVENLABS_KEY.to_owned(),
                failures: VecDeque::new(),
                fail_always: None,
                chunk_delay: Duration::ZERO,
            }),
            requests: Mutex::new(Vec::new()),
            cancelled: watch::Sender::new(0),
        });
        let server = tokio::spawn(accept(listener, Arc::clone(&state)));
        Ok(Self {
            address,
            state,
            server,
        })
    }

    /// `http://127.0.0.1:{port}`, the base URL for both transports (the adapter turns it into
    /// `ws://` for the WebSocket).
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

    /// Answers the next `count` requests with `status` and an ElevenLabs error body (a
    /// WebSocket handshake is refused with it); they are still recorded.
    pub fn fail_next(&self, count: usize, status: u16) {
        lock(&self.state.script)
            .failures
            .extend(std::iter::repeat_n(Failure::Status(status), count));
    }

    /// Answers every request with `status` once the scripted failures are spent, until
    /// [`FakeElevenLabs::stop_failing`].
    pub fn fail_always(&self, status: u16) {
        lock(&self.state.script).fail_always = Some(status);
    }

    /// Ends [`FakeElevenLabs::fail_always`].
    pub fn stop_failing(&self) {
        lock(&self.state.script).fail_always = None;
    }

    /// The next request gets about half its audio, then the connection is cut (no end of the
    /// chunked body; no close frame).
    pub fn fail_mid_stream(&self) {
        lock(&self.state.script)
            .failures
            .push_back(Failure::MidStream);
    }

    /// The next WebSocket closes with `code` and `reason` after the client's first message (an
    /// HTTP request is hung up on without an answer).
    pub fn close_next_with(&self, code: u16, reason: &str) {
        lock(&self.state.script).failures.push_back(Failure::Close {
            code,
            reason: reason.to_owned(),
        });
    }

    /// Waits `delay` between pieces of audio (none by default), so a test can act mid-stream.
    pub fn set_chunk_delay(&self, delay: Duration) {
        lock(&self.state.script).chunk_delay = delay;
    }

    /// Every request so far, in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<ElevenLabsRequest> {
        lock(&self.state.requests).clone()
    }

    /// How many answers the client hung up on before their end.
    #[must_use]
    pub fn cancelled_streams(&self) -> usize {
        *self.state.cancelled.borrow()
    }

    /// Waits until the client has hung up on at least `n` answers; `false` if `within` passed
    /// first.
    pub async fn wait_for_cancelled_streams(&self, n: usize, within: Duration) -> bool {
        let mut cancelled = self.state.cancelled.subscribe();
        tokio::time::timeout(within, cancelled.wait_for(|count| *count >= n))
            .await
            .is_ok_and(|result| result.is_ok())
    }
}

/// The audio the fake speaks `text` as in `output_format`, or `None` for a format it does not
/// produce.
#[must_use]
pub fn fake_elevenlabs_audio(text: &str, output_format: &str) -> Option<Vec<u8>> {
    if output_format == "ulaw_8000" {
        return Some(mulaw_encode(&fake_tts_samples(text, 8_000)));
    }
    let rate: u32 = output_format.strip_prefix("pcm_")?.parse().ok()?;
    matches!(
        rate,
        8_000 | 16_000 | 22_050 | 24_000 | 32_000 | 44_100 | 48_000
    )
    .then(|| pcm16le(&fake_tts_samples(text, rate)))
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
                    tracing::debug!(error = %e, "fake ElevenLabs could not accept");
                    // Out of descriptors, most likely; spinning would not free any.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            // Reaps finished connections so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// The request line and headers of a request, read but kept as bytes too, so the connection
/// can be handed on to the HTTP reader or the WebSocket handshake as if unread.
struct Head {
    bytes: Vec<u8>,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn is_websocket(&self) -> bool {
        self.header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    }

    fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    fn query(&self) -> BTreeMap<String, String> {
        let Some((_, query)) = self.target.split_once('?') else {
            return BTreeMap::new();
        };
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The voice of `/v1/text-to-speech/{voice}/{last}`, as it appears in the path.
    fn voice(&self, last: &str) -> Option<String> {
        let rest = self.path().strip_prefix("/v1/text-to-speech/")?;
        let voice = rest.strip_suffix(last)?.strip_suffix('/')?;
        (!voice.is_empty() && !voice.contains('/')).then(|| voice.to_owned())
    }
}

async fn read_head(reader: &mut (impl AsyncRead + Unpin)) -> Option<Head> {
    let mut bytes = Vec::new();
    let end = loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if bytes.len() > MAX_HEAD_BYTES {
            return None;
        }
        let mut chunk = [0_u8; 4096];
        let n = reader.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        bytes.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Some(Head {
        bytes,
        method,
        target,
        headers,
    })
}

/// The error body ElevenLabs sends, `{"detail":{"status","message"}}`.
fn error_body(status: &str, message: &str) -> Value {
    json!({"detail": {"status": status, "message": message}})
}

fn failure_body(status: u16) -> Value {
    let kind = match status {
        401 => "invalid_api_key",
        429 => "too_many_concurrent_requests",
        500..=599 => "internal_server_error",
        _ => "fake_failure",
    };
    error_body(kind, "the fake was told to fail this request")
}

async fn serve(stream: TcpStream, state: Arc<State>) {
    let _ = stream.set_nodelay(true);
    let (mut reader, writer) = stream.into_split();
    let Some(head) = read_head(&mut reader).await else {
        return;
    };
    // What was read is put back in front of the rest, for readers that expect an unread
    // connection.
    let replay = Cursor::new(head.bytes.clone()).chain(reader);
    if head.is_websocket() {
        serve_websocket(head, tokio::io::join(replay, writer), &state).await;
    } else {
        serve_http(head, replay, writer, &state).await;
    }
}

// ---- HTTP ----------------------------------------------------------------------------------

async fn serve_http(
    head: Head,
    mut reader: impl AsyncRead + Unpin,
    mut writer: impl AsyncWrite + Unpin,
    state: &State,
) {
    let Ok(Some(request)) = read_request(&mut reader, MAX_BODY_BYTES).await else {
        return;
    };
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let voice = head.voice("stream");
    state.record(ElevenLabsRequest {
        endpoint: ElevenLabsEndpoint::Stream,
        method: request.method.clone(),
        path: request.path().to_owned(),
        voice: voice.clone().unwrap_or_default(),
        query: head.query(),
        api_key: request.header("xi-api-key").map(ToOwned::to_owned),
        body: body.clone(),
        messages: Vec::new(),
        received_at: Instant::now(),
    });
    let (Some(_), "POST") = (voice, request.method.as_str()) else {
        write_json(&mut writer, 404, &json!({"detail": "Not Found"})).await;
        return;
    };
    let cut = match state.next_failure() {
        Some(Failure::Status(status)) => {
            write_json(&mut writer, status, &failure_body(status)).await;
            return;
        }
        Some(Failure::Close { .. }) => return,
        Some(Failure::MidStream) => true,
        None => false,
    };
    let expected = lock(&state.script).api_key.clone();
    if request.header("xi-api-key") != Some(expected.as_str()) {
        let body = error_body("invalid_api_key", "Invalid API key");
        write_json(&mut writer, 401, &body).await;
        return;
    }
    let text = match check_body(&body) {
        Ok(text) => text,
        Err(message) => {
            write_json(&mut writer, 400, &error_body("invalid_request", &message)).await;
            return;
        }
    };
    let format = head
        .query()
        .get("output_format")
        .cloned()
        .unwrap_or_default();
    let Some(audio) = fake_elevenlabs_audio(&text, &format) else {
        let message = format!("the fake speaks only pcm_* and ulaw_8000, not {format:?}");
        write_json(
            &mut writer,
            400,
            &error_body("invalid_output_format", &message),
        )
        .await;
        return;
    };
    let delay = lock(&state.script).chunk_delay;
    if stream_http(&mut reader, &mut writer, &audio, delay, cut)
        .await
        .is_err()
    {
        state.count_cancelled();
    }
}

/// The client hung up.
struct Gone;

/// Sends `audio` as a chunked body, piece by piece, `delay` apart; with `cut`, only about half
/// of it and no end of the body.
async fn stream_http(
    reader: &mut (impl AsyncRead + Unpin),
    writer: &mut (impl AsyncWrite + Unpin),
    audio: &[u8],
    delay: Duration,
    cut: bool,
) -> Result<(), Gone> {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n\
                transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    write_all(writer, head.as_bytes()).await?;
    let pieces = audio_pieces(audio);
    let send = if cut {
        pieces.len().div_ceil(2)
    } else {
        pieces.len()
    };
    for (n, piece) in pieces.iter().take(send).enumerate() {
        if n > 0 {
            pause(reader, delay).await?;
        }
        let mut framed = format!("{:x}\r\n", piece.len()).into_bytes();
        framed.extend_from_slice(piece);
        framed.extend_from_slice(b"\r\n");
        write_all(writer, &framed).await?;
    }
    if !cut {
        write_all(writer, b"0\r\n\r\n").await?;
    }
    Ok(())
}

async fn write_all(writer: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> Result<(), Gone> {
    writer.write_all(bytes).await.map_err(|_| Gone)?;
    writer.flush().await.map_err(|_| Gone)
}

/// Waits, noticing meanwhile whether the client hangs up (it sends nothing else on this
/// connection, so any read that ends means it closed).
async fn pause(reader: &mut (impl AsyncRead + Unpin), delay: Duration) -> Result<(), Gone> {
    if delay.is_zero() {
        return Ok(());
    }
    let mut scratch = [0_u8; 64];
    tokio::select! {
        () = tokio::time::sleep(delay) => Ok(()),
        _ = reader.read(&mut scratch) => Err(Gone),
    }
}

async fn write_json(writer: &mut (impl AsyncWrite + Unpin), status: u16, body: &Value) {
    let payload = body.to_string();
    let _ = http1::write_response(
        writer,
        status,
        &[("content-type", "application/json")],
        payload.as_bytes(),
    )
    .await;
}

/// What ElevenLabs checks in a stream request: a text of bounded length, and voice settings in
/// their ranges. The text to speak, or why the request is refused.
fn check_body(body: &Value) -> Result<String, String> {
    let Some(text) = body["text"].as_str() else {
        return Err("field required: text".to_owned());
    };
    if text.trim().is_empty() {
        return Err("text must not be empty".to_owned());
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("text is longer than {MAX_TEXT_CHARS} characters"));
    }
    check_voice_settings(&body["voice_settings"])?;
    Ok(text.to_owned())
}

fn check_voice_settings(settings: &Value) -> Result<(), String> {
    if settings.is_null() {
        return Ok(());
    }
    let in_range = |name: &str, low: f64, high: f64| match &settings[name] {
        Value::Null => Ok(()),
        value => match value.as_f64() {
            Some(v) if (low..=high).contains(&v) => Ok(()),
            _ => Err(format!(
                "voice_settings.{name} must be a number between {low} and {high}, not {value}"
            )),
        },
    };
    in_range("stability", 0.0, 1.0)?;
    in_range("similarity_boost", 0.0, 1.0)?;
    in_range("speed", 0.7, 1.2)
}

// ---- WebSocket -----------------------------------------------------------------------------

async fn serve_websocket<S>(head: Head, stream: S, state: &State)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let header_key = head.header("xi-api-key").map(ToOwned::to_owned);
    let index = state.record(ElevenLabsRequest {
        endpoint: ElevenLabsEndpoint::StreamInput,
        method: head.method.clone(),
        path: head.path().to_owned(),
        voice: head.voice("stream-input").unwrap_or_default(),
        query: head.query(),
        api_key: header_key.clone(),
        body: Value::Null,
        messages: Vec::new(),
        received_at: Instant::now(),
    });
    let expected = lock(&state.script).api_key.clone();
    let failure = state.next_failure();
    let refusal = match (&failure, head.voice("stream-input")) {
        (_, None) => Some((404, json!({"detail": "Not Found"}))),
        (Some(Failure::Status(status)), _) => Some((*status, failure_body(*status))),
        _ if header_key.as_deref().is_some_and(|key| key != expected) => {
            Some((401, error_body("invalid_api_key", "Invalid API key")))
        }
        _ => None,
    };
    #[expect(
        clippy::result_large_err,
        reason = "tungstenite's handshake callback has this signature"
    )]
    let callback = move |_: &Request, response: Response| match refusal {
        None => Ok(response),
        Some((status, body)) => Err(refusal_response(status, &body)),
    };
    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let format = head
        .query()
        .get("output_format")
        .cloned()
        .unwrap_or_default();
    let delay = lock(&state.script).chunk_delay;
    let mut session = WsSession {
        socket: &mut socket,
        state,
        index,
        format,
        delay,
        authenticated: header_key.is_some(),
        expected_key: expected,
        failure,
        pending: String::new(),
        queued: VecDeque::new(),
        messages: 0,
    };
    match session.run().await {
        Ok(()) => {}
        Err(Gone) => state.count_cancelled(),
    }
}

fn refusal_response(status: u16, body: &Value) -> ErrorResponse {
    let payload = body.to_string();
    let mut response = ErrorResponse::new(Some(payload.clone()));
    *response.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::from_u16(status)
        .unwrap_or(tokio_tungstenite::tungstenite::http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static("application/json"),
    );
    if let Ok(length) =
        tokio_tungstenite::tungstenite::http::HeaderValue::from_str(&payload.len().to_string())
    {
        headers.insert("content-length", length);
    }
    response
}

/// How much of the audio [`WsSession::speak`] sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spoke {
    All,
    /// Only part, as scripted; the connection is to be cut.
    Cut,
}

/// One stream-input connection after the handshake.
struct WsSession<'a, S> {
    socket: &'a mut WebSocketStream<S>,
    state: &'a State,
    index: usize,
    format: String,
    delay: Duration,
    /// Whether the key came in the handshake header (else the first message must carry it).
    authenticated: bool,
    expected_key: String,
    failure: Option<Failure>,
    /// Text received and not yet spoken.
    pending: String,
    /// Messages read while pausing, not yet handled.
    queued: VecDeque<String>,
    messages: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsSession<'_, S> {
    async fn run(&mut self) -> Result<(), Gone> {
        if fake_elevenlabs_audio("x", &self.format).is_none() {
            let reason = format!(
                "the fake speaks only pcm_* and ulaw_8000, not {:?}",
                self.format
            );
            return self.close(CloseCode::Policy, &reason).await;
        }
        loop {
            let text = match self.queued.pop_front() {
                Some(text) => text,
                None => match self.socket.next().await {
                    Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
                    Some(Ok(Message::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => continue,
                    Some(Err(_)) => return Err(Gone),
                },
            };
            let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            self.state.record_message(self.index, json.clone());
            self.messages += 1;
            if self.messages == 1 {
                if let Some(reason) = self.check_opening(&json) {
                    return self.close(CloseCode::Policy, &reason).await;
                }
                if let Some(Failure::Close { code, reason }) = self.failure.clone() {
                    return self.close(CloseCode::from(code), &reason).await;
                }
                continue;
            }
            let Some(chunk) = json["text"].as_str() else {
                return self
                    .close(CloseCode::Policy, "every message needs text")
                    .await;
            };
            self.pending.push_str(chunk);
            let end = chunk.is_empty();
            if (end || json["flush"].as_bool() == Some(true)) && self.speak().await? == Spoke::Cut {
                // Hang up without a close frame: returning drops the socket, and the client
                // sees the connection break.
                return Ok(());
            }
            if end {
                self.send(json!({"isFinal": true})).await?;
                return self.close(CloseCode::Normal, "").await;
            }
        }
    }

    /// Why the first message is refused, if it is: it must be a single space, and carry the key
    /// when the handshake did not.
    fn check_opening(&mut self, json: &Value) -> Option<String> {
        if json["text"].as_str() != Some(" ") {
            return Some("the first message must have text \" \"".to_owned());
        }
        if !self.authenticated {
            if json["xi-api-key"].as_str() != Some(self.expected_key.as_str()) {
                return Some("Invalid API key".to_owned());
            }
            self.authenticated = true;
        }
        check_voice_settings(&json["voice_settings"]).err()
    }

    /// Sends the audio of the pending text (nothing for blank text), in pieces.
    async fn speak(&mut self) -> Result<Spoke, Gone> {
        let text = std::mem::take(&mut self.pending);
        if text.trim().is_empty() {
            return Ok(Spoke::All);
        }
        let Some(audio) = fake_elevenlabs_audio(text.trim(), &self.format) else {
            return Ok(Spoke::All);
        };
        let pieces = audio_pieces(&audio);
        let cut = matches!(self.failure, Some(Failure::MidStream));
        let send = if cut {
            pieces.len().div_ceil(2)
        } else {
            pieces.len()
        };
        for (n, piece) in pieces.iter().take(send).enumerate() {
            if n > 0 {
                self.pause().await?;
            }
            self.send(json!({
                "audio": BASE64.encode(piece),
                "isFinal": null,
                "normalizedAlignment": null,
                "alignment": null,
            }))
            .await?;
        }
        Ok(if cut { Spoke::Cut } else { Spoke::All })
    }

    /// Waits the chunk delay, noticing meanwhile whether the client hangs up; text it sends
    /// meanwhile is kept for later, in order.
    async fn pause(&mut self) -> Result<(), Gone> {
        let sleep = tokio::time::sleep(self.delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return Ok(()),
                message = self.socket.next() => match message {
                    Some(Ok(Message::Text(text))) => self.queued.push_back(text.as_str().to_owned()),
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return Err(Gone),
                    Some(Ok(_)) => {}
                },
            }
        }
    }

    async fn send(&mut self, json: Value) -> Result<(), Gone> {
        self.socket
            .send(Message::text(json.to_string()))
            .await
            .map_err(|_| Gone)
    }

    async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Gone> {
        let frame = CloseFrame {
            code,
            reason: reason.to_owned().into(),
        };
        // The client may already be gone; either way the connection ends here.
        let _ = self.socket.close(Some(frame)).await;
        Ok(())
    }
}
