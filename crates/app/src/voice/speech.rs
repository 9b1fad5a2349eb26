//! The speech providers a call gets: the agent's choice (`stt.provider`, `voice.provider`) when
//! that provider is configured, else the first configured one; and, when another provider is
//! configured too, that one as a fallback for when the first fails to start.

use std::sync::Arc;

use async_trait::async_trait;
use switchboard_audio::session::SessionPorts;
use switchboard_domain::agent::{AgentConfig, SttProvider, VoiceProvider};
use switchboard_domain::ports::{
    AudioStream, SpeechError, SpeechRequest, SpeechToText, SttConfig, SttStream, TextToSpeech,
};
use tracing::warn;

/// No provider of a kind is configured.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SpeechUnavailable(pub String);

/// The configured speech providers, by name.
#[derive(Clone, Default)]
pub struct SpeechProviders {
    recognisers: Vec<(SttProvider, Arc<dyn SpeechToText>)>,
    voices: Vec<(VoiceProvider, Arc<dyn TextToSpeech>)>,
}

impl std::fmt::Debug for SpeechProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechProviders")
            .field(
                "recognisers",
                &self.recognisers.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .field(
                "voices",
                &self.voices.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Picks the preferred provider when configured, else the first; the fallback is the first other.
fn choose<P: Copy + PartialEq, T: ?Sized>(
    configured: &[(P, Arc<T>)],
    preferred: Option<P>,
) -> Option<(Arc<T>, Option<Arc<T>>)> {
    let primary = preferred
        .and_then(|p| configured.iter().position(|(name, _)| *name == p))
        .unwrap_or(0);
    let (name, first) = configured.get(primary)?;
    let fallback = configured
        .iter()
        .find(|(other, _)| other != name)
        .map(|(_, port)| Arc::clone(port));
    Some((Arc::clone(first), fallback))
}

impl SpeechProviders {
    /// Adds a recogniser; the first added is the default.
    #[must_use]
    pub fn with_recogniser(mut self, name: SttProvider, port: Arc<dyn SpeechToText>) -> Self {
        self.recognisers.push((name, port));
        self
    }

    /// Adds a voice; the first added is the default.
    #[must_use]
    pub fn with_voice(mut self, name: VoiceProvider, port: Arc<dyn TextToSpeech>) -> Self {
        self.voices.push((name, port));
        self
    }

    /// Whether any recogniser is configured.
    #[must_use]
    pub fn can_listen(&self) -> bool {
        !self.recognisers.is_empty()
    }

    /// Whether live calls can be carried: something listens and something speaks.
    #[must_use]
    pub fn can_carry_calls(&self) -> bool {
        self.can_listen() && !self.voices.is_empty()
    }

    /// The recogniser for an agent.
    ///
    /// # Errors
    /// `SpeechUnavailable` naming the settings when none is configured.
    pub fn recogniser(
        &self,
        agent: Option<&AgentConfig>,
    ) -> Result<Arc<dyn SpeechToText>, SpeechUnavailable> {
        let preferred = agent.map(|a| a.stt.provider);
        let own_provider =
            preferred.is_some_and(|p| self.recognisers.iter().any(|(name, _)| *name == p));
        let (primary, fallback) = choose(&self.recognisers, preferred).ok_or_else(|| {
            SpeechUnavailable(
                "speech recognition is not configured: set DEEPGRAM_API_KEY or OPENAI_API_KEY"
                    .into(),
            )
        })?;
        let primary: Arc<dyn SpeechToText> = if own_provider || preferred.is_none() {
            primary
        } else {
            Arc::new(DefaultModel(primary))
        };
        Ok(match fallback {
            Some(fallback) => Arc::new(FallbackStt { primary, fallback }),
            None => primary,
        })
    }

    /// The voice for an agent. When the agent's own provider is not configured, the default one
    /// speaks in its own default voice (the agent's voice id belongs to the other provider).
    ///
    /// # Errors
    /// `SpeechUnavailable` naming the settings when none is configured.
    pub fn voice(
        &self,
        agent: Option<&AgentConfig>,
    ) -> Result<Arc<dyn TextToSpeech>, SpeechUnavailable> {
        let preferred = agent.map(|a| a.voice.provider);
        let own_provider =
            preferred.is_some_and(|p| self.voices.iter().any(|(name, _)| *name == p));
        let (primary, fallback) = choose(&self.voices, preferred).ok_or_else(|| {
            SpeechUnavailable(
                "speech synthesis is not configured: set ELEVENLABS_API_KEY or OPENAI_API_KEY"
                    .into(),
            )
        })?;
        let primary: Arc<dyn TextToSpeech> = if own_provider || preferred.is_none() {
            primary
        } else {
            Arc::new(DefaultVoice(primary))
        };
        Ok(match fallback {
            Some(fallback) => Arc::new(FallbackTts { primary, fallback }),
            None => primary,
        })
    }

    /// Both ports for a live call with an agent (or a scenario, with the defaults).
    ///
    /// # Errors
    /// `SpeechUnavailable` naming the settings when either kind is missing.
    pub fn for_call(&self, agent: Option<&AgentConfig>) -> Result<SessionPorts, SpeechUnavailable> {
        Ok(SessionPorts {
            stt: self.recogniser(agent)?,
            tts: self.voice(agent)?,
        })
    }
}

/// A recogniser that opens a second provider when the first cannot start.
struct FallbackStt {
    primary: Arc<dyn SpeechToText>,
    fallback: Arc<dyn SpeechToText>,
}

#[async_trait]
impl SpeechToText for FallbackStt {
    fn name(&self) -> &str {
        self.primary.name()
    }

    async fn open(&self, config: SttConfig) -> Result<SttStream, SpeechError> {
        match self.primary.open(config.clone()).await {
            Ok(stream) => Ok(stream),
            // Any failure, a refusal included (a bad key, an unknown model), may be the first
            // provider's alone.
            Err(error) => {
                warn!(%error, provider = self.primary.name(), fallback = self.fallback.name(),
                    "speech recognition failed to start; using the fallback provider");
                // The model named for the first provider means nothing to the second.
                let config = SttConfig {
                    model: String::new(),
                    ..config
                };
                self.fallback.open(config).await
            }
        }
    }

    async fn transcribe(
        &self,
        samples: &[i16],
        sample_rate_hz: u32,
    ) -> Result<String, SpeechError> {
        match self.primary.transcribe(samples, sample_rate_hz).await {
            Ok(text) => Ok(text),
            Err(error) => {
                warn!(%error, provider = self.primary.name(), fallback = self.fallback.name(),
                    "transcription failed; using the fallback provider");
                self.fallback.transcribe(samples, sample_rate_hz).await
            }
        }
    }
}

/// A voice that asks a second provider when the first fails before its first audio.
struct FallbackTts {
    primary: Arc<dyn TextToSpeech>,
    fallback: Arc<dyn TextToSpeech>,
}

#[async_trait]
impl TextToSpeech for FallbackTts {
    fn name(&self) -> &str {
        self.primary.name()
    }

    async fn synthesize(&self, request: &SpeechRequest) -> Result<AudioStream, SpeechError> {
        match self.primary.synthesize(request).await {
            Ok(stream) => Ok(stream),
            Err(error) => {
                warn!(%error, provider = self.primary.name(), fallback = self.fallback.name(),
                    "speech synthesis failed; using the fallback provider");
                // Voice ids belong to one provider: the fallback speaks in its default voice.
                let request = SpeechRequest {
                    voice: String::new(),
                    ..request.clone()
                };
                self.fallback.synthesize(&request).await
            }
        }
    }
}

/// A provider speaking for an agent configured for another one: in its own default voice.
struct DefaultVoice(Arc<dyn TextToSpeech>);

#[async_trait]
impl TextToSpeech for DefaultVoice {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn synthesize(&self, request: &SpeechRequest) -> Result<AudioStream, SpeechError> {
        let request = SpeechRequest {
            voice: String::new(),
            ..request.clone()
        };
        self.0.synthesize(&request).await
    }
}

/// A recogniser listening for an agent configured for another one: with its own default model.
struct DefaultModel(Arc<dyn SpeechToText>);

#[async_trait]
impl SpeechToText for DefaultModel {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn open(&self, config: SttConfig) -> Result<SttStream, SpeechError> {
        self.0
            .open(SttConfig {
                model: String::new(),
                ..config
            })
            .await
    }

    async fn transcribe(
        &self,
        samples: &[i16],
        sample_rate_hz: u32,
    ) -> Result<String, SpeechError> {
        self.0.transcribe(samples, sample_rate_hz).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use switchboard_domain::agent::AgentConfig;

    use super::*;

    /// A voice that notes the voice ids it was asked for, and fails when told to.
    struct Voice {
        name: &'static str,
        fails: bool,
        asked: Mutex<Vec<String>>,
    }

    impl Voice {
        fn new(name: &'static str, fails: bool) -> Arc<Self> {
            Arc::new(Self {
                name,
                fails,
                asked: Mutex::new(Vec::new()),
            })
        }

        fn asked(&self) -> Vec<String> {
            self.asked.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl TextToSpeech for Voice {
        fn name(&self) -> &str {
            self.name
        }

        async fn synthesize(&self, request: &SpeechRequest) -> Result<AudioStream, SpeechError> {
            self.asked.lock().unwrap().push(request.voice.clone());
            if self.fails {
                return Err(SpeechError::Unavailable("down".into()));
            }
            Ok(AudioStream {
                sample_rate_hz: 16_000,
                chunks: Box::pin(futures_util::stream::iter(vec![Ok(vec![1_i16; 160])])),
            })
        }
    }

    fn agent(provider: VoiceProvider, voice: &str) -> AgentConfig {
        let mut config: AgentConfig = serde_json::from_value(serde_json::json!({
            "name": "Ava", "description": "", "system_prompt": "", "first_message": null,
            "language": "en",
            "voice": {"provider": "elevenlabs", "voice_id": "x", "speed": 1.0},
            "llm": {"provider": "openai", "model": "m", "temperature": 0.5, "max_tokens": 100},
            "stt": {"provider": "deepgram", "model": "nova-2", "language": "en"},
            "call_flow": null, "knowledge_document_ids": [], "tools": [],
            "end_call_phrases": [], "max_call_duration_secs": 600, "webhook_url": null
        }))
        .unwrap();
        config.voice.provider = provider;
        config.voice.voice_id = voice.to_owned();
        config
    }

    #[tokio::test]
    async fn the_agents_provider_speaks_in_its_voice_and_the_other_takes_over_on_failure() {
        let eleven = Voice::new("elevenlabs", true);
        let openai = Voice::new("openai", false);
        let providers = SpeechProviders::default()
            .with_voice(VoiceProvider::Elevenlabs, eleven.clone())
            .with_voice(VoiceProvider::Openai, openai.clone());
        let tts = providers
            .voice(Some(&agent(VoiceProvider::Elevenlabs, "rachel")))
            .unwrap();
        let request = SpeechRequest {
            voice: "rachel".into(),
            ..SpeechRequest::new("Hello.", 16_000)
        };
        assert!(tts.synthesize(&request).await.is_ok());
        assert_eq!(eleven.asked(), ["rachel"]);
        // The fallback speaks in its own default voice.
        assert_eq!(openai.asked(), [""]);
    }

    #[tokio::test]
    async fn an_agent_whose_provider_is_missing_gets_the_default_in_its_own_voice() {
        let openai = Voice::new("openai", false);
        let providers =
            SpeechProviders::default().with_voice(VoiceProvider::Openai, openai.clone());
        let tts = providers
            .voice(Some(&agent(VoiceProvider::Elevenlabs, "rachel")))
            .unwrap();
        let request = SpeechRequest {
            voice: "rachel".into(),
            ..SpeechRequest::new("Hello.", 16_000)
        };
        tts.synthesize(&request).await.unwrap();
        assert_eq!(openai.asked(), [""]);
        // An agent of the configured provider keeps its voice.
        let tts = providers
            .voice(Some(&agent(VoiceProvider::Openai, "nova")))
            .unwrap();
        let request = SpeechRequest {
            voice: "nova".into(),
            ..request
        };
        tts.synthesize(&request).await.unwrap();
        assert_eq!(openai.asked(), ["", "nova"]);
    }

    #[test]
    fn missing_providers_name_their_settings() {
        let none = SpeechProviders::default();
        assert!(!none.can_carry_calls());
        let error = none.for_call(None).err().unwrap();
        assert!(error.0.contains("DEEPGRAM_API_KEY"), "{error}");
        let error = none.voice(None).err().unwrap();
        assert!(error.0.contains("ELEVENLABS_API_KEY"), "{error}");
    }
}
