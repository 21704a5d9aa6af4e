//! The normal class of `abuse`: one teacher and N students on native `/ws` sockets, all joined
//! to one class room. The teacher publishes `loadtest` events at `rate` (down: every student
//! receives them) and the students take turns publishing `chat` at `student_rate` in all (up:
//! the teacher receives them). Each event carries its send time (`data.t`, µs since the Unix
//! epoch) and the phase it was sent in (`data.p`; a chat message carries both in its `text`),
//! so a delivery counts for the phase of its publish even when it arrives late. Class chat
//! limits each student's messages (`--chat-per-minute`): the server under test must allow
//! `student_rate / students` a second. Entry points: [`OpenClass::connect`], [`OpenClass::start`],
//! [`Class::finish`].

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow};
use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMessage, Codec};
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::Phase;
use crate::client::{self, Connection, FrameKind};
use crate::credentials::{Credentials, Role};
use crate::progress::Progress;
use crate::report::{ClassFlow, ClassPhase};
use crate::scenarios::{nothing_opened, open_many};
use crate::stats::{Errors, LatencyRecorder, SharedLatencies, Window, unix_micros};
use crate::target::Target;

/// Connections of the class opened at once during setup.
const SETUP_CONCURRENCY: usize = 32;

/// What the class is asked to do.
#[derive(Debug, Clone)]
pub(super) struct ClassPlan {
    pub target: Target,
    pub credentials: Credentials,
    pub codec: Codec,
    /// `class:{tenant}:{id}`.
    pub room: String,
    /// Prefix of the class's user ids.
    pub run_id: String,
    pub students: u64,
    /// Teacher → students events per second.
    pub rate: f64,
    /// Students → teacher events per second, all students together.
    pub student_rate: f64,
    pub source: Option<IpAddr>,
}

/// Counts of one direction in one phase, filled by every class socket.
#[derive(Debug)]
struct FlowCounts {
    published: AtomicU64,
    delivered: AtomicU64,
    latencies: SharedLatencies,
}

impl FlowCounts {
    fn new() -> anyhow::Result<FlowCounts> {
        Ok(FlowCounts {
            published: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            latencies: SharedLatencies::new()?,
        })
    }
}

/// Everything the class's tasks share.
#[derive(Debug)]
struct Shared {
    quiet: Window,
    abused: Window,
    /// Cancelled when the run ends: every class socket stops publishing and reading.
    stop: CancellationToken,
    /// `[phase][direction]`: quiet/abused × down/up.
    flows: [[FlowCounts; 2]; 2],
    /// Deliveries of the whole run, for the progress bar.
    live_deliveries: AtomicU64,
}

impl Shared {
    fn phase_at(&self, at: Instant) -> Phase {
        if self.quiet.contains(at) {
            Phase::Quiet
        } else if self.abused.contains(at) {
            Phase::Abused
        } else {
            Phase::Between
        }
    }

    fn flow(&self, phase: Phase, direction: Direction) -> Option<&FlowCounts> {
        let phase_index = match phase {
            Phase::Quiet => 0,
            Phase::Abused => 1,
            Phase::Between => return None,
        };
        Some(&self.flows[phase_index][direction as usize])
    }
}

/// Which way an event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Teacher → students (`loadtest`).
    Down = 0,
    /// Students → teacher (`chat`).
    Up = 1,
}

impl Direction {
    fn kind(self) -> &'static str {
        match self {
            Direction::Down => "loadtest",
            Direction::Up => "chat",
        }
    }
}

/// What one class socket saw.
#[derive(Debug, Default)]
struct SocketOutcome {
    /// `close_CODE`/`close_none`/`reset` and the phase it happened in, when the server ended it.
    closed: Option<(Phase, String)>,
    /// `error_CODE` frames answering this socket's publishes, by phase.
    publish_errors: [Errors; 2],
    /// Harness-side failures.
    errors: Errors,
}

/// The open class, its tasks running.
pub(super) struct Class {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<SocketOutcome>>,
    students: u64,
}

/// The fields of a server frame the class reads.
#[derive(Debug, Deserialize)]
struct ClassProbe {
    #[serde(rename = "type")]
    frame: FrameKind,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    data: Option<ClassData>,
    #[serde(default)]
    code: Option<u16>,
}

