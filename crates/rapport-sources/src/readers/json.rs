//! JSON and NDJSON files.
//!
//! A JSON file is a top-level array of objects, streamed element by element: a small scanner finds where
//! each element ends (tracking strings and nesting), and only that element is parsed, so one broken element
//! is rejected alone and the rest still load. A file holding one object is one row. NDJSON is read line by
//! line; blank lines are skipped. Both skip a UTF-8 byte-order mark. Elements and lines that are valid
//! JSON but not objects are rejected, and so are objects holding a key twice (serde_json would keep the last
//! value silently): the row error names the key's path (`address.city`, `items.0.id`) and where it appears
//! again. Values are parsed by [`Strict`], serde_json's own parser with a visitor that notices the duplicate
//! as it inserts the key (no set of keys is built). An integer too large for 64 bits (below -2^63 or above
//! 2^64 - 1), which serde_json would round to the nearest float (`123456789012345678901234` becomes
//! `1.2345678901234568e23`, digits lost), is read as null and noted as a [`RowFault`] naming its path and the
//! literal ([`rapport_model::json::large_integers`]): a mapping that reads it rejects the row as `bad_number`, one
//! that does not loads it. A number written with a fraction or an exponent (`1e20`) is a float and loads as one.
//!
//! Damage to the array itself is no rejected row: no record is at fault, and the file is not JSON. Between
//! elements (a missing `,`, an empty element as in `[,`, `,,` or the trailing `,]`, a `}` where an element should
//! start, anything but whitespace after the closing `]`) and when the file ends before the array does (before its
//! `]`, or inside an element, as an upload cut short does), reading fails with
//! [`Error::BadFile`](crate::Error::BadFile) naming the line, column and byte offset (of the element, when the
//! file ends inside one), after the rows before it. A file holding one object fails the same way when it ends
//! inside the object (at the object's `{`) or holds anything but whitespace after it; an error inside the object
//! is a rejected row. An NDJSON line is a record: a line cut short is a rejected row like any other broken line.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use rapport_model::json::LargeInteger;
use rapport_model::{RowError, RowErrorCode, RowFault};
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

use super::row_error;
use crate::{Error, RowReader, SourceRow};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const BUFFER: usize = 64 * 1024;

/// The field names seen so far, in first-seen order.
#[derive(Default)]
struct Columns {
    names: Vec<String>,
    seen: HashSet<String>,
}

impl Columns {
    fn note(&mut self, object: &serde_json::Map<String, Value>) {
        for key in object.keys() {
            if !self.seen.contains(key) {
                self.seen.insert(key.clone());
                self.names.push(key.clone());
            }
        }
    }
}

impl Columns {
    /// Turns one parsed JSON value read at `line`/`offset` into a row (noting its fields), or into the row error
    /// saying what `holder` (e.g. "the line holds") held instead of an object, or where the JSON broke;
    /// `position` places a 1-based line and column of the parsed text in the file, for messages.
    fn object_row(
        &mut self,
        file: &str,
        (line, offset): (u64, u64),
        parsed: Result<Parsed, ParseError>,
        holder: &str,
        position: impl Fn(usize, usize) -> String,
    ) -> Result<SourceRow, rapport_model::RowError> {
        match parsed {
            Ok(Parsed { value: Value::Object(mut fields), large }) => {
                // A too-large integer is read as null, and noted: a mapping that reads it rejects the row.
                let faults = large
                    .into_iter()
                    .map(|(large, (line, column))| {
                        clear(&mut fields, &large.path);
                        let message = format!(
                            "the integer {} at {} is too large for 64 bits and would lose digits as a number; write \
                             it as a string",
                            large.literal,
                            position(line, column)
                        );
                        RowFault { path: large.path, code: RowErrorCode::BadNumber, message }
                    })
                    .collect();
                self.note(&fields);
                Ok(SourceRow { line, offset: Some(offset), fields, faults })
            }
            Ok(Parsed { value: other, .. }) => Err(row_error(
                file,
                line,
                Some(offset),
                None,
                format!("{holder} a JSON {}, not an object", kind(&other)),
            )),
            Err(ParseError::Invalid(err)) => Err(row_error(
                file,
                line,
                Some(offset),
                None,
                format!("invalid JSON at {}: {}", position(err.line(), err.column()), bare_message(&err)),
            )),
            Err(ParseError::Duplicate { path, line: at_line, column: at_column }) => {
                let message =
                    format!("key `{path}` appears twice (the second time at {})", position(at_line, at_column));
                Err(row_error(file, line, Some(offset), Some(path), message))
            }
        }
    }
}

