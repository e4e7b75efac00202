#!/usr/bin/env bash
# A rolling restart of three shards under load (issue #15's figure: "Rolling
# restart of 3 shards under 1,000 bots: 0 sessions dropped, largest freeze
# reported"), with the real PostgreSQL and Redis on this machine.
#
#   scripts/rolling-restart.sh [BOTS] [CAPACITY]
#
# Needs the release build (`cargo build --release --bin meridian -p loadbot`),
# PostgreSQL at 127.0.0.1:5432 (user postgres, trust) and Redis at 6379. The
# bots create a space with rooms of CAPACITY seats (default 50) and fill them;
# after the ramp-up each shard in turn is drained with `meridian drain`,
# started again on the same addresses and waited for until /ready answers 200.
# Prints each step and loadbot's report: `dropped` is the sessions dropped,
# `largest freeze` the longest gap between two snapshots of one bot.
set -euo pipefail

bots=${1:-1000}
capacity=${2:-50}
target=${CARGO_TARGET_DIR:-target}/release
database=meridian_rolling_$$
cluster=rolling-$$
work=$(mktemp -d)
export MERIDIAN_TOKEN_SECRET="rolling-restart secret, thirty-two bytes or more"
export MERIDIAN_ADMIN_PASSWORD="the rolling restart's operator"

cleanup() {
  kill -9 $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  dropdb -h 127.0.0.1 -U postgres --if-exists "$database" || true
}
trap cleanup EXIT

createdb -h 127.0.0.1 -U postgres "$database"
cat >"$work/loadtest.toml" <<'TOML'
[serve]
login_attempts_per_address_per_minute = 1000000
login_attempts_per_account_per_minute = 1000
http_max_connections_per_address = 65536
TOML
url="postgres://postgres@127.0.0.1/$database"
pids=(0 0 0 0)

start() {
  local n=$1
  "$target/meridian" serve --config "$work/loadtest.toml" \
    --shard-id "$n" --shards 3 --cluster-name "$cluster" \
    --zones 3x3 --world-size 300 --database-url "$url" \
    --redis-url redis://127.0.0.1:6379/ \
    --link-address "127.0.0.1:$((14450 + n))" \
    --game-address "127.0.0.1:$((14440 + n))" --http-address "127.0.0.1:$((18080 + n))" \
    >>"$work/shard$n.log" 2>&1 &
  pids[n]=$!
  for _ in $(seq 1 300); do
    curl -sf --max-time 1 "http://127.0.0.1:$((18080 + n))/ready" >/dev/null && return 0
    sleep 0.1
  done
  echo "shard $n is not ready after 30 s"
  exit 1
}

for n in 1 2 3; do start "$n"; done
"$target/meridian" create-admin --username operator --database-url "$url"

ramp=60
"$target/loadbot" --bots "$bots" --duration 3m --ramp-up "${ramp}s" --quiet --accounts rolling \
  --server http://127.0.0.1:18081,http://127.0.0.1:18082,http://127.0.0.1:18083 \
  --create-space "100x100:$capacity" --behaviours random-walk,flock,idle,chat \
  --reconnect --json "$work/report.json" >"$work/loadbot.txt" 2>&1 &
loadbot=$!
sleep $((ramp + 10))

for n in 1 2 3; do
  began=$(date +%s.%N)
  "$target/meridian" drain --http-address "127.0.0.1:$((18080 + n))" --username operator --wait-seconds 60
  wait "${pids[n]}" || true
  echo "shard $n drained and exited after $(echo "$(date +%s.%N) - $began" | bc) s"
  start "$n"
  echo "shard $n ready again after $(echo "$(date +%s.%N) - $began" | bc) s"
  sleep 10
done

wait "$loadbot" || true
cat "$work/loadbot.txt"
python3 - "$work/report.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
print(f"rolling restart of 3 shards under {report['bots']} bots: "
      f"{report['dropped']} sessions dropped, {report['failed']} failed, "
      f"{report['moves']} rooms moved under bots, "
      f"largest freeze {report['largest_freeze_ms']:.0f} ms, "
      f"back after p50 {report['back_after_ms']['p50']:.0f} / max {report['back_after_ms']['max']:.0f} ms")
PY
