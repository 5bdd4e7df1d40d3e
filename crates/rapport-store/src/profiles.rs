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

/// One stored fragment as a profile lookup shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FragmentDetail {
    /// The fragment id.
    pub id: i64,
    /// The dataset name.
    pub dataset: String,
    /// The batch that wrote it last.
    pub batch_id: i64,
    /// The source's modification time of the record (RFC 3339), or empty when unknown.
    pub updated_at: String,
    /// When that batch committed (RFC 3339), if it did.
    pub committed_at: Option<String>,
    /// The record, when asked for.
    #[serde(skip)]
    pub record: Option<Record>,
}

/// A relation class whose records point at a person by `personKey.sourceKey` (indexed for lookups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonRelation {
    /// Opportunity contact roles (`opportunity_person`).
    OpportunityPerson,
    /// Account-contact relations (`account_person`).
    AccountPerson,
}

/// A relationship path that fragments of one class hold a key of another class at, indexed for reverse lookups
/// (who points at this account, opportunity or person).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// Opportunities by `accountKey.sourceKey` (account → opportunities).
    OpportunityAccount,
    /// People by the account key of their source component, `personComponents[0].sourceAccountKey.sourceKey`
    /// (account → people; a person fragment holds the one component of its source).
    PersonAccount,
    /// Account-person relations by `accountKey.sourceKey`.
    AccountPersonAccount,
    /// Account-person relations by `personKey.sourceKey`.
    AccountPersonPerson,
    /// Opportunity-person relations by `opportunityKey.sourceKey`.
    OpportunityPersonOpportunity,
    /// Opportunity-person relations by `personKey.sourceKey`.
    OpportunityPersonPerson,
    /// Accounts by `accountParentKey.sourceKey` (account → child accounts).
    AccountParent,
}

impl Reference {
    /// The class whose fragments hold the key.
    pub fn from(self) -> EntityKind {
        match self {
            Reference::OpportunityAccount => EntityKind::Opportunity,
            Reference::PersonAccount => EntityKind::Person,
            Reference::AccountParent => EntityKind::Account,
            Reference::AccountPersonAccount | Reference::AccountPersonPerson => EntityKind::AccountPerson,
            Reference::OpportunityPersonOpportunity | Reference::OpportunityPersonPerson => {
                EntityKind::OpportunityPerson
            }
        }
    }

    /// Every reference.
    pub const ALL: [Reference; 7] = [
        Reference::OpportunityAccount,
        Reference::PersonAccount,
        Reference::AccountPersonAccount,
        Reference::AccountPersonPerson,
        Reference::OpportunityPersonOpportunity,
        Reference::OpportunityPersonPerson,
        Reference::AccountParent,
    ];

    /// Where the key is in the record: its top-level field, then a JSON pointer below it.
    fn path(self) -> (&'static str, &'static str) {
        match self {
            Reference::OpportunityAccount | Reference::AccountPersonAccount => ("accountKey", "/sourceKey"),
            Reference::PersonAccount => ("personComponents", "/0/sourceAccountKey/sourceKey"),
            Reference::AccountPersonPerson | Reference::OpportunityPersonPerson => ("personKey", "/sourceKey"),
            Reference::OpportunityPersonOpportunity => ("opportunityKey", "/sourceKey"),
            Reference::AccountParent => ("accountParentKey", "/sourceKey"),
        }
    }

    /// Which of a fragment's two link columns holds the key (see [`fragment_links`]).
    fn slot(self) -> usize {
        match self {
            Reference::AccountPersonPerson | Reference::OpportunityPersonPerson => 1,
            _ => 0,
        }
    }

    /// The query; it names the entity and its column as the partial indexes `fragments_link` and
    /// `fragments_link2` do, so that SQLite uses them.
    fn sql(self) -> &'static str {
        match self {
            Reference::OpportunityAccount => {
                "SELECT primary_ns, primary_value, record FROM fragments WHERE entity = 'opportunity' AND link = ?1
                 ORDER BY id"
            }
            Reference::PersonAccount => {
                "SELECT primary_ns, primary_value, record FROM fragments WHERE entity = 'person' AND link = ?1
                 ORDER BY id"
            }
            Reference::AccountPersonAccount => {
                "SELECT primary_ns, primary_value, record FROM fragments WHERE entity = 'account_person' AND link = ?1
                 ORDER BY id"
            }
            Reference::AccountPersonPerson => {
                "SELECT primary_ns, primary_value, record FROM fragments WHERE entity = 'account_person'
                 AND link2 = ?1 ORDER BY id"
            }
            Reference::OpportunityPersonOpportunity => {
                "SELECT primary_ns, primary_value, record FROM fragments WHERE entity = 'opportunity_person'
                 AND link = ?1 ORDER BY id"
            }
            Reference::OpportunityPersonPerson => {
                "SELECT primary_ns, primary_value, record FROM fragments WHERE entity = 'opportunity_person'
                 AND link2 = ?1 ORDER BY id"
            }
            Reference::AccountParent => {
                "SELECT primary_ns, primary_value, record FROM fragments WHERE entity = 'account' AND link = ?1
                 ORDER BY id"
            }
        }
    }
}

