//! [`ApiQuery`] and [`ApiPath`]: query-string and path extractors whose failures are
//! [`ApiError`]s in the one error shape, not axum's plain-text rejections. A query parameter
//! sent empty (`?limit=`, as an HTML form does) is read as absent. Both follow `protocol`'s text
//! rule (no U+0000, which the database cannot store) and name the parameter that breaks it.

use std::borrow::Cow;

use axum::extract::{FromRequestParts, Path, RawPathParams};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::openapi::Answer;
use super::{ApiError, ErrorKind};

/// What [`ApiQuery`] answers when the query string does not parse.
pub const QUERY_ANSWERS: &[Answer] = &[Answer {
    status: 422,
    when: "a query parameter is invalid (or holds U+0000); `error.fields` names it",
}];

/// What [`ApiPath`] answers when a path segment cannot be read (not UTF-8 once decoded).
pub const PATH_ANSWERS: &[Answer] = &[Answer {
    status: 400,
    when: "a path segment is not valid text (or holds U+0000); `error.fields` names it",
}];

/// Query parameters of type `T` (422 naming the problem when they do not parse); empty ones are
/// left out.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let sent: Vec<(Cow<'_, str>, Cow<'_, str>)> = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(_, value)| !value.is_empty())
            .collect();
        for (name, value) in &sent {
            if let Err(refused) = protocol::check_text(name, value) {
                return Err(ApiError::invalid_field(name.as_ref(), refused.problem()));
            }
        }
        serde_urlencoded::from_str(&serde_urlencoded::to_string(&sent).unwrap_or_default())
            .map(ApiQuery)
            .map_err(|cause| ApiError::invalid_field("query", cause.to_string()))
    }
}

/// Path parameters of type `T`.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::new(ErrorKind::BadRequest, rejection.body_text()))?;
        for (name, value) in &raw {
            if let Err(refused) = protocol::check_text(name, value) {
                let problem = refused.problem();
                return Err(ApiError::new(
                    ErrorKind::BadRequest,
                    format!("path segment {name}: {problem}"),
                )
                .with_field(name, problem));
            }
        }
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|rejection| ApiError::new(ErrorKind::BadRequest, rejection.body_text()))
    }
}
