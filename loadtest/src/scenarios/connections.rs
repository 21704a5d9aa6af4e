//! `connections`: opens C idle, authenticated sockets (optionally each joining one of
//! `rooms` class rooms), spread over source addresses 127.0.0.1..=127.0.0.n so that more than
//! one address's ~28 000 ephemeral ports can be used, holds them through the warm-up and the
//! measured window (answering the hub's pings), and reports the connect rate, connect→welcome
//! latency and — when the hub's pid is given or found listening on the target's port — the
//! hub's resident memory per socket (VmRSS before the first connect vs after the warm-up).
//!
//! With `--protocol pusher` the sockets are Pusher protocol 7 sockets of the app
//! (`/app/{key}?protocol=7`, no token), each waiting for `pusher:connection_established` and,
//! with `rooms`, subscribing to the public channel `loadtest-{run}-{n}` round-robin; held
//! sockets answer `pusher:ping`. So the scenario runs against any Pusher server (Sockudo).
//!
//! With `--protocol quic` (and `--quic-port`) the connections are QUIC connections of the
//! native protocol (JSON), so the hub's memory per idle QUIC connection compares with a
//! `--protocol json` run.
//!
//! Entry point: [`run`].

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use protocol::Codec;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{
    Common, MAX_CONNECTIONS, check_count, nothing_opened, open_many, per_sec, resolve_tenant,
    round_ms, run_id, secs, server_pid, wait_window,
};
use crate::client::{self, WireProtocol, WsStream};
use crate::credentials::Role;
use crate::progress::Progress;
use crate::pusher::{self, PusherApp};
use crate::quic::{Dialer, QuicConnection};
use crate::report::{ConnectionsResults, Report, Results};
use crate::stats::{Errors, Latencies, Window, unix_millis};
use crate::system;

/// What `connections` is asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// Target, credentials, warm-up (settling before memory is read), duration (the hold).
    pub common: Common,
    /// `json`, `msgpack` or `pusher`.
    pub protocol: WireProtocol,
    /// Sockets to open.
    pub count: u64,
    /// Connections opened at once.
    pub concurrency: usize,
    /// Source addresses (127.0.0.1..=127.0.0.n) to spread sockets over.
    pub source_addresses: u8,
    /// Class rooms (Pusher: public channels) the sockets join round-robin; 0 leaves them in
    /// none.
    pub rooms: u64,
    /// The hub's pid, for its memory; found from the target's port when `None` and local.
    pub server_pid: Option<u32>,
    /// Prefix of user and room ids; `None`: a new random one (the report names it).
    pub run_id: Option<String>,
}

