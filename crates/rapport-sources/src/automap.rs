//! Auto-mapping: proposes a mapping set for an input from its column names.
//!
//! A known CRM export table (recognised by file name, and confirmed by its id column being in the header, or
//! under any name by its header alone: [`table_by_header`]) gets its built-in template. Any other input is
//! matched column by column against the target schema's fields, best evidence first:
//!
//! 1. the column names a whole field path (`workEmail.address`, `work_email_address`): confidence 1.0;
//! 2. a synonym (`email` → `workEmail.address`, `phone` → `workPhone.number`, `company` → `b2b.companyName`,
//!    ...), when the schema has that field: 0.95;
//! 3. the column is a field's leaf name (`jobTitle`, `Job Title`), or its last two segments (`address city`):
//!    0.9, or 0.75 when several fields share the name (the shortest path wins);
//! 4. string similarity of the normalized names (Jaro-Winkler ≥ 0.9): the score × 0.8.
//!
//! Names are normalized before comparing: camelCase is split, `_`, `-`, `.` and spaces separate words, case is
//! ignored. Each field is proposed for one column at most (the best-scored column wins). Columns left without
//! a proposal are listed, never dropped silently: they are the custom fields a user maps by hand. A Salesforce
//! custom field (`Score__c`, or `Region__pc` on a person account) is custom by definition, because no standard
//! field held it: it is matched by a whole path only (rule 1), never by synonym, name or similarity.

use std::path::Path;

use rapport_model::{EntityKind, FieldPath, SourceSystem};
use serde::Serialize;

use crate::mapping_set::{CompileOptions, Mapping, MappingSet, MissingFields, SourceType};
use crate::prep::{field_reference, Expression, Placeholders};
use crate::{templates, SourceTable};

/// The type of a target field, as far as proposing a conversion goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// Text (copied as is).
    Text,
    /// A decimal number (`to_decimal`).
    Number,
    /// A whole number (`to_integer`).
    Integer,
    /// A boolean (`to_boolean`).
    Boolean,
    /// A date (`format(date(x), "yyyy-MM-dd")`).
    Date,
    /// A date-time (`date(x)`).
    DateTime,
    /// An array of strings (`explode(x)`).
    TextList,
}

/// A field of the target schema a column can be mapped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetField {
    /// The field path.
    pub path: FieldPath,
    /// Its type.
    pub kind: TargetKind,
}

/// One proposed mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposedMapping {
    /// The input column.
    pub column: String,
    /// The mapping (an ATTRIBUTE copy, or an expression converting to the field's type).
    pub mapping: Mapping,
    /// How sure the proposal is, from 0 to 1.
    pub confidence: f64,
    /// Why: `template`, `path`, `synonym`, `name`, `similar`.
    pub reason: &'static str,
}

/// A proposed mapping set for one input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proposal {
    /// The entity the records become.
    pub entity: EntityKind,
    /// The built-in table used, when the input is a known CRM export (`Salesforce Contact`).
    pub template: Option<String>,
    /// How the input was recognised as that table: `file name` or `header` ([`table_by_header`]).
    pub recognised_by: Option<&'static str>,
    /// The proposals, in column order (template mappings in template order).
    pub mappings: Vec<ProposedMapping>,
    /// Input columns with no proposal, in input order.
    pub unmapped_fields: Vec<String>,
    /// The mapping set itself, with `required` fields for templates.
    #[serde(skip)]
    pub set: MappingSet,
}

