//! `classhub-loadtest`: the command line over the `loadtest` library. Each subcommand is a
//! scenario (`fanout`, `connections`, `ingest`, `classroom`, `abuse`, `search`) taking the
//! common flags (`--target`, `--duration`, `--warmup`, `--json`, `--token` or `--jwt-secret` +
//! `--tenant`, `--protocol`, and for `fanout`/`connections --protocol pusher`
//! `--app-id/--app-key/--app-secret`); this file only parses flags, builds the scenario's
//! `Config`, prints the report and writes its JSON. All the work is in `loadtest::scenarios`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use loadtest::credentials::DEFAULT_TENANT;
use loadtest::pusher::PusherApp;
use loadtest::scenarios::abuse::floods::{Flood, FloodSizes};
use loadtest::scenarios::{abuse, classroom, connections, fanout, ingest, search};
use loadtest::target::DEFAULT_TARGET;
use loadtest::{Common, Credentials, Report, Target, WireProtocol};

#[derive(Debug, Parser)]
#[command(
    name = "classhub-loadtest",
    version,
    about = "Load scenarios against a classhub on this machine (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Rooms x members; one educator per room publishes at a set rate; delivery latency.
    Fanout(FanoutArgs),
    /// Idle sockets held open; connect rate and the hub's memory per socket.
    Connections(ConnectionsArgs),
    /// Durable publishes (unique ids); acknowledgements per second and publish-to-ack latency.
    Ingest(IngestArgs),
    /// Classes with a teacher, students and a game server on the Roblox HTTP path; game event
    /// to teacher latency.
    Classroom(ClassroomArgs),
    /// A normal class measured alone (quiet), then while hostile clients flood the same server
    /// (abused): the class's latency and deliveries, the server's peak memory, and what the
    /// server answered each flood. --duration and --warmup apply to each phase.
    Abuse(AbuseArgs),
    /// Courses and lessons created over REST, then searched (`GET /api/v1/lessons`) by
    /// educators in a closed loop: queries/s and latency per kind of search.
    Search(SearchArgs),
    /// An impaired path on loopback (not a scenario): a UDP relay that drops a share of the
    /// datagrams, or a TCP relay that holds a share of the chunks back (a retransmission's
    /// wait, with everything behind it). Both ends are 127.0.0.1; it stops after --duration.
    Relay(RelayArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RelayKind {
    Udp,
    Tcp,
}

#[derive(Debug, Args)]
struct RelayArgs {
    /// `udp` (drops datagrams) or `tcp` (holds chunks back).
    #[arg(long, value_enum)]
    kind: RelayKind,
    /// The 127.0.0.1 port to listen on.
    #[arg(long)]
    listen: u16,
    /// The 127.0.0.1 port to relay to.
    #[arg(long)]
    to: u16,
    /// The share impaired each way, 0 to below 1 (0.02 is 2 %).
    #[arg(long)]
    loss: f64,
    /// TCP: how long an impaired chunk is held back, milliseconds (Linux's shortest
    /// retransmission timeout is 200 ms).
    #[arg(long, default_value_t = 200)]
    stall_ms: u64,
    /// How long the relay runs, seconds.
    #[arg(long, default_value = "60", value_parser = parse_secs)]
    duration: Duration,
}

/// Flags every scenario takes.
#[derive(Debug, Args)]
struct CommonArgs {
    /// The hub's base URL. Only loopback hosts are accepted without --allow-remote.
    #[arg(long, default_value = DEFAULT_TARGET)]
    target: String,
    /// Accept a target that is not on this machine.
    #[arg(long)]
    allow_remote: bool,
    /// Measured window, seconds.
    #[arg(long, default_value = "10", value_parser = parse_secs)]
    duration: Duration,
    /// Warm-up before measuring, seconds (load on, nothing counted).
    #[arg(long, default_value = "2", value_parser = parse_secs)]
    warmup: Duration,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Use this token for every connection (takes precedence over --jwt-secret).
    #[arg(long, env = "CLASSHUB_LOADTEST_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The hub's HS256 secret: the harness mints a token per simulated user.
    #[arg(long, env = "CLASSHUB_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Tenant of minted tokens.
    #[arg(long, default_value = DEFAULT_TENANT)]
    tenant: String,
    /// Wire protocol (`pusher` and `quic`: fanout and connections only).
    #[arg(long, value_enum, default_value = "json")]
    protocol: WireProtocol,
    /// The hub's QUIC port (`--quic-bind`) on the target's host, for --protocol quic.
    #[arg(long)]
    quic_port: Option<u16>,
    /// Pusher app id (--protocol pusher; default: classhub's app for --tenant, derived from
    /// --jwt-secret).
    #[arg(long, requires_all = ["app_key", "app_secret"])]
    app_id: Option<String>,
    /// Pusher app key (with --app-id and --app-secret).
    #[arg(long, requires_all = ["app_id", "app_secret"])]
    app_key: Option<String>,
    /// Pusher app secret (with --app-id and --app-key).
    #[arg(long, env = "CLASSHUB_LOADTEST_APP_SECRET", hide_env_values = true,
          requires_all = ["app_id", "app_key"])]
    app_secret: Option<String>,
}

