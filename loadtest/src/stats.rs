//! Measurement primitives: a latency histogram (hdrhistogram, 1 µs to 60 s at three
//! significant digits, about 140 KiB) shared by a scenario's tasks, each of which records
//! through a [`LatencyRecorder`] that batches its samples so the lock is taken rarely and
//! thousands of tasks do not need a histogram each; the percentiles a report shows; the
//! measured window; a bounded sample of error messages; and the wall clock in microseconds
//! that `fanout` carries in `data.t`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Highest latency recorded exactly; anything slower is recorded as this (60 s).
const HIGHEST_MICROS: u64 = 60_000_000;
/// Samples a recorder keeps before adding them to the shared histogram.
const RECORDER_BATCH: usize = 256;
/// Error messages kept for the report; the count goes on past this.
const ERROR_SAMPLE_LEN: usize = 20;

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64)
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis() -> u64 {
    unix_micros() / 1000
}

/// One task's latencies, in microseconds.
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Latencies {
    /// An empty histogram.
    pub fn new() -> anyhow::Result<Latencies> {
        let histogram = Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)
            .context("histogram bounds are valid")?;
        Ok(Latencies { histogram })
    }

    /// Records one latency (clamped into 1 µs ..= 60 s).
    pub fn record_micros(&mut self, micros: u64) {
        self.histogram.saturating_record(micros.max(1));
    }

    /// Records one latency given as a duration.
    pub fn record(&mut self, latency: Duration) {
        self.record_micros(latency.as_micros().min(u128::from(u64::MAX)) as u64);
    }

    /// Adds another task's latencies to these.
    pub fn merge(&mut self, other: &Latencies) -> anyhow::Result<()> {
        self.histogram
            .add(&other.histogram)
            .context("merging latency histograms")
    }

    /// Number of recorded latencies.
    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// The percentiles for a report.
    pub fn percentiles(&self) -> Percentiles {
        let histogram = &self.histogram;
        if histogram.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: histogram.len(),
            min: histogram.min(),
            mean: (histogram.mean() * 10.0).round() / 10.0,
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            p99_9: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }
}

/// One histogram for many tasks. Cloned into every task (through [`LatencyRecorder`]s); the
/// scenario reads it once the tasks are done.
#[derive(Debug, Clone)]
pub struct SharedLatencies {
    /// Locked only to add a batch of samples or to read the result; never across an `.await`.
    histogram: Arc<Mutex<Latencies>>,
}

impl SharedLatencies {
    /// An empty shared histogram.
    pub fn new() -> anyhow::Result<SharedLatencies> {
        Ok(SharedLatencies {
            histogram: Arc::new(Mutex::new(Latencies::new()?)),
        })
    }

    /// A recorder for one task.
    pub fn recorder(&self) -> LatencyRecorder {
        LatencyRecorder {
            histogram: Arc::clone(&self.histogram),
            batch: Vec::with_capacity(RECORDER_BATCH),
        }
    }

    /// The latencies recorded so far (recorders flush when full and when dropped).
    pub fn snapshot(&self) -> Latencies {
        lock(&self.histogram).clone()
    }
}

/// A task's handle on a [`SharedLatencies`]: samples go into a small batch that is added to the
/// shared histogram when full, on [`LatencyRecorder::flush`], and when the recorder is dropped.
#[derive(Debug)]
pub struct LatencyRecorder {
    histogram: Arc<Mutex<Latencies>>,
    batch: Vec<u64>,
}

impl LatencyRecorder {
    /// Records one latency in microseconds.
    pub fn record_micros(&mut self, micros: u64) {
        self.batch.push(micros);
        if self.batch.len() >= RECORDER_BATCH {
            self.flush();
        }
    }

    /// Records one latency given as a duration.
    pub fn record(&mut self, latency: Duration) {
        self.record_micros(latency.as_micros().min(u128::from(u64::MAX)) as u64);
    }

    /// Adds the batch to the shared histogram.
    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let mut histogram = lock(&self.histogram);
        for micros in self.batch.drain(..) {
            histogram.record_micros(micros);
        }
    }
}

impl Drop for LatencyRecorder {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Locks a histogram; a panic elsewhere while it was held leaves counts that are still valid.
fn lock(histogram: &Mutex<Latencies>) -> MutexGuard<'_, Latencies> {
    histogram
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Latency percentiles in microseconds (all zero when nothing was measured).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples behind these figures.
    pub count: u64,
    /// Fastest.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// Slowest.
    pub max: u64,
}

