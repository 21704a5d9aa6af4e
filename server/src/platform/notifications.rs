//! Notifications: educators and admins send to a student, a class or the whole tenant; each
//! recipient gets a stored row (read/unread) and, when connected, a live `notification` frame on
//! their `user:{tenant}:{id}` room. Recipients list theirs and mark them read; parents list their
//! children's.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use persistence::{NewNotification, NotificationRecord, Page};
use protocol::{RoomId, RoomKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::openapi::Schema;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::classes::{Access, all_roster, load_class};
use super::content::{TITLE, Title};
use crate::api::ids::new_id;
use crate::api::openapi::ErrorResponse;
use crate::api::page_of;
use crate::api::rules::{Text, documented};
use crate::api::{
    ApiError, ApiJson, ApiPath, ApiQuery, Caller, ErrorKind, PageLimit, PageOf, PageQuery,
};
use crate::app::AppState;
use crate::auth::Role;

/// A notification's kind, which clients switch on.
const KIND: Text = Text::word(1, 32, "_-");

documented!(
    /// A notification kind ([`KIND`]).
    NotificationKind = KIND.schema()
);
documented!(
    /// [`SendNotification`] with its addressing rule: exactly one of `user_id`, `class_id` and
    /// `everyone: true` (the others absent or `null`, `everyone` also `false`).
    NotificationToSend = AllOfBuilder::new()
        .item(<SendNotification as utoipa::PartialSchema>::schema())
        .item(one_addressee()),
    uses SendNotification
);

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications, send_notification))
        .routes(routes!(mark_read))
}

/// A notification to send: exactly one of `user_id`, `class_id`, `everyone`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SendNotification {
    /// One student (educators: a student on a roster they teach).
    user_id: Option<String>,
    /// Every student on a class roster (its teacher, admins).
    class_id: Option<String>,
    /// Every active user of the tenant (admins).
    everyone: Option<bool>,
    /// `message`, `reward`, `quiz`, …
    #[schema(value_type = NotificationKind)]
    kind: String,
    /// A short title.
    #[schema(value_type = Title)]
    title: String,
    /// The text.
    body: Option<String>,
    /// Anything else the client needs.
    data: Option<Value>,
}

/// What a send did.
#[derive(Debug, Serialize, ToSchema)]
struct Sent {
    /// Recipients stored.
    recipients: usize,
    /// Recipients who were connected and got it live.
    delivered_live: usize,
}

/// `GET /notifications` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct NotificationFilter {
    /// Whose notifications: yourself (default), a child of yours (parents), anyone (admins).
    user_id: Option<String>,
    /// `true`: unread only.
    #[param(value_type = Option<bool>)]
    unread: Option<String>,
    /// Rows per page (default 50).
    #[param(inline, value_type = Option<PageLimit>)]
    limit: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// Send a notification (educators, admins).
