#!/usr/bin/env bash
# QUIC beside WebSocket (issue 20, part 6; docs/benchmarks.md).
#
# For each pass, each run gets a fresh release `classhub serve` (embedded SQLite, `--quic-bind`
# on UDP PORT+1) and runs the same load with members over /ws (JSON) and then over QUIC (JSON,
# `--protocol quic`), alternating, so both share the machine's state of the moment:
#   rate:      `fanout` ROOMSxMEMBERS at RATE events/s (publishers on /ws either way);
#   saturated: the same rooms asked for SATURATED events/s, more than two cores deliver;
#   idle:      `connections` IDLE idle connections, the server's RSS per connection;
#   lossy:     `fanout` LOSSY_SHAPE at LOSSY_RATE (smaller: the relay is one more process on the
#              same two cores) with the members behind an impaired relay (`classhub-loadtest
#              relay`), per share in LOSSES: QUIC through a UDP relay that drops that share of
#              datagrams each way, /ws through a TCP relay that holds that share of chunks back
#              200 ms (a retransmission's wait, everything behind it waiting too).
# Reports deliveries/s, publish → delivery p50/p99 and the server's CPU per delivery (from the
# reports' server_cpu_secs). Everything has a time-out; the server is stopped on exit. JSON and
# text reports go to OUT_DIR.
#
# Options: --passes 2  --shape 100x30  --rate 1000  --saturated 12000  --idle 5000
#          --losses 0.02,0.05  --lossy-shape 20x30  --lossy-rate 200
#          --runs rate,saturated,idle,lossy  --duration 10  --warmup 3
#          --port 18741 (PORT+1: QUIC, PORT+2: the relay)
#          --out-dir DIR  --no-build (use the release binaries already built)
#
#   loadtest/quic.sh --no-build
set -euo pipefail

PASSES=2 SHAPE=100x30 RATE=1000 SATURATED=12000 IDLE=5000 RUNS=rate,saturated,idle,lossy
LOSSES=0.02,0.05 LOSSY_SHAPE=20x30 LOSSY_RATE=200
DURATION=10 WARMUP=3 PORT=18741 BUILD=1 OUT_DIR=""
while (($#)); do
  case $1 in
    --passes) PASSES=$2; shift 2 ;;
    --shape) SHAPE=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --saturated) SATURATED=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --losses) LOSSES=$2; shift 2 ;;
    --lossy-shape) LOSSY_SHAPE=$2; shift 2 ;;
    --lossy-rate) LOSSY_RATE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --out-dir) OUT_DIR=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --help | -h) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "quic.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
