//! Import and export of XDM JSON Schema documents, as Adobe publishes them and as users bring their own.
//!
//! - [`XdmCatalog`] holds raw documents keyed by `$id` and imports one of them into an [`ImportedSchema`]: its kind
//!   (class, field group, data type, behavior or concrete schema) and its fields flattened into the same
//!   [`FieldDef`] list the standard [`library`](crate::library) uses.
//! - [`export`] writes an [`ImportedSchema`] back as one self-contained, resolved JSON Schema document (draft-06,
//!   like the inputs), so that importing the export yields the same fields.
//!
//! # Import rules
//!
//! - `$ref` resolves to another document by `$id` (`https://ns.adobe.com/xdm/datatypes/b2b-source`), to a pointer in
//!   the same document (`#/definitions/x`) or to a pointer in another (`id#/definitions/x`). Keywords beside a
//!   `$ref` are ignored for typing (draft-06), but a sibling `title` or `description` is kept.
//! - `allOf` parts contribute their properties in order, then the node's own `properties`. A property declared
//!   more than once (as `xdm:b2b` in two definitions of `b2b-person-details`) deep-merges when every declaration
//!   is an object; otherwise the last declaration wins.
//! - Property names become path segments: `xdm:x` is `x`; the JSON-LD `@id` is `_id`; any other namespace prefix
//!   `ns:x` becomes `_ns.x` (AEP writes `marketo:URL` as `_marketo.URL`, `repo:createDate` as `_repo.createDate`).
//!   The namespace object `_ns` gets no field of its own, as in the library; validation treats such a node as an
//!   object. Keys holding `://` (the legacy opt-in channel URIs) are not addressable and are skipped with their
//!   subtree, as [`library`](crate::library) skips such paths.
//! - Types: `meta:xdmType` wins over `type` (`int`, `long`, `short`, `byte` are integers; `date`, `date-time` and
//!   `map` are their own types) and must agree with it. A string with `format: date` or `date-time` becomes
//!   [`FieldType::Date`](crate::FieldType::Date) or [`FieldType::DateTime`](crate::FieldType::DateTime). An object
//!   without properties whose `additionalProperties` is a schema (or `meta:xdmType: map`) is a map; its value
//!   schema is not modelled. A node with an `enum` but no `type` takes the type of its values. An array's field carries its items' type, format, enum and constraints, and an array
//!   of objects lists the element fields under the array's path (no `[*]`), as the library does.
//! - `oneOf`, `anyOf`, `patternProperties` and `const` are not modelled (XDM uses them only for the JSON-LD
//!   `@context`, which is not record data).
//! - `meta:extends` is recorded as given; the fields come from `allOf`, which in XDM lists the same documents.
//!
//! # Cycles
//!
//! A `$ref` chain that comes back to itself, or an `allOf` that includes itself, is an error
//! ([`XdmError::Cycle`]). A recursive data type (a property whose type is an object already being expanded on the
//! current path, as a person holding a person) is legitimate JSON Schema: the recursion is cut there, and the
//! field is listed as an object without sub-fields. Record values below it are then unknown fields to validation.
//!
//! # Order
//!
//! Fields come in declaration order across `allOf` parts; within one `properties` object they come in key order,
//! because `serde_json` (without its `preserve_order` feature) sorts object keys when parsing.

mod export;
mod resolve;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rapport_model::FieldPath;
use serde_json::Value;

use crate::library::FieldDef;
use crate::{Error, Result};

pub use export::export;

/// What an XDM document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemaKind {
    /// A class: abstract, extends a behavior (`profile`, `account`, …).
    Class,
    /// A field group (formerly mixin): declares `meta:intendedToExtend`.
    FieldGroup,
    /// A reusable data type (`b2b-source`, `address`, …), and any document that is none of the others.
    DataType,
    /// A behavior: `record` or `time-series` (ids under `https://ns.adobe.com/xdm/data/`).
    Behavior,
    /// A concrete schema: a class plus field groups (`meta:class`, or an `allOf` that references a class).
    Schema,
}

