//! Streaming ingestion: XDM records that arrive one message at a time in Adobe's collection envelope
//! (B2B-DOMAIN g.1), checked at the edge (schema, dataset), validated like batch rows, and committed as one
//! atomic batch per dataset and inlet for every group of messages handed over together.
//!
//! Ids. A schema's id is [`schema_id`] of its name (`B2B Person` →
//! `https://ns.adobe.com/rapport/schemas/b2b-person`; `rapport schema list` shows them). A message names its
//! dataset by name (`web.person`) or by numeric id. An inlet id is 32 hex digits, made at creation.
//!
//! Ordering. A streamed fragment's source time (`updated_at`, which timestamp-ordered merging compares) is the
//! record's `extSourceSystemAudit.lastUpdatedDate`, else the header's `createdAt`, else the time the message
//! was received, so that a later message without timestamps wins over an earlier one.

use std::collections::HashMap;

use rapport_model::{EntityKind, MappedRecord, Record, RowError, RowErrorCode};
use rapport_schema::Schema;
use rapport_store::{DatasetRecord, Durability, EncodedFragment, InletRecord, NewBatch};
use serde::Serialize;
use serde_json::Value;
use tracing::{debug, instrument};

use crate::changes::Link;
use crate::ingest::{valid_fragment, Namespaces};
use crate::{Engine, Error, Result};

/// The prefix of every schema id: `https://ns.adobe.com/{tenant}/schemas/`, with `rapport` as the tenant.
pub const SCHEMA_ID_PREFIX: &str = "https://ns.adobe.com/rapport/schemas/";

/// The id of a schema, as a message's `schemaRef.id` names it: [`SCHEMA_ID_PREFIX`] followed by the name in
/// lowercase with every run of other characters than letters and digits turned into one `-`.
pub fn schema_id(schema_name: &str) -> String {
    let mut slug = String::with_capacity(schema_name.len());
    for c in schema_name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    format!("{SCHEMA_ID_PREFIX}{slug}")
}

/// One streamed message, read from its envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamMessage {
    /// The inlet it arrived on (its batches' source is `stream:{inlet}`).
    pub inlet: String,
    /// The message's transaction id: it names the message in rejected rows.
    pub id: String,
    /// The target dataset, by name or numeric id (`header.datasetId`).
    pub dataset: String,
    /// The schema id the message claims (`header.schemaRef.id`).
    pub schema_ref: String,
    /// The XDM record (`body.xdmEntity`).
    pub record: Record,
    /// When the inlet received it, in milliseconds since the Unix epoch.
    pub received_at_ms: i64,
    /// When the producer created it (`header.createdAt`, epoch milliseconds), if given.
    pub created_at_ms: Option<i64>,
    /// Faults of the record that its parsed form no longer shows, found by the inlet in the message's text: an
    /// integer too large for 64 bits, which the JSON parser read as the nearest float, digits lost
    /// ([`rapport_model::json::large_integers`]). The message is then rejected with them, like a record that
    /// fails validation, and kept among the batch's rejected rows; paths are `body.xdmEntity.…`.
    pub record_faults: Vec<MessageError>,
}

/// Why a message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MessageErrorCode {
    /// The message is not a JSON object, or a required envelope field (header, body, schemaRef, datasetId,
    /// xdmEntity) is missing.
    MissingField,
    /// An envelope field has the wrong JSON type.
    WrongType,
    /// `schemaRef.id` names no registered schema.
    UnknownSchema,
    /// `datasetId` names no dataset.
    UnknownDataset,
    /// The dataset's schema is not the one the message names, or the body's schema differs from the header's.
    SchemaMismatch,
    /// The record fails validation against the schema (the path names the field).
    Invalid,
}

impl MessageErrorCode {
    /// The snake_case name of the code.
    pub fn name(self) -> &'static str {
        match self {
            MessageErrorCode::MissingField => "missing_field",
            MessageErrorCode::WrongType => "wrong_type",
            MessageErrorCode::UnknownSchema => "unknown_schema",
            MessageErrorCode::UnknownDataset => "unknown_dataset",
            MessageErrorCode::SchemaMismatch => "schema_mismatch",
            MessageErrorCode::Invalid => "invalid",
        }
    }
}

