//! `rapport mapping …`: built-in templates as mapping files, auto-mapping proposals, dry runs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use rapport_model::{EntityKind, SourceSystem};
use rapport_sources::automap::{self, Proposal};
use rapport_sources::mapping_set::{CompileOptions, MappingSet, MissingFields, SourceType};
use rapport_sources::prep::Placeholders;
use rapport_sources::readers::FileFormat;
use rapport_sources::RowReader;
use serde_json::Value;

use crate::cli::Cli;

/// `rapport mapping …`.
#[derive(Debug, Subcommand)]
pub enum MappingCommand {
    /// Prints (or saves) a built-in connector table as a mapping file to edit and reuse.
    Show {
        /// salesforce, dynamics or marketo.
        system: SourceSystem,
        /// The table: `Contact`, `contacts`, `leads`, ... (case-insensitive; file names work too).
        table: String,
        /// Write the mapping file here instead of printing the mappings.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the mapping file (JSON).
        #[arg(long)]
        json: bool,
    },
    /// Proposes a mapping for a file from its columns: the built-in template when the file is a known CRM
    /// export, else column-to-field matches with their confidence. Unmapped columns are listed.
    Propose {
        /// The file (a CSV's header is read; JSON and NDJSON keys from its first rows; Parquet's schema).
        file: PathBuf,
        /// The file's format, as `load --format` takes it (e.g. `csv:delimiter=semicolon,encoding=latin1`); by
        /// default its extension tells.
        #[arg(long)]
        format: Option<FileFormat>,
        /// The entity the rows become: person, account, opportunity, ...
        #[arg(long)]
        entity: EntityKind,
        /// Save the proposed mapping file here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the proposal as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Maps a file with a mapping file and shows a sample of records, the rejected rows, unmapped columns and
    /// uncovered identity fields. Writes nothing (needs `rapport schema generate-b2b` first).
    DryRun {
        /// The mapping file.
        mapping: PathBuf,
        /// The file to map.
        file: PathBuf,
        /// The file's format, as `load --format` takes it (e.g. `csv:delimiter=semicolon,encoding=latin1`); by
        /// default its extension tells.
        #[arg(long)]
        format: Option<FileFormat>,
        /// Value of `${CRM_ORG_ID}`.
        #[arg(long)]
        crm_org_id: Option<String>,
        /// Value of `${MUNCHKIN_ID}`.
        #[arg(long)]
        munchkin_id: Option<String>,
        /// Value of `${CRM_TYPE}`.
        #[arg(long)]
        crm_type: Option<String>,
        /// Leave out mappings that read columns the file does not have (they are listed) instead of refusing
        /// the mapping: for built-in templates, which name every column a system may export.
        #[arg(long)]
        skip_missing: bool,
        /// How many mapped records to show.
        #[arg(long, default_value_t = 3)]
        sample: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cli: &Cli, command: &MappingCommand) -> Result<()> {
    match command {
        MappingCommand::Show { system, table, out, json } => {
            let lower = table.to_lowercase();
            let Some(found) = rapport_sources::tables(*system)
                .iter()
                .find(|t| t.name.to_lowercase() == lower || t.file_stems().contains(&lower.as_str()))
            else {
                let names: Vec<&str> = rapport_sources::tables(*system).iter().map(|t| t.name).collect();
                bail!("{system} has no table `{table}` (expected one of: {})", names.join(", "));
            };
            let set = rapport_sources::templates::template(found);
            save_or_print(&set, out.as_deref(), *json)
        }
        MappingCommand::Propose { file, format, entity, out, json } => {
            let columns = input_columns(file, format.as_ref())?;
            let schemas = rapport_schema::b2b::generate_b2b();
            let schema = schemas.for_entity(*entity).context("no standard schema for the entity")?;
            let targets = rapport_engine::generic::target_fields(schema);
            let proposal = automap::propose_for_file(file, *entity, &columns, &targets);
            if proposal.entity != *entity && !*json {
                println!(
                    "note: {} is a known export table of {} records, not {entity}; its template is proposed",
                    file.display(),
                    proposal.entity
                );
            }
            if let Some(out) = out {
                proposal.set.save(out)?;
            }
            if *json {
                let value = serde_json::json!({
                    "file": file.display().to_string(),
                    "proposal": &proposal,
                    "mappingSet": &proposal.set,
                });
                println!("{}", serde_json::to_string_pretty(&value)?);
                return Ok(());
            }
            print_proposal(file, &proposal);
            if let Some(out) = out {
                println!("saved to {}", out.display());
            }
            Ok(())
        }
        MappingCommand::DryRun {
            mapping,
            file,
            format,
            crm_org_id,
            munchkin_id,
            crm_type,
            skip_missing,
            sample,
            json,
        } => {
            let set = MappingSet::load(mapping)?;
            let mut reader = open_input(file, format.as_ref())?;
            let options = CompileOptions {
                placeholders: Placeholders {
                    crm_org_id: crm_org_id.clone(),
                    munchkin_id: munchkin_id.clone(),
                    crm_type: crm_type.clone(),
                },
                missing_fields: if *skip_missing { MissingFields::Skip } else { MissingFields::Error },
            };
            let engine = rapport_engine::Engine::open(&cli.data_dir)
                .with_context(|| format!("opening data directory {}", cli.data_dir.display()))?;
            let shown = file.display().to_string();
            let run = engine.dry_run(&set, reader.as_mut(), &shown, &options, *sample)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&run)?);
                return Ok(());
            }
            println!(
                "{shown}: {} rows read, {} would load, {} rejected (nothing written)",
                run.rows_read,
                run.rows_valid,
                run.rejected.len()
            );
            for (line, record) in &run.sample {
                println!("line {line}: {}", serde_json::to_string(record)?);
            }
            for error in run.rejected.iter().take(20) {
                println!("rejected {error}");
            }
            if run.rejected.len() > 20 {
                println!("... and {} more rejected rows (use --json for all)", run.rejected.len() - 20);
            }
            print_list("unmapped columns", &run.unmapped_fields);
            print_list("mappings left out", &run.skipped_mappings);
            print_list("identity fields no mapping writes", &run.target_fields_not_covered);
            Ok(())
        }
    }
}

