//! Authentication of people: one [`Verifier`] for sockets and REST. Production verifies RS256 /
//! ES256 JWTs against a JWKS URL (Clerk-compatible; keys cached and refreshed when an unknown
//! `kid` arrives, at most once per `jwks-refresh-interval`; the algorithm is pinned to the key's,
//! never taken from the token). Development verifies HS256 tokens signed with a local secret
//! (`CLASSHUB_JWT_SECRET`, or generated on first run into `{data_dir}/jwt-secret`, so
//! `classhub token` and `classhub serve` agree without setup).
//!
//! Claims: `sub`, `exp`, the role and the tenant under configurable dot paths (`role` and
//! `tenant` by default; `public_metadata.role` and `org_id` for Clerk), an optional `name`, and
//! for parents an optional `children` list (parent links also live in the database).
//! `iss` and `aud` are checked when configured. The verifier knows nothing of the database:
//! `AppState::authenticate` adds the user directory on top. What the operator may set about
//! tokens ([`AuthArgs`]) is declared and checked into [`AuthSettings`] in `settings.rs`.

mod bearer;
pub mod directory;
mod jwks;
mod settings;

pub use bearer::bearer_token;
pub use settings::AuthArgs;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use protocol::{ErrorCode, RoomId, RoomKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a person may do, from the token's `role` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Joins their class rooms and own user room; publishes chat.
    Student,
    /// Joins any class or game room of the tenant; publishes anything.
    Educator,
    /// Joins their children's user rooms.
    Parent,
    /// Everything an educator may, plus any user room of the tenant.
    Admin,
    /// A Pusher socket: public channels only, and whatever channels its app's signatures allow.
    Guest,
}

impl Role {
    /// The claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Educator => "educator",
            Role::Parent => "parent",
            Role::Admin => "admin",
            Role::Guest => "guest",
        }
    }

    /// The role a token's claim names: `student`, `educator` (or `teacher`), `parent`, `admin`,
    /// case-insensitive, with Clerk's `org:` prefix allowed (`org:admin`). Never `guest`.
    pub fn from_claim(text: &str) -> Option<Role> {
        let lower = text.trim().to_ascii_lowercase();
        match lower.strip_prefix("org:").unwrap_or(&lower) {
            "student" => Some(Role::Student),
            "educator" | "teacher" => Some(Role::Educator),
            "parent" => Some(Role::Parent),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// An authenticated person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user id (`sub`).
    pub user: String,
    /// The tenant (school or district).
    pub tenant: String,
    /// The role.
    pub role: Role,
    /// Display name, if the token carried one.
    pub name: Option<String>,
    /// For parents: the user ids of their children.
    pub children: Vec<String>,
    /// When the token that proved this identity expires (seconds since the Unix epoch); open
    /// connections end (or must re-authenticate) by then. `None` for identities classhub made
    /// itself (game servers, tests).
    pub expires_at: Option<u64>,
}

/// The JWT claims classhub reads and `classhub token` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Role.
    pub role: Role,
    /// Tenant.
    pub tenant: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued at, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// For parents: their children's user ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Past its `exp`.
    #[error("the token has expired; get a new token")]
    Expired,
    /// Not a JWT, not signed with a key the server trusts, or with the wrong algorithm.
    #[error("the token is not valid ({0}); get a new token")]
    Invalid(String),
    /// Signed correctly, but a claim is missing or unusable (issuer, audience, role, tenant).
    #[error("the token's claims are unusable: {0}")]
    BadClaims(String),
    /// The signing keys could not be fetched from the JWKS URL; retry shortly.
    #[error("the server cannot fetch its signing keys right now; retry shortly")]
    KeysUnavailable,
}

impl AuthError {
    /// The wire error code.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            AuthError::Expired => ErrorCode::TokenExpired,
            AuthError::Invalid(_) | AuthError::BadClaims(_) => ErrorCode::InvalidToken,
            AuthError::KeysUnavailable => ErrorCode::Unavailable,
        }
    }
}

/// How tokens are checked, from the configuration (declared and checked in `settings.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// JWKS URL; when set, only RS/ES/PS/EdDSA tokens signed by its keys are accepted.
    pub jwks_url: Option<String>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Accepted `aud` values (any one must match), when set.
    pub audience: Vec<String>,
    /// Dot path of the role claim.
    pub role_claim: String,
    /// Dot path of the tenant claim.
    pub tenant_claim: String,
    /// Clock-skew allowance on `exp` and `nbf`.
    pub leeway: Duration,
    /// Shortest time between two JWKS fetches (an unknown `kid` triggers one).
    pub jwks_refresh_interval: Duration,
    /// Keys older than this are fetched again on the next token.
    pub jwks_max_age: Duration,
    /// First sightings of users written in one transaction (`auth/directory.rs`).
    pub first_sight_batch: usize,
}

