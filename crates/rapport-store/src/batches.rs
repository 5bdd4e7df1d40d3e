//! Datasets, batches, fragments and rejected rows.

use rapport_model::{EntityKind, Identity, Record, RowError};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::{Error, Result, Store};

/// One record to store as a fragment of its entity.
#[derive(Debug, Clone)]
pub struct NewFragment {
    /// The record's primary identity (normalized).
    pub primary: Identity,
    /// Every identity the record carries, the primary one included (normalized, deduplicated).
    pub identities: Vec<Identity>,
    /// When the source last modified the record (RFC 3339), or empty when unknown.
    pub updated_at: String,
    /// The XDM record.
    pub record: Record,
}

/// A batch to commit: all of it or nothing.
#[derive(Debug, Clone)]
pub struct NewBatch {
    /// The dataset name; created on first use.
    pub dataset: String,
    /// The entity class of the dataset.
    pub entity: EntityKind,
    /// What produced the batch, e.g. `salesforce:Contact`.
    pub source: String,
    /// The input files as the user named them.
    pub files: Vec<String>,
    /// Data rows read from the input.
    pub rows_read: u64,
    /// The accepted records.
    pub fragments: Vec<NewFragment>,
    /// The rejected rows.
    pub rejected: Vec<RowError>,
    /// The `loading` batch this commit ends (from [`Store::begin_batch`]); `None` creates the batch row here.
    pub batch_id: Option<i64>,
    /// A dataflow checkpoint to commit in the same transaction as the data.
    pub checkpoint: Option<crate::FlowCheckpoint>,
}

/// A committed batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchSummary {
    /// The batch id.
    pub id: i64,
    /// The dataset name.
    pub dataset: String,
    /// What produced it.
    pub source: String,
    /// The input files.
    pub files: Vec<String>,
    /// `success`, `loading` or `failed` (see [`crate::BatchState`]; [`Store::batch_list`] reports it typed).
    pub state: String,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows stored as fragments.
    pub rows_ingested: u64,
    /// Rows rejected.
    pub rows_rejected: u64,
    /// Commit time.
    pub created_at: String,
}

/// A stored fragment, as the identity and profile layers read it.
#[derive(Debug, Clone)]
pub struct StoredFragment {
    /// The fragment's row id (increases with ingestion order).
    pub id: i64,
    /// The dataset it belongs to.
    pub dataset: String,
    /// The primary identity.
    pub primary: Identity,
    /// Every identity of the record.
    pub identities: Vec<Identity>,
    /// The batch that last wrote it.
    pub batch_id: i64,
    /// Source modification time (RFC 3339) or empty.
    pub updated_at: String,
    /// The record.
    pub record: Record,
}

