//! `FakeOpenAi`: a loopback HTTP/1.1 server that speaks OpenAI's wire format (PROVIDERS.md
//! 4.1 chat completions, streamed or not; 4.2 embeddings; 4.3 transcriptions; 4.4 speech; 4.5
//! errors), so adapters and the whole server are tested over real sockets.
//!
//! Chat replies, speech and transcriptions follow scripts, consumed in order, with a default once
//! a script is empty; every request is recorded (path, headers that matter, JSON body or a JSON
//! summary of a multipart form, arrival time), the bearer key is checked, and a client that hangs
//! up during a stream is counted. Speech is the recognisable fake tone
//! ([`crate::FAKE_TTS_TONE_HZ`]) as 24 kHz PCM, sent in several pieces.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::audio::{audio_pieces, dominant_frequency, fake_tts_samples, pcm16le};

/// The key the fake accepts unless told otherwise.
pub const FAKE_OPENAI_KEY: &str = "sk-test-switchboard-fake-key";
/// What the fake hears in every recording until scripted otherwise.
pub const DEFAULT_TRANSCRIPT: &str = "Hello from the fake transcriber.";
/// The rate of `response_format: "pcm"` speech.
const SPEECH_PCM_RATE_HZ: u32 = 24_000;
/// OpenAI refuses longer speech inputs.
const MAX_SPEECH_INPUT_CHARS: usize = 4096;

const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A scripted answer to one chat request.
#[derive(Clone, Debug)]
pub struct Reply {
    kind: ReplyKind,
    first_token_delay: Duration,
    chunk_delay: Duration,
    cut_after: Option<usize>,
    crlf: bool,
    split_events: bool,
    keepalives: bool,
    usage: Option<(u32, u32)>,
}

#[derive(Clone, Debug)]
enum ReplyKind {
    Text(String),
    ToolCalls(Vec<(String, String)>),
    Error {
        status: u16,
        body: Value,
        retry_after: Option<Duration>,
    },
}

impl Reply {
    fn new(kind: ReplyKind) -> Self {
        Self {
            kind,
            first_token_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            cut_after: None,
            crlf: false,
            split_events: false,
            keepalives: false,
            usage: None,
        }
    }

    /// A text reply, streamed one word per chunk (each word with its leading space).
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self::new(ReplyKind::Text(text.into()))
    }

    /// One tool call; its arguments are streamed in several fragments.
    #[must_use]
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Self::tool_calls([(name, arguments)])
    }

    /// Several tool calls in one reply, in this order.
    #[must_use]
    pub fn tool_calls<N: Into<String>>(calls: impl IntoIterator<Item = (N, Value)>) -> Self {
        Self::new(ReplyKind::ToolCalls(
            calls
                .into_iter()
                .map(|(name, arguments)| (name.into(), arguments.to_string()))
                .collect(),
        ))
    }

    /// An error status with this body (a JSON string is sent as plain text), and `Retry-After`
    /// in whole seconds (rounded up) when given.
    #[must_use]
    pub fn error(status: u16, body: Value, retry_after: Option<Duration>) -> Self {
        Self::new(ReplyKind::Error {
            status,
            body,
            retry_after,
        })
    }

    /// An error in OpenAI's shape, `{"error":{"message","type","param","code"}}`.
    #[must_use]
    pub fn openai_error(status: u16, message: &str, retry_after: Option<Duration>) -> Self {
        Self::error(status, error_body(status, message), retry_after)
    }

    /// A text reply whose first token comes only after `delay` (the headers and the role chunk
    /// come at once, as OpenAI sends them).
    #[must_use]
    pub fn slow_first_token(delay: Duration, text: impl Into<String>) -> Self {
        Self::text(text).with_first_token_delay(delay)
    }

    /// A text reply (`"Hello there, how can I help?"`) whose connection is cut after `n_chunks`
    /// events, the role chunk being the first.
    #[must_use]
    pub fn drop_after(n_chunks: usize) -> Self {
        Self::text("Hello there, how can I help?").cut_after(n_chunks)
    }

    /// Waits `delay` before the first token.
    #[must_use]
    pub fn with_first_token_delay(mut self, delay: Duration) -> Self {
        self.first_token_delay = delay;
        self
    }

    /// Waits `delay` before each event after the first token.
    #[must_use]
    pub fn with_chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = delay;
        self
    }

    /// Cuts the connection after `n_chunks` events, without ending the HTTP body.
    #[must_use]
    pub fn cut_after(mut self, n_chunks: usize) -> Self {
        self.cut_after = Some(n_chunks);
        self
    }

    /// Ends lines with `\r\n` instead of `\n`.
    #[must_use]
    pub fn with_crlf(mut self) -> Self {
        self.crlf = true;
        self
    }

    /// Sends each event in two halves, in separate writes a moment apart.
    #[must_use]
    pub fn with_split_events(mut self) -> Self {
        self.split_events = true;
        self
    }

    /// Sends a `: ping` comment before each event.
    #[must_use]
    pub fn with_keepalives(mut self) -> Self {
        self.keepalives = true;
        self
    }

    /// The token counts of the usage chunk (by default, counted roughly from the request).
    #[must_use]
    pub fn with_usage(mut self, prompt_tokens: u32, completion_tokens: u32) -> Self {
        self.usage = Some((prompt_tokens, completion_tokens));
        self
    }
}

