//! `rapport serve` keeps audiences with time windows current as time passes: a member whose only event ages out
//! of an `occurs <= 3 seconds before now` window leaves with no new data, by the writer's periodic refresh.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rapport_engine::stream::StreamMessage;
use rapport_engine::{Durability, Engine, MessageOutcome};
use rapport_server::{ServeOptions, Server};
use serde_json::json;

const PERSON: &str = "https://ns.adobe.com/rapport/schemas/b2b-person";

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn members(dir: &std::path::Path) -> Vec<String> {
    let engine = Engine::open(dir).unwrap();
    engine.store().members("recent").unwrap().into_iter().map(|(m, _)| m).collect()
}

#[test]
fn issue_6_serve_drops_a_member_whose_event_ages_out_of_its_window_without_new_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(dir.path()).unwrap();
    engine.generate_b2b_schemas().unwrap();
    engine.create_dataset("web.person", PERSON).unwrap();
    let inlet = engine.create_inlet("web").unwrap().id;
    let record = json!({"b2b": {"personKey": {"sourceKey": "p0"}}});
    let outcomes = engine
        .ingest_messages(vec![StreamMessage {
            inlet,
            id: "m1".to_owned(),
            dataset: "web.person".to_owned(),
            schema_ref: PERSON.to_owned(),
            record: record.as_object().unwrap().clone(),
            received_at_ms: now_ms(),
            created_at_ms: None,
            record_faults: Vec::new(),
        }])
        .unwrap();
    assert!(matches!(outcomes[0], MessageOutcome::Accepted { .. }));
    engine
        .create_audience(
            "recent",
            r#"xEvent[eventType = "web.webpagedetails.pageViews" and timestamp occurs <= 3 seconds before now].count() >= 1"#,
        )
        .unwrap();
    // One view, half a second old: a member at once.
    let viewed = now_ms() - 500;
    let at = chrono::DateTime::from_timestamp_millis(viewed).unwrap();
    let event = json!({"_id": "v1", "eventType": "web.webpagedetails.pageViews",
                       "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                       "personKey": {"sourceKey": "p0"}});
    let report = engine.ingest_events("web.events", "test", &[event.as_object().unwrap().clone()]).unwrap();
    assert_eq!(report.appended, 1);
    assert_eq!(members(dir.path()), vec!["b2b_person:p0".to_owned()]);

    let options = ServeOptions {
        durability: Durability::Normal,
        time_refresh: Some(Duration::from_millis(200)),
        ..ServeOptions::default()
    };
    let server = Server::bind(engine, "127.0.0.1:0".parse().unwrap(), options).unwrap().serve_in_background().unwrap();
    // Nothing else is written: only the refresh can make p0 leave, and only once the view is 3 seconds old.
    let deadline = Instant::now() + Duration::from_secs(30);
    let left = loop {
        if members(dir.path()).is_empty() {
            break now_ms();
        }
        assert!(Instant::now() < deadline, "p0 still a member 30 s after its only view");
        std::thread::sleep(Duration::from_millis(100));
    };
    server.stop().unwrap();
    assert!(left >= viewed + 3_000, "left {} ms after the view, before the window closed", left - viewed);
    let engine = Engine::open(dir.path()).unwrap();
    let history = engine.store().memberships("recent").unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status, "exited");
}
