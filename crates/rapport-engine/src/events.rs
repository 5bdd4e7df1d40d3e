//! Experience events into the store: validation against the "B2B Activity" schema, the link to a person, one
//! atomic append per call, and a change event for every person whose events changed.
//!
//! Events are not merged (B2B-DOMAIN d.1): each valid record is appended to its dataset once (by `_id`; a
//! repeated `_id` is skipped, not an error) and linked to a person through `personKey.sourceKey` (namespace
//! `b2b_person`) or, without one, the first identity of its `identityMap` whose namespace is registered. An
//! event whose person has no profile yet is kept: it joins the person's `xEvent` when the person arrives, since
//! the profile graph reads events by identity. For each person profile that got new events, the change feed
//! records an `updated` event with path `xEvent`, in the same transaction, so incremental evaluation sees an
//! event arrival as a change of its person.

use rapport_model::{EntityKind, FieldPath, Identity, Record, RowError, RowErrorCode};
use rapport_profile::events::parse_timestamp;
use rapport_store::{ChangeEvent, ChangeKind, NewEvent};
use serde::Serialize;
use serde_json::Value;

use crate::{Engine, Result};

/// What [`Engine::ingest_events`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsReport {
    /// The batch the events were written in.
    pub batch_id: i64,
    /// Records read.
    pub read: u64,
    /// Events appended.
    pub appended: u64,
    /// Valid events skipped because the dataset already holds their `_id`.
    pub duplicates: u64,
    /// Records rejected, with why.
    pub rejected: Vec<RowError>,
    /// Person profiles whose events changed (one change event each).
    pub persons_changed: u64,
}

/// The identity linking an event to its person.
fn person_identity(record: &Record, namespaces: &crate::ingest::Namespaces) -> Option<Identity> {
    let key = FieldPath::from_segments(["personKey", "sourceKey"]);
    if let Some(identity) =
        key.get(record).and_then(Value::as_str).and_then(|raw| namespaces.get("b2b_person")?.identity(raw))
    {
        return Some(identity);
    }
    let map = record.get("identityMap")?.as_object()?;
    map.iter().find_map(|(ns, ids)| {
        let ns = namespaces.get(ns.as_str())?;
        ids.as_array()?.iter().find_map(|entry| ns.identity(entry.get("id")?.as_str()?))
    })
}

impl Engine {
    /// Appends experience events to `dataset` (created for the "B2B Activity" class on first use) in one
    /// batch from `source`: the valid, new events and the change events of their persons commit together.
    pub fn ingest_events(&mut self, dataset: &str, source: &str, records: &[Record]) -> Result<EventsReport> {
        let rows = records.iter().enumerate().map(|(i, record)| Ok((i as u64 + 1, record.clone()))).collect();
        self.ingest_event_rows(dataset, source, rows)
    }

    /// [`Engine::ingest_events`] for records read from a file (`source`) that may have failed to parse: each
    /// row is a record with its line, or the rejected row saying why it could not be read. Every row counts
    /// as read; rejected rows are kept with the batch.
    pub fn ingest_event_rows(
        &mut self,
        dataset: &str,
        source: &str,
        rows: Vec<std::result::Result<(u64, Record), RowError>>,
    ) -> Result<EventsReport> {
        self.register_activity_schema()?;
        let namespaces = self.event_namespaces()?;
        let read = rows.len() as u64;
        let mut events = Vec::new();
        let mut rejected = Vec::new();
        for row in rows {
            match row.and_then(|(line, record)| self.prepare_event(&namespaces, source, line, record)) {
                Ok(event) => events.push(event),
                Err(row) => rejected.push(row),
            }
        }
        self.commit_events(dataset, source, read, &events, rejected)
    }

    /// Checks one event record (`line` within `source`): valid against the "B2B Activity" schema, with an
    /// `_id`, linked to a person; the event to append, or the rejected row saying why.
    pub(crate) fn prepare_event(
        &self,
        namespaces: &crate::ingest::Namespaces,
        source: &str,
        line: u64,
        record: Record,
    ) -> std::result::Result<NewEvent, RowError> {
        let errors = rapport_schema::validate::validate(self.schemas.activity(), &record);
        if let Some(first) = errors.first() {
            return Err(event_error(source, line, RowErrorCode::Invalid, &first.path, first.to_string()));
        }
        event_of(namespaces, source, line, record)
    }

    /// The registered namespaces, by code, as [`Engine::prepare_event`] reads them.
    pub(crate) fn event_namespaces(&self) -> Result<crate::ingest::Namespaces> {
        Ok(self.store.namespaces()?.into_iter().map(|ns| (ns.code.as_str().to_owned(), ns)).collect())
    }

