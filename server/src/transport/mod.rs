//! Front doors into the hub. Each transport turns its wire into `Session` calls and drains the
//! session's outbound queue into its socket. Only the native WebSocket protocol exists so far;
//! Pusher, QUIC and Roblox HTTP arrive with their issues and must end in the same hub calls.

pub mod native;
pub mod pusher;
pub mod pusher_api;
pub mod socket;
