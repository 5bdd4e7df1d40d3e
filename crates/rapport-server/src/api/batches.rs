//! Batch ingestion (after Adobe's Batch Ingestion API): create a batch for a connector dataset, upload its
//! file(s), complete it; the files load as the CLI's `rapport ingest` loads them.
//!
//! | route | role | answer |
//! | --- | --- | --- |
//! | `POST /batches` `{datasetId, inputFormat: {format: "csv"}, instance?, errorThreshold?}` | engineer | 201 `{id, status: "loading"}` |
//! | `PUT /batches/{id}/datasets/{datasetId}/files/{name}` (raw body) | engineer | 200 `{name, bytes}` |
//! | `POST /batches/{id}?action=COMPLETE` | engineer | 202 `{taskId}`: the files load, in upload order |
//! | `GET /batches`, `GET /batches/{id}` | any | status, per-file store batches and counts |
//! | `GET /batches/{id}/failed` | any | page of rejected rows `{file, line, offset, path, code, message}` |
//!
//! `datasetId` names a connector dataset, `<system>.<table>` (`salesforce.contact`, `marketo.leads`, ...): the
//! table decides the mapping whatever the uploaded file is called. Each file becomes one batch of the store,
//! exactly as one file of `rapport ingest`: rows that cannot be read, mapped or validated are rejected with
//! file, line, field and reason and the rest load (partial ingestion), unless more than `errorThreshold`
//! percent (default 5) are rejected: then nothing of that file is stored and its store batch is `failed`.
//! The batch is `success` when every file's store batch succeeded, else `failed`.
//!
//! Uploads are staged under the data directory (`uploads/`) until the batch completes. These API batches
//! live in the memory of the server process, like tasks; the store batches they produce stay (see
//! `GET /datasets/{id}/batches`). Staged files of a previous process are removed at start.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Mutex;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rapport_engine::{ErrorThreshold, IngestOptions, Permission, Quiet};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, AppState, Caller, ErrorBody, Page, PageQuery, TaskStarted,
};

/// Where an API batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BatchStatus {
    /// Accepting files.
    Loading,
    /// Completed by the client; its files are loading.
    Processing,
    /// Every file's store batch succeeded (rows may have been rejected within the threshold).
    Success,
    /// A file's store batch failed, or loading failed.
    Failed,
}

/// One uploaded file.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadedFile {
    /// The name given in the upload path.
    pub name: String,
    /// Its size.
    pub bytes: u64,
    /// The store batch it became, once loaded.
    pub store_batch_id: Option<i64>,
    #[serde(skip)]
    staged: PathBuf,
}

/// An API batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiBatch {
    /// The id (`b1`, `b2`, ...).
    pub id: String,
    /// The connector dataset.
    pub dataset_id: String,
    /// Where it is.
    pub status: BatchStatus,
    /// `{"format": "csv"}`.
    #[schema(value_type = Object)]
    pub input_format: Value,
    /// The instance the files come from (part of every source key).
    pub instance: String,
    /// The share of rejected rows each file tolerates, in percent.
    pub error_threshold: String,
    /// The files, in upload order.
    pub files: Vec<UploadedFile>,
    /// The task loading it, once completed.
    pub task_id: Option<String>,
    /// Why loading failed as a whole (a file's own failure is in its store batch).
    pub error: Option<String>,
}

/// The API batches of this process.
#[derive(Debug)]
pub struct Batches {
    staging: PathBuf,
    inner: Mutex<(u64, BTreeMap<u64, ApiBatch>)>,
}

impl Batches {
    /// Batches staging their uploads under `data_dir/uploads` (emptied now: a previous process's are orphans).
    pub(crate) fn new(data_dir: &FsPath) -> Self {
        let staging = data_dir.join("uploads");
        if staging.exists() {
            if let Err(err) = std::fs::remove_dir_all(&staging) {
                tracing::warn!(error = %err, "staged uploads of a previous process could not be removed");
            }
        }
        Self { staging, inner: Mutex::new((0, BTreeMap::new())) }
    }

