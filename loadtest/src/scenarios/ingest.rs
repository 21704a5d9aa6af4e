//! `ingest`: acknowledged durable events per second. P educator connections each publish into
//! a game room of their own with a unique `id` and `ref` per event, keeping at most
//! `in_flight` events unacknowledged; the hub's `reply` arrives after the commit that holds the
//! event. A retryable refusal (`error` 5001 when the sink's queue is full, 3002 rate limited,
//! 5002) is retried after its `retry_after_ms` with the same `id` and `ref`, as a real client
//! would. Reports acks/s and publish→ack latency (from the first send, retries included).
//!
//! Entry point: [`run`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, ensure};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMessage, Codec, ErrorCode, Ref};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{
    Common, MAX_CONNECTIONS, MAX_PAYLOAD_BYTES, MAX_RATE, check_count, nothing_opened, open_many,
    padding, per_sec, resolve_tenant, run_id, secs, wait_window,
};
use crate::client::{self, Connection, FrameKind, WireProtocol, WsStream};
use crate::credentials::Role;
use crate::progress::Progress;
use crate::report::{IngestResults, Report, Results};
use crate::stats::{Errors, LatencyRecorder, SharedLatencies, Window, unix_micros, unix_millis};

/// Most unacknowledged events per connection.
pub const MAX_IN_FLIGHT: u64 = 100_000;
/// Sends of one event (the first and its retries) before it is given up.
const MAX_ATTEMPTS: u32 = 20;
/// Wait before a retry when the refusal gave no `retry_after_ms`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_millis(100);
/// Longest wait before a retry, whatever the hub advises.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// What `ingest` is asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// Target, credentials, warm-up, duration.
    pub common: Common,
    /// `json` or `msgpack` (`pusher` is refused for now).
    pub protocol: WireProtocol,
    /// Publishing connections.
    pub publishers: u64,
    /// Unacknowledged events allowed per connection.
    pub in_flight: u64,
    /// Events per second over all publishers; 0 sends as fast as acknowledgements allow.
    pub rate: f64,
    /// Extra payload bytes per event (`data.pad`).
    pub payload_bytes: usize,
    /// Source addresses (127.0.0.1..=127.0.0.n) to spread sockets over.
    pub source_addresses: u8,
}

