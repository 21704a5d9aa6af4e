//! What the operator may set about billing ([`BillingArgs`]: Stripe's keys and API, the
//! webhook's tolerance, each paid plan's price, Checkout's redirects, the plans' entitlements)
//! and how it is checked into [`BillingSettings`], defaults included.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{BillingSettings, Plan};
use crate::config::{ConfigError, DurationArg, duration_or, http_url, layered};

layered! {
    /// The billing settings (see `crate::config` for how flags, environment and file combine).
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct BillingArgs {
        /// Stripe secret key `sk_…`; without it checkout, cancel and invoices answer 503.
        #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
        pub stripe_secret_key: Option<String>,
        /// Stripe API base URL [default: https://api.stripe.com].
        #[arg(long, env = "STRIPE_API_BASE")]
        pub stripe_api_base: Option<String>,
        /// Signing secret `whsec_…` of the Stripe webhook endpoint; without it the webhook
        /// answers 503.
        #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
        pub stripe_webhook_secret: Option<String>,
        /// Oldest accepted `Stripe-Signature` timestamp [default: 5m].
        #[arg(long, env = "CLASSHUB_STRIPE_WEBHOOK_TOLERANCE")]
        pub stripe_webhook_tolerance: Option<DurationArg>,
        /// `PLAN=price_…` of each paid plan; repeat, or comma-separate.
        #[arg(
            long = "stripe-price",
            env = "CLASSHUB_STRIPE_PRICES",
            value_delimiter = ','
        )]
        pub stripe_prices: Option<Vec<String>>,
        /// Where Checkout sends the payer afterwards
        /// [default: http://localhost:8009/?checkout=success].
        #[arg(long, env = "CLASSHUB_CHECKOUT_SUCCESS_URL")]
        pub checkout_success_url: Option<String>,
        /// Where Checkout sends a payer who backs out
        /// [default: http://localhost:8009/?checkout=cancel].
        #[arg(long, env = "CLASSHUB_CHECKOUT_CANCEL_URL")]
        pub checkout_cancel_url: Option<String>,
        /// `PLAN:SEATS:AI_TOKENS_PER_DAY`, repeat or comma-separate; the first plan is the one
        /// of tenants without a subscription
        /// [default: free:30:20000,classroom:40:200000,school:1000:2000000].
        #[arg(long = "plan", env = "CLASSHUB_PLANS", value_delimiter = ',')]
        pub plans: Option<Vec<String>>,
    }
}

impl BillingArgs {
    /// The billing settings, checked: http(s) URLs, well-formed plans, prices of known plans.
    pub fn resolve(self) -> Result<BillingSettings, ConfigError> {
        let non_empty = |value: Option<String>| value.filter(|text| !text.trim().is_empty());
        let plans_configured = self.plans.is_some();
        let plans = match self.plans {
            None => default_plans(),
            Some(entries) => {
                let plans = entries
                    .iter()
                    .map(|entry| plan(entry))
                    .collect::<Result<Vec<Plan>, ConfigError>>()?;
                if plans.is_empty() {
                    return Err(ConfigError::Invalid {
                        key: "plan",
                        reason: "name at least one plan (the first is the default)".into(),
                    });
                }
                plans
            }
        };
        let mut prices = BTreeMap::new();
        for entry in self.stripe_prices.unwrap_or_default() {
            let Some((plan, price)) = entry
                .split_once('=')
                .filter(|(plan, price)| !plan.is_empty() && !price.is_empty())
            else {
                return Err(ConfigError::Invalid {
                    key: "stripe-price",
                    reason: format!("{entry:?} is not PLAN=price_…"),
                });
            };
            if !plans.iter().any(|known| known.name == plan) {
                return Err(ConfigError::Invalid {
                    key: "stripe-price",
                    reason: format!("{plan:?} is not a plan; plans are set with --plan"),
                });
            }
            prices.insert(plan.to_owned(), price.to_owned());
        }
        Ok(BillingSettings {
            stripe_secret_key: non_empty(self.stripe_secret_key),
            stripe_api_base: http_url(
                "stripe-api-base",
                self.stripe_api_base,
                "https://api.stripe.com",
            )?,
            webhook_secret: non_empty(self.stripe_webhook_secret),
            webhook_tolerance: duration_or(self.stripe_webhook_tolerance, Duration::from_secs(300)),
            prices,
            success_url: http_url(
                "checkout-success-url",
                self.checkout_success_url,
                "http://localhost:8009/?checkout=success",
            )?,
            cancel_url: http_url(
                "checkout-cancel-url",
                self.checkout_cancel_url,
                "http://localhost:8009/?checkout=cancel",
            )?,
            plans_configured,
            plans,
        })
    }
}

impl Default for BillingSettings {
    fn default() -> Self {
        BillingArgs::default()
            .resolve()
            .expect("the built-in defaults are valid")
    }
}

/// The plans of a server that names none.
fn default_plans() -> Vec<Plan> {
    let plan = |name: &str, seats, ai_tokens_per_day| Plan {
        name: name.to_owned(),
        seats,
        ai_tokens_per_day,
    };
    vec![
        plan("free", 30, 20_000),
        plan("classroom", 40, 200_000),
        plan("school", 1000, 2_000_000),
    ]
}

/// One `PLAN:SEATS:AI_TOKENS_PER_DAY`.
fn plan(entry: &str) -> Result<Plan, ConfigError> {
    let parts: Vec<&str> = entry.split(':').collect();
    let parsed = match parts.as_slice() {
        [name, seats, tokens] if !name.is_empty() => seats
            .parse()
            .ok()
            .zip(tokens.parse().ok())
            .map(|(seats, ai_tokens_per_day)| Plan {
                name: (*name).to_owned(),
                seats,
                ai_tokens_per_day,
            }),
        _ => None,
    };
    parsed.ok_or_else(|| ConfigError::Invalid {
        key: "plan",
        reason: format!("{entry:?} is not PLAN:SEATS:AI_TOKENS_PER_DAY, e.g. school:500:1000000"),
    })
}
