//! Parquet files, through the `parquet` crate's record API (no Arrow).
//!
//! Each record becomes a JSON object keyed by the schema's top-level field names; see
//! [`FileFormat::Parquet`](super::FileFormat::Parquet) for how values convert. Rows are numbered from 1 and
//! carry no byte offset (Parquet is columnar: a row has no single place in the file). Progress advances a row
//! group at a time, by the group's compressed size.

use std::fs::File;
use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat};
use parquet::data_type::Decimal;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::{Field, Row};
use rapport_model::RowError;
use serde_json::{Map, Number, Value};

use super::row_error;
use crate::{Error, RowReader, SourceRow};

/// An open Parquet file.
pub(crate) struct ParquetReader {
    rows: RowIter<'static>,
    file: String,
    columns: Vec<String>,
    /// Rows read so far.
    read: u64,
    /// For each row group: the row count at its end and the compressed bytes up to its end.
    groups: Vec<(u64, u64)>,
    /// Row groups fully read.
    groups_done: usize,
}

impl ParquetReader {
    pub(crate) fn open(path: &Path, file: &str) -> crate::Result<Self> {
        let handle = File::open(path).map_err(|source| Error::Open { file: file.to_owned(), source })?;
        let reader = SerializedFileReader::new(handle).map_err(|err| Error::BadFile {
            file: file.to_owned(),
            reason: format!("not a readable Parquet file: {err}"),
        })?;
        let metadata = reader.metadata();
        let columns =
            metadata.file_metadata().schema().get_fields().iter().map(|field| field.name().to_owned()).collect();
        let mut groups = Vec::with_capacity(metadata.num_row_groups());
        let (mut rows, mut bytes) = (0u64, 0u64);
        for group in metadata.row_groups() {
            rows += u64::try_from(group.num_rows()).unwrap_or(0);
            bytes += u64::try_from(group.compressed_size()).unwrap_or(0);
            groups.push((rows, bytes));
        }
        let rows = RowIter::from_file_into(Box::new(reader));
        Ok(Self { rows, file: file.to_owned(), columns, read: 0, groups, groups_done: 0 })
    }
}

impl RowReader for ParquetReader {
    fn columns(&self) -> Vec<String> {
        self.columns.clone()
    }

    fn next_row(&mut self) -> crate::Result<Option<Result<SourceRow, RowError>>> {
        let Some(next) = self.rows.next() else { return Ok(None) };
        self.read += 1;
        while self.groups.get(self.groups_done).is_some_and(|(end, _)| *end <= self.read) {
            self.groups_done += 1;
        }
        let row = next.map_err(|err| Error::BadFile {
            file: self.file.clone(),
            reason: format!("record {} cannot be decoded: {err}", self.read),
        })?;
        Ok(Some(
            row_to_map(&row)
                .map(|fields| SourceRow { line: self.read, offset: None, fields })
                .map_err(|(field, message)| row_error(&self.file, self.read, None, Some(field), message)),
        ))
    }

    fn bytes_read(&self) -> u64 {
        self.groups_done.checked_sub(1).and_then(|done| self.groups.get(done)).map_or(0, |(_, bytes)| *bytes)
    }
}

/// A value that cannot be converted: (field path, message).
type Fault = (String, String);

fn row_to_map(row: &Row) -> Result<Map<String, Value>, Fault> {
    let mut map = Map::new();
    for (name, field) in row.get_column_iter() {
        let value = to_json(field).map_err(|(path, message)| (join(name, &path), message))?;
        map.insert(name.clone(), value);
    }
    Ok(map)
}

