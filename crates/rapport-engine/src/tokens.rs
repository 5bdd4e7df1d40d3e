//! API tokens: made here, stored hashed by the store, checked here.
//!
//! A token reads `rpt_<id>_<secret>`: `id` is 12 hex digits that find the stored row, `secret` 64 hex digits
//! (256 bits from the operating system's random source). The store keeps SHA-256 of the whole token, never the
//! token; a presented token is hashed and compared with the stored hash in constant time ([`subtle`]), so the
//! time an answer takes tells nothing about how much of a guess was right. The token is shown once, when made.
//!
//! Roles grant [`Permission`]s: every role reads; a marketer also manages audiences, destinations and
//! activation; an engineer also manages schemas, datasets, batches, dataflows, streaming and audiences; an
//! admin may do everything, including deleting identities and managing tokens.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use rapport_store::{Store, StoredToken};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Engine, Error, Result};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads only.
    Viewer,
    /// Reads; audiences, destinations and activation.
    Marketer,
    /// Reads; schemas, datasets, batches, dataflows, streaming and audiences.
    Engineer,
    /// Everything, including identity deletion.
    Admin,
}

/// A kind of operation a route performs; [`Role::allows`] says who may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Permission {
    /// Reading anything.
    Read,
    /// Schemas, field groups, namespaces, datasets, batches, dataflows and the streaming inlet.
    Data,
    /// Audiences (segment definitions, evaluation).
    Audiences,
    /// Destinations, activation flows and their runs.
    Activation,
    /// Deleting identities and everything else only an admin may do.
    Admin,
}

impl Role {
    /// Every role, from the least to the most powerful.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Marketer, Role::Engineer, Role::Admin];

    /// Whether this role grants `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        matches!(
            (self, permission),
            (Role::Admin, _)
                | (_, Permission::Read)
                | (Role::Marketer, Permission::Audiences | Permission::Activation)
                | (Role::Engineer, Permission::Data | Permission::Audiences)
        )
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Marketer => "marketer",
            Role::Engineer => "engineer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Role::ALL.into_iter().find(|role| role.as_str() == text).ok_or_else(|| {
            Error::Token(format!("unknown role `{text}` (expected admin, engineer, marketer or viewer)"))
        })
    }
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// The unique name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// The public id (the `<id>` in `rpt_<id>_<secret>`).
    pub id: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Revocation time (RFC 3339), if revoked.
    pub revoked_at: Option<String>,
}

impl TokenInfo {
    fn from_stored(stored: StoredToken) -> Result<Self> {
        let role =
            stored.role.parse().map_err(|_| Error::Internal(format!("token `{}` has an unknown role", stored.name)))?;
        Ok(TokenInfo {
            name: stored.name,
            role,
            id: stored.id,
            created_at: stored.created_at,
            revoked_at: stored.revoked_at,
        })
    }
}

/// The new token, shown once, and what is stored about it.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The token to hand to the client (`rpt_<id>_<secret>`).
    pub token: String,
    /// What is listed about it.
    pub info: TokenInfo,
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|err| Error::Internal(format!("no random source: {err}")))?;
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Token(format!(
            "token name `{name}` must be 1 to 64 characters among letters, digits, `-`, `_` and `.`"
        )))
    }
}

impl Engine {
    /// Makes a token with `name` and `role`, stores its hash and returns it (the only time it is seen).
    pub fn create_token(&mut self, name: &str, role: Role) -> Result<NewToken> {
        check_name(name)?;
        let id = random_hex(6)?;
        let token = format!("rpt_{id}_{}", random_hex(32)?);
        let stored = self.store.create_token(&id, name, role.as_str(), &hash(&token))?;
        Ok(NewToken { token, info: TokenInfo::from_stored(stored)? })
    }

    /// Every token, revoked ones included, by name.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        self.store.tokens()?.into_iter().map(TokenInfo::from_stored).collect()
    }

    /// Revokes the token named `name`: from now on it is refused.
    pub fn revoke_token(&mut self, name: &str) -> Result<TokenInfo> {
        TokenInfo::from_stored(self.store.revoke_token(name)?)
    }
}

/// Checks presented tokens against the store, on a connection of its own (so checking never waits for a
/// commit). Revocations by another process apply to the next request.
#[derive(Debug)]
pub struct Authenticator {
    // A std mutex: the lookup is one primary-key read (microseconds) and never held across an await.
    store: Mutex<Store>,
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

impl Authenticator {
    /// Opens a connection to the store in `data_dir`.
    pub fn open(data_dir: &std::path::Path) -> Result<Self> {
        Ok(Self { store: Mutex::new(Store::open(data_dir)?) })
    }

    /// The caller `presented` belongs to, or `None` when it is malformed, unknown, revoked or wrong.
    pub fn verify(&self, presented: &str) -> Result<Option<Caller>> {
        let Some(id) = presented.strip_prefix("rpt_").and_then(|rest| rest.split_once('_')).map(|(id, _)| id) else {
            return Ok(None);
        };
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let stored = {
            let store =
                self.store.lock().map_err(|_| Error::Internal("the token store lock is poisoned".to_owned()))?;
            store.token_by_id(id)?
        };
        let Some(stored) = stored else { return Ok(None) };
        let matches: bool = hash(presented)[..].ct_eq(&stored.hash[..]).into();
        if !matches || stored.revoked_at.is_some() {
            return Ok(None);
        }
        let info = TokenInfo::from_stored(stored)?;
        Ok(Some(Caller { name: info.name, role: info.role }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn roles_grant_what_the_issue_lists() {
        use Permission::*;
        let grants = |role: Role| [Read, Data, Audiences, Activation, Admin].map(|p| role.allows(p));
        assert_eq!(grants(Role::Viewer), [true, false, false, false, false]);
        assert_eq!(grants(Role::Marketer), [true, false, true, true, false]);
        assert_eq!(grants(Role::Engineer), [true, true, true, false, false]);
        assert_eq!(grants(Role::Admin), [true, true, true, true, true]);
        assert_eq!("marketer".parse::<Role>().unwrap(), Role::Marketer);
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn a_token_is_accepted_until_revoked_and_a_changed_one_never() {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::open(dir.path()).unwrap();
        let made = engine.create_token("ci", Role::Engineer).unwrap();
        // rpt_ + 12 hex + _ + 64 hex.
        assert_eq!(made.token.len(), 4 + 12 + 1 + 64);
        let auth = Authenticator::open(dir.path()).unwrap();
        assert_eq!(auth.verify(&made.token).unwrap(), Some(Caller { name: "ci".to_owned(), role: Role::Engineer }));
        // The same id with another secret, a truncated token and garbage are refused.
        let mut wrong = made.token.clone();
        let last = if wrong.ends_with('0') { '1' } else { '0' };
        wrong.pop();
        wrong.push(last);
        assert_eq!(auth.verify(&wrong).unwrap(), None);
        assert_eq!(auth.verify(&made.token[..made.token.len() - 1]).unwrap(), None);
        assert_eq!(auth.verify("Bearer nonsense").unwrap(), None);
        assert!(matches!(engine.create_token("ci", Role::Viewer), Err(Error::Store(_))));
        assert!(matches!(engine.create_token("bad name", Role::Viewer), Err(Error::Token(_))));
        engine.revoke_token("ci").unwrap();
        assert_eq!(auth.verify(&made.token).unwrap(), None);
        let listed = engine.tokens().unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].revoked_at.is_some());
    }
}
