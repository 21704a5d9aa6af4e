//! The REST API under `/api/v1`: one error shape ([`ApiError`]), body/query/path extractors that
//! answer with it, the [`Caller`] extractor (token, directory, per-token limit), cursor pages, and
//! one module per route group. Each group's `routes()` is a `utoipa_axum` router, so a route and
//! its OpenAPI operation are registered together and cannot drift apart; [`router`] merges the
//! groups and returns the axum router with the assembled OpenAPI 3.1 document.
//!
//! Adding a group from another module (e.g. the Roblox routes): write handlers with
//! `#[utoipa::path(...)]`, expose `pub fn routes() -> OpenApiRouter<AppState>` built with
//! `.routes(routes!(handler))`, and merge it in [`router`] next to the platform groups (outside
//! the per-IP layer if its callers share addresses, as game servers do).

//!
//! Route groups: [`roblox`] (game servers, with game-server keys) and [`commands`] (teachers'
//! commands to classes) are the lead's; the platform groups below are issue 5's; [`ai`] (the
//! tutor) and [`payments`] (Stripe, with its webhook outside the per-IP limit) are issue 8's.

mod admin;
mod ai;
mod analytics;
mod auth_me;
mod caller;
mod classes;
pub mod commands;
mod content;
mod error;
mod extract;
mod ids;
mod json;
pub mod limits;
mod notifications;
pub mod openapi;
mod page;
mod payments;
mod progress;
pub mod roblox;
mod users;

use axum::http::{HeaderMap, header};

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

pub use caller::Caller;
pub use error::{ApiError, ErrorKind};
pub use extract::{ApiPath, ApiQuery};
pub use json::ApiJson;
pub use limits::Limiters;
pub use page::{PageOf, PageQuery};

use crate::app::AppState;

/// Every `/api/v1` route and the OpenAPI document describing them.
pub fn router(app: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let platform = OpenApiRouter::new()
        .merge(auth_me::routes())
        .merge(users::routes())
        .merge(classes::routes())
        .merge(content::routes())
        .merge(progress::routes())
        .merge(analytics::routes())
        .merge(notifications::routes())
        .merge(admin::routes())
        .merge(ai::routes())
        .merge(payments::routes())
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            payments::read_only_when_lapsed,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            limits::per_ip,
        ));
    // Teachers' commands, the game-server routes and Stripe's webhook stay outside the per-IP
    // limit: a school's game servers share few addresses (the Roblox routes have their own
    // limits), and so do Stripe's webhook senders.
    OpenApiRouter::with_openapi(openapi::base())
        .merge(platform)
        .merge(commands::routes())
        .merge(roblox::routes(app.config().roblox.max_body_bytes))
        .merge(payments::webhook_routes())
        .split_for_parts()
}

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
