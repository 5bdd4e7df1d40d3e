//! Batch ingestion of CRM export files: map, validate, extract identities, commit one batch per file.
//!
//! Each file is one batch: committed `loading` before it is read, then ended in one transaction as `success`
//! (its accepted rows stored, its rejected rows kept) or `failed` (nothing stored; the reason and the rejected
//! rows kept). A batch fails when its rejected rows exceed the error threshold (strictly more than the
//! threshold's share of the rows read; see [`ErrorThreshold`]) or when the file cannot be read at all.

use std::path::{Path, PathBuf};

use rapport_model::{EntityKind, Identity, RowError, RowErrorCode, SourceSystem};
use std::collections::HashMap;

use rapport_profile::MergePolicy;
use rapport_schema::{Namespace, Schema};
use rapport_sources::{FileBatch, ReadOptions, SourceTable};
use rapport_store::{
    BatchFailure, BatchStart, BatchState, EncodedFragment, ErrorThreshold, FailureCode, FailureReason, FileCheckpoint,
    FragmentHead, NewFragment,
};
use serde::Serialize;
use tracing::{debug, info, instrument, warn};

use crate::{Engine, Error, Observer, Result};

/// At most this many identities are taken from one record (B2B-DOMAIN h.1); the rest are ignored. Stitching
/// applies the same limit to records from every write path.
pub use rapport_identity::MAX_IDENTITIES_PER_RECORD;

/// What ingesting one file did.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file as given.
    pub file: String,
    /// The table it was read as, e.g. `Salesforce Contact`.
    pub table: String,
    /// The entity class of its records.
    pub entity: EntityKind,
    /// The dataset it went into.
    pub dataset: String,
    /// The batch.
    pub batch_id: i64,
    /// `success`, or `failed` (nothing of the file stored).
    pub state: BatchState,
    /// Why the batch failed, if it did.
    pub reason: Option<FailureReason>,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows stored (0 when the batch failed).
    pub rows_ingested: u64,
    /// Rows rejected (unreadable, unmappable or invalid).
    pub rows_rejected: u64,
    /// The rejected rows with file, line, field and reason.
    pub rejected: Vec<RowError>,
    /// Columns of the file the mapping does not load.
    pub unmapped_columns: Vec<String>,
    /// What the batch changed in the profiles of its class.
    pub profiles: crate::profiles::ProfileDelta,
}

/// What one `ingest` call did.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// The source system.
    pub system: SourceSystem,
    /// One entry per file, in the order read.
    pub files: Vec<FileReport>,
    /// Files in the given folders that are not export tables of the system (left alone).
    pub skipped: Vec<String>,
}

impl IngestReport {
    /// Data rows read, over all files.
    pub fn rows_read(&self) -> u64 {
        self.files.iter().map(|f| f.rows_read).sum()
    }

    /// Rows stored, over all files.
    pub fn rows_ingested(&self) -> u64 {
        self.files.iter().map(|f| f.rows_ingested).sum()
    }

    /// Rows rejected, over all files.
    pub fn rows_rejected(&self) -> u64 {
        self.files.iter().map(|f| f.rows_rejected).sum()
    }

    /// The files whose batch failed.
    pub fn failed(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|f| f.state == BatchState::Failed)
    }
}

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The instance the files come from (CRM org id or Marketo munchkin id); part of every source key.
    pub instance: String,
    /// The share of rejected rows a batch tolerates.
    pub error_threshold: ErrorThreshold,
}

/// What [`Engine::ingest_file`] needs besides the file: namespaces, read options and the threshold.
pub(crate) struct FileContext {
    pub(crate) namespaces: Namespaces,
    pub(crate) read: ReadOptions,
    pub(crate) error_threshold: ErrorThreshold,
}

/// One file to load as one batch.
pub(crate) struct FileJob<'a> {
    pub(crate) path: &'a Path,
    pub(crate) table: &'a SourceTable,
    /// The flow checkpoint to commit with the batch.
    pub(crate) checkpoint: Option<FileCheckpoint>,
    /// The flow run loading it.
    pub(crate) flow_run: Option<i64>,
    /// The name shown in the batch and its error rows, when not the path (an uploaded file's own name).
    pub(crate) display: Option<&'a str>,
}

