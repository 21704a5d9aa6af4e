//! The rewards ledger. Every teacher `reward` command — over REST (`platform/commands.rs`) or a
//! native `publish` (`transport/native.rs`), both through [`record_command`] — is recorded per
//! student (one student, or every student on the class's roster) with its points, badge,
//! reason, giver and time, and each student is notified on their private `user:` room. Reads:
//! a student's totals (`GET /api/v1/users/{user_id}/rewards`: points, badges, the days in a row they
//! were active, the newest rewards; whoever may read their progress), a class's leaderboard
//! (`GET /api/v1/classes/{id}/leaderboard`, first names only, shown to students only while its
//! teacher has it on: `PUT` the same path), and a linked player's stats for their game
//! (`roblox/routes.rs`, through [`stats_of`]). A game awards points or a badge with an `award`
//! event (`ClassHub:AwardPoints`, `ClassHub:RecordBadge`): [`game_award`] checks it, and the
//! ingest records it once the event is committed, before the batch is answered.

use axum::Json;
use axum::extract::State;
use persistence::{NewNotification, NewReward, RewardRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::openapi::ErrorResponse;
use crate::api::{ApiError, ApiJson, ApiPath, Caller};
use crate::app::AppState;
use crate::platform::classes::{Access, all_roster, load_class};
use crate::platform::notifications::deliver;
use crate::platform::progress::may_read_student;

/// Newest rewards a student's totals list.
const RECENT_REWARDS: u32 = 50;
/// Students a leaderboard lists at most.
const LEADERBOARD_SIZE: u32 = 50;
/// Active days looked at for a streak.
const STREAK_DAYS: u32 = 366;
/// Most points one game `award` event may give.
pub(crate) const MAX_AWARD_POINTS: i64 = 1_000;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(student_rewards))
        .routes(routes!(leaderboard, set_leaderboard))
}

/// A student's rewards.
#[derive(Debug, Serialize, ToSchema)]
pub struct RewardStats {
    /// The student.
    pub student_id: String,
    /// Points, all rewards together.
    pub points: i64,
    /// Badges received, newest first (among the newest rewards).
    pub badges: Vec<String>,
    /// Days in a row, up to today or yesterday (UTC), with a reward or a submitted result.
    pub streak_days: u32,
    /// The newest rewards.
    pub recent: Vec<RewardRecord>,
}

/// One line of a leaderboard.
#[derive(Debug, Serialize, ToSchema)]
struct LeaderboardLine {
    /// 1 for the most points (equal points share a rank).
    rank: u32,
    /// The student's first name (never the whole name or the id).
    first_name: String,
    /// Points earned in this class.
    points: i64,
}

/// A class's leaderboard.
#[derive(Debug, Serialize, ToSchema)]
struct Leaderboard {
    /// Whether the class's students see it.
    enabled: bool,
    /// The most points first, at most 50 (empty for students while it is off).
    entries: Vec<LeaderboardLine>,
    /// Whether the class has more students than the entries list.
    truncated: bool,
}

/// Turn a leaderboard on or off.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LeaderboardSetting {
    /// Whether the class's students see it.
    enabled: bool,
}

/// Records a teacher's `reward` command (see the module header). `key` names the command once
/// (its id, or its room and seq), so recording it again stores nothing new. Failures are
/// logged: the command itself has been sent.
pub(crate) async fn record_command(
    app: &AppState,
    tenant: &str,
    class: Option<&str>,
    given_by: &str,
    key: &str,
    data: &Value,
) {
    if let Err(error) = record(app, tenant, class, given_by, key, data).await {
        tracing::warn!(%tenant, key, error = %error, "a reward command was not recorded in the ledger");
    }
}

async fn record(
    app: &AppState,
    tenant: &str,
    class: Option<&str>,
    given_by: &str,
    key: &str,
    data: &Value,
) -> Result<(), ApiError> {
    let students: Vec<String> = match (data.get("target").and_then(Value::as_str), class) {
        (Some(student), _) => vec![student.to_owned()],
        (None, Some(class)) => all_roster(app, tenant, class)
            .await?
            .into_iter()
            .map(|member| member.user.id)
            .collect(),
        (None, None) => Vec::new(),
    };
    let (points, badge, reason) = reward_fields(data, i64::MAX)
        .map_err(|problem| ApiError::invalid_field("data", problem))?;
    let rewards: Vec<NewReward> = students
        .iter()
        .map(|student| NewReward {
            id: format!("rwd:{key}:{student}"),
            student_id: student.clone(),
            class_id: class.map(str::to_owned),
            points,
            badge_id: badge.clone(),
            reason: reason.clone(),
            source: "teacher",
            given_by: Some(given_by.to_owned()),
        })
        .collect();
    let new = app.store().record_rewards(tenant, &rewards).await?;
    notify(app, tenant, given_by, &new).await
}

