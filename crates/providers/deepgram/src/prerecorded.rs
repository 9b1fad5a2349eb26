//! Pre-recorded transcription (PROVIDERS.md §2.2): one WAV file in a `POST /v1/listen`, the
//! transcript out of the answer.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, Url};
use switchboard_provider_http::{ApiKey, ErrorAnswer, read_body};

use crate::failure::{Failure, error_message};
use crate::wire;

/// Answers are a transcript and its word timings: a few hundred KiB for an hour of speech.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// `listen` (the HTTP `/v1/listen` endpoint) with the query of a pre-recorded request.
pub(crate) fn request_url(listen: &Url, model: &str) -> Url {
    let mut url = listen.clone();
    url.query_pairs_mut()
        .append_pair("model", model)
        .append_pair("smart_format", "true");
    url
}

/// One attempt: send the WAV file, check the status, read the transcript. The whole attempt
/// (connecting, sending, reading the answer) must fit in `timeout`.
pub(crate) async fn attempt(
    client: &Client,
    key: &ApiKey,
    url: &Url,
    wav: &[u8],
    timeout: Duration,
) -> Result<String, Failure> {
    let mut response = client
        .post(url.clone())
        .header(CONTENT_TYPE, "audio/wav")
        .timeout(timeout)
        .body(wav.to_vec())
        .send()
        .await
        .map_err(|e| Failure::from_reqwest(&e))?;
    if !response.status().is_success() {
        return Err(Failure::Status(
            ErrorAnswer::read(response, key, error_message).await,
        ));
    }
    let body = read_body(&mut response, MAX_ANSWER_BYTES).await?;
    wire::parse_prerecorded(&body).map_err(Failure::Malformed)
}
