//! Ingestion through mapping sets: any [`RowReader`] (CSV, JSON, Parquet, query results) mapped by a user's
//! [`MappingSet`], validated against the entity's registered schema and committed as one batch; and the
//! dry run that shows what a mapping would do without writing anything.

use rapport_model::{EntityKind, FieldPath, MappedRecord, Record, RowError};
use rapport_schema::{FieldType, Schema};
use rapport_sources::automap::{TargetField, TargetKind};
use rapport_sources::mapping_set::{CompileOptions, CompiledMapping, MappingSet};
use rapport_sources::{RowReader, SourceRow};
use rapport_store::{
    BatchFailure, BatchStart, BatchState, ErrorThreshold, FailureCode, FailureReason, FlowCheckpoint, NewBatch,
};
use serde::Serialize;
use tracing::instrument;

use crate::ingest::{fragment, FileReport, Namespaces};
use crate::{Engine, Error, Observer, Result};

/// How to ingest rows through a mapping set.
#[derive(Debug, Clone, Default)]
pub struct RowsOptions {
    /// How the mapping binds to the input (placeholders, fields the input lacks).
    pub compile: CompileOptions,
    /// The share of rejected rows the batch tolerates (default 5 %).
    pub error_threshold: ErrorThreshold,
    /// The size of the input in bytes, for the batch's metrics (0 when unknown).
    pub input_bytes: u64,
    /// The dataflow run loading it, if any.
    pub flow_run: Option<i64>,
    /// A dataflow checkpoint to commit with the batch.
    pub checkpoint: Option<FlowCheckpoint>,
}

/// Rows already in memory (a page of a PostgreSQL pull), read as a [`RowReader`].
#[derive(Debug)]
pub struct MemoryRows {
    columns: Vec<String>,
    rows: std::vec::IntoIter<SourceRow>,
}

impl MemoryRows {
    /// Reads `rows`, whose fields are named by `columns`.
    pub fn new(columns: Vec<String>, rows: Vec<SourceRow>) -> Self {
        Self { columns, rows: rows.into_iter() }
    }
}

impl RowReader for MemoryRows {
    fn columns(&self) -> Vec<String> {
        self.columns.clone()
    }

    fn next_row(&mut self) -> rapport_sources::Result<Option<std::result::Result<SourceRow, RowError>>> {
        Ok(self.rows.next().map(Ok))
    }

    fn bytes_read(&self) -> u64 {
        0
    }
}

/// How often progress is reported, in rows.
const PROGRESS_EVERY_ROWS: u64 = 4096;

/// Rows read ahead to learn the fields of an input that has no header (JSON, NDJSON) before the mapping binds.
const PEEK_ROWS: usize = 1000;

/// A reader whose first rows were read ahead when it did not know its fields yet (JSON keys are learned as
/// rows are read), so that the mapping binds to the fields of those rows; the rows are then replayed.
struct Peeked<'a> {
    inner: &'a mut dyn RowReader,
    ahead: std::collections::VecDeque<std::result::Result<SourceRow, RowError>>,
    /// A read error met while reading ahead, returned after the rows before it.
    failed: Option<rapport_sources::Error>,
}

impl<'a> Peeked<'a> {
    fn new(inner: &'a mut dyn RowReader) -> Self {
        let mut ahead = std::collections::VecDeque::new();
        let mut failed = None;
        if inner.columns().is_empty() {
            while ahead.len() < PEEK_ROWS {
                match inner.next_row() {
                    Ok(Some(row)) => ahead.push_back(row),
                    Ok(None) => break,
                    Err(err) => {
                        failed = Some(err);
                        break;
                    }
                }
            }
        }
        Self { inner, ahead, failed }
    }

    /// Whether the input has no header and held no record at all (an NDJSON file of blank lines, `[]`, or one
    /// whose reading failed before its first record): there are no fields to bind a mapping to.
    fn holds_nothing(&self) -> bool {
        self.ahead.is_empty() && self.inner.columns().is_empty()
    }
}

impl RowReader for Peeked<'_> {
    fn columns(&self) -> Vec<String> {
        self.inner.columns()
    }

    fn next_row(&mut self) -> rapport_sources::Result<Option<std::result::Result<SourceRow, RowError>>> {
        if let Some(row) = self.ahead.pop_front() {
            return Ok(Some(row));
        }
        match self.failed.take() {
            Some(err) => Err(err),
            None => self.inner.next_row(),
        }
    }

    fn bytes_read(&self) -> u64 {
        self.inner.bytes_read()
    }
}

