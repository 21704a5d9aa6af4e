//! Class chat over REST: members page a class's messages and send one (the same rule as `/ws`,
//! `super::admit`); the class's teacher (and admins) list held messages, release or delete
//! one, mute a student for a time and set slow mode; admins keep the school's blocklist. Every
//! change is written to the database first, then to [`super::ChatRules`], then told to the room
//! (`chat_settings`, `chat_deleted`, `chat_released`), and audited.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use persistence::{ChatMute, ChatRecord};
use protocol::{RoomId, RoomKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{MAX_BLOCKED_CHARS, MAX_MUTE_MINUTES, MAX_SLOW_SECONDS};
use crate::api::openapi::ErrorResponse;
use crate::api::{
    ApiError, ApiJson, ApiPath, ApiQuery, Caller, ErrorKind, PageOf, PageQuery, page_of,
};
use crate::app::AppState;
use crate::auth::Role;
use crate::hub::{Published, TrustedEvent};
use crate::platform::audit::{self, Target};
use crate::platform::classes::{Access, load_class};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_messages, send_message))
        .routes(routes!(list_held))
        .routes(routes!(release_message))
        .routes(routes!(delete_message))
        .routes(routes!(chat_settings, set_chat_settings))
        .routes(routes!(mute, unmute))
        .routes(routes!(blocklist, set_blocklist))
}

/// One chat message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatLine {
    /// The message id (`DELETE` takes it).
    id: String,
    /// Who sent it.
    from: String,
    /// What they wrote.
    text: String,
    /// When the server took it (ISO-8601, UTC).
    sent_at: String,
    /// Why it was held (held messages only).
    #[serde(skip_serializing_if = "Option::is_none")]
    reasons: Option<Vec<String>>,
}

impl From<ChatRecord> for ChatLine {
    fn from(record: ChatRecord) -> ChatLine {
        let data: Value = serde_json::from_str(&record.data).unwrap_or_default();
        let text = data["text"].as_str().unwrap_or_default().to_owned();
        let reasons = (record.kind == "chat_held").then(|| {
            data["reasons"]
                .as_array()
                .map(|reasons| {
                    reasons
                        .iter()
                        .filter_map(|reason| reason.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        });
        ChatLine {
            id: record.id,
            from: record.sender,
            text,
            sent_at: record.sent_at,
            reasons,
        }
    }
}

/// A message to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    /// 1..=`--chat-max-chars` characters.
    text: String,
    /// Your id for it (1–64 bytes): sending it again shows it once.
    #[serde(default)]
    id: Option<String>,
}

/// What became of a sent message.
#[derive(Debug, Serialize, ToSchema)]
struct SentMessage {
    /// The message id.
    id: String,
    /// Its seq in the class room.
    seq: u64,
    /// `shown`, or `held` for the teacher.
    state: &'static str,
    /// Why it was held.
    #[serde(skip_serializing_if = "Option::is_none")]
    reasons: Option<Vec<String>>,
}

/// A class's chat rules.
#[derive(Debug, Serialize, ToSchema)]
struct ChatSettingsView {
    /// Slow mode: a student may send one message every this many seconds (0: off).
    slow_mode_seconds: u32,
    /// Students muted now (staff see every one; a student sees only their own).
    mutes: Vec<MuteView>,
}

/// A muted student.
#[derive(Debug, Serialize, ToSchema)]
struct MuteView {
    /// The student.
    user_id: String,
    /// Until when (Unix milliseconds).
    until_ms: i64,
}

/// Set slow mode.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewChatSettings {
    /// Seconds between a student's messages, 0 (off) to 3600.
    #[schema(minimum = 0, maximum = 3600)]
    slow_mode_seconds: i64,
}

/// Mute a student.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewMute {
    /// For how long, 1 to 10080 minutes (a week).
    #[schema(minimum = 1, maximum = 10080)]
    minutes: i64,
}

/// A school's blocked words and phrases.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Blocklist {
    /// Matched as whole words, whatever their case; each 1–64 characters, at most
    /// `--chat-blocklist-max-words` of them.
    words: Vec<String>,
}

/// The class room of a class.
fn class_room(caller: &Caller, class_id: &str) -> Result<RoomId, ApiError> {
    RoomId::new(RoomKind::Class, caller.tenant(), class_id, usize::MAX).map_err(ApiError::internal)
}

