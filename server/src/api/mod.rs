//! The REST API under `/api/v1`: the JSON body extractor, the one error shape every route
//! answers with ([`ApiError`]), and the route groups, each in its own module: [`roblox`] (game
//! servers, with game-server keys) and [`commands`] (teachers' commands to classes).

pub mod commands;
mod error;
mod json;
pub mod roblox;

use axum::http::{HeaderMap, header};

pub use error::{ApiError, ErrorKind};
pub use json::ApiJson;

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|token| !token.is_empty())
}
