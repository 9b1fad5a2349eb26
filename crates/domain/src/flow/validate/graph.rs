//! The rules on the graph as a whole: each node's way out, circles of nodes that never wait,
//! and what the start can reach and what can reach an end.

use std::collections::{HashSet, VecDeque};

use super::{CheckedEdge, named};
use crate::flow::errors::{FlowErrorCode as Code, Report};
use crate::flow::model::{CallFlow, EdgeCondition, NodeKind};

/// The outgoing edges (indices into `flow.edges`) of each node, in flow order.
fn outgoing(flow: &CallFlow, edges: &[CheckedEdge]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); flow.nodes.len()];
    for (j, edge) in edges.iter().enumerate() {
        if let Some(s) = edge.source {
            out[s].push(j);
        }
    }
    out
}

/// The rules about a node's way out, which depend on its kind.
pub(super) fn check_exits(
    flow: &CallFlow,
    edges: &[CheckedEdge],
    flagged: &mut [bool],
    report: &mut Report,
) {
    let out = outgoing(flow, edges);
    for (i, node) in flow.nodes.iter().enumerate() {
        let exits = &out[i];
        let name = named("node", i, &node.id);
        // Final nodes have no way out to check, and edges cannot name an unindexed node.
        if node.kind.is_final() || flagged[i] {
            continue;
        }
        if exits.is_empty() {
            report.node(
                Code::DeadEnd,
                i,
                &node.id,
                "",
                format!(
                    "{name} has no outgoing edge, so the conversation would stop there; \
                     connect it or use an end node"
                ),
            );
            flagged[i] = true;
            continue;
        }
        if !node.kind.waits_for_caller() {
            if exits.len() > 1 {
                report.node(
                    Code::SeveralExits,
                    i,
                    &node.id,
                    "",
                    format!(
                        "{name} is a {} node and can follow only one edge, but has {}",
                        node.kind.name(),
                        exits.len()
                    ),
                );
            }
            for &j in exits {
                let edge = &flow.edges[j];
                if edge.condition.reads_utterance() {
                    report.edge(
                        Code::ConditionNeedsCaller,
                        j,
                        &edge.id,
                        ".condition",
                        format!(
                            "{} has a {} condition, but {name} does not wait for the caller; \
                             use 'always'",
                            named("edge", j, &edge.id),
                            edge.condition.name()
                        ),
                    );
                }
            }
            continue;
        }

        let is_else = |j: &usize| flow.edges[*j].condition == EdgeCondition::Else;
        let else_edges: Vec<usize> = exits.iter().copied().filter(is_else).collect();
        if else_edges.len() > 1 {
            let ids: Vec<String> = else_edges
                .iter()
                .map(|&j| named("edge", j, &flow.edges[j].id))
                .collect();
            report.node(
                Code::SeveralElseEdges,
                i,
                &node.id,
                "",
                format!(
                    "{name} has several else edges ({}); keep one",
                    ids.join(", ")
                ),
            );
        }
        let first_always = exits
            .iter()
            .position(|&j| flow.edges[j].condition == EdgeCondition::Always);
        let mut shadowed: HashSet<usize> = HashSet::new();
        if let Some(p) = first_always {
            let always_name = named("edge", exits[p], &flow.edges[exits[p]].id);
            // Edges after an `always` are never tried, and `else` comes last wherever it is drawn.
            for (k, &j) in exits.iter().enumerate() {
                if k > p || (k < p && is_else(&j)) {
                    shadowed.insert(j);
                    report.edge(
                        Code::ShadowedEdge,
                        j,
                        &flow.edges[j].id,
                        "",
                        format!(
                            "{} is never taken: {always_name} out of {name} is always taken first",
                            named("edge", j, &flow.edges[j].id)
                        ),
                    );
                }
            }
        }
        match &node.kind {
            NodeKind::Question(_) if else_edges.is_empty() && first_always.is_none() => {
                report.node(
                    Code::QuestionWithoutElse,
                    i,
                    &node.id,
                    "",
                    format!(
                        "question {name} has no else edge for answers that match no other edge"
                    ),
                );
            }
            NodeKind::Llm(llm) => {
                let has_exit = llm.exit_condition.is_some() || llm.max_turns.is_some();
                if has_exit && else_edges.is_empty() {
                    report.node(
                        Code::LlmExitWithoutElse,
                        i,
                        &node.id,
                        "",
                        format!(
                            "{name} sets an exit condition or max_turns but has no else edge \
                             to leave by"
                        ),
                    );
                }
                if !has_exit {
                    for &j in else_edges.iter().filter(|j| !shadowed.contains(j)) {
                        report.edge(
                            Code::LlmElseNeverTaken,
                            j,
                            &flow.edges[j].id,
                            "",
                            format!(
                                "{} is never taken: {name} has neither an exit condition nor \
                                 max_turns",
                                named("edge", j, &flow.edges[j].id)
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

/// Message and tool nodes follow their first edge at once; a circle of them would never stop.
pub(super) fn check_passthrough_cycles(
    flow: &CallFlow,
    edges: &[CheckedEdge],
    flagged: &mut [bool],
    report: &mut Report,
) {
    let out = outgoing(flow, edges);
    let next = |i: usize| -> Option<usize> {
        let node = &flow.nodes[i];
        if node.kind.waits_for_caller() || node.kind.is_final() {
            return None;
        }
        out[i].first().and_then(|&j| edges[j].target)
    };
    #[derive(Clone, Copy, PartialEq)]
    enum Seen {
        No,
        OnPath,
        Done,
    }
    let mut seen = vec![Seen::No; flow.nodes.len()];
    for first in 0..flow.nodes.len() {
        let mut path: Vec<usize> = Vec::new();
        let mut at = Some(first);
        while let Some(i) = at {
            match seen[i] {
                Seen::Done => break,
                Seen::OnPath => {
                    let begin = path.iter().position(|&p| p == i).unwrap_or_default();
                    let circle = &path[begin..];
                    let mut names: Vec<String> = circle
                        .iter()
                        .map(|&c| format!("'{}'", flow.nodes[c].id))
                        .collect();
                    names.push(format!("'{}'", flow.nodes[i].id));
                    for &c in circle {
                        flagged[c] = true;
                    }
                    report.node(
                        Code::PassthroughCycle,
                        i,
                        &flow.nodes[i].id,
                        "",
                        format!(
                            "nodes {} pass the call round in a circle without waiting for \
                             the caller",
                            names.join(" -> ")
                        ),
                    );
                    break;
                }
                Seen::No => {
                    seen[i] = Seen::OnPath;
                    path.push(i);
                    at = next(i);
                }
            }
        }
        for i in path {
            seen[i] = Seen::Done;
        }
    }
}

pub(super) fn check_reachability(
    flow: &CallFlow,
    edges: &[CheckedEdge],
    starts: &[usize],
    indexed: &[bool],
    stuck_explained: bool,
    report: &mut Report,
) {
    if starts.is_empty() {
        // Without a start every node would be unreachable; "no start node" says it all.
        return;
    }
    let n = flow.nodes.len();
    let mut forward = vec![Vec::new(); n];
    let mut backward = vec![Vec::new(); n];
    for edge in edges {
        if let (Some(s), Some(t)) = (edge.source, edge.target) {
            forward[s].push(t);
            backward[t].push(s);
        }
    }
    let reachable = spread(starts, &forward);
    for (i, node) in flow.nodes.iter().enumerate() {
        if !reachable[i] && indexed[i] {
            report.node(
                Code::UnreachableNode,
                i,
                &node.id,
                "",
                format!(
                    "{} cannot be reached from the start node",
                    named("node", i, &node.id)
                ),
            );
        }
    }
    let finals: Vec<usize> = (0..n).filter(|&i| flow.nodes[i].kind.is_final()).collect();
    if !finals.iter().any(|&i| reachable[i]) {
        report.flow(
            Code::NoEndReachable,
            "nodes",
            "no end or transfer node can be reached from the start, so the call never finishes"
                .to_owned(),
        );
        return;
    }
    if stuck_explained {
        return;
    }
    let can_finish = spread(&finals, &backward);
    for (i, node) in flow.nodes.iter().enumerate() {
        if reachable[i] && !can_finish[i] {
            report.node(
                Code::CannotReachEnd,
                i,
                &node.id,
                "",
                format!(
                    "no end or transfer node can be reached from {}, so a call there never finishes",
                    named("node", i, &node.id)
                ),
            );
        }
    }
}

/// The nodes reachable from `from` along `links` (breadth first).
fn spread(from: &[usize], links: &[Vec<usize>]) -> Vec<bool> {
    let mut seen = vec![false; links.len()];
    let mut queue: VecDeque<usize> = VecDeque::new();
    for &i in from {
        if !seen[i] {
            seen[i] = true;
            queue.push_back(i);
        }
    }
    while let Some(i) = queue.pop_front() {
        for &t in &links[i] {
            if !seen[t] {
                seen[t] = true;
                queue.push_back(t);
            }
        }
    }
    seen
}
