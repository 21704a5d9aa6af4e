//! The scenarios, one module each, each a library function `run(Config) -> Report` that the
//! binary and the tests call: [`fanout`] (rooms × members, publishers at a set rate, delivery
//! latency), [`connections`] (idle sockets held, connect rate, server memory per socket),
//! [`ingest`] (durable publishes, acknowledgements per second, publish→ack latency),
//! [`classroom`] (game servers on the Roblox HTTP path, game event → teacher latency),
//! [`abuse`] (a normal class measured alone, then while hostile clients flood the server) and
//! [`search`] (lessons seeded over REST, then content searches in a closed loop; latency per
//! kind of search).
//!
//! What they share lives here: [`Common`] (target, credentials, warm-up, duration, progress),
//! the bounds every count is checked against, opening many connections with a bounded number
//! in flight ([`open_many`]), and waiting out the warm-up and the measured window while the
//! progress bar ticks ([`wait_window`]). Every run stops by itself: setup steps have time-outs,
//! load stops at the window's end, and closing is bounded.

pub mod abuse;
pub mod classroom;
pub mod connections;
pub mod fanout;
pub mod ingest;
pub mod search;

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, anyhow, ensure};
use futures_util::StreamExt;
use protocol::Codec;

use crate::client;
use crate::credentials::{Credentials, Role};
use crate::progress::Progress;
use crate::pusher::PusherApp;
use crate::stats::Window;
use crate::target::Target;

/// Most connections one run may open.
pub const MAX_CONNECTIONS: u64 = 200_000;
/// Longest measured window.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Longest warm-up.
pub const MAX_WARMUP: Duration = Duration::from_secs(600);
/// Highest publish rate, events per second over all publishers.
pub const MAX_RATE: f64 = 1_000_000.0;
/// Largest padding added to a payload, bytes (the hub's default frame limit is 64 KiB).
pub const MAX_PAYLOAD_BYTES: usize = 60_000;
/// Most connection attempts in flight during setup.
pub const MAX_CONCURRENCY: usize = 4096;

/// Settings every scenario takes.
#[derive(Debug, Clone)]
pub struct Common {
    /// The hub.
    pub target: Target,
    /// How connections authenticate.
    pub credentials: Credentials,
    /// Load on, nothing counted.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// Draw a progress bar on stderr.
    pub show_progress: bool,
    /// The Pusher app (`--app-id/--app-key/--app-secret`); when `None`, `--protocol pusher`
    /// derives the minting tenant's classhub app from the JWT secret.
    pub pusher_app: Option<PusherApp>,
}

impl Common {
    /// A 2 s warm-up and a 10 s window without a progress bar.
    pub fn new(target: Target, credentials: Credentials) -> Common {
        Common {
            target,
            credentials,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
            show_progress: false,
            pusher_app: None,
        }
    }

    /// The Pusher app to speak to: the one given, or the classhub app of the minting tenant
    /// (derived from the JWT secret as the server derives it).
    pub fn pusher_app(&self) -> anyhow::Result<PusherApp> {
        if let Some(app) = &self.pusher_app {
            return Ok(app.clone());
        }
        match &self.credentials {
            Credentials::Mint { secret, tenant, .. } => Ok(PusherApp::derived(secret, tenant)),
            Credentials::Token(_) => Err(anyhow!(
                "--protocol pusher needs the app: give --app-id, --app-key and --app-secret, or \
                 --jwt-secret (and --tenant) so classhub's app for the tenant can be derived"
            )),
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            !self.duration.is_zero() && self.duration <= MAX_DURATION,
            "--duration must be more than 0 and at most {} s",
            MAX_DURATION.as_secs()
        );
        ensure!(
            self.warmup <= MAX_WARMUP,
            "--warmup must be at most {} s",
            MAX_WARMUP.as_secs()
        );
        Ok(())
    }
}

/// Checks `value` is in `1..=max`, naming the flag when not.
fn check_count(flag: &str, value: u64, max: u64) -> anyhow::Result<()> {
    ensure!(
        (1..=max).contains(&value),
        "--{flag} must be between 1 and {max} (got {value})"
    );
    Ok(())
}