/// Sets the value at `path` (keys and array indices) inside `fields` to null.
fn clear(fields: &mut Map<String, Value>, path: &[String]) {
    if let Some((key, inside)) = path.split_first() {
        if let Some(value) = fields.get_mut(key) {
            rapport_model::json::set_null(value, inside);
        }
    }
}

/// Why a JSON text is not a value.
#[derive(Debug)]
enum ParseError {
    /// It is not JSON.
    Invalid(serde_json::Error),
    /// An object holds a key twice: the key's path (object keys and array indices, joined by `.`) and the 1-based
    /// line and column in the text where the key opens the second time.
    Duplicate { path: String, line: usize, column: usize },
}

/// A parsed JSON text, and the integer literals in it too large for 64 bits (see the module documentation),
/// which the value holds rounded to floats, each with the 1-based line and column in the text where it starts.
#[derive(Debug, PartialEq)]
struct Parsed {
    value: Value,
    large: Vec<(LargeInteger, (usize, usize))>,
}

/// Parses `text` as `serde_json::from_slice::<Value>` does, except that an object holding a key twice fails,
/// and that integers too large for 64 bits are listed.
fn parse(text: &[u8]) -> Result<Parsed, ParseError> {
    let mut duplicate = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let parsed = Strict { duplicate: &mut duplicate }
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    match parsed {
        Ok(value) => {
            let large = rapport_model::json::large_integers(text)
                .into_iter()
                .map(|large| {
                    let position = line_column(text, large.offset);
                    (large, position)
                })
                .collect();
            Ok(Parsed { value, large })
        }
        Err(err) if duplicate.is_empty() => Err(ParseError::Invalid(err)),
        Err(err) => {
            duplicate.reverse();
            let (line, column) = key_start(text, &err).unwrap_or((err.line(), err.column()));
            Err(ParseError::Duplicate { path: duplicate.join("."), line, column })
        }
    }
}

/// Where the key serde_json stopped just after opens: its 1-based line and column in `text`.
fn key_start(text: &[u8], err: &serde_json::Error) -> Option<(usize, usize)> {
    // serde_json places the error at the byte after the key (skipping whitespace): back over it, the `:` if
    // already read and whitespace, to the key's closing quote, then to the opening quote, the first one before
    // it not escaped by an odd run of backslashes.
    let line_start = if err.line() <= 1 {
        0
    } else {
        text.iter().enumerate().filter(|(_, byte)| **byte == b'\n').nth(err.line() - 2)?.0 + 1
    };
    let after = (line_start + err.column()).min(text.len());
    let closing = text[..after].iter().rposition(|byte| !matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b':'))?;
    if text[closing] != b'"' {
        return None;
    }
    let mut end = closing;
    let opening = loop {
        let quote = text[..end].iter().rposition(|byte| *byte == b'"')?;
        let backslashes = text[..quote].iter().rev().take_while(|byte| **byte == b'\\').count();
        if backslashes % 2 == 0 {
            break quote;
        }
        end = quote;
    };
    Some(line_column(text, opening))
}

/// The 1-based line and column of byte `offset` in `text`.
fn line_column(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = 1 + before.iter().filter(|byte| **byte == b'\n').count();
    let column = offset - before.iter().rposition(|byte| *byte == b'\n').map_or(0, |newline| newline + 1) + 1;
    (line, column)
}

/// A JSON value read as serde_json's `Value` reads itself, except that an object holding a key twice is an
/// error; `duplicate` then holds the key's path, innermost first (each enclosing object or array adds its key
/// or index on the way out). Nothing is allocated for the check: the key is looked for where it is inserted.
struct Strict<'p> {
    duplicate: &'p mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            match seq.next_element_seed(Strict { duplicate: &mut *self.duplicate }) {
                Ok(Some(value)) => values.push(value),
                Ok(None) => return Ok(Value::Array(values)),
                Err(err) => {
                    if !self.duplicate.is_empty() {
                        self.duplicate.push(values.len().to_string());
                    }
                    return Err(err);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match object.entry(key) {
                Entry::Occupied(entry) => {
                    self.duplicate.push(entry.key().clone());
                    return Err(A::Error::custom("duplicate key"));
                }
                Entry::Vacant(entry) => match map.next_value_seed(Strict { duplicate: &mut *self.duplicate }) {
                    Ok(value) => {
                        entry.insert(value);
                    }
                    Err(err) => {
                        if !self.duplicate.is_empty() {
                            self.duplicate.push(entry.key().clone());
                        }
                        return Err(err);
                    }
                },
            }
        }
        Ok(Value::Object(object))
    }
}