    fn lock(&self) -> ApiResult<std::sync::MutexGuard<'_, (u64, BTreeMap<u64, ApiBatch>)>> {
        self.inner.lock().map_err(|_| ApiError::internal("the batch table lock is poisoned"))
    }

    fn key(id: &str) -> Option<u64> {
        id.strip_prefix('b')?.parse().ok()
    }

    fn get(&self, id: &str) -> ApiResult<ApiBatch> {
        let missing = || ApiError::not_found(format!("batch `{id}` does not exist in this server process"));
        let key = Self::key(id).ok_or_else(missing)?;
        self.lock()?.1.get(&key).cloned().ok_or_else(missing)
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut ApiBatch) -> ApiResult<()>) -> ApiResult<ApiBatch> {
        let missing = || ApiError::not_found(format!("batch `{id}` does not exist in this server process"));
        let key = Self::key(id).ok_or_else(missing)?;
        let mut table = self.lock()?;
        let batch = table.1.get_mut(&key).ok_or_else(missing)?;
        change(batch)?;
        Ok(batch.clone())
    }
}

/// A batch to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewBatch {
    /// The connector dataset, `<system>.<table>`, e.g. `salesforce.contact`.
    pub dataset_id: String,
    /// `{"format": "csv"}` (the only format of the connectors' export files).
    #[schema(value_type = Object)]
    pub input_format: Value,
    /// The instance the files come from (CRM org id or Marketo munchkin id); default `default`.
    #[serde(default)]
    pub instance: Option<String>,
    /// The percentage of rejected rows a file tolerates (0 to 100, at most two decimals; default 5).
    #[serde(default)]
    #[schema(value_type = Option<f64>)]
    pub error_threshold: Option<serde_json::Number>,
}

fn unprocessable(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
}

/// Creates a batch for a connector dataset; files are uploaded next.
#[utoipa::path(post, path = "/batches", tag = "batches", request_body = NewBatch,
    responses((status = 201, description = "The batch, `loading`", body = ApiBatch),
              (status = 400, description = "Malformed JSON", body = ErrorBody),
              (status = 403, description = "The role may not ingest", body = ErrorBody),
              (status = 422, description = "Unknown dataset, format or threshold", body = ErrorBody)))]
async fn create_batch(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewBatch>,
) -> ApiResult<(StatusCode, Json<ApiBatch>)> {
    caller.require(Permission::Data)?;
    let known = rapport_engine::ingest::connector_datasets();
    if !known.contains(&new.dataset_id) {
        return Err(unprocessable(format!(
            "datasetId `{}` is not a connector dataset (expected one of: {})",
            new.dataset_id,
            known.join(", ")
        )));
    }
    if new.input_format.get("format").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() != Some("csv") {
        return Err(unprocessable(format!(
            "inputFormat {} is not supported (expected {{\"format\": \"csv\"}})",
            new.input_format
        )));
    }
    let threshold: ErrorThreshold = match &new.error_threshold {
        None => ErrorThreshold::DEFAULT,
        Some(number) => number.to_string().parse().map_err(unprocessable)?,
    };
    let instance = new.instance.unwrap_or_else(|| "default".to_owned());
    if instance.trim().is_empty() {
        return Err(unprocessable("instance must not be empty".to_owned()));
    }
    let mut table = state.batches.lock()?;
    table.0 += 1;
    let key = table.0;
    let batch = ApiBatch {
        id: format!("b{key}"),
        dataset_id: new.dataset_id,
        status: BatchStatus::Loading,
        input_format: json!({"format": "csv"}),
        instance,
        error_threshold: threshold.to_string(),
        files: Vec::new(),
        task_id: None,
        error: None,
    };
    table.1.insert(key, batch.clone());
    Ok((StatusCode::CREATED, Json(batch)))
}