#[derive(Debug, Args)]
struct FanoutArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Rooms (one publisher each).
    #[arg(long, default_value_t = 10)]
    rooms: u64,
    /// Members per room.
    #[arg(long, default_value_t = 10)]
    members: u64,
    /// Events per second over all rooms.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Extra payload bytes per event.
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// Connections opened at once during setup.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Spread sockets over 127.0.0.1..=127.0.0.N.
    #[arg(long, default_value_t = 1)]
    source_addresses: u8,
    /// The server's pid, to read its CPU time (found from the target's port when omitted).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Members over /ws connect to this port of the target's host instead (a relay in front
    /// of the hub; publishers still use --target).
    #[arg(long)]
    member_port: Option<u16>,
}

#[derive(Debug, Args)]
struct ConnectionsArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Sockets to open.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Connections opened at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Spread sockets over 127.0.0.1..=127.0.0.N (each address has ~28 000 ports).
    #[arg(long, default_value_t = 4)]
    source_addresses: u8,
    /// Class rooms (Pusher: public channels) the sockets join round-robin (0: none).
    #[arg(long, default_value_t = 0)]
    rooms: u64,
    /// The hub's pid, to read its memory and CPU (found from the target's port when omitted).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Reuse the user and room ids of an earlier run (its report names them), e.g. to measure
    /// users the server has seen before, after a restart [default: a new random id].
    #[arg(long, value_parser = parse_run_id)]
    run_id: Option<String>,
}

/// A run id: 1–32 ASCII letters, digits or `-` (it becomes part of user and room ids).
fn parse_run_id(value: &str) -> Result<String, String> {
    let valid = (1..=32).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if valid {
        Ok(value.to_owned())
    } else {
        Err("use 1 to 32 ASCII letters, digits or '-'".to_owned())
    }
}

#[derive(Debug, Args)]
struct IngestArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Publishing connections.
    #[arg(long, default_value_t = 8)]
    publishers: u64,
    /// Unacknowledged events allowed per connection.
    #[arg(long, default_value_t = 64)]
    in_flight: u64,
    /// Events per second over all publishers (0: as fast as acks allow).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Extra payload bytes per event.
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// Spread sockets over 127.0.0.1..=127.0.0.N.
    #[arg(long, default_value_t = 1)]
    source_addresses: u8,
}

#[derive(Debug, Args)]
struct ClassroomArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// A game-server key of --tenant (`classhub gamekey create --tenant <tenant>`).
    #[arg(long, env = "CLASSHUB_LOADTEST_GAME_KEY", hide_env_values = true)]
    game_key: String,
    /// The universe the key is limited to.
    #[arg(long, default_value_t = 1)]
    universe: i64,
    /// Classes (a teacher socket and a game server each).
    #[arg(long, default_value_t = 10)]
    classes: u64,
    /// Idle student sockets per class.
    #[arg(long, default_value_t = 30)]
    students: u64,
    /// Game events per second over all game servers.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Events per HTTP batch.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Batches in flight per game server.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Extra payload bytes per event.
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// Send in-game quiz answers of linked players (set up over REST: needs --jwt-secret and
    /// --students 0), scored into results by the server.
    #[arg(long)]
    answers: bool,
}

