#!/usr/bin/env bash
# Media upload throughput and the server's memory while it streams (issue 19; docs/benchmarks.md).
#
# Starts a fresh `classhub serve` on loopback with a temporary data dir (media in the default
# folder under it, the embedded SQLite), makes an educator's token with `classhub token`,
# generates a SIZE_MB file that starts with an MP4 signature, uploads it ROUNDS times with curl
# (multipart, as a browser would) and reports MB/s per upload and the server's peak resident
# memory (VmHWM from /proc) against its resident memory before the first upload. The server
# streams each upload to storage, so the peak must stay far below the file's size.
# Builds nothing when the release binary exists (or with --no-build, which also accepts a debug
# binary through --binary); everything has a time-out; the server is stopped on exit.
#
#   loadtest/media.sh                          # 50 MB, 3 uploads, release binary
#   loadtest/media.sh --size-mb 200 --rounds 1 --no-build
#   loadtest/media.sh --no-build --binary "$CARGO_TARGET_DIR/debug/classhub"
set -euo pipefail

SIZE_MB=50 ROUNDS=3 PORT=18641 BUILD=1 OUT_DIR="" BINARY=""
while (($#)); do
  case $1 in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --out-dir) OUT_DIR=$2; shift 2 ;;
    --binary) BINARY=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --help | -h) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "media.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=common.sh
source "$ROOT/loadtest/common.sh"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
[[ -x $TARGET/release/classhub ]] && BUILD=0
if ((BUILD)); then
  say "building classhub in release"
  (cd "$ROOT" && cargo build --release -p server --bin classhub)
fi
CLASSHUB=${BINARY:-$TARGET/release/classhub}
[[ -x $CLASSHUB ]] || { echo "media.sh: no $CLASSHUB; build it or pass --binary" >&2; exit 1; }
OUT_DIR=${OUT_DIR:-$TARGET/media/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT_DIR"
SECRET=media-loadtest-secret-0123456789abcdef
TENANT=loadtest

SERVER_PID="" DATA_DIR=""
cleanup() { stop_server; rm -f "${FILE:-}"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

DATA_DIR=$(mktemp -d /tmp/classhub-media-XXXXXX)
FILE=$(mktemp /tmp/classhub-media-upload-XXXXXX.mp4)
# An MP4 `ftyp` box, then random bytes up to SIZE_MB MiB (random: nothing compresses on the way).
printf '\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41' >"$FILE"
head -c $((SIZE_MB * 1024 * 1024 - 32)) /dev/urandom >>"$FILE"
bytes=$(stat -c %s "$FILE")

"$CLASSHUB" serve --bind "127.0.0.1:$PORT" --data-dir "$DATA_DIR" --jwt-secret "$SECRET" \
  --media-max-bytes $((bytes + 1024)) >>"$OUT_DIR/classhub.log" 2>&1 &
SERVER_PID=$!
wait_port "$PORT" 60 "$SERVER_PID" || { echo "media.sh: classhub did not listen; see $OUT_DIR/classhub.log" >&2; exit 1; }
token=$("$CLASSHUB" token --tenant "$TENANT" --role educator --sub bench-teacher --jwt-secret "$SECRET")
curl -sf -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT/api/v1/auth/me"
rss_kib() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$SERVER_PID/status"; }
before=$(rss_kib VmRSS)
say "uploading $bytes bytes $ROUNDS times; server RSS before: $((before / 1024)) MiB"

{
  echo "# media upload: $SIZE_MB MiB MP4-signature file, $ROUNDS uploads, $(basename "$CLASSHUB") at $CLASSHUB"
  for round in $(seq 1 "$ROUNDS"); do
    result=$(timeout 600 curl -s -o "$OUT_DIR/upload-$round.json" -w '%{http_code} %{time_total}' \
      -H "Authorization: Bearer $token" -F "file=@$FILE;type=video/mp4" \
      "http://127.0.0.1:$PORT/api/v1/media")
    read -r status seconds <<<"$result"
    [[ $status == 201 ]] || { echo "media.sh: upload $round answered $status: $(cat "$OUT_DIR/upload-$round.json")" >&2; exit 1; }
    awk -v b="$bytes" -v s="$seconds" -v r="$round" \
      'BEGIN { printf "upload %d: %.2f s, %.1f MB/s (%.1f MiB/s)\n", r, s, b / s / 1e6, b / s / 1048576 }'
  done
  peak=$(rss_kib VmHWM)
  echo "server RSS before the uploads: $((before / 1024)) MiB; peak RSS (VmHWM) after them: $((peak / 1024)) MiB; file: $((bytes / 1048576)) MiB"
  stored=$(find "$DATA_DIR/media" -type f | wc -l)
  echo "objects in the media folder: $stored (one per upload)"
} | tee "$OUT_DIR/media.txt"
say "report in $OUT_DIR/media.txt"