/// Verifies tokens. Built once at start-up; shared by every transport and the REST API.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Keys,
    settings: AuthSettings,
}

enum Keys {
    /// Development: one shared secret.
    Hs256(DecodingKey),
    /// Production: the JWKS key cache.
    Jwks(jwks::KeyCache),
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner.keys {
            Keys::Hs256(_) => f.write_str("Verifier(HS256)"),
            Keys::Jwks(cache) => write!(f, "Verifier(JWKS {})", cache.url()),
        }
    }
}

impl Verifier {
    /// A development verifier for HS256 tokens signed with `secret`, default claim names.
    pub fn hs256(secret: &str) -> Verifier {
        Verifier::new(secret, AuthSettings::default())
    }

    /// A verifier for `settings`: JWKS when `jwks_url` is set, otherwise HS256 with `secret`.
    pub fn new(secret: &str, settings: AuthSettings) -> Verifier {
        let keys = match &settings.jwks_url {
            Some(url) => Keys::Jwks(jwks::KeyCache::new(
                url.clone(),
                settings.jwks_refresh_interval,
                settings.jwks_max_age,
            )),
            None => Keys::Hs256(DecodingKey::from_secret(secret.as_bytes())),
        };
        Verifier {
            inner: Arc::new(Inner { keys, settings }),
        }
    }

    /// Whether tokens come from a JWKS (production) rather than the development secret.
    pub fn is_jwks(&self) -> bool {
        matches!(self.inner.keys, Keys::Jwks(_))
    }

    /// Fetches the JWKS now (at start-up), so the first token does not wait for it. A failure is
    /// logged; the next token retries.
    pub async fn prefetch(&self) {
        if let Keys::Jwks(cache) = &self.inner.keys
            && let Err(cause) = cache.refresh().await
        {
            tracing::warn!(%cause, url = cache.url(), "cannot fetch the JWKS yet; tokens will retry");
        }
    }

    /// Checks `token` and returns who it names.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let token = token.trim();
        let header = jsonwebtoken::decode_header(token)
            .map_err(|err| AuthError::Invalid(format!("unreadable header: {err}")))?;
        let (key, algorithm) = match &self.inner.keys {
            Keys::Hs256(key) => (key.clone(), Algorithm::HS256),
            Keys::Jwks(cache) => cache.key_for(header.kid.as_deref()).await?,
        };
        if header.alg != algorithm {
            return Err(AuthError::Invalid(format!(
                "the token says {:?} but its key is for {algorithm:?}",
                header.alg
            )));
        }
        let settings = &self.inner.settings;
        let mut validation = Validation::new(algorithm);
        validation.leeway = settings.leeway.as_secs();
        // A token whose `nbf` is still ahead (beyond the leeway) is not valid yet.
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        if settings.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&settings.audience);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        let data =
            jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|err| {
                match err.kind() {
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    ErrorKind::InvalidIssuer => AuthError::BadClaims("wrong issuer (iss)".into()),
                    ErrorKind::InvalidAudience => {
                        AuthError::BadClaims("wrong audience (aud)".into())
                    }
                    ErrorKind::ImmatureSignature => {
                        AuthError::BadClaims("not valid yet (nbf)".into())
                    }
                    ErrorKind::Json(cause) => AuthError::BadClaims(cause.to_string()),
                    ErrorKind::MissingRequiredClaim(claim) => {
                        AuthError::BadClaims(format!("missing claim {claim}"))
                    }
                    _ => AuthError::Invalid(err.to_string()),
                }
            })?;
        identity_from(&data.claims, settings)
    }
}

