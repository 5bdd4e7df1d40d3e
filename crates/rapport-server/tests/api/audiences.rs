//! Audiences over HTTP: definitions, estimates, evaluation jobs, members, explain and history, with the error
//! shapes of bad input, missing tokens and roles too low.
//!
//! The data: 20 Marketo leads `p1..p20@acme.com` whose score is `id * 7 % 100`. By hand: the scores are 7, 14,
//! …, 49 for ids 1–7, 56, 63, 70, 77, 84, 91, 98 for ids 8–14, and 5, 12, 19, 26, 33, 40 for ids 15–20, so
//! `b2b.personScore >= 50` selects exactly ids 8 to 14 (7 people) and `b2b.personScore < 20` ids 1, 2, 15, 16
//! and 17 (scores 7, 14, 5, 12, 19: 5 people).

use std::collections::BTreeSet;
use std::path::Path;

use rapport_engine::{Engine, Quiet, Role};
use rapport_model::SourceSystem;
use serde_json::{json, Value};

use crate::support::{assert_error, TestServer};

/// Writes `leads.csv` with leads `ids` (score `id * 7 % 100`) into `dir/name` and ingests it.
pub fn ingest_leads(engine: &mut Engine, dir: &Path, name: &str, ids: std::ops::RangeInclusive<u32>) {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let mut text = "id,email,firstName,leadScore,unsubscribed,updatedAt\n".to_owned();
    for id in ids {
        text.push_str(&format!("{id},p{id}@acme.com,F{id},{},false,2024-01-01T00:00:00Z\n", id * 7 % 100));
    }
    let path = folder.join("leads.csv");
    std::fs::write(&path, text).unwrap();
    let report = engine.ingest(SourceSystem::Marketo, &[path], "mk1", &Quiet).unwrap();
    assert_eq!(report.rows_rejected(), 0);
}

/// A server over the 20 leads.
pub fn leads_server() -> TestServer {
    TestServer::start(|engine| {
        engine.generate_b2b_schemas().unwrap();
        let dir = tempfile::tempdir().unwrap();
        ingest_leads(engine, dir.path(), "in0", 1..=20);
    })
}

fn pql(text: &str) -> Value {
    json!({"type": "PQL", "format": "pql/text", "value": text})
}

fn emails(answer: &Value) -> BTreeSet<String> {
    answer["results"].as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap().to_owned()).collect()
}

fn ids(range: std::ops::RangeInclusive<u32>) -> BTreeSet<String> {
    range.map(|i| format!("p{i}@acme.com")).collect()
}

#[test]
fn issue_9_estimate_is_exact_and_pql_errors_are_located() {
    let server = leads_server();
    // Every role may estimate (it reads).
    let hot = server.post("/segment/estimate", Role::Viewer, &json!({"expression": pql("b2b.personScore >= 50")}));
    assert_eq!(hot.status, 200, "{:?}", hot.body);
    assert_eq!(hot.body, json!({"estimatedSize": 7, "exact": true, "entity": "person"}));
    let cold =
        server.post("/segment/estimate", Role::Viewer, &json!({"expression": {"value": "b2b.personScore < 20"}}));
    assert_eq!(cold.body["estimatedSize"], 5);

    // `==` is not PQL: the error spans bytes 16..18, line 1, column 17, with the hint.
    let bad = server.post("/segment/estimate", Role::Viewer, &json!({"expression": pql("b2b.personScore == 50")}));
    let error = assert_error(&bad, 400, "invalid_pql");
    let detail = &error["details"][0];
    assert_eq!(detail["span"], json!({"start": 16, "end": 18}));
    assert_eq!((detail["line"].clone(), detail["column"].clone()), (json!(1), json!(17)));
    assert!(detail["message"].as_str().unwrap().contains("single `=`"), "{detail}");

    // An unknown field on the second line: located at line 2, column 5 (after `and `), byte 26.
    let text = "b2b.personScore >= 50\nand b2b.noSuchField = 1";
    let unknown = server.post("/segment/estimate", Role::Viewer, &json!({"expression": pql(text)}));
    let error = assert_error(&unknown, 400, "invalid_pql");
    let detail = &error["details"][0];
    assert_eq!((detail["line"].clone(), detail["column"].clone()), (json!(2), json!(5)), "{detail}");
    assert_eq!(detail["span"]["start"], 26, "{detail}");

    // Bad requests: another expression type, an empty definition, an unknown class, malformed JSON.
    let other = server.post("/segment/estimate", Role::Viewer, &json!({"expression": {"type": "SQL", "value": "x"}}));
    assert_eq!(assert_error(&other, 400, "bad_request")["details"][0]["path"], "expression.type");
    let empty = server.post("/segment/estimate", Role::Viewer, &json!({"expression": pql("  ")}));
    assert_eq!(assert_error(&empty, 400, "bad_request")["details"][0]["path"], "expression.value");
    let class =
        server.post("/segment/estimate", Role::Viewer, &json!({"entity": "planet", "expression": pql("a = 1")}));
    assert_eq!(assert_error(&class, 400, "bad_request")["details"][0]["path"], "entity");
    let malformed =
        server.send("POST", "/segment/estimate", Some(Role::Viewer), "application/json", b"{\"expression\": ");
    assert_error(&malformed, 400, "malformed_json");
    // No token, a bad token.
    assert_error(&server.send("POST", "/segment/estimate", None, "application/json", b"{}"), 401, "unauthorized");
}

