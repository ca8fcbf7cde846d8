//! The step graph: petgraph DAG, deterministic topological order, cycle naming, DOT and Mermaid.
//!
//! Edges point from a needed step to the step that needs it (the direction work flows). Among
//! steps that are ready at the same time, the one earlier in the file comes first, so the order
//! is a pure function of the file and `plan` output is stable.

use super::model::{Runbook, StepDef};
use petgraph::graph::{DiGraph, NodeIndex};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// The DAG of a validated runbook: node weights are indices into `runbook.steps`.
pub fn build(rb: &Runbook) -> DiGraph<usize, ()> {
    let mut g = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..rb.steps.len()).map(|i| g.add_node(i)).collect();
    let index: HashMap<&str, usize> =
        rb.steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    for (i, s) in rb.steps.iter().enumerate() {
        for need in &s.needs {
            if let Some(&j) = index.get(need.as_str()) {
                g.add_edge(nodes[j], nodes[i], ());
            }
        }
    }
    g
}

/// `deps[i]` lists the indices step `i` needs. Returns every step once, each after all it needs,
/// ties broken by file order; or, if the graph has cycles, each cycle (see [`cycles`]).
pub fn toposort(deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<Vec<usize>>> {
    let n = deps.len();
    let mut waiting: Vec<usize> = vec![0; n];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            waiting[i] += 1;
            dependents[d].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| waiting[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &j in &dependents[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.push(Reverse(j));
            }
        }
    }
    if order.len() == n {
        Ok(order)
    } else {
        Err(cycles(deps))
    }
}

/// One cycle per strongly connected component of more than one step (self-dependencies are
/// reported separately by the validator), as step indices starting from the one earliest in the
/// file and following `needs`: `[a, b, c]` means a needs b, b needs c, c needs a.
pub fn cycles(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut g: DiGraph<usize, ()> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..deps.len()).map(|i| g.add_node(i)).collect();
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            if d != i {
                g.add_edge(nodes[i], nodes[d], ());
            }
        }
    }
    let mut out: Vec<Vec<usize>> = petgraph::algo::tarjan_scc(&g)
        .into_iter()
        .filter(|scc| scc.len() > 1)
        .filter_map(|scc| {
            let members: Vec<usize> = scc.iter().map(|n| g[*n]).collect();
            let start = *members.iter().min()?;
            shortest_cycle(deps, start, &members)
        })
        .collect();
    out.sort();
    out
}

/// Breadth-first from `start` through `needs` (within the component) back to `start`, visiting
/// needs in file order: the shortest cycle, deterministically.
fn shortest_cycle(deps: &[Vec<usize>], start: usize, members: &[usize]) -> Option<Vec<usize>> {
    let mut prev: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(i) = queue.pop_front() {
        let mut next: Vec<usize> =
            deps[i].iter().copied().filter(|d| members.contains(d)).collect();
        next.sort_unstable();
        for d in next {
            if d == start {
                let mut path = vec![i];
                let mut cur = i;
                while cur != start {
                    cur = prev[&cur];
                    path.push(cur);
                }
                path.reverse();
                return Some(path);
            }
            if d != i && !prev.contains_key(&d) {
                prev.insert(d, i);
                queue.push_back(d);
            }
        }
    }
    None
}

/// Step indices of a validated runbook in execution order.
pub fn order(rb: &Runbook) -> Vec<usize> {
    let index: HashMap<&str, usize> =
        rb.steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    let deps: Vec<Vec<usize>> = rb
        .steps
        .iter()
        .map(|s| s.needs.iter().filter_map(|n| index.get(n.as_str()).copied()).collect())
        .collect();
    // A validated runbook is acyclic; should one not be, fall back to file order rather than
    // lose steps.
    toposort(&deps).unwrap_or_else(|_| (0..rb.steps.len()).collect())
}

/// How a step is drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Task,
    Gate,
    Manual,
    Wait,
}

fn shape(s: &StepDef) -> Shape {
    if s.uses.starts_with("gate.") {
        Shape::Gate
    } else if s.uses.starts_with("manual.") {
        Shape::Manual
    } else if s.uses.starts_with("wait.") {
        Shape::Wait
    } else {
        Shape::Task
    }
}

/// `{{ params.connectors }}` → `params.connectors`, for labels.
fn expr_label(t: &str) -> String {
    let t = t.trim();
    match t.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
        Some(inner) if !inner.contains("{{") => inner.trim().to_string(),
        _ => t.to_string(),
    }
}

