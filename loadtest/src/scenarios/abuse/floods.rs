//! The hostile clients of `abuse`, one function per [`Flood`], each bounded in connections
//! and rate and each returning a [`Tally`] of what it sent and what the server answered:
//!
//! - `rejoin`: student sockets join the class room, then send `join` for it again and again
//!   (each carrying presence) without reading, with a small receive buffer, until the server
//!   pushes back; what the server sent is read only when a socket is done.
//! - `presence`: student sockets in the class room send `presence` updates as fast as allowed.
//! - `rooms`: anonymous Pusher sockets (the tenant's public key) subscribe to ever new public
//!   channels; a socket refused for holding too many unsubscribes from all and goes on, so the
//!   empty rooms pile up for the tenant.
//! - `game-keys`: `POST /api/v1/roblox/events` with random, well-formed, unknown game keys.
//! - `pusher-sockets`: anonymous Pusher sockets from one address, opened and held.
//! - `garbage`: student sockets send invalid JSON, unknown types, binary frames on JSON,
//!   frames over the frame limit and, now and then, one over the hard cap.
//!
//! Every loop ends at the stop token; sockets the server closes are reopened after a pause.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMessage, Codec, Ref};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::{Message, WebSocketConfig};
use tokio_util::sync::CancellationToken;

use crate::client::{self, Connection, FrameKind, WsStream};
use crate::credentials::{Credentials, Role};
use crate::pusher;
use crate::report::FloodResults;
use crate::stats::Errors;
use crate::target::Target;

/// The floods `--floods` chooses from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Flood {
    /// Re-joins of the class room carrying presence, never reading.
    Rejoin,
    /// Rapid presence updates in the class room.
    Presence,
    /// Anonymous Pusher subscriptions to ever new public channels.
    Rooms,
    /// Roblox requests with random unknown game keys.
    GameKeys,
    /// Many anonymous Pusher sockets from one address.
    PusherSockets,
    /// Invalid, unknown, wrong-kind and oversized frames.
    Garbage,
}

impl Flood {
    /// Every flood, in the order they start.
    pub const ALL: [Flood; 6] = [
        Flood::Rejoin,
        Flood::Presence,
        Flood::Rooms,
        Flood::GameKeys,
        Flood::PusherSockets,
        Flood::Garbage,
    ];

    /// The name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Flood::Rejoin => "rejoin",
            Flood::Presence => "presence",
            Flood::Rooms => "rooms",
            Flood::GameKeys => "game-keys",
            Flood::PusherSockets => "pusher-sockets",
            Flood::Garbage => "garbage",
        }
    }
}

/// How big and how fast each flood is.
#[derive(Debug, Clone)]
pub struct FloodSizes {
    /// `rejoin`: sockets.
    pub rejoin_sockets: u64,
    /// `rejoin`: `join` frames per second per socket.
    pub rejoin_rate: f64,
    /// `rejoin`: padding bytes in each join's presence.
    pub rejoin_presence_bytes: usize,
    /// `presence`: sockets.
    pub presence_sockets: u64,
    /// `presence`: updates per second per socket.
    pub presence_rate: f64,
    /// `rooms`: Pusher sockets.
    pub rooms_sockets: u64,
    /// `rooms`: subscriptions per second per socket.
    pub rooms_rate: f64,
    /// `game-keys`: requests in flight at most.
    pub game_key_concurrency: u64,
    /// `game-keys`: requests per second in all.
    pub game_key_rate: f64,
    /// `pusher-sockets`: sockets held at most.
    pub pusher_sockets: u64,
    /// `pusher-sockets`: connection attempts per second.
    pub pusher_socket_rate: f64,
    /// `garbage`: sockets.
    pub garbage_sockets: u64,
    /// `garbage`: frames per second per socket.
    pub garbage_rate: f64,
}

impl Default for FloodSizes {
    fn default() -> Self {
        FloodSizes {
            rejoin_sockets: 20,
            rejoin_rate: 100.0,
            rejoin_presence_bytes: 512,
            presence_sockets: 10,
            presence_rate: 100.0,
            rooms_sockets: 4,
            rooms_rate: 100.0,
            game_key_concurrency: 8,
            game_key_rate: 300.0,
            pusher_sockets: 1200,
            pusher_socket_rate: 300.0,
            garbage_sockets: 4,
            garbage_rate: 50.0,
        }
    }
}

