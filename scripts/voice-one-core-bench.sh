#!/bin/bash
# Voice forwarding on one core (issue #17): `meridian serve` pinned to core 0,
# loadbot's voice bots (idle, spawned uniformly in a small world so that
# each hears up to SLOTS speakers) pinned to core 1; rustc/cargo reniced to 19.
# Reads the server's process CPU and its meridian-voice thread's CPU from
# /proc and meridian_voice_packets_forwarded_total from /metrics over the
# window after the ramp-up, and the p50/p99 of meridian_voice_forward_delay_seconds
# (each copy from its speaker's datagram read to the copy handed to the kernel). Needs release builds of meridian and loadbot in
# /var/tmp/meridian-target/release (or BIN=dir). PERF=1 records 10 s of perf in the window.
# usage: scripts/voice-one-core-bench.sh BOTS SPEAKERS SLOTS WORLD_M DURATION_S
#   e.g. RAMP=15 scripts/voice-one-core-bench.sh 60 60 10 30 40
set -u
BOTS=$1; SPEAKERS=$2; SLOTS=$3; WORLD=$4; DUR=$5
T=${BIN:-/var/tmp/meridian-target/release}
D=${OUT:-/tmp/voice-bench}/run-$BOTS-$SPEAKERS-$SLOTS-$WORLD; rm -rf $D; mkdir -p $D
printf '[serve]\nlogin_attempts_per_address_per_minute = 1000000\nlogin_attempts_per_account_per_minute = 1000\n[voice]\nloudest = %s\n' $SLOTS > $D/config.toml
for p in $(pgrep -x rustc; pgrep -x cargo); do renice -n 19 -p $p >/dev/null 2>&1; done
taskset -c 0 $T/meridian serve --config $D/config.toml --game-address 127.0.0.1:0 --http-address 127.0.0.1:18191 \
  --world-size $WORLD --spawn uniform --database-url sqlite://$D/db.sqlite > $D/server.out 2> $D/server.log &
SPID=$!
for i in $(seq 1 60); do curl -sf http://127.0.0.1:18191/metrics >/dev/null && break; sleep 0.5; done
RAMP=${RAMP:-30}
taskset -c 1 $T/loadbot --server http://127.0.0.1:18191 --accounts vb$RANDOM --bots $BOTS --behaviours idle \
  --voice-speakers $SPEAKERS --voice-slots $SLOTS --ramp-up ${RAMP}s --duration ${DUR}s --endpoints 1 --quiet \
  --json $D/report.json > $D/loadbot.txt 2>&1 &
LPID=$!
sleep $((RAMP + 8))
cpu() { # process ticks, voice-thread ticks
  local p=$(awk '{print $14+$15}' /proc/$SPID/stat); local v=0
  for t in /proc/$SPID/task/*; do [ "$(cat $t/comm)" = meridian-voice ] && v=$(awk '{print $14+$15}' $t/stat); done
  echo "$p $v"
}
m() { curl -s http://127.0.0.1:18191/metrics > $D/metrics.$1; }
read P0 V0 <<< "$(cpu)"; m 0; S0=$(date +%s.%N)
if [ -n "${PERF:-}" ]; then perf record -F 499 -g -p $SPID -o $D/perf.data -- sleep 10 >/dev/null 2>&1; sleep $((DUR - 24)); else sleep $((DUR - 14)); fi
read P1 V1 <<< "$(cpu)"; m 1; S1=$(date +%s.%N)
wait $LPID
kill $SPID; wait $SPID 2>/dev/null
val() { grep -E "^$1 " $2 | awk '{print $2}'; }
FW0=$(val meridian_voice_packets_forwarded_total $D/metrics.0); FW1=$(val meridian_voice_packets_forwarded_total $D/metrics.1)
IN0=$(val meridian_voice_packets_in_total $D/metrics.0); IN1=$(val meridian_voice_packets_in_total $D/metrics.1)
python3 - "$P0" "$P1" "$V0" "$V1" "$S0" "$S1" "$FW0" "$FW1" "$IN0" "$IN1" "$D/metrics.0" "$D/metrics.1" <<'PY' | tee $D/summary.txt
import sys
p0,p1,v0,v1,s0,s1,f0,f1,i0,i1=map(float,sys.argv[1:11])
def buckets(path):
    out=[]
    for line in open(path):
        if line.startswith('meridian_voice_forward_delay_seconds_bucket{le="'):
            le,count=line[len('meridian_voice_forward_delay_seconds_bucket{le="'):].split('"} ')
            out.append((float('inf') if le=='+Inf' else float(le), float(count)))
    return out
b0,b1=buckets(sys.argv[11]),buckets(sys.argv[12])
def quantile(q):
    # as Prometheus' histogram_quantile: linear within the bucket
    if not b1: return None
    diff=[(le,c1-(b0[i][1] if i<len(b0) else 0)) for i,(le,c1) in enumerate(b1)]
    total=diff[-1][1]
    if total<=0: return None
    rank=q*total; prev_le,prev_c=0.0,0.0
    for le,c in diff:
        if c>=rank:
            if le==float('inf'): return prev_le
            return prev_le+(le-prev_le)*(rank-prev_c)/max(c-prev_c,1e-9)
        prev_le,prev_c=le,c
    return prev_le
w=s1-s0; hz=100.0
fw=(f1-f0)/w; pin=(i1-i0)/w
print(f"window {w:.1f} s; forwarded {fw:.0f} packets/s = {fw/50:.0f} listener streams at 50/s; packets in {pin:.0f}/s")
print(f"server process CPU {100*(p1-p0)/hz/w:.1f} % of core 0; voice thread {100*(v1-v0)/hz/w:.1f} %")
p50,p99=quantile(0.5),quantile(0.99)
if p50 is not None: print(f"added latency inside the server (meridian_voice_forward_delay_seconds over the window): p50 {p50*1e3:.3f} ms, p99 {p99*1e3:.3f} ms")
if fw>0: print(f"CPU per forwarded packet: process {1e6*(p1-p0)/hz/w/fw:.2f} us, voice thread {1e6*(v1-v0)/hz/w/fw:.2f} us; per 50/s stream: voice thread {100*(v1-v0)/hz/w/(fw/50):.4f} % of a core")
PY
grep -E "^voice|server CPU|connected" $D/loadbot.txt
