//! The activation scheduler of `rapport serve`: a flow due on its schedule runs while the server serves, and
//! its record in the store keeps it from running again after a restart.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use rapport_destinations::{DestinationConfig, FileConfig};
use rapport_engine::{ActivationFlowDef, AttributeMapping, Engine, Quiet, RunOptions, Schedule};
use rapport_model::SourceSystem;
use rapport_server::{SchedulerOptions, ServeOptions, Server};

fn flow(schedule: Schedule) -> ActivationFlowDef {
    ActivationFlowDef {
        destination: "files".into(),
        audiences: vec!["hot".into()],
        identity: Some("Email".into()),
        mapping: vec![AttributeMapping { source: "person.name.firstName".into(), target: "firstName".into() }],
        mandatory: vec![],
        dedupe: vec![],
        schedule,
        marketing_action: None,
    }
}

fn setup(dir: &Path, folder: &Path) {
    let mut engine = Engine::open(&dir.join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let mut text = "id,email,firstName,leadScore,unsubscribed,updatedAt\n".to_owned();
    for id in 1..=30 {
        text.push_str(&format!("{id},p{id}@acme.com,F{id},{},false,2024-01-01T00:00:00Z\n", id * 3));
    }
    std::fs::write(input.join("leads.csv"), text).unwrap();
    engine.ingest(SourceSystem::Marketo, &[input.join("leads.csv")], "mk1", &Quiet).unwrap();
    engine.create_audience("hot", "b2b.personScore >= 50").unwrap();
    engine.create_destination("files", &DestinationConfig::File(FileConfig::csv(folder.to_str().unwrap()))).unwrap();
    engine.create_activation_flow("once", &flow(Schedule::Once)).unwrap();
    engine.create_activation_flow("by-hand", &flow(Schedule::Manual)).unwrap();
}

fn serve(dir: &Path) -> rapport_server::Background {
    let engine = Engine::open(&dir.join("data")).unwrap();
    let options = SchedulerOptions {
        tick: Duration::from_millis(20),
        push_every: Some(Duration::from_millis(20)),
        run: RunOptions::default(),
    };
    Server::bind(engine, "127.0.0.1:0".parse().unwrap(), ServeOptions::default())
        .unwrap()
        .with_scheduler(options)
        .serve_in_background()
        .unwrap()
}

fn files(folder: &Path) -> usize {
    std::fs::read_dir(folder).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_due_flow_runs_once_while_serving_and_not_again_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("out");
    setup(tmp.path(), &folder);

    let server = serve(tmp.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    while files(&folder) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop().unwrap();
    assert_eq!(files(&folder), 1, "the `once` flow wrote its file");
    let engine = Engine::open(&tmp.path().join("data")).unwrap();
    assert_eq!(engine.activation_history("once").unwrap().len(), 1);
    assert!(engine.activation_history("by-hand").unwrap().is_empty(), "a manual flow never runs on its own");
    // The file holds the audience: the leads scoring at least 50 (ids 17 to 30), header included.
    let file = std::fs::read_dir(&folder).unwrap().next().unwrap().unwrap().path();
    let lines = std::fs::read_to_string(file).unwrap().lines().count();
    assert_eq!(lines, 1 + (17..=30).count());
    drop(engine);

    // Restarted: many ticks later the flow has still run once.
    let server = serve(tmp.path());
    std::thread::sleep(Duration::from_millis(300));
    server.stop().unwrap();
    let engine = Engine::open(&tmp.path().join("data")).unwrap();
    assert_eq!(engine.activation_history("once").unwrap().len(), 1);
    assert_eq!(files(&folder), 1);
}
