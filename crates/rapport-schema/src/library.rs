//! The standard XDM field library: classes and field groups as flat lists of typed field paths.
//!
//! The data lives in `library/xdm-fields.json` (Rapport's own format), produced from the XDM JSON Schemas
//! by `scripts/derive-field-library.py` so that every path and type matches XDM exactly. A test re-derives
//! the paths from `../shared/reference/xdm` when that folder is present.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use rapport_model::FieldPath;
use serde::Deserialize;

use crate::{Error, Result};

const LIBRARY_JSON: &str = include_str!("../library/xdm-fields.json");

/// The type of a field, as XDM declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    /// A string (possibly with a [`Format`]).
    String,
    /// A floating-point number.
    Number,
    /// An integer (XDM `integer`, `int`, `long`, `short`, `byte`).
    Integer,
    /// A boolean.
    Boolean,
    /// A calendar date `YYYY-MM-DD`.
    Date,
    /// An RFC 3339 date-time.
    DateTime,
    /// An object whose fields are listed separately.
    Object,
    /// A map from string keys to values.
    Map,
    /// An array of the given item type.
    Array(Box<FieldType>),
}

impl FieldType {
    fn parse(text: &str) -> Result<Self> {
        if let Some(item) = text.strip_prefix("array<").and_then(|rest| rest.strip_suffix('>')) {
            return Ok(FieldType::Array(Box::new(FieldType::parse(item)?)));
        }
        Ok(match text {
            "string" => FieldType::String,
            "number" => FieldType::Number,
            "integer" | "int" | "long" | "short" | "byte" => FieldType::Integer,
            "boolean" => FieldType::Boolean,
            "date" => FieldType::Date,
            "date-time" => FieldType::DateTime,
            "object" => FieldType::Object,
            "map" => FieldType::Map,
            other => return Err(Error::Library(format!("unknown field type `{other}`"))),
        })
    }

    /// True for types whose values are JSON scalars.
    pub fn is_scalar(&self) -> bool {
        !matches!(self, FieldType::Object | FieldType::Map | FieldType::Array(_))
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldType::String => f.write_str("string"),
            FieldType::Number => f.write_str("number"),
            FieldType::Integer => f.write_str("integer"),
            FieldType::Boolean => f.write_str("boolean"),
            FieldType::Date => f.write_str("date"),
            FieldType::DateTime => f.write_str("date-time"),
            FieldType::Object => f.write_str("object"),
            FieldType::Map => f.write_str("map"),
            FieldType::Array(item) => write!(f, "array<{item}>"),
        }
    }
}

/// A string format XDM declares on a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An email address.
    Email,
    /// A URI or URI reference.
    Uri,
    /// Any other format, not checked.
    Other,
}

/// One field of a class or field group.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    /// The path, without the `xdm:` prefix.
    pub path: FieldPath,
    /// The declared type (`date` and `date-time` string formats become their own types).
    pub ty: FieldType,
    /// The declared string format, when one is checked.
    pub format: Option<Format>,
    /// Allowed values, when the field is an enum.
    pub allowed: Option<Vec<serde_json::Value>>,
    /// Value constraints (JSON Schema `minimum`, `maximum`, `minLength`, `maxLength`, `pattern`).
    pub constraints: Constraints,
}

/// JSON Schema value constraints of a field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Constraints {
    /// Smallest allowed number.
    pub minimum: Option<f64>,
    /// Largest allowed number.
    pub maximum: Option<f64>,
    /// Fewest allowed characters.
    pub min_length: Option<u64>,
    /// Most allowed characters.
    pub max_length: Option<u64>,
    /// A regular expression the string must match (recorded; not checked yet).
    pub pattern: Option<String>,
}

/// A class or field group of the library.
#[derive(Debug, Clone)]
pub struct Group {
    /// The XDM `$id`.
    pub id: String,
    /// The XDM title.
    pub title: String,
    /// True for classes, false for field groups.
    pub is_class: bool,
    /// For a field group, the classes it may be added to (empty: any).
    pub intended_to_extend: Vec<String>,
    /// Fields that must be present whenever their parent object is (JSON Schema `required`).
    pub required: Vec<FieldPath>,
    /// The fields.
    pub fields: Vec<FieldDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    title: String,
    kind: String,
    /// Classes a class extends (behaviors); read to accept the document, not used.
    #[serde(default, rename = "extends")]
    _extends: Vec<String>,
    #[serde(default, rename = "intendedToExtend")]
    intended_to_extend: Vec<String>,
    #[serde(default)]
    required: Vec<String>,
    fields: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    path: String,
    #[serde(rename = "type")]
    ty: String,
    format: Option<String>,
    #[serde(rename = "enum")]
    allowed: Option<Vec<serde_json::Value>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    #[serde(rename = "minLength")]
    min_length: Option<u64>,
    #[serde(rename = "maxLength")]
    max_length: Option<u64>,
    pattern: Option<String>,
}

