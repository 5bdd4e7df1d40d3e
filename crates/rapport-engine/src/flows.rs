//! Dataflows: a named load from a source location into datasets, run on demand or when its schedule is due.
//!
//! A run of a CRM flow lists its inputs (a folder, a file glob whose last component holds `*`/`?`, or one
//! file), keeps the export tables of its system, and for each file compares the file with its checkpoint:
//! - same size and modification time: skipped without reading it (the quick check rsync makes);
//! - otherwise its SHA-256 is computed; same size and hash: skipped (the checkpoint's time is updated);
//! - otherwise it is ingested as one batch, and its new checkpoint commits in the batch's transaction.
//!
//! A failed batch leaves no checkpoint, so the next run loads the file again; so does a batch whose process was
//! killed. The size and time are taken before the file is hashed and read: a file changing during a run gets a
//! newer time, and the next run looks at it again. Each batch updates the profiles it touches as it commits,
//! as `rapport ingest` does; the run reports the profile counts afterwards.
//!
//! A file flow lists and checkpoints its files the same way, opens each with the generic readers in the flow's
//! format and loads it through the flow's mapping set (read at run time) into its dataset. A file that cannot be
//! opened becomes a failed batch (`input_unreadable`) and the run goes on.
//!
//! A PostgreSQL flow connects with the URL held in the environment variable it names (the URL is never stored
//! nor logged), pulls the rows changed after its high-water mark (modification column, then its key columns)
//! in pages of [`PG_PAGE_ROWS`], and loads each page as one batch whose new mark commits in the batch's
//! transaction. A failed page leaves the mark where it was and ends the run; a run with no new rows records a
//! run without batches.

use std::io::Read;
use std::path::{Path, PathBuf};

use rapport_model::EntityKind;
use rapport_sources::mapping_set::{CompileOptions, MappingSet};
use rapport_sources::readers::FileFormat;
use rapport_sources::SourceRow;
use rapport_store::pg_source::{Incremental, PgRelation, PgSource};
use rapport_store::{
    BatchState, FileCheckpoint, FlowDefinition, FlowRun, FlowSource, PgFlowCheckpoint, RunState, StoredFlow,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::{info, instrument, warn};

use crate::generic::{MemoryRows, RowsOptions};
use crate::ingest::{FileJob, FileReport};
use crate::{Engine, Error, Observer, Result, UnifyReport};

/// Rows per batch of a PostgreSQL flow: one page is held in memory while it is mapped and committed.
pub const PG_PAGE_ROWS: u64 = 50_000;

/// What one flow run did.
#[derive(Debug, Clone, Serialize)]
pub struct FlowRunReport {
    /// The run as stored, with its figures.
    pub run: FlowRun,
    /// Files whose checkpoint held (not read).
    pub skipped: Vec<String>,
    /// Files listed that are not export tables of the flow's system (left alone).
    pub not_recognised: Vec<String>,
    /// One report per file picked up, in load order.
    pub files: Vec<FileReport>,
    /// The profile rebuild, when some batch committed.
    pub profiles: Option<UnifyReport>,
}

/// Whether `name` matches the wildcard `pattern` (`*`: any run of characters, `?`: one character).
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// Splits a source location into a folder and an optional file-name pattern, refusing wildcards outside the
/// last component.
fn split_location(from: &str) -> Result<(PathBuf, Option<String>)> {
    let path = Path::new(from);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if has_wildcard(&parent.to_string_lossy()) {
        return Err(Error::Flow(format!(
            "`{from}`: wildcards are allowed only in the file name, not in folders (e.g. exports/*.csv)"
        )));
    }
    if !has_wildcard(name) {
        return Ok((path.to_owned(), None));
    }
    Ok((parent.to_owned(), Some(name.to_owned())))
}

/// The absolute form of a source location, so that runs do not depend on the working directory.
fn absolute_location(from: &str) -> Result<String> {
    let (dir, pattern) = split_location(from)?;
    let dir = std::fs::canonicalize(&dir).map_err(|source| Error::Input { path: dir.display().to_string(), source })?;
    Ok(match pattern {
        Some(pattern) => dir.join(pattern).display().to_string(),
        None => dir.display().to_string(),
    })
}

/// The absolute form of a path that need not exist yet (a mapping file is read at run time).
fn absolute_path(path: &str) -> Result<String> {
    let absolute = std::path::absolute(path).map_err(|source| Error::Input { path: path.to_owned(), source })?;
    Ok(absolute.display().to_string())
}

/// The files a location names today, sorted.
fn list_location(from: &str) -> Result<Vec<PathBuf>> {
    let (dir, pattern) = split_location(from)?;
    let meta = std::fs::metadata(&dir).map_err(|source| Error::Input { path: dir.display().to_string(), source })?;
    if pattern.is_none() && meta.is_file() {
        return Ok(vec![dir]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|source| Error::Input { path: dir.display().to_string(), source })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| match (&pattern, p.file_name().and_then(|n| n.to_str())) {
            (Some(pattern), Some(name)) => wildcard_match(pattern, name),
            (Some(_), None) => false,
            (None, _) => true,
        })
        .collect();
    files.sort();
    Ok(files)
}

/// A file's size and modification time (nanoseconds since the Unix epoch).
fn stat(path: &Path) -> Result<(u64, i64)> {
    let shown = || path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| Error::Input { path: shown(), source })?;
    let mtime = meta.modified().map_err(|source| Error::Input { path: shown(), source })?;
    let ns = match mtime.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_nanos()).unwrap_or(i64::MAX),
    };
    Ok((meta.len(), ns))
}

