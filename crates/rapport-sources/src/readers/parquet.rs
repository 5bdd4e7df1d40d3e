//! Parquet files, through the `parquet` crate's record API (no Arrow).
//!
//! Each record becomes a JSON object keyed by the schema's top-level field names; see
//! [`FileFormat::Parquet`](super::FileFormat::Parquet) for how values convert. Rows are numbered from 1 and
//! carry no byte offset (Parquet is columnar: a row has no single place in the file). Progress advances a row
//! group at a time, by the group's compressed size.
//!
//! The record API converts dates, and millisecond and microsecond times and timestamps, itself; nanosecond
//! ones (`TIME(NANOS, ..)`, `TIMESTAMP(NANOS, ..)`) it leaves as bare integers. When a file has such columns,
//! each record is converted alongside the schema so that they become text like the others.
//!
//! The record API fails the whole iteration on a text value (a `BYTE_ARRAY` annotated `UTF8`, `ENUM` or `JSON`)
//! that is not UTF-8, and cannot go on after it: the failing column is left unread, out of step with the others.
//! A file holding text columns is therefore read through [`TextAsBytes`], which describes those columns to the
//! record API as plain `BYTE_ARRAY`: their values come as bytes, and [`to_json`] makes them text, following the
//! schema, so that a value that is not UTF-8 is read alone as null and the other values and rows load.
//!
//! A value that cannot be converted (text that is not UTF-8, a date, time or timestamp out of range, a decimal
//! wider than 128 bits) is read as null and noted as a fault of its row, with its path (`address.city`,
//! `tags.1`, a map's entry by its index): a mapping that reads it rejects the row as `unparsable`
//! ([`crate::mapping_set::CompiledMapping::map_row`]), one that does not loads it.
//!
//! The record API panics on some columns instead of failing: it does not convert `INTERVAL` (an
//! `unimplemented!` as soon as a value is read) and asserts on the shape of `LIST` and `MAP` groups and on
//! groups without fields. A file holding such a column is refused when it is opened, from its schema, naming the
//! column's path and what it is ([`readable`]); nothing is read from it.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat};
use parquet::basic::{ConvertedType, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::bloom_filter::Sbbf;
use parquet::column::page::PageReader;
use parquet::column::reader::ColumnReader;
use parquet::data_type::Decimal;
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData, RowGroupMetaData};
use parquet::file::reader::{FileReader, RowGroupReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::{Field, Row};
use parquet::schema::types::{ColumnDescPtr, ColumnDescriptor, Type};
use rapport_model::{RowError, RowErrorCode, RowFault};
use serde_json::{Map, Number, Value};

use crate::{Error, RowReader, SourceRow};

/// An open Parquet file.
pub(crate) struct ParquetReader {
    rows: RowIter<'static>,
    file: String,
    columns: Vec<String>,
    /// The schema, when it has nanosecond times or timestamps (which records hold as bare integers) or text
    /// columns (which they hold as bytes, see [`TextAsBytes`]).
    schema: Option<Arc<Type>>,
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
            offset: None,
            reason: format!("not a readable Parquet file: {err}"),
        })?;
        let metadata = reader.metadata();
        let schema = metadata.file_metadata().schema_descr().root_schema_ptr();
        if let Some((column, what)) = schema.get_fields().iter().find_map(|field| readable(field, "").err()) {
            return Err(Error::BadFile {
                file: file.to_owned(),
                offset: None,
                reason: format!("column `{column}` {what}; nothing is loaded"),
            });
        }
        let columns = schema.get_fields().iter().map(|field| field.name().to_owned()).collect();
        let text = has_leaf(&schema, &is_text);
        let schema = (text || has_leaf(&schema, &|node| nanos(node).is_some())).then_some(schema);
        let mut groups = Vec::with_capacity(metadata.num_row_groups());
        let (mut rows, mut bytes) = (0u64, 0u64);
        for group in metadata.row_groups() {
            rows += u64::try_from(group.num_rows()).unwrap_or(0);
            bytes += u64::try_from(group.compressed_size()).unwrap_or(0);
            groups.push((rows, bytes));
        }
        let rows = if text {
            RowIter::from_file_into(Box::new(TextAsBytes { inner: reader }))
        } else {
            RowIter::from_file_into(Box::new(reader))
        };
        Ok(Self { rows, file: file.to_owned(), columns, schema, read: 0, groups, groups_done: 0 })
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
            offset: None,
            reason: format!("record {} cannot be decoded: {err}", self.read),
        })?;
        let mut faults = Vec::new();
        let fields = row_to_map(&row, self.schema.as_deref().map(Type::get_fields), &mut faults);
        let faults = faults
            .into_iter()
            .map(|(path, message)| RowFault { path, code: RowErrorCode::Unparsable, message })
            .collect();
        Ok(Some(Ok(SourceRow { line: self.read, offset: None, fields, faults })))
    }

    fn bytes_read(&self) -> u64 {
        self.groups_done.checked_sub(1).and_then(|done| self.groups.get(done)).map_or(0, |(_, bytes)| *bytes)
    }
}

