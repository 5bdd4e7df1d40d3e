//! Generic file sources: CSV, JSON, NDJSON and Parquet files read as [`SourceRow`](crate::SourceRow)s.
//!
//! [`FileFormat`] says how to read a file (guessed from its extension by [`FileFormat::detect`], or given
//! by the user as text, `csv:delimiter=semicolon,encoding=latin1`, or as a serde value in a flow
//! definition); [`open`] returns a [`RowReader`] for it. Every reader streams: a file is never loaded whole
//! (the one exception is a JSON file holding a single object, which is one row).
//!
//! Rows that cannot be read become `Err(RowError)` naming the file, the physical line where the row starts,
//! its byte offset in the file and, when one is at fault, the column; reading goes on with the next row. A
//! value that is read but cannot be kept as written (a JSON integer beyond 64 bits, a Parquet value that cannot
//! be converted) is null in its row and noted in [`SourceRow::faults`](crate::SourceRow::faults): a mapping that
//! reads it rejects the row, one that does not loads it.
//!
//! - CSV ([`CsvOptions`]): any ASCII delimiter, quote and escape character, with or without a header row;
//!   encodings UTF-8, UTF-16 LE/BE, ISO-8859-1 and Windows-1252, with byte-order-mark detection. Invalid
//!   bytes reject their row (code `unparsable`), never replaced silently.
//! - JSON: a top-level array of objects, streamed element by element, or a single object. The array broken
//!   (a missing `,`, an empty element or a trailing `,`, a `}` where an element should start, anything but
//!   whitespace after its `]`, the file ending before the array does) fails the file there, and so does a single
//!   object the file ends inside of or that anything but whitespace follows.
//! - NDJSON: one object per line; blank lines are skipped.
//! - Parquet: rows through the `parquet` crate's record API, converted to JSON as [`FileFormat::Parquet`]
//!   describes.

pub(crate) mod csv;
pub(crate) mod decode;
mod json;
mod parquet;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::RowReader;

/// How a file is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum FileFormat {
    /// Delimited text.
    Csv(CsvOptions),
    /// A JSON array of objects, or one JSON object. UTF-8 (a byte-order mark is skipped).
    Json,
    /// Newline-delimited JSON: one object per line. UTF-8 (a byte-order mark is skipped).
    #[serde(rename = "ndjson", alias = "jsonl")]
    NdJson,
    /// Apache Parquet. Values become JSON: integers and floats as numbers (NaN and infinities as the
    /// strings `"NaN"`, `"Infinity"`, `"-Infinity"`), decimals as exact decimal strings, dates as
    /// `YYYY-MM-DD`, timestamps as RFC 3339 UTC text with their unit's digits (`2024-03-05T10:11:12.123Z`,
    /// `.123456Z`, `.123456789Z`; a timestamp not adjusted to UTC is read as UTC, as text without an offset is),
    /// times as `HH:MM:SS.fff` (`.ffffff` or `.fffffffff` when finer), binary as lowercase hex, lists as
    /// arrays, structs as objects, maps as objects (string keys) or arrays of `{key, value}`. A text value
    /// (`UTF8`, `ENUM` or `JSON`) that is not UTF-8, or any value that cannot be converted, is read as null and
    /// noted as a fault of its row naming its path: a mapping that reads it rejects the row; the other rows load.
    /// Compressions read: uncompressed, Snappy, zstd and gzip (not LZ4 or Brotli). A file holding a column that
    /// cannot be read (an `INTERVAL`, a `LIST` or `MAP` group not shaped as the format says, a group without
    /// fields) is refused when opened, naming the column's path.
    Parquet,
}

/// CSV reading options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsvOptions {
    /// The field delimiter (default `,`): one ASCII character, such as `;`, a tab or `|`.
    #[serde(with = "ascii_char")]
    pub delimiter: u8,
    /// The quote character (default `"`). A quote inside a quoted field is doubled (`""`) or escaped.
    #[serde(with = "ascii_char")]
    pub quote: u8,
    /// An escape character for quotes inside quoted fields (`\"`), when the file uses one (default: none).
    #[serde(with = "ascii_char_option")]
    pub escape: Option<u8>,
    /// Whether the first row names the columns (default true). Without a header, columns are named
    /// `column_1`, `column_2`, ...
    pub has_header: bool,
    /// The text encoding (default: detected).
    pub encoding: Encoding,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self { delimiter: b',', quote: b'"', escape: None, has_header: true, encoding: Encoding::Auto }
    }
}

