//! Building the HTTP client and the URLs it calls.

use std::time::Duration;

use reqwest::Client;
use reqwest::header::HeaderMap;
use url::Url;

/// A client that sends `headers` with every request, gives up connecting after
/// `connect_timeout`, names itself `switchboard/<version>`, and follows no redirect: an API
/// answers where it was asked, and following a redirect would resend the request, key included,
/// somewhere else. Request timeouts are the adapter's, per request.
///
/// # Errors
/// When reqwest cannot build the client (its TLS backend cannot start); [`describe`] the error
/// rather than display it.
///
/// [`describe`]: crate::describe
pub fn client(headers: HeaderMap, connect_timeout: Duration) -> Result<Client, reqwest::Error> {
    Client::builder()
        .default_headers(headers)
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A base URL that cannot be called: not http(s), or without a host.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the base URL must be http or https with a host, not {0:?}")]
pub struct InvalidBase(pub String);

/// `{base}{path}`: the base keeps its own path (`https://api.openai.com/v1` stays under `/v1`),
/// which `Url::join` would drop; a trailing `/` on the base is not doubled. `path` starts with
/// `/`.
///
/// # Errors
/// [`InvalidBase`] when `base` is not http(s) with a host, or the two do not make a URL.
pub fn endpoint(base: &Url, path: &str) -> Result<Url, InvalidBase> {
    let invalid = || InvalidBase(base.to_string());
    if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
        return Err(invalid());
    }
    let joined = format!("{}{path}", base.as_str().trim_end_matches('/'));
    Url::parse(&joined).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn endpoints_keep_the_base_path() {
        let base = Url::parse("https://api.openai.com/v1").unwrap();
        assert_eq!(
            endpoint(&base, "/chat/completions").unwrap().as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
        let slash = Url::parse("http://127.0.0.1:9/v1/").unwrap();
        assert_eq!(
            endpoint(&slash, "/embeddings").unwrap().as_str(),
            "http://127.0.0.1:9/v1/embeddings"
        );
        let ftp = Url::parse("ftp://example.com").unwrap();
        assert!(endpoint(&ftp, "/embeddings").is_err());
    }
}
