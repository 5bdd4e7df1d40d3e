//! Dataflows: create, run as a task, history.

use rapport_engine::Role;
use serde_json::json;

use crate::batches::CONTACTS;
use crate::support::{assert_error, TestServer};

#[test]
fn a_flow_runs_as_a_task_and_its_runs_are_listed() {
    let server = TestServer::b2b();
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("Contact.csv"), CONTACTS).unwrap();
    let source = json!({"kind": "crm", "system": "salesforce", "from": folder.path(), "instance": "org"});
    let body = json!({"name": "sf", "source": source, "errorThreshold": 30});
    assert_error(&server.post("/flows", Role::Marketer, &body), 403, "forbidden");
    let created = server.post("/flows", Role::Engineer, &body);
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["name"], "sf");
    assert_error(&server.post("/flows", Role::Engineer, &body), 409, "conflict");
    let bad = json!({"name": "bad", "source": {"kind": "ftp"}});
    assert_error(&server.post("/flows", Role::Engineer, &bad), 422, "invalid");
    let bad_schedule = json!({"name": "bad", "source": source, "every": "often"});
    assert_error(&server.post("/flows", Role::Engineer, &bad_schedule), 422, "invalid");

    let started = server.post("/flows/sf/runs", Role::Engineer, &json!({}));
    assert_eq!(started.status, 202, "{:?}", started.body);
    let task = server.wait_task(started.body["taskId"].as_str().unwrap());
    assert_eq!(task["status"], "succeeded", "{task}");
    // 10 rows read, 3 rejected, 7 stored (see `batches::CONTACTS`).
    let runs = server.get("/flows/sf/runs", Role::Viewer).body;
    assert_eq!(runs["_page"]["count"], 1);
    let run = &runs["results"][0];
    assert_eq!(
        (run["state"].clone(), run["rows_read"].clone(), run["rows_ingested"].clone(), run["rows_rejected"].clone()),
        (json!("success"), json!(10), json!(7), json!(3))
    );
    // A second run finds nothing new.
    let again = server.post("/flows/sf/runs", Role::Engineer, &json!({}));
    let task = server.wait_task(again.body["taskId"].as_str().unwrap());
    assert_eq!(task["status"], "succeeded", "{task}");
    let runs = server.get("/flows/sf/runs", Role::Viewer).body;
    assert_eq!(runs["results"][1]["rows_read"], 0);
    assert_eq!(server.get("/flows", Role::Viewer).body["_page"]["count"], 1);
    assert_eq!(server.get("/flows/sf", Role::Viewer).body["last_run"]["id"], runs["results"][1]["id"]);
    assert_error(&server.get("/flows/nothing", Role::Viewer), 404, "not_found");
    assert_error(&server.post("/flows/nothing/runs", Role::Engineer, &json!({})), 404, "not_found");
}
