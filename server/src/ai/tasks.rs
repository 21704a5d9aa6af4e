//! The `agent_tasks` row every model call leaves (pending → running → completed/failed, tokens
//! used; finishing it settles the call's quota [`Reservation`] to those tokens), and the safety
//! screen in front of the model: a refusal finishes the task as failed,
//! and a screen that cannot run refuses too (fails closed).

use serde_json::Value;

use super::quotas::Reservation;
use super::{Screen, Task, Tutor, ai_failed};
use crate::api::ids::new_id;
use crate::api::{ApiError, Caller};
use crate::app::AppState;

/// A task's row, written as it moves along. Failures to write are logged: the answer matters
/// more to the student than the bookkeeping.
pub(crate) struct TaskRow {
    pub(crate) app: AppState,
    tenant: String,
    pub(crate) id: String,
    /// The chat model the task's kind is answered by (recorded when the model is asked).
    model: String,
    /// The call's tokens taken from today's allowance; settled by [`TaskRow::finish`] (and
    /// given back if the row is dropped unfinished).
    reservation: std::sync::Mutex<Option<Reservation>>,
}

impl TaskRow {
    pub(crate) async fn open(
        app: &AppState,
        caller: &Caller,
        task: Task,
        input: &Value,
        reservation: Reservation,
    ) -> Result<TaskRow, ApiError> {
        let id = new_id("task");
        app.store()
            .insert_agent_task(caller.tenant(), &id, caller.user(), task.as_str(), input)
            .await?;
        Ok(TaskRow {
            app: app.clone(),
            tenant: caller.tenant().to_owned(),
            id,
            model: app.config().ai.model(task).to_owned(),
            reservation: std::sync::Mutex::new(Some(reservation)),
        })
    }

    pub(crate) async fn running(&self) {
        if let Err(cause) = self
            .app
            .store()
            .start_agent_task(&self.tenant, &self.id, &self.model)
            .await
        {
            tracing::error!(%cause, task = %self.id, "cannot mark the agent task running");
        }
    }

    pub(crate) async fn finish(&self, outcome: Result<&Value, &str>, tokens: i64) {
        let reservation = self
            .reservation
            .lock()
            .map(|mut held| held.take())
            .unwrap_or_default();
        if let Some(reservation) = reservation {
            reservation.settle(tokens).await;
        }
        if let Err(cause) = self
            .app
            .store()
            .finish_agent_task(&self.tenant, &self.id, outcome, tokens)
            .await
        {
            tracing::error!(%cause, task = %self.id, "cannot record the agent task's end");
        }
        let outcome = if outcome.is_ok() {
            "completed"
        } else {
            "failed"
        };
        metrics::counter!("classhub_ai_tasks_total", "outcome" => outcome).increment(1);
        if tokens > 0 {
            metrics::counter!("classhub_ai_tokens_total").increment(tokens as u64);
        }
    }
}

/// Screens `text`; a refusal ends the task. `Ok(true)`: refused.
pub(crate) async fn refused(tutor: &Tutor, row: &TaskRow, text: &str) -> Result<bool, ApiError> {
    match tutor.screen(text).await {
        Ok(Screen::Allowed) => Ok(false),
        Ok(Screen::Refused(reasons)) => {
            tracing::info!(task = %row.id, ?reasons, "ai request refused by the safety screen");
            metrics::counter!("classhub_ai_refusals_total").increment(1);
            row.finish(Err(&format!("refused: {}", reasons.join(", "))), 0)
                .await;
            Ok(true)
        }
        Err(error) => {
            // Fail closed: unscreened input never reaches the model.
            row.finish(Err(&format!("moderation failed: {error}")), 0)
                .await;
            Err(ai_failed(&error))
        }
    }
}
