//! One game session's command mailbox: the commands teachers sent that this Roblox server must
//! carry out, each with a cursor, until the server acknowledges it.
//!
//! A long-poll takes what it has not seen (cursor past `after`) plus what it saw but did not
//! acknowledge within the redelivery delay (so a lost answer or a crashed handler gets the
//! command again, `attempt` counting up). The mailbox is bounded: when full, the oldest command
//! is dropped and reported (the teacher sees it as `expired`), never silently.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use roblox::wire::PolledCommand;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Acknowledged ids remembered so that acknowledging twice answers the same.
const RECENTLY_ACKED: usize = 256;

/// A command as the mailbox holds it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// What the long-poll returns.
    pub command: PolledCommand,
    /// The room the command was sent to (its delivery statuses go there).
    pub origin: String,
    delivered_at: Option<Instant>,
}

/// What one take found.
#[derive(Debug, Default)]
pub struct Taken {
    /// Commands to return, oldest first.
    pub commands: Vec<PolledCommand>,
    /// Of those, the ones delivered for the first time, with their origin room.
    pub first_deliveries: Vec<(PolledCommand, String)>,
    /// The cursor to return.
    pub cursor: u64,
    /// When the next unacknowledged command becomes due for redelivery.
    pub next_due: Option<Instant>,
}

/// The commands of one game session. Shared by its pump (which pushes) and its long-polls
/// (which take and acknowledge); the lock is held only for these short operations.
#[derive(Debug)]
pub struct Mailbox {
    state: Mutex<State>,
    /// Woken on every push, so a waiting long-poll answers at once.
    arrived: Notify,
    capacity: usize,
    redeliver_after: Duration,
}

#[derive(Debug, Default)]
struct State {
    last_cursor: u64,
    entries: VecDeque<Entry>,
    acked: VecDeque<String>,
}

impl Mailbox {
    /// An empty mailbox holding at most `capacity` unacknowledged commands.
    pub fn new(capacity: usize, redeliver_after: Duration) -> Mailbox {
        Mailbox {
            state: Mutex::default(),
            arrived: Notify::new(),
            capacity: capacity.max(1),
            redeliver_after,
        }
    }

    /// Adds a command (its `cursor` is assigned here) and wakes waiting polls. Returns the
    /// command dropped to make room, if the mailbox was full.
    pub fn push(&self, mut command: PolledCommand, origin: String) -> Option<Entry> {
        let dropped = {
            let mut state = self.lock();
            state.last_cursor += 1;
            command.cursor = state.last_cursor;
            command.attempt = 0;
            let dropped = (state.entries.len() >= self.capacity)
                .then(|| state.entries.pop_front())
                .flatten();
            state.entries.push_back(Entry {
                command,
                origin,
                delivered_at: None,
            });
            dropped
        };
        self.arrived.notify_waiters();
        dropped
    }

    /// Takes the commands a poll with `after` should return at `now` and marks them delivered.
    pub fn take(&self, after: u64, now: Instant) -> Taken {
        let mut state = self.lock();
        let mut taken = Taken {
            cursor: after.min(state.last_cursor),
            ..Taken::default()
        };
        for entry in &mut state.entries {
            let due = match entry.delivered_at {
                None => true,
                Some(_) if entry.command.cursor > after => true,
                Some(at) => now.saturating_duration_since(at) >= self.redeliver_after,
            };
            if !due {
                if let Some(at) = entry.delivered_at.map(|at| at + self.redeliver_after) {
                    taken.next_due = Some(taken.next_due.map_or(at, |due| due.min(at)));
                }
                continue;
            }
            entry.command.attempt += 1;
            if entry.delivered_at.is_none() {
                taken
                    .first_deliveries
                    .push((entry.command.clone(), entry.origin.clone()));
            }
            entry.delivered_at = Some(now);
            taken.cursor = taken.cursor.max(entry.command.cursor);
            taken.commands.push(entry.command.clone());
        }
        taken
    }