/// Whether `name` may name an uploaded file: no path separators, not `.` or `..`, at most 255 bytes.
fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
}

/// Uploads one file of a `loading` batch (the raw bytes; a second upload of the same name replaces it).
#[utoipa::path(put, path = "/batches/{id}/datasets/{datasetId}/files/{name}", tag = "batches",
    params(("id" = String, Path, description = "The batch id"),
           ("datasetId" = String, Path, description = "The batch's dataset"),
           ("name" = String, Path, description = "The file's name")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file"),
    responses((status = 200, description = "`{name, bytes}`", body = Value),
              (status = 400, description = "Bad file name or another dataset", body = ErrorBody),
              (status = 403, description = "The role may not ingest", body = ErrorBody),
              (status = 404, description = "No such batch", body = ErrorBody),
              (status = 409, description = "The batch is no longer loading", body = ErrorBody),
              (status = 413, description = "Larger than the upload limit", body = ErrorBody)))]
async fn upload_file(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((id, dataset, name)): ApiPath<(String, String, String)>,
    body: Body,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::Data)?;
    if !valid_file_name(&name) {
        return Err(ApiError::bad_request(format!("`{name}` is not a valid file name")));
    }
    let batch = state.batches.get(&id)?;
    if batch.dataset_id != dataset {
        return Err(ApiError::bad_request(format!(
            "batch `{id}` is for dataset `{}`, not `{dataset}`",
            batch.dataset_id
        )));
    }
    if batch.status != BatchStatus::Loading {
        return Err(ApiError::conflict(format!("batch `{id}` is no longer loading; files cannot be added")));
    }
    let position = batch.files.iter().position(|f| f.name == name).unwrap_or(batch.files.len());
    let staged = state.batches.staging.join(&id).join(position.to_string());
    let bytes = stage(body, staged.clone(), state.upload_limit).await.map_err(|fault| match fault {
        StageFault::TooLarge => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("file `{name}` is larger than the upload limit of {} bytes", state.upload_limit),
        ),
        StageFault::Read(message) => ApiError::bad_request(format!("the upload could not be read: {message}")),
        StageFault::Write(message) => ApiError::internal(format!("staging the upload failed: {message}")),
    })?;
    state.batches.update(&id, |batch| {
        if batch.status != BatchStatus::Loading {
            return Err(ApiError::conflict(format!("batch `{id}` is no longer loading; files cannot be added")));
        }
        let file = UploadedFile { name: name.clone(), bytes, store_batch_id: None, staged };
        match batch.files.iter_mut().find(|f| f.name == name) {
            Some(existing) => *existing = file,
            None => batch.files.push(file),
        }
        Ok(())
    })?;
    Ok(Json(json!({"name": name, "bytes": bytes})))
}

/// Why an upload was not staged.
enum StageFault {
    /// The body went over the upload limit.
    TooLarge,
    /// The body could not be read (the client went away, a broken chunked encoding).
    Read(String),
    /// The staging file could not be written.
    Write(String),
}

/// Streams `body` into the file `target` (through `target.part`, synced, then renamed), never holding more
/// than one chunk in memory; answers the byte count. Over `limit` bytes, or on any fault, the partial file is
/// removed and nothing is left at `target` by this call.
async fn stage(mut body: Body, target: PathBuf, limit: usize) -> Result<u64, StageFault> {
    use axum::body::HttpBody;
    use std::io::Write;

    let (chunks, mut receive) = tokio::sync::mpsc::channel::<Bytes>(8);
    let part = target.with_extension("part");
    let writer = {
        let part = part.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(dir) = part.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = std::io::BufWriter::new(std::fs::File::create(&part)?);
            while let Some(chunk) = receive.blocking_recv() {
                file.write_all(&chunk)?;
            }
            file.into_inner().map_err(|e| e.into_error())?.sync_all()
        })
    };
    let mut total = 0u64;
    let mut fault = None;
    loop {
        match std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
            None => break,
            Some(Err(err)) => {
                fault = Some(StageFault::Read(err.to_string()));
                break;
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else { continue };
                total += data.len() as u64;
                if total > limit as u64 {
                    fault = Some(StageFault::TooLarge);
                    break;
                }
                if chunks.send(data).await.is_err() {
                    // The writer stopped early: its own error is reported below.
                    break;
                }
            }
        }
    }
    drop(chunks);
    let written = writer.await.map_err(|e| StageFault::Write(e.to_string()))?;
    let outcome = match (fault, written) {
        (Some(fault), _) => Err(fault),
        (None, Err(err)) => Err(StageFault::Write(err.to_string())),
        (None, Ok(())) => std::fs::rename(&part, &target).map_err(|e| StageFault::Write(e.to_string())),
    };
    if outcome.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    outcome.map(|()| total)
}

