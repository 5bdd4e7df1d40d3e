//! The streaming inlet over real HTTP on an ephemeral loopback port: answers, statuses and what the store holds.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use rapport_engine::{Durability, Engine, Role};
use rapport_model::{EntityKind, Identity};
use rapport_server::client::{HttpConnection, HttpResponse};
use rapport_server::routes::MAX_BODY_BYTES;
use rapport_server::{ServeOptions, Server};
use serde_json::{json, Value};
use tokio::sync::oneshot;

const PERSON: &str = "https://ns.adobe.com/rapport/schemas/b2b-person";
const ACCOUNT: &str = "https://ns.adobe.com/rapport/schemas/b2b-account";

struct Running {
    dir: tempfile::TempDir,
    addr: String,
    inlet: String,
    /// An engineer's token (engineers may stream).
    token: String,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<rapport_server::Result<()>>,
}

/// A server on a fresh data directory with the B2B schemas, dataset `web.person` (B2B Person) and one inlet.
async fn start() -> Running {
    start_with(Durability::Normal).await
}

/// [`start`] with acknowledgements that guarantee `durability`.
async fn start_with(durability: Durability) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(dir.path()).unwrap();
    engine.generate_b2b_schemas().unwrap();
    engine.create_dataset("web.person", PERSON).unwrap();
    let inlet = engine.create_inlet("web").unwrap().id;
    let token = engine.create_token("test", Role::Engineer).unwrap().token;
    let options = ServeOptions { durability, ..ServeOptions::default() };
    let server = Server::bind(engine, "127.0.0.1:0".parse().unwrap(), options).unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    Running { dir, addr, inlet, token, stop, done }
}

impl Running {
    async fn post(&self, path: &str, body: &[u8]) -> HttpResponse {
        let mut conn = HttpConnection::connect(&self.addr).await.unwrap().with_bearer(self.token.clone());
        conn.request("POST", path, body).await.unwrap()
    }

    async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self.post(path, body.to_string().as_bytes()).await;
        (response.status, response.json().unwrap())
    }

    /// Stops the server (draining the queue) and returns its data directory.
    async fn stop(self) -> tempfile::TempDir {
        self.stop.send(()).unwrap();
        self.done.await.unwrap().unwrap();
        self.dir
    }
}

fn envelope(schema: &str, dataset: &str, entity: Value) -> Value {
    json!({
        "header": {"schemaRef": {"id": schema, "contentType": "application/vnd.adobe.xed-full+json;version=1"},
                   "imsOrgId": "ORG@AdobeOrg", "datasetId": dataset, "source": {"name": "test"}},
        "body": {"xdmMeta": {"schemaRef": {"id": schema}}, "xdmEntity": entity}
    })
}

fn person(key: &str, email: &str, first: &str) -> Value {
    json!({"b2b": {"personKey": {"sourceKey": key}}, "workEmail": {"address": email},
           "person": {"name": {"firstName": first}}})
}

