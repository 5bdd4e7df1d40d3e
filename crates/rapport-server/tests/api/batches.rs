//! Datasets and batch ingestion: create → upload → complete as a task, partial ingestion and the threshold,
//! exactly as `rapport ingest` loads a file.

use rapport_engine::Role;
use serde_json::{json, Value};

use crate::support::{assert_error, TestServer};

/// 10 data rows (lines 2 to 11), three of them bad: line 3 has an empty `Id`, line 4 a date Salesforce does not
/// write, line 5 only 2 fields. 3 of 10 rejected = 30 %.
pub const CONTACTS: &str = "Id,Email,FirstName,LastName,LastModifiedDate
003A01,a01@acme.com,Ada,One,2024-03-01T10:00:00.000Z
,a02@acme.com,Ben,Two,2024-03-01T10:00:00.000Z
003A03,a03@acme.com,Cal,Three,31/12/2023
003A04,a04@acme.com
003A05,a05@acme.com,Eve,Five,2024-03-01T10:00:00.000Z
003A06,a06@acme.com,Fay,Six,2024-03-01T10:00:00.000Z
003A07,a07@acme.com,Gus,Seven,2024-03-01T10:00:00.000Z
003A08,a08@acme.com,Hal,Eight,2024-03-01T10:00:00.000Z
003A09,a09@acme.com,Ivy,Nine,2024-03-01T10:00:00.000Z
003A10,a10@acme.com,Jon,Ten,2024-03-01T10:00:00.000Z
";

/// Two good rows.
pub const MORE_CONTACTS: &str = "Id,Email,FirstName,LastName,LastModifiedDate
003B01,b01@acme.com,Kim,Eleven,2024-03-02T10:00:00.000Z
003B02,b02@acme.com,Lou,Twelve,2024-03-02T10:00:00.000Z
";

/// The three rejected rows of [`CONTACTS`], as the API lists them (file, line, path, code, message).
fn contacts_errors(file: &str) -> Value {
    json!([
        {"file": file, "line": 3, "path": "Id", "code": "missing_id",
         "message": "the record id is empty, so the record has no primary identity"},
        {"file": file, "line": 4, "path": "LastModifiedDate", "code": "bad_date",
         "message": "\"31/12/2023\" is not a Salesforce date-time (expected YYYY-MM-DDTHH:MM:SS.sssZ)"},
        {"file": file, "line": 5, "path": null, "code": "unparsable",
         "message": "the row has 2 fields but the header has 5"},
    ])
}

fn upload(server: &TestServer, batch: &str, dataset: &str, name: &str, body: &str) -> crate::support::Answer {
    let path = format!("/batches/{batch}/datasets/{dataset}/files/{name}");
    server.send("PUT", &path, Some(Role::Engineer), "text/csv", body.as_bytes())
}

fn without_offsets(rows: &Value) -> Value {
    let mut rows = rows.clone();
    for row in rows.as_array_mut().unwrap() {
        row.as_object_mut().unwrap().remove("offset");
    }
    rows
}

/// Creates a batch, uploads `files`, completes it and waits for its task; answers the task and the batch.
pub fn ingest(server: &TestServer, threshold: Option<f64>, files: &[(&str, &str)]) -> (Value, Value) {
    let mut body = json!({"datasetId": "salesforce.contact", "inputFormat": {"format": "csv"}, "instance": "org"});
    if let Some(threshold) = threshold {
        body["errorThreshold"] = json!(threshold);
    }
    let created = server.post("/batches", Role::Engineer, &body);
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["status"], "loading");
    let id = created.body["id"].as_str().unwrap().to_owned();
    for (name, text) in files {
        let answer = upload(server, &id, "salesforce.contact", name, text);
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(answer.body, json!({"name": name, "bytes": text.len()}));
    }
    let completed = server.post(&format!("/batches/{id}?action=COMPLETE"), Role::Engineer, &json!({}));
    assert_eq!(completed.status, 202, "{:?}", completed.body);
    let task_id = completed.body["taskId"].as_str().unwrap().to_owned();
    assert_eq!(completed.location.as_deref(), Some(format!("/tasks/{task_id}").as_str()));
    let task = server.wait_task(&task_id);
    let batch = server.get(&format!("/batches/{id}"), Role::Viewer);
    assert_eq!(batch.status, 200);
    (task, batch.body)
}

