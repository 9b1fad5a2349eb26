//! `FakeTwilioIntelligence`: a loopback HTTP/1.1 server that speaks Twilio Voice Intelligence
//! v2's transcript reads (PROVIDERS.md 1.9): `GET /v2/Transcripts/{sid}` answers the Transcript
//! resource, `GET /v2/Transcripts/{sid}/Sentences` its sentences, paged by `PageSize` (1 to
//! 5000, default 50) and `Page`, with Twilio's `meta` object (`next_page_url` absolute and
//! pointing back at the fake, null on the last page).
//!
//! It checks HTTP Basic auth for [`crate::FAKE_TWILIO_ACCOUNT_SID`] (401, code 20003), answers
//! 404 (20404) for unknown transcripts, records every request, and can be told to fail the next
//! requests with a status or to point its page links at another host.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::http1::{Request, read_request, write_response};
use crate::{FAKE_TWILIO_ACCOUNT_SID, FAKE_TWILIO_AUTH_TOKEN};

/// Twilio's page size when a request names none.
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 5000;
const PREFIX: &str = "/v2/Transcripts/";

/// One request the fake received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntelligenceRequest {
    pub method: String,
    /// Without the query string.
    pub path: String,
    /// The query's pairs, in order.
    pub query: Vec<(String, String)>,
    /// The status the fake answered with.
    pub answered: u16,
}

impl IntelligenceRequest {
    /// The first value of a query parameter.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether it asked for sentences.
    #[must_use]
    pub fn is_sentences(&self) -> bool {
        self.path.ends_with("/Sentences")
    }
}

/// A transcript the fake serves.
#[derive(Clone, Debug)]
struct Transcript {
    resource: Value,
    sentences: Vec<Value>,
}

#[derive(Debug, Default)]
struct State {
    transcripts: BTreeMap<String, Transcript>,
    requests: Vec<IntelligenceRequest>,
    /// Statuses for the next requests, before anything else is looked at.
    failures: VecDeque<u16>,
    /// Where `next_page_url` points instead of the fake itself, when set.
    next_page_base: Option<String>,
}

fn lock(mutex: &Mutex<State>) -> MutexGuard<'_, State> {
    // A test that panicked while holding the lock has failed already; its data is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fake of Twilio Voice Intelligence on `127.0.0.1`, stopped when dropped.
#[derive(Debug)]
pub struct FakeTwilioIntelligence {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl Drop for FakeTwilioIntelligence {
    fn drop(&mut self) {
        // The accept task owns every connection task (a JoinSet), so this ends them all.
        self.server.abort();
    }
}

/// The `n`th sentence of a fake transcript: channel 1 (the agent) and 2 take turns, each
/// sentence 1.5 s long, 2 s apart, with times and confidence as strings as in Twilio's
/// specification, and a word list.
#[must_use]
pub fn fake_sentence(n: usize) -> Value {
    let channel = if n.is_multiple_of(2) { 1 } else { 2 };
    let text = format!("Sentence number {n} on channel {channel}.");
    let start = n as f64 * 2.0 + 0.5;
    let words: Vec<Value> = text
        .split_whitespace()
        .enumerate()
        .map(|(at, word)| {
            let from = start + at as f64 * 0.25;
            json!({"word": word, "start_time": format!("{from:.2}"), "end_time": format!("{:.2}", from + 0.2)})
        })
        .collect();
    json!({
        "media_channel": channel,
        "sentence_index": n,
        "start_time": format!("{start:.2}"),
        "end_time": format!("{:.2}", start + 1.5),
        "transcript": text,
        "sid": format!("GX{:032x}", n),
        "confidence": if channel == 1 { "0.9" } else { "0.7" },
        "words": words,
    })
}

impl FakeTwilioIntelligence {
    /// Starts the fake on a free port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let server = tokio::spawn(accept(listener, address, Arc::clone(&state)));
        Ok(Self {
            address,
            state,
            server,
        })
    }

    /// `http://127.0.0.1:{port}`, the value for `TWILIO_INTELLIGENCE_BASE_URL`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Adds a completed transcript of `sentences` sentences ([`fake_sentence`]) and returns its
    /// sid.
    pub fn add_transcript(&self, sentences: usize) -> String {
        self.add(sentences, None)
    }

    /// Adds a completed transcript of a call's recording, its channel naming the call's sid.
    pub fn add_transcript_of_call(&self, sentences: usize, call_sid: &str) -> String {
        self.add(sentences, Some(call_sid))
    }

    fn add(&self, sentences: usize, source_sid: Option<&str>) -> String {
        let sid = format!("GT{}", uuid::Uuid::new_v4().simple());
        let url = format!("{}{PREFIX}{sid}", self.base_url());
        let created = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let resource = json!({
            "account_sid": FAKE_TWILIO_ACCOUNT_SID,
            "service_sid": "GA00000000000000000000000000000000",
            "sid": sid,
            "date_created": created,
            "date_updated": created,
            "status": "completed",
            "channel": {"media_properties": {"source_sid": source_sid}},
            "data_logging": false,
            "language_code": "en-US",
            "media_start_time": null,
            "duration": sentences * 2,
            "customer_key": null,
            "url": url,
            "redaction": true,
            "encryption_credential_sid": null,
            "links": {
                "sentences": format!("{url}/Sentences"),
                "encrypted_sentences": format!("{url}/Sentences/Encrypted"),
                "media": format!("{url}/Media"),
                "operator_results": format!("{url}/OperatorResults"),
                "encrypted_operator_results": format!("{url}/OperatorResults/Encrypted"),
            },
        });
        lock(&self.state).transcripts.insert(
            sid.clone(),
            Transcript {
                resource,
                sentences: (0..sentences).map(fake_sentence).collect(),
            },
        );
        sid
    }

