//! Where the harness's tokens come from: one `--token` used by every connection, or
//! `--jwt-secret` + `--tenant`, with which the harness mints an educator or student token per
//! simulated user through the server's own `auth::mint` (so it signs exactly as `classhub
//! token` does). Entry type: [`Credentials`].

use std::time::Duration;

use anyhow::Context;
use server::auth::{self, Identity, Role};

/// The default `--tenant`.
pub const DEFAULT_TENANT: &str = "loadtest";

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
            } => {
                let identity = Identity {
                    user: user.to_owned(),
                    tenant: tenant.clone(),
                    role,
                    name: None,
                    children: vec![],
                };
                auth::mint(secret, &auth::claims_for(&identity, *ttl))
                    .with_context(|| format!("cannot mint a {} token", role.as_str()))
            }
        }
    }
}