/// A value that cannot be converted: (field path, message).
type Fault = (String, String);

/// The schema node a value was read from, followed only when the file has nanosecond columns (`None`: the value
/// converts without it).
type Node<'a> = Option<&'a Type>;

/// A value that cannot be converted: (its path from the value being converted, message). The value is read as
/// null; the row's mapping decides whether that rejects the row ([`RowFault`]).
type ValueFault = (Vec<String>, String);

/// Runs `convert` on a value at `step` inside the one being converted, placing the faults it adds under `step`.
fn inside<T>(faults: &mut Vec<ValueFault>, step: &str, convert: impl FnOnce(&mut Vec<ValueFault>) -> T) -> T {
    let start = faults.len();
    let out = convert(faults);
    for (path, _) in &mut faults[start..] {
        path.insert(0, step.to_owned());
    }
    out
}

/// A group's fields as a map; `fields` are the schema nodes of its fields, when followed. Values that cannot
/// be converted are null, and added to `faults`.
fn row_to_map(row: &Row, fields: Option<&[Arc<Type>]>, faults: &mut Vec<ValueFault>) -> Map<String, Value> {
    let mut map = Map::new();
    for (index, (name, field)) in row.get_column_iter().enumerate() {
        // A row holds the group's fields in schema order.
        let node = fields.and_then(|fields| fields.get(index)).map(Arc::as_ref).filter(|node| node.name() == name);
        let value = inside(faults, name, |faults| to_json(field, node, faults));
        map.insert(name.clone(), value);
    }
    map
}

/// A time or timestamp in nanoseconds, which the record API leaves as a bare `i64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nanos {
    Time,
    Timestamp,
}

fn nanos(node: &Type) -> Option<Nanos> {
    if !node.is_primitive() {
        return None;
    }
    match node.get_basic_info().logical_type_ref()? {
        LogicalType::Time { unit: TimeUnit::NANOS, .. } => Some(Nanos::Time),
        LogicalType::Timestamp { unit: TimeUnit::NANOS, .. } => Some(Nanos::Timestamp),
        _ => None,
    }
}

/// Whether a primitive anywhere in `node` is one `leaf` accepts.
fn has_leaf(node: &Type, leaf: &dyn Fn(&Type) -> bool) -> bool {
    if node.is_group() {
        node.get_fields().iter().any(|field| has_leaf(field, leaf))
    } else {
        leaf(node)
    }
}

/// Whether the record API reads the values of `node` as text (`Field::Str`, failing on bytes that are not UTF-8):
/// a `BYTE_ARRAY` annotated `UTF8`, `ENUM` or `JSON` (`Field::convert_byte_array` in the parquet crate).
fn is_text(node: &Type) -> bool {
    node.is_primitive()
        && node.get_physical_type() == PhysicalType::BYTE_ARRAY
        && matches!(
            node.get_basic_info().converted_type(),
            ConvertedType::UTF8 | ConvertedType::ENUM | ConvertedType::JSON
        )
}

