//! A student's conversation with the tutor and its bounded memory. A question may name a thread
//! (its owner's only; [`Conversation::open`]); the model is sent the last `--ai-thread-turns`
//! turns word for word, after a running summary of the older ones in the system prompt. When a
//! new turn pushes the oldest out of that window, it is folded into the summary
//! ([`Conversation::remember`]) and its row deleted, so a stored thread holds at most that many
//! turns (each answer cut to `--ai-thread-answer-chars`) and a summary of at most
//! `--ai-thread-summary-chars`.
//!
//! **The summary is deterministic, not written by the model.** Each folded turn becomes one line
//! (`- Q: … A: …`, both shortened); when the summary would pass its limit, its oldest lines give
//! way. A model-written summary reads better, but it would be a second model call per question
//! once a thread is long: it spends the school's daily tokens on bookkeeping, can fail or be
//! refused by quota after the student already has their answer (leaving the memory half
//! updated), and adds latency. A line per turn costs nothing, cannot fail, is the same on every run (so tests can assert on
//! it), and keeps the newest context, which matters most to the next question.
//!
//! It owns no HTTP: `relay` calls it around the model call, and `thread_routes` reads threads.

use persistence::{NewTurn, ThreadRecord, TurnRecord};

use super::PastTurn;
use crate::api::ids::new_id;
use crate::api::rules::Text;
use crate::api::{ApiError, Caller, ErrorKind};
use crate::app::AppState;

/// A thread id as a client gives it.
pub(crate) const THREAD_ID: Text = Text::prose(1, 128);
/// Longest thread title (the first question, shortened).
const TITLE_CHARS: usize = 80;
/// A folded turn's question in the summary, at most.
const SUMMARY_QUESTION_CHARS: usize = 160;
/// A folded turn's answer in the summary, at most.
const SUMMARY_ANSWER_CHARS: usize = 240;

/// The thread a question is asked in: an existing one of the caller's, or a new one created when
/// the model starts answering.
#[derive(Debug, Clone)]
pub(crate) struct Conversation {
    /// The thread's id (already chosen for a new thread).
    pub(crate) id: String,
    /// The stored thread, `None` until a new one is created.
    thread: Option<ThreadRecord>,
    /// The turns it keeps, oldest first.
    turns: Vec<TurnRecord>,
}

impl Conversation {
    /// The thread `thread_id` of the caller (404 when the tenant has none, 403 when it is
    /// someone else's), or a new thread when `None`.
    pub(crate) async fn open(
        app: &AppState,
        caller: &Caller,
        thread_id: Option<&String>,
    ) -> Result<Conversation, ApiError> {
        let Some(thread_id) = thread_id else {
            return Ok(Conversation {
                id: new_id("thr"),
                thread: None,
                turns: Vec::new(),
            });
        };
        let thread_id = THREAD_ID.check("thread_id", thread_id)?;
        let thread = app
            .store()
            .thread(caller.tenant(), thread_id)
            .await?
            .ok_or_else(|| ApiError::not_found("thread"))?;
        if thread.user_id != caller.user() {
            return Err(ApiError::new(
                ErrorKind::Forbidden,
                "you may continue only your own conversations; leave out thread_id to start one",
            ));
        }
        let turns = app
            .store()
            .thread_turns(caller.tenant(), &thread.id)
            .await?;
        Ok(Conversation {
            id: thread.id.clone(),
            thread: Some(thread),
            turns,
        })
    }

    /// The running summary of turns no longer kept ("" when none).
    pub(crate) fn summary(&self) -> &str {
        self.thread
            .as_ref()
            .map_or("", |thread| thread.summary.as_str())
    }

    /// The kept turns as the model is sent them, oldest first.
    pub(crate) fn history(&self) -> Vec<PastTurn> {
        self.turns
            .iter()
            .map(|turn| PastTurn {
                question: turn.question.clone(),
                answer: turn.answer.clone(),
            })
            .collect()
    }

    /// Stores a new thread (titled by its first question); nothing for an existing one.
    pub(crate) async fn create_if_new(
        &mut self,
        app: &AppState,
        caller: &Caller,
        question: &str,
    ) -> Result<(), ApiError> {
        if self.thread.is_some() {
            return Ok(());
        }
        let title = shorten(question, TITLE_CHARS);
        let thread = app
            .store()
            .create_thread(caller.tenant(), &self.id, caller.user(), &title)
            .await?;
        self.thread = Some(thread);
        Ok(())
    }

