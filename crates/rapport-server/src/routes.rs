//! The streaming inlet and health routes: thin wrappers that parse, hand messages to the writer and shape
//! Adobe's responses. The inlet routes need a token whose role may stream (engineer, admin).
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /collection/{inletId}[?syncValidation=true]` | 200 `{inletId, xactionId, receivedTimeMs[, syncValidation]}`, or 400 `invalid_message` with the message's errors as details |
//! | `POST /collection/batch/{inletId}` with `{"messages": [...]}` | 207 `{inletId, batchId, receivedTimeMs, responses}`, one response per message, in order |
//! | `GET /health` | 200 `{"status": "ok"}` |
//!
//! Whole-request faults answer in the API's error shape (see [`crate::api::error`]): 400 malformed JSON (with line, column and byte offset), 404 unknown inlet, 413 body
//! over 1 MB, 500 store failure, 503 when the writer has stopped (per message inside a 207).

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rapport_engine::{MessageError, MessageErrorCode, MessageOutcome, Permission, StreamMessage};
use rapport_model::json::{large_integers, LargeInteger};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tracing::{instrument, warn};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::writer::{Job, Outcomes};

/// The largest request body accepted (B2B-DOMAIN g.1: 413 above 1 MB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Bodies bigger than this are parsed on a blocking thread, so a runtime thread never blocks for long.
const PARSE_INLINE_BYTES: usize = 32 * 1024;

use crate::api::{ApiError, ApiPath, ApiQuery, AppState, Caller, ErrorBody, ErrorDetail};

/// The health route and the inlet routes (the inlet routes keep the 1 MB body limit).
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    let inlet = OpenApiRouter::new()
        .routes(routes!(collect_batch))
        .routes(routes!(collect_one))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    OpenApiRouter::new().routes(routes!(health)).merge(inlet)
}

/// A whole-request fault in the API's error shape, plus any extra top-level fields (the inlet's
/// `inletId`, `xactionId`, `receivedTimeMs`).
fn problem(
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<ErrorDetail>,
    extra: Value,
) -> Response {
    let error = ApiError::new(status, code, message).with_details(details);
    let mut body = json!(error.body());
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    (status, Json(body)).into_response()
}

/// Whether the server is up, and how many jobs its writer queue can still take. Needs no token.
#[utoipa::path(get, path = "/health", tag = "meta", security(()),
    responses((status = 200, description = "The server is up: `{\"status\": \"ok\", \"queueFree\": N}`")))]
async fn health(State(state): State<AppState>) -> Response {
    Json(json!({"status": "ok", "queueFree": state.writer.capacity()})).into_response()
}

/// The query of the single-message route.
#[derive(Debug, Deserialize)]
struct CollectQuery {
    /// Adds `syncValidation` to the answer. Validation is always synchronous here: the flag changes only the
    /// answer's shape, never what is checked or stored.
    #[serde(rename = "syncValidation", default)]
    sync_validation: bool,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl crate::api::Shared {
    /// A transaction id in Adobe's form `{receivedTimeMs}:{instance}:{sequence}`.
    fn transaction_id(&self, received_ms: i64) -> String {
        format!("{received_ms}:{}:{}", self.instance, self.sequence.fetch_add(1, Ordering::Relaxed))
    }

    /// Whether `inlet` exists: the cached set first, then the store through the writer (the inlet may have been
    /// created after the server started).
    async fn knows_inlet(&self, inlet: &str) -> bool {
        if self.inlets.read().map(|set| set.contains(inlet)).unwrap_or(false) {
            return true;
        }
        let (reply, answer) = oneshot::channel();
        if self.writer.send(Job::FindInlet { id: inlet.to_owned(), reply }).await.is_err() {
            return false;
        }
        answer.await.unwrap_or(false)
    }

    /// Hands messages to the writer and waits until they are committed. The error carries the status to
    /// answer: 500 when the store failed, 503 when the writer is gone.
    async fn ingest(&self, messages: Vec<StreamMessage>) -> Result<Vec<MessageOutcome>, (StatusCode, String)> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        let gone = |what: &str| (StatusCode::SERVICE_UNAVAILABLE, format!("the writer {what}; retry later"));
        if self.writer.send(Job::Ingest { messages, reply }).await.is_err() {
            return Err(gone("has stopped"));
        }
        let outcomes: Outcomes = answer.await.map_err(|_| gone("stopped before answering"))?;
        outcomes.map_err(|message| (StatusCode::INTERNAL_SERVER_ERROR, message))
    }
}