/// The text of a value the record API would read as text: a string, or the bytes of a text column read through
/// [`TextAsBytes`] (`node` says which); `None` for any other value. Bytes that are not UTF-8 give the message
/// saying so.
fn text(field: &Field, node: Node<'_>) -> Option<Result<String, String>> {
    match field {
        Field::Str(value) => Some(Ok(value.clone())),
        Field::Bytes(value) if node.is_some_and(is_text) => Some(match std::str::from_utf8(value.data()) {
            Ok(value) => Ok(value.to_owned()),
            Err(err) => Err(format!(
                "the value is not valid UTF-8 (invalid byte at position {} of the value)",
                err.valid_up_to() + 1
            )),
        }),
        _ => None,
    }
}

/// A Parquet file whose text columns (see [`is_text`]) the record API is told are plain `BYTE_ARRAY`: their
/// values come as `Field::Bytes`, converted by [`to_json`] with the real schema. Only the column descriptions the
/// record API converts values by change (each row group's [`RowGroupMetaData`]); the schema it assembles
/// records by, and the pages it decodes, are the file's.
struct TextAsBytes {
    inner: SerializedFileReader<File>,
}

impl FileReader for TextAsBytes {
    fn metadata(&self) -> &ParquetMetaData {
        self.inner.metadata()
    }

    fn num_row_groups(&self) -> usize {
        self.inner.num_row_groups()
    }

    fn get_row_group(&self, i: usize) -> parquet::errors::Result<Box<dyn RowGroupReader + '_>> {
        let inner = self.inner.get_row_group(i)?;
        let original = inner.metadata();
        let columns = original
            .columns()
            .iter()
            .map(|column| ColumnChunkMetaData::builder(text_as_bytes(column.column_descr_ptr())?).build())
            .collect::<parquet::errors::Result<Vec<_>>>()?;
        let metadata = RowGroupMetaData::builder(original.schema_descr_ptr())
            .set_num_rows(original.num_rows())
            .set_total_byte_size(original.total_byte_size())
            .set_column_metadata(columns)
            .build()?;
        Ok(Box::new(TextAsBytesGroup { inner, metadata }))
    }

    fn get_row_iter(&self, projection: Option<Type>) -> parquet::errors::Result<RowIter<'_>> {
        RowIter::from_file(projection, self)
    }
}

/// A row group of a [`TextAsBytes`] file: the file's own, described with text columns as plain `BYTE_ARRAY`.
struct TextAsBytesGroup<'a> {
    inner: Box<dyn RowGroupReader + 'a>,
    metadata: RowGroupMetaData,
}

impl RowGroupReader for TextAsBytesGroup<'_> {
    fn metadata(&self) -> &RowGroupMetaData {
        &self.metadata
    }

    fn num_columns(&self) -> usize {
        self.inner.num_columns()
    }

    fn get_column_page_reader(&self, i: usize) -> parquet::errors::Result<Box<dyn PageReader>> {
        self.inner.get_column_page_reader(i)
    }

    fn get_column_reader(&self, i: usize) -> parquet::errors::Result<ColumnReader> {
        self.inner.get_column_reader(i)
    }

    fn get_column_bloom_filter(&self, i: usize) -> Option<&Sbbf> {
        self.inner.get_column_bloom_filter(i)
    }

    fn get_row_iter(&self, projection: Option<Type>) -> parquet::errors::Result<RowIter<'_>> {
        RowIter::from_row_group(projection, self)
    }
}

/// `column` as is, or, for a text column, as a plain `BYTE_ARRAY` of the same name, repetition, levels and path.
fn text_as_bytes(column: ColumnDescPtr) -> parquet::errors::Result<ColumnDescPtr> {
    let node = column.self_type();
    if !is_text(node) {
        return Ok(column);
    }
    let basic = node.get_basic_info();
    let plain = Type::primitive_type_builder(basic.name(), PhysicalType::BYTE_ARRAY)
        .with_repetition(basic.repetition())
        .build()?;
    Ok(Arc::new(ColumnDescriptor::new(
        Arc::new(plain),
        column.max_def_level(),
        column.max_rep_level(),
        column.path().clone(),
    )))
}

