//! PostgreSQL tables and queries as sources (the warehouse or CRM replica case), pulled incrementally.
//!
//! [`PgSource::pull`] reads a table or a query. With an [`Incremental`] setting it reads only rows changed
//! since a [`PgCheckpoint`], ordered by the modification column and then by key columns, and returns the
//! checkpoint of the last row read. The high-water mark is the last modification time read, with the keys of
//! every row read at that time ([`PgCheckpoint::at_mark`]): the next pull asks for rows modified later, or at
//! that time with a key not read yet. So rows sharing a modification time are neither lost nor read twice, even
//! when a `limit` cuts a page between them, and a row written later with the mark's very time (whatever its
//! key) is read by the next run. Past [`MAX_AT_MARK`] rows at one time, the mark keeps only the last key and
//! the next pull asks for `(modified, key...) > (last modified, last key...)`: a row written later at that
//! time with a smaller key is then missed.
//!
//! The checkpoint holds PostgreSQL's own text form of the values (`modified::text`), cast back to the
//! column's type in the next query, so it round-trips exactly whatever the type (timestamptz, bigint,
//! numeric, ...). The session runs with `TimeZone = UTC` and `DateStyle = ISO` so the text is stable.
//!
//! Limits, by design:
//! - Rows whose modification time is NULL are not read incrementally; the first pull counts them
//!   ([`PgBatch::null_modified`]) so the caller can warn.
//! - A transaction that commits after a pull with a modification time older than the checkpoint is missed
//!   (the classic high-water-mark caveat): replicas should stamp the time at commit, or the caller can pull
//!   from an older checkpoint now and then.
//!
//! Only identifiers the user names (schema, table, columns) are written into SQL, always quoted; checkpoint
//! values are parameters. A query source is the user's own SQL, wrapped as a subquery.
//!
//! Values become JSON: integers, floats and booleans as JSON numbers and booleans (NaN and infinities as the
//! strings `"NaN"`, `"Infinity"`, `"-Infinity"`); `numeric` as its exact decimal text, because an `f64`
//! would silently round amounts and 20-digit ids; text types and enums as strings; `date` as `YYYY-MM-DD`;
//! `timestamp` as `YYYY-MM-DDTHH:MM:SS[.ffffff]` without zone (it has none); `timestamptz` as RFC 3339 UTC;
//! the special values of those three as PostgreSQL writes them, `"infinity"` and `"-infinity"` (a mapping that
//! reads one as a date rejects that row only); `json`/`jsonb` as JSON; `uuid` as its hyphenated text;
//! one-dimensional arrays of these as arrays; domains as their base type. Other types are refused when the query
//! is prepared, naming the column: cast them in a query source (`addr::text`).
//!
//! A value that cannot be read does not stop the pull: it is read as `null`, and its row carries a [`RowFault`]
//! naming where it is, as a JSON file's row does: the column, then an array member's index, then the keys and
//! indices inside a `json`/`jsonb` value (`extra.ids.1`). That is an integer beyond 64 bits inside a
//! `json`/`jsonb` value ([`rapport_model::json::large_integers`]; jsonb writes `1e20` as such an integer), which
//! would otherwise be read rounded (select it as text), or a date beyond chrono's range (years past 262142). A
//! mapping that reads that value (or what holds it) rejects the row; one that does not loads it.

use std::error::Error as StdError;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use postgres::types::{FromSql, Kind, Type};
use postgres::{Client, NoTls, Statement};
use rapport_model::{RowErrorCode, RowFault};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use tracing::{debug, instrument};

use crate::{Error, Result};

/// What a PostgreSQL source reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PgRelation {
    /// A table or view, optionally schema-qualified.
    Table {
        /// The schema; `None` follows the session's search path.
        schema: Option<String>,
        /// The table's name, exactly as in the catalog (case-sensitive).
        name: String,
    },
    /// A query (a `SELECT`), run as a subquery.
    Query(String),
}

