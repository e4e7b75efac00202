#!/usr/bin/env bash
# What a server costs on one core: `meridian serve` pinned to core 0, loadbot's
# random-walk bots pinned to the other cores, one markdown table row out.
#
#   scripts/one-core-bench.sh N [--interest R] [--spawn uniform] [--baseline REV]
#                               [--transport tasks,event-loop] [--duration 30s]
#                               [--ramp-up SECONDS] [--rounds K]
#
# Builds release (`cargo build --release -p meridian -p loadbot`) in
# $CARGO_TARGET_DIR (default `target`), starts the server on a fresh SQLite
# database with the login limits and pending caps raised for many bots from one
# address, runs N bots (ramp-up, then a 30 s window) and prints
#
#   | bots | server CPU | tick p50 / p99 | input→ack p50 / p99 | snapshots / bot / s | failed / dropped |
#
# Server CPU is loadbot's `server_cpu_pct` (the server's process CPU over the
# window, from its /metrics; 100 = one core); a server without process metrics
# (an older build) is measured from /proc/PID/stat over the same window. Tick
# figures are the server's last minute of ticks at the end; snapshots per bot
# per second are the snapshots decoded over the bots' average connected time.
# loadbot's own CPU over the window (`loadbot_cpu_pct`, and its client loop
# thread's, `loadbot_loop_cpu_pct`), the server's context switches per second
# by thread over the window, and whether any login fell into the window go to
# stderr.
#
# --transport LIST runs this build once per transport named (comma-separated,
# `[serve] transport`), one row each, in the order given; without it the
# build's default transport is used.
#
# --baseline REV builds commit REV in a `git worktree` ($BASELINE_WORKTREE,
# default /var/tmp/meridian-baseline-REV, kept if it was there already) with its
# own target dir ($BASELINE_TARGET_DIR, default /var/tmp/meridian-baseline-target)
# and prints its row too, measured after this build's, with REV's own loadbot.
#
# --rounds K (with --baseline) measures each build K times in alternating
# order (this build first in odd rounds, the baseline first in even ones:
# ABBA for K = 2), one row per run, then each build's mean server CPU and
# the mean of the paired differences. Whichever build runs first in a pair
# has measured lower in every single-pair run so far (BENCHMARKS.md), so a
# difference smaller than the spread of one build's rows is not a finding.
# Every wait has a deadline; whatever the script started is killed on exit.
set -euo pipefail

usage() {
  sed -n '2,8p' "$0" >&2
  exit 2
}

[ $# -ge 1 ] || usage
bots=$1
shift
[[ "$bots" =~ ^[0-9]+$ ]] || usage
interest=""
spawn=""
baseline=""
transports=""
duration=30
ramp_up=""
rounds=1
while [ $# -gt 0 ]; do
  case "$1" in
    --interest) interest=${2:?}; shift 2 ;;
    --spawn) spawn=${2:?}; shift 2 ;;
    --baseline) baseline=${2:?}; shift 2 ;;
    --transport) transports=${2:?}; shift 2 ;;
    --duration) duration=${2%s}; shift 2 ;;
    --ramp-up) ramp_up=${2%s}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
# Every bot of a build with accounts logs in on a fresh database: a login
# refused as unknown (argon2 still runs, against a dummy hash), the signup and
# the login, three hashes of 40-120 ms of the server's core each on this
# machine. The ramp-up leaves room for that (bots / 4 seconds), so the window
# measures the game alone; the script counts the account requests answered
# inside the window and says so on stderr when there were any (their hashing
# is then in the CPU figure). One refused (429) until the end shows as failed,
# and loadbot's error says so.
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || usage
if [ "$rounds" -gt 1 ] && { [ -z "$baseline" ] || [ -n "$transports" ]; }; then
  echo "one-core-bench: --rounds needs --baseline and no --transport" >&2
  exit 2
fi
if [ -z "$ramp_up" ]; then
  ramp_up=$((bots / 4))
  [ "$ramp_up" -ge 20 ] || ramp_up=20
