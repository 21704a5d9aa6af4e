//! One room: its members (sockets and the users behind them), presence per user, its `seq` and
//! `epoch`, and its history ring. Every operation runs under the room's `std::sync::Mutex` and
//! never awaits: fan-out is `try_send` into bounded queues, so the lock is held for encoding
//! once per codec plus one queue push per member, and events reach every member in `seq` order.
//!
//! Presence updates are coalesced per room: the first in a `--presence-window` goes out at once,
//! later ones wait for the window's end and go out as one `presence_diff` holding each changed
//! user's latest state (sooner when the room sends any other frame, so frames keep their order).
//! However many sockets change presence, a member receives at most one update diff per window
//! from a room: the cost of a presence flood is bounded per room, not only per socket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::Bytes;
use protocol::{
    CommandKind, EventBody, Joined, LeftMember, Member, PresenceDiff, Ref, RoomId, RoomKind,
    ServerMessage, Since,
};
use serde_json::Value;
use tokio::time::Instant;

use super::conn::{ConnHandle, EncodedFrame, EphemeralOffer};
use super::history::{History, Recovery};
use super::{LeaveReason, RoomSignal};
use crate::auth::Role;
use tokio::sync::mpsc;

/// A live room. Held as `Arc<Room>` by the hub's room map; operations that find it `closed`
/// (reaped while they waited for the lock) retry on a fresh room.
#[derive(Debug)]
pub(crate) struct Room {
    pub(crate) id: RoomId,
    /// Where occupancy, membership and client-event signals go (Pusher webhooks); never awaited.
    signals: Option<mpsc::Sender<RoomSignal>>,
    /// Random per room life, below 2^53 so Luau numbers hold it exactly.
    pub(crate) epoch: u64,
    /// Presence updates within this window are coalesced (zero: each goes out at once).
    presence_window: Duration,
    /// Short critical sections only, never across an `.await` (fan-out is `try_send`).
    state: Mutex<RoomState>,
}

/// The room was reaped while the caller waited; look it up again.
#[derive(Debug)]
pub(crate) struct RoomClosed;

#[derive(Debug)]
struct RoomState {
    seq: u64,
    history: History,
    /// Sockets in the room, by connection id, with the user each one is present as.
    sockets: HashMap<u64, Socket>,
    /// Users in the room: presence is per user, however many sockets they have here.
    users: HashMap<String, UserPresence>,
    /// When the last socket left; `None` while anyone is here.
    empty_since: Option<Instant>,
    /// Set by the reaper just before it removes the room from the hub's map.
    closed: bool,
    /// Users whose presence changed since the last update diff, waiting for the window's end.
    pending_updates: Vec<String>,
    /// When the last update diff went out.
    updates_sent_at: Option<Instant>,
    /// Whether a task will send the pending updates.
    flush_scheduled: bool,
}

#[derive(Debug)]
struct Socket {
    handle: Arc<ConnHandle>,
    user: String,
    role: Role,
}

impl Socket {
    /// Whether this socket may receive an event about `subject` (`protocol::audience`): staff,
    /// the game server and the student it is about; everyone when it is about no one.
    fn sees(&self, subject: Option<&str>) -> bool {
        sees(&self.handle, &self.user, self.role, subject)
    }
}

fn sees(handle: &ConnHandle, user: &str, role: Role, subject: Option<&str>) -> bool {
    match subject {
        None => true,
        Some(student) => {
            matches!(role, Role::Educator | Role::Admin)
                || handle.wire == super::Wire::Commands
                || user == student
        }
    }
}

/// Who a socket is present as in a room: its authenticated user for native sockets, the
/// `channel_data` user a Pusher auth endpoint signed for Pusher sockets.
#[derive(Debug, Clone)]
pub struct MemberAs {
    /// The user id.
    pub user: String,
    /// The display name.
    pub name: Option<String>,
    /// The role.
    pub role: Role,
}

#[derive(Debug)]
struct UserPresence {
    sockets: u32,
    name: Option<String>,
    role: Role,
    state: Value,
}

