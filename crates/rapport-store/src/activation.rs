//! Activation: destinations, activation flows, what each destination holds, delivery history, field labels.
//!
//! - `destinations`: a name, a type and its settings (JSON, secrets included: the data directory is the
//!   secret store; callers redact before display).
//! - `activation_flows`: a name, its destination and its definition (JSON the engine owns).
//! - `activation_state`: per (flow, audience, member), the fingerprint of what was last accepted and the
//!   destination's reference for the member (a Marketo lead id, a hashed email). A run sends only the members
//!   whose fingerprint differs or who are no longer wanted; each accepted batch updates the state in one
//!   transaction, so a crash mid-run resumes from what was accepted.
//! - `activation_targets`: per (flow, audience), the destination's container (a static list, a DMP segment).
//! - `activation_runs`: one row per run of a flow with its delivery report (JSON), kept as history.
//! - `field_labels`: data-usage labels on field paths (`C2`, `C4`, `C12`, …), checked at flow creation.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::{now, Error, Result, Store};

/// A stored destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredDestination {
    /// Its name.
    pub name: String,
    /// Its type (`file`, `marketo`, `linkedin`, `webhook`).
    pub kind: String,
    /// Its settings as JSON (secrets included).
    pub config: String,
    /// Creation time.
    pub created_at: String,
}

/// A stored activation flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredActivationFlow {
    /// Its name.
    pub name: String,
    /// Its destination.
    pub destination: String,
    /// Its definition as JSON.
    pub definition: String,
    /// Creation time.
    pub created_at: String,
}

/// What a destination holds for one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMember {
    /// The fingerprint of the payload last accepted.
    pub fingerprint: String,
    /// The destination's reference for the member, if any.
    pub remote: Option<String>,
}

/// One accepted change, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// The destination now holds the member with this payload.
    Held {
        /// The member.
        member: String,
        /// The payload's fingerprint.
        fingerprint: String,
        /// The destination's reference.
        remote: Option<String>,
    },
    /// The destination no longer holds the member.
    Removed {
        /// The member.
        member: String,
    },
}

/// A stored run of an activation flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredActivationRun {
    /// The run id.
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// `running`, `success`, `partial` (some audience failed) or `failed`.
    pub state: String,
    /// Start time.
    pub started_at: String,
    /// End time.
    pub ended_at: Option<String>,
    /// The delivery report (JSON).
    pub report: String,
}

impl Store {
    /// Saves a new destination.
    pub fn create_destination(&mut self, name: &str, kind: &str, config: &str) -> Result<StoredDestination> {
        let created_at = now();
        let inserted = self.conn.execute(
            "INSERT OR IGNORE INTO destinations (name, kind, config, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, kind, config, created_at],
        )?;
        if inserted == 0 {
            return Err(Error::AlreadyExists { kind: "destination", name: name.to_owned() });
        }
        Ok(StoredDestination { name: name.to_owned(), kind: kind.to_owned(), config: config.to_owned(), created_at })
    }

    /// The destination with this name.
    pub fn destination(&self, name: &str) -> Result<StoredDestination> {
        self.conn
            .query_row(
                "SELECT name, kind, config, created_at FROM destinations WHERE name = ?1",
                [name],
                destination_row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound { kind: "destination", name: name.to_owned() })
    }