/// What every flood needs to reach the server.
#[derive(Debug, Clone)]
pub(super) struct FloodContext {
    pub target: Target,
    pub credentials: Credentials,
    /// The class room the native floods join.
    pub class_room: String,
    /// The tenant's public Pusher key (`rooms`, `pusher-sockets`).
    pub pusher_key: Option<String>,
    /// The hostile clients' source address.
    pub source: Option<IpAddr>,
    pub run_id: String,
    pub stop: CancellationToken,
}

/// What a flood (or one of its workers) sent and what came back.
#[derive(Debug, Default)]
pub(super) struct Tally {
    connections: u64,
    sent: u64,
    accepted: BTreeMap<String, u64>,
    refused: BTreeMap<String, u64>,
    /// Harness-side failures (not the server's answers).
    pub errors: Errors,
}

impl Tally {
    fn accept(&mut self, kind: &str) {
        *self.accepted.entry(kind.to_owned()).or_default() += 1;
    }

    fn refuse(&mut self, kind: &str) {
        *self.refused.entry(kind.to_owned()).or_default() += 1;
    }

    fn merge(&mut self, other: Tally) {
        self.connections += other.connections;
        self.sent += other.sent;
        for (kind, count) in other.accepted {
            *self.accepted.entry(kind).or_default() += count;
        }
        for (kind, count) in other.refused {
            *self.refused.entry(kind).or_default() += count;
        }
        self.errors.merge(other.errors);
    }

    /// The report's view of this tally.
    pub(super) fn into_results(self, flood: Flood, sizes: &FloodSizes) -> (FloodResults, Errors) {
        let refused_total = self.refused.values().sum();
        let results = FloodResults {
            flood: flood.as_str().to_owned(),
            what: describe(flood, sizes),
            connections: self.connections,
            sent: self.sent,
            accepted: self.accepted,
            refused: self.refused,
            refused_total,
        };
        (results, self.errors)
    }
}

/// One sentence on what `flood` does at `sizes`.
fn describe(flood: Flood, sizes: &FloodSizes) -> String {
    match flood {
        Flood::Rejoin => format!(
            "{} student sockets re-join the class room {}/s each with {} B of presence, never \
             reading (4 KiB receive buffer)",
            sizes.rejoin_sockets, sizes.rejoin_rate, sizes.rejoin_presence_bytes
        ),
        Flood::Presence => format!(
            "{} student sockets in the class room send presence updates {}/s each",
            sizes.presence_sockets, sizes.presence_rate
        ),
        Flood::Rooms => format!(
            "{} anonymous Pusher sockets subscribe to new public channels {}/s each (all \
             unsubscribed when refused for holding too many)",
            sizes.rooms_sockets, sizes.rooms_rate
        ),
        Flood::GameKeys => format!(
            "POST /api/v1/roblox/events with random unknown game keys, {}/s over {} requests in \
             flight",
            sizes.game_key_rate, sizes.game_key_concurrency
        ),
        Flood::PusherSockets => format!(
            "up to {} anonymous Pusher sockets from one address, {} connection attempts/s",
            sizes.pusher_sockets, sizes.pusher_socket_rate
        ),
        Flood::Garbage => format!(
            "{} student sockets send invalid JSON, unknown types, binary frames, over-limit \
             frames and every {GARBAGE_HARD_CAP_EVERY}th one over the hard cap, {}/s each",
            sizes.garbage_sockets, sizes.garbage_rate
        ),
    }
}

/// Pause before a closed flood socket is reopened.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);
/// Longest a finished `rejoin` socket is read for its answers.
const DRAIN: Duration = Duration::from_secs(1);
/// `SO_RCVBUF` of a `rejoin` socket.
const REJOIN_RECEIVE_BUFFER: u32 = 4096;
/// One `garbage` frame in this many is over the hard cap (which closes the socket).
const GARBAGE_HARD_CAP_EVERY: u64 = 50;
/// Pusher connection attempts in flight at most.
const PUSHER_CONNECTS_IN_FLIGHT: usize = 64;
/// Longest one flood HTTP request or connection setup may take.
const FLOOD_PATIENCE: Duration = Duration::from_secs(5);

