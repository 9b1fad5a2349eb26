//! `WebhookReceiver`: a loopback HTTP server standing in for a customer's webhook endpoint. It
//! records every request (headers and body), answers 200 by default, and can be told to answer
//! other statuses for the next N requests or for good, or to hang (accept and never answer)
//! until released. Tests wait for the Nth request as a condition.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::http1::{read_request, write_response};

const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the receiver does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers with this status.
    Answer(u16),
    /// Never answers until [`WebhookReceiver::release`], then answers 200.
    Hang,
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct ReceivedWebhook {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The raw body, exactly as signed.
    pub body: String,
    /// What the receiver did with it.
    pub behaviour: Behaviour,
}

impl ReceivedWebhook {
    /// The first value of a header, by case-insensitive name.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    #[must_use]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Debug)]
struct Script {
    next: VecDeque<Behaviour>,
    otherwise: Behaviour,
    received: Vec<ReceivedWebhook>,
}

fn lock(script: &Mutex<Script>) -> std::sync::MutexGuard<'_, Script> {
    script.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
struct Shared {
    script: Mutex<Script>,
    /// How many requests have arrived, for waiting on a count.
    count: watch::Sender<usize>,
    /// Flipped to true to answer every hanging request.
    released: watch::Sender<bool>,
}

/// A webhook endpoint on `127.0.0.1`, stopped when dropped.
#[derive(Debug)]
pub struct WebhookReceiver {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        // The accept task owns every connection task (a JoinSet), so this ends them all.
        self.server.abort();
    }
}

impl WebhookReceiver {
    /// Starts a receiver on a free port, answering 200 to everything.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script: Mutex::new(Script {
                next: VecDeque::new(),
                otherwise: Behaviour::Answer(200),
                received: Vec::new(),
            }),
            count: watch::Sender::new(0),
            released: watch::Sender::new(false),
        });
        let server = tokio::spawn(accept(listener, Arc::clone(&shared)));
        Ok(Self {
            address,
            shared,
            server,
        })
    }

    /// The URL to subscribe: `http://127.0.0.1:{port}/hooks`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.address)
    }

    /// The next `count` requests are answered `status`.
    pub fn fail_next(&self, count: usize, status: u16) {
        lock(&self.shared.script)
            .next
            .extend(std::iter::repeat_n(Behaviour::Answer(status), count));
    }

    /// Every request after the scripted ones gets `behaviour` (200 until this is called).
    pub fn always(&self, behaviour: Behaviour) {
        if behaviour == Behaviour::Hang {
            self.shared.released.send_replace(false);
        }
        lock(&self.shared.script).otherwise = behaviour;
    }

    /// Answers every hanging request (200), and answers 200 from now on.
    pub fn release(&self) {
        lock(&self.shared.script).otherwise = Behaviour::Answer(200);
        self.shared.released.send_replace(true);
    }

    /// Every request so far, in arrival order.
    #[must_use]
    pub fn received(&self) -> Vec<ReceivedWebhook> {
        lock(&self.shared.script).received.clone()
    }

    /// Waits until at least `count` requests have arrived; `false` if `within` passed first.
    pub async fn wait_for(&self, count: usize, within: Duration) -> bool {
        self.wait_until(|received| received.len() >= count, within)
            .await
    }

    /// Waits until the requests so far satisfy `done` (checked at every arrival); `false` if
    /// `within` passed first.
    pub async fn wait_until(
        &self,
        done: impl Fn(&[ReceivedWebhook]) -> bool,
        within: Duration,
    ) -> bool {
        let mut arrivals = self.shared.count.subscribe();
        let waited = tokio::time::timeout(
            within,
            arrivals.wait_for(|_| done(&lock(&self.shared.script).received)),
        )
        .await;
        waited.is_ok_and(|arrived| arrived.is_ok())
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve(stream, Arc::clone(&shared)));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "the webhook receiver could not accept");
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
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let Ok(Some(request)) = read_request(&mut reader, MAX_BODY_BYTES).await else {
        return;
    };
    let behaviour = {
        let mut script = lock(&shared.script);
        let behaviour = script.next.pop_front().unwrap_or(script.otherwise);
        script.received.push(ReceivedWebhook {
            method: request.method.clone(),
            path: request.path().to_owned(),
            headers: request.headers().to_vec(),
            body: String::from_utf8_lossy(&request.body).into_owned(),
            behaviour,
        });
        behaviour
    };
    shared.count.send_modify(|n| *n += 1);
    let status = match behaviour {
        Behaviour::Answer(status) => status,
        Behaviour::Hang => {
            let mut released = shared.released.subscribe();
            // The sender lives as long as the receiver; an error means it is going away.
            let _ = released.wait_for(|r| *r).await;
            200
        }
    };
    let _ = write_response(
        &mut writer,
        status,
        &[("content-type", "text/plain")],
        b"ok",
    )
    .await;
}
