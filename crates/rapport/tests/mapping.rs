//! `rapport mapping …` through the binary: propose, save, edit, reuse in a dry run that writes nothing.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn rapport(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rapport")).arg("--data-dir").arg(data_dir).args(args).output().unwrap()
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A temporary folder with a data directory `data` in it holding the B2B schemas.
fn with_schemas() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(rapport(&data, &["schema", "generate-b2b"]));
    (tmp, data)
}

#[test]
fn issue_4_propose_prints_one_line_per_mapping_and_the_unmapped_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("people.csv");
    std::fs::write(&csv, "Email,First Name,Lead Score,Shoe Size\na@x.com,Ann,3,42\n").unwrap();
    let out = ok(rapport(tmp.path(), &["mapping", "propose", csv.to_str().unwrap(), "--entity", "person"]));
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(
        lines,
        vec![
            "  0.95  Email → workEmail.address  (synonym)",
            "  0.95  First Name → person.name.firstName  (synonym)",
            "  0.95  to_decimal(${Lead Score}) → b2b.personScore  (synonym)",
            "unmapped columns (1): Shoe Size",
        ]
    );
    let json: Value = serde_json::from_str(&ok(rapport(
        tmp.path(),
        &["mapping", "propose", csv.to_str().unwrap(), "--entity", "person", "--json"],
    )))
    .unwrap();
    assert_eq!(json["proposal"]["unmapped_fields"], json!(["Shoe Size"]));
    assert_eq!(json["mappingSet"]["mappings"][0]["source"], json!("Email"));
}

#[test]
fn issue_4_a_crm_export_under_another_file_name_is_recognised_by_its_header() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("extract.csv");
    std::fs::write(&csv, "ID,ACCOUNTID,FIRSTNAME,LASTNAME,EMAIL,SCORE__C\n003A,001A,Ann,Lee,a@x.com,3\n").unwrap();
    let out = ok(rapport(tmp.path(), &["mapping", "propose", csv.to_str().unwrap(), "--entity", "person"]));
    let first = out.lines().next().unwrap();
    assert_eq!(
        first,
        format!("{}: the Salesforce Contact export table (recognised by its header) → person", csv.display())
    );
    assert_eq!(out.lines().last(), Some("unmapped columns (1): SCORE__C"));
    let json: Value = serde_json::from_str(&ok(rapport(
        tmp.path(),
        &["mapping", "propose", csv.to_str().unwrap(), "--entity", "person", "--json"],
    )))
    .unwrap();
    assert_eq!(
        (&json["proposal"]["template"], &json["proposal"]["recognised_by"]),
        (&json!("Salesforce Contact"), &json!("header"))
    );
}

#[test]
fn issue_4_propose_and_dry_run_read_the_formats_load_reads() {
    let (tmp, data) = with_schemas();
    // Semicolons and Latin-1 (`é` is the single byte 0xE9).
    let csv = tmp.path().join("people.csv");
    std::fs::write(&csv, b"id;Email;First Name\np1;a@x.com;Ren\xE9e\n".as_slice()).unwrap();
    let format = "csv:delimiter=semicolon,encoding=latin1";
    let file = csv.to_str().unwrap();
    let proposal: Value = serde_json::from_str(&ok(rapport(
        &data,
        &["mapping", "propose", file, "--entity", "person", "--format", format, "--json"],
    )))
    .unwrap();
    let sources: Vec<&str> =
        proposal["mappingSet"]["mappings"].as_array().unwrap().iter().filter_map(|m| m["source"].as_str()).collect();
    assert_eq!(sources, ["id", "Email", "First Name"], "{proposal}");
    assert_eq!(proposal["proposal"]["unmapped_fields"], json!([]));

    let mapping = tmp.path().join("m.json");
    std::fs::write(
        &mapping,
        r#"{"entity": "person", "mappings": [
            {"sourceType": "EXPRESSION", "source": "concat(id, \"@s.Web\")", "destination": "b2b.personKey.sourceKey"},
            {"sourceType": "ATTRIBUTE", "source": "First Name", "destination": "person.name.firstName"}]}"#,
    )
    .unwrap();
    let args = ["mapping", "dry-run", mapping.to_str().unwrap(), file, "--format", format, "--json"];
    let run: Value = serde_json::from_str(&ok(rapport(&data, &args))).unwrap();
    assert_eq!((run["rows_read"].as_u64(), run["rows_valid"].as_u64()), (Some(1), Some(1)), "{run}");
    assert_eq!(run["sample"][0][1]["person"]["name"]["firstName"], json!("Renée"));
    assert_eq!(run["unmapped_fields"], json!(["Email"]));
}