#[test]
fn a_batch_at_its_threshold_loads_the_good_rows_and_lists_the_bad_ones() {
    let server = TestServer::b2b();
    let (task, batch) = ingest(&server, Some(30.0), &[("contacts-1.csv", CONTACTS), ("contacts-2.csv", MORE_CONTACTS)]);
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["kind"], "batch.complete");
    assert_eq!(batch["status"], "success", "{batch}");
    // 12 rows read, 3 rejected (all in the first file), 9 stored.
    assert_eq!(batch["metrics"], json!({"rowsRead": 12, "rowsIngested": 9, "rowsRejected": 3}));
    let files = batch["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["storeBatch"]["state"], "success");
    assert_eq!(files[0]["storeBatch"]["files"], json!(["contacts-1.csv"]));
    assert_eq!(
        (files[1]["storeBatch"]["rows_read"].clone(), files[1]["storeBatch"]["rows_rejected"].clone()),
        (json!(2), json!(0))
    );
    let id = batch["id"].as_str().unwrap();
    let failed = server.get(&format!("/batches/{id}/failed"), Role::Viewer);
    assert_eq!(failed.status, 200);
    assert_eq!(without_offsets(&failed.body["results"]), contacts_errors("contacts-1.csv"));
    assert_eq!(failed.body["_page"], json!({"count": 3, "next": null}));
    // The dataset now exists, with its two store batches.
    let dataset = server.get("/datasets/salesforce.contact", Role::Viewer);
    assert_eq!(dataset.status, 200, "{:?}", dataset.body);
    assert_eq!(dataset.body["batches"], json!({"success": 2}));
    let store_batches = server.get("/datasets/salesforce.contact/batches", Role::Viewer).body;
    assert_eq!(store_batches["_page"]["count"], 2);
    // A completed batch takes no more files and cannot complete again.
    assert_error(&upload(&server, id, "salesforce.contact", "late.csv", MORE_CONTACTS), 409, "conflict");
    assert_error(&server.post(&format!("/batches/{id}?action=COMPLETE"), Role::Engineer, &json!({})), 409, "conflict");
}

#[test]
fn a_batch_over_its_threshold_stores_nothing_and_still_lists_the_bad_rows() {
    let server = TestServer::b2b();
    // 30 % rejected against 29.99 % tolerated.
    let (task, batch) = ingest(&server, Some(29.99), &[("contacts.csv", CONTACTS)]);
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(batch["status"], "failed", "{batch}");
    assert_eq!(batch["metrics"], json!({"rowsRead": 10, "rowsIngested": 0, "rowsRejected": 3}));
    let store = &batch["files"][0]["storeBatch"];
    assert_eq!(
        (store["state"].clone(), store["reason"]["code"].clone()),
        (json!("failed"), json!("threshold_exceeded"))
    );
    let id = batch["id"].as_str().unwrap();
    let failed = server.get(&format!("/batches/{id}/failed?limit=2"), Role::Viewer).body;
    assert_eq!(failed["_page"], json!({"count": 2, "next": 2}));
    let rest = server.get(&format!("/batches/{id}/failed?limit=2&start=2"), Role::Viewer).body;
    let mut all = failed["results"].as_array().unwrap().clone();
    all.extend(rest["results"].as_array().unwrap().iter().cloned());
    assert_eq!(without_offsets(&json!(all)), contacts_errors("contacts.csv"));
    // Nothing of the file is stored: no profile holds its first (good) row's email.
    let lookup = server.get("/access/entities?entityIdNS=Email&entityId=a01@acme.com", Role::Viewer);
    assert_error(&lookup, 404, "not_found");
}

