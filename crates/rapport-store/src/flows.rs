//! Dataflows: named loads from a source location into datasets, their runs and their checkpoints.
//!
//! A flow's definition is stored as JSON ([`FlowDefinition`]). Each run is a `flow_runs` row, `running` until it
//! ends `success` or `failed`; the batches it loads point back at it (`batches.flow_run`), so a run's files and
//! row counts are read from its batches and are exact even when the run was killed. A file's checkpoint (path,
//! size, modification time, content SHA-256) is written by [`crate::BatchWriter::commit`] in the transaction that
//! commits the file's batch: a batch that did not commit leaves no checkpoint, and the next run loads the file
//! again. A PostgreSQL flow keeps one high-water mark ([`PgFlowCheckpoint`], table `flow_pg_checkpoints`),
//! committed the same way with each page's batch.

use std::fmt;
use std::str::FromStr;

use rapport_model::{EntityKind, SourceSystem};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::lifecycle::{ErrorThreshold, OwnerLock};
use crate::{now, Error, Result, Store};

/// How often a scheduled flow runs, in seconds; written `30s`, `15m`, `1h` or `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Every {
    seconds: u64,
}

impl Every {
    /// The interval in seconds.
    pub fn seconds(self) -> u64 {
        self.seconds
    }
}

impl fmt::Display for Every {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        match s {
            _ if s.is_multiple_of(86_400) => write!(f, "{}d", s / 86_400),
            _ if s.is_multiple_of(3_600) => write!(f, "{}h", s / 3_600),
            _ if s.is_multiple_of(60) => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
}

impl FromStr for Every {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid schedule `{s}`: expected a positive number and a unit s, m, h or d, e.g. 15m");
        let text = s.trim();
        let unit = text.chars().last().ok_or_else(bad)?;
        let factor = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let count: u64 = text[..text.len() - 1].parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(bad());
        }
        count.checked_mul(factor).map(|seconds| Self { seconds }).ok_or_else(bad)
    }
}

impl TryFrom<String> for Every {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Every> for String {
    fn from(e: Every) -> String {
        e.to_string()
    }
}

/// Where a flow reads from: CRM export files, generic files through a mapping set, or a PostgreSQL table or
/// query through a mapping set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FlowSource {
    /// Export files of a CRM or marketing system, recognised by file name.
    Crm {
        /// The source system.
        system: SourceSystem,
        /// A folder, or a file glob whose last component holds the wildcards (`*`, `?`), e.g. `exports/*.csv`.
        from: String,
        /// The instance the files come from (CRM org id or Marketo munchkin id).
        instance: String,
    },
    /// Generic files in a format, mapped by a mapping-set file into one dataset.
    File {
        /// A folder, or a file glob whose last component holds the wildcards.
        from: String,
        /// The file format, e.g. `csv`, `json`, `ndjson`, `parquet`.
        format: String,
        /// The target dataset.
        dataset: String,
        /// The entity class of the dataset.
        entity: EntityKind,
        /// The mapping-set file.
        mapping: String,
    },
    /// Rows of a PostgreSQL query, picked up by a modification-time column, mapped into one dataset.
    Postgres {
        /// The name of the environment variable holding the connection URL (secrets are never stored).
        connection_env: String,
        /// A table (`schema.table`) or a query (`SELECT …`).
        query: String,
        /// The column holding each row's modification time; a run reads rows newer than its checkpoint.
        modified_column: String,
        /// Columns ordering rows that share a modification time. Empty: the table's primary key (a query
        /// source must name them).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        key: Vec<String>,
        /// The target dataset.
        dataset: String,
        /// The entity class of the dataset.
        entity: EntityKind,
        /// The mapping-set file.
        mapping: String,
    },
}

impl FlowSource {
    /// The kind's name: `crm`, `file` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self {
            FlowSource::Crm { .. } => "crm",
            FlowSource::File { .. } => "file",
            FlowSource::Postgres { .. } => "postgres",
        }
    }
}

