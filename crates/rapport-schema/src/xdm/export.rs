//! Export of an imported schema as one self-contained, resolved JSON Schema document.

use std::collections::HashSet;

use rapport_model::FieldPath;
use serde_json::{json, Map, Value};

use super::{FieldAnnotations, ImportedSchema, SchemaKind};
use crate::library::{FieldDef, FieldType, Format};

/// Writes `schema` as one draft-06 JSON Schema document without `$ref`s: nested `properties`, `items`, `type`,
/// `format`, `enum`, constraints, `required`, `$id`, `title`, the `meta:` keywords that keep its kind
/// (`meta:extends`, `meta:intendedToExtend`, `meta:abstract`, `meta:class`), and `meta:xdmType` where it says
/// more than `type` (`date`, `date-time`, `map`, `long`, …).
///
/// Property names are the bare field names records use (`accountKey`, `_id`), not the `xdm:`-prefixed names of
/// the standard documents; a namespace object without a field of its own is written back as a prefix
/// (`repo:createDate`). Importing the result in an empty catalog yields the same fields, required paths
/// and kind; the value schema of a map is not kept (exported as `{}`), nor is the exact `format` text of a
/// [`Format::Uri`] field (exported as `uri`).
pub fn export(schema: &ImportedSchema) -> Value {
    let mut root = Map::new();
    root.insert("$id".to_owned(), json!(schema.id));
    root.insert("$schema".to_owned(), json!("http://json-schema.org/draft-06/schema#"));
    root.insert("title".to_owned(), json!(schema.title));
    root.insert("type".to_owned(), json!("object"));
    if matches!(schema.kind, SchemaKind::Class | SchemaKind::Behavior) {
        root.insert("meta:abstract".to_owned(), json!(true));
    }
    if schema.kind == SchemaKind::FieldGroup {
        root.insert("meta:intendedToExtend".to_owned(), json!(schema.intended_to_extend));
    }
    if let (SchemaKind::Schema, Some(class)) = (schema.kind, &schema.class) {
        root.insert("meta:class".to_owned(), json!(class));
    }
    if !schema.extends.is_empty() {
        root.insert("meta:extends".to_owned(), json!(schema.extends));
    }
    let declared: HashSet<&FieldPath> = schema.fields.iter().map(|f| &f.path).collect();
    for def in &schema.fields {
        let notes = schema.annotations.get(&def.path);
        let keys = property_keys(&def.path, &declared);
        let (last, parents) = keys.split_last().expect("a field path has at least one segment");
        let container = container(&mut root, parents);
        let properties = properties(container);
        let mut node = field_schema(def, notes);
        // A parent written implicitly for a child listed before it: keep the members it already holds.
        if let Some(Value::Object(mut implicit)) = properties.remove(last.as_str()) {
            if let Some(members) = implicit.remove("properties") {
                innermost(&mut node).insert("properties".to_owned(), members);
            }
        }
        properties.insert(last.clone(), Value::Object(node));
    }
    for path in &schema.required {
        let keys = property_keys(path, &declared);
        let (last, parents) = keys.split_last().expect("a field path has at least one segment");
        let container = container(&mut root, parents);
        let required = container.entry("required").or_insert_with(|| json!([]));
        if let Value::Array(names) = required {
            if !names.iter().any(|n| n == last) {
                names.push(json!(last));
            }
        }
    }
    Value::Object(root)
}

/// The property names along `path`. A namespace object without a field of its own (`_repo` in
/// `_repo.createDate`) is written back as the prefix of its member (`repo:createDate`), so that import yields the
/// same fields again.
fn property_keys(path: &FieldPath, declared: &HashSet<&FieldPath>) -> Vec<String> {
    let segments = path.segments();
    let mut keys = Vec::with_capacity(segments.len());
    let mut i = 0;
    while i < segments.len() {
        let segment = &segments[i];
        let namespace = segment.strip_prefix('_').filter(|ns| !ns.is_empty() && !ns.contains(['/', ':']));
        match namespace {
            Some(ns) if i + 1 < segments.len() && !declared.contains(&FieldPath::from_segments(&segments[..=i])) => {
                keys.push(format!("{ns}:{}", segments[i + 1]));
                i += 2;
            }
            _ => {
                keys.push(segment.clone());
                i += 1;
            }
        }
    }
    keys
}

