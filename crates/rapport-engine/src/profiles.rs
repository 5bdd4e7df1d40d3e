//! Keeping profiles current: the identity graphs and merged profiles a batch of fragments changes.
//!
//! One function, `apply_fragments`, serves every write: a batch file, a group of streamed messages, and a
//! rebuild from scratch (all fragments, no stored profile). Given the fragments just written, it finds the
//! stored profiles that own any of their identities, re-stitches those profiles' fragments together with the
//! new ones (so a fragment that changed its identities can also split its old graph), replaces the old
//! profiles with the resulting graphs, and merges each graph's records. It runs inside the batch's
//! transaction, so profiles and fragments commit together.

use std::collections::{BTreeSet, HashMap};

use rapport_model::EntityKind;
use rapport_profile::{merge, FragmentView, MergePolicy};
use rapport_store::{BatchWriter, FragmentHead, ProfileWrite};

use crate::Result;

/// What applying a batch of fragments did to the profiles of one class.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProfileDelta {
    /// The class.
    pub entity: Option<EntityKind>,
    /// Stored profiles replaced (merged into others, re-merged, or split).
    pub replaced: u64,
    /// Profiles written.
    pub written: u64,
    /// Profiles written that merge two or more fragments.
    pub stitched: u64,
}

/// Stores a fragment and, unless a newer stored one wins, keeps its head for [`apply_fragments`].
pub(crate) fn put_fragment(
    writer: &mut BatchWriter<'_>,
    dataset: &str,
    fragment: rapport_store::EncodedFragment,
    heads: &mut Vec<FragmentHead>,
) -> Result<()> {
    match writer.put_fragment(&fragment)? {
        rapport_store::FragmentWrite::Inserted(id) | rapport_store::FragmentWrite::Replaced(id) => {
            let mut identities = fragment.identities;
            identities.sort();
            heads.push(FragmentHead {
                id,
                dataset: dataset.to_owned(),
                primary: fragment.primary,
                identities,
                updated_at: fragment.updated_at,
            });
        }
        rapport_store::FragmentWrite::Older => {}
    }
    Ok(())
}

/// Multi-fragment graphs are merged in chunks of this many fragments, so memory stays bounded.
const MERGE_CHUNK: usize = 20_000;

/// Re-stitches and re-merges the profiles touched by `fresh` (the heads of fragments just written in
/// `writer`'s transaction, any order) and writes them. See the module documentation.
pub(crate) fn apply_fragments(
    writer: &mut BatchWriter<'_>,
    fresh: Vec<FragmentHead>,
    policy: &MergePolicy,
) -> Result<ProfileDelta> {
    let mut delta = ProfileDelta { entity: Some(writer.entity()), ..ProfileDelta::default() };
    if fresh.is_empty() {
        return Ok(delta);
    }
    // Stored profiles owning any identity of the new fragments.
    let owners = {
        let mut identities: Vec<&rapport_model::Identity> = fresh.iter().flat_map(|h| h.identities.iter()).collect();
        identities.sort_unstable();
        identities.dedup();
        writer.owners(identities.into_iter())?
    };
    let touched: Vec<i64> = owners.values().copied().collect::<BTreeSet<_>>().into_iter().collect();
    let old = writer.profile_members(&touched)?;

    // Every fragment of the touched profiles, with their current identities, plus the new fragments.
    let mut heads = fresh;
    let known: BTreeSet<i64> = heads.iter().map(|h| h.id).collect();
    let others: Vec<i64> =
        old.iter().flat_map(|p| p.fragments.iter().copied()).filter(|id| !known.contains(id)).collect();
    heads.extend(writer.fragment_heads(&others)?);
    // A key twice in one batch writes its fragment twice: the later write is what is stored, so it must win.
    // Reversed, the stable sort puts the later of two heads with one id first, and dedup keeps the first.
    heads.reverse();
    heads.sort_by_key(|h| h.id);
    heads.dedup_by_key(|h| h.id);

    let stitching = rapport_identity::stitch(heads.iter().map(|h| h.identities.as_slice()));
    // Taken before the old profiles go, so that a fresh id never repeats one of theirs that a graph reuses.
    let mut next = writer.next_profile_id()?;
    let before = crate::changes::capture(writer, &old)?;
    writer.delete_profiles(&old)?;
    delta.replaced = old.len() as u64;

    // Graphs take the old ids first (smallest id to the graph with the earliest fragment), then fresh ones.
    let mut reuse = touched.into_iter();
    let mut pending: Vec<(i64, &rapport_identity::Graph)> = Vec::new();
    let mut pending_fragments = 0;
    for graph in &stitching.graphs {
        let id = reuse.next().unwrap_or_else(|| {
            next += 1;
            next - 1
        });
        if graph.fragments.len() == 1 {
            let head = &heads[graph.fragments[0]];
            let identities =
                if graph.identities.is_empty() { std::slice::from_ref(&head.primary) } else { &graph.identities[..] };
            writer.put_profile(&ProfileWrite {
                id,
                primary: &head.primary,
                identities,
                fragments: std::slice::from_ref(&head.id),
                record: None,
            })?;
            continue;
        }
        delta.stitched += 1;
        pending_fragments += graph.fragments.len();
        pending.push((id, graph));
        if pending_fragments >= MERGE_CHUNK {
            merge_chunk(writer, &heads, &pending, policy)?;
            pending.clear();
            pending_fragments = 0;
        }
    }
    merge_chunk(writer, &heads, &pending, policy)?;
    delta.written = stitching.graphs.len() as u64;
    crate::changes::record(writer, before)?;
    Ok(delta)
}

