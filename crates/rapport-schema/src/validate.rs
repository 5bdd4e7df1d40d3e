//! Record validation against a schema: every error of a record, each with its field path and rule.

use std::fmt;

use rapport_model::Record;
use serde::Serialize;
use serde_json::Value;

use crate::b2b::{FieldNode, Schema};
use crate::library::{FieldDef, FieldType, Format};

/// The rule a value broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationRule {
    /// The field is not part of the schema.
    UnknownField,
    /// The value's JSON type does not match the field type.
    Type,
    /// The string is not in the declared format (email, date, date-time).
    Format,
    /// The value is not one of the enum's values.
    Enum,
    /// A required field (the primary identity) is missing or empty.
    Required,
    /// A number is outside the field's minimum / maximum.
    Range,
    /// A string is shorter or longer than the field allows.
    Length,
}

impl ValidationRule {
    /// The snake_case name of the rule.
    pub fn name(self) -> &'static str {
        match self {
            ValidationRule::UnknownField => "unknown_field",
            ValidationRule::Type => "type",
            ValidationRule::Format => "format",
            ValidationRule::Enum => "enum",
            ValidationRule::Required => "required",
            ValidationRule::Range => "range",
            ValidationRule::Length => "length",
        }
    }
}

/// One validation error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationError {
    /// The JSON path of the offending value (array elements as `[i]`).
    pub path: String,
    /// The rule it broke.
    pub rule: ValidationRule,
    /// A human-readable explanation naming the expected form.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.path, self.message, self.rule.name())
    }
}

/// A step of the path to the value being checked; the text path is only built when an error is reported.
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn path_text(steps: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Step::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// The field path (array indices dropped) of the steps, for schema suggestions.
fn field_text(steps: &[Step<'_>]) -> String {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Key(k) => Some(*k),
            Step::Index(_) => None,
        })
        .collect::<Vec<_>>()
        .join(".")
}

struct Checker<'s> {
    schema: &'s Schema,
    errors: Vec<ValidationError>,
    /// Whether the walk met a non-empty value at the primary identity field (checking it during the walk
    /// saves a second descent into the record).
    primary_seen: bool,
}

impl<'s> Checker<'s> {
    fn fail(&mut self, steps: &[Step<'_>], rule: ValidationRule, message: String) {
        self.errors.push(ValidationError { path: path_text(steps), rule, message });
    }

    fn object<'r>(&mut self, node: &'s FieldNode, map: &'r Record, steps: &mut Vec<Step<'r>>) {
        for (key, value) in map {
            if value.is_null() {
                continue;
            }
            steps.push(Step::Key(key));
            match node.child(key) {
                Some(child) => self.field(child, value, steps),
                None => {
                    let field = field_text(steps);
                    let hint =
                        self.schema.suggest(&field).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
                    let message = format!("`{field}` is not a field of schema {}{hint}", self.schema.name);
                    self.fail(steps, ValidationRule::UnknownField, message);
                }
            }
            steps.pop();
        }
    }

