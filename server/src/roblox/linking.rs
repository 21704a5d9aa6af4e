//! Linking a Roblox player to a roster student: rate-limited per player and per key, the class
//! found by its code, the student chosen by the `roblox` crate's rules (`link::choose`: an
//! explicit `student_id`, else one unique roster name match, else candidates to pick from), the
//! link stored, and a player already in a live session moved to the student at once.

use roblox::link::{LinkChoice, choose, normalize_code};
use roblox::wire::{Candidate, LinkAnswer, LinkRequest};

use super::{GameServerKey, PlayerSeen};
use crate::api::{ApiError, ErrorKind};
use crate::app::AppState;

/// Links `request.user_id` to a student of the class with `request.class_code`, or answers the
/// candidates to choose from.
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
            return Ok(LinkAnswer::Choose {
                linked: false,
                candidates,
            });
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
    Ok(LinkAnswer::Linked {
        linked: true,
        student_id: student.student_id,
        display_name: student.display_name,
        class_id: class.id,
    })
}
