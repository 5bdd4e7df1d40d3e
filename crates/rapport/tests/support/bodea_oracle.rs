//! Independent oracle for the Bodea end-to-end test.
//!
//! Computes, from the generated CSV files alone, the exact members of the Bodea audience
//! "people whose merged department is Sales and who are related to an account with at least one
//! open opportunity". It deliberately shares no code with `rapport-sample` or any Rapport crate:
//! only `csv` and `chrono`. The rules are the product's contract:
//!
//! 1. A row is rejected if it cannot be read (wrong field count, bad UTF-8), its id is empty, a
//!    date/datetime column is non-empty and invalid in its system's format, or a boolean column
//!    is non-empty and not `true`/`false`.
//! 2. Person records are the accepted Salesforce contacts, Dynamics contacts and Marketo leads,
//!    keyed `{id}@{instance}.{System}`. Records sharing a non-empty normalized e-mail
//!    (trim + lower-case) are one person; a record without e-mail is a person on its own.
//! 3. A person's department is the (trimmed, non-empty) department of its record with the latest
//!    modification time; a tie panics.
//! 4. A person's accounts are the non-empty account references of its records.
//! 5. An account has an open opportunity if an accepted opportunity row references it with
//!    Salesforce `IsClosed = false` or Dynamics `statecode = 0`.
//! 6. Member ⇔ department == "Sales" and some account has an open opportunity.

// Included from several test crates, each using a different subset.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// The date and datetime formats of the three systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    /// `YYYY-MM-DDTHH:MM:SS.sssZ`
    SalesforceDateTime,
    /// `YYYY-MM-DD`
    SalesforceDate,
    /// `M/D/YYYY h:mm:ss AM|PM`
    DynamicsDateTime,
    /// `M/D/YYYY`
    DynamicsDate,
    /// `YYYY-MM-DDTHH:MM:SSZ`
    MarketoDateTime,
}

/// Parses `s` strictly in `format`; `None` if it is not a valid date/datetime in that format.
pub fn parse_date(format: DateFormat, s: &str) -> Option<NaiveDateTime> {
    match format {
        DateFormat::SalesforceDateTime => {
            let (y, mo, d, h, mi, sec) = iso(s, "YYYY-MM-DDTHH:MM:SS.sssZ")?;
            let ms = fixed(&s[20..23])?;
            Some(NaiveDateTime::new(NaiveDate::from_ymd_opt(y, mo, d)?, NaiveTime::from_hms_milli_opt(h, mi, sec, ms)?))
        }
        DateFormat::MarketoDateTime => {
            let (y, mo, d, h, mi, sec) = iso(s, "YYYY-MM-DDTHH:MM:SSZ")?;
            Some(NaiveDateTime::new(NaiveDate::from_ymd_opt(y, mo, d)?, NaiveTime::from_hms_opt(h, mi, sec)?))
        }
        DateFormat::SalesforceDate => {
            if !shape(s, "YYYY-MM-DD") {
                return None;
            }
            let date = NaiveDate::from_ymd_opt(fixed(&s[0..4])? as i32, fixed(&s[5..7])?, fixed(&s[8..10])?)?;
            Some(date.and_time(NaiveTime::MIN))
        }
        DateFormat::DynamicsDate => Some(us_date(s)?.and_time(NaiveTime::MIN)),
        DateFormat::DynamicsDateTime => {
            let mut parts = s.split(' ');
            let (date, time, half) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() {
                return None;
            }
            let date = us_date(date)?;
            let mut hms = time.split(':');
            let (h, mi, sec) = (hms.next()?, hms.next()?, hms.next()?);
            if hms.next().is_some() || !(1..=2).contains(&h.len()) || mi.len() != 2 || sec.len() != 2 {
                return None;
            }
            let h = fixed(h)?;
            if !(1..=12).contains(&h) {
                return None;
            }
            let h = match half {
                "AM" => h % 12,
                "PM" => h % 12 + 12,
                _ => return None,
            };
            Some(date.and_time(NaiveTime::from_hms_opt(h, fixed(mi)?, fixed(sec)?)?))
        }
    }
}

/// All-digit string to number.
fn fixed(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Whether `s` has the shape of `pattern`, where letters stand for digits and the rest is literal
/// (`T` and `Z` literal, as in the ISO patterns).
fn shape(s: &str, pattern: &str) -> bool {
    s.len() == pattern.len()
        && s.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
            b'Y' | b'M' | b'D' | b'H' | b'S' | b's' => c.is_ascii_digit(),
            _ => c == p,
        })
}

/// Fields of an ISO-shaped datetime (`YYYY-MM-DDTHH:MM:SS...`), shape-checked.
fn iso(s: &str, pattern: &str) -> Option<(i32, u32, u32, u32, u32, u32)> {
    if !shape(s, pattern) {
        return None;
    }
    Some((
        fixed(&s[0..4])? as i32,
        fixed(&s[5..7])?,
        fixed(&s[8..10])?,
        fixed(&s[11..13])?,
        fixed(&s[14..16])?,
        fixed(&s[17..19])?,
    ))
}

