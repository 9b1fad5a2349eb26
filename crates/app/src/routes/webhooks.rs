//! Outbound webhooks under `/api/v1/webhooks`: an organisation's subscriptions, their signing
//! secrets (shown only when created or rotated), test events, and the delivery log with manual
//! redelivery.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::ids::{WebhookDeliveryId, WebhookId};
use switchboard_domain::webhook::{
    DeliveryStatus, WebhookDelivery, WebhookInput, WebhookSubscription,
};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::http::extract::CurrentUser;
use crate::http::json::{ApiJson, nullable};
use crate::routes::{MessageResponse, page_request, parse_path_id};
use crate::state::AppState;

/// A subscription's fields. Creating needs `url` and `events`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct WebhookRequest {
    /// Where deliveries are posted: an absolute http(s) URL without credentials.
    pub url: Option<String>,
    /// Event types: `call.started`, `call.status`, `call.ended`, `call.analyzed`,
    /// `transcript.turn`, `agent.updated`.
    pub events: Option<Vec<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// `false` pauses deliveries (they wait); `true` resumes them, also after the server
    /// disabled the webhook.
    pub enabled: Option<bool>,
    /// Only when creating: the secret to sign with (at least 24 characters); by default one is
    /// generated.
    pub secret: Option<String>,
}

impl From<WebhookRequest> for WebhookInput {
    fn from(r: WebhookRequest) -> Self {
        Self {
            url: r.url,
            events: r.events,
            description: r.description,
            enabled: r.enabled,
            secret: r.secret,
        }
    }
}