/// A reward's fields, the one reading of them both doors use (a teacher's `reward` command,
/// already checked by `CommandKind::validate`, and a game's `award` event): `data.points`, a
/// whole number from 0 to `max_points` (absent: 0); `data.badge_id`, a Roblox badge id (a
/// number, or 1–64 bytes of text); `data.reason` (a command's `data.text` too), at most 280
/// characters kept. At least points or a badge.
fn reward_fields(
    data: &Value,
    max_points: i64,
) -> Result<(i64, Option<String>, Option<String>), String> {
    let points = match data.get("points") {
        None | Some(Value::Null) => 0,
        Some(value) => value
            .as_f64()
            .filter(|points| {
                points.fract() == 0.0 && *points >= 0.0 && *points <= max_points as f64
            })
            .map(|points| points as i64)
            .ok_or_else(|| format!("data.points must be a whole number from 0 to {max_points}"))?,
    };
    let badge = match data.get("badge_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(badge)) if !badge.is_empty() && badge.len() <= 64 => Some(badge.clone()),
        Some(Value::Number(badge)) => Some(badge.to_string()),
        Some(_) => return Err("data.badge_id must be a Roblox badge id".into()),
    };
    if points == 0 && badge.is_none() {
        return Err("a reward needs data.points or data.badge_id".into());
    }
    let reason = data
        .get("reason")
        .or_else(|| data.get("text"))
        .and_then(Value::as_str)
        .map(|reason| reason.chars().take(280).collect::<String>());
    Ok((points, badge, reason))
}

/// The reward an `award` event from a game gives (`data.points` 0–[`MAX_AWARD_POINTS`],
/// `data.badge_id`, `data.reason`; at least points or a badge), to the linked student
/// `student`; `Err` says what is wrong. `Ok(None)` for other kinds.
pub(crate) fn game_award(
    kind: &str,
    event_id: &str,
    student: &str,
    class: Option<&str>,
    data: &Value,
) -> Result<Option<NewReward>, String> {
    if kind != "award" {
        return Ok(None);
    }
    if !crate::roblox::ingest::is_linked_student(student) {
        return Err(
            "an award goes to a player linked to a student; link the player first (LinkPlayerAsync)"
                .into(),
        );
    }
    let (points, badge, reason) =
        reward_fields(data, MAX_AWARD_POINTS).map_err(|problem| format!("award {problem}"))?;
    Ok(Some(NewReward {
        id: format!("rwd:game:{event_id}"),
        student_id: student.to_owned(),
        class_id: class.map(str::to_owned),
        points,
        badge_id: badge,
        reason,
        source: "game",
        given_by: None,
    }))
}

/// Records committed game awards and notifies their students (see [`game_award`]).
pub(crate) async fn record_game_awards(
    app: &AppState,
    tenant: &str,
    rewards: &[NewReward],
) -> Result<(), ApiError> {
    let new = app.store().record_rewards(tenant, rewards).await?;
    notify(app, tenant, "game", &new).await
}

/// Tells each newly recorded reward's student of it (`platform/notifications.rs`: stored, and
/// delivered live on their `user:` room), one delivery per distinct reward (a class-wide
/// command is one).
async fn notify(
    app: &AppState,
    tenant: &str,
    sender: &str,
    rewards: &[NewReward],
) -> Result<(), ApiError> {
    let same = |a: &NewReward, b: &NewReward| {
        (a.points, &a.badge_id, &a.reason, &a.class_id, a.source)
            == (b.points, &b.badge_id, &b.reason, &b.class_id, b.source)
    };
    let mut groups: Vec<(&NewReward, Vec<String>)> = Vec::new();
    for reward in rewards {
        match groups.iter_mut().find(|(first, _)| same(first, reward)) {
            Some((_, students)) => students.push(reward.student_id.clone()),
            None => groups.push((reward, vec![reward.student_id.clone()])),
        }
    }
    for (reward, students) in groups {
        let title = match (reward.points, &reward.badge_id) {
            (0, Some(_)) => "You earned a badge".to_owned(),
            (points, _) => format!("You earned {points} points"),
        };
        let notification = NewNotification {
            sender_id: sender.to_owned(),
            kind: "reward".into(),
            title,
            body: reward.reason.clone(),
            data: Some(json!({"points": reward.points, "badge_id": reward.badge_id,
                              "class_id": reward.class_id, "source": reward.source})),
        };
        deliver(app, tenant, &students, &notification).await?;
    }
    Ok(())
}

/// A student's points, badges, streak and newest rewards.
pub(crate) async fn stats_of(
    app: &AppState,
    tenant: &str,
    student: &str,
) -> Result<RewardStats, ApiError> {
    let store = app.store();
    let recent = store.rewards_of(tenant, student, RECENT_REWARDS).await?;
    let badges = recent
        .iter()
        .filter_map(|reward| reward.badge_id.clone())
        .collect();
    let days = store.active_days(tenant, student, STREAK_DAYS).await?;
    Ok(RewardStats {
        student_id: student.to_owned(),
        points: store.points_of(tenant, student).await?,
        badges,
        streak_days: streak(&days, &today()),
        recent,
    })
}