impl Config {
    /// 8 publishers with 64 events in flight each, unthrottled, over JSON.
    pub fn new(common: Common) -> Config {
        Config {
            common,
            protocol: WireProtocol::Json,
            publishers: 8,
            in_flight: 64,
            rate: 0.0,
            payload_bytes: 0,
            source_addresses: 1,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.common.validate()?;
        check_count("publishers", self.publishers, MAX_CONNECTIONS)?;
        check_count("in-flight", self.in_flight, MAX_IN_FLIGHT)?;
        ensure!(
            self.rate >= 0.0 && self.rate <= MAX_RATE,
            "--rate must be between 0 (unthrottled) and {MAX_RATE} events/s"
        );
        ensure!(
            self.payload_bytes <= MAX_PAYLOAD_BYTES,
            "--payload-bytes must be at most {MAX_PAYLOAD_BYTES}"
        );
        Ok(())
    }
}

/// Counters the progress bar reads (whole run).
#[derive(Debug, Default)]
struct Live {
    acked: AtomicU64,
}

/// Everything the publisher tasks share.
struct Shared {
    run_id: String,
    window: Window,
    /// Time between sends per publisher when throttled.
    period: Option<Duration>,
    in_flight: usize,
    pad: String,
    /// Cancelled at the end of the window.
    stop: CancellationToken,
    live: Live,
}

/// One publisher's figures.
#[derive(Debug)]
struct PublisherOutcome {
    latencies: LatencyRecorder,
    sent: u64,
    acked: u64,
    retries: u64,
    refused_5001: u64,
    rate_limited_3002: u64,
    failed: u64,
    unacked_at_end: u64,
    errors: Errors,
}

/// An event sent and not yet acknowledged.
#[derive(Debug)]
struct Pending {
    /// The event's number on this connection (its `id` suffix).
    number: u64,
    /// The first send.
    first_sent: Instant,
    /// Sends so far.
    attempts: u32,
}

/// Runs the scenario and returns its report.
pub async fn run(config: Config) -> anyhow::Result<Report> {
    let codec = config.protocol.codec()?;
    config.validate()?;
    let common = &config.common;
    let started_at_unix_ms = unix_millis();
    let tenant = resolve_tenant(common, codec).await?;
    let run_id = run_id();
    let sources = common.target.source_addresses(config.source_addresses);
    let progress = Progress::new(common.show_progress);
    let mut errors = Errors::default();
    let setup_start = Instant::now();

    progress.phase("publishers", config.publishers);
    let opened = open_many(config.publishers, 64, &progress, |index| {
        let source = sources[index as usize % sources.len()];
        let user = format!("{run_id}-e{index}");
        let target = &common.target;
        let credentials = &common.credentials;
        async move {
            let token = credentials.token_for(Role::Educator, &user)?;
            let mut connection = client::connect(target, codec, &token, source).await?;
            connection.welcome().await?;
            Ok((index, connection))
        }
    })
    .await;
    let mut publishers = Vec::with_capacity(opened.len());
    for outcome in opened {
        match outcome {
            Ok(publisher) => publishers.push(publisher),
            Err(error) => errors.add("setup_publisher", || format!("{error:#}")),
        }
    }
    if publishers.is_empty() {
        return Err(nothing_opened("publisher", errors.sample.first()));
    }
    let setup = setup_start.elapsed();

    let window = Window::after_warmup(common.warmup, common.duration);
    let period =
        (config.rate > 0.0).then(|| Duration::from_secs_f64(publishers.len() as f64 / config.rate));
    let shared = Arc::new(Shared {
        run_id,
        window,
        period,
        in_flight: usize::try_from(config.in_flight).context("--in-flight is too large")?,
        pad: padding(config.payload_bytes),
        stop: CancellationToken::new(),
        live: Live::default(),
    });
    let connections = publishers.len() as u64;
    let latencies = SharedLatencies::new()?;
    let mut tasks: Vec<JoinHandle<PublisherOutcome>> = Vec::with_capacity(publishers.len());
    for (index, connection) in publishers {
        let room = format!("game:{tenant}:{}-{index}", shared.run_id);
        tasks.push(tokio::spawn(publish_loop(
            index,
            connection,
            room,
            latencies.recorder(),
            Arc::clone(&shared),
        )));
    }

    let status = || format!("acked {}", shared.live.acked.load(Ordering::Relaxed));
    wait_window(&window, &progress, status, || {}).await;
    shared.stop.cancel();

    let mut totals = IngestResults {
        publishers: connections,
        in_flight: config.in_flight,
        target_rate: config.rate,
        sent: 0,
        acked: 0,
        acks_per_sec: 0.0,
        retries: 0,
        refused_5001: 0,
        rate_limited_3002: 0,
        failed: 0,
        unacked_at_end: 0,
    };
    for task in tasks {
        let mut outcome = task.await.context("a publisher task failed")?;
        outcome.latencies.flush();
        totals.sent += outcome.sent;
        totals.acked += outcome.acked;
        totals.retries += outcome.retries;
        totals.refused_5001 += outcome.refused_5001;
        totals.rate_limited_3002 += outcome.rate_limited_3002;
        totals.failed += outcome.failed;
        totals.unacked_at_end += outcome.unacked_at_end;
        errors.merge(outcome.errors);
    }
    let duration = window.duration();
    totals.acks_per_sec = per_sec(totals.acked, duration);
    let mut notes = vec![
        "latency is first send to reply (retries included); a reply means the event's \
         transaction committed"
            .to_owned(),
    ];
    if totals.rate_limited_3002 > 0 {
        notes.push(
            "publishes were rate limited (3002): start the hub with a higher --publish-rate and \
             --publish-burst"
                .to_owned(),
        );
    }
    Ok(Report {
        scenario: "ingest".into(),
        target: common.target.display().to_owned(),
        protocol: config.protocol.as_str().into(),
        started_at_unix_ms,
        setup_secs: secs(setup),
        warmup_secs: secs(common.warmup),
        duration_secs: secs(duration),
        connections,
        latency_of: "durable publish to its reply (after commit)".into(),
        latency_us: latencies.snapshot().percentiles(),
        results: Results::Ingest(totals),
        errors,
        notes,
    })
}

/// One publisher: keeps its window of unacknowledged events full until the measured window
/// ends, retrying refusals when they are due.
async fn publish_loop(
    index: u64,
    connection: Connection,
    room: String,
    latencies: LatencyRecorder,
    shared: Arc<Shared>,
) -> PublisherOutcome {
    let mut publisher = Publisher {
        codec: connection.codec,
        id_prefix: format!("{}-{index}-", shared.run_id),
        room,
        pending: HashMap::with_capacity(shared.in_flight),
        retries_due: BinaryHeap::new(),
        next_number: 0,
        outcome: PublisherOutcome {
            latencies,
            sent: 0,
            acked: 0,
            retries: 0,
            refused_5001: 0,
            rate_limited_3002: 0,
            failed: 0,
            unacked_at_end: 0,
            errors: Errors::default(),
        },
    };
    let (mut sink, mut stream) = connection.ws.split();
    let window = shared.window;
    let mut ticker = shared.period.map(|period| {
        let offset = period.mul_f64((index % 64) as f64 / 64.0);
        let mut ticker = tokio::time::interval_at(window.load_start + offset, period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        ticker
    });
    // Sends allowed now: unlimited when unthrottled, one per tick (at most a window's worth
    // saved up) when throttled.
    let mut credits: u64 = if ticker.is_some() { 0 } else { u64::MAX };
    let end = tokio::time::sleep_until(window.end);
    tokio::pin!(end);
    loop {
        if let Err(error) = publisher.fill(&shared, &mut sink, &mut credits).await {
            publisher
                .outcome
                .errors
                .add("send", || format!("publish failed: {error:#}"));
            break;
        }
        let next_retry = publisher.retries_due.peek().map(|Reverse((due, _))| *due);
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            _ = &mut end => break,
            next = stream.next() => match next {
                None => {
                    publisher.outcome.errors.add("closed", || "publisher socket ended".into());
                    break;
                }
                Some(Err(error)) => {
                    publisher.outcome.errors.add("socket", || format!("publisher socket failed: {error}"));
                    break;
                }
                Some(Ok(frame)) if frame.is_close() => {
                    publisher.outcome.errors.add("closed", || format!("publisher closed by the server: {frame:?}"));
                    break;
                }
                Some(Ok(frame)) => publisher.answer(&frame, &window, &shared),
            },
            _ = sleep_until_some(next_retry) => {
                if let Err(error) = publisher.retry_due(&mut sink).await {
                    publisher.outcome.errors.add("send", || format!("retry failed: {error:#}"));
                    break;
                }
            }
            _ = tick_some(ticker.as_mut()) => {
                credits = (credits + 1).min(shared.in_flight as u64);
            }
        }
    }
    publisher.outcome.unacked_at_end = publisher.pending.len() as u64;
    if let Ok(ws) = sink.reunite(stream) {
        Connection {
            ws,
            codec: publisher.codec,
        }
        .close()
        .await;
    }
    publisher.outcome
}

type Sink = SplitSink<WsStream, Message>;

/// One publisher's state between frames.
struct Publisher {
    codec: Codec,
    /// `{run}-{publisher}-`; the event number follows.
    id_prefix: String,
    room: String,
    /// Unacknowledged events by `ref`.
    pending: HashMap<u64, Pending>,
    /// Refused events waiting to be sent again, soonest first.
    retries_due: BinaryHeap<Reverse<(Instant, u64)>>,
    next_number: u64,
    outcome: PublisherOutcome,
}

impl Publisher {
    /// Sends new events while the window has room and credits remain, with one flush.
    async fn fill(
        &mut self,
        shared: &Shared,
        sink: &mut Sink,
        credits: &mut u64,
    ) -> anyhow::Result<()> {
        let mut fed = false;
        while self.pending.len() < shared.in_flight
            && *credits > 0
            && Instant::now() < shared.window.end
        {
            self.next_number += 1;
            let number = self.next_number;
            let now = Instant::now();
            let frame = self.publish_frame(number, Some(&shared.pad))?;
            sink.feed(frame).await.context("sending a publish")?;
            fed = true;
            self.pending.insert(
                number,
                Pending {
                    number,
                    first_sent: now,
                    attempts: 1,
                },
            );
            if *credits != u64::MAX {
                *credits -= 1;
            }
            if shared.window.contains(now) {
                self.outcome.sent += 1;
            }
        }
        if fed {
            sink.flush().await.context("flushing publishes")?;
        }
        Ok(())
    }