/// A scripted answer to one embeddings request.
#[derive(Clone, Debug)]
pub struct EmbeddingReply(EmbeddingKind);

#[derive(Clone, Debug)]
enum EmbeddingKind {
    Vectors,
    Dimensions(usize),
    Error {
        status: u16,
        body: Value,
        retry_after: Option<Duration>,
    },
}

impl EmbeddingReply {
    /// Vectors of the size asked for (or the fake's size), as the default does.
    #[must_use]
    pub fn vectors() -> Self {
        Self(EmbeddingKind::Vectors)
    }

    /// Vectors of `dimensions` components, whatever was asked for.
    #[must_use]
    pub fn with_dimensions(dimensions: usize) -> Self {
        Self(EmbeddingKind::Dimensions(dimensions))
    }

    /// An error status, as [`Reply::error`].
    #[must_use]
    pub fn error(status: u16, body: Value, retry_after: Option<Duration>) -> Self {
        Self(EmbeddingKind::Error {
            status,
            body,
            retry_after,
        })
    }

    /// An error in OpenAI's shape.
    #[must_use]
    pub fn openai_error(status: u16, message: &str, retry_after: Option<Duration>) -> Self {
        Self::error(status, error_body(status, message), retry_after)
    }
}

/// A scripted answer to one `/audio/speech` request.
#[derive(Clone, Debug)]
pub struct SpeechReply {
    kind: SpeechKind,
    chunk_delay: Duration,
}

#[derive(Clone, Debug)]
enum SpeechKind {
    Tone,
    CutMidStream,
    Error {
        status: u16,
        body: Value,
        retry_after: Option<Duration>,
    },
}

impl SpeechReply {
    /// The fake tone for the input's length, as 24 kHz PCM in several pieces (the default).
    #[must_use]
    pub fn tone() -> Self {
        Self {
            kind: SpeechKind::Tone,
            chunk_delay: Duration::ZERO,
        }
    }

    /// About half of the tone, then the connection is cut without ending the body.
    #[must_use]
    pub fn cut_mid_stream() -> Self {
        Self {
            kind: SpeechKind::CutMidStream,
            chunk_delay: Duration::ZERO,
        }
    }

    /// An error status, as [`Reply::error`].
    #[must_use]
    pub fn error(status: u16, body: Value, retry_after: Option<Duration>) -> Self {
        Self {
            kind: SpeechKind::Error {
                status,
                body,
                retry_after,
            },
            chunk_delay: Duration::ZERO,
        }
    }

    /// An error in OpenAI's shape.
    #[must_use]
    pub fn openai_error(status: u16, message: &str, retry_after: Option<Duration>) -> Self {
        Self::error(status, error_body(status, message), retry_after)
    }

    /// Waits `delay` between pieces of audio, so a test can act mid-stream.
    #[must_use]
    pub fn with_chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = delay;
        self
    }
}

/// A scripted answer to one `/audio/transcriptions` request.
#[derive(Clone, Debug)]
pub struct TranscriptionReply(TranscriptionKind);

#[derive(Clone, Debug)]
enum TranscriptionKind {
    Text(String),
    Error {
        status: u16,
        body: Value,
        retry_after: Option<Duration>,
    },
}

impl TranscriptionReply {
    /// This transcript, in the format the request asked for.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self(TranscriptionKind::Text(text.into()))
    }

    /// An error status, as [`Reply::error`].
    #[must_use]
    pub fn error(status: u16, body: Value, retry_after: Option<Duration>) -> Self {
        Self(TranscriptionKind::Error {
            status,
            body,
            retry_after,
        })
    }

    /// An error in OpenAI's shape.
    #[must_use]
    pub fn openai_error(status: u16, message: &str, retry_after: Option<Duration>) -> Self {
        Self::error(status, error_body(status, message), retry_after)
    }
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// For example `/v1/chat/completions`.
    pub path: String,
    pub authorization: Option<String>,
    pub organization: Option<String>,
    /// The JSON body (`Null` when it was not JSON). For a transcription, a summary of the form:
    /// `{"model", "language", "response_format", "prompt"` (each `null` when absent)`, "file":
    /// {"filename", "content_type", "bytes", "wav": {"sample_rate_hz", "channels",
    /// "bits_per_sample", "samples", "dominant_hz"}}}` (`wav` is `null` when the file is not a
    /// PCM WAV).
    pub body: Value,
    pub received_at: Instant,
}

/// What the fake does next; a std mutex, held only to push or pop, never across an await.
#[derive(Debug)]
struct Script {
    chat: VecDeque<Reply>,
    embeddings: VecDeque<EmbeddingReply>,
    speech: VecDeque<SpeechReply>,
    transcriptions: VecDeque<TranscriptionReply>,
    default_chat: Reply,
    default_transcription: String,
    embedding_dimensions: usize,
    api_key: String,
}

#[derive(Debug)]
struct State {
    script: Mutex<Script>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Streams the client closed before their end.
    cancelled: watch::Sender<usize>,
    ids: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has failed already; its data is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fake OpenAI API on `127.0.0.1`, stopped when dropped.
#[derive(Debug)]
pub struct FakeOpenAi {
    address: SocketAddr,
    state: Arc<State>,
    server: JoinHandle<()>,
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        // The accept task owns every connection task (a JoinSet), so this ends them all.
        self.server.abort();
    }
}

