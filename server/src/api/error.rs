//! The one error vocabulary of every HTTP answer the server gives — the REST API (`/api/v1/...`),
//! the Roblox routes, the `/ws` upgrade, `/pusher/auth` and the Pusher HTTP API:
//! `{"error": {"code": "<snake_case>", "message": "<sentence>", "fields": {..}?, "request_id": ".."?}}`.
//!
//! Codes are the stable strings of [`ErrorKind`], one per status the server answers (the
//! Pusher HTTP API keeps the statuses Pusher's clients expect, so a refusal there is a
//! `bad_request` where REST would say `invalid_input`); the message says what was wrong and what
//! to do. A transient database failure is 503 + `Retry-After` on every route
//! (`From<StoreError>`); any other internal failure is 500 with a `request_id` that the log line
//! carries too, so an operator finds the cause. Internal causes are logged, never sent.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What kind of failure an [`ApiError`] is; fixes its status and machine code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request could not be read at all (not JSON, wrong content type).
    BadRequest,
    /// 401: no credentials, or credentials the server does not accept.
    Unauthorized,
    /// 402: the tenant's plan does not allow this now (its subscription lapsed).
    PaymentRequired,
    /// 403: authenticated, but the role may not do this.
    Forbidden,
    /// 404: no such object in the caller's tenant (also for other tenants' objects).
    NotFound,
    /// 409: the request conflicts with the current state.
    Conflict,
    /// 413: the body or batch is larger than allowed.
    PayloadTooLarge,
    /// 415: the body's content is of a type the route does not accept.
    UnsupportedMediaType,
    /// 416: the `Range` asks for bytes the resource does not have.
    RangeNotSatisfiable,
    /// 422: well-formed but invalid input; `fields` says which.
    InvalidInput,
    /// 429: too many requests; `Retry-After` says when to try again.
    RateLimited,
    /// 503: the server cannot take this now (durable queue full, service not configured).
    Unavailable,
    /// 500: a failure inside the server; the details are in its log.
    Internal,
}

impl ErrorKind {
    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::PaymentRequired => StatusCode::PAYMENT_REQUIRED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            ErrorKind::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine code sent in `error.code`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::PaymentRequired => "payment_required",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::UnsupportedMediaType => "unsupported_media_type",
            ErrorKind::RangeNotSatisfiable => "range_not_satisfiable",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }
}

/// A REST error answer.
#[derive(Debug)]
pub struct ApiError {
    kind: ErrorKind,
    message: String,
    fields: BTreeMap<String, String>,
    retry_after: Option<Duration>,
    /// Set on internal failures: the id the log line carries.
    request_id: Option<String>,
}

impl ApiError {
    /// An error of `kind` with a sentence for the caller.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            fields: BTreeMap::new(),
            retry_after: None,
            request_id: None,
        }
    }

    /// 422 naming one offending field.
    pub fn invalid_field(field: impl Into<String>, problem: impl Into<String>) -> ApiError {
        let field = field.into();
        let problem = problem.into();
        ApiError::new(ErrorKind::InvalidInput, format!("{field}: {problem}"))
            .with_field(field, problem)
    }

    /// 404 for an object of `what` that the caller cannot see (missing, or another tenant's).
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            ErrorKind::NotFound,
            format!("no such {what} in your tenant; check the id"),
        )
    }

    /// 500 for an internal failure: logs `cause` under a new request id and tells the caller
    /// only that id (to quote to the operator).
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        let request_id = format!("req_{:016x}", rand::random::<u64>());
        tracing::error!(%cause, %request_id, "request failed inside the server");
        let mut error = ApiError::new(
            ErrorKind::Internal,
            format!(
                "the server failed to handle this request; it has been logged as {request_id}, retry later"
            ),
        );
        error.request_id = Some(request_id);
        error
    }

    /// Adds an offending field to `error.fields`.
    pub fn with_field(mut self, field: impl Into<String>, problem: impl Into<String>) -> ApiError {
        self.fields.insert(field.into(), problem.into());
        self
    }

    /// Sets the `Retry-After` header (whole seconds, at least 1).
    pub fn with_retry_after(mut self, after: Duration) -> ApiError {
        self.retry_after = Some(after);
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The sentence sent to the caller.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A database failure: 503 + `Retry-After` when it may pass (connection lost, pool exhausted,
/// serialization conflict), 500 otherwise. The same rule on every route.
impl From<persistence::StoreError> for ApiError {
    fn from(cause: persistence::StoreError) -> ApiError {
        if cause.is_transient() {
            tracing::warn!(%cause, "database unavailable for a request");
            ApiError::new(
                ErrorKind::Unavailable,
                "the database is unavailable; retry shortly",
            )
            .with_retry_after(Duration::from_secs(2))
        } else {
            ApiError::internal(cause)
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}: {}", self.kind.code(), self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "code": self.kind.code(), "message": self.message });
        if !self.fields.is_empty() {
            body["fields"] = json!(self.fields);
        }
        if let Some(request_id) = &self.request_id {
            body["request_id"] = json!(request_id);
        }
        let mut response = (self.kind.status(), Json(json!({ "error": body }))).into_response();
        if let Some(after) = self.retry_after {
            let seconds = after.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
