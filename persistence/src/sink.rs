//! The event sink: write-behind with group commit.
//!
//! Publishers reserve a place in a bounded queue ([`EventSink::reserve`]; a full queue is a
//! [`SinkRefused`], which the server turns into a retryable error — never a silent drop), fan
//! the event out, then submit it and get an [`Ack`]. One flusher task takes whatever is queued,
//! up to `batch_rows` rows or `batch_interval` after the first, writes it in one transaction (up
//! to `writers` batches at once, so one batch fills while another commits), and only then
//! resolves each event's ack. When the database is unreachable it retries the same
//! batch with exponential back-off while the queue fills and new events are refused; when the
//! database returns, everything queued is written exactly once (ids make retries idempotent).
//! When the database refuses a batch for its content, the events it refuses are found by
//! halving the batch ([`SinkError::Rejected`] for each of them, never a retry) while the others
//! are committed in a few transactions, so one bad event neither blocks nor slows its batch
//! much — nor the other tenants' events in it.
//!
//! Shutdown ([`SinkTask::close`]): stop taking new events, write everything already accepted,
//! and give up (failing, never acknowledging) only when the database stays down past the
//! deadline.

use std::ops::Range;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{SinkError, StoreError};
use crate::event::DurableEvent;
use crate::store::{Backend, Store};

/// Resolves once the event's transaction committed (`Ok`), or with why it never will.
pub type Ack = oneshot::Receiver<Result<(), SinkError>>;

/// Sink tunables.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    /// Most rows per transaction.
    pub batch_rows: usize,
    /// Longest wait after the first queued row before writing.
    pub batch_interval: Duration,
    /// Events queued (not yet in a batch) before new ones are refused.
    pub queue_len: usize,
    /// First retry delay after a failed write.
    pub retry_min: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Batches written concurrently (each in its own transaction and connection); `None`:
    /// [`default_writers`] for the store's backend.
    pub writers: Option<usize>,
}

impl Default for SinkSettings {
    fn default() -> Self {
        SinkSettings {
            batch_rows: 1000,
            batch_interval: Duration::from_millis(50),
            queue_len: 100_000,
            retry_min: Duration::from_millis(50),
            retry_max: Duration::from_secs(5),
            writers: None,
        }
    }
}

impl SinkSettings {
    /// Batches written at once on `backend`: the configured number, else [`default_writers`].
    pub fn writers_for(&self, backend: Backend) -> usize {
        self.writers
            .unwrap_or_else(|| default_writers(backend))
            .max(1)
    }
}

/// Batches written at once unless configured: 8 on PostgreSQL, whose commits wait on the WAL
/// flush while other connections' transactions proceed (2 left half the machine idle under
/// socket ingest; the sink bench measured 2 / 4 / 6 / 8 writers at 45 / 71 / 85 / 96 thousand
/// events/s), and 2 on SQLite, which writes one transaction at a time anyway (a third or
/// fourth queued writer only lengthened the ack tail).
pub fn default_writers(backend: Backend) -> usize {
    match backend {
        Backend::Postgres => 8,
        Backend::Sqlite => 2,
    }
}

/// The queue is full (the database is slow or down); refuse and let the client retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the durable-event queue is full ({queue_len} events); retry shortly")]
pub struct SinkRefused {
    /// The configured queue length.
    pub queue_len: usize,
}

type AckSender = oneshot::Sender<Result<(), SinkError>>;

struct Pending {
    event: DurableEvent,
    ack: AckSender,
}

/// The publishers' handle. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventSink {
    queue: mpsc::Sender<Pending>,
    queue_len: usize,
}

/// A reserved place in the queue: submitting cannot fail.
#[derive(Debug)]
pub struct SinkPermit<'a> {
    permit: mpsc::Permit<'a, Pending>,
}

/// The flusher task, for shutdown.
#[derive(Debug)]
pub struct SinkTask {
    /// Cancelled to stop accepting and drain.
    closing: CancellationToken,
    /// Cancelled to stop retrying an unreachable database.
    give_up: CancellationToken,
    flusher: JoinHandle<()>,
}

impl EventSink {
    /// Starts the flusher over `store`.
    pub fn spawn(store: Store, settings: SinkSettings) -> (EventSink, SinkTask) {
        let (queue, events) = mpsc::channel(settings.queue_len.max(1));
        let closing = CancellationToken::new();
        let give_up = CancellationToken::new();
        let flusher = tokio::spawn(flush_loop(
            store,
            settings.clone(),
            events,
            closing.clone(),
            give_up.clone(),
        ));
        (
            EventSink {
                queue,
                queue_len: settings.queue_len,
            },
            SinkTask {
                closing,
                give_up,
                flusher,
            },
        )
    }

