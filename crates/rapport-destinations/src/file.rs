//! File destinations: CSV, JSON lines and Parquet files in a local folder.
//!
//! **Naming.** The default file name is `<destinationName>_segment<audienceId>_<yyyymmddhhmmss>`, the documented
//! default of batch file destinations; Rapport identifies audiences by name, so the audience id is its name.
//! A custom `file_name` template combines text with the macros `%DESTINATION%`, `%SEGMENT_ID%`,
//! `%SEGMENT_NAME%`, `%TIMESTAMP%` (`yyyymmddhhmmss`), `%DATETIME%` (`MMDDYYYY_HHMMSS`) and `%UNIX%` (10-digit
//! Unix seconds); `%DESTINATION%` and `%SEGMENT_ID%` (or `%SEGMENT_NAME%`) are mandatory. Without a date or
//! time macro the name is static and each export replaces the previous file. Names longer than 255 characters
//! are refused. Characters other than ASCII letters, digits and `-` in names and macro values become `_`.
//!
//! **Parts.** An export of more than `rows_per_file` rows (default 5,000,000) is split: `name.csv`,
//! `name_2.csv`, `name_3.csv`, …
//!
//! **Extensions.** `csv`, `json` (JSON lines), `parquet`; gzip gives `csv.gz`, `json.gz` and `gz.parquet`
//! (Parquet compresses its pages with gzip rather than the whole file).
//!
//! **Folders.** The folder may end with `/%SEGMENT_NAME%`, `/%SEGMENT_ID%` or `/%SEGMENT_NAME%/%SEGMENT_ID%`
//! (only at the end), which gives each audience its own folder.
//!
//! **Atomicity.** Each file is written under `.<name>.tmp` in its folder, synced, then renamed into place.
//!
//! **SFTP.** With an `sftp` block the folder is a path on that server: the files are written as above into a
//! private staging folder here, then uploaded (see [`crate::sftp`]), each under `.<name>.tmp` and renamed.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::sftp::{remote_path, SftpConfig, Upload};
use crate::{Error, Result};

/// The documented split size of exported files.
pub const DEFAULT_ROWS_PER_FILE: usize = 5_000_000;

/// The default file name template.
pub const DEFAULT_FILE_NAME: &str = "%DESTINATION%_segment%SEGMENT_ID%_%TIMESTAMP%";

/// The rows of an export, read one at a time by the writers: a caller keeps its members in whatever form it
/// holds them (no copy of a million rows into strings).
pub trait Rows: Sync {
    /// How many rows.
    fn count(&self) -> usize;
    /// Pushes the values of row `i` (`i < count()`) onto `out`, one per column; `None` is null.
    fn row<'a>(&'a self, i: usize, out: &mut Vec<Option<&'a str>>);
}

impl Rows for [Vec<Option<String>>] {
    fn count(&self) -> usize {
        self.len()
    }

    fn row<'a>(&'a self, i: usize, out: &mut Vec<Option<&'a str>>) {
        out.extend(self[i].iter().map(|v| v.as_deref()));
    }
}

impl Rows for Vec<Vec<Option<String>>> {
    fn count(&self) -> usize {
        self.len()
    }

    fn row<'a>(&'a self, i: usize, out: &mut Vec<Option<&'a str>>) {
        self.as_slice().row(i, out)
    }
}

impl<const N: usize> Rows for [Vec<Option<String>>; N] {
    fn count(&self) -> usize {
        N
    }

    fn row<'a>(&'a self, i: usize, out: &mut Vec<Option<&'a str>>) {
        self.as_slice().row(i, out)
    }
}

/// The values of rows `range` of `rows`, each checked to have `width` values, handed to `each`.
fn each_row<'a, R: Rows + ?Sized>(
    rows: &'a R,
    range: Range<usize>,
    width: usize,
    mut each: impl FnMut(&[Option<&'a str>]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut values = Vec::with_capacity(width);
    for i in range {
        values.clear();
        rows.row(i, &mut values);
        if values.len() != width {
            let message = format!("row {} has {} values for {width} columns", i + 1, values.len());
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, message));
        }
        each(&values)?;
    }
    Ok(())
}