/// A named dataflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowDefinition {
    /// The flow's unique name.
    pub name: String,
    /// Where it reads from.
    pub source: FlowSource,
    /// The error threshold each of its batches is held to.
    #[serde(rename = "error_threshold_percent")]
    pub error_threshold: ErrorThreshold,
    /// How often it runs when run with `--due`; `None` runs only when asked by name.
    pub every: Option<Every>,
}

/// A stored flow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredFlow {
    /// Its definition.
    #[serde(flatten)]
    pub definition: FlowDefinition,
    /// When it was created.
    pub created_at: String,
    /// Its latest run, if any.
    pub last_run: Option<FlowRun>,
}

/// The state of a flow run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Still running (or killed; marked `failed` when the store is next opened).
    Running,
    /// Every file it picked up was committed.
    Success,
    /// Some file's batch failed, or the run stopped on an error.
    Failed,
}

impl RunState {
    /// The state's name as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Success => "success",
            RunState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "running" => Ok(RunState::Running),
            "success" => Ok(RunState::Success),
            "failed" => Ok(RunState::Failed),
            other => Err(Error::Corrupt(format!("unknown flow run state `{other}`"))),
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run of a flow, with figures read from the batches it loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowRun {
    /// The run id.
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// Its state.
    pub state: RunState,
    /// When it started.
    pub started_at: String,
    /// When it ended, if it did.
    pub ended_at: Option<String>,
    /// Input files it listed.
    pub files_listed: u64,
    /// Listed files it skipped because their checkpoint held.
    pub files_skipped: u64,
    /// The files it picked up (one batch each), in load order.
    pub files: Vec<String>,
    /// The batches it loaded, in load order.
    pub batches: Vec<i64>,
    /// Of those, the ones that failed.
    pub failed_batches: Vec<i64>,
    /// Data rows read by its batches.
    pub rows_read: u64,
    /// Rows stored by its batches.
    pub rows_ingested: u64,
    /// Rows rejected by its batches.
    pub rows_rejected: u64,
    /// Why it failed, or a note.
    pub message: Option<String>,
}

/// A file as a flow last committed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    /// The flow.
    pub flow: String,
    /// The file's path as listed by the flow.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// The SHA-256 of its content, lowercase hex.
    pub sha256: String,
}

/// A PostgreSQL flow's high-water mark: the last row's modification time and key it committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgFlowCheckpoint {
    /// The flow.
    pub flow: String,
    /// The mark to pull after.
    pub mark: crate::pg_source::PgCheckpoint,
}

/// A checkpoint a batch commits in its own transaction: one per kind of flow source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowCheckpoint {
    /// A file of a CRM or file flow.
    File(FileCheckpoint),
    /// The high-water mark of a PostgreSQL flow.
    Postgres(PgFlowCheckpoint),
}

impl From<FileCheckpoint> for FlowCheckpoint {
    fn from(checkpoint: FileCheckpoint) -> Self {
        FlowCheckpoint::File(checkpoint)
    }
}

impl From<PgFlowCheckpoint> for FlowCheckpoint {
    fn from(checkpoint: PgFlowCheckpoint) -> Self {
        FlowCheckpoint::Postgres(checkpoint)
    }
}

/// A stored checkpoint with the batch that committed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredCheckpoint {
    /// The checkpoint.
    #[serde(flatten)]
    pub checkpoint: FileCheckpoint,
    /// The batch whose commit wrote it.
    pub batch_id: i64,
    /// When it was committed.
    pub committed_at: String,
}

/// A live flow run; end it with [`Store::end_flow_run`]. Dropped without ending, the run is marked interrupted
/// when the store is next opened.
#[derive(Debug)]
pub struct RunningFlow {
    id: i64,
    flow: String,
    _lock: OwnerLock,
}

impl RunningFlow {
    /// The run id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The flow's name.
    pub fn flow(&self) -> &str {
        &self.flow
    }
}