/// The SHA-256 of a file's content, lowercase hex.
fn sha256_file(path: &Path) -> Result<String> {
    let input = |source| Error::Input { path: path.display().to_string(), source };
    let mut file = std::fs::File::open(path).map_err(input)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(input)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Reads a flow's mapping-set file and checks that it maps into the flow's entity.
fn load_mapping(flow: &str, path: &str, entity: EntityKind) -> Result<MappingSet> {
    let set = MappingSet::load(Path::new(path)).map_err(|e| Error::Mapping(format!("flow `{flow}`: {e}")))?;
    if set.entity != entity {
        return Err(Error::Flow(format!(
            "flow `{flow}`: the mapping set `{path}` maps into {} but the flow's dataset holds {entity}",
            set.entity
        )));
    }
    Ok(set)
}

/// What a PostgreSQL flow pulls, borrowed from its definition.
struct PgPull<'a> {
    connection_env: &'a str,
    query: &'a str,
    modified_column: &'a str,
    key: &'a [String],
    dataset: &'a str,
}

/// Checks a flow name: letters, digits, `-`, `_` and `.`.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Flow(format!("invalid flow name `{name}`: use 1 to 100 letters, digits, `-`, `_` or `.`")))
    }
}

impl Engine {
    /// Saves a new flow. Folder and glob locations and mapping files are stored absolute; a CRM or file flow's
    /// location must exist (its mapping file is read at each run).
    pub fn create_flow(&mut self, mut definition: FlowDefinition) -> Result<StoredFlow> {
        check_name(&definition.name)?;
        match &mut definition.source {
            FlowSource::Crm { from, instance, .. } => {
                if instance.trim().is_empty() {
                    return Err(Error::Flow("the instance id must not be empty".to_owned()));
                }
                *from = absolute_location(from)?;
            }
            FlowSource::File { from, format, mapping, .. } => {
                format.parse::<FileFormat>().map_err(|e| Error::Flow(format!("format `{format}`: {e}")))?;
                *from = absolute_location(from)?;
                *mapping = absolute_path(mapping)?;
            }
            FlowSource::Postgres { mapping, query, key, .. } => {
                // A table's key defaults to its primary key; a query has none to default to.
                let relation = rapport_store::pg_source::PgRelation::parse(query);
                if matches!(relation, rapport_store::pg_source::PgRelation::Query(_)) && key.is_empty() {
                    return Err(Error::Flow(
                        "a query source must name its key columns (--key id[,…]): they order rows that share a \
                         modification time"
                            .to_owned(),
                    ));
                }
                *mapping = absolute_path(mapping)?;
            }
        }
        self.store.create_flow(&definition)?;
        self.store.flow(&definition.name)?.ok_or_else(|| Error::Internal("a created flow is missing".to_owned()))
    }

