//! Dataset export on a real store: the documented folder layout, incremental by batch (a later export writes
//! only the new batches' records), JSON lines as stored and Parquet flattened by field path.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use rapport_destinations::dataset::DatasetFormat;
use rapport_destinations::file::Compression;
use rapport_engine::{DatasetExportOptions, Engine, Quiet};
use rapport_model::SourceSystem;

fn leads(dir: &Path, name: &str, ids: std::ops::RangeInclusive<u32>, first: &str) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let mut text = "id,email,firstName,leadScore,unsubscribed,updatedAt\n".to_owned();
    for id in ids {
        text.push_str(&format!("{id},p{id}@acme.com,{first}{id},{id},false,2024-01-0{}T00:00:00Z\n", name.len() % 9));
    }
    std::fs::write(folder.join("leads.csv"), text).unwrap();
    folder.join("leads.csv")
}

/// Every JSON line of every file under `folder`.
fn json_lines(folder: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        out.extend(text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()));
    }
    out
}

fn emails(records: &[serde_json::Value]) -> BTreeSet<String> {
    records.iter().map(|r| r["workEmail"]["address"].as_str().unwrap().to_owned()).collect()
}

fn expected(ids: std::ops::RangeInclusive<u32>) -> BTreeSet<String> {
    ids.map(|id| format!("p{id}@acme.com")).collect()
}

#[test]
fn exports_are_incremental_by_batch_in_the_documented_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(&tmp.path().join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    engine.ingest(SourceSystem::Marketo, &[leads(tmp.path(), "a", 1..=10, "A")], "mk1", &Quiet).unwrap();
    let dataset =
        engine.store().datasets().unwrap().into_iter().find(|d| d.entity == rapport_model::EntityKind::Person).unwrap();
    let out = tmp.path().join("exports");
    let at = |minute: u32| Utc.with_ymd_and_hms(2026, 11, 30, 3, minute, 27).unwrap();
    let json =
        |minute| DatasetExportOptions { format: DatasetFormat::Json, at: Some(at(minute)), ..Default::default() };

    // First export: everything.
    let first = engine.export_dataset(&dataset.name, &out, &json(5)).unwrap();
    assert_eq!(first.records, 10);
    let folder = out.join(dataset.id.to_string()).join("exportTime=202611300305");
    assert!(first.files.iter().all(|f| f.path.parent().unwrap() == folder));
    let records = json_lines(&folder);
    assert_eq!(emails(&records), expected(1..=10));
    assert_eq!(records[0]["person"]["name"]["firstName"].as_str().unwrap().chars().next(), Some('A'));

    // A second batch updates 8..10 and adds 11..15: only its records are exported next.
    engine.ingest(SourceSystem::Marketo, &[leads(tmp.path(), "bb", 8..=15, "B")], "mk1", &Quiet).unwrap();
    let second = engine.export_dataset(&dataset.name, &out, &json(6)).unwrap();
    assert_eq!(second.records, 8);
    let records = json_lines(&out.join(dataset.id.to_string()).join("exportTime=202611300306"));
    assert_eq!(emails(&records), expected(8..=15));
    assert!(records.iter().all(|r| r["person"]["name"]["firstName"].as_str().unwrap().starts_with('B')));

    // Nothing new: nothing written.
    let third = engine.export_dataset(&dataset.name, &out, &json(7)).unwrap();
    assert_eq!((third.records, third.files.len()), (0, 0));
    assert!(!out.join(dataset.id.to_string()).join("exportTime=202611300307").exists());

    // Another folder starts from scratch: Parquet of every record, flattened by field path.
    let parquet_out = tmp.path().join("parquet");
    let options = DatasetExportOptions {
        format: DatasetFormat::Parquet,
        compression: Compression::Gzip,
        at: Some(at(8)),
        ..Default::default()
    };
    let report = engine.export_dataset(&dataset.name, &parquet_out, &options).unwrap();
    // 8..10 were replaced by the second batch: they belong to it now, once.
    assert_eq!(report.records, 15);
    assert!(report.files[0].path.to_string_lossy().ends_with("-c000.gz.parquet"));
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(File::open(&report.files[0].path).unwrap()).unwrap();
    let columns: Vec<String> =
        reader.metadata().file_metadata().schema_descr().columns().iter().map(|c| c.name().to_owned()).collect();
    assert!(columns.contains(&"workEmail.address".to_owned()), "{columns:?}");
    assert!(columns.contains(&"identityMap".to_owned()), "{columns:?}");
    let email_at = columns.iter().position(|c| c == "workEmail.address").unwrap();
    let mut seen = Vec::new();
    for row in reader.get_row_iter(None).unwrap() {
        let row = row.unwrap();
        let (_, value) = row.get_column_iter().nth(email_at).unwrap();
        seen.push(value.to_string().trim_matches('"').to_owned());
    }
    assert_eq!(seen.len(), 15);
    let distinct: BTreeSet<String> = seen.into_iter().collect();
    assert_eq!(distinct, expected(1..=15));

    // An unknown dataset is named.
    let err = engine.export_dataset("nope", &out, &json(9)).unwrap_err().to_string();
    assert!(err.contains("no dataset `nope`"), "{err}");
}
