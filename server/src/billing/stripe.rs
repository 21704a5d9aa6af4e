//! Stripe's HTTP API as classhub uses it: form-encoded requests with the secret key as a bearer
//! token (Checkout Session creation, cancelling at period end, listing invoices), and the
//! verification of `Stripe-Signature` on webhooks (`t=…,v1=…`, HMAC-SHA256 over `{t}.{payload}`
//! with the endpoint's signing secret, within a tolerance of the signing time).

use std::time::Duration;

use protocol::pusher::sign::verify_hex;
use serde::Deserialize;
use serde_json::Value;

/// Why a call to Stripe failed.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Stripe could not be reached or did not answer in time.
    #[error("cannot reach Stripe: {0}")]
    Unreachable(#[from] reqwest::Error),
    /// Stripe refused the request.
    #[error("Stripe answered {status}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Stripe's `error.message`.
        message: String,
    },
    /// Stripe's answer lacked a field classhub needs.
    #[error("Stripe's answer lacks {0}")]
    Unexpected(&'static str),
}

/// Why a webhook's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `t=` or no `v1=` in the header.
    #[error("the Stripe-Signature header has no t= timestamp or no v1= signature")]
    Malformed,
    /// The timestamp is outside the tolerance (a replay of an old delivery, or a wrong clock).
    #[error(
        "the Stripe-Signature timestamp is {age_secs}s away from now, more than the {tolerance_secs}s allowed"
    )]
    Stale {
        /// Distance from now.
        age_secs: u64,
        /// Allowed.
        tolerance_secs: u64,
    },
    /// No `v1` signature matches.
    #[error("no v1 signature in Stripe-Signature matches this payload and the webhook secret")]
    Mismatch,
}

/// Checks `header` (`t=…,v1=…[,v1=…]`) for `payload` signed with `secret`, `now` in Unix seconds.
pub fn verify_signature(
    header: &str,
    payload: &str,
    secret: &str,
    now: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp.filter(|_| !signatures.is_empty()) else {
        return Err(SignatureError::Malformed);
    };
    let age_secs = now.abs_diff(timestamp);
    if age_secs > tolerance.as_secs() {
        return Err(SignatureError::Stale {
            age_secs,
            tolerance_secs: tolerance.as_secs(),
        });
    }
    let signed = format!("{timestamp}.{payload}");
    if signatures
        .iter()
        .any(|signature| verify_hex(secret, &signed, signature))
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// A Stripe API client.
#[derive(Debug, Clone)]
pub struct Stripe {
    http: reqwest::Client,
    base: String,
    secret_key: String,
}

/// A created Checkout Session.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    /// `cs_…`.
    pub id: String,
    /// Where to send the payer.
    pub url: Option<String>,
}

impl Stripe {
    /// A client for `base` (e.g. `https://api.stripe.com`) with the secret key.
    pub fn new(base: &str, secret_key: &str) -> Stripe {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap_or_default();
        Stripe {
            http,
            base: base.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
        }
    }

