//! Students' data (COPPA, FERPA, GDPR): export everything stored about one person
//! ([`export`]: `GET /api/v1/users/{id}/export`, JSON, and `…/export.zip`, CSV files, both
//! streamed page by page), erase it ([`erase`]: `DELETE /api/v1/users/{id}`, every table in
//! bounded batches, the live hub forgets them, a tombstone keeps them from coming back), and
//! purge what is past each school's retention ([`retention`]: raw events, AI transcripts, chat).
//!
//! Who may see a person's data is [`may_export`], the one rule both export formats call. What
//! counts as a row about someone is `persistence`'s (`Subject`): a user column holding their id,
//! a JSON value naming them, or their own room.

pub mod erase;
pub mod export;
pub mod retention;
pub mod settings;

use std::time::Duration;

use persistence::Subject;
use protocol::{RoomId, RoomKind};
use utoipa_axum::router::OpenApiRouter;

pub use settings::PrivacyArgs;

use crate::api::{ApiError, Caller, ErrorKind};
use crate::app::AppState;
use crate::auth::Role;

/// What the server does with students' data, resolved from [`PrivacyArgs`].
#[derive(Debug, Clone)]
pub struct PrivacySettings {
    /// Rows an erasure or the retention purge deletes per statement.
    pub erase_batch_rows: u32,
    /// Rows an export reads per page.
    pub export_page_rows: u32,
    /// Default days raw game events are kept (0: until erasure).
    pub events_days: u32,
    /// Default days AI transcripts are kept (0: until erasure).
    pub ai_days: u32,
    /// Default days chat is kept (0: until erasure).
    pub chat_days: u32,
    /// How often the retention purge runs.
    pub retention_interval: Duration,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        PrivacyArgs::default()
            .resolve()
            .expect("the built-in privacy defaults are valid")
    }
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(erase::routes())
        .merge(export::routes())
        .merge(retention::routes())
}

/// `user` of `tenant` as the store's erasure and export see them (with their own room).
pub(crate) fn subject(app: &AppState, tenant: &str, user: &str) -> Subject {
    let max_len = app.hub().settings().limits.max_room_id_len;
    let rooms = RoomId::new(RoomKind::User, tenant, user, max_len)
        .map(|room| vec![room.to_string()])
        .unwrap_or_default();
    Subject {
        tenant: tenant.to_owned(),
        user: user.to_owned(),
        rooms,
    }
}

/// May `caller` export `user`'s data? Admins of the school, a parent for a linked child, and
/// everyone for themself.
pub(crate) fn may_export(caller: &Caller, user: &str) -> Result<(), ApiError> {
    let allowed = caller.user() == user
        || match caller.role() {
            Role::Admin => true,
            Role::Parent => caller.0.children.iter().any(|child| child == user),
            Role::Educator | Role::Student | Role::Guest => false,
        };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::Forbidden,
            "you may export your own data (parents: their linked children's; admins: anyone's in \
             the school)",
        ))
    }
}
