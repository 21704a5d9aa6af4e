#!/usr/bin/env bash
# classhub and Sockudo side by side, on loopback, in one run (issue 9).
#
# Installs Sockudo from crates.io when it is missing (Debian's protobuf-compiler first when
# `protoc` is missing), builds classhub and the harness in release, then for each round starts
# each server fresh with the same Pusher app (id, key, secret; throttles lifted, client events
# on) and runs the same scenarios against it with classhub-loadtest:
#   connections --protocol pusher   idle sockets; connects/s, RSS per socket (fresh server)
#   fanout --protocol pusher        rooms x members at a fixed rate, then asked to saturate
# and, as the floor, `fanout --protocol json` and `connections` against classhub-baseline (the
# smallest tokio-tungstenite broadcast server; native protocol, so not the same wire) with
# classhub's own `fanout --protocol json` beside it (same wire as the floor).
# Servers alternate (odd rounds classhub first, even rounds Sockudo first). The harness reads
# each server's CPU (utime + stime in /proc/PID/stat) over the measured window and its VmRSS;
# the table gives the median of the rounds and the classhub / Sockudo ratios, with the machine
# and the exact commands, in a markdown file (--out).
#
# Everything listens on 127.0.0.1 only; every step has a time-out; both servers are stopped on
# exit (trap). Defaults take about 8 minutes on 2 cores once everything is built (plus up to
# --quiet-wait per server start on a busy machine).
#
#   loadtest/compare.sh                      # defaults: 3 rounds, 100 x 30 members, 5 000 sockets
#   loadtest/compare.sh --rounds 5 --duration 20 --connections 15000 --out /tmp/compare.md
#   loadtest/compare.sh --help
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: loadtest/compare.sh [options]

  --rounds N             rounds per server (alternating servers)              [3]
  --duration SECS        measured window of each scenario                      [10]
  --warmup SECS          warm-up of each scenario                              [3]
  --rooms N              fanout rooms (Pusher public channels)                 [100]
  --members N            fanout members per room                               [30]
  --rate N               fanout fixed rate, events/s over all rooms            [1000]
  --saturate-rate N      fanout rate asked for the saturated run               [8000]
  --connections N        idle sockets in the connections scenario              [5000]
  --hold SECS            connections: measured hold (RSS is read after the warm-up) [3]
  --no-baseline          skip classhub-baseline (the floor) and classhub's native fanout
  --quiet-wait SECS      before each server, wait up to this long for the rest of the
                         machine to use less than --quiet-cores (shared machines)   [60]
  --quiet-cores X        busy cores (all processes) counted as quiet               [0.5]
  --no-build             use the release binaries already in the target dir
  --classhub-port P      [18009]   --sockudo-port P  [16001]
  --sockudo-metrics-port P [16002] --baseline-port P [18010]
  --out FILE             markdown table       [target/compare/compare-<time>.md]
  --sockudo-version V    version cargo install fetches when Sockudo is missing [5.2.0]
  --table-only DIR       only write the table again from an earlier run's reports
                         (DIR is its target/compare/<time> directory; with --out)

Environment: SOCKUDO_BIN (a sockudo binary to use), CARGO_TARGET_DIR.
EOF
}