fn join(parent: &str, child: &str) -> String {
    if child.is_empty() {
        parent.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

fn float(value: f64) -> Value {
    match Number::from_f64(value) {
        Some(number) => Value::Number(number),
        None if value.is_nan() => Value::String("NaN".to_owned()),
        None if value > 0.0 => Value::String("Infinity".to_owned()),
        None => Value::String("-Infinity".to_owned()),
    }
}

/// Converts one value; on failure the error's path is relative to this value (empty: the value itself).
fn to_json(field: &Field) -> Result<Value, Fault> {
    let bad = |message: String| (String::new(), message);
    Ok(match field {
        Field::Null => Value::Null,
        Field::Bool(value) => Value::Bool(*value),
        Field::Byte(value) => Value::from(*value),
        Field::Short(value) => Value::from(*value),
        Field::Int(value) => Value::from(*value),
        Field::Long(value) => Value::from(*value),
        Field::UByte(value) => Value::from(*value),
        Field::UShort(value) => Value::from(*value),
        Field::UInt(value) => Value::from(*value),
        Field::ULong(value) => Value::from(*value),
        Field::Float16(value) => float(f64::from(value.to_f32())),
        Field::Float(value) => float(f64::from(*value)),
        Field::Double(value) => float(*value),
        Field::Decimal(value) => Value::String(
            decimal(value)
                .ok_or_else(|| bad(format!("the decimal is wider than 128 bits ({} bytes)", value.data().len())))?,
        ),
        Field::Str(value) => Value::String(value.clone()),
        Field::Bytes(value) => Value::String(value.data().iter().map(|byte| format!("{byte:02x}")).collect()),
        Field::Date(days) => {
            let date = NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|epoch| epoch.checked_add_signed(chrono::TimeDelta::days(i64::from(*days))))
                .ok_or_else(|| bad(format!("date {days} days from 1970-01-01 is out of range")))?;
            Value::String(date.format("%Y-%m-%d").to_string())
        }
        Field::TimeMillis(millis) => Value::String(time(i64::from(*millis) * 1_000).map_err(bad)?),
        Field::TimeMicros(micros) => Value::String(time(*micros).map_err(bad)?),
        Field::TimestampMillis(millis) => {
            let at = DateTime::from_timestamp_millis(*millis)
                .ok_or_else(|| bad(format!("timestamp {millis} ms is out of range")))?;
            Value::String(at.to_rfc3339_opts(SecondsFormat::Millis, true))
        }
        Field::TimestampMicros(micros) => {
            let at = DateTime::from_timestamp_micros(*micros)
                .ok_or_else(|| bad(format!("timestamp {micros} µs is out of range")))?;
            Value::String(at.to_rfc3339_opts(SecondsFormat::Micros, true))
        }
        Field::Group(row) => Value::Object(row_to_map(row)?),
        Field::ListInternal(list) => {
            let mut values = Vec::with_capacity(list.len());
            for (index, element) in list.elements().iter().enumerate() {
                values.push(to_json(element).map_err(|(path, message)| (join(&index.to_string(), &path), message))?);
            }
            Value::Array(values)
        }
        Field::MapInternal(map) => {
            let string_keys = map.entries().iter().all(|(key, _)| matches!(key, Field::Str(_)));
            if string_keys {
                let mut object = Map::new();
                for (key, value) in map.entries() {
                    let Field::Str(key) = key else { continue };
                    let value = to_json(value).map_err(|(path, message)| (join(key, &path), message))?;
                    object.insert(key.clone(), value);
                }
                Value::Object(object)
            } else {
                let mut pairs = Vec::with_capacity(map.len());
                for (index, (key, value)) in map.entries().iter().enumerate() {
                    let at = |(path, message): Fault| (join(&index.to_string(), &path), message);
                    let mut pair = Map::new();
                    pair.insert("key".to_owned(), to_json(key).map_err(at)?);
                    pair.insert("value".to_owned(), to_json(value).map_err(at)?);
                    pairs.push(Value::Object(pair));
                }
                Value::Array(pairs)
            }
        }
    })
}

/// `HH:MM:SS.ffffff` (trailing zero groups trimmed to milliseconds) from microseconds since midnight.
fn time(micros: i64) -> Result<String, String> {
    let seconds =
        u32::try_from(micros.div_euclid(1_000_000)).map_err(|_| format!("time {micros} µs is out of range"))?;
    let nanos =
        u32::try_from(micros.rem_euclid(1_000_000) * 1_000).map_err(|_| format!("time {micros} µs is out of range"))?;
    let time = NaiveTime::from_num_seconds_from_midnight_opt(seconds, nanos)
        .ok_or_else(|| format!("time {micros} µs is out of range"))?;
    Ok(if nanos % 1_000_000 == 0 { time.format("%H:%M:%S%.3f") } else { time.format("%H:%M:%S%.6f") }.to_string())
}

/// The exact decimal text of a Parquet decimal (big-endian two's complement unscaled value and a scale).
fn decimal(value: &Decimal) -> Option<String> {
    let bytes = value.data();
    if bytes.len() > 16 {
        return None;
    }
    let negative = bytes.first().is_some_and(|byte| byte & 0x80 != 0);
    let mut full = if negative { [0xFF; 16] } else { [0; 16] };
    full[16 - bytes.len()..].copy_from_slice(bytes);
    Some(scaled(i128::from_be_bytes(full), value.scale()))
}

/// `unscaled × 10^-scale` as decimal text.
pub(super) fn scaled(unscaled: i128, scale: i32) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale <= 0 {
        let zeros = "0".repeat(usize::try_from(-scale).unwrap_or(0));
        return if unscaled == 0 { "0".to_owned() } else { format!("{sign}{digits}{zeros}") };
    }
    let scale = usize::try_from(scale).unwrap_or(0);
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_every_digit() {
        assert_eq!(scaled(12345, 2), "123.45");
        assert_eq!(scaled(-5, 3), "-0.005");
        assert_eq!(scaled(7, 0), "7");
        assert_eq!(scaled(12, -2), "1200");
        assert_eq!(scaled(i128::MAX, 10), "17014118346046923173168730371.5884105727");
        assert_eq!(decimal(&Decimal::from_i32(-12345, 9, 2)).as_deref(), Some("-123.45"));
    }

    #[test]
    fn times_print_milliseconds_or_microseconds() {
        assert_eq!(time(3_723_004_000).as_deref(), Ok("01:02:03.004"));
        assert_eq!(time(3_723_004_005).as_deref(), Ok("01:02:03.004005"));
        assert!(time(-1).is_err());
    }
}
