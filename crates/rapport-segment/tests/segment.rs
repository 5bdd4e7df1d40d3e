//! Audience binding and evaluation over small hand-built B2B graphs, with memberships worked out by hand.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::collections::BTreeMap;

use rapport_model::{EntityKind, Identity};
use rapport_profile::{Profile, ProfileGraph, ProfileSet};
use rapport_schema::b2b::generate_b2b;
use rapport_segment::{compile, evaluate, evaluate_one};
use serde_json::{json, Value};

const BODEA: &str = "extendedWorkDetails.departments.includes(\"Sales\") and exists A from accounts where (exists O from A.opportunities where O.isClosed = false)";

fn profile(ns: &str, key: &str, record: Value) -> Profile {
    let primary = Identity::new(ns, key);
    Profile { identities: vec![primary.clone()], primary, record: record.as_object().unwrap().clone() }
}

fn person(key: &str, departments: &[&str], accounts: &[&str], score: f64) -> Profile {
    let components: Vec<Value> = accounts.iter().map(|a| json!({"sourceAccountKey": {"sourceKey": a}})).collect();
    profile(
        "b2b_person",
        key,
        json!({"b2b": {"personKey": {"sourceKey": key}, "personScore": score},
               "extendedWorkDetails": {"departments": departments},
               "personComponents": components,
               "workEmail": {"address": format!("{key}@acme.com")}}),
    )
}

fn opportunity(key: &str, account: &str, closed: bool, amount: f64) -> Profile {
    profile(
        "b2b_opportunity",
        key,
        json!({"opportunityKey": {"sourceKey": key}, "accountKey": {"sourceKey": account},
               "isClosed": closed, "opportunityAmount": {"amount": amount}}),
    )
}

/// p0 Sales @a0 (a0 has an open opp) → member; p1 Sales @a1 (only closed) → not; p2 Marketing @a0 → not;
/// p3 Sales @a1 and @a2 (a2 open) → member; p4 Sales, no account → not; p5 ["IT","Sales"] @a0 → member.
fn graph() -> ProfileGraph {
    let mut sets = BTreeMap::new();
    sets.insert(
        EntityKind::Person,
        ProfileSet::new(vec![
            person("p0", &["Sales"], &["a0"], 90.0),
            person("p1", &["Sales"], &["a1"], 10.0),
            person("p2", &["Marketing"], &["a0"], 85.0),
            person("p3", &["Sales"], &["a1", "a2"], 50.0),
            person("p4", &["Sales"], &[], 99.0),
            person("p5", &["IT", "Sales"], &["a0"], 81.0),
        ]),
    );
    sets.insert(
        EntityKind::Account,
        ProfileSet::new(vec![
            profile("b2b_account", "a0", json!({"accountKey": {"sourceKey": "a0"}, "accountName": "Acme"})),
            profile("b2b_account", "a1", json!({"accountKey": {"sourceKey": "a1"}, "accountName": "Globex"})),
            profile("b2b_account", "a2", json!({"accountKey": {"sourceKey": "a2"}, "accountName": "Initech"})),
        ]),
    );
    sets.insert(
        EntityKind::Opportunity,
        ProfileSet::new(vec![
            opportunity("o0", "a0", false, 2_000_000.0),
            opportunity("o1", "a1", true, 5.0),
            opportunity("o2", "a2", false, 10.0),
            opportunity("o3", "a1", true, 7.0),
        ]),
    );
    ProfileGraph::link(sets)
}

fn members(text: &str) -> Vec<u32> {
    let plan = compile(text, EntityKind::Person, &generate_b2b()).unwrap_or_else(|e| panic!("{}", e.render()));
    let graph = graph();
    let batch: Vec<u32> = evaluate(&plan, &graph).iter().collect();
    let single: Vec<u32> = (0..6).filter(|&i| evaluate_one(&plan, &graph, i)).collect();
    assert_eq!(batch, single, "batch and single-profile evaluation disagree for {text}");
    batch
}

