//! The lexicon analyser: a post-call analysis with no model and no network, for deployments
//! without a language model. It is honest about what it is (`analyzer: local`) and about what it
//! can do: English word lists for sentiment (with negation), keyword categories, an extractive
//! summary (the customer's request and the agent's most telling answer, quoted), frequent words
//! as topics, the agent's promises as action items, and only the fields a pattern can find
//! (e-mail addresses, phone numbers, allowed values) as extracted data; the rest stays `null`.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use async_trait::async_trait;
use regex::Regex;
use serde_json::Value;
use switchboard_domain::call::{
    AnalysisRequest, AnalyzerKind, CallAnalysis, CallTurn, Category, Resolution, Sentiment,
    Speaker, empty_fields,
};
use switchboard_domain::ports::{AnalyzeError, CallAnalyzer};

use crate::lexical::features::{is_stop_word, stem, words};

const POSITIVE: &[&str] = &[
    "amazing",
    "appreciate",
    "awesome",
    "brilliant",
    "delighted",
    "excellent",
    "fantastic",
    "glad",
    "good",
    "great",
    "happy",
    "helpful",
    "love",
    "lovely",
    "nice",
    "perfect",
    "pleased",
    "quick",
    "satisfied",
    "super",
    "thank",
    "thanks",
    "wonderful",
    "works",
];
const NEGATIVE: &[&str] = &[
    "angry",
    "annoyed",
    "annoying",
    "awful",
    "bad",
    "broken",
    "complaint",
    "damaged",
    "disappointed",
    "disappointing",
    "error",
    "fail",
    "failed",
    "frustrated",
    "frustrating",
    "hate",
    "horrible",
    "late",
    "missing",
    "poor",
    "problem",
    "ridiculous",
    "rude",
    "slow",
    "terrible",
    "unacceptable",
    "unhappy",
    "upset",
    "useless",
    "worst",
    "wrong",
];
/// Words that turn the sentiment of the next few words around ("not good", "never works").
const NEGATORS: &[&str] = &[
    "arent", "cant", "cannot", "didnt", "doesnt", "dont", "hardly", "havent", "isnt", "never",
    "no", "not", "nothing", "wasnt", "wont", "wouldnt",
];
/// How many words after a negator it reaches.
const NEGATION_REACH: usize = 3;

/// Categories and the words that point to them, in order of precedence on a tie.
const CATEGORIES: &[(&str, &[&str])] = &[
    (
        "billing",
        &[
            "bill",
            "billing",
            "invoice",
            "charge",
            "charged",
            "refund",
            "payment",
            "paid",
            "card",
            "subscription",
            "overcharged",
        ],
    ),
    (
        "order_status",
        &[
            "order", "delivery", "deliver", "shipping", "shipped", "shipment", "track", "tracking",
            "package", "parcel", "arrive", "arrived",
        ],
    ),
    (
        "scheduling",
        &[
            "appointment",
            "schedule",
            "reschedule",
            "book",
            "booking",
            "calendar",
            "available",
            "slot",
            "reservation",
            "meeting",
        ],
    ),
    (
        "technical_support",
        &[
            "error",
            "bug",
            "crash",
            "crashed",
            "login",
            "password",
            "install",
            "app",
            "website",
            "internet",
            "wifi",
            "connection",
            "reset",
            "working",
        ],
    ),
    (
        "sales",
        &[
            "buy", "purchase", "pricing", "price", "quote", "demo", "plan", "upgrade", "discount",
            "offer", "trial",
        ],
    ),
    (
        "account",
        &[
            "account",
            "profile",
            "username",
            "email",
            "address",
            "cancel",
            "cancellation",
        ],
    ),
];

