//! The REST API: one module per resource, composed into one router whose OpenAPI document is generated from
//! the same handlers (utoipa + utoipa-axum's `OpenApiRouter`: a route and its document entry are registered
//! together, so `GET /openapi.json` cannot drift from what is served).
//!
//! - [`error`]: the one error shape `{"error": {"code", "message", "details"}}` and the extractors
//!   ([`ApiJson`], [`ApiPath`], [`ApiQuery`]) whose faults answer in it.
//! - [`auth`]: bearer tokens (a layer over every route but `GET /health`), [`Caller::require`] and
//!   `GET /auth/me` (the caller's role and permissions).
//! - [`page`]: `?limit=&start=` and `_page {count, next}`.
//! - [`tasks`]: long operations answer 202 `{"taskId"}`; `GET /tasks/{id}`.
//! - resources: [`schemas`] (schemas, field groups, namespaces), [`datasets`], [`batches`] (batch
//!   ingestion), [`flows`] (dataflows and runs), [`profiles`] (profiles and identity graphs), and the streaming inlet in [`crate::routes`].
//!
//! Handlers never touch the store: they hand a closure to the engine's thread ([`Shared::engine`]), the
//! same thread that commits streamed messages, so every write goes through the one [`Engine`] that keeps
//! audiences current. A long call delays the streaming commits queued behind it; long operations are tasks.
//!
//! To add a resource: write `api/NAME.rs` with `#[utoipa::path]` handlers and a
//! `pub(crate) fn routes() -> OpenApiRouter<AppState>`, declare `pub mod NAME;` here and add one
//! `.merge(NAME::routes())` line to [`documented`].

pub mod audiences;
pub mod auth;
pub mod batches;
pub mod datasets;
pub mod destinations;
pub mod error;
pub mod flows;
pub mod page;
pub mod profiles;
pub mod schemas;
pub mod tasks;

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock, RwLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rapport_engine::{Authenticator, Engine};
use tokio::sync::{mpsc, oneshot};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::writer::Job;
pub use auth::Caller;
pub use error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody, ErrorDetail};
pub use page::{Page, PageQuery};
pub use tasks::{TaskAccepted, TaskStarted, TaskStatus, TaskView, Tasks};

/// The default largest upload (one file of a batch): 256 MiB.
pub const DEFAULT_UPLOAD_LIMIT: usize = 256 * 1024 * 1024;

/// What every route shares.
pub struct Shared {
    /// The engine's thread (the writer).
    pub(crate) writer: mpsc::Sender<Job>,
    /// The known inlet ids (see [`crate::writer`]).
    pub(crate) inlets: crate::writer::Inlets,
    /// The middle part of transaction ids: this server process.
    pub(crate) instance: u32,
    /// The last part of transaction ids: a per-process request counter.
    pub(crate) sequence: AtomicU64,
    /// Token checks, on a store connection of their own.
    pub(crate) auth: Authenticator,
    /// The tasks of this process.
    pub(crate) tasks: Arc<Tasks>,
    /// The largest upload accepted, in bytes.
    pub(crate) upload_limit: usize,
    /// The API batches of this process.
    pub(crate) batches: batches::Batches,
    /// The OpenAPI document, as served (set once the router is built).
    pub(crate) openapi: OnceLock<String>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("instance", &self.instance).finish_non_exhaustive()
    }
}

/// The state of every handler.
pub type AppState = Arc<Shared>;

impl Shared {
    /// The state over a running writer.
    pub(crate) fn new(
        writer: mpsc::Sender<Job>,
        inlets: Arc<RwLock<HashSet<String>>>,
        auth: Authenticator,
        data_dir: &std::path::Path,
        upload_limit: usize,
    ) -> Self {
        Self {
            writer,
            inlets,
            instance: std::process::id() % 10_000,
            sequence: AtomicU64::new(0),
            auth,
            tasks: Arc::new(Tasks::default()),
            upload_limit,
            batches: batches::Batches::new(data_dir),
            openapi: OnceLock::new(),
        }
    }