/// The text encoding of a CSV file.
///
/// A byte-order mark, when present, is skipped (UTF-8, and UTF-16 of the declared byte order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// By byte-order mark: UTF-16 LE (`FF FE`), UTF-16 BE (`FE FF`) or UTF-8 (`EF BB BF`); without one,
    /// UTF-8.
    #[default]
    Auto,
    /// UTF-8.
    #[serde(rename = "utf-8", alias = "utf8")]
    Utf8,
    /// UTF-16, little-endian (Excel's "Unicode Text").
    #[serde(rename = "utf-16le")]
    Utf16Le,
    /// UTF-16, big-endian.
    #[serde(rename = "utf-16be")]
    Utf16Be,
    /// ISO-8859-1: every byte is the code point of the same value (`E9` is `é`).
    #[serde(rename = "iso-8859-1", alias = "latin1", alias = "latin-1")]
    Latin1,
    /// Windows-1252, what Windows programs usually mean by "ANSI" or "Latin-1": ISO-8859-1 except bytes
    /// 80–9F, which hold `€`, curly quotes, dashes and a few letters.
    #[serde(rename = "windows-1252", alias = "cp1252")]
    Windows1252,
}

impl Encoding {
    /// The encoding's canonical name, as [`FromStr`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Auto => "auto",
            Encoding::Utf8 => "utf-8",
            Encoding::Utf16Le => "utf-16le",
            Encoding::Utf16Be => "utf-16be",
            Encoding::Latin1 => "iso-8859-1",
            Encoding::Windows1252 => "windows-1252",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Encoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "auto" => Ok(Encoding::Auto),
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "utf-16le" | "utf16le" => Ok(Encoding::Utf16Le),
            "utf-16be" | "utf16be" => Ok(Encoding::Utf16Be),
            "iso-8859-1" | "latin1" | "latin-1" => Ok(Encoding::Latin1),
            "windows-1252" | "cp1252" => Ok(Encoding::Windows1252),
            other => Err(format!(
                "unknown encoding `{other}` (expected auto, utf-8, utf-16le, utf-16be, iso-8859-1 or windows-1252)"
            )),
        }
    }
}

impl FileFormat {
    /// The format a file's extension names (case-insensitive): `.csv` (comma), `.tsv` and `.txt` (tab, as
    /// Excel's "Text" and "Unicode Text" exports are), `.json`, `.ndjson` and `.jsonl`, `.parquet`.
    pub fn detect(path: &Path) -> Option<FileFormat> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(FileFormat::Csv(CsvOptions::default())),
            "tsv" | "txt" => Some(FileFormat::Csv(CsvOptions { delimiter: b'\t', ..CsvOptions::default() })),
            "json" => Some(FileFormat::Json),
            "ndjson" | "jsonl" => Some(FileFormat::NdJson),
            "parquet" => Some(FileFormat::Parquet),
            _ => None,
        }
    }
}

/// Reads `csv`, `tsv`, `json`, `ndjson` (or `jsonl`) and `parquet`, with CSV options after a colon as
/// comma-separated `key=value` pairs: `csv:delimiter=semicolon,encoding=latin1,header=false`. Keys:
/// `delimiter` and `quote` (one character, or `comma`, `semicolon`, `tab`, `pipe`), `escape` (one character,
/// or `none`), `header` (`true`/`false`), `encoding` (see [`Encoding`]).
impl FromStr for FileFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, options) = match s.split_once(':') {
            Some((name, options)) => (name, Some(options)),
            None => (s, None),
        };
        let mut csv = match name.trim().to_ascii_lowercase().as_str() {
            "csv" => CsvOptions::default(),
            "tsv" => CsvOptions { delimiter: b'\t', ..CsvOptions::default() },
            other => {
                let format = match other {
                    "json" => FileFormat::Json,
                    "ndjson" | "jsonl" => FileFormat::NdJson,
                    "parquet" => FileFormat::Parquet,
                    _ => {
                        return Err(format!(
                            "unknown file format `{other}` (expected csv, tsv, json, ndjson or parquet)"
                        ))
                    }
                };
                if options.is_some_and(|options| !options.trim().is_empty()) {
                    return Err(format!("the {other} format takes no options (`{s}`)"));
                }
                return Ok(format);
            }
        };
        for pair in options.unwrap_or("").split(',').filter(|pair| !pair.trim().is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!("CSV option `{pair}` is not `key=value`"));
            };
            let value = value.trim();
            match key.trim() {
                "delimiter" => csv.delimiter = named_char(value)?,
                "quote" => csv.quote = named_char(value)?,
                "escape" => csv.escape = if value == "none" { None } else { Some(named_char(value)?) },
                "header" => {
                    csv.has_header =
                        value.parse().map_err(|_| format!("header must be true or false, not `{value}`"))?
                }
                "encoding" => csv.encoding = value.parse()?,
                other => {
                    return Err(format!(
                        "unknown CSV option `{other}` (expected delimiter, quote, escape, header, encoding)"
                    ))
                }
            }
        }
        csv.check()?;
        Ok(FileFormat::Csv(csv))
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileFormat::Json => f.write_str("json"),
            FileFormat::NdJson => f.write_str("ndjson"),
            FileFormat::Parquet => f.write_str("parquet"),
            FileFormat::Csv(options) => {
                write!(f, "csv:delimiter={},quote={}", char_name(options.delimiter), char_name(options.quote))?;
                if let Some(escape) = options.escape {
                    write!(f, ",escape={}", char_name(escape))?;
                }
                write!(f, ",header={},encoding={}", options.has_header, options.encoding)
            }
        }
    }
}

