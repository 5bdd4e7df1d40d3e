//! `rapport destination …`, `rapport activation …` and `rapport label …`: destinations, activation flows, their
//! runs and delivery history, and the data-usage labels flows are checked against.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Subcommand;
use rapport_destinations::{DestinationConfig, RetryPolicy};
use rapport_engine::{ActivationFlowDef, DeliveryReport, RunOptions};

use crate::cli::Cli;
use crate::{open, print_json};

/// `rapport destination …`.
#[derive(Debug, Subcommand)]
pub enum DestinationCommand {
    /// Creates a destination from its JSON settings (`type`: file, marketo, linkedin or webhook; see
    /// docs/activation.md). Secrets are stored in the data directory and never printed.
    Create {
        /// The destination name.
        name: String,
        /// The settings: JSON text, or `@FILE`.
        #[arg(long)]
        config: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists the destinations.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shows one destination (secrets as `***`).
    Show {
        /// The destination name.
        name: String,
    },
    /// Checks that a destination is reachable with its credentials, changing nothing there.
    Test {
        /// The destination name.
        name: String,
    },
}

/// `rapport activation …`.
#[derive(Debug, Subcommand)]
pub enum ActivationCommand {
    /// Creates an activation flow: audiences → destination, identity, mapping, mandatory attributes, dedupe
    /// key, schedule (JSON; see docs/activation.md). Fields labelled against its marketing action are refused.
    Create {
        /// The flow name.
        name: String,
        /// The definition: JSON text, or `@FILE`.
        #[arg(long)]
        definition: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists the activation flows.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Runs flows: sends each audience's changes since the last run (the first run is a full backfill).
    /// A failing flow never stops the others; the command fails if any run did not fully succeed.
    Run {
        /// The flows to run.
        flows: Vec<String>,
        /// Run every flow.
        #[arg(long, conflicts_with = "due")]
        all: bool,
        /// Run the flows whose schedule is due now (for a cron job).
        #[arg(long)]
        due: bool,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pushes the membership changes since the last push to every flow of a streaming destination (Marketo,
    /// LinkedIn, webhook); `rapport serve` does it every second. The first push of an audience is a backfill.
    Push {
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// When each flow is next due on its schedule (UTC).
    Schedule {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The delivery history of a flow: one report per run.
    History {
        /// The flow name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rapport label …`.
#[derive(Debug, Subcommand)]
pub enum LabelCommand {
    /// Puts a data-usage label (e.g. C2: no export to a third party) on a person field path.
    Add {
        /// The field path, e.g. person.birthDate.
        path: String,
        /// The label.
        label: String,
    },
    /// Lists the labels.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Reads JSON text given inline or as `@FILE`.
fn text_arg(value: &str) -> Result<String> {
    match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(Path::new(path)).with_context(|| format!("reading {path}")),
        None => Ok(value.to_owned()),
    }
}

pub fn destination(cli: &Cli, command: &DestinationCommand) -> Result<()> {
    let mut engine = open(cli)?;
    match command {
        DestinationCommand::Create { name, config, json } => {
            let config = DestinationConfig::parse(&text_arg(config)?)?;
            let view = engine.create_destination(name, &config)?;
            if *json {
                return print_json(&view);
            }
            println!("destination `{}` ({}) created", view.name, view.kind.name());
        }
        DestinationCommand::List { json } => {
            let all = engine.destinations()?;
            if *json {
                return print_json(&all);
            }
            for d in all {
                println!("{:<24} {:<10} {}", d.name, d.kind.name(), d.created_at);
            }
        }
        DestinationCommand::Show { name } => print_json(&engine.destination(name)?)?,
        DestinationCommand::Test { name } => {
            // A test answers quickly: two attempts, short delays.
            let retry = RetryPolicy { max_attempts: 2, base_delay_ms: 200, max_delay_ms: 1_000, timeout_ms: 10_000 };
            println!("{}", engine.test_destination(name, retry)?);
        }
    }
    Ok(())
}

pub fn activation(cli: &Cli, command: &ActivationCommand) -> Result<()> {
    let mut engine = open(cli)?;
    match command {
        ActivationCommand::Create { name, definition, json } => {
            let text = text_arg(definition)?;
            let def: ActivationFlowDef =
                serde_json::from_str(&text).with_context(|| format!("activation flow `{name}`: definition"))?;
            let flow = engine.create_activation_flow(name, &def)?;
            if *json {
                return print_json(&flow);
            }
            println!("activation flow `{}` → `{}` created", flow.name, flow.definition.destination);
        }
        ActivationCommand::List { json } => {
            let flows = engine.activation_flows()?;
            if *json {
                return print_json(&flows);
            }
            for f in flows {
                println!("{:<24} → {:<24} {}", f.name, f.definition.destination, f.definition.audiences.join(", "));
            }
        }
        ActivationCommand::Run { flows, all, due, json } => {
            let names: Vec<String> = if *all {
                engine.activation_flows()?.into_iter().map(|f| f.name).collect()
            } else if *due {
                engine.due_activation_flows(chrono::Utc::now())?
            } else {
                flows.clone()
            };
            anyhow::ensure!(!names.is_empty() || *due, "name the flows to run, or pass --all or --due");
            let results = engine.run_activations(&names, &RunOptions::default());
            let mut failures = Vec::new();
            let mut reports = Vec::new();
            for (flow, result) in results {
                match result {
                    Ok(report) => {
                        if report.state != "success" {
                            failures.push(format!("{flow}: {}", report.state));
                        }
                        reports.push(report);
                    }
                    Err(err) => failures.push(format!("{flow}: {err:#}")),
                }
            }
            if *json {
                print_json(&reports)?;
            } else {
                reports.iter().for_each(print_report);
            }
            anyhow::ensure!(failures.is_empty(), "some runs did not fully succeed: {}", failures.join("; "));
        }
        ActivationCommand::Push { json } => {
            let reports = engine.push_streaming_flows(&RunOptions::default())?;
            if *json {
                print_json(&reports)?;
            } else if reports.is_empty() {
                println!("nothing to push");
            } else {
                reports.iter().for_each(print_report);
            }
            let failures: Vec<String> =
                reports.iter().filter(|r| r.state != "success").map(|r| format!("{}: {}", r.flow, r.state)).collect();
            anyhow::ensure!(failures.is_empty(), "some pushes did not fully succeed: {}", failures.join("; "));
        }
        ActivationCommand::Schedule { json } => {
            let schedule = engine.activation_schedule()?;
            if *json {
                let rows: Vec<serde_json::Value> = schedule
                    .iter()
                    .map(|(flow, next)| serde_json::json!({"flow": flow, "next_due": next.map(|t| t.to_rfc3339())}))
                    .collect();
                return print_json(&rows);
            }
            for (flow, next) in schedule {
                let next = next.map_or_else(|| "never (manual, or once and done)".to_owned(), |t| t.to_rfc3339());
                println!("{flow:<24} {next}");
            }
        }
        ActivationCommand::History { name, json } => {
            let runs = engine.activation_history(name)?;
            if *json {
                return print_json(&runs);
            }
            for run in runs {
                let r = run.report.unwrap_or_default();
                println!(
                    "run {:<5} {:<8} {}  sent {:<8} accepted {:<8} rejected {:<6} retried {:<4} {} ms",
                    run.id, run.state, run.started_at, r.sent, r.accepted, r.rejected, r.retried, r.duration_ms
                );
            }
        }
    }
    Ok(())
}

fn print_report(report: &DeliveryReport) {
    println!(
        "flow `{}` → `{}`: {} (sent {}, accepted {}, rejected {}, retried {}, {} ms)",
        report.flow,
        report.destination,
        report.state,
        report.sent,
        report.accepted,
        report.rejected,
        report.retried,
        report.duration_ms
    );
    for a in &report.audiences {
        println!(
            "  {}: {} members, {} upserts, {} removals, {} excluded by consent",
            a.audience, a.members, a.upserts, a.removals, a.excluded.consent
        );
        for file in &a.files {
            println!("    {} rows → {}", file.rows, file.path.display());
        }
        for (reason, count) in &a.rejected {
            println!("    rejected {count}: {reason}");
        }
        if let Some(error) = &a.error {
            println!("    stopped: {error}");
        }
    }
}

pub fn label(cli: &Cli, command: &LabelCommand) -> Result<()> {
    let mut engine = open(cli)?;
    match command {
        LabelCommand::Add { path, label } => {
            engine.add_field_label(path, label)?;
            println!("label `{label}` on `{path}`");
        }
        LabelCommand::List { json } => {
            let labels = engine.field_labels()?;
            if *json {
                return print_json(&labels);
            }
            for (path, label) in labels {
                println!("{label:<6} {path}");
            }
        }
    }
    Ok(())
}
