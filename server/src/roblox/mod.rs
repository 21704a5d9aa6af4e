//! Live Roblox game servers: the registry of open game sessions ([`GameSession`]), game-server
//! key authentication (cached), player linking's rate limits, command delivery statuses, and
//! the Open Cloud side jobs ([`wake`]). [`routes`] are the `/api/v1/roblox` handlers (thin:
//! parse, authenticate the key, call one function, answer) over [`sessions`] (open, players),
//! [`linking`] (player ↔ student), [`ingest`] (event batches) and [`commands`] (long-poll, ack).
//!
//! A session is in memory while its game server talks to us, and in `game_sessions` until it
//! is closed. After a restart a game server that re-opens its session (same JobId) gets the
//! same session id back, so retried events and acknowledgements keep their meaning.
//! Sessions that stay silent longer than `session_idle` are closed by the reaper. What the
//! operator may set ([`RobloxArgs`]) is declared and checked into [`RobloxSettings`] in
//! `settings.rs`.

pub mod commands;
pub mod content;
pub mod ingest;
pub mod linking;
pub mod mailbox;
pub(crate) mod routes;
mod session;
pub mod sessions;
mod settings;
pub mod wake;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use persistence::{NewGameSession, Store, StoreError};
use protocol::{RoomId, RoomIdError, RoomKind};
use roblox::open_cloud::OpenCloud;
use roblox::wire::{PolledCommand, SessionClosed};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

pub use session::{GameSession, PlayerSeen, SessionSpec};
pub use settings::RobloxArgs;

use crate::auth::Identity;
use crate::auth::directory::Directory;
use crate::hub::{Hub, HubError};

/// Roblox tunables, from the server configuration (declared and checked in `settings.rs`).
#[derive(Debug, Clone)]
pub struct RobloxSettings {
    /// Long-poll hold the SDK is told to ask for.
    pub poll_wait: Duration,
    /// Longest long-poll hold granted.
    pub poll_max_wait: Duration,
    /// Most events per ingest request.
    pub max_batch: usize,
    /// Largest request body on the Roblox routes.
    pub max_body_bytes: usize,
    /// How long a delivered command waits for its ack before it is delivered again.
    pub redeliver_after: Duration,
    /// Unacknowledged commands kept per session (the oldest is dropped, and reported, past it).
    pub command_backlog: usize,
    /// A session silent this long is closed.
    pub session_idle: Duration,
    /// Link attempts per minute per Roblox player (per key: twenty times this).
    pub link_per_minute: u32,
    /// Longest wait for the database to commit an ingest batch before answering 503.
    pub ack_timeout: Duration,
    /// Base URL of Roblox Open Cloud.
    pub open_cloud_base: Url,
    /// Open Cloud user look-ups per minute (display-name refreshes).
    pub open_cloud_users_per_minute: u32,
    /// How long a game-server key look-up is trusted (a revoked key stops working within it).
    pub key_cache: Duration,
    /// Bytes the key cache holds at most (unknown keys included).
    pub key_cache_bytes: u64,
    /// How long a cached lesson or answer key games read is trusted.
    pub content_cache: Duration,
    /// Bytes the content cache holds at most.
    pub content_cache_bytes: u64,
}

/// A game server, as its key identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameServerKey {
    /// Key id.
    pub key_id: String,
    /// Tenant.
    pub tenant: String,
    /// The universe the key is limited to, if any.
    pub universe_id: Option<i64>,
}

