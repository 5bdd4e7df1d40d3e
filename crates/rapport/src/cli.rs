//! The command line, as clap definitions. The forms listed in the README are a contract scripts rely on.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Rapport: a real-time B2B customer data platform.
#[derive(Debug, Parser)]
#[command(name = "rapport", version, about, long_about = None)]
pub struct Cli {
    /// The data directory (created if missing).
    #[arg(long, global = true, env = "RAPPORT_DATA_DIR", default_value = "rapport-data")]
    pub data_dir: PathBuf,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the Bodea journey end to end: sample data, schemas, ingestion, profiles, audience, file export.
    Demo(DemoArgs),
    /// Generates sample data.
    #[command(subcommand)]
    Generate(GenerateCommand),
    /// Schemas and the B2B schema generator.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Identity namespaces.
    #[command(subcommand)]
    Namespace(NamespaceCommand),
    /// Ingests export files of a CRM or marketing system (a folder of export files, or files), then rebuilds
    /// profiles.
    Ingest(IngestArgs),
    /// Loads files of any format (CSV, TSV, JSON, NDJSON, Parquet) through a mapping set into a dataset, one
    /// batch per file, then reports the profiles.
    Load(crate::mapping::LoadArgs),
    /// Batches and their rejected rows.
    #[command(subcommand)]
    Batch(BatchCommand),
    /// Dataflows: named loads from a source location, run on demand or on a schedule, picking up only new or
    /// changed input.
    #[command(subcommand)]
    Flow(crate::flow::FlowCommand),
    /// Looks up a merged profile by any of its identities.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Identity graphs: explain a graph's links and decisions; show or change the linking rules; delete an
    /// identity (its profile is re-stitched, and splits when the graph falls apart).
    #[command(subcommand)]
    Identity(crate::identity::IdentityCommand),
    /// Records: delete one by its dataset and primary identity (its profile is re-stitched).
    #[command(subcommand)]
    Record(crate::unmerge::RecordCommand),
    /// Experience events (page views, email opens, form fills, …): load NDJSON or JSON files into a dataset of
    /// the "B2B Activity" class.
    #[command(subcommand)]
    Events(crate::events::EventsCommand),
    /// The change feed: created, updated, merged, split and deleted profiles, in commit order.
    Changes {
        /// Only events after this sequence number.
        #[arg(long, default_value_t = 0)]
        since: i64,
        /// At most this many events.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Audiences written in PQL.
    #[command(subcommand)]
    Audience(AudienceCommand),
    /// Exports an audience's members to CSV files now (ad hoc: all members, no consent policy, no state); for
    /// consent-aware, incremental delivery use `rapport activation`.
    Activate(ActivateArgs),
    /// Destinations: files, Marketo Engage, LinkedIn Matched Audiences, webhooks.
    #[command(subcommand)]
    Destination(crate::activation::DestinationCommand),
    /// Activation flows: audiences → destination, their runs and delivery history.
    #[command(subcommand)]
    Activation(crate::activation::ActivationCommand),
    /// Data-usage labels on fields, checked when activation flows are created.
    #[command(subcommand)]
    Label(crate::activation::LabelCommand),
    /// Mapping sets: show a built-in template, propose a mapping for a file, dry-run a mapping on a file.
    #[command(subcommand)]
    Mapping(crate::mapping::MappingCommand),
    /// In-process measurements for the benchmark harness (bench/run.sh); JSON on stdout.
    #[command(subcommand, hide = false)]
    Bench(crate::bench::BenchCommand),
    /// Serves the REST API (OpenAPI at /openapi.json) and the streaming inlet over HTTP until Ctrl-C.
    Serve(crate::serve::ServeArgs),
    /// API tokens: create one (printed once), list them, revoke one.
    #[command(subcommand)]
    Token(crate::serve::TokenCommand),
    /// Streaming inlets (the `{inletId}` of `POST /collection/{inletId}`).
    #[command(subcommand)]
    Inlet(crate::serve::InletCommand),
    /// Datasets: create one bound to a schema, for streaming into.
    #[command(subcommand)]
    Dataset(crate::serve::DatasetCommand),
    /// Counts of what the data directory holds: batches, fragments and profiles per entity, audiences.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rapport demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of people in the sample data.
    #[arg(long, default_value_t = 10_000)]
    pub persons: u64,
    /// Seed of the sample data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// End without creating a console token or serving (tests and CI).
    #[arg(long, conflicts_with = "serve")]
    pub no_serve: bool,
    /// Serve the console at the end even when standard output is not a terminal (by default the demo serves
    /// only on a terminal, and otherwise prints the address, a token and the command that serves).
    #[arg(long)]
    pub serve: bool,
    /// Where the console is served.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
}

/// `rapport generate …`.
#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Bodea's Salesforce, Dynamics and Marketo exports, deterministic per seed and realistically dirty.
    Bodea {
        /// The output folder.
        #[arg(long)]
        out: PathBuf,
        /// Number of people.
        #[arg(long, default_value_t = 10_000)]
        persons: u64,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rapport schema …`.
#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Creates the standard B2B schemas, namespaces and relationships (idempotent).
    GenerateB2b {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists the registered schemas.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shows one schema: class, field groups, identities and relationships.
    Show {
        /// The schema name, e.g. "B2B Person".
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Imports XDM JSON Schema documents (classes, field groups, data types, schemas) as published; field
    /// groups are registered so that `add-field-group` can attach them by `$id`.
    Import {
        /// The documents (a document may reference the others).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Exports a schema, resolved, as one JSON Schema document.
    Export {
        /// The schema name.
        name: String,
    },
    /// Adds a custom field group (tenant fields under `_{tenant}`) to a schema: an XDM field group document,
    /// or the `$id` of an imported one. Profile-enabled schemas accept only additive changes.
    AddFieldGroup {
        /// The schema name, e.g. "B2B Person".
        schema: String,
        /// An XDM field group document, or the `$id` of an imported field group.
        group: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rapport namespace …`.
#[derive(Debug, Subcommand)]
pub enum NamespaceCommand {
    /// Lists the registered namespaces.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shows one namespace.
    Show {
        /// The namespace code, e.g. Email.
        code: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Creates a custom namespace (it can never be deleted; its code and type never change).
    Create {
        /// The identity symbol, e.g. loyaltyId.
        code: String,
        /// The display name.
        #[arg(long)]
        name: String,
        /// The identity type: cross-device, email, phone, cookie, device, non-people or partner-id.
        #[arg(long = "type", default_value = "cross-device")]
        id_type: String,
        /// How values are normalized: trim, lowercase, exact or e164.
        #[arg(long, default_value = "trim")]
        normalization: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rapport ingest …`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The source system: salesforce, dynamics or marketo.
    pub system: rapport_model::SourceSystem,
    /// Export files, or folders holding them (recognised by file name, else by header).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The instance the files come from (CRM org id or Marketo munchkin id); part of every source key.
    #[arg(long, default_value = "default")]
    pub instance: String,
    /// The percentage of rejected rows a file's batch tolerates; above it the batch fails and nothing of the
    /// file is stored (exactly at it, the batch succeeds).
    #[arg(long, default_value = "5")]
    pub error_threshold: rapport_engine::ErrorThreshold,
    /// Write nothing: show each file's mapping (its built-in template), a sample of mapped records, the rejected
    /// rows and the columns left unmapped.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rapport batch …`.
#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Lists batches, oldest first: state, dataset, counts and files.
    List {
        /// Only the batches of this dataset.
        #[arg(long)]
        dataset: Option<String>,
        /// Only the batches in this state: loading, success, failed or deleted.
        #[arg(long)]
        state: Option<rapport_engine::BatchState>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shows one batch: state, metrics, failure reason and error summary.
    Show {
        /// The batch id.
        id: i64,
        /// Also list its rejected rows (code, file, line, field, message).
        #[arg(long)]
        errors: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deletes the fragments a successful batch wrote last and re-stitches their profiles. A record a later
    /// batch replaced stays (it is the later batch's); a record this batch replaced is not restored (earlier
    /// versions are not kept). The batch stays listed, in state `deleted`.
    Delete {
        /// The batch id.
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rapport profile …`.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Finds the merged profile holding an identity.
    Get {
        /// The namespace code, e.g. Email or b2b_person.
        namespace: String,
        /// The identity value (normalized by the namespace's rule).
        value: String,
        /// The entity class.
        #[arg(long, default_value = "person")]
        entity: String,
        /// The merge policy: `timestamp` (the stored record) or `dataset:DS1,DS2,...` (earlier datasets win;
        /// datasets not listed do not contribute).
        #[arg(long, value_name = "POLICY")]
        merge_policy: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rapport audience …`.
#[derive(Debug, Subcommand)]
pub enum AudienceCommand {
    /// Saves an audience defined in PQL (of people unless `--entity` says otherwise).
    Create {
        /// The audience name.
        name: String,
        /// The PQL definition.
        #[arg(long)]
        pql: String,
        /// The class of its members: person or account.
        #[arg(long, default_value = "person")]
        entity: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists the audiences.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shows an audience: its definition, plan, membership counts by status and evaluation runs.
    Show {
        /// The audience name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The exact number of profiles a PQL definition selects now, without saving it.
    Estimate {
        /// The PQL definition.
        #[arg(long)]
        pql: String,
        /// The class of its members: person or account.
        #[arg(long, default_value = "person")]
        entity: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Evaluates an audience over every profile and records its membership as a new run (a full recompute:
    /// memberships already follow every commit, so it normally finds nothing to change).
    Evaluate {
        /// The audience name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists the current members of an audience (with `--all`, also those that left); current after every
    /// ingest, load, flow run, streamed record or deletion.
    Members {
        /// The audience name.
        name: String,
        /// Include members that exited, with their status and times.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Explains an audience: its plan, the equivalent SQL (PostgreSQL) and, with `--profile`, why one profile is
    /// or is not a member.
    Explain {
        /// The audience name (or give `--pql`).
        #[arg(required_unless_present = "pql", conflicts_with = "pql")]
        name: Option<String>,
        /// A PQL definition to explain without saving it.
        #[arg(long)]
        pql: Option<String>,
        /// The class of the members of `--pql`: person or account.
        #[arg(long, default_value = "person")]
        entity: String,
        /// The profile to explain, by one of its identities: NAMESPACE VALUE.
        #[arg(long, num_args = 2, value_names = ["NAMESPACE", "VALUE"])]
        profile: Option<Vec<String>>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Who entered or left an audience, when, and why: the full evaluation run, or the change event (its
    /// position in the change feed, class, kind, profile and time) after which the live consumer decided it.
    History {
        /// The audience name.
        name: String,
        /// Only this member (its primary identity as `namespace:value`).
        #[arg(long)]
        member: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rapport activate …`.
#[derive(Debug, Args)]
pub struct ActivateArgs {
    /// The audience name.
    pub name: String,
    /// The destination, as `file:DIR`.
    #[arg(long)]
    pub to: String,
    /// The file format.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}
