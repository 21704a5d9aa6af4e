//! A room's bounded history ring: the last N events, none older than a maximum age. Joining
//! with `since {epoch, seq}` replays from here when the gap is still covered.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use protocol::ServerMessage;
use serde_json::Value;
use tokio::time::Instant;

/// One remembered event.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) at: Instant,
    /// `None` once forgotten (an erased student's): the seq stays, so a replay across it is
    /// still complete, and leaves it out.
    pub(crate) message: Option<Arc<ServerMessage>>,
    /// The student a personal event is about (`protocol::audience`): only staff and they get
    /// it in a replay.
    pub(crate) subject: Option<Arc<str>>,
}

/// The ring. Capacity and age come from the hub settings.
#[derive(Debug)]
pub(crate) struct History {
    entries: VecDeque<Entry>,
    /// Client event ids of the entries that carry one, to recognise a retried publish.
    ids: HashMap<String, u64>,
    max_len: usize,
    max_age: Duration,
}

/// What a `since` position can be recovered to.
#[derive(Debug, PartialEq)]
pub(crate) enum Recovery {
    /// Every event after `since` that the joiner may see is here (possibly none).
    Complete(Vec<Arc<ServerMessage>>),
    /// Part of the gap has been evicted (or `since` is from the future): send a fresh snapshot.
    Incomplete,
}

impl History {
    pub(crate) fn new(max_len: usize, max_age: Duration) -> History {
        History {
            entries: VecDeque::with_capacity(max_len.min(64)),
            ids: HashMap::new(),
            max_len,
            max_age,
        }
    }

    /// Remembers an event; `seq` must be larger than every seq already here.
    pub(crate) fn push(
        &mut self,
        seq: u64,
        now: Instant,
        message: Arc<ServerMessage>,
        subject: Option<Arc<str>>,
    ) {
        if self.max_len == 0 {
            return;
        }
        if self.entries.len() == self.max_len {
            self.pop_oldest();
        }
        if let Some(id) = event_id(&message) {
            self.ids.insert(id.to_owned(), seq);
        }
        self.entries.push_back(Entry {
            seq,
            at: now,
            message: Some(message),
            subject,
        });
        self.evict_expired(now);
    }

    /// The events after `since_seq` that `visible` allows (given a personal event's student),
    /// when the ring still covers them. `last_seq` is the room's current sequence number.
    pub(crate) fn since(
        &mut self,
        since_seq: u64,
        last_seq: u64,
        now: Instant,
        visible: impl Fn(Option<&str>) -> bool,
    ) -> Recovery {
        self.evict_expired(now);
        if since_seq > last_seq {
            return Recovery::Incomplete;
        }
        if since_seq == last_seq {
            return Recovery::Complete(Vec::new());
        }
        match self.entries.front() {
            Some(oldest) if oldest.seq <= since_seq + 1 => Recovery::Complete(
                self.entries
                    .iter()
                    .filter(|entry| entry.seq > since_seq && visible(entry.subject.as_deref()))
                    .filter_map(|entry| entry.message.clone())
                    .collect(),
            ),
            Some(_) | None => Recovery::Incomplete,
        }
    }

    /// Forgets every remembered event `user` sent, is about, or names in its payload (an erased
    /// student): the message goes, its seq stays (a replay across it stays complete and leaves it
    /// out). Returns how many.
    pub(crate) fn forget(&mut self, user: &str) -> usize {
        let quoted = Value::String(user.to_owned()).to_string();
        let mut forgotten = 0;
        for entry in &mut self.entries {
            let Some(message) = &entry.message else {
                continue;
            };
            let names = entry.subject.as_deref() == Some(user)
                || match &**message {
                    ServerMessage::Event(body)
                    | ServerMessage::Command(body)
                    | ServerMessage::Notification(body) => {
                        body.from == user || body.data.to_string().contains(&quoted)
                    }
                    _ => false,
                };
            if names {
                if let Some(id) = event_id(message) {
                    self.ids.remove(id);
                }
                entry.message = None;
                entry.subject = None;
                forgotten += 1;
            }
        }
        forgotten
    }

