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
    /// Members now in the audience.
    pub size: u64,
    /// Members that entered (status `realized`).
    pub entered: u64,
    /// Members that stayed (status `existing`).
    pub stayed: u64,
    /// Members that left (status `exited`).
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

    /// Every audience, by name.
    pub fn audiences(&self) -> Result<Vec<AudienceRecord>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, entity, pql, created_at, evaluated_at, size FROM audiences ORDER BY name")?;
        let rows = stmt.query_map([], audience_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Records the result of an evaluation in one transaction: new members are `realized`, members that stay
    /// become `existing`, members that left are removed, and every entry and exit goes to the history.
    pub fn apply_membership(&mut self, name: &str, members: &BTreeSet<String>) -> Result<MembershipChange> {
        let at = now();
        let tx = self.conn.transaction()?;
        let current: BTreeSet<String> = {
            let mut stmt = tx.prepare("SELECT member FROM memberships WHERE audience = ?1")?;
            let rows = stmt.query_map([name], |row| row.get::<_, String>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut change = MembershipChange { size: members.len() as u64, ..MembershipChange::default() };
        {
            let mut enter = tx
                .prepare("INSERT INTO memberships (audience, member, status, since) VALUES (?1, ?2, 'realized', ?3)")?;
            let mut stay =
                tx.prepare("UPDATE memberships SET status = 'existing' WHERE audience = ?1 AND member = ?2")?;
            let mut leave = tx.prepare("DELETE FROM memberships WHERE audience = ?1 AND member = ?2")?;
            let mut history =
                tx.prepare("INSERT INTO membership_history (audience, member, event, at) VALUES (?1, ?2, ?3, ?4)")?;
            for member in members {
                if current.contains(member) {
                    stay.execute(params![name, member])?;
                    change.stayed += 1;
                } else {
                    enter.execute(params![name, member, at])?;
                    history.execute(params![name, member, "realized", at])?;
                    change.entered += 1;
                }
            }
            for member in current.difference(members) {
                leave.execute(params![name, member])?;
                history.execute(params![name, member, "exited", at])?;
                change.exited += 1;
            }
        }
        let updated = tx.execute(
            "UPDATE audiences SET evaluated_at = ?2, size = ?3 WHERE name = ?1",
            params![name, at, change.size],
        )?;
        if updated == 0 {
            return Err(Error::NotFound { kind: "audience", name: name.to_owned() });
        }
        tx.commit()?;
        Ok(change)
    }

    /// The current members of an audience (their primary identities as `namespace:value`), sorted.
    pub fn members(&self, name: &str) -> Result<Vec<(String, String)>> {
        self.audience(name)?;
        let mut stmt =
            self.conn.prepare("SELECT member, status FROM memberships WHERE audience = ?1 ORDER BY member")?;
        let rows = stmt.query_map([name], |row| Ok((row.get(0)?, row.get(1)?)))?;
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
        assert_eq!(
            store.members("a").unwrap(),
            vec![("p2".to_owned(), "existing".to_owned()), ("p3".to_owned(), "realized".to_owned())]
        );
        assert_eq!(store.audience("a").unwrap().size, Some(2));
        assert!(store.members("nope").is_err());
    }
}
