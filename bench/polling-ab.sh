#!/usr/bin/env bash
# Polling cost of several exporter binaries, interleaved: bench/polling-ab.sh [options] BIN...
#
# The polling figures of bench/run.sh (CPU per upstream request, requests in flight) move
# with the machine's speed by more than the difference between two builds; a before/after
# needs the builds measured in turns, under the same conditions. For each round and each
# binary, against a fresh built-in simulator (N ROMA instances, every answer delayed by
# LATENCY; the simulator is always the last binary's, or --simulator):
#   start-up: exec to /-/ready (probed by one Python process over a kept-alive connection),
#             requests in flight on average (/_simulator/stats), CPU per upstream request;
#   steady:   with interval 20s, CPU per upstream request over 40 s, starting 5 s after ready.
# Prints one line per run and the medians per binary. Loopback only; about 70 s per run.
#
# Options: --workload N:LATENCY [12500:10ms]  --rounds N [3]  --concurrency N [32]
#          --simulator PATH
set -euo pipefail
cd "$(dirname "$0")/.."
INSTANCES=12500 LATENCY=10ms ROUNDS=3 CONCURRENCY=32 SIM=""
BINS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --workload) INSTANCES=${2%%:*}; LATENCY=${2#*:}; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --simulator) SIM=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) BINS+=("$(realpath "$1")"); shift ;;
  esac
done
[ ${#BINS[@]} -gt 0 ] || { echo "give at least one exporter binary (see --help)" >&2; exit 2; }
SIM=${SIM:-${BINS[-1]}}
WORK=$(mktemp -d /tmp/hwc-quota-ab.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
CLK_TCK=$(getconf CLK_TCK)
cpu_ms() { awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.0f", ($12 + $13) * 1000 / hz }' "/proc/$1/stat"; }
wait_line() { # file pattern: prints the first http URL once the pattern shows, 30 s at most
  for _ in $(seq 600); do
    if grep -qE "$2" "$1" 2>/dev/null; then grep -oE 'http://[0-9.]+:[0-9]+' "$1" | head -1; return; fi
    sleep 0.05
  done
  echo "timed out waiting for '$2' in $1" >&2; exit 1
}
requests() { curl -sf --compressed "$1/metrics" | awk '/^huaweicloud_quota_api_requests_total/ { n += $NF } END { print n + 0 }'; }
ready_probe() { # url started_ns: prints ns from start to ready (bench/ready.py, every 20 ms)
  python3 bench/ready.py "$1" "$2" 300000000000 0 0.02
}
# One run of binary $1 with interval $2: start-up line, or steady line when $2 is 20s.
run() {
  local bin=$1 interval=$2 w="$WORK/run" sim exp url started ready r0 r1 c0 c1
  rm -rf "$w"; mkdir -p "$w"
  "$SIM" simulator --listen-address 127.0.0.1:0 --roma-instances "$INSTANCES" --latency "$LATENCY" \
    --write-config "$w/base.yaml" --interval 10m 2>"$w/sim.log" &
  sim=$!; PIDS+=("$sim")
  local sim_url; sim_url=$(wait_line "$w/sim.log" 'simulator serving on')
  sed -e "s/^defaults:\$/defaults:\n  concurrency: $CONCURRENCY\n  rate_limit: 1000000/" \
      -e "s/^  interval: .*/  interval: $interval/" -e "s/app_quotas: discover/app_quotas: none/" \
      "$w/base.yaml" >"$w/exporter.yaml"
  started=$(date +%s%N)
  "$bin" --config.file "$w/exporter.yaml" --web.listen-address 127.0.0.1:0 --log.level warn 2>"$w/exporter.log" &
  exp=$!; PIDS+=("$exp")
  url=$(wait_line "$w/exporter.log" 'serving on http://')
  ready=$(ready_probe "$url" "$started")
  if [ "$interval" = 10m ]; then
    c0=$(cpu_ms "$exp"); r0=$(requests "$url")
    curl -sf "$sim_url/_simulator/stats" | python3 -c 'import json, sys
s = json.load(sys.stdin); w = s["last_answer_seconds"] - s["first_request_seconds"]
ready, cpu, reqs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
print("start-up: ready %.2f s, %.2f in flight, %.0f us CPU per request" % (ready / 1e9, s["busy_seconds"] / w, cpu * 1000 / reqs))' "$ready" "$c0" "$r0"
  else
    sleep 5
    r0=$(requests "$url"); c0=$(cpu_ms "$exp"); sleep 40; r1=$(requests "$url"); c1=$(cpu_ms "$exp")
    awk -v c=$((c1 - c0)) -v n=$((r1 - r0)) 'BEGIN { printf "steady: %d ms CPU for %d requests, %.0f us CPU per request\n", c, n, c * 1000 / n }'
  fi
  kill "$exp" "$sim"; wait "$exp" "$sim" 2>/dev/null || true
}
OUT="$WORK/lines"; : >"$OUT"
for round in $(seq 1 "$ROUNDS"); do
  for bin in "${BINS[@]}"; do
    name="$("$bin" --version 2>&1 | sed -n 's/.*revision: \([0-9a-f]*\).*/\1/p' | head -1)"
    name=${name:-$(basename "$bin")}
    for interval in 10m 20s; do
      line="round $round $name $(run "$bin" "$interval")"
      echo "$line"; echo "$line" >>"$OUT"
    done
  done
done
echo "medians ($INSTANCES instances, $LATENCY, concurrency $CONCURRENCY, load average $(cut -d' ' -f1-3 /proc/loadavg)):"
for name in $(awk '{ print $3 }' "$OUT" | awk '!seen[$0]++'); do
  # start-up lines: field 8 in flight, 11 us per request; steady lines: field 11 us.
  med() { awk -v n="$name" -v k="$1" -v f="$2" '$3 == n && $4 == k { print $f }' "$OUT" | sort -g |
    awk '{ a[NR] = $1 } END { if (NR == 0) print "?"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
  printf '  %s: start-up %s in flight, %s us per request; steady %s us per request\n' \
    "$name" "$(med start-up: 8)" "$(med start-up: 11)" "$(med steady: 11)"
done
