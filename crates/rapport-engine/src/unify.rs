//! Rebuilds identity graphs and merged profiles from the stored fragments.

use std::collections::{BTreeMap, BTreeSet};

use rapport_model::{EntityKind, FieldPath, Projection};
use rapport_profile::{merge, FragmentView, MergePolicy, Profile, ProfileGraph, ProfileSet};
use rapport_store::{FragmentHead, NewProfile, ProfileRebuild};
use serde::Serialize;
use tracing::{info, instrument};

use crate::{Engine, Observer, Result};

/// Loads the records of a chunk of multi-fragment graphs, merges each graph and stores the profiles.
fn merge_chunk(
    rebuild: &mut ProfileRebuild<'_>,
    heads: &[FragmentHead],
    graphs: &[(u32, &rapport_identity::Graph)],
    policy: &MergePolicy,
) -> Result<()> {
    let ids: Vec<i64> = graphs.iter().flat_map(|(_, g)| g.fragments.iter().map(|&i| heads[i].id)).collect();
    let records = rebuild.fragment_records(&ids)?;
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
        let first = &heads[graph.fragments[0]];
        let profile = NewProfile {
            primary: first.primary.clone(),
            identities: graph.identities.clone(),
            fragment_count: graph.fragments.len() as u64,
            record: merge(&views, policy),
        };
        rebuild.insert(*id, &profile)?;
    }
    Ok(())
}

/// Profiles built for one entity class.
#[derive(Debug, Clone, Serialize)]
pub struct EntityCount {
    /// The class.
    pub entity: EntityKind,
    /// Fragments read.
    pub fragments: u64,
    /// Merged profiles.
    pub profiles: u64,
    /// Distinct identities.
    pub identities: u64,
    /// Profiles that merged two or more fragments.
    pub stitched: u64,
}

/// What a rebuild produced.
#[derive(Debug, Clone, Serialize)]
pub struct UnifyReport {
    /// One entry per class that has data.
    pub entities: Vec<EntityCount>,
}

impl UnifyReport {
    /// The counts of one class.
    pub fn entity(&self, entity: EntityKind) -> Option<&EntityCount> {
        self.entities.iter().find(|e| e.entity == entity)
    }
}

/// Multi-fragment graphs are merged in chunks of this many fragments, so memory stays bounded whatever the
/// number of profiles (single-fragment profiles are copied inside the database and never parsed).
const MERGE_CHUNK: usize = 20_000;

impl Engine {
    /// Stitches every class's fragments into identity graphs and merges each graph into one profile
    /// (timestamp-ordered). Each class's profiles are replaced in one transaction.
    #[instrument(skip_all)]
    pub fn unify(&mut self, observer: &dyn Observer) -> Result<UnifyReport> {
        let policy = MergePolicy::TimestampOrdered;
        let mut entities = Vec::new();
        observer.start("unify profiles", EntityKind::ALL.len() as u64);
        for (done, entity) in EntityKind::ALL.into_iter().enumerate() {
            let heads = self.store.fragment_heads(entity)?;
            let stitching = rapport_identity::stitch(heads.iter().map(|h| h.identities.as_slice()));
            let mut rebuild = self.store.rebuild_profiles(entity)?;
            let mut count = EntityCount {
                entity,
                fragments: heads.len() as u64,
                profiles: stitching.graphs.len() as u64,
                identities: 0,
                stitched: 0,
            };
            let mut pending: Vec<(u32, &rapport_identity::Graph)> = Vec::new();
            let mut pending_fragments = 0;
            for (number, graph) in stitching.graphs.iter().enumerate() {
                let id = u32::try_from(number).expect("fewer than 2^32 profiles");
                count.identities += graph.identities.len().max(1) as u64;
                // Positions ascend with fragment ids, so the first fragment is the earliest ingested.
                let first = &heads[graph.fragments[0]];
                if graph.fragments.len() == 1 {
                    let identities = if graph.identities.is_empty() {
                        std::slice::from_ref(&first.primary)
                    } else {
                        graph.identities.as_slice()
                    };
                    rebuild.copy_fragment(id, first.id, &first.primary, identities)?;
                    continue;
                }
                count.stitched += 1;
                pending_fragments += graph.fragments.len();
                pending.push((id, graph));
                if pending_fragments >= MERGE_CHUNK {
                    merge_chunk(&mut rebuild, &heads, &pending, &policy)?;
                    pending.clear();
                    pending_fragments = 0;
                }
            }
            merge_chunk(&mut rebuild, &heads, &pending, &policy)?;
            rebuild.commit()?;
            if count.fragments > 0 {
                info!(entity = %entity, fragments = count.fragments, profiles = count.profiles, "profiles rebuilt");
                entities.push(count);
            }
            observer.progress(done as u64 + 1);
        }
        observer.finish();
        Ok(UnifyReport { entities })
    }

    /// Loads every merged profile and links them into the graph audiences are evaluated on.
    pub fn profile_graph(&self) -> Result<ProfileGraph> {
        self.load_graph(None)
    }

    /// Loads the linked profiles keeping, of each class's records, only `fields` plus what linking needs;
    /// classes that take no part in navigations are not loaded. This is what audience evaluation uses: it
    /// reads a few fields of each record, and whole records cost about ten times more memory.
    pub fn profile_graph_for(&self, fields: &BTreeMap<EntityKind, BTreeSet<FieldPath>>) -> Result<ProfileGraph> {
        self.load_graph(Some(fields))
    }

    fn load_graph(&self, fields: Option<&BTreeMap<EntityKind, BTreeSet<FieldPath>>>) -> Result<ProfileGraph> {
        let mut sets = BTreeMap::new();
        for entity in EntityKind::ALL {
            let projection = match fields {
                None => None,
                Some(_) if !rapport_profile::LINKED_CLASSES.contains(&entity) => continue,
                Some(fields) => {
                    let mut paths: BTreeSet<FieldPath> = fields.get(&entity).cloned().unwrap_or_default();
                    for (class, path) in rapport_profile::LINK_PATHS {
                        if *class == entity {
                            paths.insert(FieldPath::parse(path).expect("link paths are valid"));
                        }
                    }
                    Some(Projection::new(&paths))
                }
            };
            let mut profiles = Vec::new();
            self.store.for_each_profile(entity, |_, primary, identities, text| -> Result<()> {
                let record: rapport_model::Record =
                    serde_json::from_str(text).map_err(|e| crate::Error::Internal(format!("stored profile: {e}")))?;
                let record = match &projection {
                    Some(projection) => projection.apply(&record),
                    None => record,
                };
                profiles.push(Profile { primary, identities, record });
                Ok(())
            })?;
            sets.insert(entity, ProfileSet::new(profiles));
        }
        Ok(ProfileGraph::link(sets))
    }
}
