//! Where the harness's tokens come from: one `--token` used by every connection, or
//! `--jwt-secret` + `--tenant`, with which the harness mints an educator or student token per
//! simulated user: HS256 with the claims `classhub token` writes (`sub`, `role`, `tenant`,
//! `exp`, `iat`). Minting here keeps the `server` crate out of the harness; the integration
//! tests check that the server's verifier accepts these tokens. Entry type: [`Credentials`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// The default `--tenant`.
pub const DEFAULT_TENANT: &str = "loadtest";

/// The role a minted token claims: the two a scenario's simulated users play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Joins their class rooms; publishes chat.
    Student,
    /// Joins any class or game room of the tenant; publishes anything.
    Educator,
    /// Sets a scenario up over the REST API (users, classes, content).
    Admin,
}

impl Role {
    /// The `role` claim's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Educator => "educator",
            Role::Admin => "admin",
        }
    }
}

/// How connections authenticate.
#[derive(Clone)]
pub enum Credentials {
    /// One token for every connection; the tenant is what the hub's `welcome` says.
    Token(String),
    /// Mint a token per user with the hub's HS256 secret.
    Mint {
        /// The secret (`--jwt-secret`, or `CLASSHUB_JWT_SECRET`).
        secret: String,
        /// The tenant of every minted user.
        tenant: String,
        /// Lifetime of minted tokens (longer than the whole run).
        ttl: Duration,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Credentials::Token(..)"),
            Credentials::Mint { tenant, ttl, .. } => f
                .debug_struct("Credentials::Mint")
                .field("tenant", tenant)
                .field("ttl", ttl)
                .finish_non_exhaustive(),
        }
    }
}

impl Credentials {
    /// Minting credentials for `tenant`, valid for a day.
    pub fn mint(secret: impl Into<String>, tenant: impl Into<String>) -> Credentials {
        Credentials::Mint {
            secret: secret.into(),
            tenant: tenant.into(),
            ttl: Duration::from_secs(24 * 3600),
        }
    }

    /// The tenant, when known without asking the hub.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Credentials::Token(_) => None,
            Credentials::Mint { tenant, .. } => Some(tenant),
        }
    }

    /// A token for `user` with `role` (the fixed token, whatever is asked, in `Token` mode).
    pub fn token_for(&self, role: Role, user: &str) -> anyhow::Result<String> {
        match self {
            Credentials::Token(token) => Ok(token.clone()),
            Credentials::Mint {
                secret,
                tenant,
                ttl,
            } => mint(secret, tenant, role, user, *ttl)
                .with_context(|| format!("cannot mint a {} token", role.as_str())),
        }
    }
}

/// The claims of a minted token, as the server's `auth::Claims` reads them.
#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    role: &'static str,
    tenant: &'a str,
    /// Expiry, seconds since the Unix epoch.
    exp: u64,
    /// Issued at, seconds since the Unix epoch.
    iat: u64,
}

/// An HS256 token for `user` of `tenant` with `role`, valid for `ttl` from now.
fn mint(
    secret: &str,
    tenant: &str,
    role: Role,
    user: &str,
    ttl: Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let claims = Claims {
        sub: user,
        role: role.as_str(),
        tenant,
        exp: now + ttl.as_secs(),
        iat: now,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}
