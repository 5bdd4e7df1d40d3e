//! The linking rules on hand-worked graphs: every expected graph and decision below is written by hand from
//! the rules in `docs/identity.md`, not computed.

#![allow(clippy::unwrap_used)]

use rapport_identity::{stitch, LinkingRules, NamespaceRule, Outcome, RecordRef, Stitching};
use rapport_model::Identity;
use rapport_schema::{IdentityType, Namespace, Normalization};

fn id(ns: &str, value: &str) -> Identity {
    Identity::new(ns, value)
}

/// The standard namespaces, plus `CRMID` (a custom cross-device namespace: unique by default) and `IDFA` (a
/// custom device namespace).
fn rules() -> LinkingRules {
    let mut namespaces = rapport_schema::namespace::standard();
    namespaces.push(Namespace::custom("CRMID", "CRM id", IdentityType::CrossDevice, Normalization::Trim).unwrap());
    namespaces.push(Namespace::custom("IDFA", "Apple IDFA", IdentityType::Device, Normalization::Trim).unwrap());
    LinkingRules::new(&namespaces, &[])
}

/// A record: primary identity first, then the others, and its modification time.
struct Rec {
    identities: Vec<Identity>,
    at: String,
}

fn rec(at: &str, identities: &[Identity]) -> Rec {
    Rec { identities: identities.to_vec(), at: at.to_owned() }
}

fn run<'a>(records: &'a [Rec], rules: &LinkingRules) -> Stitching<'a> {
    let refs: Vec<RecordRef<'a>> = records
        .iter()
        .map(|r| RecordRef { primary: &r.identities[0], identities: &r.identities, updated_at: &r.at })
        .collect();
    stitch(&refs, rules)
}

/// Each graph as (its records, its identities sorted).
fn graphs(stitching: &Stitching<'_>) -> Vec<(Vec<u32>, Vec<Identity>)> {
    stitching.graphs().map(|g| (g.records().to_vec(), g.identities().cloned().collect())).collect()
}

fn sorted(mut identities: Vec<Identity>) -> Vec<Identity> {
    identities.sort();
    identities
}

#[test]
fn records_sharing_an_email_join_one_graph() {
    let records = [
        rec("t", &[id("b2b_person", "1@o.Salesforce"), id("Email", "jane@acme.com")]),
        rec("t", &[id("b2b_person", "2@o.Salesforce"), id("Email", "john@acme.com")]),
        rec("t", &[id("b2b_person", "9@m.Marketo"), id("Email", "jane@acme.com")]),
        rec("t", &[id("b2b_person", "3@o.Salesforce")]),
    ];
    let result = run(&records, &rules());
    assert_eq!(
        graphs(&result),
        vec![
            (
                vec![0, 2],
                vec![id("Email", "jane@acme.com"), id("b2b_person", "1@o.Salesforce"), id("b2b_person", "9@m.Marketo")]
            ),
            (vec![1], vec![id("Email", "john@acme.com"), id("b2b_person", "2@o.Salesforce")]),
            (vec![3], vec![id("b2b_person", "3@o.Salesforce")]),
        ]
    );
    assert_eq!(result.graph_of(2), 0);
    let decisions = result.graph(0).decisions();
    assert_eq!(decisions.len(), 2);
    assert!(decisions.iter().all(|d| d.outcome == Outcome::Linked));
    assert_eq!(
        (decisions[1].record, decisions[1].from, decisions[1].to),
        (2, &records[2].identities[0], &records[2].identities[1])
    );
}

#[test]
fn long_chains_collapse_into_one_component_without_a_cap_or_unique_namespace() {
    let mut rules = rules();
    rules.max_per_graph = usize::MAX;
    let records: Vec<Rec> =
        (0..1000).map(|i| rec("t", &[id("k", &i.to_string()), id("k", &(i + 1).to_string())])).collect();
    let result = run(&records, &rules);
    assert_eq!(result.len(), 1);
    assert_eq!(result.identity_count(), 1001);
}

