//! Datasets (after Adobe's Catalog API) and the store's batches of each.
//!
//! | route | role | answer |
//! | --- | --- | --- |
//! | `GET /datasets` | any | page of datasets `{id, name, entity, schema, schemaRef}` |
//! | `GET /datasets/{id}` | any | one dataset by numeric id or name, with its batch counts by state |
//! | `POST /datasets` `{name, schemaId}` | engineer | 201 with the dataset created |
//! | `GET /datasets/{id}/batches` | any | page of the store's batches of the dataset (state, counts, reason) |
//! | `GET /connectors` | any | page of the built-in connectors' tables: system, table, class, dataset, files, mapped columns |
//! | `GET /inlets` | any | page of streaming inlets `{id, name, createdAt, url}` |
//! | `POST /inlets` `{name}` | engineer | 201 with the inlet created; it accepts messages at once |
//! | `GET /datasets/{id}/batches/{batchId}/failed` | any | page of one store batch's rejected rows (file, line, field, message) |
//! | `GET /ingestion/throughput` | any | page of every store batch, oldest first, with its duration and rows per second |

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rapport_engine::{BatchFilter, DatasetRecord, Engine, InletRecord, Permission};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::batches::FailedRow;
use super::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, AppState, Caller, ErrorBody, Page, PageQuery};

/// A dataset as answered: with its schema's `$id` as `schemaRef`.
pub(crate) fn view(dataset: &DatasetRecord) -> Value {
    json!({
        "id": dataset.id,
        "name": dataset.name,
        "entity": dataset.entity,
        "schema": dataset.schema,
        "schemaRef": rapport_engine::stream::schema_id(&dataset.schema),
    })
}

/// The dataset named by `key`: its numeric id or its name.
pub(crate) fn find(engine: &Engine, key: &str) -> ApiResult<DatasetRecord> {
    engine
        .store()
        .datasets()?
        .into_iter()
        .find(|d| d.name == key || d.id.to_string() == key)
        .ok_or_else(|| ApiError::not_found(format!("dataset `{key}` does not exist (see GET /datasets)")))
}

/// Lists the datasets, by id.
#[utoipa::path(get, path = "/datasets", tag = "datasets", params(PageQuery),
    responses((status = 200, description = "A page of datasets", body = Page<Value>)))]
async fn list_datasets(
    _caller: Caller,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Value>>> {
    let datasets = state.engine(|engine| Ok(engine.store().datasets()?)).await?;
    Ok(Json(page.apply(datasets.iter().map(view).collect())?))
}

/// One dataset by numeric id or name, with how many of its batches are in each state.
#[utoipa::path(get, path = "/datasets/{id}", tag = "datasets",
    params(("id" = String, Path, description = "The dataset's numeric id or name")),
    responses((status = 200, description = "The dataset and `batches` counts by state", body = Value),
              (status = 404, description = "No such dataset", body = ErrorBody)))]
async fn get_dataset(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let (dataset, batches) = state
        .engine(move |engine| {
            let dataset = find(engine, &id)?;
            let filter = BatchFilter { dataset: Some(dataset.name.clone()), ..BatchFilter::default() };
            Ok((dataset, engine.store().batch_list(&filter)?))
        })
        .await?;
    let mut counts = serde_json::Map::new();
    for batch in &batches {
        let entry = counts.entry(batch.state.as_str().to_owned()).or_insert(json!(0));
        *entry = json!(entry.as_u64().unwrap_or(0) + 1);
    }
    let mut answer = view(&dataset);
    answer["batches"] = Value::Object(counts);
    Ok(Json(answer))
}

/// A dataset to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDataset {
    /// The name, without spaces, e.g. `web.person`.
    pub name: String,
    /// The schema, by `$id` or name (`B2B Person`).
    pub schema_id: String,
}

/// Creates an empty dataset bound to a registered schema.
#[utoipa::path(post, path = "/datasets", tag = "datasets", request_body = NewDataset,
    responses((status = 201, description = "The dataset created", body = Value),
              (status = 400, description = "Malformed JSON", body = ErrorBody),
              (status = 403, description = "The role may not create datasets", body = ErrorBody),
              (status = 409, description = "The name exists", body = ErrorBody),
              (status = 422, description = "Unknown schema or bad name", body = ErrorBody)))]
