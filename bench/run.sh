#!/usr/bin/env bash
# The benchmark, in one command: bench/run.sh [options]; writes BENCHMARKS.md.
#
# What it does, on loopback only, every step bounded in time, for each workload (by default
# 24,000 series: 3,000 ROMA instances answering in 100 ms; and 100,000 series: 12,500
# instances answering in 10 ms):
#   1. installs wrk and nginx-light (Debian packages) when missing; builds the release binary
#      (or takes --binary);
#   2. starts the built-in cloud simulator with N ROMA instances and a fixed latency on every
#      answer, and the exporter polling it (concurrency 32, a rate limit that never binds);
#   3. start-up fan-out: time until /-/ready, against the ideal ceil(requests / concurrency)
#      x latency; the requests in flight on average from the first request to the last
#      answer (the simulator's answer times summed, over that window: /_simulator/stats); the CPU
#      time that first poll cycle took, per upstream request;
#   4. idle CPU over a quiet stretch (no polls due, no scrapes);
#   5. captures the exposition (plain and gzip) and serves the same bytes from nginx
#      (plain with sendfile, and gzip_static from the precompressed file);
#   6. wrk -t2 -c16 against /metrics of the exporter and of nginx, plain and gzip, several
#      interleaved rounds: requests/s, p99 latency, and the server's CPU time per request
#      (the exporter, nginx's master and workers, from /proc/PID/stat);
#      medians, and the exporter/nginx ratios;
#   7. the exporter's resident memory after that load;
#   8. steady state: a second exporter with a short interval, CPU time per poll cycle and
#      per upstream request measured from /proc over two intervals;
#   9. `cargo bench --bench render` for the time to render 25,000 and 100,000 series;
#  10. writes the tables to BENCHMARKS.md with the machine, versions, load and date.
#
# Options (defaults in brackets):
#   --workload N:LATENCY ROMA instances and the delay of every simulated answer; repeat
#                        for several workloads [3000:100ms and 12500:10ms]
#   --app-quotas MODE    none: one livedata target per instance (3,000 instances: ~24,000
#                        series); discover: also the client quota list per instance
#                        (twice the targets, ~57,000 series at 3,000) [none]
#   --concurrency N      the exporter's concurrency [32]
#   --rounds N           wrk rounds per configuration [3]
#   --duration S         seconds per wrk run [5]
#   --steady-interval D  poll interval of the steady-state phase [20s]
#   --binary PATH        benchmark this exporter binary instead of building one (for a
#                        before/after comparison with the same script)
#   --simulator PATH     the binary whose `simulator` subcommand plays the cloud [the
#                        exporter's]; give the current one when benchmarking an old exporter
#   --output FILE        where the report goes [BENCHMARKS.md]
#   --no-cargo-bench     skip step 9
# Takes about five minutes on two cores, plus the builds.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

WORKLOADS=()
APP_QUOTAS=none
CONCURRENCY=32
BINARY=""
SIMULATOR=""
ROUNDS=3
DURATION=5
STEADY_INTERVAL=20s
OUTPUT=BENCHMARKS.md
CARGO_BENCH=1
while [ $# -gt 0 ]; do
  case "$1" in
    --workload) WORKLOADS+=("$2"); shift 2 ;;
    --app-quotas) APP_QUOTAS=$2; shift 2 ;;
    --binary) BINARY=$2; shift 2 ;;
    --simulator) SIMULATOR=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --steady-interval) STEADY_INTERVAL=$2; shift 2 ;;
    --output) OUTPUT=$2; shift 2 ;;
    --no-cargo-bench) CARGO_BENCH=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$APP_QUOTAS" in none|discover) ;; *) echo "--app-quotas: none or discover" >&2; exit 2 ;; esac