impl Store {
    /// The id of the dataset, creating it for `entity` (with that entity's registered schema) if needed. A
    /// dataset bound to another class is refused: its records would be read as that class.
    pub(crate) fn ensure_dataset(tx: &rusqlite::Transaction<'_>, name: &str, entity: EntityKind) -> Result<i64> {
        let found: Option<(i64, String)> = tx
            .query_row("SELECT id, entity FROM datasets WHERE name = ?1", [name], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        if let Some((id, holds)) = found {
            if holds != entity.name() {
                return Err(Error::DatasetEntity { dataset: name.to_owned(), holds, given: entity.name().to_owned() });
            }
            return Ok(id);
        }
        let schema: String = tx
            .query_row("SELECT name FROM schemas WHERE entity = ?1", [entity.name()], |row| row.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound { kind: "schema for entity", name: entity.name().to_owned() })?;
        tx.execute(
            "INSERT INTO datasets (name, entity, schema_name) VALUES (?1, ?2, ?3)",
            params![name, entity.name(), schema],
        )?;
        Ok(tx.last_insert_rowid())
    }

    /// Commits a batch's fragments and rejected rows in one transaction (a fragment with the same primary
    /// identity in the same dataset is replaced unless the stored one is newer), without touching profiles.
    /// Test-only: the engine writes batches through [`Store::batch_writer`] so that their profiles change in
    /// the same transaction; this store-level shortcut would leave them behind.
    #[cfg(test)]
    pub(crate) fn write_batch(&mut self, batch: &NewBatch) -> Result<BatchSummary> {
        let mut writer = match batch.batch_id {
            Some(id) => self.writer_for_loading(id)?,
            None => self.batch_writer(&batch.dataset, batch.entity, &batch.source, batch.files.clone())?,
        };
        if let Some(checkpoint) = &batch.checkpoint {
            writer.set_checkpoint(checkpoint.clone());
        }
        for fragment in &batch.fragments {
            writer.put_fragment(&crate::EncodedFragment::encode(batch.entity, fragment)?)?;
        }
        for row in &batch.rejected {
            writer.reject(row)?;
        }
        let summary = writer.commit(batch.rows_read)?;
        summary.ok_or_else(|| Error::NotFound { kind: "batch", name: "(rebuild)".to_owned() })
    }

    /// Every batch, whatever its state, oldest first.
    pub fn batches(&self) -> Result<Vec<BatchSummary>> {
        let mut stmt = self.conn.prepare(
            "SELECT b.id, d.name, b.source, b.files, b.state, b.rows_read, b.rows_ingested, b.rows_rejected, b.created_at
             FROM batches b JOIN datasets d ON d.id = b.dataset_id ORDER BY b.id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, u64>(5)?,
                row.get::<_, u64>(6)?,
                row.get::<_, u64>(7)?,
                row.get::<_, String>(8)?,
            ))
        })?;
        rows.map(|row| {
            let (id, dataset, source, files, state, rows_read, rows_ingested, rows_rejected, created_at) = row?;
            Ok(BatchSummary {
                id,
                dataset,
                source,
                files: serde_json::from_str(&files)?,
                state,
                rows_read,
                rows_ingested,
                rows_rejected,
                created_at,
            })
        })
        .collect()
    }

    /// The rejected rows of a batch, in file and line order.
    pub fn rejected_rows(&self, batch_id: i64) -> Result<Vec<RowError>> {
        let mut stmt = self.conn.prepare(
            "SELECT file, line, byte_offset, field, code, message FROM rejected_rows
             WHERE batch_id = ?1 ORDER BY file, line",
        )?;
        let rows = stmt.query_map([batch_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, u64>(1)?,
                row.get::<_, Option<u64>>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
            ))
        })?;
        rows.map(|row| {
            let (file, line, offset, field, code, message) = row?;
            Ok(RowError {
                file,
                line,
                offset,
                field,
                code: serde_json::from_value(serde_json::Value::String(code))?,
                message,
            })
        })
        .collect()
    }

    /// Every fragment of an entity class, in ingestion order, with its identities and record.
    pub fn fragments(&self, entity: EntityKind) -> Result<Vec<StoredFragment>> {
        let heads = self.fragment_heads(entity)?;
        let mut stmt = self.conn.prepare("SELECT id, batch_id, record FROM fragments WHERE entity = ?1 ORDER BY id")?;
        let rows = stmt.query_map([entity.name()], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, String>(2)?))
        })?;
        let mut records: std::collections::HashMap<i64, (i64, String)> = std::collections::HashMap::new();
        for row in rows {
            let (id, batch_id, record) = row?;
            records.insert(id, (batch_id, record));
        }
        // A fragment written between the two reads is left out rather than paired with the wrong record.
        heads
            .into_iter()
            .filter_map(|head| records.remove(&head.id).map(|r| (head, r)))
            .map(|(head, (batch_id, record))| {
                Ok(StoredFragment {
                    id: head.id,
                    dataset: head.dataset,
                    primary: head.primary,
                    identities: head.identities,
                    batch_id,
                    updated_at: head.updated_at,
                    record: serde_json::from_str(&record)?,
                })
            })
            .collect()
    }

    /// The number of fragments per entity class.
    pub fn fragment_counts(&self) -> Result<Vec<(EntityKind, u64)>> {
        let mut stmt = self.conn.prepare("SELECT entity, COUNT(*) FROM fragments GROUP BY entity ORDER BY entity")?;
        let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (entity, count) = row?;
            if let Ok(kind) = entity.parse() {
                out.push((kind, count));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::store;
    use rapport_model::RowErrorCode;
    use serde_json::json;

    fn fragment(key: &str, email: &str, updated: &str, title: &str) -> NewFragment {
        let record = json!({"b2b": {"personKey": {"sourceKey": key}}, "workEmail": {"address": email},
            "extendedWorkDetails": {"jobTitle": title}});
        NewFragment {
            primary: Identity::new("b2b_person", key),
            identities: vec![Identity::new("b2b_person", key), Identity::new("Email", email)],
            updated_at: updated.to_owned(),
            record: record.as_object().unwrap().clone(),
        }
    }

    fn batch(fragments: Vec<NewFragment>, rejected: Vec<RowError>) -> NewBatch {
        NewBatch {
            dataset: "salesforce.contact".into(),
            entity: EntityKind::Person,
            source: "salesforce:Contact".into(),
            files: vec!["Contact.csv".into()],
            rows_read: (fragments.len() + rejected.len()) as u64,
            fragments,
            rejected,
            batch_id: None,
            checkpoint: None,
        }
    }

    #[test]
    fn a_batch_is_stored_whole_and_reingesting_does_not_duplicate() {
        let (_dir, mut store) = store();
        let bad = RowError {
            file: "Contact.csv".into(),
            line: 3,
            offset: None,
            field: Some("Id".into()),
            code: RowErrorCode::MissingId,
            message: "the id is empty".into(),
        };
        let rows = vec![fragment("a@o.Salesforce", "a@x.com", "2024-01-01T00:00:00.000Z", "VP")];
        let first = store.write_batch(&batch(rows.clone(), vec![bad.clone()])).unwrap();
        assert_eq!((first.rows_read, first.rows_ingested, first.rows_rejected), (2, 1, 1));
        store.write_batch(&batch(rows, vec![])).unwrap();
        let fragments = store.fragments(EntityKind::Person).unwrap();
        assert_eq!(fragments.len(), 1);
        assert_eq!(fragments[0].identities.len(), 2);
        assert_eq!(store.rejected_rows(first.id).unwrap(), vec![bad]);
        assert_eq!(store.batches().unwrap().len(), 2);
    }

    #[test]
    fn an_older_row_does_not_overwrite_a_newer_fragment() {
        let (_dir, mut store) = store();
        store
            .write_batch(&batch(vec![fragment("a@o.Salesforce", "a@x.com", "2024-05-01T00:00:00.000Z", "new")], vec![]))
            .unwrap();
        store
            .write_batch(&batch(vec![fragment("a@o.Salesforce", "a@x.com", "2024-01-01T00:00:00.000Z", "old")], vec![]))
            .unwrap();
        let fragments = store.fragments(EntityKind::Person).unwrap();
        assert_eq!(fragments[0].record["extendedWorkDetails"]["jobTitle"], "new");
    }

    #[test]
    fn a_dataset_takes_only_records_of_the_class_it_was_created_for() {
        let (_dir, mut store) = store();
        store.write_batch(&batch(vec![fragment("a@o.Salesforce", "a@x.com", "", "x")], vec![])).unwrap();
        let mut accounts = batch(vec![], vec![]);
        accounts.entity = EntityKind::Account;
        let err = store.write_batch(&accounts).unwrap_err();
        assert_eq!(
            err.to_string(),
            "dataset `salesforce.contact` holds person records; account records cannot go into it (choose another dataset)"
        );
        let start = crate::BatchStart {
            dataset: "salesforce.contact".into(),
            entity: EntityKind::Account,
            source: "load".into(),
            files: vec!["accounts.csv".into()],
            input_bytes: 0,
            error_threshold: Default::default(),
            flow_run: None,
        };
        assert!(matches!(store.begin_batch(&start), Err(Error::DatasetEntity { .. })));
        assert_eq!(store.batches().unwrap().len(), 1, "no batch was started for the refused records");
    }

    #[test]
    fn a_batch_for_an_unregistered_entity_fails_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let err = store.write_batch(&batch(vec![fragment("a@o.Salesforce", "a@x.com", "", "x")], vec![])).unwrap_err();
        assert!(err.to_string().contains("schema for entity `person` does not exist"), "{err}");
        assert!(store.batches().unwrap().is_empty());
    }
}