/// What a dry run found: the mapping, a sample of mapped and valid records, the rejected rows, and what is
/// left out on either side.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    /// The entity the records become.
    pub entity: EntityKind,
    /// The mapping set used.
    pub mapping: MappingSet,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows that would be stored.
    pub rows_valid: u64,
    /// The first valid records, with their input line.
    pub sample: Vec<(u64, Record)>,
    /// Every rejected row (unreadable, unmappable or invalid), in input order.
    pub rejected: Vec<RowError>,
    /// Input fields no mapping reads (custom fields to map by hand), in input order.
    pub unmapped_fields: Vec<String>,
    /// Mappings left out because the input lacks a field they read (`mapping N (→ dest): field`).
    pub skipped_mappings: Vec<String>,
    /// Identity fields of the schema (primary first) that no mapping writes: without the primary identity
    /// every record is rejected; without a secondary one, records link through fewer identities.
    pub target_fields_not_covered: Vec<String>,
}

/// The fields of `schema` a column can be mapped to (scalars and arrays of strings), for auto-mapping.
pub fn target_fields(schema: &Schema) -> Vec<TargetField> {
    schema
        .fields()
        .filter_map(|field| {
            let kind = match &field.ty {
                FieldType::String => TargetKind::Text,
                FieldType::Number => TargetKind::Number,
                FieldType::Integer => TargetKind::Integer,
                FieldType::Boolean => TargetKind::Boolean,
                FieldType::Date => TargetKind::Date,
                FieldType::DateTime => TargetKind::DateTime,
                FieldType::Array(item) if **item == FieldType::String => TargetKind::TextList,
                _ => return None,
            };
            Some(TargetField { path: field.path.clone(), kind })
        })
        .collect()
}

/// Whether writing at `destination` reaches the field `path` (one is a prefix of the other).
fn covers(destination: &FieldPath, path: &FieldPath) -> bool {
    let (d, p) = (destination.segments(), path.segments());
    let n = d.len().min(p.len());
    d[..n] == p[..n]
}