ORIGINAL_ARGS=("$@")
ROUNDS=3 DURATION=10 WARMUP=3 ROOMS=100 MEMBERS=30 RATE=1000 SATURATE_RATE=8000
TABLE_ONLY="" CONNECTIONS=5000 HOLD=3 BASELINE=1 QUIET_WAIT=60 QUIET_CORES=0.5 BUILD=1 OUT="" SOCKUDO_VERSION=5.2.0
CLASSHUB_PORT=18009 SOCKUDO_PORT=16001 SOCKUDO_METRICS_PORT=16002 BASELINE_PORT=18010
while (($#)); do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --rooms) ROOMS=$2; shift 2 ;;
    --members) MEMBERS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --saturate-rate) SATURATE_RATE=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --hold) HOLD=$2; shift 2 ;;
    --no-baseline) BASELINE=0; shift ;;
    --quiet-wait) QUIET_WAIT=$2; shift 2 ;;
    --quiet-cores) QUIET_CORES=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --classhub-port) CLASSHUB_PORT=$2; shift 2 ;;
    --sockudo-port) SOCKUDO_PORT=$2; shift 2 ;;
    --sockudo-metrics-port) SOCKUDO_METRICS_PORT=$2; shift 2 ;;
    --baseline-port) BASELINE_PORT=$2; shift 2 ;;
    --out) OUT=$(realpath -m "$2"); shift 2 ;;
    --sockudo-version) SOCKUDO_VERSION=$2; shift 2 ;;
    --table-only) TABLE_ONLY=$(realpath -m "$2"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for number in ROUNDS DURATION WARMUP ROOMS MEMBERS RATE SATURATE_RATE CONNECTIONS HOLD \
  CLASSHUB_PORT SOCKUDO_PORT SOCKUDO_METRICS_PORT BASELINE_PORT; do
  [[ ${!number} =~ ^[0-9]+$ ]] && ((${!number} > 0)) \
    || { echo "compare.sh: --${number,,} must be a positive whole number" >&2; exit 2; }
done
[[ $QUIET_WAIT =~ ^[0-9]+$ ]] || { echo "compare.sh: --quiet-wait must be a whole number" >&2; exit 2; }
[[ $QUIET_CORES =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "compare.sh: --quiet-cores must be a number" >&2; exit 2; }

cd "$(dirname "$0")/.."
REPO=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
WORK=${TABLE_ONLY:-$TARGET_DIR/compare/$STAMP}
OUT=${OUT:-$TARGET_DIR/compare/compare-$STAMP.md}
mkdir -p "$WORK" "$(dirname "$OUT")"
LOG=$WORK/compare.log
# The code measured: HEAD when the run starts (the build below compiles the working tree).
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD -- server protocol persistence roblox loadtest Cargo.lock 2>/dev/null; then
  COMMIT="$COMMIT + uncommitted changes"
fi
say() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$LOG" >&2; }

# The markdown side-by-side table from the JSON reports under $WORK (and the run's settings,
# exported, or sourced from $WORK/run.env with --table-only).
write_table() {
  WORK=$WORK OUT=$OUT python3 - <<'PY'
"""Reads the rounds' JSON reports under $WORK and writes the side-by-side markdown to $OUT."""
import datetime
import glob
import json
import os
import statistics

env = os.environ
work = env["WORK"]
SERVERS = [("classhub", "classhub"), ("sockudo", "Sockudo"), ("native", "classhub"), ("baseline", "floor")]
PROTOCOL = {"classhub": "Pusher", "sockudo": "Pusher", "native": "native JSON",
            "baseline": "classhub-baseline, native JSON"}


def load():
    runs = {}
    for path in sorted(glob.glob(os.path.join(work, "round*", "*.json"))):
        name = os.path.basename(path)[: -len(".json")]
        server, scenario = name.split("-", 1)
        with open(path) as handle:
            runs.setdefault((server, scenario), []).append(json.load(handle))
    return runs


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def num(value, digits=0):
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    return text.replace(",", " ")


def ms(us):
    if us is None:
        return "–"
    value = us / 1000.0
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def rounds_of(values, fmt):
    return " / ".join(fmt(v) for v in values)


def fanout_metrics(report):
    r = report["results"]
    lat = report["latency_us"]
    dur = report["duration_secs"]
    cpu = r.get("server_cpu_secs")
    deliveries = r["deliveries"]
    return {
        "published": r["publish_rate"],
        "deliveries": r["deliveries_per_sec"],
        "share": deliveries / r["expected_deliveries"] if r["expected_deliveries"] else None,
        "p50": lat["p50"],
        "p99": lat["p99"],
        "p999": lat["p99_9"],
        "cores": cpu / dur if cpu is not None and dur else None,
        "cpu_per_delivery_us": cpu / deliveries * 1e6 if cpu is not None and deliveries else None,
        "harness_cores": (r.get("harness_cpu_secs") or 0) / dur if dur else None,
        # Per-process and machine-wide tick accounting differ by a few hundredths of a core.
        "other_cores": max(0.0, (r["machine_cpu_secs"] - (cpu or 0) - (r.get("harness_cpu_secs") or 0)) / dur)
        if r.get("machine_cpu_secs") is not None and dur else None,
        "errors": report["errors"]["count"] + r["slow_consumer_closes"] + r["other_closes"],
    }


def connections_metrics(report):
    r = report["results"]
    lat = report["latency_us"]
    rss = r.get("rss_per_connection_bytes")
    cpu = r.get("server_connect_cpu_secs")
    return {
        "opened": r["opened"],
        "held": r["held_at_end"],
        "connects": r["connects_per_sec"],
        "p50": lat["p50"],
        "p99": lat["p99"],
        "rss_kib": rss / 1024.0 if rss is not None else None,
        "rss_before_mib": r["rss_before_kib"] / 1024.0 if r.get("rss_before_kib") is not None else None,
        "rss_after_mib": r["rss_after_kib"] / 1024.0 if r.get("rss_after_kib") is not None else None,
        "cpu_per_connect_us": cpu / r["opened"] * 1e6 if cpu is not None and r["opened"] else None,
        "errors": report["errors"]["count"],
    }


runs = load()
lines = []
out = lines.append
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
out(f"Generated by `{env['INVOCATION'].strip()}` on {now}: {env['ROUNDS']} rounds; in each round every")
out("server is started fresh, runs `connections`, then `fanout` at the fixed rate, then `fanout` asked to")
out("saturate, and is stopped (servers alternate: odd rounds classhub first, even rounds Sockudo first;")
out("the floor last). Each figure is the **median of the rounds**; per-round values follow the tables.")
out(f"Windows: {env['WARMUP']} s warm-up, {env['DURATION']} s measured ({env['HOLD']} s hold for connections). Server CPU is utime + stime from")
out("`/proc/PID/stat` over the measured window (fanout) or the connect phase (connections); RSS per")
out("connection is (VmRSS after the warm-up − VmRSS before the first connect) ÷ sockets. \"others\" is")
out("the rest of the machine's busy CPU in the window (`/proc/stat` minus server and harness): on a")
out(f"shared machine, anything above ~0.1 core there took cores from the run (the script waits up to")
out(f"{env['QUIET_WAIT']} s before each server for under {env['QUIET_CORES']} busy cores).")
out("")
out(f"**Machine:** `nproc` = {env['MACHINE_NPROC']}, `{env['MACHINE_CPU']}`, {env['MACHINE_KERNEL']}, "
    f"{env['MACHINE_MEM']} RAM, RLIMIT_NOFILE {env['NOFILE']}; `{env['RUSTC_VERSION']}`. The load "
    "generator runs on the same cores as the server.")
out(f"**Servers:** classhub at commit `{env['COMMIT']}` (release); {env['SOCKUDO_VERSION_SEEN']} "
    "(`cargo install sockudo --locked`, release); `classhub-baseline` (release, 8 KiB read buffer).")
out("")


def medians_of(scenario, metrics):
    """Per server: the median of each metric over its rounds of `scenario` (errors summed)."""
    medians = {}
    for key, _ in SERVERS:
        reports = runs.get((key, scenario), [])
        if reports:
            rounds = [metrics(r) for r in reports]
            medians[key] = {k: med([x[k] for x in rounds]) for k in rounds[0]}
            medians[key]["errors"] = sum(x["errors"] for x in rounds)
    return medians


def fanout_table(scenario, title):
    out(f"**{title}**")
    out("")
    out("| server | published/s | deliveries/s | delivered | p50 | p99 | p99.9 | server CPU (cores) | CPU per delivery | harness CPU (cores) | others (cores) | errors + closes |")
    out("|---|---|---|---|---|---|---|---|---|---|---|---|")
    medians = medians_of(scenario, fanout_metrics)
    for key, label in SERVERS:
        if key not in medians:
            continue
        m = medians[key]
        out(f"| {label} ({PROTOCOL[key]}) | {num(m['published'])} | {num(m['deliveries'])} | "
            f"{num(100 * m['share'], 1) if m['share'] is not None else '–'} % | {ms(m['p50'])} | {ms(m['p99'])} | "
            f"{ms(m['p999'])} | {num(m['cores'], 2)} | {num(m['cpu_per_delivery_us'], 2)} µs | "
            f"{num(m['harness_cores'], 2)} | {num(m['other_cores'], 2)} | {m['errors']} |")
    c, s = medians.get("classhub"), medians.get("sockudo")
    if c and s:
        out(f"| **classhub / Sockudo** | {ratio(c['published'], s['published'])} | "
            f"**{ratio(c['deliveries'], s['deliveries'])}** | | {ratio(c['p50'], s['p50'])} | "
            f"**{ratio(c['p99'], s['p99'])}** | {ratio(c['p999'], s['p999'])} | {ratio(c['cores'], s['cores'])} | "
            f"{ratio(c['cpu_per_delivery_us'], s['cpu_per_delivery_us'])} | | | |")
    n, b = medians.get("native"), medians.get("baseline")
    for top, bottom, name in [(n, b, "classhub (native) / floor"), (c, n, "classhub Pusher / native")]:
        if top and bottom:
            out(f"| {name} | | {ratio(top['deliveries'], bottom['deliveries'])} | | "
                f"{ratio(top['p50'], bottom['p50'])} | {ratio(top['p99'], bottom['p99'])} | | "
                f"{ratio(top['cores'], bottom['cores'])} | "
                f"{ratio(top['cpu_per_delivery_us'], bottom['cpu_per_delivery_us'])} | | | |")
    out("")
    return medians


def connections_table():
    out(f"**connections: {num(int(env['CONNECTIONS']))} idle sockets** (Pusher: `connection_established`, no channel; "
        "floor: native `welcome`), 200 connecting at once over 127.0.0.1–127.0.0.4")
    out("")
    out("| server | opened | held at end | connects/s | connect p50 | connect p99 | VmRSS before → after | RSS per connection | server CPU per connect | errors |")
    out("|---|---|---|---|---|---|---|---|---|---|")
    medians = medians_of("connections", connections_metrics)
    for key, label in SERVERS:
        if key not in medians:
            continue
        m = medians[key]
        name = label if key != "baseline" else "floor (classhub-baseline, native)"
        out(f"| {name} | {num(m['opened'])} | {num(m['held'])} | {num(m['connects'])} | {ms(m['p50'])} | "
            f"{ms(m['p99'])} | {num(m['rss_before_mib'], 1)} → {num(m['rss_after_mib'], 1)} MiB | "
            f"**{num(m['rss_kib'], 1)} KiB** | {num(m['cpu_per_connect_us'], 0)} µs | {m['errors']} |")
    c, s = medians.get("classhub"), medians.get("sockudo")
    if c and s:
        out(f"| **classhub / Sockudo** | | | {ratio(c['connects'], s['connects'])} | {ratio(c['p50'], s['p50'])} | "
            f"{ratio(c['p99'], s['p99'])} | | **{ratio(c['rss_kib'], s['rss_kib'])}** | "
            f"{ratio(c['cpu_per_connect_us'], s['cpu_per_connect_us'])} | |")
    out("")
    return medians


rooms, members = int(env["ROOMS"]), int(env["MEMBERS"])
fanout_table("fanout-fixed", f"fanout at a fixed rate: {rooms} rooms × {members} members, "
             f"{num(int(env['RATE']))} events/s asked ({num(int(env['RATE']) * members)} deliveries/s)")
fanout_table("fanout-saturated", f"fanout asked to saturate: {rooms} rooms × {members} members, "
             f"{num(int(env['SATURATE_RATE']))} events/s asked ({num(int(env['SATURATE_RATE']) * members)} deliveries/s)")
connections_table()

out("Per-round values (in run order):")
out("")
for key, label in SERVERS:
    for scenario, what in [("fanout-fixed", "fixed-rate fanout"), ("fanout-saturated", "saturated fanout")]:
        reports = runs.get((key, scenario), [])
        if reports:
            ms_ = [fanout_metrics(r) for r in reports]
            out(f"- {label} ({PROTOCOL[key]}), {what}: deliveries/s {rounds_of([x['deliveries'] for x in ms_], num)}; "
                f"p99 {rounds_of([x['p99'] for x in ms_], ms)}; server CPU "
                f"{rounds_of([x['cores'] for x in ms_], lambda v: num(v, 2))} cores; others "
                f"{rounds_of([x['other_cores'] for x in ms_], lambda v: num(v, 2))} cores")
    reports = runs.get((key, "connections"), [])
    if reports:
        ms_ = [connections_metrics(r) for r in reports]
        out(f"- {label}, connections: RSS per connection "
            f"{rounds_of([x['rss_kib'] for x in ms_], lambda v: num(v, 1))} KiB; connects/s "
            f"{rounds_of([x['connects'] for x in ms_], num)}")
out("")
out("Commands (`$URL` is `http://127.0.0.1:" + env["CLASSHUB_PORT"] + "` for classhub and `http://127.0.0.1:"
    + env["SOCKUDO_PORT"] + "` for Sockudo; `$PID` the server's pid):")
out("")
out("```sh")
out("cargo build --release --bin classhub --bin classhub-loadtest --bin classhub-baseline")
out("cargo install sockudo --locked   # needs protoc: apt-get install -y protobuf-compiler")
out(env["CLASSHUB_SHOWN"].strip())
out("# Sockudo, from an empty working directory (it reads config/config.json when present):")
out(env["SOCKUDO_SHOWN"].strip())
if env["BASELINE"] == "1":
    out(env["FLOOR_SHOWN"].strip())
out(env["CMD_CONNECTIONS"])
out(env["CMD_FANOUT_FIXED"])
out(env["CMD_FANOUT_SATURATED"])
if env["BASELINE"] == "1":
    out(env["CMD_FLOOR_CONNECTIONS"])
    out(env["CMD_FLOOR_FANOUT"] + f"   # and --rate {env['SATURATE_RATE']}; classhub native: --target $URL")
out("```")
with open(env["OUT"], "w") as handle:
    handle.write("\n".join(lines) + "\n")
PY
}

command -v python3 >/dev/null || { echo "compare.sh needs python3 (for the table)" >&2; exit 1; }
if [[ -n $TABLE_ONLY ]]; then
  [[ -f $TABLE_ONLY/run.env ]] || { echo "compare.sh: no run.env in $TABLE_ONLY" >&2; exit 1; }
  # shellcheck disable=SC1091
  source "$TABLE_ONLY/run.env"
  WORK=$TABLE_ONLY
  write_table
  say "table written to $OUT"
  exit 0
fi

# The app both servers serve.
APP_ID=compare APP_KEY=compare-key APP_SECRET=compare-secret-0123456789abcdef
JWT_SECRET=compare-jwt-secret-0123456789abcdef

# --- servers we start, stopped on any exit -------------------------------------------------
declare -A SERVER_PID=()
stop_server() { # name
  local name=$1 pid=${SERVER_PID[$1]:-}
  [[ -n $pid ]] || return 0
  unset "SERVER_PID[$name]"
  kill -TERM "$pid" 2>/dev/null || return 0
  # Sockudo takes ~10 s to shut down; give every server 20 s, then kill it.
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) did not stop in 20 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  # classhub's SQLite data dir is of no use after its round.
  if [[ $name == classhub && -n ${CLASSHUB_DATA_DIR:-} ]]; then rm -rf "$CLASSHUB_DATA_DIR"; fi
}
HARNESS_PID=""
cleanup() {
  local name
  if [[ -n $HARNESS_PID ]]; then
    kill -TERM "$HARNESS_PID" 2>/dev/null || true
    wait "$HARNESS_PID" 2>/dev/null || true
  fi
  for name in "${!SERVER_PID[@]}"; do stop_server "$name"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { [[ -z $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }
wait_port() { # port seconds pid
  local deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    kill -0 "$3" 2>/dev/null || return 1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

# Busy cores of the whole machine over 2 s (user+nice+system+irq+softirq+steal, /proc/stat).
busy_cores() {
  local a b
  a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9; exit}' /proc/stat)
  sleep 2
  b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9; exit}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", (b - a) / 100 / 2}'
}
# Waits (at most QUIET_WAIT s) for the rest of the machine to go quiet, logging what it saw.
wait_quiet() {
  local deadline=$((SECONDS + QUIET_WAIT)) busy
  while :; do
    busy=$(busy_cores)
    if awk -v b="$busy" -v q="$QUIET_CORES" 'BEGIN {exit !(b < q)}'; then
      say "machine quiet ($busy busy cores)"; return
    fi
    if ((SECONDS >= deadline)); then
      say "machine still busy ($busy cores) after ${QUIET_WAIT} s; going on (see the 'others' column)"
      return
    fi
  done
}

# --- Sockudo, installed when missing ---------------------------------------------------------
SOCKUDO=${SOCKUDO_BIN:-$(command -v sockudo || true)}
if [[ -z $SOCKUDO && -x $HOME/.cargo/bin/sockudo ]]; then SOCKUDO=$HOME/.cargo/bin/sockudo; fi
if [[ -z $SOCKUDO ]]; then
  if ! command -v protoc >/dev/null; then
    say "protoc is missing (Sockudo's build needs it): apt-get install -y protobuf-compiler"
    SUDO=""; ((EUID == 0)) || SUDO=sudo
    $SUDO apt-get install -y protobuf-compiler >>"$LOG" 2>&1 \
      || { $SUDO apt-get update >>"$LOG" 2>&1 && $SUDO apt-get install -y protobuf-compiler >>"$LOG" 2>&1; }
  fi
  say "installing Sockudo $SOCKUDO_VERSION from crates.io (about 15 min on 2 cores; log: $LOG)"
  nice -n 19 timeout 3600 cargo install sockudo --version "$SOCKUDO_VERSION" --locked >>"$LOG" 2>&1
  SOCKUDO=$HOME/.cargo/bin/sockudo
fi
[[ -x $SOCKUDO ]] || { echo "compare.sh: no sockudo binary at $SOCKUDO" >&2; exit 1; }

# --- classhub and the harness, in release ----------------------------------------------------
BINS=(--bin classhub --bin classhub-loadtest --bin classhub-baseline)
if ((BUILD)); then
  say "building classhub, classhub-loadtest and classhub-baseline (release)"
  nice -n 19 cargo build --release --locked "${BINS[@]}" >>"$LOG" 2>&1 \
    || { echo "compare.sh: the release build failed; see $LOG" >&2; exit 1; }
fi
CLASSHUB=$TARGET_DIR/release/classhub
LT=$TARGET_DIR/release/classhub-loadtest
FLOOR=$TARGET_DIR/release/classhub-baseline
for bin in "$CLASSHUB" "$LT" "$FLOOR"; do
  [[ -x $bin ]] || { echo "compare.sh: $bin is missing (run without --no-build)" >&2; exit 1; }
done

for port in "$CLASSHUB_PORT" "$SOCKUDO_PORT" "$SOCKUDO_METRICS_PORT" "$BASELINE_PORT"; do
  port_free "$port" || { echo "compare.sh: port $port is in use; pick another (--help)" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if ((CONNECTIONS + 512 > NOFILE || ROOMS * (MEMBERS + 1) + 512 > NOFILE)); then
  echo "compare.sh: the file-descriptor limit ($NOFILE) is too low for these counts" >&2
  exit 1
fi

# --- how each server starts (the commands are also written into the report) ------------------
CLASSHUB_CMD=("$CLASSHUB" serve --bind "127.0.0.1:$CLASSHUB_PORT" --data-dir DATA_DIR
  --jwt-secret "$JWT_SECRET" --publish-rate 100000 --publish-burst 100000
  --pusher-tenant "$APP_ID" --pusher-app-id "$APP_ID" --pusher-key "$APP_KEY"
  --pusher-secret "$APP_SECRET" --pusher-client-event-rate 10)
SOCKUDO_ENV=(HOST=127.0.0.1 PORT="$SOCKUDO_PORT" METRICS_HOST=127.0.0.1
  METRICS_PORT="$SOCKUDO_METRICS_PORT"
  SOCKUDO_DEFAULT_APP_ID="$APP_ID" SOCKUDO_DEFAULT_APP_KEY="$APP_KEY"
  SOCKUDO_DEFAULT_APP_SECRET="$APP_SECRET" SOCKUDO_ENABLE_CLIENT_MESSAGES=true
  SOCKUDO_DEFAULT_APP_ENABLE_CLIENT_MESSAGES=true RATE_LIMITER_ENABLED=false
  SOCKUDO_MAX_CONNECTIONS=1000000 SOCKUDO_DEFAULT_APP_MAX_CONNECTIONS=1000000
  SOCKUDO_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SECOND=1000000
  SOCKUDO_DEFAULT_APP_MAX_READ_REQUESTS_PER_SECOND=1000000
  SOCKUDO_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SECOND=10 QUEUE_DRIVER=memory)
FLOOR_CMD=("$FLOOR" --bind "127.0.0.1:$BASELINE_PORT" --read-buffer-bytes 8192)

start_server() { # name; sets SERVER_PID[name] and PORT_OF
  local name=$1 pid port
  case $name in
    classhub)
      CLASSHUB_DATA_DIR=$WORK/classhub-data-$RANDOM
      mkdir -p "$CLASSHUB_DATA_DIR"
      local cmd=("${CLASSHUB_CMD[@]/#DATA_DIR/$CLASSHUB_DATA_DIR}")
      "${cmd[@]}" >>"$WORK/classhub.log" 2>&1 &
      pid=$!; port=$CLASSHUB_PORT ;;
    sockudo)
      # An empty working directory: Sockudo reads config/config.{toml,json} when present.
      local dir=$WORK/sockudo-cwd
      mkdir -p "$dir"
      (cd "$dir" && exec env "${SOCKUDO_ENV[@]}" "$SOCKUDO") >>"$WORK/sockudo.log" 2>&1 &
      pid=$!; port=$SOCKUDO_PORT ;;
    baseline)
      "${FLOOR_CMD[@]}" >>"$WORK/baseline.log" 2>&1 &
      pid=$!; port=$BASELINE_PORT ;;
  esac
  SERVER_PID[$name]=$pid
  wait_port "$port" 60 "$pid" || { echo "compare.sh: $name did not listen on $port; see $WORK/$name.log" >&2; exit 1; }
  sleep 1 # let it finish starting (Sockudo logs its app registration after binding)
  say "$name started (pid $pid, 127.0.0.1:$port)"
}

# --- the harness commands ----------------------------------------------------------------------
APP_FLAGS=(--app-id "$APP_ID" --app-key "$APP_KEY" --app-secret "$APP_SECRET")
WINDOW=(--duration "$DURATION" --warmup "$WARMUP")
FANOUT=(fanout --rooms "$ROOMS" --members "$MEMBERS" --source-addresses 4 "${WINDOW[@]}")
CONNS=(connections --count "$CONNECTIONS" --concurrency 200 --source-addresses 4
  --duration "$HOLD" --warmup "$WARMUP")
STEP_TIMEOUT=$((DURATION + WARMUP + 180))

run_lt() { # label json-file args...
  local label=$1 json=$2; shift 2
  say "  $label"
  # In the background and waited for, so a signal reaches the trap at once.
  timeout --kill-after=10 "$STEP_TIMEOUT" "$LT" "$@" --json "$json" >>"$LOG" 2>&1 &
  HARNESS_PID=$!
  if ! wait "$HARNESS_PID"; then
    say "  $label failed (see $LOG); its row will be missing"
  fi
  HARNESS_PID=
}

scenarios_for() { # server round
  local server=$1 round=$2 target pid
  pid=${SERVER_PID[$server]}
  case $server in
    classhub) target=http://127.0.0.1:$CLASSHUB_PORT ;;
    sockudo) target=http://127.0.0.1:$SOCKUDO_PORT ;;
    baseline) target=http://127.0.0.1:$BASELINE_PORT ;;
  esac
  local dir=$WORK/round$round
  mkdir -p "$dir"
  if [[ $server == baseline ]]; then
    # The floor speaks only the native protocol; the harness mints tokens it ignores.
    run_lt "baseline connections" "$dir/baseline-connections.json" "${CONNS[@]}" \
      --target "$target" --server-pid "$pid" --protocol json --jwt-secret "$JWT_SECRET"
    run_lt "baseline fanout (json) at $RATE/s" "$dir/baseline-fanout-fixed.json" "${FANOUT[@]}" \
      --target "$target" --server-pid "$pid" --protocol json --jwt-secret "$JWT_SECRET" --rate "$RATE"
    run_lt "baseline fanout (json) at $SATURATE_RATE/s" "$dir/baseline-fanout-saturated.json" \
      "${FANOUT[@]}" --target "$target" --server-pid "$pid" --protocol json \
      --jwt-secret "$JWT_SECRET" --rate "$SATURATE_RATE"
    return
  fi
  run_lt "$server connections" "$dir/$server-connections.json" "${CONNS[@]}" \
    --target "$target" --server-pid "$pid" --protocol pusher "${APP_FLAGS[@]}"
  run_lt "$server fanout at $RATE/s" "$dir/$server-fanout-fixed.json" "${FANOUT[@]}" \
    --target "$target" --server-pid "$pid" --protocol pusher "${APP_FLAGS[@]}" --rate "$RATE"
  run_lt "$server fanout at $SATURATE_RATE/s" "$dir/$server-fanout-saturated.json" "${FANOUT[@]}" \
    --target "$target" --server-pid "$pid" --protocol pusher "${APP_FLAGS[@]}" --rate "$SATURATE_RATE"
  if [[ $server == classhub ]] && ((BASELINE)); then
    # classhub over its native protocol too: the same wire as the floor, so hub / floor is the
    # hub's own overhead and Pusher / native the cost of the Pusher wire and HTTP publishing.
    run_lt "classhub fanout (json) at $RATE/s" "$dir/native-fanout-fixed.json" "${FANOUT[@]}" \
      --target "$target" --server-pid "$pid" --protocol json --jwt-secret "$JWT_SECRET" --rate "$RATE"
    run_lt "classhub fanout (json) at $SATURATE_RATE/s" "$dir/native-fanout-saturated.json" \
      "${FANOUT[@]}" --target "$target" --server-pid "$pid" --protocol json \
      --jwt-secret "$JWT_SECRET" --rate "$SATURATE_RATE"
  fi
}

