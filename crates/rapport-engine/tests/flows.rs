//! Issue #4: file and PostgreSQL dataflows through mapping sets, with checkpoints committed with their batches.
//!
//! The PostgreSQL tests need a server: set `RAPPORT_TEST_PG` to a connection string
//! (`host=127.0.0.1 user=postgres dbname=test`); without it they print why and return. Each works in its own
//! schema, dropped at the end. The flows read their URL from that same variable, by name.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use rapport_engine::{Engine, FlowDefinition, FlowSource, Quiet};
use rapport_model::EntityKind;
use rapport_store::pg_source::PgCheckpoint;
use rapport_store::{BatchState, FailureCode, RunState};
use serde_json::Value;

/// People keyed by `id`; no placeholders, since flows have none to give.
const MAPPING: &str = r#"{
  "entity": "person",
  "required": ["id"],
  "mappings": [
    {"sourceType": "CONSTANT", "source": "Web", "destination": "b2b.personKey.sourceType"},
    {"sourceType": "CONSTANT", "source": "site1", "destination": "b2b.personKey.sourceInstanceID"},
    {"sourceType": "ATTRIBUTE", "source": "id", "destination": "b2b.personKey.sourceID"},
    {"sourceType": "EXPRESSION", "source": "concat(id, \"@site1.Web\")", "destination": "b2b.personKey.sourceKey"},
    {"sourceType": "ATTRIBUTE", "source": "email", "destination": "workEmail.address"}
  ]
}"#;

fn engine(dir: &Path) -> Engine {
    let mut engine = Engine::open(&dir.join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    std::fs::write(dir.join("people.json"), MAPPING).unwrap();
    engine
}

fn file_flow(dir: &Path, name: &str, from: &str, format: &str) -> FlowDefinition {
    FlowDefinition {
        name: name.into(),
        source: FlowSource::File {
            from: dir.join(from).display().to_string(),
            format: format.into(),
            dataset: "web.people".into(),
            entity: EntityKind::Person,
            mapping: dir.join("people.json").display().to_string(),
        },
        error_threshold: Default::default(),
        every: None,
    }
}

/// The (sourceID, email) of the person fragments, sorted.
fn people(engine: &Engine) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = engine
        .store()
        .fragments(EntityKind::Person)
        .unwrap()
        .into_iter()
        .map(|f| {
            let r = Value::Object(f.record);
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (text(&r["b2b"]["personKey"]["sourceID"]), text(&r["workEmail"]["address"]))
        })
        .collect();
    out.sort();
    out
}

fn pair(id: &str, email: &str) -> (String, String) {
    (id.to_owned(), email.to_owned())
}

fn file_names(paths: &[String]) -> Vec<String> {
    paths.iter().map(|p| Path::new(p).file_name().unwrap().to_string_lossy().into_owned()).collect()
}

/// Creates `flow` with a 50 % error threshold and runs it once, expecting 3 rows read and 2 loaded; the one
/// rejected row as (line, field, code, message).
fn run_rejecting_one(engine: &mut Engine, mut flow: FlowDefinition) -> (u64, Option<String>, &'static str, String) {
    flow.error_threshold = "50".parse().unwrap();
    let name = flow.name.clone();
    engine.create_flow(flow).unwrap();
    let run = engine.run_flow(&name, &Quiet).unwrap();
    assert_eq!((run.run.state, run.run.rows_read, run.run.rows_ingested), (RunState::Success, 3, 2));
    let [rejected] = &run.files[0].rejected[..] else { panic!("{:?}", run.files[0].rejected) };
    (rejected.line, rejected.field.clone(), rejected.code.name(), rejected.message.clone())
}

