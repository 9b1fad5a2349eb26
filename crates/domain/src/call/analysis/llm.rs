//! The language-model analyser: asks the model for one JSON object, checks it field by field
//! (and the extracted fields against the agent's schema), asks once more with the problems named
//! when the answer does not fit, and gives up after that.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::Value;

use super::model::{AnalysisRequest, AnalyzerKind, CallAnalysis, Category, Resolution, Sentiment};
use super::schema::check_extracted;
use crate::ports::{
    AnalyzeError, CallAnalyzer, ChatEvent, ChatMessage, ChatRequest, ChatRole, LanguageModel,
};

const MAX_SUMMARY_CHARS: usize = 2000;
const MAX_TOPICS: usize = 10;
const MAX_ACTION_ITEMS: usize = 20;
const MAX_ITEM_CHARS: usize = 300;
/// Enough for the JSON object with a long summary and a schema's worth of fields.
const MAX_ANSWER_TOKENS: u32 = 1500;

/// Analyses calls with a chat model through the [`LanguageModel`] port.
#[derive(Clone)]
pub struct LlmCallAnalyzer {
    model: Arc<dyn LanguageModel>,
}

impl std::fmt::Debug for LlmCallAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmCallAnalyzer")
            .field("model", &self.model.name())
            .finish()
    }
}

impl LlmCallAnalyzer {
    /// An analyser asking `model` (its configured default model).
    #[must_use]
    pub fn new(model: Arc<dyn LanguageModel>) -> Self {
        Self { model }
    }

    /// The whole text of one answer.
    async fn ask(&self, messages: &[ChatMessage]) -> Result<String, AnalyzeError> {
        let request = ChatRequest {
            model: String::new(),
            messages: messages.to_vec(),
            tools: Vec::new(),
            // The same call should get the same analysis.
            temperature: Some(0.0),
            max_tokens: Some(MAX_ANSWER_TOKENS),
        };
        let mut stream = self.model.stream(request).await?;
        let mut text = String::new();
        while let Some(event) = stream.next().await {
            match event? {
                ChatEvent::Token(token) => text.push_str(&token),
                ChatEvent::Finished(_) => break,
                ChatEvent::ToolCall(_) | ChatEvent::Usage { .. } => {}
            }
        }
        Ok(text)
    }
}

fn instructions(request: &AnalysisRequest) -> String {
    let extracted = match &request.schema {
        Some(schema) => format!(
            "an object with the fields this JSON schema describes (null for what the call does \
             not tell; required fields must be filled): {schema}"
        ),
        None => "{} (an empty object)".to_owned(),
    };
    format!(
        "You analyse a finished call between an AI agent and a customer. Answer with one JSON \
         object and nothing else, with exactly these keys:\n\
         \"summary\": one to three sentences on what the customer wanted and what happened;\n\
         \"sentiment\": the customer's overall sentiment: \"positive\", \"neutral\", \
         \"negative\" or \"mixed\";\n\
         \"sentiment_score\": a number from -1 (very negative) to 1 (very positive);\n\
         \"category\": a short snake_case label of what the call was about, such as billing, \
         technical_support, scheduling, sales, order_status, complaint or general_inquiry;\n\
         \"resolution\": \"resolved\", \"unresolved\" or \"escalated\" (handed to a person);\n\
         \"key_topics\": up to 5 short phrases;\n\
         \"action_items\": follow-ups someone has to do, as short sentences (empty when none);\n\
         \"extracted\": {extracted}.\n\
         Write the summary, topics and action items in the call's language ({language}).",
        language = request.language,
    )
}

fn first_message(request: &AnalysisRequest) -> String {
    let ending = request
        .end_reason
        .as_deref()
        .map(|reason| format!("\n(The call ended: {reason}.)"))
        .unwrap_or_default();
    format!("Transcript:\n{}{ending}", request.transcript_text())
}

