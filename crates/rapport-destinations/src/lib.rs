//! Destinations: where audiences go.
//!
//! - [`config`]: a destination's type and settings ([`DestinationConfig`]), validated, with secrets kept in a
//!   [`Secret`] whose `Debug` prints `***` and which [`DestinationConfig::redacted`] blanks for display.
//! - [`mod@file`]: CSV (delimiter, quote, escape, null and empty output, gzip), JSON lines and Parquet files in a
//!   local folder, with the documented file naming and folder macros, split at 5,000,000 rows (configurable)
//!   and written atomically (a temporary name, then a rename), so a reader never sees half a file.
//! - [`sftp`]: the same files uploaded to an SFTP server (host key pinned, password or key sign-in), each under a
//!   temporary name and then renamed; dropped sessions are retried.
//! - [`dataset`]: dataset export files (JSON lines or Parquet) in `<folder>/<datasetId>/exportTime=YYYYMMDDHHMM/`,
//!   written atomically.
//! - [`http`]: the outbound HTTP seam of the streaming destinations: one blocking client (ureq over rustls)
//!   whose base URLs the configs name, so tests point it at a local server; retries with exponential backoff
//!   and jitter on 429, 5xx, dropped connections and timeouts ([`RetryPolicy`]).
//! - [`marketo`], [`linkedin`], [`webhook`]: the streaming destinations, all behind [`Connector`]: they take a
//!   batch of [`Change`]s (upserts and removals of members) and answer one [`Outcome`] per change.
//!
//! Destinations know rows, members and payloads, not profiles: the engine chooses the members and attributes,
//! computes what changed since the destination's recorded state and records what it accepted. No storage, no
//! HTTP framework here.

pub mod config;
pub mod dataset;
pub mod file;
pub mod http;
pub mod linkedin;
pub mod marketo;
pub mod sftp;
pub mod webhook;

pub use config::{DestinationConfig, DestinationKind, MarketingAction, Secret};
pub use file::{export_csv, CsvOptions, ExportTable, FileConfig, FileContext, FileFormat, WrittenFile};
pub use http::RetryPolicy;

use serde::Serialize;

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
    /// The Parquet writer failed.
    #[error("cannot write Parquet {path}: {source}")]
    Parquet {
        /// The path.
        path: std::path::PathBuf,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
    /// The options or settings are inconsistent (a user fault, named by its setting).
    #[error("invalid destination settings: {0}")]
    Options(String),
    /// A remote service kept failing after every retry, or refused the request for good.
    #[error("{service}: {message}")]
    Remote {
        /// The service, e.g. `marketo`.
        service: &'static str,
        /// What failed, with the last status or error code.
        message: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One member change to deliver to a streaming destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The member (its primary identity as `namespace:value`, or its deduplication key).
    pub member: String,
    /// Upsert (entered, or attributes changed) or removal (left the audience, or may no longer be sent).
    pub action: ChangeAction,
    /// The member's exported identity value (e.g. the email), when it has one.
    pub identity: Option<String>,
    /// The mapped attributes, as (target name, value); `None` is a null.
    pub fields: Vec<(String, Option<String>)>,
    /// What the destination recorded for this member at its last accepted delivery (a Marketo lead id, the
    /// hashed email LinkedIn holds), if anything.
    pub previous: Option<String>,
}

/// What a change asks of the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// Add the member, or update its attributes.
    Upsert,
    /// Remove the member from the audience.
    Remove,
}

/// What the destination did with one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; `remote` is what to remember about the member (its lead id, its hashed email), if anything.
    Accepted {
        /// The destination's reference for the member.
        remote: Option<String>,
    },
    /// Refused for this member only (the rest of the batch is unaffected).
    Rejected {
        /// The destination's reason, e.g. `1004 lead not found`.
        reason: String,
    },
}

/// Counters of the HTTP work behind a delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    /// Requests made (first attempts and retries, token requests included).
    pub calls: u64,
    /// Requests that were retries of a failed attempt.
    pub retries: u64,
}

/// A streaming destination, built from its config. A closed set: one variant per service.
#[derive(Debug)]
pub enum Connector {
    /// Marketo Engage: lead upsert and static list membership.
    Marketo(marketo::Marketo),
    /// LinkedIn Matched Audiences: DMP segments of hashed emails.
    LinkedIn(linkedin::LinkedIn),
    /// A JSON webhook with HMAC-SHA256 signatures.
    Webhook(webhook::Webhook),
}

impl Connector {
    /// Builds the connector of a streaming destination (`None` for file destinations).
    pub fn build(config: &DestinationConfig, retry: RetryPolicy) -> Result<Option<Self>> {
        let http = http::Http::new(retry);
        Ok(match config {
            DestinationConfig::File(_) => None,
            DestinationConfig::Marketo(c) => Some(Connector::Marketo(marketo::Marketo::new(c.clone(), http))),
            DestinationConfig::Linkedin(c) => Some(Connector::LinkedIn(linkedin::LinkedIn::new(c.clone(), http))),
            DestinationConfig::Webhook(c) => Some(Connector::Webhook(webhook::Webhook::new(c.clone(), http))),
        })
    }

    /// The most changes one call carries (the vendor's batch size).
    pub fn batch_size(&self) -> usize {
        match self {
            Connector::Marketo(_) => marketo::BATCH_SIZE,
            Connector::LinkedIn(c) => c.batch_size(),
            Connector::Webhook(c) => c.batch_size(),
        }
    }

    /// Makes sure the destination holds a container for `audience` (a Marketo static list, a LinkedIn DMP
    /// segment), finding or creating it if `remote` (the recorded one) is `None`; returns its id to record.
    pub fn prepare(&mut self, audience: &str, remote: Option<&str>) -> Result<Option<String>> {
        match self {
            Connector::Marketo(c) => c.prepare(audience, remote),
            Connector::LinkedIn(c) => c.prepare(audience, remote).map(Some),
            Connector::Webhook(_) => Ok(None),
        }
    }

    /// Delivers one batch (at most [`Connector::batch_size`] changes) into the container `remote` of
    /// `audience`; `delivery` names the batch (unique per run and batch, the same for its retries: the
    /// webhook's idempotency key derives from it); answers one outcome per change, in order. An error means the batch's fate is unknown after
    /// every retry: none of it may be recorded as delivered (re-sending it is harmless, every call is
    /// idempotent).
    pub fn deliver(
        &mut self,
        audience: &str,
        remote: Option<&str>,
        delivery: &str,
        batch: &[Change],
    ) -> Result<Vec<Outcome>> {
        match self {
            Connector::Marketo(c) => c.deliver(remote, batch),
            Connector::LinkedIn(c) => c.deliver(remote, batch),
            Connector::Webhook(c) => c.deliver(audience, delivery, batch),
        }
    }

    /// Checks the connection and credentials without changing anything (`rapport destination test`).
    pub fn test(&mut self) -> Result<String> {
        match self {
            Connector::Marketo(c) => c.test(),
            Connector::LinkedIn(c) => c.test(),
            Connector::Webhook(c) => c.test(),
        }
    }

    /// Tells a quota-bound connector (Marketo) how many calls earlier runs made today.
    pub fn set_used_today(&mut self, calls: u64) {
        if let Connector::Marketo(c) = self {
            c.set_used_today(calls);
        }
    }

    /// The HTTP work done so far.
    pub fn stats(&self) -> CallStats {
        match self {
            Connector::Marketo(c) => c.stats(),
            Connector::LinkedIn(c) => c.stats(),
            Connector::Webhook(c) => c.stats(),
        }
    }
}