/// Runs `flood` until the stop and returns its tally.
pub(super) async fn run(flood: Flood, context: Arc<FloodContext>, sizes: FloodSizes) -> Tally {
    let outcome = match flood {
        Flood::Rejoin => {
            workers(sizes.rejoin_sockets, |index| {
                rejoin(
                    Arc::clone(&context),
                    index,
                    sizes.rejoin_rate,
                    sizes.rejoin_presence_bytes,
                )
            })
            .await
        }
        Flood::Presence => {
            workers(sizes.presence_sockets, |index| {
                presence(Arc::clone(&context), index, sizes.presence_rate)
            })
            .await
        }
        Flood::Rooms => {
            workers(sizes.rooms_sockets, |index| {
                rooms(Arc::clone(&context), index, sizes.rooms_rate)
            })
            .await
        }
        Flood::GameKeys => game_keys(&context, &sizes).await,
        Flood::PusherSockets => pusher_sockets(&context, &sizes).await,
        Flood::Garbage => {
            workers(sizes.garbage_sockets, |index| {
                garbage(Arc::clone(&context), index, sizes.garbage_rate)
            })
            .await
        }
    };
    match outcome {
        Ok(tally) => tally,
        Err(error) => {
            let mut tally = Tally::default();
            tally
                .errors
                .add("flood_setup", || format!("{}: {error:#}", flood.as_str()));
            tally
        }
    }
}

/// Runs `count` workers to the end and adds their tallies up.
async fn workers<F, Fut>(count: u64, worker: F) -> anyhow::Result<Tally>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Tally> + Send + 'static,
{
    let mut running = JoinSet::new();
    for index in 0..count {
        running.spawn(worker(index));
    }
    let mut tally = Tally::default();
    while let Some(done) = running.join_next().await {
        tally.merge(done.context("a flood worker failed")?);
    }
    Ok(tally)
}

/// A ticker at `rate` per second that skips missed ticks.
fn ticker(rate: f64) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    ticker
}

/// Waits `pause`, or less when the stop comes first; true when stopped.
async fn pause_or_stop(stop: &CancellationToken, pause: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = tokio::time::sleep(pause) => false,
    }
}

/// Opens a student socket of the tenant (with an optional small receive buffer) and waits for
/// `welcome`, trying again after a pause when refused; `None` at the stop.
async fn open_student(
    context: &FloodContext,
    user: &str,
    receive_buffer: Option<u32>,
    tally: &mut Tally,
) -> Option<(Connection, protocol::Welcome)> {
    loop {
        let opened = tokio::select! {
            _ = context.stop.cancelled() => return None,
            opened = tokio::time::timeout(
                FLOOD_PATIENCE,
                try_open_student(context, user, receive_buffer),
            ) => opened,
        };
        match opened {
            Ok(Ok(opened)) => {
                tally.connections += 1;
                return Some(opened);
            }
            Ok(Err(error)) => {
                tally.refuse("connect_refused");
                tally
                    .errors
                    .add("flood_connect", || format!("flood socket: {error:#}"));
            }
            Err(_) => tally.refuse("connect_timeout"),
        }
        if pause_or_stop(&context.stop, RECONNECT_PAUSE).await {
            return None;
        }
    }
}

async fn try_open_student(
    context: &FloodContext,
    user: &str,
    receive_buffer: Option<u32>,
) -> anyhow::Result<(Connection, protocol::Welcome)> {
    let token = context.credentials.token_for(Role::Student, user)?;
    let stream =
        client::open_tcp_with_receive_buffer(context.target.addr(), context.source, receive_buffer)
            .await?;
    let mut connection = client::connect_over(&context.target, Codec::Json, &token, stream).await?;
    let welcome = connection.welcome().await?;
    Ok((connection, welcome))
}

/// Counts a native server frame as an acceptance or a refusal.
fn count_native(bytes: &[u8], tally: &mut Tally) {
    match client::probe(Codec::Json, bytes) {
        Ok(probe) => match probe.kind {
            FrameKind::Error => tally.refuse(&format!("error_{}", probe.code.unwrap_or(0))),
            FrameKind::Joined => tally.accept("joined"),
            FrameKind::Reply => tally.accept("reply"),
            _ => {}
        },
        Err(_) => tally.refuse("undecodable"),
    }
}

