//! The AI tutor, one feature in one folder: [`tutor`] is the engine ([`AiSettings`], the prompt
//! templates, the safety screen and the model calls through `async-openai`; no HTTP, no
//! database), [`routes`] the `/api/v1/ai/...` handlers (thin: parse, authorize, call, answer),
//! [`quotas`] the plan's daily tokens, [`tasks`] the `agent_tasks` rows every call leaves,
//! [`relay`] the Server-Sent Events stream and the copy of it on the student's `user:` room,
//! [`threads`] a conversation's bounded memory (the last turns and a summary of older ones),
//! `thread_routes` the conversations read back, and `task_routes` the tasks read back by staff
//! and a drafted lesson saved into a course.
//! What the operator may set ([`AiArgs`]) is declared and checked into [`AiSettings`] in
//! `settings.rs`.

pub mod quotas;
pub mod relay;
pub(crate) mod routes;
mod settings;
mod task_routes;
pub mod tasks;
mod thread_routes;
pub(crate) mod threads;
pub mod tutor;

pub use settings::AiArgs;
pub use tutor::*;

use std::time::Duration;

use crate::api::{ApiError, ErrorKind};

pub(crate) fn not_configured() -> ApiError {
    ApiError::new(
        ErrorKind::Unavailable,
        "the AI tutor is not configured on this server; the operator must set OPENAI_API_KEY (and OPENAI_BASE_URL for an endpoint other than OpenAI's)",
    )
}

pub(crate) fn ai_failed(error: &AiError) -> ApiError {
    tracing::warn!(cause = %error, "ai call failed");
    match error {
        AiError::Busy(_) => ApiError::new(
            ErrorKind::Unavailable,
            "the AI service is busy right now; try again in a minute",
        )
        .with_retry_after(Duration::from_secs(30)),
        AiError::Upstream(_) | AiError::Unreachable(_) => ApiError::new(
            ErrorKind::Unavailable,
            "the AI service failed to answer; try again in a minute",
        )
        .with_retry_after(Duration::from_secs(30)),
    }
}
