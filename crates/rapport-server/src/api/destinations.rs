//! Destinations and activation flows, after Adobe's Destinations and Flow Service APIs.
//!
//! | route | role | answer |
//! | --- | --- | --- |
//! | `GET /destinations` | any | page of destinations, secrets as `***` |
//! | `POST /destinations` | marketer | 201 with the destination (`{name, config: {type, …}}`) |
//! | `GET /destinations/{name}` | any | one destination, secrets as `***` |
//! | `POST /destinations/{name}/test` | marketer | `{message}`: reachable with its settings (nothing changed there) |
//! | `GET /activation/flows` | any | page of activation flows |
//! | `POST /activation/flows` | marketer | 201 with the flow (`{name, definition}`), checked against labels |
//! | `GET /activation/flows/{name}` | any | one flow |
//! | `POST /activation/flows/{name}/runs` | marketer | 202 `{taskId}`: one run; the task's result is its delivery report |
//! | `GET /activation/flows/{name}/runs` | any | page of runs, newest first, with their delivery reports |
//!
//! A file destination writes into a folder of the server's machine: creating one is a marketer's (or admin's)
//! right, as on the command line.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rapport_destinations::{DestinationConfig, RetryPolicy};
use rapport_engine::{ActivationFlow, ActivationFlowDef, DestinationView, Engine, Permission, RunOptions};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audiences::check_name;
use super::error::to_value;
use super::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, AppState, Caller, ErrorBody, ErrorDetail, Page, PageQuery,
    TaskStarted,
};

/// A destination as answered: secrets as `***`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DestinationOut {
    /// Its name.
    pub name: String,
    /// Its type: `file`, `marketo`, `linkedin` or `webhook`.
    pub kind: String,
    /// Its settings (`type` tag included), secrets as `***`.
    #[schema(value_type = Object)]
    pub config: Value,
    /// Creation time.
    pub created_at: String,
}

impl DestinationOut {
    fn of(view: DestinationView) -> ApiResult<Self> {
        Ok(Self {
            name: view.name,
            kind: view.kind.name().to_owned(),
            config: to_value(&view.config)?,
            created_at: view.created_at,
        })
    }
}

/// The body of `POST /destinations`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDestination {
    /// The name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// The settings, with their `type` (`file`, `marketo`, `linkedin`, `webhook`); see docs/activation.md.
    #[schema(value_type = Object)]
    pub config: Value,
}

/// An activation flow as answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowOut {
    /// Its name.
    pub name: String,
    /// Its definition (destination, audiences, identity, mapping, mandatory, dedupe, schedule, marketing action).
    #[schema(value_type = Object)]
    pub definition: Value,
    /// Creation time.
    pub created_at: String,
}

impl FlowOut {
    fn of(flow: ActivationFlow) -> ApiResult<Self> {
        Ok(Self { definition: to_value(&flow.definition)?, name: flow.name, created_at: flow.created_at })
    }
}

/// The body of `POST /activation/flows`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFlow {
    /// The name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// `{destination, audiences, identity?, mapping?, mandatory?, dedupe?, schedule?, marketing_action?}`.
    #[schema(value_type = Object)]
    pub definition: Value,
}

/// The answer of a destination test.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestOutcome {
    /// What was checked.
    pub message: String,
}

/// The shared mapping of engine errors, except that a flow definition the engine refuses
/// (`Error::Flow`, e.g. an unknown identity or a restricted field) is the caller's bad request.
fn activation_error(err: rapport_engine::Error) -> ApiError {
    match err {
        rapport_engine::Error::Flow(message) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", message),
        other => ApiError::from(other),
    }
}

/// A body part that does not fit its type: 400 naming the path.
fn invalid(path: &str, message: String) -> ApiError {
    ApiError::bad_request(message)
        .with_details(vec![ErrorDetail { path: Some(path.to_owned()), ..ErrorDetail::default() }])
}

/// Lists the destinations, by name.
#[utoipa::path(get, path = "/destinations", tag = "destinations", params(PageQuery),
    responses((status = 200, description = "A page of destinations", body = Page<DestinationOut>)))]
async fn list_destinations(
    _caller: Caller,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<DestinationOut>>> {
    let all = state.engine(|engine| engine.destinations().map_err(activation_error)).await?;
    let all = all.into_iter().map(DestinationOut::of).collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(page.apply(all)?))
}

/// Creates a destination after validating its settings.
#[utoipa::path(post, path = "/destinations", tag = "destinations", request_body = CreateDestination,
    responses((status = 201, description = "The destination, secrets as `***`", body = DestinationOut),
              (status = 400, description = "A bad name or bad settings (named)", body = ErrorBody),
              (status = 403, description = "The role may not change destinations", body = ErrorBody),
              (status = 409, description = "A destination has this name", body = ErrorBody)))]
async fn create_destination(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateDestination>,
) -> ApiResult<Response> {
    caller.require(Permission::Activation)?;
    check_name("destination", &body.name)?;
    let config = DestinationConfig::parse(&body.config.to_string()).map_err(|e| invalid("config", e.to_string()))?;
    let name = body.name;
    let view = state.engine(move |engine| engine.create_destination(&name, &config).map_err(activation_error)).await?;
    Ok((StatusCode::CREATED, Json(DestinationOut::of(view)?)).into_response())
}

/// One destination, secrets as `***`.
#[utoipa::path(get, path = "/destinations/{name}", tag = "destinations",
    params(("name" = String, Path, description = "The destination name")),
    responses((status = 200, description = "The destination", body = DestinationOut),
              (status = 404, description = "No such destination", body = ErrorBody)))]
