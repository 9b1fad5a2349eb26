//! [`TwilioIntelligence`], the Voice Intelligence v2 adapter of the `TranscriptSource` port
//! (PROVIDERS.md 1.9): `GET /v2/Transcripts/{sid}` and every page of
//! `GET /v2/Transcripts/{sid}/Sentences`, following `meta.next_page_url` until it is null.
//! The transcript and sentence objects are kept exactly as Twilio sends them; only the facts
//! lists filter by are read out of them.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use switchboard_domain::ports::{TranscriptSource, TranscriptSourceError};
use switchboard_domain::transcript::{FetchedTranscript, TranscriptFacts, TranscriptSid};
use switchboard_provider_http::endpoint;
use tracing::{debug, instrument};
use url::Url;

use crate::config::{TwilioConfig, TwilioConfigError};
use crate::transport::{Expected, Failure, Resend, Transport, is_sid};

/// A transcript resource is a few kilobytes.
const TRANSCRIPT_RESOURCE: Expected = Expected {
    name: "a Transcript resource",
    max_bytes: 256 * 1024,
};
/// The most bytes one sentence (with its word timings) is allowed on a page, beyond the page's
/// own envelope.
const SENTENCE_BYTES: usize = 16 * 1024;
const PAGE_ENVELOPE_BYTES: usize = 64 * 1024;

/// Where Voice Intelligence is and how much of a transcript to read.
#[derive(Clone, Debug)]
pub struct IntelligenceConfig {
    /// [`IntelligenceConfig::DEFAULT_BASE_URL`] but in tests; the client appends
    /// `/v2/Transcripts/...`.
    pub base_url: Url,
    /// Sentences asked for per page (Twilio takes 1 to 5000).
    pub page_size: u32,
    /// The most sentence pages read for one transcript: a safety limit, so a transcript that
    /// never ends (or a `next_page_url` that loops) cannot hold a request forever. A longer
    /// transcript is refused rather than returned cut short.
    pub max_pages: u32,
}

impl IntelligenceConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://intelligence.twilio.com";
    pub const DEFAULT_PAGE_SIZE: u32 = 1000;
    pub const MAX_PAGE_SIZE: u32 = 5000;
    pub const DEFAULT_MAX_PAGES: u32 = 100;

    /// Twilio's own service with the default paging.
    #[must_use]
    #[expect(
        clippy::expect_used,
        reason = "DEFAULT_BASE_URL is a constant URL, checked by a test"
    )]
    pub fn new() -> Self {
        Self::with_base_url(
            Url::parse(Self::DEFAULT_BASE_URL).expect("the default base URL parses"),
        )
    }

    /// Another base URL (a fake, a proxy) with the default paging.
    #[must_use]
    pub fn with_base_url(base_url: Url) -> Self {
        Self {
            base_url,
            page_size: Self::DEFAULT_PAGE_SIZE,
            max_pages: Self::DEFAULT_MAX_PAGES,
        }
    }
}

impl Default for IntelligenceConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads Voice Intelligence transcripts with the account's credentials (HTTP Basic, the same
/// as the REST API's).
///
/// - Every request only reads, so each is retried on 429 (after `Retry-After`), 5xx and
///   connection failures, with the account's retry policy.
/// - 404 is `NotFound`; 401, 403 and other 4xx are `Refused`; 429, 5xx, timeouts, broken
///   connections and answers that are not Twilio's JSON are `Unavailable`.
/// - `next_page_url` is followed only to the configured service's own origin: the credentials
///   go nowhere else.
pub struct TwilioIntelligence {
    transport: Transport,
    base_url: Url,
    page_size: u32,
    max_pages: u32,
}

impl fmt::Debug for TwilioIntelligence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioIntelligence")
            .field("base_url", &self.base_url.as_str())
            .field("page_size", &self.page_size)
            .field("max_pages", &self.max_pages)
            .field("transport", &self.transport)
            .finish()
    }
}

