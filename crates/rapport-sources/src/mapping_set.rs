//! Mapping sets: a user-editable file saying how source fields become XDM fields, after the shape of Adobe's
//! mapping-set API (`docs/mapping.md` documents the format).
//!
//! ```json
//! {
//!   "entity": "person",
//!   "required": ["Id"],
//!   "mappings": [
//!     {"sourceType": "ATTRIBUTE",  "source": "Email",  "destination": "workEmail.address"},
//!     {"sourceType": "EXPRESSION", "source": "lower(trim(Email))", "destination": "personalEmail.address"},
//!     {"sourceType": "CONSTANT",   "source": "Contact", "destination": "b2b.personType"}
//!   ]
//! }
//! ```
//!
//! A [`MappingSet`] is plain data (serde). [`MappingSet::compile`] binds it once to an input's columns:
//! expressions are parsed, placeholders substituted, every field reference resolved to a column (exactly, else
//! case-insensitively), and destinations parsed as field paths. The [`CompiledMapping`] then maps each
//! [`SourceRow`] to a [`Record`]; a row that cannot be mapped becomes a [`RowError`] naming the destination,
//! the mapping entry and the function at fault.
//!
//! Writing rules (shared with the built-in connector tables, so both paths produce the same records):
//! - a result that is `null` or an empty array writes nothing;
//! - an object written where an object already is merges into it (a key object built by one mapping keeps a
//!   `sourceID` copied by another);
//! - destinations under `personComponents.` fill the array's single element (one element per source).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

use rapport_model::{EntityKind, FieldPath, Record, RowError, RowErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::mapping::COMPONENT_ARRAYS;
use crate::prep::{self, Expression, ParseError, Placeholders};
use crate::SourceRow;

/// What a mapping's `source` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SourceType {
    /// A source field, copied as it is: a column name, or a dotted path into a nested value.
    Attribute,
    /// A Data Prep expression ([`prep`]).
    Expression,
    /// A literal string written on every row (placeholders such as `${CRM_ORG_ID}` are substituted).
    Constant,
}

/// One mapping: a source (field, expression or constant) and the XDM field it writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mapping {
    /// What `source` holds.
    pub source_type: SourceType,
    /// The source field, expression or constant.
    pub source: String,
    /// The XDM field path written (`workEmail.address`).
    pub destination: String,
    /// A note for readers of the file (auto-mapping writes its confidence here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Mapping {
    /// A field copy.
    pub fn attribute(source: impl Into<String>, destination: impl Into<String>) -> Self {
        Self {
            source_type: SourceType::Attribute,
            source: source.into(),
            destination: destination.into(),
            description: None,
        }
    }

    /// An expression.
    pub fn expression(source: impl Into<String>, destination: impl Into<String>) -> Self {
        Self {
            source_type: SourceType::Expression,
            source: source.into(),
            destination: destination.into(),
            description: None,
        }
    }

    /// A constant.
    pub fn constant(source: impl Into<String>, destination: impl Into<String>) -> Self {
        Self {
            source_type: SourceType::Constant,
            source: source.into(),
            destination: destination.into(),
            description: None,
        }
    }
}

/// A mapping set: which entity it produces and how each field is computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingSet {
    /// The XDM entity class the records belong to.
    pub entity: EntityKind,
    /// The schema name, when it is not the entity's standard one (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// A name for people reading the file (`Salesforce Contact`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Source fields that must be non-blank: a row where one is empty is rejected as `missing_id` (the
    /// record's id, from which its primary identity is built). They must be among the input's columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    /// The mappings, applied in order.
    pub mappings: Vec<Mapping>,
    /// The file the set was loaded from, to name in errors (not part of the file).
    #[serde(skip)]
    pub origin: Option<String>,
}