/// The relationship keys a record of class `entity` holds at the [`Reference`] paths of its class, by link
/// column: what the `link` and `link2` columns of its fragment store, so that reverse lookups need no JSON.
/// Only a string counts as a key (as a key compared with text never equalled a number before).
pub fn fragment_links(entity: EntityKind, record: &Record) -> [Option<String>; 2] {
    let mut links = [None, None];
    for reference in Reference::ALL.into_iter().filter(|r| r.from() == entity) {
        let (field, pointer) = reference.path();
        links[reference.slot()] =
            record.get(field).and_then(|v| v.pointer(pointer)).and_then(|v| v.as_str()).map(str::to_owned);
    }
    links
}

/// The fragments (primary identity, record) that hold `key` at `reference`'s path, in ingestion order.
pub(crate) fn referencing(
    conn: &rusqlite::Connection,
    reference: Reference,
    key: &str,
) -> Result<Vec<(Identity, Record)>> {
    let mut stmt = conn.prepare_cached(reference.sql())?;
    let mut rows = stmt.query([key])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let identity = Identity::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?);
        let record: String = row.get(2)?;
        out.push((identity, serde_json::from_str(&record)?));
    }
    Ok(out)
}

/// The id of the profile of class `entity` holding `identity`, if any.
pub(crate) fn profile_id_of(
    conn: &rusqlite::Connection,
    entity: EntityKind,
    identity: &Identity,
) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT profile_id FROM profile_identities WHERE entity = ?1 AND ns = ?2 AND value = ?3")?
        .query_row(params![entity.name(), identity.namespace.as_str(), identity.value], |row| row.get(0))
        .optional()?)
}

impl Store {
    /// The fragments (primary identity, record) of class [`Reference::from`] that hold `key` at the reference's
    /// path, in ingestion order (an indexed lookup).
    pub fn referencing(&self, reference: Reference, key: &str) -> Result<Vec<(Identity, Record)>> {
        referencing(&self.conn, reference, key)
    }

