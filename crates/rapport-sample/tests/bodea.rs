//! Integration tests of the Bodea generator, and of the end-to-end oracle on a hand-made data set.

// The oracle lives with the end-to-end test in crates/rapport/tests/support/.
#[path = "../../rapport/tests/support/bodea_oracle.rs"]
mod oracle;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use oracle::DateFormat;
use rapport_sample::{
    generate_bodea, GenerateOptions, GenerateReport, InjectedErrorKind, DYNAMICS_ORG_ID, MARKETO_MUNCHKIN_ID,
    SALESFORCE_ORG_ID,
};

fn generate(persons: u64, seed: u64) -> (tempfile::TempDir, GenerateReport) {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = generate_bodea(dir.path(), &GenerateOptions { persons, seed }).expect("generate");
    (dir, report)
}

fn rows(report: &GenerateReport, path: &str) -> u64 {
    report.files.iter().find(|f| f.path == Path::new(path)).unwrap_or_else(|| panic!("no {path}")).rows
}

/// Per file: id column, modification column and its format.
const FILES: [(&str, &str, &str, DateFormat); 9] = [
    ("salesforce/Account.csv", "Id", "LastModifiedDate", DateFormat::SalesforceDateTime),
    ("salesforce/Contact.csv", "Id", "LastModifiedDate", DateFormat::SalesforceDateTime),
    ("salesforce/Opportunity.csv", "Id", "LastModifiedDate", DateFormat::SalesforceDateTime),
    ("salesforce/OpportunityContactRole.csv", "Id", "LastModifiedDate", DateFormat::SalesforceDateTime),
    ("dynamics/accounts.csv", "accountid", "modifiedon", DateFormat::DynamicsDateTime),
    ("dynamics/contacts.csv", "contactid", "modifiedon", DateFormat::DynamicsDateTime),
    ("dynamics/opportunities.csv", "opportunityid", "modifiedon", DateFormat::DynamicsDateTime),
    ("dynamics/connections.csv", "connectionid", "modifiedon", DateFormat::DynamicsDateTime),
    ("marketo/leads.csv", "id", "updatedAt", DateFormat::MarketoDateTime),
];

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_differs() {
    let (a, report_a) = generate(2_000, 7);
    let (b, report_b) = generate(2_000, 7);
    let (c, _) = generate(2_000, 8);
    assert_eq!(report_a, report_b);
    let mut differs = false;
    for (path, ..) in FILES {
        let bytes_a = std::fs::read(a.path().join(path)).expect("read a");
        assert_eq!(bytes_a, std::fs::read(b.path().join(path)).expect("read b"), "{path}");
        differs |= bytes_a != std::fs::read(c.path().join(path)).expect("read c");
    }
    assert!(differs, "seed 8 produced the same files as seed 7");
}

#[test]
fn row_counts_follow_the_population_at_2000_persons() {
    let (dir, report) = generate(2_000, 42);
    assert_eq!(report.files.len(), 9);
    let sf_accounts = rows(&report, "salesforce/Account.csv");
    let dyn_accounts = rows(&report, "dynamics/accounts.csv");
    assert_eq!(sf_accounts + dyn_accounts, 200);
    assert!((110..=170).contains(&sf_accounts), "salesforce accounts {sf_accounts}");
    let opportunities = rows(&report, "salesforce/Opportunity.csv") + rows(&report, "dynamics/opportunities.csv");
    assert_eq!(opportunities, 400);
    let contacts = rows(&report, "salesforce/Contact.csv") + rows(&report, "dynamics/contacts.csv");
    // 90% primary contacts plus ~10% account-less contacts in the other CRM.
    assert!((1_850..=2_150).contains(&contacts), "contacts {contacts}");
    let leads = rows(&report, "marketo/leads.csv");
    // 10% Marketo-only plus ~30% multi-system.
    assert!((650..=950).contains(&leads), "leads {leads}");
    let roles = rows(&report, "salesforce/OpportunityContactRole.csv") + rows(&report, "dynamics/connections.csv");
    assert!((200..=900).contains(&roles), "contact roles {roles}");
    // Every file has exactly one line per row plus the header.
    for file in &report.files {
        let text = std::fs::read_to_string(dir.path().join(&file.path)).expect("read");
        assert_eq!(text.lines().count() as u64, file.rows + 1, "{}", file.path.display());
    }

    // 35–45% of opportunities are open.
    let sf = oracle::read_accepted(dir.path(), &oracle::SF_OPPORTUNITIES);
    let dy = oracle::read_accepted(dir.path(), &oracle::DYN_OPPORTUNITIES);
    let open = sf.rows.iter().filter(|r| &r[sf.col("IsClosed")] == "false").count()
        + dy.rows.iter().filter(|r| &r[dy.col("statecode")] == "0").count();
    let share = open as f64 / (sf.rows.len() + dy.rows.len()) as f64;
    assert!((0.33..=0.47).contains(&share), "open share {share}");
}

