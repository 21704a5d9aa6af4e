//! The hub: every live room on this node, and the per-connection [`Session`] through which
//! transports join, leave, publish and set presence. It knows nothing of HTTP or WebSockets:
//! a transport calls [`Hub::connect`], gets a [`Session`] and the receiving end of a bounded
//! queue of encoded frames, and writes those frames to its socket however it likes.
//!
//! Rooms live in a `DashMap<RoomId, Arc<Room>>`. Ordering, presence and history are per room
//! (see `room.rs`); permissions are in `permissions.rs`. The seam for a multi-node broker is the
//! room's `seq`/history/presence bookkeeping: a Redis broker replaces it without touching the
//! transports, which only ever see `Session`. What the operator may set about rooms
//! ([`HubArgs`]) is declared and checked into [`HubSettings`] in `settings.rs`.

mod conn;
mod history;
pub mod permissions;
mod queue;
mod room;
pub mod rosters;
mod seats;
mod session;
mod settings;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use persistence::{Ack, DurableEvent, EventSink, ProgressUpdate, SinkRefused};
use protocol::{CloseCode, CommandKind, ErrorCode, Limits, RoomId};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use conn::{ConnHandle, DatagramSent, Datagrams, EphemeralOffer, Offer, Wire, encode};
use permissions::Denied;
pub use queue::FrameReceiver;
use queue::frame_queue;
pub use room::MemberAs;
use room::{Publication, Room};
pub use rosters::{RosterSnapshot, Rosters};
pub use seats::{SeatRefusal, Seats};
pub use session::{Recheck, Session, Standing, is_chat_kind};
pub use settings::HubArgs;

use crate::auth::Identity;

/// The default of [`HubSettings::conn_queue_bytes`]: 1 MiB of frames per connection.
pub const DEFAULT_CONN_QUEUE_BYTES: usize = 1 << 20;

/// Hub tunables, from the server configuration (declared and checked in `settings.rs`).
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// Frame-level limits (also announced to clients).
    pub limits: Limits,
    /// Events kept per room for recovery.
    pub history_len: usize,
    /// Oldest event kept for recovery.
    pub history_ttl: Duration,
    /// How long an empty room is kept before it is dropped.
    pub room_grace: Duration,
    /// Presence updates of one room within this window go out as one diff (zero: each at once).
    pub presence_window: Duration,
    /// Frames a connection's outbound queue holds before it is closed as a slow consumer.
    pub conn_queue_len: usize,
    /// Bytes of frames a connection's outbound queue holds before it is closed as a slow
    /// consumer (an empty queue takes any one frame).
    pub conn_queue_bytes: usize,
    /// Rooms one connection may be in at once.
    pub max_rooms_per_conn: usize,
    /// Live rooms one tenant's joins may bring into being.
    pub max_rooms_per_tenant: usize,
}

/// Why a socket left a room; sent to the others in `presence_diff.leaves[].reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// The client sent `leave`.
    Left,
    /// The socket closed.
    Disconnected,
    /// The socket was closed for not reading fast enough.
    SlowConsumer,
    /// The socket was closed for silence.
    HeartbeatTimeout,
    /// The server is shutting down.
    Shutdown,
    /// The rules no longer allow the user here (taken off the roster, the class archived, a
    /// parent unlinked, a teacher replaced, a role changed).
    Revoked,
}

impl LeaveReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Left => "left",
            LeaveReason::Disconnected => "disconnected",
            LeaveReason::SlowConsumer => "slow_consumer",
            LeaveReason::HeartbeatTimeout => "heartbeat_timeout",
            LeaveReason::Shutdown => "shutdown",
            LeaveReason::Revoked => "revoked",
        }
    }

    fn for_close(code: Option<CloseCode>) -> LeaveReason {
        match code {
            Some(CloseCode::SlowConsumer) => LeaveReason::SlowConsumer,
            Some(CloseCode::HeartbeatTimeout) => LeaveReason::HeartbeatTimeout,
            Some(CloseCode::Reconnect) => LeaveReason::Shutdown,
            Some(
                CloseCode::AuthFailed
                | CloseCode::AuthTimeout
                | CloseCode::FrameTooLarge
                | CloseCode::OverCapacity
                | CloseCode::RateLimited,
            )
            | None => LeaveReason::Disconnected,
        }
    }
}

