//! Each rule of `CallFlow::validate` on its own, several at once, and the fixture's round trip.

use serde_json::{Value, json};

use super::{
    SALES_QUALIFICATION, base, errors, parse, problem, problems, push_edge, push_node, valid,
};
use crate::flow::{
    CallFlow, FlowErrorCode as Code, MAX_EDGES, MAX_ID_CHARS, MAX_NODES, MAX_TEXT_CHARS,
};
use crate::validation::ValidationErrors;

#[test]
fn the_base_and_the_sales_flow_are_valid() {
    valid(base());
    let flow: CallFlow = serde_json::from_str(SALES_QUALIFICATION).unwrap();
    let valid = flow.validate().unwrap();
    assert_eq!(valid.start_node_id(), "greet");
    assert!(valid.node("qualify").is_some());
    assert!(valid.node("nope").is_none());
}

#[test]
fn the_sales_flow_round_trips_unchanged() {
    let raw: Value = serde_json::from_str(SALES_QUALIFICATION).unwrap();
    let flow: CallFlow = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(serde_json::to_value(&flow).unwrap(), raw);
    // A validated flow serializes as the flow it came from.
    let valid = flow.validate().unwrap();
    assert_eq!(serde_json::to_value(&valid).unwrap(), raw);
    assert_eq!(valid.into_flow(), flow);
}

#[test]
fn placeholders_of_the_sales_flow() {
    let flow: CallFlow = serde_json::from_str(SALES_QUALIFICATION).unwrap();
    assert_eq!(
        flow.validate().unwrap().placeholders(),
        ["customer_name", "agent_name", "customer_phone"]
    );
}

#[test]
fn an_empty_flow_has_no_start_node() {
    assert_eq!(
        problems(json!({"nodes": [], "edges": []})),
        [problem(Code::NoStartNode, "nodes")]
    );
}

#[test]
fn is_start_is_accepted_for_start() {
    let mut flow = base();
    flow["nodes"][0] = json!({"id": "hello", "type": "message", "is_start": true,
                              "data": {"text": "Hello"}});
    assert_eq!(valid(flow).start_node_id(), "hello");
}

#[test]
fn several_start_nodes_are_each_reported() {
    let mut flow = base();
    flow["nodes"][1]["start"] = json!(true);
    assert_eq!(
        problems(flow),
        [
            problem(Code::SeveralStartNodes, "nodes[0].start"),
            problem(Code::SeveralStartNodes, "nodes[1].start"),
        ]
    );
}

#[test]
fn duplicate_node_ids() {
    let mut flow = base();
    push_node(&mut flow, json!({"id": "bye", "type": "end"}));
    let errors = errors(flow);
    assert_eq!(errors.codes(), [Code::DuplicateNodeId]);
    assert_eq!(errors.errors()[0].field, "nodes[3].id");
    assert_eq!(errors.errors()[0].node_id.as_deref(), Some("bye"));
    assert!(errors.errors()[0].message.contains("'bye'"));
}

#[test]
fn duplicate_edge_ids() {
    let mut flow = base();
    push_edge(
        &mut flow,
        json!({"id": "e2", "source": "ask", "target": "bye",
               "condition": {"type": "keywords", "any": ["no"]}}),
    );
    assert_eq!(
        problems(flow),
        [problem(Code::DuplicateEdgeId, "edges[3].id")]
    );
}

#[test]
fn empty_and_overlong_ids() {
    let mut flow = base();
    push_node(&mut flow, json!({"id": " ", "type": "end"}));
    push_edge(
        &mut flow,
        json!({"id": "x".repeat(MAX_ID_CHARS + 1), "source": "ask", "target": "bye",
               "condition": {"type": "keywords", "any": ["no"]}}),
    );
    assert_eq!(
        problems(flow),
        [
            problem(Code::InvalidId, "nodes[3].id"),
            problem(Code::InvalidId, "edges[3].id"),
        ]
    );
}