impl PgRelation {
    /// Reads a user's text: a query when it starts with `SELECT`, `WITH`, `VALUES` or `TABLE` or contains
    /// whitespace; otherwise a table name, `schema.table` or `table` (double quotes keep a `.` or case).
    pub fn parse(text: &str) -> PgRelation {
        let trimmed = text.trim();
        let first = trimmed.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        let is_query = matches!(first.as_str(), "select" | "with" | "values" | "table")
            || (trimmed.contains(char::is_whitespace) && !trimmed.starts_with('"'));
        if is_query {
            return PgRelation::Query(trimmed.trim_end_matches(';').trim_end().to_owned());
        }
        let parts = split_qualified(trimmed);
        match parts.as_slice() {
            [schema, name] => PgRelation::Table { schema: Some(schema.clone()), name: name.clone() },
            _ => PgRelation::Table { schema: None, name: parts.concat() },
        }
    }

    /// How the relation is named in messages: `schema.table`, or `query`.
    pub fn describe(&self) -> String {
        match self {
            PgRelation::Table { schema: Some(schema), name } => format!("table `{schema}.{name}`"),
            PgRelation::Table { schema: None, name } => format!("table `{name}`"),
            PgRelation::Query(_) => "the query".to_owned(),
        }
    }

    fn sql_source(&self) -> String {
        match self {
            PgRelation::Table { schema: Some(schema), name } => format!("{}.{}", quote(schema), quote(name)),
            PgRelation::Table { schema: None, name } => quote(name),
            PgRelation::Query(sql) => format!("({})", sql.trim().trim_end_matches(';')),
        }
    }
}

/// Splits `a.b` on dots outside double quotes, unquoting each part (`""` inside quotes is one `"`).
fn split_qualified(text: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                push(&mut parts, '"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(String::new()),
            other => push(&mut parts, other),
        }
    }
    parts
}

fn push(parts: &mut [String], ch: char) {
    if let Some(part) = parts.last_mut() {
        part.push(ch);
    }
}

/// A quoted SQL identifier: `"name"`, with `"` doubled.
fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// How a source is pulled incrementally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incremental {
    /// The modification-time column (any ordered type: timestamptz, timestamp, bigint version, ...).
    pub modified: String,
    /// Columns that make rows with the same modification time distinct, in order. Empty: the table's primary
    /// key (a query source must name them).
    #[serde(default)]
    pub key: Vec<String>,
}

/// The high-water mark of an incremental pull: the last row's modification time and key, in PostgreSQL's
/// text form, and the keys of every row read at that time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgCheckpoint {
    /// The modification column's value, as `::text` prints it.
    pub modified: String,
    /// The key columns' values, as `::text` prints them.
    pub key: Vec<String>,
    /// The keys of all rows read so far whose modification time is `modified`, in the order read; `None` when
    /// there were more than [`MAX_AT_MARK`] (or the mark was taken before these were kept).
    #[serde(default)]
    pub at_mark: Option<Vec<Vec<String>>>,
}

/// The most keys a checkpoint keeps of the rows read at its modification time (see the module docs).
pub const MAX_AT_MARK: usize = 1_000;

/// One row read from PostgreSQL.
#[derive(Debug, Clone, PartialEq)]
pub struct PgRow {
    /// The 1-based row number within this pull.
    pub number: u64,
    /// Column values by column name; a column in [`PgRow::faults`] is `null`.
    pub fields: Map<String, Value>,
    /// The values that could not be read, in column order: each names its column, with the kind of value
    /// (`bad_date` for dates and times, `bad_number` for numbers and JSON, whose numbers are the only JSON that
    /// can fail, `unparsable` otherwise) and why.
    pub faults: Vec<RowFault>,
}

/// What one pull read.
#[derive(Debug, Clone, PartialEq)]
pub struct PgBatch {
    /// The result's column names, in order.
    pub columns: Vec<String>,
    /// The rows, in (modification time, key) order for an incremental pull.
    pub rows: Vec<PgRow>,
    /// The checkpoint to pass to the next pull: the last row's, or the one given when no row was read.
    /// `None` for a full (not incremental) pull.
    pub checkpoint: Option<PgCheckpoint>,
    /// On a first incremental pull (no checkpoint given), the rows skipped because their modification time
    /// is NULL; 0 otherwise.
    pub null_modified: u64,
}

/// A connection to a PostgreSQL server used as a source.
pub struct PgSource {
    client: Client,
}

impl std::fmt::Debug for PgSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string may hold a password: never print it.
        f.debug_struct("PgSource").finish_non_exhaustive()
    }
}

