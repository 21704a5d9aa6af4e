//! Prometheus metrics through the `metrics` facade. The recorder is process-global (installed
//! once, shared by every server started in the process, as in tests); every series is prefixed
//! `classhub_`:
//!
//! - `classhub_connections` (gauge), `classhub_rooms` (gauge)
//! - `classhub_frames_in_total{type}`, `classhub_frames_out_total{type}` (counters)
//! - `classhub_deliveries_total` (events, commands and notifications put on member queues)
//! - `classhub_slow_consumer_closes_total`
//! - `classhub_ephemeral_frames_total{outcome}`: ephemeral events per member, `datagram` (QUIC),
//!   `stream` (queued while the queue had spare room) or `dropped`
//! - `classhub_conn_queue_depth` (frames waiting, sampled at each heartbeat) and
//!   `classhub_writer_batch_frames` (frames coalesced per flush)
//! - the durable-event sink (recorded in `persistence`): `classhub_sink_queue_depth` (gauge),
//!   `classhub_sink_batch_rows` and `classhub_sink_commit_seconds` (histograms),
//!   `classhub_sink_rows_written_total`, `classhub_sink_retries_total`,
//!   `classhub_sink_refused_total` (queue full), `classhub_sink_rows_rejected_total` (events the
//!   database refused for their content)
//! - the REST API: `classhub_api_rate_limited_total` (requests answered 429),
//!   `classhub_audit_write_failures_total` (audit entries the database refused; each is logged)
//! - students' data: `classhub_erasures_total` (people erased),
//!   `classhub_retention_purged_rows_total{kind}` (`events`, `chat`, `ai`, `ai_threads`: rows
//!   the retention purge deleted)
//! - class chat: `classhub_chat_messages_total{outcome}` (`shown`, `held`, `released`,
//!   `deleted`, or why one was refused: `invalid`, `denied`, `muted`, `slow_mode`, `rate`,
//!   `unavailable`)
//! - media: `classhub_media_uploads_total{outcome}` (`stored`, or why not: `too_large`,
//!   `unsupported`, `invalid`, `failed`)
//! - webhooks: `classhub_webhooks_delivered_total`, `classhub_webhooks_failed_total`,
//!   `classhub_webhook_signals_dropped_total`; the AI tutor: `classhub_ai_tasks_total{outcome}`,
//!   `classhub_ai_tokens_total`, `classhub_ai_refusals_total`, `classhub_ai_quota_refusals_total`
//!   (calls refused because today's tokens are used or reserved); seats:
//!   `classhub_seat_refusals_total{reason}`
//! - HTTP, from one middleware ([`track_http`]): `classhub_http_requests_total{method,route,status}`
//!   and the histogram `classhub_http_request_duration_seconds{method,route}`, where `route` is
//!   the matched route's template (`/api/v1/courses/{id}`, never the raw path) or `unmatched`
//!
//! Every series is listed from the start (at zero), so a scraper sees the whole set on a fresh
//! server instead of an empty body until something happens: those without labels, and the
//! labelled ones for each label value the code uses ([`LABELLED`]; the HTTP series appear with
//! their first request, since their label values are the traffic's).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder on first call and returns the handle that renders it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(HTTP_DURATION.to_owned()),
                    &HTTP_DURATION_BUCKETS,
                )
                .map_or_else(
                    |_| PrometheusBuilder::new().build_recorder(),
                    PrometheusBuilder::build_recorder,
                );
            let handle = recorder.handle();
            if let Err(cause) = metrics::set_global_recorder(recorder) {
                tracing::warn!(%cause, "a metrics recorder was already installed; /metrics will be empty");
            }
            describe();
            start_at_zero();
            handle
        })
        .clone()
}

/// The gauges and counters without labels, registered at zero.
const GAUGES: [&str; 3] = [
    "classhub_connections",
    "classhub_rooms",
    "classhub_sink_queue_depth",
];
const COUNTERS: [&str; 16] = [
    "classhub_deliveries_total",
    "classhub_slow_consumer_closes_total",
    "classhub_api_rate_limited_total",
    "classhub_sink_rows_written_total",
    "classhub_sink_retries_total",
    "classhub_sink_refused_total",
    "classhub_sink_rows_rejected_total",
    "classhub_webhooks_delivered_total",
    "classhub_webhooks_failed_total",
    "classhub_webhook_signals_dropped_total",
    "classhub_ai_tokens_total",
    "classhub_ai_refusals_total",
    "classhub_ai_quota_refusals_total",
    "classhub_connections_cut_off_total",
    "classhub_audit_write_failures_total",
    "classhub_erasures_total",
];

