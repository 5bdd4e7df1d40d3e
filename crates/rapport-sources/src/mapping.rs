//! The data-driven mapping engine: a table is a list of [`Rule`]s, compiled against a file's header into a
//! [`Plan`] that maps one CSV row to one XDM record.
//!
//! The rules mirror the Data Prep expressions of the documented mapping templates
//! (`shared/reference/B2B-DOMAIN.md` section c.0):
//!
//! | Rule | Data Prep expression |
//! | --- | --- |
//! | [`Rule::Key`] | the key quadruple, `SF_REF_ID`, `DYN_REF`, `MK_REF`, `MK_ORG_REF` (`suffix` = `.mkto_org`) |
//! | [`Rule::Ref`] | `SF_REF`: the same guarded object without `sourceID` |
//! | [`Rule::Copy`] | a plain column → field row, with the value converted to the target's type |
//! | [`Rule::Const`] | a quoted literal such as `"Contact"` → `b2b.personType` |
//! | [`Rule::Custom`] | calculated fields (`iif(...)`, `explode(...)`, `substr(...)`) written as a function |
//!
//! Every column rule is skipped when its column is absent from the file or its value is empty or blank, so an
//! empty lookup yields no relationship instead of a dangling `"@org.Salesforce"` key (the `iif(X != null && X
//! != "", ...)` guard). The table's id column is the exception: it must be in the header, and a row whose id
//! is blank is rejected with `missing_id` before any rule runs.
//!
//! Targets under `personComponents.` are collected into one object which becomes the single element of the
//! `personComponents` array: one element per contributing source, holding this source's keys.
//!
//! Header columns are matched case-insensitively (Salesforce Data Loader may upper-case them, and the doc
//! writes `isDeleted` where Salesforce says `IsDeleted`).

use std::collections::HashMap;

use rapport_model::{FieldPath, Record, RowErrorCode, SourceSystem};
use serde_json::Value;

use crate::formats::{self, Fault};

/// Array fields whose targets are written into a single per-source element.
pub(crate) const COMPONENT_ARRAYS: [&str; 1] = ["personComponents"];

/// How a copied value is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueType {
    /// The text as given.
    Text,
    /// A JSON number.
    Number,
    /// A JSON integer.
    Integer,
    /// A JSON boolean.
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339 UTC with milliseconds.
    DateTime,
    /// A one-element string array (`Department` → `extendedWorkDetails.departments`).
    TextList,
    /// A string array split on the separator, blank parts dropped (`explode(Roles, ";")`).
    SplitList(char),
}

