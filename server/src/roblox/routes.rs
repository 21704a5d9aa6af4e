//! The Roblox routes under `/api/v1/roblox`, for game servers holding a game-server key
//! (`Authorization: Bearer chgk_…`): open and close game sessions, report players, link players
//! to roster students, ingest event batches (answered after commit), and long-poll for teacher
//! commands and acknowledge them, and read assigned lessons (`ETag` / `If-None-Match`). Each handler parses, authenticates the key ([`GameServer`]),
//! calls one function of [`super::sessions`], [`super::linking`], [`super::ingest`],
//! [`super::commands`] or [`super::content`] and answers. Shapes are in `roblox::wire`.

use axum::Json;

use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use roblox::wire::{
    AckAnswer, AckRequest, CommandsAnswer, EventBatch, EventsAnswer, LinkAnswer, LinkRequest,
    OpenSession, PlayersAnswer, PlayersBatch, SessionClosed, SessionOpened,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::openapi::{Answer, ErrorResponse};
use crate::api::{ApiError, ApiJson, ApiJsonItems, ApiPath, ApiQuery, ClientIp, ErrorKind};
use crate::app::AppState;
use crate::roblox::{GameServerKey, RobloxError};

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
        .routes(routes!(lesson))
        .routes(routes!(player_stats))
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
        status: 429,
        when: "too many unknown keys from this address (its per-IP budget); wait for `Retry-After`",
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
            Ok(None) => {
                // Failed look-ups spend the caller's per-IP REST budget: a flood of made-up
                // keys gets 429, not an unbounded stream of 401s and database reads.
                let ClientIp(client) = ClientIp::from_request_parts(parts, app).await?;
                app.api_limiters().check_ip(client)?;
                Err(unauthorized(
                    "this game-server key is unknown or revoked; create a new one with `classhub gamekey create`",
                ))
            }
            Err(cause) => Err(ApiError::from(cause)),
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
    let (answer, created) = super::sessions::open(&app, &key, request).await?;
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
    let answer = super::sessions::report_players(&app, &key, &id, batch).await?;
    Ok(Json(answer))
}

/// Links a Roblox player to a roster student by the class code and the student's personal
/// link code. Every attempt counts against the player's link rate limit.
#[utoipa::path(
    post,
    path = "/api/v1/roblox/link",
    tag = "roblox",
    security(("game_key" = [])),
    request_body = LinkRequest,
    responses(
        (status = 200, description = "linked (or already linked) to the student", body = LinkAnswer),
        (status = 404, description = "no class has this class code", body = ErrorResponse),
        (status = 422, description = "a field is wrong: e.g. student_code missing, malformed, or no code of this class's roster", body = ErrorResponse),
        (status = 429, description = "too many attempts; see Retry-After", body = ErrorResponse),
    )
)]
async fn link(
    State(app): State<AppState>,
    GameServer(key): GameServer,
    ApiJson(request): ApiJson<LinkRequest>,
) -> Result<Json<LinkAnswer>, ApiError> {
    Ok(Json(
        super::linking::link_player(&app, &key, request).await?,
    ))
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
        (status = 404, description = "no live session: open it again and resend", body = ErrorResponse),
        (status = 413, description = "more events than the batch limit", body = ErrorResponse),
        (status = 503, description = "queue full or commit late: resend the same batch after Retry-After", body = ErrorResponse),
    )
)]
async fn events(
    State(app): State<AppState>,
    GameServer(key): GameServer,
    ApiJsonItems(batch): ApiJsonItems<EventBatch>,
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
        (status = 404, description = "no live session: open it again", body = ErrorResponse),
    )
)]
async fn poll_commands(
    State(app): State<AppState>,
    GameServer(key): GameServer,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PollQuery>,
) -> Result<Json<CommandsAnswer>, ApiError> {
    let answer = super::commands::poll(&app, &key, &id, query.after, query.wait).await?;
    Ok(Json(answer))
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
        (status = 404, description = "no live session", body = ErrorResponse),
    )
)]
async fn ack_commands(
    State(app): State<AppState>,
    GameServer(key): GameServer,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<AckRequest>,
) -> Result<Json<AckAnswer>, ApiError> {
    Ok(Json(super::commands::ack(&app, &key, &id, &request.ids)?))
}

/// Whether an `If-None-Match` header names `etag` (or is `*`).
fn matches_etag(headers: &axum::http::HeaderMap, etag: &str) -> bool {
    headers
        .get_all(axum::http::header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

/// Reads a published lesson assigned to a class, with its assessments' questions (never the
/// answer key). Send the `ETag` back as `If-None-Match`: an unchanged lesson answers 304.
#[utoipa::path(
    get,
    path = "/api/v1/roblox/lessons/{id}",
    tag = "roblox",
    security(("game_key" = [])),
    params(("id" = String, Path, description = "lesson id"),
           ("If-None-Match" = Option<String>, Header, description = "the ETag of the copy the game holds")),
    responses(
        (status = 200, description = "`{lesson, course, assessments: [{id, title, questions, max_score}]}`, with an ETag", body = Object),
        (status = 304, description = "unchanged since the ETag sent"),
        (status = 403, description = "the lesson is not assigned to any class", body = ErrorResponse),
        (status = 404, description = "no such published lesson in the key's tenant", body = ErrorResponse),
    )
)]
async fn lesson(
    State(app): State<AppState>,
    GameServer(key): GameServer,
    ApiPath(id): ApiPath<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let lesson =
        super::content::lesson_for_game(app.store(), app.roblox().content(), &key.tenant, &id)
            .await?;
    let cache = [
        (header::ETAG, lesson.etag.clone()),
        (header::CACHE_CONTROL, "no-cache".to_owned()),
    ];
    if matches_etag(&headers, &lesson.etag) {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Ok((
        cache,
        [(header::CONTENT_TYPE, "application/json".to_owned())],
        lesson.body.clone(),
    )
        .into_response())
}

/// A linked player's rewards: points, badges, streak and the newest rewards (for the game to
/// show); 404 when the player is not linked to a student of the key's tenant.
#[utoipa::path(
    get,
    path = "/api/v1/roblox/players/{roblox_user_id}/stats",
    tag = "roblox",
    security(("game_key" = [])),
    params(("roblox_user_id" = i64, Path, description = "the player's Roblox UserId")),
    responses(
        (status = 200, description = "the linked student's rewards", body = crate::platform::rewards::RewardStats),
        (status = 404, description = "the player is not linked to a student", body = ErrorResponse),
    )
)]
async fn player_stats(
    State(app): State<AppState>,
    GameServer(key): GameServer,
    ApiPath(user_id): ApiPath<i64>,
) -> Result<Json<crate::platform::rewards::RewardStats>, ApiError> {
    let student = app
        .store()
        .linked_student(&key.tenant, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("linked player"))?;
    Ok(Json(
        crate::platform::rewards::stats_of(&app, &key.tenant, &student).await?,
    ))
}
