//! Classes and rosters: CRUD (delete archives), roster add/remove, class-code regeneration, and
//! `GET classes/{id}/live` (who is online now, from the hub, with per-student progress). Roster
//! changes reach the hub at once: a student taken off a roster leaves the class room (and the
//! game rooms linked to the class) with the reason `revoked` when their connections re-check.
//!
//! Each roster entry has a personal link code (`roblox::link::new_student_code`), made when the
//! student is put on the roster; with the class code it links the student's Roblox account
//! (`roblox/linking.rs`). The class's staff see the codes on the roster and may rotate one.
//!
//! Access is `hub::permissions::check_class` (the rule sockets use too): admins manage every
//! class of the tenant; an educator manages the classes they teach; a student sees the classes
//! whose roster lists them; parents have no class routes.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use persistence::{ClassRecord, ClassScope, Page, RosterMember, StoreError};
use protocol::{RoomId, RoomKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::forbidden;
use roblox::link::new_student_code;

use crate::api::ids::{new_class_code, new_id};
use crate::api::openapi::ErrorResponse;
use crate::api::page_of;
use crate::api::rules::{Items, Text, documented};
use crate::api::{ApiError, ApiJson, ApiPath, ApiQuery, Caller, ErrorKind, PageOf, PageQuery};
use crate::app::AppState;
use crate::auth::Role;
use crate::hub::permissions;
pub(crate) use crate::hub::permissions::ClassAccess as Access;
use crate::platform::audit::{self, Target};
use serde_json::json;

/// A class name (stored trimmed).
const CLASS_NAME: Text = Text::prose(1, 200);
/// A class's grade level, e.g. `7`, `K` or `6-8` (stored trimmed).
const CLASS_GRADE: Text = Text::prose(1, 16);
/// Students put on a roster in one request.
const ROSTER_ADDITION: Items = Items::new(1, 500);

documented!(
    /// A class name ([`CLASS_NAME`]).
    ClassName = CLASS_NAME.schema()
);
documented!(
    /// A class's grade level ([`CLASS_GRADE`]).
    ClassGrade = CLASS_GRADE.schema()
);
documented!(
    /// Student ids to put on a roster ([`ROSTER_ADDITION`]).
    RosterIds = ROSTER_ADDITION.schema(
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
    )
);

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_classes, create_class))
        .routes(routes!(get_class, update_class, archive_class))
        .routes(routes!(list_roster, add_to_roster))
        .routes(routes!(remove_from_roster))
        .routes(routes!(rotate_link_code))
        .routes(routes!(regenerate_code))
        .routes(routes!(live))
}

/// A class to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewClass {
    /// The class name.
    #[schema(value_type = ClassName)]
    name: String,
    /// The teacher (admins only; an educator creating a class teaches it).
    teacher_id: Option<String>,
    /// Its grade level, e.g. `7` or `K`.
    #[schema(value_type = Option<ClassGrade>)]
    grade_level: Option<String>,
}

/// What to change about a class.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ClassPatch {
    /// A new name.
    #[schema(value_type = Option<ClassName>)]
    name: Option<String>,
    /// A new teacher (admins only).
    teacher_id: Option<String>,
    /// A new grade level, e.g. `7` or `K`.
    #[schema(value_type = Option<ClassGrade>)]
    grade_level: Option<String>,
}

/// Students to put on a roster.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RosterAdd {
    /// Student user ids of the tenant.
    #[schema(value_type = RosterIds)]
    user_ids: Vec<String>,
}

/// What a roster addition did.
#[derive(Debug, Serialize, ToSchema)]
struct RosterAdded {
    /// Students newly added.
    added: Vec<String>,
    /// Students already on the roster.
    already: Vec<String>,
}

/// Who is in a class right now.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveClass {
    /// The class id.
    pub class_id: String,
    /// The class room id (`class:{tenant}:{id}`).
    pub room: String,
    /// Everyone present in the class room or a game room linked to it, with presence state.
    pub online: Vec<LiveMember>,
    /// Every student on the roster: online or not, with progress.
    pub students: Vec<LiveStudent>,
}

/// A member present in a room.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveMember {
    /// User id.
    pub user: String,
    /// Display name.
    pub name: Option<String>,
    /// Role.
    pub role: String,
    /// The room they are in.
    pub room: String,
    /// Their presence state.
    pub state: serde_json::Value,
}

