//! Record validation against a schema: every error of a record, each with its field path and rule.

use std::fmt;

use rapport_model::{FieldPath, Record};
use serde::Serialize;
use serde_json::Value;

use crate::b2b::Schema;
use crate::library::{FieldType, Format};

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

/// Validates `record` against `schema`, returning every error found (empty when valid).
pub fn validate(schema: &Schema, record: &Record) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let primary = &schema.primary().path;
    match primary.get(record) {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => errors.push(ValidationError {
            path: primary.to_string(),
            rule: ValidationRule::Required,
            message: "the primary identity is missing or empty".to_owned(),
        }),
    }
    for (key, value) in record {
        let path = FieldPath::from_segments([key.as_str()]);
        check(schema, &path, key, value, &mut errors);
    }
    errors
}

fn check(schema: &Schema, path: &FieldPath, shown: &str, value: &Value, errors: &mut Vec<ValidationError>) {
    if value.is_null() {
        return;
    }
    let Some(field) = schema.field(path) else {
        let hint = schema.suggest(&path.to_string()).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
        errors.push(ValidationError {
            path: shown.to_owned(),
            rule: ValidationRule::UnknownField,
            message: format!("`{path}` is not a field of schema {}{hint}", schema.name),
        });
        return;
    };
    check_value(schema, path, &field.ty, field.format, field.allowed.as_deref(), shown, value, errors);
}

#[allow(clippy::too_many_arguments)]
fn check_value(
    schema: &Schema,
    path: &FieldPath,
    ty: &FieldType,
    format: Option<Format>,
    allowed: Option<&[Value]>,
    shown: &str,
    value: &Value,
    errors: &mut Vec<ValidationError>,
) {
    let mut fail = |rule, message: String| errors.push(ValidationError { path: shown.to_owned(), rule, message });
    match (ty, value) {
        (_, Value::Null) => {}
        (FieldType::Object, Value::Object(map)) => {
            for (key, child) in map {
                check(schema, &path.child(key), &format!("{shown}.{key}"), child, errors);
            }
        }
        (FieldType::Map, Value::Object(_)) => {}
        (FieldType::Array(item), Value::Array(items)) => {
            for (i, element) in items.iter().enumerate() {
                let shown = format!("{shown}[{i}]");
                if let (FieldType::Object, Value::Object(map)) = (item.as_ref(), element) {
                    for (key, child) in map {
                        check(schema, &path.child(key), &format!("{shown}.{key}"), child, errors);
                    }
                } else {
                    check_value(schema, path, item, format, allowed, &shown, element, errors);
                }
            }
        }
        (FieldType::String, Value::String(s)) => {
            if format == Some(Format::Email) && !is_email(s) {
                fail(ValidationRule::Format, format!("\"{s}\" is not an email address"));
            } else if let Some(allowed) = allowed {
                if !allowed.contains(value) {
                    fail(ValidationRule::Enum, format!("\"{s}\" is not one of {}", Value::from(allowed.to_vec())));
                }
            }
        }
        (FieldType::Date, Value::String(s)) => {
            if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() {
                fail(ValidationRule::Format, format!("\"{s}\" is not a date (YYYY-MM-DD)"));
            }
        }
        (FieldType::DateTime, Value::String(s)) => {
            if chrono::DateTime::parse_from_rfc3339(s).is_err() {
                fail(ValidationRule::Format, format!("\"{s}\" is not an RFC 3339 date-time"));
            }
        }
        (FieldType::Number, Value::Number(_)) | (FieldType::Boolean, Value::Bool(_)) => {}
        (FieldType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        (expected, _) => fail(ValidationRule::Type, format!("expected {expected}, found {}", json_type(value))),
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
}
