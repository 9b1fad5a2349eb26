//! `FakeTwilio`: a loopback HTTP/1.1 server that speaks the part of Twilio's REST API a voice
//! agent uses (PROVIDERS.md 1.1 to 1.4): `POST Calls.json` places a call, `POST Calls/{sid}.json`
//! modifies one (`Status`, `Twiml`, `Url`), `GET Calls/{sid}.json` fetches one.
//!
//! It checks HTTP Basic auth (401, code 20003), reads form bodies keeping repeated keys,
//! refuses what Twilio refuses (a missing or invalid `To`/`From`, no TwiML source, an unknown
//! `StatusCallbackEvent` such as a space-joined list, a state change a call's status does not
//! allow: 21220), answers Call JSON (`CA` + 32 hex sids, RFC 2822 dates, strings for durations)
//! and Twilio's error bodies, and records every dial and modification. The next dial or
//! modification can be told to fail with a Twilio error, and the next requests with a status.
//! It does not open the media stream: tests do, with [`crate::TwilioCall`] and the TwiML recorded
//! in the dial ([`crate::TwimlStream::from_twiml`]).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::FAKE_TWILIO_AUTH_TOKEN;
use crate::http1::{Request, read_request, write_response};

/// The account the fake serves (the same one `TestAppBuilder::with_twilio` configures).
pub const FAKE_TWILIO_ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
/// The account's phone number, which `TestAppBuilder::with_twilio_rest` configures.
pub const FAKE_TWILIO_PHONE_NUMBER: &str = "+14155550199";

/// Form bodies beyond this are not read: the connection is closed.
const MAX_BODY_BYTES: usize = 1024 * 1024;
const API_PREFIX: &str = "/2010-04-01/Accounts/";
const STATUS_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];

/// A form body as sent: every pair in order, repeated keys kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    #[must_use]
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The keys, in order, repeats included.
    #[must_use]
    pub fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// One `POST Calls.json` the fake received.
#[derive(Clone, Debug)]
pub struct RecordedDial {
    pub form: Form,
    pub content_type: Option<String>,
    /// The status the fake answered with: 201 when it placed the call.
    pub answered: u16,
    /// The placed call's sid, when it was placed.
    pub sid: Option<String>,
    pub received_at: Instant,
}

impl RecordedDial {
    /// The inline TwiML the dial carries.
    #[must_use]
    pub fn twiml(&self) -> Option<&str> {
        self.form.get("Twiml")
    }
}

/// One `POST Calls/{sid}.json` the fake received, placed call or not.
#[derive(Clone, Debug)]
pub struct Modification {
    pub form: Form,
    /// The `Status` asked for (`completed`, `canceled`).
    pub status: Option<String>,
    pub twiml: Option<String>,
    /// The status the fake answered with: 200 when it applied the change.
    pub answered: u16,
    pub received_at: Instant,
}

/// A call the fake placed, as the fake holds it; tests move it along with
/// [`FakeTwilio::update_call`] (answer it, end it) as Twilio's network would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeTwilioCall {
    pub sid: String,
    pub to: String,
    pub from: String,
    /// `queued` when placed; `ringing`, `in-progress`, `completed`, `canceled`, ...
    pub status: String,
    pub answered_by: Option<String>,
    /// Seconds, reported once the call has ended.
    pub duration_secs: Option<u32>,
    /// The TwiML the call runs: the dial's, then the latest modification's.
    pub twiml: Option<String>,
    date_created: String,
    date_updated: String,
}

impl FakeTwilioCall {
    fn is_over(&self) -> bool {
        !matches!(self.status.as_str(), "queued" | "ringing" | "in-progress")
    }

    /// The Call resource, as Twilio answers it.
    fn to_json(&self, account: &str) -> Value {
        let uri = format!("{API_PREFIX}{account}/Calls/{}", self.sid);
        json!({
            "account_sid": account,
            "annotation": null,
            "answered_by": self.answered_by,
            "api_version": "2010-04-01",
            "caller_name": null,
            "date_created": self.date_created,
            "date_updated": self.date_updated,
            "direction": "outbound-api",
            "duration": self.duration_secs.map(|d| d.to_string()),
            "end_time": null,
            "forwarded_from": null,
            "from": self.from,
            "from_formatted": self.from,
            "group_sid": null,
            "parent_call_sid": null,
            "phone_number_sid": null,
            "price": null,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": null,
            "status": self.status,
            "subresource_uris": {
                "recordings": format!("{uri}/Recordings.json"),
                "streams": format!("{uri}/Streams.json"),
            },
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": null,
            "uri": format!("{uri}.json"),
        })
    }
}