#[test]
fn issue_4_a_saved_template_is_edited_and_reused_in_a_dry_run_that_writes_nothing() {
    let (tmp, data) = with_schemas();
    let file = tmp.path().join("contact.json");
    let saved = ok(rapport(&data, &["mapping", "show", "salesforce", "Contact", "--out", file.to_str().unwrap()]));
    assert_eq!(saved.trim(), format!("saved 51 mappings to {}", file.display()));

    // Edit: map the custom column too.
    let mut set: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    set["mappings"].as_array_mut().unwrap().push(json!({
        "sourceType": "EXPRESSION", "source": "upper(Title__c)", "destination": "extendedWorkDetails.jobTitle"
    }));
    std::fs::write(&file, serde_json::to_string_pretty(&set).unwrap()).unwrap();

    let csv = tmp.path().join("Contact.csv");
    std::fs::write(&csv, "Id,Email,Title__c,Fax__c\n003A,a@x.com,cto,1\n,b@x.com,ceo,2\n").unwrap();
    let args = ["mapping", "dry-run", file.to_str().unwrap(), csv.to_str().unwrap(), "--crm-org-id", "00D9"];
    let refused = rapport(&data, &args);
    assert!(!refused.status.success());
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr).trim(),
        format!(
            "error: {}: mapping 9 (→ b2b.accountKey.sourceID) reads `AccountId`, which the input does not have",
            file.display()
        )
    );

    let mut args = args.to_vec();
    args.extend(["--skip-missing", "--json"]);
    let run: Value = serde_json::from_str(&ok(rapport(&data, &args))).unwrap();
    assert_eq!((run["rows_read"].as_u64(), run["rows_valid"].as_u64()), (Some(2), Some(1)));
    assert_eq!(run["sample"][0][1]["extendedWorkDetails"], json!({"jobTitle": "CTO"}));
    assert_eq!(run["sample"][0][1]["b2b"]["personKey"]["sourceKey"], json!("003A@00D9.Salesforce"));
    assert_eq!(run["rejected"][0]["line"], json!(3));
    assert_eq!(run["rejected"][0]["code"], json!("missing_id"));
    assert_eq!(run["unmapped_fields"], json!(["Fax__c"]));
    let status: Value = serde_json::from_str(&ok(rapport(&data, &["status", "--json"]))).unwrap();
    assert_eq!(status["batches"], json!(0), "a dry run writes nothing");
}

#[test]
fn issue_4_ingest_dry_run_writes_nothing_and_predicts_the_ingest_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let sample = tmp.path().join("bodea");
    ok(rapport(&data, &["generate", "bodea", "--out", sample.to_str().unwrap(), "--persons", "400"]));
    ok(rapport(&data, &["schema", "generate-b2b"]));
    let folder = sample.join("salesforce");
    let folder = folder.to_str().unwrap();

    let dry: Value = serde_json::from_str(&ok(rapport(
        &data,
        &["ingest", "salesforce", folder, "--instance", "00D9", "--dry-run", "--json"],
    )))
    .unwrap();
    let status: Value = serde_json::from_str(&ok(rapport(&data, &["status", "--json"]))).unwrap();
    assert_eq!(status["batches"], json!(0), "a dry run writes nothing");

    let real: Value =
        serde_json::from_str(&ok(rapport(&data, &["ingest", "salesforce", folder, "--instance", "00D9", "--json"])))
            .unwrap();
    let mut predicted: Vec<(String, u64, u64, u64)> = dry
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let run = &f["dry_run"];
            let rejected = run["rejected"].as_array().unwrap().len() as u64;
            (
                f["file"].as_str().unwrap().to_owned(),
                run["rows_read"].as_u64().unwrap(),
                run["rows_valid"].as_u64().unwrap(),
                rejected,
            )
        })
        .collect();
    let mut ingested: Vec<(String, u64, u64, u64)> = real["ingest"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let count = |key: &str| f[key].as_u64().unwrap();
            (f["file"].as_str().unwrap().to_owned(), count("rows_read"), count("rows_ingested"), count("rows_rejected"))
        })
        .collect();
    predicted.sort();
    ingested.sort();
    assert_eq!(predicted.len(), 4, "Account, Contact, Opportunity, OpportunityContactRole");
    assert_eq!(predicted, ingested);
}

