//! Unmerge and the change feed on hand-worked graphs: deleting a record, an identity or a batch splits exactly
//! the graphs that no longer hold together, the profiles then equal a rebuild from the remaining fragments,
//! and every write appends the change events worked out here by hand.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use rapport_engine::{ChangeKind, Engine, Quiet};
use rapport_model::{EntityKind, Identity};
use rapport_store::{BatchState, Cause, NewBatch, NewFragment};
use serde_json::{json, Value};

fn person(key: &str) -> Identity {
    Identity::new("b2b_person", key)
}

fn email(address: &str) -> Identity {
    Identity::new("Email", address)
}

fn phone(number: &str) -> Identity {
    Identity::new("Phone", number)
}

fn account(key: &str) -> Identity {
    Identity::new("b2b_account", key)
}

/// `2024-01-DDT00:00:00.000Z`.
fn day(d: u32) -> String {
    format!("2024-01-{d:02}T00:00:00.000Z")
}

fn engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(&dir.path().join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    (dir, engine)
}

/// One fragment: primary identity first in `identities`.
fn fragment(identities: &[Identity], updated_at: &str, record: Value) -> NewFragment {
    NewFragment {
        primary: identities[0].clone(),
        identities: identities.to_vec(),
        updated_at: updated_at.to_owned(),
        record: record.as_object().unwrap().clone(),
    }
}

/// Commits one batch and returns its id.
fn commit(engine: &mut Engine, dataset: &str, entity: EntityKind, fragments: Vec<NewFragment>) -> i64 {
    let batch = NewBatch {
        dataset: dataset.to_owned(),
        entity,
        source: "test".to_owned(),
        files: Vec::new(),
        rows_read: fragments.len() as u64,
        fragments,
        rejected: Vec::new(),
        batch_id: None,
        checkpoint: None,
    };
    engine.commit_batch(&batch).unwrap().0.id
}

/// A profile as (primary, sorted identities, record as JSON text with sorted keys).
type Row = (Identity, Vec<Identity>, String);

/// Every profile of a class.
fn profiles(engine: &Engine, entity: EntityKind) -> BTreeSet<Row> {
    let mut out = BTreeSet::new();
    engine
        .store()
        .for_each_profile(entity, |_, primary, mut identities, record| -> rapport_store::Result<()> {
            identities.sort();
            let record: Value = serde_json::from_str(record).unwrap();
            out.insert((primary, identities, record.to_string()));
            Ok(())
        })
        .unwrap();
    out
}

fn persons(engine: &Engine) -> BTreeSet<Row> {
    profiles(engine, EntityKind::Person)
}

fn profile(primary: Identity, identities: &[Identity], record: Value) -> Row {
    let mut identities = identities.to_vec();
    identities.sort();
    (primary, identities, record.to_string())
}

/// The profiles of every class equal those a rebuild from the stored fragments gives.
fn assert_equals_rebuild(engine: &mut Engine) {
    let before: Vec<_> = EntityKind::ALL.into_iter().map(|e| profiles(engine, e)).collect();
    engine.unify(&Quiet).unwrap();
    let after: Vec<_> = EntityKind::ALL.into_iter().map(|e| profiles(engine, e)).collect();
    assert_eq!(before, after, "incremental profiles differ from a rebuild");
}

fn name(last: &str) -> Value {
    json!({"person": {"name": {"lastName": last}}})
}

