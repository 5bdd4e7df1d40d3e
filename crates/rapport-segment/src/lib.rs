//! Segmentation: from PQL text to audience members.
//!
//! PQL text → [`rapport_pql::parse`] → [`bind`] (checked against the union schemas, relationship navigation
//! resolved) → [`Plan`] (prints as indented text) → [`evaluate`] over a [`ProfileGraph`] with bitmaps, or
//! [`evaluate_one`] for a single profile. Both evaluations walk the same plan and must agree. [`sql::to_sql`]
//! writes the plan as PostgreSQL over the store's tables and [`why::why`] explains one profile's membership.
//!
//! Not yet here (later work): incremental re-evaluation from the change feed, experience events and time
//! constraints (`occurs`, `CHAIN`), `inSegment`.
//!
//! Depends on `rapport-pql`, `rapport-schema` and `rapport-profile`; no storage, no HTTP.

pub mod bind;
pub mod eval;
pub mod plan;
pub mod row;
pub mod sql;
pub mod why;

use rapport_model::EntityKind;
use rapport_pql::Diagnostic;
use rapport_schema::SchemaSet;

pub use eval::{evaluate, evaluate_one};
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