fn pg(context: impl Into<String>) -> impl FnOnce(postgres::Error) -> Error {
    let context = context.into();
    move |error| Error::Postgres { context, error }
}

impl PgSource {
    /// Connects with a libpq-style connection string (`host=... user=... dbname=...`) or URL, without TLS.
    pub fn connect(conninfo: &str) -> Result<Self> {
        let mut client = Client::connect(conninfo, NoTls).map_err(pg("cannot connect to PostgreSQL"))?;
        client
            .batch_execute("SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3")
            .map_err(pg("cannot set up the PostgreSQL session"))?;
        Ok(Self { client })
    }

    /// Reads `relation`: all of it when `incremental` is `None`, else the rows after `since` (all rows with a
    /// modification time when `since` is `None`), at most `limit` of them. Call again with the returned
    /// checkpoint until a pull returns fewer rows than `limit`.
    #[instrument(level = "debug", skip_all, fields(source = %relation.describe()))]
    pub fn pull(
        &mut self,
        relation: &PgRelation,
        incremental: Option<&Incremental>,
        since: Option<&PgCheckpoint>,
        limit: Option<u64>,
    ) -> Result<PgBatch> {
        let from = relation.sql_source();
        let base = self.prepare(relation, &format!("SELECT * FROM {from} AS s"))?;
        let columns: Vec<String> = base.columns().iter().map(|column| column.name().to_owned()).collect();
        for (index, column) in base.columns().iter().enumerate() {
            if columns[..index].contains(&columns[index]) {
                return Err(Error::PgSource(format!(
                    "{} returns two columns named `{}`: give them distinct names",
                    relation.describe(),
                    columns[index]
                )));
            }
            if !PgValue::accepts(column.type_()) {
                return Err(Error::PgSource(format!(
                    "column `{}` of {} has type {}, which the PostgreSQL source does not read: cast it in a query \
                     (`{}::text`)",
                    column.name(),
                    relation.describe(),
                    column.type_(),
                    column.name()
                )));
            }
        }
        let limit_clause = limit.map(|limit| format!(" LIMIT {limit}")).unwrap_or_default();

        let Some(incremental) = incremental else {
            let statement = self.prepare(relation, &format!("SELECT * FROM {from} AS s{limit_clause}"))?;
            let rows = self.rows(&statement, &[], columns.len(), relation)?;
            let rows = rows.into_iter().map(|(row, _)| row).collect();
            return Ok(PgBatch { columns, rows, checkpoint: None, null_modified: 0 });
        };

        let key = if incremental.key.is_empty() { self.primary_key(relation)? } else { incremental.key.clone() };
        let order: Vec<&str> =
            std::iter::once(incremental.modified.as_str()).chain(key.iter().map(String::as_str)).collect();
        let mut types = Vec::with_capacity(order.len());
        for name in &order {
            let Some(column) = base.columns().iter().find(|column| column.name() == *name) else {
                return Err(Error::PgSource(format!(
                    "column `{name}` is not in {} (its columns: {})",
                    relation.describe(),
                    columns.join(", ")
                )));
            };
            types.push(column.type_().clone());
        }
        let list =
            |names: &[&str]| names.iter().map(|name| format!("s.{}", quote(name))).collect::<Vec<_>>().join(", ");
        let tuple = list(&order);
        let texts = order.iter().map(|name| format!("s.{}::text", quote(name))).collect::<Vec<_>>().join(", ");
        let modified = quote(&incremental.modified);
        let mut sql = format!("SELECT s.*, {texts} FROM {from} AS s WHERE s.{modified} IS NOT NULL");
        let mut params: Vec<String> = Vec::new();
        if let Some(since) = since {
            if since.key.len() != key.len() {
                return Err(Error::PgSource(format!(
                    "the checkpoint has {} key values but the key of {} has {} columns ({})",
                    since.key.len(),
                    relation.describe(),
                    key.len(),
                    key.join(", ")
                )));
            }
            let cast = |index: usize, ty: &Type| {
                format!("CAST(${index}::text AS {}.{})", quote(ty.schema()), quote(ty.name()))
            };
            params.push(since.modified.clone());
            match since.at_mark.as_deref() {
                Some(seen) if !seen.is_empty() && seen.iter().all(|k| k.len() == key.len()) => {
                    // Later, or at the mark's time and not read yet.
                    let mark = cast(1, &types[0]);
                    let keys = list(&order[1..]);
                    let mut read = Vec::with_capacity(seen.len());
                    for values in seen {
                        let at = params.len();
                        params.extend(values.iter().cloned());
                        let casts: Vec<String> =
                            types[1..].iter().enumerate().map(|(index, ty)| cast(at + index + 1, ty)).collect();
                        read.push(format!("({})", casts.join(", ")));
                    }
                    sql.push_str(&format!(
                        " AND (s.{modified} > {mark} OR (s.{modified} = {mark} AND ({keys}) NOT IN (VALUES {})))",
                        read.join(", ")
                    ));
                }
                _ => {
                    params.extend(since.key.iter().cloned());
                    let casts =
                        types.iter().enumerate().map(|(index, ty)| cast(index + 1, ty)).collect::<Vec<_>>().join(", ");
                    sql.push_str(&format!(" AND ({tuple}) > ({casts})"));
                }
            }
        }
        sql.push_str(&format!(" ORDER BY {tuple}{limit_clause}"));
        debug!(sql = %sql, "incremental pull");

        let statement = self.prepare(relation, &sql)?;
        let param_refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            params.iter().map(|param| param as &(dyn postgres::types::ToSql + Sync)).collect();
        let rows = self.rows(&statement, &param_refs, columns.len(), relation)?;
        let checkpoint = match rows.last() {
            Some((_, texts)) => {
                let mut texts = texts.clone();
                let modified = texts.remove(0);
                // The keys read at the last time: this page's, after the earlier pages' when they share it.
                let mut at: Vec<Vec<String>> = rows
                    .iter()
                    .rev()
                    .take_while(|(_, row)| row[0] == modified)
                    .map(|(_, row)| row[1..].to_vec())
                    .collect();
                at.reverse();
                let at_mark = match since {
                    Some(since) if since.modified == modified => since.at_mark.clone().map(|mut seen| {
                        seen.extend(at);
                        seen
                    }),
                    _ => Some(at),
                }
                .filter(|seen| seen.len() <= MAX_AT_MARK);
                Some(PgCheckpoint { modified, key: texts, at_mark })
            }
            None => since.cloned(),
        };
        let null_modified = if since.is_none() {
            let count = format!("SELECT count(*) FROM {from} AS s WHERE s.{modified} IS NULL");
            let row = self.client.query_one(&count, &[]).map_err(pg(format!("cannot read {}", relation.describe())))?;
            u64::try_from(row.get::<_, i64>(0)).unwrap_or(0)
        } else {
            0
        };
        let rows = rows.into_iter().map(|(row, _)| row).collect();
        Ok(PgBatch { columns, rows, checkpoint, null_modified })
    }

