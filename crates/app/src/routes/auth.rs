//! Sign-up, login, refresh, logout and "who am I", under `/api/v1/auth` and the seeds' `/auth`.
//! Answers carry the union of the fields the seed clients read (`token`, `user`, `session_id`;
//! `access_token`, `refresh_token`, `token_type`; `id`, `email`, `is_active`, `is_admin`).

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::account::{Organization, User};
use switchboard_domain::auth::{Issued, RegisterInput};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::http::extract::{AuthAttempt, CurrentUser, client_info};
use crate::http::json::ApiJson;
use crate::routes::MessageResponse;
use crate::state::AppState;

/// A sign-up form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// At least 8 characters.
    #[schema(example = "correct horse battery")]
    pub password: String,
    /// The person's name (`name` is accepted too).
    #[serde(default, alias = "name")]
    pub full_name: Option<String>,
    /// The organisation to create (`company` is accepted too); defaults to "<name>'s organisation".
    #[serde(default, alias = "company")]
    pub organization_name: Option<String>,
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub password: String,
}

/// A refresh token to exchange.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// The organisation a user belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    pub time_zone: String,
}

/// A user, as every seed client reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub full_name: Option<String>,
    /// The same as `full_name`, for clients that read `name`.
    pub name: Option<String>,
    pub is_active: bool,
    pub is_admin: bool,
    pub organization_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<OrganizationView>,
    pub created_at: DateTime<Utc>,
}

impl UserView {
    fn new(user: &User, organization: Option<&Organization>) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.to_string(),
            full_name: user.full_name.clone(),
            name: user.full_name.clone(),
            is_active: user.is_active,
            is_admin: user.is_admin,
            organization_id: user.organization_id.to_string(),
            organization: organization.map(|o| OrganizationView {
                id: o.id.to_string(),
                name: o.name.clone(),
                time_zone: o.time_zone.clone(),
            }),
            created_at: user.created_at,
        }
    }
}

/// Tokens and the user they belong to.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    pub id: String,
    pub email: String,
    pub is_active: bool,
    pub is_admin: bool,
    pub user: UserView,
    /// The access token (the same as `access_token`).
    pub token: String,
    pub access_token: String,
    pub refresh_token: String,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub expires_at: DateTime<Utc>,
    /// The login session; logout revokes it.
    pub session_id: String,
}

impl From<Issued> for AuthResponse {
    fn from(issued: Issued) -> Self {
        Self {
            id: issued.user.id.to_string(),
            email: issued.user.email.to_string(),
            is_active: issued.user.is_active,
            is_admin: issued.user.is_admin,
            user: UserView::new(&issued.user, None),
            token: issued.access_token.clone(),
            access_token: issued.access_token,
            refresh_token: issued.refresh_token.expose().to_owned(),
            token_type: "bearer",
            expires_in: issued.access_ttl.num_seconds(),
            expires_at: issued.access_expires_at,
            session_id: issued.session_id.to_string(),
        }
    }
}

async fn register_user(
    req: &HttpRequest,
    state: &AppState,
    body: RegisterRequest,
) -> Result<HttpResponse, ApiError> {
    let input = RegisterInput::parse(
        &body.email,
        &body.password,
        body.full_name.as_deref(),
        body.organization_name.as_deref(),
    )
    .map_err(ApiError::Invalid)?;
    let issued = state.auth.register(input, client_info(req)).await?;
    Ok(HttpResponse::Created().json(AuthResponse::from(issued)))
}

/// Creates a user, their organisation and a session.
#[utoipa::path(
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered and signed in", body = AuthResponse),
        (status = 409, description = "The e-mail is registered already", body = ErrorBody),
        (status = 422, description = "Invalid e-mail or password", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address", body = ErrorBody),
    )
)]
#[post("/register")]
pub async fn register(
    _limit: AuthAttempt,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ApiJson<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    register_user(&req, &state, body.into_inner()).await
}

/// The same as `register` (the name another client uses).
#[utoipa::path(
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered and signed in", body = AuthResponse),
        (status = 409, description = "The e-mail is registered already", body = ErrorBody),
        (status = 422, description = "Invalid e-mail or password", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address", body = ErrorBody),
    )
)]
#[post("/signup")]
pub async fn signup(
    _limit: AuthAttempt,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ApiJson<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    register_user(&req, &state, body.into_inner()).await
}

/// Signs in with e-mail and password. An unknown e-mail and a wrong password get the same answer.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 401, description = "Incorrect e-mail or password", body = ErrorBody),
        (status = 403, description = "The account is disabled", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address", body = ErrorBody),
    )
)]
#[post("/login")]
pub async fn login(
    _limit: AuthAttempt,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ApiJson<LoginRequest>,
) -> Result<web::Json<AuthResponse>, ApiError> {
    let issued = state
        .auth
        .login(&body.email, &body.password, client_info(&req))
        .await?;
    Ok(web::Json(issued.into()))
}

/// Exchanges a refresh token for a new pair. Each refresh token works once; presenting a used one
/// revokes the whole session.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = AuthResponse),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address", body = ErrorBody),
    )
)]
#[post("/refresh")]
pub async fn refresh(
    _limit: AuthAttempt,
    state: web::Data<AppState>,
    body: ApiJson<RefreshRequest>,
) -> Result<web::Json<AuthResponse>, ApiError> {
    let issued = state.auth.refresh(&body.refresh_token).await?;
    Ok(web::Json(issued.into()))
}

/// Revokes the caller's session: its access and refresh tokens stop working.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Signed out", body = MessageResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
#[post("/logout")]
pub async fn logout(
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    state.auth.logout(&user.0).await?;
    Ok(web::Json(MessageResponse::new("Logged out")))
}

/// The caller's account and organisation.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The current user", body = UserView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
#[get("/me")]
pub async fn me(
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<UserView>, ApiError> {
    let (user, organization) = state.auth.current_user(&user.0).await?;
    Ok(web::Json(UserView::new(&user, Some(&organization))))
}
