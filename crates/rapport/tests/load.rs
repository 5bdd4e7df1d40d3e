//! Issue #4: `rapport load` — any file format through a mapping set into a dataset, one batch per file.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

#[path = "support/cli.rs"]
mod cli;

use std::path::{Path, PathBuf};

use cli::{ok_json, run as rapport};
use rapport_model::EntityKind;
use serde_json::{json, Value};

const MAPPING: &str = r#"{
  "entity": "person",
  "name": "web people",
  "required": ["id"],
  "mappings": [
    {"sourceType": "CONSTANT", "source": "Web", "destination": "b2b.personKey.sourceType"},
    {"sourceType": "CONSTANT", "source": "${CRM_ORG_ID}", "destination": "b2b.personKey.sourceInstanceID"},
    {"sourceType": "ATTRIBUTE", "source": "id", "destination": "b2b.personKey.sourceID"},
    {"sourceType": "EXPRESSION", "source": "concat(id, \"@${CRM_ORG_ID}.Web\")", "destination": "b2b.personKey.sourceKey"},
    {"sourceType": "EXPRESSION", "source": "lower(email)", "destination": "workEmail.address"},
    {"sourceType": "ATTRIBUTE", "source": "first", "destination": "person.name.firstName"}
  ]
}"#;

/// Person fragments of `dataset`: (sourceID, email, first name), sorted.
fn people(data: &Path, dataset: &str) -> Vec<(String, String, String)> {
    let engine = rapport_engine::Engine::open(data).unwrap();
    let mut out: Vec<(String, String, String)> = engine
        .store()
        .fragments(EntityKind::Person)
        .unwrap()
        .into_iter()
        .filter(|f| f.dataset == dataset)
        .map(|f| {
            let r = Value::Object(f.record);
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&r["b2b"]["personKey"]["sourceID"]),
                text(&r["workEmail"]["address"]),
                text(&r["person"]["name"]["firstName"]),
            )
        })
        .collect();
    out.sort();
    out
}

/// A temporary folder with a data directory holding the B2B schemas, and `mapping` saved as a mapping file:
/// (folder, data directory, mapping file).
fn setup(mapping: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok_json(&data, &["schema", "generate-b2b", "--json"]);
    let file = tmp.path().join("mapping.json");
    std::fs::write(&file, mapping).unwrap();
    (tmp, data, file)
}

fn triple(id: &str, email: &str, first: &str) -> (String, String, String) {
    (id.to_owned(), email.to_owned(), first.to_owned())
}

#[test]
fn issue_4_load_a_semicolon_latin1_csv_and_an_ndjson_file_with_one_bad_line() {
    let (tmp, data, mapping) = setup(MAPPING);

    // Latin-1: 0xEB is `ë`, which UTF-8 writes as two bytes.
    let csv = tmp.path().join("people.txt");
    std::fs::write(&csv, b"id;email;first\np1;ZOE@X.com;Zo\xeb\np2;bo@x.com;Bo\n").unwrap();
    let loaded = ok_json(
        &data,
        &[
            "load",
            csv.to_str().unwrap(),
            "--mapping",
            mapping.to_str().unwrap(),
            "--dataset",
            "web.people",
            "--format",
            "csv:delimiter=semicolon,encoding=latin1",
            "--crm-org-id",
            "site1",
            "--json",
        ],
    );
    let file = &loaded["files"][0];
    assert_eq!(
        (file["state"].as_str(), file["rows_read"].as_u64(), file["rows_ingested"].as_u64()),
        (Some("success"), Some(2), Some(2))
    );
    assert_eq!(people(&data, "web.people"), [triple("p1", "zoe@x.com", "Zoë"), triple("p2", "bo@x.com", "Bo")]);

    // Line 2 is cut short. Line 1 is 42 characters and its newline: line 2 starts at byte 43.
    let ndjson = tmp.path().join("more.ndjson");
    std::fs::write(
        &ndjson,
        "{\"id\":\"p3\",\"email\":\"C@X.com\",\"first\":\"Cy\"}\n\
         {\"id\":\"p4\",\"email\":\"d@x.com\"\n\
         {\"id\":\"p5\",\"email\":\"e@x.com\",\"first\":\"Eve\"}\n",
    )
    .unwrap();
    let args = ["load", ndjson.to_str().unwrap(), "--mapping", mapping.to_str().unwrap(), "--dataset", "web.people"];
    let args = [&args[..], &["--crm-org-id", "site1", "--json"]].concat();
    // 1 of 3 rows rejected is 33.3 %: over the default 5 % the batch fails, exit status 1, nothing stored.
    let refused = rapport(&data, &args);
    assert_eq!(refused.status.code(), Some(1));
    let failed: Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(failed["files"][0]["state"], "failed");
    assert_eq!(failed["files"][0]["reason"]["code"], "threshold_exceeded");
    assert_eq!(people(&data, "web.people").len(), 2);

    let args = [&args[..], &["--error-threshold", "34"]].concat();
    let loaded = ok_json(&data, &args);
    let file = &loaded["files"][0];
    assert_eq!(
        (file["rows_read"].as_u64(), file["rows_ingested"].as_u64(), file["rows_rejected"].as_u64()),
        (Some(3), Some(2), Some(1))
    );
    let rejected = &file["rejected"][0];
    assert_eq!(
        (&rejected["file"], &rejected["line"], &rejected["offset"], &rejected["code"]),
        (&json!(ndjson.to_str().unwrap()), &json!(2), &json!(43), &json!("unparsable"))
    );
    assert_eq!(
        people(&data, "web.people"),
        [
            triple("p1", "zoe@x.com", "Zoë"),
            triple("p2", "bo@x.com", "Bo"),
            triple("p3", "c@x.com", "Cy"),
            triple("p5", "e@x.com", "Eve")
        ]
    );
    // Four people with distinct identities: four profiles.
    let person = loaded["profiles"]["entities"].as_array().unwrap().iter().find(|e| e["entity"] == "person").unwrap();
    assert_eq!((person["profiles"].as_u64(), person["fragments"].as_u64()), (Some(4), Some(4)));

    // The stored rejected row is the same, with its byte offset.
    let batch = file["batch_id"].as_i64().unwrap();
    let engine = rapport_engine::Engine::open(&data).unwrap();
    let stored = engine.store().rejected_rows(batch).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].line, stored[0].offset), (2, Some(43)));
}

