//! Incremental evaluation: an audience's members kept current as profiles change, re-evaluating only the
//! entities a change can affect, across relationships.
//!
//! [`Incremental`] holds the plan, the [`Columns`] it reads (fields and adjacency lists), the reverse of every
//! navigation it crosses, and the current members. [`Incremental::apply`] takes the changed entities (any class,
//! by profile number) and the graph after the change, and:
//!
//! 1. grows the columns to the graph's sizes (new profiles count as changed) and rereads the changed rows;
//! 2. rereads the adjacency lists that may have moved: a changed source's own list, and the lists of the sources
//!    that pointed at a changed target before (kept reverse lists) or do now (the graph's inverse navigation).
//!    When a relation record (account-person, opportunity-person) changed, or for `parentAccount` (which has no
//!    inverse in the graph) when an account changed, the whole navigation is compared instead: correct, but
//!    proportional to its size;
//! 3. walks the plan to find which entities of the audience's class may change membership: a row condition is
//!    affected on its changed entities; a relationship quantifier on the sources whose list changed and on the
//!    sources (reverse lists) of every affected target; `and`, `or`, `not` on the union of their operands'. An
//!    opportunity change so reaches the accounts it belongs to, then the people of those accounts;
//! 4. evaluates the plan for those entities only (the evaluator's sparse path: sorted candidate lists, inner
//!    conditions evaluated only on the entities the candidates reach, no class-sized bitset) and returns who
//!    entered and who exited.
//!
//! Profile numbers must be stable across changes: an existing profile keeps its number, new ones are appended.
//! Every profile whose record, identities or relationships changed must be listed (both ends of a merge or
//! unmerge); the analysis derives the rest.

use std::collections::BTreeMap;

use rapport_model::EntityKind;
use rapport_profile::ProfileGraph;
use roaring::RoaringBitmap;

use crate::bits::Bits;
use crate::columns::{navigations, Columns, Lists, NavKey};
use crate::eval::{evaluate_columns, Evaluator};
use crate::plan::{Cond, Plan};
use crate::sorted;

/// One changed profile: its class and number in the graph after the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Change {
    /// The profile's class.
    pub entity: EntityKind,
    /// Its profile number.
    pub id: u32,
}

/// How one [`Incremental::apply`] changed the membership.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// Profiles that became members, in increasing order.
    pub entered: Vec<u32>,
    /// Profiles that stopped being members, in increasing order.
    pub exited: Vec<u32>,
    /// How many entities of the audience's class were re-evaluated.
    pub evaluated: u64,
}

/// Relation classes and the navigations resolved through their records.
const THROUGH_RELATIONS: &[(EntityKind, EntityKind, &str)] = &[
    (EntityKind::AccountPerson, EntityKind::Person, "accounts"),
    (EntityKind::AccountPerson, EntityKind::Account, "people"),
    (EntityKind::OpportunityPerson, EntityKind::Person, "opportunities"),
    (EntityKind::OpportunityPerson, EntityKind::Opportunity, "people"),
];

/// A navigation as (class navigated from, name).
type Named = (EntityKind, &'static str);

/// Navigations and their inverse in the graph (`t ∈ a[s]` exactly when `s ∈ b[t]`).
const INVERSES: &[(Named, Named)] = &[
    ((EntityKind::Person, "accounts"), (EntityKind::Account, "people")),
    ((EntityKind::Person, "opportunities"), (EntityKind::Opportunity, "people")),
    ((EntityKind::Account, "opportunities"), (EntityKind::Opportunity, "account")),
];

fn inverse(key: &NavKey) -> Option<Named> {
    INVERSES.iter().find_map(|&((f, n), (g, m))| {
        if f == key.0 && n == key.1 {
            Some((g, m))
        } else if g == key.0 && m == key.1 {
            Some((f, n))
        } else {
            None
        }
    })
}

fn reverse_of(lists: Option<&Lists>, len: usize) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); len];
    for (s, targets) in lists.into_iter().flat_map(Lists::iter).enumerate() {
        for &t in targets {
            if let Some(list) = out.get_mut(t as usize) {
                list.push(s as u32);
            }
        }
    }
    out
}

/// An audience's members, kept current change by change.
#[derive(Debug, Clone)]
pub struct Incremental {
    plan: Plan,
    columns: Columns,
    /// Each navigation the plan crosses, with its target class.
    targets: BTreeMap<NavKey, EntityKind>,
    /// For each navigation, each target's sorted sources.
    reverse: BTreeMap<NavKey, Vec<Vec<u32>>>,
    /// For each relationship quantifier of the plan (in pre-order), the value of its inner condition on every
    /// entity of its target class: a change propagates to the sources only when that value flips.
    inner: Vec<Bits>,
    members: RoaringBitmap,
}

