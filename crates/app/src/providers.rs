//! Choosing provider adapters from the settings: the language model when `OPENAI_API_KEY` is
//! set, the knowledge embedder `KNOWLEDGE_EMBEDDER` names, and the vector store (Pinecone when
//! `PINECONE_API_KEY` and `PINECONE_INDEX_HOST` are both set, else the database), and Google
//! Calendar when its OAuth client is configured.

use std::sync::Arc;
use std::time::Duration;

use switchboard_deepgram::{DeepgramConfig, DeepgramStt};
use switchboard_domain::agent::{SttProvider, VoiceProvider};
use switchboard_domain::knowledge::{Embedder, VectorStore};
use switchboard_domain::ports::{
    CalendarProvider, LanguageModel, SpeechToText, Telephony, TextToSpeech, TranscriptSource,
};
use switchboard_elevenlabs::{ElevenLabsConfig, ElevenLabsTts};
use switchboard_google::{GoogleCalendar, GoogleConfig};
use switchboard_local::LexicalEmbedder;
use switchboard_openai::{
    ApiKey, EmbeddingConfig, OpenAiChat, OpenAiConfig, OpenAiEmbedder, OpenAiSpeech, OpenAiWhisper,
    SpeechConfig, TranscriptionConfig,
};
use switchboard_pinecone::{PineconeConfig, PineconeVectorStore};
use switchboard_storage::{Database, SeaOrmVectorStore};
use switchboard_twilio::{IntelligenceConfig, TwilioClient, TwilioConfig, TwilioIntelligence};
use tracing::{info, warn};

use crate::settings::{ElevenLabsTransport, EmbedderChoice, Settings};
use crate::voice::speech::SpeechProviders;

fn openai_config(settings: &Settings) -> Option<OpenAiConfig> {
    let openai = &settings.openai;
    let key = openai.api_key.as_ref()?;
    let mut config = OpenAiConfig::new(
        ApiKey::new(key.expose().to_owned()),
        openai.base_url.clone(),
        openai.model.clone(),
    );
    config.organization = openai.organization.clone();
    config.request_timeout = Duration::from_millis(openai.timeout_ms);
    config.first_token_timeout = Duration::from_millis(openai.stream_timeout_ms);
    config.idle_timeout = Duration::from_millis(openai.stream_timeout_ms);
    config.max_retries = openai.max_retries;
    Some(config)
}

/// The chat model, when one is configured.
///
/// # Errors
/// When the configuration cannot make a client (an invalid base URL or key).
pub fn language_model(settings: &Settings) -> anyhow::Result<Option<Arc<dyn LanguageModel>>> {
    openai_config(settings)
        .map(|config| -> anyhow::Result<Arc<dyn LanguageModel>> {
            Ok(Arc::new(OpenAiChat::new(config).map_err(|e| {
                anyhow::anyhow!("OPENAI_BASE_URL/OPENAI_MODEL: {e}")
            })?))
        })
        .transpose()
}

/// The knowledge embedder.
///
/// # Errors
/// When OpenAI embeddings are chosen and cannot be configured.
pub fn embedder(settings: &Settings) -> anyhow::Result<Arc<dyn Embedder>> {
    match (settings.knowledge.embedder, openai_config(settings)) {
        (EmbedderChoice::OpenAi, Some(config)) => {
            let embedding = EmbeddingConfig {
                model: settings.openai.embedding_model.clone(),
                dimensions: settings.openai.embedding_dimensions,
                ..EmbeddingConfig::default()
            };
            Ok(Arc::new(OpenAiEmbedder::new(&config, embedding).map_err(
                |e| anyhow::anyhow!("OPENAI_EMBEDDING_MODEL: {e}"),
            )?))
        }
        _ => Ok(Arc::new(LexicalEmbedder::new())),
    }
}