#[test]
fn issue_4_load_names_a_mapping_that_does_not_fit_the_file() {
    let (tmp, data, mapping) = setup(MAPPING);
    let csv = tmp.path().join("people.csv");
    std::fs::write(&csv, "id,mail,first\np1,a@x.com,Ann\n").unwrap();
    let out = rapport(
        &data,
        &["load", csv.to_str().unwrap(), "--mapping", mapping.to_str().unwrap(), "--dataset", "d", "--crm-org-id", "s"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("loading {} with {}", csv.display(), mapping.display())), "{stderr}");
    assert!(stderr.contains("reads `email`, which the input does not have"), "{stderr}");
}

#[test]
fn issue_4_load_tries_every_file_and_reports_each() {
    let (tmp, data, mapping) = setup(MAPPING);
    let file = |name: &str, text: &str| {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let a = file("a.csv", "id,email,first\np1,a@x.com,Ann\n");
    let empty = file("empty.csv", "");
    let missing = tmp.path().join("missing.csv").display().to_string();
    let unfit = file("unfit.csv", "id,mail,first\np9,z@x.com,Zed\n");
    let c = file("c.csv", "id,email,first\np3,c@x.com,Cy\n");
    let mut args = vec!["load", &a, &empty, &missing, &unfit, &c];
    args.extend(["--mapping", mapping.to_str().unwrap(), "--dataset", "d", "--crm-org-id", "s", "--json"]);
    let out = rapport(&data, &args);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<(String, String, u64, Option<String>)> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = Path::new(f["file"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
            let reason = f["reason"]["code"].as_str().map(str::to_owned);
            (name, f["state"].as_str().unwrap().to_owned(), f["rows_ingested"].as_u64().unwrap(), reason)
        })
        .collect();
    let failed = |name: &str| (name.to_owned(), "failed".to_owned(), 0, Some("input_unreadable".to_owned()));
    assert_eq!(
        files,
        [
            ("a.csv".to_owned(), "success".to_owned(), 1, None),
            failed("empty.csv"),
            failed("missing.csv"),
            ("c.csv".to_owned(), "success".to_owned(), 1, None),
        ]
    );
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["file"], json!(unfit));
    assert!(
        errors[0]["error"].as_str().unwrap().contains("reads `email`, which the input does not have"),
        "{errors:?}"
    );
    assert_eq!(people(&data, "d"), [triple("p1", "a@x.com", "Ann"), triple("p3", "c@x.com", "Cy")]);
}

