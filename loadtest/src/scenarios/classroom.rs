//! `classroom`: N classes, each with a teacher socket, S student sockets and a simulated Roblox
//! game server on the real HTTP path: it opens a game session with a game-server key, then
//! posts event batches (`POST /api/v1/roblox/events`) at a set rate, each answered after the
//! commit that holds it. The teacher's socket is joined to the game room and times every event
//! from the moment its batch was sent (the send time rides in `data.t`).
//!
//! Reports game event → teacher socket latency (the report's percentiles), batch → commit
//! acknowledgement latency, deliveries/s, accepted events/s, 503 refusals (retried with the
//! same ids after `Retry-After`, as the SDK does) and errors. Students join their class room and
//! stay idle (a class's sockets), since game sessions are not linked to classes here: linking
//! needs roster rows, which this scenario does not create.
//!
//! With `--answers` the game servers play a quiz instead: the scenario sets up, over the REST
//! API as an admin, a published course with a ten-question assessment, and per class its
//! teacher, a class with one student per player, the course assigned, and every player linked
//! (class code + personal link code). Each event is then a `quiz_answer` naming the assessment
//! (ten questions per attempt), which the server scores and records as results in the commit
//! the acknowledgement waits for; the teacher listens in the class's game room. Student sockets
//! are not opened in this mode (`--students 0`).
//!
//! Entry point: [`run`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, ensure};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{
    Common, MAX_CONNECTIONS, MAX_PAYLOAD_BYTES, MAX_RATE, check_count, nothing_opened, open_many,
    padding, per_sec, run_id, secs, wait_window,
};
use crate::client::{self, Connection, FrameKind, WireProtocol};
use crate::credentials::Role;
use crate::progress::Progress;
use crate::report::{ClassroomResults, Report, Results};
use crate::stats::{Errors, LatencyRecorder, SharedLatencies, Window, unix_micros, unix_millis};

/// Most events per batch (the server's default limit).
pub const MAX_BATCH: usize = 100;
/// Most batches in flight per game server.
pub const MAX_IN_FLIGHT: usize = 64;
/// Longest wait for one HTTP answer.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Sends of one batch (the first and its retries) before it is given up.
const MAX_ATTEMPTS: u32 = 10;

/// What `classroom` is asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// Target, credentials (tokens for teachers and students), warm-up, duration.
    pub common: Common,
    /// A game-server key of the credentials' tenant (`classhub gamekey create`).
    pub game_key: String,
    /// The universe the key is limited to (any when it is not limited).
    pub universe_id: i64,
    /// Classes (one teacher and one game server each).
    pub classes: u64,
    /// Idle student sockets per class.
    pub students: u64,
    /// Game events per second over all game servers.
    pub rate: f64,
    /// Events per HTTP batch.
    pub batch: usize,
    /// Batches in flight per game server.
    pub in_flight: usize,
    /// Extra payload bytes per event.
    pub payload_bytes: usize,
    /// Events are in-game quiz answers of linked players, scored by the server.
    pub answers: bool,
}