#[test]
fn issue_4_a_json_integer_too_large_for_64_bits_rejects_its_row_only_when_the_mapping_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(dir.path());
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    // The mapping reads `id` and `email`: p1's oversized integer is in a field it does not read, p2's is its
    // e-mail.
    std::fs::write(
        input.join("a.ndjson"),
        "{\"id\":\"p1\",\"email\":\"a@x.com\",\"extra\":{\"n\":[1,123456789012345678901234]}}\n\
         {\"id\":\"p2\",\"email\":99999999999999999999}\n\
         {\"id\":\"p3\",\"email\":\"c@x.com\"}\n",
    )
    .unwrap();
    let rejected = run_rejecting_one(&mut engine, file_flow(dir.path(), "web", "in/*.ndjson", "ndjson"));
    assert_eq!(
        rejected,
        (
            2,
            Some("email".to_owned()),
            "bad_number",
            "the integer 99999999999999999999 at column 20 is too large for 64 bits and would lose digits as a \
             number; write it as a string"
                .to_owned()
        )
    );
    assert_eq!(people(&engine), [pair("p1", "a@x.com"), pair("p3", "c@x.com")]);
}

#[test]
fn issue_4_a_file_flow_picks_up_only_the_new_file_on_its_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(dir.path());
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("a.ndjson"),
        "{\"id\":\"p1\",\"email\":\"a@x.com\"}\n{\"id\":\"p2\",\"email\":\"b@x.com\"}\n",
    )
    .unwrap();
    std::fs::write(input.join("notes.txt"), "not matched by the glob").unwrap();
    engine.create_flow(file_flow(dir.path(), "web", "in/*.ndjson", "ndjson")).unwrap();

    let first = engine.run_flow("web", &Quiet).unwrap();
    assert_eq!(first.run.state, RunState::Success);
    assert_eq!(file_names(&first.run.files), ["a.ndjson"]);
    assert_eq!((first.run.rows_read, first.run.rows_ingested, first.run.rows_rejected), (2, 2, 0));
    assert_eq!(first.files[0].dataset, "web.people");
    let checkpoint = engine.store().flow_checkpoint("web", &first.run.files[0]).unwrap().unwrap();
    assert_eq!((checkpoint.batch_id, checkpoint.checkpoint.size), (first.run.batches[0], 60));

    std::fs::write(input.join("b.ndjson"), "{\"id\":\"p3\",\"email\":\"c@x.com\"}\n").unwrap();
    let second = engine.run_flow("web", &Quiet).unwrap();
    assert_eq!(second.run.state, RunState::Success);
    assert_eq!(file_names(&second.run.files), ["b.ndjson"]);
    assert_eq!(file_names(&second.skipped), ["a.ndjson"]);
    assert_eq!((second.run.files_listed, second.run.files_skipped), (2, 1));
    assert_eq!((second.run.rows_read, second.run.rows_ingested), (1, 1));
    assert_eq!(people(&engine), [pair("p1", "a@x.com"), pair("p2", "b@x.com"), pair("p3", "c@x.com")]);
    let batches = engine.store().batches().unwrap();
    assert_eq!(batches.len(), 2, "one batch per file, none for the skipped one");
}

#[test]
fn issue_4_a_file_flow_records_an_unreadable_input_as_a_failed_batch_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(dir.path());
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("a.bin"), "this is not a Parquet file").unwrap();
    std::fs::write(input.join("b.bin"), "neither is this").unwrap();
    engine.create_flow(file_flow(dir.path(), "pq", "in", "parquet")).unwrap();
    let run = engine.run_flow("pq", &Quiet).unwrap();
    assert_eq!(run.run.state, RunState::Failed);
    assert_eq!(file_names(&run.run.files), ["a.bin", "b.bin"]);
    assert_eq!(run.run.failed_batches.len(), 2, "each unreadable file is its own failed batch");
    let codes: Vec<Option<FailureCode>> = run.files.iter().map(|f| f.reason.as_ref().map(|r| r.code)).collect();
    assert_eq!(codes, [Some(FailureCode::InputUnreadable), Some(FailureCode::InputUnreadable)]);
    assert!(run.files[0].reason.as_ref().unwrap().message.contains("a.bin"), "{:?}", run.files[0].reason);
    assert_eq!(engine.store().flow_checkpoint("pq", &run.run.files[0]).unwrap(), None);
}

