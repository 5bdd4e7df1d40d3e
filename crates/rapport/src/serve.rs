//! The streaming commands: `rapport serve`, `rapport inlet …`, `rapport dataset …` and `rapport bench stream`.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use rapport_engine::{Durability, Engine, Role};

/// `rapport serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (loopback by default; use 0.0.0.0:PORT to accept other machines).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// What an acknowledgement guarantees: `normal` = survives a crash of the process (SQLite WAL,
    /// synchronous=NORMAL), `full` = also survives a power loss (WAL synced at every commit).
    #[arg(long, value_enum, default_value_t = DurabilityArg::Full)]
    pub durability: DurabilityArg,
    /// Do not run the activation scheduler (flows due on their schedules, streaming pushes).
    #[arg(long)]
    pub no_scheduler: bool,
    /// How often membership changes are pushed to streaming destinations, in milliseconds.
    #[arg(long, default_value_t = 1_000)]
    pub push_interval_ms: u64,
    /// How often audiences with event windows anchored at the current time (`occurs <= 7 days before now`, …)
    /// are re-evaluated so that members whose events aged out leave; 0 turns it off.
    #[arg(long, default_value_t = 60)]
    pub time_refresh_secs: u64,
    /// The largest file a batch upload accepts, in MiB (the streaming inlet keeps its 1 MB per request).
    #[arg(long, default_value_t = 256)]
    pub upload_limit_mb: usize,
}

impl ServeArgs {
    /// The defaults of `rapport serve` on `bind` (what the demo serves with).
    pub fn defaults(bind: SocketAddr) -> Self {
        Self {
            bind,
            durability: DurabilityArg::Full,
            no_scheduler: false,
            push_interval_ms: 1_000,
            upload_limit_mb: 256,
            time_refresh_secs: 60,
        }
    }
}

/// `--durability`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DurabilityArg {
    /// Survives a crash of the process.
    Normal,
    /// Also survives a power loss.
    Full,
}