impl FakeOpenAi {
    /// Starts a fake on a free port, accepting [`FAKE_OPENAI_KEY`], answering chat requests with
    /// `Reply::text("Hello from the fake model.")` until scripted otherwise, and embedding into
    /// 1536 components unless asked for another size.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let state = Arc::new(State {
            script: Mutex::new(Script {
                chat: VecDeque::new(),
                embeddings: VecDeque::new(),
                speech: VecDeque::new(),
                transcriptions: VecDeque::new(),
                default_chat: Reply::text("Hello from the fake model."),
                default_transcription: DEFAULT_TRANSCRIPT.to_owned(),
                embedding_dimensions: 1536,
                api_key: FAKE_OPENAI_KEY.to_owned(),
            }),
            requests: Mutex::new(Vec::new()),
            cancelled: watch::Sender::new(0),
            ids: AtomicU64::new(1),
        });
        let server = tokio::spawn(accept(listener, Arc::clone(&state)));
        Ok(Self {
            address,
            state,
            server,
        })
    }

    /// `http://127.0.0.1:{port}/v1`, the value for `OPENAI_BASE_URL`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
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

    /// Queues the answer to a coming chat request.
    pub fn enqueue(&self, reply: Reply) {
        lock(&self.state.script).chat.push_back(reply);
    }

    /// The answer to chat requests once the queue is empty.
    pub fn set_default_reply(&self, reply: Reply) {
        lock(&self.state.script).default_chat = reply;
    }

    /// Queues the answer to a coming embeddings request.
    pub fn enqueue_embeddings(&self, reply: EmbeddingReply) {
        lock(&self.state.script).embeddings.push_back(reply);
    }

    /// Queues the answer to a coming `/audio/speech` request.
    pub fn enqueue_speech(&self, reply: SpeechReply) {
        lock(&self.state.script).speech.push_back(reply);
    }

    /// Queues the answer to a coming `/audio/transcriptions` request.
    pub fn enqueue_transcription(&self, reply: TranscriptionReply) {
        lock(&self.state.script).transcriptions.push_back(reply);
    }

    /// The transcript of recordings once the queue is empty ([`DEFAULT_TRANSCRIPT`] at first).
    pub fn set_default_transcription(&self, text: &str) {
        text.clone_into(&mut lock(&self.state.script).default_transcription);
    }

    /// The vector size when a request does not ask for one.
    pub fn set_embedding_dimensions(&self, dimensions: usize) {
        lock(&self.state.script).embedding_dimensions = dimensions;
    }

    /// Every request so far, in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// The requests to `/v1/chat/completions`.
    #[must_use]
    pub fn chat_requests(&self) -> Vec<RecordedRequest> {
        self.requests_to("/v1/chat/completions")
    }

    /// The requests to `/v1/embeddings`.
    #[must_use]
    pub fn embedding_requests(&self) -> Vec<RecordedRequest> {
        self.requests_to("/v1/embeddings")
    }

    /// The requests to `/v1/audio/speech`.
    #[must_use]
    pub fn speech_requests(&self) -> Vec<RecordedRequest> {
        self.requests_to("/v1/audio/speech")
    }

    /// The requests to `/v1/audio/transcriptions`, their bodies summarised (see
    /// [`RecordedRequest::body`]).
    #[must_use]
    pub fn transcription_requests(&self) -> Vec<RecordedRequest> {
        self.requests_to("/v1/audio/transcriptions")
    }

    /// Waits until at least `n` requests have reached `path` (for example
    /// `/v1/audio/transcriptions`); `false` if `within` passed first.
    pub async fn wait_for_requests_to(&self, path: &str, n: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.requests_to(path).len() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        lock(&self.state.requests)
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// How many streams the client closed before the fake finished them.
    #[must_use]
    pub fn cancelled_streams(&self) -> usize {
        *self.state.cancelled.borrow()
    }

    /// Waits until at least `n` streams were closed by the client; `false` if `within` passed
    /// first.
    pub async fn wait_for_cancelled_streams(&self, n: usize, within: Duration) -> bool {
        let mut cancelled = self.state.cancelled.subscribe();
        tokio::time::timeout(within, cancelled.wait_for(|count| *count >= n))
            .await
            .is_ok_and(|result| result.is_ok())
    }
}

/// The 4.5 error body for `status`.
fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        429 => "requests",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
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
                    tracing::debug!(error = %e, "fake OpenAI could not accept");
                    // Out of descriptors, most likely; spinning would not free any.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            // Reaps finished connections so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// A parsed request.