impl Config {
    /// 2 classes of 5 students, 200 events/s in batches of 20.
    pub fn new(common: Common, game_key: String) -> Config {
        Config {
            common,
            game_key,
            universe_id: 1,
            classes: 2,
            students: 5,
            rate: 200.0,
            batch: 20,
            in_flight: 4,
            payload_bytes: 0,
            answers: false,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.common.validate()?;
        check_count("classes", self.classes, MAX_CONNECTIONS)?;
        ensure!(
            self.classes * (self.students + 1) <= MAX_CONNECTIONS,
            "--classes x (--students + 1) must be at most {MAX_CONNECTIONS} sockets"
        );
        ensure!(
            self.rate > 0.0 && self.rate <= MAX_RATE,
            "--rate must be more than 0 and at most {MAX_RATE} events/s"
        );
        ensure!(
            (1..=MAX_BATCH).contains(&self.batch),
            "--batch must be between 1 and {MAX_BATCH}"
        );
        ensure!(
            (1..=MAX_IN_FLIGHT).contains(&self.in_flight),
            "--in-flight must be between 1 and {MAX_IN_FLIGHT}"
        );
        ensure!(
            self.payload_bytes <= MAX_PAYLOAD_BYTES,
            "--payload-bytes must be at most {MAX_PAYLOAD_BYTES}"
        );
        ensure!(
            !self.answers || self.students == 0,
            "--answers makes a student per player and opens no student sockets: give --students 0"
        );
        ensure!(
            !self.game_key.is_empty(),
            "--game-key is required: make one with `classhub gamekey create --tenant <tenant>`"
        );
        Ok(())
    }
}

/// What every task shares.
struct Shared {
    window: Window,
    stop: CancellationToken,
    http: reqwest::Client,
    events_url: String,
    game_key: String,
    pad: String,
    batch: usize,
    delivered: AtomicU64,
    accepted: AtomicU64,
    /// `--answers`: the assessment every answer names.
    assessment: Option<String>,
    /// Batches in flight per game server.
    in_flight: usize,
}

/// One game server's figures.
#[derive(Debug, Default)]
struct GameOutcome {
    sent: u64,
    accepted: u64,
    requests: u64,
    refused_503: u64,
    failed_batches: u64,
    errors: Errors,
}

/// Runs the scenario and returns its report.
pub async fn run(config: Config) -> anyhow::Result<Report> {
    config.validate()?;
    let common = &config.common;
    let codec = protocol::Codec::Json;
    let started_at_unix_ms = unix_millis();
    let tenant = common
        .credentials
        .tenant()
        .ok_or_else(|| anyhow!("classroom mints its tokens: give --jwt-secret (and --tenant)"))?
        .to_owned();
    let run_id = run_id();
    let progress = Progress::new(common.show_progress);
    let mut errors = Errors::default();
    let setup_start = Instant::now();
    let http = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .build()
        .context("building the HTTP client")?;
    let base = common.target.http_base();

    let quiz = if config.answers {
        progress.phase("quiz set-up (classes, students, content)", config.classes);
        Some(setup_quiz(&http, &base, common, &run_id, &config, &progress).await?)
    } else {
        None
    };

    // One game session per class.
    progress.phase("game sessions", config.classes);
    let mut jobs = Vec::new();
    for class in 0..config.classes {
        let job_id = format!("{run_id}-g{class}");
        let mut opening =
            json!({"universe_id": config.universe_id, "place_id": 1, "job_id": job_id});
        if let Some(quiz) = &quiz {
            opening["class_id"] = json!(quiz.classes[class as usize].id);
        }
        let answer = http
            .post(format!("{base}/api/v1/roblox/sessions"))
            .bearer_auth(&config.game_key)
            .json(&opening)
            .send()
            .await
            .context("opening a game session")?;
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        ensure!(
            status.is_success(),
            "opening a game session answered {status}: {body} (is --game-key a key of tenant {tenant}?)"
        );
        let session_id = body["session_id"]
            .as_str()
            .context("the session answer has no session_id")?
            .to_owned();
        // The players who will send events, reported as the SDK reports them on join.
        let joins: Vec<Value> = (0..config.batch)
            .map(|player| json!({"user_id": player_id(class, player as u64), "name": format!("player{player}")}))
            .collect();
        let reported = http
            .post(format!(
                "{base}/api/v1/roblox/sessions/{session_id}/players"
            ))
            .bearer_auth(&config.game_key)
            .json(&json!({"joins": joins}))
            .send()
            .await
            .context("reporting players")?;
        ensure!(
            reported.status().is_success(),
            "reporting players answered {}",
            reported.status()
        );
        if let Some(quiz) = &quiz {
            link_players(
                &http,
                &base,
                &config.game_key,
                &session_id,
                class,
                &quiz.classes[class as usize],
            )
            .await?;
        }
        progress.inc();
        jobs.push((job_id, session_id));
    }

    // A teacher per class, joined to the game room, and the students, joined to the class room.
    progress.phase("sockets", config.classes * (config.students + 1));
    let sockets = open_many(
        config.classes * (config.students + 1),
        64,
        &progress,
        |index| {
            let class = index / (config.students + 1);
            let teacher = index % (config.students + 1) == 0;
            let room = if teacher {
                format!("game:{tenant}:{}", jobs[class as usize].0)
            } else {
                format!("class:{tenant}:{run_id}-c{class}")
            };
            let (role, user) = if teacher {
                (Role::Educator, format!("{run_id}-t{class}"))
            } else {
                (Role::Student, format!("{run_id}-s{index}"))
            };
            let target = &common.target;
            let credentials = &common.credentials;
            async move {
                let token = credentials.token_for(role, &user)?;
                let mut connection = client::connect(target, codec, &token, None).await?;
                connection.welcome().await?;
                connection.join(&room, 1).await?;
                Ok((teacher, connection))
            }
        },
    )
    .await;
    let mut teachers = Vec::new();
    let mut students = Vec::new();
    for outcome in sockets {
        match outcome {
            Ok((true, connection)) => teachers.push(connection),
            Ok((false, connection)) => students.push(connection),
            Err(error) => errors.add("setup_socket", || format!("{error:#}")),
        }
    }
    if teachers.is_empty() {
        return Err(nothing_opened("teacher socket", errors.sample.first()));
    }
    let setup = setup_start.elapsed();

    let window = Window::after_warmup(common.warmup, common.duration);
    let shared = Arc::new(Shared {
        window,
        stop: CancellationToken::new(),
        http,
        events_url: format!("{base}/api/v1/roblox/events"),
        game_key: config.game_key.clone(),
        pad: padding(config.payload_bytes),
        batch: config.batch,
        delivered: AtomicU64::new(0),
        accepted: AtomicU64::new(0),
        assessment: quiz.as_ref().map(|quiz| quiz.assessment.clone()),
        in_flight: config.in_flight,
    });
    let delivery_latencies = SharedLatencies::new()?;
    let ack_latencies = SharedLatencies::new()?;
    let teacher_count = teachers.len() as u64;
    let teacher_tasks: Vec<JoinHandle<(u64, Errors)>> = teachers
        .into_iter()
        .map(|connection| {
            tokio::spawn(teacher_loop(
                connection,
                delivery_latencies.recorder(),
                Arc::clone(&shared),
            ))
        })
        .collect();
    // Batches per second per game server.
    let period = Duration::from_secs_f64(config.batch as f64 * config.classes as f64 / config.rate);
    let game_tasks: Vec<JoinHandle<GameOutcome>> = jobs
        .iter()
        .enumerate()
        .map(|(index, (_, session_id))| {
            let offset = period.mul_f64((index % 64) as f64 / 64.0);
            tokio::spawn(game_loop(
                format!("{run_id}-{index}"),
                index as u64,
                session_id.clone(),
                window.load_start + offset,
                period,
                ack_latencies.clone(),
                Arc::clone(&shared),
            ))
        })
        .collect();

    let status = || {
        format!(
            "accepted {}, delivered {}",
            shared.accepted.load(Ordering::Relaxed),
            shared.delivered.load(Ordering::Relaxed)
        )
    };
    wait_window(&window, &progress, status, || {}).await;
    shared.stop.cancel();

    let mut totals = ClassroomResults {
        classes: config.classes,
        students_per_class: config.students,
        target_rate: config.rate,
        batch: config.batch as u64,
        events_sent: 0,
        events_accepted: 0,
        accepted_per_sec: 0.0,
        http_requests: 0,
        refused_503: 0,
        failed_batches: 0,
        deliveries: 0,
        deliveries_per_sec: 0.0,
        batch_ack_latency_us: Default::default(),
    };
    for task in game_tasks {
        let outcome = task.await.context("a game server task failed")?;
        totals.events_sent += outcome.sent;
        totals.events_accepted += outcome.accepted;
        totals.http_requests += outcome.requests;
        totals.refused_503 += outcome.refused_503;
        totals.failed_batches += outcome.failed_batches;
        errors.merge(outcome.errors);
    }
    for task in teacher_tasks {
        let (deliveries, teacher_errors) = task.await.context("a teacher task failed")?;
        totals.deliveries += deliveries;
        errors.merge(teacher_errors);
    }
    for student in students {
        student.close().await;
    }
    for (_, session_id) in &jobs {
        let closed = shared
            .http
            .delete(format!("{base}/api/v1/roblox/sessions/{session_id}"))
            .bearer_auth(&config.game_key)
            .send()
            .await;
        if let Err(error) = closed {
            errors.add("close_session", || {
                format!("closing a game session: {error}")
            });
        }
    }
    let duration = window.duration();
    totals.accepted_per_sec = per_sec(totals.events_accepted, duration);
    totals.deliveries_per_sec = per_sec(totals.deliveries, duration);
    totals.batch_ack_latency_us = ack_latencies.snapshot().percentiles();
    Ok(Report {
        scenario: "classroom".into(),
        target: common.target.display().to_owned(),
        protocol: WireProtocol::Json.as_str().into(),
        started_at_unix_ms,
        setup_secs: secs(setup),
        warmup_secs: secs(common.warmup),
        duration_secs: secs(duration),
        connections: teacher_count + config.classes * config.students,
        latency_of: "game event batch sent (HTTP) to the event on the teacher's socket".into(),
        latency_us: delivery_latencies.snapshot().percentiles(),
        results: Results::Classroom(totals),
        errors,
        notes: {
            let mut notes = vec![if config.answers {
                "--answers: every event is a linked player's quiz answer, scored by the server and \
                 written with its attempt's result in the commit the batch's answer waits for; \
                 game sessions are linked to their classes, whose teachers listen in the game room"
                    .to_owned()
            } else {
                "game sessions are not linked to classes (no roster rows are made), so events \
                 reach the game room, where the teacher listens; students are idle sockets in the \
                 class room"
                    .to_owned()
            }];
            notes.push(
                "a simulated game server sends far more than Roblox's 500 requests/minute when the \
                 rate asks for it: this measures the server, not the Roblox budget"
                    .into(),
            );
            notes
        },
    })
}

/// A teacher: counts game events and their latency until the stop.
async fn teacher_loop(
    mut connection: Connection,
    mut latencies: LatencyRecorder,
    shared: Arc<Shared>,
) -> (u64, Errors) {
    let mut deliveries = 0;
    let mut errors = Errors::default();
    loop {
        let next = tokio::select! {
            _ = shared.stop.cancelled() => break,
            next = connection.ws.next() => next,
        };
        let frame = match next {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => {
                errors.add("socket", || format!("teacher socket failed: {error}"));
                break;
            }
            None => {
                errors.add("closed", || "teacher socket closed by the server".into());
                break;
            }
        };
        let Some(bytes) = client::payload(&frame) else {
            continue;
        };
        match client::probe(connection.codec, bytes) {
            Ok(probe) if probe.kind == FrameKind::Event => {
                let Some(sent_us) = probe.data.and_then(|data| data.t) else {
                    continue;
                };
                shared.delivered.fetch_add(1, Ordering::Relaxed);
                if shared.window.contains(Instant::now()) {
                    deliveries += 1;
                    latencies.record_micros(unix_micros().saturating_sub(sent_us));
                }
            }
            Ok(_) => {}
            Err(error) => errors.add("decode", || format!("{error:#}")),
        }
    }
    latencies.flush();
    connection.close().await;
    (deliveries, errors)
}

/// A game server: one batch per tick, at most `in_flight` unanswered, until the window ends.
async fn game_loop(
    id_prefix: String,
    class: u64,
    session_id: String,
    first_tick: Instant,
    period: Duration,
    ack_latencies: SharedLatencies,
    shared: Arc<Shared>,
) -> GameOutcome {
    let mut outcome = GameOutcome::default();
    let mut ticker = tokio::time::interval_at(first_tick, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut running = futures_util::stream::FuturesUnordered::new();
    let mut next_event = 0_u64;
    loop {
        tokio::select! {
            _ = shared.stop.cancelled() => break,
            Some(batch) = running.next(), if !running.is_empty() => merge(&mut outcome, batch),
            _ = ticker.tick(), if running.len() < shared.in_flight => {
                let ids: Vec<String> = (0..shared.batch)
                    .map(|offset| format!("{id_prefix}-{}", next_event + offset as u64))
                    .collect();
                next_event += shared.batch as u64;
                let round = next_event / shared.batch as u64 - 1;
                running.push(send_batch(ids, class, round, session_id.clone(), ack_latencies.recorder(), Arc::clone(&shared)));
            }
        }
    }
    // Batches in flight at the stop are waited for (bounded by the HTTP timeout).
    while let Some(batch) = running.next().await {
        merge(&mut outcome, batch);
    }
    outcome
}

fn merge(total: &mut GameOutcome, batch: GameOutcome) {
    total.sent += batch.sent;
    total.accepted += batch.accepted;
    total.requests += batch.requests;
    total.refused_503 += batch.refused_503;
    total.failed_batches += batch.failed_batches;
    total.errors.merge(batch.errors);
}

/// Sends one batch until it is answered 200, retrying 503s after `Retry-After` with the same ids
/// (and the same send times: latency counts from the first send).
async fn send_batch(
    ids: Vec<String>,
    class: u64,
    round: u64,
    session_id: String,
    mut ack_latencies: LatencyRecorder,
    shared: Arc<Shared>,
) -> GameOutcome {
    let mut outcome = GameOutcome::default();
    let first_sent = Instant::now();
    let measured = shared.window.contains(first_sent);
    let sent_us = unix_micros();
    let events: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(player, id)| match &shared.assessment {
            // Each player answers the ten questions in turn, then starts a new attempt.
            Some(assessment) => json!({"id": id, "player": player_id(class, player as u64), "kind": "quiz_answer",
                   "data": {"t": sent_us, "assessment": assessment, "question": format!("q{}", round % QUIZ_QUESTIONS),
                            "answer": (round + player as u64) % 4, "attempt": format!("a{}", round / QUIZ_QUESTIONS),
                            "pad": shared.pad}}),
            None => json!({"id": id, "player": player_id(class, player as u64), "kind": "checkpoint",
                   "data": {"t": sent_us, "pad": shared.pad}}),
        })
        .collect();
    let body = json!({"session_id": session_id, "events": events});
    if measured {
        outcome.sent += ids.len() as u64;
    }
    for _ in 0..MAX_ATTEMPTS {
        outcome.requests += 1;
        let answer = shared
            .http
            .post(&shared.events_url)
            .bearer_auth(&shared.game_key)
            .json(&body)
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(error) => {
                outcome
                    .errors
                    .add("http", || format!("posting a batch: {error}"));
                break;
            }
        };
        let status = response.status();
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            outcome.refused_503 += 1;
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<f64>().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs_f64)
                .min(Duration::from_secs(5));
            tokio::select! {
                _ = shared.stop.cancelled() => break,
                _ = tokio::time::sleep(wait) => continue,
            }
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            outcome
                .errors
                .add(&format!("http_{}", status.as_u16()), || {
                    format!("a batch was answered {status}: {body}")
                });
            break;
        }
        let accepted = body["accepted"].as_array().map_or(0, Vec::len) as u64;
        shared.accepted.fetch_add(accepted, Ordering::Relaxed);
        if let Some(rejected) = body["rejected"].as_array().filter(|list| !list.is_empty()) {
            outcome
                .errors
                .add("rejected", || format!("events rejected: {rejected:?}"));
        }
        if measured {
            outcome.accepted += accepted;
            ack_latencies.record(first_sent.elapsed());
        }
        ack_latencies.flush();
        return outcome;
    }
    outcome.failed_batches += 1;
    ack_latencies.flush();
    outcome
}

