//! Who a verified token is, as far as the platform's records go: users are created on first sight
//! of a valid token (with their tenant) unless they were erased, deactivated and erased users
//! are refused, and once an admin set a
//! user's role, the directory's role wins over the token's (until then the token's does). A small
//! in-memory cache means only the
//! first request of a user touches the database; the users routes keep it current. First
//! sightings are written in batches by one task (`--first-sight-batch` users per transaction,
//! [`persistence::Store::ensure_users`]): a reconnect storm or a school's first morning costs a
//! few transactions, not two writes per user.
//!
//! Entry point: [`Directory::admit`], called by `AppState::authenticate` for sockets and REST alike.

use std::sync::Arc;

use dashmap::DashMap;
use persistence::{Sighted, Sighting, Store, StoreError, UserRecord};
use protocol::ErrorCode;
use tokio::sync::{mpsc, oneshot};

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
    /// First sightings for the batch writer ([`write_sightings`]); bounded, so a flood of new
    /// users waits for the writer instead of growing memory.
    sightings: mpsc::Sender<(Sighting, SightingReply)>,
}

/// Where the batch writer answers one sighting (a failed batch answers every sighting its error).
type SightingReply = oneshot::Sender<Result<Sighted, Arc<StoreError>>>;

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
    Unavailable(#[source] Arc<StoreError>),
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
    /// A directory over `store`, writing first sightings `batch` users at a time (spawns the
    /// writer; call it inside the runtime).
    pub fn new(store: Store, batch: usize) -> Directory {
        let batch = batch.max(1);
        let (sightings, queue) = mpsc::channel(batch.saturating_mul(8));
        tokio::spawn(write_sightings(store.clone(), queue, batch));
        Directory {
            store,
            known: DashMap::new(),
            sightings,
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
                let record = match self.first_sight(&identity).await? {
                    Sighted::Erased => return Err(AuthFailure::Erased),
                    Sighted::User(record) => record,
                };
                let known = known_of(&record, identity.role);
                self.known.insert(identity.user.clone(), known.clone());
                known
            }
        };
        apply(&known, &mut identity)?;
        Ok(identity)
    }

    /// The directory's row of a user this process has not seen, created if new, through the
    /// batch writer.
    async fn first_sight(&self, identity: &Identity) -> Result<Sighted, AuthFailure> {
        let stopped = || AuthFailure::Unavailable(Arc::new(StoreError::closed()));
        let (reply, answer) = oneshot::channel();
        let sighting = Sighting {
            tenant: identity.tenant.clone(),
            user: identity.user.clone(),
            role: identity.role.as_str().to_owned(),
            display_name: identity.name.clone(),
        };
        self.sightings
            .send((sighting, reply))
            .await
            .map_err(|_| stopped())?;
        match answer.await {
            Ok(Ok(sighted)) => Ok(sighted),
            Ok(Err(cause)) => Err(AuthFailure::Unavailable(cause)),
            Err(_) => Err(stopped()),
        }
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

/// The batch writer: takes whatever first sightings are queued (up to `batch`), writes them in
/// one round ([`Store::ensure_users`]) and answers each; ends when the directory is dropped.
async fn write_sightings(
    store: Store,
    mut queue: mpsc::Receiver<(Sighting, SightingReply)>,
    batch: usize,
) {
    let mut waiting = Vec::with_capacity(batch);
    while queue.recv_many(&mut waiting, batch).await > 0 {
        let sightings: Vec<Sighting> = waiting.iter().map(|(seen, _)| seen.clone()).collect();
        match store.ensure_users(&sightings).await {
            Ok(answers) => {
                for ((_, reply), answer) in waiting.drain(..).zip(answers) {
                    // A caller that went away no longer needs its answer.
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(error) => {
                let cause = Arc::new(error);
                for (_, reply) in waiting.drain(..) {
                    let _ = reply.send(Err(cause.clone()));
                }
            }
        }
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
