//! Segmentation: from PQL text to audience members.
//!
//! PQL text → [`rapport_pql::parse`] → [`bind`] (checked against the union schemas, relationship navigation
//! resolved) → [`Plan`] (prints as indented text) → one of three evaluations, which must always agree:
//!
//! - batch: [`evaluate_columns`] over [`Columns`] (typed, dictionary-encoded copies of the fields the plan reads,
//!   and the adjacency lists of its navigations), with dense bitsets; [`evaluate`] builds the columns first;
//! - incremental: [`Incremental`] keeps the members current from a list of changed profiles, re-evaluating only
//!   the entities a change can reach through the plan's relationships;
//! - single profile: [`evaluate_one`] walks the plan for one profile over its merged records.
//!
//! [`sql::to_sql`] writes the plan as PostgreSQL over the store's tables and [`why::why`] explains one profile's
//! membership.
//!
//! Experience-event conditions (`xEvent`, `occurs`, `CHAIN`) are in [`events`]; `inSegment("…")` is resolved
//! by [`compile_with`], which inlines the referenced audience's condition (dependency order, cycle errors).
//!
//! Depends on `rapport-pql`, `rapport-schema` and `rapport-profile`; no storage, no HTTP.

pub mod bind;
mod bits;
pub mod columns;
pub mod eval;
pub mod events;
pub mod incremental;
pub mod plan;
pub mod row;
mod sorted;
pub mod sql;
pub mod why;

use rapport_model::EntityKind;
use rapport_pql::Diagnostic;
use rapport_schema::SchemaSet;

pub use columns::{Columns, NotLoaded};
pub use eval::{evaluate, evaluate_columns, evaluate_one};
pub use events::{EventCond, EventPred, Measure, Window};
pub use incremental::{Change, Delta, Incremental};
pub use plan::{Cond, Plan, RowExpr};
pub use rapport_profile::ProfileGraph;
pub use sql::to_sql;
pub use why::{why, Trace};

/// A PQL text that does not parse or bind, with its located diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The PQL text.
    pub text: String,
    /// What is wrong and where.
    pub diagnostic: Diagnostic,
}

impl Error {
    /// The diagnostic rendered with the offending line and a caret underline.
    pub fn render(&self) -> String {
        self.diagnostic.render(&self.text)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Error {}

/// Parses and binds an audience definition whose members are of class `entity`.
pub fn compile(text: &str, entity: EntityKind, schemas: &SchemaSet) -> Result<Plan, Error> {
    let fail = |diagnostic| Error { text: text.to_owned(), diagnostic };
    let query = rapport_pql::parse(text).map_err(fail)?;
    bind::bind(&query, entity, schemas).map_err(fail)
}

/// Parses and binds an audience definition that may reference other audiences with `inSegment("name")`:
/// `audiences` answers a name with the class of that audience's members and its PQL text. References are bound
/// in dependency order and inlined; a cycle is an error located at the reference that closes it.
pub fn compile_with(
    text: &str,
    entity: EntityKind,
    schemas: &SchemaSet,
    audiences: &dyn Fn(&str) -> Option<(EntityKind, String)>,
) -> Result<Plan, Error> {
    let fail = |diagnostic| Error { text: text.to_owned(), diagnostic };
    let query = rapport_pql::parse(text).map_err(fail)?;
    let audiences = bind::Audiences::new(audiences);
    bind::bind_with(&query, entity, schemas, Some(&audiences)).map_err(fail)
}
