//! Audiences, after Adobe's Segmentation Service API: segment definitions in PQL, estimates, evaluation jobs,
//! members, explanations and history.
//!
//! | route | role | answer |
//! | --- | --- | --- |
//! | `GET /segment/definitions` | any | page of definitions (name, class, PQL, size) |
//! | `POST /segment/definitions` | marketer, engineer | 201 with the definition, evaluated once (backfill) |
//! | `GET /segment/definitions/{name}` | any | the definition with its plan, counts by status and runs |
//! | `DELETE /segment/definitions/{name}` | marketer, engineer | 204; 409 while an activation flow sends it |
//! | `POST /segment/estimate` | any | the exact size of an unsaved definition, now |
//! | `POST /segment/jobs` | marketer, engineer | 202 `{taskId}`: a full evaluation of one definition |
//! | `GET /segment/definitions/{name}/members` | any | page of members with their status (`?status=`) |
//! | `GET /segment/definitions/{name}/explain` | any | plan, SQL, and why one profile is in or out (`?ns=&value=`) |
//! | `GET /segment/definitions/{name}/history` | any | page of entries and exits with their cause (`?member=`) |
//! | `GET /segment/definitions/{name}/sizes` | any | the size over time, from the history: one point per change |
//!
//! A PQL error (syntax or binding) answers 400 `invalid_pql` with one detail: the message (and hint), the byte
//! span in the definition, and its 1-based line and column (in characters).
//!
//! Every call runs on the engine's thread ([`super::Shared::engine`]). An estimate evaluates the definition
//! over the current profiles, exactly (no sampling), so it costs what one evaluation costs.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rapport_engine::{AudienceRecord, ExplainTarget, Permission};
use rapport_model::{EntityKind, Identity};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::to_value;
use super::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, AppState, Caller, ErrorBody, ErrorDetail, Page, PageQuery,
};

/// The longest audience name accepted.
pub const MAX_NAME: usize = 128;
/// The longest PQL text accepted, in bytes.
pub const MAX_PQL: usize = 64 * 1024;

/// Checks a resource name: 1 to [`MAX_NAME`] letters, digits, `-`, `_` or `.` (it is a path segment).
pub(crate) fn check_name(what: &str, name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{what} name `{name}` must be 1 to {MAX_NAME} letters, digits, `-`, `_` or `.`"
        ))
        .with_details(vec![ErrorDetail { path: Some("name".to_owned()), ..ErrorDetail::default() }]))
    }
}

/// A PQL expression, as Adobe writes it: `{"type": "PQL", "format": "pql/text", "value": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Expression {
    /// `PQL` (the only type; may be left out).
    #[serde(rename = "type", default = "pql_type")]
    pub kind: String,
    /// `pql/text` (the only format; may be left out).
    #[serde(default = "pql_format")]
    pub format: String,
    /// The definition.
    pub value: String,
}

fn pql_type() -> String {
    "PQL".to_owned()
}

fn pql_format() -> String {
    "pql/text".to_owned()
}

impl Expression {
    fn of(pql: &str) -> Self {
        Self { kind: pql_type(), format: pql_format(), value: pql.to_owned() }
    }

    /// The PQL text, after checking the type, format and size.
    fn text(&self) -> ApiResult<&str> {
        let at = |path: &str, message: String| {
            ApiError::bad_request(message)
                .with_details(vec![ErrorDetail { path: Some(path.to_owned()), ..ErrorDetail::default() }])
        };
        if self.kind != "PQL" {
            return Err(at(
                "expression.type",
                format!("expression type `{}` is not supported (only `PQL`)", self.kind),
            ));
        }
        if self.format != "pql/text" {
            return Err(at(
                "expression.format",
                format!("expression format `{}` is not supported (only `pql/text`)", self.format),
            ));
        }
        if self.value.trim().is_empty() {
            return Err(at("expression.value", "the PQL definition is empty".to_owned()));
        }
        if self.value.len() > MAX_PQL {
            return Err(at("expression.value", format!("the PQL definition is longer than {MAX_PQL} bytes")));
        }
        Ok(&self.value)
    }
}

