# Shared by the load-test scripts (sourced after setting ROOT, BUILD and OUT_DIR from the
# options): preparing a run (`prepare_run NAME`: the target dir, the report dir, `say`, the
# release build unless --no-build), waiting for a server's port, and stopping the server (and a
# sampler) it started, removing its data dir. The caller sets SERVER_PID, SAMPLER_PID
# (optional) and DATA_DIR, and traps `stop_server EXIT` (or `stop_all EXIT` when it made a
# database with `fresh_database`: PG_ADMIN is the admin URL, DB the database's name).

say() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

prepare_run() { # name: sets TARGET, OUT_DIR (default under the target dir), CLASSHUB, LOADTEST
  TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
  OUT_DIR=${OUT_DIR:-$TARGET/$1/$(date -u +%Y%m%dT%H%M%SZ)}
  mkdir -p "$OUT_DIR"
  if ((BUILD)); then
    say "building classhub and classhub-loadtest in release"
    (cd "$ROOT" && cargo build --release -p server --bin classhub -p loadtest --bin classhub-loadtest)
  fi
  CLASSHUB=$TARGET/release/classhub
  LOADTEST=$TARGET/release/classhub-loadtest
}

stop_server() {
  [[ -n ${SAMPLER_PID:-} ]] && kill "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=""
  if [[ -n ${SERVER_PID:-} ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
  [[ -n ${DATA_DIR:-} ]] && rm -rf "$DATA_DIR"
  DATA_DIR=""
}

wait_port() { # port seconds pid
  local deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    kill -0 "$3" 2>/dev/null || return 1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

fresh_database() { # (re)creates $DB on $PG_ADMIN and prints its URL
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >&2
  echo "${PG_ADMIN%/*}/$DB"
}

drop_database() { psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $DB" 2>/dev/null || true; }

stop_all() { stop_server; [[ -n ${DB:-} ]] && drop_database; true; }