    /// Every destination, by name.
    pub fn destinations(&self) -> Result<Vec<StoredDestination>> {
        let mut stmt = self.conn.prepare("SELECT name, kind, config, created_at FROM destinations ORDER BY name")?;
        let rows = stmt.query_map([], destination_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Saves a new activation flow (its destination must exist).
    pub fn create_activation_flow(
        &mut self,
        name: &str,
        destination: &str,
        definition: &str,
    ) -> Result<StoredActivationFlow> {
        self.destination(destination)?;
        let created_at = now();
        let inserted = self.conn.execute(
            "INSERT OR IGNORE INTO activation_flows (name, destination, definition, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, destination, definition, created_at],
        )?;
        if inserted == 0 {
            return Err(Error::AlreadyExists { kind: "activation flow", name: name.to_owned() });
        }
        Ok(StoredActivationFlow {
            name: name.to_owned(),
            destination: destination.to_owned(),
            definition: definition.to_owned(),
            created_at,
        })
    }

    /// The activation flow with this name.
    pub fn activation_flow(&self, name: &str) -> Result<StoredActivationFlow> {
        self.conn
            .query_row(
                "SELECT name, destination, definition, created_at FROM activation_flows WHERE name = ?1",
                [name],
                flow_row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound { kind: "activation flow", name: name.to_owned() })
    }

    /// Every activation flow, by name.
    pub fn activation_flows(&self) -> Result<Vec<StoredActivationFlow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, destination, definition, created_at FROM activation_flows ORDER BY name")?;
        let rows = stmt.query_map([], flow_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// What the destination of `flow` holds for `audience`, by member.
    pub fn held_members(&self, flow: &str, audience: &str) -> Result<HashMap<String, HeldMember>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT member, fingerprint, remote FROM activation_state WHERE flow = ?1 AND audience = ?2",
        )?;
        let rows = stmt.query_map([flow, audience], |row| {
            Ok((row.get::<_, String>(0)?, HeldMember { fingerprint: row.get(1)?, remote: row.get(2)? }))
        })?;
        Ok(rows.collect::<Result<HashMap<_, _>, _>>()?)
    }

    /// Records accepted changes in one transaction.
    pub fn record_accepted(&mut self, flow: &str, audience: &str, accepted: &[Accepted]) -> Result<()> {
        let at = now();
        let tx = self.conn.transaction()?;
        {
            let mut held = tx.prepare_cached(
                "INSERT INTO activation_state (flow, audience, member, fingerprint, remote, sent_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (flow, audience, member)
                 DO UPDATE SET fingerprint = excluded.fingerprint, remote = excluded.remote, sent_at = excluded.sent_at",
            )?;
            let mut removed =
                tx.prepare_cached("DELETE FROM activation_state WHERE flow = ?1 AND audience = ?2 AND member = ?3")?;
            for change in accepted {
                match change {
                    Accepted::Held { member, fingerprint, remote } => {
                        held.execute(params![flow, audience, member, fingerprint, remote, at])?;
                    }
                    Accepted::Removed { member } => {
                        removed.execute(params![flow, audience, member])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The destination's container for `audience` in `flow`, if one was recorded.
    pub fn activation_target(&self, flow: &str, audience: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT remote FROM activation_targets WHERE flow = ?1 AND audience = ?2",
                [flow, audience],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Records the destination's container for `audience` in `flow`.
    pub fn set_activation_target(&mut self, flow: &str, audience: &str, remote: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO activation_targets (flow, audience, remote) VALUES (?1, ?2, ?3)
             ON CONFLICT (flow, audience) DO UPDATE SET remote = excluded.remote",
            params![flow, audience, remote],
        )?;
        Ok(())
    }

    /// Starts a run of `flow`.
    pub fn start_activation_run(&mut self, flow: &str) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO activation_runs (flow, state, started_at, report) VALUES (?1, 'running', ?2, '{}')",
            params![flow, now()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Ends a run with its state and report.
    pub fn end_activation_run(&mut self, run: i64, state: &str, report: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE activation_runs SET state = ?2, ended_at = ?3, report = ?4 WHERE id = ?1",
            params![run, state, now(), report],
        )?;
        Ok(())
    }

    /// The runs of `flow`, oldest first.
    pub fn activation_runs(&self, flow: &str) -> Result<Vec<StoredActivationRun>> {
        self.activation_flow(flow)?;
        let mut stmt = self.conn.prepare(
            "SELECT id, flow, state, started_at, ended_at, report FROM activation_runs WHERE flow = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([flow], |row| {
            Ok(StoredActivationRun {
                id: row.get(0)?,
                flow: row.get(1)?,
                state: row.get(2)?,
                started_at: row.get(3)?,
                ended_at: row.get(4)?,
                report: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The reports of the runs of every flow to `destination` started on or after `since` (RFC 3339).
    pub fn destination_reports_since(&self, destination: &str, since: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.report FROM activation_runs r JOIN activation_flows f ON f.name = r.flow
             WHERE f.destination = ?1 AND r.started_at >= ?2 ORDER BY r.id",
        )?;
        let rows = stmt.query_map([destination, since], |row| row.get(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Puts a data-usage label on a field path (idempotent).
    pub fn add_field_label(&mut self, path: &str, label: &str) -> Result<()> {
        self.conn.execute("INSERT OR IGNORE INTO field_labels (path, label) VALUES (?1, ?2)", params![path, label])?;
        Ok(())
    }

    /// Every (field path, label), sorted.
    pub fn field_labels(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare("SELECT path, label FROM field_labels ORDER BY path, label")?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

fn destination_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredDestination> {
    Ok(StoredDestination { name: row.get(0)?, kind: row.get(1)?, config: row.get(2)?, created_at: row.get(3)? })
}

fn flow_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredActivationFlow> {
    Ok(StoredActivationFlow {
        name: row.get(0)?,
        destination: row.get(1)?,
        definition: row.get(2)?,
        created_at: row.get(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::store;

    #[test]
    fn state_follows_accepted_changes() {
        let (_dir, mut store) = store();
        store.create_destination("d", "webhook", "{}").unwrap();
        assert!(matches!(store.create_destination("d", "webhook", "{}"), Err(Error::AlreadyExists { .. })));
        assert!(matches!(store.create_activation_flow("f", "nope", "{}"), Err(Error::NotFound { .. })));
        store.create_activation_flow("f", "d", "{}").unwrap();
        let held = |m: &str, f: &str| Accepted::Held { member: m.into(), fingerprint: f.into(), remote: None };
        store.record_accepted("f", "a", &[held("p1", "x"), held("p2", "y")]).unwrap();
        store.record_accepted("f", "a", &[held("p2", "z"), Accepted::Removed { member: "p1".into() }]).unwrap();
        let state = store.held_members("f", "a").unwrap();
        assert_eq!(state.len(), 1);
        assert_eq!(state["p2"], HeldMember { fingerprint: "z".into(), remote: None });
        assert!(store.held_members("f", "other").unwrap().is_empty());

        let run = store.start_activation_run("f").unwrap();
        store.end_activation_run(run, "success", r#"{"sent":2}"#).unwrap();
        let runs = store.activation_runs("f").unwrap();
        assert_eq!((runs.len(), runs[0].state.as_str(), runs[0].report.as_str()), (1, "success", r#"{"sent":2}"#));
        assert_eq!(store.destination_reports_since("d", "2000-01-01").unwrap(), [r#"{"sent":2}"#]);
        assert!(store.destination_reports_since("d", "2999-01-01").unwrap().is_empty());
    }
}
