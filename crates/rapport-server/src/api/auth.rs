//! Bearer-token authentication (a layer over every route but `GET /health`) and role checks (in handlers).
//!
//! The layer reads `Authorization: Bearer <token>`, checks it with the engine's
//! [`Authenticator`](rapport_engine::Authenticator) (SHA-256, constant-time comparison) and puts the
//! [`Caller`] into the request. A missing, malformed, unknown or revoked token is 401 before any handler runs.
//! Handlers take [`Caller`] and call [`Caller::require`] with the [`Permission`] their operation needs: 403
//! when the token's role does not grant it. Reading needs no call (every role reads).
//!
//! Nothing of the token is logged.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rapport_engine::{Permission, Role};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::AppState;

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// The token's role.
    pub role: Role,
}

impl Caller {
    /// Ok when the caller's role grants `permission`, else 403 naming the role and what was needed.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("token `{}` has role `{}`, which may not {}", self.name, self.role, describe(permission)),
            ))
        }
    }
}

fn describe(permission: Permission) -> &'static str {
    match permission {
        Permission::Read => "read",
        Permission::Data => "change schemas, datasets, batches, dataflows or stream data (engineer or admin)",
        Permission::Audiences => "change audiences (engineer, marketer or admin)",
        Permission::Activation => "change destinations or activation (marketer or admin)",
        _ => "do this (admin only)",
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| unauthorized("the request carries no bearer token"))
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Whether a route is open without a token: only `GET /health`.
fn open(method: &Method, path: &str) -> bool {
    (method == Method::GET || method == Method::HEAD) && path == "/health"
}

/// The layer: authenticates every request except [`open`] ones.
pub(crate) async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if open(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
        .map(str::trim);
    let Some(presented) = presented else {
        return challenge(unauthorized(
            "the request needs `Authorization: Bearer <token>` (create one with `rapport token create`)",
        ));
    };
    // One primary-key read on the authenticator's own connection: microseconds, so it runs inline.
    match state.auth.verify(presented) {
        Ok(Some(caller)) => {
            request.extensions_mut().insert(Caller { name: caller.name, role: caller.role });
            next.run(request).await
        }
        Ok(None) => challenge(unauthorized("the bearer token is not valid (unknown, revoked or mistyped)")),
        Err(err) => ApiError::from(err).into_response(),
    }
}

fn challenge(error: ApiError) -> Response {
    let mut response = error.into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Who a bearer token is: its name, its role and what the role may do.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Whoami {
    /// The token's name.
    pub name: String,
    /// `viewer`, `marketer`, `engineer` or `admin`.
    pub role: String,
    /// What the role may do: `read`, `data` (schemas, datasets, batches, dataflows), `audiences`,
    /// `activation` (destinations and flows), `admin`.
    pub permissions: Vec<String>,
}

/// The caller's token name, role and permissions (the console offers only what the role may do; the routes
/// enforce it anyway).
#[utoipa::path(get, path = "/auth/me", tag = "meta",
    responses((status = 200, description = "The caller", body = Whoami),
              (status = 401, description = "No valid token", body = ErrorBody)))]
async fn me(caller: Caller) -> Json<Whoami> {
    let permissions = [
        ("read", Permission::Read),
        ("data", Permission::Data),
        ("audiences", Permission::Audiences),
        ("activation", Permission::Activation),
        ("admin", Permission::Admin),
    ]
    .into_iter()
    .filter(|(_, permission)| caller.role.allows(*permission))
    .map(|(name, _)| name.to_owned())
    .collect();
    Json(Whoami { name: caller.name, role: caller.role.as_str().to_owned(), permissions })
}

/// The routes of this module.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}
