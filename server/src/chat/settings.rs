//! What the operator may set about class chat ([`ChatArgs`]: the longest message, each
//! student's rate, the size of a school's blocklist) and how it is checked into
//! [`ChatSettings`], defaults included.

use serde::Deserialize;

use crate::config::{ConfigError, at_least_one, layered};

layered! {
    /// The chat settings (see `crate::config` for how flags, environment and file combine).
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct ChatArgs {
        /// Longest chat message, in characters; longer: refused [default: 500].
        #[arg(long, env = "CLASSHUB_CHAT_MAX_CHARS")]
        pub chat_max_chars: Option<u32>,
        /// Chat messages a student may send per minute (all their classes); more: refused with
        /// `retry_after_ms` (REST: 429) [default: 20].
        #[arg(long, env = "CLASSHUB_CHAT_PER_MINUTE")]
        pub chat_per_minute: Option<u32>,
        /// Words and phrases a school's chat blocklist may hold (each at most 64 characters)
        /// [default: 500].
        #[arg(long, env = "CLASSHUB_CHAT_BLOCKLIST_MAX_WORDS")]
        pub chat_blocklist_max_words: Option<u32>,
    }
}

/// Class chat's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSettings {
    /// Longest message, in characters.
    pub max_chars: usize,
    /// Messages per student per minute.
    pub per_minute: u32,
    /// Entries a school's blocklist may hold.
    pub blocklist_max_words: usize,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatArgs::default()
            .resolve()
            .expect("the built-in defaults are valid")
    }
}

impl ChatArgs {
    /// The chat settings, checked: every limit at least one.
    pub fn resolve(self) -> Result<ChatSettings, ConfigError> {
        Ok(ChatSettings {
            max_chars: at_least_one("chat-max-chars", self.chat_max_chars, 500)? as usize,
            per_minute: at_least_one("chat-per-minute", self.chat_per_minute, 20)?,
            blocklist_max_words: at_least_one(
                "chat-blocklist-max-words",
                self.chat_blocklist_max_words,
                500,
            )? as usize,
        })
    }
}
