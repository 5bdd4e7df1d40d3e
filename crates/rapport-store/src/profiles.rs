//! Merged profiles and the identity graph they were built from.

use rapport_model::{EntityKind, Identity, Record};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::writer::{decode_identities, FragmentHead};
use crate::{Result, Store};

/// What one entity class holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProfileStats {
    /// The class.
    pub entity: EntityKind,
    /// Stored fragments.
    pub fragments: u64,
    /// Merged profiles.
    pub profiles: u64,
    /// Distinct identities over all its profiles.
    pub identities: u64,
    /// Profiles that merge two or more fragments.
    pub stitched: u64,
}

/// A stored merged profile.
#[derive(Debug, Clone, Serialize)]
pub struct StoredProfile {
    /// The profile id within its entity class (stable until the profile merges into another or splits).
    pub id: i64,
    /// The primary identity.
    pub primary: Identity,
    /// Every identity of the graph.
    pub identities: Vec<Identity>,
    /// How many fragments were merged.
    pub fragment_count: u64,
    /// The ids of the merged fragments, ascending.
    pub fragments: Vec<i64>,
    /// The merged record.
    pub record: Record,
}

impl Store {
    /// The fragments of a class without their records, in ingestion order.
    pub fn fragment_heads(&self, entity: EntityKind) -> Result<Vec<FragmentHead>> {
        crate::writer::heads_of_entity(&self.conn, entity)
    }

    /// Calls `each` with every profile of a class in profile-number order, passing the record as stored JSON
    /// text so that callers can keep only the part they need.
    pub fn for_each_profile<E>(
        &self,
        entity: EntityKind,
        mut each: impl FnMut(i64, Identity, Vec<Identity>, &str) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E>
    where
        E: From<crate::Error>,
    {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.profile_id, p.primary_ns, p.primary_value, p.identities, COALESCE(p.record, f.record)
                 FROM profiles p LEFT JOIN fragments f ON f.id = p.fragment_id
                 WHERE p.entity = ?1 ORDER BY p.profile_id",
            )
            .map_err(crate::Error::from)?;
        let mut rows = stmt.query([entity.name()]).map_err(crate::Error::from)?;
        while let Some(row) = rows.next().map_err(crate::Error::from)? {
            let read = || -> Result<(i64, Identity, Vec<Identity>)> {
                let primary = Identity::new(row.get::<_, String>(1)?, row.get::<_, String>(2)?);
                let identities = decode_identities(row.get_ref(3)?.as_str().map_err(rusqlite::Error::from)?)?;
                Ok((row.get(0)?, primary, identities))
            };
            let (id, primary, identities) = read()?;
            let record = row
                .get_ref(4)
                .map_err(crate::Error::from)?
                .as_str()
                .map_err(|e| crate::Error::from(rusqlite::Error::from(e)))?;
            each(id, primary, identities, record)?;
        }
        Ok(())
    }

    /// The profile holding `identity`, if any.
    pub fn profile_by_identity(&self, entity: EntityKind, identity: &Identity) -> Result<Option<StoredProfile>> {
        let id: Option<i64> = self
            .conn
            .prepare_cached("SELECT profile_id FROM profile_identities WHERE entity = ?1 AND ns = ?2 AND value = ?3")?
            .query_row(params![entity.name(), identity.namespace.as_str(), identity.value], |row| row.get(0))
            .optional()?;
        let Some(id) = id else { return Ok(None) };
        let (primary, identities, fragments, record): (Identity, String, String, String) = self
            .conn
            .prepare_cached(
                "SELECT p.primary_ns, p.primary_value, p.identities, p.fragments, COALESCE(p.record, f.record)
                 FROM profiles p LEFT JOIN fragments f ON f.id = p.fragment_id
                 WHERE p.entity = ?1 AND p.profile_id = ?2",
            )?
            .query_row(params![entity.name(), id], |row| {
                Ok((
                    Identity::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?),
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })?;
        let fragments: Vec<i64> = serde_json::from_str(&fragments)?;
        let mut identities = decode_identities(&identities)?;
        identities.sort();
        Ok(Some(StoredProfile {
            id,
            primary,
            identities,
            fragment_count: fragments.len() as u64,
            fragments,
            record: serde_json::from_str(&record)?,
        }))
    }

    /// The number of profiles and of distinct identities per entity class.
    pub fn profile_counts(&self) -> Result<Vec<(EntityKind, u64, u64)>> {
        let mut out = Vec::new();
        for entity in EntityKind::ALL {
            let profiles: u64 =
                self.conn
                    .query_row("SELECT COUNT(*) FROM profiles WHERE entity = ?1", [entity.name()], |r| r.get(0))?;
            let identities: u64 = self.conn.query_row(
                "SELECT COUNT(*) FROM profile_identities WHERE entity = ?1",
                [entity.name()],
                |r| r.get(0),
            )?;
            if profiles > 0 {
                out.push((entity, profiles, identities));
            }
        }
        Ok(out)
    }

    /// Counts per entity class that has fragments.
    pub fn profile_stats(&self) -> Result<Vec<ProfileStats>> {
        let mut out = Vec::new();
        for entity in EntityKind::ALL {
            let count = |sql: &str| -> Result<u64> { Ok(self.conn.query_row(sql, [entity.name()], |r| r.get(0))?) };
            let fragments = count("SELECT COUNT(*) FROM fragments WHERE entity = ?1")?;
            if fragments == 0 {
                continue;
            }
            out.push(ProfileStats {
                entity,
                fragments,
                profiles: count("SELECT COUNT(*) FROM profiles WHERE entity = ?1")?,
                identities: count("SELECT COUNT(*) FROM profile_identities WHERE entity = ?1")?,
                stitched: count("SELECT COUNT(*) FROM profiles WHERE entity = ?1 AND fragment_id IS NULL")?,
            });
        }
        Ok(out)
    }
}
