//! The Roblox routes under `/api/v1/roblox`, for game servers holding a game-server key
//! (`Authorization: Bearer chgk_…`): open and close game sessions, report players, link players
//! to roster students, ingest event batches (answered after commit), and long-poll for teacher
//! commands and acknowledge them. Shapes are in `roblox::wire`; state is in `crate::roblox`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use roblox::link::{LinkChoice, choose, normalize_code};
use roblox::wire::{
    AckAnswer, AckRequest, Candidate, CommandsAnswer, EventBatch, EventsAnswer, LinkAnswer,
    LinkRequest, OpenSession, PlayerLink, PlayersAnswer, PlayersBatch, PollSettings, SessionClosed,
    SessionOpened, check_id,
};
use serde::Deserialize;
use tokio::time::Instant;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::openapi::{Answer, ErrorResponse};
use crate::api::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorKind};
use crate::app::AppState;
use crate::roblox::{GameServerKey, GameSession, PlayerSeen, RobloxError};

/// The Roblox routes (documented in the OpenAPI document), with their body limit.
pub(crate) fn routes(max_body_bytes: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open_session))
        .routes(routes!(close_session))
        .routes(routes!(players))
        .routes(routes!(poll_commands))
        .routes(routes!(ack_commands))
        .routes(routes!(link))
        .routes(routes!(events))
        .layer(DefaultBodyLimit::max(max_body_bytes))
}

/// A request authenticated by a game-server key.
#[derive(Debug, Clone)]
pub struct GameServer(pub GameServerKey);

/// What the [`GameServer`] extractor answers on every Roblox route.
pub const GAME_SERVER_ANSWERS: &[Answer] = &[
    Answer {
        status: 401,
        when: "missing, unknown or revoked game-server key",
    },
    Answer {
        status: 503,
        when: "the database is unavailable; retry after `Retry-After`",
    },
];

impl FromRequestParts<AppState> for GameServer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |message: &str| ApiError::new(ErrorKind::Unauthorized, message);
        let token = crate::auth::bearer_token(&parts.headers).ok_or_else(|| {
            unauthorized(
                "send the game-server key as Authorization: Bearer chgk_… (make one with `classhub gamekey create`)",
            )
        })?;
        match app.roblox().authenticate(token).await {
            Ok(Some(key)) => Ok(GameServer(key)),
            Ok(None) => Err(unauthorized(
                "this game-server key is unknown or revoked; create a new one with `classhub gamekey create`",
            )),
            Err(cause) => Err(ApiError::internal(cause).with_retry_after(Duration::from_secs(1))),
        }
    }
}

impl From<RobloxError> for ApiError {
    fn from(error: RobloxError) -> ApiError {
        match error {
            RobloxError::Room(cause) => ApiError::invalid_field("job_id", cause.to_string()),
            RobloxError::Hub(cause) => ApiError::internal(cause),
            RobloxError::Store(cause) => ApiError::from(cause),
        }
    }
}

pub(crate) fn live_session(
    app: &AppState,
    key: &GameServerKey,
    id: &str,
) -> Result<Arc<GameSession>, ApiError> {
    let session = app.roblox().session(&key.tenant, id).ok_or_else(|| {
        ApiError::new(
            ErrorKind::NotFound,
            format!(
                "no live game session {id:?}; open one again with POST /api/v1/roblox/sessions (same job_id) and resend"
            ),
        )
    })?;
    session.touch();
    Ok(session)
}

