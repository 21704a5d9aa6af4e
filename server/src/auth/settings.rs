//! What the operator may set about people's tokens ([`AuthArgs`]: the identity provider's JWKS,
//! the required issuer and audience, where the role and tenant claims are, clock skew, JWKS
//! refreshes) and how it is checked into [`AuthSettings`], defaults included. The HS256
//! development secret is a server setting (`--jwt-secret`, in `crate::config`).

use std::time::Duration;

use serde::Deserialize;

use super::AuthSettings;
use crate::config::{ConfigError, DurationArg, at_least_one, duration_or, layered};

layered! {
    /// The token settings (see `crate::config` for how flags, environment and file combine).
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct AuthArgs {
        /// Identity provider's JWKS (e.g.
        /// https://YOUR-APP.clerk.accounts.dev/.well-known/jwks.json); when set, only tokens
        /// signed by its keys are accepted; without it, HS256 tokens signed with the server's
        /// development secret.
        #[arg(long, env = "CLASSHUB_JWKS_URL")]
        pub jwks_url: Option<String>,
        /// Required `iss` claim (with --jwks-url, e.g. https://YOUR-APP.clerk.accounts.dev);
        /// without it `iss` is not checked.
        #[arg(long, env = "CLASSHUB_JWT_ISSUER")]
        pub jwt_issuer: Option<String>,
        /// Accepted `aud` values, comma-separated; without it `aud` is not checked.
        #[arg(long, env = "CLASSHUB_JWT_AUDIENCE", value_delimiter = ',')]
        pub jwt_audience: Option<Vec<String>>,
        /// Dot path of the role claim (`public_metadata.role`, `org_role`) [default: role].
        #[arg(long, env = "CLASSHUB_JWT_ROLE_CLAIM")]
        pub jwt_role_claim: Option<String>,
        /// Dot path of the tenant claim (`org_id`) [default: tenant].
        #[arg(long, env = "CLASSHUB_JWT_TENANT_CLAIM")]
        pub jwt_tenant_claim: Option<String>,
        /// Clock skew allowed on `exp`/`nbf` [default: 30s].
        #[arg(long, env = "CLASSHUB_JWT_LEEWAY")]
        pub jwt_leeway: Option<DurationArg>,
        /// Shortest time between two JWKS fetches (an unknown `kid` triggers one)
        /// [default: 30s].
        #[arg(long, env = "CLASSHUB_JWKS_REFRESH_INTERVAL")]
        pub jwks_refresh_interval: Option<DurationArg>,
        /// Users seen for the first time that are written to the directory together, in one
        /// transaction (concurrent first sign-ins queue behind the batch being written, at most
        /// eight batches' worth) [default: 500].
        #[arg(long, env = "CLASSHUB_FIRST_SIGHT_BATCH")]
        pub first_sight_batch: Option<u32>,
    }
}

impl AuthArgs {
    /// The token settings, checked: the JWKS URL must be http(s), claim paths non-empty.
    pub fn resolve(self) -> Result<AuthSettings, ConfigError> {
        let jwks_url = match self.jwks_url {
            Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                return Err(ConfigError::Invalid {
                    key: "jwks-url",
                    reason: format!("{url:?} must be an http(s) URL"),
                });
            }
            other => other,
        };
        let refresh = duration_or(self.jwks_refresh_interval, Duration::from_secs(30));
        Ok(AuthSettings {
            jwks_url,
            issuer: self.jwt_issuer.filter(|issuer| !issuer.is_empty()),
            audience: self
                .jwt_audience
                .unwrap_or_default()
                .into_iter()
                .map(|audience| audience.trim().to_owned())
                .filter(|audience| !audience.is_empty())
                .collect(),
            role_claim: claim_path("jwt-role-claim", self.jwt_role_claim, "role")?,
            tenant_claim: claim_path("jwt-tenant-claim", self.jwt_tenant_claim, "tenant")?,
            leeway: duration_or(self.jwt_leeway, Duration::from_secs(30)),
            jwks_refresh_interval: refresh,
            // Not a setting: keys are fetched again at least hourly, and never more often than
            // the refresh interval allows.
            jwks_max_age: Duration::from_secs(3600).max(refresh),
            first_sight_batch: at_least_one("first-sight-batch", self.first_sight_batch, 500)?
                as usize,
        })
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthArgs::default()
            .resolve()
            .expect("the built-in defaults are valid")
    }
}

/// A claim's dot path (else `default`), refused when empty or with an empty segment.
fn claim_path(
    key: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    match value {
        Some(path)
            if path.is_empty() || path.split('.').any(|segment| segment.trim().is_empty()) =>
        {
            Err(ConfigError::Invalid {
                key,
                reason: format!("{path:?} is not a dot path such as public_metadata.role"),
            })
        }
        Some(path) => Ok(path),
        None => Ok(default.to_owned()),
    }
}
