//! Keeping profiles current: the identity graphs and merged profiles a batch of fragments changes.
//!
//! One function, `apply_fragments`, serves every write: a batch file, a group of streamed messages, and a
//! rebuild from scratch (all fragments, no stored profile). Given the fragments just written, it finds the
//! stored profiles that own or mention any of their identities (closed over the identities those profiles'
//! fragments carry, see `closure`), re-stitches those profiles' fragments together with the new ones under the
//! linking rules (so a fragment that changed its identities can also split its old graph), replaces the old
//! profiles with the resulting graphs, their mentions and linking decisions, and merges each graph's records.
//! It runs inside the batch's transaction, so profiles, decisions and fragments commit together.

use std::collections::{BTreeSet, HashMap};

use rustc_hash::{FxHashMap, FxHashSet};

use rapport_model::EntityKind;
use rapport_profile::{merge, FragmentView, MergePolicy};
use rapport_store::{BatchWriter, FragmentHead, ProfileMembers, ProfileWrite};

use tracing::debug;

use crate::changes::NewProfile;
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
    apply_with_keys(writer, fresh, Vec::new(), &FragmentKeys::default(), policy)
}

/// The relationship keys of fragments just written, by fragment id (`changes::direct_keys` of their records),
/// taken while their records were in hand.
pub(crate) type FragmentKeys = FxHashMap<i64, Vec<crate::changes::Link>>;

/// [`apply_fragments`] for fragments whose relationship keys were taken while their records were in hand:
/// the change events of the profiles they create are then worked out without reading them back.
pub(crate) fn apply_fresh(
    writer: &mut BatchWriter<'_>,
    fresh: Vec<FragmentHead>,
    keys: &FragmentKeys,
    policy: &MergePolicy,
) -> Result<ProfileDelta> {
    apply_with_keys(writer, fresh, Vec::new(), keys, policy)
}

/// [`apply_fragments`], with the closed set also grown from `around`: identities that fragments no longer
/// carry (a deletion removed them), whose owners and mention holders must be re-stitched all the same.
pub(crate) fn apply_fragments_around(
    writer: &mut BatchWriter<'_>,
    fresh: Vec<FragmentHead>,
    around: Vec<rapport_model::Identity>,
    policy: &MergePolicy,
) -> Result<ProfileDelta> {
    apply_with_keys(writer, fresh, around, &FragmentKeys::default(), policy)
}

/// [`apply_fragments_around`], with the relationship keys of fresh fragments when they are in hand.
fn apply_with_keys(
    writer: &mut BatchWriter<'_>,
    fresh: Vec<FragmentHead>,
    around: Vec<rapport_model::Identity>,
    keys: &FragmentKeys,
    policy: &MergePolicy,
) -> Result<ProfileDelta> {
    let mut delta = ProfileDelta { entity: Some(writer.entity()), ..ProfileDelta::default() };
    if fresh.is_empty() && around.is_empty() {
        return Ok(delta);
    }
    let started = std::time::Instant::now();
    let rules = {
        let (namespaces, overrides) = writer.linking_rules()?;
        crate::identity::linking_rules(&namespaces, &overrides)
    };
    // Taken before the old profiles go, so that a fresh id never repeats one of theirs that a graph reuses; 0
    // when the class has no profile yet.
    let mut next = writer.next_profile_id()?;
    let (mut heads, old) = closure(writer, fresh, around, next > 0)?;
    let closed = started.elapsed();
    let touched: Vec<i64> = old.iter().map(|p| p.id).collect::<BTreeSet<_>>().into_iter().collect();
    // A key twice in one batch writes its fragment twice: the later write is what is stored, so it must win.
    // Reversed, the stable sort puts the later of two heads with one id first, and dedup keeps the first.
    heads.reverse();
    heads.sort_by_key(|h| h.id);
    heads.dedup_by_key(|h| h.id);

    let stitching = rapport_identity::stitch_with(
        &heads,
        |h| rapport_identity::RecordRef { primary: &h.primary, identities: &h.identities, updated_at: &h.updated_at },
        &rules,
    );
    let stitched = started.elapsed();
    let before = crate::changes::capture(writer, &old)?;
    writer.delete_profiles(&old)?;
    delta.replaced = old.len() as u64;

    // Graphs take the old ids first (smallest id to the graph with the earliest fragment), then fresh ones.
    let mut reuse = touched.into_iter();
    let mut pending: Vec<(i64, rapport_identity::GraphRef<'_, '_>)> = Vec::new();
    let mut pending_fragments = 0;
    // What the change feed needs of each profile written (none for a rebuild, which records no event).
    let feed = writer.cause() != rapport_store::Cause::Rebuild;
    let mut written: Vec<NewProfile> = Vec::new();
    for graph in stitching.graphs() {
        let id = reuse.next().unwrap_or_else(|| {
            next += 1;
            next - 1
        });
        if let [only] = graph.records() {
            let head = &heads[*only as usize];
            let identities: Vec<rapport_model::Identity> = graph.identities().cloned().collect();
            let mentions: Vec<rapport_model::Identity> = graph.mentions().into_iter().cloned().collect();
            let decisions = crate::identity::encode_decisions(&graph, &heads)?;
            writer.put_profile(&ProfileWrite {
                id,
                primary: &head.primary,
                identities: &identities,
                fragments: std::slice::from_ref(&head.id),
                record: None,
                mentions: &mentions,
                decisions: decisions.as_deref(),
            })?;
            if feed {
                written.push(NewProfile {
                    id,
                    primary: head.primary.clone(),
                    identities,
                    fragments: vec![head.id],
                    keys: keys.get(&head.id).cloned(),
                });
            }
            continue;
        }
        delta.stitched += 1;
        pending_fragments += graph.records().len();
        pending.push((id, graph));
        if pending_fragments >= MERGE_CHUNK {
            merge_chunk(writer, &heads, &pending, policy, feed.then_some(&mut written))?;
            pending.clear();
            pending_fragments = 0;
        }
    }
    merge_chunk(writer, &heads, &pending, policy, feed.then_some(&mut written))?;
    delta.written = stitching.len() as u64;
    let merged = started.elapsed();
    crate::changes::record(writer, before, written)?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    debug!(
        fragments = heads.len(),
        replaced = delta.replaced,
        written = delta.written,
        closure_ms = ms(closed),
        stitch_ms = ms(stitched - closed),
        merge_write_ms = ms(merged - stitched),
        change_feed_ms = ms(started.elapsed() - merged),
        "profiles applied"
    );
    Ok(delta)
}

