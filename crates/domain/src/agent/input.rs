//! Turning what a client sends into a valid [`AgentConfig`], naming every invalid field at once.
//! Creation starts from defaults; an update starts from the stored configuration and changes only
//! the fields it names.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use super::AgentConfig;
use super::config::{
    AgentTool, BuiltinTool, HttpTool, LlmConfig, LlmProvider, SttConfig, SttProvider, VoiceConfig,
    VoiceProvider,
};
use super::turn_taking::{AgentTurnTaking, TurnTakingInput};
use super::voicemail::{AgentVoicemail, VoicemailInput};
use crate::call::MAX_SCHEMA_PROPERTIES;
use crate::validation::{ValidationErrors, is_http_url};

const MAX_NAME_CHARS: usize = 200;
const MAX_TEXT_CHARS: usize = 20_000;
const MAX_TOOLS: usize = 32;
const MAX_PHRASES: usize = 50;
/// OpenAI's rule for function names, which every tool name must follow.
static TOOL_NAME: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_-]{1,64}$").ok());
static LANGUAGE_TAG: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$").ok());

/// Voice fields as sent; absent fields keep their current value.
#[derive(Clone, Debug, Default)]
pub struct VoiceInput {
    pub provider: Option<String>,
    pub voice_id: Option<String>,
    pub speed: Option<f64>,
}

/// Language-model fields as sent.
#[derive(Clone, Debug, Default)]
pub struct LlmInput {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<i64>,
}

/// Speech-recognition fields as sent.
#[derive(Clone, Debug, Default)]
pub struct SttInput {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub language: Option<String>,
}

/// An HTTP tool as sent.
#[derive(Clone, Debug, Default)]
pub struct HttpToolInput {
    pub name: String,
    pub description: Option<String>,
    pub url: Option<String>,
    pub parameters: Option<serde_json::Value>,
    pub timeout_ms: Option<i64>,
}

/// A tool as sent: a built-in by name, or an HTTP tool.
#[derive(Clone, Debug)]
pub enum ToolInput {
    Builtin(String),
    Http(HttpToolInput),
}

/// An agent's fields as a client sends them. `None` means "not given": defaults on creation,
/// unchanged on update. Empty strings clear the optional texts (`first_message`, `webhook_url`),
/// and `Some(Value::Null)` clears the call flow.
#[derive(Clone, Debug, Default)]
pub struct AgentInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub system_prompt: Option<String>,
    pub first_message: Option<String>,
    pub language: Option<String>,
    pub voice: VoiceInput,
    pub llm: LlmInput,
    pub stt: SttInput,
    pub call_flow: Option<serde_json::Value>,
    pub knowledge_document_ids: Option<Vec<String>>,
    pub tools: Option<Vec<ToolInput>>,
    pub end_call_phrases: Option<Vec<String>>,
    pub max_call_duration_secs: Option<i64>,
    pub webhook_url: Option<String>,
    pub turn_taking: TurnTakingInput,
    pub voicemail: VoicemailInput,
    /// The fields call analyses extract, as a JSON schema of type `object`; `Some(Value::Null)`
    /// removes it.
    pub analysis_schema: Option<serde_json::Value>,
}

/// The configuration of an agent nobody has changed yet.
fn defaults() -> AgentConfig {
    AgentConfig {
        name: String::new(),
        description: String::new(),
        system_prompt: "You are a friendly, concise voice assistant. Keep answers short enough to \
                        say aloud, and ask one question at a time."
            .to_owned(),
        first_message: None,
        language: "en".to_owned(),
        voice: VoiceConfig {
            provider: VoiceProvider::Elevenlabs,
            voice_id: "21m00Tcm4TlvDq8ikWAM".to_owned(),
            speed: 1.0,
        },
        llm: LlmConfig {
            provider: LlmProvider::Openai,
            model: "gpt-4o-mini".to_owned(),
            temperature: 0.7,
            max_tokens: 512,
        },
        stt: SttConfig {
            provider: SttProvider::Deepgram,
            model: "nova-2".to_owned(),
            language: "en".to_owned(),
        },
        call_flow: None,
        knowledge_document_ids: Vec::new(),
        tools: Vec::new(),
        end_call_phrases: Vec::new(),
        max_call_duration_secs: 1800,
        webhook_url: None,
        turn_taking: AgentTurnTaking::default(),
        voicemail: AgentVoicemail::default(),
        analysis_schema: None,
    }
}