    /// Sends again every refused event whose wait is over.
    async fn retry_due(&mut self, sink: &mut Sink) -> anyhow::Result<()> {
        let now = Instant::now();
        let mut fed = false;
        while let Some(Reverse((due, reference))) = self.retries_due.peek().copied() {
            if due > now {
                break;
            }
            self.retries_due.pop();
            let Some(pending) = self.pending.get_mut(&reference) else {
                continue;
            };
            pending.attempts += 1;
            let number = pending.number;
            let frame = self.publish_frame(number, None)?;
            sink.feed(frame).await.context("sending a retry")?;
            self.outcome.retries += 1;
            fed = true;
        }
        if fed {
            sink.flush().await.context("flushing retries")?;
        }
        Ok(())
    }

    /// The `publish` of event `number` (its `ref` is its number). A retry carries no padding
    /// change: the id makes it the same event.
    fn publish_frame(&self, number: u64, pad: Option<&str>) -> anyhow::Result<Message> {
        let mut data = json!({ "t": unix_micros() });
        if let (Some(pad), Value::Object(fields)) = (pad, &mut data)
            && !pad.is_empty()
        {
            fields.insert("pad".into(), Value::String(pad.to_owned()));
        }
        client::encode(
            self.codec,
            &ClientMessage::Publish {
                reference: Some(Ref::Int(number)),
                room: self.room.clone(),
                kind: "loadtest".into(),
                data,
                id: Some(format!("{}{number}", self.id_prefix)),
                ephemeral: false,
            },
        )
    }

