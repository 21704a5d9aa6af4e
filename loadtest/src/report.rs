//! What a scenario run returns: [`Report`], the same header for every scenario (target,
//! protocol, timings, latency percentiles in microseconds, errors, notes) and a [`Results`]
//! body per scenario. It prints as a short text block for people and writes as JSON
//! (`--json FILE`) for scripts and docs/benchmarks.md.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::stats::{Errors, Percentiles};

/// The outcome of one scenario run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// `fanout`, `connections`, `ingest`, `classroom`, `abuse` or `search`.
    pub scenario: String,
    /// The target URL.
    pub target: String,
    /// `json` or `msgpack`.
    pub protocol: String,
    /// When the run started, milliseconds since the Unix epoch.
    pub started_at_unix_ms: u64,
    /// Opening and preparing every connection, before the warm-up.
    pub setup_secs: f64,
    /// The warm-up (load on, nothing counted).
    pub warmup_secs: f64,
    /// The measured window.
    pub duration_secs: f64,
    /// Connections the harness opened.
    pub connections: u64,
    /// What `latency_us` measures.
    pub latency_of: String,
    /// Latency percentiles in microseconds, over the measured window.
    pub latency_us: Percentiles,
    /// The scenario's own figures.
    pub results: Results,
    /// Errors seen during the whole run (setup included).
    pub errors: Errors,
    /// Caveats a reader of the figures should know.
    pub notes: Vec<String>,
}

/// A scenario's own figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Results {
    /// See [`FanoutResults`].
    Fanout(FanoutResults),
    /// See [`ConnectionsResults`].
    Connections(ConnectionsResults),
    /// See [`IngestResults`].
    Ingest(IngestResults),
    /// See [`ClassroomResults`].
    Classroom(ClassroomResults),
    /// See [`AbuseResults`] (boxed: it is much larger than the others).
    Abuse(Box<AbuseResults>),
    /// See [`SearchResults`].
    Search(SearchResults),
}

/// `fanout`: rooms × members, one educator publisher per room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutResults {
    /// Rooms.
    pub rooms: u64,
    /// Members per room.
    pub members_per_room: u64,
    /// Events per second asked for, all rooms together.
    pub target_rate: f64,
    /// Publishes sent in the measured window.
    pub published: u64,
    /// `published` per second.
    pub publish_rate: f64,
    /// Events received by members in the measured window.
    pub deliveries: u64,
    /// `deliveries` per second.
    pub deliveries_per_sec: f64,
    /// `published` × members per room.
    pub expected_deliveries: u64,
    /// Members closed by the hub with 4100 (slow consumer).
    pub slow_consumer_closes: u64,
    /// Members closed for any other reason before the end.
    pub other_closes: u64,
    /// `error` frames answering publishes (rate limits, refusals).
    pub publish_errors: u64,
    /// The server process whose CPU was read, if any (given, or found listening on the
    /// target's port).
    #[serde(default)]
    pub server_pid: Option<u32>,
    /// The server's CPU time (user + system) during the measured window, seconds.
    #[serde(default)]
    pub server_cpu_secs: Option<f64>,
    /// The harness's own CPU time during the measured window, seconds.
    #[serde(default)]
    pub harness_cpu_secs: Option<f64>,
    /// The whole machine's busy CPU time during the measured window, seconds (minus the server
    /// and the harness: what else ran on the machine meanwhile).
    #[serde(default)]
    pub machine_cpu_secs: Option<f64>,
}

