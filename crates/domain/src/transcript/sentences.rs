//! Reading the sentences of a stored Voice Intelligence transcript. The copies are kept in
//! Twilio's own format on purpose (clients read them as Twilio's API answers them), so the
//! enhanced view reads that format here, leniently: `start_time`, `end_time` and `confidence`
//! are nullable strings in Twilio's specification and decimal numbers in real data, and any
//! field may be missing.

use serde_json::Value;

/// One sentence of a Voice Intelligence transcript.
#[derive(Clone, Debug, PartialEq)]
pub struct Sentence {
    /// `media_channel`: which audio channel said it.
    pub channel: u32,
    pub text: String,
    /// Seconds from the start of the media.
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    /// 0 to 1.
    pub confidence: Option<f64>,
    /// How many words: the `words` list when present, else the text's.
    pub word_count: u64,
}

impl Sentence {
    /// Reads one stored sentence object; a value that is not an object reads as an empty
    /// sentence on channel 0 rather than failing the whole transcript.
    #[must_use]
    pub fn read(value: &Value) -> Self {
        let text = value
            .get("transcript")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let word_count = value
            .get("words")
            .and_then(Value::as_array)
            .map_or_else(|| count_words(&text), |words| words.len() as u64);
        Self {
            channel: value
                .get("media_channel")
                .and_then(number)
                .and_then(|n| {
                    // Channels are small whole numbers; anything else names no channel.
                    (n >= 0.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX)).then_some(n as u32)
                })
                .unwrap_or(0),
            start_time: value.get("start_time").and_then(number),
            end_time: value.get("end_time").and_then(number),
            confidence: value.get("confidence").and_then(number),
            word_count,
            text,
        }
    }
}

/// Words in `text`, split at white space.
pub(super) fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// A number, or a string holding one (`"1.25"`); null, empty and other text are none.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Sentence;

    #[test]
    fn sentences_read_numbers_from_strings_and_numbers() {
        let sentence = Sentence::read(&json!({
            "media_channel": 2, "sentence_index": 0, "transcript": "Hello there friend",
            "start_time": "1.5", "end_time": 2.75, "confidence": "0.9",
            "words": [{"word": "Hello"}, {"word": "there"}]
        }));
        assert_eq!(sentence.channel, 2);
        assert_eq!(sentence.start_time, Some(1.5));
        assert_eq!(sentence.end_time, Some(2.75));
        assert_eq!(sentence.confidence, Some(0.9));
        // The words list is Twilio's count.
        assert_eq!(sentence.word_count, 2);

        let bare = Sentence::read(&json!({"transcript": "one two three", "start_time": null}));
        assert_eq!(bare.channel, 0);
        assert_eq!(bare.start_time, None);
        assert_eq!(bare.word_count, 3);
        assert_eq!(Sentence::read(&json!("text")).text, "");
    }
}