#[test]
fn issue_4_an_empty_ndjson_file_fails_as_empty_and_an_empty_json_array_is_an_empty_batch() {
    let (tmp, data, mapping) = setup(MAPPING);
    let file = |name: &str, text: &str| {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let empty = file("empty.ndjson", "");
    let blank = file("blank.ndjson", "\n  \r\n\n");
    let none = file("none.json", " [ ] \n");
    let good = file("good.ndjson", "\n{\"id\":\"p1\",\"email\":\"A@x.com\",\"first\":\"Ann\"}\n");
    let mut args = vec!["load", &empty, &blank, &none, &good];
    args.extend(["--mapping", mapping.to_str().unwrap(), "--dataset", "d", "--crm-org-id", "s", "--json"]);
    let out = rapport(&data, &args);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.get("errors"), None, "no file is refused by the mapping: {report}");
    let files: Vec<(String, u64, u64, Option<String>)> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let reason = f["reason"]["message"].as_str().map(str::to_owned);
            (
                f["state"].as_str().unwrap().to_owned(),
                f["rows_read"].as_u64().unwrap(),
                f["rows_ingested"].as_u64().unwrap(),
                reason,
            )
        })
        .collect();
    let is_empty = |name: &str| {
        ("failed".to_owned(), 0, 0, Some(format!("cannot read {}: the file is empty", tmp.path().join(name).display())))
    };
    assert_eq!(
        files,
        [
            is_empty("empty.ndjson"),
            is_empty("blank.ndjson"),
            ("success".to_owned(), 0, 0, None),
            ("success".to_owned(), 1, 1, None),
        ]
    );
    assert_eq!(people(&data, "d"), [triple("p1", "a@x.com", "Ann")]);
}

#[test]
fn issue_4_a_row_refused_by_the_schema_names_its_line_byte_and_field_once() {
    let (tmp, data, mapping) = setup(MAPPING);
    let text = "id,email,first\r\np1,a@x.com,Ann\r\np2,not an email,Bob\r\n";
    let csv = tmp.path().join("people.csv");
    std::fs::write(&csv, text).unwrap();
    let args = ["load", csv.to_str().unwrap(), "--mapping", mapping.to_str().unwrap(), "--dataset", "d"];
    let report = ok_json(&data, &[&args[..], &["--crm-org-id", "s", "--error-threshold", "50", "--json"]].concat());
    let rejected = &report["files"][0]["rejected"];
    assert_eq!(rejected.as_array().unwrap().len(), 1, "{rejected}");
    let row = &rejected[0];
    assert_eq!((row["line"].as_u64(), row["offset"].as_u64()), (Some(3), Some(text.find("p2").unwrap() as u64)));
    assert_eq!((row["field"].as_str(), row["code"].as_str()), (Some("workEmail.address"), Some("invalid")));
    let message = row["message"].as_str().unwrap();
    assert!(!message.contains("workEmail.address"), "the field is named once, in `field`: {message}");
    assert!(message.contains("not an email"), "{message}");
}

#[test]
fn issue_4_fields_inside_objects_and_keys_first_seen_late_are_listed_as_unmapped() {
    let (tmp, data, mapping) = setup(
        r#"{"entity": "person", "required": ["id"], "mappings": [
            {"sourceType": "EXPRESSION", "source": "concat(id, \"@s.Web\")", "destination": "b2b.personKey.sourceKey"},
            {"sourceType": "ATTRIBUTE", "source": "address.city", "destination": "workAddress.city"}]}"#,
    );
    // 1,200 rows; only row 1,100 (past the 1,000 rows read ahead) has `Favourite_Colour__c`.
    let mut text = String::new();
    for i in 1..=1200 {
        let extra = if i == 1100 { r#","Favourite_Colour__c":"blue""# } else { "" };
        text.push_str(&format!(
            r#"{{"id":"{i}","address":{{"city":"Paris","zip":"75001","custom__c":"x"}},"name":"A"{extra}}}"#
        ));
        text.push('\n');
    }
    let file = tmp.path().join("people.ndjson");
    std::fs::write(&file, text).unwrap();
    let want = json!(["name", "Favourite_Colour__c", "address.custom__c", "address.zip"]);
    let path = file.to_str().unwrap();
    let run = ok_json(&data, &["mapping", "dry-run", mapping.to_str().unwrap(), path, "--json"]);
    assert_eq!(run["unmapped_fields"], want);
    let report = ok_json(&data, &["load", path, "--mapping", mapping.to_str().unwrap(), "--dataset", "d", "--json"]);
    assert_eq!(report["files"][0]["unmapped_columns"], want);
    assert_eq!(report["files"][0]["rows_ingested"], 1200);
}