impl TwilioIntelligence {
    /// A client for the account `account` names (its base URL is the REST API's and is not used
    /// here), at `intelligence.base_url`; nothing is sent until the first request.
    ///
    /// # Errors
    /// When the account SID is not letters and digits, the token is empty, the base URL is not
    /// http(s) with a host, the page size is outside 1..=5000, no page is allowed, or the HTTP
    /// client cannot be built.
    pub fn new(
        account: &TwilioConfig,
        intelligence: &IntelligenceConfig,
    ) -> Result<Self, TwilioConfigError> {
        if !is_sid(&account.account_sid) {
            return Err(TwilioConfigError::AccountSid(account.account_sid.clone()));
        }
        endpoint(&intelligence.base_url, "/v2/Transcripts")
            .map_err(|_| TwilioConfigError::BaseUrl(intelligence.base_url.to_string()))?;
        if !(1..=IntelligenceConfig::MAX_PAGE_SIZE).contains(&intelligence.page_size)
            || intelligence.max_pages == 0
        {
            return Err(TwilioConfigError::Paging {
                page_size: intelligence.page_size,
                max_pages: intelligence.max_pages,
            });
        }
        Ok(Self {
            transport: Transport::new(account)?,
            base_url: intelligence.base_url.clone(),
            page_size: intelligence.page_size,
            max_pages: intelligence.max_pages,
        })
    }

    fn url(&self, path: &str) -> Result<Url, TranscriptSourceError> {
        endpoint(&self.base_url, path).map_err(|e| TranscriptSourceError::Unexpected(e.into()))
    }

    /// The next page's URL as Twilio gave it, if it stays on the service's own origin.
    fn next_page(&self, next: &str) -> Result<Url, TranscriptSourceError> {
        let url = self.base_url.join(next).map_err(|e| {
            TranscriptSourceError::Unavailable(format!(
                "Twilio's next page URL {next:?} is not a URL: {e}"
            ))
        })?;
        if url.origin() != self.base_url.origin() {
            return Err(TranscriptSourceError::Unavailable(format!(
                "Twilio's next page URL leads to another host ({}); it is not followed",
                url.origin().ascii_serialization()
            )));
        }
        Ok(url)
    }

    async fn sentences(&self, sid: &TranscriptSid) -> Result<Vec<Value>, TranscriptSourceError> {
        let page_bytes = usize::try_from(self.page_size)
            .unwrap_or(usize::MAX)
            .saturating_mul(SENTENCE_BYTES)
            .saturating_add(PAGE_ENVELOPE_BYTES);
        let expected = Expected {
            name: "a page of sentences",
            max_bytes: page_bytes,
        };
        let mut url = self.url(&format!(
            "/v2/Transcripts/{sid}/Sentences?PageSize={}",
            self.page_size
        ))?;
        let mut sentences = Vec::new();
        let mut pages = 0;
        loop {
            let page: SentencePage = self
                .transport
                .send(
                    "fetch sentences",
                    Method::GET,
                    &url,
                    None,
                    Resend::Idempotent,
                    expected,
                )
                .await
                .map_err(source_error)?;
            pages += 1;
            sentences.extend(page.sentences);
            let Some(next) = page.meta.next_page_url.filter(|next| !next.is_empty()) else {
                debug!(pages, sentences = sentences.len(), "read every sentence");
                return Ok(sentences);
            };
            if pages >= self.max_pages {
                return Err(TranscriptSourceError::Refused(format!(
                    "the transcript has more than {} pages of {} sentences \
                     (TWILIO_TRANSCRIPT_MAX_PAGES); it is not stored cut short",
                    self.max_pages, self.page_size
                )));
            }
            url = self.next_page(&next)?;
        }
    }
}