/// A short random prefix for this run's room and event ids, so runs never share a room's
/// history or an event id.
fn run_id() -> String {
    format!("lt{:08x}", rand::random::<u32>())
}

/// The tenant rooms must be in: the minting tenant, or what the hub says about the given token.
async fn resolve_tenant(common: &Common, codec: Codec) -> anyhow::Result<String> {
    if let Some(tenant) = common.credentials.tenant() {
        return Ok(tenant.to_owned());
    }
    let token = common.credentials.token_for(Role::Educator, "probe")?;
    let mut connection = client::connect(&common.target, codec, &token, None)
        .await
        .context("probing the hub for the token's tenant")?;
    let welcome = connection.welcome().await?;
    connection.close().await;
    Ok(welcome.tenant)
}

/// The server's pid for `/proc` readings: the one given, or the process listening on the
/// target's port when the target is on this machine (`None` when it is not found). Notes when
/// that process is this one (an in-process hub in tests).
fn server_pid(
    common: &Common,
    given: Option<u32>,
    notes: &mut Vec<String>,
) -> anyhow::Result<Option<u32>> {
    let pid = match given {
        Some(pid) => Some(pid),
        None if common.target.is_loopback() => {
            crate::system::find_listener_pid(common.target.addr().port())?
        }
        None => None,
    };
    if pid == Some(std::process::id()) {
        notes.push(
            "the hub runs inside the load generator's process, so its readings (memory, CPU) \
             include the harness's own"
                .to_owned(),
        );
    }
    Ok(pid)
}

/// Padding of `bytes` characters for payloads.
fn padding(bytes: usize) -> String {
    "x".repeat(bytes)
}

/// Runs `open(index)` for `0..count` with at most `concurrency` in flight, ticking `progress`,
/// and returns every outcome (in completion order).
async fn open_many<T, F, Fut>(
    count: u64,
    concurrency: usize,
    progress: &Progress,
    open: F,
) -> Vec<anyhow::Result<T>>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut outcomes = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut opening = futures_util::stream::iter(0..count)
        .map(open)
        .buffer_unordered(concurrency.clamp(1, MAX_CONCURRENCY));
    while let Some(outcome) = opening.next().await {
        progress.inc();
        outcomes.push(outcome);
    }
    outcomes
}

/// Waits out the warm-up, then the measured window, ticking the bar every 250 ms with
/// `status()`; calls `at_measure_start` once when the warm-up ends.
async fn wait_window(
    window: &Window,
    progress: &Progress,
    status: impl Fn() -> String,
    mut at_measure_start: impl FnMut(),
) {
    const TICK: Duration = Duration::from_millis(250);
    if window.start > window.load_start {
        progress.timed_phase("warm-up", window.start - window.load_start);
        while tokio::time::Instant::now() < window.start {
            tokio::time::sleep_until(window.start.min(tokio::time::Instant::now() + TICK)).await;
            progress.tick(window.load_start.elapsed(), status());
        }
    }
    at_measure_start();
    progress.timed_phase("measuring", window.duration());
    while tokio::time::Instant::now() < window.end {
        tokio::time::sleep_until(window.end.min(tokio::time::Instant::now() + TICK)).await;
        progress.tick(window.start.elapsed(), status());
    }
    progress.finish();
}

/// The error for a run in which no `what` could be opened, quoting the first failure.
fn nothing_opened(what: &str, first_failure: Option<&String>) -> anyhow::Error {
    match first_failure {
        Some(failure) => anyhow!("no {what} could be opened; the first failure: {failure}"),
        None => anyhow!("no {what} could be opened"),
    }
}

/// Rate over the window, per second.
fn per_sec(count: u64, window: Duration) -> f64 {
    let secs = window.as_secs_f64();
    if secs > 0.0 {
        (count as f64 / secs * 10.0).round() / 10.0
    } else {
        0.0
    }
}

/// Seconds with millisecond precision, for reports.
fn secs(duration: Duration) -> f64 {
    round_ms(duration.as_secs_f64())
}

/// Seconds rounded to the millisecond.
fn round_ms(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}
