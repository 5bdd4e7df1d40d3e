//! Why one profile is or is not a member: the plan walked for that profile alone (as [`crate::evaluate_one`]
//! does), keeping at each condition whether it held and the values it read.

use std::fmt::Write as _;

use rapport_model::{EntityKind, FieldPath, Record};
use rapport_pql::ast::Quantifier;
use rapport_profile::ProfileGraph;
use serde::Serialize;
use serde_json::Value;

use crate::plan::{Cond, Plan, Root, RowExpr};
use crate::row;

/// How many related entities a relationship condition lists (the one that decides comes first).
const SHOWN: usize = 3;

/// A value a condition read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Seen {
    /// The field path on the record.
    pub path: String,
    /// Its value (`null` when missing).
    pub value: Value,
}

/// One condition of the plan, evaluated for one entity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// The condition, as the plan prints it.
    pub condition: String,
    /// Whether it held.
    pub holds: bool,
    /// The entity it was evaluated on, when it is a related entity (`namespace:value`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// The values a row condition read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Seen>,
    /// A summary (for relationships: how many related entities, how many qualify).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The conditions below it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Trace>,
}

impl Trace {
    fn new(condition: String, holds: bool) -> Self {
        Self { condition, holds, entity: None, values: Vec::new(), note: None, children: Vec::new() }
    }

    /// The trace as an indented tree, one condition a line, `✓` when it held and `✗` when it did not.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        let pad = "  ".repeat(depth);
        let mark = if self.holds { "✓" } else { "✗" };
        let _ = write!(out, "{pad}{mark} ");
        if let Some(entity) = &self.entity {
            let _ = write!(out, "[{entity}] ");
        }
        out.push_str(&self.condition);
        if let Some(note) = &self.note {
            let _ = write!(out, " — {note}");
        }
        if !self.values.is_empty() {
            let seen: Vec<String> = self.values.iter().map(|s| format!("{} = {}", s.path, s.value)).collect();
            let _ = write!(out, "  (saw {})", seen.join(", "));
        }
        out.push('\n');
        for child in &self.children {
            child.write(out, depth + 1);
        }
    }
}

/// Why profile number `id` of the plan's class is or is not a member. The root's `holds` equals
/// [`crate::evaluate_one`]; a placeholder (an entity known only by reference) is never a member.
pub fn why(plan: &Plan, graph: &ProfileGraph, id: u32) -> Trace {
    if (id as usize) >= graph.set(plan.entity).stored() {
        let mut trace = Trace::new(format!("Audience of {}", plan.entity), false);
        trace.note = Some("known only by reference (no record of its own): never a member".to_owned());
        return trace;
    }
    cond(&plan.root, plan.entity, graph, id)
}

fn label(cond: &Cond) -> String {
    match cond {
        Cond::And(_) => "And".to_owned(),
        Cond::Or(_) => "Or".to_owned(),
        Cond::Not(_) => "Not".to_owned(),
        Cond::Related { quantifier, from, navigation, to, .. } => {
            let q = if *quantifier == Quantifier::Exists { "Exists" } else { "Forall" };
            format!("{q} {navigation} ({from} -> {to})")
        }
        Cond::Row(expr) => format!("Filter {expr}"),
        Cond::Events(events) => format!("Events {events}"),
    }
}

fn primary(graph: &ProfileGraph, entity: EntityKind, id: u32) -> String {
    graph
        .set(entity)
        .profiles
        .get(id as usize)
        .map_or_else(|| format!("#{id}"), |p| format!("{}:{}", p.primary.namespace, p.primary.value))
}