async fn get_destination(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<DestinationOut>> {
    let view = state.engine(move |engine| engine.destination(&name).map_err(activation_error)).await?;
    Ok(Json(DestinationOut::of(view)?))
}

/// Checks that a destination is reachable with its settings (a file destination: that its folder can be
/// written), changing nothing there.
#[utoipa::path(post, path = "/destinations/{name}/test", tag = "destinations",
    params(("name" = String, Path, description = "The destination name")),
    responses((status = 200, description = "What was checked", body = TestOutcome),
              (status = 403, description = "The role may not use destinations", body = ErrorBody),
              (status = 404, description = "No such destination", body = ErrorBody),
              (status = 502, description = "The destination is not reachable", body = ErrorBody)))]
async fn test_destination(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<TestOutcome>> {
    caller.require(Permission::Activation)?;
    let message = state
        .engine(move |engine| engine.test_destination(&name, RetryPolicy::default()).map_err(activation_error))
        .await?;
    Ok(Json(TestOutcome { message }))
}

/// Lists the activation flows, by name.
#[utoipa::path(get, path = "/activation/flows", tag = "activation", params(PageQuery),
    responses((status = 200, description = "A page of flows", body = Page<FlowOut>)))]
async fn list_flows(
    _caller: Caller,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<FlowOut>>> {
    let mut all = state.engine(|engine| engine.activation_flows().map_err(activation_error)).await?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let all = all.into_iter().map(FlowOut::of).collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(page.apply(all)?))
}

/// Creates an activation flow: audiences to a destination, with the identity, attributes, mandatory ones,
/// dedupe key and schedule; refused when a selected field carries a label its marketing action restricts.
#[utoipa::path(post, path = "/activation/flows", tag = "activation", request_body = CreateFlow,
    responses((status = 201, description = "The flow", body = FlowOut),
              (status = 400, description = "A bad name or definition (named)", body = ErrorBody),
              (status = 403, description = "The role may not change activation", body = ErrorBody),
              (status = 404, description = "No such destination or audience", body = ErrorBody),
              (status = 409, description = "A flow has this name", body = ErrorBody)))]
async fn create_flow(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateFlow>,
) -> ApiResult<Response> {
    caller.require(Permission::Activation)?;
    check_name("activation flow", &body.name)?;
    let def: ActivationFlowDef =
        serde_json::from_value(body.definition).map_err(|e| invalid("definition", format!("definition: {e}")))?;
    let name = body.name;
    let flow = state.engine(move |engine| engine.create_activation_flow(&name, &def).map_err(activation_error)).await?;
    Ok((StatusCode::CREATED, Json(FlowOut::of(flow)?)).into_response())
}

/// The activation flow `name`, or 404 pointing at the list.
fn find_flow(engine: &Engine, name: &str) -> ApiResult<ActivationFlow> {
    engine.activation_flow(name).map_err(|err| match err {
        rapport_engine::Error::Store(rapport_engine::StoreError::NotFound { .. }) => {
            ApiError::not_found(format!("activation flow `{name}` does not exist (see GET /activation/flows)"))
        }
        other => activation_error(other),
    })
}

/// One activation flow.
#[utoipa::path(get, path = "/activation/flows/{name}", tag = "activation",
    params(("name" = String, Path, description = "The flow name")),
    responses((status = 200, description = "The flow", body = FlowOut),
              (status = 404, description = "No such flow", body = ErrorBody)))]
async fn get_flow(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<FlowOut>> {
    let flow = state.engine(move |engine| find_flow(engine, &name)).await?;
    Ok(Json(FlowOut::of(flow)?))
}

/// Runs a flow now, as a task: the members' difference with what the destination holds is sent (files
/// written, or batches to a streaming destination) and recorded. The task's result is the delivery report.
#[utoipa::path(post, path = "/activation/flows/{name}/runs", tag = "activation",
    params(("name" = String, Path, description = "The flow name")),
    responses((status = 202, description = "`{taskId}`; GET /tasks/{id}", body = super::TaskAccepted),
              (status = 403, description = "The role may not run activation", body = ErrorBody),
              (status = 404, description = "No such flow", body = ErrorBody)))]
async fn run_flow(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<TaskStarted> {
    caller.require(Permission::Activation)?;
    let flow = state.engine(move |engine| find_flow(engine, &name)).await?.name;
    state
        .spawn_task("activation.run", move |engine| {
            let report = engine.run_activation(&flow, &RunOptions::default()).map_err(activation_error)?;
            to_value(&report)
        })
        .await
}

/// The runs of a flow, newest first, each with its delivery report once ended.
#[utoipa::path(get, path = "/activation/flows/{name}/runs", tag = "activation",
    params(("name" = String, Path, description = "The flow name"), PageQuery),
    responses((status = 200, description = "A page of runs", body = Page<Object>),
              (status = 404, description = "No such flow", body = ErrorBody)))]
async fn list_runs(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Value>>> {
    let runs = state
        .engine(move |engine| {
            find_flow(engine, &name)?;
            engine.activation_history(&name).map_err(activation_error)
        })
        .await?;
    let mut runs = runs.iter().map(to_value).collect::<ApiResult<Vec<_>>>()?;
    runs.sort_by_key(|r| std::cmp::Reverse(r["id"].as_i64().unwrap_or(0)));
    Ok(Json(page.apply(runs)?))
}

/// The routes of this module.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_destinations, create_destination))
        .routes(routes!(get_destination))
        .routes(routes!(test_destination))
        .routes(routes!(list_flows, create_flow))
        .routes(routes!(get_flow))
        .routes(routes!(run_flow, list_runs))
}