impl SchemaKind {
    /// The kebab-case name of the kind.
    pub fn name(self) -> &'static str {
        match self {
            SchemaKind::Class => "class",
            SchemaKind::FieldGroup => "field-group",
            SchemaKind::DataType => "data-type",
            SchemaKind::Behavior => "behavior",
            SchemaKind::Schema => "schema",
        }
    }
}

/// Descriptive details of one imported field that [`FieldDef`] does not carry, kept so that export can write
/// them back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldAnnotations {
    /// The XDM `title`.
    pub title: Option<String>,
    /// The XDM `description`.
    pub description: Option<String>,
    /// The `format` text when [`FieldDef::format`] is [`Format::Other`](crate::Format::Other) (`url`, `ipv4`, …).
    pub format: Option<String>,
    /// The `meta:xdmType` text when it is more precise than the field type (`long`, `int`, `short`, `byte`).
    pub xdm_type: Option<String>,
}

/// One XDM document, resolved and flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedSchema {
    /// The `$id`.
    pub id: String,
    /// The `title` (empty when absent).
    pub title: String,
    /// What the document is.
    pub kind: SchemaKind,
    /// The `meta:extends` ids; for a concrete schema without `meta:extends`, the documents its `allOf`
    /// references whole (class first, then field groups).
    pub extends: Vec<String>,
    /// The `meta:intendedToExtend` ids (field groups only).
    pub intended_to_extend: Vec<String>,
    /// The class of a concrete schema.
    pub class: Option<String>,
    /// Every field, flattened (see the module docs for order and naming).
    pub fields: Vec<FieldDef>,
    /// The paths of required fields (`required` of the object holding them; under an array of objects, each
    /// element must hold the field).
    pub required: Vec<FieldPath>,
    /// Titles, descriptions and precise type texts of fields, by path.
    pub annotations: BTreeMap<FieldPath, FieldAnnotations>,
}

impl ImportedSchema {
    /// The imported field group as a library group that can be registered and attached to schemas.
    ///
    /// # Errors
    /// [`XdmError::NotAFieldGroup`] when the document is a class, data type, behavior or schema.
    pub fn into_field_group(self) -> Result<crate::library::Group> {
        if self.kind != SchemaKind::FieldGroup {
            return Err(XdmError::NotAFieldGroup { id: self.id, kind: self.kind.name() }.into());
        }
        Ok(crate::library::Group {
            id: self.id,
            title: self.title,
            is_class: false,
            intended_to_extend: self.intended_to_extend,
            required: self.required,
            fields: self.fields,
        })
    }

    /// The field at `path`, if there is one.
    pub fn field(&self, path: &FieldPath) -> Option<&FieldDef> {
        self.fields.iter().find(|f| &f.path == path)
    }
}