    /// Takes the remembered event with id `id` out of replays (a deleted chat message): its seq
    /// stays, like a forgotten one's, and so does its id, so a retried publish of it is not
    /// shown again. Returns whether it was here.
    pub(crate) fn retract(&mut self, id: &str) -> bool {
        let Some(&seq) = self.ids.get(id) else {
            return false;
        };
        let Ok(at) = self.entries.binary_search_by_key(&seq, |entry| entry.seq) else {
            return false;
        };
        let entry = &mut self.entries[at];
        entry.subject = None;
        entry.message.take().is_some()
    }

    /// The seq of the remembered event with client id `id`, if it is still here.
    pub(crate) fn seq_of(&mut self, id: &str, now: Instant) -> Option<u64> {
        self.evict_expired(now);
        self.ids.get(id).copied()
    }

    fn evict_expired(&mut self, now: Instant) {
        while let Some(oldest) = self.entries.front() {
            if now.saturating_duration_since(oldest.at) <= self.max_age {
                break;
            }
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some(oldest) = self.entries.pop_front()
            && let Some(message) = &oldest.message
            && let Some(id) = event_id(message)
            && self.ids.get(id) == Some(&oldest.seq)
        {
            self.ids.remove(id);
        }
    }
}

fn event_id(message: &ServerMessage) -> Option<&str> {
    match message {
        ServerMessage::Event(body)
        | ServerMessage::Command(body)
        | ServerMessage::Notification(body) => body.id.as_deref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Pong, ServerMessage};

    fn message() -> Arc<ServerMessage> {
        Arc::new(ServerMessage::Pong(Pong { reference: None }))
    }

    fn count(recovery: Recovery) -> Option<usize> {
        match recovery {
            Recovery::Complete(events) => Some(events.len()),
            Recovery::Incomplete => None,
        }
    }

    #[test]
    fn covers_gaps_within_length_and_age() {
        let mut history = History::new(3, Duration::from_secs(60));
        let start = Instant::now();
        for seq in 1..=5 {
            history.push(seq, start, message(), None);
        }
        // Ring holds 3, 4, 5.
        let check = |history: &mut History, since: u64, expected: Option<usize>| {
            let got = history.since(since, 5, start, |_| true);
            assert_eq!(count(got), expected, "since {since}");
        };
        check(&mut history, 5, Some(0));
        check(&mut history, 4, Some(1));
        check(&mut history, 2, Some(3));
        check(&mut history, 1, None);
        check(&mut history, 9, None);
        // After the maximum age everything is gone, so only "nothing missed" recovers.
        let later = start + Duration::from_secs(61);
        assert_eq!(history.since(4, 5, later, |_| true), Recovery::Incomplete);
        assert_eq!(
            history.since(5, 5, later, |_| true),
            Recovery::Complete(Vec::new())
        );
    }

    #[test]
    fn a_retracted_event_leaves_replays_and_its_retry_is_not_shown_again() {
        let mut history = History::new(10, Duration::from_secs(60));
        let start = Instant::now();
        let chat = |seq: u64, id: &str| {
            Arc::new(ServerMessage::Event(protocol::EventBody {
                room: "class:t:c".into(),
                seq,
                ts: 0,
                from: "s1".into(),
                kind: "chat".into(),
                data: serde_json::json!({"text": id}).into(),
                id: Some(id.into()),
                ephemeral: false,
            }))
        };
        history.push(1, start, chat(1, "m1"), None);
        history.push(2, start, chat(2, "m2"), None);
        assert!(history.retract("m1"));
        assert!(!history.retract("m1"), "already gone");
        assert!(!history.retract("unknown"));
        let Recovery::Complete(replay) = history.since(0, 2, start, |_| true) else {
            panic!("the replay is still complete");
        };
        assert_eq!(replay.len(), 1, "only m2 is replayed");
        assert_eq!(
            history.seq_of("m1", start),
            Some(1),
            "a retry of m1 is recognised"
        );
    }
}