/// Opens (or finds again) the game session of a Roblox server.
#[utoipa::path(
    post,
    path = "/api/v1/roblox/sessions",
    tag = "roblox",
    security(("game_key" = [])),
    request_body = OpenSession,
    responses(
        (status = 201, description = "opened", body = SessionOpened),
        (status = 200, description = "this JobId's session, already open", body = SessionOpened),
        (status = 401, description = "missing, unknown or revoked game-server key", body = ErrorResponse),
        (status = 403, description = "the key is limited to another universe", body = ErrorResponse),
        (status = 404, description = "no such class (code or id)", body = ErrorResponse),
        (status = 422, description = "invalid input", body = ErrorResponse),
    )
)]
async fn open_session(
    State(app): State<AppState>,
    GameServer(key): GameServer,
    ApiJson(request): ApiJson<OpenSession>,
) -> Result<(StatusCode, Json<SessionOpened>), ApiError> {
    check_id("job_id", &request.job_id)
        .map_err(|problem| ApiError::invalid_field("job_id", problem))?;
    if let Some(universe) = key.universe_id
        && universe != request.universe_id
    {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            format!(
                "this game-server key is for universe {universe}, not {}; use that universe's key",
                request.universe_id
            ),
        ));
    }
    let store = app.store();
    let class = match (&request.class_id, &request.class_code) {
        (Some(class_id), _) => Some(
            store
                .class_by_id(&key.tenant, class_id)
                .await?
                .ok_or_else(|| ApiError::not_found("class"))?,
        ),
        (None, Some(code)) => Some(
            store
                .class_by_code(&key.tenant, &normalize_code(code))
                .await?
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorKind::NotFound,
                        "no class has this class code; check the code the teacher shows",
                    )
                })?,
        ),
        (None, None) => None,
    };
    let (session, created) = app
        .roblox()
        .open_session(
            &key.tenant,
            request.universe_id,
            request.place_id,
            &request.job_id,
            class.map(|class| class.id),
        )
        .await?;
    let settings = app.roblox().settings();
    let answer = SessionOpened {
        session_id: session.id.clone(),
        room: session.room.to_string(),
        class_id: session.class_id.clone(),
        poll: PollSettings {
            wait_secs: settings.poll_wait.as_secs(),
            max_wait_secs: settings.poll_max_wait.as_secs(),
        },
        max_batch: settings.max_batch,
        topic: roblox::open_cloud::TOPIC.to_owned(),
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(answer)))
}

/// Closes a game session: its players leave, `game_sessions` records its end.
#[utoipa::path(
    delete,
    path = "/api/v1/roblox/sessions/{id}",
    tag = "roblox",
    security(("game_key" = [])),
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 200, description = "closed", body = SessionClosed),
        (status = 401, description = "missing, unknown or revoked game-server key", body = ErrorResponse),
        (status = 404, description = "no live session", body = ErrorResponse),
    )
)]
async fn close_session(
    State(app): State<AppState>,
    GameServer(key): GameServer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SessionClosed>, ApiError> {
    match app.roblox().close_session(&key.tenant, &id).await? {
        Some(closed) => Ok(Json(closed)),
        None => Err(ApiError::new(
            ErrorKind::NotFound,
            format!("no live game session {id:?} (already closed?)"),
        )),
    }
}

/// Reports players who joined or left the game server.
#[utoipa::path(
    post,
    path = "/api/v1/roblox/sessions/{id}/players",
    tag = "roblox",
    security(("game_key" = [])),
    params(("id" = String, Path, description = "session id")),
    request_body = PlayersBatch,
    responses(
        (status = 200, description = "joined players and their students", body = PlayersAnswer),
        (status = 401, description = "missing, unknown or revoked game-server key", body = ErrorResponse),
        (status = 404, description = "no live session: open it again", body = ErrorResponse),
        (status = 422, description = "invalid input", body = ErrorResponse),
    )
)]
async fn players(
    State(app): State<AppState>,
    GameServer(key): GameServer,
    ApiPath(id): ApiPath<String>,
    ApiJson(batch): ApiJson<PlayersBatch>,
) -> Result<Json<PlayersAnswer>, ApiError> {
    let session = live_session(&app, &key, &id)?;
    let seen: Vec<(i64, Option<String>)> = batch
        .joins
        .iter()
        .map(|player| {
            let name = player.display_name.clone().or_else(|| player.name.clone());
            (player.user_id, name)
        })
        .collect();
    let linked = if seen.is_empty() {
        HashMap::new()
    } else {
        app.store().see_roblox_players(&key.tenant, &seen).await?
    };
    let leaves: Vec<i64> = batch.leaves.iter().map(|player| player.user_id).collect();
    session.leave_players(&leaves);
    let joined: Vec<PlayerSeen> = batch
        .joins
        .into_iter()
        .map(|player| PlayerSeen {
            student: linked.get(&player.user_id).cloned(),
            user_id: player.user_id,
            name: player.name,
            display_name: player.display_name,
        })
        .collect();
    for player in &joined {
        if player.display_name.is_none() && player.name.is_none() {
            app.roblox().refresh_name(&session, player.user_id);
        }
    }
    let answer = joined
        .iter()
        .map(|player| PlayerLink {
            user_id: player.user_id,
            student_id: player.student.clone(),
        })
        .collect();
    session
        .join_players(app.hub(), joined)
        .map_err(ApiError::internal)?;
    Ok(Json(PlayersAnswer { players: answer }))
}

