//! Moderated class chat: the one rule every door that carries chat calls (`/ws` `publish` of
//! kind `chat`, `POST /api/v1/classes/{id}/chat`), and the teacher's tools (`routes.rs`).
//!
//! A message goes through three steps:
//! 1. [`ChatRules::admit`], in memory and at once: who may send it (the class rule as it is
//!    now), its text (a string of 1..=`--chat-max-chars` characters, in a class room), and for
//!    students the class's rules: a mute, slow mode, `--chat-per-minute`, and the school's
//!    blocklist (a blocked word holds the message with the reason `blocklist:<word>`).
//! 2. [`screen`]: a student's message that passed goes to the OpenAI moderation endpoint when
//!    AI is configured with a moderation model. A flagged message is held with its categories;
//!    one the endpoint could not judge is held with `moderation_unavailable` (nothing unscreened
//!    reaches classmates). Staff messages skip both screens.
//! 3. [`post`]: the message is published and
//!    stored (a durable event through the sink): shown as `chat` (data `{"text"}`, the event's
//!    `id` names the message), or held as `chat_held` (data `{"text", "student", "reasons"}`,
//!    id `held:` + the message id), which only staff and the sender see
//!    (`protocol::audience`).
//!
//! The rules live in [`ChatRules`]: loaded from the database at start, changed only by the REST
//! routes (which write the database first), checked from memory. A deletion or a release
//! publishes `chat_deleted` / `chat_released` (`{"id"}`), which screens apply and the sink
//! turns into the deletion of the stored message (or its held copy); the room's history ring
//! forgets it at once (`Hub::retract`).

pub mod routes;
mod settings;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use persistence::ChatRulesSnapshot;
use protocol::{ErrorCode, RoomId, RoomKind};
use serde_json::{Value, json};

use crate::ai::Screen;
use crate::api::{ApiError, ErrorKind};
use crate::app::AppState;
use crate::auth::{Identity, Role};
use crate::hub::permissions::{self, Denied};
use crate::hub::{HubError, IngestOutcome, Published, TrustedEvent};
pub use settings::{ChatArgs, ChatSettings};

/// Longest slow mode a teacher may set, in seconds.
pub const MAX_SLOW_SECONDS: u32 = 3600;
/// Longest mute a teacher may give, in minutes (a week).
pub const MAX_MUTE_MINUTES: u32 = 7 * 24 * 60;
/// Longest blocklist entry, in characters.
pub const MAX_BLOCKED_CHARS: usize = 64;
/// Longest client-made message id, in bytes.
const MAX_ID_BYTES: usize = 64;

type ClassKey = (String, String);
type StudentKey = (String, String, String);

/// Class chat's rules as they are now (see the module header).
#[derive(Debug)]
pub struct ChatRules {
    settings: ChatSettings,
    /// Seconds of slow mode per (tenant, class); absent: off.
    slow: DashMap<ClassKey, u32>,
    /// Mutes per (tenant, class, student): until when, Unix milliseconds.
    mutes: DashMap<StudentKey, i64>,
    /// Each school's blocked words, lower-case, with their matcher.
    blocklists: DashMap<String, Arc<Blocklist>>,
    /// When each student last sent a message in a class under slow mode (Unix milliseconds).
    last_sent: DashMap<StudentKey, i64>,
    /// Messages per student per minute.
    rate: DefaultKeyedRateLimiter<(String, String)>,
}

/// A school's blocked words and one automaton over all of them, so screening a message is one
/// pass over its text however long the list is (`benches/benches/chat.rs`).
#[derive(Debug)]
struct Blocklist {
    words: Vec<String>,
    matcher: Option<aho_corasick::AhoCorasick>,
}

impl Blocklist {
    fn new(words: Vec<String>) -> Blocklist {
        let matcher = aho_corasick::AhoCorasick::new(&words)
            .inspect_err(|error| tracing::error!(%error, "a chat blocklist could not be compiled"))
            .ok();
        Blocklist { words, matcher }
    }

    /// The entries `lower` (a lower-cased message) holds as whole words, in the list's order.
    fn found_in(&self, lower: &str) -> Vec<&str> {
        let Some(matcher) = &self.matcher else {
            return Vec::new();
        };
        let mut found: Vec<usize> = matcher
            .find_overlapping_iter(lower)
            .filter(|hit| {
                let before = lower[..hit.start()].chars().next_back();
                let after = lower[hit.end()..].chars().next();
                before.is_none_or(|c| !c.is_alphanumeric())
                    && after.is_none_or(|c| !c.is_alphanumeric())
            })
            .map(|hit| hit.pattern().as_usize())
            .collect();
        found.sort_unstable();
        found.dedup();
        found
            .into_iter()
            .filter_map(|index| self.words.get(index).map(String::as_str))
            .collect()
    }
}