#[derive(Debug, Args)]
struct AbuseArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Students of the normal class (beside one teacher).
    #[arg(long, default_value_t = 30)]
    students: u64,
    /// Teacher → students events per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Students → teacher chat events per second, all students together.
    #[arg(long, default_value_t = 5.0)]
    student_rate: f64,
    /// Floods of the abused phase, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "rejoin,presence,rooms,game-keys,pusher-sockets,garbage"
    )]
    floods: Vec<Flood>,
    /// rejoin: sockets.
    #[arg(long, default_value_t = FloodSizes::default().rejoin_sockets)]
    rejoin_sockets: u64,
    /// rejoin: join frames per second per socket.
    #[arg(long, default_value_t = FloodSizes::default().rejoin_rate)]
    rejoin_rate: f64,
    /// rejoin: padding bytes in each join's presence.
    #[arg(long, default_value_t = FloodSizes::default().rejoin_presence_bytes)]
    rejoin_presence_bytes: usize,
    /// presence: sockets.
    #[arg(long, default_value_t = FloodSizes::default().presence_sockets)]
    presence_sockets: u64,
    /// presence: updates per second per socket.
    #[arg(long, default_value_t = FloodSizes::default().presence_rate)]
    presence_rate: f64,
    /// rooms: anonymous Pusher sockets.
    #[arg(long, default_value_t = FloodSizes::default().rooms_sockets)]
    rooms_sockets: u64,
    /// rooms: subscriptions per second per socket.
    #[arg(long, default_value_t = FloodSizes::default().rooms_rate)]
    rooms_rate: f64,
    /// game-keys: requests in flight at most.
    #[arg(long, default_value_t = FloodSizes::default().game_key_concurrency)]
    game_key_concurrency: u64,
    /// game-keys: requests per second.
    #[arg(long, default_value_t = FloodSizes::default().game_key_rate)]
    game_key_rate: f64,
    /// pusher-sockets: sockets held at most.
    #[arg(long, default_value_t = FloodSizes::default().pusher_sockets)]
    pusher_sockets: u64,
    /// pusher-sockets: connection attempts per second.
    #[arg(long, default_value_t = FloodSizes::default().pusher_socket_rate)]
    pusher_socket_rate: f64,
    /// garbage: sockets.
    #[arg(long, default_value_t = FloodSizes::default().garbage_sockets)]
    garbage_sockets: u64,
    /// garbage: frames per second per socket.
    #[arg(long, default_value_t = FloodSizes::default().garbage_rate)]
    garbage_rate: f64,
    /// The server's pid, to read its memory and CPU (found from the target's port when omitted).
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Debug, Args)]
struct SearchArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Courses to create (needs --jwt-secret: an educator creates them).
    #[arg(long, default_value_t = 100)]
    courses: u64,
    /// Lessons to create, spread over the courses.
    #[arg(long, default_value_t = 100_000)]
    lessons: u64,
    /// Courses and lessons created at once.
    #[arg(long, default_value_t = 16)]
    seed_concurrency: usize,
    /// Create nothing: search the lessons an earlier run created (give its --courses and
    /// --lessons so the answers can be checked).
    #[arg(long)]
    no_seed: bool,
    /// Clients searching at once, each sending its next search when the last is answered.
    #[arg(long, default_value_t = 4)]
    clients: u64,
    /// Longest wait for one answer, seconds (setup and searches; a later answer is an error).
    #[arg(long, default_value = "30", value_parser = parse_secs)]
    request_timeout: Duration,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("classhub-loadtest: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (report, json) = match cli.scenario {
        Scenario::Relay(args) => {
            let counts = match args.kind {
                RelayKind::Udp => {
                    loadtest::relay::run_udp(args.listen, args.to, args.loss, args.duration).await?
                }
                RelayKind::Tcp => {
                    let stall = Duration::from_millis(args.stall_ms);
                    loadtest::relay::run_tcp(args.listen, args.to, args.loss, stall, args.duration)
                        .await?
                }
            };
            println!(
                "relay {:?} 127.0.0.1:{} -> 127.0.0.1:{}: forwarded {}, impaired {}",
                args.kind,
                args.listen,
                args.to,
                counts.forwarded.load(std::sync::atomic::Ordering::Relaxed),
                counts.impaired.load(std::sync::atomic::Ordering::Relaxed)
            );
            return Ok(());
        }
        Scenario::Fanout(args) => {
            let json = args.common.json.clone();
            let config = fanout::Config {
                protocol: args.common.protocol,
                common: common(&args.common, true).await?,
                rooms: args.rooms,
                members: args.members,
                rate: args.rate,
                payload_bytes: args.payload_bytes,
                concurrency: args.concurrency,
                source_addresses: args.source_addresses,
                server_pid: args.server_pid,
                member_port: args.member_port,
            };
            (fanout::run(config).await?, json)
        }
        Scenario::Connections(args) => {
            let json = args.common.json.clone();
            let config = connections::Config {
                protocol: args.common.protocol,
                common: common(&args.common, true).await?,
                count: args.count,
                concurrency: args.concurrency,
                source_addresses: args.source_addresses,
                rooms: args.rooms,
                server_pid: args.server_pid,
                run_id: args.run_id,
            };
            (connections::run(config).await?, json)
        }
        Scenario::Ingest(args) => {
            let json = args.common.json.clone();
            let config = ingest::Config {
                protocol: args.common.protocol,
                common: common(&args.common, false).await?,
                publishers: args.publishers,
                in_flight: args.in_flight,
                rate: args.rate,
                payload_bytes: args.payload_bytes,
                source_addresses: args.source_addresses,
            };
            (ingest::run(config).await?, json)
        }
        Scenario::Classroom(args) => {
            let json = args.common.json.clone();
            let config = classroom::Config {
                common: common(&args.common, false).await?,
                game_key: args.game_key,
                universe_id: args.universe,
                classes: args.classes,
                students: args.students,
                rate: args.rate,
                batch: args.batch,
                in_flight: args.in_flight,
                payload_bytes: args.payload_bytes,
                answers: args.answers,
            };
            (classroom::run(config).await?, json)
        }
        Scenario::Abuse(args) => {
            let json = args.common.json.clone();
            let config = abuse::Config {
                protocol: args.common.protocol,
                common: common(&args.common, false).await?,
                students: args.students,
                rate: args.rate,
                student_rate: args.student_rate,
                floods: args.floods,
                sizes: FloodSizes {
                    rejoin_sockets: args.rejoin_sockets,
                    rejoin_rate: args.rejoin_rate,
                    rejoin_presence_bytes: args.rejoin_presence_bytes,
                    presence_sockets: args.presence_sockets,
                    presence_rate: args.presence_rate,
                    rooms_sockets: args.rooms_sockets,
                    rooms_rate: args.rooms_rate,
                    game_key_concurrency: args.game_key_concurrency,
                    game_key_rate: args.game_key_rate,
                    pusher_sockets: args.pusher_sockets,
                    pusher_socket_rate: args.pusher_socket_rate,
                    garbage_sockets: args.garbage_sockets,
                    garbage_rate: args.garbage_rate,
                },
                server_pid: args.server_pid,
            };
            (abuse::run(config).await?, json)
        }
        Scenario::Search(args) => {
            let json = args.common.json.clone();
            let config = search::Config {
                common: common(&args.common, false).await?,
                courses: args.courses,
                lessons: args.lessons,
                seed: !args.no_seed,
                seed_concurrency: args.seed_concurrency,
                clients: args.clients,
                request_timeout: args.request_timeout,
            };
            (search::run(config).await?, json)
        }
    };
    finish(&report, json)
}