/// A publish, as the hub hands it to the room.
#[derive(Debug)]
pub(crate) struct Publication {
    pub(crate) from: String,
    pub(crate) kind: String,
    /// Shared by every room the event goes to and by the sink.
    pub(crate) data: Arc<Value>,
    pub(crate) id: Option<String>,
    /// Wall-clock milliseconds since the Unix epoch.
    pub(crate) ts: u64,
    /// A socket that must not receive it (Pusher client events, HTTP `socket_id` exclusion).
    pub(crate) except: Option<u64>,
    /// Deliver as a `notification` frame whatever the kind (REST notifications, whose kinds
    /// such as `reward` or `quiz` would otherwise be commands).
    pub(crate) as_notification: bool,
}

impl Room {
    pub(crate) fn new(
        id: RoomId,
        history_len: usize,
        history_ttl: Duration,
        presence_window: Duration,
        now: Instant,
        signals: Option<mpsc::Sender<RoomSignal>>,
    ) -> Room {
        let epoch = rand::random::<u64>() >> 11;
        Room {
            id,
            signals,
            epoch,
            presence_window,
            state: Mutex::new(RoomState {
                pending_updates: Vec::new(),
                updates_sent_at: None,
                flush_scheduled: false,
                seq: 0,
                history: History::new(history_len, history_ttl),
                sockets: HashMap::new(),
                users: HashMap::new(),
                empty_since: Some(now),
                closed: false,
            }),
        }
    }

    /// Adds a socket (idempotent), sends it `joined` with what it missed since `since`, and tells
    /// the others when its user is new here. Returns whether the socket was not a member before.
    pub(crate) fn join(
        self: &Arc<Self>,
        conn: &Arc<ConnHandle>,
        member: &MemberAs,
        since: Option<Since>,
        presence: Option<Value>,
        reference: Option<Ref>,
        now: Instant,
    ) -> Result<bool, RoomClosed> {
        let mut state = self.lock();
        if state.closed {
            return Err(RoomClosed);
        }
        let was_empty = state.sockets.is_empty();
        let socket = Socket {
            handle: Arc::clone(conn),
            user: member.user.clone(),
            role: member.role,
        };
        let newly_joined = match state.sockets.insert(conn.id, socket) {
            None => true,
            // Re-joining as another user (a new Pusher signature): leave as the old one first.
            Some(previous) if previous.user != member.user => {
                state.sockets.insert(conn.id, previous);
                drop(state);
                self.leave(conn, LeaveReason::Left, now);
                return self.join(conn, member, since, presence, reference, now);
            }
            Some(_) => false,
        };
        let mut diff = PresenceDiff {
            room: self.id.to_string(),
            joins: vec![],
            leaves: vec![],
            updates: vec![],
        };
        let mut updated = false;
        match state.users.get_mut(&member.user) {
            Some(user) => {
                if newly_joined {
                    user.sockets += 1;
                }
                if let Some(presence) = presence {
                    user.state = presence;
                    updated = true;
                }
            }
            None => {
                let user = UserPresence {
                    sockets: 1,
                    name: member.name.clone(),
                    role: member.role,
                    state: presence.unwrap_or_else(|| Value::Object(Default::default())),
                };
                diff.joins.push(member_of(&member.user, &user));
                state.users.insert(member.user.clone(), user);
            }
        }
        state.empty_since = None;

        let last_seq = state.seq;
        let (recovered, missed) = match since {
            // A re-join is a presence update, never a second replay: this socket has been in
            // the room all along and received every event since it joined.
            Some(since) if !newly_joined => (
                since.epoch == self.epoch && since.seq <= last_seq,
                Vec::new(),
            ),
            None if !newly_joined => (false, Vec::new()),
            Some(since) if since.epoch == self.epoch => {
                let visible =
                    |subject: Option<&str>| sees(conn, &member.user, member.role, subject);
                match state.history.since(since.seq, last_seq, now, visible) {
                    Recovery::Complete(events) => (true, events),
                    Recovery::Incomplete => (false, Vec::new()),
                }
            }
            Some(_) | None => (false, Vec::new()),
        };
        let joined = ServerMessage::Joined(Joined {
            reference,
            room: self.id.to_string(),
            epoch: self.epoch,
            seq: last_seq,
            members: state
                .users
                .iter()
                .map(|(user_id, user)| member_of(user_id, user))
                .collect(),
            recovered,
            missed: missed
                .iter()
                .map(|event| ServerMessage::clone(event))
                .collect(),
        });
        if let Some(frame) = super::conn::encode(conn.wire, &joined) {
            conn.offer(frame);
            count_out(&joined, 1);
        }
        if was_empty && newly_joined {
            self.signal(RoomSignal::Occupied {
                room: self.id.clone(),
            });
        }
        for joined in &diff.joins {
            self.signal(RoomSignal::MemberAdded {
                room: self.id.clone(),
                user: joined.user.clone(),
            });
        }
        if !diff.joins.is_empty() {
            self.flush_updates(&mut state, now);
            broadcast(&state, &ServerMessage::PresenceDiff(diff), Some(conn.id));
        }
        if updated {
            self.update_presence(&mut state, &member.user, now);
        }
        Ok(newly_joined)
    }

