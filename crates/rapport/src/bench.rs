//! `rapport bench …`: in-process measurements for the benchmark harness (`bench/run.sh`).
//!
//! Each workload loads what it needs once, reports that load time apart, then repeats only the measured work
//! `--repeat` times. It prints one JSON object on stdout with every sample, their median and the answer (member
//! count, component count, rows) so the harness can check that the peers computed the same thing. Timings come
//! from [`Instant`] around the measured calls only, never from the process as a whole.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use clap::Subcommand;
use rapport_engine::{Engine, Quiet};
use rapport_model::{EntityKind, FieldPath, Identity, SourceSystem};
use serde::Serialize;
use serde_json::{json, Value};

/// `rapport bench …`: one measured workload, JSON on stdout.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Loads Bodea exports (as written by `rapport generate bodea`) into the data directory: B2B schemas,
    /// Salesforce, Dynamics and Marketo ingestion with Bodea's instance ids (profiles kept current per batch). Reports each step's time
    /// and the process's peak memory.
    Load {
        /// The folder `rapport generate bodea --out` wrote.
        #[arg(long)]
        bodea: PathBuf,
    },
    /// Batch evaluation of an audience: loads the profile graph once (timed apart), compiles the PQL once, then
    /// times `evaluate` `--repeat` times.
    Audience {
        /// The PQL definition (people).
        #[arg(long)]
        pql: String,
        /// Measured repetitions.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// Exact estimate of an unsaved definition: loads the profile graph once (timed apart), then times
    /// compile + evaluate + count `--repeat` times.
    Estimate {
        /// The PQL definition (people).
        #[arg(long)]
        pql: String,
        /// Measured repetitions.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// Change latency: loads the profile graph and builds the incremental state of the audience once (both timed
    /// apart), then applies `--changes` single-profile changes drawn with `--seed`, one by one, each timed from the
    /// record update to the decided membership delta (`Incremental::apply`). Half the changes flip an
    /// opportunity's `isClosed` (reaching the people of its account), half add or remove `Sales` in a person's
    /// `extendedWorkDetails.departments`. Checks at the end that the state equals a fresh batch evaluation. Answers
    /// the number of members before the changes.
    ChangeLatency {
        /// The PQL definition (people).
        #[arg(long)]
        pql: String,
        /// Changes applied (and timed one by one) per repetition; `--repeat` continues the same draw.
        #[arg(long, default_value_t = 10_000)]
        changes: usize,
        /// Measured repetitions.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Seed of the draw.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Identity stitching: reads an edge file (`a,b` lines of `namespace:value`, header `a,b`) once, then times
    /// `rapport_identity::stitch` over all edges `--repeat` times. Answers the number of connected components.
    Stitch {
        /// The edge file (`rapport bench edges` writes one).
        #[arg(long)]
        edges: PathBuf,
        /// Measured repetitions.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// Incremental stitching: reads an edge file once and builds the in-memory graphs of all its edges (one
    /// record per edge; both timed apart), then inserts `--records` new records drawn with `--seed`, one by one,
    /// each timed from the record to its graphs replaced (`rapport_identity::Graphs::insert`: the closed set of
    /// graphs it reaches found, their records re-stitched with it under the default linking rules, the graphs
    /// put back). A third of the records bring a new cookie to an existing identity, a third a new person
    /// (email and CRM id), a third link two existing identities (merging two graphs). Checks at the end that
    /// the graphs equal a from-scratch stitch of every record. Answers the final number of graphs.
    StitchIncremental {
        /// The edge file (`rapport bench edges` writes one).
        #[arg(long)]
        edges: PathBuf,
        /// Records inserted (and timed one by one) per repetition; `--repeat` continues the same draw.
        #[arg(long, default_value_t = 10_000)]
        records: usize,
        /// Measured repetitions.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Seed of the draw.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Writes the identity-edge workload: per person email ↔ CRM id, CRM ↔ Marketo id for half, 1–3 cookies,
    /// and 1% cross-links between random persons (about 3.5 edges a person).
    Edges {
        /// The CSV file to write.
        #[arg(long)]
        out: PathBuf,
        /// Number of persons.
        #[arg(long, default_value_t = 10_000)]
        persons: u64,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Batch ingestion of one export file: each repetition opens a fresh data directory with the B2B schemas
    /// (untimed), then times `ingest` (map, validate, identities, stitch, merge, durable commit).
    Ingest {
        /// The source system.
        #[arg(long, default_value = "salesforce")]
        system: SourceSystem,
        /// The instance id source keys are built with (default: Bodea's Salesforce org).
        #[arg(long, default_value = rapport_sample::SALESFORCE_ORG_ID)]
        instance: String,
        /// The export file (or folder).
        file: PathBuf,
        /// Measured repetitions.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Where the fresh data directories go (each is removed after its repetition).
        #[arg(long, default_value_os_t = std::env::temp_dir())]
        work_dir: PathBuf,
    },
    /// Full CSV export: evaluates the audience once (timed apart), then times building the member rows
    /// (primary identity, email, first and last name, account name) and writing them with
    /// `rapport_destinations::export_csv` (temporary file, fsync, rename) `--repeat` times.
    Export {
        /// The PQL definition (people); select everyone with `b2b.personKey.sourceKey.isNotNull()`.
        #[arg(long)]
        pql: String,
        /// Measured repetitions.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Where the CSV files go (removed after each repetition).
        #[arg(long, default_value_os_t = std::env::temp_dir())]
        work_dir: PathBuf,
    },
    /// Activation flow runs (the engine side of a file export): creates an audience from `--pql` (evaluated
    /// once, timed apart) and a CSV file destination, then for each of `--repeat` fresh flows times the first
    /// run (the full export: members and payloads, comparison with the empty state, the file, recording the
    /// state of every member). Then changes the first name of `--churn-percent` of the members (a Marketo
    /// lead batch with a newer date per chosen member, ingested untimed) and times each flow's incremental run,
    /// which must export exactly those members. Files go under `--work-dir` and are removed; the audience,
    /// destination and flows stay in the data directory. By default the runs read the resident profile graph
    /// `rapport serve` keeps (loaded once after the flows exist, timed apart, and patched by the churn batch as
    /// `serve` does); `--one-shot` times the runs of a process without it (each run loads the mapped fields).
    Activation {
        /// The PQL definition (people); select everyone with `b2b.personKey.sourceKey.isNotNull()`.
        #[arg(long)]
        pql: String,
        /// Share of the members whose first name changes before the incremental runs, in percent.
        #[arg(long, default_value_t = 1.0)]
        churn_percent: f64,
        /// Measured repetitions (one fresh flow each).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Where the files and the churn batch go (removed at the end).
        #[arg(long, default_value_os_t = std::env::temp_dir())]
        work_dir: PathBuf,
        /// Run as a one-shot process (`rapport activate run`): no resident graph, each run loads the profiles.
        #[arg(long)]
        one_shot: bool,
    },
    /// Streaming over HTTP: a load generator against a running `rapport serve` (multi-message requests over
    /// keep-alive connections); reports messages/s and acknowledgement latency.
    Stream(crate::serve::StreamBenchArgs),
    /// Streaming, self-contained: each repetition starts `rapport serve`'s server in this process on a fresh
    /// data directory (B2B schemas, a `bench.person` dataset, one inlet; durability full) on an ephemeral
    /// loopback port, and runs the load generator against it. Times the whole send; reports messages/s and the
    /// acknowledgement latency percentiles (an answer comes only after its messages and the profiles they
    /// change are committed).
    Streaming {
        /// Messages per repetition.
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
        /// Messages per request.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 6)]
        concurrency: usize,
        /// Measured repetitions.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Where the fresh data directories go (each is removed after its repetition).
        #[arg(long, default_value_os_t = std::env::temp_dir())]
        work_dir: PathBuf,
    },
    /// Restart: times `Engine::open` + loading the linked profile graph with what the Bodea audience reads,
    /// `--repeat` times; reports the process's peak RSS.
    Restart {
        /// Measured repetitions.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// Live audience latency over HTTP: `rapport serve` in process on loopback over the data directory (its
    /// audiences resident), an audience `bench-live` with `--pql` (created if missing), then `--changes`
    /// streamed records sent one at a time, each flipping `isClosed` of an opportunity drawn with `--seed`. Each
    /// sample is one request from its first byte to its answer, which comes once the record, its profile and the
    /// audience memberships it changed are committed. After `--warmup` unmeasured requests. Checks at the end that
    /// a full evaluation finds nothing to change.
    LiveLatency {
        /// The audience's PQL definition.
        #[arg(long)]
        pql: String,
        /// Measured requests.
        #[arg(long, default_value_t = 1000)]
        changes: usize,
        /// Unmeasured requests first.
        #[arg(long, default_value_t = 20)]
        warmup: usize,
        /// Seed of the draw of opportunities.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Lookup: `Engine::lookup` of person profiles by identities drawn at random (seeded) from the stored
    /// profiles, after one untimed warm-up pass; each lookup is timed on its own. Reports the p50/p99/max
    /// latency over all measured lookups.
    Lookup {
        /// Identities drawn.
        #[arg(long, default_value_t = 1000)]
        lookups: usize,
        /// Measured passes over the drawn identities.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Seed of the draw.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

/// The JSON every workload prints.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) workload: &'static str,
    /// What is timed, in words.
    pub(crate) measures: String,
    /// Untimed-for-the-median preparation (loading), in seconds.
    pub(crate) load_seconds: Option<f64>,
    pub(crate) samples_seconds: Vec<f64>,
    pub(crate) median_seconds: f64,
    /// The answer the peers must reproduce.
    pub(crate) answer: Value,
    /// Peak resident set size of this process so far (VmHWM), in bytes.
    pub(crate) peak_rss_bytes: Option<u64>,
    pub(crate) extra: Value,
}

pub(crate) fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Peak resident set size of this process (`VmHWM` in `/proc/self/status`), in bytes; `None` off Linux.
pub(crate) fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// CPU time of the calling thread so far (user + system, `/proc/thread-self/stat`, in ticks of 1/100 s), in
/// seconds; `None` off Linux. On a shared machine the wall time of a sample includes waiting for a core; this
/// does not.
pub(crate) fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let user: u64 = fields.nth(11)?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

pub(crate) fn seconds<T>(run: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let start = Instant::now();
    let out = run()?;
    Ok((out, start.elapsed().as_secs_f64()))
}

pub(crate) fn open(data_dir: &Path) -> Result<Engine> {
    Engine::open(data_dir).with_context(|| format!("opening data directory {}", data_dir.display()))
}

/// Runs one workload and prints its report.
pub fn run(data_dir: &Path, command: &BenchCommand) -> Result<()> {
    let report = match command {
        BenchCommand::Load { bodea } => load(data_dir, bodea)?,
        BenchCommand::Audience { pql, repeat } => audience(data_dir, pql, *repeat)?,
        BenchCommand::Estimate { pql, repeat } => estimate(data_dir, pql, *repeat)?,
        BenchCommand::ChangeLatency { pql, changes, repeat, seed } => {
            change_latency(data_dir, pql, *changes, *repeat, *seed)?
        }
        BenchCommand::Stitch { edges, repeat } => stitch(edges, *repeat)?,
        BenchCommand::StitchIncremental { edges, records, repeat, seed } => {
            stitch_incremental(edges, *records, *repeat, *seed)?
        }
        BenchCommand::Edges { out, persons, seed } => {
            let written = rapport_sample::write_edges(out, *persons, *seed)
                .with_context(|| format!("writing edges to {}", out.display()))?;
            println!("{}", serde_json::to_string_pretty(&written)?);
            return Ok(());
        }
        BenchCommand::Ingest { system, instance, file, repeat, work_dir } => {
            ingest(*system, instance, file, *repeat, work_dir)?
        }
        BenchCommand::Export { pql, repeat, work_dir } => export(data_dir, pql, *repeat, work_dir)?,
        BenchCommand::Activation { pql, churn_percent, repeat, work_dir, one_shot } => {
            crate::bench_activation::activation(data_dir, pql, *churn_percent, *repeat, work_dir, !*one_shot)?
        }
        BenchCommand::Restart { repeat } => restart(data_dir, *repeat)?,
        BenchCommand::Lookup { lookups, repeat, seed } => lookup(data_dir, *lookups, *repeat, *seed)?,
        BenchCommand::LiveLatency { pql, changes, warmup, seed } => {
            live_latency(data_dir, pql, *changes, *warmup, *seed)?
        }
        BenchCommand::Stream(args) => return crate::serve::bench_stream(args),
        BenchCommand::Streaming { messages, batch, concurrency, repeat, work_dir } => {
            streaming(*messages, *batch, *concurrency, *repeat, work_dir)?
        }
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

pub(crate) fn check_repeat(repeat: usize) -> Result<()> {
    ensure!(repeat >= 1, "--repeat must be at least 1");
    Ok(())
}

fn load(data_dir: &Path, bodea: &Path) -> Result<Report> {
    let mut engine = open(data_dir)?;
    let mut steps = serde_json::Map::new();
    let (_, s) = seconds(|| Ok(engine.generate_b2b_schemas()?))?;
    steps.insert("schemas".into(), s.into());
    let mut rows = serde_json::Map::new();
    for (system, instance) in [
        (SourceSystem::Salesforce, rapport_sample::SALESFORCE_ORG_ID),
        (SourceSystem::Dynamics, rapport_sample::DYNAMICS_ORG_ID),
        (SourceSystem::Marketo, rapport_sample::MARKETO_MUNCHKIN_ID),
    ] {
        let folder = bodea.join(system.name());
        let (report, s) = seconds(|| Ok(engine.ingest(system, std::slice::from_ref(&folder), instance, &Quiet)?))?;
        steps.insert(format!("ingest {}", system.name()), s.into());
        rows.insert(
            system.name().to_owned(),
            json!({"read": report.rows_read(), "ingested": report.rows_ingested(), "rejected": report.rows_rejected()}),
        );
    }
    // Each batch stitched and merged its profiles as it committed; this only counts them.
    let unified = engine.profile_summary()?;
    let total: f64 = steps.values().filter_map(Value::as_f64).sum();
    let profiles: serde_json::Map<String, Value> =
        unified.entities.iter().map(|e| (e.entity.name().to_owned(), e.profiles.into())).collect();
    Ok(Report {
        workload: "load",
        measures: "schemas + ingest of every Bodea export (each batch updates its profiles), once".into(),
        load_seconds: None,
        samples_seconds: vec![total],
        median_seconds: total,
        answer: json!({"profiles": profiles, "rows": rows}),
        peak_rss_bytes: peak_rss(),
        extra: json!({"steps_seconds": steps}),
    })
}

fn compile(engine: &Engine, pql: &str) -> Result<rapport_segment::Plan> {
    rapport_segment::compile(pql, EntityKind::Person, engine.schemas()).map_err(|e| anyhow::anyhow!(e.render()))
}

fn audience(data_dir: &Path, pql: &str, repeat: usize) -> Result<Report> {
    check_repeat(repeat)?;
    let engine = open(data_dir)?;
    let (plan, compile_seconds) = seconds(|| compile(&engine, pql))?;
    // The graph holds only the fields the plan reads, as `Engine::evaluate_audience` loads it; the columns copy
    // them out once, as an evaluation service keeps them in memory.
    let (graph, load_seconds) = seconds(|| Ok(engine.profile_graph_for(&plan.fields())?))?;
    let (columns, columns_seconds) = seconds(|| Ok(rapport_segment::Columns::for_plan(&plan, &graph)))?;
    let mut samples = Vec::with_capacity(repeat);
    let mut sizes = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let (members, s) = seconds(|| Ok(rapport_segment::evaluate_columns(&plan, &columns)?))?;
        samples.push(s);
        sizes.push(members.len());
    }
    ensure!(sizes.windows(2).all(|w| w[0] == w[1]), "evaluation answers differ between repetitions: {sizes:?}");
    Ok(Report {
        workload: "audience",
        measures: "rapport_segment::evaluate_columns of a compiled plan over the loaded columns (batch, columnar, \
                   bitsets), member ids out"
            .into(),
        load_seconds: Some(load_seconds + columns_seconds),
        median_seconds: median(&samples),
        samples_seconds: samples,
        answer: json!({"members": sizes[0], "persons": graph.set(EntityKind::Person).stored()}),
        peak_rss_bytes: peak_rss(),
        extra: json!({"compile_seconds": compile_seconds, "graph_seconds": load_seconds, "columns_seconds": columns_seconds}),
    })
}

fn estimate(data_dir: &Path, pql: &str, repeat: usize) -> Result<Report> {
    check_repeat(repeat)?;
    let engine = open(data_dir)?;
    let plan = compile(&engine, pql)?;
    let (graph, load_seconds) = seconds(|| Ok(engine.profile_graph_for(&plan.fields())?))?;
    let (columns, columns_seconds) = seconds(|| Ok(rapport_segment::Columns::for_plan(&plan, &graph)))?;
    let mut samples = Vec::with_capacity(repeat);
    let mut sizes = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let (size, s) = seconds(|| {
            let plan = compile(&engine, pql)?;
            Ok(rapport_segment::evaluate_columns(&plan, &columns)?.len())
        })?;
        samples.push(s);
        sizes.push(size);
    }
    ensure!(sizes.windows(2).all(|w| w[0] == w[1]), "estimates differ between repetitions: {sizes:?}");
    Ok(Report {
        workload: "estimate",
        measures: "parse + bind + columnar evaluation + count of an unsaved definition over the loaded columns".into(),
        load_seconds: Some(load_seconds + columns_seconds),
        median_seconds: median(&samples),
        samples_seconds: samples,
        answer: json!({"members": sizes[0]}),
        peak_rss_bytes: peak_rss(),
        extra: json!({"graph_seconds": load_seconds, "columns_seconds": columns_seconds}),
    })
}

/// The value at a dotted path of a record, created (with its parents) when missing.
fn record_slot<'a>(record: &'a mut rapport_model::Record, path: &[&str]) -> &'a mut Value {
    let (last, parents) = path.split_last().expect("a path has a segment");
    let mut map = record;
    for segment in parents {
        let next = map.entry(segment.to_string()).or_insert_with(|| json!({}));
        if !next.is_object() {
            *next = json!({});
        }
        map = next.as_object_mut().expect("just made an object");
    }
    map.entry(last.to_string()).or_insert(Value::Null)
}

fn change_latency(data_dir: &Path, pql: &str, changes: usize, repeat: usize, seed: u64) -> Result<Report> {
    check_repeat(repeat)?;
    ensure!(changes >= 1, "--changes must be at least 1");
    let engine = open(data_dir)?;
    let plan = compile(&engine, pql)?;
    let mut fields = plan.fields();
    // The changes write these two fields: load them even when the definition does not read them.
    let path = |p: &str| FieldPath::parse(p).expect("valid path");
    fields.entry(EntityKind::Opportunity).or_default().insert(path("isClosed"));
    fields.entry(EntityKind::Person).or_default().insert(path("extendedWorkDetails.departments"));
    let (mut graph, load_seconds) = seconds(|| Ok(engine.profile_graph_for(&fields)?))?;
    let (persons, opportunities) =
        (graph.set(EntityKind::Person).stored(), graph.set(EntityKind::Opportunity).stored());
    ensure!(persons > 0 && opportunities > 0, "the data directory needs person and opportunity profiles");
    let (mut state, state_seconds) = seconds(|| Ok(rapport_segment::Incremental::new(plan.clone(), &graph)))?;
    let initial = state.members().len();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut latencies = Vec::with_capacity(repeat * changes);
    let (mut entered, mut exited, mut evaluated) = (0u64, 0u64, 0u64);
    for _ in 0..repeat {
        for i in 0..changes {
            let (entity, id) = if i % 2 == 0 {
                (EntityKind::Opportunity, rng.usize(..opportunities))
            } else {
                (EntityKind::Person, rng.usize(..persons))
            };
            let start = Instant::now();
            let set = graph.sets.get_mut(&entity).expect("the class has profiles");
            let record = &mut set.profiles[id].record;
            if entity == EntityKind::Opportunity {
                let slot = record_slot(record, &["isClosed"]);
                *slot = Value::Bool(slot != &Value::Bool(true));
            } else {
                let slot = record_slot(record, &["extendedWorkDetails", "departments"]);
                let mut departments: Vec<Value> = slot.as_array().cloned().unwrap_or_default();
                match departments.iter().position(|d| d == "Sales") {
                    Some(at) => {
                        departments.remove(at);
                    }
                    None => departments.push(Value::from("Sales")),
                }
                *slot = Value::Array(departments);
            }
            let delta = state.apply(&graph, &[rapport_segment::Change { entity, id: id as u32 }]);
            latencies.push(start.elapsed().as_secs_f64());
            entered += delta.entered.len() as u64;
            exited += delta.exited.len() as u64;
            evaluated += delta.evaluated;
        }
    }
    // The state must equal a fresh batch evaluation of the changed graph.
    let fresh = rapport_segment::evaluate(&plan, &graph);
    ensure!(
        &fresh == state.members(),
        "incremental members ({}) differ from a fresh evaluation ({})",
        state.members().len(),
        fresh.len()
    );
    let samples = latencies.clone();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1];
    Ok(Report {
        workload: "change-latency",
        measures: format!(
            "one change applied in process (record updated, Incremental::apply decides entered/exited), {changes} \
             changes drawn with seed {seed}: half an opportunity's isClosed flipped, half Sales toggled in a person's \
             departments; every change is one sample"
        ),
        load_seconds: Some(load_seconds + state_seconds),
        median_seconds: median(&samples),
        samples_seconds: samples,
        // The members before the changes: the same whatever `--repeat` (the harness compares rounds); the final
        // members were checked above against a fresh evaluation.
        answer: json!({"members": initial}),
        peak_rss_bytes: peak_rss(),
        extra: json!({
            "graph_seconds": load_seconds,
            "state_seconds": state_seconds,
            "p50_ms": at(0.50) * 1e3,
            "p99_ms": at(0.99) * 1e3,
            "max_ms": at(1.0) * 1e3,
            "changes": latencies.len(),
            "final_members": fresh.len(),
            "entered": entered,
            "exited": exited,
            "evaluated_per_change": evaluated as f64 / latencies.len() as f64,
        }),
    })
}

fn read_edges(path: &Path) -> Result<Vec<[Identity; 2]>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut edges = Vec::new();
    let parse = |s: &str, line: usize| -> Result<Identity> {
        let Some((ns, value)) = s.split_once(':') else {
            bail!("{}:{line}: `{s}` is not `namespace:value`", path.display());
        };
        Ok(Identity::new(ns, value))
    };
    for (i, line) in text.lines().enumerate() {
        if i == 0 && line == "a,b" {
            continue;
        }
        let Some((a, b)) = line.split_once(',') else {
            bail!("{}:{}: expected `a,b`", path.display(), i + 1);
        };
        edges.push([parse(a, i + 1)?, parse(b, i + 1)?]);
    }
    Ok(edges)
}

/// Each edge as a record: its first identity primary, no modification time.
fn edge_record(edge: &[Identity; 2]) -> rapport_identity::RecordRef<'_> {
    rapport_identity::RecordRef { primary: &edge[0], identities: edge.as_slice(), updated_at: "" }
}

fn stitch(path: &Path, repeat: usize) -> Result<Report> {
    check_repeat(repeat)?;
    let (edges, read_seconds) = seconds(|| read_edges(path))?;
    // The standard namespaces' default rules: none of the workload's namespaces (Email, b2b_person, ECID) is
    // unique, so the answer is the connected components the peers compute, unless a graph passes the cap.
    let rules = rapport_identity::LinkingRules::default();
    // Interning the string identities to u32 nodes is part of the load, as the peers' loading of the edge table
    // is: it happens once, when the identities are read, and is reported apart (`extra.intern_seconds`).
    let (interned, intern_seconds) =
        seconds(|| Ok(rapport_identity::Interned::new(&edges, edge_record, rules.max_per_record)))?;
    let mut samples = Vec::with_capacity(repeat);
    let mut cpu_samples = Vec::with_capacity(repeat);
    let mut answers = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        // `stitch` consumes its input: each repetition starts from an untimed copy of the interned edges.
        let input = interned.clone();
        let cpu = thread_cpu_seconds();
        let (stitching, s) = seconds(|| Ok(input.stitch(&rules)))?;
        if let (Some(before), Some(after)) = (cpu, thread_cpu_seconds()) {
            cpu_samples.push(after - before);
        }
        samples.push(s);
        answers.push((stitching.len(), stitching.identity_count()));
        drop(stitching);
    }
    ensure!(answers.windows(2).all(|w| w[0] == w[1]), "stitching answers differ between repetitions");
    Ok(Report {
        workload: "stitch",
        measures: "rapport_identity::Interned::stitch over every edge (one record per edge) under the default \
                   linking rules, identities already interned to u32 (interning is part of the load): union-find \
                   over u32, 50-identity cap checked, records and identities laid out per numbered graph \
                   (each graph's identities are sorted when it is read, not here)"
            .into(),
        load_seconds: Some(read_seconds + intern_seconds),
        median_seconds: median(&samples),
        samples_seconds: samples,
        answer: json!({"components": answers[0].0, "nodes": answers[0].1, "edges": edges.len()}),
        peak_rss_bytes: peak_rss(),
        extra: json!({
            "read_seconds": read_seconds,
            "intern_seconds": intern_seconds,
            "nodes": interned.len(),
            "cpu_samples_seconds": cpu_samples,
            "cpu_median_seconds": if cpu_samples.is_empty() { None } else { Some(median(&cpu_samples)) },
        }),
    })
}

/// See [`BenchCommand::StitchIncremental`].
fn stitch_incremental(path: &Path, records: usize, repeat: usize, seed: u64) -> Result<Report> {
    use rapport_identity::{Graphs, OwnedRecord};
    check_repeat(repeat)?;
    ensure!(records >= 1, "--records must be at least 1");
    let (edges, read_seconds) = seconds(|| read_edges(path))?;
    ensure!(!edges.is_empty(), "{} holds no edge", path.display());
    let edge_count = edges.len();
    let rules = rapport_identity::LinkingRules::default();
    let (mut graphs, build_seconds) = seconds(|| {
        let owned: Vec<OwnedRecord> =
            edges.into_iter().map(|[a, b]| OwnedRecord::new(a, [b], "2026-01-01T00:00:00Z")).collect();
        Ok(Graphs::from_records(owned, rules.clone()))
    })?;
    let initial = graphs.len();
    // Room for what the draw adds (at most two identities a record), as a service sizes its state ahead.
    graphs.reserve(repeat * records, 2 * repeat * records);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut latencies = Vec::with_capacity(repeat * records);
    let mut samples = Vec::with_capacity(repeat);
    let (mut replaced, mut restitched, mut next) = (0u64, 0u64, 0u64);
    for _ in 0..repeat {
        let pass = Instant::now();
        for i in 0..records {
            // An identity some existing record carries (drawn before the timer).
            let existing = |rng: &mut fastrand::Rng| {
                let record = &graphs.records()[rng.usize(..graphs.records().len())];
                record.identities()[rng.usize(..record.identities().len())].clone()
            };
            next += 1;
            let record = match i % 3 {
                0 => OwnedRecord::new(
                    Identity::new("ECID", format!("{:038}", u128::from(next) << 64 | u128::from(rng.u64(..)))),
                    [existing(&mut rng)],
                    "2026-01-02T00:00:00Z",
                ),
                1 => OwnedRecord::new(
                    Identity::new("Email", format!("new{next}@bench.example")),
                    [Identity::new("b2b_person", format!("new{next}@bench.Salesforce"))],
                    "2026-01-02T00:00:00Z",
                ),
                _ => {
                    let a = existing(&mut rng);
                    OwnedRecord::new(a, [existing(&mut rng)], "2026-01-02T00:00:00Z")
                }
            };
            let start = Instant::now();
            let (_, update) = graphs.insert(record);
            latencies.push(start.elapsed().as_secs_f64());
            replaced += update.replaced as u64;
            restitched += update.records as u64;
        }
        samples.push(pass.elapsed().as_secs_f64());
    }
    // The graphs must equal a from-scratch stitch of every record: the same partition of the records.
    let (scratch, scratch_seconds) =
        seconds(|| Ok(rapport_identity::stitch_with(graphs.records(), OwnedRecord::view, &rules)))?;
    ensure!(
        scratch.len() == graphs.len() && scratch.identity_count() == graphs.identity_count(),
        "incremental graphs ({}, {} identities) differ from a rebuild ({}, {} identities)",
        graphs.len(),
        graphs.identity_count(),
        scratch.len(),
        scratch.identity_count()
    );
    for graph in scratch.graphs() {
        let slot = graphs.graph_of_record(graph.records()[0]);
        ensure!(
            graphs.records_of(slot) == graph.records(),
            "incremental graph of record {} differs from the rebuild",
            graph.records()[0]
        );
    }
    let count = latencies.len();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((count as f64 * q).ceil() as usize).clamp(1, count) - 1];
    Ok(Report {
        workload: "stitch-incremental",
        measures: format!(
            "rapport_identity::Graphs::insert of one record into the in-memory graphs of {edge_count} edge records \
             (closed set of reached graphs found, their records re-stitched with it under the default linking \
             rules, graphs replaced; no storage, no profile merge), {records} records drawn with seed {seed}; a \
             sample is one pass over them, percentiles are per record"
        ),
        load_seconds: Some(read_seconds + build_seconds),
        median_seconds: median(&samples),
        samples_seconds: samples,
        answer: json!({"graphs_before": initial}),
        peak_rss_bytes: peak_rss(),
        extra: json!({
            "read_seconds": read_seconds,
            "build_seconds": build_seconds,
            "rebuild_check_seconds": scratch_seconds,
            "records": count,
            "graphs_after": graphs.len(),
            "p50_us": at(0.50) * 1e6,
            "p99_us": at(0.99) * 1e6,
            "max_us": at(1.0) * 1e6,
            "graphs_replaced_per_record": replaced as f64 / count as f64,
            "records_restitched_per_record": restitched as f64 / count as f64,
        }),
    })
}

fn ingest(system: SourceSystem, instance: &str, file: &Path, repeat: usize, work_dir: &Path) -> Result<Report> {
    check_repeat(repeat)?;
    let mut samples = Vec::with_capacity(repeat);
    let mut answers = Vec::with_capacity(repeat);
    let mut prepare_seconds = 0.0;
    for i in 0..repeat {
        let dir = work_dir.join(format!("rapport-bench-ingest-{}-{i}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        let (mut engine, s) = seconds(|| {
            let mut engine = open(&dir)?;
            engine.generate_b2b_schemas()?;
            Ok(engine)
        })?;
        prepare_seconds += s;
        let paths = [file.to_owned()];
        let (answer, s) = seconds(|| {
            let report = engine.ingest(system, &paths, instance, &Quiet)?;
            let profiles: u64 = report.files.iter().map(|f| f.profiles.written).sum();
            Ok((report.rows_read(), report.rows_ingested(), report.rows_rejected(), profiles))
        })?;
        drop(engine);
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        samples.push(s);
        answers.push(answer);
    }
    ensure!(answers.windows(2).all(|w| w[0] == w[1]), "ingest answers differ between repetitions: {answers:?}");
    let (read, ingested, rejected, profiles) = answers[0];
    let median_seconds = median(&samples);
    Ok(Report {
        workload: "ingest",
        measures: "Engine::ingest in a fresh data directory: read, map to XDM, validate, extract identities, \
                   store fragments, stitch, merge, write profiles, commit the batch (SQLite WAL, synchronous=FULL); \
                   the log-to-database checkpoint runs on a background thread and is not timed"
            .into(),
        load_seconds: Some(prepare_seconds / repeat as f64),
        median_seconds,
        samples_seconds: samples,
        answer: json!({"rows_read": read, "rows_ingested": ingested, "rows_rejected": rejected, "profiles": profiles}),
        peak_rss_bytes: peak_rss(),
        extra: json!({"rows_read_per_second": read as f64 / median_seconds}),
    })
}

fn text_at(record: &rapport_model::Record, path: &FieldPath) -> String {
    path.get(record).and_then(|v| v.as_str()).map(|s| s.trim().to_owned()).unwrap_or_default()
}

fn export(data_dir: &Path, pql: &str, repeat: usize, work_dir: &Path) -> Result<Report> {
    check_repeat(repeat)?;
    let engine = open(data_dir)?;
    let (first, last, account_name) = (
        FieldPath::parse("person.name.firstName")?,
        FieldPath::parse("person.name.lastName")?,
        FieldPath::parse("accountName")?,
    );
    let plan =
        rapport_segment::compile(pql, EntityKind::Person, engine.schemas()).map_err(|e| anyhow::anyhow!(e.render()))?;
    // The graph holds what the plan reads plus the exported attributes, as activation loads it.
    let mut fields = plan.fields();
    fields.entry(EntityKind::Person).or_default().extend([first.clone(), last.clone()]);
    fields.entry(EntityKind::Account).or_default().insert(account_name.clone());
    let (graph, load_seconds) = seconds(|| Ok(engine.profile_graph_for(&fields)?))?;
    let (members, evaluate_seconds) = seconds(|| Ok(rapport_segment::evaluate(&plan, &graph)))?;
    let persons = graph.set(EntityKind::Person);
    let accounts = graph.set(EntityKind::Account);
    let navigation = graph.navigation(EntityKind::Person, "accounts");
    let mut samples = Vec::with_capacity(repeat);
    let mut rows_written = Vec::with_capacity(repeat);
    for i in 0..repeat {
        let dir = work_dir.join(format!("rapport-bench-export-{}-{i}", std::process::id()));
        let (rows, s) = seconds(|| {
            let rows: Vec<Vec<String>> = members
                .iter()
                .map(|id| {
                    let profile = &persons.profiles[id as usize];
                    let account = navigation
                        .and_then(|nav| nav.targets.get(id as usize))
                        .and_then(|targets| {
                            targets
                                .iter()
                                .map(|&a| &accounts.profiles[a as usize])
                                .map(|a| (&a.primary, text_at(&a.record, &account_name)))
                                .filter(|(_, name)| !name.is_empty())
                                .min()
                        })
                        .map(|(_, name)| name)
                        .unwrap_or_default();
                    vec![
                        format!("{}:{}", profile.primary.namespace, profile.primary.value),
                        profile
                            .identities
                            .iter()
                            .find(|i| i.namespace.as_str() == "Email")
                            .map(|i| i.value.clone())
                            .unwrap_or_default(),
                        text_at(&profile.record, &first),
                        text_at(&profile.record, &last),
                        account,
                    ]
                })
                .collect();
            let table = rapport_destinations::ExportTable {
                columns: rapport_engine::activate::FILE_COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
                rows,
            };
            // The epoch as the export time: file names stay fixed and no clock crate is needed here.
            let files = rapport_destinations::export_csv(
                &dir,
                "Rapport_File",
                "bench",
                Default::default(),
                &table,
                &Default::default(),
            )?;
            Ok(files.iter().map(|f| f.rows).sum::<usize>())
        })?;
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        samples.push(s);
        rows_written.push(rows);
    }
    ensure!(rows_written.iter().all(|&r| r as u64 == members.len()), "export wrote {rows_written:?} rows");
    Ok(Report {
        workload: "export",
        measures: "build each member's row (primary identity, email, first name, last name, account name) and \
                   write the CSV (temporary file, fsync, rename)"
            .into(),
        load_seconds: Some(load_seconds),
        median_seconds: median(&samples),
        samples_seconds: samples,
        answer: json!({"rows": members.len()}),
        peak_rss_bytes: peak_rss(),
        extra: json!({"evaluate_seconds": evaluate_seconds}),
    })
}

fn restart(data_dir: &Path, repeat: usize) -> Result<Report> {
    check_repeat(repeat)?;
    let mut samples = Vec::with_capacity(repeat);
    let mut answers = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let (persons, s) = seconds(|| {
            let engine = open(data_dir)?;
            let plan = rapport_segment::compile(crate::demo::BODEA_PQL, EntityKind::Person, engine.schemas())
                .map_err(|e| anyhow::anyhow!(e.render()))?;
            let graph = engine.profile_graph_for(&plan.fields())?;
            Ok(graph.set(EntityKind::Person).stored())
        })?;
        samples.push(s);
        answers.push(persons);
    }
    ensure!(answers.windows(2).all(|w| w[0] == w[1]), "restarts loaded different graphs: {answers:?}");
    Ok(Report {
        workload: "restart",
        measures: "Engine::open + the linked profile graph holding what the Bodea audience reads (relationship \
                   keys and its fields): ready to evaluate"
            .into(),
        load_seconds: None,
        median_seconds: median(&samples),
        samples_seconds: samples,
        answer: json!({"persons": answers[0]}),
        peak_rss_bytes: peak_rss(),
        extra: Value::Null,
    })
}

