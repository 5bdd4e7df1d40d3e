//! The change feed: one event per merged profile that a batch, a streamed group or a deletion created, changed,
//! merged, split or deleted, appended in the transaction that made the change, numbered in commit order.
//!
//! The engine computes the events (`rapport_engine::changes`); this module stores and reads them, and gives
//! the writer what it needs to compute them: the profiles as they were before the transaction (a profile of one
//! fragment is read in place from that fragment, whose prior record [`crate::BatchWriter`] keeps when it
//! replaces or deletes it) and as they are after.

use std::fmt;

use rapport_model::{EntityKind, Identity, Record};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::writer::decode_identities;
use crate::{now, BatchWriter, Result, Store};

/// What made a transaction change profiles.
///
/// As JSON: `{"type": "batch", "batchId": 7}`, `{"type": "deleteIdentity"}`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "batchId", rename_all = "camelCase")]
pub enum Cause {
    /// A batch (a file, a mapped load, or a group of streamed messages) with this id.
    Batch(i64),
    /// `Engine::delete_identity`.
    DeleteIdentity,
    /// `Engine::delete_record`.
    DeleteRecord,
    /// `Engine::delete_batch` of the batch with this id.
    DeleteBatch(i64),
    /// A rebuild of every profile from the fragments; it records no change event.
    Rebuild,
}

impl Cause {
    /// The cause's name as stored.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Batch(_) => "batch",
            Cause::DeleteIdentity => "deleteIdentity",
            Cause::DeleteRecord => "deleteRecord",
            Cause::DeleteBatch(_) => "deleteBatch",
            Cause::Rebuild => "rebuild",
        }
    }

    /// The batch the cause names, if any.
    pub fn batch_id(self) -> Option<i64> {
        match self {
            Cause::Batch(id) | Cause::DeleteBatch(id) => Some(id),
            _ => None,
        }
    }

    fn from_stored(name: &str, batch: Option<i64>) -> Option<Self> {
        Some(match (name, batch) {
            ("batch", Some(id)) => Cause::Batch(id),
            ("deleteIdentity", _) => Cause::DeleteIdentity,
            ("deleteRecord", _) => Cause::DeleteRecord,
            ("deleteBatch", Some(id)) => Cause::DeleteBatch(id),
            _ => return None,
        })
    }
}

/// What happened to a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    /// A profile made only of fragments that belonged to no profile before.
    Created,
    /// The same fragments' profile (possibly with fragments added or removed) whose record, identities or
    /// primary identity changed.
    Updated,
    /// A profile made from two or more former profiles (`previous` lists them).
    Merged,
    /// One of the profiles a former profile split into (`previous` names it).
    Split,
    /// A profile id that no profile holds any more: its fragments were deleted, or it was merged into another.
    Deleted,
}

impl ChangeKind {
    /// The kind's name as stored and printed.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Merged => "merged",
            ChangeKind::Split => "split",
            ChangeKind::Deleted => "deleted",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [ChangeKind::Created, ChangeKind::Updated, ChangeKind::Merged, ChangeKind::Split, ChangeKind::Deleted]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An entity whose derived view a change touched (e.g. the account of a person who changed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityRef {
    /// Its class.
    pub entity: EntityKind,
    /// The key it is known by (its primary identity when it has a profile).
    pub key: Identity,
    /// Its profile id, when a profile holds the key.
    pub profile_id: Option<i64>,
}

/// One change event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    /// The position in the feed (increasing in commit order; 0 before it is stored).
    pub seq: i64,
    /// What made the change.
    pub cause: Cause,
    /// The entity class.
    pub entity: EntityKind,
    /// The profile id (for `deleted`, the id that is gone).
    pub profile_id: i64,
    /// The profile's primary identity (for `deleted`, the one it had).
    pub primary: Identity,
    /// What happened.
    pub kind: ChangeKind,
    /// The attribute paths whose merged value differs (a path covers everything under it); empty for
    /// `created` and `deleted`, where every path changed.
    pub paths: Vec<String>,
    /// The former profile ids this one was made from (`merged`, `split`, and `updated` when the id changed).
    pub previous: Vec<i64>,
    /// Entities of other classes (and parent or child accounts) whose derived view changed with it, sorted.
    pub related: Vec<EntityRef>,
    /// When it was recorded (RFC 3339).
    pub at: String,
}

/// A stored profile with its merged record, as the change feed compares them.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRow {
    /// The profile id.
    pub id: i64,
    /// The primary identity.
    pub primary: Identity,
    /// Its identities, sorted.
    pub identities: Vec<Identity>,
    /// Its fragments' ids, ascending.
    pub fragments: Vec<i64>,
    /// The merged record.
    pub record: Record,
}