#[test]
fn issue_9_definitions_are_created_listed_shown_and_deleted_by_role() {
    let server = leads_server();
    let body = json!({"name": "hot", "expression": pql("b2b.personScore >= 50")});
    // A viewer may not create; a marketer may.
    assert_error(&server.post("/segment/definitions", Role::Viewer, &body), 403, "forbidden");
    let created = server.post("/segment/definitions", Role::Marketer, &body);
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["name"], "hot");
    assert_eq!(created.body["entity"], "person");
    assert_eq!(created.body["expression"], pql("b2b.personScore >= 50"));
    assert_eq!(created.body["size"], 7);
    // The same name again: 409; a bad name, a bad definition: 400.
    assert_error(&server.post("/segment/definitions", Role::Marketer, &body), 409, "conflict");
    let bad_name = json!({"name": "hot audience/1", "expression": pql("b2b.personScore >= 50")});
    assert_eq!(
        assert_error(&server.post("/segment/definitions", Role::Marketer, &bad_name), 400, "bad_request")["details"][0]
            ["path"],
        "name"
    );
    let bad_pql = json!({"name": "broken", "expression": pql("b2b.personScore >=")});
    assert_error(&server.post("/segment/definitions", Role::Engineer, &bad_pql), 400, "invalid_pql");
    let unknown_field = json!({"name": "x", "expression": pql("a = 1"), "color": "red"});
    assert_error(&server.post("/segment/definitions", Role::Marketer, &unknown_field), 422, "invalid_body");
    // Nothing half-written: the refused definitions are not listed.
    server.post(
        "/segment/definitions",
        Role::Engineer,
        &json!({"name": "cold", "expression": pql("b2b.personScore < 20")}),
    );
    let listed = server.get("/segment/definitions", Role::Viewer).body;
    let names: Vec<_> = listed["results"].as_array().unwrap().iter().map(|d| d["name"].clone()).collect();
    assert_eq!(names, vec![json!("cold"), json!("hot")]);
    assert_eq!(listed["_page"], json!({"count": 2, "next": null}));
    let page = server.get("/segment/definitions?limit=1&start=1", Role::Viewer).body;
    assert_eq!((page["results"][0]["name"].clone(), page["_page"]["next"].clone()), (json!("hot"), json!(null)));

    let shown = server.get("/segment/definitions/hot", Role::Viewer);
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["statuses"], json!({"realized": 7}));
    assert!(shown.body["plan"].as_str().unwrap().contains("personScore"), "{:?}", shown.body["plan"]);
    assert_error(&server.get("/segment/definitions/nothing", Role::Viewer), 404, "not_found");

    // Delete: viewer refused, marketer deletes, then it is gone.
    assert_error(
        &server.send("DELETE", "/segment/definitions/cold", Some(Role::Viewer), "application/json", b""),
        403,
        "forbidden",
    );
    let deleted = server.send("DELETE", "/segment/definitions/cold", Some(Role::Marketer), "application/json", b"");
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    assert_error(&server.get("/segment/definitions/cold", Role::Viewer), 404, "not_found");
    assert_error(
        &server.send("DELETE", "/segment/definitions/cold", Some(Role::Marketer), "application/json", b""),
        404,
        "not_found",
    );
}

