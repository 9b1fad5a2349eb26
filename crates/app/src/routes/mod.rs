//! Every route, registered once here so the OpenAPI document is generated from the same list
//! the server serves. Seed aliases are the canonical handlers mounted under a second prefix.

mod agents;
mod analytics;
mod auth;
mod calendar;
mod call_logs;
pub(crate) mod calls;
mod docs;
mod health;
pub mod knowledge;
mod live;
mod onboarding;
pub(crate) mod outbound;
mod phone_numbers;
mod scenarios;
mod scheduled_calls;
pub(crate) mod telephony;
mod transcripts;
mod vapi;
pub(crate) mod voice;
mod webhooks;

use serde::Serialize;
use switchboard_domain::page::PageRequest;
use utoipa::ToSchema;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as OpenApiDoc, PathItem};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

pub use docs::OpenApiJson;

use crate::error::{ApiError, ErrorBody, FieldErrorBody};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard API",
        description = "Build AI voice agents, give them phone numbers, and follow every call.\n\nErrors are always `{\"detail\": \"...\", \"status_code\": N}`."
    ),
    components(schemas(ErrorBody, FieldErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts, sessions and tokens"),
        (name = "onboarding", description = "Guided set-up of the organisation and its first agent"),
        (name = "agents", description = "Agents, their configuration and call flows"),
        (name = "scenarios", description = "Personas and goals for calls, built in or custom"),
        (name = "phone-numbers", description = "Numbers and the agents that answer them"),
        (name = "calls", description = "Calls: start, talk, end, read"),
        (name = "scheduled-calls", description = "Outbound calls placed later, alone or as campaigns, within calling windows, with retries"),
        (name = "voice", description = "Voice calls in the browser: sockets and rooms"),
        (name = "live", description = "Live feeds over WebSocket: the organisation's activity and one call's progress"),
        (name = "telephony", description = "Twilio's webhooks and media streams (signed by Twilio, not by a user token)"),
        (name = "vapi", description = "Vapi's server webhooks (checked against VAPI_SECRET, not a user token)"),
        (name = "transcripts", description = "Twilio Voice Intelligence transcripts stored in Twilio's format, and enhanced transcripts of every call"),
        (name = "calendar", description = "Google Calendar: connecting it, its events; calls book in it"),
        (name = "webhooks", description = "Signed deliveries of the organisation's events to its own URLs, with a delivery log"),
        (name = "analytics", description = "Figures over the organisation's calls, by its own days"),
        (name = "knowledge", description = "Documents agents answer from, and search over them"),
        (name = "health", description = "Liveness and readiness"),
        (name = "meta", description = "The API's own description and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

fn auth_routes(cfg: &mut ServiceConfig) {
    cfg.service(auth::register)
        .service(auth::signup)
        .service(auth::login)
        .service(auth::refresh)
        .service(auth::logout)
        .service(auth::me);
}

fn calendar_routes(cfg: &mut ServiceConfig) {
    cfg.service(calendar::authorize)
        .service(calendar::callback)
        .service(calendar::events)
        .service(calendar::status)
        .service(calendar::disconnect);
}

fn scenario_routes(cfg: &mut ServiceConfig) {
    cfg.service(scenarios::list_scenarios)
        .service(scenarios::create_scenario)
        .service(scenarios::list_builtin_scenarios)
        .service(scenarios::get_scenario)
        .service(scenarios::update_scenario)
        .service(scenarios::delete_scenario);
}

fn phone_number_routes(cfg: &mut ServiceConfig) {
    cfg.service(phone_numbers::create_number)
        .service(phone_numbers::get_number)
        .service(phone_numbers::update_number)
        .service(phone_numbers::patch_number)
        .service(phone_numbers::delete_number);
}

/// Registers every route.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        scope::scope("/api/v1/agents")
            .service(agents::list_agents)
            .configure(agents::agent_routes),
    )
    .service(
        scope::scope("/agents")
            .service(agents::list_agents_array)
            .configure(agents::agent_routes),
    )
    .service(
        scope::scope("/api/agents")
            .service(agents::list_agents_array)
            .configure(agents::agent_routes),
    )
    .service(scope::scope("/api/v1/onboarding").configure(onboarding::onboarding_routes))
    .service(scope::scope("/onboarding").configure(onboarding::onboarding_routes))
    .service(scope::scope("/api/v1/scenarios").configure(scenario_routes))
    .service(scenarios::create_custom_scenario)
    .service(scenarios::list_custom_scenarios)
    .service(scenarios::update_custom_scenario)
    .service(scenarios::delete_custom_scenario)
    .service(
        scope::scope("/api/v1/phone-numbers")
            .service(phone_numbers::list_numbers)
            .configure(phone_number_routes),
    )
    .service(
        scope::scope("/api/phone-numbers")
            .service(phone_numbers::list_numbers_array)
            .configure(phone_number_routes),
    );
    cfg.service(
        scope::scope("/api/v1/calls")
            .service(call_logs::list_calls)
            .service(calls::start_call)
            .service(calls::get_call)
            .service(calls::send_message)
            .service(calls::end_call)
            .service(voice::recording),
    )
    .service(
        scope::scope("/api/v1/sales")
            .service(calls::sales_start)
            .service(calls::sales_respond)
            .service(calls::sales_conversation)
            .service(voice::respond_audio)
            .service(scope::scope("/ws").service(voice::voice_chat)),
    )
    .service(
        scope::scope("/api/v1/voice/calls")
            .service(call_logs::list_voice_calls)
            .service(call_logs::get_voice_call),
    )
    .service(
        scope::scope("/calls")
            .service(call_logs::call_logs)
            .service(call_logs::call_log),
    )
    .service(
        scope::scope("/api/calls")
            .service(call_logs::list_seed_calls)
            .service(call_logs::log_call)
            .service(outbound::seed_start)
            .service(outbound::seed_end)
            .service(call_logs::get_seed_call),
    )
    .service(
        scope::scope("/conversations")
            .service(calls::session_message)
            .service(voice::session_audio),
    )
    .service(
        scope::scope("/api/test")
            .service(calls::test_agent)
            .service(voice::create_room),
    )
    .service(
        scope::scope("/ws")
            .service(live::activity_feed)
            .service(live::call_feed)
            .service(voice::voice_socket)
            .service(voice::voice_chat),
    );
    cfg.service(
        scope::scope("/api/v1/knowledge")
            .service(knowledge::upload_documents)
            .service(knowledge::list_documents)
            .service(knowledge::get_document)
            .service(knowledge::delete_document)
            .service(knowledge::search),
    );
    cfg.service(
        scope::scope("/api/v1/scheduled-calls")
            .service(scheduled_calls::create_scheduled_call)
            .service(scheduled_calls::list_scheduled_calls)
            .service(scheduled_calls::get_scheduled_call)
            .service(scheduled_calls::cancel_scheduled_call),
    )
    .service(scheduled_calls::seed_schedule_call);
    cfg.service(transcripts::store_transcript)
        .service(transcripts::list_stored_transcripts)
        .service(transcripts::get_stored_transcript)
        .service(transcripts::list_enhanced_transcripts)
        .service(transcripts::get_enhanced_transcript);
    cfg.service(
        scope::scope("/api/v1/webhooks")
            .service(webhooks::create_webhook)
            .service(webhooks::list_webhooks)
            .service(webhooks::get_webhook)
            .service(webhooks::update_webhook)
            .service(webhooks::delete_webhook)
            .service(webhooks::rotate_webhook_secret)
            .service(webhooks::test_webhook)
            .service(webhooks::list_deliveries)
            .service(webhooks::retry_delivery),
    );
    cfg.service(
        scope::scope("/api/v1/analytics")
            .service(analytics::dashboard)
            .service(analytics::overview),
    )
    .service(
        scope::scope("/analytics")
            .service(analytics::range_overview)
            .service(analytics::metrics),
    );
    cfg.service(
        scope::scope("/api/v1/vapi")
            .service(vapi::webhook)
            .service(vapi::function),
    );
    cfg.service(scope::scope("/api/v1/google-calendar").configure(calendar_routes))
        .service(scope::scope("/google-calendar").configure(calendar_routes));
    cfg.service(scope::scope("/api/v1/auth").configure(auth_routes))
        .service(scope::scope("/auth").configure(auth_routes))
        .service(scope::scope("/api/v1/users").service(auth::me))
        .service(scope::scope("/users").service(auth::me))
        .service(outbound::make_standard_call)
        .service(outbound::make_standard_call_post)
        .service(outbound::make_custom_call)
        .service(outbound::make_calendar_call)
        .service(telephony::twilio_voice)
        .service(telephony::twilio_status)
        .service(telephony::twilio_amd)
        .service(telephony::twilio_media)
        .service(telephony::media_stream)
        .service(health::health)
        .service(health::ready)
        .service(docs::openapi_json)
        .service(docs::docs)
        .service(docs::metrics);
}

/// Operation ids from method and path, since an alias mounts one handler at several paths and
/// OpenAPI wants every id unique.
pub fn unique_operation_ids(openapi: &mut OpenApiDoc) {
    for (path, item) in &mut openapi.paths.paths {
        let slug: String = path
            .trim_matches('/')
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        for (method, operation) in operations(item) {
            operation.operation_id = Some(format!("{method}_{slug}"));
        }
    }
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut utoipa::openapi::path::Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
        ("head", item.head.as_mut()),
        ("options", item.options.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|o| (method, o)))
    .collect()
}

/// A plain confirmation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub message: String,
}

impl MessageResponse {
    /// A confirmation saying `message`.
    #[must_use]
    pub fn new(message: &str) -> Self {
        Self {
            message: message.to_owned(),
        }
    }
}

/// Paging from the query string, as a 422 naming the field when out of range.
///
/// # Errors
/// `Invalid` for page 0 or a page size outside 1..=100.
pub fn page_request(page: Option<u64>, page_size: Option<u64>) -> Result<PageRequest, ApiError> {
    PageRequest::parse(page, page_size).map_err(|(field, message)| ApiError::field(field, message))
}

/// An id from the path. A malformed id names nothing that exists, so it is a 404 like any other
/// unknown id.
///
/// # Errors
/// `NotFound`.
pub fn parse_path_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("{what} not found")))
}
