//! The AI tutor's engine: [`AiSettings`] (an OpenAI-compatible endpoint, a model per task,
//! moderation), the K-12 prompt templates (files in `templates/`, compiled in), and [`Tutor`],
//! which screens input (a local keyword screen, then the endpoint's moderation API when
//! configured) and calls chat completions, streamed or whole, through `async-openai`.
//!
//! It knows nothing of HTTP routes, quotas or the database: `ai::routes` decides who may ask,
//! `ai::tasks` records each call as an `agent_tasks` row and `ai::quotas` enforces the plan's
//! daily tokens.

use std::collections::BTreeMap;
use std::pin::Pin;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    ChatCompletionStreamOptions, CreateChatCompletionRequestArgs,
};
use async_openai::types::moderations::{CreateModerationRequest, ModerationInput};
use futures_util::{Stream, StreamExt};

/// The K-12 safety rules every prompt starts with.
pub const SAFETY_TEMPLATE: &str = include_str!("templates/safety.md");
/// What a student is told when their request is refused.
pub const REFUSAL: &str = include_str!("templates/refusal.md");
/// The `ask` template of a question without a lesson.
pub const GENERAL_TEMPLATE: &str = include_str!("templates/general.md");
/// What a conversation's summary of older turns is given to the model as (`{{summary}}`).
pub const THREAD_TEMPLATE: &str = include_str!("templates/thread.md");

/// One kind of AI call; each has its own template and may have its own model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// A student's question within a lesson.
    Ask,
    /// A student asks for an explanation of part of a lesson.
    Explain,
    /// An educator drafts a lesson from objectives and a grade level.
    GenerateContent,
    /// An educator drafts an assessment's questions for a lesson.
    CreateAssessment,
}

impl Task {
    /// Every task.
    pub const ALL: [Task; 4] = [
        Task::Ask,
        Task::Explain,
        Task::GenerateContent,
        Task::CreateAssessment,
    ];

    /// The name used in settings and in `agent_tasks.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Ask => "ask",
            Task::Explain => "explain",
            Task::GenerateContent => "generate_content",
            Task::CreateAssessment => "create_assessment",
        }
    }

    /// The task's template, with `{{name}}` placeholders.
    pub fn template(self) -> &'static str {
        match self {
            Task::Ask => include_str!("templates/ask.md"),
            Task::Explain => include_str!("templates/explain.md"),
            Task::GenerateContent => include_str!("templates/generate_content.md"),
            Task::CreateAssessment => include_str!("templates/create_assessment.md"),
        }
    }

    /// The system prompt: the safety rules, then the task's template filled with `values`.
    pub fn system_prompt(self, values: &[(&str, &str)]) -> String {
        format!("{SAFETY_TEMPLATE}\n{}", fill(self.template(), values))
    }

    /// The system prompt of a question without a lesson: the safety rules, then
    /// [`GENERAL_TEMPLATE`].
    pub fn general_prompt() -> String {
        format!("{SAFETY_TEMPLATE}\n{GENERAL_TEMPLATE}")
    }
}

/// `template` with each `{{name}}` replaced by its value.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut prompt = template.to_owned();
    for (name, value) in values {
        prompt = prompt.replace(&format!("{{{{{name}}}}}"), value);
    }
    prompt
}

/// `system` followed by a conversation's summary of its older turns ([`THREAD_TEMPLATE`]);
/// `system` alone when there is no summary yet.
pub fn with_summary(system: String, summary: &str) -> String {
    if summary.is_empty() {
        system
    } else {
        format!("{system}{}", fill(THREAD_TEMPLATE, &[("summary", summary)]))
    }
}

/// An earlier turn of a conversation, sent to the model as a user and an assistant message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastTurn {
    /// What the student asked.
    pub question: String,
    /// What the tutor answered.
    pub answer: String,
}

/// The tutor's settings (declared and checked in `settings.rs`).
#[derive(Debug, Clone)]
pub struct AiSettings {
    /// The endpoint's API key; `None`: the AI routes answer 503.
    pub api_key: Option<String>,
    /// Base URL, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Model of tasks without their own.
    pub default_model: String,
    /// Model per task name.
    pub task_models: BTreeMap<String, String>,
    /// Moderation model; `None`: only the local keyword screen runs.
    pub moderation_model: Option<String>,
    /// Longest answer, in tokens.
    pub max_tokens: u32,
    /// Tokens one call reserves from the daily allowance before the model is asked.
    pub reserve_tokens: u32,
    /// Turns of a conversation kept word for word and sent with the next question; older ones
    /// are folded into its summary.
    pub thread_turns: u32,
    /// Longest summary of a conversation's older turns, in characters.
    pub thread_summary_chars: u32,
    /// Longest answer kept in a conversation, in characters.
    pub thread_answer_chars: u32,
}

impl AiSettings {
    /// The model of `task`.
    pub fn model(&self, task: Task) -> &str {
        self.task_models
            .get(task.as_str())
            .unwrap_or(&self.default_model)
    }
}