/// Loads the records of a chunk of multi-fragment graphs, merges each graph and writes its profile.
fn merge_chunk(
    writer: &mut BatchWriter<'_>,
    heads: &[FragmentHead],
    graphs: &[(i64, &rapport_identity::Graph)],
    policy: &MergePolicy,
) -> Result<()> {
    let ids: Vec<i64> = graphs.iter().flat_map(|(_, g)| g.fragments.iter().map(|&i| heads[i].id)).collect();
    let records: HashMap<i64, rapport_model::Record> = writer.fragment_records(&ids)?;
    for (id, graph) in graphs {
        let views: Vec<FragmentView<'_>> = graph
            .fragments
            .iter()
            .map(|&i| {
                let head = &heads[i];
                FragmentView {
                    dataset: &head.dataset,
                    seq: head.id,
                    updated_at: &head.updated_at,
                    record: &records[&head.id],
                }
            })
            .collect();
        let record = merge(&views, policy);
        let fragments: Vec<i64> = graph.fragments.iter().map(|&i| heads[i].id).collect();
        // Positions ascend with fragment ids, so the first fragment is the earliest ingested.
        let first = &heads[graph.fragments[0]];
        writer.put_profile(&ProfileWrite {
            id: *id,
            primary: &first.primary,
            identities: &graph.identities,
            fragments: &fragments,
            record: Some(&record),
        })?;
    }
    Ok(())
}

impl crate::Engine {
    /// Commits a batch of validated fragments and its rejected rows, together with the profiles it changes,
    /// in one transaction (see the module documentation). Every write path that has its records in memory (a
    /// mapped generic file, a group of streamed messages) goes through here.
    pub fn commit_batch(
        &mut self,
        batch: &rapport_store::NewBatch,
    ) -> Result<(rapport_store::BatchSummary, ProfileDelta)> {
        let mut writer = match batch.batch_id {
            Some(id) => self.store.writer_for_loading(id)?,
            None => self.store.batch_writer(&batch.dataset, batch.entity, &batch.source, batch.files.clone())?,
        };
        if let Some(checkpoint) = &batch.checkpoint {
            writer.set_checkpoint(checkpoint.clone());
        }
        let mut heads = Vec::with_capacity(batch.fragments.len());
        for fragment in &batch.fragments {
            put_fragment(&mut writer, &batch.dataset, rapport_store::EncodedFragment::encode(fragment)?, &mut heads)?;
        }
        for row in &batch.rejected {
            writer.reject(row)?;
        }
        let delta = apply_fragments(&mut writer, heads, &MergePolicy::TimestampOrdered)?;
        let summary = writer
            .commit(batch.rows_read)?
            .ok_or_else(|| crate::Error::Internal("a batch without an id".to_owned()))?;
        Ok((summary, delta))
    }
}
