//! [`ApiJson`]: a JSON body extractor whose failures are [`ApiError`]s (422 naming the field
//! that failed, 400 for a body that is not JSON), not axum's plain-text rejections. Every string
//! of the body follows `protocol`'s text rule (no U+0000: `protocol::check_payload`), so text the
//! database could not store is refused at the door, naming its field. [`ApiJsonItems`] leaves
//! that rule to a handler that reads its items one by one (the Roblox event batch). Every body
//! of the API is a JSON object; an array is refused, though serde would read a struct from one.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::openapi::Answer;
use super::{ApiError, ErrorKind};

/// What [`ApiJson`] answers when the body cannot be taken.
pub const ANSWERS: &[Answer] = &[
    Answer {
        status: 400,
        when: "the body is not JSON, or not sent as `content-type: application/json`",
    },
    Answer {
        status: 413,
        when: "the body is larger than the server accepts",
    },
    Answer {
        status: 422,
        when: "a field is missing or invalid; `error.fields` names it",
    },
];

/// A JSON request body of type `T`.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

/// A JSON request body of type `T` holding items that the handler checks one by one, so that
/// one item breaking the text rule is refused alone (the Roblox event batch reports such an
/// event by id and takes the others). Like [`ApiJson`], except that the text rule is the
/// handler's.
#[derive(Debug, Clone)]
pub struct ApiJsonItems<T>(pub T);

/// Whether [`parse_body`] applies the text rule to the whole body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextRule {
    /// Every string and key of the body.
    Everywhere,
    /// None: the handler checks each item itself.
    ByHandler,
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let body = read_body(request, state).await?;
        parse_body(&body, TextRule::Everywhere).map(ApiJson)
    }
}

impl<S, T> FromRequest<S> for ApiJsonItems<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let body = read_body(request, state).await?;
        parse_body(&body, TextRule::ByHandler).map(ApiJsonItems)
    }
}

/// The bytes of a JSON body: the content type checked, the body limit applied.
async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_none_or(|value| value.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "send the body as JSON with content-type: application/json",
        ));
    }
    Bytes::from_request(request, state)
        .await
        .map_err(unreadable_body)
}

/// The answer to a body that could not be read: 413 when it is larger than the limit.
pub(crate) fn unreadable_body(rejection: BytesRejection) -> ApiError {
    let too_large = rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE;
    if too_large {
        ApiError::new(ErrorKind::PayloadTooLarge, rejection.body_text())
    } else {
        ApiError::new(ErrorKind::BadRequest, rejection.body_text())
    }
}

/// Parses a JSON body in three steps, each naming the path of the field at fault: JSON text
/// (400; also for an unpaired surrogate escape, which is not Unicode text), the text rule (422),
/// then the shape of `T` (422; an array is refused before serde could read a struct from it).
fn parse_body<T: DeserializeOwned>(body: &[u8], rule: TextRule) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: Value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|failure| {
            let path = failure.path().to_string();
            let cause = failure.into_inner();
            if path == "." {
                ApiError::new(
                    ErrorKind::BadRequest,
                    format!("the body is not valid JSON: {cause}"),
                )
            } else {
                ApiError::new(
                    ErrorKind::BadRequest,
                    format!("the body is not valid JSON at {path}: {cause}"),
                )
                .with_field(path, cause.to_string())
            }
        })
        .and_then(|value| {
            deserializer.end().map_err(|cause| {
                ApiError::new(
                    ErrorKind::BadRequest,
                    format!("the body is not valid JSON: {cause}"),
                )
            })?;
            Ok(value)
        })?;
    if value.is_array() {
        return Err(ApiError::invalid_field(
            "body",
            "send a JSON object, not an array",
        ));
    }
    if rule == TextRule::Everywhere
        && let Err(refused) = protocol::check_payload("", &value, usize::MAX)
    {
        return Err(ApiError::invalid_field(
            field_name(refused.field()),
            refused.problem(),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|failure| {
        let path = failure.path().to_string();
        ApiError::invalid_field(field_name(&path), failure.into_inner().to_string())
    })
}

/// A path as the answer names it: `.` (the whole body) is `body`.
fn field_name(path: &str) -> &str {
    if path == "." { "body" } else { path }
}
