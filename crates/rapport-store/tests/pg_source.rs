//! PostgreSQL sources against a real server. Set `RAPPORT_TEST_PG` to a connection string
//! (`host=127.0.0.1 user=postgres dbname=test`); without it every test prints why and returns. Each test
//! works in its own schema, dropped at the end.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};

use postgres::{Client, NoTls};
use rapport_store::pg_source::{Incremental, PgBatch, PgCheckpoint, PgRelation, PgSource};
use rapport_store::Error;
use serde_json::{json, Value};

/// A uniquely named schema, dropped on drop.
struct Scratch {
    client: Client,
    schema: String,
    conninfo: String,
}

impl Scratch {
    fn new(test: &str) -> Option<Scratch> {
        let Ok(conninfo) = std::env::var("RAPPORT_TEST_PG") else {
            eprintln!("skipping {test}: RAPPORT_TEST_PG is not set (e.g. `host=127.0.0.1 user=postgres dbname=test`)");
            return None;
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let schema = format!("rapport_test_{}_{}_{}", test, std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut client = Client::connect(&conninfo, NoTls).unwrap();
        client.batch_execute(&format!("CREATE SCHEMA {schema}")).unwrap();
        Some(Scratch { client, schema, conninfo })
    }

    fn run(&mut self, sql: &str) {
        let sql = sql.replace("{s}", &self.schema);
        self.client.batch_execute(&sql).unwrap();
    }

    fn source(&self) -> PgSource {
        PgSource::connect(&self.conninfo).unwrap()
    }

    fn table(&self, name: &str) -> PgRelation {
        PgRelation::Table { schema: Some(self.schema.clone()), name: name.to_owned() }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
    }
}

fn ids(batch: &PgBatch) -> Vec<i64> {
    batch.rows.iter().map(|row| row.fields["id"].as_i64().unwrap()).collect()
}

/// A checkpoint on a one-column key: the last key, and the keys read at `modified`.
fn checkpoint(modified: &str, key: &[&str], at_mark: &[&str]) -> PgCheckpoint {
    PgCheckpoint {
        modified: modified.to_owned(),
        key: key.iter().map(|k| (*k).to_owned()).collect(),
        at_mark: Some(at_mark.iter().map(|k| vec![(*k).to_owned()]).collect()),
    }
}

#[test]
fn column_types_become_json() {
    let Some(mut db) = Scratch::new("types") else { return };
    db.run(
        "CREATE TYPE {s}.mood AS ENUM ('sad', 'happy');
         CREATE DOMAIN {s}.code AS text;
         CREATE TABLE {s}.everything (
             id int4 PRIMARY KEY, i2 int2, i8 int8, f4 float4, f8 float8, n numeric(20, 4), t text,
             v varchar(10), c char(3), b bool, d date, ts timestamp, tz timestamptz, j json, jb jsonb, u uuid,
             arr int4[], tarr text[], nan float8, mood {s}.mood, dom {s}.code);
         INSERT INTO {s}.everything VALUES (
             1, -7, 9007199254740993, 1.5, -0.25, 12345678901234.5678, 'Zoë', 'abc', 'ab', true, '2024-02-29',
             '2024-03-01 10:11:12.345678', '2024-03-01 10:11:12+02', '{\"a\": [1, 2]}', '{\"b\": null}',
             'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', '{\"x\",\"y z\"}', 'NaN', 'happy', 'dv');
         INSERT INTO {s}.everything (id) VALUES (2);",
    );
    let batch = db.source().pull(&db.table("everything"), None, None, None).unwrap();
    assert_eq!(
        batch.columns,
        [
            "id", "i2", "i8", "f4", "f8", "n", "t", "v", "c", "b", "d", "ts", "tz", "j", "jb", "u", "arr", "tarr",
            "nan", "mood", "dom"
        ]
    );
    assert_eq!(batch.checkpoint, None);
    let mut rows: Vec<Value> = batch.rows.into_iter().map(|row| Value::Object(row.fields)).collect();
    rows.sort_by_key(|row| row["id"].as_i64());
    assert_eq!(
        rows[0],
        json!({
            "id": 1, "i2": -7, "i8": 9007199254740993_i64, "f4": 1.5, "f8": -0.25, "n": "12345678901234.5678",
            "t": "Zoë", "v": "abc", "c": "ab ", "b": true, "d": "2024-02-29", "ts": "2024-03-01T10:11:12.345678",
            "tz": "2024-03-01T08:11:12Z", "j": {"a": [1, 2]}, "jb": {"b": null},
            "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "arr": [1, null, 3], "tarr": ["x", "y z"], "nan": "NaN",
            "mood": "happy", "dom": "dv"
        })
    );
    let nulls = rows[1].as_object().unwrap();
    assert_eq!(nulls["id"], json!(2));
    assert!(nulls.iter().filter(|(name, _)| *name != "id").all(|(_, value)| value.is_null()), "{nulls:?}");
}

#[test]
fn infinite_dates_and_times_are_read_as_postgresql_writes_them() {
    let Some(mut db) = Scratch::new("infinity") else { return };
    db.run(
        "CREATE TABLE {s}.spans (id int4 PRIMARY KEY, d date, ts timestamp, tz timestamptz);
         INSERT INTO {s}.spans VALUES (1, 'infinity', 'infinity', 'infinity'),
             (2, '-infinity', '-infinity', '-infinity'), (3, '2024-02-29', '2024-02-29 23:59:59', '2024-02-29 23:59:59Z');",
    );
    let batch = db.source().pull(&db.table("spans"), None, None, None).unwrap();
    let mut rows: Vec<Value> = batch.rows.into_iter().map(|row| Value::Object(row.fields)).collect();
    rows.sort_by_key(|row| row["id"].as_i64());
    assert_eq!(
        rows,
        [
            json!({"id": 1, "d": "infinity", "ts": "infinity", "tz": "infinity"}),
            json!({"id": 2, "d": "-infinity", "ts": "-infinity", "tz": "-infinity"}),
            json!({"id": 3, "d": "2024-02-29", "ts": "2024-02-29T23:59:59", "tz": "2024-02-29T23:59:59Z"}),
        ]
    );
}

/// A fault of a value: (path, code, message).
type Fault<'a> = (String, &'a str, String);

#[test]
fn a_value_that_cannot_be_read_is_a_fault_of_its_row_and_the_other_rows_are_read() {
    let Some(mut db) = Scratch::new("bigjson") else { return };
    db.run(
        "CREATE TABLE {s}.docs (id int4 PRIMARY KEY, j json, jb jsonb, d date, ts timestamp[]);
         INSERT INTO {s}.docs VALUES
             (1, '{\"n\": 18446744073709551615}', '{\"f\": 2.5e3}', '2024-02-29', '{2024-02-29 12:00:00}'),
             (2, '{\"n\": 1}', '{\"a\": {\"ids\": [1, 123456789012345678901234]}}', '300000-01-01', NULL),
             (3, '[-9223372036854775809]', NULL, NULL, '{2024-01-01, 290000-01-01}');",
    );
    let batch = db.source().pull(&db.table("docs"), None, None, None).unwrap();
    let mut rows: Vec<(Value, Vec<Fault>)> = batch
        .rows
        .into_iter()
        .map(|row| {
            let faults = row.faults.into_iter().map(|f| (f.path.join("."), f.code.name(), f.message)).collect();
            (Value::Object(row.fields), faults)
        })
        .collect();
    rows.sort_by_key(|(row, _)| row["id"].as_i64());
    let fault = |column: &str, code, message: &str| (column.to_owned(), code, message.to_owned());
    // u64::MAX exactly (json keeps the text), and jsonb's own form of 2.5e3.
    assert_eq!(
        rows[0],
        (
            json!({"id": 1, "j": {"n": 18446744073709551615_u64}, "jb": {"f": 2500}, "d": "2024-02-29",
                "ts": ["2024-02-29T12:00:00"]}),
            vec![]
        )
    );
    let too_large = |literal: &str| {
        format!(
            "the integer {literal} is too large for 64 bits and would lose digits as a JSON number; select it as \
             text in a query (`col->>'key'`)"
        )
    };
    // Past chrono's last year (262142); PostgreSQL's dates go to 5874897 and its timestamps to 294276. Only the
    // value that cannot be read is null, named by its path inside the column: the rest of its json and array is
    // read.
    assert_eq!(
        rows[1],
        (
            json!({"id": 2, "j": {"n": 1}, "jb": {"a": {"ids": [1, null]}}, "d": null, "ts": null}),
            vec![
                fault("jb.a.ids.1", "bad_number", &too_large("123456789012345678901234")),
                fault("d", "bad_date", "value too large to decode"),
            ]
        )
    );
    assert_eq!(
        rows[2],
        (
            json!({"id": 3, "j": [null], "jb": null, "d": null, "ts": ["2024-01-01T00:00:00", null]}),
            vec![
                fault("j.0", "bad_number", &too_large("-9223372036854775809")),
                fault("ts.1", "bad_date", "value too large to decode"),
            ]
        )
    );
}

#[test]
fn unsupported_column_types_are_refused_naming_the_column() {
    let Some(mut db) = Scratch::new("unsupported") else { return };
    db.run("CREATE TABLE {s}.hosts (id int PRIMARY KEY, addr inet)");
    let err = db.source().pull(&db.table("hosts"), None, None, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "column `addr` of table `{}.hosts` has type inet, which the PostgreSQL source does not read: cast it \
             in a query (`addr::text`)",
            db.schema
        )
    );
}

