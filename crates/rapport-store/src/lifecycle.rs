//! The life of a batch: `loading` → `success` or `failed`, its metrics, reasons and error summary.
//!
//! A load starts with [`Store::begin_batch`], which commits a `loading` batch row at once (so `rapport batch
//! list` shows a running load) and returns a [`LoadingBatch`] guard. The load then ends in one transaction:
//! [`Store::writer_for_loading`] opens it, and [`crate::BatchWriter::commit`] stores the data (and the profiles
//! it changes) and flips the row to `success`; [`Store::fail_batch`] flips it to `failed` with a reason, keeping the rejected rows and storing no
//! data.
//!
//! A process killed while loading leaves its batch `loading`. Each guard holds an exclusive SQLite lock on a
//! small lock file of its own (`locks/<token>.lock` in the data directory); the operating system drops that lock
//! when the process dies. [`Store::open`] marks every `loading` batch (and `running` flow run) whose lock can be
//! taken as `failed` with the reason `interrupted`; loads of live processes keep their state. Dropping a guard
//! without ending its batch releases the lock, so such a batch counts as interrupted too.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use rapport_model::{EntityKind, RowError, RowErrorCode};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::{now, Error, Result, Store};

/// The folder of the data directory holding the lock files of running loads.
const LOCKS_DIR: &str = "locks";

/// The share of a batch's rows that may be rejected while the batch still succeeds (Adobe's
/// `partialIngestionPercent`), kept exactly in hundredths of a percent.
///
/// A batch fails when `rejected / read` is **strictly greater** than the threshold: with the default 5 %, 5
/// rejected rows out of 100 succeed and 6 fail. 0 % fails a batch on its first bad row; 100 % never fails one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct ErrorThreshold {
    basis_points: u32,
}

impl ErrorThreshold {
    /// 5 %, the documented default of partial ingestion.
    pub const DEFAULT: Self = Self { basis_points: 500 };

    /// A threshold of `basis_points` hundredths of a percent (0 to 10 000).
    pub fn from_basis_points(basis_points: u32) -> Option<Self> {
        (basis_points <= 10_000).then_some(Self { basis_points })
    }

    /// The threshold in hundredths of a percent.
    pub fn basis_points(self) -> u32 {
        self.basis_points
    }

    /// The threshold in percent.
    pub fn percent(self) -> f64 {
        f64::from(self.basis_points) / 100.0
    }

    /// Whether `rejected` bad rows out of `read` exceed the threshold (exactly at it does not).
    pub fn is_exceeded(self, rejected: u64, read: u64) -> bool {
        u128::from(rejected) * 10_000 > u128::from(self.basis_points) * u128::from(read)
    }
}

impl Default for ErrorThreshold {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for ErrorThreshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.basis_points / 100, self.basis_points % 100);
        match frac {
            0 => write!(f, "{whole}%"),
            f2 if f2 % 10 == 0 => write!(f, "{whole}.{}%", f2 / 10),
            f2 => write!(f, "{whole}.{f2:02}%"),
        }
    }
}

impl FromStr for ErrorThreshold {
    type Err = String;

    /// Parses a percentage such as `5`, `5%`, `2.5` or `0.25` (at most two decimals, 0 to 100).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("invalid error threshold `{s}`: expected a percentage from 0 to 100 with at most two decimals, e.g. 5 or 2.5")
        };
        let text = s.trim().trim_end_matches('%');
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (!frac.is_empty() && !digits(frac)) || frac.len() > 2 || whole.len() > 3 {
            return Err(bad());
        }
        let whole: u32 = whole.parse().map_err(|_| bad())?;
        let frac: u32 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().map_err(|_| bad())? };
        Self::from_basis_points(whole * 100 + frac).ok_or_else(bad)
    }
}

impl TryFrom<f64> for ErrorThreshold {
    type Error = String;

