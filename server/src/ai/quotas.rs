//! The plan's daily AI tokens per tenant, reserved before a model call and settled after: 402
//! when the subscription lapsed; otherwise [`reserve`] takes `--ai-reserve-tokens` (at most the
//! whole quota) from today's allowance in one conditional database write, or answers 429 with
//! the reset time when used + reserved tokens would pass the quota, so concurrent calls cannot
//! overspend. The [`Reservation`] is settled to the call's real usage when its `agent_tasks` row
//! is finished ([`super::tasks`]); a call that fails, is refused or is abandoned gives it all back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use persistence::Store;

use crate::api::{ApiError, Caller, ErrorKind};
use crate::app::AppState;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

/// Tokens taken from a tenant's daily allowance for one call under way.
#[derive(Debug)]
pub(crate) struct Reservation {
    store: Store,
    tenant: String,
    /// The UTC day (its first Unix second) the tokens were taken from.
    day: i64,
    amount: i64,
    settled: bool,
}

impl Reservation {
    /// Settles to the `used` tokens of the call (0: gives the reservation back).
    pub(crate) async fn settle(mut self, used: i64) {
        self.settled = true;
        if let Err(cause) = self
            .store
            .settle_ai_tokens(&self.tenant, self.day, self.amount, used)
            .await
        {
            tracing::error!(%cause, tenant = %self.tenant, "cannot settle an AI token reservation");
        }
    }
}

impl Drop for Reservation {
    /// A reservation dropped unsettled (the request was abandoned) is given back.
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, tenant, day, amount) = (
            self.store.clone(),
            std::mem::take(&mut self.tenant),
            self.day,
            self.amount,
        );
        runtime.spawn(async move {
            if let Err(cause) = store.settle_ai_tokens(&tenant, day, amount, 0).await {
                tracing::error!(%cause, %tenant, "cannot give back an AI token reservation");
            }
        });
    }
}

/// 402 when the subscription lapsed, 429 (with the reset time) when today's tokens cannot cover
/// another call's reservation; otherwise the reservation.
pub(crate) async fn reserve(app: &AppState, caller: &Caller) -> Result<Reservation, ApiError> {
    let row = app.store().subscription(caller.tenant()).await?;
    let granted = app.config().billing.entitlements(row.as_ref());
    if granted.lapsed {
        return Err(ApiError::new(
            ErrorKind::PaymentRequired,
            "your school's subscription has lapsed, so the AI tutor is off; an admin can renew it under billing",
        ));
    }
    let now = now_secs();
    let day = now - now.rem_euclid(86_400);
    let quota = i64::try_from(granted.ai_tokens_per_day).unwrap_or(i64::MAX);
    // A plan smaller than one reservation still allows one call at a time.
    let amount = i64::from(app.config().ai.reserve_tokens).min(quota);
    if quota > 0
        && app
            .store()
            .reserve_ai_tokens(caller.tenant(), day, amount, quota)
            .await?
    {
        return Ok(Reservation {
            store: app.store().clone(),
            tenant: caller.tenant().to_owned(),
            day,
            amount,
            settled: false,
        });
    }
    metrics::counter!("classhub_ai_quota_refusals_total").increment(1);
    let resets_in = (day + 86_400 - now).max(1) as u64;
    let (hours, minutes) = (resets_in / 3600, (resets_in % 3600).div_ceil(60));
    Err(ApiError::new(
        ErrorKind::RateLimited,
        format!(
            "your school has used (or has calls under way for) its {} AI tokens for today (plan {}); the allowance resets at 00:00 UTC, in {hours} h {minutes} min",
            granted.ai_tokens_per_day, granted.plan
        ),
    )
    .with_retry_after(Duration::from_secs(resets_in)))
}
