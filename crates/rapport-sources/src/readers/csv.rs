//! Delimited text files.
//!
//! The byte stream goes through [`Decoder`] (byte-order mark, UTF-16 and single-byte encodings to UTF-8)
//! into the `csv` crate, which splits records; each field is then checked as UTF-8 here, so a row with
//! undecodable bytes is rejected on its own and names its column. Rows whose field count differs from the
//! header's are rejected too. Line numbers are the physical lines where records start (a quoted newline
//! counts), offsets are file byte offsets (a byte-order mark counts).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use csv::{ByteRecord, ErrorKind};
use rapport_model::RowError;
use serde_json::{Map, Value};

use super::decode::{CsvSyntax, Decoder, Decoding};
use super::{row_error, CsvOptions, Encoding};
use crate::{Error, RowReader, SourceRow};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const UTF16LE_BOM: &[u8] = b"\xFF\xFE";
const UTF16BE_BOM: &[u8] = b"\xFE\xFF";

/// Input buffer size: large reads keep decoding cheap.
const BUFFER: usize = 64 * 1024;

/// An open CSV file with its columns known.
pub(crate) struct CsvReader {
    reader: csv::Reader<Decoder<BufReader<File>>>,
    file: String,
    decoding: Decoding,
    columns: Vec<String>,
    record: ByteRecord,
    /// The first row of a file without header, read at open time to count its columns.
    first_row: Option<ByteRecord>,
    /// What sets the field count: "the header" or "the first row".
    count_from: &'static str,
}

impl CsvReader {
    /// Opens `path`, detects its encoding and reads its header (or, without a header, its first row).
    pub(crate) fn open(path: &Path, file: &str, options: &CsvOptions) -> crate::Result<Self> {
        options.check().map_err(|reason| Error::BadOptions { file: file.to_owned(), reason })?;
        let handle = File::open(path).map_err(|source| Error::Open { file: file.to_owned(), source })?;
        let mut buffered = BufReader::with_capacity(BUFFER, handle);
        let start = buffered.fill_buf().map_err(|source| Error::Read { file: file.to_owned(), source })?;
        let (decoding, bom) = match options.encoding {
            Encoding::Auto if start.starts_with(UTF8_BOM) => (Decoding::Utf8, UTF8_BOM.len()),
            Encoding::Auto if start.starts_with(UTF16LE_BOM) => (Decoding::Utf16Le, UTF16LE_BOM.len()),
            Encoding::Auto if start.starts_with(UTF16BE_BOM) => (Decoding::Utf16Be, UTF16BE_BOM.len()),
            Encoding::Auto => (Decoding::Utf8, 0),
            Encoding::Utf8 => (Decoding::Utf8, if start.starts_with(UTF8_BOM) { UTF8_BOM.len() } else { 0 }),
            Encoding::Utf16Le => (Decoding::Utf16Le, if start.starts_with(UTF16LE_BOM) { 2 } else { 0 }),
            Encoding::Utf16Be => (Decoding::Utf16Be, if start.starts_with(UTF16BE_BOM) { 2 } else { 0 }),
            Encoding::Latin1 => (Decoding::Latin1, 0),
            Encoding::Windows1252 => (Decoding::Windows1252, 0),
        };
        buffered.consume(bom);
        let syntax = CsvSyntax { delimiter: options.delimiter, quote: options.quote, escape: options.escape };
        let decoder = Decoder::new(buffered, decoding, bom as u64).with_csv(syntax);
        let reader = csv::ReaderBuilder::new()
            .delimiter(options.delimiter)
            .quote(options.quote)
            .escape(options.escape)
            .has_headers(options.has_header)
            .flexible(false)
            .buffer_capacity(BUFFER)
            .from_reader(decoder);
        let mut this = Self {
            reader,
            file: file.to_owned(),
            decoding,
            columns: Vec::new(),
            record: ByteRecord::new(),
            first_row: None,
            count_from: if options.has_header { "the header" } else { "the first row" },
        };
        this.columns = if options.has_header { this.header()? } else { this.first_row_columns()? };
        Ok(this)
    }