    /// Prepares `sql`, naming the relation when it does not exist.
    fn prepare(&mut self, relation: &PgRelation, sql: &str) -> Result<Statement> {
        self.client.prepare(sql).map_err(|source| {
            let undefined = source.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE);
            match relation {
                PgRelation::Table { schema, name } if undefined => Error::NotFound {
                    kind: "PostgreSQL table",
                    name: schema.as_ref().map_or_else(|| name.clone(), |schema| format!("{schema}.{name}")),
                },
                _ => Error::Postgres { context: format!("cannot read {}", relation.describe()), error: source },
            }
        })
    }

    /// Runs `statement`; each row's first `width` columns become fields, the rest are checkpoint texts.
    fn rows(
        &mut self,
        statement: &Statement,
        params: &[&(dyn postgres::types::ToSql + Sync)],
        width: usize,
        relation: &PgRelation,
    ) -> Result<Vec<(PgRow, Vec<String>)>> {
        let context = || format!("cannot read {}", relation.describe());
        let rows =
            self.client.query(statement, params).map_err(|error| Error::Postgres { context: context(), error })?;
        let mut out = Vec::with_capacity(rows.len());
        for (index, row) in rows.iter().enumerate() {
            let mut fields = Map::new();
            let mut faults = Vec::new();
            for (column_index, column) in row.columns().iter().take(width).enumerate() {
                let value = match row.try_get::<_, PgValue>(column_index) {
                    Ok(PgValue { value, faults: inside }) => {
                        for (path, message) in inside {
                            let path = std::iter::once(column.name().to_owned()).chain(path).collect();
                            faults.push(RowFault { path, code: fault_code(column.type_()), message });
                        }
                        value
                    }
                    Err(error) => {
                        // The client's own text is only "error deserializing column N": the reason is its source.
                        let message = error.source().map_or_else(|| error.to_string(), ToString::to_string);
                        let path = vec![column.name().to_owned()];
                        faults.push(RowFault { path, code: fault_code(column.type_()), message });
                        Value::Null
                    }
                };
                fields.insert(column.name().to_owned(), value);
            }
            let mut texts = Vec::with_capacity(row.len() - width);
            for column_index in width..row.len() {
                texts.push(row.try_get::<_, String>(column_index).map_err(|error| Error::Postgres {
                    context: format!("{}: row {}", context(), index + 1),
                    error,
                })?);
            }
            out.push((PgRow { number: index as u64 + 1, fields, faults }, texts));
        }
        Ok(out)
    }

    /// The primary key columns of a table, in key order.
    fn primary_key(&mut self, relation: &PgRelation) -> Result<Vec<String>> {
        let PgRelation::Table { .. } = relation else {
            return Err(Error::PgSource(
                "an incremental query source must name its key columns (the primary key of a table is used by \
                 default)"
                    .to_owned(),
            ));
        };
        let sql = "SELECT a.attname::text FROM pg_index i \
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                   WHERE i.indrelid = $1::text::regclass AND i.indisprimary \
                   ORDER BY array_position(i.indkey::int2[], a.attnum)";
        let rows = self
            .client
            .query(sql, &[&relation.sql_source()])
            .map_err(pg(format!("cannot read the primary key of {}", relation.describe())))?;
        let key: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        if key.is_empty() {
            return Err(Error::PgSource(format!(
                "{} has no primary key: name the key columns that make rows with the same modification time \
                 distinct",
                relation.describe()
            )));
        }
        Ok(key)
    }
}

