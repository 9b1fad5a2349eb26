//! The lexicon analyser on small calls: sentiment with negation and mixed feelings, categories,
//! resolution, the extractive summary, topics, promises, and pattern-found fields.

#![allow(clippy::unwrap_used)]

use chrono::Utc;
use serde_json::{Value, json};
use switchboard_domain::call::{
    AnalysisRequest, AnalyzerKind, CallTurn, Resolution, Sentiment, Speaker,
};
use switchboard_domain::ids::CallId;
use switchboard_domain::ports::CallAnalyzer;
use switchboard_local::{LexiconAnalyzer, analyze};

fn call(lines: &[(Speaker, &str)], schema: Option<Value>) -> AnalysisRequest {
    let call_id = CallId::new();
    AnalysisRequest {
        call_id,
        transcript: lines
            .iter()
            .enumerate()
            .map(|(index, (speaker, text))| CallTurn {
                call_id,
                index: u32::try_from(index).unwrap(),
                speaker: *speaker,
                text: (*text).to_owned(),
                at: Utc::now(),
                latency: None,
            })
            .collect(),
        schema,
        language: "en".into(),
        end_reason: Some("ended_by_client".into()),
    }
}

use Speaker::{Agent, Customer};

#[tokio::test]
async fn an_angry_billing_call_handed_to_a_person() {
    let request = call(
        &[
            (Agent, "Thanks for calling Acme, how can I help?"),
            (
                Customer,
                "I was charged twice on my bill this month. This is unacceptable and I am really angry.",
            ),
            (
                Agent,
                "I'm sorry about that. Let me transfer you to a billing specialist.",
            ),
        ],
        None,
    );
    let analysis = LexiconAnalyzer::new().analyze(&request).await.unwrap();
    assert_eq!(analysis.sentiment, Sentiment::Negative);
    assert!(
        analysis.sentiment_score < -0.15,
        "{}",
        analysis.sentiment_score
    );
    assert_eq!(analysis.category.as_str(), "billing");
    assert_eq!(analysis.resolution, Resolution::Escalated);
    assert_eq!(analysis.analyzer, AnalyzerKind::Local);
    assert!(
        analysis
            .summary
            .starts_with("The customer said: \"I was charged twice on my bill this month.\""),
        "{}",
        analysis.summary
    );
    assert!(
        analysis.summary.contains("billing specialist"),
        "{}",
        analysis.summary
    );
    assert!(analysis.extracted.is_empty());
}

#[tokio::test]
async fn a_booked_appointment_with_thanks_is_positive_and_resolved() {
    let request = call(
        &[
            (Agent, "Hello, Bright Dental."),
            (
                Customer,
                "Hi, I would like to book an appointment for Tuesday morning.",
            ),
            (
                Agent,
                "Your appointment is booked for Tuesday at ten. I will send you a confirmation by email.",
            ),
            (Customer, "Perfect, thanks a lot!"),
        ],
        None,
    );
    let analysis = analyze(&request);
    assert_eq!(analysis.sentiment, Sentiment::Positive);
    assert!(analysis.sentiment_score > 0.15);
    assert_eq!(analysis.category.as_str(), "scheduling");
    assert_eq!(analysis.resolution, Resolution::Resolved);
    assert_eq!(
        analysis.action_items,
        ["I will send you a confirmation by email."]
    );
    // Words said more than once come first; feelings are not topics.
    assert_eq!(
        analysis.key_topics[..3],
        ["book", "appointment", "tuesday"],
        "{:?}",
        analysis.key_topics
    );
    assert!(!analysis.key_topics.iter().any(|t| t == "perfect"));
    assert!(analysis.key_topics.len() <= 5);
}

#[tokio::test]
async fn negation_turns_words_around_and_balanced_feelings_are_mixed() {
    let negated = analyze(&call(
        &[(
            Customer,
            "The app is not good and it doesn't work since the update.",
        )],
        None,
    ));
    assert_eq!(negated.sentiment, Sentiment::Negative);
    assert_eq!(negated.category.as_str(), "technical_support");
    assert_eq!(negated.resolution, Resolution::Unresolved);

    let mixed = analyze(&call(
        &[
            (Customer, "My package is late again and I'm frustrated."),
            (Agent, "It arrives tomorrow morning."),
            (Customer, "Great, thank you."),
        ],
        None,
    ));
    assert_eq!(mixed.sentiment, Sentiment::Mixed);
    assert_eq!(mixed.category.as_str(), "order_status");
    assert!((-1.0..=1.0).contains(&mixed.sentiment_score));

    let plain = analyze(&call(&[(Customer, "What are your opening hours?")], None));
    assert_eq!(plain.sentiment, Sentiment::Neutral);
    assert_eq!(plain.sentiment_score, 0.0);
    assert_eq!(plain.category.as_str(), "general_inquiry");
}

#[tokio::test]
async fn only_fields_a_pattern_finds_are_extracted() {
    let schema = json!({
        "type": "object",
        "properties": {
            "email": {"type": "string"},
            "phone_number": {"type": "string"},
            "plan": {"type": "string", "enum": ["basic", "premium"]},
            "order_id": {"type": "string"},
            "urgent": {"type": "boolean"}
        },
        "required": ["order_id"]
    });
    let analysis = analyze(&call(
        &[
            (
                Customer,
                "I want the Premium plan. Reach me at ada@example.com or +44 20 7946 0958.",
            ),
            (Agent, "Noted, we'll follow up today."),
        ],
        Some(schema),
    ));
    assert_eq!(
        Value::Object(analysis.extracted),
        json!({
            "email": "ada@example.com",
            "phone_number": "+44 20 7946 0958",
            "plan": "premium",
            "order_id": null,
            "urgent": null
        })
    );
    assert_eq!(analysis.action_items, ["Noted, we'll follow up today."]);
    assert_eq!(analysis.category.as_str(), "sales");
}
