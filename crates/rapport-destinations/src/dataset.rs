//! Dataset export files: a dataset's records as JSON lines or Parquet, in the documented layout
//! `<folder>/<datasetId>/exportTime=YYYYMMDDHHMM/` with generated file names (`part-00000-<id>-c000.parquet`,
//! `….json`; gzip gives `….json.gz` and `….gz.parquet`).
//!
//! **JSON** files hold one record per line, as stored (nested XDM). **Parquet** files hold one optional UTF-8
//! column per exported field path (the caller flattens the records: scalar fields as text, arrays and maps as
//! their JSON text).
//!
//! **Atomicity.** The files of one export are written in a hidden temporary folder next to the export folder,
//! synced, and the folder is renamed to `exportTime=…` at once, so a reader sees all of the export or none of
//! it. When that folder already exists (a second export in the same minute), each file is renamed into it, one
//! complete file at a time.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::file::{write_parquet, write_text, Compression, WrittenFile};
use crate::{Error, Result};

/// The format of dataset export files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DatasetFormat {
    /// Parquet, one optional UTF-8 column per field path.
    #[default]
    Parquet,
    /// JSON lines: each record as stored.
    Json,
}

/// The rows of one dataset export.
#[derive(Debug, Clone, Copy)]
pub enum DatasetRows<'a> {
    /// Records as JSON text, one per line (for [`DatasetFormat::Json`]).
    Json(&'a [String]),
    /// Flattened rows: as many values as columns (for [`DatasetFormat::Parquet`]).
    Table {
        /// The column names (field paths).
        columns: &'a [String],
        /// The rows.
        rows: &'a [Vec<Option<String>>],
    },
}

impl DatasetRows<'_> {
    fn len(&self) -> usize {
        match self {
            DatasetRows::Json(lines) => lines.len(),
            DatasetRows::Table { rows, .. } => rows.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The folder of one export: `<folder>/<dataset_id>/exportTime=YYYYMMDDHHMM`.
pub fn export_folder(folder: &Path, dataset_id: i64, at: DateTime<Utc>) -> PathBuf {
    folder.join(dataset_id.to_string()).join(format!("exportTime={}", at.format("%Y%m%d%H%M")))
}

/// Writes one export of a dataset's records (split every `rows_per_file` rows) into
/// [`export_folder`]`(folder, dataset_id, at)`, atomically (see the module docs). An export of no records
/// writes nothing and returns no files.
pub fn write_dataset_export(
    folder: &Path,
    dataset_id: i64,
    at: DateTime<Utc>,
    compression: Compression,
    rows_per_file: usize,
    rows: DatasetRows<'_>,
) -> Result<Vec<WrittenFile>> {
    if rows_per_file == 0 {
        return Err(Error::Options("`rows_per_file` must be at least 1".to_owned()));
    }
    if let DatasetRows::Table { columns, rows } = rows {
        if let Some(row) = rows.iter().find(|r| r.len() != columns.len()) {
            return Err(Error::Options(format!("a row has {} values for {} columns", row.len(), columns.len())));
        }
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let target = export_folder(folder, dataset_id, at);
    let parent = target.parent().expect("the export folder has a parent").to_owned();
    fs::create_dir_all(&parent).map_err(|source| Error::Io { path: parent.clone(), source })?;
    let token = format!("{:016x}", fastrand::u64(..));
    let temp = parent.join(format!(".export-{token}.tmp"));
    fs::create_dir(&temp).map_err(|source| Error::Io { path: temp.clone(), source })?;
    let result = write_parts(&temp, &token, compression, rows_per_file, rows);
    let names = match result {
        Ok(names) => names,
        Err(err) => {
            let _ = fs::remove_dir_all(&temp);
            return Err(err);
        }
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    if fs::rename(&temp, &target).is_err() {
        // The folder exists already (or appeared meanwhile): move the complete files into it one by one.
        fs::create_dir_all(&target).map_err(io(&target))?;
        for (name, _) in &names {
            fs::rename(temp.join(name), target.join(name)).map_err(io(&target.join(name)))?;
        }
        fs::remove_dir(&temp).map_err(io(&temp))?;
    }
    Ok(names.into_iter().map(|(name, rows)| WrittenFile { path: target.join(name), rows }).collect())
}

/// Writes the part files into `dir`; returns their names and row counts.
fn write_parts(
    dir: &Path,
    token: &str,
    compression: Compression,
    rows_per_file: usize,
    rows: DatasetRows<'_>,
) -> Result<Vec<(String, usize)>> {
    let mut names = Vec::new();
    match rows {
        DatasetRows::Json(lines) => {
            let extension = match compression {
                Compression::None => "json",
                Compression::Gzip => "json.gz",
            };
            for (i, chunk) in lines.chunks(rows_per_file).enumerate() {
                let name = format!("part-{i:05}-{token}-c000.{extension}");
                write_text(&dir.join(&name), compression, |out| {
                    for line in chunk {
                        out.write_all(line.as_bytes())?;
                        out.write_all(b"\n")?;
                    }
                    Ok(())
                })?;
                names.push((name, chunk.len()));
            }
        }
        DatasetRows::Table { columns, rows } => {
            let extension = match compression {
                Compression::None => "parquet",
                Compression::Gzip => "gz.parquet",
            };
            for (i, chunk) in rows.chunks(rows_per_file).enumerate() {
                let name = format!("part-{i:05}-{token}-c000.{extension}");
                write_parquet(&dir.join(&name), compression, columns, chunk, 0..chunk.len())?;
                names.push((name, chunk.len()));
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 6, 18, 4).unwrap()
    }

    #[test]
    fn exports_land_whole_in_the_documented_folder() {
        let dir = tempfile::tempdir().unwrap();
        let lines: Vec<String> = (0..5).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
        let files = write_dataset_export(dir.path(), 7, at(), Compression::None, 2, DatasetRows::Json(&lines)).unwrap();
        let folder = dir.path().join("7").join("exportTime=202611290618");
        assert_eq!(files.iter().map(|f| f.rows).collect::<Vec<_>>(), [2, 2, 1]);
        let mut text = String::new();
        for f in &files {
            assert_eq!(f.path.parent().unwrap(), folder);
            let name = f.path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.starts_with("part-0000") && name.ends_with("-c000.json"), "{name}");
            text.push_str(&fs::read_to_string(&f.path).unwrap());
        }
        assert_eq!(text, "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n");
        // A second export in the same minute joins the folder; no temporary folder is left behind.
        let more = vec![r#"{"n":5}"#.to_owned()];
        let second =
            write_dataset_export(dir.path(), 7, at(), Compression::Gzip, 10, DatasetRows::Json(&more)).unwrap();
        assert!(second[0].path.to_string_lossy().ends_with("-c000.json.gz"));
        assert_eq!(fs::read_dir(&folder).unwrap().count(), 4);
        let hidden: Vec<_> = fs::read_dir(dir.path().join("7"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(hidden, ["exportTime=202611290618"]);
        // Nothing to export: nothing written.
        assert!(write_dataset_export(dir.path(), 8, at(), Compression::None, 10, DatasetRows::Json(&[]))
            .unwrap()
            .is_empty());
        assert!(!dir.path().join("8").exists());
    }
}
