//! The change feed: what a write did to the merged profiles, as events the segmentation engine consumes to
//! re-evaluate only the entities a change touched.
//!
//! `apply_fragments` (in `profiles`) captures the profiles it is about to replace (`capture`) and, once
//! the new ones are written, compares them (`record`); the events go into the same transaction as the data.
//! A rebuild records none (it changes nothing but, possibly, profile ids: consumers re-read everything after
//! one).
//!
//! How a former profile (its fragments) maps onto the new ones decides the kind:
//! - `created`: a new profile none of whose fragments belonged to a profile;
//! - `merged`: a new profile whose fragments come from two or more former profiles (`previous` lists them);
//! - `split`: a new profile whose one former profile went to two or more new ones (`previous` names it);
//! - `updated`: one former profile to one new profile, when the record, identities, primary or id differ
//!   (an unchanged profile gets no event);
//! - `deleted`: a former profile id that no new profile holds (every fragment deleted, or merged into another).
//!
//! Within a transaction, `deleted` events come first, then the others in profile-id order, so that a consumer
//! applying them in sequence never drops an id that the same transaction gave to a new profile. `paths` are the
//! attribute paths whose merged value differs from the former profile with the same id (or the only former
//! one); a path covers everything under it. `related` lists the entities whose derived view changed with it,
//! found through the relationship keys that `rapport_profile::links` resolves (before and after the change).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rustc_hash::{FxHashMap, FxHashSet};

use rapport_model::{EntityKind, Identity, Record};
use rapport_store::{BatchWriter, Cause, ChangeEvent, ChangeKind, EntityRef, ProfileMembers, ProfileRow, Reference};
use serde_json::Value;

use crate::lookup::strings;
use crate::Result;

/// The profiles a transaction is about to replace: their ids and fragments (their rows are copied aside in the
/// store until [`record`]).
pub(crate) struct Before {
    old: Vec<(i64, Vec<i64>)>,
}

/// Events are computed this many new profiles at a time, so that memory stays bounded on large batches.
const CHUNK: usize = 10_000;

/// Keeps the stored profiles `old` (about to be replaced), with their records as they were before the
/// transaction, for [`record`].
pub(crate) fn capture(writer: &mut BatchWriter<'_>, old: &[ProfileMembers]) -> Result<Before> {
    if writer.cause() == Cause::Rebuild {
        return Ok(Before { old: Vec::new() });
    }
    let ids: Vec<i64> = old.iter().map(|p| p.id).collect();
    writer.keep_prior_profiles(&ids)?;
    Ok(Before { old: old.iter().map(|p| (p.id, p.fragments.clone())).collect() })
}

/// Appends `deleted` events for profiles that are gone with all their fragments (a deletion removes them
/// before re-stitching what is left).
pub(crate) fn record_deleted(writer: &mut BatchWriter<'_>, gone: &[ProfileRow]) -> Result<()> {
    if writer.cause() == Cause::Rebuild {
        return Ok(());
    }
    let entity = writer.entity();
    let mut lookups = Lookups::default();
    for row in gone {
        let related = related(writer, entity, &[Side::of_row(entity, row)], &FreshIds::new(&[]), &mut lookups)?;
        writer.append_change(&event(
            writer.cause(),
            entity,
            row.id,
            &row.primary,
            ChangeKind::Deleted,
            Vec::new(),
            Vec::new(),
            related,
        ))?;
    }
    Ok(())
}

/// The profile ids of a transaction's new profiles by identity, indexed on first use: only a class whose
/// records point at the same class (an account's parent) ever asks.
struct FreshIds<'a> {
    new: &'a [NewProfile],
    by_identity: std::cell::OnceCell<FxHashMap<&'a Identity, i64>>,
}

impl<'a> FreshIds<'a> {
    fn new(new: &'a [NewProfile]) -> Self {
        FreshIds { new, by_identity: std::cell::OnceCell::new() }
    }

    /// The new profile holding `identity`.
    fn get(&self, identity: &Identity) -> Option<i64> {
        let index = self
            .by_identity
            .get_or_init(|| self.new.iter().flat_map(|p| p.identities.iter().map(move |i| (i, p.id))).collect());
        index.get(identity).copied()
    }
}