    fn try_from(percent: f64) -> Result<Self, String> {
        let bp = (percent * 100.0).round();
        if !(0.0..=10_000.0).contains(&bp) {
            return Err(format!("error threshold {percent} is not a percentage from 0 to 100"));
        }
        // In range 0..=10_000 after the check above, so the cast is exact.
        Self::from_basis_points(bp as u32).ok_or_else(|| format!("error threshold {percent} is out of range"))
    }
}

impl From<ErrorThreshold> for f64 {
    fn from(t: ErrorThreshold) -> f64 {
        t.percent()
    }
}

/// Where a batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Being loaded; nothing of it is visible yet.
    Loading,
    /// Committed whole: its accepted rows are stored (its rejected rows are kept beside them).
    Success,
    /// Not committed: none of its rows are stored; the reason and the rejected rows are kept.
    Failed,
    /// Committed, then deleted (`rapport batch delete`): the fragments it wrote last are gone; its row, metrics
    /// and rejected rows are kept.
    Deleted,
}

impl BatchState {
    /// The state's name as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Loading => "loading",
            BatchState::Success => "success",
            BatchState::Failed => "failed",
            BatchState::Deleted => "deleted",
        }
    }
}

impl fmt::Display for BatchState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BatchState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "loading" => Ok(BatchState::Loading),
            "success" => Ok(BatchState::Success),
            "failed" => Ok(BatchState::Failed),
            "deleted" => Ok(BatchState::Deleted),
            other => Err(format!("unknown batch state `{other}` (expected one of: loading, success, failed, deleted)")),
        }
    }
}

/// Why a batch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// More rows were rejected than the error threshold tolerates.
    ThresholdExceeded,
    /// The input as a whole could not be read (cannot open, no header, no id column).
    InputUnreadable,
    /// The process loading it stopped before the batch ended (killed, crashed, or abandoned the load).
    Interrupted,
    /// Storing the batch failed.
    StoreError,
}

impl FailureCode {
    /// The code's name as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::ThresholdExceeded => "threshold_exceeded",
            FailureCode::InputUnreadable => "input_unreadable",
            FailureCode::Interrupted => "interrupted",
            FailureCode::StoreError => "store_error",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::ThresholdExceeded, Self::InputUnreadable, Self::Interrupted, Self::StoreError]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// A batch's failure: its code and a message naming the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureReason {
    /// The kind of failure.
    pub code: FailureCode,
    /// What happened, e.g. `6 of 100 rows rejected (6%), over the error threshold of 5%`.
    pub message: String,
}

/// A load about to start.
#[derive(Debug, Clone)]
pub struct BatchStart {
    /// The dataset name; created on first use.
    pub dataset: String,
    /// The entity class of the dataset.
    pub entity: EntityKind,
    /// What produces the batch, e.g. `salesforce:Contact`.
    pub source: String,
    /// The input files as the user named them.
    pub files: Vec<String>,
    /// The size of the input in bytes.
    pub input_bytes: u64,
    /// The error threshold the batch is held to.
    pub error_threshold: ErrorThreshold,
    /// The flow run loading it, if any.
    pub flow_run: Option<i64>,
}

/// How a failed batch ends: why, and what was read and rejected before it failed.
#[derive(Debug, Clone)]
pub struct BatchFailure {
    /// Why it failed.
    pub reason: FailureReason,
    /// Data rows read before it failed.
    pub rows_read: u64,
    /// The rejected rows (kept, so that they can be shown and fixed).
    pub rejected: Vec<RowError>,
}

/// A batch being loaded. Hand [`LoadingBatch::id`] to [`crate::NewBatch::batch_id`], or pass the guard to
/// [`Store::fail_batch`]. Dropped without either, the batch is left `loading` and is marked interrupted when the
/// store is next opened.
#[derive(Debug)]
pub struct LoadingBatch {
    id: i64,
    _lock: OwnerLock,
}

impl LoadingBatch {
    /// The batch id.
    pub fn id(&self) -> i64 {
        self.id
    }
}