/// The scalar types read, each with the kind of fault of a value of it that cannot be read: `bad_date` for dates
/// and times, `bad_number` for numbers and JSON (whose numbers are the only JSON that can fail).
const READ_TYPES: [(Type, RowErrorCode); 19] = [
    (Type::BOOL, RowErrorCode::Unparsable),
    (Type::INT2, RowErrorCode::BadNumber),
    (Type::INT4, RowErrorCode::BadNumber),
    (Type::INT8, RowErrorCode::BadNumber),
    (Type::OID, RowErrorCode::BadNumber),
    (Type::FLOAT4, RowErrorCode::BadNumber),
    (Type::FLOAT8, RowErrorCode::BadNumber),
    (Type::NUMERIC, RowErrorCode::BadNumber),
    (Type::TEXT, RowErrorCode::Unparsable),
    (Type::VARCHAR, RowErrorCode::Unparsable),
    (Type::BPCHAR, RowErrorCode::Unparsable),
    (Type::NAME, RowErrorCode::Unparsable),
    (Type::UNKNOWN, RowErrorCode::Unparsable),
    (Type::DATE, RowErrorCode::BadDate),
    (Type::TIMESTAMP, RowErrorCode::BadDate),
    (Type::TIMESTAMPTZ, RowErrorCode::BadDate),
    (Type::JSON, RowErrorCode::BadNumber),
    (Type::JSONB, RowErrorCode::BadNumber),
    (Type::UUID, RowErrorCode::Unparsable),
];

/// The kind of fault of a value of type `ty` that could not be read (an array's or a domain's: its member's).
fn fault_code(ty: &Type) -> RowErrorCode {
    if let Kind::Array(member) | Kind::Domain(member) = ty.kind() {
        return fault_code(member);
    }
    READ_TYPES.iter().find(|(read, _)| read == ty).map_or(RowErrorCode::Unparsable, |(_, code)| *code)
}

/// A PostgreSQL value as JSON, and what inside it could not be read, each read as null: its path inside the
/// value (array indices, then keys inside a json value; empty for the value itself) and why.
struct PgValue {
    value: Value,
    faults: Vec<(Vec<String>, String)>,
}