fn unknown_inlet(inlet: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "unknown_inlet",
        format!("inlet `{inlet}` does not exist (create one with `rapport inlet create NAME`)"),
        Vec::new(),
        json!({}),
    )
}

fn body_rejection(rejection: BytesRejection) -> Response {
    let status = rejection.status();
    let (code, message) = if status == StatusCode::PAYLOAD_TOO_LARGE {
        ("payload_too_large", format!("the request body is larger than {MAX_BODY_BYTES} bytes (1 MB)"))
    } else {
        ("unreadable_body", format!("the request body could not be read: {}", rejection.body_text()))
    };
    problem(status, code, message, Vec::new(), json!({}))
}

/// The byte offset of serde_json's (1-based line, 1-based column) in `bytes`.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(line - 2).map_or(bytes.len(), |(i, _)| i + 1)
    };
    (line_start + column.saturating_sub(1)).min(bytes.len())
}

/// Parses a body as JSON and finds its integers too large for 64 bits (which the parse rounds), on a blocking
/// thread when it is big; a syntax error becomes a 400 naming the line, column and byte offset.
async fn parse(body: Bytes) -> Result<(Value, Vec<LargeInteger>), Response> {
    let read = |text: &[u8]| serde_json::from_slice::<Value>(text).map(|value| (value, large_integers(text)));
    let result = if body.len() > PARSE_INLINE_BYTES {
        let parsed = body.clone();
        tokio::task::spawn_blocking(move || read(&parsed)).await.map_err(|err| {
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("parsing failed: {err}"),
                Vec::new(),
                json!({}),
            )
        })?
    } else {
        read(&body)
    };
    result.map_err(|err| {
        // Input that ends too early is at fault where it ends; serde_json's column there is the last byte's.
        let offset = if err.is_eof() { body.len() } else { byte_offset(&body, err.line(), err.column()) };
        problem(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the request body is not valid JSON: {err} (byte offset {offset})"),
            vec![ErrorDetail {
                line: Some(err.line() as u64),
                column: Some(err.column() as u64),
                offset: Some(offset as u64),
                ..ErrorDetail::default()
            }],
            json!({}),
        )
    })
}

