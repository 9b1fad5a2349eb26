//! Walking flows through conversations with `ValidFlow::start` and `ValidFlow::step`.

use serde_json::json;

use super::{base, sales_flow, valid};
use crate::flow::{
    Awaiting, FlowAction, FlowState, FlowStep, IntentAnswers, IntentQuestion, ValidFlow,
};
use crate::template::TemplateVars;

fn caller() -> TemplateVars {
    TemplateVars::new()
        .with("customer_name", "Ada")
        .with("agent_name", "Sam")
        .with("customer_phone", "+15550109999")
}

fn no_intents() -> IntentAnswers {
    IntentAnswers::new()
}

/// Steps with no intents answered.
fn say(flow: &ValidFlow, state: &FlowState, utterance: &str) -> FlowStep {
    flow.step(state, utterance, &no_intents(), &caller())
}

fn at(step: &FlowStep) -> &str {
    step.state.current_node()
}

#[test]
fn the_sales_flow_from_greeting_to_goodbye() {
    let flow = sales_flow();

    let step = flow.start(&caller());
    assert_eq!(
        step.say,
        [
            "Hi Ada, this is Sam from Acme Solar. Thanks for asking about a free home solar assessment.",
            "Is now a good time for three quick questions? It takes about two minutes.",
        ]
    );
    assert_eq!(step.visited, ["greet", "ask_time"]);
    assert_eq!(step.awaiting, Awaiting::Caller);
    assert!(step.actions.is_empty());

    let step = say(&flow, &step.state, "Yeah, sure, go ahead!");
    assert_eq!(at(&step), "ask_owner");
    assert_eq!(step.say, ["Great. Do you own your home, or do you rent?"]);

    let step = say(&flow, &step.state, "We own it.");
    assert_eq!(at(&step), "qualify");
    assert!(step.say.is_empty(), "the model speaks in an llm node");
    assert_eq!(
        step.awaiting,
        Awaiting::LlmConversation {
            prompt: "You are qualifying Ada for a solar assessment. Ask about their average \
                     monthly electricity bill and the age of their roof, one short question at a \
                     time."
                .into(),
            exit_condition: Some(
                "the caller has told us both their monthly bill and their roof's age".into()
            ),
        }
    );

    let utterance = "It's about 250 dollars a month.";
    assert_eq!(
        flow.pending_intents(&step.state, utterance),
        [
            IntentQuestion {
                edge_id: "e_qualify_human".into(),
                description: "the caller wants to speak with a person".into(),
            },
            IntentQuestion {
                edge_id: "e_qualify_done".into(),
                description: "the caller has told us both their monthly bill and their roof's age"
                    .into(),
            },
        ]
    );
    let answers = IntentAnswers::new()
        .with("e_qualify_human", false)
        .with("e_qualify_done", false);
    let step = flow.step(&step.state, utterance, &answers, &caller());
    assert_eq!(at(&step), "qualify");
    assert_eq!(step.state.turns_in_node(), 1);
    assert!(step.visited.is_empty());
    assert!(matches!(step.awaiting, Awaiting::LlmConversation { .. }));

    let answers = IntentAnswers::new()
        .with("e_qualify_human", false)
        .with("e_qualify_done", true);
    let step = flow.step(
        &step.state,
        "The roof is five years old.",
        &answers,
        &caller(),
    );
    assert_eq!(step.visited, ["book", "confirm"]);
    assert_eq!(
        step.say,
        [
            "Perfect, let me find a slot for your free assessment.",
            "I've held Thursday at 10 a.m. for you. Does that work?",
        ]
    );
    assert_eq!(
        step.actions,
        [FlowAction::CallTool {
            name: "schedule_assessment".into(),
            arguments: json!({"customer": "Ada", "phone": "+15550109999", "duration_minutes": 45}),
        }]
    );
    assert_eq!(step.awaiting, Awaiting::Caller);

    let step = say(&flow, &step.state, "Yes, that works.");
    assert_eq!(at(&step), "wrap_up");
    assert_eq!(
        step.say,
        ["Wonderful. You'll get a text confirmation shortly. Thanks, Ada, and have a great day!"]
    );
    assert_eq!(step.actions, [FlowAction::Hangup]);
    assert_eq!(step.awaiting, Awaiting::Finished);
    assert!(step.is_finished());

    // Once finished, the flow says and does nothing more.
    let after = say(&flow, &step.state, "Wait, one more thing");
    assert_eq!(after.state, step.state);
    assert!(after.say.is_empty() && after.actions.is_empty());
    assert_eq!(after.awaiting, Awaiting::Finished);
    assert!(flow.pending_intents(&step.state, "anything").is_empty());
}

