//! Rapport's durable store.
//!
//! One data directory holds `rapport.db`, an SQLite database in WAL mode. Everything Rapport keeps lives
//! there: the schema registry and namespaces ([`registry`]), datasets, batches, fragments and rejected rows
//! ([`batches`]), the identity graph and merged profiles ([`profiles`]), audiences and memberships
//! ([`audiences`]), experience events ([`events`]), destinations, activation flows and what each destination
//! holds ([`activation`]). [`pg_source`] reads PostgreSQL tables and queries as ingestion sources.
//!
//! Atomicity is the store's promise: a batch (its fragments, identities, rejected rows and its own batch row)
//! is written in one transaction, so a crash leaves either the whole batch or none of it; profile rebuilds
//! and membership updates are likewise one transaction each. A batch row is committed `loading` first and ends
//! `success` or `failed` ([`lifecycle`]); a dataflow's file checkpoint commits in its batch's transaction
//! ([`flows`]).
//!
//! This is the only crate that opens database connections. It knows nothing of sources, PQL or HTTP.

pub mod activation;
pub mod audiences;
pub mod batches;
pub mod changes;
pub mod dataset_exports;
pub mod datasets;
pub mod deletions;
pub mod events;
pub mod flows;
pub mod identity;
pub mod lifecycle;
pub mod live;
pub mod pg_source;
pub mod profiles;
pub mod registry;
pub mod streaming;
pub mod tokens;
pub mod writer;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub use activation::{Accepted, HeldMember, HeldRows, StoredActivationFlow, StoredActivationRun, StoredDestination};
pub use audiences::{AudienceRecord, AudienceRun, HistoryEntry, Membership, MembershipChange};
pub use batches::{BatchSummary, NewBatch, NewFragment, StoredFragment};
pub use changes::{Cause, ChangeEvent, ChangeKind, EntityRef, ProfileRow};
pub use datasets::{DatasetRecord, InletRecord};
pub use deletions::FragmentKey;
pub use events::{NewEvent, StoredEvent};
pub use flows::{
    Every, FileCheckpoint, FlowCheckpoint, FlowDefinition, FlowRun, FlowSource, PgFlowCheckpoint, RunState,
    RunningFlow, StoredCheckpoint, StoredFlow,
};
pub use identity::{IdentityRuleRow, ProfileDecisions};
pub use lifecycle::{
    BatchError, BatchFailure, BatchFilter, BatchInfo, BatchMetrics, BatchStart, BatchState, ErrorThreshold,
    FailureCode, FailureReason, LoadingBatch,
};
pub use live::{ChangeCause, LiveApplied, LiveChange, MembershipEvent};
pub use profiles::{FragmentDetail, PersonRelation, ProfileStats, Reference, StoredProfile};
pub use registry::RegistryChanges;
pub use tokens::StoredToken;
pub use writer::{BatchWriter, EncodedFragment, FragmentHead, FragmentWrite, ProfileMembers, ProfileWrite};

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
    /// PostgreSQL reported an error (connection, query, or a value that cannot be read). The message holds the
    /// client's error with its causes (the client's own text is only its kind, such as "error deserializing
    /// column 2", the reason being its cause), so the error has no source of its own.
    #[error("{context}: {}", rapport_model::error_text(error))]
    Postgres {
        /// What was being done.
        context: String,
        /// The client's error.
        error: postgres::Error,
    },
    /// Syncing the write-ahead log failed: the commits it was to make durable may not be.
    #[error("cannot sync the log {path}: {source}")]
    Sync {
        /// The log file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A PostgreSQL source cannot be read as asked (a missing column, no key, an unsupported column type).
    #[error("{0}")]
    PgSource(String),
    /// A named object exists already.
    #[error("{kind} `{name}` already exists")]
    AlreadyExists {
        /// What kind of object.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A batch was to be ended but is no longer `loading` (it was marked interrupted, or ended twice).
    #[error("batch {0} is no longer loading; it cannot be ended again")]
    NotLoading(i64),
    /// A flow run was asked for while another run of the same flow is alive.
    #[error("flow `{flow}` is already running (run {run})")]
    FlowBusy {
        /// The flow.
        flow: String,
        /// The live run.
        run: i64,
    },
    /// A stored value cannot be read back: the database was altered outside Rapport.
    #[error("internal: corrupt stored value: {0}")]
    Corrupt(String),
    /// Records of one class were to go into a dataset bound to another.
    #[error("dataset `{dataset}` holds {holds} records; {given} records cannot go into it (choose another dataset)")]
    DatasetEntity {
        /// The dataset.
        dataset: String,
        /// The class it is bound to.
        holds: String,
        /// The class of the records offered.
        given: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The file name of the database inside the data directory.
pub const DATABASE_FILE: &str = "rapport.db";

/// The page size of a new database (see [`Store::open`]).
const PAGE_SIZE: i64 = 8_192;

/// Compiled statements kept per connection, more than the write path uses (see [`Store::open`]).
const STATEMENT_CACHE: usize = 256;

/// What a returned commit guarantees (the store opens with [`Durability::Full`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: a committed transaction survives a crash of the process, but the last
    /// transactions before a power loss or operating-system crash may roll back (the WAL is synced at
    /// checkpoints, not at each commit). The database is never corrupted either way.
    Normal,
    /// WAL with `synchronous=FULL`: the WAL is synced at every commit, so a committed transaction also
    /// survives a power loss.
    #[default]
    Full,
}

/// Makes commits durable that returned under [`Durability::Normal`]. One sync of the write-ahead log covers
/// every commit written to it before the sync began, so a caller may start the next transaction at once and
/// sync on another thread (a group commit), telling anyone that their data is stored only once
/// [`LogSync::sync`] has returned.
///
/// Why that suffices: a commit under `NORMAL` has written its frames to the log file when it returns; syncing
/// the file (any descriptor of it) puts them on the disk. The log only starts over once a checkpoint has copied
/// all of it into the database file and synced that, so frames it overwrites are durable there already.
#[derive(Debug, Clone)]
pub struct LogSync {
    wal: PathBuf,
}

impl LogSync {
    /// Syncs the log file's data to the disk.
    pub fn sync(&self) -> Result<()> {
        match std::fs::File::open(&self.wal) {
            Ok(file) => file.sync_data().map_err(|source| Error::Sync { path: self.wal.clone(), source }),
            // No log: SQLite removes it only after copying every commit into the database file, which it syncs.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Sync { path: self.wal.clone(), source }),
        }
    }
}

/// An open store.
pub struct Store {
    conn: Connection,
    dir: PathBuf,
    checkpointer: Checkpointer,
}

/// Copies committed pages from the write-ahead log into the database on a thread of its own.
///
/// In WAL mode every page is written twice: into the log at commit (that write is the durable one) and later
/// into the database file (the checkpoint). SQLite's automatic checkpoint runs inside the committing call, so a
/// large batch would pay for both before returning; here the writer only nudges this thread after a commit,
/// and the copy overlaps the next batch's work. Dropping the store waits for a running checkpoint.
struct Checkpointer {
    nudge: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let (nudge, nudges) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("rapport-checkpoint".to_owned())
            .spawn(move || {
                while nudges.recv().is_ok() {
                    // PASSIVE never blocks writers or readers; what it cannot copy now, the next nudge does.
                    let frames = |row: &rusqlite::Row<'_>| Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?));
                    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], frames) {
                        Ok((logged, copied)) => tracing::debug!(logged, copied, "checkpoint: log frames, frames copied"),
                        Err(err) => tracing::warn!(error = %err, "checkpoint failed; the log keeps the data and the next one retries"),
                    }
                }
            })
            .map_err(|source| Error::DataDir { path: path.to_owned(), source })?;
        Ok(Self { nudge: Some(nudge), thread: Some(thread) })
    }
}