/// A folder of three files whose middle one `bad` makes unloadable: the run loads the other two and fails `b.csv`
/// as a batch of its own (`input_unreadable`, its message checked by `reason_holds`); once `b.csv` is replaced by
/// a good file, the next run loads it, and only it (the failed file kept no checkpoint).
fn the_files_around_a_failed_one_load(bad: impl FnOnce(&std::path::Path), reason_holds: impl Fn(&str) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(dir.path());
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("a.csv"), "id,email\np1,a@x.com\n").unwrap();
    bad(&input.join("b.csv"));
    std::fs::write(input.join("c.csv"), "id,email\np3,c@x.com\n").unwrap();
    engine.create_flow(file_flow(dir.path(), "web", "in/*.csv", "csv")).unwrap();

    let run = engine.run_flow("web", &Quiet).unwrap();
    assert_eq!(run.run.state, RunState::Failed);
    assert_eq!(file_names(&run.run.files), ["a.csv", "b.csv", "c.csv"]);
    let states: Vec<BatchState> = run.files.iter().map(|f| f.state).collect();
    assert_eq!(states, [BatchState::Success, BatchState::Failed, BatchState::Success]);
    let reason = run.files[1].reason.as_ref().unwrap();
    assert_eq!(reason.code, FailureCode::InputUnreadable);
    assert!(reason.message.contains("b.csv") && reason_holds(&reason.message), "{reason:?}");
    assert_eq!(people(&engine), [pair("p1", "a@x.com"), pair("p3", "c@x.com")]);

    std::fs::remove_file(input.join("b.csv")).unwrap();
    std::fs::write(input.join("b.csv"), "id,email\np2,b@x.com\n").unwrap();
    let second = engine.run_flow("web", &Quiet).unwrap();
    assert_eq!(second.run.state, RunState::Success);
    assert_eq!(file_names(&second.run.files), ["b.csv"]);
    assert_eq!(people(&engine), [pair("p1", "a@x.com"), pair("p2", "b@x.com"), pair("p3", "c@x.com")]);
}

#[test]
fn issue_4_a_file_the_mapping_does_not_fit_is_a_failed_batch_and_the_files_after_it_load() {
    the_files_around_a_failed_one_load(
        |b| std::fs::write(b, "id,mail\np2,b@x.com\n").unwrap(),
        |message| message.contains("reads `email`"),
    );
}

/// A file of the folder that fails its reads (here a link to `/proc/self/mem`, which any read at offset 0 fails
/// with EIO even for root) is a failed batch of its own: the run goes on to the files after it.
#[cfg(target_os = "linux")]
#[test]
fn issue_4_a_file_that_fails_its_reads_is_a_failed_batch_and_the_files_after_it_load() {
    the_files_around_a_failed_one_load(
        |b| std::os::unix::fs::symlink("/proc/self/mem", b).unwrap(),
        |message| message.contains("Input/output error") || message.contains("os error 5"),
    );
}

#[test]
fn issue_4_a_flow_names_its_missing_mapping_file_and_a_mismatched_entity() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(dir.path());
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    let mut flow = file_flow(dir.path(), "gone", "in", "csv");
    let FlowSource::File { mapping, .. } = &mut flow.source else { unreachable!() };
    *mapping = dir.path().join("nowhere.json").display().to_string();
    engine.create_flow(flow).unwrap();
    let err = engine.run_flow("gone", &Quiet).unwrap_err();
    assert!(err.to_string().contains("nowhere.json"), "{err}");
    assert_eq!(engine.store().flow_runs("gone").unwrap()[0].state, RunState::Failed);

    let mut flow = file_flow(dir.path(), "accounts", "in", "csv");
    let FlowSource::File { entity, .. } = &mut flow.source else { unreachable!() };
    *entity = EntityKind::Account;
    engine.create_flow(flow).unwrap();
    let err = engine.run_flow("accounts", &Quiet).unwrap_err();
    assert!(err.to_string().contains("maps into person but the flow's dataset holds account"), "{err}");
}