#[test]
fn issue_9_members_follow_changes_with_status_and_history() {
    let server = leads_server();
    server.post(
        "/segment/definitions",
        Role::Marketer,
        &json!({"name": "hot", "expression": pql("b2b.personScore >= 50")}),
    );
    let members = server.get("/segment/definitions/hot/members", Role::Viewer).body;
    assert_eq!(emails(&members), ids(8..=14));
    assert!(members["results"].as_array().unwrap().iter().all(|m| m["status"] == "realized"));
    let first = &members["results"][0];
    assert_eq!(first["firstName"], format!("F{}", &first["email"].as_str().unwrap()[1..].split('@').next().unwrap()));

    // Leads 8 and 9 drop to 10 points, lead 1 rises to 90 (a new file of the same source, newer): members
    // follow the commit. Now: ids 1 and 10–14 are in (6), ids 8 and 9 exited, and an evaluation job finds
    // nothing more to change.
    churn_leads(server.dir.path());
    let job = server.post("/segment/jobs", Role::Marketer, &json!({"segmentId": "hot"}));
    assert_eq!(job.status, 202, "{:?}", job.body);
    let task = server.wait_task(job.body["taskId"].as_str().unwrap());
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["result"]["size"], 6);

    let current = server.get("/segment/definitions/hot/members", Role::Viewer).body;
    let mut want = ids(10..=14);
    want.insert("p1@acme.com".to_owned());
    assert_eq!(emails(&current), want);
    let exited = server.get("/segment/definitions/hot/members?status=exited", Role::Viewer).body;
    let exited_primaries: Vec<String> =
        exited["results"].as_array().unwrap().iter().map(|m| m["primary"].as_str().unwrap().to_owned()).collect();
    assert_eq!(exited_primaries.len(), 2, "{exited}");
    assert!(exited["results"].as_array().unwrap().iter().all(|m| m["exitedAt"].is_string()));
    let all = server.get("/segment/definitions/hot/members?status=realized,existing,exited&limit=3", Role::Viewer).body;
    assert_eq!((all["_page"]["count"].clone(), all["_page"]["next"].clone()), (json!(3), json!(3)));
    assert_error(&server.get("/segment/definitions/hot/members?status=gone", Role::Viewer), 400, "bad_request");
    assert_error(&server.get("/segment/definitions/hot/members?limit=0", Role::Viewer), 400, "bad_request");

    // History: 7 entries at creation, then 2 exits and 1 entry; for one exited member, its entry then exit.
    let history = server.get("/segment/definitions/hot/history?limit=1000", Role::Viewer).body;
    let events: Vec<&str> =
        history["results"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events.iter().filter(|e| **e == "realized").count(), 8, "{events:?}");
    assert_eq!(events.iter().filter(|e| **e == "exited").count(), 2, "{events:?}");
    let one = &exited_primaries[0];
    let mine =
        server.get(&format!("/segment/definitions/hot/history?member={}", one.replace(':', "%3A")), Role::Viewer).body;
    let mine: Vec<&str> = mine["results"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(mine, vec!["realized", "exited"]);

    // Evaluation needs a role that changes audiences, and an audience that exists.
    assert_error(&server.post("/segment/jobs", Role::Viewer, &json!({"segmentId": "hot"})), 403, "forbidden");
    assert_error(&server.post("/segment/jobs", Role::Marketer, &json!({"segmentId": "nope"})), 404, "not_found");
}