/// A roster student's live view.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveStudent {
    /// User id.
    pub user_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Their personal link code for this class (typed in game with the class code).
    pub link_code: String,
    /// Whether they are in the class room or a linked game room now.
    pub online: bool,
    /// Lessons with any progress.
    pub lessons_started: u64,
    /// Lessons at 100 %.
    pub lessons_completed: u64,
    /// Mean completion over started lessons, 0–100.
    pub average_completion: f64,
    /// Time spent, all lessons.
    pub time_spent_secs: i64,
}

/// Loads a class of the caller's tenant and checks `access`: 404 when missing (or another
/// tenant's), 403 when the caller's role or relation does not allow it.
pub(crate) async fn load_class(
    app: &AppState,
    caller: &Caller,
    class_id: &str,
    access: Access,
) -> Result<ClassRecord, ApiError> {
    let class = app
        .store()
        .class(caller.tenant(), class_id)
        .await?
        .ok_or_else(|| ApiError::not_found("class"))?;
    permissions::check_class(
        &caller.0,
        caller.tenant(),
        class_id,
        access,
        app.hub().rosters(),
    )
    .map_err(|denied| ApiError::new(ErrorKind::Forbidden, denied.to_string()))?;
    Ok(class)
}

async fn check_teacher(app: &AppState, tenant: &str, teacher: &str) -> Result<(), ApiError> {
    let user = app.store().user(tenant, teacher).await?;
    match user {
        Some(user) if user.role == Role::Educator.as_str() || user.role == Role::Admin.as_str() => {
            Ok(())
        }
        Some(_) => Err(ApiError::invalid_field("teacher_id", "is not an educator")),
        None => Err(ApiError::invalid_field(
            "teacher_id",
            "no such user in your tenant",
        )),
    }
}

fn check_name(name: &str) -> Result<String, ApiError> {
    CLASS_NAME.check("name", name).map(str::to_owned)
}

fn check_grade(grade: Option<&str>) -> Result<Option<&str>, ApiError> {
    grade
        .map(|grade| CLASS_GRADE.check("grade_level", grade))
        .transpose()
}

