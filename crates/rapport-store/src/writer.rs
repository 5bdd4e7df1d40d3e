//! One batch as one transaction: its fragments, its rejected rows, and the profiles it changes.
//!
//! The engine opens a [`BatchWriter`], streams the batch's fragments into it, asks it which stored profiles
//! own the batch's identities, replaces those profiles with the re-stitched and re-merged ones, and commits.
//! Until [`BatchWriter::commit`] nothing of the batch is visible; dropping the writer rolls it all back, so
//! fragments and the profiles built from them never disagree.

use std::collections::HashMap;

use rapport_model::{EntityKind, Identity, Record, RowError};
use rusqlite::{params, OptionalExtension};

use crate::{now, BatchSummary, Result, Store};

/// A fragment to store, with its record already serialized (callers serialize off the writing thread).
#[derive(Debug, Clone)]
pub struct EncodedFragment {
    /// The record's primary identity (normalized).
    pub primary: Identity,
    /// Every identity of the record, the primary one included (normalized, deduplicated).
    pub identities: Vec<Identity>,
    /// Source modification time (RFC 3339), or empty when unknown.
    pub updated_at: String,
    /// The XDM record as JSON text.
    pub record: String,
    /// The relationship keys the record holds, by link column ([`crate::profiles::fragment_links`]).
    pub links: [Option<String>; 2],
}

impl EncodedFragment {
    /// Serializes a fragment of class `entity`, taking its relationship keys.
    pub fn encode(entity: EntityKind, fragment: &crate::NewFragment) -> Result<Self> {
        let head = (fragment.primary.clone(), fragment.identities.clone(), fragment.updated_at.clone());
        Self::with_head(entity, &fragment.record, head)
    }

    /// [`EncodedFragment::encode`] of a fragment no longer needed (its identities are moved, not copied).
    pub fn encode_owned(entity: EntityKind, fragment: crate::NewFragment) -> Result<Self> {
        Self::with_head(entity, &fragment.record, (fragment.primary, fragment.identities, fragment.updated_at))
    }

    /// The record serialized and its links taken, beside its primary identity, identities and update time.
    fn with_head(entity: EntityKind, record: &Record, head: (Identity, Vec<Identity>, String)) -> Result<Self> {
        let (primary, identities, updated_at) = head;
        Ok(Self {
            primary,
            identities,
            updated_at,
            record: serde_json::to_string(record)?,
            links: crate::profiles::fragment_links(entity, record),
        })
    }
}

/// What storing a fragment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentWrite {
    /// A new fragment with this id.
    Inserted(i64),
    /// The dataset's fragment with the same primary identity was replaced; it keeps its id.
    Replaced(i64),
    /// The stored fragment is newer than this row, which is ignored.
    Older,
}

/// A fragment's identities and merge keys, as stitching and merging read them.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// A stored profile as the write path sees it: which fragments it merged, under which identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileMembers {
    /// The profile id (stable until the profile is merged into another or split).
    pub id: i64,
    /// Its primary identity: that of its earliest fragment.
    pub primary: Identity,
    /// Its identities, sorted.
    pub identities: Vec<Identity>,
    /// Its fragments' ids, ascending.
    pub fragments: Vec<i64>,
}