    /// Queues a job on the engine's thread; 503 when it has stopped.
    pub(crate) async fn submit(&self, job: Box<dyn FnOnce(&mut Engine) + Send>) -> ApiResult<()> {
        self.writer.send(Job::Call(job)).await.map_err(|_| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the engine has stopped; retry later")
        })
    }

    /// Runs `call` on the engine's thread (after what is queued before it) and answers its result.
    pub async fn engine<T: Send + 'static>(
        &self,
        call: impl FnOnce(&mut Engine) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let (reply, answer) = oneshot::channel();
        self.submit(Box::new(move |engine: &mut Engine| {
            let _ = reply.send(call(engine));
        }))
        .await?;
        answer.await.map_err(|_| ApiError::internal("the engine stopped before answering (see the server log)"))?
    }
}

/// Declares the bearer scheme and requires it everywhere (`GET /health` overrides it).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A token made with `rapport token create --name N --role ROLE`."))
                    .build(),
            ),
        );
        document.security =
            Some(vec![utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new())]);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Rapport API", description = "Rapport's REST API: schemas, datasets, batches, dataflows, \
        profiles, identities, tasks and the streaming inlet. Every route but `GET /health` needs \
        `Authorization: Bearer <token>`. Errors answer `{\"error\": {\"code\", \"message\", \"details\"}}`."),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// The OpenAPI 3 document of every route, generated from the handlers.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json")))]
async fn openapi(_caller: Caller, State(state): State<AppState>) -> Response {
    let body = state.openapi.get().cloned().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no route has this path (see GET /openapi.json)")
}

async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not answer this method (see GET /openapi.json)",
    )
}

/// Every route and its document, before the state and layers.
pub fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(openapi))
        .merge(crate::routes::routes())
        .merge(auth::routes())
        .merge(tasks::routes())
        .merge(schemas::routes())
        .merge(datasets::routes())
        .merge(batches::routes())
        .merge(flows::routes())
        .merge(profiles::routes())
        .merge(audiences::routes())
        .merge(destinations::routes())
}

/// The OpenAPI document (what `GET /openapi.json` serves).
pub fn document() -> Document {
    parts().1
}

/// The router and its document, with the answers every route shares added to the document.
fn parts() -> (Router<AppState>, Document) {
    let (router, mut document) = documented().split_for_parts();
    common_responses(&mut document);
    (router, document)
}

/// Documents the answers that layers and extractors give on any route, so each handler lists only its own:
/// 401 wherever a token is required (every route but the ones whose `security` is empty), 400 wherever a path,
/// query or body is parsed (`invalid_path`, `invalid_query`, `malformed_json`), and, for JSON bodies, 413 (over
/// the size limit), 415 (not sent as JSON) and 422 (JSON that does not fit the body's type).
fn common_responses(document: &mut Document) {
    use utoipa::openapi::{Content, Ref, Response};
    let error = |description: &str| {
        Response::builder()
            .description(description)
            .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorBody"))))
            .build()
    };
    for item in document.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            let public = operation.security.as_ref().is_some_and(|s| s.is_empty());
            let parsed = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let json_body = operation.request_body.as_ref().is_some_and(|b| b.content.contains_key("application/json"));
            let mut add = |status: &str, description: &str| {
                operation.responses.responses.entry(status.to_owned()).or_insert_with(|| error(description).into());
            };
            if !public {
                add("401", "No token, or an unknown or revoked one");
            }
            if parsed || json_body {
                add("400", "A malformed path, query or JSON body");
            }
            if json_body {
                add("413", "The body is over the size limit");
                add("415", "The body was not sent as `application/json`");
                add("422", "The JSON does not fit the body's type");
            }
        }
    }
}

/// The router over `state`: every documented route, authentication, and the JSON 404/405 answers.
pub(crate) fn router(state: AppState) -> Router {
    let (router, document) = parts();
    let json = document.to_json().unwrap_or_else(|err| {
        tracing::error!(error = %err, "the OpenAPI document does not serialize");
        String::from("{}")
    });
    let _ = state.openapi.set(json);
    router
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        // The console's files are public (they hold no data; its API calls carry a token): merged after the
        // authentication layer, which therefore does not wrap them.
        .merge(crate::console::routes())
        .with_state(state)
}
