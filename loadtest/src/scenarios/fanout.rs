//! `fanout`: R class rooms × M student members, one educator publisher per room (educators
//! publish without joining), publishing `loadtest` events at `rate` events/s in total. Each
//! event carries its send time in `data.t` (microseconds since the Unix epoch); every member
//! records `receive time − data.t` for deliveries in the measured window. Reports deliveries/s,
//! end-to-end latency percentiles, publish errors and the slow-consumer closes (4100) seen.
//!
//! Entry point: [`run`]. Works unchanged against `classhub-baseline`, which answers the same
//! frames.
//!
//! With `--protocol pusher` the members are Pusher sockets subscribed to the public channel
//! `loadtest-{run}-{room}` (no tokens), and each room's publisher triggers through the signed
//! Pusher HTTP API (`POST /apps/{id}/events`, one keep-alive HTTP client for all), on the same
//! schedule; `data` is a JSON string holding `t`, so latency is measured exactly as over JSON.
//! Non-2xx answers count as publish errors. Works against classhub and Sockudo alike.
//!
//! With `--protocol quic` (and `--quic-port`) the members connect over QUIC (`crate::quic`,
//! JSON) and the publishers over `/ws` (JSON), so deliveries/s, latency and the server's CPU
//! per delivery compare with a `--protocol json` run of the same shape.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, anyhow, ensure};
use futures_util::future::Either;
use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMessage, CloseCode, Codec, Ref};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{
    Common, MAX_CONNECTIONS, MAX_PAYLOAD_BYTES, MAX_RATE, check_count, nothing_opened, open_many,
    padding, per_sec, resolve_tenant, round_ms, run_id, secs, server_pid, wait_window,
};
use crate::client::{self, Connection, FrameKind, WireProtocol};
use crate::credentials::Role;
use crate::progress::Progress;
use crate::pusher::{self, PusherApp};
use crate::quic::{Dialer, QuicConnection};
use crate::report::{FanoutResults, Report, Results};
use crate::stats::{Errors, LatencyRecorder, SharedLatencies, Window, unix_micros, unix_millis};
use crate::system;
use crate::target::Target;
use std::net::SocketAddr;

/// What `fanout` is asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// Target, credentials, warm-up, duration.
    pub common: Common,
    /// `json`, `msgpack` or `pusher`.
    pub protocol: WireProtocol,
    /// Rooms, each with its own publisher.
    pub rooms: u64,
    /// Members per room.
    pub members: u64,
    /// Events per second over all rooms.
    pub rate: f64,
    /// Extra payload bytes per event (`data.pad`).
    pub payload_bytes: usize,
    /// Connections opened at once during setup.
    pub concurrency: usize,
    /// Source addresses (127.0.0.1..=127.0.0.n) to spread sockets over.
    pub source_addresses: u8,
    /// The server's pid, for its CPU time in the window; found from the target's port when
    /// `None` and local.
    pub server_pid: Option<u32>,
    /// Native members connect to this port of the target's host instead (a relay in front of
    /// the hub); publishers use the target.
    pub member_port: Option<u16>,
}

