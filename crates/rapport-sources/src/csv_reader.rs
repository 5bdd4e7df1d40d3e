//! Strict CSV reading: a header row, then rows that must have exactly as many fields as the header.
//!
//! A row that cannot be read (wrong field count, invalid UTF-8) is reported at its 1-based line and reading
//! goes on with the next row; only a failure to open or read the file, or a missing header, stops the file.
//! A UTF-8 byte-order mark (Excel and Dynamics exports start with one) is skipped. Lines are counted in the file
//! as written, whatever its line ends (the parser's own count lags one line behind on `\r\n`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use csv::{ErrorKind, StringRecord};

use crate::readers::decode::{CsvSyntax, Decoder, Decoding};
use crate::Error;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One read attempt.
pub(crate) enum Row {
    /// A row was read into the caller's record; it starts on `line`, at file byte `offset`.
    Read { line: u64, offset: Option<u64> },
    /// A row was skipped because it is not valid CSV.
    Unparsable { line: u64, offset: Option<u64>, message: String },
}

/// An open CSV export with its header read.
pub(crate) struct CsvFile {
    reader: csv::Reader<Decoder<BufReader<File>>>,
    bom_len: u64,
    headers: Vec<String>,
    file: String,
}

impl CsvFile {
    /// Opens `path` and reads its header. `file` is the display name used in errors.
    pub(crate) fn open(path: &Path, file: &str) -> Result<Self, Error> {
        let handle = File::open(path).map_err(|source| Error::Open { file: file.to_owned(), source })?;
        let mut buffered = BufReader::new(handle);
        let starts_with_bom =
            buffered.fill_buf().map_err(|source| Error::Read { file: file.to_owned(), source })?.starts_with(UTF8_BOM);
        let bom_len = if starts_with_bom {
            buffered.consume(UTF8_BOM.len());
            UTF8_BOM.len() as u64
        } else {
            0
        };
        let syntax = CsvSyntax { delimiter: b',', quote: b'"', escape: None };
        let decoder = Decoder::new(buffered, Decoding::Utf8, bom_len).with_csv(syntax);
        let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(decoder);
        let headers = match reader.headers() {
            Ok(headers) => headers.iter().map(str::to_owned).collect::<Vec<_>>(),
            Err(err) => {
                return Err(match err.into_kind() {
                    ErrorKind::Io(source) => Error::Read { file: file.to_owned(), source },
                    other => Error::BadHeader { file: file.to_owned(), reason: describe(&other) },
                })
            }
        };
        if headers.iter().all(|name| name.trim().is_empty()) {
            return Err(Error::NoHeader { file: file.to_owned() });
        }
        // Connectors find their columns by name, trimmed and in any case: two columns of one name leave it
        // unknown which holds the value (the generic reader refuses them too).
        let mut seen: HashMap<String, usize> = HashMap::with_capacity(headers.len());
        for (index, name) in headers.iter().enumerate() {
            let key = name.trim().to_lowercase();
            if key.is_empty() {
                continue;
            }
            if let Some(previous) = seen.insert(key, index) {
                let reason = match headers[previous] == *name {
                    true => format!("column `{name}` appears twice (columns {} and {})", previous + 1, index + 1),
                    false => format!(
                        "columns {} `{}` and {} `{name}` are one name to a connector, which ignores case",
                        previous + 1,
                        headers[previous],
                        index + 1
                    ),
                };
                return Err(Error::BadHeader { file: file.to_owned(), reason });
            }
        }
        Ok(Self { reader, bom_len, headers, file: file.to_owned() })
    }

    /// The header's column names, as written.
    pub(crate) fn headers(&self) -> &[String] {
        &self.headers
    }

    /// Reads the next row into `record`; `None` at the end of the file.
    pub(crate) fn next_row(&mut self, record: &mut StringRecord) -> Result<Option<Row>, Error> {
        match self.reader.read_record(record) {
            Ok(false) => match self.reader.get_ref().unclosed_quote() {
                Some((line, offset)) => Err(Error::UnclosedQuote { file: self.file.clone(), line, offset }),
                None => Ok(None),
            },
            Ok(true) => {
                let (line, offset) = self.locate(record.position());
                Ok(Some(Row::Read { line, offset }))
            }
            Err(err) => {
                let (line, offset) = self.locate(err.position());
                match err.into_kind() {
                    ErrorKind::Io(source) => Err(Error::Read { file: self.file.clone(), source }),
                    other => Ok(Some(Row::Unparsable { line, offset, message: describe(&other) })),
                }
            }
        }
    }

    /// The physical line and file offset where the record the parser placed at `position` starts.
    fn locate(&mut self, position: Option<&csv::Position>) -> (u64, Option<u64>) {
        let Some(position) = position else { return (self.reader.position().line(), None) };
        match self.reader.get_mut().locate(position.byte()) {
            Some((line, offset)) => (line, Some(offset)),
            None => (position.line(), None),
        }
    }

    /// Bytes consumed so far, byte-order mark included.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.bom_len + self.reader.position().byte()
    }
}

/// A readable sentence for a CSV error (the generic CSV reader's words, counting fields from the header).
fn describe(kind: &ErrorKind) -> String {
    crate::readers::csv::describe(kind, "the header")
}