/// `connections`: idle sockets held open.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionsResults {
    /// Sockets asked for.
    pub requested: u64,
    /// Sockets that reached `welcome`.
    pub opened: u64,
    /// Sockets that did not.
    pub failed: u64,
    /// Source addresses the sockets were spread over.
    pub source_addresses: u64,
    /// First connect to last `welcome`.
    pub connect_secs: f64,
    /// `opened` ÷ `connect_secs`.
    pub connects_per_sec: f64,
    /// Sockets still open when the hold ended.
    pub held_at_end: u64,
    /// Sockets the server closed during the run.
    pub closed_by_server: u64,
    /// The process whose memory was read, if any.
    pub server_pid: Option<u32>,
    /// Its VmRSS before the first connect, KiB.
    pub rss_before_kib: Option<u64>,
    /// Its VmRSS after every socket opened and the warm-up settled, KiB.
    pub rss_after_kib: Option<u64>,
    /// Its VmRSS at the end of the hold, KiB.
    pub rss_end_kib: Option<u64>,
    /// (`rss_after_kib` − `rss_before_kib`) ÷ `opened`, in bytes.
    pub rss_per_connection_bytes: Option<f64>,
    /// The server's CPU time (user + system) from the first connect to the last socket open,
    /// seconds.
    #[serde(default)]
    pub server_connect_cpu_secs: Option<f64>,
}

/// `ingest`: durable publishes and their acknowledgements.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestResults {
    /// Publishing connections.
    pub publishers: u64,
    /// Unacknowledged publishes allowed per connection.
    pub in_flight: u64,
    /// Events per second asked for, all publishers together (0: as fast as acks allow).
    pub target_rate: f64,
    /// New events first sent in the measured window.
    pub sent: u64,
    /// `reply` frames received in the measured window.
    pub acked: u64,
    /// `acked` per second.
    pub acks_per_sec: f64,
    /// Publishes sent again after a retryable refusal (whole run).
    pub retries: u64,
    /// `error` 5001 refusals (sink queue full; retried).
    pub refused_5001: u64,
    /// `error` 3002 refusals (rate limited; retried).
    pub rate_limited_3002: u64,
    /// Events given up on: a non-retryable error or too many retries.
    pub failed: u64,
    /// Events still waiting for their ack when the run ended.
    pub unacked_at_end: u64,
}

/// `classroom`: game servers on the Roblox HTTP path, teachers and students on sockets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassroomResults {
    /// Classes (one teacher socket and one game server each).
    pub classes: u64,
    /// Idle student sockets per class.
    pub students_per_class: u64,
    /// Game events per second asked for, all game servers together.
    pub target_rate: f64,
    /// Events per HTTP batch.
    pub batch: u64,
    /// Events in batches first sent in the measured window.
    pub events_sent: u64,
    /// Of those, events the server accepted (after commit).
    pub events_accepted: u64,
    /// `events_accepted` per second.
    pub accepted_per_sec: f64,
    /// HTTP requests sent (retries included).
    pub http_requests: u64,
    /// 503 answers (queue full or commit late; retried with the same ids).
    pub refused_503: u64,
    /// Batches given up on.
    pub failed_batches: u64,
    /// Game events received by teacher sockets in the measured window.
    pub deliveries: u64,
    /// `deliveries` per second.
    pub deliveries_per_sec: f64,
    /// Batch sent → HTTP 200 (after commit), microseconds.
    pub batch_ack_latency_us: Percentiles,
}

/// `abuse`: a normal class measured alone (quiet), then again while hostile clients flood the
/// same server (abused), and what the server answered each flood.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AbuseResults {
    /// Student sockets of the normal class (beside one teacher).
    pub students: u64,
    /// Teacher → students events per second.
    pub rate: f64,
    /// Students → teacher chat events per second, all students together.
    pub student_rate: f64,
    /// The floods run in the abused phase, in the order they were started.
    pub floods: Vec<String>,
    /// The class alone.
    pub quiet: ClassPhase,
    /// The class while the floods ran.
    pub abused: ClassPhase,
    /// Abused p99 ÷ quiet p99 of the class's deliveries (both directions together); `None` when
    /// a phase delivered nothing.
    pub p99_ratio: Option<f64>,
    /// The server process whose memory and CPU were read, if any.
    pub server_pid: Option<u32>,
    /// Its VmRSS before the class connected, KiB.
    pub server_rss_start_kib: Option<u64>,
    /// Its largest VmRSS sampled (every 100 ms) during the run, KiB.
    pub server_peak_rss_kib: Option<u64>,
    /// Its VmHWM at the end: the peak over the server's whole life, KiB.
    pub server_hwm_kib: Option<u64>,
    /// The targets and whether this run met them.
    pub targets: AbuseTargets,
    /// What each flood did and what the server answered.
    pub flood_results: Vec<FloodResults>,
}

