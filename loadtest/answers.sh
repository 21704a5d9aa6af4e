#!/usr/bin/env bash
# Scoring in-game quiz answers (issue 18; docs/benchmarks.md).
#
# Per backend (PostgreSQL in a fresh database, and the embedded SQLite): starts a fresh release
# `classhub serve`, makes a game-server key, and runs `classhub-loadtest classroom --answers`:
# the harness sets up a course with a ten-question assessment, CLASSES classes of PLAYERS linked
# players each, and their game servers post quiz answers at RATE answers/s in batches of
# PLAYERS; the server scores each against the answer key and writes the attempt's result in the
# commit the batch's answer waits for. Reports accepted answers/s, answer → teacher socket
# latency and batch → commit acknowledgement latency. Everything has a time-out; the server is
# stopped on exit.
#
#   loadtest/answers.sh                              # both backends, 5 000 answers/s
#   loadtest/answers.sh --backends sqlite --rate 2000 --no-build
#   loadtest/answers.sh --checkpoints          # the same load as unscored checkpoint events
set -euo pipefail

BACKENDS=postgres,sqlite PORT=18621 BUILD=1 OUT_DIR="" DURATION=30 RATE=5000 CLASSES=20 PLAYERS=50
MODE=--answers
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
while (($#)); do
  case $1 in
    --backends) BACKENDS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --classes) CLASSES=$2; shift 2 ;;
    --players) PLAYERS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --out-dir) OUT_DIR=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --checkpoints) MODE=""; shift ;;
    --help | -h) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "answers.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=common.sh
source "$ROOT/loadtest/common.sh"
prepare_run answers
SECRET=answers-loadtest-secret-0123456789abcdef
TENANT=loadtest

SERVER_PID="" DATA_DIR=""
trap stop_server EXIT
trap 'exit 130' INT TERM

IFS=, read -r -a BACKEND_LIST <<<"$BACKENDS"
for backend in "${BACKEND_LIST[@]}"; do
  DATA_DIR=$(mktemp -d /tmp/classhub-answers-XXXXXX)
  if [[ $backend == postgres ]]; then
    db=classhub_answers_bench
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    url=${PG_ADMIN%/*}/$db
  else
    url="sqlite:$DATA_DIR/classhub.db"
  fi
  key=$(DATABASE_URL=$url "$CLASSHUB" gamekey create --tenant "$TENANT" --data-dir "$DATA_DIR" --label answers-bench | head -n 1)
  DATABASE_URL=$url "$CLASSHUB" serve --bind "127.0.0.1:$PORT" --data-dir "$DATA_DIR" \
    --jwt-secret "$SECRET" --roblox-link-per-minute 100000 \
    --api-rate-per-token 100000 --api-burst-per-token 100000 \
    --api-rate-per-ip 100000 --api-burst-per-ip 100000 \
    >>"$OUT_DIR/classhub-$backend.log" 2>&1 &
  SERVER_PID=$!
  wait_port "$PORT" 60 "$SERVER_PID" || { echo "answers.sh: classhub did not listen; see $OUT_DIR/classhub-$backend.log" >&2; exit 1; }
  say "$backend: $RATE answers/s from $CLASSES classes of $PLAYERS players for $DURATION s"
  # shellcheck disable=SC2086 # MODE is one flag or none
  timeout $((DURATION + 300)) "$LOADTEST" classroom $MODE --target "http://127.0.0.1:$PORT" \
    --jwt-secret "$SECRET" --tenant "$TENANT" --game-key "$key" --classes "$CLASSES" --students 0 \
    --batch "$PLAYERS" --rate "$RATE" --in-flight 8 --warmup 5 --duration "$DURATION" \
    --json "$OUT_DIR/answers-$backend.json" | tee "$OUT_DIR/answers-$backend.txt"
  stop_server
  [[ $backend == postgres ]] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS classhub_answers_bench"
done
say "reports in $OUT_DIR"