/// Faults in XDM documents given to the importer. All are user faults; each names the document and, where it
/// applies, the JSON pointer (RFC 6901) of the offending node inside it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XdmError {
    /// A document is not a JSON object.
    #[error("an XDM document must be a JSON object, found {found}")]
    NotADocument {
        /// The JSON type found instead.
        found: &'static str,
    },
    /// A document has no string `$id`.
    #[error("the XDM document titled `{title}` has no `$id`")]
    MissingId {
        /// The document's title, or `(untitled)`.
        title: String,
    },
    /// Two different documents claim the same `$id`.
    #[error("two different documents have the `$id` `{id}`")]
    DuplicateId {
        /// The shared `$id`.
        id: String,
    },
    /// `import` was asked for a document the catalog does not hold.
    #[error("no XDM document with `$id` `{id}` was added")]
    UnknownDocument {
        /// The requested `$id`.
        id: String,
    },
    /// A `$ref` names a document the catalog does not hold.
    #[error("unresolved $ref in `{document}` at `{pointer}`: no document with `$id` `{missing}` was added")]
    MissingDocument {
        /// The `$id` that is missing.
        missing: String,
        /// The document holding the `$ref`.
        document: String,
        /// The JSON pointer of the `$ref`.
        pointer: String,
    },
    /// A `$ref` fragment points at nothing in its target document.
    #[error("unresolved $ref in `{document}` at `{pointer}`: `{reference}` points at nothing")]
    MissingDefinition {
        /// The whole `$ref` text.
        reference: String,
        /// The document holding the `$ref`.
        document: String,
        /// The JSON pointer of the `$ref`.
        pointer: String,
    },
    /// A schema node (property, `allOf` part, `$ref` target, `items`) is not a JSON object.
    #[error("`{document}` at `{pointer}`: expected a schema object")]
    NotAnObject {
        /// The document.
        document: String,
        /// The JSON pointer of the node.
        pointer: String,
    },
    /// A `$ref` chain or an `allOf` comes back to a node it started from.
    #[error("$ref cycle in `{document}` at `{pointer}`: {chain}")]
    Cycle {
        /// The document where the cycle closes.
        document: String,
        /// The JSON pointer where the cycle closes.
        pointer: String,
        /// The nodes of the cycle, as `document#pointer` joined by ` → `.
        chain: String,
    },
    /// `meta:xdmType` names a type XDM does not have.
    #[error("`{document}` at `{pointer}`: unknown meta:xdmType `{xdm_type}`")]
    UnknownXdmType {
        /// The document.
        document: String,
        /// The JSON pointer of the node.
        pointer: String,
        /// The unknown type.
        xdm_type: String,
    },
    /// A keyword has the wrong shape or contradicts another (`type: null`, `meta:xdmType: int` on a string, …).
    #[error("`{document}` at `{pointer}`: {message}")]
    BadType {
        /// The document.
        document: String,
        /// The JSON pointer of the node.
        pointer: String,
        /// What is wrong.
        message: String,
    },
    /// A property name cannot be a field path segment (empty, or holding `.`, `[`, `]` or a space).
    #[error("`{document}` at `{pointer}`: property name `{name}` cannot be a field path segment")]
    BadPropertyName {
        /// The document.
        document: String,
        /// The JSON pointer of the property.
        pointer: String,
        /// The property name.
        name: String,
    },
    /// A document given as a field group is another kind of document.
    #[error("`{id}` is a {kind}, not a field group")]
    NotAFieldGroup {
        /// The document's `$id`.
        id: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// A file under a folder given to [`XdmCatalog::add_dir`] could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file under a folder given to [`XdmCatalog::add_dir`] is not JSON.
    #[error("`{}` is not JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A file under a folder given to [`XdmCatalog::add_dir`] is not a valid document.
    #[error("`{}`: {source}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: Box<XdmError>,
    },
}

/// Raw XDM documents keyed by `$id`, resolved against each other on import.
#[derive(Debug, Clone, Default)]
pub struct XdmCatalog {
    docs: BTreeMap<String, Value>,
}

