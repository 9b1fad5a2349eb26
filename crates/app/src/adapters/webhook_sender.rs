//! `WebhookSender` over reqwest: one shared connection pool, no redirects followed (a receiver
//! that moved must be updated, not guessed at), and the whole exchange bounded by the
//! delivery's timeout, so a receiver that never answers costs one timeout and nothing more.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use switchboard_domain::ports::{SendOutcome, WebhookRequest, WebhookSender};

/// How long connecting may take, within the request's own timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Posts deliveries with one shared client.
#[derive(Clone, Debug)]
pub struct HttpWebhookSender {
    client: reqwest::Client,
}

impl HttpWebhookSender {
    /// A sender with its own client.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots).
    pub fn new() -> anyhow::Result<Self> {
        let client = switchboard_provider_http::client(HeaderMap::new(), CONNECT_TIMEOUT)
            .map_err(|e| anyhow::anyhow!(switchboard_provider_http::describe(&e)))?;
        Ok(Self { client })
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn send(&self, request: WebhookRequest) -> SendOutcome {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &request.headers {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(name), Ok(value)) => {
                    headers.insert(name, value);
                }
                _ => return SendOutcome::Unreachable(format!("the header {name} is not valid")),
            }
        }
        let sent = self
            .client
            .post(&request.url)
            .headers(headers)
            .body(request.body)
            .timeout(request.timeout)
            .send()
            .await;
        match sent {
            // The body is not read: only the status counts, and a receiver streaming an endless
            // answer must not hold the worker.
            Ok(response) => SendOutcome::Answered(response.status().as_u16()),
            Err(error) if error.is_timeout() => SendOutcome::TimedOut,
            Err(error) => SendOutcome::Unreachable(switchboard_provider_http::describe(&error)),
        }
    }
}
