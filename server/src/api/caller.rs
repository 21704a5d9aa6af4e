//! [`Caller`]: the authenticated person behind a REST request (bearer token verified, user
//! admitted by the directory, per-token rate limit taken), and the role checks handlers use.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::openapi::Answer;
use super::{ApiError, ErrorKind};
use crate::app::AppState;
use crate::auth::{Identity, Role};

/// What the [`Caller`] extractor answers on every route that takes it (the bearer routes): the
/// token, the directory (`AuthFailure::status`) and the per-token limit.
pub const ANSWERS: &[Answer] = &[
    Answer {
        status: 401,
        when: "no bearer token, or one the server does not accept",
    },
    Answer {
        status: 403,
        when: "the caller's role may not do this, or the account is deactivated",
    },
    Answer {
        status: 429,
        when: "too many requests from this token or address; wait for `Retry-After`",
    },
    Answer {
        status: 503,
        when: "the database or the identity provider's keys are unavailable; retry shortly",
    },
];

/// Who is calling, and from which client address (as [`super::ClientIp`] finds it; `None` when
/// the server was started without peer addresses).
#[derive(Debug, Clone)]
pub struct Caller(pub Identity, pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let token = crate::auth::bearer_token(&parts.headers)
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::Unauthorized,
                    "send your token as Authorization: Bearer <token>",
                )
            })?;
        let identity = app.authenticate(&token).await?;
        app.api_limiters()
            .check_caller(&identity.tenant, &identity.user)?;
        let client = super::ClientIp::from_request_parts(parts, app)
            .await
            .ok()
            .map(|super::ClientIp(ip)| ip);
        Ok(Caller(identity, client))
    }
}

impl Caller {
    /// The tenant every query of this request is scoped to.
    pub fn tenant(&self) -> &str {
        &self.0.tenant
    }

    /// The caller's user id.
    pub fn user(&self) -> &str {
        &self.0.user
    }

    /// The client address the request came from, when known.
    pub fn client_ip(&self) -> Option<std::net::IpAddr> {
        self.1
    }

    /// The caller's role.
    pub fn role(&self) -> Role {
        self.0.role
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.0.role == Role::Admin
    }

    /// Whether the caller is staff (educator or admin).
    pub fn is_staff(&self) -> bool {
        matches!(self.0.role, Role::Educator | Role::Admin)
    }

    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], action: &str) -> Result<(), ApiError> {
        if roles.contains(&self.0.role) {
            Ok(())
        } else {
            Err(forbidden(self.0.role, action))
        }
    }

    /// 403 unless the caller is an admin.
    pub fn require_admin(&self, action: &str) -> Result<(), ApiError> {
        self.require(&[Role::Admin], action)
    }

    /// 403 unless the caller is an educator or admin.
    pub fn require_staff(&self, action: &str) -> Result<(), ApiError> {
        self.require(&[Role::Educator, Role::Admin], action)
    }
}

/// 403 saying which role may not do what.
pub fn forbidden(role: Role, action: &str) -> ApiError {
    ApiError::new(
        ErrorKind::Forbidden,
        format!("a {} may not {action}", role.as_str()),
    )
}