    fn field<'r>(&mut self, node: &'s FieldNode, value: &'r Value, steps: &mut Vec<Step<'r>>) {
        if node.is_primary {
            if let Value::String(s) = value {
                self.primary_seen |= !s.trim().is_empty();
            }
        }
        match (&node.def, value) {
            (Some(def), _) => self.value(node, def, &def.ty, value, steps),
            // A namespace object with no declaration of its own (`_schema` in `homeAddress._schema.latitude`).
            (None, Value::Object(map)) => self.object(node, map, steps),
            (None, _) => self.fail(steps, ValidationRule::Type, format!("expected object, found {}", json_type(value))),
        }
    }

    fn value<'r>(
        &mut self,
        node: &'s FieldNode,
        def: &'s FieldDef,
        ty: &'s FieldType,
        value: &'r Value,
        steps: &mut Vec<Step<'r>>,
    ) {
        match (ty, value) {
            (_, Value::Null) => {}
            (FieldType::Object, Value::Object(map)) => self.object(node, map, steps),
            (FieldType::Map, Value::Object(_)) => {}
            (FieldType::Array(item), Value::Array(items)) => {
                for (i, element) in items.iter().enumerate() {
                    steps.push(Step::Index(i));
                    match (item.as_ref(), element) {
                        (FieldType::Object, Value::Object(map)) => self.object(node, map, steps),
                        (item, element) => self.value(node, def, item, element, steps),
                    }
                    steps.pop();
                }
            }
            (FieldType::String, Value::String(s)) => self.string(def, s, value, steps),
            (FieldType::Date, Value::String(s)) => {
                if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() {
                    self.fail(steps, ValidationRule::Format, format!("\"{s}\" is not a date (YYYY-MM-DD)"));
                }
            }
            (FieldType::DateTime, Value::String(s)) => {
                use chrono::Datelike;
                match chrono::DateTime::parse_from_rfc3339(s) {
                    Err(_) => self.fail(steps, ValidationRule::Format, format!("\"{s}\" is not an RFC 3339 date-time")),
                    // Instants are stored and compared in UTC with a four-digit year: an offset must not carry
                    // one past 9999 (or before 0000).
                    Ok(t) if !(0..=9999).contains(&t.to_utc().year()) => self.fail(
                        steps,
                        ValidationRule::Format,
                        format!("\"{s}\" is outside the years 0000 to 9999 in UTC"),
                    ),
                    Ok(_) => {}
                }
            }
            (FieldType::Number, Value::Number(n)) => self.range(def, n.as_f64(), steps),
            (FieldType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => self.range(def, n.as_f64(), steps),
            (FieldType::Boolean, Value::Bool(_)) => {}
            (expected, _) => {
                self.fail(steps, ValidationRule::Type, format!("expected {expected}, found {}", json_type(value)))
            }
        }
    }

    fn string(&mut self, def: &FieldDef, s: &str, value: &Value, steps: &[Step<'_>]) {
        match def.format {
            Some(Format::Email) if !is_email(s) => {
                return self.fail(steps, ValidationRule::Format, format!("\"{s}\" is not an email address"));
            }
            Some(Format::Uri) if !is_uri(s) => {
                return self.fail(steps, ValidationRule::Format, format!("\"{s}\" is not a URI"));
            }
            _ => {}
        }
        if let Some(allowed) = &def.allowed {
            if !allowed.contains(value) {
                let list = Value::from(allowed.clone());
                return self.fail(steps, ValidationRule::Enum, format!("\"{s}\" is not one of {list}"));
            }
        }
        let c = &def.constraints;
        if c.min_length.is_some() || c.max_length.is_some() {
            let len = s.chars().count() as u64;
            if c.min_length.is_some_and(|min| len < min) || c.max_length.is_some_and(|max| len > max) {
                let bounds = bounds(c.min_length.map(|v| v as f64), c.max_length.map(|v| v as f64));
                self.fail(steps, ValidationRule::Length, format!("{len} characters, expected {bounds}"));
            }
        }
    }

    fn range(&mut self, def: &FieldDef, n: Option<f64>, steps: &[Step<'_>]) {
        let (c, Some(n)) = (&def.constraints, n) else { return };
        if c.minimum.is_some_and(|min| n < min) || c.maximum.is_some_and(|max| n > max) {
            self.fail(
                steps,
                ValidationRule::Range,
                format!("{n} is out of range, expected {}", bounds(c.minimum, c.maximum)),
            );
        }
    }
}

fn bounds(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("between {a} and {b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "any".to_owned(),
    }
}

/// Validates `record` against `schema`, returning every error found (empty when valid): the primary identity
/// first, then the record's fields in key order.
pub fn validate(schema: &Schema, record: &Record) -> Vec<ValidationError> {
    let primary = &schema.primary().path;
    let mut checker = Checker { schema, errors: Vec::new(), primary_seen: false };
    let mut steps = Vec::with_capacity(8);
    checker.object(schema.tree(), record, &mut steps);
    if !checker.primary_seen {
        checker.errors.insert(
            0,
            ValidationError {
                path: primary.to_string(),
                rule: ValidationRule::Required,
                message: "the primary identity is missing or empty".to_owned(),
            },
        );
    }
    for path in schema.required() {
        if let Some((first, rest)) = path.segments().split_first() {
            steps.clear();
            required_in_object(&mut checker, record, first, rest, &mut steps);
        }
    }
    checker.errors
}

fn required_in_object<'r>(
    checker: &mut Checker<'_>,
    map: &'r Record,
    segment: &'r str,
    rest: &'r [String],
    steps: &mut Vec<Step<'r>>,
) {
    steps.push(Step::Key(segment));
    match (map.get(segment), rest.split_first()) {
        (None | Some(Value::Null), None) => {
            checker.fail(steps, ValidationRule::Required, "a required field is missing".to_owned())
        }
        (Some(child), Some((next, tail))) => required_in(checker, child, next, tail, steps),
        _ => {}
    }
    steps.pop();
}

/// Reports `segment` (then `rest`) missing below `value` wherever the parent object exists; arrays are checked
/// element by element.
fn required_in<'r>(
    checker: &mut Checker<'_>,
    value: &'r Value,
    segment: &'r str,
    rest: &'r [String],
    steps: &mut Vec<Step<'r>>,
) {
    match value {
        Value::Object(map) => required_in_object(checker, map, segment, rest, steps),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                steps.push(Step::Index(i));
                required_in(checker, item, segment, rest, steps);
                steps.pop();
            }
        }
        _ => {}
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A deliberately lenient check: surrounding white space is allowed (identity normalization trims it).
fn is_email(text: &str) -> bool {
    let text = text.trim();
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}