/// What the class's publishers put in `data`.
#[derive(Debug, Deserialize)]
struct ClassData {
    #[serde(default)]
    t: Option<u64>,
    #[serde(default)]
    p: Option<u8>,
    /// A chat message's text: `"{t} {p} {n}"` (class chat keeps only `text`).
    #[serde(default)]
    text: Option<String>,
}

impl ClassData {
    /// The send time and phase, from the fields or from a chat message's text.
    fn stamp(&self) -> (Option<u64>, Option<u8>) {
        if self.t.is_some() {
            return (self.t, self.p);
        }
        let mut parts = self.text.as_deref().unwrap_or_default().split(' ');
        let sent = parts.next().and_then(|part| part.parse().ok());
        let phase = parts.next().and_then(|part| part.parse().ok());
        (sent, phase)
    }
}

/// The class's sockets, connected and joined, before their loops start.
pub(super) struct OpenClass {
    /// `(index, connection)`: index 0 is the teacher.
    connections: Vec<(u64, Connection)>,
    rate: f64,
    student_rate: f64,
    room: String,
}

impl OpenClass {
    /// Connects and joins the teacher and the students.
    pub(super) async fn connect(
        plan: &ClassPlan,
        progress: &Progress,
        errors: &mut Errors,
    ) -> anyhow::Result<OpenClass> {
        let sockets = plan.students + 1;
        progress.phase("class", sockets);
        let opened = open_many(sockets, SETUP_CONCURRENCY, progress, |index| async move {
            let (role, user) = if index == 0 {
                (Role::Educator, format!("{}-teacher", plan.run_id))
            } else {
                (Role::Student, format!("{}-s{index}", plan.run_id))
            };
            let token = plan.credentials.token_for(role, &user)?;
            let mut connection =
                client::connect(&plan.target, plan.codec, &token, plan.source).await?;
            connection.welcome().await?;
            connection
                .join(&plan.room, 1)
                .await
                .with_context(|| format!("{user} joining the class"))?;
            Ok((index, connection))
        })
        .await;
        let mut connections = Vec::new();
        for outcome in opened {
            match outcome {
                Ok(opened) => connections.push(opened),
                Err(error) => errors.add("setup_class", || format!("{error:#}")),
            }
        }
        if !connections.iter().any(|(index, _)| *index == 0) {
            return Err(nothing_opened("teacher socket", errors.sample.first()));
        }
        if connections.len() < 2 {
            return Err(nothing_opened("student socket", errors.sample.first()));
        }
        Ok(OpenClass {
            connections,
            rate: plan.rate,
            student_rate: plan.student_rate,
            room: plan.room.clone(),
        })
    }

    /// Starts every socket's loop: the publishers' first tick is `quiet.load_start`.
    pub(super) fn start(self, quiet: Window, abused: Window) -> anyhow::Result<Class> {
        let shared = Arc::new(Shared {
            quiet,
            abused,
            stop: CancellationToken::new(),
            flows: [
                [FlowCounts::new()?, FlowCounts::new()?],
                [FlowCounts::new()?, FlowCounts::new()?],
            ],
            live_deliveries: AtomicU64::new(0),
        });
        let n_students = self.connections.len() as u64 - 1;
        let student_period = Duration::from_secs_f64(n_students as f64 / self.student_rate);
        let mut tasks = Vec::with_capacity(self.connections.len());
        let mut student_turn = 0_u64;
        for (index, connection) in self.connections {
            let (sends, receives, period, offset) = if index == 0 {
                let period = Duration::from_secs_f64(1.0 / self.rate);
                (Direction::Down, Direction::Up, period, Duration::ZERO)
            } else {
                // Students take turns: spread their ticks evenly over one period.
                let offset = student_period.mul_f64(student_turn as f64 / n_students as f64);
                student_turn += 1;
                (Direction::Up, Direction::Down, student_period, offset)
            };
            let schedule = Schedule {
                first_tick: quiet.load_start + offset,
                period,
            };
            tasks.push(tokio::spawn(socket_loop(
                connection,
                self.room.clone(),
                sends,
                receives,
                schedule,
                Arc::clone(&shared),
            )));
        }
        Ok(Class {
            shared,
            tasks,
            students: n_students,
        })
    }
}

