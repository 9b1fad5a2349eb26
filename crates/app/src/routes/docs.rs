//! The API's own description: `GET /openapi.json` (generated from the handlers) and `GET /docs`
//! (an interactive reference page for it), plus `GET /metrics` for Prometheus.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, get, web};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// The OpenAPI document, serialised once at start-up.
#[derive(Clone, Debug)]
pub struct OpenApiJson(pub String);

/// The OpenAPI 3.1 description of every route.
#[utoipa::path(
    tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
#[get("/openapi.json")]
pub async fn openapi_json(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(document.0.clone())
}

const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Switchboard API</title>
</head>
<body>
  <script id="api-reference" data-url="/openapi.json"></script>
  <script src="https://cdn.jsdelivr.net/npm/@scalar/api-reference"></script>
  <noscript>The interactive reference needs JavaScript; the raw description is at <a href="/openapi.json">/openapi.json</a>.</noscript>
</body>
</html>
"#;

/// An interactive reference of the API, rendered from `/openapi.json`.
#[utoipa::path(
    tag = "meta",
    responses((status = 200, description = "An HTML page", content_type = "text/html"))
)]
#[get("/docs")]
pub async fn docs() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(DOCS_PAGE)
}

/// Request counts, latencies and errors in the Prometheus text format.
#[utoipa::path(
    tag = "meta",
    responses((status = 200, description = "Prometheus metrics", content_type = "text/plain"))
)]
#[get("/metrics")]
pub async fn metrics(metrics: web::Data<Metrics>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render()?))
}