    /// Commits prepared events and rejected rows as one batch of `dataset` (`read` records in all), with an
    /// `updated` change event (path `xEvent`) for each person profile that got new events, then refreshes the
    /// live audiences.
    pub(crate) fn commit_events(
        &mut self,
        dataset: &str,
        source: &str,
        read: u64,
        events: &[NewEvent],
        rejected: Vec<RowError>,
    ) -> Result<EventsReport> {
        let mut report = EventsReport { read, rejected, ..EventsReport::default() };
        let mut writer = self.store.batch_writer(dataset, EntityKind::Activity, source, vec![source.to_owned()])?;
        report.batch_id = writer.batch_id();
        for rejected in &report.rejected {
            writer.reject(rejected)?;
        }
        let appended = writer.append_events(dataset, events)?;
        report.appended = appended.len() as u64;
        report.duplicates = (events.len() - appended.len()) as u64;
        let mut persons = std::collections::BTreeMap::new();
        for &i in &appended {
            if let Some((id, primary)) = writer.person_of(&events[i].person)? {
                persons.insert(id, primary);
            }
        }
        for (profile_id, primary) in &persons {
            writer.append_change(&ChangeEvent {
                seq: 0,
                cause: writer.cause(),
                entity: EntityKind::Person,
                profile_id: *profile_id,
                primary: primary.clone(),
                kind: ChangeKind::Updated,
                paths: vec!["xEvent".to_owned()],
                previous: Vec::new(),
                related: Vec::new(),
                at: String::new(),
            })?;
        }
        report.persons_changed = persons.len() as u64;
        writer.commit(report.read)?;
        // Audiences reading events follow them like any other change of their persons.
        self.after_commit();
        tracing::info!(
            dataset,
            batch = report.batch_id,
            appended = report.appended,
            duplicates = report.duplicates,
            rejected = report.rejected.len(),
            "events appended"
        );
        Ok(report)
    }

    /// Registers the "B2B Activity" schema unless it is registered (the standard B2B schemas must be).
    pub fn register_activity_schema(&mut self) -> Result<()> {
        if self.store.schema_for_entity(EntityKind::Activity)?.is_some() {
            return Ok(());
        }
        if self.store.schema_for_entity(EntityKind::Person)?.is_none() {
            return Err(crate::Error::NoSchema(EntityKind::Person));
        }
        let set = rapport_schema::SchemaSet {
            schemas: vec![rapport_schema::b2b::activity().clone()],
            relationships: Vec::new(),
        };
        self.store.register(&set, &[])?;
        self.schemas = crate::schemas::load(&self.store)?;
        Ok(())
    }

    /// Adds every stored event to `graph`'s event log, linked by identity to the graph's persons (events of
    /// persons without a profile are left out).
    pub(crate) fn attach_events(&self, graph: &mut rapport_profile::ProfileGraph) -> Result<()> {
        let Some(persons) = graph.sets.get(&EntityKind::Person) else { return Ok(()) };
        let mut linked = Vec::new();
        for event in self.store.events()? {
            if let Some(person) = persons.find(&event.person) {
                linked.push((person, event));
            }
        }
        for (person, event) in linked {
            // The log deduplicates by key: `_id` within its dataset.
            let key = format!("{}\u{1f}{}", event.dataset, event.id);
            let _ = graph.events.add_keyed(person, key, event.record);
        }
        Ok(())
    }
}

/// The stored events of the person holding `identities` (every identity of one profile), as the profile graph
/// keys them (dataset and `_id`), in the order [`Engine::attach_events`] adds them: by time, then dataset and
/// `_id`.
pub(crate) fn person_events<'a>(
    store: &rapport_store::Store,
    identities: impl IntoIterator<Item = &'a Identity>,
) -> Result<Vec<(String, Record)>> {
    let mut events = Vec::new();
    for identity in identities {
        events.extend(store.events_of(identity)?);
    }
    events.sort_by(|a, b| (a.timestamp, &a.dataset, &a.id).cmp(&(b.timestamp, &b.dataset, &b.id)));
    Ok(events.into_iter().map(|e| (format!("{}\u{1f}{}", e.dataset, e.id), e.record)).collect())
}

impl Engine {
    /// Parses and binds an audience of `entity`, resolving `inSegment("name")` against the saved audiences.
    pub fn compile_pql(&self, pql: &str, entity: EntityKind) -> Result<rapport_segment::Plan> {
        let lookup = |name: &str| self.store.audience(name).ok().map(|a| (a.entity, a.pql));
        Ok(rapport_segment::compile_with(pql, entity, &self.schemas, &lookup)?)
    }
}

/// The rejected row of the event at `line` within `source`, at `field`.
fn event_error(source: &str, line: u64, code: RowErrorCode, field: &str, message: String) -> RowError {
    RowError { file: source.to_owned(), line, offset: None, field: Some(field.to_owned()), code, message }
}

/// Checks one validated event record (`line` within `source`): with an `_id`, linked to a person; the event
/// to append, or the rejected row saying why.
pub(crate) fn event_of(
    namespaces: &crate::ingest::Namespaces,
    source: &str,
    line: u64,
    record: Record,
) -> std::result::Result<NewEvent, RowError> {
    let reject = |code, field: &str, message: String| event_error(source, line, code, field, message);
    let Some(id) = record.get("_id").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
        return Err(reject(RowErrorCode::MissingId, "_id", "an event needs an `_id`".into()));
    };
    let Some(person) = person_identity(&record, namespaces) else {
        return Err(reject(
            RowErrorCode::Invalid,
            "personKey.sourceKey",
            "an event needs `personKey.sourceKey` or an `identityMap` identity to link it to a person".into(),
        ));
    };
    let timestamp = record.get("timestamp").and_then(Value::as_str).and_then(parse_timestamp);
    let id = id.to_owned();
    Ok(NewEvent { id, person, timestamp, record })
}
