//! Profiles kept current batch by batch: each hand-worked step's graphs, and the same profiles as a rebuild
//! from scratch.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rapport_engine::{Engine, Quiet};
use rapport_model::{EntityKind, Identity, SourceSystem};

const ORG: &str = "org1";

fn key(id: &str) -> Identity {
    Identity::new("b2b_person", format!("{id}@{ORG}.Salesforce"))
}

fn email(address: &str) -> Identity {
    Identity::new("Email", address)
}

/// Writes a Salesforce export file (`Contact.csv` or `Lead.csv`) of (id, email, modified) rows.
fn export(dir: &Path, folder: &str, table: &str, rows: &[(&str, &str, &str)]) -> PathBuf {
    let dir = dir.join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from("\"Id\",\"Email\",\"LastName\",\"LastModifiedDate\"\n");
    for (id, email, modified) in rows {
        text.push_str(&format!("\"{id}\",\"{email}\",\"Doe\",\"{modified}\"\n"));
    }
    let path = dir.join(format!("{table}.csv"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Every person profile as (primary, identities), in a set.
fn graphs(engine: &Engine) -> BTreeSet<(Identity, Vec<Identity>)> {
    let mut out = BTreeSet::new();
    engine
        .store()
        .for_each_profile(EntityKind::Person, |_, primary, mut identities, _| -> rapport_store::Result<()> {
            identities.sort();
            out.insert((primary, identities));
            Ok(())
        })
        .unwrap();
    out
}

/// Every person profile as (primary, record JSON), in a set.
fn records(engine: &Engine) -> BTreeSet<(Identity, String)> {
    let mut out = BTreeSet::new();
    engine
        .store()
        .for_each_profile(EntityKind::Person, |_, primary, _, record| -> rapport_store::Result<()> {
            let value: serde_json::Value = serde_json::from_str(record).unwrap();
            out.insert((primary, value.to_string()));
            Ok(())
        })
        .unwrap();
    out
}

fn graph(primary: Identity, identities: &[Identity]) -> (Identity, Vec<Identity>) {
    let mut identities = identities.to_vec();
    identities.sort();
    (primary, identities)
}

#[test]
fn batches_merge_and_split_profiles_exactly_and_agree_with_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(&dir.path().join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    let ingest = |engine: &mut Engine, path: PathBuf| {
        let report = engine.ingest(SourceSystem::Salesforce, &[path], ORG, &Quiet).unwrap();
        assert_eq!(report.rows_rejected(), 0, "{:?}", report.files[0].rejected);
    };

    // Step 1: three contacts, three profiles of one fragment each.
    let t1 = "2024-01-01T00:00:00.000Z";
    ingest(
        &mut engine,
        export(dir.path(), "1", "Contact", &[("C1", "a@x.com", t1), ("C2", "b@x.com", t1), ("C3", "c@x.com", t1)]),
    );
    assert_eq!(
        graphs(&engine),
        BTreeSet::from([
            graph(key("C1"), &[key("C1"), email("a@x.com")]),
            graph(key("C2"), &[key("C2"), email("b@x.com")]),
            graph(key("C3"), &[key("C3"), email("c@x.com")]),
        ])
    );

    // Step 2: lead L1 shares C1's email and joins its profile; L2 is new.
    ingest(&mut engine, export(dir.path(), "2", "Lead", &[("L1", "a@x.com", t1), ("L2", "d@x.com", t1)]));
    assert_eq!(
        graphs(&engine),
        BTreeSet::from([
            graph(key("C1"), &[key("C1"), key("L1"), email("a@x.com")]),
            graph(key("C2"), &[key("C2"), email("b@x.com")]),
            graph(key("C3"), &[key("C3"), email("c@x.com")]),
            graph(key("L2"), &[key("L2"), email("d@x.com")]),
        ])
    );
    let merged = engine.store().profile_by_identity(EntityKind::Person, &key("L1")).unwrap().unwrap();
    assert_eq!((merged.primary.clone(), merged.fragment_count), (key("C1"), 2));

    // Step 3: L1 changes its email to C2's. C1's profile loses L1 (a split) and L1 joins C2 (a merge); the
    // profile's primary identity is its earliest fragment's, C2's.
    let t2 = "2024-02-01T00:00:00.000Z";
    ingest(&mut engine, export(dir.path(), "3", "Lead", &[("L1", "b@x.com", t2)]));
    assert_eq!(
        graphs(&engine),
        BTreeSet::from([
            graph(key("C1"), &[key("C1"), email("a@x.com")]),
            graph(key("C2"), &[key("C2"), key("L1"), email("b@x.com")]),
            graph(key("C3"), &[key("C3"), email("c@x.com")]),
            graph(key("L2"), &[key("L2"), email("d@x.com")]),
        ])
    );
    // An older row of L1 does not undo the change.
    ingest(&mut engine, export(dir.path(), "4", "Lead", &[("L1", "a@x.com", t1)]));
    let l1 = engine.store().profile_by_identity(EntityKind::Person, &key("L1")).unwrap().unwrap();
    assert_eq!(l1.primary, key("C2"));
    assert_eq!(l1.record["workEmail"]["address"], "b@x.com");
    assert!(engine.store().profile_by_identity(EntityKind::Person, &email("zzz@x.com")).unwrap().is_none());

    // Step 5: L2 (the newest profile) takes C3's email while two new leads arrive: the two old profiles become
    // one and three graphs need ids; the new leads get ids no profile had.
    ingest(
        &mut engine,
        export(dir.path(), "5", "Lead", &[("L2", "c@x.com", t2), ("L3", "e@x.com", t2), ("L4", "f@x.com", t2)]),
    );
    assert_eq!(
        graphs(&engine),
        BTreeSet::from([
            graph(key("C1"), &[key("C1"), email("a@x.com")]),
            graph(key("C2"), &[key("C2"), key("L1"), email("b@x.com")]),
            graph(key("C3"), &[key("C3"), key("L2"), email("c@x.com")]),
            graph(key("L3"), &[key("L3"), email("e@x.com")]),
            graph(key("L4"), &[key("L4"), email("f@x.com")]),
        ])
    );
    assert!(engine.store().profile_by_identity(EntityKind::Person, &email("d@x.com")).unwrap().is_none());

    // Rebuilding everything from the stored fragments gives the same graphs and merged records.
    let (incremental_graphs, incremental_records) = (graphs(&engine), records(&engine));
    engine.unify(&Quiet).unwrap();
    assert_eq!(graphs(&engine), incremental_graphs);
    assert_eq!(records(&engine), incremental_records);
}

#[test]
fn incremental_profiles_equal_a_rebuild_on_the_bodea_sample() {
    let dir = tempfile::tempdir().unwrap();
    let exports = dir.path().join("exports");
    rapport_sample::generate_bodea(&exports, &rapport_sample::GenerateOptions { persons: 600, seed: 7 }).unwrap();
    let mut engine = Engine::open(&dir.path().join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    for system in [SourceSystem::Marketo, SourceSystem::Salesforce, SourceSystem::Dynamics] {
        engine.ingest(system, &[exports.join(system.name())], ORG, &Quiet).unwrap();
    }
    let before: Vec<_> = EntityKind::ALL
        .into_iter()
        .map(|entity| {
            let mut all = BTreeSet::new();
            engine
                .store()
                .for_each_profile(entity, |_, primary, mut ids, record| -> rapport_store::Result<()> {
                    ids.sort();
                    let record: serde_json::Value = serde_json::from_str(record).unwrap();
                    all.insert((primary, ids, record.to_string()));
                    Ok(())
                })
                .unwrap();
            all
        })
        .collect();
    // Stitching happened across systems: some person profiles merge several fragments.
    let summary = engine.profile_summary().unwrap();
    assert!(summary.entity(EntityKind::Person).unwrap().stitched > 0);
    engine.unify(&Quiet).unwrap();
    for (entity, before) in EntityKind::ALL.into_iter().zip(before) {
        let mut after = BTreeSet::new();
        engine
            .store()
            .for_each_profile(entity, |_, primary, mut ids, record| -> rapport_store::Result<()> {
                ids.sort();
                let record: serde_json::Value = serde_json::from_str(record).unwrap();
                after.insert((primary, ids, record.to_string()));
                Ok(())
            })
            .unwrap();
        assert_eq!(after, before, "{entity}");
    }
}

/// One batch of person fragments: (primary key, identities, updated_at) into `dataset`.
fn person_batch(dataset: &str, rows: &[(Identity, Vec<Identity>, &str)]) -> rapport_store::NewBatch {
    rapport_store::NewBatch {
        dataset: dataset.to_owned(),
        entity: EntityKind::Person,
        source: "test".to_owned(),
        files: Vec::new(),
        rows_read: rows.len() as u64,
        fragments: rows
            .iter()
            .map(|(primary, identities, at)| rapport_store::NewFragment {
                primary: primary.clone(),
                identities: identities.clone(),
                updated_at: (*at).to_owned(),
                record: serde_json::json!({"b2b": {"personKey": {"sourceKey": primary.value}}})
                    .as_object()
                    .unwrap()
                    .clone(),
            })
            .collect(),
        rejected: Vec::new(),
        batch_id: None,
        checkpoint: None,
    }
}

/// The shared-device rule through the engine, and `explain` on the result, written out by hand: Jane (CRM
/// record, batch 1) and John (web login, batch 2) share the browser `ECID:x`; John's record is newer, so Jane's
/// link to the browser is cut. A Marketo lead carrying Jane's CRM id (batch 3) joins Jane.
#[test]
fn explain_shows_each_link_with_its_records_and_the_cut_link_with_its_rule() {
    use rapport_engine::{DecisionRecord, LinkExplanation, LinkRule};
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(&dir.path().join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    let crm_ns = rapport_schema::Namespace::custom(
        "CRMID",
        "CRM id",
        rapport_schema::IdentityType::CrossDevice,
        rapport_schema::Normalization::Trim,
    )
    .unwrap();
    engine.create_namespace(&crm_ns).unwrap();
    let person = |v: &str| Identity::new("b2b_person", v);
    let crm = |v: &str| Identity::new("CRMID", v);
    let ecid = Identity::new("ECID", "x");
    let batches = [
        person_batch(
            "crm",
            &[(person("jane"), vec![person("jane"), crm("jane"), ecid.clone()], "2024-01-01T00:00:00Z")],
        ),
        person_batch(
            "web",
            &[(person("john"), vec![person("john"), crm("john"), ecid.clone()], "2024-01-02T00:00:00Z")],
        ),
        person_batch("marketo", &[(person("m1"), vec![person("m1"), crm("jane")], "2024-01-03T00:00:00Z")]),
    ];
    for batch in &batches {
        engine.commit_batch(batch).unwrap();
    }
    assert_eq!(
        graphs(&engine),
        BTreeSet::from([
            graph(person("jane"), &[person("jane"), crm("jane"), person("m1")]),
            graph(person("john"), &[person("john"), crm("john"), ecid.clone()]),
        ])
    );
    let record = |fragment: i64, dataset: &str, batch_id: i64, at: &str| DecisionRecord {
        fragment,
        dataset: dataset.to_owned(),
        batch_id,
        updated_at: at.to_owned(),
    };
    let (jane_record, john_record, m1_record) = (
        record(1, "crm", 1, "2024-01-01T00:00:00Z"),
        record(2, "web", 2, "2024-01-02T00:00:00Z"),
        record(3, "marketo", 3, "2024-01-03T00:00:00Z"),
    );
    let link = |from: &Identity, to: &Identity, records: Vec<DecisionRecord>| LinkExplanation {
        from: from.clone(),
        to: to.clone(),
        rule: LinkRule::Record,
        kept: None,
        refused: None,
        evicted: None,
        records,
    };
    let cut = LinkExplanation {
        from: person("jane"),
        to: ecid.clone(),
        rule: LinkRule::UniqueNamespace,
        kept: Some(crm("jane")),
        refused: Some(crm("john")),
        evicted: None,
        records: vec![jane_record.clone()],
    };

    let browser = engine.explain_identity(EntityKind::Person, &ecid).unwrap();
    assert_eq!(browser.identities, vec![crm("john"), ecid.clone(), person("john")]);
    assert_eq!(
        browser.links,
        vec![
            link(&person("john"), &crm("john"), vec![john_record.clone()]),
            link(&person("john"), &ecid, vec![john_record.clone()]),
        ]
    );
    assert_eq!(browser.refused, vec![cut.clone()]);

    let jane = engine.explain_identity(EntityKind::Person, &crm("jane")).unwrap();
    assert_eq!(jane.identities, vec![crm("jane"), person("jane"), person("m1")]);
    assert_eq!(
        jane.links,
        vec![
            link(&person("jane"), &crm("jane"), vec![jane_record]),
            link(&person("m1"), &crm("jane"), vec![m1_record])
        ]
    );
    assert_eq!(jane.refused, vec![cut]);
    assert_eq!(jane.profile_id, engine.store().profile_owning(EntityKind::Person, &person("m1")).unwrap());

    let nobody = engine.explain_identity(EntityKind::Person, &Identity::new("Email", "nobody@x.com")).unwrap();
    assert_eq!((nobody.profile_id, nobody.identities.len(), nobody.links.len()), (None, 0, 0));

    // A rebuild records the same decisions.
    engine.unify(&Quiet).unwrap();
    assert_eq!(engine.explain_identity(EntityKind::Person, &ecid).unwrap().refused, browser.refused);
    assert_eq!(engine.explain_identity(EntityKind::Person, &ecid).unwrap().links, browser.links);
}

/// A rule override rebuilds the profiles under it: with `Email` made unique, a record carrying two emails
/// keeps the first by identity order (`a` before `b`) and its link to the other is cut.
#[test]
fn a_rule_override_rebuilds_graphs_under_the_new_rule() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(&dir.path().join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    let p = Identity::new("b2b_person", "p");
    engine
        .commit_batch(&person_batch("crm", &[(p.clone(), vec![p.clone(), email("b@x.com"), email("a@x.com")], "t")]))
        .unwrap();
    assert_eq!(graphs(&engine), BTreeSet::from([graph(p.clone(), &[p.clone(), email("a@x.com"), email("b@x.com")])]));

    engine.set_linking_rule("Email", rapport_identity::NamespaceRule { unique: true, priority: 20 }).unwrap();
    assert_eq!(graphs(&engine), BTreeSet::from([graph(p.clone(), &[p.clone(), email("a@x.com")])]));
    let explained = engine.explain_identity(EntityKind::Person, &email("b@x.com")).unwrap();
    assert_eq!(explained.profile_id, None);
    assert_eq!(explained.refused.len(), 1);
    assert_eq!(explained.refused[0].rule, rapport_engine::LinkRule::UniqueNamespace);
    assert_eq!(explained.refused[0].kept, Some(email("a@x.com")));

    let unknown = engine.set_linking_rule("NoSuchNs", rapport_identity::NamespaceRule { unique: true, priority: 1 });
    assert!(unknown.unwrap_err().to_string().contains("unknown namespace `NoSuchNs`"));
}

/// A profile of one record all of whose links were made stores no decisions: `explain` rebuilds them from
/// the profile (the record's primary identity linked with each other identity). Once a second record joins the
/// graph, the decisions are stored and name both records.
#[test]
fn a_single_record_profile_is_explained_without_stored_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(&dir.path().join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    let (p, q) = (Identity::new("b2b_person", "p"), Identity::new("b2b_person", "q"));
    let batch = person_batch("crm", &[(p.clone(), vec![p.clone(), email("b@x.com"), email("a@x.com")], "t1")]);
    engine.commit_batch(&batch).unwrap();
    let id = engine.store().profile_owning(EntityKind::Person, &p).unwrap().expect("a profile");
    assert_eq!(engine.store().profile_decisions(EntityKind::Person, id).unwrap(), None);
    let explained = engine.explain_identity(EntityKind::Person, &email("b@x.com")).unwrap();
    assert_eq!(explained.profile_id, Some(id));
    let links: Vec<(Identity, Identity, Vec<i64>)> = explained
        .links
        .iter()
        .map(|l| (l.from.clone(), l.to.clone(), l.records.iter().map(|r| r.fragment).collect()))
        .collect();
    assert_eq!(links, vec![(p.clone(), email("a@x.com"), vec![1]), (p.clone(), email("b@x.com"), vec![1])]);
    assert!(explained.links.iter().all(|l| l.rule == rapport_engine::LinkRule::Record));
    assert_eq!(explained.links[0].records[0].dataset, "crm");
    assert!(explained.refused.is_empty());

    // A second record sharing an email: one graph of two records, its decisions stored.
    engine.commit_batch(&person_batch("web", &[(q.clone(), vec![q.clone(), email("a@x.com")], "t2")])).unwrap();
    let id = engine.store().profile_owning(EntityKind::Person, &q).unwrap().expect("a profile");
    assert_eq!(engine.store().profile_owning(EntityKind::Person, &p).unwrap(), Some(id));
    assert!(engine.store().profile_decisions(EntityKind::Person, id).unwrap().is_some());
    let links: Vec<(Identity, Identity, Vec<i64>)> = engine
        .explain_identity(EntityKind::Person, &p)
        .unwrap()
        .links
        .iter()
        .map(|l| (l.from.clone(), l.to.clone(), l.records.iter().map(|r| r.fragment).collect()))
        .collect();
    assert_eq!(
        links,
        vec![
            (p.clone(), email("a@x.com"), vec![1]),
            (p.clone(), email("b@x.com"), vec![1]),
            (q.clone(), email("a@x.com"), vec![2]),
        ]
    );
}