/// `rapport ingest SYSTEM PATH... --dry-run`: each recognised export file through its template, with nothing
/// written. The template maps exactly as the built-in connector does (checked by the connector tests).
pub fn ingest_dry_run(engine: &rapport_engine::Engine, args: &crate::cli::IngestArgs) -> Result<()> {
    let mut files = Vec::new();
    for path in &args.paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("listing {}", path.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            files.extend(
                entries.into_iter().filter_map(|p| rapport_sources::recognise_listed(args.system, &p).map(|t| (p, t))),
            );
        } else {
            let table = rapport_sources::recognise_file(args.system, path)?.with_context(|| {
                format!("{}: not a known {} export file (by its name or its header)", path.display(), args.system)
            })?;
            files.push((path.clone(), table));
        }
    }
    let instance = Some(args.instance.clone());
    let placeholders = match args.system {
        SourceSystem::Marketo => Placeholders { munchkin_id: instance, ..Placeholders::default() },
        system => Placeholders {
            crm_org_id: instance,
            crm_type: Some(system.source_type().to_owned()),
            ..Placeholders::default()
        },
    };
    let options = CompileOptions { placeholders, missing_fields: MissingFields::Skip };
    let mut runs = Vec::new();
    for (path, table) in files {
        let set = rapport_sources::templates::template(&table);
        let mut reader = open_input(&path, None)?;
        let shown = path.display().to_string();
        let run = engine.dry_run(&set, reader.as_mut(), &shown, &options, 2)?;
        runs.push((shown, table.to_string(), run));
    }
    if args.json {
        let value: Vec<Value> = runs
            .iter()
            .map(|(file, table, run)| serde_json::json!({"file": file, "table": table, "dry_run": run}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    for (file, table, run) in &runs {
        println!(
            "{file} ({table}): {} rows read, {} would load, {} rejected — nothing written",
            run.rows_read,
            run.rows_valid,
            run.rejected.len()
        );
        for line in mapping_lines(&run.mapping).iter().take(8) {
            println!("    {line}");
        }
        if run.mapping.mappings.len() > 8 {
            println!("    … {} more mappings (rapport mapping show {} …)", run.mapping.mappings.len() - 8, args.system);
        }
        for (line, record) in &run.sample {
            println!("    line {line}: {}", serde_json::to_string(record)?);
        }
        for row in run.rejected.iter().take(5) {
            println!("    rejected {row}");
        }
        if !run.unmapped_fields.is_empty() {
            println!("    columns not mapped: {}", run.unmapped_fields.join(", "));
        }
    }
    Ok(())
}

fn print_list(label: &str, items: &[String]) {
    if items.is_empty() {
        println!("{label}: none");
    } else {
        println!("{label} ({}): {}", items.len(), items.join(", "));
    }
}

/// One line per mapping: `SOURCE → DESTINATION`, constants quoted.
fn mapping_lines(set: &MappingSet) -> Vec<String> {
    set.mappings
        .iter()
        .map(|m| {
            let source = match m.source_type {
                SourceType::Constant => format!("{:?}", m.source),
                _ => m.source.clone(),
            };
            format!("{source} → {}", m.destination)
        })
        .collect()
}

fn save_or_print(set: &MappingSet, out: Option<&Path>, json: bool) -> Result<()> {
    if let Some(out) = out {
        set.save(out)?;
        println!("saved {} mappings to {}", set.mappings.len(), out.display());
        return Ok(());
    }
    if json {
        print!("{}", set.to_json());
        return Ok(());
    }
    println!("{} → {} ({} mappings)", set.name.as_deref().unwrap_or("mapping"), set.entity, set.mappings.len());
    if !set.required.is_empty() {
        println!("required: {}", set.required.join(", "));
    }
    for line in mapping_lines(set) {
        println!("  {line}");
    }
    Ok(())
}

fn print_proposal(file: &Path, proposal: &Proposal) {
    match &proposal.template {
        Some(template) => {
            let how = proposal.recognised_by.map(|how| format!(" (recognised by its {how})")).unwrap_or_default();
            println!("{}: the {template} export table{how} → {}", file.display(), proposal.entity)
        }
        None => println!("{}: {} proposed mappings → {}", file.display(), proposal.mappings.len(), proposal.entity),
    }
    for proposed in &proposal.mappings {
        let source = match proposed.mapping.source_type {
            SourceType::Constant => format!("{:?}", proposed.mapping.source),
            _ => proposed.mapping.source.clone(),
        };
        println!("  {:.2}  {source} → {}  ({})", proposed.confidence, proposed.mapping.destination, proposed.reason);
    }
    print_list("unmapped columns", &proposal.unmapped_fields);
}

/// `rapport load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The input files; each becomes one batch.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The mapping-set file (JSON; see docs/mapping.md). Its entity is the dataset's.
    #[arg(long)]
    pub mapping: PathBuf,
    /// The target dataset, created for the mapping's entity on first use.
    #[arg(long)]
    pub dataset: String,
    /// The format of every file (csv, tsv, json, ndjson, parquet, or e.g.
    /// `csv:delimiter=semicolon,encoding=latin1`); by default each file's extension tells.
    #[arg(long)]
    pub format: Option<FileFormat>,
    /// The percentage of rejected rows a file's batch tolerates; above it the batch fails and nothing of the
    /// file is stored (exactly at it, the batch succeeds).
    #[arg(long, default_value = "5")]
    pub error_threshold: rapport_engine::ErrorThreshold,
    /// Value of `${CRM_ORG_ID}`.
    #[arg(long)]
    pub crm_org_id: Option<String>,
    /// Value of `${MUNCHKIN_ID}`.
    #[arg(long)]
    pub munchkin_id: Option<String>,
    /// Value of `${CRM_TYPE}`.
    #[arg(long)]
    pub crm_type: Option<String>,
    /// Leave out mappings that read fields a file does not have instead of refusing the mapping.
    #[arg(long)]
    pub skip_missing: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rapport load`: each file one batch through the mapping set; fails (exit status 1) when a batch failed.
pub fn load(
    engine: &mut rapport_engine::Engine,
    args: &LoadArgs,
    observer: &dyn rapport_engine::Observer,
) -> Result<()> {
    let set = MappingSet::load(&args.mapping)?;
    let options = rapport_engine::RowsOptions {
        compile: CompileOptions {
            placeholders: Placeholders {
                crm_org_id: args.crm_org_id.clone(),
                munchkin_id: args.munchkin_id.clone(),
                crm_type: args.crm_type.clone(),
            },
            missing_fields: if args.skip_missing { MissingFields::Skip } else { MissingFields::Error },
        },
        error_threshold: args.error_threshold,
        ..rapport_engine::RowsOptions::default()
    };
    // Every file is tried and reported: one that cannot be opened is a failed batch (`input_unreadable`), one
    // the mapping does not fit is reported with its error, and neither stops the files after it.
    let mut files = Vec::with_capacity(args.files.len());
    let mut errors: Vec<FileError> = Vec::new();
    for file in &args.files {
        let shown = file.display().to_string();
        let input_bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let options = rapport_engine::RowsOptions { input_bytes, ..options.clone() };
        let loaded = match open_input(file, args.format.as_ref()) {
            Ok(mut reader) => engine.ingest_rows(&args.dataset, &set, reader.as_mut(), &shown, &options, observer),
            Err(err) => engine.unreadable_batch(&args.dataset, &set, &shown, &options, crate::describe(&err)),
        };
        match loaded {
            Ok(report) => files.push(report),
            Err(err) => {
                let context = format!("loading {shown} with {}", args.mapping.display());
                errors
                    .push(FileError { file: shown, error: crate::describe(&anyhow::Error::new(err).context(context)) });
            }
        }
    }
    let profiles = engine.profile_summary()?;
    let failed = crate::failed_batches(&files).and_then(|()| match errors.len() {
        0 => Ok(()),
        n => anyhow::bail!("{n} of {} files could not be loaded: {}", args.files.len(), errors[0].error),
    });
    if args.json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            files: &'a [rapport_engine::FileReport],
            #[serde(skip_serializing_if = "<[FileError]>::is_empty")]
            errors: &'a [FileError],
            profiles: &'a rapport_engine::UnifyReport,
        }
        crate::print_json(&Out { files: &files, errors: &errors, profiles: &profiles })?;
        return failed;
    }
    crate::print_file_reports(&files);
    for error in &errors {
        println!("not loaded  {}: {}", error.file, error.error);
    }
    for e in &profiles.entities {
        println!("{:<22} {:>9} profiles from {:>9} fragments", e.entity.name(), e.profiles, e.fragments);
    }
    failed
}

/// A file `load` could not load as a batch (the mapping does not fit it, or the store refused it).
#[derive(Debug, serde::Serialize)]
struct FileError {
    file: String,
    error: String,
}

/// Opens an input file with the generic readers: its format from `format` or from its extension.
pub(crate) fn open_input(
    file: &Path,
    format: Option<&rapport_sources::readers::FileFormat>,
) -> Result<Box<dyn RowReader + Send>> {
    let format = match format {
        Some(format) => format.clone(),
        None => rapport_sources::readers::FileFormat::detect(file).with_context(|| {
            format!(
                "{}: cannot tell the format from the extension; pass --format (csv, tsv, json, ndjson, parquet)",
                file.display()
            )
        })?,
    };
    Ok(rapport_sources::readers::open(file, &file.display().to_string(), &format)?)
}

/// The field names of an input: its header or schema, or for JSON the keys of its first rows.
fn input_columns(file: &Path, format: Option<&rapport_sources::readers::FileFormat>) -> Result<Vec<String>> {
    let mut reader = open_input(file, format)?;
    for _ in 0..100 {
        if reader.next_row()?.is_none() {
            break;
        }
    }
    Ok(reader.columns())
}