/// `M/D/YYYY` with one- or two-digit month and day.
fn us_date(s: &str) -> Option<NaiveDate> {
    let mut parts = s.split('/');
    let (m, d, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !(1..=2).contains(&m.len()) || !(1..=2).contains(&d.len()) || y.len() != 4 {
        return None;
    }
    NaiveDate::from_ymd_opt(fixed(y)? as i32, fixed(m)?, fixed(d)?)
}

/// How to accept the rows of one file.
pub struct FileRules {
    /// Path relative to the data set directory.
    pub path: &'static str,
    /// The id column.
    pub id: &'static str,
    /// Date/datetime columns and their formats.
    pub dates: &'static [(&'static str, DateFormat)],
    /// Boolean columns.
    pub booleans: &'static [&'static str],
}

/// Salesforce contacts.
pub const SF_CONTACTS: FileRules = FileRules {
    path: "salesforce/Contact.csv",
    id: "Id",
    dates: &[("CreatedDate", DateFormat::SalesforceDateTime), ("LastModifiedDate", DateFormat::SalesforceDateTime)],
    booleans: &[],
};
/// Salesforce opportunities.
pub const SF_OPPORTUNITIES: FileRules = FileRules {
    path: "salesforce/Opportunity.csv",
    id: "Id",
    dates: &[
        ("CloseDate", DateFormat::SalesforceDate),
        ("CreatedDate", DateFormat::SalesforceDateTime),
        ("LastModifiedDate", DateFormat::SalesforceDateTime),
    ],
    booleans: &["IsClosed", "IsWon"],
};
/// Dynamics contacts.
pub const DYN_CONTACTS: FileRules = FileRules {
    path: "dynamics/contacts.csv",
    id: "contactid",
    dates: &[("createdon", DateFormat::DynamicsDateTime), ("modifiedon", DateFormat::DynamicsDateTime)],
    booleans: &[],
};
/// Dynamics opportunities.
pub const DYN_OPPORTUNITIES: FileRules = FileRules {
    path: "dynamics/opportunities.csv",
    id: "opportunityid",
    dates: &[
        ("estimatedclosedate", DateFormat::DynamicsDate),
        ("createdon", DateFormat::DynamicsDateTime),
        ("modifiedon", DateFormat::DynamicsDateTime),
    ],
    booleans: &[],
};
/// Marketo leads.
pub const MARKETO_LEADS: FileRules = FileRules {
    path: "marketo/leads.csv",
    id: "id",
    dates: &[("createdAt", DateFormat::MarketoDateTime), ("updatedAt", DateFormat::MarketoDateTime)],
    booleans: &["unsubscribed"],
};

/// The accepted rows of one file, with their header.
pub struct Accepted {
    /// Header names.
    pub header: csv::StringRecord,
    /// Rows that pass rule 1, in file order.
    pub rows: Vec<csv::StringRecord>,
}

impl Accepted {
    /// Index of a column.
    ///
    /// # Panics
    /// If the file has no such column.
    pub fn col(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column `{name}`"))
    }
}

/// Whether a read row passes rule 1 under `rules`.
fn accepted_row(row: &csv::StringRecord, rules: &FileRules, header: &csv::StringRecord) -> bool {
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column `{name}`"));
    if row.get(col(rules.id)).is_none_or(|id| id.is_empty()) {
        return false;
    }
    let dates_ok = rules.dates.iter().all(|(name, format)| {
        let value = row.get(col(name)).unwrap_or("");
        value.is_empty() || parse_date(*format, value).is_some()
    });
    let booleans_ok =
        rules.booleans.iter().all(|name| matches!(row.get(col(name)).unwrap_or(""), "" | "true" | "false"));
    dates_ok && booleans_ok
}

/// Reads `dir/rules.path` and keeps the rows that pass rule 1.
///
/// # Panics
/// If the file cannot be opened or read at all.
pub fn read_accepted(dir: &Path, rules: &FileRules) -> Accepted {
    let path = dir.join(rules.path);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let header = reader.headers().unwrap_or_else(|e| panic!("cannot read header of {}: {e}", path.display())).clone();
    let mut rows = Vec::new();
    for result in reader.records() {
        match result {
            Ok(row) => {
                if accepted_row(&row, rules, &header) {
                    rows.push(row);
                }
            }
            Err(e) if e.is_io_error() => panic!("cannot read {}: {e}", path.display()),
            // Unequal field count, invalid UTF-8: the row is rejected.
            Err(_) => {}
        }
    }
    Accepted { header, rows }
}

/// One accepted person record.
#[derive(Debug, Clone)]
struct PersonRecord {
    key: String,
    email: String,
    department: String,
    modified: Option<NaiveDateTime>,
    account: Option<String>,
}

/// Where a person file keeps what the merge needs.
struct PersonColumns {
    rules: &'static FileRules,
    system: &'static str,
    email: &'static str,
    department: &'static str,
    modified: &'static str,
    format: DateFormat,
    account: Option<&'static str>,
}

