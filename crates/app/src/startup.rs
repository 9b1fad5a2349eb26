//! Building the server: every adapter is chosen and wired here, once. `main` and the test harness
//! both call [`Application::build`]; tests pass overrides (a clock they control) and port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
pub use actix_web::dev::ServerHandle;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, ResponseError, web};
use switchboard_domain::agent::AgentService;
use switchboard_domain::analytics::{AnalyticsPorts, AnalyticsService};
use switchboard_domain::auth::{AuthService, TokenPolicy};
use switchboard_domain::calendar::CalendarService;
use switchboard_domain::call::{
    AnalysisPolicy, AnalysisPorts, AnalysisService, CallLimits, CallPorts, CallService,
    LlmCallAnalyzer,
};
use switchboard_domain::conversation::ConversationEngine;
use switchboard_domain::events::EventPublisher;
use switchboard_domain::knowledge::{KnowledgePorts, KnowledgeService};
use switchboard_domain::onboarding::OnboardingService;
use switchboard_domain::phone_number::PhoneNumberService;
use switchboard_domain::ports::{CallAnalyzer, Clock, SystemClock};
use switchboard_domain::scenario::ScenarioService;
use switchboard_domain::schedule::{SchedulePorts, ScheduleService, ScheduleSettings};
use switchboard_domain::transcript::{TranscriptPorts, TranscriptService};
use switchboard_domain::webhook::{WebhookPolicy, WebhookPorts, WebhookService};
use switchboard_local::{LexiconAnalyzer, LocalDocumentReader};
use switchboard_storage::{
    Database, SeaOrmAccounts, SeaOrmAgents, SeaOrmAnalytics, SeaOrmCalendarConnections,
    SeaOrmCallAnalyses, SeaOrmCalls, SeaOrmDocuments, SeaOrmOnboarding, SeaOrmPhoneNumbers,
    SeaOrmScenarios, SeaOrmSchedule, SeaOrmSessions, SeaOrmTranscripts, SeaOrmWebhooks,
    TokenSealer,
};
use utoipa::OpenApi as _;
use utoipa_actix_web::AppExt as _;

use crate::adapters::{HttpToolInvoker, HttpWebhookSender};
use crate::call_log_queue::CallLogWriter;
use crate::error::{self, ApiError};
use crate::events::redis_relay::RelayTasks;
use crate::events::{EventBus, EventSinks};
use crate::http::middleware;
use crate::http::route_table::RouteTable;
use crate::metrics::Metrics;
use crate::providers;
use crate::rate_limit::InMemoryRateLimiter;
use crate::reconciler::Reconciler;
use crate::routes::{self, ApiDoc, OpenApiJson};
use crate::scheduler::{ScheduledDialer, Scheduler};
use crate::security::{Argon2Hasher, JwtTokens, OAuthStates, resolve_secret_key};
use crate::settings::Settings;
use crate::state::AppState;
use crate::voice::live::LiveCalls;
use crate::voice::recordings::Recordings;
use crate::voice::tokens::CallTokens;
use crate::webhooks::{OutboxWriter, WebhookWorker};
use crate::worker::Worker;

/// How long in-flight requests may finish after SIGTERM/SIGINT.
const SHUTDOWN_GRACE_SECS: u64 = 10;
/// How long start-up waits for the Redis subscription of live events before going on without.
const REDIS_READY_WITHIN: Duration = Duration::from_secs(3);

/// Adapters a test may replace.
#[derive(Clone, Default)]
pub struct Overrides {
    pub clock: Option<Arc<dyn Clock>>,
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("clock", &self.clock.is_some())
            .finish()
    }
}

/// A server bound to its port, ready to run.
pub struct Application {
    port: u16,
    server: Server,
    database: Database,
    worker: Worker,
    call_logs: CallLogWriter,
    /// Started with the server, stopped after it.
    scheduler: Scheduler,
    reconciler: Reconciler,
    /// Relays live events to and from Redis, when configured; stopped after the server.
    relay: Option<RelayTasks>,
    webhook_outbox: OutboxWriter,
    webhook_worker: WebhookWorker,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish()
    }
}

/// Creates the SQLite file's folder, connects, and applies pending migrations.
///
/// # Errors
/// When the folder cannot be created or the database cannot be reached or migrated.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    if settings.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "DATA_DIR: cannot create {}: {e}",
                settings.data_dir.display()
            )
        })?;
    }
    let database = Database::connect(&settings.database_url).await?;
    database.migrate().await?;
    Ok(database)
}

