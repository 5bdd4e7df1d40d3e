//! Merged profiles and the identity graph they were built from.

use rapport_model::{EntityKind, Identity, Record};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::{Result, Store};

/// A merged profile to store.
#[derive(Debug, Clone)]
pub struct NewProfile {
    /// The profile's primary identity.
    pub primary: Identity,
    /// Every identity of the profile's graph.
    pub identities: Vec<Identity>,
    /// How many fragments were merged.
    pub fragment_count: u64,
    /// The merged record.
    pub record: Record,
}

/// A stored merged profile.
#[derive(Debug, Clone, Serialize)]
pub struct StoredProfile {
    /// The profile number within its entity class (dense, from 0; reassigned on every rebuild).
    pub id: u32,
    /// The primary identity.
    pub primary: Identity,
    /// Every identity of the graph.
    pub identities: Vec<Identity>,
    /// How many fragments were merged.
    pub fragment_count: u64,
    /// The merged record.
    pub record: Record,
}

/// A fragment without its record: what identity stitching needs.
#[derive(Debug, Clone)]
pub struct FragmentHead {
    /// The fragment's row id (increases with ingestion order).
    pub id: i64,
    /// The dataset name.
    pub dataset: String,
    /// The primary identity.
    pub primary: Identity,
    /// Every identity of the record, sorted.
    pub identities: Vec<Identity>,
    /// Source modification time (RFC 3339) or empty.
    pub updated_at: String,
}

/// A rebuild of one class's profiles inside one transaction: the old profiles disappear and the new ones
/// appear together at [`ProfileRebuild::commit`]; dropping the rebuild without committing changes nothing.
pub struct ProfileRebuild<'a> {
    tx: rusqlite::Transaction<'a>,
    entity: EntityKind,
}

impl ProfileRebuild<'_> {
    fn identities(&self, id: u32, identities: &[Identity]) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT OR REPLACE INTO profile_identities (entity, profile_id, ns, value) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for ident in identities {
            stmt.execute(params![self.entity.name(), id, ident.namespace.as_str(), ident.value])?;
        }
        Ok(())
    }

    /// Stores a profile made of one fragment: its record is copied inside the database, never parsed.
    pub fn copy_fragment(&mut self, id: u32, fragment: i64, primary: &Identity, identities: &[Identity]) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO profiles (entity, profile_id, primary_ns, primary_value, fragment_count, record)
                 SELECT ?1, ?2, ?3, ?4, 1, record FROM fragments WHERE id = ?5",
            )?
            .execute(params![self.entity.name(), id, primary.namespace.as_str(), primary.value, fragment])?;
        self.identities(id, identities)
    }

    /// Stores a merged profile.
    pub fn insert(&mut self, id: u32, profile: &NewProfile) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO profiles (entity, profile_id, primary_ns, primary_value, fragment_count, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                self.entity.name(),
                id,
                profile.primary.namespace.as_str(),
                profile.primary.value,
                profile.fragment_count,
                serde_json::to_string(&profile.record)?
            ])?;
        self.identities(id, &profile.identities)
    }

    /// The records of the given fragments, by fragment id.
    pub fn fragment_records(&self, ids: &[i64]) -> Result<std::collections::HashMap<i64, Record>> {
        let mut out = std::collections::HashMap::with_capacity(ids.len());
        let mut stmt = self.tx.prepare_cached("SELECT record FROM fragments WHERE id = ?1")?;
        for &id in ids {
            let text: String = stmt.query_row([id], |row| row.get(0))?;
            out.insert(id, serde_json::from_str(&text)?);
        }
        Ok(out)
    }

    /// Makes the new profiles visible, replacing the old ones.
    pub fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }
}