/// A refused hub operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// Role or tenant does not allow it.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The connection is not in the room.
    #[error("not joined to {room}; join it first")]
    NotJoined {
        /// The room.
        room: String,
    },
    /// The connection is in as many rooms as it may be.
    #[error("this connection is already in {max} rooms, the most allowed; leave one first")]
    TooManyRooms {
        /// The limit.
        max: usize,
    },
    /// The tenant has as many live rooms as it may; joining a new one would open one more.
    #[error(
        "your organization already has {max} live rooms, the most allowed; join an existing room or retry once unused rooms close"
    )]
    TenantRooms {
        /// The limit.
        max: usize,
    },
    /// A durable event's content is unusable (e.g. a progress event without a lesson).
    #[error("{0}")]
    InvalidEvent(String),
    /// The durable-event queue is full (the database is slow or down).
    #[error(transparent)]
    SinkFull(#[from] SinkRefused),
    /// This hub has no event sink, so it cannot accept durable events (events with an `id`).
    #[error("this server keeps no durable events; publish without an id")]
    NotDurable,
    /// A student's join needed a seat the tenant's plan does not have free.
    #[error(transparent)]
    NoSeat(#[from] SeatRefusal),
}

impl HubError {
    /// The wire error code for this refusal.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            HubError::Denied(_) => ErrorCode::Forbidden,
            HubError::NotJoined { .. } => ErrorCode::NotJoined,
            HubError::TooManyRooms { .. } | HubError::TenantRooms { .. } => ErrorCode::TooManyRooms,
            HubError::InvalidEvent(_) => ErrorCode::InvalidMessage,
            HubError::SinkFull(_) | HubError::NotDurable => ErrorCode::Unavailable,
            HubError::NoSeat(_) => ErrorCode::Forbidden,
        }
    }
}

/// The hub handle. Cheap to clone; every clone is the same hub.
#[derive(Clone, Debug)]
pub struct Hub {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Every live room on this node. Entries are added by the first join or publish and removed
    /// by the reaper once the room has been empty for `settings.room_grace`.
    rooms: DashMap<RoomId, Arc<Room>>,
    settings: HubSettings,
    /// Source of connection ids.
    next_conn_id: AtomicU64,
    /// Live sessions (incremented by `connect`, decremented when a `Session` drops).
    connections: AtomicUsize,
    /// The server's shutdown token; each connection's closer is a child of it.
    shutdown: CancellationToken,
    /// Where durable events (publishes with an `id`) go; `None` in hubs without a database.
    sink: Option<EventSink>,
    /// Where rooms report occupancy, membership and client events (Pusher webhooks).
    signals: Option<mpsc::Sender<RoomSignal>>,
    /// Class rosters, parent links and game links: who may join which class, game and user
    /// rooms. Loaded at start-up, updated by the REST handlers.
    rosters: Rosters,
    /// Seats in use and each tenant's plan limit; sessions take and release them at join and
    /// drop, the billing code sets the limits.
    seats: Seats,
    /// Live socket connections by id (added by `connect`, removed when the session drops).
    conns: DashMap<u64, Arc<ConnHandle>>,
    /// Live rooms per tenant (added when a room is made, removed when it is reaped).
    tenant_rooms: DashMap<String, usize>,
}

