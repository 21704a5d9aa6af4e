//! [`Session`]: one connection's view of the hub, the only way a transport touches rooms. It
//! joins (role and roster check, a student's seat, the room's `joined` frame with recovery),
//! leaves, publishes (rate limits are the transport's; permissions, command data and the
//! durable sink reservation are here) and sets presence. Dropping it leaves every room with a
//! reason derived from the connection's close code and gives back the student's seat.
//!
//! Authority is live: a session holds its caller's identity as it is *now*. Transports watch
//! [`Session::rules_watch`] (ticked by every roster, link, teacher, role or standing change of
//! the tenant) and [`Session::deadline`] (the token's `exp`, or a signer's), and call
//! [`Session::recheck`] with the directory's standing: a connection whose user was deactivated
//! or whose token expired is closed; one that may no longer be in a room leaves it with the
//! reason `revoked` (a Pusher socket is closed instead, so its client re-authenticates through
//! `/pusher/auth`, which refuses).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use persistence::{DurableEvent, ProgressUpdate};
use protocol::{CloseCode, CommandKind, ErrorCode, Ref, RoomId, RoomKind, ServerMessage, Since};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use super::permissions::{self, Denied};
use super::room::{MemberAs, Publication, RoomClosed};
use super::seats::SeatRefusal;
use super::{
    ConnHandle, Hub, HubError, LeaveReason, Offer, Published, Wire, command_id, conn, now_millis,
};
use crate::auth::Identity;

/// Chat event kinds only the server publishes (`crate::chat`).
const CHAT_SERVER_KINDS: [&str; 4] = [
    "chat_held",
    "chat_deleted",
    "chat_released",
    "chat_settings",
];

/// Whether `kind` belongs to class chat (`chat`, or one of the kinds only the server
/// publishes): only `crate::chat` publishes it, whichever door it came through.
pub fn is_chat_kind(kind: &str) -> bool {
    kind == "chat" || CHAT_SERVER_KINDS.contains(&kind)
}

/// One connection's view of the hub. Dropping it leaves every room (with a reason derived from
/// the connection's close code) and ends its outbound queue.
#[derive(Debug)]
pub struct Session {
    pub(super) hub: Hub,
    pub(super) handle: Arc<ConnHandle>,
    /// Who is connected as the latest token says (a re-`auth` replaces it).
    pub(super) token: Identity,
    /// Who is connected as the rules see them now (the directory's role); set by `recheck`.
    pub(super) current: Identity,
    /// Rooms this connection is in; only this session adds or removes entries.
    pub(super) rooms: HashSet<RoomId>,
    /// Rooms joined on a signature (`join_signed`), with the person classhub signed it for
    /// (`None`: signed by someone classhub cannot re-check, such as a game server or the tenant's
    /// own backend holding the app secret).
    pub(super) signed: HashMap<RoomId, Option<Arc<Identity>>>,
    /// The student whose seat this session holds (released on drop): the socket's own user, or
    /// the student a signed Pusher subscription names.
    pub(super) seated: Option<String>,
    /// The tenant's rules clock.
    pub(super) rules: watch::Receiver<u64>,
}

/// What a [`Session::recheck`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recheck {
    /// Everything the connection holds is still allowed.
    Unchanged,
    /// The connection left these rooms (reason `revoked`; each was told why).
    Left(Vec<RoomId>),
    /// The connection is being closed (its user was deactivated, its token expired, or a Pusher
    /// subscription is no longer allowed).
    Closed,
}

/// Why a person's standing no longer holds (from the directory): the sentence is sent to them.
pub type Standing<'a> = &'a dyn Fn(&Identity) -> Result<Identity, String>;

impl Session {
    /// The connection handle (id, identity, codec, close control).
    pub fn handle(&self) -> &Arc<ConnHandle> {
        &self.handle
    }

    /// Who is connected, with the role the rules give them now.
    pub fn identity(&self) -> &Identity {
        &self.current
    }

    /// The tenant's rules clock: it changes whenever something that decides who may be where
    /// changes; the transport then calls [`Session::recheck`].
    pub fn rules_watch(&self) -> watch::Receiver<u64> {
        self.rules.clone()
    }