#[test]
fn edges_are_tried_in_order() {
    let flow = sales_flow();
    let start = flow.start(&caller());
    // "no" and "not now" both match; the busy edge comes first in the flow.
    let step = say(&flow, &start.state, "No, not now, I'm driving.");
    assert_eq!(at(&step), "callback");
    let step = say(&flow, &start.state, "No thanks.");
    assert_eq!(at(&step), "not_interested");
    // "yesterday" is not "yes", and "know" is not "no".
    let step = say(&flow, &start.state, "I know, you called yesterday");
    assert_eq!(step.visited, ["clarify_time", "ask_time"]);
}

#[test]
fn else_loops_back_through_a_message() {
    let flow = sales_flow();
    let start = flow.start(&caller());
    let step = say(&flow, &start.state, "Hmm?");
    assert_eq!(
        step.say,
        [
            "Sorry, I didn't quite catch that.",
            "Is now a good time for three quick questions? It takes about two minutes.",
        ]
    );
    assert_eq!(at(&step), "ask_time");
    assert_eq!(step.awaiting, Awaiting::Caller);
}

#[test]
fn intents_answered_true_false_or_not_at_all() {
    let flow = sales_flow();
    let start = flow.start(&caller());
    let utterance = "Can I talk to a real human being?";
    assert_eq!(
        flow.pending_intents(&start.state, utterance),
        [IntentQuestion {
            edge_id: "e_time_human".into(),
            description: "the caller wants to speak with a person".into(),
        }]
    );

    let yes = IntentAnswers::new().with("e_time_human", true);
    let step = flow.step(&start.state, utterance, &yes, &caller());
    assert_eq!(at(&step), "advisor");
    assert_eq!(
        step.say,
        ["Let me connect you with one of our energy advisors."]
    );
    assert_eq!(
        step.actions,
        [FlowAction::Transfer {
            phone_number: "+15550102000".into()
        }]
    );
    assert!(step.is_finished());

    let no = IntentAnswers::new().with("e_time_human", false);
    let step = flow.step(&start.state, utterance, &no, &caller());
    assert_eq!(
        at(&step),
        "ask_time",
        "an intent judged false falls to else"
    );
    assert_eq!(step.visited[0], "clarify_time");

    let step = flow.step(&start.state, utterance, &no_intents(), &caller());
    assert_eq!(
        step.visited[0], "clarify_time",
        "an unanswered intent counts as not met"
    );
}

#[test]
fn intents_after_a_matching_edge_need_no_judge() {
    let flow = sales_flow();
    let start = flow.start(&caller());
    assert!(flow.pending_intents(&start.state, "Sure!").is_empty());
}

#[test]
fn an_llm_node_is_left_by_a_keyword_edge() {
    let flow = sales_flow();
    let state = walk_to_qualify(&flow);
    let step = say(&flow, &state, "Honestly I'm not interested anymore.");
    assert_eq!(at(&step), "not_interested");
    assert_eq!(step.actions, [FlowAction::Hangup]);
}

#[test]
fn an_llm_node_is_left_after_max_turns() {
    let flow = sales_flow();
    let mut state = walk_to_qualify(&flow);
    for turn in 1..6 {
        assert_eq!(flow.pending_intents(&state, "uh huh").len(), 2);
        let step = say(&flow, &state, "uh huh");
        assert_eq!(at(&step), "qualify");
        assert_eq!(step.state.turns_in_node(), turn);
        state = step.state;
    }
    // At the sixth utterance the limit is reached, so the exit condition is not worth asking.
    assert_eq!(
        flow.pending_intents(&state, "uh huh"),
        [IntentQuestion {
            edge_id: "e_qualify_human".into(),
            description: "the caller wants to speak with a person".into(),
        }]
    );
    let step = say(&flow, &state, "uh huh");
    assert_eq!(step.visited, ["book", "confirm"]);
}