async fn create_dataset(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewDataset>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Permission::Data)?;
    let dataset = state.engine(move |engine| Ok(engine.create_dataset(&new.name, &new.schema_id)?)).await?;
    Ok((StatusCode::CREATED, Json(view(&dataset))))
}

/// The store's batches of a dataset, oldest first (what `rapport batch list --dataset` shows).
#[utoipa::path(get, path = "/datasets/{id}/batches", tag = "datasets",
    params(("id" = String, Path, description = "The dataset's numeric id or name"), PageQuery),
    responses((status = 200, description = "A page of batches", body = Page<Value>),
              (status = 404, description = "No such dataset", body = ErrorBody)))]
async fn dataset_batches(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Value>>> {
    let batches = state
        .engine(move |engine| {
            let dataset = find(engine, &id)?;
            let filter = BatchFilter { dataset: Some(dataset.name), ..BatchFilter::default() };
            Ok(engine.store().batch_list(&filter)?)
        })
        .await?;
    Ok(Json(page.apply(batches.iter().map(|b| json!(b)).collect())?))
}

/// The tables the built-in connectors (Salesforce, Dynamics, Marketo) read: each one's class, dataset, the file
/// names recognised as it, its id column, and the source columns and XDM paths of its mapping.
#[utoipa::path(get, path = "/connectors", tag = "datasets", params(PageQuery),
    responses((status = 200, description = "A page of connector tables", body = Page<Value>)))]
async fn list_connectors(_caller: Caller, ApiQuery(page): ApiQuery<PageQuery>) -> ApiResult<Json<Page<Value>>> {
    let tables = rapport_engine::ingest::connector_tables();
    Ok(Json(page.apply(tables.iter().map(|t| json!(t)).collect())?))
}

/// An inlet as answered: with the path its messages are posted to.
fn inlet_view(inlet: &InletRecord) -> Value {
    json!({
        "id": inlet.id,
        "name": inlet.name,
        "createdAt": inlet.created_at,
        "url": format!("/collection/{}", inlet.id),
    })
}

/// Lists the streaming inlets, oldest first.
#[utoipa::path(get, path = "/inlets", tag = "datasets", params(PageQuery),
    responses((status = 200, description = "A page of inlets", body = Page<Value>)))]
async fn list_inlets(
    _caller: Caller,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Value>>> {
    let inlets = state.engine(|engine| Ok(engine.store().inlets()?)).await?;
    Ok(Json(page.apply(inlets.iter().map(inlet_view).collect())?))
}

/// A streaming inlet to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInlet {
    /// A name for people (the id is generated).
    pub name: String,
}

/// Creates a streaming inlet; `POST /collection/{id}` accepts messages as soon as this answers.
#[utoipa::path(post, path = "/inlets", tag = "datasets", request_body = NewInlet,
    responses((status = 201, description = "The inlet created", body = Value),
              (status = 400, description = "Malformed JSON", body = ErrorBody),
              (status = 403, description = "The role may not create inlets", body = ErrorBody),
              (status = 409, description = "An inlet has that name", body = ErrorBody),
              (status = 422, description = "An empty name", body = ErrorBody)))]
async fn create_inlet(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewInlet>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Permission::Data)?;
    let inlet = state.engine(move |engine| Ok(engine.create_inlet(&new.name)?)).await?;
    if let Ok(mut known) = state.inlets.write() {
        known.insert(inlet.id.clone());
    }
    Ok((StatusCode::CREATED, Json(inlet_view(&inlet))))
}

/// The rejected rows of one of the dataset's store batches, by file then line (whatever loaded it: the CLI, a
/// dataflow run or an API batch).
#[utoipa::path(get, path = "/datasets/{id}/batches/{batchId}/failed", tag = "datasets",
    params(("id" = String, Path, description = "The dataset's numeric id or name"),
           ("batchId" = i64, Path, description = "The store batch id"), PageQuery),
    responses((status = 200, description = "A page of rejected rows", body = Page<FailedRow>),
              (status = 400, description = "A batch id that is not a number (`invalid_path`)", body = ErrorBody),
              (status = 404, description = "No such dataset, or no such batch in it", body = ErrorBody)))]
