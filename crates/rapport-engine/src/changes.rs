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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

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
    for row in gone {
        let related = related(writer, entity, &[row], &HashMap::new())?;
        writer.append_change(&event(
            writer.cause(),
            entity,
            row,
            ChangeKind::Deleted,
            Vec::new(),
            Vec::new(),
            related,
        ))?;
    }
    Ok(())
}

/// What happens to one new profile, decided from fragment membership alone (no records).
struct Planned {
    /// The new profile's id.
    id: i64,
    kind: ChangeKind,
    /// Former profile ids it was made from.
    predecessors: Vec<i64>,
    /// The former profile its paths compare with.
    base: Option<i64>,
}

/// Compares the profiles written since [`capture`] with the former ones and appends the change events.
pub(crate) fn record(writer: &mut BatchWriter<'_>, before: Before) -> Result<()> {
    let written = writer.take_written_profiles();
    if writer.cause() == Cause::Rebuild {
        return Ok(());
    }
    let entity = writer.entity();
    let new = writer.profile_members(&written)?;
    let old = before.old;
    let old_of_fragment: HashMap<i64, i64> =
        old.iter().flat_map(|(id, fragments)| fragments.iter().map(move |&f| (f, *id))).collect();
    let new_of_fragment: HashMap<i64, i64> =
        new.iter().flat_map(|p| p.fragments.iter().map(move |&f| (f, p.id))).collect();
    let successors: HashMap<i64, usize> = old
        .iter()
        .map(|(id, fragments)| {
            let next: BTreeSet<i64> = fragments.iter().filter_map(|f| new_of_fragment.get(f).copied()).collect();
            (*id, next.len())
        })
        .collect();
    // Same-class references resolve against the profiles just written: their identity index rows are
    // written at commit.
    let fresh_ids: HashMap<Identity, i64> =
        new.iter().flat_map(|p| p.identities.iter().map(move |i| (i.clone(), p.id))).collect();
    let new_ids: HashSet<i64> = new.iter().map(|p| p.id).collect();

    let gone: Vec<i64> = old.iter().map(|(id, _)| *id).filter(|id| !new_ids.contains(id)).collect();
    for ids in gone.chunks(CHUNK) {
        for row in writer.prior_profiles(ids)? {
            let related = related(writer, entity, &[&row], &fresh_ids)?;
            let event = event(writer.cause(), entity, &row, ChangeKind::Deleted, Vec::new(), Vec::new(), related);
            writer.append_change(&event)?;
        }
    }
    let mut plans: Vec<Planned> = new
        .iter()
        .map(|profile| {
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
            Planned { id: profile.id, kind, predecessors, base }
        })
        .collect();
    plans.sort_by_key(|p| p.id);
    for chunk in plans.chunks(CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|p| p.id).collect();
        let rows: HashMap<i64, ProfileRow> = writer.profile_rows(&ids, false)?.into_iter().map(|r| (r.id, r)).collect();
        let wanted: Vec<i64> =
            chunk.iter().flat_map(|p| p.predecessors.iter().copied()).collect::<BTreeSet<_>>().into_iter().collect();
        let prior: HashMap<i64, ProfileRow> = writer.prior_profiles(&wanted)?.into_iter().map(|r| (r.id, r)).collect();
        for plan in chunk {
            let Some(profile) = rows.get(&plan.id) else { continue };
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
            let mut involved = vec![profile];
            involved.extend(plan.predecessors.iter().filter_map(|id| prior.get(id)));
            let related = related(writer, entity, &involved, &fresh_ids)?;
            writer.append_change(&event(writer.cause(), entity, profile, plan.kind, paths, previous, related))?;
        }
    }
    writer.clear_prior_profiles()?;
    Ok(())
}

