//! The one error shape of the API: `{"error": {"code", "message", "details": [...]}}`, with the status.
//!
//! Every fault maps here once ([`ApiError`]): engine errors by kind (user faults are 4xx, store and internal
//! faults 500), request faults from the extractors ([`ApiJson`], path and query rejections) as 400/413/415/422.
//! A detail carries what locates the fault when it is known: a field path, a PQL span, a file and line.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::error;
use utoipa::ToSchema;

/// What locates one part of a fault. Every field is optional; those not known are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// A machine-readable code of this part, e.g. `missing_required_field`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What is wrong here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The field path in the record or request body, e.g. `workEmail.address`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Byte offsets `[start, end)` in a text of the request (a PQL definition).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    /// The file (an uploaded file's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The 1-based line in the file or body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The 1-based column in the line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    /// The byte offset in the file or body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// Byte offsets of a span in a request text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Span {
    /// The first byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorObject,
}

/// The error itself.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorObject {
    /// A stable machine-readable code, e.g. `not_found`, `malformed_json`, `forbidden`.
    pub code: String,
    /// A lowercase sentence naming the failing input.
    pub message: String,
    /// Where the fault is, when known (empty otherwise).
    pub details: Vec<ErrorDetail>,
}

/// An error answer: a status and the [`ErrorBody`].
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The code.
    pub code: &'static str,
    /// The message.
    pub message: String,
    /// The details.
    pub details: Vec<ErrorDetail>,
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error without details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: Vec::new() }
    }

    /// Adds details.
    pub fn with_details(mut self, details: Vec<ErrorDetail>) -> Self {
        self.details = details;
        self
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 500 `internal`: a fault of the server, never of the request. The cause is logged, not answered in full.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The body answered.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorObject {
                code: self.code.to_owned(),
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            error!(code = self.code, error = %self.message, "request failed");
        }
        (self.status, Json(self.body())).into_response()
    }
}

impl From<rapport_engine::Error> for ApiError {
    fn from(err: rapport_engine::Error) -> Self {
        use rapport_engine::Error as E;
        use rapport_engine::StoreError as S;
        let message = err.to_string();
        match err {
            E::Store(S::NotFound { .. }) | E::NotFound(_) => ApiError::not_found(message),
            E::Store(S::AlreadyExists { .. } | S::FlowBusy { .. } | S::NotLoading(_) | S::DatasetEntity { .. }) => {
                ApiError::conflict(message)
            }
            E::Store(S::PgSource(_) | S::Postgres { .. }) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "source_unavailable", message)
            }
            E::Store(_) | E::Internal(_) => ApiError::internal(message),
            E::UnknownNamespace(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_namespace", message),
            E::NoSchema(_) => ApiError::new(StatusCode::CONFLICT, "no_schema", message),
            // A PQL text is the caller's input: 400, located by span, line and column, with the hint.
            E::Segment(segment) => {
                let diagnostic = &segment.diagnostic;
                let (line, column) = diagnostic.location(&segment.text);
                let detail = ErrorDetail {
                    code: Some("pql".to_owned()),
                    message: Some(match &diagnostic.hint {
                        Some(hint) => format!("{} ({hint})", diagnostic.message),
                        None => diagnostic.message.clone(),
                    }),
                    span: Some(Span { start: diagnostic.span.start, end: diagnostic.span.end }),
                    line: Some(line as u64),
                    column: Some(column as u64),
                    ..ErrorDetail::default()
                };
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_pql", diagnostic.message.clone())
                    .with_details(vec![detail])
            }
            E::Schema(_) | E::Mapping(_) | E::Flow(_) | E::Token(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
            }
            E::Deletion(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            E::Conflict(_) => ApiError::conflict(message),
            E::Source(_) | E::UnknownFile { .. } | E::Input { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "unreadable_input", message)
            }
            // Options that do not fit the destination type are the caller's input; anything else failed remotely.
            E::Destination(rapport_destinations::Error::Options(options)) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_destination", options)
            }
            E::Destination(_) => ApiError::new(StatusCode::BAD_GATEWAY, "destination_failed", message),
            _ => ApiError::internal(message),
        }
    }
}

/// An answer as JSON (a failure to serialize is the server's fault).
pub(crate) fn to_value<T: serde::Serialize>(value: &T) -> ApiResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(format!("cannot serialize an answer: {e}")))
}

impl From<rapport_engine::StoreError> for ApiError {
    fn from(err: rapport_engine::StoreError) -> Self {
        ApiError::from(rapport_engine::Error::from(err))
    }
}

/// A JSON request body whose faults answer in the API's shape: 400 `malformed_json` (with line and column),
/// 422 `invalid_body` (valid JSON of the wrong shape, with the field path), 413, 415.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonSyntaxError(_) => {
            let detail = line_column(&text);
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the request body is not valid JSON: {text}"),
            )
            .with_details(detail.into_iter().collect())
        }
        JsonRejection::JsonDataError(_) => {
            // axum's text reads "Failed to deserialize the JSON body into the target type: PATH: MESSAGE at line L column C".
            let inner = text.split_once("target type: ").map_or(text.as_str(), |(_, rest)| rest);
            let mut detail = line_column(inner).unwrap_or_default();
            if let Some((path, _)) = inner.split_once(": ") {
                if !path.contains(' ') {
                    detail.path = Some(path.to_owned());
                }
            }
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!("the request body does not fit: {inner}"),
            )
            .with_details(vec![detail])
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be JSON, sent with `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(bytes) => {
            if bytes.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
            } else {
                ApiError::bad_request(format!("the request body could not be read: {}", bytes.body_text()))
            }
        }
        _ => ApiError::bad_request(text),
    }
}

/// The `line L column C` at the end of serde_json's messages, as a detail.
fn line_column(text: &str) -> Option<ErrorDetail> {
    let (_, tail) = text.rsplit_once(" at line ")?;
    let (line, column) = tail.split_once(" column ")?;
    Some(ErrorDetail { line: line.trim().parse().ok(), column: column.trim().parse().ok(), ..ErrorDetail::default() })
}

/// Path parameters whose faults answer 400 in the API's shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|rejection: PathRejection| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", rejection.body_text())
            })
    }
}

/// Query parameters whose faults answer 400 in the API's shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection: QueryRejection| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", rejection.body_text())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn line_and_column_are_read_from_serde_messages() {
        let detail = line_column("expected value at line 3 column 14").expect("a position");
        assert_eq!((detail.line, detail.column), (Some(3), Some(14)));
        assert!(line_column("no position here").is_none());
    }
}
