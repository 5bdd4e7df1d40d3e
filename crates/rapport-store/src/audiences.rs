//! Audiences (PQL definitions) and their memberships, with history.

use std::collections::BTreeSet;

use rapport_model::EntityKind;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::{now, Error, Result, Store};

/// A stored audience definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AudienceRecord {
    /// The audience name.
    pub name: String,
    /// The class of its members.
    pub entity: EntityKind,
    /// The PQL text.
    pub pql: String,
    /// Creation time.
    pub created_at: String,
    /// Last evaluation time.
    pub evaluated_at: Option<String>,
    /// Size at the last evaluation.
    pub size: Option<u64>,
}

/// What one evaluation changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MembershipChange {
    /// The evaluation run that recorded the change.
    pub run: i64,
    /// Members now in the audience.
    pub size: u64,
    /// Members that entered (status `realized`).
    pub entered: u64,
    /// Members that stayed (status `existing`).
    pub stayed: u64,
    /// Members that left (status `exited`).
    pub exited: u64,
}

/// One entity's membership of an audience, current or past.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    /// The member's primary identity as `namespace:value`.
    pub member: String,
    /// `realized` (entered at the last evaluation), `existing` (still in) or `exited` (left).
    pub status: String,
    /// When it last entered.
    pub since: String,
    /// When its status was last set.
    pub updated_at: String,
    /// When it left (for `exited`).
    pub exited_at: Option<String>,
}

/// One entry or exit in an audience's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The entity's primary identity as `namespace:value`.
    pub member: String,
    /// `realized` (entered) or `exited` (left).
    pub event: String,
    /// When.
    pub at: String,
    /// The evaluation run that caused it (none for history kept from before runs were recorded).
    pub run: Option<i64>,
    /// The change-feed event that caused it, for changes decided by incremental evaluation, in words
    /// (`opportunity updated b2b_opportunity:o1`).
    pub change_event: Option<String>,
    /// The change-feed event that caused it (position, class, kind, primary identity, time), for changes the
    /// live consumer decided.
    pub cause: Option<crate::ChangeCause>,
}

/// One evaluation of an audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AudienceRun {
    /// The run id (increasing).
    pub id: i64,
    /// When it was recorded.
    pub at: String,
    /// Members after the run.
    pub size: u64,
    /// Members that entered.
    pub entered: u64,
    /// Members that stayed.
    pub stayed: u64,
    /// Members that left.
    pub exited: u64,
}

impl Store {
    /// Saves a new audience definition.
    pub fn create_audience(&mut self, name: &str, entity: EntityKind, pql: &str) -> Result<AudienceRecord> {
        let created_at = now();
        let inserted = self.conn.execute(
            "INSERT OR IGNORE INTO audiences (name, entity, pql, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, entity.name(), pql, created_at],
        )?;
        if inserted == 0 {
            return Err(Error::AlreadyExists { kind: "audience", name: name.to_owned() });
        }
        Ok(AudienceRecord {
            name: name.to_owned(),
            entity,
            pql: pql.to_owned(),
            created_at,
            evaluated_at: None,
            size: None,
        })
    }

    /// The audience with this name.
    pub fn audience(&self, name: &str) -> Result<AudienceRecord> {
        self.conn
            .query_row(
                "SELECT name, entity, pql, created_at, evaluated_at, size FROM audiences WHERE name = ?1",
                [name],
                audience_row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound { kind: "audience", name: name.to_owned() })
    }

    /// Deletes an audience with its memberships, runs, live checkpoint and history, in one transaction.
    pub fn delete_audience(&mut self, name: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM membership_history WHERE audience = ?1", [name])?;
        // Memberships, runs and the live checkpoint go with the row (`ON DELETE CASCADE`).
        let deleted = tx.execute("DELETE FROM audiences WHERE name = ?1", [name])?;
        if deleted == 0 {
            return Err(Error::NotFound { kind: "audience", name: name.to_owned() });
        }
        tx.commit()?;
        Ok(())
    }

