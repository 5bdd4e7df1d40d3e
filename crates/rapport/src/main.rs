//! The `rapport` binary: parses the command line, installs logging, and calls the engine.
//!
//! Errors are printed as their whole chain (`describe`: causes `: `-separated, none repeated) and exit with
//! status 1; PQL errors show the offending text with a caret under the span.

mod activation;
mod bench;
mod bench_activation;
mod cli;
mod demo;
mod events;
mod flow;
mod identity;
mod mapping;
mod progress;
mod serve;
mod unmerge;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;
use rapport_engine::{Engine, ExplainTarget};
use rapport_model::{EntityKind, Identity};
use serde::Serialize;

use cli::{
    AudienceCommand, BatchCommand, Cli, Command, GenerateCommand, NamespaceCommand, ProfileCommand, SchemaCommand,
};

/// mimalloc: the engine allocates many small JSON objects; glibc's allocator spends a third of ingest time in
/// page clearing and chunk consolidation on them (measured with `perf record` on a 100k-person demo).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAPPORT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            match err.downcast_ref::<rapport_engine::Error>() {
                // A PQL diagnostic renders itself, with the offending text and a caret.
                Some(rapport_engine::Error::Segment(segment)) => eprint!("{}", segment.render()),
                _ => eprintln!("error: {}", describe(&err)),
            }
            ExitCode::FAILURE
        }
    }
}

/// An error with its causes, `: `-separated like `{:#}`, but without a cause whose text the message before it
/// already ends with (errors that show their source in their own message, as `cannot open F: CAUSE` does).
pub(crate) fn describe(err: &anyhow::Error) -> String {
    rapport_model::error_text(err.as_ref())
}

/// `println!` panics when stdout is a closed pipe (`rapport audience members x | head`); end quietly then,
/// as other command-line tools do, instead of printing a panic.
fn quiet_on_closed_pipe() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
}

/// `--merge-policy`: `timestamp` or `dataset:DS1,DS2,...`.
fn parse_merge_policy(text: &str) -> Result<rapport_engine::MergePolicy> {
    if text == "timestamp" {
        return Ok(rapport_engine::MergePolicy::TimestampOrdered);
    }
    let Some(list) = text.strip_prefix("dataset:") else {
        bail!("--merge-policy `{text}`: expected `timestamp` or `dataset:DS1,DS2,...`");
    };
    let order: Vec<String> = list.split(',').map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned).collect();
    if order.is_empty() {
        bail!("--merge-policy `{text}`: name at least one dataset after `dataset:`");
    }
    Ok(rapport_engine::MergePolicy::DataSetPrecedence { order })
}