    /// Handles a frame from the hub: a `reply` acknowledges, an `error` refuses.
    fn answer(&mut self, frame: &Message, window: &Window, shared: &Shared) {
        let Some(bytes) = client::payload(frame) else {
            return;
        };
        let probe = match client::probe(self.codec, bytes) {
            Ok(probe) => probe,
            Err(error) => {
                self.outcome.errors.add("decode", || format!("{error:#}"));
                return;
            }
        };
        let reference = match &probe.reference {
            Some(Ref::Int(reference)) => Some(*reference),
            Some(Ref::Text(_)) | None => None,
        };
        match (probe.kind, reference) {
            (FrameKind::Reply, Some(reference)) => {
                let Some(pending) = self.pending.remove(&reference) else {
                    return;
                };
                shared.live.acked.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                if window.contains(now) {
                    self.outcome.acked += 1;
                    self.outcome.latencies.record(now - pending.first_sent);
                }
            }
            (FrameKind::Error, reference) => {
                let code = probe.code.unwrap_or(0);
                let message = probe.message.unwrap_or_default();
                let retryable = ErrorCode::from_code(code).is_some_and(ErrorCode::is_retryable);
                match code {
                    5001 => self.outcome.refused_5001 += 1,
                    3002 => self.outcome.rate_limited_3002 += 1,
                    _ => {}
                }
                let pending = reference.and_then(|reference| {
                    self.pending
                        .get(&reference)
                        .map(|pending| (reference, pending.attempts))
                });
                match pending {
                    Some((reference, attempts)) if retryable && attempts < MAX_ATTEMPTS => {
                        let wait = probe
                            .retry_after_ms
                            .map_or(DEFAULT_RETRY_AFTER, Duration::from_millis)
                            .min(MAX_RETRY_AFTER);
                        self.retries_due
                            .push(Reverse((Instant::now() + wait, reference)));
                    }
                    Some((reference, attempts)) => {
                        self.pending.remove(&reference);
                        self.outcome.failed += 1;
                        self.outcome.errors.add(&format!("error_{code}"), || {
                            format!("event refused with {code} after {attempts} sends: {message}")
                        });
                    }
                    None => self.outcome.errors.add(&format!("error_{code}"), || {
                        format!("error {code} for no pending event: {message}")
                    }),
                }
            }
            _ => {}
        }
    }
}

async fn sleep_until_some(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

async fn tick_some(ticker: Option<&mut tokio::time::Interval>) {
    match ticker {
        Some(ticker) => {
            ticker.tick().await;
        }
        None => std::future::pending().await,
    }
}
