//! `rapport events load`: experience events (page views, email opens, form fills, …) of the "B2B Activity"
//! class from NDJSON or JSON files, one batch per file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use rapport_engine::EventsReport;
use rapport_model::{Record, RowError, RowErrorCode};

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

/// The rows of an events file: a JSON array when it starts with `[`, else one JSON object per non-empty line.
/// A row that is not a JSON object is a rejected row naming its line and byte offset.
pub(crate) fn read_events(path: &Path) -> Result<Vec<Result<(u64, Record), RowError>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file = path.display().to_string();
    let bad = |line: u64, offset: usize, message: String| RowError {
        file: file.clone(),
        line,
        offset: Some(offset as u64),
        field: None,
        code: RowErrorCode::Unparsable,
        message,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if text.trim_start().starts_with('[') {
        let items: Vec<serde_json::Value> =
            serde_json::from_str(text).with_context(|| format!("{}: not a JSON array of events", path.display()))?;
        return Ok(items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                serde_json::Value::Object(record) => Ok((i as u64 + 1, record)),
                other => Err(bad(i as u64 + 1, 0, format!("array item {} is not a JSON object: {other}", i + 1))),
            })
            .collect());
    }
    let mut rows = Vec::new();
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let at = offset;
        offset += line.len();
        let content = line.trim();
        if content.is_empty() {
            continue;
        }
        let number = i as u64 + 1;
        rows.push(match serde_json::from_str::<serde_json::Value>(content) {
            Ok(serde_json::Value::Object(record)) => Ok((number, record)),
            Ok(_) => Err(bad(number, at, "not a JSON object".to_owned())),
            Err(err) => Err(bad(number, at, format!("not JSON: {err}"))),
        });
    }
    Ok(rows)
}