/// The rows to export (the demo's fixed columns; every value present).
#[derive(Debug, Clone, Default)]
pub struct ExportTable {
    /// Header names.
    pub columns: Vec<String>,
    /// One row per member, as many values as columns.
    pub rows: Vec<Vec<String>>,
}

/// The file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Delimited text with a header row.
    #[default]
    Csv,
    /// One JSON object per line, keyed by column name.
    JsonLines,
    /// Parquet, every column an optional UTF-8 string.
    Parquet,
}

/// File compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// None.
    #[default]
    None,
    /// GZIP.
    Gzip,
}

/// Whether each run writes every member or only what changed since the previous run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ExportMode {
    /// Every run writes all current members.
    Full,
    /// The first run writes all members (the backfill), later runs only the members that entered, changed or
    /// (with a `segmentMembership.status` column) left.
    #[default]
    Incremental,
}

/// How a null or an empty value is written in CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValueOutput {
    /// Nothing between the delimiters.
    #[default]
    Empty,
    /// Two quote characters (`""`).
    Quoted,
    /// The word `null`.
    Null,
}

/// CSV formatting options (the documented ones; encoding is always UTF-8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsvOptions {
    /// Field delimiter: one of `,` `;` `|` `:` or tab.
    pub delimiter: char,
    /// Quote character (`"` or `'`), or `null` for no quoting (special characters are then escaped).
    pub quote: Option<char>,
    /// Escape character (`\` or `'`) for quotes inside quoted values; `null` doubles the quote (RFC 4180).
    pub escape: Option<char>,
    /// How a missing value (null) is written.
    pub null_output: ValueOutput,
    /// How an empty string is written.
    pub empty_output: ValueOutput,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: ',',
            quote: Some('"'),
            escape: None,
            null_output: ValueOutput::Empty,
            empty_output: ValueOutput::Empty,
        }
    }
}

impl CsvOptions {
    fn validate(&self) -> Result<()> {
        if !matches!(self.delimiter, ',' | ';' | '|' | ':' | '\t') {
            return Err(Error::Options(format!("delimiter `{}` is not one of , ; | : or tab", self.delimiter)));
        }
        if let Some(quote) = self.quote {
            if !matches!(quote, '"' | '\'') {
                return Err(Error::Options(format!("quote `{quote}` is not `\"` or `'`")));
            }
        }
        if let Some(escape) = self.escape {
            if !matches!(escape, '\\' | '\'') {
                return Err(Error::Options(format!("escape `{escape}` is not `\\` or `'`")));
            }
            if Some(escape) == self.quote {
                return Err(Error::Options("escape and quote are the same character".to_owned()));
            }
        }
        Ok(())
    }
}

/// A file destination's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The folder files go to (created if missing); may end with folder macros.
    pub folder: String,
    /// The format.
    #[serde(default)]
    pub format: FileFormat,
    /// CSV options (CSV only).
    #[serde(default)]
    pub csv: CsvOptions,
    /// Compression.
    #[serde(default)]
    pub compression: Compression,
    /// Rows per file before the next part starts.
    #[serde(default = "default_rows_per_file")]
    pub rows_per_file: usize,
    /// The file name template (see the module docs); default `%DESTINATION%_segment%SEGMENT_ID%_%TIMESTAMP%`.
    #[serde(default)]
    pub file_name: Option<String>,
    /// Full or incremental files.
    #[serde(default)]
    pub export: ExportMode,
    /// An SFTP server the files are uploaded to; `folder` is then a path on that server. Local when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sftp: Option<SftpConfig>,
}

fn default_rows_per_file() -> usize {
    DEFAULT_ROWS_PER_FILE
}

