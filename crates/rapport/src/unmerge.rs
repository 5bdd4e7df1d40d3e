//! `rapport identity delete` (its subcommand lives with the other identity commands in `identity`),
//! `rapport record delete`, `rapport batch delete` and `rapport changes`: deletions that re-stitch the profiles
//! they touch, and the change feed every write appends to.

use anyhow::Result;
use clap::Subcommand;
use rapport_engine::unmerge::DeletionReport;
use rapport_engine::{ChangeEvent, Engine};
use rapport_model::EntityKind;

use crate::cli::Cli;
use crate::{identity_arg, open, print_json};

/// `rapport record …`.
#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Deletes one record: the fragment of a dataset with a primary identity (the record's key in that
    /// dataset, e.g. `salesforce.contact b2b_person 003A@org1.Salesforce`), and re-stitches its profile.
    Delete {
        /// The dataset name, e.g. salesforce.contact.
        dataset: String,
        /// The namespace of the record's primary identity.
        namespace: String,
        /// The primary identity value (normalized by the namespace's rule).
        value: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn print_report(what: &str, report: &DeletionReport, json: bool) -> Result<()> {
    if json {
        return print_json(report);
    }
    println!(
        "{what}: {} fragments deleted, {} changed; {} profiles deleted, {} re-stitched into {} ({} merging several \
         fragments)",
        report.fragments_deleted,
        report.fragments_changed,
        report.profiles_deleted,
        report.profiles.replaced,
        report.profiles.written,
        report.profiles.stitched
    );
    Ok(())
}

/// `rapport identity delete`.
pub(crate) fn identity_delete(cli: &Cli, namespace: &str, value: &str, entity: &str, json: bool) -> Result<()> {
    let mut engine = open(cli)?;
    let entity: EntityKind = entity.parse()?;
    let identity = identity_arg(&engine, namespace, value)?;
    let report = engine.delete_identity(entity, &identity)?;
    print_report(&format!("{entity} identity {identity} deleted"), &report, json)
}

pub(crate) fn record_command(cli: &Cli, command: &RecordCommand) -> Result<()> {
    match command {
        RecordCommand::Delete { dataset, namespace, value, json } => {
            let mut engine = open(cli)?;
            let primary = identity_arg(&engine, namespace, value)?;
            let report = engine.delete_record(dataset, &primary)?;
            print_report(&format!("record {primary} of {dataset} deleted"), &report, *json)
        }
    }
}

pub(crate) fn batch_delete(engine: &mut Engine, id: i64, json: bool) -> Result<()> {
    let report = engine.delete_batch(id)?;
    print_report(&format!("batch {id} deleted"), &report, json)
}

/// One event as a line: sequence, cause, kind, entity and profile, paths, previous ids, related entities.
fn line(event: &ChangeEvent) -> String {
    let cause = match event.cause.batch_id() {
        Some(batch) => format!("{} {batch}", event.cause.name()),
        None => event.cause.name().to_owned(),
    };
    let mut out = format!(
        "{:>8}  {:<16} {:<8} {} {} ({})",
        event.seq, cause, event.kind, event.entity, event.profile_id, event.primary
    );
    if !event.paths.is_empty() {
        out.push_str(&format!(" paths={}", event.paths.join(",")));
    }
    if !event.previous.is_empty() {
        let ids: Vec<String> = event.previous.iter().map(ToString::to_string).collect();
        out.push_str(&format!(" previous={}", ids.join(",")));
    }
    if !event.related.is_empty() {
        let refs: Vec<String> = event
            .related
            .iter()
            .map(|r| match r.profile_id {
                Some(id) => format!("{} {id}", r.entity),
                None => format!("{} {} (no profile)", r.entity, r.key),
            })
            .collect();
        out.push_str(&format!(" related={}", refs.join("; ")));
    }
    out
}

pub(crate) fn changes(cli: &Cli, since: i64, limit: usize, json: bool) -> Result<()> {
    let engine = open(cli)?;
    let events = engine.changes_since(since, limit)?;
    if json {
        return print_json(&events);
    }
    for event in &events {
        println!("{}", line(event));
    }
    Ok(())
}