#[test]
fn incremental_pulls_neither_lose_nor_repeat_rows_sharing_a_modification_time() {
    let Some(mut db) = Scratch::new("incremental") else { return };
    db.run(
        "CREATE TABLE {s}.contacts (id int PRIMARY KEY, name text, updated_at timestamptz);
         INSERT INTO {s}.contacts VALUES
             (1, 'a', '2024-01-01 00:00:00+00'), (2, 'b', '2024-01-02 00:00:00+00'),
             (3, 'c', '2024-01-02 00:00:00+00'), (4, 'd', '2024-01-02 00:00:00+00'),
             (5, 'e', '2024-01-03 00:00:00+00'), (6, 'f', NULL);",
    );
    let table = db.table("contacts");
    // The key defaults to the primary key (id).
    let incremental = Incremental { modified: "updated_at".into(), key: vec![] };
    let mut source = db.source();

    // Pages of two cut between the three rows of 2024-01-02.
    let first = source.pull(&table, Some(&incremental), None, Some(2)).unwrap();
    assert_eq!(ids(&first), [1, 2]);
    assert_eq!(first.checkpoint, Some(checkpoint("2024-01-02 00:00:00+00", &["2"], &["2"])));
    assert_eq!(first.null_modified, 1);
    assert_eq!(first.rows[1].number, 2);
    assert_eq!(first.rows[1].fields["updated_at"], json!("2024-01-02T00:00:00Z"));

    let second = source.pull(&table, Some(&incremental), first.checkpoint.as_ref(), Some(2)).unwrap();
    assert_eq!(ids(&second), [3, 4]);
    assert_eq!(second.checkpoint, Some(checkpoint("2024-01-02 00:00:00+00", &["4"], &["2", "3", "4"])));
    assert_eq!(second.null_modified, 0);

    let third = source.pull(&table, Some(&incremental), second.checkpoint.as_ref(), Some(2)).unwrap();
    assert_eq!(ids(&third), [5]);
    let caught_up = third.checkpoint.clone();
    assert_eq!(caught_up, Some(checkpoint("2024-01-03 00:00:00+00", &["5"], &["5"])));

    let nothing = source.pull(&table, Some(&incremental), caught_up.as_ref(), Some(2)).unwrap();
    assert_eq!(ids(&nothing), Vec::<i64>::new());
    assert_eq!(nothing.checkpoint, caught_up, "an empty pull keeps the checkpoint");

    // A new row tied with the checkpoint's time (larger key) and a row updated later are both read, once.
    db.run(
        "INSERT INTO {s}.contacts VALUES (8, 'h', '2024-01-03 00:00:00+00');
         UPDATE {s}.contacts SET name = 'b2', updated_at = '2024-01-04 00:00:00+00' WHERE id = 2;",
    );
    let changes = source.pull(&table, Some(&incremental), caught_up.as_ref(), None).unwrap();
    assert_eq!(ids(&changes), [8, 2]);
    assert_eq!(changes.rows[1].fields["name"], json!("b2"));
    assert_eq!(changes.checkpoint, Some(checkpoint("2024-01-04 00:00:00+00", &["2"], &["2"])));

    // Rows written later with the mark's very time and smaller keys (a new row, an update) are read next.
    db.run(
        "INSERT INTO {s}.contacts VALUES (0, 'z', '2024-01-04 00:00:00+00');
         UPDATE {s}.contacts SET name = 'a2', updated_at = '2024-01-04 00:00:00+00' WHERE id = 1;",
    );
    let late = source.pull(&table, Some(&incremental), changes.checkpoint.as_ref(), None).unwrap();
    assert_eq!(ids(&late), [0, 1]);
    assert_eq!(late.checkpoint, Some(checkpoint("2024-01-04 00:00:00+00", &["1"], &["2", "0", "1"])));
    let again = source.pull(&table, Some(&incremental), late.checkpoint.as_ref(), None).unwrap();
    assert_eq!(ids(&again), Vec::<i64>::new(), "nothing is read twice");
}