impl FileConfig {
    /// CSV files with the default options in `folder`.
    pub fn csv(folder: &str) -> Self {
        Self {
            folder: folder.to_owned(),
            format: FileFormat::Csv,
            csv: CsvOptions::default(),
            compression: Compression::None,
            rows_per_file: DEFAULT_ROWS_PER_FILE,
            file_name: None,
            export: ExportMode::Incremental,
            sftp: None,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        self.csv.validate()?;
        if self.rows_per_file == 0 {
            return Err(Error::Options("rows per file must be at least 1".to_owned()));
        }
        if self.folder.trim().is_empty() {
            return Err(Error::Options("`folder` is empty".to_owned()));
        }
        folder_parts(&self.folder)?;
        let template = self.file_name.as_deref().unwrap_or(DEFAULT_FILE_NAME);
        check_template(template)?;
        if let Some(sftp) = &self.sftp {
            sftp.validate()?;
        }
        Ok(())
    }

    /// A copy whose secrets (SFTP password, private key, passphrase) read `***`.
    pub fn redacted(&self) -> Self {
        Self { sftp: self.sftp.as_ref().map(SftpConfig::redacted), ..self.clone() }
    }

    fn extension(&self) -> &'static str {
        match (self.format, self.compression) {
            (FileFormat::Csv, Compression::None) => "csv",
            (FileFormat::Csv, Compression::Gzip) => "csv.gz",
            (FileFormat::JsonLines, Compression::None) => "json",
            (FileFormat::JsonLines, Compression::Gzip) => "json.gz",
            (FileFormat::Parquet, Compression::None) => "parquet",
            (FileFormat::Parquet, Compression::Gzip) => "gz.parquet",
        }
    }
}

/// What names an export's files.
#[derive(Debug, Clone, Copy)]
pub struct FileContext<'a> {
    /// The destination's name.
    pub destination: &'a str,
    /// The audience's name (its id).
    pub audience: &'a str,
    /// The export time.
    pub at: DateTime<Utc>,
}

/// A file written by an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenFile {
    /// Its path (on the SFTP server, for an SFTP target).
    pub path: PathBuf,
    /// Data rows in it (header excluded).
    pub rows: usize,
}

fn sanitize(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

const MACROS: [&str; 6] = ["DESTINATION", "SEGMENT_ID", "SEGMENT_NAME", "TIMESTAMP", "DATETIME", "UNIX"];

/// The macros a template uses, in order; errors on an unknown or unclosed one.
fn template_macros(template: &str) -> Result<Vec<&str>> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        let end =
            after.find('%').ok_or_else(|| Error::Options(format!("file name `{template}`: unclosed `%` macro")))?;
        let name = &after[..end];
        if !MACROS.contains(&name) {
            return Err(Error::Options(format!(
                "file name `{template}`: unknown macro `%{name}%` (expected one of {})",
                MACROS.map(|m| format!("%{m}%")).join(", ")
            )));
        }
        found.push(name);
        rest = &after[end + 1..];
    }
    Ok(found)
}

fn check_template(template: &str) -> Result<()> {
    let macros = template_macros(template)?;
    if !macros.contains(&"DESTINATION") {
        return Err(Error::Options(format!("file name `{template}` lacks the mandatory `%DESTINATION%`")));
    }
    if !macros.contains(&"SEGMENT_ID") && !macros.contains(&"SEGMENT_NAME") {
        return Err(Error::Options(format!("file name `{template}` lacks the mandatory `%SEGMENT_ID%`")));
    }
    Ok(())
}

/// The file name of part `part` (1-based) of an export.
pub fn file_name(template: &str, ctx: &FileContext<'_>, part: usize, extension: &str) -> Result<String> {
    template_macros(template)?;
    let mut name = template.to_owned();
    let values = [
        ("DESTINATION", sanitize(ctx.destination)),
        ("SEGMENT_ID", sanitize(ctx.audience)),
        ("SEGMENT_NAME", sanitize(ctx.audience)),
        ("TIMESTAMP", ctx.at.format("%Y%m%d%H%M%S").to_string()),
        ("DATETIME", ctx.at.format("%m%d%Y_%H%M%S").to_string()),
        ("UNIX", format!("{:010}", ctx.at.timestamp())),
    ];
    for (key, value) in values {
        name = name.replace(&format!("%{key}%"), &value);
    }
    let name = if part == 1 { format!("{name}.{extension}") } else { format!("{name}_{part}.{extension}") };
    if name.len() > 255 {
        return Err(Error::Options(format!("file name `{name}` is longer than 255 characters")));
    }
    Ok(name)
}