fn bounded_text(field: &str, value: &str, max: usize, errors: &mut ValidationErrors) -> String {
    if value.chars().count() > max {
        errors.add(field, format!("must be at most {max} characters"));
    }
    value.to_owned()
}

fn non_empty(field: &str, value: &str, max: usize, errors: &mut ValidationErrors) -> String {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        errors.add(field, "must not be empty");
    }
    bounded_text(field, trimmed, max, errors)
}

fn language(field: &str, value: &str, errors: &mut ValidationErrors) -> String {
    let value = value.trim();
    if !LANGUAGE_TAG.as_ref().is_some_and(|re| re.is_match(value)) {
        errors.add(field, "must be a language tag such as en or en-US");
    }
    value.to_owned()
}

/// JSON schema types a tool argument may declare.
const SCHEMA_TYPES: &[&str] = &[
    "string", "number", "integer", "boolean", "array", "object", "null",
];

fn schema_type_is_valid(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(t) => SCHEMA_TYPES.contains(&t.as_str()),
        serde_json::Value::Array(types) => {
            !types.is_empty()
                && types
                    .iter()
                    .all(|t| t.as_str().is_some_and(|t| SCHEMA_TYPES.contains(&t)))
        }
        _ => false,
    }
}

/// Checks that a tool's `parameters` is an object schema a language model can use.
fn check_parameters(field: &str, schema: &serde_json::Value, errors: &mut ValidationErrors) {
    let Some(object) = schema.as_object() else {
        errors.add(field, "must be a JSON schema object");
        return;
    };
    if object.get("type").and_then(|t| t.as_str()) != Some("object") {
        errors.add(format!("{field}.type"), "must be \"object\"");
    }
    let properties = match object.get("properties") {
        None => serde_json::Map::new(),
        Some(serde_json::Value::Object(properties)) => properties.clone(),
        Some(_) => {
            errors.add(
                format!("{field}.properties"),
                "must be an object of schemas",
            );
            serde_json::Map::new()
        }
    };
    for (name, property) in &properties {
        let path = format!("{field}.properties.{name}");
        match property.as_object() {
            None => errors.add(path, "must be a schema object"),
            Some(property) => {
                if let Some(kind) = property.get("type")
                    && !schema_type_is_valid(kind)
                {
                    errors.add(
                        format!("{path}.type"),
                        format!("must be one of {}", SCHEMA_TYPES.join(", ")),
                    );
                }
            }
        }
    }
    match object.get("required") {
        None => {}
        Some(serde_json::Value::Array(required)) => {
            for name in required {
                match name.as_str() {
                    Some(name) if properties.contains_key(name) => {}
                    Some(name) => errors.add(
                        format!("{field}.required"),
                        format!("{name:?} is not among the properties"),
                    ),
                    None => errors.add(format!("{field}.required"), "must list property names"),
                }
            }
        }
        Some(_) => errors.add(format!("{field}.required"), "must be an array of names"),
    }
}

/// Checks an analysis schema: an object schema like a tool's, with a bounded number of fields.
fn check_analysis_schema(schema: &serde_json::Value, errors: &mut ValidationErrors) {
    check_parameters("analysis_schema", schema, errors);
    let count = schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map_or(0, serde_json::Map::len);
    if count == 0 {
        errors.add(
            "analysis_schema.properties",
            "must name at least one field to extract",
        );
    } else if count > MAX_SCHEMA_PROPERTIES {
        errors.add(
            "analysis_schema.properties",
            format!("at most {MAX_SCHEMA_PROPERTIES} fields"),
        );
    }
}

fn parse_tools(inputs: Vec<ToolInput>, errors: &mut ValidationErrors) -> Vec<AgentTool> {
    if inputs.len() > MAX_TOOLS {
        errors.add("tools", format!("at most {MAX_TOOLS} tools"));
    }
    let mut names = BTreeSet::new();
    let mut tools = Vec::new();
    for (index, input) in inputs.into_iter().enumerate() {
        let field = format!("tools[{index}]");
        let tool = match input {
            ToolInput::Builtin(name) => match BuiltinTool::parse(&name) {
                Ok(name) => Some(AgentTool::Builtin { name }),
                Err(message) => {
                    errors.add(format!("{field}.name"), message);
                    None
                }
            },
            ToolInput::Http(http) => parse_http_tool(&field, http, errors).map(AgentTool::Http),
        };
        if let Some(tool) = tool {
            if !names.insert(tool.name().to_owned()) {
                errors.add(
                    format!("{field}.name"),
                    format!("{:?} is used by another tool", tool.name()),
                );
            }
            tools.push(tool);
        }
    }
    tools
}