impl CsvOptions {
    /// Checks that the delimiter, quote and escape are distinct ASCII characters other than CR and LF.
    pub fn check(&self) -> Result<(), String> {
        let mut chars = vec![("delimiter", self.delimiter), ("quote", self.quote)];
        chars.extend(self.escape.map(|escape| ("escape", escape)));
        for (name, byte) in &chars {
            if !byte.is_ascii() || *byte == b'\r' || *byte == b'\n' {
                return Err(format!("the CSV {name} must be an ASCII character other than CR and LF"));
            }
        }
        if self.delimiter == self.quote || self.escape == Some(self.delimiter) {
            return Err("the CSV delimiter must differ from the quote and escape characters".to_owned());
        }
        Ok(())
    }
}

fn named_char(value: &str) -> Result<u8, String> {
    match value {
        "comma" => return Ok(b','),
        "semicolon" => return Ok(b';'),
        "tab" | "\\t" => return Ok(b'\t'),
        "pipe" => return Ok(b'|'),
        _ => {}
    }
    match value.as_bytes() {
        [byte] if byte.is_ascii() => Ok(*byte),
        _ => Err(format!("`{value}` is not one ASCII character (or comma, semicolon, tab, pipe)")),
    }
}

fn char_name(byte: u8) -> String {
    match byte {
        b',' => "comma".to_owned(),
        b';' => "semicolon".to_owned(),
        b'\t' => "tab".to_owned(),
        b'|' => "pipe".to_owned(),
        other => char::from(other).to_string(),
    }
}

/// Serde for an ASCII character held as a byte: a one-character string.
mod ascii_char {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(byte: &u8, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_char(char::from(*byte))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::named_char(&text).map_err(D::Error::custom)
    }
}

/// Serde for an optional ASCII character: a one-character string or null.
mod ascii_char_option {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(byte: &Option<u8>, serializer: S) -> Result<S::Ok, S::Error> {
        match byte {
            Some(byte) => serializer.serialize_char(char::from(*byte)),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u8>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| super::named_char(&text).map_err(D::Error::custom))
            .transpose()
    }
}

/// Opens `path` as `format` and returns a reader of its rows. `display_name` names the file in errors.
///
/// Fails when the file cannot be opened or read, when the CSV options are invalid, when a CSV file has no
/// header row or an unusable one (a column named twice, invalid bytes), when a JSON file holds neither an
/// array nor an object, and when a Parquet file's footer cannot be read.
pub fn open(path: &Path, display_name: &str, format: &FileFormat) -> crate::Result<Box<dyn RowReader + Send>> {
    Ok(match format {
        FileFormat::Csv(options) => Box::new(csv::CsvReader::open(path, display_name, options)?),
        FileFormat::Json => Box::new(json::JsonArrayReader::open(path, display_name)?),
        FileFormat::NdJson => Box::new(json::NdJsonReader::open(path, display_name)?),
        FileFormat::Parquet => Box::new(parquet::ParquetReader::open(path, display_name)?),
    })
}

/// A row error at a location in `file`.
fn row_error(
    file: &str,
    line: u64,
    offset: Option<u64>,
    field: Option<String>,
    message: String,
) -> rapport_model::RowError {
    rapport_model::RowError {
        file: file.to_owned(),
        line,
        offset,
        field,
        code: rapport_model::RowErrorCode::Unparsable,
        message,
    }
}

#[cfg(test)]
mod tests;