/// B2B-DOMAIN b.5, shared device: Jane logs in at t1, John at t2 on the same browser. The ECID stays with the
/// last authenticated user; Jane's older link to it is cut.
#[test]
fn a_shared_device_goes_to_the_last_authenticated_user() {
    let records = [
        rec("2024-01-01T00:00:00Z", &[id("CRMID", "jane"), id("ECID", "x")]),
        rec("2024-01-02T00:00:00Z", &[id("CRMID", "john"), id("ECID", "x")]),
    ];
    let result = run(&records, &rules());
    assert_eq!(
        graphs(&result),
        vec![(vec![0], vec![id("CRMID", "jane")]), (vec![1], vec![id("CRMID", "john"), id("ECID", "x")])]
    );
    let jane = result.graph(0);
    assert_eq!(jane.decisions()[0].outcome, Outcome::Cut { kept: &id("CRMID", "jane"), refused: &id("CRMID", "john") });
    assert_eq!(jane.decisions()[0].outcome.rule(), "unique_namespace");
    assert_eq!(jane.mentions(), vec![&id("ECID", "x")]);
    assert_eq!(result.graph(1).decisions()[0].outcome, Outcome::Linked);
    assert!(result.graph(1).mentions().is_empty());

    // Input order does not matter: only the times do.
    let swapped = [
        rec("2024-01-02T00:00:00Z", &[id("CRMID", "john"), id("ECID", "x")]),
        rec("2024-01-01T00:00:00Z", &[id("CRMID", "jane"), id("ECID", "x")]),
    ];
    let result = run(&swapped, &rules());
    assert_eq!(
        graphs(&result),
        vec![(vec![0], vec![id("CRMID", "john"), id("ECID", "x")]), (vec![1], vec![id("CRMID", "jane")])]
    );
    // Equal times: the later record (input position) counts as the newer one.
    let tied = [rec("t", &[id("CRMID", "jane"), id("ECID", "x")]), rec("t", &[id("CRMID", "john"), id("ECID", "x")])];
    assert_eq!(graphs(&run(&tied, &rules()))[1].1, vec![id("CRMID", "john"), id("ECID", "x")]);
}