impl Config {
    /// 10 rooms × 10 members at 100 events/s over JSON.
    pub fn new(common: Common) -> Config {
        Config {
            common,
            protocol: WireProtocol::Json,
            rooms: 10,
            members: 10,
            rate: 100.0,
            payload_bytes: 0,
            concurrency: 64,
            source_addresses: 1,
            server_pid: None,
            member_port: None,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.common.validate()?;
        check_count("rooms", self.rooms, MAX_CONNECTIONS)?;
        check_count("members", self.members, MAX_CONNECTIONS)?;
        ensure!(
            self.rooms.saturating_mul(self.members.saturating_add(1)) <= MAX_CONNECTIONS,
            "--rooms x (--members + 1) must be at most {MAX_CONNECTIONS} connections"
        );
        ensure!(
            self.rate > 0.0 && self.rate <= MAX_RATE,
            "--rate must be more than 0 and at most {MAX_RATE} events/s"
        );
        ensure!(
            self.payload_bytes <= MAX_PAYLOAD_BYTES,
            "--payload-bytes must be at most {MAX_PAYLOAD_BYTES}"
        );
        Ok(())
    }
}

/// Counters the progress bar reads while the run goes on (whole run, warm-up included).
#[derive(Debug, Default)]
struct Live {
    deliveries: AtomicU64,
    published: AtomicU64,
}

/// Largest `--payload-bytes` over Pusher, whose HTTP API takes at most 10 KB of data.
pub const MAX_PUSHER_PAYLOAD_BYTES: usize = 10 * 1024 - 128;

/// How members and publishers speak.
enum Wire {
    Native(Codec),
    Pusher(PusherApp),
    /// Members over QUIC (JSON); publishers over `/ws` (JSON).
    Quic(Arc<Dialer>),
}

impl Wire {
    /// The codec of native publishers (`None`: Pusher's HTTP API).
    fn publisher_codec(&self) -> Option<Codec> {
        match self {
            Wire::Native(codec) => Some(*codec),
            Wire::Quic(_) => Some(Codec::Json),
            Wire::Pusher(_) => None,
        }
    }
}

/// A room's publisher before its loop starts.
enum PublisherSide {
    Native(Connection),
    Pusher(pusher::Publisher),
}

/// Everything the tasks share.
struct Shared {
    /// Set once, when setup is over; until then nothing is counted.
    window: OnceLock<Window>,
    /// Cancelled at the end of the window: every task closes its socket and returns.
    stop: CancellationToken,
    live: Live,
    /// Delivery latencies in the window, from every member.
    latencies: SharedLatencies,
}

/// One member's figures (its latencies went into [`Shared::latencies`]).
struct MemberOutcome {
    deliveries: u64,
    /// The close code, when the server closed this member before the end.
    closed_by_server: Option<Option<u16>>,
    errors: Errors,
}

/// One publisher's figures.
#[derive(Default)]
struct PublisherOutcome {
    published: u64,
    publish_errors: u64,
    errors: Errors,
}

impl PublisherOutcome {
    /// An empty outcome and the measured window, or an outcome holding the internal error of a
    /// publisher started before setup ended.
    fn start(shared: &Shared) -> Result<(PublisherOutcome, Window), PublisherOutcome> {
        let mut outcome = PublisherOutcome::default();
        match shared.window.get().copied() {
            Some(window) => Ok((outcome, window)),
            None => {
                outcome
                    .errors
                    .add("internal", || "publisher started before the window".into());
                Err(outcome)
            }
        }
    }
}

/// Runs the scenario and returns its report.
pub async fn run(config: Config) -> anyhow::Result<Report> {
    config.validate()?;
    let n_members = config.rooms * config.members;
    let wire = match config.protocol {
        WireProtocol::Pusher => Wire::Pusher(config.common.pusher_app()?),
        WireProtocol::Quic => Wire::Quic(Arc::new(Dialer::new(n_members, Codec::Json)?)),
        native => Wire::Native(native.codec()?),
    };
    if matches!(wire, Wire::Pusher(_)) {
        ensure!(
            config.payload_bytes <= MAX_PUSHER_PAYLOAD_BYTES,
            "--payload-bytes must be at most {MAX_PUSHER_PAYLOAD_BYTES} over Pusher (its HTTP \
             API takes at most 10 KB of data per event)"
        );
    }
    let common = &config.common;
    let started_at_unix_ms = unix_millis();
    system::raise_fd_limit(n_members + config.rooms)?;
    let mut notes = Vec::new();
    let server_pid = server_pid(common, config.server_pid, &mut notes)?;
    let run_id = run_id();
    // Native rooms are class rooms of the tenant; Pusher rooms are public channels of the app.
    let rooms: Vec<String> = match &wire {
        Wire::Native(_) | Wire::Quic(_) => {
            let codec = wire.publisher_codec().unwrap_or(Codec::Json);
            let tenant = resolve_tenant(common, codec).await?;
            (0..config.rooms)
                .map(|room_index| format!("class:{tenant}:{run_id}-{room_index}"))
                .collect()
        }
        Wire::Pusher(_) => (0..config.rooms)
            .map(|room_index| format!("loadtest-{run_id}-{room_index}"))
            .collect(),
    };
    let sources = common.target.source_addresses(config.source_addresses);
    let shared = Arc::new(Shared {
        window: OnceLock::new(),
        stop: CancellationToken::new(),
        live: Live::default(),
        latencies: SharedLatencies::new()?,
    });
    let progress = Progress::new(common.show_progress);
    let mut errors = Errors::default();
    let setup_start = Instant::now();

    progress.phase("members", n_members);
    let opened = open_many(n_members, config.concurrency, &progress, |index| {
        let room = &rooms[(index / config.members) as usize];
        let source = sources[index as usize % sources.len()];
        match &wire {
            Wire::Native(codec) => {
                let user = format!("{run_id}-s{index}");
                Either::Left(open_member(&config, *codec, &shared, room, user, source))
            }
            Wire::Pusher(app) => Either::Right(Either::Left(open_pusher_member(
                &config.common,
                &app.key,
                &shared,
                room,
                source,
            ))),
            Wire::Quic(dialer) => {
                let user = format!("{run_id}-s{index}");
                Either::Right(Either::Right(open_quic_member(
                    &config, dialer, &shared, room, user,
                )))
            }
        }
    })
    .await;
    let mut member_tasks = Vec::with_capacity(opened.len());
    for outcome in opened {
        match outcome {
            Ok(task) => member_tasks.push(task),
            Err(error) => errors.add("setup_member", || format!("{error:#}")),
        }
    }

    let mut publishers = Vec::with_capacity(config.rooms as usize);
    match &wire {
        Wire::Native(_) | Wire::Quic(_) => {
            let codec = wire.publisher_codec().unwrap_or(Codec::Json);
            progress.phase("publishers", config.rooms);
            let opened = open_many(config.rooms, config.concurrency, &progress, |room_index| {
                let source = sources[room_index as usize % sources.len()];
                let user = format!("{run_id}-e{room_index}");
                open_publisher(&config, codec, room_index, user, source)
            })
            .await;
            for outcome in opened {
                match outcome {
                    Ok((room_index, connection)) => {
                        publishers.push((room_index, PublisherSide::Native(connection)));
                    }
                    Err(error) => errors.add("setup_publisher", || format!("{error:#}")),
                }
            }
        }
        Wire::Pusher(app) => {
            let pool = usize::try_from(config.rooms).unwrap_or(usize::MAX);
            let publisher = pusher::Publisher::new(&common.target, app.clone(), pool)?;
            publishers.extend(
                (0..config.rooms)
                    .map(|room_index| (room_index, PublisherSide::Pusher(publisher.clone()))),
            );
        }
    }
    if member_tasks.is_empty() || publishers.is_empty() {
        shared.stop.cancel();
        let what = if member_tasks.is_empty() {
            "member"
        } else {
            "publisher"
        };
        for task in member_tasks {
            // The run is failing; the members only need to have closed their sockets.
            let _outcome_not_needed = task.await;
        }
        return Err(nothing_opened(what, errors.sample.first()));
    }
    let setup = setup_start.elapsed();

    let window = Window::after_warmup(common.warmup, common.duration);
    shared
        .window
        .set(window)
        .map_err(|_| anyhow!("the window was set twice"))?;
    let period = Duration::from_secs_f64(config.rooms as f64 / config.rate);
    let pad = padding(config.payload_bytes);
    // Pusher publishers are HTTP API calls over a shared pool, not sockets of their own.
    let connections = match &wire {
        Wire::Native(_) | Wire::Quic(_) => (member_tasks.len() + publishers.len()) as u64,
        Wire::Pusher(_) => member_tasks.len() as u64,
    };
    let publisher_tasks: Vec<JoinHandle<PublisherOutcome>> = publishers
        .into_iter()
        .map(|(room_index, side)| {
            let offset = period.mul_f64(room_index as f64 / config.rooms as f64);
            let room = rooms[room_index as usize].clone();
            let first_tick = window.load_start + offset;
            match side {
                PublisherSide::Native(connection) => tokio::spawn(publish_loop(
                    connection,
                    room,
                    first_tick,
                    period,
                    pad.clone(),
                    Arc::clone(&shared),
                )),
                PublisherSide::Pusher(publisher) => tokio::spawn(pusher_publish_loop(
                    publisher,
                    room,
                    first_tick,
                    period,
                    pad.clone(),
                    Arc::clone(&shared),
                )),
            }
        })
        .collect();

    let last = Cell::new((Instant::now(), 0_u64));
    let status = || {
        let deliveries = shared.live.deliveries.load(Ordering::Relaxed);
        let (then, before) = last.replace((Instant::now(), deliveries));
        let rate = (deliveries - before) as f64 / then.elapsed().as_secs_f64().max(1e-3);
        format!(
            "published {}, deliveries {deliveries} ({rate:.0}/s)",
            shared.live.published.load(Ordering::Relaxed)
        )
    };
    // CPU time (server, harness, whole machine) at the start and the end of the window.
    let read_cpu = || {
        let server = server_pid.and_then(|pid| system::cpu_secs(pid).ok());
        let harness = system::cpu_secs(std::process::id()).ok();
        (server, harness, system::machine_busy_secs().ok())
    };
    let mut cpu_at_start = (None, None, None);
    wait_window(&window, &progress, status, || cpu_at_start = read_cpu()).await;
    let cpu_at_end = read_cpu();
    shared.stop.cancel();
    let cpu_delta = |start: Option<f64>, end: Option<f64>| Some(round_ms(end? - start?));
    let server_cpu_secs = cpu_delta(cpu_at_start.0, cpu_at_end.0);
    let harness_cpu_secs = cpu_delta(cpu_at_start.1, cpu_at_end.1);
    let machine_cpu_secs = cpu_delta(cpu_at_start.2, cpu_at_end.2);

    let (mut deliveries, mut slow_consumer_closes, mut other_closes) = (0, 0, 0);
    for task in member_tasks {
        let outcome = task.await.context("a member task failed")?;
        deliveries += outcome.deliveries;
        match outcome.closed_by_server {
            Some(Some(code)) if code == CloseCode::SlowConsumer.code() => slow_consumer_closes += 1,
            Some(_) => other_closes += 1,
            None => {}
        }
        errors.merge(outcome.errors);
    }
    let (mut published, mut publish_errors) = (0, 0);
    for task in publisher_tasks {
        let outcome = task.await.context("a publisher task failed")?;
        published += outcome.published;
        publish_errors += outcome.publish_errors;
        errors.merge(outcome.errors);
    }

    notes.push(
        "latency is receive time minus data.t, both read from this machine's wall clock at the \
         moment of sending and receiving (a publisher that falls behind its schedule sends \
         late rather than stamping the intended time)"
            .to_owned(),
    );
    if let Wire::Pusher(app) = &wire {
        notes.push(format!(
            "over Pusher (app {}): members subscribe to public channels loadtest-{run_id}-N; \
             publishers trigger through POST /apps/{}/events on one keep-alive HTTP client and \
             are not counted as connections; non-2xx answers are publish errors",
            app.app_id, app.app_id
        ));
    }
    if let (Wire::Quic(_), Some(addr)) = (&wire, common.target.quic_addr()) {
        notes.push(format!(
            "over QUIC: members connect to udp {addr} (ALPN classhub.v1.json, one stream of \
             length-prefixed frames each); publishers speak JSON over /ws"
        ));
    }
    if errors.by_kind.contains_key("error_3002") {
        notes.push(
            "publishes were rate limited (3002): start the hub with a higher --publish-rate and \
             --publish-burst than rate ÷ rooms"
                .to_owned(),
        );
    }
    let duration = window.duration();
    Ok(Report {
        scenario: "fanout".into(),
        target: common.target.display().to_owned(),
        protocol: config.protocol.as_str().into(),
        started_at_unix_ms,
        setup_secs: secs(setup),
        warmup_secs: secs(common.warmup),
        duration_secs: secs(duration),
        connections,
        latency_of: "publish (data.t) to delivery at a member".into(),
        latency_us: shared.latencies.snapshot().percentiles(),
        results: Results::Fanout(FanoutResults {
            rooms: config.rooms,
            members_per_room: config.members,
            target_rate: config.rate,
            published,
            publish_rate: per_sec(published, duration),
            deliveries,
            deliveries_per_sec: per_sec(deliveries, duration),
            expected_deliveries: published * config.members,
            slow_consumer_closes,
            other_closes,
            publish_errors,
            server_pid,
            server_cpu_secs,
            harness_cpu_secs,
            machine_cpu_secs,
        }),
        errors,
        notes,
    })
}

/// Connects a student, joins `room`, and starts its receive loop.
async fn open_member(
    config: &Config,
    codec: Codec,
    shared: &Arc<Shared>,
    room: &str,
    user: String,
    source: Option<std::net::IpAddr>,
) -> anyhow::Result<JoinHandle<MemberOutcome>> {
    let token = config.common.credentials.token_for(Role::Student, &user)?;
    let relayed = config
        .member_port
        .map(|port| Target::from_addr(SocketAddr::new(config.common.target.addr().ip(), port)));
    let target = relayed.as_ref().unwrap_or(&config.common.target);
    let mut connection = client::connect(target, codec, &token, source).await?;
    connection.welcome().await?;
    connection.join(room, 1).await?;
    let latencies = shared.latencies.recorder();
    Ok(tokio::spawn(receive_loop(
        connection,
        latencies,
        Arc::clone(shared),
    )))
}

/// Connects a student over QUIC, joins `room`, and starts its receive loop.
async fn open_quic_member(
    config: &Config,
    dialer: &Dialer,
    shared: &Arc<Shared>,
    room: &str,
    user: String,
) -> anyhow::Result<JoinHandle<MemberOutcome>> {
    let addr = config
        .common
        .target
        .quic_addr()
        .context("--protocol quic needs --quic-port")?;
    let token = config.common.credentials.token_for(Role::Student, &user)?;
    let mut connection = dialer.connect(addr, Codec::Json, &token).await?;
    connection.welcome().await?;
    connection.join(room, 1).await?;
    let latencies = shared.latencies.recorder();
    Ok(tokio::spawn(quic_receive_loop(
        connection,
        latencies,
        Arc::clone(shared),
    )))
}

/// A QUIC member: reads every frame until the stop, timing the events (as [`receive_loop`]).
async fn quic_receive_loop(
    mut connection: QuicConnection,
    mut latencies: LatencyRecorder,
    shared: Arc<Shared>,
) -> MemberOutcome {
    let mut deliveries = 0;
    let mut errors = Errors::default();
    let codec = connection.codec;
    let closed_by_server = loop {
        let next = tokio::select! {
            _ = shared.stop.cancelled() => break None,
            next = connection.next_frame() => next,
        };
        let bytes = match next {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                let code = connection
                    .closed_with()
                    .and_then(|code| u16::try_from(code).ok());
                if code != Some(CloseCode::SlowConsumer.code()) {
                    errors.add("closed", || {
                        format!("member closed by the server (code {code:?})")
                    });
                }
                break Some(code);
            }
            Err(error) => {
                errors.add("socket", || format!("{error:#}"));
                break Some(None);
            }
        };
        count_frame(
            codec,
            bytes,
            &shared,
            &mut deliveries,
            &mut latencies,
            &mut errors,
        );
    };
    latencies.flush();
    if closed_by_server.is_none() {
        connection.close();
    }
    MemberOutcome {
        deliveries,
        closed_by_server,
        errors,
    }
}