#[test]
fn past_the_bound_of_keys_at_one_time_the_mark_falls_back_to_the_last_key() {
    let Some(mut db) = Scratch::new("bound") else { return };
    let rows = rapport_store::pg_source::MAX_AT_MARK + 1;
    db.run(&format!(
        "CREATE TABLE {{s}}.contacts (id int PRIMARY KEY, name text, updated_at timestamptz);
         INSERT INTO {{s}}.contacts SELECT g, 'n', '2024-01-01 00:00:00+00' FROM generate_series(10, {}) AS g;",
        rows + 9
    ));
    let table = db.table("contacts");
    let incremental = Incremental { modified: "updated_at".into(), key: vec![] };
    let mut source = db.source();
    let all = source.pull(&table, Some(&incremental), None, None).unwrap();
    assert_eq!(all.rows.len(), rows);
    let last = (rows + 9).to_string();
    let mark = PgCheckpoint { modified: "2024-01-01 00:00:00+00".into(), key: vec![last.clone()], at_mark: None };
    assert_eq!(all.checkpoint, Some(mark));
    // At the same time: a larger key is read, a smaller one is not (the documented limit).
    db.run(&format!(
        "INSERT INTO {{s}}.contacts VALUES (1, 'small', '2024-01-01 00:00:00+00'), ({}, 'large', '2024-01-01 00:00:00+00');",
        rows + 10
    ));
    let next = source.pull(&table, Some(&incremental), all.checkpoint.as_ref(), None).unwrap();
    assert_eq!(ids(&next), [rows as i64 + 10]);
}