/// The inner conditions of the plan's relationship quantifiers, in pre-order, with their classes.
fn quantified(cond: &Cond, out: &mut Vec<(Cond, EntityKind)>) {
    match cond {
        Cond::And(items) | Cond::Or(items) => items.iter().for_each(|c| quantified(c, out)),
        Cond::Not(inner) => quantified(inner, out),
        Cond::Related { to, cond, .. } => {
            out.push(((**cond).clone(), *to));
            quantified(cond, out);
        }
        Cond::Row(_) | Cond::Events(_) => {}
    }
}

impl Incremental {
    /// Loads what `plan` reads from `graph` and evaluates it once over every entity.
    pub fn new(plan: Plan, graph: &ProfileGraph) -> Self {
        let columns = Columns::for_plan(&plan, graph);
        let members = evaluate_columns(&plan, &columns).expect("columns built for a plan hold everything it reads");
        let mut targets = BTreeMap::new();
        navigations(&plan.root, &mut targets);
        let reverse = targets
            .iter()
            .map(|(key, to)| (key.clone(), reverse_of(columns.navigations.get(key), columns.class(*to).len)))
            .collect();
        let mut inners = Vec::new();
        quantified(&plan.root, &mut inners);
        let evaluator = Evaluator { columns: &columns };
        let inner = inners.iter().map(|(cond, to)| evaluator.cond(cond, *to, None)).collect();
        Self { plan, columns, targets, reverse, inner, members }
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The current members.
    pub fn members(&self) -> &RoaringBitmap {
        &self.members
    }

    /// The columns, current as of the last [`Incremental::apply`] (to run a batch evaluation over them).
    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// Takes `changes` into account (`graph` is the state after them) and returns the membership delta.
    ///
    /// The work follows the entities the changes reach (sorted lists of profile numbers throughout, and the
    /// evaluator's sparse path), not the size of the classes; the exceptions are the whole-navigation
    /// comparisons described in the module documentation.
    pub fn apply(&mut self, graph: &ProfileGraph, changes: &[Change]) -> Delta {
        let mut changed: BTreeMap<EntityKind, Vec<u32>> = BTreeMap::new();
        for change in changes {
            changed.entry(change.entity).or_default().push(change.id);
        }
        // New profiles, and profiles that stopped being placeholders, count as changed.
        for (entity, (len, stored)) in self.columns.grow(graph) {
            let set = graph.set(entity);
            if set.len() > len || set.stored() != stored {
                let fresh = changed.entry(entity).or_default();
                fresh.extend(len as u32..set.len() as u32);
                fresh.extend(stored.min(set.stored()) as u32..stored.max(set.stored()) as u32);
            }
        }
        for ids in changed.values_mut() {
            *ids = sorted::normalize(std::mem::take(ids));
        }
        for (key, to) in &self.targets {
            let len = self.columns.class(*to).len;
            if let Some(lists) = self.reverse.get_mut(key) {
                if lists.len() < len {
                    lists.resize(len, Vec::new());
                }
            }
        }
        for (entity, ids) in &changed {
            for &id in ids {
                self.columns.refresh(graph, *entity, id);
            }
        }
        let relisted = self.relist(graph, &changed);
        let mut walk = Walk {
            columns: &self.columns,
            reverse: &self.reverse,
            inner: &mut self.inner,
            changed: &changed,
            relisted: &relisted,
            next: 0,
        };
        let affected = walk.affected(&self.plan.root, self.plan.entity);
        let own = changed.get(&self.plan.entity).map_or(&[][..], Vec::as_slice);
        let class = self.columns.class(self.plan.entity);
        let (len, stored) = (class.len, class.stored);
        let mut candidates = sorted::union(&affected, own);
        candidates.truncate(candidates.partition_point(|&id| (id as usize) < len));
        let holds = Evaluator { columns: &self.columns }.cond_list(&self.plan.root, self.plan.entity, &candidates);
        let mut delta = Delta { evaluated: candidates.len() as u64, ..Delta::default() };
        for &id in &candidates {
            let now = (id as usize) < stored && sorted::contains(&holds, id);
            if now && self.members.insert(id) {
                delta.entered.push(id);
            } else if !now && self.members.remove(id) {
                delta.exited.push(id);
            }
        }
        delta
    }

    /// Rereads the adjacency lists the changes may have moved; returns, per navigation, the sources whose list
    /// did change (sorted).
    fn relist(&mut self, graph: &ProfileGraph, changed: &BTreeMap<EntityKind, Vec<u32>>) -> BTreeMap<NavKey, Vec<u32>> {
        let none: &[u32] = &[];
        let mut relisted = BTreeMap::new();
        for (key, to) in &self.targets {
            let Some(nav) = graph.navigation(key.0, &key.1) else { continue };
            let sources = changed.get(&key.0).map_or(none, Vec::as_slice);
            let targets = changed.get(to).map_or(none, Vec::as_slice);
            let through_relation = THROUGH_RELATIONS.iter().any(|(rel, from, name)| {
                *from == key.0 && *name == key.1 && changed.get(rel).is_some_and(|c| !c.is_empty())
            });
            let inverse = inverse(key).and_then(|(g, m)| graph.navigation(g, m));
            let candidates: Vec<u32> = if through_relation || (inverse.is_none() && !targets.is_empty()) {
                (0..self.columns.class(key.0).len as u32).collect()
            } else {
                let mut candidates = sources.to_vec();
                let reverse = &self.reverse[key];
                for &t in targets {
                    candidates.extend(reverse.get(t as usize).into_iter().flatten().copied());
                    if let Some(inverse) = inverse {
                        candidates.extend(inverse.targets.get(t as usize).into_iter().flatten().copied());
                    }
                }
                sorted::normalize(candidates)
            };
            let lists = self.columns.navigations.entry(key.clone()).or_default();
            let reverse = self.reverse.entry(key.clone()).or_default();
            let mut moved = Vec::new();
            for s in candidates {
                let new = nav.targets.get(s as usize).map_or(&[][..], Vec::as_slice);
                if s as usize >= lists.len() {
                    continue;
                }
                let old = lists.get(s);
                if old == new {
                    continue;
                }
                for t in old.iter().filter(|t| new.binary_search(t).is_err()) {
                    if let Some(sources) = reverse.get_mut(*t as usize) {
                        if let Ok(at) = sources.binary_search(&s) {
                            sources.remove(at);
                        }
                    }
                }
                for t in new.iter().filter(|t| old.binary_search(t).is_err()) {
                    if let Some(sources) = reverse.get_mut(*t as usize) {
                        if let Err(at) = sources.binary_search(&s) {
                            sources.insert(at, s);
                        }
                    }
                }
                lists.set(s, new);
                moved.push(s);
            }
            relisted.insert(key.clone(), moved);
        }
        relisted
    }
}

/// One walk of the plan after a change, finding the entities that may change membership.
struct Walk<'a> {
    columns: &'a Columns,
    reverse: &'a BTreeMap<NavKey, Vec<Vec<u32>>>,
    /// The kept inner values of the relationship quantifiers, updated on the way.
    inner: &'a mut [Bits],
    /// The changed entities by class (sorted).
    changed: &'a BTreeMap<EntityKind, Vec<u32>>,
    /// Per navigation, the sources whose list changed (sorted).
    relisted: &'a BTreeMap<NavKey, Vec<u32>>,
    /// The number of the next relationship quantifier, in pre-order.
    next: usize,
}

