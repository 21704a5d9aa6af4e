//! `abuse`: does a normal class keep working while hostile clients flood the same server? The
//! class ([`class`]: one teacher and N students on native `/ws`, events both ways) is measured
//! twice with the same sockets: first **quiet** (alone), then **abused**, while the chosen
//! [`floods`] run from another loopback address (127.0.0.2). Each phase has its warm-up and
//! the same measured window. The report gives the class's latency and delivered/expected counts
//! per phase, the abused/quiet p99 ratio, the server's peak memory (sampled every 100 ms, and
//! its VmHWM), and per flood what the server answered (error codes, close codes, HTTP statuses).
//!
//! Entry point: [`run`]. `--floods rooms` (one flood) measures that flood's cost alone.

pub mod class;
pub mod floods;

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, ensure};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::class::{ClassPlan, OpenClass};
use self::floods::{Flood, FloodContext, FloodSizes};
use super::{Common, MAX_CONNECTIONS, MAX_RATE, check_count, resolve_tenant, round_ms, run_id};
use crate::client::WireProtocol;
use crate::progress::Progress;
use crate::report::{AbuseResults, AbuseTargets, Report, Results};
use crate::stats::{Errors, Window, unix_millis};
use crate::system;

/// The memory target: the server's peak RSS under 300 MB.
pub const TARGET_MAX_RSS_KIB: u64 = 300 * 1000 * 1000 / 1024;
/// The latency target: the class's abused p99 within 2× its quiet p99.
pub const TARGET_MAX_P99_RATIO: f64 = 2.0;
/// How long the class keeps reading after the floods stop, so late deliveries count.
const CLASS_DRAIN: Duration = Duration::from_secs(1);
/// How often the server's memory is sampled.
const RSS_EVERY: Duration = Duration::from_millis(100);
/// Most padding in a `rejoin` presence.
const MAX_PRESENCE_BYTES: usize = 60_000;

/// What `abuse` is asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// Target, credentials, warm-up and duration (of each phase).
    pub common: Common,
    /// `json` or `msgpack` for the class (the floods speak JSON).
    pub protocol: WireProtocol,
    /// Students of the class.
    pub students: u64,
    /// Teacher → students events per second.
    pub rate: f64,
    /// Students → teacher events per second, all students together.
    pub student_rate: f64,
    /// The floods of the abused phase.
    pub floods: Vec<Flood>,
    /// How big and fast each flood is.
    pub sizes: FloodSizes,
    /// The server's pid, for its memory and CPU; found from the target's port when `None`.
    pub server_pid: Option<u32>,
}

impl Config {
    /// A class of 30 students, 10 events/s down and 5/s up, every flood at its default size.
    pub fn new(common: Common) -> Config {
        Config {
            common,
            protocol: WireProtocol::Json,
            students: 30,
            rate: 10.0,
            student_rate: 5.0,
            floods: Flood::ALL.to_vec(),
            sizes: FloodSizes::default(),
            server_pid: None,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.common.validate()?;
        check_count("students", self.students, 10_000)?;
        ensure!(
            !self.floods.is_empty(),
            "--floods must name at least one flood"
        );
        let sizes = &self.sizes;
        for (flag, count) in [
            ("rejoin-sockets", sizes.rejoin_sockets),
            ("presence-sockets", sizes.presence_sockets),
            ("rooms-sockets", sizes.rooms_sockets),
            ("game-key-concurrency", sizes.game_key_concurrency),
            ("pusher-sockets", sizes.pusher_sockets),
            ("garbage-sockets", sizes.garbage_sockets),
        ] {
            check_count(flag, count, MAX_CONNECTIONS / 4)?;
        }
        for (flag, rate) in [
            ("rejoin-rate", sizes.rejoin_rate),
            ("presence-rate", sizes.presence_rate),
            ("rooms-rate", sizes.rooms_rate),
            ("game-key-rate", sizes.game_key_rate),
            ("pusher-socket-rate", sizes.pusher_socket_rate),
            ("garbage-rate", sizes.garbage_rate),
        ] {
            ensure!(
                rate > 0.0 && rate <= MAX_RATE,
                "--{flag} must be more than 0 and at most {MAX_RATE} per second (got {rate})"
            );
        }
        ensure!(
            sizes.rejoin_presence_bytes <= MAX_PRESENCE_BYTES,
            "--rejoin-presence-bytes must be at most {MAX_PRESENCE_BYTES}"
        );
        Ok(())
    }

    /// Sockets the run may hold at once.
    fn max_sockets(&self) -> u64 {
        let sizes = &self.sizes;
        let mut sockets = self.students + 1;
        for flood in &self.floods {
            sockets += match flood {
                Flood::Rejoin => sizes.rejoin_sockets,
                Flood::Presence => sizes.presence_sockets,
                Flood::Rooms => sizes.rooms_sockets,
                Flood::GameKeys => sizes.game_key_concurrency,
                Flood::PusherSockets => sizes.pusher_sockets + 64,
                Flood::Garbage => sizes.garbage_sockets,
            };
        }
        sockets
    }
}

/// The part of the run an instant (or an event sent at it) belongs to; `data.p` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Setup, a warm-up, or after the end: not counted.
    Between = 0,
    /// The quiet phase's measured window.
    Quiet = 1,
    /// The abused phase's measured window.
    Abused = 2,
}