/// Counts one member frame: an event's delivery (timed by its `data.t`), or an `error`.
fn count_frame(
    codec: Codec,
    bytes: &[u8],
    shared: &Shared,
    deliveries: &mut u64,
    latencies: &mut LatencyRecorder,
    errors: &mut Errors,
) {
    let probe = match client::probe(codec, bytes) {
        Ok(probe) => probe,
        Err(error) => {
            errors.add("decode", || format!("{error:#}"));
            return;
        }
    };
    match probe.kind {
        FrameKind::Event | FrameKind::Command | FrameKind::Notification => {
            if let Some(sent_us) = probe.data.and_then(|data| data.t) {
                count_delivery(shared, deliveries, latencies, sent_us);
            }
        }
        FrameKind::Error => {
            let code = probe.code.unwrap_or(0);
            errors.add(&format!("error_{code}"), || {
                format!(
                    "member got error {code}: {}",
                    probe.message.unwrap_or_default()
                )
            });
        }
        _ => {}
    }
}

/// Connects the educator who publishes into room `room_index`.
async fn open_publisher(
    config: &Config,
    codec: Codec,
    room_index: u64,
    user: String,
    source: Option<std::net::IpAddr>,
) -> anyhow::Result<(u64, Connection)> {
    let token = config.common.credentials.token_for(Role::Educator, &user)?;
    let mut connection = client::connect(&config.common.target, codec, &token, source).await?;
    connection.welcome().await?;
    Ok((room_index, connection))
}