/// `search`: lessons seeded over REST, then searched by clients in a closed loop.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResults {
    /// Courses the lessons are spread over (`--courses`).
    pub courses: u64,
    /// Whether this run created them (false: `--no-seed`).
    pub seeded: bool,
    /// Lessons this run created.
    pub lessons_seeded: u64,
    /// Creations in flight at once.
    pub seed_concurrency: u64,
    /// Creating the courses and lessons, seconds (0 with `--no-seed`).
    pub seed_secs: f64,
    /// `lessons_seeded` ÷ `seed_secs`.
    pub seed_lessons_per_sec: f64,
    /// The tenant's lessons, counted after seeding.
    pub lessons_in_database: u64,
    /// Whether the answers were checked against the seeded corpus (the tenant holds exactly it).
    pub answers_checked: bool,
    /// Clients searching at once.
    pub clients: u64,
    /// Longest wait for one answer, seconds (later: an error).
    pub request_timeout_secs: f64,
    /// Rows asked for per page.
    pub page_limit: u64,
    /// Searches answered in the measured window (errors included).
    pub queries: u64,
    /// `queries` per second.
    pub queries_per_sec: f64,
    /// Each kind of search of the mix.
    pub kinds: Vec<SearchKindResults>,
}

/// One kind of search of the `search` mix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchKindResults {
    /// `common_word`, `rare_word`, `two_words`, `word_in_subject`, `filters_by_title` or
    /// `next_page`.
    pub kind: String,
    /// Its query string (`limit` left out).
    pub query: String,
    /// Lessons that match it in the seeded corpus (`None`: not checked).
    pub matches: Option<u64>,
    /// `rare_word`: the lessons found following every page (must equal `matches`).
    pub found_over_all_pages: Option<u64>,
    /// Rows each answer must hold (`None`: not checked).
    pub rows_per_answer: Option<u64>,
    /// Searches answered in the measured window.
    pub queries: u64,
    /// Of those, answers that were not 200.
    pub errors: u64,
    /// 200 answers with another number of rows than `rows_per_answer`.
    pub wrong_answers: u64,
    /// Rows returned by all its answers.
    pub rows_returned: u64,
    /// Request to whole answer, microseconds (200 answers).
    pub latency_us: Percentiles,
}

/// The normal class during one phase.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClassPhase {
    /// Teacher → students (`loadtest` events).
    pub down: ClassFlow,
    /// Students → teacher (`chat` events).
    pub up: ClassFlow,
    /// Publish → delivery latency of both directions together, microseconds.
    pub latency_us: Percentiles,
    /// Class sockets the server closed, by `close_CODE` (`close_none`: no code, `reset`: the
    /// connection dropped).
    pub closed: BTreeMap<String, u64>,
    /// `error` frames the class's publishers got, by `error_CODE`.
    pub publish_errors: BTreeMap<String, u64>,
    /// The server's largest VmRSS sampled in this phase (warm-up included), KiB.
    pub peak_rss_kib: Option<u64>,
    /// The server's CPU time in the measured window, seconds.
    pub server_cpu_secs: Option<f64>,
    /// The harness's own CPU time in the measured window, seconds.
    pub harness_cpu_secs: Option<f64>,
    /// The whole machine's busy CPU time in the measured window, seconds (server and harness
    /// included: the rest is what else ran meanwhile).
    pub machine_cpu_secs: Option<f64>,
}