/// One stored profile's members, by entity and profile id; `None` when there is no such profile. Shared by the
/// store's readers and the batch writer's transaction (a transaction is a connection).
pub(crate) fn read_profile_members(
    conn: &rusqlite::Connection,
    entity: EntityKind,
    id: i64,
) -> Result<Option<ProfileMembers>> {
    let row: Option<(String, String, String, String)> = conn
        .prepare_cached(
            "SELECT primary_ns, primary_value, identities, fragments FROM profiles WHERE entity = ?1 AND profile_id = ?2",
        )?
        .query_row(params![entity.name(), id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
        .optional()?;
    let Some((ns, value, identities, fragments)) = row else { return Ok(None) };
    let mut identities = decode_identities(&identities)?;
    identities.sort();
    Ok(Some(ProfileMembers {
        id,
        primary: Identity::new(ns, value),
        identities,
        fragments: serde_json::from_str(&fragments)?,
    }))
}

/// A profile to store.
#[derive(Debug, Clone)]
pub struct ProfileWrite<'a> {
    /// The profile id.
    pub id: i64,
    /// The primary identity: that of its earliest fragment.
    pub primary: &'a Identity,
    /// Every identity of its graph, sorted.
    pub identities: &'a [Identity],
    /// Its fragments' ids, ascending.
    pub fragments: &'a [i64],
    /// The merged record; `None` when the profile is exactly its one fragment, which is then read in place.
    pub record: Option<&'a Record>,
    /// Identities its fragments carry that its graph does not hold (a link cut or evicted), sorted.
    pub mentions: &'a [Identity],
    /// Its linking decisions, encoded by the engine (JSON); `None` when there is none.
    pub decisions: Option<&'a str>,
}

/// Identities are stored as a JSON array of `[namespace, value]` pairs.
pub(crate) fn encode_identities(identities: &[Identity]) -> Result<String> {
    let pairs: Vec<(&str, &str)> = identities.iter().map(|i| (i.namespace.as_str(), i.value.as_str())).collect();
    Ok(serde_json::to_string(&pairs)?)
}

/// Reads identities stored by [`encode_identities`].
pub(crate) fn decode_identities(text: &str) -> Result<Vec<Identity>> {
    let pairs: Vec<(String, String)> = serde_json::from_str(text)?;
    Ok(pairs.into_iter().map(|(ns, value)| Identity::new(ns, value)).collect())
}

/// The batch being written; see the module documentation.
pub struct BatchWriter<'a> {
    tx: rusqlite::Transaction<'a>,
    entity: EntityKind,
    dataset: String,
    dataset_id: i64,
    batch_id: i64,
    source: String,
    files: Vec<String>,
    pub(crate) ingested: u64,
    rejected: u64,
    /// Identity index rows to insert at commit, sorted first so that a bulk load appends to the index.
    identity_rows: Vec<(String, String, i64)>,
    checkpoint: Option<crate::FlowCheckpoint>,
    nudge: crate::Nudge,
    /// Why the transaction writes profiles: a batch, a deletion, or a rebuild (which records no change event).
    cause: crate::changes::Cause,
    /// The profile ids written, in order (not kept for a rebuild), for the change feed.
    written: Vec<i64>,
    /// Change events appended and not yet inserted (nothing in the transaction reads the feed before commit).
    pub(crate) events: Vec<crate::changes::EventRow>,
}

impl Store {
    /// Starts writing a new batch into `dataset` (created for `entity` on first use). Its batch row is part of
    /// the transaction: it appears, `success`, at commit (a group of streamed messages is written this way).
    pub fn batch_writer(
        &mut self,
        dataset: &str,
        entity: EntityKind,
        source: &str,
        files: Vec<String>,
    ) -> Result<BatchWriter<'_>> {
        let nudge = self.checkpoint_nudge();
        let tx = self.conn.transaction()?;
        let dataset_id = Store::ensure_dataset(&tx, dataset, entity)?;
        tx.execute(
            "INSERT INTO batches (dataset_id, source, files, state, rows_read, rows_ingested, rows_rejected, created_at)
             VALUES (?1, ?2, ?3, 'loading', 0, 0, 0, ?4)",
            params![dataset_id, source, serde_json::to_string(&files)?, now()],
        )?;
        let batch_id = tx.last_insert_rowid();
        BatchWriter::new(tx, entity, dataset.to_owned(), dataset_id, batch_id, source.to_owned(), files, nudge)
    }

    /// Starts writing the data of a batch already committed as `loading` (see [`Store::begin_batch`]); the
    /// commit flips it to `success` with its data.
    pub fn writer_for_loading(&mut self, batch_id: i64) -> Result<BatchWriter<'_>> {
        let nudge = self.checkpoint_nudge();
        let tx = self.conn.transaction()?;
        let (dataset_id, dataset, entity, source, files): (i64, String, String, String, String) = tx
            .query_row(
                "SELECT d.id, d.name, d.entity, b.source, b.files FROM batches b JOIN datasets d ON d.id = b.dataset_id
             WHERE b.id = ?1 AND b.state = 'loading'",
                [batch_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)),
            )
            .optional()?
            .ok_or(crate::Error::NotLoading(batch_id))?;
        let entity: EntityKind =
            entity.parse().map_err(|_| crate::Error::Corrupt(format!("dataset `{dataset}` has entity `{entity}`")))?;
        let files: Vec<String> = serde_json::from_str(&files)?;
        BatchWriter::new(tx, entity, dataset, dataset_id, batch_id, source, files, nudge)
    }

    /// Starts rebuilding every profile of `entity` from its stored fragments: the old profiles are deleted
    /// inside the returned writer's transaction, which records no batch.
    pub fn begin_rebuild(&mut self, entity: EntityKind) -> Result<BatchWriter<'_>> {
        let nudge = self.checkpoint_nudge();
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM profiles WHERE entity = ?1", [entity.name()])?;
        tx.execute("DELETE FROM profile_identities WHERE entity = ?1", [entity.name()])?;
        tx.execute("DELETE FROM profile_mentions WHERE entity = ?1", [entity.name()])?;
        tx.execute("DELETE FROM identity_decisions WHERE entity = ?1", [entity.name()])?;
        let mut writer = BatchWriter::new(tx, entity, String::new(), 0, 0, String::new(), Vec::new(), nudge)?;
        writer.cause = crate::changes::Cause::Rebuild;
        Ok(writer)
    }

    /// Starts a deletion in the profiles of `entity` (see `rapport_engine::unmerge`): one transaction that
    /// records no batch; `cause` is what the change feed says did it.
    pub fn deletion_writer(&mut self, entity: EntityKind, cause: crate::changes::Cause) -> Result<BatchWriter<'_>> {
        let nudge = self.checkpoint_nudge();
        let tx = self.conn.transaction()?;
        let mut writer = BatchWriter::new(tx, entity, String::new(), 0, 0, String::new(), Vec::new(), nudge)?;
        writer.cause = cause;
        Ok(writer)
    }

    /// Whether profiles must be rebuilt from the fragments (set when the profile layout changed).
    pub fn profiles_stale(&self) -> Result<bool> {
        let stale: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'profiles_stale'", [], |row| row.get(0))
            .optional()?;
        Ok(stale.is_some())
    }

    /// Records that profiles have been rebuilt.
    pub fn clear_profiles_stale(&mut self) -> Result<()> {
        self.conn.execute("DELETE FROM meta WHERE key = 'profiles_stale'", [])?;
        Ok(())
    }
}