/// A member: reads every frame until the stop, timing the events.
async fn receive_loop(
    mut connection: Connection,
    mut latencies: LatencyRecorder,
    shared: Arc<Shared>,
) -> MemberOutcome {
    let mut deliveries = 0;
    let mut errors = Errors::default();
    let closed_by_server = loop {
        let frame = match next_member_frame(&mut connection.ws, &shared, &mut errors).await {
            Ok(frame) => frame,
            Err(closed_by_server) => break closed_by_server,
        };
        let Some(bytes) = client::payload(&frame) else {
            continue;
        };
        count_frame(
            connection.codec,
            bytes,
            &shared,
            &mut deliveries,
            &mut latencies,
            &mut errors,
        );
    };
    latencies.flush();
    if closed_by_server.is_none() {
        connection.close().await;
    }
    MemberOutcome {
        deliveries,
        closed_by_server,
        errors,
    }
}

/// The next frame of a member socket, or `Err(closed_by_server)` when the loop must end: `None`
/// at the stop, `Some(code)` when the server closed it (anything but a slow-consumer close is
/// counted as an error).
async fn next_member_frame(
    ws: &mut client::WsStream,
    shared: &Shared,
    errors: &mut Errors,
) -> Result<tokio_tungstenite::tungstenite::Message, Option<Option<u16>>> {
    let next = tokio::select! {
        _ = shared.stop.cancelled() => return Err(None),
        next = ws.next() => next,
    };
    let frame = match next {
        None => return Err(Some(None)),
        Some(Err(error)) => {
            errors.add("socket", || format!("member socket failed: {error}"));
            return Err(Some(None));
        }
        Some(Ok(frame)) => frame,
    };
    if frame.is_close() {
        let code = client::close_code(&frame);
        if code != Some(CloseCode::SlowConsumer.code()) {
            errors.add("closed", || {
                format!("member closed by the server: {frame:?}")
            });
        }
        return Err(Some(code));
    }
    Ok(frame)
}