/// The files to read, each with its table, and the files of the given folders that are not export tables.
type Inputs = (Vec<(PathBuf, SourceTable)>, Vec<String>);

/// Expands folders into their files (sorted) and pairs each file with its table.
fn resolve_inputs(system: SourceSystem, paths: &[PathBuf]) -> Result<Inputs> {
    let mut inputs = Vec::new();
    let mut skipped = Vec::new();
    let expected = || {
        rapport_sources::tables(system)
            .iter()
            .map(|t| format!("{}.csv", t.file_stems()[0]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for path in paths {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|source| Error::Input { path: shown.clone(), source })?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|source| Error::Input { path: shown.clone(), source })?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            for entry in entries {
                match rapport_sources::recognise_listed(system, &entry) {
                    Some(table) => inputs.push((entry, table)),
                    None => skipped.push(entry.display().to_string()),
                }
            }
        } else {
            // A file may be called anything (a Data Loader `extract.csv`): its header then tells its table,
            // when one table fits it best. Named on its own, a file neither tells is an error; in a folder, it is
            // skipped.
            let table = rapport_sources::recognise_file(system, path)?.ok_or_else(|| Error::UnknownFile {
                path: shown.clone(),
                system,
                expected: expected(),
            })?;
            inputs.push((path.clone(), table));
        }
    }
    // Entities that others point at load first, so that every batch finds its dataset order stable.
    inputs.sort_by_key(|(path, table)| (table.entity, path.clone()));
    Ok((inputs, skipped))
}

/// Registered namespaces by code.
pub(crate) type Namespaces = HashMap<String, Namespace>;

/// The identities a record carries, per the schema's identity descriptors, normalized by their namespaces.
/// Values a namespace refuses (empty, or not E.164 for a phone namespace) are not identities.
pub(crate) fn identities(schema: &Schema, namespaces: &Namespaces, record: &rapport_model::Record) -> Vec<Identity> {
    let mut out: Vec<Identity> = Vec::new();
    for descriptor in &schema.identities {
        let Some(ns) = namespaces.get(descriptor.namespace.as_str()) else { continue };
        for value in descriptor.path.values(record) {
            if let Some(identity) = value.as_str().and_then(|raw| ns.identity(raw)) {
                if !out.contains(&identity) {
                    out.push(identity);
                }
            }
        }
    }
    out.truncate(MAX_IDENTITIES_PER_RECORD);
    out
}

/// Validates a mapped record and turns it into a fragment, or into the rejected row saying why not.
pub(crate) fn fragment(
    schema: &Schema,
    namespaces: &Namespaces,
    file: &str,
    mapped: rapport_model::MappedRecord,
) -> std::result::Result<NewFragment, RowError> {
    let errors = rapport_schema::validate::validate(schema, &mapped.record);
    if let Some(first) = errors.first() {
        // The first error's path is the row's field; the others name theirs.
        let rest = errors[1..].iter().map(|e| format!("; {e}")).collect::<String>();
        let message = format!("{} ({}){rest}", first.message, first.rule.name());
        return Err(RowError {
            file: file.to_owned(),
            line: mapped.line,
            offset: mapped.offset,
            field: Some(first.path.clone()),
            code: RowErrorCode::Invalid,
            message,
        });
    }
    valid_fragment(schema, namespaces, file, mapped)
}

/// Turns a record that already passed schema validation into a fragment (its identities and merge time).
pub(crate) fn valid_fragment(
    schema: &Schema,
    namespaces: &Namespaces,
    file: &str,
    mapped: rapport_model::MappedRecord,
) -> std::result::Result<NewFragment, RowError> {
    let identities = identities(schema, namespaces, &mapped.record);
    let primary = schema
        .primary()
        .path
        .get(&mapped.record)
        .and_then(|v| v.as_str())
        .and_then(|raw| namespaces.get(schema.primary().namespace.as_str())?.identity(raw));
    // Validation guarantees a non-empty primary identity; keep the row visible if that ever breaks.
    let Some(primary) = primary else {
        return Err(RowError {
            file: file.to_owned(),
            line: mapped.line,
            offset: mapped.offset,
            field: Some(schema.primary().path.to_string()),
            code: RowErrorCode::MissingId,
            message: "the primary identity is empty".to_owned(),
        });
    };
    Ok(NewFragment { primary, identities, updated_at: updated_at(&mapped.record), record: mapped.record })
}

