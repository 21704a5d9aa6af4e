#!/usr/bin/env bash
# Fuzzes the REST API against its own OpenAPI document with schemathesis 4: every check, 40
# examples per operation, an admin token and a game-server key (schemathesis.toml says which
# operation gets which, and why a check is narrowed anywhere). Starts the debug `classhub serve`
# on a free loopback port with embedded SQLite in a fresh data dir, stops it at the end, and exits
# non-zero on any failure, or when the server logged an error or a panic.
#
# CLASSHUB_BIN: the binary (default $CARGO_TARGET_DIR/debug/classhub; .ci/run builds it).
# SCHEMATHESIS_SEED, SCHEMATHESIS_WORKERS, SCHEMATHESIS_TIMEOUT (seconds, default 600): the run.
# Further arguments go to `schemathesis run`, e.g. `--include-path-regex '^/api/v1/classes'`.
# Schemathesis is installed into ~/.cache/classhub/schemathesis-venv only when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

target_dir="${CARGO_TARGET_DIR:-$HOME/.cache/classhub/target}"
bin="${CLASSHUB_BIN:-$target_dir/debug/classhub}"
[[ -x "$bin" ]] || { echo "no classhub binary at $bin: cargo build -p server --bin classhub" >&2; exit 1; }

venv="$HOME/.cache/classhub/schemathesis-venv"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q 'version 4\.'; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'schemathesis>=4,<5'
fi

data_dir="$(mktemp -d "${TMPDIR:-/tmp}/classhub-schemathesis.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" || true
  fi
  rm -rf "$data_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tenant=fuzz
# `token` writes the generated JWT secret into the data dir, which `serve` then reads.
CLASSHUB_FUZZ_ADMIN_TOKEN="$("$bin" token --data-dir "$data_dir" --tenant "$tenant" --role admin --sub fuzz-admin --ttl 1h)"
CLASSHUB_FUZZ_GAME_KEY="$("$bin" gamekey create --data-dir "$data_dir" --tenant "$tenant" 2>/dev/null)"
export CLASSHUB_FUZZ_ADMIN_TOKEN CLASSHUB_FUZZ_GAME_KEY

# High rate limits: the fuzzer's requests would otherwise be refused with 429 (documented, but
# then nothing behind the limit is tested). Short long-polls, so GET .../commands answers within a
# second. A plan on sale, so checkout's `plan` has values (Stripe itself stays unconfigured).
RUST_LOG="${RUST_LOG:-warn}" "$bin" serve --bind 127.0.0.1:0 --data-dir "$data_dir" \
  --api-rate-per-ip 100000 --api-burst-per-ip 100000 \
  --api-rate-per-token 100000 --api-burst-per-token 100000 \
  --roblox-link-per-minute 100000 \
  --roblox-poll-wait 1s --roblox-poll-max-wait 1s \
  --stripe-price classroom=price_fuzz \
  >"$data_dir/stdout" 2>"$data_dir/stderr" &
server_pid=$!

base=""
for _ in $(seq 1 100); do
  base="$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$data_dir/stdout" | head -n 1 | sed 's/listening on //')" || true
  [[ -n "$base" ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$data_dir/stderr" >&2; echo "classhub exited early" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$base" ]] || { echo "classhub did not print its address" >&2; exit 1; }

status=0
# From the data dir, so schemathesis' own cache (.schemathesis/) is deleted with it.
cd "$data_dir"
timeout --signal=INT --kill-after=30s "${SCHEMATHESIS_TIMEOUT:-600}" \
  "$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" --no-color \
  run "$base/openapi.json" \
  --checks all \
  --max-examples 40 \
  --seed "${SCHEMATHESIS_SEED:-20240601}" \
  --workers "${SCHEMATHESIS_WORKERS:-2}" \
  --request-timeout 10 \
  --generation-database none \
  "$@" || status=$?

if grep -E 'panicked| ERROR ' "$data_dir/stderr" >&2; then
  echo "classhub logged errors during the run (above)" >&2
  status=1
fi
exit "$status"
