//! One live game session: a Roblox server of a tenant, its room `game:{tenant}:{job_id}` (and
//! its class's room when linked), the players it reported, and its command mailbox.
//!
//! The game server is a hub member like any socket: its own [`Session`] joins the game room and
//! the class room with [`Wire::Commands`], so every `command` published there lands in its
//! bounded queue, which the session's pump moves into the [`Mailbox`]. Each player is a
//! presence-only member ([`Wire::Silent`]): present in the game room, and in the class room when
//! linked to a student the class rule lets in now. The class-room presence is joined on the
//! student's identity, so [`GameSession::recheck_players`] (run whenever the tenant's rules
//! change) takes a player off the class room when their student leaves the roster, the class is
//! archived or the student is deactivated, and puts them back when they are let in again.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use protocol::{RoomId, ServerMessage};
use roblox::wire::PolledCommand;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::mailbox::Mailbox;
use std::sync::Arc;

use crate::auth::{Identity, Role};
use crate::hub::{FrameReceiver, Hub, HubError, MemberAs, Recheck, Session, Standing, Wire};

/// How long a looked-up link of an unreported player is trusted.
const LINK_CACHE: std::time::Duration = std::time::Duration::from_secs(60);
/// Looked-up links kept per session before expired ones are swept.
const MAX_LOOKED_UP: usize = 1024;

/// A live game session. Held as `Arc<GameSession>` by the registry and by requests in flight.
#[derive(Debug)]
pub struct GameSession {
    /// Session id (`gs_…`).
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Roblox universe.
    pub universe_id: i64,
    /// Roblox place.
    pub place_id: i64,
    /// Roblox JobId.
    pub job_id: String,
    /// Linked class.
    pub class_id: Option<String>,
    /// `game:{tenant}:{job_id}`.
    pub room: RoomId,
    /// `class:{tenant}:{class_id}` when linked.
    pub class_room: Option<RoomId>,
    /// Commands waiting for this server.
    pub mailbox: Mailbox,
    /// Last request from the game server; the reaper closes sessions silent for too long.
    last_seen: Mutex<Instant>,
    /// The game server's own hub membership; dropped on close.
    member: Mutex<Option<Session>>,
    /// Players by Roblox user id; each holds a presence-only hub session.
    players: Mutex<HashMap<i64, Player>>,
    /// Links looked up for players who sent events without being reported, with when: the
    /// database is asked at most once per [`LINK_CACHE`] per player.
    looked_up: Mutex<HashMap<i64, (Option<String>, Instant)>>,
    /// Cancelled on close: stops the pump and wakes long-polls.
    closed: CancellationToken,
}

#[derive(Debug)]
struct Player {
    student: Option<String>,
    name: Option<String>,
    display_name: Option<String>,
    /// What the rooms show about them.
    state: Value,
    /// Whether their presence is in the class room now.
    in_class: bool,
    /// Dropping it leaves every room the player is present in.
    presence: Session,
}

/// What the game server reported about a player who joined.
#[derive(Debug, Clone)]
pub struct PlayerSeen {
    /// `Player.UserId`.
    pub user_id: i64,
    /// `Player.Name`.
    pub name: Option<String>,
    /// `Player.DisplayName`.
    pub display_name: Option<String>,
    /// The student it is linked to.
    pub student: Option<String>,
}

/// Where a new session comes from.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// Session id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Universe.
    pub universe_id: i64,
    /// Place.
    pub place_id: i64,
    /// JobId.
    pub job_id: String,
    /// Linked class.
    pub class_id: Option<String>,
    /// `game:{tenant}:{job_id}`.
    pub room: RoomId,
    /// `class:{tenant}:{class_id}` when linked.
    pub class_room: Option<RoomId>,
}

impl GameSession {
    /// Opens the session in the hub. Returns it and the receiving end of its command queue,
    /// which [`GameSession::pump`] must drain.
    pub fn open(
        hub: &Hub,
        spec: SessionSpec,
        capacity: usize,
        redeliver_after: std::time::Duration,
        shutdown: &CancellationToken,
    ) -> Result<(GameSession, FrameReceiver), HubError> {
        let room = spec.room;
        let class_room = spec.class_room;
        let server_user = format!("game:{}", spec.job_id);
        let name = format!("Roblox server (place {})", spec.place_id);
        let identity = Identity {
            user: server_user.clone(),
            tenant: spec.tenant.clone(),
            role: Role::Guest,
            name: Some(name.clone()),
            children: Vec::new(),
            expires_at: None,
        };
        let (mut member, commands) = hub.connect(identity, Wire::Commands);
        let as_member = MemberAs {
            user: server_user,
            name: Some(name),
            role: Role::Guest,
        };
        let presence = json!({
            "kind": "game_server",
            "session_id": spec.id,
            "universe_id": spec.universe_id,
            "place_id": spec.place_id,
            "job_id": spec.job_id,
        });
        member.join_signed(room.clone(), &as_member, Some(presence.clone()), None)?;
        if let Some(class_room) = &class_room {
            member.join_signed(class_room.clone(), &as_member, Some(presence), None)?;
        }
        let session = GameSession {
            id: spec.id,
            tenant: spec.tenant,
            universe_id: spec.universe_id,
            place_id: spec.place_id,
            job_id: spec.job_id,
            class_id: spec.class_id,
            room,
            class_room,
            mailbox: Mailbox::new(capacity, redeliver_after),
            last_seen: Mutex::new(Instant::now()),
            member: Mutex::new(Some(member)),
            players: Mutex::new(HashMap::new()),
            looked_up: Mutex::new(HashMap::new()),
            closed: shutdown.child_token(),
        };
        Ok((session, commands))
    }