/// Why a message was refused (it was neither shown nor held).
#[derive(Debug, thiserror::Error)]
pub enum ChatRefusal {
    /// The message is not valid chat.
    #[error("{0}")]
    Invalid(String),
    /// The sender may not chat here.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The sender's socket has not joined the room.
    #[error("join {0} before chatting in it")]
    NotJoined(String),
    /// The sender is muted in this class.
    #[error(
        "you are muted in this class's chat for {minutes} more minute(s); your teacher can lift it"
    )]
    Muted {
        /// Minutes left, rounded up.
        minutes: i64,
    },
    /// Slow mode: the sender's last message was too recent.
    #[error(
        "slow mode is on in this class: one message every {seconds} s; retry after {retry_after_ms} ms"
    )]
    SlowMode {
        /// The class's slow mode.
        seconds: u32,
        /// When the next message may go.
        retry_after_ms: u64,
    },
    /// The sender's `--chat-per-minute` is spent.
    #[error(
        "too many chat messages (at most {per_minute} a minute); retry after {retry_after_ms} ms"
    )]
    TooFast {
        /// The limit.
        per_minute: u32,
        /// When the next message may go.
        retry_after_ms: u64,
    },
    /// The hub could not take it (its durable queue is full).
    #[error(transparent)]
    Hub(#[from] HubError),
}

impl ChatRefusal {
    /// The `/ws` error code.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ChatRefusal::Invalid(_) => ErrorCode::InvalidMessage,
            ChatRefusal::Denied(_) | ChatRefusal::Muted { .. } => ErrorCode::Forbidden,
            ChatRefusal::NotJoined(_) => ErrorCode::NotJoined,
            ChatRefusal::SlowMode { .. } | ChatRefusal::TooFast { .. } => ErrorCode::RateLimited,
            ChatRefusal::Hub(error) => error.error_code(),
        }
    }

    /// When to retry, for the refusals that pass.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            ChatRefusal::SlowMode { retry_after_ms, .. }
            | ChatRefusal::TooFast { retry_after_ms, .. } => Some(*retry_after_ms),
            ChatRefusal::Hub(error) if error.error_code().is_retryable() => Some(1000),
            _ => None,
        }
    }
}

impl From<ChatRefusal> for ApiError {
    fn from(refusal: ChatRefusal) -> ApiError {
        let retry = refusal.retry_after_ms().map(Duration::from_millis);
        let error = match &refusal {
            ChatRefusal::Invalid(problem) => return ApiError::invalid_field("text", problem),
            ChatRefusal::Denied(_) | ChatRefusal::Muted { .. } | ChatRefusal::NotJoined(_) => {
                ApiError::new(ErrorKind::Forbidden, refusal.to_string())
            }
            ChatRefusal::SlowMode { .. } | ChatRefusal::TooFast { .. } => {
                ApiError::new(ErrorKind::RateLimited, refusal.to_string())
            }
            ChatRefusal::Hub(HubError::SinkFull(_) | HubError::NotDurable) => {
                ApiError::new(ErrorKind::Unavailable, refusal.to_string())
            }
            ChatRefusal::Hub(other) => ApiError::internal(other),
        };
        match retry {
            Some(after) => error.with_retry_after(after),
            None => error,
        }
    }
}

/// What moderation decided about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Waiting for the moderation endpoint.
    Pending,
    /// Shown to the class.
    Shown,
    /// Held for the teacher, with the reasons.
    Held(Vec<String>),
}

/// A message the rules admitted, on its way to being shown or held.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The sender, as the rules saw them.
    pub identity: Identity,
    /// The class room.
    pub room: RoomId,
    /// The message's text.
    pub text: String,
    /// The message id (the shown event's id).
    pub id: String,
    /// The verdict so far.
    pub verdict: Verdict,
}

impl Draft {
    /// Whether it still waits for the moderation endpoint.
    pub fn is_pending(&self) -> bool {
        self.verdict == Verdict::Pending
    }
}