/// Counts what a native flood socket read; `false` once the socket has ended (a close frame,
/// an error or the end of the stream).
fn count_read(
    next: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    tally: &mut Tally,
) -> bool {
    match next {
        Some(Ok(frame)) if frame.is_close() => {
            count_close(Some(&frame), tally);
            false
        }
        Some(Ok(frame)) => {
            if let Some(bytes) = client::payload(&frame) {
                count_native(bytes, tally);
            }
            true
        }
        Some(Err(_)) | None => {
            count_close(None, tally);
            false
        }
    }
}

/// Counts how a socket ended: its close code, or a dropped connection.
fn count_close(frame: Option<&Message>, tally: &mut Tally) {
    match frame.and_then(client::close_code) {
        Some(code) => tally.refuse(&format!("close_{code}")),
        None if frame.is_some() => tally.refuse("close_none"),
        None => tally.refuse("reset"),
    }
}

/// `rejoin`: one socket after another, each re-joining the class room without reading until
/// sending fails or the stop; then what the server sent is read (for at most [`DRAIN`]).
async fn rejoin(context: Arc<FloodContext>, index: u64, rate: f64, pad_bytes: usize) -> Tally {
    let mut tally = Tally::default();
    let pad = "x".repeat(pad_bytes);
    let mut generation = 0;
    loop {
        generation += 1;
        let user = format!("{}-rj{index}", context.run_id);
        let Some((mut connection, _welcome)) = open_student(
            &context,
            &format!("{user}-{generation}"),
            Some(REJOIN_RECEIVE_BUFFER),
            &mut tally,
        )
        .await
        else {
            return tally;
        };
        // The first join is read (the flood starts from a member); after it, nothing is.
        if let Err(error) = connection.join(&context.class_room, 1).await {
            tally.refuse("join_refused");
            tally
                .errors
                .add("flood_join", || format!("rejoin socket: {error:#}"));
        }
        let (mut sink, mut stream) = connection.ws.split();
        let mut ticks = ticker(rate);
        let mut reference = 1_u64;
        loop {
            tokio::select! {
                _ = context.stop.cancelled() => break,
                _ = ticks.tick() => {
                    reference += 1;
                    let join = ClientMessage::Join {
                        reference: Some(Ref::Int(reference)),
                        room: context.class_room.clone(),
                        since: None,
                        presence: Some(json!({ "n": reference, "pad": pad })),
                    };
                    let Ok(frame) = client::encode(Codec::Json, &join) else { break };
                    let sent = tokio::select! {
                        _ = context.stop.cancelled() => break,
                        sent = sink.send(frame) => sent,
                    };
                    if sent.is_err() {
                        break;
                    }
                    tally.sent += 1;
                }
            }
        }
        // Now read what the server answered, briefly.
        let drain = async { while count_read(stream.next().await, &mut tally) {} };
        let _drained_or_timed_out = tokio::time::timeout(DRAIN, drain).await;
        drop((sink, stream));
        if context.stop.is_cancelled() || pause_or_stop(&context.stop, RECONNECT_PAUSE).await {
            return tally;
        }
    }
}

/// `presence`: a member of the class room sending presence updates, reading the answers.
async fn presence(context: Arc<FloodContext>, index: u64, rate: f64) -> Tally {
    let mut tally = Tally::default();
    let mut generation = 0;
    loop {
        generation += 1;
        let user = format!("{}-pr{index}-{generation}", context.run_id);
        let Some((mut connection, _welcome)) =
            open_student(&context, &user, None, &mut tally).await
        else {
            return tally;
        };
        if let Err(error) = connection.join(&context.class_room, 1).await {
            tally.refuse("join_refused");
            tally
                .errors
                .add("flood_join", || format!("presence socket: {error:#}"));
        }
        let (mut sink, mut stream) = connection.ws.split();
        let mut ticks = ticker(rate);
        let mut reference = 1_u64;
        loop {
            tokio::select! {
                _ = context.stop.cancelled() => return tally,
                next = stream.next() => if !count_read(next, &mut tally) { break },
                _ = ticks.tick() => {
                    reference += 1;
                    let update = ClientMessage::Presence {
                        reference: Some(Ref::Int(reference)),
                        room: context.class_room.clone(),
                        state: json!({ "n": reference, "status": "typing" }),
                    };
                    let Ok(frame) = client::encode(Codec::Json, &update) else { break };
                    if sink.send(frame).await.is_err() {
                        count_close(None, &mut tally);
                        break;
                    }
                    tally.sent += 1;
                }
            }
        }
        if pause_or_stop(&context.stop, RECONNECT_PAUSE).await {
            return tally;
        }
    }
}