/// Something about a room that Pusher webhooks report. Rooms send these without waiting.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomSignal {
    /// The first socket joined.
    Occupied {
        /// The room.
        room: RoomId,
    },
    /// The last socket left.
    Vacated {
        /// The room.
        room: RoomId,
    },
    /// A user became present.
    MemberAdded {
        /// The room.
        room: RoomId,
        /// The user.
        user: String,
    },
    /// A user is no longer present.
    MemberRemoved {
        /// The room.
        room: RoomId,
        /// The user.
        user: String,
    },
    /// A Pusher client event was published.
    ClientEvent {
        /// The room.
        room: RoomId,
        /// The `client-…` event name.
        event: String,
        /// Its data.
        data: Value,
        /// The sender's member user id.
        user: String,
        /// The sending connection.
        conn_id: u64,
    },
}

/// A durable event handed to [`Hub::ingest`] by a source that already authenticated it (a
/// Roblox game server's batch, after `roblox::wire` checked its shape).
#[derive(Debug, Clone)]
pub struct TrustedEvent {
    /// The client-made id (stored once however often it is retried).
    pub id: String,
    /// Who it is about: stored as the sender, and the student of a progress event.
    pub sender: String,
    /// What happened.
    pub kind: String,
    /// The payload.
    pub data: Value,
    /// An in-game answer the server scored (`roblox/content.rs`), stored with the event.
    pub answer: Option<Box<persistence::ScoredAnswer>>,
}

/// What became of one event of a [`Hub::ingest`] batch.
#[derive(Debug)]
pub enum IngestOutcome {
    /// Fanned out and handed to the sink; its ack resolves after the commit.
    Published {
        /// The event's id.
        id: String,
        /// Its `seq` in the batch's home room, and the ack.
        published: Published,
    },
    /// Refused alone (the rest of the batch goes on).
    Rejected {
        /// The event's id.
        id: String,
        /// Why.
        error: HubError,
    },
}

/// The outcome of a publish.
#[derive(Debug)]
pub struct Published {
    /// The event's sequence number in its room.
    pub seq: u64,
    /// For durable events: resolves once the transaction holding the event committed. The
    /// publisher's acknowledgement must wait for it.
    pub ack: Option<Ack>,
}

impl Hub {
    /// A hub with no rooms. Cancelling `shutdown` asks every connection to close. Durable
    /// events go to `sink`; without one, publishes that carry an `id` are refused.
    pub fn new(
        settings: HubSettings,
        shutdown: CancellationToken,
        sink: Option<EventSink>,
        signals: Option<mpsc::Sender<RoomSignal>>,
    ) -> Hub {
        Hub {
            shared: Arc::new(Shared {
                rooms: DashMap::new(),
                settings,
                next_conn_id: AtomicU64::new(1),
                connections: AtomicUsize::new(0),
                shutdown,
                sink,
                signals,
                rosters: Rosters::default(),
                seats: Seats::default(),
                conns: DashMap::new(),
                tenant_rooms: DashMap::new(),
            }),
        }
    }

    /// Class rosters, parent links and game links, as the join checks see them.
    pub fn rosters(&self) -> &Rosters {
        &self.shared.rosters
    }

    /// Seats in use and the tenants' seat limits.
    pub fn seats(&self) -> &Seats {
        &self.shared.seats
    }

    /// A live socket connection of this node by its id (for `/pusher/auth`, which notes whom it
    /// signed a socket's subscription for).
    pub fn connection(&self, conn_id: u64) -> Option<Arc<ConnHandle>> {
        self.shared
            .conns
            .get(&conn_id)
            .map(|entry| Arc::clone(entry.value()))
    }

    /// Delivers a notification to a `user:` room if anyone is in it (a user who is not connected
    /// reads it from the REST list later). Returns whether the room existed.
    pub fn notify(&self, room_id: &RoomId, from: &str, kind: String, data: Value) -> bool {
        let Some(room) = self.existing_room(room_id) else {
            return false;
        };
        let publication = Publication {
            from: from.to_owned(),
            kind,
            data: Arc::new(data),
            id: None,
            ts: now_millis(),
            except: None,
            as_notification: true,
        };
        // A room reaped meanwhile had nobody in it: nothing to deliver.
        room.publish(publication, Instant::now()).is_ok()
    }

