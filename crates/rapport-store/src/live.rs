//! Live memberships: where each audience stands in the change feed, the entries and exits the live consumer
//! decides (each with the change event that caused it), and membership history read back by position.
//!
//! The engine's live consumer (`rapport_engine::live`) reads the change feed after every commit, re-evaluates the
//! entities the new events can affect and hands the result here. [`Store::apply_live_changes`] writes the
//! memberships, their history and the audience's checkpoint (the last change event taken into account) in one
//! transaction, so a crash leaves either all of them or none: the checkpoint is never ahead of the memberships.
//! A full evaluation ([`Store::apply_membership_through`]) sets the checkpoint in its own transaction too.
//!
//! Membership history rows are numbered by SQLite's rowid. Rows are never deleted, so the numbers only grow:
//! [`Store::membership_changes_since`] reads an audience's entries and exits after a position, which is what a
//! streaming destination keeps as its checkpoint.

use rapport_model::{EntityKind, Identity};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::writer::decode_identities;
use crate::{now, Error, Result, Store};

/// One entry or exit decided by the live consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveChange {
    /// The member's primary identity as `namespace:value`.
    pub member: String,
    /// True for an entry (status `realized`), false for an exit (`exited`).
    pub entered: bool,
    /// The change event that caused it.
    pub seq: i64,
}

/// What [`Store::apply_live_changes`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LiveApplied {
    /// Entries written.
    pub entered: u64,
    /// Exits written.
    pub exited: u64,
    /// Members after the change.
    pub size: u64,
    /// The history position of the first entry or exit written (none when nothing changed).
    pub first_history_id: Option<i64>,
    /// The history position of the last one.
    pub last_history_id: Option<i64>,
}

/// The change event that caused an entry or exit, as membership history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeCause {
    /// The event's position in the change feed.
    pub seq: i64,
    /// The class of the profile that changed (`opportunity` when an opportunity closed).
    pub entity: String,
    /// What happened to it (`created`, `updated`, `merged`, `split`, `deleted`).
    pub kind: String,
    /// Its primary identity as `namespace:value`.
    pub primary: String,
    /// When the change was recorded (RFC 3339).
    pub at: String,
}

/// One row of an audience's membership history, with its position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MembershipEvent {
    /// Its position: increasing, never reused.
    pub id: i64,
    /// The member's primary identity as `namespace:value`.
    pub member: String,
    /// `realized` (entered) or `exited` (left).
    pub event: String,
    /// When it was written.
    pub at: String,
    /// The full evaluation run that decided it, if a run did.
    pub run: Option<i64>,
    /// The change event that caused it, if the live consumer decided it.
    pub cause: Option<ChangeCause>,
}

/// Sets `audience`'s live checkpoint inside `tx`.
pub(crate) fn set_checkpoint(tx: &rusqlite::Transaction<'_>, audience: &str, seq: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO audience_live (audience, seq, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (audience) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
        params![audience, seq, now()],
    )?;
    Ok(())
}

