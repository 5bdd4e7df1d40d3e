//! Profiles by identity, identity graphs and identity deletion.

use rapport_engine::Role;
use serde_json::json;

use crate::batches::{ingest, CONTACTS};
use crate::support::{assert_error, TestServer};

#[test]
fn a_profile_is_found_by_any_of_its_identities_and_an_identity_is_deleted_by_an_admin_only() {
    let server = TestServer::b2b();
    let (_, batch) = ingest(&server, Some(30.0), &[("contacts.csv", CONTACTS)]);
    assert_eq!(batch["status"], "success", "{batch}");
    // Emails are lowercased by the Email namespace's rule before the lookup.
    let by_email = server.get("/access/entities?entityIdNS=Email&entityId=A01@Acme.com", Role::Viewer);
    assert_eq!(by_email.status, 200, "{:?}", by_email.body);
    let profile = by_email.body;
    assert_eq!(profile["entity"], "person");
    assert_eq!(profile["primary"], json!({"namespace": "b2b_person", "value": "003A01@org.Salesforce"}));
    assert!(profile["identities"]
        .as_array()
        .unwrap()
        .contains(&json!({"namespace": "Email", "value": "a01@acme.com"})));
    assert_eq!(profile["record"]["person"]["name"]["firstName"], "Ada");
    assert_eq!(profile["fragments"].as_array().unwrap().len(), 1);
    // The same profile by its primary identity.
    let by_key = server.get("/access/entities?entityIdNS=b2b_person&entityId=003A01@org.Salesforce", Role::Viewer);
    assert_eq!(by_key.body["id"], profile["id"]);
    // Faults: an identity no profile holds, an unknown namespace, a missing parameter, a bad merge policy.
    assert_error(
        &server.get("/access/entities?entityIdNS=Email&entityId=a02@acme.com", Role::Viewer),
        404,
        "not_found",
    );
    assert_error(&server.get("/access/entities?entityIdNS=Nope&entityId=x", Role::Viewer), 422, "unknown_namespace");
    assert_error(&server.get("/access/entities?entityIdNS=Email", Role::Viewer), 400, "invalid_query");
    let bad_policy =
        server.get("/access/entities?entityIdNS=Email&entityId=a01@acme.com&mergePolicy=newest", Role::Viewer);
    assert_error(&bad_policy, 422, "invalid");

    let graph = server.get("/identity/graph?ns=Email&value=a01@acme.com", Role::Viewer);
    assert_eq!(graph.status, 200, "{:?}", graph.body);
    assert_eq!(graph.body["profile_id"], profile["id"]);

    let delete = "/identity/graph?ns=Email&value=a01@acme.com";
    for role in [Role::Viewer, Role::Marketer, Role::Engineer] {
        assert_error(&server.send("DELETE", delete, Some(role), "application/json", b""), 403, "forbidden");
    }
    let deleted = server.send("DELETE", delete, Some(Role::Admin), "application/json", b"");
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    // The email is gone from the graph; the person stays under its primary identity.
    assert_error(
        &server.get("/access/entities?entityIdNS=Email&entityId=a01@acme.com", Role::Viewer),
        404,
        "not_found",
    );
    let kept = server.get("/access/entities?entityIdNS=b2b_person&entityId=003A01@org.Salesforce", Role::Viewer);
    assert_eq!(kept.status, 200);
    assert!(!kept.body["identities"]
        .as_array()
        .unwrap()
        .contains(&json!({"namespace": "Email", "value": "a01@acme.com"})));
}

#[test]
fn the_summary_counts_profiles_identities_and_fragments_per_class() {
    let server = TestServer::b2b();
    // Nothing stored yet: every class answers zeros.
    let empty = server.get("/profiles/summary", Role::Viewer);
    assert_eq!(empty.status, 200, "{:?}", empty.body);
    let person = |body: &serde_json::Value| {
        body["entities"].as_array().unwrap().iter().find(|e| e["entity"] == "person").cloned().unwrap()
    };
    assert_eq!(person(&empty.body), json!({"entity": "person", "profiles": 0, "identities": 0, "fragments": 0}));
    // CONTACTS: 10 rows, 3 rejected (no id, a day-first date, a short row); the 7 others are 7 people with two
    // identities each (their Salesforce key and their email).
    ingest(&server, Some(30.0), &[("contacts.csv", CONTACTS)]);
    let summary = server.get("/profiles/summary", Role::Viewer).body;
    assert_eq!(person(&summary), json!({"entity": "person", "profiles": 7, "identities": 14, "fragments": 7}));
    let account = summary["entities"].as_array().unwrap().iter().find(|e| e["entity"] == "account").unwrap();
    assert_eq!(account["profiles"], 0);
}
