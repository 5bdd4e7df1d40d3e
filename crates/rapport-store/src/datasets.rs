//! Datasets (as objects of their own, beside the batches written into them) and streaming inlets.

use rapport_model::EntityKind;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::{now, Error, Result, Store};

/// A dataset: a named container of batches, bound to one registered schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasetRecord {
    /// The dataset id.
    pub id: i64,
    /// The dataset name, e.g. `salesforce.contact`.
    pub name: String,
    /// The entity class of its records.
    pub entity: EntityKind,
    /// The name of its schema, e.g. `B2B Person`.
    pub schema: String,
}

/// A streaming inlet (Adobe's "streaming connection"): the id in `POST /collection/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InletRecord {
    /// The inlet id (as generated at creation).
    pub id: String,
    /// The name given at creation.
    pub name: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

impl Store {
    /// Every dataset, in id order.
    pub fn datasets(&self) -> Result<Vec<DatasetRecord>> {
        let mut stmt = self.conn.prepare("SELECT id, name, entity, schema_name FROM datasets ORDER BY id")?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get::<_, String>(3)?))
        })?;
        rows.map(|row| {
            let (id, name, entity, schema) = row?;
            let entity = entity
                .parse()
                .map_err(|_| Error::NotFound { kind: "entity class of stored dataset", name: entity.clone() })?;
            Ok(DatasetRecord { id, name, entity, schema })
        })
        .collect()
    }

    /// Creates an empty dataset bound to the registered schema `schema` (by name).
    pub fn create_dataset(&mut self, name: &str, schema: &str) -> Result<DatasetRecord> {
        let tx = self.conn.transaction()?;
        let entity: String = tx
            .query_row("SELECT entity FROM schemas WHERE name = ?1", [schema], |row| row.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound { kind: "schema", name: schema.to_owned() })?;
        let exists: Option<i64> =
            tx.query_row("SELECT id FROM datasets WHERE name = ?1", [name], |row| row.get(0)).optional()?;
        if exists.is_some() {
            return Err(Error::AlreadyExists { kind: "dataset", name: name.to_owned() });
        }
        tx.execute(
            "INSERT INTO datasets (name, entity, schema_name) VALUES (?1, ?2, ?3)",
            params![name, entity, schema],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        let entity = entity.parse().map_err(|_| Error::NotFound { kind: "entity class of schema", name: entity })?;
        Ok(DatasetRecord { id, name: name.to_owned(), entity, schema: schema.to_owned() })
    }

    /// Saves a new inlet. Ids and names are unique.
    pub fn create_inlet(&mut self, id: &str, name: &str) -> Result<InletRecord> {
        let tx = self.conn.transaction()?;
        let taken: Option<String> = tx
            .query_row("SELECT name FROM inlets WHERE id = ?1 OR name = ?2", params![id, name], |row| row.get(0))
            .optional()?;
        if let Some(taken) = taken {
            return Err(Error::AlreadyExists { kind: "inlet", name: taken });
        }
        let created_at = now();
        tx.execute("INSERT INTO inlets (id, name, created_at) VALUES (?1, ?2, ?3)", params![id, name, created_at])?;
        tx.commit()?;
        Ok(InletRecord { id: id.to_owned(), name: name.to_owned(), created_at })
    }

    /// Every inlet, oldest first.
    pub fn inlets(&self) -> Result<Vec<InletRecord>> {
        let mut stmt = self.conn.prepare("SELECT id, name, created_at FROM inlets ORDER BY created_at, id")?;
        let rows =
            stmt.query_map([], |row| Ok(InletRecord { id: row.get(0)?, name: row.get(1)?, created_at: row.get(2)? }))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::test_util::store;

    #[test]
    fn a_dataset_is_bound_to_a_registered_schema() {
        let (_dir, mut store) = store();
        let created = store.create_dataset("web.person", "B2B Person").unwrap();
        assert_eq!(created.entity, rapport_model::EntityKind::Person);
        assert_eq!(store.datasets().unwrap(), vec![created]);
        let err = store.create_dataset("web.person", "B2B Person").unwrap_err();
        assert_eq!(err.to_string(), "dataset `web.person` already exists");
        let err = store.create_dataset("web.other", "B2B Nothing").unwrap_err();
        assert_eq!(err.to_string(), "schema `B2B Nothing` does not exist");
        assert_eq!(store.datasets().unwrap().len(), 1);
    }

    #[test]
    fn inlet_ids_and_names_are_unique() {
        let (_dir, mut store) = store();
        store.create_inlet("aa11", "web").unwrap();
        assert_eq!(store.create_inlet("bb22", "web").unwrap_err().to_string(), "inlet `web` already exists");
        assert_eq!(store.create_inlet("aa11", "app").unwrap_err().to_string(), "inlet `web` already exists");
        let inlets = store.inlets().unwrap();
        assert_eq!(inlets.iter().map(|i| (i.id.as_str(), i.name.as_str())).collect::<Vec<_>>(), vec![("aa11", "web")]);
    }
}