/// Page a class's chat, newest first (its members: teacher, admins, students on the roster).
#[utoipa::path(get, path = "/api/v1/classes/{id}/chat", tag = "chat",
    params(("id" = String, Path, description = "class id"), PageQuery),
    responses((status = 200, body = PageOf<ChatLine>),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn list_messages(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<ChatLine>>, ApiError> {
    load_class(&app, &caller, &class_id, Access::View).await?;
    let room = class_room(&caller, &class_id)?;
    let paged = app
        .store()
        .chat_messages(caller.tenant(), &room.to_string(), "chat", &query.page()?)
        .await?;
    Ok(Json(page_of(paged, |row| row.row_id, ChatLine::from)))
}

/// Send a message to a class's chat: the same rules as `/ws` (mute, slow mode, rate, the
/// blocklist, moderation). A flagged message is held for the teacher (`state: held`).
#[utoipa::path(post, path = "/api/v1/classes/{id}/chat", tag = "chat", request_body = NewMessage,
    params(("id" = String, Path, description = "class id")),
    responses((status = 201, body = SentMessage),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse), (status = 429, body = ErrorResponse),
              (status = 503, body = ErrorResponse)))]
async fn send_message(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
    ApiJson(message): ApiJson<NewMessage>,
) -> Result<(StatusCode, Json<SentMessage>), ApiError> {
    load_class(&app, &caller, &class_id, Access::View).await?;
    let room = class_room(&caller, &class_id)?;
    let data = json!({"text": message.text});
    let sent = async {
        // No socket on this door: a student on the roster may chat without joining.
        let draft =
            app.chat()
                .admit(&app, &caller.0, &room, &data, (message.id.as_deref(), true))?;
        let draft = super::screen(&app, draft).await?;
        super::post(&app, draft)
    }
    .await;
    let posted = sent.inspect_err(super::refused)?;
    let seq = posted.published.seq;
    committed(
        &app,
        posted.published,
        "the message was shown but is not stored yet (the database is slow or down); send it again with the same id",
    )
    .await?;
    let state = if posted.held.is_some() {
        "held"
    } else {
        "shown"
    };
    Ok((
        StatusCode::CREATED,
        Json(SentMessage {
            id: posted.id,
            seq,
            state,
            reasons: posted.held,
        }),
    ))
}

/// Messages held for the teacher, newest first (the class's teacher, admins).
#[utoipa::path(get, path = "/api/v1/classes/{id}/chat/held", tag = "chat",
    params(("id" = String, Path, description = "class id"), PageQuery),
    responses((status = 200, body = PageOf<ChatLine>),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn list_held(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<ChatLine>>, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    let room = class_room(&caller, &class_id)?;
    let paged = app
        .store()
        .chat_messages(
            caller.tenant(),
            &room.to_string(),
            "chat_held",
            &query.page()?,
        )
        .await?;
    Ok(Json(page_of(paged, |row| row.row_id, ChatLine::from)))
}

/// Waits for a published event's commit (up to `--roblox-ack-timeout`); 503 with `unstored`
/// when it does not come.
async fn committed(app: &AppState, published: Published, unstored: &str) -> Result<(), ApiError> {
    let Some(ack) = published.ack else {
        return Ok(());
    };
    let timeout = app.roblox().settings().ack_timeout;
    if matches!(tokio::time::timeout(timeout, ack).await, Ok(Ok(Ok(())))) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorKind::Unavailable, unstored)
            .with_retry_after(std::time::Duration::from_secs(1)))
    }
}

/// A stored message of the class, shown or held, or 404.
async fn stored_message(
    app: &AppState,
    caller: &Caller,
    room: &RoomId,
    message_id: &str,
) -> Result<ChatRecord, ApiError> {
    app.store()
        .chat_message(caller.tenant(), &room.to_string(), message_id)
        .await?
        .ok_or_else(|| ApiError::not_found("chat message"))
}

/// Show a held message to the class, as its sender wrote it (the class's teacher, admins).
#[utoipa::path(post, path = "/api/v1/classes/{id}/chat/held/{message_id}/release", tag = "chat",
    params(("id" = String, Path, description = "class id"),
           ("message_id" = String, Path, description = "message id")),
    responses((status = 200, body = ChatLine),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 503, body = ErrorResponse)))]