fn cond(c: &Cond, entity: EntityKind, graph: &ProfileGraph, id: u32) -> Trace {
    match c {
        Cond::And(items) | Cond::Or(items) => {
            let children: Vec<Trace> = items.iter().map(|i| cond(i, entity, graph, id)).collect();
            let holds = if matches!(c, Cond::And(_)) {
                children.iter().all(|t| t.holds)
            } else {
                children.iter().any(|t| t.holds)
            };
            Trace { children, ..Trace::new(label(c), holds) }
        }
        Cond::Not(inner) => {
            let child = cond(inner, entity, graph, id);
            Trace { children: vec![child.clone()], ..Trace::new(label(c), !child.holds) }
        }
        Cond::Events(events) => crate::events::trace(events, graph, id),
        Cond::Row(expr) => {
            let empty = Record::new();
            let record = graph.set(entity).profiles.get(id as usize).map_or(&empty, |p| &p.record);
            row_trace(expr, record)
        }
        Cond::Related { quantifier, from, navigation, to, cond: inner } => {
            let targets = graph
                .navigation(*from, navigation)
                .and_then(|nav| nav.targets.get(id as usize))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut related: Vec<Trace> = targets
                .iter()
                .map(|&t| Trace { entity: Some(primary(graph, *to, t)), ..cond(inner, *to, graph, t) })
                .collect();
            let qualifying = related.iter().filter(|t| t.holds).count();
            let holds = match quantifier {
                Quantifier::Exists => qualifying > 0,
                Quantifier::Forall => qualifying == related.len(),
            };
            // The deciding entities first: a qualifying one for `exists`, a failing one for `forall`.
            related.sort_by_key(|t| if *quantifier == Quantifier::Exists { !t.holds } else { t.holds });
            let total = related.len();
            related.truncate(SHOWN);
            let mut note = format!("{qualifying} of {total} related qualify");
            if total > SHOWN {
                let _ = write!(note, " ({SHOWN} shown)");
            }
            Trace { note: Some(note), children: related, ..Trace::new(label(c), holds) }
        }
    }
}

fn row_trace(expr: &RowExpr, record: &Record) -> Trace {
    if let RowExpr::And(items) | RowExpr::Or(items) = expr {
        let children: Vec<Trace> = items.iter().map(|i| row_trace(i, record)).collect();
        let holds = row::holds(expr, record);
        let name = if matches!(expr, RowExpr::And(_)) { "And" } else { "Or" };
        return Trace { children, ..Trace::new(name.to_owned(), holds) };
    }
    let mut paths = Vec::new();
    record_fields(expr, &mut paths);
    let values = paths
        .into_iter()
        .map(|path| {
            let value = row::eval(&RowExpr::Field { root: Root::Record, path: path.clone() }, record, &mut Vec::new());
            Seen { path: path.to_string(), value }
        })
        .collect();
    Trace { values, ..Trace::new(format!("Filter {expr}"), row::holds(expr, record)) }
}

/// The distinct record paths an expression reads directly (fields of quantified elements show as their array).
fn record_fields(expr: &RowExpr, out: &mut Vec<FieldPath>) {
    match expr {
        RowExpr::Literal(_) | RowExpr::Field { root: Root::Local(_), .. } => {}
        RowExpr::Field { root: Root::Record, path } => {
            if !out.contains(path) {
                out.push(path.clone());
            }
        }
        RowExpr::Array(items) | RowExpr::And(items) | RowExpr::Or(items) | RowExpr::Call(_, items) => {
            items.iter().for_each(|e| record_fields(e, out))
        }
        RowExpr::Compare(_, a, b) | RowExpr::Arith(_, a, b) => {
            record_fields(a, out);
            record_fields(b, out);
        }
        RowExpr::Not(e) | RowExpr::Neg(e) | RowExpr::Like { expr: e, .. } => record_fields(e, out),
        RowExpr::In { expr, list, .. } => {
            record_fields(expr, out);
            record_fields(list, out);
        }
        RowExpr::If(a, b, c) => {
            record_fields(a, out);
            record_fields(b, out);
            record_fields(c, out);
        }
        RowExpr::Quantified { source, cond, .. } => {
            record_fields(source, out);
            record_fields(cond, out);
        }
    }
}
