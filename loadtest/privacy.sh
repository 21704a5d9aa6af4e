#!/usr/bin/env bash
# Exporting and erasing one student's data while a class keeps playing (docs/benchmarks.md).
#
# Per backend (PostgreSQL in a fresh database, and the embedded SQLite): starts a fresh release
# `classhub serve` (it migrates), seeds one student with EXPORT_EVENTS game events, another with
# ERASE_EVENTS, and OTHER_EVENTS of classmates, straight into the database (seeding is not what
# is measured); then runs `classhub-loadtest fanout` as the class (one room, 30 members, 20
# events/s) twice: a quiet window, and a window during which it exports the first student
# (JSON, then the CSV zip) and erases the second, each timed by curl. The server's RSS is sampled
# every 100 ms; VmHWM is its peak. Everything has a time-out; the server is stopped on exit.
#
#   loadtest/privacy.sh                  # both backends
#   loadtest/privacy.sh --backends sqlite --no-build
set -euo pipefail

EXPORT_EVENTS=1000000 ERASE_EVENTS=100000 OTHER_EVENTS=200000
BACKENDS=postgres,sqlite PORT=18619 BUILD=1 OUT_DIR="" WINDOW=40
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
while (($#)); do
  case $1 in
    --backends) BACKENDS=$2; shift 2 ;;
    --export-events) EXPORT_EVENTS=$2; shift 2 ;;
    --erase-events) ERASE_EVENTS=$2; shift 2 ;;
    --other-events) OTHER_EVENTS=$2; shift 2 ;;
    --window) WINDOW=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --out-dir) OUT_DIR=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --help | -h) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "privacy.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=common.sh
source "$ROOT/loadtest/common.sh"
prepare_run privacy
SECRET=privacy-loadtest-secret-0123456789abcdef
TENANT=loadtest

SERVER_PID="" DATA_DIR="" SAMPLER_PID=""
trap stop_server EXIT
trap 'exit 130' INT TERM

# The seed, one statement per backend: users, then events (progress events naming the student).
seed_sql() { # dialect
  local series json now
  if [[ $1 == postgres ]]; then
    series() { echo "SELECT g FROM generate_series(1, $1) AS g"; }
    json="jsonb_build_object('student', who, 'lesson', 'l' || (g % 50), 'percent', g % 100, 'time_spent_secs', 5)"
    now="now()"
  else
    series() { echo "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < $1) SELECT g FROM s"; }
    json="json_object('student', who, 'lesson', 'l' || (g % 50), 'percent', g % 100, 'time_spent_secs', 5)"
    now="strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
  fi
  cat <<SQL
INSERT INTO tenants (id, name) VALUES ('$TENANT', '$TENANT') ON CONFLICT (id) DO NOTHING;
INSERT INTO users (id, tenant_id, role) VALUES ('export-me', '$TENANT', 'student'),
  ('erase-me', '$TENANT', 'student'), ('classmate', '$TENANT', 'student');
SQL
  for spec in "export-me:$EXPORT_EVENTS" "erase-me:$ERASE_EVENTS" "classmate:$OTHER_EVENTS"; do
    local who=${spec%%:*} count=${spec##*:}
    cat <<SQL
INSERT INTO game_events (tenant_id, event_id, room, kind, sender, data, seq, sent_at)
  SELECT '$TENANT', '$who-' || g, 'game:$TENANT:job-1', 'progress', '$who',
         $(echo "$json" | sed "s/who/'$who'/"), g, $now FROM ($(series "$count")) AS n;
SQL
  done
}

sample_rss() { # pid file
  while kill -0 "$1" 2>/dev/null; do
    awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null >>"$2" || true
    sleep 0.1
  done
}

timed() { # label method path token -> "label status seconds bytes"
  curl -s -o /dev/null -X "$2" -H "Authorization: Bearer $4" \
    -w "$1 %{http_code} %{time_total} %{size_download}\n" "http://127.0.0.1:$PORT$3"
}

IFS=, read -r -a BACKEND_LIST <<<"$BACKENDS"
for backend in "${BACKEND_LIST[@]}"; do
  DATA_DIR=$(mktemp -d /tmp/classhub-privacy-XXXXXX)
  url=""
  if [[ $backend == postgres ]]; then
    db=classhub_privacy_bench
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    url=${PG_ADMIN%/*}/$db
  else
    url="sqlite:$DATA_DIR/classhub.db"
  fi
  DATABASE_URL=$url "$CLASSHUB" serve --bind "127.0.0.1:$PORT" --data-dir "$DATA_DIR" \
    --jwt-secret "$SECRET" --publish-rate 100000 --publish-burst 100000 \
    >>"$OUT_DIR/classhub-$backend.log" 2>&1 &
  SERVER_PID=$!
  wait_port "$PORT" 60 "$SERVER_PID" || { echo "privacy.sh: classhub did not listen; see $OUT_DIR/classhub-$backend.log" >&2; exit 1; }
  say "$backend: seeding $EXPORT_EVENTS + $ERASE_EVENTS + $OTHER_EVENTS events"
  started=$SECONDS
  if [[ $backend == postgres ]]; then
    seed_sql postgres | psql "$url" -q -v ON_ERROR_STOP=1
    psql "$url" -qc "VACUUM ANALYZE game_events"
  else
    seed_sql sqlite | sqlite3 -bail "$DATA_DIR/classhub.db"
  fi
  say "$backend: seeded in $((SECONDS - started)) s"
  admin=$("$CLASSHUB" token --tenant "$TENANT" --role admin --sub bench-admin --jwt-secret "$SECRET")
  : >"$OUT_DIR/rss-$backend.txt"
  sample_rss "$SERVER_PID" "$OUT_DIR/rss-$backend.txt" &
  SAMPLER_PID=$!
  class=("$LOADTEST" fanout --target "http://127.0.0.1:$PORT" --jwt-secret "$SECRET"
    --rooms 1 --members 30 --rate 20 --warmup 3 --duration "$WINDOW" --server-pid "$SERVER_PID")
  say "$backend: the class alone"
  timeout $((WINDOW + 120)) "${class[@]}" --json "$OUT_DIR/quiet-$backend.json" >"$OUT_DIR/quiet-$backend.txt"
  rss_before=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
  say "$backend: the class while exporting and erasing"
  timeout $((WINDOW + 120)) "${class[@]}" --json "$OUT_DIR/busy-$backend.json" >"$OUT_DIR/busy-$backend.txt" &
  class_pid=$!
  sleep 5
  {
    timed export-json GET /api/v1/users/export-me/export "$admin"
    timed export-zip GET /api/v1/users/export-me/export.zip "$admin"
    timed erase DELETE /api/v1/users/erase-me "$admin"
  } | tee "$OUT_DIR/timings-$backend.txt"
  wait "$class_pid"
  rss_peak=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
  echo "rss_kib before=$rss_before peak=$rss_peak" | tee -a "$OUT_DIR/timings-$backend.txt"
  grep -h "latency" "$OUT_DIR/quiet-$backend.txt" "$OUT_DIR/busy-$backend.txt" | tee -a "$OUT_DIR/timings-$backend.txt"
  stop_server
  [[ $backend == postgres ]] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS classhub_privacy_bench"
done
say "reports in $OUT_DIR"