    /// When the transport must re-check this connection at the latest: the token's `exp`, or
    /// the earliest `exp` among the people its signed subscriptions were signed for.
    pub fn deadline(&self) -> Option<Instant> {
        let signers = self
            .signed
            .values()
            .flatten()
            .filter_map(|who| who.expires_at);
        let earliest = self.token.expires_at.into_iter().chain(signers).min()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        Some(Instant::now() + Duration::from_secs(earliest.saturating_sub(now)))
    }

    /// Takes a fresh token for the same person (a native `auth` frame on an open connection):
    /// its role and expiry replace the old one's, then everything is re-checked. Refused (with
    /// the sentence) when the token names someone else.
    pub fn reauthenticate(
        &mut self,
        token: Identity,
        standing: Standing<'_>,
    ) -> Result<Recheck, String> {
        if token.user != self.token.user || token.tenant != self.token.tenant {
            return Err(format!(
                "this connection belongs to {} of {}; open a new connection for another user",
                self.token.user, self.token.tenant
            ));
        }
        self.token = token;
        Ok(self.recheck(standing))
    }

    /// Re-checks everything this connection holds against the rules as they are now:
    /// `standing` gives a person's current identity (their role now), or why they may no longer
    /// be connected.
    pub fn recheck(&mut self, standing: Standing<'_>) -> Recheck {
        let current = match standing(&self.token) {
            Ok(current) => current,
            Err(reason) => {
                self.close_revoked(&reason);
                return Recheck::Closed;
            }
        };
        self.current = current;
        let mut revoked = Vec::new();
        for room_id in &self.rooms {
            let allowed = match self.signed.get(room_id) {
                Some(None) => Ok(()),
                Some(Some(signer)) => standing(signer).and_then(|now| {
                    permissions::check_join(&now, room_id, &self.hub.shared.rosters)
                        .map_err(|denied| denied.to_string())
                }),
                None => permissions::check_join(&self.current, room_id, &self.hub.shared.rosters)
                    .map_err(|denied| denied.to_string()),
            };
            if let Err(reason) = allowed {
                revoked.push((room_id.clone(), reason));
            }
        }
        if revoked.is_empty() {
            return Recheck::Unchanged;
        }
        if self.handle.wire == Wire::Pusher {
            // A Pusher client cannot be told to drop one subscription: it is closed (4009) and
            // re-authenticates each channel through `/pusher/auth`.
            let (room, reason) = &revoked[0];
            self.close_revoked(&format!("{room}: {reason}"));
            return Recheck::Closed;
        }
        let now = Instant::now();
        let mut left = Vec::with_capacity(revoked.len());
        for (room_id, reason) in revoked {
            self.rooms.remove(&room_id);
            self.signed.remove(&room_id);
            if let Some(room) = self.hub.existing_room(&room_id) {
                room.leave(&self.handle, LeaveReason::Revoked, now);
            }
            metrics::counter!("classhub_revocations_total", "outcome" => "left").increment(1);
            self.send(&ServerMessage::Error(protocol::ErrorBody {
                reference: None,
                code: ErrorCode::Forbidden.code(),
                message: format!(
                    "you may no longer be in {room_id}, so you have left it: {reason}"
                ),
                retry_after_ms: None,
            }));
            left.push(room_id);
        }
        Recheck::Left(left)
    }

    /// Tells the connection why (native sockets get an `error` frame) and closes it: 4001 on
    /// the native protocol, 4009 on Pusher.
    fn close_revoked(&self, reason: &str) {
        tracing::info!(conn = self.handle.id, user = %self.token.user, reason, "authority revoked; closing");
        metrics::counter!("classhub_revocations_total", "outcome" => "closed").increment(1);
        if matches!(self.handle.wire, Wire::Native(_)) {
            self.send(&ServerMessage::Error(protocol::ErrorBody {
                reference: None,
                code: ErrorCode::Forbidden.code(),
                message: format!("{reason}; this connection is closed"),
                retry_after_ms: None,
            }));
        }
        self.handle.close(CloseCode::AuthFailed);
    }