/// Counts one delivery sent at `sent_us`; its latency is recorded when it falls in the window.
fn count_delivery(
    shared: &Shared,
    deliveries: &mut u64,
    latencies: &mut LatencyRecorder,
    sent_us: u64,
) {
    let received_us = unix_micros();
    let counted = shared
        .window
        .get()
        .is_some_and(|window| window.contains(Instant::now()));
    shared.live.deliveries.fetch_add(1, Ordering::Relaxed);
    if counted {
        *deliveries += 1;
        latencies.record_micros(received_us.saturating_sub(sent_us));
    }
}

/// A publisher: one `publish` per tick from `first_tick` until the window ends, reading the
/// replies in between.
async fn publish_loop(
    connection: Connection,
    room: String,
    first_tick: Instant,
    period: Duration,
    pad: String,
    shared: Arc<Shared>,
) -> PublisherOutcome {
    let (mut outcome, window) = match PublisherOutcome::start(&shared) {
        Ok(started) => started,
        Err(refused) => return refused,
    };
    let codec = connection.codec;
    let (mut sink, mut stream) = connection.ws.split();
    let mut ticker = tokio::time::interval_at(first_tick, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut reference = 0_u64;
    let end = tokio::time::sleep_until(window.end);
    tokio::pin!(end);
    loop {
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            _ = &mut end => break,
            next = stream.next() => match next {
                None => {
                    outcome.errors.add("closed", || "publisher socket ended".into());
                    break;
                }
                Some(Err(error)) => {
                    outcome.errors.add("socket", || format!("publisher socket failed: {error}"));
                    break;
                }
                Some(Ok(frame)) if frame.is_close() => {
                    outcome.errors.add("closed", || format!("publisher closed by the server: {frame:?}"));
                    break;
                }
                Some(Ok(frame)) => {
                    let Some(bytes) = client::payload(&frame) else { continue };
                    match client::probe(codec, bytes) {
                        Ok(probe) if probe.kind == FrameKind::Error => {
                            outcome.publish_errors += 1;
                            let code = probe.code.unwrap_or(0);
                            outcome.errors.add(&format!("error_{code}"), || {
                                format!("publish refused with {code}: {}", probe.message.unwrap_or_default())
                            });
                        }
                        Ok(_) => {}
                        Err(error) => outcome.errors.add("decode", || format!("{error:#}")),
                    }
                }
            },
            _ = ticker.tick() => {
                reference += 1;
                let message = ClientMessage::Publish {
                    reference: Some(Ref::Int(reference)),
                    room: room.clone(),
                    kind: "loadtest".into(),
                    data: json!({ "t": unix_micros(), "n": reference, "pad": pad }),
                    id: None,
                    ephemeral: false,
                };
                let sent_at = Instant::now();
                let sent = match client::encode(codec, &message) {
                    Ok(frame) => sink.send(frame).await.map_err(anyhow::Error::new),
                    Err(error) => Err(error),
                };
                if let Err(error) = sent {
                    outcome.errors.add("send", || format!("publish failed: {error:#}"));
                    break;
                }
                shared.live.published.fetch_add(1, Ordering::Relaxed);
                if window.contains(sent_at) {
                    outcome.published += 1;
                }
            }
        }
    }
    // Reunited only to close politely; a failure here has nothing left to lose.
    if let Ok(ws) = sink.reunite(stream) {
        Connection { ws, codec }.close().await;
    }
    outcome
}