/// Synonyms: normalized column name → destination (used only when the target schema has the field).
const SYNONYMS: &[(&str, &str)] = &[
    ("email", "workEmail.address"),
    ("emailaddress", "workEmail.address"),
    ("mail", "workEmail.address"),
    ("workemail", "workEmail.address"),
    ("businessemail", "workEmail.address"),
    ("personalemail", "personalEmail.address"),
    ("phone", "workPhone.number"),
    ("phonenumber", "workPhone.number"),
    ("telephone", "workPhone.number"),
    ("workphone", "workPhone.number"),
    ("mobile", "mobilePhone.number"),
    ("mobilephone", "mobilePhone.number"),
    ("cell", "mobilePhone.number"),
    ("cellphone", "mobilePhone.number"),
    ("fax", "faxPhone.number"),
    ("firstname", "person.name.firstName"),
    ("givenname", "person.name.firstName"),
    ("fname", "person.name.firstName"),
    ("lastname", "person.name.lastName"),
    ("surname", "person.name.lastName"),
    ("familyname", "person.name.lastName"),
    ("lname", "person.name.lastName"),
    ("middlename", "person.name.middleName"),
    ("fullname", "person.name.fullName"),
    ("title", "extendedWorkDetails.jobTitle"),
    ("jobtitle", "extendedWorkDetails.jobTitle"),
    ("department", "extendedWorkDetails.departments"),
    ("company", "b2b.companyName"),
    ("companyname", "b2b.companyName"),
    ("organization", "b2b.companyName"),
    ("organisation", "b2b.companyName"),
    ("website", "b2b.companyWebsite"),
    ("street", "workAddress.street1"),
    ("address", "workAddress.street1"),
    ("city", "workAddress.city"),
    ("state", "workAddress.state"),
    ("region", "workAddress.state"),
    ("country", "workAddress.country"),
    ("zip", "workAddress.postalCode"),
    ("zipcode", "workAddress.postalCode"),
    ("postcode", "workAddress.postalCode"),
    ("postalcode", "workAddress.postalCode"),
    ("birthdate", "person.birthDate"),
    ("dateofbirth", "person.birthDate"),
    ("dob", "person.birthDate"),
    ("leadsource", "b2b.personSource"),
    ("source", "b2b.personSource"),
    ("status", "b2b.personStatus"),
    ("score", "b2b.personScore"),
    ("leadscore", "b2b.personScore"),
    // When the source system last changed or created the record, as CRM and marketing exports name it
    // (Salesforce, Dynamics, HubSpot, Pipedrive, Rails and SQL habits): merge policies order fragments by it.
    ("lastmodifieddate", "extSourceSystemAudit.lastUpdatedDate"),
    ("lastmodified", "extSourceSystemAudit.lastUpdatedDate"),
    ("modifieddate", "extSourceSystemAudit.lastUpdatedDate"),
    ("modifiedon", "extSourceSystemAudit.lastUpdatedDate"),
    ("modifiedat", "extSourceSystemAudit.lastUpdatedDate"),
    ("systemmodstamp", "extSourceSystemAudit.lastUpdatedDate"),
    ("updatedat", "extSourceSystemAudit.lastUpdatedDate"),
    ("updatedon", "extSourceSystemAudit.lastUpdatedDate"),
    ("updatetime", "extSourceSystemAudit.lastUpdatedDate"),
    ("lastupdated", "extSourceSystemAudit.lastUpdatedDate"),
    ("createddate", "extSourceSystemAudit.createdDate"),
    ("createdon", "extSourceSystemAudit.createdDate"),
    ("createdat", "extSourceSystemAudit.createdDate"),
    ("createdate", "extSourceSystemAudit.createdDate"),
    ("addtime", "extSourceSystemAudit.createdDate"),
    // Accounts.
    ("company", "accountName"),
    ("companyname", "accountName"),
    ("accountname", "accountName"),
    ("name", "accountName"),
    ("website", "accountOrganization.website"),
    ("domain", "accountOrganization.website"),
    ("industry", "accountOrganization.industry"),
    ("employees", "accountOrganization.numberOfEmployees"),
    ("numberofemployees", "accountOrganization.numberOfEmployees"),
    ("revenue", "accountOrganization.annualRevenue.amount"),
    ("annualrevenue", "accountOrganization.annualRevenue.amount"),
    ("phone", "accountPhone.number"),
    ("city", "accountBillingAddress.city"),
    ("state", "accountBillingAddress.state"),
    ("country", "accountBillingAddress.country"),
    ("zip", "accountBillingAddress.postalCode"),
    ("postalcode", "accountBillingAddress.postalCode"),
    ("street", "accountBillingAddress.street1"),
    // Opportunities.
    ("name", "opportunityName"),
    ("amount", "opportunityAmount.amount"),
    ("stage", "opportunityStage"),
    ("closedate", "expectedCloseDate"),
];