#[test]
fn issue_9_explain_says_why_one_profile_is_in_or_out() {
    let server = leads_server();
    server.post(
        "/segment/definitions",
        Role::Marketer,
        &json!({"name": "hot", "expression": pql("b2b.personScore >= 50")}),
    );
    let plain = server.get("/segment/definitions/hot/explain", Role::Viewer);
    assert_eq!(plain.status, 200, "{:?}", plain.body);
    assert!(plain.body["sql"].as_str().unwrap().to_lowercase().contains("select"), "{:?}", plain.body["sql"]);
    assert!(plain.body.get("profile").is_none());
    // Lead 10 (70 points) is in, lead 3 (21 points) is out.
    let inside = server.get("/segment/definitions/hot/explain?ns=Email&value=p10%40acme.com", Role::Viewer);
    assert_eq!(inside.body["profile"]["member"], true, "{:?}", inside.body);
    let outside = server.get("/segment/definitions/hot/explain?ns=Email&value=p3%40acme.com", Role::Viewer);
    assert_eq!(outside.body["profile"]["member"], false, "{:?}", outside.body);
    assert_error(
        &server.get("/segment/definitions/hot/explain?ns=Email&value=nobody%40acme.com", Role::Viewer),
        404,
        "not_found",
    );
    assert_error(&server.get("/segment/definitions/hot/explain?ns=Email", Role::Viewer), 400, "bad_request");
}

#[test]
fn issue_9_sizes_over_time_follow_the_membership_history() {
    let server = leads_server();
    server.post(
        "/segment/definitions",
        Role::Marketer,
        &json!({"name": "hot", "expression": pql("b2b.personScore >= 50")}),
    );
    // At creation, one evaluation lets ids 8 to 14 in: one point of 7 entries.
    let first = server.get("/segment/definitions/hot/sizes", Role::Viewer);
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["audience"], "hot");
    let points = first.body["points"].as_array().unwrap();
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(
        (points[0]["size"].clone(), points[0]["entered"].clone(), points[0]["exited"].clone()),
        (json!(7), json!(7), json!(0))
    );
    assert!(points[0]["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{points:?}");

    // Leads 8 and 9 drop out, lead 1 comes in (as in the members test): the sizes end at 6, with 8 entries
    // and 2 exits in all, each point being the previous one plus its entries minus its exits.
    churn_leads(server.dir.path());
    let job = server.post("/segment/jobs", Role::Marketer, &json!({"segmentId": "hot"}));
    let task = server.wait_task(job.body["taskId"].as_str().unwrap());
    assert_eq!(task["status"], "succeeded", "{task}");
    let after = server.get("/segment/definitions/hot/sizes", Role::Viewer).body;
    let points = after["points"].as_array().unwrap();
    assert!(points.len() >= 2, "{points:?}");
    let mut size = 0;
    for point in points {
        size = size + point["entered"].as_i64().unwrap() - point["exited"].as_i64().unwrap();
        assert_eq!(point["size"], json!(size), "{points:?}");
    }
    assert_eq!(points.last().unwrap()["size"], 6);
    let total = |key: &str| points.iter().map(|p| p[key].as_i64().unwrap()).sum::<i64>();
    assert_eq!((total("entered"), total("exited")), (8, 2));

    assert_error(&server.get("/segment/definitions/nope/sizes", Role::Viewer), 404, "not_found");
    assert_error(
        &server.send("GET", "/segment/definitions/hot/sizes", None, "application/json", b""),
        401,
        "unauthorized",
    );
}

/// A newer Marketo file of the same source into the data directory at `dir`: leads 8 and 9 drop to 10 points,
/// lead 1 rises to 90.
fn churn_leads(dir: &std::path::Path) {
    let mut engine = Engine::open(dir).unwrap();
    let input = tempfile::tempdir().unwrap();
    let file = input.path().join("leads.csv");
    let text = "id,email,firstName,leadScore,unsubscribed,updatedAt\n\
                8,p8@acme.com,F8,10,false,2024-02-01T00:00:00Z\n\
                9,p9@acme.com,F9,10,false,2024-02-01T00:00:00Z\n\
                1,p1@acme.com,F1,90,false,2024-02-01T00:00:00Z\n";
    std::fs::write(&file, text).unwrap();
    engine.ingest(SourceSystem::Marketo, &[file], "mk1", &Quiet).unwrap();
}