    /// Acknowledges commands by id: `(acknowledged entries, ids acknowledged before, unknown
    /// ids)`.
    pub fn ack(&self, ids: &[String]) -> (Vec<Entry>, Vec<String>, Vec<String>) {
        let mut state = self.lock();
        let mut acked = Vec::new();
        let mut again = Vec::new();
        let mut unknown = Vec::new();
        for id in ids {
            if let Some(index) = state
                .entries
                .iter()
                .position(|entry| &entry.command.id == id)
            {
                let entry = state.entries.remove(index).expect("index is in range");
                if state.acked.len() >= RECENTLY_ACKED {
                    state.acked.pop_front();
                }
                state.acked.push_back(id.clone());
                acked.push(entry);
            } else if state.acked.contains(id) {
                again.push(id.clone());
            } else {
                unknown.push(id.clone());
            }
        }
        (acked, again, unknown)
    }

    /// Resolves at the next push (create it before taking, so no push falls in between).
    pub fn arrived(&self) -> tokio::sync::futures::Notified<'_> {
        self.arrived.notified()
    }

    /// Commands not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.lock().entries.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every operation leaves the state consistent at each step; a poisoned lock is used as is.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn command(id: &str) -> PolledCommand {
        PolledCommand {
            id: id.into(),
            cursor: 0,
            kind: "announce".into(),
            data: json!({"text": "hi"}),
            target: None,
            roblox_user_id: None,
            issued_at: 1,
            attempt: 0,
        }
    }

    fn ids(commands: &[PolledCommand]) -> Vec<(&str, u64, u32)> {
        commands
            .iter()
            .map(|command| (command.id.as_str(), command.cursor, command.attempt))
            .collect()
    }

    #[test]
    fn unacknowledged_commands_come_back_after_the_delay() {
        let mailbox = Mailbox::new(8, Duration::from_secs(10));
        mailbox.push(command("a"), "class:acme:c1".into());
        mailbox.push(command("b"), "class:acme:c1".into());
        let start = Instant::now();
        let first = mailbox.take(0, start);
        assert_eq!(ids(&first.commands), [("a", 1, 1), ("b", 2, 1)]);
        assert_eq!(first.first_deliveries.len(), 2);
        assert_eq!(first.cursor, 2);

        // Polling again with the new cursor: nothing until the delay passes.
        let early = mailbox.take(2, start + Duration::from_secs(5));
        assert!(early.commands.is_empty());
        assert_eq!(early.cursor, 2);
        assert_eq!(early.next_due, Some(start + Duration::from_secs(10)));

        let (acked, again, unknown) = mailbox.ack(&["a".into(), "zzz".into()]);
        assert_eq!(acked.len(), 1);
        assert!(again.is_empty());
        assert_eq!(unknown, ["zzz"]);
        let late = mailbox.take(2, start + Duration::from_secs(10));
        assert_eq!(ids(&late.commands), [("b", 2, 2)]);
        assert!(late.first_deliveries.is_empty());
        let (_, again, _) = mailbox.ack(&["a".into()]);
        assert_eq!(again, ["a"], "a second ack of the same id is not unknown");
    }

    #[test]
    fn a_lost_answer_is_answered_again_for_the_old_cursor() {
        let mailbox = Mailbox::new(8, Duration::from_secs(10));
        mailbox.push(command("a"), "game:acme:j".into());
        let now = Instant::now();
        assert_eq!(ids(&mailbox.take(0, now).commands), [("a", 1, 1)]);
        // The answer never arrived, so the SDK polls with the old cursor.
        assert_eq!(ids(&mailbox.take(0, now).commands), [("a", 1, 2)]);
    }

    #[test]
    fn a_full_mailbox_drops_its_oldest_command_and_says_so() {
        let mailbox = Mailbox::new(2, Duration::from_secs(10));
        assert!(mailbox.push(command("a"), "r".into()).is_none());
        assert!(mailbox.push(command("b"), "r".into()).is_none());
        let dropped = mailbox.push(command("c"), "r".into()).expect("dropped");
        assert_eq!(dropped.command.id, "a");
        assert_eq!(mailbox.pending(), 2);
    }
}