/// Writes (or replaces) a checkpoint inside the caller's transaction; called when a batch commits.
pub(crate) fn write_checkpoint(tx: &rusqlite::Transaction<'_>, cp: &FlowCheckpoint, batch_id: i64) -> Result<()> {
    let cp = match cp {
        FlowCheckpoint::File(cp) => cp,
        FlowCheckpoint::Postgres(cp) => {
            tx.execute(
                "INSERT INTO flow_pg_checkpoints (flow, modified, key, at_mark, batch_id, committed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (flow) DO UPDATE SET modified = excluded.modified, key = excluded.key,
                    at_mark = excluded.at_mark, batch_id = excluded.batch_id, committed_at = excluded.committed_at",
                params![
                    cp.flow,
                    cp.mark.modified,
                    serde_json::to_string(&cp.mark.key)?,
                    cp.mark.at_mark.as_ref().map(serde_json::to_string).transpose()?,
                    batch_id,
                    now()
                ],
            )?;
            return Ok(());
        }
    };
    tx.execute(
        "INSERT INTO flow_checkpoints (flow, path, size, mtime_ns, sha256, batch_id, committed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (flow, path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
            sha256 = excluded.sha256, batch_id = excluded.batch_id, committed_at = excluded.committed_at",
        params![cp.flow, cp.path, cp.size, cp.mtime_ns, cp.sha256, batch_id, now()],
    )?;
    Ok(())
}

impl Store {
    /// Saves a new flow.
    pub fn create_flow(&mut self, definition: &FlowDefinition) -> Result<()> {
        let exists: bool =
            self.conn
                .query_row("SELECT EXISTS (SELECT 1 FROM flows WHERE name = ?1)", [&definition.name], |r| r.get(0))?;
        if exists {
            return Err(Error::AlreadyExists { kind: "flow", name: definition.name.clone() });
        }
        self.conn.execute(
            "INSERT INTO flows (name, definition, created_at) VALUES (?1, ?2, ?3)",
            params![definition.name, serde_json::to_string(definition)?, now()],
        )?;
        Ok(())
    }

