//! Class chat's rules and pages: each class's slow mode (`classes.chat_slow_seconds`), muted
//! students (`chat_mutes`), each school's blocked words (`chat_blocklists`), read whole at start
//! ([`Store::chat_rules`]) so the server checks them in memory, and pages of a room's stored
//! messages (`game_events` of kind `chat` or `chat_held`, newest first). A message is deleted by
//! the sink when it writes the teacher's `chat_deleted` tombstone (`store.rs`); the server sends
//! one only for a message this store already holds, so it cannot overtake the message.

use crate::sql::{Page, Paged, exec, row, rows};
use crate::{Store, StoreError};

/// Every class's chat rules, read at start.
#[derive(Debug, Clone, Default)]
pub struct ChatRulesSnapshot {
    /// `(tenant, class, seconds)` of classes with slow mode on.
    pub slow: Vec<(String, String, u32)>,
    /// Mutes still running.
    pub mutes: Vec<ChatMute>,
    /// `(tenant, words)` of schools with a blocklist.
    pub blocklists: Vec<(String, Vec<String>)>,
}

/// A student muted in a class's chat.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChatMute {
    /// The school.
    pub tenant_id: String,
    /// The class.
    pub class_id: String,
    /// The student.
    pub user_id: String,
    /// Until when (Unix milliseconds).
    pub until_ms: i64,
}

/// One stored chat message (a `game_events` row).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ChatRecord {
    /// The row id (the page order).
    pub row_id: i64,
    /// The message id (a held message's stored id without its `held:` prefix).
    pub id: String,
    /// The room it was sent to.
    pub room: String,
    /// `chat` (shown) or `chat_held` (waiting for the teacher).
    pub kind: String,
    /// Who sent it.
    pub sender: String,
    /// The event's data as JSON text (`{"text", ...}`).
    pub data: String,
    /// When the server took it (ISO-8601, UTC).
    pub sent_at: String,
}

/// The columns of a [`ChatRecord`].
const COLUMNS: &str = "g.id AS row_id, CASE WHEN g.kind = 'chat_held' THEN substr(g.event_id, 6) \
                       ELSE g.event_id END AS id, g.room, g.kind, g.sender, \
                       JSONTEXT(g.data) AS data, TS(g.sent_at) AS sent_at";