fi
cores=$(nproc)
[ "$cores" -ge 2 ] || { echo "one-core-bench: needs at least 2 cores" >&2; exit 1; }
bot_cores="1-$((cores - 1))"
repository=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
work=$(mktemp -d /tmp/one-core-bench.XXXXXX)
server_pid=""
loadbot_pid=""
worktree=""

cleanup() {
  # loadbot runs under `timeout`, which passes a TERM on to it.
  for pid in $loadbot_pid $server_pid; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 1
  for pid in $loadbot_pid $server_pid; do
    kill -9 "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ -n "$worktree" ]; then
    git -C "$repository" worktree remove --force "$worktree" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

build() { # DIRECTORY TARGET_DIR COPY_TO [OTHER_DIRECTORY]
  echo "one-core-bench: building $1 (release) into $2" >&2
  (cd "$1" && CARGO_TARGET_DIR=$2 timeout 3600 cargo build --release -p meridian -p loadbot >&2)
  # Copied out at once: both builds may share one target dir, and the
  # second would replace the first's binaries before they run.
  mkdir -p "$3/release"
  cp "$2/release/meridian" "$2/release/loadbot" "$3/release/"
  # Cargo names a workspace's artifacts alike whatever its directory, so in a
  # shared target dir a build can find the other tree's artifacts "fresh"
  # (their sources unchanged where that tree still stands) and keep them.
  # The release profile keeps debug info, which names the directories built.
  if ! grep -qaF "$(cd "$1" && pwd -P)" "$3/release/meridian" ||
    { [ -n "${4:-}" ] && [ -d "$4" ] && grep -qaF "$(cd "$4" && pwd -P)" "$3/release/meridian"; }; then
    echo "one-core-bench: the meridian built for $1 holds code compiled from another tree; touch its sources and run again" >&2
    exit 1
  fi
}

# A revision's abilities, from its source.
has() { # DIRECTORY PATTERN FILE...
  local directory=$1 pattern=$2
  shift 2
  (cd "$directory" && grep -q -- "$pattern" "$@" 2>/dev/null)
}

# Login and signup requests answered so far (every status), from /metrics;
# 0 for a build without HTTP request metrics.
account_requests() { # HTTP_ADDRESS
  curl -sf --max-time 5 "http://$1/metrics" 2>/dev/null |
    awk '/^meridian_http_requests_total\{/ && /route="\/api\/v1\/(login|signup)"/ { sum += $NF } END { printf "%d", sum }'
}

# Each thread of PID: "name-tid voluntary nonvoluntary" context switches so
# far, sorted for join(1).
switches() { # PID
  local task
  for task in /proc/"$1"/task/*; do
    awk -v id="$(cat "$task/comm" 2>/dev/null)-${task##*/}" '
      /^voluntary_ctxt_switches/ { v = $2 } /^nonvoluntary_ctxt_switches/ { n = $2 }
      END { if (v != "") print id, v, n }' "$task/status" 2>/dev/null || true
  done | sort
}