    /// Reserves a place for one event, or refuses when the queue is full or closed.
    pub fn reserve(&self) -> Result<SinkPermit<'_>, SinkRefused> {
        match self.queue.try_reserve() {
            Ok(permit) => Ok(SinkPermit { permit }),
            Err(_) => {
                metrics::counter!("classhub_sink_refused_total").increment(1);
                Err(SinkRefused {
                    queue_len: self.queue_len,
                })
            }
        }
    }
}

impl EventSink {
    /// Events queued or reserved and not yet taken into a batch (what the operator view shows
    /// as the sink's queue depth), and the queue's length.
    pub fn depth(&self) -> (usize, usize) {
        let capacity = self.queue.max_capacity();
        (capacity.saturating_sub(self.queue.capacity()), capacity)
    }
}

impl EventSink {
    /// Reserves places for `count` events at once, or none: a batch is either taken whole or
    /// refused whole, so a client retrying a refused batch never finds half of it fanned out.
    pub fn reserve_many(&self, count: usize) -> Result<Vec<SinkPermit<'_>>, SinkRefused> {
        if count == 0 {
            return Ok(Vec::new());
        }
        match self.queue.try_reserve_many(count) {
            Ok(permits) => Ok(permits.map(|permit| SinkPermit { permit }).collect()),
            Err(_) => {
                metrics::counter!("classhub_sink_refused_total").increment(count as u64);
                Err(SinkRefused {
                    queue_len: self.queue_len,
                })
            }
        }
    }
}

impl SinkPermit<'_> {
    /// Queues the event; the ack resolves after the commit that holds it.
    pub fn submit(self, event: DurableEvent) -> Ack {
        let (ack, acked) = oneshot::channel();
        self.permit.send(Pending { event, ack });
        acked
    }
}

impl SinkTask {
    /// Stops accepting events, writes everything accepted, and waits for the flusher. If the
    /// database stays unreachable past `deadline`, the events not yet written are failed.
    pub async fn close(self, deadline: Duration) {
        self.closing.cancel();
        let mut flusher = self.flusher;
        if tokio::time::timeout(deadline, &mut flusher).await.is_err() {
            tracing::warn!(
                "database still unreachable at the shutdown deadline; failing unwritten events"
            );
            self.give_up.cancel();
            if let Err(cause) = flusher.await {
                tracing::error!(%cause, "sink flusher failed");
            }
        }
    }
}

async fn flush_loop(
    store: Store,
    settings: SinkSettings,
    mut events: mpsc::Receiver<Pending>,
    closing: CancellationToken,
    give_up: CancellationToken,
) {
    let batch_rows = settings.batch_rows.max(1);
    let writers = settings.writers_for(store.backend());
    // Batches being written; while all writers are busy, events keep queueing (bounded).
    let mut writing: JoinSet<()> = JoinSet::new();
    let mut draining = false;
    loop {
        while writing.len() >= writers {
            reap(writing.join_next().await);
        }
        let mut batch: Vec<Pending> = Vec::with_capacity(batch_rows);
        let first = tokio::select! {
            biased;
            first = events.recv() => first,
            _ = closing.cancelled(), if !draining => {
                // Refuse new events; those already queued (and outstanding permits) still arrive.
                events.close();
                draining = true;
                continue;
            }
        };
        match first {
            Some(pending) => batch.push(pending),
            None => break,
        }
        let deadline = Instant::now() + settings.batch_interval;
        while batch.len() < batch_rows {
            let room = batch_rows - batch.len();
            let received = tokio::select! {
                biased;
                received = events.recv_many(&mut batch, room) => received,
                _ = tokio::time::sleep_until(deadline), if !draining => break,
                _ = closing.cancelled(), if !draining => {
                    events.close();
                    draining = true;
                    continue;
                }
            };
            if received == 0 || draining && events.is_empty() {
                break;
            }
        }
        metrics::gauge!("classhub_sink_queue_depth").set(events.len() as f64);
        let (store, settings, give_up) = (store.clone(), settings.clone(), give_up.clone());
        writing.spawn(async move { write_batch(&store, &settings, batch, &give_up).await });
    }
    while let Some(finished) = writing.join_next().await {
        reap(Some(finished));
    }
    tracing::debug!("sink drained");
}

fn reap(finished: Option<Result<(), tokio::task::JoinError>>) {
    if let Some(Err(cause)) = finished {
        // The acks of that batch were dropped with it: their publishers see `Stopped`.
        tracing::error!(%cause, "sink writer failed");
    }
}