impl<'a> BatchWriter<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        tx: rusqlite::Transaction<'a>,
        entity: EntityKind,
        dataset: String,
        dataset_id: i64,
        batch_id: i64,
        source: String,
        files: Vec<String>,
        nudge: crate::Nudge,
    ) -> Result<Self> {
        // The records of fragments as they were before this transaction replaced or deleted them, so that the
        // change feed can diff a profile that was read in place from its one fragment.
        // The profiles it replaces are copied aside the same way (see `changes`).
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS prior_records (fragment_id INTEGER PRIMARY KEY, record TEXT NOT NULL);
             CREATE TEMP TABLE IF NOT EXISTS prior_profiles (profile_id INTEGER PRIMARY KEY, primary_ns TEXT NOT NULL,
                 primary_value TEXT NOT NULL, identities TEXT NOT NULL, fragments TEXT NOT NULL, record TEXT);
             DELETE FROM temp.prior_records;
             DELETE FROM temp.prior_profiles;",
        )?;
        Ok(BatchWriter {
            tx,
            entity,
            dataset,
            dataset_id,
            batch_id,
            source,
            files,
            ingested: 0,
            rejected: 0,
            identity_rows: Vec::new(),
            checkpoint: None,
            nudge,
            cause: crate::changes::Cause::Batch(batch_id),
            written: Vec::new(),
            events: Vec::new(),
        })
    }

    /// Commits a dataflow checkpoint with the batch.
    pub fn set_checkpoint(&mut self, checkpoint: impl Into<crate::FlowCheckpoint>) {
        self.checkpoint = Some(checkpoint.into());
    }

    /// The batch id (0 for a rebuild).
    pub fn batch_id(&self) -> i64 {
        self.batch_id
    }

    /// The entity class written.
    pub fn entity(&self) -> EntityKind {
        self.entity
    }

    /// Stores a fragment: a new one, or in place of the dataset's fragment with the same primary identity
    /// unless that one is newer.
    pub fn put_fragment(&mut self, fragment: &EncodedFragment) -> Result<FragmentWrite> {
        let identities = encode_identities(&fragment.identities)?;
        // Most rows of a load are new: try the insert first and look at the stored fragment only on conflict.
        let inserted = self
            .tx
            .prepare_cached(
                "INSERT INTO fragments
                    (dataset_id, entity, primary_ns, primary_value, batch_id, updated_at, record, identities, link, link2)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (dataset_id, primary_ns, primary_value) DO NOTHING",
            )?
            .execute(params![
                self.dataset_id,
                self.entity.name(),
                fragment.primary.namespace.as_str(),
                fragment.primary.value,
                self.batch_id,
                fragment.updated_at,
                fragment.record,
                identities,
                fragment.links[0],
                fragment.links[1]
            ])?;
        let write = if inserted == 1 {
            FragmentWrite::Inserted(self.tx.last_insert_rowid())
        } else {
            let (id, stored): (i64, String) = self
                .tx
                .prepare_cached(
                    "SELECT id, updated_at FROM fragments
                     WHERE dataset_id = ?1 AND primary_ns = ?2 AND primary_value = ?3",
                )?
                .query_row(
                    params![self.dataset_id, fragment.primary.namespace.as_str(), fragment.primary.value],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?;
            if stored.as_str() > fragment.updated_at.as_str() {
                // Accepted but superseded: it counts as ingested, as the source did deliver it.
                self.ingested += 1;
                return Ok(FragmentWrite::Older);
            }
            self.keep_prior_record(id)?;
            self.tx
                .prepare_cached(
                    "UPDATE fragments SET batch_id = ?2, updated_at = ?3, record = ?4, identities = ?5, link = ?6,
                        link2 = ?7
                     WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    self.batch_id,
                    fragment.updated_at,
                    fragment.record,
                    identities,
                    fragment.links[0],
                    fragment.links[1]
                ])?;
            FragmentWrite::Replaced(id)
        };
        self.ingested += 1;
        Ok(write)
    }

    /// Keeps a rejected row with the batch.
    pub fn reject(&mut self, row: &RowError) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO rejected_rows (batch_id, file, line, byte_offset, field, code, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![self.batch_id, row.file, row.line, row.offset, row.field, row.code.name(), row.message])?;
        self.rejected += 1;
        Ok(())
    }

    /// The number of identities indexed for this entity class, estimated from the highest profile id (exact
    /// enough to choose between point lookups and one scan).
    fn indexed_estimate(&self) -> Result<u64> {
        let max: Option<i64> = self.tx.query_row(
            "SELECT MAX(profile_id) FROM profiles WHERE entity = ?1",
            [self.entity.name()],
            |row| row.get(0),
        )?;
        Ok(max.map_or(0, |m| u64::try_from(m + 1).unwrap_or(0)).saturating_mul(3))
    }

    /// The stored profile owning each of `identities` that has one.
    pub fn owners<'i>(
        &self,
        identities: impl ExactSizeIterator<Item = &'i Identity>,
    ) -> Result<HashMap<Identity, i64>> {
        let wanted = identities.len() as u64;
        let indexed = self.indexed_estimate()?;
        let mut out = HashMap::new();
        if indexed == 0 {
            return Ok(out);
        }
        // A point lookup costs about as much as scanning seven index rows: scan when that is cheaper.
        if indexed < wanted.saturating_mul(7) {
            let wanted: std::collections::HashSet<&Identity> = identities.collect();
            let mut stmt =
                self.tx.prepare_cached("SELECT ns, value, profile_id FROM profile_identities WHERE entity = ?1")?;
            let mut rows = stmt.query([self.entity.name()])?;
            while let Some(row) = rows.next()? {
                let identity = Identity::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?);
                if wanted.contains(&identity) {
                    out.insert(identity, row.get(2)?);
                }
            }
        } else {
            let mut stmt = self.tx.prepare_cached(
                "SELECT profile_id FROM profile_identities WHERE entity = ?1 AND ns = ?2 AND value = ?3",
            )?;
            for identity in identities {
                if out.contains_key(identity) {
                    continue;
                }
                let owner: Option<i64> = stmt
                    .query_row(params![self.entity.name(), identity.namespace.as_str(), identity.value], |row| {
                        row.get(0)
                    })
                    .optional()?;
                if let Some(owner) = owner {
                    out.insert(identity.clone(), owner);
                }
            }
        }
        Ok(out)
    }

    /// The identities and fragments of stored profiles.
    pub fn profile_members(&self, ids: &[i64]) -> Result<Vec<ProfileMembers>> {
        ids.iter()
            .map(|&id| {
                read_profile_members(&self.tx, self.entity, id)?
                    .ok_or(crate::Error::Sqlite(rusqlite::Error::QueryReturnedNoRows))
            })
            .collect()
    }

    /// The identities the given profiles' fragments carry outside their graphs.
    pub fn profile_mentions(&self, ids: &[i64]) -> Result<Vec<Identity>> {
        let mut stmt =
            self.tx.prepare_cached("SELECT ns, value FROM profile_mentions WHERE entity = ?1 AND profile_id = ?2")?;
        let mut out = Vec::new();
        for &id in ids {
            let rows = stmt.query_map(params![self.entity.name(), id], |row| {
                Ok(Identity::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
            for row in rows {
                out.push(row?);
            }
        }
        Ok(out)
    }

    /// The heads of the given fragments (those that exist), in id order.
    pub fn fragment_heads(&self, ids: &[i64]) -> Result<Vec<FragmentHead>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT d.name, f.primary_ns, f.primary_value, f.identities, f.updated_at
             FROM fragments f JOIN datasets d ON d.id = f.dataset_id WHERE f.id = ?1",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let row: Option<(String, String, String, String, String)> = stmt
                .query_row([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))
                .optional()?;
            if let Some((dataset, ns, value, identities, updated_at)) = row {
                let mut identities = decode_identities(&identities)?;
                identities.sort();
                out.push(FragmentHead { id, dataset, primary: Identity::new(ns, value), identities, updated_at });
            }
        }
        out.sort_by_key(|h| h.id);
        Ok(out)
    }

    /// Every fragment head of the entity class, in id order (for a rebuild).
    pub fn all_fragment_heads(&self) -> Result<Vec<FragmentHead>> {
        heads_of_entity(&self.tx, self.entity)
    }

    /// The records of the given fragments, by id.
    pub fn fragment_records(&self, ids: &[i64]) -> Result<HashMap<i64, Record>> {
        let mut out = HashMap::with_capacity(ids.len());
        let mut stmt = self.tx.prepare_cached("SELECT record FROM fragments WHERE id = ?1")?;
        for &id in ids {
            let text: String = stmt.query_row([id], |row| row.get(0))?;
            out.insert(id, serde_json::from_str(&text)?);
        }
        Ok(out)
    }

    /// Deletes stored profiles with their identity index rows, mentions and linking decisions.
    pub fn delete_profiles(&mut self, profiles: &[ProfileMembers]) -> Result<()> {
        let mut profile = self.tx.prepare_cached("DELETE FROM profiles WHERE entity = ?1 AND profile_id = ?2")?;
        let mut identity =
            self.tx.prepare_cached("DELETE FROM profile_identities WHERE entity = ?1 AND ns = ?2 AND value = ?3")?;
        let mut mentions =
            self.tx.prepare_cached("DELETE FROM profile_mentions WHERE entity = ?1 AND profile_id = ?2")?;
        let mut decisions =
            self.tx.prepare_cached("DELETE FROM identity_decisions WHERE entity = ?1 AND profile_id = ?2")?;
        for p in profiles {
            profile.execute(params![self.entity.name(), p.id])?;
            mentions.execute(params![self.entity.name(), p.id])?;
            decisions.execute(params![self.entity.name(), p.id])?;
            for i in &p.identities {
                identity.execute(params![self.entity.name(), i.namespace.as_str(), i.value])?;
            }
        }
        Ok(())
    }

    /// The next unused profile id of the class.
    pub fn next_profile_id(&self) -> Result<i64> {
        let max: Option<i64> = self.tx.query_row(
            "SELECT MAX(profile_id) FROM profiles WHERE entity = ?1",
            [self.entity.name()],
            |row| row.get(0),
        )?;
        Ok(max.map_or(0, |m| m + 1))
    }

    /// Stores a profile; its identity index rows are written at commit.
    pub fn put_profile(&mut self, profile: &ProfileWrite<'_>) -> Result<()> {
        let record = profile.record.map(serde_json::to_string).transpose()?;
        let single = match (profile.record, profile.fragments) {
            (None, [only]) => Some(*only),
            _ => None,
        };
        self.tx
            .prepare_cached(
                "INSERT INTO profiles (entity, profile_id, primary_ns, primary_value, identities, fragments, fragment_id, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                self.entity.name(),
                profile.id,
                profile.primary.namespace.as_str(),
                profile.primary.value,
                encode_identities(profile.identities)?,
                serde_json::to_string(profile.fragments)?,
                single,
                record
            ])?;
        for i in profile.identities {
            self.identity_rows.push((i.namespace.as_str().to_owned(), i.value.clone(), profile.id));
        }
        if !profile.mentions.is_empty() {
            let mut stmt = self.tx.prepare_cached(
                "INSERT OR IGNORE INTO profile_mentions (entity, ns, value, profile_id) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for i in profile.mentions {
                stmt.execute(params![self.entity.name(), i.namespace.as_str(), i.value, profile.id])?;
            }
        }
        if let Some(decisions) = profile.decisions {
            let batch = (self.batch_id != 0).then_some(self.batch_id);
            self.tx
                .prepare_cached(
                    "INSERT INTO identity_decisions (entity, profile_id, batch_id, decisions) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![self.entity.name(), profile.id, batch, decisions])?;
        }
        if self.cause != crate::changes::Cause::Rebuild {
            self.written.push(profile.id);
        }
        Ok(())
    }

    /// True when the store holds some fragment of `entity`, as this transaction sees it.
    pub fn has_fragments(&self, entity: EntityKind) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM fragments WHERE entity = ?1 LIMIT 1")?
            .query_row([entity.name()], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// True when some profile of the class has mentions (identities outside its graph).
    pub fn has_mentions(&self) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM profile_mentions WHERE entity = ?1 LIMIT 1")?
            .query_row([self.entity.name()], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The profiles whose fragments carry any of `identities` outside their graph.
    pub fn mention_holders<'i>(
        &self,
        identities: impl IntoIterator<Item = &'i Identity>,
    ) -> Result<std::collections::BTreeSet<i64>> {
        let mut out = std::collections::BTreeSet::new();
        for identity in identities {
            out.extend(crate::identity::mention_holders(&self.tx, self.entity, identity)?);
        }
        Ok(out)
    }

    /// The registered namespaces and the linking-rule overrides, as the stitching of this batch reads them.
    pub fn linking_rules(&self) -> Result<(Vec<rapport_schema::Namespace>, Vec<crate::IdentityRuleRow>)> {
        let mut stmt = self.tx.prepare_cached("SELECT definition FROM namespaces ORDER BY code")?;
        let namespaces = stmt
            .query_map([], |row| row.get::<_, String>(0))?
            .map(|text| Ok(serde_json::from_str(&text?)?))
            .collect::<Result<Vec<_>>>()?;
        Ok((namespaces, crate::identity::rule_overrides(&self.tx)?))
    }

    /// Keeps the record of fragment `id` as it was before this transaction (the first call for an id wins).
    pub(crate) fn keep_prior_record(&mut self, id: i64) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO temp.prior_records (fragment_id, record) SELECT id, record FROM fragments WHERE id = ?1",
            )?
            .execute([id])?;
        Ok(())
    }

    /// The transaction, for the store's other modules.
    pub(crate) fn tx(&self) -> &rusqlite::Transaction<'a> {
        &self.tx
    }

    /// What the change feed says caused this transaction.
    pub fn cause(&self) -> crate::changes::Cause {
        self.cause
    }

    /// The ids of the profiles written since the last call, in order (none are kept for a rebuild).
    pub fn take_written_profiles(&mut self) -> Vec<i64> {
        std::mem::take(&mut self.written)
    }

    /// Writes the identity index, marks the batch `success` with its counts, and commits everything.
    pub fn commit(mut self, rows_read: u64) -> Result<Option<BatchSummary>> {
        let started = std::time::Instant::now();
        self.flush_changes()?;
        self.identity_rows.sort_unstable();
        write_identity_index(&self.tx, self.entity, &self.identity_rows)?;
        let summary = if self.batch_id == 0 {
            None
        } else {
            crate::lifecycle::mark_success(&self.tx, self.batch_id, rows_read, self.ingested, self.rejected)?;
            if let Some(checkpoint) = &self.checkpoint {
                crate::flows::write_checkpoint(&self.tx, checkpoint, self.batch_id)?;
            }
            let created_at: String =
                self.tx.query_row("SELECT created_at FROM batches WHERE id = ?1", [self.batch_id], |row| row.get(0))?;
            Some(BatchSummary {
                id: self.batch_id,
                dataset: self.dataset.clone(),
                source: self.source.clone(),
                files: self.files.clone(),
                state: "success".to_owned(),
                rows_read,
                rows_ingested: self.ingested,
                rows_rejected: self.rejected,
                created_at,
            })
        };
        let indexed = started.elapsed();
        self.tx.commit()?;
        tracing::debug!(
            identity_rows = self.identity_rows.len(),
            identity_index_ms = indexed.as_secs_f64() * 1e3,
            commit_ms = (started.elapsed() - indexed).as_secs_f64() * 1e3,
            "batch transaction committed"
        );
        self.nudge.send();
        Ok(summary)
    }
}

