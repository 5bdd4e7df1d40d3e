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

/// A tenant field group in Adobe's Schema Registry format (two tenant fields under `_bodea`), shared with the
/// CLI's schema tests.
fn loyalty() -> serde_json::Value {
    serde_json::from_str(include_str!("../../../../tests/fixtures/xdm/bodea-loyalty.json")).unwrap()
}

#[test]
fn a_field_group_is_imported_then_attached_to_a_schema() {
    let server = TestServer::b2b();
    // Viewers and marketers may not change schemas.
    assert_error(&server.post("/fieldgroups", Role::Marketer, &loyalty()), 403, "forbidden");
    // A document that is not a field group, and a broken reference, are refused and register nothing.
    let class = json!({"$id": "https://ns.adobe.com/bodea/classes/x", "title": "X", "type": "object",
        "meta:extends": ["https://ns.adobe.com/xdm/data/record"], "properties": {"_bodea": {"type": "object",
        "properties": {"a": {"type": "string"}}}}});
    let refused = assert_error(&server.post("/fieldgroups", Role::Engineer, &class), 422, "invalid_xdm");
    assert!(refused["message"].as_str().unwrap().contains("none of the documents is a field group"));
    let broken: serde_json::Value = serde_json::from_str(
        &loyalty().to_string().replace("#/definitions/loyalty", "https://ns.adobe.com/bodea/missing"),
    )
    .unwrap();
    let refused = assert_error(&server.post("/fieldgroups", Role::Engineer, &broken), 422, "invalid_xdm");
    assert!(refused["message"].as_str().unwrap().contains("https://ns.adobe.com/bodea/missing"));
    assert_eq!(server.get("/fieldgroups", Role::Viewer).body["results"], json!([]));

    let created = server.post("/fieldgroups", Role::Engineer, &loyalty());
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.body["fieldGroups"],
        json!([{"$id": "https://ns.adobe.com/bodea/mixins/loyalty", "title": "Bodea Loyalty", "fields": 3}])
    );
    let listed = server.get("/fieldgroups", Role::Viewer).body;
    assert_eq!(listed["results"][0]["$id"], "https://ns.adobe.com/bodea/mixins/loyalty");

    // Attaching: an unknown group is 404, a schema of another class 422 naming both, the person schema works.
    let attach = json!({"$id": "https://ns.adobe.com/bodea/mixins/loyalty"});
    assert_error(
        &server.post("/schemas/B2B%20Person/fieldgroups", Role::Engineer, &json!({"$id": "https://nothing"})),
        404,
        "not_found",
    );
    let other =
        assert_error(&server.post("/schemas/B2B%20Account/fieldgroups", Role::Engineer, &attach), 422, "invalid");
    assert!(other["message"].as_str().unwrap().contains("B2B Account"), "{other:?}");
    let added = server.post("/schemas/B2B%20Person/fieldgroups", Role::Engineer, &attach);
    assert_eq!(added.status, 200, "{:?}", added.body);
    assert_eq!(added.body["added_fields"]["B2B Person"], json!(["_bodea", "_bodea.points", "_bodea.tier"]));
    // The schema now shows the field group.
    let person = server.get("/schemas/B2B%20Person", Role::Viewer).body;
    assert!(person["schema"].to_string().contains("https://ns.adobe.com/bodea/mixins/loyalty"), "{person}");
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
