//! Typed settings, read once from the environment (and `.env`, loaded by `main`). A wrong value
//! stops start-up with one line naming the setting; secrets are wrapped so they never print.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use switchboard_domain::agent::{SttProvider, VoiceProvider};
use switchboard_domain::knowledge::ChunkingOptions;
use url::Url;

/// A secret value: its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    #[must_use]
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that needs it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A setting that could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{setting}: {message}")]
pub struct SettingsError {
    pub setting: &'static str,
    pub message: String,
}

fn invalid(setting: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError {
        setting,
        message: message.into(),
    }
}

/// Development keeps conveniences (a generated key); production insists on explicit settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Compact,
    Json,
}

/// An API key and the base URL its adapter appends paths to.
#[derive(Clone, Debug)]
pub struct ProviderEndpoint {
    pub api_key: Option<Secret>,
    pub base_url: Url,
    /// The provider's default model.
    pub model: String,
}

/// How ElevenLabs is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElevenLabsTransport {
    /// One streamed HTTP request per sentence.
    Http,
    /// The stream-input WebSocket.
    WebSocket,
}

/// Speech beyond each provider's endpoint: the defaults calls fall back to.
#[derive(Clone, Debug)]
pub struct SpeechSettings {
    /// The recogniser for agents whose own is not configured (`STT_PROVIDER`).
    pub stt_provider: Option<SttProvider>,
    /// The voice provider for agents whose own is not configured (`TTS_PROVIDER`).
    pub tts_provider: Option<VoiceProvider>,
    pub elevenlabs_voice_id: String,
    pub elevenlabs_transport: ElevenLabsTransport,
    pub openai_tts_model: String,
    pub openai_tts_voice: String,
    pub openai_stt_model: String,
}

/// OpenAI or any server speaking its API.
#[derive(Clone, Debug)]
pub struct OpenAiSettings {
    pub api_key: Option<Secret>,
    pub base_url: Url,
    /// The chat model.
    pub model: String,
    /// Sent as `OpenAI-Organization` when set.
    pub organization: Option<String>,
    pub embedding_model: String,
    /// The embedding vectors' length; unset means the model's own (1536 for
    /// `text-embedding-3-small`).
    pub embedding_dimensions: Option<usize>,
    /// Connect timeout, and the longest a whole non-streamed request may take.
    pub timeout_ms: u64,
    /// The longest wait for a streamed reply's first token, and between its chunks.
    pub stream_timeout_ms: u64,
    /// Retries of a request that failed with 429, 5xx or a connection error.
    pub max_retries: u32,
}

/// Twilio REST, Media Streams and Voice Intelligence.
#[derive(Clone, Debug)]
pub struct TwilioSettings {
    pub account_sid: Option<String>,
    pub auth_token: Option<Secret>,
    pub phone_number: Option<String>,
    pub base_url: Url,
    pub intelligence_base_url: Url,
    /// Sentences asked for per page when a transcript is fetched (Twilio takes 1 to 5000).
    pub transcript_page_size: u32,
    /// The most sentence pages read for one transcript; a transcript longer than that is refused
    /// rather than stored cut short.
    pub transcript_max_pages: u32,
    /// Whether webhooks must carry a valid `X-Twilio-Signature`; only development may say no.
    pub validate_signatures: bool,
}

/// Google OAuth 2 and Calendar.
#[derive(Clone, Debug)]
pub struct GoogleSettings {
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub redirect_uri: Option<Url>,
    pub oauth_base_url: Url,
    pub token_url: Url,
    pub calendar_base_url: Url,
}

/// Pinecone; without both settings knowledge vectors live in the database.
#[derive(Clone, Debug)]
pub struct PineconeSettings {
    pub api_key: Option<Secret>,
    pub index_host: Option<Url>,
}

/// Requests per minute per client or user; 0 switches a limit off.
#[derive(Clone, Copy, Debug)]
pub struct RateLimitSettings {
    pub auth_per_min: u32,
    pub calls_per_min: u32,
    pub scenarios_per_min: u32,
}

/// Outbound webhook delivery.
#[derive(Clone, Copy, Debug)]
pub struct WebhookSettings {
    /// The wait before the second attempt, doubled for each later one (`WEBHOOK_RETRY_BASE_MS`).
    pub retry_base_ms: u64,
    /// The longest wait between attempts (`WEBHOOK_RETRY_MAX_MS`).
    pub retry_max_ms: u64,
    /// Attempts before a delivery is given up and its subscription disabled
    /// (`WEBHOOK_MAX_ATTEMPTS`, at least 1).
    pub max_attempts: u32,
    /// How long one attempt may take (`WEBHOOK_TIMEOUT_MS`).
    pub timeout_ms: u64,
}

