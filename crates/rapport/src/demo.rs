//! `rapport demo`: the Bodea journey on the embedded store, timed step by step.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use rapport_engine::{Engine, IngestReport, Observer, UnifyReport};
use rapport_model::SourceSystem;
use rapport_sample::{GenerateOptions, DYNAMICS_ORG_ID, MARKETO_MUNCHKIN_ID, SALESFORCE_ORG_ID};
use serde::Serialize;

use crate::cli::DemoArgs;

/// The Bodea audience: people in the sales department related to an account with at least one open opportunity.
pub const BODEA_AUDIENCE: &str = "bodea-sales-open-opportunities";
/// Its PQL definition.
pub const BODEA_PQL: &str = "extendedWorkDetails.departments.includes(\"Sales\") and exists A from accounts where (exists O from A.opportunities where O.isClosed = false)";

#[derive(Serialize)]
struct Step {
    step: String,
    seconds: f64,
}

#[derive(Serialize)]
struct Summary {
    data_dir: PathBuf,
    exports: PathBuf,
    persons: u64,
    seed: u64,
    sources: Vec<IngestReport>,
    profiles: UnifyReport,
    audience: AudienceSummary,
    file: PathBuf,
    steps: Vec<Step>,
}

#[derive(Serialize)]
struct AudienceSummary {
    name: String,
    pql: String,
    size: u64,
    profiles_evaluated: u64,
}

struct Clock {
    steps: Vec<Step>,
}

impl Clock {
    fn time<T>(&mut self, step: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = Instant::now();
        let out = run()?;
        self.steps.push(Step { step: step.to_owned(), seconds: start.elapsed().as_secs_f64() });
        Ok(out)
    }
}

/// Runs the journey and prints the summary.
pub fn run(data_dir: &Path, args: &DemoArgs, observer: &dyn Observer) -> Result<()> {
    let mut clock = Clock { steps: Vec::new() };
    let exports = data_dir.join("bodea-exports");
    clock.time("generate sample data", || {
        rapport_sample::generate_bodea(&exports, &GenerateOptions { persons: args.persons, seed: args.seed })
            .with_context(|| format!("generating sample data in {}", exports.display()))
    })?;
    let mut engine = clock.time("open store", || {
        Engine::open(data_dir).with_context(|| format!("opening data directory {}", data_dir.display()))
    })?;
    clock.time("generate B2B schemas", || Ok(engine.generate_b2b_schemas()?))?;
    let mut sources = Vec::new();
    for (system, instance) in [
        (SourceSystem::Salesforce, SALESFORCE_ORG_ID),
        (SourceSystem::Dynamics, DYNAMICS_ORG_ID),
        (SourceSystem::Marketo, MARKETO_MUNCHKIN_ID),
    ] {
        let folder = exports.join(system.name());
        let report = clock.time(&format!("ingest {system}"), || {
            Ok(engine.ingest(system, std::slice::from_ref(&folder), instance, observer)?)
        })?;
        sources.push(report);
    }
    // Each batch stitched and merged its profiles as it committed; this only counts them.
    let profiles = clock.time("count profiles", || Ok(engine.profile_summary()?))?;
    clock.time("create audience", || {
        match engine.store().audience(BODEA_AUDIENCE) {
            Ok(existing) if existing.pql == BODEA_PQL => {}
            Ok(existing) => anyhow::bail!(
                "audience `{BODEA_AUDIENCE}` exists with another definition ({}); use a fresh --data-dir",
                existing.pql
            ),
            Err(_) => {
                engine.create_audience(BODEA_AUDIENCE, BODEA_PQL)?;
            }
        }
        Ok(())
    })?;
    let evaluation = clock.time("evaluate audience", || Ok(engine.evaluate_audience(BODEA_AUDIENCE)?))?;
    let activation = clock.time("export members to CSV", || {
        Ok(engine.activate_to_files(BODEA_AUDIENCE, &data_dir.join("exports"), &Default::default())?)
    })?;
    let file = activation.files.first().map(|f| f.path.clone()).unwrap_or_default();
    let summary = Summary {
        data_dir: data_dir.to_owned(),
        exports,
        persons: args.persons,
        seed: args.seed,
        sources,
        profiles,
        audience: AudienceSummary {
            name: BODEA_AUDIENCE.to_owned(),
            pql: BODEA_PQL.to_owned(),
            size: evaluation.size,
            profiles_evaluated: evaluation.profiles,
        },
        file,
        steps: clock.steps,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(())
}

fn print_summary(s: &Summary) {
    println!("Rapport demo: the Bodea journey ({} people, seed {})", s.persons, s.seed);
    println!("data directory: {}", s.data_dir.display());
    println!("sample exports: {}", s.exports.display());
    println!();
    println!("{:<12} {:>10} {:>10} {:>10}", "source", "read", "ingested", "rejected");
    for source in &s.sources {
        println!(
            "{:<12} {:>10} {:>10} {:>10}",
            source.system.name(),
            source.rows_read(),
            source.rows_ingested(),
            source.rows_rejected()
        );
    }
    let examples: Vec<_> =
        s.sources.iter().flat_map(|r| r.files.iter()).flat_map(|f| f.rejected.iter()).take(3).collect();
    if !examples.is_empty() {
        println!("rejected rows, e.g.:");
        for row in examples {
            println!("  {row}");
        }
    }
    println!();
    println!("{:<22} {:>10} {:>10} {:>11} {:>10}", "entity", "fragments", "profiles", "identities", "stitched");
    for e in &s.profiles.entities {
        println!(
            "{:<22} {:>10} {:>10} {:>11} {:>10}",
            e.entity.name(),
            e.fragments,
            e.profiles,
            e.identities,
            e.stitched
        );
    }
    if let Some(person) = s.profiles.entity(rapport_model::EntityKind::Person) {
        println!(
            "person identity graphs: {} identities in {} graphs; {} graphs joined records from several sources",
            person.identities, person.profiles, person.stitched
        );
    }
    println!();
    println!("audience `{}`", s.audience.name);
    println!("  pql: {}", s.audience.pql);
    println!("  exact size: {} of {} people", s.audience.size, s.audience.profiles_evaluated);
    println!("  exported to: {}", s.file.display());
    println!();
    println!("{:<40} {:>10}", "step", "time");
    for step in &s.steps {
        println!("{:<40} {:>8.3} s", step.step, step.seconds);
    }
}