/// One direction of the class's traffic in one phase (events published in its measured window,
/// wherever they were delivered).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClassFlow {
    /// Events published.
    pub published: u64,
    /// Deliveries received.
    pub delivered: u64,
    /// `published` × receivers.
    pub expected: u64,
    /// Publish → delivery latency, microseconds.
    pub latency_us: Percentiles,
}

/// The targets of the abuse issue and whether this run met them (`None`: not measured).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AbuseTargets {
    /// Peak server RSS must stay under this, KiB.
    pub max_rss_kib: u64,
    /// Whether it did.
    pub rss_met: Option<bool>,
    /// The class's abused p99 must stay within this multiple of its quiet p99.
    pub max_p99_ratio: f64,
    /// Whether it did.
    pub p99_met: Option<bool>,
    /// Whether the class received every event in both phases.
    pub all_delivered: bool,
}

/// One flood: its load and the server's answers, counted over the whole abused phase.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FloodResults {
    /// `rejoin`, `presence`, `rooms`, `game-keys`, `pusher-sockets` or `garbage`.
    pub flood: String,
    /// What it does, in one sentence.
    pub what: String,
    /// Connections it opened (sockets; HTTP requests for `game-keys` count under `sent`).
    pub connections: u64,
    /// Frames, subscriptions, requests or connection attempts sent.
    pub sent: u64,
    /// Answers that let the flood through, by kind (`joined`, `reply`, `subscribed`,
    /// `established`, `http_200`).
    pub accepted: BTreeMap<String, u64>,
    /// Refusals, by kind: `error_CODE` (native error frames), `close_CODE` (close frames),
    /// `http_STATUS`, `subscription_error_…`, `pusher_error_CODE`, `reset` (dropped).
    pub refused: BTreeMap<String, u64>,
    /// Every refusal counted.
    pub refused_total: u64,
}

impl Report {
    /// Writes the report as pretty JSON to `path`.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self).context("serializing the report")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write the report to {}", path.display()))
    }
}