/// The source modification time of a record, which decides whether a record replaces the stored one of its key
/// and orders fragments in timestamp-ordered merging. Those decisions compare it as text, so it is kept as the
/// instant in one fixed-width UTC form, to the millisecond (`2024-05-01T08:00:00.500Z` for
/// `2024-05-01T10:00:00.5+02:00`): sources write offsets and fractions as they like. Empty when the record has
/// none (older than any dated one).
pub(crate) fn updated_at(record: &rapport_model::Record) -> String {
    let raw = record
        .get("extSourceSystemAudit")
        .and_then(|audit| audit.get("lastUpdatedDate"))
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    utc_millis(raw).unwrap_or_else(|| raw.to_owned())
}

/// An RFC 3339 date-time as `YYYY-MM-DDTHH:MM:SS.sssZ` in UTC, or `None` when it is not one (validation refuses
/// such values before this is asked).
fn utc_millis(raw: &str) -> Option<String> {
    let instant = chrono::DateTime::parse_from_rfc3339(raw).ok()?;
    // The connectors already write this form: most records need no formatting.
    let b = raw.as_bytes();
    let written = b.len() == 24
        && b.iter().enumerate().all(|(at, c)| match at {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if written {
        return Some(raw.to_owned());
    }
    Some(instant.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// Records handed from the reading thread to the writing one.
const CHUNK: usize = 2048;

/// The failure of a batch whose rejected rows exceed its error threshold.
pub(crate) fn over_threshold(rows_read: u64, rejected: Vec<RowError>, threshold: ErrorThreshold) -> BatchFailure {
    let message = format!(
        "{} of {} rows rejected ({:.2}%), over the error threshold of {}; nothing was ingested",
        rejected.len(),
        rows_read,
        rejected.len() as f64 * 100.0 / rows_read as f64,
        threshold
    );
    BatchFailure { reason: FailureReason { code: FailureCode::ThresholdExceeded, message }, rows_read, rejected }
}

impl FileReport {
    /// The report of a batch that has just started `loading`: failed and empty until it ends.
    pub(crate) fn loading(file: &str, table: String, entity: EntityKind, dataset: &str, batch_id: i64) -> Self {
        FileReport {
            file: file.to_owned(),
            table,
            entity,
            dataset: dataset.to_owned(),
            batch_id,
            state: BatchState::Failed,
            reason: None,
            rows_read: 0,
            rows_ingested: 0,
            rows_rejected: 0,
            rejected: Vec::new(),
            unmapped_columns: Vec::new(),
            profiles: Default::default(),
        }
    }

    /// Records (and logs) a committed batch in the report.
    pub(crate) fn committed(
        &mut self,
        summary: &rapport_store::BatchSummary,
        rejected: Vec<RowError>,
        delta: crate::profiles::ProfileDelta,
    ) {
        info!(
            file = %self.file,
            batch = summary.id,
            read = summary.rows_read,
            ingested = summary.rows_ingested,
            rejected = summary.rows_rejected,
            profiles_written = delta.written,
            "batch committed"
        );
        self.state = BatchState::Success;
        self.rows_read = summary.rows_read;
        self.rows_ingested = summary.rows_ingested;
        self.rows_rejected = summary.rows_rejected;
        self.rejected = rejected;
        self.profiles = delta;
    }
}

/// How loading a file into its batch ended.
enum Loaded {
    /// Committed with its profiles.
    Committed {
        summary: Box<rapport_store::BatchSummary>,
        delta: crate::profiles::ProfileDelta,
        rejected: Vec<RowError>,
        unmapped_columns: Vec<String>,
    },
    /// The file cannot be read at all; nothing was written.
    Unreadable(String),
    /// Too many rows were rejected; nothing was written.
    OverThreshold { rows_read: u64, rejected: Vec<RowError>, unmapped_columns: Vec<String> },
}

/// A run of read rows.
struct Chunk {
    /// Fragments ready to store with their relationship keys, or rows refused by validation.
    items: Vec<std::result::Result<(EncodedFragment, Vec<crate::changes::Link>), RowError>>,
    /// Bytes of the file read so far.
    bytes: u64,
}

/// What the writing thread did.
struct Written {
    heads: Vec<FragmentHead>,
    keys: crate::profiles::FragmentKeys,
    rejected: Vec<RowError>,
    /// How long the writer waited for the reader.
    waited: std::time::Duration,
}

/// The reading thread: map, validate and serialize every row of the file into chunks. Returns what the
/// connector reported (rows read, unreadable rows, unmapped columns); rows refused by validation travel in the
/// chunks.
fn read_encoded(
    table: &SourceTable,
    path: &Path,
    shown: &str,
    options: &ReadOptions,
    schema: &Schema,
    namespaces: &Namespaces,
    sender: std::sync::mpsc::SyncSender<Chunk>,
) -> Result<(FileBatch, Vec<RowError>)> {
    let bytes = std::cell::Cell::new(0u64);
    let mut items = Vec::with_capacity(CHUNK);
    let mut failed: Option<Error> = None;
    let read =
        rapport_sources::read_file_each(table, path, shown, options, &mut |done| bytes.set(done), &mut |mapped| {
            if failed.is_some() {
                return;
            }
            let item = match fragment(schema, namespaces, shown, mapped) {
                Ok(f) => {
                    let keys = crate::changes::direct_keys(table.entity, &f.record);
                    match EncodedFragment::encode_owned(table.entity, f) {
                        Ok(encoded) => Ok((encoded, keys)),
                        Err(e) => {
                            failed = Some(Error::Internal(format!("serializing a record: {e}")));
                            return;
                        }
                    }
                }
                Err(row) => Err(row),
            };
            items.push(item);
            if items.len() == CHUNK {
                let chunk =
                    Chunk { items: std::mem::replace(&mut items, Vec::with_capacity(CHUNK)), bytes: bytes.get() };
                // A closed channel means the writer failed; its error is the one reported.
                if sender.send(chunk).is_err() {
                    failed = Some(Error::Internal("the writer stopped".to_owned()));
                }
            }
        });
    if let Some(err) = failed {
        return Err(err);
    }
    let read = read?;
    let _ = sender.send(Chunk { items, bytes: bytes.get() });
    Ok((read, Vec::new()))
}

/// The writing thread: store every fragment as it arrives, keep the rows validation refused.
fn write_chunks(
    writer: &mut rapport_store::BatchWriter<'_>,
    dataset: &str,
    receiver: std::sync::mpsc::Receiver<Chunk>,
    observer: &dyn Observer,
) -> Result<Written> {
    let mut heads = Vec::new();
    let mut keys = crate::profiles::FragmentKeys::default();
    let mut rejected = Vec::new();
    let mut waited = std::time::Duration::ZERO;
    loop {
        let asked = std::time::Instant::now();
        let Ok(chunk) = receiver.recv() else { break };
        waited += asked.elapsed();
        for item in chunk.items {
            match item {
                Ok((fragment, links)) => {
                    let stored = heads.len();
                    crate::profiles::put_fragment(writer, dataset, fragment, &mut heads)?;
                    if let Some(head) = heads.get(stored) {
                        keys.insert(head.id, links);
                    }
                }
                Err(row) => rejected.push(row),
            }
        }
        observer.progress(chunk.bytes);
    }
    Ok(Written { heads, keys, rejected, waited })
}

impl Engine {
    /// Ingests export files (or folders of them) of one system with the default error threshold (5 %); see
    /// [`Engine::ingest_with`].
    pub fn ingest(
        &mut self,
        system: SourceSystem,
        paths: &[PathBuf],
        instance: &str,
        observer: &dyn Observer,
    ) -> Result<IngestReport> {
        let options = IngestOptions { instance: instance.to_owned(), error_threshold: ErrorThreshold::DEFAULT };
        self.ingest_with(system, paths, &options, observer)
    }

    /// Ingests export files (or folders of them) of one system. Each file becomes one batch, committed whole
    /// together with the profiles it changes, or failed whole (see the module docs); rejected rows are kept
    /// with file, line, field and reason. A failed batch does not stop the other files: check
    /// [`IngestReport::failed`].
    #[instrument(skip_all, fields(system = %system, inputs = paths.len()))]
    pub fn ingest_with(
        &mut self,
        system: SourceSystem,
        paths: &[PathBuf],
        options: &IngestOptions,
        observer: &dyn Observer,
    ) -> Result<IngestReport> {
        let (inputs, skipped) = resolve_inputs(system, paths)?;
        for file in &skipped {
            warn!(file = %file, "not a known export table; skipped");
        }
        let context = self.file_context(&options.instance, options.error_threshold)?;
        let mut files = Vec::with_capacity(inputs.len());
        for (path, table) in &inputs {
            let job = FileJob { path, table, checkpoint: None, flow_run: None, display: None };
            files.push(self.ingest_file(&job, &context, observer)?);
        }
        Ok(IngestReport { system, files, skipped })
    }

    /// Ingests one export file as the table of connector dataset `dataset` (`salesforce.contact`,
    /// `marketo.leads`, ...) whatever the file's name, exactly as [`Engine::ingest_with`] ingests each file: one
    /// batch, committed whole or failed whole past the error threshold, rejected rows kept. The batch and its
    /// rejected rows name the file `display` (an uploaded file's own name, not where it was staged).
    pub fn ingest_table_file(
        &mut self,
        dataset: &str,
        path: &Path,
        display: &str,
        options: &IngestOptions,
        observer: &dyn Observer,
    ) -> Result<FileReport> {
        let table = connector_table(dataset)?;
        let context = self.file_context(&options.instance, options.error_threshold)?;
        let job = FileJob { path, table, checkpoint: None, flow_run: None, display: Some(display) };
        self.ingest_file(&job, &context, observer)
    }

    pub(crate) fn file_context(&self, instance: &str, error_threshold: ErrorThreshold) -> Result<FileContext> {
        let namespaces: Namespaces =
            self.store.namespaces()?.into_iter().map(|ns| (ns.code.as_str().to_owned(), ns)).collect();
        Ok(FileContext { namespaces, read: ReadOptions { instance_id: instance.to_owned() }, error_threshold })
    }

    /// Loads one file as one batch: `loading`, then `success` or `failed`.
    pub(crate) fn ingest_file(
        &mut self,
        job: &FileJob<'_>,
        context: &FileContext,
        observer: &dyn Observer,
    ) -> Result<FileReport> {
        let (path, table) = (job.path, job.table);
        let schema = self.schemas.for_entity(table.entity).ok_or(Error::NoSchema(table.entity))?.clone();
        if self.store.schema_for_entity(table.entity)?.is_none() {
            return Err(Error::NoSchema(table.entity));
        }
        let shown = job.display.map_or_else(|| path.display().to_string(), str::to_owned);
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let dataset = connector_dataset(table);
        let source = format!("{}:{}", table.system.name(), table.name);
        let loading = self.store.begin_batch(&BatchStart {
            dataset: dataset.clone(),
            entity: table.entity,
            source,
            files: vec![shown.clone()],
            input_bytes: size,
            error_threshold: context.error_threshold,
            flow_run: job.flow_run,
        })?;
        let mut report = FileReport::loading(&shown, table.to_string(), table.entity, &dataset, loading.id());
        observer.start(&format!("{table} ({shown})"), size);
        let outcome = self.load_file(loading.id(), job, context, &schema, &shown, &dataset, observer);
        observer.finish();
        let failure = match outcome {
            Ok(Loaded::Committed { summary, delta, rejected, unmapped_columns }) => {
                drop(loading);
                report.unmapped_columns = unmapped_columns;
                report.committed(&summary, rejected, delta);
                self.after_commit();
                return Ok(report);
            }
            Ok(Loaded::Unreadable(err)) => {
                // The file as a whole cannot be read: the batch fails at batch level, with no row errors.
                warn!(file = %shown, batch = loading.id(), error = %err, "batch failed: input unreadable");
                let reason = FailureReason { code: FailureCode::InputUnreadable, message: err };
                BatchFailure { reason, rows_read: 0, rejected: vec![] }
            }
            Ok(Loaded::OverThreshold { rows_read, rejected, unmapped_columns }) => {
                warn!(file = %shown, batch = loading.id(), rejected = rejected.len(), read = rows_read,
                    threshold = %context.error_threshold, "batch failed: error threshold exceeded");
                report.rows_read = rows_read;
                report.rows_rejected = rejected.len() as u64;
                report.unmapped_columns = unmapped_columns;
                over_threshold(rows_read, rejected, context.error_threshold)
            }
            Err(err) => {
                let reason = FailureReason { code: FailureCode::StoreError, message: err.to_string() };
                if let Err(second) =
                    self.store.fail_batch(loading, &BatchFailure { reason, rows_read: 0, rejected: vec![] })
                {
                    warn!(error = %second, "the failed batch could not be marked failed; the next open will");
                }
                return Err(err);
            }
        };
        report.reason = Some(failure.reason.clone());
        report.rejected = failure.rejected.clone();
        self.store.fail_batch(loading, &failure)?;
        Ok(report)
    }

    /// Reads, maps, validates and writes one file into its `loading` batch, with the profiles it changes, and
    /// commits it; or rolls everything back when the file is unreadable or over the error threshold.
    #[allow(clippy::too_many_arguments)]
    fn load_file(
        &mut self,
        batch_id: i64,
        job: &FileJob<'_>,
        context: &FileContext,
        schema: &Schema,
        shown: &str,
        dataset: &str,
        observer: &dyn Observer,
    ) -> Result<Loaded> {
        let (path, table, namespaces) = (job.path, job.table, &context.namespaces);
        let mut writer = self.store.writer_for_loading(batch_id)?;
        if let Some(checkpoint) = &job.checkpoint {
            writer.set_checkpoint(checkpoint.clone());
        }
        // Two threads: this one writes; a reader parses, maps, validates and serializes each record while it
        // is hot in cache, and hands them over in chunks.
        let started = std::time::Instant::now();
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Chunk>(8);
        let (written, read) = std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let read = read_encoded(table, path, shown, &context.read, schema, namespaces, sender);
                (read, started.elapsed())
            });
            let written = write_chunks(&mut writer, dataset, receiver, observer);
            let read = reader.join().map_err(|_| Error::Internal("the reader thread panicked".to_owned()));
            (written, read)
        });
        let (read, reader_done) = match read {
            Ok((read, done)) => (Ok(read), done),
            Err(err) => (Err(err), started.elapsed()),
        };
        let fragments_stored = started.elapsed();
        let (batch, mut invalid) = match read? {
            Ok(read) => read,
            Err(Error::Source(err)) => return Ok(Loaded::Unreadable(err.to_string())),
            Err(err) => return Err(err),
        };
        let Written { heads, keys, mut rejected, waited } = written?;
        let FileBatch { rows_read, rejected: mut unreadable, unmapped_columns, .. } = batch;
        rejected.append(&mut invalid);
        rejected.append(&mut unreadable);
        rejected.sort_by_key(|r| r.line);
        if context.error_threshold.is_exceeded(rejected.len() as u64, rows_read) {
            // Dropping the writer rolls back every fragment already written.
            return Ok(Loaded::OverThreshold { rows_read, rejected, unmapped_columns });
        }
        for row in &rejected {
            writer.reject(row)?;
        }
        let rejects_kept = started.elapsed();
        let delta = crate::profiles::apply_fresh(&mut writer, heads, &keys, &MergePolicy::TimestampOrdered)?;
        let applied = started.elapsed();
        let summary = writer.commit(rows_read)?.ok_or_else(|| Error::Internal("a batch without an id".to_owned()))?;
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        debug!(
            batch = batch_id,
            rows_read,
            reader_ms = ms(reader_done),
            fragments_stored_ms = ms(fragments_stored),
            writer_waited_ms = ms(waited),
            rejected_rows_ms = ms(rejects_kept - fragments_stored),
            profiles_ms = ms(applied - rejects_kept),
            commit_ms = ms(started.elapsed() - applied),
            "batch timings"
        );
        Ok(Loaded::Committed { summary: Box::new(summary), delta, rejected, unmapped_columns })
    }
}

