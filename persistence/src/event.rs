//! A durable event as the sink stores it, the progress update a `progress` event carries, and
//! the scored answer an in-game `quiz_answer` carries (scored by the server before the sink).

use std::sync::Arc;

use serde_json::Value;

/// One event to store in `game_events`. Ids are client-made and unique per tenant: a retried
/// event is stored once.
#[derive(Debug, Clone, PartialEq)]
pub struct DurableEvent {
    /// The tenant.
    pub tenant: String,
    /// The client-made event id.
    pub event_id: String,
    /// The room it was published to.
    pub room: String,
    /// Its kind (`progress`, `quiz_answer`, `checkpoint`, …).
    pub kind: String,
    /// The publishing user (or game server) id.
    pub sender: String,
    /// The payload, shared with the rooms and histories the event was fanned out to.
    pub data: Arc<Value>,
    /// Its sequence number in the room.
    pub seq: u64,
    /// Server publish time, milliseconds since the Unix epoch.
    pub sent_at_ms: u64,
    /// An in-game answer the server scored: stored in `game_answers`, and its attempt's
    /// `assessment_results` row recomputed, in the event's transaction.
    pub answer: Option<Box<ScoredAnswer>>,
}

/// One answer to one question of an assessment, scored against the stored answer key.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredAnswer {
    /// The attempt's `assessment_results` id (made from tenant, student, assessment, attempt).
    pub result_id: String,
    /// The student.
    pub user: String,
    /// The assessment.
    pub assessment: String,
    /// The attempt the answer belongs to.
    pub attempt: String,
    /// The question.
    pub question: String,
    /// The answer given.
    pub answer: Value,
    /// Whether it is right (`None` for free text, which a teacher grades).
    pub correct: Option<bool>,
    /// Points scored.
    pub points: f64,
    /// Points the whole assessment is worth.
    pub max_score: f64,
}

/// What a `progress` event does to `student_progress`: the highest completion wins and time
/// spent adds up.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressUpdate {
    /// The student (`data.student`, else the sender).
    pub user: String,
    /// `data.course`, or empty.
    pub course: String,
    /// `data.lesson`.
    pub lesson: String,
    /// `data.percent`, 0–100.
    pub percent: f64,
    /// `data.time_spent_secs`, or 0.
    pub time_spent_secs: i64,
}

impl ProgressUpdate {
    /// The progress a `progress` event carries, `Ok(None)` for other kinds, and a sentence saying
    /// what is wrong for a malformed one. Accepts numbers given as doubles (Roblox sends them so).
    pub fn from_event(
        kind: &str,
        sender: &str,
        data: &Value,
    ) -> Result<Option<ProgressUpdate>, String> {
        if kind != "progress" {
            return Ok(None);
        }
        let text = |field: &str| match data.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if !text.is_empty() && text.len() <= 128 => {
                Ok(Some(text.clone()))
            }
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(_) => Err(format!(
                "progress data.{field} must be a non-empty string of at most 128 bytes"
            )),
        };
        let lesson = text("lesson")?.ok_or("progress events need data.lesson")?;
        let course = text("course")?.unwrap_or_default();
        let user = text("student")?.unwrap_or_else(|| sender.to_owned());
        let percent = data
            .get("percent")
            .and_then(Value::as_f64)
            .filter(|percent| percent.is_finite())
            .ok_or("progress events need data.percent, a number from 0 to 100")?;
        if !(0.0..=100.0).contains(&percent) {
            return Err(format!(
                "progress data.percent is {percent}; it must be from 0 to 100"
            ));
        }
        let time_spent_secs =
            match data.get("time_spent_secs") {
                None | Some(Value::Null) => 0,
                Some(value) => match value.as_f64() {
                    Some(seconds) if seconds.is_finite() && (0.0..=86_400.0).contains(&seconds) => {
                        seconds.round() as i64
                    }
                    _ => return Err(
                        "progress data.time_spent_secs must be a number of seconds from 0 to 86400"
                            .into(),
                    ),
                },
            };
        Ok(Some(ProgressUpdate {
            user,
            course,
            lesson,
            percent,
            time_spent_secs,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn progress_is_read_from_roblox_shaped_data() {
        let update = ProgressUpdate::from_event(
            "progress",
            "game-1",
            &json!({"lesson": "fractions-1", "course": "math", "percent": 40.0, "time_spent_secs": 30.4, "student": "s1"}),
        );
        assert_eq!(
            update,
            Ok(Some(ProgressUpdate {
                user: "s1".into(),
                course: "math".into(),
                lesson: "fractions-1".into(),
                percent: 40.0,
                time_spent_secs: 30,
            }))
        );
        let defaults =
            ProgressUpdate::from_event("progress", "s2", &json!({"lesson": 7, "percent": 100}));
        assert_eq!(
            defaults.map(|update| update.map(|update| (update.user, update.course, update.lesson))),
            Ok(Some(("s2".into(), String::new(), "7".into())))
        );
        assert_eq!(
            ProgressUpdate::from_event("chat", "s1", &json!({})),
            Ok(None)
        );
    }

    #[test]
    fn malformed_progress_is_refused_with_a_sentence() {
        for data in [
            json!({"percent": 5}),
            json!({"lesson": "l", "percent": 101}),
            json!({"lesson": "l"}),
            json!({"lesson": {}, "percent": 1}),
            json!({"lesson": "l", "percent": 1, "time_spent_secs": -1}),
        ] {
            let refusal = ProgressUpdate::from_event("progress", "s1", &data).expect_err("refused");
            assert!(refusal.contains("progress"), "{refusal}");
        }
    }
}