/// Post-call analysis jobs.
#[derive(Clone, Copy, Debug)]
pub struct AnalysisSettings {
    /// Attempts before a call's analysis is given up (`ANALYSIS_MAX_ATTEMPTS`, at least 1).
    pub max_attempts: u32,
    /// The wait before the second attempt, doubled for each later one (`ANALYSIS_RETRY_BASE_MS`).
    pub retry_base_ms: u64,
    /// The longest wait between attempts (`ANALYSIS_RETRY_MAX_MS`).
    pub retry_max_ms: u64,
    /// How long a worker holds a claimed job before another instance may take it over
    /// (`ANALYSIS_LEASE_SECS`).
    pub lease_secs: u64,
}

/// Logs and traces.
#[derive(Clone, Debug)]
pub struct TelemetrySettings {
    pub otlp_endpoint: Option<Url>,
    pub log_format: LogFormat,
    pub log_filter: String,
}

/// Every setting of the server.
#[derive(Clone, Debug)]
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    pub http_workers: Option<usize>,
    pub max_body_bytes: usize,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub environment: Environment,
    pub secret_key: Option<Secret>,
    pub public_url: Option<Url>,
    pub frontend_url: Option<Url>,
    pub cors_origins: Vec<String>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub openai: OpenAiSettings,
    pub deepgram: ProviderEndpoint,
    pub elevenlabs: ProviderEndpoint,
    pub speech: SpeechSettings,
    pub twilio: TwilioSettings,
    pub google: GoogleSettings,
    pub pinecone: PineconeSettings,
    pub vapi_secret: Option<Secret>,
    pub redis_url: Option<Url>,
    /// The Redis pub/sub channel live events travel on between instances.
    pub events_channel: String,
    pub rate_limits: RateLimitSettings,
    pub call_concurrency_per_org: u32,
    pub call_concurrency_inbound_reserved: u32,
    pub scheduler_poll_ms: u64,
    /// A live phone call not updated for this long is checked with the telephony provider.
    pub call_reconcile_after_secs: u64,
    /// How often the reconciler looks for such calls.
    pub call_reconcile_poll_secs: u64,
    pub analysis: AnalysisSettings,
    pub webhooks: WebhookSettings,
    pub telemetry: TelemetrySettings,
    pub knowledge: KnowledgeSettings,
}

/// Which embedder turns knowledge into vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbedderChoice {
    /// The lexical embedder: no account, no network.
    Local,
    /// OpenAI's embeddings (`OPENAI_EMBEDDING_MODEL`), which understand paraphrases.
    OpenAi,
}

/// Knowledge-base uploads and chunking.
#[derive(Clone, Copy, Debug)]
pub struct KnowledgeSettings {
    /// The largest file accepted in one upload.
    pub max_upload_bytes: usize,
    pub chunking: ChunkingOptions,
    pub embedder: EmbedderChoice,
}

/// Minimum length of `SECRET_KEY` in production: 32 characters of randomness at least.
pub const MIN_SECRET_KEY_CHARS: usize = 32;
const LOG_LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Reads settings by name from a source (the process environment, or a map in tests).
struct Reader<'a> {
    source: &'a dyn Fn(&str) -> Option<String>,
}

impl Reader<'_> {
    /// The trimmed value, with empty values treated as unset (as `.env` files leave them).
    fn get(&self, name: &str) -> Option<String> {
        (self.source)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn secret(&self, name: &str) -> Option<Secret> {
        self.get(name).map(Secret::new)
    }

    fn parsed<T: FromStr>(
        &self,
        name: &'static str,
        default: T,
        expected: &str,
    ) -> Result<T, SettingsError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|_| invalid(name, format!("{raw:?} is not {expected}"))),
        }
    }

    fn url(&self, name: &'static str) -> Result<Option<Url>, SettingsError> {
        self.get(name).map(|raw| parse_url(name, &raw)).transpose()
    }

    fn url_or(&self, name: &'static str, default: &str) -> Result<Url, SettingsError> {
        parse_url(name, &self.get(name).unwrap_or_else(|| default.to_owned()))
    }
}

fn parse_url(name: &'static str, raw: &str) -> Result<Url, SettingsError> {
    let url = Url::parse(raw).map_err(|e| invalid(name, format!("{raw:?} is not a URL ({e})")))?;
    match url.scheme() {
        "http" | "https" | "ws" | "wss" | "redis" | "rediss" if url.host().is_some() => Ok(url),
        _ => Err(invalid(
            name,
            format!("{raw:?} must be an http(s), ws(s) or redis URL with a host"),
        )),
    }
}