/// What happens to one new profile, decided from fragment membership alone (no records).
struct Planned {
    /// The new profile's position in the profiles written.
    at: usize,
    kind: ChangeKind,
    /// Former profile ids it was made from.
    predecessors: Vec<i64>,
    /// The former profile its paths compare with.
    base: Option<i64>,
}

/// A profile written by `apply_fragments`, as the change feed needs it: kept in memory so that its events are
/// worked out without reading it back.
pub(crate) struct NewProfile {
    /// The profile id.
    pub(crate) id: i64,
    /// The primary identity.
    pub(crate) primary: Identity,
    /// Its identities.
    pub(crate) identities: Vec<Identity>,
    /// Its fragments' ids, ascending.
    pub(crate) fragments: Vec<i64>,
    /// The relationship keys its merged record holds ([`direct_keys`]), when they were taken while merging;
    /// `None` when they are not in hand (the record is then read back if an event needs it).
    pub(crate) keys: Option<Vec<Link>>,
}

/// Compares the profiles written since [`capture`] (`new`, in the order written) with the former ones and
/// appends the change events.
pub(crate) fn record(writer: &mut BatchWriter<'_>, before: Before, new: Vec<NewProfile>) -> Result<()> {
    writer.take_written_profiles();
    if writer.cause() == Cause::Rebuild {
        return Ok(());
    }
    let entity = writer.entity();
    let old = before.old;
    let old_of_fragment: FxHashMap<i64, i64> =
        old.iter().flat_map(|(id, fragments)| fragments.iter().map(move |&f| (f, *id))).collect();
    let new_of_fragment: FxHashMap<i64, i64> =
        new.iter().flat_map(|p| p.fragments.iter().map(move |&f| (f, p.id))).collect();
    let successors: FxHashMap<i64, usize> = old
        .iter()
        .map(|(id, fragments)| {
            let next: BTreeSet<i64> = fragments.iter().filter_map(|f| new_of_fragment.get(f).copied()).collect();
            (*id, next.len())
        })
        .collect();
    drop(new_of_fragment);
    // Same-class references resolve against the profiles just written: their identity index rows are
    // written at commit.
    let fresh_ids = FreshIds::new(&new);
    let new_ids: FxHashSet<i64> = new.iter().map(|p| p.id).collect();
    let mut lookups = Lookups::default();

    let gone: Vec<i64> = old.iter().map(|(id, _)| *id).filter(|id| !new_ids.contains(id)).collect();
    for ids in gone.chunks(CHUNK) {
        for row in writer.prior_profiles(ids)? {
            let related = related(writer, entity, &[Side::of_row(entity, &row)], &fresh_ids, &mut lookups)?;
            let event =
                event(writer.cause(), entity, row.id, &row.primary, ChangeKind::Deleted, vec![], vec![], related);
            writer.append_change(&event)?;
        }
    }
    let mut plans: Vec<Planned> = new
        .iter()
        .enumerate()
        .map(|(at, profile)| {
            let predecessors: Vec<i64> = profile
                .fragments
                .iter()
                .filter_map(|f| old_of_fragment.get(f).copied())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let same_id = predecessors.iter().copied().find(|&p| p == profile.id);
            let (kind, base) = match predecessors[..] {
                [] => (ChangeKind::Created, None),
                [only] if successors[&only] > 1 => (ChangeKind::Split, Some(only)),
                [only] => (ChangeKind::Updated, Some(only)),
                _ => (ChangeKind::Merged, same_id),
            };
            Planned { at, kind, predecessors, base }
        })
        .collect();
    plans.sort_by_key(|p| new[p.at].id);
    for chunk in plans.chunks(CHUNK) {
        // A created profile whose keys were taken while merging needs nothing read back: no paths, no
        // predecessors, and its related entities come from its keys and identities.
        let in_hand = |plan: &Planned| plan.kind == ChangeKind::Created && new[plan.at].keys.is_some();
        let ids: Vec<i64> = chunk.iter().filter(|p| !in_hand(p)).map(|p| new[p.at].id).collect();
        let rows: HashMap<i64, ProfileRow> = writer.profile_rows(&ids, false)?.into_iter().map(|r| (r.id, r)).collect();
        let wanted: Vec<i64> =
            chunk.iter().flat_map(|p| p.predecessors.iter().copied()).collect::<BTreeSet<_>>().into_iter().collect();
        let prior: HashMap<i64, ProfileRow> = writer.prior_profiles(&wanted)?.into_iter().map(|r| (r.id, r)).collect();
        for plan in chunk {
            let written = &new[plan.at];
            if in_hand(plan) {
                let side = Side {
                    id: written.id,
                    identities: &written.identities,
                    keys: written.keys.clone().unwrap_or_default(),
                };
                let related = related(writer, entity, &[side], &fresh_ids, &mut lookups)?;
                let event =
                    event(writer.cause(), entity, written.id, &written.primary, plan.kind, vec![], vec![], related);
                writer.append_change(&event)?;
                continue;
            }
            let Some(profile) = rows.get(&written.id) else { continue };
            let empty = Record::new();
            let base = plan.base.and_then(|id| prior.get(&id));
            let paths = match plan.kind {
                ChangeKind::Created => Vec::new(),
                _ => diff_paths(base.map_or(&empty, |b| &b.record), &profile.record),
            };
            let previous: Vec<i64> = match (plan.kind, base) {
                (ChangeKind::Updated, Some(b)) if b.id == profile.id => Vec::new(),
                _ => plan.predecessors.clone(),
            };
            if let (ChangeKind::Updated, Some(b)) = (plan.kind, base) {
                let unchanged = paths.is_empty() && previous.is_empty();
                if unchanged && b.identities == profile.identities && b.primary == profile.primary {
                    continue;
                }
            }
            let mut involved = vec![Side::of_row(entity, profile)];
            involved.extend(plan.predecessors.iter().filter_map(|id| prior.get(id)).map(|r| Side::of_row(entity, r)));
            let related = related(writer, entity, &involved, &fresh_ids, &mut lookups)?;
            writer.append_change(&event(
                writer.cause(),
                entity,
                profile.id,
                &profile.primary,
                plan.kind,
                paths,
                previous,
                related,
            ))?;
        }
    }
    writer.clear_prior_profiles()?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn event(
    cause: Cause,
    entity: EntityKind,
    profile_id: i64,
    primary: &Identity,
    kind: ChangeKind,
    paths: Vec<String>,
    previous: Vec<i64>,
    related: Vec<EntityRef>,
) -> ChangeEvent {
    ChangeEvent {
        seq: 0,
        cause,
        entity,
        profile_id,
        primary: primary.clone(),
        kind,
        paths,
        previous,
        related,
        at: String::new(),
    }
}

/// The attribute paths (dotted) whose values differ between two records: objects are compared key by key,
/// anything else (scalars, arrays) as a whole. Sorted.
pub fn diff_paths(old: &Record, new: &Record) -> Vec<String> {
    fn walk(old: Option<&Value>, new: Option<&Value>, path: &mut String, out: &mut Vec<String>) {
        match (old, new) {
            (Some(Value::Object(a)), Some(Value::Object(b))) => {
                let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for key in keys {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    walk(a.get(key.as_str()), b.get(key.as_str()), path, out);
                    path.truncate(len);
                }
            }
            (a, b) => {
                // A null and an absent value are the same thing to a merged record.
                let a = a.filter(|v| !v.is_null());
                let b = b.filter(|v| !v.is_null());
                if a != b {
                    out.push(path.clone());
                }
            }
        }
    }
    let mut out = Vec::new();
    let (a, b) = (Value::Object(old.clone()), Value::Object(new.clone()));
    walk(Some(&a), Some(&b), &mut String::new(), &mut out);
    out
}

/// A key a record holds of another entity (or of a parent account): the class it points at and the key.
pub(crate) type Link = (EntityKind, Identity);

/// The keys `record`, of class `entity`, holds at its relationship paths (a person's account, an
/// opportunity's account, a relation's person and opportunity or account, an account's parent).
pub(crate) fn direct_keys(entity: EntityKind, record: &Record) -> Vec<Link> {
    use EntityKind as E;
    let paths: &[(&str, &str, EntityKind)] = match entity {
        E::Person => &[("personComponents.sourceAccountKey.sourceKey", "b2b_account", E::Account)],
        E::Account => &[("accountParentKey.sourceKey", "b2b_account", E::Account)],
        E::Opportunity => &[("accountKey.sourceKey", "b2b_account", E::Account)],
        E::OpportunityPerson => &[
            ("personKey.sourceKey", "b2b_person", E::Person),
            ("opportunityKey.sourceKey", "b2b_opportunity", E::Opportunity),
        ],
        E::AccountPerson => {
            &[("personKey.sourceKey", "b2b_person", E::Person), ("accountKey.sourceKey", "b2b_account", E::Account)]
        }
        _ => &[],
    };
    let mut out = Vec::new();
    for (path, ns, to) in paths {
        for key in strings(record, path) {
            out.push((*to, Identity::new(*ns, key)));
        }
    }
    out
}

/// One profile of a change (before or after it), as its related entities are found from it.
struct Side<'a> {
    id: i64,
    identities: &'a [Identity],
    /// Its record's [`direct_keys`].
    keys: Vec<Link>,
}

