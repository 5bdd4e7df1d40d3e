//! Incremental stitching checked against an independent oracle: random batches of person fragments (keys repeat
//! across batches, so fragments are replaced, graphs split and unrelated profiles merge) are committed one by
//! one, and after every batch the stored profiles must be exactly the graphs the linking rules give for the
//! current fragments, computed here by a deliberately plain implementation of the rules of `docs/identity.md`
//! (sets of identities merged one link at a time, then a breadth-first search; it does not call
//! rapport-identity). The fragments carry a unique namespace (`CRMID`, so links are cut) and cookies (so graphs
//! pass the cap of 50 and evict). At the end, a rebuild from scratch must give the same graphs and the same
//! merged records. With deletions on, random record, identity and batch deletions run between batches, applied
//! to the oracle by their documented rules (`docs/profiles.md`) and checked the same way: after a deletion the
//! profiles are the graphs the linking rules give for the remaining fragments.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use rapport_engine::{Engine, Quiet};
use rapport_model::{EntityKind, Identity};
use rapport_schema::{IdentityType, Namespace, Normalization};
use rapport_store::{NewBatch, NewFragment};

/// The identities fragments draw from.
struct Universe {
    keys: usize,
    /// Whether a batch may carry the same key twice (the later row replaces the earlier one).
    repeats_in_batch: bool,
    emails: usize,
    phones: usize,
    /// Values of the unique namespace `CRMID`.
    crms: usize,
    /// Cookies (`ECID`).
    cookies: usize,
    datasets: usize,
}

fn key(i: usize) -> Identity {
    Identity::new("b2b_person", format!("k{i}@org1.salesforce"))
}

fn email(i: usize) -> Identity {
    Identity::new("Email", format!("e{i}@x.com"))
}

fn phone(i: usize) -> Identity {
    Identity::new("Phone", format!("+1555000{i:04}"))
}

fn crm(i: usize) -> Identity {
    Identity::new("CRMID", format!("c{i}"))
}

fn cookie(i: usize) -> Identity {
    Identity::new("ECID", format!("{i:038}"))
}

/// The oracle's rules, written out: `CRMID` is unique; link order within a record by priority; eviction by
/// class (cookies before everything else here) then age.
fn priority(identity: &Identity) -> u32 {
    match identity.namespace.as_str() {
        "b2b_person" | "CRMID" => 10,
        "Email" => 20,
        "Phone" => 30,
        "ECID" => 50,
        other => panic!("no priority for {other}"),
    }
}

fn unique(identity: &Identity) -> bool {
    identity.namespace.as_str() == "CRMID"
}

fn eviction_class(identity: &Identity) -> u32 {
    u32::from(identity.namespace.as_str() != "ECID")
}

const CAP: usize = 50;
const PER_RECORD: usize = 20;

fn dataset(i: usize) -> String {
    format!("persons_{i}")
}