fn cause_of(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Option<ChangeCause>> {
    let seq: Option<i64> = row.get(at)?;
    let Some(seq) = seq else { return Ok(None) };
    let entity: Option<String> = row.get(at + 1)?;
    let Some(entity) = entity else {
        // The event is gone (never the case today: the feed is not pruned); keep its number.
        return Ok(Some(ChangeCause {
            seq,
            entity: String::new(),
            kind: String::new(),
            primary: String::new(),
            at: String::new(),
        }));
    };
    Ok(Some(ChangeCause {
        seq,
        entity,
        kind: row.get(at + 2)?,
        primary: format!("{}:{}", row.get::<_, String>(at + 3)?, row.get::<_, String>(at + 4)?),
        at: row.get(at + 5)?,
    }))
}

/// The columns [`cause_of`] reads, from `membership_history h LEFT JOIN change_events c`.
pub(crate) const CAUSE_COLUMNS: &str = "h.change_seq, c.entity, c.kind, c.primary_ns, c.primary_value, c.at";

pub(crate) fn history_cause(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Option<ChangeCause>> {
    cause_of(row, at)
}

impl Store {
    /// The position of the last change event (0 when the feed is empty).
    pub fn last_change_seq(&self) -> Result<i64> {
        Ok(self.conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM change_events", [], |row| row.get(0))?)
    }

    /// The last change event taken into account in `audience`'s memberships, or `None` when they were never
    /// evaluated since live memberships exist (they then need a full evaluation).
    pub fn live_checkpoint(&self, audience: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row("SELECT seq FROM audience_live WHERE audience = ?1", [audience], |row| row.get(0))
            .optional()?)
    }

    /// Writes entries and exits decided by the live consumer, their history (each naming its change event) and
    /// the audience's checkpoint `seq`, in one transaction. An entry of a current member or an exit of a
    /// non-member is skipped, so applying the same changes twice writes them once.
    pub fn apply_live_changes(&mut self, audience: &str, changes: &[LiveChange], seq: i64) -> Result<LiveApplied> {
        self.apply_live_changes_failing(audience, changes, seq, false)
    }

    /// [`Store::apply_live_changes`], failing before the commit when `fail` is set (crash tests: nothing of the
    /// transaction may remain).
    #[doc(hidden)]
    pub fn apply_live_changes_failing(
        &mut self,
        audience: &str,
        changes: &[LiveChange],
        seq: i64,
        fail: bool,
    ) -> Result<LiveApplied> {
        let at = now();
        let tx = self.conn.transaction()?;
        let known: i64 = tx.query_row("SELECT count(*) FROM audiences WHERE name = ?1", [audience], |r| r.get(0))?;
        if known == 0 {
            return Err(Error::NotFound { kind: "audience", name: audience.to_owned() });
        }
        let mut applied = LiveApplied::default();
        {
            let mut status = tx.prepare_cached("SELECT status FROM memberships WHERE audience = ?1 AND member = ?2")?;
            let mut enter = tx.prepare_cached(
                "INSERT INTO memberships (audience, member, status, since, updated_at, exited_at)
                 VALUES (?1, ?2, 'realized', ?3, ?3, NULL)
                 ON CONFLICT (audience, member) DO UPDATE SET status = 'realized', since = excluded.since,
                     updated_at = excluded.updated_at, exited_at = NULL",
            )?;
            let mut leave = tx.prepare_cached(
                "UPDATE memberships SET status = 'exited', updated_at = ?3, exited_at = ?3
                 WHERE audience = ?1 AND member = ?2",
            )?;
            let mut history = tx.prepare_cached(
                "INSERT INTO membership_history (audience, member, event, at, change_seq, change_event)
                 SELECT ?1, ?2, ?3, ?4, ?5, c.entity || ' ' || c.kind || ' ' || c.primary_ns || ':' || c.primary_value
                 FROM (SELECT 1) LEFT JOIN change_events c ON c.seq = ?5",
            )?;
            for change in changes {
                let current: Option<String> =
                    status.query_row([audience, change.member.as_str()], |row| row.get(0)).optional()?;
                let active = current.as_deref().is_some_and(|s| s != "exited");
                if change.entered == active {
                    continue;
                }
                if change.entered {
                    enter.execute(params![audience, change.member, at])?;
                    applied.entered += 1;
                } else {
                    leave.execute(params![audience, change.member, at])?;
                    applied.exited += 1;
                }
                let event = if change.entered { "realized" } else { "exited" };
                history.execute(params![audience, change.member, event, at, change.seq])?;
                let id = tx.last_insert_rowid();
                applied.first_history_id.get_or_insert(id);
                applied.last_history_id = Some(id);
            }
        }
        applied.size = tx.query_row(
            "SELECT count(*) FROM memberships WHERE audience = ?1 AND status <> 'exited'",
            [audience],
            |row| row.get(0),
        )?;
        if applied.entered + applied.exited > 0 {
            tx.execute("UPDATE audiences SET size = ?2 WHERE name = ?1", params![audience, applied.size])?;
        }
        set_checkpoint(&tx, audience, seq)?;
        if fail {
            // Dropping the transaction rolls everything back.
            return Err(Error::Corrupt("injected failure before the live membership commit".to_owned()));
        }
        tx.commit()?;
        Ok(applied)
    }

    /// Up to `limit` entries and exits of `audience` after history position `after` (0 for the first), oldest
    /// first: what a streaming destination reads since its checkpoint.
    pub fn membership_changes_since(&self, audience: &str, after: i64, limit: usize) -> Result<Vec<MembershipEvent>> {
        self.audience(audience)?;
        let sql = format!(
            "SELECT h.rowid, h.member, h.event, h.at, h.run_id, {CAUSE_COLUMNS}
             FROM membership_history h LEFT JOIN change_events c ON c.seq = h.change_seq
             WHERE h.audience = ?1 AND h.rowid > ?2 ORDER BY h.rowid LIMIT ?3"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![audience, after, limit], |row| {
            Ok(MembershipEvent {
                id: row.get(0)?,
                member: row.get(1)?,
                event: row.get(2)?,
                at: row.get(3)?,
                run: row.get(4)?,
                cause: cause_of(row, 5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The profile `id` of class `entity`: its primary identity, identities (sorted) and merged record as stored
    /// JSON text, or `None` when no profile has that id.
    pub fn profile_row(&self, entity: EntityKind, id: i64) -> Result<Option<(Identity, Vec<Identity>, String)>> {
        let row: Option<(String, String, String, String)> = self
            .conn
            .prepare_cached(
                "SELECT p.primary_ns, p.primary_value, p.identities, COALESCE(p.record, f.record)
                 FROM profiles p LEFT JOIN fragments f ON f.id = p.fragment_id
                 WHERE p.entity = ?1 AND p.profile_id = ?2",
            )?
            .query_row(params![entity.name(), id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
            .optional()?;
        let Some((ns, value, identities, record)) = row else { return Ok(None) };
        let mut identities = decode_identities(&identities)?;
        identities.sort();
        Ok(Some((Identity::new(ns, value), identities, record)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::store;

    fn change(member: &str, entered: bool, seq: i64) -> LiveChange {
        LiveChange { member: member.to_owned(), entered, seq }
    }

    #[test]
    fn live_changes_move_the_checkpoint_with_the_memberships_and_skip_repeats() {
        let (_dir, mut store) = store();
        store.create_audience("a", EntityKind::Person, "x = 1").unwrap();
        assert_eq!(store.live_checkpoint("a").unwrap(), None);
        let first = store.apply_live_changes("a", &[change("p1", true, 3), change("p2", true, 3)], 3).unwrap();
        assert_eq!((first.entered, first.exited, first.size), (2, 0, 2));
        assert_eq!(store.live_checkpoint("a").unwrap(), Some(3));
        // p1 again (already in) and p3 out (never in) change nothing; p2 leaves.
        let second =
            store.apply_live_changes("a", &[change("p1", true, 5), change("p3", false, 5), change("p2", false, 5)], 5);
        let second = second.unwrap();
        assert_eq!((second.entered, second.exited, second.size), (0, 1, 1));
        assert_eq!(second.first_history_id, second.last_history_id);
        assert!(second.first_history_id > first.last_history_id);
        let events: Vec<(String, String, Option<i64>)> = store
            .membership_changes_since("a", 0, 10)
            .unwrap()
            .into_iter()
            .map(|e| (e.member, e.event, e.cause.map(|c| c.seq)))
            .collect();
        let e = |m: &str, ev: &str, s: i64| (m.to_owned(), ev.to_owned(), Some(s));
        assert_eq!(events, vec![e("p1", "realized", 3), e("p2", "realized", 3), e("p2", "exited", 5)]);
        let after = store.membership_changes_since("a", first.last_history_id.unwrap(), 10).unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(store.membership_status("a", "p2").unwrap().as_deref(), Some("exited"));

        // A failure before the commit leaves memberships, history and checkpoint as they were.
        let failed = store.apply_live_changes_failing("a", &[change("p9", true, 9)], 9, true);
        assert!(failed.is_err());
        assert_eq!(store.live_checkpoint("a").unwrap(), Some(5));
        assert_eq!(store.membership_status("a", "p9").unwrap(), None);
        assert_eq!(store.membership_changes_since("a", 0, 10).unwrap().len(), 3);
        assert!(matches!(store.apply_live_changes("nope", &[], 1), Err(Error::NotFound { .. })));
    }
}
