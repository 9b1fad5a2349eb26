//! Tests of call flows as a whole: the rules on realistic and broken flows, and walking a flow
//! through a conversation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failing test should stop at once"
)]

mod stepping;
mod validation;

use serde_json::{Value, json};

use super::{CallFlow, FlowErrorCode, FlowErrors, ValidFlow};

/// A sales-qualification flow as a flow editor would save it.
const SALES_QUALIFICATION: &str = include_str!("sales_qualification.json");

fn sales_flow() -> ValidFlow {
    let flow: CallFlow = serde_json::from_str(SALES_QUALIFICATION).unwrap();
    flow.validate().unwrap()
}

fn parse(json: Value) -> CallFlow {
    serde_json::from_value(json).unwrap()
}

fn valid(json: Value) -> ValidFlow {
    let flow = parse(json);
    match flow.validate() {
        Ok(valid) => valid,
        Err(errors) => panic!("expected a valid flow, got: {errors}"),
    }
}

fn errors(json: Value) -> FlowErrors {
    parse(json)
        .validate()
        .expect_err("expected the flow to be refused")
}

/// The problems of a flow as (code, field) pairs, in the order reported.
fn problems(json: Value) -> Vec<(FlowErrorCode, String)> {
    errors(json)
        .errors()
        .iter()
        .map(|e| (e.code, e.field.clone()))
        .collect()
}

fn problem(code: FlowErrorCode, field: &str) -> (FlowErrorCode, String) {
    (code, field.to_owned())
}

/// A small valid flow to break one rule at a time: greet, ask yes or no, say goodbye.
fn base() -> Value {
    json!({
        "nodes": [
            {"id": "hello", "type": "message", "start": true, "data": {"text": "Hello"}},
            {"id": "ask", "type": "question", "data": {"text": "Yes or no?"}},
            {"id": "bye", "type": "end", "data": {"text": "Bye"}}
        ],
        "edges": [
            {"id": "e1", "source": "hello", "target": "ask"},
            {"id": "e2", "source": "ask", "target": "bye",
             "condition": {"type": "keywords", "any": ["yes"]}},
            {"id": "e3", "source": "ask", "target": "bye", "condition": {"type": "else"}}
        ]
    })
}

fn push_node(flow: &mut Value, node: Value) {
    flow["nodes"].as_array_mut().unwrap().push(node);
}

fn push_edge(flow: &mut Value, edge: Value) {
    flow["edges"].as_array_mut().unwrap().push(edge);
}
