//! The platform: the OpenAPI document against the live routes, authentication, roles, the error shape,
//! pagination and tasks.

use rapport_engine::Role;
use serde_json::{json, Value};

use crate::support::{assert_error, TestServer};

/// Every (method, path) the document lists.
fn operations(document: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// A concrete path for a templated one (`{x}` → a value no resource has).
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => inside = true,
            '}' => {
                inside = false;
                out.push_str("no-such-thing");
            }
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn the_openapi_document_lists_the_routes_and_every_listed_route_answers() {
    let server = TestServer::b2b();
    let answer = server.get("/openapi.json", Role::Viewer);
    assert_eq!(answer.status, 200);
    let document = answer.body;
    assert!(document["openapi"].as_str().unwrap().starts_with("3."), "{}", document["openapi"]);
    let documented = operations(&document);
    // The routes this branch serves, written out by hand: each must be documented.
    let expected = [
        ("GET", "/health"),
        ("GET", "/openapi.json"),
        ("GET", "/auth/me"),
        ("POST", "/collection/{inletId}"),
        ("POST", "/collection/batch/{inletId}"),
        ("GET", "/tasks"),
        ("GET", "/tasks/{id}"),
        ("GET", "/schemas"),
        ("GET", "/schemas/{name}"),
        ("GET", "/schemas/{name}/fields"),
        ("POST", "/schemas/generate-b2b"),
        ("GET", "/fieldgroups"),
        ("POST", "/fieldgroups"),
        ("POST", "/schemas/{name}/fieldgroups"),
        ("GET", "/inlets"),
        ("GET", "/connectors"),
        ("POST", "/inlets"),
        ("GET", "/fieldgroups/{id}"),
        ("GET", "/namespaces"),
        ("POST", "/namespaces"),
        ("GET", "/namespaces/{code}"),
        ("GET", "/datasets"),
        ("POST", "/datasets"),
        ("GET", "/datasets/{id}"),
        ("GET", "/datasets/{id}/batches"),
        ("GET", "/datasets/{id}/batches/{batchId}/failed"),
        ("GET", "/ingestion/throughput"),
        ("GET", "/batches"),
        ("POST", "/batches"),
        ("GET", "/batches/{id}"),
        ("POST", "/batches/{id}"),
        ("PUT", "/batches/{id}/datasets/{datasetId}/files/{name}"),
        ("GET", "/batches/{id}/failed"),
        ("GET", "/flows"),
        ("POST", "/flows"),
        ("GET", "/flows/{name}"),
        ("GET", "/flows/{name}/runs"),
        ("POST", "/flows/{name}/runs"),
        ("GET", "/access/entities"),
        ("GET", "/identity/graph"),
        ("GET", "/profiles/summary"),
        ("DELETE", "/identity/graph"),
        ("GET", "/segment/definitions"),
        ("POST", "/segment/definitions"),
        ("GET", "/segment/definitions/{name}"),
        ("DELETE", "/segment/definitions/{name}"),
        ("POST", "/segment/estimate"),
        ("POST", "/segment/jobs"),
        ("GET", "/segment/definitions/{name}/members"),
        ("GET", "/segment/definitions/{name}/explain"),
        ("GET", "/segment/definitions/{name}/history"),
        ("GET", "/segment/definitions/{name}/sizes"),
        ("GET", "/destinations"),
        ("POST", "/destinations"),
        ("GET", "/destinations/{name}"),
        ("POST", "/destinations/{name}/test"),
        ("GET", "/activation/flows"),
        ("POST", "/activation/flows"),
        ("GET", "/activation/flows/{name}"),
        ("POST", "/activation/flows/{name}/runs"),
        ("GET", "/activation/flows/{name}/runs"),
    ];
    for (method, path) in expected {
        assert!(
            documented.iter().any(|(m, p)| m == method && p == path),
            "{method} {path} is served but not documented"
        );
    }
    // Every documented operation is routed: it answers neither 405 nor the router's own 404, and never 5xx.
    for (method, path) in &documented {
        let answer = server.send(method, &concrete(path), Some(Role::Admin), "application/json", b"{}");
        assert_ne!(answer.status, 405, "{method} {path}: {:?}", answer.body);
        assert!(answer.status < 500, "{method} {path}: {:?}", answer.body);
        assert_ne!(answer.body["error"]["code"], "route_not_found", "{method} {path} is documented but not routed");
    }
    // What is not routed answers in the error shape.
    assert_error(&server.get("/no/such/route", Role::Admin), 404, "route_not_found");
    let wrong = server.send("PATCH", "/schemas", Some(Role::Admin), "application/json", b"{}");
    assert_error(&wrong, 405, "method_not_allowed");
}

#[test]
fn every_route_but_health_needs_a_valid_token() {
    let server = TestServer::b2b();
    let document = server.get("/openapi.json", Role::Viewer).body;
    for (method, path) in operations(&document) {
        let path = concrete(&path);
        let anonymous = server.send(&method, &path, None, "application/json", b"{}");
        if method == "GET" && path == "/health" {
            assert_eq!(anonymous.status, 200);
            assert_eq!(anonymous.body["status"], "ok");
            continue;
        }
        assert_error(&anonymous, 401, "unauthorized");
    }
    // A wrong token, a token of another scheme and a truncated one are refused alike.
    let real = server.tokens[&Role::Admin].clone();
    for header in [format!("Bearer {}", &real[..real.len() - 1]), format!("Basic {real}"), "Bearer ".to_owned()] {
        let response = ureq::get(&format!("{}/schemas", server.base)).set("Authorization", &header).call();
        let Err(ureq::Error::Status(status, response)) = response else { panic!("{header}: not refused") };
        assert_eq!(status, 401);
        assert_eq!(response.header("WWW-Authenticate"), Some("Bearer"));
    }
}

#[test]
fn roles_are_enforced_per_operation() {
    let server = TestServer::b2b();
    let namespace = json!({"code": "crmId", "name": "CRM id", "idType": "cross-device"});
    // Reading: every role.
    for role in Role::ALL {
        assert_eq!(server.get("/namespaces", role).status, 200, "{role}");
    }
    // Schema and namespace changes: engineer and admin only.
    for role in [Role::Viewer, Role::Marketer] {
        let error = assert_error(&server.post("/namespaces", role, &namespace), 403, "forbidden");
        assert!(error["message"].as_str().unwrap().contains(role.as_str()), "{error}");
        assert_error(&server.post("/schemas/generate-b2b", role, &json!({})), 403, "forbidden");
    }
    assert_eq!(server.post("/namespaces", Role::Engineer, &namespace).status, 201);
    let other = json!({"code": "erpId", "name": "ERP id", "idType": "cross-device"});
    assert_eq!(server.post("/namespaces", Role::Admin, &other).status, 201);
}

#[test]
fn bad_request_bodies_answer_in_the_error_shape() {
    let server = TestServer::b2b();
    // Not JSON: 400 with the line and column of the fault (line 2, column 9: where the value should be).
    let answer = server.send("POST", "/namespaces", Some(Role::Admin), "application/json", b"{\n \"code\": }");
    let error = assert_error(&answer, 400, "malformed_json");
    assert_eq!((error["details"][0]["line"].clone(), error["details"][0]["column"].clone()), (json!(2), json!(10)));
    // JSON of the wrong shape: 422 naming the field.
    let answer = server.post("/namespaces", Role::Admin, &json!({"code": 5, "name": "x", "idType": "email"}));
    let error = assert_error(&answer, 422, "invalid_body");
    assert_eq!(error["details"][0]["path"], "code", "{error}");
    // An unknown field is refused, not ignored.
    let answer = server.post("/namespaces", Role::Admin, &json!({"code": "a", "name": "a", "idType": "email", "x": 1}));
    assert_error(&answer, 422, "invalid_body");
    // Valid JSON, bad value: 422 naming the value.
    let answer = server.post("/namespaces", Role::Admin, &json!({"code": "a", "name": "a", "idType": "telepathy"}));
    let error = assert_error(&answer, 422, "invalid");
    assert!(error["message"].as_str().unwrap().contains("telepathy"), "{error}");
    // No JSON content type.
    let answer = server.send("POST", "/namespaces", Some(Role::Admin), "text/plain", b"{}");
    assert_error(&answer, 415, "unsupported_media_type");
    // A bad pagination query.
    assert_error(&server.get("/namespaces?limit=0", Role::Viewer), 400, "bad_request");
    assert_error(&server.get("/namespaces?limit=abc", Role::Viewer), 400, "invalid_query");
}

#[test]
fn pages_follow_next_until_every_item_was_seen_once() {
    let server = TestServer::b2b();
    let all = server.get("/namespaces?limit=1000", Role::Viewer).body;
    let all: Vec<Value> = all["results"].as_array().unwrap().iter().map(|ns| ns["code"].clone()).collect();
    assert!(all.len() > 3, "{all:?}");
    assert!(all.contains(&json!("Email")) && all.contains(&json!("b2b_person")), "{all:?}");
    let mut seen = Vec::new();
    let mut start = Some(0u64);
    let mut pages = 0;
    while let Some(at) = start {
        let page = server.get(&format!("/namespaces?limit=3&start={at}"), Role::Viewer).body;
        let results = page["results"].as_array().unwrap();
        assert_eq!(page["_page"]["count"], json!(results.len()));
        assert!(results.len() <= 3);
        seen.extend(results.iter().map(|ns| ns["code"].clone()));
        start = page["_page"]["next"].as_u64();
        pages += 1;
    }
    assert_eq!(seen, all);
    assert_eq!(pages, all.len().div_ceil(3));
}

#[test]
fn an_unknown_task_is_404() {
    let server = TestServer::b2b();
    assert_error(&server.get("/tasks/12345", Role::Viewer), 404, "not_found");
    let tasks = server.get("/tasks", Role::Viewer);
    assert_eq!((tasks.status, tasks.body["results"].clone()), (200, json!([])));
}

#[test]
fn issue_9_a_token_learns_its_role_and_permissions() {
    let server = TestServer::start(|_| {});
    // By hand, from the role table (docs/api.md): every role reads; a marketer also manages audiences and
    // activation, an engineer data and audiences, an admin everything.
    let want = [
        (Role::Viewer, json!(["read"])),
        (Role::Marketer, json!(["read", "audiences", "activation"])),
        (Role::Engineer, json!(["read", "data", "audiences"])),
        (Role::Admin, json!(["read", "data", "audiences", "activation", "admin"])),
    ];
    for (role, permissions) in want {
        let answer = server.get("/auth/me", role);
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(answer.body, json!({"name": role.as_str(), "role": role.as_str(), "permissions": permissions}));
    }
    assert_error(&server.send("GET", "/auth/me", None, "application/json", b""), 401, "unauthorized");
}

#[test]
fn lists_filter_on_their_items_properties_before_paging() {
    let server = TestServer::b2b();
    // The eleven B2B namespaces of the reference (B2B-DOMAIN.md b.1), whatever case the filter is written in.
    let b2b = server.get("/namespaces?limit=1000&property=code~=B2B_", Role::Viewer).body;
    let mut codes: Vec<&str> = b2b["results"].as_array().unwrap().iter().map(|n| n["code"].as_str().unwrap()).collect();
    codes.sort_unstable();
    let mut expected = vec![
        "b2b_person",
        "b2b_account",
        "b2b_opportunity",
        "b2b_opportunity_person_relation",
        "b2b_campaign",
        "b2b_campaign_member",
        "b2b_marketing_list",
        "b2b_marketing_list_member",
        "b2b_account_person_relation",
        "b2b_demandbase_account_intent",
        "b2b_bombora_account_intent",
    ];
    expected.sort_unstable();
    assert_eq!(codes, expected);
    let email = server.get("/namespaces?property=code==Email", Role::Viewer).body;
    assert_eq!((email["results"][0]["code"].clone(), email["_page"]["count"].clone()), (json!("Email"), json!(1)));

    // Two store batches: the first with 3 rejected rows of 10, the second with none (2 rows).
    crate::batches::ingest(
        &server,
        Some(30.0),
        &[("contacts-1.csv", crate::batches::CONTACTS), ("contacts-2.csv", crate::batches::MORE_CONTACTS)],
    );
    let with_errors = server.get("/datasets/salesforce.contact/batches?property=rows_rejected!=0", Role::Viewer).body;
    let rows: Vec<(Value, Value)> = with_errors["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["rows_read"].clone(), b["rows_rejected"].clone()))
        .collect();
    assert_eq!(rows, vec![(json!(10), json!(3))]);
    let clean =
        server.get("/datasets/salesforce.contact/batches?property=rows_rejected==0,state==success", Role::Viewer);
    assert_eq!(clean.body["results"].as_array().unwrap().len(), 1, "{:?}", clean.body);
    assert_eq!(clean.body["results"][0]["rows_read"], 2);
    // A condition without an operator is the caller's fault.
    let bad = assert_error(&server.get("/namespaces?property=code", Role::Viewer), 400, "bad_request");
    assert!(bad["message"].as_str().unwrap().contains("no operator"), "{bad:?}");
}