fn fragment_keys(dir: &Path) -> Vec<String> {
    let engine = Engine::open(dir).unwrap();
    let mut keys: Vec<String> =
        engine.store().fragments(EntityKind::Person).unwrap().into_iter().map(|f| f.primary.value).collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_message_is_acknowledged_once_stored_and_reaches_the_profile() {
    let server = start().await;
    let message = envelope(PERSON, "web.person", person("p1@web", "Jane.Doe@Example.com", "Jane"));
    let (status, answer) =
        server.post_json(&format!("/collection/{}?syncValidation=true", server.inlet), &message).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["inletId"], server.inlet.as_str());
    assert_eq!(answer["syncValidation"], json!({"status": "pass"}));
    let received = answer["receivedTimeMs"].as_i64().unwrap();
    let xaction = answer["xactionId"].as_str().unwrap();
    let parts: Vec<&str> = xaction.split(':').collect();
    assert_eq!(parts.len(), 3, "{xaction}");
    assert_eq!(parts[0], received.to_string());

    // Acknowledged means committed: a second connection sees the fragment and the profile while the server runs.
    let reader = Engine::open(server.dir.path()).unwrap();
    let fragments = reader.store().fragments(EntityKind::Person).unwrap();
    assert_eq!(fragments.len(), 1);
    assert_eq!(fragments[0].primary, Identity::new("b2b_person", "p1@web"));
    let profile = reader
        .store()
        .profile_by_identity(EntityKind::Person, &Identity::new("Email", "jane.doe@example.com"))
        .unwrap()
        .expect("the streamed person has a profile");
    assert_eq!(profile.primary, Identity::new("b2b_person", "p1@web"));
    assert_eq!(profile.record["person"]["name"]["firstName"], "Jane");
    let batches = reader.store().batches().unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].source, format!("stream:{}", server.inlet));
    assert_eq!((batches[0].rows_read, batches[0].rows_ingested, batches[0].rows_rejected), (1, 1, 0));
    drop(reader);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answers_207_per_message_and_keeps_the_valid_ones() {
    let server = start().await;
    let request = json!({"messages": [
        envelope(PERSON, "web.person", person("p2@web", "two@example.com", "Two")),
        envelope(PERSON, "web.person", person("p3@web", "not-an-email", "Three")),
        envelope(PERSON, "web.person", person("p4@web", "four@example.com", "Four")),
    ]});
    let (status, answer) = server.post_json(&format!("/collection/batch/{}", server.inlet), &request).await;
    assert_eq!(status, 207, "{answer}");
    let batch_id = answer["batchId"].as_str().unwrap();
    assert_eq!(answer["inletId"], server.inlet.as_str());
    let responses = answer["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 3);
    assert_eq!(responses[0], json!({"xactionId": format!("{batch_id}:0")}));
    assert_eq!(responses[2], json!({"xactionId": format!("{batch_id}:2")}));
    assert_eq!(responses[1]["statusCode"], 400);
    assert_eq!(responses[1]["xactionId"], format!("{batch_id}:1"));
    assert_eq!(
        responses[1]["errors"],
        json!([{"code": "invalid", "path": "body.xdmEntity.workEmail.address",
                "message": "\"not-an-email\" is not an email address (format)"}])
    );
    let dir = server.stop().await;
    assert_eq!(fragment_keys(dir.path()), vec!["p2@web", "p4@web"]);
    let engine = Engine::open(dir.path()).unwrap();
    let batches = engine.store().batches().unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!((batches[0].rows_read, batches[0].rows_ingested, batches[0].rows_rejected), (3, 2, 1));
    let rejected = engine.store().rejected_rows(batches[0].id).unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].file, format!("{batch_id}:1"));
    assert_eq!(rejected[0].field.as_deref(), Some("workEmail.address"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integer_too_large_for_64_bits_rejects_its_message_instead_of_storing_it_rounded() {
    let server = start().await;
    let scored = |key: &str, score: &str| {
        let text = person(key, &format!("{}@example.com", &key[..2]), "Any").to_string();
        text.replacen("{\"b2b\":{", &format!("{{\"b2b\":{{\"personScore\":{score},"), 1)
    };
    // Message 1's score is one above u64::MAX; message 2's fits, as does a float written with an exponent; the
    // header of message 3 carries a large integer in a field the inlet ignores.
    let envelope_text =
        |entity: String| envelope(PERSON, "web.person", json!("ENTITY")).to_string().replacen("\"ENTITY\"", &entity, 1);
    let third = envelope_text(person("p8@web", "p8@example.com", "Any").to_string()).replacen(
        "\"header\":{",
        "\"header\":{\"sequence\":123456789012345678901234,",
        1,
    );
    let body = format!(
        "{{\"messages\": [{}, {}, {}, {}]}}",
        envelope_text(scored("p5@web", "12")),
        envelope_text(scored("p6@web", "18446744073709551616")),
        envelope_text(scored("p7@web", "18446744073709551615")),
        third,
    );
    let response = server.post(&format!("/collection/batch/{}", server.inlet), body.as_bytes()).await;
    assert_eq!(response.status, 207);
    let answer = response.json().unwrap();
    let batch_id = answer["batchId"].as_str().unwrap();
    let statuses: Vec<u64> =
        answer["responses"].as_array().unwrap().iter().map(|r| r["statusCode"].as_u64().unwrap_or(200)).collect();
    assert_eq!(statuses, [200, 400, 200, 200], "{answer}");
    assert_eq!(
        answer["responses"][1]["errors"],
        json!([{"code": "invalid", "path": "body.xdmEntity.b2b.personScore",
                "message": "the integer 18446744073709551616 is too large for 64 bits and would lose digits as a number; \
                            write it as a string"}])
    );
    // One message alone: 400, with the same error.
    let one = envelope_text(scored("p9@web", "-100000000000000000000"));
    let response = server.post(&format!("/collection/{}", server.inlet), one.as_bytes()).await;
    assert_eq!(response.status, 400);
    let answer = response.json().unwrap();
    assert_eq!(answer["error"]["details"][0]["path"], "body.xdmEntity.b2b.personScore", "{answer}");
    let dir = server.stop().await;
    assert_eq!(fragment_keys(dir.path()), vec!["p5@web", "p7@web", "p8@web"]);
    // The refused message is kept among its batch's rejected rows, with the field and the literal.
    let engine = Engine::open(dir.path()).unwrap();
    let batches = engine.store().batches().unwrap();
    let first = batches.iter().find(|b| b.rows_read == 4).unwrap();
    assert_eq!((first.rows_ingested, first.rows_rejected), (3, 1));
    let rejected = engine.store().rejected_rows(first.id).unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].file, format!("{batch_id}:1"));
    assert_eq!(rejected[0].field.as_deref(), Some("b2b.personScore"));
    assert_eq!(rejected[0].code.name(), "bad_number");
    assert!(rejected[0].message.contains("18446744073709551616"), "{}", rejected[0].message);
    let stored = engine.store().fragments(EntityKind::Person).unwrap();
    let p7 = stored.iter().find(|f| f.primary.value == "p7@web").unwrap();
    assert_eq!(p7.record["b2b"]["personScore"], json!(18446744073709551615_u64));
}

