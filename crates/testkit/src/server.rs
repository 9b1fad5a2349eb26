//! `TestApp`: the real server, built by the same `Application::build` as production, listening
//! on a free port with a fresh database, spoken to over HTTP like any client.
//!
//! The database is SQLite in a temporary folder, or a fresh PostgreSQL database when
//! `SWITCHBOARD_TEST_DATABASE=postgres` (the whole black-box suite runs on both in `make test`).

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{Value, json};
use switchboard::{Application, Overrides, Settings};
use switchboard_domain::ports::Clock;
use switchboard_storage::testing::TestDatabase;

use crate::{
    FakeDeepgram, FakeElevenLabs, FakeGoogle, FakeOpenAi, FakePinecone, FakeTwilio,
    FakeTwilioIntelligence, ManualClock,
};

/// Which database a test server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestDatabaseKind {
    Sqlite,
    Postgres,
}

impl TestDatabaseKind {
    /// `SWITCHBOARD_TEST_DATABASE=postgres` selects PostgreSQL; anything else SQLite.
    #[must_use]
    pub fn from_env() -> Self {
        match std::env::var("SWITCHBOARD_TEST_DATABASE").as_deref() {
            Ok("postgres" | "postgresql") => Self::Postgres,
            _ => Self::Sqlite,
        }
    }
}

/// Configures a test server before it starts.
#[derive(Debug)]
pub struct TestAppBuilder {
    env: BTreeMap<String, String>,
    clock: Option<Arc<ManualClock>>,
    database: TestDatabaseKind,
    /// Another server's database, to run a second instance over.
    shared_database: Option<(String, TestDatabaseKind)>,
}

/// A running server and a client for it. Dropping it stops the server and removes its database.
#[derive(Debug)]
pub struct TestApp {
    pub address: String,
    /// The database the server really uses (SQLite when PostgreSQL was asked for but is absent
    /// outside CI).
    pub database_kind: TestDatabaseKind,
    pub port: u16,
    pub client: Client,
    pub clock: Option<Arc<ManualClock>>,
    handle: switchboard::startup::ServerHandle,
    /// The task serving until stopped; `None` once [`TestApp::stop`] has waited for it.
    serving: Option<tokio::task::JoinHandle<()>>,
    _data_dir: tempfile::TempDir,
    /// `None` when the database is another server's.
    _database: Option<TestDatabase>,
    database_url: String,
}

/// The secret key every test server signs with.
pub const TEST_SECRET_KEY: &str = "switchboard-test-secret-key-0123456789abcdef";

impl TestAppBuilder {
    /// Sets a setting as if it were in the environment.
    #[must_use]
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Points the OpenAI settings at a fake (its base URL and the key it accepts).
    #[must_use]
    pub fn with_openai(self, fake: &FakeOpenAi) -> Self {
        self.env("OPENAI_BASE_URL", &fake.base_url())
            .env("OPENAI_API_KEY", &fake.api_key())
    }

    /// Points the Pinecone settings at a fake (its index host and the key it accepts), so the
    /// knowledge base keeps its vectors there instead of in the database.
    #[must_use]
    pub fn with_pinecone(self, fake: &FakePinecone) -> Self {
        self.env("PINECONE_INDEX_HOST", &fake.index_host())
            .env("PINECONE_API_KEY", &fake.api_key())
    }

    /// Points the Deepgram settings at a fake.
    #[must_use]
    pub fn with_deepgram(self, fake: &FakeDeepgram) -> Self {
        self.env("DEEPGRAM_BASE_URL", &fake.base_url())
            .env("DEEPGRAM_API_KEY", &fake.api_key())
    }

    /// Points the ElevenLabs settings at a fake.
    #[must_use]
    pub fn with_elevenlabs(self, fake: &FakeElevenLabs) -> Self {
        self.env("ELEVENLABS_BASE_URL", &fake.base_url())
            .env("ELEVENLABS_API_KEY", &fake.api_key())
    }

    /// Configures Twilio's auth token, so signed webhooks from [`crate::twilio_signature`] pass.
    #[must_use]
    pub fn with_twilio(self) -> Self {
        self.env("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000")
            .env("TWILIO_AUTH_TOKEN", crate::FAKE_TWILIO_AUTH_TOKEN)
    }

