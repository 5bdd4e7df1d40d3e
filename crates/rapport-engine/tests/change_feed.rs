//! Issue 4 / 5: the change events that file ingestion appends, worked out by hand. Ingestion takes the
//! relationship keys of the records it creates profiles from while it has them in hand (no read-back), so these
//! tests pin what those events say: a created contact names its account (with the account's profile id, or
//! none when no profile holds the key) and the opportunities of contact roles already stored; an updated
//! account names its people; re-ingesting an unchanged file appends nothing.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::path::{Path, PathBuf};

use rapport_engine::{Engine, Quiet};
use rapport_model::{EntityKind, Identity, SourceSystem};
use rapport_store::ChangeKind;

fn write(dir: &Path, folder: &str, file: &str, text: &str) -> PathBuf {
    let dir = dir.join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

fn ingest(engine: &mut Engine, path: &Path) {
    let report = engine.ingest(SourceSystem::Salesforce, &[path.to_owned()], "org", &Quiet).unwrap();
    assert_eq!(report.failed().count(), 0, "{report:?}");
}

fn key(ns: &str, id: &str) -> Identity {
    Identity::new(ns, format!("{id}@org.Salesforce"))
}

/// (kind, entity, primary, previous, related as (class, key, profile id)) of the events after `seq`.
type Event = (ChangeKind, EntityKind, Identity, Vec<i64>, Vec<(EntityKind, Identity, Option<i64>)>);

fn events_after(engine: &Engine, seq: i64) -> Vec<Event> {
    engine
        .changes_since(seq, 1000)
        .unwrap()
        .into_iter()
        .map(|e| {
            let related = e.related.into_iter().map(|r| (r.entity, r.key, r.profile_id)).collect();
            (e.kind, e.entity, e.primary, e.previous, related)
        })
        .collect()
}

fn last_seq(engine: &Engine) -> i64 {
    engine.changes_since(0, usize::MAX).unwrap().last().map_or(0, |e| e.seq)
}

#[test]
fn ingested_files_append_the_change_events_worked_out_by_hand() {
    use ChangeKind::{Created, Updated};
    use EntityKind::{Account, Opportunity, OpportunityPerson, Person};
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(&dir.path().join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    let (acc, person, opp) = (|id| key("b2b_account", id), |id| key("b2b_person", id), |id| key("b2b_opportunity", id));

    let accounts = "Id,Name,LastModifiedDate\n\
                    A1,Acme,2024-01-01T00:00:00.000Z\n\
                    A2,Beta,2024-01-01T00:00:00.000Z\n";
    ingest(&mut engine, &write(dir.path(), "1", "Account.csv", accounts));
    assert_eq!(
        events_after(&engine, 0),
        vec![(Created, Account, acc("A1"), vec![], vec![]), (Created, Account, acc("A2"), vec![], vec![])]
    );

    // A contact role for a contact not loaded yet, on an opportunity of A1.
    let opportunities = "Id,AccountId,Name,StageName,IsClosed,LastModifiedDate\n\
                         O1,A1,Big deal,Negotiation,false,2024-02-01T00:00:00.000Z\n";
    ingest(&mut engine, &write(dir.path(), "2", "Opportunity.csv", opportunities));
    let roles = "Id,ContactId,OpportunityId,Role,IsPrimary,LastModifiedDate\n\
                 R1,C3,O1,Decision Maker,true,2024-02-01T00:00:00.000Z\n";
    ingest(&mut engine, &write(dir.path(), "3", "OpportunityContactRole.csv", roles));
    let seq = last_seq(&engine);
    assert_eq!(seq, 4);
    assert_eq!(
        events_after(&engine, 2),
        vec![
            (Created, Opportunity, opp("O1"), vec![], vec![(Account, acc("A1"), Some(0))]),
            // The role's person has no profile yet.
            (
                Created,
                OpportunityPerson,
                key("b2b_opportunity_person_relation", "R1"),
                vec![],
                vec![(Person, person("C3"), None), (Opportunity, opp("O1"), Some(0))]
            ),
        ]
    );

    // C1 and C2 share an email: one profile. C3 points at an account no profile holds, and the stored role
    // points at C3. C4 has no account.
    let contacts = "Id,AccountId,Email,LastName,LastModifiedDate\n\
                    C1,A1,same@x.com,One,2024-03-01T00:00:00.000Z\n\
                    C2,A2,same@x.com,Two,2024-03-02T00:00:00.000Z\n\
                    C3,A9,c3@x.com,Three,2024-03-01T00:00:00.000Z\n\
                    C4,,c4@x.com,Four,2024-03-01T00:00:00.000Z\n";
    let contact_file = write(dir.path(), "4", "Contact.csv", contacts);
    ingest(&mut engine, &contact_file);
    assert_eq!(
        events_after(&engine, seq),
        vec![
            (Created, Person, person("C1"), vec![], vec![(Account, acc("A1"), Some(0)), (Account, acc("A2"), Some(1))]),
            (
                Created,
                Person,
                person("C3"),
                vec![],
                vec![(Account, acc("A9"), None), (Opportunity, opp("O1"), Some(0))]
            ),
            (Created, Person, person("C4"), vec![], vec![]),
        ]
    );

    // The same file again changes nothing: no event.
    let seq = last_seq(&engine);
    ingest(&mut engine, &contact_file);
    assert_eq!(events_after(&engine, seq), vec![]);

    // A1 renamed: its person (through the contact's account key) is related.
    let renamed = "Id,Name,LastModifiedDate\nA1,Acme Corp,2024-04-01T00:00:00.000Z\n";
    ingest(&mut engine, &write(dir.path(), "5", "Account.csv", renamed));
    assert_eq!(
        events_after(&engine, seq),
        vec![(
            Updated,
            Account,
            acc("A1"),
            vec![],
            vec![(Person, person("C1"), Some(0)), (Opportunity, opp("O1"), Some(0))]
        )]
    );
}
