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
        let batches = rapport(&data, &["batch", "list", "--json"]);
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