/// A message shown or held.
#[derive(Debug)]
pub struct Posted {
    /// The message id.
    pub id: String,
    /// Why it was held; `None`: shown.
    pub held: Option<Vec<String>>,
    /// Its seq in the room, and the ack of its commit.
    pub published: Published,
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

impl ChatRules {
    /// The rules of `snapshot` (read at start), with `settings`' limits.
    pub fn new(settings: ChatSettings, snapshot: ChatRulesSnapshot) -> ChatRules {
        let per_minute = NonZeroU32::new(settings.per_minute).unwrap_or(NonZeroU32::MIN);
        let rules = ChatRules {
            rate: RateLimiter::keyed(Quota::per_minute(per_minute)),
            settings,
            slow: DashMap::new(),
            mutes: DashMap::new(),
            blocklists: DashMap::new(),
            last_sent: DashMap::new(),
        };
        for (tenant, class, seconds) in snapshot.slow {
            rules.set_slow_mode(&tenant, &class, seconds);
        }
        for mute in snapshot.mutes {
            rules
                .mutes
                .insert((mute.tenant_id, mute.class_id, mute.user_id), mute.until_ms);
        }
        for (tenant, words) in snapshot.blocklists {
            rules.set_blocklist(&tenant, words);
        }
        rules
    }

    /// The limits.
    pub fn settings(&self) -> &ChatSettings {
        &self.settings
    }

    /// Checks a message against the rules as they are now (step 1 of the module header).
    /// `joined`: whether the sender's socket is in the room (a socket's students must join
    /// first; the REST door has no socket and passes `true`). `client_id` makes the message id,
    /// so a retried message is shown once.
    pub fn admit(
        &self,
        app: &AppState,
        identity: &Identity,
        room: &RoomId,
        data: &Value,
        (client_id, joined): (Option<&str>, bool),
    ) -> Result<Draft, ChatRefusal> {
        // The rule as it is now first (a roster removal says so), then membership.
        may_chat(app, identity, room)?;
        if permissions::must_join_to_publish(identity) && !joined {
            return Err(ChatRefusal::NotJoined(room.to_string()));
        }
        let text = self.text_of(data)?;
        let id = message_id(&identity.user, client_id)?;
        let verdict = if matches!(identity.role, Role::Educator | Role::Admin) {
            Verdict::Shown
        } else {
            let key = (
                identity.tenant.clone(),
                room.local_id().to_owned(),
                identity.user.clone(),
            );
            let now = now_ms();
            self.check_mute(&key, now)?;
            self.check_slow_mode(&key, now)?;
            self.check_rate(identity)?;
            if self.slow_mode(&key.0, &key.1).is_some() {
                self.last_sent.insert(key.clone(), now);
            }
            match self.blocked_words(&identity.tenant, &text) {
                words if !words.is_empty() => Verdict::Held(words),
                _ if app.tutor().is_some_and(crate::ai::Tutor::moderates) => Verdict::Pending,
                _ => Verdict::Shown,
            }
        };
        Ok(Draft {
            identity: identity.clone(),
            room: room.clone(),
            text,
            id,
            verdict,
        })
    }

    fn text_of(&self, data: &Value) -> Result<String, ChatRefusal> {
        let text = data
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| ChatRefusal::Invalid("chat data must be {\"text\": \"...\"}".into()))?;
        let trimmed = text.trim();
        let chars = trimmed.chars().count();
        if chars == 0 {
            return Err(ChatRefusal::Invalid("chat text is empty".into()));
        }
        if chars > self.settings.max_chars {
            return Err(ChatRefusal::Invalid(format!(
                "chat text is {chars} characters; at most {} (--chat-max-chars)",
                self.settings.max_chars
            )));
        }
        Ok(trimmed.to_owned())
    }

    fn check_mute(&self, key: &StudentKey, now: i64) -> Result<(), ChatRefusal> {
        let until = self.mutes.get(key).map(|until| *until);
        match until {
            Some(until) if until > now => Err(ChatRefusal::Muted {
                minutes: (until - now + 59_999) / 60_000,
            }),
            Some(_) => {
                self.mutes.remove_if(key, |_, until| *until <= now);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn check_slow_mode(&self, key: &StudentKey, now: i64) -> Result<(), ChatRefusal> {
        let Some(seconds) = self.slow_mode(&key.0, &key.1) else {
            return Ok(());
        };
        let last = self.last_sent.get(key).map(|last| *last);
        let next = last.map_or(0, |last| last + i64::from(seconds) * 1000);
        if next > now {
            return Err(ChatRefusal::SlowMode {
                seconds,
                retry_after_ms: u64::try_from(next - now).unwrap_or(0),
            });
        }
        Ok(())
    }

    fn check_rate(&self, identity: &Identity) -> Result<(), ChatRefusal> {
        let key = (identity.tenant.clone(), identity.user.clone());
        self.rate.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(self.rate.clock()));
            ChatRefusal::TooFast {
                per_minute: self.settings.per_minute,
                retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
            }
        })
    }

