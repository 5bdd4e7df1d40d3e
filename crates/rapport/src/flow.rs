//! `rapport flow …`: create, run, list and show the history of dataflows.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use rapport_engine::{Engine, ErrorThreshold, Every, FlowDefinition, FlowRunReport, FlowSource, Observer};
use rapport_model::{EntityKind, SourceSystem};
use rapport_sources::mapping_set::MappingSet;
use rapport_sources::readers::FileFormat;
use std::path::Path;

use crate::cli::Cli;
use crate::{open, print_file_reports, print_json};

/// `rapport flow …`.
#[derive(Debug, Subcommand)]
pub enum FlowCommand {
    /// Creates a flow from a source location to datasets.
    Create(Box<CreateArgs>),
    /// Runs a flow (or every scheduled flow that is due): loads only the files that are new or changed since
    /// their checkpoints, then rebuilds profiles.
    Run {
        /// The flow name.
        #[arg(required_unless_present = "due", conflicts_with = "due")]
        name: Option<String>,
        /// Run every flow whose schedule (`--every`) is due.
        #[arg(long)]
        due: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists the flows with their last run.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists the runs of a flow: start, end, state, batches, rows and files picked up.
    History {
        /// The flow name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The kind of source a flow reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Export files of Salesforce, Dynamics or Marketo (`--system`, `--from`, `--instance`).
    Crm,
    /// Generic files mapped by a mapping set (`--from`, `--format`, `--dataset`, `--entity`, `--mapping`).
    File,
    /// A PostgreSQL table or query (`--connection-env`, `--query`, `--modified-column`, `--key`, `--dataset`,
    /// `--entity`, `--mapping`).
    Postgres,
}

/// `rapport flow create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The flow name: letters, digits, `-`, `_` or `.`.
    pub name: String,
    /// The kind of source.
    #[arg(long, value_enum, default_value = "crm")]
    pub kind: Kind,
    /// crm: the source system (salesforce, dynamics or marketo).
    #[arg(long)]
    pub system: Option<SourceSystem>,
    /// crm, file: a folder, or a file glob whose file name holds `*` or `?` (e.g. `exports/*.csv`).
    #[arg(long)]
    pub from: Option<String>,
    /// crm: the instance the files come from (CRM org id or Marketo munchkin id).
    #[arg(long)]
    pub instance: Option<String>,
    /// file: the format of the files (csv, tsv, json, ndjson, parquet, or e.g. `csv:delimiter=semicolon`); by
    /// default the extension of the `--from` glob tells (`exports/*.csv`).
    #[arg(long)]
    pub format: Option<String>,
    /// file, postgres: the target dataset.
    #[arg(long)]
    pub dataset: Option<String>,
    /// file, postgres: the entity class of the dataset (e.g. person, account); by default the mapping set's.
    #[arg(long)]
    pub entity: Option<String>,
    /// file, postgres: the mapping-set file.
    #[arg(long)]
    pub mapping: Option<String>,
    /// postgres: the environment variable holding the connection URL (the URL itself is never stored).
    #[arg(long)]
    pub connection_env: Option<String>,
    /// postgres: a table (`schema.table`) or a query (`SELECT …`).
    #[arg(long)]
    pub query: Option<String>,
    /// postgres: the column holding each row's modification time.
    #[arg(long)]
    pub modified_column: Option<String>,
    /// postgres: the columns ordering rows that share a modification time, comma-separated (default: the
    /// table's primary key; a query must name them).
    #[arg(long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// The percentage of rejected rows each batch tolerates (exactly at it, the batch succeeds).
    #[arg(long, default_value = "5")]
    pub error_threshold: ErrorThreshold,
    /// Run the flow this often with `rapport flow run --due`: e.g. 15m, 1h or 1d.
    #[arg(long)]
    pub every: Option<Every>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Turns the flags into a source, requiring the flags of the kind and refusing the others.
fn source(args: &CreateArgs) -> Result<FlowSource> {
    let given: [(&str, bool); 11] = [
        ("--system", args.system.is_some()),
        ("--from", args.from.is_some()),
        ("--instance", args.instance.is_some()),
        ("--format", args.format.is_some()),
        ("--dataset", args.dataset.is_some()),
        ("--entity", args.entity.is_some()),
        ("--mapping", args.mapping.is_some()),
        ("--connection-env", args.connection_env.is_some()),
        ("--query", args.query.is_some()),
        ("--modified-column", args.modified_column.is_some()),
        ("--key", !args.key.is_empty()),
    ];
    let (kind, allowed): (&str, &[&str]) = match args.kind {
        Kind::Crm => ("crm", &["--system", "--from", "--instance"]),
        Kind::File => ("file", &["--from", "--format", "--dataset", "--entity", "--mapping"]),
        Kind::Postgres => {
            let flags: &[&str] =
                &["--connection-env", "--query", "--modified-column", "--key", "--dataset", "--entity", "--mapping"];
            ("postgres", flags)
        }
    };
    let foreign: Vec<&str> = given.iter().filter(|(f, set)| *set && !allowed.contains(f)).map(|(f, _)| *f).collect();
    if !foreign.is_empty() {
        let verb = if foreign.len() == 1 { "does" } else { "do" };
        bail!("{} {verb} not apply to --kind {kind}", foreign.join(", "));
    }
    let need =
        |value: &Option<String>, flag: &str| value.clone().with_context(|| format!("--kind {kind} needs {flag}"));
    // The entity defaults to the one the mapping set maps into.
    let entity = |value: &Option<String>| -> Result<EntityKind> {
        match value {
            Some(entity) => Ok(entity.parse()?),
            None => {
                let mapping = need(&args.mapping, "--mapping")?;
                Ok(MappingSet::load(Path::new(&mapping)).with_context(|| format!("--mapping {mapping}"))?.entity)
            }
        }
    };
    Ok(match args.kind {
        Kind::Crm => FlowSource::Crm {
            system: args.system.context("--kind crm needs --system (salesforce, dynamics or marketo)")?,
            from: need(&args.from, "--from")?,
            instance: args.instance.clone().unwrap_or_else(|| "default".to_owned()),
        },
        Kind::File => FlowSource::File {
            from: need(&args.from, "--from")?,
            format: match &args.format {
                Some(format) => format.clone(),
                None => format_of(&need(&args.from, "--from")?)?,
            },
            dataset: need(&args.dataset, "--dataset")?,
            entity: entity(&args.entity)?,
            mapping: need(&args.mapping, "--mapping")?,
        },
        Kind::Postgres => FlowSource::Postgres {
            connection_env: args.connection_env.clone().unwrap_or_else(|| "RAPPORT_PG_URL".to_owned()),
            query: need(&args.query, "--query")?,
            modified_column: need(&args.modified_column, "--modified-column")?,
            key: args.key.clone(),
            dataset: need(&args.dataset, "--dataset")?,
            entity: entity(&args.entity)?,
            mapping: need(&args.mapping, "--mapping")?,
        },
    })
}

/// The format a file flow's `--from` glob names by its extension (`exports/*.csv` → `csv`), as `rapport load`
/// tells each file's format.
fn format_of(from: &str) -> Result<String> {
    let Some(format) = FileFormat::detect(Path::new(from)) else {
        bail!(
            "--kind file needs --format (csv, tsv, json, ndjson or parquet): `--from {from}` ends in no file \
             extension that tells it"
        );
    };
    // The short name of what `detect` found (`*.txt` files are tab-separated: `tsv`).
    let name = match format {
        FileFormat::Csv(options) if options.delimiter == b'\t' => "tsv",
        FileFormat::Csv(_) => "csv",
        FileFormat::Json => "json",
        FileFormat::NdJson => "ndjson",
        FileFormat::Parquet => "parquet",
    };
    Ok(name.to_owned())
}

/// Runs `rapport flow …`.
pub fn run(cli: &Cli, command: &FlowCommand, observer: &dyn Observer) -> Result<()> {
    let mut engine = open(cli)?;
    match command {
        FlowCommand::Create(args) => {
            let definition = FlowDefinition {
                name: args.name.clone(),
                source: source(args)?,
                error_threshold: args.error_threshold,
                every: args.every,
            };
            let flow = engine.create_flow(definition)?;
            if args.json {
                return print_json(&flow);
            }
            println!("flow `{}` created ({})", flow.definition.name, describe(&flow.definition));
            Ok(())
        }
        FlowCommand::Run { name: Some(name), json, .. } => {
            let report = engine.run_flow(name, observer)?;
            if *json {
                print_json(&report)?;
            } else {
                print_run(&report);
            }
            run_outcome(&report)
        }
        FlowCommand::Run { name: None, json, .. } => run_due(&mut engine, *json, observer),
        FlowCommand::List { json } => {
            let flows = engine.store().flows()?;
            if *json {
                return print_json(&flows);
            }
            for flow in flows {
                let last = flow.last_run.as_ref().map_or_else(
                    || "never run".to_owned(),
                    |r| format!("last run {} {} at {}", r.id, r.state, r.started_at),
                );
                println!("{:<24} {}  —  {last}", flow.definition.name, describe(&flow.definition));
            }
            Ok(())
        }
        FlowCommand::History { name, json } => {
            if engine.store().flow(name)?.is_none() {
                bail!("flow `{name}` does not exist (run `rapport flow list`)");
            }
            let runs = engine.store().flow_runs(name)?;
            if *json {
                return print_json(&runs);
            }
            for r in runs {
                println!(
                    "run {:>4}  {:<7}  {} → {}  batches {:>3} ({} failed)  read {:>8} ingested {:>8} rejected {:>6}  \
                     files {} picked up, {} skipped",
                    r.id,
                    r.state,
                    r.started_at,
                    r.ended_at.as_deref().unwrap_or("…"),
                    r.batches.len(),
                    r.failed_batches.len(),
                    r.rows_read,
                    r.rows_ingested,
                    r.rows_rejected,
                    r.files.len(),
                    r.files_skipped
                );
                for file in &r.files {
                    println!("    {file}");
                }
                if let Some(message) = &r.message {
                    println!("    {message}");
                }
            }
            Ok(())
        }
    }
}

fn run_due(engine: &mut Engine, json: bool, observer: &dyn Observer) -> Result<()> {
    let outcomes = engine.run_due_flows(observer)?;
    let mut failures = Vec::new();
    let mut reports = Vec::new();
    for (name, outcome) in outcomes {
        match outcome {
            Ok(report) => {
                if let Err(err) = run_outcome(&report) {
                    failures.push(format!("{name}: {}", crate::describe(&err)));
                }
                if !json {
                    print_run(&report);
                }
                reports.push(serde_json::to_value(&report)?);
            }
            Err(err) => {
                if !json {
                    println!("flow {name}: error: {err}");
                }
                reports.push(serde_json::json!({"flow": name, "error": err.to_string()}));
                failures.push(format!("{name}: {err}"));
            }
        }
    }
    if json {
        print_json(&reports)?;
    } else if reports.is_empty() {
        println!("no flow is due");
    }
    if !failures.is_empty() {
        bail!("{} flow run(s) failed: {}", failures.len(), failures.join("; "));
    }
    Ok(())
}

fn describe(def: &FlowDefinition) -> String {
    let schedule = def.every.map_or_else(|| "on demand".to_owned(), |e| format!("every {e}"));
    let source = match &def.source {
        FlowSource::Crm { system, from, instance } => format!("{system} exports from {from}, instance {instance}"),
        FlowSource::File { from, format, dataset, .. } => format!("{format} files from {from} into {dataset}"),
        FlowSource::Postgres { dataset, modified_column, .. } => {
            format!("PostgreSQL query into {dataset} by {modified_column}")
        }
    };
    format!("{source}; threshold {}; {schedule}", def.error_threshold)
}

fn print_run(report: &FlowRunReport) {
    let r = &report.run;
    println!(
        "flow {} run {}: {} — {} files listed, {} skipped (checkpoint holds), {} picked up",
        r.flow,
        r.id,
        r.state,
        r.files_listed,
        r.files_skipped,
        report.files.len()
    );
    print_file_reports(&report.files);
    for file in &report.not_recognised {
        println!("not an export table of the flow's system (left alone): {file}");
    }
    if let Some(profiles) = &report.profiles {
        for e in &profiles.entities {
            println!("{:<22} {:>9} profiles from {:>9} fragments", e.entity.name(), e.profiles, e.fragments);
        }
    }
}

/// `Err` when the run ended `failed` (the command then exits with status 1 after its report).
fn run_outcome(report: &FlowRunReport) -> Result<()> {
    if report.run.state == rapport_engine::RunState::Failed {
        bail!(
            "flow `{}` run {} failed: {}",
            report.run.flow,
            report.run.id,
            report.run.message.as_deref().unwrap_or("see `rapport flow history`")
        );
    }
    Ok(())
}
