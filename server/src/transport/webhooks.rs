//! Pusher webhooks: `channel_occupied`, `channel_vacated`, `member_added`, `member_removed` and
//! `client_event`, posted to the URL each tenant configured (`--pusher-webhook TENANT=URL`).
//!
//! Rooms report `RoomSignal`s into a bounded queue without waiting; this task collects them for
//! up to `BATCH_WINDOW` (or `MAX_BATCH` events), groups them by tenant, and posts
//! `{"time_ms", "events": [...]}` signed like Pusher's: `X-Pusher-Key` is the app key and
//! `X-Pusher-Signature` the HMAC-SHA256 (hex) of the body with the app secret. A failed delivery
//! is retried with exponential back-off (`backon`) up to `MAX_ATTEMPTS`, in its own task, so a
//! slow receiver never delays other tenants or the hub. Member events are sent for presence
//! channels only, as Pusher does.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::{BackoffBuilder, ExponentialBuilder};
use protocol::pusher::{self, ChannelKind, channel_for_room, channel_kind, sign};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::hub::RoomSignal;
use crate::transport::pusher_apps::PusherApps;

/// Signals waiting for the dispatcher before rooms start dropping them.
pub const QUEUE_LEN: usize = 10_000;
/// How long the dispatcher gathers signals into one request.
const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// Most events in one request.
const MAX_BATCH: usize = 100;
/// Deliveries tried per request before it is given up (and counted).
const MAX_ATTEMPTS: usize = 5;

/// Starts the dispatcher; returns the sender rooms report into. It runs until `shutdown`, then
/// delivers what it has and stops.
pub fn spawn(
    apps: PusherApps,
    urls: HashMap<String, String>,
    node_id: u32,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> mpsc::Sender<RoomSignal> {
    let (signals, mut received) = mpsc::channel::<RoomSignal>(QUEUE_LEN);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let deliveries = tracker.clone();
    tracker.spawn(async move {
        let mut batch: Vec<RoomSignal> = Vec::with_capacity(MAX_BATCH);
        loop {
            let first = tokio::select! {
                first = received.recv() => first,
                _ = shutdown.cancelled() => None,
            };
            let Some(first) = first else { break };
            batch.push(first);
            let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
            while batch.len() < MAX_BATCH {
                tokio::select! {
                    more = received.recv_many(&mut batch, MAX_BATCH) => if more == 0 { break },
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
            for (tenant, events) in group(&urls, node_id, batch.drain(..)) {
                let Some(url) = urls.get(&tenant).cloned() else {
                    continue;
                };
                let app = apps.for_tenant(&tenant);
                let client = client.clone();
                // The span names the tenant, so the operator view shows a failure only to it.
                let span = tracing::info_span!("webhook", %tenant);
                let delivery = deliver(client, url, app.key, app.secret, events);
                deliveries.spawn(tracing::Instrument::instrument(delivery, span));
            }
        }
    });
    signals
}

/// Pusher webhook events per tenant with a URL.
fn group(
    urls: &HashMap<String, String>,
    node_id: u32,
    signals: impl Iterator<Item = RoomSignal>,
) -> HashMap<String, Vec<Value>> {
    let mut by_tenant: HashMap<String, Vec<Value>> = HashMap::new();
    for signal in signals {
        let (room, event) = match signal {
            RoomSignal::Occupied { room } => {
                let event = json!({"name": "channel_occupied", "channel": channel_for_room(&room)});
                (room, event)
            }
            RoomSignal::Vacated { room } => {
                let event = json!({"name": "channel_vacated", "channel": channel_for_room(&room)});
                (room, event)
            }
            RoomSignal::MemberAdded { room, .. } | RoomSignal::MemberRemoved { room, .. }
                if !pusher::is_presence_room(&room) =>
            {
                continue;
            }
            RoomSignal::MemberAdded { room, user } => {
                let event = json!({"name": "member_added", "channel": channel_for_room(&room), "user_id": user});
                (room, event)
            }
            RoomSignal::MemberRemoved { room, user } => {
                let event = json!({"name": "member_removed", "channel": channel_for_room(&room), "user_id": user});
                (room, event)
            }
            RoomSignal::ClientEvent {
                room,
                event,
                data,
                user,
                conn_id,
            } => {
                let channel = channel_for_room(&room);
                let data = match data {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                let mut webhook = json!({
                    "name": "client_event",
                    "channel": channel,
                    "event": event,
                    "data": data,
                    "socket_id": format!("{node_id}.{conn_id}"),
                });
                if channel_kind(&channel) == ChannelKind::Presence {
                    webhook["user_id"] = json!(user);
                }
                (room, webhook)
            }
        };
        if urls.contains_key(room.tenant()) {
            by_tenant
                .entry(room.tenant().to_owned())
                .or_default()
                .push(event);
        }
    }
    by_tenant
}

async fn deliver(
    client: reqwest::Client,
    url: String,
    key: String,
    secret: String,
    events: Vec<Value>,
) {
    let time_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let body = json!({"time_ms": time_ms, "events": events}).to_string();
    let signature = sign::hmac_hex(&secret, &body);
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .with_max_times(MAX_ATTEMPTS - 1)
        .build();
    loop {
        let sent = client
            .post(&url)
            .header("Content-Type", "application/json")
            .header("X-Pusher-Key", &key)
            .header("X-Pusher-Signature", &signature)
            .body(body.clone())
            .send()
            .await;
        let failure = match sent {
            Ok(response) if response.status().is_success() => {
                metrics::counter!("classhub_webhooks_delivered_total").increment(1);
                return;
            }
            Ok(response) => format!("status {}", response.status()),
            Err(cause) => cause.to_string(),
        };
        match delays.next() {
            Some(delay) => {
                tracing::debug!(%url, %failure, retry_in_ms = delay.as_millis() as u64, "webhook delivery failed; retrying");
                tokio::time::sleep(delay).await;
            }
            None => {
                metrics::counter!("classhub_webhooks_failed_total").increment(1);
                tracing::warn!(%url, %failure, attempts = MAX_ATTEMPTS, "webhook delivery failed; giving up");
                return;
            }
        }
    }
}