    /// Removes a socket. When it was its user's last socket here, the others get a leave with
    /// `reason`. Returns whether the socket was a member.
    pub(crate) fn leave(&self, conn: &ConnHandle, reason: LeaveReason, now: Instant) -> bool {
        let mut state = self.lock();
        let Some(socket) = state.sockets.remove(&conn.id) else {
            return false;
        };
        let user_id = &socket.user;
        let last_socket = match state.users.get_mut(user_id) {
            Some(user) => {
                user.sockets -= 1;
                user.sockets == 0
            }
            None => false,
        };
        if last_socket {
            self.flush_updates(&mut state, now);
            state.users.remove(user_id);
            let diff = ServerMessage::PresenceDiff(PresenceDiff {
                room: self.id.to_string(),
                joins: vec![],
                leaves: vec![LeftMember {
                    user: user_id.clone(),
                    reason: reason.as_str().to_owned(),
                }],
                updates: vec![],
            });
            broadcast(&state, &diff, None);
            self.signal(RoomSignal::MemberRemoved {
                room: self.id.clone(),
                user: user_id.clone(),
            });
        }
        if state.sockets.is_empty() {
            state.empty_since = Some(now);
            self.signal(RoomSignal::Vacated {
                room: self.id.clone(),
            });
        }
        true
    }

    /// Assigns the next `seq`, remembers the event and fans it out to every socket here. A
    /// publication whose client id is still in history is a retry: it gets the original `seq`
    /// and is not fanned out again. A closed room hands the publication back.
    pub(crate) fn publish(
        &self,
        publication: Publication,
        now: Instant,
    ) -> Result<u64, Box<Publication>> {
        let mut state = self.lock();
        if state.closed {
            return Err(Box::new(publication));
        }
        // A retried publish (same client id, still in history) is not shown twice.
        if let Some(id) = &publication.id
            && let Some(seq) = state.history.seq_of(id, now)
        {
            return Ok(seq);
        }
        state.seq += 1;
        let seq = state.seq;
        let except = publication.except;
        if let Some(sender) = except.filter(|_| publication.kind.starts_with("client-")) {
            self.signal(RoomSignal::ClientEvent {
                room: self.id.clone(),
                event: publication.kind.clone(),
                data: Value::clone(&publication.data),
                user: publication.from.clone(),
                conn_id: sender,
            });
        }
        let subject = self.subject_of(&publication);
        self.flush_updates(&mut state, now);
        let message = Arc::new(self.message_of(publication, seq, false));
        broadcast_to(&state, &message, except, subject.as_deref());
        state.history.push(seq, now, message, subject);
        Ok(seq)
    }