/// Under durability `full` the answers come from the syncer thread once the log is synced, while the writer
/// goes on committing: concurrent requests each get every message's status, every acknowledged message is
/// stored when its answer arrives, and stopping the server answers everything before it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_full_durability_every_request_is_answered_after_its_commit_and_none_is_lost() {
    let server = std::sync::Arc::new(start_with(Durability::Full).await);
    let mut requests = Vec::new();
    for r in 0..8 {
        let server = server.clone();
        requests.push(tokio::spawn(async move {
            let messages: Vec<Value> = (0..25)
                .map(|m| {
                    // The last message of every other request is invalid.
                    let email =
                        if r % 2 == 0 && m == 24 { "not-an-email".to_owned() } else { format!("r{r}m{m}@example.com") };
                    envelope(PERSON, "web.person", person(&format!("r{r}m{m}@web"), &email, "Any"))
                })
                .collect();
            let (status, answer) = server
                .post_json(&format!("/collection/batch/{}", server.inlet), &json!({ "messages": messages }))
                .await;
            assert_eq!(status, 207, "{answer}");
            let statuses: Vec<u64> = answer["responses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["statusCode"].as_u64().unwrap_or(200))
                .collect();
            // Acknowledged means committed: another connection sees this request's valid messages now.
            let reader = Engine::open(server.dir.path()).unwrap();
            let stored: std::collections::HashSet<String> =
                reader.store().fragments(EntityKind::Person).unwrap().into_iter().map(|f| f.primary.value).collect();
            assert_eq!(statuses.len(), 25);
            for (m, status) in statuses.into_iter().enumerate() {
                let valid = !(r % 2 == 0 && m == 24);
                assert_eq!(status, if valid { 200 } else { 400 }, "request {r}, message {m}");
                assert_eq!(stored.contains(&format!("r{r}m{m}@web")), valid, "request {r}, message {m}");
            }
        }));
    }
    for request in requests {
        request.await.unwrap();
    }
    let server = std::sync::Arc::into_inner(server).unwrap();
    let dir = server.stop().await;
    let keys = fragment_keys(dir.path());
    assert_eq!(keys.len(), 8 * 25 - 4);
    let engine = Engine::open(dir.path()).unwrap();
    let batches = engine.store().batches().unwrap();
    assert_eq!(batches.iter().map(|b| b.rows_read).sum::<u64>(), 200);
    assert_eq!(batches.iter().map(|b| b.rows_rejected).sum::<u64>(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_without_header_or_body_get_their_own_400() {
    let server = start().await;
    let valid = envelope(PERSON, "web.person", person("p5@web", "five@example.com", "Five"));
    let request = json!({"messages": [
        {"body": valid["body"].clone()},
        {"header": valid["header"].clone()},
        valid,
    ]});
    let (status, answer) = server.post_json(&format!("/collection/batch/{}", server.inlet), &request).await;
    assert_eq!(status, 207, "{answer}");
    let responses = answer["responses"].as_array().unwrap();
    let summary: Vec<(Value, Value)> =
        responses.iter().map(|r| (r["statusCode"].clone(), r["errors"].clone())).collect();
    assert_eq!(
        summary,
        vec![
            (json!(400), json!([{"code": "missing_field", "path": "header", "message": "`header` is required"}])),
            (json!(400), json!([{"code": "missing_field", "path": "body", "message": "`body` is required"}])),
            (Value::Null, Value::Null),
        ]
    );
    let dir = server.stop().await;
    assert_eq!(fragment_keys(dir.path()), vec!["p5@web"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_other_than_the_datasets_or_an_unknown_dataset_is_refused() {
    let server = start().await;
    let wrong = envelope(ACCOUNT, "web.person", json!({"accountKey": {"sourceKey": "a1"}}));
    let (status, answer) = server.post_json(&format!("/collection/{}", server.inlet), &wrong).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_message");
    assert_eq!(answer["inletId"], server.inlet.as_str());
    let details = &answer["error"]["details"];
    assert_eq!(details[0]["code"], "schema_mismatch");
    assert_eq!(details[0]["path"], "header.schemaRef.id");
    assert_eq!(details[0]["message"], format!("dataset `web.person` holds schema `{PERSON}`, not `{ACCOUNT}`"));
    let unknown = envelope(PERSON, "web.nothing", person("p6@web", "six@example.com", "Six"));
    let (status, answer) = server.post_json(&format!("/collection/{}", server.inlet), &unknown).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["details"][0]["code"], "unknown_dataset");
    assert_eq!(answer["error"]["details"][0]["path"], "header.datasetId");
    // The dataset's numeric id names it too.
    let by_id = envelope(PERSON, "1", person("p7@web", "seven@example.com", "Seven"));
    let (status, answer) = server.post_json(&format!("/collection/{}", server.inlet), &by_id).await;
    assert_eq!(status, 200, "{answer}");
    let dir = server.stop().await;
    assert_eq!(fragment_keys(dir.path()), vec!["p7@web"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_a_400_naming_line_column_and_byte_offset() {
    let server = start().await;
    let body = b"{\"messages\": [\n  {\"header\": }\n]}";
    let response = server.post(&format!("/collection/batch/{}", server.inlet), body).await;
    assert_eq!(response.status, 400);
    let answer = response.json().unwrap();
    assert_eq!(answer["error"]["code"], "malformed_json");
    // Line 2 is `  {"header": }`: the `}` at column 14 is where a value was expected; 15 bytes precede line 2.
    assert_eq!(answer["error"]["details"], json!([{"line": 2, "column": 14, "offset": 28}]));
    assert_eq!(body[28], b'}');
    assert!(answer["error"]["message"].as_str().unwrap().contains("line 2 column 14"), "{answer}");
    // Cut off: the fault is where the 10 bytes end, on line 1 as on any other.
    for (body, line, end) in [(&b"{\"header\":"[..], 1, 10), (&b"{\"messages\": [\n  {\"header\":"[..], 2, 27)] {
        assert_eq!(body.len(), end);
        let response = server.post(&format!("/collection/batch/{}", server.inlet), body).await;
        let details = &response.json().unwrap()["error"]["details"][0];
        assert_eq!((details["line"].as_u64(), details["offset"].as_u64()), (Some(line), Some(end as u64)), "{details}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_one_megabyte_is_413_and_one_megabyte_is_accepted() {
    let server = start().await;
    let path = format!("/collection/batch/{}", server.inlet);
    let mut body = br#"{"messages": []}"#.to_vec();
    body.resize(MAX_BODY_BYTES, b' ');
    assert_eq!(body.len(), 1_048_576);
    let response = server.post(&path, &body).await;
    assert_eq!(response.status, 207);
    assert_eq!(response.json().unwrap()["responses"], json!([]));
    body.push(b' ');
    let response = server.post(&path, &body).await;
    assert_eq!(response.status, 413);
    assert_eq!(response.json().unwrap()["error"]["code"], "payload_too_large");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_inlet_is_404_until_it_is_created() {
    let server = start().await;
    let message = envelope(PERSON, "web.person", person("p8@web", "eight@example.com", "Eight"));
    let (status, answer) = server.post_json("/collection/0000", &message).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"]["code"], "unknown_inlet");
    let (status, _) = server.post_json("/collection/batch/0000", &json!({"messages": [message.clone()]})).await;
    assert_eq!(status, 404);
    // An inlet created while the server runs is found without a restart.
    let late = Engine::open(server.dir.path()).unwrap().create_inlet("late").unwrap().id;
    let (status, answer) = server.post_json(&format!("/collection/{late}"), &message).await;
    assert_eq!(status, 200, "{answer}");
    let mut conn = HttpConnection::connect(&server.addr).await.unwrap();
    let health = conn.request("GET", "/health", b"").await.unwrap();
    assert_eq!((health.status, health.json().unwrap()["status"].clone()), (200, json!("ok")));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_created_by_another_process_while_the_server_runs_is_found_at_once() {
    let server = start().await;
    let message = envelope(PERSON, "cli.person", person("p9@web", "nine@example.com", "Nine"));
    let path = format!("/collection/{}", server.inlet);
    let (status, answer) = server.post_json(&path, &message).await;
    assert_eq!((status, answer["error"]["details"][0]["code"].clone()), (400, json!("unknown_dataset")), "{answer}");
    Engine::open(server.dir.path()).unwrap().create_dataset("cli.person", PERSON).unwrap();
    let (status, answer) = server.post_json(&path, &message).await;
    assert_eq!(status, 200, "{answer}");
    let dir = server.stop().await;
    assert_eq!(fragment_keys(dir.path()), ["p9@web"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_registered_by_another_process_while_the_server_runs_is_found_at_once() {
    let server = start().await;
    // The activity class is registered with its first dataset, here by another process (`rapport dataset
    // create --schema "B2B Activity"` while the server runs).
    Engine::open(server.dir.path()).unwrap().create_dataset("web.events", "B2B Activity").unwrap();
    let event = json!({"_id": "e1", "eventType": "web.webpagedetails.pageViews",
                       "timestamp": "2026-12-01T10:00:00.000Z", "personKey": {"sourceKey": "p1@web"}});
    let message = envelope("https://ns.adobe.com/rapport/schemas/b2b-activity", "web.events", event);
    let path = format!("/collection/{}", server.inlet);
    let (status, answer) = server.post_json(&path, &message).await;
    assert_eq!(status, 200, "{answer}");
    let dir = server.stop().await;
    let batches = Engine::open(dir.path()).unwrap().store().batches().unwrap();
    let events: Vec<(&str, u64)> =
        batches.iter().filter(|b| b.dataset == "web.events").map(|b| (b.state.as_str(), b.rows_ingested)).collect();
    assert_eq!(events, [("success", 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_keeps_alive_across_requests_and_updates_replace_the_fragment() {
    let server = start().await;
    let mut conn = HttpConnection::connect(&server.addr).await.unwrap().with_bearer(server.token.clone());
    let path = format!("/collection/{}", server.inlet);
    for first in ["Ann", "Anna"] {
        let message = envelope(PERSON, "web.person", person("p9@web", "ann@example.com", first));
        let response = conn.request("POST", &path, message.to_string().as_bytes()).await.unwrap();
        assert_eq!(response.status, 200);
    }
    let dir = server.stop().await;
    let engine = Engine::open(dir.path()).unwrap();
    let profile = engine
        .store()
        .profile_by_identity(EntityKind::Person, &Identity::new("b2b_person", "p9@web"))
        .unwrap()
        .unwrap();
    assert_eq!(profile.fragment_count, 1);
    assert_eq!(profile.record["person"]["name"]["firstName"], "Anna");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inlet_refuses_a_missing_wrong_or_revoked_token_and_a_role_that_may_not_stream() {
    let server = start().await;
    let path = format!("/collection/{}", server.inlet);
    let message = envelope(PERSON, "web.person", person("p10@web", "ten@example.com", "Ten"));
    let body = message.to_string();
    let mut anonymous = HttpConnection::connect(&server.addr).await.unwrap();
    let response = anonymous.request("POST", &path, body.as_bytes()).await.unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(response.json().unwrap()["error"]["code"], "unauthorized");
    // A token with one hex digit changed is refused like an unknown one.
    let mut forged = server.token.clone();
    let last = if forged.ends_with('0') { '1' } else { '0' };
    forged.pop();
    forged.push(last);
    let mut wrong = HttpConnection::connect(&server.addr).await.unwrap().with_bearer(forged);
    assert_eq!(wrong.request("POST", &path, body.as_bytes()).await.unwrap().status, 401);
    let (viewer, marketer) = {
        let mut engine = Engine::open(server.dir.path()).unwrap();
        (
            engine.create_token("viewer", Role::Viewer).unwrap().token,
            engine.create_token("marketer", Role::Marketer).unwrap().token,
        )
    };
    for token in [viewer, marketer] {
        let mut conn = HttpConnection::connect(&server.addr).await.unwrap().with_bearer(token);
        let response = conn.request("POST", &path, body.as_bytes()).await.unwrap();
        assert_eq!(response.status, 403);
        assert_eq!(response.json().unwrap()["error"]["code"], "forbidden");
    }
    // Revoked by another process while the server runs: refused from the next request on.
    let (status, _) = server.post_json(&path, &message).await;
    assert_eq!(status, 200);
    Engine::open(server.dir.path()).unwrap().revoke_token("test").unwrap();
    let (status, answer) = server.post_json(&path, &message).await;
    assert_eq!(status, 401, "{answer}");
    let dir = server.stop().await;
    // Only the one message sent with a valid engineer's token was stored.
    assert_eq!(fragment_keys(dir.path()), vec!["p10@web"]);
}
