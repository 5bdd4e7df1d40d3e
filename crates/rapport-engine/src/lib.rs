//! Rapport's engine: runs the data flow end to end on one store.
//!
//! - [`ingest`]: source files → connector mapping → schema validation → identities → one atomic batch per file.
//! - [`flows`]: named dataflows from a source location, run on demand or on a schedule, loading only new or
//!   changed files since their checkpoints.
//! - [`generic`]: any row reader + a mapping set → validation → one batch; dry runs that write nothing.
//! - [`lookup`]: one profile by any identity, with its fragments and related entities.
//! - [`unmerge`]: deleting an identity, a record or a batch, and re-stitching exactly the profiles that held
//!   them.
//! - [`changes`]: the change feed every write appends to (created, updated, merged, split, deleted profiles).
//! - [`events`]: experience events appended (never merged) and linked to their persons, with change events.
//! - [`unify`]: fragments → identity graphs → merged profiles (timestamp-ordered), per entity class.
//! - [`audience`]: PQL audiences: create (parse + bind), evaluate (batch, over the linked profiles), members.
//! - [`live`]: live audiences: after every commit, the change feed's new events re-evaluate only the entities
//!   they can affect, and memberships (with the event that caused each entry or exit) stay current.
//! - [`activate`]: ad-hoc export of an audience's members to CSV files (`rapport activate NAME --to file:DIR`).
//! - [`destinations`]: destinations, activation flows (audiences → destination, identity, mapping, mandatory
//!   attributes, dedupe key, schedule) and the data-usage labels checked when a flow is created.
//! - [`delivery`]: runs of activation flows: consent, the difference with what the destination holds, files
//!   or batches to Marketo, LinkedIn and webhooks, the recorded state and the delivery report history.
//! - [`streaming`]: streaming destinations pushed as memberships change, from a per-flow checkpoint in the
//!   membership history ([`Engine::push_streaming_flows`]).
//! - [`dataset_export`]: datasets as Parquet or JSON lines, incremental by batch, in
//!   `<folder>/<datasetId>/exportTime=YYYYMMDDHHMM/`.
//! - [`tokens`]: API tokens (made, stored hashed, checked in constant time) and the roles they carry.
//! - [`stream`]: streamed messages (Adobe's collection envelope) → edge checks → validation → one batch per
//!   dataset for each group of messages → profile update.
//!
//! The engine is synchronous and owns one [`Store`]; the CLI calls it directly and the server (later) from
//! blocking tasks. It never installs a tracing subscriber and never draws progress bars itself: callers pass an
//! [`Observer`].

pub mod activate;
pub mod audience;
pub mod changes;
pub mod dataset_export;
pub mod delivery;
pub mod destinations;
pub mod events;
pub mod flows;
mod free;
pub mod generic;
pub mod identity;
pub mod ingest;
pub mod live;
pub mod lookup;
mod par;
pub mod profiles;
pub mod schemas;
pub mod stream;
pub mod streaming;
pub mod tokens;
pub mod unify;
pub mod unmerge;

use std::path::Path;

use rapport_schema::SchemaSet;
use rapport_store::{RegistryChanges, Store};

pub use activate::ActivationReport;
pub use audience::{AudienceDetails, Evaluation, ExplainTarget, Explanation, Member, ProfileExplanation};
pub use dataset_export::{DatasetExportOptions, DatasetExportReport};
pub use delivery::{AudienceDelivery, DeliveryReport, DeliveryRun, Excluded, RunOptions};
pub use destinations::{ActivationFlow, ActivationFlowDef, AttributeMapping, DestinationView, Schedule};
pub use events::EventsReport;
pub use flows::FlowRunReport;
pub use generic::{DryRun, MemoryRows, RowsOptions};
pub use identity::{DecisionRecord, GraphExplanation, LinkExplanation, LinkRule};
pub use ingest::{FileReport, IngestOptions, IngestReport};
pub use live::{LiveMode, LiveUpdate};
pub use lookup::{ProfileView, Related};
pub use rapport_profile::MergePolicy;
pub use rapport_store::Error as StoreError;
pub use rapport_store::{
    AudienceRecord, BatchFilter, BatchInfo, BatchState, ChangeEvent, ChangeKind, DatasetRecord, Durability, EntityRef,
    ErrorThreshold, Every, FlowDefinition, FlowSource, InletRecord, LogSync, RunState, StoredFlow,
};
pub use schemas::FieldGroupChange;
pub use stream::{MessageError, MessageErrorCode, MessageOutcome, PreparedMessages, StreamContext, StreamMessage};
pub use tokens::{Authenticator, Caller, NewToken, Permission, Role, TokenInfo};
pub use unify::UnifyReport;