/// The class of an audience's members from the request (`person` when absent).
fn entity(text: Option<&str>) -> ApiResult<EntityKind> {
    match text {
        None => Ok(EntityKind::Person),
        Some(text) => text.parse().map_err(|_| {
            ApiError::bad_request(format!("entity `{text}` is not a profile class (person, account, opportunity, …)"))
                .with_details(vec![ErrorDetail { path: Some("entity".to_owned()), ..ErrorDetail::default() }])
        }),
    }
}

/// A saved segment definition.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SegmentDefinition {
    /// Its id: the name.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The class of its members (`person`, `account`, …).
    pub entity: String,
    /// The definition.
    pub expression: Expression,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last evaluation time.
    pub evaluated_at: Option<String>,
    /// Members at the last evaluation or live update.
    pub size: Option<u64>,
}

impl From<AudienceRecord> for SegmentDefinition {
    fn from(record: AudienceRecord) -> Self {
        Self {
            id: record.name.clone(),
            expression: Expression::of(&record.pql),
            name: record.name,
            entity: record.entity.name().to_owned(),
            created_at: record.created_at,
            evaluated_at: record.evaluated_at,
            size: record.size,
        }
    }
}

/// A definition with its plan, counts by status and evaluation runs.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SegmentDetails {
    /// The definition.
    #[serde(flatten)]
    pub definition: SegmentDefinition,
    /// The plan, as indented text.
    pub plan: String,
    /// Members by status: `realized`, `existing`, `exited`.
    pub statuses: std::collections::BTreeMap<String, u64>,
    /// The evaluation runs, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub runs: Vec<Value>,
}

/// The body of `POST /segment/definitions`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSegment {
    /// The name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// The class of its members (default `person`).
    #[serde(default)]
    pub entity: Option<String>,
    /// The definition.
    pub expression: Expression,
}

/// The body of `POST /segment/estimate`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateRequest {
    /// The class of its members (default `person`).
    #[serde(default)]
    pub entity: Option<String>,
    /// The definition (not saved).
    pub expression: Expression,
}

/// An exact estimate.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    /// How many profiles the definition selects now.
    pub estimated_size: u64,
    /// Always true: every profile is evaluated, nothing is sampled.
    pub exact: bool,
    /// The class counted.
    pub entity: String,
}

/// The body of `POST /segment/jobs`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SegmentJob {
    /// The definition to evaluate, by name.
    pub segment_id: String,
}

/// One member of an audience.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    /// The profile's primary identity as `namespace:value`.
    pub primary: String,
    /// `realized` (entered at the last change), `existing` or `exited`.
    pub status: String,
    /// When it last entered.
    pub since: String,
    /// When its status was last set.
    pub updated_at: String,
    /// When it left (`exited` only).
    pub exited_at: Option<String>,
    /// The work email, for current members of a people audience.
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// A person's first related account's name, or an account's own name.
    pub account_name: Option<String>,
}

/// The query of the members list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembersQuery {
    /// Statuses to list, comma-separated: `realized`, `existing`, `exited` (default `realized,existing`).
    pub status: Option<String>,
    /// How many at most (1 to 1000, default 100).
    pub limit: Option<usize>,
    /// The position of the first member.
    pub start: Option<usize>,
    /// Filters: comma-separated `path==value`, `path!=value` or `path~=text`, all of which must hold.
    pub property: Option<String>,
}

/// The query of explain.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExplainQuery {
    /// The namespace of an identity of the profile to explain (with `value`).
    pub ns: Option<String>,
    /// The identity's value.
    pub value: Option<String>,
}

/// The query of the history.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only this member (`namespace:value`).
    pub member: Option<String>,
    /// How many at most (1 to 1000, default 100).
    pub limit: Option<usize>,
    /// The position of the first entry.
    pub start: Option<usize>,
    /// Filters: comma-separated `path==value`, `path!=value` or `path~=text`, all of which must hold.
    pub property: Option<String>,
}

/// Lists the segment definitions, by name.
#[utoipa::path(get, path = "/segment/definitions", tag = "audiences", params(PageQuery),
    responses((status = 200, description = "A page of definitions", body = Page<SegmentDefinition>)))]