# --- the rounds ----------------------------------------------------------------------------------
say "results in $WORK; $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
  if ((round % 2)); then order=(classhub sockudo); else order=(sockudo classhub); fi
  if ((BASELINE)); then order+=(baseline); fi
  say "round $round of $ROUNDS: ${order[*]}"
  for server in "${order[@]}"; do
    wait_quiet
    start_server "$server"
    scenarios_for "$server" "$round"
    stop_server "$server"
  done
done

# --- the report ------------------------------------------------------------------------------------
SOCKUDO_VERSION_SEEN=$("$SOCKUDO" --version 2>/dev/null | head -n 1 || true)
[[ -n $SOCKUDO_VERSION_SEEN ]] || SOCKUDO_VERSION_SEEN="sockudo (version not printed; installed $SOCKUDO_VERSION)"
if ((!BUILD)); then
  COMMIT="$COMMIT (binaries not rebuilt: classhub built $(date -u -r "$CLASSHUB" +%Y-%m-%dT%H:%MZ))"
fi
CLASSHUB_SHOWN=$(printf '%q ' "${CLASSHUB_CMD[@]}" | sed "s|$TARGET_DIR|target|g; s|DATA_DIR|\"\$(mktemp -d)\"|")
SOCKUDO_SHOWN="$(printf '%s ' "${SOCKUDO_ENV[@]}")sockudo"
FLOOR_SHOWN=$(printf '%q ' "${FLOOR_CMD[@]}" | sed "s|$TARGET_DIR|target|g")
export QUIET_WAIT QUIET_CORES HOLD WORK OUT ROUNDS DURATION WARMUP ROOMS MEMBERS RATE SATURATE_RATE CONNECTIONS BASELINE
export COMMIT SOCKUDO_VERSION_SEEN CLASSHUB_SHOWN SOCKUDO_SHOWN FLOOR_SHOWN
export CLASSHUB_PORT SOCKUDO_PORT BASELINE_PORT APP_ID APP_KEY APP_SECRET JWT_SECRET
export MACHINE_NPROC=$(nproc)
export MACHINE_CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
export MACHINE_KERNEL=$(uname -sr)
export MACHINE_MEM=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
export RUSTC_VERSION=$(rustc --version 2>/dev/null || echo unknown)
export NOFILE
INVOCATION=loadtest/compare.sh
if ((${#ORIGINAL_ARGS[@]})); then INVOCATION+=" $(printf '%q ' "${ORIGINAL_ARGS[@]}")"; fi
export INVOCATION
lt_shown() { printf '%q ' "$LT" "$@" | sed "s|$TARGET_DIR|target|g; s|@URL@|\$URL|g; s|@PID@|\$PID|g; s| \$||"; }
export CMD_CONNECTIONS=$(lt_shown "${CONNS[@]}" --target @URL@ --server-pid @PID@ --protocol pusher "${APP_FLAGS[@]}" --json connections.json)
export CMD_FANOUT_FIXED=$(lt_shown "${FANOUT[@]}" --target @URL@ --server-pid @PID@ --protocol pusher "${APP_FLAGS[@]}" --rate "$RATE" --json fanout-fixed.json)
export CMD_FANOUT_SATURATED=$(lt_shown "${FANOUT[@]}" --target @URL@ --server-pid @PID@ --protocol pusher "${APP_FLAGS[@]}" --rate "$SATURATE_RATE" --json fanout-saturated.json)
export CMD_FLOOR_CONNECTIONS=$(lt_shown "${CONNS[@]}" --target "http://127.0.0.1:$BASELINE_PORT" --server-pid @PID@ --protocol json --jwt-secret "$JWT_SECRET" --json baseline-connections.json)
export CMD_FLOOR_FANOUT=$(lt_shown "${FANOUT[@]}" --target "http://127.0.0.1:$BASELINE_PORT" --server-pid @PID@ --protocol json --jwt-secret "$JWT_SECRET" --rate "$RATE" --json baseline-fanout.json)
RUN_VARS=(INVOCATION ROUNDS WARMUP DURATION HOLD QUIET_WAIT QUIET_CORES MACHINE_NPROC MACHINE_CPU
  MACHINE_KERNEL MACHINE_MEM NOFILE RUSTC_VERSION COMMIT SOCKUDO_VERSION_SEEN ROOMS MEMBERS RATE
  SATURATE_RATE CONNECTIONS BASELINE CLASSHUB_PORT SOCKUDO_PORT CLASSHUB_SHOWN SOCKUDO_SHOWN
  FLOOR_SHOWN CMD_CONNECTIONS CMD_FANOUT_FIXED CMD_FANOUT_SATURATED CMD_FLOOR_CONNECTIONS
  CMD_FLOOR_FANOUT)
declare -p "${RUN_VARS[@]}" >"$WORK/run.env"
write_table
say "table written to $OUT"
cat "$OUT"
