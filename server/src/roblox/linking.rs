//! Linking a Roblox player to a roster student. The player proves they are the student with
//! two codes: the class code and the student's personal link code (`roblox::link`), which only
//! the student and the class's staff see. Every attempt — right or wrong — spends the player's
//! and the key's link rate limit first, so codes cannot be guessed; then the class is found by
//! its code (404 when none), the personal code is read (422 naming `student_code` when missing
//! or malformed) and must belong to an active student of that class's roster (422 again, so a
//! class code alone, a made-up code or another class's code never links). The link is stored,
//! and a player already in a live session moves to the student at once.
//!
//! There is no name matching and no list of students to pick from: the personal code names
//! exactly one student, and listing a roster to anyone holding the class code would tell them
//! who is in the class.

use roblox::link::{normalize_code, read_student_code};
use roblox::wire::{LinkAnswer, LinkRequest};

use super::{GameServerKey, PlayerSeen};
use crate::api::{ApiError, ErrorKind};
use crate::app::AppState;
use crate::platform::audit::{self, Actor, Target};

/// Links `request.user_id` to the student of the class with `request.class_code` whose
/// personal link code is `request.student_code`.
pub async fn link_player(
    app: &AppState,
    key: &GameServerKey,
    request: LinkRequest,
) -> Result<LinkAnswer, ApiError> {
    app.roblox()
        .check_link_rate(key, request.user_id)
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
    let student_code = read_student_code(request.student_code.as_deref())
        .map_err(|problem| ApiError::invalid_field("student_code", problem.to_string()))?;
    let student = store
        .roster_student_by_link_code(&key.tenant, &class.id, &student_code)
        .await?
        .ok_or_else(|| {
            ApiError::invalid_field(
                "student_code",
                "is not the personal link code of any student of this class; check it against \
                 the code beside the student's name on this class's roster (each class gives \
                 its own code)",
            )
        })?;
    let what = "have a Roblox account linked";
    crate::platform::consent::check(app, &key.tenant, &student.user_id, what).await?;
    let roblox_name = request.display_name.as_deref().or(request.name.as_deref());
    store
        .link_roblox_player(&key.tenant, request.user_id, &student.user_id, roblox_name)
        .await?;
    tracing::info!(tenant = %key.tenant, class = %class.id, student = %student.user_id, roblox_user = request.user_id, "roblox player linked");
    let target = Target::class(&class.id).about(&student.user_id);
    let detail = serde_json::json!({"roblox_user_id": request.user_id});
    audit::record_by(
        app,
        Actor::game_server(key),
        "roblox.linked",
        target,
        Some(detail),
    )
    .await;
    // A player already in a live session moves its presence to the student at once.
    if let Some(session) = request
        .session_id
        .as_deref()
        .and_then(|id| app.roblox().session(&key.tenant, id))
    {
        session.touch();
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
            student: Some(student.user_id.clone()),
            ..player
        };
        session
            .join_players(app.hub(), vec![player])
            .map_err(ApiError::internal)?;
    }
    Ok(LinkAnswer {
        linked: true,
        student_id: student.user_id,
        display_name: student.display_name,
        class_id: class.id,
    })
}