/// Resolves the common flags (the target policy is applied here, before any socket opens);
/// `speaks_all` says whether the scenario accepts `--protocol pusher` and `--protocol quic`.
async fn common(args: &CommonArgs, speaks_all: bool) -> anyhow::Result<Common> {
    let pusher = args.protocol == WireProtocol::Pusher;
    let quic = args.protocol == WireProtocol::Quic;
    // Refuse an unsupported protocol before resolving anything.
    if !((pusher || quic) && speaks_all) {
        args.protocol.codec()?;
    }
    if quic && args.quic_port.is_none() {
        bail!("--protocol quic needs --quic-port: the UDP port of the hub's --quic-bind");
    }
    let mut target = Target::resolve(&args.target, args.allow_remote).await?;
    if let Some(port) = args.quic_port {
        target = target.with_quic_port(port);
    }
    let pusher_app = match (&args.app_id, &args.app_key, &args.app_secret) {
        (Some(app_id), Some(key), Some(secret)) => Some(PusherApp {
            app_id: app_id.clone(),
            key: key.clone(),
            secret: secret.clone(),
        }),
        _ => None,
    };
    let credentials = match (&args.token, &args.jwt_secret) {
        (Some(token), _) => Credentials::Token(token.clone()),
        (None, Some(secret)) => Credentials::mint(secret.clone(), args.tenant.clone()),
        // A Pusher run with its app given mints nothing: members are anonymous on public
        // channels and the publisher signs with the app secret.
        (None, None) if pusher && pusher_app.is_some() => Credentials::Token(String::new()),
        (None, None) => bail!(
            "give --token TOKEN, or --jwt-secret SECRET (or CLASSHUB_JWT_SECRET) so the harness \
             can mint its own tokens"
        ),
    };
    Ok(Common {
        target,
        credentials,
        warmup: args.warmup,
        duration: args.duration,
        show_progress: std::io::stderr().is_terminal(),
        pusher_app,
    })
}

fn finish(report: &Report, json: Option<PathBuf>) -> anyhow::Result<()> {
    print!("{report}");
    if let Some(path) = json {
        report.write_json(&path)?;
        println!("  report written to {}", path.display());
    }
    Ok(())
}

fn parse_secs(text: &str) -> anyhow::Result<Duration> {
    let trimmed = text.trim().trim_end_matches('s');
    let secs: f64 = trimmed
        .parse()
        .with_context(|| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .with_context(|| format!("{text:?} is not a usable number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_is_checked_before_it_becomes_part_of_user_ids() {
        assert_eq!(parse_run_id("lt0a1b2c3d"), Ok("lt0a1b2c3d".to_owned()));
        assert_eq!(parse_run_id("restart-1"), Ok("restart-1".to_owned()));
        for bad in ["", "a b", "x/y", "é", &"a".repeat(33)] {
            let error = parse_run_id(bad).expect_err(bad);
            assert!(error.contains("letters, digits"), "{error}");
        }
    }
}