/// Words in the agent's lines or the end reason that mean the caller was handed on.
const ESCALATION: &[&str] = &[
    "transfer",
    "transferred",
    "transferring",
    "escalate",
    "escalated",
    "supervisor",
    "manager",
    "specialist",
    "representative",
];
/// Words in the customer's last lines that mean they got what they came for.
const SATISFIED: &[&str] = &[
    "thank",
    "thanks",
    "perfect",
    "great",
    "solved",
    "resolved",
    "awesome",
    "helpful",
    "works",
    "wonderful",
    "excellent",
];
/// Words in the agent's lines that confirm something was done.
const DONE: &[&str] = &[
    "booked",
    "confirmed",
    "scheduled",
    "processed",
    "refunded",
    "fixed",
    "resolved",
    "updated",
    "cancelled",
    "sent",
];
/// Phrases that start a promise in the agent's lines.
const PROMISES: &[&str] = &[
    "i will",
    "i'll",
    "we will",
    "we'll",
    "i am going to",
    "i'm going to",
    "will send",
    "will call",
    "follow up",
    "get back to you",
    "call you back",
];

const MAX_TOPICS: usize = 5;
const MAX_ACTION_ITEMS: usize = 5;
const MAX_QUOTE_CHARS: usize = 200;

static EMAIL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").ok());
static PHONE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\+?\d[\d\s().-]{5,}\d").ok());
static SENTENCE_END: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"[.!?]+(\s+|$)").ok());

/// A word set compared by stem, so "charges" finds "charge".
struct Lexicon(HashSet<String>);

impl Lexicon {
    fn new(words: &[&str]) -> Self {
        Self(words.iter().map(|w| stem(w)).collect())
    }

    fn has(&self, word: &str) -> bool {
        self.0.contains(&stem(word))
    }

    fn count(&self, words: &[String]) -> usize {
        words.iter().filter(|w| self.has(w)).count()
    }
}

