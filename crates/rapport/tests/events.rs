//! `rapport events load` (issue #6's experience events from the command line): NDJSON rows, the exact rejected
//! rows with line and byte offset, deduplication by `_id` on a reload, and an audience on events following the
//! load with no `audience evaluate`.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

#[path = "support/cli.rs"]
mod cli;

use std::path::Path;

use cli::ok_json;

fn members(data_dir: &Path, audience: &str) -> Vec<String> {
    let list = ok_json(data_dir, &["audience", "members", audience, "--json"]);
    let mut out: Vec<String> =
        list.as_array().unwrap().iter().map(|m| m["primary"].as_str().unwrap().to_owned()).collect();
    out.sort();
    out
}

#[test]
fn issue_6_events_load_rejects_exact_rows_dedupes_and_audiences_follow() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let crm = tmp.path().join("crm");
    std::fs::create_dir_all(&crm).unwrap();
    std::fs::write(
        crm.join("Contact.csv"),
        "Id,Email,LastName,LastModifiedDate\nC1,a@x.com,Doe,2024-03-01T00:00:00.000Z\nC2,b@x.com,Roe,2024-03-01T00:00:00.000Z\n",
    )
    .unwrap();
    ok_json(&data, &["schema", "generate-b2b", "--json"]);
    ok_json(&data, &["ingest", "salesforce", crm.to_str().unwrap(), "--instance", "org", "--json"]);
    let pql = r#"xEvent[web.webPageDetails.URL like "%/pricing%"].count() >= 2"#;
    ok_json(&data, &["audience", "create", "pricing", "--pql", pql, "--json"]);
    assert!(members(&data, "pricing").is_empty());

    let view = |id: &str, who: &str, url: &str| {
        format!(
            r#"{{"_id":"{id}","eventType":"web.webpagedetails.pageViews","timestamp":"2026-11-01T10:00:00Z","personKey":{{"sourceKey":"{who}"}},"web":{{"webPageDetails":{{"URL":"{url}"}}}}}}"#
        )
    };
    let lines = [
        view("v1", "C1@org.Salesforce", "https://bodea.com/pricing"),
        "{not json".to_owned(),
        view("v2", "C1@org.Salesforce", "https://bodea.com/pricing/enterprise"),
        r#"{"eventType":"web.webpagedetails.pageViews","timestamp":"2026-11-01T10:00:00Z","personKey":{"sourceKey":"C2@org.Salesforce"}}"#.to_owned(),
        String::new(),
        view("v3", "C2@org.Salesforce", "https://bodea.com/docs"),
        view("v4", "C9@org.Salesforce", "https://bodea.com/pricing"),
    ];
    let text = lines.join("\n") + "\n";
    // Line 2 starts after line 1 and its newline.
    let line2_offset = lines[0].len() + 1;
    let file = tmp.path().join("views.ndjson");
    std::fs::write(&file, &text).unwrap();

    let reports = ok_json(&data, &["events", "load", file.to_str().unwrap(), "--dataset", "web.events", "--json"]);
    let report = &reports[0];
    // Six non-empty lines; v1, v2, v3 and v4 (whose person has no profile yet) appended; C1 and C2 changed.
    assert_eq!(report["read"], 6);
    assert_eq!(report["appended"], 4);
    assert_eq!(report["duplicates"], 0);
    assert_eq!(report["personsChanged"], 2);
    let rejected: Vec<(u64, Option<u64>, String, Option<String>)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["offset"].as_u64(),
                r["code"].as_str().unwrap().to_owned(),
                r["field"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (2, Some(line2_offset as u64), "unparsable".to_owned(), None),
            (4, None, "invalid".to_owned(), Some("_id".to_owned())),
        ]
    );
    // C1 viewed pricing twice: a member at once.
    assert_eq!(members(&data, "pricing"), vec!["b2b_person:C1@org.Salesforce".to_owned()]);

    // The same file again: nothing appended, nothing changes.
    let again = ok_json(&data, &["events", "load", file.to_str().unwrap(), "--dataset", "web.events", "--json"]);
    assert_eq!((again[0]["appended"].as_u64(), again[0]["duplicates"].as_u64()), (Some(0), Some(4)));
    assert_eq!(members(&data, "pricing"), vec!["b2b_person:C1@org.Salesforce".to_owned()]);
    // Both batches count the four valid events as ingested, repeated ones too, and the two bad lines rejected.
    let batches = ok_json(&data, &["batch", "list", "--json"]);
    let counts: Vec<(u64, u64, u64)> = batches
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["dataset"] == "web.events")
        .map(|b| {
            (
                b["rows_read"].as_u64().unwrap(),
                b["rows_ingested"].as_u64().unwrap(),
                b["rows_rejected"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts, [(6, 4, 2), (6, 4, 2)]);

    // C9 arrives with a second pricing view: it joins (its earlier event counts).
    std::fs::write(
        crm.join("Contact.csv"),
        "Id,Email,LastName,LastModifiedDate\nC9,c@x.com,Poe,2024-03-01T00:00:00.000Z\n",
    )
    .unwrap();
    ok_json(&data, &["ingest", "salesforce", crm.to_str().unwrap(), "--instance", "org", "--json"]);
    let more = tmp.path().join("more.json");
    std::fs::write(&more, format!("[{}]", view("v5", "C9@org.Salesforce", "https://bodea.com/pricing"))).unwrap();
    ok_json(&data, &["events", "load", more.to_str().unwrap(), "--dataset", "web.events", "--json"]);
    assert_eq!(
        members(&data, "pricing"),
        vec!["b2b_person:C1@org.Salesforce".to_owned(), "b2b_person:C9@org.Salesforce".to_owned()]
    );
}