impl XdmCatalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one document and returns its `$id`. Adding the same document twice is harmless; a different document
    /// with an `$id` already present is refused.
    pub fn add(&mut self, doc: Value) -> Result<String> {
        let Some(map) = doc.as_object() else {
            return Err(XdmError::NotADocument { found: json_type(&doc) }.into());
        };
        let Some(id) = map.get("$id").and_then(Value::as_str).map(str::to_owned) else {
            let title = map.get("title").and_then(Value::as_str).unwrap_or("(untitled)").to_owned();
            return Err(XdmError::MissingId { title }.into());
        };
        match self.docs.get(&id) {
            Some(existing) if existing != &doc => Err(XdmError::DuplicateId { id }.into()),
            Some(_) => Ok(id),
            None => {
                self.docs.insert(id.clone(), doc);
                Ok(id)
            }
        }
    }

    /// Adds every `*.schema.json` file under `dir`, recursively (example instances and other files are ignored),
    /// and returns their `$id`s in file path order.
    pub fn add_dir(&mut self, dir: &Path) -> Result<Vec<String>> {
        let mut files = Vec::new();
        collect_schema_files(dir, &mut files)?;
        files.sort();
        let mut ids = Vec::with_capacity(files.len());
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| XdmError::Io { path: path.clone(), source })?;
            let doc: Value =
                serde_json::from_str(&text).map_err(|source| XdmError::Json { path: path.clone(), source })?;
            let id = self.add(doc).map_err(|err| match err {
                Error::Xdm(source) => Error::Xdm(XdmError::InFile { path: path.clone(), source: Box::new(source) }),
                other => other,
            })?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// The `$id`s of the documents held, in order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.docs.keys().map(String::as_str)
    }

    /// The number of documents held.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True when no document was added.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The raw document with this `$id`.
    pub fn document(&self, id: &str) -> Option<&Value> {
        self.docs.get(id)
    }

    /// The kind of the document with this `$id` (see [`SchemaKind`] for the rules).
    pub fn kind(&self, id: &str) -> Option<SchemaKind> {
        self.docs.get(id).and_then(Value::as_object).map(|doc| self.classify(doc).0)
    }

    /// Resolves and flattens the document with this `$id`.
    pub fn import(&self, id: &str) -> Result<ImportedSchema> {
        let Some((id, doc)) = self.docs.get_key_value(id) else {
            return Err(XdmError::UnknownDocument { id: id.to_owned() }.into());
        };
        let map = doc.as_object().ok_or(XdmError::NotADocument { found: json_type(doc) })?;
        let flat = resolve::Resolver::new(&self.docs).flatten(id, map)?;
        let (kind, class) = self.classify(map);
        let mut extends = string_list(map.get("meta:extends"));
        if extends.is_empty() && kind == SchemaKind::Schema {
            extends = whole_document_refs(map);
        }
        Ok(ImportedSchema {
            id: id.clone(),
            title: map.get("title").and_then(Value::as_str).unwrap_or_default().to_owned(),
            kind,
            extends,
            intended_to_extend: string_list(map.get("meta:intendedToExtend")),
            class,
            fields: flat.fields,
            required: flat.required,
            annotations: flat.annotations,
        })
    }

    /// Adds `doc` and imports it: the path of `rapport schema import FILE`.
    pub fn import_document(&mut self, doc: Value) -> Result<ImportedSchema> {
        let id = self.add(doc)?;
        self.import(&id)
    }

    /// The kind of a document and, for a concrete schema, its class.
    fn classify(&self, doc: &serde_json::Map<String, Value>) -> (SchemaKind, Option<String>) {
        let id = doc.get("$id").and_then(Value::as_str).unwrap_or_default();
        if doc.contains_key("meta:intendedToExtend") {
            return (SchemaKind::FieldGroup, None);
        }
        if is_behavior_id(id) {
            return (SchemaKind::Behavior, None);
        }
        if let Some(class) = doc.get("meta:class").and_then(Value::as_str) {
            return (SchemaKind::Schema, Some(class.to_owned()));
        }
        let is_abstract = doc.get("meta:abstract") == Some(&Value::Bool(true));
        if !is_abstract {
            let referenced = whole_document_refs(doc).into_iter().chain(string_list(doc.get("meta:extends")));
            for other in referenced {
                if self.docs.get(&other).and_then(Value::as_object).is_some_and(is_class_document) {
                    return (SchemaKind::Schema, Some(other));
                }
            }
        }
        if is_class_document(doc) {
            return (SchemaKind::Class, None);
        }
        (SchemaKind::DataType, None)
    }
}

/// XDM behaviors live under this id prefix (`record`, `time-series`, `adhoc`).
fn is_behavior_id(id: &str) -> bool {
    id.starts_with("https://ns.adobe.com/xdm/data/")
}

/// A class: abstract, not a field group, extending a behavior.
fn is_class_document(doc: &serde_json::Map<String, Value>) -> bool {
    doc.get("meta:abstract") == Some(&Value::Bool(true))
        && !doc.contains_key("meta:intendedToExtend")
        && string_list(doc.get("meta:extends")).iter().any(|id| is_behavior_id(id))
}

/// The `$ref`s of the top-level `allOf` that name a whole document (no fragment).
fn whole_document_refs(doc: &serde_json::Map<String, Value>) -> Vec<String> {
    doc.get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|part| part.get("$ref").and_then(Value::as_str))
        .filter(|r| !r.is_empty() && !r.contains('#'))
        .map(str::to_owned)
        .collect()
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn collect_schema_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let io = |source| XdmError::Io { path: dir.to_owned(), source };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|source| XdmError::Io { path: path.clone(), source })?;
        if file_type.is_dir() {
            collect_schema_files(&path, out)?;
        } else if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".schema.json")) {
            out.push(path);
        }
    }
    Ok(())
}

pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