/// Opens an anonymous Pusher socket of `key` from `source` and waits for
/// `connection_established`; a refusal is counted and gives `None`.
async fn open_pusher(
    target: &Target,
    key: &str,
    source: Option<IpAddr>,
    tally: &mut Tally,
) -> Option<WsStream> {
    let opened = tokio::time::timeout(FLOOD_PATIENCE, async {
        let stream = client::open_tcp(target.addr(), source).await?;
        let request = target
            .pusher_ws_url(key)
            .into_client_request()
            .context("building the upgrade request")?;
        let config = WebSocketConfig::default().read_buffer_size(client::READ_BUFFER_BYTES);
        let handshake =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await;
        anyhow::Ok(handshake)
    })
    .await;
    let mut ws = match opened {
        Err(_) => {
            tally.refuse("connect_timeout");
            return None;
        }
        Ok(Err(error)) => {
            tally
                .errors
                .add("flood_connect", || format!("pusher socket: {error:#}"));
            return None;
        }
        Ok(Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response)))) => {
            tally.refuse(&format!("upgrade_http_{}", response.status().as_u16()));
            return None;
        }
        Ok(Ok(Err(error))) => {
            tally
                .errors
                .add("flood_connect", || format!("pusher handshake: {error}"));
            return None;
        }
        Ok(Ok(Ok((ws, _response)))) => ws,
    };
    let first = tokio::time::timeout(FLOOD_PATIENCE, ws.next()).await;
    match first {
        Ok(Some(Ok(frame))) => {
            let Some(probe) = client::payload(&frame).and_then(|bytes| pusher::probe(bytes).ok())
            else {
                count_close(Some(&frame), tally);
                return None;
            };
            if probe.event == "pusher:connection_established" {
                tally.connections += 1;
                tally.accept("established");
                Some(ws)
            } else {
                let (code, _message) = probe.error();
                tally.refuse(&format!("pusher_error_{code}"));
                None
            }
        }
        Ok(_) => {
            count_close(None, tally);
            None
        }
        Err(_) => {
            tally.refuse("connect_timeout");
            None
        }
    }
}