/// A scripted answer: a status and a Twilio error code and message.
#[derive(Clone, Debug)]
struct Scripted {
    status: u16,
    code: u32,
    message: String,
}

/// What the fake holds and does next; a std mutex, held only for short synchronous work, never
/// across an await.
#[derive(Debug, Default)]
struct Account {
    calls: BTreeMap<String, FakeTwilioCall>,
    dials: Vec<RecordedDial>,
    modifications: Vec<(String, Modification)>,
    /// Answers for the next requests of any kind, before anything else is looked at.
    failures: VecDeque<Scripted>,
    /// Answers for the next dials (after authentication).
    dial_refusals: VecDeque<Scripted>,
    /// Answers for the next modifications of a known call (after authentication).
    modification_refusals: VecDeque<Scripted>,
}

fn lock(mutex: &Mutex<Account>) -> MutexGuard<'_, Account> {
    // A test that panicked while holding the lock has failed already; its data is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fake of Twilio's REST API on `127.0.0.1`, stopped when dropped.
#[derive(Debug)]
pub struct FakeTwilio {
    address: SocketAddr,
    account: Arc<Mutex<Account>>,
    server: JoinHandle<()>,
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        // The accept task owns every connection task (a JoinSet), so this ends them all.
        self.server.abort();
    }
}