/// The labelled counters, with every value the code gives their label (a tidy test checks the
/// code uses no other literal).
pub const LABELLED: &[(&str, &str, &[&str])] = &[
    (
        "classhub_frames_in_total",
        "type",
        &[
            "auth", "join", "leave", "publish", "presence", "ping", "invalid", "pusher",
        ],
    ),
    (
        "classhub_frames_out_total",
        "type",
        &[
            "welcome",
            "joined",
            "event",
            "presence_diff",
            "command",
            "notification",
            "reply",
            "error",
            "pong",
        ],
    ),
    (
        "classhub_ai_tasks_total",
        "outcome",
        &["completed", "failed"],
    ),
    (
        "classhub_limit_refusals_total",
        "limit",
        &[
            "connections",
            "connections_per_tenant",
            "pusher_connections_per_ip",
            "rooms_per_tenant",
        ],
    ),
    ("classhub_revocations_total", "outcome", &["left", "closed"]),
    (
        "classhub_ephemeral_frames_total",
        "outcome",
        &["datagram", "stream", "dropped"],
    ),
    (
        "classhub_chat_messages_total",
        "outcome",
        &[
            "shown",
            "held",
            "released",
            "deleted",
            "invalid",
            "denied",
            "muted",
            "slow_mode",
            "rate",
            "unavailable",
        ],
    ),
    (
        "classhub_media_uploads_total",
        "outcome",
        &["stored", "too_large", "unsupported", "invalid", "failed"],
    ),
    (
        "classhub_retention_purged_rows_total",
        "kind",
        &["chat", "events", "ai", "ai_threads"],
    ),
    (
        "classhub_seat_refusals_total",
        "reason",
        &["seat_limit", "subscription_lapsed"],
    ),
    (
        "classhub_stripe_webhooks_total",
        "outcome",
        &["applied", "duplicate", "ignored", "refused"],
    ),
    (
        "classhub_webhooks_dropped_total",
        "reason",
        &["tenant_queue_full"],
    ),
    (
        "classhub_open_cloud_messages_total",
        "outcome",
        &["sent", "rate_limited", "failed"],
    ),
    (
        "classhub_open_cloud_skipped_total",
        "call",
        &["queue_full", "users"],
    ),
];

fn start_at_zero() {
    for name in GAUGES {
        metrics::gauge!(name).set(0.0);
    }
    for name in COUNTERS {
        metrics::counter!(name).increment(0);
    }
    for (name, label, values) in LABELLED {
        for value in *values {
            metrics::counter!(*name, *label => *value).increment(0);
        }
    }
}

const HTTP_REQUESTS: &str = "classhub_http_requests_total";
const HTTP_DURATION: &str = "classhub_http_request_duration_seconds";
/// Seconds; from a cached answer to a long-poll or a slow AI call.
const HTTP_DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Middleware on every route: counts each request by method, route template and status, and
/// records how long the answer took (to its head; a streamed body or a socket goes on after).
pub async fn track_http(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The standard methods by name; anything else is `other` (bounded label values).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn describe() {
    metrics::describe_counter!(
        "classhub_erasures_total",
        "People erased with DELETE /api/v1/users/{id}."
    );
    metrics::describe_counter!(
        "classhub_media_uploads_total",
        "Media uploads by outcome: stored, or refused (too_large, unsupported, invalid) or failed in the store."
    );
    metrics::describe_counter!(
        "classhub_chat_messages_total",
        "Class chat messages by outcome: shown, held (for the teacher), released, deleted, or refused (invalid, denied, muted, slow_mode, rate, unavailable)."
    );
    metrics::describe_counter!(
        "classhub_retention_purged_rows_total",
        "Rows the retention purge deleted, by kind (events, chat, ai, ai_threads)."
    );
    metrics::describe_gauge!(
        "classhub_connections",
        "Authenticated connections on this node."
    );
    metrics::describe_gauge!("classhub_rooms", "Live rooms on this node.");
    metrics::describe_counter!(
        "classhub_frames_in_total",
        "Client frames received, by message type."
    );
    metrics::describe_counter!(
        "classhub_frames_out_total",
        "Server frames queued to connections, by message type."
    );
    metrics::describe_counter!(
        "classhub_deliveries_total",
        "Events, commands and notifications queued to members."
    );
    metrics::describe_counter!(
        "classhub_slow_consumer_closes_total",
        "Connections closed because their queue was full."
    );
    metrics::describe_histogram!(
        "classhub_conn_queue_depth",
        "Frames waiting in a connection's queue, sampled at heartbeats."
    );
    metrics::describe_histogram!(
        "classhub_writer_batch_frames",
        "Frames written per socket flush."
    );
    metrics::describe_counter!(
        "classhub_connections_cut_off_total",
        "Sockets closed (4103 / Pusher 4101) for sending too many refused frames."
    );
    metrics::describe_counter!(
        "classhub_api_rate_limited_total",
        "REST requests refused with 429 (per-token or per-IP limit)."
    );
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route template and status."
    );
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request (to the response head), by method and route template."
    );
    metrics::describe_counter!(
        "classhub_ai_quota_refusals_total",
        "AI calls refused with 429 because the school's daily tokens are used or reserved."
    );
}