/// `line L column C` in the file for the 1-based `in_line` and `in_column` serde_json gives in a text that starts
/// in the file at `start` (its 1-based line and column): columns on the text's first line count from `start`.
fn in_file(start: (u64, u64), in_line: usize, in_column: usize) -> String {
    let (line, column) = start;
    let at_line = line + in_line as u64 - 1;
    let at_column = if in_line <= 1 { column + in_column as u64 - 1 } else { in_column as u64 };
    format!("line {at_line} column {at_column}")
}

/// What a JSON value is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// serde_json's message without its " at line L column C" suffix (the caller places the error itself).
fn bare_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    text.strip_suffix(&suffix).map_or(text.clone(), str::to_owned)
}

fn open_skipping_bom(path: &Path, file: &str) -> crate::Result<(BufReader<File>, u64)> {
    let handle = File::open(path).map_err(|source| Error::Open { file: file.to_owned(), source })?;
    let mut input = BufReader::with_capacity(BUFFER, handle);
    let start = input.fill_buf().map_err(|source| Error::Read { file: file.to_owned(), source })?;
    let bom = if start.starts_with(UTF8_BOM) { UTF8_BOM.len() } else { 0 };
    input.consume(bom);
    Ok((input, bom as u64))
}

/// An NDJSON file.
pub(crate) struct NdJsonReader {
    input: BufReader<File>,
    file: String,
    /// The number of the next line.
    line: u64,
    /// File offset of the next line.
    offset: u64,
    buffer: Vec<u8>,
    columns: Columns,
    /// Whether a line other than a blank one was read.
    held_a_line: bool,
}

impl NdJsonReader {
    pub(crate) fn open(path: &Path, file: &str) -> crate::Result<Self> {
        let (input, offset) = open_skipping_bom(path, file)?;
        Ok(Self {
            input,
            file: file.to_owned(),
            line: 1,
            offset,
            buffer: Vec::new(),
            columns: Columns::default(),
            held_a_line: false,
        })
    }
}

impl RowReader for NdJsonReader {
    fn columns(&self) -> Vec<String> {
        self.columns.names.clone()
    }

    fn next_row(&mut self) -> crate::Result<Option<Result<SourceRow, RowError>>> {
        loop {
            self.buffer.clear();
            let read = self
                .input
                .read_until(b'\n', &mut self.buffer)
                .map_err(|source| Error::Read { file: self.file.clone(), source })?;
            if read == 0 {
                // As an empty JSON or CSV file is: nothing in it says it is NDJSON at all.
                if !self.held_a_line {
                    self.held_a_line = true;
                    return Err(Error::BadFile {
                        file: self.file.clone(),
                        offset: None,
                        reason: "the file is empty".to_owned(),
                    });
                }
                return Ok(None);
            }
            let (line, offset) = (self.line, self.offset);
            self.line += 1;
            self.offset += read as u64;
            if self.buffer.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.held_a_line = true;
            let text = self.buffer.strip_suffix(b"\n").unwrap_or(&self.buffer);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            let row =
                self.columns.object_row(&self.file, (line, offset), parse(text), "the line holds", |_, column| {
                    format!("column {column}")
                });
            return Ok(Some(row));
        }
    }

    fn bytes_read(&self) -> u64 {
        self.offset
    }
}

/// Where the array scanner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first element (just after `[`).
    First,
    /// After an element: a `,` or `]` comes next.
    AfterElement,
    /// Done (after `]`, the single object, or a structural error that failed the file).
    Done,
}

/// A JSON file: an array of objects, or one object.
pub(crate) struct JsonArrayReader {
    input: BufReader<File>,
    file: String,
    /// Position of the next byte: 1-based line and column, file offset.
    line: u64,
    column: u64,
    offset: u64,
    state: State,
    /// The single top-level object, when the file holds one: its row, or the file's failure.
    single: Option<crate::Result<Result<SourceRow, RowError>>>,
    element: Vec<u8>,
    columns: Columns,
}

