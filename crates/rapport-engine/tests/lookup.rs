//! Profile lookup: a Salesforce contact with its account, opportunity and contact role, stitched by email to a
//! Marketo lead; the lookup by either identity shows the same profile, its fragments and related entities, and
//! a dataset-precedence policy re-merges the record from the preferred dataset only.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use rapport_engine::{Engine, MergePolicy, Quiet};
use rapport_model::{EntityKind, Identity, SourceSystem};

/// (relation, class, primary identity, name, stage, closed, role).
type RelatedRow<'a> = (&'a str, EntityKind, String, Option<&'a str>, Option<&'a str>, Option<bool>, Option<&'a str>);

fn write(dir: &Path, folder: &str, file: &str, text: &str) -> PathBuf {
    let dir = dir.join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

fn setup(dir: &Path) -> Engine {
    let mut engine = Engine::open(&dir.join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    let files = [
        (
            SourceSystem::Salesforce,
            "org1",
            write(dir, "1", "Account.csv", "Id,Name,LastModifiedDate\nA1,Acme,2024-01-01T00:00:00.000Z\n"),
        ),
        (
            SourceSystem::Salesforce,
            "org1",
            write(
                dir,
                "2",
                "Contact.csv",
                "Id,AccountId,Email,LastName,Title,LastModifiedDate\n\
                 C1,A1,a@x.com,Doe,VP Sales,2024-03-01T00:00:00.000Z\n\
                 C2,A1,b@x.com,Roe,CFO,2024-03-01T00:00:00.000Z\n",
            ),
        ),
        (
            SourceSystem::Salesforce,
            "org1",
            write(
                dir,
                "3",
                "Opportunity.csv",
                "Id,AccountId,Name,StageName,IsClosed,LastModifiedDate\n\
                 O1,A1,Big deal,Negotiation,false,2024-02-01T00:00:00.000Z\n",
            ),
        ),
        (
            SourceSystem::Salesforce,
            "org1",
            write(
                dir,
                "4",
                "OpportunityContactRole.csv",
                "Id,ContactId,OpportunityId,Role,IsPrimary,LastModifiedDate\n\
                 R1,C1,O1,Decision Maker,true,2024-02-01T00:00:00.000Z\n",
            ),
        ),
        (
            SourceSystem::Marketo,
            "mk1",
            write(
                dir,
                "5",
                "leads.csv",
                "id,email,lastName,title,updatedAt\n7,a@x.com,Doe,Vice President,2024-03-02T00:00:00.000Z\n",
            ),
        ),
    ];
    for (system, instance, path) in files {
        let report = engine.ingest(system, &[path], instance, &Quiet).unwrap();
        assert_eq!(report.rows_rejected(), 0, "{:?}", report.files[0].rejected);
    }
    engine
}

#[test]
fn a_lookup_by_email_or_by_key_shows_the_stitched_profile_its_fragments_and_relations() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path());
    let sf_key = Identity::new("b2b_person", "C1@org1.Salesforce");
    let mk_key = Identity::new("b2b_person", "7@mk1.Marketo");
    let email = Identity::new("Email", "a@x.com");

    let by_email = engine.lookup(EntityKind::Person, &email, None).unwrap().unwrap();
    let by_key = engine.lookup(EntityKind::Person, &mk_key, None).unwrap().unwrap();
    assert_eq!(by_email.id, by_key.id);
    let mut expected = vec![email.clone(), sf_key.clone(), mk_key.clone()];
    expected.sort();
    assert_eq!(by_email.identities, expected);
    assert_eq!(by_email.primary, sf_key, "the earliest ingested fragment gives the primary identity");

    // Batches 1..=5 in ingestion order: account, contacts, opportunity, contact role, Marketo leads.
    let fragments: Vec<(&str, i64)> = by_email.fragments.iter().map(|f| (f.dataset.as_str(), f.batch_id)).collect();
    assert_eq!(fragments, [("salesforce.contact", 2), ("marketo.leads", 5)]);
    let updated: Vec<&str> = by_email.fragments.iter().map(|f| f.updated_at.as_str()).collect();
    assert_eq!(updated, ["2024-03-01T00:00:00.000Z", "2024-03-02T00:00:00.000Z"]);
    assert!(by_email.fragments.iter().all(|f| f.committed_at.is_some()));

    // Timestamp-ordered: the Marketo title is newer.
    assert_eq!(by_email.record["extendedWorkDetails"]["jobTitle"], "Vice President");

    let related: Vec<RelatedRow<'_>> = by_email
        .related
        .iter()
        .map(|r| {
            (
                r.relation.as_str(),
                r.entity,
                r.primary.to_string(),
                r.name.as_deref(),
                r.stage.as_deref(),
                r.is_closed,
                r.role.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        related,
        [
            (
                "account",
                EntityKind::Account,
                Identity::new("b2b_account", "A1@org1.Salesforce").to_string(),
                Some("Acme"),
                None,
                None,
                None
            ),
            (
                "opportunityPerson",
                EntityKind::Opportunity,
                Identity::new("b2b_opportunity", "O1@org1.Salesforce").to_string(),
                Some("Big deal"),
                Some("Negotiation"),
                Some(false),
                Some("Decision Maker")
            ),
        ]
    );

    // The other contact of the account has the account but no opportunity.
    let other = engine.lookup(EntityKind::Person, &Identity::new("Email", "b@x.com"), None).unwrap().unwrap();
    assert_eq!(other.related.len(), 1);
    assert_eq!(other.related[0].relation, "account");
    assert_ne!(other.id, by_email.id);

    assert!(engine.lookup(EntityKind::Person, &Identity::new("Email", "nobody@x.com"), None).unwrap().is_none());
}

#[test]
fn dataset_precedence_takes_values_from_the_preferred_dataset_and_ignores_unlisted_ones() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path());
    let email = Identity::new("Email", "a@x.com");

    let salesforce_only = MergePolicy::DataSetPrecedence { order: vec!["salesforce.contact".into()] };
    let view = engine.lookup(EntityKind::Person, &email, Some(&salesforce_only)).unwrap().unwrap();
    assert_eq!(view.record["extendedWorkDetails"]["jobTitle"], "VP Sales");
    let components = view.record["personComponents"].as_array().unwrap();
    assert_eq!(components.len(), 1, "marketo.leads is not listed, so its component does not contribute");
    assert_eq!(components[0]["sourcePersonKey"]["sourceKey"], "C1@org1.Salesforce");
    assert_eq!(view.fragments.len(), 2, "the fragments of the profile are listed whatever the policy");

    let marketo_first =
        MergePolicy::DataSetPrecedence { order: vec!["marketo.leads".into(), "salesforce.contact".into()] };
    let view = engine.lookup(EntityKind::Person, &email, Some(&marketo_first)).unwrap().unwrap();
    assert_eq!(view.record["extendedWorkDetails"]["jobTitle"], "Vice President");
    // Salesforce still contributes what Marketo lacks.
    assert_eq!(view.record["b2b"]["accountKey"]["sourceKey"], "A1@org1.Salesforce");
    assert_eq!(view.record["personComponents"].as_array().unwrap().len(), 2);
}

