//! [`ApiJson`]: a JSON body extractor whose failures are [`ApiError`]s (422 naming the field
//! that failed, 400 for a body that is not JSON), not axum's plain-text rejections. Every body of
//! the API is a JSON object; an array is refused, though serde would read a struct from one.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use bytes::Bytes;
use serde::de::DeserializeOwned;

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

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
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
        let body = Bytes::from_request(request, state)
            .await
            .map_err(unreadable_body)?;
        parse(&body).map(ApiJson)
    }
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

/// Parses a JSON body, naming the path of the first field that failed.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let is_array = body.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'[');
    if is_array && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        return Err(ApiError::invalid_field(
            "body",
            "send a JSON object, not an array",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|failure| {
        let path = failure.path().to_string();
        let cause = failure.into_inner();
        if cause.is_syntax() || cause.is_eof() {
            ApiError::new(
                ErrorKind::BadRequest,
                format!("the body is not valid JSON: {cause}"),
            )
        } else if path == "." {
            ApiError::invalid_field("body", cause.to_string())
        } else {
            ApiError::invalid_field(path, cause.to_string())
        }
    })
}