/// `data` of a Pusher frame as an object (servers send it as a JSON string).
fn pusher_data(data: &Value) -> Value {
    match data {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

/// The refusal kind of a `pusher:subscription_error`.
fn subscription_refusal(data: &Value) -> String {
    let data = pusher_data(data);
    let status = data.get("status").and_then(Value::as_u64).unwrap_or(0);
    let reason = data
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if status == 429 {
        "subscription_error_429_rate".to_owned()
    } else if reason.contains("live rooms") {
        "subscription_error_rooms_per_tenant".to_owned()
    } else if reason.contains("rooms, the most allowed") {
        "subscription_error_rooms_per_conn".to_owned()
    } else {
        format!("subscription_error_{status}")
    }
}

/// A Pusher frame as JSON text.
fn pusher_frame(event: &str, data: Value) -> Message {
    Message::text(json!({ "event": event, "data": data }).to_string())
}

/// `rooms`: an anonymous Pusher socket subscribing to ever new public channels.
async fn rooms(context: Arc<FloodContext>, index: u64, rate: f64) -> Tally {
    let mut tally = Tally::default();
    let Some(key) = context.pusher_key.clone() else {
        tally
            .errors
            .add("flood_setup", || "rooms: no Pusher key".to_owned());
        return tally;
    };
    let mut channel_number = 0_u64;
    loop {
        let Some(ws) = (tokio::select! {
            _ = context.stop.cancelled() => return tally,
            ws = open_pusher(&context.target, &key, context.source, &mut tally) => ws,
        }) else {
            if pause_or_stop(&context.stop, RECONNECT_PAUSE).await {
                return tally;
            }
            continue;
        };
        let (mut sink, mut stream) = ws.split();
        let mut subscribed: Vec<String> = Vec::new();
        let mut ticks = ticker(rate);
        loop {
            tokio::select! {
                _ = context.stop.cancelled() => return tally,
                next = stream.next() => {
                    let frame = match next {
                        Some(Ok(frame)) if frame.is_close() => {
                            count_close(Some(&frame), &mut tally);
                            break;
                        }
                        Some(Ok(frame)) => frame,
                        Some(Err(_)) | None => {
                            count_close(None, &mut tally);
                            break;
                        }
                    };
                    let Some(probe) = client::payload(&frame).and_then(|bytes| pusher::probe(bytes).ok()) else {
                        continue;
                    };
                    match probe.event.as_str() {
                        "pusher_internal:subscription_succeeded" => {
                            tally.accept("subscribed");
                            if let Some(channel) = frame_channel(&frame) {
                                subscribed.push(channel);
                            }
                        }
                        "pusher:subscription_error" => {
                            let refusal = subscription_refusal(&probe.data);
                            tally.refuse(&refusal);
                            if refusal == "subscription_error_rooms_per_conn" {
                                // Make room on this socket; the rooms left stay for a while.
                                for channel in subscribed.drain(..) {
                                    let frame = pusher_frame("pusher:unsubscribe", json!({ "channel": channel }));
                                    if sink.send(frame).await.is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        "pusher:error" => {
                            let (code, _message) = probe.error();
                            tally.refuse(&format!("pusher_error_{code}"));
                        }
                        "pusher:ping" => {
                            let pong = pusher_frame("pusher:pong", json!({}));
                            if sink.send(pong).await.is_err() {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                _ = ticks.tick() => {
                    channel_number += 1;
                    let channel = format!("abuse-{}-{index}-{channel_number}", context.run_id);
                    let frame = pusher_frame("pusher:subscribe", json!({ "channel": channel }));
                    if sink.send(frame).await.is_err() {
                        count_close(None, &mut tally);
                        break;
                    }
                    tally.sent += 1;
                }
            }
        }
        if pause_or_stop(&context.stop, RECONNECT_PAUSE).await {
            return tally;
        }
    }
}

/// The `channel` of a Pusher frame.
fn frame_channel(frame: &Message) -> Option<String> {
    let value: Value = serde_json::from_slice(client::payload(frame)?).ok()?;
    value.get("channel")?.as_str().map(str::to_owned)
}

/// A well-formed game-server key that no tenant has: `chgk_` + 8 + `_` + 32 characters.
fn random_game_key() -> String {
    let mut rng = rand::rng();
    let mut part = |len: usize| -> String {
        (&mut rng)
            .sample_iter(Alphanumeric)
            .take(len)
            .map(char::from)
            .collect()
    };
    format!("chgk_{}_{}", part(8), part(32))
}

/// `game-keys`: requests with random unknown keys at `game_key_rate`, at most
/// `game_key_concurrency` in flight (a tick with none free is skipped).
async fn game_keys(context: &FloodContext, sizes: &FloodSizes) -> anyhow::Result<Tally> {
    let mut builder = reqwest::Client::builder()
        .timeout(FLOOD_PATIENCE)
        .pool_max_idle_per_host(sizes.game_key_concurrency as usize)
        .tcp_nodelay(true);
    if let Some(source) = context.source {
        builder = builder.local_address(source);
    }
    let http = builder.build().context("building the HTTP client")?;
    let url = format!("{}/api/v1/roblox/events", context.target.http_base());
    let in_flight = Arc::new(tokio::sync::Semaphore::new(
        sizes.game_key_concurrency as usize,
    ));
    let mut tally = Tally::default();
    let mut requests = JoinSet::new();
    let mut ticks = ticker(sizes.game_key_rate);
    loop {
        tokio::select! {
            _ = context.stop.cancelled() => break,
            Some(done) = requests.join_next(), if !requests.is_empty() => {
                let outcome: Result<u16, String> = done.context("a request task failed")?;
                match outcome {
                    Ok(status) if (200..300).contains(&status) => tally.accept(&format!("http_{status}")),
                    Ok(status) => tally.refuse(&format!("http_{status}")),
                    Err(error) => {
                        tally.refuse("http_failed");
                        tally.errors.add("flood_http", || error);
                    }
                }
            }
            _ = ticks.tick() => {
                let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                    continue;
                };
                tally.sent += 1;
                let request = http
                    .post(&url)
                    .bearer_auth(random_game_key())
                    .json(&json!({ "events": [] }));
                requests.spawn(async move {
                    let answer = request.send().await.map_err(|error| format!("game-key request: {error}"));
                    let status = match answer {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            // Read the (small) body so the connection goes back to the pool.
                            let _body_not_needed = response.bytes().await;
                            Ok(status)
                        }
                        Err(error) => Err(error),
                    };
                    drop(permit);
                    status
                });
            }
        }
    }
    // Requests still in flight are not waited for: the server's answer to them is not needed.
    requests.abort_all();
    Ok(tally)
}

/// `pusher-sockets`: opens anonymous Pusher sockets at `pusher_socket_rate` while fewer than
/// `pusher_sockets` are held; held sockets answer pings until the server closes them or the
/// stop.
async fn pusher_sockets(context: &FloodContext, sizes: &FloodSizes) -> anyhow::Result<Tally> {
    let key = context
        .pusher_key
        .clone()
        .context("pusher-sockets needs the tenant's Pusher key")?;
    let held = Arc::new(tokio::sync::Semaphore::new(sizes.pusher_sockets as usize));
    let connecting = Arc::new(tokio::sync::Semaphore::new(PUSHER_CONNECTS_IN_FLIGHT));
    let mut tally = Tally::default();
    let mut sockets = JoinSet::new();
    let mut ticks = ticker(sizes.pusher_socket_rate);
    loop {
        tokio::select! {
            _ = context.stop.cancelled() => break,
            Some(done) = sockets.join_next(), if !sockets.is_empty() => {
                tally.merge(done.context("a pusher socket task failed")?);
            }
            _ = ticks.tick() => {
                let Ok(slot) = Arc::clone(&held).try_acquire_owned() else { continue };
                let Ok(attempt) = Arc::clone(&connecting).try_acquire_owned() else { continue };
                let target = context.target.clone();
                let key = key.clone();
                let source = context.source;
                let stop = context.stop.clone();
                sockets.spawn(async move {
                    let mut tally = Tally { sent: 1, ..Tally::default() };
                    let opened = tokio::select! {
                        _ = stop.cancelled() => None,
                        opened = open_pusher(&target, &key, source, &mut tally) => opened,
                    };
                    drop(attempt);
                    if let Some(ws) = opened {
                        hold_pusher(ws, &stop, &mut tally).await;
                    }
                    drop(slot);
                    tally
                });
            }
        }
    }
    while let Some(done) = sockets.join_next().await {
        tally.merge(done.context("a pusher socket task failed")?);
    }
    Ok(tally)
}

/// Holds a Pusher socket, answering `pusher:ping`, until the stop or the server's close.
async fn hold_pusher(mut ws: WsStream, stop: &CancellationToken, tally: &mut Tally) {
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            next = ws.next() => next,
        };
        match next {
            Some(Ok(frame)) if frame.is_close() => {
                count_close(Some(&frame), tally);
                return;
            }
            Some(Ok(frame)) => {
                let Some(probe) =
                    client::payload(&frame).and_then(|bytes| pusher::probe(bytes).ok())
                else {
                    continue;
                };
                match probe.event.as_str() {
                    "pusher:ping" => {
                        let pong = ws.send(pusher_frame("pusher:pong", json!({}))).await;
                        if pong.is_err() {
                            return;
                        }
                    }
                    "pusher:error" => {
                        let (code, _message) = probe.error();
                        tally.refuse(&format!("pusher_error_{code}"));
                    }
                    _ => {}
                }
            }
            Some(Err(_)) | None => {
                count_close(None, tally);
                return;
            }
        }
    }
}

/// The `n`th frame a `garbage` socket sends, given the server's frame limit.
fn garbage_frame(n: u64, max_frame_bytes: usize) -> Message {
    if n % GARBAGE_HARD_CAP_EVERY == GARBAGE_HARD_CAP_EVERY - 1 {
        // Over the WebSocket layer's hard cap (4 × the frame limit, at least 16 KiB).
        let size = max_frame_bytes.saturating_mul(4).max(16 * 1024) + 1024;
        return Message::text(format!(
            "{{\"type\":\"ping\",\"pad\":\"{}\"}}",
            "x".repeat(size)
        ));
    }
    match n % 4 {
        0 => Message::text("{\"type\":\"join\",\"room\":"),
        1 => Message::text("{\"type\":\"explode\",\"ref\":1}"),
        2 => Message::binary(vec![0xc1_u8, 0xff, 0x00]),
        _ => Message::text(format!(
            "{{\"type\":\"ping\",\"pad\":\"{}\"}}",
            "x".repeat(max_frame_bytes + 16)
        )),
    }
}

/// `garbage`: a student socket sending frames the server must refuse.
async fn garbage(context: Arc<FloodContext>, index: u64, rate: f64) -> Tally {
    let mut tally = Tally::default();
    let mut generation = 0;
    let mut n = 0_u64;
    loop {
        generation += 1;
        let user = format!("{}-gb{index}-{generation}", context.run_id);
        let Some((connection, welcome)) = open_student(&context, &user, None, &mut tally).await
        else {
            return tally;
        };
        let max_frame_bytes = usize::try_from(welcome.limits.max_frame_bytes).unwrap_or(65_536);
        let (mut sink, mut stream) = connection.ws.split();
        let mut ticks = ticker(rate);
        loop {
            tokio::select! {
                _ = context.stop.cancelled() => return tally,
                next = stream.next() => if !count_read(next, &mut tally) { break },
                _ = ticks.tick() => {
                    let frame = garbage_frame(n, max_frame_bytes);
                    n += 1;
                    if sink.send(frame).await.is_err() {
                        // The server closed it (a hard-cap frame); its close frame may follow.
                        let close = tokio::time::timeout(DRAIN, stream.next()).await;
                        match close {
                            Ok(Some(Ok(frame))) if frame.is_close() => count_close(Some(&frame), &mut tally),
                            _ => count_close(None, &mut tally),
                        }
                        break;
                    }
                    tally.sent += 1;
                }
            }
        }
        if pause_or_stop(&context.stop, RECONNECT_PAUSE).await {
            return tally;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_game_keys_are_well_formed_and_distinct() {
        let first = random_game_key();
        assert_eq!(first.len(), 5 + 8 + 1 + 32, "{first}");
        assert!(first.starts_with("chgk_"));
        assert_eq!(first.as_bytes()[13], b'_');
        assert_ne!(first, random_game_key());
    }

    #[test]
    fn subscription_refusals_are_told_apart() {
        let check = |data: Value, expected: &str| {
            assert_eq!(subscription_refusal(&data), expected, "{data}");
        };
        check(
            json!({"type": "LimitReached", "error": "too many", "status": 429}),
            "subscription_error_429_rate",
        );
        check(
            Value::String(
                json!({"type": "AuthError", "status": 401, "error": "your organization already \
                 has 5 live rooms, the most allowed; join an existing room"})
                .to_string(),
            ),
            "subscription_error_rooms_per_tenant",
        );
        check(
            json!({"type": "AuthError", "status": 401, "error": "this connection is already in \
             64 rooms, the most allowed; leave one first"}),
            "subscription_error_rooms_per_conn",
        );
        check(
            json!({"type": "AuthError", "status": 401, "error": "bad"}),
            "subscription_error_401",
        );
    }

    #[test]
    fn garbage_cycles_through_its_kinds_and_now_and_then_exceeds_the_hard_cap() {
        let sizes: Vec<usize> = (0..GARBAGE_HARD_CAP_EVERY)
            .map(|n| garbage_frame(n, 1000).len())
            .collect();
        assert!(sizes[3] > 1000);
        assert!(sizes[GARBAGE_HARD_CAP_EVERY as usize - 1] > 16 * 1024);
        assert!(matches!(garbage_frame(2, 1000), Message::Binary(_)));
    }
}
