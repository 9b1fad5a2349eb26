//! `GET /health`: the server, its database and its providers at a glance, with the fields seed
//! 002's clients read (`status`, `app_title`, `app_version`, `llm_service_*`).

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

const APP_TITLE: &str = "Switchboard";
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// The database's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseHealth {
    /// `ok` or `unreachable`.
    pub status: &'static str,
    /// `sqlite` or `postgresql`.
    pub backend: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One provider's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderHealth {
    /// `configured` or `not_configured`.
    pub status: &'static str,
    /// The setting(s) that enable it.
    pub setting: &'static str,
}

/// The health report.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthReport {
    /// `ok`, or `issues_present` when the database does not answer.
    pub status: &'static str,
    pub version: &'static str,
    pub app_title: &'static str,
    pub app_version: &'static str,
    pub database: DatabaseHealth,
    pub providers: BTreeMap<&'static str, ProviderHealth>,
    /// `ok` with a language model configured, else `not_configured` (the local flow engine answers).
    pub llm_service_status: &'static str,
    pub llm_service_details: String,
}

async fn report(state: &AppState) -> HealthReport {
    let backend = state.database.backend().name();
    let database = match tokio::time::timeout(DATABASE_TIMEOUT, state.database.ping()).await {
        Ok(Ok(())) => DatabaseHealth {
            status: "ok",
            backend,
            error: None,
        },
        Ok(Err(e)) => DatabaseHealth {
            status: "unreachable",
            backend,
            error: Some(e.to_string()),
        },
        Err(_) => DatabaseHealth {
            status: "unreachable",
            backend,
            error: Some(format!("no answer within {} s", DATABASE_TIMEOUT.as_secs())),
        },
    };
    let settings = &state.settings;
    let providers = settings
        .providers()
        .into_iter()
        .map(|p| {
            let status = if p.configured {
                "configured"
            } else {
                "not_configured"
            };
            (
                p.name,
                ProviderHealth {
                    status,
                    setting: p.setting,
                },
            )
        })
        .collect();
    let (llm_service_status, llm_service_details) = if settings.openai.api_key.is_some() {
        (
            "ok",
            format!(
                "openai-compatible model {} at {}",
                settings.openai.model,
                settings
                    .openai
                    .base_url
                    .host_str()
                    .unwrap_or("unknown host")
            ),
        )
    } else {
        (
            "not_configured",
            "OPENAI_API_KEY is not set; agents with a call flow answer through the local flow engine"
                .to_owned(),
        )
    };
    HealthReport {
        status: if database.status == "ok" {
            "ok"
        } else {
            "issues_present"
        },
        version: env!("CARGO_PKG_VERSION"),
        app_title: APP_TITLE,
        app_version: env!("CARGO_PKG_VERSION"),
        database,
        providers,
        llm_service_status,
        llm_service_details,
    }
}

/// Liveness with details. Always 200 while the process serves; `status` says whether all is well.
#[utoipa::path(
    tag = "health",
    responses((status = 200, description = "The health report", body = HealthReport))
)]
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> web::Json<HealthReport> {
    web::Json(report(&state).await)
}

/// Readiness for load balancers: 200 when the database answers, 503 when it does not.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = HealthReport),
        (status = 503, description = "The database does not answer", body = HealthReport),
    )
)]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let report = report(&state).await;
    if report.database.status == "ok" {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable().json(report)
    }
}
