//! What the identity graph keeps beside the profiles: linking-rule overrides, each profile's linking
//! decisions (JSON written by the engine, read back by explain), and the identities a profile's fragments
//! carry outside its graph ("mentions").

use rapport_model::{EntityKind, Identity};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::{now, Result, Store};

/// A stored linking-rule override of one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityRuleRow {
    /// The namespace code.
    pub namespace: String,
    /// At most one value of the namespace per graph.
    pub unique: bool,
    /// Namespace priority (lower ranks higher).
    pub priority: u32,
}

/// The linking decisions stored with one profile. A profile of one fragment all of whose links were made has
/// none stored: they follow from the profile (see the engine's `identity` module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileDecisions {
    /// The profile.
    pub profile_id: i64,
    /// The batch whose transaction made them (`None` for a rebuild).
    pub batch_id: Option<i64>,
    /// The decisions as the engine encoded them (JSON).
    pub decisions: String,
}

/// The overrides, by namespace.
pub(crate) fn rule_overrides(conn: &rusqlite::Connection) -> Result<Vec<IdentityRuleRow>> {
    let mut stmt =
        conn.prepare_cached("SELECT namespace, is_unique, priority FROM identity_rules ORDER BY namespace")?;
    let rows = stmt.query_map([], |row| {
        Ok(IdentityRuleRow { namespace: row.get(0)?, unique: row.get(1)?, priority: row.get(2)? })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The profiles whose fragments carry `identity` outside their graph.
pub(crate) fn mention_holders(
    conn: &rusqlite::Connection,
    entity: EntityKind,
    identity: &Identity,
) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT profile_id FROM profile_mentions WHERE entity = ?1 AND ns = ?2 AND value = ?3 ORDER BY profile_id",
    )?;
    let rows = stmt.query_map(params![entity.name(), identity.namespace.as_str(), identity.value], |row| row.get(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

impl Store {
    /// The linking-rule overrides, by namespace.
    pub fn identity_rules(&self) -> Result<Vec<IdentityRuleRow>> {
        rule_overrides(&self.conn)
    }

    /// Stores a linking-rule override for a namespace and marks the profiles stale: graphs built under the old
    /// rules are rebuilt (the engine does so when it opens the store or on `rapport unify`).
    pub fn set_identity_rule(&mut self, rule: &IdentityRuleRow) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO identity_rules (namespace, is_unique, priority, updated_at) VALUES (?1, ?2, ?3, ?4)",
            params![rule.namespace, rule.unique, rule.priority, now()],
        )?;
        tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('profiles_stale', '1')", [])?;
        tx.commit()?;
        Ok(())
    }

    /// The id of the profile whose graph holds `identity`.
    pub fn profile_owning(&self, entity: EntityKind, identity: &Identity) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT profile_id FROM profile_identities WHERE entity = ?1 AND ns = ?2 AND value = ?3")?
            .query_row(params![entity.name(), identity.namespace.as_str(), identity.value], |row| row.get(0))
            .optional()?)
    }

    /// The profiles whose fragments carry `identity` although their graph does not hold it.
    pub fn profiles_mentioning(&self, entity: EntityKind, identity: &Identity) -> Result<Vec<i64>> {
        mention_holders(&self.conn, entity, identity)
    }

    /// The linking decisions stored with a profile.
    pub fn profile_decisions(&self, entity: EntityKind, profile_id: i64) -> Result<Option<ProfileDecisions>> {
        Ok(self
            .conn
            .prepare_cached("SELECT batch_id, decisions FROM identity_decisions WHERE entity = ?1 AND profile_id = ?2")?
            .query_row(params![entity.name(), profile_id], |row| {
                Ok(ProfileDecisions { profile_id, batch_id: row.get(0)?, decisions: row.get(1)? })
            })
            .optional()?)
    }

    /// A stored profile's primary identity, graph identities and fragment ids.
    pub fn profile_members(&self, entity: EntityKind, profile_id: i64) -> Result<Option<crate::ProfileMembers>> {
        crate::writer::read_profile_members(&self.conn, entity, profile_id)
    }
}