/// The text of a message's errors, one `path: message (code)` after the other.
fn describe(errors: &[MessageError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// A request accepted by [`accept`]: its receive time, transaction id, parsed body, and the integers of the body
/// too large for 64 bits, which the parse rounded (see [`with_large_integers`]).
struct Accepted {
    received: i64,
    id: String,
    value: Value,
    large: Vec<LargeInteger>,
}

/// What both inlet routes do first: refuse an unreadable or oversized body and an unknown inlet, stamp the
/// receive time and a transaction id, and parse the JSON.
async fn accept(state: &AppState, inlet: &str, body: Result<Bytes, BytesRejection>) -> Result<Accepted, Response> {
    let body = body.map_err(body_rejection)?;
    if !state.knows_inlet(inlet).await {
        return Err(unknown_inlet(inlet));
    }
    let received = now_ms();
    let id = state.transaction_id(received);
    let (value, large) = parse(body).await?;
    Ok(Accepted { received, id, value, large })
}

/// `message` with the integers too large for 64 bits found in its record's text (`body.xdmEntity.…`; `large`
/// gives each one's path inside the message) as its record faults: serde_json read them as the nearest float,
/// digits lost, so the writer rejects the message and keeps it among the batch's rejected rows, as it does a
/// record failing validation. Such integers elsewhere in the envelope are left to its own checks (a
/// `header.createdAt` must be epoch milliseconds; the other fields are ignored).
fn with_large_integers<'a>(
    mut message: StreamMessage,
    large: impl Iterator<Item = (&'a [String], &'a LargeInteger)>,
) -> StreamMessage {
    message.record_faults = large
        .filter(|(path, _)| path.len() > 2 && path[0] == "body" && path[1] == "xdmEntity")
        .map(|(path, large)| MessageError {
            code: MessageErrorCode::Invalid,
            message: format!(
                "the integer {} is too large for 64 bits and would lose digits as a number; write it as a string",
                large.literal
            ),
            path: Some(path.join(".")),
        })
        .collect();
    message
}

/// Streams one message in Adobe's collection envelope (`{header: {schemaRef, datasetId, ...}, body:
/// {xdmMeta, xdmEntity}}`) and answers once it is committed. Needs the engineer or admin role.
#[utoipa::path(post, path = "/collection/{inletId}", tag = "streaming",
    params(("inletId" = String, Path, description = "The inlet id (`rapport inlet create`)"),
           ("syncValidation" = Option<bool>, Query, description = "Add `syncValidation` to the answer")),
    request_body(content = Value, description = "One message in the collection envelope"),
    responses((status = 200, description = "Stored: `{inletId, xactionId, receivedTimeMs}`"),
              (status = 400, description = "Malformed JSON or an invalid message", body = ErrorBody),
              (status = 403, description = "The role may not stream", body = ErrorBody),
              (status = 404, description = "Unknown inlet", body = ErrorBody),
              (status = 413, description = "Body over 1 MB", body = ErrorBody)))]
#[instrument(skip_all, fields(inlet = %inlet))]
async fn collect_one(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(inlet): ApiPath<String>,
    ApiQuery(query): ApiQuery<CollectQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(err) = caller.require(Permission::Data) {
        return err.into_response();
    }
    let Accepted { received, id: xaction, value, large } = match accept(&state, &inlet, body).await {
        Ok(accepted) => accepted,
        Err(response) => return response,
    };
    let mut answer = json!({"inletId": inlet, "xactionId": xaction, "receivedTimeMs": received});
    let sync = |status: &str| json!({"status": status});
    let message = StreamMessage::from_envelope(value, &inlet, xaction.clone(), received)
        .map(|message| with_large_integers(message, large.iter().map(|l| (l.path.as_slice(), l))));
    let errors = match message {
        Err(errors) => errors,
        Ok(message) => match state.ingest(vec![message]).await {
            Ok(mut outcomes) => match outcomes.pop() {
                Some(MessageOutcome::Accepted { .. }) => {
                    if query.sync_validation {
                        answer["syncValidation"] = sync("pass");
                    }
                    return (StatusCode::OK, Json(answer)).into_response();
                }
                Some(MessageOutcome::Rejected { errors, .. }) => errors,
                None => Vec::new(),
            },
            Err((status, message)) => {
                warn!(error = %message, "message not stored");
                let code = if status == StatusCode::SERVICE_UNAVAILABLE { "unavailable" } else { "internal" };
                return problem(status, code, message, Vec::new(), answer);
            }
        },
    };
    if query.sync_validation {
        answer["syncValidation"] = sync("fail");
    }
    problem(StatusCode::BAD_REQUEST, "invalid_message", describe(&errors), message_details(&errors), answer)
}

/// A message's faults as error details (code, message, JSON path).
fn message_details(errors: &[MessageError]) -> Vec<ErrorDetail> {
    errors
        .iter()
        .map(|e| ErrorDetail {
            code: Some(e.code.name().to_owned()),
            message: Some(e.message.clone()),
            path: e.path.clone(),
            ..ErrorDetail::default()
        })
        .collect()
}

/// Streams many messages `{"messages": [...]}`; answers 207 with one response per message, in order.
/// Needs the engineer or admin role.
#[utoipa::path(post, path = "/collection/batch/{inletId}", tag = "streaming",
    params(("inletId" = String, Path, description = "The inlet id (`rapport inlet create`)")),
    request_body(content = Value, description = "`{\"messages\": [envelope, ...]}`"),
    responses((status = 207, description = "`{inletId, batchId, receivedTimeMs, responses}`"),
              (status = 400, description = "Malformed JSON or no `messages` array", body = ErrorBody),
              (status = 403, description = "The role may not stream", body = ErrorBody),
              (status = 404, description = "Unknown inlet", body = ErrorBody),
              (status = 413, description = "Body over 1 MB", body = ErrorBody)))]