/// The JSON object in an answer, allowing for code fences or a sentence around it.
fn json_object(answer: &str) -> Result<serde_json::Map<String, Value>, String> {
    let (Some(start), Some(end)) = (answer.find('{'), answer.rfind('}')) else {
        return Err("the answer holds no JSON object".to_owned());
    };
    if end < start {
        return Err("the answer holds no JSON object".to_owned());
    }
    match serde_json::from_str::<Value>(&answer[start..=end]) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("the answer is not a JSON object".to_owned()),
        Err(e) => Err(format!("the answer is not valid JSON ({e})")),
    }
}

fn truncated(text: &str, max: usize) -> String {
    text.trim().chars().take(max).collect()
}

fn phrases(
    object: &serde_json::Map<String, Value>,
    key: &str,
    max: usize,
    problems: &mut Vec<String>,
) -> Vec<String> {
    match object.get(key) {
        None => {
            problems.push(format!("{key} is missing"));
            Vec::new()
        }
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|item| truncated(item, MAX_ITEM_CHARS))
            .filter(|item| !item.is_empty())
            .take(max)
            .collect(),
        Some(_) => {
            problems.push(format!("{key} must be an array of strings"));
            Vec::new()
        }
    }
}

fn named<T>(
    object: &serde_json::Map<String, Value>,
    key: &str,
    parse: fn(&str) -> Result<T, String>,
    problems: &mut Vec<String>,
) -> Option<T> {
    match object.get(key).and_then(Value::as_str) {
        None => {
            problems.push(format!("{key} must be a string"));
            None
        }
        Some(raw) => parse(raw)
            .map_err(|m| problems.push(format!("{key}: {m}")))
            .ok(),
    }
}

/// Checks a model's answer; the problems name each bad key.
fn parse_answer(answer: &str, schema: Option<&Value>) -> Result<CallAnalysis, Vec<String>> {
    let object = json_object(answer).map_err(|problem| vec![problem])?;
    let mut problems = Vec::new();
    let summary = match object.get("summary").and_then(Value::as_str) {
        Some(summary) if !summary.trim().is_empty() => truncated(summary, MAX_SUMMARY_CHARS),
        _ => {
            problems.push("summary must be a non-empty string".to_owned());
            String::new()
        }
    };
    let sentiment = named(&object, "sentiment", Sentiment::parse, &mut problems);
    let sentiment_score = match object.get("sentiment_score").and_then(Value::as_f64) {
        Some(score) if (-1.0..=1.0).contains(&score) => Some(score),
        _ => {
            problems.push("sentiment_score must be a number from -1 to 1".to_owned());
            None
        }
    };
    let category = named(&object, "category", Category::parse, &mut problems);
    let resolution = named(&object, "resolution", Resolution::parse, &mut problems);
    let key_topics = phrases(&object, "key_topics", MAX_TOPICS, &mut problems);
    let action_items = phrases(&object, "action_items", MAX_ACTION_ITEMS, &mut problems);
    let extracted = check_extracted(schema, object.get("extracted"))
        .map_err(|more| problems.extend(more))
        .ok();
    match (sentiment, sentiment_score, category, resolution, extracted) {
        (
            Some(sentiment),
            Some(sentiment_score),
            Some(category),
            Some(resolution),
            Some(extracted),
        ) if problems.is_empty() => Ok(CallAnalysis {
            summary,
            sentiment,
            sentiment_score,
            category,
            resolution,
            key_topics,
            action_items,
            extracted,
            analyzer: AnalyzerKind::Llm,
        }),
        _ => Err(problems),
    }
}