impl<'a> Side<'a> {
    fn of_row(entity: EntityKind, row: &'a ProfileRow) -> Self {
        Side { id: row.id, identities: &row.identities, keys: direct_keys(entity, &row.record) }
    }
}

/// What one transaction's events looked up, kept so that each is looked up once: whether a class has any
/// fragment (no reverse lookup into a class without one), and the profile holding a key of another class.
#[derive(Default)]
struct Lookups {
    has_fragments: HashMap<EntityKind, bool>,
    profiles: FxHashMap<(EntityKind, Identity), Option<i64>>,
}

/// Above this many cached profile lookups the cache starts again, so that memory stays bounded.
const LOOKUP_CACHE: usize = 200_000;

impl Lookups {
    /// The fragments (primary identity, record) that hold `key` at `reference`'s path.
    fn referencing(
        &mut self,
        writer: &BatchWriter<'_>,
        reference: Reference,
        key: &str,
    ) -> Result<Vec<(Identity, Record)>> {
        let class = reference.from();
        let present = match self.has_fragments.get(&class) {
            Some(present) => *present,
            None => {
                let present = writer.has_fragments(class)?;
                self.has_fragments.insert(class, present);
                present
            }
        };
        if !present {
            return Ok(Vec::new());
        }
        Ok(writer.referencing(reference, key)?)
    }