[ ${#WORKLOADS[@]} -eq 0 ] && WORKLOADS=(3000:100ms 12500:10ms)
for w in "${WORKLOADS[@]}"; do
  [[ "$w" =~ ^[0-9]+:[0-9.]+m?s$ ]] || { echo "--workload: N:LATENCY such as 3000:100ms, not $w" >&2; exit 2; }
done

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# --- 1. tools and build ------------------------------------------------------------------
NGINX=$(command -v nginx || true)
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
if ! command -v wrk >/dev/null 2>&1 || [ -z "$NGINX" ]; then
  log "installing wrk and nginx-light (Debian packages)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq --no-install-recommends wrk nginx-light >/dev/null 2>&1 || {
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends wrk nginx-light >/dev/null
  }
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi
command -v curl >/dev/null 2>&1 || die "curl is needed"

if [ -n "$BINARY" ]; then
  BIN=$(realpath "$BINARY")
else
  log "building the release binary"
  cargo build --release --locked --quiet
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/huaweicloud-quota-exporter"
fi
[ -x "$BIN" ] || die "no binary at $BIN"
SIM_BIN=$BIN
[ -n "$SIMULATOR" ] && SIM_BIN=$(realpath "$SIMULATOR")
[ -x "$SIM_BIN" ] || die "no simulator binary at $SIM_BIN"

WORK=$(mktemp -d /tmp/hwc-quota-bench.XXXXXX)
chmod 755 "$WORK"   # nginx workers may run as another user
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- helpers --------------------------------------------------------------------------------
now_ns() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e9 }'; }
# CPU time (user + system) of processes $@ and of their child processes (nginx's workers),
# in nanoseconds, from /proc/PID/stat: it counts every thread, also those that have ended
# (tokio's blocking pool lets idle threads go), at the clock tick's resolution.
CLK_TCK=$(getconf CLK_TCK)
cpu_ns() {
  local pids=("$@") p
  for p in "$@"; do pids+=($(cat "/proc/$p/task/"*/children 2>/dev/null)); done
  for p in "${pids[@]}"; do cat "/proc/$p/stat" 2>/dev/null; done |
    awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); n += $12 + $13 } END { printf "%.0f", n * 1e9 / hz }'
}
rss_kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "no free port found"
}
# Waits (at most $2 seconds) for a line matching $3 in file $1 and prints the URL in it.
wait_url() {
  local deadline=$(( $(date +%s) + $2 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if grep -qE "$3" "$1" 2>/dev/null; then
      grep -oE 'http://[0-9.]+:[0-9]+' "$1" | head -1
      return
    fi
    sleep 0.05
  done
  die "timed out waiting for '$3' in $1: $(tail -3 "$1")"
}
# Seconds the simulator at $1 spent answering, summed over its requests.
# The simulator's stats: requests in flight on average from its first request to its last
# answer (the time spent answering, summed over requests, over that window).
sim_in_flight() { curl -sf "$1/_simulator/stats" | python3 -c 'import json, sys
s = json.load(sys.stdin); w = s["last_answer_seconds"] - s["first_request_seconds"]
print("%.1f" % (s["busy_seconds"] / w if w > 0 else 0))'; }
requests_total() {
  curl -sf "$1/metrics" | awk '/^huaweicloud_quota_api_requests_total/ { n += $NF } END { print n + 0 }'
}
targets_of() { "$BIN" --config.file "$1" --config.check | awk '/^targets/ { print $NF }'; }
# Starts the exporter on config $1, log $2; sets EXPORTER_PID, EXPORTER_URL, STARTED_NS.
start_exporter() {
  STARTED_NS=$(now_ns)
  "$BIN" --config.file "$1" --web.listen-address 127.0.0.1:0 --log.level warn 2>"$2" &
  EXPORTER_PID=$!
  PIDS+=("$EXPORTER_PID")
  EXPORTER_URL=$(wait_url "$2" 30 'serving on http://')
}
# Waits until /-/ready answers 200; prints the nanoseconds since STARTED_NS: bench/ready.py,
# sparsely until 80% of the predicted ideal (it cannot be ready sooner), then every 5 ms.
wait_ready() {
  python3 "$ROOT/bench/ready.py" "$EXPORTER_URL" "$STARTED_NS" "$2" $(( $1 * 8 / 10 )) 0.005 \
    || die "not ready in time: $(curl -s "$EXPORTER_URL/-/ready")"
}
to_latency_ms() { awk -v d="$1" 'BEGIN {
  if (d ~ /ms$/) { sub(/ms$/, "", d); print d + 0 } else if (d ~ /s$/) { sub(/s$/, "", d); print d * 1000 } else print -1 }'; }
# Milliseconds -> the p99 column: wrk prints 812.00us, 12.34ms or 1.02s.
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
  else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v } else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
  else print "?" }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

yes_no() { awk -v c="$1" 'BEGIN { print (c ? "yes" : "**no**") }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
WRK_VERSION=$( (wrk -v 2>&1 || true) | awk 'NR == 1 { print $1, $2 }')
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/.*version: //')
# Runs wrk against $1 with encoding $2 while measuring the CPU of processes $3...;
# prints "req/s p99_ms cpu_us_per_request errors".
load() {
  local url=$1 enc=$2 out; shift 2
  local args=(-t2 -c16 "-d${DURATION}s" --latency)
  [ "$enc" = gzip ] && args+=(-H 'Accept-Encoding: gzip')
  local c0 c1
  c0=$(cpu_ns "$@")
  out=$(timeout $((DURATION + 30)) wrk "${args[@]}" "$url/metrics") || die "wrk failed on $url"
  c1=$(cpu_ns "$@")
  local rps p99 n errors
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  n=$(awk '/requests in/ { print $1 }' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ { e = e $0 "; " } END { print (e == "" ? "none" : e) }' <<<"$out")
  echo "$rps $p99 $(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / 1000 / n }') $errors"
}
med() { awk -v e="$2" -v w="$3" -v f="$4" '$2 == e && $3 == w { print $f }' "$1" | median; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
REPORT=""
SUMMARY=""
# One workload: $1 ROMA instances, $2 latency; appends its sections to REPORT and its row
# to SUMMARY.
run_workload() {
  local INSTANCES=$1 LATENCY=$2 latency_ms
  latency_ms=$(to_latency_ms "$LATENCY")
  [ "$latency_ms" = -1 ] && die "a latency takes ms or s, such as 100ms"
  local W="$WORK/w$INSTANCES"
  mkdir -p "$W"

  # --- 2. simulator and config -------------------------------------------------------------
  log "starting the simulator: $INSTANCES ROMA instances, latency $LATENCY"
  "$SIM_BIN" simulator --listen-address 127.0.0.1:0 --roma-instances "$INSTANCES" --latency "$LATENCY" \
    --write-config "$W/base.yaml" --interval 10m 2>"$W/simulator.log" &
  local SIM_PID=$!
  PIDS+=("$SIM_PID")
  local SIM_URL
  SIM_URL=$(wait_url "$W/simulator.log" 30 'simulator serving on')
  # The same config, with the benchmark's settings: the rate limit is far above what
  # concurrency / latency can reach, so only the concurrency cap bounds the fan-out.
  make_config() {
    sed -e "s/^defaults:\$/defaults:\n  concurrency: $CONCURRENCY\n  rate_limit: 1000000/" \
        -e "s/^  interval: .*/  interval: $1/" \
        -e "s/app_quotas: discover/app_quotas: $APP_QUOTAS/" "$W/base.yaml" >"$2"
  }
  # Phase 1 polls once: its interval is longer than the whole phase.
  make_config 10m "$W/exporter.yaml"
  make_config "$STEADY_INTERVAL" "$W/steady.yaml"
  local TARGETS
  TARGETS=$(targets_of "$W/exporter.yaml")
  [ -n "$TARGETS" ] || die "cannot read the target count"

  # --- 3. start-up fan-out -----------------------------------------------------------------
  log "starting the exporter: $TARGETS targets, concurrency $CONCURRENCY"
  start_exporter "$W/exporter.yaml" "$W/exporter.log"
  local predicted_ns READY_NS STARTUP_CPU REQUESTS ROUNDS_IDEAL IDEAL_S READY_S FANOUT_RATIO IN_FLIGHT IN_FLIGHT_SHARE
  predicted_ns=$(awk -v n="$TARGETS" -v c="$CONCURRENCY" -v l="$latency_ms" 'BEGIN { r = int((n + c - 1) / c); printf "%d", r * l * 1e6 }')
  READY_NS=$(wait_ready "$predicted_ns" $(( predicted_ns * 10 + 60000000000 )))
  STARTUP_CPU=$(cpu_ns "$EXPORTER_PID")
  # The simulator was fresh: its stats cover exactly this start-up fan-out.
  IN_FLIGHT=$(sim_in_flight "$SIM_URL")
  REQUESTS=$(requests_total "$EXPORTER_URL")
  ROUNDS_IDEAL=$(( (REQUESTS + CONCURRENCY - 1) / CONCURRENCY ))
  IDEAL_S=$(awk -v r="$ROUNDS_IDEAL" -v l="$latency_ms" 'BEGIN { printf "%.2f", r * l / 1000 }')
  READY_S=$(secs "$READY_NS")
  FANOUT_RATIO=$(awk -v a="$READY_S" -v b="$IDEAL_S" 'BEGIN { printf "%.3f", a / b }')
  IN_FLIGHT_SHARE=$(awk -v f="$IN_FLIGHT" -v c="$CONCURRENCY" 'BEGIN { printf "%.2f", f / c }')
  local STARTUP_PER_REQ_US
  STARTUP_PER_REQ_US=$(awk -v c="$STARTUP_CPU" -v n="$REQUESTS" 'BEGIN { printf "%.0f", c / 1000 / n }')
  log "ready after $READY_S s; ideal ceil($REQUESTS / $CONCURRENCY) x $LATENCY = $IDEAL_S s; ratio $FANOUT_RATIO; $IN_FLIGHT in flight; $STARTUP_PER_REQ_US us CPU per request"

  # --- 4. idle CPU ---------------------------------------------------------------------------
  local IDLE_WINDOW=10 c0 c1 t0 t1 IDLE_CPU_PCT IDLE_CPU_S
  sleep 1   # the render that made it ready, and the scrape above, are not idle time
  c0=$(cpu_ns "$EXPORTER_PID"); t0=$(now_ns)
  sleep "$IDLE_WINDOW"
  c1=$(cpu_ns "$EXPORTER_PID"); t1=$(now_ns)
  IDLE_CPU_PCT=$(awk -v a="$c0" -v b="$c1" -v ns=$((t1 - t0)) 'BEGIN { printf "%.2f", (b - a) / ns * 100 }')
  IDLE_CPU_S=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  log "idle: $IDLE_CPU_S s CPU in $IDLE_WINDOW s"

  # --- 5. capture, nginx -----------------------------------------------------------------------
  mkdir -p "$W/www" "$W/nginx/tmp"
  curl -sf "$EXPORTER_URL/metrics" -o "$W/www/metrics"
  curl -sf -H 'Accept-Encoding: gzip' "$EXPORTER_URL/metrics" -o "$W/www/metrics.gz"
  gzip -t "$W/www/metrics.gz" || die "the exporter's gzip body does not decode"
  chmod -R a+rX "$W/www"
  local PLAIN_BYTES GZIP_BYTES SERIES NGINX_PORT NGINX_PID NGINX_URL
  PLAIN_BYTES=$(stat -c %s "$W/www/metrics")
  GZIP_BYTES=$(stat -c %s "$W/www/metrics.gz")
  SERIES=$(grep -vc '^#' "$W/www/metrics")
  NGINX_PORT=$(free_port)
  cat >"$W/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path $W/nginx/tmp/body;
  proxy_temp_path $W/nginx/tmp/proxy;
  fastcgi_temp_path $W/nginx/tmp/fastcgi;
  uwsgi_temp_path $W/nginx/tmp/uwsgi;
  scgi_temp_path $W/nginx/tmp/scgi;
  types { }
  default_type "text/plain; version=0.0.4; charset=utf-8";
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $W/www;
    location = /metrics { gzip_static on; }
  }
}
EOF
  "$NGINX" -p "$W/nginx" -c "$W/nginx/nginx.conf" 2>"$W/nginx/stderr" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  NGINX_URL="http://127.0.0.1:$NGINX_PORT"
  for _ in $(seq 1 100); do curl -sf -o /dev/null "$NGINX_URL/metrics" && break; sleep 0.05; done
  local n_plain n_gzip
  n_plain=$(curl -sf -o /dev/null -w '%{size_download}' "$NGINX_URL/metrics") || die "nginx does not serve: $(cat "$W/nginx/stderr")"
  n_gzip=$(curl -sf -o /dev/null -w '%{size_download}' -H 'Accept-Encoding: gzip' "$NGINX_URL/metrics")
  [ "$n_plain" = "$PLAIN_BYTES" ] && [ "$n_gzip" = "$GZIP_BYTES" ] || die "nginx serves $n_plain/$n_gzip bytes, not $PLAIN_BYTES/$GZIP_BYTES"

  # --- 6. load ------------------------------------------------------------------------------
  local ROWS="" R="$W/results" round enc order who rps p99 cpu errors
  : >"$R"
  for round in $(seq 1 "$ROUNDS"); do
    for enc in plain gzip; do
      # Alternate who goes first, so neither always gets the quieter moment.
      if [ $(( round % 2 )) = 1 ]; then order="exporter nginx"; else order="nginx exporter"; fi
      for who in $order; do
        if [ "$who" = exporter ]; then
          read -r rps p99 cpu errors <<<"$(load "$EXPORTER_URL" "$enc" "$EXPORTER_PID")"
        else
          read -r rps p99 cpu errors <<<"$(load "$NGINX_URL" "$enc" "$NGINX_PID")"
        fi
        [ "$errors" = none ] || die "$who $enc: $errors"
        log "round $round $enc $who: $rps req/s, p99 $p99 ms, $cpu us CPU per request"
        echo "$round $enc $who $rps $p99 $cpu" >>"$R"
      done
    done
  done
  local RPS_plain_exporter RPS_plain_nginx RPS_gzip_exporter RPS_gzip_nginx
  local P99_plain_exporter P99_plain_nginx P99_gzip_exporter P99_gzip_nginx
  local CPU_plain_exporter CPU_plain_nginx CPU_gzip_exporter CPU_gzip_nginx
  local e w
  for e in plain gzip; do
    for w in exporter nginx; do
      printf -v "RPS_${e}_${w}" '%s' "$(med "$R" "$e" "$w" 4)"
      printf -v "P99_${e}_${w}" '%s' "$(med "$R" "$e" "$w" 5)"
      printf -v "CPU_${e}_${w}" '%s' "$(med "$R" "$e" "$w" 6)"
    done
  done
  local RATIO_plain RATIO_gzip CPU_RATIO_plain CPU_RATIO_gzip
  RATIO_plain=$(ratio "$RPS_plain_exporter" "$RPS_plain_nginx")
  RATIO_gzip=$(ratio "$RPS_gzip_exporter" "$RPS_gzip_nginx")
  CPU_RATIO_plain=$(ratio "$CPU_plain_exporter" "$CPU_plain_nginx")
  CPU_RATIO_gzip=$(ratio "$CPU_gzip_exporter" "$CPU_gzip_nginx")
  local er nr a1 a2 a3 b1 b2 b3
  for round in $(seq 1 "$ROUNDS"); do
    for enc in plain gzip; do
      er=$(awk -v r="$round" -v e="$enc" '$1 == r && $2 == e && $3 == "exporter" { print $4, $5, $6 }' "$R")
      nr=$(awk -v r="$round" -v e="$enc" '$1 == r && $2 == e && $3 == "nginx" { print $4, $5, $6 }' "$R")
      read -r a1 a2 a3 <<<"$er"; read -r b1 b2 b3 <<<"$nr"
      ROWS+="| $round | $enc | $a1 | $a2 | $a3 | $b1 | $b2 | $b3 | $(ratio "$a1" "$b1") | $(ratio "$a3" "$b3") |"$'\n'
    done
  done
  kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true

  # --- 7. memory ----------------------------------------------------------------------------
  local RSS_MIB HWM_MIB
  RSS_MIB=$(awk -v k="$(rss_kib "$EXPORTER_PID" VmRSS)" 'BEGIN { printf "%.1f", k / 1024 }')
  HWM_MIB=$(awk -v k="$(rss_kib "$EXPORTER_PID" VmHWM)" 'BEGIN { printf "%.1f", k / 1024 }')
  log "RSS after the load: $RSS_MIB MiB (peak $HWM_MIB MiB)"
  kill "$EXPORTER_PID"; wait "$EXPORTER_PID" 2>/dev/null || true

  # --- 8. steady state -----------------------------------------------------------------------
  local steady_s r0 r1 STEADY_CPU_PCT STEADY_CYCLE_S STEADY_REQS STEADY_PER_REQ_US STEADY_RSS_MIB
  steady_s=$(awk -v d="$STEADY_INTERVAL" 'BEGIN { if (d ~ /m$/) { sub(/m$/, "", d); print d * 60 } else { sub(/s$/, "", d); print d + 0 } }')
  log "steady state: interval $STEADY_INTERVAL, measuring two intervals"
  start_exporter "$W/steady.yaml" "$W/steady.log"
  wait_ready "$predicted_ns" $(( predicted_ns * 10 + 60000000000 )) >/dev/null
  r0=$(requests_total "$EXPORTER_URL"); c0=$(cpu_ns "$EXPORTER_PID"); t0=$(now_ns)
  sleep "$(awk -v s="$steady_s" 'BEGIN { print s * 2 }')"
  r1=$(requests_total "$EXPORTER_URL"); c1=$(cpu_ns "$EXPORTER_PID"); t1=$(now_ns)
  STEADY_CPU_PCT=$(awk -v a="$c0" -v b="$c1" -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", (b - a) / ns * 100 }')
  STEADY_CYCLE_S=$(awk -v a="$c0" -v b="$c1" -v ns=$((t1 - t0)) -v i="$steady_s" 'BEGIN { printf "%.2f", (b - a) / ns * i }')
  STEADY_REQS=$((r1 - r0))
  STEADY_PER_REQ_US=$(awk -v a="$c0" -v b="$c1" -v n="$STEADY_REQS" 'BEGIN { if (n > 0) printf "%.0f", (b - a) / 1000 / n; else print "?" }')
  STEADY_RSS_MIB=$(awk -v k="$(rss_kib "$EXPORTER_PID" VmRSS)" 'BEGIN { printf "%.1f", k / 1024 }')
  log "steady: $STEADY_CPU_PCT% of a core, $STEADY_CYCLE_S s CPU per cycle, $STEADY_PER_REQ_US us per request"
  kill "$EXPORTER_PID"; wait "$EXPORTER_PID" 2>/dev/null || true
  kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true

  # --- the workload's report ---------------------------------------------------------------------
  # Resident memory: at most 48 MiB at 100,000 series, 24 MiB at 24,000 (32 below 60,000
  # series otherwise, the first wave's bound).
  local RSS_BOUND=24
  [ "$SERIES" -ge 60000 ] && RSS_BOUND=48
  local t=""
  t+="| start-up fan-out: exec to \`/-/ready\` | $READY_S s; ideal ceil($REQUESTS / $CONCURRENCY) x $LATENCY = $IDEAL_S s: **${FANOUT_RATIO}x** | <= 1.1x | $(yes_no "$(awk -v r="$FANOUT_RATIO" 'BEGIN { print (r <= 1.1) }')") |"$'\n'
  t+="| requests in flight during the fan-out (cap $CONCURRENCY) | **$IN_FLIGHT** on average ($IN_FLIGHT_SHARE of the cap) | >= 0.95 of the cap | $(yes_no "$(awk -v r="$IN_FLIGHT_SHARE" 'BEGIN { print (r >= 0.95) }')") |"$'\n'
  t+="| \`/metrics\` gzip, req/s | exporter $RPS_gzip_exporter, nginx $RPS_gzip_nginx: **${RATIO_gzip}x** | >= 0.9x | $(yes_no "$(awk -v r="$RATIO_gzip" 'BEGIN { print (r >= 0.9) }')") |"$'\n'
  t+="| \`/metrics\` gzip, server CPU per request | exporter $CPU_gzip_exporter µs, nginx $CPU_gzip_nginx µs: **${CPU_RATIO_gzip}x** | <= 1.2x | $(yes_no "$(awk -v r="$CPU_RATIO_gzip" 'BEGIN { print (r <= 1.2) }')") |"$'\n'
  t+="| \`/metrics\` plain, req/s | exporter $RPS_plain_exporter, nginx $RPS_plain_nginx: **${RATIO_plain}x** | >= 0.9x | $(yes_no "$(awk -v r="$RATIO_plain" 'BEGIN { print (r >= 0.9) }')") |"$'\n'
  t+="| \`/metrics\` plain, server CPU per request | exporter $CPU_plain_exporter µs, nginx $CPU_plain_nginx µs: **${CPU_RATIO_plain}x** | <= 1.5x | $(yes_no "$(awk -v r="$CPU_RATIO_plain" 'BEGIN { print (r <= 1.5) }')") |"$'\n'
  t+="| p99 latency plain / gzip | exporter $P99_plain_exporter / $P99_gzip_exporter ms, nginx $P99_plain_nginx / $P99_gzip_nginx ms | | |"$'\n'
  t+="| resident memory after the load | **$RSS_MIB MiB** (peak $HWM_MIB MiB) | <= $RSS_BOUND MiB | $(yes_no "$(awk -v m="$RSS_MIB" -v b="$RSS_BOUND" 'BEGIN { print (m <= b) }')") |"$'\n'
  t+="| polling CPU, start-up (exec to ready, renders included) | $(secs "$STARTUP_CPU") s for $REQUESTS requests: **$STARTUP_PER_REQ_US µs per request** | <= 100 µs | $(yes_no "$(awk -v r="$STARTUP_PER_REQ_US" 'BEGIN { print (r <= 100) }')") |"$'\n'
  t+="| polling CPU, steady state (interval $STEADY_INTERVAL, renders included) | $STEADY_CPU_PCT% of a core, $STEADY_CYCLE_S s per cycle: **$STEADY_PER_REQ_US µs per request** ($STEADY_REQS requests; RSS $STEADY_RSS_MIB MiB) | <= 100 µs | $(yes_no "$(awk -v r="$STEADY_PER_REQ_US" 'BEGIN { print (r != "?" && r <= 100) }')") |"$'\n'
  t+="| CPU while idle (no poll due, no scrape) | $IDLE_CPU_S s in $IDLE_WINDOW s ($IDLE_CPU_PCT%) | near zero | $(yes_no "$(awk -v p="$IDLE_CPU_PCT" 'BEGIN { print (p < 0.5) }')") |"$'\n'
  REPORT+="
## $SERIES series: $INSTANCES ROMA instances, answers delayed by $LATENCY

The built-in simulator with $INSTANCES ROMA instances (\`app_quotas: $APP_QUOTAS\`), every answer
delayed by $LATENCY; the exporter with concurrency $CONCURRENCY and a rate limit that never binds:
**$TARGETS targets, $SERIES series, $PLAIN_BYTES bytes plain, $GZIP_BYTES bytes gzip**.

| what | measured | target | met |
|---|---|---|---|
$t
Rounds (\`wrk -t2 -c16 -d${DURATION}s\`; CPU: the server's, all threads, per request):

| round | encoding | exporter req/s | exporter p99 ms | exporter CPU µs/req | nginx req/s | nginx p99 ms | nginx CPU µs/req | req/s ratio | CPU ratio |
|---|---|---|---|---|---|---|---|---|---|
$ROWS"
  SUMMARY+="| $SERIES | ${FANOUT_RATIO}x the ideal, $IN_FLIGHT of $CONCURRENCY in flight | ${RATIO_gzip}x req/s, ${CPU_RATIO_gzip}x CPU | ${RATIO_plain}x req/s, ${CPU_RATIO_plain}x CPU | $RSS_MIB MiB | $STARTUP_PER_REQ_US / $STEADY_PER_REQ_US µs |"$'\n'
}

for w in "${WORKLOADS[@]}"; do
  run_workload "${w%%:*}" "${w#*:}"
done

# --- 9. render time -----------------------------------------------------------------------------
RENDER_25K="not run"; RENDER_100K="not run"
if [ "$CARGO_BENCH" = 1 ]; then
  log "cargo bench --bench render (render_text_and_body)"
  cargo bench --locked --quiet --bench render -- render_text_and_body >"$WORK/cargo-bench.txt" 2>"$WORK/cargo-bench.err" \
    || die "cargo bench failed: $(tail -5 "$WORK/cargo-bench.err")"
  # divan's columns: name and fastest | slowest | median | mean | ...; a row of a group
  # that is not the last starts with one more bar.
  divan_median() {
    awk -v size=" $1 " 'index($0, size) { l = $0; sub(/^│/, "", l); split(l, f, "│"); v = f[3]
      gsub(/^ +| +$/, "", v); print v }' "$WORK/cargo-bench.txt"
  }
  RENDER_25K=$(divan_median 25000)
  RENDER_100K=$(divan_median 100000)
fi

# --- 10. report ----------------------------------------------------------------------------------
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
REVISION=$("$BIN" --version 2>&1 | sed -n 's/.*revision: \([0-9a-f]*\).*/\1/p' | head -1)
DIRTY=""
if [ -z "$BINARY" ]; then
  DIRTY=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo " (with uncommitted changes)" || true)
fi
RUSTC_VERSION=$(rustc --version)
MEM_TOTAL=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

cat >"$OUTPUT" <<EOF
# Benchmarks

Written by \`bench/run.sh\` (one command; see its header for what it does and its options).
Run on $(date -u '+%Y-%m-%d %H:%M UTC').

- **Machine**: $(nproc) CPUs, $CPU_MODEL, $MEM_TOTAL RAM, Linux $(uname -r); load average
  $LOAD_BEFORE before the run, $LOAD_AFTER after (other work shares the machine: timings are noisy).
- **Versions**: huaweicloud-quota-exporter ${REVISION:-unknown}$DIRTY, $RUSTC_VERSION, $WRK_VERSION, $NGINX_VERSION.
- **Method**: nginx serves the exporter's captured bytes, plain with sendfile and gzip with
  \`gzip_static\`; \`wrk -t2 -c16 -d${DURATION}s\`, $ROUNDS interleaved rounds per configuration, medians;
  server CPU per request from \`/proc/PID/stat\` (user + system time) of the exporter and of
  nginx's master and workers over each run.

| series | start-up fan-out | gzip against nginx | plain against nginx | RSS after the load | polling CPU per upstream request (start-up / steady) |
|---|---|---|---|---|---|
$SUMMARY
Rendering (\`cargo bench --bench render\`, medians): 25,000 series $RENDER_25K; 100,000 series
**$RENDER_100K** (bound: 50 ms).
$REPORT
EOF
log "wrote $OUTPUT"
cat "$OUTPUT"