/// A mapping set that cannot be read or compiled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// The file cannot be read or written.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid mapping set.
    #[error("{file}: not a valid mapping set: {message}")]
    Format {
        /// The file.
        file: String,
        /// What is wrong, with line and column.
        message: String,
    },
    /// An expression does not parse (or names a placeholder that has no value).
    #[error("mapping {index} (→ {destination}):\n{}", indent(&error.render(text)))]
    Expression {
        /// The 1-based mapping entry.
        index: usize,
        /// Its source text (as parsed: an ATTRIBUTE or CONSTANT source is first written as an expression).
        text: String,
        /// Its destination.
        destination: String,
        /// The parse error, with its byte span in `source`.
        error: ParseError,
    },
    /// A mapping reads a field the input does not have.
    #[error("mapping {index} (→ {destination}) reads `{field}`, which the input does not have{}", hint(suggestion))]
    UnknownField {
        /// The 1-based mapping entry.
        index: usize,
        /// Its destination.
        destination: String,
        /// The missing field.
        field: String,
        /// The closest input column.
        suggestion: Option<String>,
    },
    /// A required field is not among the input's columns.
    #[error("the required field `{field}` is not in the input{}", hint(suggestion))]
    MissingRequired {
        /// The field.
        field: String,
        /// The closest input column.
        suggestion: Option<String>,
    },
    /// A destination is not a valid field path.
    #[error("mapping {index}: the destination `{destination}` is not a valid field path: {reason}")]
    BadDestination {
        /// The 1-based mapping entry.
        index: usize,
        /// The destination as written.
        destination: String,
        /// What is wrong.
        reason: String,
    },
}

/// `text` with each line indented by four spaces, to stand apart under the line that names it.
fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}")).collect::<Vec<_>>().join("\n")
}

fn hint(suggestion: &Option<String>) -> String {
    suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
}

/// What to do with mappings whose fields the input lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingFields {
    /// Refuse the mapping set ([`MappingError::UnknownField`]): for user mapping files.
    #[default]
    Error,
    /// Leave those mappings out ([`CompiledMapping::skipped`]): for the built-in templates, which list every
    /// column a system may export.
    Skip,
}

/// How to compile a mapping set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// Values of `${CRM_ORG_ID}`, `${MUNCHKIN_ID}`, `${CRM_TYPE}`.
    pub placeholders: Placeholders,
    /// What to do with mappings that read absent fields.
    pub missing_fields: MissingFields,
}

impl MappingSet {
    /// Reads a mapping set from JSON text; `file` names it in errors.
    pub fn from_json(text: &str, file: &str) -> Result<Self, MappingError> {
        // Editors on Windows may save the file with a byte order mark, which JSON does not allow.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut set: Self = serde_json::from_str(text)
            .map_err(|e| MappingError::Format { file: file.to_owned(), message: e.to_string() })?;
        set.origin = Some(file.to_owned());
        Ok(set)
    }