#[instrument(skip_all, fields(inlet = %inlet))]
async fn collect_batch(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(inlet): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(err) = caller.require(Permission::Data) {
        return err.into_response();
    }
    let Accepted { received, id: batch_id, value, large } = match accept(&state, &inlet, body).await {
        Ok(accepted) => accepted,
        Err(response) => return response,
    };
    let Value::Object(mut request) = value else {
        return problem(
            StatusCode::BAD_REQUEST,
            "malformed_request",
            "the request body must be an object `{\"messages\": [...]}`".to_owned(),
            Vec::new(),
            json!({}),
        );
    };
    let Some(Value::Array(messages)) = request.remove("messages") else {
        return problem(
            StatusCode::BAD_REQUEST,
            "malformed_request",
            "the request body must have a `messages` array".to_owned(),
            Vec::new(),
            json!({}),
        );
    };
    let count = messages.len();
    // Each message's response: filled now for envelope faults, after the commit for the others.
    let mut responses: Vec<Option<Value>> = vec![None; count];
    let mut valid = Vec::with_capacity(count);
    let mut positions = Vec::with_capacity(count);
    // The integers too large for 64 bits, by message (`messages.{i}.…`).
    let mut large_in: std::collections::BTreeMap<usize, Vec<(&[String], &LargeInteger)>> = Default::default();
    for l in &large {
        if let [first, index, inside @ ..] = l.path.as_slice() {
            if let (true, Ok(index)) = (first == "messages", index.parse::<usize>()) {
                large_in.entry(index).or_default().push((inside, l));
            }
        }
    }
    for (i, envelope) in messages.into_iter().enumerate() {
        let xaction = format!("{batch_id}:{i}");
        let message = StreamMessage::from_envelope(envelope, &inlet, xaction.clone(), received)
            .map(|message| with_large_integers(message, large_in.remove(&i).unwrap_or_default().into_iter()));
        match message {
            Ok(message) => {
                valid.push(message);
                positions.push(i);
            }
            Err(errors) => responses[i] = Some(failure(&xaction, 400, describe(&errors), &errors)),
        }
    }
    match state.ingest(valid).await {
        Ok(outcomes) => {
            for (i, outcome) in positions.into_iter().zip(outcomes) {
                let xaction = format!("{batch_id}:{i}");
                responses[i] = Some(match outcome {
                    MessageOutcome::Accepted { .. } => json!({"xactionId": xaction}),
                    MessageOutcome::Rejected { errors, .. } => failure(&xaction, 400, describe(&errors), &errors),
                });
            }
        }
        Err((status, message)) => {
            warn!(error = %message, "messages not stored");
            for i in positions {
                responses[i] = Some(failure(&format!("{batch_id}:{i}"), status.as_u16(), message.clone(), &[]));
            }
        }
    }
    let responses: Vec<Value> = responses.into_iter().map(Option::unwrap_or_default).collect();
    let answer = json!({"inletId": inlet, "batchId": batch_id, "receivedTimeMs": received, "responses": responses});
    (StatusCode::MULTI_STATUS, Json(answer)).into_response()
}

fn failure(xaction: &str, status: u16, message: String, errors: &[MessageError]) -> Value {
    json!({"xactionId": xaction, "statusCode": status, "message": message, "errors": errors})
}

#[cfg(test)]
mod tests {
    use super::byte_offset;

    #[test]
    fn byte_offsets_count_earlier_lines() {
        let text = b"{\n  \"a\": x\n}";
        assert_eq!(byte_offset(text, 2, 8), 9);
        assert_eq!(text[9], b'x');
        assert_eq!(byte_offset(b"abc", 1, 1), 0);
        assert_eq!(byte_offset(b"abc", 1, 9), 3);
    }
}