/// Why an AI call failed.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    /// The endpoint rate-limited classhub (HTTP 429) after its retries.
    #[error("the AI service is busy (rate limited): {0}")]
    Busy(String),
    /// The endpoint refused the request or failed.
    #[error("the AI service failed: {0}")]
    Upstream(String),
    /// The endpoint could not be reached.
    #[error("cannot reach the AI service: {0}")]
    Unreachable(String),
}

impl From<OpenAIError> for AiError {
    fn from(error: OpenAIError) -> AiError {
        match error {
            OpenAIError::ApiError(api) if api.status_code.as_u16() == 429 => {
                AiError::Busy(api.api_error.message)
            }
            OpenAIError::ApiError(api) => {
                AiError::Upstream(format!("{} {}", api.status_code, api.api_error.message))
            }
            OpenAIError::Reqwest(cause) => AiError::Unreachable(cause.to_string()),
            other => AiError::Upstream(other.to_string()),
        }
    }
}

/// A moderation verdict on some input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Fine to send to the model.
    Allowed,
    /// Refused, with the categories or words that flagged it.
    Refused(Vec<String>),
}

/// One piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Text to show.
    Text(String),
    /// Token usage of the whole call (the last piece, when the endpoint reports it).
    Usage(u32),
}

/// Longest wait for the endpoint: for an answer, a moderation verdict, or the next streamed piece.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// `future`, or [`AiError::Unreachable`] after [`PATIENCE`].
async fn patiently<T>(
    future: impl std::future::Future<Output = Result<T, OpenAIError>>,
) -> Result<T, AiError> {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(answer) => answer.map_err(AiError::from),
        Err(_) => Err(AiError::Unreachable(format!(
            "no answer within {}s",
            PATIENCE.as_secs()
        ))),
    }
}

/// The next piece of `pieces`, or an [`AiError::Unreachable`] after [`PATIENCE`] of silence.
pub async fn next_piece(pieces: &mut PieceStream) -> Option<Result<Piece, AiError>> {
    match tokio::time::timeout(PATIENCE, pieces.next()).await {
        Ok(piece) => piece,
        Err(_) => Some(Err(AiError::Unreachable(format!(
            "the stream was silent for {}s",
            PATIENCE.as_secs()
        )))),
    }
}

/// A streamed answer.
pub type PieceStream = Pin<Box<dyn Stream<Item = Result<Piece, AiError>> + Send>>;

/// The tutor: a client of the OpenAI-compatible endpoint with the settings.
#[derive(Clone)]
pub struct Tutor {
    client: Client<OpenAIConfig>,
    settings: AiSettings,
}

impl std::fmt::Debug for Tutor {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Tutor")
            .field("base_url", &self.settings.base_url)
            .finish_non_exhaustive()
    }
}

/// Words that refuse a request before any model sees it (whole words, case-insensitive). The
/// moderation API catches far more; this screen also works when it is off or unreachable.
const BLOCKED_WORDS: &[&str] = &[
    "kill myself",
    "suicide",
    "self harm",
    "gun",
    "bomb",
    "porn",
    "sex",
    "cocaine",
    "meth",
    "home address",
    "phone number",
];

