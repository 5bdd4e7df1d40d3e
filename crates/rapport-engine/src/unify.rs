//! Rebuilds identity graphs and merged profiles from the stored fragments.

use std::collections::{BTreeMap, BTreeSet};

use rapport_model::{EntityKind, FieldPath, Projection};
use rapport_profile::{MergePolicy, Profile, ProfileGraph, ProfileSet};
use serde::Serialize;
use tracing::{info, instrument};

use crate::{Engine, Observer, Result};

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

impl Engine {
    /// Rebuilds every class's identity graphs and merged profiles (timestamp-ordered) from the stored
    /// fragments, each class in one transaction. Ingestion keeps profiles current batch by batch; a rebuild
    /// gives the same profiles (ids aside) and is how a store whose profile layout changed catches up.
    #[instrument(skip_all)]
    pub fn unify(&mut self, observer: &dyn Observer) -> Result<UnifyReport> {
        let policy = MergePolicy::TimestampOrdered;
        let mut entities = Vec::new();
        observer.start("unify profiles", EntityKind::ALL.len() as u64);
        for (done, entity) in EntityKind::ALL.into_iter().enumerate() {
            let mut writer = self.store.begin_rebuild(entity)?;
            let heads = writer.all_fragment_heads()?;
            let fragments = heads.len() as u64;
            let identities: u64 = {
                let mut all: Vec<&rapport_model::Identity> = heads.iter().flat_map(|h| h.identities.iter()).collect();
                all.sort_unstable();
                all.dedup();
                all.len() as u64
            };
            let delta = crate::profiles::apply_fragments(&mut writer, heads, &policy)?;
            writer.commit(0)?;
            if fragments > 0 {
                info!(entity = %entity, fragments, profiles = delta.written, "profiles rebuilt");
                entities.push(EntityCount {
                    entity,
                    fragments,
                    profiles: delta.written,
                    identities,
                    stitched: delta.stitched,
                });
            }
            observer.progress(done as u64 + 1);
        }
        self.store.clear_profiles_stale()?;
        // A rebuild records no change events and may renumber profiles: every audience is evaluated whole.
        self.after_rebuild()?;
        observer.finish();
        Ok(UnifyReport { entities })
    }

    /// What the store holds now: fragments, profiles, identities and stitched profiles per class.
    pub fn profile_summary(&self) -> Result<UnifyReport> {
        let entities = self
            .store
            .profile_stats()?
            .into_iter()
            .map(|s| EntityCount {
                entity: s.entity,
                fragments: s.fragments,
                profiles: s.profiles,
                identities: s.identities,
                stitched: s.stitched,
            })
            .collect();
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
        let mut graph = ProfileGraph::link(sets);
        graph.events.now = self.faults.now;
        self.attach_events(&mut graph)?;
        Ok(graph)
    }
}
