//! The per-connection frame budget every socket transport goes through: one limiter for the
//! frames that change what the hub holds (`publish`, `presence`, `join`, `leave` on `/ws`;
//! `pusher:subscribe` on Pusher — `--publish-rate` per second, `--publish-burst` at once), and a
//! second budget for refusals. Each refused frame, whatever made it refused (this limit,
//! undecodable, over the size limit, a Pusher client event over its own limit), spends one of
//! `--max-refused-frames` per 10 s; a connection past that is closed with 4103 (Pusher: 4101).
//! A client that honours `retry_after_ms` never comes near it; a flood is cut off after a
//! bounded amount of work instead of costing an error frame per frame forever.

use std::num::NonZeroU32;
use std::sync::LazyLock;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use protocol::CloseCode;

use super::settings::SocketSettings;
use crate::hub::ConnHandle;

/// The window `--max-refused-frames` counts over.
const REFUSAL_WINDOW: Duration = Duration::from_secs(10);

/// The clock every per-connection limiter shares. Making a governor clock runs `cpuid` and
/// reads the TSC's calibration (measured at 14% of the server's CPU under a refused-frame
/// flood when it was made per refusal); one made once and cloned costs nothing.
static CLOCK: LazyLock<DefaultClock> = LazyLock::new(DefaultClock::default);

/// A limiter on the shared clock.
pub(crate) fn limiter(quota: Quota) -> DefaultDirectRateLimiter {
    RateLimiter::direct_with_clock(quota, CLOCK.clone())
}

/// What to do with a rate-limited frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Handle it.
    Go,
    /// Refuse it: tell the client to retry after this many milliseconds.
    Refused {
        /// When the budget allows the next frame.
        retry_after_ms: u64,
    },
    /// Refuse it and stop reading: the connection is being closed (4103 / Pusher 4101).
    CutOff,
}

/// One connection's budgets.
#[derive(Debug)]
pub struct Throttle {
    frames: DefaultDirectRateLimiter,
    refusals: DefaultDirectRateLimiter,
}

impl Throttle {
    /// Budgets from the socket settings.
    pub fn new(settings: &SocketSettings) -> Throttle {
        let rate = NonZeroU32::new(settings.publish_rate).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.publish_burst).unwrap_or(NonZeroU32::MIN);
        let refusals = NonZeroU32::new(settings.max_refused_frames).unwrap_or(NonZeroU32::MIN);
        let replenish = REFUSAL_WINDOW / refusals.get();
        let refusal_quota = Quota::with_period(replenish.max(Duration::from_micros(1)))
            .expect("a period above zero")
            .allow_burst(refusals);
        Throttle {
            frames: limiter(Quota::per_second(rate).allow_burst(burst)),
            refusals: limiter(refusal_quota),
        }
    }

    /// One frame that spends the frame budget.
    pub fn frame(&self, handle: &ConnHandle) -> Verdict {
        let Err(not_until) = self.frames.check() else {
            return Verdict::Go;
        };
        if self.refused(handle) {
            return Verdict::CutOff;
        }
        let wait = not_until.wait_time_from(self.frames.clock().now());
        Verdict::Refused {
            retry_after_ms: (wait.as_millis() as u64).max(1),
        }
    }

    /// Counts one refused frame; `true` when that was one too many and the connection is now
    /// being closed.
    pub fn refused(&self, handle: &ConnHandle) -> bool {
        if self.refusals.check().is_ok() {
            return false;
        }
        tracing::info!(conn = handle.id, user = %handle.identity.user, "too many refused frames; closing");
        metrics::counter!("classhub_connections_cut_off_total").increment(1);
        handle.close(CloseCode::RateLimited);
        true
    }
}