/// One fault of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageError {
    /// The kind of fault.
    pub code: MessageErrorCode,
    /// A human-readable explanation.
    pub message: String,
    /// The JSON path of the offending value inside the message (`header.datasetId`,
    /// `body.xdmEntity.workEmail.address`), when one is at fault.
    pub path: Option<String>,
}

impl std::fmt::Display for MessageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        write!(f, "{} ({})", self.message, self.code.name())
    }
}

fn error(code: MessageErrorCode, path: &str, message: impl Into<String>) -> MessageError {
    MessageError { code, message: message.into(), path: Some(path.to_owned()) }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MessageOutcome {
    /// Stored durably in this batch.
    Accepted {
        /// The batch holding the message.
        batch_id: i64,
    },
    /// Refused; nothing of it was stored as a fragment.
    Rejected {
        /// Every fault found.
        errors: Vec<MessageError>,
        /// The batch where it was kept as a rejected row, when its dataset was known.
        batch_id: Option<i64>,
    },
}

/// The JSON object at `path` under `value`, or the error saying why not.
fn object_at<'a>(
    value: &'a mut serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> std::result::Result<&'a mut serde_json::Map<String, Value>, MessageError> {
    match value.get_mut(key) {
        None | Some(Value::Null) => Err(error(MessageErrorCode::MissingField, path, format!("`{path}` is required"))),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(error(MessageErrorCode::WrongType, path, format!("`{path}` must be an object"))),
    }
}

/// The string at `schemaRef.id` under an envelope part.
fn schema_ref(part: &mut serde_json::Map<String, Value>, prefix: &str) -> std::result::Result<String, MessageError> {
    let path = format!("{prefix}.schemaRef");
    let schema_ref = object_at(part, "schemaRef", &path)?;
    let path = format!("{path}.id");
    match schema_ref.get("id") {
        Some(Value::String(id)) => Ok(id.clone()),
        None | Some(Value::Null) => Err(error(MessageErrorCode::MissingField, &path, format!("`{path}` is required"))),
        Some(_) => Err(error(MessageErrorCode::WrongType, &path, format!("`{path}` must be a string"))),
    }
}

impl StreamMessage {
    /// Reads a message in Adobe's envelope: `header` (`schemaRef.id`, `datasetId`, optional `createdAt` in
    /// epoch milliseconds) and `body` (`xdmEntity`, and optionally `xdmMeta.schemaRef.id`, which must then
    /// equal the header's). Other envelope fields (`imsOrgId`, `flowId`, `source`) are accepted and ignored.
    /// Every fault found is returned.
    pub fn from_envelope(
        envelope: Value,
        inlet: &str,
        id: String,
        received_at_ms: i64,
    ) -> std::result::Result<Self, Vec<MessageError>> {
        let Value::Object(mut envelope) = envelope else {
            return Err(vec![MessageError {
                code: MessageErrorCode::WrongType,
                message: "a message must be a JSON object with `header` and `body`".to_owned(),
                path: None,
            }]);
        };
        let mut errors = Vec::new();
        let mut header_fields = None;
        match object_at(&mut envelope, "header", "header") {
            Ok(header) => {
                let schema = schema_ref(header, "header").map_err(|e| errors.push(e)).ok();
                let dataset = match header.get("datasetId") {
                    Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    None | Some(Value::Null) => {
                        errors.push(error(
                            MessageErrorCode::MissingField,
                            "header.datasetId",
                            "`header.datasetId` is required",
                        ));
                        None
                    }
                    Some(_) => {
                        errors.push(error(
                            MessageErrorCode::WrongType,
                            "header.datasetId",
                            "`header.datasetId` must be a non-empty string",
                        ));
                        None
                    }
                };
                let created_at = match header.get("createdAt") {
                    None | Some(Value::Null) => None,
                    Some(value) => match value.as_i64() {
                        Some(ms) if (FIRST_INSTANT_MS..=LAST_INSTANT_MS).contains(&ms) => Some(ms),
                        Some(_) => {
                            errors.push(error(
                                MessageErrorCode::Invalid,
                                "header.createdAt",
                                "`header.createdAt` must fall in the years 0000 to 9999 (milliseconds since the Unix epoch)",
                            ));
                            None
                        }
                        None => {
                            errors.push(error(
                                MessageErrorCode::WrongType,
                                "header.createdAt",
                                "`header.createdAt` must be an integer (milliseconds since the Unix epoch)",
                            ));
                            None
                        }
                    },
                };
                header_fields = Some((schema, dataset, created_at));
            }
            Err(e) => errors.push(e),
        }
        let mut record = None;
        match object_at(&mut envelope, "body", "body") {
            Ok(body) => {
                if body.contains_key("xdmMeta") {
                    match object_at(body, "xdmMeta", "body.xdmMeta").and_then(|meta| schema_ref(meta, "body.xdmMeta")) {
                        Ok(body_schema) => {
                            if let Some((Some(header_schema), _, _)) = &header_fields {
                                if *header_schema != body_schema {
                                    errors.push(error(
                                        MessageErrorCode::SchemaMismatch,
                                        "body.xdmMeta.schemaRef.id",
                                        format!("`{body_schema}` differs from the header's schema `{header_schema}`"),
                                    ));
                                }
                            }
                        }
                        Err(e) => errors.push(e),
                    }
                }
                match body.remove("xdmEntity") {
                    Some(Value::Object(entity)) => record = Some(entity),
                    None | Some(Value::Null) => errors.push(error(
                        MessageErrorCode::MissingField,
                        "body.xdmEntity",
                        "`body.xdmEntity` is required",
                    )),
                    Some(_) => errors.push(error(
                        MessageErrorCode::WrongType,
                        "body.xdmEntity",
                        "`body.xdmEntity` must be an object",
                    )),
                }
            }
            Err(e) => errors.push(e),
        }
        match (header_fields, record) {
            (Some((Some(schema_ref), Some(dataset), created_at_ms)), Some(record)) if errors.is_empty() => Ok(Self {
                inlet: inlet.to_owned(),
                id,
                dataset,
                schema_ref,
                record,
                received_at_ms,
                created_at_ms,
                record_faults: Vec::new(),
            }),
            _ => Err(errors),
        }
    }
}

/// Milliseconds since the Unix epoch as RFC 3339 with milliseconds (the form of `lastUpdatedDate`).
/// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z, the instants a four-digit year can write.
const FIRST_INSTANT_MS: i64 = -62_167_219_200_000;
const LAST_INSTANT_MS: i64 = 253_402_300_799_999;

fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The valid messages of one dataset and inlet, becoming one batch.
struct Group {
    dataset: DatasetRecord,
    inlet: String,
    /// Positions of the group's messages in the call's input.
    members: Vec<usize>,
    /// Fragments encoded for the store, each with its relationship keys (taken while its record was in hand).
    fragments: Vec<(EncodedFragment, Vec<Link>)>,
    /// Experience events, when the dataset holds the "B2B Activity" class (appended, not merged).
    events: Vec<rapport_store::NewEvent>,
    rejected: Vec<RowError>,
}

/// Messages from which [`StreamContext::prepare`] spreads its work over the cores (each takes some 10 µs).
const PARALLEL_MESSAGES: usize = 64;

/// What checking and preparing streamed messages reads of the engine (its schemas, datasets and namespaces),
/// owned, so that another thread can prepare the next messages while the engine commits the previous ones.
/// Take a new one after anything that changes schemas, datasets or namespaces.
pub struct StreamContext {
    schemas: Vec<Schema>,
    schema_ids: HashMap<String, usize>,
    datasets: Vec<DatasetRecord>,
    namespaces: Namespaces,
}

/// Messages checked, validated and encoded for the store ([`StreamContext::prepare`]), to be committed by
/// [`Engine::commit_prepared`].
pub struct PreparedMessages {
    /// The outcome of each message refused before its batch (its batch id filled in at commit), in order.
    outcomes: Vec<Option<MessageOutcome>>,
    groups: Vec<Group>,
}

impl PreparedMessages {
    /// How many messages.
    pub fn len(&self) -> usize {
        self.outcomes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }
}

/// Where a message with a valid header goes: its schema (index in the context), its group and the dataset's
/// class.
struct Target {
    schema: usize,
    group: usize,
    entity: EntityKind,
}

/// What preparing one message gave: its group, and its fragment, event or refusal.
enum Prepared {
    /// Refused before any dataset was found: nothing to keep.
    Refused(MessageOutcome),
    /// In group `.0`.
    In(usize, Body),
}

enum Body {
    Fragment(EncodedFragment, Vec<Link>),
    Event(rapport_store::NewEvent),
    Rejected(MessageOutcome, RowError),
}

impl StreamContext {
    /// Checks each message's schema and dataset, validates its record and extracts its identities as batch
    /// ingestion does, and encodes the valid ones for the store; on every core when there are many.
    pub fn prepare(&self, messages: Vec<StreamMessage>) -> PreparedMessages {
        let count = messages.len();
        // Headers are checked and groups numbered in order of first appearance, before the parallel part.
        let mut groups: Vec<Group> = Vec::new();
        let mut jobs: Vec<(std::result::Result<Target, MessageOutcome>, StreamMessage)> = Vec::with_capacity(count);
        for message in messages {
            let target = self.dataset_of(&message).map(|(schema, dataset)| {
                let group = match groups.iter().position(|g| g.dataset.id == dataset.id && g.inlet == message.inlet) {
                    Some(i) => i,
                    None => {
                        groups.push(Group {
                            dataset: dataset.clone(),
                            inlet: message.inlet.clone(),
                            members: Vec::new(),
                            fragments: Vec::new(),
                            events: Vec::new(),
                            rejected: Vec::new(),
                        });
                        groups.len() - 1
                    }
                };
                Target { schema, group, entity: dataset.entity }
            });
            jobs.push((target, message));
        }
        let prepared = crate::par::par_map_owned(jobs, PARALLEL_MESSAGES, |(target, message)| match target {
            Ok(target) => self.prepare_one(target, message),
            Err(outcome) => Prepared::Refused(outcome),
        });
        let mut outcomes: Vec<Option<MessageOutcome>> = vec![None; count];
        for (position, prepared) in prepared.into_iter().enumerate() {
            match prepared {
                Prepared::Refused(outcome) => outcomes[position] = Some(outcome),
                Prepared::In(g, body) => {
                    let group = &mut groups[g];
                    group.members.push(position);
                    match body {
                        Body::Fragment(fragment, keys) => group.fragments.push((fragment, keys)),
                        Body::Event(event) => group.events.push(event),
                        Body::Rejected(outcome, row) => {
                            outcomes[position] = Some(outcome);
                            group.rejected.push(row);
                        }
                    }
                }
            }
        }
        PreparedMessages { outcomes, groups }
    }

    /// The schema (by index) and dataset a message names, or the refusal saying why not.
    fn dataset_of(&self, message: &StreamMessage) -> std::result::Result<(usize, &DatasetRecord), MessageOutcome> {
        let refuse = |error| MessageOutcome::Rejected { errors: vec![error], batch_id: None };
        let Some(&schema_index) = self.schema_ids.get(&message.schema_ref) else {
            return Err(refuse(error(
                MessageErrorCode::UnknownSchema,
                "header.schemaRef.id",
                format!("no schema has the id `{}` (run `rapport schema list`)", message.schema_ref),
            )));
        };
        let schema = &self.schemas[schema_index];
        let dataset = self
            .datasets
            .iter()
            .find(|d| d.name == message.dataset)
            .or_else(|| self.datasets.iter().find(|d| d.id.to_string() == message.dataset));
        let Some(dataset) = dataset else {
            return Err(refuse(error(
                MessageErrorCode::UnknownDataset,
                "header.datasetId",
                format!(
                    "dataset `{}` does not exist (create it with `rapport dataset create NAME --schema ID`)",
                    message.dataset
                ),
            )));
        };
        if dataset.schema != schema.name {
            return Err(refuse(error(
                MessageErrorCode::SchemaMismatch,
                "header.schemaRef.id",
                format!(
                    "dataset `{}` holds schema `{}`, not `{}`",
                    dataset.name,
                    schema_id(&dataset.schema),
                    message.schema_ref
                ),
            )));
        }
        Ok((schema_index, dataset))
    }

    /// Prepares one message whose header named `target`.
    fn prepare_one(&self, target: Target, message: StreamMessage) -> Prepared {
        let Target { schema, group, entity } = target;
        let schema = &self.schemas[schema];
        let fallback_time = message.created_at_ms.unwrap_or(message.received_at_ms);
        if let Some(first) = message.record_faults.first() {
            let field =
                first.path.as_deref().map(|path| path.strip_prefix("body.xdmEntity.").unwrap_or(path).to_owned());
            let text = message.record_faults.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            let row = message_row(&message.id, field, RowErrorCode::BadNumber, text);
            let outcome = MessageOutcome::Rejected { errors: message.record_faults, batch_id: None };
            return Prepared::In(group, Body::Rejected(outcome, row));
        }
        // Validated here (one error per field for the answer); the fragment is built without validating again.
        let invalid = rapport_schema::validate::validate(schema, &message.record);
        if let Some(first) = invalid.first() {
            let text = invalid.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            let row = message_row(&message.id, Some(first.path.clone()), RowErrorCode::Invalid, text);
            let errors = invalid
                .into_iter()
                .map(|e| MessageError {
                    code: MessageErrorCode::Invalid,
                    message: format!("{} ({})", e.message, e.rule.name()),
                    path: Some(format!("body.xdmEntity.{}", e.path)),
                })
                .collect();
            return Prepared::In(group, Body::Rejected(MessageOutcome::Rejected { errors, batch_id: None }, row));
        }
        if entity == EntityKind::Activity {
            return Prepared::In(
                group,
                match crate::events::event_of(&self.namespaces, &message.id, 1, message.record) {
                    Ok(event) => Body::Event(event),
                    Err(row) => Body::Rejected(rejected_row(&row), row),
                },
            );
        }
        let mapped = MappedRecord { line: 1, offset: None, record: message.record };
        let body = match valid_fragment(schema, &self.namespaces, &message.id, mapped) {
            Ok(mut new) => {
                if new.updated_at.is_empty() {
                    new.updated_at = rfc3339_ms(fallback_time);
                }
                let keys = crate::changes::direct_keys(entity, &new.record);
                match EncodedFragment::encode_owned(entity, new) {
                    Ok(encoded) => Body::Fragment(encoded, keys),
                    Err(err) => {
                        let text = format!("the record cannot be serialized: {err}");
                        let row = message_row(&message.id, None, RowErrorCode::Invalid, text);
                        Body::Rejected(rejected_row(&row), row)
                    }
                }
            }
            Err(row) => Body::Rejected(rejected_row(&row), row),
        };
        Prepared::In(group, body)
    }
}

/// The rejected row of the streamed message `id`: its transaction id stands for the file, its line is 1, and it
/// has no byte offset.
fn message_row(id: &str, field: Option<String>, code: RowErrorCode, message: String) -> RowError {
    RowError { file: id.to_owned(), line: 1, offset: None, field, code, message }
}

/// The outcome of a message whose record was refused after validation: one `invalid` error at the row's field.
fn rejected_row(row: &RowError) -> MessageOutcome {
    let errors = vec![MessageError {
        code: MessageErrorCode::Invalid,
        message: row.message.clone(),
        path: row.field.as_ref().map(|f| format!("body.xdmEntity.{f}")),
    }];
    MessageOutcome::Rejected { errors, batch_id: None }
}

/// A fresh inlet id: 32 hex digits from the process's random hasher keys and the clock.
fn new_inlet_id(name: &str) -> String {
    use std::hash::BuildHasher;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let half = |salt: u8| std::collections::hash_map::RandomState::new().hash_one((name, nanos, salt));
    format!("{:016x}{:016x}", half(1), half(2))
}

impl Engine {
    /// Creates a dataset for streaming, bound to a registered schema given by id ([`schema_id`]) or by name.
    pub fn create_dataset(&mut self, name: &str, schema: &str) -> Result<DatasetRecord> {
        let activity = &rapport_schema::b2b::activity().name;
        if schema == activity || schema == schema_id(activity) {
            // The experience-event class is registered on first use.
            self.register_activity_schema()?;
        }
        let Some(found) = self.schemas.schemas.iter().find(|s| s.name == schema || schema_id(&s.name) == schema) else {
            return Err(Error::Schema(format!("schema `{schema}` does not exist (run `rapport schema list`)")));
        };
        if name.trim().is_empty() || name.chars().any(char::is_whitespace) {
            return Err(Error::Schema(format!("dataset name `{name}` must be non-empty and without spaces")));
        }
        let name_of_schema = found.name.clone();
        Ok(self.store.create_dataset(name, &name_of_schema)?)
    }

    /// Creates a streaming inlet named `name`, with a fresh id.
    pub fn create_inlet(&mut self, name: &str) -> Result<InletRecord> {
        if name.trim().is_empty() {
            return Err(Error::Schema("an inlet name must not be empty".to_owned()));
        }
        Ok(self.store.create_inlet(&new_inlet_id(name), name)?)
    }

    /// Sets what a returned commit guarantees (see [`Durability`]).
    pub fn set_durability(&mut self, durability: Durability) -> Result<()> {
        Ok(self.store.set_durability(durability)?)
    }

    /// Ingests streamed messages: checks each one's schema and dataset, validates its record and extracts its
    /// identities as batch ingestion does, then commits the valid ones of each dataset and inlet as one batch
    /// (source `stream:{inlet}`; the invalid ones whose dataset is known are kept there as rejected rows)
    /// together with the profiles it changes, in the same transaction (see [`Engine::commit_batch`]). Returns
    /// one outcome per message, in order; an invalid message never stops the others. The same as
    /// [`StreamContext::prepare`] with [`Engine::stream_context`], then [`Engine::commit_prepared`].
    ///
    /// An `Err` means the store failed: batches committed before the failure stay committed, so callers that
    /// resend every message of the call store nothing twice (a fragment is replaced by its dataset and primary
    /// identity).
    #[instrument(skip_all, fields(messages = messages.len()))]
    pub fn ingest_messages(&mut self, messages: Vec<StreamMessage>) -> Result<Vec<MessageOutcome>> {
        let prepared = self.stream_context()?.prepare(messages);
        self.commit_prepared(prepared)
    }

    /// What [`StreamContext::prepare`] reads, as the engine holds it now.
    pub fn stream_context(&self) -> Result<StreamContext> {
        let schemas = self.schemas.schemas.clone();
        let schema_ids = schemas.iter().enumerate().map(|(i, s)| (schema_id(&s.name), i)).collect();
        Ok(StreamContext {
            schemas,
            schema_ids,
            datasets: self.store.datasets()?,
            namespaces: self.event_namespaces()?,
        })
    }

    /// Commits prepared messages: the valid ones of each dataset and inlet as one batch with the profiles it
    /// changes (see [`Engine::ingest_messages`]). Returns one outcome per message, in order.
    pub fn commit_prepared(&mut self, prepared: PreparedMessages) -> Result<Vec<MessageOutcome>> {
        let PreparedMessages { mut outcomes, groups } = prepared;
        for group in groups {
            let source = format!("stream:{}", group.inlet);
            let read = group.members.len() as u64;
            let batch = if group.dataset.entity == EntityKind::Activity {
                self.commit_events(&group.dataset.name, &source, read, &group.events, group.rejected)?.batch_id
            } else {
                let batch = NewBatch {
                    dataset: group.dataset.name.clone(),
                    entity: group.dataset.entity,
                    source,
                    files: Vec::new(),
                    rows_read: read,
                    fragments: Vec::new(),
                    rejected: group.rejected,
                    batch_id: None,
                    checkpoint: None,
                };
                let (summary, _) = self.commit_encoded(&batch, group.fragments)?;
                debug!(batch = summary.id, dataset = %summary.dataset, ingested = summary.rows_ingested,
                    rejected = summary.rows_rejected, "stream batch committed");
                summary.id
            };
            for position in group.members {
                match &mut outcomes[position] {
                    Some(MessageOutcome::Rejected { batch_id, .. }) => *batch_id = Some(batch),
                    slot => *slot = Some(MessageOutcome::Accepted { batch_id: batch }),
                }
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.ok_or_else(|| Error::Internal("a streamed message got no outcome".to_owned())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_ids_are_slugs_of_names() {
        assert_eq!(schema_id("B2B Person"), "https://ns.adobe.com/rapport/schemas/b2b-person");
        assert_eq!(
            schema_id("B2B Account Person Relation"),
            "https://ns.adobe.com/rapport/schemas/b2b-account-person-relation"
        );
        assert_eq!(schema_id(" Odd -- name! "), "https://ns.adobe.com/rapport/schemas/odd-name");
    }

    #[test]
    fn an_envelope_without_header_or_body_names_both() {
        let errors = StreamMessage::from_envelope(json!({"head": {}}), "in", "x:0".into(), 0).unwrap_err();
        let paths: Vec<_> = errors.iter().map(|e| (e.code, e.path.as_deref().unwrap())).collect();
        assert_eq!(paths, vec![(MessageErrorCode::MissingField, "header"), (MessageErrorCode::MissingField, "body")]);
    }

    #[test]
    fn an_envelope_is_read_with_its_created_at() {
        let id = schema_id("B2B Person");
        let envelope = json!({
            "header": {"schemaRef": {"id": id}, "datasetId": "web.person", "createdAt": 1_700_000_000_123_i64,
                       "imsOrgId": "ignored"},
            "body": {"xdmMeta": {"schemaRef": {"id": id}}, "xdmEntity": {"workEmail": {"address": "a@b.co"}}}
        });
        let message = StreamMessage::from_envelope(envelope, "in", "x:0".into(), 5).unwrap();
        assert_eq!(message.dataset, "web.person");
        assert_eq!(message.schema_ref, id);
        assert_eq!(message.created_at_ms, Some(1_700_000_000_123));
        assert_eq!(message.record["workEmail"]["address"], "a@b.co");
        assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339_ms(FIRST_INSTANT_MS), "0000-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(LAST_INSTANT_MS), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn a_created_at_a_four_digit_year_cannot_write_is_refused() {
        let id = schema_id("B2B Person");
        for (created_at, ok) in [(253_402_300_799_999_i64, true), (253_402_300_800_000, false), (i64::MAX, false)] {
            let envelope = json!({
                "header": {"schemaRef": {"id": id}, "datasetId": "web.person", "createdAt": created_at},
                "body": {"xdmEntity": {}}
            });
            match StreamMessage::from_envelope(envelope, "in", "x:0".into(), 5) {
                Ok(message) => assert!(ok, "{created_at} was taken as {:?}", message.created_at_ms),
                Err(errors) => {
                    assert!(!ok, "{created_at}: {errors:?}");
                    assert_eq!(errors.len(), 1);
                    assert_eq!(
                        (errors[0].code, errors[0].path.as_deref()),
                        (MessageErrorCode::Invalid, Some("header.createdAt"))
                    );
                }
            }
        }
    }

    #[test]
    fn a_body_schema_differing_from_the_header_is_refused() {
        let envelope = json!({
            "header": {"schemaRef": {"id": "a"}, "datasetId": 3, "createdAt": "yesterday"},
            "body": {"xdmMeta": {"schemaRef": {"id": "b"}}, "xdmEntity": []}
        });
        let errors = StreamMessage::from_envelope(envelope, "in", "x:0".into(), 5).unwrap_err();
        let got: Vec<_> = errors.iter().map(|e| (e.code, e.path.clone().unwrap())).collect();
        assert_eq!(
            got,
            vec![
                (MessageErrorCode::WrongType, "header.createdAt".to_owned()),
                (MessageErrorCode::SchemaMismatch, "body.xdmMeta.schemaRef.id".to_owned()),
                (MessageErrorCode::WrongType, "body.xdmEntity".to_owned()),
            ]
        );
    }

    fn message(dataset: &str, schema: &str, record: Value, created_at_ms: Option<i64>) -> StreamMessage {
        StreamMessage {
            inlet: "in1".into(),
            id: format!("m-{}", record),
            dataset: dataset.into(),
            schema_ref: schema_id(schema),
            record: record.as_object().unwrap().clone(),
            received_at_ms: 1_700_000_000_000,
            created_at_ms,
            record_faults: Vec::new(),
        }
    }

    #[test]
    fn valid_messages_become_one_batch_per_dataset_and_invalid_ones_do_not_block_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::open(dir.path()).unwrap();
        engine.generate_b2b_schemas().unwrap();
        engine.create_dataset("web.person", "B2B Person").unwrap();
        engine.create_dataset("web.account", &schema_id("B2B Account")).unwrap();
        let person =
            |key: &str, email: &str| json!({"b2b": {"personKey": {"sourceKey": key}}, "workEmail": {"address": email}});
        let outcomes = engine
            .ingest_messages(vec![
                message("web.person", "B2B Person", person("p1", "a@x.co"), Some(1_700_000_000_123)),
                message("web.account", "B2B Account", json!({"accountKey": {"sourceKey": "a1"}}), None),
                message("web.person", "B2B Person", person("p2", "bad"), None),
                message("web.person", "B2B Nothing", person("p3", "c@x.co"), None),
                message("web.person", "B2B Person", person("p4", "d@x.co"), None),
            ])
            .unwrap();
        let codes: Vec<_> = outcomes
            .iter()
            .map(|o| match o {
                MessageOutcome::Accepted { batch_id } => (Some(*batch_id), None),
                MessageOutcome::Rejected { errors, batch_id } => (*batch_id, Some(errors[0].code)),
            })
            .collect();
        assert_eq!(
            codes,
            vec![
                (Some(1), None),
                (Some(2), None),
                (Some(1), Some(MessageErrorCode::Invalid)),
                (None, Some(MessageErrorCode::UnknownSchema)),
                (Some(1), None),
            ]
        );
        let batches = engine.store().batches().unwrap();
        let shape: Vec<_> = batches
            .iter()
            .map(|b| (b.dataset.as_str(), b.source.as_str(), b.rows_read, b.rows_ingested, b.rows_rejected))
            .collect();
        assert_eq!(shape, vec![("web.person", "stream:in1", 3, 2, 1), ("web.account", "stream:in1", 1, 1, 0)]);
        let fragments = engine.store().fragments(rapport_model::EntityKind::Person).unwrap();
        let times: Vec<_> = fragments.iter().map(|f| (f.primary.value.as_str(), f.updated_at.as_str())).collect();
        // createdAt, else the time received, stands in for a missing lastUpdatedDate.
        assert_eq!(times, vec![("p1", "2023-11-14T22:13:20.123Z"), ("p4", "2023-11-14T22:13:20.000Z")]);
        let profile = engine
            .store()
            .profile_by_identity(rapport_model::EntityKind::Person, &rapport_model::Identity::new("Email", "d@x.co"))
            .unwrap();
        assert_eq!(profile.map(|p| p.primary.value), Some("p4".to_owned()));
        // Each group's batch appended its change events in its transaction: two people, then the account.
        let events: Vec<_> = engine
            .changes_since(0, 10)
            .unwrap()
            .into_iter()
            .map(|e| (e.seq, e.cause, e.entity.name(), e.profile_id, e.primary.value, e.kind))
            .collect();
        use rapport_store::{Cause, ChangeKind};
        assert_eq!(
            events,
            vec![
                (1, Cause::Batch(1), "person", 0, "p1".to_owned(), ChangeKind::Created),
                (2, Cause::Batch(1), "person", 1, "p4".to_owned(), ChangeKind::Created),
                (3, Cause::Batch(2), "account", 0, "a1".to_owned(), ChangeKind::Created),
            ]
        );
    }
}
