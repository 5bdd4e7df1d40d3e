//! Rebuilds identity graphs and merged profiles from the stored fragments.

use std::collections::BTreeMap;

use rapport_model::EntityKind;
use rapport_profile::{build_profiles, FragmentInput, FragmentView, MergePolicy, Profile, ProfileGraph, ProfileSet};
use rapport_store::NewProfile;
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
    /// Stitches every class's fragments into identity graphs and merges each graph into one profile
    /// (timestamp-ordered). Each class's profiles are replaced in one transaction.
    #[instrument(skip_all)]
    pub fn unify(&mut self, observer: &dyn Observer) -> Result<UnifyReport> {
        let policy = MergePolicy::TimestampOrdered;
        let mut entities = Vec::new();
        observer.start("unify profiles", EntityKind::ALL.len() as u64);
        for (done, entity) in EntityKind::ALL.into_iter().enumerate() {
            let fragments = self.store.fragments(entity)?;
            if fragments.is_empty() {
                self.store.replace_profiles(entity, &[])?;
                observer.progress(done as u64 + 1);
                continue;
            }
            let inputs: Vec<FragmentInput<'_>> = fragments
                .iter()
                .map(|f| FragmentInput {
                    view: FragmentView { dataset: &f.dataset, seq: f.id, updated_at: &f.updated_at, record: &f.record },
                    primary: &f.primary,
                    identities: &f.identities,
                })
                .collect();
            let merged = build_profiles(&inputs, &policy);
            let count = EntityCount {
                entity,
                fragments: fragments.len() as u64,
                profiles: merged.len() as u64,
                identities: merged.iter().map(|p| p.identities.len() as u64).sum(),
                stitched: merged.iter().filter(|p| p.fragment_count > 1).count() as u64,
            };
            let rows: Vec<NewProfile> = merged
                .into_iter()
                .map(|p| NewProfile {
                    primary: p.primary,
                    identities: p.identities,
                    fragment_count: p.fragment_count as u64,
                    record: p.record,
                })
                .collect();
            self.store.replace_profiles(entity, &rows)?;
            info!(entity = %entity, fragments = count.fragments, profiles = count.profiles, "profiles rebuilt");
            entities.push(count);
            observer.progress(done as u64 + 1);
        }
        observer.finish();
        Ok(UnifyReport { entities })
    }

    /// Loads every merged profile and links them into the graph audiences are evaluated on.
    pub fn profile_graph(&self) -> Result<ProfileGraph> {
        let mut sets = BTreeMap::new();
        for entity in EntityKind::ALL {
            let profiles = self
                .store
                .profiles(entity)?
                .into_iter()
                .map(|p| Profile { primary: p.primary, identities: p.identities, record: p.record })
                .collect();
            sets.insert(entity, ProfileSet::new(profiles));
        }
        Ok(ProfileGraph::link(sets))
    }
}