#[test]
fn a_query_source_is_pulled_by_its_named_key() {
    let Some(mut db) = Scratch::new("query") else { return };
    db.run(
        "CREATE TABLE {s}.contacts (id int PRIMARY KEY, name text, version bigint);
         INSERT INTO {s}.contacts VALUES (1, 'ann', 10), (2, 'bob', 10), (3, 'cy', 11), (4, 'di', NULL);",
    );
    let query = PgRelation::parse(&format!(
        "SELECT id AS contact_id, upper(name) AS name, version FROM {}.contacts WHERE id <> 3;",
        db.schema
    ));
    assert!(matches!(query, PgRelation::Query(_)));
    let mut source = db.source();
    let incremental = Incremental { modified: "version".into(), key: vec!["contact_id".into()] };
    let batch = source.pull(&query, Some(&incremental), None, None).unwrap();
    let rows: Vec<Value> = batch.rows.iter().map(|row| Value::Object(row.fields.clone())).collect();
    assert_eq!(
        rows,
        [
            json!({"contact_id": 1, "name": "ANN", "version": 10}),
            json!({"contact_id": 2, "name": "BOB", "version": 10})
        ]
    );
    assert_eq!(batch.checkpoint, Some(checkpoint("10", &["2"], &["1", "2"])));
    assert_eq!(batch.null_modified, 1);

    let unkeyed = Incremental { modified: "version".into(), key: vec![] };
    let err = source.pull(&query, Some(&unkeyed), None, None).unwrap_err();
    assert!(err.to_string().starts_with("an incremental query source must name its key columns"), "{err}");
}

#[test]
fn missing_tables_and_columns_are_named() {
    let Some(mut db) = Scratch::new("missing") else { return };
    db.run("CREATE TABLE {s}.plain (id int, updated_at timestamptz)");
    let mut source = db.source();

    let err = source.pull(&db.table("nope"), None, None, None).unwrap_err();
    assert!(matches!(&err, Error::NotFound { kind: "PostgreSQL table", .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("PostgreSQL table `{}.nope` does not exist", db.schema));

    let wrong = Incremental { modified: "modified_at".into(), key: vec!["id".into()] };
    let err = source.pull(&db.table("plain"), Some(&wrong), None, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("column `modified_at` is not in table `{}.plain` (its columns: id, updated_at)", db.schema)
    );

    let no_key = Incremental { modified: "updated_at".into(), key: vec![] };
    let err = source.pull(&db.table("plain"), Some(&no_key), None, None).unwrap_err();
    assert!(err.to_string().starts_with(&format!("table `{}.plain` has no primary key", db.schema)), "{err}");
}
