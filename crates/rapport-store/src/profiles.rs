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

impl Store {
    /// Replaces every profile of an entity class in one transaction. Profile numbers follow the slice order.
    pub fn replace_profiles(&mut self, entity: EntityKind, profiles: &[NewProfile]) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM profiles WHERE entity = ?1", [entity.name()])?;
        tx.execute("DELETE FROM profile_identities WHERE entity = ?1", [entity.name()])?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO profiles (entity, profile_id, primary_ns, primary_value, fragment_count, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut identity = tx.prepare(
                "INSERT OR REPLACE INTO profile_identities (entity, profile_id, ns, value) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (id, profile) in profiles.iter().enumerate() {
                insert.execute(params![
                    entity.name(),
                    id as i64,
                    profile.primary.namespace.as_str(),
                    profile.primary.value,
                    profile.fragment_count,
                    serde_json::to_string(&profile.record)?
                ])?;
                for ident in &profile.identities {
                    identity.execute(params![entity.name(), id as i64, ident.namespace.as_str(), ident.value])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every profile of an entity class, by profile number.
    pub fn profiles(&self, entity: EntityKind) -> Result<Vec<StoredProfile>> {
        let mut identities: Vec<Vec<Identity>> = Vec::new();
        {
            let mut stmt = self.conn.prepare(
                "SELECT profile_id, ns, value FROM profile_identities WHERE entity = ?1 ORDER BY profile_id, ns, value",
            )?;
            let rows = stmt.query_map([entity.name()], |row| {
                Ok((row.get::<_, i64>(0)?, Identity::new(row.get::<_, String>(1)?, row.get::<_, String>(2)?)))
            })?;
            for row in rows {
                let (id, identity) = row?;
                let id = usize::try_from(id).unwrap_or_default();
                if identities.len() <= id {
                    identities.resize_with(id + 1, Vec::new);
                }
                identities[id].push(identity);
            }
        }
        let mut stmt = self.conn.prepare(
            "SELECT profile_id, primary_ns, primary_value, fragment_count, record FROM profiles
             WHERE entity = ?1 ORDER BY profile_id",
        )?;
        let rows = stmt.query_map([entity.name()], |row| {
            Ok((
                row.get::<_, u32>(0)?,
                Identity::new(row.get::<_, String>(1)?, row.get::<_, String>(2)?),
                row.get::<_, u64>(3)?,
                row.get::<_, String>(4)?,
            ))
        })?;
        rows.map(|row| {
            let (id, primary, fragment_count, record) = row?;
            let ids = identities.get_mut(id as usize).map(std::mem::take).unwrap_or_default();
            Ok(StoredProfile { id, primary, identities: ids, fragment_count, record: serde_json::from_str(&record)? })
        })
        .collect()
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
        store.replace_profiles(EntityKind::Person, &[profile("a", "a@x.com"), profile("b", "b@x.com")]).unwrap();
        store.replace_profiles(EntityKind::Person, &[profile("c", "c@x.com")]).unwrap();
        let all = store.profiles(EntityKind::Person).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].identities.len(), 2);
        let found = store.profile_by_identity(EntityKind::Person, &Identity::new("Email", "c@x.com")).unwrap().unwrap();
        assert_eq!(found.primary, Identity::new("b2b_person", "c"));
        assert!(store.profile_by_identity(EntityKind::Person, &Identity::new("Email", "a@x.com")).unwrap().is_none());
    }
}
