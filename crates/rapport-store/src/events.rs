//! Experience events ("B2B Activity" records): appended, never merged (B2B-DOMAIN d.1).
//!
//! One row per event in `experience_events`, keyed by (dataset, `_id`): appending an event whose `_id` the
//! dataset already holds is a no-op, so replays and retried batches add nothing twice. Each row keeps the
//! identity that links the event to its person (the namespace and value of `personKey.sourceKey`, or of an
//! `identityMap` entry) and the event time in milliseconds, indexed together: a person's events are read by
//! identity, in time order. Appends run in the caller's batch transaction ([`BatchWriter::append_events`]) or
//! in one of their own ([`Store::append_events`]); either way a batch's events commit whole.

use rapport_model::{Identity, Record};
use rusqlite::{params, OptionalExtension};

use crate::{BatchWriter, Result, Store};

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The event's `_id`.
    pub id: String,
    /// The identity linking it to its person.
    pub person: Identity,
    /// The event time, milliseconds since the Unix epoch (`None` when the record has none).
    pub timestamp: Option<i64>,
    /// The event record.
    pub record: Record,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The dataset it was appended to.
    pub dataset: String,
    /// The event's `_id`.
    pub id: String,
    /// The identity linking it to its person.
    pub person: Identity,
    /// The event time, milliseconds since the Unix epoch.
    pub timestamp: Option<i64>,
    /// The event record.
    pub record: Record,
}

fn append(
    tx: &rusqlite::Transaction<'_>,
    dataset: &str,
    batch: Option<i64>,
    events: &[NewEvent],
) -> Result<Vec<usize>> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO experience_events (dataset, event_id, person_ns, person_value, ts, batch_id, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut appended = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let record = serde_json::to_string(&event.record)?;
        let n = stmt.execute(params![
            dataset,
            event.id,
            event.person.namespace.as_str(),
            event.person.value,
            event.timestamp,
            batch,
            record
        ])?;
        if n == 1 {
            appended.push(i);
        }
    }
    Ok(appended)
}

impl BatchWriter<'_> {
    /// Appends `events` to `dataset` in this batch's transaction; returns the positions of the events that
    /// were new (the others repeat an `_id` the dataset holds). Every event counts as ingested by the batch,
    /// a repeated one too: the source did deliver it, as a fragment superseded by a newer one counts.
    pub fn append_events(&mut self, dataset: &str, events: &[NewEvent]) -> Result<Vec<usize>> {
        let batch = self.batch_id();
        let appended = append(self.tx(), dataset, (batch > 0).then_some(batch), events)?;
        self.ingested += events.len() as u64;
        Ok(appended)
    }

    /// The person profile holding `identity`, as this transaction sees it: its id and primary identity.
    pub fn person_of(&self, identity: &Identity) -> Result<Option<(i64, Identity)>> {
        let row = self
            .tx()
            .prepare_cached(
                "SELECT p.profile_id, p.primary_ns, p.primary_value FROM profile_identities i
                 JOIN profiles p ON p.entity = i.entity AND p.profile_id = i.profile_id
                 WHERE i.entity = 'person' AND i.ns = ?1 AND i.value = ?2",
            )?
            .query_row(params![identity.namespace.as_str(), identity.value], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
            })
            .optional()?;
        Ok(row.map(|(id, ns, value)| (id, Identity::new(ns, value))))
    }
}

impl Store {
    /// Appends `events` to `dataset` in one transaction; returns the positions of the events that were new.
    pub fn append_events(&mut self, dataset: &str, events: &[NewEvent]) -> Result<Vec<usize>> {
        let tx = self.conn.transaction()?;
        let appended = append(&tx, dataset, None, events)?;
        tx.commit()?;
        Ok(appended)
    }

    /// Every stored event, oldest first (events without a time first).
    pub fn events(&self) -> Result<Vec<StoredEvent>> {
        self.read_events(
            "SELECT dataset, event_id, person_ns, person_value, ts, record FROM experience_events
             ORDER BY ts, dataset, event_id",
            params![],
        )
    }

    /// The events linked to `person` (one of its identities), oldest first.
    pub fn events_of(&self, person: &Identity) -> Result<Vec<StoredEvent>> {
        self.read_events(
            "SELECT dataset, event_id, person_ns, person_value, ts, record FROM experience_events
             WHERE person_ns = ?1 AND person_value = ?2 ORDER BY ts, dataset, event_id",
            params![person.namespace.as_str(), person.value],
        )
    }

    fn read_events(&self, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<StoredEvent>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(args, |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<i64>>(4)?,
                row.get::<_, String>(5)?,
            ))
        })?;
        rows.map(|row| {
            let (dataset, id, ns, value, timestamp, record) = row?;
            Ok(StoredEvent {
                dataset,
                id,
                person: Identity::new(ns, value),
                timestamp,
                record: serde_json::from_str(&record)?,
            })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn event(id: &str, person: &str, ts: i64) -> NewEvent {
        NewEvent {
            id: id.into(),
            person: Identity::new("b2b_person", person),
            timestamp: Some(ts),
            record: json!({"_id": id, "eventType": "web.webpagedetails.pageViews"}).as_object().unwrap().clone(),
        }
    }

    #[test]
    fn appends_each_event_once_per_dataset_and_reads_a_persons_events_in_time_order() {
        let (_dir, mut store) = crate::test_util::store();
        let first = store.append_events("marketo.activities", &[event("e2", "p1", 20), event("e1", "p1", 10)]).unwrap();
        assert_eq!(first, [0, 1]);
        // A replay of e1 adds nothing; the same _id in another dataset is another event.
        let again = store.append_events("marketo.activities", &[event("e1", "p1", 99), event("e3", "p2", 5)]).unwrap();
        assert_eq!(again, [1]);
        assert_eq!(store.append_events("web.events", &[event("e1", "p1", 30)]).unwrap(), [0]);
        let p1: Vec<(String, Option<i64>)> = store
            .events_of(&Identity::new("b2b_person", "p1"))
            .unwrap()
            .into_iter()
            .map(|e| (e.id, e.timestamp))
            .collect();
        assert_eq!(p1, [("e1".into(), Some(10)), ("e2".into(), Some(20)), ("e1".into(), Some(30))]);
        assert_eq!(store.events().unwrap().len(), 4);
    }
}
