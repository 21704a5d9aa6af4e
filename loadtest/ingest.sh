#!/usr/bin/env bash
# Durable ingest over sockets (issue 21, part 3; docs/benchmarks.md).
#
# Per backend (PostgreSQL in a fresh database, dropped at the end, and the embedded SQLite) and
# per shape (publishers × events in flight): starts a fresh release `classhub serve` and runs
# `classhub-loadtest ingest`: educators publish durable events (unique ids) into a game room
# each and count the replies, which arrive after the commit holding the event. Reports acks/s,
# publish → ack latency, and the server's and harness's CPU over the window. Each shape gets a fresh server and
# database, so no run pays for an earlier run's rows. The per-connection publish rate is lifted
# (each publisher sends thousands of events a second). Everything has a time-out; the server is
# stopped on exit. JSON and text reports go to OUT_DIR.
#
# Options: --backends postgres,sqlite  --shapes 16x256,32x512  --duration 20  --warmup 5
#          --port 18641  --out-dir DIR  --no-build (use the release binaries already built)
#          --profile (perf record the server during each measured window, if perf exists)
#          -- EXTRA...   (passed to `classhub serve`, e.g. -- --sink-writers 3)
#
#   loadtest/ingest.sh                                   # both backends, both shapes
#   loadtest/ingest.sh --backends postgres --shapes 32x512 --no-build
set -euo pipefail

BACKENDS=postgres,sqlite SHAPES=16x256,32x512 PORT=18641 BUILD=1 OUT_DIR="" DURATION=20 WARMUP=5
PROFILE=0 EXTRA=()
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
while (($#)); do
  case $1 in
    --backends) BACKENDS=$2; shift 2 ;;
    --shapes) SHAPES=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --out-dir) OUT_DIR=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --profile) PROFILE=1; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    --help | -h) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "ingest.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=common.sh
source "$ROOT/loadtest/common.sh"
prepare_run ingest
SECRET=ingest-loadtest-secret-0123456789abcdef
DB=classhub_ingest_bench

SERVER_PID="" DATA_DIR=""
trap stop_all EXIT
trap 'exit 130' INT TERM

IFS=, read -r -a BACKEND_LIST <<<"$BACKENDS"
IFS=, read -r -a SHAPE_LIST <<<"$SHAPES"
for backend in "${BACKEND_LIST[@]}"; do
  for shape in "${SHAPE_LIST[@]}"; do
    publishers=${shape%x*} in_flight=${shape#*x}
    [[ $publishers =~ ^[0-9]+$ && $in_flight =~ ^[0-9]+$ ]] ||
      { echo "ingest.sh: a shape is PUBLISHERSxIN_FLIGHT, e.g. 16x256 (got $shape)" >&2; exit 2; }
    DATA_DIR=$(mktemp -d /tmp/classhub-ingest-XXXXXX)
    case $backend in
      postgres)
        url=$(fresh_database) ;;
      sqlite) url="sqlite:$DATA_DIR/classhub.db" ;;
      *) echo "ingest.sh: unknown backend $backend (postgres or sqlite)" >&2; exit 2 ;;
    esac
    name=$backend-${publishers}x$in_flight
    DATABASE_URL=$url "$CLASSHUB" serve --bind "127.0.0.1:$PORT" --data-dir "$DATA_DIR" \
      --jwt-secret "$SECRET" --publish-rate 1000000 --publish-burst 1000000 \
      "${EXTRA[@]}" >>"$OUT_DIR/classhub-$name.log" 2>&1 &
    SERVER_PID=$!
    wait_port "$PORT" 60 "$SERVER_PID" || { echo "ingest.sh: classhub did not listen; see $OUT_DIR/classhub-$name.log" >&2; exit 1; }
    say "$backend: $publishers publishers × $in_flight in flight, ${WARMUP}s warm-up, ${DURATION}s measured"
    if ((PROFILE)) && command -v perf >/dev/null; then
      (sleep "$((WARMUP + 1))"; exec perf record -F 499 -g -o "$OUT_DIR/perf-$name.data" \
        -p "$SERVER_PID" -- sleep "$((DURATION - 2))") >/dev/null 2>&1 &
      SAMPLER_PID=$!
    fi
    timeout $((WARMUP + DURATION + 120)) "$LOADTEST" ingest --target "http://127.0.0.1:$PORT" \
      --jwt-secret "$SECRET" --publishers "$publishers" --in-flight "$in_flight" \
      --warmup "$WARMUP" --duration "$DURATION" --json "$OUT_DIR/ingest-$name.json" |
      tee "$OUT_DIR/ingest-$name.txt"
    [[ -n ${SAMPLER_PID:-} ]] && { wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""; }
    stop_server
    [[ $backend == postgres ]] && drop_database
  done
done
say "reports in $OUT_DIR"
