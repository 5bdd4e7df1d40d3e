//! Validation throughput of mapped person records (the shape the Salesforce Contact connector produces):
//! `validate/person_records` over 10,000 records already in memory (cold), and
//! `validate_as_mapped/person_record` for one record validated right after it is built, as ingestion does.
//! Run: `cargo bench -p rapport-schema --bench validate` (one core: validation is single-threaded).

#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rapport_model::{EntityKind, Record};
use rapport_schema::b2b::generate_b2b;
use rapport_schema::validate::validate;
use serde_json::json;

fn person(i: u64) -> Record {
    let key = format!("0035g00000{i:08}AAA@00D5g00000BodeaEAB.Salesforce");
    let account = format!("0015g00000{:08}AAA@00D5g00000BodeaEAB.Salesforce", i / 10);
    json!({
        "b2b": {
            "personKey": {"sourceType": "Salesforce", "sourceInstanceID": "00D5g00000BodeaEAB", "sourceID": format!("0035g00000{i:08}AAA"), "sourceKey": key},
            "accountKey": {"sourceType": "Salesforce", "sourceInstanceID": "00D5g00000BodeaEAB", "sourceKey": account},
            "personType": "Contact",
            "personSource": "Web"
        },
        "personComponents": [{
            "sourcePersonKey": {"sourceType": "Salesforce", "sourceInstanceID": "00D5g00000BodeaEAB", "sourceKey": key},
            "sourceAccountKey": {"sourceType": "Salesforce", "sourceInstanceID": "00D5g00000BodeaEAB", "sourceKey": account},
            "workEmail": {"address": format!("person{i}@acme.com")}
        }],
        "workEmail": {"address": format!("person{i}@acme.com")},
        "person": {"name": {"firstName": "Jane", "lastName": format!("Doe{i}"), "fullName": format!("Jane Doe{i}")}},
        "extendedWorkDetails": {"jobTitle": "Director, Sales Operations", "departments": ["Sales"]},
        "workPhone": {"number": "(752) 555-0164"},
        "workAddress": {"city": "Tokyo", "country": "Japan"},
        "extSourceSystemAudit": {"createdDate": "2021-09-28T21:37:38.000Z", "lastUpdatedDate": "2022-05-28T05:53:39.000Z"}
    })
    .as_object()
    .cloned()
    .expect("an object")
}

fn bench(c: &mut Criterion) {
    let schemas = generate_b2b();
    let schema = schemas.for_entity(EntityKind::Person).expect("person schema");
    let records: Vec<Record> = (0..10_000).map(person).collect();
    assert!(records.iter().all(|r| validate(schema, r).is_empty()), "the bench records are valid");
    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("person_records", |b| {
        b.iter(|| {
            for record in &records {
                black_box(validate(schema, black_box(record)));
            }
        })
    });
    group.finish();

    // As ingestion runs it: each record is validated right after it is built (mapped), while hot in cache.
    let mut hot = c.benchmark_group("validate_as_mapped");
    hot.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    hot.bench_function("person_record", |b| {
        // `iter_batched_ref`: building and dropping the record stay outside the timing.
        b.iter_batched_ref(
            || {
                i = (i + 1) % 10_000;
                person(i)
            },
            |record| black_box(validate(schema, black_box(record))),
            BatchSize::PerIteration,
        )
    });
    hot.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