/// Leaf names that say little on their own: the parent names the field.
const GENERIC_LEAVES: [&str; 4] = ["address", "number", "amount", "fullName"];

/// The words of a name: camelCase split, separators dropped, lower case (`workEmail_Address` → work email
/// address).
pub fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut previous: Option<char> = None;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            previous = None;
            continue;
        }
        let boundary = match previous {
            Some(p) => (p.is_lowercase() || p.is_ascii_digit()) && c.is_uppercase(),
            None => false,
        };
        if boundary && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        current.extend(c.to_lowercase());
        previous = Some(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn compact(name: &str) -> String {
    words(name).concat()
}

/// The built-in table an input is, if any: its file name is one of a system's export tables and its header
/// holds that table's id column. When several systems know the name (`contact.csv`), the one whose template
/// reads the most of the header wins.
pub fn known_table(file: &Path, columns: &[String]) -> Option<SourceTable> {
    let lower: Vec<String> = columns.iter().map(|c| c.trim().to_lowercase()).collect();
    [SourceSystem::Salesforce, SourceSystem::Dynamics, SourceSystem::Marketo]
        .into_iter()
        .filter_map(|system| crate::recognise(system, file))
        .filter(|table| lower.contains(&table.id_column().to_lowercase()))
        .max_by_key(|table| table.columns().iter().filter(|c| lower.contains(&c.to_lowercase())).count())
}

/// Proposes a mapping for an input file: its template when it is a known CRM table (by its file name, else by
/// its header alone when that tells a table of `entity`: [`table_by_header`]), else a column-by-column proposal
/// against `targets` for `entity`.
pub fn propose_for_file(file: &Path, entity: EntityKind, columns: &[String], targets: &[TargetField]) -> Proposal {
    if let Some(table) = known_table(file, columns) {
        return Proposal { recognised_by: Some("file name"), ..propose_template(&table, columns) };
    }
    match table_by_header(columns).filter(|table| table.entity == entity) {
        Some(table) => Proposal { recognised_by: Some("header"), ..propose_template(&table, columns) },
        None => propose(entity, columns, targets),
    }
}

/// The built-in table, of any system, an input is by its header alone, whatever its file name (a Data Loader
/// `extract.csv`, a renamed export). Names compare without case, as the templates bind columns, and a
/// Salesforce custom field (`__c`, `__pc`) is left out of the count. A table is a candidate when the header has
/// its id column; its score is the number of other header columns its template reads that not every table of
/// its system reads (`CreatedDate`, `LastModifiedDate` and the like tell no table from another). The best
/// candidate is the input's table when it scores at least 3, strictly more than any other table of any system
/// (a header that a Salesforce contact, a lead and a Marketo person fit equally is none of them; a Salesforce
/// contact is no Marketo person), and its template reads at least half of the header.
pub fn table_by_header(columns: &[String]) -> Option<SourceTable> {
    let header: Vec<String> =
        columns.iter().map(|c| c.trim().to_lowercase()).filter(|c| !salesforce_custom(c)).collect();
    let mut scored: Vec<(usize, usize, SourceTable)> = Vec::new();
    for system in [SourceSystem::Salesforce, SourceSystem::Dynamics, SourceSystem::Marketo] {
        let tables = crate::tables(system);
        let reads: Vec<Vec<String>> = tables
            .iter()
            .map(|table| {
                let mut read: Vec<String> = table.columns().iter().map(|c| c.to_lowercase()).collect();
                read.push(table.id_column().to_lowercase());
                read.sort();
                read.dedup();
                read
            })
            .collect();
        let common = |column: &String| reads.iter().all(|read| read.contains(column));
        for (table, read) in tables.iter().zip(&reads) {
            let id = table.id_column().to_lowercase();
            if !header.contains(&id) {
                continue;
            }
            let known: Vec<&String> = header.iter().filter(|column| read.contains(column)).collect();
            let telling = known.iter().filter(|column| ***column != id && !common(column)).count();
            scored.push((telling, known.len(), *table));
        }
    }
    scored.sort_by_key(|(telling, ..)| std::cmp::Reverse(*telling));
    match scored.as_slice() {
        [(best, known, table), rest @ ..]
            if *best >= 3 && known * 2 >= header.len() && rest.first().is_none_or(|(next, ..)| next < best) =>
        {
            Some(*table)
        }
        _ => None,
    }
}

/// The template of a known table as a proposal: every mapping the input's columns allow, confidence 1.
pub fn propose_template(table: &SourceTable, columns: &[String]) -> Proposal {
    let mut set = templates::template(table);
    // The proposal keeps its placeholders (it is the file a user saves and edits); stand-in values only let the
    // compile step find which mappings the header allows.
    let stand_in = Some("instance".to_owned());
    let placeholders = Placeholders { crm_org_id: stand_in.clone(), munchkin_id: stand_in.clone(), crm_type: stand_in };
    let options = CompileOptions { placeholders, missing_fields: MissingFields::Skip };
    let skipped: Vec<usize> = match set.compile(columns, &options) {
        Ok(compiled) => compiled.skipped().iter().map(|s| s.index).collect(),
        Err(_) => Vec::new(),
    };
    let read: Vec<&str> = table.columns();
    // The set to save holds what is proposed: the template's mappings of the columns this header has, so that
    // the saved file loads this export as it is (the full template names every column the system may export).
    let mut at = 0;
    set.mappings.retain(|_| {
        at += 1;
        !skipped.contains(&at)
    });
    let mappings = set
        .mappings
        .iter()
        .map(|mapping| ProposedMapping {
            column: source_column(mapping),
            mapping: mapping.clone(),
            confidence: 1.0,
            reason: "template",
        })
        .collect();
    let mut used: Vec<String> = read.iter().map(|c| c.to_lowercase()).collect();
    used.push(table.id_column().to_lowercase());
    let unmapped_fields = columns.iter().filter(|c| !used.contains(&c.trim().to_lowercase())).cloned().collect();
    Proposal {
        entity: table.entity,
        template: Some(table.to_string()),
        recognised_by: None,
        mappings,
        unmapped_fields,
        set,
    }
}

/// The input field a mapping reads first (empty for constants).
fn source_column(mapping: &Mapping) -> String {
    match mapping.source_type {
        SourceType::Attribute => mapping.source.clone(),
        SourceType::Constant => String::new(),
        SourceType::Expression => Expression::parse(&mapping.source)
            .ok()
            .and_then(|expression| expression.fields().into_iter().next())
            .map(|field| field.path[0].clone())
            .unwrap_or_default(),
    }
}

/// Proposes a mapping of `columns` to `targets` (the scalar fields of `entity`'s schema).
pub fn propose(entity: EntityKind, columns: &[String], targets: &[TargetField]) -> Proposal {
    let targets: Vec<&TargetField> =
        targets.iter().filter(|t| t.path.segments().first().is_none_or(|s| s != "personComponents")).collect();
    // Every (column, target, score, reason) worth considering.
    let mut candidates: Vec<(usize, usize, f64, &'static str)> = Vec::new();
    for (ci, column) in columns.iter().enumerate() {
        let name = compact(column);
        if name.is_empty() {
            continue;
        }
        let custom = salesforce_custom(column);
        let leaf_matches: Vec<usize> = targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.path.segments().last().is_some_and(|leaf| compact(leaf) == name))
            .map(|(ti, _)| ti)
            .collect();
        let shortest_leaf = leaf_matches.iter().copied().min_by_key(|ti| (targets[*ti].path.segments().len(), *ti));
        for (ti, target) in targets.iter().enumerate() {
            let segments = target.path.segments();
            let path = compact(&segments.join("."));
            let tail = compact(&segments[segments.len().saturating_sub(2)..].join("."));
            let leaf = segments.last().map(|s| compact(s)).unwrap_or_default();
            // `mobilePhone.number`, `workEmail.address`: the parent is the meaningful name.
            let parent = match segments {
                [.., parent, leaf] if GENERIC_LEAVES.contains(&leaf.as_str()) => compact(parent),
                _ => String::new(),
            };
            let synonym = SYNONYMS.iter().any(|(word, dest)| *word == name && target.path.to_string() == *dest);
            let (score, reason) = if path == name {
                (1.0, "path")
            } else if custom {
                continue;
            } else if synonym {
                (0.95, "synonym")
            } else if leaf == name {
                let score = match shortest_leaf {
                    _ if leaf_matches.len() == 1 => 0.9,
                    Some(shortest) if shortest == ti => 0.75,
                    _ => 0.7,
                };
                (score, "name")
            } else if (tail == name && segments.len() >= 2) || parent == name {
                (0.85, "name")
            } else {
                let similarity = strsim::jaro_winkler(&name, &leaf)
                    .max(strsim::jaro_winkler(&name, &tail))
                    .max(if parent.is_empty() { 0.0 } else { strsim::jaro_winkler(&name, &parent) });
                if similarity >= 0.9 && name.len() >= 4 {
                    (similarity * 0.8, "similar")
                } else {
                    continue;
                }
            };
            candidates.push((ci, ti, score, reason));
        }
    }
    // Best first; ties go to the earlier column, then the shorter path.
    candidates.sort_by(|a, b| {
        b.2.total_cmp(&a.2)
            .then(a.0.cmp(&b.0))
            .then(targets[a.1].path.segments().len().cmp(&targets[b.1].path.segments().len()))
    });
    let mut column_done = vec![false; columns.len()];
    let mut target_done = vec![false; targets.len()];
    let mut chosen: Vec<(usize, usize, f64, &'static str)> = Vec::new();
    for (ci, ti, score, reason) in candidates {
        if column_done[ci] || target_done[ti] {
            continue;
        }
        column_done[ci] = true;
        target_done[ti] = true;
        chosen.push((ci, ti, score, reason));
    }
    chosen.sort_by_key(|(ci, ..)| *ci);
    let mappings: Vec<ProposedMapping> = chosen
        .into_iter()
        .map(|(ci, ti, score, reason)| {
            let column = &columns[ci];
            let target = targets[ti];
            let mut mapping = convert(column, target);
            mapping.description = Some(format!("auto-mapped ({reason}, confidence {:.2})", score));
            ProposedMapping { column: column.clone(), mapping, confidence: (score * 100.0).round() / 100.0, reason }
        })
        .collect();
    let unmapped_fields =
        columns.iter().enumerate().filter(|(ci, _)| !column_done[*ci]).map(|(_, c)| c.clone()).collect();
    let set = MappingSet {
        entity,
        schema: None,
        name: None,
        required: Vec::new(),
        mappings: mappings.iter().map(|p| p.mapping.clone()).collect(),
        origin: None,
    };
    Proposal { entity, template: None, recognised_by: None, mappings, unmapped_fields, set }
}

/// Whether `column` is a Salesforce custom field's API name: `Score__c`, `Region__pc` (a person account's
/// custom field on its contact side).
fn salesforce_custom(column: &str) -> bool {
    let lower = column.trim().to_ascii_lowercase();
    ["__c", "__pc"].iter().any(|suffix| lower.strip_suffix(suffix).is_some_and(|stem| !stem.is_empty()))
}

/// The mapping of `column` to `target`, converting to the field's type.
fn convert(column: &str, target: &TargetField) -> Mapping {
    let x = field_reference(column);
    let destination = target.path.to_string();
    match target.kind {
        TargetKind::Text => Mapping::attribute(column, destination),
        TargetKind::Number => Mapping::expression(format!("to_decimal({x})"), destination),
        TargetKind::Integer => Mapping::expression(format!("to_integer({x})"), destination),
        TargetKind::Boolean => Mapping::expression(format!("to_boolean({x})"), destination),
        TargetKind::Date => Mapping::expression(format!("format(date({x}), \"yyyy-MM-dd\")"), destination),
        TargetKind::DateTime => Mapping::expression(format!("date({x})"), destination),
        TargetKind::TextList => Mapping::expression(format!("explode({x})"), destination),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str, kind: TargetKind) -> TargetField {
        TargetField { path: FieldPath::parse(path).unwrap(), kind }
    }

    fn person_targets() -> Vec<TargetField> {
        use TargetKind::*;
        vec![
            target("workEmail.address", Text),
            target("personalEmail.address", Text),
            target("workPhone.number", Text),
            target("mobilePhone.number", Text),
            target("person.name.firstName", Text),
            target("person.name.lastName", Text),
            target("person.birthDate", Date),
            target("extendedWorkDetails.jobTitle", Text),
            target("b2b.companyName", Text),
            target("b2b.personScore", Number),
            target("workAddress.city", Text),
            target("otherAddress.city", Text),
            target("workAddress.postalCode", Text),
            target("extSourceSystemAudit.lastUpdatedDate", DateTime),
            target("isDeleted", Boolean),
            target("personComponents.workEmail.address", Text),
        ]
    }

    /// Each proposed mapping as (column, destination, source, confidence, reason).
    fn rows(proposal: &Proposal) -> Vec<(&str, &str, &str, f64, &str)> {
        proposal
            .mappings
            .iter()
            .map(|p| {
                (p.column.as_str(), p.mapping.destination.as_str(), p.mapping.source.as_str(), p.confidence, p.reason)
            })
            .collect()
    }

    fn columns(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn words_split_camel_case_and_separators() {
        assert_eq!(words("workEmail_Address"), ["work", "email", "address"]);
        assert_eq!(words("E-Mail Address"), ["e", "mail", "address"]);
        assert_eq!(words("ID"), ["id"]);
        assert_eq!(words("address1_line1"), ["address1", "line1"]);
    }

    #[test]
    fn proposes_by_path_synonym_name_and_similarity() {
        let header = columns(&[
            "Email",
            "First Name",
            "last_name",
            "Company",
            "job_title",
            "Lead Score",
            "City",
            "Zip",
            "workPhone.number",
            "Date of Birth",
            "Last Updated Date",
            "Updated",
            "is_deleted",
            "Mobil Phone",
            "Favourite Colour",
            "Shoe Size",
        ]);
        let proposal = propose(EntityKind::Person, &header, &person_targets());
        assert_eq!(
            rows(&proposal),
            vec![
                ("Email", "workEmail.address", "Email", 0.95, "synonym"),
                ("First Name", "person.name.firstName", "First Name", 0.95, "synonym"),
                ("last_name", "person.name.lastName", "last_name", 0.95, "synonym"),
                ("Company", "b2b.companyName", "Company", 0.95, "synonym"),
                ("job_title", "extendedWorkDetails.jobTitle", "job_title", 0.95, "synonym"),
                ("Lead Score", "b2b.personScore", "to_decimal(${Lead Score})", 0.95, "synonym"),
                ("City", "workAddress.city", "City", 0.95, "synonym"),
                ("Zip", "workAddress.postalCode", "Zip", 0.95, "synonym"),
                ("workPhone.number", "workPhone.number", "workPhone.number", 1.0, "path"),
                (
                    "Date of Birth",
                    "person.birthDate",
                    "format(date(${Date of Birth}), \"yyyy-MM-dd\")",
                    0.95,
                    "synonym"
                ),
                (
                    "Last Updated Date",
                    "extSourceSystemAudit.lastUpdatedDate",
                    "date(${Last Updated Date})",
                    0.9,
                    "name"
                ),
                ("is_deleted", "isDeleted", "to_boolean(is_deleted)", 1.0, "path"),
                ("Mobil Phone", "mobilePhone.number", "Mobil Phone", 0.75, "similar"),
            ]
        );
        assert_eq!(proposal.unmapped_fields, ["Updated", "Favourite Colour", "Shoe Size"]);
        assert_eq!(proposal.set.mappings.len(), 13);
        assert!(proposal.set.mappings.iter().all(|m| !m.destination.starts_with("personComponents")));
    }

    #[test]
    fn audit_times_are_synonyms_and_salesforce_custom_fields_are_left_to_the_user() {
        let mut targets = person_targets();
        targets.push(target("extSourceSystemAudit.createdDate", TargetKind::DateTime));
        let header = columns(&["Modified On", "created_at", "Birthdate__c", "Mobile_Phone__pc", "Email", "__c"]);
        let proposal = propose(EntityKind::Person, &header, &targets);
        assert_eq!(
            rows(&proposal),
            vec![
                ("Modified On", "extSourceSystemAudit.lastUpdatedDate", "date(${Modified On})", 0.95, "synonym"),
                ("created_at", "extSourceSystemAudit.createdDate", "date(created_at)", 0.95, "synonym"),
                ("Email", "workEmail.address", "Email", 0.95, "synonym"),
                // `__c` alone is no custom field's name: nothing in it matches anything either.
            ]
        );
        // Both custom fields resemble a standard one (birthDate, mobilePhone) and stay the user's to map.
        assert_eq!(proposal.unmapped_fields, ["Birthdate__c", "Mobile_Phone__pc", "__c"]);
        assert!(["Score__c", " lead_score__C ", "Region__pc"].into_iter().all(salesforce_custom));
        assert!(!["__c", "Topic__cx", "Score_c", "Score"].into_iter().any(salesforce_custom));
    }

    #[test]
    fn a_field_goes_to_one_column_and_shared_leaves_prefer_the_shortest_path() {
        let proposal = propose(EntityKind::Person, &columns(&["email", "E-Mail", "postalCode"]), &person_targets());
        let got: Vec<(&str, &str)> =
            proposal.mappings.iter().map(|p| (p.column.as_str(), p.mapping.destination.as_str())).collect();
        assert_eq!(got, vec![("email", "workEmail.address"), ("postalCode", "workAddress.postalCode")]);
        assert_eq!(proposal.unmapped_fields, ["E-Mail"]);
        let targets =
            [target("homeAddress.street2", TargetKind::Text), target("workAddress.street2", TargetKind::Text)];
        let proposal = propose(EntityKind::Person, &columns(&["Street 2"]), &targets);
        assert_eq!(proposal.mappings[0].mapping.destination, "homeAddress.street2");
        assert_eq!((proposal.mappings[0].confidence, proposal.mappings[0].reason), (0.75, "name"));
    }

    #[test]
    fn known_crm_tables_get_their_template() {
        let header = columns(&["Id", "Email", "FirstName", "AccountId", "Favourite_Colour__c"]);
        let proposal = propose_for_file(Path::new("exports/Contact.csv"), EntityKind::Account, &header, &[]);
        assert_eq!(proposal.template.as_deref(), Some("Salesforce Contact"));
        assert_eq!(proposal.entity, EntityKind::Person);
        assert_eq!(proposal.unmapped_fields, ["Favourite_Colour__c"]);
        assert!(proposal.mappings.iter().all(|p| p.reason == "template" && p.confidence == 1.0));
        assert!(proposal.mappings.iter().any(|p| p.mapping.destination == "person.name.firstName"));
        assert!(!proposal.mappings.iter().any(|p| p.mapping.destination == "person.name.lastName"));
        // The set to save is what is proposed, and it compiles against this header as it is.
        assert_eq!(proposal.set.mappings, proposal.mappings.iter().map(|p| p.mapping.clone()).collect::<Vec<_>>());
        let table = known_table(Path::new("exports/Contact.csv"), &header).unwrap();
        assert!(proposal.set.mappings.len() < templates::template(&table).mappings.len());
        let placeholders = Placeholders { crm_org_id: Some("00D".into()), ..Placeholders::default() };
        proposal.set.compile(&header, &CompileOptions { placeholders, ..CompileOptions::default() }).unwrap();
        let account_key = proposal.mappings.iter().find(|p| p.mapping.destination == "b2b.accountKey").unwrap();
        assert_eq!(account_key.column, "AccountId");
        let constant = proposal.mappings.iter().find(|p| p.mapping.destination == "b2b.personType").unwrap();
        assert_eq!(constant.column, "");
        // A Dynamics header under the same file name is the Dynamics table.
        let header = columns(&["contactid", "emailaddress1", "firstname"]);
        assert_eq!(
            known_table(Path::new("contact.csv"), &header).map(|t| t.to_string()).as_deref(),
            Some("Dynamics contacts")
        );
        // Without the id column it is not the CRM table.
        assert_eq!(known_table(Path::new("contact.csv"), &columns(&["email"])), None);
    }

    #[test]
    fn an_export_under_another_name_is_recognised_by_its_header_when_one_table_fits_best() {
        let name = |proposal: &Proposal| (proposal.template.clone(), proposal.recognised_by);
        let told = |header: &[&str]| table_by_header(&columns(header)).map(|t| t.to_string());
        // A Data Loader extract: upper-case names, a file name that says nothing, a custom field (not counted).
        let header = columns(&["ID", "ACCOUNTID", "FIRSTNAME", "LASTNAME", "EMAIL", "DEPARTMENT", "SCORE__C"]);
        let proposal = propose_for_file(Path::new("extract.csv"), EntityKind::Person, &header, &person_targets());
        assert_eq!(name(&proposal), (Some("Salesforce Contact".to_owned()), Some("header")));
        assert_eq!(proposal.unmapped_fields, ["SCORE__C"]);
        // The template's own column names, which bind to the header without case.
        let account_key = proposal.mappings.iter().find(|p| p.mapping.destination == "b2b.accountKey").unwrap();
        assert_eq!(account_key.column, "AccountId");
        let placeholders = Placeholders { crm_org_id: Some("00D".into()), ..Placeholders::default() };
        proposal.set.compile(&header, &CompileOptions { placeholders, ..CompileOptions::default() }).unwrap();
        // By file name, it says so; asked for accounts, the header tells no account table.
        let by_name = propose_for_file(Path::new("Contact.csv"), EntityKind::Person, &header, &person_targets());
        assert_eq!(name(&by_name), (Some("Salesforce Contact".to_owned()), Some("file name")));
        let accounts = propose_for_file(Path::new("extract.csv"), EntityKind::Account, &header, &[]);
        assert_eq!(name(&accounts), (None, None));
        // Twenty custom fields do not hide a contact.
        let mut many = header.clone();
        many.extend((0..20).map(|i| format!("Custom_{i}__c")));
        assert_eq!(table_by_header(&many).map(|t| t.to_string()).as_deref(), Some("Salesforce Contact"));
        // A Dynamics contact; its audit time is every Dynamics table's, and does not count.
        let dynamics = ["contactid", "firstname", "lastname", "emailaddress1", "jobtitle", "modifiedon"];
        assert_eq!(told(&dynamics).as_deref(), Some("Dynamics contacts"));
        // A Salesforce contact, though Marketo's lead reads most of its columns too (names compare without case).
        let contact = ["Id", "AccountId", "FirstName", "LastName", "Salutation", "Email", "Phone", "MobilePhone"];
        assert_eq!(told(&contact).as_deref(), Some("Salesforce Contact"));
        // Not recognised:
        // - what a Salesforce contact, a lead and a Marketo person share alone;
        assert_eq!(told(&["Id", "FirstName", "LastName", "Email"]), None);
        // - a case extract: beside the id and audit times every Salesforce table has, two columns of a relation;
        assert_eq!(told(&["Id", "AccountId", "ContactId", "Subject", "CreatedDate", "LastModifiedDate"]), None);
        // - a header of which the best table reads less than half;
        assert_eq!(told(&["Id", "AccountId", "FirstName", "LastName", "a", "b", "c", "d", "e"]), None);
        // - a contact without its id column.
        assert_eq!(told(&["AccountId", "FirstName", "LastName", "Email", "Department"]), None);
    }
}