/// An RFC 3339 timestamp `tick` seconds after 2024-01-01 (ticks stay below one year).
fn at(tick: u64) -> String {
    let (days, rest) = (tick / 86_400, tick % 86_400);
    let (month, day) = (1 + days / 28, 1 + days % 28);
    format!("2024-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// A timestamp in 2023: older than every [`at`] value.
fn stale(rng: &mut fastrand::Rng) -> String {
    format!("2023-{:02}-{:02}T00:00:00.000Z", rng.u32(1..=12), rng.u32(1..=28))
}

/// The oracle's view of one stored fragment.
#[derive(Debug, Clone)]
struct ModelFragment {
    /// Insert order; a replacement keeps the order of the fragment it replaces.
    order: u64,
    updated_at: String,
    identities: Vec<Identity>,
    /// The batch that wrote the stored version ([`PENDING`] until its batch commits).
    batch: i64,
}

/// The batch id of fragments whose batch has not committed yet.
const PENDING: i64 = -1;

/// The oracle: the current fragment per (dataset, primary identity), kept by the replace-unless-older rule.
#[derive(Default)]
struct Model {
    fragments: BTreeMap<(String, Identity), ModelFragment>,
    next_order: u64,
    /// What the random batches exercised, so that the tests can show that they did.
    stats: Stats,
}

/// Counts of the cases the random batches produced.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    /// Fragments replaced by a row with other identities.
    changed: u64,
    /// Out-of-date rows ignored.
    stale: u64,
    /// Graphs split between two checks.
    splits: u64,
    /// Graphs merged between two checks.
    merges: u64,
    /// Links cut by the unique namespace (summed over the checks).
    cuts: u64,
    /// Identities evicted by the cap (summed over the checks).
    evictions: u64,
    /// Deletions run (records, identities, batches).
    deletions: u64,
}

impl Model {
    fn apply(&mut self, dataset: &str, fragment: &NewFragment) {
        match self.fragments.get_mut(&(dataset.to_owned(), fragment.primary.clone())) {
            Some(stored) => {
                if stored.updated_at.as_str() > fragment.updated_at.as_str() {
                    self.stats.stale += 1;
                } else {
                    if stored.identities != fragment.identities {
                        self.stats.changed += 1;
                    }
                    stored.updated_at = fragment.updated_at.clone();
                    stored.identities = fragment.identities.clone();
                    stored.batch = PENDING;
                }
            }
            None => {
                self.fragments.insert(
                    (dataset.to_owned(), fragment.primary.clone()),
                    ModelFragment {
                        order: self.next_order,
                        updated_at: fragment.updated_at.clone(),
                        identities: fragment.identities.clone(),
                        batch: PENDING,
                    },
                );
                self.next_order += 1;
            }
        }
    }

    /// Gives the fragments written by the batch just committed its id.
    fn committed(&mut self, batch: i64) {
        for fragment in self.fragments.values_mut().filter(|f| f.batch == PENDING) {
            fragment.batch = batch;
        }
    }

    /// Deleting an identity: it leaves every fragment carrying it; a fragment it is the primary identity of
    /// goes whole.
    fn delete_identity(&mut self, identity: &Identity) {
        self.fragments.retain(|(_, primary), _| primary != identity);
        for fragment in self.fragments.values_mut() {
            fragment.identities.retain(|i| i != identity);
        }
    }

    /// Deleting a batch: the fragments whose stored version it wrote go.
    fn delete_batch(&mut self, batch: i64) {
        self.fragments.retain(|_, f| f.batch != batch);
    }

    /// The graphs under the linking rules, each as (primary identity of its earliest fragment, sorted
    /// identities). Plain on purpose: components are sets merged one link at a time.
    fn components(&mut self) -> BTreeSet<(Identity, Vec<Identity>)> {
        // Newest record first: by time, then by insert order.
        let mut records: Vec<(&Identity, &ModelFragment)> = self.fragments.iter().map(|((_, p), f)| (p, f)).collect();
        records.sort_by(|a, b| (&b.1.updated_at, b.1.order).cmp(&(&a.1.updated_at, a.1.order)));
        let mut component: BTreeMap<Identity, usize> = BTreeMap::new();
        let mut members: Vec<BTreeSet<Identity>> = Vec::new();
        let mut linked: Vec<(Identity, Identity)> = Vec::new();
        let mut last_seen: BTreeMap<Identity, String> = BTreeMap::new();
        let mut cuts = 0;
        for (primary, fragment) in &records {
            let mut others: Vec<Identity> = Vec::new();
            for identity in &fragment.identities {
                if identity != *primary && !others.contains(identity) && others.len() + 1 < PER_RECORD {
                    others.push(identity.clone());
                }
            }
            for identity in std::iter::once(*primary).chain(others.iter()) {
                if !component.contains_key(identity) {
                    component.insert(identity.clone(), members.len());
                    members.push(BTreeSet::from([identity.clone()]));
                }
                let seen = last_seen.entry(identity.clone()).or_default();
                if *seen < fragment.updated_at {
                    *seen = fragment.updated_at.clone();
                }
            }
            others.sort_by_key(|i| (priority(i), i.clone()));
            for other in others {
                let (a, b) = (component[*primary], component[&other]);
                if a == b {
                    // Already in one graph: the record still links them (which counts once evictions remove
                    // other links).
                    linked.push(((*primary).clone(), other));
                    continue;
                }
                let conflict = members[a]
                    .iter()
                    .filter(|i| unique(i))
                    .any(|i| members[b].iter().any(|j| j.namespace == i.namespace && j != i));
                if conflict {
                    cuts += 1;
                    continue;
                }
                let moved = std::mem::take(&mut members[b]);
                for identity in &moved {
                    component.insert(identity.clone(), a);
                }
                members[a].extend(moved);
                linked.push(((*primary).clone(), other));
            }
        }
        // The cap: evict the surplus of each full graph (class, then last seen, then identity).
        let mut evicted: BTreeSet<Identity> = BTreeSet::new();
        for set in &members {
            if set.len() > CAP {
                let mut order: Vec<&Identity> = set.iter().collect();
                order.sort_by_key(|i| (eviction_class(i), last_seen[*i].clone(), (*i).clone()));
                evicted.extend(order[..set.len() - CAP].iter().map(|i| (*i).clone()));
            }
        }
        self.stats.cuts += cuts;
        self.stats.evictions += evicted.len() as u64;
        // Final graphs: breadth-first search over the links that do not touch an evicted identity.
        let mut adjacent: BTreeMap<&Identity, Vec<&Identity>> = component.keys().map(|i| (i, Vec::new())).collect();
        for (a, b) in &linked {
            if !evicted.contains(a) && !evicted.contains(b) {
                adjacent.get_mut(a).unwrap().push(b);
                adjacent.get_mut(b).unwrap().push(a);
            }
        }
        let mut graph_of: BTreeMap<&Identity, usize> = BTreeMap::new();
        let mut graphs: Vec<Vec<Identity>> = Vec::new();
        for &start in adjacent.keys() {
            if graph_of.contains_key(start) {
                continue;
            }
            let number = graphs.len();
            let mut found = Vec::new();
            let mut queue = VecDeque::from([start]);
            graph_of.insert(start, number);
            while let Some(node) = queue.pop_front() {
                found.push(node.clone());
                for &next in &adjacent[node] {
                    if !graph_of.contains_key(next) {
                        graph_of.insert(next, number);
                        queue.push_back(next);
                    }
                }
            }
            found.sort();
            graphs.push(found);
        }
        // A graph is a profile when it holds a record's primary identity; its earliest fragment names it.
        let mut earliest: Vec<Option<(u64, &Identity)>> = vec![None; graphs.len()];
        for ((_, primary), fragment) in &self.fragments {
            let slot = &mut earliest[graph_of[primary]];
            if slot.is_none_or(|(order, _)| fragment.order < order) {
                *slot = Some((fragment.order, primary));
            }
        }
        graphs
            .into_iter()
            .zip(earliest)
            .filter_map(|(identities, earliest)| earliest.map(|(_, primary)| (primary.clone(), identities)))
            .collect()
    }
}

/// Every person profile as (primary, sorted identities).
fn graphs(engine: &Engine) -> BTreeSet<(Identity, Vec<Identity>)> {
    let mut out = BTreeSet::new();
    engine
        .store()
        .for_each_profile(EntityKind::Person, |_, primary, mut identities, _| -> rapport_store::Result<()> {
            identities.sort();
            assert!(out.insert((primary, identities)), "two identical profiles");
            Ok(())
        })
        .unwrap();
    out
}

/// Every person profile as (primary, sorted identities, record JSON).
fn profiles(engine: &Engine) -> BTreeSet<(Identity, Vec<Identity>, String)> {
    let mut out = BTreeSet::new();
    engine
        .store()
        .for_each_profile(EntityKind::Person, |_, primary, mut identities, record| -> rapport_store::Result<()> {
            identities.sort();
            let record: serde_json::Value = serde_json::from_str(record).unwrap();
            out.insert((primary, identities, record.to_string()));
            Ok(())
        })
        .unwrap();
    out
}

/// One random fragment of `dataset`: a key as primary identity and 0–3 other identities (mostly 0 or 1).
fn random_fragment(
    rng: &mut fastrand::Rng,
    universe: &Universe,
    model: &Model,
    dataset: &str,
    tick: &mut u64,
) -> NewFragment {
    let k = rng.usize(0..universe.keys);
    let primary = key(k);
    let others = match rng.u32(0..100) {
        0..35 => 0,
        35..75 => 1,
        75..90 => 2,
        _ => 3,
    };
    let mut identities = vec![primary.clone()];
    let mut first_email = None;
    for _ in 0..others {
        let identity = match rng.u32(0..100) {
            0..70 => {
                let e = rng.usize(0..universe.emails);
                first_email.get_or_insert(e);
                email(e)
            }
            70..75 => phone(rng.usize(0..universe.phones)),
            75..82 if universe.crms > 0 => crm(rng.usize(0..universe.crms)),
            82..92 if universe.cookies > 0 => cookie(rng.usize(0..universe.cookies)),
            _ => key(rng.usize(0..universe.keys)),
        };
        if !identities.contains(&identity) {
            identities.push(identity);
        }
    }
    // Now and then an out-of-date row of a key the dataset already holds: it must change nothing.
    let known = model.fragments.contains_key(&(dataset.to_owned(), primary.clone()));
    let updated_at = if known && rng.u32(0..100) < 10 {
        stale(rng)
    } else {
        *tick += 1;
        at(*tick)
    };
    let mut record = serde_json::json!({
        "b2b": {"personKey": {"sourceKey": primary.value}},
        "person": {"name": {"lastName": format!("n{}", rng.u32(0..1000))}},
    });
    if let Some(e) = first_email {
        record["workEmail"] = serde_json::json!({"address": email(e).value});
    }
    NewFragment { primary, identities, updated_at, record: record.as_object().unwrap().clone() }
}

/// Graphs as `primary [identities]`, one a line.
fn show<'a>(graphs: impl Iterator<Item = &'a (Identity, Vec<Identity>)>) -> String {
    let mut out = String::new();
    for (primary, identities) in graphs {
        let ids: Vec<String> = identities.iter().map(ToString::to_string).collect();
        write!(out, "\n  {primary} [{}]", ids.join(", ")).unwrap();
    }
    out
}