/// Reads the identity out of verified claims.
fn identity_from(claims: &Value, settings: &AuthSettings) -> Result<Identity, AuthError> {
    let text = |path: &str| {
        claim_at(claims, path)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    let user = text("sub").ok_or_else(|| AuthError::BadClaims("missing claim sub".into()))?;
    let tenant = text(&settings.tenant_claim).ok_or_else(|| {
        AuthError::BadClaims(format!("missing tenant claim {}", settings.tenant_claim))
    })?;
    let role_text = text(&settings.role_claim).ok_or_else(|| {
        AuthError::BadClaims(format!("missing role claim {}", settings.role_claim))
    })?;
    let role = Role::from_claim(&role_text).ok_or_else(|| {
        AuthError::BadClaims(format!(
            "role {role_text:?} in {} is not student, educator, parent or admin",
            settings.role_claim
        ))
    })?;
    // Tenant and user ids become room-id segments, so they must be valid segments.
    RoomId::new(RoomKind::User, &tenant, &user, usize::MAX).map_err(|_| {
        AuthError::BadClaims("tenant and sub must use only letters, digits, '-', '_' or '.'".into())
    })?;
    let children = claims
        .get("children")
        .and_then(Value::as_array)
        .map(|children| {
            children
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Identity {
        user,
        tenant,
        role,
        name: text("name"),
        children,
        expires_at: claims.get("exp").and_then(Value::as_u64),
    })
}

/// The claim at a dot path such as `public_metadata.role`.
fn claim_at<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(claims, |value, segment| value.get(segment))
}

/// Signs `claims` with `secret` (HS256).
pub fn mint(secret: &str, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

/// Claims for `identity` valid for `ttl` from now.
pub fn claims_for(identity: &Identity, ttl: Duration) -> Claims {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    Claims {
        sub: identity.user.clone(),
        role: identity.role,
        tenant: identity.tenant.clone(),
        name: identity.name.clone(),
        exp: now + ttl.as_secs(),
        iat: Some(now),
        children: identity.children.clone(),
    }
}

/// The file holding the generated development secret.
pub fn secret_path(data_dir: &Path) -> PathBuf {
    data_dir.join("jwt-secret")
}

/// Reads the development secret from the data dir, creating the dir and a new random secret
/// (readable only by its owner) on first use.
pub fn load_or_create_secret(data_dir: &Path) -> std::io::Result<String> {
    let path = secret_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(secret) if !secret.trim().is_empty() => return Ok(secret.trim().to_owned()),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    std::fs::create_dir_all(data_dir)?;
    let secret: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path)?, secret.as_bytes())?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            user: "s1".into(),
            tenant: "acme".into(),
            role: Role::Student,
            name: Some("Ada".into()),
            children: vec![],
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn minted_tokens_verify_and_others_do_not() {
        let verifier = Verifier::hs256("right");
        let claims = claims_for(&identity(), Duration::from_secs(60));
        let token = mint("right", &claims).expect("mint");
        let verified = verifier.verify(&token).await.expect("verifies");
        assert_eq!(
            verified.expires_at,
            Some(claims.exp),
            "the token's exp is kept"
        );
        assert_eq!(
            Identity {
                expires_at: None,
                ..verified
            },
            identity()
        );
        let forged =
            mint("wrong", &claims_for(&identity(), Duration::from_secs(60))).expect("mint");
        assert!(matches!(
            verifier.verify(&forged).await,
            Err(AuthError::Invalid(_))
        ));
        let mut expired = claims_for(&identity(), Duration::ZERO);
        expired.exp -= 3600;
        assert_eq!(
            verifier
                .verify(&mint("right", &expired).expect("mint"))
                .await,
            Err(AuthError::Expired)
        );
        assert!(matches!(
            verifier.verify("not.a.jwt").await,
            Err(AuthError::Invalid(_))
        ));
        let mut bad_tenant = claims_for(&identity(), Duration::from_secs(60));
        bad_tenant.tenant = "a:b".into();
        assert!(matches!(
            verifier
                .verify(&mint("right", &bad_tenant).expect("mint"))
                .await,
            Err(AuthError::BadClaims(_))
        ));
    }

    #[tokio::test]
    async fn a_token_whose_nbf_is_ahead_is_refused_until_then() {
        let verifier = Verifier::hs256("right");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let sign = |nbf: u64| {
            let mut claims =
                serde_json::to_value(claims_for(&identity(), Duration::from_secs(7200)))
                    .expect("claims");
            claims["nbf"] = serde_json::json!(nbf);
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(b"right"),
            )
            .expect("sign")
        };
        assert_eq!(
            verifier.verify(&sign(now + 3600)).await,
            Err(AuthError::BadClaims("not valid yet (nbf)".into()))
        );
        assert_eq!(
            verifier
                .verify(&sign(now - 60))
                .await
                .map(|verified| verified.user),
            Ok(identity().user)
        );
    }

    #[test]
    fn claims_are_read_at_dot_paths() {
        let settings = AuthSettings {
            role_claim: "public_metadata.role".into(),
            tenant_claim: "org_id".into(),
            ..AuthSettings::default()
        };
        let claims = serde_json::json!({
            "sub": "user_2x", "org_id": "org_9", "public_metadata": {"role": "org:Teacher"}
        });
        let identity = identity_from(&claims, &settings).expect("identity");
        assert_eq!(
            (
                identity.user.as_str(),
                identity.tenant.as_str(),
                identity.role
            ),
            ("user_2x", "org_9", Role::Educator)
        );
        let missing = serde_json::json!({"sub": "u", "org_id": "o", "role": "admin"});
        assert!(matches!(
            identity_from(&missing, &settings),
            Err(AuthError::BadClaims(reason)) if reason.contains("public_metadata.role")
        ));
        let guest =
            serde_json::json!({"sub": "u", "org_id": "o", "public_metadata": {"role": "guest"}});
        assert!(identity_from(&guest, &settings).is_err());
    }

    #[test]
    fn the_secret_is_generated_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("classhub-secret-{}", rand::random::<u64>()));
        let first = load_or_create_secret(&dir).expect("create");
        let second = load_or_create_secret(&dir).expect("reuse");
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