    /// The school's blocklist entries `text` contains (as `blocklist:<entry>`).
    pub fn blocked_words(&self, tenant: &str, text: &str) -> Vec<String> {
        let Some(list) = self.blocklists.get(tenant).map(|list| Arc::clone(&list)) else {
            return Vec::new();
        };
        list.found_in(&text.to_lowercase())
            .into_iter()
            .map(|word| format!("blocklist:{word}"))
            .collect()
    }

    /// A class's slow mode, when on.
    pub fn slow_mode(&self, tenant: &str, class: &str) -> Option<u32> {
        self.slow
            .get(&(tenant.to_owned(), class.to_owned()))
            .map(|seconds| *seconds)
    }

    /// Sets a class's slow mode (0: off), after the database has it.
    pub fn set_slow_mode(&self, tenant: &str, class: &str, seconds: u32) {
        let key = (tenant.to_owned(), class.to_owned());
        if seconds == 0 {
            self.slow.remove(&key);
        } else {
            self.slow.insert(key, seconds);
        }
    }

    /// A class's running mutes: (student, until in Unix milliseconds).
    pub fn mutes_of(&self, tenant: &str, class: &str) -> Vec<(String, i64)> {
        let now = now_ms();
        let mut mutes: Vec<(String, i64)> = self
            .mutes
            .iter()
            .filter(|entry| {
                let (mute_tenant, mute_class, _) = entry.key();
                mute_tenant == tenant && mute_class == class && *entry.value() > now
            })
            .map(|entry| (entry.key().2.clone(), *entry.value()))
            .collect();
        mutes.sort();
        mutes
    }

    /// Mutes a student until `until_ms` (`None`: lifts it), after the database has it.
    pub fn set_mute(&self, tenant: &str, class: &str, student: &str, until_ms: Option<i64>) {
        let key = (tenant.to_owned(), class.to_owned(), student.to_owned());
        match until_ms {
            Some(until) => {
                self.mutes.insert(key, until);
            }
            None => {
                self.mutes.remove(&key);
            }
        }
    }

    /// A school's blocked words.
    pub fn blocklist(&self, tenant: &str) -> Vec<String> {
        self.blocklists
            .get(tenant)
            .map(|list| list.words.clone())
            .unwrap_or_default()
    }

    /// Replaces a school's blocked words (already checked), after the database has them.
    pub fn set_blocklist(&self, tenant: &str, words: Vec<String>) {
        if words.is_empty() {
            self.blocklists.remove(tenant);
        } else {
            self.blocklists
                .insert(tenant.to_owned(), Arc::new(Blocklist::new(words)));
        }
    }

    /// Forgets what no rule needs any more: ended mutes, last messages older than the longest
    /// slow mode, idle rate keys. Run once a minute.
    pub fn upkeep(&self) {
        let now = now_ms();
        self.mutes.retain(|_, until| *until > now);
        let oldest = now - i64::from(MAX_SLOW_SECONDS) * 1000;
        self.last_sent.retain(|_, last| *last > oldest);
        self.rate.retain_recent();
    }
}

/// The message id: made from the sender and their client id (a retry is the same message, and
/// no one's id can stand for another's), or a fresh one. It never holds the sender's id, so a
/// teacher's tombstone naming it names no student after an erasure.
fn message_id(user: &str, client_id: Option<&str>) -> Result<String, ChatRefusal> {
    match client_id {
        None => Ok(crate::api::ids::new_id("chat")),
        Some(id) if id.is_empty() || id.len() > MAX_ID_BYTES || id.contains(char::is_control) => {
            Err(ChatRefusal::Invalid(format!(
                "a chat message's id must be 1..={MAX_ID_BYTES} bytes without control characters"
            )))
        }
        Some(id) => {
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(format!("{user}\n{id}").as_bytes());
            Ok(format!("chat_{}", hex::encode(&digest[..12])))
        }
    }
}

