//! The classhub server as a library: the hub that holds live rooms in memory, the transports
//! that are its front doors, people's authentication, configuration and metrics. The binary
//! (`main.rs`) is a thin CLI over [`app::start`]; tests and benches use the same entry points.
//!
//! Map: [`hub`] (rooms, presence, history, fan-out; knows nothing of HTTP) ←
//! [`transport`] (native WebSocket protocol) ← [`http`] (router, health, metrics) ← [`app`]
//! (start-up, shutdown); [`api`] is the REST API under `/api/v1`; [`billing`] (Stripe,
//! plans, entitlements) and [`ai`] (the tutor's model calls and safety screen) serve its payment
//! and AI routes; [`dashboard`] is the embedded web dashboard at `/dashboard` (its operator view
//! reads [`recent_errors`]), [`demo`] the demo classroom of `classhub serve --demo`.
//! [`auth`] verifies tokens,
//! [`directory`] admits their users, [`config`] resolves settings. The wire types
//! live in the `protocol` crate; this crate must not define wire shapes of its own.

pub mod ai;
pub mod api;
pub mod app;
pub mod apps;
pub mod auth;
pub mod billing;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod directory;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod recent_errors;
pub mod roblox;
pub mod transport;
pub mod webhooks;

pub use app::{AppState, RunningServer, start};
pub use config::Config;
