//! Commands on their way to a game server: the long-poll (answers at once when commands wait,
//! else holds until one arrives, a redelivery falls due, the wait ends or the session closes)
//! and the acknowledgement. First deliveries and acks become `command_status` events in the
//! room the command was sent to.

use std::time::Duration;

use roblox::wire::{AckAnswer, CommandsAnswer};
use tokio::time::Instant;

use super::GameServerKey;
use super::sessions::live_session;
use crate::api::ApiError;
use crate::app::AppState;

/// Long-polls session `id` for commands after cursor `after`, holding at most `wait` seconds
/// (the server's default and maximum apply; negative or non-finite values are ignored).
pub async fn poll(
    app: &AppState,
    key: &GameServerKey,
    id: &str,
    after: Option<f64>,
    wait: Option<f64>,
) -> Result<CommandsAnswer, ApiError> {
    let session = live_session(app, key, id)?;
    let settings = app.roblox().settings();
    let after = after
        .filter(|after| after.is_finite() && *after >= 0.0)
        .map_or(0, |after| after as u64);
    let wait = wait
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
            return Ok(CommandsAnswer {
                commands: taken.commands,
                cursor: taken.cursor,
            });
        }
        let wake_at = taken.next_due.map_or(deadline, |due| due.min(deadline));
        tokio::select! {
            _ = &mut arrived => {}
            _ = tokio::time::sleep_until(wake_at) => {}
            _ = session.closed() => {
                return Ok(CommandsAnswer { commands: Vec::new(), cursor: taken.cursor });
            }
        }
    }
}

/// Acknowledges `ids` in session `id`'s mailbox: answers the ids acknowledged now or before,
/// and the ones it does not know.
pub fn ack(
    app: &AppState,
    key: &GameServerKey,
    id: &str,
    ids: &[String],
) -> Result<AckAnswer, ApiError> {
    let session = live_session(app, key, id)?;
    let (acked, again, unknown) = session.mailbox.ack(ids);
    let mut ids = again;
    for entry in acked {
        app.roblox()
            .publish_status(&session, &entry.command, &entry.origin, "acked");
        ids.push(entry.command.id);
    }
    Ok(AckAnswer {
        acked: ids,
        unknown,
    })
}
