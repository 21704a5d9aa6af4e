//! `POST /api/v1/classes/{id}/commands`: a class's teacher (or an admin) sends a command (`announce`,
//! `quiz`, `reward`, `freeze`, `unfreeze`, `teleport`) to a whole class or one student. It is
//! published into the class room as a `command` frame, so the teachers watching see it at once
//! and every game session linked to the class gets it in its mailbox (delivery statuses come
//! back to the room as `command_status` events). The same happens for a native `publish` of a
//! command kind into the room.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use protocol::{CommandKind, RoomId, RoomKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::classes::{Access, load_class};
use crate::api::openapi::ErrorResponse;
use crate::api::rules::documented;
use crate::api::{ApiError, ApiJson, ApiPath, Caller};
use crate::app::AppState;
use crate::platform::audit::{self, Target};

documented!(
    /// A command kind (`CommandKind::ALL`).
    CommandKindName = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(CommandKind::ALL.map(CommandKind::as_str)))
);

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CommandRequest {
    /// The command kind.
    #[schema(value_type = CommandKindName)]
    pub kind: String,
    /// Its data (see `roblox::wire::PolledCommand`); `[]` reads as `{}`.
    #[serde(default, deserialize_with = "protocol::optional_object_or_empty_array")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    /// One student to address; absent for the whole class.
    #[serde(default)]
    pub student_id: Option<String>,
}

/// The answer (202: sent; game servers acknowledge later).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CommandSent {
    /// The command id; `command_status` events in the class room carry it.
    pub command_id: String,
    /// The class room it was published to.
    pub room: String,
    /// Its sequence number there.
    pub seq: u64,
    /// Live game sessions linked to the class (each gets the command).
    pub game_sessions: usize,
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(send))
}

/// Sends a command to a class or one of its students (the class's teacher, admins).
#[utoipa::path(
    post,
    path = "/api/v1/classes/{id}/commands",
    tag = "commands",
    params(("id" = String, Path, description = "class id")),
    request_body = CommandRequest,
    responses(
        (status = 202, description = "sent; game servers acknowledge later", body = CommandSent),
        (status = 403, description = "not this class's teacher or an admin", body = ErrorResponse),
        (status = 404, description = "no such class in your tenant", body = ErrorResponse),
        (status = 422, description = "unknown kind, invalid data, or a student not on the roster", body = ErrorResponse),
    )
)]
async fn send(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
    ApiJson(request): ApiJson<CommandRequest>,
) -> Result<(StatusCode, Json<CommandSent>), ApiError> {
    let class = load_class(&app, &caller, &class_id, Access::Manage).await?;
    let kind = CommandKind::parse(&request.kind).ok_or_else(|| {
        let kinds: Vec<&str> = CommandKind::ALL.iter().map(|kind| kind.as_str()).collect();
        ApiError::invalid_field("kind", format!("must be one of {}", kinds.join(", ")))
    })?;
    let mut data = request
        .data
        .unwrap_or_else(|| Value::Object(Default::default()));
    if let (Some(student), Some(fields)) = (&request.student_id, data.as_object_mut()) {
        fields.insert("target".into(), Value::String(student.clone()));
    }
    kind.validate(&data)
        .map_err(|problem| ApiError::invalid_field("data", problem))?;
    let tenant = caller.tenant();
    if let Some(student) = &request.student_id {
        let on_roster = app.store().is_on_roster(tenant, &class.id, student).await?;
        if !on_roster {
            return Err(ApiError::invalid_field(
                "student_id",
                "not a student on this class's roster",
            ));
        }
    }
    let max_len = app.hub().settings().limits.max_room_id_len;
    let room = RoomId::new(RoomKind::Class, tenant, &class.id, max_len)
        .map_err(|cause| ApiError::invalid_field("id", cause.to_string()))?;
    let reward = (kind == CommandKind::Reward).then(|| data.clone());
    let (seq, command_id) =
        app.hub()
            .publish_system(&room, caller.user(), kind.as_str().to_owned(), data);
    if let (Some(data), Some(command_id)) = (reward, &command_id) {
        crate::platform::rewards::record_command(
            &app,
            tenant,
            Some(&class.id),
            caller.user(),
            command_id,
            &data,
        )
        .await;
    }
    let game_sessions = app.roblox().sessions_of_class(tenant, &class.id).len();
    let target = match &request.student_id {
        Some(student) => Target::class(&class.id).about(student),
        None => Target::class(&class.id),
    };
    let detail = serde_json::json!({"kind": kind.as_str(), "seq": seq});
    audit::record(&app, &caller, "command.sent", target, Some(detail)).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(CommandSent {
            command_id: command_id.unwrap_or_default(),
            room: room.to_string(),
            seq,
            game_sessions,
        }),
    ))
}
