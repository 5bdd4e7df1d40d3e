//! Dataset export: any dataset's records as Parquet or JSON lines files, incremental by batch, in
//! `<folder>/<datasetId>/exportTime=YYYYMMDDHHMM/` (`rapport dataset export NAME --to DIR`).
//!
//! Each export writes the records of the dataset's successful batches that the folder has not received yet
//! (the first export writes them all) and then records those batches for the folder, so the next export
//! writes only newer ones. A record that a later batch replaced is written again with that batch (readers
//! keep the last version of each primary identity). Deleted records are not exported as deletions.
//!
//! JSON files hold the records as stored; Parquet files flatten them into one UTF-8 column per field path of
//! the dataset's schema: scalar fields as text (numbers and booleans as their JSON text), arrays and maps
//! (`identityMap`, `personComponents`) as their JSON text, objects through their fields.
//!
//! The files are complete before they are visible (see [`rapport_destinations::dataset`]); the batches are
//! recorded after that, so a crash in between writes the same batches again at the next export.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use rapport_destinations::dataset::{write_dataset_export, DatasetFormat, DatasetRows};
use rapport_destinations::file::{Compression, WrittenFile, DEFAULT_ROWS_PER_FILE};
use rapport_model::FieldPath;
use serde::Serialize;
use tracing::info;

use crate::{Engine, Error, Result};

/// Options of a dataset export.
#[derive(Debug, Clone, Copy)]
pub struct DatasetExportOptions {
    /// JSON lines or Parquet.
    pub format: DatasetFormat,
    /// gzip or none.
    pub compression: Compression,
    /// The export time in the folder name (now when `None`).
    pub at: Option<DateTime<Utc>>,
    /// Split files at this many records.
    pub rows_per_file: usize,
}

impl Default for DatasetExportOptions {
    fn default() -> Self {
        Self {
            format: DatasetFormat::Parquet,
            compression: Compression::None,
            at: None,
            rows_per_file: DEFAULT_ROWS_PER_FILE,
        }
    }
}

/// What one dataset export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetExportReport {
    /// The dataset name.
    pub dataset: String,
    /// Its id (the folder under the target).
    pub dataset_id: i64,
    /// The batches exported now.
    pub batches: Vec<i64>,
    /// Records written.
    pub records: u64,
    /// The files written (none when there was nothing new).
    pub files: Vec<WrittenFile>,
}

/// The columns of a flattened record: every field path with no array or map above it that is scalar, an array
/// or a map, in path order.
fn columns(schema: &rapport_schema::Schema) -> Vec<FieldPath> {
    use rapport_schema::FieldType;
    let containers: BTreeSet<&FieldPath> =
        schema.fields().filter(|f| matches!(f.ty, FieldType::Array(_) | FieldType::Map)).map(|f| &f.path).collect();
    let mut out: Vec<FieldPath> = schema
        .fields()
        .filter(|f| !matches!(f.ty, FieldType::Object))
        .filter(|f| {
            let segments = f.path.segments();
            !(1..segments.len()).any(|k| containers.contains(&FieldPath::from_segments(segments[..k].iter().cloned())))
        })
        .map(|f| f.path.clone())
        .collect();
    out.sort_by_key(ToString::to_string);
    out
}

fn text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Engine {
    /// Exports the batches of `dataset` that `folder` has not received yet (see the module docs).
    pub fn export_dataset(
        &mut self,
        dataset: &str,
        folder: &Path,
        options: &DatasetExportOptions,
    ) -> Result<DatasetExportReport> {
        let record = self
            .store
            .datasets()?
            .into_iter()
            .find(|d| d.name == dataset)
            .ok_or_else(|| Error::NotFound(format!("no dataset `{dataset}` (see `rapport dataset list`)")))?;
        let target = folder
            .to_str()
            .ok_or_else(|| Error::Flow(format!("export folder {} is not UTF-8", folder.display())))?
            .to_owned();
        let batches = self.store.dataset_batches_to_export(dataset, &target)?;
        let at = options.at.unwrap_or_else(Utc::now);
        let mut lines: Vec<String> = Vec::new();
        for batch in &batches {
            self.store.for_each_batch_record(dataset, *batch, |text| -> Result<()> {
                lines.push(text.to_owned());
                Ok(())
            })?;
        }
        let records = lines.len() as u64;
        let files = match options.format {
            DatasetFormat::Json => write_dataset_export(
                folder,
                record.id,
                at,
                options.compression,
                options.rows_per_file,
                DatasetRows::Json(&lines),
            )?,
            DatasetFormat::Parquet => {
                let schema = self.schemas.by_name(&record.schema).ok_or_else(|| {
                    Error::Internal(format!("dataset `{dataset}`: schema `{}` is not loaded", record.schema))
                })?;
                let paths = columns(schema);
                let names: Vec<String> = paths.iter().map(ToString::to_string).collect();
                let mut rows = Vec::with_capacity(lines.len());
                for line in lines.drain(..) {
                    let value: rapport_model::Record = serde_json::from_str(&line)
                        .map_err(|e| Error::Internal(format!("dataset `{dataset}`: stored record: {e}")))?;
                    rows.push(paths.iter().map(|p| p.get(&value).and_then(text)).collect::<Vec<_>>());
                }
                write_dataset_export(
                    folder,
                    record.id,
                    at,
                    options.compression,
                    options.rows_per_file,
                    DatasetRows::Table { columns: &names, rows: &rows },
                )?
            }
        };
        // The files are in place: record the batches (a crash before this line exports them again).
        self.store.record_dataset_export(dataset, &target, &batches)?;
        info!(dataset, batches = batches.len(), records, files = files.len(), "dataset exported");
        Ok(DatasetExportReport { dataset: dataset.to_owned(), dataset_id: record.id, batches, records, files })
    }
}