    /// Queues a message for this connection alone.
    pub fn send(&self, message: &ServerMessage) -> Offer {
        match conn::encode(self.handle.wire, message) {
            Some(frame) => {
                metrics::counter!("classhub_frames_out_total", "type" => message.type_name())
                    .increment(1);
                self.handle.offer(frame)
            }
            None => Offer::Queued,
        }
    }

    /// Joins `room` (idempotent). The `joined` frame, with recovery from `since`, is queued
    /// before any later event of the room.
    pub fn join(
        &mut self,
        room_id: RoomId,
        since: Option<Since>,
        presence: Option<Value>,
        reference: Option<Ref>,
    ) -> Result<(), HubError> {
        permissions::check_join(&self.current, &room_id, &self.hub.shared.rosters)?;
        let identity = &self.current;
        let member = MemberAs {
            user: identity.user.clone(),
            name: identity.name.clone(),
            role: identity.role,
        };
        self.take_seat(&room_id, &member)?;
        self.join_as(room_id, &member, since, presence, reference)
    }

    /// Joins `room` as `member` on a signature instead of this connection's own role: Pusher
    /// subscriptions (signed with the app secret, by `/pusher/auth` for `signer` after its own
    /// checks) and a game server's players. The tenant is still checked, and a `signer` (the
    /// person classhub signed for) must still be allowed the room now: the caller passes their
    /// current identity.
    pub fn join_signed(
        &mut self,
        room_id: RoomId,
        member: &MemberAs,
        presence: Option<Value>,
        signer: Option<Arc<Identity>>,
    ) -> Result<(), HubError> {
        if room_id.tenant() != self.current.tenant {
            return Err(HubError::Denied(Denied::OtherTenant {
                room: room_id.to_string(),
            }));
        }
        if let Some(signer) = &signer {
            permissions::check_join(signer, &room_id, &self.hub.shared.rosters)?;
        }
        self.take_seat(&room_id, member)?;
        self.join_as(room_id.clone(), member, None, presence, None)?;
        self.signed.insert(room_id, signer);
        Ok(())
    }

    /// A student joining a class or game room takes a seat (once per session), whatever the
    /// transport: natively as themselves, over Pusher as the student the signed presence
    /// subscription names. A refusal is also told to the room, so the teacher's dashboard shows
    /// who could not join and why.
    fn take_seat(&mut self, room_id: &RoomId, member: &MemberAs) -> Result<(), HubError> {
        let needs_seat = member.role == crate::auth::Role::Student
            && matches!(room_id.kind(), RoomKind::Class | RoomKind::Game)
            && self.seated.is_none();
        if !needs_seat {
            return Ok(());
        }
        let tenant = self.handle.identity.tenant.clone();
        match self.hub.shared.seats.take(&tenant, &member.user) {
            Ok(()) => {
                self.seated = Some(member.user.clone());
                Ok(())
            }
            Err(refusal) => {
                let (in_use, seats) = self.hub.shared.seats.usage(&tenant);
                let reason = match refusal {
                    SeatRefusal::Full { .. } => "seat_limit",
                    SeatRefusal::Lapsed => "subscription_lapsed",
                };
                tracing::info!(%tenant, user = %member.user, room = %room_id, reason, "join refused: no seat");
                metrics::counter!("classhub_seat_refusals_total", "reason" => reason).increment(1);
                let told = serde_json::json!({
                    "student": member.user,
                    "name": member.name,
                    "reason": reason,
                    "seats": seats,
                    "in_use": in_use,
                    "message": match refusal {
                        SeatRefusal::Full { seats } => format!(
                            "{} could not join: all {seats} seats of your plan are in use; free a seat or upgrade the plan",
                            member.user
                        ),
                        SeatRefusal::Lapsed => format!(
                            "{} could not join: the subscription has lapsed; renew it to start new sessions",
                            member.user
                        ),
                    },
                });
                self.hub
                    .publish_system(room_id, "classhub", "seat_refused".to_owned(), told);
                Err(HubError::NoSeat(refusal))
            }
        }
    }

