//! Open Cloud side jobs, on one background task so they never delay anything else: "poll now"
//! MessagingService messages when a command reaches a game session of a universe whose tenant
//! configured an Open Cloud key, and display-name refreshes for players who joined without one.
//!
//! Wake-ups for one universe that queue up while a call is in flight or while Open Cloud asked
//! us to wait (429 `retry-after`) are coalesced into one message (`session_id` `"*"` when several
//! sessions wait). Everything here is best effort: the long-poll alone delivers commands.

use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use persistence::Store;
use roblox::open_cloud::{OpenCloud, OpenCloudError, TOPIC, poll_message};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a looked-up Open Cloud key (or its absence) is trusted.
const KEY_CACHE: Duration = Duration::from_secs(30);

/// A job for the Open Cloud task.
#[derive(Debug, Clone)]
pub enum Job {
    /// Tell the game servers of a universe to poll now.
    Wake {
        /// Tenant.
        tenant: String,
        /// Universe.
        universe_id: i64,
        /// The session with a new command.
        session_id: String,
    },
    /// Look a player's names up and store them.
    RefreshName {
        /// Tenant.
        tenant: String,
        /// Universe (whose key to use).
        universe_id: i64,
        /// Roblox user id.
        user_id: i64,
    },
}

type Universe = (String, i64);

/// Runs until `shutdown`.
pub async fn run(
    mut jobs: mpsc::Receiver<Job>,
    store: Store,
    client: OpenCloud,
    users_per_minute: u32,
    shutdown: CancellationToken,
) {
    let mut keys: HashMap<Universe, (Option<String>, Instant)> = HashMap::new();
    let mut waiting: HashMap<Universe, BTreeSet<String>> = HashMap::new();
    let mut blocked_until: HashMap<Universe, Instant> = HashMap::new();
    let name_lookups: DefaultDirectRateLimiter = RateLimiter::direct(Quota::per_minute(
        NonZeroU32::new(users_per_minute.max(1)).expect("at least one"),
    ));
    loop {
        let next_unblock = blocked_until.values().min().copied();
        let job = tokio::select! {
            _ = shutdown.cancelled() => return,
            job = jobs.recv() => match job {
                Some(job) => Some(job),
                None => return,
            },
            _ = sleep_until(next_unblock) => None,
        };
        let now = Instant::now();
        blocked_until.retain(|_, until| *until > now);
        match job {
            Some(Job::Wake {
                tenant,
                universe_id,
                session_id,
            }) => {
                waiting
                    .entry((tenant, universe_id))
                    .or_default()
                    .insert(session_id);
            }
            Some(Job::RefreshName {
                tenant,
                universe_id,
                user_id,
            }) => {
                if name_lookups.check().is_err() {
                    metrics::counter!("classhub_open_cloud_skipped_total", "call" => "users")
                        .increment(1);
                    continue;
                }
                let universe = (tenant, universe_id);
                let Some(key) = key_for(&store, &mut keys, &universe).await else {
                    continue;
                };
                refresh_name(&store, &client, &universe.0, user_id, &key).await;
                continue;
            }
            None => {}
        }
        // Send what waits for every universe that is not blocked.
        let ready: Vec<Universe> = waiting
            .keys()
            .filter(|universe| !blocked_until.contains_key(*universe))
            .cloned()
            .collect();
        for universe in ready {
            let Some(sessions) = waiting.remove(&universe) else {
                continue;
            };
            let Some(key) = key_for(&store, &mut keys, &universe).await else {
                continue;
            };
            let target = match sessions.len() {
                1 => sessions.iter().next().cloned().unwrap_or_default(),
                _ => "*".to_owned(),
            };
            match client
                .publish_message(universe.1, &key, TOPIC, &poll_message(&target))
                .await
            {
                Ok(()) => {
                    metrics::counter!("classhub_open_cloud_messages_total", "outcome" => "sent")
                        .increment(1);
                }
                Err(OpenCloudError::RateLimited { retry_after }) => {
                    metrics::counter!("classhub_open_cloud_messages_total", "outcome" => "rate_limited")
                        .increment(1);
                    tracing::info!(
                        universe = universe.1,
                        ?retry_after,
                        "Open Cloud asked to wait"
                    );
                    blocked_until.insert(universe.clone(), Instant::now() + retry_after);
                    waiting.insert(universe, sessions);
                }
                Err(cause) => {
                    metrics::counter!("classhub_open_cloud_messages_total", "outcome" => "failed")
                        .increment(1);
                    tracing::warn!(%cause, universe = universe.1, "Open Cloud publishMessage failed; game servers still get the command by long-poll");
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn key_for(
    store: &Store,
    keys: &mut HashMap<Universe, (Option<String>, Instant)>,
    universe: &Universe,
) -> Option<String> {
    if let Some((key, fetched)) = keys.get(universe)
        && fetched.elapsed() < KEY_CACHE
    {
        return key.clone();
    }
    let key = match store.open_cloud_key(&universe.0, universe.1).await {
        Ok(key) => key,
        Err(cause) => {
            tracing::warn!(%cause, "cannot read the Open Cloud key");
            None
        }
    };
    keys.insert(universe.clone(), (key.clone(), Instant::now()));
    key
}

async fn refresh_name(store: &Store, client: &OpenCloud, tenant: &str, user_id: i64, key: &str) {
    match client.user(user_id, key).await {
        Ok(user) => {
            let name = user.display_name.unwrap_or(user.name);
            if let Err(cause) = store
                .see_roblox_players(tenant, &[(user_id, Some(name))])
                .await
            {
                tracing::warn!(%cause, "cannot store a refreshed display name");
            }
        }
        Err(cause) => tracing::info!(%cause, user_id, "Open Cloud user look-up failed"),
    }
}
