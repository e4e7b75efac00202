#!/usr/bin/env bash
# Instructions the server spends per tick with N bots in rooms or in the
# world, counted by callgrind (stable where wall-clock time is not), thread by
# thread. `meridian serve` runs under `valgrind --tool=callgrind` with
# instrumentation off (bots sign up and log in at near-native speed); once
# every bot is in, instrumentation is switched on, the counters zeroed after a
# settling second, and the process's threads counted over a fixed window of
# SECONDS (`callgrind_control`). Prints one markdown row:
#
#   | build | where | bots | ticks | instances' ticks | datagrams in + out | per tick: loop | zones | sim | other | all |
#
#   scripts/rooms-instructions.sh BINARIES_DIR LABEL WHERE [BOTS (20)] [SECONDS (20)]
#
# WHERE is `world` (the bots walk in the world) or `rooms:CAPACITY` (the first
# bot creates a 40 x 40 space with CAPACITY seats a room and every bot joins
# it, so BOTS / CAPACITY rooms run on the simulation threads). "per tick" is
# per tick of the zone thread (20 a second of the process, as in the world):
# the loop thread (QUIC and UDP), the zone thread (the world's zone and the
# instance router), the simulation threads together, and the rest (tokio:
# HTTP, storage). BINARIES_DIR holds `meridian` and `loadbot`. Every wait has
# a deadline; whatever the script started is killed on exit.
set -euo pipefail

[ $# -ge 3 ] || { sed -n '2,20p' "$0" >&2; exit 2; }
binaries=$1
label=$2
where=$3
bots=${4:-20}
seconds=${5:-20}
case "$where" in
  world) destination=() ;;
  rooms:*) destination=(--create-space "40x40:${where#rooms:}") ;;
  *) echo "rooms-instructions: WHERE is world or rooms:CAPACITY" >&2; exit 2 ;;
esac
for tool in valgrind callgrind_control jq curl; do
  command -v $tool >/dev/null || { echo "rooms-instructions: needs $tool" >&2; exit 1; }
done

work=$(mktemp -d /tmp/rooms-instructions.XXXXXX)
server_pid=""
loadbot_pid=""
cleanup() {
  for pid in $loadbot_pid $server_pid; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in $loadbot_pid $server_pid; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] && echo "rooms-instructions: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/serve.toml" <<TOML
[serve]
transport = "event-loop"
login_attempts_per_address_per_minute = 1000000
login_attempts_per_account_per_minute = 1000
max_instances = 100000
instance_starts_per_account_per_minute = 10000
[netcode]
max_pending_connections = 100000
max_pending_per_address = 100000
retry_at_pending = 100000
# Under valgrind the server reads its socket late and then in bursts.
datagrams_per_second = 10000
strikes_before_disconnect = 100000
[sim]
input_burst = 64
TOML
http=127.0.0.1:28182
serve=("$binaries/meridian" serve --config "$work/serve.toml"
  --database-url "sqlite://$work/world.db"
  --game-address 127.0.0.1:24535 --http-address "$http")
metric_sum() { # FILE NAME: the sum of NAME's samples (any labels)
  awk -v name="$2" '$1 == name || index($1, name "{") == 1 { sum += $2 } END { printf "%.0f\n", sum }' "$1"
}
wait_for_health() { # LIMIT_SECONDS
  local deadline=$((SECONDS + $1))
  until curl -sf --max-time 2 "http://$http/health" >/dev/null; do
    if [ $SECONDS -ge "$deadline" ] || ! kill -0 "$server_pid" 2>/dev/null; then
      echo "rooms-instructions: the server did not start:" >&2
      tail -20 "$work/server.log" >&2
      exit 1
    fi
    sleep 1
  done
}
valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes \
  --callgrind-out-file="$work/callgrind.out" "${serve[@]}" >"$work/server.log" 2>&1 &
server_pid=$!
wait_for_health 300
ramp=$((bots * 2))
timeout $((ramp + seconds + 600)) "$binaries/loadbot" --server "http://$http" --bots "$bots" \
  --behaviours random-walk --ramp-up "${ramp}s" --duration "$((seconds + 120))s" --quiet \
  "${destination[@]}" --accounts "instr$$" --json "$work/report.json" >"$work/loadbot.txt" 2>&1 &
loadbot_pid=$!
# Every bot in: as many connections opened as bots (a room's connection is
# opened to the world's server and handed over at its hello).
deadline=$((SECONDS + ramp + 300))
until curl -sf --max-time 5 "http://$http/metrics" >"$work/metrics.txt" &&
  [ "$(metric_sum "$work/metrics.txt" meridian_connections_opened_total)" -ge "$bots" ]; do
  [ $SECONDS -lt $deadline ] && kill -0 "$loadbot_pid" 2>/dev/null ||
    { echo "rooms-instructions: the bots did not all connect:" >&2; tail -5 "$work/loadbot.txt" >&2; exit 1; }
  sleep 2
done
sleep 5
callgrind_control -i on "$server_pid" >/dev/null
sleep 2
callgrind_control -z "$server_pid" >/dev/null
curl -sf --max-time 30 "http://$http/metrics" >"$work/before.txt"
sleep "$seconds"
curl -sf --max-time 30 "http://$http/metrics" >"$work/after.txt"
mkdir "$work/window"
callgrind_control -d "$server_pid" >/dev/null
# The dump's files (one per thread) appear as the threads reach the dump.
sleep 3
for file in "$work"/callgrind.out.*; do
  case "$file" in *.1-*) mv "$file" "$work/window/" ;; esac
done
delta() { echo $(( $(metric_sum "$work/after.txt" "$1") - $(metric_sum "$work/before.txt" "$1") )); }
ticks=$(delta meridian_ticks_total)
instance_ticks=$(delta meridian_instance_tick_duration_seconds_count)
received=$(delta meridian_event_loop_datagrams_received_total)
sent=$(delta meridian_event_loop_datagrams_sent_total)
declare -A role_total=([loop]=0 [zones]=0 [sim]=0 [other]=0)
for file in "$work"/window/*; do
  total=$(awk '/^(summary|totals):/ { print $2; exit }' "$file")
  if grep -q 'event_loop::EventLoop' "$file"; then role=loop
  elif grep -q 'sim_pool::Worker::' "$file"; then role=sim
  elif grep -q 'zone_loop::ZoneLoop' "$file"; then role=zones
  else role=other; fi
  role_total[$role]=$((role_total[$role] + ${total:-0}))
done
all=$((role_total[loop] + role_total[zones] + role_total[sim] + role_total[other]))
[ "$ticks" -gt 0 ] && [ "$all" -gt 0 ] || { KEEP_WORK=1; echo "rooms-instructions: no figures (see $work)" >&2; exit 1; }
failed=$(jq -r '.failed // "?"' "$work/report.json" 2>/dev/null || echo "?")
echo "rooms-instructions: $label $where: ${seconds}s window, $(ls "$work/window" | wc -l) threads dumped" >&2
awk -v label="$label" -v where="$where" -v bots="$bots" -v ticks="$ticks" -v iticks="$instance_ticks" \
  -v in_="$received" -v out="$sent" -v loop="${role_total[loop]}" -v zones="${role_total[zones]}" \
  -v sim="${role_total[sim]}" -v other="${role_total[other]}" -v all="$all" 'BEGIN {
    printf "| %s | %s | %d | %d | %d | %d + %d | %.0f | %.0f | %.0f | %.0f | %.0f |\n",
      label, where, bots, ticks, iticks, in_, out, loop / ticks, zones / ticks, sim / ticks,
      other / ticks, all / ticks
  }'