    /// `POST /v1/checkout/sessions` in subscription mode for one price; the tenant and plan
    /// travel in `client_reference_id` and metadata (on the session and on the subscription)
    /// so that the webhooks can be tied back to the tenant.
    pub async fn create_checkout_session(
        &self,
        checkout: &Checkout<'_>,
    ) -> Result<CheckoutSession, StripeError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("mode", "subscription"),
            ("line_items[0][price]", checkout.price),
            ("line_items[0][quantity]", "1"),
            ("success_url", checkout.success_url),
            ("cancel_url", checkout.cancel_url),
            ("client_reference_id", checkout.tenant),
            ("metadata[tenant]", checkout.tenant),
            ("metadata[plan]", checkout.plan),
            ("subscription_data[metadata][tenant]", checkout.tenant),
            ("subscription_data[metadata][plan]", checkout.plan),
        ];
        if let Some(customer) = checkout.customer {
            form.push(("customer", customer));
        }
        let answer = self
            .send(
                self.http
                    .post(format!("{}/v1/checkout/sessions", self.base))
                    .header("Idempotency-Key", checkout.idempotency_key)
                    .form(&form),
            )
            .await?;
        serde_json::from_value(answer).map_err(|_| StripeError::Unexpected("the session id"))
    }

    /// `POST /v1/subscriptions/{id}` with `cancel_at_period_end=true`: the school keeps what it
    /// paid for until the period ends. Returns the subscription object.
    pub async fn cancel_at_period_end(&self, subscription: &str) -> Result<Value, StripeError> {
        self.send(
            self.http
                .post(format!("{}/v1/subscriptions/{subscription}", self.base))
                .form(&[("cancel_at_period_end", "true")]),
        )
        .await
    }

    /// `GET /v1/invoices?customer=…&limit=…`: the customer's newest invoices.
    pub async fn invoices(&self, customer: &str, limit: u32) -> Result<Vec<Value>, StripeError> {
        let limit = limit.to_string();
        let answer = self
            .send(
                self.http
                    .get(format!("{}/v1/invoices", self.base))
                    .query(&[("customer", customer), ("limit", limit.as_str())]),
            )
            .await?;
        match answer.get("data") {
            Some(Value::Array(items)) => Ok(items.clone()),
            _ => Err(StripeError::Unexpected("the invoice list's data")),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, StripeError> {
        let response = request.bearer_auth(&self.secret_key).send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(StripeError::Refused {
                status: status.as_u16(),
                message: body["error"]["message"]
                    .as_str()
                    .unwrap_or("no message")
                    .to_owned(),
            })
        }
    }
}

/// What a Checkout Session is made for.
#[derive(Debug, Clone)]
pub struct Checkout<'a> {
    /// The tenant paying.
    pub tenant: &'a str,
    /// The plan bought.
    pub plan: &'a str,
    /// Its Stripe price.
    pub price: &'a str,
    /// The tenant's Stripe customer, when it has one.
    pub customer: Option<&'a str>,
    /// Success redirect.
    pub success_url: &'a str,
    /// Cancel redirect.
    pub cancel_url: &'a str,
    /// Sent as `Idempotency-Key`, so a retried request makes one session.
    pub idempotency_key: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::pusher::sign::hmac_hex;

    const SECRET: &str = "whsec_test";
    const TOLERANCE: Duration = Duration::from_secs(300);

    fn header(t: i64, payload: &str, secret: &str) -> String {
        format!(
            "t={t},v1={},v0=ignored",
            hmac_hex(secret, &format!("{t}.{payload}"))
        )
    }

    #[test]
    fn signatures_are_checked_for_time_secret_and_payload() {
        let payload = r#"{"id":"evt_1"}"#;
        let now = 1_800_000_000;
        let check =
            |header: &str, payload: &str| verify_signature(header, payload, SECRET, now, TOLERANCE);
        assert_eq!(check(&header(now - 10, payload, SECRET), payload), Ok(()));
        assert_eq!(
            check(&header(now - 301, payload, SECRET), payload),
            Err(SignatureError::Stale {
                age_secs: 301,
                tolerance_secs: 300
            })
        );
        assert_eq!(
            check(&header(now, payload, "whsec_other"), payload),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(&header(now, payload, SECRET), r#"{"id":"evt_2"}"#),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(check("v1=abc", payload), Err(SignatureError::Malformed));
        assert_eq!(
            check(&format!("t={now}"), payload),
            Err(SignatureError::Malformed)
        );
        // A rotated secret: Stripe sends one v1 per active secret.
        let both = format!(
            "t={now},v1={},v1={}",
            hmac_hex("whsec_old", &format!("{now}.{payload}")),
            hmac_hex(SECRET, &format!("{now}.{payload}"))
        );
        assert_eq!(check(&both, payload), Ok(()));
    }
}