/// The object schema holding the fields below `parents`: the root, an object's node or an array's innermost
/// `items`. Missing parents are created as plain objects.
fn container<'a>(root: &'a mut Map<String, Value>, parents: &[String]) -> &'a mut Map<String, Value> {
    let mut current = root;
    for segment in parents {
        let slot = properties(current).entry(segment.clone()).or_insert_with(|| json!({"type": "object"}));
        if !slot.is_object() {
            *slot = json!({"type": "object"});
        }
        let mut node = match slot {
            Value::Object(map) => map,
            _ => unreachable!("slot was just made an object"),
        };
        while node.get("type").and_then(Value::as_str) == Some("array") {
            let items = node.entry("items").or_insert_with(|| json!({"type": "object"}));
            if !items.is_object() {
                *items = json!({"type": "object"});
            }
            node = match items {
                Value::Object(map) => map,
                _ => unreachable!("items was just made an object"),
            };
        }
        current = node;
    }
    current
}

/// The node itself, or the innermost `items` of an array node.
fn innermost(node: &mut Map<String, Value>) -> &mut Map<String, Value> {
    if !node.get("items").is_some_and(Value::is_object) {
        return node;
    }
    match node.get_mut("items") {
        Some(Value::Object(items)) => innermost(items),
        _ => unreachable!("items was just checked to be an object"),
    }
}

fn properties(node: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let slot = node.entry("properties").or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    match slot {
        Value::Object(map) => map,
        _ => unreachable!("properties was just made an object"),
    }
}

fn field_schema(def: &FieldDef, notes: Option<&FieldAnnotations>) -> Map<String, Value> {
    let mut node = type_schema(&def.ty, def, notes);
    if let Some(notes) = notes {
        if let Some(title) = &notes.title {
            node.insert("title".to_owned(), json!(title));
        }
        if let Some(description) = &notes.description {
            node.insert("description".to_owned(), json!(description));
        }
    }
    node
}

/// The schema of a value of type `ty`; scalar details (format, enum, constraints) go on the scalar itself, so
/// inside `items` for an array.
fn type_schema(ty: &FieldType, def: &FieldDef, notes: Option<&FieldAnnotations>) -> Map<String, Value> {
    let mut node = Map::new();
    let mut set = |key: &str, value: Value| {
        node.insert(key.to_owned(), value);
    };
    match ty {
        FieldType::Object => set("type", json!("object")),
        FieldType::Map => {
            set("type", json!("object"));
            set("meta:xdmType", json!("map"));
            set("additionalProperties", json!({}));
        }
        FieldType::Array(item) => {
            set("type", json!("array"));
            set("items", Value::Object(type_schema(item, def, notes)));
        }
        FieldType::String => set("type", json!("string")),
        FieldType::Number => set("type", json!("number")),
        FieldType::Integer => set("type", json!("integer")),
        FieldType::Boolean => set("type", json!("boolean")),
        FieldType::Date => {
            set("type", json!("string"));
            set("format", json!("date"));
            set("meta:xdmType", json!("date"));
        }
        FieldType::DateTime => {
            set("type", json!("string"));
            set("format", json!("date-time"));
            set("meta:xdmType", json!("date-time"));
        }
    }
    if ty.is_scalar() {
        scalar_details(&mut node, def, notes);
    }
    node
}

fn scalar_details(node: &mut Map<String, Value>, def: &FieldDef, notes: Option<&FieldAnnotations>) {
    let format = match def.format {
        Some(Format::Email) => Some("email"),
        Some(Format::Uri) => Some("uri"),
        Some(Format::Other) => notes.and_then(|n| n.format.as_deref()),
        None => None,
    };
    if let Some(format) = format {
        node.insert("format".to_owned(), json!(format));
    }
    if let Some(xdm_type) = notes.and_then(|n| n.xdm_type.as_deref()) {
        node.insert("meta:xdmType".to_owned(), json!(xdm_type));
    }
    if let Some(allowed) = &def.allowed {
        node.insert("enum".to_owned(), Value::Array(allowed.clone()));
    }
    let c = &def.constraints;
    if let Some(minimum) = c.minimum {
        node.insert("minimum".to_owned(), number(minimum));
    }
    if let Some(maximum) = c.maximum {
        node.insert("maximum".to_owned(), number(maximum));
    }
    if let Some(min_length) = c.min_length {
        node.insert("minLength".to_owned(), json!(min_length));
    }
    if let Some(max_length) = c.max_length {
        node.insert("maxLength".to_owned(), json!(max_length));
    }
    if let Some(pattern) = &c.pattern {
        node.insert("pattern".to_owned(), json!(pattern));
    }
}

/// A bound as JSON: integral values without a fraction (`0`, not `0.0`), as the XDM documents write them.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}
