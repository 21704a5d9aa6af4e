//! Prometheus metrics through the `metrics` facade. The recorder is process-global (installed
//! once, shared by every server started in the process, as in tests); every series is prefixed
//! `classhub_`:
//!
//! - `classhub_connections` (gauge), `classhub_rooms` (gauge)
//! - `classhub_frames_in_total{type}`, `classhub_frames_out_total{type}` (counters)
//! - `classhub_deliveries_total` (events, commands and notifications put on member queues)
//! - `classhub_slow_consumer_closes_total`
//! - `classhub_conn_queue_depth` (frames waiting, sampled at each heartbeat) and
//!   `classhub_writer_batch_frames` (frames coalesced per flush)
//! - the durable-event sink (recorded in `persistence`): `classhub_sink_queue_depth` (gauge),
//!   `classhub_sink_batch_rows` and `classhub_sink_commit_seconds` (histograms),
//!   `classhub_sink_rows_written_total`, `classhub_sink_retries_total`,
//!   `classhub_sink_refused_total` (queue full), `classhub_sink_rows_rejected_total` (events the
//!   database refused for their content)
//! - the REST API: `classhub_api_rate_limited_total` (requests answered 429)
//! - webhooks: `classhub_webhooks_delivered_total`, `classhub_webhooks_failed_total`,
//!   `classhub_webhook_signals_dropped_total`; the AI tutor: `classhub_ai_tasks_total{outcome}`,
//!   `classhub_ai_tokens_total`, `classhub_ai_refusals_total`, `classhub_ai_quota_refusals_total`
//!   (calls refused because today's tokens are used or reserved); seats:
//!   `classhub_seat_refusals_total{reason}`
//!
//! Every series without labels is listed from the start (at zero), so a scraper sees the whole
//! set on a fresh server instead of an empty body until something happens.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder on first call and returns the handle that renders it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
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
const COUNTERS: [&str; 14] = [
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
];

fn start_at_zero() {
    for name in GAUGES {
        metrics::gauge!(name).set(0.0);
    }
    for name in COUNTERS {
        metrics::counter!(name).increment(0);
    }
}

fn describe() {
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
        "classhub_ai_quota_refusals_total",
        "AI calls refused with 429 because the school's daily tokens are used or reserved."
    );
}