#[test]
fn the_bodea_audience_selects_sales_people_of_accounts_with_open_opportunities() {
    assert_eq!(members(BODEA), vec![0, 3, 5]);
}

#[test]
fn the_bodea_plan_prints_as_text() {
    let plan = compile(BODEA, EntityKind::Person, &generate_b2b()).unwrap();
    assert_eq!(
        plan.to_string(),
        "Audience of person\n  And\n    Filter extendedWorkDetails.departments.includes(\"Sales\")\n    Exists accounts (person -> account)\n      Exists opportunities (account -> opportunity)\n        Filter (isClosed = false)\n"
    );
}

#[test]
fn chained_bindings_and_forall_and_row_conditions() {
    // Same audience with a chained binding.
    assert_eq!(
        members("extendedWorkDetails.departments.includes(\"Sales\") and exists A from accounts where true, O from A.opportunities where O.isClosed = false"),
        vec![0, 3, 5]
    );
    // Every related account has only closed opportunities: p1 (a1) and p4 (no account: vacuous).
    assert_eq!(
        members("forall A from accounts where (forall O from A.opportunities where O.isClosed = true)"),
        vec![1, 4]
    );
    assert_eq!(members("b2b.personScore > 80"), vec![0, 2, 4, 5]);
    assert_eq!(members("not (b2b.personScore > 80) or workEmail.address = \"p4@acme.com\""), vec![1, 3, 4]);
    assert_eq!(members("workEmail.address like \"p_@acme%\" and b2b.personScore in [10, 50]"), vec![1, 3]);
    assert_eq!(members("exists A from accounts where A.accountName.startsWith(\"glo\", false)"), vec![1, 3]);
    assert_eq!(members("extendedWorkDetails.departments.count() = 2"), vec![5]);
    assert_eq!(
        members(
            "exists A from accounts where (exists O from A.opportunities where O.opportunityAmount.amount >= 1000000)"
        ),
        vec![0, 2, 5]
    );
    assert_eq!(members("exists C from personComponents where C.sourceAccountKey.sourceKey = \"a2\""), vec![3]);
}

fn error(text: &str) -> (String, Option<String>, (usize, usize)) {
    let err = compile(text, EntityKind::Person, &generate_b2b()).unwrap_err();
    (err.diagnostic.message.clone(), err.diagnostic.hint.clone(), (err.diagnostic.span.start, err.diagnostic.span.end))
}

#[test]
fn unknown_fields_get_a_span_and_a_suggestion() {
    let (message, hint, span) = error("extendedWorkDetails.departmnt.includes(\"Sales\")");
    assert_eq!(message, "unknown field `extendedWorkDetails.departmnt` on B2B Person (person)");
    assert_eq!(hint.as_deref(), Some("did you mean `extendedWorkDetails.departments`?"));
    assert_eq!(span, (0, 29));
}

#[test]
fn type_mismatches_and_correlated_conditions_are_refused() {
    let (message, hint, span) =
        error("exists A from accounts where (exists O from A.opportunities where O.isClosed = \"no\")");
    assert_eq!(message, "`isClosed` is a boolean field and cannot be compared with \"no\"");
    assert_eq!(hint.as_deref(), Some("write `isClosed = true` or `isClosed = false`"));
    assert_eq!(span, (79, 83));
    let (message, _, _) = error("exists A from accounts where A.accountName = workEmail.address");
    assert!(message.contains("names a field of the audience's profile inside a quantifier over account"), "{message}");
    let (message, hint, _) = error("accounts.count() > 1");
    assert_eq!(message, "`accounts` is a relationship of person, not a field");
    assert!(hint.unwrap().contains("exists X from accounts"));
    let (message, _, _) = error("person.birthDate occurs last week");
    assert_eq!(message, "`occurs` is valid PQL but Rapport does not evaluate it yet");
}