    /// The fragments `ids` with their dataset, batch and times, in the order given (unknown ids are skipped);
    /// with `records`, their records too.
    pub fn fragment_details(&self, ids: &[i64], records: bool) -> Result<Vec<FragmentDetail>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.id, d.name, f.batch_id, f.updated_at, b.updated_at, CASE WHEN ?2 THEN f.record END
             FROM fragments f JOIN datasets d ON d.id = f.dataset_id JOIN batches b ON b.id = f.batch_id
             WHERE f.id = ?1",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let found = stmt
                .query_row(params![id, records], |row| {
                    Ok((
                        FragmentDetail {
                            id: row.get(0)?,
                            dataset: row.get(1)?,
                            batch_id: row.get(2)?,
                            updated_at: row.get(3)?,
                            committed_at: row.get(4)?,
                            record: None,
                        },
                        row.get::<_, Option<String>>(5)?,
                    ))
                })
                .optional()?;
            if let Some((mut detail, record)) = found {
                if let Some(record) = record {
                    detail.record = Some(serde_json::from_str(&record)?);
                }
                out.push(detail);
            }
        }
        Ok(out)
    }

    /// The records of the `relation` fragments whose `personKey.sourceKey` is `person_key`, by fragment id
    /// (an indexed lookup).
    pub fn person_relations(&self, relation: PersonRelation, person_key: &str) -> Result<Vec<(i64, Record)>> {
        // Read through the index `fragments_link2` (entity, link2).
        let sql = match relation {
            PersonRelation::OpportunityPerson => {
                "SELECT id, record FROM fragments WHERE entity = 'opportunity_person' AND link2 = ?1 ORDER BY id"
            }
            PersonRelation::AccountPerson => {
                "SELECT id, record FROM fragments WHERE entity = 'account_person' AND link2 = ?1 ORDER BY id"
            }
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map([person_key], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, record) = row?;
            out.push((id, serde_json::from_str(&record)?));
        }
        Ok(out)
    }

    /// `count` identities held by a class's profiles, drawn at random with `seed` (for benchmarks): a random
    /// profile by id, then one of its identities. Empty when the class has no profile.
    pub fn sample_identities(&self, entity: EntityKind, count: usize, seed: u64) -> Result<Vec<Identity>> {
        let (min, max): (Option<i64>, Option<i64>) = self.conn.query_row(
            "SELECT MIN(profile_id), MAX(profile_id) FROM profiles WHERE entity = ?1",
            [entity.name()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (Some(min), Some(max)) = (min, max) else { return Ok(Vec::new()) };
        let mut stmt = self.conn.prepare_cached(
            "SELECT primary_ns, primary_value, identities FROM profiles
             WHERE entity = ?1 AND profile_id >= ?2 ORDER BY profile_id LIMIT 1",
        )?;
        let mut state = seed | 1;
        let mut next = move || {
            // xorshift64*: reproducible without a dependency.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let span = u64::try_from(max - min).unwrap_or(0) + 1;
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let start = min + i64::try_from(next() % span).unwrap_or(0);
            let (primary, identities): (Identity, String) = stmt.query_row(params![entity.name(), start], |row| {
                Ok((Identity::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?), row.get(2)?))
            })?;
            let mut identities = decode_identities(&identities)?;
            if identities.is_empty() {
                identities.push(primary);
            }
            let pick = usize::try_from(next() % identities.len() as u64).unwrap_or(0);
            out.push(identities.swap_remove(pick));
        }
        Ok(out)
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(value: serde_json::Value) -> Record {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn fragment_links_take_the_text_keys_of_the_class_paths() {
        let key = |k: &str| json!({"sourceID": "x", "sourceKey": k});
        let person = record(json!({
            "personKey": key("p1@o.Salesforce"),
            "personComponents": [{"sourceAccountKey": key("a1@o.Salesforce")}, {"sourceAccountKey": key("a2@o.Salesforce")}],
        }));
        assert_eq!(fragment_links(EntityKind::Person, &person), [Some("a1@o.Salesforce".to_owned()), None]);
        let relation = record(json!({"accountKey": key("a1@o.Salesforce"), "personKey": key("p1@o.Salesforce")}));
        assert_eq!(
            fragment_links(EntityKind::AccountPerson, &relation),
            [Some("a1@o.Salesforce".to_owned()), Some("p1@o.Salesforce".to_owned())]
        );
        let role = record(json!({"opportunityKey": key("o1@o.Salesforce"), "personKey": key("p1@o.Salesforce")}));
        assert_eq!(
            fragment_links(EntityKind::OpportunityPerson, &role),
            [Some("o1@o.Salesforce".to_owned()), Some("p1@o.Salesforce".to_owned())]
        );
        // An account's own key is not a link; its parent's is. A number or a missing key is no key.
        let account = record(json!({"accountKey": key("a1@o.Salesforce"), "accountParentKey": {"sourceKey": 7}}));
        assert_eq!(fragment_links(EntityKind::Account, &account), [None, None]);
        let child = record(json!({"accountParentKey": key("a0@o.Salesforce")}));
        assert_eq!(fragment_links(EntityKind::Account, &child), [Some("a0@o.Salesforce".to_owned()), None]);
        assert_eq!(fragment_links(EntityKind::Opportunity, &record(json!({}))), [None, None]);
        // A class with no reference path has no links, whatever its record holds.
        assert_eq!(fragment_links(EntityKind::Campaign, &relation), [None, None]);
    }

    /// A database at `path` as the release before the migration holding `marker` left it, with one person
    /// schema, dataset (id 1) and batch (id 1) for fragments to point at.
    fn database_before(path: &std::path::Path, marker: &str) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(path).unwrap();
        let before = crate::MIGRATIONS.iter().position(|m| m.contains(marker)).unwrap();
        for migration in &crate::MIGRATIONS[..before] {
            conn.execute_batch(migration).unwrap();
        }
        conn.pragma_update(None, "user_version", before as i64).unwrap();
        conn.execute_batch(
            r#"INSERT INTO schemas (name, entity, definition) VALUES ('s', 'person', '{}');
            INSERT INTO datasets (id, name, entity, schema_name) VALUES (1, 'd', 'person', 's');
            INSERT INTO batches (id, dataset_id, source, files, state, rows_read, rows_ingested, rows_rejected, created_at)
                VALUES (1, 1, 't', '[]', 'success', 0, 0, 0, '');"#,
        )
        .unwrap();
        conn
    }

    /// A store written before the link columns: its fragments get their links from the migration, and the
    /// lookups find them through the new indexes.
    #[test]
    fn the_migration_fills_the_link_columns_of_stored_fragments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::DATABASE_FILE);
        {
            let conn = database_before(&path, "ADD COLUMN link TEXT");
            let rows = [
                ("person", "p1", r#"{"personComponents":[{"sourceAccountKey":{"sourceKey":"a1"}}]}"#),
                ("person", "p2", r#"{"personComponents":[{"sourceAccountKey":{"sourceKey":5}}]}"#),
                ("account_person", "r1", r#"{"accountKey":{"sourceKey":"a1"},"personKey":{"sourceKey":"p1"}}"#),
                ("opportunity_person", "c1", r#"{"opportunityKey":{"sourceKey":"o1"},"personKey":{"sourceKey":"p1"}}"#),
                ("opportunity", "o1", r#"{"accountKey":{"sourceKey":"a1"}}"#),
                ("account", "a2", r#"{"accountParentKey":{"sourceKey":"a1"}}"#),
            ];
            for (entity, key, record) in rows {
                conn.execute(
                    "INSERT INTO fragments (dataset_id, entity, primary_ns, primary_value, batch_id, updated_at, record)
                     VALUES (1, ?1, 'ns', ?2, 1, '', ?3)",
                    params![entity, key, record],
                )
                .unwrap();
            }
        }
        let store = Store::open(dir.path()).unwrap();
        let links: Vec<(String, Option<String>, Option<String>)> = store
            .conn
            .prepare("SELECT primary_value, link, link2 FROM fragments ORDER BY id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            links,
            vec![
                ("p1".to_owned(), some("a1"), None),
                ("p2".to_owned(), None, None),
                ("r1".to_owned(), some("a1"), some("p1")),
                ("c1".to_owned(), some("o1"), some("p1")),
                ("o1".to_owned(), some("a1"), None),
                ("a2".to_owned(), some("a1"), None),
            ]
        );
        let found = |reference: Reference, key: &str| -> Vec<String> {
            store.referencing(reference, key).unwrap().into_iter().map(|(identity, _)| identity.value).collect()
        };
        assert_eq!(found(Reference::PersonAccount, "a1"), ["p1"]);
        assert_eq!(found(Reference::PersonAccount, "5"), Vec::<String>::new());
        assert_eq!(found(Reference::AccountPersonAccount, "a1"), ["r1"]);
        assert_eq!(found(Reference::AccountPersonPerson, "p1"), ["r1"]);
        assert_eq!(found(Reference::OpportunityPersonOpportunity, "o1"), ["c1"]);
        assert_eq!(found(Reference::OpportunityPersonPerson, "p1"), ["c1"]);
        assert_eq!(found(Reference::OpportunityAccount, "a1"), ["o1"]);
        assert_eq!(found(Reference::AccountParent, "a1"), ["a2"]);
        let plan: String = store
            .conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT primary_ns, primary_value, record FROM fragments
                 WHERE entity = 'account_person' AND link2 = 'p1' ORDER BY id",
                [],
                |row| row.get(3),
            )
            .unwrap();
        assert!(plan.contains("fragments_link2"), "{plan}");
    }

    #[test]
    fn the_migration_keeps_stored_modification_times_as_utc_instants() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = database_before(&dir.path().join(crate::DATABASE_FILE), "SET updated_at = strftime");
            let times = [
                "2024-01-01T00:00:00.000Z",
                "2024-01-01T01:00:00+02:00",
                "2024-05-01T10:00:00.5Z",
                "2024-05-01T10:00:00.123456-05:30",
                "",
                "not a time",
            ];
            for (at, time) in times.iter().enumerate() {
                conn.execute(
                    "INSERT INTO fragments (dataset_id, entity, primary_ns, primary_value, batch_id, updated_at, record)
                     VALUES (1, 'person', 'ns', ?1, 1, ?2, '{}')",
                    params![format!("p{at}"), time],
                )
                .unwrap();
            }
        }
        let store = Store::open(dir.path()).unwrap();
        let kept: Vec<String> = store
            .conn
            .prepare("SELECT updated_at FROM fragments ORDER BY id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            kept,
            [
                "2024-01-01T00:00:00.000Z",
                "2023-12-31T23:00:00.000Z",
                "2024-05-01T10:00:00.500Z",
                "2024-05-01T15:30:00.123Z",
                "",
                "not a time"
            ]
        );
    }
}
