//! The system prompt of a turn: who the agent is, the scenario, the time where the organisation
//! is, who is calling, and what the knowledge base says about the caller's last words.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::knowledge::SearchHit;
use crate::scenario::ScenarioSettings;

/// Voice replies are spoken: these rules keep them speakable.
const VOICE_RULES: &str = "You are speaking on a phone call. Answer in short, natural sentences \
without lists, markdown, emoji or URLs. Ask one question at a time.";

/// Everything a system prompt is made of.
#[derive(Clone, Copy, Debug)]
pub struct PromptParts<'a> {
    pub agent_name: Option<&'a str>,
    pub agent_prompt: Option<&'a str>,
    pub scenario: Option<&'a ScenarioSettings>,
    /// An llm node's prompt, when a call flow is in one.
    pub flow_prompt: Option<&'a str>,
    pub organization_name: &'a str,
    /// IANA name; unknown names fall back to UTC.
    pub time_zone: &'a str,
    pub now: DateTime<Utc>,
    pub customer_name: Option<&'a str>,
    pub phone_number: Option<&'a str>,
    pub knowledge: &'a [SearchHit],
}

/// The local date and time in `time_zone`, as a person would say it.
#[must_use]
pub fn local_time(now: DateTime<Utc>, time_zone: &str) -> String {
    let zone: Tz = time_zone.parse().unwrap_or(Tz::UTC);
    now.with_timezone(&zone)
        .format(&format!("%A %-d %B %Y, %H:%M ({zone})"))
        .to_string()
}

/// Composes the system prompt.
#[must_use]
pub fn system_prompt(parts: &PromptParts<'_>) -> String {
    let mut prompt = String::new();
    if let Some(persona) = parts.scenario.map(|s| s.persona.as_str()) {
        prompt.push_str(persona.trim());
        prompt.push_str("\n\n");
    }
    if let Some(agent_prompt) = parts.agent_prompt.filter(|p| !p.trim().is_empty()) {
        prompt.push_str(agent_prompt.trim());
        prompt.push_str("\n\n");
    }
    if let Some(goal) = parts.scenario.map(|s| s.prompt.as_str()) {
        let _ = write!(prompt, "Your goal on this call: {}\n\n", goal.trim());
    }
    if let Some(flow_prompt) = parts.flow_prompt.filter(|p| !p.trim().is_empty()) {
        let _ = write!(
            prompt,
            "At this point of the call: {}\n\n",
            flow_prompt.trim()
        );
    }
    prompt.push_str(VOICE_RULES);
    prompt.push_str("\n\nCall details:\n");
    if let Some(name) = parts.agent_name {
        let _ = writeln!(
            prompt,
            "- You are {name}, speaking for {}.",
            parts.organization_name
        );
    } else {
        let _ = writeln!(prompt, "- You speak for {}.", parts.organization_name);
    }
    let _ = writeln!(
        prompt,
        "- It is {}.",
        local_time(parts.now, parts.time_zone)
    );
    if let Some(customer) = parts.customer_name {
        let _ = writeln!(prompt, "- The caller's name is {customer}.");
    }
    if let Some(number) = parts.phone_number {
        let _ = writeln!(prompt, "- The caller's number is {number}.");
    }
    if !parts.knowledge.is_empty() {
        prompt.push_str(
            "\nFrom the knowledge base (use it when it answers the caller; never invent facts):\n",
        );
        for (index, hit) in parts.knowledge.iter().enumerate() {
            let _ = writeln!(
                prompt,
                "[{}] ({}) {}",
                index + 1,
                hit.document_name,
                hit.text.trim()
            );
        }
    }
    prompt
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn local_time_follows_the_zone_and_falls_back_to_utc() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 21, 9, 30, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(
            local_time(now, "Europe/Paris"),
            "Saturday 21 November 2026, 10:30 (Europe/Paris)"
        );
        assert_eq!(
            local_time(now, "Nowhere/City"),
            "Saturday 21 November 2026, 09:30 (UTC)"
        );
    }

    #[test]
    fn every_part_appears_in_order() {
        let scenario = ScenarioSettings {
            persona: "You are upbeat.".into(),
            prompt: "Book a demo.".into(),
            voice_type: "neutral".into(),
            temperature: 0.7,
        };
        let prompt = system_prompt(&PromptParts {
            agent_name: Some("Ava"),
            agent_prompt: Some("You sell bootcamps."),
            scenario: Some(&scenario),
            flow_prompt: None,
            organization_name: "Edvantage",
            time_zone: "UTC",
            now: Utc::now(),
            customer_name: Some("John"),
            phone_number: Some("+14155550123"),
            knowledge: &[],
        });
        let persona = prompt.find("upbeat").unwrap_or(usize::MAX);
        let agent = prompt.find("bootcamps").unwrap_or(usize::MAX);
        let goal = prompt.find("Book a demo").unwrap_or(usize::MAX);
        assert!(persona < agent && agent < goal, "{prompt}");
        assert!(prompt.contains("You are Ava, speaking for Edvantage."));
        assert!(prompt.contains("The caller's name is John."));
        assert!(prompt.contains("+14155550123"));
    }
}
