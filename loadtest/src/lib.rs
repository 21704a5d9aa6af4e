//! classhub's load-test harness as a library: scenarios that open many real WebSocket
//! connections (or, for `search`, REST clients) to a hub on this machine, drive them for a
//! warm-up and a fixed measured window, and return a [`Report`] (rates, hdrhistogram latency
//! percentiles in microseconds, errors).
//! The `classhub-loadtest` binary is a thin clap wrapper over [`scenarios`]; the
//! `classhub-baseline` binary wraps [`baseline`], the smallest broadcast server that answers the
//! same `fanout` scenario, so the hub's overhead over that floor shows as a ratio.
//!
//! Map: [`target`] (which URL may be loaded: loopback only unless told otherwise) and
//! [`credentials`] (tokens given or minted with the server's secret) feed [`scenarios::Common`];
//! [`client`] is the only module that speaks the wire (native protocol v1 through
//! `protocol::Codec`); [`stats`] holds histograms, [`report`] the result and its JSON,
//! [`progress`] the terminal bar, [`system`] the file-descriptor limit and `/proc` readings.
//!
//! [`pusher`] is the Pusher protocol 7 client beside [`client`] (member sockets and the signed
//! HTTP API trigger), behind [`WireProtocol::Pusher`]; `fanout` and `connections` speak it
//! (the other scenarios refuse it), so both run against any Pusher server given its
//! `--app-id/--app-key/--app-secret`. `loadtest/compare.sh` uses that to run them against
//! classhub and Sockudo side by side on loopback. [`quic`] is the native protocol over QUIC
//! (`--protocol quic --quic-port N`), which `fanout` members and `connections` speak;
//! [`relay`] is an impaired loopback path (lossy UDP, stalling TCP) for the lossy figures.
//!
//! This crate must not touch the server's internals: it reaches a hub only over sockets and links
//! no classhub crate but `protocol`. Tokens are minted here with the server's claims and Pusher
//! apps derived with `protocol::pusher::apps`; only the integration tests use `server` (an
//! in-process hub, and checks that it accepts what the harness mints and links no `server`).

pub mod baseline;
pub mod client;
pub mod credentials;
pub mod progress;
pub mod pusher;
pub mod quic;
pub mod relay;
pub mod report;
pub mod scenarios;
pub mod stats;
pub mod system;
pub mod target;

pub use client::WireProtocol;
pub use credentials::Credentials;
pub use report::Report;
pub use scenarios::Common;
pub use target::Target;