struct Request {
    method: String,
    path: String,
    authorization: Option<String>,
    organization: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// Serves one request per connection, then closes it (`Connection: close`).
async fn serve(stream: TcpStream, state: Arc<State>) {
    let _ = stream.set_nodelay(true);
    let (mut reader, writer) = stream.into_split();
    let Ok(Some(request)) = read_request(&mut reader).await else {
        return;
    };
    let form = request
        .content_type
        .as_deref()
        .and_then(boundary)
        .map(|boundary| parse_multipart(&request.body, &boundary));
    let body: Value = match &form {
        Some(parts) => form_summary(parts),
        None => serde_json::from_slice(&request.body).unwrap_or(Value::Null),
    };
    let expected_key = lock(&state.script).api_key.clone();
    lock(&state.requests).push(RecordedRequest {
        method: request.method.clone(),
        path: request.path.clone(),
        authorization: request.authorization.clone(),
        organization: request.organization,
        body: body.clone(),
        received_at: Instant::now(),
    });
    let mut connection = Connection {
        reader,
        writer,
        state: &state,
    };
    let provided = request
        .authorization
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "));
    if provided != Some(expected_key.as_str()) {
        let message = match provided {
            None => "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).".to_owned(),
            Some(key) => format!(
                "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                mask(key)
            ),
        };
        let mut body = error_body(401, &message);
        body["error"]["code"] = json!("invalid_api_key");
        connection.write_error(401, &body, None).await;
        return;
    }
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/v1/chat/completions") => connection.chat(&body).await,
        ("POST", "/v1/embeddings") => connection.embeddings(&body).await,
        ("POST", "/v1/audio/speech") => connection.speech(&body).await,
        ("POST", "/v1/audio/transcriptions") => {
            connection.transcription(&body, form.as_deref()).await;
        }
        (method, path) => {
            let body = error_body(404, &format!("Invalid URL ({method} {path})"));
            connection.write_error(404, &body, None).await;
        }
    }
}

/// OpenAI shows the first and last characters of a wrong key.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

async fn read_request(reader: &mut OwnedReadHalf) -> std::io::Result<Option<Request>> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > MAX_HEAD_BYTES {
            return Ok(None);
        }
        let mut chunk = [0_u8; 8192];
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let mut content_length = 0;
    let mut authorization = None;
    let mut organization = None;
    let mut content_type = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => content_length = value.parse().unwrap_or(0),
            "authorization" => authorization = Some(value.to_owned()),
            "openai-organization" => organization = Some(value.to_owned()),
            "content-type" => content_type = Some(value.to_owned()),
            _ => {}
        }
    }
    if content_length > MAX_BODY_BYTES {
        return Ok(None);
    }
    let mut body = buffer.split_off(head_end + 4);
    while body.len() < content_length {
        let mut chunk = vec![0_u8; (content_length - body.len()).min(64 * 1024)];
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(content_length);
    Ok(Some(Request {
        method,
        path,
        authorization,
        organization,
        content_type,
        body,
    }))
}

/// A client hung up.
struct Gone;

struct Connection<'a> {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    state: &'a State,
}

