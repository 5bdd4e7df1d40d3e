//! Streaming pushes and schedules on a real store: membership churn reaches a streaming destination as exactly
//! the entries and exits since the last push, in the vendor's batch size; a failed push keeps its checkpoint
//! and the next one completes it; schedules decide from the store, so a restart changes nothing.

#![allow(clippy::unwrap_used)]

#[path = "../../rapport-destinations/tests/fake/mod.rs"]
mod fake;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use fake::Fault;
use rapport_destinations::config::WebhookConfig;
use rapport_destinations::{DestinationConfig, FileConfig, RetryPolicy, Secret};
use rapport_engine::{ActivationFlowDef, AttributeMapping, Engine, Quiet, RunOptions, Schedule};
use rapport_model::SourceSystem;

/// Lead `id` with its score: in the audience when the score is at least 50.
fn write_leads(dir: &Path, name: &str, scores: &[(u32, u32)], updated: &str) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let mut text = "id,email,firstName,leadScore,unsubscribed,updatedAt\n".to_owned();
    for (id, score) in scores {
        text.push_str(&format!("{id},p{id}@acme.com,F{id},{score},false,{updated}\n"));
    }
    let path = folder.join("leads.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn load(engine: &mut Engine, dir: &Path, name: &str, scores: &[(u32, u32)], updated: &str) {
    let path = write_leads(dir, name, scores, updated);
    let report = engine.ingest(SourceSystem::Marketo, &[path], "mk1", &Quiet).unwrap();
    assert_eq!(report.rows_rejected(), 0);
    engine.evaluate_audience("hot").unwrap();
}

/// The oracle: the emails of the leads whose score is at least 50.
fn hot(scores: &[(u32, u32)]) -> BTreeSet<String> {
    scores.iter().filter(|(_, s)| *s >= 50).map(|(id, _)| format!("p{id}@acme.com")).collect()
}

fn fast() -> RunOptions {
    RunOptions {
        retry: RetryPolicy { max_attempts: 3, base_delay_ms: 1, max_delay_ms: 2, timeout_ms: 5_000 },
        at: None,
    }
}

fn flow(destination: &str, schedule: Schedule) -> ActivationFlowDef {
    ActivationFlowDef {
        destination: destination.into(),
        audiences: vec!["hot".into()],
        identity: Some("Email".into()),
        mapping: vec![AttributeMapping { source: "person.name.firstName".into(), target: "firstName".into() }],
        mandatory: vec![],
        dedupe: vec![],
        schedule,
        marketing_action: None,
    }
}

/// What the receiver applied since `from`: (upserted members, removed members), each at most once.
fn applied_since(receiver: &fake::Receiver, from: usize) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut upserts = BTreeSet::new();
    let mut removals = BTreeSet::new();
    for (member, action) in &receiver.applied[from..] {
        match action.as_str() {
            "upsert" => assert!(upserts.insert(member.clone()), "{member} upserted twice in one push"),
            _ => assert!(removals.insert(member.clone()), "{member} removed twice in one push"),
        }
    }
    (upserts, removals)
}

