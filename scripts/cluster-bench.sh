#!/usr/bin/env bash
# Three shards of one 3 x 3 world and a loadbot swarm on this machine, with the
# real PostgreSQL and Redis; optionally `kill -9` of shard 3 during the run.
#
#   scripts/cluster-bench.sh [BOTS] [kill]
#
# Needs the release build (`cargo build --release --bin meridian -p loadbot`),
# PostgreSQL at 127.0.0.1:5432 (user postgres, trust) and Redis at 6379.
# Prints loadbot's report and, per shard, the handoff figures from /metrics.
# The bots sign up and log in as bench-0, bench-1, ... (shards never offer
# development tokens).
set -euo pipefail

bots=${1:-1000}
kill_one=${2:-}
target=${CARGO_TARGET_DIR:-target}/release
database=meridian_bench_$$
cluster=bench-$$
work=$(mktemp -d)
export MERIDIAN_TOKEN_SECRET="cluster-bench secret, thirty-two bytes or more"

cleanup() {
  kill -9 $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  dropdb -h 127.0.0.1 -U postgres --if-exists "$database" || true
}
trap cleanup EXIT

createdb -h 127.0.0.1 -U postgres "$database"
# Every bot logs in from 127.0.0.1: lift the per-address login limit (and the
# per-address share of HTTP connections) for the run.
cat >"$work/loadtest.toml" <<'TOML'
[serve]
login_attempts_per_address_per_minute = 1000000
login_attempts_per_account_per_minute = 1000
http_max_connections_per_address = 65536
TOML
pids=()
for n in 1 2 3; do
  "$target/meridian" serve --config "$work/loadtest.toml" \
    --shard-id "$n" --shards 3 --cluster-name "$cluster" \
    --zones 3x3 --world-size 300 \
    --database-url "postgres://postgres@127.0.0.1/$database" \
    --redis-url redis://127.0.0.1:6379/ \
    --game-address "127.0.0.1:$((14440 + n))" --http-address "127.0.0.1:$((18080 + n))" \
    >"$work/shard$n.log" 2>&1 &
  pids+=($!)
  sleep 2
done
sleep 6

# One metric of one shard; 0 if the shard does not answer.
metric() {
  local value
  value=$(curl -s --max-time 2 "http://127.0.0.1:$1/metrics" | awk -v name="$2" '$1 == name { print $2 }' || true)
  echo "${value:-0}"
}

# p50 and p99 of histogram $2 in metrics page $1, estimated as Prometheus's
# histogram_quantile does (linear within a bucket), in milliseconds.
quantiles() {
  echo "$1" | awk -v metric="$2" -v name="$2_bucket" '
    index($1, name "{le=\"") == 1 {
      bound = $1; sub(/.*le="/, "", bound); sub(/".*/, "", bound)
      n++; le[n] = (bound == "+Inf") ? -1 : bound + 0; count[n] = $2 + 0
    }
    function estimate(q,   rank, i, lower, below) {
      rank = q * count[n]; lower = 0; below = 0
      for (i = 1; i <= n; i++) {
        if (count[i] >= rank) {
          if (le[i] < 0) return lower * 1000
          if (count[i] == below) return le[i] * 1000
          return (lower + (le[i] - lower) * (rank - below) / (count[i] - below)) * 1000
        }
        lower = le[i]; below = count[i]
      }
      return lower * 1000
    }
    END {
      if (n == 0 || count[n] == 0) { print metric ": none"; exit }
      printf "%s: %d counted, p50 %.1f ms, p99 %.1f ms\n", metric, count[n], estimate(0.5), estimate(0.99)
    }'
}

"$target/loadbot" --bots "$bots" --duration 60s --ramp-up 20s --quiet --accounts bench \
  --server http://127.0.0.1:18081,http://127.0.0.1:18082,http://127.0.0.1:18083 \
  --behaviours cross,random-walk,flock,cross,idle,chat,random-walk,cross,flock,chat \
  --zone-size 100 --reconnect --json "$work/report.json" >"$work/loadbot.txt" 2>&1 &
loadbot=$!

# After the ramp-up: everyone is in. Count the avatars every shard simulates.
sleep 35
total=0
for n in 1 2 3; do total=$((total + $(metric $((18080 + n)) meridian_avatars))); done
echo "avatars simulated over all shards at 35 s: $total (bots: $bots)"

if [ "$kill_one" = kill ]; then
  kill -9 "${pids[2]}"
  killed=$(date +%s.%N)
  echo "killed shard 3 at 35 s"
  for _ in $(seq 1 600); do
    held=$(( $(metric 18081 meridian_zones_held) + $(metric 18082 meridian_zones_held) ))
    if [ "$held" -eq 9 ]; then
      echo "its zones simulated again after $(echo "$(date +%s.%N) - $killed" | bc) s"
      break
    fi
    sleep 0.1
  done
  [ "$held" -eq 9 ] || echo "its zones were NOT all simulated again within 60 s (held: $held of 9)"
  sleep 15
  total=0
  for n in 1 2; do total=$((total + $(metric $((18080 + n)) meridian_avatars))); done
  echo "avatars simulated over the two shards left, 15 s later: $total (bots: $bots)"
fi

# loadbot stops at the end of its 60 s; give it two minutes more, then stop it.
for _ in $(seq 1 1200); do
  kill -0 "$loadbot" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$loadbot" 2>/dev/null; then
  echo "loadbot was still running two minutes after its run should have ended: stopped"
  kill -9 "$loadbot" 2>/dev/null || true
fi
wait "$loadbot" || true
cat "$work/loadbot.txt"
for n in 1 2 3; do
  page=$(curl -s --max-time 5 "http://127.0.0.1:$((18080 + n))/metrics" || true)
  [ -n "$page" ] || { echo "shard $n: gone"; continue; }
  echo "shard $n:"
  echo "$page" | grep -E '^meridian_(handoffs_total|zones_held|link_messages_total)'
  for histogram in meridian_handoff_frozen_seconds meridian_crossing_to_snapshot_seconds meridian_tick_duration_seconds; do
    quantiles "$page" "$histogram"
  done
done
