//! Destinations and activation flows over HTTP: creation by role, secrets masked, a flow run as a task whose
//! file holds exactly the audience (counted by hand from the test's leads), the run history.

use rapport_engine::Role;
use serde_json::json;

use crate::audiences::leads_server;
use crate::support::{assert_error, TestServer};

fn delete(server: &TestServer, path: &str, role: Role) -> crate::support::Answer {
    server.send("DELETE", path, Some(role), "application/json", b"")
}

#[test]
fn issue_9_destinations_are_created_by_marketers_with_secrets_masked() {
    let server = leads_server();
    let out = tempfile::tempdir().unwrap();
    let folder = out.path().join("files").display().to_string();
    let file = json!({"name": "files", "config": {"type": "file", "folder": folder}});
    assert_error(&server.post("/destinations", Role::Viewer, &file), 403, "forbidden");
    assert_error(&server.post("/destinations", Role::Engineer, &file), 403, "forbidden");
    let created = server.post("/destinations", Role::Marketer, &file);
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!((created.body["name"].clone(), created.body["kind"].clone()), (json!("files"), json!("file")));
    assert_eq!(created.body["config"]["folder"], folder);
    assert_error(&server.post("/destinations", Role::Marketer, &file), 409, "conflict");

    // Bad settings are named: a file destination without its folder, an unknown type, a bad name.
    let no_folder = server.post("/destinations", Role::Marketer, &json!({"name": "x", "config": {"type": "file"}}));
    let error = assert_error(&no_folder, 400, "bad_request");
    assert!(error["message"].as_str().unwrap().contains("folder"), "{error}");
    assert_eq!(error["details"][0]["path"], "config");
    let unknown = server.post("/destinations", Role::Marketer, &json!({"name": "x", "config": {"type": "fax"}}));
    assert_error(&unknown, 400, "bad_request");
    assert_error(
        &server.post(
            "/destinations",
            Role::Marketer,
            &json!({"name": "", "config": {"type": "file", "folder": folder}}),
        ),
        400,
        "bad_request",
    );

    // A Marketo destination's client secret never comes back.
    let secret = "s3cr3t-value-for-test";
    let marketo = json!({"name": "mkto", "config": {"type": "marketo", "base_url": "http://127.0.0.1:9", "client_id": "id", "client_secret": secret}});
    let created = server.post("/destinations", Role::Admin, &marketo);
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["config"]["client_secret"], "***");
    let listed = server.get("/destinations", Role::Viewer);
    assert!(!listed.body.to_string().contains(secret));
    let names: Vec<_> = listed.body["results"].as_array().unwrap().iter().map(|d| d["name"].clone()).collect();
    assert_eq!(names, vec![json!("files"), json!("mkto")]);
    assert_eq!(server.get("/destinations/mkto", Role::Viewer).body["config"]["client_secret"], "***");
    assert_error(&server.get("/destinations/none", Role::Viewer), 404, "not_found");

    // Testing a file destination checks its folder can be written; a viewer may not test.
    assert_error(&server.post("/destinations/files/test", Role::Viewer, &json!({})), 403, "forbidden");
    let tested = server.post("/destinations/files/test", Role::Marketer, &json!({}));
    assert_eq!(tested.status, 200, "{:?}", tested.body);
    assert!(tested.body["message"].as_str().unwrap().contains("writable"), "{:?}", tested.body);
}

#[test]
fn issue_9_an_activation_flow_runs_as_a_task_and_writes_the_audience() {
    let server = leads_server();
    let out = tempfile::tempdir().unwrap();
    let folder = out.path().join("files");
    server.post(
        "/segment/definitions",
        Role::Marketer,
        &json!({"name": "hot", "expression": {"value": "b2b.personScore >= 50"}}),
    );
    server.post(
        "/destinations",
        Role::Marketer,
        &json!({"name": "files", "config": {"type": "file", "folder": folder.display().to_string()}}),
    );
    let flow = json!({"name": "hot-files", "definition": {
        "destination": "files", "audiences": ["hot"], "identity": "Email",
        "mapping": [{"source": "person.name.firstName", "target": "firstName"}]}});
    assert_error(&server.post("/activation/flows", Role::Viewer, &flow), 403, "forbidden");
    let created = server.post("/activation/flows", Role::Marketer, &flow);
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["definition"]["audiences"], json!(["hot"]));
    assert_error(&server.post("/activation/flows", Role::Marketer, &flow), 409, "conflict");
    // A definition that does not fit (an unknown key), a destination or audience that does not exist.
    let odd = json!({"name": "odd", "definition": {"destination": "files", "audiences": ["hot"], "colour": 1}});
    assert_eq!(
        assert_error(&server.post("/activation/flows", Role::Marketer, &odd), 400, "bad_request")["details"][0]["path"],
        "definition"
    );
    let nowhere = json!({"name": "nowhere", "definition": {"destination": "none", "audiences": ["hot"]}});
    assert_error(&server.post("/activation/flows", Role::Marketer, &nowhere), 404, "not_found");
    let no_audience = json!({"name": "nobody", "definition": {"destination": "files", "audiences": ["cold"]}});
    assert_error(&server.post("/activation/flows", Role::Marketer, &no_audience), 404, "not_found");
    assert_eq!(server.get("/activation/flows", Role::Viewer).body["_page"]["count"], 1);
    assert_eq!(server.get("/activation/flows/hot-files", Role::Viewer).body["name"], "hot-files");
    assert_error(&server.get("/activation/flows/none", Role::Viewer), 404, "not_found");

    // The audience can not be deleted while the flow sends it.
    assert_error(&delete(&server, "/segment/definitions/hot", Role::Marketer), 409, "conflict");

    assert_error(&server.post("/activation/flows/hot-files/runs", Role::Viewer, &json!({})), 403, "forbidden");
    assert_error(&server.post("/activation/flows/none/runs", Role::Marketer, &json!({})), 404, "not_found");
    let run = server.post("/activation/flows/hot-files/runs", Role::Marketer, &json!({}));
    assert_eq!(run.status, 202, "{:?}", run.body);
    let task = server.wait_task(run.body["taskId"].as_str().unwrap());
    assert_eq!(task["status"], "succeeded", "{task}");
    let report = &task["result"];
    assert_eq!(report["state"], "success", "{report}");
    let files = report["audiences"][0]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{report}");
    // The file, read from disk: a header and leads 8 to 14 (scores 56 to 98), by email with their first name.
    let text = std::fs::read_to_string(files[0]["path"].as_str().unwrap()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.remove(0).replace('"', ""), "Email,firstName");
    let mut rows: Vec<String> = lines.iter().map(|l| l.replace('"', "")).collect();
    rows.sort();
    let mut want: Vec<String> = (8..=14).map(|i| format!("p{i}@acme.com,F{i}")).collect();
    want.sort();
    assert_eq!(rows, want);

    let runs = server.get("/activation/flows/hot-files/runs", Role::Viewer).body;
    assert_eq!(runs["_page"]["count"], 1, "{runs}");
    assert_eq!(runs["results"][0]["state"], "success");
    assert_eq!(runs["results"][0]["report"]["accepted"], 7);
    assert_error(&server.get("/activation/flows/none/runs", Role::Viewer), 404, "not_found");
}