/// Links a Roblox player to a roster student by class code.
#[utoipa::path(
    post,
    path = "/api/v1/roblox/link",
    tag = "roblox",
    security(("game_key" = [])),
    request_body = LinkRequest,
    responses(
        (status = 200, description = "linked, or candidates to pick from", body = LinkAnswer),
        (status = 401, description = "missing, unknown or revoked game-server key", body = ErrorResponse),
        (status = 404, description = "unknown class code, or a student not on the roster", body = ErrorResponse),
        (status = 429, description = "too many attempts; see Retry-After", body = ErrorResponse),
    )
)]
async fn link(
    State(app): State<AppState>,
    GameServer(key): GameServer,
    ApiJson(request): ApiJson<LinkRequest>,
) -> Result<Json<LinkAnswer>, ApiError> {
    app.roblox()
        .check_link_rate(&key, request.user_id)
        .map_err(|wait| {
            ApiError::new(
                ErrorKind::RateLimited,
                "too many link attempts for this player; wait and try again",
            )
            .with_retry_after(wait)
        })?;
    let store = app.store();
    let code = normalize_code(&request.class_code);
    let class = store
        .class_by_code(&key.tenant, &code)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotFound,
                "no class has this class code; check the code the teacher shows",
            )
        })?;
    let roster: Vec<Candidate> = store
        .roster_students(&key.tenant, &class.id)
        .await?
        .into_iter()
        .map(|student| Candidate {
            student_id: student.user_id,
            display_name: student.display_name,
        })
        .collect();
    let names: Vec<&str> = [request.name.as_deref(), request.display_name.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let student = match choose(&roster, request.student_id.as_deref(), &names) {
        LinkChoice::Student(student) => student,
        LinkChoice::Choose(candidates) => {
            return Ok(Json(LinkAnswer::Choose {
                linked: false,
                candidates,
            }));
        }
        LinkChoice::NotOnRoster => {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                "that student is not on this class's roster; pick one of the candidates",
            ));
        }
    };
    let roblox_name = request.display_name.as_deref().or(request.name.as_deref());
    store
        .link_roblox_player(
            &key.tenant,
            request.user_id,
            &student.student_id,
            roblox_name,
        )
        .await?;
    // A player already in a live session moves its presence to the student at once.
    if let Some(session) = request
        .session_id
        .as_deref()
        .and_then(|id| app.roblox().session(&key.tenant, id))
    {
        session.touch();
        if session.class_id.as_deref() == Some(class.id.as_str()) {
            session.add_to_roster(&student.student_id);
        }
        // A player not reported yet (its join still queued in the SDK) is added now, so
        // commands for the student reach this server at once.
        let player = session
            .player(request.user_id)
            .unwrap_or_else(|| PlayerSeen {
                user_id: request.user_id,
                name: request.name.clone(),
                display_name: request.display_name.clone(),
                student: None,
            });
        let player = PlayerSeen {
            student: Some(student.student_id.clone()),
            ..player
        };
        session
            .join_players(app.hub(), vec![player])
            .map_err(ApiError::internal)?;
    }
    Ok(Json(LinkAnswer::Linked {
        linked: true,
        student_id: student.student_id,
        display_name: student.display_name,
        class_id: class.id,
    }))
}