    fn header(&mut self) -> crate::Result<Vec<String>> {
        let header = match self.reader.byte_headers() {
            Ok(header) => header.clone(),
            Err(err) => {
                let at = self.locate(err.position());
                return Err(match err.into_kind() {
                    ErrorKind::Io(source) => Error::Read { file: self.file.clone(), source },
                    other => Error::BadHeader {
                        file: self.file.clone(),
                        reason: format!("{}: {}", place(at), describe(&other, self.count_from)),
                    },
                });
            }
        };
        let file = &self.file;
        if header.iter().all(|name| name.iter().all(u8::is_ascii_whitespace)) {
            return Err(Error::NoHeader { file: file.clone() });
        }
        let mut columns = Vec::with_capacity(header.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, name) in header.iter().enumerate() {
            let Ok(name) = std::str::from_utf8(name) else {
                return Err(Error::BadHeader {
                    file: file.clone(),
                    reason: format!("column {} is not valid {}", index + 1, self.encoding_name()),
                });
            };
            // An unnamed column (a trailing delimiter in the header) is named by its position.
            let name = if name.trim().is_empty() { format!("column_{}", index + 1) } else { name.to_owned() };
            if let Some(previous) = seen.insert(name.clone(), index) {
                return Err(Error::BadHeader {
                    file: file.clone(),
                    reason: format!("column `{name}` appears twice (columns {} and {})", previous + 1, index + 1),
                });
            }
            columns.push(name);
        }
        Ok(columns)
    }

    fn first_row_columns(&mut self) -> crate::Result<Vec<String>> {
        let mut first = ByteRecord::new();
        match self.reader.read_byte_record(&mut first) {
            Ok(true) => {
                let columns = (1..=first.len()).map(|n| format!("column_{n}")).collect();
                self.first_row = Some(first);
                Ok(columns)
            }
            Ok(false) => Ok(Vec::new()),
            Err(err) => {
                let at = self.locate(err.position());
                Err(match err.into_kind() {
                    ErrorKind::Io(source) => Error::Read { file: self.file.clone(), source },
                    other => first_row_refused(&self.file, &other, self.count_from, at),
                })
            }
        }
    }

    fn encoding_name(&self) -> &'static str {
        match self.decoding {
            Decoding::Utf8 => "UTF-8",
            Decoding::Utf16Le => "UTF-16LE",
            Decoding::Utf16Be => "UTF-16BE",
            // Every byte decodes in these; only a stray byte of a mislabelled file could fail, and cannot.
            Decoding::Latin1 => "ISO-8859-1",
            Decoding::Windows1252 => "Windows-1252",
        }
    }

    /// The physical line and file offset of a record the parser placed at `position`.
    fn locate(&mut self, position: Option<&csv::Position>) -> (u64, Option<u64>) {
        let Some(position) = position else { return (self.reader.position().line(), None) };
        match self.reader.get_mut().locate(position.byte()) {
            Some((line, offset)) => (line, Some(offset)),
            None => (position.line(), None),
        }
    }

    /// Turns the record in `self.record` into a row.
    fn row(&mut self, record: &ByteRecord) -> Result<SourceRow, RowError> {
        let (line, offset) = self.locate(record.position());
        let mut fields = Map::new();
        for (index, (name, value)) in self.columns.iter().zip(record.iter()).enumerate() {
            match std::str::from_utf8(value) {
                Ok(text) => {
                    fields.insert(name.clone(), Value::String(text.to_owned()));
                }
                Err(err) => {
                    let message = match self.decoding {
                        Decoding::Utf8 => format!(
                            "column {} is not valid UTF-8 (invalid byte at position {} of the value)",
                            index + 1,
                            err.valid_up_to() + 1
                        ),
                        _ => format!("column {} cannot be decoded as {}", index + 1, self.encoding_name()),
                    };
                    return Err(row_error(&self.file, line, offset, Some(name.clone()), message));
                }
            }
        }
        Ok(SourceRow { line, offset, fields, faults: Vec::new() })
    }
}

impl RowReader for CsvReader {
    fn columns(&self) -> Vec<String> {
        self.columns.clone()
    }