#[test]
fn injected_errors_point_at_malformed_lines_and_nowhere_else() {
    let (dir, report) = generate(2_000, 42);
    let by_line: BTreeMap<(PathBuf, u64), (InjectedErrorKind, Option<String>)> =
        report.injected_errors.iter().map(|e| ((e.file.clone(), e.line), (e.kind, e.column.clone()))).collect();
    assert_eq!(by_line.len(), report.injected_errors.len(), "duplicate lines");
    let mut seen = 0;
    for (path, id_name, modified_name, format) in FILES {
        let file_rows = rows(&report, path);
        let expected = report.injected_errors.iter().filter(|e| e.file == Path::new(path)).count() as u64;
        if file_rows >= 200 {
            assert!(expected >= 1, "{path}: no injected error");
        }
        assert!(expected <= file_rows / 100 + 1, "{path}: {expected} errors for {file_rows} rows");
        let mut reader = csv::Reader::from_path(dir.path().join(path)).expect("open");
        let header = reader.headers().expect("header").clone();
        let id = header.iter().position(|h| h == id_name).expect("id column");
        let modified = header.iter().position(|h| h == modified_name).expect("modified column");
        for result in reader.records() {
            let (line, actual) = match result {
                Err(e) => match e.kind() {
                    csv::ErrorKind::UnequalLengths { pos: Some(pos), .. } => {
                        (pos.line(), Some((InjectedErrorKind::ShortRow, None)))
                    }
                    other => panic!("{path}: unexpected error {other:?}"),
                },
                Ok(record) => {
                    let line = record.position().expect("position").line();
                    let actual = if record[id].is_empty() {
                        Some((InjectedErrorKind::EmptyId, Some(id_name.to_owned())))
                    } else if oracle::parse_date(format, &record[modified]).is_none() {
                        Some((InjectedErrorKind::BadDate, Some(modified_name.to_owned())))
                    } else {
                        None
                    };
                    (line, actual)
                }
            };
            assert_eq!(actual, by_line.get(&(PathBuf::from(path), line)).cloned(), "{path}:{line}");
            seen += u64::from(actual.is_some());
        }
    }
    assert_eq!(seen, report.injected_errors.len() as u64);
}

/// (file, email column, modification column and format)
const PERSON_FILES: [(&str, &str, &str, DateFormat); 3] = [
    ("salesforce/Contact.csv", "Email", "LastModifiedDate", DateFormat::SalesforceDateTime),
    ("dynamics/contacts.csv", "emailaddress1", "modifiedon", DateFormat::DynamicsDateTime),
    ("marketo/leads.csv", "email", "updatedAt", DateFormat::MarketoDateTime),
];