struct Lexicons {
    positive: Lexicon,
    negative: Lexicon,
    categories: Vec<(&'static str, Lexicon)>,
    escalation: Lexicon,
    satisfied: Lexicon,
    done: Lexicon,
}

static LEXICONS: LazyLock<Lexicons> = LazyLock::new(|| Lexicons {
    positive: Lexicon::new(POSITIVE),
    negative: Lexicon::new(NEGATIVE),
    categories: CATEGORIES
        .iter()
        .map(|(name, words)| (*name, Lexicon::new(words)))
        .collect(),
    escalation: Lexicon::new(ESCALATION),
    satisfied: Lexicon::new(SATISFIED),
    done: Lexicon::new(DONE),
});

/// Analyses calls from word lists and patterns alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct LexiconAnalyzer;

impl LexiconAnalyzer {
    /// The analyser.
    #[must_use]
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl CallAnalyzer for LexiconAnalyzer {
    async fn analyze(&self, request: &AnalysisRequest) -> Result<CallAnalysis, AnalyzeError> {
        Ok(analyze(request))
    }
}

fn said_by(transcript: &[CallTurn], speaker: Speaker) -> Vec<&CallTurn> {
    transcript.iter().filter(|t| t.speaker == speaker).collect()
}

/// Positive and negative hits, each flipped when a negator comes shortly before it.
fn polarity(words: &[String]) -> (usize, usize) {
    let (mut positive, mut negative) = (0, 0);
    for (at, word) in words.iter().enumerate() {
        let negated = words[at.saturating_sub(NEGATION_REACH)..at]
            .iter()
            .any(|w| NEGATORS.contains(&w.as_str()));
        let (is_positive, is_negative) = (LEXICONS.positive.has(word), LEXICONS.negative.has(word));
        match (is_positive, is_negative, negated) {
            (true, _, false) | (_, true, true) => positive += 1,
            (true, _, true) | (_, true, false) => negative += 1,
            _ => {}
        }
    }
    (positive, negative)
}

fn sentiment(customer: &[String]) -> (Sentiment, f64) {
    let (positive, negative) = polarity(customer);
    let total = positive + negative;
    if total == 0 {
        return (Sentiment::Neutral, 0.0);
    }
    let score = (positive as f64 - negative as f64) / (total as f64 + 1.0);
    let score = (score * 100.0).round() / 100.0;
    let (low, high) = (positive.min(negative), positive.max(negative));
    let sentiment = if low > 0 && low * 2 >= high {
        Sentiment::Mixed
    } else if score > 0.15 {
        Sentiment::Positive
    } else if score < -0.15 {
        Sentiment::Negative
    } else {
        Sentiment::Neutral
    };
    (sentiment, score)
}

fn category(customer: &[String], agent: &[String]) -> Category {
    // The customer says what the call is about; the agent's words break ties.
    let best = LEXICONS
        .categories
        .iter()
        .map(|(name, lexicon)| (*name, 2 * lexicon.count(customer) + lexicon.count(agent)))
        .fold(
            None,
            |best: Option<(&str, usize)>, (name, hits)| match best {
                Some((_, most)) if most >= hits => best,
                _ if hits > 0 => Some((name, hits)),
                _ => best,
            },
        );
    best.and_then(|(name, _)| Category::parse(name).ok())
        .unwrap_or_else(Category::general)
}

fn resolution(request: &AnalysisRequest, customer: &[&CallTurn], agent: &[String]) -> Resolution {
    let reason = request.end_reason.as_deref().map(words).unwrap_or_default();
    if LEXICONS.escalation.count(agent) > 0 || LEXICONS.escalation.count(&reason) > 0 {
        return Resolution::Escalated;
    }
    let closing: Vec<String> = customer
        .iter()
        .rev()
        .take(2)
        .flat_map(|t| words(&t.text))
        .collect();
    let (pleased, displeased) = polarity(&closing);
    let satisfied = LEXICONS.satisfied.count(&closing) > 0 && pleased > displeased;
    let (done, undone) = {
        let (_, negative) = polarity(agent);
        (LEXICONS.done.count(agent), negative)
    };
    if satisfied || (done > 0 && undone == 0 && displeased == 0) {
        Resolution::Resolved
    } else {
        Resolution::Unresolved
    }
}

fn sentences(text: &str) -> Vec<String> {
    let Some(end) = SENTENCE_END.as_ref() else {
        return vec![text.trim().to_owned()];
    };
    let mut found = Vec::new();
    let mut start = 0;
    for mark in end.find_iter(text) {
        found.push(text[start..mark.end()].trim().to_owned());
        start = mark.end();
    }
    found.push(text[start..].trim().to_owned());
    found.retain(|s| !s.is_empty());
    found
}

fn content_words(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| w.chars().count() > 2 && !is_stop_word(w) && !NEGATORS.contains(&w.as_str()))
        .collect()
}

fn quote(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_QUOTE_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_QUOTE_CHARS).collect();
    format!("{}…", cut.trim_end())
}

/// The customer's first real sentence (why they called) and the agent's sentence that shares the
/// most of the call's frequent words (what they were told), quoted.
fn summary(
    customer: &[&CallTurn],
    agent: &[&CallTurn],
    frequency: &BTreeMap<String, usize>,
) -> String {
    let weight = |sentence: &str| -> f64 {
        let words = content_words(sentence);
        if words.is_empty() {
            return 0.0;
        }
        let sum: usize = words
            .iter()
            .map(|w| frequency.get(&stem(w)).copied().unwrap_or(0))
            .sum();
        sum as f64 / (words.len() as f64).sqrt()
    };
    let asked = customer
        .iter()
        .flat_map(|t| sentences(&t.text))
        .find(|s| content_words(s).len() >= 2)
        .or_else(|| customer.first().map(|t| t.text.clone()));
    let answered = agent
        .iter()
        .skip(usize::from(agent.len() > 1))
        .flat_map(|t| sentences(&t.text))
        .fold(None, |best: Option<(String, f64)>, sentence| {
            let score = weight(&sentence);
            match best {
                Some((_, top)) if top >= score => best,
                _ if score > 0.0 => Some((sentence, score)),
                _ => best,
            }
        })
        .map(|(sentence, _)| sentence);
    let mut parts = Vec::new();
    if let Some(asked) = asked {
        parts.push(format!("The customer said: \"{}\"", quote(&asked)));
    }
    if let Some(answered) = answered {
        parts.push(format!("The agent answered: \"{}\"", quote(&answered)));
    }
    if parts.is_empty() {
        "No conversation took place.".to_owned()
    } else {
        parts.join(" ")
    }
}