async fn release_message(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((class_id, message_id)): ApiPath<(String, String)>,
) -> Result<Json<ChatLine>, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    let room = class_room(&caller, &class_id)?;
    let record = stored_message(&app, &caller, &room, &message_id).await?;
    if record.kind != "chat_held" {
        return Err(ApiError::not_found("held chat message"));
    }
    let mut line = ChatLine::from(record);
    let held_id = format!("held:{message_id}");
    app.hub().retract(&room, &[&held_id]);
    let released = TrustedEvent {
        id: format!("released:{message_id}"),
        sender: caller.user().to_owned(),
        kind: "chat_released".into(),
        data: json!({"id": message_id}),
        answer: None,
    };
    let shown = TrustedEvent {
        id: message_id.clone(),
        sender: line.from.clone(),
        kind: "chat".into(),
        data: json!({"text": line.text}),
        answer: None,
    };
    let released = super::publish(&app, &room, released)?;
    let shown = super::publish(&app, &room, shown)?;
    let unstored = "the message was shown but its release is not stored yet; release it again";
    committed(&app, released, unstored).await?;
    committed(&app, shown, unstored).await?;
    metrics::counter!("classhub_chat_messages_total", "outcome" => "released").increment(1);
    audit::record(
        &app,
        &caller,
        "chat.released",
        Target::class(&class_id).about(&line.from),
        Some(json!({"message": message_id, "reasons": line.reasons})),
    )
    .await;
    line.reasons = None;
    Ok(Json(line))
}

/// Delete a message, shown or held: it leaves every screen (a `chat_deleted` event), the
/// room's history and storage (the class's teacher, admins).
#[utoipa::path(delete, path = "/api/v1/classes/{id}/chat/{message_id}", tag = "chat",
    params(("id" = String, Path, description = "class id"),
           ("message_id" = String, Path, description = "message id")),
    responses((status = 204, description = "deleted"),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 503, body = ErrorResponse)))]
