//! Profiles and identity graphs (after Adobe's Real-Time Customer Profile "entities" and Identity Service
//! APIs).
//!
//! | route | role | answer |
//! | --- | --- | --- |
//! | `GET /access/entities?entityIdNS=&entityId=[&entity=person][&mergePolicy=]` | any | the merged profile: attributes, identities, fragments, related entities |
//! | `GET /identity/graph?ns=&value=[&entity=person]` | any | the identity graph explained: identities, links with their records and rules, cut links |
//! | `DELETE /identity/graph?ns=&value=[&entity=person]` | admin | removes the identity everywhere and re-stitches the profiles that held it |
//! | `GET /profiles/summary` | any | per entity class: profiles, distinct identities and stored fragments |
//!
//! Identity values are normalized by their namespace's rule before the lookup (as the CLI does).
//! `mergePolicy` is `timestamp` (default) or `dataset:DS1,DS2,...` (dataset precedence).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rapport_engine::{Engine, MergePolicy, Permission};
use rapport_model::{EntityKind, Identity};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiQuery, ApiResult, AppState, Caller, ErrorBody};

fn unprocessable(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
}

fn entity(text: Option<&str>) -> ApiResult<EntityKind> {
    let text = text.unwrap_or("person");
    text.parse()
        .map_err(|_| unprocessable(format!("unknown entity `{text}` (expected person, account, opportunity, ...)")))
}

/// The identity `namespace`/`value`, normalized by the namespace's rule; 422 for an unknown namespace, and
/// a value the rule refuses is looked up as given (it then finds nothing).
fn identity(engine: &Engine, namespace: &str, value: &str) -> ApiResult<Identity> {
    let ns = engine.store().namespaces()?.into_iter().find(|ns| ns.code.as_str() == namespace).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_namespace",
            format!("unknown namespace `{namespace}` (see GET /namespaces)"),
        )
    })?;
    Ok(ns.identity(value).unwrap_or_else(|| Identity::new(namespace, value)))
}

fn merge_policy(text: Option<&str>) -> ApiResult<Option<MergePolicy>> {
    match text {
        None | Some("timestamp") => Ok(None),
        Some(text) => {
            let Some(list) = text.strip_prefix("dataset:") else {
                return Err(unprocessable(format!(
                    "mergePolicy `{text}`: expected `timestamp` or `dataset:DS1,DS2,...`"
                )));
            };
            let order: Vec<String> =
                list.split(',').map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned).collect();
            if order.is_empty() {
                return Err(unprocessable(format!("mergePolicy `{text}`: name at least one dataset after `dataset:`")));
            }
            Ok(Some(MergePolicy::DataSetPrecedence { order }))
        }
    }
}

/// The query of a profile lookup.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntityQuery {
    /// The identity's namespace code, e.g. `Email` or `b2b_person`.
    #[serde(rename = "entityIdNS")]
    pub entity_id_ns: String,
    /// The identity's value.
    #[serde(rename = "entityId")]
    pub entity_id: String,
    /// The entity class: person (default), account, opportunity, ...
    pub entity: Option<String>,
    /// `timestamp` (default) or `dataset:DS1,DS2,...`.
    #[serde(rename = "mergePolicy")]
    pub merge_policy: Option<String>,
    /// Adobe's `schema.name` (accepted and ignored: the class is `entity`).
    #[serde(rename = "schema.name")]
    pub schema_name: Option<String>,
}

/// The merged profile holding an identity: attributes, identities, fragments and related entities.
#[utoipa::path(get, path = "/access/entities", tag = "profiles", params(EntityQuery),
    responses((status = 200, description = "The profile", body = Value),
              (status = 400, description = "A query parameter is missing", body = ErrorBody),
              (status = 404, description = "No profile holds the identity", body = ErrorBody),
              (status = 422, description = "Unknown namespace, entity or merge policy", body = ErrorBody)))]