# utime + stime of PID in clock ticks.
cpu_ticks() {
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

run() { # LABEL DIRECTORY TARGET_DIR [TRANSPORT]
  local label=$1 directory=$2 binaries=$3/release transport=${4:-}
  local run_dir="$work/$label"
  mkdir -p "$run_dir"
  local config="$run_dir/serve.toml"
  : >"$config"
  local loadbot_flags=()
  {
    echo "[serve]"
    if [ -n "$transport" ]; then
      echo "transport = \"$transport\""
    fi
    if has "$directory" login_attempts_per_address_per_minute src/serve/settings.rs; then
      echo "login_attempts_per_address_per_minute = 1000000"
      echo "login_attempts_per_account_per_minute = 1000"
    fi
    if [ -n "$spawn" ]; then
      if has "$directory" SpawnPolicy src/serve/settings.rs; then
        echo "spawn = \"$spawn\""
      else
        echo "one-core-bench: $label has no spawn policy; its newcomers spawn in the plaza" >&2
      fi
    fi
    if has "$directory" max_pending_per_address crates/netcode/src/config.rs; then
      echo "[netcode]"
      echo "max_pending_connections = 100000"
      echo "max_pending_per_address = 100000"
      echo "retry_at_pending = 100000"
    fi
    if [ -n "$interest" ]; then
      echo "[sim]"
      echo "interest_radius = $interest"
    fi
  } >"$config"
  if has "$directory" 'accounts: String' tools/loadbot/src/main.rs; then
    loadbot_flags+=(--accounts "bench$$")
  fi
  local http=127.0.0.1:28080
  taskset -c 0 "$binaries/meridian" serve --config "$config" \
    --database-url "sqlite://$run_dir/world.db" \
    --game-address 127.0.0.1:24433 --http-address "$http" \
    >"$run_dir/server.log" 2>&1 &
  server_pid=$!
  local deadline=$((SECONDS + 60))
  until curl -sf --max-time 1 "http://$http/health" >/dev/null; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$server_pid" 2>/dev/null; then
      echo "one-core-bench: the $label server did not start:" >&2
      cat "$run_dir/server.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  local ticks_per_second
  ticks_per_second=$(getconf CLK_TCK)
  timeout $((ramp_up + duration + 180)) taskset -c "$bot_cores" "$binaries/loadbot" \
    --server "http://$http" --bots "$bots" --behaviours random-walk \
    --ramp-up "${ramp_up}s" --duration "${duration}s" --quiet \
    "${loadbot_flags[@]}" --json "$run_dir/report.json" >"$run_dir/loadbot.txt" 2>&1 &
  loadbot_pid=$!
  # The same window as loadbot's, from the server's /proc entry.
  sleep "$ramp_up"
  local first accounts_before
  accounts_before=$(account_requests "$http")
  first=$(cpu_ticks "$server_pid")
  switches "$server_pid" >"$run_dir/switches.before"
  local opened=$EPOCHREALTIME
  sleep "$duration"
  local last
  last=$(cpu_ticks "$server_pid")
  switches "$server_pid" >"$run_dir/switches.after"
  echo "one-core-bench: $label: context switches per second over the window, by thread: $(
    join "$run_dir/switches.before" "$run_dir/switches.after" |
      awk -v seconds="$duration" '{ v = ($4 - $2) / seconds; n = ($5 - $3) / seconds
        if (v + n >= 1) { printf "%s%s %.0f voluntary + %.0f preempted", sep, $1, v, n; sep = ", " } }'
  )" >&2
  local closed=$EPOCHREALTIME
  local accounts_in_window=$(( $(account_requests "$http") - accounts_before ))
  if [ "$accounts_in_window" -gt 0 ]; then
    echo "one-core-bench: $label: $accounts_in_window login/signup requests were answered inside the window: their password hashing is in the server CPU figure (give a longer --ramp-up)" >&2
  else
    echo "one-core-bench: $label: no login or signup inside the window" >&2
  fi
  local proc_pct
  proc_pct=$(awk -v a="$first" -v b="$last" -v t0="$opened" -v t1="$closed" -v hz="$ticks_per_second" \
    'BEGIN { printf "%.1f", (b - a) / hz / (t1 - t0) * 100 }')
  wait "$loadbot_pid" || true
  loadbot_pid=""
  kill -TERM "$server_pid" 2>/dev/null || true
  deadline=$((SECONDS + 30))
  while kill -0 "$server_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  kill -9 "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  if [ ! -s "$run_dir/report.json" ]; then
    echo "one-core-bench: loadbot wrote no report for $label:" >&2
    tail -20 "$run_dir/loadbot.txt" >&2
    exit 1
  fi
  echo "one-core-bench: $label: $(head -1 "$run_dir/loadbot.txt")" >&2
  jq -r --arg name "$label" --arg proc "$proc_pct" --argjson window "$duration" \
    --argjson ramp "$ramp_up" '
    def ms: if . == null then "–" elif . >= 1000 then "\(. / 100 | round / 10) s" else "\(. * 10 | round / 10) ms" end;
    (if .server_cpu_pct == null then ($proc | tonumber) else .server_cpu_pct end) as $cpu
    | (if .connected > 0 then .snapshots / .connected / ($window + $ramp / 2) else 0 end) as $rate
    | "| \(.bots) (\($name)) | \($cpu | round)% | \(.server_tick_ms.p50 | ms) / \(.server_tick_ms.p99 | ms) | \(.rtt_ms.p50 | ms) / \(.rtt_ms.p99 | ms) | \($rate * 10 | round / 10) | \(.failed) / \(.dropped) |"
  ' "$run_dir/report.json"
  echo "one-core-bench: $label: server CPU from /proc over the same window: ${proc_pct}%" >&2
  jq -r --arg proc "$proc_pct" '.server_cpu_pct // ($proc | tonumber)' "$run_dir/report.json" >"$run_dir/cpu"
  jq -r --arg name "$label" '"one-core-bench: \($name): loadbot CPU over the window: \(.loadbot_cpu_pct // "n/a" | if type == "number" then (. * 10 | round / 10) else . end)% (its client loop thread: \(.loadbot_loop_cpu_pct // "n/a" | if type == "number" then (. * 10 | round / 10) else . end)%)"' \
    "$run_dir/report.json" >&2
  jq -r --arg name "$label" '.errors[:5][] | "one-core-bench: \($name): loadbot error: \(.)"' \
    "$run_dir/report.json" >&2 || true
}

