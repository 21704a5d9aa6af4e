//! Who sees an event about one student. Events that report one student's work —
//! `progress`, `quiz_answer`, `checkpoint`, a game's `award` and a chat message held for the
//! teacher (`chat_held`), whoever sends them, a `reward` that names
//! `data.student`, and any teacher command sent to one student (`data.target`, as
//! `POST /api/v1/classes/{id}/commands` with `student_id` writes it) — are personal: in class and game rooms they reach staff (educators and
//! admins), the game server, and the student they are about, never classmates; live and in a
//! `joined` frame's `missed` replay alike. The student is `data.student` when the event names
//! one (a teacher's or game server's report about a student), else the sender.
//!
//! Everything else (chat, announcements, quizzes, class-wide rewards, presence) reaches everyone
//! in the room.

use serde_json::Value;

use crate::message::CommandKind;

/// Event kinds that always report one student's work.
pub const PERSONAL_KINDS: [&str; 5] = [
    "progress",
    "quiz_answer",
    "checkpoint",
    "award",
    "chat_held",
];

/// The student an event is about when it is personal (see the module header), else `None`.
pub fn personal_subject<'a>(kind: &str, from: &'a str, data: &'a Value) -> Option<&'a str> {
    let field = |name: &str| {
        data.get(name)
            .and_then(Value::as_str)
            .filter(|student| !student.is_empty())
    };
    let named = field("student");
    if PERSONAL_KINDS.contains(&kind) {
        Some(named.unwrap_or(from))
    } else if CommandKind::parse(kind).is_some() {
        field("target").or(if kind == "reward" { named } else { None })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_of_one_student_are_personal_and_class_wide_events_are_not() {
        let empty = json!({});
        assert_eq!(personal_subject("progress", "s1", &empty), Some("s1"));
        assert_eq!(personal_subject("quiz_answer", "s1", &empty), Some("s1"));
        // A held chat message reaches its sender and staff, never classmates.
        assert_eq!(personal_subject("chat_held", "s1", &empty), Some("s1"));
        assert_eq!(
            personal_subject("checkpoint", "game:j1", &json!({"student": "s2"})),
            Some("s2")
        );
        assert_eq!(
            personal_subject("reward", "t1", &json!({"student": "s2", "points": 5})),
            Some("s2")
        );
        assert_eq!(
            personal_subject("reward", "t1", &json!({"points": 5})),
            None
        );
        // A command sent to one student over REST names them in data.target.
        assert_eq!(
            personal_subject("reward", "t1", &json!({"target": "s3", "points": 5})),
            Some("s3")
        );
        assert_eq!(
            personal_subject("freeze", "t1", &json!({"target": "s3"})),
            Some("s3")
        );
        assert_eq!(personal_subject("freeze", "t1", &empty), None);
        assert_eq!(
            personal_subject("chat", "s1", &json!({"target": "s3"})),
            None
        );
        assert_eq!(personal_subject("chat", "s1", &empty), None);
        assert_eq!(personal_subject("announce", "t1", &empty), None);
    }
}