    /// The names of the scheduled flows due at `now`: never run, or whose last run started at least one interval
    /// before `now`. A flow whose last run is still running is not due.
    pub fn due_flows(&self, now: chrono::DateTime<chrono::Utc>) -> Result<Vec<String>> {
        let mut due = Vec::new();
        for flow in self.store.flows()? {
            let Some(every) = flow.definition.every else { continue };
            let is_due = match &flow.last_run {
                None => true,
                Some(run) if run.state == RunState::Running => false,
                Some(run) => {
                    let started = chrono::DateTime::parse_from_rfc3339(&run.started_at)
                        .map_err(|e| Error::Internal(format!("run {} start `{}`: {e}", run.id, run.started_at)))?;
                    let every = chrono::Duration::seconds(i64::try_from(every.seconds()).unwrap_or(i64::MAX));
                    started.with_timezone(&chrono::Utc) + every <= now
                }
            };
            if is_due {
                due.push(flow.definition.name);
            }
        }
        Ok(due)
    }

    /// Runs one flow (see the module docs). A run whose batches all committed ends `success`; one with a
    /// failed batch ends `failed` but keeps the batches that committed.
    #[instrument(skip(self, observer))]
    pub fn run_flow(&mut self, name: &str, observer: &dyn Observer) -> Result<FlowRunReport> {
        let flow = self
            .store
            .flow(name)?
            .ok_or_else(|| rapport_store::Error::NotFound { kind: "flow", name: name.to_owned() })?;
        let run = self.store.begin_flow_run(name)?;
        let mut report = FlowRunReport {
            run: FlowRun {
                id: run.id(),
                flow: name.to_owned(),
                state: RunState::Running,
                started_at: String::new(),
                ended_at: None,
                files_listed: 0,
                files_skipped: 0,
                files: Vec::new(),
                batches: Vec::new(),
                failed_batches: Vec::new(),
                rows_read: 0,
                rows_ingested: 0,
                rows_rejected: 0,
                message: None,
            },
            skipped: Vec::new(),
            not_recognised: Vec::new(),
            files: Vec::new(),
            profiles: None,
        };
        let definition = &flow.definition;
        let outcome = match &definition.source {
            FlowSource::Crm { system, from, instance } => {
                self.run_crm_files(definition, *system, from, instance, run.id(), &mut report, observer)
            }
            FlowSource::File { from, format, dataset, entity, mapping } => {
                let set = load_mapping(name, mapping, *entity);
                set.and_then(|set| {
                    self.run_generic_files(definition, from, format, dataset, &set, run.id(), &mut report, observer)
                })
            }
            FlowSource::Postgres { connection_env, query, modified_column, key, dataset, entity, mapping } => {
                let set = load_mapping(name, mapping, *entity);
                let pull = PgPull { connection_env, query, modified_column, key, dataset };
                set.and_then(|set| self.run_postgres(definition, &pull, &set, run.id(), &mut report, observer))
            }
        };
        let outcome = outcome.and_then(|()| {
            if report.files.iter().any(|f| f.state == BatchState::Success) {
                report.profiles = Some(self.profile_summary()?);
            }
            Ok(())
        });
        let listed = (report.skipped.len() + report.files.len()) as u64;
        let skipped = report.skipped.len() as u64;
        let failed: Vec<&FileReport> = report.files.iter().filter(|f| f.state == BatchState::Failed).collect();
        let (state, message) = match &outcome {
            Err(err) => (RunState::Failed, Some(err.to_string())),
            Ok(()) if !failed.is_empty() => (
                RunState::Failed,
                Some(format!(
                    "{} of {} batches failed: {}",
                    failed.len(),
                    report.files.len(),
                    failed
                        .iter()
                        .map(|f| format!("{} ({})", f.file, f.reason.as_ref().map_or("", |r| r.code.as_str())))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ),
            Ok(()) => (RunState::Success, None),
        };
        report.run = self.store.end_flow_run(run, state, listed, skipped, message.as_deref())?;
        info!(flow = name, run = report.run.id, state = %state, picked = report.files.len(), skipped, "flow run ended");
        outcome.map(|()| report)
    }

    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename these
    fn run_crm_files(
        &mut self,
        definition: &FlowDefinition,
        system: rapport_model::SourceSystem,
        from: &str,
        instance: &str,
        run: i64,
        report: &mut FlowRunReport,
        observer: &dyn Observer,
    ) -> Result<()> {
        let mut inputs = Vec::new();
        for path in list_location(from)? {
            match rapport_sources::recognise_listed(system, &path) {
                Some(table) => inputs.push((path, table)),
                None => report.not_recognised.push(path.display().to_string()),
            }
        }
        for file in &report.not_recognised {
            warn!(flow = %definition.name, file = %file, "not a known export table; skipped");
        }
        // Entities that others point at load first, as `ingest` does.
        inputs.sort_by_key(|(path, table)| (table.entity, path.clone()));
        let context = self.file_context(instance, definition.error_threshold)?;
        for (path, table) in &inputs {
            let Some(checkpoint) = self.changed_file(&definition.name, path, &mut report.skipped)? else { continue };
            let job = FileJob { path, table, checkpoint, flow_run: Some(run), display: None };
            report.files.push(self.ingest_file(&job, &context, observer)?);
        }
        Ok(())
    }

    /// Compares a listed file with its checkpoint: `None` (and the file added to `skipped`) when it holds,
    /// else the checkpoint to commit with the file's batch. Same size and time: skipped unread; same size and
    /// SHA-256: skipped, the stored time updated.
    ///
    /// A file that cannot be read (gone since it was listed, or failing its reads) is `Some(None)`: it is loaded
    /// without a checkpoint, so its load fails as a batch of its own and the next run tries it again, while the
    /// files after it still load.
    fn changed_file(
        &mut self,
        flow: &str,
        path: &Path,
        skipped: &mut Vec<String>,
    ) -> Result<Option<Option<FileCheckpoint>>> {
        let shown = path.display().to_string();
        let unreadable = |err: Error| match err {
            Error::Input { .. } => Ok(Some(None)),
            other => Err(other),
        };
        let (size, mtime_ns) = match stat(path) {
            Ok(found) => found,
            Err(err) => return unreadable(err),
        };
        let stored = self.store.flow_checkpoint(flow, &shown)?;
        if stored.as_ref().is_some_and(|s| s.checkpoint.size == size && s.checkpoint.mtime_ns == mtime_ns) {
            skipped.push(shown);
            return Ok(None);
        }
        let sha256 = match sha256_file(path) {
            Ok(sha256) => sha256,
            Err(err) => return unreadable(err),
        };
        if stored.as_ref().is_some_and(|s| s.checkpoint.size == size && s.checkpoint.sha256 == sha256) {
            self.store.touch_checkpoint(flow, &shown, mtime_ns)?;
            skipped.push(shown);
            return Ok(None);
        }
        Ok(Some(Some(FileCheckpoint { flow: flow.to_owned(), path: shown, size, mtime_ns, sha256 })))
    }

    /// Loads the new or changed files of a file flow, each as one batch through the mapping set.
    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename these
    fn run_generic_files(
        &mut self,
        definition: &FlowDefinition,
        from: &str,
        format: &str,
        dataset: &str,
        set: &MappingSet,
        run: i64,
        report: &mut FlowRunReport,
        observer: &dyn Observer,
    ) -> Result<()> {
        let format: FileFormat =
            format.parse().map_err(|e| Error::Flow(format!("flow `{}`: format `{format}`: {e}", definition.name)))?;
        for path in list_location(from)? {
            let Some(checkpoint) = self.changed_file(&definition.name, &path, &mut report.skipped)? else { continue };
            let shown = path.display().to_string();
            let options = RowsOptions {
                compile: CompileOptions::default(),
                error_threshold: definition.error_threshold,
                input_bytes: checkpoint.as_ref().map_or(0, |c| c.size),
                flow_run: Some(run),
                checkpoint: checkpoint.map(Into::into),
            };
            // A file that cannot be opened, or whose fields the mapping does not fit, is a failed batch of its
            // own (`input_unreadable`, retried by the next run): the files after it still load.
            let file = match rapport_sources::readers::open(&path, &shown, &format) {
                Ok(mut reader) => match self.ingest_rows(dataset, set, reader.as_mut(), &shown, &options, observer) {
                    Err(Error::Mapping(message)) => {
                        self.unreadable_batch(dataset, set, &shown, &options, format!("{shown}: {message}"))?
                    }
                    loaded => loaded?,
                },
                Err(err) => self.unreadable_batch(dataset, set, &shown, &options, err.to_string())?,
            };
            report.files.push(file);
        }
        Ok(())
    }

    /// Pulls the rows of a PostgreSQL flow changed since its mark, page by page, each page one batch.
    fn run_postgres(
        &mut self,
        definition: &FlowDefinition,
        pull: &PgPull<'_>,
        set: &MappingSet,
        run: i64,
        report: &mut FlowRunReport,
        observer: &dyn Observer,
    ) -> Result<()> {
        let flow = definition.name.as_str();
        let conninfo = std::env::var(pull.connection_env).map_err(|_| {
            Error::Flow(format!(
                "flow `{flow}`: the environment variable `{}` (the PostgreSQL connection URL) is not set",
                pull.connection_env
            ))
        })?;
        let mut source = PgSource::connect(&conninfo)?;
        drop(conninfo);
        let relation = PgRelation::parse(pull.query);
        let incremental = Incremental { modified: pull.modified_column.to_owned(), key: pull.key.to_vec() };
        let mut since = self.store.flow_pg_checkpoint(flow)?;
        loop {
            let page = source.pull(&relation, Some(&incremental), since.as_ref(), Some(PG_PAGE_ROWS))?;
            if page.null_modified > 0 {
                warn!(
                    flow,
                    rows = page.null_modified,
                    column = pull.modified_column,
                    "rows with no modification time are not loaded"
                );
            }
            let (Some(mark), false) = (page.checkpoint, page.rows.is_empty()) else { break };
            let full = page.rows.len() as u64 == PG_PAGE_ROWS;
            let shown = match &since {
                Some(since) => format!("{} after ({}, {})", relation.describe(), since.modified, since.key.join(", ")),
                None => relation.describe(),
            };
            let rows: Vec<SourceRow> = page
                .rows
                .into_iter()
                .map(|row| SourceRow { line: row.number, offset: None, fields: row.fields, faults: row.faults })
                .collect();
            let options = RowsOptions {
                compile: CompileOptions::default(),
                error_threshold: definition.error_threshold,
                input_bytes: 0,
                flow_run: Some(run),
                checkpoint: Some(PgFlowCheckpoint { flow: flow.to_owned(), mark: mark.clone() }.into()),
            };
            let mut reader = MemoryRows::new(page.columns, rows);
            let file = self.ingest_rows(pull.dataset, set, &mut reader, &shown, &options, observer)?;
            let failed = file.state == BatchState::Failed;
            report.files.push(file);
            // A failed page keeps the mark where it was: the next run pulls the same rows again.
            if failed || !full {
                break;
            }
            since = Some(mark);
        }
        Ok(())
    }

    /// Runs every scheduled flow due now, one after the other; a run that fails does not stop the others.
    pub fn run_due_flows(&mut self, observer: &dyn Observer) -> Result<Vec<(String, Result<FlowRunReport>)>> {
        let due = self.due_flows(chrono::Utc::now())?;
        Ok(due
            .into_iter()
            .map(|name| {
                let outcome = self.run_flow(&name, observer);
                (name, outcome)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_whole_names() {
        assert!(wildcard_match("*.csv", "Contact.csv"));
        assert!(wildcard_match("Con*.csv", "Contact.csv"));
        assert!(wildcard_match("C?ntact.csv", "Contact.csv"));
        assert!(wildcard_match("*", "x"));
        assert!(!wildcard_match("*.csv", "Contact.csv.bak"));
        assert!(!wildcard_match("Lead*.csv", "Contact.csv"));
        assert!(!wildcard_match("?", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
    }

    #[test]
    fn wildcards_are_refused_in_folders() {
        let err = split_location("exports/*/Contact.csv").unwrap_err();
        assert!(err.to_string().contains("wildcards are allowed only in the file name"), "{err}");
        let (dir, pattern) = split_location("exports/*.csv").unwrap();
        assert_eq!((dir, pattern.as_deref()), (PathBuf::from("exports"), Some("*.csv")));
        assert_eq!(split_location("*.csv").unwrap().0, PathBuf::from("."));
    }

    #[test]
    fn hashes_file_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        // FIPS 180-2 test vector for "abc".
        assert_eq!(sha256_file(&path).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
