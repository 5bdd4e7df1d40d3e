//! `rapport bench activation`: the engine side of activation file exports, full and after churn.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{ensure, Result};
use chrono::{TimeZone, Utc};
use rapport_destinations::file::ExportMode;
use rapport_destinations::{DestinationConfig, FileConfig};
use rapport_engine::{ActivationFlowDef, AttributeMapping, Quiet, RunOptions, Schedule};
use rapport_model::{EntityKind, SourceSystem};
use serde_json::json;

use crate::bench::{check_repeat, median, open, peak_rss, seconds, thread_cpu_seconds, Report};

/// The Marketo instance the churn batch is ingested under (its own: the leads are new fragments that merge into
/// the chosen people by email).
const CHURN_INSTANCE: &str = "bench-churn";

pub(crate) fn activation(
    data_dir: &Path,
    pql: &str,
    churn_percent: f64,
    repeat: usize,
    work_dir: &Path,
    resident: bool,
) -> Result<Report> {
    check_repeat(repeat)?;
    ensure!((0.0..=100.0).contains(&churn_percent), "--churn-percent must be between 0 and 100");
    let mut engine = open(data_dir)?;
    let tag = format!("{}-{}", std::process::id(), Utc::now().timestamp());
    let audience = format!("bench-activation-{tag}");
    let dir = work_dir.join(format!("rapport-bench-activation-{tag}"));
    let folder = dir.join("files");
    engine.create_audience(&audience, pql)?;
    let (evaluation, load_seconds) = seconds(|| Ok(engine.evaluate_audience(&audience)?))?;
    let members = evaluation.size;
    let destination = format!("bench-files-{tag}");
    let config = FileConfig { export: ExportMode::Incremental, ..FileConfig::csv(&folder.to_string_lossy()) };
    engine.create_destination(&destination, &DestinationConfig::File(config))?;
    let map = |source: &str, target: &str| AttributeMapping { source: source.into(), target: target.into() };
    let def = ActivationFlowDef {
        destination: destination.clone(),
        audiences: vec![audience.clone()],
        identity: Some("Email".into()),
        mapping: vec![
            map("primaryIdentity", "id"),
            map("person.name.firstName", "firstName"),
            map("person.name.lastName", "lastName"),
        ],
        mandatory: vec![],
        dedupe: vec![],
        schedule: Schedule::Manual,
        marketing_action: None,
    };
    // Distinct export times keep the files of successive runs apart.
    let mut clock = 0;
    let mut options = || {
        clock += 1;
        RunOptions { at: Utc.timestamp_opt(1_700_000_000 + clock, 0).single(), ..RunOptions::default() }
    };
    let mut flows = Vec::new();
    for i in 0..repeat {
        let flow = format!("bench-flow-{tag}-{i}");
        engine.create_activation_flow(&flow, &def)?;
        flows.push(flow);
    }
    // As `rapport serve` does at start (here after the flows exist, so that it holds what they map).
    let resident_seconds = if resident { Some(seconds(|| Ok(engine.keep_audiences_resident()?))?.1) } else { None };
    let mut full = Vec::with_capacity(repeat);
    let mut full_rows = Vec::new();
    let mut phases = Vec::new();
    // The CPU time of each run (the engine runs on this thread): on a shared machine the wall time includes
    // waiting for a core.
    let mut full_cpu = Vec::new();
    for flow in &flows {
        let cpu = thread_cpu_seconds();
        let (report, s) = seconds(|| Ok(engine.run_activation(flow, &options())?))?;
        full_cpu.push(cpu.zip(thread_cpu_seconds()).map(|(a, b)| b - a));
        ensure!(report.state == "success", "full run of {flow}: {:?}", report.audiences[0].error);
        full.push(s);
        full_rows.push(report.sent);
        phases.push(report.audiences[0].phases_ms.clone());
        let _ = std::fs::remove_dir_all(&folder);
    }

    // Churn: a new first name (with a newer date) for a deterministic sample of the members that have an email.
    let emails: Vec<String> = {
        let graph = engine.profile_graph_for(&[(EntityKind::Person, BTreeSet::new())].into_iter().collect())?;
        let persons = graph.set(EntityKind::Person);
        let members: BTreeSet<String> = engine.store().members(&audience)?.into_iter().map(|(m, _)| m).collect();
        persons
            .profiles
            .iter()
            .filter(|p| members.contains(&format!("{}:{}", p.primary.namespace, p.primary.value)))
            .filter_map(|p| p.identities.iter().find(|i| i.namespace.as_str() == "Email").map(|i| i.value.clone()))
            .collect()
    };
    let wanted = ((members as f64) * churn_percent / 100.0).round() as usize;
    let step = (emails.len() / wanted.max(1)).max(1);
    let chosen: Vec<&String> = emails.iter().step_by(step).take(wanted).collect();
    let input = dir.join("churn");
    std::fs::create_dir_all(&input)?;
    let mut text = "id,email,firstName,leadScore,unsubscribed,updatedAt\n".to_owned();
    // Later than every earlier invocation's churn (the first versions dated theirs 2099-01-01): a second
    // invocation dated 2096 changed no name on data churned by a first one. A century ahead of the clock.
    let updated = (Utc::now() + chrono::Duration::days(365 * 100)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (n, email) in chosen.iter().enumerate() {
        // Names and dates unique to this invocation: a second invocation on the same data changes them again.
        text.push_str(&format!("{},{email},Churned{tag}-{n},1,false,{updated}\n", 900_000_000 + n));
    }
    std::fs::write(input.join("leads.csv"), text)?;
    let (_, churn_seconds) =
        seconds(|| Ok(engine.ingest(SourceSystem::Marketo, &[input.join("leads.csv")], CHURN_INSTANCE, &Quiet)?))?;

    let mut incremental = Vec::with_capacity(repeat);
    let mut incremental_rows = Vec::new();
    let mut incremental_phases = Vec::new();
    let mut incremental_cpu = Vec::new();
    for flow in &flows {
        let cpu = thread_cpu_seconds();
        let (report, s) = seconds(|| Ok(engine.run_activation(flow, &options())?))?;
        incremental_cpu.push(cpu.zip(thread_cpu_seconds()).map(|(a, b)| b - a));
        ensure!(report.state == "success", "incremental run of {flow}: {:?}", report.audiences[0].error);
        incremental.push(s);
        incremental_rows.push(report.sent);
        incremental_phases.push(report.audiences[0].phases_ms.clone());
    }
    let _ = std::fs::remove_dir_all(&dir);
    ensure!(
        incremental_rows.iter().all(|&n| n as usize == chosen.len()),
        "the incremental runs exported {incremental_rows:?} rows for {} changed members",
        chosen.len()
    );
    Ok(Report {
        workload: "activation",
        measures: format!(
            "Engine::run_activation of a CSV file flow ({}): the first run (full export of every member: \
             payloads, comparison with the empty state, file, state of every member recorded); the \
             incremental runs after a churn are in `extra`",
            if resident { "payloads from the resident profile graph, as under rapport serve" } else { "one-shot" }
        ),
        load_seconds: Some(load_seconds),
        median_seconds: median(&full),
        samples_seconds: full,
        answer: json!({"members": members, "full_rows": full_rows, "changed": chosen.len(),
            "incremental_rows": incremental_rows}),
        peak_rss_bytes: peak_rss(),
        extra: json!({
            "full_phases_ms": phases,
            "full_cpu_seconds": full_cpu,
            "incremental_cpu_seconds": incremental_cpu,
            "incremental_median_seconds": median(&incremental),
            "incremental_samples_seconds": incremental,
            "incremental_phases_ms": incremental_phases,
            "churn_ingest_seconds": churn_seconds,
            "churn_percent": churn_percent,
            "resident": resident,
            "resident_load_seconds": resident_seconds,
        }),
    })
}