impl Store {
    /// The fragments of a class without their records, in ingestion order.
    pub fn fragment_heads(&self, entity: EntityKind) -> Result<Vec<FragmentHead>> {
        let mut identities: std::collections::HashMap<i64, Vec<Identity>> = std::collections::HashMap::new();
        {
            let mut stmt = self.conn.prepare(
                "SELECT fi.fragment_id, fi.ns, fi.value FROM fragment_identities fi
                 JOIN fragments f ON f.id = fi.fragment_id WHERE f.entity = ?1",
            )?;
            let rows = stmt.query_map([entity.name()], |row| {
                Ok((row.get::<_, i64>(0)?, Identity::new(row.get::<_, String>(1)?, row.get::<_, String>(2)?)))
            })?;
            for row in rows {
                let (id, identity) = row?;
                identities.entry(id).or_default().push(identity);
            }
        }
        let mut stmt = self.conn.prepare(
            "SELECT f.id, d.name, f.primary_ns, f.primary_value, f.updated_at
             FROM fragments f JOIN datasets d ON d.id = f.dataset_id WHERE f.entity = ?1 ORDER BY f.id",
        )?;
        let rows = stmt.query_map([entity.name()], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                Identity::new(row.get::<_, String>(2)?, row.get::<_, String>(3)?),
                row.get::<_, String>(4)?,
            ))
        })?;
        rows.map(|row| {
            let (id, dataset, primary, updated_at) = row?;
            let mut ids = identities.remove(&id).unwrap_or_default();
            ids.sort();
            Ok(FragmentHead { id, dataset, primary, identities: ids, updated_at })
        })
        .collect()
    }

    /// Starts rebuilding a class's profiles: the old ones are deleted inside the new transaction.
    pub fn rebuild_profiles(&mut self, entity: EntityKind) -> Result<ProfileRebuild<'_>> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM profiles WHERE entity = ?1", [entity.name()])?;
        tx.execute("DELETE FROM profile_identities WHERE entity = ?1", [entity.name()])?;
        Ok(ProfileRebuild { tx, entity })
    }

    /// Calls `each` with every profile of a class in profile-number order, passing the record as stored JSON
    /// text so that callers can keep only the part they need.
    pub fn for_each_profile<E>(
        &self,
        entity: EntityKind,
        mut each: impl FnMut(u32, Identity, Vec<Identity>, &str) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E>
    where
        E: From<crate::Error>,
    {
        let mut identities = self.identities_by_profile(entity).map_err(E::from)?;
        let mut stmt = self
            .conn
            .prepare("SELECT profile_id, primary_ns, primary_value, record FROM profiles WHERE entity = ?1 ORDER BY profile_id")
            .map_err(crate::Error::from)?;
        let mut rows = stmt.query([entity.name()]).map_err(crate::Error::from)?;
        while let Some(row) = rows.next().map_err(crate::Error::from)? {
            let read = || -> rusqlite::Result<(u32, Identity, String)> {
                Ok((row.get(0)?, Identity::new(row.get::<_, String>(1)?, row.get::<_, String>(2)?), row.get(3)?))
            };
            let (id, primary, record) = read().map_err(crate::Error::from)?;
            let ids = identities.get_mut(id as usize).map(std::mem::take).unwrap_or_default();
            each(id, primary, ids, &record)?;
        }
        Ok(())
    }

    /// Every profile's identities, indexed by profile number, each list sorted.
    fn identities_by_profile(&self, entity: EntityKind) -> Result<Vec<Vec<Identity>>> {
        let mut out: Vec<Vec<Identity>> = Vec::new();
        let mut stmt = self.conn.prepare(
            "SELECT profile_id, ns, value FROM profile_identities WHERE entity = ?1 ORDER BY profile_id, ns, value",
        )?;
        let rows = stmt.query_map([entity.name()], |row| {
            Ok((row.get::<_, u32>(0)?, Identity::new(row.get::<_, String>(1)?, row.get::<_, String>(2)?)))
        })?;
        for row in rows {
            let (id, identity) = row?;
            let id = id as usize;
            if out.len() <= id {
                out.resize_with(id + 1, Vec::new);
            }
            out[id].push(identity);
        }
        Ok(out)
    }

    /// The profile holding `identity`, if any.
    pub fn profile_by_identity(&self, entity: EntityKind, identity: &Identity) -> Result<Option<StoredProfile>> {
        let id: Option<u32> = self
            .conn
            .query_row(
                "SELECT profile_id FROM profile_identities WHERE entity = ?1 AND ns = ?2 AND value = ?3",
                params![entity.name(), identity.namespace.as_str(), identity.value],
                |row| row.get(0),
            )
            .optional()?;
        let Some(id) = id else { return Ok(None) };
        let (primary, fragment_count, record): (Identity, u64, String) = self.conn.query_row(
            "SELECT primary_ns, primary_value, fragment_count, record FROM profiles WHERE entity = ?1 AND profile_id = ?2",
            params![entity.name(), id],
            |row| Ok((Identity::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?), row.get(2)?, row.get(3)?)),
        )?;
        let mut stmt = self.conn.prepare(
            "SELECT ns, value FROM profile_identities WHERE entity = ?1 AND profile_id = ?2 ORDER BY ns, value",
        )?;
        let identities = stmt
            .query_map(params![entity.name(), id], |row| {
                Ok(Identity::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(StoredProfile { id, primary, identities, fragment_count, record: serde_json::from_str(&record)? }))
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::store;
    use serde_json::json;

    #[test]
    fn profiles_are_replaced_whole_and_found_by_any_identity() {
        let (_dir, mut store) = store();
        let profile = |key: &str, email: &str| NewProfile {
            primary: Identity::new("b2b_person", key),
            identities: vec![Identity::new("b2b_person", key), Identity::new("Email", email)],
            fragment_count: 1,
            record: json!({"workEmail": {"address": email}}).as_object().unwrap().clone(),
        };
        let replace = |store: &mut Store, profiles: &[NewProfile]| {
            let mut rebuild = store.rebuild_profiles(EntityKind::Person).unwrap();
            for (i, p) in profiles.iter().enumerate() {
                rebuild.insert(i as u32, p).unwrap();
            }
            rebuild.commit().unwrap();
        };
        replace(&mut store, &[profile("a", "a@x.com"), profile("b", "b@x.com")]);
        // A rebuild dropped before commit changes nothing.
        drop(store.rebuild_profiles(EntityKind::Person).unwrap());
        assert_eq!(store.profile_counts().unwrap(), vec![(EntityKind::Person, 2, 4)]);
        replace(&mut store, &[profile("c", "c@x.com")]);
        let mut all = Vec::new();
        store
            .for_each_profile(EntityKind::Person, |id, primary, identities, _| -> Result<()> {
                all.push((id, primary, identities));
                Ok(())
            })
            .unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].2.len(), 2);
        let found = store.profile_by_identity(EntityKind::Person, &Identity::new("Email", "c@x.com")).unwrap().unwrap();
        assert_eq!(found.primary, Identity::new("b2b_person", "c"));
        assert!(store.profile_by_identity(EntityKind::Person, &Identity::new("Email", "a@x.com")).unwrap().is_none());
    }
}