/// Writes one batch and resolves every ack. Transient failures are retried with back-off until
/// `give_up`. When the database refuses the batch for its content, the refused events are found
/// by halving: each half is written in its own transaction, a refused half is halved again,
/// down to single events, which are answered [`SinkError::Rejected`]. So one bad event among
/// `n` costs about `2·log2(n)` extra transactions (about 20 for 1 000 rows), the others are
/// committed and acknowledged in a few large ones, and the bound is `2n − 1` when every event is
/// refused.
async fn write_batch(
    store: &Store,
    settings: &SinkSettings,
    batch: Vec<Pending>,
    give_up: &CancellationToken,
) {
    // Held until the batch is committed: an erasure waits for it before deleting (privacy.rs).
    let erasures = store.erasures().read().await;
    let batch = if erasures.is_empty() {
        batch
    } else {
        let (gone, kept): (Vec<Pending>, Vec<Pending>) = batch
            .into_iter()
            .partition(|pending| erasures.names(&pending.event));
        for pending in gone {
            let refusal = "the user this event names was erased; it is not stored".to_owned();
            answer(pending.ack, Err(SinkError::Rejected(refusal)));
        }
        kept
    };
    let (events, acks): (Vec<DurableEvent>, Vec<AckSender>) = batch
        .into_iter()
        .map(|pending| (pending.event, pending.ack))
        .unzip();
    let mut acks: Vec<Option<AckSender>> = acks.into_iter().map(Some).collect();
    let mut resolve = |range: Range<usize>, result: Result<(), SinkError>| {
        for ack in acks[range].iter_mut().filter_map(Option::take) {
            answer(ack, result.clone());
        }
    };
    // Ranges still to write, the next one last.
    let mut to_write: Vec<Range<usize>> = Vec::new();
    to_write.push(0..events.len());
    while let Some(range) = to_write.pop() {
        match write_retrying(store, settings, &events[range.clone()], give_up).await {
            Written::Committed => resolve(range, Ok(())),
            Written::GaveUp => {
                resolve(range, Err(SinkError::Unavailable));
                for rest in to_write.drain(..) {
                    resolve(rest, Err(SinkError::Unavailable));
                }
            }
            Written::Refused(error) if range.len() == 1 => {
                let event = &events[range.start];
                tracing::warn!(cause = %error, tenant = %event.tenant, event_id = %event.event_id, "the database refused an event; rejecting it");
                metrics::counter!("classhub_sink_rows_rejected_total").increment(1);
                resolve(range, Err(SinkError::Rejected(rejection(&error))));
            }
            Written::Refused(error) => {
                tracing::warn!(cause = %error, rows = range.len(), "the database refused a batch; writing it in halves to find the events it refuses");
                let middle = range.start + range.len() / 2;
                to_write.push(middle..range.end);
                to_write.push(range.start..middle);
            }
        }
    }
}

/// How a [`write_retrying`] ended.
enum Written {
    /// The events are committed.
    Committed,
    /// The database refused the events for their content (not a passing failure).
    Refused(StoreError),
    /// The database stayed unreachable until shutdown gave up.
    GaveUp,
}

/// Writes `events` in one transaction, retrying transient failures with exponential back-off
/// until `give_up`.
async fn write_retrying(
    store: &Store,
    settings: &SinkSettings,
    events: &[DurableEvent],
    give_up: &CancellationToken,
) -> Written {
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(settings.retry_min)
        .with_max_delay(settings.retry_max)
        .with_jitter()
        .without_max_times()
        .build();
    loop {
        let started = Instant::now();
        match store.write_events(events).await {
            Ok(outcome) => {
                metrics::histogram!("classhub_sink_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::histogram!("classhub_sink_batch_rows").record(events.len() as f64);
                metrics::counter!("classhub_sink_rows_written_total")
                    .increment(outcome.inserted as u64);
                return Written::Committed;
            }
            Err(error) if error.is_transient() => {
                metrics::counter!("classhub_sink_retries_total").increment(1);
                let delay = delays.next().unwrap_or(settings.retry_max);
                tracing::warn!(cause = %error, rows = events.len(), retry_in_ms = delay.as_millis() as u64, "sink write failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = give_up.cancelled() => return Written::GaveUp,
                }
            }
            Err(error) => return Written::Refused(error),
        }
    }
}

fn rejection(error: &StoreError) -> String {
    match error {
        StoreError::Query(sqlx::Error::Database(database)) => database.message().to_owned(),
        other => other.to_string(),
    }
}

/// A publisher that went away no longer needs its answer; the event's fate is unchanged.
fn answer(ack: AckSender, result: Result<(), SinkError>) {
    if ack.send(result).is_err() {
        tracing::trace!("ack receiver gone");
    }
}