/// `rapport inlet …`.
#[derive(Debug, Subcommand)]
pub enum InletCommand {
    /// Creates a streaming inlet and prints its id (the `{inletId}` of `POST /collection/{inletId}`).
    Create {
        /// A name for it (unique).
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists the inlets.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rapport token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates an API token and prints it once (only its SHA-256 is stored).
    Create {
        /// A unique name for it (letters, digits, `-`, `_`, `.`).
        #[arg(long)]
        name: String,
        /// What it may do: admin (everything), engineer (data and audiences), marketer (audiences and
        /// activation) or viewer (reads).
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists the tokens (names, roles, dates; never the tokens).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revokes a token by name: the server refuses it from the next request on.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// `--role`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Everything, including identity deletion.
    Admin,
    /// Reads; schemas, datasets, batches, dataflows, streaming and audiences.
    Engineer,
    /// Reads; audiences, destinations and activation.
    Marketer,
    /// Reads only.
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Engineer => Role::Engineer,
            RoleArg::Marketer => Role::Marketer,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

/// `rapport dataset …`.
#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Creates an empty dataset bound to a schema, for streaming into.
    Create {
        /// The dataset name, e.g. `web.person`.
        name: String,
        /// The schema, by id (`rapport schema list` shows them) or by name, e.g. "B2B Person".
        #[arg(long)]
        schema: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists the datasets with their schema ids.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Exports a dataset's records as Parquet or JSON lines into `DIR/<datasetId>/exportTime=YYYYMMDDHHMM/`,
    /// incremental by batch: only the batches DIR has not received yet (the first export writes them all).
    Export {
        /// The dataset name.
        name: String,
        /// The target folder (created if missing).
        #[arg(long)]
        to: std::path::PathBuf,
        /// `parquet` or `json` (JSON lines).
        #[arg(long, value_enum, default_value_t = ExportFormatArg::Parquet)]
        format: ExportFormatArg,
        /// Compress with gzip (`.json.gz`, `.gz.parquet`).
        #[arg(long)]
        gzip: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rapport dataset export --format`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormatArg {
    /// Parquet, one UTF-8 column per field path.
    Parquet,
    /// JSON lines, the records as stored.
    Json,
}

/// `rapport bench stream`.
#[derive(Debug, Args)]
pub struct StreamBenchArgs {
    /// The server, as http://host:port.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The inlet id.
    #[arg(long)]
    pub inlet: String,
    /// An API token whose role may stream (engineer or admin): `rapport token create --role engineer`.
    #[arg(long, env = "RAPPORT_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The dataset every message targets (it must hold the B2B Person schema).
    #[arg(long, default_value = "bench.person")]
    pub dataset: String,
    /// Messages to send in all.
    #[arg(long, default_value_t = 200_000)]
    pub messages: u64,
    /// Messages per request.
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Person numbers start at seed × 10^9: a new seed streams new people, the same seed updates them.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

fn open(data_dir: &Path) -> Result<Engine> {
    Engine::open(data_dir).with_context(|| format!("opening data directory {}", data_dir.display()))
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `rapport token …`.
pub fn token(data_dir: &Path, command: &TokenCommand) -> Result<()> {
    let mut engine = open(data_dir)?;
    match command {
        TokenCommand::Create { name, role, json } => {
            let made = engine.create_token(name, (*role).into())?;
            if *json {
                return print_json(&serde_json::json!({"token": made.token, "info": made.info}));
            }
            println!("{}", made.token);
            eprintln!("token `{}` ({}) created; it is shown only now", made.info.name, made.info.role);
            Ok(())
        }
        TokenCommand::List { json } => {
            let tokens = engine.tokens()?;
            if *json {
                return print_json(&tokens);
            }
            for t in tokens {
                let state = t.revoked_at.as_deref().map_or_else(|| "active".to_owned(), |at| format!("revoked {at}"));
                println!("{:<24} {:<9} created {}  {state}", t.name, t.role.as_str(), t.created_at);
            }
            Ok(())
        }
        TokenCommand::Revoke { name } => {
            let revoked = engine.revoke_token(name)?;
            println!("token `{}` revoked", revoked.name);
            Ok(())
        }
    }
}

/// `rapport serve`: serves until Ctrl-C.
pub fn serve(data_dir: &Path, args: &ServeArgs) -> Result<()> {
    let engine = open(data_dir)?;
    let options = rapport_server::ServeOptions {
        durability: match args.durability {
            DurabilityArg::Normal => Durability::Normal,
            DurabilityArg::Full => Durability::Full,
        },
        time_refresh: (args.time_refresh_secs > 0).then(|| std::time::Duration::from_secs(args.time_refresh_secs)),
        upload_limit: args.upload_limit_mb.saturating_mul(1024 * 1024),
    };
    let mut server = rapport_server::Server::bind(engine, args.bind, options)?;
    if !args.no_scheduler {
        server = server.with_scheduler(rapport_server::SchedulerOptions {
            push_every: Some(std::time::Duration::from_millis(args.push_interval_ms.max(1))),
            ..rapport_server::SchedulerOptions::default()
        });
    }
    let addr = server.local_addr()?;
    println!(
        "rapport serving {} on http://{addr} (API: GET /openapi.json with `Authorization: Bearer <token>`, \
         tokens from `rapport token create`; Ctrl-C stops)",
        data_dir.display()
    );
    server.run_until_ctrl_c()?;
    println!("stopped: every queued message was committed and answered");
    Ok(())
}

/// `rapport inlet …`.
pub fn inlet(data_dir: &Path, command: &InletCommand) -> Result<()> {
    let mut engine = open(data_dir)?;
    match command {
        InletCommand::Create { name, json } => {
            let inlet = engine.create_inlet(name)?;
            if *json {
                return print_json(&inlet);
            }
            println!(
                "inlet `{}` created: POST /collection/{} (or /collection/batch/{})",
                inlet.name, inlet.id, inlet.id
            );
            Ok(())
        }
        InletCommand::List { json } => {
            let inlets = engine.store().inlets()?;
            if *json {
                return print_json(&inlets);
            }
            for inlet in inlets {
                println!("{}  {:<24} {}", inlet.id, inlet.name, inlet.created_at);
            }
            Ok(())
        }
    }
}

/// `rapport dataset …`.
pub fn dataset(data_dir: &Path, command: &DatasetCommand) -> Result<()> {
    let mut engine = open(data_dir)?;
    let with_id = |d: &rapport_engine::DatasetRecord| {
        serde_json::json!({"id": d.id, "name": d.name, "entity": d.entity, "schema": d.schema,
            "schemaRef": rapport_engine::stream::schema_id(&d.schema)})
    };
    match command {
        DatasetCommand::Create { name, schema, json } => {
            let dataset = engine.create_dataset(name, schema)?;
            if *json {
                return print_json(&with_id(&dataset));
            }
            println!(
                "dataset `{}` (id {}) created for schema {}",
                dataset.name,
                dataset.id,
                rapport_engine::stream::schema_id(&dataset.schema)
            );
            Ok(())
        }
        DatasetCommand::List { json } => {
            let datasets = engine.store().datasets()?;
            if *json {
                return print_json(&datasets.iter().map(with_id).collect::<Vec<_>>());
            }
            for d in datasets {
                println!("{:>4}  {:<30} {}", d.id, d.name, rapport_engine::stream::schema_id(&d.schema));
            }
            Ok(())
        }
        DatasetCommand::Export { name, to, format, gzip, json } => {
            use rapport_destinations::dataset::DatasetFormat;
            use rapport_destinations::file::Compression;
            let options = rapport_engine::DatasetExportOptions {
                format: match format {
                    ExportFormatArg::Parquet => DatasetFormat::Parquet,
                    ExportFormatArg::Json => DatasetFormat::Json,
                },
                compression: if *gzip { Compression::Gzip } else { Compression::None },
                ..rapport_engine::DatasetExportOptions::default()
            };
            let report = engine.export_dataset(name, to, &options)?;
            if *json {
                return print_json(&report);
            }
            if report.files.is_empty() {
                println!("dataset `{name}`: nothing new to export");
            }
            for f in &report.files {
                println!("{} ({} records)", f.path.display(), f.rows);
            }
            Ok(())
        }
    }
}

/// `rapport bench stream`: JSON report on stdout.
pub fn bench_stream(args: &StreamBenchArgs) -> Result<()> {
    let options = rapport_server::loadgen::LoadOptions {
        url: args.url.clone(),
        inlet: args.inlet.clone(),
        token: args.token.clone(),
        messages: args.messages,
        batch: args.batch,
        concurrency: args.concurrency,
        dataset: args.dataset.clone(),
        schema_ref: rapport_engine::stream::schema_id("B2B Person"),
        seed: args.seed,
    };
    let report = rapport_server::loadgen::run(&options)?;
    print_json(&report)
}