/// An exclusive lock held for as long as a load (or flow run) is alive; see the module docs.
pub(crate) struct OwnerLock {
    token: String,
    path: PathBuf,
    conn: Option<Connection>,
}

impl fmt::Debug for OwnerLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerLock").field("token", &self.token).finish()
    }
}

impl OwnerLock {
    /// Creates and locks a fresh lock file in the store's `locks/` folder.
    pub(crate) fn acquire(store: &Store) -> Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = store.dir.join(LOCKS_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| Error::DataDir { path: dir.clone(), source })?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let token = format!("{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let path = dir.join(format!("{token}.lock"));
        let conn = Connection::open(&path)?;
        // Held until the connection closes: by `Drop`, or by the operating system when the process dies.
        conn.execute_batch("BEGIN EXCLUSIVE")?;
        Ok(Self { token, path, conn: Some(conn) })
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }
}

impl Drop for OwnerLock {
    fn drop(&mut self) {
        drop(self.conn.take());
        if let Err(err) = std::fs::remove_file(&self.path) {
            debug!(path = %self.path.display(), error = %err, "lock file not removed");
        }
    }
}

/// Whether the owner of `token` is alive: its lock file exists and its lock cannot be taken. A dead owner's
/// lock file is removed.
fn owner_alive(store: &Store, token: &str) -> bool {
    let path = store.dir.join(LOCKS_DIR).join(format!("{token}.lock"));
    let Ok(conn) = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE) else {
        return false;
    };
    if conn.busy_timeout(std::time::Duration::ZERO).is_err() {
        return true;
    }
    match conn.execute_batch("BEGIN EXCLUSIVE; ROLLBACK;") {
        Ok(()) => {
            drop(conn);
            let _ = std::fs::remove_file(&path);
            false
        }
        // Busy: the owner holds it. Any other error: assume alive rather than fail a live load.
        Err(_) => true,
    }
}

/// The metrics of a batch, named after Adobe's batch metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchMetrics {
    /// Bytes of input.
    pub input_byte_size: u64,
    /// Input files.
    pub input_file_count: u64,
    /// Data rows read.
    pub input_record_count: u64,
    /// Rows stored (0 unless the batch succeeded).
    pub output_record_count: u64,
    /// Rows rejected.
    pub failed_record_count: u64,
}

/// A batch as `rapport batch list` and `show` report it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchInfo {
    /// The batch id.
    pub id: i64,
    /// The dataset name.
    pub dataset: String,
    /// What produced it.
    pub source: String,
    /// The input files.
    pub files: Vec<String>,
    /// Its state.
    pub state: BatchState,
    /// The error threshold it was held to (in percent), when known.
    pub error_threshold_percent: Option<ErrorThreshold>,
    /// Data rows read (as `metrics.input_record_count`).
    pub rows_read: u64,
    /// Rows stored (as `metrics.output_record_count`).
    pub rows_ingested: u64,
    /// Rows rejected (as `metrics.failed_record_count`).
    pub rows_rejected: u64,
    /// Its metrics.
    pub metrics: BatchMetrics,
    /// Why it failed, if it did.
    pub reason: Option<FailureReason>,
    /// The flow run that loaded it, if any.
    pub flow_run: Option<i64>,
    /// When it was created (started loading).
    pub created_at: String,
    /// When it last changed state, if it did.
    pub updated_at: Option<String>,
}

/// One batch-level error entry: a code shared by many rows, or the batch's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchError {
    /// `INGEST-1212-400` (summary), `INGEST-1401-400` (unparsable rows or values) or `INGEST-1555-400` (a
    /// required field missing or a schema violation).
    pub code: &'static str,
    /// What it means, with counts.
    pub message: String,
    /// The rows it concerns.
    pub record_count: u64,
}

/// Selects batches in [`Store::batch_list`].
#[derive(Debug, Clone, Default)]
pub struct BatchFilter {
    /// Only this dataset.
    pub dataset: Option<String>,
    /// Only this state.
    pub state: Option<BatchState>,
    /// Only the batches of this flow run.
    pub flow_run: Option<i64>,
}

