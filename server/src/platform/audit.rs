//! The audit trail (FERPA): [`record`] appends one entry for a staff or admin action — commands
//! sent, class and roster changes, codes rotated, role and standing changes, parent links, AI
//! content generated, and reads of one student's records — and [`record_by`] one for a game
//! server's (a Roblox player linked to a student), with the actor, their role, the
//! target, the student concerned, the client address and the time. Every audited handler calls
//! it after the action succeeded; a failed write is logged with the whole entry (so the log
//! keeps what the table could not) and counted, and the action's answer stands.
//!
//! `GET /api/v1/audit` (admins) lists the tenant's entries newest first, filtered by actor,
//! action, student or target, paged; `GET /api/v1/audit.csv` answers the same page as CSV with
//! the next cursor in `X-Next-Cursor`. No route edits or deletes an entry.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use persistence::{AuditFilter, AuditRecord, NewAuditEntry};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::ids::new_id;
use crate::api::openapi::ErrorResponse;
use crate::api::page_of;
use crate::api::{ApiError, ApiQuery, Caller, PageLimit, PageOf, PageQuery};
use crate::app::AppState;
use crate::platform::analytics::csv_field;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(audit_csv))
}

/// What an entry is about: the object acted on and the student it concerns, if one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    /// `class`, `user`, `student`, `course`, …
    pub(crate) kind: &'a str,
    /// Its id.
    pub(crate) id: &'a str,
    /// The student the action concerns.
    pub(crate) student: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// A class.
    pub(crate) fn class(id: &'a str) -> Target<'a> {
        Target {
            kind: "class",
            id,
            student: None,
        }
    }

    /// A student (the target and the student concerned).
    pub(crate) fn student(id: &'a str) -> Target<'a> {
        Target {
            kind: "student",
            id,
            student: Some(id),
        }
    }

    /// This target, concerning `student`.
    pub(crate) fn about(self, student: &'a str) -> Target<'a> {
        Target {
            student: Some(student),
            ..self
        }
    }
}

/// Who acted: a person behind a REST request, or a game server by its key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Actor<'a> {
    tenant: &'a str,
    id: &'a str,
    role: &'a str,
    ip: Option<std::net::IpAddr>,
}

impl<'a> Actor<'a> {
    /// The caller of a REST request.
    pub(crate) fn of(caller: &'a Caller) -> Actor<'a> {
        Actor {
            tenant: caller.tenant(),
            id: caller.user(),
            role: caller.role().as_str(),
            ip: caller.client_ip(),
        }
    }

    /// The person behind a socket, from `ip`.
    pub(crate) fn socket(identity: &'a crate::auth::Identity, ip: std::net::IpAddr) -> Actor<'a> {
        Actor {
            tenant: &identity.tenant,
            id: &identity.user,
            role: identity.role.as_str(),
            ip: Some(ip),
        }
    }

    /// A game server, by its key's id (role `game_server`).
    pub(crate) fn game_server(key: &'a crate::roblox::GameServerKey) -> Actor<'a> {
        Actor {
            tenant: &key.tenant,
            id: &key.key_id,
            role: "game_server",
            ip: None,
        }
    }
}

/// Appends an entry for `caller`'s `action` (`noun.verb`) on `target`.
pub(crate) async fn record(
    app: &AppState,
    caller: &Caller,
    action: &str,
    target: Target<'_>,
    detail: Option<Value>,
) {
    record_by(app, Actor::of(caller), action, target, detail).await;
}

/// Appends an entry for `actor`'s `action` on `target`.
pub(crate) async fn record_by(
    app: &AppState,
    actor: Actor<'_>,
    action: &str,
    target: Target<'_>,
    detail: Option<Value>,
) {
    let entry = NewAuditEntry {
        id: new_id("aud"),
        actor_id: actor.id.to_owned(),
        actor_role: actor.role.to_owned(),
        action: action.to_owned(),
        target_type: target.kind.to_owned(),
        target_id: target.id.to_owned(),
        student_id: target.student.map(str::to_owned),
        source_ip: actor.ip.map(|ip| ip.to_string()),
        detail,
    };
    if let Err(cause) = app.store().append_audit(actor.tenant, &entry).await {
        metrics::counter!("classhub_audit_write_failures_total").increment(1);
        tracing::error!(
            %cause,
            tenant = actor.tenant,
            entry = ?entry,
            "an audit entry could not be written"
        );
    }
}

/// `GET /audit` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Entries by this actor (a user id, or a game-server key id).
    actor_id: Option<String>,
    /// Entries of this action (`roster.added`, `command.sent`, `progress.read`, …).
    action: Option<String>,
    /// Entries about this student.
    student_id: Option<String>,
    /// Entries on this target id (a class, a user, a course …).
    target_id: Option<String>,
    /// Rows per page (default 50).
    #[param(inline, value_type = Option<PageLimit>)]
    limit: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

async fn audit_page(
    app: &AppState,
    caller: &Caller,
    query: AuditQuery,
) -> Result<PageOf<AuditRecord>, ApiError> {
    caller.require_admin("read the audit trail")?;
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let given = |value: Option<String>| value.filter(|value| !value.is_empty());
    let filter = AuditFilter {
        actor_id: given(query.actor_id),
        action: given(query.action),
        student_id: given(query.student_id),
        target_id: given(query.target_id),
    };
    let paged = app
        .store()
        .audit_entries(caller.tenant(), &filter, &page)
        .await?;
    Ok(page_of(paged, |entry| entry.id.clone(), |entry| entry))
}

/// The audit trail, newest first (admins).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = PageOf<AuditRecord>),
              (status = 403, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
async fn list_audit(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<PageOf<AuditRecord>>, ApiError> {
    audit_page(&app, &caller, query).await.map(Json)
}

/// The same page of the audit trail as CSV (admins); the next page's cursor is in
/// `X-Next-Cursor` (absent on the last page).
#[utoipa::path(get, path = "/api/v1/audit.csv", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "CSV, one line per entry, newest first", content_type = "text/csv", body = String),
              (status = 403, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
async fn audit_csv(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    let page = audit_page(&app, &caller, query).await?;
    let mut csv = String::from(
        "id,created_at,actor_id,actor_role,action,target_type,target_id,student_id,source_ip,detail\r\n",
    );
    for entry in &page.items {
        let detail = entry
            .detail
            .as_ref()
            .map(Value::to_string)
            .unwrap_or_default();
        let fields = [
            entry.id.as_str(),
            entry.created_at.as_str(),
            entry.actor_id.as_str(),
            entry.actor_role.as_str(),
            entry.action.as_str(),
            entry.target_type.as_str(),
            entry.target_id.as_str(),
            entry.student_id.as_deref().unwrap_or_default(),
            entry.source_ip.as_deref().unwrap_or_default(),
            detail.as_str(),
        ];
        let line: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
        csv.push_str(&line.join(","));
        csv.push_str("\r\n");
    }
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit.csv\"",
            ),
        ],
        csv,
    )
        .into_response();
    if let Some(cursor) = page
        .next_cursor
        .and_then(|cursor| header::HeaderValue::from_str(&cursor).ok())
    {
        response.headers_mut().insert("x-next-cursor", cursor);
    }
    Ok(response)
}
