//! Batch ingestion of CRM export files: map, validate, extract identities, commit one batch per file.

use std::path::{Path, PathBuf};

use rapport_model::{EntityKind, Identity, RowError, RowErrorCode, SourceSystem};
use std::collections::HashMap;

use rapport_schema::{Namespace, Schema};
use rapport_sources::{FileBatch, ReadOptions, SourceTable};
use rapport_store::{NewBatch, NewFragment};
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
pub(crate) fn fragment(
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

impl Engine {
    /// Ingests export files (or folders of them) of one system. Each file becomes one batch, committed whole;
    /// rejected rows are kept with file, line, field and reason. Profiles are not rebuilt: call
    /// [`Engine::unify`] afterwards.
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
        observer.start(&format!("{table} ({shown})"), size);
        // Each record is validated and turned into a fragment as soon as it is mapped, while it is hot in cache.
        let mut fragments = Vec::new();
        let mut invalid = Vec::new();
        let read = rapport_sources::read_file_each(
            table,
            path,
            &shown,
            options,
            &mut |bytes| observer.progress(bytes),
            &mut |mapped| match fragment(&schema, namespaces, &shown, mapped) {
                Ok(fragment) => fragments.push(fragment),
                Err(row) => invalid.push(row),
            },
        );
        observer.finish();
        let FileBatch { rows_read, mut rejected, unmapped_columns, .. } = read?;
        rejected.append(&mut invalid);
        rejected.sort_by_key(|r| r.line);
        let dataset = format!("{}.{}", table.system.name(), table.name.to_ascii_lowercase());
        let batch = NewBatch {
            dataset: dataset.clone(),
            entity: table.entity,
            source: format!("{}:{}", table.system.name(), table.name),
            files: vec![shown.clone()],
            rows_read,
            fragments,
            rejected,
        };
        let summary = self.store.write_batch(&batch)?;
        info!(
            file = %shown,
            batch = summary.id,
            read = summary.rows_read,
            ingested = summary.rows_ingested,
            rejected = summary.rows_rejected,
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
            rejected: batch.rejected,
            unmapped_columns,
        })
    }
}