fn describe(out: &mut String, number: usize, batch: &NewBatch) {
    writeln!(out, "batch {number} ({}):", batch.dataset).unwrap();
    for f in &batch.fragments {
        let ids: Vec<String> = f.identities.iter().map(ToString::to_string).collect();
        writeln!(out, "  {} @ {} -> [{}]", f.primary, f.updated_at, ids.join(", ")).unwrap();
    }
}

/// Runs one seed: `batches` batches of `fragments` fragments each (inclusive ranges), checking against the
/// oracle after every batch when `every_batch`, else at the end only; then checks the rebuild.
fn run(seed: u64, universe: &Universe, batches: (usize, usize), fragments: (usize, usize), every_batch: bool) -> Stats {
    run_with(seed, universe, batches, fragments, every_batch, false)
}

/// One random deletion (a record, an identity or a batch) applied to the engine and the oracle; its
/// description.
fn delete_something(rng: &mut fastrand::Rng, engine: &mut Engine, model: &mut Model, batches: &mut Vec<i64>) -> String {
    match rng.u32(0..3) {
        0 if !model.fragments.is_empty() => {
            let (dataset, primary) = model.fragments.keys().nth(rng.usize(0..model.fragments.len())).unwrap().clone();
            engine.delete_record(&dataset, &primary).unwrap();
            model.fragments.remove(&(dataset.clone(), primary.clone()));
            format!("delete record {dataset} {primary}")
        }
        1 if !model.fragments.is_empty() => {
            let all: BTreeSet<&Identity> = model.fragments.values().flat_map(|f| f.identities.iter()).collect();
            let identity = (*all.iter().nth(rng.usize(0..all.len())).unwrap()).clone();
            engine.delete_identity(EntityKind::Person, &identity).unwrap();
            model.delete_identity(&identity);
            format!("delete identity {identity}")
        }
        _ if !batches.is_empty() => {
            let batch = batches.swap_remove(rng.usize(0..batches.len()));
            engine.delete_batch(batch).unwrap();
            model.delete_batch(batch);
            format!("delete batch {batch}")
        }
        _ => "nothing to delete".to_owned(),
    }
}