#[test]
fn issue_4_an_export_file_named_on_its_own_is_ingested_as_the_table_its_header_tells() {
    let (tmp, data) = with_schemas();
    // A Data Loader extract of contacts: upper-case names, quoted, a file name that says nothing.
    let extract = tmp.path().join("extract.csv");
    std::fs::write(
        &extract,
        "\"ID\",\"ACCOUNTID\",\"FIRSTNAME\",\"LASTNAME\",\"EMAIL\",\"LASTMODIFIEDDATE\"\n\
         \"003A\",\"001A\",\"Ann\",\"Lee\",\"ann@x.com\",\"2024-03-01T10:00:00.000Z\"\n\
         \"003B\",\"\",\"Bob\",\"Ray\",\"bob@x.com\",\"2024-03-01T10:00:00.000Z\"\n",
    )
    .unwrap();
    let extract = extract.to_str().unwrap();
    let out: Value =
        serde_json::from_str(&ok(rapport(&data, &["ingest", "salesforce", extract, "--instance", "00D9", "--json"])))
            .unwrap();
    let file = &out["ingest"]["files"][0];
    assert_eq!(
        (&file["table"], &file["rows_ingested"], &file["rows_rejected"]),
        (&json!("Salesforce Contact"), &json!(2), &json!(0)),
        "{out}"
    );
    let profile = ok(rapport(&data, &["profile", "get", "Email", "ann@x.com", "--json"]));
    assert!(profile.contains("001A@00D9.Salesforce"), "the account key of the contact template: {profile}");

    // A header a contact and a lead fit equally tells no table; the file is refused, naming both ways.
    let ambiguous = tmp.path().join("people.csv");
    std::fs::write(&ambiguous, "Id,FirstName,LastName,Email\n003C,Cy,Oh,cy@x.com\n").unwrap();
    let refused = rapport(&data, &["ingest", "salesforce", ambiguous.to_str().unwrap()]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(
        stderr
            .contains("people.csv: not a known salesforce export file: neither its name (expected one of: account.csv"),
        "{stderr}"
    );
    assert!(stderr.contains("nor its header tells one of its tables (docs/mapping.md, \"Auto-mapping\")"), "{stderr}");
    // In a folder, a file whose name tells nothing is read by its header too; other files are skipped.
    let folder = tmp.path().join("exports");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(
        folder.join("Active Contacts 2024-03.csv"),
        "ID,ACCOUNTID,FIRSTNAME,LASTNAME,EMAIL\n003D,001A,Di,Ng,di@x.com\n",
    )
    .unwrap();
    std::fs::write(folder.join("notes.csv"), "Id,Note\n1,call back\n").unwrap();
    std::fs::write(folder.join("README.txt"), "ID,ACCOUNTID,FIRSTNAME,LASTNAME,EMAIL\n").unwrap();
    let out: Value = serde_json::from_str(&ok(rapport(
        &data,
        &["ingest", "salesforce", folder.to_str().unwrap(), "--instance", "00D9", "--json"],
    )))
    .unwrap();
    let files: Vec<(&str, &str, u64)> = out["ingest"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["file"].as_str().unwrap(), f["table"].as_str().unwrap(), f["rows_ingested"].as_u64().unwrap()))
        .collect();
    let shown = |name: &str| folder.join(name).display().to_string();
    assert_eq!(files, [(shown("Active Contacts 2024-03.csv").as_str(), "Salesforce Contact", 1)]);
    assert_eq!(out["ingest"]["skipped"], json!([shown("README.txt"), shown("notes.csv")]));

    // The Salesforce extract is no Marketo export, though Marketo's lead table reads most of its columns.
    let refused = rapport(&data, &["ingest", "marketo", extract]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(stderr.contains("extract.csv: not a known marketo export file"), "{stderr}");
}