impl PgValue {
    fn read(value: Value) -> Self {
        PgValue { value, faults: Vec::new() }
    }
}

/// PostgreSQL's `infinity` or `-infinity` for a date (4 bytes) or timestamp (8 bytes) that holds one, as
/// PostgreSQL writes it; chrono has no such value and would refuse the whole pull (`valid_to = 'infinity'` is
/// common in warehouse tables). A mapping that reads it as a date rejects only its row.
fn infinity(raw: &[u8]) -> Option<&'static str> {
    // The value with the largest and smallest its width holds, which PostgreSQL writes as the infinities.
    let (value, top, bottom) = match raw.len() {
        4 => (i64::from(i32::from_be_bytes(raw.try_into().ok()?)), i64::from(i32::MAX), i64::from(i32::MIN)),
        8 => (i64::from_be_bytes(raw.try_into().ok()?), i64::MAX, i64::MIN),
        _ => return None,
    };
    match value {
        v if v == top => Some("infinity"),
        v if v == bottom => Some("-infinity"),
        _ => None,
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

type BoxError = Box<dyn StdError + Sync + Send>;

impl<'a> FromSql<'a> for PgValue {
    /// Never fails on a value it cannot convert: that value is null and its fault, so that the rest of the row
    /// (and of an array) is read, and only a mapping that reads it rejects the row.
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        Ok(convert(ty, raw)
            .unwrap_or_else(|error| PgValue { value: Value::Null, faults: vec![(Vec::new(), error.to_string())] }))
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, BoxError> {
        Ok(PgValue::read(Value::Null))
    }

    fn accepts(ty: &Type) -> bool {
        match ty.kind() {
            Kind::Array(member) => PgValue::accepts(member),
            Kind::Domain(base) => PgValue::accepts(base),
            Kind::Enum(_) => true,
            _ => READ_TYPES.iter().any(|(read, _)| read == ty),
        }
    }
}

/// `raw`, of type `ty`, as JSON ([`PgValue`]), or why it cannot be read.
fn convert(ty: &Type, raw: &[u8]) -> std::result::Result<PgValue, BoxError> {
    if let Kind::Domain(base) = ty.kind() {
        return convert(base, raw);
    }
    if let Kind::Array(_) = ty.kind() {
        // Each member's faults, placed by its index.
        let mut faults = Vec::new();
        let mut values = Vec::new();
        for (index, member) in Vec::<PgValue>::from_sql(ty, raw)?.into_iter().enumerate() {
            faults.extend(
                member
                    .faults
                    .into_iter()
                    .map(|(path, message)| (std::iter::once(index.to_string()).chain(path).collect(), message)),
            );
            values.push(member.value);
        }
        return Ok(PgValue { value: Value::Array(values), faults });
    }
    if let Kind::Enum(_) = ty.kind() {
        return Ok(PgValue::read(Value::String(std::str::from_utf8(raw)?.to_owned())));
    }
    if matches!(*ty, Type::DATE | Type::TIMESTAMP | Type::TIMESTAMPTZ) {
        if let Some(text) = infinity(raw) {
            return Ok(PgValue::read(Value::String(text.to_owned())));
        }
    }
    let value = match *ty {
        Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
        Type::INT2 => Value::from(i16::from_sql(ty, raw)?),
        Type::INT4 => Value::from(i32::from_sql(ty, raw)?),
        Type::INT8 => Value::from(i64::from_sql(ty, raw)?),
        Type::OID => Value::from(u32::from_sql(ty, raw)?),
        Type::FLOAT4 => float(f64::from(f32::from_sql(ty, raw)?)),
        Type::FLOAT8 => float(f64::from_sql(ty, raw)?),
        Type::NUMERIC => Value::String(numeric(raw)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            Value::String(String::from_sql(ty, raw)?)
        }
        Type::DATE => Value::String(NaiveDate::from_sql(ty, raw)?.format("%Y-%m-%d").to_string()),
        Type::TIMESTAMP => Value::String(NaiveDateTime::from_sql(ty, raw)?.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        Type::TIMESTAMPTZ => {
            Value::String(DateTime::<Utc>::from_sql(ty, raw)?.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        }
        Type::JSON | Type::JSONB => {
            // jsonb comes as a version byte, then the text.
            let text = if *ty == Type::JSONB { raw.get(1..).unwrap_or_default() } else { raw };
            let mut value = Value::from_sql(ty, raw)?;
            let faults = rapport_model::json::large_integers(text)
                .into_iter()
                .map(|large| {
                    rapport_model::json::set_null(&mut value, &large.path);
                    let message = format!(
                        "the integer {} is too large for 64 bits and would lose digits as a JSON number; select it \
                         as text in a query (`col->>'key'`)",
                        large.literal,
                    );
                    (large.path, message)
                })
                .collect();
            return Ok(PgValue { value, faults });
        }
        Type::UUID => Value::String(uuid(raw)?),
        _ => return Err(format!("type {ty} is not read").into()),
    };
    Ok(PgValue::read(value))
}

fn uuid(raw: &[u8]) -> std::result::Result<String, BoxError> {
    if raw.len() != 16 {
        return Err(format!("a uuid has 16 bytes, not {}", raw.len()).into());
    }
    let hex: String = raw.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]))
}

