#!/usr/bin/env bash
# Starts the real `meridian serve` (debug build) on loopback ports chosen by the system,
# with a fresh SQLite database in a temporary folder, runs the codec's checks against the
# examples of docs/PROTOCOL.md, then two stranger clients end to end (e2e.py), and stops
# everything. Every wait has a deadline; the whole run is bounded by `timeout`.
#
#   clients/stranger-python/run_against_server.sh [path/to/meridian]
#
# Needs python3 (3.11) with `websockets` (requirements.txt). Builds the server with
# `cargo build -p meridian` unless a binary is given or MERIDIAN_BIN is set.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/meridian-target}"
bin="${1:-${MERIDIAN_BIN:-}}"
if [ -z "$bin" ]; then
  (cd "$root" && CARGO_INCREMENTAL=0 cargo build -p meridian --locked)
  bin="$CARGO_TARGET_DIR/debug/meridian"
fi

python3 -c 'import websockets' 2>/dev/null || {
  echo "python3 has no websockets: pip install -r $here/requirements.txt" >&2
  exit 2
}

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== the codec against the examples of docs/PROTOCOL.md"
(cd "$here" && python3 -m unittest -q test_doc_examples)

echo "== meridian serve on a fresh SQLite database in $work"
# --spawn uniform: newcomers appear anywhere in the world, away from the elements of
# the plaza, so that a straight walk is not blocked by one. A world of 700 m and an
# interest radius of 1,000 m (the largest the server takes): each client sees the other
# wherever they appear.
printf '[sim]\ninterest_radius = 1000.0\n' >"$work/meridian.toml"
(cd "$work" && exec "$bin" serve --config "$work/meridian.toml" --world-size 700 \
  --http-address 127.0.0.1:0 --game-address 127.0.0.1:0 \
  --database-url "sqlite://$work/meridian.db" --spawn uniform >"$work/stdout.log" 2>"$work/stderr.log") &
server_pid=$!
url=""
for _ in $(seq 1 200); do
  # docs/OPERATIONS.md: the last start-up line says "ready" and carries http=...
  url="$(grep -o 'ready;.*http=http://[0-9.:]*' "$work/stderr.log" 2>/dev/null | sed 's/.*http=//' || true)"
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "FAIL: the server did not say it was ready within 20 s" >&2
  cat "$work/stderr.log" >&2
  exit 1
fi
echo "server ready at $url"

echo "== two stranger clients"
status=0
(cd "$here" && timeout --kill-after=5s 120s python3 e2e.py --server "$url" --interest-radius 1000) || status=$?
if [ "$status" -ne 0 ]; then
  echo "== server log (last 40 lines)"
  tail -n 40 "$work/stderr.log"
fi
exit "$status"
