//! Activation of audiences to destinations (files for now).

use std::path::Path;

use rapport_destinations::{CsvOptions, ExportTable, WrittenFile};
use serde::Serialize;
use tracing::{info, instrument};

use crate::{Engine, Result};

/// What an activation wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ActivationReport {
    /// The audience.
    pub audience: String,
    /// The destination, e.g. `file:out/`.
    pub destination: String,
    /// Members exported.
    pub members: u64,
    /// The files written.
    pub files: Vec<WrittenFile>,
}

/// The columns of an audience file.
pub const FILE_COLUMNS: [&str; 5] = ["primaryIdentity", "email", "firstName", "lastName", "accountName"];

impl Engine {
    /// Exports the current members of an audience (evaluating it first if it never was) as CSV into `dir`.
    #[instrument(skip(self, options))]
    pub fn activate_to_files(&mut self, name: &str, dir: &Path, options: &CsvOptions) -> Result<ActivationReport> {
        if self.store.audience(name)?.evaluated_at.is_none() {
            self.evaluate_audience(name)?;
        }
        let members = self.audience_members(name)?;
        let table = ExportTable {
            columns: FILE_COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
            rows: members
                .iter()
                .map(|m| {
                    vec![
                        m.primary.clone(),
                        m.email.clone().unwrap_or_default(),
                        m.first_name.clone().unwrap_or_default(),
                        m.last_name.clone().unwrap_or_default(),
                        m.account_name.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
        };
        let files = rapport_destinations::export_csv(dir, "Rapport_File", name, chrono::Utc::now(), &table, options)?;
        info!(audience = name, members = members.len(), files = files.len(), "audience exported");
        Ok(ActivationReport {
            audience: name.to_owned(),
            destination: format!("file:{}", dir.display()),
            members: members.len() as u64,
            files,
        })
    }
}