/// One export table a built-in connector reads (for catalogues such as the API's `GET /connectors`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorTable {
    /// The system, as the command line names it (`salesforce`).
    pub system: &'static str,
    /// The system's `sourceType` (`Salesforce`).
    pub source_type: &'static str,
    /// The table's name in the system (`Contact`).
    pub table: &'static str,
    /// The XDM class each row becomes.
    pub entity: &'static str,
    /// The dataset its rows are stored in (`salesforce.contact`).
    pub dataset: String,
    /// File names recognised as this table (lower case, without `.csv`).
    pub files: &'static [&'static str],
    /// The column holding the record id.
    pub id_column: &'static str,
    /// The source columns its mapping reads.
    pub columns: Vec<&'static str>,
    /// The XDM paths its mapping writes.
    pub targets: Vec<&'static str>,
}

/// Every table of the built-in connectors (Salesforce, Dynamics, Marketo), in that order.
pub fn connector_tables() -> Vec<ConnectorTable> {
    source_tables()
        .map(|table| ConnectorTable {
            system: table.system.name(),
            source_type: table.system.source_type(),
            table: table.name,
            entity: table.entity.name(),
            dataset: connector_dataset(table),
            files: table.file_stems(),
            id_column: table.id_column(),
            columns: table.columns(),
            targets: table.targets(),
        })
        .collect()
}