#[test]
fn overlapping_persons_share_normalized_emails_with_distinct_spellings_and_times() {
    let (dir, _) = generate(2_000, 42);
    // normalized email -> (file index, raw email, modification time)
    let mut by_email: BTreeMap<String, Vec<(usize, String, chrono::NaiveDateTime)>> = BTreeMap::new();
    let mut records = 0usize;
    let mut empty = 0usize;
    for (i, (path, email, modified, format)) in PERSON_FILES.iter().enumerate() {
        let mut reader = csv::Reader::from_path(dir.path().join(path)).expect("open");
        let header = reader.headers().expect("header").clone();
        let email = header.iter().position(|h| h == *email).expect("email column");
        let modified = header.iter().position(|h| h == *modified).expect("modified column");
        for record in reader.records().filter_map(Result::ok) {
            records += 1;
            let Some(time) = oracle::parse_date(*format, &record[modified]) else { continue };
            let raw = record[email].to_owned();
            let normalized = raw.trim().to_ascii_lowercase();
            if normalized.is_empty() {
                empty += 1;
                continue;
            }
            by_email.entry(normalized).or_default().push((i, raw, time));
        }
    }
    let empty_share = empty as f64 / records as f64;
    assert!((0.005..=0.04).contains(&empty_share), "empty email share {empty_share}");
    let mut multi = 0;
    let mut three = 0;
    let mut respelled = 0;
    for (email, group) in &by_email {
        let systems: HashSet<usize> = group.iter().map(|(i, ..)| *i).collect();
        assert_eq!(systems.len(), group.len(), "{email}: two records in one system");
        let times: HashSet<_> = group.iter().map(|(_, _, t)| *t).collect();
        assert_eq!(times.len(), group.len(), "{email}: equal modification times");
        if group.len() > 1 {
            multi += 1;
            let spellings: HashSet<&str> = group.iter().map(|(_, raw, _)| raw.as_str()).collect();
            respelled += usize::from(spellings.len() > 1);
        }
        three += usize::from(group.len() == 3);
    }
    // ≈30% of 2,000 persons are in two or three systems; ~1/3 of those in three.
    assert!((450..=750).contains(&multi), "multi-system persons {multi}");
    assert!((100..=300).contains(&three), "three-system persons {three}");
    assert!(respelled * 10 >= multi * 9, "most overlaps should differ in spelling: {respelled}/{multi}");
}

#[test]
fn salesforce_files_quote_every_field_and_use_typed_ids() {
    let (dir, _) = generate(500, 3);
    for (path, prefix) in [
        ("salesforce/Account.csv", "001"),
        ("salesforce/Contact.csv", "003"),
        ("salesforce/Opportunity.csv", "006"),
        ("salesforce/OpportunityContactRole.csv", "00K"),
    ] {
        let text = std::fs::read_to_string(dir.path().join(path)).expect("read");
        for line in text.lines() {
            assert!(line.starts_with('"') && line.ends_with('"'), "{path}: {line}");
        }
        let mut reader = csv::Reader::from_path(dir.path().join(path)).expect("open");
        for record in reader.records().filter_map(Result::ok) {
            let id = &record[0];
            assert!(id.is_empty() || (id.len() == 18 && id.starts_with(prefix)), "{path}: id {id}");
        }
    }
    let mut reader = csv::Reader::from_path(dir.path().join("dynamics/contacts.csv")).expect("open");
    for record in reader.records().filter_map(Result::ok) {
        let id = &record[0];
        assert!(id.is_empty() || (id.len() == 36 && !id.chars().any(|c| c.is_ascii_uppercase())), "guid {id}");
    }
}

#[test]
fn generated_data_has_a_sizeable_bodea_audience() {
    let (dir, _) = generate(2_000, 42);
    let persons = oracle::person_count(dir.path(), SALESFORCE_ORG_ID, DYNAMICS_ORG_ID, MARKETO_MUNCHKIN_ID);
    // 2,000 persons, minus nothing for overlaps, plus a few split by an empty or lost e-mail.
    assert!((1_950..=2_150).contains(&persons), "persons {persons}");
    let audience = oracle::bodea_audience(dir.path(), SALESFORCE_ORG_ID, DYNAMICS_ORG_ID, MARKETO_MUNCHKIN_ID);
    assert!((60..=400).contains(&audience.len()), "audience {}", audience.len());
    assert!(audience.iter().any(|m| m.len() > 1), "no multi-system member");
}

#[test]
fn report_serializes() {
    let (_dir, report) = generate(300, 1);
    let json = serde_json::to_string(&report).expect("serialize");
    assert!(json.contains("\"injected_errors\"") && json.contains("salesforce/Contact.csv"), "{json}");
}