/// A short human-readable summary.
impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let latency = &self.latency_us;
        writeln!(
            f,
            "{} against {} ({}): {} connections, setup {:.1} s, warm-up {:.1} s, measured {:.1} s",
            self.scenario,
            self.target,
            self.protocol,
            self.connections,
            self.setup_secs,
            self.warmup_secs,
            self.duration_secs
        )?;
        match &self.results {
            Results::Fanout(fanout) => {
                writeln!(
                    f,
                    "  {} rooms x {} members, target {:.0} events/s: published {} ({:.0}/s), \
                     deliveries {} of {} expected ({:.0}/s), slow-consumer closes {}, other \
                     closes {}, publish errors {}",
                    fanout.rooms,
                    fanout.members_per_room,
                    fanout.target_rate,
                    fanout.published,
                    fanout.publish_rate,
                    fanout.deliveries,
                    fanout.expected_deliveries,
                    fanout.deliveries_per_sec,
                    fanout.slow_consumer_closes,
                    fanout.other_closes,
                    fanout.publish_errors
                )?;
                if let (Some(pid), Some(server), Some(harness)) = (
                    fanout.server_pid,
                    fanout.server_cpu_secs,
                    fanout.harness_cpu_secs,
                ) {
                    write!(
                        f,
                        "  CPU in the window: server pid {pid} {server:.2} s, harness \
                         {harness:.2} s"
                    )?;
                    match fanout.machine_cpu_secs {
                        Some(machine) => writeln!(f, ", whole machine {machine:.2} s")?,
                        None => writeln!(f)?,
                    }
                }
            }
            Results::Connections(connections) => {
                writeln!(
                    f,
                    "  opened {} of {} ({} failed) over {} source addresses in {:.2} s \
                     ({:.0}/s); held at end {}, closed by server {}",
                    connections.opened,
                    connections.requested,
                    connections.failed,
                    connections.source_addresses,
                    connections.connect_secs,
                    connections.connects_per_sec,
                    connections.held_at_end,
                    connections.closed_by_server
                )?;
                match (
                    connections.server_pid,
                    connections.rss_before_kib,
                    connections.rss_after_kib,
                    connections.rss_per_connection_bytes,
                ) {
                    (Some(pid), Some(before), Some(after), Some(per_connection)) => {
                        writeln!(
                            f,
                            "  server pid {pid}: VmRSS {before} KiB -> {after} KiB, {:.1} KiB \
                             per connection",
                            per_connection / 1024.0
                        )?;
                    }
                    _ => {
                        writeln!(f, "  server memory not measured")?;
                    }
                }
                if let Some(cpu) = connections.server_connect_cpu_secs {
                    writeln!(f, "  server CPU while connecting: {cpu:.2} s")?;
                }
            }
            Results::Ingest(ingest) => {
                writeln!(
                    f,
                    "  {} publishers x {} in flight: sent {}, acked {} ({:.0} acks/s), retries \
                     {} (5001: {}, 3002: {}), failed {}, unacked at end {}",
                    ingest.publishers,
                    ingest.in_flight,
                    ingest.sent,
                    ingest.acked,
                    ingest.acks_per_sec,
                    ingest.retries,
                    ingest.refused_5001,
                    ingest.rate_limited_3002,
                    ingest.failed,
                    ingest.unacked_at_end
                )?;
            }
            Results::Classroom(classroom) => {
                let ack = &classroom.batch_ack_latency_us;
                writeln!(
                    f,
                    "  {} classes x {} students, target {:.0} events/s in batches of {}: sent {}, \
                     accepted {} ({:.0}/s), teacher deliveries {} ({:.0}/s), requests {}, 503s \
                     {}, failed batches {}",
                    classroom.classes,
                    classroom.students_per_class,
                    classroom.target_rate,
                    classroom.batch,
                    classroom.events_sent,
                    classroom.events_accepted,
                    classroom.accepted_per_sec,
                    classroom.deliveries,
                    classroom.deliveries_per_sec,
                    classroom.http_requests,
                    classroom.refused_503,
                    classroom.failed_batches
                )?;
                writeln!(
                    f,
                    "  batch -> commit ack, µs: p50 {} p90 {} p99 {} p99.9 {} max {} (n = {})",
                    ack.p50, ack.p90, ack.p99, ack.p99_9, ack.max, ack.count
                )?;
            }
            Results::Abuse(abuse) => write_abuse(f, abuse)?,
            Results::Search(search) => write_search(f, search)?,
        }
        writeln!(
            f,
            "  latency ({}), µs: p50 {} p90 {} p99 {} p99.9 {} max {} (n = {})",
            self.latency_of,
            latency.p50,
            latency.p90,
            latency.p99,
            latency.p99_9,
            latency.max,
            latency.count
        )?;
        writeln!(f, "  errors: {}", self.errors.count)?;
        for (kind, count) in &self.errors.by_kind {
            writeln!(f, "    {kind}: {count}")?;
        }
        for message in self.errors.sample.iter().take(5) {
            writeln!(f, "    e.g. {message}")?;
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

/// The `abuse` part of the summary: the class in both phases, the targets, then each flood.
fn write_abuse(f: &mut std::fmt::Formatter<'_>, abuse: &AbuseResults) -> std::fmt::Result {
    let cpu = |secs: Option<f64>| secs.map_or("not read".to_owned(), |secs| format!("{secs:.2} s"));
    writeln!(
        f,
        "  class: 1 teacher + {} students, {:.0} events/s down, {:.0} chat/s up; floods: {}",
        abuse.students,
        abuse.rate,
        abuse.student_rate,
        abuse.floods.join(",")
    )?;
    for (name, phase) in [("quiet", &abuse.quiet), ("abused", &abuse.abused)] {
        let latency = &phase.latency_us;
        writeln!(
            f,
            "  {name:>6}: down {}/{} up {}/{} delivered; µs p50 {} p99 {} max {}; peak RSS {}; \
             CPU server {} harness {} machine {}",
            phase.down.delivered,
            phase.down.expected,
            phase.up.delivered,
            phase.up.expected,
            latency.p50,
            latency.p99,
            latency.max,
            phase
                .peak_rss_kib
                .map_or("not read".to_owned(), |kib| format!(
                    "{:.1} MB",
                    megabytes(kib)
                )),
            cpu(phase.server_cpu_secs),
            cpu(phase.harness_cpu_secs),
            cpu(phase.machine_cpu_secs),
        )?;
        if !phase.closed.is_empty() || !phase.publish_errors.is_empty() {
            writeln!(
                f,
                "          class sockets closed {:?}, publish errors {:?}",
                phase.closed, phase.publish_errors
            )?;
        }
    }
    let verdict = |met: Option<bool>| match met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not measured",
    };
    let targets = &abuse.targets;
    writeln!(
        f,
        "  targets: peak RSS {} < {:.0} MB: {}; p99 ratio {} <= {:.1}: {}; every event delivered: {}",
        abuse
            .server_peak_rss_kib
            .max(abuse.server_hwm_kib)
            .map_or("?".to_owned(), |kib| format!("{:.1} MB", megabytes(kib))),
        megabytes(targets.max_rss_kib),
        verdict(targets.rss_met),
        abuse
            .p99_ratio
            .map_or("?".to_owned(), |ratio| format!("{ratio:.2}")),
        targets.max_p99_ratio,
        verdict(targets.p99_met),
        if targets.all_delivered { "yes" } else { "NO" }
    )?;
    for flood in &abuse.flood_results {
        writeln!(
            f,
            "  flood {}: {} connections, {} sent; accepted {:?}; refused {} {:?}",
            flood.flood,
            flood.connections,
            flood.sent,
            flood.accepted,
            flood.refused_total,
            flood.refused
        )?;
    }
    Ok(())
}

