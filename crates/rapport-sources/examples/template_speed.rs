//! Maps one export file both ways, the built-in connector path and its template through the expression
//! interpreter, and prints both speeds and whether the outputs are identical:
//! `cargo run --release -p rapport-sources --example template_speed -- DIR/salesforce/Contact.csv`
//! (the parent folder names the system, as `rapport generate bodea` lays files out).
#![allow(missing_docs, clippy::unwrap_used)]
use std::time::Instant;

use rapport_model::SourceSystem;
use rapport_sources::mapping_set::{CompileOptions, MissingFields};
use rapport_sources::prep::Placeholders;
use rapport_sources::*;

fn main() {
    let path = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let system: SourceSystem = path.parent().unwrap().file_name().unwrap().to_str().unwrap().parse().unwrap();
    let table = recognise(system, &path).unwrap();
    let t = Instant::now();
    let batch = read_file(&table, &path, "f", &ReadOptions { instance_id: "org".into() }, &mut |_| {}).unwrap();
    let builtin = t.elapsed();
    let t = Instant::now();
    let bytes = std::fs::read(&path).unwrap();
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let options = CompileOptions {
        placeholders: Placeholders {
            crm_org_id: Some("org".into()),
            munchkin_id: Some("org".into()),
            ..Default::default()
        },
        missing_fields: MissingFields::Skip,
    };
    let compiled = templates::template(&table).compile(&headers, &options).unwrap();
    let mut n = 0;
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for record in reader.records() {
        let Ok(record) = record else { continue };
        let fields = headers.iter().zip(record.iter()).map(|(h, v)| (h.clone(), v.into())).collect();
        let row = SourceRow { line: record.position().unwrap().line(), offset: None, fields, faults: Vec::new() };
        match compiled.map_row(&row, "f") {
            Ok(r) => out.push((row.line, r)),
            Err(e) => bad.push((e.line, e.code)),
        }
        n += 1;
    }
    let interp = t.elapsed();
    let same = out.len() == batch.records.len()
        && out.iter().zip(&batch.records).all(|(a, b)| a.0 == b.line && a.1 == b.record);
    let same_bad = bad
        == batch
            .rejected
            .iter()
            .filter(|e| e.code != rapport_model::RowErrorCode::Unparsable)
            .map(|e| (e.line, e.code))
            .collect::<Vec<_>>();
    println!("records identical: {same}, rejections identical: {same_bad} ({} rejected)", bad.len());
    println!(
        "rows {} / {n}: built-in {:?} ({:.0} rows/s), template interpreter {:?} ({:.0} rows/s)",
        batch.records.len(),
        builtin,
        batch.records.len() as f64 / builtin.as_secs_f64(),
        interp,
        n as f64 / interp.as_secs_f64()
    );
}