/// Today's UTC date, `YYYY-MM-DD`.
fn today() -> String {
    humantime::format_rfc3339(std::time::SystemTime::now())
        .to_string()
        .chars()
        .take(10)
        .collect()
}

/// Days in a row in `days` (distinct `YYYY-MM-DD`, newest first) ending today or yesterday.
fn streak(days: &[String], today: &str) -> u32 {
    let parse = |day: &str| {
        humantime::parse_rfc3339(&format!("{day}T00:00:00Z"))
            .ok()
            .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|since| since.as_secs() / 86_400)
    };
    let Some(today) = parse(today) else {
        return 0;
    };
    let mut expected = match days.first().and_then(|day| parse(day)) {
        Some(newest) if newest == today || newest + 1 == today => newest,
        _ => return 0,
    };
    let mut count = 0;
    for day in days {
        match parse(day) {
            Some(day) if day == expected => {
                count += 1;
                expected = expected.saturating_sub(1);
            }
            _ => break,
        }
    }
    count
}

/// A student's rewards: points, badges, streak, newest rewards (the student, their parents,
/// educators who teach them, admins).
#[utoipa::path(get, path = "/api/v1/users/{user_id}/rewards", tag = "rewards",
    params(("user_id" = String, Path, description = "student id")),
    responses((status = 200, body = RewardStats),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn student_rewards(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RewardStats>, ApiError> {
    may_read_student(&app, &caller, &id, "rewards")?;
    app.store()
        .user(caller.tenant(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("student"))?;
    Ok(Json(stats_of(&app, caller.tenant(), &id).await?))
}

/// A class's leaderboard: first names and points earned in the class (its teacher and admins
/// always; its students while the teacher has it on).
#[utoipa::path(get, path = "/api/v1/classes/{id}/leaderboard", tag = "rewards",
    params(("id" = String, Path, description = "class id")),
    responses((status = 200, body = Leaderboard),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn leaderboard(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
) -> Result<Json<Leaderboard>, ApiError> {
    load_class(&app, &caller, &class_id, Access::View).await?;
    let store = app.store();
    let enabled = store
        .leaderboard_enabled(caller.tenant(), &class_id)
        .await?;
    if !enabled && !caller.is_staff() {
        return Ok(Json(Leaderboard {
            enabled,
            entries: Vec::new(),
            truncated: false,
        }));
    }
    let mut rows = store
        .leaderboard(caller.tenant(), &class_id, LEADERBOARD_SIZE + 1)
        .await?;
    let truncated = rows.len() > LEADERBOARD_SIZE as usize;
    rows.truncate(LEADERBOARD_SIZE as usize);
    let mut entries: Vec<LeaderboardLine> = Vec::with_capacity(rows.len());
    for (index, row) in rows.into_iter().enumerate() {
        let rank = match entries.last() {
            Some(last) if last.points == row.points => last.rank,
            _ => u32::try_from(index + 1).unwrap_or(u32::MAX),
        };
        let first_name = row
            .display_name
            .as_deref()
            .and_then(|name| name.split_whitespace().next())
            .unwrap_or("Student")
            .to_owned();
        entries.push(LeaderboardLine {
            rank,
            first_name,
            points: row.points,
        });
    }
    Ok(Json(Leaderboard {
        enabled,
        entries,
        truncated,
    }))
}

/// Turn a class's leaderboard on or off for its students (its teacher, admins).
#[utoipa::path(put, path = "/api/v1/classes/{id}/leaderboard", tag = "rewards",
    request_body = LeaderboardSetting,
    params(("id" = String, Path, description = "class id")),
    responses((status = 200, body = LeaderboardSetting),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn set_leaderboard(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
    ApiJson(setting): ApiJson<LeaderboardSetting>,
) -> Result<Json<LeaderboardSetting>, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    app.store()
        .set_leaderboard(caller.tenant(), &class_id, setting.enabled)
        .await?;
    let detail = json!({"leaderboard": setting.enabled});
    crate::platform::audit::record(
        &app,
        &caller,
        "class.updated",
        crate::platform::audit::Target::class(&class_id),
        Some(detail),
    )
    .await;
    Ok(Json(setting))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_counts_days_in_a_row_up_to_today_or_yesterday() {
        let days = |list: &[&str]| list.iter().map(|day| (*day).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            streak(
                &days(&["2026-12-05", "2026-12-04", "2026-12-02"]),
                "2026-12-05"
            ),
            2
        );
        assert_eq!(
            streak(&days(&["2026-12-04", "2026-12-03"]), "2026-12-05"),
            2
        );
        assert_eq!(streak(&days(&["2026-12-03"]), "2026-12-05"), 0);
        assert_eq!(
            streak(&days(&["2026-03-01", "2026-02-28"]), "2026-03-01"),
            2
        );
        assert_eq!(streak(&[], "2026-12-05"), 0);
    }
}