impl Class {
    /// Deliveries so far (whole run), for the progress bar.
    pub(super) fn live_deliveries(&self) -> u64 {
        self.shared.live_deliveries.load(Ordering::Relaxed)
    }

    /// Students that joined.
    pub(super) fn students(&self) -> u64 {
        self.students
    }

    /// Stops every socket and returns the quiet and abused figures.
    pub(super) async fn finish(
        self,
        errors: &mut Errors,
    ) -> anyhow::Result<(ClassPhase, ClassPhase)> {
        self.shared.stop.cancel();
        let mut phases = [ClassPhase::default(), ClassPhase::default()];
        for task in self.tasks {
            let outcome = task.await.context("a class task failed")?;
            if let Some((phase, kind)) = outcome.closed
                && let Some(index) = phase.index()
            {
                *phases[index].closed.entry(kind).or_default() += 1;
            }
            for (index, publish_errors) in outcome.publish_errors.into_iter().enumerate() {
                for (kind, count) in publish_errors.by_kind {
                    *phases[index].publish_errors.entry(kind).or_default() += count;
                }
            }
            errors.merge(outcome.errors);
        }
        let receivers = [self.students, 1];
        for (phase_index, phase) in phases.iter_mut().enumerate() {
            let flows = &self.shared.flows[phase_index];
            let mut both = flows[0].latencies.snapshot();
            both.merge(&flows[1].latencies.snapshot())?;
            phase.latency_us = both.percentiles();
            let flow = |direction: usize| {
                let counts = &flows[direction];
                let published = counts.published.load(Ordering::Relaxed);
                ClassFlow {
                    published,
                    delivered: counts.delivered.load(Ordering::Relaxed),
                    expected: published * receivers[direction],
                    latency_us: counts.latencies.snapshot().percentiles(),
                }
            };
            phase.down = flow(0);
            phase.up = flow(1);
        }
        let [quiet, abused] = phases;
        Ok((quiet, abused))
    }
}

impl Phase {
    /// 0 for quiet, 1 for abused, `None` between windows.
    fn index(self) -> Option<usize> {
        match self {
            Phase::Quiet => Some(0),
            Phase::Abused => Some(1),
            Phase::Between => None,
        }
    }
}

/// When a socket publishes.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    first_tick: Instant,
    period: Duration,
}

