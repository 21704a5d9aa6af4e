//! REST rate limits from `governor`: one keyed limiter per caller (tenant and user of the token)
//! and one per client IP. A refused request gets 429 with `Retry-After`. The per-IP limit is a
//! middleware on the platform routes only (Roblox game servers share IPs and have their own
//! budget); the per-token limit is checked by the [`Caller`](super::Caller) extractor. The
//! operator sets the rates and bursts with [`ApiLimitsArgs`], checked into [`ApiLimits`], and
//! the reverse proxies whose `X-Forwarded-For` names the client ([`super::client_ip`], the one
//! place every per-IP limit gets its address from). Which browser origins may call the REST API
//! and `/pusher/auth` cross-origin is set here too ([`cors`], off unless origins are listed).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use serde::Deserialize;

use super::client_ip::{ClientIp, parse_network};
use super::openapi::Answer;
use super::{ApiError, ErrorKind};
use crate::app::AppState;
use crate::config::{ConfigError, at_least_one, layered};

layered! {
    /// The REST limits' settings (see `crate::config` for how flags, environment and file
    /// combine).
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct ApiLimitsArgs {
        /// REST requests per second per token (user) [default: 20].
        #[arg(long, env = "CLASSHUB_API_RATE_PER_TOKEN")]
        pub api_rate_per_token: Option<u32>,
        /// REST burst per token [default: 60].
        #[arg(long, env = "CLASSHUB_API_BURST_PER_TOKEN")]
        pub api_burst_per_token: Option<u32>,
        /// REST requests per second per client IP (platform routes) [default: 50].
        #[arg(long, env = "CLASSHUB_API_RATE_PER_IP")]
        pub api_rate_per_ip: Option<u32>,
        /// REST burst per client IP [default: 150].
        #[arg(long, env = "CLASSHUB_API_BURST_PER_IP")]
        pub api_burst_per_ip: Option<u32>,
        /// Lesson progress a student may record from the web (`POST /api/v1/progress`) per
        /// minute; more: 429 [default: 60].
        #[arg(long, env = "CLASSHUB_PROGRESS_PER_MINUTE")]
        pub progress_per_minute: Option<u32>,
        /// Reverse proxies (CIDRs or addresses, comma-separated) whose `X-Forwarded-For` names
        /// the client for every per-IP limit; the header of any other peer is ignored, and
        /// without any the TCP peer is the client.
        #[arg(long, env = "CLASSHUB_TRUSTED_PROXIES", value_delimiter = ',')]
        pub trusted_proxies: Option<Vec<String>>,
        /// Web origins (`https://school.example`, exact, comma-separated) whose pages may call
        /// the REST API and `/pusher/auth` from the browser (CORS); none: cross-origin calls are
        /// not allowed.
        #[arg(long, env = "CLASSHUB_CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
        pub cors_allowed_origins: Option<Vec<String>>,
    }
}

/// REST (`/api/v1`) rate limits: sustained requests per second and burst, per token (per user)
/// and per client IP, and who may say which IP a client has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiLimits {
    /// Requests per second per token.
    pub per_token_rate: u32,
    /// Burst per token.
    pub per_token_burst: u32,
    /// Requests per second per client IP.
    pub per_ip_rate: u32,
    /// Burst per client IP.
    pub per_ip_burst: u32,
    /// Web progress records per student per minute.
    pub progress_per_minute: u32,
    /// Networks of the reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Origins allowed cross-origin (CORS), each `scheme://host[:port]`; empty: CORS is off.
    pub cors_allowed_origins: Vec<String>,
}

/// What the [`per_ip`] layer answers on the routes behind it.
pub const PER_IP_ANSWERS: &[Answer] = &[Answer {
    status: 429,
    when: "too many requests from this token or address; wait for `Retry-After`",
}];

/// The two keyed limiters.
pub struct Limiters {
    per_token: DefaultKeyedRateLimiter<(String, String)>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    progress: DefaultKeyedRateLimiter<(String, String)>,
}

impl std::fmt::Debug for Limiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limiters")
    }
}

impl ApiLimitsArgs {
    /// The limits, checked: every rate and burst at least 1, every trusted proxy a CIDR or an
    /// address, every CORS origin an origin.
    pub fn resolve(self) -> Result<ApiLimits, ConfigError> {
        let mut cors_allowed_origins = Vec::new();
        for entry in self.cors_allowed_origins.unwrap_or_default() {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            cors_allowed_origins.push(origin(entry).ok_or_else(|| ConfigError::Invalid {
                key: "cors-allowed-origins",
                reason: format!(
                    "{entry:?} is not a web origin; write scheme://host[:port] with no path, e.g. https://school.example or http://localhost:3000"
                ),
            })?);
        }
        let mut trusted_proxies = Vec::new();
        for entry in self.trusted_proxies.unwrap_or_default() {
            if entry.trim().is_empty() {
                continue;
            }
            let network = parse_network(&entry).ok_or_else(|| ConfigError::Invalid {
                key: "trusted-proxies",
                reason: format!(
                    "{entry:?} is not a network or an address; write CIDRs such as 10.0.0.0/8 or fd00::/8, or single addresses, comma-separated"
                ),
            })?;
            trusted_proxies.push(network);
        }
        Ok(ApiLimits {
            per_token_rate: at_least_one("api-rate-per-token", self.api_rate_per_token, 20)?,
            per_token_burst: at_least_one("api-burst-per-token", self.api_burst_per_token, 60)?,
            per_ip_rate: at_least_one("api-rate-per-ip", self.api_rate_per_ip, 50)?,
            per_ip_burst: at_least_one("api-burst-per-ip", self.api_burst_per_ip, 150)?,
            progress_per_minute: at_least_one("progress-per-minute", self.progress_per_minute, 60)?,
            trusted_proxies,
            cors_allowed_origins,
        })
    }
}