/// A webhook subscription (never with its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: Vec<&'static str>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why the server disabled it (a receiver that kept failing, or answered 410 Gone).
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&WebhookSubscription> for WebhookView {
    fn from(s: &WebhookSubscription) -> Self {
        Self {
            id: s.id.to_string(),
            url: s.url.to_string(),
            events: s.events.iter().map(|k| k.as_str()).collect(),
            description: s.description.clone(),
            enabled: s.enabled,
            disabled_reason: s.disabled_reason.clone(),
            disabled_at: s.disabled_at,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// A subscription with its signing secret: only the answers to creating it and rotating it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// Signs every delivery (`Switchboard-Signature`); shown only now, keep it.
    pub secret: String,
}

impl From<WebhookSubscription> for WebhookWithSecret {
    fn from(s: WebhookSubscription) -> Self {
        Self {
            webhook: WebhookView::from(&s),
            secret: s.secret.expose().to_owned(),
        }
    }
}

/// A page of subscriptions.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<WebhookView>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// One event queued for one subscription, and what its attempts gave.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub webhook_id: String,
    /// The event's id, the same in every attempt (`Switchboard-Event-Id`).
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivering`, `delivered` or `failed`.
    pub status: &'static str,
    pub attempts: u32,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<u64>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The body sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<WebhookDelivery> for DeliveryView {
    fn from(d: WebhookDelivery) -> Self {
        Self {
            id: d.id.to_string(),
            webhook_id: d.subscription_id.to_string(),
            event_id: d.event_id.to_string(),
            event_type: d.event_type,
            status: d.status.as_str(),
            attempts: d.attempts,
            next_attempt_at: (d.status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
            last_attempt_at: d.last_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            last_duration_ms: d.last_duration_ms,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
            payload: d.payload,
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryView>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1-based page (default 1).
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (default 20).
    #[serde(alias = "limit")]
    pub page_size: Option<u64>,
}

/// Paging and a status filter.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveryQuery {
    /// 1-based page (default 1).
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (default 20).
    #[serde(alias = "limit")]
    pub page_size: Option<u64>,
    /// `pending`, `delivering`, `delivered` or `failed`.
    pub status: Option<String>,
}

fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    parse_path_id(raw, "webhook")
}

/// Subscribes a URL to event types. The answer carries the signing secret, shown only here.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    request_body = WebhookRequest,
    responses(
        (status = 201, description = "Created, with its secret", body = WebhookWithSecret),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 409, description = "The organisation has 20 webhooks already", body = ErrorBody),
        (status = 422, description = "Invalid url, events, description or secret", body = ErrorBody),
    )
)]
#[post("")]
pub async fn create_webhook(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<WebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    let webhook = state
        .webhooks
        .create(user.0.organization_id, body.into_inner().into())
        .await?;
    Ok(HttpResponse::Created().json(WebhookWithSecret::from(webhook)))
}

/// The organisation's webhooks (without secrets).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of webhooks", body = WebhookList),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
#[get("")]
pub async fn list_webhooks(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<WebhookList>, ApiError> {
    let page = page_request(query.page, query.page_size)?;
    let webhooks = state.webhooks.list(user.0.organization_id, page).await?;
    Ok(web::Json(WebhookList {
        items: webhooks.items.iter().map(Into::into).collect(),
        total: webhooks.total,
        page: page.page,
        page_size: page.page_size,
    }))
}

/// One webhook (without its secret).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("webhook_id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 404, description = "No such webhook in your organisation", body = ErrorBody),
    )
)]
#[get("/{webhook_id}")]
pub async fn get_webhook(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<WebhookView>, ApiError> {
    let webhook = state
        .webhooks
        .get(user.0.organization_id, webhook_id(&path)?)
        .await?;
    Ok(web::Json((&webhook).into()))
}

/// Changes the URL, event types, description, or whether it is enabled.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("webhook_id" = String, Path, description = "The webhook's id")),
    request_body = WebhookRequest,
    responses(
        (status = 200, description = "The updated webhook", body = WebhookView),
        (status = 404, description = "No such webhook in your organisation", body = ErrorBody),
        (status = 422, description = "Invalid url, events or description", body = ErrorBody),
    )
)]
#[patch("/{webhook_id}")]
pub async fn update_webhook(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<WebhookRequest>,
) -> Result<web::Json<WebhookView>, ApiError> {
    let webhook = state
        .webhooks
        .update(
            user.0.organization_id,
            webhook_id(&path)?,
            body.into_inner().into(),
        )
        .await?;
    Ok(web::Json((&webhook).into()))
}

/// Removes a webhook and its delivery log.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("webhook_id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "Removed", body = MessageResponse),
        (status = 404, description = "No such webhook in your organisation", body = ErrorBody),
    )
)]
#[delete("/{webhook_id}")]
pub async fn delete_webhook(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    state
        .webhooks
        .delete(user.0.organization_id, webhook_id(&path)?)
        .await?;
    Ok(web::Json(MessageResponse::new("Webhook deleted")))
}

/// Replaces the signing secret with a new one, shown only in this answer.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("webhook_id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook with its new secret", body = WebhookWithSecret),
        (status = 404, description = "No such webhook in your organisation", body = ErrorBody),
    )
)]
#[post("/{webhook_id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<WebhookWithSecret>, ApiError> {
    let webhook = state
        .webhooks
        .rotate_secret(user.0.organization_id, webhook_id(&path)?)
        .await?;
    Ok(web::Json(webhook.into()))
}

/// Queues a `ping` event for the webhook, delivered (signed, retried, logged) like any other.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("webhook_id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 202, description = "The queued delivery", body = DeliveryView),
        (status = 404, description = "No such webhook in your organisation", body = ErrorBody),
        (status = 409, description = "The webhook is disabled", body = ErrorBody),
    )
)]
#[post("/{webhook_id}/test")]
pub async fn test_webhook(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let delivery = state
        .webhooks
        .ping(user.0.organization_id, webhook_id(&path)?)
        .await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::from(delivery)))
}

/// The webhook's delivery log, newest first, optionally of one status.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("webhook_id" = String, Path, description = "The webhook's id"), DeliveryQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryList),
        (status = 404, description = "No such webhook in your organisation", body = ErrorBody),
        (status = 422, description = "Invalid page, page_size or status", body = ErrorBody),
    )
)]
#[get("/{webhook_id}/deliveries")]
pub async fn list_deliveries(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<DeliveryQuery>,
) -> Result<web::Json<DeliveryList>, ApiError> {
    let id = webhook_id(&path)?;
    let page = page_request(query.page, query.page_size)?;
    let status = query
        .status
        .as_deref()
        .map(DeliveryStatus::parse)
        .transpose()
        .map_err(|message| ApiError::field("status", message))?;
    let deliveries = state
        .webhooks
        .deliveries(user.0.organization_id, id, status, page)
        .await?;
    Ok(web::Json(DeliveryList {
        items: deliveries.items.into_iter().map(Into::into).collect(),
        total: deliveries.total,
        page: page.page,
        page_size: page.page_size,
    }))
}

/// Sends a delivery again with a fresh set of attempts (a failed one, or one the receiver
/// lost).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(
        ("webhook_id" = String, Path, description = "The webhook's id"),
        ("delivery_id" = String, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 202, description = "Queued again", body = DeliveryView),
        (status = 404, description = "No such webhook or delivery in your organisation", body = ErrorBody),
        (status = 409, description = "The delivery is being sent right now", body = ErrorBody),
    )
)]
#[post("/{webhook_id}/deliveries/{delivery_id}/retry")]
pub async fn retry_delivery(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (webhook, delivery) = path.into_inner();
    let webhook = webhook_id(&webhook)?;
    let delivery: WebhookDeliveryId = parse_path_id(&delivery, "delivery")?;
    let queued = state
        .webhooks
        .redeliver(user.0.organization_id, webhook, delivery)
        .await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::from(queued)))
}