impl BatchWriter<'_> {
    /// Copies the stored profiles `ids`, with their records as they were before this transaction, aside until
    /// [`BatchWriter::clear_prior_profiles`], so that they can be compared with the profiles that replace them.
    pub fn keep_prior_profiles(&mut self, ids: &[i64]) -> Result<()> {
        let mut stmt = self.tx().prepare_cached(
            "INSERT OR IGNORE INTO temp.prior_profiles
                 (profile_id, primary_ns, primary_value, identities, fragments, record)
             SELECT p.profile_id, p.primary_ns, p.primary_value, p.identities, p.fragments,
                    COALESCE(p.record, pr.record, f.record)
             FROM profiles p LEFT JOIN temp.prior_records pr ON pr.fragment_id = p.fragment_id
             LEFT JOIN fragments f ON f.id = p.fragment_id WHERE p.entity = ?1 AND p.profile_id = ?2",
        )?;
        for &id in ids {
            stmt.execute(params![self.entity().name(), id])?;
        }
        Ok(())
    }

    /// The profiles kept by [`BatchWriter::keep_prior_profiles`], in the order asked (unknown ids skipped).
    pub fn prior_profiles(&self, ids: &[i64]) -> Result<Vec<ProfileRow>> {
        let stmt = self.tx().prepare_cached(
            "SELECT primary_ns, primary_value, identities, fragments, record FROM temp.prior_profiles
             WHERE profile_id = ?2 AND ?1 = ?1",
        )?;
        read_rows(stmt, self.entity(), ids)
    }

    /// Forgets the profiles kept by [`BatchWriter::keep_prior_profiles`].
    pub fn clear_prior_profiles(&mut self) -> Result<()> {
        self.tx().execute("DELETE FROM temp.prior_profiles", [])?;
        Ok(())
    }

    /// The stored profiles `ids` with their records. With `prior`, a profile read in place from its one fragment
    /// shows that fragment's record as it was before this transaction replaced or deleted it.
    pub fn profile_rows(&self, ids: &[i64], prior: bool) -> Result<Vec<ProfileRow>> {
        let sql = if prior {
            "SELECT p.primary_ns, p.primary_value, p.identities, p.fragments, COALESCE(p.record, pr.record, f.record)
             FROM profiles p LEFT JOIN temp.prior_records pr ON pr.fragment_id = p.fragment_id
             LEFT JOIN fragments f ON f.id = p.fragment_id WHERE p.entity = ?1 AND p.profile_id = ?2"
        } else {
            "SELECT p.primary_ns, p.primary_value, p.identities, p.fragments, COALESCE(p.record, f.record)
             FROM profiles p LEFT JOIN fragments f ON f.id = p.fragment_id WHERE p.entity = ?1 AND p.profile_id = ?2"
        };
        let stmt = self.tx().prepare_cached(sql)?;
        read_rows(stmt, self.entity(), ids)
    }

    /// The profile id of class `entity` holding `identity`, as this transaction sees it (the identity index of
    /// the class being written is complete only at commit: ask it for other classes).
    pub fn profile_of(&self, entity: EntityKind, identity: &Identity) -> Result<Option<i64>> {
        crate::profiles::profile_id_of(self.tx(), entity, identity)
    }

    /// The fragments (primary identity, record) that hold `key` at `reference`'s path, as this transaction
    /// sees them.
    pub fn referencing(&self, reference: crate::profiles::Reference, key: &str) -> Result<Vec<(Identity, Record)>> {
        crate::profiles::referencing(self.tx(), reference, key)
    }

    /// Appends an event to the change feed (its `seq` and `at` are assigned here). Events are inserted in the
    /// order appended, in bulk (many rows to a statement) once enough are waiting, and all of them before the
    /// transaction commits.
    pub fn append_change(&mut self, event: &ChangeEvent) -> Result<()> {
        let cause = self.cause();
        self.events.push(EventRow {
            cause: cause.name(),
            batch_id: cause.batch_id(),
            entity: event.entity.name(),
            profile_id: event.profile_id,
            primary: event.primary.clone(),
            kind: event.kind.name(),
            paths: serde_json::to_string(&event.paths)?,
            previous: serde_json::to_string(&event.previous)?,
            related: encode_refs(&event.related)?,
        });
        if self.events.len() >= crate::writer::MULTI_ROW_MIN {
            self.flush_changes()?;
        }
        Ok(())
    }

    /// Inserts the events appended since the last flush, in order, with [`crate::writer::insert_rows`] (many
    /// rows to a statement only when there are many).
    pub(crate) fn flush_changes(&mut self) -> Result<()> {
        let at = now();
        let head = "INSERT INTO change_events
            (at, cause, batch_id, entity, profile_id, primary_ns, primary_value, kind, paths, previous, related)";
        crate::writer::insert_rows(
            self.tx(),
            &self.events,
            EVENTS_PER_STATEMENT,
            (head, EVENT_PARAMS),
            |stmt, chunk| bind_events(stmt, &at, chunk),
        )?;
        self.events.clear();
        Ok(())
    }
}

