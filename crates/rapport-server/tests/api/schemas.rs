//! Schemas, field groups and namespaces.

use rapport_engine::Role;
use serde_json::json;

use crate::support::{assert_error, TestServer};

#[test]
fn b2b_generation_creates_the_schemas_once_and_they_are_listed_and_shown() {
    let server = TestServer::start(|_| {});
    assert_eq!(server.get("/schemas", Role::Viewer).body["results"], json!([]));
    let created = server.post("/schemas/generate-b2b", Role::Engineer, &json!({}));
    assert_eq!(created.status, 200, "{:?}", created.body);
    let schemas = created.body["schemas_created"].as_array().unwrap().clone();
    assert!(schemas.contains(&json!("B2B Person")) && schemas.contains(&json!("B2B Account")), "{schemas:?}");
    // A second generation creates nothing.
    let again = server.post("/schemas/generate-b2b", Role::Admin, &json!({}));
    assert_eq!(again.body["schemas_created"], json!([]));
    let listed = server.get("/schemas?limit=1000", Role::Viewer).body;
    let names: Vec<_> = listed["results"].as_array().unwrap().iter().map(|s| s["name"].clone()).collect();
    assert_eq!(names.len(), schemas.len());
    // By name (URL-encoded) or by `$id`, with the relationships it takes part in.
    let person = server.get("/schemas/B2B%20Person", Role::Viewer);
    assert_eq!(person.status, 200);
    let id = person.body["schema"]["$id"].as_str().unwrap().to_owned();
    assert_eq!(id, "https://ns.adobe.com/rapport/schemas/b2b-person");
    let relationships = person.body["relationships"].as_array().unwrap();
    assert!(!relationships.is_empty());
    let encoded = id.replace(':', "%3A").replace('/', "%2F");
    assert_eq!(server.get(&format!("/schemas/{encoded}"), Role::Viewer).body["schema"]["name"], "B2B Person");
    assert_error(&server.get("/schemas/Nothing", Role::Viewer), 404, "not_found");
}

#[test]
fn a_custom_namespace_is_created_once_and_shown() {
    let server = TestServer::b2b();
    let body = json!({"code": "crmId", "name": "CRM id", "idType": "cross-device", "normalization": "exact"});
    let created = server.post("/namespaces", Role::Engineer, &body);
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["code"], "crmId");
    assert_eq!(created.body["standard"], false);
    let shown = server.get("/namespaces/crmId", Role::Viewer);
    assert_eq!((shown.status, shown.body["name"].clone()), (200, json!("CRM id")));
    assert_error(&server.post("/namespaces", Role::Engineer, &body), 409, "conflict");
    assert_error(&server.get("/namespaces/nothing", Role::Viewer), 404, "not_found");
    assert_eq!(server.get("/fieldgroups", Role::Viewer).body["results"], json!([]));
    assert_error(&server.get("/fieldgroups/nothing", Role::Viewer), 404, "not_found");
}

#[test]
fn issue_9_a_schema_lists_its_fields_for_the_condition_builder() {
    let server = TestServer::b2b();
    let fields = |name: &str| -> Vec<serde_json::Value> {
        let answer = server.get(&format!("/schemas/{name}/fields?limit=1000"), Role::Viewer);
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer.body["results"].as_array().unwrap().clone()
    };
    let person = fields("B2B%20Person");
    // The fields the Bodea audience names, with their XDM types.
    assert!(
        person.contains(&json!({"path": "extendedWorkDetails.departments", "type": "array<string>"})),
        "{person:?}"
    );
    assert!(person.contains(&json!({"path": "person.name.firstName", "type": "string"})), "{person:?}");
    let opportunity = fields("B2B%20Opportunity");
    assert!(opportunity.contains(&json!({"path": "isClosed", "type": "boolean"})), "{opportunity:?}");
    // By `$id` too.
    let by_id = fields("https%3A%2F%2Fns.adobe.com%2Frapport%2Fschemas%2Fb2b-person");
    assert_eq!(by_id.len(), person.len());
    assert_error(&server.get("/schemas/Nothing/fields", Role::Viewer), 404, "not_found");
}