/// The `search` part of the summary: the seeding, the totals, then one line per kind.
fn write_search(f: &mut std::fmt::Formatter<'_>, search: &SearchResults) -> std::fmt::Result {
    if search.seeded {
        writeln!(
            f,
            "  seeded {} lessons over {} courses in {:.1} s ({:.0} lessons/s, {} at once)",
            search.lessons_seeded,
            search.courses,
            search.seed_secs,
            search.seed_lessons_per_sec,
            search.seed_concurrency
        )?;
    }
    writeln!(
        f,
        "  {} lessons in the database (answers checked: {}); {} clients, {} rows a page: {} \
         queries ({:.1}/s)",
        search.lessons_in_database,
        if search.answers_checked { "yes" } else { "no" },
        search.clients,
        search.page_limit,
        search.queries,
        search.queries_per_sec
    )?;
    writeln!(
        f,
        "  {:<17} {:>7} {:>8} {:>8} {:>8} {:>8} {:>6} {:>5}  query",
        "kind", "matches", "p50 µs", "p90 µs", "p99 µs", "max µs", "n", "errs"
    )?;
    for kind in &search.kinds {
        let latency = &kind.latency_us;
        writeln!(
            f,
            "  {:<17} {:>7} {:>8} {:>8} {:>8} {:>8} {:>6} {:>5}  {}",
            kind.kind,
            kind.matches
                .map_or("?".to_owned(), |matches| matches.to_string()),
            latency.p50,
            latency.p90,
            latency.p99,
            latency.max,
            kind.queries,
            kind.errors + kind.wrong_answers,
            kind.query
        )?;
    }
    Ok(())
}

/// KiB as megabytes (10^6 bytes), as the targets are written.
fn megabytes(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}