impl Walk<'_> {
    /// The entities of `entity` whose value for `cond` may have changed (sorted). Updates the kept values of the
    /// relationship quantifiers' inner conditions on the way, so that a quantifier reaches only the sources of
    /// targets whose inner value flipped.
    fn affected(&mut self, cond: &Cond, entity: EntityKind) -> Vec<u32> {
        match cond {
            // An event arriving is a change of its person.
            Cond::Row(_) | Cond::Events(_) => self.changed.get(&entity).cloned().unwrap_or_default(),
            Cond::And(items) | Cond::Or(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(self.affected(item, entity));
                }
                sorted::normalize(out)
            }
            Cond::Not(inner) => self.affected(inner, entity),
            Cond::Related { from, navigation, to, cond, .. } => {
                let index = self.next;
                self.next += 1;
                let key = (*from, navigation.clone());
                let mut targets = self.affected(cond, *to);
                // Changed targets are re-evaluated even when the inner condition reads nothing of them: a new
                // entity's kept value must be computed once.
                if let Some(own) = self.changed.get(to) {
                    targets = sorted::union(&targets, own);
                }
                let len = self.columns.class(*to).len;
                targets.truncate(targets.partition_point(|&t| (t as usize) < len));
                let holds = Evaluator { columns: self.columns }.cond_list(cond, *to, &targets);
                let kept = &mut self.inner[index];
                kept.grow(len);
                let mut out = self.relisted.get(&key).cloned().unwrap_or_default();
                let reverse = self.reverse.get(&key);
                for &t in &targets {
                    let now = sorted::contains(&holds, t);
                    if kept.get(t) == now {
                        continue;
                    }
                    if now {
                        kept.set(t);
                    } else {
                        kept.unset(t);
                    }
                    if let Some(reverse) = reverse {
                        out.extend(reverse.get(t as usize).into_iter().flatten().copied());
                    }
                }
                sorted::normalize(out)
            }
        }
    }
}