/// The names of the connector datasets: `<system>.<table>` in lowercase, e.g. `salesforce.contact`.
pub fn connector_datasets() -> Vec<String> {
    source_tables().map(connector_dataset).collect()
}

/// Every table of the built-in connectors, Salesforce, Dynamics then Marketo.
fn source_tables() -> impl Iterator<Item = &'static SourceTable> {
    [SourceSystem::Salesforce, SourceSystem::Dynamics, SourceSystem::Marketo]
        .into_iter()
        .flat_map(|system| rapport_sources::tables(system).iter())
}

/// The dataset a connector table's rows are stored in: `<system>.<table>` in lowercase.
fn connector_dataset(table: &SourceTable) -> String {
    format!("{}.{}", table.system.name(), table.name.to_ascii_lowercase())
}

/// The table behind connector dataset `dataset`.
fn connector_table(dataset: &str) -> Result<&'static SourceTable> {
    source_tables().find(|table| connector_dataset(table) == dataset).ok_or_else(|| {
        Error::NotFound(format!(
            "dataset `{dataset}` is not a connector dataset (expected one of: {})",
            connector_datasets().join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(updated: &str) -> rapport_model::Record {
        let value = serde_json::json!({"extSourceSystemAudit": {"lastUpdatedDate": updated}});
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn modification_times_are_kept_as_utc_instants_to_the_millisecond() {
        let cases = [
            ("2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z"),
            ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000Z"),
            ("2024-01-01T01:00:00+02:00", "2023-12-31T23:00:00.000Z"),
            ("2024-05-01T10:00:00.5+00:00", "2024-05-01T10:00:00.500Z"),
            ("2024-05-01T10:00:00.123456-05:30", "2024-05-01T15:30:00.123Z"),
            ("2024-05-01t10:00:00.250z", "2024-05-01T10:00:00.250Z"),
        ];
        for (raw, kept) in cases {
            assert_eq!(updated_at(&record(raw)), kept, "{raw}");
        }
        assert_eq!(updated_at(&rapport_model::Record::new()), "", "no date: older than any dated record");
    }

    #[test]
    fn kept_modification_times_compare_as_text_in_the_order_of_their_instants() {
        // In time order, each written differently from its neighbours.
        let times = [
            "2023-12-31T23:30:00-02:00",
            "2024-01-01T01:00:00.5Z",
            "2024-01-01T01:00:00.500001Z",
            "2024-01-01T03:00:01+02:00",
        ];
        let kept: Vec<String> = times.iter().map(|t| updated_at(&record(t))).collect();
        assert_eq!(
            kept,
            [
                "2024-01-01T01:30:00.000Z",
                "2024-01-01T01:00:00.500Z",
                "2024-01-01T01:00:00.500Z",
                "2024-01-01T01:00:01.000Z"
            ]
        );
    }
}