async fn list_definitions(
    _caller: Caller,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<SegmentDefinition>>> {
    let all = state.engine(|engine| engine.store().audiences().map_err(ApiError::from)).await?;
    Ok(Json(page.apply(all.into_iter().map(SegmentDefinition::from).collect())?))
}

/// Saves a PQL definition as an audience and evaluates it once; from then on its members follow every commit.
#[utoipa::path(post, path = "/segment/definitions", tag = "audiences", request_body = CreateSegment,
    responses((status = 201, description = "The definition, with its size", body = SegmentDefinition),
              (status = 400, description = "A bad name, class or PQL (located by span)", body = ErrorBody),
              (status = 403, description = "The role may not change audiences", body = ErrorBody),
              (status = 409, description = "An audience has this name", body = ErrorBody)))]
async fn create_definition(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateSegment>,
) -> ApiResult<Response> {
    caller.require(Permission::Audiences)?;
    check_name("audience", &body.name)?;
    let entity = entity(body.entity.as_deref())?;
    let pql = body.expression.text()?.to_owned();
    let name = body.name;
    let record =
        state.engine(move |engine| engine.create_audience_of(&name, entity, &pql).map_err(ApiError::from)).await?;
    Ok((StatusCode::CREATED, Json(SegmentDefinition::from(record))).into_response())
}

/// One definition with its plan, counts by status and evaluation runs.
#[utoipa::path(get, path = "/segment/definitions/{name}", tag = "audiences",
    params(("name" = String, Path, description = "The audience name")),
    responses((status = 200, description = "The definition", body = SegmentDetails),
              (status = 404, description = "No such audience", body = ErrorBody)))]
async fn get_definition(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<SegmentDetails>> {
    let details = state.engine(move |engine| engine.audience_details(&name).map_err(ApiError::from)).await?;
    let runs = details.runs.iter().map(to_value).collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(SegmentDetails {
        definition: SegmentDefinition::from(details.record),
        plan: details.plan,
        statuses: details.statuses,
        runs,
    }))
}

/// Deletes an audience with its memberships and history.
#[utoipa::path(delete, path = "/segment/definitions/{name}", tag = "audiences",
    params(("name" = String, Path, description = "The audience name")),
    responses((status = 204, description = "Deleted"),
              (status = 403, description = "The role may not change audiences", body = ErrorBody),
              (status = 404, description = "No such audience", body = ErrorBody),
              (status = 409, description = "An activation flow sends it", body = ErrorBody)))]
async fn delete_definition(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::Audiences)?;
    state.engine(move |engine| engine.delete_audience(&name).map_err(ApiError::from)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The exact size of a definition that is not saved, over the current profiles.
#[utoipa::path(post, path = "/segment/estimate", tag = "audiences", request_body = EstimateRequest,
    responses((status = 200, description = "The exact size", body = Estimate),
              (status = 400, description = "A PQL error, located by span, line and column", body = ErrorBody)))]
async fn estimate(
    _caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EstimateRequest>,
) -> ApiResult<Json<Estimate>> {
    let entity = entity(body.entity.as_deref())?;
    let pql = body.expression.text()?.to_owned();
    let size = state.engine(move |engine| engine.estimate_of(entity, &pql).map_err(ApiError::from)).await?;
    Ok(Json(Estimate { estimated_size: size, exact: true, entity: entity.name().to_owned() }))
}

/// Evaluates a definition over every profile as a task (a full recompute; members already follow every
/// commit, so it normally changes nothing). The task's result: `{audience, size, profiles, change}`.
#[utoipa::path(post, path = "/segment/jobs", tag = "audiences", request_body = SegmentJob,
    responses((status = 202, description = "`{taskId}`; GET /tasks/{id}", body = super::TaskAccepted),
              (status = 403, description = "The role may not change audiences", body = ErrorBody),
              (status = 404, description = "No such audience", body = ErrorBody)))]
async fn create_job(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SegmentJob>,
) -> ApiResult<Response> {
    caller.require(Permission::Audiences)?;
    let name = body.segment_id;
    let check = name.clone();
    state.engine(move |engine| engine.store().audience(&check).map(|_| ()).map_err(ApiError::from)).await?;
    state
        .spawn_task("segment.evaluate", move |engine| {
            let evaluation = engine.evaluate_audience(&name).map_err(ApiError::from)?;
            to_value(&evaluation)
        })
        .await
        .map(IntoResponse::into_response)
}