/// Where knowledge vectors live: a Pinecone index, one namespace per organisation, when both
/// `PINECONE_API_KEY` and `PINECONE_INDEX_HOST` are set; otherwise the database.
///
/// # Errors
/// When Pinecone is chosen and the key or host cannot be used.
pub fn vector_store(
    settings: &Settings,
    database: &Database,
) -> anyhow::Result<Arc<dyn VectorStore>> {
    let pinecone = &settings.pinecone;
    match (&pinecone.api_key, &pinecone.index_host) {
        (Some(key), Some(host)) => {
            let config = PineconeConfig::new(
                switchboard_pinecone::ApiKey::new(key.expose().to_owned()),
                host.clone(),
            );
            let store = PineconeVectorStore::new(&config)
                .map_err(|e| anyhow::anyhow!("PINECONE_API_KEY/PINECONE_INDEX_HOST: {e}"))?;
            info!(pinecone.host = %host, "knowledge vectors are kept in Pinecone");
            Ok(Arc::new(store))
        }
        (key, host) => {
            if key.is_some() != host.is_some() {
                warn!(
                    "only one of PINECONE_API_KEY and PINECONE_INDEX_HOST is set; knowledge \
                     vectors are kept in the database"
                );
            }
            Ok(Arc::new(SeaOrmVectorStore::new(database.clone())))
        }
    }
}

/// Puts the preferred provider first, so it is the default.
fn preferred_first<P: PartialEq, T>(mut list: Vec<(P, T)>, preferred: Option<P>) -> Vec<(P, T)> {
    if let Some(preferred) = preferred
        && let Some(at) = list.iter().position(|(name, _)| *name == preferred)
    {
        let chosen = list.remove(at);
        list.insert(0, chosen);
    }
    list
}

/// The speech providers live calls can use: each one whose key is set, the one `STT_PROVIDER` /
/// `TTS_PROVIDER` names first.
///
/// # Errors
/// When a configured provider cannot be set up (an invalid base URL or key).
pub fn speech(settings: &Settings) -> anyhow::Result<SpeechProviders> {
    let speech = &settings.speech;
    let mut recognisers: Vec<(SttProvider, Arc<dyn SpeechToText>)> = Vec::new();
    let mut voices: Vec<(VoiceProvider, Arc<dyn TextToSpeech>)> = Vec::new();
    if let Some(key) = &settings.deepgram.api_key {
        let mut config = DeepgramConfig::with_base_url(
            switchboard_deepgram::ApiKey::new(key.expose().to_owned()),
            settings.deepgram.base_url.clone(),
        );
        config.model.clone_from(&settings.deepgram.model);
        let stt = DeepgramStt::new(config)
            .map_err(|e| anyhow::anyhow!("DEEPGRAM_API_KEY/DEEPGRAM_BASE_URL: {e}"))?;
        recognisers.push((SttProvider::Deepgram, Arc::new(stt)));
    }
    if let Some(key) = &settings.elevenlabs.api_key {
        let mut config = ElevenLabsConfig::new(
            switchboard_elevenlabs::ApiKey::new(key.expose().to_owned()),
            speech.elevenlabs_voice_id.clone(),
        );
        config.base_url = settings.elevenlabs.base_url.clone();
        config.model_id.clone_from(&settings.elevenlabs.model);
        config.transport = match speech.elevenlabs_transport {
            ElevenLabsTransport::Http => switchboard_elevenlabs::ElevenLabsTransport::Http,
            ElevenLabsTransport::WebSocket => {
                switchboard_elevenlabs::ElevenLabsTransport::WebSocket
            }
        };
        let tts = ElevenLabsTts::new(config)
            .map_err(|e| anyhow::anyhow!("ELEVENLABS_API_KEY/ELEVENLABS_BASE_URL: {e}"))?;
        voices.push((VoiceProvider::Elevenlabs, Arc::new(tts)));
    }
    if let Some(config) = openai_config(settings) {
        let tts = OpenAiSpeech::new(
            &config,
            SpeechConfig {
                model: speech.openai_tts_model.clone(),
                default_voice: speech.openai_tts_voice.clone(),
            },
        )
        .map_err(|e| anyhow::anyhow!("OPENAI_TTS_MODEL/OPENAI_TTS_VOICE: {e}"))?;
        voices.push((VoiceProvider::Openai, Arc::new(tts)));
        let stt = OpenAiWhisper::new(
            &config,
            TranscriptionConfig {
                model: speech.openai_stt_model.clone(),
                ..TranscriptionConfig::default()
            },
        )
        .map_err(|e| anyhow::anyhow!("OPENAI_STT_MODEL: {e}"))?;
        recognisers.push((SttProvider::Whisper, Arc::new(stt)));
    }
    let mut providers = SpeechProviders::default();
    for (name, port) in preferred_first(recognisers, speech.stt_provider) {
        providers = providers.with_recogniser(name, port);
    }
    for (name, port) in preferred_first(voices, speech.tts_provider) {
        providers = providers.with_voice(name, port);
    }
    info!(speech = ?providers, "speech providers");
    Ok(providers)
}

