//! Rapport's shared vocabulary, used by every other crate.
//!
//! - [`FieldPath`]: a parsed, dot-separated XDM field path (`b2b.personKey.sourceKey`), with reads that
//!   flatten arrays on the way (`personComponents.sourceAccountKey.sourceKey` yields one value per element).
//! - [`Record`]: one XDM record as a JSON object (field names without the `xdm:` prefix, as in ingested data).
//! - [`EntityKind`]: the closed set of B2B entity classes Rapport knows.
//! - [`Identity`] and [`NamespaceCode`]: a fully qualified identity (namespace + normalized value).
//! - [`SourceSystem`]: the CRM / marketing systems and how their source keys are built.
//! - [`RowError`]: a rejected input row, naming the file, line, field and reason.
//! - [`json::large_integers`]: the integers of a JSON text that 64 bits cannot hold (serde_json rounds them).
//!
//! This crate depends on nothing internal; it must never learn about storage, HTTP or evaluation.

pub mod json;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An error's text followed by that of each of its causes not already at its end, joined by `: ` (a library's
/// error often says only its kind, such as "error deserializing column 2", the reason being its cause).
pub fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let part = inner.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = inner.source();
    }
    text
}

/// One XDM record: a JSON object whose keys are XDM field names without the `xdm:` prefix.
pub type Record = Map<String, Value>;

/// Errors of this crate: all of them are user input faults.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A field path string could not be parsed.
    #[error("invalid field path `{path}`: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An entity kind name was not recognised.
    #[error("unknown entity kind `{0}` (expected one of: {list})", list = EntityKind::names().join(", "))]
    UnknownEntity(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A parsed field path such as `extendedWorkDetails.departments`.
///
/// `[*]` after a segment (as in `personComponents[*].sourceAccountKey.sourceKey`) is accepted and dropped:
/// reads always flatten arrays, so the wildcard is implicit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FieldPath(Vec<String>);

impl FieldPath {
    /// Parses a dot-separated path.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidPath { path: text.to_owned(), reason };
        if text.is_empty() {
            return Err(invalid("the path is empty"));
        }
        let mut segments = Vec::new();
        for raw in text.split('.') {
            let segment = raw.strip_suffix("[*]").unwrap_or(raw);
            if segment.is_empty() {
                return Err(invalid("a segment is empty"));
            }
            if segment.contains(['[', ']', ' ']) {
                return Err(invalid("a segment holds `[`, `]` or a space"));
            }
            segments.push(segment.to_owned());
        }
        Ok(Self(segments))
    }

    /// Builds a path from segments known to be valid (non-empty names).
    pub fn from_segments<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(segments.into_iter().map(Into::into).collect())
    }

    /// The segments of the path.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// A new path with `segment` appended.
    pub fn child(&self, segment: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment.to_owned());
        Self(segments)
    }

    /// The single value at this path, if no array is crossed on the way and the value is present and non-null.
    pub fn get<'a>(&self, record: &'a Record) -> Option<&'a Value> {
        let (first, rest) = self.0.split_first()?;
        let mut current = record.get(first)?;
        for segment in rest {
            current = current.as_object()?.get(segment)?;
        }
        (!current.is_null()).then_some(current)
    }

    /// Every non-null value reachable at this path, flattening arrays met on the way and at the end.
    pub fn values<'a>(&self, record: &'a Record) -> Vec<&'a Value> {
        let mut out = Vec::new();
        if let Some((first, rest)) = self.0.split_first() {
            if let Some(value) = record.get(first) {
                collect_values(value, rest, &mut out);
            }
        }
        out
    }

    /// Writes `value` at this path, creating intermediate objects (and replacing non-objects in the way).
    pub fn set(&self, record: &mut Record, value: Value) {
        let Some((last, parents)) = self.0.split_last() else { return };
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
        current.insert(last.clone(), value);
    }
}

