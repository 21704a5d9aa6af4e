//! Who a verified token is, as far as the platform's records go: users are created on first sight
//! of a valid token (with their tenant) unless they were erased, deactivated and erased users
//! are refused, and once an admin set a
//! user's role, the directory's role wins over the token's (until then the token's does). A small
//! in-memory cache means only the
//! first request of a user touches the database; the users routes keep it current.
//!
//! Entry point: [`Directory::admit`], called by `AppState::authenticate` for sockets and REST alike.

use dashmap::DashMap;
use persistence::{Store, StoreError, UserRecord};
use protocol::ErrorCode;

use crate::api::{ApiError, ErrorKind};
use crate::auth::{AuthError, Identity, Role};
use crate::hub::Rosters;

/// The user directory in front of the store. Cheap to share (`Arc` inside `AppState`).
#[derive(Debug)]
pub struct Directory {
    store: Store,
    /// Users already seen by this process, by id: their tenant, role and whether active. Filled
    /// by `admit`, updated by `remember` (role changes, deactivation); never needs evicting
    /// for correctness on one node.
    known: DashMap<String, Known>,
}

#[derive(Debug, Clone)]
struct Known {
    tenant: String,
    role: Role,
    /// Whether an admin set `role` (then it wins over the token's).
    role_from_admin: bool,
    active: bool,
    /// Erased: refused for good (the tombstone in the database says so after a restart).
    erased: bool,
}

/// Why an authenticated request was still refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    /// The token itself was refused.
    #[error(transparent)]
    Token(#[from] AuthError),
    /// An admin deactivated this user.
    #[error("this account is deactivated; ask your school's administrator")]
    Deactivated,
    /// An admin erased this user and every record of them; the account cannot come back.
    #[error(
        "this account was erased at the school's request; ask your school's administrator for a new one"
    )]
    Erased,
    /// The token's `sub` is already a user of another tenant (user ids are global).
    #[error("this user id belongs to another tenant; sign in with the right organization")]
    OtherTenant,
    /// The directory could not be read or written.
    #[error("the user directory is unavailable; retry shortly")]
    Unavailable(#[source] StoreError),
}

impl AuthFailure {
    /// The wire error code for sockets.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            AuthFailure::Token(error) => error.error_code(),
            AuthFailure::Deactivated | AuthFailure::Erased | AuthFailure::OtherTenant => {
                ErrorCode::InvalidToken
            }
            AuthFailure::Unavailable(_) => ErrorCode::Unavailable,
        }
    }

    fn api_kind(&self) -> ErrorKind {
        match self {
            AuthFailure::Token(AuthError::KeysUnavailable) | AuthFailure::Unavailable(_) => {
                ErrorKind::Unavailable
            }
            AuthFailure::Token(_) | AuthFailure::OtherTenant => ErrorKind::Unauthorized,
            AuthFailure::Deactivated | AuthFailure::Erased => ErrorKind::Forbidden,
        }
    }
}

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> ApiError {
        let error = ApiError::new(failure.api_kind(), failure.to_string());
        if let AuthFailure::Unavailable(cause) = &failure {
            tracing::warn!(%cause, "user directory unavailable");
            return error.with_retry_after(std::time::Duration::from_secs(2));
        }
        error
    }
}

impl Directory {
    /// A directory over `store`.
    pub fn new(store: Store) -> Directory {
        Directory {
            store,
            known: DashMap::new(),
        }
    }

    /// The store (for the REST handlers).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Admits a verified identity: creates the tenant and user on first sight, refuses
    /// deactivated users and ids of another tenant, and applies the directory's role.
    pub async fn admit(&self, mut identity: Identity) -> Result<Identity, AuthFailure> {
        let known = match self.known.get(&identity.user).map(|entry| entry.clone()) {
            Some(known) => known,
            None => {
                if self
                    .store
                    .erased_from(&identity.user)
                    .await
                    .map_err(AuthFailure::Unavailable)?
                    .is_some()
                {
                    return Err(AuthFailure::Erased);
                }
                let record = self
                    .store
                    .ensure_user(
                        &identity.tenant,
                        &identity.user,
                        identity.role.as_str(),
                        identity.name.as_deref(),
                    )
                    .await
                    .map_err(AuthFailure::Unavailable)?;
                let known = known_of(&record, identity.role);
                self.known.insert(identity.user.clone(), known.clone());
                known
            }
        };
        apply(&known, &mut identity)?;
        Ok(identity)
    }

    /// Where an already admitted identity stands now, from what this process knows (no query):
    /// refused once its token expired or its user was deactivated, and with the role the rules
    /// give it now. Open connections re-check with this whenever the tenant's rules change.
    pub fn standing(&self, identity: &Identity) -> Result<Identity, AuthFailure> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        if identity.expires_at.is_some_and(|exp| exp <= now) {
            return Err(AuthFailure::Token(AuthError::Expired));
        }
        let mut current = identity.clone();
        // Pusher sockets and game servers are no directory users.
        if identity.role != Role::Guest
            && let Some(known) = self.known.get(&identity.user).map(|entry| entry.clone())
        {
            apply(&known, &mut current)?;
        }
        Ok(current)
    }

    /// Adds the children linked to a parent in the database to those its token names (for one
    /// REST request; sockets ask the rosters at each join instead, so an unlink reaches them).
    pub fn with_linked_children(mut identity: Identity, rosters: &Rosters) -> Identity {
        if identity.role == Role::Parent {
            for child in rosters.children_of(&identity.tenant, &identity.user) {
                if !identity.children.contains(&child) {
                    identity.children.push(child);
                }
            }
        }
        identity
    }

    /// Refuses an erased user from now on (their row is gone; this keeps them out without it).
    pub fn forget(&self, tenant: &str, user: &str) {
        self.known.insert(
            user.to_owned(),
            Known {
                tenant: tenant.to_owned(),
                role: Role::Student,
                role_from_admin: false,
                active: false,
                erased: true,
            },
        );
    }

    /// Records a user's current row (after a role change or deactivation).
    pub fn remember(&self, record: &UserRecord) {
        let role = Role::from_claim(&record.role).unwrap_or(Role::Student);
        self.known.insert(record.id.clone(), known_of(record, role));
    }
}

/// Refuses another tenant's id and deactivated users; the directory's role wins only once an
/// admin set it (until then the token's does, so an identity provider's role change reaches
/// classhub).
fn apply(known: &Known, identity: &mut Identity) -> Result<(), AuthFailure> {
    if known.erased {
        return Err(AuthFailure::Erased);
    }
    if known.tenant != identity.tenant {
        return Err(AuthFailure::OtherTenant);
    }
    if !known.active {
        return Err(AuthFailure::Deactivated);
    }
    if known.role_from_admin {
        identity.role = known.role;
    }
    Ok(())
}

fn known_of(record: &UserRecord, fallback: Role) -> Known {
    Known {
        tenant: record.tenant_id.clone(),
        role: Role::from_claim(&record.role).unwrap_or(fallback),
        role_from_admin: record.role_from_admin,
        active: record.active,
        erased: false,
    }
}
