//! The shape every generic source produces before mapping: named fields with JSON values, and where each row
//! was read. CSV, JSON, NDJSON and Parquet files and PostgreSQL query results all become [`SourceRow`]s, read
//! through a [`RowReader`]; mapping sets turn them into XDM records.

use rapport_model::{RowError, RowFault};
use serde_json::{Map, Value};

/// One input row, before mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRow {
    /// Where the row starts: the 1-based line of a text file (CSV, JSON, NDJSON), or the 1-based record number
    /// of a Parquet file or query result.
    pub line: u64,
    /// The byte offset at which the row starts, when the input is a file read as bytes.
    pub offset: Option<u64>,
    /// Field values by source field name. CSV cells are strings (an empty cell is an empty string); JSON keeps
    /// its types, nested objects and arrays; Parquet and PostgreSQL values become their JSON equivalents.
    pub fields: Map<String, Value>,
    /// Values of the row that could not be read as written. A mapping that reads one rejects the row
    /// ([`crate::mapping_set::CompiledMapping::map_row`]); otherwise the row loads.
    pub faults: Vec<RowFault>,
}

/// A stream of [`SourceRow`]s from one input.
///
/// A row that cannot be read (bad quoting, invalid JSON, undecodable bytes) is an `Err(RowError)` naming its
/// location; the stream goes on with the next row. Problems that stop the whole input (cannot open or read
/// it, no header) are reported when the reader is opened or as [`crate::Error`] from [`RowReader::next_row`].
pub trait RowReader {
    /// The field names known so far, in input order: a CSV header, a Parquet schema, a query's columns, or the
    /// keys of the JSON rows read so far.
    fn columns(&self) -> Vec<String>;

    /// The next row; `Ok(None)` at the end of the input.
    fn next_row(&mut self) -> crate::Result<Option<Result<SourceRow, RowError>>>;

    /// Bytes consumed so far (for progress bars); 0 when the input is not a byte stream.
    fn bytes_read(&self) -> u64;
}