/// List classes: all (admins), taught (educators), or enrolled (students).
#[utoipa::path(get, path = "/api/v1/classes", tag = "classes", params(PageQuery),
    responses((status = 200, body = PageOf<ClassRecord>),
              (status = 403, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
async fn list_classes(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<ClassRecord>>, ApiError> {
    let scope = match caller.role() {
        Role::Admin => ClassScope::All,
        Role::Educator => ClassScope::TaughtBy(caller.user()),
        Role::Student => ClassScope::MemberOf(caller.user()),
        role @ (Role::Parent | Role::Guest) => return Err(forbidden(role, "list classes")),
    };
    let page = query.page()?;
    let paged = app.store().classes(caller.tenant(), scope, &page).await?;
    Ok(Json(page_of(
        paged,
        |class| class.id.clone(),
        |class| class,
    )))
}

/// Create a class (educators teach what they create; admins may name a teacher).
#[utoipa::path(post, path = "/api/v1/classes", tag = "classes", request_body = NewClass,
    responses((status = 201, body = ClassRecord),
              (status = 403, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
async fn create_class(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewClass>,
) -> Result<(StatusCode, Json<ClassRecord>), ApiError> {
    caller.require_staff("create classes")?;
    let name = check_name(&body.name)?;
    let grade_level = check_grade(body.grade_level.as_deref())?;
    let teacher = match (caller.role(), body.teacher_id) {
        (Role::Admin, Some(teacher)) => {
            check_teacher(&app, caller.tenant(), &teacher).await?;
            Some(teacher)
        }
        (Role::Admin, None) => None,
        (_, Some(teacher)) if teacher != caller.user() => {
            return Err(ApiError::new(
                ErrorKind::Forbidden,
                "an educator creates classes they teach; leave teacher_id out",
            ));
        }
        _ => Some(caller.user().to_owned()),
    };
    let id = new_id("cls");
    for _ in 0..5 {
        match app
            .store()
            .create_class(
                caller.tenant(),
                &id,
                &name,
                teacher.as_deref(),
                &new_class_code(),
            )
            .await
        {
            Ok(mut class) => {
                if grade_level.is_some() {
                    class = app
                        .store()
                        .update_class(caller.tenant(), &class.id, None, None, grade_level)
                        .await?
                        .ok_or_else(|| ApiError::not_found("class"))?;
                }
                app.hub().rosters().add_class(
                    caller.tenant(),
                    &class.id,
                    class.teacher_id.as_deref(),
                );
                let detail = json!({"name": class.name, "teacher_id": class.teacher_id});
                audit::record(
                    &app,
                    &caller,
                    "class.created",
                    Target::class(&class.id),
                    Some(detail),
                )
                .await;
                return Ok((StatusCode::CREATED, Json(class)));
            }
            Err(error) if error.is_unique_violation() => continue,
            Err(error) => return Err(ApiError::internal(error)),
        }
    }
    Err(ApiError::internal("five class codes in a row were taken"))
}

/// Get a class (its teacher, admins, students on its roster).
#[utoipa::path(get, path = "/api/v1/classes/{id}", tag = "classes",
    params(("id" = String, Path, description = "class id")),
    responses((status = 200, body = ClassRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn get_class(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
) -> Result<Json<ClassRecord>, ApiError> {
    load_class(&app, &caller, &class_id, Access::View)
        .await
        .map(Json)
}

/// Rename a class or change its teacher (admins).
#[utoipa::path(patch, path = "/api/v1/classes/{id}", tag = "classes", request_body = ClassPatch,
    params(("id" = String, Path, description = "class id")),
    responses((status = 200, body = ClassRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn update_class(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
    ApiJson(body): ApiJson<ClassPatch>,
) -> Result<Json<ClassRecord>, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    let name = body.name.as_deref().map(check_name).transpose()?;
    let grade_level = check_grade(body.grade_level.as_deref())?;
    if let Some(teacher) = &body.teacher_id {
        caller.require_admin("change a class's teacher")?;
        check_teacher(&app, caller.tenant(), teacher).await?;
    }
    let class = app
        .store()
        .update_class(
            caller.tenant(),
            &class_id,
            name.as_deref(),
            body.teacher_id.as_deref(),
            grade_level,
        )
        .await?
        .ok_or_else(|| ApiError::not_found("class"))?;
    if body.teacher_id.is_some() {
        // The former teacher's open connections leave the class room when they re-check.
        app.hub()
            .rosters()
            .set_teacher(caller.tenant(), &class_id, class.teacher_id.as_deref());
    }
    let detail = json!({"name": name, "teacher_id": body.teacher_id, "grade_level": grade_level});
    audit::record(
        &app,
        &caller,
        "class.updated",
        Target::class(&class_id),
        Some(detail),
    )
    .await;
    Ok(Json(class))
}

/// Archive a class: it disappears from the API, its roster empties, its students leave its room.
#[utoipa::path(delete, path = "/api/v1/classes/{id}", tag = "classes",
    params(("id" = String, Path, description = "class id")),
    responses((status = 204, description = "archived"),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn archive_class(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    app.store()
        .archive_class(caller.tenant(), &class_id)
        .await?;
    // Everyone but admins leaves the class room when their connections re-check.
    app.hub().rosters().remove_class(caller.tenant(), &class_id);
    audit::record(
        &app,
        &caller,
        "class.archived",
        Target::class(&class_id),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// A class roster with each student's personal link code (its teacher, admins).
#[utoipa::path(get, path = "/api/v1/classes/{id}/students", tag = "classes",
    params(("id" = String, Path, description = "class id"), PageQuery),
    responses((status = 200, body = PageOf<RosterMember>),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn list_roster(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<RosterMember>>, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    let page = query.page()?;
    let paged = app
        .store()
        .roster(caller.tenant(), &class_id, &page)
        .await?;
    Ok(Json(page_of(
        paged,
        |member| member.user.id.clone(),
        |member| member,
    )))
}

/// Put students on the roster (its teacher, admins), each with a new personal link code. Takes
/// effect at once for their sockets.
#[utoipa::path(post, path = "/api/v1/classes/{id}/students", tag = "classes",
    request_body = RosterAdd, params(("id" = String, Path, description = "class id")),
    responses((status = 200, body = RosterAdded),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn add_to_roster(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
    ApiJson(body): ApiJson<RosterAdd>,
) -> Result<Json<RosterAdded>, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    if !ROSTER_ADDITION.allows(body.user_ids.len()) {
        return Err(ApiError::invalid_field(
            "user_ids",
            format!(
                "give {}–{} student ids",
                ROSTER_ADDITION.min, ROSTER_ADDITION.max
            ),
        ));
    }
    let store = app.store();
    let mut problems = ApiError::new(
        ErrorKind::InvalidInput,
        "some user_ids are not students of your tenant; nothing was added",
    );
    let mut any_problem = false;
    for (index, user_id) in body.user_ids.iter().enumerate() {
        let user = store.user(caller.tenant(), user_id).await?;
        let problem = match user {
            None => Some("no such user in your tenant"),
            Some(user) if user.role != Role::Student.as_str() => Some("is not a student"),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            any_problem = true;
            problems = problems.with_field(format!("user_ids[{index}]"), problem);
        }
    }
    if any_problem {
        return Err(problems);
    }
    let mut outcome = RosterAdded {
        added: Vec::new(),
        already: Vec::new(),
    };
    for user_id in body.user_ids {
        let (tenant, class, user) = (caller.tenant(), &class_id, &user_id);
        let added = with_new_link_code(|link_code| async move {
            store.add_to_roster(tenant, class, user, &link_code).await
        })
        .await?;
        app.hub()
            .rosters()
            .set_member(caller.tenant(), &class_id, &user_id, true);
        if added {
            let target = Target::class(&class_id).about(&user_id);
            audit::record(&app, &caller, "roster.added", target, None).await;
            outcome.added.push(user_id);
        } else {
            outcome.already.push(user_id);
        }
    }
    Ok(Json(outcome))
}

/// Take a student off the roster (its teacher, admins): their sockets leave the class room.
#[utoipa::path(delete, path = "/api/v1/classes/{id}/students/{user_id}", tag = "classes",
    params(("id" = String, Path, description = "class id"),
           ("user_id" = String, Path, description = "student id")),
    responses((status = 204, description = "removed"),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn remove_from_roster(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((class_id, user_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    let removed = app
        .store()
        .remove_from_roster(caller.tenant(), &class_id, &user_id)
        .await?;
    if !removed {
        return Err(ApiError::not_found("student on this roster"));
    }
    // The student's open connections leave the class room when they re-check.
    app.hub()
        .rosters()
        .set_member(caller.tenant(), &class_id, &user_id, false);
    tracing::info!(tenant = caller.tenant(), class = %class_id, user = %user_id, "removed from roster");
    let target = Target::class(&class_id).about(&user_id);
    audit::record(&app, &caller, "roster.removed", target, None).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Give a roster student a new personal link code (its teacher, admins): the old code stops
/// linking; Roblox accounts linked with it stay linked.
#[utoipa::path(post, path = "/api/v1/classes/{id}/students/{user_id}/link-code", tag = "classes",
    params(("id" = String, Path, description = "class id"),
           ("user_id" = String, Path, description = "student id")),
    responses((status = 200, description = "the roster entry with its new code", body = RosterMember),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn rotate_link_code(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((class_id, user_id)): ApiPath<(String, String)>,
) -> Result<Json<RosterMember>, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    let store = app.store();
    let (tenant, class, user) = (caller.tenant(), &class_id, &user_id);
    let member = with_new_link_code(|link_code| async move {
        store.set_link_code(tenant, class, user, &link_code).await
    })
    .await?
    .ok_or_else(|| ApiError::not_found("student on this roster"))?;
    tracing::info!(tenant = caller.tenant(), class = %class_id, user = %user_id, by = caller.user(), "link code rotated");
    let target = Target::class(&class_id).about(&user_id);
    audit::record(&app, &caller, "link_code.rotated", target, None).await;
    Ok(Json(member))
}

/// Runs `write` with a new personal link code, drawing another while the code is taken in the
/// class (a unique violation); five taken in a row is an internal error.
async fn with_new_link_code<T, F>(mut write: impl FnMut(String) -> F) -> Result<T, ApiError>
where
    F: Future<Output = Result<T, StoreError>>,
{
    for _ in 0..5 {
        match write(new_student_code()).await {
            Ok(written) => return Ok(written),
            Err(error) if error.is_unique_violation() => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(ApiError::internal("five link codes in a row were taken"))
}

/// Give the class a new code (its teacher, admins); the old one stops working.
#[utoipa::path(post, path = "/api/v1/classes/{id}/code", tag = "classes",
    params(("id" = String, Path, description = "class id")),
    responses((status = 200, body = ClassRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn regenerate_code(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
) -> Result<Json<ClassRecord>, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    for _ in 0..5 {
        match app
            .store()
            .set_class_code(caller.tenant(), &class_id, &new_class_code())
            .await
        {
            Ok(Some(class)) => {
                let target = Target::class(&class_id);
                audit::record(&app, &caller, "class_code.rotated", target, None).await;
                return Ok(Json(class));
            }
            Ok(None) => return Err(ApiError::not_found("class")),
            Err(error) if error.is_unique_violation() => continue,
            Err(error) => return Err(ApiError::internal(error)),
        }
    }
    Err(ApiError::internal("five class codes in a row were taken"))
}

/// Who is online in the class now (class room and linked game rooms), and each roster student's
/// progress (its teacher, admins).
#[utoipa::path(get, path = "/api/v1/classes/{id}/live", tag = "classes",
    params(("id" = String, Path, description = "class id")),
    responses((status = 200, body = LiveClass),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn live(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
) -> Result<Json<LiveClass>, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    let tenant = caller.tenant();
    let hub = app.hub();
    let class_room = RoomId::new(RoomKind::Class, tenant, &class_id, usize::MAX)
        .map_err(|_| ApiError::not_found("class"))?;
    let mut rooms = vec![class_room.clone()];
    for job in hub.rosters().games_of_class(tenant, &class_id) {
        if let Ok(room) = RoomId::new(RoomKind::Game, tenant, &job, usize::MAX) {
            rooms.push(room);
        }
    }
    let mut online = Vec::new();
    for room in &rooms {
        for member in hub.room_members(room) {
            online.push(LiveMember {
                user: member.user,
                name: member.name,
                role: member.role,
                room: room.to_string(),
                state: member.state,
            });
        }
    }
    let roster = all_roster(&app, tenant, &class_id).await?;
    let progress = app
        .store()
        .all_progress_of_class(tenant, &class_id, None)
        .await?;
    let mut by_student: HashMap<&str, (u64, u64, f64, i64)> = HashMap::new();
    for row in &progress {
        let entry = by_student.entry(row.user_id.as_str()).or_default();
        entry.0 += 1;
        if row.completion_percent >= 100.0 {
            entry.1 += 1;
        }
        entry.2 += row.completion_percent;
        entry.3 += row.time_spent_secs;
    }
    let online_users: BTreeMap<&str, ()> = online.iter().map(|m| (m.user.as_str(), ())).collect();
    let students = roster
        .iter()
        .map(|member| {
            let user = &member.user;
            let (started, completed, sum, time) = by_student
                .get(user.id.as_str())
                .copied()
                .unwrap_or_default();
            LiveStudent {
                user_id: user.id.clone(),
                display_name: user.display_name.clone(),
                link_code: member.link_code.clone(),
                online: online_users.contains_key(user.id.as_str()),
                lessons_started: started,
                lessons_completed: completed,
                average_completion: if started == 0 {
                    0.0
                } else {
                    sum / started as f64
                },
                time_spent_secs: time,
            }
        })
        .collect();
    Ok(Json(LiveClass {
        class_id,
        room: class_room.to_string(),
        online,
        students,
    }))
}

/// Every student on a roster, with their link codes (reports need all of them, not a page).
pub(crate) async fn all_roster(
    app: &AppState,
    tenant: &str,
    class_id: &str,
) -> Result<Vec<RosterMember>, ApiError> {
    let mut students = Vec::new();
    let mut page = Page {
        limit: 1000,
        after: None,
    };
    loop {
        let paged = app.store().roster(tenant, class_id, &page).await?;
        page.after = paged.items.last().map(|member| member.user.id.clone());
        let more = paged.has_more;
        students.extend(paged.items);
        if !more {
            return Ok(students);
        }
    }
}