/// Whether `identity` may chat in `room` as the rules are now: class rooms only; staff who
/// manage the class, students on its roster (the publish and join rules of `hub::permissions`).
pub fn may_chat(app: &AppState, identity: &Identity, room: &RoomId) -> Result<(), ChatRefusal> {
    if room.kind() != RoomKind::Class {
        return Err(ChatRefusal::Invalid(format!(
            "chat goes to a class room (class:{{school}}:{{class}}), not {room}"
        )));
    }
    let rosters = app.hub().rosters();
    permissions::check_publish(identity, room, "chat", rosters)?;
    if permissions::must_join_to_publish(identity) {
        permissions::check_join(identity, room, rosters)?;
    }
    Ok(())
}

/// Step 2: the moderation endpoint's verdict on a pending draft (others come back unchanged).
/// The verdict takes time, so the sender's rule and mute are checked again after it, as they
/// are then.
pub async fn screen(app: &AppState, mut draft: Draft) -> Result<Draft, ChatRefusal> {
    if !draft.is_pending() {
        return Ok(draft);
    }
    draft.verdict = match app.tutor() {
        None => Verdict::Shown,
        Some(tutor) => match tutor.moderate(&draft.text).await {
            Ok(Screen::Allowed) => Verdict::Shown,
            Ok(Screen::Refused(categories)) => Verdict::Held(
                categories
                    .into_iter()
                    .map(|category| format!("moderation:{category}"))
                    .collect(),
            ),
            Err(error) => {
                tracing::warn!(error = %error, "chat moderation failed; the message is held");
                Verdict::Held(vec!["moderation_unavailable".to_owned()])
            }
        },
    };
    let identity = &draft.identity;
    may_chat(app, identity, &draft.room)?;
    let key = (
        identity.tenant.clone(),
        draft.room.local_id().to_owned(),
        identity.user.clone(),
    );
    app.chat().check_mute(&key, now_ms())?;
    Ok(draft)
}

/// Step 3: shows or holds a screened draft.
pub fn post(app: &AppState, draft: Draft) -> Result<Posted, ChatRefusal> {
    let identity = &draft.identity;
    let (event_id, kind, data, held) = match draft.verdict {
        Verdict::Held(reasons) => (
            format!("held:{}", draft.id),
            "chat_held",
            json!({"text": draft.text, "student": identity.user, "reasons": reasons}),
            Some(reasons),
        ),
        Verdict::Shown | Verdict::Pending => {
            (draft.id.clone(), "chat", json!({"text": draft.text}), None)
        }
    };
    let event = TrustedEvent {
        id: event_id,
        sender: identity.user.clone(),
        kind: kind.to_owned(),
        data,
        answer: None,
    };
    let published = publish(app, &draft.room, event)?;
    let outcome = if held.is_some() { "held" } else { "shown" };
    metrics::counter!("classhub_chat_messages_total", "outcome" => outcome).increment(1);
    Ok(Posted {
        id: draft.id,
        held,
        published,
    })
}

/// Publishes and stores one chat event in a class room.
pub(crate) fn publish(
    app: &AppState,
    room: &RoomId,
    event: TrustedEvent,
) -> Result<Published, ChatRefusal> {
    let mut outcomes = app
        .hub()
        .ingest(room.tenant(), std::slice::from_ref(room), vec![event])?;
    match outcomes.pop() {
        Some(IngestOutcome::Published { published, .. }) => Ok(published),
        Some(IngestOutcome::Rejected { error, .. }) => Err(ChatRefusal::Hub(error)),
        None => Err(ChatRefusal::Hub(HubError::NotDurable)),
    }
}

/// Counts a refused message.
pub fn refused(refusal: &ChatRefusal) {
    let reason = match refusal {
        ChatRefusal::Invalid(_) => "invalid",
        ChatRefusal::Denied(_) | ChatRefusal::NotJoined(_) => "denied",
        ChatRefusal::Muted { .. } => "muted",
        ChatRefusal::SlowMode { .. } => "slow_mode",
        ChatRefusal::TooFast { .. } => "rate",
        ChatRefusal::Hub(_) => "unavailable",
    };
    metrics::counter!("classhub_chat_messages_total", "outcome" => reason).increment(1);
}

