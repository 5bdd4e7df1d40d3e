//! Experience events ("B2B Activity", B2B-DOMAIN a.1 and d.1): time-series records of a person. Events are not
//! merged: each one is appended to its person's event list (`xEvent` in PQL), deduplicated by `_id`, and linked
//! through `personKey.sourceKey` (namespace `b2b_person`) or, failing that, any identity of its `identityMap`.
//!
//! Segmentation reads at most the latest [`SEGMENTATION_EVENT_LIMIT`] events of a person (the guardrail of
//! B2B-DOMAIN h.4): older ones are dropped from the list when a newer one arrives.
//!
//! Timestamps are kept as milliseconds since the Unix epoch (UTC); [`parse_timestamp`] reads the RFC 3339 forms
//! XDM uses and [`civil`] / [`days_from_civil`] convert between days and calendar dates without a time-zone
//! library (everything is UTC).

use std::collections::HashSet;

use rapport_model::{EntityKind, FieldPath, Identity, Record};
use serde_json::Value;

use crate::links::ProfileGraph;

/// How many of a person's latest events segmentation reads (B2B-DOMAIN h.4).
pub const SEGMENTATION_EVENT_LIMIT: usize = 5000;

/// One experience event of a person.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its `_id` (unique within the log).
    pub id: String,
    /// Its `timestamp`, in milliseconds since the Unix epoch; `None` when missing or unreadable.
    pub timestamp: Option<i64>,
    /// The event record as ingested.
    pub record: Record,
}

/// Every person's events, by person profile number, and the time conditions are evaluated at.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    /// For each person profile number, its events oldest first (events without a timestamp first of all),
    /// at most [`SEGMENTATION_EVENT_LIMIT`].
    by_person: Vec<Vec<Event>>,
    /// The `_id`s seen, for deduplication.
    seen: HashSet<String>,
    /// The evaluation time (`now` in PQL), milliseconds since the Unix epoch; `None` reads the clock.
    pub now: Option<i64>,
}

/// Why an event was not added to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventRejected {
    /// The record has no string `_id`.
    MissingId,
    /// An event with this `_id` is already in the log (events are appended once, never merged).
    Duplicate(String),
    /// Neither `personKey.sourceKey` nor an `identityMap` identity names a known person.
    UnknownPerson,
}

impl std::fmt::Display for EventRejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventRejected::MissingId => f.write_str("event has no `_id`"),
            EventRejected::Duplicate(id) => write!(f, "event `{id}` was already added"),
            EventRejected::UnknownPerson => f.write_str("event names no known person (personKey or identityMap)"),
        }
    }
}

impl EventLog {
    /// The events of person `person`, oldest first.
    pub fn events(&self, person: u32) -> &[Event] {
        self.by_person.get(person as usize).map_or(&[], Vec::as_slice)
    }

    /// The number of persons with an event list (some may be empty).
    pub fn persons(&self) -> usize {
        self.by_person.len()
    }

    /// The evaluation time: [`EventLog::now`] or the system clock.
    pub fn now_ms(&self) -> i64 {
        self.now.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        })
    }

    /// Appends `record` to the events of person `person`; refuses a record without `_id` or with one seen before.
    pub fn add(&mut self, person: u32, record: Record) -> Result<(), EventRejected> {
        let id = record.get("_id").and_then(Value::as_str).ok_or(EventRejected::MissingId)?.to_owned();
        self.add_keyed(person, id, record)
    }

    /// Appends `record` to the events of person `person` unless an event with the same deduplication `key`
    /// was added (the store keys events by dataset and `_id`).
    pub fn add_keyed(&mut self, person: u32, key: String, record: Record) -> Result<(), EventRejected> {
        let id = record.get("_id").and_then(Value::as_str).ok_or(EventRejected::MissingId)?.to_owned();
        if !self.seen.insert(key) {
            return Err(EventRejected::Duplicate(id));
        }
        let timestamp = record.get("timestamp").and_then(Value::as_str).and_then(parse_timestamp);
        if self.by_person.len() <= person as usize {
            self.by_person.resize_with(person as usize + 1, Vec::new);
        }
        let list = &mut self.by_person[person as usize];
        // Stable order: after every event with an earlier or equal timestamp.
        let at = list.partition_point(|e| e.timestamp <= timestamp);
        list.insert(at, Event { id, timestamp, record });
        if list.len() > SEGMENTATION_EVENT_LIMIT {
            let excess = list.len() - SEGMENTATION_EVENT_LIMIT;
            list.drain(..excess);
        }
        Ok(())
    }
}