    /// Who is present in a room (with presence state); empty when the room does not exist.
    pub fn room_members(&self, room_id: &RoomId) -> Vec<protocol::Member> {
        self.existing_room(room_id)
            .map(|room| room.members())
            .unwrap_or_default()
    }

    /// The settings the hub runs with.
    pub fn settings(&self) -> &HubSettings {
        &self.shared.settings
    }

    /// Registers a connection. The receiver yields the encoded frames to write to the socket, in
    /// order; it ends when the session is dropped.
    pub fn connect(&self, identity: Identity, wire: Wire) -> (Session, FrameReceiver) {
        let (outbound, frames) = frame_queue(
            self.shared.settings.conn_queue_len,
            self.shared.settings.conn_queue_bytes,
        );
        let conn_id = self.shared.next_conn_id.fetch_add(1, Ordering::Relaxed);
        let rules = self.shared.rosters.watch(&identity.tenant);
        let handle = Arc::new(ConnHandle::new(
            conn_id,
            Arc::new(identity.clone()),
            wire,
            outbound,
            self.shared.shutdown.child_token(),
        ));
        if wire.is_socket() {
            let live = self.shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
            metrics::gauge!("classhub_connections").set(live as f64);
            self.shared.conns.insert(conn_id, Arc::clone(&handle));
        }
        (
            Session {
                hub: self.clone(),
                handle,
                token: identity.clone(),
                current: identity,
                rooms: HashSet::new(),
                signed: std::collections::HashMap::new(),
                seated: None,
                rules,
            },
            frames,
        )
    }

    /// Live connections.
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// The durable-event sink's queue: `(queued, length)`, or `None` without a sink.
    pub fn sink_depth(&self) -> Option<(usize, usize)> {
        self.shared.sink.as_ref().map(EventSink::depth)
    }

    /// Live rooms.
    pub fn room_count(&self) -> usize {
        self.shared.rooms.len()
    }

    /// Drops every room that has been empty for the grace period. Returns how many went.
    pub fn reap_empty_rooms(&self) -> usize {
        let grace = self.shared.settings.room_grace;
        let now = Instant::now();
        let before = self.shared.rooms.len();
        self.shared.rooms.retain(|id, room| {
            let reap = room.close_if_idle(grace, now);
            if reap {
                self.count_tenant_room(id.tenant(), false);
            }
            !reap
        });
        let reaped = before.saturating_sub(self.shared.rooms.len());
        if reaped > 0 {
            metrics::gauge!("classhub_rooms").set(self.shared.rooms.len() as f64);
            tracing::debug!(reaped, "dropped empty rooms");
        }
        reaped
    }