#[async_trait]
impl TranscriptSource for TwilioIntelligence {
    #[instrument(skip_all, fields(transcript.sid = %sid))]
    async fn fetch(&self, sid: &TranscriptSid) -> Result<FetchedTranscript, TranscriptSourceError> {
        let url = self.url(&format!("/v2/Transcripts/{sid}"))?;
        let resource: Value = self
            .transport
            .send(
                "fetch transcript",
                Method::GET,
                &url,
                None,
                Resend::Idempotent,
                TRANSCRIPT_RESOURCE,
            )
            .await
            .map_err(source_error)?;
        if !resource.is_object() {
            return Err(TranscriptSourceError::Unavailable(
                "Twilio's answer is not a Transcript resource".into(),
            ));
        }
        let sentences = self.sentences(sid).await?;
        Ok(FetchedTranscript {
            facts: facts_of(&resource),
            resource,
            sentences,
        })
    }
}

/// One page of `GET .../Sentences`: the sentence objects, kept whole, and the paging.
#[derive(Debug, Deserialize)]
struct SentencePage {
    sentences: Vec<Value>,
    #[serde(default)]
    meta: PageMeta,
}

#[derive(Debug, Default, Deserialize)]
struct PageMeta {
    #[serde(default)]
    next_page_url: Option<String>,
}

/// What lists filter and order by, read from the transcript resource; whatever is missing or
/// of another type is left out.
fn facts_of(resource: &Value) -> TranscriptFacts {
    let text = |key: &str| {
        resource
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(ToOwned::to_owned)
    };
    let date = |key: &str| {
        text(key)
            .and_then(|raw| DateTime::parse_from_rfc3339(&raw).ok())
            .map(|date| date.with_timezone(&Utc))
    };
    let duration_secs = match resource.get("duration") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let source_sid = resource
        .pointer("/channel/media_properties/source_sid")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(ToOwned::to_owned);
    TranscriptFacts {
        status: text("status"),
        date_created: date("date_created"),
        date_updated: date("date_updated"),
        duration_secs,
        language_code: text("language_code"),
        source_sid,
    }
}

/// A failed request as the port's error.
fn source_error(failure: Failure) -> TranscriptSourceError {
    match failure {
        Failure::Refused(refusal) if refusal.status == StatusCode::NOT_FOUND => {
            TranscriptSourceError::NotFound
        }
        Failure::Refused(refusal)
            if refusal.status == StatusCode::TOO_MANY_REQUESTS
                || refusal.status.is_server_error() =>
        {
            TranscriptSourceError::Unavailable(refusal.to_string())
        }
        Failure::Refused(refusal) => TranscriptSourceError::Refused(refusal.to_string()),
        Failure::Unsent(_) | Failure::Broken(_) | Failure::Timeout | Failure::Malformed(_) => {
            TranscriptSourceError::Unavailable(failure.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_default_configuration_reads_twilio() {
        let config = IntelligenceConfig::new();
        assert_eq!(config.base_url.as_str(), "https://intelligence.twilio.com/");
        assert_eq!(config.page_size, 1000);
    }

    #[test]
    fn facts_come_from_the_resource_and_tolerate_gaps() {
        let facts = facts_of(&json!({
            "sid": "GT0123456789abcdef0123456789abcdef",
            "status": "completed",
            "date_created": "2024-01-15T10:30:00Z",
            "date_updated": "not a date",
            "duration": 120,
            "language_code": "en-US",
            "channel": {"media_properties": {"source_sid": "CA0123456789abcdef0123456789abcdef"}}
        }));
        assert_eq!(facts.status.as_deref(), Some("completed"));
        assert_eq!(
            facts.date_created.map(|d| d.to_rfc3339()),
            Some("2024-01-15T10:30:00+00:00".into())
        );
        assert_eq!(facts.date_updated, None);
        assert_eq!(facts.duration_secs, Some(120));
        assert_eq!(
            facts.source_sid.as_deref(),
            Some("CA0123456789abcdef0123456789abcdef")
        );
        assert_eq!(facts_of(&json!({"duration": "15"})).duration_secs, Some(15));
        assert_eq!(facts_of(&json!({})), TranscriptFacts::default());
    }
}
