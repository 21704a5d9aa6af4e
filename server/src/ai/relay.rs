//! A tutor's answer on its way to the student: the question is screened and the task recorded,
//! then the model's pieces are relayed as Server-Sent Events (or collected into one JSON answer)
//! and, when asked, copied as `ai_token`/`ai_done` frames onto the student's `user:` room. The
//! answer is recorded whether or not the client stays to read it, and so is the turn in the
//! student's conversation ([`super::threads`]): the model is sent the thread's summary and kept
//! turns, and every event from `task` to `done` names the thread (`thread_id`).

use std::convert::Infallible;

use axum::Json;
use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use persistence::LessonRecord;
use protocol::{RoomId, RoomKind};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::quotas::reserve;
use super::routes::{LESSON_ID, QUESTION, TutorAnswer, TutorBody, required_text};
use super::tasks::{TaskRow, refused};
use super::threads::{Asked, Conversation};
use super::{
    Piece, REFUSAL, Task, ai_failed, estimate_tokens, next_piece, not_configured, with_summary,
};
use crate::api::{ApiError, Caller, ErrorKind};
use crate::app::AppState;
use crate::auth::Role;

pub(crate) fn lesson_text(lesson: &LessonRecord) -> String {
    let text = match &lesson.content {
        None => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    text.chars().take(6000).collect()
}

pub(crate) async fn tutor_answer(
    app: AppState,
    caller: Caller,
    task: Task,
    body: TutorBody,
) -> Result<Response, ApiError> {
    caller.require(
        &[Role::Student, Role::Educator, Role::Admin],
        "use the AI tutor",
    )?;
    let question = required_text("question", body.question.as_ref(), &QUESTION)?;
    // A question may stand without a lesson; an explanation is always of a lesson.
    let lesson_id = match (&body.lesson_id, task) {
        (None, Task::Ask) => None,
        (given, _) => Some(required_text("lesson_id", given.as_ref(), &LESSON_ID)?),
    };
    let lesson = match &lesson_id {
        Some(id) => Some(crate::platform::content::visible_lesson(&app, &caller, id).await?),
        None => None,
    };
    if caller.role() == Role::Student {
        let what = "use the AI tutor";
        crate::platform::consent::check(&app, caller.tenant(), caller.user(), what).await?;
    }
    let mut conversation = Conversation::open(&app, &caller, body.thread_id.as_ref()).await?;
    let tutor = app.tutor().cloned().ok_or_else(not_configured)?;
    let reservation = reserve(&app, &caller).await?;
    let lesson_id = lesson.as_ref().map(|lesson| lesson.id.clone());
    let row = TaskRow::open(
        &app,
        &caller,
        task,
        // The thread asked in; a new one is linked by its first turn (`tutor_turns.task_id`).
        &json!({"lesson_id": lesson_id, "question": question,
                "thread_id": body.thread_id.as_ref().map(|_| &conversation.id)}),
        reservation,
    )
    .await?;
    let stream = body.stream.unwrap_or(true);
    let socket_room = body
        .socket
        .unwrap_or(false)
        .then(|| RoomId::new(RoomKind::User, caller.tenant(), caller.user(), usize::MAX).ok())
        .flatten();
    if refused(&tutor, &row, &question).await? {
        // A refused first question starts no thread; a refusal in a thread leaves it as it was.
        let thread_id = body.thread_id.as_ref().map(|_| conversation.id.clone());
        let refusal = REFUSAL.trim();
        if let Some(room) = &socket_room {
            app.hub().notify(
                room,
                "ai",
                "ai_done".to_owned(),
                json!({"task_id": row.id, "thread_id": thread_id, "refused": true, "text": refusal}),
            );
        }
        return Ok(if stream {
            sse_once(&[
                ("task", json!({"task_id": row.id, "thread_id": thread_id})),
                (
                    "refused",
                    json!({"task_id": row.id, "thread_id": thread_id, "message": refusal}),
                ),
            ])
        } else {
            Json(TutorAnswer {
                task_id: row.id.clone(),
                thread_id,
                answer: refusal.to_owned(),
                refused: true,
                tokens_used: 0,
            })
            .into_response()
        });
    }
    row.running().await;
    let system = match &lesson {
        Some(lesson) => task.system_prompt(&[
            ("lesson_title", &lesson.title),
            ("lesson_content", &lesson_text(lesson)),
        ]),
        None => Task::general_prompt(),
    };
    let system = with_summary(system, conversation.summary());
    let history = conversation.history();
    let mut pieces = match tutor.stream(task, system, &history, question.clone()).await {
        Ok(pieces) => pieces,
        Err(error) => {
            row.finish(Err(&error.to_string()), 0).await;
            return Err(ai_failed(&error));
        }
    };
    // Wait for the first piece, so that a refusal by the endpoint (429, 5xx) is an HTTP status.
    let first = next_piece(&mut pieces).await;
    if let Some(Err(error)) = &first {
        row.finish(Err(&error.to_string()), 0).await;
        return Err(ai_failed(error));
    }
    // The model is answering: a new conversation exists from here on.
    if let Err(failure) = conversation.create_if_new(&app, &caller, &question).await {
        row.finish(Err("cannot store the conversation"), 0).await;
        return Err(failure);
    }
    let thread_id = conversation.id.clone();
    let (tenant, user) = (caller.tenant().to_owned(), caller.user().to_owned());
    let (events, events_out) = mpsc::channel::<(&'static str, Value)>(64);
    let relay = async move {
        let mut answer = String::new();
        let mut usage = None;
        let mut failure = None;
        // Sends fail only when the client went away; the answer is recorded all the same.
        let _ = events
            .send(("task", json!({"task_id": row.id, "thread_id": thread_id})))
            .await;
        let mut next = first;
        while let Some(piece) = next {
            match piece {
                Ok(Piece::Text(text)) => {
                    answer.push_str(&text);
                    if let Some(room) = &socket_room {
                        row.app.hub().notify(
                            room,
                            "ai",
                            "ai_token".to_owned(),
                            json!({"task_id": row.id, "text": text}),
                        );
                    }
                    // A client that went away stops getting events; the answer is still recorded.
                    let _ = events.send(("token", json!({"text": text}))).await;
                }
                Ok(Piece::Usage(tokens)) => usage = Some(tokens),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
            next = next_piece(&mut pieces).await;
        }
        let tokens = i64::from(usage.unwrap_or_else(|| estimate_tokens(&answer)));
        match failure {
            None => {
                row.finish(Ok(&json!({"answer": answer})), tokens).await;
                // Remembered before `done`, so a next question sent on `done` sees this turn.
                let asked = Asked {
                    lesson_id: lesson_id.as_deref(),
                    task_id: &row.id,
                    question: &question,
                    answer: &answer,
                };
                conversation.remember(&row.app, &tenant, &user, asked).await;
                if let Some(room) = &socket_room {
                    row.app.hub().notify(
                        room,
                        "ai",
                        "ai_done".to_owned(),
                        json!({"task_id": row.id, "thread_id": thread_id, "refused": false, "tokens_used": tokens}),
                    );
                }
                let _ = events
                    .send((
                        "done",
                        json!({"task_id": row.id, "thread_id": thread_id, "answer": answer, "tokens_used": tokens}),
                    ))
                    .await;
            }
            Some(error) => {
                row.finish(Err(&error.to_string()), tokens).await;
                let refusal = ai_failed(&error);
                let _ = events
                    .send((
                        "error",
                        json!({"task_id": row.id, "thread_id": thread_id, "code": refusal.kind().code(), "message": refusal.message()}),
                    ))
                    .await;
            }
        }
    };
    if stream {
        tokio::spawn(relay);
        Ok(sse_response(events_out))
    } else {
        let collected = tokio::spawn(async move {
            let mut events_out = events_out;
            let mut last = None;
            while let Some(event) = events_out.recv().await {
                last = Some(event);
            }
            last
        });
        relay.await;
        match collected.await.ok().flatten() {
            Some(("done", done)) => Ok(Json(TutorAnswer {
                task_id: done["task_id"].as_str().unwrap_or_default().to_owned(),
                thread_id: done["thread_id"].as_str().map(str::to_owned),
                answer: done["answer"].as_str().unwrap_or_default().to_owned(),
                refused: false,
                tokens_used: done["tokens_used"].as_i64().unwrap_or(0),
            })
            .into_response()),
            _ => Err(ApiError::new(
                ErrorKind::Unavailable,
                "the AI service failed while answering; try again in a minute",
            )),
        }
    }
}

fn sse_frame(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

fn sse_headers(body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn sse_response(events: mpsc::Receiver<(&'static str, Value)>) -> Response {
    let frames = futures_util::stream::unfold(events, |mut events| async move {
        let (event, data) = events.recv().await?;
        Some((Ok::<Bytes, Infallible>(sse_frame(event, &data)), events))
    });
    sse_headers(Body::from_stream(frames))
}

pub(crate) fn sse_once(events: &[(&str, Value)]) -> Response {
    let text: Vec<u8> = events
        .iter()
        .flat_map(|(event, data)| sse_frame(event, data).to_vec())
        .collect();
    sse_headers(Body::from(text))
}