    /// Moves `command` frames from the hub queue into the mailbox until the session closes.
    /// `on_command` runs for each new command (Open Cloud wake-up); `on_dropped` for each command
    /// the full mailbox dropped.
    pub async fn pump(
        &self,
        mut commands: FrameReceiver,
        on_command: impl Fn(&PolledCommand),
        on_dropped: impl Fn(&PolledCommand, &str),
    ) {
        loop {
            let frame = tokio::select! {
                _ = self.closed.cancelled() => return,
                frame = commands.recv() => match frame {
                    Some(frame) => frame,
                    None => return,
                },
            };
            let body = match serde_json::from_slice::<ServerMessage>(&frame) {
                Ok(ServerMessage::Command(body)) => body,
                Ok(other) => {
                    tracing::warn!(
                        kind = other.type_name(),
                        "a non-command frame reached a game server's mailbox"
                    );
                    continue;
                }
                Err(cause) => {
                    tracing::error!(%cause, "a command frame did not decode");
                    continue;
                }
            };
            let target = body
                .data
                .get("target")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let roblox_user_id = match &target {
                Some(student) => match self.player_of(student) {
                    Some(user_id) => Some(user_id),
                    // For a student who is not in this server.
                    None => continue,
                },
                None => None,
            };
            let command = PolledCommand {
                id: body
                    .id
                    .unwrap_or_else(|| format!("{}#{}", body.room, body.seq)),
                cursor: 0,
                kind: body.kind,
                data: Arc::unwrap_or_clone(body.data),
                target,
                roblox_user_id,
                issued_at: body.ts,
                attempt: 0,
            };
            on_command(&command);
            if let Some(dropped) = self.mailbox.push(command, body.room) {
                on_dropped(&dropped.command, &dropped.origin);
            }
        }
    }

    /// Notes a request from the game server.
    pub fn touch(&self) {
        *lock(&self.last_seen) = Instant::now();
    }

    /// When the game server was last heard from.
    pub fn last_seen(&self) -> Instant {
        *lock(&self.last_seen)
    }

    /// Resolves when the session closes (or the server shuts down).
    pub fn closed(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.closed.cancelled()
    }

    /// Whether it is closed.
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Leaves every room: the game server's membership and every player's presence.
    pub fn close(&self) {
        self.closed.cancel();
        lock(&self.players).clear();
        lock(&self.member).take();
    }

    /// Players join (or re-join with new names or a new link): present in the game room, and
    /// in the class room when linked to a student on the roster.
    pub fn join_players(&self, hub: &Hub, seen: Vec<PlayerSeen>) -> Result<(), HubError> {
        let mut players = lock(&self.players);
        for player in seen {
            let user = match &player.student {
                Some(student) => student.clone(),
                None => format!("roblox:{}", player.user_id),
            };
            let role = if player.student.is_some() {
                Role::Student
            } else {
                Role::Guest
            };
            let name = player.display_name.clone().or_else(|| player.name.clone());
            let identity = Identity {
                user: user.clone(),
                tenant: self.tenant.clone(),
                role,
                name: name.clone(),
                children: Vec::new(),
                expires_at: None,
            };
            let (mut presence, _frames) = hub.connect(identity, Wire::Silent);
            let member = MemberAs { user, name, role };
            let state = json!({
                "source": "roblox",
                "in_game": true,
                "session_id": self.id,
                "job_id": self.job_id,
                "roblox_user_id": player.user_id,
            });
            presence.join_signed(self.room.clone(), &member, Some(state.clone()), None)?;
            let mut joined = Player {
                student: player.student,
                name: player.name,
                display_name: player.display_name,
                state,
                in_class: false,
                presence,
            };
            self.join_class(&mut joined)?;
            // Replacing an earlier entry drops its presence (a leave, then this join).
            players.insert(player.user_id, joined);
        }
        Ok(())
    }