/// Checks that the record API can read the field `node` of a group at `parent` (its path, empty at the top),
/// following the schema as the record API builds its readers (`TreeBuilder::reader_tree` in the parquet crate)
/// and converts values (`Field::convert_*`): else the first column at fault, by its path, and what it is. Those
/// would panic, at the first row (a list or map of the wrong shape, a group without fields) or at the first value
/// (a primitive annotation the record API does not convert: INTERVAL, the only one the crate's schema checks let
/// through).
fn readable(node: &Type, parent: &str) -> Result<(), Fault> {
    let path = if parent.is_empty() { node.name().to_owned() } else { join(parent, node.name()) };
    if node.is_primitive() {
        return if converts(node) {
            Ok(())
        } else {
            Err((path, format!("is {}, which the Parquet record reader cannot convert", describe(node))))
        };
    }
    let repeated = |field: &Type| {
        field.get_basic_info().has_repetition() && field.get_basic_info().repetition() == Repetition::REPEATED
    };
    let fields = node.get_fields();
    match node.get_basic_info().converted_type() {
        ConvertedType::LIST => {
            let [repeated_field] = fields else {
                return Err((
                    path,
                    format!("is a LIST group holding {} fields (a list holds one repeated field)", fields.len()),
                ));
            };
            if !repeated(repeated_field) {
                let basic = repeated_field.get_basic_info();
                let repetition =
                    if basic.has_repetition() { basic.repetition().to_string() } else { "unset".to_owned() };
                return Err((
                    path,
                    format!(
                        "is a LIST group whose field `{}` is {repetition} (a list holds one repeated field)",
                        repeated_field.name()
                    ),
                ));
            }
            if legacy_element(repeated_field) {
                return readable(repeated_field, &path);
            }
            let wrapper = join(&path, repeated_field.name());
            match repeated_field.get_fields().first() {
                Some(element) => readable(element, &wrapper),
                None => Err((wrapper, "is a group with no fields".to_owned())),
            }
        }
        ConvertedType::MAP | ConvertedType::MAP_KEY_VALUE => {
            let [entry] = fields else {
                return Err((
                    path,
                    format!(
                        "is a MAP group holding {} fields (a map holds one repeated group of key and value)",
                        fields.len()
                    ),
                ));
            };
            if entry.is_primitive() || !repeated(entry) {
                return Err((
                    path,
                    format!(
                        "is a MAP group whose field `{}` is no repeated group (a map holds one repeated group of key \
                         and value)",
                        entry.name()
                    ),
                ));
            }
            let entry_path = join(&path, entry.name());
            match entry.get_fields() {
                [key, ..] if key.is_group() => Err((
                    join(&entry_path, key.name()),
                    "is a map key that is a group (map keys are primitive)".to_owned(),
                )),
                [key] => readable(key, &entry_path),
                [key, value] => readable(key, &entry_path).and_then(|()| readable(value, &entry_path)),
                others => Err((
                    entry_path,
                    format!(
                        "is a map entry holding {} fields (a map entry holds a key and at most a value)",
                        others.len()
                    ),
                )),
            }
        }
        _ if fields.is_empty() => Err((path, "is a group with no fields".to_owned())),
        _ => fields.iter().try_for_each(|field| readable(field, &path)),
    }
}

