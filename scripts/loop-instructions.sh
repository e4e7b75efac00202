#!/usr/bin/env bash
# Instructions the event loop spends on the network, counted by callgrind
# (stable where wall-clock time is not): `meridian serve` runs under
# `valgrind --tool=callgrind`, collecting only inside `EventLoop::turn` (the
# loop thread's whole network work: receive, quinn-proto, crypto, sends), while
# N random-walk bots (loadbot, outside valgrind, on other cores) play for a
# fixed window. Prints one markdown row:
#
#   | build | bots | instructions | ticks | datagrams in + out | per tick | per datagram |
#
#   scripts/loop-instructions.sh BINARIES_DIR LABEL [BOTS (20)] [SECONDS (30)]
#
# BINARIES_DIR holds `meridian` and `loadbot` (a release build's
# target/release, or a copy of an older build's). The server is the default
# world on a fresh SQLite database with the login limits raised; the figures
# are read from its /metrics just before it stops. Every wait has a deadline;
# whatever the script started is killed on exit.
set -euo pipefail

[ $# -ge 2 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
binaries=$1
label=$2
bots=${3:-20}
seconds=${4:-30}
command -v valgrind >/dev/null || { echo "loop-instructions: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
command -v callgrind_annotate >/dev/null || { echo "loop-instructions: needs callgrind_annotate (valgrind)" >&2; exit 1; }

work=$(mktemp -d /tmp/loop-instructions.XXXXXX)
server_pid=""
loadbot_pid=""
cleanup() {
  # valgrind runs the server as valgrind.bin, then as the tool: its pid is the one to stop.
  for pid in $loadbot_pid $server_pid; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in $loadbot_pid $server_pid; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] && echo "loop-instructions: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/serve.toml" <<TOML
[serve]
transport = "event-loop"
login_attempts_per_address_per_minute = 1000000
login_attempts_per_account_per_minute = 1000
[netcode]
max_pending_connections = 100000
max_pending_per_address = 100000
retry_at_pending = 100000
# Under valgrind the server reads its socket late and then in bursts: the
# per-client datagram rate limit would take a burst for a flood.
datagrams_per_second = 10000
strikes_before_disconnect = 100000
# and the zone, ticking late, would find more inputs than its per-tick burst.
[sim]
input_burst = 64
TOML
http=127.0.0.1:28180
serve=("$binaries/meridian" serve --config "$work/serve.toml"
  --database-url "sqlite://$work/world.db"
  --game-address 127.0.0.1:24533 --http-address "$http")
wait_for_health() { # LIMIT_SECONDS
  local deadline=$((SECONDS + $1))
  until curl -sf --max-time 2 "http://$http/health" >/dev/null; do
    if [ $SECONDS -ge "$deadline" ] || ! kill -0 "$server_pid" 2>/dev/null; then
      echo "loop-instructions: the server did not start:" >&2
      tail -20 "$work/server.log" >&2
      exit 1
    fi
    sleep 1
  done
}
stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  local deadline=$((SECONDS + 120))
  while kill -0 "$server_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 1; done
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
# First, natively, the bots sign up: three argon2 hashes per new account would
# take seconds each under valgrind. Under valgrind they then log in only.
"${serve[@]}" >"$work/signup.log" 2>&1 &
server_pid=$!
wait_for_health 60
timeout 300 "$binaries/loadbot" --server "http://$http" --bots "$bots" \
  --behaviours random-walk --ramp-up "$((bots + 10))s" --duration 20s --quiet \
  --accounts "calls$$" >"$work/signup.txt" 2>&1 ||
  { echo "loop-instructions: some bots could not sign up:" >&2; tail -3 "$work/signup.txt" >&2; }
stop_server
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
  --toggle-collect='*EventLoop::turn*' "${serve[@]}" >"$work/server.log" 2>&1 &
server_pid=$!
wait_for_health 300
# One login (one argon2 hash, slow under valgrind but outside the loop thread
# and so outside the count) every 6 s.
ramp=$((bots * 6))
timeout $((ramp + seconds + 300)) "$binaries/loadbot" --server "http://$http" --bots "$bots" \
  --behaviours random-walk --ramp-up "${ramp}s" --duration "${seconds}s" --quiet \
  --accounts "calls$$" --json "$work/report.json" >"$work/loadbot.txt" 2>&1 &
loadbot_pid=$!
wait "$loadbot_pid" || { echo "loop-instructions: loadbot reported errors:" >&2; tail -3 "$work/loadbot.txt" >&2; }
loadbot_pid=""
metric() { awk -v name="$1" '$1 == name { print $2 }' "$work/metrics.txt"; }
curl -sf --max-time 30 "http://$http/metrics" >"$work/metrics.txt"
stop_server
ticks=$(metric meridian_ticks_total)
received=$(metric meridian_event_loop_datagrams_received_total)
sent=$(metric meridian_event_loop_datagrams_sent_total)
instructions=$(callgrind_annotate "$work/callgrind.out" 2>/dev/null |
  awk '/PROGRAM TOTALS/ && !found { gsub(",", "", $1); print $1; found = 1 }')
failed=$(jq -r '.failed // "?"' "$work/report.json" 2>/dev/null || echo "?")
[ -n "$instructions" ] && [ -n "$ticks" ] || { echo "loop-instructions: no figures (see $work)" >&2; exit 1; }
echo "loop-instructions: $label: $failed bots failed; the whole run, start-up and ramp-up included" >&2
awk -v label="$label" -v bots="$bots" -v ir="$instructions" -v ticks="$ticks" \
  -v in_="$received" -v out="$sent" 'BEGIN {
    printf "| %s | %d | %d | %d | %d + %d | %.0f | %.0f |\n",
      label, bots, ir, ticks, in_, out, ir / ticks, ir / (in_ + out)
  }'