/// The action of `POST /batches/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchAction {
    /// `COMPLETE`: no more files; load them.
    pub action: String,
}

/// Completes a batch: its files load, in upload order, as a task (202 with the task id).
#[utoipa::path(post, path = "/batches/{id}", tag = "batches",
    params(("id" = String, Path, description = "The batch id"), BatchAction),
    responses((status = 202, description = "`{taskId}`: GET /tasks/{taskId}", body = super::TaskAccepted),
              (status = 400, description = "Unknown action", body = ErrorBody),
              (status = 403, description = "The role may not ingest", body = ErrorBody),
              (status = 404, description = "No such batch", body = ErrorBody),
              (status = 409, description = "Already completed", body = ErrorBody),
              (status = 422, description = "No file uploaded", body = ErrorBody)))]
async fn complete_batch(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(action): ApiQuery<BatchAction>,
) -> ApiResult<TaskStarted> {
    caller.require(Permission::Data)?;
    if action.action != "COMPLETE" {
        return Err(ApiError::bad_request(format!("action `{}` is not known (expected COMPLETE)", action.action)));
    }
    let batch = state.batches.update(&id, |batch| {
        if batch.status != BatchStatus::Loading {
            return Err(ApiError::conflict(format!("batch `{}` was completed already", batch.id)));
        }
        if batch.files.is_empty() {
            return Err(unprocessable(format!("batch `{}` has no file; upload one first", batch.id)));
        }
        batch.status = BatchStatus::Processing;
        Ok(())
    })?;
    let shared = state.clone();
    let threshold: ErrorThreshold = batch.error_threshold.parse().map_err(ApiError::internal)?;
    let options = IngestOptions { instance: batch.instance.clone(), error_threshold: threshold };
    let staging = state.batches.staging.join(&batch.id);
    let started = state
        .spawn_task("batch.complete", move |engine| {
            let mut ids = Vec::new();
            let mut outcome = Ok(());
            for file in &batch.files {
                match engine.ingest_table_file(&batch.dataset_id, &file.staged, &file.name, &options, &Quiet) {
                    Ok(report) => ids.push((report.batch_id, report.state)),
                    Err(err) => {
                        outcome = Err(ApiError::from(err));
                        break;
                    }
                }
            }
            if let Err(err) = std::fs::remove_dir_all(&staging) {
                tracing::warn!(error = %err, batch = %batch.id, "staged uploads could not be removed");
            }
            let all_succeeded = outcome.is_ok()
                && ids.len() == batch.files.len()
                && ids.iter().all(|(_, state)| *state == rapport_engine::BatchState::Success);
            let updated = shared.batches.update(&batch.id, |stored| {
                for (file, (store_id, _)) in stored.files.iter_mut().zip(&ids) {
                    file.store_batch_id = Some(*store_id);
                }
                stored.status = if all_succeeded { BatchStatus::Success } else { BatchStatus::Failed };
                stored.error = outcome.as_ref().err().map(|err| err.message.clone());
                Ok(())
            })?;
            outcome?;
            Ok(json!(updated))
        })
        .await?;
    let task = started.id.clone();
    state.batches.update(&id, |batch| {
        batch.task_id = Some(task);
        Ok(())
    })?;
    Ok(started)
}