fn event(
    cause: Cause,
    entity: EntityKind,
    row: &ProfileRow,
    kind: ChangeKind,
    paths: Vec<String>,
    previous: Vec<i64>,
    related: Vec<EntityRef>,
) -> ChangeEvent {
    ChangeEvent {
        seq: 0,
        cause,
        entity,
        profile_id: row.id,
        primary: row.primary.clone(),
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

/// The keys of the entities related to `rows` (one profile before and after a change), by class.
fn related_keys(
    writer: &BatchWriter<'_>,
    entity: EntityKind,
    rows: &[&ProfileRow],
) -> Result<Vec<(EntityKind, Identity)>> {
    use EntityKind as E;
    let mut out: Vec<(EntityKind, Identity)> = Vec::new();
    let direct = |path: &str, ns: &str, to: EntityKind, out: &mut Vec<(EntityKind, Identity)>| {
        for row in rows {
            for key in strings(&row.record, path) {
                out.push((to, Identity::new(ns, key)));
            }
        }
    };
    let own_keys = |ns: &str| -> BTreeSet<String> {
        rows.iter()
            .flat_map(|r| r.identities.iter())
            .filter(|i| i.namespace.as_str() == ns)
            .map(|i| i.value.clone())
            .collect()
    };
    // The other end of relation records that point at one of this profile's keys.
    let through = |reference: Reference, keys: &BTreeSet<String>, path: &str, ns: &str, to: EntityKind| {
        let mut found = Vec::new();
        for key in keys {
            for (_, relation) in writer.referencing(reference, key)? {
                found.extend(strings(&relation, path).into_iter().map(|k| (to, Identity::new(ns, k))));
            }
        }
        Ok::<_, crate::Error>(found)
    };
    match entity {
        E::Person => {
            direct("personComponents.sourceAccountKey.sourceKey", "b2b_account", E::Account, &mut out);
            let keys = own_keys("b2b_person");
            out.extend(through(
                Reference::AccountPersonPerson,
                &keys,
                "accountKey.sourceKey",
                "b2b_account",
                E::Account,
            )?);
            out.extend(through(
                Reference::OpportunityPersonPerson,
                &keys,
                "opportunityKey.sourceKey",
                "b2b_opportunity",
                E::Opportunity,
            )?);
        }
        E::Account => {
            direct("accountParentKey.sourceKey", "b2b_account", E::Account, &mut out);
            let keys = own_keys("b2b_account");
            for key in &keys {
                for (primary, _) in writer.referencing(Reference::OpportunityAccount, key)? {
                    out.push((E::Opportunity, primary));
                }
                for (primary, _) in writer.referencing(Reference::PersonAccount, key)? {
                    out.push((E::Person, primary));
                }
                for (primary, _) in writer.referencing(Reference::AccountParent, key)? {
                    out.push((E::Account, primary));
                }
            }
            out.extend(through(
                Reference::AccountPersonAccount,
                &keys,
                "personKey.sourceKey",
                "b2b_person",
                E::Person,
            )?);
        }
        E::Opportunity => {
            direct("accountKey.sourceKey", "b2b_account", E::Account, &mut out);
            let keys = own_keys("b2b_opportunity");
            out.extend(through(
                Reference::OpportunityPersonOpportunity,
                &keys,
                "personKey.sourceKey",
                "b2b_person",
                E::Person,
            )?);
        }
        E::OpportunityPerson => {
            direct("personKey.sourceKey", "b2b_person", E::Person, &mut out);
            direct("opportunityKey.sourceKey", "b2b_opportunity", E::Opportunity, &mut out);
        }
        E::AccountPerson => {
            direct("personKey.sourceKey", "b2b_person", E::Person, &mut out);
            direct("accountKey.sourceKey", "b2b_account", E::Account, &mut out);
        }
        _ => {}
    }
    Ok(out)
}

/// The entities whose derived view changed with the profile `rows` (before and after), each once (by profile
/// when it has one), sorted; the profile itself is left out.
fn related(
    writer: &BatchWriter<'_>,
    entity: EntityKind,
    rows: &[&ProfileRow],
    fresh_ids: &HashMap<Identity, i64>,
) -> Result<Vec<EntityRef>> {
    let own: BTreeSet<i64> = rows.iter().map(|r| r.id).collect();
    let mut by_profile: BTreeMap<(EntityKind, i64), Identity> = BTreeMap::new();
    let mut unresolved: BTreeSet<(EntityKind, Identity)> = BTreeSet::new();
    for (class, key) in related_keys(writer, entity, rows)? {
        let id = if class == entity { fresh_ids.get(&key).copied() } else { None };
        let id = match id {
            Some(id) => Some(id),
            None => writer.profile_of(class, &key)?,
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