    /// Adds the answered turn, then folds what fell out of the window into the summary.
    /// Failures are logged: the student already has their answer.
    pub(crate) async fn remember(
        &self,
        app: &AppState,
        tenant: &str,
        user: &str,
        asked: Asked<'_>,
    ) {
        if let Err(cause) = self.try_remember(app, tenant, user, asked).await {
            tracing::error!(%cause, thread = %self.id, "cannot remember a tutor turn");
        }
    }

    async fn try_remember(
        &self,
        app: &AppState,
        tenant: &str,
        user: &str,
        asked: Asked<'_>,
    ) -> Result<(), persistence::StoreError> {
        let settings = &app.config().ai;
        let store = app.store();
        let answer = shorten(asked.answer, settings.thread_answer_chars as usize);
        let turn_id = new_id("turn");
        let turn = NewTurn {
            id: &turn_id,
            user_id: user,
            lesson_id: asked.lesson_id,
            task_id: asked.task_id,
            question: asked.question,
            answer: &answer,
        };
        if store.append_turn(tenant, &self.id, &turn).await?.is_none() {
            return Ok(()); // Deleted while the model answered.
        }
        let Some(thread) = store.thread(tenant, &self.id).await? else {
            return Ok(());
        };
        let through = thread.turns_total - i64::from(settings.thread_turns);
        if through <= thread.folded_through {
            return Ok(());
        }
        let leaving: Vec<TurnRecord> = store
            .thread_turns(tenant, &self.id)
            .await?
            .into_iter()
            .filter(|turn| turn.seq <= through)
            .collect();
        let summary = fold(
            &thread.summary,
            &leaving,
            settings.thread_summary_chars as usize,
        );
        // `false`: a concurrent question in this thread folded first; the next one catches up.
        store
            .fold_thread(tenant, &self.id, thread.folded_through, through, &summary)
            .await?;
        Ok(())
    }
}

/// A question answered in a conversation, to remember.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked<'a> {
    /// The lesson it was about, if any.
    pub(crate) lesson_id: Option<&'a str>,
    /// The task that answered it.
    pub(crate) task_id: &'a str,
    /// The question.
    pub(crate) question: &'a str,
    /// The whole answer.
    pub(crate) answer: &'a str,
}

/// `summary` with one line per turn of `leaving` added, then cut to at most `max_chars`
/// characters by dropping its oldest lines (a single line longer than that is cut).
pub(crate) fn fold(summary: &str, leaving: &[TurnRecord], max_chars: usize) -> String {
    let mut lines: Vec<String> = summary
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    lines.extend(leaving.iter().map(|turn| {
        format!(
            "- Q: {} A: {}",
            shorten(&one_line(&turn.question), SUMMARY_QUESTION_CHARS),
            shorten(&one_line(&turn.answer), SUMMARY_ANSWER_CHARS)
        )
    }));
    let chars = |lines: &[String]| -> usize {
        lines.iter().map(|line| line.chars().count()).sum::<usize>() + lines.len().saturating_sub(1)
    };
    while lines.len() > 1 && chars(&lines) > max_chars {
        lines.remove(0);
    }
    shorten(&lines.join("\n"), max_chars)
}

/// `text` with its whitespace runs made single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max_chars` characters of `text` (the last one `…` when cut).
pub(crate) fn shorten(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(seq: i64, question: &str, answer: &str) -> TurnRecord {
        TurnRecord {
            id: format!("turn_{seq}"),
            seq,
            lesson_id: None,
            task_id: None,
            question: question.to_owned(),
            answer: answer.to_owned(),
            created_at: String::new(),
        }
    }

    #[test]
    fn folding_adds_a_line_per_turn_and_drops_the_oldest_lines_past_the_limit() {
        let once = fold(
            "",
            &[turn(1, "What is a half?", "One of two\nequal parts.")],
            200,
        );
        assert_eq!(once, "- Q: What is a half? A: One of two equal parts.");
        let twice = fold(&once, &[turn(2, "And a third?", "One of three.")], 200);
        assert_eq!(twice.lines().count(), 2);
        let tight = fold(&twice, &[turn(3, "A quarter?", "One of four.")], 70);
        assert!(tight.chars().count() <= 70, "{tight}");
        assert!(tight.contains("A quarter?"), "{tight}");
        assert!(!tight.contains("What is a half?"), "{tight}");
    }

    #[test]
    fn one_long_line_is_cut_to_the_limit() {
        let long = "x".repeat(1000);
        let folded = fold("", &[turn(1, &long, &long)], 50);
        assert_eq!(folded.chars().count(), 50);
        assert!(folded.ends_with('…'));
        assert_eq!(shorten("  short ", 10), "short");
    }
}