/// Why a Roblox operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RobloxError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The hub refused (e.g. too many rooms).
    #[error(transparent)]
    Hub(#[from] HubError),
    /// An id does not make a valid room id.
    #[error("{0}")]
    Room(#[from] RoomIdError),
}

/// The registry. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Roblox {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    settings: RobloxSettings,
    hub: Hub,
    store: Store,
    /// Players' students are re-checked against it (deactivation) when the rules change.
    directory: Arc<Directory>,
    /// Live sessions by id.
    sessions: DashMap<String, Arc<GameSession>>,
    /// Live session id by (tenant, JobId).
    jobs: DashMap<(String, String), String>,
    /// Key look-ups by hash, with when they were made (`None`: unknown or revoked).
    keys: moka::sync::Cache<String, Option<GameServerKey>>,
    /// Lessons and answer keys games read (`content.rs`).
    content: content::ContentCache,
    /// Serializes session opens, so one JobId never gets two sessions.
    opening: tokio::sync::Mutex<()>,
    link_per_player: DefaultKeyedRateLimiter<(String, i64)>,
    link_per_key: DefaultKeyedRateLimiter<String>,
    /// Open Cloud jobs; full means dropped (best effort, counted).
    open_cloud: mpsc::Sender<wake::Job>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Roblox {
    /// The registry, with its reaper and Open Cloud task running on `tracker` until `shutdown`.
    pub fn start(
        settings: RobloxSettings,
        hub: Hub,
        store: Store,
        directory: Arc<Directory>,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Roblox, roblox::open_cloud::OpenCloudError> {
        let per_minute = NonZeroU32::new(settings.link_per_minute.max(1)).expect("at least one");
        let per_key = per_minute.saturating_mul(NonZeroU32::new(20).expect("twenty"));
        let keys = key_cache(&settings);
        let content = content::ContentCache::new(&settings);
        let client = OpenCloud::new(settings.open_cloud_base.clone(), Duration::from_secs(10))?;
        let (open_cloud, jobs) = mpsc::channel(1024);
        tracker.spawn(wake::run(
            jobs,
            store.clone(),
            client,
            settings.open_cloud_users_per_minute,
            shutdown.clone(),
        ));
        let roblox = Roblox {
            shared: Arc::new(Shared {
                link_per_player: RateLimiter::keyed(Quota::per_minute(per_minute)),
                link_per_key: RateLimiter::keyed(Quota::per_minute(per_key)),
                settings,
                hub,
                store,
                directory,
                sessions: DashMap::new(),
                jobs: DashMap::new(),
                keys,
                content,
                opening: tokio::sync::Mutex::new(()),
                open_cloud,
                shutdown: shutdown.clone(),
                tracker: tracker.clone(),
            }),
        };
        tracker.spawn(roblox.clone().reap(shutdown));
        Ok(roblox)
    }

    /// The settings.
    pub fn settings(&self) -> &RobloxSettings {
        &self.shared.settings
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The lessons and answer keys games read.
    pub fn content(&self) -> &content::ContentCache {
        &self.shared.content
    }

    /// The game server a presented key belongs to, or `None` for an unknown or revoked key.
    pub async fn authenticate(&self, key: &str) -> Result<Option<GameServerKey>, StoreError> {
        if !roblox::keys::well_formed(key) {
            return Ok(None);
        }
        let hash = roblox::keys::hash(key);
        if let Some(cached) = self.shared.keys.get(&hash) {
            return Ok(cached);
        }
        let found = self.shared.store.game_key_by_hash(&hash).await?.map(
            |(key_id, tenant, universe_id)| GameServerKey {
                key_id,
                tenant,
                universe_id,
            },
        );
        if let Some(key) = &found {
            // Once per cache period per key, off the request path.
            let store = self.shared.store.clone();
            let key_id = key.key_id.clone();
            self.shared.tracker.spawn(async move {
                if let Err(cause) = store.touch_game_key(&key_id).await {
                    tracing::warn!(%cause, "cannot record a game-server key's use");
                }
            });
        }
        self.shared.keys.insert(hash, found.clone());
        Ok(found)
    }

    /// Opens a session for a Roblox server, or returns the one its JobId already has (live, or
    /// left open in the database by an earlier run). `true` when newly opened.
    pub async fn open_session(
        &self,
        tenant: &str,
        universe_id: i64,
        place_id: i64,
        job_id: &str,
        class_id: Option<String>,
    ) -> Result<(Arc<GameSession>, bool), RobloxError> {
        let _opening = self.shared.opening.lock().await;
        let job_key = (tenant.to_owned(), job_id.to_owned());
        if let Some(id) = self.shared.jobs.get(&job_key).map(|id| id.clone())
            && let Some(session) = self.session(tenant, &id)
        {
            session.touch();
            return Ok((session, false));
        }
        let store = &self.shared.store;
        let (id, class_id, created) = match store.open_session_for_job(tenant, job_id).await? {
            // Restored after a restart: the class it was opened for stays.
            Some((id, stored_class, _)) => (id, stored_class, false),
            None => {
                let id = format!("gs_{:016x}", rand::random::<u64>());
                store
                    .open_game_session(&NewGameSession {
                        id: id.clone(),
                        tenant: tenant.to_owned(),
                        universe_id,
                        place_id,
                        job_id: job_id.to_owned(),
                        class_id: class_id.clone(),
                    })
                    .await?;
                (id, class_id, true)
            }
        };
        let max_len = self.shared.hub.settings().limits.max_room_id_len;
        let room = RoomId::new(RoomKind::Game, tenant, job_id, max_len)?;
        let class_room = class_id
            .as_deref()
            .map(|class| RoomId::new(RoomKind::Class, tenant, class, max_len))
            .transpose()?;
        let spec = SessionSpec {
            id: id.clone(),
            tenant: tenant.to_owned(),
            universe_id,
            place_id,
            job_id: job_id.to_owned(),
            class_id,
            room,
            class_room,
        };
        let settings = &self.shared.settings;
        let (session, commands) = GameSession::open(
            &self.shared.hub,
            spec,
            settings.command_backlog,
            settings.redeliver_after,
            &self.shared.shutdown,
        )?;
        let session = Arc::new(session);
        // Students on the class's roster may now join this game room too.
        self.shared
            .hub
            .rosters()
            .set_game_class(tenant, job_id, session.class_id.as_deref());
        self.shared
            .sessions
            .insert(id.clone(), Arc::clone(&session));
        self.shared.jobs.insert(job_key, id);
        let pump = {
            let roblox = self.clone();
            let session = Arc::clone(&session);
            async move {
                let wake = |command: &PolledCommand| roblox.wake(&session, command);
                let expired = |command: &PolledCommand, origin: &str| {
                    roblox.publish_status(&session, command, origin, "expired");
                };
                session.pump(commands, wake, expired).await;
            }
        };
        self.shared.tracker.spawn(pump);
        self.shared
            .tracker
            .spawn(self.clone().recheck_on_rule_changes(Arc::clone(&session)));
        tracing::info!(session = %session.id, tenant, job_id, created, "game session open");
        Ok((session, created))
    }

    /// Until `session` closes: whenever its tenant's rules change (roster, class, user), its
    /// players are re-checked, so a student taken off the roster leaves the class room at once.
    async fn recheck_on_rule_changes(self, session: Arc<GameSession>) {
        let mut rules = self.shared.hub.rosters().watch(&session.tenant);
        loop {
            tokio::select! {
                _ = session.closed() => return,
                changed = rules.changed() => if changed.is_err() { return },
            }
            let directory = &self.shared.directory;
            session.recheck_players(&|who: &Identity| {
                directory
                    .standing(who)
                    .map_err(|failure| failure.to_string())
            });
        }
    }

    /// A live session of `tenant`.
    pub fn session(&self, tenant: &str, id: &str) -> Option<Arc<GameSession>> {
        self.shared
            .sessions
            .get(id)
            .map(|session| Arc::clone(&session))
            .filter(|session| session.tenant == tenant && !session.is_closed())
    }

    /// Live sessions of a tenant's class.
    pub fn sessions_of_class(&self, tenant: &str, class_id: &str) -> Vec<Arc<GameSession>> {
        self.shared
            .sessions
            .iter()
            .filter(|entry| entry.tenant == tenant && entry.class_id.as_deref() == Some(class_id))
            .map(|entry| Arc::clone(&entry))
            .collect()
    }

    /// Live sessions of a tenant (the operator view).
    pub fn sessions_of_tenant(&self, tenant: &str) -> Vec<Arc<GameSession>> {
        self.shared
            .sessions
            .iter()
            .filter(|entry| entry.tenant == tenant && !entry.is_closed())
            .map(|entry| Arc::clone(&entry))
            .collect()
    }

    /// Live sessions on this node, all tenants.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.len()
    }

    /// Closes a session: its players and its server leave every room, and `game_sessions`
    /// gets its end, duration and event count. `None` when it was not live.
    pub async fn close_session(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<SessionClosed>, StoreError> {
        let Some(session) = self.session(tenant, id) else {
            return Ok(None);
        };
        self.forget(&session);
        session.close();
        self.shared
            .hub
            .rosters()
            .set_game_class(tenant, &session.job_id, None);
        let recorded = self.shared.store.close_game_session(tenant, id).await?;
        let (duration_secs, events_count) = recorded.unwrap_or_default();
        let closed = SessionClosed {
            session_id: session.id.clone(),
            duration_secs: duration_secs.max(0) as u64,
            events_count: events_count.max(0) as u64,
        };
        tracing::info!(session = %session.id, tenant, events = closed.events_count, "game session closed");
        Ok(Some(closed))
    }

    /// `Err(wait)` when a link attempt by this player (or key) must wait.
    pub fn check_link_rate(&self, key: &GameServerKey, user_id: i64) -> Result<(), Duration> {
        use governor::clock::Clock;
        let now = self.shared.link_per_key.clock().now();
        self.shared
            .link_per_key
            .check_key(&key.key_id)
            .and_then(|()| {
                self.shared
                    .link_per_player
                    .check_key(&(key.tenant.clone(), user_id))
            })
            .map_err(|not_until| not_until.wait_time_from(now))
    }

    /// Tells the command's origin room how its delivery to this session went
    /// (`delivered`, `acked`, `expired`), as a `command_status` event.
    pub fn publish_status(
        &self,
        session: &GameSession,
        command: &PolledCommand,
        origin: &str,
        status: &str,
    ) {
        let Ok(room) = RoomId::parse(origin, usize::MAX) else {
            return;
        };
        let mut data = json!({
            "command_id": command.id,
            "kind": command.kind,
            "status": status,
            "session_id": session.id,
            "job_id": session.job_id,
            "attempt": command.attempt,
        });
        if let Some(target) = &command.target {
            data["target"] = json!(target);
        }
        if let Some(user_id) = command.roblox_user_id {
            data["roblox_user_id"] = json!(user_id);
        }
        self.shared.hub.publish_system(
            &room,
            &format!("game:{}", session.job_id),
            "command_status".into(),
            data,
        );
    }

    /// Asks the Open Cloud task to tell this session's universe to poll now.
    fn wake(&self, session: &GameSession, _command: &PolledCommand) {
        self.send_job(wake::Job::Wake {
            tenant: session.tenant.clone(),
            universe_id: session.universe_id,
            session_id: session.id.clone(),
        });
    }

    /// Asks the Open Cloud task to look up the names of a player who joined without them.
    pub fn refresh_name(&self, session: &GameSession, user_id: i64) {
        self.send_job(wake::Job::RefreshName {
            tenant: session.tenant.clone(),
            universe_id: session.universe_id,
            user_id,
        });
    }

    fn send_job(&self, job: wake::Job) {
        if self.shared.open_cloud.try_send(job).is_err() {
            metrics::counter!("classhub_open_cloud_skipped_total", "call" => "queue_full")
                .increment(1);
        }
    }

    fn forget(&self, session: &GameSession) {
        self.shared.sessions.remove(&session.id);
        self.shared.jobs.remove_if(
            &(session.tenant.clone(), session.job_id.clone()),
            |_, id| *id == session.id,
        );
    }

    /// Closes sessions silent for longer than `session_idle`, and trims the rate limiters.
    async fn reap(self, shutdown: CancellationToken) {
        let idle = self.shared.settings.session_idle;
        let mut ticker = tokio::time::interval((idle / 4).max(Duration::from_millis(100)));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let silent: Vec<Arc<GameSession>> = self
                .shared
                .sessions
                .iter()
                .filter(|entry| entry.last_seen().elapsed() >= idle)
                .map(|entry| Arc::clone(&entry))
                .collect();
            for session in silent {
                tracing::info!(session = %session.id, "closing a game session silent for too long");
                if let Err(cause) = self.close_session(&session.tenant, &session.id).await {
                    tracing::warn!(%cause, session = %session.id, "cannot record a session's end");
                }
            }
            self.shared.link_per_player.retain_recent();
            self.shared.link_per_key.retain_recent();
        }
    }
}

/// The game-server key cache: look-ups (unknown keys too) trusted for `key_cache`, at most
/// `key_cache_bytes` of them (moka evicts the least used first).
fn key_cache(settings: &RobloxSettings) -> moka::sync::Cache<String, Option<GameServerKey>> {
    let ttl = settings.key_cache.max(Duration::from_millis(1));
    let bytes = if settings.key_cache.is_zero() {
        0
    } else {
        settings.key_cache_bytes
    };
    moka::sync::Cache::builder()
        .max_capacity(bytes)
        .time_to_live(ttl)
        .weigher(|hash: &String, key: &Option<GameServerKey>| {
            let held = key
                .as_ref()
                .map_or(0, |key| key.key_id.len() + key.tenant.len() + 8);
            u32::try_from(hash.len() + held + 64).unwrap_or(u32::MAX)
        })
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_cache_is_bounded_in_bytes_and_forgets_after_its_ttl() {
        let settings = RobloxSettings {
            key_cache: Duration::from_millis(200),
            key_cache_bytes: 16 * 1024,
            ..RobloxSettings::default()
        };
        let cache = key_cache(&settings);
        // 10 000 made-up keys (about 1.3 MB of look-ups) into a 16 KiB cache.
        for n in 0..10_000 {
            cache.insert(format!("{n:064x}"), None);
        }
        cache.run_pending_tasks();
        assert!(
            cache.weighted_size() <= 16 * 1024,
            "{} bytes held",
            cache.weighted_size()
        );
        let known = Some(GameServerKey {
            key_id: "gk_1".to_owned(),
            tenant: "acme".to_owned(),
            universe_id: None,
        });
        cache.insert("known".to_owned(), known.clone());
        assert_eq!(cache.get("known"), Some(known));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(cache.get("known"), None, "expired after the TTL");
    }
}