/// The server's memory, sampled while the run goes on.
#[derive(Debug, Default)]
struct RssPeaks {
    /// Largest VmRSS in the quiet phase (warm-up included) and in the abused one, KiB.
    by_phase: [Option<u64>; 2],
}

/// Runs the scenario and returns its report.
pub async fn run(config: Config) -> anyhow::Result<Report> {
    let codec = config.protocol.codec()?;
    config.validate()?;
    let common = &config.common;
    let needs_pusher = config
        .floods
        .iter()
        .any(|flood| matches!(flood, Flood::Rooms | Flood::PusherSockets));
    let pusher_key = if needs_pusher {
        Some(
            common
                .pusher_app()
                .context("the rooms and pusher-sockets floods need the tenant's Pusher key")?
                .key,
        )
    } else {
        None
    };
    let started_at_unix_ms = unix_millis();
    system::raise_fd_limit(config.max_sockets())?;
    let mut notes = Vec::new();
    let server_pid = super::server_pid(common, config.server_pid, &mut notes)?;
    let read_rss = || server_pid.and_then(|pid| system::vm_rss_kib(pid).ok());
    let server_rss_start_kib = read_rss();
    let tenant = resolve_tenant(common, codec).await?;
    let run_id = run_id();
    let room = format!("class:{tenant}:{run_id}-class");
    let progress = Progress::new(common.show_progress);
    let mut errors = Errors::default();
    let setup_start = Instant::now();

    let plan = ClassPlan {
        target: common.target.clone(),
        credentials: common.credentials.clone(),
        codec,
        room: room.clone(),
        run_id: run_id.clone(),
        students: config.students,
        rate: config.rate,
        student_rate: config.student_rate,
        source: None,
    };
    class::check_rates(&plan)?;
    let open_class = OpenClass::connect(&plan, &progress, &mut errors).await?;
    let setup = setup_start.elapsed();
    let quiet = Window::after_warmup(common.warmup, common.duration);
    let abused = Window {
        load_start: quiet.end,
        start: quiet.end + common.warmup,
        end: quiet.end + common.warmup + common.duration,
    };
    let class = open_class.start(quiet, abused)?;

    // The memory sampler runs from the quiet phase's start to the end.
    let sampler_stop = CancellationToken::new();
    let peaks = Arc::new(Mutex::new(RssPeaks::default()));
    let sampler = server_pid.map(|pid| {
        tokio::spawn(sample_rss(
            pid,
            abused.load_start,
            Arc::clone(&peaks),
            sampler_stop.clone(),
        ))
    });

    let last = Cell::new((Instant::now(), 0_u64));
    let status = || {
        let deliveries = class.live_deliveries();
        let (then, before) = last.replace((Instant::now(), deliveries));
        let rate = (deliveries - before) as f64 / then.elapsed().as_secs_f64().max(1e-3);
        format!("class deliveries {deliveries} ({rate:.0}/s)")
    };
    // CPU time (server, harness, whole machine) at the start and the end of a window.
    let read_cpu = || {
        [
            server_pid.and_then(|pid| system::cpu_secs(pid).ok()),
            system::cpu_secs(std::process::id()).ok(),
            system::machine_busy_secs().ok(),
        ]
    };
    let cpu_delta = |start: [Option<f64>; 3], end: [Option<f64>; 3]| {
        let delta = |index: usize| Some(round_ms(end[index]? - start[index]?));
        [delta(0), delta(1), delta(2)]
    };

    let mut cpu_at_start = [None; 3];
    super::wait_window(&quiet, &progress, status, || cpu_at_start = read_cpu()).await;
    let quiet_cpu = cpu_delta(cpu_at_start, read_cpu());

    // The floods start with the abused phase's warm-up.
    let flood_source = flood_source(common);
    let context = Arc::new(FloodContext {
        target: common.target.clone(),
        credentials: common.credentials.clone(),
        class_room: room.clone(),
        pusher_key,
        source: flood_source,
        run_id: run_id.clone(),
        stop: CancellationToken::new(),
    });
    let flood_tasks: Vec<(Flood, JoinHandle<floods::Tally>)> = config
        .floods
        .iter()
        .map(|&flood| {
            let task = tokio::spawn(floods::run(
                flood,
                Arc::clone(&context),
                config.sizes.clone(),
            ));
            (flood, task)
        })
        .collect();
    let mut cpu_at_start = [None; 3];
    super::wait_window(&abused, &progress, status, || cpu_at_start = read_cpu()).await;
    let abused_cpu = cpu_delta(cpu_at_start, read_cpu());
    context.stop.cancel();
    let drain_end = Instant::now() + CLASS_DRAIN;
    let mut flood_results = Vec::with_capacity(flood_tasks.len());
    for (flood, task) in flood_tasks {
        let tally = task.await.context("a flood task failed")?;
        let (results, flood_errors) = tally.into_results(flood, &config.sizes);
        flood_results.push(results);
        errors.merge(flood_errors);
    }
    tokio::time::sleep_until(drain_end).await;
    let students = class.students();
    let (mut quiet_phase, mut abused_phase) = class.finish(&mut errors).await?;
    sampler_stop.cancel();
    if let Some(sampler) = sampler {
        sampler.await.context("the memory sampler failed")?;
    }
    let server_hwm_kib = server_pid.and_then(|pid| system::vm_hwm_kib(pid).ok());
    let by_phase = peaks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .by_phase;
    quiet_phase.peak_rss_kib = by_phase[0];
    abused_phase.peak_rss_kib = by_phase[1];
    [
        quiet_phase.server_cpu_secs,
        quiet_phase.harness_cpu_secs,
        quiet_phase.machine_cpu_secs,
    ] = quiet_cpu;
    [
        abused_phase.server_cpu_secs,
        abused_phase.harness_cpu_secs,
        abused_phase.machine_cpu_secs,
    ] = abused_cpu;
    let server_peak_rss_kib = by_phase.iter().flatten().max().copied();

    let p99_ratio = match (quiet_phase.latency_us.p99, abused_phase.latency_us.p99) {
        (quiet_p99, abused_p99) if quiet_p99 > 0 && abused_phase.latency_us.count > 0 => {
            Some((abused_p99 as f64 / quiet_p99 as f64 * 100.0).round() / 100.0)
        }
        _ => None,
    };
    let all_delivered = [&quiet_phase, &abused_phase].iter().all(|phase| {
        phase.down.delivered >= phase.down.expected && phase.up.delivered >= phase.up.expected
    });
    let peak_for_target = server_peak_rss_kib.max(server_hwm_kib);
    let targets = AbuseTargets {
        max_rss_kib: TARGET_MAX_RSS_KIB,
        rss_met: peak_for_target.map(|peak| peak < TARGET_MAX_RSS_KIB),
        max_p99_ratio: TARGET_MAX_P99_RATIO,
        p99_met: p99_ratio.map(|ratio| ratio <= TARGET_MAX_P99_RATIO),
        all_delivered,
    };

    notes.push(format!(
        "the class ({room}) is measured twice with the same sockets: quiet, then abused; each \
         delivery counts for the phase its event was published in, and the class reads for {} s \
         after the floods stop",
        CLASS_DRAIN.as_secs()
    ));
    notes.push(format!(
        "floods come from {} and are counted over the whole abused phase (warm-up included); \
         answers the harness could not read (a socket dropped before its close frame) count \
         as reset",
        flood_source.map_or("the kernel's choice of address".to_owned(), |ip| ip
            .to_string())
    ));
    notes.push(
        "the RSS target is checked against the larger of the sampled peak and the server's \
         VmHWM (its peak over its whole life: start a fresh server for a clean reading)"
            .to_owned(),
    );
    if server_pid.is_none() {
        notes.push(
            "the server's pid was not given or found, so its memory and CPU were not read"
                .to_owned(),
        );
    }
    Ok(Report {
        scenario: "abuse".into(),
        target: common.target.display().to_owned(),
        protocol: config.protocol.as_str().into(),
        started_at_unix_ms,
        setup_secs: super::secs(setup),
        warmup_secs: super::secs(common.warmup),
        duration_secs: super::secs(common.duration),
        connections: students + 1,
        latency_of: "class events both ways, publish (data.t) to delivery, abused phase".into(),
        latency_us: abused_phase.latency_us,
        results: Results::Abuse(Box::new(AbuseResults {
            students,
            rate: config.rate,
            student_rate: config.student_rate,
            floods: config
                .floods
                .iter()
                .map(|flood| flood.as_str().to_owned())
                .collect(),
            quiet: quiet_phase,
            abused: abused_phase,
            p99_ratio,
            server_pid,
            server_rss_start_kib,
            server_peak_rss_kib,
            server_hwm_kib,
            targets,
            flood_results,
        })),
        errors,
        notes,
    })
}

/// The hostile clients' address: 127.0.0.2 when the target is on IPv4 loopback (so per-address
/// limits see them apart from the class), else the kernel's choice.
fn flood_source(common: &Common) -> Option<IpAddr> {
    match common.target.addr().ip() {
        IpAddr::V4(ip) if ip.is_loopback() => Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))),
        _ => None,
    }
}

/// Samples the server's VmRSS every [`RSS_EVERY`] until the stop, keeping each phase's peak.
async fn sample_rss(
    pid: u32,
    abused_from: Instant,
    peaks: Arc<Mutex<RssPeaks>>,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(RSS_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let Ok(rss) = system::vm_rss_kib(pid) else {
            continue;
        };
        let index = usize::from(Instant::now() >= abused_from);
        let mut peaks = peaks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let peak = &mut peaks.by_phase[index];
        *peak = Some(peak.map_or(rss, |before| before.max(rss)));
    }
}
