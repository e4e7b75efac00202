#!/usr/bin/env bash
# Rooms on one core: `meridian serve` pinned to core 0 on a fresh SQLite
# database, loadbot pinned to the other cores. The first bot creates a 40 x 40
# space with CAPACITY seats per room (`--create-space 40x40:CAPACITY`) and
# every bot joins it, so BOTS / CAPACITY rooms start, each an instance on the
# simulation threads; the bots random-walk for the window.
#
#   scripts/rooms-bench.sh BOTS CAPACITY [--duration 30s] [--ramp-up SECONDS]
#                                        [--threads N]
#
# Builds release (`cargo build --release -p meridian -p loadbot`) in
# $CARGO_TARGET_DIR (default `target`), then prints loadbot's report (server
# CPU over the window, snapshots per bot per second, the rooms, join -> Welcome
# for joins that started a room's instance and for the others) and the
# instances' tick duration quantiles from the server's
# `meridian_instance_tick_duration_seconds` (the bucket bound at or above the
# quantile). Every wait has a deadline; whatever the script started is killed
# on exit.
set -euo pipefail
usage() {
  sed -n '2,9p' "$0" >&2
  exit 2
}
[ $# -ge 2 ] || usage
bots=$1
capacity=$2
shift 2
[[ "$bots" =~ ^[0-9]+$ && "$capacity" =~ ^[0-9]+$ ]] || usage
duration=30
ramp_up=$((bots / 4 > 10 ? bots / 4 : 10))
threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=${2%s}; shift 2 ;;
    --ramp-up) ramp_up=${2%s}; shift 2 ;;
    --threads) threads=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
timeout 3600 cargo build --release -p meridian -p loadbot >&2
work=$(mktemp -d /tmp/rooms-bench.XXXXXX)
server_pid=""
loadbot_pid=""
cleanup() {
  for pid in $loadbot_pid $server_pid; do
    kill "$pid" 2>/dev/null || true
  done
  sleep 1
  for pid in $loadbot_pid $server_pid; do
    kill -9 "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
cat >"$work/serve.toml" <<EOF
[serve]
login_attempts_per_address_per_minute = 1000000
login_attempts_per_account_per_minute = 1000
max_instances = 100000
instance_starts_per_account_per_minute = 10000
simulation_threads = $threads
[netcode]
max_pending_connections = 100000
max_pending_per_address = 100000
retry_at_pending = 100000
EOF
http=127.0.0.1:28081
taskset -c 0 "$target/release/meridian" serve --config "$work/serve.toml" \
  --database-url "sqlite://$work/world.db" \
  --game-address 127.0.0.1:24434 --http-address "$http" \
  >"$work/server.log" 2>&1 &
server_pid=$!
deadline=$((SECONDS + 60))
until curl -sf --max-time 1 "http://$http/health" >/dev/null; do
  if [ $SECONDS -ge $deadline ] || ! kill -0 "$server_pid" 2>/dev/null; then
    echo "rooms-bench: the server did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  sleep 0.2
done
cores=$(nproc)
bot_cores=1
[ "$cores" -gt 2 ] && bot_cores="1-$((cores - 1))"
timeout $((ramp_up + duration + 180)) taskset -c "$bot_cores" "$target/release/loadbot" \
  --server "http://$http" --bots "$bots" --behaviours random-walk \
  --create-space "40x40:$capacity" --accounts "rooms$$" \
  --ramp-up "${ramp_up}s" --duration "${duration}s" --quiet \
  --json "$work/report.json" >"$work/loadbot.txt" 2>&1 &
loadbot_pid=$!
wait "$loadbot_pid" || true
loadbot_pid=""
cat "$work/loadbot.txt"
curl -sf --max-time 5 "http://$http/metrics" >"$work/metrics.txt"
echo "instances running: $(awk '/^meridian_instances_running /{print $2}' "$work/metrics.txt")"
awk '
  /^meridian_instance_tick_duration_seconds_bucket/ {
    match($0, /le="[^"]+"/); bound = substr($0, RSTART + 4, RLENGTH - 5)
    bounds[n] = bound; counts[n] = $2; n++
  }
  /^meridian_instance_tick_duration_seconds_count/ { total = $2 }
  END {
    if (total == 0) { print "instance ticks: none"; exit }
    split("0.5 0.99", qs, " ")
    for (i = 1; i <= 2; i++) {
      for (j = 0; j < n; j++) if (counts[j] >= qs[i] * total) { printf "instance tick p%s <= %s s\n", qs[i] * 100, bounds[j]; break }
    }
    printf "instance ticks: %d\n", total
  }' "$work/metrics.txt"
echo "(work folder: $work)"