#[async_trait]
impl CallAnalyzer for LlmCallAnalyzer {
    #[tracing::instrument(skip_all, fields(call.id = %request.call_id))]
    async fn analyze(&self, request: &AnalysisRequest) -> Result<CallAnalysis, AnalyzeError> {
        let schema = request.schema.as_ref();
        let mut messages = vec![
            ChatMessage::text(ChatRole::System, instructions(request)),
            ChatMessage::text(ChatRole::User, first_message(request)),
        ];
        let answer = self.ask(&messages).await?;
        let problems = match parse_answer(&answer, schema) {
            Ok(analysis) => return Ok(analysis),
            Err(problems) => problems,
        };
        tracing::info!(
            analysis.problems = %problems.join("; "),
            "the model's analysis did not fit; asking once more"
        );
        // Showing the model its own answer and what was wrong with it fixes most slips.
        messages.push(ChatMessage::text(ChatRole::Assistant, answer));
        messages.push(ChatMessage::text(
            ChatRole::User,
            format!(
                "That answer cannot be used: {}. Answer again with only the JSON object \
                 described above.",
                problems.join("; ")
            ),
        ));
        let answer = self.ask(&messages).await?;
        parse_answer(&answer, schema)
            .map_err(|problems| AnalyzeError::InvalidOutput(problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::VecDeque;
    use std::sync::Mutex;

    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::call::{CallTurn, Speaker};
    use crate::ids::CallId;
    use crate::ports::{ChatStream, FinishReason, LlmError};

    /// Answers with scripted texts, in order, or fails; records what it was asked.
    #[derive(Default)]
    struct ScriptedModel {
        answers: Mutex<VecDeque<Option<String>>>,
        requests: Mutex<Vec<ChatRequest>>,
    }

    impl ScriptedModel {
        fn says(self, text: &str) -> Self {
            self.answers
                .lock()
                .unwrap()
                .push_back(Some(text.to_owned()));
            self
        }

        fn fails(self) -> Self {
            self.answers.lock().unwrap().push_back(None);
            self
        }

        fn requests(&self) -> Vec<ChatRequest> {
            self.requests.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl LanguageModel for ScriptedModel {
        fn name(&self) -> &str {
            "scripted"
        }

        async fn stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
            self.requests.lock().unwrap().push(request);
            let answer = self.answers.lock().unwrap().pop_front().flatten();
            let Some(text) = answer else {
                return Err(LlmError::Unavailable("scripted failure".into()));
            };
            // Tokens split mid-word, as models stream them.
            let events: Vec<Result<ChatEvent, LlmError>> = text
                .chars()
                .collect::<Vec<_>>()
                .chunks(7)
                .map(|piece| Ok(ChatEvent::Token(piece.iter().collect())))
                .chain([Ok(ChatEvent::Finished(FinishReason::Stop))])
                .collect();
            Ok(Box::pin(futures_util::stream::iter(events)))
        }
    }

    fn request(schema: Option<Value>) -> AnalysisRequest {
        let call_id = CallId::new();
        let turn = |index, speaker, text: &str| CallTurn {
            call_id,
            index,
            speaker,
            text: text.to_owned(),
            at: Utc::now(),
            latency: None,
        };
        AnalysisRequest {
            call_id,
            transcript: vec![
                turn(0, Speaker::Agent, "Hello, Acme support."),
                turn(
                    1,
                    Speaker::Customer,
                    "My order A-17 never arrived and I am upset.",
                ),
                turn(2, Speaker::Agent, "I will send a replacement today."),
            ],
            schema,
            language: "en".to_owned(),
            end_reason: Some("ended_by_client".to_owned()),
        }
    }

    fn answer(extracted: Value) -> String {
        json!({
            "summary": "The customer's order A-17 never arrived; a replacement is on its way.",
            "sentiment": "Negative",
            "sentiment_score": -0.4,
            "category": "Order Status",
            "resolution": "resolved",
            "key_topics": ["missing order", "replacement"],
            "action_items": ["Ship a replacement for order A-17"],
            "extracted": extracted
        })
        .to_string()
    }

    fn order_schema() -> Value {
        json!({
            "type": "object",
            "properties": {"order_id": {"type": "string"}, "refund": {"type": "boolean"}},
            "required": ["order_id"]
        })
    }

    #[tokio::test]
    async fn a_valid_answer_is_the_analysis() {
        let model = Arc::new(ScriptedModel::default().says(&format!(
            "```json\n{}\n```",
            answer(json!({"order_id": "A-17"}))
        )));
        let analyzer = LlmCallAnalyzer::new(model.clone());
        let analysis = analyzer
            .analyze(&request(Some(order_schema())))
            .await
            .unwrap();
        assert_eq!(analysis.sentiment, Sentiment::Negative);
        assert_eq!(analysis.category.as_str(), "order_status");
        assert_eq!(analysis.resolution, Resolution::Resolved);
        assert_eq!(analysis.analyzer, AnalyzerKind::Llm);
        assert_eq!(
            Value::Object(analysis.extracted),
            json!({"order_id": "A-17", "refund": null})
        );
        let asked = model.requests();
        assert_eq!(asked.len(), 1);
        let system = asked[0].messages[0].content.clone().unwrap();
        assert!(
            system.contains("\"order_id\""),
            "the schema is in the prompt"
        );
        let transcript = asked[0].messages[1].content.clone().unwrap();
        assert!(transcript.contains("Customer: My order A-17 never arrived"));
        assert_eq!(asked[0].temperature, Some(0.0));
    }

    #[tokio::test]
    async fn an_invalid_answer_is_asked_again_with_its_problems() {
        let bad = json!({
            "summary": "",
            "sentiment": "furious",
            "sentiment_score": -3,
            "category": "order",
            "resolution": "resolved",
            "key_topics": "order",
            "action_items": [],
            "extracted": {}
        });
        let model = Arc::new(
            ScriptedModel::default()
                .says(&bad.to_string())
                .says(&answer(json!({"order_id": "A-17", "refund": false}))),
        );
        let analysis = LlmCallAnalyzer::new(model.clone())
            .analyze(&request(Some(order_schema())))
            .await
            .unwrap();
        assert_eq!(analysis.extracted["refund"], json!(false));
        let asked = model.requests();
        assert_eq!(asked.len(), 2);
        let retry = &asked[1].messages;
        assert_eq!(retry.len(), 4);
        assert_eq!(retry[2].role, ChatRole::Assistant);
        let correction = retry[3].content.clone().unwrap();
        for named in [
            "summary",
            "sentiment:",
            "sentiment_score",
            "key_topics",
            "extracted.order_id is required",
        ] {
            assert!(correction.contains(named), "{named} in {correction}");
        }
    }

    #[tokio::test]
    async fn two_invalid_answers_fail() {
        let model = Arc::new(
            ScriptedModel::default()
                .says("I'd rather not.")
                .says(&answer(json!({"refund": "maybe"}))),
        );
        let error = LlmCallAnalyzer::new(model.clone())
            .analyze(&request(Some(order_schema())))
            .await
            .unwrap_err();
        match error {
            AnalyzeError::InvalidOutput(problems) => {
                assert!(
                    problems.contains("extracted.order_id is required"),
                    "{problems}"
                );
                assert!(problems.contains("extracted.refund must be of type boolean"));
            }
            other => panic!("expected InvalidOutput, got {other:?}"),
        }
        assert_eq!(model.requests().len(), 2, "one retry, no more");
    }

    #[tokio::test]
    async fn a_failing_model_fails_without_a_retry() {
        let model = Arc::new(ScriptedModel::default().fails());
        let error = LlmCallAnalyzer::new(model.clone())
            .analyze(&request(None))
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            AnalyzeError::Model(LlmError::Unavailable(_))
        ));
        assert_eq!(model.requests().len(), 1);
    }

    #[tokio::test]
    async fn without_a_schema_extracted_is_an_empty_object() {
        let model = Arc::new(ScriptedModel::default().says(&answer(json!({}))));
        let analysis = LlmCallAnalyzer::new(model)
            .analyze(&request(None))
            .await
            .unwrap();
        assert!(analysis.extracted.is_empty());
        assert_eq!(analysis.key_topics, ["missing order", "replacement"]);
    }
}
