//! Deterministic generator of the **Bodea** sample data set: the CSV exports that Bodea's
//! Salesforce org, Dynamics 365 org and Marketo Engage instance would hand to Rapport.
//!
//! [`generate_bodea`] writes, under the output directory:
//!
//! | File | Columns |
//! | --- | --- |
//! | `salesforce/Account.csv` | `Id,Name,Industry,AnnualRevenue,BillingCity,BillingCountry,Type,NumberOfEmployees,Website,ParentId,CreatedDate,LastModifiedDate` |
//! | `salesforce/Contact.csv` | `Id,AccountId,FirstName,LastName,Name,Email,Department,Title,Phone,MailingCity,MailingCountry,LeadSource,CreatedDate,LastModifiedDate` |
//! | `salesforce/Opportunity.csv` | `Id,AccountId,Name,StageName,Amount,CurrencyIsoCode,IsClosed,IsWon,CloseDate,Probability,Type,LeadSource,CreatedDate,LastModifiedDate` |
//! | `salesforce/OpportunityContactRole.csv` | `Id,OpportunityId,ContactId,Role,IsPrimary,CreatedDate,LastModifiedDate` |
//! | `dynamics/accounts.csv` | `accountid,name,accountnumber,revenue,address1_city,address1_country,numberofemployees,websiteurl,createdon,modifiedon` |
//! | `dynamics/contacts.csv` | `contactid,parentcustomerid,firstname,lastname,fullname,emailaddress1,department,jobtitle,telephone1,address1_city,address1_country,createdon,modifiedon` |
//! | `dynamics/opportunities.csv` | `opportunityid,parentaccountid,name,statecode,salesstage,estimatedvalue,actualvalue,estimatedclosedate,closeprobability,createdon,modifiedon` |
//! | `dynamics/connections.csv` | `connectionid,record1id,record2id,connectionrole1.name,createdon,modifiedon` (opportunity → contact) |
//! | `marketo/leads.csv` | `id,email,firstName,lastName,company,title,department,leadScore,leadSource,unsubscribed,createdAt,updatedAt` |
//!
//! Formats follow each system's export habits:
//! - Salesforce (Data Loader): every field double-quoted, 18-character ids with the object's key
//!   prefix (`001` account, `003` contact, `006` opportunity, `00K` contact role) and a valid
//!   case-safe suffix, datetimes `2024-03-05T14:22:11.000Z`, dates `2024-03-05`, `true`/`false`,
//!   amounts `125000.00`.
//! - Dynamics: lower-case GUIDs, quotes only where needed, datetimes `3/5/2024 2:22:11 PM` (UTC),
//!   dates `3/5/2024`, `statecode` 0 open / 1 won / 2 lost, `salesstage` 0..=3.
//! - Marketo: integer ids, datetimes `2024-03-05T14:22:11Z`, `true`/`false`.
//!
//! # Population (N = persons)
//!
//! About N/10 accounts (70% Salesforce, 30% Dynamics) and N/5 opportunities on accounts of the
//! same CRM, skewed (many accounts have none, a few have many), 40% open. Every person belongs to
//! one account. 90% have a contact in that account's CRM, the rest are Marketo-only leads. A third
//! of the contacts (≈30% of persons) are also Marketo leads, and a third of those are also contacts
//! without account in the other CRM; those extra records spell the same e-mail with another case
//! and/or surrounding spaces, and a quarter of them carry a different department with a later
//! modification time. No two records of one person share a modification time. Emails are unique
//! per person after trim + ASCII lower-casing; about 2% of records have none and 5% have no
//! department. Names contain apostrophes, commas, non-ASCII letters and embedded quotes, never a
//! line break, so the data row `i` (0-based) of every file is on line `i + 2`.
//!
//! About 0.3% of each file's rows (at least one when a file has 200 rows or more) are spoiled on
//! purpose; [`GenerateReport::injected_errors`] lists each with its exact line.
//!
//! # Determinism
//!
//! Output is a pure function of [`GenerateOptions`]: the same seed yields byte-identical files.
//! Persons are derived one by one from per-person random streams, so memory stays at the
//! accounts, opportunities and contact roles (O(N/2) small structs) whatever N is.
//!
//! This crate depends on nothing internal: it stands in for the outside world.

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use edges::{write_edges, EdgesReport};

mod dynamics;
pub mod edges;
mod generate;
mod ids;
mod marketo;
mod population;
mod salesforce;
mod sink;
mod time;
mod vocab;

/// Bodea's Salesforce org id (`${CRM_ORG_ID}` for the Salesforce source).
pub const SALESFORCE_ORG_ID: &str = "00D5g00000BodeaEAB";
/// Bodea's Dynamics 365 organization id (`${CRM_ORG_ID}` for the Dynamics source).
pub const DYNAMICS_ORG_ID: &str = "3c5b0dea-8f21-4e7a-9d6c-0a1b2c3d4e5f";
/// Bodea's Marketo Munchkin id (`${MUNCHKIN_ID}`).
pub const MARKETO_MUNCHKIN_ID: &str = "123-BOD-456";

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Number of persons; accounts and opportunities scale with it. Default 10,000.
    pub persons: u64,
    /// Random seed; the same seed gives byte-identical output. Default 42.
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { persons: 10_000, seed: 42 }
    }
}

/// What [`generate_bodea`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GenerateReport {
    /// Every file written, in a fixed order (Salesforce, Dynamics, Marketo).
    pub files: Vec<FileReport>,
    /// Every deliberately malformed row, ordered by file then line.
    pub injected_errors: Vec<InjectedError>,
}

/// One written file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// Path relative to the output directory, e.g. `salesforce/Contact.csv`.
    pub path: PathBuf,
    /// Data rows written, header excluded, malformed rows included.
    pub rows: u64,
}

/// One deliberately malformed row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InjectedError {
    /// File, relative to the output directory.
    pub file: PathBuf,
    /// 1-based line in the file; the header is line 1.
    pub line: u64,
    /// The spoiled column, when one column is to blame.
    pub column: Option<String>,
    /// What is wrong with the row.
    pub kind: InjectedErrorKind,
}

/// The ways a row is spoiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum InjectedErrorKind {
    /// The id column is empty.
    EmptyId,
    /// The modification datetime is not valid in the system's format (`yesterday`, `2024-02-30…`).
    BadDate,
    /// The row has fewer fields than the header.
    ShortRow,
}

/// Errors of [`generate_bodea`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The options cannot be honoured (user fault).
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// A file or directory could not be created or written.
    #[error("cannot write `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The CSV writer failed (almost always an I/O failure underneath).
    #[error("cannot write csv `{path}`: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: csv::Error,
    },
    /// The generator broke one of its own invariants: a bug, please report.
    #[error("internal error (a bug, please report): {0}")]
    Internal(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Writes the Bodea data set under `out` (created if missing; existing files are overwritten).
///
/// See the [crate docs](crate) for the files, formats and population.
pub fn generate_bodea(out: &Path, options: &GenerateOptions) -> Result<GenerateReport> {
    let persons = u32::try_from(options.persons)
        .map_err(|_| Error::InvalidOptions(format!("persons = {} is above the limit {}", options.persons, u32::MAX)))?;
    generate::run(out, persons, options.seed)
}