/// The related entities of a view as comparable rows.
fn related_rows(view: &rapport_engine::ProfileView) -> Vec<RelatedRow<'_>> {
    view.related
        .iter()
        .map(|r| {
            (
                r.relation.as_str(),
                r.entity,
                r.primary.to_string(),
                r.name.as_deref(),
                r.stage.as_deref(),
                r.is_closed,
                r.role.as_deref(),
            )
        })
        .collect()
}

fn key(ns: &str, value: &str) -> String {
    Identity::new(ns, value).to_string()
}

#[test]
fn an_opportunity_lookup_shows_its_account_and_its_people_with_their_role() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path());
    let view = engine
        .lookup(EntityKind::Opportunity, &Identity::new("b2b_opportunity", "O1@org1.Salesforce"), None)
        .unwrap()
        .unwrap();
    assert_eq!(view.fragments.len(), 1);
    assert_eq!(view.fragments[0].dataset, "salesforce.opportunity");
    assert_eq!(view.fragments[0].batch_id, 3);
    assert_eq!(
        related_rows(&view),
        [
            ("account", EntityKind::Account, key("b2b_account", "A1@org1.Salesforce"), Some("Acme"), None, None, None),
            // The contact role names C1, stitched with the Marketo lead (both last name Doe).
            (
                "opportunityPerson",
                EntityKind::Person,
                key("b2b_person", "C1@org1.Salesforce"),
                Some("Doe"),
                None,
                None,
                Some("Decision Maker")
            ),
        ]
    );
}

#[test]
fn an_account_lookup_shows_its_children_opportunities_and_people_and_the_reverse_links_agree() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = setup(dir.path());
    let files = [
        write(
            dir.path(),
            "6",
            "Account.csv",
            "Id,Name,ParentId,LastModifiedDate\nA2,Acme Europe,A1,2024-01-02T00:00:00.000Z\n",
        ),
        write(
            dir.path(),
            "7",
            "AccountContactRelation.csv",
            "Id,AccountId,ContactId,Roles,LastModifiedDate\nACR1,A2,C2,Buyer;Champion,2024-01-03T00:00:00.000Z\n",
        ),
    ];
    for path in files {
        let report = engine.ingest(SourceSystem::Salesforce, &[path], "org1", &Quiet).unwrap();
        assert_eq!(report.rows_rejected(), 0, "{:?}", report.files[0].rejected);
    }
    let a1 = Identity::new("b2b_account", "A1@org1.Salesforce");
    let a2 = Identity::new("b2b_account", "A2@org1.Salesforce");
    let view = engine.lookup(EntityKind::Account, &a1, None).unwrap().unwrap();
    assert_eq!(
        related_rows(&view),
        [
            ("childAccount", EntityKind::Account, a2.to_string(), Some("Acme Europe"), None, None, None),
            (
                "opportunity",
                EntityKind::Opportunity,
                key("b2b_opportunity", "O1@org1.Salesforce"),
                Some("Big deal"),
                Some("Negotiation"),
                Some(false),
                None
            ),
            // Both contacts name A1 as their account (the Marketo lead names none).
            ("person", EntityKind::Person, key("b2b_person", "C1@org1.Salesforce"), Some("Doe"), None, None, None),
            ("person", EntityKind::Person, key("b2b_person", "C2@org1.Salesforce"), Some("Roe"), None, None, None),
        ]
    );

    let view = engine.lookup(EntityKind::Account, &a2, None).unwrap().unwrap();
    assert_eq!(
        related_rows(&view),
        [
            ("parentAccount", EntityKind::Account, a1.to_string(), Some("Acme"), None, None, None),
            (
                "accountPerson",
                EntityKind::Person,
                key("b2b_person", "C2@org1.Salesforce"),
                Some("Roe"),
                None,
                None,
                Some("Buyer;Champion")
            ),
        ]
    );

    // The person side of the same links.
    let c2 = engine.lookup(EntityKind::Person, &Identity::new("Email", "b@x.com"), None).unwrap().unwrap();
    assert_eq!(
        related_rows(&c2),
        [
            ("account", EntityKind::Account, a1.to_string(), Some("Acme"), None, None, None),
            (
                "accountPerson",
                EntityKind::Account,
                a2.to_string(),
                Some("Acme Europe"),
                None,
                None,
                Some("Buyer;Champion")
            ),
        ]
    );
}