fn statuses(text: Option<&str>) -> ApiResult<Vec<String>> {
    let text = text.unwrap_or("realized,existing");
    let mut out = Vec::new();
    for status in text.split(',').map(str::trim) {
        if !matches!(status, "realized" | "existing" | "exited") {
            return Err(ApiError::bad_request(format!("status `{status}` is not one of realized, existing, exited"))
                .with_details(vec![ErrorDetail { path: Some("status".to_owned()), ..ErrorDetail::default() }]));
        }
        out.push(status.to_owned());
    }
    Ok(out)
}

/// The members of an audience with their status, in primary identity order.
#[utoipa::path(get, path = "/segment/definitions/{name}/members", tag = "audiences",
    params(("name" = String, Path, description = "The audience name"), MembersQuery),
    responses((status = 200, description = "A page of members", body = Page<MemberView>),
              (status = 400, description = "An unknown status or a bad limit", body = ErrorBody),
              (status = 404, description = "No such audience", body = ErrorBody)))]
async fn members(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<MembersQuery>,
) -> ApiResult<Json<Page<MemberView>>> {
    let wanted = statuses(query.status.as_deref())?;
    let page = PageQuery { limit: query.limit, start: query.start, property: query.property.clone() };
    let (memberships, described) = state
        .engine(move |engine| {
            let memberships = engine.memberships(&name).map_err(ApiError::from)?;
            let described = engine.audience_members(&name).map_err(ApiError::from)?;
            Ok((memberships, described))
        })
        .await?;
    let mut described: HashMap<String, rapport_engine::Member> =
        described.into_iter().map(|m| (m.primary.clone(), m)).collect();
    let mut list: Vec<MemberView> = memberships
        .into_iter()
        .filter(|m| wanted.contains(&m.status))
        .map(|m| {
            let about = described.remove(&m.member);
            MemberView {
                status: m.status,
                since: m.since,
                updated_at: m.updated_at,
                exited_at: m.exited_at,
                email: about.as_ref().and_then(|a| a.email.clone()),
                first_name: about.as_ref().and_then(|a| a.first_name.clone()),
                last_name: about.as_ref().and_then(|a| a.last_name.clone()),
                account_name: about.and_then(|a| a.account_name),
                primary: m.member,
            }
        })
        .collect();
    list.sort_by(|a, b| a.primary.cmp(&b.primary));
    Ok(Json(page.apply(list)?))
}

/// The plan, its SQL and, with `ns` and `value`, why the profile holding that identity is or is not a member.
#[utoipa::path(get, path = "/segment/definitions/{name}/explain", tag = "audiences",
    params(("name" = String, Path, description = "The audience name"), ExplainQuery),
    responses((status = 200, description = "`{audience, entity, pql, plan, sql, profile?: {primary, member, trace}}`", body = Object),
              (status = 400, description = "`ns` without `value` or the reverse", body = ErrorBody),
              (status = 404, description = "No such audience, or no profile holds the identity", body = ErrorBody)))]
async fn explain(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<ExplainQuery>,
) -> ApiResult<Json<Value>> {
    let identity = match (query.ns, query.value) {
        (Some(ns), Some(value)) if !ns.is_empty() => Some(Identity::new(ns, value)),
        (None, None) => None,
        _ => return Err(ApiError::bad_request("explaining one profile needs both `ns` and `value`")),
    };
    let explanation = state
        .engine(move |engine| engine.explain(ExplainTarget::Saved(&name), identity.as_ref()).map_err(ApiError::from))
        .await?;
    Ok(Json(to_value(&explanation)?))
}

/// Who entered or left the audience, when, and why (the evaluation run or the change-feed event).
#[utoipa::path(get, path = "/segment/definitions/{name}/history", tag = "audiences",
    params(("name" = String, Path, description = "The audience name"), HistoryQuery),
    responses((status = 200, description = "A page of entries and exits, oldest first", body = Page<Object>),
              (status = 404, description = "No such audience", body = ErrorBody)))]