/// The fragments to re-stitch with `fresh`, and the stored profiles they replace; `around` are more identities
/// to start the search from; `stored` is false when the class has no profile yet.
///
/// With the linking rules a fragment can carry an identity its profile's graph does not hold (its link was cut
/// or evicted), and that fragment still counts in the other graph's decisions (which record is newest, when an
/// identity was last seen). So the set is closed: every profile whose graph holds, or whose fragments mention,
/// an identity carried by a fragment of the set is in the set. Without any stored mention (no rule ever fired)
/// that is exactly the owners of the fresh identities, found in one round.
fn closure(
    writer: &BatchWriter<'_>,
    fresh: Vec<FragmentHead>,
    around: Vec<rapport_model::Identity>,
    stored: bool,
) -> Result<(Vec<FragmentHead>, Vec<ProfileMembers>)> {
    if around.is_empty() && !stored {
        // The class's first load: no stored profile can own or mention anything.
        return Ok((fresh, Vec::new()));
    }
    let mentions_exist = writer.has_mentions()?;
    let mut frontier: Vec<&rapport_model::Identity> =
        fresh.iter().flat_map(|h| h.identities.iter()).chain(around.iter()).collect();
    frontier.sort_unstable();
    frontier.dedup();
    let mut frontier: Vec<rapport_model::Identity> = frontier.into_iter().cloned().collect();
    let mut seen: FxHashSet<rapport_model::Identity> =
        if mentions_exist { frontier.iter().cloned().collect() } else { FxHashSet::default() };
    let mut known: FxHashSet<i64> = fresh.iter().map(|h| h.id).collect();
    let mut touched: BTreeSet<i64> = BTreeSet::new();
    let mut heads = fresh;
    let mut old = Vec::new();
    while !frontier.is_empty() {
        let mut found: BTreeSet<i64> =
            writer.owners(frontier.iter())?.into_values().filter(|id| !touched.contains(id)).collect();
        if mentions_exist {
            found.extend(writer.mention_holders(frontier.iter())?.into_iter().filter(|id| !touched.contains(id)));
        }
        frontier.clear();
        let ids: Vec<i64> = found.into_iter().collect();
        touched.extend(&ids);
        let members = writer.profile_members(&ids)?;
        let others: Vec<i64> =
            members.iter().flat_map(|p| p.fragments.iter().copied()).filter(|id| known.insert(*id)).collect();
        let loaded = writer.fragment_heads(&others)?;
        if mentions_exist {
            let stored_mentions = writer.profile_mentions(&ids)?;
            let carried =
                members.iter().flat_map(|m| m.identities.iter()).chain(loaded.iter().flat_map(|h| h.identities.iter()));
            for identity in carried.chain(stored_mentions.iter()) {
                if seen.insert(identity.clone()) {
                    frontier.push(identity.clone());
                }
            }
        }
        heads.extend(loaded);
        old.extend(members);
    }
    Ok((heads, old))
}

