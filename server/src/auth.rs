//! Authentication of people: HS256 JWTs signed with a development secret (JWKS for production
//! arrives with the REST issue; this module's [`Verifier`] is the one place that will change).
//!
//! Claims: `sub`, `role` (`student|educator|parent|admin`), `tenant`, `name`, `exp`, and an
//! optional `children` list of user ids for parents (until parent links live in the database).
//! The secret comes from `CLASSHUB_JWT_SECRET`, or is generated on first run and kept in
//! `{data_dir}/jwt-secret`, so `classhub token` and `classhub serve` agree without setup.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use protocol::{ErrorCode, RoomId, RoomKind};
use serde::{Deserialize, Serialize};

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
    /// Not a JWT, not signed with the server's key, or with the wrong algorithm.
    #[error("the token is not valid ({0}); get a new token")]
    Invalid(String),
    /// Signed correctly, but a claim is missing or unusable.
    #[error("the token's claims are unusable: {0}")]
    BadClaims(String),
}

impl AuthError {
    /// The wire error code.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            AuthError::Expired => ErrorCode::TokenExpired,
            AuthError::Invalid(_) | AuthError::BadClaims(_) => ErrorCode::InvalidToken,
        }
    }
}

/// Verifies tokens. Built once at start-up; shared by every transport.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(HS256)")
    }
}

/// Clock-skew allowance on `exp`, in seconds.
const LEEWAY_SECS: u64 = 5;

impl Verifier {
    /// A verifier for HS256 tokens signed with `secret`.
    pub fn hs256(secret: &str) -> Verifier {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Verifier {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// Checks `token` and returns who it names.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token.trim(), &self.key, &self.validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::Json(cause) => AuthError::BadClaims(cause.to_string()),
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::BadClaims(format!("missing claim {claim}"))
                }
                _ => AuthError::Invalid(err.to_string()),
            })?;
        let claims = data.claims;
        // Tenant and user ids become room-id segments, so they must be valid segments.
        RoomId::new(RoomKind::User, &claims.tenant, &claims.sub, usize::MAX).map_err(|_| {
            AuthError::BadClaims(
                "tenant and sub must use only letters, digits, '-', '_' or '.'".into(),
            )
        })?;
        Ok(Identity {
            user: claims.sub,
            tenant: claims.tenant,
            role: claims.role,
            name: claims.name,
            children: claims.children,
        })
    }
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
        }
    }

    #[test]
    fn minted_tokens_verify_and_others_do_not() {
        let verifier = Verifier::hs256("right");
        let token = mint("right", &claims_for(&identity(), Duration::from_secs(60))).expect("mint");
        assert_eq!(verifier.verify(&token), Ok(identity()));
        let forged =
            mint("wrong", &claims_for(&identity(), Duration::from_secs(60))).expect("mint");
        assert!(matches!(
            verifier.verify(&forged),
            Err(AuthError::Invalid(_))
        ));
        let mut expired = claims_for(&identity(), Duration::ZERO);
        expired.exp -= 3600;
        assert_eq!(
            verifier.verify(&mint("right", &expired).expect("mint")),
            Err(AuthError::Expired)
        );
        assert!(matches!(
            verifier.verify("not.a.jwt"),
            Err(AuthError::Invalid(_))
        ));
        let mut bad_tenant = claims_for(&identity(), Duration::from_secs(60));
        bad_tenant.tenant = "a:b".into();
        assert!(matches!(
            verifier.verify(&mint("right", &bad_tenant).expect("mint")),
            Err(AuthError::BadClaims(_))
        ));
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