/// The most frequent content words (by stem, shown as first said), ties in order of appearance.
fn topics(all: &[String], frequency: &BTreeMap<String, usize>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut ranked: Vec<(usize, usize, &String)> = all
        .iter()
        .enumerate()
        .filter(|(_, w)| seen.insert(stem(w)))
        .filter(|(_, w)| !LEXICONS.positive.has(w) && !LEXICONS.negative.has(w))
        .map(|(at, w)| (frequency.get(&stem(w)).copied().unwrap_or(0), at, w))
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked
        .into_iter()
        .take(MAX_TOPICS)
        .map(|(_, _, w)| w.clone())
        .collect()
}

fn action_items(agent: &[&CallTurn]) -> Vec<String> {
    agent
        .iter()
        .flat_map(|t| sentences(&t.text))
        .filter(|s| {
            let lower = s.to_lowercase().replace('’', "'");
            PROMISES.iter().any(|p| lower.contains(p))
        })
        .map(|s| quote(&s))
        .take(MAX_ACTION_ITEMS)
        .collect()
}

/// The declared fields a pattern can find: e-mail addresses, phone numbers, and allowed values
/// said in so many words; everything else `null`.
fn extracted(request: &AnalysisRequest, customer_text: &str) -> serde_json::Map<String, Value> {
    let mut fields = empty_fields(request.schema.as_ref());
    let Some(properties) = request
        .schema
        .as_ref()
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return fields;
    };
    let said: HashSet<String> = words(customer_text).into_iter().collect();
    for (name, property) in properties {
        let lower = name.to_lowercase();
        let is_string = property.get("type").is_none_or(|t| {
            t == "string"
                || t.as_array()
                    .is_some_and(|ts| ts.iter().any(|t| t == "string"))
        });
        let found = if let Some(allowed) = property.get("enum").and_then(Value::as_array) {
            allowed
                .iter()
                .find(|v| v.as_str().is_some_and(|v| said.contains(&v.to_lowercase())))
                .cloned()
        } else if is_string && lower.contains("email") {
            EMAIL
                .as_ref()
                .and_then(|re| re.find(customer_text))
                .map(|m| Value::from(m.as_str()))
        } else if is_string && lower.contains("phone") {
            PHONE
                .as_ref()
                .and_then(|re| re.find(customer_text))
                .map(|m| Value::from(m.as_str().trim()))
        } else {
            None
        };
        if let Some(value) = found {
            fields.insert(name.clone(), value);
        }
    }
    fields
}

/// The analysis of one call.
#[must_use]
pub fn analyze(request: &AnalysisRequest) -> CallAnalysis {
    let customer = said_by(&request.transcript, Speaker::Customer);
    let agent = said_by(&request.transcript, Speaker::Agent);
    let customer_text = customer
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let customer_words = words(&customer_text);
    let agent_words: Vec<String> = agent.iter().flat_map(|t| words(&t.text)).collect();
    let all: Vec<String> = request
        .transcript
        .iter()
        .flat_map(|t| content_words(&t.text))
        .collect();
    let mut frequency = BTreeMap::new();
    for word in &all {
        *frequency.entry(stem(word)).or_insert(0) += 1;
    }
    let (sentiment, sentiment_score) = sentiment(&customer_words);
    CallAnalysis {
        summary: summary(&customer, &agent, &frequency),
        sentiment,
        sentiment_score,
        category: category(&customer_words, &agent_words),
        resolution: resolution(request, &customer, &agent_words),
        key_topics: topics(&all, &frequency),
        action_items: action_items(&agent),
        extracted: extracted(request, &customer_text),
        analyzer: AnalyzerKind::Local,
    }
}