/// Identity index rows written by one statement: a statement's own work (starting, binding, stepping to the
/// insert) then counts once for many small rows.
const INDEX_ROWS_PER_STATEMENT: usize = 128;

/// Writes identity index rows (namespace, value, profile id) of class `entity`, in the order given (a later row
/// for the same identity replaces an earlier one).
fn write_identity_index(
    tx: &rusqlite::Transaction<'_>,
    entity: EntityKind,
    rows: &[(String, String, i64)],
) -> Result<()> {
    let head = "INSERT OR REPLACE INTO profile_identities (entity, ns, value, profile_id)";
    insert_rows(tx, rows, INDEX_ROWS_PER_STATEMENT, (head, 3), |stmt, chunk| {
        stmt.raw_bind_parameter(1, entity.name())?;
        for (row, (ns, value, id)) in chunk.iter().enumerate() {
            let first = 2 + 3 * row;
            stmt.raw_bind_parameter(first, ns)?;
            stmt.raw_bind_parameter(first + 1, value)?;
            stmt.raw_bind_parameter(first + 2, id)?;
        }
        Ok(())
    })
}

/// Below this many rows, [`insert_rows`] inserts one row per statement. A statement that writes several rows
/// keeps a statement journal of every page it changes, so that it can be undone alone: a small group (a streamed
/// one) touches a page of the index per row and pays for a copy of each (about 4% of a streaming run's samples
/// with 128 rows per statement); a bulk load appends its sorted rows to few pages and gains.
pub(crate) const MULTI_ROW_MIN: usize = 8192;