#[test]
fn accounts_known_only_by_reference_still_relate_people_to_opportunities() {
    // p0 points at account "ghost", whose own record never arrived; an open opportunity points at it too.
    let mut sets = BTreeMap::new();
    sets.insert(EntityKind::Person, ProfileSet::new(vec![person("p0", &["Sales"], &["ghost"], 1.0)]));
    sets.insert(EntityKind::Opportunity, ProfileSet::new(vec![opportunity("o0", "ghost", false, 1.0)]));
    let graph = ProfileGraph::link(sets);
    let plan = compile(BODEA, EntityKind::Person, &generate_b2b()).unwrap();
    assert_eq!(evaluate(&plan, &graph).iter().collect::<Vec<_>>(), vec![0]);
    // The placeholder account is never a member of an account-level condition's own audience.
    let accounts = compile("accountName.isNull()", EntityKind::Account, &generate_b2b()).unwrap();
    assert_eq!(evaluate(&accounts, &graph).len(), 0);
    assert!(!evaluate_one(&accounts, &graph, 0));
}

#[test]
fn a_plan_lists_the_fields_it_reads_per_class() {
    let plan = compile(
        "extendedWorkDetails.departments.includes(\"Sales\") and (exists C from personComponents where C.workEmail.address = \"x\") and exists A from accounts where (exists O from A.opportunities where O.isClosed = false)",
        EntityKind::Person,
        &generate_b2b(),
    )
    .unwrap();
    let fields: Vec<(EntityKind, Vec<String>)> = plan
        .fields()
        .into_iter()
        .map(|(entity, paths)| (entity, paths.iter().map(ToString::to_string).collect()))
        .collect();
    assert_eq!(
        fields,
        vec![
            (
                EntityKind::Person,
                vec![
                    "extendedWorkDetails.departments".to_owned(),
                    "personComponents".to_owned(),
                    "personComponents.workEmail.address".to_owned()
                ]
            ),
            (EntityKind::Account, vec![]),
            (EntityKind::Opportunity, vec!["isClosed".to_owned()]),
        ]
    );
}

/// The CTE of one class's profiles with their merged records, as the SQL of every plan starts.
fn cte(class: &str) -> String {
    format!(
        "{class} AS (\n  SELECT p.profile_id, p.primary_ns, p.primary_value, COALESCE(p.record, f.record)::jsonb AS \
         record\n  FROM profiles p LEFT JOIN fragments f ON f.id = p.fragment_id\n  WHERE p.entity = '{class}'\n)"
    )
}

fn sql(text: &str, entity: EntityKind) -> String {
    let schemas = generate_b2b();
    let plan = compile(text, entity, &schemas).unwrap_or_else(|e| panic!("{}", e.render()));
    rapport_segment::to_sql(&plan, &schemas)
}

#[test]
fn sql_of_a_typed_comparison_casts_the_json_field() {
    let expected = format!(
        "WITH {}\nSELECT e0.primary_ns, e0.primary_value\nFROM person e0\n\
         WHERE ((e0.record #>> '{{b2b,personScore}}')::numeric > 80)\nORDER BY e0.profile_id;",
        cte("person")
    );
    assert_eq!(sql("b2b.personScore > 80", EntityKind::Person), expected);
}

#[test]
fn sql_negation_is_two_valued_and_like_has_no_escape() {
    let expected = format!(
        "WITH {}\nSELECT e0.primary_ns, e0.primary_value\nFROM person e0\n\
         WHERE (((e0.record #>> '{{workEmail,address}}') LIKE '%@o''brien.com' ESCAPE '')) IS NOT TRUE\n\
         ORDER BY e0.profile_id;",
        cte("person")
    );
    assert_eq!(sql("not (workEmail.address like \"%@o'brien.com\")", EntityKind::Person), expected);
}

