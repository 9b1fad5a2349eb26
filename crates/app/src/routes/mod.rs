//! Every route, registered once here so the OpenAPI document is generated from the same list
//! the server serves. Seed aliases are the canonical handlers mounted under a second prefix.

mod auth;
mod docs;
mod health;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as OpenApiDoc, PathItem};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

pub use docs::OpenApiJson;

use crate::error::{ErrorBody, FieldErrorBody};

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

/// Registers every route.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(scope::scope("/api/v1/auth").configure(auth_routes))
        .service(scope::scope("/auth").configure(auth_routes))
        .service(scope::scope("/api/v1/users").service(auth::me))
        .service(scope::scope("/users").service(auth::me))
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