async fn delete_message(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((class_id, message_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    let room = class_room(&caller, &class_id)?;
    let record = stored_message(&app, &caller, &room, &message_id).await?;
    let held_id = format!("held:{message_id}");
    app.hub().retract(&room, &[&message_id, &held_id]);
    let tombstone = TrustedEvent {
        id: format!("deleted:{message_id}"),
        sender: caller.user().to_owned(),
        kind: "chat_deleted".into(),
        data: json!({"id": message_id}),
        answer: None,
    };
    committed(
        &app,
        super::publish(&app, &room, tombstone)?,
        "the message left every screen but is not deleted from storage yet; delete it again",
    )
    .await?;
    metrics::counter!("classhub_chat_messages_total", "outcome" => "deleted").increment(1);
    audit::record(
        &app,
        &caller,
        "chat.deleted",
        Target::class(&class_id).about(&record.sender),
        Some(json!({"message": message_id})),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// A class's chat rules: slow mode and who is muted (members; a student sees only their own
/// mute).
#[utoipa::path(get, path = "/api/v1/classes/{id}/chat/settings", tag = "chat",
    params(("id" = String, Path, description = "class id")),
    responses((status = 200, body = ChatSettingsView),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn chat_settings(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
) -> Result<Json<ChatSettingsView>, ApiError> {
    load_class(&app, &caller, &class_id, Access::View).await?;
    Ok(Json(settings_view(&app, &caller, &class_id)))
}

fn settings_view(app: &AppState, caller: &Caller, class_id: &str) -> ChatSettingsView {
    let rules = app.chat();
    let mutes = rules
        .mutes_of(caller.tenant(), class_id)
        .into_iter()
        .filter(|(user, _)| caller.is_staff() || user == caller.user())
        .map(|(user_id, until_ms)| MuteView { user_id, until_ms })
        .collect();
    ChatSettingsView {
        slow_mode_seconds: rules.slow_mode(caller.tenant(), class_id).unwrap_or(0),
        mutes,
    }
}

/// Set slow mode (the class's teacher, admins); the room is told (`chat_settings`).
#[utoipa::path(put, path = "/api/v1/classes/{id}/chat/settings", tag = "chat",
    request_body = NewChatSettings,
    params(("id" = String, Path, description = "class id")),
    responses((status = 200, body = ChatSettingsView),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn set_chat_settings(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
    ApiJson(settings): ApiJson<NewChatSettings>,
) -> Result<Json<ChatSettingsView>, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    let seconds = u32::try_from(settings.slow_mode_seconds)
        .ok()
        .filter(|seconds| *seconds <= MAX_SLOW_SECONDS)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "slow_mode_seconds",
                format!("must be 0 (off) to {MAX_SLOW_SECONDS}"),
            )
        })?;
    app.store()
        .set_chat_slow_mode(caller.tenant(), &class_id, seconds)
        .await?;
    app.chat()
        .set_slow_mode(caller.tenant(), &class_id, seconds);
    let room = class_room(&caller, &class_id)?;
    app.hub().publish_system(
        &room,
        caller.user(),
        "chat_settings".into(),
        json!({"slow_mode_seconds": seconds}),
    );
    audit::record(
        &app,
        &caller,
        "chat.settings",
        Target::class(&class_id),
        Some(json!({"slow_mode_seconds": seconds})),
    )
    .await;
    Ok(Json(settings_view(&app, &caller, &class_id)))
}

/// Mute a student in a class's chat for a time (the class's teacher, admins).
#[utoipa::path(put, path = "/api/v1/classes/{id}/chat/mutes/{user_id}", tag = "chat",
    request_body = NewMute,
    params(("id" = String, Path, description = "class id"),
           ("user_id" = String, Path, description = "the student")),
    responses((status = 200, body = MuteView),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn mute(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((class_id, user_id)): ApiPath<(String, String)>,
    ApiJson(mute): ApiJson<NewMute>,
) -> Result<Json<MuteView>, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    let minutes = u32::try_from(mute.minutes)
        .ok()
        .filter(|minutes| (1..=MAX_MUTE_MINUTES).contains(minutes))
        .ok_or_else(|| {
            ApiError::invalid_field("minutes", format!("must be 1 to {MAX_MUTE_MINUTES}"))
        })?;
    let student = app.store().user(caller.tenant(), &user_id).await?;
    let is_student = student.is_some_and(|student| student.role == Role::Student.as_str());
    if !is_student {
        return Err(ApiError::not_found("student"));
    }
    let until_ms = super::now_ms() + i64::from(minutes) * 60_000;
    let record = ChatMute {
        tenant_id: caller.tenant().to_owned(),
        class_id: class_id.clone(),
        user_id: user_id.clone(),
        until_ms,
    };
    app.store().set_chat_mute(&record, caller.user()).await?;
    app.chat()
        .set_mute(caller.tenant(), &class_id, &user_id, Some(until_ms));
    audit::record(
        &app,
        &caller,
        "chat.muted",
        Target::class(&class_id).about(&user_id),
        Some(json!({"minutes": minutes})),
    )
    .await;
    Ok(Json(MuteView { user_id, until_ms }))
}

/// Lift a student's mute (the class's teacher, admins).
#[utoipa::path(delete, path = "/api/v1/classes/{id}/chat/mutes/{user_id}", tag = "chat",
    params(("id" = String, Path, description = "class id"),
           ("user_id" = String, Path, description = "the student")),
    responses((status = 204, description = "lifted"),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn unmute(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((class_id, user_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    if !app
        .store()
        .clear_chat_mute(caller.tenant(), &class_id, &user_id)
        .await?
    {
        return Err(ApiError::not_found("mute"));
    }
    app.chat()
        .set_mute(caller.tenant(), &class_id, &user_id, None);
    audit::record(
        &app,
        &caller,
        "chat.unmuted",
        Target::class(&class_id).about(&user_id),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The school's blocked words (admins).
#[utoipa::path(get, path = "/api/v1/chat/blocklist", tag = "chat",
    responses((status = 200, body = Blocklist), (status = 403, body = ErrorResponse)))]
async fn blocklist(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Blocklist>, ApiError> {
    caller.require_admin("read the chat blocklist")?;
    Ok(Json(Blocklist {
        words: app.chat().blocklist(caller.tenant()),
    }))
}

/// Replace the school's blocked words (admins): a student's message containing one is held
/// for the teacher.
#[utoipa::path(put, path = "/api/v1/chat/blocklist", tag = "chat", request_body = Blocklist,
    responses((status = 200, body = Blocklist), (status = 403, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn set_blocklist(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(list): ApiJson<Blocklist>,
) -> Result<Json<Blocklist>, ApiError> {
    caller.require_admin("change the chat blocklist")?;
    let most = app.chat().settings().blocklist_max_words;
    if list.words.len() > most {
        return Err(ApiError::invalid_field(
            "words",
            format!(
                "{} entries; at most {most} (--chat-blocklist-max-words)",
                list.words.len()
            ),
        ));
    }
    let mut words: Vec<String> = Vec::with_capacity(list.words.len());
    for word in &list.words {
        let word = word.trim().to_lowercase();
        let chars = word.chars().count();
        if chars == 0 || chars > MAX_BLOCKED_CHARS || word.contains(char::is_control) {
            return Err(ApiError::invalid_field(
                "words",
                format!(
                    "each entry must be 1–{MAX_BLOCKED_CHARS} characters without control characters"
                ),
            ));
        }
        if !words.contains(&word) {
            words.push(word);
        }
    }
    app.store()
        .set_chat_blocklist(caller.tenant(), &words, caller.user())
        .await?;
    app.chat().set_blocklist(caller.tenant(), words.clone());
    audit::record(
        &app,
        &caller,
        "chat.blocklist",
        Target {
            kind: "tenant",
            id: caller.tenant(),
            student: None,
        },
        Some(json!({"words": words.len()})),
    )
    .await;
    Ok(Json(Blocklist { words }))
}