    /// One flow, if it exists.
    pub fn flow(&self, name: &str) -> Result<Option<StoredFlow>> {
        let row: Option<(String, String)> = self
            .conn
            .query_row("SELECT definition, created_at FROM flows WHERE name = ?1", [name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        row.map(|(definition, created_at)| self.stored_flow(&definition, created_at)).transpose()
    }

    /// Every flow, by name.
    pub fn flows(&self) -> Result<Vec<StoredFlow>> {
        let mut stmt = self.conn.prepare("SELECT definition, created_at FROM flows ORDER BY name")?;
        let rows: Vec<(String, String)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        rows.into_iter().map(|(definition, created_at)| self.stored_flow(&definition, created_at)).collect()
    }

    fn stored_flow(&self, definition: &str, created_at: String) -> Result<StoredFlow> {
        let definition: FlowDefinition = serde_json::from_str(definition)?;
        let last_run = self.flow_runs_where("r.flow = ?1 ORDER BY r.id DESC LIMIT 1", &definition.name)?.pop();
        Ok(StoredFlow { definition, created_at, last_run })
    }

    /// Starts a run of `flow`, refusing while another run of it is alive.
    pub fn begin_flow_run(&mut self, flow: &str) -> Result<RunningFlow> {
        if self.flow(flow)?.is_none() {
            return Err(Error::NotFound { kind: "flow", name: flow.to_owned() });
        }
        // A run left `running` by a dead process is marked failed first; one still running stays.
        self.recover_interrupted()?;
        let lock = OwnerLock::acquire(self)?;
        // Check and claim in one write transaction, so that two processes cannot both start a run.
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let live: Option<i64> = tx
            .query_row("SELECT id FROM flow_runs WHERE flow = ?1 AND state = 'running'", [flow], |r| r.get(0))
            .optional()?;
        if let Some(run) = live {
            return Err(Error::FlowBusy { flow: flow.to_owned(), run });
        }
        tx.execute(
            "INSERT INTO flow_runs (flow, state, owner, started_at) VALUES (?1, 'running', ?2, ?3)",
            params![flow, lock.token(), now()],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(RunningFlow { id, flow: flow.to_owned(), _lock: lock })
    }

    /// Ends a run with its state, the counts of files listed and skipped, and an optional message.
    pub fn end_flow_run(
        &mut self,
        run: RunningFlow,
        state: RunState,
        files_listed: u64,
        files_skipped: u64,
        message: Option<&str>,
    ) -> Result<FlowRun> {
        self.conn.execute(
            "UPDATE flow_runs SET state = ?2, ended_at = ?3, files_listed = ?4, files_skipped = ?5, message = ?6
             WHERE id = ?1",
            params![run.id, state.as_str(), now(), files_listed, files_skipped, message],
        )?;
        self.flow_runs_where("r.id = ?1", &run.id.to_string())?
            .pop()
            .ok_or_else(|| Error::NotFound { kind: "flow run", name: run.id.to_string() })
    }

    /// The runs of a flow, oldest first.
    pub fn flow_runs(&self, flow: &str) -> Result<Vec<FlowRun>> {
        self.flow_runs_where("r.flow = ?1 ORDER BY r.id", flow)
    }

    fn flow_runs_where(&self, condition: &str, arg: &str) -> Result<Vec<FlowRun>> {
        let sql = format!(
            "SELECT r.id, r.flow, r.state, r.started_at, r.ended_at, r.files_listed, r.files_skipped, r.message
             FROM flow_runs r WHERE {condition}"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([arg], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, u64>(5)?,
                r.get::<_, u64>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })?;
        let mut runs = Vec::new();
        for row in rows {
            let (id, flow, state, started_at, ended_at, files_listed, files_skipped, message) = row?;
            let mut run = FlowRun {
                id,
                flow,
                state: RunState::parse(&state)?,
                started_at,
                ended_at,
                files_listed,
                files_skipped,
                files: Vec::new(),
                batches: Vec::new(),
                failed_batches: Vec::new(),
                rows_read: 0,
                rows_ingested: 0,
                rows_rejected: 0,
                message,
            };
            let mut batches = self.conn.prepare_cached(
                "SELECT id, files, state, rows_read, rows_ingested, rows_rejected FROM batches
                 WHERE flow_run = ?1 ORDER BY id",
            )?;
            let rows = batches.query_map([id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, u64>(3)?,
                    r.get::<_, u64>(4)?,
                    r.get::<_, u64>(5)?,
                ))
            })?;
            for batch in rows {
                let (batch_id, files, state, read, ingested, rejected) = batch?;
                let files: Vec<String> = serde_json::from_str(&files)?;
                run.files.extend(files);
                run.batches.push(batch_id);
                if state == "failed" {
                    run.failed_batches.push(batch_id);
                }
                run.rows_read += read;
                run.rows_ingested += ingested;
                run.rows_rejected += rejected;
            }
            runs.push(run);
        }
        Ok(runs)
    }