/// Errors of the engine. User faults (bad input, unknown names) are kept apart from internal ones.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] rapport_store::Error),
    /// A source file could not be read at all.
    #[error(transparent)]
    Source(#[from] rapport_sources::Error),
    /// A destination failed.
    #[error(transparent)]
    Destination(#[from] rapport_destinations::Error),
    /// An input path was not recognised as an export table of the system.
    #[error(
        "{path}: not a known {system} export file: neither its name (expected one of: {expected}) nor its header \
         tells one of its tables (docs/mapping.md, \"Auto-mapping\")"
    )]
    UnknownFile {
        /// The path.
        path: String,
        /// The system.
        system: rapport_model::SourceSystem,
        /// The file names the connector knows.
        expected: String,
    },
    /// An input path does not exist or cannot be listed.
    #[error("{path}: {source}")]
    Input {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The schemas have not been generated yet.
    #[error("no schema is registered for {0}; run `rapport schema generate-b2b` first")]
    NoSchema(rapport_model::EntityKind),
    /// A schema change was refused (bad field group, type conflict, breaking change on a profile schema).
    #[error("{0}")]
    Schema(String),
    /// A flow definition is invalid (bad name, missing source location, bad glob).
    #[error("{0}")]
    Flow(String),
    /// Stored data could not be read back: a bug or an altered database.
    #[error("internal: {0}")]
    Internal(String),
    /// A namespace code that is not registered.
    #[error("unknown namespace `{0}` (see `rapport namespace list`)")]
    UnknownNamespace(String),
    /// A mapping set does not compile against its input or its schema (unknown field, bad expression,
    /// destination the schema does not have).
    #[error("{0}")]
    Mapping(String),
    /// A deletion names nothing that exists (an identity no profile holds, an unknown record or batch) or
    /// cannot run (a batch that stored no data).
    #[error("{0}")]
    Deletion(String),
    /// A PQL text does not parse or bind.
    #[error("{}", .0.render())]
    Segment(rapport_segment::Error),
    /// Something asked for does not exist (a profile by identity).
    #[error("{0}")]
    NotFound(String),
    /// An API token name or role is not valid.
    #[error("{0}")]
    Token(String),
    /// The request conflicts with what is stored (an audience still activated by a flow).
    #[error("{0}")]
    Conflict(String),
}

impl From<rapport_segment::Error> for Error {
    fn from(err: rapport_segment::Error) -> Self {
        Error::Segment(err)
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Receives progress of long steps (a CLI draws bars with it; tests ignore it).
pub trait Observer {
    /// A step starts; `total` is its size in its own unit (bytes, rows), 0 when unknown.
    fn start(&self, label: &str, total: u64);
    /// The current step reached `done` units.
    fn progress(&self, done: u64);
    /// The current step ended.
    fn finish(&self);
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Observer for Quiet {
    fn start(&self, _: &str, _: u64) {}
    fn progress(&self, _: u64) {}
    fn finish(&self) {}
}

/// The engine over one data directory.
#[derive(Debug)]
pub struct Engine {
    store: Store,
    schemas: SchemaSet,
    /// The resident audience state of a long-lived process (`rapport serve`), see [`live`].
    live: Option<live::Resident>,
    faults: live::Faults,
}

impl Engine {
    /// Opens the store in `data_dir` (creating it if needed).
    pub fn open(data_dir: &Path) -> Result<Self> {
        let store = Store::open(data_dir)?;
        let schemas = schemas::load(&store)?;
        let mut engine = Self { store, schemas, live: None, faults: live::Faults::default() };
        if engine.store.profiles_stale()? {
            tracing::info!("the profile layout changed: rebuilding profiles from the stored fragments");
            engine.unify(&Quiet)?;
        }
        // Memberships behind the change feed (a process stopped between a batch and its membership update)
        // catch up here.
        engine.after_commit();
        Ok(engine)
    }

    /// The underlying store, for read-only reports.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The standard schema set.
    pub fn schemas(&self) -> &SchemaSet {
        &self.schemas
    }

    /// Creates a custom identity namespace (codes and display names are unique; namespaces are never deleted).
    pub fn create_namespace(&mut self, namespace: &rapport_schema::Namespace) -> Result<()> {
        Ok(self.store.create_namespace(namespace)?)
    }

    /// Reads the schemas again from the store: another process (a command run while `rapport serve` is up) may
    /// have registered a class or added a field group since they were read.
    pub fn reload_schemas(&mut self) -> Result<()> {
        self.schemas = schemas::load(&self.store)?;
        Ok(())
    }

    /// Creates the standard B2B schemas, namespaces and relationships that do not exist yet.
    pub fn generate_b2b_schemas(&mut self) -> Result<RegistryChanges> {
        let changes =
            self.store.register(&rapport_schema::b2b::generate_b2b(), &rapport_schema::namespace::standard())?;
        self.schemas = schemas::load(&self.store)?;
        Ok(changes)
    }
}