    fn join_as(
        &mut self,
        room_id: RoomId,
        member: &MemberAs,
        since: Option<Since>,
        presence: Option<Value>,
        reference: Option<Ref>,
    ) -> Result<(), HubError> {
        let max_rooms = self.hub.shared.settings.max_rooms_per_conn;
        if !self.rooms.contains(&room_id) && self.rooms.len() >= max_rooms {
            return Err(HubError::TooManyRooms { max: max_rooms });
        }
        let max_rooms = self.hub.shared.settings.max_rooms_per_tenant;
        loop {
            let room = self.hub.room_within(&room_id, max_rooms)?;
            match room.join(
                &self.handle,
                member,
                since,
                presence.clone(),
                reference.clone(),
                Instant::now(),
            ) {
                Ok(_) => break,
                Err(RoomClosed) => continue,
            }
        }
        self.rooms.insert(room_id);
        Ok(())
    }

    /// Leaves `room`.
    pub fn leave(&mut self, room_id: &RoomId) -> Result<(), HubError> {
        self.signed.remove(room_id);
        if !self.rooms.remove(room_id) {
            return Err(HubError::NotJoined {
                room: room_id.to_string(),
            });
        }
        if let Some(room) = self.hub.existing_room(room_id) {
            room.leave(&self.handle, LeaveReason::Left, Instant::now());
        }
        Ok(())
    }

    /// Publishes an event: it is fanned out at once. An event with an `id` is durable: a place
    /// in the sink's queue is reserved first (so a full queue refuses the publish before anyone
    /// sees it), and the returned ack resolves after the commit that holds it.
    pub fn publish(
        &self,
        room_id: &RoomId,
        kind: String,
        data: Value,
        id: Option<String>,
    ) -> Result<Published, HubError> {
        self.check_publish(room_id, &kind, &data, false)?;
        let identity = &self.current;
        let data = Arc::new(data);
        let durable = match &id {
            Some(event_id) => {
                ProgressUpdate::from_event(&kind, &identity.user, &data)
                    .map_err(HubError::InvalidEvent)?;
                let sink = self.hub.shared.sink.as_ref().ok_or(HubError::NotDurable)?;
                Some((
                    sink.reserve()?,
                    event_id.clone(),
                    kind.clone(),
                    Arc::clone(&data),
                ))
            }
            None => None,
        };
        let publication = Publication {
            from: identity.user.clone(),
            id: command_id(&kind, id),
            kind,
            data,
            ts: now_millis(),
            except: None,
            as_notification: false,
        };
        let ts = publication.ts;
        let seq = self.hub.publish_into(room_id, publication);
        let ack = durable.map(|(permit, event_id, kind, data)| {
            permit.submit(DurableEvent {
                tenant: identity.tenant.clone(),
                event_id,
                room: room_id.to_string(),
                kind,
                sender: identity.user.clone(),
                data,
                seq,
                sent_at_ms: ts,
                answer: None,
            })
        });
        Ok(Published { seq, ack })
    }

    /// The rules every publish keeps, ephemeral or not, checked against the rules as they are
    /// now: the role's right to publish this kind here, membership where the role needs it, a
    /// command's shape, and the kinds only the server makes.
    fn check_publish(
        &self,
        room_id: &RoomId,
        kind: &str,
        data: &Value,
        ephemeral: bool,
    ) -> Result<(), HubError> {
        let identity = &self.current;
        let rosters = &self.hub.shared.rosters;
        if ephemeral {
            permissions::check_publish_ephemeral(identity, room_id, kind, rosters)?;
        } else {
            permissions::check_publish(identity, room_id, kind, rosters)?;
        }
        if permissions::must_join_to_publish(identity) {
            // The rule as it is now first (a roster removal says so), then membership.
            permissions::check_join(identity, room_id, rosters)?;
            if !self.rooms.contains(room_id) {
                return Err(HubError::NotJoined {
                    room: room_id.to_string(),
                });
            }
        }
        if let Some(command) = CommandKind::parse(kind) {
            command.validate(data).map_err(HubError::InvalidEvent)?;
        }
        // Chat goes through the moderation rule (`crate::chat`); its other kinds are the
        // server's own.
        if is_chat_kind(kind) {
            return Err(HubError::InvalidEvent(format!(
                "{kind:?} events are made by class chat: send chat as kind \"chat\" to a class room (or POST /api/v1/classes/{{id}}/chat); teachers hold, release and delete through the chat routes"
            )));
        }
        // Answers to a stored assessment are scored on the server, and only the REST API and
        // game servers score them: a socket may not claim a graded answer.
        if kind == "quiz_answer" && data.get("assessment").is_some() {
            return Err(HubError::InvalidEvent(
                "an answer to an assessment is scored by the server: submit it with POST /api/v1/assessments/{id}/results, or from the game (SubmitAnswer)".into(),
            ));
        }
        Ok(())
    }

