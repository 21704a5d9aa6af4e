//! `classhub serve --demo`: a live classroom for a newcomer, made through the real code paths.
//! [`start`] seeds tenant `demo` over the server's own REST API (a teacher, 30 students, a
//! class with its roster), links the students to made-up Roblox accounts, makes a game-server
//! key, and then runs two simulated Roblox game servers ([`SimServer`]) that speak the real
//! Roblox HTTP routes to this same server: they open sessions for the class, report players
//! joining and leaving, send progress, quiz answers and checkpoints in batches, and long-poll
//! for the teacher's commands and acknowledge them — so the dashboard link it returns shows a
//! classroom that moves within seconds. It also plays the learning loop: the teacher's course
//! (three lessons, a quiz on the first) is assigned to the class, each game server reads the
//! lesson as the SDK does (`GET /api/v1/roblox/lessons/{id}`), and its players' quiz answers
//! name the assessment, so the server scores them into results that analytics shows; a finished
//! lesson earns the player points (an `award` event) on the class's leaderboard. Students chat
//! in the class through the moderated door; a line with a word of the demo school's blocklist is
//! held for the teacher.
//!
//! Seeding is idempotent (a second run finds the class and users of the first). The simulators
//! stop when the server shuts down. Tokens are minted with the development HS256 secret, so
//! the demo refuses to run when the server verifies tokens against a JWKS.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng;
use rand::seq::IndexedRandom;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::app::RunningServer;
use crate::auth::{self, Identity, Role};

/// The demo tenant.
pub const TENANT: &str = "demo";
/// The demo teacher's user id.
pub const TEACHER: &str = "demo-teacher";
/// The demo admin's user id (the operator view's link).
pub const ADMIN: &str = "demo-admin";
/// The demo class's name (how a second run finds it).
pub const CLASS_NAME: &str = "Year 7 Maths: Fractions (demo)";
/// The universe the demo's game-server key is limited to.
const UNIVERSE: i64 = 4_200_001;
/// Roblox user ids of the demo students start here.
const FIRST_ROBLOX_ID: i64 = 9_000_001;
/// How long the demo's tokens live.
const TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

const STUDENT_NAMES: [&str; 30] = [
    "Ada", "Bo", "Chen", "Dev", "Elif", "Femi", "Gia", "Hugo", "Iris", "Jonah", "Kemi", "Luca",
    "Maya", "Nico", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tariq", "Uma", "Vik", "Wren", "Xia",
    "Yusuf", "Zoe", "Arlo", "Bea", "Cruz", "Dina",
];

/// The demo course's title (how a second run finds it) and its lessons' titles.
const COURSE_TITLE: &str = "Fractions (demo)";
const LESSONS: [&str; 3] = [
    "Comparing fractions",
    "Adding fractions",
    "Simplifying fractions",
];

const QUESTIONS: [(&str, &str, [&str; 3]); 4] = [
    (
        "q1",
        "Which is bigger: 2/3 or 3/5?",
        ["2/3", "3/5", "equal"],
    ),
    ("q2", "What is 1/4 + 2/4?", ["3/4", "3/8", "1/2"]),
    ("q3", "Simplify 6/8", ["3/4", "2/3", "6/8"]),
    ("q4", "Half of 3/4 is…", ["3/8", "3/2", "1/4"]),
];

const CHECKPOINTS: [&str; 4] = [
    "Bridge of Halves",
    "Quarter Cave",
    "Pizza Plaza",
    "Numerator Peak",
];

