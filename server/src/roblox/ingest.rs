//! A game server's event batch, from checked shapes to committed rows: each event is read alone
//! (`roblox::wire::IngestEvent::read`: bad ones — a NUL in any of their text included — are
//! reported by id, the rest go on), tied to the batch's live session, its player resolved to a
//! linked student (cached per session, the database asked once per unknown player), enriched
//! with who and when, a lesson's course filled in and an in-game answer scored (`content.rs`),
//! an award checked (`platform/rewards.rs`, recorded once committed), and handed to
//! `Hub::ingest` for the game room and the linked class room.
//! The answer lists an event as `accepted` only once the transaction holding it committed, and
//! as `rejected` when the database refused it for its content (resending it cannot help); a
//! batch the sink cannot take whole, or whose commit is late, is answered 503 and sent again
//! unchanged (stored once).

use std::time::Duration;

use futures_util::future::join_all;
use persistence::SinkError;
use roblox::wire::{EventBatch, EventsAnswer, IngestEvent, RejectedEvent};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::GameServerKey;
use super::sessions::live_session;
use crate::api::{ApiError, ErrorKind};
use crate::app::AppState;
use crate::hub::{HubError, IngestOutcome, TrustedEvent};
use crate::platform::rewards::{game_award, record_game_awards};

/// Ingests one batch for the game server holding `key`; see the module header.
pub async fn ingest_batch(
    app: &AppState,
    key: &GameServerKey,
    batch: EventBatch,
) -> Result<EventsAnswer, ApiError> {
    let settings = app.roblox().settings();
    if batch.events.len() > settings.max_batch {
        return Err(ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "{} events in one batch; send at most {} per request",
                batch.events.len(),
                settings.max_batch
            ),
        ));
    }
    if let Some(session_id) = &batch.session_id {
        protocol::check_text("session_id", session_id)
            .map_err(|refused| ApiError::invalid_field("session_id", refused.problem()))?;
    }
    let limits = app.hub().settings().limits;
    let mut answer = EventsAnswer::default();
    let mut valid = Vec::with_capacity(batch.events.len());
    for value in batch.events {
        match IngestEvent::read(value, &limits) {
            Ok(event) => valid.push(event),
            Err(rejected) => answer.rejected.push(rejected),
        }
    }
    let session_id = batch
        .session_id
        .or_else(|| valid.iter().find_map(|event| event.session_id.clone()));
    let Some(session_id) = session_id else {
        if valid.is_empty() {
            return Ok(answer);
        }
        return Err(ApiError::invalid_field(
            "session_id",
            "name the game session (from POST /api/v1/roblox/sessions)",
        ));
    };
    let session = live_session(app, key, &session_id)?;
    let mut unknown_players = Vec::new();
    let mut to_ingest = Vec::with_capacity(valid.len());
    for event in valid {
        if event
            .session_id
            .as_deref()
            .is_some_and(|own| own != session.id)
        {
            answer.rejected.push(RejectedEvent {
                id: event.id,
                code: "invalid_input".into(),
                message: "every event of a batch must belong to the batch's session".into(),
            });
            continue;
        }
        if crate::hub::is_chat_kind(&event.kind) {
            answer.rejected.push(RejectedEvent {
                id: event.id,
                code: "invalid_input".into(),
                message: "game servers do not send class chat: in-game chat stays in Roblox's TextChatService (which filters it); students chat with their class over /ws or POST /api/v1/classes/{id}/chat, where it is moderated".into(),
            });
            continue;
        }
        if let Some(player) = event.player
            && session.known_link(player).is_none()
        {
            unknown_players.push(player);
        }
        to_ingest.push(event);
    }
    // Players not reported in this session and not looked up lately: ask the database once.
    unknown_players.sort_unstable();
    unknown_players.dedup();
    for player in unknown_players {
        let student = app.store().linked_student(&key.tenant, player).await?;
        session.remember_link(player, student);
    }
    let trusted: Vec<TrustedEvent> = to_ingest
        .into_iter()
        .map(|event| {
            let sender = match event.player {
                Some(player) => session
                    .known_link(player)
                    .flatten()
                    .unwrap_or_else(|| format!("roblox:{player}")),
                None => format!("game:{}", session.job_id),
            };
            TrustedEvent {
                id: event.id,
                sender,
                kind: event.kind,
                data: enrich(event.data, event.player, event.client_time),
                answer: None,
            }
        })
        .collect();
    let mut trusted = trusted;
    super::content::fill_courses(
        app.store(),
        app.roblox().content(),
        &key.tenant,
        &mut trusted,
    )
    .await?;
    let (trusted, unscored) = super::content::score_answers(
        app.store(),
        app.roblox().content(),
        &key.tenant,
        &session.id,
        trusted,
    )
    .await?;
    answer
        .rejected
        .extend(unscored.into_iter().map(|(id, message)| RejectedEvent {
            id,
            code: "invalid_input".into(),
            message,
        }));
    // Awards (`platform/rewards.rs`): checked now, recorded once their event is committed.
    let class = session
        .class_room
        .as_ref()
        .map(|room| room.local_id().to_owned());
    let mut awards = std::collections::HashMap::new();
    let mut checked = Vec::with_capacity(trusted.len());
    for event in trusted {
        match game_award(
            &event.kind,
            &event.id,
            &event.sender,
            class.as_deref(),
            &event.data,
        ) {
            Ok(Some(reward)) => {
                awards.insert(event.id.clone(), reward);
                checked.push(event);
            }
            Ok(None) => checked.push(event),
            Err(message) => answer.rejected.push(RejectedEvent {
                id: event.id,
                code: "invalid_input".into(),
                message,
            }),
        }
    }
    let mut rooms = vec![session.room.clone()];
    rooms.extend(session.class_room.clone());
    let outcomes = match app.hub().ingest(&key.tenant, &rooms, checked) {
        Ok(outcomes) => outcomes,
        Err(HubError::SinkFull(refused)) => {
            return Err(ApiError::new(
                ErrorKind::Unavailable,
                format!("{refused}; nothing of this batch was taken, send it again unchanged"),
            )
            .with_retry_after(Duration::from_secs(1)));
        }
        Err(other) => return Err(ApiError::internal(other)),
    };
    let mut acks = Vec::new();
    for outcome in outcomes {
        match outcome {
            IngestOutcome::Published { id, published } => acks.push((id, published.ack)),
            IngestOutcome::Rejected {
                id,
                error: HubError::InvalidEvent(message),
            } => answer.rejected.push(RejectedEvent {
                id,
                code: "invalid_input".into(),
                message,
            }),
            IngestOutcome::Rejected { id, error } => answer.rejected.push(RejectedEvent {
                id,
                code: error.error_code().code().to_string(),
                message: error.to_string(),
            }),
        }
    }
    let deadline = Instant::now() + settings.ack_timeout;
    let waits = acks.into_iter().map(|(id, ack)| async move {
        let outcome = match ack {
            Some(ack) => match tokio::time::timeout_at(deadline, ack).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_dropped)) => Err(SinkError::Stopped),
                Err(_late) => Err(SinkError::Unavailable),
            },
            None => Err(SinkError::Stopped),
        };
        (id, outcome)
    });
    let mut uncommitted = 0usize;
    for (id, outcome) in join_all(waits).await {
        match outcome {
            Ok(()) => answer.accepted.push(id),
            Err(refused @ SinkError::Rejected(_)) => answer.rejected.push(RejectedEvent {
                id,
                code: "invalid_input".into(),
                message: refused.to_string(),
            }),
            Err(SinkError::Unavailable | SinkError::Stopped) => uncommitted += 1,
        }
    }
    if uncommitted > 0 {
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            format!(
                "{uncommitted} events are not committed yet (the database is slow or down); send the same batch again, nothing is stored twice"
            ),
        )
        .with_retry_after(Duration::from_secs(2)));
    }
    let committed: Vec<persistence::NewReward> = answer
        .accepted
        .iter()
        .filter_map(|id| awards.remove(id))
        .collect();
    record_game_awards(app, &key.tenant, &committed)
        .await
        .map_err(|error| {
            tracing::warn!(error = %error.message(), "game awards not recorded; the batch will be sent again");
            ApiError::new(
                ErrorKind::Unavailable,
                "the awards of this batch are not recorded yet; send the same batch again, nothing is stored twice",
            )
            .with_retry_after(Duration::from_secs(2))
        })?;
    Ok(answer)
}

/// Whether an ingested event's sender is a linked student (the ingest names an unlinked player
/// `roblox:{id}` and the game server itself `game:{job}`).
pub(crate) fn is_linked_student(sender: &str) -> bool {
    !sender.starts_with("roblox:") && !sender.starts_with("game:")
}

/// Adds who and when to an event's data, unless the game already put its own there.
fn enrich(mut data: Value, player: Option<i64>, client_time: Option<f64>) -> Value {
    if let Some(fields) = data.as_object_mut() {
        if let Some(player) = player {
            fields
                .entry("roblox_user_id")
                .or_insert_with(|| json!(player));
        }
        if let Some(client_time) = client_time {
            fields
                .entry("client_time")
                .or_insert_with(|| json!(client_time));
        }
    }
    data
}
