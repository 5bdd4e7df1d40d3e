//! CRM source connectors: read Salesforce, Microsoft Dynamics and Marketo export files (CSV) and map each row
//! to an XDM record following the documented mapping templates (`shared/reference/B2B-DOMAIN.md`, section c).
//!
//! Layout:
//! - [`salesforce`], [`dynamics`], [`marketo`]: one mapping table per export table, written as data, with the
//!   few calculated fields a system needs.
//! - `mapping`: the rule set the tables are written in (key quadruple, guarded reference, typed copy, constant,
//!   calculated field) and the plan that binds a table to a file's header and maps rows.
//! - `formats`: how each system writes dates, date-times, booleans and numbers.
//! - `csv_reader`: strict CSV reading with per-row errors.
//! - [`prep`]: the Data Prep expression language (lexer, parser, evaluator, Java date patterns).
//! - [`mapping_set`]: user-editable mapping files (source field or expression → XDM path), compiled against an
//!   input's columns and applied to [`SourceRow`]s.
//! - [`templates`]: the built-in tables rendered as mapping sets; [`automap`]: mapping proposals for other inputs.
//! - [`readers`]: generic CSV, JSON, NDJSON and Parquet files as [`SourceRow`]s, through a [`RowReader`].
//!
//! The flow is [`recognise`] (which table is this file?) → [`read_file`] → [`FileBatch`]: mapped records,
//! rejected rows (file, line, column, code, message) and the columns the mapping does not read. Rejecting a row
//! never stops the file; only whole-file problems (cannot open, no header, no id column) are an [`Error`].
//!
//! This crate depends only on `rapport-model`. It never touches storage: validation against the schemas,
//! identity resolution and persistence happen in the crates that call it. It does not normalize values either
//! (emails are copied as given; the identity layer normalizes them).

use std::fmt;
use std::path::Path;

use rapport_model::{EntityKind, MappedRecord, RowError, RowErrorCode, SourceSystem};
use tracing::{debug, instrument};

pub mod automap;
mod csv_reader;
pub mod dynamics;
mod formats;
mod mapping;
pub mod mapping_set;
pub mod marketo;
pub mod prep;
pub mod readers;
mod row;
pub mod salesforce;
pub mod templates;

pub use row::{RowReader, SourceRow};

use mapping::Rule;

/// Errors that stop a whole file. Row-level problems are [`RowError`]s in the [`FileBatch`] instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened.
    #[error("cannot open {file}: {source}")]
    Open {
        /// The file's display name.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Reading failed part-way through the file.
    #[error("cannot read {file}: {source}")]
    Read {
        /// The file's display name.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A quoted field opens and never closes: the CSV parser read the rest of the file as its value.
    #[error(
        "{file}:{line}{}: a quoted field opens here and is never closed, so the rest of the file would be read as \
         one value; nothing is loaded (close the quote, or double it as \"\" if it is text)",
        offset.map(|o| format!(" (byte {o})")).unwrap_or_default()
    )]
    UnclosedQuote {
        /// The file's display name.
        file: String,
        /// The line of the opening quote.
        line: u64,
        /// The file offset of the opening quote, when known.
        offset: Option<u64>,
    },
    /// The file is empty: there is no header row.
    #[error("{file} has no header row (the file is empty)")]
    NoHeader {
        /// The file's display name.
        file: String,
    },
    /// The header row cannot be read.
    #[error("the header row of {file} cannot be read: {reason}")]
    BadHeader {
        /// The file's display name.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A column the mapping requires (the record id) is not in the header.
    #[error("{file} has no `{column}` column, which the {system} {table} mapping requires")]
    MissingColumn {
        /// The file's display name.
        file: String,
        /// The source system.
        system: SourceSystem,
        /// The table name.
        table: &'static str,
        /// The missing column.
        column: &'static str,
    },
    /// The reading options are invalid (a CSV delimiter equal to the quote, ...).
    #[error("cannot read {file}: {reason}")]
    BadOptions {
        /// The file's display name.
        file: String,
        /// What is wrong with the options.
        reason: String,
    },
    /// The file is not in the format it is read as, so none of it is loaded: not Parquet, a Parquet page that
    /// cannot be decoded, a JSON file holding neither an array nor an object, a JSON array whose structure is
    /// broken (a missing `,`, an empty element or a trailing `,`, a `}` where an element should start, text after
    /// the closing `]`, the file ending before the array does), a JSON file holding one object that the file ends
    /// inside of or that text follows, or a CSV file without header whose first row the parser refuses. Rows read
    /// before the fault came first, as they are; a load fails the batch whole.
    #[error("cannot read {file}: {reason}")]
    BadFile {
        /// The file's display name.
        file: String,
        /// The file offset where the fault is, when it has one place; `reason` names it too, as
        /// `line L column C (byte O): ...`.
        offset: Option<u64>,
        /// What is wrong, and where.
        reason: String,
    },
    /// No instance id was given, so no source key can be built.
    #[error("cannot read {file}: the {system} instance id is empty (source keys need the org or munchkin id)")]
    NoInstance {
        /// The file's display name.
        file: String,
        /// The source system.
        system: SourceSystem,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One export table of a source system and the XDM entity it maps to.
#[derive(Clone, Copy)]
pub struct SourceTable {
    /// The system the table comes from.
    pub system: SourceSystem,
    /// The table's name in that system (`Contact`, `contacts`, `leads`, ...).
    pub name: &'static str,
    /// The XDM entity each row becomes.
    pub entity: EntityKind,
    file_stems: &'static [&'static str],
    id_column: &'static str,
    rules: &'static [Rule],
}

impl SourceTable {
    pub(crate) const fn new(
        system: SourceSystem,
        name: &'static str,
        entity: EntityKind,
        file_stems: &'static [&'static str],
        id_column: &'static str,
        rules: &'static [Rule],
    ) -> Self {
        Self { system, name, entity, file_stems, id_column, rules }
    }

    /// The file names (without `.csv`, lower case) recognised as this table.
    pub fn file_stems(&self) -> &'static [&'static str] {
        self.file_stems
    }

    /// The column holding the record id; it must be in the header and non-empty on every row.
    pub fn id_column(&self) -> &'static str {
        self.id_column
    }

    /// The source columns the mapping reads, in mapping order, without repeats.
    pub fn columns(&self) -> Vec<&'static str> {
        let mut columns: Vec<&'static str> = Vec::new();
        for column in self.rules.iter().filter_map(Rule::column) {
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
        columns
    }

    /// The XDM paths the mapping can write, in mapping order, without repeats (`personComponents.*` paths
    /// name fields of the array's single element).
    pub fn targets(&self) -> Vec<&'static str> {
        let mut targets: Vec<&'static str> = Vec::new();
        for target in self.rules.iter().flat_map(|rule| rule.targets().iter().copied()) {
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        targets
    }
}

