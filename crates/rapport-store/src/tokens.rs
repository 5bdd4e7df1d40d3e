//! API tokens: a public id, the SHA-256 hash of the whole token, a name and a role. The token itself is never
//! stored; the engine makes it and checks a presented one against the hash (in constant time).

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::{now, Error, Result, Store};

/// A stored API token (without any secret: only its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredToken {
    /// The public id (the part of the token that finds its row).
    pub id: String,
    /// The unique name given at creation.
    pub name: String,
    /// The role, as its lowercase name (`admin`, `engineer`, `marketer`, `viewer`).
    pub role: String,
    /// SHA-256 of the whole token.
    #[serde(skip)]
    pub hash: [u8; 32],
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Revocation time (RFC 3339), if revoked.
    pub revoked_at: Option<String>,
}

type Row = (String, String, String, Vec<u8>, String, Option<String>);

fn token(row: Row) -> Result<StoredToken> {
    let (id, name, role, hash, created_at, revoked_at) = row;
    let hash: [u8; 32] =
        hash.try_into().map_err(|_| Error::Corrupt(format!("the hash of token `{name}` is not 32 bytes")))?;
    Ok(StoredToken { id, name, role, hash, created_at, revoked_at })
}

const COLUMNS: &str = "id, name, role, hash, created_at, revoked_at";

impl Store {
    /// Stores a new token. Fails with [`Error::AlreadyExists`] when a token (even a revoked one) has the name.
    pub fn create_token(&mut self, id: &str, name: &str, role: &str, hash: &[u8; 32]) -> Result<StoredToken> {
        let tx = self.conn.transaction()?;
        let exists: Option<String> =
            tx.query_row("SELECT id FROM api_tokens WHERE name = ?1", [name], |row| row.get(0)).optional()?;
        if exists.is_some() {
            return Err(Error::AlreadyExists { kind: "token", name: name.to_owned() });
        }
        let created_at = now();
        tx.execute(
            "INSERT INTO api_tokens (id, name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, name, role, hash.as_slice(), created_at],
        )?;
        tx.commit()?;
        Ok(StoredToken {
            id: id.to_owned(),
            name: name.to_owned(),
            role: role.to_owned(),
            hash: *hash,
            created_at,
            revoked_at: None,
        })
    }

    /// Every token, revoked ones included, by name.
    pub fn tokens(&self) -> Result<Vec<StoredToken>> {
        let mut stmt = self.conn.prepare(&format!("SELECT {COLUMNS} FROM api_tokens ORDER BY name"))?;
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?)))?;
        rows.map(|row| token(row?)).collect()
    }

    /// The token with public id `id`, if any (revoked or not).
    pub fn token_by_id(&self, id: &str) -> Result<Option<StoredToken>> {
        let row: Option<Row> = self
            .conn
            .query_row(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?1"), [id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
            })
            .optional()?;
        row.map(token).transpose()
    }

    /// Revokes the token named `name` (it stays listed, with its revocation time). Revoking a revoked token
    /// changes nothing; an unknown name is [`Error::NotFound`].
    pub fn revoke_token(&mut self, name: &str) -> Result<StoredToken> {
        self.conn.execute(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            params![name, now()],
        )?;
        let row: Option<Row> = self
            .conn
            .query_row(&format!("SELECT {COLUMNS} FROM api_tokens WHERE name = ?1"), [name], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
            })
            .optional()?;
        row.map(token).transpose()?.ok_or_else(|| Error::NotFound { kind: "token", name: name.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::test_util::store;
    use crate::Error;

    #[test]
    fn tokens_are_found_by_id_and_revoked_by_name() {
        let (_dir, mut store) = store();
        let hash = [7u8; 32];
        store.create_token("abc", "ci", "engineer", &hash).unwrap();
        let found = store.token_by_id("abc").unwrap().unwrap();
        assert_eq!((found.name.as_str(), found.role.as_str(), found.hash), ("ci", "engineer", hash));
        assert!(found.revoked_at.is_none());
        assert!(store.token_by_id("abd").unwrap().is_none());
        assert!(matches!(store.create_token("xyz", "ci", "viewer", &hash), Err(Error::AlreadyExists { .. })));
        let revoked = store.revoke_token("ci").unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(store.token_by_id("abc").unwrap().unwrap().revoked_at.is_some());
        assert!(matches!(store.revoke_token("nope"), Err(Error::NotFound { .. })));
        assert_eq!(store.tokens().unwrap().len(), 1);
    }
}