async fn dataset_batch_failed(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath((id, batch_id)): ApiPath<(String, i64)>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<FailedRow>>> {
    let rows = state
        .engine(move |engine| {
            let dataset = find(engine, &id)?;
            match engine.store().batch(batch_id)? {
                Some(batch) if batch.dataset == dataset.name => Ok(engine.store().rejected_rows(batch_id)?),
                _ => Err(ApiError::not_found(format!(
                    "dataset `{}` has no batch {batch_id} (see GET /datasets/{id}/batches)",
                    dataset.name
                ))),
            }
        })
        .await?;
    Ok(Json(page.apply(rows.into_iter().map(FailedRow::from).collect())?))
}

/// One store batch as the ingestion throughput sees it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchThroughput {
    /// The store batch id.
    pub id: i64,
    /// Its dataset.
    pub dataset: String,
    /// What produced it (`rapport ingest`, a dataflow, …).
    pub source: String,
    /// `loading`, `success`, `failed` or `deleted`.
    pub state: String,
    /// When it started loading (RFC 3339).
    pub created_at: String,
    /// When it last changed state (its completion), if it did.
    pub completed_at: Option<String>,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows stored.
    pub rows_ingested: u64,
    /// Rows rejected.
    pub rows_rejected: u64,
    /// From creation to completion, in seconds (none while loading or when a time does not parse).
    pub seconds: Option<f64>,
    /// Rows read per second over that time (none without a positive duration).
    pub rows_per_second: Option<f64>,
}

/// Seconds from `start` to `end` (RFC 3339), when both parse and `end` is not before `start`.
fn seconds_between(start: &str, end: &str) -> Option<f64> {
    let start = chrono::DateTime::parse_from_rfc3339(start).ok()?;
    let end = chrono::DateTime::parse_from_rfc3339(end).ok()?;
    let millis = (end - start).num_milliseconds();
    if millis < 0 {
        return None;
    }
    // Whole milliseconds (the store's precision) become seconds exactly enough for a plot.
    Some(millis as f64 / 1000.0)
}

impl BatchThroughput {
    fn of(batch: &rapport_engine::BatchInfo) -> Self {
        let seconds = batch.updated_at.as_deref().and_then(|end| seconds_between(&batch.created_at, end));
        let rows_per_second = seconds.filter(|s| *s > 0.0).map(|s| batch.rows_read as f64 / s);
        BatchThroughput {
            id: batch.id,
            dataset: batch.dataset.clone(),
            source: batch.source.clone(),
            state: batch.state.as_str().to_owned(),
            created_at: batch.created_at.clone(),
            completed_at: batch.updated_at.clone(),
            rows_read: batch.rows_read,
            rows_ingested: batch.rows_ingested,
            rows_rejected: batch.rows_rejected,
            seconds,
            rows_per_second,
        }
    }
}

/// Every store batch of every dataset, oldest first, with its duration and rows per second (what the
/// console's home page plots as ingestion throughput).
#[utoipa::path(get, path = "/ingestion/throughput", tag = "datasets", params(PageQuery),
    responses((status = 200, description = "A page of batches with their throughput", body = Page<BatchThroughput>)))]
async fn throughput(
    _caller: Caller,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<BatchThroughput>>> {
    let batches = state.engine(|engine| Ok(engine.store().batch_list(&BatchFilter::default())?)).await?;
    Ok(Json(page.apply(batches.iter().map(BatchThroughput::of).collect())?))
}

/// The routes of this module.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_datasets, create_dataset))
        .routes(routes!(get_dataset))
        .routes(routes!(dataset_batches))
        .routes(routes!(list_inlets, create_inlet))
        .routes(routes!(list_connectors))
        .routes(routes!(dataset_batch_failed))
        .routes(routes!(throughput))
}

#[cfg(test)]
mod tests {
    use super::seconds_between;

    #[test]
    fn seconds_between_rfc3339_times() {
        assert_eq!(seconds_between("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:02.500Z"), Some(2.5));
        // Offsets count: 01:00+01:00 is midnight UTC.
        assert_eq!(seconds_between("2026-01-01T00:00:00Z", "2026-01-01T01:00:01+01:00"), Some(1.0));
        assert_eq!(seconds_between("2026-01-01T00:00:01Z", "2026-01-01T00:00:00Z"), None);
        assert_eq!(seconds_between("yesterday", "2026-01-01T00:00:00Z"), None);
    }
}
