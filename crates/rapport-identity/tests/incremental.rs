//! `Graphs::insert` (one record at a time) against independent expectations: a hand-worked bridge, a plain
//! breadth-first connected-components oracle written here (no linking rule fires), and, with a unique
//! namespace and a small cap (cuts and evictions), a from-scratch `stitch` of all records after every insert.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rapport_identity::{stitch, Graphs, LinkingRules, NamespaceRule, OwnedRecord, RecordRef, Update};
use rapport_model::Identity;

fn id(ns: &str, value: &str) -> Identity {
    Identity::new(ns, value)
}

fn rec(identities: &[Identity], at: &str) -> OwnedRecord {
    OwnedRecord::new(identities[0].clone(), identities[1..].iter().cloned(), at)
}

/// Each graph as (its records, its identities sorted), in a canonical order.
fn partition(graphs: &Graphs) -> BTreeSet<(Vec<u32>, Vec<Identity>)> {
    graphs
        .slots()
        .map(|slot| (graphs.records_of(slot).to_vec(), graphs.identities_of(slot).into_iter().cloned().collect()))
        .collect()
}

#[test]
fn a_bridge_record_merges_two_graphs_and_touches_only_them() {
    let mut graphs = Graphs::new(LinkingRules::default());
    let (_, first) = graphs
        .insert(rec(&[id("Phone", "555-555-1234"), id("Email", "julien@acme.com"), id("b2b_person", "6001")], "t"));
    assert_eq!(first, Update { replaced: 0, written: 1, records: 1 });
    graphs.insert(rec(&[id("ECID", "100066526")], "t"));
    graphs.insert(rec(&[id("Email", "other@acme.com")], "t"));
    assert_eq!(graphs.len(), 3);
    assert_ne!(graphs.graph_of(&id("ECID", "100066526")), graphs.graph_of(&id("Email", "julien@acme.com")));

    let (number, bridge) = graphs.insert(rec(&[id("b2b_person", "6001"), id("ECID", "100066526")], "t"));
    assert_eq!(number, 3);
    // The two graphs the bridge reaches are replaced by one; the third graph is not touched.
    assert_eq!(bridge, Update { replaced: 2, written: 1, records: 3 });
    assert_eq!(graphs.len(), 2);
    let slot = graphs.graph_of(&id("ECID", "100066526")).unwrap();
    assert_eq!(graphs.graph_of(&id("Email", "julien@acme.com")), Some(slot));
    assert_eq!(graphs.records_of(slot), &[0, 1, 3]);
    assert_eq!(graphs.graph_of_record(3), slot);
    assert_eq!(
        graphs.identities_of(slot),
        vec![
            &id("ECID", "100066526"),
            &id("Email", "julien@acme.com"),
            &id("Phone", "555-555-1234"),
            &id("b2b_person", "6001")
        ]
    );
    assert_eq!(graphs.identity_count(), 5);
    assert_eq!(graphs.graph_of(&id("Email", "nobody@acme.com")), None);
}

/// The oracle: connected components of the records' identities by breadth-first search over an adjacency
/// map, each with the records whose primary identity it holds.
fn components(records: &[Vec<Identity>]) -> BTreeSet<(Vec<u32>, Vec<Identity>)> {
    let mut adjacent: BTreeMap<&Identity, Vec<&Identity>> = BTreeMap::new();
    for record in records {
        adjacent.entry(&record[0]).or_default();
        for other in &record[1..] {
            adjacent.entry(&record[0]).or_default().push(other);
            adjacent.entry(other).or_default().push(&record[0]);
        }
    }
    let mut component_of: BTreeMap<&Identity, usize> = BTreeMap::new();
    let mut members: Vec<Vec<Identity>> = Vec::new();
    for &start in adjacent.keys() {
        if component_of.contains_key(start) {
            continue;
        }
        let number = members.len();
        let mut list = Vec::new();
        let mut queue = VecDeque::from([start]);
        component_of.insert(start, number);
        while let Some(node) = queue.pop_front() {
            list.push(node.clone());
            for &next in &adjacent[node] {
                if !component_of.contains_key(next) {
                    component_of.insert(next, number);
                    queue.push_back(next);
                }
            }
        }
        list.sort();
        members.push(list);
    }
    let mut records_of: Vec<Vec<u32>> = vec![Vec::new(); members.len()];
    for (i, record) in records.iter().enumerate() {
        records_of[component_of[&record[0]]].push(i as u32);
    }
    records_of.into_iter().zip(members).collect()
}