/// Opens a Pusher socket, subscribes to the public `channel`, and starts its receive loop.
async fn open_pusher_member(
    common: &Common,
    key: &str,
    shared: &Arc<Shared>,
    channel: &str,
    source: Option<std::net::IpAddr>,
) -> anyhow::Result<JoinHandle<MemberOutcome>> {
    let mut member = pusher::connect(&common.target, key, source).await?;
    member.subscribe(channel).await?;
    let latencies = shared.latencies.recorder();
    Ok(tokio::spawn(pusher_receive_loop(
        member,
        latencies,
        Arc::clone(shared),
    )))
}

/// A Pusher member: reads every frame until the stop, timing the events (`data.t`), answering
/// `pusher:ping`.
async fn pusher_receive_loop(
    mut member: pusher::Member,
    mut latencies: LatencyRecorder,
    shared: Arc<Shared>,
) -> MemberOutcome {
    let mut deliveries = 0;
    let mut errors = Errors::default();
    let closed_by_server = loop {
        let frame = match next_member_frame(&mut member.ws, &shared, &mut errors).await {
            Ok(frame) => frame,
            Err(closed_by_server) => break closed_by_server,
        };
        let Some(bytes) = client::payload(&frame) else {
            continue;
        };
        let probe = match pusher::probe(bytes) {
            Ok(probe) => probe,
            Err(error) => {
                errors.add("decode", || format!("{error:#}"));
                continue;
            }
        };
        match probe.event.as_str() {
            "pusher:ping" => {
                if let Err(error) = member.send(&pusher::pong()).await {
                    errors.add("socket", || format!("member pong failed: {error:#}"));
                    break Some(None);
                }
            }
            "pusher:error" => {
                let (code, message) = probe.error();
                errors.add(&format!("pusher_error_{code}"), || {
                    format!("member got pusher:error {code}: {message}")
                });
            }
            internal if internal.starts_with("pusher") => {}
            _ => {
                let Some(sent_us) = probe.sent_micros() else {
                    continue;
                };
                count_delivery(&shared, &mut deliveries, &mut latencies, sent_us);
            }
        }
    };
    latencies.flush();
    if closed_by_server.is_none() {
        client::close_ws(member.ws).await;
    }
    MemberOutcome {
        deliveries,
        closed_by_server,
        errors,
    }
}