/// Lists the API batches of this process, oldest first.
#[utoipa::path(get, path = "/batches", tag = "batches", params(PageQuery),
    responses((status = 200, description = "A page of batches", body = Page<ApiBatch>)))]
async fn list_batches(
    _caller: Caller,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ApiBatch>>> {
    let all: Vec<ApiBatch> = state.batches.lock()?.1.values().cloned().collect();
    Ok(Json(page.apply(all)?))
}

/// One batch: status, files with their store batches, and the counts summed over them.
#[utoipa::path(get, path = "/batches/{id}", tag = "batches",
    params(("id" = String, Path, description = "The batch id")),
    responses((status = 200, description = "The batch, `metrics` and each file's `storeBatch`", body = Value),
              (status = 404, description = "No such batch", body = ErrorBody)))]
async fn get_batch(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let batch = state.batches.get(&id)?;
    let ids: Vec<i64> = batch.files.iter().filter_map(|f| f.store_batch_id).collect();
    let infos = state
        .engine(move |engine| ids.iter().map(|id| Ok(engine.store().batch(*id)?)).collect::<ApiResult<Vec<_>>>())
        .await?;
    let mut answer = json!(batch);
    let (mut read, mut ingested, mut rejected) = (0u64, 0u64, 0u64);
    let mut store = infos.into_iter().flatten();
    if let Some(files) = answer["files"].as_array_mut() {
        for file in files.iter_mut().filter(|f| !f["storeBatchId"].is_null()) {
            if let Some(info) = store.next() {
                read += info.rows_read;
                ingested += info.rows_ingested;
                rejected += info.rows_rejected;
                file["storeBatch"] = json!(info);
            }
        }
    }
    answer["metrics"] = json!({"rowsRead": read, "rowsIngested": ingested, "rowsRejected": rejected});
    Ok(Json(answer))
}

/// One rejected row.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailedRow {
    /// The uploaded file's name.
    pub file: String,
    /// The 1-based line (the header is line 1).
    pub line: u64,
    /// The byte offset of the row in the file.
    pub offset: Option<u64>,
    /// The column or field at fault, when one is.
    pub path: Option<String>,
    /// The kind of fault, e.g. `missing_id`, `bad_date`, `unparsable`.
    pub code: String,
    /// What is wrong.
    pub message: String,
}

impl From<rapport_model::RowError> for FailedRow {
    fn from(row: rapport_model::RowError) -> Self {
        FailedRow {
            code: json!(row.code).as_str().map_or_else(|| format!("{:?}", row.code), str::to_owned),
            file: row.file,
            line: row.line,
            offset: row.offset,
            path: row.field,
            message: row.message,
        }
    }
}

/// The rejected rows of a completed batch, by file then line.
#[utoipa::path(get, path = "/batches/{id}/failed", tag = "batches",
    params(("id" = String, Path, description = "The batch id"), PageQuery),
    responses((status = 200, description = "A page of rejected rows", body = Page<FailedRow>),
              (status = 404, description = "No such batch", body = ErrorBody)))]
async fn failed_rows(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<FailedRow>>> {
    let batch = state.batches.get(&id)?;
    let ids: Vec<i64> = batch.files.iter().filter_map(|f| f.store_batch_id).collect();
    let rows = state
        .engine(move |engine| {
            let mut out = Vec::new();
            for id in ids {
                out.extend(engine.store().rejected_rows(id)?);
            }
            Ok(out)
        })
        .await?;
    Ok(Json(page.apply(rows.into_iter().map(FailedRow::from).collect())?))
}

/// The routes of this module. Uploads are not under a body-limit layer: `upload_file` streams the body and
/// stops at the server's upload limit itself.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_batches, create_batch))
        .routes(routes!(get_batch, complete_batch))
        .routes(routes!(failed_rows))
        .routes(routes!(upload_file))
}
