//! The plan's daily AI tokens per tenant: checked before a model call (402 when the
//! subscription lapsed, 429 with the reset time when today's tokens are used up); the tokens a
//! call used are charged when its `agent_tasks` row is finished ([`super::tasks`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::api::{ApiError, Caller, ErrorKind};
use crate::app::AppState;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

/// 402 when the subscription lapsed, 429 (with the reset time) when today's tokens are used up.
pub(crate) async fn check_allowance(app: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let row = app.store().subscription(caller.tenant()).await?;
    let granted = app.config().billing.entitlements(row.as_ref());
    if granted.lapsed {
        return Err(ApiError::new(
            ErrorKind::PaymentRequired,
            "your school's subscription has lapsed, so the AI tutor is off; an admin can renew it under billing",
        ));
    }
    let now = now_secs();
    let day_start = now - now.rem_euclid(86_400);
    let used = app
        .store()
        .tokens_used_since(caller.tenant(), day_start)
        .await?;
    if used >= i64::try_from(granted.ai_tokens_per_day).unwrap_or(i64::MAX) {
        let resets_in = (day_start + 86_400 - now).max(1) as u64;
        let (hours, minutes) = (resets_in / 3600, (resets_in % 3600).div_ceil(60));
        return Err(ApiError::new(
            ErrorKind::RateLimited,
            format!(
                "your school has used its {} AI tokens for today (plan {}); the allowance resets at 00:00 UTC, in {hours} h {minutes} min",
                granted.ai_tokens_per_day, granted.plan
            ),
        )
        .with_retry_after(Duration::from_secs(resets_in)));
    }
    Ok(())
}
