#!/usr/bin/env bash
# Content search over many lessons (issue 19; docs/benchmarks.md).
#
# Per backend (PostgreSQL in a fresh database, dropped at the end, and the embedded SQLite):
# starts a fresh release `classhub serve` with raised REST limits and runs
# `classhub-loadtest search`: one educator creates COURSES courses and LESSONS lessons over
# REST (16 at once; deterministic text from a fixed vocabulary), then CLIENTS educators search
# `GET /api/v1/lessons` in a closed loop for DURATION s with a rotating mix (a common word, a
# rare word, two words, a word within a subject, grade + tag sorted by title, the common word's
# second page), 20 rows a page. Reports the seeding rate, queries/s and latency per kind; the
# answers are checked against the seeded corpus. Everything has a time-out; the server is
# stopped on exit. JSON and text reports go to OUT_DIR.
#
# Options: --backends postgres,sqlite  --lessons 100000  --courses 100  --clients 4
#          --duration 30  --request-timeout 300 (s per answer)  --port 18631  --out-dir DIR
#          --no-build (use the release binaries already built)
#
#   loadtest/search.sh                                  # both backends, 100 000 lessons
#   loadtest/search.sh --backends sqlite --lessons 10000 --duration 10 --no-build
set -euo pipefail

BACKENDS=postgres,sqlite PORT=18631 BUILD=1 OUT_DIR="" DURATION=30 LESSONS=100000 COURSES=100
CLIENTS=4 REQUEST_TIMEOUT=300
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
while (($#)); do
  case $1 in
    --backends) BACKENDS=$2; shift 2 ;;
    --lessons) LESSONS=$2; shift 2 ;;
    --courses) COURSES=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --request-timeout) REQUEST_TIMEOUT=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --out-dir) OUT_DIR=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --help | -h) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "search.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=common.sh
source "$ROOT/loadtest/common.sh"
prepare_run search
SECRET=search-loadtest-secret-0123456789abcdef
TENANT=loadtest
DB=classhub_search_bench

SERVER_PID="" DATA_DIR=""
trap stop_all EXIT
trap 'exit 130' INT TERM

IFS=, read -r -a BACKEND_LIST <<<"$BACKENDS"
for backend in "${BACKEND_LIST[@]}"; do
  DATA_DIR=$(mktemp -d /tmp/classhub-search-XXXXXX)
  case $backend in
    postgres)
      url=$(fresh_database) ;;
    sqlite) url="sqlite:$DATA_DIR/classhub.db" ;;
    *) echo "search.sh: unknown backend $backend (postgres or sqlite)" >&2; exit 2 ;;
  esac
  DATABASE_URL=$url "$CLASSHUB" serve --bind "127.0.0.1:$PORT" --data-dir "$DATA_DIR" \
    --jwt-secret "$SECRET" \
    --api-rate-per-token 100000 --api-burst-per-token 100000 \
    --api-rate-per-ip 100000 --api-burst-per-ip 100000 \
    >>"$OUT_DIR/classhub-$backend.log" 2>&1 &
  SERVER_PID=$!
  wait_port "$PORT" 60 "$SERVER_PID" || { echo "search.sh: classhub did not listen; see $OUT_DIR/classhub-$backend.log" >&2; exit 1; }
  say "$backend: $LESSONS lessons over $COURSES courses, then $CLIENTS clients searching for $DURATION s"
  # Seeding 100 000 lessons takes minutes (the time-out allows 200 lessons/s); a search on
  # SQLite may take minutes too.
  timeout $((DURATION + 4 * REQUEST_TIMEOUT + LESSONS / 200)) "$LOADTEST" search --target "http://127.0.0.1:$PORT" \
    --jwt-secret "$SECRET" --tenant "$TENANT" --courses "$COURSES" --lessons "$LESSONS" \
    --clients "$CLIENTS" --request-timeout "$REQUEST_TIMEOUT" --warmup 5 --duration "$DURATION" \
    --json "$OUT_DIR/search-$backend.json" | tee "$OUT_DIR/search-$backend.txt"
  stop_server
  [[ $backend == postgres ]] && drop_database
done
say "reports in $OUT_DIR"
