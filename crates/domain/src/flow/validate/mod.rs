//! The rules a call flow must follow before it can run, and [`ValidFlow`], the checked flow with
//! its conditions compiled: the only form the step function accepts.
//!
//! The rules on single nodes and edges live in `fields`, the rules on the graph in `graph`.

mod fields;
mod graph;

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::errors::{FlowErrorCode as Code, FlowErrors, Report};
use super::limits::{MAX_EDGES, MAX_ID_CHARS, MAX_NODES};
use super::matching::Test;
use super::model::{CallFlow, FlowNode, NodeKind};
use crate::template;

pub(in crate::flow) use fields::normalize_phone_number;

/// A flow that passed every rule of [`CallFlow::validate`], with its conditions compiled.
///
/// It serializes as the flow it was made from, so it can be stored and returned as sent.
#[derive(Clone, Debug)]
pub struct ValidFlow {
    pub(super) flow: CallFlow,
    pub(super) start: usize,
    pub(super) index: HashMap<String, usize>,
    /// Per node, its outgoing edges in the order they appear in the flow.
    pub(super) exits: Vec<Vec<Exit>>,
}

/// One outgoing edge, resolved and compiled.
#[derive(Clone, Debug)]
pub(super) struct Exit {
    pub(super) edge_id: String,
    pub(super) target: usize,
    pub(super) test: Test,
}

impl ValidFlow {
    /// The flow as it was given.
    #[must_use]
    pub fn flow(&self) -> &CallFlow {
        &self.flow
    }

    /// The flow as it was given, by value.
    #[must_use]
    pub fn into_flow(self) -> CallFlow {
        self.flow
    }

    /// The id of the start node.
    #[must_use]
    pub fn start_node_id(&self) -> &str {
        &self.flow.nodes[self.start].id
    }

    /// The node with `id`, if there is one.
    #[must_use]
    pub fn node(&self, id: &str) -> Option<&FlowNode> {
        self.index.get(id).map(|&i| &self.flow.nodes[i])
    }

    /// Every template variable the flow's lines, prompts and tool arguments use, in order of first
    /// use, so a caller can warn about names it will never set. (Conditions are not templates.)
    #[must_use]
    pub fn placeholders(&self) -> Vec<String> {
        let mut texts: Vec<&str> = Vec::new();
        for node in &self.flow.nodes {
            match &node.kind {
                NodeKind::Message(m) => texts.push(&m.text),
                NodeKind::Question(q) => texts.push(&q.text),
                NodeKind::Llm(l) => texts.push(&l.prompt),
                NodeKind::Tool(t) => {
                    texts.extend(t.say.as_deref());
                    collect_strings(&t.arguments, &mut texts);
                }
                NodeKind::Transfer(t) => texts.extend(t.text.as_deref()),
                NodeKind::End(e) => texts.extend(e.text.as_deref()),
            }
        }
        let mut names: Vec<String> = Vec::new();
        for name in texts.into_iter().flat_map(template::placeholders) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// Every string inside a JSON value.
fn collect_strings<'v>(value: &'v serde_json::Value, out: &mut Vec<&'v str>) {
    match value {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

impl Serialize for ValidFlow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.flow.serialize(serializer)
    }
}

impl TryFrom<CallFlow> for ValidFlow {
    type Error = FlowErrors;

    fn try_from(flow: CallFlow) -> Result<Self, Self::Error> {
        let compiled = check(&flow)?;
        Ok(Self {
            flow,
            start: compiled.start,
            index: compiled.index,
            exits: compiled.exits,
        })
    }
}

impl CallFlow {
    /// Checks every rule and compiles the conditions.
    ///
    /// The rules: at most [`MAX_NODES`] nodes and [`MAX_EDGES`] edges; unique, non-empty ids;
    /// exactly one start node; texts present and within their limits; edges between existing
    /// nodes and never out of an end or transfer node; message and tool nodes with exactly one
    /// unconditional way out and no circle among them; questions with an `else` (or `always`)
    /// edge; llm nodes whose `else` edge and exit settings go together; keywords, regexes, tool
    /// names and transfer numbers well formed; every node reachable from the start, and an end
    /// reachable from every node.
    ///
    /// # Errors
    /// Returns every problem found, not just the first. When the flow exceeds the node or edge
    /// limit, only that is reported.
    pub fn validate(&self) -> Result<ValidFlow, FlowErrors> {
        ValidFlow::try_from(self.clone())
    }
}

struct Compiled {
    start: usize,
    index: HashMap<String, usize>,
    exits: Vec<Vec<Exit>>,
}

fn check(flow: &CallFlow) -> Result<Compiled, FlowErrors> {
    let mut report = Report::new();
    if flow.nodes.len() > MAX_NODES {
        report.flow(
            Code::TooManyNodes,
            "nodes",
            format!(
                "the flow has {} nodes; at most {MAX_NODES} are allowed",
                flow.nodes.len()
            ),
        );
    }
    if flow.edges.len() > MAX_EDGES {
        report.flow(
            Code::TooManyEdges,
            "edges",
            format!(
                "the flow has {} edges; at most {MAX_EDGES} are allowed",
                flow.edges.len()
            ),
        );
    }
    if !report.is_empty() {
        return Err(report.finish());
    }

    let index = check_nodes(flow, &mut report);
    let starts: Vec<usize> = (0..flow.nodes.len())
        .filter(|&i| flow.nodes[i].start)
        .collect();
    check_starts(flow, &starts, &mut report);

    let edges = check_edges(flow, &index, &mut report);
    // A node with an empty or duplicate id cannot be an edge's target; having said so, saying
    // it is unreachable or stuck as well would only add noise.
    let indexed: Vec<bool> = flow
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| index.get(node.id.as_str()) == Some(&i))
        .collect();
    // Nodes reported as dead ends or in a circle (and unindexed ones) are marked here.
    let mut flagged: Vec<bool> = indexed.iter().map(|&ok| !ok).collect();
    graph::check_exits(flow, &edges, &mut flagged, &mut report);
    graph::check_passthrough_cycles(flow, &edges, &mut flagged, &mut report);
    // A dead end or circle strands every node leading to it; naming each of those as well would
    // bury the cause, so nodes are only reported as stuck when there is no such cause.
    let stuck_explained = flagged.iter().zip(&indexed).any(|(&f, &ok)| f && ok);
    graph::check_reachability(
        flow,
        &edges,
        &starts,
        &indexed,
        stuck_explained,
        &mut report,
    );

