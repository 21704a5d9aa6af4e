//! The HTTP surface: the router, `GET /health`, `GET /metrics`, and the JSON error shape
//! `{"error": {"code", "message"}}` used by every non-WebSocket answer.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use protocol::ErrorCode;
use serde_json::json;

use crate::app::AppState;
use crate::transport::native;

/// Every route of the server.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/ws", get(native::upgrade))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(app)
}

/// A JSON error answer.
pub fn error_response(status: StatusCode, code: ErrorCode, message: String) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code.code(), "message": message } })),
    )
        .into_response()
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

async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        ErrorCode::InvalidMessage,
        "no such route; see the README for the endpoints classhub serves".into(),
    )
}
