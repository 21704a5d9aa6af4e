//! Roblox game servers as classhub sees them, with no server state: game-server keys
//! ([`keys`]), the tolerant reading of Roblox-shaped JSON ([`json`]), the request and answer
//! types of the HTTP ingest and command long-poll ([`wire`]), the rules that link a Roblox
//! player to a roster student ([`link`]), and the Open Cloud client that wakes game servers
//! through MessagingService ([`open_cloud`]).
//!
//! It depends on `protocol` (limits, command kinds) and knows nothing of the hub, HTTP
//! routing or SQL: the server owns sessions and persistence, this crate owns the shapes and
//! rules they follow. The Luau SDK in `lua-sdk/` speaks exactly the shapes in [`wire`].

pub mod json;
pub mod keys;
pub mod link;
pub mod open_cloud;
pub mod wire;