impl Connection<'_> {
    async fn chat(&mut self, body: &Value) {
        if let Err(message) = check_chat_request(body) {
            self.write_error(400, &error_body(400, &message), None)
                .await;
            return;
        }
        let reply = {
            let mut script = lock(&self.state.script);
            script
                .chat
                .pop_front()
                .unwrap_or_else(|| script.default_chat.clone())
        };
        if let ReplyKind::Error {
            status,
            body,
            retry_after,
        } = &reply.kind
        {
            self.write_error(*status, body, *retry_after).await;
            return;
        }
        let model = body["model"].as_str().unwrap_or_default().to_owned();
        let id = format!(
            "chatcmpl-fake{}",
            self.state.ids.fetch_add(1, Ordering::Relaxed)
        );
        let usage = reply
            .usage
            .unwrap_or_else(|| (rough_tokens(&body["messages"]), reply_tokens(&reply.kind)));
        if body["stream"].as_bool() == Some(true) {
            let include_usage = body["stream_options"]["include_usage"].as_bool() == Some(true);
            if self
                .stream_chat(&reply, &id, &model, include_usage.then_some(usage))
                .await
                .is_err()
            {
                self.state.cancelled.send_modify(|count| *count += 1);
            }
        } else {
            self.complete_chat(&reply, &id, &model, usage).await;
        }
    }

    async fn stream_chat(
        &mut self,
        reply: &Reply,
        id: &str,
        model: &str,
        usage: Option<(u32, u32)>,
    ) -> Result<(), Gone> {
        let events = chat_events(reply, id, model, usage);
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n\
                    transfer-encoding: chunked\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
        self.write(head.as_bytes()).await?;
        let line_end = if reply.crlf { "\r\n" } else { "\n" };
        for (n, event) in events.iter().enumerate() {
            if reply.cut_after == Some(n) {
                // Closing without the last chunk of the body: the client sees a broken stream.
                return Ok(());
            }
            if n == 1 {
                self.pause(reply.first_token_delay).await?;
            } else if n > 1 {
                self.pause(reply.chunk_delay).await?;
            }
            let mut text = String::new();
            if reply.keepalives {
                let _ = write!(text, ": ping{line_end}{line_end}");
            }
            let _ = write!(text, "data: {event}{line_end}{line_end}");
            if reply.split_events {
                let middle = text.len() / 2;
                let middle = (middle..text.len())
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(text.len());
                self.write_chunk(&text[..middle]).await?;
                self.pause(Duration::from_millis(5)).await?;
                self.write_chunk(&text[middle..]).await?;
            } else {
                self.write_chunk(&text).await?;
            }
        }
        if reply.cut_after.is_none_or(|n| n >= events.len()) {
            self.write(b"0\r\n\r\n").await?;
        }
        Ok(())
    }

    async fn complete_chat(&mut self, reply: &Reply, id: &str, model: &str, usage: (u32, u32)) {
        if self.pause(reply.first_token_delay).await.is_err() || reply.cut_after.is_some() {
            return;
        }
        let (message, finish) = match &reply.kind {
            ReplyKind::Text(text) => (json!({"role": "assistant", "content": text}), "stop"),
            ReplyKind::ToolCalls(calls) => (
                json!({"role": "assistant", "content": null, "tool_calls": calls
                    .iter()
                    .enumerate()
                    .map(|(i, (name, arguments))| json!({
                        "id": call_id(id, i), "type": "function",
                        "function": {"name": name, "arguments": arguments}
                    }))
                    .collect::<Vec<_>>()}),
                "tool_calls",
            ),
            ReplyKind::Error { .. } => return,
        };
        let body = json!({
            "id": id, "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
            "usage": usage_json(usage),
        });
        let _ = self.write_json(200, &body, None).await;
    }

    async fn embeddings(&mut self, body: &Value) {
        let inputs: Vec<&str> = match &body["input"] {
            Value::String(text) => vec![text.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let valid = body["model"].is_string()
            && !inputs.is_empty()
            && inputs.len() <= 2048
            && inputs.iter().all(|text| !text.is_empty())
            && body["input"]
                .as_array()
                .is_none_or(|items| items.len() == inputs.len());
        if !valid {
            let message = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.";
            self.write_error(400, &error_body(400, message), None).await;
            return;
        }
        let (reply, default_dimensions) = {
            let mut script = lock(&self.state.script);
            (
                script
                    .embeddings
                    .pop_front()
                    .unwrap_or_else(EmbeddingReply::vectors),
                script.embedding_dimensions,
            )
        };
        let dimensions = match reply.0 {
            EmbeddingKind::Error {
                status,
                body,
                retry_after,
            } => {
                self.write_error(status, &body, retry_after).await;
                return;
            }
            EmbeddingKind::Dimensions(n) => n,
            EmbeddingKind::Vectors => body["dimensions"]
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(default_dimensions),
        };
        // Reverse order: the API keys results by `index` and does not promise input order.
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .rev()
            .map(|(index, text)| {
                json!({"object": "embedding", "index": index, "embedding": fake_vector(text, dimensions)})
            })
            .collect();
        let tokens: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
        let body = json!({
            "object": "list", "data": data, "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        });
        let _ = self.write_json(200, &body, None).await;
    }

    async fn speech(&mut self, body: &Value) {
        if let Err(message) = check_speech_request(body) {
            self.write_error(400, &error_body(400, &message), None)
                .await;
            return;
        }
        let reply = lock(&self.state.script)
            .speech
            .pop_front()
            .unwrap_or_else(SpeechReply::tone);
        let cut = match reply.kind {
            SpeechKind::Error {
                status,
                body,
                retry_after,
            } => {
                self.write_error(status, &body, retry_after).await;
                return;
            }
            SpeechKind::CutMidStream => true,
            SpeechKind::Tone => false,
        };
        let input = body["input"].as_str().unwrap_or_default();
        let audio = pcm16le(&fake_tts_samples(input, SPEECH_PCM_RATE_HZ));
        if self
            .stream_audio(&audio, reply.chunk_delay, cut)
            .await
            .is_err()
        {
            self.state.cancelled.send_modify(|count| *count += 1);
        }
    }

    /// Sends `audio` as a chunked body in several pieces, `delay` apart; with `cut`, only about
    /// half of them and no end of the body.
    async fn stream_audio(&mut self, audio: &[u8], delay: Duration, cut: bool) -> Result<(), Gone> {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n\
                    transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
        self.write(head.as_bytes()).await?;
        let pieces = audio_pieces(audio);
        let send = if cut {
            pieces.len().div_ceil(2)
        } else {
            pieces.len()
        };
        for (n, piece) in pieces.iter().take(send).enumerate() {
            if n > 0 {
                self.pause(delay).await?;
            }
            let mut framed = format!("{:x}\r\n", piece.len()).into_bytes();
            framed.extend_from_slice(piece);
            framed.extend_from_slice(b"\r\n");
            self.write(&framed).await?;
        }
        if !cut {
            self.write(b"0\r\n\r\n").await?;
        }
        Ok(())
    }

    async fn transcription(&mut self, summary: &Value, form: Option<&[FormPart]>) {
        if let Err(message) = check_transcription_request(summary, form) {
            self.write_error(400, &error_body(400, &message), None)
                .await;
            return;
        }
        let (reply, default_text) = {
            let mut script = lock(&self.state.script);
            (
                script.transcriptions.pop_front(),
                script.default_transcription.clone(),
            )
        };
        let text = match reply.map(|r| r.0) {
            Some(TranscriptionKind::Error {
                status,
                body,
                retry_after,
            }) => {
                self.write_error(status, &body, retry_after).await;
                return;
            }
            Some(TranscriptionKind::Text(text)) => text,
            None => default_text,
        };
        let answer = match summary["response_format"].as_str().unwrap_or("json") {
            "text" => Value::String(text),
            "verbose_json" => json!({
                "task": "transcribe", "language": summary["language"].as_str().unwrap_or("english"),
                "duration": summary["file"]["wav"]["samples"].as_f64().unwrap_or(0.0)
                    / summary["file"]["wav"]["sample_rate_hz"].as_f64().unwrap_or(1.0),
                "text": text, "segments": [],
            }),
            _ => json!({"text": text, "usage": {"type": "duration", "seconds": 1}}),
        };
        let _ = self.write_json(200, &answer, None).await;
    }

    async fn write_error(&mut self, status: u16, body: &Value, retry_after: Option<Duration>) {
        let _ = self.write_json(status, body, retry_after).await;
    }

    async fn write_json(
        &mut self,
        status: u16,
        body: &Value,
        retry_after: Option<Duration>,
    ) -> Result<(), Gone> {
        let (content_type, payload) = match body {
            Value::String(text) => ("text/plain; charset=utf-8", text.clone()),
            other => ("application/json", other.to_string()),
        };
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
             connection: close\r\nx-request-id: req_fake{}\r\n",
            reason(status),
            payload.len(),
            self.state.ids.fetch_add(1, Ordering::Relaxed)
        );
        if let Some(wait) = retry_after {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let _ = write!(head, "retry-after: {seconds}\r\n");
        }
        head.push_str("\r\n");
        head.push_str(&payload);
        self.write(head.as_bytes()).await
    }

    async fn write_chunk(&mut self, text: &str) -> Result<(), Gone> {
        let framed = format!("{:x}\r\n{text}\r\n", text.len());
        self.write(framed.as_bytes()).await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Gone> {
        self.writer.write_all(bytes).await.map_err(|_| Gone)?;
        self.writer.flush().await.map_err(|_| Gone)
    }

    /// Waits, noticing meanwhile whether the client hangs up (it sends nothing else on this
    /// connection, so any read that ends means it closed).
    async fn pause(&mut self, delay: Duration) -> Result<(), Gone> {
        if delay.is_zero() {
            return Ok(());
        }
        let mut scratch = [0_u8; 64];
        tokio::select! {
            () = tokio::time::sleep(delay) => Ok(()),
            _ = self.reader.read(&mut scratch) => Err(Gone),
        }
    }
}

/// What OpenAI checks first: a model, and messages of known roles, each tool message answering
/// a call.
fn check_chat_request(body: &Value) -> Result<(), String> {
    if body["model"].as_str().is_none_or(str::is_empty) {
        return Err("you must provide a model parameter".into());
    }
    let Some(messages) = body["messages"].as_array().filter(|m| !m.is_empty()) else {
        return Err("'messages' must contain at least one message".into());
    };
    for (i, message) in messages.iter().enumerate() {
        match message["role"].as_str() {
            Some("system" | "user" | "assistant" | "developer") => {}
            Some("tool") if message["tool_call_id"].is_string() => {}
            Some("tool") => {
                return Err(format!("Missing parameter 'tool_call_id' at messages[{i}]"));
            }
            _ => return Err(format!("Invalid value for 'role' at messages[{i}]")),
        }
    }
    Ok(())
}

/// What OpenAI checks in a speech request: a model, an input of bounded length, a voice, a
/// known format (the fake speaks only `pcm`), a speed in range.
fn check_speech_request(body: &Value) -> Result<(), String> {
    if body["model"].as_str().is_none_or(str::is_empty) {
        return Err("you must provide a model parameter".into());
    }
    let input = body["input"].as_str().unwrap_or_default();
    if input.is_empty() {
        return Err("Missing required parameter: 'input'.".into());
    }
    if input.chars().count() > MAX_SPEECH_INPUT_CHARS {
        return Err(format!(
            "'input' is longer than {MAX_SPEECH_INPUT_CHARS} characters"
        ));
    }
    let voice_ok =
        body["voice"].as_str().is_some_and(|v| !v.is_empty()) || body["voice"]["id"].is_string();
    if !voice_ok {
        return Err("Missing required parameter: 'voice'.".into());
    }
    match body["response_format"].as_str() {
        None | Some("pcm") => {}
        Some("mp3" | "opus" | "aac" | "flac" | "wav") => {
            return Err("the fake speaks only response_format \"pcm\"".into());
        }
        Some(other) => return Err(format!("Invalid value for 'response_format': {other}")),
    }
    match &body["speed"] {
        Value::Null => Ok(()),
        speed => match speed.as_f64() {
            Some(v) if (0.25..=4.0).contains(&v) => Ok(()),
            _ => Err(format!("'speed' must be between 0.25 and 4.0, not {speed}")),
        },
    }
}

/// What OpenAI checks in a transcription request: a model and a file it can read (the fake
/// reads PCM WAV only).
fn check_transcription_request(summary: &Value, form: Option<&[FormPart]>) -> Result<(), String> {
    if form.is_none() {
        return Err("the request must be multipart/form-data".into());
    }
    if summary["model"].as_str().is_none_or(str::is_empty) {
        return Err("you must provide a model parameter".into());
    }
    if summary["file"].is_null() {
        return Err("Missing required parameter: 'file'.".into());
    }
    if summary["file"]["wav"].is_null() {
        return Err("Invalid file format. The fake reads PCM WAV only.".into());
    }
    match summary["response_format"].as_str() {
        None | Some("json" | "text" | "verbose_json") => Ok(()),
        Some(other) => Err(format!(
            "the fake does not answer response_format {other:?}"
        )),
    }
}

/// One part of a multipart form.
#[derive(Debug)]
struct FormPart {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

/// The boundary of a `multipart/form-data` content type.
fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The parts of a multipart body (RFC 7578); what does not parse is left out.
fn parse_multipart(body: &[u8], boundary: &str) -> Vec<FormPart> {
    let delimiter = format!("--{boundary}").into_bytes();
    let find = |from: usize| {
        body.get(from..)?
            .windows(delimiter.len())
            .position(|w| w == delimiter.as_slice())
            .map(|at| at + from)
    };
    let mut parts = Vec::new();
    let Some(mut at) = find(0) else {
        return parts;
    };
    loop {
        let start = at + delimiter.len();
        if body.get(start..start + 2) == Some(b"--") {
            break;
        }
        let Some(next) = find(start) else {
            break;
        };
        // The part lies between the CRLF after this delimiter and the CRLF before the next.
        let part = body
            .get(start + 2..next.saturating_sub(2))
            .unwrap_or_default();
        if let Some(parsed) = parse_part(part) {
            parts.push(parsed);
        }
        at = next;
    }
    parts
}

fn parse_part(part: &[u8]) -> Option<FormPart> {
    let head_end = part.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&part[..head_end]);
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in head.split("\r\n") {
        let Some((header, value)) = line.split_once(':') else {
            continue;
        };
        match header.trim().to_ascii_lowercase().as_str() {
            "content-disposition" => {
                for param in value.split(';').skip(1) {
                    let Some((key, v)) = param.split_once('=') else {
                        continue;
                    };
                    let v = v.trim().trim_matches('"').to_owned();
                    match key.trim() {
                        "name" => name = Some(v),
                        "filename" => filename = Some(v),
                        _ => {}
                    }
                }
            }
            "content-type" => content_type = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    Some(FormPart {
        name: name?,
        filename,
        content_type,
        data: part[head_end + 4..].to_vec(),
    })
}

/// The JSON summary of a transcription form that [`RecordedRequest::body`] documents.
fn form_summary(parts: &[FormPart]) -> Value {
    let text = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .map(|p| Value::String(String::from_utf8_lossy(&p.data).into_owned()))
            .unwrap_or(Value::Null)
    };
    let file = parts
        .iter()
        .find(|p| p.name == "file")
        .map_or(Value::Null, |file| {
            json!({
                "filename": file.filename,
                "content_type": file.content_type,
                "bytes": file.data.len(),
                "wav": wav_summary(&file.data),
            })
        });
    json!({
        "model": text("model"),
        "language": text("language"),
        "response_format": text("response_format"),
        "prompt": text("prompt"),
        "file": file,
    })
}

/// The format and length of a PCM WAV file, and the tone its first channel carries (16-bit
/// only); `Null` when it is not one.
fn wav_summary(bytes: &[u8]) -> Value {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Value::Null;
    }
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut format = None;
    let mut data = None;
    let mut at = 12;
    while let (Some(id), Some(size)) = (bytes.get(at..at + 4), u32_at(at + 4)) {
        let body = at + 8;
        let size = size as usize;
        match id {
            b"fmt " => {
                format = (|| {
                    Some((
                        u16_at(body)?,
                        u16_at(body + 2)?,
                        u32_at(body + 4)?,
                        u16_at(body + 14)?,
                    ))
                })();
            }
            b"data" => data = bytes.get(body..(body + size).min(bytes.len())),
            _ => {}
        }
        at = body + size + size % 2;
    }
    let (Some((1, channels, rate, bits)), Some(data)) = (format, data) else {
        return Value::Null;
    };
    let frame_bytes = usize::from(channels) * usize::from(bits / 8);
    let samples = data.len() / frame_bytes.max(1);
    let dominant = (bits == 16).then(|| {
        let first_channel: Vec<i16> = data
            .chunks_exact(frame_bytes.max(2))
            .map(|frame| i16::from_le_bytes([frame[0], frame[1]]))
            .collect();
        dominant_frequency(&first_channel, rate)
    });
    json!({
        "sample_rate_hz": rate,
        "channels": channels,
        "bits_per_sample": bits,
        "samples": samples,
        "dominant_hz": dominant,
    })
}

fn call_id(reply_id: &str, index: usize) -> String {
    format!("call_{}_{index}", reply_id.trim_start_matches("chatcmpl-"))
}

/// The data of every event of a streamed reply, `[DONE]` included.
fn chat_events(reply: &Reply, id: &str, model: &str, usage: Option<(u32, u32)>) -> Vec<String> {
    let chunk = |delta: Value, finish: Option<&str>| {
        json!({
            "id": id, "object": "chat.completion.chunk", "created": 1, "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}],
            "usage": null,
        })
        .to_string()
    };
    let mut events = Vec::new();
    let finish = match &reply.kind {
        ReplyKind::Text(text) => {
            events.push(chunk(json!({"role": "assistant", "content": ""}), None));
            for word in words(text) {
                events.push(chunk(json!({"content": word}), None));
            }
            "stop"
        }
        ReplyKind::ToolCalls(calls) => {
            events.push(chunk(json!({"role": "assistant", "content": null}), None));
            for (index, (name, arguments)) in calls.iter().enumerate() {
                events.push(chunk(
                    json!({"tool_calls": [{"index": index, "id": call_id(id, index), "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                    None,
                ));
                for piece in pieces(arguments, 4) {
                    events.push(chunk(
                        json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                        None,
                    ));
                }
            }
            "tool_calls"
        }
        ReplyKind::Error { .. } => return events,
    };
    events.push(chunk(json!({}), Some(finish)));
    if let Some(usage) = usage {
        events.push(
            json!({
                "id": id, "object": "chat.completion.chunk", "created": 1, "model": model,
                "choices": [], "usage": usage_json(usage),
            })
            .to_string(),
        );
    }
    events.push("[DONE]".to_owned());
    events
}

fn usage_json((prompt, completion): (u32, u32)) -> Value {
    json!({
        "prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    })
}

/// Words with their leading spaces, so that joined they give the text back.
fn words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for (i, word) in text.split(' ').enumerate() {
        if i == 0 {
            words.push(word.to_owned());
        } else {
            words.push(format!(" {word}"));
        }
    }
    words.retain(|w| !w.is_empty());
    words
}

/// `text` cut into `n` pieces (fewer when it is short), at character boundaries.
fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

fn rough_tokens(messages: &Value) -> u32 {
    let words: usize = messages
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|m| m["content"].as_str())
                .map(|c| c.split_whitespace().count())
                .sum()
        })
        .unwrap_or(0);
    u32::try_from(words).unwrap_or(u32::MAX)
}

fn reply_tokens(kind: &ReplyKind) -> u32 {
    let count = match kind {
        ReplyKind::Text(text) => words(text).len(),
        ReplyKind::ToolCalls(calls) => calls.len() * 8,
        ReplyKind::Error { .. } => 0,
    };
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// A vector that depends only on the text, deliberately not of unit length.
fn fake_vector(text: &str, dimensions: usize) -> Vec<f32> {
    // FNV-1a: stable across runs and platforms, unlike the standard hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..dimensions)
        .map(|i| {
            hash = (hash ^ i as u64).wrapping_mul(0x0100_0000_01b3);
            let unit = (hash >> 40) as f32 / (1_u64 << 24) as f32;
            (unit - 0.5) * 6.0
        })
        .collect()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn words_and_pieces_join_back() {
        let text = "Hello there,  how can I help?";
        assert_eq!(words(text).concat(), text);
        assert!(words(text).len() > 3);
        let arguments = r#"{"time":"15:00","name":"Ada"}"#;
        assert_eq!(pieces(arguments, 4).concat(), arguments);
        assert_eq!(pieces(arguments, 4).len(), 4);
        assert_eq!(pieces("", 4).concat(), "");
    }

    #[test]
    fn keys_are_masked_as_openai_does() {
        assert_eq!(mask("sk-abcdefghijkl"), "sk-********ijkl");
        assert!(!mask(FAKE_OPENAI_KEY).contains("switchboard"));
    }

    #[test]
    fn fake_vectors_are_stable_and_not_unit_length() {
        let a = fake_vector("hello", 8);
        assert_eq!(a, fake_vector("hello", 8));
        assert_ne!(a, fake_vector("world", 8));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() > 0.01);
    }

    #[test]
    fn multipart_forms_are_summarised() {
        let wav = {
            let samples = crate::tone(440.0, 100, 16_000, 8000);
            let data = pcm16le(&samples);
            let mut wav = b"RIFF".to_vec();
            wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
            wav.extend_from_slice(b"WAVEfmt ");
            wav.extend_from_slice(&16_u32.to_le_bytes());
            wav.extend_from_slice(&1_u16.to_le_bytes());
            wav.extend_from_slice(&1_u16.to_le_bytes());
            wav.extend_from_slice(&16_000_u32.to_le_bytes());
            wav.extend_from_slice(&32_000_u32.to_le_bytes());
            wav.extend_from_slice(&2_u16.to_le_bytes());
            wav.extend_from_slice(&16_u16.to_le_bytes());
            wav.extend_from_slice(b"data");
            wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
            wav.extend_from_slice(&data);
            wav
        };
        let mut body = Vec::new();
        body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"audio.wav\"\r\nContent-Type: audio/wav\r\n\r\n");
        body.extend_from_slice(&wav);
        body.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--XyZ--\r\n");
        let content_type = "multipart/form-data; boundary=XyZ";
        let parts = parse_multipart(&body, &boundary(content_type).unwrap());
        assert_eq!(parts.len(), 2);
        let summary = form_summary(&parts);
        assert_eq!(summary["model"], "whisper-1");
        assert!(summary["language"].is_null());
        assert_eq!(summary["file"]["filename"], "audio.wav");
        assert_eq!(summary["file"]["bytes"], wav.len());
        assert_eq!(summary["file"]["wav"]["sample_rate_hz"], 16_000);
        assert_eq!(summary["file"]["wav"]["samples"], 1600);
        let hz = summary["file"]["wav"]["dominant_hz"].as_f64().unwrap();
        assert!((hz - 440.0).abs() < 15.0, "{hz}");
        assert!(check_transcription_request(&summary, Some(&parts)).is_ok());
        assert!(boundary("application/json").is_none());
    }

    #[test]
    fn streamed_events_end_with_done() {
        let reply = Reply::tool_call("book", json!({"time": "15:00"}));
        let events = chat_events(&reply, "chatcmpl-x", "m", Some((1, 2)));
        assert_eq!(events.last().unwrap(), "[DONE]");
        assert!(events.iter().any(|e| e.contains("\"tool_calls\"")));
        assert!(events[events.len() - 2].contains("\"choices\":[]"));
    }
}