fn parse_http_tool(
    field: &str,
    input: HttpToolInput,
    errors: &mut ValidationErrors,
) -> Option<HttpTool> {
    let before = errors.errors().len();
    if !TOOL_NAME
        .as_ref()
        .is_some_and(|re| re.is_match(&input.name))
    {
        errors.add(
            format!("{field}.name"),
            "must be 1-64 letters, digits, _ or -",
        );
    } else if BuiltinTool::parse(&input.name).is_ok() {
        errors.add(format!("{field}.name"), "is the name of a built-in tool");
    }
    let url = input.url.unwrap_or_default();
    if !is_http_url(&url) {
        errors.add(format!("{field}.url"), "must be an http(s) URL");
    }
    let description = input.description.unwrap_or_default();
    if description.chars().count() > 1024 {
        errors.add(
            format!("{field}.description"),
            "must be at most 1024 characters",
        );
    }
    let parameters = input
        .parameters
        .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
    check_parameters(&format!("{field}.parameters"), &parameters, errors);
    let timeout_ms = input.timeout_ms.unwrap_or(5000);
    if !(100..=30_000).contains(&timeout_ms) {
        errors.add(
            format!("{field}.timeout_ms"),
            "must be between 100 and 30000",
        );
    }
    (errors.errors().len() == before).then(|| HttpTool {
        name: input.name,
        description,
        url,
        parameters,
        timeout_ms: u32::try_from(timeout_ms).unwrap_or(5000),
    })
}

impl AgentInput {
    /// A new agent's configuration: defaults overridden by what was sent. The name is required.
    ///
    /// # Errors
    /// Every invalid field.
    pub fn into_new_config(self) -> Result<AgentConfig, ValidationErrors> {
        if self.name.is_none() {
            let mut errors = ValidationErrors::new();
            errors.add("name", "is required");
            // Report the other fields' problems too.
            if let Err(more) = self.apply_to(&defaults_named("placeholder")) {
                for e in more.errors() {
                    errors.add(e.field.clone(), e.message.clone());
                }
            }
            return Err(errors);
        }
        self.apply_to(&defaults())
    }