#[test]
fn a_regex_edge() {
    let flow = sales_flow();
    let state = walk_to_qualify(&flow);
    let done = IntentAnswers::new().with("e_qualify_done", true);
    let confirm = flow.step(&state, "done", &done, &caller()).state;
    assert_eq!(confirm.current_node(), "confirm");
    let step = say(&flow, &confirm, "Could we do a DIFFERENT day?");
    assert_eq!(at(&step), "advisor");
    let step = say(&flow, &confirm, "A different approach");
    assert_eq!(at(&step), "advisor", "else also leads to the advisor");
    assert_eq!(step.visited, ["advisor"]);
}

fn walk_to_qualify(flow: &ValidFlow) -> FlowState {
    let step = flow.start(&caller());
    let step = say(flow, &step.state, "yes");
    let step = say(flow, &step.state, "I own it");
    assert_eq!(at(&step), "qualify");
    step.state
}

#[test]
fn keywords_all_and_always_edges() {
    let flow = valid(json!({
        "nodes": [
            {"id": "ask", "type": "question", "start": true, "data": {"text": "Anything else?"}},
            {"id": "deal", "type": "end", "data": {"text": "Deal."}},
            {"id": "bye", "type": "end", "data": {"text": "Bye."}}
        ],
        "edges": [
            {"id": "e1", "source": "ask", "target": "deal",
             "condition": {"type": "keywords", "all": ["price", "discount"], "any": ["a", "the"]}},
            {"id": "e2", "source": "ask", "target": "bye", "condition": {"type": "always"}}
        ]
    }));
    let start = flow.start(&TemplateVars::new());
    assert_eq!(start.say, ["Anything else?"]);
    let step = say(&flow, &start.state, "Is there a discount on the price?");
    assert_eq!(step.say, ["Deal."]);
    let step = say(&flow, &start.state, "What is the price?");
    assert_eq!(step.say, ["Bye."]);
}

#[test]
fn a_flow_that_starts_at_its_end() {
    let flow = valid(json!({
        "nodes": [{"id": "bye", "type": "end", "start": true}],
        "edges": []
    }));
    let step = flow.start(&TemplateVars::new());
    assert!(step.say.is_empty(), "an end node without text says nothing");
    assert_eq!(step.actions, [FlowAction::Hangup]);
    assert!(step.is_finished());
}

#[test]
fn a_tool_node_without_a_line_still_calls_its_tool() {
    let flow = valid(json!({
        "nodes": [
            {"id": "log", "type": "tool", "start": true,
             "data": {"tool": "log_call", "arguments": {"tags": ["{source}", "inbound"], "n": 1}}},
            {"id": "bye", "type": "end", "data": {"text": "Bye {customer_name}."}}
        ],
        "edges": [{"id": "e1", "source": "log", "target": "bye"}]
    }));
    let vars = TemplateVars::new().with("source", "web");
    let step = flow.start(&vars);
    assert_eq!(step.say, ["Bye."]);
    assert_eq!(
        step.actions,
        [
            FlowAction::CallTool {
                name: "log_call".into(),
                arguments: json!({"tags": ["web", "inbound"], "n": 1}),
            },
            FlowAction::Hangup,
        ]
    );
}

#[test]
fn lines_that_render_empty_are_left_out() {
    let flow = valid(json!({
        "nodes": [
            {"id": "hi", "type": "message", "start": true, "data": {"text": "{greeting}"}},
            {"id": "bye", "type": "end", "data": {"text": "Bye."}}
        ],
        "edges": [{"id": "e1", "source": "hi", "target": "bye"}]
    }));
    assert_eq!(flow.start(&TemplateVars::new()).say, ["Bye."]);
}

#[test]
fn running_forward_is_bounded_even_in_a_circle() {
    // Validation refuses circles of message nodes; this flow bends a valid one into a circle
    // behind validation's back to show the runtime bound still holds.
    let mut flow = valid(base());
    let hello = flow.index["hello"];
    flow.exits[hello][0].target = hello;
    let step = flow.start(&TemplateVars::new());
    assert_eq!(step.say.len(), flow.flow().nodes.len() + 1);
    assert!(step.say.iter().all(|line| line == "Hello"));
    assert_eq!(step.actions, [FlowAction::Hangup]);
    assert!(step.is_finished());
}