/// See [`BenchCommand::Lookup`].
fn lookup(data_dir: &Path, lookups: usize, repeat: usize, seed: u64) -> Result<Report> {
    check_repeat(repeat)?;
    ensure!(lookups >= 1, "--lookups must be at least 1");
    let (engine, load) = seconds(|| open(data_dir))?;
    let identities = engine.store().sample_identities(EntityKind::Person, lookups, seed)?;
    ensure!(!identities.is_empty(), "the data directory holds no person profile");
    // Warm-up: one untimed pass, so that the pages the lookups read are in the cache.
    let mut found = 0u64;
    let mut related = 0u64;
    for identity in &identities {
        if let Some(view) = engine.lookup(EntityKind::Person, identity, None)? {
            found += 1;
            related += view.related.len() as u64;
        }
    }
    ensure!(found == identities.len() as u64, "{} drawn identities found no profile", identities.len() as u64 - found);
    let mut samples = Vec::with_capacity(repeat);
    let mut latencies = Vec::with_capacity(repeat * identities.len());
    for _ in 0..repeat {
        let pass = std::time::Instant::now();
        for identity in &identities {
            let start = std::time::Instant::now();
            let view = engine.lookup(EntityKind::Person, identity, None)?;
            latencies.push(start.elapsed().as_secs_f64());
            std::hint::black_box(view);
        }
        samples.push(pass.elapsed().as_secs_f64());
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1];
    let persons = engine.store().profile_counts()?.into_iter().find(|(e, _, _)| *e == EntityKind::Person);
    Ok(Report {
        workload: "lookup",
        measures: format!(
            "one pass of {} Engine::lookup calls (person, stored merge policy) by identities drawn with seed {seed}, \
             after a warm-up pass; percentiles are per lookup over all passes",
            identities.len()
        ),
        load_seconds: Some(load),
        median_seconds: median(&samples),
        samples_seconds: samples,
        answer: json!({"lookups": identities.len(), "found": found, "related": related}),
        peak_rss_bytes: peak_rss(),
        extra: json!({
            "person_profiles": persons.map(|(_, p, _)| p),
            "p50_ms": at(0.50) * 1e3,
            "p99_ms": at(0.99) * 1e3,
            "max_ms": at(1.0) * 1e3,
        }),
    })
}