/// Splits a folder into its base and its trailing macros; macros elsewhere are refused.
fn folder_parts(folder: &str) -> Result<(String, Vec<&str>)> {
    let components: Vec<&str> = folder.split('/').collect();
    let first_macro = components.iter().position(|c| c.contains('%')).unwrap_or(components.len());
    let macros: Vec<&str> = components[first_macro..].to_vec();
    let allowed: &[&[&str]] = &[&[], &["%SEGMENT_NAME%"], &["%SEGMENT_ID%"], &["%SEGMENT_NAME%", "%SEGMENT_ID%"]];
    if !allowed.contains(&macros.as_slice()) {
        return Err(Error::Options(format!(
            "folder `{folder}`: macros may only end the path, as /%SEGMENT_NAME%, /%SEGMENT_ID% or \
             /%SEGMENT_NAME%/%SEGMENT_ID%"
        )));
    }
    Ok((components[..first_macro].join("/"), macros))
}

/// The folder before its audience macros (`/` when the macros are all of it).
pub fn base_folder(folder: &str) -> Result<String> {
    let (base, _) = folder_parts(folder)?;
    Ok(if base.is_empty() { "/".to_owned() } else { base })
}

/// The folder of an audience's files.
pub fn resolve_folder(folder: &str, audience: &str) -> Result<PathBuf> {
    let (base, macros) = folder_parts(folder)?;
    let mut path = PathBuf::from(if base.is_empty() { "/".to_owned() } else { base });
    for _ in macros {
        path.push(sanitize(audience));
    }
    Ok(path)
}

