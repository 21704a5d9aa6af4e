//! Front doors into the hub. Each transport turns its wire into `Session` calls and drains the
//! session's outbound queue into its socket: [`native`] (the native protocol on `/ws`, JSON or
//! MessagePack, and the same code for QUIC), [`quic`] (the native protocol over QUIC on
//! `--quic-bind`, framed by [`quic_frames`], with the certificate of [`tls`]), [`carrier`] (what
//! the native reader and writer need of a WebSocket or a QUIC stream), [`pusher`] (Pusher Channels protocol 7 sockets on `/app/{key}`), [`pusher_api`]
//! (`/pusher/auth`, `/pusher/user-auth` and the signed Pusher HTTP API), [`socket`] (the writer
//! task and close handshake both socket transports share), [`slots`] (per-tenant and per-IP
//! connection caps), [`throttle`] (the one per-connection frame budget, and the cut-off for
//! clients that keep sending refused frames), [`pusher_apps`] (each tenant's Pusher
//! credentials), [`webhooks`] (Pusher webhooks, batched and signed per tenant) and [`settings`]
//! (what the operator may set about sockets, and its checks). Roblox's HTTP routes
//! (`crate::roblox::routes`) end in the same hub calls.

pub mod carrier;
pub mod native;
pub mod pusher;
pub mod pusher_api;
pub mod pusher_apps;
pub mod quic;
pub mod quic_frames;
pub mod settings;
pub mod slots;
pub mod socket;
pub mod throttle;
pub mod tls;
pub mod webhooks;