/// See [`BenchCommand::Streaming`].
fn streaming(messages: u64, batch: usize, concurrency: usize, repeat: usize, work_dir: &Path) -> Result<Report> {
    check_repeat(repeat)?;
    let mut samples = Vec::with_capacity(repeat);
    let mut runs = Vec::with_capacity(repeat);
    let mut accepted = Vec::with_capacity(repeat);
    for i in 0..repeat {
        let dir = work_dir.join(format!("rapport-bench-streaming-{}-{i}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        let mut engine = open(&dir)?;
        engine.generate_b2b_schemas()?;
        engine.create_dataset("bench.person", "B2B Person")?;
        let inlet = engine.create_inlet("bench")?;
        let token = engine.create_token("bench", rapport_engine::Role::Engineer)?.token;
        let options = rapport_server::ServeOptions {
            durability: rapport_engine::Durability::Full,
            time_refresh: None,
            ..Default::default()
        };
        let server = rapport_server::Server::bind(engine, ([127, 0, 0, 1], 0).into(), options)?;
        let addr = server.local_addr()?;
        let running = server.serve_in_background()?;
        let load = rapport_server::loadgen::LoadOptions {
            url: format!("http://{addr}"),
            inlet: inlet.id,
            token,
            messages,
            batch,
            concurrency,
            dataset: "bench.person".to_owned(),
            schema_ref: rapport_engine::stream::schema_id("B2B Person"),
            seed: 1,
        };
        let report = rapport_server::loadgen::run(&load);
        running.stop()?;
        let report = report?;
        // What was acknowledged must be there: one profile per streamed person.
        let engine = open(&dir)?;
        let profiles = engine.profile_summary()?.entity(EntityKind::Person).map_or(0, |e| e.profiles);
        ensure!(
            profiles == report.accepted,
            "{} messages acknowledged but {profiles} person profiles stored",
            report.accepted
        );
        drop(engine);
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        samples.push(report.seconds);
        accepted.push(report.accepted);
        runs.push(json!({
            "messages_per_second": report.messages_per_second,
            "latency_ms": report.latency_ms,
            "failed": report.failed,
        }));
    }
    ensure!(accepted.windows(2).all(|w| w[0] == w[1]), "accepted counts differ between repetitions: {accepted:?}");
    let median_seconds = median(&samples);
    Ok(Report {
        workload: "streaming",
        measures: format!(
            "rapport serve in-process on loopback (fresh data directory, durability full) and the load generator: \
             {messages} person messages, {batch} per request, {concurrency} keep-alive connections; each answer \
             after its messages and their profiles are committed"
        ),
        load_seconds: None,
        median_seconds,
        samples_seconds: samples,
        answer: json!({"accepted": accepted[0]}),
        peak_rss_bytes: peak_rss(),
        extra: json!({"messages_per_second": messages as f64 / median_seconds, "runs": runs}),
    })
}

/// See [`BenchCommand::LiveLatency`].
fn live_latency(data_dir: &Path, pql: &str, changes: usize, warmup: usize, seed: u64) -> Result<Report> {
    const AUDIENCE: &str = "bench-live";
    const DATASET: &str = "bench.live.opportunity";
    ensure!(changes >= 1 && warmup >= 1, "--changes and --warmup must be at least 1");
    let mut engine = open(data_dir)?;
    let (_, create_seconds) = seconds(|| {
        match engine.store().audience(AUDIENCE) {
            Ok(existing) if existing.pql == pql => {}
            Ok(existing) => bail!("audience `{AUDIENCE}` exists with another definition: {}", existing.pql),
            Err(_) => {
                engine.create_audience(AUDIENCE, pql)?;
            }
        }
        Ok(())
    })?;
    let schema = engine.schemas().for_entity(EntityKind::Opportunity).context("no opportunity schema")?.name.clone();
    if !engine.store().datasets()?.iter().any(|d| d.name == DATASET) {
        engine.create_dataset(DATASET, &schema)?;
    }
    let inlet = match engine.store().inlets()?.into_iter().find(|i| i.name == "bench-live") {
        Some(inlet) => inlet.id,
        None => engine.create_inlet("bench-live")?.id,
    };
    // The opportunities to flip, with their current state.
    let mut drawn = Vec::new();
    for identity in engine.store().sample_identities(EntityKind::Opportunity, 200, seed)? {
        if let Some(view) = engine.lookup(EntityKind::Opportunity, &identity, None)? {
            let closed = view.record.get("isClosed").and_then(Value::as_bool).unwrap_or(false);
            if let Some(key) = view.record.get("opportunityKey") {
                drawn.push((key.clone(), closed));
            }
        }
    }
    ensure!(!drawn.is_empty(), "the data directory needs opportunity profiles");
    let history_mark = engine.membership_changes_since(AUDIENCE, 0, usize::MAX)?.last().map_or(0, |e| e.id);
    let size_before = engine.store().members(AUDIENCE)?.len();
    let schema_ref = rapport_engine::stream::schema_id(&schema);
    let base = chrono::Utc::now().timestamp_millis();
    let mut bodies = Vec::with_capacity(warmup + changes);
    for i in 0..warmup + changes {
        let slot = i % drawn.len();
        drawn[slot].1 = !drawn[slot].1;
        let (key, closed) = &drawn[slot];
        let envelope = json!({
            "header": {"schemaRef": {"id": schema_ref}, "datasetId": DATASET, "createdAt": base + i as i64},
            "body": {"xdmMeta": {"schemaRef": {"id": schema_ref}}, "xdmEntity": {"opportunityKey": key, "isClosed": closed}}
        });
        bodies.push(serde_json::to_vec(&envelope)?);
    }
    // A token for this run only, revoked once it ends (the data directory is the caller's).
    let token_name = format!("bench-live-{}-{base}", std::process::id());
    let token = engine.create_token(&token_name, rapport_engine::Role::Engineer)?.token;
    let options = rapport_server::ServeOptions {
        durability: rapport_engine::Durability::Full,
        time_refresh: None,
        ..Default::default()
    };
    let (server, resident_seconds) = seconds(|| {
        let server = rapport_server::Server::bind(engine, ([127, 0, 0, 1], 0).into(), options)?;
        Ok(server)
    })?;
    let addr = server.local_addr()?;
    let running = server.serve_in_background()?;
    let path = format!("/collection/{inlet}");
    let url = format!("http://{addr}");
    // The first request waits for the server to load the resident audiences: timed apart.
    let (first, ready_seconds) =
        seconds(|| Ok(rapport_server::loadgen::post_one_by_one(&url, &token, &path, &bodies[..1])?))?;
    let answers = rapport_server::loadgen::post_one_by_one(&url, &token, &path, &bodies[1..]);
    running.stop()?;
    open(data_dir)?.revoke_token(&token_name)?;
    let answers = answers?;
    ensure!(
        first.iter().chain(&answers).all(|(status, _)| *status == 200),
        "a streamed record was refused: {:?}",
        first.iter().chain(&answers).find(|(status, _)| *status != 200)
    );
    let samples: Vec<f64> = answers.iter().skip(warmup.saturating_sub(1)).map(|(_, s)| *s).collect();
    // Every acknowledged change is reflected: a full evaluation finds nothing to change.
    let mut engine = open(data_dir)?;
    let moved = engine.membership_changes_since(AUDIENCE, history_mark, usize::MAX)?.len();
    let check = engine.evaluate_audience(AUDIENCE)?;
    ensure!(
        check.change.entered == 0 && check.change.exited == 0,
        "a full evaluation after the stream changed {} entries and {} exits",
        check.change.entered,
        check.change.exited
    );
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1];
    Ok(Report {
        workload: "live-latency",
        measures: format!(
            "one streamed record over HTTP (POST /collection, one opportunity's isClosed flipped) until its answer, \
             which comes after the record, its profile and the audience memberships it changed are committed \
             (rapport serve in process on loopback, durability full, audiences resident); {changes} requests one \
             at a time after {warmup} unmeasured, opportunities drawn with seed {seed}"
        ),
        load_seconds: Some(ready_seconds),
        median_seconds: median(&samples),
        samples_seconds: samples,
        answer: json!({"members_before": size_before, "members_after": check.size}),
        peak_rss_bytes: peak_rss(),
        extra: json!({
            "create_seconds": create_seconds,
            "bind_seconds": resident_seconds,
            "first_request_seconds": ready_seconds,
            "p50_ms": at(0.50) * 1e3,
            "p90_ms": at(0.90) * 1e3,
            "p99_ms": at(0.99) * 1e3,
            "max_ms": at(1.0) * 1e3,
            "membership_changes": moved,
            "opportunities": drawn.len(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn reads_edge_files_with_header() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("e.csv");
        std::fs::write(&path, "a,b\nEmail:x@y.z,b2b_person:1@o.Salesforce\nECID:7,Email:x@y.z\n").expect("write");
        let edges = read_edges(&path).expect("read");
        assert_eq!(edges.len(), 2);
        assert_eq!(edges[1][0], Identity::new("ECID", "7"));
        let stitching = rapport_identity::stitch_with(&edges, edge_record, &rapport_identity::LinkingRules::default());
        assert_eq!(stitching.len(), 1);
    }

    /// Two components by hand: {x, p1, c7} and {y, p2}.
    fn small_edge_file(dir: &Path) -> PathBuf {
        let path = dir.join("e.csv");
        let text = "a,b\nEmail:x@y.z,b2b_person:p1\nEmail:y@y.z,b2b_person:p2\nECID:7,b2b_person:p1\n";
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn stitch_answers_the_components_of_the_edge_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let report = stitch(&small_edge_file(dir.path()), 2).expect("stitch");
        assert_eq!(report.answer, json!({"components": 2, "nodes": 5, "edges": 3}));
        assert_eq!(report.samples_seconds.len(), 2);
    }

    #[test]
    fn stitch_incremental_inserts_every_drawn_record_and_checks_a_rebuild() {
        let dir = tempfile::tempdir().expect("temp dir");
        let report = stitch_incremental(&small_edge_file(dir.path()), 30, 2, 7).expect("stitch-incremental");
        assert_eq!(report.answer, json!({"graphs_before": 2}));
        assert_eq!(report.extra["records"], json!(60));
        assert_eq!(report.samples_seconds.len(), 2);
        // Every third record is a new person (its own graph); the others join or merge existing graphs.
        let after = report.extra["graphs_after"].as_u64().expect("a count");
        assert!((1..=2 + 20).contains(&after), "{after} graphs");
    }
}
