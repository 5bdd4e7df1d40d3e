//! Evaluation of a [`Plan`] over linked profiles.
//!
//! Batch evaluation works class by class with bitmaps: a row condition scans the records of its class once; a
//! relationship quantifier turns the bitmap of qualifying related entities into the bitmap of entities related to
//! at least one (`exists`) or only to qualifying ones (`forall`) through the navigation's adjacency lists; `and`,
//! `or` and `not` are bitmap intersections, unions and complements. Single-profile evaluation walks the same plan
//! for one entity and must always agree with the batch result.

use rapport_pql::ast::Quantifier;
use rapport_profile::ProfileGraph;
use roaring::RoaringBitmap;

use crate::plan::{Cond, Plan};
use crate::row;

/// Every member of the audience: profile numbers of the plan's class.
///
/// Placeholders (entities known only by reference) are never members.
pub fn evaluate(plan: &Plan, graph: &ProfileGraph) -> RoaringBitmap {
    let mut members = cond_bitmap(&plan.root, plan.entity, graph);
    let stored = graph.set(plan.entity).stored();
    if stored < graph.set(plan.entity).len() {
        members.remove_range(u32::try_from(stored).expect("fewer than 2^32 profiles")..);
    }
    members
}

fn universe(len: usize) -> RoaringBitmap {
    let mut all = RoaringBitmap::new();
    if len > 0 {
        all.insert_range(0..u32::try_from(len).expect("fewer than 2^32 profiles"));
    }
    all
}

fn cond_bitmap(cond: &Cond, entity: rapport_model::EntityKind, graph: &ProfileGraph) -> RoaringBitmap {
    let set = graph.set(entity);
    match cond {
        Cond::And(items) => {
            let mut iter = items.iter();
            let Some(first) = iter.next() else { return universe(set.len()) };
            let mut acc = cond_bitmap(first, entity, graph);
            for item in iter {
                if acc.is_empty() {
                    break;
                }
                acc &= cond_bitmap(item, entity, graph);
            }
            acc
        }
        Cond::Or(items) => items.iter().fold(RoaringBitmap::new(), |acc, item| acc | cond_bitmap(item, entity, graph)),
        Cond::Not(inner) => universe(set.len()) - cond_bitmap(inner, entity, graph),
        Cond::Row(expr) => set
            .profiles
            .iter()
            .enumerate()
            .filter(|(_, p)| row::holds(expr, &p.record))
            .map(|(i, _)| i as u32)
            .collect(),
        Cond::Related { quantifier, from, navigation, to, cond } => {
            let inner = cond_bitmap(cond, *to, graph);
            let Some(nav) = graph.navigation(*from, navigation) else { return RoaringBitmap::new() };
            nav.targets
                .iter()
                .enumerate()
                .filter(|(_, targets)| match quantifier {
                    Quantifier::Exists => targets.iter().any(|t| inner.contains(*t)),
                    Quantifier::Forall => targets.iter().all(|t| inner.contains(*t)),
                })
                .map(|(i, _)| i as u32)
                .collect()
        }
    }
}

/// Whether one profile (number `id` of the plan's class) is a member, evaluated on its own.
pub fn evaluate_one(plan: &Plan, graph: &ProfileGraph, id: u32) -> bool {
    (id as usize) < graph.set(plan.entity).stored() && cond_one(&plan.root, plan.entity, graph, id)
}

fn cond_one(cond: &Cond, entity: rapport_model::EntityKind, graph: &ProfileGraph, id: u32) -> bool {
    match cond {
        Cond::And(items) => items.iter().all(|c| cond_one(c, entity, graph, id)),
        Cond::Or(items) => items.iter().any(|c| cond_one(c, entity, graph, id)),
        Cond::Not(inner) => !cond_one(inner, entity, graph, id),
        Cond::Row(expr) => graph.set(entity).profiles.get(id as usize).is_some_and(|p| row::holds(expr, &p.record)),
        Cond::Related { quantifier, from, navigation, to, cond } => {
            let targets = graph
                .navigation(*from, navigation)
                .and_then(|nav| nav.targets.get(id as usize))
                .map(Vec::as_slice)
                .unwrap_or_default();
            match quantifier {
                Quantifier::Exists => targets.iter().any(|&t| cond_one(cond, *to, graph, t)),
                Quantifier::Forall => targets.iter().all(|&t| cond_one(cond, *to, graph, t)),
            }
        }
    }
}