/// Whether the record API converts the values of the primitive `node` (`Field::convert_*` in the parquet crate,
/// which panics on any other annotation).
fn converts(node: &Type) -> bool {
    use ConvertedType as C;
    let converted = node.get_basic_info().converted_type();
    match node.get_physical_type() {
        PhysicalType::BOOLEAN | PhysicalType::INT96 | PhysicalType::FLOAT | PhysicalType::DOUBLE => true,
        PhysicalType::INT32 => matches!(
            converted,
            C::NONE
                | C::INT_8
                | C::INT_16
                | C::INT_32
                | C::UINT_8
                | C::UINT_16
                | C::UINT_32
                | C::DATE
                | C::TIME_MILLIS
                | C::DECIMAL
        ),
        PhysicalType::INT64 => matches!(
            converted,
            C::NONE | C::INT_64 | C::UINT_64 | C::TIME_MICROS | C::TIMESTAMP_MILLIS | C::TIMESTAMP_MICROS | C::DECIMAL
        ),
        PhysicalType::BYTE_ARRAY => matches!(converted, C::NONE | C::UTF8 | C::ENUM | C::JSON | C::BSON | C::DECIMAL),
        PhysicalType::FIXED_LEN_BYTE_ARRAY => matches!(converted, C::NONE | C::DECIMAL),
    }
}

/// A primitive's type for messages: its annotation, then its physical type (`INTERVAL (FIXED_LEN_BYTE_ARRAY(12))`).
fn describe(node: &Type) -> String {
    let physical = match node {
        Type::PrimitiveType { physical_type: PhysicalType::FIXED_LEN_BYTE_ARRAY, type_length, .. } => {
            format!("FIXED_LEN_BYTE_ARRAY({type_length})")
        }
        _ => node.get_physical_type().to_string(),
    };
    match node.get_basic_info().converted_type() {
        ConvertedType::NONE => physical,
        converted => format!("{converted} ({physical})"),
    }
}

/// Whether the repeated field of a `LIST` group is the element itself, in the legacy two-level forms, as the
/// record API decides it (`Reader::is_element_type`); else it wraps the element.
fn legacy_element(repeated: &Type) -> bool {
    let nested_list = is_list(repeated)
        || repeated.is_group()
            && matches!(repeated.get_fields(), [only] if only.get_basic_info().has_repetition()
                && only.get_basic_info().repetition() == Repetition::REPEATED);
    !nested_list
        && (repeated.is_primitive()
            || repeated.get_fields().len() > 1
            || repeated.name() == "array"
            || repeated.name().ends_with("_tuple"))
}

/// The schema node of a list's elements, as the record API assembles lists: a `LIST` group's repeated child is
/// the element itself in the legacy two-level forms, else it wraps the element; a `MAP` group without values is
/// a list of its keys; any other repeated field is a list of itself.
fn list_element(node: &Type) -> Node<'_> {
    let basic = node.get_basic_info();
    if matches!(basic.converted_type(), ConvertedType::MAP | ConvertedType::MAP_KEY_VALUE) {
        return map_entry(node).0;
    }
    if !is_list(node) {
        return Some(node);
    }
    let repeated = node.get_fields().first()?;
    if legacy_element(repeated) {
        Some(repeated)
    } else if repeated.is_group() {
        repeated.get_fields().first().map(Arc::as_ref)
    } else {
        None
    }
}

/// Whether `node` is a group annotated `LIST`.
fn is_list(node: &Type) -> bool {
    let basic = node.get_basic_info();
    node.is_group()
        && (matches!(basic.logical_type_ref(), Some(LogicalType::List))
            || basic.converted_type() == ConvertedType::LIST)
}

