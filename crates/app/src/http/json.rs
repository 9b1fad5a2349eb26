//! `ApiJson<T>`: a JSON body extractor whose errors name the offending field. Syntax errors are a
//! 400, a well-formed body with a wrong or missing field a 422 naming that field's path, a wrong
//! content type 415, a body over `MAX_BODY_BYTES` 413.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;
use switchboard_domain::ValidationErrors;

use crate::error::ApiError;
use crate::state::AppState;

/// A deserialised JSON body.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> ApiJson<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for ApiJson<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| {
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        })
}

/// Parses `bytes` as `T`, describing a failure the way a client can act on.
///
/// # Errors
/// `BadRequest` for malformed JSON, `Invalid` naming the field for a wrong shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_data() {
            let mut errors = ValidationErrors::new();
            // serde's message ends with the position, which means nothing to the client.
            let message = inner.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            let missing = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.strip_suffix('`'));
            let field = match (path.as_str(), missing) {
                (".", Some(name)) => name.to_owned(),
                (_, Some(name)) => format!("{path}.{name}"),
                (".", None) => "body".to_owned(),
                (_, None) => path,
            };
            errors.add(field, message);
            ApiError::Invalid(errors)
        } else {
            ApiError::BadRequest(format!("the request body is not valid JSON: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))?;
    Ok(value)
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json(&req) {
                return Err(ApiError::UnsupportedMediaType(
                    "expected a JSON body with Content-Type: application/json".into(),
                ));
            }
            let limit = req
                .app_data::<web::Data<AppState>>()
                .map_or(1024 * 1024, |state| state.settings.max_body_bytes);
            let declared = req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            if let Some(length) = declared.filter(|length| *length > limit) {
                return Err(ApiError::PayloadTooLarge(format!(
                    "the request body has {length} bytes, more than the limit of {limit}"
                )));
            }
            let bytes = read_limited(&mut payload, limit).await?;
            parse_json(&bytes).map(ApiJson)
        })
    }
}

/// Reads the body, refusing it as soon as it passes `limit` bytes (a body without a declared
/// length could otherwise be unbounded).
async fn read_limited(payload: &mut Payload, limit: usize) -> Result<Bytes, ApiError> {
    use futures_util::StreamExt as _;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::BadRequest(format!("could not read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(format!(
                "the request body is larger than the limit of {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Keeps an explicit `null` apart from an absent field: absent stays `None` (through
/// `#[serde(default)]`), `null` becomes `Some(None)`.
///
/// # Errors
/// When the value is neither null nor a `T`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Inner {
        #[allow(dead_code)]
        temperature: f64,
    }

    #[derive(Debug, Deserialize)]
    struct Outer {
        #[allow(dead_code)]
        llm: Inner,
        #[serde(default, deserialize_with = "nullable")]
        note: Option<Option<String>>,
    }

    #[test]
    fn wrong_types_name_their_path() {
        let err = parse_json::<Outer>(br#"{"llm": {"temperature": "hot"}}"#).unwrap_err();
        let ApiError::Invalid(errors) = err else {
            panic!("{err:?}")
        };
        assert_eq!(errors.errors()[0].field, "llm.temperature");
        assert!(!errors.errors()[0].message.contains("line"));
    }

    #[test]
    fn missing_fields_are_named() {
        let err = parse_json::<Outer>(br#"{"llm": {}}"#).unwrap_err();
        let ApiError::Invalid(errors) = err else {
            panic!("{err:?}")
        };
        assert_eq!(errors.errors()[0].field, "llm.temperature");
    }

    #[test]
    fn syntax_errors_and_trailing_garbage_are_bad_requests() {
        assert!(matches!(
            parse_json::<Outer>(b"{"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Outer>(br#"{"llm": {"temperature": 1}} x"#),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn null_and_absent_differ() {
        let absent = parse_json::<Outer>(br#"{"llm": {"temperature": 1}}"#).unwrap();
        assert_eq!(absent.note, None);
        let null = parse_json::<Outer>(br#"{"llm": {"temperature": 1}, "note": null}"#).unwrap();
        assert_eq!(null.note, Some(None));
    }
}