/// Takes a batch of game events; answers after the accepted ones are committed.
#[utoipa::path(
    post,
    path = "/api/v1/roblox/events",
    tag = "roblox",
    security(("game_key" = [])),
    request_body = EventBatch,
    responses(
        (status = 200, description = "accepted ids (committed) and rejected ones with reasons", body = EventsAnswer),
        (status = 401, description = "missing, unknown or revoked game-server key", body = ErrorResponse),
        (status = 404, description = "no live session: open it again and resend", body = ErrorResponse),
        (status = 413, description = "more events than the batch limit", body = ErrorResponse),
        (status = 503, description = "queue full or commit late: resend the same batch after Retry-After", body = ErrorResponse),
    )
)]
async fn events(
    State(app): State<AppState>,
    GameServer(key): GameServer,
    ApiJson(batch): ApiJson<EventBatch>,
) -> Result<Json<EventsAnswer>, ApiError> {
    Ok(Json(super::ingest::ingest_batch(&app, &key, batch).await?))
}

/// `?after=<cursor>&wait=<seconds>`; both optional, doubles accepted.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PollQuery {
    /// The cursor of the last answer (0 or absent: from the start).
    #[serde(default)]
    after: Option<f64>,
    /// Seconds to hold when nothing waits (at most the server's maximum, 25 by default).
    #[serde(default)]
    wait: Option<f64>,
}

/// Long-polls for teacher commands.
#[utoipa::path(
    get,
    path = "/api/v1/roblox/sessions/{id}/commands",
    tag = "roblox",
    security(("game_key" = [])),
    params(("id" = String, Path, description = "session id"), PollQuery),
    responses(
        (status = 200, description = "commands to carry out (empty when the wait ended)", body = CommandsAnswer),
        (status = 401, description = "missing, unknown or revoked game-server key", body = ErrorResponse),
        (status = 404, description = "no live session: open it again", body = ErrorResponse),
    )
)]
async fn poll_commands(
    State(app): State<AppState>,
    GameServer(key): GameServer,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PollQuery>,
) -> Result<Json<CommandsAnswer>, ApiError> {
    let session = live_session(&app, &key, &id)?;
    let settings = app.roblox().settings();
    let after = query
        .after
        .filter(|after| after.is_finite() && *after >= 0.0)
        .map_or(0, |after| after as u64);
    let wait = query
        .wait
        .filter(|wait| wait.is_finite() && *wait >= 0.0)
        .map_or(settings.poll_wait, Duration::from_secs_f64)
        .min(settings.poll_max_wait);
    let deadline = Instant::now() + wait;
    loop {
        let arrived = session.mailbox.arrived();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        let taken = session.mailbox.take(after, Instant::now());
        if !taken.commands.is_empty() || Instant::now() >= deadline {
            for (command, origin) in &taken.first_deliveries {
                app.roblox()
                    .publish_status(&session, command, origin, "delivered");
            }
            session.touch();
            return Ok(Json(CommandsAnswer {
                commands: taken.commands,
                cursor: taken.cursor,
            }));
        }
        let wake_at = taken.next_due.map_or(deadline, |due| due.min(deadline));
        tokio::select! {
            _ = &mut arrived => {}
            _ = tokio::time::sleep_until(wake_at) => {}
            _ = session.closed() => {
                return Ok(Json(CommandsAnswer { commands: Vec::new(), cursor: taken.cursor }));
            }
        }
    }
}

/// Acknowledges commands carried out.
#[utoipa::path(
    post,
    path = "/api/v1/roblox/sessions/{id}/commands/ack",
    tag = "roblox",
    security(("game_key" = [])),
    params(("id" = String, Path, description = "session id")),
    request_body = AckRequest,
    responses(
        (status = 200, description = "acknowledged and unknown ids", body = AckAnswer),
        (status = 401, description = "missing, unknown or revoked game-server key", body = ErrorResponse),
        (status = 404, description = "no live session", body = ErrorResponse),
    )
)]
async fn ack_commands(
    State(app): State<AppState>,
    GameServer(key): GameServer,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<AckRequest>,
) -> Result<Json<AckAnswer>, ApiError> {
    let session = live_session(&app, &key, &id)?;
    let (acked, again, unknown) = session.mailbox.ack(&request.ids);
    let mut ids = again;
    for entry in acked {
        app.roblox()
            .publish_status(&session, &entry.command, &entry.origin, "acked");
        ids.push(entry.command.id);
    }
    Ok(Json(AckAnswer {
        acked: ids,
        unknown,
    }))
}