/// Checks that every destination is a field of `schema`, or lies under a map field (`identityMap.ECID`).
fn check_destinations(schema: &Schema, compiled: &CompiledMapping, set: &MappingSet) -> Result<()> {
    for destination in compiled.destinations() {
        let segments = destination.segments();
        let known = schema.field(destination).is_some()
            || (1..segments.len()).any(|n| {
                let prefix = FieldPath::from_segments(segments[..n].iter().cloned());
                schema.field(&prefix).is_some_and(|f| f.ty == FieldType::Map)
            });
        if !known {
            let text = destination.to_string();
            let index = set.mappings.iter().position(|m| m.destination == text).map_or(0, |i| i + 1);
            return Err(Error::Mapping(format!(
                "mapping {index}: the destination `{text}` is not a field of the {} schema{}",
                schema.name,
                schema.suggest(&text).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// The mapped, validated and rejected rows of one input.
#[derive(Default)]
struct Mapped {
    rows_read: u64,
    fragments: Vec<rapport_store::NewFragment>,
    rejected: Vec<RowError>,
    sample: Vec<(u64, Record)>,
    valid: u64,
    /// Fields no mapping reads beyond those the compiled mapping lists: keys first seen after its columns were
    /// taken, and unread keys inside object columns ([`CompiledMapping::unmapped_in`]).
    unmapped: std::collections::BTreeSet<String>,
}

impl Mapped {
    /// Every field no mapping reads: the compiled mapping's list, then the ones found while reading.
    fn unmapped_fields(&self, compiled: Option<&CompiledMapping>) -> Vec<String> {
        let listed = compiled.map_or(&[][..], CompiledMapping::unmapped_fields);
        listed.iter().cloned().chain(self.unmapped.iter().cloned()).collect()
    }
}

impl Engine {
    fn registered_entity_schema(&self, entity: EntityKind) -> Result<Schema> {
        let schema = self.schemas.for_entity(entity).ok_or(Error::NoSchema(entity))?.clone();
        if self.store.schema_for_entity(entity)?.is_none() {
            return Err(Error::NoSchema(entity));
        }
        Ok(schema)
    }

    fn compile_mapping(
        &self,
        schema: &Schema,
        mapping: &MappingSet,
        reader: &dyn RowReader,
        options: &CompileOptions,
    ) -> Result<CompiledMapping> {
        // Errors name the mapping file, when the set was read from one.
        let named = |message: String| match &mapping.origin {
            Some(file) => Error::Mapping(format!("{file}: {message}")),
            None => Error::Mapping(message),
        };
        let compiled = mapping.compile(&reader.columns(), options).map_err(|e| named(e.to_string()))?;
        check_destinations(schema, &compiled, mapping).map_err(|e| match e {
            Error::Mapping(message) => named(message),
            other => other,
        })?;
        Ok(compiled)
    }

    /// Maps every row of `reader` and validates it; keeps fragments when `keep` and up to `sample` records.
    #[allow(clippy::too_many_arguments)]
    fn map_all(
        &self,
        schema: &Schema,
        compiled: &CompiledMapping,
        reader: &mut dyn RowReader,
        display_name: &str,
        keep: bool,
        sample: usize,
        (observer, input_bytes): (&dyn Observer, u64),
    ) -> Result<Mapped> {
        let namespaces: Namespaces =
            self.store.namespaces()?.into_iter().map(|ns| (ns.code.as_str().to_owned(), ns)).collect();
        let mut out = Mapped {
            rows_read: 0,
            fragments: Vec::new(),
            rejected: Vec::new(),
            sample: Vec::new(),
            valid: 0,
            unmapped: Default::default(),
        };
        let scalars = scalar_destinations(schema, compiled);
        observer.start(display_name, input_bytes);
        let mut since_progress = 0;
        while let Some(row) = reader.next_row()? {
            out.rows_read += 1;
            let row = match row {
                Ok(row) => row,
                Err(error) => {
                    out.rejected.push(error);
                    continue;
                }
            };
            compiled.unmapped_in(&row.fields, &mut out.unmapped);
            let mut record = match compiled.map_row(&row, display_name) {
                Ok(record) => record,
                Err(error) => {
                    out.rejected.push(error);
                    continue;
                }
            };
            for (path, conversion) in &scalars {
                convert_at(&mut record, path.segments(), *conversion);
            }
            let kept_sample = (out.sample.len() < sample).then(|| record.clone());
            match fragment(
                schema,
                &namespaces,
                display_name,
                MappedRecord { line: row.line, offset: row.offset, record },
            ) {
                Ok(fragment) => {
                    out.valid += 1;
                    if let Some(record) = kept_sample {
                        out.sample.push((row.line, record));
                    }
                    if keep {
                        out.fragments.push(fragment);
                    }
                }
                Err(error) => out.rejected.push(error),
            }
            since_progress += 1;
            if since_progress == PROGRESS_EVERY_ROWS {
                since_progress = 0;
                observer.progress(reader.bytes_read());
            }
        }
        observer.finish();
        out.rejected.sort_by_key(|r| r.line);
        Ok(out)
    }

    /// Ingests the rows of `reader` through `mapping` (whose `entity` the records become) into `dataset`, as
    /// one batch: `loading` while it is read, then committed whole with the profiles it changes, or `failed`
    /// (nothing stored; reason and rejected rows kept) when more rows than `options.error_threshold` allows
    /// are rejected. Rows that cannot be read, mapped or validated are rejected with their line, field and
    /// reason; the rest load. Fails before reading any row when the mapping does not compile against the
    /// reader's columns, or writes a field the entity's schema does not have.
    #[instrument(skip_all, fields(dataset = dataset, entity = %mapping.entity, input = display_name))]
    pub fn ingest_rows(
        &mut self,
        dataset: &str,
        mapping: &MappingSet,
        reader: &mut dyn RowReader,
        display_name: &str,
        options: &RowsOptions,
        observer: &dyn Observer,
    ) -> Result<FileReport> {
        let entity = mapping.entity;
        let schema = self.registered_entity_schema(entity)?;
        let mut reader = Peeked::new(reader);
        let reader = &mut reader;
        // An input without header or record is an empty batch (or a failed one, when reading it failed): no
        // mapping is bound, as there are no fields to bind it to.
        let compiled = if reader.holds_nothing() {
            None
        } else {
            Some(self.compile_mapping(&schema, mapping, reader, &options.compile)?)
        };
        let name = source_name(mapping);
        let loading = self.store.begin_batch(&BatchStart {
            dataset: dataset.to_owned(),
            entity,
            source: format!("mapping:{name}"),
            files: vec![display_name.to_owned()],
            input_bytes: options.input_bytes,
            error_threshold: options.error_threshold,
            flow_run: options.flow_run,
        })?;
        let mut report = FileReport::loading(display_name, name.clone(), entity, dataset, loading.id());
        report.unmapped_columns = compiled.as_ref().map(|c| c.unmapped_fields().to_vec()).unwrap_or_default();
        let mapped = match &compiled {
            Some(compiled) => {
                self.map_all(&schema, compiled, reader, display_name, true, 0, (observer, options.input_bytes))
            }
            // Replays the read error, if reading failed before the first record.
            None => reader.next_row().map(|_| Mapped::default()).map_err(Error::from),
        };
        let mapped = match mapped {
            Ok(mapped) => mapped,
            Err(err) => {
                let reason = FailureReason { code: FailureCode::InputUnreadable, message: err.to_string() };
                report.reason = Some(reason.clone());
                self.store.fail_batch(loading, &BatchFailure { reason, rows_read: 0, rejected: vec![] })?;
                return Ok(report);
            }
        };
        report.rows_read = mapped.rows_read;
        report.rows_rejected = mapped.rejected.len() as u64;
        report.unmapped_columns = mapped.unmapped_fields(compiled.as_ref());
        if options.error_threshold.is_exceeded(report.rows_rejected, mapped.rows_read) {
            let failure = crate::ingest::over_threshold(mapped.rows_read, mapped.rejected, options.error_threshold);
            report.reason = Some(failure.reason.clone());
            report.rejected = failure.rejected.clone();
            self.store.fail_batch(loading, &failure)?;
            return Ok(report);
        }
        let batch = NewBatch {
            dataset: dataset.to_owned(),
            entity,
            source: format!("mapping:{name}"),
            files: vec![display_name.to_owned()],
            rows_read: mapped.rows_read,
            fragments: mapped.fragments,
            rejected: mapped.rejected,
            batch_id: Some(loading.id()),
            checkpoint: options.checkpoint.clone(),
        };
        let (summary, delta) = match self.commit_batch(&batch) {
            Ok(done) => done,
            Err(err) => {
                let reason = FailureReason { code: FailureCode::StoreError, message: err.to_string() };
                if let Err(second) = self
                    .store
                    .fail_batch(loading, &BatchFailure { reason, rows_read: batch.rows_read, rejected: vec![] })
                {
                    tracing::warn!(error = %second, "the failed batch could not be marked failed; the next open will");
                }
                return Err(err);
            }
        };
        drop(loading);
        report.committed(&summary, batch.rejected, delta);
        Ok(report)
    }

    /// Records an input that could not be opened as a failed batch (`input_unreadable`) of `dataset`, so that
    /// a flow run or a load goes on with its other inputs and the failure shows in the batch list.
    pub fn unreadable_batch(
        &mut self,
        dataset: &str,
        mapping: &MappingSet,
        display_name: &str,
        options: &RowsOptions,
        message: String,
    ) -> Result<FileReport> {
        let name = source_name(mapping);
        let loading = self.store.begin_batch(&BatchStart {
            dataset: dataset.to_owned(),
            entity: mapping.entity,
            source: format!("mapping:{name}"),
            files: vec![display_name.to_owned()],
            input_bytes: options.input_bytes,
            error_threshold: options.error_threshold,
            flow_run: options.flow_run,
        })?;
        let batch_id = loading.id();
        let reason = FailureReason { code: FailureCode::InputUnreadable, message };
        self.store.fail_batch(loading, &BatchFailure { reason: reason.clone(), rows_read: 0, rejected: vec![] })?;
        tracing::warn!(input = display_name, batch = batch_id, reason = %reason.message, "input unreadable; batch failed");
        Ok(FileReport {
            file: display_name.to_owned(),
            table: name,
            entity: mapping.entity,
            dataset: dataset.to_owned(),
            batch_id,
            state: BatchState::Failed,
            reason: Some(reason),
            rows_read: 0,
            rows_ingested: 0,
            rows_rejected: 0,
            rejected: Vec::new(),
            unmapped_columns: Vec::new(),
            profiles: Default::default(),
        })
    }

    /// Shows what ingesting `reader` through `mapping` would do, writing nothing: up to `sample` mapped and
    /// valid records, every rejected row, the input fields no mapping reads and the schema's identity fields
    /// no mapping writes. The whole input is read (so the counts are exact).
    #[instrument(skip_all, fields(entity = %mapping.entity, input = display_name))]
    pub fn dry_run(
        &self,
        mapping: &MappingSet,
        reader: &mut dyn RowReader,
        display_name: &str,
        options: &CompileOptions,
        sample: usize,
    ) -> Result<DryRun> {
        let entity = mapping.entity;
        let schema = self.registered_entity_schema(entity)?;
        let mut reader = Peeked::new(reader);
        let reader = &mut reader;
        if reader.holds_nothing() {
            reader.next_row()?;
            return Err(Error::Mapping(format!("{display_name} holds no record: there are no fields to map")));
        }
        let compiled = self.compile_mapping(&schema, mapping, reader, options)?;
        let destinations = compiled.destinations();
        let mut not_covered: Vec<String> = Vec::new();
        let mut identities: Vec<&rapport_schema::IdentityDescriptor> = schema.identities.iter().collect();
        identities.sort_by_key(|d| !d.primary);
        for path in identities.iter().map(|d| &d.path) {
            let text = path.to_string();
            if !destinations.iter().any(|d| covers(d, path)) && !not_covered.contains(&text) {
                not_covered.push(text);
            }
        }
        let skipped_mappings = compiled
            .skipped()
            .iter()
            .map(|s| format!("mapping {} (→ {}): no field `{}`", s.index, s.mapping.destination, s.field))
            .collect();
        let mapped = self.map_all(&schema, &compiled, reader, display_name, false, sample, (&crate::Quiet, 0))?;
        let unmapped_fields = mapped.unmapped_fields(Some(&compiled));
        Ok(DryRun {
            entity,
            mapping: mapping.clone(),
            rows_read: mapped.rows_read,
            rows_valid: mapped.valid,
            sample: mapped.sample,
            rejected: mapped.rejected,
            unmapped_fields,
            skipped_mappings,
            target_fields_not_covered: not_covered,
        })
    }
}

/// The name a batch's source gives its mapping set (`mapping:{name}`): the set's own name, else its file's name,
/// else `mapping`.
fn source_name(mapping: &MappingSet) -> String {
    let file = || {
        let origin = mapping.origin.as_deref()?;
        Some(std::path::Path::new(origin).file_name()?.to_string_lossy().into_owned())
    };
    mapping.name.clone().or_else(file).unwrap_or_else(|| "mapping".to_owned())
}

/// The destinations of a mapping whose schema type is text, a number or a boolean, or a list of one of them: the
/// values mapped there are converted to that type where they read as it ([`convert_at`]).
fn scalar_destinations(schema: &Schema, compiled: &CompiledMapping) -> Vec<(FieldPath, Conversion)> {
    fn scalar(ty: &FieldType) -> Option<Scalar> {
        match ty {
            FieldType::String => Some(Scalar::Text),
            FieldType::Integer => Some(Scalar::Integer),
            FieldType::Number => Some(Scalar::Number),
            FieldType::Boolean => Some(Scalar::Boolean),
            _ => None,
        }
    }
    compiled
        .destinations()
        .into_iter()
        .filter_map(|path| {
            let conversion = match &schema.field(path)?.ty {
                FieldType::Array(item) => Conversion { ty: scalar(item)?, list: true },
                ty => Conversion { ty: scalar(ty)?, list: false },
            };
            Some((path.clone(), conversion))
        })
        .collect()
}

/// The schema types [`convert_at`] converts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Text,
    Integer,
    Number,
    Boolean,
}

/// What [`convert_at`] makes of the value at a destination: a `ty`, or with `list` a list of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Conversion {
    ty: Scalar,
    list: bool,
}

/// Converts the value at `path` (through objects, and every element of an array on the way) to its destination's
/// type, as Data Prep converts a mapped attribute to its target's type: a number or boolean becomes text for a
/// text field, and text that reads as a whole number, a number or `true`/`false` (any case) becomes one for such
/// a field. For a list field, each element is converted, and a single value (a CSV cell) becomes a list of one,
/// as `to_array(false, X)` would make it. A value that does not read as the type is left as it is, for
/// validation to reject with its path.
fn convert_at(value: &mut serde_json::Map<String, serde_json::Value>, path: &[String], conversion: Conversion) {
    use serde_json::Value;
    fn scalar(leaf: &Value, ty: Scalar) -> Option<Value> {
        match (ty, leaf) {
            (Scalar::Text, Value::Number(n)) => Some(Value::String(n.to_string())),
            (Scalar::Text, Value::Bool(b)) => Some(Value::String(b.to_string())),
            (Scalar::Integer, Value::String(s)) => s.trim().parse::<i64>().ok().map(Value::from),
            (Scalar::Number, Value::String(s)) => {
                let s = s.trim();
                s.parse::<i64>()
                    .ok()
                    .map(Value::from)
                    .or_else(|| s.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number))
            }
            (Scalar::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            _ => None,
        }
    }
    fn walk(value: &mut Value, path: &[String], conversion: Conversion) {
        match (value, path.split_first()) {
            // The destination's own list: its elements are converted, not wrapped again.
            (Value::Array(items), None) => {
                let element = Conversion { list: false, ..conversion };
                items.iter_mut().for_each(|item| walk(item, path, element));
            }
            (Value::Array(items), Some(_)) => items.iter_mut().for_each(|item| walk(item, path, conversion)),
            (Value::Object(object), Some((first, rest))) => {
                if let Some(inner) = object.get_mut(first) {
                    walk(inner, rest, conversion);
                }
            }
            (leaf, None) => {
                if let Some(converted) = scalar(leaf, conversion.ty) {
                    *leaf = converted;
                }
                if conversion.list && matches!(leaf, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                    *leaf = Value::Array(vec![leaf.take()]);
                }
            }
            _ => {}
        }
    }
    if let Some((first, rest)) = path.split_first() {
        if let Some(inner) = value.get_mut(first) {
            walk(inner, rest, conversion);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_model::RowErrorCode;
    use rapport_sources::mapping_set::Mapping;
    use rapport_sources::prep::Placeholders;
    use rapport_sources::SourceRow;
    use serde_json::{json, Value};

    /// Rows held in memory, as a reader would produce them.
    struct Rows {
        columns: Vec<String>,
        rows: std::vec::IntoIter<std::result::Result<SourceRow, RowError>>,
    }

    impl RowReader for Rows {
        fn columns(&self) -> Vec<String> {
            self.columns.clone()
        }
        fn next_row(&mut self) -> rapport_sources::Result<Option<std::result::Result<SourceRow, RowError>>> {
            Ok(self.rows.next())
        }
        fn bytes_read(&self) -> u64 {
            0
        }
    }

    fn reader() -> Rows {
        let columns = ["id", "email", "first", "score", "Fax"].map(String::from).to_vec();
        let row = |line: u64, values: [&str; 5]| {
            let fields = columns.iter().zip(values).map(|(c, v)| (c.clone(), Value::from(v))).collect();
            Ok(SourceRow { line, offset: None, fields, faults: Vec::new() })
        };
        let rows = vec![
            row(2, ["p1", "ada@example.com", "Ada", "12", "f"]),
            row(3, ["p2", "bob@example.com", "Bob", "lots", ""]),
            row(4, [" ", "cy@example.com", "Cy", "1", ""]),
            row(5, ["p4", "", "Dee", "", ""]),
            Err(RowError {
                file: "people.csv".into(),
                line: 6,
                offset: Some(120),
                field: None,
                code: RowErrorCode::Unparsable,
                message: "wrong number of fields".into(),
            }),
            row(7, ["p6", "not an email", "Eve", "3", ""]),
        ];
        Rows { columns, rows: rows.into_iter() }
    }

    fn mapping() -> MappingSet {
        MappingSet {
            entity: EntityKind::Person,
            schema: None,
            name: Some("people".into()),
            origin: None,
            required: vec!["id".into()],
            mappings: vec![
                Mapping::constant("Salesforce", "b2b.personKey.sourceType"),
                Mapping::constant("${CRM_ORG_ID}", "b2b.personKey.sourceInstanceID"),
                Mapping::attribute("id", "b2b.personKey.sourceID"),
                Mapping::expression("concat(id, \"@${CRM_ORG_ID}.Salesforce\")", "b2b.personKey.sourceKey"),
                Mapping::attribute("email", "workEmail.address"),
                Mapping::expression("upper(first)", "person.name.firstName"),
                Mapping::expression("to_integer(score)", "b2b.personScore"),
            ],
        }
    }

    fn options() -> CompileOptions {
        CompileOptions {
            placeholders: Placeholders { crm_org_id: Some("org9".into()), ..Placeholders::default() },
            ..CompileOptions::default()
        }
    }

    fn engine() -> (tempfile::TempDir, Engine) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut engine = Engine::open(dir.path()).expect("the store opens");
        engine.generate_b2b_schemas().expect("the schemas are created");
        (dir, engine)
    }

    /// An attribute mapped as it is comes out in its destination's type where it reads as one: CSV text into a
    /// number or boolean field, a JSON number into a text field. What does not read as the type is still rejected.
    #[test]
    fn attributes_take_their_destination_type_where_they_read_as_it() {
        let (_dir, engine) = engine();
        let mut set = mapping();
        set.mappings[6] = Mapping::attribute("score", "b2b.personScore");
        set.mappings.push(Mapping::attribute("first", "isDeleted"));
        set.mappings.push(Mapping::attribute("zip", "homeAddress.postalCode"));
        let columns = ["id", "email", "first", "score", "zip"].map(String::from).to_vec();
        let row = |line: u64, values: [Value; 5]| {
            let fields = columns.iter().cloned().zip(values).collect();
            Ok(SourceRow { line, offset: None, fields, faults: Vec::new() })
        };
        let rows = vec![
            row(2, [json!("p1"), json!("a@x.com"), json!(" TRUE "), json!(" 12 "), json!(94105)]),
            row(3, [json!("p2"), json!("b@x.com"), json!("false"), json!("12.5"), json!(2.5)]),
            row(4, [json!("p3"), json!("c@x.com"), json!("yes"), json!("7"), json!(false)]),
        ];
        let mut reader = Rows { columns: columns.clone(), rows: rows.into_iter() };
        let run = engine.dry_run(&set, &mut reader, "people.json", &options(), 3).unwrap();
        let sample: Vec<Value> = run.sample.iter().map(|(_, r)| Value::Object(r.clone())).collect();
        assert_eq!(sample.len(), 2, "{sample:?}");
        assert_eq!(sample[0]["b2b"]["personScore"], json!(12));
        assert_eq!(sample[0]["isDeleted"], json!(true));
        assert_eq!(sample[0]["homeAddress"]["postalCode"], json!("94105"));
        assert_eq!(sample[1]["b2b"]["personScore"], json!(12.5), "the score is a number field");
        assert_eq!(sample[1]["isDeleted"], json!(false));
        assert_eq!(sample[1]["homeAddress"]["postalCode"], json!("2.5"));
        // "yes" is no boolean: rejected with its path, as before.
        let rejected: Vec<(u64, String)> =
            run.rejected.iter().map(|r| (r.line, r.field.clone().unwrap_or_default())).collect();
        assert_eq!(rejected, [(4, "isDeleted".to_owned())]);
    }

    #[test]
    fn a_single_value_mapped_to_a_list_field_becomes_a_list_of_one() {
        let (_dir, engine) = engine();
        let mut set = mapping();
        set.mappings.push(Mapping::attribute("dept", "extendedWorkDetails.departments"));
        let columns = ["id", "email", "first", "score", "dept"].map(String::from).to_vec();
        let row = |line: u64, dept: Value| {
            let values = [json!(format!("p{line}")), json!(format!("p{line}@x.com")), json!("Ann"), json!(1), dept];
            Ok(SourceRow {
                line,
                offset: None,
                fields: columns.iter().cloned().zip(values).collect(),
                faults: Vec::new(),
            })
        };
        let rows = vec![
            row(2, json!("Sales")),
            row(3, json!(["Ops", 7])),
            row(4, json!(42)),
            row(5, json!({"name": "Sales"})),
        ];
        let mut reader = Rows { columns: columns.clone(), rows: rows.into_iter() };
        let run = engine.dry_run(&set, &mut reader, "people.json", &options(), 5).unwrap();
        let departments: Vec<Value> =
            run.sample.iter().map(|(_, r)| r["extendedWorkDetails"]["departments"].clone()).collect();
        // A CSV cell becomes a list of one; a list keeps its elements, each converted to text; so does a number.
        assert_eq!(departments, [json!(["Sales"]), json!(["Ops", "7"]), json!(["42"])]);
        // An object is no list of text: rejected with its path.
        let rejected: Vec<(u64, String)> =
            run.rejected.iter().map(|r| (r.line, r.field.clone().unwrap_or_default())).collect();
        assert_eq!(rejected, [(5, "extendedWorkDetails.departments".to_owned())]);
    }

    #[test]
    fn dry_run_shows_sample_rejections_and_gaps_and_writes_nothing() {
        let (_dir, engine) = engine();
        let run = engine.dry_run(&mapping(), &mut reader(), "people.csv", &options(), 1).unwrap();
        assert_eq!((run.rows_read, run.rows_valid), (6, 2));
        assert_eq!(run.sample.len(), 1);
        assert_eq!(run.sample[0].0, 2);
        assert_eq!(
            Value::Object(run.sample[0].1.clone()),
            json!({
                "b2b": {
                    "personKey": {"sourceType": "Salesforce", "sourceInstanceID": "org9", "sourceID": "p1", "sourceKey": "p1@org9.Salesforce"},
                    "personScore": 12
                },
                "workEmail": {"address": "ada@example.com"},
                "person": {"name": {"firstName": "ADA"}}
            })
        );
        let rejected: Vec<(u64, Option<&str>, RowErrorCode)> =
            run.rejected.iter().map(|e| (e.line, e.field.as_deref(), e.code)).collect();
        assert_eq!(
            rejected,
            vec![
                (3, Some("b2b.personScore"), RowErrorCode::BadNumber),
                (4, Some("id"), RowErrorCode::MissingId),
                (6, None, RowErrorCode::Unparsable),
                (7, Some("workEmail.address"), RowErrorCode::Invalid),
            ]
        );
        assert_eq!(run.unmapped_fields, ["Fax"]);
        assert_eq!(run.target_fields_not_covered, ["extSourceSystemAudit.externalKey.sourceKey"]);
        assert!(engine.store().batches().unwrap().is_empty(), "a dry run writes no batch");
        assert!(engine.store().fragment_counts().unwrap().iter().all(|(_, n)| *n == 0));
    }

    /// Records what an observer is told.
    #[derive(Default)]
    struct Recorded(std::sync::Mutex<Vec<(String, u64)>>);

    impl Observer for Recorded {
        fn start(&self, label: &str, total: u64) {
            self.0.lock().unwrap().push((label.to_owned(), total));
        }
        fn progress(&self, _: u64) {}
        fn finish(&self) {}
    }

    #[test]
    fn the_progress_of_a_load_is_told_the_size_of_its_input() {
        let (_dir, mut engine) = engine();
        let options = RowsOptions { compile: options(), input_bytes: 4321, ..RowsOptions::default() };
        let observer = Recorded::default();
        engine.ingest_rows("people", &mapping(), &mut reader(), "people.csv", &options, &observer).unwrap();
        assert_eq!(*observer.0.lock().unwrap(), [("people.csv".to_owned(), 4321)]);
    }

    #[test]
    fn ingest_rows_commits_one_batch_with_its_rejections() {
        let (_dir, mut engine) = engine();
        // 4 of 6 rows are bad: over the default 5 % the batch fails whole and keeps its rejected rows.
        let rows_options = |percent: &str| RowsOptions {
            compile: options(),
            error_threshold: percent.parse().unwrap(),
            ..RowsOptions::default()
        };
        let failed = engine
            .ingest_rows("people", &mapping(), &mut reader(), "people.csv", &rows_options("5"), &crate::Quiet)
            .unwrap();
        assert_eq!(
            (failed.state, failed.rows_read, failed.rows_ingested, failed.rows_rejected),
            (BatchState::Failed, 6, 0, 4)
        );
        assert_eq!(failed.rejected.len(), 4);
        assert!(engine.store().fragments(EntityKind::Person).unwrap().is_empty());
        let report = engine
            .ingest_rows("people", &mapping(), &mut reader(), "people.csv", &rows_options("100"), &crate::Quiet)
            .unwrap();
        assert_eq!((report.rows_read, report.rows_ingested, report.rows_rejected), (6, 2, 4));
        assert_eq!(report.profiles.written, 2, "the batch's profiles commit with it");
        assert_eq!(report.unmapped_columns, ["Fax"]);
        let batches = engine.store().batches().unwrap();
        let states: Vec<(&str, &str, &str)> =
            batches.iter().map(|b| (b.dataset.as_str(), b.source.as_str(), b.state.as_str())).collect();
        assert_eq!(states, [("people", "mapping:people", "failed"), ("people", "mapping:people", "success")]);
        let fragments = engine.store().fragments(EntityKind::Person).unwrap();
        assert_eq!(fragments.len(), 2);
    }

    #[test]
    fn mappings_are_checked_against_input_and_schema_before_reading() {
        let (_dir, mut engine) = engine();
        let mut bad = mapping();
        bad.mappings[4].destination = "workEmail.adress".into();
        let err = engine.dry_run(&bad, &mut reader(), "people.csv", &options(), 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mapping 5: the destination `workEmail.adress` is not a field of the B2B Person schema (did you mean `workEmail.address`?)"
        );
        let mut bad = mapping();
        bad.mappings[5].source = "upper(frist)".into();
        let rows_options = RowsOptions { compile: options(), ..RowsOptions::default() };
        let err =
            engine.ingest_rows("people", &bad, &mut reader(), "people.csv", &rows_options, &crate::Quiet).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mapping 6 (→ person.name.firstName) reads `frist`, which the input does not have (did you mean `first`?)"
        );
        assert!(engine.store().batches().unwrap().is_empty());
    }

    #[test]
    fn every_template_destination_is_a_field_of_its_schema() {
        let set = rapport_schema::b2b::generate_b2b();
        for system in [
            rapport_model::SourceSystem::Salesforce,
            rapport_model::SourceSystem::Dynamics,
            rapport_model::SourceSystem::Marketo,
        ] {
            for table in rapport_sources::tables(system) {
                let template = rapport_sources::templates::template(table);
                let schema = set.for_entity(table.entity).expect("a schema per entity");
                let columns: Vec<String> = table.columns().iter().map(|c| (*c).to_owned()).collect();
                let mut options = CompileOptions::default();
                options.placeholders.crm_org_id = Some("o".into());
                options.placeholders.munchkin_id = Some("m".into());
                let compiled = template.compile(&columns, &options).expect("the template compiles");
                check_destinations(schema, &compiled, &template).unwrap_or_else(|e| panic!("{table}: {e}"));
            }
        }
    }
}