/// What the demo made: links to print.
#[derive(Debug, Clone)]
pub struct DemoLinks {
    /// The dashboard, signed in as the demo teacher, on the demo class.
    pub teacher: String,
    /// The dashboard's operator view, signed in as the demo admin.
    pub operator: String,
    /// The demo class's id.
    pub class_id: String,
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Tokens are verified against a JWKS, so the demo cannot mint its own.
    #[error(
        "--demo mints its own tokens with the development secret; unset CLASSHUB_JWKS_URL (--jwks-url) to run it"
    )]
    Jwks,
    /// A token could not be signed.
    #[error("cannot sign a demo token: {0}")]
    Token(#[from] jsonwebtoken::errors::Error),
    /// A set-up request to the server failed.
    #[error("demo set-up failed at {step}: {detail}")]
    Setup {
        /// What was being done.
        step: String,
        /// The status and body, or the transport error.
        detail: String,
    },
    /// The database refused a write.
    #[error("demo set-up failed in the database: {0}")]
    Store(#[from] persistence::StoreError),
}

/// Seeds the demo and starts its two game servers; returns the links to print. `secret` is the
/// development HS256 secret the server verifies tokens with.
pub async fn start(server: &RunningServer, secret: &str) -> Result<DemoLinks, DemoError> {
    let app = server.app();
    if app.config().auth.jwks_url.is_some() {
        return Err(DemoError::Jwks);
    }
    let mint = |user: &str, role: Role, name: &str| {
        auth::mint(
            secret,
            &auth::claims_for(
                &Identity {
                    user: user.to_owned(),
                    tenant: TENANT.to_owned(),
                    role,
                    name: Some(name.to_owned()),
                    children: Vec::new(),
                    expires_at: None,
                },
                TOKEN_TTL,
            ),
        )
    };
    let admin_token = mint(ADMIN, Role::Admin, "Demo operator")?;
    let teacher_token = mint(TEACHER, Role::Educator, "Ms Rivera")?;
    let base = base_url(server.local_addr());
    let rest = Rest {
        http: reqwest::Client::new(),
        base: base.clone(),
        token: admin_token.clone(),
    };
    rest.create_user(TEACHER, "educator", "Ms Rivera").await?;
    let students: Vec<Student> = STUDENT_NAMES
        .iter()
        .enumerate()
        .map(|(index, name)| Student {
            id: format!("demo-s{:02}", index + 1),
            name: (*name).to_owned(),
            roblox_id: FIRST_ROBLOX_ID + index as i64,
        })
        .collect();
    for student in &students {
        rest.create_user(&student.id, "student", &student.name)
            .await?;
    }
    let class = rest.demo_class().await?;
    let class_id = class["id"].as_str().unwrap_or_default().to_owned();
    let ids: Vec<&str> = students.iter().map(|student| student.id.as_str()).collect();
    rest.call(
        "putting the students on the roster",
        reqwest::Method::POST,
        &format!("/api/v1/classes/{class_id}/students"),
        Some(json!({ "user_ids": ids })),
    )
    .await?;
    let teacher = Rest {
        http: reqwest::Client::new(),
        base: base.clone(),
        token: teacher_token.clone(),
    };
    let course = teacher.demo_course(&class_id).await?;
    // The class sees its leaderboard (points the game awards for finished lessons).
    teacher
        .call(
            "showing the demo leaderboard",
            reqwest::Method::PUT,
            &format!("/api/v1/classes/{class_id}/leaderboard"),
            Some(json!({"enabled": true})),
        )
        .await?;
    // The school's blocklist: the demo's chat shows one message held for the teacher.
    rest.call(
        "setting the demo chat blocklist",
        reqwest::Method::PUT,
        "/api/v1/chat/blocklist",
        Some(json!({"words": ["darn"]})),
    )
    .await?;
    let store = app.store();
    for student in &students {
        store
            .link_roblox_player(
                TENANT,
                student.roblox_id,
                &student.id,
                Some(&format!("{}_plays", student.name)),
            )
            .await?;
    }
    let key = roblox::keys::generate();
    store
        .create_game_key(&persistence::NewGameKey {
            id: format!("gk_demo_{:08x}", rand::random::<u32>()),
            tenant: TENANT.to_owned(),
            universe_id: Some(UNIVERSE),
            label: Some("classhub serve --demo".to_owned()),
            key_hash: key.hash,
            key_prefix: key.prefix,
        })
        .await?;
    let halves = students.len().div_ceil(2);
    for (index, group) in students.chunks(halves).enumerate() {
        let sim = SimServer {
            http: reqwest::Client::new(),
            base: base.clone(),
            key: key.key.clone(),
            job_id: format!("demo-server-{}", ["a", "b"][index % 2]),
            place_id: 7_000_001 + index as i64,
            class_id: class_id.clone(),
            course: course.clone(),
            stop: app.shutdown().clone(),
        };
        let group = group.to_vec();
        app.tracker().spawn(sim.run(group));
    }
    let chatters = students
        .iter()
        .take(CHAT_LINES.len())
        .map(|student| mint(&student.id, Role::Student, &student.name))
        .collect::<Result<Vec<_>, _>>()?;
    app.tracker().spawn(chat(
        Rest {
            http: reqwest::Client::new(),
            base: base.clone(),
            token: String::new(),
        },
        class_id.clone(),
        chatters,
        app.shutdown().clone(),
    ));
    tracing::info!(class = %class_id, "demo classroom running with two simulated game servers");
    Ok(DemoLinks {
        teacher: format!("{base}/dashboard#token={teacher_token}&class={class_id}"),
        operator: format!("{base}/dashboard#token={admin_token}&view=operator"),
        class_id,
    })
}

/// What the demo's students say in class chat, in turn; one line has a blocked word, so the
/// teacher finds it held.
const CHAT_LINES: [&str; 5] = [
    "Is 2/4 the same as 1/2?",
    "oh darn, I missed the last question",
    "I got the pizza one right!",
    "Can we do the fractions race again?",
    "Halves are easy now",
];

/// Students chatting in the class (`POST /api/v1/classes/{id}/chat`, the moderated door):
/// a line every few seconds, each student with their own token, until shutdown.
async fn chat(mut rest: Rest, class_id: String, tokens: Vec<String>, stop: CancellationToken) {
    let path = format!("/api/v1/classes/{class_id}/chat");
    for (turn, line) in CHAT_LINES.iter().cycle().enumerate() {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(if turn == 0 { 3 } else { 15 })) => {}
        }
        let Some(token) = tokens.get(turn % tokens.len()) else {
            return;
        };
        rest.token = token.clone();
        let body = json!({"text": line, "id": format!("demo-{turn}")});
        if let Err(error) = rest
            .call(
                "a demo chat message",
                reqwest::Method::POST,
                &path,
                Some(body),
            )
            .await
        {
            tracing::debug!(%error, "a demo chat message was refused");
        }
    }
}