impl fmt::Debug for SourceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceTable")
            .field("system", &self.system)
            .field("name", &self.name)
            .field("entity", &self.entity)
            .finish_non_exhaustive()
    }
}

// Tables are identified by system and name; the rules are static data of that table.
impl PartialEq for SourceTable {
    fn eq(&self, other: &Self) -> bool {
        self.system == other.system && self.name == other.name
    }
}

impl Eq for SourceTable {}

impl fmt::Display for SourceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.system.source_type(), self.name)
    }
}

/// The known tables of a system.
pub fn tables(system: SourceSystem) -> &'static [SourceTable] {
    match system {
        SourceSystem::Salesforce => &salesforce::TABLES,
        SourceSystem::Dynamics => &dynamics::TABLES,
        SourceSystem::Marketo => &marketo::TABLES,
    }
}

/// Which table of `system` a file holds, by its name: `Account.csv`, `contact.CSV`, ... (case-insensitive;
/// the extension must be `.csv`). See each system's module for the names.
pub fn recognise(system: SourceSystem, path: &Path) -> Option<SourceTable> {
    if !is_csv(path) {
        return None;
    }
    let stem = path.file_stem()?.to_str()?.to_lowercase();
    tables(system).iter().find(|table| table.file_stems.contains(&stem.as_str())).copied()
}

/// The export table of `system` a CSV file named on its own is: by its name ([`recognise`]), else by its
/// header, for a file that may be called anything (a Data Loader `extract.csv`), when the table the header
/// tells ([`automap::table_by_header`]) is one of `system`'s. `Ok(None)` when neither tells; an error when the
/// header cannot be read (naming the file and why).
pub fn recognise_file(system: SourceSystem, path: &Path) -> Result<Option<SourceTable>> {
    if let Some(table) = recognise(system, path) {
        return Ok(Some(table));
    }
    let csv = csv_reader::CsvFile::open(path, &path.display().to_string())?;
    Ok(automap::table_by_header(csv.headers()).filter(|table| table.system == system))
}

/// The export table of `system` a file found in a folder (or by a flow's glob) is: like [`recognise_file`], for
/// `.csv` files only, and a file whose header cannot be read is not one (it is skipped, not an error: a folder
/// may hold other files).
pub fn recognise_listed(system: SourceSystem, path: &Path) -> Option<SourceTable> {
    if !is_csv(path) {
        return None;
    }
    recognise_file(system, path).ok().flatten()
}