/// Inserts `rows` with `head` (`INSERT INTO t (shared, own...)`): parameter 1 is shared by every row and each
/// row binds `statement.1` parameters of its own after it (row `r` from `2 + r * statement.1`), which `bind`
/// binds for a statement's rows. With at least [`MULTI_ROW_MIN`] rows, `per_statement` rows go to a statement
/// as long as that many are left; the rest go one to a statement. Only those two statements are compiled.
pub(crate) fn insert_rows<T>(
    tx: &rusqlite::Transaction<'_>,
    rows: &[T],
    per_statement: usize,
    statement: (&str, usize),
    mut bind: impl FnMut(&mut rusqlite::CachedStatement<'_>, &[T]) -> Result<()>,
) -> Result<()> {
    let (head, own) = statement;
    let full = if rows.len() < MULTI_ROW_MIN { 0 } else { rows.len() - rows.len() % per_statement };
    let (chunks, rest) = rows.split_at(full);
    let mut run = |sql: &str, chunk: &[T]| -> Result<()> {
        let mut stmt = tx.prepare_cached(sql)?;
        bind(&mut stmt, chunk)?;
        stmt.raw_execute()?;
        Ok(())
    };
    if !chunks.is_empty() {
        let sql = values(head, own, per_statement);
        for chunk in chunks.chunks(per_statement) {
            run(&sql, chunk)?;
        }
    }
    if !rest.is_empty() {
        let sql = values(head, own, 1);
        for row in rest.chunks(1) {
            run(&sql, row)?;
        }
    }
    Ok(())
}

/// `head VALUES (?1, ?2, ...), (?1, ...)`: `rows` rows of the shared parameter 1 and `own` numbered
/// parameters each.
fn values(head: &str, own: usize, rows: usize) -> String {
    let mut sql = format!("{head} VALUES ");
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push_str("(?1");
        let first = 2 + own * row;
        for n in first..first + own {
            sql.push_str(&format!(", ?{n}"));
        }
        sql.push(')');
    }
    sql
}