/// A URL that may be given as a bare host: `PUBLIC_URL` often is (`abc.ngrok-free.app`), and
/// Pinecone's API reports an index's host without a scheme. https is then meant.
fn parse_host_url(name: &'static str, raw: &str) -> Result<Url, SettingsError> {
    if raw.contains("://") {
        parse_url(name, raw)
    } else {
        parse_url(name, &format!("https://{raw}"))
    }
}

fn parse_log_filter(raw: &str) -> Result<String, SettingsError> {
    for directive in raw.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = match directive.rsplit_once('=') {
            Some((target, level)) if !target.is_empty() => level,
            Some(_) => directive,
            // A bare word is a level; module paths without a level must say `target=level`.
            None => directive,
        };
        if !LOG_LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(invalid(
                "RUST_LOG",
                format!(
                    "unknown log level {level:?} in {raw:?} (use one of {} or target=level)",
                    LOG_LEVELS.join(", ")
                ),
            ));
        }
    }
    Ok(raw.to_owned())
}

impl Settings {
    /// Reads settings from the process environment.
    ///
    /// # Errors
    /// The first setting whose value cannot be used.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_source(&|name| std::env::var(name).ok())
    }

    /// Reads settings from a map, for tests.
    ///
    /// # Errors
    /// The first setting whose value cannot be used.
    pub fn from_map(values: &BTreeMap<String, String>) -> Result<Self, SettingsError> {
        Self::from_source(&|name| values.get(name).cloned())
    }

    fn from_source(source: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let r = Reader { source };
        let environment = match r.get("SWITCHBOARD_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "SWITCHBOARD_ENV",
                    format!("{other:?} is not development or production"),
                ));
            }
        };
        let validate_signatures = r.parsed("TWILIO_VALIDATE_SIGNATURES", true, "true or false")?;
        let transcript_page_size =
            r.parsed("TWILIO_TRANSCRIPT_PAGE_SIZE", 1000, "a number of sentences")?;
        if !(1..=5000).contains(&transcript_page_size) {
            return Err(invalid(
                "TWILIO_TRANSCRIPT_PAGE_SIZE",
                "must be between 1 and 5000",
            ));
        }
        let transcript_max_pages =
            r.parsed("TWILIO_TRANSCRIPT_MAX_PAGES", 100, "a number of pages")?;
        if transcript_max_pages == 0 {
            return Err(invalid(
                "TWILIO_TRANSCRIPT_MAX_PAGES",
                "must be more than 0",
            ));
        }
        if !validate_signatures && environment == Environment::Production {
            return Err(invalid(
                "TWILIO_VALIDATE_SIGNATURES",
                "cannot be false when SWITCHBOARD_ENV=production",
            ));
        }
        let secret_key = r.secret("SECRET_KEY");
        if environment == Environment::Production {
            match &secret_key {
                None => {
                    return Err(invalid(
                        "SECRET_KEY",
                        "required when SWITCHBOARD_ENV=production",
                    ));
                }
                Some(key) if key.expose().chars().count() < MIN_SECRET_KEY_CHARS => {
                    return Err(invalid(
                        "SECRET_KEY",
                        format!("must be at least {MIN_SECRET_KEY_CHARS} characters in production"),
                    ));
                }
                Some(_) => {}
            }
        }
        let data_dir = PathBuf::from(r.get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = match r.get("DATABASE_URL") {
            None => format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("switchboard.db").display()
            ),
            Some(url)
                if url.starts_with("sqlite:")
                    || url.starts_with("postgres://")
                    || url.starts_with("postgresql://") =>
            {
                url
            }
            Some(_) => {
                return Err(invalid(
                    "DATABASE_URL",
                    "must start with sqlite: or postgres://",
                ));
            }
        };
        let log_format = match r.get("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("compact") => LogFormat::Compact,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("{other:?} is not pretty, compact or json"),
                ));
            }
        };
        let http_workers = match r.get("HTTP_WORKERS") {
            None => None,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(invalid(
                        "HTTP_WORKERS",
                        format!("{raw:?} is not a positive number"),
                    ));
                }
            },
        };
        let cors_origins = r
            .get("CORS_ORIGINS")
            .map(|raw| {
                raw.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_owned())
                    .filter(|o| !o.is_empty())
                    .map(|o| {
                        if o == "*" {
                            Ok(o)
                        } else {
                            parse_url("CORS_ORIGINS", &o).map(|_| o)
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let access_token_ttl_secs =
            r.parsed("ACCESS_TOKEN_TTL_SECS", 15 * 60, "a number of seconds")?;
        let refresh_token_ttl_secs = r.parsed(
            "REFRESH_TOKEN_TTL_SECS",
            30 * 24 * 3600,
            "a number of seconds",
        )?;
        if access_token_ttl_secs == 0 || refresh_token_ttl_secs == 0 {
            let setting = if access_token_ttl_secs == 0 {
                "ACCESS_TOKEN_TTL_SECS"
            } else {
                "REFRESH_TOKEN_TTL_SECS"
            };
            return Err(invalid(setting, "must be more than 0"));
        }
        let chunk_chars = r.parsed(
            "KNOWLEDGE_CHUNK_CHARS",
            ChunkingOptions::DEFAULT_MAX_CHARS,
            "a number of characters",
        )?;
        let chunk_overlap = r.parsed(
            "KNOWLEDGE_CHUNK_OVERLAP_CHARS",
            ChunkingOptions::DEFAULT_OVERLAP_CHARS,
            "a number of characters",
        )?;
        let chunking = ChunkingOptions::new(chunk_chars, chunk_overlap).map_err(|e| {
            let setting = if matches!(
                e,
                switchboard_domain::knowledge::ChunkingOptionsError::OverlapTooLarge
            ) {
                "KNOWLEDGE_CHUNK_OVERLAP_CHARS"
            } else {
                "KNOWLEDGE_CHUNK_CHARS"
            };
            invalid(setting, e.to_string())
        })?;
        let max_upload_bytes = r.parsed(
            "KNOWLEDGE_MAX_UPLOAD_BYTES",
            10 * 1024 * 1024,
            "a number of bytes",
        )?;
        if max_upload_bytes == 0 {
            return Err(invalid("KNOWLEDGE_MAX_UPLOAD_BYTES", "must be more than 0"));
        }
        let openai = OpenAiSettings {
            api_key: r.secret("OPENAI_API_KEY"),
            base_url: r.url_or("OPENAI_BASE_URL", "https://api.openai.com/v1")?,
            model: r
                .get("OPENAI_MODEL")
                .unwrap_or_else(|| "gpt-4o-mini".into()),
            organization: r.get("OPENAI_ORGANIZATION"),
            embedding_model: r
                .get("OPENAI_EMBEDDING_MODEL")
                .unwrap_or_else(|| "text-embedding-3-small".into()),
            embedding_dimensions: r
                .get("OPENAI_EMBEDDING_DIMENSIONS")
                .map(|raw| match raw.parse::<usize>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(invalid(
                        "OPENAI_EMBEDDING_DIMENSIONS",
                        format!("{raw:?} is not a positive number"),
                    )),
                })
                .transpose()?,
            timeout_ms: r.parsed("OPENAI_TIMEOUT_MS", 30_000, "a number of milliseconds")?,
            stream_timeout_ms: r.parsed(
                "OPENAI_STREAM_TIMEOUT_MS",
                10_000,
                "a number of milliseconds",
            )?,
            max_retries: r.parsed("OPENAI_MAX_RETRIES", 3, "a whole number")?,
        };
        for (setting, value) in [
            ("OPENAI_TIMEOUT_MS", openai.timeout_ms),
            ("OPENAI_STREAM_TIMEOUT_MS", openai.stream_timeout_ms),
        ] {
            if value == 0 {
                return Err(invalid(setting, "must be more than 0"));
            }
        }
        let embedder = match r.get("KNOWLEDGE_EMBEDDER").as_deref() {
            None | Some("local") => EmbedderChoice::Local,
            Some("openai") if r.get("OPENAI_API_KEY").is_some() => EmbedderChoice::OpenAi,
            Some("openai") => {
                return Err(invalid(
                    "KNOWLEDGE_EMBEDDER",
                    "openai needs OPENAI_API_KEY to be set",
                ));
            }
            Some(other) => {
                return Err(invalid(
                    "KNOWLEDGE_EMBEDDER",
                    format!("{other:?} is not local or openai"),
                ));
            }
        };
        // 30 s doubling to at most an hour, 32 attempts: a little over 25 hours of trying.
        let webhooks = WebhookSettings {
            retry_base_ms: r.parsed("WEBHOOK_RETRY_BASE_MS", 30_000, "a number of milliseconds")?,
            retry_max_ms: r.parsed(
                "WEBHOOK_RETRY_MAX_MS",
                3_600_000,
                "a number of milliseconds",
            )?,
            max_attempts: r.parsed("WEBHOOK_MAX_ATTEMPTS", 32, "a whole number")?,
            timeout_ms: r.parsed("WEBHOOK_TIMEOUT_MS", 10_000, "a number of milliseconds")?,
        };
        if webhooks.max_attempts == 0 {
            return Err(invalid("WEBHOOK_MAX_ATTEMPTS", "must be at least 1"));
        }
        if webhooks.timeout_ms == 0 {
            return Err(invalid("WEBHOOK_TIMEOUT_MS", "must be more than 0"));
        }
        let scheduler_poll_ms = r.parsed("SCHEDULER_POLL_MS", 500, "a number of milliseconds")?;
        if scheduler_poll_ms == 0 {
            return Err(invalid("SCHEDULER_POLL_MS", "must be more than 0"));
        }
        let call_reconcile_after_secs =
            r.parsed("CALL_RECONCILE_AFTER_SECS", 600, "a number of seconds")?;
        if call_reconcile_after_secs == 0 {
            return Err(invalid("CALL_RECONCILE_AFTER_SECS", "must be more than 0"));
        }
        let call_reconcile_poll_secs =
            r.parsed("CALL_RECONCILE_POLL_SECS", 60, "a number of seconds")?;
        if call_reconcile_poll_secs == 0 {
            return Err(invalid("CALL_RECONCILE_POLL_SECS", "must be more than 0"));
        }
        let analysis = AnalysisSettings {
            max_attempts: r.parsed("ANALYSIS_MAX_ATTEMPTS", 5, "a whole number")?,
            retry_base_ms: r.parsed(
                "ANALYSIS_RETRY_BASE_MS",
                10_000,
                "a number of milliseconds",
            )?,
            retry_max_ms: r.parsed(
                "ANALYSIS_RETRY_MAX_MS",
                3_600_000,
                "a number of milliseconds",
            )?,
            lease_secs: r.parsed("ANALYSIS_LEASE_SECS", 300, "a number of seconds")?,
        };
        if analysis.max_attempts == 0 {
            return Err(invalid("ANALYSIS_MAX_ATTEMPTS", "must be at least 1"));
        }
        if analysis.lease_secs == 0 {
            return Err(invalid("ANALYSIS_LEASE_SECS", "must be more than 0"));
        }
        Ok(Self {
            knowledge: KnowledgeSettings {
                max_upload_bytes,
                chunking,
                embedder,
            },
            host: r.parsed("HOST", IpAddr::from([127, 0, 0, 1]), "an IP address")?,
            port: r.parsed("PORT", 8080, "a port number (0-65535)")?,
            http_workers,
            max_body_bytes: r.parsed("MAX_BODY_BYTES", 1024 * 1024, "a number of bytes")?,
            data_dir,
            database_url,
            environment,
            secret_key,
            public_url: r
                .get("PUBLIC_URL")
                .map(|raw| parse_host_url("PUBLIC_URL", &raw))
                .transpose()?,
            frontend_url: r.url("FRONTEND_URL")?,
            cors_origins,
            access_token_ttl_secs,
            refresh_token_ttl_secs,
            openai,
            deepgram: ProviderEndpoint {
                api_key: r.secret("DEEPGRAM_API_KEY"),
                base_url: r.url_or("DEEPGRAM_BASE_URL", "https://api.deepgram.com")?,
                model: r.get("DEEPGRAM_MODEL").unwrap_or_else(|| "nova-3".into()),
            },
            elevenlabs: ProviderEndpoint {
                api_key: r.secret("ELEVENLABS_API_KEY"),
                base_url: r.url_or("ELEVENLABS_BASE_URL", "https://api.elevenlabs.io")?,
                model: r
                    .get("ELEVENLABS_MODEL")
                    .unwrap_or_else(|| "eleven_flash_v2_5".into()),
            },
            speech: SpeechSettings {
                stt_provider: r
                    .get("STT_PROVIDER")
                    .map(|raw| SttProvider::parse(&raw).map_err(|m| invalid("STT_PROVIDER", m)))
                    .transpose()?,
                tts_provider: r
                    .get("TTS_PROVIDER")
                    .map(|raw| VoiceProvider::parse(&raw).map_err(|m| invalid("TTS_PROVIDER", m)))
                    .transpose()?,
                elevenlabs_voice_id: r
                    .get("ELEVENLABS_VOICE_ID")
                    .unwrap_or_else(|| "21m00Tcm4TlvDq8ikWAM".into()),
                elevenlabs_transport: match r.get("ELEVENLABS_TRANSPORT").as_deref() {
                    None | Some("http") => ElevenLabsTransport::Http,
                    Some("websocket") => ElevenLabsTransport::WebSocket,
                    Some(other) => {
                        return Err(invalid(
                            "ELEVENLABS_TRANSPORT",
                            format!("{other:?} is not http or websocket"),
                        ));
                    }
                },
                openai_tts_model: r.get("OPENAI_TTS_MODEL").unwrap_or_else(|| "tts-1".into()),
                openai_tts_voice: r.get("OPENAI_TTS_VOICE").unwrap_or_else(|| "alloy".into()),
                openai_stt_model: r
                    .get("OPENAI_STT_MODEL")
                    .unwrap_or_else(|| "whisper-1".into()),
            },
            twilio: TwilioSettings {
                account_sid: r.get("TWILIO_ACCOUNT_SID"),
                auth_token: r.secret("TWILIO_AUTH_TOKEN"),
                phone_number: r.get("TWILIO_PHONE_NUMBER"),
                base_url: r.url_or("TWILIO_BASE_URL", "https://api.twilio.com")?,
                intelligence_base_url: r.url_or(
                    "TWILIO_INTELLIGENCE_BASE_URL",
                    "https://intelligence.twilio.com",
                )?,
                transcript_page_size,
                transcript_max_pages,
                validate_signatures,
            },
            google: GoogleSettings {
                client_id: r.get("GOOGLE_CLIENT_ID"),
                client_secret: r.secret("GOOGLE_CLIENT_SECRET"),
                redirect_uri: r.url("GOOGLE_REDIRECT_URI")?,
                oauth_base_url: r.url_or("GOOGLE_OAUTH_BASE_URL", "https://accounts.google.com")?,
                token_url: r.url_or("GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token")?,
                calendar_base_url: r.url_or(
                    "GOOGLE_CALENDAR_BASE_URL",
                    "https://www.googleapis.com/calendar/v3",
                )?,
            },
            pinecone: PineconeSettings {
                api_key: r.secret("PINECONE_API_KEY"),
                index_host: r
                    .get("PINECONE_INDEX_HOST")
                    .map(|raw| parse_host_url("PINECONE_INDEX_HOST", &raw))
                    .transpose()?,
            },
            vapi_secret: r.secret("VAPI_SECRET"),
            redis_url: r.url("REDIS_URL")?,
            events_channel: r
                .get("EVENTS_CHANNEL")
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "switchboard:events".to_owned()),
            rate_limits: RateLimitSettings {
                auth_per_min: r.parsed("RATE_LIMIT_AUTH_PER_MIN", 5, "a whole number")?,
                calls_per_min: r.parsed("RATE_LIMIT_CALLS_PER_MIN", 2, "a whole number")?,
                scenarios_per_min: r.parsed(
                    "RATE_LIMIT_SCENARIOS_PER_MIN",
                    10,
                    "a whole number",
                )?,
            },
            call_concurrency_per_org: r.parsed("CALL_CONCURRENCY_PER_ORG", 50, "a whole number")?,
            call_concurrency_inbound_reserved: r.parsed(
                "CALL_CONCURRENCY_INBOUND_RESERVED",
                5,
                "a whole number",
            )?,
            scheduler_poll_ms,
            call_reconcile_after_secs,
            call_reconcile_poll_secs,
            analysis,
            webhooks,
            telemetry: TelemetrySettings {
                otlp_endpoint: r.url("OTEL_EXPORTER_OTLP_ENDPOINT")?,
                log_format,
                log_filter: parse_log_filter(
                    &r.get("RUST_LOG").unwrap_or_else(|| "info".to_owned()),
                )?,
            },
        })
    }

    /// Each provider and whether it is configured, with the setting that enables it.
    #[must_use]
    pub fn providers(&self) -> Vec<ProviderStatus> {
        let status = |name, configured, setting| ProviderStatus {
            name,
            configured,
            setting,
        };
        vec![
            status("openai", self.openai.api_key.is_some(), "OPENAI_API_KEY"),
            status(
                "deepgram",
                self.deepgram.api_key.is_some(),
                "DEEPGRAM_API_KEY",
            ),
            status(
                "elevenlabs",
                self.elevenlabs.api_key.is_some(),
                "ELEVENLABS_API_KEY",
            ),
            status(
                "twilio",
                self.twilio.account_sid.is_some() && self.twilio.auth_token.is_some(),
                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
            ),
            status(
                "google_calendar",
                self.google.client_id.is_some() && self.google.client_secret.is_some(),
                "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET",
            ),
            status(
                "pinecone",
                self.pinecone.api_key.is_some() && self.pinecone.index_host.is_some(),
                "PINECONE_API_KEY and PINECONE_INDEX_HOST",
            ),
            status("vapi", self.vapi_secret.is_some(), "VAPI_SECRET"),
            status("redis", self.redis_url.is_some(), "REDIS_URL"),
        ]
    }
}

