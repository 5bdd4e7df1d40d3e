//! File export throughput: 1,000,000 members (five text columns, as the demo's audience file) written as one
//! CSV file (default options), as gzip CSV and as Parquet, through `write_files` (temporary file, fsync,
//! rename). Run: `cargo bench -p rapport-destinations --bench files`.

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use rapport_destinations::file::{write_files, Compression, FileConfig, FileContext, FileFormat};

const MEMBERS: usize = 1_000_000;

fn rows() -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let columns = ["primaryIdentity", "email", "firstName", "lastName", "accountName"].map(String::from).to_vec();
    let rows = (0..MEMBERS)
        .map(|i| {
            vec![
                Some(format!("b2b_person:{i:07}@00D5e000000abcd.Salesforce")),
                Some(format!("person{i}@company{}.com", i % 5_000)),
                Some(format!("First{}", i % 997)),
                (i % 10 != 0).then(|| format!("Last, \"{}\"", i % 1_009)),
                Some(format!("Company {}", i % 5_000)),
            ]
        })
        .collect();
    (columns, rows)
}

fn bench(c: &mut Criterion) {
    let (columns, rows) = rows();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap().to_owned();
    let ctx = FileContext { destination: "Bench", audience: "million", at: chrono::DateTime::default() };
    let mut group = c.benchmark_group("export_1m_members");
    group.sample_size(10);
    let configs = [
        ("csv", FileConfig::csv(&folder)),
        ("csv_gzip", FileConfig { compression: Compression::Gzip, ..FileConfig::csv(&folder) }),
        ("parquet", FileConfig { format: FileFormat::Parquet, ..FileConfig::csv(&folder) }),
    ];
    for (name, config) in configs {
        group.bench_function(name, |b| {
            b.iter(|| {
                let files = write_files(&config, &ctx, &columns, &rows).unwrap();
                assert_eq!(files.iter().map(|f| f.rows).sum::<usize>(), MEMBERS);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
