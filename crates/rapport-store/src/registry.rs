//! The schema registry: schemas, relationships and identity namespaces.

use rapport_model::EntityKind;
use rapport_schema::{Namespace, SchemaSet};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::{Error, Result, Store};

/// What a registration created (everything else existed already and was left alone).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegistryChanges {
    /// Namespaces created.
    pub namespaces_created: Vec<String>,
    /// Schemas created.
    pub schemas_created: Vec<String>,
    /// Relationships created, as `Source.path -> Destination`.
    pub relationships_created: Vec<String>,
}

impl RegistryChanges {
    /// True when nothing was created.
    pub fn is_empty(&self) -> bool {
        self.namespaces_created.is_empty() && self.schemas_created.is_empty() && self.relationships_created.is_empty()
    }
}

impl Store {
    /// Registers namespaces, schemas and relationships that do not exist yet (by code, name and source path),
    /// in one transaction. Running it twice changes nothing the second time.
    pub fn register(&mut self, set: &SchemaSet, namespaces: &[Namespace]) -> Result<RegistryChanges> {
        let tx = self.conn.transaction()?;
        let mut changes = RegistryChanges::default();
        for ns in namespaces {
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO namespaces (code, definition) VALUES (?1, ?2)",
                params![ns.code.as_str(), serde_json::to_string(ns)?],
            )?;
            if inserted == 1 {
                changes.namespaces_created.push(ns.code.to_string());
            }
        }
        for schema in &set.schemas {
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO schemas (name, entity, definition) VALUES (?1, ?2, ?3)",
                params![schema.name, schema.entity.name(), serde_json::to_string(schema)?],
            )?;
            if inserted == 1 {
                changes.schemas_created.push(schema.name.clone());
            }
        }
        for rel in &set.relationships {
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO relationships (source, source_path, destination, definition) VALUES (?1, ?2, ?3, ?4)",
                params![rel.source.name(), rel.source_path.to_string(), rel.destination.name(), serde_json::to_string(rel)?],
            )?;
            if inserted == 1 {
                changes
                    .relationships_created
                    .push(format!("{}.{} -> {}", rel.source, rel.source_path, rel.destination));
            }
        }
        tx.commit()?;
        Ok(changes)
    }

    /// The registered schemas as stored JSON documents, in name order.
    pub fn schema_documents(&self) -> Result<Vec<serde_json::Value>> {
        let mut stmt = self.conn.prepare("SELECT definition FROM schemas ORDER BY name")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        rows.map(|text| Ok(serde_json::from_str(&text?)?)).collect()
    }

    /// Saves a custom field group (replacing an earlier version with the same `$id`) and the schema documents
    /// that use it, in one transaction. Callers check evolution rules first.
    pub fn save_field_group(
        &mut self,
        id: &str,
        definition: &serde_json::Value,
        schemas: &[rapport_schema::SchemaDoc],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO field_groups (id, definition) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET definition = excluded.definition",
            params![id, serde_json::to_string(definition)?],
        )?;
        for schema in schemas {
            let updated = tx.execute(
                "UPDATE schemas SET definition = ?2 WHERE name = ?1",
                params![schema.name, serde_json::to_string(schema)?],
            )?;
            if updated == 0 {
                return Err(Error::NotFound { kind: "schema", name: schema.name.clone() });
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The custom field groups, as (`$id`, stored definition), in `$id` order.
    pub fn field_groups(&self) -> Result<Vec<(String, serde_json::Value)>> {
        let mut stmt = self.conn.prepare("SELECT id, definition FROM field_groups ORDER BY id")?;
        let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
        rows.map(|row| {
            let (id, text) = row?;
            Ok((id, serde_json::from_str(&text)?))
        })
        .collect()
    }

    /// The registered relationships as stored JSON documents.
    pub fn relationship_documents(&self) -> Result<Vec<serde_json::Value>> {
        let mut stmt = self.conn.prepare("SELECT definition FROM relationships ORDER BY source, source_path")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        rows.map(|text| Ok(serde_json::from_str(&text?)?)).collect()
    }

    /// The name of the schema registered for an entity class, if any.
    pub fn schema_for_entity(&self, entity: EntityKind) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT name FROM schemas WHERE entity = ?1", [entity.name()], |row| row.get(0))
            .optional()?)
    }

    /// Creates a custom namespace. Codes and display names are unique (ignoring case); nothing is ever
    /// deleted or changed.
    pub fn create_namespace(&mut self, ns: &Namespace) -> Result<()> {
        let tx = self.conn.transaction()?;
        for existing in {
            let mut stmt = tx.prepare("SELECT definition FROM namespaces")?;
            let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
            rows.collect::<Result<Vec<_>, _>>()?
        } {
            let existing: Namespace = serde_json::from_str(&existing)?;
            if existing.code.as_str().eq_ignore_ascii_case(ns.code.as_str()) {
                return Err(Error::AlreadyExists { kind: "namespace code", name: existing.code.to_string() });
            }
            if existing.name.eq_ignore_ascii_case(&ns.name) {
                return Err(Error::AlreadyExists { kind: "namespace display name", name: existing.name });
            }
        }
        tx.execute(
            "INSERT INTO namespaces (code, definition) VALUES (?1, ?2)",
            params![ns.code.as_str(), serde_json::to_string(ns)?],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The registered namespaces, in code order.
    pub fn namespaces(&self) -> Result<Vec<Namespace>> {
        let mut stmt = self.conn.prepare("SELECT definition FROM namespaces ORDER BY code")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        rows.map(|text| Ok(serde_json::from_str(&text?)?)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_schema::{b2b::generate_b2b, namespace};

    #[test]
    fn registering_twice_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let first = store.register(&generate_b2b(), &namespace::standard()).unwrap();
        assert_eq!(first.schemas_created.len(), 9);
        assert_eq!(first.relationships_created.len(), 11);
        assert_eq!(first.namespaces_created.len(), namespace::standard().len());
        let second = store.register(&generate_b2b(), &namespace::standard()).unwrap();
        assert!(second.is_empty(), "{second:?}");
        assert_eq!(store.schema_for_entity(EntityKind::Person).unwrap().as_deref(), Some("B2B Person"));
        assert_eq!(store.schema_documents().unwrap().len(), 9);
    }

    #[test]
    fn custom_namespaces_are_unique_by_code_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.register(&generate_b2b(), &namespace::standard()).unwrap();
        let ns = |code: &str, name: &str| {
            Namespace::custom(
                code,
                name,
                rapport_schema::IdentityType::CrossDevice,
                rapport_schema::Normalization::Trim,
            )
            .unwrap()
        };
        store.create_namespace(&ns("loyaltyId", "Loyalty ID")).unwrap();
        let err = store.create_namespace(&ns("LOYALTYID", "Other")).unwrap_err();
        assert_eq!(err.to_string(), "namespace code `loyaltyId` already exists");
        let err = store.create_namespace(&ns("email2", "email")).unwrap_err();
        assert_eq!(err.to_string(), "namespace display name `Email` already exists");
        assert!(store.namespaces().unwrap().iter().any(|n| n.code.as_str() == "loyaltyId" && !n.standard));
    }
}
