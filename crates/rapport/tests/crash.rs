//! A process killed (SIGKILL) in the middle of an ingest leaves each batch whole or absent, and a rerun
//! completes the load. The kill lands at several points (reading, committing, rebuilding profiles); the
//! assertions hold wherever it lands, so the test does not depend on timing.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

fn rapport(data_dir: &Path, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("the rapport binary runs");
    assert!(output.status.success(), "rapport {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn issue_2_a_killed_ingest_leaves_whole_batches_or_none() {
    let tmp = tempfile::tempdir().unwrap();
    let exports = tmp.path().join("exports");
    let report =
        rapport_sample::generate_bodea(&exports, &rapport_sample::GenerateOptions { persons: 20_000, seed: 11 })
            .unwrap();
    let contacts = exports.join("salesforce/Contact.csv");
    let rows = report.files.iter().find(|f| f.path == Path::new("salesforce/Contact.csv")).unwrap().rows;
    let bad = report.injected_errors.iter().filter(|e| e.file == Path::new("salesforce/Contact.csv")).count() as u64;

    let template = tmp.path().join("template");
    rapport(&template, &["schema", "generate-b2b", "--json"]);
    // Check the template has settled (WAL checkpointed on close) before copying it.
    rapport(&template, &["status", "--json"]);

    let mut outcomes = Vec::new();
    for (i, delay_ms) in [0u64, 30, 80, 200, 400, 800].into_iter().enumerate() {
        let data = tmp.path().join(format!("run{i}"));
        copy_dir(&template, &data);
        let mut child = Command::new(env!("CARGO_BIN_EXE_rapport"))
            .arg("--data-dir")
            .arg(&data)
            .args(["ingest", "salesforce", contacts.to_str().unwrap(), "--instance", "org"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL; the process may have finished already
        child.wait().unwrap();

        let status = rapport(&data, &["status", "--json"]);
        // A batch the kill interrupted is listed `failed`; only committed batches hold data.
        let batches = rapport(&data, &["batch", "list", "--state", "success", "--json"]);
        let batches = batches.as_array().unwrap();
        let fragments = status["fragments"]["person"].as_u64().unwrap_or(0);
        match batches.as_slice() {
            [] => assert_eq!(fragments, 0, "no batch, yet fragments are visible"),
            [batch] => {
                assert_eq!(batch["rows_read"].as_u64().unwrap(), rows);
                assert_eq!(batch["rows_ingested"].as_u64().unwrap(), rows - bad);
                assert_eq!(fragments, rows - bad, "a committed batch is whole");
            }
            more => panic!("one ingest made {} batches", more.len()),
        }
        outcomes.push(batches.len());

        // A rerun completes the load, and nothing is duplicated.
        rapport(&data, &["ingest", "salesforce", contacts.to_str().unwrap(), "--instance", "org", "--json"]);
        let status = rapport(&data, &["status", "--json"]);
        assert_eq!(status["fragments"]["person"].as_u64().unwrap(), rows - bad);
        assert_eq!(status["profiles"]["person"].as_u64().unwrap(), rows - bad, "one profile per contact");
    }
    assert!(outcomes.contains(&0), "no kill landed before the commit: {outcomes:?}");
    eprintln!("batches visible after each kill: {outcomes:?}");
}

/// Rows of the large generated files; every `BAD_EVERY`-th row has an empty id and is rejected.
const LARGE_ROWS: u64 = 40_000;
const BAD_EVERY: u64 = 5_000;

/// Writes a large Salesforce export with `LARGE_ROWS` data rows, `LARGE_ROWS / BAD_EVERY` of them bad.
fn write_large(path: &Path, table: &str) {
    let mut text = String::with_capacity(4 << 20);
    let (prefix, header) = match table {
        "Contact" => ("003", "Id,AccountId,Email,FirstName,LastName,Title,MailingCity,LastModifiedDate\n"),
        _ => ("00Q", "Id,Company,Email,FirstName,LastName,Title,City,LastModifiedDate\n"),
    };
    text.push_str(header);
    for i in 0..LARGE_ROWS {
        let id = if i % BAD_EVERY == BAD_EVERY - 1 { String::new() } else { format!("{prefix}{i:012}") };
        let second = if table == "Contact" { format!("001{:012}", i % 500) } else { format!("Company {}", i % 500) };
        text.push_str(&format!(
            "{id},{second},person{i}@example{}.com,First{i},Last{i},Engineer,City{},2024-03-01T10:00:00.000Z\n",
            i % 97,
            i % 300
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// Runs rapport and returns its exit status (the output is ignored).
fn rapport_status(data_dir: &Path, args: &[&str]) -> bool {
    Command::new(env!("CARGO_BIN_EXE_rapport"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("the rapport binary runs")
        .status
        .success()
}

/// Starts rapport in the background and returns once `batch list` shows a `loading` batch whose file ends with
/// `file` (the batch has begun and has not ended), or panics if the process ends first.
fn spawn_until_loading(data_dir: &Path, args: &[&str], file: &str) -> (std::process::Child, i64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    loop {
        let loading = rapport(data_dir, &["batch", "list", "--state", "loading", "--json"]);
        let found =
            loading.as_array().unwrap().iter().find(|b| b["files"][0].as_str().unwrap().ends_with(file)).cloned();
        if let Some(batch) = found {
            return (child, batch["id"].as_i64().unwrap());
        }
        assert!(child.try_wait().unwrap().is_none(), "the load of {file} ended before it was seen loading");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn person_fragments(data_dir: &Path) -> u64 {
    rapport(data_dir, &["status", "--json"])["fragments"]["person"].as_u64().unwrap_or(0)
}

#[test]
fn issue_4_a_kill_in_the_middle_of_a_large_batch_leaves_all_or_nothing_and_a_rerun_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let exports = tmp.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    let contacts = exports.join("Contact.csv");
    write_large(&contacts, "Contact");
    let good = LARGE_ROWS - LARGE_ROWS / BAD_EVERY;
    let template = tmp.path().join("template");
    rapport(&template, &["schema", "generate-b2b", "--json"]);
    rapport(&template, &["status", "--json"]);

    let ingest = ["ingest", "salesforce", contacts.to_str().unwrap(), "--instance", "org"];
    let mut interrupted = 0;
    for (i, delay_ms) in [0u64, 700, 2_000].into_iter().enumerate() {
        let data = tmp.path().join(format!("large{i}"));
        copy_dir(&template, &data);
        let (mut child, batch_id) = spawn_until_loading(&data, &ingest, "Contact.csv");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL; the batch may have committed in the meantime
        child.wait().unwrap();

        // Opening the store marks the killed load failed; its data is all there or not at all.
        let batch = rapport(&data, &["batch", "show", &batch_id.to_string(), "--json"]);
        let fragments = person_fragments(&data);
        match batch["batch"]["state"].as_str().unwrap() {
            "failed" => {
                interrupted += 1;
                assert_eq!(batch["batch"]["reason"]["code"], "interrupted");
                assert_eq!(batch["batch"]["rows_ingested"], 0);
                assert_eq!(fragments, 0, "an interrupted batch left fragments behind");
            }
            "success" => {
                assert_eq!(batch["batch"]["rows_read"].as_u64().unwrap(), LARGE_ROWS);
                assert_eq!(batch["batch"]["rows_ingested"].as_u64().unwrap(), good);
                assert_eq!(fragments, good, "a committed batch is whole");
            }
            other => panic!("batch {batch_id} is still {other} after its process was killed"),
        }

        assert!(rapport_status(&data, &ingest), "the rerun fails");
        assert_eq!(person_fragments(&data), good);
        let batches = rapport(&data, &["batch", "list", "--json"]);
        let last = batches.as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (last["state"].as_str(), last["rows_rejected"].as_u64()),
            (Some("success"), Some(LARGE_ROWS / BAD_EVERY))
        );
    }
    assert!(interrupted > 0, "no kill landed inside the batch");
}

#[test]
fn issue_4_a_flow_run_after_a_kill_picks_up_exactly_the_files_that_did_not_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let exports = tmp.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    std::fs::write(
        exports.join("Contact.csv"),
        "Id,Email,LastName,LastModifiedDate\n003A,a@acme.com,A,2024-03-01T10:00:00.000Z\n003B,b@acme.com,B,2024-03-01T10:00:00.000Z\n",
    )
    .unwrap();
    // Leads load after contacts (same entity, then by path).
    write_large(&exports.join("Lead.csv"), "Lead");
    let data = tmp.path().join("data");
    rapport(&data, &["schema", "generate-b2b", "--json"]);
    rapport(&data, &["flow", "create", "sf", "--system", "salesforce", "--from", exports.to_str().unwrap(), "--json"]);

    let (mut child, lead_batch) = spawn_until_loading(&data, &["flow", "run", "sf"], "Lead.csv");
    let _ = child.kill();
    child.wait().unwrap();

    let history = rapport(&data, &["flow", "history", "sf", "--json"]);
    let run = &history.as_array().unwrap()[0];
    assert_eq!(run["state"], "failed");
    assert!(run["message"].as_str().unwrap().starts_with("interrupted"), "{run}");
    let batch = rapport(&data, &["batch", "show", &lead_batch.to_string(), "--json"]);
    let lead_state = batch["batch"]["state"].as_str().unwrap().to_owned();
    assert_eq!(
        person_fragments(&data),
        if lead_state == "success" { 2 + LARGE_ROWS - LARGE_ROWS / BAD_EVERY } else { 2 }
    );

    let rerun = rapport(&data, &["flow", "run", "sf", "--json"]);
    let picked: Vec<&str> = rerun["run"]["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    if lead_state == "success" {
        assert!(picked.is_empty(), "{picked:?}");
    } else {
        assert_eq!(picked.len(), 1, "{picked:?}");
        assert!(picked[0].ends_with("Lead.csv"), "{picked:?}");
    }
    assert_eq!(rerun["run"]["files_skipped"].as_u64().unwrap(), if lead_state == "success" { 2 } else { 1 });
    assert_eq!(person_fragments(&data), 2 + LARGE_ROWS - LARGE_ROWS / BAD_EVERY);
}