/// Loads the records of a chunk of multi-fragment graphs, merges each graph and writes its profile; with
/// `feed`, keeps what the change feed needs of each (its relationship keys taken from the merged record).
fn merge_chunk(
    writer: &mut BatchWriter<'_>,
    heads: &[FragmentHead],
    graphs: &[(i64, rapport_identity::GraphRef<'_, '_>)],
    policy: &MergePolicy,
    mut feed: Option<&mut Vec<NewProfile>>,
) -> Result<()> {
    let entity = writer.entity();
    let ids: Vec<i64> = graphs.iter().flat_map(|(_, g)| g.records().iter().map(|&i| heads[i as usize].id)).collect();
    let records: HashMap<i64, rapport_model::Record> = writer.fragment_records(&ids)?;
    for (id, graph) in graphs {
        let views: Vec<FragmentView<'_>> = graph
            .records()
            .iter()
            .map(|&i| {
                let head = &heads[i as usize];
                FragmentView {
                    dataset: &head.dataset,
                    seq: head.id,
                    updated_at: &head.updated_at,
                    record: &records[&head.id],
                }
            })
            .collect();
        let record = merge(&views, policy);
        let fragments: Vec<i64> = graph.records().iter().map(|&i| heads[i as usize].id).collect();
        let identities: Vec<rapport_model::Identity> = graph.identities().cloned().collect();
        let mentions: Vec<rapport_model::Identity> = graph.mentions().into_iter().cloned().collect();
        let decisions = crate::identity::encode_decisions(graph, heads)?;
        // Positions ascend with fragment ids, so the first fragment is the earliest ingested.
        let first = &heads[graph.records()[0] as usize];
        writer.put_profile(&ProfileWrite {
            id: *id,
            primary: &first.primary,
            identities: &identities,
            fragments: &fragments,
            record: Some(&record),
            mentions: &mentions,
            decisions: decisions.as_deref(),
        })?;
        if let Some(feed) = feed.as_deref_mut() {
            feed.push(NewProfile {
                id: *id,
                primary: first.primary.clone(),
                identities,
                fragments,
                keys: Some(crate::changes::direct_keys(entity, &record)),
            });
        }
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
        let entity = batch.entity;
        let encoded = batch.fragments.iter().map(|fragment| {
            let keys = crate::changes::direct_keys(entity, &fragment.record);
            Ok((rapport_store::EncodedFragment::encode(entity, fragment)?, keys))
        });
        self.commit_fragments(batch, encoded)
    }

    /// [`Engine::commit_batch`] of fragments encoded beforehand (`batch.fragments` is not read), each with its
    /// relationship keys ([`crate::changes::direct_keys`] of its record).
    pub(crate) fn commit_encoded(
        &mut self,
        batch: &rapport_store::NewBatch,
        fragments: Vec<(rapport_store::EncodedFragment, Vec<crate::changes::Link>)>,
    ) -> Result<(rapport_store::BatchSummary, ProfileDelta)> {
        self.commit_fragments(batch, fragments.into_iter().map(Ok))
    }

    fn commit_fragments(
        &mut self,
        batch: &rapport_store::NewBatch,
        fragments: impl ExactSizeIterator<Item = Result<(rapport_store::EncodedFragment, Vec<crate::changes::Link>)>>,
    ) -> Result<(rapport_store::BatchSummary, ProfileDelta)> {
        let mut writer = match batch.batch_id {
            Some(id) => self.store.writer_for_loading(id)?,
            None => self.store.batch_writer(&batch.dataset, batch.entity, &batch.source, batch.files.clone())?,
        };
        if let Some(checkpoint) = &batch.checkpoint {
            writer.set_checkpoint(checkpoint.clone());
        }
        let mut heads = Vec::with_capacity(fragments.len());
        let mut keys = FragmentKeys::with_capacity_and_hasher(fragments.len(), Default::default());
        for fragment in fragments {
            let (fragment, links) = fragment?;
            let stored = heads.len();
            put_fragment(&mut writer, &batch.dataset, fragment, &mut heads)?;
            if let Some(head) = heads.get(stored) {
                keys.insert(head.id, links);
            }
        }
        for row in &batch.rejected {
            writer.reject(row)?;
        }
        let delta = apply_fresh(&mut writer, heads, &keys, &MergePolicy::TimestampOrdered)?;
        let summary = writer
            .commit(batch.rows_read)?
            .ok_or_else(|| crate::Error::Internal("a batch without an id".to_owned()))?;
        self.after_commit();
        Ok((summary, delta))
    }
}