echo "one-core-bench: $(uptime)" >&2
baseline_directory=""
if [ -n "$baseline" ]; then
  baseline_directory=${BASELINE_WORKTREE:-/var/tmp/meridian-baseline-$baseline}
fi
build "$repository" "${CARGO_TARGET_DIR:-$repository/target}" "$work/head" "$baseline_directory"
if [ -n "$baseline" ]; then
  if [ ! -d "$baseline_directory" ]; then
    git -C "$repository" worktree add --detach "$baseline_directory" "$baseline" >&2
    worktree=$baseline_directory
  fi
  build "$baseline_directory" "${BASELINE_TARGET_DIR:-/var/tmp/meridian-baseline-target}" "$work/baseline" "$repository"
fi
echo "| bots | server CPU (one core = 100%) | server tick p50 / p99 | input→ack p50 / p99 | snapshots / bot / s | failed / dropped |"
echo "|---:|---:|---:|---:|---:|---:|"
head_label=$(git -C "$repository" rev-parse --short HEAD)
if [ -n "$transports" ]; then
  IFS=, read -r -a transport_list <<<"$transports"
  for transport in "${transport_list[@]}"; do
    run "$head_label $transport" "$repository" "$work/head" "$transport"
  done
  if [ -n "$baseline" ]; then
    run "$(git -C "$baseline_directory" rev-parse --short HEAD)" "$baseline_directory" "$work/baseline"
  fi
elif [ -n "$baseline" ]; then
  baseline_label=$(git -C "$baseline_directory" rev-parse --short HEAD)
  for round in $(seq 1 "$rounds"); do
    suffix=""
    [ "$rounds" -eq 1 ] || suffix=" #$round"
    if [ $((round % 2)) -eq 1 ]; then
      run "$head_label$suffix" "$repository" "$work/head"
      run "$baseline_label$suffix" "$baseline_directory" "$work/baseline"
    else
      run "$baseline_label$suffix" "$baseline_directory" "$work/baseline"
      run "$head_label$suffix" "$repository" "$work/head"
    fi
  done
  if [ "$rounds" -gt 1 ]; then
    echo
    for round in $(seq 1 "$rounds"); do
      echo "$(cat "$work/$head_label #$round/cpu") $(cat "$work/$baseline_label #$round/cpu")"
    done | awk -v head="$head_label" -v base="$baseline_label" -v rounds="$rounds" '
      { h += $1; b += $2; d += $1 - $2
        if (NR == 1 || $1 < hmin) hmin = $1; if (NR == 1 || $1 > hmax) hmax = $1
        if (NR == 1 || $2 < bmin) bmin = $2; if (NR == 1 || $2 > bmax) bmax = $2 }
      END { printf "Mean server CPU over %d rounds (alternating order): %s %.1f%% (%.1f-%.1f), %s %.1f%% (%.1f-%.1f); paired difference %+.1f points\n",
        rounds, head, h / NR, hmin, hmax, base, b / NR, bmin, bmax, d / NR }'
  fi
else
  run "$head_label" "$repository" "$work/head"
fi
echo "one-core-bench: $(uptime)" >&2
