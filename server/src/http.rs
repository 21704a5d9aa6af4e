//! The HTTP surface: the router (sockets, Pusher HTTP API, the REST API under `/api/v1`),
//! `GET /health`, `GET /metrics`, `GET /openapi.json`, `GET /docs`, the dashboard at
//! `/dashboard`, and the answer to unknown routes; per-route HTTP metrics on all of them; CORS (when origins are allowed) on the REST API
//! and the Pusher auth endpoints. Every HTTP error, on every route (REST,
//! Roblox, `/ws` and `/app` upgrades, the Pusher HTTP API), is a `crate::api::ApiError`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::app::AppState;
use crate::transport::{native, pusher, pusher_api};

/// Every route of the server.
pub fn router(app: AppState) -> Router {
    let (api_router, openapi) = crate::api::router(&app);
    // Browsers' pages on the allowed origins may call the REST API and authorize Pusher
    // channels (`--cors-allowed-origins`); nothing else is cross-origin.
    let pusher_auth = Router::new()
        .route("/pusher/auth", post(pusher_api::channel_auth))
        .route("/pusher/user-auth", post(pusher_api::user_auth));
    let (api_router, pusher_auth) = match crate::api::limits::cors(&app.config().api_limits) {
        Some(cors) => (api_router.layer(cors.clone()), pusher_auth.layer(cors)),
        None => (api_router, pusher_auth),
    };
    let openapi_json = std::sync::Arc::new(openapi.to_pretty_json().unwrap_or_default());
    Router::new()
        .merge(api_router)
        .merge(pusher_auth)
        .route(
            "/openapi.json",
            get(move || {
                let document = std::sync::Arc::clone(&openapi_json);
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        document.as_ref().clone(),
                    )
                }
            }),
        )
        .route(
            "/docs",
            get(|| async { axum::response::Html(crate::api::openapi::DOCS_HTML) }),
        )
        .route("/ws", get(native::upgrade))
        .route("/app/{key}", get(pusher::upgrade))
        .route("/apps/{app_id}/events", post(pusher_api::events))
        .route(
            "/apps/{app_id}/batch_events",
            post(pusher_api::batch_events),
        )
        .route("/apps/{app_id}/channels", get(pusher_api::channels))
        .route(
            "/apps/{app_id}/channels/{channel}",
            get(pusher_api::channel),
        )
        .route(
            "/apps/{app_id}/channels/{channel}/users",
            get(pusher_api::channel_users),
        )
        .route(
            "/apps/{app_id}/users/{user_id}/terminate_connections",
            post(pusher_api::terminate_connections),
        )
        .route("/sdk/ClassHub.luau", get(luau_sdk))
        .route("/dashboard", get(crate::dashboard::page))
        .route("/dashboard/", get(crate::dashboard::page))
        .route(
            "/dashboard/transport.json",
            get(crate::dashboard::transport),
        )
        .route("/dashboard/{*path}", get(crate::dashboard::asset))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        // Outermost but after routing, so it sees the matched route's template.
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .with_state(app)
}

async fn health(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "status": if app.shutdown().is_cancelled() { "shutting_down" } else { "ok" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": app.uptime().as_secs(),
        "connections": app.hub().connection_count(),
        "rooms": app.hub().room_count(),
    }))
}

async fn metrics(State(app): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.prometheus().render(),
    )
        .into_response()
}

/// The Luau SDK for Roblox game servers, as one file (`lua-sdk/src/ClassHub.luau`, embedded at
/// build time so the binary always serves the SDK that matches its routes).
async fn luau_sdk() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"ClassHub.luau\"",
            ),
        ],
        include_str!("../../lua-sdk/src/ClassHub.luau"),
    )
        .into_response()
}

/// Unknown routes answer in the REST error shape (`"code": "not_found"`), which is what the
/// REST and Roblox clients read.
async fn not_found(uri: axum::http::Uri) -> Response {
    let message = if uri.path().starts_with("/api/") {
        "no such route; see /docs for the REST API"
    } else {
        "no such route; see the README for the endpoints classhub serves"
    };
    crate::api::ApiError::new(crate::api::ErrorKind::NotFound, message).into_response()
}
