//! The schema registry as the engine sees it: standard schemas plus custom field groups, with evolution rules.

use std::collections::BTreeMap;

use rapport_schema::evolution::{breaking_changes, BreakingChange};
use rapport_schema::library::{self, Group};
use rapport_schema::{Schema, SchemaDoc, SchemaSet};
use rapport_store::Store;
use serde::Serialize;

use crate::{Engine, Error, Result};

/// Top-level names that belong to XDM itself, never to a tenant's field group.
const RESERVED_ROOTS: &[&str] = &["_id", "_schema", "_repo", "_experience", "_dc", "_xdm"];

/// What adding or updating a custom field group did.
#[derive(Debug, Clone, Serialize)]
pub struct FieldGroupChange {
    /// The field group `$id`.
    pub field_group: String,
    /// The schemas that now include it.
    pub schemas: Vec<String>,
    /// The fields the change added to each schema, by schema name.
    pub added_fields: BTreeMap<String, Vec<String>>,
}

/// Loads the schema set: the registered schemas (with their custom field groups) when the B2B schemas have
/// been generated, else the standard set (ingestion then refuses to run until they are).
pub(crate) fn load(store: &Store) -> Result<SchemaSet> {
    let mut set = rapport_schema::b2b::generate_b2b();
    let custom = custom_groups(store)?;
    let resolve = |id: &str| {
        library::group(id).cloned().or_else(|| custom.get(id).cloned()).or_else(|| {
            (id == rapport_schema::b2b::ACTIVITY_FIELD_GROUP)
                .then(|| rapport_schema::b2b::activity_field_group().clone())
        })
    };
    for doc in store.schema_documents()? {
        let doc: SchemaDoc = serde_json::from_value(doc).map_err(|e| Error::Internal(format!("stored schema: {e}")))?;
        let schema = Schema::compose(doc, &resolve).map_err(|e| Error::Internal(format!("stored schema: {e}")))?;
        match set.schemas.iter_mut().find(|s| s.name == schema.name) {
            Some(slot) => *slot = schema,
            None => set.schemas.push(schema),
        }
    }
    Ok(set)
}

/// The registered custom field groups, by `$id`.
fn custom_groups(store: &Store) -> Result<BTreeMap<String, Group>> {
    store
        .field_groups()?
        .into_iter()
        .map(|(id, json)| {
            library::group_from_json(&id, &json)
                .map(|g| (id.clone(), g))
                .map_err(|e| Error::Internal(format!("stored field group {id}: {e}")))
        })
        .collect()
}

fn check_tenant_fields(group: &Group) -> Result<()> {
    if library::group(&group.id).is_some() {
        return Err(Error::Schema(format!(
            "`{}` is a standard field group; custom groups need their own $id",
            group.id
        )));
    }
    if group.fields.is_empty() {
        return Err(Error::Schema(format!("field group `{}` defines no fields", group.id)));
    }
    for field in &group.fields {
        let root = &field.path.segments()[0];
        if !root.starts_with('_') || root.len() < 2 || RESERVED_ROOTS.contains(&root.as_str()) {
            return Err(Error::Schema(format!(
                "field group `{}`: `{}` must live under a tenant object `_{{tenant}}` (e.g. `_bodea.{}`)",
                group.id,
                field.path,
                field.path.segments().last().map(String::as_str).unwrap_or_default()
            )));
        }
    }
    Ok(())
}

impl Engine {
    /// Registers a custom field group without attaching it to any schema (`rapport schema import`); a group
    /// already in use is updated through [`Engine::add_field_group`] instead, which applies evolution rules.
    pub fn register_field_group(&mut self, group: &Group) -> Result<()> {
        check_tenant_fields(group)?;
        if self.schemas.schemas.iter().any(|s| s.field_groups.contains(&group.id)) {
            return Err(Error::Schema(format!(
                "field group `{}` is in use; change it with `rapport schema add-field-group`, which checks evolution rules",
                group.id
            )));
        }
        Ok(self.store.save_field_group(&group.id, &library::group_to_json(group), &[])?)
    }

    /// A registered custom field group.
    pub fn field_group(&self, id: &str) -> Result<Option<Group>> {
        Ok(custom_groups(&self.store)?.remove(id))
    }

    /// The schema with this name, if it is registered (the standard set is known before `generate-b2b`, but
    /// only registered schemas can be shown, exported or changed).
    pub fn registered_schema(&self, name: &str) -> Result<Option<&Schema>> {
        let registered = self.store.schema_documents()?.iter().any(|doc| doc["name"] == name);
        Ok(self.schemas.by_name(name).filter(|_| registered))
    }

    /// Adds a custom field group to a schema, or replaces the group's definition everywhere it is used.
    ///
    /// The group's fields must live under a tenant object (`_bodea.…`). Every schema that would include the
    /// group is recomposed; a type conflict with an existing field, or (for profile-enabled schemas) any
    /// breaking change, refuses the whole change with the field and the rule named.
    pub fn add_field_group(&mut self, schema_name: &str, group: Group) -> Result<FieldGroupChange> {
        check_tenant_fields(&group)?;
        let target = self.registered_schema(schema_name)?.ok_or_else(|| {
            Error::Schema(format!(
                "schema `{schema_name}` does not exist (run `rapport schema list`, or `rapport schema generate-b2b` first)"
            ))
        })?;
        if !group.intended_to_extend.is_empty() && !group.intended_to_extend.contains(&target.class_id) {
            return Err(Error::Schema(format!(
                "field group `{}` extends {} but schema {} is of class {}",
                group.id,
                group.intended_to_extend.join(", "),
                target.name,
                target.class_id
            )));
        }
        let custom = custom_groups(&self.store)?;
        let resolve = |id: &str| {
            if id == group.id {
                Some(group.clone())
            } else {
                library::group(id).cloned().or_else(|| custom.get(id).cloned())
            }
        };
        let mut updated: Vec<Schema> = Vec::new();
        let mut added_fields = BTreeMap::new();
        for schema in &self.schemas.schemas {
            let mut doc = schema.doc();
            let uses = doc.field_groups.contains(&group.id);
            if schema.name != schema_name && !uses {
                continue;
            }
            if !uses {
                doc.field_groups.push(group.id.clone());
            }
            let new = Schema::compose(doc, &resolve).map_err(|e| Error::Schema(e.to_string()))?;
            if schema.profile_enabled {
                let breaking: Vec<BreakingChange> = breaking_changes(schema, &new);
                if !breaking.is_empty() {
                    let list: Vec<String> = breaking.iter().map(ToString::to_string).collect();
                    return Err(Error::Schema(format!(
                        "schema {} is enabled for profile and accepts only additive changes: {}",
                        schema.name,
                        list.join("; ")
                    )));
                }
            }
            let fresh: Vec<String> =
                new.fields().filter(|f| schema.field(&f.path).is_none()).map(|f| f.path.to_string()).collect();
            added_fields.insert(new.name.clone(), fresh);
            updated.push(new);
        }
        let docs: Vec<SchemaDoc> = updated.iter().map(Schema::doc).collect();
        self.store.save_field_group(&group.id, &library::group_to_json(&group), &docs)?;
        let names = updated.iter().map(|s| s.name.clone()).collect();
        for schema in updated {
            if let Some(slot) = self.schemas.schemas.iter_mut().find(|s| s.name == schema.name) {
                *slot = schema;
            }
        }
        Ok(FieldGroupChange { field_group: group.id, schemas: names, added_fields })
    }
}