/// Whether `s` needs `up` item by item (both fan out over the same expression).
fn item_wise(s: &StepDef, up: &StepDef) -> bool {
    matches!((&s.for_each, &up.for_each), (Some(a), Some(b)) if a.trim() == b.trim())
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Graphviz DOT. Gates are diamonds, manual tasks parallelograms, waits ellipses, fan-out steps
/// are drawn stacked (`box3d`) with their list; item-wise dependencies are dashed.
pub fn to_dot(rb: &Runbook) -> String {
    let mut out = format!("digraph \"{}\" {{\n", dot_escape(&rb.name));
    out.push_str("  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n");
    for i in order(rb) {
        let s = &rb.steps[i];
        let mut label = format!("{}\n{}", s.id, s.uses);
        if let Some(fe) = &s.for_each {
            label.push_str(&format!("\nfor each {}", expr_label(fe)));
        }
        let attrs = match (shape(s), s.for_each.is_some()) {
            (_, true) => ", shape=box3d, style=\"\"",
            (Shape::Gate, _) => ", shape=diamond, style=\"\"",
            (Shape::Manual, _) => ", shape=parallelogram, style=\"\"",
            (Shape::Wait, _) => ", shape=ellipse, style=\"\"",
            (Shape::Task, _) => "",
        };
        out.push_str(&format!(
            "  \"{}\" [label=\"{}\"{attrs}];\n",
            dot_escape(&s.id),
            dot_escape(&label)
        ));
    }
    for i in order(rb) {
        let s = &rb.steps[i];
        for need in &s.needs {
            let style = match rb.step(need) {
                Some(up) if item_wise(s, up) => " [style=dashed, label=\"per item\"]",
                _ => "",
            };
            out.push_str(&format!(
                "  \"{}\" -> \"{}\"{style};\n",
                dot_escape(need),
                dot_escape(&s.id)
            ));
        }
    }
    out.push_str("}\n");
    out
}

fn mermaid_id(id: &str) -> String {
    // Step ids are `[a-z0-9][a-z0-9-]*`; Mermaid reads `-` as part of an arrow, `_` is safe and
    // cannot collide because ids never contain it.
    format!("s_{}", id.replace('-', "_"))
}

fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;")
}

/// Mermaid flowchart. Gates are rhombi, manual tasks parallelograms, waits stadiums, fan-out steps
/// subroutine boxes with their list; item-wise dependencies are dotted and labelled.
pub fn to_mermaid(rb: &Runbook) -> String {
    let mut out = String::from("flowchart TD\n");
    for i in order(rb) {
        let s = &rb.steps[i];
        let mut label = format!("{}<br/>{}", s.id, s.uses);
        if let Some(fe) = &s.for_each {
            label.push_str(&format!("<br/>for each {}", expr_label(fe)));
        }
        let label = mermaid_text(&label);
        let node = match (shape(s), s.for_each.is_some()) {
            (_, true) => format!("[[\"{label}\"]]"),
            (Shape::Gate, _) => format!("{{\"{label}\"}}"),
            (Shape::Manual, _) => format!("[/\"{label}\"/]"),
            (Shape::Wait, _) => format!("([\"{label}\"])"),
            (Shape::Task, _) => format!("[\"{label}\"]"),
        };
        out.push_str(&format!("    {}{node}\n", mermaid_id(&s.id)));
    }
    for i in order(rb) {
        let s = &rb.steps[i];
        for need in &s.needs {
            let arrow = match rb.step(need) {
                Some(up) if item_wise(s, up) => "-. per item .->",
                _ => "-->",
            };
            out.push_str(&format!("    {} {arrow} {}\n", mermaid_id(need), mermaid_id(&s.id)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topo_order_breaks_ties_by_file_order() {
        // 0 needs 3; 1 needs nothing; 2 needs 1; 3 needs nothing.
        let deps = vec![vec![3], vec![], vec![1], vec![]];
        assert_eq!(toposort(&deps), Ok(vec![1, 2, 3, 0]));
        // A diamond: 3 needs 1 and 2, which both need 0.
        let deps = vec![vec![], vec![0], vec![0], vec![2, 1]];
        assert_eq!(toposort(&deps), Ok(vec![0, 1, 2, 3]));
        assert_eq!(toposort(&[]), Ok(vec![]));
    }

    #[test]
    fn cycles_are_named_from_the_earliest_step() {
        // 0 -> 1 -> 2 -> 0, plus 3 -> 4 -> 3, plus 5 needs 0 (not in a cycle).
        let deps = vec![vec![1], vec![2], vec![0], vec![4], vec![3], vec![0]];
        assert_eq!(toposort(&deps), Err(vec![vec![0, 1, 2], vec![3, 4]]));
        // The shortest way back is chosen: 0 needs 1 and 2; 2 needs 0; 1 needs 2.
        let deps = vec![vec![1, 2], vec![2], vec![0]];
        assert_eq!(cycles(&deps), vec![vec![0, 2]]);
        // Self-dependencies alone are not cycles here.
        assert_eq!(cycles(&[vec![0]]), Vec::<Vec<usize>>::new());
    }
}