fn base_url(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://127.0.0.1:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}

#[derive(Debug, Clone)]
struct Student {
    id: String,
    name: String,
    roblox_id: i64,
}

/// The admin's REST client for seeding.
struct Rest {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Rest {
    async fn call(
        &self,
        step: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), DemoError> {
        let failed = |detail: String| DemoError::Setup {
            step: step.to_owned(),
            detail,
        };
        let mut attempts = 0;
        let response = loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&self.token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|cause| failed(cause.to_string()))?;
            // Seeding is a burst of requests from one token: wait out the REST rate limit.
            attempts += 1;
            if response.status() != StatusCode::TOO_MANY_REQUESTS || attempts > 10 {
                break response;
            }
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait.clamp(1, 5))).await;
        };
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        if status.is_success() || status == StatusCode::CONFLICT {
            Ok((status, body))
        } else {
            Err(failed(format!("{status}: {body}")))
        }
    }

    /// Creates a user; one that exists already (a second run) is fine.
    async fn create_user(&self, id: &str, role: &str, name: &str) -> Result<(), DemoError> {
        self.call(
            &format!("creating user {id}"),
            reqwest::Method::POST,
            "/api/v1/users",
            Some(json!({ "id": id, "role": role, "display_name": name })),
        )
        .await
        .map(drop)
    }

    /// The demo class: found by name, or created for the demo teacher.
    async fn demo_class(&self) -> Result<Value, DemoError> {
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(cursor) => format!("/api/v1/classes?limit=200&cursor={cursor}"),
                None => "/api/v1/classes?limit=200".to_owned(),
            };
            let (_, page) = self
                .call("listing classes", reqwest::Method::GET, &path, None)
                .await?;
            if let Some(class) = page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|class| class["name"] == CLASS_NAME)
            {
                return Ok(class.clone());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let (_, class) = self
            .call(
                "creating the demo class",
                reqwest::Method::POST,
                "/api/v1/classes",
                Some(json!({ "name": CLASS_NAME, "teacher_id": TEACHER })),
            )
            .await?;
        Ok(class)
    }

    /// The demo course (found by title, or made published with its lessons and the quiz on the
    /// first lesson), assigned to the class.
    async fn demo_course(&self, class_id: &str) -> Result<DemoCourse, DemoError> {
        let get = reqwest::Method::GET;
        let post = reqwest::Method::POST;
        let (_, courses) = self
            .call(
                "listing courses",
                get.clone(),
                "/api/v1/courses?limit=200",
                None,
            )
            .await?;
        let found = courses["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|course| course["title"] == COURSE_TITLE)
            .and_then(|course| course["id"].as_str())
            .map(str::to_owned);
        let id_of = |value: &Value| value["id"].as_str().unwrap_or_default().to_owned();
        let (course, lessons) = match found {
            Some(course) => {
                let (_, lessons) = self
                    .call(
                        "listing the demo lessons",
                        get.clone(),
                        &format!("/api/v1/courses/{course}/lessons?limit=200"),
                        None,
                    )
                    .await?;
                let lessons = lessons["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(id_of)
                    .collect();
                (course, lessons)
            }
            None => {
                let (_, course) = self
                    .call(
                        "creating the demo course",
                        post.clone(),
                        "/api/v1/courses",
                        Some(json!({"title": COURSE_TITLE, "published": true, "grade_level": "7"})),
                    )
                    .await?;
                let course = id_of(&course);
                let mut lessons = Vec::new();
                for title in LESSONS {
                    let (_, lesson) = self
                        .call("creating a demo lesson", post.clone(), &format!("/api/v1/courses/{course}/lessons"),
                            Some(json!({"title": title, "published": true, "roblox_universe_id": UNIVERSE})))
                        .await?;
                    lessons.push(id_of(&lesson));
                }
                let questions: Vec<Value> = QUESTIONS
                    .iter()
                    .map(|(id, prompt, choices)| {
                        json!({"id": id, "type": "multiple_choice", "prompt": prompt, "choices": choices, "answer": 0})
                    })
                    .collect();
                self.call("creating the demo quiz", post.clone(), "/api/v1/assessments",
                    Some(json!({"lesson_id": lessons[0], "title": "Fractions check", "questions": questions})))
                    .await?;
                (course, lessons)
            }
        };
        let first = lessons.first().cloned().unwrap_or_default();
        let (_, quizzes) = self
            .call(
                "finding the demo quiz",
                get,
                &format!("/api/v1/assessments?lesson_id={first}"),
                None,
            )
            .await?;
        let assessment = quizzes["items"]
            .as_array()
            .and_then(|items| items.first())
            .map(id_of)
            .unwrap_or_default();
        // A second run finds it assigned already (409).
        self.call(
            "assigning the demo course",
            post,
            &format!("/api/v1/classes/{class_id}/assignments"),
            Some(json!({"course_id": course})),
        )
        .await?;
        Ok(DemoCourse {
            id: course,
            lessons,
            assessment,
        })
    }
}

/// The demo course as the game servers play it.
#[derive(Debug, Clone)]
struct DemoCourse {
    id: String,
    lessons: Vec<String>,
    assessment: String,
}

/// One simulated Roblox game server, speaking the real Roblox routes over HTTP.
struct SimServer {
    http: reqwest::Client,
    base: String,
    key: String,
    job_id: String,
    place_id: i64,
    class_id: String,
    course: DemoCourse,
    stop: CancellationToken,
}

/// A simulated player's lesson state.
#[derive(Debug, Clone, Default)]
struct Play {
    lesson: usize,
    percent: f64,
    seconds: u64,
}

impl SimServer {
    /// Runs until the server shuts down: a command loop beside the event loop.
    async fn run(self, students: Vec<Student>) {
        let Some(session) = self.open().await else {
            return;
        };
        // The game reads its lesson and quiz as the SDK's GetLessonAsync does.
        if let Some(first) = self.course.lessons.first() {
            let request = self
                .http
                .get(format!("{}/api/v1/roblox/lessons/{first}", self.base))
                .bearer_auth(&self.key);
            self.send(request, "lessons").await;
        }
        let commands = {
            let sim = self.clone_handle();
            let session = session.clone();
            tokio::spawn(async move { sim.serve_commands(&session).await })
        };
        self.play(&session, students).await;
        if let Err(cause) = commands.await {
            tracing::warn!(%cause, job = %self.job_id, "demo command loop failed");
        }
    }

    fn clone_handle(&self) -> SimServer {
        SimServer {
            http: self.http.clone(),
            base: self.base.clone(),
            key: self.key.clone(),
            job_id: self.job_id.clone(),
            place_id: self.place_id,
            class_id: self.class_id.clone(),
            course: self.course.clone(),
            stop: self.stop.clone(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Option<Value> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body);
        self.send(request, path).await
    }

    async fn send(&self, request: reqwest::RequestBuilder, path: &str) -> Option<Value> {
        let outcome = tokio::select! {
            _ = self.stop.cancelled() => return None,
            outcome = request.send() => outcome,
        };
        match outcome {
            Ok(response) if response.status().is_success() => response.json().await.ok(),
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                if !self.stop.is_cancelled() {
                    tracing::warn!(job = %self.job_id, path, %status, body, "demo game server request refused");
                }
                None
            }
            Err(cause) => {
                if !self.stop.is_cancelled() {
                    tracing::warn!(job = %self.job_id, path, %cause, "demo game server request failed");
                }
                None
            }
        }
    }

    async fn open(&self) -> Option<String> {
        let opened = self
            .post(
                "/api/v1/roblox/sessions",
                json!({
                    "universe_id": UNIVERSE,
                    "place_id": self.place_id,
                    "job_id": self.job_id,
                    "class_id": self.class_id,
                }),
            )
            .await?;
        opened["session_id"].as_str().map(str::to_owned)
    }

    async fn players(&self, session: &str, joins: &[&Student], leaves: &[&Student]) {
        let joins: Vec<Value> = joins
            .iter()
            .map(|student| {
                json!({
                    "user_id": student.roblox_id,
                    "name": format!("{}_plays", student.name),
                    "display_name": student.name,
                })
            })
            .collect();
        let leaves: Vec<Value> = leaves
            .iter()
            .map(|student| json!({ "user_id": student.roblox_id }))
            .collect();
        self.post(
            &format!("/api/v1/roblox/sessions/{session}/players"),
            json!({ "joins": joins, "leaves": leaves }),
        )
        .await;
    }

    /// The event loop: players arrive (most at once, a few later), play through the lessons,
    /// answer quiz questions, reach checkpoints; now and then one steps out and comes back.
    async fn play(&self, session: &str, students: Vec<Student>) {
        let mut waiting: Vec<Student> = students.clone();
        let late = waiting.split_off(waiting.len().saturating_sub(3));
        let mut present: Vec<Student> = waiting;
        let mut waiting = late;
        let mut plays: HashMap<String, Play> = HashMap::new();
        let mut away: Vec<(Student, u32)> = Vec::new();
        let arriving: Vec<&Student> = present.iter().collect();
        self.players(session, &arriving, &[]).await;
        // Everyone present starts the first lesson at once, so the bars fill within seconds.
        let mut batch = Vec::new();
        for student in &present {
            let play = plays.entry(student.id.clone()).or_default();
            play.percent = f64::from(rand::rng().random_range(5..25u32));
            batch.push(self.progress_event(student, play));
        }
        self.send_events(session, batch).await;
        let mut counter: u64 = 0;
        let mut ticker = tokio::time::interval(Duration::from_millis(900));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            counter += 1;
            // Students who stepped out come back after a while.
            let mut back = Vec::new();
            away.retain_mut(|(student, ticks)| {
                *ticks = ticks.saturating_sub(1);
                if *ticks == 0 {
                    back.push(student.clone());
                    false
                } else {
                    true
                }
            });
            if !waiting.is_empty() && rand::rng().random_bool(0.12) {
                back.push(waiting.remove(0));
            }
            if !back.is_empty() {
                let joining: Vec<&Student> = back.iter().collect();
                self.players(session, &joining, &[]).await;
                present.extend(back);
            }
            if present.len() > 8 && rand::rng().random_bool(0.03) {
                let index = rand::rng().random_range(0..present.len());
                let leaving = present.remove(index);
                self.players(session, &[], &[&leaving]).await;
                away.push((leaving, rand::rng().random_range(8..20)));
            }
            let mut batch = Vec::new();
            let active = rand::rng().random_range(1..=4usize).min(present.len());
            let chosen: Vec<Student> = present
                .choose_multiple(&mut rand::rng(), active)
                .cloned()
                .collect();
            for student in &chosen {
                let play = plays.entry(student.id.clone()).or_default();
                let roll: f64 = rand::rng().random();
                if roll < 0.7 {
                    if play.percent >= 100.0 && play.lesson + 1 < LESSONS.len() {
                        play.lesson += 1;
                        play.percent = 0.0;
                    }
                    if play.percent < 100.0 {
                        let step = f64::from(rand::rng().random_range(5..15u32));
                        play.percent = (play.percent + step).min(100.0);
                        play.seconds += 20;
                        batch.push(self.progress_event(student, play));
                        if play.percent >= 100.0 {
                            // The game awards points for a finished lesson (`AwardPoints`).
                            batch.push(json!({
                                "id": event_id(&self.job_id, counter, &student.id, "award"),
                                "player": student.roblox_id,
                                "kind": "award",
                                "data": {"points": 10, "reason": format!("finished {}", LESSONS[play.lesson])},
                            }));
                        }
                    }
                } else if roll < 0.9 {
                    let (question, prompt, choices) = QUESTIONS
                        .choose(&mut rand::rng())
                        .copied()
                        .unwrap_or(QUESTIONS[0]);
                    // The first choice is right; the server scores the answer.
                    let answer = if rand::rng().random_bool(0.7) {
                        0
                    } else {
                        rand::rng().random_range(1..choices.len())
                    };
                    batch.push(json!({
                        "id": event_id(&self.job_id, counter, &student.id, "quiz"),
                        "player": student.roblox_id,
                        "kind": "quiz_answer",
                        "data": {
                            "assessment": self.course.assessment,
                            "question": question,
                            "prompt": prompt,
                            "answer": answer,
                            "lesson": self.lesson_id(play.lesson),
                        },
                    }));
                } else {
                    let checkpoint = CHECKPOINTS
                        .choose(&mut rand::rng())
                        .copied()
                        .unwrap_or(CHECKPOINTS[0]);
                    batch.push(json!({
                        "id": event_id(&self.job_id, counter, &student.id, "checkpoint"),
                        "player": student.roblox_id,
                        "kind": "checkpoint",
                        "data": { "name": checkpoint, "lesson": self.lesson_id(play.lesson) },
                    }));
                }
            }
            self.send_events(session, batch).await;
        }
    }

    fn lesson_id(&self, index: usize) -> &str {
        self.course
            .lessons
            .get(index)
            .map_or(LESSONS[index % LESSONS.len()], String::as_str)
    }

    fn progress_event(&self, student: &Student, play: &Play) -> Value {
        json!({
            "id": event_id(&self.job_id, rand::random::<u64>(), &student.id, "progress"),
            "player": student.roblox_id,
            "kind": "progress",
            "data": {
                "lesson": self.lesson_id(play.lesson),
                "course": self.course.id,
                "percent": play.percent,
                "time_spent_secs": 20,
            },
        })
    }

    async fn send_events(&self, session: &str, events: Vec<Value>) {
        if events.is_empty() {
            return;
        }
        self.post(
            "/api/v1/roblox/events",
            json!({ "session_id": session, "events": events }),
        )
        .await;
    }

    /// Long-polls for the teacher's commands, "carries them out" and acknowledges them, as the
    /// Luau SDK does.
    async fn serve_commands(&self, session: &str) {
        let mut cursor: u64 = 0;
        while !self.stop.is_cancelled() {
            let request = self
                .http
                .get(format!(
                    "{}/api/v1/roblox/sessions/{session}/commands?after={cursor}&wait=20",
                    self.base
                ))
                .bearer_auth(&self.key);
            let Some(answer) = self.send(request, "commands").await else {
                // Refused or unreachable: wait a little before asking again.
                tokio::select! {
                    _ = self.stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            };
            cursor = answer["cursor"].as_u64().unwrap_or(cursor);
            let ids: Vec<Value> = answer["commands"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|command| command.get("id").cloned())
                .collect();
            if !ids.is_empty() {
                self.post(
                    &format!("/api/v1/roblox/sessions/{session}/commands/ack"),
                    json!({ "ids": ids }),
                )
                .await;
            }
        }
    }
}

fn event_id(job: &str, counter: u64, student: &str, kind: &str) -> String {
    format!(
        "{job}-{kind}-{student}-{counter}-{:06x}",
        rand::random::<u32>() & 0xff_ffff
    )
}
