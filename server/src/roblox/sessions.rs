//! Opening a game session and the players a game server reports. A session is found again by
//! its JobId (also after a restart); a class named by id or class code links it, so the game
//! server becomes a presence member of the class room. Reported players join the game room (and
//! the class room when linked to a rostered student); players without a name get one from
//! Open Cloud.

use std::collections::HashMap;
use std::sync::Arc;

use roblox::link::normalize_code;
use roblox::wire::{
    OpenSession, PlayerLink, PlayersAnswer, PlayersBatch, PollSettings, SessionOpened, check_id,
};

use super::{GameServerKey, GameSession, PlayerSeen};
use crate::api::{ApiError, ErrorKind};
use crate::app::AppState;

/// Opens (or finds again) the session of `request.job_id`; `true` when it was created.
pub async fn open(
    app: &AppState,
    key: &GameServerKey,
    request: OpenSession,
) -> Result<(SessionOpened, bool), ApiError> {
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
    Ok((answer, created))
}

/// The live session `id` of the key's tenant (touched: it is not idle), or 404 saying how to
/// open it again.
pub fn live_session(
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

/// Applies a game server's report of players who joined and left session `id`.
pub async fn report_players(
    app: &AppState,
    key: &GameServerKey,
    id: &str,
    batch: PlayersBatch,
) -> Result<PlayersAnswer, ApiError> {
    let session = live_session(app, key, id)?;
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
    Ok(PlayersAnswer { players: answer })
}