    /// The mapping set as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a mapping set is always serializable") + "\n"
    }

    /// Reads a mapping file.
    pub fn load(path: &Path) -> Result<Self, MappingError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| MappingError::Io { file: file.clone(), source })?;
        Self::from_json(&text, &file)
    }

    /// Writes the mapping set to `path`.
    pub fn save(&self, path: &Path) -> Result<(), MappingError> {
        std::fs::write(path, self.to_json())
            .map_err(|source| MappingError::Io { file: path.display().to_string(), source })
    }

    /// Binds the mapping set to an input with these columns.
    pub fn compile(&self, columns: &[String], options: &CompileOptions) -> Result<CompiledMapping, MappingError> {
        let binder = Binder::new(columns);
        let mut required = Vec::new();
        for field in &self.required {
            let column = binder.resolve(field).ok_or_else(|| MappingError::MissingRequired {
                field: field.clone(),
                suggestion: binder.suggest(field),
            })?;
            required.push(column.to_owned());
        }

        let mut steps = Vec::with_capacity(self.mappings.len());
        let mut skipped = Vec::new();
        'mappings: for (at, mapping) in self.mappings.iter().enumerate() {
            let index = at + 1;
            let destination = FieldPath::parse(&mapping.destination).map_err(|e| MappingError::BadDestination {
                index,
                destination: mapping.destination.clone(),
                reason: match e {
                    rapport_model::Error::InvalidPath { reason, .. } => reason.to_owned(),
                    other => other.to_string(),
                },
            })?;
            let expression_error = |error: ParseError, text: &str| MappingError::Expression {
                index,
                text: text.to_owned(),
                destination: mapping.destination.clone(),
                error,
            };
            let source = match mapping.source_type {
                SourceType::Constant => {
                    let literal = prep::string_literal(&mapping.source);
                    let mut expression = Expression::parse(&literal).map_err(|e| expression_error(e, &literal))?;
                    expression.substitute(&options.placeholders).map_err(|e| expression_error(e, &literal))?;
                    let value = expression.eval(&Map::new()).unwrap_or(Value::Null);
                    Source::Constant(value)
                }
                SourceType::Attribute | SourceType::Expression => {
                    let text = match mapping.source_type {
                        SourceType::Attribute => attribute_expression(&mapping.source, &binder),
                        _ => mapping.source.clone(),
                    };
                    let mut expression = Expression::parse(&text).map_err(|e| expression_error(e, &text))?;
                    if mapping.source_type == SourceType::Attribute && expression.fields().len() != 1 {
                        return Err(expression_error(
                            ParseError {
                                span: prep::Span { start: 0, end: text.len() },
                                message: "an ATTRIBUTE source is one field; use EXPRESSION for anything else".into(),
                            },
                            &text,
                        ));
                    }
                    expression.substitute(&options.placeholders).map_err(|e| expression_error(e, &text))?;
                    let mut reads = Vec::new();
                    for reference in expression.fields() {
                        let name = &reference.path[0];
                        match binder.resolve(name) {
                            Some(column) => {
                                if column != name {
                                    expression.rename_field(name, column);
                                }
                                if !reads.contains(&column.to_owned()) {
                                    reads.push(column.to_owned());
                                }
                            }
                            None if options.missing_fields == MissingFields::Skip => {
                                skipped.push(SkippedMapping { index, mapping: mapping.clone(), field: name.clone() });
                                continue 'mappings;
                            }
                            None => {
                                return Err(MappingError::UnknownField {
                                    index,
                                    destination: mapping.destination.clone(),
                                    field: name.clone(),
                                    suggestion: binder.suggest(name),
                                })
                            }
                        }
                    }
                    Source::Expression { expression, reads }
                }
            };
            steps.push(Step { index, destination, source });
        }

        let mut used: Vec<&str> = required.iter().map(String::as_str).collect();
        for step in &steps {
            if let Source::Expression { reads, .. } = &step.source {
                used.extend(reads.iter().map(String::as_str));
            }
        }
        let unmapped_fields: Vec<String> = columns.iter().filter(|c| !used.contains(&c.as_str())).cloned().collect();
        // How each field is read: the input's columns (unread unless a mapping reads them), then what the
        // mappings read, whole or only at some paths inside (`address.city`).
        let mut uses: HashMap<String, ColumnUse> =
            columns.iter().map(|c| (c.clone(), ColumnUse::Inside(Vec::new()))).collect();
        for name in &required {
            uses.insert(name.clone(), ColumnUse::Whole);
        }
        for step in &steps {
            if let Source::Expression { expression, .. } = &step.source {
                for reference in expression.fields() {
                    let Some((column, inside)) = reference.path.split_first() else { continue };
                    let entry = uses.entry(column.clone()).or_insert(ColumnUse::Inside(Vec::new()));
                    match entry {
                        ColumnUse::Inside(paths) if !inside.is_empty() => paths.push(inside.to_vec()),
                        _ => *entry = ColumnUse::Whole,
                    }
                }
            }
        }
        Ok(CompiledMapping { entity: self.entity, required, steps, skipped, unmapped_fields, uses })
    }
}