/// Writes `rows` (each as many values as `columns`; `None` is null) as the files of one export, in the local
/// folder or uploaded to the SFTP server. An export of no rows still writes one file with the header (CSV) or
/// schema (Parquet).
pub fn write_files<R: Rows + ?Sized>(
    config: &FileConfig,
    ctx: &FileContext<'_>,
    columns: &[String],
    rows: &R,
) -> Result<Vec<WrittenFile>> {
    config.validate()?;
    let dir = resolve_folder(&config.folder, ctx.audience)?;
    let Some(sftp) = &config.sftp else {
        fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
        return write_parts(config, ctx, &dir, columns, rows);
    };
    // Staged here (removed when done, whatever happens), then uploaded.
    let staging = tempfile::Builder::new()
        .prefix("rapport-sftp-")
        .tempdir()
        .map_err(|source| Error::Io { path: std::env::temp_dir(), source })?;
    let staged = write_parts(config, ctx, staging.path(), columns, rows)?;
    let folder = dir.to_str().ok_or_else(|| Error::Options(format!("folder {} is not UTF-8", dir.display())))?;
    let names: Vec<String> =
        staged.iter().map(|f| f.path.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
    let uploads: Vec<Upload<'_>> = staged.iter().zip(&names).map(|(f, name)| Upload { local: &f.path, name }).collect();
    crate::sftp::upload(sftp, folder, &uploads)?;
    Ok(staged
        .iter()
        .zip(&names)
        .map(|(f, name)| WrittenFile { path: PathBuf::from(remote_path(folder, name)), rows: f.rows })
        .collect())
}

/// Writes the parts of an export into the local folder `dir`, each under a temporary name, synced and renamed.
fn write_parts<R: Rows + ?Sized>(
    config: &FileConfig,
    ctx: &FileContext<'_>,
    dir: &Path,
    columns: &[String],
    rows: &R,
) -> Result<Vec<WrittenFile>> {
    let template = config.file_name.as_deref().unwrap_or(DEFAULT_FILE_NAME);
    let count = rows.count();
    // An export of no rows is one empty part.
    let chunks: Vec<Range<usize>> = (0..count.max(1))
        .step_by(config.rows_per_file)
        .map(|start| start..count.min(start + config.rows_per_file))
        .collect();
    let mut written = Vec::with_capacity(chunks.len());
    for (i, chunk) in chunks.into_iter().enumerate() {
        let name = file_name(template, ctx, i + 1, config.extension())?;
        let path = dir.join(&name);
        let temp = dir.join(format!(".{name}.tmp"));
        match config.format {
            FileFormat::Csv => {
                write_text(&temp, config.compression, |out| write_csv(out, &config.csv, columns, rows, chunk.clone()))?
            }
            FileFormat::JsonLines => {
                write_text(&temp, config.compression, |out| write_json_lines(out, columns, rows, chunk.clone()))?
            }
            FileFormat::Parquet => write_parquet(&temp, config.compression, columns, rows, chunk.clone())?,
        }
        fs::rename(&temp, &path).map_err(|source| Error::Io { path: path.clone(), source })?;
        written.push(WrittenFile { path, rows: chunk.len() });
    }
    sync_dir(dir)?;
    Ok(written)
}

/// Writes `table` as CSV files in `dir` (created if missing), with the default naming and split size.
pub fn export_csv(
    dir: &Path,
    destination: &str,
    audience: &str,
    at: DateTime<Utc>,
    table: &ExportTable,
    options: &CsvOptions,
) -> Result<Vec<WrittenFile>> {
    let folder = dir.to_str().ok_or_else(|| Error::Options(format!("folder {} is not UTF-8", dir.display())))?;
    let config = FileConfig { csv: options.clone(), ..FileConfig::csv(folder) };
    let rows: Vec<Vec<Option<String>>> =
        table.rows.iter().map(|r| r.iter().map(|v| Some(v.clone())).collect()).collect();
    write_files(&config, &FileContext { destination, audience, at }, &table.columns, &rows)
}

/// Syncs a folder, so that the renames into it survive a power loss (the run's state is recorded after this).
fn sync_dir(dir: &Path) -> Result<()> {
    let io = |source| Error::Io { path: dir.to_owned(), source };
    // Directories can be opened and synced on Unix; elsewhere the rename is as durable as the platform makes it.
    if cfg!(unix) {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

/// Opens `temp`, lets `body` write through the chosen compression, then flushes and syncs it.
pub(crate) fn write_text(
    temp: &Path,
    compression: Compression,
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let io = |source| Error::Io { path: temp.to_owned(), source };
    let file = File::create(temp).map_err(io)?;
    let buffered = BufWriter::with_capacity(1 << 20, file);
    let file = match compression {
        Compression::None => {
            let mut out = buffered;
            body(&mut out).map_err(io)?;
            out.into_inner().map_err(|e| io(e.into_error()))?
        }
        Compression::Gzip => {
            let mut out = flate2::write::GzEncoder::new(buffered, flate2::Compression::fast());
            body(&mut out).map_err(io)?;
            out.finish().map_err(io)?.into_inner().map_err(|e| io(e.into_error()))?
        }
    };
    file.sync_all().map_err(io)
}

fn write_csv<R: Rows + ?Sized>(
    out: &mut dyn Write,
    options: &CsvOptions,
    columns: &[String],
    rows: &R,
    range: Range<usize>,
) -> std::io::Result<()> {
    let encoder = CsvEncoder::new(options);
    // Rows are encoded into one buffer handed to the writer once it holds 1 MiB, not one write call per row:
    // as large as the file's `BufWriter`, which then passes it through instead of copying it.
    let mut buf = Vec::with_capacity((1 << 20) + (1 << 16));
    encoder.row(&mut buf, columns.iter().map(|c| Some(c.as_str())));
    each_row(rows, range, columns.len(), |row| {
        encoder.row(&mut buf, row.iter().copied());
        if buf.len() >= 1 << 20 {
            out.write_all(&buf)?;
            buf.clear();
        }
        Ok(())
    })?;
    out.write_all(&buf)
}

/// Encodes CSV rows under fixed options, with what every row needs computed once.
struct CsvEncoder<'a> {
    options: &'a CsvOptions,
    delimiter: Vec<u8>,
    /// The bytes that make a value special (quoted or escaped), when every special character is ASCII (the
    /// usual case: a value is then checked byte by byte); `None` when one is not.
    special: Option<[bool; 256]>,
}

impl<'a> CsvEncoder<'a> {
    fn new(options: &'a CsvOptions) -> Self {
        let mut buf = [0u8; 4];
        let delimiter = options.delimiter.encode_utf8(&mut buf).as_bytes().to_vec();
        let escape = options.escape.or(if options.quote.is_none() { Some('\\') } else { None });
        let chars = [Some(options.delimiter), Some('\n'), Some('\r'), options.quote, escape];
        let special = chars.iter().flatten().all(char::is_ascii).then(|| {
            let mut table = [false; 256];
            for c in chars.iter().flatten() {
                table[*c as usize] = true;
            }
            table
        });
        Self { options, delimiter, special }
    }

    fn row<'v>(&self, line: &mut Vec<u8>, values: impl Iterator<Item = Option<&'v str>>) {
        let options = self.options;
        for (i, value) in values.enumerate() {
            if i > 0 {
                line.extend_from_slice(&self.delimiter);
            }
            let special = match value {
                None => Some(options.null_output),
                Some("") => Some(options.empty_output),
                Some(_) => None,
            };
            match (special, value) {
                (Some(ValueOutput::Empty), _) => {}
                (Some(ValueOutput::Null), _) => line.extend_from_slice(b"null"),
                (Some(ValueOutput::Quoted), _) => {
                    let q = options.quote.unwrap_or('"');
                    let mut b = [0u8; 4];
                    let q = q.encode_utf8(&mut b).as_bytes();
                    line.extend_from_slice(q);
                    line.extend_from_slice(q);
                }
                (None, Some(text)) => {
                    // Bytes of multi-byte characters are all ≥ 0x80, never an ASCII special character.
                    let plain = self.special.is_some_and(|table| !text.bytes().any(|b| table[b as usize]));
                    if plain {
                        line.extend_from_slice(text.as_bytes());
                    } else {
                        encode_csv_field(line, options, text);
                    }
                }
                (None, None) => {}
            }
        }
        line.push(b'\n');
    }
}

fn encode_csv_field(line: &mut Vec<u8>, options: &CsvOptions, text: &str) {
    // Without quoting, the escape character (`\` by default) marks special characters, so it is special too.
    let escape = options.escape.or(if options.quote.is_none() { Some('\\') } else { None });
    let special =
        |c: char| c == options.delimiter || c == '\n' || c == '\r' || Some(c) == options.quote || Some(c) == escape;
    if !text.chars().any(special) {
        line.extend_from_slice(text.as_bytes());
        return;
    }
    let mut push = |c: char| {
        let mut b = [0u8; 4];
        line.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    };
    match options.quote {
        Some(quote) => {
            push(quote);
            for c in text.chars() {
                if c == quote {
                    push(options.escape.unwrap_or(quote));
                } else if Some(c) == options.escape {
                    push(c);
                }
                push(c);
            }
            push(quote);
        }
        None => {
            // No quoting: every special character is preceded by the escape character.
            let escape = escape.unwrap_or('\\');
            for c in text.chars() {
                if special(c) {
                    push(escape);
                }
                push(c);
            }
        }
    }
}

fn write_json_lines<R: Rows + ?Sized>(
    out: &mut dyn Write,
    columns: &[String],
    rows: &R,
    range: Range<usize>,
) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(256);
    each_row(rows, range, columns.len(), |row| {
        line.clear();
        line.push(b'{');
        for (i, (column, value)) in columns.iter().zip(row).enumerate() {
            if i > 0 {
                line.push(b',');
            }
            serde_json::to_writer(&mut line, column)?;
            line.push(b':');
            match value {
                Some(v) => serde_json::to_writer(&mut line, v)?,
                None => line.extend_from_slice(b"null"),
            }
        }
        line.extend_from_slice(b"}\n");
        out.write_all(&line)
    })
}