#[test]
fn sql_of_a_relationship_is_an_exists_over_the_keys() {
    // Account audience: an account's opportunities hold its key (`accountKey.sourceKey`, namespace b2b_account).
    let expected = format!(
        "WITH {},\n{}\nSELECT e0.primary_ns, e0.primary_value\nFROM account e0\nWHERE EXISTS (\n    \
         SELECT 1 FROM opportunity e1\n    \
         WHERE EXISTS (SELECT 1 FROM profile_identities i2 WHERE i2.entity = 'account' AND i2.profile_id = \
         e0.profile_id AND i2.ns = 'b2b_account' AND i2.value IN (SELECT btrim(k3 #>> '{{}}') FROM \
         jsonb_path_query(e1.record, 'lax $.\"accountKey\".\"sourceKey\" ? (@.type() == \"string\")') AS k3))\n    \
         AND ((e1.record #>> '{{isClosed}}')::boolean = FALSE)\n  )\nORDER BY e0.profile_id;",
        cte("account"),
        cte("opportunity")
    );
    assert_eq!(sql("exists O from opportunities where O.isClosed = false", EntityKind::Account), expected);
    // `forall` is a NOT EXISTS of a related entity for which the condition is not true.
    let forall = sql("forall O from opportunities where O.isClosed = false", EntityKind::Account);
    assert!(forall.contains("WHERE NOT EXISTS (\n    SELECT 1 FROM opportunity e1\n"), "{forall}");
    assert!(forall.contains("AND (((e1.record #>> '{isClosed}')::boolean = FALSE)) IS NOT TRUE\n  )"), "{forall}");
}

#[test]
fn sql_membership_test_compares_json_elements() {
    let expected = format!(
        "WITH {}\nSELECT e0.primary_ns, e0.primary_value\nFROM person e0\n\
         WHERE EXISTS (SELECT 1 FROM jsonb_path_query((e0.record #> '{{extendedWorkDetails,departments}}'), \
         'lax $[*]') AS x1 WHERE x1 = to_jsonb(('Sales')::text))\nORDER BY e0.profile_id;",
        cte("person")
    );
    assert_eq!(sql("extendedWorkDetails.departments.includes(\"Sales\")", EntityKind::Person), expected);
}

#[test]
fn why_names_the_failing_condition_and_the_values_it_saw() {
    let plan = compile(BODEA, EntityKind::Person, &generate_b2b()).unwrap();
    let graph = graph();
    for id in 0..6 {
        assert_eq!(rapport_segment::why(&plan, &graph, id).holds, evaluate_one(&plan, &graph, id), "person {id}");
    }
    // p1: in Sales, but its only account (a1) has two closed opportunities.
    let trace = rapport_segment::why(&plan, &graph, 1);
    assert!(!trace.holds);
    let [department, accounts] = trace.children.as_slice() else { panic!("{}", trace.render()) };
    assert!(department.holds);
    assert_eq!(department.values[0].path, "extendedWorkDetails.departments");
    assert_eq!(department.values[0].value, json!(["Sales"]));
    assert!(!accounts.holds);
    assert_eq!(accounts.note.as_deref(), Some("0 of 1 related qualify"));
    let a1 = &accounts.children[0];
    assert_eq!(a1.entity.as_deref(), Some("b2b_account:a1"));
    assert_eq!(a1.note.as_deref(), Some("0 of 2 related qualify"));
    let seen: Vec<(&str, Value)> =
        a1.children.iter().map(|o| (o.entity.as_deref().unwrap(), o.values[0].value.clone())).collect();
    assert_eq!(seen, vec![("b2b_opportunity:o1", json!(true)), ("b2b_opportunity:o3", json!(true))]);
    let text = trace.render();
    assert!(text.starts_with("✗ And\n  ✓ Filter extendedWorkDetails.departments.includes(\"Sales\")"), "{text}");
    assert!(text.contains("✗ [b2b_opportunity:o1] Filter (isClosed = false)  (saw isClosed = true)"), "{text}");
    // p3: the qualifying account (a2) is listed first.
    let trace = rapport_segment::why(&plan, &graph, 3);
    assert!(trace.holds);
    assert_eq!(trace.children[1].note.as_deref(), Some("1 of 2 related qualify"));
    assert_eq!(trace.children[1].children[0].entity.as_deref(), Some("b2b_account:a2"));
}