#[test]
fn the_state_is_stored_as_json_between_turns() {
    let flow = sales_flow();
    let state = walk_to_qualify(&flow);
    let state = say(&flow, &state, "hmm").state;
    let stored = serde_json::to_value(&state).unwrap();
    assert_eq!(
        stored,
        json!({"current": "qualify", "turns_in_node": 1, "finished": false})
    );
    let loaded: FlowState = serde_json::from_value(stored).unwrap();
    assert_eq!(loaded, state);
}

#[test]
fn a_state_for_a_node_that_no_longer_exists_restarts_the_flow() {
    let flow = sales_flow();
    let stale: FlowState = serde_json::from_value(json!({"current": "removed_node"})).unwrap();
    let step = say(&flow, &stale, "hello?");
    assert_eq!(step.visited, ["greet", "ask_time"]);
    assert!(flow.pending_intents(&stale, "hello?").is_empty());
}

#[test]
fn a_state_resting_on_a_message_node_carries_on_from_it() {
    let flow = sales_flow();
    let odd: FlowState = serde_json::from_value(json!({"current": "clarify_time"})).unwrap();
    let step = say(&flow, &odd, "whatever");
    assert_eq!(step.visited, ["clarify_time", "ask_time"]);
}

#[test]
fn intent_answers_are_keyed_by_edge_id() {
    let answers: IntentAnswers = [("e1", true), ("e2", false)].into_iter().collect();
    assert_eq!(answers.get("e1"), Some(true));
    assert_eq!(answers.get("e2"), Some(false));
    assert_eq!(answers.get("e3"), None);
    assert_eq!(
        serde_json::to_value(&answers).unwrap(),
        json!({"e1": true, "e2": false})
    );
}

#[test]
fn steps_and_actions_serialize_for_an_api() {
    let flow = sales_flow();
    let step = flow.start(&caller());
    let json = serde_json::to_value(&step).unwrap();
    assert_eq!(json["awaiting"], json!({"type": "caller"}));
    assert_eq!(
        serde_json::to_value(FlowAction::Transfer {
            phone_number: "+15550102000".into()
        })
        .unwrap(),
        json!({"type": "transfer", "phone_number": "+15550102000"})
    );
}

/// A keypad menu: 1 for sales, 2 for support, else goodbye; a regex edge takes any 4-digit code.
fn keypad_menu() -> ValidFlow {
    valid(json!({
        "nodes": [
            {"id": "menu", "type": "question", "start": true,
             "data": {"text": "Press 1 for sales or 2 for support, or enter your 4-digit code."}},
            {"id": "sales", "type": "end", "data": {"text": "Sales."}},
            {"id": "support", "type": "end", "data": {"text": "Support."}},
            {"id": "code", "type": "end", "data": {"text": "Code."}},
            {"id": "other", "type": "end", "data": {"text": "Goodbye."}}
        ],
        "edges": [
            {"id": "e1", "source": "menu", "target": "sales",
             "condition": {"type": "digits", "digits": "1"}},
            {"id": "e2", "source": "menu", "target": "support",
             "condition": {"type": "digits", "digits": "2"}},
            {"id": "e3", "source": "menu", "target": "code",
             "condition": {"type": "regex", "pattern": "^\\d{4}$"}},
            {"id": "e4", "source": "menu", "target": "other", "condition": {"type": "else"}}
        ]
    }))
}

#[test]
fn keys_take_digits_edges_and_words_do_not() {
    let flow = keypad_menu();
    let menu = flow.start(&caller()).state;
    assert_eq!(at(&flow.step_keys(&menu, "2", &caller())), "support");
    assert_eq!(at(&flow.step_keys(&menu, "1", &caller())), "sales");
    // Saying the digit is not pressing it.
    assert_eq!(at(&say(&flow, &menu, "1")), "other");
    // Keys read as text to a regex edge; unknown keys fall to else.
    assert_eq!(at(&flow.step_keys(&menu, "4711", &caller())), "code");
    assert_eq!(at(&flow.step_keys(&menu, "9", &caller())), "other");
    let step = flow.step_keys(&menu, "1", &caller());
    assert_eq!(step.say, ["Sales."]);
    assert_eq!(step.actions, [FlowAction::Hangup]);
}