/// Whether `path` ends in `.csv`, in any case.
fn is_csv(path: &Path) -> bool {
    path.extension().and_then(|extension| extension.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// How to read a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// The instance the file was exported from: the CRM org id (Salesforce, Dynamics) or the Marketo munchkin
    /// id. It is part of every source key (`{id}@{instance}.{System}`).
    pub instance_id: String,
}

/// What reading one file produced.
#[derive(Debug, Clone, PartialEq)]
pub struct FileBatch {
    /// The table the file was read as.
    pub table: SourceTable,
    /// The file's display name.
    pub file: String,
    /// Data rows read (mapped plus rejected; the header is not counted).
    pub rows_read: u64,
    /// The mapped records, in file order.
    pub records: Vec<MappedRecord>,
    /// The rejected rows, in file order: one error per row.
    pub rejected: Vec<RowError>,
    /// Header columns the mapping does not read, in header order. They are not loaded; the caller reports them.
    pub unmapped_columns: Vec<String>,
}

/// How often progress is reported while reading.
const PROGRESS_EVERY_BYTES: u64 = 256 * 1024;

/// Reads `path` as `table`, mapping every row to an XDM record.
///
/// `display_name` names the file in errors and rejected rows. `progress` is called with the number of bytes
/// read so far, at least every 256 KiB and once at the end.
///
/// Rows that cannot be read or mapped are rejected (see [`FileBatch::rejected`]) and the rest of the file
/// still loads. The whole file fails only when it cannot be opened or read, has no header, or its header lacks
/// the table's id column.
pub fn read_file(
    table: &SourceTable,
    path: &Path,
    display_name: &str,
    options: &ReadOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<FileBatch> {
    let mut records = Vec::new();
    let mut batch = read_file_each(table, path, display_name, options, progress, &mut |record| records.push(record))?;
    batch.records = records;
    Ok(batch)
}

/// Like [`read_file`], but hands each mapped record to `each` as soon as it is mapped (the returned batch's
/// `records` stay empty): the caller can validate and keep a record while it is still hot in cache, and the
/// whole file is never held twice.
#[instrument(level = "debug", skip_all, fields(system = %table.system, table = table.name, file = display_name))]
pub fn read_file_each(
    table: &SourceTable,
    path: &Path,
    display_name: &str,
    options: &ReadOptions,
    progress: &mut dyn FnMut(u64),
    each: &mut dyn FnMut(MappedRecord),
) -> Result<FileBatch> {
    let instance = options.instance_id.trim();
    if instance.is_empty() {
        return Err(Error::NoInstance { file: display_name.to_owned(), system: table.system });
    }
    let mut csv = csv_reader::CsvFile::open(path, display_name)?;
    let plan = mapping::Plan::new(table.system, table.id_column, table.rules, csv.headers()).map_err(|column| {
        Error::MissingColumn { file: display_name.to_owned(), system: table.system, table: table.name, column }
    })?;

    let mut batch = FileBatch {
        table: *table,
        file: display_name.to_owned(),
        rows_read: 0,
        records: Vec::new(),
        rejected: Vec::new(),
        unmapped_columns: plan.unmapped().to_vec(),
    };
    let reject = |line, offset, field: Option<&String>, code, message| RowError {
        file: display_name.to_owned(),
        line,
        offset,
        field: field.cloned(),
        code,
        message,
    };

    let mut record = csv::StringRecord::new();
    let mut reported = 0;
    let mut mapped_rows = 0u64;
    while let Some(row) = csv.next_row(&mut record)? {
        batch.rows_read += 1;
        match row {
            csv_reader::Row::Unparsable { line, offset, message } => {
                batch.rejected.push(reject(line, offset, None, RowErrorCode::Unparsable, message));
            }
            csv_reader::Row::Read { line, offset } => match plan.map_row(instance, |index| record.get(index)) {
                Ok(mapped) => {
                    mapped_rows += 1;
                    each(MappedRecord { line, offset, record: mapped });
                }
                Err(fault) => {
                    let column = csv.headers().get(fault.index);
                    batch.rejected.push(reject(line, offset, column, fault.fault.code, fault.fault.message));
                }
            },
        }
        let bytes = csv.bytes_read();
        if bytes - reported >= PROGRESS_EVERY_BYTES {
            progress(bytes);
            reported = bytes;
        }
    }
    progress(csv.bytes_read());

    debug!(
        rows = batch.rows_read,
        mapped = mapped_rows,
        rejected = batch.rejected.len(),
        unmapped_columns = batch.unmapped_columns.len(),
        "file read"
    );
    Ok(batch)
}