const PERSON_FILES: [PersonColumns; 3] = [
    PersonColumns {
        rules: &SF_CONTACTS,
        system: "Salesforce",
        email: "Email",
        department: "Department",
        modified: "LastModifiedDate",
        format: DateFormat::SalesforceDateTime,
        account: Some("AccountId"),
    },
    PersonColumns {
        rules: &DYN_CONTACTS,
        system: "Dynamics",
        email: "emailaddress1",
        department: "department",
        modified: "modifiedon",
        format: DateFormat::DynamicsDateTime,
        account: Some("parentcustomerid"),
    },
    PersonColumns {
        rules: &MARKETO_LEADS,
        system: "Marketo",
        email: "email",
        department: "department",
        modified: "updatedAt",
        format: DateFormat::MarketoDateTime,
        account: None,
    },
];

/// Every accepted person record of the data set.
fn person_records(dir: &Path, sf_org: &str, dyn_org: &str, munchkin: &str) -> Vec<PersonRecord> {
    let mut out = Vec::new();
    for (source, instance) in PERSON_FILES.iter().zip([sf_org, dyn_org, munchkin]) {
        let file = read_accepted(dir, source.rules);
        let id = file.col(source.rules.id);
        let (email, department, modified) =
            (file.col(source.email), file.col(source.department), file.col(source.modified));
        let account = source.account.map(|name| file.col(name));
        let system = source.system;
        for row in &file.rows {
            out.push(PersonRecord {
                key: format!("{}@{instance}.{system}", &row[id]),
                email: row[email].trim().to_lowercase(),
                department: row[department].trim().to_owned(),
                modified: parse_date(source.format, &row[modified]),
                account: account
                    .map(|c| row[c].trim())
                    .filter(|a| !a.is_empty())
                    .map(|a| format!("{a}@{instance}.{system}")),
            });
        }
    }
    out
}

/// Groups records into persons (rule 2): indexes into `records`, one group per person.
fn group(records: &[PersonRecord]) -> Vec<Vec<usize>> {
    let mut by_email: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if r.email.is_empty() {
            out.push(vec![i]);
        } else {
            by_email.entry(&r.email).or_default().push(i);
        }
    }
    out.extend(by_email.into_values());
    out
}

/// Merged department of a person (rule 3), `None` if no record has one.
///
/// # Panics
/// If two records with a department tie for the latest modification time.
fn merged_department<'a>(records: &'a [PersonRecord], person: &[usize]) -> Option<&'a str> {
    let mut best: Option<&PersonRecord> = None;
    let mut tied = false;
    for r in person.iter().map(|&i| &records[i]).filter(|r| !r.department.is_empty()) {
        match best {
            Some(b) if r.modified == b.modified => tied = true,
            Some(b) if r.modified < b.modified => {}
            _ => {
                best = Some(r);
                tied = false;
            }
        }
    }
    assert!(
        !tied,
        "department tie between records of one person: {:?}",
        person.iter().map(|&i| &records[i].key).collect::<Vec<_>>()
    );
    best.map(|r| r.department.as_str())
}

/// Accounts with at least one accepted open opportunity (rule 5), as keys.
fn accounts_with_open_opportunity(dir: &Path, sf_org: &str, dyn_org: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let sf = read_accepted(dir, &SF_OPPORTUNITIES);
    let (account, closed) = (sf.col("AccountId"), sf.col("IsClosed"));
    for row in &sf.rows {
        if &row[closed] == "false" && !row[account].trim().is_empty() {
            out.insert(format!("{}@{sf_org}.Salesforce", row[account].trim()));
        }
    }
    let dy = read_accepted(dir, &DYN_OPPORTUNITIES);
    let (account, state) = (dy.col("parentaccountid"), dy.col("statecode"));
    for row in &dy.rows {
        if row[state].trim() == "0" && !row[account].trim().is_empty() {
            out.insert(format!("{}@{dyn_org}.Dynamics", row[account].trim()));
        }
    }
    out
}

/// The members of the Bodea audience, each as the sorted set of its records' own keys.
pub fn bodea_audience(dir: &Path, sf_org: &str, dyn_org: &str, munchkin: &str) -> BTreeSet<BTreeSet<String>> {
    let records = person_records(dir, sf_org, dyn_org, munchkin);
    let open = accounts_with_open_opportunity(dir, sf_org, dyn_org);
    group(&records)
        .into_iter()
        .filter(|person| {
            merged_department(&records, person) == Some("Sales")
                && person.iter().filter_map(|&i| records[i].account.as_ref()).any(|a| open.contains(a))
        })
        .map(|person| person.into_iter().map(|i| records[i].key.clone()).collect())
        .collect()
}

/// Number of merged persons (rule 2) in the data set.
pub fn person_count(dir: &Path, sf_org: &str, dyn_org: &str, munchkin: &str) -> usize {
    group(&person_records(dir, sf_org, dyn_org, munchkin)).len()
}