#[test]
fn edges_to_and_from_missing_nodes() {
    let mut flow = base();
    push_edge(
        &mut flow,
        json!({"id": "e4", "source": "ask", "target": "nowhere",
               "condition": {"type": "keywords", "any": ["no"]}}),
    );
    push_edge(
        &mut flow,
        json!({"id": "e5", "source": "ghost", "target": "bye"}),
    );
    let errors = errors(flow);
    assert_eq!(
        errors
            .errors()
            .iter()
            .map(|e| (e.code, e.field.as_str(), e.edge_id.as_deref()))
            .collect::<Vec<_>>(),
        [
            (Code::EdgeToMissingNode, "edges[3].target", Some("e4")),
            (Code::EdgeFromMissingNode, "edges[4].source", Some("e5")),
        ]
    );
    assert!(errors.errors()[0].message.contains("'nowhere'"));
}

#[test]
fn unreachable_nodes() {
    let mut flow = base();
    push_node(
        &mut flow,
        json!({"id": "orphan", "type": "end", "data": {"text": "Unused"}}),
    );
    assert_eq!(problems(flow), [problem(Code::UnreachableNode, "nodes[3]")]);
}

#[test]
fn no_end_reachable() {
    let flow = json!({
        "nodes": [
            {"id": "hello", "type": "message", "start": true, "data": {"text": "Hello"}},
            {"id": "ask", "type": "question", "data": {"text": "Again?"}}
        ],
        "edges": [
            {"id": "e1", "source": "hello", "target": "ask"},
            {"id": "e2", "source": "ask", "target": "hello", "condition": {"type": "else"}}
        ]
    });
    assert_eq!(problems(flow), [problem(Code::NoEndReachable, "nodes")]);
}

#[test]
fn a_node_from_which_no_end_can_be_reached() {
    let mut flow = base();
    push_node(
        &mut flow,
        json!({"id": "trap", "type": "question", "data": {"text": "Say anything"}}),
    );
    push_edge(
        &mut flow,
        json!({"id": "e4", "source": "ask", "target": "trap",
               "condition": {"type": "keywords", "any": ["maybe"]}}),
    );
    push_edge(
        &mut flow,
        json!({"id": "e5", "source": "trap", "target": "trap", "condition": {"type": "else"}}),
    );
    assert_eq!(problems(flow), [problem(Code::CannotReachEnd, "nodes[3]")]);
}

#[test]
fn a_question_without_else() {
    let mut flow = base();
    flow["edges"].as_array_mut().unwrap().pop();
    assert_eq!(
        problems(flow),
        [problem(Code::QuestionWithoutElse, "nodes[1]")]
    );
}

#[test]
fn a_question_with_an_always_edge_needs_no_else() {
    let mut flow = base();
    flow["edges"][2]["condition"] = json!({"type": "always"});
    valid(flow);
}