#[test]
fn batch_requests_are_checked_before_anything_is_staged() {
    let server = TestServer::b2b();
    let good = json!({"datasetId": "salesforce.contact", "inputFormat": {"format": "csv"}});
    for role in [Role::Viewer, Role::Marketer] {
        assert_error(&server.post("/batches", role, &good), 403, "forbidden");
    }
    let answer = server.post(
        "/batches",
        Role::Engineer,
        &json!({"datasetId": "nothing.here", "inputFormat": {"format": "csv"}}),
    );
    let error = assert_error(&answer, 422, "invalid");
    assert!(error["message"].as_str().unwrap().contains("salesforce.contact"), "{error}");
    let answer = server.post(
        "/batches",
        Role::Engineer,
        &json!({"datasetId": "salesforce.contact", "inputFormat": {"format": "parquet"}}),
    );
    assert_error(&answer, 422, "invalid");
    let answer = server.post(
        "/batches",
        Role::Engineer,
        &json!({"datasetId": "salesforce.contact", "inputFormat": {"format": "csv"}, "errorThreshold": 101}),
    );
    assert_error(&answer, 422, "invalid");
    let answer = server.post("/batches", Role::Engineer, &json!({"inputFormat": {"format": "csv"}}));
    let error = assert_error(&answer, 422, "invalid_body");
    assert!(error["message"].as_str().unwrap().contains("datasetId"), "{error}");
    let id = server.post("/batches", Role::Engineer, &good).body["id"].as_str().unwrap().to_owned();
    // Another dataset in the path, a bad name, an unknown batch, completing with no file, an unknown action.
    assert_error(&upload(&server, &id, "salesforce.account", "a.csv", CONTACTS), 400, "bad_request");
    // A name holding a path separator (percent-encoded; a `..` segment never reaches a server: HTTP clients
    // fold dot segments away before sending).
    assert_error(&upload(&server, &id, "salesforce.contact", "..%2Fescape.csv", CONTACTS), 400, "bad_request");
    assert_error(&upload(&server, "b999", "salesforce.contact", "a.csv", CONTACTS), 404, "not_found");
    assert_error(&server.post(&format!("/batches/{id}?action=COMPLETE"), Role::Engineer, &json!({})), 422, "invalid");
    assert_error(&server.post(&format!("/batches/{id}?action=ABORT"), Role::Engineer, &json!({})), 400, "bad_request");
    assert_error(&server.get("/batches/b999", Role::Viewer), 404, "not_found");
}

#[test]
fn an_upload_over_the_limit_is_413() {
    let options = rapport_server::ServeOptions { upload_limit: 64, ..rapport_server::ServeOptions::default() };
    let server = TestServer::start_with(options, |engine| {
        engine.generate_b2b_schemas().unwrap();
    });
    let body = json!({"datasetId": "salesforce.contact", "inputFormat": {"format": "csv"}});
    let id = server.post("/batches", Role::Engineer, &body).body["id"].as_str().unwrap().to_owned();
    assert_eq!(upload(&server, &id, "salesforce.contact", "small.csv", &"x".repeat(64)).status, 200);
    assert_error(&upload(&server, &id, "salesforce.contact", "big.csv", &"x".repeat(65)), 413, "payload_too_large");
    // The refused upload left nothing staged: only the accepted file is under uploads/.
    let staged: Vec<_> = std::fs::read_dir(server.dir.path().join("uploads").join(&id))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(staged, vec!["0".to_owned()]);
}

#[test]
fn a_large_upload_is_staged_byte_for_byte() {
    // 5 MB, under the upload limit (256 MB by default): staged exactly as sent.
    let server = TestServer::b2b();
    let body = json!({"datasetId": "salesforce.contact", "inputFormat": {"format": "csv"}});
    let id = server.post("/batches", Role::Engineer, &body).body["id"].as_str().unwrap().to_owned();
    let line = "\"003000000000001AAA\",\"Ada\",\"Lovelace\",\"ada@example.com\"\n";
    let text = line.repeat(5 * 1024 * 1024 / line.len() + 1);
    let answer = upload(&server, &id, "salesforce.contact", "Contact.csv", &text);
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["bytes"], text.len() as u64);
    let staged = std::fs::read(server.dir.path().join("uploads").join(&id).join("0")).unwrap();
    assert!(staged == text.as_bytes(), "the staged file differs from the upload");
}