/// An absolute URI or a reference: no white space, and a scheme when a `:` comes before any `/`.
fn is_uri(text: &str) -> bool {
    if text.is_empty() || text.contains(char::is_whitespace) {
        return false;
    }
    match text.split_once(':') {
        Some((scheme, _)) if !scheme.contains('/') => {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::b2b::generate_b2b;
    use rapport_model::EntityKind;
    use serde_json::json;

    fn person() -> Schema {
        generate_b2b().for_entity(EntityKind::Person).unwrap().clone()
    }

    #[test]
    fn a_mapped_contact_is_valid() {
        let record = json!({
            "b2b": {"personKey": {"sourceType": "Salesforce", "sourceInstanceID": "org", "sourceID": "003", "sourceKey": "003@org.Salesforce"}},
            "workEmail": {"address": "  Jane.Doe@Acme.com "},
            "extendedWorkDetails": {"departments": ["Sales"], "jobTitle": "VP"},
            "personComponents": [{"sourceAccountKey": {"sourceKey": "001@org.Salesforce"}}],
            "extSourceSystemAudit": {"lastUpdatedDate": "2024-03-05T14:22:11.000Z"},
            "person": {"birthDate": "1980-02-29"}
        });
        assert_eq!(validate(&person(), record.as_object().unwrap()), vec![]);
    }

    #[test]
    fn reports_every_error_with_path_and_rule() {
        let record = json!({
            "workEmail": {"address": "not-an-email"},
            "extendedWorkDetails": {"departments": ["Sales", 7], "departmnt": "x"},
            "extSourceSystemAudit": {"lastUpdatedDate": "2024-02-30T10:00:00Z"},
            "person": {"gender": "robot"}
        });
        let errors = validate(&person(), record.as_object().unwrap());
        let got: Vec<_> = errors.iter().map(|e| (e.path.as_str(), e.rule)).collect();
        assert_eq!(
            got,
            vec![
                ("b2b.personKey.sourceKey", ValidationRule::Required),
                ("extSourceSystemAudit.lastUpdatedDate", ValidationRule::Format),
                ("extendedWorkDetails.departments[1]", ValidationRule::Type),
                ("extendedWorkDetails.departmnt", ValidationRule::UnknownField),
                ("person.gender", ValidationRule::Enum),
                ("workEmail.address", ValidationRule::Format),
            ],
            "the primary identity first, then fields in path order"
        );
        assert!(errors[3].message.contains("did you mean `extendedWorkDetails.departments`"), "{}", errors[3].message);
    }

    #[test]
    fn a_date_time_an_offset_carries_past_year_9999_is_refused() {
        let at = |time: &str| {
            let record = json!({
                "b2b": {"personKey": {"sourceKey": "k"}},
                "extSourceSystemAudit": {"lastUpdatedDate": time}
            });
            validate(&person(), record.as_object().unwrap()).into_iter().map(|e| e.message).collect::<Vec<_>>()
        };
        assert_eq!(at("9999-12-31T23:59:59.999Z"), Vec::<String>::new());
        assert_eq!(
            at("9999-12-31T23:30:00-01:00"),
            vec!["\"9999-12-31T23:30:00-01:00\" is outside the years 0000 to 9999 in UTC"]
        );
        assert_eq!(
            at("0000-01-01T00:30:00+01:00"),
            vec!["\"0000-01-01T00:30:00+01:00\" is outside the years 0000 to 9999 in UTC"]
        );
    }

    #[test]
    fn checks_ranges_lengths_uris_and_array_elements() {
        let record = json!({
            "b2b": {"personKey": {"sourceKey": "k"}},
            "homeAddress": {"_schema": {"latitude": 91.5, "longitude": -180}, "postOfficeBox": "123456789012345678901"},
            "mobilePhone": {"countryCode": ""},
            "person": {"birthYear": 0},
            "personComponents": [{"workEmail": {"address": "ok@acme.com"}}, {"workEmail": {"address": "nope"}}]
        });
        let errors = validate(&person(), record.as_object().unwrap());
        let got: Vec<_> = errors.iter().map(|e| (e.path.as_str(), e.rule)).collect();
        assert_eq!(
            got,
            vec![
                ("homeAddress._schema.latitude", ValidationRule::Range),
                ("homeAddress.postOfficeBox", ValidationRule::Length),
                ("mobilePhone.countryCode", ValidationRule::Length),
                ("person.birthYear", ValidationRule::Range),
                ("personComponents[1].workEmail.address", ValidationRule::Format),
            ]
        );
        assert_eq!(errors[0].message, "91.5 is out of range, expected between -90 and 90");
        assert_eq!(errors[1].message, "21 characters, expected at most 20");
        assert!(
            is_uri("https://acme.com/x?y=1") && is_uri("relative/path") && !is_uri("has space") && !is_uri("1http:x")
        );
    }

    #[test]
    fn required_fields_are_checked_where_their_parent_exists() {
        let record = json!({
            "b2b": {"personKey": {"sourceKey": "k"}},
            "consents": {"marketing": {"email": {"reason": "asked"}, "push": {"val": "y"}}}
        });
        let errors = validate(&person(), record.as_object().unwrap());
        let got: Vec<_> = errors.iter().map(|e| (e.path.as_str(), e.rule)).collect();
        assert_eq!(got, vec![("consents.marketing.email.val", ValidationRule::Required)]);
    }
}