/// Binds `events` and their shared `at` (parameter 1) to an insert of as many rows.
fn bind_events(stmt: &mut rusqlite::CachedStatement<'_>, at: &str, events: &[EventRow]) -> Result<()> {
    stmt.raw_bind_parameter(1, at)?;
    for (row, event) in events.iter().enumerate() {
        let first = 2 + EVENT_PARAMS * row;
        stmt.raw_bind_parameter(first, event.cause)?;
        stmt.raw_bind_parameter(first + 1, event.batch_id)?;
        stmt.raw_bind_parameter(first + 2, event.entity)?;
        stmt.raw_bind_parameter(first + 3, event.profile_id)?;
        stmt.raw_bind_parameter(first + 4, event.primary.namespace.as_str())?;
        stmt.raw_bind_parameter(first + 5, &event.primary.value)?;
        stmt.raw_bind_parameter(first + 6, event.kind)?;
        stmt.raw_bind_parameter(first + 7, &event.paths)?;
        stmt.raw_bind_parameter(first + 8, &event.previous)?;
        stmt.raw_bind_parameter(first + 9, &event.related)?;
    }
    Ok(())
}

/// A change event waiting to be inserted, its columns encoded.
pub(crate) struct EventRow {
    cause: &'static str,
    batch_id: Option<i64>,
    entity: &'static str,
    profile_id: i64,
    primary: Identity,
    kind: &'static str,
    paths: String,
    previous: String,
    related: String,
}

/// Events inserted by one statement (each binds [`EVENT_PARAMS`] parameters; SQLite allows 32,766).
const EVENTS_PER_STATEMENT: usize = 128;

/// Parameters an event binds besides the shared `at` (parameter 1).
const EVENT_PARAMS: usize = 10;

/// Runs `stmt` (parameters: entity, profile id; columns: primary namespace and value, identities, fragments,
/// record) for each id.
fn read_rows(mut stmt: rusqlite::CachedStatement<'_>, entity: EntityKind, ids: &[i64]) -> Result<Vec<ProfileRow>> {
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        let row: Option<(String, String, String, String, Option<String>)> = stmt
            .query_row(params![entity.name(), id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
            })
            .optional()?;
        let Some((ns, value, identities, fragments, record)) = row else { continue };
        let mut identities = decode_identities(&identities)?;
        identities.sort();
        out.push(ProfileRow {
            id,
            primary: Identity::new(ns, value),
            identities,
            fragments: serde_json::from_str(&fragments)?,
            record: match record {
                Some(text) => serde_json::from_str(&text)?,
                None => Record::new(),
            },
        });
    }
    Ok(out)
}

/// Related entities are stored as `[entity, namespace, value, profile id or null]` arrays.
fn encode_refs(refs: &[EntityRef]) -> Result<String> {
    let rows: Vec<(&str, &str, &str, Option<i64>)> =
        refs.iter().map(|r| (r.entity.name(), r.key.namespace.as_str(), r.key.value.as_str(), r.profile_id)).collect();
    Ok(serde_json::to_string(&rows)?)
}

fn decode_refs(text: &str) -> Result<Vec<EntityRef>> {
    let rows: Vec<(String, String, String, Option<i64>)> = serde_json::from_str(text)?;
    rows.into_iter()
        .map(|(entity, ns, value, profile_id)| {
            let entity =
                entity.parse().map_err(|_| crate::Error::Corrupt(format!("change event names entity `{entity}`")))?;
            Ok(EntityRef { entity, key: Identity::new(ns, value), profile_id })
        })
        .collect()
}

impl Store {
    /// Up to `limit` change events with a sequence number greater than `seq`, in order.
    pub fn changes_since(&self, seq: i64, limit: usize) -> Result<Vec<ChangeEvent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, cause, batch_id, entity, profile_id, primary_ns, primary_value, kind, paths, previous,
                    related, at
             FROM change_events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![seq, limit])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let corrupt = |what: &str, value: &str| crate::Error::Corrupt(format!("change event {what} `{value}`"));
            let cause: String = row.get(1)?;
            let entity: String = row.get(3)?;
            let kind: String = row.get(7)?;
            out.push(ChangeEvent {
                seq: row.get(0)?,
                cause: Cause::from_stored(&cause, row.get(2)?).ok_or_else(|| corrupt("cause", &cause))?,
                entity: entity.parse().map_err(|_| corrupt("entity", &entity))?,
                profile_id: row.get(4)?,
                primary: Identity::new(row.get::<_, String>(5)?, row.get::<_, String>(6)?),
                kind: ChangeKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
                paths: serde_json::from_str(&row.get::<_, String>(8)?)?,
                previous: serde_json::from_str(&row.get::<_, String>(9)?)?,
                related: decode_refs(&row.get::<_, String>(10)?)?,
                at: row.get(11)?,
            });
        }
        Ok(out)
    }
}