impl Tutor {
    /// A tutor when the settings name an API key; `None` otherwise.
    pub fn new(settings: &AiSettings) -> Option<Tutor> {
        let key = settings.api_key.as_ref()?;
        let config = OpenAIConfig::new()
            .with_api_key(key.clone())
            .with_api_base(settings.base_url.clone());
        Some(Tutor {
            client: Client::with_config(config),
            settings: settings.clone(),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &AiSettings {
        &self.settings
    }

    /// Screens `text`: the local word list, then the moderation API when configured.
    pub async fn screen(&self, text: &str) -> Result<Screen, AiError> {
        let lower = text.to_lowercase();
        let words: Vec<String> = BLOCKED_WORDS
            .iter()
            .filter(|word| contains_phrase(&lower, word))
            .map(|word| format!("keyword:{word}"))
            .collect();
        if !words.is_empty() {
            return Ok(Screen::Refused(words));
        }
        self.moderate(text).await
    }

    /// Whether the endpoint's moderation model is configured (`--ai-moderation-model`).
    pub fn moderates(&self) -> bool {
        self.settings.moderation_model.is_some()
    }

    /// The endpoint's moderation verdict on `text` (the flagged categories); `Allowed` when no
    /// moderation model is configured. Class chat calls this alone: its word screen is each
    /// school's blocklist.
    pub async fn moderate(&self, text: &str) -> Result<Screen, AiError> {
        let Some(model) = &self.settings.moderation_model else {
            return Ok(Screen::Allowed);
        };
        let request = CreateModerationRequest {
            input: ModerationInput::String(text.to_owned()),
            model: Some(model.clone()),
        };
        let answer = patiently(self.client.moderations().create(request)).await?;
        let flagged: Vec<String> = answer
            .results
            .iter()
            .filter(|result| result.flagged)
            .flat_map(|result| {
                serde_json::to_value(&result.categories)
                    .ok()
                    .and_then(|value| value.as_object().cloned())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(_, on)| on.as_bool() == Some(true))
                    .map(|(category, _)| category)
                    .collect::<Vec<_>>()
            })
            .collect();
        let any_flagged = answer.results.iter().any(|result| result.flagged);
        Ok(match (any_flagged, flagged.is_empty()) {
            (false, _) => Screen::Allowed,
            (true, true) => Screen::Refused(vec!["flagged".to_owned()]),
            (true, false) => Screen::Refused(flagged),
        })
    }

    fn request(
        &self,
        task: Task,
        system: String,
        history: &[PastTurn],
        user: String,
        stream: bool,
    ) -> Result<async_openai::types::chat::CreateChatCompletionRequest, AiError> {
        let mut messages: Vec<ChatCompletionRequestMessage> =
            vec![ChatCompletionRequestSystemMessage::from(system.as_str()).into()];
        for turn in history {
            messages.push(ChatCompletionRequestUserMessage::from(turn.question.as_str()).into());
            messages.push(ChatCompletionRequestAssistantMessage::from(turn.answer.as_str()).into());
        }
        messages.push(ChatCompletionRequestUserMessage::from(user).into());
        let mut builder = CreateChatCompletionRequestArgs::default();
        builder
            .model(self.settings.model(task))
            .messages(messages)
            .max_completion_tokens(self.settings.max_tokens);
        if stream {
            builder.stream_options(ChatCompletionStreamOptions {
                include_usage: Some(true),
                ..Default::default()
            });
        }
        builder.build().map_err(AiError::from)
    }

    /// A streamed answer to `user` after the conversation's `history` (oldest first): text
    /// pieces, then the usage when the endpoint reports it.
    pub async fn stream(
        &self,
        task: Task,
        system: String,
        history: &[PastTurn],
        user: String,
    ) -> Result<PieceStream, AiError> {
        let request = self.request(task, system, history, user, true)?;
        let chunks = patiently(self.client.chat().create_stream(request)).await?;
        let pieces = chunks.flat_map(|chunk| {
            let pieces: Vec<Result<Piece, AiError>> = match chunk {
                Err(error) => vec![Err(AiError::from(error))],
                Ok(chunk) => {
                    let mut pieces: Vec<Result<Piece, AiError>> = chunk
                        .choices
                        .into_iter()
                        .filter_map(|choice| choice.delta.content)
                        .filter(|text| !text.is_empty())
                        .map(|text| Ok(Piece::Text(text)))
                        .collect();
                    if let Some(usage) = chunk.usage {
                        pieces.push(Ok(Piece::Usage(usage.total_tokens)));
                    }
                    pieces
                }
            };
            futures_util::stream::iter(pieces)
        });
        Ok(Box::pin(pieces))
    }

    /// A whole answer and the tokens it used.
    pub async fn complete(
        &self,
        task: Task,
        system: String,
        user: String,
    ) -> Result<(String, u32), AiError> {
        let request = self.request(task, system, &[], user, false)?;
        let answer = patiently(self.client.chat().create(request)).await?;
        let text = answer
            .choices
            .into_iter()
            .find_map(|choice| choice.message.content)
            .unwrap_or_default();
        let tokens = answer
            .usage
            .map_or_else(|| estimate_tokens(&text), |usage| usage.total_tokens);
        Ok((text, tokens))
    }
}

/// A rough token count (four characters a token) for endpoints that report no usage.
pub fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.chars().count().div_ceil(4)).unwrap_or(u32::MAX)
}

/// Whether `phrase` occurs in `text` on word boundaries.
/// Whether `phrase` occurs in `text` as whole words (both already lower-case).
fn contains_phrase(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !c.is_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_keep_the_safety_rules_first_and_fill_placeholders() {
        let prompt =
            Task::Ask.system_prompt(&[("lesson_title", "Fractions"), ("lesson_content", "½")]);
        assert!(prompt.starts_with(SAFETY_TEMPLATE));
        assert!(prompt.contains("Lesson: Fractions"));
        assert!(!prompt.contains("{{"));
    }

    #[test]
    fn a_general_question_keeps_the_safety_rules_and_a_summary_follows_them() {
        let prompt = with_summary(Task::general_prompt(), "- Q: halves A: two equal parts");
        assert!(prompt.starts_with(SAFETY_TEMPLATE));
        assert!(prompt.contains("general question"));
        assert!(
            prompt.ends_with("- Q: halves A: two equal parts\n"),
            "{prompt}"
        );
        assert_eq!(with_summary("rules".to_owned(), ""), "rules");
    }

    #[test]
    fn the_keyword_screen_matches_whole_words_only() {
        assert!(contains_phrase("where can i buy a gun", "gun"));
        assert!(!contains_phrase("the sun begun to set", "gun"));
        assert!(!contains_phrase("essex is a county", "sex"));
    }
}