ROOMS=${SHAPE%x*} MEMBERS=${SHAPE#*x}
[[ $ROOMS =~ ^[0-9]+$ && $MEMBERS =~ ^[0-9]+$ ]] ||
  { echo "quic.sh: --shape is ROOMSxMEMBERS, e.g. 100x30 (got $SHAPE)" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=common.sh
source "$ROOT/loadtest/common.sh"
prepare_run quic
SECRET=quic-loadtest-secret-0123456789abcdef
QUIC_PORT=$((PORT + 1)) RELAY_PORT=$((PORT + 2))

SERVER_PID="" DATA_DIR="" RELAY_PID=""
stop_relay() {
  [[ -n $RELAY_PID ]] && { kill "$RELAY_PID" 2>/dev/null || true; wait "$RELAY_PID" 2>/dev/null || true; }
  RELAY_PID=""
}
trap 'stop_relay; stop_server' EXIT
trap 'exit 130' INT TERM

start_server() { # name
  DATA_DIR=$(mktemp -d /tmp/classhub-quic-XXXXXX)
  "$CLASSHUB" serve --bind "127.0.0.1:$PORT" --quic-bind "127.0.0.1:$QUIC_PORT" \
    --data-dir "$DATA_DIR" --jwt-secret "$SECRET" \
    --publish-rate 1000000 --publish-burst 1000000 --max-connections 20000 \
    >>"$OUT_DIR/classhub-$1.log" 2>&1 &
  SERVER_PID=$!
  wait_port "$PORT" 60 "$SERVER_PID" || { echo "quic.sh: classhub did not listen; see $OUT_DIR/classhub-$1.log" >&2; exit 1; }
}

run_one() { # run protocol pass [loss]
  local run=$1 protocol=$2 loss=${4:-} name="$1-$2-$3"
  [[ -n $loss ]] && name="$1$loss-$2-$3"
  local quic_port=$QUIC_PORT member=()
  start_server "$name"
  if [[ $run == lossy ]]; then
    # QUIC's members dial the UDP relay; /ws members the TCP relay (publishers stay direct).
    local kind=tcp to=$PORT
    if [[ $protocol == quic ]]; then kind=udp to=$QUIC_PORT quic_port=$RELAY_PORT; else member=(--member-port "$RELAY_PORT"); fi
    "$LOADTEST" relay --kind "$kind" --listen "$RELAY_PORT" --to "$to" --loss "$loss" \
      --duration $((WARMUP + DURATION + 120)) >>"$OUT_DIR/relay-$name.log" 2>&1 &
    RELAY_PID=$!
    sleep 0.3
  fi
  local common=(--target "http://127.0.0.1:$PORT" --quic-port "$quic_port" --jwt-secret "$SECRET"
    --protocol "$protocol" --warmup "$WARMUP" --duration "$DURATION" --json "$OUT_DIR/$name.json")
  say "pass $3: $run ${loss:+(loss $loss) }over $protocol"
  case $run in
    rate | saturated | lossy)
      local rate=$RATE rooms=$ROOMS members=$MEMBERS
      [[ $run == saturated ]] && rate=$SATURATED
      [[ $run == lossy ]] && rate=$LOSSY_RATE rooms=${LOSSY_SHAPE%x*} members=${LOSSY_SHAPE#*x}
      timeout $((WARMUP + DURATION + 300)) "$LOADTEST" fanout "${common[@]}" --rooms "$rooms" \
        --members "$members" --rate "$rate" --concurrency 200 --source-addresses 4 \
        --server-pid "$SERVER_PID" "${member[@]}" | tee "$OUT_DIR/$name.txt" ;;
    idle)
      timeout $((WARMUP + DURATION + 300)) "$LOADTEST" connections "${common[@]}" \
        --count "$IDLE" --concurrency 200 --source-addresses 4 --server-pid "$SERVER_PID" |
        tee "$OUT_DIR/$name.txt" ;;
    *) echo "quic.sh: unknown run $run (rate, saturated, idle or lossy)" >&2; exit 2 ;;
  esac
  stop_relay
  stop_server
}

IFS=, read -r -a RUN_LIST <<<"$RUNS"
IFS=, read -r -a LOSS_LIST <<<"$LOSSES"
for pass in $(seq 1 "$PASSES"); do
  for run in "${RUN_LIST[@]}"; do
    if [[ $run == lossy ]]; then
      for loss in "${LOSS_LIST[@]}"; do
        for protocol in json quic; do run_one "$run" "$protocol" "$pass" "$loss"; done
      done
    else
      for protocol in json quic; do run_one "$run" "$protocol" "$pass"; done
    fi
  done
done

# One line per report: deliveries/s, p50/p99 and the server's CPU per delivery.
say "summary (run protocol pass: figures)"
for report in "$OUT_DIR"/*.json; do
  python3 - "$report" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
name = os.path.basename(sys.argv[1])[:-5]
res = r["results"]
lat = r.get("latency_us") or {}
def ms(key):
    value = lat.get(key)
    return "-" if value is None else f"{value / 1000:.1f} ms"
if "deliveries_per_sec" in res:
    cpu = res.get("server_cpu_secs")
    per = (cpu * 1e6 / res["deliveries"]) if cpu and res["deliveries"] else None
    print(f"{name}: {res['deliveries_per_sec']:.0f} deliveries/s, p50 {ms('p50')}, p99 {ms('p99')}, "
          f"server CPU {'-' if per is None else f'{per:.2f} µs'}/delivery, "
          f"slow-consumer closes {res['slow_consumer_closes']}")
else:
    per = res.get("rss_per_connection_bytes")
    print(f"{name}: {res['opened']} open, {res['connects_per_sec']:.0f} connects/s, p99 {ms('p99')}, "
          f"server RSS {'-' if per is None else f'{per / 1024:.1f} KiB'}/connection")
PY
done | tee "$OUT_DIR/summary.txt"
say "reports in $OUT_DIR"