impl FakeTwilio {
    /// Starts the fake on a free port, for [`FAKE_TWILIO_ACCOUNT_SID`] with
    /// [`FAKE_TWILIO_AUTH_TOKEN`].
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let account = Arc::new(Mutex::new(Account::default()));
        let server = tokio::spawn(accept(listener, Arc::clone(&account)));
        Ok(Self {
            address,
            account,
            server,
        })
    }

    /// `http://127.0.0.1:{port}`, the value for `TWILIO_BASE_URL`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The account the fake serves.
    #[must_use]
    pub fn account_sid(&self) -> &'static str {
        FAKE_TWILIO_ACCOUNT_SID
    }

    /// The account's auth token.
    #[must_use]
    pub fn auth_token(&self) -> &'static str {
        FAKE_TWILIO_AUTH_TOKEN
    }

    /// Every `POST Calls.json` so far, placed or refused, in arrival order.
    #[must_use]
    pub fn dials(&self) -> Vec<RecordedDial> {
        lock(&self.account).dials.clone()
    }

    /// Every `POST Calls/{sid}.json` for `sid` so far, applied or refused, in arrival order.
    #[must_use]
    pub fn modifications(&self, sid: &str) -> Vec<Modification> {
        lock(&self.account)
            .modifications
            .iter()
            .filter(|(s, _)| s == sid)
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// A placed call.
    #[must_use]
    pub fn call(&self, sid: &str) -> Option<FakeTwilioCall> {
        lock(&self.account).calls.get(sid).cloned()
    }

    /// Changes a placed call as Twilio's network would (rings it, answers it, ends it);
    /// `false` when there is no such call.
    pub fn update_call(&self, sid: &str, change: impl FnOnce(&mut FakeTwilioCall)) -> bool {
        let mut account = lock(&self.account);
        let Some(call) = account.calls.get_mut(sid) else {
            return false;
        };
        change(call);
        call.date_updated = now();
        true
    }

    /// Deletes a placed call's record, as `DELETE Calls/{sid}.json` does: fetching it is then
    /// 404. `false` when there is no such call.
    pub fn forget_call(&self, sid: &str) -> bool {
        lock(&self.account).calls.remove(sid).is_some()
    }

    /// Answers the next dial with `status` and a Twilio error body of `code` and `message`
    /// (for example 400, 21211, "The 'To' number ... is not a valid phone number."); it is
    /// still recorded.
    pub fn reject_next_dial(&self, status: u16, code: u32, message: &str) {
        lock(&self.account).dial_refusals.push_back(Scripted {
            status,
            code,
            message: message.to_owned(),
        });
    }

    /// Answers the next modification of a placed call with `status` and a Twilio error body;
    /// it is still recorded, and the call is left as it was.
    pub fn reject_next_modification(&self, status: u16, code: u32, message: &str) {
        lock(&self.account)
            .modification_refusals
            .push_back(Scripted {
                status,
                code,
                message: message.to_owned(),
            });
    }

    /// Answers the next `count` requests of any kind with `status` (429, 500, 503, ...) and a
    /// Twilio error body, before looking at them; dials and modifications are still recorded.
    pub fn fail_next(&self, count: usize, status: u16) {
        let scripted = Scripted {
            status,
            code: match status {
                429 => 20429,
                503 => 20503,
                _ => 20500,
            },
            message: "The fake was told to fail this request".to_owned(),
        };
        lock(&self.account)
            .failures
            .extend(std::iter::repeat_n(scripted, count));
    }

    /// Waits until at least `count` dials have arrived; `false` if `within` passed first.
    pub async fn wait_for_dials(&self, count: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if lock(&self.account).dials.len() >= count {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn accept(listener: TcpListener, account: Arc<Mutex<Account>>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve(stream, Arc::clone(&account)));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "fake Twilio could not accept");
                    // Out of descriptors, most likely; spinning would not free any.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            // Reaps finished connections so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one request per connection, then closes it (`Connection: close`).
async fn serve(stream: TcpStream, account: Arc<Mutex<Account>>) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let Ok(Some(request)) = read_request(&mut reader, MAX_BODY_BYTES).await else {
        return;
    };
    let (status, body) = answer(&request, &mut lock(&account));
    let mut headers = vec![("content-type", "application/json")];
    if status == 401 {
        headers.push(("www-authenticate", "Basic realm=\"Twilio API\""));
    }
    let _ = write_response(&mut writer, status, &headers, body.to_string().as_bytes()).await;
}

/// Twilio's (legacy) error body.
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

fn scripted_error(scripted: &Scripted) -> (u16, Value) {
    error(scripted.status, scripted.code, &scripted.message)
}

fn not_found(path: &str) -> (u16, Value) {
    error(
        404,
        20404,
        &format!("The requested resource {path} was not found"),
    )
}

/// What a request is about, from its method and path.
enum Route<'a> {
    Dial,
    Modify(&'a str),
    Fetch(&'a str),
}

fn route<'a>(method: &str, path: &'a str) -> Option<(&'a str, Route<'a>)> {
    let rest = path.strip_prefix(API_PREFIX)?;
    let (account, rest) = rest.split_once('/')?;
    let route = match (method, rest) {
        ("POST", "Calls.json") => Route::Dial,
        (method, rest) => {
            let sid = rest.strip_prefix("Calls/")?.strip_suffix(".json")?;
            if sid.is_empty() || sid.contains('/') {
                return None;
            }
            match method {
                "POST" => Route::Modify(sid),
                "GET" => Route::Fetch(sid),
                _ => return None,
            }
        }
    };
    Some((account, route))
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

fn answer(request: &Request, account: &mut Account) -> (u16, Value) {
    let path = request.path();
    let route = route(&request.method, path);
    let form = Form::parse(&request.body);
    let content_type = request.header("content-type").map(ToOwned::to_owned);
    let is_form = content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    // Twilio reads parameters only from a form body.
    let form = if is_form { form } else { Form::default() };

    let (status, body) = respond(request, route.as_ref(), &form, account);

    match route {
        Some((_, Route::Dial)) => account.dials.push(RecordedDial {
            form,
            content_type,
            answered: status,
            sid: (status == 201)
                .then(|| body["sid"].as_str().map(ToOwned::to_owned))
                .flatten(),
            received_at: Instant::now(),
        }),
        Some((_, Route::Modify(sid))) => account.modifications.push((
            sid.to_owned(),
            Modification {
                status: form.get("Status").map(ToOwned::to_owned),
                twiml: form.get("Twiml").map(ToOwned::to_owned),
                form,
                answered: status,
                received_at: Instant::now(),
            },
        )),
        Some((_, Route::Fetch(_))) | None => {}
    }
    (status, body)
}

fn respond(
    request: &Request,
    route: Option<&(&str, Route<'_>)>,
    form: &Form,
    account: &mut Account,
) -> (u16, Value) {
    if let Some(failure) = account.failures.pop_front() {
        return scripted_error(&failure);
    }
    if !authorized(request) {
        return error(401, 20003, "Authenticate");
    }
    let path = request.path();
    let Some((sid_in_path, route)) = route else {
        return not_found(path);
    };
    // The credentials are this account's; another account's resources are not found.
    if *sid_in_path != FAKE_TWILIO_ACCOUNT_SID {
        return not_found(path);
    }
    match route {
        Route::Dial => match account.dial_refusals.pop_front() {
            Some(refusal) => scripted_error(&refusal),
            None => dial(form, account),
        },
        Route::Fetch(sid) => match account.calls.get(*sid) {
            Some(call) => (200, call.to_json(FAKE_TWILIO_ACCOUNT_SID)),
            None => not_found(path),
        },
        Route::Modify(sid) => {
            if !account.calls.contains_key(*sid) {
                return not_found(path);
            }
            if let Some(refusal) = account.modification_refusals.pop_front() {
                return scripted_error(&refusal);
            }
            modify(sid, form, account)
        }
    }
}

/// `+` and 8 to 15 digits, or a `client:`/`sip:` address.
fn is_address(number: &str) -> bool {
    if number.starts_with("client:") || number.starts_with("sip:") {
        return true;
    }
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

fn dial(form: &Form, account: &mut Account) -> (u16, Value) {
    let Some(to) = form.get("To").filter(|t| !t.is_empty()) else {
        return error(400, 21201, "No 'To' number is specified");
    };
    let Some(from) = form.get("From").filter(|f| !f.is_empty()) else {
        return error(400, 21603, "A 'From' phone number is required.");
    };
    if !is_address(to) {
        return error(400, 21211, &format!("Invalid 'To' Phone Number: {to}"));
    }
    if !is_address(from) {
        return error(400, 21212, &format!("Invalid 'From' Phone Number: {from}"));
    }
    let sources = ["Url", "Twiml", "ApplicationSid"]
        .iter()
        .filter(|key| form.get(key).is_some())
        .count();
    if sources == 0 {
        return error(
            400,
            21205,
            "Either a 'Url', 'Twiml' or 'ApplicationSid' parameter is required",
        );
    }
    if form
        .all("StatusCallbackEvent")
        .iter()
        .any(|event| !STATUS_EVENTS.contains(event))
    {
        return error(400, 21626, "Invalid 'StatusCallbackEvent'");
    }
    let sid = format!("CA{}", uuid::Uuid::new_v4().simple());
    let created = now();
    let call = FakeTwilioCall {
        sid: sid.clone(),
        to: to.to_owned(),
        from: from.to_owned(),
        status: "queued".to_owned(),
        answered_by: None,
        duration_secs: None,
        twiml: form.get("Twiml").map(ToOwned::to_owned),
        date_created: created.clone(),
        date_updated: created,
    };
    let json = call.to_json(FAKE_TWILIO_ACCOUNT_SID);
    account.calls.insert(sid, call);
    (201, json)
}

fn modify(sid: &str, form: &Form, account: &mut Account) -> (u16, Value) {
    let Some(call) = account.calls.get_mut(sid) else {
        return not_found(sid);
    };
    let not_in_progress = || error(400, 21220, "Call is not in-progress. Cannot redirect.");
    match form.get("Status") {
        // Twilio: `completed` hangs up a call even if it is in progress; `canceled` ends a
        // queued or ringing call and leaves one in progress alone.
        Some("completed") => {
            if call.is_over() {
                return not_in_progress();
            }
            call.status = "completed".to_owned();
            call.duration_secs.get_or_insert(0);
        }
        Some("canceled") => {
            if call.is_over() {
                return not_in_progress();
            }
            if call.status != "in-progress" {
                call.status = "canceled".to_owned();
                call.duration_secs.get_or_insert(0);
            }
        }
        Some(other) => {
            return error(
                400,
                20001,
                &format!("Invalid Status {other:?}: expected canceled or completed"),
            );
        }
        None => {
            if call.is_over() {
                return not_in_progress();
            }
            if form.get("Twiml").is_none() && form.get("Url").is_none() {
                return error(
                    400,
                    20001,
                    "Either a 'Url', 'Twiml' or 'Status' parameter is required",
                );
            }
            if let Some(twiml) = form.get("Twiml") {
                call.twiml = Some(twiml.to_owned());
            }
        }
    }
    call.date_updated = now();
    (200, call.to_json(FAKE_TWILIO_ACCOUNT_SID))
}

/// Now, as Twilio writes dates: RFC 2822 with a numeric zone.
fn now() -> String {
    chrono::Utc::now().to_rfc2822()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn routes_read_the_account_and_the_call() {
        let Some((account, Route::Dial)) = route("POST", "/2010-04-01/Accounts/AC1/Calls.json")
        else {
            panic!("a dial");
        };
        assert_eq!(account, "AC1");
        let Some((_, Route::Modify("CA9"))) =
            route("POST", "/2010-04-01/Accounts/AC1/Calls/CA9.json")
        else {
            panic!("a modification");
        };
        let Some((_, Route::Fetch("CA9"))) =
            route("GET", "/2010-04-01/Accounts/AC1/Calls/CA9.json")
        else {
            panic!("a fetch");
        };
        assert!(route("GET", "/2010-04-01/Accounts/AC1/Calls.json").is_none());
        assert!(route("POST", "/2010-04-01/Accounts/AC1/Calls/CA9/Streams.json").is_none());
        assert!(route("POST", "/v1/Calls.json").is_none());
    }

    #[test]
    fn forms_keep_repeated_keys_in_order() {
        let form =
            Form::parse(b"A=1&StatusCallbackEvent=initiated&StatusCallbackEvent=ringing&B=%2B1+2");
        assert_eq!(form.all("StatusCallbackEvent"), ["initiated", "ringing"]);
        assert_eq!(form.get("B"), Some("+1 2"));
        assert_eq!(
            form.keys(),
            ["A", "StatusCallbackEvent", "StatusCallbackEvent", "B"]
        );
    }

    #[test]
    fn dials_are_refused_as_twilio_refuses_them() {
        let mut account = Account::default();
        let form = |pairs: &[(&str, &str)]| {
            Form(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        let code = |answer: (u16, Value)| (answer.0, answer.1["code"].as_u64());
        assert_eq!(
            code(dial(
                &form(&[("From", "+14155550199"), ("Twiml", "<Response/>")]),
                &mut account
            )),
            (400, Some(21201))
        );
        assert_eq!(
            code(dial(
                &form(&[
                    ("To", "555"),
                    ("From", "+14155550199"),
                    ("Twiml", "<Response/>")
                ]),
                &mut account
            )),
            (400, Some(21211))
        );
        assert_eq!(
            code(dial(
                &form(&[("To", "+14155550100"), ("From", "+14155550199")]),
                &mut account
            )),
            (400, Some(21205))
        );
        assert_eq!(
            code(dial(
                &form(&[
                    ("To", "+14155550100"),
                    ("From", "+14155550199"),
                    ("Twiml", "<Response/>"),
                    ("StatusCallbackEvent", "initiated ringing"),
                ]),
                &mut account
            )),
            (400, Some(21626))
        );
        let (status, call) = dial(
            &form(&[
                ("To", "+14155550100"),
                ("From", "+14155550199"),
                ("Twiml", "<Response/>"),
            ]),
            &mut account,
        );
        assert_eq!(status, 201);
        let sid = call["sid"].as_str().unwrap();
        assert!(sid.starts_with("CA") && sid.len() == 34, "{sid}");
        assert!(sid[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(call["status"], "queued");
        assert_eq!(call["duration"], Value::Null);
        assert!(
            chrono::DateTime::parse_from_rfc2822(call["date_created"].as_str().unwrap()).is_ok()
        );
    }
}