/// The exact text of a `numeric` in binary form: ndigits, weight, sign, dscale (16 bits each), then
/// base-10000 digits, the first one weighted 10000^weight.
fn numeric(raw: &[u8]) -> std::result::Result<String, BoxError> {
    let word = |index: usize| -> std::result::Result<u16, BoxError> {
        raw.get(index * 2..index * 2 + 2)
            .map(|bytes| u16::from_be_bytes([bytes[0], bytes[1]]))
            .ok_or_else(|| "truncated numeric".into())
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = usize::from(word(3)?);
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Ok("NaN".to_owned()),
        0xD000 => return Ok("Infinity".to_owned()),
        0xF000 => return Ok("-Infinity".to_owned()),
        other => return Err(format!("unknown numeric sign {other:#06x}").into()),
    }
    let digits = (0..ndigits).map(|index| word(4 + index)).collect::<std::result::Result<Vec<u16>, BoxError>>()?;
    let digit = |position: i64| -> u16 {
        usize::try_from(position).ok().and_then(|index| digits.get(index)).copied().unwrap_or(0)
    };
    let mut text = String::new();
    if sign == 0x4000 && digits.iter().any(|digit| *digit != 0) {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        text.push_str(&digit(0).to_string());
        for position in 1..=weight {
            text.push_str(&format!("{:04}", digit(position)));
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut position = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit(position)));
            position += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn numeric_bytes(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut raw = Vec::new();
        for word in [digits.len() as u16, weight as u16, sign, dscale].into_iter().chain(digits.iter().copied()) {
            raw.extend_from_slice(&word.to_be_bytes());
        }
        raw
    }

    #[test]
    fn numerics_decode_to_exact_text() {
        assert_eq!(numeric(&numeric_bytes(0, 0, 2, &[123, 4500])).unwrap(), "123.45");
        assert_eq!(numeric(&numeric_bytes(-1, 0x4000, 3, &[50])).unwrap(), "-0.005");
        assert_eq!(numeric(&numeric_bytes(-2, 0, 5, &[1000])).unwrap(), "0.00001");
        assert_eq!(numeric(&numeric_bytes(1, 0, 0, &[1])).unwrap(), "10000");
        assert_eq!(numeric(&numeric_bytes(4, 0, 0, &[1234, 5678, 9012, 3456, 7890])).unwrap(), "12345678901234567890");
        assert_eq!(numeric(&numeric_bytes(0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(numeric(&numeric_bytes(0, 0xC000, 0, &[])).unwrap(), "NaN");
    }

    #[test]
    fn relations_parse_from_text() {
        assert_eq!(PgRelation::parse("contacts"), PgRelation::Table { schema: None, name: "contacts".into() });
        assert_eq!(
            PgRelation::parse("crm.\"Contact.Main\""),
            PgRelation::Table { schema: Some("crm".into()), name: "Contact.Main".into() }
        );
        assert_eq!(PgRelation::parse(" select id from t; "), PgRelation::Query("select id from t".into()));
        assert_eq!(quote("we\"ird"), "\"we\"\"ird\"");
    }
}
