//! One synthesis as ElevenLabs is asked for it, whatever the transport: voice, text, output
//! format, voice settings and language, and the JSON both transports send.

use serde::Serialize;

use crate::format::OutputFormat;

/// The slowest and fastest pace ElevenLabs accepts in `voice_settings.speed`.
pub(crate) const SPEED_RANGE: (f32, f32) = (0.7, 1.2);

/// `voice_settings` as ElevenLabs takes it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(crate) struct VoiceSettings {
    pub(crate) stability: f32,
    pub(crate) similarity_boost: f32,
    pub(crate) speed: f32,
}

/// What one `synthesize` call asks ElevenLabs for.
#[derive(Clone, Debug)]
pub(crate) struct Utterance {
    pub(crate) voice: String,
    pub(crate) text: String,
    pub(crate) model_id: String,
    pub(crate) format: OutputFormat,
    pub(crate) settings: VoiceSettings,
    /// ISO 639-1, when the request named a language.
    pub(crate) language: Option<String>,
}

/// The body of `POST /v1/text-to-speech/{voice}/stream` (PROVIDERS.md 3.1).
#[derive(Debug, Serialize)]
pub(crate) struct StreamBody<'a> {
    pub(crate) text: &'a str,
    pub(crate) model_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) language_code: Option<&'a str>,
    pub(crate) voice_settings: VoiceSettings,
}

impl<'a> From<&'a Utterance> for StreamBody<'a> {
    fn from(utterance: &'a Utterance) -> Self {
        Self {
            text: &utterance.text,
            model_id: &utterance.model_id,
            language_code: utterance.language.as_deref(),
            voice_settings: utterance.settings,
        }
    }
}

/// `speed` clamped to what ElevenLabs accepts; a pace that is not a number is the natural one.
pub(crate) fn clamp_speed(speed: f32) -> f32 {
    if speed.is_finite() {
        speed.clamp(SPEED_RANGE.0, SPEED_RANGE.1)
    } else {
        1.0
    }
}

/// The two-letter ISO 639-1 code of a BCP 47 tag (`en-US` gives `en`), which is what
/// `language_code` takes; `None` for tags whose language has no two-letter code.
pub(crate) fn language_code(tag: Option<&str>) -> Option<String> {
    let primary = tag?.trim().split(['-', '_']).next()?;
    (primary.len() == 2 && primary.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| primary.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn speed_is_clamped_to_what_elevenlabs_accepts() {
        assert!((clamp_speed(1.0) - 1.0).abs() < f32::EPSILON);
        assert!((clamp_speed(3.0) - 1.2).abs() < f32::EPSILON);
        assert!((clamp_speed(0.1) - 0.7).abs() < f32::EPSILON);
        assert!((clamp_speed(f32::NAN) - 1.0).abs() < f32::EPSILON);
    }

    #[test]
    fn language_codes_come_from_the_tags_primary_subtag() {
        assert_eq!(language_code(Some("en-US")).as_deref(), Some("en"));
        assert_eq!(language_code(Some("PT_br")).as_deref(), Some("pt"));
        assert_eq!(language_code(Some("de")).as_deref(), Some("de"));
        assert_eq!(language_code(Some("fil-PH")), None);
        assert_eq!(language_code(Some("")), None);
        assert_eq!(language_code(None), None);
    }

    #[test]
    fn the_stream_body_has_elevenlabs_shape() {
        let utterance = Utterance {
            voice: "v".into(),
            text: "Hello.".into(),
            model_id: "eleven_flash_v2_5".into(),
            format: OutputFormat::Ulaw8000,
            settings: VoiceSettings {
                stability: 0.5,
                similarity_boost: 0.75,
                speed: 1.2,
            },
            language: None,
        };
        // Through the text, as sent: an f32 turned straight into a `Value` gains digits.
        let wire = |u: &Utterance| -> serde_json::Value {
            serde_json::from_slice(&serde_json::to_vec(&StreamBody::from(u)).unwrap()).unwrap()
        };
        assert_eq!(
            wire(&utterance),
            json!({"text": "Hello.", "model_id": "eleven_flash_v2_5",
                   "voice_settings": {"stability": 0.5, "similarity_boost": 0.75, "speed": 1.2}})
        );
        let with_language = Utterance {
            language: Some("fr".into()),
            ..utterance
        };
        assert_eq!(wire(&with_language)["language_code"], "fr");
    }
}