/// Twilio's account, when `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN` are set.
fn twilio_config(settings: &Settings) -> Option<TwilioConfig> {
    let twilio = &settings.twilio;
    let (Some(sid), Some(token)) = (&twilio.account_sid, &twilio.auth_token) else {
        return None;
    };
    Some(TwilioConfig::with_base_url(
        sid.clone(),
        switchboard_twilio::ApiKey::new(token.expose().to_owned()),
        twilio.base_url.clone(),
    ))
}

/// Twilio, when `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN` are set.
///
/// # Errors
/// When the settings cannot make a client.
pub fn telephony(settings: &Settings) -> anyhow::Result<Option<Arc<dyn Telephony>>> {
    let Some(config) = twilio_config(settings) else {
        return Ok(None);
    };
    let client = TwilioClient::new(&config).map_err(|e| {
        anyhow::anyhow!("TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN/TWILIO_BASE_URL: {e}")
    })?;
    Ok(Some(Arc::new(client)))
}

/// Twilio Voice Intelligence, when `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN` are set.
///
/// # Errors
/// When the settings cannot make a client.
pub fn transcript_source(settings: &Settings) -> anyhow::Result<Option<Arc<dyn TranscriptSource>>> {
    let Some(account) = twilio_config(settings) else {
        return Ok(None);
    };
    let twilio = &settings.twilio;
    let intelligence = IntelligenceConfig {
        base_url: twilio.intelligence_base_url.clone(),
        page_size: twilio.transcript_page_size,
        max_pages: twilio.transcript_max_pages,
    };
    let client = TwilioIntelligence::new(&account, &intelligence).map_err(|e| {
        anyhow::anyhow!(
            "TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN/TWILIO_INTELLIGENCE_BASE_URL/\
             TWILIO_TRANSCRIPT_PAGE_SIZE/TWILIO_TRANSCRIPT_MAX_PAGES: {e}"
        )
    })?;
    Ok(Some(Arc::new(client)))
}

/// The settings Google Calendar needs, named in errors while one is missing.
pub const GOOGLE_SETTINGS: &str = "GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET and GOOGLE_REDIRECT_URI";

/// Google Calendar, when `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET` and `GOOGLE_REDIRECT_URI` are
/// all set.
///
/// # Errors
/// When the settings cannot make a client.
pub fn calendar(settings: &Settings) -> anyhow::Result<Option<Arc<dyn CalendarProvider>>> {
    let google = &settings.google;
    let (Some(client_id), Some(secret), Some(redirect_uri)) = (
        &google.client_id,
        &google.client_secret,
        &google.redirect_uri,
    ) else {
        if google.client_id.is_some() || google.client_secret.is_some() {
            warn!("Google Calendar is not enabled: set all of {GOOGLE_SETTINGS}");
        }
        return Ok(None);
    };
    let config = GoogleConfig::new(
        client_id.clone(),
        switchboard_google::ApiKey::new(secret.expose().to_owned()),
        redirect_uri.clone(),
        google.oauth_base_url.clone(),
        google.token_url.clone(),
        google.calendar_base_url.clone(),
    );
    let calendar = GoogleCalendar::new(config)
        .map_err(|e| anyhow::anyhow!("GOOGLE_CLIENT_ID/GOOGLE_CLIENT_SECRET/GOOGLE_*_URL: {e}"))?;
    Ok(Some(Arc::new(calendar)))
}
