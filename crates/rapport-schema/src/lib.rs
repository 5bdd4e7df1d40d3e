//! Schemas: what Rapport can ingest, stitch, segment and export.
//!
//! - [`library`]: the standard XDM classes and field groups as flat field lists, derived from the published
//!   XDM JSON Schemas by `scripts/derive-field-library.py` and embedded at build time.
//! - [`b2b`]: the "B2B …" schemas the auto-generation step creates (class + field groups), with their primary and
//!   secondary identity descriptors and the standard many-to-one relationships.
//! - [`namespace`]: identity namespaces (the nine B2B ones, Email, Phone, ECID, …) and how each normalizes values.
//! - [`validate`]: checks one record against a schema and reports every error with its field path and rule.
//! - [`evolution`]: which changes to a profile-enabled schema are breaking.
//!
//! Depends only on `rapport-model`; storage of schemas is the store's job.

pub mod b2b;
pub mod evolution;
pub mod library;
pub mod namespace;
pub mod validate;
pub mod xdm;

pub use b2b::{ComposeError, IdentityDescriptor, Relationship, Schema, SchemaDoc, SchemaSet};
pub use library::{Constraints, FieldDef, FieldType, Format};
pub use namespace::{IdentityType, Namespace, Normalization};
pub use validate::{ValidationError, ValidationRule};

/// Errors of the schema layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The embedded field library is corrupt: a bug in the build, not a user fault.
    #[error("internal: the embedded XDM field library is invalid: {0}")]
    Library(String),
    /// A schema named by the user does not exist.
    #[error("unknown schema `{0}`")]
    UnknownSchema(String),
    /// An XDM JSON Schema document could not be imported (a user fault, located in the document).
    #[error(transparent)]
    Xdm(#[from] xdm::XdmError),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