    fn next_row(&mut self) -> crate::Result<Option<Result<SourceRow, RowError>>> {
        if let Some(first) = self.first_row.take() {
            return Ok(Some(self.row(&first)));
        }
        let mut record = std::mem::take(&mut self.record);
        let result = self.reader.read_byte_record(&mut record);
        let row = match result {
            Ok(false) => {
                if let Some((line, offset)) = self.reader.get_ref().unclosed_quote() {
                    return Err(Error::UnclosedQuote { file: self.file.clone(), line, offset });
                }
                None
            }
            Ok(true) => Some(self.row(&record)),
            Err(err) => {
                let (line, offset) = self.locate(err.position());
                match err.into_kind() {
                    ErrorKind::Io(source) => return Err(Error::Read { file: self.file.clone(), source }),
                    ErrorKind::UnequalLengths { expected_len, len, .. } => Some(Err(row_error(
                        &self.file,
                        line,
                        offset,
                        None,
                        format!("the row has {len} fields but {} has {expected_len}", self.count_from),
                    ))),
                    other => Some(Err(row_error(
                        &self.file,
                        line,
                        offset,
                        None,
                        format!("not valid CSV: {}", describe(&other, self.count_from)),
                    ))),
                }
            }
        };
        self.record = record;
        Ok(row)
    }

    fn bytes_read(&self) -> u64 {
        self.reader.get_ref().bytes_read()
    }
}

/// The file error for a CSV error other than an I/O error on the first row of a file without header, found at
/// `at` (its line and file offset): a sentence saying where and what, with the offset as the error's field.
fn first_row_refused(file: &str, kind: &ErrorKind, count_from: &str, at: (u64, Option<u64>)) -> Error {
    Error::BadFile {
        file: file.to_owned(),
        offset: at.1,
        reason: format!("{}: the first row cannot be read as CSV: {}", place(at), describe(kind, count_from)),
    }
}

/// `line L (byte O)`, or `line L` when the parser gave the error no position (its offset is not known).
fn place((line, offset): (u64, Option<u64>)) -> String {
    match offset {
        Some(offset) => format!("line {line} (byte {offset})"),
        None => format!("line {line}"),
    }
}

/// What a CSV error other than an I/O error means, as a sentence without its place; `count_from` is what sets the
/// field count ("the header" or "the first row").
pub(crate) fn describe(kind: &ErrorKind, count_from: &str) -> String {
    match kind {
        ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("the row has {len} fields but {count_from} has {expected_len}")
        }
        ErrorKind::Utf8 { err, .. } => format!("column {} is not valid UTF-8", err.field() + 1),
        ErrorKind::Io(err) => format!("the file cannot be read ({err})"),
        ErrorKind::Seek => "the CSV parser was moved before it read the first row".to_owned(),
        ErrorKind::Serialize(message) => format!("a row cannot be written as CSV ({message})"),
        ErrorKind::Deserialize { err, .. } => format!("a field cannot be converted ({err})"),
        // The kind is non-exhaustive: one added by a later `csv` release is named as the crate spells it.
        other => format!("the CSV parser failed ({other:?})"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_first_row_the_parser_refuses_fails_the_file_with_a_sentence_naming_line_and_byte() {
        // No file makes the parser fail on the first row of a file without header (byte records are not checked
        // as UTF-8, and the first row sets the field count): the errors it could give are built here.
        let unequal = ErrorKind::UnequalLengths { pos: None, expected_len: 3, len: 2 };
        let err = first_row_refused("people.csv", &unequal, "the first row", (4, Some(37)));
        assert!(matches!(err, Error::BadFile { offset: Some(37), .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "cannot read people.csv: line 4 (byte 37): the first row cannot be read as CSV: the row has 2 fields but \
             the first row has 3"
        );
        let utf8 = csv::StringRecord::from_byte_record(ByteRecord::from(vec![&b"a"[..], b"b\xff"])).unwrap_err();
        let kind = ErrorKind::Utf8 { pos: None, err: utf8.utf8_error().clone() };
        let err = first_row_refused("wide.csv", &kind, "the first row", (1, None));
        assert!(matches!(err, Error::BadFile { offset: None, .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "cannot read wide.csv: line 1: the first row cannot be read as CSV: column 2 is not valid UTF-8"
        );
        assert_eq!(describe(&ErrorKind::Seek, "the header"), "the CSV parser was moved before it read the first row");
    }
}
