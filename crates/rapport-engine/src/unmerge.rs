//! Unmerge: deleting an identity, a record or a whole batch, and re-stitching exactly the profiles that held
//! them (B2B-DOMAIN b.4–b.5: graphs that no longer hold together split).
//!
//! Each deletion is one transaction on one entity class. It finds the stored profiles that hold what is
//! deleted, changes their fragments, drops the profiles left without any fragment (a `deleted` change event
//! each), and hands the remaining fragments of the others to `profiles::apply_fragments`, the same
//! machinery every batch uses, which re-stitches them (one profile, or several when the graph fell apart),
//! re-merges their records and records the change events. The result is what a rebuild from the remaining
//! fragments gives.
//!
//! What each deletion removes:
//! - **An identity** (`delete_identity`): it is removed from the identity list of every fragment of the class
//!   that carries it, so it links nothing any more. A fragment whose *primary* identity it is has no key left
//!   and is deleted whole. Records are left as they are (a field the identity was read from keeps its value;
//!   delete the record to remove the data), and a later batch carrying the identity links it again: a
//!   deletion is not a block list.
//! - **A record** (`delete_record`): the fragment of one dataset with one primary identity (the record's key
//!   in that dataset), whole.
//! - **A batch** (`delete_batch`): every fragment whose stored version that batch wrote. Fragments keep only
//!   the latest version of a key, so a record the batch wrote that a *later* batch replaced is the later
//!   batch's and stays; a record the batch replaced (an *earlier* batch's version) is not restored: the
//!   earlier version is not kept, so the key is gone until a source sends it again. A row the batch delivered
//!   that was older than the stored one never replaced it and is untouched. The batch's row stays, in state
//!   `deleted`, with its metrics and rejected rows; a dataflow's checkpoint for its file stays too, so the flow
//!   does not load the file again.

use std::collections::{BTreeMap, BTreeSet};

use rapport_model::{EntityKind, Identity};
use rapport_profile::MergePolicy;
use rapport_store::{BatchState, BatchWriter, Cause, FragmentHead};
use serde::Serialize;
use tracing::{info, instrument};

use crate::profiles::ProfileDelta;
use crate::{Engine, Result};

/// What a deletion did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionReport {
    /// The entity class changed.
    pub entity: EntityKind,
    /// Fragments deleted.
    pub fragments_deleted: u64,
    /// Fragments that lost an identity but stay.
    pub fragments_changed: u64,
    /// Profiles removed because none of their fragments remain.
    pub profiles_deleted: u64,
    /// The re-stitching of the profiles that keep fragments.
    pub profiles: ProfileDelta,
}

impl Engine {
    /// Removes `identity` from every fragment of class `entity` that carries it (deleting the fragments whose
    /// primary identity it is) and re-stitches the profile that held it. See the module documentation.
    #[instrument(skip_all, fields(entity = %entity))]
    pub fn delete_identity(&mut self, entity: EntityKind, identity: &Identity) -> Result<DeletionReport> {
        let mut writer = self.store.deletion_writer(entity, Cause::DeleteIdentity)?;
        // The profile whose graph holds it, and those whose fragments carry it outside their graph (a cut or
        // evicted link, see `docs/identity.md`).
        let mut holders: BTreeSet<i64> = writer.owners(std::iter::once(identity))?.into_values().collect();
        holders.extend(writer.mention_holders(std::iter::once(identity))?);
        if holders.is_empty() {
            return Err(crate::Error::Deletion(format!("no {entity} profile holds the identity {identity}")));
        }
        let profiles: Vec<i64> = holders.into_iter().collect();
        let fragments: Vec<i64> = writer.profile_members(&profiles)?.into_iter().flat_map(|p| p.fragments).collect();
        let heads = writer.fragment_heads(&fragments)?;
        let mut deleted = Vec::new();
        let mut changed = 0;
        for head in heads.iter().filter(|h| h.identities.contains(identity)) {
            if &head.primary == identity {
                deleted.push(head.id);
            } else {
                let kept: Vec<Identity> = head.identities.iter().filter(|i| *i != identity).cloned().collect();
                writer.set_fragment_identities(head.id, &kept)?;
                changed += 1;
            }
        }
        let report = unmerge(&mut writer, &profiles, &deleted, changed)?;
        writer.commit(0)?;
        self.after_commit();
        info!(fragments_deleted = report.fragments_deleted, changed, "identity deleted");
        Ok(report)
    }