    /// The Transcript resource the fake serves for `sid`.
    #[must_use]
    pub fn resource(&self, sid: &str) -> Option<Value> {
        lock(&self.state)
            .transcripts
            .get(sid)
            .map(|t| t.resource.clone())
    }

    /// Every request so far, in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<IntelligenceRequest> {
        lock(&self.state).requests.clone()
    }

    /// Makes `next_page_url` (and the other page links) point at `base` (`http://host:port`)
    /// instead of the fake, as a misbehaving or spoofed service might.
    pub fn point_next_pages_at(&self, base: &str) {
        lock(&self.state).next_page_base = Some(base.trim_end_matches('/').to_owned());
    }

    /// Answers the next `count` requests with `status` (401, 429, 500, 503, ...) and a Twilio
    /// error body, before looking at them; they are still recorded.
    pub fn fail_next(&self, count: usize, status: u16) {
        lock(&self.state)
            .failures
            .extend(std::iter::repeat_n(status, count));
    }
}

async fn accept(listener: TcpListener, address: SocketAddr, state: Arc<Mutex<State>>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve(stream, address, Arc::clone(&state)));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "fake Voice Intelligence could not accept");
                    // Out of descriptors, most likely; spinning would not free any.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            // Reaps finished connections so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one request per connection, then closes it.
async fn serve(stream: TcpStream, address: SocketAddr, state: Arc<Mutex<State>>) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let Ok(Some(request)) = read_request(&mut reader, 64 * 1024).await else {
        return;
    };
    let (status, body) = {
        let mut state = lock(&state);
        let (status, body) = answer(&request, address, &mut state);
        let query = query_of(&request);
        state.requests.push(IntelligenceRequest {
            method: request.method.clone(),
            path: request.path().to_owned(),
            query,
            answered: status,
        });
        (status, body)
    };
    let mut headers = vec![("content-type", "application/json")];
    if status == 401 {
        headers.push(("www-authenticate", "Basic realm=\"Twilio API\""));
    }
    let _ = write_response(&mut writer, status, &headers, body.to_string().as_bytes()).await;
}

fn query_of(request: &Request) -> Vec<(String, String)> {
    request
        .target
        .split_once('?')
        .map(|(_, query)| {
            url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Twilio's error body.
fn error(status: u16, code: u32, message: &str) -> (u16, Value) {
    (
        status,
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

fn authorized(request: &Request) -> bool {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!(
            "{FAKE_TWILIO_ACCOUNT_SID}:{FAKE_TWILIO_AUTH_TOKEN}"
        ))
    );
    request.header("authorization") == Some(expected.as_str())
}

fn answer(request: &Request, address: SocketAddr, state: &mut State) -> (u16, Value) {
    if let Some(status) = state.failures.pop_front() {
        return error(status, 20500, "The fake was told to fail this request");
    }
    if !authorized(request) {
        return error(401, 20003, "Authenticate");
    }
    let path = request.path();
    let not_found = || {
        error(
            404,
            20404,
            &format!("The requested resource {path} was not found"),
        )
    };
    if request.method != "GET" {
        return error(405, 20004, "Method not allowed");
    }
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return not_found();
    };
    let (sid, sentences) = match rest.split_once('/') {
        Some((sid, "Sentences")) => (sid, true),
        Some(_) => return not_found(),
        None => (rest, false),
    };
    let Some(transcript) = state.transcripts.get(sid) else {
        return not_found();
    };
    if !sentences {
        return (200, transcript.resource.clone());
    }
    let query = query_of(request);
    let param = |name: &str| {
        query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let page_size = match param("PageSize").map(str::parse::<usize>) {
        None => DEFAULT_PAGE_SIZE,
        Some(Ok(size)) if (1..=MAX_PAGE_SIZE).contains(&size) => size,
        Some(_) => return error(400, 20001, "PageSize must be between 1 and 5000"),
    };
    let page = match param("Page").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(page)) => page,
        Some(Err(_)) => return error(400, 20001, "Page must be a number"),
    };
    let origin = state
        .next_page_base
        .clone()
        .unwrap_or_else(|| format!("http://{address}"));
    let base = format!("{origin}{PREFIX}{sid}/Sentences");
    let page_url =
        |page: usize| format!("{base}?PageSize={page_size}&Page={page}&PageToken=PT{page}");
    let from = page
        .saturating_mul(page_size)
        .min(transcript.sentences.len());
    let to = from
        .saturating_add(page_size)
        .min(transcript.sentences.len());
    let next = (to < transcript.sentences.len()).then(|| page_url(page + 1));
    (
        200,
        json!({
            "sentences": transcript.sentences[from..to],
            "meta": {
                "key": "sentences",
                "page": page,
                "page_size": page_size,
                "first_page_url": format!("{base}?PageSize={page_size}&Page=0"),
                "url": page_url(page),
                "next_page_url": next,
                "previous_page_url": (page > 0).then(|| page_url(page - 1)),
            },
        }),
    )
}