#[test]
fn zero_persons_writes_headers_only() {
    let (_dir, report) = generate(0, 1);
    assert!(report.files.iter().all(|f| f.rows == 0));
    assert!(report.injected_errors.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The oracle on a hand-made data set.

const SF_CONTACT_HEADER: &str = "\"Id\",\"AccountId\",\"FirstName\",\"LastName\",\"Name\",\"Email\",\"Department\",\"Title\",\"Phone\",\"MailingCity\",\"MailingCountry\",\"LeadSource\",\"CreatedDate\",\"LastModifiedDate\"";

fn sf_contact(id: &str, account: &str, email: &str, department: &str, modified: &str) -> String {
    format!(
        "\"{id}\",\"{account}\",\"A\",\"B\",\"A B\",\"{email}\",\"{department}\",\"\",\"\",\"\",\"\",\"\",\"2020-01-01T00:00:00.000Z\",\"{modified}\""
    )
}

fn dyn_contact(id: &str, account: &str, email: &str, department: &str, modified: &str) -> String {
    format!("{id},{account},A,B,A B,{email},{department},,,,,1/1/2020 12:00:00 AM,{modified}")
}

fn lead(id: &str, email: &str, department: &str, unsubscribed: &str, updated: &str) -> String {
    format!("{id},{email},A,B,Co,,{department},10,Web,{unsubscribed},2020-01-01T00:00:00Z,{updated}")
}

fn sf_opportunity(id: &str, account: &str, closed: &str, close_date: &str) -> String {
    format!(
        "\"{id}\",\"{account}\",\"N\",\"S\",\"1.00\",\"USD\",\"{closed}\",\"false\",\"{close_date}\",\"10\",\"\",\"\",\"2020-01-01T00:00:00.000Z\",\"2020-02-01T00:00:00.000Z\""
    )
}

fn dyn_opportunity(id: &str, account: &str, state: &str) -> String {
    format!("{id},{account},N,{state},0,1.00,,3/1/2024,10,1/1/2020 12:00:00 AM,2/1/2020 12:00:00 AM")
}

fn write(dir: &Path, path: &str, lines: &[String]) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, lines.join("\n") + "\n").expect("write");
}

/// Writes the hand-made data set; see [`oracle_computes_hand_checked_members`] for the story.
fn hand_made(dir: &Path) {
    write(
        dir,
        "salesforce/Contact.csv",
        &[
            SF_CONTACT_HEADER.to_owned(),
            // Ann: Sales here, but her later Marketo lead says Marketing.
            sf_contact("003A", "001A", "ann@x.com", "Sales", "2024-01-01T00:00:00.000Z"),
            // Bob: Marketing here, Sales in his later Dynamics contact.
            sf_contact("003B", "001A", "bob@x.com", "Marketing", "2024-01-01T00:00:00.000Z"),
            // Cat: Sales, but her account only has a closed opportunity.
            sf_contact("003C", "001B", "cat@x.com", "Sales", "2024-01-01T00:00:00.000Z"),
            // Dan: Sales, but his account's open opportunity row is rejected.
            sf_contact("003D", "001C", "dan@x.com", "Sales", "2024-01-01T00:00:00.000Z"),
            // Eve's contact is rejected (bad datetime): her lead alone has no account.
            sf_contact("003E", "001A", "eve@x.com", "", "yesterday"),
            // A short row: rejected.
            "\"003F\",\"001A\",\"Short\"".to_owned(),
        ],
    );
    write(
        dir,
        "dynamics/contacts.csv",
        &[
            "contactid,parentcustomerid,firstname,lastname,fullname,emailaddress1,department,jobtitle,telephone1,address1_city,address1_country,createdon,modifiedon".to_owned(),
            dyn_contact("d1", "", " Bob@X.com", "Sales", "3/1/2024 10:00:00 AM"),
            // No e-mail: a person on its own, Sales after trim, open opportunity on acc-d.
            dyn_contact("d2", "acc-d", "", " Sales ", "1/1/2024 1:00:00 PM"),
            dyn_contact("d3", "acc-e", "fay@x.com", "Sales", "12/1/2023 1:00:00 PM"),
            // Invalid date (month 13): rejected, otherwise it would be a member.
            dyn_contact("d4", "acc-d", "gil@x.com", "Sales", "13/1/2023 1:00:00 PM"),
        ],
    );
    write(
        dir,
        "marketo/leads.csv",
        &[
            "id,email,firstName,lastName,company,title,department,leadScore,leadSource,unsubscribed,createdAt,updatedAt"
                .to_owned(),
            lead("1001", "  ANN@X.com ", "Marketing", "false", "2024-02-01T00:00:00Z"),
            lead("1002", "eve@x.com", "Sales", "false", "2024-01-05T00:00:00Z"),
            // Fay's later lead has no department: her Dynamics Sales stands.
            lead("1003", "Fay@x.com", "", "true", "2024-03-01T00:00:00Z"),
            // Bad boolean: rejected.
            lead("1004", "gus@x.com", "Sales", "maybe", "2024-03-01T00:00:00Z"),
        ],
    );
    write(
        dir,
        "salesforce/Opportunity.csv",
        &[
            "\"Id\",\"AccountId\",\"Name\",\"StageName\",\"Amount\",\"CurrencyIsoCode\",\"IsClosed\",\"IsWon\",\"CloseDate\",\"Probability\",\"Type\",\"LeadSource\",\"CreatedDate\",\"LastModifiedDate\"".to_owned(),
            sf_opportunity("006A", "001A", "false", "2024-05-01"),
            sf_opportunity("006B", "001B", "true", "2024-05-01"),
            sf_opportunity("006C", "001C", "false", "2024-02-30"),
        ],
    );
    write(
        dir,
        "dynamics/opportunities.csv",
        &[
            "opportunityid,parentaccountid,name,statecode,salesstage,estimatedvalue,actualvalue,estimatedclosedate,closeprobability,createdon,modifiedon".to_owned(),
            dyn_opportunity("o1", "acc-d", "0"),
            dyn_opportunity("o2", "acc-e", "1"),
            dyn_opportunity("o3", "acc-e", "0"),
        ],
    );
}

