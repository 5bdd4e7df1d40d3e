//! The built-in connector tables rendered as mapping sets, written with the documented Data Prep expressions
//! (`shared/reference/B2B-DOMAIN.md` c.0): a starting point a user can save, edit and reuse.
//!
//! | Table rule | Rendered as |
//! | --- | --- |
//! | key quadruple on the id column | four rows: `"<System>"`, `"${...ID}"`, the id, `concat(id, "@${...ID}.<System>")` |
//! | key on another column (`*_REF_ID`, `DYN_REF`, `MK_REF`, `MK_ORG_REF`) | `iif(X != null && X != "", to_object(...), null)` |
//! | `SF_REF` | the same guarded object without `sourceID` |
//! | text copy | `ATTRIBUTE` |
//! | number / integer / boolean | `to_decimal(X)` / `to_integer(X)` / `to_boolean(X)` (Dynamics: yes/no decoded first) |
//! | date-time / date | `date(X, "<system pattern>")` / `format(date(X, ...), "yyyy-MM-dd")` |
//! | one-element list / split list | `to_array(false, X)` / `explode(X, ";")` |
//! | constant | `CONSTANT` |
//! | calculated fields | Dynamics `statecode` → `iif(...)`; Marketo `unsubscribed`, `unsubscribedReason`, `ecids` |
//!
//! The rendered set, evaluated by the interpreter, produces the same records as the built-in path on the
//! connector test files (tests/connectors.rs checks every file both ways). One known difference, on bad data
//! only: a date column holding a date-time that is not midnight is rejected by the built-in path and cut to its
//! date by the template.

use rapport_model::SourceSystem;

use crate::mapping::{Rule, ValueType};
use crate::mapping_set::{Mapping, MappingSet};
use crate::prep::{field_reference, string_literal};
use crate::SourceTable;

/// Salesforce and Marketo date-times: ISO 8601 with an offset, or a bare date (midnight UTC).
const ISO_DATETIME: &str = "yyyy-MM-dd['T'HH:mm:ss[.SSS]X]";
/// Dynamics: US dates with an optional 12- or 24-hour time, or ISO 8601 (UTC when no offset is given).
const DYNAMICS_DATETIME: &str = "[M/d/yyyy[ h:mm[:ss] a][ H:mm[:ss]]][yyyy-MM-dd['T'HH:mm:ss[.SSS][X]]]";

/// The instance placeholder of a system's keys.
fn instance_placeholder(system: SourceSystem) -> &'static str {
    match system {
        SourceSystem::Salesforce | SourceSystem::Dynamics => "${CRM_ORG_ID}",
        SourceSystem::Marketo => "${MUNCHKIN_ID}",
    }
}

/// The date-time pattern a system exports.
pub fn datetime_pattern(system: SourceSystem) -> &'static str {
    match system {
        SourceSystem::Salesforce | SourceSystem::Marketo => ISO_DATETIME,
        SourceSystem::Dynamics => DYNAMICS_DATETIME,
    }
}

/// The mapping set equivalent to a built-in table.
pub fn template(table: &SourceTable) -> MappingSet {
    let system = table.system;
    let kind = system.source_type();
    let instance = instance_placeholder(system);
    let mut mappings = Vec::new();
    for rule in table.rules {
        match *rule {
            Rule::Key { column, target, suffix } if column == table.id_column => {
                let x = field_reference(column);
                mappings.push(Mapping::constant(kind, format!("{target}.sourceType")));
                mappings.push(Mapping::constant(instance, format!("{target}.sourceInstanceID")));
                if suffix.is_empty() {
                    mappings.push(Mapping::attribute(column, format!("{target}.sourceID")));
                } else {
                    mappings.push(Mapping::expression(
                        format!("concat({x}, {})", string_literal(suffix)),
                        format!("{target}.sourceID"),
                    ));
                }
                mappings.push(Mapping::expression(
                    format!("concat({x}, {})", string_literal(&format!("{suffix}@{instance}.{kind}"))),
                    format!("{target}.sourceKey"),
                ));
            }
            Rule::Key { column, target, suffix } => {
                let x = field_reference(column);
                let id = if suffix.is_empty() { x.clone() } else { format!("concat({x}, {})", string_literal(suffix)) };
                let key = format!("concat({x}, {})", string_literal(&format!("{suffix}@{instance}.{kind}")));
                mappings.push(Mapping::expression(
                    format!(
                        "iif({x} != null && {x} != \"\", to_object(\"sourceType\", \"{kind}\", \"sourceInstanceID\", \"{instance}\", \"sourceID\", {id}, \"sourceKey\", {key}), null)"
                    ),
                    target,
                ));
            }
            Rule::Ref { column, target } => {
                let x = field_reference(column);
                mappings.push(Mapping::expression(
                    format!(
                        "iif({x} != null && {x} != \"\", to_object(\"sourceType\", \"{kind}\", \"sourceInstanceID\", \"{instance}\", \"sourceKey\", concat({x}, \"@{instance}.{kind}\")), null)"
                    ),
                    target,
                ));
            }
            Rule::Copy { column, target, ty } => {
                let x = field_reference(column);
                mappings.push(match ty {
                    ValueType::Text => Mapping::attribute(column, target),
                    ValueType::Number => Mapping::expression(format!("to_decimal({x})"), target),
                    ValueType::Integer => Mapping::expression(format!("to_integer({x})"), target),
                    ValueType::Boolean if system == SourceSystem::Dynamics => Mapping::expression(
                        format!("to_boolean(decode(lower(trim({x})), \"yes\", \"true\", \"no\", \"false\", {x}))"),
                        target,
                    ),
                    ValueType::Boolean => Mapping::expression(format!("to_boolean({x})"), target),
                    ValueType::DateTime => {
                        Mapping::expression(format!("date({x}, {})", string_literal(datetime_pattern(system))), target)
                    }
                    ValueType::Date => Mapping::expression(
                        format!("format(date({x}, {}), \"yyyy-MM-dd\")", string_literal(datetime_pattern(system))),
                        target,
                    ),
                    ValueType::TextList => Mapping::expression(format!("to_array(false, {x})"), target),
                    ValueType::SplitList(separator) => Mapping::expression(
                        format!("explode({x}, {})", string_literal(&escape_separator(separator))),
                        target,
                    ),
                });
            }
            Rule::Const { value, target } => mappings.push(Mapping::constant(value, target)),
            Rule::Custom { column, targets, .. } => {
                let expressions = custom_expressions(system, column);
                for (target, expression) in targets.iter().zip(expressions) {
                    mappings.push(Mapping::expression(expression, *target));
                }
            }
        }
    }
    MappingSet {
        entity: table.entity,
        schema: None,
        name: Some(table.to_string()),
        required: vec![table.id_column.to_owned()],
        mappings,
        origin: None,
    }
}

