//! Schemas, field groups and identity namespaces (after Adobe's Schema Registry and Identity Service APIs).
//!
//! | route | role | answer |
//! | --- | --- | --- |
//! | `GET /schemas` | any | page of schema documents (name, `$id`, class, field groups, identities) |
//! | `GET /schemas/{name}` | any | `{schema, relationships}`; `name` is the schema's name or its `$id` |
//! | `GET /schemas/{name}/fields` | any | page of the schema's fields `{path, type, enum?}`, in path order |
//! | `POST /schemas/generate-b2b` | engineer | what was created (namespaces, schemas, relationships) |
//! | `GET /fieldgroups`, `GET /fieldgroups/{id}` | any | the imported (custom) field groups |
//! | `POST /fieldgroups` | engineer | 201: XDM documents imported, their field groups registered |
//! | `POST /schemas/{name}/fieldgroups` | engineer | a registered field group attached to a schema |
//! | `GET /namespaces`, `GET /namespaces/{code}` | any | identity namespaces |
//! | `POST /namespaces` | engineer | 201 with the custom namespace created |

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rapport_engine::Permission;
use rapport_schema::{IdentityType, Namespace, Normalization};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::to_value;
use super::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, AppState, Caller, ErrorBody, Page, PageQuery};

/// A schema document with its `$id` (the id streamed messages name in `schemaRef.id`).
fn with_id(mut doc: Value) -> Value {
    if let Some(name) = doc["name"].as_str() {
        let id = rapport_engine::stream::schema_id(name);
        doc["$id"] = json!(id);
    }
    doc
}

/// Lists the registered schemas, by name.
#[utoipa::path(get, path = "/schemas", tag = "schemas", params(PageQuery),
    responses((status = 200, description = "A page of schema documents", body = Page<Value>)))]
async fn list_schemas(
    _caller: Caller,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Value>>> {
    let docs = state.engine(|engine| Ok(engine.store().schema_documents()?)).await?;
    Ok(Json(page.apply(docs.into_iter().map(with_id).collect())?))
}

/// One schema by name (e.g. `B2B Person`) or `$id`, with the relationships it takes part in.
#[utoipa::path(get, path = "/schemas/{name}", tag = "schemas",
    params(("name" = String, Path, description = "The schema's name or `$id`")),
    responses((status = 200, description = "`{schema, relationships}`", body = Value),
              (status = 404, description = "No such schema", body = ErrorBody)))]
async fn get_schema(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let (docs, relationships) = state
        .engine(|engine| Ok((engine.store().schema_documents()?, engine.store().relationship_documents()?)))
        .await?;
    let doc = docs
        .into_iter()
        .map(with_id)
        .find(|doc| doc["name"] == name.as_str() || doc["$id"] == name.as_str())
        .ok_or_else(|| ApiError::not_found(format!("schema `{name}` does not exist (see GET /schemas)")))?;
    let entity = doc["entity"].clone();
    let relationships: Vec<Value> =
        relationships.into_iter().filter(|r| r["source"] == entity || r["destination"] == entity).collect();
    Ok(Json(json!({"schema": doc, "relationships": relationships})))
}

/// One field of a schema, as the console's condition builder offers it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SchemaField {
    /// The path, as PQL writes it (`person.name.firstName`).
    pub path: String,
    /// The type: `string`, `number`, `integer`, `boolean`, `date`, `date-time`, `object`, `map`,
    /// `array<…>`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The allowed values, when the field is an enum.
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub allowed: Option<Vec<Value>>,
}

/// The fields of one schema (by name or `$id`), in path order: what a condition on its class may name.
#[utoipa::path(get, path = "/schemas/{name}/fields", tag = "schemas",
    params(("name" = String, Path, description = "The schema's name or `$id`"), PageQuery),
    responses((status = 200, description = "A page of fields", body = Page<SchemaField>),
              (status = 404, description = "No such schema", body = ErrorBody)))]