fn print_profile(view: &rapport_engine::ProfileView) -> Result<()> {
    println!("{} profile {} (id {}, {} fragments)", view.entity, view.primary, view.id, view.fragments.len());
    match &view.merge_policy {
        rapport_engine::MergePolicy::TimestampOrdered => println!("merge policy: timestamp-ordered"),
        rapport_engine::MergePolicy::DataSetPrecedence { order } => {
            println!("merge policy: dataset precedence {}", order.join(" > "))
        }
    }
    println!("identities:");
    for identity in &view.identities {
        println!("  {identity}");
    }
    println!("fragments:");
    println!("  {:>10}  {:<32}  {:>8}  {:<24}  committed", "id", "dataset", "batch", "updated");
    for f in &view.fragments {
        println!(
            "  {:>10}  {:<32}  {:>8}  {:<24}  {}",
            f.id,
            f.dataset,
            f.batch_id,
            f.updated_at,
            f.committed_at.as_deref().unwrap_or("-")
        );
    }
    if !view.related.is_empty() {
        println!("related:");
        for r in &view.related {
            let mut line = format!("  {:<18} {:<12} {}", r.relation, r.entity.name(), r.primary);
            if r.profile_id.is_none() {
                line.push_str(" (no profile yet)");
            }
            for (label, value) in [("name", &r.name), ("stage", &r.stage), ("role", &r.role)] {
                if let Some(value) = value {
                    line.push_str(&format!(" {label}={value:?}"));
                }
            }
            if let Some(closed) = r.is_closed {
                line.push_str(&format!(" closed={closed}"));
            }
            println!("{line}");
        }
    }
    println!("record:");
    println!("{}", serde_json::to_string_pretty(&view.record)?);
    Ok(())
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn open(cli: &Cli) -> Result<Engine> {
    Engine::open(&cli.data_dir).with_context(|| format!("opening data directory {}", cli.data_dir.display()))
}

fn run(cli: Cli) -> Result<()> {
    let bars = progress::Bars::default();
    match &cli.command {
        Command::Demo(args) => demo::run(&cli.data_dir, args, &bars),
        Command::Generate(GenerateCommand::Bodea { out, persons, seed, json }) => {
            let options = rapport_sample::GenerateOptions { persons: *persons, seed: *seed };
            let report = rapport_sample::generate_bodea(out, &options)
                .with_context(|| format!("generating sample data in {}", out.display()))?;
            if *json {
                return print_json(&report);
            }
            for file in &report.files {
                println!("{:>9} rows  {}", file.rows, out.join(&file.path).display());
            }
            println!("{} malformed rows injected on purpose (they must be rejected)", report.injected_errors.len());
            Ok(())
        }
        Command::Schema(command) => schema(&cli, command),
        Command::Namespace(command) => namespace(&cli, command),
        Command::Ingest(args) if args.dry_run => mapping::ingest_dry_run(&open(&cli)?, args),
        Command::Ingest(args) => {
            let mut engine = open(&cli)?;
            let options = rapport_engine::IngestOptions {
                instance: args.instance.clone(),
                error_threshold: args.error_threshold,
            };
            let report = engine.ingest_with(args.system, &args.paths, &options, &bars)?;
            let profiles = engine.profile_summary()?;
            let failed = failed_batches(&report.files);
            if args.json {
                #[derive(Serialize)]
                struct Out<'a> {
                    ingest: &'a rapport_engine::IngestReport,
                    profiles: &'a rapport_engine::UnifyReport,
                }
                print_json(&Out { ingest: &report, profiles: &profiles })?;
                return failed;
            }
            print_file_reports(&report.files);
            for skipped in &report.skipped {
                println!("skipped (not a {} export table): {skipped}", args.system);
            }
            for e in &profiles.entities {
                println!("{:<22} {:>9} profiles from {:>9} fragments", e.entity.name(), e.profiles, e.fragments);
            }
            failed
        }
        Command::Load(args) => mapping::load(&mut open(&cli)?, args, &bars),
        Command::Flow(command) => flow::run(&cli, command, &bars),
        Command::Batch(command) => batch(&cli, command),
        Command::Serve(args) => serve::serve(&cli.data_dir, args),
        Command::Inlet(command) => serve::inlet(&cli.data_dir, command),
        Command::Token(command) => serve::token(&cli.data_dir, command),
        Command::Dataset(command) => serve::dataset(&cli.data_dir, command),
        Command::Bench(command) => bench::run(&cli.data_dir, command),
        Command::Mapping(command) => mapping::run(&cli, command),
        Command::Identity(command) => identity::run(&cli, command),
        Command::Profile(ProfileCommand::Get { namespace, value, entity, merge_policy, json }) => {
            let engine = open(&cli)?;
            let entity: EntityKind = entity.parse()?;
            let policy = merge_policy.as_deref().map(parse_merge_policy).transpose()?;
            let identity = identity_arg(&engine, namespace, value)?;
            let Some(view) = engine.lookup(entity, &identity, policy.as_ref())? else {
                bail!("no {entity} profile holds the identity {identity}");
            };
            if *json {
                return print_json(&view);
            }
            print_profile(&view)
        }
        Command::Record(command) => unmerge::record_command(&cli, command),
        Command::Events(command) => events::events(&cli, command),
        Command::Changes { since, limit, json } => unmerge::changes(&cli, *since, *limit, *json),
        Command::Audience(command) => audience(&cli, command),
        Command::Status { json } => {
            let engine = open(&cli)?;
            let store = engine.store();
            let fragments: serde_json::Map<String, serde_json::Value> =
                store.fragment_counts()?.into_iter().map(|(e, n)| (e.name().to_owned(), n.into())).collect();
            let profiles: serde_json::Map<String, serde_json::Value> =
                store.profile_counts()?.into_iter().map(|(e, n, _)| (e.name().to_owned(), n.into())).collect();
            let status = serde_json::json!({
                "data_dir": cli.data_dir,
                "batches": store.batches()?.len(),
                "fragments": fragments,
                "profiles": profiles,
                "audiences": store.audiences()?.len(),
            });
            if *json {
                return print_json(&status);
            }
            println!("{}", serde_json::to_string_pretty(&status)?);
            Ok(())
        }
        Command::Destination(command) => activation::destination(&cli, command),
        Command::Activation(command) => activation::activation(&cli, command),
        Command::Label(command) => activation::label(&cli, command),
        Command::Activate(args) => {
            let Some(dir) = args.to.strip_prefix("file:") else {
                bail!("unsupported destination `{}`: only `file:DIR` is available so far", args.to);
            };
            if args.format != "csv" {
                bail!("unsupported format `{}`: only `csv` is available so far", args.format);
            }
            let mut engine = open(&cli)?;
            let report = engine.activate_to_files(&args.name, &PathBuf::from(dir), &Default::default())?;
            if args.json {
                return print_json(&report);
            }
            for file in &report.files {
                println!("{} members → {}", file.rows, file.path.display());
            }
            Ok(())
        }
    }
}