/// The schema nodes of a map's keys and values (a `MAP` group holds a repeated group of key and value).
fn map_entry(node: &Type) -> (Node<'_>, Node<'_>) {
    let entry = node.is_group().then(|| node.get_fields().first()).flatten().filter(|entry| entry.is_group());
    let field = |index: usize| entry.and_then(|entry| entry.get_fields().get(index)).map(Arc::as_ref);
    (field(0), field(1))
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

/// Converts one value read from `node`; a value inside it that cannot be converted is null, and added to
/// `faults` with its path relative to this value (empty: the value itself).
fn to_json(field: &Field, node: Node<'_>, faults: &mut Vec<ValueFault>) -> Value {
    match field {
        Field::Group(row) => {
            Value::Object(row_to_map(row, node.filter(|node| node.is_group()).map(Type::get_fields), faults))
        }
        Field::ListInternal(list) => {
            let element_node = node.and_then(list_element);
            let mut values = Vec::with_capacity(list.len());
            for (index, element) in list.elements().iter().enumerate() {
                values.push(inside(faults, &index.to_string(), |faults| to_json(element, element_node, faults)));
            }
            Value::Array(values)
        }
        Field::MapInternal(map) => {
            let (key_node, value_node) = node.map_or((None, None), map_entry);
            // Text keys make an object; each key is decoded once, here.
            let keys: Option<Vec<Result<String, String>>> =
                map.entries().iter().map(|(key, _)| text(key, key_node)).collect();
            if let Some(keys) = keys {
                let mut object = Map::new();
                for (index, (key, (_, value))) in keys.into_iter().zip(map.entries()).enumerate() {
                    match key {
                        Ok(key) => {
                            let value = inside(faults, &key, |faults| to_json(value, value_node, faults));
                            object.insert(key, value);
                        }
                        // A key that is not UTF-8 is named, and its entry left out.
                        Err(message) => {
                            faults.push((vec![index.to_string()], format!("map key {}: {message}", index + 1)))
                        }
                    }
                }
                Value::Object(object)
            } else {
                let mut pairs = Vec::with_capacity(map.len());
                for (index, (key, value)) in map.entries().iter().enumerate() {
                    let pair = inside(faults, &index.to_string(), |faults| {
                        let mut pair = Map::new();
                        pair.insert("key".to_owned(), to_json(key, key_node, faults));
                        pair.insert("value".to_owned(), to_json(value, value_node, faults));
                        pair
                    });
                    pairs.push(Value::Object(pair));
                }
                Value::Array(pairs)
            }
        }
        _ => scalar(field, node).unwrap_or_else(|message| {
            faults.push((Vec::new(), message));
            Value::Null
        }),
    }
}

/// Converts one value that is neither a group, a list nor a map; the message says why it cannot be.
fn scalar(field: &Field, node: Node<'_>) -> Result<Value, String> {
    Ok(match field {
        Field::Null => Value::Null,
        Field::Bool(value) => Value::Bool(*value),
        Field::Byte(value) => Value::from(*value),
        Field::Short(value) => Value::from(*value),
        Field::Int(value) => Value::from(*value),
        Field::Long(value) => match node.and_then(nanos) {
            Some(Nanos::Timestamp) => Value::String(timestamp_nanos(*value)),
            Some(Nanos::Time) => Value::String(time_nanos(*value)?),
            None => Value::from(*value),
        },
        Field::UByte(value) => Value::from(*value),
        Field::UShort(value) => Value::from(*value),
        Field::UInt(value) => Value::from(*value),
        Field::ULong(value) => Value::from(*value),
        Field::Float16(value) => float(f64::from(value.to_f32())),
        Field::Float(value) => float(f64::from(*value)),
        Field::Double(value) => float(*value),
        Field::Decimal(value) => Value::String(
            decimal(value)
                .ok_or_else(|| format!("the decimal is wider than 128 bits ({} bytes)", value.data().len()))?,
        ),
        Field::Str(value) => Value::String(value.clone()),
        // The bytes of a text column read through `TextAsBytes` are text; other bytes are binary, shown as hex.
        Field::Bytes(value) => match text(field, node) {
            Some(text) => Value::String(text?),
            None => Value::String(value.data().iter().map(|byte| format!("{byte:02x}")).collect()),
        },
        Field::Date(days) => {
            let date = NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|epoch| epoch.checked_add_signed(chrono::TimeDelta::days(i64::from(*days))))
                .ok_or_else(|| format!("date {days} days from 1970-01-01 is out of range"))?;
            Value::String(date.format("%Y-%m-%d").to_string())
        }
        Field::TimeMillis(millis) => Value::String(
            time_nanos(i64::from(*millis) * 1_000_000).map_err(|_| format!("time {millis} ms is out of range"))?,
        ),
        Field::TimeMicros(micros) => Value::String(time_micros(*micros)?),
        Field::TimestampMillis(millis) => {
            let at = DateTime::from_timestamp_millis(*millis)
                .ok_or_else(|| format!("timestamp {millis} ms is out of range"))?;
            Value::String(at.to_rfc3339_opts(SecondsFormat::Millis, true))
        }
        Field::TimestampMicros(micros) => {
            let at = DateTime::from_timestamp_micros(*micros)
                .ok_or_else(|| format!("timestamp {micros} µs is out of range"))?;
            Value::String(at.to_rfc3339_opts(SecondsFormat::Micros, true))
        }
        Field::Group(_) | Field::ListInternal(_) | Field::MapInternal(_) => {
            return Err("a nested value is converted by to_json".to_owned())
        }
    })
}