    /// Every audience, by name.
    pub fn audiences(&self) -> Result<Vec<AudienceRecord>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, entity, pql, created_at, evaluated_at, size FROM audiences ORDER BY name")?;
        let rows = stmt.query_map([], audience_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Records the result of an evaluation in one transaction, as a new run: members not in before (or exited)
    /// become `realized`, members that stay become `existing`, members that left become `exited` (and stay
    /// listed with their exit time); every entry and exit goes to the history with the run as its cause.
    pub fn apply_membership(&mut self, name: &str, members: &BTreeSet<String>) -> Result<MembershipChange> {
        self.apply_membership_through(name, members, None)
    }

    /// [`Store::apply_membership`] for an evaluation that saw the change feed up to event `seq`: the audience's
    /// live checkpoint is set to it in the same transaction.
    pub fn apply_membership_through(
        &mut self,
        name: &str,
        members: &BTreeSet<String>,
        seq: Option<i64>,
    ) -> Result<MembershipChange> {
        let at = now();
        let tx = self.conn.transaction()?;
        let known: i64 = tx.query_row("SELECT count(*) FROM audiences WHERE name = ?1", [name], |row| row.get(0))?;
        if known == 0 {
            return Err(Error::NotFound { kind: "audience", name: name.to_owned() });
        }
        let active: BTreeSet<String> = {
            let mut stmt = tx.prepare("SELECT member FROM memberships WHERE audience = ?1 AND status <> 'exited'")?;
            let rows = stmt.query_map([name], |row| row.get::<_, String>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let entered: Vec<&String> = members.difference(&active).collect();
        let exited: Vec<&String> = active.difference(members).collect();
        let change = MembershipChange {
            run: 0,
            size: members.len() as u64,
            entered: entered.len() as u64,
            stayed: (members.len() - entered.len()) as u64,
            exited: exited.len() as u64,
        };
        tx.execute(
            "INSERT INTO audience_runs (audience, at, size, entered, stayed, exited) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![name, at, change.size, change.entered, change.stayed, change.exited],
        )?;
        let run = tx.last_insert_rowid();
        // Everyone active stays `existing` unless they exit below.
        tx.execute(
            "UPDATE memberships SET status = 'existing', updated_at = ?2 WHERE audience = ?1 AND status <> 'exited'",
            params![name, at],
        )?;
        {
            let mut enter = tx.prepare(
                "INSERT INTO memberships (audience, member, status, since, updated_at, exited_at)
                 VALUES (?1, ?2, 'realized', ?3, ?3, NULL)
                 ON CONFLICT (audience, member) DO UPDATE SET status = 'realized', since = excluded.since,
                     updated_at = excluded.updated_at, exited_at = NULL",
            )?;
            let mut leave = tx.prepare(
                "UPDATE memberships SET status = 'exited', updated_at = ?3, exited_at = ?3
                 WHERE audience = ?1 AND member = ?2",
            )?;
            let mut history = tx.prepare(
                "INSERT INTO membership_history (audience, member, event, at, run_id) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for member in entered {
                enter.execute(params![name, member, at])?;
                history.execute(params![name, member, "realized", at, run])?;
            }
            for member in exited {
                leave.execute(params![name, member, at])?;
                history.execute(params![name, member, "exited", at, run])?;
            }
        }
        tx.execute(
            "UPDATE audiences SET evaluated_at = ?2, size = ?3 WHERE name = ?1",
            params![name, at, change.size],
        )?;
        if let Some(seq) = seq {
            crate::live::set_checkpoint(&tx, name, seq)?;
        }
        tx.commit()?;
        Ok(MembershipChange { run, ..change })
    }

    /// The current members of an audience (their primary identities as `namespace:value`) with their status
    /// (`realized` or `existing`), sorted.
    pub fn members(&self, name: &str) -> Result<Vec<(String, String)>> {
        self.audience(name)?;
        let mut stmt = self.conn.prepare(
            "SELECT member, status FROM memberships WHERE audience = ?1 AND status <> 'exited' ORDER BY member",
        )?;
        let rows = stmt.query_map([name], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every membership of an audience, exited ones included, by member.
    pub fn memberships(&self, name: &str) -> Result<Vec<Membership>> {
        self.audience(name)?;
        let mut stmt = self.conn.prepare(
            "SELECT member, status, since, COALESCE(updated_at, since), exited_at FROM memberships
             WHERE audience = ?1 ORDER BY member",
        )?;
        let rows = stmt.query_map([name], |row| {
            Ok(Membership {
                member: row.get(0)?,
                status: row.get(1)?,
                since: row.get(2)?,
                updated_at: row.get(3)?,
                exited_at: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The history of an audience (of one member when given), oldest first.
    pub fn membership_history(&self, name: &str, member: Option<&str>) -> Result<Vec<HistoryEntry>> {
        self.audience(name)?;
        let mut stmt = self.conn.prepare(&format!(
            "SELECT h.member, h.event, h.at, h.run_id, h.change_event, {}
             FROM membership_history h LEFT JOIN change_events c ON c.seq = h.change_seq
             WHERE h.audience = ?1 AND (?2 IS NULL OR h.member = ?2) ORDER BY h.rowid",
            crate::live::CAUSE_COLUMNS
        ))?;
        let rows = stmt.query_map(params![name, member], |row| {
            Ok(HistoryEntry {
                member: row.get(0)?,
                event: row.get(1)?,
                at: row.get(2)?,
                run: row.get(3)?,
                change_event: row.get(4)?,
                cause: crate::live::history_cause(row, 5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The evaluation runs of an audience, oldest first.
    pub fn audience_runs(&self, name: &str) -> Result<Vec<AudienceRun>> {
        self.audience(name)?;
        let mut stmt = self.conn.prepare(
            "SELECT id, at, size, entered, stayed, exited FROM audience_runs WHERE audience = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([name], |row| {
            Ok(AudienceRun {
                id: row.get(0)?,
                at: row.get(1)?,
                size: row.get(2)?,
                entered: row.get(3)?,
                stayed: row.get(4)?,
                exited: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

fn audience_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AudienceRecord> {
    let entity: String = row.get(1)?;
    Ok(AudienceRecord {
        name: row.get(0)?,
        entity: entity.parse().unwrap_or(EntityKind::Person),
        pql: row.get(2)?,
        created_at: row.get(3)?,
        evaluated_at: row.get(4)?,
        size: row.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::store;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn memberships_track_entries_and_exits() {
        let (_dir, mut store) = store();
        store.create_audience("a", EntityKind::Person, "x = 1").unwrap();
        assert!(matches!(store.create_audience("a", EntityKind::Person, "x = 1"), Err(Error::AlreadyExists { .. })));
        let first = store.apply_membership("a", &set(&["p1", "p2"])).unwrap();
        assert_eq!((first.size, first.entered, first.stayed, first.exited), (2, 2, 0, 0));
        let second = store.apply_membership("a", &set(&["p2", "p3"])).unwrap();
        assert_eq!((second.size, second.entered, second.stayed, second.exited), (2, 1, 1, 1));
        assert!(second.run > first.run);
        assert_eq!(
            store.members("a").unwrap(),
            vec![("p2".to_owned(), "existing".to_owned()), ("p3".to_owned(), "realized".to_owned())]
        );
        // p1 left: it stays listed as exited, with its exit time.
        let all = store.memberships("a").unwrap();
        let statuses: Vec<(&str, &str)> = all.iter().map(|m| (m.member.as_str(), m.status.as_str())).collect();
        assert_eq!(statuses, vec![("p1", "exited"), ("p2", "existing"), ("p3", "realized")]);
        assert!(all[0].exited_at.is_some() && all[1].exited_at.is_none());
        // p1 comes back, p2 and p3 stay: p1 is realized again with a new entry in the history.
        let third = store.apply_membership("a", &set(&["p1", "p2", "p3"])).unwrap();
        assert_eq!((third.size, third.entered, third.stayed, third.exited), (3, 1, 2, 0));
        let all = store.memberships("a").unwrap();
        let statuses: Vec<(&str, &str)> = all.iter().map(|m| (m.member.as_str(), m.status.as_str())).collect();
        assert_eq!(statuses, vec![("p1", "realized"), ("p2", "existing"), ("p3", "existing")]);
        assert!(all[0].exited_at.is_none());
        let history: Vec<(String, String, Option<i64>)> =
            store.membership_history("a", None).unwrap().into_iter().map(|h| (h.member, h.event, h.run)).collect();
        let entry = |m: &str, e: &str, r: i64| (m.to_owned(), e.to_owned(), Some(r));
        assert_eq!(
            history,
            vec![
                entry("p1", "realized", first.run),
                entry("p2", "realized", first.run),
                entry("p3", "realized", second.run),
                entry("p1", "exited", second.run),
                entry("p1", "realized", third.run),
            ]
        );
        assert_eq!(store.membership_history("a", Some("p2")).unwrap().len(), 1);
        let runs = store.audience_runs("a").unwrap();
        assert_eq!(
            runs.iter().map(|r| (r.id, r.size, r.exited)).collect::<Vec<_>>(),
            vec![(first.run, 2, 0), (second.run, 2, 1), (third.run, 3, 0)]
        );
        assert_eq!(store.audience("a").unwrap().size, Some(3));
        assert!(store.members("nope").is_err());
        assert!(matches!(store.apply_membership("nope", &set(&["p1"])), Err(Error::NotFound { .. })));
    }

    #[test]
    fn deleting_an_audience_removes_its_memberships_runs_and_history_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.create_audience("a", EntityKind::Person, "x = 1").unwrap();
        store.create_audience("b", EntityKind::Person, "x = 2").unwrap();
        store.apply_membership("a", &set(&["p1", "p2"])).unwrap();
        store.apply_membership("b", &set(&["p1"])).unwrap();
        store.delete_audience("a").unwrap();
        assert!(matches!(store.audience("a"), Err(Error::NotFound { .. })));
        let count = |sql: &str| -> i64 { store.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM memberships WHERE audience = 'a'"), 0);
        assert_eq!(count("SELECT count(*) FROM audience_runs WHERE audience = 'a'"), 0);
        assert_eq!(count("SELECT count(*) FROM membership_history WHERE audience = 'a'"), 0);
        // The other audience is untouched: one member, one history entry, one run.
        assert_eq!(store.members("b").unwrap(), vec![("p1".to_owned(), "realized".to_owned())]);
        assert_eq!(store.membership_history("b", None).unwrap().len(), 1);
        assert_eq!(store.audience_runs("b").unwrap().len(), 1);
        assert!(matches!(store.delete_audience("a"), Err(Error::NotFound { .. })));
        // The name can be used again.
        store.create_audience("a", EntityKind::Person, "x = 3").unwrap();
    }

    #[test]
    fn memberships_from_before_runs_keep_their_times_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let before = crate::MIGRATIONS.len() - 1;
        {
            // A database as the release before runs were recorded left it.
            let conn = rusqlite::Connection::open(dir.path().join(crate::DATABASE_FILE)).unwrap();
            for migration in &crate::MIGRATIONS[..before] {
                conn.execute_batch(migration).unwrap();
            }
            conn.pragma_update(None, "user_version", before as i64).unwrap();
            conn.execute_batch(
                "INSERT INTO audiences (name, entity, pql, created_at) VALUES ('a', 'person', 'x = 1', 't0');
                 INSERT INTO memberships (audience, member, status, since) VALUES ('a', 'p1', 'realized', 't1');
                 INSERT INTO membership_history (audience, member, event, at) VALUES ('a', 'p1', 'realized', 't1');",
            )
            .unwrap();
        }
        let mut store = Store::open(dir.path()).unwrap();
        let old = store.memberships("a").unwrap();
        assert_eq!(
            old,
            vec![Membership {
                member: "p1".to_owned(),
                status: "realized".to_owned(),
                since: "t1".to_owned(),
                updated_at: "t1".to_owned(),
                exited_at: None,
            }]
        );
        let run = store.apply_membership("a", &set(&[])).unwrap().run;
        let history: Vec<(String, Option<i64>)> =
            store.membership_history("a", None).unwrap().into_iter().map(|h| (h.event, h.run)).collect();
        assert_eq!(history, vec![("realized".to_owned(), None), ("exited".to_owned(), Some(run))]);
    }
}