/// Wakes the checkpointer after a commit.
pub(crate) struct Nudge(Option<std::sync::mpsc::SyncSender<()>>);

impl Nudge {
    pub(crate) fn send(&self) {
        if let Some(nudge) = &self.0 {
            // A full queue means a checkpoint is already pending; it will cover this commit too.
            let _ = nudge.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.nudge.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
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
    // The write path keeps profiles current batch by batch: a fragment carries its identities inline (no
    // per-identity rows to write), a profile lists its fragments and has stable ids, and a profile made of one
    // fragment points at it instead of copying its record. Profiles are derived data: the old ones are dropped
    // and `meta.profiles_stale` asks the engine to rebuild them from the fragments.
    r#"
ALTER TABLE fragments ADD COLUMN identities TEXT NOT NULL DEFAULT '[]';
UPDATE fragments SET identities = COALESCE((
    SELECT json_group_array(json_array(ns, value)) FROM (
        SELECT ns, value FROM fragment_identities WHERE fragment_id = fragments.id ORDER BY ns, value)
), '[]');
DROP TABLE fragment_identities;
DROP TABLE profiles;
DROP TABLE profile_identities;
CREATE TABLE profiles (
    entity TEXT NOT NULL,
    profile_id INTEGER NOT NULL,
    primary_ns TEXT NOT NULL,
    primary_value TEXT NOT NULL,
    identities TEXT NOT NULL,
    fragments TEXT NOT NULL,
    fragment_id INTEGER,
    record TEXT,
    PRIMARY KEY (entity, profile_id)
);
CREATE TABLE profile_identities (
    entity TEXT NOT NULL,
    ns TEXT NOT NULL,
    value TEXT NOT NULL,
    profile_id INTEGER NOT NULL,
    PRIMARY KEY (entity, ns, value)
) WITHOUT ROWID;
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) SELECT 'profiles_stale', '1' WHERE EXISTS (SELECT 1 FROM fragments);
"#,
    // Batch lifecycle (loading → success | failed), metrics and reasons; dataflows with runs and checkpoints.
    r#"
CREATE TABLE flows (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE flow_runs (
    id INTEGER PRIMARY KEY,
    flow TEXT NOT NULL REFERENCES flows(name),
    state TEXT NOT NULL,
    owner TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    files_listed INTEGER NOT NULL DEFAULT 0,
    files_skipped INTEGER NOT NULL DEFAULT 0,
    message TEXT
);
CREATE INDEX flow_runs_flow ON flow_runs(flow);
CREATE TABLE flow_checkpoints (
    flow TEXT NOT NULL REFERENCES flows(name),
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    committed_at TEXT NOT NULL,
    PRIMARY KEY (flow, path)
) WITHOUT ROWID;
ALTER TABLE batches ADD COLUMN input_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN error_threshold_bp INTEGER;
ALTER TABLE batches ADD COLUMN reason_code TEXT;
ALTER TABLE batches ADD COLUMN reason TEXT;
ALTER TABLE batches ADD COLUMN owner TEXT;
ALTER TABLE batches ADD COLUMN flow_run INTEGER REFERENCES flow_runs(id);
ALTER TABLE batches ADD COLUMN updated_at TEXT;
CREATE INDEX batches_state ON batches(state);
CREATE INDEX batches_flow_run ON batches(flow_run);
"#,
    // Rejected rows keep the byte offset of their row when the input is read as bytes.
    r#"
ALTER TABLE rejected_rows ADD COLUMN byte_offset INTEGER;
"#,
    r#"
CREATE TABLE inlets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
"#,
    // A PostgreSQL flow's high-water mark (modification time and key, as PostgreSQL prints them), committed
    // with the batch of the rows it covers.
    r#"
CREATE TABLE flow_pg_checkpoints (
    flow TEXT PRIMARY KEY REFERENCES flows(name),
    modified TEXT NOT NULL,
    key TEXT NOT NULL,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    committed_at TEXT NOT NULL
);
"#,
    // A profile lookup finds the relation records (opportunity contact roles, account-contact relations) of one
    // person by the person key they hold, without loading the relation classes.
    r#"
CREATE INDEX fragments_opportunity_person_person ON fragments(json_extract(record, '$.personKey.sourceKey'))
    WHERE entity = 'opportunity_person';
CREATE INDEX fragments_account_person_person ON fragments(json_extract(record, '$.personKey.sourceKey'))
    WHERE entity = 'account_person';
"#,
    // Memberships keep members that left (status `exited`) with their entry, update and exit times; every
    // evaluation is a run, and each history entry names its cause: the run, or (later) a change-feed event.
    r#"
CREATE TABLE audience_runs (
    id INTEGER PRIMARY KEY,
    audience TEXT NOT NULL REFERENCES audiences(name) ON DELETE CASCADE,
    at TEXT NOT NULL,
    size INTEGER NOT NULL,
    entered INTEGER NOT NULL,
    stayed INTEGER NOT NULL,
    exited INTEGER NOT NULL
);
CREATE INDEX audience_runs_audience ON audience_runs(audience);
ALTER TABLE memberships ADD COLUMN updated_at TEXT;
ALTER TABLE memberships ADD COLUMN exited_at TEXT;
UPDATE memberships SET updated_at = since;
ALTER TABLE membership_history ADD COLUMN run_id INTEGER REFERENCES audience_runs(id);
ALTER TABLE membership_history ADD COLUMN change_event TEXT;
CREATE INDEX membership_history_audience ON membership_history(audience, member);
"#,
    // The change feed: what each batch, streamed group and deletion did to the merged profiles, in commit order
    // (see `changes`). `prior_records` is not here: it is a per-connection TEMP table the writer creates.
    r#"
CREATE TABLE change_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    cause TEXT NOT NULL,
    batch_id INTEGER,
    entity TEXT NOT NULL,
    profile_id INTEGER NOT NULL,
    primary_ns TEXT NOT NULL,
    primary_value TEXT NOT NULL,
    kind TEXT NOT NULL,
    paths TEXT NOT NULL,
    previous TEXT NOT NULL,
    related TEXT NOT NULL,
    at TEXT NOT NULL
);
"#,
    // Reverse relationship lookups (account → people, opportunities and child accounts, opportunity → people)
    // and the related entities of change events find the fragments that point at a key through these indexes.
    r#"
CREATE INDEX fragments_opportunity_account ON fragments(json_extract(record, '$.accountKey.sourceKey'))
    WHERE entity = 'opportunity';
CREATE INDEX fragments_person_account ON fragments(json_extract(record, '$.personComponents[0].sourceAccountKey.sourceKey'))
    WHERE entity = 'person';
CREATE INDEX fragments_opportunity_person_opportunity ON fragments(json_extract(record, '$.opportunityKey.sourceKey'))
    WHERE entity = 'opportunity_person';
CREATE INDEX fragments_account_person_account ON fragments(json_extract(record, '$.accountKey.sourceKey'))
    WHERE entity = 'account_person';
CREATE INDEX fragments_account_parent ON fragments(json_extract(record, '$.accountParentKey.sourceKey'))
    WHERE entity = 'account';
CREATE INDEX fragments_batch ON fragments(batch_id);
"#,
    // Activation: destinations, activation flows, what each destination holds per (flow, audience, member),
    // the destination's container per (flow, audience), run history with delivery reports, field labels.
    r#"
CREATE TABLE destinations (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE activation_flows (
    name TEXT PRIMARY KEY,
    destination TEXT NOT NULL REFERENCES destinations(name),
    definition TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE activation_state (
    flow TEXT NOT NULL REFERENCES activation_flows(name),
    audience TEXT NOT NULL,
    member TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    remote TEXT,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (flow, audience, member)
) WITHOUT ROWID;
CREATE TABLE activation_targets (
    flow TEXT NOT NULL REFERENCES activation_flows(name),
    audience TEXT NOT NULL,
    remote TEXT NOT NULL,
    PRIMARY KEY (flow, audience)
) WITHOUT ROWID;
CREATE TABLE activation_runs (
    id INTEGER PRIMARY KEY,
    flow TEXT NOT NULL REFERENCES activation_flows(name),
    state TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    report TEXT NOT NULL
);
CREATE INDEX activation_runs_flow ON activation_runs(flow);
CREATE TABLE field_labels (
    path TEXT NOT NULL,
    label TEXT NOT NULL,
    PRIMARY KEY (path, label)
) WITHOUT ROWID;
"#,
    // Identity linking rules (issue 5): the identities a profile's fragments carry outside its graph (a link
    // cut by a unique namespace or removed by an eviction), which tie it to the graphs holding them; each
    // profile's linking decisions; and per-namespace rule overrides. Profiles are rebuilt so that every graph
    // follows the rules and has its decisions.
    r#"
CREATE TABLE profile_mentions (
    entity TEXT NOT NULL,
    ns TEXT NOT NULL,
    value TEXT NOT NULL,
    profile_id INTEGER NOT NULL,
    PRIMARY KEY (entity, ns, value, profile_id)
) WITHOUT ROWID;
CREATE INDEX profile_mentions_profile ON profile_mentions(entity, profile_id);
CREATE TABLE identity_decisions (
    entity TEXT NOT NULL,
    profile_id INTEGER NOT NULL,
    batch_id INTEGER,
    decisions TEXT NOT NULL,
    PRIMARY KEY (entity, profile_id)
);
CREATE TABLE identity_rules (
    namespace TEXT PRIMARY KEY,
    is_unique INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT OR REPLACE INTO meta (key, value) SELECT 'profiles_stale', '1' WHERE EXISTS (SELECT 1 FROM fragments);
"#,
    // Experience events (issue 6): appended per dataset, unique by `_id`, read by the identity that links
    // each to its person, in time order (see `events`).
    r#"
CREATE TABLE experience_events (
    dataset TEXT NOT NULL,
    event_id TEXT NOT NULL,
    person_ns TEXT NOT NULL,
    person_value TEXT NOT NULL,
    ts INTEGER,
    batch_id INTEGER,
    record TEXT NOT NULL,
    PRIMARY KEY (dataset, event_id)
) WITHOUT ROWID;
CREATE INDEX experience_events_person ON experience_events(person_ns, person_value, ts);
"#,
    // Activation (issue 7, second part): per (flow, audience) the position in the membership history up to
    // which a streaming destination was pushed; what caused each activation run (NULL = a run on demand or on
    // schedule, `stream` = a push of membership changes); the batches each dataset export already wrote.
    r#"
CREATE TABLE activation_checkpoints (
    flow TEXT NOT NULL REFERENCES activation_flows(name),
    audience TEXT NOT NULL,
    history_id INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (flow, audience)
) WITHOUT ROWID;
ALTER TABLE activation_runs ADD COLUMN cause TEXT;
CREATE TABLE dataset_exports (
    dataset TEXT NOT NULL,
    target TEXT NOT NULL,
    batch_id INTEGER NOT NULL,
    exported_at TEXT NOT NULL,
    PRIMARY KEY (dataset, target, batch_id)
) WITHOUT ROWID;
"#,
    // Live memberships (issue 6): per audience, the last change event its memberships take into account
    // (written in the transaction of the memberships); history entries decided by the live consumer name their
    // change event. Audiences saved before have no checkpoint: their first refresh is a full evaluation.
    r#"
CREATE TABLE audience_live (
    audience TEXT PRIMARY KEY REFERENCES audiences(name) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
ALTER TABLE membership_history ADD COLUMN change_seq INTEGER;
"#,
    // API tokens (issue 9): the public id that finds a token's row, the SHA-256 of the whole token (never the
    // token), a unique name and a role; revoked tokens stay listed (see `tokens`).
    r#"
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    hash BLOB NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"#,
    // Activation at scale (issue 7): what a file destination holds per (flow, audience) is one BLOB (every
    // member with its row hash, see `activation::HeldRows`), written in the transaction that ends the run,
    // instead of one `activation_state` row per member.
    r#"
CREATE TABLE activation_file_state (
    flow TEXT NOT NULL REFERENCES activation_flows(name),
    audience TEXT NOT NULL,
    run INTEGER NOT NULL REFERENCES activation_runs(id),
    members INTEGER NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (flow, audience)
);
"#,
    // The relationship keys of a fragment (`profiles::fragment_links`) in two columns written with it, instead
    // of seven expression indexes that parsed the JSON of every record stored. Only text keys are copied, as
    // only text ever matched a lookup.
    r#"
ALTER TABLE fragments ADD COLUMN link TEXT;
ALTER TABLE fragments ADD COLUMN link2 TEXT;
UPDATE fragments SET link = CASE WHEN json_type(record, '$.accountKey.sourceKey') = 'text'
    THEN json_extract(record, '$.accountKey.sourceKey') END WHERE entity IN ('opportunity', 'account_person');
UPDATE fragments SET link = CASE WHEN json_type(record, '$.personComponents[0].sourceAccountKey.sourceKey') = 'text'
    THEN json_extract(record, '$.personComponents[0].sourceAccountKey.sourceKey') END WHERE entity = 'person';
UPDATE fragments SET link = CASE WHEN json_type(record, '$.opportunityKey.sourceKey') = 'text'
    THEN json_extract(record, '$.opportunityKey.sourceKey') END WHERE entity = 'opportunity_person';
UPDATE fragments SET link = CASE WHEN json_type(record, '$.accountParentKey.sourceKey') = 'text'
    THEN json_extract(record, '$.accountParentKey.sourceKey') END WHERE entity = 'account';
UPDATE fragments SET link2 = CASE WHEN json_type(record, '$.personKey.sourceKey') = 'text'
    THEN json_extract(record, '$.personKey.sourceKey') END WHERE entity IN ('opportunity_person', 'account_person');
DROP INDEX fragments_opportunity_person_person;
DROP INDEX fragments_account_person_person;
DROP INDEX fragments_opportunity_account;
DROP INDEX fragments_person_account;
DROP INDEX fragments_opportunity_person_opportunity;
DROP INDEX fragments_account_person_account;
DROP INDEX fragments_account_parent;
CREATE INDEX fragments_link ON fragments(entity, link) WHERE link IS NOT NULL;
CREATE INDEX fragments_link2 ON fragments(entity, link2) WHERE link2 IS NOT NULL;
"#,
    // A fragment's modification time is compared as text (which record of a key wins, merge order), so it is
    // kept as the UTC instant to the millisecond (`rapport_engine::ingest::updated_at`); earlier versions kept
    // it as the source wrote it, offsets and all. SQLite reads the RFC 3339 forms sources write (it rounds
    // beyond the millisecond where new writes truncate) and answers NULL for what it cannot read, left as is.
    r#"
UPDATE fragments SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', updated_at)
WHERE updated_at <> '' AND strftime('%Y-%m-%dT%H:%M:%fZ', updated_at) IS NOT NULL
    AND updated_at <> strftime('%Y-%m-%dT%H:%M:%fZ', updated_at);
"#,
    // The keys a PostgreSQL flow read at its mark's modification time (JSON, NULL when too many or unknown), so
    // that a row written later with that very time is read by the next run (`pg_source::PgCheckpoint::at_mark`).
    r#"
ALTER TABLE flow_pg_checkpoints ADD COLUMN at_mark TEXT;
"#,
];

impl Store {
    /// Opens (creating if needed) the store in `dir`, applying pending migrations and marking the batches of
    /// killed loads `failed` (see [`lifecycle`]).
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::DataDir { path: dir.to_owned(), source })?;
        let conn = Connection::open(dir.join(DATABASE_FILE))?;
        // A commit writes every page it dirtied to the log, whole. A streamed group inserts into random leaves of
        // the identity index (about one page per message), so the page is the unit of its write amplification:
        // 8 KiB pages log half of what 16 KiB ones did per message, and a bulk batch (which dirties every leaf
        // once) is as fast as with 16 KiB; 4 KiB pages slow it down (docs/benchmarks.md, "8 KiB pages"). Takes
        // effect when the database is created; an existing one keeps its page size.
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: in WAL mode every commit syncs the log, so a committed batch (and an acknowledged streamed
        // message) survives a power loss, not only a crash of the process. Batches are large, so the cost is
        // one sync per batch.
        conn.pragma_update(None, "synchronous", "FULL")?;
        // 64 MiB (a ceiling, not an allocation). A bulk batch outgrows any cache: a million contacts write 2.4 GB
        // of pages, which spill to the log as the cache fills, each page once, so 256 MiB and 1 GiB loaded them no
        // faster. A smaller cache is cheaper for many small commits: while the database is under 1 GiB, SQLite's
        // B-tree balancing gives a page the number of the lock page (1 GiB / page size + 1) for a moment, and every
        // commit then walks the whole page cache to drop pages past the end of the file (`pcache1TruncateUnsafe`,
        // 5% of a streaming run's samples at 256 MiB). Measured in docs/benchmarks.md ("The page cache").
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // A batch or a streamed group runs dozens of distinct statements; with rusqlite's default of 16 cached
        // ones, every commit compiled most of them again (a quarter of the writer's time on one-message groups).
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Checkpoints run on the checkpointer's thread, not inside commits.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpointer = Checkpointer::start(&dir.join(DATABASE_FILE))?;
        let mut store = Self { conn, dir: dir.to_owned(), checkpointer };
        store.migrate()?;
        store.recover_interrupted()?;
        Ok(store)
    }

    /// A handle that asks the checkpointer to copy what was just committed into the database file.
    pub(crate) fn checkpoint_nudge(&self) -> Nudge {
        Nudge(self.checkpointer.nudge.clone())
    }

    /// A number that changes whenever another connection (another process, such as a command run while
    /// `rapport serve` is up) commits to the database; this connection's own commits leave it alone (SQLite's
    /// `PRAGMA data_version`).
    pub fn data_version(&self) -> Result<i64> {
        Ok(self.conn.pragma_query_value(None, "data_version", |row| row.get(0))?)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What makes commits made under [`Durability::Normal`] durable (see [`LogSync`]).
    pub fn log_sync(&self) -> LogSync {
        LogSync { wal: self.dir.join(format!("{DATABASE_FILE}-wal")) }
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