impl JsonArrayReader {
    pub(crate) fn open(path: &Path, file: &str) -> crate::Result<Self> {
        let (input, offset) = open_skipping_bom(path, file)?;
        let mut this = Self {
            input,
            file: file.to_owned(),
            line: 1,
            column: 1,
            offset,
            state: State::First,
            single: None,
            element: Vec::new(),
            columns: Columns::default(),
        };
        this.skip_whitespace()?;
        match this.peek()? {
            Some(b'[') => {
                this.bump()?;
            }
            Some(b'{') => {
                this.single = Some(this.single_object()?);
                this.state = State::Done;
            }
            None => {
                return Err(Error::BadFile {
                    file: file.to_owned(),
                    offset: None,
                    reason: "the file is empty".to_owned(),
                })
            }
            Some(other) => {
                return Err(Error::BadFile {
                    file: file.to_owned(),
                    offset: Some(this.offset),
                    reason: format!(
                        "a JSON file must hold an array of objects or one object, but it starts with `{}`",
                        char::from(other).escape_default()
                    ),
                })
            }
        }
        Ok(this)
    }

    /// Reads the file's single object, which starts at the current position: one object is one row, read whole.
    /// Broken inside, it is a rejected row; the file ending before the object does, or anything but whitespace
    /// after its closing `}`, is no rejected row but the file's failure, as for an array (returned here for
    /// [`RowReader::next_row`] to give, as the failure of an array comes from it).
    fn single_object(&mut self) -> crate::Result<crate::Result<Result<SourceRow, RowError>>> {
        let (line, column, offset) = (self.line, self.column, self.offset);
        if !self.scan_element()? {
            return Ok(Err(self.broken_at(
                (line, column, offset),
                "the file ends inside the object starting here (an unterminated string or a missing `}` or `]`)",
            )));
        }
        self.skip_whitespace()?;
        if self.peek()?.is_some() {
            let found = self.shown_next()?;
            return Ok(Err(
                self.broken(format!("`{found}` after the object's closing `}}` (only whitespace may follow it)"))
            ));
        }
        let file = &self.file;
        Ok(Ok(self.columns.object_row(
            file,
            (line, offset),
            parse(&self.element),
            "the file holds",
            |in_line, in_column| in_file((line, column), in_line, in_column),
        )))
    }

    fn peek(&mut self) -> crate::Result<Option<u8>> {
        let buffer = self.input.fill_buf().map_err(|source| Error::Read { file: self.file.clone(), source })?;
        Ok(buffer.first().copied())
    }

    /// Consumes one byte, keeping line, column and offset.
    fn bump(&mut self) -> crate::Result<Option<u8>> {
        let byte = self.peek()?;
        if let Some(byte) = byte {
            self.input.consume(1);
            self.offset += 1;
            if byte == b'\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        Ok(byte)
    }

    fn skip_whitespace(&mut self) -> crate::Result<()> {
        while let Some(byte) = self.peek()? {
            if !matches!(byte, b' ' | b'\t' | b'\r' | b'\n') {
                break;
            }
            self.bump()?;
        }
        Ok(())
    }

    /// Reads one element's bytes into `self.element`; false when the input ends inside it.
    fn scan_element(&mut self) -> crate::Result<bool> {
        self.element.clear();
        let mut depth = 0u32;
        let mut in_string = false;
        let mut escaped = false;
        loop {
            let Some(byte) = self.peek()? else { return Ok(depth == 0 && !in_string) };
            if in_string {
                self.element.push(byte);
                self.bump()?;
                if escaped {
                    escaped = false;
                } else if byte == b'\\' {
                    escaped = true;
                } else if byte == b'"' {
                    in_string = false;
                    if depth == 0 {
                        return Ok(true);
                    }
                }
                continue;
            }
            match byte {
                // A `}` closes nothing here: the element ends before it, and the caller finds it out of place.
                b',' | b']' | b'}' if depth == 0 => return Ok(true),
                b' ' | b'\t' | b'\r' | b'\n' if depth == 0 => return Ok(true),
                _ => {}
            }
            self.element.push(byte);
            self.bump()?;
            match byte {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(true);
                    }
                }
                _ => {}
            }
        }
    }

    /// Reads and parses the element starting at the current position, the first of the array or one after a `,`
    /// (`after_comma`). Where the element should start, the end of the file, a `,` or a `]` is no element: the
    /// array is broken there, and so it is when the file ends inside the element (it fails where the element
    /// starts).
    fn element_row(&mut self, after_comma: bool) -> crate::Result<Result<SourceRow, RowError>> {
        let missing = match self.peek()? {
            None => Some("the file ends before the array's closing `]`".to_owned()),
            Some(b',') if after_comma => Some("expected an array element after `,`, found `,`".to_owned()),
            Some(b',') => Some("expected an array element or `]`, found `,`".to_owned()),
            Some(b']') => Some(
                "expected an array element after `,`, found `]` (JSON allows no `,` before the closing `]`)".to_owned(),
            ),
            Some(b'}') if after_comma => Some("expected an array element after `,`, found `}`".to_owned()),
            Some(b'}') => Some("expected an array element or `]`, found `}`".to_owned()),
            Some(_) => None,
        };
        if let Some(what) = missing {
            self.state = State::Done;
            return Err(self.broken(what));
        }
        let (line, column, offset) = (self.line, self.column, self.offset);
        let complete = self.scan_element()?;
        if !complete {
            self.state = State::Done;
            return Err(self.broken_at(
                (line, column, offset),
                "the file ends inside the array element starting here (an unterminated string or a missing `}` or \
                 `]`)",
            ));
        }
        self.state = State::AfterElement;
        let file = &self.file;
        Ok(self.columns.object_row(
            file,
            (line, offset),
            parse(&self.element),
            "the array element is",
            |in_line, in_column| in_file((line, column), in_line, in_column),
        ))
    }
}