fn pg_flow(name: &str, env: &str, table: &str) -> FlowDefinition {
    FlowDefinition {
        name: name.into(),
        source: FlowSource::Postgres {
            connection_env: env.into(),
            query: table.into(),
            modified_column: "updated_at".into(),
            key: Vec::new(),
            dataset: "crm.people".into(),
            entity: EntityKind::Person,
            mapping: String::new(),
        },
        error_threshold: Default::default(),
        every: None,
    }
}

fn with_mapping(mut flow: FlowDefinition, dir: &Path) -> FlowDefinition {
    if let FlowSource::Postgres { mapping, .. } = &mut flow.source {
        *mapping = dir.join("people.json").display().to_string();
    }
    flow
}

#[test]
fn issue_4_a_postgres_flow_names_its_unset_variable() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(dir.path());
    engine.create_flow(with_mapping(pg_flow("pg", "RAPPORT_TEST_UNSET_URL_VARIABLE", "people"), dir.path())).unwrap();
    let err = engine.run_flow("pg", &Quiet).unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `pg`: the environment variable `RAPPORT_TEST_UNSET_URL_VARIABLE` (the PostgreSQL connection URL) is not set"
    );
}

/// A uniquely named schema, dropped on drop.
struct Scratch {
    client: postgres::Client,
    schema: String,
}