#[test]
fn membership_churn_reaches_the_destination_as_exactly_its_entries_and_exits() {
    let tmp = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(&tmp.path().join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    let mut scores: Vec<(u32, u32)> = (1..=120).map(|id| (id, (id * 37) % 100)).collect();
    engine.create_audience("hot", "b2b.personScore >= 50").unwrap();
    load(&mut engine, tmp.path(), "in0", &scores, "2024-01-01T00:00:00Z");

    let hook = fake::Server::start(
        fake::Receiver { key: b"k".to_vec(), ..fake::Receiver::default() },
        fake::receiver_handler(rapport_destinations::webhook::signature),
    );
    let config = WebhookConfig { url: format!("{}/hook", hook.url), secret: Secret::new("k"), batch_size: 7 };
    engine.create_destination("hook", &DestinationConfig::Webhook(config)).unwrap();
    engine.create_activation_flow("to-hook", &flow("hook", Schedule::Manual)).unwrap();
    // A file flow is not streamed.
    let folder = tmp.path().join("files");
    let file = FileConfig::csv(folder.to_str().unwrap());
    engine.create_destination("files", &DestinationConfig::File(file)).unwrap();
    engine.create_activation_flow("to-files", &flow("files", Schedule::Manual)).unwrap();

    // The first push is the backfill: the whole audience, in batches of 7.
    let reports = engine.push_streaming_flows(&fast()).unwrap();
    assert_eq!(reports.len(), 1, "only the streaming flow pushes");
    assert_eq!(reports[0].cause.as_deref(), Some("stream"));
    let expected = hot(&scores);
    {
        let r = hook.state.lock().unwrap();
        let held: BTreeSet<String> = r.held.values().map(|i| i.clone().unwrap()).collect();
        assert_eq!(held, expected);
        assert!(r.batch_sizes.iter().all(|&n| n <= 7));
        assert_eq!(r.batch_sizes.len(), expected.len().div_ceil(7));
    }
    assert!(!folder.exists(), "the file flow did not run");
    // Nothing changed: nothing pushed, no run recorded.
    assert!(engine.push_streaming_flows(&fast()).unwrap().is_empty());
    assert_eq!(engine.activation_history("to-hook").unwrap().len(), 1);

    // Churn: some leave, some enter, some change only a non-qualifying attribute.
    let before = hot(&scores);
    for (id, score) in scores.iter_mut() {
        if *id % 5 == 0 {
            *score = 99 - *score;
        }
    }
    load(&mut engine, tmp.path(), "in1", &scores, "2024-02-01T00:00:00Z");
    let after = hot(&scores);
    let entered: BTreeSet<String> = after.difference(&before).cloned().collect();
    let left: BTreeSet<String> = before.difference(&after).cloned().collect();
    assert!(!entered.is_empty() && !left.is_empty());
    let (mark, held_before) = {
        let r = hook.state.lock().unwrap();
        (r.applied.len(), r.held.clone())
    };
    let report = engine.push_streaming_flows(&fast()).unwrap().pop().unwrap();
    assert_eq!(report.state, "success");
    assert_eq!(report.sent as usize, entered.len() + left.len());
    {
        let r = hook.state.lock().unwrap();
        let (upserts, removals) = applied_since(&r, mark);
        // Upserts carry the identity (email); removals name the member: map the members back to emails
        // through what the receiver held before.
        let upserted: BTreeSet<String> = upserts.iter().map(|m| r.held[m].clone().unwrap()).collect();
        assert_eq!(upserted, entered);
        let removed: BTreeSet<String> = removals.iter().map(|m| held_before[m].clone().unwrap()).collect();
        assert_eq!(removed, left);
        let held: BTreeSet<String> = r.held.values().map(|i| i.clone().unwrap()).collect();
        assert_eq!(held, after);
    }

    // A lead that enters and leaves again between two pushes is sent nothing.
    let flicker = scores.iter().position(|(_, s)| *s < 50).unwrap();
    let original = scores[flicker].1;
    scores[flicker].1 = 75;
    load(&mut engine, tmp.path(), "in2", &scores, "2024-03-01T00:00:00Z");
    scores[flicker].1 = original;
    load(&mut engine, tmp.path(), "in3", &scores, "2024-04-01T00:00:00Z");
    let mark = hook.state.lock().unwrap().applied.len();
    let pushed = engine.push_streaming_flows(&fast()).unwrap();
    assert!(pushed.iter().all(|r| r.sent == 0), "{pushed:?}");
    assert_eq!(hook.state.lock().unwrap().applied.len(), mark);

    // The destination fails through every retry: the checkpoint stays, the next push completes the changes.
    let before = hot(&scores);
    for (id, score) in scores.iter_mut() {
        if *id % 3 == 0 {
            *score = (*score + 50) % 100;
        }
    }
    load(&mut engine, tmp.path(), "in4", &scores, "2024-05-01T00:00:00Z");
    let after = hot(&scores);
    let changes = after.symmetric_difference(&before).count();
    assert!(changes > 7, "more than one batch");
    // Batch 1 passes, batch 2 fails three times (every attempt).
    hook.fail("/hook", &[Fault::Pass, Fault::ServerError, Fault::ServerError, Fault::ServerError]);
    let failed = engine.push_streaming_flows(&fast()).unwrap().pop().unwrap();
    assert_eq!(failed.state, "failed");
    assert_eq!(failed.accepted, 7, "the first batch was recorded");
    let recovered = engine.push_streaming_flows(&fast()).unwrap().pop().unwrap();
    assert_eq!(recovered.state, "success");
    assert_eq!(recovered.accepted as usize, changes - 7, "only what was still missing");
    {
        let r = hook.state.lock().unwrap();
        let held: BTreeSet<String> = r.held.values().map(|i| i.clone().unwrap()).collect();
        assert_eq!(held, after);
        assert_eq!(r.bad_signatures, 0);
    }
    assert!(engine.push_streaming_flows(&fast()).unwrap().is_empty());

    // A manual run after the pushes finds nothing to send (the pushes recorded the state).
    let run = engine.run_activation("to-hook", &fast()).unwrap();
    assert_eq!((run.state.as_str(), run.sent), ("success", 0));
}

#[test]
fn schedules_decide_from_the_store_and_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut engine = Engine::open(&data).unwrap();
    engine.generate_b2b_schemas().unwrap();
    let scores: Vec<(u32, u32)> = (1..=20).map(|id| (id, id * 5)).collect();
    load_first(&mut engine, tmp.path(), &scores);
    let folder = tmp.path().join("files");
    let file = FileConfig::csv(folder.to_str().unwrap());
    engine.create_destination("files", &DestinationConfig::File(file)).unwrap();
    engine.create_activation_flow("once", &flow("files", Schedule::Once)).unwrap();
    engine.create_activation_flow("daily", &flow("files", Schedule::Daily { at: "06:00".into() })).unwrap();
    engine.create_activation_flow("manual", &flow("files", Schedule::Manual)).unwrap();

    let schedule = engine.activation_schedule().unwrap();
    let next = |name: &str| schedule.iter().find(|(f, _)| f == name).unwrap().1;
    let created = chrono::DateTime::parse_from_rfc3339(
        &engine.activation_flows().unwrap().into_iter().find(|f| f.name == "daily").unwrap().created_at,
    )
    .unwrap()
    .with_timezone(&chrono::Utc);
    // Daily at 06:00: the first 06:00 at or after the flow's creation.
    let today = created.date_naive().and_hms_opt(6, 0, 0).unwrap().and_utc();
    let expected = if today >= created { today } else { today + chrono::Duration::days(1) };
    assert_eq!(next("daily"), Some(expected));
    assert_eq!(next("manual"), None);
    assert!(next("once").is_some_and(|t| t <= chrono::Utc::now()));

    let now = chrono::Utc::now();
    let due = engine.due_activation_flows(now).unwrap();
    assert_eq!(due, ["once"]);
    let runs = engine.run_due_activations(&fast()).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].1.as_ref().unwrap().state, "success");
    let files = std::fs::read_dir(&folder).unwrap().count();
    assert!(files >= 1);
    // Ran once: due never again, even after a restart.
    assert!(engine.due_activation_flows(chrono::Utc::now()).unwrap().is_empty());
    drop(engine);
    let engine = Engine::open(&data).unwrap();
    assert!(engine.due_activation_flows(chrono::Utc::now()).unwrap().is_empty());
    let schedule = engine.activation_schedule().unwrap();
    assert_eq!(schedule.iter().find(|(f, _)| f == "once").unwrap().1, None);
    assert_eq!(schedule.iter().find(|(f, _)| f == "daily").unwrap().1, Some(expected));
    // The daily flow is due at its slot (a day later at the latest), not before.
    assert!(!engine.due_activation_flows(expected - chrono::Duration::seconds(1)).unwrap().contains(&"daily".into()));
    assert_eq!(engine.due_activation_flows(expected).unwrap(), ["daily"]);
}

fn load_first(engine: &mut Engine, dir: &Path, scores: &[(u32, u32)]) {
    let path = write_leads(dir, "in0", scores, "2024-01-01T00:00:00Z");
    engine.ingest(SourceSystem::Marketo, &[path], "mk1", &Quiet).unwrap();
    engine.create_audience("hot", "b2b.personScore >= 50").unwrap();
    engine.evaluate_audience("hot").unwrap();
}