/// `entry` as a browser sends it in `Origin` (`scheme://host[:port]`, lower-case, default port
/// left out), or `None` when it is not exactly an http(s) origin.
fn origin(entry: &str) -> Option<String> {
    let url = url::Url::parse(entry).ok()?;
    let serialized = url.origin().ascii_serialization();
    let exact = matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.path() == "/"
        && entry
            .trim_end_matches('/')
            .eq_ignore_ascii_case(&serialized);
    exact.then_some(serialized)
}

/// The CORS layer of the REST API and `/pusher/auth` (`tower-http`), or `None` when no origin is
/// allowed. It answers preflights from the listed origins with the methods and headers the API
/// uses (`Authorization`, `Content-Type`, the Pusher auth form) and lets pages read
/// `Retry-After`; other origins get no CORS headers, so browsers refuse them.
pub fn cors(limits: &ApiLimits) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};

    let origins: Vec<HeaderValue> = limits
        .cors_allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static("x-requested-with"),
            ])
            .expose_headers([header::RETRY_AFTER])
            .max_age(Duration::from_secs(3600)),
    )
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimitsArgs::default()
            .resolve()
            .expect("the built-in defaults are valid")
    }
}

fn quota(rate: u32, burst: u32) -> Quota {
    Quota::per_second(NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

impl Limiters {
    /// Limiters for `limits`.
    pub fn new(limits: &ApiLimits) -> Limiters {
        Limiters {
            per_token: RateLimiter::keyed(quota(limits.per_token_rate, limits.per_token_burst)),
            per_ip: RateLimiter::keyed(quota(limits.per_ip_rate, limits.per_ip_burst)),
            progress: RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(limits.progress_per_minute).unwrap_or(NonZeroU32::MIN),
            )),
        }
    }

    /// Takes one web progress record from a student's budget, or says when to retry.
    pub fn check_progress(&self, tenant: &str, user: &str) -> Result<(), ApiError> {
        self.progress
            .check_key(&(tenant.to_owned(), user.to_owned()))
            .map_err(|not_until| {
                too_many(
                    "progress records of this student",
                    not_until.wait_time_from(self.progress.clock().now()),
                )
            })
    }

    /// Takes one request from a caller's budget, or says when to retry.
    pub fn check_caller(&self, tenant: &str, user: &str) -> Result<(), ApiError> {
        self.per_token
            .check_key(&(tenant.to_owned(), user.to_owned()))
            .map_err(|not_until| {
                too_many(
                    "this token",
                    not_until.wait_time_from(self.per_token.clock().now()),
                )
            })
    }

    /// Takes one request from a client IP's budget, or says when to retry.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.per_ip.check_key(&ip).map_err(|not_until| {
            too_many(
                "this address",
                not_until.wait_time_from(self.per_ip.clock().now()),
            )
        })
    }

    /// Forgets keys whose budget is full again (bounded memory).
    fn retain_recent(&self) {
        self.per_token.retain_recent();
        self.per_ip.retain_recent();
        self.progress.retain_recent();
    }
}

fn too_many(who: &str, wait: Duration) -> ApiError {
    metrics::counter!("classhub_api_rate_limited_total").increment(1);
    ApiError::new(
        ErrorKind::RateLimited,
        format!("too many requests from {who}; retry after the Retry-After delay"),
    )
    .with_retry_after(wait)
}

/// Middleware: the per-IP limit, keyed by [`ClientIp`].
pub async fn per_ip(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    request: Request,
    next: Next,
) -> Response {
    match app.api_limiters().check_ip(client) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Forgets idle keys once a minute until shutdown.
pub async fn upkeep(app: AppState) {
    let mut ticker = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = app.shutdown().cancelled() => return,
            _ = ticker.tick() => app.api_limiters().retain_recent(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_must_be_exact_origins() {
        assert_eq!(
            origin("https://School.example/").as_deref(),
            Some("https://school.example")
        );
        assert_eq!(
            origin("http://localhost:3000").as_deref(),
            Some("http://localhost:3000")
        );
        for bad in [
            "https://school.example/app",
            "school.example",
            "*",
            "ftp://x.example",
        ] {
            assert_eq!(origin(bad), None, "{bad}");
        }
        let refused = ApiLimitsArgs {
            cors_allowed_origins: Some(vec!["https://school.example/app".to_owned()]),
            ..ApiLimitsArgs::default()
        }
        .resolve()
        .expect_err("a path is refused");
        assert!(
            refused.to_string().contains("cors-allowed-origins"),
            "{refused}"
        );
        let refused = ApiLimitsArgs {
            trusted_proxies: Some(vec!["10.0.0.0/40".to_owned()]),
            ..ApiLimitsArgs::default()
        }
        .resolve()
        .expect_err("a bad CIDR is refused");
        assert!(refused.to_string().contains("trusted-proxies"), "{refused}");
    }
}
