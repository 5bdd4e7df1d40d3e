//! One output CSV file: a reusable row buffer, the buffered writer, and the deterministic
//! injection of malformed rows.
//!
//! The number of data rows of every file is known before writing starts, so the rows to spoil
//! are drawn up front (a sorted plan) and the writer only compares its row counter with the next
//! planned index.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::fs::File;
use std::path::{Path, PathBuf};

use fastrand::Rng;

use crate::ids::stream_seed;
use crate::population::uniform_index;
use crate::{Error, FileReport, InjectedError, InjectedErrorKind};

/// Stream tag for the per-file error plans.
const STREAM_ERRORS: u64 = 0x30;

/// A data row being assembled: all fields in one string, plus where each field ends.
/// Reused from row to row, so steady-state writing allocates nothing.
#[derive(Default)]
pub(crate) struct Row {
    buf: String,
    ends: Vec<usize>,
}

impl Row {
    /// Empties the row for reuse.
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    /// Appends a field with this text.
    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        self.buf.push_str(s);
        self.ends.push(self.buf.len());
        self
    }

    /// Appends an empty field.
    pub(crate) fn empty(&mut self) -> &mut Self {
        self.str("")
    }

    /// Appends a field printed with `Display`.
    pub(crate) fn num(&mut self, n: impl Display) -> &mut Self {
        self.with(|s| {
            let _ = std::fmt::Write::write_fmt(s, format_args!("{n}"));
        })
    }

    /// Appends a field written by `f`.
    pub(crate) fn with(&mut self, f: impl FnOnce(&mut String)) -> &mut Self {
        f(&mut self.buf);
        self.ends.push(self.buf.len());
        self
    }

    /// Appends `Some` text or an empty field.
    pub(crate) fn opt(&mut self, s: Option<&str>) -> &mut Self {
        self.str(s.unwrap_or(""))
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn fields(&self) -> impl Iterator<Item = &str> {
        self.ends.iter().scan(0, |start, &end| {
            let field = &self.buf[*start..end];
            *start = end;
            Some(field)
        })
    }
}

/// How a file quotes fields.
#[derive(Clone, Copy)]
pub(crate) enum Quoting {
    /// Salesforce Data Loader: every field, empty ones included.
    Always,
    /// Only fields that need it.
    Necessary,
}

/// Static description of one output file.
pub(crate) struct FileSpec {
    /// Path relative to the output directory.
    pub path: &'static str,
    pub header: &'static [&'static str],
    pub quoting: Quoting,
    /// Column holding the record id.
    pub id_col: usize,
    /// Column holding the modification datetime.
    pub modified_col: usize,
    /// Values that are not valid datetimes in this system's format.
    pub bad_dates: &'static [&'static str],
}

/// A planned malformed row.
struct Planned {
    row: u64,
    kind: InjectedErrorKind,
    /// Bad date to use, or number of fields to keep for a short row.
    variant: usize,
}

/// An open output file.
pub(crate) struct Sink {
    spec: &'static FileSpec,
    path: PathBuf,
    writer: csv::Writer<File>,
    plan: Vec<Planned>,
    next: usize,
    rows: u64,
    expected: u64,
    injected: Vec<InjectedError>,
}