fn keys(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

#[test]
fn oracle_computes_hand_checked_members() {
    let dir = tempfile::tempdir().expect("temp dir");
    hand_made(dir.path());
    let audience = oracle::bodea_audience(dir.path(), "SF", "DY", "MK");
    let expected: BTreeSet<BTreeSet<String>> = [
        keys(&["003B@SF.Salesforce", "d1@DY.Dynamics"]),
        keys(&["d2@DY.Dynamics"]),
        keys(&["d3@DY.Dynamics", "1003@MK.Marketo"]),
    ]
    .into_iter()
    .collect();
    assert_eq!(audience, expected);
    // Accepted: 003A-D, d1-d3, 1001-1003. Persons: ann, bob, cat, dan, d2, fay, eve.
    assert_eq!(oracle::person_count(dir.path(), "SF", "DY", "MK"), 7);
}

#[test]
#[should_panic(expected = "department tie")]
fn oracle_panics_on_a_department_tie() {
    let dir = tempfile::tempdir().expect("temp dir");
    hand_made(dir.path());
    let path = dir.path().join("marketo/leads.csv");
    let mut text = std::fs::read_to_string(&path).expect("read");
    // Same instant as Cat's Salesforce contact.
    text.push_str(&lead("1005", "cat@x.com", "Legal", "false", "2024-01-01T00:00:00Z"));
    text.push('\n');
    std::fs::write(&path, text).expect("write");
    oracle::bodea_audience(dir.path(), "SF", "DY", "MK");
}

#[test]
fn oracle_date_formats_are_strict() {
    use DateFormat::*;
    assert!(oracle::parse_date(SalesforceDateTime, "2024-03-05T14:22:11.000Z").is_some());
    assert!(oracle::parse_date(SalesforceDateTime, "2024-02-30T10:00:00.000Z").is_none());
    assert!(oracle::parse_date(SalesforceDateTime, "2024-03-05T14:22:11Z").is_none());
    assert!(oracle::parse_date(SalesforceDate, "2024-03-05").is_some());
    assert!(oracle::parse_date(SalesforceDate, "31/12/2023").is_none());
    assert!(oracle::parse_date(DynamicsDateTime, "3/5/2024 2:22:11 PM").is_some());
    assert!(oracle::parse_date(DynamicsDateTime, "12/31/2023 12:00:00 AM").is_some());
    assert!(oracle::parse_date(DynamicsDateTime, "13/45/2024 1:00:00 PM").is_none());
    assert!(oracle::parse_date(DynamicsDateTime, "3/5/2024 0:22:11 PM").is_none());
    assert!(oracle::parse_date(DynamicsDateTime, "2/29/2023 9:15:00 AM").is_none());
    assert!(oracle::parse_date(DynamicsDate, "3/5/2024").is_some());
    assert!(oracle::parse_date(DynamicsDate, "yesterday").is_none());
    assert!(oracle::parse_date(MarketoDateTime, "2024-03-05T14:22:11Z").is_some());
    assert!(oracle::parse_date(MarketoDateTime, "2024-13-01T00:00:00Z").is_none());
    assert_eq!(
        oracle::parse_date(DynamicsDateTime, "3/5/2024 2:22:11 PM"),
        oracle::parse_date(MarketoDateTime, "2024-03-05T14:22:11Z")
    );
}