/// Whether one provider is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProviderStatus {
    pub name: &'static str,
    pub configured: bool,
    pub setting: &'static str,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_map(&map)
    }

    fn error_of(pairs: &[(&str, &str)]) -> SettingsError {
        settings(pairs).unwrap_err()
    }

    #[test]
    fn defaults_need_nothing() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.host.to_string(), "127.0.0.1");
        assert_eq!(s.port, 8080);
        assert_eq!(s.environment, Environment::Development);
        assert!(s.database_url.starts_with("sqlite://"));
        assert!(s.database_url.contains("switchboard.db"));
        assert_eq!(s.openai.base_url.as_str(), "https://api.openai.com/v1");
        assert_eq!(s.openai.model, "gpt-4o-mini");
        assert_eq!(s.openai.embedding_model, "text-embedding-3-small");
        assert_eq!(s.openai.embedding_dimensions, None);
        assert_eq!(s.openai.organization, None);
        assert_eq!(s.openai.timeout_ms, 30_000);
        assert_eq!(s.openai.stream_timeout_ms, 10_000);
        assert_eq!(s.openai.max_retries, 3);
        assert_eq!(s.rate_limits.auth_per_min, 5);
        assert_eq!(s.rate_limits.calls_per_min, 2);
        assert_eq!(s.rate_limits.scenarios_per_min, 10);
        assert_eq!(s.call_concurrency_per_org, 50);
        assert_eq!(s.scheduler_poll_ms, 500);
        assert_eq!(s.call_reconcile_after_secs, 600);
        assert_eq!(s.call_reconcile_poll_secs, 60);
        assert_eq!(s.analysis.max_attempts, 5);
        assert_eq!(s.analysis.retry_base_ms, 10_000);
        assert_eq!(s.analysis.retry_max_ms, 3_600_000);
        assert_eq!(s.analysis.lease_secs, 300);
        assert!(s.providers().iter().all(|p| !p.configured));
    }

    #[test]
    fn webhooks_keep_trying_for_more_than_a_day_by_default() {
        let s = settings(&[]).unwrap();
        let w = s.webhooks;
        let span = switchboard_domain::backoff::span(
            std::time::Duration::from_millis(w.retry_base_ms),
            std::time::Duration::from_millis(w.retry_max_ms),
            w.max_attempts,
        );
        assert!(span > std::time::Duration::from_secs(24 * 3600), "{span:?}");
        assert!(span < std::time::Duration::from_secs(27 * 3600), "{span:?}");
        for (name, value) in [("WEBHOOK_MAX_ATTEMPTS", "0"), ("WEBHOOK_TIMEOUT_MS", "0")] {
            assert!(error_of(&[(name, value)]).to_string().contains(name));
        }
    }

    #[test]
    fn each_bad_value_names_its_setting() {
        for (name, value) in [
            ("PORT", "eighty"),
            ("PORT", "70000"),
            ("HOST", "localhost:80"),
            ("OPENAI_BASE_URL", "not a url"),
            ("OPENAI_EMBEDDING_DIMENSIONS", "0"),
            ("OPENAI_EMBEDDING_DIMENSIONS", "wide"),
            ("OPENAI_TIMEOUT_MS", "0"),
            ("OPENAI_STREAM_TIMEOUT_MS", "0"),
            ("OPENAI_MAX_RETRIES", "-1"),
            ("DEEPGRAM_BASE_URL", "ftp://example.com"),
            ("STT_PROVIDER", "watson"),
            ("TTS_PROVIDER", "polly"),
            ("ELEVENLABS_TRANSPORT", "carrier-pigeon"),
            ("RUST_LOG", "verbose"),
            ("RUST_LOG", "switchboard=loud"),
            ("LOG_FORMAT", "xml"),
            ("SWITCHBOARD_ENV", "staging"),
            ("DATABASE_URL", "mysql://db/x"),
            ("RATE_LIMIT_AUTH_PER_MIN", "-1"),
            ("SCHEDULER_POLL_MS", "soon"),
            ("SCHEDULER_POLL_MS", "0"),
            ("CALL_RECONCILE_AFTER_SECS", "0"),
            ("CALL_RECONCILE_POLL_SECS", "0"),
            ("CALL_RECONCILE_POLL_SECS", "often"),
            ("ANALYSIS_MAX_ATTEMPTS", "0"),
            ("ANALYSIS_MAX_ATTEMPTS", "many"),
            ("ANALYSIS_RETRY_BASE_MS", "-5"),
            ("ANALYSIS_RETRY_MAX_MS", "later"),
            ("ANALYSIS_LEASE_SECS", "0"),
            ("CORS_ORIGINS", "http://ok.example, nope"),
            ("HTTP_WORKERS", "0"),
            ("ACCESS_TOKEN_TTL_SECS", "0"),
            ("KNOWLEDGE_CHUNK_CHARS", "50"),
            ("KNOWLEDGE_CHUNK_OVERLAP_CHARS", "700"),
            ("KNOWLEDGE_MAX_UPLOAD_BYTES", "0"),
            ("KNOWLEDGE_EMBEDDER", "semantic"),
            ("KNOWLEDGE_EMBEDDER", "openai"),
        ] {
            let err = error_of(&[(name, value)]);
            assert_eq!(err.setting, name, "{name}={value} gave {err}");
            assert!(err.to_string().starts_with(&format!("{name}: ")), "{err}");
        }
    }

    #[test]
    fn production_requires_a_long_secret_key() {
        assert_eq!(
            error_of(&[("SWITCHBOARD_ENV", "production")]).setting,
            "SECRET_KEY"
        );
        assert_eq!(
            error_of(&[("SWITCHBOARD_ENV", "production"), ("SECRET_KEY", "short")]).setting,
            "SECRET_KEY"
        );
        let key = "k".repeat(MIN_SECRET_KEY_CHARS);
        assert!(settings(&[("SWITCHBOARD_ENV", "production"), ("SECRET_KEY", &key)]).is_ok());
    }

    #[test]
    fn only_development_may_skip_twilio_signatures() {
        let key = "k".repeat(MIN_SECRET_KEY_CHARS);
        assert_eq!(
            error_of(&[
                ("SWITCHBOARD_ENV", "production"),
                ("SECRET_KEY", &key),
                ("TWILIO_VALIDATE_SIGNATURES", "false"),
            ])
            .setting,
            "TWILIO_VALIDATE_SIGNATURES"
        );
        assert!(
            !settings(&[("TWILIO_VALIDATE_SIGNATURES", "false")])
                .unwrap()
                .twilio
                .validate_signatures
        );
        assert!(settings(&[]).unwrap().twilio.validate_signatures);
        assert_eq!(
            error_of(&[("TWILIO_VALIDATE_SIGNATURES", "maybe")]).setting,
            "TWILIO_VALIDATE_SIGNATURES"
        );
    }

    #[test]
    fn log_filters() {
        for good in ["info", "WARN", "switchboard=debug,actix_web=warn", "off"] {
            assert!(parse_log_filter(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn public_url_may_be_a_bare_host() {
        let s = settings(&[("PUBLIC_URL", "abc.ngrok-free.app")]).unwrap();
        assert_eq!(
            s.public_url.map(|u| u.to_string()),
            Some("https://abc.ngrok-free.app/".into())
        );
    }

    #[test]
    fn pinecone_index_host_may_be_a_bare_host() {
        let s = settings(&[(
            "PINECONE_INDEX_HOST",
            "my-index-abc123.svc.us-east-1-aws.pinecone.io",
        )])
        .unwrap();
        assert_eq!(
            s.pinecone.index_host.map(|u| u.to_string()),
            Some("https://my-index-abc123.svc.us-east-1-aws.pinecone.io/".into())
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let s = settings(&[("PORT", ""), ("OPENAI_API_KEY", " ")]).unwrap();
        assert_eq!(s.port, 8080);
        assert!(s.openai.api_key.is_none());
    }

    #[test]
    fn secrets_never_print() {
        let s = settings(&[
            ("OPENAI_API_KEY", "sk-live-123"),
            ("SECRET_KEY", "hush-hush"),
        ])
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("sk-live-123"));
        assert!(!printed.contains("hush-hush"));
    }

    #[test]
    fn env_example_lists_exactly_the_settings_read_and_its_values_parse() {
        let example = include_str!("../../../.env.example");
        let values: BTreeMap<String, String> = example
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
        let result = Settings::from_source(&|name| {
            asked.borrow_mut().insert(name.to_owned());
            values.get(name).cloned()
        });
        assert!(result.is_ok(), "{result:?}");
        let documented: std::collections::BTreeSet<String> = values.keys().cloned().collect();
        assert_eq!(documented, asked.into_inner());
    }

    #[test]
    fn providers_follow_their_keys() {
        let s = settings(&[("OPENAI_API_KEY", "sk"), ("TWILIO_ACCOUNT_SID", "AC1")]).unwrap();
        let configured: Vec<&str> = s
            .providers()
            .into_iter()
            .filter(|p| p.configured)
            .map(|p| p.name)
            .collect();
        assert_eq!(configured, ["openai"]);
    }
}