async fn history(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<Page<Value>>> {
    let page = PageQuery { limit: query.limit, start: query.start, property: query.property.clone() };
    let member = query.member;
    let entries =
        state.engine(move |engine| engine.audience_history(&name, member.as_deref()).map_err(ApiError::from)).await?;
    let entries = entries.iter().map(to_value).collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(page.apply(entries)?))
}

/// The size of an audience after one change of its membership (an evaluation run, or one live change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SizePoint {
    /// When the change was recorded (RFC 3339, the time of its last entry or exit).
    pub at: String,
    /// Members after the change.
    pub size: u64,
    /// Members that entered in the change.
    pub entered: u64,
    /// Members that left in the change.
    pub exited: u64,
}

/// The size over time of an audience.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SizeSeries {
    /// The audience.
    pub audience: String,
    /// One point per change, oldest first.
    pub points: Vec<SizePoint>,
}

/// Folds a membership history (oldest first: event, time, evaluation run) into sizes over time. The entries of
/// one evaluation run make one point; entries without a run (live changes) make one point per distinct time.
/// An entry is `realized` (entered) or `exited` (left); the size starts at zero, as the history starts with
/// the audience.
fn size_series<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str, Option<i64>)>) -> Vec<SizePoint> {
    let mut points: Vec<SizePoint> = Vec::new();
    let mut last_key: Option<(Option<i64>, String)> = None;
    let mut size: u64 = 0;
    for (event, at, run) in entries {
        // A run groups its entries whatever their times; live changes group by time.
        let key = (run, if run.is_some() { String::new() } else { at.to_owned() });
        let entered = u64::from(event == "realized");
        let exited = u64::from(event == "exited");
        size = (size + entered).saturating_sub(exited);
        match points.last_mut() {
            Some(point) if last_key.as_ref() == Some(&key) => {
                point.at = at.to_owned();
                point.size = size;
                point.entered += entered;
                point.exited += exited;
            }
            _ => points.push(SizePoint { at: at.to_owned(), size, entered, exited }),
        }
        last_key = Some(key);
    }
    points
}

/// The size of an audience over time, from its membership history: one point per evaluation run that
/// changed it and per live change (what the console's home page plots).
#[utoipa::path(get, path = "/segment/definitions/{name}/sizes", tag = "audiences",
    params(("name" = String, Path, description = "The audience name")),
    responses((status = 200, description = "The size after each change, oldest first", body = SizeSeries),
              (status = 404, description = "No such audience", body = ErrorBody)))]
async fn sizes(
    _caller: Caller,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<SizeSeries>> {
    let audience = name.clone();
    let entries = state.engine(move |engine| engine.audience_history(&name, None).map_err(ApiError::from)).await?;
    let points = size_series(entries.iter().map(|e| (e.event.as_str(), e.at.as_str(), e.run)));
    Ok(Json(SizeSeries { audience, points }))
}

/// The routes of this module.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_definitions, create_definition))
        .routes(routes!(get_definition, delete_definition))
        .routes(routes!(estimate))
        .routes(routes!(create_job))
        .routes(routes!(members))
        .routes(routes!(explain))
        .routes(routes!(history))
        .routes(routes!(sizes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(at: &str, size: u64, entered: u64, exited: u64) -> SizePoint {
        SizePoint { at: at.to_owned(), size, entered, exited }
    }

    #[test]
    fn sizes_group_runs_and_live_changes() {
        // By hand: run 1 lets three in (at two slightly different times): 3. A live change at t3 takes one out:
        // 2. Two live changes at t4 (one in, one out): still 2, one point. Run 2 lets two in: 4.
        let history = [
            ("realized", "t1", Some(1)),
            ("realized", "t1", Some(1)),
            ("realized", "t2", Some(1)),
            ("exited", "t3", None),
            ("realized", "t4", None),
            ("exited", "t4", None),
            ("realized", "t5", Some(2)),
            ("realized", "t5", Some(2)),
        ];
        assert_eq!(
            size_series(history),
            vec![point("t2", 3, 3, 0), point("t3", 2, 0, 1), point("t4", 2, 1, 1), point("t5", 4, 2, 0)]
        );
        assert_eq!(size_series(Vec::<(&str, &str, Option<i64>)>::new()), vec![]);
    }
}