async fn schema_fields(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<SchemaField>>> {
    let fields = state
        .engine(move |engine| {
            let schema = engine
                .schemas()
                .schemas
                .iter()
                .find(|s| s.name == name || rapport_engine::stream::schema_id(&s.name) == name)
                .ok_or_else(|| ApiError::not_found(format!("schema `{name}` does not exist (see GET /schemas)")))?;
            Ok(schema
                .fields()
                .map(|f| SchemaField { path: f.path.to_string(), ty: f.ty.to_string(), allowed: f.allowed.clone() })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(page.apply(fields)?))
}

/// Creates the standard B2B schemas, namespaces and relationships that do not exist yet (idempotent).
#[utoipa::path(post, path = "/schemas/generate-b2b", tag = "schemas",
    responses((status = 200, description = "`{namespaces_created, schemas_created, relationships_created}`", body = Value),
              (status = 403, description = "The role may not change schemas", body = ErrorBody)))]
async fn generate_b2b(caller: Caller, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    caller.require(Permission::Data)?;
    let changes = state.engine(|engine| Ok(engine.generate_b2b_schemas()?)).await?;
    Ok(Json(json!(changes)))
}

/// Lists the imported (custom) field groups, by `$id`.
#[utoipa::path(get, path = "/fieldgroups", tag = "schemas", params(PageQuery),
    responses((status = 200, description = "A page of field group definitions", body = Page<Value>)))]
async fn list_field_groups(
    _caller: Caller,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Value>>> {
    let groups = state.engine(|engine| Ok(engine.store().field_groups()?)).await?;
    let groups = groups.into_iter().map(|(id, definition)| json!({"$id": id, "definition": definition})).collect();
    Ok(Json(page.apply(groups)?))
}

/// One imported field group by `$id`.
#[utoipa::path(get, path = "/fieldgroups/{id}", tag = "schemas",
    params(("id" = String, Path, description = "The field group's `$id` (URL-encoded)")),
    responses((status = 200, description = "`{$id, definition}`", body = Value),
              (status = 404, description = "No such field group", body = ErrorBody)))]
async fn get_field_group(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let groups = state.engine(|engine| Ok(engine.store().field_groups()?)).await?;
    groups
        .into_iter()
        .find(|(group, _)| *group == id)
        .map(|(id, definition)| Json(json!({"$id": id, "definition": definition})))
        .ok_or_else(|| ApiError::not_found(format!("field group `{id}` does not exist (see GET /fieldgroups)")))
}

/// Imports XDM documents (Adobe's Schema Registry format): one field group document, or an array holding field
/// groups and the data types they reference. Each field group among them is registered, so that it can be
/// attached to a schema by `$id`. Nothing is registered unless every document imports.
#[utoipa::path(post, path = "/fieldgroups", tag = "schemas", request_body = Value,
    responses((status = 201, description = "`{fieldGroups: [{$id, title, fields}]}`", body = Value),
              (status = 400, description = "Malformed JSON", body = ErrorBody),
              (status = 403, description = "The role may not change schemas", body = ErrorBody),
              (status = 422, description = "Not an XDM field group, an unresolved `$ref`, or fields outside the tenant namespace", body = ErrorBody)))]
async fn import_field_groups(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Permission::Data)?;
    let invalid = |message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_xdm", message);
    let docs = match body {
        Value::Array(docs) => docs,
        doc => vec![doc],
    };
    if docs.is_empty() {
        return Err(invalid("no XDM document was given".to_owned()));
    }
    let mut catalog = rapport_schema::xdm::XdmCatalog::new();
    let mut ids = Vec::with_capacity(docs.len());
    for (i, doc) in docs.into_iter().enumerate() {
        ids.push(catalog.add(doc).map_err(|e| invalid(format!("document {i}: {e}")))?);
    }
    let mut groups = Vec::new();
    for id in &ids {
        let imported = catalog.import(id).map_err(|e| invalid(e.to_string()))?;
        if imported.kind == rapport_schema::xdm::SchemaKind::FieldGroup {
            groups.push(imported.into_field_group().map_err(|e| invalid(e.to_string()))?);
        }
    }
    if groups.is_empty() {
        return Err(invalid("none of the documents is a field group (meta:extends xdm:fieldgroup)".to_owned()));
    }
    let answer: Vec<Value> =
        groups.iter().map(|g| json!({"$id": g.id, "title": g.title, "fields": g.fields.len()})).collect();
    state
        .engine(move |engine| {
            for group in &groups {
                engine.register_field_group(group)?;
            }
            Ok(())
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"fieldGroups": answer}))))
}

/// The field group to attach to a schema.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachFieldGroup {
    /// The `$id` of a field group registered with `POST /fieldgroups`.
    #[serde(rename = "$id")]
    pub id: String,
}