    /// `base` with the fields that were sent replaced.
    ///
    /// # Errors
    /// Every invalid field.
    pub fn apply_to(self, base: &AgentConfig) -> Result<AgentConfig, ValidationErrors> {
        let mut e = ValidationErrors::new();
        let mut config = base.clone();
        if let Some(name) = self.name {
            config.name = non_empty("name", &name, MAX_NAME_CHARS, &mut e);
        }
        if let Some(description) = self.description {
            config.description =
                bounded_text("description", description.trim(), MAX_TEXT_CHARS, &mut e);
        }
        if let Some(prompt) = self.system_prompt {
            config.system_prompt =
                bounded_text("system_prompt", prompt.trim(), MAX_TEXT_CHARS, &mut e);
        }
        if let Some(message) = self.first_message {
            let message = bounded_text("first_message", message.trim(), 2000, &mut e);
            config.first_message = (!message.is_empty()).then_some(message);
        }
        if let Some(language) = self.language {
            config.language = self::language("language", &language, &mut e);
        }
        if let Some(provider) = self.voice.provider
            && let Some(p) = e.check("voice.provider", VoiceProvider::parse(&provider))
        {
            config.voice.provider = p;
        }
        if let Some(voice_id) = self.voice.voice_id {
            config.voice.voice_id = non_empty("voice.voice_id", &voice_id, 200, &mut e);
        }
        if let Some(speed) = self.voice.speed {
            if !(0.25..=4.0).contains(&speed) {
                e.add("voice.speed", "must be between 0.25 and 4.0");
            }
            config.voice.speed = speed;
        }
        if let Some(provider) = self.llm.provider
            && let Some(p) = e.check("llm.provider", LlmProvider::parse(&provider))
        {
            config.llm.provider = p;
        }
        if let Some(model) = self.llm.model {
            config.llm.model = non_empty("llm.model", &model, 200, &mut e);
        }
        if let Some(temperature) = self.llm.temperature {
            if !(0.0..=2.0).contains(&temperature) {
                e.add("llm.temperature", "must be between 0 and 2");
            }
            config.llm.temperature = temperature;
        }
        if let Some(max_tokens) = self.llm.max_tokens {
            match u32::try_from(max_tokens) {
                Ok(n) if (1..=16_384).contains(&n) => config.llm.max_tokens = n,
                _ => e.add("llm.max_tokens", "must be between 1 and 16384"),
            }
        }
        if let Some(provider) = self.stt.provider
            && let Some(p) = e.check("stt.provider", SttProvider::parse(&provider))
        {
            config.stt.provider = p;
        }
        if let Some(model) = self.stt.model {
            config.stt.model = non_empty("stt.model", &model, 200, &mut e);
        }
        if let Some(language) = self.stt.language {
            config.stt.language = self::language("stt.language", &language, &mut e);
        }
        if let Some(flow) = self.call_flow {
            config.call_flow = match flow {
                serde_json::Value::Null => None,
                flow => match super::flow_check::check(flow) {
                    Ok(flow) => Some(flow),
                    Err(problems) => {
                        for problem in problems.errors() {
                            let field = if problem.field.is_empty() {
                                "call_flow".to_owned()
                            } else {
                                format!("call_flow.{}", problem.field)
                            };
                            e.add(field, problem.message.clone());
                        }
                        config.call_flow.clone()
                    }
                },
            };
        }
        if let Some(ids) = self.knowledge_document_ids {
            let mut parsed = Vec::new();
            for (index, id) in ids.iter().enumerate() {
                match uuid::Uuid::parse_str(id) {
                    Ok(id) if !parsed.contains(&id) => parsed.push(id),
                    Ok(_) => {}
                    Err(_) => e.add(
                        format!("knowledge_document_ids[{index}]"),
                        "is not a document id",
                    ),
                }
            }
            config.knowledge_document_ids = parsed;
        }
        if let Some(tools) = self.tools {
            config.tools = parse_tools(tools, &mut e);
        }
        if let Some(phrases) = self.end_call_phrases {
            if phrases.len() > MAX_PHRASES {
                e.add("end_call_phrases", format!("at most {MAX_PHRASES} phrases"));
            }
            let mut kept = Vec::new();
            for (index, phrase) in phrases.iter().enumerate() {
                let phrase = phrase.trim();
                if phrase.is_empty() || phrase.chars().count() > 200 {
                    e.add(
                        format!("end_call_phrases[{index}]"),
                        "must be 1 to 200 characters",
                    );
                } else if !kept.iter().any(|k: &String| k.eq_ignore_ascii_case(phrase)) {
                    kept.push(phrase.to_owned());
                }
            }
            config.end_call_phrases = kept;
        }
        if let Some(secs) = self.max_call_duration_secs {
            match u32::try_from(secs) {
                Ok(secs) if (10..=14_400).contains(&secs) => config.max_call_duration_secs = secs,
                _ => e.add(
                    "max_call_duration_secs",
                    "must be between 10 and 14400 seconds",
                ),
            }
        }
        if let Some(url) = self.webhook_url {
            let url = url.trim();
            if url.is_empty() {
                config.webhook_url = None;
            } else if is_http_url(url) {
                config.webhook_url = Some(url.to_owned());
            } else {
                e.add("webhook_url", "must be an http(s) URL");
            }
        }
        config.turn_taking = self.turn_taking.apply_to(&config.turn_taking, &mut e);
        config.voicemail = self.voicemail.apply_to(&config.voicemail, &mut e);
        if let Some(schema) = self.analysis_schema {
            if schema.is_null() {
                config.analysis_schema = None;
            } else {
                let before = e.errors().len();
                check_analysis_schema(&schema, &mut e);
                if e.errors().len() == before {
                    config.analysis_schema = Some(schema);
                }
            }
        }
        e.into_result(config)
    }
}