/// A Pusher publisher: one signed `POST /apps/{id}/events` to `channel` per tick from
/// `first_tick` until the window ends, each awaited before the next (a slow answer makes the
/// publisher skip ticks, which shows as a publish rate below the target).
async fn pusher_publish_loop(
    publisher: pusher::Publisher,
    channel: String,
    first_tick: Instant,
    period: Duration,
    pad: String,
    shared: Arc<Shared>,
) -> PublisherOutcome {
    let (mut outcome, window) = match PublisherOutcome::start(&shared) {
        Ok(started) => started,
        Err(refused) => return refused,
    };
    let mut ticker = tokio::time::interval_at(first_tick, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut sequence = 0_u64;
    let end = tokio::time::sleep_until(window.end);
    tokio::pin!(end);
    loop {
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            _ = &mut end => break,
            _ = ticker.tick() => {
                sequence += 1;
                let data = json!({ "t": unix_micros(), "n": sequence, "pad": pad }).to_string();
                let sent_at = Instant::now();
                shared.live.published.fetch_add(1, Ordering::Relaxed);
                if window.contains(sent_at) {
                    outcome.published += 1;
                }
                match publisher.trigger("loadtest", &channel, &data).await {
                    Ok(status) if status.is_success() => {}
                    Ok(status) => {
                        outcome.publish_errors += 1;
                        outcome.errors.add(&format!("http_{}", status.as_u16()), || {
                            format!("publish refused with HTTP {status}")
                        });
                    }
                    Err(error) => {
                        outcome.publish_errors += 1;
                        outcome.errors.add("http", || format!("publish failed: {error:#}"));
                    }
                }
            }
        }
    }
    outcome
}
