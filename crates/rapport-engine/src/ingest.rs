//! Batch ingestion of CRM export files: map, validate, extract identities, commit one batch per file.

use std::path::{Path, PathBuf};

use rapport_model::{EntityKind, Identity, RowError, RowErrorCode, SourceSystem};
use std::collections::HashMap;

use rapport_profile::MergePolicy;
use rapport_schema::{Namespace, Schema};
use rapport_sources::{FileBatch, ReadOptions, SourceTable};
use rapport_store::{EncodedFragment, FragmentHead, NewFragment};
use serde::Serialize;
use tracing::{info, instrument, warn};

use crate::{Engine, Error, Observer, Result};

/// At most this many identities are taken from one record (B2B-DOMAIN h.1); the rest are ignored.
pub const MAX_IDENTITIES_PER_RECORD: usize = 20;

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
    /// The committed batch.
    pub batch_id: i64,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows stored.
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
                match rapport_sources::recognise(system, &entry) {
                    Some(table) => inputs.push((entry, table)),
                    None => skipped.push(entry.display().to_string()),
                }
            }
        } else {
            let table = rapport_sources::recognise(system, path).ok_or_else(|| Error::UnknownFile {
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
fn fragment(
    schema: &Schema,
    namespaces: &Namespaces,
    file: &str,
    mapped: rapport_model::MappedRecord,
) -> std::result::Result<NewFragment, RowError> {
    let errors = rapport_schema::validate::validate(schema, &mapped.record);
    if let Some(first) = errors.first() {
        let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        return Err(RowError {
            file: file.to_owned(),
            line: mapped.line,
            field: Some(first.path.clone()),
            code: RowErrorCode::Invalid,
            message,
        });
    }
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
            field: Some(schema.primary().path.to_string()),
            code: RowErrorCode::MissingId,
            message: "the primary identity is empty".to_owned(),
        });
    };
    Ok(NewFragment { primary, identities, updated_at: updated_at(&mapped.record), record: mapped.record })
}

/// The source modification time of a record, used by timestamp-ordered merging.
fn updated_at(record: &rapport_model::Record) -> String {
    record
        .get("extSourceSystemAudit")
        .and_then(|audit| audit.get("lastUpdatedDate"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Records handed from the reading thread to the writing one.
const CHUNK: usize = 2048;

/// A run of read rows.
struct Chunk {
    /// Fragments ready to store, or rows refused by validation.
    items: Vec<std::result::Result<EncodedFragment, RowError>>,
    /// Bytes of the file read so far.
    bytes: u64,
}

/// What the writing thread did.
struct Written {
    heads: Vec<FragmentHead>,
    rejected: Vec<RowError>,
    read: Option<FileBatch>,
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
                Ok(f) => match serde_json::to_string(&f.record) {
                    Ok(record) => Ok(EncodedFragment {
                        primary: f.primary,
                        identities: f.identities,
                        updated_at: f.updated_at,
                        record,
                    }),
                    Err(e) => {
                        failed = Some(Error::Internal(format!("serializing a record: {e}")));
                        return;
                    }
                },
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
    let mut rejected = Vec::new();
    for chunk in receiver {
        for item in chunk.items {
            match item {
                Ok(fragment) => crate::profiles::put_fragment(writer, dataset, fragment, &mut heads)?,
                Err(row) => rejected.push(row),
            }
        }
        observer.progress(chunk.bytes);
    }
    Ok(Written { heads, rejected, read: None })
}

impl Engine {
    /// Ingests export files (or folders of them) of one system. Each file becomes one batch, committed whole
    /// together with the profiles it changes; rejected rows are kept with file, line, field and reason.
    #[instrument(skip_all, fields(system = %system, inputs = paths.len()))]
    pub fn ingest(
        &mut self,
        system: SourceSystem,
        paths: &[PathBuf],
        instance: &str,
        observer: &dyn Observer,
    ) -> Result<IngestReport> {
        let (inputs, skipped) = resolve_inputs(system, paths)?;
        for file in &skipped {
            warn!(file = %file, "not a known export table; skipped");
        }
        let options = ReadOptions { instance_id: instance.to_owned() };
        let namespaces: Namespaces =
            self.store.namespaces()?.into_iter().map(|ns| (ns.code.as_str().to_owned(), ns)).collect();
        let mut files = Vec::with_capacity(inputs.len());
        for (path, table) in inputs {
            files.push(self.ingest_file(&path, &table, &namespaces, &options, observer)?);
        }
        Ok(IngestReport { system, files, skipped })
    }

    fn ingest_file(
        &mut self,
        path: &Path,
        table: &SourceTable,
        namespaces: &Namespaces,
        options: &ReadOptions,
        observer: &dyn Observer,
    ) -> Result<FileReport> {
        let schema = self.schemas.for_entity(table.entity).ok_or(Error::NoSchema(table.entity))?.clone();
        if self.store.schema_for_entity(table.entity)?.is_none() {
            return Err(Error::NoSchema(table.entity));
        }
        let shown = path.display().to_string();
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let dataset = format!("{}.{}", table.system.name(), table.name.to_ascii_lowercase());
        let source = format!("{}:{}", table.system.name(), table.name);
        observer.start(&format!("{table} ({shown})"), size);
        let mut writer = self.store.begin_batch(&dataset, table.entity, &source, vec![shown.clone()])?;
        // Two threads: this one writes; a reader parses, maps, validates and serializes each record while it
        // is hot in cache, and hands them over in chunks.
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Chunk>(8);
        let outcome = std::thread::scope(|scope| -> Result<Written> {
            let reader = scope.spawn(|| read_encoded(table, path, &shown, options, &schema, namespaces, sender));
            let written = write_chunks(&mut writer, &dataset, receiver, observer);
            let read = reader.join().map_err(|_| Error::Internal("the reader thread panicked".to_owned()))?;
            let mut written = written?;
            let (batch, mut invalid) = read?;
            written.rejected.append(&mut invalid);
            written.read = Some(batch);
            Ok(written)
        });
        observer.finish();
        let Written { heads, mut rejected, read } = outcome?;
        let FileBatch { rows_read, rejected: mut unreadable, unmapped_columns, .. } =
            read.ok_or_else(|| Error::Internal("the reader returned nothing".to_owned()))?;
        rejected.append(&mut unreadable);
        rejected.sort_by_key(|r| r.line);
        for row in &rejected {
            writer.reject(row)?;
        }
        let delta = crate::profiles::apply_fragments(&mut writer, heads, &MergePolicy::TimestampOrdered)?;
        let summary = writer.commit(rows_read)?.ok_or_else(|| Error::Internal("a batch without an id".to_owned()))?;
        info!(
            file = %shown,
            batch = summary.id,
            read = summary.rows_read,
            ingested = summary.rows_ingested,
            rejected = summary.rows_rejected,
            profiles_written = delta.written,
            "batch committed"
        );
        Ok(FileReport {
            file: shown,
            table: table.to_string(),
            entity: table.entity,
            dataset,
            batch_id: summary.id,
            rows_read: summary.rows_read,
            rows_ingested: summary.rows_ingested,
            rows_rejected: summary.rows_rejected,
            rejected,
            unmapped_columns,
            profiles: delta,
        })
    }
}