/// The Adobe batch error code a row error counts under.
fn adobe_code(code: RowErrorCode) -> &'static str {
    match code {
        RowErrorCode::MissingId | RowErrorCode::Invalid => "INGEST-1555-400",
        _ => "INGEST-1401-400",
    }
}

const BATCH_COLUMNS: &str = "b.id, d.name, b.source, b.files, b.state, b.error_threshold_bp, b.rows_read, \
     b.rows_ingested, b.rows_rejected, b.input_bytes, b.reason_code, b.reason, b.flow_run, b.created_at, b.updated_at";

fn batch_info(row: &rusqlite::Row<'_>) -> rusqlite::Result<(BatchInfo, String, String, Option<String>)> {
    let files: String = row.get(3)?;
    let state: String = row.get(4)?;
    let threshold: Option<u32> = row.get(5)?;
    let (rows_read, rows_ingested, rows_rejected): (u64, u64, u64) = (row.get(6)?, row.get(7)?, row.get(8)?);
    let reason_code: Option<String> = row.get(10)?;
    let reason: Option<String> = row.get(11)?;
    let info = BatchInfo {
        id: row.get(0)?,
        dataset: row.get(1)?,
        source: row.get(2)?,
        files: Vec::new(),
        state: BatchState::Loading,
        error_threshold_percent: threshold.and_then(ErrorThreshold::from_basis_points),
        rows_read,
        rows_ingested,
        rows_rejected,
        metrics: BatchMetrics {
            input_byte_size: row.get(9)?,
            input_file_count: 0,
            input_record_count: rows_read,
            output_record_count: rows_ingested,
            failed_record_count: rows_rejected,
        },
        reason: reason_code
            .as_deref()
            .and_then(FailureCode::parse)
            .map(|code| FailureReason { code, message: reason.unwrap_or_default() }),
        flow_run: row.get(12)?,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
    };
    Ok((info, files, state, reason_code))
}