impl RowReader for JsonArrayReader {
    fn columns(&self) -> Vec<String> {
        self.columns.names.clone()
    }

    fn next_row(&mut self) -> crate::Result<Option<Result<SourceRow, RowError>>> {
        if let Some(single) = self.single.take() {
            return single.map(Some);
        }
        match self.state {
            State::Done => Ok(None),
            State::First => {
                self.skip_whitespace()?;
                if self.peek()? == Some(b']') {
                    self.bump()?;
                    self.state = State::Done;
                    self.after_array()
                } else {
                    self.element_row(false).map(Some)
                }
            }
            State::AfterElement => {
                self.skip_whitespace()?;
                match self.peek()? {
                    Some(b',') => {
                        self.bump()?;
                        self.skip_whitespace()?;
                        self.element_row(true).map(Some)
                    }
                    Some(b']') => {
                        self.bump()?;
                        self.state = State::Done;
                        self.after_array()
                    }
                    None => {
                        self.state = State::Done;
                        Err(self.broken("the file ends before the array's closing `]`".to_owned()))
                    }
                    Some(_) => {
                        // A missing comma: where one element ends and the next begins is a guess.
                        self.state = State::Done;
                        let found = self.shown_next()?;
                        Err(self.broken(format!("expected `,` or `]` after an array element, found `{found}`")))
                    }
                }
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        self.offset
    }
}

impl JsonArrayReader {
    /// After the closing `]`: only whitespace may follow.
    fn after_array(&mut self) -> crate::Result<Option<Result<SourceRow, RowError>>> {
        self.skip_whitespace()?;
        if self.peek()?.is_some() {
            let found = self.shown_next()?;
            return Err(self.broken(format!("`{found}` after the array's closing `]` (only whitespace may follow it)")));
        }
        Ok(None)
    }

    /// The array's structure is broken at the current position: the file error saying where and how.
    fn broken(&self, what: String) -> Error {
        self.broken_at((self.line, self.column, self.offset), &what)
    }

    /// The array's structure is broken at `line`, `column` and `offset`: the file error saying where and how.
    fn broken_at(&self, (line, column, offset): (u64, u64, u64), what: &str) -> Error {
        Error::BadFile {
            file: self.file.clone(),
            offset: Some(offset),
            reason: format!("line {line} column {column} (byte {offset}): {what}"),
        }
    }

    /// The character at the current position, for a message: control characters escaped, `�` for bytes that are
    /// not UTF-8.
    fn shown_next(&mut self) -> crate::Result<String> {
        let buffer = self.input.fill_buf().map_err(|source| Error::Read { file: self.file.clone(), source })?;
        let start = &buffer[..buffer.len().min(4)];
        let valid = match std::str::from_utf8(start) {
            Ok(text) => text,
            // A character cut by the end of the buffer or the file reads as not UTF-8: good enough for a message.
            Err(err) => std::str::from_utf8(&start[..err.valid_up_to()]).unwrap_or_default(),
        };
        Ok(valid.chars().next().unwrap_or(char::REPLACEMENT_CHARACTER).escape_debug().to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn strict_parsing_reads_what_serde_json_reads() {
        // Numbers at the edges of each kind, escapes, nesting, empty containers, keys differing by case only:
        // the same values, and the same errors with the same positions.
        let texts: [&[u8]; 6] = [
            br#"{"u": 18446744073709551615, "i": -9223372036854775808, "f": 0.1, "e": 1e308, "z": -0.0}"#,
            br#"{"s": "\ud83d\ude00 \"q\" \\ \n", "n": null, "t": true, "a": [[], {}, [1, [2, {"x": []}]]]}"#,
            br#" {"a": 1, "A": 2} "#,
            br#"{"a": tru}"#,
            br#"{"a": 1} x"#,
            b"{\"a\":\n 1,\n \"b\" 2}",
        ];
        for text in texts {
            let expected = serde_json::from_slice::<Value>(text).map_err(|err| err.to_string());
            let parsed = parse(text)
                .map(|parsed| {
                    assert_eq!(parsed.large, [], "{text:?}");
                    parsed.value
                })
                .map_err(|err| match err {
                    ParseError::Invalid(err) => err.to_string(),
                    ParseError::Duplicate { path, .. } => panic!("duplicate `{path}` in {text:?}"),
                });
            assert_eq!(parsed, expected, "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn integers_too_large_for_64_bits_name_their_path_and_floats_written_as_floats_pass() {
        let large = |text: &[u8]| match parse(text) {
            Ok(Parsed { mut large, .. }) if large.len() == 1 => large.remove(0),
            other => panic!("{other:?}"),
        };
        let at = |path: &str, literal: &str, offset, line, column| {
            let path = path.split('.').map(str::to_owned).collect();
            (LargeInteger { path, literal: literal.to_owned(), offset }, (line, column))
        };
        assert_eq!(large(br#"{"id": 123456789012345678901234}"#), at("id", "123456789012345678901234", 7, 1, 8));
        // One above u64::MAX, in an array; one below i64::MIN, on the second line.
        assert_eq!(large(br#"{"a": [1, 18446744073709551616]}"#), at("a.1", "18446744073709551616", 10, 1, 11));
        assert_eq!(large(b"{\"n\":\n -9223372036854775809}"), at("n", "-9223372036854775809", 7, 2, 2));
        // Floats written with an exponent or a fraction pass; the integer after them is still found.
        let text = br#"{"f": 1e20, "g": 12345678901234567890.0, "k": {"id": 99999999999999999999}}"#;
        assert_eq!(large(text), at("k.id", "99999999999999999999", 53, 1, 54));
        // At the edges of the 64-bit ranges, as floats, and as digits in strings: read as serde_json reads them.
        let texts: [&[u8]; 3] = [
            br#"{"u": 18446744073709551615, "i": -9223372036854775808, "s": "123456789012345678901234"}"#,
            br#"{"f": 1e20, "g": -12345678901234567890.0, "h": 1.5e300, "j": [9223372036854775807]}"#,
            br#"[12345678901234567890123e0, 0.1234567890123456789012]"#,
        ];
        for text in texts {
            assert_eq!(parse(text).unwrap(), Parsed { value: serde_json::from_slice(text).unwrap(), large: vec![] });
        }
    }

    #[test]
    fn duplicates_name_their_path_and_where_the_key_opens_again() {
        let duplicate = |text: &[u8]| match parse(text) {
            Err(ParseError::Duplicate { path, line, column }) => (path, line, column),
            other => panic!("{other:?}"),
        };
        assert_eq!(duplicate(br#"[[{"a":1,"a":1}]]"#), ("0.0.a".to_owned(), 1, 10));
        // Whitespace and a line end between the key and its colon; the first duplicate found is the one named.
        assert_eq!(duplicate(b"{\"o\": {\"k\": 1,\n  \"k\"\n  : 2, \"k\": 3}, \"o\": 0}"), ("o.k".to_owned(), 2, 3));
        // A key ending in an escaped backslash, then one holding an escaped quote.
        assert_eq!(duplicate(br#"{"a\\":1,"a\\":2}"#), ("a\\".to_owned(), 1, 10));
        assert_eq!(duplicate(br#"{"\"":1,"\"":2}"#), ("\"".to_owned(), 1, 9));
    }
}