/// The OpenAPI document of every registered route.
#[must_use]
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, mut openapi) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    routes::unique_operation_ids(&mut openapi);
    openapi
}

fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .allow_any_method()
        .allow_any_header()
        .expose_headers(["x-request-id", "retry-after"])
        .max_age(3600);
    if settings.cors_origins.iter().any(|o| o == "*") {
        return cors.allow_any_origin();
    }
    let frontend = settings
        .frontend_url
        .as_ref()
        .map(|u| u.origin().ascii_serialization());
    for origin in settings.cors_origins.iter().cloned().chain(frontend) {
        cors = cors.allowed_origin(&origin);
    }
    cors.supports_credentials()
}

/// Requests no route took: 405 with `Allow` when the path exists with other methods, else 404.
async fn no_route(req: HttpRequest, table: web::Data<RouteTable>) -> HttpResponse {
    let allowed = table.allowed_methods(req.path());
    if allowed.is_empty() {
        return ApiError::NotFound(format!("no route for {} {}", req.method(), req.path()))
            .error_response();
    }
    let mut response = ApiError::MethodNotAllowed(format!(
        "method {} is not allowed on {}; use {}",
        req.method(),
        req.path(),
        allowed.join(", ")
    ))
    .error_response();
    if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

impl Application {
    /// Connects and migrates the database, wires the services, and binds the listener.
    ///
    /// # Errors
    /// When the database, the secret key, or the address cannot be used.
    pub async fn build(settings: Settings, overrides: Overrides) -> anyhow::Result<Self> {
        let database = open_database(&settings).await?;
        let secret = resolve_secret_key(&settings)?;
        let clock = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let policy = TokenPolicy {
            access_ttl: chrono::Duration::seconds(
                i64::try_from(settings.access_token_ttl_secs).unwrap_or(i64::MAX),
            ),
            refresh_ttl: chrono::Duration::seconds(
                i64::try_from(settings.refresh_token_ttl_secs).unwrap_or(i64::MAX),
            ),
        };
        let accounts = Arc::new(SeaOrmAccounts::new(database.clone()));
        let auth = AuthService::new(
            accounts.clone(),
            Arc::new(SeaOrmSessions::new(database.clone())),
            Arc::new(Argon2Hasher::new()?),
            Arc::new(JwtTokens::new(&secret)),
            clock.clone(),
            policy,
        );
        // Live feeds hear every instance's events through Redis when it is configured.
        let (live_events, relay) = match &settings.redis_url {
            Some(url) => {
                let (bus, tasks) = EventBus::with_redis(
                    url.as_str(),
                    &settings.events_channel,
                    REDIS_READY_WITHIN,
                )
                .await?;
                if !tasks.is_subscribed() {
                    tracing::warn!(
                        "REDIS_URL: Redis did not answer; live feeds show this instance's events \
                         until it does"
                    );
                }
                (bus, Some(tasks))
            }
            None => (EventBus::in_process(), None),
        };
        let metrics = web::Data::new(Metrics::new()?);
        let webhooks = WebhookService::new(
            WebhookPorts {
                webhooks: Arc::new(SeaOrmWebhooks::new(database.clone())),
                sender: Arc::new(HttpWebhookSender::new()?),
                clock: clock.clone(),
            },
            WebhookPolicy {
                max_attempts: settings.webhooks.max_attempts,
                retry_base: Duration::from_millis(settings.webhooks.retry_base_ms),
                retry_max: Duration::from_millis(settings.webhooks.retry_max_ms),
                timeout: Duration::from_millis(settings.webhooks.timeout_ms),
                ..WebhookPolicy::default()
            },
        );
        let webhooks_queued = Arc::new(tokio::sync::Notify::new());
        let (webhook_sink, webhook_outbox) = OutboxWriter::spawn(
            webhooks.clone(),
            webhooks_queued.clone(),
            metrics.webhook_events_dropped(),
        );
        // Every sink the domain's events go to: the webhook outbox, then the live feeds.
        let events: Arc<dyn EventPublisher> = Arc::new(EventSinks::new(vec![
            Arc::new(webhook_sink),
            Arc::new(live_events.clone()),
        ]));
        let agent_repository = Arc::new(SeaOrmAgents::new(database.clone()));
        let documents = Arc::new(SeaOrmDocuments::new(database.clone()));
        let call_repository = Arc::new(SeaOrmCalls::new(database.clone()));
        let agents = AgentService::new(
            agent_repository.clone(),
            documents.clone(),
            call_repository.clone(),
            clock.clone(),
            events.clone(),
        );
        let analytics = AnalyticsService::new(AnalyticsPorts {
            analytics: Arc::new(SeaOrmAnalytics::new(database.clone())),
            accounts: accounts.clone(),
            agents: agent_repository.clone(),
            clock: clock.clone(),
        });
        let knowledge = KnowledgeService::new(
            KnowledgePorts {
                documents,
                vectors: providers::vector_store(&settings, &database)?,
                embedder: providers::embedder(&settings)?,
                reader: Arc::new(LocalDocumentReader::new()),
                agents: agent_repository.clone(),
                clock: clock.clone(),
            },
            settings.knowledge.chunking,
        );
        let scenarios = ScenarioService::new(
            Arc::new(SeaOrmScenarios::new(database.clone())),
            clock.clone(),
        );
        let model = providers::language_model(&settings)?;
        let calendar = providers::calendar(&settings)?.map(|provider| {
            CalendarService::new(
                provider,
                Arc::new(SeaOrmCalendarConnections::new(
                    database.clone(),
                    TokenSealer::from_secret_key(secret.expose()),
                )),
                clock.clone(),
            )
        });
        let mut engine = ConversationEngine::new(
            model.clone(),
            Arc::new(knowledge.clone()),
            Arc::new(HttpToolInvoker::new()?),
            clock.clone(),
        );
        if let Some(calendar) = &calendar {
            engine = engine.with_calendar(Arc::new(calendar.clone()));
        }
        // Calls are analysed by the language model when one is configured, else offline.
        let analyzer: Arc<dyn CallAnalyzer> = match model {
            Some(model) => Arc::new(LlmCallAnalyzer::new(model)),
            None => Arc::new(LexiconAnalyzer::new()),
        };
        let analysis = AnalysisService::new(
            AnalysisPorts {
                jobs: Arc::new(SeaOrmCallAnalyses::new(database.clone())),
                calls: call_repository.clone(),
                analyzer,
                clock: clock.clone(),
                events: events.clone(),
            },
            AnalysisPolicy {
                max_attempts: settings.analysis.max_attempts,
                retry_base: Duration::from_millis(settings.analysis.retry_base_ms),
                retry_max: Duration::from_millis(settings.analysis.retry_max_ms),
                lease: Duration::from_secs(settings.analysis.lease_secs),
            },
        );
        let transcripts = TranscriptService::new(TranscriptPorts {
            stored: Arc::new(SeaOrmTranscripts::new(database.clone())),
            calls: call_repository.clone(),
            source: providers::transcript_source(&settings)?,
            clock: clock.clone(),
        });
        let mut calls = CallService::new(
            CallPorts {
                calls: call_repository,
                agents: agent_repository.clone(),
                accounts: accounts.clone(),
                clock: clock.clone(),
                events: events.clone(),
            },
            scenarios.clone(),
            engine,
        )
        .with_limits(CallLimits {
            per_organization: settings.call_concurrency_per_org,
            inbound_reserved: settings.call_concurrency_inbound_reserved,
        });
        if let Some(calendar) = &calendar {
            calls = calls.with_calendar(Arc::new(calendar.clone()));
        }
        let schedules = ScheduleService::new(
            SchedulePorts {
                schedules: Arc::new(SeaOrmSchedule::new(database.clone())),
                agents: agent_repository.clone(),
                accounts: accounts.clone(),
                clock: clock.clone(),
            },
            scenarios.clone(),
            calls.clone(),
            ScheduleSettings::default(),
        );
        let phone_numbers = PhoneNumberService::new(
            Arc::new(SeaOrmPhoneNumbers::new(database.clone())),
            agent_repository,
            clock.clone(),
        );
        let onboarding = OnboardingService::new(
            Arc::new(SeaOrmOnboarding::new(database.clone())),
            accounts,
            agents.clone(),
            phone_numbers.clone(),
            clock.clone(),
        );
        let settings = Arc::new(settings);
        let (call_log_queue, call_logs) = CallLogWriter::spawn(calls.clone());
        let state = web::Data::new(AppState {
            settings: settings.clone(),
            database: database.clone(),
            auth,
            agents,
            analytics,
            scenarios,
            phone_numbers,
            knowledge,
            calls,
            schedules: schedules.clone(),
            onboarding,
            transcripts,
            limiter: Arc::new(InMemoryRateLimiter::new(clock)),
            speech: providers::speech(&settings)?,
            telephony: providers::telephony(&settings)?,
            call_tokens: CallTokens::new(secret.expose()),
            recordings: Recordings::new(&settings.data_dir, settings.public_url.clone()),
            live_calls: LiveCalls::default(),
            call_log_queue,
            events,
            calendar,
            oauth_states: OAuthStates::new(secret.expose()),
            live_events,
            webhooks: webhooks.clone(),
        });
        if state.telephony.is_some() && settings.public_url.is_none() {
            tracing::warn!(
                "PUBLIC_URL is not set: scheduled calls cannot be placed (Twilio needs an \
                 address to stream the call to); they will fail when due"
            );
        }
        let scheduler = Scheduler::new(
            schedules,
            Arc::new(ScheduledDialer::new(state.get_ref().clone())),
            Duration::from_millis(settings.scheduler_poll_ms),
            metrics.scheduler_passes(),
        );
        let reconciler = Reconciler::new(
            state.calls.clone(),
            state.telephony.clone(),
            Duration::from_secs(settings.call_reconcile_after_secs),
            Duration::from_secs(settings.call_reconcile_poll_secs),
        );
        let document = openapi_document();
        let routes = web::Data::new(RouteTable::from_openapi(&document));
        let openapi = web::Data::new(OpenApiJson(document.to_json()?));

        let listener = TcpListener::bind((settings.host, settings.port)).map_err(|e| {
            anyhow::anyhow!(
                "HOST/PORT: cannot listen on {}:{}: {e}",
                settings.host,
                settings.port
            )
        })?;
        let port = listener.local_addr()?.port();
        let max_body = settings.max_body_bytes;
        let cors_settings = settings.clone();
        let mut server = HttpServer::new(move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .configure(routes::configure)
                .split_for_parts();
            app.app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(openapi.clone())
                .app_data(routes.clone())
                .app_data(web::PayloadConfig::default().limit(max_body))
                .app_data(web::QueryConfig::default().error_handler(error::query_error))
                .app_data(web::PathConfig::default().error_handler(error::path_error))
                .default_service(web::to(no_route))
                .wrap(cors(&cors_settings))
                .wrap(from_fn(middleware::observe))
        })
        .listen(listener)?
        .shutdown_timeout(SHUTDOWN_GRACE_SECS);
        if let Some(workers) = settings.http_workers {
            server = server.workers(workers);
        }
        let worker = Worker::spawn(analysis, Duration::from_millis(settings.scheduler_poll_ms));
        let webhook_worker = WebhookWorker::spawn(
            webhooks,
            Duration::from_millis(settings.scheduler_poll_ms),
            webhooks_queued,
        );
        Ok(Self {
            port,
            server: server.run(),
            database,
            worker,
            call_logs,
            scheduler,
            reconciler,
            relay,
            webhook_outbox,
            webhook_worker,
        })
    }

    /// The port the server listens on (the real one when 0 was asked for).
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server from elsewhere.
    #[must_use]
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves, with the scheduler placing due scheduled calls and the reconciler checking stale
    /// phone calls, until SIGTERM/SIGINT or [`actix_web::dev::ServerHandle::stop`], letting
    /// requests in flight finish, then stops the call-log writer, the background worker, the
    /// scheduler and the reconciler (each finishing the work in hand) and closes the database
    /// pool.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            server,
            database,
            worker,
            call_logs,
            scheduler,
            reconciler,
            relay,
            webhook_outbox,
            webhook_worker,
            ..
        } = self;
        let scheduler = scheduler.start();
        let reconciler = reconciler.start();
        let served = server.await;
        // The steps under way finish (or are left to their leases) before the pool closes
        // under them.
        let grace = Duration::from_secs(SHUTDOWN_GRACE_SECS);
        let background = async {
            // One after the other: calls the writer still stores can queue analyses for the
            // worker.
            call_logs.stop(grace).await;
            worker.stop(grace).await;
        };
        tokio::join!(background, scheduler.stop(grace), reconciler.stop(grace));
        // Stopped last: the work finishing above still tells events.
        drop(relay);
        // Last, since everything above may still publish events: what was published is
        // written to the outbox, then the deliveries in flight finish (or wait for another
        // instance, or the next start).
        webhook_outbox.stop(grace).await;
        webhook_worker.stop(grace).await;
        served?;
        database.close().await?;
        Ok(())
    }
}
