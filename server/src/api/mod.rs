//! The shared REST kit under `/api/v1`: one error shape ([`ApiError`]), body/query/path
//! extractors that answer with it, the [`Caller`] extractor (token, directory, per-token limit),
//! cursor pages, rate limits (keyed by [`ClientIp`] per address) and the OpenAPI frame. The routes themselves live with their
//! features (`platform`, `roblox`, `ai`, `billing`, `dashboard`); each feature's `routes()` is a
//! `utoipa_axum` router, so a route and its OpenAPI operation are registered together and cannot
//! drift apart; [`router`] merges them and returns the axum router with the assembled OpenAPI 3.1
//! document.
//!
//! Adding a route group: write handlers with `#[utoipa::path(...)]` in the feature's
//! `routes.rs`, expose `pub(crate) fn routes() -> OpenApiRouter<AppState>` built with
//! `.routes(routes!(handler))`, and merge it in [`router`] (outside the per-IP layer if its
//! callers share addresses, as game servers do).

mod caller;
pub mod client_ip;
mod error;
mod extract;
pub(crate) mod ids;
pub(crate) mod json;
pub mod limits;
pub mod openapi;
mod page;
pub mod rules;

use axum::Router;
use axum::http::Method;
use utoipa_axum::router::OpenApiRouter;

pub use caller::{Caller, forbidden};
pub use client_ip::ClientIp;
pub use error::{ApiError, ErrorKind};
pub use extract::{ApiPath, ApiQuery};
pub use json::{ApiJson, ApiJsonItems};
pub use limits::Limiters;
pub use page::{PageLimit, PageOf, PageQuery, page_of};

use crate::app::AppState;

/// Every `/api/v1` route and the OpenAPI document describing them.
pub fn router(app: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let mut platform = OpenApiRouter::new()
        .merge(crate::platform::routes())
        .merge(crate::privacy::routes())
        .merge(crate::chat::routes::routes())
        .merge(crate::media::routes::routes())
        .merge(crate::dashboard::overview::routes())
        .merge(crate::ai::routes::routes())
        .merge(crate::billing::routes::routes())
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::roblox::content::forget_on_change,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::billing::routes::read_only_when_lapsed,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            limits::per_ip,
        ));
    let platform_document = platform.get_openapi_mut();
    openapi::add_answers(platform_document, limits::PER_IP_ANSWERS, |_, _| true);
    openapi::add_answers(
        platform_document,
        crate::billing::routes::LAPSED_ANSWERS,
        |method, path| {
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes());
            method.is_ok_and(|method| crate::billing::routes::writes_content(&method, path))
        },
    );
    openapi::document_extractors(platform_document, caller::ANSWERS);
    let mut commands = crate::platform::commands::routes();
    openapi::document_extractors(commands.get_openapi_mut(), caller::ANSWERS);
    let mut roblox = crate::roblox::routes::routes(app.config().roblox.max_body_bytes);
    openapi::document_extractors(
        roblox.get_openapi_mut(),
        crate::roblox::routes::GAME_SERVER_ANSWERS,
    );
    // Teachers' commands, the game-server routes and Stripe's webhook stay outside the per-IP
    // limit: a school's game servers share few addresses (the Roblox routes have their own
    // limits), and so do Stripe's webhook senders. The webhook reads its body as raw bytes (it
    // checks Stripe's signature over them), so it documents its answers itself.
    let (router, mut document) = OpenApiRouter::with_openapi(openapi::base())
        .merge(platform)
        .merge(commands)
        .merge(roblox)
        .merge(crate::billing::routes::webhook_routes())
        .split_for_parts();
    crate::billing::routes::document_plans(&mut document, &app.config().billing);
    (router, document)
}