    /// Fans an ephemeral event out to every socket here but `publication.except`, best effort
    /// ([`ConnHandle::offer_ephemeral`]): no `seq` of its own (it carries the room's last), no
    /// history, and no flush of pending presence (nothing orders against it). Returns how many
    /// sockets it reached.
    pub(crate) fn publish_ephemeral(&self, publication: Publication) -> u64 {
        let state = self.lock();
        if state.closed {
            return 0;
        }
        let except = publication.except;
        let subject = self.subject_of(&publication);
        let message = self.message_of(publication, state.seq, true);
        let mut outcomes = [0u64; 3];
        let reached = offer_each(
            &state,
            &message,
            except,
            subject.as_deref(),
            |handle, bytes| {
                let outcome = handle.offer_ephemeral(bytes);
                outcomes[outcome as usize] += 1;
                outcome != EphemeralOffer::Dropped
            },
        );
        drop(state);
        for (outcome, count) in [
            EphemeralOffer::Datagram,
            EphemeralOffer::Queued,
            EphemeralOffer::Dropped,
        ]
        .into_iter()
        .zip(outcomes)
        {
            if count > 0 {
                metrics::counter!("classhub_ephemeral_frames_total", "outcome" => outcome.as_str())
                    .increment(count);
            }
        }
        reached
    }

    /// The student a publication here is about (`protocol::audience`), in class and game rooms.
    fn subject_of(&self, publication: &Publication) -> Option<Arc<str>> {
        if !matches!(self.id.kind(), RoomKind::Class | RoomKind::Game) {
            return None;
        }
        protocol::audience::personal_subject(
            &publication.kind,
            &publication.from,
            &publication.data,
        )
        .map(Arc::from)
    }

    /// The frame a publication goes out as: a `notification` in user rooms (or when asked), a
    /// `command` for command kinds, otherwise an `event`.
    fn message_of(&self, publication: Publication, seq: u64, ephemeral: bool) -> ServerMessage {
        let as_notification = publication.as_notification;
        let body = EventBody {
            room: self.id.to_string(),
            seq,
            ts: publication.ts,
            from: publication.from,
            kind: publication.kind,
            data: publication.data,
            id: publication.id,
            ephemeral,
        };
        if as_notification {
            ServerMessage::Notification(body)
        } else if CommandKind::parse(&body.kind).is_some() {
            ServerMessage::Command(body)
        } else if self.id.kind() == RoomKind::User {
            ServerMessage::Notification(body)
        } else {
            ServerMessage::Event(body)
        }
    }

    /// The members present, with their presence state.
    pub(crate) fn members(&self) -> Vec<Member> {
        let state = self.lock();
        state
            .users
            .iter()
            .map(|(user_id, user)| member_of(user_id, user))
            .collect()
    }

    /// Replaces the presence state of `conn`'s user and tells everyone here (coalesced within
    /// the presence window).
    pub(crate) fn set_presence(
        self: &Arc<Self>,
        conn: &ConnHandle,
        presence: Value,
        now: Instant,
    ) -> bool {
        let mut state = self.lock();
        let Some(user_id) = state
            .sockets
            .get(&conn.id)
            .map(|socket| socket.user.clone())
        else {
            return false;
        };
        let Some(user) = state.users.get_mut(&user_id) else {
            return false;
        };
        user.state = presence;
        self.update_presence(&mut state, &user_id, now);
        true
    }

