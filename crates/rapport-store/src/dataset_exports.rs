//! Dataset exports: which batches of a dataset each export target already received.
//!
//! An export is incremental by batch: it writes the records of the dataset's successful batches that the
//! target has not received yet, then records those batch ids (`dataset_exports`). Batch ids are kept one by
//! one rather than as a high-water mark because ids are taken when a load starts: a long load can commit after
//! a later, shorter one, and a mark would skip it. A record that a later batch replaced belongs to that batch
//! (its `batch_id` moves), so it is exported again with it.

use rusqlite::params;

use crate::{now, Error, Result, Store};

impl Store {
    /// The successful batches of dataset `dataset` (by name) that `target` has not received, oldest first.
    pub fn dataset_batches_to_export(&self, dataset: &str, target: &str) -> Result<Vec<i64>> {
        self.dataset_id(dataset)?;
        let mut stmt = self.conn.prepare(
            "SELECT b.id FROM batches b JOIN datasets d ON d.id = b.dataset_id
             WHERE d.name = ?1 AND b.state = 'success'
               AND b.id NOT IN (SELECT batch_id FROM dataset_exports WHERE dataset = ?1 AND target = ?2)
             ORDER BY b.id",
        )?;
        let rows = stmt.query_map([dataset, target], |row| row.get(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Calls `each` with the stored JSON text of every record of dataset `dataset` that batch `batch` last
    /// wrote, in fragment order.
    pub fn for_each_batch_record<E>(
        &self,
        dataset: &str,
        batch: i64,
        mut each: impl FnMut(&str) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E>
    where
        E: From<Error>,
    {
        let id = self.dataset_id(dataset)?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT record FROM fragments WHERE batch_id = ?2 AND dataset_id = ?1 ORDER BY id")
            .map_err(Error::from)?;
        let mut rows = stmt.query(params![id, batch]).map_err(Error::from)?;
        while let Some(row) = rows.next().map_err(Error::from)? {
            let text =
                row.get_ref(0).map_err(Error::from)?.as_str().map_err(|e| Error::from(rusqlite::Error::from(e)))?;
            each(text)?;
        }
        Ok(())
    }

    /// Records, in one transaction, that `target` received these batches of dataset `dataset`.
    pub fn record_dataset_export(&mut self, dataset: &str, target: &str, batches: &[i64]) -> Result<()> {
        let at = now();
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO dataset_exports (dataset, target, batch_id, exported_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for batch in batches {
                insert.execute(params![dataset, target, batch, at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn dataset_id(&self, dataset: &str) -> Result<i64> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row("SELECT id FROM datasets WHERE name = ?1", [dataset], |row| row.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound { kind: "dataset", name: dataset.to_owned() })
    }
}
