//! Reading answers without holding more than planned, and turning failures into text that is
//! short and safe to keep in an error.

use std::time::{Duration, SystemTime};

use reqwest::{Response, StatusCode};

use crate::{ApiKey, retry_after};

/// The longest server message [`error_text`] keeps; adapters shorten other server text to it.
pub const MESSAGE_CHARS: usize = 300;
/// Error bodies are short; anything longer is dropped rather than held.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// How long to wait for an error body once its status has arrived.
const ERROR_BODY_WAIT: Duration = Duration::from_secs(5);

/// Why [`read_body`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is, or announced itself as, larger than the limit.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The connection broke or timed out while reading; the adapter classifies it as it does a
    /// failed send.
    #[error("cannot read the answer")]
    Read(#[source] reqwest::Error),
}

/// Reads a whole body, refusing to hold more than `limit` bytes: a `Content-Length` above it
/// fails before reading, a body that grows past it fails as soon as it does.
///
/// # Errors
/// [`BodyError::TooLarge`] past `limit`; [`BodyError::Read`] when reading fails.
pub async fn read_body(response: &mut Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body of an error answer, to find the server's message in: at most
/// [`ERROR_BODY_LIMIT`] bytes, read within [`ERROR_BODY_WAIT`], else empty.
async fn error_body(mut response: Response) -> Vec<u8> {
    tokio::time::timeout(ERROR_BODY_WAIT, read_body(&mut response, ERROR_BODY_LIMIT))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// An error answer, read: its status, the server's message, and how long it asked us to wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorAnswer {
    pub status: StatusCode,
    /// What `message_of` made of the body, with `key` redacted: servers echo keys in refusals.
    pub message: String,
    /// [`retry_after`] of the answer's headers.
    pub retry_after: Option<Duration>,
}

impl ErrorAnswer {
    /// Reads an answer whose status is an error: its `Retry-After`, then its body (at most
    /// 64 KiB, within 5 seconds, else none), which `message_of(body, status)` turns into the
    /// message (usually through [`error_text`]). Never fails: a body that cannot be read (in
    /// time) still leaves the status to go by.
    pub async fn read(
        response: Response,
        key: &ApiKey,
        message_of: impl FnOnce(&[u8], StatusCode) -> String,
    ) -> Self {
        let status = response.status();
        let retry_after = retry_after(response.headers(), SystemTime::now());
        let body = error_body(response).await;
        Self {
            status,
            message: key.redact(&message_of(&body, status)),
            retry_after,
        }
    }
}

/// What to say about an error answer: `message`, which the adapter found in the provider's error
/// shape, else the body itself (trimmed, as text), else the status's reason; shortened to
/// [`MESSAGE_CHARS`]. Redacting is left to the caller, which holds the key.
#[must_use]
pub fn error_text(status: StatusCode, body: &[u8], message: Option<String>) -> String {
    let message = message.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    if message.is_empty() {
        status.canonical_reason().unwrap_or("no details").to_owned()
    } else {
        shorten(&message, MESSAGE_CHARS)
    }
}

/// `message` cut to its first `max_chars` characters (not bytes), with `...` when cut.
#[must_use]
pub fn shorten(message: &str, max_chars: usize) -> String {
    match message.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}...", &message[..end]),
        None => message.to_owned(),
    }
}

/// A reqwest error with its causes, without the URL (which might carry credentials): what
/// failed (connecting, reading the answer, or the request), then each cause's message.
#[must_use]
pub fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_connect() {
        "cannot connect".to_owned()
    } else if error.is_body() || error.is_decode() {
        "connection lost while reading the answer".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn error_text_prefers_the_message_then_the_body_then_the_reason() {
        assert_eq!(
            error_text(StatusCode::BAD_REQUEST, b"{}", Some("Invalid model".into())),
            "Invalid model"
        );
        assert_eq!(
            error_text(
                StatusCode::BAD_GATEWAY,
                b"  <html>bad gateway</html>\n",
                None
            ),
            "<html>bad gateway</html>"
        );
        assert_eq!(
            error_text(StatusCode::SERVICE_UNAVAILABLE, b"", None),
            "Service Unavailable"
        );
        assert_eq!(
            error_text(StatusCode::SERVICE_UNAVAILABLE, b"x", Some(String::new())),
            "Service Unavailable"
        );
        assert!(error_text(StatusCode::BAD_REQUEST, &[b'x'; 1000], None).len() < 310);
    }

    #[test]
    fn shortening_counts_characters_and_marks_the_cut() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "abc...");
        assert_eq!(shorten("ééé€", 2), "éé...");
    }

    /// Serves one connection with `answer` and returns its address.
    async fn serve_once(answer: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0_u8; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(answer).await;
        });
        format!("http://{address}/")
    }

    async fn get(answer: &'static [u8]) -> Response {
        let url = serve_once(answer).await;
        reqwest::get(url).await.unwrap()
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_the_limit() {
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello";
        let mut response = get(answer).await;
        assert_eq!(read_body(&mut response, 5).await.unwrap(), b"hello");

        let mut response = get(answer).await;
        assert!(matches!(
            read_body(&mut response, 4).await,
            Err(BodyError::TooLarge { limit: 4 })
        ));

        // Without a length the limit is enforced while reading.
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
        let mut response = get(chunked).await;
        assert!(matches!(
            read_body(&mut response, 4).await,
            Err(BodyError::TooLarge { limit: 4 })
        ));

        let cut = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: close\r\n\r\nhel";
        let mut response = get(cut).await;
        assert!(matches!(
            read_body(&mut response, 100).await,
            Err(BodyError::Read(_))
        ));

        assert_eq!(error_body(get(answer).await).await, b"hello");
        assert!(error_body(get(cut).await).await.is_empty());
    }

    #[tokio::test]
    async fn error_answers_carry_the_status_the_wait_and_the_redacted_message() {
        let answer = b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 2\r\ncontent-length: 19\r\nconnection: close\r\n\r\nslow down, sk-12345";
        let read = ErrorAnswer::read(get(answer).await, &ApiKey::new("sk-12345"), |body, _| {
            error_text(StatusCode::OK, body, None)
        })
        .await;
        assert_eq!(
            read,
            ErrorAnswer {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: "slow down, <redacted>".into(),
                retry_after: Some(Duration::from_secs(2)),
            }
        );
    }

    #[tokio::test]
    async fn descriptions_leave_the_url_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let error = reqwest::get(format!("http://{address}/v1?key=sk-secret"))
            .await
            .unwrap_err();
        let text = describe(&error);
        assert!(text.starts_with("cannot connect"), "{text}");
        assert!(!text.contains("sk-secret"), "{text}");
    }
}