/// Rows per Parquet row group.
const ROW_GROUP: usize = 100_000;

pub(crate) fn write_parquet<R: Rows + ?Sized>(
    temp: &Path,
    compression: Compression,
    columns: &[String],
    rows: &R,
    range: Range<usize>,
) -> Result<()> {
    use parquet::basic::{Compression as Codec, ConvertedType, GzipLevel, Repetition, Type as Physical};
    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;

    let perr = |source| Error::Parquet { path: temp.to_owned(), source };
    let fields = columns
        .iter()
        .map(|c| {
            Type::primitive_type_builder(c, Physical::BYTE_ARRAY)
                .with_repetition(Repetition::OPTIONAL)
                .with_converted_type(ConvertedType::UTF8)
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(perr)?;
    let schema = Arc::new(Type::group_type_builder("schema").with_fields(fields).build().map_err(perr)?);
    let codec = match compression {
        Compression::None => Codec::SNAPPY,
        Compression::Gzip => Codec::GZIP(GzipLevel::default()),
    };
    let props = Arc::new(WriterProperties::builder().set_compression(codec).build());
    let file = File::create(temp).map_err(|source| Error::Io { path: temp.to_owned(), source })?;
    let mut writer = SerializedFileWriter::new(file, schema, props).map_err(perr)?;
    for start in range.clone().step_by(ROW_GROUP) {
        let group = start..range.end.min(start + ROW_GROUP);
        // Each column's values and definition levels, gathered in one pass over the group's rows.
        let mut values: Vec<Vec<ByteArray>> = columns.iter().map(|_| Vec::with_capacity(group.len())).collect();
        let mut levels: Vec<Vec<i16>> = columns.iter().map(|_| Vec::with_capacity(group.len())).collect();
        each_row(rows, group, columns.len(), |row| {
            for (i, value) in row.iter().enumerate() {
                if let Some(v) = value {
                    values[i].push(ByteArray::from(*v));
                }
                levels[i].push(i16::from(value.is_some()));
            }
            Ok(())
        })
        .map_err(|source| Error::Io { path: temp.to_owned(), source })?;
        let mut row_group = writer.next_row_group().map_err(perr)?;
        let mut index = 0;
        while let Some(mut column) = row_group.next_column().map_err(perr)? {
            column.typed::<ByteArrayType>().write_batch(&values[index], Some(&levels[index]), None).map_err(perr)?;
            column.close().map_err(perr)?;
            index += 1;
        }
        row_group.close().map_err(perr)?;
    }
    let file = writer.into_inner().map_err(perr)?;
    file.sync_all().map_err(|source| Error::Io { path: temp.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 6, 18, 4).unwrap()
    }

    fn rows(n: usize) -> Vec<Vec<Option<String>>> {
        (0..n).map(|i| vec![Some(format!("p{i}")), Some(format!("Smith, \"J{i}\""))]).collect()
    }

    fn columns() -> Vec<String> {
        vec!["id".into(), "name".into()]
    }

    fn names(files: &[WrittenFile]) -> Vec<String> {
        files.iter().map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned()).collect()
    }

    fn ctx(audience: &str) -> FileContext<'_> {
        FileContext { destination: "File", audience, at: at() }
    }

    #[test]
    fn writes_named_split_files_with_quoting() {
        let dir = tempfile::tempdir().unwrap();
        let config = FileConfig { rows_per_file: 2, ..FileConfig::csv(dir.path().to_str().unwrap()) };
        let files = write_files(&config, &ctx("bodea sales"), &columns(), &rows(5)).unwrap();
        assert_eq!(
            names(&files),
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
    fn csv_options_shape_every_value() {
        let dir = tempfile::tempdir().unwrap();
        let config = FileConfig {
            csv: CsvOptions {
                delimiter: ';',
                quote: Some('\''),
                escape: Some('\\'),
                null_output: ValueOutput::Null,
                empty_output: ValueOutput::Quoted,
            },
            ..FileConfig::csv(dir.path().to_str().unwrap())
        };
        let rows = vec![
            vec![Some("a;b".to_owned()), None, Some(String::new())],
            vec![Some("it's".to_owned()), Some("x\\y".to_owned()), Some("plain".to_owned())],
        ];
        let columns = vec!["c1".to_owned(), "c2".to_owned(), "c3".to_owned()];
        let files = write_files(&config, &ctx("a"), &columns, &rows).unwrap();
        assert_eq!(
            std::fs::read_to_string(&files[0].path).unwrap(),
            "c1;c2;c3\n'a;b';null;''\n'it\\'s';'x\\\\y';plain\n"
        );
        let unquoted = FileConfig {
            csv: CsvOptions { quote: None, ..CsvOptions::default() },
            file_name: Some("%DESTINATION%_%SEGMENT_ID%".into()),
            ..FileConfig::csv(dir.path().to_str().unwrap())
        };
        let files = write_files(&unquoted, &ctx("b"), &columns, &rows).unwrap();
        assert_eq!(names(&files), ["File_b.csv"]);
        assert_eq!(std::fs::read_to_string(&files[0].path).unwrap(), "c1,c2,c3\na;b,,\nit's,x\\\\y,plain\n");
    }

    #[test]
    fn gzip_json_lines_and_parquet_round_trip() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().to_str().unwrap();
        let rows = vec![vec![Some("p1".to_owned()), None], vec![Some("p2".to_owned()), Some("Ann".to_owned())]];

        let gz = FileConfig { compression: Compression::Gzip, ..FileConfig::csv(folder) };
        let files = write_files(&gz, &ctx("a"), &columns(), &rows).unwrap();
        assert!(names(&files)[0].ends_with(".csv.gz"));
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(&files[0].path).unwrap()).read_to_string(&mut text).unwrap();
        assert_eq!(text, "id,name\np1,\np2,Ann\n");

        let json = FileConfig { format: FileFormat::JsonLines, ..FileConfig::csv(folder) };
        let files = write_files(&json, &ctx("a"), &columns(), &rows).unwrap();
        assert!(names(&files)[0].ends_with(".json"));
        assert_eq!(
            std::fs::read_to_string(&files[0].path).unwrap(),
            "{\"id\":\"p1\",\"name\":null}\n{\"id\":\"p2\",\"name\":\"Ann\"}\n"
        );

        let parquet =
            FileConfig { format: FileFormat::Parquet, compression: Compression::Gzip, ..FileConfig::csv(folder) };
        let files = write_files(&parquet, &ctx("a"), &columns(), &rows).unwrap();
        assert!(names(&files)[0].ends_with(".gz.parquet"));
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let reader = SerializedFileReader::new(File::open(&files[0].path).unwrap()).unwrap();
        let read: Vec<String> = reader.get_row_iter(None).unwrap().map(|r| r.unwrap().to_string()).collect();
        assert_eq!(read, ["{id: \"p1\", name: null}", "{id: \"p2\", name: \"Ann\"}"]);
    }

    #[test]
    fn folder_macros_and_templates() {
        assert_eq!(resolve_folder("out/%SEGMENT_NAME%", "My List").unwrap(), PathBuf::from("out/My_List"));
        assert_eq!(resolve_folder("out/%SEGMENT_NAME%/%SEGMENT_ID%", "a").unwrap(), PathBuf::from("out/a/a"));
        let err = resolve_folder("out/%SEGMENT_NAME%/x", "a").unwrap_err().to_string();
        assert!(err.contains("macros may only end the path"), "{err}");
        let c = ctx("aud");
        assert_eq!(
            file_name("%DESTINATION%-%SEGMENT_ID%-%DATETIME%", &c, 1, "csv").unwrap(),
            "File-aud-11292026_061804.csv"
        );
        assert_eq!(
            file_name("%DESTINATION%_%SEGMENT_ID%_%UNIX%", &c, 2, "json").unwrap(),
            "File_aud_1795933084_2.json"
        );
        let err = check_template("%SEGMENT_ID%_x").unwrap_err().to_string();
        assert!(err.contains("mandatory `%DESTINATION%`"), "{err}");
        let err = check_template("%DESTINATION%_%SEGMENT%").unwrap_err().to_string();
        assert!(err.contains("unknown macro `%SEGMENT%`"), "{err}");
        let long = format!("%DESTINATION%_%SEGMENT_ID%_{}", "x".repeat(260));
        assert!(file_name(&long, &c, 1, "csv").unwrap_err().to_string().contains("longer than 255"));
    }

    #[test]
    fn an_empty_audience_still_gets_a_header_only_file() {
        let dir = tempfile::tempdir().unwrap();
        let table = ExportTable { columns: columns(), rows: Vec::new() };
        let files = export_csv(dir.path(), "File", "a", Utc::now(), &table, &CsvOptions::default()).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(std::fs::read_to_string(&files[0].path).unwrap(), "id,name\n");
    }

    #[test]
    fn refuses_an_unknown_delimiter() {
        let dir = tempfile::tempdir().unwrap();
        let options = CsvOptions { delimiter: 'x', ..CsvOptions::default() };
        let table = ExportTable { columns: columns(), rows: vec![vec!["a".into(), "b".into()]] };
        let err = export_csv(dir.path(), "File", "a", Utc::now(), &table, &options).unwrap_err();
        assert!(err.to_string().contains("delimiter `x`"), "{err}");
    }
}
