//! Pusher webhooks: `channel_occupied`, `channel_vacated`, `member_added`, `member_removed` and
//! `client_event`, posted to the URL each tenant configured (`--pusher-webhook TENANT=URL`).
//!
//! Rooms report `RoomSignal`s into one bounded channel without waiting; the dispatcher drains it
//! at once into a queue per tenant, bounded in bytes (`--pusher-webhook-queue-bytes`; past it the
//! tenant's newest events are dropped and counted, so one tenant's flood never crowds out
//! another's). Every `BATCH_WINDOW` (or at `MAX_BATCH` events) each tenant with events and no
//! delivery in flight gets one request, `{"time_ms", "events": [...]}` signed like Pusher's:
//! `X-Pusher-Key` is the app key and `X-Pusher-Signature` the HMAC-SHA256 (hex) of the body with
//! the app secret. A failed delivery is retried with exponential back-off (`backon`) up to
//! `MAX_ATTEMPTS` in its own task; a tenant has at most one delivery in flight, so a slow
//! receiver holds back only its own tenant's queue, never other tenants or the hub. Member events
//! are sent for presence channels only, as Pusher does.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::{BackoffBuilder, ExponentialBuilder};
use protocol::pusher::{self, ChannelKind, channel_for_room, channel_kind, sign};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::hub::RoomSignal;
use crate::transport::pusher_apps::PusherApps;

/// Signals waiting for the dispatcher before rooms start dropping them (the dispatcher only
/// moves them into the tenants' queues, so this fills only if it cannot keep up at all).
pub const QUEUE_LEN: usize = 10_000;
/// How long the dispatcher gathers signals into one request.
const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// Most events in one request.
const MAX_BATCH: usize = 100;
/// Deliveries tried per request before it is given up (and counted).
const MAX_ATTEMPTS: usize = 5;

/// Where and how webhooks go.
#[derive(Debug, Clone)]
pub struct WebhookTargets {
    /// Each tenant's credentials (the signature).
    pub apps: PusherApps,
    /// Each tenant's webhook URL.
    pub urls: HashMap<String, String>,
    /// This process's node id (client events' `socket_id`).
    pub node_id: u32,
    /// Bytes of events one tenant's queue holds at most.
    pub queue_bytes: usize,
}

/// One tenant's waiting events (each already encoded) and whether a delivery is in flight.
#[derive(Debug, Default)]
struct TenantQueue {
    events: VecDeque<String>,
    bytes: usize,
    in_flight: bool,
}

/// Starts the dispatcher; returns the sender rooms report into. It runs until `shutdown`, then
/// delivers what it has and stops.
pub fn spawn(
    targets: WebhookTargets,
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
        let (done, mut finished) = mpsc::unbounded_channel::<String>();
        let mut queues: HashMap<String, TenantQueue> = HashMap::new();
        let mut ticker = tokio::time::interval(BATCH_WINDOW);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch: Vec<RoomSignal> = Vec::with_capacity(MAX_BATCH);
        let start = |tenant: &str, queue: &mut TenantQueue| {
            let Some(url) = targets.urls.get(tenant).cloned() else {
                return;
            };
            if queue.in_flight || queue.events.is_empty() {
                return;
            }
            let take = queue.events.len().min(MAX_BATCH);
            let events: Vec<String> = queue.events.drain(..take).collect();
            queue.bytes -= events.iter().map(String::len).sum::<usize>();
            queue.in_flight = true;
            let app = targets.apps.for_tenant(tenant);
            // The span names the tenant, so the operator view shows a failure only to it.
            let span = tracing::info_span!("webhook", %tenant);
            let delivery = deliver(client.clone(), url, app.key, app.secret, events);
            let done = done.clone();
            let tenant = tenant.to_owned();
            deliveries.spawn(tracing::Instrument::instrument(
                async move {
                    delivery.await;
                    let _ = done.send(tenant);
                },
                span,
            ));
        };
        loop {
            tokio::select! {
                more = received.recv_many(&mut batch, MAX_BATCH) => {
                    if more == 0 {
                        break;
                    }
                    for (tenant, event) in encode(&targets, batch.drain(..)) {
                        let queue = queues.entry(tenant.clone()).or_default();
                        if queue.bytes + event.len() > targets.queue_bytes {
                            metrics::counter!("classhub_webhooks_dropped_total", "reason" => "tenant_queue_full").increment(1);
                            tracing::warn!(%tenant, queued_bytes = queue.bytes, "webhook queue full; dropping the event");
                            continue;
                        }
                        queue.bytes += event.len();
                        queue.events.push_back(event);
                        if queue.events.len() >= MAX_BATCH {
                            start(&tenant, queue);
                        }
                    }
                }
                Some(tenant) = finished.recv() => {
                    if let Some(queue) = queues.get_mut(&tenant) {
                        queue.in_flight = false;
                    }
                }
                _ = ticker.tick() => {
                    for (tenant, queue) in &mut queues {
                        start(tenant, queue);
                    }
                    queues.retain(|_, queue| queue.in_flight || !queue.events.is_empty());
                }
                _ = shutdown.cancelled() => break,
            }
        }
        // Shutting down: what is queued goes out now, however many requests it takes.
        for (tenant, queue) in &mut queues {
            loop {
                let before = queue.events.len();
                queue.in_flight = false;
                start(tenant, queue);
                if queue.events.is_empty() || queue.events.len() == before {
                    break;
                }
            }
        }
    });
    signals
}

/// Pusher webhook events, encoded, with their tenant (tenants without a URL skipped).
fn encode(
    targets: &WebhookTargets,
    signals: impl Iterator<Item = RoomSignal>,
) -> Vec<(String, String)> {
    let node_id = targets.node_id;
    let mut encoded = Vec::new();
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
        if targets.urls.contains_key(room.tenant()) {
            encoded.push((room.tenant().to_owned(), event.to_string()));
        }
    }
    encoded
}

async fn deliver(
    client: reqwest::Client,
    url: String,
    key: String,
    secret: String,
    events: Vec<String>,
) {
    let time_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let body = format!(r#"{{"time_ms":{time_ms},"events":[{}]}}"#, events.join(","));
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