/// An ATTRIBUTE source as an expression: the whole name when it is a column (`sfdc.crmId`), else a dotted
/// path whose first segment is the column (`name.firstName`).
fn attribute_expression(source: &str, binder: &Binder<'_>) -> String {
    if binder.resolve(source).is_some() || !source.contains('.') {
        return prep::field_reference(source);
    }
    source.split('.').map(prep::field_reference).collect::<Vec<_>>().join(".")
}

/// Resolves names to the input's columns: exactly, else case-insensitively when that is unambiguous.
struct Binder<'a> {
    columns: &'a [String],
    folded: HashMap<String, Option<&'a str>>,
}

impl<'a> Binder<'a> {
    fn new(columns: &'a [String]) -> Self {
        let mut folded: HashMap<String, Option<&'a str>> = HashMap::new();
        for column in columns {
            folded.entry(column.trim().to_lowercase()).and_modify(|slot| *slot = None).or_insert(Some(column.as_str()));
        }
        Self { columns, folded }
    }

    fn resolve(&self, name: &str) -> Option<&'a str> {
        if let Some(column) = self.columns.iter().find(|c| *c == name) {
            return Some(column.as_str());
        }
        self.folded.get(&name.trim().to_lowercase()).copied().flatten()
    }

    fn suggest(&self, name: &str) -> Option<String> {
        self.columns
            .iter()
            .map(|c| (strsim::jaro_winkler(&name.to_lowercase(), &c.to_lowercase()), c))
            .filter(|(score, _)| *score >= 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, c)| c.clone())
    }
}

/// A mapping left out because the input lacks a field it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedMapping {
    /// The 1-based mapping entry.
    pub index: usize,
    /// The mapping.
    pub mapping: Mapping,
    /// The absent field.
    pub field: String,
}

enum Source {
    Constant(Value),
    Expression { expression: Expression, reads: Vec<String> },
}

struct Step {
    index: usize,
    destination: FieldPath,
    source: Source,
}

/// A mapping set bound to one input's columns.
pub struct CompiledMapping {
    entity: EntityKind,
    required: Vec<String>,
    steps: Vec<Step>,
    skipped: Vec<SkippedMapping>,
    unmapped_fields: Vec<String>,
    /// How each field the input had when the mapping was compiled, or a mapping reads, is read.
    uses: HashMap<String, ColumnUse>,
}

/// How a mapping reads one input field.
#[derive(Debug)]
enum ColumnUse {
    /// As a whole value.
    Whole,
    /// Only at these paths inside it (none: not at all, listed in the compiled mapping's unmapped fields).
    Inside(Vec<Vec<String>>),
}

impl fmt::Debug for CompiledMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledMapping")
            .field("entity", &self.entity)
            .field("mappings", &self.steps.len())
            .field("skipped", &self.skipped.len())
            .field("unmapped_fields", &self.unmapped_fields)
            .finish()
    }
}

impl CompiledMapping {
    /// The entity the records belong to.
    pub fn entity(&self) -> EntityKind {
        self.entity
    }

    /// Input columns no mapping reads, in input order: custom fields the user may want to map.
    pub fn unmapped_fields(&self) -> &[String] {
        &self.unmapped_fields
    }

    /// Fields of `fields` (a row) that no mapping reads and that [`CompiledMapping::unmapped_fields`] does not
    /// list, added to `out` as dotted paths: keys first seen after the columns were taken (JSON inputs bind to
    /// the keys of their first rows), and keys inside an object column of which the mapping reads only some
    /// paths (`address.zip` when it reads `address.city`).
    pub fn unmapped_in(&self, fields: &Map<String, Value>, out: &mut BTreeSet<String>) {
        for (key, value) in fields {
            match self.uses.get(key) {
                None if !out.contains(key) => {
                    out.insert(key.clone());
                }
                Some(ColumnUse::Inside(paths)) if !paths.is_empty() => {
                    let paths: Vec<&[String]> = paths.iter().map(Vec::as_slice).collect();
                    unread_inside(key, value, &paths, out);
                }
                _ => {}
            }
        }
    }