#[test]
fn deleting_the_record_that_bridges_two_graphs_splits_the_profile() {
    let (_dir, mut engine) = engine();
    // r1 links A–B, r2 links B–C, r3 carries C: one graph. r2 is the newest.
    let (a, b, c) = (email("a@x.com"), phone("+15550001"), email("c@x.com"));
    commit(
        &mut engine,
        "crm",
        EntityKind::Person,
        vec![
            fragment(
                &[person("r1"), a.clone(), b.clone()],
                &day(1),
                json!({"person": {"name": {"lastName": "One", "firstName": "Ann"}}}),
            ),
            fragment(
                &[person("r3"), c.clone()],
                &day(2),
                json!({"person": {"name": {"lastName": "Three"}}, "extendedWorkDetails": {"jobTitle": "CFO"}}),
            ),
            fragment(
                &[person("r2"), b.clone(), c.clone()],
                &day(3),
                json!({"person": {"name": {"lastName": "Two"}}, "extendedWorkDetails": {"jobTitle": "CTO"}}),
            ),
        ],
    );
    // Merged oldest first: r1 (Ann One), r3 (Three, CFO), r2 (Two, CTO).
    assert_eq!(
        persons(&engine),
        BTreeSet::from([profile(
            person("r1"),
            &[person("r1"), person("r2"), person("r3"), a.clone(), b.clone(), c.clone()],
            json!({"person": {"name": {"lastName": "Two", "firstName": "Ann"}}, "extendedWorkDetails": {"jobTitle": "CTO"}}),
        )])
    );

    let report = engine.delete_record("crm", &person("r2")).unwrap();
    assert_eq!((report.fragments_deleted, report.profiles_deleted), (1, 0));
    assert_eq!((report.profiles.replaced, report.profiles.written), (1, 2));
    assert_eq!(
        persons(&engine),
        BTreeSet::from([
            profile(
                person("r1"),
                &[person("r1"), a.clone(), b.clone()],
                json!({"person": {"name": {"lastName": "One", "firstName": "Ann"}}})
            ),
            profile(
                person("r3"),
                &[person("r3"), c.clone()],
                json!({"person": {"name": {"lastName": "Three"}}, "extendedWorkDetails": {"jobTitle": "CFO"}})
            ),
        ])
    );
    assert!(engine.store().profile_by_identity(EntityKind::Person, &person("r2")).unwrap().is_none());
    let missing = engine.delete_record("crm", &person("r2")).unwrap_err().to_string();
    assert!(missing.contains("b2b_person") && missing.contains("r2") && missing.contains("crm"), "{missing}");
    assert_equals_rebuild(&mut engine);
}

/// Under the linking rules a profile can mention an identity (carry it outside its graph) that another
/// profile's graph holds; deleting the data that made the other graph refuse the link must re-stitch the
/// mentioning profile too, which then takes the identity in.
#[test]
fn deleting_the_graph_that_refused_a_link_re_stitches_the_profile_that_mentioned_it() {
    let (_dir, mut engine) = engine();
    let crm = |v: &str| Identity::new("CRMID", v);
    engine
        .create_namespace(
            &rapport_schema::Namespace::custom(
                "CRMID",
                "CRM id",
                rapport_schema::IdentityType::CrossDevice,
                rapport_schema::Normalization::Trim,
            )
            .unwrap(),
        )
        .unwrap();
    let m = email("m@x.com");
    // Newest first: d makes {k1, m, c1}; e links k2–c0, then k2–m would join a graph holding another CRM id
    // (c1): the link is cut, and k2's profile mentions m.
    commit(
        &mut engine,
        "crm",
        EntityKind::Person,
        vec![
            fragment(&[person("k1"), m.clone(), crm("c1")], &day(2), name("One")),
            fragment(&[person("k2"), crm("c0"), m.clone()], &day(1), name("Two")),
        ],
    );
    let graphs = |engine: &Engine| -> BTreeSet<Vec<Identity>> { persons(engine).into_iter().map(|r| r.1).collect() };
    assert_eq!(
        graphs(&engine),
        BTreeSet::from([vec![crm("c1"), m.clone(), person("k1")], vec![crm("c0"), person("k2")]])
    );

    // Without d nothing refuses the link: e's graph is {k2, c0, m}.
    let report = engine.delete_record("crm", &person("k1")).unwrap();
    assert_eq!((report.fragments_deleted, report.profiles_deleted), (1, 1));
    assert_eq!(graphs(&engine), BTreeSet::from([vec![crm("c0"), m.clone(), person("k2")]]));
    assert_equals_rebuild(&mut engine);
}

