//! Dataflows and their runs (after Adobe's Flow Service API).
//!
//! | route | role | answer |
//! | --- | --- | --- |
//! | `GET /flows`, `GET /flows/{name}` | any | flows with their definition and last run |
//! | `POST /flows` `{name, source, errorThreshold?, every?}` | engineer | 201 with the flow |
//! | `POST /flows/{name}/runs` | engineer | 202 `{taskId}`: the run loads new or changed files as a task |
//! | `GET /flows/{name}/runs` | any | page of the flow's runs: state, batches, rows, files |
//!
//! `source` is what `rapport flow create` takes, tagged by `kind`: `{"kind": "crm", "system", "from",
//! "instance"}`, `{"kind": "file", "from", "format", "dataset", "entity", "mapping"}` or `{"kind":
//! "postgres", "connection_env", "query", "modified_column", "key", "dataset", "entity", "mapping"}`. Locations
//! and mapping files are paths on the server's machine (relative ones to its working directory), read with the
//! server's rights: only engineers and admins create flows.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rapport_engine::{ErrorThreshold, Every, FlowDefinition, FlowSource, Permission, Quiet};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, AppState, Caller, ErrorBody, Page, PageQuery, TaskStarted,
};

fn unprocessable(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
}

/// Lists the flows, by name, with their last run.
#[utoipa::path(get, path = "/flows", tag = "flows", params(PageQuery),
    responses((status = 200, description = "A page of flows", body = Page<Value>)))]
async fn list_flows(
    _caller: Caller,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Value>>> {
    let flows = state.engine(|engine| Ok(engine.store().flows()?)).await?;
    Ok(Json(page.apply(flows.iter().map(|f| json!(f)).collect())?))
}

/// One flow by name.
#[utoipa::path(get, path = "/flows/{name}", tag = "flows",
    params(("name" = String, Path, description = "The flow name")),
    responses((status = 200, description = "The flow", body = Value),
              (status = 404, description = "No such flow", body = ErrorBody)))]
async fn get_flow(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let flow = state.engine(move |engine| Ok((engine.store().flow(&name)?, name))).await?;
    match flow {
        (Some(flow), _) => Ok(Json(json!(flow))),
        (None, name) => Err(ApiError::not_found(format!("flow `{name}` does not exist (see GET /flows)"))),
    }
}

/// A flow to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewFlow {
    /// The name: letters, digits, `-`, `_` or `.`.
    pub name: String,
    /// Where it reads from, tagged by `kind` (`crm`, `file`, `postgres`).
    #[schema(value_type = Object)]
    pub source: Value,
    /// The percentage of rejected rows each of its batches tolerates (default 5).
    #[serde(default)]
    pub error_threshold: Option<f64>,
    /// How often it runs when due, e.g. `15m`, `1h`, `1d`; absent: only when asked.
    #[serde(default)]
    pub every: Option<String>,
}

/// Creates a flow.
#[utoipa::path(post, path = "/flows", tag = "flows", request_body = NewFlow,
    responses((status = 201, description = "The flow created", body = Value),
              (status = 400, description = "Malformed JSON", body = ErrorBody),
              (status = 403, description = "The role may not create flows", body = ErrorBody),
              (status = 409, description = "The name exists", body = ErrorBody),
              (status = 422, description = "A bad source, location, threshold or schedule", body = ErrorBody)))]
async fn create_flow(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewFlow>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Permission::Data)?;
    let source: FlowSource =
        serde_json::from_value(new.source).map_err(|err| unprocessable(format!("source: {err}")))?;
    let error_threshold = match new.error_threshold {
        None => ErrorThreshold::DEFAULT,
        Some(percent) => percent.to_string().parse().map_err(unprocessable)?,
    };
    let every = new.every.as_deref().map(str::parse::<Every>).transpose().map_err(unprocessable)?;
    let definition = FlowDefinition { name: new.name, source, error_threshold, every };
    let flow = state.engine(move |engine| Ok(engine.create_flow(definition)?)).await?;
    Ok((StatusCode::CREATED, Json(json!(flow))))
}

/// Runs a flow as a task: it loads the files that are new or changed since their checkpoints.
#[utoipa::path(post, path = "/flows/{name}/runs", tag = "flows",
    params(("name" = String, Path, description = "The flow name")),
    responses((status = 202, description = "`{taskId}`: GET /tasks/{taskId}; its result is the run report", body = super::TaskAccepted),
              (status = 403, description = "The role may not run flows", body = ErrorBody),
              (status = 404, description = "No such flow", body = ErrorBody)))]
async fn run_flow(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<TaskStarted> {
    caller.require(Permission::Data)?;
    let known = name.clone();
    if state.engine(move |engine| Ok(engine.store().flow(&known)?.is_none())).await? {
        return Err(ApiError::not_found(format!("flow `{name}` does not exist (see GET /flows)")));
    }
    state.spawn_task("flow.run", move |engine| Ok(json!(engine.run_flow(&name, &Quiet)?))).await
}

/// The runs of a flow, oldest first.
#[utoipa::path(get, path = "/flows/{name}/runs", tag = "flows",
    params(("name" = String, Path, description = "The flow name"), PageQuery),
    responses((status = 200, description = "A page of runs", body = Page<Value>),
              (status = 404, description = "No such flow", body = ErrorBody)))]
async fn flow_runs(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Value>>> {
    let runs = state
        .engine(move |engine| {
            if engine.store().flow(&name)?.is_none() {
                return Err(ApiError::not_found(format!("flow `{name}` does not exist (see GET /flows)")));
            }
            Ok(engine.store().flow_runs(&name)?)
        })
        .await?;
    Ok(Json(page.apply(runs.iter().map(|r| json!(r)).collect())?))
}

/// The routes of this module.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_flows, create_flow))
        .routes(routes!(get_flow))
        .routes(routes!(run_flow, flow_runs))
}
