#!/usr/bin/env bash
# The abuse measurement on loopback: a normal class measured quiet, then while hostile clients
# flood the same server, once with every flood and once per flood alone (docs/benchmarks.md).
#
# Each run starts a fresh release `classhub serve` (embedded SQLite in a temp data dir, every
# cap at its shipped default, 127.0.0.1:PORT) so its VmHWM is that run's peak, runs
# `classhub-loadtest abuse` against it, stops it, and keeps the report (text and JSON) in the
# output directory; at the end a markdown table of every run is written there (table.md).
# Everything has a time-out; the server is stopped on exit (trap).
#
#   loadtest/abuse.sh                           # 20 s per phase: all floods, then each alone
#   loadtest/abuse.sh --duration 10 --runs all,rooms,game-keys
#   loadtest/abuse.sh --help
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: loadtest/abuse.sh [options] [-- extra classhub-loadtest abuse flags]

  --duration SECS   measured window of each phase (quiet and abused)   [20]
  --warmup SECS     warm-up of each phase                               [3]
  --runs LIST       comma-separated: `all` (every flood at once) and/or flood names
                    (rejoin,presence,rooms,game-keys,pusher-sockets,garbage), each run alone
                    [all,rejoin,presence,rooms,game-keys,pusher-sockets,garbage]
  --port P          classhub's port on 127.0.0.1                        [18609]
  --out-dir DIR     reports and table.md            [target/abuse/<time>]
  --no-build        use the release binaries already in the target dir

Environment: CARGO_TARGET_DIR (where the release binaries are).
EOF
}

DURATION=20 WARMUP=3 RUNS=all,rejoin,presence,rooms,game-keys,pusher-sockets,garbage
PORT=18609 OUT_DIR="" BUILD=1 EXTRA=()
while (($#)); do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --out-dir) OUT_DIR=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --help | -h) usage; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "abuse.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
command -v python3 >/dev/null || { echo "abuse.sh needs python3 (for the table)" >&2; exit 1; }
# shellcheck source=common.sh
source "$ROOT/loadtest/common.sh"
prepare_run abuse
SECRET=abuse-loadtest-secret-0123456789abcdef

SERVER_PID="" DATA_DIR=""
trap stop_server EXIT
trap 'exit 130' INT TERM

IFS=, read -r -a RUN_LIST <<<"$RUNS"
for run in "${RUN_LIST[@]}"; do
  floods=$run
  [[ $run == all ]] && floods=rejoin,presence,rooms,game-keys,pusher-sockets,garbage
  DATA_DIR=$(mktemp -d /tmp/classhub-abuse-XXXXXX)
  # The class's students chat faster than a real class: lift the per-student chat limit.
  "$CLASSHUB" serve --bind "127.0.0.1:$PORT" --data-dir "$DATA_DIR" --jwt-secret "$SECRET" \
    --chat-per-minute 100000 >>"$OUT_DIR/classhub-$run.log" 2>&1 &
  SERVER_PID=$!
  wait_port "$PORT" 60 "$SERVER_PID" || { echo "abuse.sh: classhub did not listen on $PORT; see $OUT_DIR/classhub-$run.log" >&2; exit 1; }
  say "run $run: classhub pid $SERVER_PID on 127.0.0.1:$PORT"
  cmd=("$LOADTEST" abuse --target "http://127.0.0.1:$PORT" --jwt-secret "$SECRET"
    --server-pid "$SERVER_PID" --duration "$DURATION" --warmup "$WARMUP" --floods "$floods"
    --json "$OUT_DIR/$run.json" "${EXTRA[@]}")
  echo "${cmd[*]}" >"$OUT_DIR/$run.cmd"
  timeout $((2 * (DURATION + WARMUP) + 120)) "${cmd[@]}" | tee "$OUT_DIR/$run.txt"
  stop_server
done

OUT_DIR=$OUT_DIR RUNS=$RUNS python3 - <<'PY'
import json, os
out = os.environ["OUT_DIR"]
rows = []
header = ("| run | quiet p50 / p99 / max ms | abused p50 / p99 / max ms | p99 abused/quiet | "
          "delivered quiet (down, up) | delivered abused (down, up) | peak RSS MB (HWM) | "
          "CPU s quiet → abused: server, harness, machine | refusals |")
rows.append(header)
rows.append("|---" * 9 + "|")
def ms(us): return f"{us / 1000:.1f}"
def mb(kib): return "?" if kib is None else f"{kib * 1024 / 1e6:.0f}"
for run in os.environ["RUNS"].split(","):
    path = os.path.join(out, f"{run}.json")
    if not os.path.exists(path):
        continue
    r = json.load(open(path))["results"]
    q, a = r["quiet"], r["abused"]
    lat = lambda p: f'{ms(p["latency_us"]["p50"])} / {ms(p["latency_us"]["p99"])} / {ms(p["latency_us"]["max"])}'
    dl = lambda p: f'{p["down"]["delivered"]}/{p["down"]["expected"]}, {p["up"]["delivered"]}/{p["up"]["expected"]}'
    refusals = "; ".join(
        f'{f["flood"]}: ' + ", ".join(f"{k} {v}" for k, v in f["refused"].items())
        for f in r["flood_results"])
    def cpu(p):
        return ", ".join("?" if p.get(k) is None else f"{p[k]:.1f}"
                         for k in ("server_cpu_secs", "harness_cpu_secs", "machine_cpu_secs"))
    ratio = "?" if r["p99_ratio"] is None else f'{r["p99_ratio"]:.2f}'
    rows.append(f'| {run} | {lat(q)} | {lat(a)} | {ratio} | {dl(q)} | {dl(a)} | '
                f'{mb(r["server_peak_rss_kib"])} ({mb(r["server_hwm_kib"])}) | {cpu(q)} → {cpu(a)} | {refusals} |')
open(os.path.join(out, "table.md"), "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
say "reports and table.md in $OUT_DIR"
