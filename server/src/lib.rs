//! The classhub server as a library: the hub that holds live rooms in memory, the transports
//! that are its front doors, and one folder per feature. The binary (`main.rs`) is a thin CLI
//! over [`app::start`]; tests and benches use the same entry points.
//!
//! Map: [`hub`] (rooms, presence, history, fan-out, sessions; knows nothing of HTTP) ←
//! [`transport`] (native `/ws`, Pusher sockets and HTTP API, Pusher apps and webhooks) ←
//! [`http`] (router, health, metrics) ← [`app`] (start-up, shutdown). Features, each owning its
//! routes, logic and state: [`roblox`] (game servers), [`platform`] (users, classes, content,
//! progress, analytics, notifications, teachers' commands), [`chat`] (moderated class chat), [`media`] (uploaded files, thumbnails), [`ai`] (the tutor), [`billing`]
//! (Stripe, plans, entitlements), [`dashboard`] (the embedded web dashboard, the operator
//! overview and its recent errors), [`demo`] (`classhub serve --demo`). Shared kits: [`api`]
//! (the REST error shape, extractors, caller, pages, limits, OpenAPI), [`auth`] (tokens, the
//! one bearer parser, the user directory), [`config`] (settings), [`metrics`]. The wire types
//! live in the `protocol` crate; this crate must not define wire shapes of its own.

pub mod ai;
pub mod api;
pub mod app;
pub mod auth;
pub mod billing;
pub mod chat;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod http;
pub mod hub;
pub mod media;
pub mod metrics;
pub mod platform;
pub mod privacy;
pub mod roblox;
pub mod transport;

pub use app::{AppState, QuicListening, RunningServer, start};
pub use config::Config;