/// [`run`], with random deletions between batches when `deletions`.
fn run_with(
    seed: u64,
    universe: &Universe,
    batches: (usize, usize),
    fragments: (usize, usize),
    every_batch: bool,
    deletions: bool,
) -> Stats {
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(&dir.path().join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    engine
        .create_namespace(
            &Namespace::custom("CRMID", "CRM id", IdentityType::CrossDevice, Normalization::Trim).unwrap(),
        )
        .unwrap();
    let mut model = Model::default();
    let mut tick = 0;
    let mut log = String::new();
    let mut previous = BTreeSet::new();
    let mut committed: Vec<i64> = Vec::new();
    let count = rng.usize(batches.0..=batches.1);
    for number in 0..count {
        let name = dataset(rng.usize(0..universe.datasets));
        let size = rng.usize(fragments.0..=fragments.1);
        let mut batch = NewBatch {
            dataset: name.clone(),
            entity: EntityKind::Person,
            source: "test:random".to_owned(),
            files: Vec::new(),
            rows_read: size as u64,
            fragments: Vec::with_capacity(size),
            rejected: Vec::new(),
            batch_id: None,
            checkpoint: None,
        };
        let mut keys_in_batch = BTreeSet::new();
        for _ in 0..size {
            // The model is updated fragment by fragment, so a key repeated within the batch is seen as stored.
            let fragment = random_fragment(&mut rng, universe, &model, &name, &mut tick);
            if !keys_in_batch.insert(fragment.primary.clone()) && !universe.repeats_in_batch {
                continue;
            }
            model.apply(&name, &fragment);
            batch.fragments.push(fragment);
        }
        if every_batch {
            describe(&mut log, number, &batch);
        }
        let rows = batch.fragments.len() as u64;
        batch.rows_read = rows;
        let (summary, _) = engine.commit_batch(&batch).unwrap();
        assert_eq!(summary.rows_ingested, rows, "seed {seed}, batch {number}");
        model.committed(summary.id);
        committed.push(summary.id);
        let deleted = deletions && rng.u32(0..100) < 50;
        if deleted {
            let what = delete_something(&mut rng, &mut engine, &mut model, &mut committed);
            writeln!(log, "then {what}").unwrap();
            model.stats.deletions += 1;
        }
        if every_batch || deleted || number + 1 == count {
            let expected = model.components();
            let got = graphs(&engine);
            if got != expected {
                panic!(
                    "seed {seed}, after batch {number} (and its deletion, if any):\nonly in Rapport: {}\nonly in the oracle: {}\nbatches so far:\n{log}",
                    show(got.difference(&expected)),
                    show(expected.difference(&got)),
                );
            }
            check_lookups(&engine, universe, &expected, seed, number);
            let (splits, merges) = (changes(&previous, &expected), changes(&expected, &previous));
            model.stats.splits += splits;
            model.stats.merges += merges;
            previous = expected;
        }
    }
    let incremental = profiles(&engine);
    engine.unify(&Quiet).unwrap();
    assert_eq!(profiles(&engine), incremental, "seed {seed}: the rebuild differs; batches:\n{log}");
    model.stats
}

/// How many graphs of `before` have identities in two or more graphs of `after` (splits; merges when the
/// arguments are swapped).
fn changes(before: &BTreeSet<(Identity, Vec<Identity>)>, after: &BTreeSet<(Identity, Vec<Identity>)>) -> u64 {
    let mut graph_of: BTreeMap<&Identity, usize> = BTreeMap::new();
    for (number, (_, identities)) in after.iter().enumerate() {
        for identity in identities {
            graph_of.insert(identity, number);
        }
    }
    let parts =
        |identities: &Vec<Identity>| identities.iter().filter_map(|i| graph_of.get(i)).collect::<BTreeSet<_>>().len();
    before.iter().filter(|(_, identities)| parts(identities) > 1).count() as u64
}

/// Every identity of the universe is found in the profile of its component, or in none when no fragment has it.
fn check_lookups(
    engine: &Engine,
    universe: &Universe,
    expected: &BTreeSet<(Identity, Vec<Identity>)>,
    seed: u64,
    number: usize,
) {
    let mut owner: BTreeMap<&Identity, &(Identity, Vec<Identity>)> = BTreeMap::new();
    for graph in expected {
        for identity in &graph.1 {
            owner.insert(identity, graph);
        }
    }
    let all = (0..universe.keys)
        .map(key)
        .chain((0..universe.emails).map(email))
        .chain((0..universe.phones).map(phone))
        .chain((0..universe.crms).map(crm))
        .chain((0..universe.cookies).map(cookie));
    for identity in all {
        let found = engine.store().profile_by_identity(EntityKind::Person, &identity).unwrap();
        match (found, owner.get(&identity)) {
            (None, None) => {}
            (Some(profile), Some((primary, identities))) => {
                let mut got = profile.identities.clone();
                got.sort();
                assert_eq!((&profile.primary, &got), (primary, identities), "seed {seed}, batch {number}: {identity}");
            }
            (found, owner) => {
                panic!("seed {seed}, batch {number}: {identity} found {found:?}, expected in {owner:?}")
            }
        }
    }
}

const SEEDS: std::ops::RangeInclusive<u64> = 1..=30;

#[test]
fn incremental_stitching_equals_the_linking_rules_oracle_and_a_rebuild() {
    let universe =
        Universe { keys: 25, repeats_in_batch: true, emails: 15, phones: 3, crms: 6, cookies: 30, datasets: 3 };
    for seed in SEEDS {
        run(seed, &universe, (2, 8), (1, 40), true);
    }
}

/// The same without a key twice in one batch, so that the replacements, splits and merges across batches are
/// checked even while the in-batch case (see the test below) fails.
#[test]
fn incremental_stitching_across_batches_equals_the_oracle_and_a_rebuild() {
    let universe =
        Universe { keys: 25, repeats_in_batch: false, emails: 15, phones: 3, crms: 6, cookies: 30, datasets: 3 };
    let mut total = Stats::default();
    for seed in SEEDS {
        let stats = run(seed, &universe, (2, 8), (1, 40), true);
        total.changed += stats.changed;
        total.stale += stats.stale;
        total.splits += stats.splits;
        total.merges += stats.merges;
        total.cuts += stats.cuts;
        total.evictions += stats.evictions;
    }
    // The seeds did exercise replacements, ignored old rows, splits, merges and cut links.
    println!("{total:?}");
    assert!(total.changed > 0 && total.stale > 0 && total.splits > 0 && total.merges > 0, "{total:?}");
    assert!(total.cuts > 0, "{total:?}");
}

/// Graphs around the cap: many keys and cookies, few CRM ids, so that graphs pass 50 identities, evict, and
/// change as later batches add, cut and drop links; checked after every batch.
#[test]
fn incremental_stitching_around_the_cap_equals_the_oracle_and_a_rebuild() {
    let universe =
        Universe { keys: 60, repeats_in_batch: false, emails: 20, phones: 3, crms: 3, cookies: 60, datasets: 2 };
    let mut total = Stats::default();
    for seed in 1..=10 {
        let stats = run(seed, &universe, (4, 10), (20, 60), true);
        total.cuts += stats.cuts;
        total.evictions += stats.evictions;
        total.splits += stats.splits;
    }
    println!("{total:?}");
    assert!(total.evictions > 0 && total.cuts > 0 && total.splits > 0, "{total:?}");
}

/// Random record, identity and batch deletions between the batches, with CRM ids (links cut) and cookies: after
/// each, the profiles are the graphs the rules give for the remaining fragments (a deletion can undo a cut: a
/// profile that mentioned an identity of the deleted data must be re-stitched too), and at the end a rebuild
/// gives the same profiles.
#[test]
fn random_deletions_split_graphs_as_the_oracle_does_and_equal_a_rebuild() {
    let universe =
        Universe { keys: 25, repeats_in_batch: true, emails: 15, phones: 3, crms: 4, cookies: 20, datasets: 3 };
    let mut total = Stats::default();
    for seed in SEEDS {
        let stats = run_with(seed, &universe, (3, 10), (1, 30), true, true);
        total.deletions += stats.deletions;
        total.splits += stats.splits;
        total.cuts += stats.cuts;
    }
    println!("{total:?}");
    assert!(total.deletions > 30 && total.splits > 0 && total.cuts > 0, "{total:?}");
}

/// Deletions in graphs around the cap: removing identities and records changes which identities are evicted.
#[test]
fn random_deletions_around_the_cap_equal_the_oracle_and_a_rebuild() {
    let universe =
        Universe { keys: 60, repeats_in_batch: false, emails: 20, phones: 3, crms: 3, cookies: 60, datasets: 2 };
    let mut total = Stats::default();
    for seed in 1..=10 {
        let stats = run_with(seed, &universe, (4, 10), (20, 60), true, true);
        total.deletions += stats.deletions;
        total.evictions += stats.evictions;
    }
    println!("{total:?}");
    assert!(total.deletions > 10 && total.evictions > 0, "{total:?}");
}

#[test]
fn a_long_random_run_equals_the_oracle_and_a_rebuild() {
    let universe =
        Universe { keys: 700, repeats_in_batch: false, emails: 400, phones: 40, crms: 60, cookies: 300, datasets: 3 };
    let stats = run(2024, &universe, (20, 20), (100, 100), false);
    println!("{stats:?}");
    assert!(stats.changed > 0 && stats.stale > 0 && stats.cuts > 0 && stats.evictions > 0, "{stats:?}");
}

/// The smallest case the random test found: one batch carries a key twice, the second row (newer) adds an
/// email. The stored fragment is the second row, so the profile must hold the email, as a rebuild's does.
#[test]
fn a_key_twice_in_one_batch_stitches_the_later_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(&dir.path().join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    let row = |updated_at: &str, identities: Vec<Identity>| NewFragment {
        primary: key(1),
        identities,
        updated_at: updated_at.to_owned(),
        record: serde_json::json!({"b2b": {"personKey": {"sourceKey": key(1).value}}}).as_object().unwrap().clone(),
    };
    let batch = NewBatch {
        dataset: dataset(0),
        entity: EntityKind::Person,
        source: "test:random".to_owned(),
        files: Vec::new(),
        rows_read: 2,
        fragments: vec![
            row("2024-01-01T00:00:01.000Z", vec![key(1)]),
            row("2024-01-01T00:00:02.000Z", vec![key(1), email(1)]),
        ],
        rejected: Vec::new(),
        batch_id: None,
        checkpoint: None,
    };
    engine.commit_batch(&batch).unwrap();
    let expected = BTreeSet::from([(key(1), vec![email(1), key(1)])]);
    let incremental = graphs(&engine);
    engine.unify(&Quiet).unwrap();
    assert_eq!(graphs(&engine), expected, "the rebuild");
    assert_eq!(incremental, expected, "incremental stitching");
}
