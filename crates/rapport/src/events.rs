//! `rapport events load`: experience events (page views, email opens, form fills, …) of the "B2B Activity"
//! class from NDJSON or JSON files, one batch per file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use rapport_engine::EventsReport;
use rapport_model::{Record, RowError};
use rapport_sources::readers::FileFormat;

use crate::cli::Cli;
use crate::{open, print_json};

/// `rapport events …`.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Appends experience events to a dataset (created for the "B2B Activity" class on first use): NDJSON (one
    /// XDM event per line) or a JSON array (`.json`). Each event needs an `_id` (a repeated one is skipped) and
    /// `personKey.sourceKey` or an `identityMap` identity naming its person; invalid lines are kept as rejected
    /// rows with file, line and field. Audiences reading events follow at once.
    Load {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The dataset, e.g. web.events.
        #[arg(long)]
        dataset: String,
        /// Print JSON (one report per file).
        #[arg(long)]
        json: bool,
    },
}

/// Runs `rapport events …`.
pub fn events(cli: &Cli, command: &EventsCommand) -> Result<()> {
    match command {
        EventsCommand::Load { files, dataset, json } => {
            let mut engine = open(cli)?;
            let mut reports = Vec::new();
            for file in files {
                let rows = read_events(file)?;
                let source = file.display().to_string();
                let report = engine
                    .ingest_event_rows(dataset, &source, rows)
                    .with_context(|| format!("loading events from {source}"))?;
                if !json {
                    print_report(&source, &report);
                }
                reports.push(report);
            }
            if *json {
                print_json(&reports)?;
            }
            Ok(())
        }
    }
}

fn print_report(source: &str, report: &EventsReport) {
    println!(
        "{source}: batch {}: {} read, {} appended, {} already stored, {} rejected; {} people's events changed",
        report.batch_id,
        report.read,
        report.appended,
        report.duplicates,
        report.rejected.len(),
        report.persons_changed
    );
    for row in report.rejected.iter().take(10) {
        println!(
            "  {}:{} {} [{}] {}",
            row.file,
            row.line,
            row.field.as_deref().unwrap_or("-"),
            row.code.name(),
            row.message
        );
    }
    if report.rejected.len() > 10 {
        println!("  … {} more (rapport batch show {} --errors)", report.rejected.len() - 10, report.batch_id);
    }
}

/// The rows of an events file, read by the sources crate's JSON readers: a JSON array (`.json`) or one object
/// per line (`.ndjson`, `.jsonl`, or any other name). A row that is not a JSON object is a rejected row naming
/// its line and byte offset.
pub(crate) fn read_events(path: &Path) -> Result<Vec<Result<(u64, Record), RowError>>> {
    let format = match FileFormat::detect(path) {
        Some(FileFormat::Json) => FileFormat::Json,
        _ => FileFormat::NdJson,
    };
    let name = path.display().to_string();
    let mut reader = rapport_sources::readers::open(path, &name, &format)?;
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row()? {
        rows.push(row.map(|row| (row.line, row.fields)));
    }
    Ok(rows)
}