fn namespace(cli: &Cli, command: &NamespaceCommand) -> Result<()> {
    let mut engine = open(cli)?;
    let show = |ns: &rapport_schema::Namespace| {
        let origin = if ns.standard { "standard" } else { "custom" };
        println!(
            "{:<34} {:<34} {:<14} {:<15} {origin}",
            ns.code,
            ns.name,
            format!("{:?}", ns.id_type),
            format!("{:?}", ns.normalization)
        );
    };
    match command {
        NamespaceCommand::List { json } => {
            let namespaces = engine.store().namespaces()?;
            if *json {
                return print_json(&namespaces);
            }
            namespaces.iter().for_each(show);
            Ok(())
        }
        NamespaceCommand::Show { code, json } => {
            let Some(ns) = engine.store().namespaces()?.into_iter().find(|n| n.code.as_str() == code) else {
                bail!("namespace `{code}` does not exist (run `rapport namespace list`)");
            };
            if *json {
                return print_json(&ns);
            }
            show(&ns);
            Ok(())
        }
        NamespaceCommand::Create { code, name, id_type, normalization, json } => {
            let id_type = rapport_schema::IdentityType::from_name(id_type).with_context(|| {
                let names: Vec<_> = rapport_schema::IdentityType::NAMES.iter().map(|(n, _)| *n).collect();
                format!("unknown identity type `{id_type}` (expected one of: {})", names.join(", "))
            })?;
            let normalization = rapport_schema::Normalization::from_name(normalization).with_context(|| {
                format!(
                    "unknown normalization `{normalization}` (expected one of: {})",
                    rapport_schema::Normalization::NAMES.join(", ")
                )
            })?;
            let ns =
                rapport_schema::Namespace::custom(code, name, id_type, normalization).map_err(anyhow::Error::msg)?;
            engine.create_namespace(&ns)?;
            if *json {
                return print_json(&ns);
            }
            println!("namespace `{}` created", ns.code);
            Ok(())
        }
    }
}

/// Reads XDM documents into one catalog, naming the file of any fault.
fn xdm_catalog(files: &[PathBuf]) -> Result<(rapport_schema::xdm::XdmCatalog, Vec<String>)> {
    let mut catalog = rapport_schema::xdm::XdmCatalog::new();
    let mut ids = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", file.display()))?;
        ids.push(catalog.add(doc).with_context(|| format!("{}", file.display()))?);
    }
    Ok((catalog, ids))
}