    /// The profile of class `class` holding `key`, as the store holds it before commit.
    fn profile_of(&mut self, writer: &BatchWriter<'_>, class: EntityKind, key: &Identity) -> Result<Option<i64>> {
        if let Some(found) = self.profiles.get(&(class, key.clone())) {
            return Ok(*found);
        }
        let found = writer.profile_of(class, key)?;
        if self.profiles.len() >= LOOKUP_CACHE {
            self.profiles.clear();
        }
        self.profiles.insert((class, key.clone()), found);
        Ok(found)
    }
}

/// The keys of the entities related to `sides` (one profile before and after a change), by class.
fn related_keys(
    writer: &BatchWriter<'_>,
    entity: EntityKind,
    sides: &[Side<'_>],
    lookups: &mut Lookups,
) -> Result<Vec<Link>> {
    use EntityKind as E;
    let mut out: Vec<Link> = sides.iter().flat_map(|s| s.keys.iter().cloned()).collect();
    let own_keys = |ns: &str| -> BTreeSet<String> {
        sides
            .iter()
            .flat_map(|s| s.identities.iter())
            .filter(|i| i.namespace.as_str() == ns)
            .map(|i| i.value.clone())
            .collect()
    };
    // The other end of relation records that point at one of this profile's keys.
    let through =
        |lookups: &mut Lookups, reference: Reference, keys: &BTreeSet<String>, path: &str, ns: &str, to: EntityKind| {
            let mut found = Vec::new();
            for key in keys {
                for (_, relation) in lookups.referencing(writer, reference, key)? {
                    found.extend(strings(&relation, path).into_iter().map(|k| (to, Identity::new(ns, k))));
                }
            }
            Ok::<_, crate::Error>(found)
        };
    match entity {
        E::Person => {
            let keys = own_keys("b2b_person");
            out.extend(through(
                lookups,
                Reference::AccountPersonPerson,
                &keys,
                "accountKey.sourceKey",
                "b2b_account",
                E::Account,
            )?);
            out.extend(through(
                lookups,
                Reference::OpportunityPersonPerson,
                &keys,
                "opportunityKey.sourceKey",
                "b2b_opportunity",
                E::Opportunity,
            )?);
        }
        E::Account => {
            let keys = own_keys("b2b_account");
            for key in &keys {
                for reference in [Reference::OpportunityAccount, Reference::PersonAccount, Reference::AccountParent] {
                    for (primary, _) in lookups.referencing(writer, reference, key)? {
                        out.push((reference.from(), primary));
                    }
                }
            }
            out.extend(through(
                lookups,
                Reference::AccountPersonAccount,
                &keys,
                "personKey.sourceKey",
                "b2b_person",
                E::Person,
            )?);
        }
        E::Opportunity => {
            let keys = own_keys("b2b_opportunity");
            out.extend(through(
                lookups,
                Reference::OpportunityPersonOpportunity,
                &keys,
                "personKey.sourceKey",
                "b2b_person",
                E::Person,
            )?);
        }
        _ => {}
    }
    Ok(out)
}

/// The entities whose derived view changed with the profile `sides` (before and after), each once (by
/// profile when it has one), sorted; the profile itself is left out.
fn related(
    writer: &BatchWriter<'_>,
    entity: EntityKind,
    sides: &[Side<'_>],
    fresh_ids: &FreshIds<'_>,
    lookups: &mut Lookups,
) -> Result<Vec<EntityRef>> {
    let own: BTreeSet<i64> = sides.iter().map(|s| s.id).collect();
    let mut by_profile: BTreeMap<(EntityKind, i64), Identity> = BTreeMap::new();
    let mut unresolved: BTreeSet<(EntityKind, Identity)> = BTreeSet::new();
    for (class, key) in related_keys(writer, entity, sides, lookups)? {
        let id = if class == entity { fresh_ids.get(&key) } else { None };
        let id = match id {
            Some(id) => Some(id),
            None => lookups.profile_of(writer, class, &key)?,
        };
        match id {
            Some(id) if class == entity && own.contains(&id) => {}
            Some(id) => {
                let slot = by_profile.entry((class, id)).or_insert_with(|| key.clone());
                if key < *slot {
                    *slot = key;
                }
            }
            None => {
                unresolved.insert((class, key));
            }
        }
    }
    let mut out: Vec<EntityRef> = by_profile
        .into_iter()
        .map(|((entity, id), key)| EntityRef { entity, key, profile_id: Some(id) })
        .chain(unresolved.into_iter().map(|(entity, key)| EntityRef { entity, key, profile_id: None }))
        .collect();
    out.sort();
    Ok(out)
}

impl crate::Engine {
    /// Up to `limit` change events after sequence number `seq` (0 for the first), in order. See the module
    /// documentation for what each event says.
    pub fn changes_since(&self, seq: i64, limit: usize) -> Result<Vec<ChangeEvent>> {
        Ok(self.store.changes_since(seq, limit)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(value: Value) -> Record {
        value.as_object().expect("an object").clone()
    }

    #[test]
    fn diff_paths_name_the_deepest_differing_objects_and_ignore_nulls() {
        let old = rec(json!({"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": null, "f": {"g": 1}}));
        let new = rec(json!({"a": {"b": 2, "c": [1, 2]}, "d": "x", "h": {"i": true}, "f": 3}));
        assert_eq!(diff_paths(&old, &new), ["a.b", "f", "h"]);
        assert!(diff_paths(&old, &old).is_empty());
    }
}
