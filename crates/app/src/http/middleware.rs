//! The request middleware: a request id, a tracing span with route, status and latency, metrics,
//! and one error shape for answers produced outside our handlers (actix's 404, 405, 413 ...).

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use tracing::Instrument;

use crate::error::ApiError;
use crate::metrics::Metrics;

/// The header carrying the request id, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Accepts a caller's request id when it is short and printable, so ids can be followed across
/// systems without letting a client inject log lines.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), ToOwned::to_owned)
}

/// Wraps every request.
///
/// # Errors
/// Never: handler errors become responses here so they are counted and logged like any other.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().to_string();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let path = req.path().to_owned();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let _in_flight = metrics.as_ref().map(|m| m.start());
    let span = tracing::info_span!(
        "http.request",
        http.method = %method,
        http.route = %route,
        http.status_code = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
        request.id = %id,
    );
    let outcome = next.call(req).instrument(span.clone()).await;
    let response = match outcome {
        Ok(response) => response.map_into_boxed_body(),
        Err(err) => {
            // Handlers' errors are responses by now; what arrives here was refused by an inner
            // middleware (CORS). The request has been consumed, so answer through `Err`, in our shape.
            let status = err.as_response_error().status_code();
            if let Some(metrics) = &metrics {
                metrics.observe(&method, &route, status.as_u16(), started.elapsed());
            }
            span.in_scope(|| tracing::info!(http.status_code = status.as_u16(), "request refused"));
            return Err(ApiError::for_status(status, err.to_string()).into());
        }
    };
    let mut response = uniform_error_body(response, &method, &path);
    let status = response.status();
    let elapsed = started.elapsed();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    if let Some(metrics) = metrics {
        metrics.observe(&method, &route, status.as_u16(), elapsed);
    }
    span.record("http.status_code", status.as_u16());
    span.record("latency_ms", elapsed.as_secs_f64() * 1000.0);
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!("request answered with a server error");
        } else {
            tracing::info!("request answered");
        }
    });
    Ok(response)
}

/// Error answers that are not JSON (actix's own 404, 405, 413 ...) get the same
/// `{"detail", "status_code"}` body as ours.
fn uniform_error_body(
    response: ServiceResponse<BoxBody>,
    method: &str,
    path: &str,
) -> ServiceResponse<BoxBody> {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let detail = match status.as_u16() {
        404 => format!("no route for {method} {path}"),
        405 => format!("method {method} is not allowed on {path}"),
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned(),
    };
    let (request, original) = response.into_parts();
    let mut replaced = ApiError::for_status(status, detail).error_response();
    // Keep what the original answer said about the method or retrying.
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = original.headers().get(&name) {
            replaced.headers_mut().insert(name, value.clone());
        }
    }
    ServiceResponse::new(request, replaced)
}