fn collect_values<'a>(value: &'a Value, rest: &[String], out: &mut Vec<&'a Value>) {
    match value {
        Value::Null => {}
        Value::Array(items) => items.iter().for_each(|item| collect_values(item, rest, out)),
        Value::Object(map) => match rest.split_first() {
            Some((segment, tail)) => {
                if let Some(next) = map.get(segment) {
                    collect_values(next, tail, out);
                }
            }
            None => out.push(value),
        },
        scalar => {
            if rest.is_empty() {
                out.push(scalar);
            }
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

impl FromStr for FieldPath {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl TryFrom<String> for FieldPath {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::parse(&value)
    }
}

impl From<FieldPath> for String {
    fn from(path: FieldPath) -> Self {
        path.to_string()
    }
}

/// A set of field paths to keep from records: everything else is dropped. Arrays are kept with each element
/// projected. Used to hold only what an audience reads, instead of whole records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    children: std::collections::BTreeMap<String, Projection>,
    /// True when the whole value at this node is kept.
    whole: bool,
}

impl Projection {
    /// A projection keeping `paths` (a path keeps everything below it).
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a FieldPath>) -> Self {
        let mut root = Projection::default();
        for path in paths {
            let mut node = &mut root;
            for segment in path.segments() {
                node = node.children.entry(segment.clone()).or_default();
            }
            node.whole = true;
        }
        root
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        !self.whole && self.children.is_empty()
    }

    /// The kept part of a record.
    pub fn apply(&self, record: &Record) -> Record {
        let mut out = Record::new();
        for (key, node) in &self.children {
            if let Some(value) = record.get(key).and_then(|v| node.value(v)) {
                out.insert(key.clone(), value);
            }
        }
        out
    }

    fn value(&self, value: &Value) -> Option<Value> {
        if self.whole {
            return Some(value.clone());
        }
        match value {
            Value::Object(map) => {
                let kept = self.apply(map);
                (!kept.is_empty()).then_some(Value::Object(kept))
            }
            Value::Array(items) => {
                let kept: Vec<Value> = items.iter().filter_map(|item| self.value(item)).collect();
                (!kept.is_empty()).then_some(Value::Array(kept))
            }
            _ => None,
        }
    }
}

/// The B2B entity classes Rapport models. Each has one standard schema ("B2B Person", ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// XDM Individual Profile with the B2B person field groups.
    Person,
    /// XDM Business Account.
    Account,
    /// XDM Business Opportunity.
    Opportunity,
    /// XDM Business Opportunity Person Relation.
    OpportunityPerson,
    /// XDM Business Account Person Relation.
    AccountPerson,
    /// XDM Business Campaign.
    Campaign,
    /// XDM Business Campaign Members.
    CampaignMember,
    /// XDM Business Marketing List.
    MarketingList,
    /// XDM Business Marketing List Members.
    MarketingListMember,
    /// XDM ExperienceEvent as the "B2B Activity" schema: time-series, linked to a person through
    /// `personKey.sourceKey`. Activities are appended, never merged into profiles, so this class is not in
    /// [`EntityKind::ALL`] (the record classes); see [`EntityKind::is_time_series`].
    Activity,
}

impl EntityKind {
    /// Every kind, in a stable order.
    pub const ALL: [EntityKind; 9] = [
        EntityKind::Person,
        EntityKind::Account,
        EntityKind::Opportunity,
        EntityKind::OpportunityPerson,
        EntityKind::AccountPerson,
        EntityKind::Campaign,
        EntityKind::CampaignMember,
        EntityKind::MarketingList,
        EntityKind::MarketingListMember,
    ];

    /// The snake_case name used in the store, the CLI and JSON.
    pub fn name(self) -> &'static str {
        match self {
            EntityKind::Person => "person",
            EntityKind::Account => "account",
            EntityKind::Opportunity => "opportunity",
            EntityKind::OpportunityPerson => "opportunity_person",
            EntityKind::AccountPerson => "account_person",
            EntityKind::Campaign => "campaign",
            EntityKind::CampaignMember => "campaign_member",
            EntityKind::MarketingList => "marketing_list",
            EntityKind::MarketingListMember => "marketing_list_member",
            EntityKind::Activity => "activity",
        }
    }

    /// True for the time-series class ([`EntityKind::Activity`]): its records are events of a person, appended
    /// rather than merged.
    pub fn is_time_series(self) -> bool {
        self == EntityKind::Activity
    }

    /// The names of every kind.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|kind| kind.name()).collect()
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EntityKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .chain([EntityKind::Activity])
            .find(|kind| kind.name() == s)
            .ok_or_else(|| Error::UnknownEntity(s.to_owned()))
    }
}