/// B2B-DOMAIN b.5, bad shared value: two people typed `test@test.com`. The older CRM id ↔ email link is cut,
/// so the junk value does not merge them; the older person keeps their other links.
#[test]
fn a_bad_shared_email_cuts_the_older_crm_link() {
    let records = [
        rec("2024-01-01T00:00:00Z", &[id("CRMID", "a"), id("Email", "test@test.com"), id("Phone", "+15550001")]),
        rec("2024-01-03T00:00:00Z", &[id("CRMID", "b"), id("Email", "test@test.com")]),
        rec("2023-06-01T00:00:00Z", &[id("b2b_person", "7@m.Marketo"), id("CRMID", "a")]),
    ];
    let result = run(&records, &rules());
    assert_eq!(
        graphs(&result),
        vec![
            (vec![0, 2], vec![id("CRMID", "a"), id("Phone", "+15550001"), id("b2b_person", "7@m.Marketo")]),
            (vec![1], vec![id("CRMID", "b"), id("Email", "test@test.com")]),
        ]
    );
    let outcomes: Vec<(usize, &Identity, &'static str)> =
        result.graph(0).decisions().iter().map(|d| (d.record, d.to, d.outcome.rule())).collect();
    assert_eq!(
        outcomes,
        vec![
            (0, &id("Email", "test@test.com"), "unique_namespace"),
            (0, &id("Phone", "+15550001"), "record"),
            (2, &id("CRMID", "a"), "record"),
        ]
    );
}

/// Within one record, links are made by namespace priority (then identity): a record carrying two CRM ids
/// links the first and cuts the second.
#[test]
fn two_values_of_a_unique_namespace_in_one_record_keep_the_first_by_priority_then_value() {
    let records = [rec("t", &[id("b2b_person", "k"), id("Email", "e"), id("CRMID", "b"), id("CRMID", "a")])];
    let result = run(&records, &rules());
    assert_eq!(graphs(&result), vec![(vec![0], vec![id("CRMID", "a"), id("Email", "e"), id("b2b_person", "k")])]);
    let cut: Vec<_> = result.graph(0).decisions().into_iter().filter(|d| d.outcome != Outcome::Linked).collect();
    assert_eq!(cut.len(), 1);
    assert_eq!(
        (cut[0].to, cut[0].outcome),
        (&id("CRMID", "b"), Outcome::Cut { kept: &id("CRMID", "a"), refused: &id("CRMID", "b") })
    );
}

/// The cap: a graph of 56 identities (one person with an email, a phone and an old IDFA, plus 52 browsers
/// seen on days 1–52) keeps 50. Cookies go before devices whatever their age, and the oldest cookies first:
/// c01–c06. Each evicted cookie's record loses its link and keeps a graph of its own.
#[test]
fn a_full_graph_evicts_cookies_first_then_the_oldest() {
    let day = |d: u32| format!("day {d:02}");
    let mut records =
        vec![rec(&day(0), &[id("b2b_person", "p"), id("Email", "e"), id("Phone", "+15550001"), id("IDFA", "d")])];
    for d in 1..=52 {
        records.push(rec(&day(d), &[id("ECID", &format!("c{d:02}")), id("Email", "e")]));
    }
    let result = run(&records, &rules());
    let mut expected_person = vec![id("b2b_person", "p"), id("Email", "e"), id("Phone", "+15550001"), id("IDFA", "d")];
    expected_person.extend((7..=52).map(|d| id("ECID", &format!("c{d:02}"))));
    let mut expected = vec![(std::iter::once(0).chain(7..=52).collect::<Vec<u32>>(), sorted(expected_person))];
    for d in 1..=6u32 {
        expected.push((vec![d], vec![id("ECID", &format!("c{d:02}"))]));
    }
    // Graphs are numbered by first record: the person's graph (record 0) first, then records 1–6.
    assert_eq!(graphs(&result), expected);
    assert_eq!(expected[0].1.len(), 50);
    let evicted = result.graph(1).decisions();
    assert_eq!(evicted.len(), 1);
    assert_eq!((evicted[0].to, evicted[0].outcome), (&id("Email", "e"), Outcome::Evicted { node: &id("ECID", "c01") }));
    assert_eq!(evicted[0].outcome.rule(), "graph_cap");
    assert_eq!(result.graph(1).mentions(), vec![&id("Email", "e")]);
}

/// An evicted identity that no record holds as its primary is in no graph, and an eviction that removes a
/// bridge splits what it held together.
#[test]
fn an_eviction_removes_the_links_of_the_evicted_node_and_can_split_a_graph() {
    let mut rules = rules();
    rules.max_per_graph = 4;
    // Two people joined only through the cookie c (oldest class): {p, e1} - c - {q, e2}; five identities.
    let records = [
        rec("2", &[id("b2b_person", "p"), id("Email", "e1"), id("ECID", "c")]),
        rec("3", &[id("b2b_person", "q"), id("Email", "e2"), id("ECID", "c")]),
    ];
    let result = run(&records, &rules);
    assert_eq!(
        graphs(&result),
        vec![
            (vec![0], vec![id("Email", "e1"), id("b2b_person", "p")]),
            (vec![1], vec![id("Email", "e2"), id("b2b_person", "q")]),
        ]
    );
    assert_eq!(result.identity_count(), 4, "the cookie is in no graph");
    let rules_of =
        |g: usize| -> Vec<&'static str> { result.graph(g).decisions().iter().map(|d| d.outcome.rule()).collect() };
    assert_eq!(rules_of(0), vec!["record", "graph_cap"]);
    assert_eq!(rules_of(1), vec!["record", "graph_cap"]);
}

/// At most 20 identities of a record are linked: the primary and the first 19 others in the record's order.
#[test]
fn a_record_links_at_most_twenty_identities() {
    let mut identities = vec![id("b2b_person", "p")];
    identities.extend((0..24).map(|i| id("Email", &format!("e{i:02}"))));
    let records = [rec("t", &identities), rec("t", &[id("b2b_person", "q"), id("Email", "e20")])];
    let result = run(&records, &rules());
    let mut first = vec![id("b2b_person", "p")];
    first.extend((0..19).map(|i| id("Email", &format!("e{i:02}"))));
    assert_eq!(
        graphs(&result),
        vec![(vec![0], sorted(first)), (vec![1], vec![id("Email", "e20"), id("b2b_person", "q")])]
    );
    let skipped: Vec<&Identity> = result
        .graph(0)
        .decisions()
        .into_iter()
        .filter(|d| d.outcome == Outcome::OverRecordLimit)
        .map(|d| d.to)
        .collect();
    let expected: Vec<Identity> = (19..24).map(|i| id("Email", &format!("e{i:02}"))).collect();
    assert_eq!(skipped, expected.iter().collect::<Vec<_>>());
    assert_eq!(result.graph(0).decisions()[19].outcome.rule(), "record_limit");
    // An identity over the limit ties nothing: it is not a mention.
    assert!(result.graph(0).mentions().is_empty());
}

/// A rule override makes a standard namespace unique.
#[test]
fn an_override_makes_email_unique() {
    let mut rules = rules();
    rules.set("Email", NamespaceRule { unique: true, priority: 20 });
    let records = [
        rec("1", &[id("b2b_person", "p"), id("Email", "a")]),
        rec("2", &[id("b2b_person", "p2"), id("b2b_person", "p"), id("Email", "b")]),
    ];
    let result = run(&records, &rules);
    // Record 1 (newest) links p2, p and b; record 0's link p ↔ a would add a second email: cut.
    assert_eq!(
        graphs(&result),
        vec![(vec![0, 1], vec![id("Email", "b"), id("b2b_person", "p"), id("b2b_person", "p2")])]
    );
    assert_eq!(result.graph(0).mentions(), vec![&id("Email", "a")]);
}

/// A graph is "one linked record" only when it has one record and every identity of that record (within the
/// limit) was linked with its primary: then its decisions are all `record` links from the primary.
#[test]
fn only_a_single_record_graph_with_every_link_made_is_one_linked_record() {
    let one = |rules: &LinkingRules, records: &[Rec]| -> Vec<bool> {
        run(records, rules).graphs().map(|g| g.is_one_linked_record()).collect()
    };
    // Two records sharing an email (graph 0), one with two identities, one with only its primary; repeated
    // identities in a record count once.
    let records = [
        rec("t", &[id("b2b_person", "1"), id("Email", "a")]),
        rec("t", &[id("b2b_person", "2"), id("Email", "b"), id("Phone", "+1"), id("Email", "b")]),
        rec("t", &[id("b2b_person", "3"), id("Email", "a")]),
        rec("t", &[id("b2b_person", "4"), id("b2b_person", "4")]),
    ];
    assert_eq!(one(&rules(), &records), vec![false, true, true]);

    // A unique-namespace cut inside the record.
    let records = [rec("t", &[id("b2b_person", "k"), id("Email", "e"), id("CRMID", "b"), id("CRMID", "a")])];
    assert_eq!(one(&rules(), &records), vec![false]);

    // A record refused a link by an older record's graph: the newer record made all its links, the older was cut.
    let records = [rec("1", &[id("CRMID", "a"), id("Email", "x")]), rec("2", &[id("CRMID", "b"), id("Email", "x")])];
    assert_eq!(one(&rules(), &records), vec![false, true]);

    // Identities over the per-record limit.
    let mut identities = vec![id("b2b_person", "p")];
    identities.extend((0..24).map(|i| id("Email", &format!("e{i:02}"))));
    assert_eq!(one(&rules(), &[rec("t", &identities)]), vec![false]);
    identities.truncate(20);
    assert_eq!(one(&rules(), &[rec("t", &identities)]), vec![true]);

    // Evictions: each record keeps its email but loses its cookie.
    let mut capped = rules();
    capped.max_per_graph = 4;
    let records = [
        rec("2", &[id("b2b_person", "p"), id("Email", "e1"), id("ECID", "c")]),
        rec("3", &[id("b2b_person", "q"), id("Email", "e2"), id("ECID", "c")]),
    ];
    assert_eq!(one(&capped, &records), vec![false, false]);
}