/// Forgets idle rule state once a minute until shutdown.
pub async fn upkeep(app: AppState) {
    let mut ticker = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = app.shutdown().cancelled() => return,
            _ = ticker.tick() => app.chat().upkeep(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(per_minute: u32) -> ChatRules {
        let settings = ChatSettings {
            max_chars: 10,
            per_minute,
            blocklist_max_words: 5,
        };
        ChatRules::new(settings, ChatRulesSnapshot::default())
    }

    fn student(user: &str) -> Identity {
        Identity {
            user: user.into(),
            tenant: "t".into(),
            role: Role::Student,
            name: None,
            children: Vec::new(),
            expires_at: None,
        }
    }

    #[test]
    fn text_must_be_a_short_non_empty_string() {
        let rules = rules(5);
        assert_eq!(rules.text_of(&json!({"text": "  hi "})).unwrap(), "hi");
        assert!(rules.text_of(&json!({"text": "   "})).is_err());
        assert!(rules.text_of(&json!({"text": 5})).is_err());
        assert!(rules.text_of(&json!({})).is_err());
        let long = rules.text_of(&json!({"text": "ééééééééééé"})).unwrap_err();
        assert!(long.to_string().contains("--chat-max-chars"), "{long}");
    }

    #[test]
    fn mutes_end_on_time_and_slow_mode_spaces_messages() {
        let rules = rules(5);
        let key = ("t".to_owned(), "c".to_owned(), "s1".to_owned());
        let now = now_ms();
        rules.set_mute("t", "c", "s1", Some(now + 90_000));
        let muted = rules.check_mute(&key, now).unwrap_err();
        assert!(
            matches!(muted, ChatRefusal::Muted { minutes: 2 }),
            "{muted:?}"
        );
        assert!(
            rules.check_mute(&key, now + 90_001).is_ok(),
            "the mute ended"
        );
        rules.set_slow_mode("t", "c", 30);
        assert!(rules.check_slow_mode(&key, now).is_ok());
        rules.last_sent.insert(key.clone(), now);
        let slow = rules.check_slow_mode(&key, now + 10_000).unwrap_err();
        assert!(
            matches!(
                slow,
                ChatRefusal::SlowMode {
                    seconds: 30,
                    retry_after_ms: 20_000
                }
            ),
            "{slow:?}"
        );
        rules.set_slow_mode("t", "c", 0);
        assert!(
            rules.check_slow_mode(&key, now + 10_000).is_ok(),
            "slow mode off"
        );
    }

    #[test]
    fn the_rate_is_per_student_and_says_when_to_retry() {
        let rules = rules(2);
        assert!(rules.check_rate(&student("s1")).is_ok());
        assert!(rules.check_rate(&student("s1")).is_ok());
        let refused = rules.check_rate(&student("s1")).unwrap_err();
        assert!(refused.retry_after_ms().is_some_and(|ms| ms > 0));
        assert!(
            rules.check_rate(&student("s2")).is_ok(),
            "another student's budget"
        );
    }

    #[test]
    fn the_blocklist_matches_whole_words_whatever_their_case() {
        let rules = rules(5);
        rules.set_blocklist("t", vec!["darn".into(), "bad word".into()]);
        assert_eq!(rules.blocked_words("t", "Oh DARN it"), ["blocklist:darn"]);
        assert_eq!(
            rules.blocked_words("t", "a bad word here"),
            ["blocklist:bad word"]
        );
        assert!(rules.blocked_words("t", "darning socks").is_empty());
        assert!(
            rules.blocked_words("other", "darn").is_empty(),
            "per school"
        );
        // Overlapping entries are each found, once, in the list's order.
        rules.set_blocklist("t", vec!["bad word".into(), "word".into(), "bad".into()]);
        assert_eq!(
            rules.blocked_words("t", "bad word, bad word"),
            ["blocklist:bad word", "blocklist:word", "blocklist:bad"]
        );
        rules.set_blocklist("t", Vec::new());
        assert!(
            rules.blocked_words("t", "bad").is_empty(),
            "an emptied list"
        );
    }

    #[test]
    fn client_ids_are_scoped_to_their_sender() {
        let id = message_id("s1", Some("m1")).unwrap();
        assert_eq!(
            id,
            message_id("s1", Some("m1")).unwrap(),
            "a retry is the same message"
        );
        assert_ne!(
            id,
            message_id("s2", Some("m1")).unwrap(),
            "another sender's is not"
        );
        assert!(!id.contains("s1"), "{id}");
        assert!(message_id("s1", Some("")).is_err());
        assert!(message_id("s1", None).unwrap().starts_with("chat_"));
    }
}