impl Sink {
    /// Creates the file, writes its header and plans which of its `expected` rows to spoil.
    pub(crate) fn create(
        out: &Path,
        spec: &'static FileSpec,
        expected: u64,
        seed: u64,
        tag: u64,
    ) -> Result<Sink, Error> {
        let path = out.join(spec.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        }
        let file = File::create(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let writer = csv::WriterBuilder::new()
            .quote_style(match spec.quoting {
                Quoting::Always => csv::QuoteStyle::Always,
                Quoting::Necessary => csv::QuoteStyle::Necessary,
            })
            // Short rows are written on purpose.
            .flexible(true)
            .buffer_capacity(1 << 17)
            .from_writer(file);
        let mut sink = Sink {
            spec,
            path,
            writer,
            plan: plan(spec, expected, seed, tag),
            next: 0,
            rows: 0,
            expected,
            injected: Vec::new(),
        };
        sink.writer.write_record(spec.header).map_err(|e| sink.csv_error(e))?;
        Ok(sink)
    }

    /// Writes one data row, spoiling it if the plan says so.
    pub(crate) fn write(&mut self, row: &Row) -> Result<(), Error> {
        debug_assert_eq!(row.len(), self.spec.header.len(), "{}: row width", self.spec.path);
        debug_assert!(row.buf.bytes().all(|b| b != b'\n' && b != b'\r'), "embedded newline would shift line numbers");
        let index = self.rows;
        self.rows += 1;
        let planned = match self.plan.get(self.next) {
            Some(p) if p.row == index => p,
            _ => return self.writer.write_record(row.fields()).map_err(|e| self.csv_error(e)),
        };
        self.next += 1;
        let spec = self.spec;
        let (result, column) = match planned.kind {
            InjectedErrorKind::EmptyId => (
                self.writer.write_record(row.fields().enumerate().map(|(i, f)| if i == spec.id_col { "" } else { f })),
                Some(spec.header[spec.id_col]),
            ),
            InjectedErrorKind::BadDate => {
                let bad = spec.bad_dates[planned.variant];
                (
                    self.writer.write_record(row.fields().enumerate().map(|(i, f)| {
                        if i == spec.modified_col {
                            bad
                        } else {
                            f
                        }
                    })),
                    Some(spec.header[spec.modified_col]),
                )
            }
            InjectedErrorKind::ShortRow => (self.writer.write_record(row.fields().take(planned.variant)), None),
        };
        self.injected.push(InjectedError {
            file: PathBuf::from(spec.path),
            line: index + 2,
            column: column.map(str::to_owned),
            kind: planned.kind,
        });
        result.map_err(|e| self.csv_error(e))
    }

    /// Flushes the file and reports what was written.
    pub(crate) fn finish(mut self) -> Result<(FileReport, Vec<InjectedError>), Error> {
        self.writer.flush().map_err(|source| Error::Io { path: self.path.clone(), source })?;
        if self.rows != self.expected {
            return Err(Error::Internal(format!(
                "{}: planned {} rows but wrote {}",
                self.spec.path, self.expected, self.rows
            )));
        }
        Ok((FileReport { path: PathBuf::from(self.spec.path), rows: self.rows }, self.injected))
    }

    fn csv_error(&self, source: csv::Error) -> Error {
        Error::Csv { path: self.path.clone(), source }
    }
}

/// About 0.3% of the rows, at least one when the file has 200 rows or more.
fn error_count(rows: u64) -> u64 {
    let n = (rows * 3 + 500) / 1000;
    if rows >= 200 {
        n.max(1)
    } else {
        n
    }
}

fn plan(spec: &FileSpec, rows: u64, seed: u64, tag: u64) -> Vec<Planned> {
    let mut rng = Rng::with_seed(stream_seed(seed, STREAM_ERRORS, tag));
    let count = error_count(rows);
    let mut picked = BTreeSet::new();
    while (picked.len() as u64) < count {
        picked.insert(rng.u64(0..rows));
    }
    picked
        .into_iter()
        .map(|row| {
            let (kind, variant) = match rng.u32(0..3) {
                0 => (InjectedErrorKind::EmptyId, 0),
                1 => (InjectedErrorKind::BadDate, uniform_index(&mut rng, 0..spec.bad_dates.len())),
                _ => (InjectedErrorKind::ShortRow, uniform_index(&mut rng, 2..spec.header.len() - 1)),
            };
            Planned { row, kind, variant }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_count_is_about_three_per_mille() {
        assert_eq!(error_count(0), 0);
        assert_eq!(error_count(199), 1);
        assert_eq!(error_count(150), 0);
        assert_eq!(error_count(200), 1);
        assert_eq!(error_count(10_000), 30);
    }

    #[test]
    fn row_fields_round_trip() {
        let mut row = Row::default();
        row.str("a").empty().num(42).with(|s| s.push_str("x,y"));
        assert_eq!(row.fields().collect::<Vec<_>>(), ["a", "", "42", "x,y"]);
        row.clear();
        assert_eq!(row.fields().count(), 0);
    }
}
