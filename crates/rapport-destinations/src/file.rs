//! CSV file destination.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{Error, Result};

/// The rows to export.
#[derive(Debug, Clone, Default)]
pub struct ExportTable {
    /// Header names.
    pub columns: Vec<String>,
    /// One row per member, as many values as columns.
    pub rows: Vec<Vec<String>>,
}

/// CSV formatting options.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Field delimiter: one of `,` `;` `|` `:` or tab.
    pub delimiter: u8,
    /// Rows per file before a new file starts (documented default 5,000,000).
    pub rows_per_file: usize,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self { delimiter: b',', rows_per_file: 5_000_000 }
    }
}

/// A file written by an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WrittenFile {
    /// Its path.
    pub path: PathBuf,
    /// Data rows in it (header excluded).
    pub rows: usize,
}

fn sanitize(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

/// The documented default name: `<destinationName>_segment<audience>_<yyyymmddhhmmss>.csv`, then `_2`, `_3`, …
/// for the following parts of a split export.
pub fn file_name(destination: &str, audience: &str, at: DateTime<Utc>, part: usize) -> String {
    let base = format!("{}_segment{}_{}", sanitize(destination), sanitize(audience), at.format("%Y%m%d%H%M%S"));
    if part == 1 {
        format!("{base}.csv")
    } else {
        format!("{base}_{part}.csv")
    }
}

/// Writes `table` as one or more CSV files in `dir` (created if missing). Each file is written under a
/// temporary name and renamed into place once complete.
pub fn export_csv(
    dir: &Path,
    destination: &str,
    audience: &str,
    at: DateTime<Utc>,
    table: &ExportTable,
    options: &CsvOptions,
) -> Result<Vec<WrittenFile>> {
    if !matches!(options.delimiter, b',' | b';' | b'|' | b':' | b'\t') {
        return Err(Error::Options(format!("delimiter `{}` is not one of , ; | : or tab", options.delimiter as char)));
    }
    if options.rows_per_file == 0 {
        return Err(Error::Options("rows per file must be at least 1".to_owned()));
    }
    fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_owned(), source })?;
    let mut written = Vec::new();
    let chunks: Vec<&[Vec<String>]> =
        if table.rows.is_empty() { vec![&[]] } else { table.rows.chunks(options.rows_per_file).collect() };
    for (i, chunk) in chunks.into_iter().enumerate() {
        let path = dir.join(file_name(destination, audience, at, i + 1));
        let temp = dir.join(format!(".{}.tmp", file_name(destination, audience, at, i + 1)));
        let csv_err = |source| Error::Csv { path: temp.clone(), source };
        let mut writer = csv::WriterBuilder::new().delimiter(options.delimiter).from_path(&temp).map_err(csv_err)?;
        writer.write_record(&table.columns).map_err(csv_err)?;
        for row in chunk {
            writer.write_record(row).map_err(csv_err)?;
        }
        let file = writer.into_inner().map_err(|e| Error::Io { path: temp.clone(), source: e.into_error() })?;
        file.sync_all().map_err(|source| Error::Io { path: temp.clone(), source })?;
        drop(file);
        fs::rename(&temp, &path).map_err(|source| Error::Io { path: path.clone(), source })?;
        written.push(WrittenFile { path, rows: chunk.len() });
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn table(rows: usize) -> ExportTable {
        ExportTable {
            columns: vec!["id".into(), "name".into()],
            rows: (0..rows).map(|i| vec![format!("p{i}"), format!("Smith, \"J{i}\"")]).collect(),
        }
    }

    #[test]
    fn writes_named_split_files_with_quoting() {
        let dir = tempfile::tempdir().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 29, 6, 18, 4).unwrap();
        let options = CsvOptions { rows_per_file: 2, ..CsvOptions::default() };
        let files = export_csv(dir.path(), "File", "bodea sales", at, &table(5), &options).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(
            names,
            [
                "File_segmentbodea_sales_20261129061804.csv",
                "File_segmentbodea_sales_20261129061804_2.csv",
                "File_segmentbodea_sales_20261129061804_3.csv"
            ]
        );
        assert_eq!(files.iter().map(|f| f.rows).collect::<Vec<_>>(), [2, 2, 1]);
        let first = std::fs::read_to_string(&files[0].path).unwrap();
        assert_eq!(first, "id,name\np0,\"Smith, \"\"J0\"\"\"\np1,\"Smith, \"\"J1\"\"\"\n");
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"));
        assert_eq!(leftovers.count(), 0);
    }

    #[test]
    fn an_empty_audience_still_gets_a_header_only_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = export_csv(dir.path(), "File", "a", Utc::now(), &table(0), &CsvOptions::default()).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(std::fs::read_to_string(&files[0].path).unwrap(), "id,name\n");
    }

    #[test]
    fn refuses_an_unknown_delimiter() {
        let dir = tempfile::tempdir().unwrap();
        let options = CsvOptions { delimiter: b'x', ..CsvOptions::default() };
        let err = export_csv(dir.path(), "File", "a", Utc::now(), &table(1), &options).unwrap_err();
        assert!(err.to_string().contains("delimiter `x`"), "{err}");
    }
}