/// Every fragment head of an entity class, in id order.
pub(crate) fn heads_of_entity(conn: &rusqlite::Connection, entity: EntityKind) -> Result<Vec<FragmentHead>> {
    let mut stmt = conn.prepare_cached(
        "SELECT f.id, d.name, f.primary_ns, f.primary_value, f.identities, f.updated_at
         FROM fragments f JOIN datasets d ON d.id = f.dataset_id WHERE f.entity = ?1 ORDER BY f.id",
    )?;
    let mut rows = stmt.query([entity.name()])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut identities = decode_identities(row.get_ref(4)?.as_str().map_err(rusqlite::Error::from)?)?;
        identities.sort();
        out.push(FragmentHead {
            id: row.get(0)?,
            dataset: row.get(1)?,
            primary: Identity::new(row.get::<_, String>(2)?, row.get::<_, String>(3)?),
            identities,
            updated_at: row.get(5)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::store;

    fn fragment(key: &str, email: &str) -> EncodedFragment {
        EncodedFragment {
            primary: Identity::new("b2b_person", key),
            identities: vec![Identity::new("b2b_person", key), Identity::new("Email", email)],
            updated_at: String::new(),
            record: format!(r#"{{"workEmail":{{"address":"{email}"}}}}"#),
            links: [None, None],
        }
    }

    #[test]
    fn the_log_sync_syncs_the_log_of_commits_that_did_not_and_a_removed_log_is_nothing_to_sync() {
        let (dir, mut store) = store();
        store.set_durability(crate::Durability::Normal).unwrap();
        profiles(&mut store, 3);
        let log = store.log_sync();
        assert_eq!(log.wal, dir.path().join("rapport.db-wal"));
        assert!(log.wal.exists());
        log.sync().unwrap();
        // Closing the last connection copies the log into the database and removes it.
        drop(store);
        assert!(!log.wal.exists());
        log.sync().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.fragments(EntityKind::Person).unwrap().len(), 3);
    }

    /// Writes `n` one-fragment profiles p0..pn with emails e0..en.
    fn profiles(store: &mut Store, n: usize) {
        let mut writer =
            store.batch_writer("salesforce.contact", EntityKind::Person, "test", vec!["f.csv".into()]).unwrap();
        for i in 0..n {
            let f = fragment(&format!("p{i}"), &format!("e{i}"));
            let FragmentWrite::Inserted(id) = writer.put_fragment(&f).unwrap() else { panic!("new fragment") };
            writer
                .put_profile(&ProfileWrite {
                    id: i as i64,
                    primary: &f.primary,
                    identities: &f.identities,
                    fragments: &[id],
                    record: None,
                    mentions: &[],
                    decisions: None,
                })
                .unwrap();
        }
        writer.commit(n as u64).unwrap();
    }

    #[test]
    fn owners_are_found_by_scan_and_by_point_lookups_alike() {
        let (_dir, mut store) = store();
        profiles(&mut store, 40);
        let writer = store.batch_writer("salesforce.contact", EntityKind::Person, "test", vec![]).unwrap();
        let few = [Identity::new("Email", "e7"), Identity::new("Email", "nobody"), Identity::new("b2b_person", "p39")];
        // 3 wanted × 7 < 120 indexed: point lookups.
        let by_lookup = writer.owners(few.iter()).unwrap();
        assert_eq!(by_lookup, HashMap::from([(few[0].clone(), 7), (few[2].clone(), 39)]));
        // 30 wanted × 7 ≥ 120 indexed: one scan.
        let many: Vec<Identity> = (0..30).map(|i| Identity::new("Email", format!("x{i}"))).chain(few.clone()).collect();
        let by_scan = writer.owners(many.iter()).unwrap();
        assert_eq!(by_scan, by_lookup);
    }

    #[test]
    fn a_dropped_writer_leaves_no_batch_fragment_or_profile() {
        let (_dir, mut store) = store();
        {
            let mut writer =
                store.batch_writer("salesforce.contact", EntityKind::Person, "test", vec!["f.csv".into()]).unwrap();
            writer.put_fragment(&fragment("p1", "e1")).unwrap();
            writer
                .put_profile(&ProfileWrite {
                    id: 0,
                    primary: &Identity::new("b2b_person", "p1"),
                    identities: &[Identity::new("b2b_person", "p1")],
                    fragments: &[1],
                    record: None,
                    mentions: &[],
                    decisions: None,
                })
                .unwrap();
        }
        assert!(store.batches().unwrap().is_empty());
        assert!(store.fragment_heads(EntityKind::Person).unwrap().is_empty());
        assert!(store.profile_by_identity(EntityKind::Person, &Identity::new("b2b_person", "p1")).unwrap().is_none());
    }

    #[test]
    fn a_single_fragment_profile_reads_its_fragment_in_place() {
        let (_dir, mut store) = store();
        profiles(&mut store, 1);
        let profile = store.profile_by_identity(EntityKind::Person, &Identity::new("Email", "e0")).unwrap().unwrap();
        assert_eq!(profile.record["workEmail"]["address"], "e0");
        assert_eq!(profile.fragments, vec![1]);
        assert_eq!(profile.identities, vec![Identity::new("Email", "e0"), Identity::new("b2b_person", "p0")]);
    }

    #[test]
    fn an_identity_index_of_several_full_statements_and_a_remainder_holds_every_row() {
        // 4,200 profiles of two identities each: 8,400 index rows, 65 statements of 128 rows and 80 single rows.
        const { assert!(8_400 >= MULTI_ROW_MIN && INDEX_ROWS_PER_STATEMENT == 128) };
        let (_dir, mut store) = store();
        profiles(&mut store, 4_200);
        let rows: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM profile_identities WHERE entity = 'person'", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 8_400);
        for i in [0, 63, 64, 127, 128, 4_159, 4_160, 4_199] {
            for identity in [Identity::new("b2b_person", format!("p{i}")), Identity::new("Email", format!("e{i}"))] {
                let profile = store.profile_by_identity(EntityKind::Person, &identity).unwrap().unwrap();
                assert_eq!(profile.id, i as i64, "{identity:?}");
            }
        }
    }

    fn event(profile_id: i64) -> crate::ChangeEvent {
        let related = (profile_id % 3 == 0)
            .then(|| crate::EntityRef {
                entity: EntityKind::Account,
                key: Identity::new("b2b_account", format!("a{profile_id}")),
                profile_id: Some(profile_id + 1000),
            })
            .into_iter()
            .collect();
        crate::ChangeEvent {
            seq: 0,
            cause: crate::Cause::Batch(0),
            entity: EntityKind::Person,
            profile_id,
            primary: Identity::new("b2b_person", format!("p{profile_id}")),
            kind: if profile_id % 2 == 0 { crate::ChangeKind::Created } else { crate::ChangeKind::Updated },
            paths: if profile_id % 2 == 0 { vec![] } else { vec!["workEmail.address".to_owned()] },
            previous: vec![],
            related,
            at: String::new(),
        }
    }

    #[test]
    fn change_events_appended_in_many_statements_commit_in_order_and_vanish_with_a_rollback() {
        let (_dir, mut store) = store();
        let mut writer = store.batch_writer("salesforce.contact", EntityKind::Person, "test", vec![]).unwrap();
        let batch = writer.batch_id();
        // 8,492 events: 8,192 inserted as they come (64 statements of 128), 300 one by one at commit.
        let n = MULTI_ROW_MIN as i64 + 300;
        for id in 0..n {
            writer.append_change(&event(id)).unwrap();
        }
        writer.commit(0).unwrap();
        let stored = store.changes_since(0, 10_000).unwrap();
        assert_eq!(stored.len(), n as usize);
        for (i, got) in stored.iter().enumerate() {
            let mut want = event(i as i64);
            want.cause = crate::Cause::Batch(batch);
            want.seq = i as i64 + 1;
            want.at = got.at.clone();
            assert_eq!(got, &want);
            assert!(!got.at.is_empty());
        }
        // Appended (some inserted already), then dropped without a commit: nothing stays.
        let mut writer = store.batch_writer("salesforce.contact", EntityKind::Person, "test", vec![]).unwrap();
        for id in 0..n {
            writer.append_change(&event(id)).unwrap();
        }
        drop(writer);
        assert_eq!(store.changes_since(n, 10_000).unwrap(), vec![]);
    }
}