impl Scratch {
    fn new(test: &str) -> Option<Scratch> {
        let Ok(conninfo) = std::env::var("RAPPORT_TEST_PG") else {
            eprintln!("skipping {test}: RAPPORT_TEST_PG is not set (e.g. `host=127.0.0.1 user=postgres dbname=test`)");
            return None;
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let schema = format!("rapport_flow_{}_{}_{}", test, std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut client = postgres::Client::connect(&conninfo, postgres::NoTls).unwrap();
        client.batch_execute(&format!("CREATE SCHEMA {schema}")).unwrap();
        Some(Scratch { client, schema })
    }

    fn run(&mut self, sql: &str) {
        let sql = sql.replace("{s}", &self.schema);
        self.client.batch_execute(&sql).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
    }
}

const PEOPLE: &str = "CREATE TABLE {s}.people (id text PRIMARY KEY, email text, updated_at timestamptz);
    INSERT INTO {s}.people VALUES
        ('p1', 'a@x.com', '2024-03-01 10:00:01+00'),
        ('p2', 'b@x.com', '2024-03-01 10:00:02+00'),
        ('p3', 'c@x.com', '2024-03-01 10:00:02+00');";

/// The mark after a pull whose last row is `key` at `modified`, having read the keys `at_mark` at that time.
fn mark(modified: &str, key: &str, at_mark: &[&str]) -> Option<PgCheckpoint> {
    let at_mark = Some(at_mark.iter().map(|k| vec![(*k).to_owned()]).collect());
    Some(PgCheckpoint { modified: modified.to_owned(), key: vec![key.to_owned()], at_mark })
}

#[test]
fn issue_4_a_postgres_flow_loads_only_rows_changed_since_its_mark() {
    let Some(mut db) = Scratch::new("incremental") else { return };
    db.run(PEOPLE);
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(dir.path());
    let table = format!("{}.people", db.schema);
    engine.create_flow(with_mapping(pg_flow("pg", "RAPPORT_TEST_PG", &table), dir.path())).unwrap();

    let first = engine.run_flow("pg", &Quiet).unwrap();
    assert_eq!(first.run.state, RunState::Success);
    assert_eq!((first.run.batches.len(), first.run.rows_read, first.run.rows_ingested), (1, 3, 3));
    // p2 and p3 share a time: the key orders them, and the mark is the last row's.
    assert_eq!(engine.store().flow_pg_checkpoint("pg").unwrap(), mark("2024-03-01 10:00:02+00", "p3", &["p2", "p3"]));
    assert_eq!(people(&engine), [pair("p1", "a@x.com"), pair("p2", "b@x.com"), pair("p3", "c@x.com")]);

    db.run(
        "UPDATE {s}.people SET email = 'b2@x.com', updated_at = '2024-03-02 09:00:00+00' WHERE id = 'p2';
         INSERT INTO {s}.people VALUES ('p4', 'd@x.com', '2024-03-02 08:00:00+00');",
    );
    let second = engine.run_flow("pg", &Quiet).unwrap();
    assert_eq!(second.run.state, RunState::Success);
    assert_eq!((second.run.batches.len(), second.run.rows_read, second.run.rows_ingested), (1, 2, 2));
    assert_eq!(engine.store().flow_pg_checkpoint("pg").unwrap(), mark("2024-03-02 09:00:00+00", "p2", &["p2"]));
    assert_eq!(
        people(&engine),
        [pair("p1", "a@x.com"), pair("p2", "b2@x.com"), pair("p3", "c@x.com"), pair("p4", "d@x.com")]
    );

    let third = engine.run_flow("pg", &Quiet).unwrap();
    assert_eq!(third.run.state, RunState::Success);
    assert_eq!((third.run.batches.len(), third.run.rows_read), (0, 0));
    assert!(third.files.is_empty() && third.profiles.is_none());
    let runs: Vec<(RunState, usize, u64)> =
        engine.store().flow_runs("pg").unwrap().iter().map(|r| (r.state, r.batches.len(), r.rows_ingested)).collect();
    assert_eq!(runs, [(RunState::Success, 1, 3), (RunState::Success, 1, 2), (RunState::Success, 0, 0)]);

    // A row written after the run with the mark's very time and a smaller key is read by the next run.
    db.run("INSERT INTO {s}.people VALUES ('p0', 'z@x.com', '2024-03-02 09:00:00+00');");
    let fourth = engine.run_flow("pg", &Quiet).unwrap();
    assert_eq!((fourth.run.state, fourth.run.rows_read, fourth.run.rows_ingested), (RunState::Success, 1, 1));
    assert_eq!(engine.store().flow_pg_checkpoint("pg").unwrap(), mark("2024-03-02 09:00:00+00", "p0", &["p2", "p0"]));
    assert_eq!(people(&engine)[0], pair("p0", "z@x.com"));
}

#[test]
fn issue_4_an_infinite_date_in_a_postgres_row_does_not_stop_the_pull() {
    let Some(mut db) = Scratch::new("infinity") else { return };
    db.run(PEOPLE);
    // A validity column as warehouse tables keep them, open-ended rows at 'infinity'; the mapping does not read it.
    db.run(
        "ALTER TABLE {s}.people ADD COLUMN valid_to date; UPDATE {s}.people SET valid_to = 'infinity' WHERE id = 'p2';",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(dir.path());
    let table = format!("{}.people", db.schema);
    engine.create_flow(with_mapping(pg_flow("pg", "RAPPORT_TEST_PG", &table), dir.path())).unwrap();
    let run = engine.run_flow("pg", &Quiet).unwrap();
    assert_eq!((run.run.state, run.run.rows_read, run.run.rows_ingested), (RunState::Success, 3, 3));
    assert_eq!(people(&engine), [pair("p1", "a@x.com"), pair("p2", "b@x.com"), pair("p3", "c@x.com")]);
}

#[test]
fn issue_4_a_postgres_value_that_cannot_be_read_rejects_its_row_only_when_the_mapping_reads_it() {
    let Some(mut db) = Scratch::new("unreadable") else { return };
    // The e-mail as jsonb (a JSON string), and an unmapped jsonb column; an integer beyond 64 bits cannot be
    // read from either without losing digits.
    db.run(
        "CREATE TABLE {s}.people (id text PRIMARY KEY, email jsonb, extra jsonb, updated_at timestamptz);
         INSERT INTO {s}.people VALUES
             ('p1', '\"a@x.com\"', '{}', '2024-03-01 10:00:01+00'),
             ('p2', '123456789012345678901234', '{}', '2024-03-01 10:00:02+00'),
             ('p3', '\"c@x.com\"', '{\"n\": [1, 99999999999999999999]}', '2024-03-01 10:00:02+00');",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(dir.path());
    let table = format!("{}.people", db.schema);
    let rejected = run_rejecting_one(&mut engine, with_mapping(pg_flow("pg", "RAPPORT_TEST_PG", &table), dir.path()));
    assert_eq!(
        rejected,
        (
            2,
            Some("email".to_owned()),
            "bad_number",
            "the integer 123456789012345678901234 is too large for 64 bits and would lose digits as a JSON \
             number; select it as text in a query (`col->>'key'`)"
                .to_owned()
        ),
        "row 2 of the pull; row 3's unreadable value is in a column the mapping does not read"
    );
    assert_eq!(people(&engine), [pair("p1", "a@x.com"), pair("p3", "c@x.com")]);
    assert_eq!(engine.store().flow_pg_checkpoint("pg").unwrap(), mark("2024-03-01 10:00:02+00", "p3", &["p2", "p3"]));
}

#[test]
fn issue_4_a_failed_postgres_batch_leaves_the_mark_where_it_was() {
    let Some(mut db) = Scratch::new("failed") else { return };
    db.run(PEOPLE);
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(dir.path());
    let table = format!("{}.people", db.schema);
    engine.create_flow(with_mapping(pg_flow("pg", "RAPPORT_TEST_PG", &table), dir.path())).unwrap();
    engine.run_flow("pg", &Quiet).unwrap();
    let before = mark("2024-03-01 10:00:02+00", "p3", &["p2", "p3"]);
    assert_eq!(engine.store().flow_pg_checkpoint("pg").unwrap(), before);

    // One new row, with a blank id: 1 of 1 rejected, over the 5 % threshold.
    db.run("INSERT INTO {s}.people VALUES ('  ', 'e@x.com', '2024-03-03 00:00:00+00');");
    for _ in 0..2 {
        let run = engine.run_flow("pg", &Quiet).unwrap();
        assert_eq!(run.run.state, RunState::Failed);
        assert_eq!((run.run.failed_batches.len(), run.run.rows_read, run.run.rows_ingested), (1, 1, 0));
        assert_eq!(run.files[0].state, BatchState::Failed);
        let rejected: Vec<(u64, Option<&str>)> =
            run.files[0].rejected.iter().map(|e| (e.line, e.field.as_deref())).collect();
        assert_eq!(rejected, [(1, Some("id"))], "row 1 of the pull, its id blank");
        assert_eq!(engine.store().flow_pg_checkpoint("pg").unwrap(), before, "the mark did not move");
    }
    assert_eq!(people(&engine).len(), 3);
}

#[test]
fn issue_4_a_postgres_query_flow_without_a_key_is_refused_when_created() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(dir.path());
    let flow = with_mapping(pg_flow("q", "RAPPORT_TEST_PG", "SELECT id, email, updated_at FROM people"), dir.path());
    let err = engine.create_flow(flow).unwrap_err();
    assert!(err.to_string().contains("a query source must name its key columns (--key id[,…])"), "{err}");
    assert!(engine.store().flows().unwrap().is_empty());
    // A table's key is its primary key: no `--key` needed.
    engine.create_flow(with_mapping(pg_flow("t", "RAPPORT_TEST_PG", "people"), dir.path())).unwrap();
}

#[test]
fn issue_4_a_postgres_query_flow_orders_by_the_key_it_names() {
    let Some(mut db) = Scratch::new("query") else { return };
    db.run(PEOPLE);
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(dir.path());
    let query = format!("SELECT id, email, updated_at FROM {}.people WHERE id <> 'p1'", db.schema);
    let mut flow = with_mapping(pg_flow("q", "RAPPORT_TEST_PG", &query), dir.path());
    if let FlowSource::Postgres { key, .. } = &mut flow.source {
        *key = vec!["id".into()];
    }
    engine.create_flow(flow).unwrap();
    let first = engine.run_flow("q", &Quiet).unwrap();
    assert_eq!((first.run.state, first.run.rows_read, first.run.rows_ingested), (RunState::Success, 2, 2));
    assert_eq!(engine.store().flow_pg_checkpoint("q").unwrap(), mark("2024-03-01 10:00:02+00", "p3", &["p2", "p3"]));
    assert_eq!(people(&engine), [pair("p2", "b@x.com"), pair("p3", "c@x.com")]);
}

#[test]
fn issue_4_a_postgres_flow_loads_a_large_table_in_pages_of_50000_rows() {
    let Some(mut db) = Scratch::new("pages") else { return };
    db.run(
        "CREATE TABLE {s}.people (id text PRIMARY KEY, email text, updated_at timestamptz);
         INSERT INTO {s}.people SELECT 'p' || g, 'u' || g || '@x.com', '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second'
         FROM generate_series(1, 50001) AS g;",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(dir.path());
    let table = format!("{}.people", db.schema);
    engine.create_flow(with_mapping(pg_flow("pg", "RAPPORT_TEST_PG", &table), dir.path())).unwrap();
    let run = engine.run_flow("pg", &Quiet).unwrap();
    assert_eq!(run.run.state, RunState::Success);
    let pages: Vec<(u64, u64)> = run.files.iter().map(|f| (f.rows_read, f.rows_ingested)).collect();
    assert_eq!(pages, [(50_000, 50_000), (1, 1)]);
    // The last row is p50001, 50,001 seconds (13:53:21) after midnight.
    assert_eq!(engine.store().flow_pg_checkpoint("pg").unwrap(), mark("2024-01-01 13:53:21+00", "p50001", &["p50001"]));
    let again = engine.run_flow("pg", &Quiet).unwrap();
    assert!(again.files.is_empty());
}

#[test]
fn issue_4_the_newer_record_wins_however_its_modification_time_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(dir.path());
    let dated = MAPPING.replace(
        r#"{"sourceType": "ATTRIBUTE", "source": "email", "destination": "workEmail.address"}"#,
        r#"{"sourceType": "ATTRIBUTE", "source": "email", "destination": "workEmail.address"},
    {"sourceType": "ATTRIBUTE", "source": "updated", "destination": "extSourceSystemAudit.lastUpdatedDate"}"#,
    );
    assert_ne!(dated, MAPPING);
    std::fs::write(dir.path().join("people.json"), dated).unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    engine.create_flow(file_flow(dir.path(), "web", "in", "ndjson")).unwrap();
    let row =
        |id: &str, email: &str, updated: &str| format!(r#"{{"id":"{id}","email":"{email}","updated":"{updated}"}}"#);
    let files = [
        // 00:00Z, and 00:00:00.5Z.
        [row("p1", "first@x.com", "2024-01-01T00:00:00Z"), row("p2", "first@x.com", "2024-05-01T00:00:00.500Z")],
        // An hour older (23:00Z the day before), and half a second older: both written later, both lose.
        [row("p1", "older@x.com", "2024-01-01T01:00:00+02:00"), row("p2", "older@x.com", "2024-05-01T00:00:00Z")],
        // An hour newer (01:00Z) written with an offset that reads as earlier text, and 1 ms newer.
        [
            row("p1", "newer@x.com", "2024-01-01T03:00:00+02:00"),
            row("p2", "newer@x.com", "2024-05-01T02:00:00.501+02:00"),
        ],
    ];
    let mut wanted = Vec::new();
    for (at, rows) in files.iter().enumerate() {
        std::fs::write(input.join(format!("{at}.ndjson")), rows.join("\n")).unwrap();
        let run = engine.run_flow("web", &Quiet).unwrap();
        assert_eq!((run.run.state, run.run.rows_ingested), (RunState::Success, 2), "file {at}");
        wanted = match at {
            0 | 1 => vec![pair("p1", "first@x.com"), pair("p2", "first@x.com")],
            _ => vec![pair("p1", "newer@x.com"), pair("p2", "newer@x.com")],
        };
        assert_eq!(people(&engine), wanted, "after file {at}");
    }
    let kept: Vec<String> =
        engine.store().fragments(EntityKind::Person).unwrap().into_iter().map(|f| f.updated_at).collect();
    assert_eq!(kept, ["2024-01-01T01:00:00.000Z", "2024-05-01T00:00:00.501Z"], "{wanted:?}");
}