    /// Whether a mapping reads the value at `path` (a field, then keys and indices inside it), or a value
    /// inside it or holding it.
    pub fn reads(&self, path: &[String]) -> bool {
        let Some((field, inside)) = path.split_first() else { return false };
        match self.uses.get(field) {
            Some(ColumnUse::Whole) => true,
            Some(ColumnUse::Inside(paths)) => {
                paths.iter().any(|read| read.starts_with(inside) || inside.starts_with(read))
            }
            None => false,
        }
    }

    /// Mappings left out because the input lacks a field ([`MissingFields::Skip`] only).
    pub fn skipped(&self) -> &[SkippedMapping] {
        &self.skipped
    }

    /// The destinations written, in mapping order, without repeats.
    pub fn destinations(&self) -> Vec<&FieldPath> {
        let mut out: Vec<&FieldPath> = Vec::new();
        for step in &self.steps {
            if !out.contains(&&step.destination) {
                out.push(&step.destination);
            }
        }
        out
    }

    /// Maps one row. `file` names the input in the error.
    pub fn map_row(&self, row: &SourceRow, file: &str) -> Result<Record, RowError> {
        let reject = |field: String, code, message| RowError {
            file: file.to_owned(),
            line: row.line,
            offset: row.offset,
            field: Some(field),
            code,
            message,
        };
        if let Some(fault) = row.faults.iter().find(|fault| self.reads(&fault.path)) {
            return Err(reject(fault.path.join("."), fault.code, fault.message.clone()));
        }
        for field in &self.required {
            let blank = match row.fields.get(field) {
                None | Some(Value::Null) => true,
                Some(Value::String(text)) => text.trim().is_empty(),
                Some(_) => false,
            };
            if blank {
                return Err(reject(
                    field.clone(),
                    RowErrorCode::MissingId,
                    format!("the required field `{field}` is empty, so the record has no primary identity"),
                ));
            }
        }

        let mut record = Record::new();
        for step in &self.steps {
            let value = match &step.source {
                Source::Constant(value) => value.clone(),
                Source::Expression { expression, .. } => expression.eval(&row.fields).map_err(|err| {
                    reject(
                        step.destination.to_string(),
                        err.code,
                        format!("mapping {} ({}): {err}", step.index, expression.text()),
                    )
                })?,
            };
            let empty = match &value {
                Value::Null => true,
                Value::Array(items) => items.is_empty(),
                _ => false,
            };
            if !empty {
                write(&mut record, step.destination.segments(), value);
            }
        }

        for field in COMPONENT_ARRAYS {
            if let Some(slot) = record.get_mut(field) {
                if slot.is_object() {
                    *slot = Value::Array(vec![slot.take()]);
                }
            }
        }
        Ok(record)
    }
}

/// Writes `value` at `segments`, creating objects on the way and merging an object into an object.
fn write(record: &mut Record, segments: &[String], value: Value) {
    let Some((last, parents)) = segments.split_last() else { return };
    let mut current = record;
    for segment in parents {
        let slot = current.entry(segment.clone()).or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        current = match slot {
            Value::Object(map) => map,
            _ => unreachable!("slot was just made an object"),
        };
    }
    match (current.get_mut(last), value) {
        (Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new),
        (_, value) => {
            current.insert(last.clone(), value);
        }
    }
}

#[cfg(test)]
mod tests;

/// Adds to `out` the leaves of `value` (at dotted path `at`) that none of `paths` (paths inside it) reads; an
/// empty path reads all of it.
fn unread_inside(at: &str, value: &Value, paths: &[&[String]], out: &mut BTreeSet<String>) {
    if paths.iter().any(|p| p.is_empty()) {
        return;
    }
    let Value::Object(object) = value else { return };
    for (key, inner) in object {
        let deeper: Vec<&[String]> = paths.iter().filter(|p| &p[0] == key).map(|p| &p[1..]).collect();
        if deeper.is_empty() {
            let path = format!("{at}.{key}");
            if !out.contains(&path) {
                out.insert(path);
            }
        } else {
            unread_inside(&format!("{at}.{key}"), inner, &deeper, out);
        }
    }
}