/// The standard library of classes and field groups, keyed by `$id`.
pub fn groups() -> &'static BTreeMap<String, Group> {
    static GROUPS: OnceLock<BTreeMap<String, Group>> = OnceLock::new();
    GROUPS.get_or_init(|| load(LIBRARY_JSON).expect("the embedded field library is checked by tests"))
}

/// The class or field group with this `$id`.
pub fn group(id: &str) -> Option<&'static Group> {
    groups().get(id)
}

fn load(text: &str) -> Result<BTreeMap<String, Group>> {
    let raw: BTreeMap<String, RawGroup> = serde_json::from_str(text).map_err(|e| Error::Library(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (id, group) in raw {
        out.insert(id.clone(), build_group(id, group)?);
    }
    Ok(out)
}

/// Reads a group stored in the library's own JSON form (`{"title", "kind", "fields": [{"path", "type", …}]}`).
pub fn group_from_json(id: &str, value: &serde_json::Value) -> Result<Group> {
    let raw: RawGroup = serde_json::from_value(value.clone()).map_err(|e| Error::Library(e.to_string()))?;
    build_group(id.to_owned(), raw)
}

/// Writes a group in the library's own JSON form; [`group_from_json`] reads it back.
pub fn group_to_json(group: &Group) -> serde_json::Value {
    let fields: Vec<serde_json::Value> = group
        .fields
        .iter()
        .map(|f| {
            let mut out = serde_json::Map::new();
            out.insert("path".into(), f.path.to_string().into());
            let (ty, format) = match (&f.ty, f.format) {
                (FieldType::Date, _) => ("string".to_owned(), Some("date")),
                (FieldType::DateTime, _) => ("string".to_owned(), Some("date-time")),
                (ty, Some(Format::Email)) => (ty.to_string(), Some("email")),
                (ty, Some(Format::Uri)) => (ty.to_string(), Some("uri")),
                (ty, _) => (ty.to_string(), None),
            };
            out.insert("type".into(), ty.into());
            if let Some(format) = format {
                out.insert("format".into(), format.into());
            }
            if let Some(allowed) = &f.allowed {
                out.insert("enum".into(), allowed.clone().into());
            }
            let c = &f.constraints;
            let numbers = [("minimum", c.minimum), ("maximum", c.maximum)];
            for (key, value) in numbers {
                if let Some(v) = value.and_then(serde_json::Number::from_f64) {
                    out.insert(key.into(), serde_json::Value::Number(v));
                }
            }
            for (key, value) in [("minLength", c.min_length), ("maxLength", c.max_length)] {
                if let Some(v) = value {
                    out.insert(key.into(), v.into());
                }
            }
            if let Some(pattern) = &c.pattern {
                out.insert("pattern".into(), pattern.clone().into());
            }
            serde_json::Value::Object(out)
        })
        .collect();
    serde_json::json!({
        "title": group.title,
        "kind": if group.is_class { "class" } else { "fieldgroup" },
        "intendedToExtend": group.intended_to_extend,
        "fields": fields,
        "required": group.required.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn build_group(id: String, group: RawGroup) -> Result<Group> {
    {
        let mut fields = Vec::with_capacity(group.fields.len());
        for field in group.fields {
            // Keys such as `https://ns.adobe.com/xdm/channels/email` (legacy opt-in maps) are not addressable paths.
            if field.path.contains("://") {
                continue;
            }
            let Ok(path) = FieldPath::parse(&field.path) else { continue };
            let mut ty = FieldType::parse(&field.ty)?;
            let mut format = None;
            match (field.format.as_deref(), &ty) {
                (Some("date"), FieldType::String) => ty = FieldType::Date,
                (Some("date-time"), FieldType::String) => ty = FieldType::DateTime,
                (Some("email"), _) => format = Some(Format::Email),
                (Some("uri" | "uri-reference"), _) => format = Some(Format::Uri),
                (Some(_), _) => format = Some(Format::Other),
                (None, _) => {}
            }
            let constraints = Constraints {
                minimum: field.minimum,
                maximum: field.maximum,
                min_length: field.min_length,
                max_length: field.max_length,
                pattern: field.pattern,
            };
            fields.push(FieldDef { path, ty, format, allowed: field.allowed, constraints });
        }
        let required = group.required.iter().filter_map(|p| FieldPath::parse(p).ok()).collect();
        Ok(Group {
            id,
            title: group.title,
            is_class: group.kind == "class",
            intended_to_extend: group.intended_to_extend,
            required,
            fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_library_loads_with_the_b2b_classes() {
        let person = group("https://ns.adobe.com/xdm/mixins/b2b-person-details").expect("person details");
        let departments = person
            .fields
            .iter()
            .find(|f| f.path.to_string() == "extendedWorkDetails.departments")
            .expect("departments field");
        assert_eq!(departments.ty, FieldType::Array(Box::new(FieldType::String)));
        let opportunity = group("https://ns.adobe.com/xdm/mixins/opportunity-details").expect("opportunity details");
        let close = opportunity.fields.iter().find(|f| f.path.to_string() == "expectedCloseDate").expect("close date");
        assert_eq!(close.ty, FieldType::Date);
        assert!(group("https://ns.adobe.com/xdm/context/account").expect("account").is_class);
    }
}