fn random_identity(rng: &mut fastrand::Rng, size: usize) -> Identity {
    match rng.u32(..4) {
        0 => id("Email", &format!("e{}@x.com", rng.usize(..size))),
        1 => id("b2b_person", &format!("k{}@o.Salesforce", rng.usize(..size))),
        2 => id("Phone", &format!("+1555{}", rng.usize(..size / 2 + 1))),
        _ => id("ECID", &format!("{:038}", rng.usize(..size * 2))),
    }
}

#[test]
fn inserts_equal_a_breadth_first_oracle_without_rules() {
    for seed in 0..20 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let size = rng.usize(5..60);
        let mut records: Vec<Vec<Identity>> = Vec::new();
        let initial = rng.usize(0..20);
        for _ in 0..initial {
            records.push((0..rng.usize(1..4)).map(|_| random_identity(&mut rng, size)).collect());
        }
        let owned = |r: &Vec<Identity>| rec(r, "2026-01-01T00:00:00Z");
        // No unique namespace among these, and no cap: plain connected components.
        let mut rules = LinkingRules::default();
        rules.max_per_graph = usize::MAX;
        let mut graphs = Graphs::from_records(records.iter().map(owned).collect(), rules);
        assert_eq!(partition(&graphs), components(&records), "seed {seed}, initial records");
        for step in 0..40 {
            let record: Vec<Identity> = (0..rng.usize(1..5)).map(|_| random_identity(&mut rng, size)).collect();
            records.push(record.clone());
            let (number, _) = graphs.insert(owned(&record));
            assert_eq!(number as usize, records.len() - 1);
            assert_eq!(partition(&graphs), components(&records), "seed {seed}, insert {step}");
        }
    }
}

#[test]
fn inserts_equal_a_rebuild_with_cuts_and_evictions() {
    let mut rules = LinkingRules::default();
    rules.set("CRMID", NamespaceRule { unique: true, priority: 10 });
    rules.max_per_graph = 6;
    let mut fired = (0, 0);
    for seed in 0..30 {
        let mut rng = fastrand::Rng::with_seed(1000 + seed);
        let size = rng.usize(4..25);
        let mut records: Vec<OwnedRecord> = Vec::new();
        let mut graphs = Graphs::new(rules.clone());
        for step in 0..40 {
            let mut identities: Vec<Identity> = (0..rng.usize(1..5)).map(|_| random_identity(&mut rng, size)).collect();
            if rng.u32(..3) == 0 {
                identities.push(id("CRMID", &format!("c{}", rng.usize(..size / 3 + 1))));
            }
            // Times repeat and go back, so the newest-first order and ties by position both matter.
            let at = format!("2026-01-{:02}T00:00:00Z", rng.u32(1..6));
            let record = rec(&identities, &at);
            records.push(record.clone());
            graphs.insert(record);

            let refs: Vec<RecordRef<'_>> = records.iter().map(OwnedRecord::view).collect();
            let scratch = stitch(&refs, &rules);
            let expected: BTreeSet<(Vec<u32>, Vec<Identity>)> =
                scratch.graphs().map(|g| (g.records().to_vec(), g.identities().cloned().collect())).collect();
            assert_eq!(partition(&graphs), expected, "seed {seed}, insert {step}");
            for g in scratch.graphs() {
                for d in g.decisions() {
                    match d.outcome.rule() {
                        "unique_namespace" => fired.0 += 1,
                        "graph_cap" => fired.1 += 1,
                        _ => {}
                    }
                }
            }
        }
        // The bulk constructor gives the same graphs.
        assert_eq!(partition(&Graphs::from_records(records, rules.clone())), partition(&graphs), "seed {seed}");
    }
    assert!(fired.0 > 0 && fired.1 > 0, "cuts and evictions must both occur: {fired:?}");
}
