//! What deleting an identity, a record or a batch changes in the stored fragments. The engine
//! (`rapport_engine::unmerge`) opens a [`Store::deletion_writer`], changes the fragments through these calls,
//! and re-stitches the profiles that held them in the same transaction.

use rapport_model::Identity;
use rusqlite::{params, OptionalExtension};

use crate::writer::encode_identities;
use crate::{now, BatchWriter, Result, Store};

/// A stored fragment's key: the dataset and the primary identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentKey {
    /// The fragment id.
    pub id: i64,
    /// The dataset name.
    pub dataset: String,
    /// The primary identity.
    pub primary: Identity,
}

impl Store {
    /// The entity class and state of batch `id`, if it exists.
    pub fn batch_entity(&self, id: i64) -> Result<Option<(rapport_model::EntityKind, crate::BatchState)>> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT d.entity, b.state FROM batches b JOIN datasets d ON d.id = b.dataset_id WHERE b.id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((entity, state)) = row else { return Ok(None) };
        let entity = entity.parse().map_err(|_| crate::Error::Corrupt(format!("batch {id} has entity `{entity}`")))?;
        let state = state.parse().map_err(crate::Error::Corrupt)?;
        Ok(Some((entity, state)))
    }
}

impl BatchWriter<'_> {
    /// The id of `dataset`'s fragment with primary identity `primary`, if it exists.
    pub fn fragment_id(&self, dataset: &str, primary: &Identity) -> Result<Option<i64>> {
        Ok(self
            .tx()
            .prepare_cached(
                "SELECT f.id FROM fragments f JOIN datasets d ON d.id = f.dataset_id
                 WHERE d.name = ?1 AND f.primary_ns = ?2 AND f.primary_value = ?3",
            )?
            .query_row(params![dataset, primary.namespace.as_str(), primary.value], |row| row.get(0))
            .optional()?)
    }

    /// The fragments whose stored version batch `batch_id` wrote, in id order.
    pub fn fragments_of_batch(&self, batch_id: i64) -> Result<Vec<FragmentKey>> {
        let mut stmt = self.tx().prepare_cached(
            "SELECT f.id, d.name, f.primary_ns, f.primary_value FROM fragments f JOIN datasets d ON d.id = f.dataset_id
             WHERE f.batch_id = ?1 ORDER BY f.id",
        )?;
        let rows = stmt.query_map([batch_id], |row| {
            Ok(FragmentKey {
                id: row.get(0)?,
                dataset: row.get(1)?,
                primary: Identity::new(row.get::<_, String>(2)?, row.get::<_, String>(3)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes fragments, keeping their records for the change feed until commit.
    pub fn delete_fragments(&mut self, ids: &[i64]) -> Result<()> {
        for &id in ids {
            self.keep_prior_record(id)?;
            self.tx().prepare_cached("DELETE FROM fragments WHERE id = ?1")?.execute([id])?;
        }
        Ok(())
    }

    /// Replaces the identities of fragment `id` (the record is left as it is).
    pub fn set_fragment_identities(&mut self, id: i64, identities: &[Identity]) -> Result<()> {
        self.tx()
            .prepare_cached("UPDATE fragments SET identities = ?2 WHERE id = ?1")?
            .execute(params![id, encode_identities(identities)?])?;
        Ok(())
    }

    /// Marks batch `id` deleted.
    pub fn mark_batch_deleted(&mut self, id: i64) -> Result<()> {
        self.tx()
            .prepare_cached("UPDATE batches SET state = 'deleted', updated_at = ?2 WHERE id = ?1")?
            .execute(params![id, now()])?;
        Ok(())
    }
}