    /// Tells everyone `user`'s new presence: at once when no update diff went out within the
    /// window, else with the diff that ends it.
    fn update_presence(self: &Arc<Self>, state: &mut RoomState, user: &str, now: Instant) {
        if !state.pending_updates.iter().any(|pending| pending == user) {
            state.pending_updates.push(user.to_owned());
        }
        let next = state
            .updates_sent_at
            .map(|sent| sent + self.presence_window)
            .filter(|next| *next > now);
        match next {
            None => self.flush_updates(state, now),
            Some(_) if state.flush_scheduled => {}
            Some(next) => {
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    self.flush_updates(state, now);
                    return;
                };
                state.flush_scheduled = true;
                let room: Weak<Room> = Arc::downgrade(self);
                runtime.spawn(async move {
                    tokio::time::sleep_until(next).await;
                    if let Some(room) = room.upgrade() {
                        let mut state = room.lock();
                        state.flush_scheduled = false;
                        if !state.closed {
                            room.flush_updates(&mut state, Instant::now());
                        }
                    }
                });
            }
        }
    }

    /// Sends the pending presence updates as one diff (each user's latest state), if any.
    fn flush_updates(&self, state: &mut RoomState, now: Instant) {
        if state.pending_updates.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut state.pending_updates);
        let updates: Vec<Member> = pending
            .iter()
            .filter_map(|user_id| {
                let user = state.users.get(user_id)?;
                Some(member_of(user_id, user))
            })
            .collect();
        state.updates_sent_at = Some(now);
        if updates.is_empty() {
            return;
        }
        let diff = ServerMessage::PresenceDiff(PresenceDiff {
            room: self.id.to_string(),
            joins: vec![],
            leaves: vec![],
            updates,
        });
        broadcast(state, &diff, None);
    }

    /// The user ids present, and how many sockets each has here (for the Pusher HTTP API).
    pub(crate) fn presence(&self) -> (Vec<String>, usize) {
        let state = self.lock();
        (state.users.keys().cloned().collect(), state.sockets.len())
    }

    /// Drops the history's events `user` sent, is about or is named in (an erased student).
    pub(crate) fn forget(&self, user: &str) -> usize {
        self.lock().history.forget(user)
    }

    /// Takes the event with id `id` out of the history (see `History::retract`).
    pub(crate) fn retract(&self, id: &str) -> bool {
        self.lock().history.retract(id)
    }

    /// Marks the room closed when it has been empty for at least `grace`; the caller then removes
    /// it from the map.
    pub(crate) fn close_if_idle(&self, grace: Duration, now: Instant) -> bool {
        let mut state = self.lock();
        let idle = state
            .empty_since
            .is_some_and(|since| now.saturating_duration_since(since) >= grace);
        if idle {
            state.closed = true;
        }
        idle
    }

    /// Reports a signal without waiting: a full queue drops it, counted and logged (webhooks are
    /// notifications, and the hub must never stall on them).
    fn signal(&self, signal: RoomSignal) {
        let Some(signals) = &self.signals else { return };
        if signals.try_send(signal).is_err() {
            metrics::counter!("classhub_webhook_signals_dropped_total").increment(1);
            tracing::warn!(room = %self.id, "webhook queue full; a room signal was dropped");
        }
    }

    fn lock(&self) -> MutexGuard<'_, RoomState> {
        // A panic while holding the lock cannot leave the state half-updated in a way that matters
        // more than losing the room, so a poisoned lock is used as is.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn member_of(user_id: &str, user: &UserPresence) -> Member {
    Member {
        user: user_id.to_owned(),
        name: user.name.clone(),
        role: user.role.as_str().to_owned(),
        state: user.state.clone(),
    }
}

/// Encodes `message` once per codec in use and offers it to every socket but `except`.
fn broadcast(state: &RoomState, message: &ServerMessage, except: Option<u64>) {
    broadcast_to(state, message, except, None);
}

/// [`broadcast`] to the sockets that may see an event about `subject`.
fn broadcast_to(
    state: &RoomState,
    message: &ServerMessage,
    except: Option<u64>,
    subject: Option<&str>,
) {
    offer_each(state, message, except, subject, |handle, bytes| {
        handle.offer(bytes);
        true
    });
}

/// Encodes `message` once per codec in use and hands it to `offer` for every socket but
/// `except` that may see an event about `subject`; `offer` says whether it reached the socket.
/// Counts and returns the sockets reached.
fn offer_each(
    state: &RoomState,
    message: &ServerMessage,
    except: Option<u64>,
    subject: Option<&str>,
    mut offer: impl FnMut(&ConnHandle, Bytes) -> bool,
) -> u64 {
    let mut frame = EncodedFrame::new(message);
    let mut reached = 0u64;
    for (conn_id, socket) in &state.sockets {
        if Some(*conn_id) == except || !socket.sees(subject) {
            continue;
        }
        if let Some(bytes) = frame.bytes(socket.handle.wire)
            && offer(&socket.handle, bytes)
        {
            reached += 1;
        }
    }
    count_out(message, reached);
    reached
}

fn count_out(message: &ServerMessage, recipients: u64) {
    if recipients == 0 {
        return;
    }
    metrics::counter!("classhub_frames_out_total", "type" => message.type_name())
        .increment(recipients);
    if matches!(
        message,
        ServerMessage::Event(_) | ServerMessage::Command(_) | ServerMessage::Notification(_)
    ) {
        metrics::counter!("classhub_deliveries_total").increment(recipients);
    }
}