fn schema(cli: &Cli, command: &SchemaCommand) -> Result<()> {
    let mut engine = open(cli)?;
    match command {
        SchemaCommand::Import { files, json } => {
            let (catalog, ids) = xdm_catalog(files)?;
            let mut imported = Vec::new();
            for (id, file) in ids.iter().zip(files) {
                let schema = catalog.import(id).with_context(|| format!("{}", file.display()))?;
                imported.push(serde_json::json!({
                    "file": file, "id": schema.id, "title": schema.title, "kind": schema.kind.name(),
                    "fields": schema.fields.len(), "required": schema.required.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }));
                if schema.kind == rapport_schema::xdm::SchemaKind::FieldGroup {
                    engine.register_field_group(&schema.into_field_group()?)?;
                }
            }
            if *json {
                return print_json(&imported);
            }
            for doc in imported {
                println!(
                    "{:<12} {:>5} fields  {}  ({})",
                    doc["kind"].as_str().unwrap_or_default(),
                    doc["fields"],
                    doc["id"].as_str().unwrap_or_default(),
                    doc["title"].as_str().unwrap_or_default()
                );
            }
            Ok(())
        }
        SchemaCommand::Export { name } => {
            let schema = engine
                .registered_schema(name)?
                .with_context(|| format!("schema `{name}` does not exist (run `rapport schema list`)"))?;
            print_json(&rapport_schema::xdm::export(&schema.to_xdm()))
        }
        SchemaCommand::AddFieldGroup { schema, group, json } => {
            let group = if std::path::Path::new(group).is_file() {
                let (catalog, ids) = xdm_catalog(&[PathBuf::from(group)])?;
                catalog.import(&ids[0]).and_then(|g| g.into_field_group()).with_context(|| group.clone())?
            } else {
                engine
                    .field_group(group)?
                    .with_context(|| format!("`{group}` is neither a file nor an imported field group"))?
            };
            let change = engine.add_field_group(schema, group)?;
            if *json {
                return print_json(&change);
            }
            for (schema, fields) in &change.added_fields {
                println!("{schema}: field group {} attached, {} new fields", change.field_group, fields.len());
                for field in fields {
                    println!("  + {field}");
                }
            }
            Ok(())
        }
        SchemaCommand::GenerateB2b { json } => {
            let changes = engine.generate_b2b_schemas()?;
            if *json {
                return print_json(&changes);
            }
            if changes.is_empty() {
                println!("the B2B schemas, namespaces and relationships exist already; nothing changed");
            } else {
                println!(
                    "created {} namespaces, {} schemas, {} relationships",
                    changes.namespaces_created.len(),
                    changes.schemas_created.len(),
                    changes.relationships_created.len()
                );
                for name in &changes.schemas_created {
                    println!("  {name}");
                }
            }
            Ok(())
        }
        SchemaCommand::List { json } => {
            let docs = engine.store().schema_documents()?;
            if *json {
                return print_json(&docs);
            }
            for doc in docs {
                let name = doc["name"].as_str().unwrap_or_default();
                println!(
                    "{:<34} {:<62} {}",
                    name,
                    rapport_engine::stream::schema_id(name),
                    doc["class_id"].as_str().unwrap_or_default()
                );
            }
            Ok(())
        }
        SchemaCommand::Show { name, json } => {
            let docs = engine.store().schema_documents()?;
            let Some(doc) = docs.into_iter().find(|d| d["name"] == name.as_str()) else {
                bail!("schema `{name}` does not exist (run `rapport schema list`)");
            };
            let entity = doc["entity"].clone();
            let relationships: Vec<_> = engine
                .store()
                .relationship_documents()?
                .into_iter()
                .filter(|r| r["source"] == entity || r["destination"] == entity)
                .collect();
            if *json {
                return print_json(&serde_json::json!({"schema": doc, "relationships": relationships}));
            }
            println!(
                "{}  (class {})",
                doc["name"].as_str().unwrap_or_default(),
                doc["class_id"].as_str().unwrap_or_default()
            );
            println!("field groups:");
            for group in doc["field_groups"].as_array().into_iter().flatten() {
                println!("  {}", group.as_str().unwrap_or_default());
            }
            println!("identities:");
            for identity in doc["identities"].as_array().into_iter().flatten() {
                let kind = if identity["primary"] == true { "primary" } else { "secondary" };
                println!(
                    "  {:<9} {} → {}",
                    kind,
                    identity["path"].as_str().unwrap_or_default(),
                    identity["namespace"].as_str().unwrap_or_default()
                );
            }
            println!("relationships:");
            for r in relationships {
                println!(
                    "  {}.{} → {} ({} / {})",
                    r["source"].as_str().unwrap_or_default(),
                    r["source_path"].as_str().unwrap_or_default(),
                    r["destination"].as_str().unwrap_or_default(),
                    r["name_from_source"].as_str().unwrap_or_default(),
                    r["name_from_destination"].as_str().unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}

/// Prints one line per file batch, with its failure reason and a few of its rejected rows.
fn print_file_reports(files: &[rapport_engine::FileReport]) {
    for file in files {
        println!(
            "batch {:>4}  {:<7}  {:<40} read {:>8}  ingested {:>8}  rejected {:>6}",
            file.batch_id, file.state, file.file, file.rows_read, file.rows_ingested, file.rows_rejected
        );
        if let Some(reason) = &file.reason {
            println!("    failed ({}): {}", reason.code.as_str(), reason.message);
        }
        for row in file.rejected.iter().take(5) {
            println!("    {row}");
        }
        if file.rejected.len() > 5 {
            println!("    … {} more (rapport batch show {} --errors)", file.rejected.len() - 5, file.batch_id);
        }
        if !file.unmapped_columns.is_empty() {
            println!("    columns not mapped: {}", file.unmapped_columns.join(", "));
        }
    }
}

/// `Err` naming the failed batches, if any (the command then exits with status 1 after its report).
fn failed_batches(files: &[rapport_engine::FileReport]) -> Result<()> {
    let failed: Vec<String> = files
        .iter()
        .filter(|f| f.state == rapport_engine::BatchState::Failed)
        .map(|f| format!("batch {} ({})", f.batch_id, f.file))
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    bail!(
        "{} of {} batches failed and stored nothing: {} (see `rapport batch show ID --errors`)",
        failed.len(),
        files.len(),
        failed.join(", ")
    )
}

fn batch(cli: &Cli, command: &BatchCommand) -> Result<()> {
    let mut engine = open(cli)?;
    match command {
        BatchCommand::Delete { id, json } => unmerge::batch_delete(&mut engine, *id, *json),
        BatchCommand::List { dataset, state, json } => {
            let filter = rapport_engine::BatchFilter { dataset: dataset.clone(), state: *state, flow_run: None };
            let batches = engine.store().batch_list(&filter)?;
            if *json {
                return print_json(&batches);
            }
            for b in batches {
                println!(
                    "{:>5}  {:<7} {:<30} read {:>8} ingested {:>8} rejected {:>6}  {}",
                    b.id,
                    b.state,
                    b.dataset,
                    b.rows_read,
                    b.rows_ingested,
                    b.rows_rejected,
                    b.files.join(", ")
                );
            }
            Ok(())
        }
        BatchCommand::Show { id, errors, json } => {
            let Some(info) = engine.store().batch(*id)? else {
                bail!("batch {id} does not exist (run `rapport batch list`)");
            };
            let summary = engine.store().batch_errors(*id)?;
            let rejected = if *errors { engine.store().rejected_rows(*id)? } else { Vec::new() };
            if *json {
                return print_json(&serde_json::json!({"batch": info, "batch_errors": summary, "errors": rejected}));
            }
            let m = &info.metrics;
            println!("batch {}  {}  dataset {}  source {}", info.id, info.state, info.dataset, info.source);
            println!("  files      {}", info.files.join(", "));
            println!("  created    {}", info.created_at);
            if let Some(updated) = &info.updated_at {
                println!("  ended      {updated}");
            }
            if let Some(threshold) = info.error_threshold_percent {
                println!("  threshold  {threshold} rejected rows tolerated");
            }
            if let Some(run) = info.flow_run {
                println!("  flow run   {run}");
            }
            println!(
                "  metrics    {} bytes in {} files; {} records in, {} out, {} failed",
                m.input_byte_size,
                m.input_file_count,
                m.input_record_count,
                m.output_record_count,
                m.failed_record_count
            );
            if let Some(reason) = &info.reason {
                println!("  reason     {}: {}", reason.code.as_str(), reason.message);
            }
            for e in &summary {
                println!("  error      {}  {} rows  {}", e.code, e.record_count, e.message);
            }
            if *errors {
                println!("rejected rows:");
                for row in &rejected {
                    println!("  {row}");
                }
            } else if info.rows_rejected > 0 {
                println!("({} rejected rows: rapport batch show {} --errors)", info.rows_rejected, info.id);
            }
            Ok(())
        }
    }
}

/// The identity `value` in namespace `namespace`, normalized by the namespace's rule.
pub(crate) fn identity_arg(engine: &Engine, namespace: &str, value: &str) -> Result<Identity> {
    let ns = engine
        .store()
        .namespaces()?
        .into_iter()
        .find(|ns| ns.code.as_str() == namespace)
        .with_context(|| format!("unknown namespace `{namespace}` (run `rapport namespace list`)"))?;
    Ok(ns.identity(value).unwrap_or_else(|| Identity::new(namespace, value)))
}

fn audience(cli: &Cli, command: &AudienceCommand) -> Result<()> {
    let mut engine = open(cli)?;
    match command {
        AudienceCommand::Create { name, pql, entity, json } => {
            let entity: EntityKind = entity.parse()?;
            let record = engine.create_audience_of(name, entity, pql)?;
            if *json {
                return print_json(&record);
            }
            println!("audience `{}` created for {}", record.name, record.entity);
            Ok(())
        }
        AudienceCommand::List { json } => {
            let audiences = engine.store().audiences()?;
            if *json {
                return print_json(&audiences);
            }
            for a in audiences {
                let size = a.size.map_or_else(|| "not evaluated".to_owned(), |s| format!("{s} members"));
                println!("{:<36} {:<12} {:<16} {}", a.name, a.entity, size, a.pql);
            }
            Ok(())
        }
        AudienceCommand::Show { name, json } => {
            let details = engine.audience_details(name)?;
            if *json {
                return print_json(&details);
            }
            let r = &details.record;
            println!("audience `{}` ({})", r.name, r.entity);
            println!("pql: {}", r.pql);
            println!("created: {}", r.created_at);
            match (&r.evaluated_at, r.size) {
                (Some(at), Some(size)) => println!("last evaluated: {at} ({size} members)"),
                _ => println!("last evaluated: never"),
            }
            let statuses: Vec<String> = details.statuses.iter().map(|(s, n)| format!("{s} {n}")).collect();
            if !statuses.is_empty() {
                println!("memberships: {}", statuses.join(", "));
            }
            print!("plan:\n{}", details.plan);
            if !details.runs.is_empty() {
                println!("runs:");
                for run in &details.runs {
                    println!(
                        "  #{} {}  size {}  +{} ={} -{}",
                        run.id, run.at, run.size, run.entered, run.stayed, run.exited
                    );
                }
            }
            Ok(())
        }
        AudienceCommand::Estimate { pql, entity, json } => {
            let entity: EntityKind = entity.parse()?;
            let size = engine.estimate_of(entity, pql)?;
            if *json {
                return print_json(&serde_json::json!({"size": size, "exact": true, "entity": entity}));
            }
            let noun = if entity == EntityKind::Person { "people".to_owned() } else { format!("{entity} profiles") };
            println!("{size} {noun} (exact)");
            Ok(())
        }
        AudienceCommand::Evaluate { name, json } => {
            let evaluation = engine.evaluate_audience(name)?;
            if *json {
                return print_json(&evaluation);
            }
            println!(
                "{}: {} members of {} profiles ({} entered, {} stayed, {} exited; run {})",
                evaluation.audience,
                evaluation.size,
                evaluation.profiles,
                evaluation.change.entered,
                evaluation.change.stayed,
                evaluation.change.exited,
                evaluation.change.run
            );
            Ok(())
        }
        AudienceCommand::Members { name, all: true, json } => {
            let memberships = engine.memberships(name)?;
            if *json {
                return print_json(&memberships);
            }
            for m in memberships {
                match &m.exited_at {
                    Some(at) => println!("{}\t{}\tsince {}\texited {at}", m.member, m.status, m.since),
                    None => println!("{}\t{}\tsince {}", m.member, m.status, m.since),
                }
            }
            Ok(())
        }
        AudienceCommand::Members { name, all: false, json } => {
            let members = engine.audience_members(name)?;
            if *json {
                return print_json(&members);
            }
            for m in members {
                println!(
                    "{}\t{}\t{} {}\t{}",
                    m.primary,
                    m.email.unwrap_or_default(),
                    m.first_name.unwrap_or_default(),
                    m.last_name.unwrap_or_default(),
                    m.account_name.unwrap_or_default()
                );
            }
            Ok(())
        }
        AudienceCommand::Explain { name, pql, entity, profile, json } => {
            let entity: EntityKind = entity.parse()?;
            let target = match (name, pql) {
                (Some(name), _) => ExplainTarget::Saved(name),
                (None, Some(pql)) => ExplainTarget::Pql { entity, pql },
                (None, None) => bail!("give an audience name or --pql"),
            };
            let identity = match profile.as_deref() {
                Some([namespace, value]) => Some(identity_arg(&engine, namespace, value)?),
                Some(_) => bail!("--profile takes two values: NAMESPACE VALUE"),
                None => None,
            };
            let explanation = engine.explain(target, identity.as_ref())?;
            if *json {
                return print_json(&explanation);
            }
            if let Some(name) = &explanation.audience {
                println!("audience `{name}` ({})", explanation.entity);
            }
            println!("pql: {}\n", explanation.pql);
            println!("plan:\n{}", explanation.plan);
            println!("sql (PostgreSQL, over the store's tables):\n{}\n", explanation.sql);
            if let Some(p) = &explanation.profile {
                let verdict = if p.member { "is a member" } else { "is not a member" };
                println!("{} {verdict}:", p.primary);
                print!("{}", p.trace.render());
            }
            Ok(())
        }
        AudienceCommand::History { name, member, json } => {
            let history = engine.audience_history(name, member.as_deref())?;
            if *json {
                return print_json(&history);
            }
            for h in history {
                let cause = match (h.run, &h.cause, &h.change_event) {
                    (_, Some(c), _) => format!("change #{} {} {} {} at {}", c.seq, c.entity, c.kind, c.primary, c.at),
                    (_, None, Some(event)) => format!("event {event}"),
                    (Some(run), None, None) => format!("run {run}"),
                    (None, None, None) => "before runs were recorded".to_owned(),
                };
                println!("{}\t{:<8}\t{}\t{cause}", h.at, h.event, h.member);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)");
        let err = anyhow::Error::new(rapport_sources::Error::Open { file: "x.csv".into(), source: io() });
        assert_eq!(describe(&err), "cannot open x.csv: No such file or directory (os error 2)");
        let err = anyhow::Error::new(io()).context("reading x.csv");
        assert_eq!(describe(&err), "reading x.csv: No such file or directory (os error 2)");
    }
}