/// Attaches a registered field group to a schema. Profile-enabled schemas accept only additive changes; the
/// answer lists the fields each affected schema gained.
#[utoipa::path(post, path = "/schemas/{name}/fieldgroups", tag = "schemas", request_body = AttachFieldGroup,
    params(("name" = String, Path, description = "The schema's name, e.g. `B2B Person`")),
    responses((status = 200, description = "`{fieldGroup, addedFields}`", body = Value),
              (status = 400, description = "Malformed JSON", body = ErrorBody),
              (status = 403, description = "The role may not change schemas", body = ErrorBody),
              (status = 404, description = "No such field group", body = ErrorBody),
              (status = 422, description = "No such schema, or a change that is not additive", body = ErrorBody)))]
async fn attach_field_group(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(attach): ApiJson<AttachFieldGroup>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::Data)?;
    let change = state
        .engine(move |engine| {
            let group = engine.field_group(&attach.id)?.ok_or_else(|| {
                rapport_engine::Error::NotFound(format!(
                    "field group `{}` is not registered (see GET /fieldgroups)",
                    attach.id
                ))
            })?;
            Ok(engine.add_field_group(&name, group)?)
        })
        .await?;
    Ok(Json(to_value(&change)?))
}

/// Lists the identity namespaces (standard and custom), by code.
#[utoipa::path(get, path = "/namespaces", tag = "schemas", params(PageQuery),
    responses((status = 200, description = "A page of namespaces", body = Page<Value>)))]
async fn list_namespaces(
    _caller: Caller,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Value>>> {
    let namespaces = state.engine(|engine| Ok(engine.store().namespaces()?)).await?;
    Ok(Json(page.apply(namespaces.iter().map(|ns| json!(ns)).collect())?))
}

/// One namespace by code.
#[utoipa::path(get, path = "/namespaces/{code}", tag = "schemas",
    params(("code" = String, Path, description = "The namespace code, e.g. `Email`")),
    responses((status = 200, description = "The namespace", body = Value),
              (status = 404, description = "No such namespace", body = ErrorBody)))]
async fn get_namespace(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let namespaces = state.engine(|engine| Ok(engine.store().namespaces()?)).await?;
    namespaces
        .into_iter()
        .find(|ns| ns.code.as_str() == code)
        .map(|ns| Json(json!(ns)))
        .ok_or_else(|| ApiError::not_found(format!("namespace `{code}` does not exist (see GET /namespaces)")))
}

/// A custom namespace to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewNamespace {
    /// The identity symbol: a letter, then letters, digits, `_`, `-` or `.` (at most 64).
    pub code: String,
    /// The display name (unique).
    pub name: String,
    /// The identity type: cross-device, email, phone, cookie, device, non-people or partner-id.
    pub id_type: String,
    /// How values are normalized: trim (default), lowercase, exact or e164.
    #[serde(default)]
    pub normalization: Option<String>,
}

/// Creates a custom identity namespace.
#[utoipa::path(post, path = "/namespaces", tag = "schemas", request_body = NewNamespace,
    responses((status = 201, description = "The namespace created", body = Value),
              (status = 400, description = "Malformed JSON", body = ErrorBody),
              (status = 403, description = "The role may not change namespaces", body = ErrorBody),
              (status = 409, description = "The code or name exists", body = ErrorBody),
              (status = 422, description = "Bad code, type or normalization", body = ErrorBody)))]
async fn create_namespace(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewNamespace>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Permission::Data)?;
    let invalid = |message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message);
    let id_type = IdentityType::from_name(&new.id_type).ok_or_else(|| {
        let names: Vec<_> = IdentityType::NAMES.iter().map(|(n, _)| *n).collect();
        invalid(format!("unknown idType `{}` (expected one of: {})", new.id_type, names.join(", ")))
    })?;
    let normalization = new.normalization.as_deref().unwrap_or("trim");
    let normalization = Normalization::from_name(normalization).ok_or_else(|| {
        invalid(format!(
            "unknown normalization `{normalization}` (expected one of: {})",
            Normalization::NAMES.join(", ")
        ))
    })?;
    let namespace = Namespace::custom(&new.code, &new.name, id_type, normalization).map_err(invalid)?;
    let created = namespace.clone();
    state.engine(move |engine| Ok(engine.create_namespace(&created)?)).await?;
    Ok((StatusCode::CREATED, Json(json!(namespace))))
}

/// The routes of this module.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_schemas))
        .routes(routes!(generate_b2b))
        .routes(routes!(get_schema))
        .routes(routes!(schema_fields))
        .routes(routes!(list_field_groups, import_field_groups))
        .routes(routes!(attach_field_group))
        .routes(routes!(get_field_group))
        .routes(routes!(list_namespaces, create_namespace))
        .routes(routes!(get_namespace))
}
