//! Long operations as tasks: the route answers 202 `{"taskId"}` at once, the work runs on the engine's thread
//! in submission order, and `GET /tasks/{id}` tells its status (`queued`, `running`, `succeeded`, `failed`)
//! with its result or error.
//!
//! Tasks live in the memory of this server process: a restart forgets them (what they wrote stays stored, and
//! batches and runs keep their own status in the store). The newest [`KEPT_TASKS`] are kept.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rapport_engine::Engine;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::error::{ApiError, ApiPath, ApiQuery, ApiResult, ErrorBody, ErrorObject};
use super::page::{Page, PageQuery};
use super::AppState;

/// How many finished or pending tasks are remembered; the oldest are forgotten first.
pub const KEPT_TASKS: usize = 1000;

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Waiting for the engine.
    Queued,
    /// Running.
    Running,
    /// Done; `result` holds its answer.
    Succeeded,
    /// Failed; `error` says why.
    Failed,
}

/// A task as answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    /// The task id.
    pub id: String,
    /// What it does, e.g. `batch.complete`.
    pub kind: String,
    /// Where it is.
    pub status: TaskStatus,
    /// When it was submitted (RFC 3339).
    pub created_at: String,
    /// When it started.
    pub started_at: Option<String>,
    /// When it ended.
    pub ended_at: Option<String>,
    /// Its answer, once succeeded.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// Why it failed.
    pub error: Option<ErrorObject>,
}

/// The 202 answer of a route that started a task.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskAccepted {
    /// The task id: `GET /tasks/{taskId}`.
    pub task_id: String,
    /// Always `queued`.
    pub status: TaskStatus,
}

/// A task just queued: answers 202 `{"taskId", "status": "queued"}` with `Location: /tasks/{id}`.
#[derive(Debug, Clone)]
pub struct TaskStarted {
    /// The task id.
    pub id: String,
}

impl IntoResponse for TaskStarted {
    fn into_response(self) -> Response {
        let location = HeaderValue::from_str(&format!("/tasks/{}", self.id));
        let accepted = TaskAccepted { task_id: self.id, status: TaskStatus::Queued };
        let mut response = (StatusCode::ACCEPTED, Json(accepted)).into_response();
        if let Ok(location) = location {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }
}

/// The tasks of this process.
#[derive(Debug, Default)]
pub struct Tasks {
    inner: Mutex<TaskTable>,
}

#[derive(Debug, Default)]
struct TaskTable {
    next: u64,
    tasks: BTreeMap<u64, TaskView>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Tasks {
    fn update(&self, id: u64, change: impl FnOnce(&mut TaskView)) {
        if let Ok(mut table) = self.inner.lock() {
            if let Some(task) = table.tasks.get_mut(&id) {
                change(task);
            }
        }
    }

    fn register(&self, kind: &str) -> ApiResult<u64> {
        let mut table = self.inner.lock().map_err(|_| ApiError::internal("the task table lock is poisoned"))?;
        table.next += 1;
        let id = table.next;
        table.tasks.insert(
            id,
            TaskView {
                id: id.to_string(),
                kind: kind.to_owned(),
                status: TaskStatus::Queued,
                created_at: now(),
                started_at: None,
                ended_at: None,
                result: None,
                error: None,
            },
        );
        while table.tasks.len() > KEPT_TASKS {
            table.tasks.pop_first();
        }
        Ok(id)
    }

    /// The task `id`, if remembered.
    pub fn get(&self, id: &str) -> Option<TaskView> {
        let id: u64 = id.parse().ok()?;
        self.inner.lock().ok()?.tasks.get(&id).cloned()
    }

    /// Every remembered task, oldest first.
    pub fn list(&self) -> Vec<TaskView> {
        self.inner.lock().map(|table| table.tasks.values().cloned().collect()).unwrap_or_default()
    }
}

impl super::Shared {
    /// Queues `work` on the engine's thread as a task of `kind`; the answer is 202 `{"taskId"}` with a
    /// `Location`.
    pub async fn spawn_task(
        &self,
        kind: &str,
        work: impl FnOnce(&mut Engine) -> ApiResult<Value> + Send + 'static,
    ) -> ApiResult<TaskStarted> {
        let id = self.tasks.register(kind)?;
        let tasks: Arc<Tasks> = self.tasks.clone();
        let job = move |engine: &mut Engine| {
            tasks.update(id, |task| {
                task.status = TaskStatus::Running;
                task.started_at = Some(now());
            });
            let outcome = work(engine);
            tasks.update(id, |task| {
                task.ended_at = Some(now());
                match outcome {
                    Ok(result) => {
                        task.status = TaskStatus::Succeeded;
                        task.result = Some(result);
                    }
                    Err(err) => {
                        task.status = TaskStatus::Failed;
                        let ErrorBody { error } = err.body();
                        task.error = Some(error);
                    }
                }
            });
        };
        if let Err(err) = self.submit(Box::new(job)).await {
            self.tasks.update(id, |task| {
                task.status = TaskStatus::Failed;
                task.error = Some(err.body().error);
            });
            return Err(err);
        }
        Ok(TaskStarted { id: id.to_string() })
    }
}

/// Lists the tasks this server process remembers, oldest first.
#[utoipa::path(get, path = "/tasks", tag = "tasks", params(PageQuery),
    responses((status = 200, description = "A page of tasks", body = Page<TaskView>)))]
async fn list_tasks(
    _caller: Caller,
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<TaskView>>> {
    Ok(Json(page.apply(state.tasks.list())?))
}

/// One task: its status, and its result or error once ended.
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks", params(("id" = String, Path, description = "The task id")),
    responses((status = 200, description = "The task", body = TaskView),
              (status = 404, description = "No such task in this server process", body = ErrorBody)))]
async fn get_task(
    _caller: Caller,
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<TaskView>> {
    state.tasks.get(&id).map(Json).ok_or_else(|| {
        ApiError::not_found(format!("task `{id}` does not exist in this server process (tasks live in memory)"))
    })
}

/// The routes of this module.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tasks)).routes(routes!(get_task))
}