    /// Publishes an ephemeral event (a position, a cursor): the rules of [`Session::publish`],
    /// except that a student may send any kind but a command into a class or game room joined
    /// (`permissions::check_publish_ephemeral`) and that no command may be ephemeral (commands
    /// matter when late); then out at once to every other socket in
    /// the room, best effort, and nowhere else (no `seq`, history, sink or ack). A room nobody
    /// is in yet takes nothing. Returns how many sockets it reached.
    pub fn publish_ephemeral(
        &self,
        room_id: &RoomId,
        kind: String,
        data: Value,
    ) -> Result<u64, HubError> {
        if CommandKind::parse(&kind).is_some() {
            return Err(HubError::InvalidEvent(format!(
                "a {kind:?} command cannot be ephemeral: commands must arrive; publish it without \"ephemeral\""
            )));
        }
        self.check_publish(room_id, &kind, &data, true)?;
        let Some(room) = self.hub.existing_room(room_id) else {
            return Ok(0);
        };
        Ok(room.publish_ephemeral(Publication {
            from: self.current.user.clone(),
            id: None,
            kind,
            data: Arc::new(data),
            ts: now_millis(),
            except: Some(self.handle.id),
            as_notification: false,
        }))
    }

    /// Whether this connection has joined `room`.
    pub fn has_joined(&self, room_id: &RoomId) -> bool {
        self.rooms.contains(room_id)
    }

    /// Publishes a Pusher client event (`client-…`) into a room this socket joined, to every
    /// other socket there. The transport checks the channel kind and the rate limit.
    pub fn publish_client_event(
        &self,
        room_id: &RoomId,
        kind: String,
        data: Value,
        from: String,
    ) -> Result<u64, HubError> {
        if !self.rooms.contains(room_id) {
            return Err(HubError::NotJoined {
                room: room_id.to_string(),
            });
        }
        let publication = Publication {
            from,
            kind,
            data: Arc::new(data),
            id: None,
            ts: now_millis(),
            except: Some(self.handle.id),
            as_notification: false,
        };
        Ok(self.hub.publish_into(room_id, publication))
    }

    /// Replaces this user's presence state in `room`.
    pub fn set_presence(&self, room_id: &RoomId, state: Value) -> Result<(), HubError> {
        let not_joined = || HubError::NotJoined {
            room: room_id.to_string(),
        };
        if !self.rooms.contains(room_id) {
            return Err(not_joined());
        }
        let room = self.hub.existing_room(room_id).ok_or_else(not_joined)?;
        if room.set_presence(&self.handle, state, Instant::now()) {
            Ok(())
        } else {
            Err(not_joined())
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let reason = match self.handle.close_code() {
            None if self.hub.shared.shutdown.is_cancelled() => LeaveReason::Shutdown,
            code => LeaveReason::for_close(code),
        };
        let now = Instant::now();
        for room_id in self.rooms.drain() {
            if let Some(room) = self.hub.existing_room(&room_id) {
                room.leave(&self.handle, reason, now);
            }
        }
        if let Some(student) = self.seated.take() {
            let tenant = &self.handle.identity.tenant;
            self.hub.shared.seats.release(tenant, &student);
        }
        self.hub.shared.conns.remove(&self.handle.id);
        if self.handle.wire.is_socket() {
            let live = self
                .hub
                .shared
                .connections
                .fetch_sub(1, Ordering::Relaxed)
                .saturating_sub(1);
            metrics::gauge!("classhub_connections").set(live as f64);
        }
    }
}
