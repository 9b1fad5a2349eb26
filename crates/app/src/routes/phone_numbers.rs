//! Phone numbers under `/api/v1/phone-numbers` and seed 001's `/api/phone-numbers`: E.164 numbers,
//! unique across the deployment, each answered by an agent of the same organisation.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::ids::PhoneNumberId;
use switchboard_domain::phone_number::{PhoneNumber, PhoneNumberInput};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::http::extract::CurrentUser;
use crate::http::json::{ApiJson, nullable};
use crate::routes::{MessageResponse, page_request, parse_path_id};
use crate::state::AppState;

/// A number's fields. Creating needs `number`; `assigned_agent_id: null` unassigns.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PhoneNumberRequest {
    /// E.164, e.g. `+14155550123` (spaces, dashes and brackets are ignored).
    #[serde(alias = "phone_number")]
    pub number: Option<String>,
    #[serde(default, deserialize_with = "nullable", alias = "agent_id")]
    #[schema(value_type = Option<String>)]
    pub assigned_agent_id: Option<Option<String>>,
    /// `active`, `inactive` or `unassigned`.
    pub status: Option<String>,
    #[serde(alias = "friendly_name")]
    pub label: Option<String>,
}

impl From<PhoneNumberRequest> for PhoneNumberInput {
    fn from(r: PhoneNumberRequest) -> Self {
        Self {
            number: r.number,
            assigned_agent_id: r.assigned_agent_id,
            status: r.status,
            label: r.label,
        }
    }
}

/// A phone number.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhoneNumberView {
    pub id: String,
    pub number: String,
    /// The number again, for clients that read `phone_number`.
    pub phone_number: String,
    pub assigned_agent_id: Option<String>,
    /// `active`, `inactive` or `unassigned`.
    pub status: &'static str,
    pub label: Option<String>,
    pub calls_received: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<PhoneNumber> for PhoneNumberView {
    fn from(n: PhoneNumber) -> Self {
        Self {
            id: n.id.to_string(),
            phone_number: n.number.to_string(),
            number: n.number.to_string(),
            assigned_agent_id: n.assigned_agent_id.map(|a| a.to_string()),
            status: n.status.as_str(),
            label: n.label,
            calls_received: n.calls_received,
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}

/// A page of numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhoneNumberList {
    pub items: Vec<PhoneNumberView>,
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

/// The organisation's numbers.
#[utoipa::path(
    tag = "phone-numbers",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of numbers", body = PhoneNumberList),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
#[get("")]
pub async fn list_numbers(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<PhoneNumberList>, ApiError> {
    let page = page_request(query.page, query.page_size)?;
    let numbers = state
        .phone_numbers
        .list(user.0.organization_id, page)
        .await?;
    Ok(web::Json(PhoneNumberList {
        items: numbers.items.into_iter().map(Into::into).collect(),
        total: numbers.total,
        page: page.page,
        page_size: page.page_size,
    }))
}

/// The organisation's numbers as a plain array (the total is in `X-Total-Count`).
#[utoipa::path(
    tag = "phone-numbers",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "Numbers", body = Vec<PhoneNumberView>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
#[get("")]
pub async fn list_numbers_array(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page_request(query.page, query.page_size)?;
    let numbers = state
        .phone_numbers
        .list(user.0.organization_id, page)
        .await?;
    let items: Vec<PhoneNumberView> = numbers.items.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok()
        .insert_header((
            header::HeaderName::from_static("x-total-count"),
            numbers.total,
        ))
        .json(items))
}

/// Adds a number, optionally assigned to an agent.
#[utoipa::path(
    tag = "phone-numbers",
    security(("bearer" = [])),
    request_body = PhoneNumberRequest,
    responses(
        (status = 201, description = "Added", body = PhoneNumberView),
        (status = 409, description = "The number is registered already", body = ErrorBody),
        (status = 422, description = "Invalid number, agent or status", body = ErrorBody),
    )
)]
#[post("")]
pub async fn create_number(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<PhoneNumberRequest>,
) -> Result<HttpResponse, ApiError> {
    let number = state
        .phone_numbers
        .create(user.0.organization_id, body.into_inner().into())
        .await?;
    Ok(HttpResponse::Created().json(PhoneNumberView::from(number)))
}

/// One number.
#[utoipa::path(
    tag = "phone-numbers",
    security(("bearer" = [])),
    params(("number_id" = String, Path, description = "The number's id")),
    responses(
        (status = 200, description = "The number", body = PhoneNumberView),
        (status = 404, description = "No such number in your organisation", body = ErrorBody),
    )
)]
#[get("/{number_id}")]
pub async fn get_number(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<PhoneNumberView>, ApiError> {
    let id: PhoneNumberId = parse_path_id(&path, "phone number")?;
    Ok(web::Json(
        state
            .phone_numbers
            .get(user.0.organization_id, id)
            .await?
            .into(),
    ))
}

async fn update(
    user: CurrentUser,
    state: &AppState,
    path: &str,
    body: PhoneNumberRequest,
) -> Result<web::Json<PhoneNumberView>, ApiError> {
    let id: PhoneNumberId = parse_path_id(path, "phone number")?;
    Ok(web::Json(
        state
            .phone_numbers
            .update(user.0.organization_id, id, body.into())
            .await?
            .into(),
    ))
}

/// Assigns or unassigns the agent, or changes the number, status or label.
#[utoipa::path(
    tag = "phone-numbers",
    security(("bearer" = [])),
    params(("number_id" = String, Path, description = "The number's id")),
    request_body = PhoneNumberRequest,
    responses(
        (status = 200, description = "The updated number", body = PhoneNumberView),
        (status = 404, description = "No such number in your organisation", body = ErrorBody),
        (status = 409, description = "The new number is registered already", body = ErrorBody),
        (status = 422, description = "Invalid number, agent or status", body = ErrorBody),
    )
)]
#[put("/{number_id}")]
pub async fn update_number(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<PhoneNumberRequest>,
) -> Result<web::Json<PhoneNumberView>, ApiError> {
    update(user, &state, &path, body.into_inner()).await
}

/// The same as `PUT`.
#[utoipa::path(
    tag = "phone-numbers",
    security(("bearer" = [])),
    params(("number_id" = String, Path, description = "The number's id")),
    request_body = PhoneNumberRequest,
    responses(
        (status = 200, description = "The updated number", body = PhoneNumberView),
        (status = 404, description = "No such number in your organisation", body = ErrorBody),
        (status = 422, description = "Invalid number, agent or status", body = ErrorBody),
    )
)]
#[patch("/{number_id}")]
pub async fn patch_number(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<PhoneNumberRequest>,
) -> Result<web::Json<PhoneNumberView>, ApiError> {
    update(user, &state, &path, body.into_inner()).await
}

/// Removes a number.
#[utoipa::path(
    tag = "phone-numbers",
    security(("bearer" = [])),
    params(("number_id" = String, Path, description = "The number's id")),
    responses(
        (status = 200, description = "Removed", body = MessageResponse),
        (status = 404, description = "No such number in your organisation", body = ErrorBody),
    )
)]
#[delete("/{number_id}")]
pub async fn delete_number(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let id: PhoneNumberId = parse_path_id(&path, "phone number")?;
    state
        .phone_numbers
        .delete(user.0.organization_id, id)
        .await?;
    Ok(web::Json(MessageResponse::new("Phone number deleted")))
}