    let [start] = starts[..] else {
        return Err(report.finish());
    };
    if !report.is_empty() {
        return Err(report.finish());
    }
    let mut exits: Vec<Vec<Exit>> = vec![Vec::new(); flow.nodes.len()];
    for (edge, checked) in flow.edges.iter().zip(&edges) {
        if let CheckedEdge {
            source: Some(source),
            target: Some(target),
            test: Some(test),
        } = checked
        {
            exits[*source].push(Exit {
                edge_id: edge.id.clone(),
                target: *target,
                test: test.clone(),
            });
        }
    }
    let index = index
        .into_iter()
        .map(|(id, i)| (id.to_owned(), i))
        .collect();
    Ok(Compiled {
        start,
        index,
        exits,
    })
}

/// How to name a node or edge in a message, even when its id is empty.
fn named(what: &str, index: usize, id: &str) -> String {
    if id.trim().is_empty() {
        format!("{what} #{}", index + 1)
    } else {
        format!("{what} '{id}'")
    }
}

fn check_id(what: &str, index: usize, id: &str) -> Option<String> {
    if id.trim().is_empty() {
        Some(format!("{} has an empty id", named(what, index, id)))
    } else if id.chars().count() > MAX_ID_CHARS {
        Some(format!(
            "{what} #{} has an id longer than {MAX_ID_CHARS} characters",
            index + 1
        ))
    } else {
        None
    }
}

/// Checks each node on its own and indexes the ids (first occurrence wins).
fn check_nodes<'f>(flow: &'f CallFlow, report: &mut Report) -> HashMap<&'f str, usize> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, node) in flow.nodes.iter().enumerate() {
        if let Some(message) = check_id("node", i, &node.id) {
            report.node(Code::InvalidId, i, &node.id, ".id", message);
        } else if index.contains_key(node.id.as_str()) {
            report.node(
                Code::DuplicateNodeId,
                i,
                &node.id,
                ".id",
                format!("node id '{}' is used by more than one node", node.id),
            );
        } else {
            index.insert(node.id.as_str(), i);
        }
        fields::check_node(report, i, node);
    }
    index
}

fn check_starts(flow: &CallFlow, starts: &[usize], report: &mut Report) {
    match starts {
        [] => report.flow(
            Code::NoStartNode,
            "nodes",
            "no node is marked as the start; mark exactly one".to_owned(),
        ),
        [_] => {}
        several => {
            let ids: Vec<String> = several
                .iter()
                .map(|&i| named("node", i, &flow.nodes[i].id))
                .collect();
            for &i in several {
                report.node(
                    Code::SeveralStartNodes,
                    i,
                    &flow.nodes[i].id,
                    ".start",
                    format!(
                        "{} is one of {} start nodes ({}); mark exactly one",
                        named("node", i, &flow.nodes[i].id),
                        several.len(),
                        ids.join(", ")
                    ),
                );
            }
        }
    }
}

/// An edge as far as it could be resolved and compiled.
struct CheckedEdge {
    source: Option<usize>,
    target: Option<usize>,
    test: Option<Test>,
}

fn check_edges(
    flow: &CallFlow,
    index: &HashMap<&str, usize>,
    report: &mut Report,
) -> Vec<CheckedEdge> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut checked = Vec::with_capacity(flow.edges.len());
    for (j, edge) in flow.edges.iter().enumerate() {
        let name = named("edge", j, &edge.id);
        if let Some(message) = check_id("edge", j, &edge.id) {
            report.edge(Code::InvalidId, j, &edge.id, ".id", message);
        } else if !seen.insert(edge.id.as_str()) {
            report.edge(
                Code::DuplicateEdgeId,
                j,
                &edge.id,
                ".id",
                format!("edge id '{}' is used by more than one edge", edge.id),
            );
        }
        let mut source = index.get(edge.source.as_str()).copied();
        if source.is_none() {
            report.edge(
                Code::EdgeFromMissingNode,
                j,
                &edge.id,
                ".source",
                format!("{name} leaves node '{}', which does not exist", edge.source),
            );
        }
        let target = index.get(edge.target.as_str()).copied();
        if target.is_none() {
            report.edge(
                Code::EdgeToMissingNode,
                j,
                &edge.id,
                ".target",
                format!(
                    "{name} leads to node '{}', which does not exist",
                    edge.target
                ),
            );
        }
        if let Some(s) = source {
            let kind = &flow.nodes[s].kind;
            if kind.is_final() {
                report.edge(
                    Code::EdgeFromEndNode,
                    j,
                    &edge.id,
                    ".source",
                    format!(
                        "{name} leaves {} node '{}', which ends the call; remove the edge",
                        kind.name(),
                        edge.source
                    ),
                );
                // Nothing runs after a final node, so the edge plays no further part.
                source = None;
            }
        }
        let test = fields::compile_condition(j, edge, &name, report);
        checked.push(CheckedEdge {
            source,
            target,
            test,
        });
    }
    checked
}