#[test]
fn deleting_an_identity_unlinks_it_and_deletes_the_fragments_it_keys() {
    let (_dir, mut engine) = engine();
    let (shared, b) = (email("shared@x.com"), phone("+15550002"));
    commit(
        &mut engine,
        "crm",
        EntityKind::Person,
        vec![
            fragment(&[person("r1"), shared.clone()], &day(1), name("One")),
            fragment(&[person("r2"), shared.clone(), b.clone()], &day(2), name("Two")),
        ],
    );
    commit(&mut engine, "web", EntityKind::Person, vec![fragment(&[person("w1"), b.clone()], &day(3), name("Web"))]);
    assert_eq!(persons(&engine).len(), 1, "r1–r2 by the email, r2–w1 by the phone");

    // Without the shared email, r1 stands alone; r2 and w1 still share the phone.
    let report = engine.delete_identity(EntityKind::Person, &shared).unwrap();
    assert_eq!((report.fragments_deleted, report.fragments_changed, report.profiles.written), (0, 2, 2));
    assert_eq!(
        persons(&engine),
        BTreeSet::from([
            profile(person("r1"), &[person("r1")], name("One")),
            profile(person("r2"), &[person("r2"), person("w1"), b.clone()], name("Web")),
        ])
    );
    assert!(engine.store().profile_by_identity(EntityKind::Person, &shared).unwrap().is_none());
    assert_equals_rebuild(&mut engine);

    // r2's own key: its fragment goes whole; w1 keeps the phone.
    let report = engine.delete_identity(EntityKind::Person, &person("r2")).unwrap();
    assert_eq!((report.fragments_deleted, report.fragments_changed), (1, 0));
    assert_eq!(
        persons(&engine),
        BTreeSet::from([
            profile(person("r1"), &[person("r1")], name("One")),
            profile(person("w1"), &[person("w1"), b.clone()], name("Web")),
        ])
    );
    assert_equals_rebuild(&mut engine);

    // r1's key: its profile has no fragment left and is gone.
    let report = engine.delete_identity(EntityKind::Person, &person("r1")).unwrap();
    assert_eq!((report.fragments_deleted, report.profiles_deleted, report.profiles.written), (1, 1, 0));
    assert_eq!(persons(&engine), BTreeSet::from([profile(person("w1"), &[person("w1"), b.clone()], name("Web"))]));
    assert_eq!(
        engine.delete_identity(EntityKind::Person, &person("r1")).unwrap_err().to_string(),
        "no person profile holds the identity b2b_person:r1"
    );
    assert_equals_rebuild(&mut engine);
}

#[test]
fn deleting_a_batch_removes_the_fragments_it_wrote_last() {
    let (_dir, mut engine) = engine();
    let (a, b, c) = (email("a@x.com"), email("b@x.com"), email("c@x.com"));
    let first = commit(
        &mut engine,
        "crm",
        EntityKind::Person,
        vec![
            fragment(&[person("r1"), a.clone()], &day(1), name("One")),
            fragment(&[person("r2"), b.clone()], &day(1), name("Two")),
        ],
    );
    let bridge = commit(
        &mut engine,
        "web",
        EntityKind::Person,
        vec![fragment(&[person("s1"), a.clone(), b.clone()], &day(2), name("Web"))],
    );
    // A later batch replaces r2 (same identities, new name) and adds r3.
    let later = commit(
        &mut engine,
        "crm",
        EntityKind::Person,
        vec![
            fragment(&[person("r2"), b.clone()], &day(3), name("Two v2")),
            fragment(&[person("r3"), c.clone()], &day(3), name("Three")),
        ],
    );
    assert_eq!(persons(&engine).len(), 2);

    // The first batch wrote r1 and r2, but r2's stored version is the later batch's: only r1 goes.
    let report = engine.delete_batch(first).unwrap();
    assert_eq!(report.fragments_deleted, 1);
    assert_eq!(
        persons(&engine),
        BTreeSet::from([
            // The graph keeps r2–b–s1; r2 (stored before s1) is its earliest fragment.
            profile(person("r2"), &[person("r2"), person("s1"), a.clone(), b.clone()], name("Two v2")),
            profile(person("r3"), &[person("r3"), c.clone()], name("Three")),
        ])
    );
    assert_eq!(engine.store().batch_entity(first).unwrap(), Some((EntityKind::Person, BatchState::Deleted)));
    assert_eq!(
        engine.delete_batch(first).unwrap_err().to_string(),
        format!("batch {first} is deleted: only a successful batch has data to delete")
    );
    assert_eq!(engine.delete_batch(99).unwrap_err().to_string(), "batch 99 does not exist (run `rapport batch list`)");
    assert_equals_rebuild(&mut engine);

    // Deleting the later batch removes r2 and r3 (r2's earlier version is not restored).
    let report = engine.delete_batch(later).unwrap();
    assert_eq!((report.fragments_deleted, report.profiles_deleted), (2, 1));
    assert_eq!(
        persons(&engine),
        BTreeSet::from([profile(person("s1"), &[person("s1"), a.clone(), b.clone()], name("Web"))])
    );
    assert_equals_rebuild(&mut engine);

    engine.delete_batch(bridge).unwrap();
    assert!(persons(&engine).is_empty());
    assert_equals_rebuild(&mut engine);
}