impl Percentiles {
    /// True when min ≤ p50 ≤ p90 ≤ p99 ≤ p99.9 ≤ max (hdrhistogram guarantees it; reports and
    /// tests check it).
    pub fn is_ordered(&self) -> bool {
        self.min <= self.p50
            && self.p50 <= self.p90
            && self.p90 <= self.p99
            && self.p99 <= self.p99_9
            && self.p99_9 <= self.max
    }
}

/// The measured part of a run: after the warm-up, for the fixed duration.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// When the warm-up began (load starts here).
    pub load_start: Instant,
    /// When measuring begins (end of warm-up).
    pub start: Instant,
    /// When measuring (and the load) ends.
    pub end: Instant,
}

impl Window {
    /// A window starting `warmup` from now and lasting `duration`.
    pub fn after_warmup(warmup: Duration, duration: Duration) -> Window {
        let load_start = Instant::now();
        let start = load_start + warmup;
        Window {
            load_start,
            start,
            end: start + duration,
        }
    }

    /// True when `at` falls in the measured window.
    pub fn contains(&self, at: Instant) -> bool {
        at >= self.start && at < self.end
    }

    /// The measured duration.
    pub fn duration(&self) -> Duration {
        self.end - self.start
    }

    /// True once the warm-up is over.
    pub fn measuring(&self, now: Instant) -> bool {
        now >= self.start
    }
}

/// Errors seen: how many, by kind, and the first few messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Errors {
    /// Every error counted.
    pub count: u64,
    /// Count per kind (for example `error_3002`, `connect`, `close_4100`).
    pub by_kind: BTreeMap<String, u64>,
    /// The first messages, at most 20.
    pub sample: Vec<String>,
}

impl Errors {
    /// Counts one error of `kind`, keeping its message while the sample has room.
    pub fn add(&mut self, kind: &str, message: impl FnOnce() -> String) {
        self.count += 1;
        *self.by_kind.entry(kind.to_owned()).or_default() += 1;
        if self.sample.len() < ERROR_SAMPLE_LEN {
            self.sample.push(message());
        }
    }

    /// Adds another task's errors to these.
    pub fn merge(&mut self, other: Errors) {
        self.count += other.count;
        for (kind, count) in other.by_kind {
            *self.by_kind.entry(kind).or_default() += count;
        }
        let room = ERROR_SAMPLE_LEN.saturating_sub(self.sample.len());
        self.sample.extend(other.sample.into_iter().take(room));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered_and_merge() -> anyhow::Result<()> {
        let mut first = Latencies::new()?;
        let mut second = Latencies::new()?;
        for micros in 1..=1000 {
            first.record_micros(micros);
            second.record_micros(micros * 100);
        }
        second.record_micros(u64::MAX);
        first.merge(&second)?;
        let percentiles = first.percentiles();
        assert_eq!(percentiles.count, 2001);
        assert!(percentiles.is_ordered(), "{percentiles:?}");
        assert!(percentiles.max >= HIGHEST_MICROS, "{percentiles:?}");
        Ok(())
    }

    #[test]
    fn recorders_add_up_when_flushed_or_dropped() -> anyhow::Result<()> {
        let shared = SharedLatencies::new()?;
        let mut first = shared.recorder();
        let mut second = shared.recorder();
        for micros in 0..1000 {
            first.record_micros(micros);
            second.record(Duration::from_micros(micros));
        }
        first.flush();
        assert_eq!(shared.snapshot().len(), 1000 + 3 * RECORDER_BATCH as u64);
        drop(second);
        assert_eq!(shared.snapshot().len(), 2000);
        drop(first);
        assert_eq!(shared.snapshot().len(), 2000);
        Ok(())
    }

    #[test]
    fn empty_percentiles_are_zero() -> anyhow::Result<()> {
        let percentiles = Latencies::new()?.percentiles();
        assert_eq!(percentiles, Percentiles::default());
        assert!(percentiles.is_ordered());
        Ok(())
    }

    #[test]
    fn error_samples_are_bounded() {
        let mut errors = Errors::default();
        for n in 0..100 {
            errors.add("connect", || format!("failure {n}"));
        }
        let mut more = Errors::default();
        more.add("error_5001", || "full".into());
        errors.merge(more);
        assert_eq!(errors.count, 101);
        assert_eq!(errors.sample.len(), ERROR_SAMPLE_LEN);
        assert_eq!(errors.by_kind.get("error_5001"), Some(&1));
    }
}