    /// Deletes the record of `dataset` whose primary identity is `primary` (the record's key in that dataset)
    /// and re-stitches the profile that held it.
    #[instrument(skip_all, fields(dataset = %dataset))]
    pub fn delete_record(&mut self, dataset: &str, primary: &Identity) -> Result<DeletionReport> {
        let entity = self
            .store
            .datasets()?
            .into_iter()
            .find(|d| d.name == dataset)
            .map(|d| d.entity)
            .ok_or_else(|| crate::Error::Deletion(format!("dataset `{dataset}` does not exist")))?;
        let mut writer = self.store.deletion_writer(entity, Cause::DeleteRecord)?;
        let Some(id) = writer.fragment_id(dataset, primary)? else {
            return Err(crate::Error::Deletion(format!(
                "dataset `{dataset}` holds no record with primary identity {primary}"
            )));
        };
        let profiles = owners_of(&writer, &writer.fragment_heads(&[id])?)?;
        let report = unmerge(&mut writer, &profiles, &[id], 0)?;
        writer.commit(0)?;
        self.after_commit();
        Ok(report)
    }

    /// Deletes the fragments whose stored version batch `id` wrote, marks the batch `deleted`, and re-stitches
    /// the profiles that held them (see the module documentation for records other batches replaced).
    #[instrument(skip(self))]
    pub fn delete_batch(&mut self, id: i64) -> Result<DeletionReport> {
        let Some((entity, state)) = self.store.batch_entity(id)? else {
            return Err(crate::Error::Deletion(format!("batch {id} does not exist (run `rapport batch list`)")));
        };
        if state != BatchState::Success {
            return Err(crate::Error::Deletion(format!(
                "batch {id} is {state}: only a successful batch has data to delete"
            )));
        }
        let mut writer = self.store.deletion_writer(entity, Cause::DeleteBatch(id))?;
        let ids: Vec<i64> = writer.fragments_of_batch(id)?.into_iter().map(|f| f.id).collect();
        let profiles = owners_of(&writer, &writer.fragment_heads(&ids)?)?;
        let report = unmerge(&mut writer, &profiles, &ids, 0)?;
        writer.mark_batch_deleted(id)?;
        writer.commit(0)?;
        self.after_commit();
        info!(fragments_deleted = report.fragments_deleted, "batch deleted");
        Ok(report)
    }
}

/// The stored profiles holding the primary identities of `heads`, ascending.
fn owners_of(writer: &BatchWriter<'_>, heads: &[FragmentHead]) -> Result<Vec<i64>> {
    let owners = writer.owners(heads.iter().map(|h| &h.primary).collect::<Vec<_>>().into_iter())?;
    Ok(owners.into_values().collect::<BTreeSet<_>>().into_iter().collect())
}

/// Deletes fragments `deleted` of the `profiles` that held them (their other fragments may already have lost
/// an identity), removes the profiles left empty, and re-stitches the rest.
///
/// The re-stitching starts from the remaining fragments and from every identity the profiles held or
/// mentioned: under the linking rules another profile can mention one of them (its link was cut or evicted),
/// and once the fragments carrying it are gone that profile may link it again, or its decisions change; the
/// closed set of `apply_fragments` reaches it through these identities.
fn unmerge(writer: &mut BatchWriter<'_>, profiles: &[i64], deleted: &[i64], changed: u64) -> Result<DeletionReport> {
    let entity = writer.entity();
    let members = writer.profile_members(profiles)?;
    let mut around: Vec<Identity> = members.iter().flat_map(|p| p.identities.iter().cloned()).collect();
    around.extend(writer.profile_mentions(profiles)?);
    writer.delete_fragments(deleted)?;
    let deleted_set: BTreeSet<i64> = deleted.iter().copied().collect();
    let mut remaining: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut gone = Vec::new();
    for profile in &members {
        let left: Vec<i64> = profile.fragments.iter().copied().filter(|f| !deleted_set.contains(f)).collect();
        if left.is_empty() {
            gone.push(profile.clone());
        } else {
            remaining.insert(profile.id, left);
        }
    }
    // Profiles left without a fragment go first, with their events, so that an id re-used by the re-stitching
    // below is announced after its deletion.
    let gone_ids: Vec<i64> = gone.iter().map(|p| p.id).collect();
    let rows = writer.profile_rows(&gone_ids, true)?;
    writer.delete_profiles(&gone)?;
    crate::changes::record_deleted(writer, &rows)?;
    let fragments: Vec<i64> = remaining.into_values().flatten().collect();
    let fresh = writer.fragment_heads(&fragments)?;
    let delta = crate::profiles::apply_fragments_around(writer, fresh, around, &MergePolicy::TimestampOrdered)?;
    Ok(DeletionReport {
        entity,
        fragments_deleted: deleted.len() as u64,
        fragments_changed: changed,
        profiles_deleted: gone.len() as u64,
        profiles: delta,
    })
}