impl Store {
    /// Every class's slow mode, the mutes running at `now_ms`, and every school's blocklist.
    pub async fn chat_rules(&self, now_ms: i64) -> Result<ChatRulesSnapshot, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Slow {
            tenant_id: String,
            id: String,
            chat_slow_seconds: i32,
        }
        #[derive(sqlx::FromRow)]
        struct Blocklist {
            tenant_id: String,
            words: String,
        }
        let slow = rows!(
            self,
            Slow,
            "SELECT tenant_id, id, chat_slow_seconds FROM classes WHERE chat_slow_seconds > 0"
        )?;
        let mutes = rows!(
            self,
            ChatMute,
            "SELECT tenant_id, class_id, user_id, until_ms FROM chat_mutes WHERE until_ms > $1",
            now_ms
        )?;
        let blocklists = rows!(
            self,
            Blocklist,
            "SELECT tenant_id, words FROM chat_blocklists"
        )?;
        Ok(ChatRulesSnapshot {
            slow: slow
                .into_iter()
                .map(|row| {
                    let seconds = u32::try_from(row.chat_slow_seconds).unwrap_or(0);
                    (row.tenant_id, row.id, seconds)
                })
                .collect(),
            mutes,
            blocklists: blocklists
                .into_iter()
                .map(|row| {
                    let words = serde_json::from_str(&row.words).unwrap_or_default();
                    (row.tenant_id, words)
                })
                .collect(),
        })
    }

    /// Sets a class's slow mode (0: off). Returns whether the class exists.
    pub async fn set_chat_slow_mode(
        &self,
        tenant: &str,
        class: &str,
        seconds: u32,
    ) -> Result<bool, StoreError> {
        let changed = exec!(
            self,
            "UPDATE classes SET chat_slow_seconds = $3 WHERE tenant_id = $1 AND id = $2",
            tenant,
            class,
            i32::try_from(seconds).unwrap_or(i32::MAX)
        )?;
        Ok(changed > 0)
    }

    /// A class's slow mode in seconds (0: off).
    pub async fn chat_slow_mode(&self, tenant: &str, class: &str) -> Result<u32, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Slow {
            chat_slow_seconds: i32,
        }
        let slow = row!(
            self,
            Slow,
            "SELECT chat_slow_seconds FROM classes WHERE tenant_id = $1 AND id = $2",
            tenant,
            class
        )?;
        Ok(slow.map_or(0, |slow| u32::try_from(slow.chat_slow_seconds).unwrap_or(0)))
    }

    /// Mutes `user` in a class's chat until `until_ms` (replacing an earlier mute).
    pub async fn set_chat_mute(&self, mute: &ChatMute, muted_by: &str) -> Result<(), StoreError> {
        exec!(
            self,
            "INSERT INTO chat_mutes (tenant_id, class_id, user_id, until_ms, muted_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, class_id, user_id) \
             DO UPDATE SET until_ms = excluded.until_ms, muted_by = excluded.muted_by",
            &mute.tenant_id,
            &mute.class_id,
            &mute.user_id,
            mute.until_ms,
            muted_by
        )?;
        Ok(())
    }

    /// Lifts a mute; returns whether there was one.
    pub async fn clear_chat_mute(
        &self,
        tenant: &str,
        class: &str,
        user: &str,
    ) -> Result<bool, StoreError> {
        let removed = exec!(
            self,
            "DELETE FROM chat_mutes WHERE tenant_id = $1 AND class_id = $2 AND user_id = $3",
            tenant,
            class,
            user
        )?;
        Ok(removed > 0)
    }

    /// Replaces a school's blocked words.
    pub async fn set_chat_blocklist(
        &self,
        tenant: &str,
        words: &[String],
        updated_by: &str,
    ) -> Result<(), StoreError> {
        let words = serde_json::to_string(words).unwrap_or_else(|_| "[]".to_owned());
        exec!(
            self,
            "INSERT INTO chat_blocklists (tenant_id, words, updated_by) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET words = excluded.words, \
             updated_by = excluded.updated_by, updated_at = NOW()",
            tenant,
            words,
            updated_by
        )?;
        Ok(())
    }

    /// A page of a room's stored messages of `kind` (`chat` or `chat_held`), newest first; the
    /// page key is the row id.
    pub async fn chat_messages(
        &self,
        tenant: &str,
        room: &str,
        kind: &str,
        page: &Page<i64>,
    ) -> Result<Paged<ChatRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM game_events g WHERE g.tenant_id = $1 AND g.room = $2 \
             AND g.kind = $3 AND g.id < $4 ORDER BY g.id DESC LIMIT $5"
        );
        let before = page.after.unwrap_or(i64::MAX);
        let limit = i64::from(page.limit) + 1;
        let items = rows!(self, ChatRecord, &sql, tenant, room, kind, before, limit)?;
        Ok(Paged::cut(items, page.limit))
    }

    /// The stored message `id` of a room: shown (`chat`) or held (`chat_held`).
    pub async fn chat_message(
        &self,
        tenant: &str,
        room: &str,
        id: &str,
    ) -> Result<Option<ChatRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM game_events g WHERE g.tenant_id = $1 AND g.room = $2 \
             AND ((g.kind = 'chat' AND g.event_id = $3) OR (g.kind = 'chat_held' AND g.event_id = $4))"
        );
        let held = format!("held:{id}");
        Ok(row!(self, ChatRecord, &sql, tenant, room, id, held)?)
    }
}