impl Store {
    /// Starts a load: commits a `loading` batch row (creating the dataset if needed) and returns its guard.
    pub fn begin_batch(&mut self, start: &BatchStart) -> Result<LoadingBatch> {
        let lock = OwnerLock::acquire(self)?;
        let tx = self.conn.transaction()?;
        let dataset_id = Self::ensure_dataset(&tx, &start.dataset, start.entity)?;
        tx.execute(
            "INSERT INTO batches (dataset_id, source, files, state, rows_read, rows_ingested, rows_rejected, created_at,
                input_bytes, error_threshold_bp, owner, flow_run)
             VALUES (?1, ?2, ?3, 'loading', 0, 0, 0, ?4, ?5, ?6, ?7, ?8)",
            params![
                dataset_id,
                start.source,
                serde_json::to_string(&start.files)?,
                now(),
                start.input_bytes,
                start.error_threshold.basis_points(),
                lock.token(),
                start.flow_run
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(LoadingBatch { id, _lock: lock })
    }

    /// Ends a load as `failed`, in one transaction: the reason, the counts and the rejected rows are stored; no
    /// data is.
    pub fn fail_batch(&mut self, batch: LoadingBatch, failure: &BatchFailure) -> Result<BatchInfo> {
        let tx = self.conn.transaction()?;
        let changed = tx.execute(
            "UPDATE batches SET state = 'failed', rows_read = ?2, rows_ingested = 0, rows_rejected = ?3,
                reason_code = ?4, reason = ?5, updated_at = ?6
             WHERE id = ?1 AND state = 'loading'",
            params![
                batch.id,
                failure.rows_read,
                failure.rejected.len() as u64,
                failure.reason.code.as_str(),
                failure.reason.message,
                now()
            ],
        )?;
        if changed != 1 {
            return Err(Error::NotLoading(batch.id));
        }
        insert_rejected(&tx, batch.id, &failure.rejected)?;
        tx.commit()?;
        self.batch(batch.id)?.ok_or_else(|| Error::NotFound { kind: "batch", name: batch.id.to_string() })
    }

    /// Marks `failed` (`interrupted`) every `loading` batch and `running` flow run whose owner process is gone.
    /// Returns the ids of the batches so marked.
    pub fn recover_interrupted(&mut self) -> Result<Vec<i64>> {
        let loading: Vec<(i64, Option<String>)> = {
            let mut stmt = self.conn.prepare("SELECT id, owner FROM batches WHERE state = 'loading' ORDER BY id")?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let running: Vec<(i64, Option<String>)> = {
            let mut stmt = self.conn.prepare("SELECT id, owner FROM flow_runs WHERE state = 'running' ORDER BY id")?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let dead = |owner: &Option<String>| owner.as_deref().is_none_or(|token| !owner_alive(self, token));
        let dead_batches: Vec<i64> = loading.iter().filter(|(_, o)| dead(o)).map(|(id, _)| *id).collect();
        let dead_runs: Vec<i64> = running.iter().filter(|(_, o)| dead(o)).map(|(id, _)| *id).collect();
        if dead_batches.is_empty() && dead_runs.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self.conn.transaction()?;
        let at = now();
        for id in &dead_batches {
            tx.execute(
                "UPDATE batches SET state = 'failed', reason_code = 'interrupted', updated_at = ?2,
                    reason = 'the loading process stopped before the batch ended (killed or crashed); nothing of it was stored'
                 WHERE id = ?1 AND state = 'loading'",
                params![id, at],
            )?;
            warn!(batch = id, "interrupted batch marked failed");
        }
        for id in &dead_runs {
            tx.execute(
                "UPDATE flow_runs SET state = 'failed', ended_at = ?2,
                    message = 'interrupted: the process running it stopped before the run ended'
                 WHERE id = ?1 AND state = 'running'",
                params![id, at],
            )?;
            warn!(run = id, "interrupted flow run marked failed");
        }
        tx.commit()?;
        Ok(dead_batches)
    }

    /// The batches matching `filter`, oldest first.
    pub fn batch_list(&self, filter: &BatchFilter) -> Result<Vec<BatchInfo>> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM batches b JOIN datasets d ON d.id = b.dataset_id
             WHERE (?1 IS NULL OR d.name = ?1) AND (?2 IS NULL OR b.state = ?2) AND (?3 IS NULL OR b.flow_run = ?3)
             ORDER BY b.id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows =
            stmt.query_map(params![filter.dataset, filter.state.map(BatchState::as_str), filter.flow_run], batch_info)?;
        rows.map(|row| finish_info(row?)).collect()
    }

    /// One batch, if it exists.
    pub fn batch(&self, id: i64) -> Result<Option<BatchInfo>> {
        let sql =
            format!("SELECT {BATCH_COLUMNS} FROM batches b JOIN datasets d ON d.id = b.dataset_id WHERE b.id = ?1");
        let row = self.conn.query_row(&sql, [id], batch_info).optional()?;
        row.map(finish_info).transpose()
    }

    /// The batch-level error entries of a batch, as Adobe reports them: an `INGEST-1212-400` summary when any
    /// row was rejected, then one entry per error family (`INGEST-1401-400` unparsable rows or values,
    /// `INGEST-1555-400` missing required values or schema violations) with its row count.
    pub fn batch_errors(&self, id: i64) -> Result<Vec<BatchError>> {
        let Some(info) = self.batch(id)? else {
            return Err(Error::NotFound { kind: "batch", name: id.to_string() });
        };
        let mut counts: std::collections::BTreeMap<&'static str, u64> = std::collections::BTreeMap::new();
        let mut stmt =
            self.conn.prepare("SELECT code, COUNT(*) FROM rejected_rows WHERE batch_id = ?1 GROUP BY code")?;
        let rows = stmt.query_map([id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?)))?;
        for row in rows {
            let (code, count) = row?;
            let code: RowErrorCode = serde_json::from_value(serde_json::Value::String(code))?;
            *counts.entry(adobe_code(code)).or_default() += count;
        }
        let mut out = Vec::new();
        if info.rows_rejected > 0 {
            let message = match info.state {
                BatchState::Failed => {
                    format!("Encountered {} errors in the data. Ingested 0 rows: the batch failed", info.rows_rejected)
                }
                _ => format!(
                    "Encountered {} errors in the data. Successfully ingested {} rows",
                    info.rows_rejected, info.rows_ingested
                ),
            };
            out.push(BatchError { code: "INGEST-1212-400", message, record_count: info.rows_rejected });
        }
        for (code, record_count) in counts {
            let message = match code {
                "INGEST-1555-400" => "a required field is missing, or the record violates its schema",
                _ => "the row or one of its values could not be parsed",
            };
            out.push(BatchError { code, message: message.to_owned(), record_count });
        }
        Ok(out)
    }
}

fn finish_info((mut info, files, state, _code): (BatchInfo, String, String, Option<String>)) -> Result<BatchInfo> {
    info.files = serde_json::from_str(&files)?;
    info.metrics.input_file_count = info.files.len() as u64;
    info.state = state.parse().map_err(|e: String| Error::Corrupt(e))?;
    Ok(info)
}

/// Stores rejected rows of a batch (inside the caller's transaction).
pub(crate) fn insert_rejected(tx: &rusqlite::Transaction<'_>, batch_id: i64, rejected: &[RowError]) -> Result<()> {
    let mut reject = tx.prepare(
        "INSERT INTO rejected_rows (batch_id, file, line, byte_offset, field, code, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for row in rejected {
        reject.execute(params![batch_id, row.file, row.line, row.offset, row.field, row.code.name(), row.message])?;
    }
    Ok(())
}

/// Flips a `loading` batch to `success` with its counts (inside the batch writer's transaction).
pub(crate) fn mark_success(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    rows_read: u64,
    rows_ingested: u64,
    rows_rejected: u64,
) -> Result<()> {
    let changed = tx.execute(
        "UPDATE batches SET state = 'success', rows_read = ?2, rows_ingested = ?3, rows_rejected = ?4, updated_at = ?5
         WHERE id = ?1 AND state = 'loading'",
        params![id, rows_read, rows_ingested, rows_rejected, now()],
    )?;
    if changed != 1 {
        return Err(Error::NotLoading(id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::store;
    use crate::{FileCheckpoint, FlowDefinition, FlowSource, NewBatch, NewFragment};
    use rapport_model::{Identity, SourceSystem};

    fn start() -> BatchStart {
        BatchStart {
            dataset: "salesforce.contact".into(),
            entity: EntityKind::Person,
            source: "salesforce:Contact".into(),
            files: vec!["Contact.csv".into()],
            input_bytes: 1234,
            error_threshold: ErrorThreshold::DEFAULT,
            flow_run: None,
        }
    }

    fn batch(id: Option<i64>, checkpoint: Option<FileCheckpoint>) -> NewBatch {
        let record = serde_json::json!({"b2b": {"personKey": {"sourceKey": "a@org.Salesforce"}}});
        NewBatch {
            dataset: "salesforce.contact".into(),
            entity: EntityKind::Person,
            source: "salesforce:Contact".into(),
            files: vec!["Contact.csv".into()],
            rows_read: 1,
            fragments: vec![NewFragment {
                primary: Identity::new("b2b_person", "a@org.Salesforce"),
                identities: vec![Identity::new("b2b_person", "a@org.Salesforce")],
                updated_at: String::new(),
                record: record.as_object().unwrap().clone(),
            }],
            rejected: vec![],
            batch_id: id,
            checkpoint: checkpoint.map(Into::into),
        }
    }

    #[test]
    fn issue_4_a_batch_is_loading_until_it_commits_then_success_with_its_metrics() {
        let (_dir, mut store) = store();
        let loading = store.begin_batch(&start()).unwrap();
        let seen = store.batch(loading.id()).unwrap().unwrap();
        assert_eq!((seen.state, seen.metrics.input_byte_size, seen.rows_read), (BatchState::Loading, 1234, 0));
        store.write_batch(&batch(Some(loading.id()), None)).unwrap();
        let done = store.batch(loading.id()).unwrap().unwrap();
        assert_eq!((done.state, done.rows_read, done.rows_ingested), (BatchState::Success, 1, 1));
        assert_eq!(store.batches().unwrap().len(), 1, "the commit ends the loading row, it adds none");
        // Ending it twice is refused.
        assert!(matches!(store.write_batch(&batch(Some(loading.id()), None)), Err(Error::NotLoading(_))));
    }

    #[test]
    fn issue_4_an_interrupted_batch_is_marked_failed_on_reopen_and_a_live_one_is_not() {
        let (dir, mut store) = store();
        let abandoned = store.begin_batch(&start()).unwrap();
        let abandoned_id = abandoned.id();
        let live = store.begin_batch(&start()).unwrap();
        // Dropping the guard releases its lock, as the death of the process would.
        drop(abandoned);
        let reopened = Store::open(dir.path()).unwrap();
        let failed = reopened.batch(abandoned_id).unwrap().unwrap();
        assert_eq!(failed.state, BatchState::Failed);
        assert_eq!(failed.reason.unwrap().code, FailureCode::Interrupted);
        assert_eq!(reopened.batch(live.id()).unwrap().unwrap().state, BatchState::Loading);
        drop(reopened);
        // The live load still commits.
        store.write_batch(&batch(Some(live.id()), None)).unwrap();
        assert_eq!(store.batch(live.id()).unwrap().unwrap().state, BatchState::Success);
        let failed_only = BatchFilter { state: Some(BatchState::Failed), ..Default::default() };
        assert_eq!(store.batch_list(&failed_only).unwrap().iter().map(|b| b.id).collect::<Vec<_>>(), [abandoned_id]);
    }

    #[test]
    fn issue_4_a_batch_that_does_not_commit_leaves_no_checkpoint() {
        let (_dir, mut store) = store();
        store
            .create_flow(&FlowDefinition {
                name: "sf".into(),
                source: FlowSource::Crm {
                    system: SourceSystem::Salesforce,
                    from: "exports".into(),
                    instance: "o".into(),
                },
                error_threshold: ErrorThreshold::DEFAULT,
                every: None,
            })
            .unwrap();
        let checkpoint = FileCheckpoint {
            flow: "sf".into(),
            path: "exports/Contact.csv".into(),
            size: 10,
            mtime_ns: 5,
            sha256: "ab".into(),
        };
        let loading = store.begin_batch(&start()).unwrap();
        let id = loading.id();
        store
            .fail_batch(
                loading,
                &BatchFailure {
                    reason: FailureReason { code: FailureCode::ThresholdExceeded, message: "too many".into() },
                    rows_read: 1,
                    rejected: vec![],
                },
            )
            .unwrap();
        // Committing data into the failed batch is refused, and its checkpoint is rolled back with it.
        let err = store.write_batch(&batch(Some(id), Some(checkpoint.clone()))).unwrap_err();
        assert!(matches!(err, Error::NotLoading(i) if i == id), "{err}");
        assert_eq!(store.flow_checkpoint("sf", "exports/Contact.csv").unwrap(), None);
        assert!(store.fragments(EntityKind::Person).unwrap().is_empty());

        let loading = store.begin_batch(&start()).unwrap();
        let committed = store.write_batch(&batch(Some(loading.id()), Some(checkpoint.clone()))).unwrap();
        let stored = store.flow_checkpoint("sf", "exports/Contact.csv").unwrap().unwrap();
        assert_eq!((stored.checkpoint, stored.batch_id), (checkpoint, committed.id));
    }

    #[test]
    fn issue_4_a_postgres_mark_commits_with_its_batch_and_only_then() {
        let (_dir, mut store) = store();
        store
            .create_flow(&FlowDefinition {
                name: "pg".into(),
                source: FlowSource::Postgres {
                    connection_env: "PG_URL".into(),
                    query: "people".into(),
                    modified_column: "updated_at".into(),
                    key: Vec::new(),
                    dataset: "people".into(),
                    entity: EntityKind::Person,
                    mapping: "people.json".into(),
                },
                error_threshold: ErrorThreshold::DEFAULT,
                every: None,
            })
            .unwrap();
        let mark = |modified: &str, key: &str| crate::pg_source::PgCheckpoint {
            modified: modified.into(),
            key: vec![key.into()],
            at_mark: Some(vec![vec![key.into()]]),
        };
        let with_mark = |id: i64, modified: &str, key: &str| NewBatch {
            checkpoint: Some(crate::PgFlowCheckpoint { flow: "pg".into(), mark: mark(modified, key) }.into()),
            ..batch(Some(id), None)
        };
        assert_eq!(store.flow_pg_checkpoint("pg").unwrap(), None);
        let loading = store.begin_batch(&start()).unwrap();
        let first = store.write_batch(&with_mark(loading.id(), "2024-03-01 10:00:00+00", "p1")).unwrap();
        assert_eq!(store.flow_pg_checkpoint("pg").unwrap(), Some(mark("2024-03-01 10:00:00+00", "p1")));

        // A failed batch's commit is refused and the mark stays; the next committed batch moves it.
        let loading = store.begin_batch(&start()).unwrap();
        let id = loading.id();
        let failure = BatchFailure {
            reason: FailureReason { code: FailureCode::ThresholdExceeded, message: "too many".into() },
            rows_read: 1,
            rejected: vec![],
        };
        store.fail_batch(loading, &failure).unwrap();
        assert!(store.write_batch(&with_mark(id, "2024-03-02 00:00:00+00", "p9")).is_err());
        assert_eq!(store.flow_pg_checkpoint("pg").unwrap(), Some(mark("2024-03-01 10:00:00+00", "p1")));
        let loading = store.begin_batch(&start()).unwrap();
        let second = store.write_batch(&with_mark(loading.id(), "2024-03-02 00:00:00+00", "p2")).unwrap();
        assert!(second.id > first.id);
        assert_eq!(store.flow_pg_checkpoint("pg").unwrap(), Some(mark("2024-03-02 00:00:00+00", "p2")));
    }

    #[test]
    fn thresholds_parse_exactly_and_fail_strictly_above() {
        let t: ErrorThreshold = "5".parse().unwrap();
        assert_eq!(t, ErrorThreshold::DEFAULT);
        assert_eq!("2.5%".parse::<ErrorThreshold>().unwrap().basis_points(), 250);
        assert_eq!("0.25".parse::<ErrorThreshold>().unwrap().basis_points(), 25);
        assert_eq!("100".parse::<ErrorThreshold>().unwrap().basis_points(), 10_000);
        for bad in ["", "-1", "100.01", "101", "1.234", "five", "1e2", ".5"] {
            assert!(bad.parse::<ErrorThreshold>().is_err(), "{bad:?} parsed");
        }
        assert_eq!(ErrorThreshold::from_basis_points(250).unwrap().to_string(), "2.5%");
        assert_eq!(ErrorThreshold::from_basis_points(25).unwrap().to_string(), "0.25%");
        // 5 of 100 is exactly 5 %: tolerated. 6 of 100 is not; 1 of 19 (5.26 %) is not.
        assert!(!t.is_exceeded(5, 100));
        assert!(t.is_exceeded(6, 100));
        assert!(t.is_exceeded(1, 19));
        assert!(!t.is_exceeded(1, 20));
        assert!(!t.is_exceeded(0, 0));
        let zero = ErrorThreshold::from_basis_points(0).unwrap();
        assert!(zero.is_exceeded(1, 1_000_000));
        assert!(!zero.is_exceeded(0, 10));
        assert!(!ErrorThreshold::from_basis_points(10_000).unwrap().is_exceeded(10, 10));
    }
}