impl Config {
    /// 1 000 sockets in no room, 200 opening at once, over 4 source addresses.
    pub fn new(common: Common) -> Config {
        Config {
            common,
            protocol: WireProtocol::Json,
            count: 1000,
            concurrency: 200,
            source_addresses: 4,
            rooms: 0,
            server_pid: None,
            run_id: None,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.common.validate()?;
        check_count("count", self.count, MAX_CONNECTIONS)?;
        if self.rooms > 0 {
            check_count("rooms", self.rooms, self.count)?;
        }
        Ok(())
    }
}

/// How the sockets speak.
enum Wire {
    /// Native protocol v1 with a token per socket; rooms are class rooms of `tenant`.
    Native { codec: Codec, tenant: String },
    /// Pusher protocol 7 for `app`; rooms are public channels.
    Pusher(PusherApp),
    /// Native protocol v1 (JSON) over QUIC; rooms are class rooms of `tenant`.
    Quic { dialer: Dialer, tenant: String },
}

/// Everything the holding tasks share.
struct Shared {
    /// Cancelled when the hold ends.
    stop: CancellationToken,
    /// Sockets the hub closed while they were held.
    closed_by_server: AtomicU64,
}

/// Runs the scenario and returns its report.
pub async fn run(config: Config) -> anyhow::Result<Report> {
    let pusher_app = match config.protocol {
        WireProtocol::Pusher => Some(config.common.pusher_app()?),
        WireProtocol::Quic => None,
        native => {
            native.codec()?;
            None
        }
    };
    config.validate()?;
    let common = &config.common;
    let started_at_unix_ms = unix_millis();
    system::raise_fd_limit(config.count)?;
    let mut notes = Vec::new();
    let server_pid = server_pid(common, config.server_pid, &mut notes)?;
    let read_cpu = |pid: Option<u32>| pid.and_then(|pid| system::cpu_secs(pid).ok());
    let read_rss = |pid: Option<u32>| pid.and_then(|pid| system::vm_rss_kib(pid).ok());
    let rss_before_kib = read_rss(server_pid);
    let wire = match pusher_app {
        Some(app) => Wire::Pusher(app),
        None if config.protocol == WireProtocol::Quic => Wire::Quic {
            dialer: Dialer::new(config.count, Codec::Json)?,
            tenant: resolve_tenant(common, Codec::Json).await?,
        },
        None => {
            let codec = config.protocol.codec()?;
            let tenant = resolve_tenant(common, codec).await?;
            Wire::Native { codec, tenant }
        }
    };
    let run_id = config.run_id.clone().unwrap_or_else(run_id);
    let sources = common.target.source_addresses(config.source_addresses);
    let shared = Arc::new(Shared {
        stop: CancellationToken::new(),
        closed_by_server: AtomicU64::new(0),
    });
    let progress = Progress::new(common.show_progress);
    let mut errors = Errors::default();

    progress.phase("connecting", config.count);
    let connect_start = Instant::now();
    let cpu_before = read_cpu(server_pid);
    let opened = open_many(config.count, config.concurrency, &progress, |index| {
        let source = sources[index as usize % sources.len()];
        let user = format!("{run_id}-s{index}");
        let room = (config.rooms > 0).then(|| {
            let room_index = index % config.rooms.max(1);
            match &wire {
                Wire::Native { tenant, .. } | Wire::Quic { tenant, .. } => {
                    format!("class:{tenant}:{run_id}-{room_index}")
                }
                Wire::Pusher(_) => format!("loadtest-{run_id}-{room_index}"),
            }
        });
        open_one(&config, &wire, user, room, source, Arc::clone(&shared))
    })
    .await;
    let connect_time = connect_start.elapsed();
    let server_connect_cpu_secs = match (cpu_before, read_cpu(server_pid)) {
        (Some(before), Some(after)) => Some(round_ms(after - before)),
        _ => None,
    };
    let mut latencies = Latencies::new()?;
    let mut holders = Vec::with_capacity(opened.len());
    for outcome in opened {
        match outcome {
            Ok((latency, holder)) => {
                latencies.record(latency);
                holders.push(holder);
            }
            Err(error) => errors.add("connect", || format!("{error:#}")),
        }
    }
    if holders.is_empty() {
        return Err(nothing_opened("connection", errors.sample.first()));
    }
    let n_opened = holders.len() as u64;

    let window = Window::after_warmup(common.warmup, common.duration);
    let mut rss_after_kib = None;
    let status = || {
        format!(
            "{n_opened} open, {} closed by the server",
            shared.closed_by_server.load(Ordering::Relaxed)
        )
    };
    wait_window(&window, &progress, status, || {
        rss_after_kib = read_rss(server_pid);
    })
    .await;
    let rss_end_kib = read_rss(server_pid);
    shared.stop.cancel();
    for holder in holders {
        let holder_errors = holder.await.context("a holding task failed")?;
        errors.merge(holder_errors);
    }
    let closed_by_server = shared.closed_by_server.load(Ordering::Relaxed);
    let rss_per_connection_bytes = match (rss_before_kib, rss_after_kib) {
        (Some(before), Some(after)) => {
            Some((after.saturating_sub(before) as f64 * 1024.0 / n_opened as f64).round())
        }
        _ => None,
    };
    if server_pid.is_none() {
        notes.push("the hub's pid was not given or found, so its memory was not read".to_owned());
    }
    if let (Wire::Quic { .. }, Some(addr)) = (&wire, common.target.quic_addr()) {
        notes.push(format!(
            "over QUIC to udp {addr}: each connection authenticates with an auth frame on its \
             one stream; the hub's memory per connection includes quinn's per-connection state"
        ));
    }
    if let Wire::Native { .. } | Wire::Quic { .. } = &wire {
        notes.push(format!(
            "users {run_id}-s0 … {run_id}-s{}: --run-id {run_id} connects the same users again",
            config.count.saturating_sub(1)
        ));
    }
    if let Wire::Pusher(app) = &wire {
        notes.push(format!(
            "over Pusher (app {}): sockets open /app/{{key}}?protocol=7 without a token{}",
            app.app_id,
            if config.rooms > 0 {
                format!(" and subscribe to public channels loadtest-{run_id}-N")
            } else {
                String::new()
            }
        ));
    }
    let latency_of = match (&wire, config.rooms > 0) {
        (Wire::Native { .. }, true) => "TCP connect to joined",
        (Wire::Native { .. }, false) => "TCP connect to welcome",
        (Wire::Quic { .. }, true) => "QUIC handshake start to joined",
        (Wire::Quic { .. }, false) => "QUIC handshake start to welcome",
        (Wire::Pusher(_), true) => "TCP connect to subscription_succeeded",
        (Wire::Pusher(_), false) => "TCP connect to connection_established",
    };
    Ok(Report {
        scenario: "connections".into(),
        target: common.target.display().to_owned(),
        protocol: config.protocol.as_str().into(),
        started_at_unix_ms,
        setup_secs: secs(connect_time),
        warmup_secs: secs(common.warmup),
        duration_secs: secs(window.duration()),
        connections: n_opened,
        latency_of: latency_of.into(),
        latency_us: latencies.percentiles(),
        results: Results::Connections(ConnectionsResults {
            requested: config.count,
            opened: n_opened,
            failed: config.count - n_opened,
            source_addresses: sources.len() as u64,
            connect_secs: secs(connect_time),
            connects_per_sec: per_sec(n_opened, connect_time),
            held_at_end: n_opened.saturating_sub(closed_by_server),
            closed_by_server,
            server_pid,
            rss_before_kib,
            rss_after_kib,
            rss_end_kib,
            rss_per_connection_bytes,
            server_connect_cpu_secs,
        }),
        errors,
        notes,
    })
}

/// Opens one socket (and joins its room), returning the time that took and its holding task.
async fn open_one(
    config: &Config,
    wire: &Wire,
    user: String,
    room: Option<String>,
    source: Option<IpAddr>,
    shared: Arc<Shared>,
) -> anyhow::Result<(Duration, JoinHandle<Errors>)> {
    let target = &config.common.target;
    match wire {
        Wire::Native { codec, .. } => {
            let token = config.common.credentials.token_for(Role::Student, &user)?;
            let started = Instant::now();
            let mut connection = client::connect(target, *codec, &token, source).await?;
            connection.welcome().await?;
            if let Some(room) = room {
                connection.join(&room, 1).await?;
            }
            let latency = started.elapsed();
            Ok((latency, tokio::spawn(hold(connection.ws, false, shared))))
        }
        Wire::Quic { dialer, .. } => {
            let addr = target
                .quic_addr()
                .context("--protocol quic needs --quic-port")?;
            let token = config.common.credentials.token_for(Role::Student, &user)?;
            let started = Instant::now();
            let mut connection = dialer.connect(addr, Codec::Json, &token).await?;
            connection.welcome().await?;
            if let Some(room) = room {
                connection.join(&room, 1).await?;
            }
            let latency = started.elapsed();
            Ok((latency, tokio::spawn(hold_quic(connection, shared))))
        }
        Wire::Pusher(app) => {
            let started = Instant::now();
            let mut member = pusher::connect(target, &app.key, source).await?;
            if let Some(channel) = room {
                member.subscribe(&channel).await?;
            }
            let latency = started.elapsed();
            Ok((latency, tokio::spawn(hold(member.ws, true, shared))))
        }
    }
}

/// Keeps a socket open, reading (so pings are answered; over Pusher also `pusher:ping`) until
/// the stop.
async fn hold(mut ws: WsStream, pusher: bool, shared: Arc<Shared>) -> Errors {
    let mut errors = Errors::default();
    loop {
        let next = tokio::select! {
            _ = shared.stop.cancelled() => {
                client::close_ws(ws).await;
                return errors;
            }
            next = ws.next() => next,
        };
        match next {
            Some(Ok(frame)) if !frame.is_close() => {
                if pusher && is_pusher_ping(&frame) {
                    let pong = serde_json::to_string(&pusher::pong()).unwrap_or_default();
                    if let Err(error) = ws.send(Message::text(pong)).await {
                        errors.add("socket", || format!("held socket's pong failed: {error}"));
                        break;
                    }
                }
            }
            Some(Ok(frame)) => {
                errors.add("closed", || {
                    format!("held socket closed by the server: {frame:?}")
                });
                break;
            }
            Some(Err(error)) => {
                errors.add("socket", || format!("held socket failed: {error}"));
                break;
            }
            None => {
                errors.add("closed", || "held socket ended".into());
                break;
            }
        }
    }
    shared.closed_by_server.fetch_add(1, Ordering::Relaxed);
    errors
}

/// Keeps a QUIC connection open, reading what comes (QUIC's keep-alives need no answer of
/// ours), until the stop.
async fn hold_quic(mut connection: QuicConnection, shared: Arc<Shared>) -> Errors {
    let mut errors = Errors::default();
    loop {
        let next = tokio::select! {
            _ = shared.stop.cancelled() => {
                connection.close();
                return errors;
            }
            next = connection.next_frame() => next,
        };
        match next {
            Ok(Some(_)) => {}
            Ok(None) => {
                let code = connection.closed_with();
                errors.add("closed", || {
                    format!("held QUIC connection closed by the server (code {code:?})")
                });
                break;
            }
            Err(error) => {
                errors.add("socket", || {
                    format!("held QUIC connection failed: {error:#}")
                });
                break;
            }
        }
    }
    shared.closed_by_server.fetch_add(1, Ordering::Relaxed);
    errors
}

/// True for a Pusher `pusher:ping` frame.
fn is_pusher_ping(frame: &Message) -> bool {
    client::payload(frame)
        .and_then(|bytes| pusher::probe(bytes).ok())
        .is_some_and(|probe| probe.event == "pusher:ping")
}