    /// Points Twilio Voice Intelligence at a fake (its base URL, and the account and token it
    /// accepts); the sentence page size is `page_size`, so tests see paging.
    #[must_use]
    pub fn with_twilio_intelligence(self, fake: &FakeTwilioIntelligence, page_size: u32) -> Self {
        self.env("TWILIO_ACCOUNT_SID", crate::FAKE_TWILIO_ACCOUNT_SID)
            .env("TWILIO_AUTH_TOKEN", crate::FAKE_TWILIO_AUTH_TOKEN)
            .env("TWILIO_INTELLIGENCE_BASE_URL", &fake.base_url())
            .env("TWILIO_TRANSCRIPT_PAGE_SIZE", &page_size.to_string())
    }

    /// Points Twilio's REST settings at a fake (its base URL, account and token), with
    /// [`crate::FAKE_TWILIO_PHONE_NUMBER`] as the number calls are placed from.
    #[must_use]
    pub fn with_twilio_rest(self, fake: &FakeTwilio) -> Self {
        self.env("TWILIO_ACCOUNT_SID", fake.account_sid())
            .env("TWILIO_AUTH_TOKEN", fake.auth_token())
            .env("TWILIO_BASE_URL", &fake.base_url())
            .env("TWILIO_PHONE_NUMBER", crate::FAKE_TWILIO_PHONE_NUMBER)
    }

    /// Points the Google settings at a fake: its OAuth client, the redirect URI registered for
    /// it, and its token and Calendar endpoints.
    #[must_use]
    pub fn with_google(self, fake: &FakeGoogle) -> Self {
        self.env("GOOGLE_CLIENT_ID", crate::FAKE_GOOGLE_CLIENT_ID)
            .env("GOOGLE_CLIENT_SECRET", crate::FAKE_GOOGLE_CLIENT_SECRET)
            .env("GOOGLE_REDIRECT_URI", crate::FAKE_GOOGLE_REDIRECT_URI)
            .env("GOOGLE_OAUTH_BASE_URL", &fake.oauth_base_url())
            .env("GOOGLE_TOKEN_URL", &fake.token_url())
            .env("GOOGLE_CALENDAR_BASE_URL", &fake.calendar_base_url())
    }

    /// Runs the server on a clock the test moves.
    #[must_use]
    pub fn with_manual_clock(mut self) -> Self {
        self.clock = Some(Arc::new(ManualClock::new()));
        self
    }

    /// Runs the server on a clock the test moves, standing at `at`.
    #[must_use]
    pub fn with_clock_at(mut self, at: chrono::DateTime<chrono::Utc>) -> Self {
        self.clock = Some(Arc::new(ManualClock::at(at)));
        self
    }

    /// Chooses the database explicitly instead of from the environment.
    #[must_use]
    pub fn database(mut self, kind: TestDatabaseKind) -> Self {
        self.database = kind;
        self
    }

    /// Runs over `other`'s database instead of a fresh one: a second instance of the same
    /// deployment (scale-out tests). `other` owns the database and must outlive this server.
    #[must_use]
    pub fn same_database_as(mut self, other: &TestApp) -> Self {
        self.shared_database = Some((other.database_url.clone(), other.database_kind));
        self
    }