#[test]
fn an_invalid_regex() {
    let mut flow = base();
    flow["edges"][1]["condition"] = json!({"type": "regex", "pattern": "(unclosed"});
    let errors = errors(flow);
    assert_eq!(errors.codes(), [Code::InvalidRegex]);
    assert_eq!(errors.errors()[0].field, "edges[1].condition.pattern");
    let message = &errors.errors()[0].message;
    assert!(message.contains("unclosed"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn a_regex_that_compiles_too_large() {
    let mut flow = base();
    flow["edges"][1]["condition"] = json!({"type": "regex", "pattern": "\\w{1000}\\w{1000}"});
    let errors = errors(flow);
    assert_eq!(errors.codes(), [Code::InvalidRegex]);
    assert!(errors.errors()[0].message.contains("too large"));
}

#[test]
fn empty_keywords() {
    let mut flow = base();
    flow["edges"][1]["condition"] = json!({"type": "keywords"});
    assert_eq!(
        problems(flow.clone()),
        [problem(Code::EmptyKeywords, "edges[1].condition")]
    );
    flow["edges"][1]["condition"] = json!({"type": "keywords", "any": ["yes", "!!"]});
    assert_eq!(
        problems(flow),
        [problem(Code::EmptyKeywords, "edges[1].condition.any[1]")]
    );
}

#[test]
fn digits_conditions_need_keypad_keys() {
    let mut flow = base();
    flow["edges"][1]["condition"] = json!({"type": "digits", "digits": "12*A"});
    valid(flow.clone());
    for (digits, code) in [
        ("", Code::EmptyText),
        ("1#", Code::InvalidDigits),
        ("one", Code::InvalidDigits),
        ("1 2", Code::InvalidDigits),
        (&"1".repeat(crate::flow::MAX_DIGITS + 1), Code::TooLong),
    ] {
        flow["edges"][1]["condition"] = json!({"type": "digits", "digits": digits});
        assert_eq!(
            problems(flow.clone()),
            [problem(code, "edges[1].condition.digits")],
            "{digits:?}"
        );
    }
    flow["edges"][1]["condition"] = json!({"type": "digits", "digits": "#"});
    let message = errors(flow).errors()[0].message.clone();
    assert!(
        message.contains("edge 'e2'") && message.contains("'#'"),
        "{message}"
    );
    // Keys are the caller's input: they belong on edges of nodes that wait for the caller.
    let mut flow = base();
    flow["edges"][0]["condition"] = json!({"type": "digits", "digits": "1"});
    assert_eq!(
        problems(flow),
        [problem(Code::ConditionNeedsCaller, "edges[0].condition")]
    );
}

#[test]
fn an_edge_out_of_an_end_or_transfer_node() {
    let mut flow = base();
    push_edge(
        &mut flow,
        json!({"id": "e4", "source": "bye", "target": "hello"}),
    );
    assert_eq!(
        problems(flow),
        [problem(Code::EdgeFromEndNode, "edges[3].source")]
    );

    let mut flow = base();
    push_node(
        &mut flow,
        json!({"id": "human", "type": "transfer", "data": {"phone_number": "+15550102000"}}),
    );
    push_edge(
        &mut flow,
        json!({"id": "e4", "source": "ask", "target": "human",
               "condition": {"type": "keywords", "any": ["human"]}}),
    );
    push_edge(
        &mut flow,
        json!({"id": "e5", "source": "human", "target": "bye"}),
    );
    assert_eq!(
        problems(flow),
        [problem(Code::EdgeFromEndNode, "edges[4].source")]
    );
}

#[test]
fn several_else_edges() {
    let mut flow = base();
    push_edge(
        &mut flow,
        json!({"id": "e4", "source": "ask", "target": "hello", "condition": {"type": "else"}}),
    );
    assert_eq!(
        problems(flow),
        [problem(Code::SeveralElseEdges, "nodes[1]")]
    );
}

#[test]
fn empty_texts() {
    let mut flow = base();
    flow["nodes"][0]["data"]["text"] = json!("  ");
    flow["nodes"][1]["data"] = json!({});
    flow["edges"][1]["condition"] = json!({"type": "intent", "description": ""});
    push_edge(
        &mut flow,
        json!({"id": "e4", "source": "ask", "target": "bye",
               "condition": {"type": "regex", "pattern": ""}}),
    );
    assert_eq!(
        problems(flow),
        [
            problem(Code::EmptyText, "nodes[0].data.text"),
            problem(Code::EmptyText, "nodes[1].data.text"),
            problem(Code::EmptyText, "edges[1].condition.description"),
            problem(Code::EmptyText, "edges[3].condition.pattern"),
        ]
    );
}

#[test]
fn texts_over_the_limit() {
    let mut flow = base();
    flow["nodes"][1]["data"]["text"] = json!("a".repeat(MAX_TEXT_CHARS + 1));
    flow["edges"][1]["condition"] = json!({"type": "keywords", "any": ["b".repeat(201)]});
    assert_eq!(
        problems(flow),
        [
            problem(Code::TooLong, "nodes[1].data.text"),
            problem(Code::TooLong, "edges[1].condition.any[0]"),
        ]
    );
}

#[test]
fn a_dead_end() {
    let mut flow = base();
    push_node(
        &mut flow,
        json!({"id": "limbo", "type": "message", "data": {"text": "Hmm."}}),
    );
    push_edge(
        &mut flow,
        json!({"id": "e4", "source": "ask", "target": "limbo",
               "condition": {"type": "keywords", "any": ["maybe"]}}),
    );
    let errors = errors(flow);
    assert_eq!(errors.codes(), [Code::DeadEnd]);
    assert_eq!(errors.errors()[0].node_id.as_deref(), Some("limbo"));
}

#[test]
fn a_message_node_with_several_exits() {
    let mut flow = base();
    push_edge(
        &mut flow,
        json!({"id": "e4", "source": "hello", "target": "bye"}),
    );
    assert_eq!(problems(flow), [problem(Code::SeveralExits, "nodes[0]")]);
}

#[test]
fn a_condition_on_a_node_that_does_not_wait() {
    let mut flow = base();
    flow["edges"][0]["condition"] = json!({"type": "intent", "description": "anything"});
    assert_eq!(
        problems(flow),
        [problem(Code::ConditionNeedsCaller, "edges[0].condition")]
    );
}

#[test]
fn edges_after_always_are_shadowed() {
    let mut flow = base();
    flow["edges"] = json!([
        {"id": "e1", "source": "hello", "target": "ask"},
        {"id": "e2", "source": "ask", "target": "bye", "condition": {"type": "else"}},
        {"id": "e3", "source": "ask", "target": "bye"},
        {"id": "e4", "source": "ask", "target": "hello",
         "condition": {"type": "keywords", "any": ["again"]}}
    ]);
    assert_eq!(
        problems(flow),
        [
            problem(Code::ShadowedEdge, "edges[1]"),
            problem(Code::ShadowedEdge, "edges[3]"),
        ]
    );
}

#[test]
fn node_fields_of_tools_transfers_and_llms() {
    let flow = json!({
        "nodes": [
            {"id": "chat", "type": "llm", "start": true,
             "data": {"prompt": "Chat", "max_turns": 0}},
            {"id": "tool", "type": "tool", "data": {"tool": "book a slot", "arguments": [1]}},
            {"id": "human", "type": "transfer", "data": {"phone_number": "555-0100"}},
            {"id": "bye", "type": "end"}
        ],
        "edges": [
            {"id": "e1", "source": "chat", "target": "tool", "condition": {"type": "else"}},
            {"id": "e2", "source": "chat", "target": "human",
             "condition": {"type": "keywords", "any": ["human"]}},
            {"id": "e3", "source": "tool", "target": "bye"}
        ]
    });
    assert_eq!(
        problems(flow),
        [
            problem(Code::InvalidMaxTurns, "nodes[0].data.max_turns"),
            problem(Code::InvalidToolName, "nodes[1].data.tool"),
            problem(Code::InvalidToolArguments, "nodes[1].data.arguments"),
            problem(Code::InvalidPhoneNumber, "nodes[2].data.phone_number"),
        ]
    );
}

#[test]
fn required_fields_of_tools_transfers_and_llms() {
    let flow = json!({
        "nodes": [
            {"id": "chat", "type": "llm", "start": true,
             "data": {"prompt": "p".repeat(8001), "exit_condition": " "}},
            {"id": "tool", "type": "tool", "data": {}},
            {"id": "human", "type": "transfer"},
            {"id": "bye", "type": "end", "data": {"text": "b".repeat(MAX_TEXT_CHARS + 1)}}
        ],
        "edges": [
            {"id": "e1", "source": "chat", "target": "tool", "condition": {"type": "else"}},
            {"id": "e2", "source": "chat", "target": "human",
             "condition": {"type": "keywords", "any": ["human"]}},
            {"id": "e3", "source": "tool", "target": "bye"}
        ]
    });
    assert_eq!(
        problems(flow),
        [
            problem(Code::TooLong, "nodes[0].data.prompt"),
            problem(Code::EmptyText, "nodes[0].data.exit_condition"),
            problem(Code::EmptyText, "nodes[1].data.tool"),
            problem(Code::EmptyText, "nodes[2].data.phone_number"),
            problem(Code::TooLong, "nodes[3].data.text"),
        ]
    );
}

#[test]
fn a_message_node_may_leave_by_else() {
    let mut flow = base();
    flow["edges"][0]["condition"] = json!({"type": "else"});
    valid(flow);
}

#[test]
fn transfer_numbers_may_be_written_with_separators() {
    let mut flow = base();
    flow["nodes"][2] = json!({"id": "bye", "type": "transfer",
                              "data": {"phone_number": "+44 (20) 7946-0958"}});
    valid(flow);
}

#[test]
fn an_llm_exit_without_else() {
    let flow = json!({
        "nodes": [
            {"id": "chat", "type": "llm", "start": true,
             "data": {"prompt": "Chat", "exit_condition": "done"}},
            {"id": "bye", "type": "end"}
        ],
        "edges": [
            {"id": "e1", "source": "chat", "target": "bye",
             "condition": {"type": "keywords", "any": ["bye"]}}
        ]
    });
    assert_eq!(
        problems(flow),
        [problem(Code::LlmExitWithoutElse, "nodes[0]")]
    );
}

#[test]
fn an_llm_else_that_is_never_taken() {
    let flow = json!({
        "nodes": [
            {"id": "chat", "type": "llm", "start": true, "data": {"prompt": "Chat"}},
            {"id": "bye", "type": "end"}
        ],
        "edges": [
            {"id": "e1", "source": "chat", "target": "bye", "condition": {"type": "else"}}
        ]
    });
    assert_eq!(
        problems(flow),
        [problem(Code::LlmElseNeverTaken, "edges[0]")]
    );
}

#[test]
fn a_circle_of_message_and_tool_nodes() {
    let mut flow = base();
    push_node(
        &mut flow,
        json!({"id": "loop1", "type": "message", "data": {"text": "One"}}),
    );
    push_node(
        &mut flow,
        json!({"id": "loop2", "type": "tool", "data": {"tool": "ping"}}),
    );
    push_edge(
        &mut flow,
        json!({"id": "e4", "source": "ask", "target": "loop1",
               "condition": {"type": "keywords", "any": ["loop"]}}),
    );
    push_edge(
        &mut flow,
        json!({"id": "e5", "source": "loop1", "target": "loop2"}),
    );
    push_edge(
        &mut flow,
        json!({"id": "e6", "source": "loop2", "target": "loop1"}),
    );
    let errors = errors(flow);
    assert_eq!(errors.codes(), [Code::PassthroughCycle]);
    assert_eq!(errors.errors()[0].field, "nodes[3]");
    assert!(
        errors.errors()[0]
            .message
            .contains("'loop1' -> 'loop2' -> 'loop1'")
    );
}

#[test]
fn a_message_node_looping_to_itself() {
    let mut flow = base();
    flow["edges"][0]["target"] = json!("hello");
    assert_eq!(
        problems(flow),
        [
            problem(Code::PassthroughCycle, "nodes[0]"),
            problem(Code::UnreachableNode, "nodes[1]"),
            problem(Code::UnreachableNode, "nodes[2]"),
            problem(Code::NoEndReachable, "nodes"),
        ]
    );
}

#[test]
fn too_many_nodes_or_edges_stops_the_check() {
    let nodes: Vec<Value> = (0..=MAX_NODES)
        .map(|i| json!({"id": format!("n{i}"), "type": "end"}))
        .collect();
    let edges: Vec<Value> = (0..=MAX_EDGES)
        .map(|i| json!({"id": format!("e{i}"), "source": "n0", "target": "n1"}))
        .collect();
    assert_eq!(
        problems(json!({"nodes": nodes, "edges": edges})),
        [
            problem(Code::TooManyNodes, "nodes"),
            problem(Code::TooManyEdges, "edges"),
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let flow = json!({
        "nodes": [
            {"id": "hello", "type": "message", "start": true, "data": {"text": "Hi {name}"}},
            {"id": "ask", "type": "question", "data": {"text": "Interested?"}},
            {"id": "ask", "type": "question", "data": {"text": "Copy"}},
            {"id": "book", "type": "tool", "data": {"tool": "book"}},
            {"id": "orphan", "type": "message", "data": {"text": "Nobody comes here"}},
            {"id": "bye", "type": "end", "start": true}
        ],
        "edges": [
            {"id": "e1", "source": "hello", "target": "ask"},
            {"id": "e2", "source": "ask", "target": "book",
             "condition": {"type": "regex", "pattern": "[yes"}},
            {"id": "e2", "source": "ask", "target": "missing",
             "condition": {"type": "keywords", "any": []}},
            {"id": "e4", "source": "bye", "target": "hello"},
            {"id": "e5", "source": "orphan", "target": "bye"}
        ]
    });
    let errors = errors(flow);
    let found: Vec<(Code, &str, Option<&str>, Option<&str>)> = errors
        .errors()
        .iter()
        .map(|e| {
            (
                e.code,
                e.field.as_str(),
                e.node_id.as_deref(),
                e.edge_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (Code::DuplicateNodeId, "nodes[2].id", Some("ask"), None),
            (
                Code::SeveralStartNodes,
                "nodes[0].start",
                Some("hello"),
                None
            ),
            (Code::SeveralStartNodes, "nodes[5].start", Some("bye"), None),
            (
                Code::InvalidRegex,
                "edges[1].condition.pattern",
                None,
                Some("e2")
            ),
            (Code::DuplicateEdgeId, "edges[2].id", None, Some("e2")),
            (Code::EdgeToMissingNode, "edges[2].target", None, Some("e2")),
            (Code::EmptyKeywords, "edges[2].condition", None, Some("e2")),
            (Code::EdgeFromEndNode, "edges[3].source", None, Some("e4")),
            (Code::QuestionWithoutElse, "nodes[1]", Some("ask"), None),
            (Code::DeadEnd, "nodes[3]", Some("book"), None),
            (Code::UnreachableNode, "nodes[4]", Some("orphan"), None),
        ]
    );
    // The HTTP layer answers with the same problems, field by field.
    let count = found.len();
    let validation = ValidationErrors::from(errors);
    assert_eq!(validation.errors().len(), count);
    assert_eq!(validation.errors()[3].field, "edges[1].condition.pattern");
}

#[test]
fn errors_serialize_with_code_field_and_ids() {
    let mut flow = base();
    flow["edges"].as_array_mut().unwrap().pop();
    let json = serde_json::to_value(errors(flow)).unwrap();
    assert_eq!(
        json,
        json!([{
            "code": "question_without_else",
            "message": "question node 'ask' has no else edge for answers that match no other edge",
            "field": "nodes[1]",
            "node_id": "ask"
        }])
    );
}

#[test]
fn a_flow_can_be_built_in_code() {
    use crate::flow::{
        EdgeCondition, EndNode, FlowEdge, FlowNode, MessageNode, NodeKind, ValidFlow,
    };
    let flow = CallFlow {
        nodes: vec![
            FlowNode::new(
                "hi",
                NodeKind::Message(MessageNode {
                    text: "Hi".into(),
                    ..MessageNode::default()
                }),
            )
            .starting(),
            FlowNode::new("bye", NodeKind::End(EndNode::default())),
        ],
        edges: vec![FlowEdge::new("e", "hi", "bye", EdgeCondition::Always)],
    };
    let valid = ValidFlow::try_from(flow.clone()).unwrap();
    assert_eq!(valid.flow(), &flow);
    assert_eq!(parse(serde_json::to_value(&flow).unwrap()), flow);
}
