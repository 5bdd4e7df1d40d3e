//! Rapport's durable store.
//!
//! One data directory holds `rapport.db`, an SQLite database in WAL mode. Everything Rapport keeps lives
//! there: the schema registry and namespaces ([`registry`]), datasets, batches, fragments and rejected rows
//! ([`batches`]), the identity graph and merged profiles ([`profiles`]), audiences and memberships
//! ([`audiences`]).
//!
//! Atomicity is the store's promise: a batch (its fragments, identities, rejected rows and its own batch row)
//! is written in one transaction, so a crash leaves either the whole batch or none of it; profile rebuilds
//! and membership updates are likewise one transaction each.
//!
//! This is the only crate that opens database connections. It knows nothing of sources, PQL or HTTP.

pub mod audiences;
pub mod batches;
pub mod datasets;
pub mod profiles;
pub mod registry;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub use audiences::{AudienceRecord, MembershipChange};
pub use batches::{BatchSummary, NewBatch, NewFragment, StoredFragment};
pub use datasets::{DatasetRecord, InletRecord};
pub use profiles::{FragmentHead, NewProfile, ProfileRebuild, StoredProfile};
pub use registry::RegistryChanges;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data directory could not be created or opened.
    #[error("cannot open data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Stored JSON could not be read back: the database was altered outside Rapport.
    #[error("internal: corrupt stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A named object does not exist.
    #[error("{kind} `{name}` does not exist")]
    NotFound {
        /// What kind of object.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A named object exists already.
    #[error("{kind} `{name}` already exists")]
    AlreadyExists {
        /// What kind of object.
        kind: &'static str,
        /// Its name.
        name: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The file name of the database inside the data directory.
pub const DATABASE_FILE: &str = "rapport.db";

/// What a returned commit guarantees (the store opens with [`Durability::Normal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: a committed transaction survives a crash of the process, but the last
    /// transactions before a power loss or operating-system crash may roll back (the WAL is synced at
    /// checkpoints, not at each commit). The database is never corrupted either way.
    #[default]
    Normal,
    /// WAL with `synchronous=FULL`: the WAL is synced at every commit, so a committed transaction also
    /// survives a power loss.
    Full,
}

/// An open store.
pub struct Store {
    conn: Connection,
    dir: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE namespaces (
    code TEXT PRIMARY KEY,
    definition TEXT NOT NULL
);
CREATE TABLE schemas (
    name TEXT PRIMARY KEY,
    entity TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL
);
CREATE TABLE relationships (
    source TEXT NOT NULL,
    source_path TEXT NOT NULL,
    destination TEXT NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (source, source_path)
);
CREATE TABLE datasets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    schema_name TEXT NOT NULL REFERENCES schemas(name)
);
CREATE TABLE batches (
    id INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    source TEXT NOT NULL,
    files TEXT NOT NULL,
    state TEXT NOT NULL,
    rows_read INTEGER NOT NULL,
    rows_ingested INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE fragments (
    id INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    entity TEXT NOT NULL,
    primary_ns TEXT NOT NULL,
    primary_value TEXT NOT NULL,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    updated_at TEXT NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (dataset_id, primary_ns, primary_value)
);
CREATE INDEX fragments_entity ON fragments(entity);
CREATE TABLE fragment_identities (
    fragment_id INTEGER NOT NULL REFERENCES fragments(id) ON DELETE CASCADE,
    ns TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (fragment_id, ns, value)
) WITHOUT ROWID;
CREATE TABLE rejected_rows (
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    file TEXT NOT NULL,
    line INTEGER NOT NULL,
    field TEXT,
    code TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX rejected_rows_batch ON rejected_rows(batch_id);
CREATE TABLE profiles (
    entity TEXT NOT NULL,
    profile_id INTEGER NOT NULL,
    primary_ns TEXT NOT NULL,
    primary_value TEXT NOT NULL,
    fragment_count INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (entity, profile_id)
);
CREATE TABLE profile_identities (
    entity TEXT NOT NULL,
    profile_id INTEGER NOT NULL,
    ns TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (entity, ns, value)
) WITHOUT ROWID;
CREATE TABLE audiences (
    name TEXT PRIMARY KEY,
    entity TEXT NOT NULL,
    pql TEXT NOT NULL,
    created_at TEXT NOT NULL,
    evaluated_at TEXT,
    size INTEGER
);
CREATE TABLE memberships (
    audience TEXT NOT NULL REFERENCES audiences(name) ON DELETE CASCADE,
    member TEXT NOT NULL,
    status TEXT NOT NULL,
    since TEXT NOT NULL,
    PRIMARY KEY (audience, member)
) WITHOUT ROWID;
CREATE TABLE membership_history (
    audience TEXT NOT NULL,
    member TEXT NOT NULL,
    event TEXT NOT NULL,
    at TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE field_groups (
    id TEXT PRIMARY KEY,
    definition TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE inlets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
"#,
];

impl Store {
    /// Opens (creating if needed) the store in `dir`, applying pending migrations.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::DataDir { path: dir.to_owned(), source })?;
        let conn = Connection::open(dir.join(DATABASE_FILE))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let mut store = Self { conn, dir: dir.to_owned() };
        store.migrate()?;
        Ok(store)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sets how hard a commit waits for the disk (SQLite's `synchronous` pragma on this connection).
    pub fn set_durability(&mut self, durability: Durability) -> Result<()> {
        let value = match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        self.conn.pragma_update(None, "synchronous", value)?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<()> {
        let version: i64 = self.conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let tx = self.conn.transaction()?;
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
            tx.execute_batch(migration)?;
            tx.pragma_update(None, "user_version", i64::try_from(i + 1).expect("few migrations"))?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// The current UTC time as RFC 3339 with milliseconds.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::Store;

    /// A store in a fresh temporary directory, with the B2B schemas registered.
    pub fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.register(&rapport_schema::b2b::generate_b2b(), &rapport_schema::namespace::standard()).unwrap();
        (dir, store)
    }
}
