//! What the operator may set about the AI tutor ([`AiArgs`]: the OpenAI-compatible endpoint, a
//! model per task, moderation, answer length, the quota reservation, a conversation's memory) and how it is checked into
//! [`AiSettings`], defaults included.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::tutor::{AiSettings, Task};
use crate::config::{ConfigError, at_least_one, http_url, layered};

layered! {
    /// The AI tutor's settings (see `crate::config` for how flags, environment and file
    /// combine).
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct AiArgs {
        /// API key of the OpenAI-compatible endpoint; without it the AI routes answer 503.
        #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
        pub openai_api_key: Option<String>,
        /// Base URL of the OpenAI-compatible endpoint (chat completions, moderations)
        /// [default: https://api.openai.com/v1].
        #[arg(long, env = "OPENAI_BASE_URL")]
        pub openai_base_url: Option<String>,
        /// Chat model of every AI task without its own [default: gpt-4o-mini].
        #[arg(long, env = "CLASSHUB_AI_MODEL")]
        pub ai_model: Option<String>,
        /// `TASK=MODEL` for `ask`, `explain`, `generate_content`, `create_assessment`; repeat,
        /// or comma-separate.
        #[arg(
            long = "ai-task-model",
            env = "CLASSHUB_AI_TASK_MODELS",
            value_delimiter = ','
        )]
        pub ai_task_models: Option<Vec<String>>,
        /// Moderation model run on input before the model; `off` leaves only the keyword screen
        /// [default: omni-moderation-latest].
        #[arg(long, env = "CLASSHUB_AI_MODERATION_MODEL")]
        pub ai_moderation_model: Option<String>,
        /// Longest answer, in tokens [default: 800].
        #[arg(long, env = "CLASSHUB_AI_MAX_TOKENS")]
        pub ai_max_tokens: Option<u32>,
        /// Tokens one AI call reserves from its school's daily allowance before the model is
        /// asked (settled to the real usage after; at most the whole allowance), so concurrent
        /// calls cannot overspend it [default: --ai-max-tokens].
        #[arg(long, env = "CLASSHUB_AI_RESERVE_TOKENS")]
        pub ai_reserve_tokens: Option<u32>,
        /// Turns of a tutor conversation kept word for word and sent with the next question;
        /// older turns are folded into the conversation's summary [default: 10].
        #[arg(long, env = "CLASSHUB_AI_THREAD_TURNS")]
        pub ai_thread_turns: Option<u32>,
        /// Longest summary of a tutor conversation's older turns, in characters; the oldest
        /// lines give way first [default: 2000].
        #[arg(long, env = "CLASSHUB_AI_THREAD_SUMMARY_CHARS")]
        pub ai_thread_summary_chars: Option<u32>,
        /// Longest answer kept in a tutor conversation, in characters (the student sees it
        /// whole; the rest is cut from what is stored and sent back to the model) [default:
        /// 4000].
        #[arg(long, env = "CLASSHUB_AI_THREAD_ANSWER_CHARS")]
        pub ai_thread_answer_chars: Option<u32>,
    }
}

impl AiArgs {
    /// The AI settings, checked: an http(s) endpoint, known tasks, a named moderation model or
    /// `off`, answers of at least one token.
    pub fn resolve(self) -> Result<AiSettings, ConfigError> {
        let base_url = http_url(
            "openai-base-url",
            self.openai_base_url,
            "https://api.openai.com/v1",
        )?;
        let mut task_models = BTreeMap::new();
        for entry in self.ai_task_models.unwrap_or_default() {
            let parsed = entry.split_once('=').filter(|(task, model)| {
                !model.is_empty() && Task::ALL.iter().any(|known| known.as_str() == *task)
            });
            let Some((task, model)) = parsed else {
                return Err(ConfigError::Invalid {
                    key: "ai-task-model",
                    reason: format!(
                        "{entry:?} is not TASK=MODEL with TASK one of ask, explain, generate_content, create_assessment"
                    ),
                });
            };
            task_models.insert(task.to_owned(), model.to_owned());
        }
        let moderation_model = match self.ai_moderation_model.as_deref() {
            None => Some("omni-moderation-latest".to_owned()),
            Some("off") => None,
            Some("") => {
                return Err(ConfigError::Invalid {
                    key: "ai-moderation-model",
                    reason: "name a moderation model or write off".into(),
                });
            }
            Some(model) => Some(model.to_owned()),
        };
        let max_tokens = at_least_one("ai-max-tokens", self.ai_max_tokens, 800)?;
        let reserve_tokens = at_least_one("ai-reserve-tokens", self.ai_reserve_tokens, max_tokens)?;
        let thread_turns = at_least_one("ai-thread-turns", self.ai_thread_turns, 10)?;
        let thread_summary_chars = at_least_one(
            "ai-thread-summary-chars",
            self.ai_thread_summary_chars,
            2000,
        )?;
        let thread_answer_chars =
            at_least_one("ai-thread-answer-chars", self.ai_thread_answer_chars, 4000)?;
        Ok(AiSettings {
            api_key: self.openai_api_key.filter(|key| !key.trim().is_empty()),
            base_url,
            default_model: self
                .ai_model
                .filter(|model| !model.is_empty())
                .unwrap_or_else(|| "gpt-4o-mini".to_owned()),
            task_models,
            moderation_model,
            max_tokens,
            reserve_tokens,
            thread_turns,
            thread_summary_chars,
            thread_answer_chars,
        })
    }
}

impl Default for AiSettings {
    fn default() -> Self {
        AiArgs::default()
            .resolve()
            .expect("the built-in defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_limits_have_defaults_and_refuse_zero_naming_the_key() {
        let settings = AiArgs::default().resolve().expect("defaults");
        assert_eq!(
            (
                settings.thread_turns,
                settings.thread_summary_chars,
                settings.thread_answer_chars
            ),
            (10, 2000, 4000)
        );
        let set = AiArgs {
            ai_thread_turns: Some(3),
            ai_thread_summary_chars: Some(200),
            ai_thread_answer_chars: Some(50),
            ..AiArgs::default()
        }
        .resolve()
        .expect("valid");
        assert_eq!(
            (
                set.thread_turns,
                set.thread_summary_chars,
                set.thread_answer_chars
            ),
            (3, 200, 50)
        );
        for (args, key) in [
            (
                AiArgs {
                    ai_thread_turns: Some(0),
                    ..AiArgs::default()
                },
                "ai-thread-turns",
            ),
            (
                AiArgs {
                    ai_thread_summary_chars: Some(0),
                    ..AiArgs::default()
                },
                "ai-thread-summary-chars",
            ),
            (
                AiArgs {
                    ai_thread_answer_chars: Some(0),
                    ..AiArgs::default()
                },
                "ai-thread-answer-chars",
            ),
        ] {
            let refused = args.resolve().expect_err("zero is refused");
            assert!(refused.to_string().contains(key), "{refused}");
        }
    }
}