impl EventLog {
    /// Replaces the events of person `person` with `events` (deduplication `key` and record each), as a store
    /// holds them now: what a live consumer does when a person's events or identities changed. Repeated keys
    /// are taken once; the list is ordered and limited as [`EventLog::add_keyed`] keeps it.
    pub fn replace(&mut self, person: u32, events: impl IntoIterator<Item = (String, Record)>) {
        if self.by_person.len() <= person as usize {
            self.by_person.resize_with(person as usize + 1, Vec::new);
        }
        let mut keys = HashSet::new();
        let mut list: Vec<Event> = events
            .into_iter()
            .filter(|(key, _)| keys.insert(key.clone()))
            .filter_map(|(_, record)| {
                let id = record.get("_id").and_then(Value::as_str)?.to_owned();
                let timestamp = record.get("timestamp").and_then(Value::as_str).and_then(parse_timestamp);
                Some(Event { id, timestamp, record })
            })
            .collect();
        list.sort_by_key(|e| e.timestamp);
        if list.len() > SEGMENTATION_EVENT_LIMIT {
            list.drain(..list.len() - SEGMENTATION_EVENT_LIMIT);
        }
        self.seen.extend(keys);
        self.by_person[person as usize] = list;
    }
}

impl ProfileGraph {
    /// The person profile an event belongs to: its `personKey.sourceKey` (namespace `b2b_person`), else the
    /// first `identityMap` identity a person holds.
    pub fn event_person(&self, record: &Record) -> Option<u32> {
        let persons = self.sets.get(&EntityKind::Person)?;
        let key = FieldPath::from_segments(["personKey", "sourceKey"]);
        if let Some(found) = key
            .get(record)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .and_then(|k| persons.find(&Identity::new("b2b_person", k)))
        {
            return Some(found);
        }
        let map = record.get("identityMap")?.as_object()?;
        map.iter().find_map(|(ns, ids)| {
            ids.as_array()?.iter().find_map(|entry| {
                let id = entry.get("id")?.as_str()?.trim();
                persons.find(&Identity::new(ns.as_str(), id))
            })
        })
    }

    /// Links `record` to its person ([`ProfileGraph::event_person`]) and appends it to [`ProfileGraph::events`];
    /// returns the person's profile number (the profile whose `xEvent` changed).
    pub fn add_event(&mut self, record: Record) -> Result<u32, EventRejected> {
        let person = self.event_person(&record).ok_or(EventRejected::UnknownPerson)?;
        self.events.add(person, record)?;
        Ok(person)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar date (year, month, day) of a day number since 1970-01-01.
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("a day of month fits u32");
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("a month fits u32");
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

const DAY_MS: i64 = 86_400_000;

/// Milliseconds since the Unix epoch of an RFC 3339 date-time (`2026-11-30T02:42:53.001Z`, `…+02:00`) or of a
/// date (`2026-11-30`, midnight UTC); `None` when the text is neither.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    let num = |s: &[u8]| -> Option<i64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    if b.len() == 10 {
        return Some(days * DAY_MS);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, s) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let mut padded = frac[..digits.min(3)].to_vec();
        padded.resize(3, b'0');
        millis = num(&padded)?;
        rest = &frac[digits..];
    }
    let offset_minutes = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), hh0, hh1, b':', mm0, mm1] => {
            let minutes = num(&[*hh0, *hh1])? * 60 + num(&[*mm0, *mm1])?;
            if *sign == b'+' {
                minutes
            } else {
                -minutes
            }
        }
        _ => return None,
    };
    Some(days * DAY_MS + ((h * 60 + mi - offset_minutes) * 60 + s) * 1000 + millis)
}

/// The RFC 3339 text (UTC, milliseconds) of a timestamp, as [`parse_timestamp`] reads it back.
pub fn format_timestamp(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil(days);
    let (h, mi, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rfc3339_forms_against_known_epochs() {
        // 2026-11-30 is 20_787 days after the epoch: 56 years of 365 days, 14 leap days (1972–2024), and 333
        // days from 1 January to 30 November 2026.
        assert_eq!(days_from_civil(2026, 11, 30), 20_787);
        assert_eq!(civil(20_787), (2026, 11, 30));
        assert_eq!(civil(-1), (1969, 12, 31));
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00.5+01:00"), Some(500));
        assert_eq!(parse_timestamp("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert_eq!(parse_timestamp("2026-13-01"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(format_timestamp(951_868_800_123), "2000-03-01T00:00:00.123Z");
    }

    #[test]
    fn appends_once_per_id_and_keeps_the_latest_events() {
        let mut log = EventLog::default();
        let event = |id: &str, ts: &str| {
            let mut r = Record::new();
            r.insert("_id".into(), Value::from(id));
            r.insert("timestamp".into(), Value::from(ts));
            r
        };
        log.add(2, event("b", "2026-01-02T00:00:00Z")).unwrap();
        log.add(2, event("a", "2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(log.add(2, event("a", "2026-01-05T00:00:00Z")), Err(EventRejected::Duplicate("a".into())));
        let ids: Vec<&str> = log.events(2).iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(log.events(0).is_empty());
        for i in 0..SEGMENTATION_EVENT_LIMIT {
            log.add(3, event(&format!("e{i}"), &format_timestamp(1_000 * i as i64 + 10_000))).unwrap();
        }
        log.add(3, event("old", "1970-01-01T00:00:01Z")).unwrap();
        assert_eq!(log.events(3).len(), SEGMENTATION_EVENT_LIMIT);
        assert_eq!(log.events(3)[0].id, "e0", "the oldest event is the one dropped");
    }
}