    /// Puts a linked player's presence in the class room when the class rule lets their
    /// student in now (a refusal by the rule just leaves them out of it).
    fn join_class(&self, player: &mut Player) -> Result<(), HubError> {
        let (Some(class_room), Some(student), false) =
            (&self.class_room, &player.student, player.in_class)
        else {
            return Ok(());
        };
        let identity = player.presence.identity();
        let member = MemberAs {
            user: student.clone(),
            name: identity.name.clone(),
            role: Role::Student,
        };
        let signer = Some(Arc::new(identity.clone()));
        match player.presence.join_signed(
            class_room.clone(),
            &member,
            Some(player.state.clone()),
            signer,
        ) {
            Ok(()) => {
                player.in_class = true;
                Ok(())
            }
            Err(HubError::Denied(_)) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Re-checks every player against the rules as they are now (`standing` gives a student's
    /// current standing): a player whose student may no longer be in the class room leaves it
    /// (reason `revoked`), one whose student is deactivated leaves every room, and one let in
    /// again (added back to the roster) joins it.
    pub fn recheck_players(&self, standing: Standing<'_>) {
        let mut players = lock(&self.players);
        let mut gone = Vec::new();
        for (user_id, player) in players.iter_mut() {
            if player.student.is_none() {
                continue;
            }
            match player.presence.recheck(standing) {
                Recheck::Closed => {
                    gone.push(*user_id);
                    continue;
                }
                Recheck::Left(rooms) => {
                    if self
                        .class_room
                        .as_ref()
                        .is_some_and(|room| rooms.contains(room))
                    {
                        player.in_class = false;
                    }
                }
                Recheck::Unchanged => {}
            }
            if let Err(refused) = self.join_class(player) {
                tracing::info!(session = %self.id, user_id, %refused, "a re-admitted player could not rejoin the class room");
            }
        }
        for user_id in gone {
            players.remove(&user_id);
        }
    }

    /// Forgets an erased student: no cached link names them, and their players play on as
    /// unlinked Roblox players (`roblox:{id}`, in the game room only), so a later event of that
    /// account is never theirs.
    pub fn forget_student(&self, hub: &Hub, student: &str) {
        lock(&self.looked_up).retain(|_, (linked, _)| linked.as_deref() != Some(student));
        let unlinked: Vec<PlayerSeen> = {
            let mut players = lock(&self.players);
            let theirs: Vec<i64> = players
                .iter()
                .filter(|(_, player)| player.student.as_deref() == Some(student))
                .map(|(user_id, _)| *user_id)
                .collect();
            theirs
                .into_iter()
                .filter_map(|user_id| {
                    // Dropping the entry drops its presence: it leaves every room.
                    players.remove(&user_id).map(|player| PlayerSeen {
                        user_id,
                        name: player.name,
                        display_name: player.display_name,
                        student: None,
                    })
                })
                .collect()
        };
        if let Err(refused) = self.join_players(hub, unlinked) {
            tracing::info!(session = %self.id, %refused, "an erased student's player could not rejoin unlinked");
        }
    }

    /// Players leave every room.
    pub fn leave_players(&self, user_ids: &[i64]) {
        let mut players = lock(&self.players);
        for user_id in user_ids {
            players.remove(user_id);
        }
    }

    /// A player who is here, as the game server reported them (for re-joining after a link).
    pub fn player(&self, user_id: i64) -> Option<PlayerSeen> {
        lock(&self.players).get(&user_id).map(|player| PlayerSeen {
            user_id,
            name: player.name.clone(),
            display_name: player.display_name.clone(),
            student: player.student.clone(),
        })
    }

    /// The student a Roblox player is linked to as far as this session knows: `Some(link)` for
    /// a reported player or a recent look-up, `None` when the database must be asked.
    pub fn known_link(&self, user_id: i64) -> Option<Option<String>> {
        if let Some(player) = lock(&self.players).get(&user_id) {
            return Some(player.student.clone());
        }
        lock(&self.looked_up)
            .get(&user_id)
            .filter(|(_, at)| at.elapsed() < LINK_CACHE)
            .map(|(student, _)| student.clone())
    }

    /// Remembers a looked-up link (see [`GameSession::known_link`]).
    pub fn remember_link(&self, user_id: i64, student: Option<String>) {
        let mut looked_up = lock(&self.looked_up);
        if looked_up.len() >= MAX_LOOKED_UP {
            looked_up.retain(|_, (_, at)| at.elapsed() < LINK_CACHE);
        }
        looked_up.insert(user_id, (student, Instant::now()));
    }

    /// The Roblox user id of a student who is in this server.
    pub fn player_of(&self, student: &str) -> Option<i64> {
        lock(&self.players)
            .iter()
            .find(|(_, player)| player.student.as_deref() == Some(student))
            .map(|(user_id, _)| *user_id)
    }

    /// Players here now.
    pub fn player_count(&self) -> usize {
        lock(&self.players).len()
    }
}

/// Locks a mutex of this module; every critical section is a few map operations with no
/// `.await`, and leaves the data consistent at each step, so a poisoned lock is used as is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
