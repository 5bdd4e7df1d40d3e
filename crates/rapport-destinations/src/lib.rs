//! Destinations: where audiences go.
//!
//! - [`mod@file`]: CSV files in a local folder, named as the batch file destinations name them, split at
//!   5,000,000 rows and written atomically (a temporary name, then a rename), so a reader never sees half a file.
//!
//! Destinations know rows and columns, not profiles: the engine chooses the attributes. No storage, no HTTP
//! framework here.

pub mod file;

pub use file::{export_csv, CsvOptions, ExportTable, WrittenFile};

/// Errors of the destinations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The CSV writer failed.
    #[error("cannot write CSV {path}: {source}")]
    Csv {
        /// The path.
        path: std::path::PathBuf,
        /// The cause.
        source: csv::Error,
    },
    /// The options are inconsistent.
    #[error("invalid file destination options: {0}")]
    Options(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
