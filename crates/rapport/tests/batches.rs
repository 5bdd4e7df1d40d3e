//! Issues #4 and #5 from the command line: `record|batch|identity delete`, `changes`; `ingest --error-threshold`, `batch list|show`, `flow create|run|list|history`,
//! their JSON and exit statuses. The fixture is the engine's hand-written `Contact.csv`: 20 data rows, bad at
//! lines 4 (empty `Id`), 9 (bad `LastModifiedDate`) and 15 (2 fields), i.e. 15 % rejected.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

#[path = "support/cli.rs"]
mod cli;

use std::path::{Path, PathBuf};

use cli::{ok_json, run};
use serde_json::{json, Value};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rapport-engine/tests/fixtures/partial/Contact.csv")
}

#[test]
fn issue_4_over_the_threshold_ingest_exits_1_and_batch_show_lists_the_exact_error_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("Contact.csv");
    std::fs::copy(fixture(), &file).unwrap();
    let shown = file.to_str().unwrap();
    ok_json(&data, &["schema", "generate-b2b", "--json"]);

    let failed = run(&data, &["ingest", "salesforce", shown, "--instance", "org", "--json"]);
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("1 of 1 batches failed and stored nothing: batch 1"));
    let report: Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(report["ingest"]["files"][0]["state"], "failed");
    assert_eq!(report["ingest"]["files"][0]["reason"]["code"], "threshold_exceeded");

    let show = ok_json(&data, &["batch", "show", "1", "--errors", "--json"]);
    // Where lines 4, 9 and 15 start in the file: the bytes of the lines before them.
    let bytes = std::fs::read(&file).unwrap();
    let start = |line: usize| bytes.split_inclusive(|b| *b == b'\n').take(line - 1).map(<[u8]>::len).sum::<usize>();
    assert_eq!(
        show["errors"],
        json!([
            {"file": shown, "line": 4, "offset": start(4), "field": "Id", "code": "missing_id",
             "message": "the record id is empty, so the record has no primary identity"},
            {"file": shown, "line": 9, "offset": start(9), "field": "LastModifiedDate", "code": "bad_date",
             "message": "\"31/12/2023\" is not a Salesforce date-time (expected YYYY-MM-DDTHH:MM:SS.sssZ)"},
            {"file": shown, "line": 15, "offset": start(15), "field": null, "code": "unparsable",
             "message": "the row has 2 fields but the header has 5"},
        ])
    );
    assert_eq!(show["batch"]["state"], "failed");
    assert_eq!(
        show["batch"]["metrics"],
        json!({"input_byte_size": std::fs::metadata(&file).unwrap().len(), "input_file_count": 1,
               "input_record_count": 20, "output_record_count": 0, "failed_record_count": 3})
    );
    let codes: Vec<(&str, u64)> = show["batch_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["code"].as_str().unwrap(), e["record_count"].as_u64().unwrap()))
        .collect();
    assert_eq!(codes, [("INGEST-1212-400", 3), ("INGEST-1401-400", 2), ("INGEST-1555-400", 1)]);
    let text = run(&data, &["batch", "show", "1", "--errors"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("{shown}:9 (byte {}): LastModifiedDate: \"31/12/2023\" is not a Salesforce", start(9))),
        "{text}"
    );
    assert!(text.contains("reason     threshold_exceeded: 3 of 20 rows rejected (15.00%)"), "{text}");

    // Exactly at the threshold the batch succeeds; the status count and the filters agree.
    let passed =
        ok_json(&data, &["ingest", "salesforce", shown, "--instance", "org", "--error-threshold", "15", "--json"]);
    assert_eq!(passed["ingest"]["files"][0]["rows_ingested"], 17);
    assert_eq!(ok_json(&data, &["status", "--json"])["fragments"]["person"], 17);
    let failed_ids: Vec<i64> = ok_json(&data, &["batch", "list", "--state", "failed", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_i64().unwrap())
        .collect();
    assert_eq!(failed_ids, [1]);
    assert_eq!(
        ok_json(&data, &["batch", "list", "--dataset", "salesforce.contact", "--json"]).as_array().unwrap().len(),
        2
    );
    assert!(ok_json(&data, &["batch", "list", "--dataset", "marketo.lead", "--json"]).as_array().unwrap().is_empty());

    let bad = run(&data, &["ingest", "salesforce", shown, "--error-threshold", "101"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid error threshold `101`"));
}

#[test]
fn issue_4_flow_commands_create_run_list_and_show_history() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let exports = tmp.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    std::fs::copy(fixture(), exports.join("Contact.csv")).unwrap();
    let from = exports.to_str().unwrap();
    ok_json(&data, &["schema", "generate-b2b", "--json"]);

    let created = ok_json(
        &data,
        &[
            "flow",
            "create",
            "sf",
            "--system",
            "salesforce",
            "--from",
            from,
            "--instance",
            "org",
            "--error-threshold",
            "20",
            "--every",
            "1h",
            "--json",
        ],
    );
    // The location is stored absolute, so that runs do not depend on the working directory.
    let absolute = std::fs::canonicalize(&exports).unwrap();
    assert_eq!(
        created["source"],
        json!({"kind": "crm", "system": "salesforce", "from": absolute.to_str().unwrap(), "instance": "org"})
    );
    assert_eq!((created["error_threshold_percent"].as_f64(), created["every"].as_str()), (Some(20.0), Some("1h")));

    let first = ok_json(&data, &["flow", "run", "sf", "--json"]);
    assert_eq!(first["run"]["state"], "success");
    assert_eq!((first["run"]["rows_read"].as_u64(), first["run"]["rows_ingested"].as_u64()), (Some(20), Some(17)));
    // Not due again within the hour.
    let due = ok_json(&data, &["flow", "run", "--due", "--json"]);
    assert_eq!(due, json!([]));
    let second = ok_json(&data, &["flow", "run", "sf", "--json"]);
    assert_eq!((second["run"]["files_listed"].as_u64(), second["run"]["files_skipped"].as_u64()), (Some(1), Some(1)));

    let history = ok_json(&data, &["flow", "history", "sf", "--json"]);
    let runs: Vec<(u64, usize)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["rows_ingested"].as_u64().unwrap(), r["batches"].as_array().unwrap().len()))
        .collect();
    assert_eq!(runs, [(17, 1), (0, 0)]);
    let list = ok_json(&data, &["flow", "list", "--json"]);
    assert_eq!(list[0]["last_run"]["id"], second["run"]["id"]);

    ok_json(
        &data,
        &[
            "flow",
            "create",
            "pg",
            "--kind",
            "postgres",
            "--query",
            "SELECT * FROM people",
            "--key",
            "id",
            "--modified-column",
            "updated_at",
            "--dataset",
            "crm.people",
            "--entity",
            "person",
            "--mapping",
            "people.toml",
            "--json",
        ],
    );
    // The mapping file is stored absolute and read at run time: the run fails naming it.
    let refused = run(&data, &["flow", "run", "pg"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("flow `pg`: ") && stderr.contains("people.toml"), "{stderr}");
    let wrong = run(&data, &["flow", "create", "x", "--system", "salesforce", "--from", from, "--query", "q"]);
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--query does not apply to --kind crm"));
}

#[test]
fn issue_5_record_batch_and_identity_delete_and_the_change_feed_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (crm, mkto) = (tmp.path().join("crm"), tmp.path().join("mkto"));
    std::fs::create_dir_all(&crm).unwrap();
    std::fs::create_dir_all(&mkto).unwrap();
    std::fs::write(
        crm.join("Contact.csv"),
        "Id,Email,LastName,LastModifiedDate\nC1,a@x.com,Doe,2024-03-01T00:00:00.000Z\nC2,b@x.com,Roe,2024-03-01T00:00:00.000Z\n",
    )
    .unwrap();
    std::fs::write(mkto.join("leads.csv"), "id,email,lastName,updatedAt\n7,a@x.com,Doe,2024-03-02T00:00:00.000Z\n")
        .unwrap();
    ok_json(&data, &["schema", "generate-b2b", "--json"]);
    ok_json(&data, &["ingest", "salesforce", crm.to_str().unwrap(), "--instance", "org", "--json"]);
    ok_json(&data, &["ingest", "marketo", mkto.to_str().unwrap(), "--instance", "mk1", "--json"]);
    let profile = ok_json(&data, &["profile", "get", "Email", "a@x.com", "--json"]);
    assert_eq!(profile["identities"].as_array().unwrap().len(), 3, "C1 and lead 7 share the email");

    let report = ok_json(&data, &["record", "delete", "marketo.leads", "b2b_person", "7@mk1.Marketo", "--json"]);
    assert_eq!((report["fragmentsDeleted"].as_u64(), report["profilesDeleted"].as_u64()), (Some(1), Some(0)));
    let profile = ok_json(&data, &["profile", "get", "Email", "a@x.com", "--json"]);
    assert_eq!(
        profile["identities"],
        json!([{"namespace": "Email", "value": "a@x.com"}, {"namespace": "b2b_person", "value": "C1@org.Salesforce"}])
    );

    // C1 and C2 created by batch 1; lead 7 joins C1 (batch 2); its deletion changes C1 again.
    let events = ok_json(&data, &["changes", "--json"]);
    let shape: Vec<(String, i64, String)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["profileId"].as_i64().unwrap(),
                e["cause"]["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected =
        [("created", 0, "batch"), ("created", 1, "batch"), ("updated", 0, "batch"), ("updated", 0, "deleteRecord")];
    assert_eq!(shape, expected.map(|(k, p, c)| (k.to_owned(), p, c.to_owned())));

    let report = ok_json(&data, &["batch", "delete", "1", "--json"]);
    assert_eq!((report["fragmentsDeleted"].as_u64(), report["profilesDeleted"].as_u64()), (Some(2), Some(2)));
    let events = ok_json(&data, &["changes", "--since", "4", "--json"]);
    assert_eq!(events.as_array().unwrap().len(), 2);
    assert!(events
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["kind"] == "deleted" && e["cause"] == json!({"type": "deleteBatch", "batchId": 1})));
    let listed = ok_json(&data, &["batch", "list", "--state", "deleted", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let again = run(&data, &["batch", "delete", "1"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr)
        .contains("batch 1 is deleted: only a successful batch has data to delete"));
    let nobody = run(&data, &["identity", "delete", "Email", "Nobody@X.com"]);
    assert!(!nobody.status.success());
    assert!(
        String::from_utf8_lossy(&nobody.stderr).contains("no person profile holds the identity Email:nobody@x.com"),
        "{}",
        String::from_utf8_lossy(&nobody.stderr)
    );
}

#[test]
fn issue_4_a_file_flow_takes_its_format_from_the_glob_and_its_entity_from_the_mapping() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("a.csv"), "id,email\np1,ann@x.com\np2,bob@x.com\n").unwrap();
    let mapping = tmp.path().join("people.json");
    let set = json!({"entity": "person", "mappings": [
        {"sourceType": "EXPRESSION", "source": "concat(id, \"@acme.Custom\")", "destination": "b2b.personKey.sourceKey"},
        {"sourceType": "ATTRIBUTE", "source": "email", "destination": "workEmail.address"}
    ]});
    std::fs::write(&mapping, set.to_string()).unwrap();
    ok_json(&data, &["schema", "generate-b2b", "--json"]);
    let glob = inbox.join("*.csv");
    let (glob, mapping) = (glob.to_str().unwrap(), mapping.to_str().unwrap());
    let args = ["flow", "create", "inbox", "--kind", "file", "--from", glob, "--dataset", "crm.people"];
    let created = ok_json(&data, &[&args[..], &["--mapping", mapping, "--json"]].concat());
    assert_eq!(
        (created["source"]["format"].as_str(), created["source"]["entity"].as_str()),
        (Some("csv"), Some("person"))
    );
    let first = ok_json(&data, &["flow", "run", "inbox", "--json"]);
    assert_eq!((first["run"]["rows_read"].as_u64(), first["run"]["rows_ingested"].as_u64()), (Some(2), Some(2)));
    // A mapping set without a name is named in its batches by its file's name.
    let batches = ok_json(&data, &["batch", "list", "--json"]);
    assert_eq!(batches[0]["source"], "mapping:people.json", "{batches}");

    // A folder names no format: the flag is asked for.
    let folder = inbox.to_str().unwrap();
    let args =
        ["flow", "create", "f", "--kind", "file", "--from", folder, "--dataset", "crm.people", "--mapping", mapping];
    let refused = run(&data, &args);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--kind file needs --format") && stderr.contains(folder), "{stderr}");
    // A mapping file that cannot be read is named when the entity comes from it.
    let missing = tmp.path().join("nope.json");
    let args = ["flow", "create", "g", "--kind", "file", "--from", glob, "--dataset", "crm.people"];
    let refused = run(&data, &[&args[..], &["--mapping", missing.to_str().unwrap()]].concat());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("nope.json"), "{stderr}");
}
