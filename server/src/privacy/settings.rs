//! What the operator may set about students' data ([`PrivacyArgs`]: erasure and export batches,
//! the default retention of raw events, AI transcripts and chat, how often the purge runs) and
//! how it is checked into [`PrivacySettings`], defaults included.

use std::time::Duration;

use serde::Deserialize;

use super::PrivacySettings;
use crate::config::{ConfigError, DurationArg, at_least_one, layered, longer_than_zero};

layered! {
    /// The privacy settings (see `crate::config` for how flags, environment and file combine).
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct PrivacyArgs {
        /// Rows an erasure or the retention purge deletes per statement (each its own short
        /// transaction) [default: 1000].
        #[arg(long, env = "CLASSHUB_ERASE_BATCH_ROWS")]
        pub erase_batch_rows: Option<u32>,
        /// Rows an export reads per page (what it holds in memory at once) [default: 1000].
        #[arg(long, env = "CLASSHUB_EXPORT_PAGE_ROWS")]
        pub export_page_rows: Option<u32>,
        /// Days raw game events are kept, unless a school chose (0: until erasure) [default: 365].
        #[arg(long, env = "CLASSHUB_RETENTION_EVENTS_DAYS")]
        pub retention_events_days: Option<u32>,
        /// Days AI questions and answers are kept, unless a school chose (0: until erasure)
        /// [default: 90].
        #[arg(long, env = "CLASSHUB_RETENTION_AI_DAYS")]
        pub retention_ai_days: Option<u32>,
        /// Days chat messages are kept, unless a school chose (0: until erasure) [default: 30].
        #[arg(long, env = "CLASSHUB_RETENTION_CHAT_DAYS")]
        pub retention_chat_days: Option<u32>,
        /// How often the retention purge runs (first run a minute after start) [default: 1h].
        #[arg(long, env = "CLASSHUB_RETENTION_INTERVAL")]
        pub retention_interval: Option<DurationArg>,
    }
}

impl PrivacyArgs {
    /// The privacy settings, checked: batches at least one row, the interval above zero.
    pub fn resolve(self) -> Result<PrivacySettings, ConfigError> {
        Ok(PrivacySettings {
            erase_batch_rows: at_least_one("erase-batch-rows", self.erase_batch_rows, 1000)?,
            export_page_rows: at_least_one("export-page-rows", self.export_page_rows, 1000)?,
            events_days: self.retention_events_days.unwrap_or(365),
            ai_days: self.retention_ai_days.unwrap_or(90),
            chat_days: self.retention_chat_days.unwrap_or(30),
            retention_interval: longer_than_zero(
                "retention-interval",
                self.retention_interval,
                Duration::from_secs(3600),
            )?,
        })
    }
}
