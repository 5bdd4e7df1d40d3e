//! Streaming activation: positions in the membership history and what caused each activation run.
//!
//! Every entry and exit of every audience is a row of `membership_history`, in commit order; its row id is the
//! history's position. A streaming flow keeps, per audience, the position up to which its destination was
//! pushed (`activation_checkpoints`): the next push reads only the entries after it. The position is the
//! global row id (entries of other audiences are skipped), so [`Store::history_head`] is one lookup.
//!
//! Runs record their cause: `NULL` for a run on demand or on schedule, `stream` for a push of membership
//! changes. Schedules look at the last run that was not a push ([`Store::last_scheduled_run_start`]).

use rusqlite::{params, OptionalExtension};

use crate::{now, Result, Store};

/// The cause of a run that pushed membership changes to a streaming destination.
pub const CAUSE_STREAM: &str = "stream";

impl Store {
    /// The position of the newest entry of the membership history (0 when it is empty).
    pub fn history_head(&self) -> Result<i64> {
        Ok(self.conn.query_row("SELECT COALESCE(MAX(rowid), 0) FROM membership_history", [], |row| row.get(0))?)
    }

    /// The entries of `audience`'s history after position `after` and at most `upto`, oldest first, at most
    /// `limit` of them: (position, member).
    pub fn history_entries(&self, audience: &str, after: i64, upto: i64, limit: usize) -> Result<Vec<(i64, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT rowid, member FROM membership_history
             WHERE rowid > ?2 AND rowid <= ?3 AND audience = ?1 ORDER BY rowid LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![audience, after, upto, i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The status of `member` in `audience` now: `realized` or `existing` while in it, `exited` after it left,
    /// `None` if it never was in it.
    pub fn membership_status(&self, audience: &str, member: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT status FROM memberships WHERE audience = ?1 AND member = ?2")?
            .query_row([audience, member], |row| row.get(0))
            .optional()?)
    }

    /// What the destination of `flow` holds for `member` of `audience`, if anything.
    pub fn held_member(&self, flow: &str, audience: &str, member: &str) -> Result<Option<crate::HeldMember>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT fingerprint, remote FROM activation_state WHERE flow = ?1 AND audience = ?2 AND member = ?3",
            )?
            .query_row([flow, audience, member], |row| {
                Ok(crate::HeldMember { fingerprint: row.get(0)?, remote: row.get(1)? })
            })
            .optional()?)
    }

    /// The history position up to which `flow` pushed `audience`, if it ever did.
    pub fn activation_checkpoint(&self, flow: &str, audience: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT history_id FROM activation_checkpoints WHERE flow = ?1 AND audience = ?2")?
            .query_row([flow, audience], |row| row.get(0))
            .optional()?)
    }

    /// Records that `flow`'s destination holds `audience` up to history position `position`.
    pub fn set_activation_checkpoint(&mut self, flow: &str, audience: &str, position: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO activation_checkpoints (flow, audience, history_id, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (flow, audience) DO UPDATE SET history_id = excluded.history_id,
                 updated_at = excluded.updated_at",
            params![flow, audience, position, now()],
        )?;
        Ok(())
    }

    /// Starts a run of `flow` with its cause (`None` for a run on demand or on schedule).
    pub fn start_activation_run_caused(&mut self, flow: &str, cause: Option<&str>) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO activation_runs (flow, state, started_at, report, cause) VALUES (?1, 'running', ?2, '{}', ?3)",
            params![flow, now(), cause],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// When the last run of `flow` that was not a push of membership changes started (RFC 3339).
    pub fn last_scheduled_run_start(&self, flow: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT started_at FROM activation_runs WHERE flow = ?1 AND cause IS NOT 'stream'
                 ORDER BY id DESC LIMIT 1",
            )?
            .query_row([flow], |row| row.get(0))
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rapport_model::EntityKind;

    use crate::test_util::store;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn history_positions_checkpoints_and_run_causes() {
        let (_dir, mut store) = store();
        assert_eq!(store.history_head().unwrap(), 0);
        store.create_audience("a", EntityKind::Person, "x = 1").unwrap();
        store.create_audience("b", EntityKind::Person, "x = 2").unwrap();
        store.apply_membership("a", &set(&["p1", "p2"])).unwrap(); // positions 1, 2
        store.apply_membership("b", &set(&["q1"])).unwrap(); // 3
        let after_first = store.history_head().unwrap();
        assert_eq!(after_first, 3);
        store.apply_membership("a", &set(&["p2", "p3"])).unwrap(); // p3 enters (4), p1 exits (5)
        let head = store.history_head().unwrap();
        assert_eq!(head, 5);
        let entries = store.history_entries("a", after_first, head, 10).unwrap();
        assert_eq!(entries, vec![(4, "p3".to_owned()), (5, "p1".to_owned())]);
        assert_eq!(store.history_entries("a", 0, head, 2).unwrap(), vec![(1, "p1".to_owned()), (2, "p2".to_owned())]);
        assert_eq!(store.history_entries("a", 0, 1, 10).unwrap(), vec![(1, "p1".to_owned())]);
        assert!(store.history_entries("b", after_first, head, 10).unwrap().is_empty());
        assert_eq!(store.membership_status("a", "p1").unwrap().as_deref(), Some("exited"));
        assert_eq!(store.membership_status("a", "p3").unwrap().as_deref(), Some("realized"));
        assert_eq!(store.membership_status("a", "p9").unwrap(), None);

        store.create_destination("d", "webhook", "{}").unwrap();
        store.create_activation_flow("f", "d", "{}").unwrap();
        assert_eq!(store.activation_checkpoint("f", "a").unwrap(), None);
        store.set_activation_checkpoint("f", "a", 3).unwrap();
        store.set_activation_checkpoint("f", "a", 5).unwrap();
        assert_eq!(store.activation_checkpoint("f", "a").unwrap(), Some(5));
        assert_eq!(store.activation_checkpoint("f", "b").unwrap(), None);

        assert_eq!(store.last_scheduled_run_start("f").unwrap(), None);
        let run = store.start_activation_run("f").unwrap();
        store.start_activation_run_caused("f", Some(super::CAUSE_STREAM)).unwrap();
        let runs = store.activation_runs("f").unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(store.last_scheduled_run_start("f").unwrap(), Some(runs[0].started_at.clone()));
        assert_eq!(runs[0].id, run);
    }
}