#[utoipa::path(post, path = "/api/v1/notifications", tag = "notifications",
    request_body = NotificationToSend,
    responses((status = 201, body = Sent),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn send_notification(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SendNotification>,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    caller.require_staff("send notifications")?;
    KIND.check("kind", &body.kind)?;
    let title = TITLE.check("title", &body.title)?;
    let tenant = caller.tenant();
    let store = app.store();
    let recipients: Vec<String> = match (
        &body.user_id,
        &body.class_id,
        body.everyone.unwrap_or(false),
    ) {
        (Some(user_id), None, false) => {
            let user = store
                .user(tenant, user_id)
                .await?
                .ok_or_else(|| ApiError::not_found("user"))?;
            if caller.role() == Role::Educator {
                let teaches_them = store
                    .classes(
                        tenant,
                        persistence::ClassScope::MemberOf(&user.id),
                        &Page {
                            limit: 1000,
                            after: None,
                        },
                    )
                    .await?
                    .items
                    .iter()
                    .any(|class| class.teacher_id.as_deref() == Some(caller.user()));
                if !teaches_them {
                    return Err(ApiError::new(
                        ErrorKind::Forbidden,
                        "an educator may notify only students of classes they teach",
                    ));
                }
            }
            vec![user.id]
        }
        (None, Some(class_id), false) => {
            load_class(&app, &caller, class_id, Access::Manage).await?;
            all_roster(&app, tenant, class_id)
                .await?
                .into_iter()
                .map(|member| member.user.id)
                .collect()
        }
        (None, None, true) => {
            caller.require_admin("notify the whole tenant")?;
            let mut everyone = Vec::new();
            let mut page = Page {
                limit: 1000,
                after: None,
            };
            loop {
                let paged = store.users(tenant, None, &page).await?;
                page.after = paged.items.last().map(|user| user.id.clone());
                everyone.extend(
                    paged
                        .items
                        .into_iter()
                        .filter(|user| user.active)
                        .map(|user| user.id),
                );
                if !paged.has_more {
                    break;
                }
            }
            everyone
        }
        _ => {
            return Err(ApiError::invalid_field(
                "user_id",
                "give exactly one of user_id, class_id or everyone: true",
            ));
        }
    };
    let notification = NewNotification {
        sender_id: caller.user().to_owned(),
        kind: body.kind.clone(),
        title: title.to_owned(),
        body: body.body.clone(),
        data: body.data.clone(),
    };
    let recipients_count = recipients.len();
    let delivered_live = deliver(&app, tenant, &recipients, &notification).await?;
    Ok((
        StatusCode::CREATED,
        Json(Sent {
            recipients: recipients_count,
            delivered_live,
        }),
    ))
}

/// Stores `notification` once per recipient and delivers it live as a `notification` frame on
/// each recipient's `user:` room (REST sends and the rewards ledger both come here). Returns how
/// many recipients had a socket open to receive it.
pub(crate) async fn deliver(
    app: &AppState,
    tenant: &str,
    recipients: &[String],
    notification: &NewNotification,
) -> Result<usize, ApiError> {
    let addressed: Vec<(String, String)> = recipients
        .iter()
        .map(|user| (new_id("ntf"), user.clone()))
        .collect();
    app.store()
        .insert_notifications(tenant, &addressed, notification)
        .await?;
    let mut delivered_live = 0;
    for (id, user) in &addressed {
        let Ok(room) = RoomId::new(RoomKind::User, tenant, user, usize::MAX) else {
            continue;
        };
        let frame = json!({
            "id": id,
            "title": notification.title,
            "body": notification.body,
            "data": notification.data,
        });
        if app.hub().notify(
            &room,
            &notification.sender_id,
            notification.kind.clone(),
            frame,
        ) {
            delivered_live += 1;
        }
    }
    Ok(delivered_live)
}

/// The addressing rule of [`SendNotification`] as a schema: one branch per kind of addressee.
fn one_addressee() -> Schema {
    let absent = || ObjectBuilder::new().schema_type(Type::Null);
    let not_everyone = || ObjectBuilder::new().enum_values(Some([Value::Bool(false), Value::Null]));
    let id = || ObjectBuilder::new().schema_type(Type::String);
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .property("user_id", id())
                .required("user_id")
                .property("class_id", absent())
                .property("everyone", not_everyone()),
        )
        .item(
            ObjectBuilder::new()
                .property("class_id", id())
                .required("class_id")
                .property("user_id", absent())
                .property("everyone", not_everyone()),
        )
        .item(
            ObjectBuilder::new()
                .property(
                    "everyone",
                    ObjectBuilder::new().enum_values(Some([Value::Bool(true)])),
                )
                .required("everyone")
                .property("user_id", absent())
                .property("class_id", absent()),
        )
        .build()
        .into()
}

/// List notifications, newest first: yours, a child's (parents), anyone's (admins).
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    params(NotificationFilter),
    responses((status = 200, body = PageOf<NotificationRecord>),
              (status = 403, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
async fn list_notifications(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(filter): ApiQuery<NotificationFilter>,
) -> Result<Json<PageOf<NotificationRecord>>, ApiError> {
    let whose = filter
        .user_id
        .clone()
        .filter(|user| !user.is_empty())
        .unwrap_or_else(|| caller.user().to_owned());
    let allowed = whose == caller.user()
        || caller.is_admin()
        || (caller.role() == Role::Parent && caller.0.children.contains(&whose));
    if !allowed {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "you may list your own notifications (parents: also their children's)",
        ));
    }
    let unread_only = match filter.unread.as_deref() {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid_field("unread", "must be true or false")),
    };
    let page = PageQuery {
        limit: filter.limit,
        cursor: filter.cursor,
    }
    .page()?;
    let paged = app
        .store()
        .notifications(caller.tenant(), &whose, unread_only, &page)
        .await?;
    Ok(Json(page_of(paged, |row| row.id.clone(), |row| row)))
}

/// Mark one of your notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/{notification_id}/read", tag = "notifications",
    params(("notification_id" = String, Path, description = "notification id")),
    responses((status = 200, body = NotificationRecord),
              (status = 404, body = ErrorResponse)))]
async fn mark_read(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(notification_id): ApiPath<String>,
) -> Result<Json<NotificationRecord>, ApiError> {
    let store = app.store();
    let found = store
        .notification(caller.tenant(), &notification_id)
        .await?
        .filter(|row| row.user_id == caller.user())
        .ok_or_else(|| ApiError::not_found("notification of yours"))?;
    store
        .mark_notification_read(caller.tenant(), &found.id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("notification of yours"))
}