fn defaults_named(name: &str) -> AgentConfig {
    AgentConfig {
        name: name.to_owned(),
        ..defaults()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn fields(errors: &ValidationErrors) -> Vec<&str> {
        errors.errors().iter().map(|e| e.field.as_str()).collect()
    }

    fn named(name: &str) -> AgentInput {
        AgentInput {
            name: Some(name.into()),
            ..AgentInput::default()
        }
    }

    #[test]
    fn a_name_is_enough() {
        let config = named(" Ava ").into_new_config().unwrap();
        assert_eq!(config.name, "Ava");
        assert_eq!(config.llm.temperature, 0.7);
        assert_eq!(config.voice.provider, VoiceProvider::Elevenlabs);
    }

    #[test]
    fn every_bad_field_is_named() {
        let input = AgentInput {
            name: Some("  ".into()),
            language: Some("english please".into()),
            voice: VoiceInput {
                provider: Some("acme-tts".into()),
                voice_id: None,
                speed: Some(9.0),
            },
            llm: LlmInput {
                provider: Some("skynet".into()),
                model: None,
                temperature: Some(2.5),
                max_tokens: Some(0),
            },
            stt: SttInput {
                provider: Some("ears".into()),
                model: None,
                language: None,
            },
            max_call_duration_secs: Some(5),
            webhook_url: Some("ftp://x".into()),
            end_call_phrases: Some(vec![" ".into()]),
            knowledge_document_ids: Some(vec!["nope".into()]),
            ..AgentInput::default()
        };
        let errors = input.into_new_config().unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "name",
                "language",
                "voice.provider",
                "voice.speed",
                "llm.provider",
                "llm.temperature",
                "llm.max_tokens",
                "stt.provider",
                "knowledge_document_ids[0]",
                "end_call_phrases[0]",
                "max_call_duration_secs",
                "webhook_url"
            ]
        );
    }

    #[test]
    fn a_missing_name_is_reported_with_the_rest() {
        let input = AgentInput {
            llm: LlmInput {
                temperature: Some(-1.0),
                ..LlmInput::default()
            },
            ..AgentInput::default()
        };
        assert_eq!(
            fields(&input.into_new_config().unwrap_err()),
            ["name", "llm.temperature"]
        );
    }

    #[test]
    fn temperature_and_max_tokens_bounds_are_inclusive() {
        for (temperature, max_tokens, ok) in [
            (0.0, 1, true),
            (2.0, 16_384, true),
            (2.01, 1, false),
            (1.0, 16_385, false),
        ] {
            let mut input = named("a");
            input.llm.temperature = Some(temperature);
            input.llm.max_tokens = Some(max_tokens);
            assert_eq!(
                input.into_new_config().is_ok(),
                ok,
                "{temperature} {max_tokens}"
            );
        }
    }

    #[test]
    fn tools_builtin_and_http() {
        let mut input = named("a");
        input.tools = Some(vec![
            ToolInput::Builtin("end_call".into()),
            ToolInput::Http(HttpToolInput {
                name: "check_order".into(),
                description: Some("Looks up an order".into()),
                url: Some("https://shop.example.com/orders".into()),
                parameters: Some(json!({
                    "type": "object",
                    "properties": {"order_id": {"type": "string"}},
                    "required": ["order_id"]
                })),
                timeout_ms: None,
            }),
        ]);
        let config = input.into_new_config().unwrap();
        assert_eq!(config.tools.len(), 2);
        assert_eq!(config.tools[1].name(), "check_order");
    }

    #[test]
    fn malformed_tool_schemas_are_named() {
        let http = |name: &str, parameters: serde_json::Value| {
            ToolInput::Http(HttpToolInput {
                name: name.into(),
                url: Some("https://x.example".into()),
                parameters: Some(parameters),
                ..HttpToolInput::default()
            })
        };
        let mut input = named("a");
        input.tools = Some(vec![
            http("a", json!("not an object")),
            http("b", json!({"type": "array"})),
            http(
                "c",
                json!({"type": "object", "properties": {"x": {"type": "float"}}}),
            ),
            http(
                "d",
                json!({"type": "object", "properties": {}, "required": ["missing"]}),
            ),
            http("bad name!", json!({"type": "object"})),
            http("end_call", json!({"type": "object"})),
            ToolInput::Builtin("teleport".into()),
            http("dup", json!({"type": "object"})),
            http("dup", json!({"type": "object"})),
        ]);
        let errors = input.into_new_config().unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "tools[0].parameters",
                "tools[1].parameters.type",
                "tools[2].parameters.properties.x.type",
                "tools[3].parameters.required",
                "tools[4].name",
                "tools[5].name",
                "tools[6].name",
                "tools[8].name"
            ]
        );
    }

    #[test]
    fn a_stored_config_without_turn_taking_loads_with_the_defaults() {
        let config = named("a").into_new_config().unwrap();
        let mut stored = serde_json::to_value(&config).unwrap();
        stored.as_object_mut().unwrap().remove("turn_taking");
        let loaded: AgentConfig = serde_json::from_value(stored).unwrap();
        assert_eq!(loaded.turn_taking, AgentTurnTaking::default());
        assert_eq!(loaded, config);
    }

    #[test]
    fn turn_taking_updates_keep_the_fields_not_sent() {
        let mut input = named("a");
        input.turn_taking.dtmf_timeout_ms = Some(3000);
        let base = input.into_new_config().unwrap();
        let update = AgentInput {
            turn_taking: TurnTakingInput {
                filler_after_ms: Some(0),
                ..TurnTakingInput::default()
            },
            ..AgentInput::default()
        };
        let updated = update.apply_to(&base).unwrap();
        assert_eq!(updated.turn_taking.dtmf_timeout_ms, 3000);
        assert_eq!(updated.turn_taking.filler_after_ms, 0);
        let bad = AgentInput {
            turn_taking: TurnTakingInput {
                silence_reprompts_max: Some(-2),
                ..TurnTakingInput::default()
            },
            ..AgentInput::default()
        };
        assert_eq!(
            fields(&bad.apply_to(&base).unwrap_err()),
            ["turn_taking.silence_reprompts_max"]
        );
    }

    #[test]
    fn analysis_schemas_are_checked_and_can_be_removed() {
        let mut input = named("a");
        input.analysis_schema = Some(json!({
            "type": "object",
            "properties": {"order_id": {"type": "string"}, "refund": {"type": "boolean"}},
            "required": ["order_id"]
        }));
        let config = input.into_new_config().unwrap();
        assert!(config.analysis_schema.is_some());
        for (schema, field) in [
            (json!("order_id"), "analysis_schema"),
            (json!({"type": "array"}), "analysis_schema.type"),
            (json!({"type": "object"}), "analysis_schema.properties"),
            (
                json!({"type": "object", "properties": {"n": {"type": "float"}}}),
                "analysis_schema.properties.n.type",
            ),
            (
                json!({"type": "object", "properties": {"n": {"type": "number"}}, "required": ["m"]}),
                "analysis_schema.required",
            ),
        ] {
            let update = AgentInput {
                analysis_schema: Some(schema.clone()),
                ..AgentInput::default()
            };
            let errors = update.apply_to(&config).unwrap_err();
            assert!(fields(&errors).contains(&field), "{schema}: {errors}");
        }
        let many: serde_json::Map<String, serde_json::Value> = (0..=MAX_SCHEMA_PROPERTIES)
            .map(|n| (format!("f{n}"), json!({"type": "string"})))
            .collect();
        let too_many = AgentInput {
            analysis_schema: Some(json!({"type": "object", "properties": many})),
            ..AgentInput::default()
        };
        assert_eq!(
            fields(&too_many.apply_to(&config).unwrap_err()),
            ["analysis_schema.properties"]
        );
        let removed = AgentInput {
            analysis_schema: Some(serde_json::Value::Null),
            ..AgentInput::default()
        }
        .apply_to(&config)
        .unwrap();
        assert_eq!(removed.analysis_schema, None);
        // Agents stored before the field existed still load.
        let mut stored = serde_json::to_value(&config).unwrap();
        stored.as_object_mut().unwrap().remove("analysis_schema");
        let loaded: AgentConfig = serde_json::from_value(stored).unwrap();
        assert_eq!(loaded.analysis_schema, None);
    }

    #[test]
    fn updates_change_only_what_is_sent_and_can_clear() {
        let mut base = named("a");
        base.first_message = Some("Hi {customer_name}".into());
        base.webhook_url = Some("https://hooks.example.com/x".into());
        let base = base.into_new_config().unwrap();
        let update = AgentInput {
            description: Some("New".into()),
            first_message: Some(String::new()),
            webhook_url: Some(String::new()),
            ..AgentInput::default()
        };
        let updated = update.apply_to(&base).unwrap();
        assert_eq!(updated.name, "a");
        assert_eq!(updated.description, "New");
        assert_eq!(updated.first_message, None);
        assert_eq!(updated.webhook_url, None);
        assert_eq!(updated.llm, base.llm);
    }
}