    /// Starts the server.
    ///
    /// # Errors
    /// When the database or the server cannot be started.
    pub async fn spawn(self) -> anyhow::Result<TestApp> {
        let (database, database_kind) = match (self.shared_database, self.database) {
            (Some((url, kind)), _) => (Err(url), kind),
            (None, TestDatabaseKind::Sqlite) => {
                (Ok(TestDatabase::sqlite().await?), TestDatabaseKind::Sqlite)
            }
            (None, TestDatabaseKind::Postgres) => match TestDatabase::postgres().await? {
                Some(database) => (Ok(database), TestDatabaseKind::Postgres),
                None => (Ok(TestDatabase::sqlite().await?), TestDatabaseKind::Sqlite),
            },
        };
        let (database, database_url) = match database {
            Ok(owned) => {
                let url = owned.url().to_owned();
                (Some(owned), url)
            }
            Err(shared) => (None, shared),
        };
        let data_dir = tempfile::tempdir()?;
        let mut env = BTreeMap::from([
            ("HOST".to_owned(), "127.0.0.1".to_owned()),
            ("PORT".to_owned(), "0".to_owned()),
            ("HTTP_WORKERS".to_owned(), "2".to_owned()),
            ("DATA_DIR".to_owned(), data_dir.path().display().to_string()),
            ("DATABASE_URL".to_owned(), database_url.clone()),
            ("SECRET_KEY".to_owned(), TEST_SECRET_KEY.to_owned()),
            // Limits count per address or user and tests make many requests from 127.0.0.1;
            // the tests of each limit turn it back on.
            ("RATE_LIMIT_AUTH_PER_MIN".to_owned(), "0".to_owned()),
            ("RATE_LIMIT_CALLS_PER_MIN".to_owned(), "0".to_owned()),
            ("RATE_LIMIT_SCENARIOS_PER_MIN".to_owned(), "0".to_owned()),
            ("RUST_LOG".to_owned(), "warn".to_owned()),
        ]);
        env.extend(self.env);
        let settings = Settings::from_map(&env)?;
        // SWITCHBOARD_TEST_LOG=<filter> shows the server's logs, for debugging a test.
        if let Ok(filter) = std::env::var("SWITCHBOARD_TEST_LOG") {
            let mut telemetry = settings.telemetry.clone();
            telemetry.log_filter = filter;
            // Only the first server of a test binary installs the subscriber; the guard lives
            // as long as the process.
            if let Ok(guard) = switchboard::telemetry::init(&telemetry) {
                std::mem::forget(guard);
            }
        }
        let overrides = Overrides {
            clock: self.clock.clone().map(|clock| -> Arc<dyn Clock> { clock }),
        };
        let application = Application::build(settings, overrides).await?;
        let port = application.port();
        let handle = application.handle();
        let serving = tokio::spawn(async move {
            if let Err(e) = application.run_until_stopped().await {
                eprintln!("test server failed: {e:#}");
            }
        });
        Ok(TestApp {
            address: format!("http://127.0.0.1:{port}"),
            database_kind,
            port,
            client: Client::builder().no_proxy().build()?,
            clock: self.clock,
            handle,
            serving: Some(serving),
            _data_dir: data_dir,
            _database: database,
            database_url,
        })
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stopping is asynchronous; the runtime may already be going away, which is fine.
        let stop = self.handle.stop(false);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(stop);
        }
    }
}

impl TestApp {
    /// A server with test defaults.
    ///
    /// # Errors
    /// When it cannot start.
    pub async fn spawn() -> anyhow::Result<Self> {
        Self::builder().spawn().await
    }

    /// A builder for a server with other settings.
    #[must_use]
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            env: BTreeMap::new(),
            clock: None,
            database: TestDatabaseKind::from_env(),
            shared_database: None,
        }
    }

    /// Stops the server as SIGTERM would (requests in flight finish, background work stops
    /// and the pool closes) and waits until it has, keeping its database for a server started
    /// afterwards with [`TestAppBuilder::same_database_as`]: a restart.
    pub async fn stop(&mut self) {
        self.handle.stop(true).await;
        if let Some(serving) = self.serving.take() {
            let _ = serving.await;
        }
    }

    /// The manual clock.
    ///
    /// # Panics
    /// When the server was built without [`TestAppBuilder::with_manual_clock`]: a mistake in the
    /// test itself.
    #[must_use]
    #[expect(
        clippy::expect_used,
        reason = "a test asking for a clock it did not set up is a bug in that test"
    )]
    pub fn clock(&self) -> &ManualClock {
        self.clock.as_deref().expect("built with_manual_clock()")
    }

    /// A connection to the server's own database, for fixtures that must control what the API
    /// cannot (start times, latencies, analyses); they write through the storage adapters.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn database(&self) -> anyhow::Result<switchboard_storage::Database> {
        Ok(switchboard_storage::Database::connect(&self.database_url).await?)
    }

    /// The full URL of `path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request to `path`.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// `GET path`, optionally with a bearer token.
    ///
    /// # Errors
    /// When the request cannot be sent.
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Result<Response> {
        let mut request = self.request(Method::GET, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await
    }

    /// `POST path` with a JSON body, optionally with a bearer token.
    ///
    /// # Errors
    /// When the request cannot be sent.
    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> reqwest::Result<Response> {
        let mut request = self.request(Method::POST, path).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await
    }

    /// Registers a user and returns the answer's JSON.
    ///
    /// # Errors
    /// When registration does not answer 201.
    pub async fn register(&self, email: &str, password: &str) -> anyhow::Result<Value> {
        let response = self
            .post_json(
                "/api/v1/auth/register",
                &json!({"email": email, "password": password}),
                None,
            )
            .await?;
        anyhow::ensure!(
            response.status() == 201,
            "registration answered {}: {}",
            response.status(),
            response.text().await?
        );
        Ok(response.json().await?)
    }

    /// Registers a fresh user and returns their access token.
    ///
    /// # Errors
    /// When registration fails.
    pub async fn signed_in_user(&self) -> anyhow::Result<String> {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        let body = self.register(&email, "correct horse battery").await?;
        body["access_token"]
            .as_str()
            .map(ToOwned::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no access_token in {body}"))
    }
}
