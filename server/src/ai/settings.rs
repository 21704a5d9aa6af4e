//! What the operator may set about the AI tutor ([`AiArgs`]: the OpenAI-compatible endpoint, a
//! model per task, moderation, answer length, the quota reservation) and how it is checked into
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