#[test]
fn datasets_are_created_listed_and_shown() {
    let server = TestServer::b2b();
    let created = server.post("/datasets", Role::Engineer, &json!({"name": "web.person", "schemaId": "B2B Person"}));
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["schemaRef"], "https://ns.adobe.com/rapport/schemas/b2b-person");
    assert_eq!(created.body["entity"], "person");
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(server.get(&format!("/datasets/{id}"), Role::Viewer).body["name"], "web.person");
    assert_eq!(server.get("/datasets", Role::Viewer).body["_page"]["count"], 1);
    let again = server.post("/datasets", Role::Engineer, &json!({"name": "web.person", "schemaId": "B2B Person"}));
    assert_error(&again, 409, "conflict");
    let unknown = server.post("/datasets", Role::Engineer, &json!({"name": "x", "schemaId": "Nothing"}));
    assert_error(&unknown, 422, "invalid");
    assert_error(
        &server.post("/datasets", Role::Marketer, &json!({"name": "y", "schemaId": "B2B Person"})),
        403,
        "forbidden",
    );
    assert_error(&server.get("/datasets/nothing", Role::Viewer), 404, "not_found");
}

#[test]
fn an_inlet_created_through_the_api_accepts_messages_at_once() {
    let server = TestServer::b2b();
    let dataset = server.post("/datasets", Role::Engineer, &json!({"name": "web.person", "schemaId": "B2B Person"}));
    assert_eq!(dataset.status, 201, "{:?}", dataset.body);
    assert_error(&server.post("/inlets", Role::Marketer, &json!({"name": "web"})), 403, "forbidden");
    assert_error(&server.post("/inlets", Role::Engineer, &json!({"name": "  "})), 422, "invalid");
    let schema = "https://ns.adobe.com/rapport/schemas/b2b-person";
    let message = json!({
        "header": {"schemaRef": {"id": schema}, "datasetId": "web.person"},
        "body": {"xdmMeta": {"schemaRef": {"id": schema}},
                 "xdmEntity": {"b2b": {"personKey": {"sourceKey": "p1@web"}}, "workEmail": {"address": "a@b.example"}}}
    });
    // No inlet of that id yet: the message is refused.
    assert_eq!(server.post("/collection/nothing", Role::Engineer, &message).status, 404);

    let created = server.post("/inlets", Role::Engineer, &json!({"name": "web"}));
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["url"], format!("/collection/{id}"));
    assert_eq!(server.get("/inlets", Role::Viewer).body["results"][0]["id"], id.as_str());
    let accepted = server.post(&format!("/collection/{id}"), Role::Engineer, &message);
    assert_eq!(accepted.status, 200, "{:?}", accepted.body);
    assert_eq!(accepted.body["inletId"], id.as_str());
    // The streamed person is stored: its profile answers.
    let profile = server.get("/access/entities?entity=person&entityIdNS=b2b_person&entityId=p1@web", Role::Viewer);
    assert_eq!(profile.status, 200, "{:?}", profile.body);
}