/// RFC 3339 UTC text with nanoseconds from nanoseconds since the epoch (every `i64` is in range: 1677 to 2262).
fn timestamp_nanos(nanos: i64) -> String {
    DateTime::from_timestamp_nanos(nanos).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// `HH:MM:SS.fff`, `.ffffff` or `.fffffffff` (trailing zero groups trimmed to milliseconds) from microseconds
/// since midnight.
fn time_micros(micros: i64) -> Result<String, String> {
    let nanos = micros.checked_mul(1_000).ok_or_else(|| format!("time {micros} µs is out of range"))?;
    time_nanos(nanos).map_err(|_| format!("time {micros} µs is out of range"))
}

/// `HH:MM:SS.fff`, `.ffffff` or `.fffffffff` (trailing zero groups trimmed to milliseconds) from nanoseconds
/// since midnight.
fn time_nanos(nanos: i64) -> Result<String, String> {
    let out_of_range = || format!("time {nanos} ns is out of range");
    let seconds = u32::try_from(nanos.div_euclid(1_000_000_000)).map_err(|_| out_of_range())?;
    let fraction = u32::try_from(nanos.rem_euclid(1_000_000_000)).map_err(|_| out_of_range())?;
    let time = NaiveTime::from_num_seconds_from_midnight_opt(seconds, fraction).ok_or_else(out_of_range)?;
    let format = if fraction % 1_000_000 == 0 {
        "%H:%M:%S%.3f"
    } else if fraction % 1_000 == 0 {
        "%H:%M:%S%.6f"
    } else {
        "%H:%M:%S%.9f"
    };
    Ok(time.format(format).to_string())
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
    fn times_print_milliseconds_microseconds_or_nanoseconds() {
        assert_eq!(time_micros(3_723_004_000).as_deref(), Ok("01:02:03.004"));
        assert_eq!(time_micros(3_723_004_005).as_deref(), Ok("01:02:03.004005"));
        assert_eq!(time_micros(-1), Err("time -1 µs is out of range".to_owned()));
        assert_eq!(time_micros(i64::MAX), Err(format!("time {} µs is out of range", i64::MAX)));
        assert_eq!(time_nanos(3_723_004_005_006).as_deref(), Ok("01:02:03.004005006"));
        assert_eq!(time_nanos(3_723_004_005_000).as_deref(), Ok("01:02:03.004005"));
        assert_eq!(time_nanos(0).as_deref(), Ok("00:00:00.000"));
        // Midnight at the end of the day is not a time of day (a leap second is not representable either).
        assert_eq!(time_nanos(86_400_000_000_000), Err("time 86400000000000 ns is out of range".to_owned()));
    }

    #[test]
    fn nanosecond_timestamps_print_nine_digits() {
        assert_eq!(timestamp_nanos(1_709_633_472_123_456_789), "2024-03-05T10:11:12.123456789Z");
        assert_eq!(timestamp_nanos(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(timestamp_nanos(i64::MIN), "1677-09-21T00:12:43.145224192Z");
    }
}