/// `explode` separators are regular expressions in Data Prep: escape the characters it requires escaped.
fn escape_separator(separator: char) -> String {
    if "+?^|.[({)*$\\".contains(separator) {
        format!("\\{separator}")
    } else {
        separator.to_string()
    }
}

/// The expressions of the calculated fields, one per target in the table's order. Every calculated field
/// of the built-in tables is listed (unit-tested).
fn custom_expressions(system: SourceSystem, column: &str) -> Vec<String> {
    let x = field_reference(column);
    match (system, column) {
        (SourceSystem::Dynamics, "statecode") => vec![
            format!("iif({x} != null, to_integer({x}) != 0, null)"),
            format!("iif({x} != null, to_integer({x}) == 1, null)"),
        ],
        (SourceSystem::Marketo, "unsubscribed") => {
            vec![format!("iif({x} != null, iif(to_boolean({x}), \"n\", \"y\"), null)")]
        }
        (SourceSystem::Marketo, "unsubscribedReason") => vec![format!("substr({x}, 0, 100)")],
        (SourceSystem::Marketo, "ecids") => vec![format!("arrays_to_objects(\"id\", explode({x}))")],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_calculated_field_has_its_expressions() {
        for system in [SourceSystem::Salesforce, SourceSystem::Dynamics, SourceSystem::Marketo] {
            for table in crate::tables(system) {
                for rule in table.rules {
                    if let Rule::Custom { column, targets, .. } = rule {
                        assert_eq!(
                            custom_expressions(system, column).len(),
                            targets.len(),
                            "{system} {}: {column}",
                            table.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn salesforce_contact_renders_the_documented_expressions() {
        let table = crate::tables(SourceSystem::Salesforce).iter().find(|t| t.name == "Contact").copied().unwrap();
        let set = template(&table);
        assert_eq!(set.required, ["Id"]);
        let find = |destination: &str| {
            set.mappings.iter().find(|m| m.destination == destination).map(|m| m.source.as_str()).unwrap()
        };
        assert_eq!(find("b2b.personKey.sourceType"), "Salesforce");
        assert_eq!(find("b2b.personKey.sourceInstanceID"), "${CRM_ORG_ID}");
        assert_eq!(find("b2b.personKey.sourceID"), "Id");
        assert_eq!(find("b2b.personKey.sourceKey"), r#"concat(Id, "@${CRM_ORG_ID}.Salesforce")"#);
        assert_eq!(
            find("b2b.accountKey"),
            r#"iif(AccountId != null && AccountId != "", to_object("sourceType", "Salesforce", "sourceInstanceID", "${CRM_ORG_ID}", "sourceKey", concat(AccountId, "@${CRM_ORG_ID}.Salesforce")), null)"#
        );
        assert_eq!(
            find("person.birthDate"),
            r#"format(date(Birthdate, "yyyy-MM-dd['T'HH:mm:ss[.SSS]X]"), "yyyy-MM-dd")"#
        );
        assert_eq!(find("b2b.personType"), "Contact");
        assert_eq!(find("extendedWorkDetails.departments"), "to_array(false, Department)");
    }

    #[test]
    fn marketo_org_keys_carry_the_suffix() {
        let table = crate::tables(SourceSystem::Marketo).iter().find(|t| t.name == "companies").copied().unwrap();
        let set = template(&table);
        let find = |destination: &str| {
            set.mappings.iter().find(|m| m.destination == destination).map(|m| m.source.as_str()).unwrap()
        };
        assert_eq!(find("accountKey.sourceID"), r#"concat(id, ".mkto_org")"#);
        assert_eq!(find("accountKey.sourceKey"), r#"concat(id, ".mkto_org@${MUNCHKIN_ID}.Marketo")"#);
    }
}
