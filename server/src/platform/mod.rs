//! The platform's REST route groups under `/api/v1`: who am I ([`me`]), users and parent links
//! ([`users`]), classes and rosters ([`classes`]), what classes are given ([`assignments`]), teachers' commands to a class ([`commands`]),
//! courses, lessons and assessments ([`content`]), finding content and lesson revisions ([`catalog`]), progress ([`progress`]), the rewards ledger and leaderboards ([`rewards`]), analytics
//! ([`analytics`]), notifications ([`notifications`]), the audit trail ([`audit`]), which the
//! other groups append to, and students' consent ([`consent`]). Each group owns its routes and the
//! logic behind them; the shared REST kit (errors, extractors, the caller, pages, limits) is
//! `crate::api`. The hub is reached only through `Hub::rosters`, `Hub::remove_from_class`,
//! `Hub::notify`, `Hub::publish_command` and `Hub::room_members`.

pub mod analytics;
pub mod assignments;
pub mod audit;
pub mod catalog;
pub mod classes;
pub mod commands;
pub mod consent;
pub mod content;
pub mod me;
pub mod notifications;
pub mod progress;
pub mod rewards;
pub mod users;

use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

/// Every platform group's routes (behind the per-IP limit and the lapsed-subscription rule,
/// which `api::router` adds), except teachers' commands, which stay outside the per-IP limit.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(me::routes())
        .merge(users::routes())
        .merge(classes::routes())
        .merge(assignments::routes())
        .merge(content::routes())
        .merge(catalog::routes())
        .merge(progress::routes())
        .merge(rewards::routes())
        .merge(analytics::routes())
        .merge(notifications::routes())
        .merge(audit::routes())
        .merge(consent::routes())
}