/// The code (identity symbol) of an identity namespace, e.g. `b2b_person` or `Email`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NamespaceCode(String);

impl NamespaceCode {
    /// Wraps a namespace code.
    pub fn new(code: impl Into<String>) -> Self {
        Self(code.into())
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NamespaceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fully qualified identity: namespace plus normalized value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identity {
    /// The namespace code.
    pub namespace: NamespaceCode,
    /// The value, already normalized by the namespace's rule.
    pub value: String,
}

impl Identity {
    /// Builds an identity from a namespace code and an already normalized value.
    pub fn new(namespace: impl Into<String>, value: impl Into<String>) -> Self {
        Self { namespace: NamespaceCode::new(namespace), value: value.into() }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.value)
    }
}

/// A source system whose records carry B2B source keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceSystem {
    /// Salesforce CRM.
    Salesforce,
    /// Microsoft Dynamics 365.
    Dynamics,
    /// Adobe Marketo Engage.
    Marketo,
}

impl SourceSystem {
    /// The `sourceType` literal the mappings write (`Salesforce`, `Dynamics`, `Marketo`).
    pub fn source_type(self) -> &'static str {
        match self {
            SourceSystem::Salesforce => "Salesforce",
            SourceSystem::Dynamics => "Dynamics",
            SourceSystem::Marketo => "Marketo",
        }
    }

    /// The lower-case name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SourceSystem::Salesforce => "salesforce",
            SourceSystem::Dynamics => "dynamics",
            SourceSystem::Marketo => "marketo",
        }
    }

    /// The globally unique source key `{id}@{instance}.{System}` used as identity value.
    pub fn source_key(self, id: &str, instance: &str) -> String {
        format!("{id}@{instance}.{}", self.source_type())
    }

    /// A whole B2B Source object (`sourceType`, `sourceInstanceID`, `sourceID`, `sourceKey`).
    pub fn key_object(self, id: &str, instance: &str) -> Value {
        let mut key = Map::new();
        key.insert("sourceType".into(), Value::from(self.source_type()));
        key.insert("sourceInstanceID".into(), Value::from(instance));
        key.insert("sourceID".into(), Value::from(id));
        key.insert("sourceKey".into(), Value::from(self.source_key(id, instance)));
        Value::Object(key)
    }
}

impl fmt::Display for SourceSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SourceSystem {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "salesforce" => Ok(SourceSystem::Salesforce),
            "dynamics" => Ok(SourceSystem::Dynamics),
            "marketo" => Ok(SourceSystem::Marketo),
            other => Err(format!("unknown source system `{other}` (expected salesforce, dynamics or marketo)")),
        }
    }
}

/// Why a row was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowErrorCode {
    /// The row could not be read as CSV (wrong field count, bad quoting, bad encoding).
    Unparsable,
    /// The record's id (and so its primary identity) is empty.
    MissingId,
    /// A date or date-time value is not in the system's format.
    BadDate,
    /// A number value does not parse.
    BadNumber,
    /// A boolean value is not one the system writes.
    BadBoolean,
    /// The mapped record fails schema validation.
    Invalid,
}

impl RowErrorCode {
    /// The snake_case name of the code.
    pub fn name(self) -> &'static str {
        match self {
            RowErrorCode::Unparsable => "unparsable",
            RowErrorCode::MissingId => "missing_id",
            RowErrorCode::BadDate => "bad_date",
            RowErrorCode::BadNumber => "bad_number",
            RowErrorCode::BadBoolean => "bad_boolean",
            RowErrorCode::Invalid => "invalid",
        }
    }
}

/// A value of an input row that could not be read as written: a JSON integer beyond 64 bits, which would be read
/// rounded, or a PostgreSQL date past the calendar's range. The row is read without it (the value is `null` or
/// not to be trusted); a mapping that reads it rejects the row with this fault, and one that does not loads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFault {
    /// Where the value is: the field, then keys and array indices inside it (`["extra", "ids", "1"]`).
    pub path: Vec<String>,
    /// The kind of fault, as a rejected row would carry it.
    pub code: RowErrorCode,
    /// Why, with the value's literal and where it is written when known.
    pub message: String,
}