    /// The checkpoint of one file of a flow, if a batch of it committed.
    pub fn flow_checkpoint(&self, flow: &str, path: &str) -> Result<Option<StoredCheckpoint>> {
        Ok(self
            .conn
            .query_row(
                "SELECT size, mtime_ns, sha256, batch_id, committed_at FROM flow_checkpoints
                 WHERE flow = ?1 AND path = ?2",
                [flow, path],
                |r| {
                    Ok(StoredCheckpoint {
                        checkpoint: FileCheckpoint {
                            flow: flow.to_owned(),
                            path: path.to_owned(),
                            size: r.get(0)?,
                            mtime_ns: r.get(1)?,
                            sha256: r.get(2)?,
                        },
                        batch_id: r.get(3)?,
                        committed_at: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Every checkpoint of a flow, by path.
    pub fn flow_checkpoints(&self, flow: &str) -> Result<Vec<StoredCheckpoint>> {
        let mut stmt = self.conn.prepare("SELECT path FROM flow_checkpoints WHERE flow = ?1 ORDER BY path")?;
        let paths: Vec<String> = stmt.query_map([flow], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        paths.iter().filter_map(|p| self.flow_checkpoint(flow, p).transpose()).collect()
    }

    /// The high-water mark of a PostgreSQL flow, if a batch of it committed.
    pub fn flow_pg_checkpoint(&self, flow: &str) -> Result<Option<crate::pg_source::PgCheckpoint>> {
        let row: Option<(String, String, Option<String>)> = self
            .conn
            .query_row("SELECT modified, key, at_mark FROM flow_pg_checkpoints WHERE flow = ?1", [flow], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        row.map(|(modified, key, at_mark)| {
            Ok(crate::pg_source::PgCheckpoint {
                modified,
                key: serde_json::from_str(&key)?,
                at_mark: at_mark.as_deref().map(serde_json::from_str).transpose()?,
            })
        })
        .transpose()
    }

    /// Records a new modification time for a checkpointed file whose content (size and SHA-256) did not change,
    /// so later runs skip it without hashing it again.
    pub fn touch_checkpoint(&mut self, flow: &str, path: &str, mtime_ns: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE flow_checkpoints SET mtime_ns = ?3 WHERE flow = ?1 AND path = ?2",
            params![flow, path, mtime_ns],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_4_a_flow_runs_once_at_a_time_and_a_dead_run_is_marked_interrupted() {
        let (dir, mut store) = crate::test_util::store();
        store
            .create_flow(&FlowDefinition {
                name: "sf".into(),
                source: FlowSource::Crm { system: SourceSystem::Salesforce, from: "x".into(), instance: "o".into() },
                error_threshold: ErrorThreshold::DEFAULT,
                every: None,
            })
            .unwrap();
        let running = store.begin_flow_run("sf").unwrap();
        let mut other = Store::open(dir.path()).unwrap();
        assert!(matches!(other.begin_flow_run("sf"), Err(Error::FlowBusy { run, .. }) if run == running.id()));
        // Dropped without ending: as if its process died.
        let id = running.id();
        drop(running);
        let next = other.begin_flow_run("sf").unwrap();
        let runs = other.flow_runs("sf").unwrap();
        assert_eq!(
            runs.iter().map(|r| (r.id, r.state)).collect::<Vec<_>>(),
            [(id, RunState::Failed), (next.id(), RunState::Running)]
        );
        assert!(runs[0].message.as_deref().unwrap().starts_with("interrupted"));
        let ended = other.end_flow_run(next, RunState::Success, 3, 1, None).unwrap();
        assert_eq!((ended.state, ended.files_listed, ended.files_skipped), (RunState::Success, 3, 1));
    }

    #[test]
    fn schedules_parse_and_print() {
        assert_eq!("15m".parse::<Every>().unwrap().seconds(), 900);
        assert_eq!("1h".parse::<Every>().unwrap().seconds(), 3_600);
        assert_eq!("1d".parse::<Every>().unwrap().seconds(), 86_400);
        assert_eq!("90s".parse::<Every>().unwrap().to_string(), "90s");
        assert_eq!("120m".parse::<Every>().unwrap().to_string(), "2h");
        for bad in ["", "m", "0m", "15", "1w", "-1h", "1.5h"] {
            assert!(bad.parse::<Every>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn flow_definitions_round_trip_through_json() {
        let def = FlowDefinition {
            name: "pg".into(),
            source: FlowSource::Postgres {
                connection_env: "RAPPORT_PG_URL".into(),
                query: "SELECT * FROM people".into(),
                modified_column: "updated_at".into(),
                key: vec!["id".into()],
                dataset: "crm.people".into(),
                entity: EntityKind::Person,
                mapping: "people.toml".into(),
            },
            error_threshold: "2.5".parse().unwrap(),
            every: Some("1h".parse().unwrap()),
        };
        let json = serde_json::to_value(&def).unwrap();
        assert_eq!(json["source"]["kind"], "postgres");
        assert_eq!(json["error_threshold_percent"], 2.5);
        assert_eq!(json["every"], "1h");
        assert_eq!(serde_json::from_value::<FlowDefinition>(json).unwrap(), def);
    }
}