/// (seq, cause, entity, profile id, primary, kind, paths, previous, related as (class, key, profile id)).
type Event = (
    i64,
    Cause,
    EntityKind,
    i64,
    Identity,
    ChangeKind,
    Vec<String>,
    Vec<i64>,
    Vec<(EntityKind, Identity, Option<i64>)>,
);

fn paths(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| (*p).to_owned()).collect()
}

#[test]
fn every_write_appends_the_change_events_worked_out_by_hand() {
    use ChangeKind::*;
    use EntityKind::{Account, Opportunity, Person};
    let (_dir, mut engine) = engine();
    let acme = |name: &str| json!({"accountName": name, "accountKey": {"sourceKey": "acc1"}});
    let b1 = commit(&mut engine, "crm.account", Account, vec![fragment(&[account("acc1")], &day(1), acme("Acme"))]);
    let p1 = |title: &str| {
        json!({"person": {"name": {"lastName": "Ann"}}, "extendedWorkDetails": {"jobTitle": title},
               "personComponents": [{"sourceAccountKey": {"sourceKey": "acc1"}}]})
    };
    // Insert, then update one field.
    let b2 = commit(&mut engine, "crm", Person, vec![fragment(&[person("p1"), email("e1")], &day(2), p1("A"))]);
    let b3 = commit(&mut engine, "crm", Person, vec![fragment(&[person("p1"), email("e1")], &day(3), p1("B"))]);
    // A second person, then a record linking both: a merge.
    let b4 = commit(&mut engine, "crm", Person, vec![fragment(&[person("p2"), email("e2")], &day(4), name("Bo"))]);
    let m1 = json!({"person": {"name": {"firstName": "Ann"}}, "workEmail": {"address": "e1"}});
    let b5 =
        commit(&mut engine, "mkto", Person, vec![fragment(&[person("m1"), email("e1"), email("e2")], &day(5), m1)]);
    // Deleting the link splits the profile again; deleting p2 deletes its profile.
    engine.delete_record("mkto", &person("m1")).unwrap();
    engine.delete_record("crm", &person("p2")).unwrap();
    // The account changes: its person's derived view changes. An opportunity of the account arrives.
    let b6 =
        commit(&mut engine, "crm.account", Account, vec![fragment(&[account("acc1")], &day(6), acme("Acme Corp"))]);
    let deal = json!({"opportunityName": "Deal", "accountKey": {"sourceKey": "acc1"}});
    let b7 = commit(
        &mut engine,
        "crm.opportunity",
        Opportunity,
        vec![fragment(&[Identity::new("b2b_opportunity", "o1")], &day(7), deal)],
    );

    let acc = vec![(Account, account("acc1"), Some(0))];
    let expected: Vec<Event> = vec![
        (1, Cause::Batch(b1), Account, 0, account("acc1"), Created, paths(&[]), vec![], vec![]),
        (2, Cause::Batch(b2), Person, 0, person("p1"), Created, paths(&[]), vec![], acc.clone()),
        (
            3,
            Cause::Batch(b3),
            Person,
            0,
            person("p1"),
            Updated,
            paths(&["extendedWorkDetails.jobTitle"]),
            vec![],
            acc.clone(),
        ),
        (4, Cause::Batch(b4), Person, 1, person("p2"), Created, paths(&[]), vec![], vec![]),
        // Profile 1 is absorbed into 0: its id is announced gone before the merge.
        (5, Cause::Batch(b5), Person, 1, person("p2"), Deleted, paths(&[]), vec![], vec![]),
        (
            6,
            Cause::Batch(b5),
            Person,
            0,
            person("p1"),
            Merged,
            // Merged oldest first: p1 (Ann, B), p2 (Bo), m1 (first name, email).
            paths(&["person.name.firstName", "person.name.lastName", "workEmail"]),
            vec![0, 1],
            acc.clone(),
        ),
        (
            7,
            Cause::DeleteRecord,
            Person,
            0,
            person("p1"),
            Split,
            paths(&["person.name.firstName", "person.name.lastName", "workEmail"]),
            vec![0],
            acc.clone(),
        ),
        (
            8,
            Cause::DeleteRecord,
            Person,
            1,
            person("p2"),
            Split,
            paths(&["extendedWorkDetails", "person.name.firstName", "personComponents", "workEmail"]),
            vec![0],
            // It was part of a profile holding the account's key: the account's people changed.
            acc.clone(),
        ),
        (9, Cause::DeleteRecord, Person, 1, person("p2"), Deleted, paths(&[]), vec![], vec![]),
        (
            10,
            Cause::Batch(b6),
            Account,
            0,
            account("acc1"),
            Updated,
            paths(&["accountName"]),
            vec![],
            vec![(Person, person("p1"), Some(0))],
        ),
        (
            11,
            Cause::Batch(b7),
            Opportunity,
            0,
            Identity::new("b2b_opportunity", "o1"),
            Created,
            paths(&[]),
            vec![],
            acc.clone(),
        ),
    ];
    let got: Vec<Event> = engine
        .changes_since(0, 100)
        .unwrap()
        .into_iter()
        .map(|e| {
            let related = e.related.into_iter().map(|r| (r.entity, r.key, r.profile_id)).collect();
            (e.seq, e.cause, e.entity, e.profile_id, e.primary, e.kind, e.paths, e.previous, related)
        })
        .collect();
    assert_eq!(got, expected);
    // As JSON (what `rapport changes --json` prints and the server will serve).
    let mut json_events = serde_json::to_value(engine.changes_since(6, 2).unwrap()).unwrap();
    for event in json_events.as_array_mut().unwrap() {
        event.as_object_mut().unwrap().remove("at");
    }
    assert_eq!(
        json_events,
        json!([
            {"seq": 7, "cause": {"type": "deleteRecord"}, "entity": "person", "profileId": 0,
             "primary": {"namespace": "b2b_person", "value": "p1"}, "kind": "split",
             "paths": ["person.name.firstName", "person.name.lastName", "workEmail"], "previous": [0],
             "related": [{"entity": "account", "key": {"namespace": "b2b_account", "value": "acc1"}, "profileId": 0}]},
            {"seq": 8, "cause": {"type": "deleteRecord"}, "entity": "person", "profileId": 1,
             "primary": {"namespace": "b2b_person", "value": "p2"}, "kind": "split",
             "paths": ["extendedWorkDetails", "person.name.firstName", "personComponents", "workEmail"], "previous": [0],
             "related": [{"entity": "account", "key": {"namespace": "b2b_account", "value": "acc1"}, "profileId": 0}]},
        ])
    );
    let batch_cause = serde_json::to_value(engine.changes_since(0, 1).unwrap()[0].cause).unwrap();
    assert_eq!(batch_cause, json!({"type": "batch", "batchId": b1}));
    // Paging: after 9, two events; a limit of one gives the tenth.
    let tail = engine.changes_since(9, 1).unwrap();
    assert_eq!((tail.len(), tail[0].seq), (1, 10));
    assert!(engine.changes_since(11, 10).unwrap().is_empty());
    // A rebuild records nothing.
    engine.unify(&Quiet).unwrap();
    assert!(engine.changes_since(11, 10).unwrap().is_empty());
}