/// A calculated field: gets the cell and the compiled targets (in declaration order) and writes the record.
pub(crate) type CustomFn = fn(&Cell<'_>, &[FieldPath], &mut Record) -> Result<(), Fault>;

/// One row of a mapping table.
#[derive(Clone, Copy)]
pub(crate) enum Rule {
    /// A whole B2B Source object built from the column: `sourceType`, `sourceInstanceID`, `sourceID` (the value
    /// plus `suffix`) and `sourceKey`.
    Key { column: &'static str, target: &'static str, suffix: &'static str },
    /// `SF_REF`: `sourceType`, `sourceInstanceID` and `sourceKey`, without `sourceID`. Fields are set one by one
    /// so a `sourceID` copied by another rule survives whatever the order.
    Ref { column: &'static str, target: &'static str },
    /// The column's value, converted.
    Copy { column: &'static str, target: &'static str, ty: ValueType },
    /// A literal, written on every row.
    Const { value: &'static str, target: &'static str },
    /// A calculated field.
    Custom { column: &'static str, targets: &'static [&'static str], apply: CustomFn },
}

impl Rule {
    /// The source column the rule reads, if any.
    pub(crate) fn column(&self) -> Option<&'static str> {
        match *self {
            Rule::Key { column, .. } | Rule::Ref { column, .. } | Rule::Copy { column, .. } => Some(column),
            Rule::Custom { column, .. } => Some(column),
            Rule::Const { .. } => None,
        }
    }

    /// The target paths the rule writes, as written in the table.
    pub(crate) fn targets(&self) -> &[&'static str] {
        match self {
            Rule::Key { target, .. } | Rule::Ref { target, .. } | Rule::Copy { target, .. } => {
                std::slice::from_ref(target)
            }
            Rule::Const { target, .. } => std::slice::from_ref(target),
            Rule::Custom { targets, .. } => targets,
        }
    }
}

// Short constructors so the tables read like the documented ones.

/// Key quadruple (or `*_REF_ID` / `DYN_REF` / `MK_REF`) from `column` at `target`.
pub(crate) const fn key(column: &'static str, target: &'static str) -> Rule {
    Rule::Key { column, target, suffix: "" }
}

/// Marketo company key (`MK_ORG_REF`): the id gets the `.mkto_org` suffix.
pub(crate) const fn org_key(column: &'static str, target: &'static str) -> Rule {
    Rule::Key { column, target, suffix: ".mkto_org" }
}

/// `SF_REF`: a key object without `sourceID`.
pub(crate) const fn reference(column: &'static str, target: &'static str) -> Rule {
    Rule::Ref { column, target }
}

/// The text as given.
pub(crate) const fn text(column: &'static str, target: &'static str) -> Rule {
    Rule::Copy { column, target, ty: ValueType::Text }
}

/// A number.
pub(crate) const fn number(column: &'static str, target: &'static str) -> Rule {
    Rule::Copy { column, target, ty: ValueType::Number }
}

/// An integer.
pub(crate) const fn integer(column: &'static str, target: &'static str) -> Rule {
    Rule::Copy { column, target, ty: ValueType::Integer }
}

/// A boolean.
pub(crate) const fn boolean(column: &'static str, target: &'static str) -> Rule {
    Rule::Copy { column, target, ty: ValueType::Boolean }
}

/// A date.
pub(crate) const fn date(column: &'static str, target: &'static str) -> Rule {
    Rule::Copy { column, target, ty: ValueType::Date }
}

/// A date-time.
pub(crate) const fn datetime(column: &'static str, target: &'static str) -> Rule {
    Rule::Copy { column, target, ty: ValueType::DateTime }
}

/// A one-element string array.
pub(crate) const fn text_list(column: &'static str, target: &'static str) -> Rule {
    Rule::Copy { column, target, ty: ValueType::TextList }
}

/// A string array split on `separator`.
pub(crate) const fn split(column: &'static str, target: &'static str, separator: char) -> Rule {
    Rule::Copy { column, target, ty: ValueType::SplitList(separator) }
}

/// A literal.
pub(crate) const fn constant(value: &'static str, target: &'static str) -> Rule {
    Rule::Const { value, target }
}

/// A calculated field.
pub(crate) const fn custom(column: &'static str, targets: &'static [&'static str], apply: CustomFn) -> Rule {
    Rule::Custom { column, targets, apply }
}

/// The non-empty value of one cell, with what a rule needs to convert it.
pub(crate) struct Cell<'a> {
    pub(crate) system: SourceSystem,
    pub(crate) instance: &'a str,
    pub(crate) value: &'a str,
}

impl Cell<'_> {
    /// The B2B Source object for `id`.
    pub(crate) fn key(&self, id: &str) -> Value {
        self.system.key_object(id, self.instance)
    }
}

/// A rule bound to a header position, with parsed targets.
enum Step {
    Key { index: usize, target: FieldPath, suffix: &'static str },
    Ref { index: usize, target: FieldPath },
    Copy { index: usize, target: FieldPath, ty: ValueType },
    Const { value: &'static str, target: FieldPath },
    Custom { index: usize, targets: Vec<FieldPath>, apply: CustomFn },
}

impl Step {
    fn index(&self) -> Option<usize> {
        match *self {
            Step::Key { index, .. } | Step::Ref { index, .. } | Step::Copy { index, .. } => Some(index),
            Step::Custom { index, .. } => Some(index),
            Step::Const { .. } => None,
        }
    }
}

/// A row that could not be mapped: the header index of the column at fault, and why.
#[derive(Debug)]
pub(crate) struct RowFault {
    pub(crate) index: usize,
    pub(crate) fault: Fault,
}

/// A table's rules compiled against one file's header.
pub(crate) struct Plan {
    system: SourceSystem,
    id_index: usize,
    steps: Vec<Step>,
    unmapped: Vec<String>,
}

impl Plan {
    /// Binds `rules` to `headers`. Fails with the id column's name when the header lacks it.
    pub(crate) fn new(
        system: SourceSystem,
        id_column: &'static str,
        rules: &[Rule],
        headers: &[String],
    ) -> Result<Self, &'static str> {
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for (index, name) in headers.iter().enumerate() {
            by_name.entry(name.trim().to_lowercase()).or_insert(index);
        }
        let find = |column: &str| by_name.get(&column.to_lowercase()).copied();
        let id_index = find(id_column).ok_or(id_column)?;
        let parse = |target: &str| FieldPath::parse(target).expect("mapping targets are valid paths (unit-tested)");

        let mut steps = Vec::with_capacity(rules.len());
        for rule in rules {
            let index = match rule.column() {
                Some(column) => match find(column) {
                    Some(index) => index,
                    None => continue,
                },
                None => usize::MAX,
            };
            steps.push(match *rule {
                Rule::Key { target, suffix, .. } => Step::Key { index, target: parse(target), suffix },
                Rule::Ref { target, .. } => Step::Ref { index, target: parse(target) },
                Rule::Copy { target, ty, .. } => Step::Copy { index, target: parse(target), ty },
                Rule::Const { value, target } => Step::Const { value, target: parse(target) },
                Rule::Custom { targets, apply, .. } => {
                    Step::Custom { index, targets: targets.iter().map(|target| parse(target)).collect(), apply }
                }
            });
        }

        let mut used = vec![false; headers.len()];
        used[id_index] = true;
        for index in steps.iter().filter_map(Step::index) {
            used[index] = true;
        }
        let unmapped = headers.iter().zip(&used).filter(|(_, used)| !**used).map(|(name, _)| name.clone()).collect();
        Ok(Self { system, id_index, steps, unmapped })
    }

    /// The header columns no rule reads, in header order.
    pub(crate) fn unmapped(&self) -> &[String] {
        &self.unmapped
    }

    /// Maps one row (its fields in header order). Stops at the first fault.
    pub(crate) fn map_row<'a>(
        &self,
        instance: &str,
        row: impl Fn(usize) -> Option<&'a str>,
    ) -> Result<Record, RowFault> {
        let blank = |value: &str| value.trim().is_empty();
        if row(self.id_index).is_none_or(blank) {
            let fault =
                Fault::new(RowErrorCode::MissingId, "the record id is empty, so the record has no primary identity");
            return Err(RowFault { index: self.id_index, fault });
        }

        let mut record = Record::new();
        for step in &self.steps {
            let value = match step.index() {
                Some(index) => match row(index) {
                    Some(value) if !blank(value) => value,
                    _ => continue,
                },
                None => "",
            };
            let cell = Cell { system: self.system, instance, value };
            let fail = |fault| RowFault { index: step.index().unwrap_or(self.id_index), fault };
            match step {
                Step::Key { target, suffix, .. } => {
                    let id = format!("{value}{suffix}");
                    target.set(&mut record, cell.key(&id));
                }
                Step::Ref { target, .. } => {
                    let system = self.system;
                    target.child("sourceType").set(&mut record, Value::from(system.source_type()));
                    target.child("sourceInstanceID").set(&mut record, Value::from(instance));
                    target.child("sourceKey").set(&mut record, Value::from(system.source_key(value, instance)));
                }
                Step::Copy { target, ty, .. } => {
                    if let Some(converted) = convert(self.system, value, *ty).map_err(fail)? {
                        target.set(&mut record, converted);
                    }
                }
                Step::Const { value, target } => target.set(&mut record, Value::from(*value)),
                Step::Custom { targets, apply, .. } => apply(&cell, targets, &mut record).map_err(fail)?,
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

/// Converts a non-blank value; `None` when nothing is left to write (a list of blank parts).
fn convert(system: SourceSystem, value: &str, ty: ValueType) -> Result<Option<Value>, Fault> {
    Ok(Some(match ty {
        ValueType::Text => Value::from(value),
        ValueType::Number => Value::Number(formats::number(value)?),
        ValueType::Integer => Value::from(formats::integer(value)?),
        ValueType::Boolean => Value::Bool(formats::boolean(system, value)?),
        ValueType::Date => Value::from(formats::date(system, value)?),
        ValueType::DateTime => Value::from(formats::datetime(system, value)?),
        ValueType::TextList => Value::Array(vec![Value::from(value)]),
        ValueType::SplitList(separator) => {
            let parts: Vec<Value> =
                value.split(separator).map(str::trim).filter(|part| !part.is_empty()).map(Value::from).collect();
            if parts.is_empty() {
                return Ok(None);
            }
            Value::Array(parts)
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: &[Rule] = &[
        key("Id", "b2b.personKey"),
        key("Id", "personComponents.sourcePersonKey"),
        text("AccountId", "b2b.accountKey.sourceID"),
        reference("AccountId", "b2b.accountKey"),
        key("AccountId", "personComponents.sourceAccountKey"),
        text("Email", "personComponents.workEmail.address"),
        text_list("Department", "extendedWorkDetails.departments"),
        split("Roles", "personRoles", ';'),
        number("Score", "b2b.personScore"),
        constant("Contact", "b2b.personType"),
    ];

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    fn map(plan: &Plan, row: &[&str]) -> Result<Value, RowFault> {
        plan.map_row("org", |index| row.get(index).copied()).map(Value::Object)
    }

    #[test]
    fn binds_columns_case_insensitively_and_lists_unmapped_ones() {
        let plan =
            Plan::new(SourceSystem::Salesforce, "Id", RULES, &headers(&["ID", "EMAIL", "Fax", "roles"])).unwrap();
        assert_eq!(plan.unmapped(), ["Fax"]);
        assert_eq!(plan.id_index, 0);
        assert_eq!(Plan::new(SourceSystem::Salesforce, "Id", RULES, &headers(&["Email"])).err(), Some("Id"));
    }

    #[test]
    fn maps_keys_refs_components_and_lists() {
        let plan = Plan::new(
            SourceSystem::Salesforce,
            "Id",
            RULES,
            &headers(&["Id", "AccountId", "Email", "Department", "Roles", "Score"]),
        )
        .unwrap();
        let record = map(&plan, &["003A", "001B", "a@x.com", "Sales", "Buyer; ;Champion", "12"]).unwrap();
        assert_eq!(
            record,
            json!({
                "b2b": {
                    "personKey": {"sourceType": "Salesforce", "sourceInstanceID": "org", "sourceID": "003A", "sourceKey": "003A@org.Salesforce"},
                    "accountKey": {"sourceID": "001B", "sourceType": "Salesforce", "sourceInstanceID": "org", "sourceKey": "001B@org.Salesforce"},
                    "personScore": 12,
                    "personType": "Contact"
                },
                "personComponents": [{
                    "sourcePersonKey": {"sourceType": "Salesforce", "sourceInstanceID": "org", "sourceID": "003A", "sourceKey": "003A@org.Salesforce"},
                    "sourceAccountKey": {"sourceType": "Salesforce", "sourceInstanceID": "org", "sourceID": "001B", "sourceKey": "001B@org.Salesforce"},
                    "workEmail": {"address": "a@x.com"}
                }],
                "extendedWorkDetails": {"departments": ["Sales"]},
                "personRoles": ["Buyer", "Champion"]
            })
        );
    }

    #[test]
    fn empty_lookups_write_nothing_and_empty_ids_are_rejected() {
        let plan =
            Plan::new(SourceSystem::Salesforce, "Id", RULES, &headers(&["Id", "AccountId", "Roles", "Score"])).unwrap();
        let record = map(&plan, &["003A", "", " ; ", ""]).unwrap();
        assert!(record["b2b"].get("accountKey").is_none());
        assert!(record.get("personRoles").is_none());
        let fault = map(&plan, &["  ", "001B", "", ""]).unwrap_err();
        assert_eq!((fault.index, fault.fault.code), (0, RowErrorCode::MissingId));
        let fault = map(&plan, &["003A", "", "", "lots"]).unwrap_err();
        assert_eq!((fault.index, fault.fault.code), (3, RowErrorCode::BadNumber));
    }

    #[test]
    fn every_table_target_is_a_valid_path_and_every_table_has_its_id_rule() {
        for system in [SourceSystem::Salesforce, SourceSystem::Dynamics, SourceSystem::Marketo] {
            for table in crate::tables(system) {
                for rule in table.rules {
                    for target in rule.targets() {
                        assert!(FieldPath::parse(target).is_ok(), "{}.{}: {target}", system, table.name);
                    }
                }
                assert!(
                    table
                        .rules
                        .iter()
                        .any(|rule| matches!(rule, Rule::Key { column, .. } if *column == table.id_column)),
                    "{} {} has no key rule on its id column",
                    system,
                    table.name
                );
            }
        }
    }
}