async fn lookup(
    _caller: Caller,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<EntityQuery>,
) -> ApiResult<Json<Value>> {
    let entity = entity(query.entity.as_deref())?;
    let policy = merge_policy(query.merge_policy.as_deref())?;
    let view = state
        .engine(move |engine| {
            let identity = identity(engine, &query.entity_id_ns, &query.entity_id)?;
            match engine.lookup(entity, &identity, policy.as_ref())? {
                Some(view) => Ok(json!(view)),
                None => Err(ApiError::not_found(format!("no {entity} profile holds the identity {identity}"))),
            }
        })
        .await?;
    Ok(Json(view))
}

/// The query of the identity graph routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GraphQuery {
    /// The namespace code, e.g. `Email`.
    pub ns: String,
    /// The identity value.
    pub value: String,
    /// The entity class: person (default), account, opportunity, ...
    pub entity: Option<String>,
}

/// The identity graph holding an identity: its identities, each link with the records and rule that made it,
/// and the links cut by a unique namespace, an eviction or the per-record limit.
#[utoipa::path(get, path = "/identity/graph", tag = "profiles", params(GraphQuery),
    responses((status = 200, description = "The graph explained", body = Value),
              (status = 400, description = "A query parameter is missing", body = ErrorBody),
              (status = 422, description = "Unknown namespace or entity", body = ErrorBody)))]
async fn explain_graph(
    _caller: Caller,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<GraphQuery>,
) -> ApiResult<Json<Value>> {
    let entity = entity(query.entity.as_deref())?;
    let explanation = state
        .engine(move |engine| {
            let identity = identity(engine, &query.ns, &query.value)?;
            Ok(json!(engine.explain_identity(entity, &identity)?))
        })
        .await?;
    Ok(Json(explanation))
}

/// Deletes an identity: removes it from every fragment of the class that carries it (a fragment whose primary
/// identity it is is deleted whole) and re-stitches the profiles that held it. Admin only.
#[utoipa::path(delete, path = "/identity/graph", tag = "profiles", params(GraphQuery),
    responses((status = 200, description = "What the deletion did", body = Value),
              (status = 403, description = "Only an admin may delete identities", body = ErrorBody),
              (status = 404, description = "No fragment carries the identity", body = ErrorBody),
              (status = 422, description = "Unknown namespace or entity", body = ErrorBody)))]
async fn delete_identity(
    caller: Caller,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<GraphQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::Admin)?;
    let entity = entity(query.entity.as_deref())?;
    let report = state
        .engine(move |engine| {
            let identity = identity(engine, &query.ns, &query.value)?;
            Ok(json!(engine.delete_identity(entity, &identity)?))
        })
        .await?;
    Ok(Json(report))
}

/// How many profiles, distinct identities and stored fragments each entity class holds (what the console's
/// home page counts).
#[utoipa::path(get, path = "/profiles/summary", tag = "profiles",
    responses((status = 200, description = "`{entities: [{entity, profiles, identities, fragments}]}`", body = Value)))]
async fn summary(_caller: Caller, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let (profiles, fragments) =
        state.engine(|engine| Ok((engine.store().profile_counts()?, engine.store().fragment_counts()?))).await?;
    // The store lists only the classes that hold something; every class answers, with zeros.
    let entities: Vec<Value> = EntityKind::ALL
        .iter()
        .map(|&entity| {
            let (count, identities) = profiles.iter().find(|(e, ..)| *e == entity).map_or((0, 0), |&(_, p, i)| (p, i));
            let stored = fragments.iter().find(|(e, _)| *e == entity).map_or(0, |(_, n)| *n);
            json!({"entity": entity.name(), "profiles": count, "identities": identities, "fragments": stored})
        })
        .collect();
    Ok(Json(json!({ "entities": entities })))
}

/// The routes of this module.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(lookup))
        .routes(routes!(explain_graph, delete_identity))
        .routes(routes!(summary))
}