/// A rejected input row: where it is and why it was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// The input file as the user named it.
    pub file: String,
    /// The 1-based line of the row in the file (the header is line 1); for inputs without lines (Parquet, a
    /// query result) the 1-based record number.
    pub line: u64,
    /// The byte offset in the file at which the row starts, when the input is read as bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The source column or target field at fault, when one is.
    pub field: Option<String>,
    /// The kind of fault.
    pub code: RowErrorCode,
    /// A human-readable message.
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(offset) = self.offset {
            write!(f, " (byte {offset})")?;
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{} ({})", self.message, self.code.name())
    }
}

/// A mapped record ready for validation and storage, remembering where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedRecord {
    /// The input file line of the source row.
    pub line: u64,
    /// The file offset of the source row's first byte, when the reader knows it.
    pub offset: Option<u64>,
    /// The XDM record.
    pub record: Record,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(value: Value) -> Record {
        value.as_object().cloned().expect("test records are objects")
    }

    #[test]
    fn parses_paths_and_drops_wildcards() {
        let path = FieldPath::parse("personComponents[*].sourceAccountKey.sourceKey").unwrap();
        assert_eq!(path.segments(), ["personComponents", "sourceAccountKey", "sourceKey"]);
        assert_eq!(path.to_string(), "personComponents.sourceAccountKey.sourceKey");
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse("").is_err());
        assert!(FieldPath::parse("a[0].b").is_err());
    }

    #[test]
    fn values_flatten_arrays_and_skip_nulls() {
        let rec = record(json!({
            "personComponents": [
                {"sourceAccountKey": {"sourceKey": "a@o.Salesforce"}},
                {"sourceAccountKey": null},
                {"sourceAccountKey": {"sourceKey": "b@o.Dynamics"}}
            ],
            "extendedWorkDetails": {"departments": ["Sales", "Ops"]}
        }));
        let keys = FieldPath::parse("personComponents.sourceAccountKey.sourceKey").unwrap();
        assert_eq!(keys.values(&rec), vec![&json!("a@o.Salesforce"), &json!("b@o.Dynamics")]);
        let departments = FieldPath::parse("extendedWorkDetails.departments").unwrap();
        assert_eq!(departments.values(&rec).len(), 2);
        assert_eq!(departments.get(&rec), Some(&json!(["Sales", "Ops"])));
        assert_eq!(keys.get(&rec), None, "get does not cross arrays");
    }

    #[test]
    fn set_creates_intermediate_objects() {
        let mut rec = Record::new();
        FieldPath::parse("b2b.personKey.sourceKey").unwrap().set(&mut rec, json!("k"));
        FieldPath::parse("b2b.personType").unwrap().set(&mut rec, json!("Contact"));
        assert_eq!(Value::Object(rec), json!({"b2b": {"personKey": {"sourceKey": "k"}, "personType": "Contact"}}));
    }

    #[test]
    fn projections_keep_only_the_named_paths_through_arrays() {
        let rec = record(json!({
            "extendedWorkDetails": {"departments": ["Sales"], "jobTitle": "VP"},
            "personComponents": [{"sourceAccountKey": {"sourceKey": "a", "sourceID": "1"}, "workEmail": {"address": "x"}}, {"workEmail": {}}],
            "person": {"name": {"firstName": "Jane"}}
        }));
        let paths = [
            FieldPath::parse("extendedWorkDetails.departments").unwrap(),
            FieldPath::parse("personComponents.sourceAccountKey.sourceKey").unwrap(),
            FieldPath::parse("missing.field").unwrap(),
        ];
        let projection = Projection::new(&paths);
        assert_eq!(
            Value::Object(projection.apply(&rec)),
            json!({"extendedWorkDetails": {"departments": ["Sales"]},
                   "personComponents": [{"sourceAccountKey": {"sourceKey": "a"}}]})
        );
        assert!(Projection::new(&[]).is_empty());
        assert_eq!(Projection::new(&[]).apply(&rec), Record::new());
    }

    #[test]
    fn source_keys_follow_the_documented_pattern() {
        assert_eq!(
            SourceSystem::Salesforce.source_key("0015g00000ABCdE", "00D4W000000FgYJUA0"),
            "0015g00000ABCdE@00D4W000000FgYJUA0.Salesforce"
        );
        assert_eq!(
            SourceSystem::Marketo.source_key("1234567.mkto_org", "123-ABC-456"),
            "1234567.mkto_org@123-ABC-456.Marketo"
        );
    }
}