/// Questions of the `--answers` assessment (each multiple choice, four choices).
const QUIZ_QUESTIONS: u64 = 10;

/// The Roblox user id of `player` in class `class` (unique in the tenant, as linking needs).
fn player_id(class: u64, player: u64) -> u64 {
    1_000_000 + class * 1_000 + player
}

/// What `--answers` set up.
struct Quiz {
    assessment: String,
    classes: Vec<QuizClass>,
}

/// One class of the quiz: its id, its code and each player's personal link code.
struct QuizClass {
    id: String,
    code: String,
    link_codes: Vec<String>,
}

/// A REST call as `token`; the JSON answer, or an error naming `step` and the answer.
async fn rest(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
    step: &str,
) -> anyhow::Result<Value> {
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.with_context(|| step.to_owned())?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    ensure!(status.is_success(), "{step} answered {status}: {answer}");
    Ok(answer)
}

/// Content, classes, students and link codes for `--answers` (see the module header).
async fn setup_quiz(
    http: &reqwest::Client,
    base: &str,
    common: &Common,
    run_id: &str,
    config: &Config,
    progress: &Progress,
) -> anyhow::Result<Quiz> {
    use reqwest::Method;
    let admin = common
        .credentials
        .token_for(Role::Admin, &format!("{run_id}-admin"))?;
    let id_of = |value: &Value| value["id"].as_str().unwrap_or_default().to_owned();
    let course = rest(
        http,
        Method::POST,
        format!("{base}/api/v1/courses"),
        &admin,
        Some(json!({"title": format!("loadtest {run_id}"), "published": true})),
        "creating the course",
    )
    .await?;
    let course = id_of(&course);
    let lesson = rest(
        http,
        Method::POST,
        format!("{base}/api/v1/courses/{course}/lessons"),
        &admin,
        Some(json!({"title": "quiz", "published": true})),
        "creating the lesson",
    )
    .await?;
    let questions: Vec<Value> = (0..QUIZ_QUESTIONS)
        .map(|n| json!({"id": format!("q{n}"), "type": "multiple_choice", "prompt": format!("question {n}"),
                        "choices": ["a", "b", "c", "d"], "answer": n % 4}))
        .collect();
    let assessment = rest(
        http,
        Method::POST,
        format!("{base}/api/v1/assessments"),
        &admin,
        Some(json!({"lesson_id": id_of(&lesson), "title": "quiz", "questions": questions})),
        "creating the assessment",
    )
    .await?;
    let mut classes = Vec::new();
    for class in 0..config.classes {
        let teacher = format!("{run_id}-t{class}");
        rest(
            http,
            Method::POST,
            format!("{base}/api/v1/users"),
            &admin,
            Some(json!({"id": teacher, "role": "educator"})),
            "creating a teacher",
        )
        .await?;
        let students: Vec<String> = (0..config.batch)
            .map(|player| format!("{run_id}-c{class}-p{player}"))
            .collect();
        for student in &students {
            rest(
                http,
                Method::POST,
                format!("{base}/api/v1/users"),
                &admin,
                Some(json!({"id": student, "role": "student"})),
                "creating a student",
            )
            .await?;
        }
        let made = rest(
            http,
            Method::POST,
            format!("{base}/api/v1/classes"),
            &admin,
            Some(json!({"name": format!("loadtest class {class}"), "teacher_id": teacher})),
            "creating a class",
        )
        .await?;
        let class_id = id_of(&made);
        rest(
            http,
            Method::POST,
            format!("{base}/api/v1/classes/{class_id}/students"),
            &admin,
            Some(json!({"user_ids": students})),
            "filling the roster",
        )
        .await?;
        rest(
            http,
            Method::POST,
            format!("{base}/api/v1/classes/{class_id}/assignments"),
            &admin,
            Some(json!({"course_id": course})),
            "assigning the course",
        )
        .await?;
        let roster = rest(
            http,
            Method::GET,
            format!("{base}/api/v1/classes/{class_id}/students?limit=200"),
            &admin,
            None,
            "reading the roster",
        )
        .await?;
        let link_codes = students
            .iter()
            .map(|student| {
                roster["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|member| member["id"] == student.as_str())
                    .and_then(|member| member["link_code"].as_str())
                    .map(str::to_owned)
                    .with_context(|| format!("no link code for {student} on the roster"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        classes.push(QuizClass {
            id: class_id,
            code: made["class_code"].as_str().unwrap_or_default().to_owned(),
            link_codes,
        });
        progress.inc();
    }
    Ok(Quiz {
        assessment: id_of(&assessment),
        classes,
    })
}

/// Links every player of a class's game server to its student, as players do in game.
async fn link_players(
    http: &reqwest::Client,
    base: &str,
    game_key: &str,
    session_id: &str,
    class: u64,
    quiz: &QuizClass,
) -> anyhow::Result<()> {
    for (player, code) in quiz.link_codes.iter().enumerate() {
        rest(http, reqwest::Method::POST, format!("{base}/api/v1/roblox/link"), game_key,
            Some(json!({"class_code": quiz.code, "student_code": code, "user_id": player_id(class, player as u64),
                        "session_id": session_id})),
            "linking a player (start the server with a high --roblox-link-per-minute)").await?;
    }
    Ok(())
}