#[test]
fn issue_9_store_batches_answer_their_throughput_and_rejected_rows() {
    let server = TestServer::b2b();
    let (_, batch) = ingest(&server, Some(30.0), &[("contacts-1.csv", CONTACTS), ("contacts-2.csv", MORE_CONTACTS)]);
    let store_ids: Vec<i64> =
        batch["files"].as_array().unwrap().iter().map(|f| f["storeBatchId"].as_i64().unwrap()).collect();

    // Two store batches, oldest first: 10 rows read, 7 stored, 3 rejected; then 2, 2, 0.
    let answer = server.get("/ingestion/throughput", Role::Viewer);
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let batches = answer.body["results"].as_array().unwrap();
    assert_eq!(batches.len(), 2, "{batches:?}");
    let counts: Vec<(i64, &str, &str, u64, u64, u64)> = batches
        .iter()
        .map(|b| {
            (
                b["id"].as_i64().unwrap(),
                b["dataset"].as_str().unwrap(),
                b["state"].as_str().unwrap(),
                b["rowsRead"].as_u64().unwrap(),
                b["rowsIngested"].as_u64().unwrap(),
                b["rowsRejected"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            (store_ids[0], "salesforce.contact", "success", 10, 7, 3),
            (store_ids[1], "salesforce.contact", "success", 2, 2, 0)
        ]
    );
    for b in batches {
        // The duration is completion minus creation; rows per second is rows read over it.
        let seconds = b["seconds"].as_f64().unwrap();
        assert!(seconds >= 0.0, "{b}");
        assert!(b["createdAt"].is_string() && b["completedAt"].is_string(), "{b}");
        if seconds > 0.0 {
            let want = b["rowsRead"].as_f64().unwrap() / seconds;
            assert!((b["rowsPerSecond"].as_f64().unwrap() - want).abs() < 1e-6, "{b}");
        } else {
            assert!(b["rowsPerSecond"].is_null(), "{b}");
        }
    }

    // The rejected rows of one store batch, whatever loaded it: the first file's three, none in the second.
    let failed = server.get(&format!("/datasets/salesforce.contact/batches/{}/failed", store_ids[0]), Role::Viewer);
    assert_eq!(failed.status, 200, "{:?}", failed.body);
    assert_eq!(without_offsets(&failed.body["results"]), contacts_errors("contacts-1.csv"));
    let none = server.get(&format!("/datasets/salesforce.contact/batches/{}/failed", store_ids[1]), Role::Viewer);
    assert_eq!(none.body["results"], json!([]));
    assert_error(&server.get("/datasets/salesforce.contact/batches/999999/failed", Role::Viewer), 404, "not_found");
    assert_error(&server.get("/datasets/salesforce.contact/batches/first/failed", Role::Viewer), 400, "invalid_path");
    assert_error(&server.get("/datasets/nothing/batches/1/failed", Role::Viewer), 404, "not_found");
}

#[test]
fn the_connector_catalogue_lists_each_systems_tables() {
    let server = TestServer::b2b();
    let answer = server.get("/connectors?limit=1000", Role::Viewer);
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let tables = answer.body["results"].as_array().unwrap().clone();
    for system in ["salesforce", "dynamics", "marketo"] {
        assert!(tables.iter().any(|t| t["system"] == system), "{system} is missing");
    }
    // Salesforce's Contact export: a person row per contact, keyed by `Id`, read from Contact.csv, stored in the
    // dataset the batch API loads (`salesforce.contact`), reading the columns of a Data Loader export.
    let contact = tables.iter().find(|t| t["system"] == "salesforce" && t["table"] == "Contact").unwrap();
    assert_eq!(
        (&contact["entity"], &contact["dataset"], &contact["idColumn"], &contact["sourceType"]),
        (&json!("person"), &json!("salesforce.contact"), &json!("Id"), &json!("Salesforce"))
    );
    assert!(contact["files"].as_array().unwrap().contains(&json!("contact")), "{contact}");
    for column in ["Id", "Email", "FirstName", "LastName"] {
        assert!(contact["columns"].as_array().unwrap().contains(&json!(column)), "{column}: {contact}");
    }
    assert!(contact["targets"].as_array().unwrap().contains(&json!("workEmail.address")), "{contact}");
    // The list filters like every list.
    let marketo = server.get("/connectors?limit=1000&property=system==marketo", Role::Viewer).body;
    let marketo = marketo["results"].as_array().unwrap();
    assert!(!marketo.is_empty() && marketo.iter().all(|t| t["sourceType"] == "Marketo"), "{marketo:?}");
}