    /// Runs [`Hub::reap_empty_rooms`] periodically until shutdown.
    pub async fn run_reaper(self) {
        let period = (self.shared.settings.room_grace / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(15));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.shared.shutdown.cancelled() => return,
                _ = ticker.tick() => {
                    self.reap_empty_rooms();
                }
            }
        }
    }

    /// The room, made when missing (publishes from server-side sources always make it).
    fn room(&self, id: &RoomId) -> Arc<Room> {
        self.room_within(id, usize::MAX)
            .unwrap_or_else(|_| unreachable!("no limit"))
    }

    /// The room, made when missing unless its tenant already has `max` live rooms.
    fn room_within(&self, id: &RoomId, max: usize) -> Result<Arc<Room>, HubError> {
        if let Some(room) = self.shared.rooms.get(id) {
            return Ok(Arc::clone(&room));
        }
        let in_use = self
            .shared
            .tenant_rooms
            .get(id.tenant())
            .map_or(0, |count| *count);
        if in_use >= max {
            metrics::counter!("classhub_limit_refusals_total", "limit" => "rooms_per_tenant")
                .increment(1);
            return Err(HubError::TenantRooms { max });
        }
        let settings = &self.shared.settings;
        let room = Arc::clone(&self.shared.rooms.entry(id.clone()).or_insert_with(|| {
            self.count_tenant_room(id.tenant(), true);
            Arc::new(Room::new(
                id.clone(),
                settings.history_len,
                settings.history_ttl,
                settings.presence_window,
                Instant::now(),
                self.shared.signals.clone(),
            ))
        }));
        metrics::gauge!("classhub_rooms").set(self.shared.rooms.len() as f64);
        Ok(room)
    }

    fn count_tenant_room(&self, tenant: &str, made: bool) {
        if made {
            *self
                .shared
                .tenant_rooms
                .entry(tenant.to_owned())
                .or_default() += 1;
        } else {
            if let Some(mut count) = self.shared.tenant_rooms.get_mut(tenant) {
                *count = count.saturating_sub(1);
            }
            self.shared
                .tenant_rooms
                .remove_if(tenant, |_, count| *count == 0);
        }
    }

    /// Publishes into a room on behalf of the application (the Pusher HTTP API): no session,
    /// no permission check (the app secret authorized it), optionally excluding one socket.
    pub fn publish_from_app(
        &self,
        room_id: &RoomId,
        kind: String,
        data: Value,
        except: Option<u64>,
    ) -> u64 {
        let publication = Publication {
            from: "api".into(),
            kind,
            data: Arc::new(data),
            id: None,
            ts: now_millis(),
            except,
            as_notification: false,
        };
        self.publish_into(room_id, publication)
    }

    /// Publishes into a room on behalf of the server itself (a REST call already authorized,
    /// a command's delivery status): no session, no permission check, not durable. A command
    /// kind gets a fresh command id. Returns `(seq, id)`.
    pub fn publish_system(
        &self,
        room_id: &RoomId,
        from: &str,
        kind: String,
        data: Value,
    ) -> (u64, Option<String>) {
        let id = command_id(&kind, None);
        let publication = Publication {
            from: from.to_owned(),
            kind,
            data: Arc::new(data),
            id: id.clone(),
            ts: now_millis(),
            except: None,
            as_notification: false,
        };
        (self.publish_into(room_id, publication), id)
    }

    /// Takes a batch of durable events from an already authorized source (a Roblox game
    /// server): each is fanned out to every room of `rooms` and stored once, with `rooms[0]` as
    /// its room. Places in the sink are reserved for the whole batch first, so a full queue
    /// refuses the whole batch (the `Err`) before anyone sees any of it. Otherwise one outcome
    /// per event, in order.
    pub fn ingest(
        &self,
        tenant: &str,
        rooms: &[RoomId],
        events: Vec<TrustedEvent>,
    ) -> Result<Vec<IngestOutcome>, HubError> {
        let sink = self.shared.sink.as_ref().ok_or(HubError::NotDurable)?;
        let Some(home) = rooms.first() else {
            return Ok(Vec::new());
        };
        let checked: Vec<Result<TrustedEvent, (String, HubError)>> = events
            .into_iter()
            .map(|event| {
                if CommandKind::parse(&event.kind).is_some() {
                    let error = HubError::InvalidEvent(format!(
                        "kind {:?} is a teacher command; game servers cannot send it",
                        event.kind
                    ));
                    return Err((event.id, error));
                }
                match ProgressUpdate::from_event(&event.kind, &event.sender, &event.data) {
                    Ok(_) => Ok(event),
                    Err(problem) => Err((event.id, HubError::InvalidEvent(problem))),
                }
            })
            .collect();
        let valid = checked.iter().filter(|event| event.is_ok()).count();
        let mut permits = sink.reserve_many(valid)?.into_iter();
        let outcomes = checked
            .into_iter()
            .map(|event| {
                let event = match event {
                    Ok(event) => event,
                    Err((id, error)) => return IngestOutcome::Rejected { id, error },
                };
                let Some(permit) = permits.next() else {
                    let error = HubError::NotDurable;
                    return IngestOutcome::Rejected {
                        id: event.id,
                        error,
                    };
                };
                let ts = now_millis();
                let data = Arc::new(event.data);
                let mut seq = 0;
                for (index, room_id) in rooms.iter().enumerate() {
                    let publication = Publication {
                        from: event.sender.clone(),
                        kind: event.kind.clone(),
                        data: Arc::clone(&data),
                        id: Some(event.id.clone()),
                        ts,
                        except: None,
                        as_notification: false,
                    };
                    let room_seq = self.publish_into(room_id, publication);
                    if index == 0 {
                        seq = room_seq;
                    }
                }
                let id = event.id.clone();
                let ack = permit.submit(DurableEvent {
                    tenant: tenant.to_owned(),
                    event_id: event.id,
                    room: home.to_string(),
                    kind: event.kind,
                    sender: event.sender,
                    data,
                    seq,
                    sent_at_ms: ts,
                    answer: event.answer,
                });
                IngestOutcome::Published {
                    id,
                    published: Published {
                        seq,
                        ack: Some(ack),
                    },
                }
            })
            .collect();
        Ok(outcomes)
    }

    /// Takes the events with these ids out of a live room's history, so no replay shows them
    /// again (a deleted chat message and its held copy). Returns how many were there.
    pub fn retract(&self, room_id: &RoomId, ids: &[&str]) -> usize {
        let Some(room) = self.existing_room(room_id) else {
            return 0;
        };
        ids.iter().filter(|id| room.retract(id)).count()
    }

    /// Forgets an erased user in every live room of their tenant: their events (sent, about
    /// them, or naming them) leave the history rings. Their sockets are closed by the re-check
    /// the rules clock starts (the directory refuses them). Returns the events dropped.
    pub fn forget_user(&self, tenant: &str, user: &str) -> usize {
        let rooms: Vec<Arc<Room>> = self
            .shared
            .rooms
            .iter()
            .filter(|entry| entry.key().tenant() == tenant)
            .map(|entry| Arc::clone(entry.value()))
            .collect();
        rooms.iter().map(|room| room.forget(user)).sum()
    }

    /// The users present in a room and its socket count, or `None` when it does not exist.
    pub fn room_presence(&self, room_id: &RoomId) -> Option<(Vec<String>, usize)> {
        self.existing_room(room_id).map(|room| room.presence())
    }

    /// Ids of the live rooms of a tenant.
    pub fn rooms_of(&self, tenant: &str) -> Vec<RoomId> {
        self.shared
            .rooms
            .iter()
            .filter(|entry| entry.key().tenant() == tenant)
            .map(|entry| entry.key().clone())
            .collect()
    }

    fn publish_into(&self, room_id: &RoomId, mut publication: Publication) -> u64 {
        loop {
            let room = self.room(room_id);
            match room.publish(publication, Instant::now()) {
                Ok(seq) => return seq,
                // Reaped between lookup and lock: publish into the room's next life.
                Err(returned) => publication = *returned,
            }
        }
    }

    fn existing_room(&self, id: &RoomId) -> Option<Arc<Room>> {
        self.shared.rooms.get(id).map(|room| Arc::clone(&room))
    }
}

/// The id a command gets: the publisher's, or a fresh one (game servers acknowledge commands
/// by id, and teachers match delivery statuses to it). Other kinds keep what they had.
fn command_id(kind: &str, given: Option<String>) -> Option<String> {
    match given {
        Some(id) => Some(id),
        None if CommandKind::parse(kind).is_some() => {
            Some(format!("cmd_{:016x}", rand::random::<u64>()))
        }
        None => None,
    }
}

/// Wall-clock milliseconds since the Unix epoch (event `ts`).
fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}