/// One class socket: publishes `sends` events on its schedule, counts the `receives` events it
/// gets, until the stop or until the server closes it.
async fn socket_loop(
    connection: Connection,
    room: String,
    sends: Direction,
    receives: Direction,
    schedule: Schedule,
    shared: Arc<Shared>,
) -> SocketOutcome {
    let codec = connection.codec;
    let mut outcome = SocketOutcome::default();
    let (mut sink, mut stream) = connection.ws.split();
    let mut ticker = tokio::time::interval_at(schedule.first_tick, schedule.period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut recorders: Vec<Option<LatencyRecorder>> = [Phase::Quiet, Phase::Abused]
        .into_iter()
        .map(|phase| {
            shared
                .flow(phase, receives)
                .map(|flow| flow.latencies.recorder())
        })
        .collect();
    let mut sequence = 0_u64;
    loop {
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            next = stream.next() => {
                let frame = match next {
                    None => {
                        outcome.closed = Some((shared.phase_at(Instant::now()), "reset".into()));
                        break;
                    }
                    Some(Err(error)) => {
                        outcome.errors.add("class_socket", || format!("class socket failed: {error}"));
                        outcome.closed = Some((shared.phase_at(Instant::now()), "reset".into()));
                        break;
                    }
                    Some(Ok(frame)) if frame.is_close() => {
                        let kind = client::close_code(&frame)
                            .map_or("close_none".to_owned(), |code| format!("close_{code}"));
                        outcome.errors.add("class_closed", || format!("class socket closed by the server: {frame:?}"));
                        outcome.closed = Some((shared.phase_at(Instant::now()), kind));
                        break;
                    }
                    Some(Ok(frame)) => frame,
                };
                let Some(bytes) = client::payload(&frame) else { continue };
                let probe: ClassProbe = match decode(codec, bytes) {
                    Ok(probe) => probe,
                    Err(error) => {
                        outcome.errors.add("decode", || format!("{error:#}"));
                        continue;
                    }
                };
                match probe.frame {
                    FrameKind::Event if probe.kind.as_deref() == Some(receives.kind()) => {
                        let Some(data) = probe.data else { continue };
                        count_delivery(&shared, receives, &data, &mut recorders);
                    }
                    FrameKind::Error => {
                        let code = probe.code.unwrap_or(0);
                        let phase = shared.phase_at(Instant::now());
                        if let Some(index) = phase.index() {
                            outcome.publish_errors[index].add(&format!("error_{code}"), String::new);
                        }
                    }
                    _ => {}
                }
            }
            _ = ticker.tick() => {
                sequence += 1;
                let sent_at = Instant::now();
                let phase = shared.phase_at(sent_at);
                let message = ClientMessage::Publish {
                    reference: None,
                    room: room.clone(),
                    kind: sends.kind().into(),
                    data: match sends {
                        Direction::Down => {
                            json!({ "t": unix_micros(), "p": phase as u8, "n": sequence })
                        }
                        Direction::Up => {
                            json!({ "text": format!("{} {} {sequence}", unix_micros(), phase as u8) })
                        }
                    },
                    id: None,
                    ephemeral: false,
                };
                let sent = match client::encode(codec, &message) {
                    Ok(frame) => sink.send(frame).await.map_err(anyhow::Error::new),
                    Err(error) => Err(error),
                };
                if let Err(error) = sent {
                    outcome.errors.add("send", || format!("class publish failed: {error:#}"));
                    outcome.closed = Some((phase, "reset".into()));
                    break;
                }
                if let Some(flow) = shared.flow(phase, sends) {
                    flow.published.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    for recorder in recorders.iter_mut().flatten() {
        recorder.flush();
    }
    if outcome.closed.is_none()
        && let Ok(ws) = sink.reunite(stream)
    {
        client::close_ws(ws).await;
    }
    outcome
}

/// Counts one delivery of an event whose `data` says when and in which phase it was sent.
fn count_delivery(
    shared: &Shared,
    direction: Direction,
    data: &ClassData,
    recorders: &mut [Option<LatencyRecorder>],
) {
    let received_us = unix_micros();
    shared.live_deliveries.fetch_add(1, Ordering::Relaxed);
    let (sent_us, phase) = data.stamp();
    let (Some(sent_us), Some(phase)) = (sent_us, phase.and_then(Phase::from_wire)) else {
        return;
    };
    let (Some(flow), Some(index)) = (shared.flow(phase, direction), phase.index()) else {
        return;
    };
    flow.delivered.fetch_add(1, Ordering::Relaxed);
    if let Some(recorder) = &mut recorders[index] {
        recorder.record_micros(received_us.saturating_sub(sent_us));
    }
}

/// Decodes the class's probe in either codec.
fn decode(codec: Codec, bytes: &[u8]) -> anyhow::Result<ClassProbe> {
    match codec {
        Codec::Json => serde_json::from_slice(bytes).context("undecodable JSON frame"),
        Codec::MsgPack => rmp_serde::from_slice(bytes).context("undecodable MessagePack frame"),
    }
}

impl Phase {
    /// The phase a `data.p` names.
    fn from_wire(value: u8) -> Option<Phase> {
        match value {
            0 => Some(Phase::Between),
            1 => Some(Phase::Quiet),
            2 => Some(Phase::Abused),
            _ => None,
        }
    }
}

/// Refuses a class plan that cannot run, naming the flag.
pub(super) fn check_rates(plan: &ClassPlan) -> anyhow::Result<()> {
    if !(plan.rate > 0.0 && plan.rate <= 1000.0) {
        return Err(anyhow!(
            "--rate must be more than 0 and at most 1000 events/s"
        ));
    }
    if !(plan.student_rate > 0.0 && plan.student_rate <= 1000.0) {
        return Err(anyhow!(
            "--student-rate must be more than 0 and at most 1000 events/s"
        ));
    }
    Ok(())
}
