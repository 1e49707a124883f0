#!/usr/bin/env bash
# The benchmark, in one command: bench/run.sh [options]; writes BENCHMARKS.md.
#
# What it does, on loopback only, every step bounded in time:
#   1. installs wrk and nginx-light (Debian packages) when missing; builds the release binary;
#   2. starts the built-in cloud simulator with N ROMA instances and a fixed latency on every
#      answer, and the exporter polling it (concurrency 32, a rate limit that never binds);
#   3. start-up fan-out: time until /-/ready, against the ideal ceil(requests / concurrency)
#      x latency, and the CPU time that first poll cycle took;
#   4. idle CPU over a quiet stretch (no polls due, no scrapes);
#   5. captures the exposition (plain and gzip) and serves the same bytes from nginx
#      (plain with sendfile, and gzip_static from the precompressed file);
#   6. wrk -t2 -c16 against /metrics of the exporter and of nginx, plain and gzip, several
#      interleaved rounds: requests/s, p99 latency, and the exporter/nginx ratio of medians;
#   7. the exporter's resident memory after that load;
#   8. steady state: a second exporter with a short interval, CPU time per poll cycle and
#      per upstream request measured from /proc/PID/stat over two intervals;
#   9. `cargo bench --bench render` for the time to render 100,000 series;
#  10. writes the tables to BENCHMARKS.md with the machine, versions and date.
#
# Options (defaults in brackets):
#   --roma-instances N   ROMA instances in the simulated cloud [3000]
#   --app-quotas MODE    none: one livedata target per instance (3,000 targets, ~24,000
#                        series); discover: also the client quota list per instance
#                        (6,000 targets, ~57,000 series) [none]
#   --latency D          delay of every simulated answer [100ms]
#   --concurrency N      the exporter's concurrency [32]
#   --rounds N           wrk rounds per configuration [3]
#   --duration S         seconds per wrk run [5]
#   --steady-interval D  poll interval of the steady-state phase [20s]
#   --output FILE        where the report goes [BENCHMARKS.md]
#   --no-cargo-bench     skip step 9
# Takes about four minutes on two cores, plus the builds.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

INSTANCES=3000
APP_QUOTAS=none
LATENCY=100ms
CONCURRENCY=32
ROUNDS=3
DURATION=5
STEADY_INTERVAL=20s
OUTPUT=BENCHMARKS.md
CARGO_BENCH=1
while [ $# -gt 0 ]; do
  case "$1" in
    --roma-instances) INSTANCES=$2; shift 2 ;;
    --app-quotas) APP_QUOTAS=$2; shift 2 ;;
    --latency) LATENCY=$2; shift 2 ;;
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

log "building the release binary"
cargo build --release --locked --quiet
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/huaweicloud-quota-exporter"
[ -x "$BIN" ] || die "no binary at $BIN"

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
CLK_TCK=$(getconf CLK_TCK)
# utime + stime of a process, in seconds (fields 14 and 15, counted after the `(comm)`).
cpu_secs() { awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }
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
# Waits until /-/ready answers 200; prints the nanoseconds since STARTED_NS. Polls sparsely
# until 80% of the predicted ideal (it cannot be ready sooner), then every 10 ms, so the
# polling itself does not compete with the fan-out for CPU.
wait_ready() {
  local ideal_ns=$1 limit_ns=$2 t
  while :; do
    t=$(( $(now_ns) - STARTED_NS ))
    [ "$t" -gt "$limit_ns" ] && die "not ready after $(secs "$t") s: $(curl -s "$EXPORTER_URL/-/ready")"
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$EXPORTER_URL/-/ready")" = 200 ]; then
      echo "$t"; return
    fi
    if [ "$t" -lt $(( ideal_ns * 8 / 10 )) ]; then sleep 0.2; else sleep 0.01; fi
  done
}
latency_ms=$(awk -v d="$LATENCY" 'BEGIN {
  if (d ~ /ms$/) { sub(/ms$/, "", d); print d + 0 } else if (d ~ /s$/) { sub(/s$/, "", d); print d * 1000 } else print -1 }')
[ "$latency_ms" = -1 ] && die "--latency takes ms or s, such as 100ms"
# Milliseconds -> the p99 column: wrk prints 812.00us, 12.34ms or 1.02s.
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
  else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v } else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
  else print "?" }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# --- 2. simulator and config ---------------------------------------------------------------
log "starting the simulator: $INSTANCES ROMA instances, latency $LATENCY"
"$BIN" simulator --listen-address 127.0.0.1:0 --roma-instances "$INSTANCES" --latency "$LATENCY" \
  --write-config "$WORK/base.yaml" --interval 10m 2>"$WORK/simulator.log" &
PIDS+=($!)
SIM_URL=$(wait_url "$WORK/simulator.log" 30 'simulator serving on')
# The same config, with the benchmark's settings: the rate limit is far above what
# concurrency / latency can reach, so only the concurrency cap bounds the fan-out.
make_config() {
  sed -e "s/^defaults:\$/defaults:\n  concurrency: $CONCURRENCY\n  rate_limit: 1000000/" \
      -e "s/^  interval: .*/  interval: $1/" \
      -e "s/app_quotas: discover/app_quotas: $APP_QUOTAS/" "$WORK/base.yaml" >"$2"
}
# Phase 1 polls once: its interval is longer than the whole phase.
make_config 10m "$WORK/exporter.yaml"
make_config "$STEADY_INTERVAL" "$WORK/steady.yaml"
TARGETS=$(targets_of "$WORK/exporter.yaml")
[ -n "$TARGETS" ] || die "cannot read the target count"

# --- 3. start-up fan-out -------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "starting the exporter: $TARGETS targets, concurrency $CONCURRENCY"
start_exporter "$WORK/exporter.yaml" "$WORK/exporter.log"
predicted_ns=$(awk -v n="$TARGETS" -v c="$CONCURRENCY" -v l="$latency_ms" 'BEGIN { r = int((n + c - 1) / c); printf "%d", r * l * 1e6 }')
READY_NS=$(wait_ready "$predicted_ns" $(( predicted_ns * 10 + 60000000000 )))
STARTUP_CPU=$(cpu_secs "$EXPORTER_PID")
REQUESTS=$(requests_total "$EXPORTER_URL")
ROUNDS_IDEAL=$(( (REQUESTS + CONCURRENCY - 1) / CONCURRENCY ))
IDEAL_S=$(awk -v r="$ROUNDS_IDEAL" -v l="$latency_ms" 'BEGIN { printf "%.2f", r * l / 1000 }')
READY_S=$(secs "$READY_NS")
FANOUT_RATIO=$(awk -v a="$READY_S" -v b="$IDEAL_S" 'BEGIN { printf "%.3f", a / b }')
log "ready after $READY_S s; ideal ceil($REQUESTS / $CONCURRENCY) x $LATENCY = $IDEAL_S s; ratio $FANOUT_RATIO"

# --- 4. idle CPU -----------------------------------------------------------------------------
IDLE_WINDOW=10
sleep 1   # the render that made it ready, and the scrape above, are not idle time
c0=$(cpu_secs "$EXPORTER_PID"); t0=$(now_ns)
sleep "$IDLE_WINDOW"
c1=$(cpu_secs "$EXPORTER_PID"); t1=$(now_ns)
IDLE_CPU_PCT=$(awk -v a="$c0" -v b="$c1" -v ns=$((t1 - t0)) 'BEGIN { printf "%.2f", (b - a) / (ns / 1e9) * 100 }')
IDLE_CPU_S=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
log "idle: $IDLE_CPU_S s CPU in $IDLE_WINDOW s"

# --- 5. capture, nginx -------------------------------------------------------------------------
mkdir -p "$WORK/www" "$WORK/nginx/tmp"
curl -sf "$EXPORTER_URL/metrics" -o "$WORK/www/metrics"
curl -sf -H 'Accept-Encoding: gzip' "$EXPORTER_URL/metrics" -o "$WORK/www/metrics.gz"
gzip -t "$WORK/www/metrics.gz" || die "the exporter's gzip body does not decode"
chmod -R a+rX "$WORK/www"
PLAIN_BYTES=$(stat -c %s "$WORK/www/metrics")
GZIP_BYTES=$(stat -c %s "$WORK/www/metrics.gz")
SERIES=$(grep -vc '^#' "$WORK/www/metrics")
NGINX_PORT=$(free_port)
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  types { }
  default_type "text/plain; version=0.0.4; charset=utf-8";
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/www;
    location = /metrics { gzip_static on; }
  }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>"$WORK/nginx/stderr" &
PIDS+=($!)
NGINX_URL="http://127.0.0.1:$NGINX_PORT"
for _ in $(seq 1 100); do curl -sf -o /dev/null "$NGINX_URL/metrics" && break; sleep 0.05; done
n_plain=$(curl -sf -o /dev/null -w '%{size_download}' "$NGINX_URL/metrics") || die "nginx does not serve: $(cat "$WORK/nginx/stderr")"
n_gzip=$(curl -sf -o /dev/null -w '%{size_download}' -H 'Accept-Encoding: gzip' "$NGINX_URL/metrics")
[ "$n_plain" = "$PLAIN_BYTES" ] && [ "$n_gzip" = "$GZIP_BYTES" ] || die "nginx serves $n_plain/$n_gzip bytes, not $PLAIN_BYTES/$GZIP_BYTES"

# --- 6. load ----------------------------------------------------------------------------------
WRK_VERSION=$( (wrk -v 2>&1 || true) | awk 'NR == 1 { print $1, $2 }')
# Runs wrk; prints "req/s p99_ms errors".
load() {
  local url=$1 enc=$2 out
  local args=(-t2 -c16 "-d${DURATION}s" --latency)
  [ "$enc" = gzip ] && args+=(-H 'Accept-Encoding: gzip')
  out=$(timeout $((DURATION + 30)) wrk "${args[@]}" "$url/metrics") || die "wrk failed on $url"
  local rps p99 errors
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  errors=$(awk '/Non-2xx|Socket errors/ { e = e $0 "; " } END { print (e == "" ? "none" : e) }' <<<"$out")
  echo "$rps $p99 $errors"
}
ROWS=""
: >"$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
  for enc in plain gzip; do
    # Alternate who goes first, so neither always gets the quieter moment.
    if [ $(( round % 2 )) = 1 ]; then order="exporter nginx"; else order="nginx exporter"; fi
    for who in $order; do
      [ "$who" = exporter ] && url=$EXPORTER_URL || url=$NGINX_URL
      read -r rps p99 errors <<<"$(load "$url" "$enc")"
      [ "$errors" = none ] || die "$who $enc: $errors"
      log "round $round $enc $who: $rps req/s, p99 $p99 ms"
      echo "$round $enc $who $rps $p99" >>"$WORK/results"
    done
  done
done
med() { awk -v e="$1" -v w="$2" -v f="$3" '$2 == e && $3 == w { print $f }' "$WORK/results" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
for enc in plain gzip; do
  for who in exporter nginx; do
    declare "RPS_${enc}_${who}=$(med "$enc" "$who" 4)"
    declare "P99_${enc}_${who}=$(med "$enc" "$who" 5)"
  done
done
RATIO_plain=$(ratio "$RPS_plain_exporter" "$RPS_plain_nginx")
RATIO_gzip=$(ratio "$RPS_gzip_exporter" "$RPS_gzip_nginx")
for round in $(seq 1 "$ROUNDS"); do
  for enc in plain gzip; do
    er=$(awk -v r="$round" -v e="$enc" '$1 == r && $2 == e && $3 == "exporter" { print $4, $5 }' "$WORK/results")
    nr=$(awk -v r="$round" -v e="$enc" '$1 == r && $2 == e && $3 == "nginx" { print $4, $5 }' "$WORK/results")
    ROWS+="| $round | $enc | ${er% *} | ${er#* } | ${nr% *} | ${nr#* } | $(ratio "${er% *}" "${nr% *}") |"$'\n'
  done
done

# --- 7. memory ------------------------------------------------------------------------------
RSS_KIB=$(rss_kib "$EXPORTER_PID" VmRSS)
HWM_KIB=$(rss_kib "$EXPORTER_PID" VmHWM)
RSS_MIB=$(awk -v k="$RSS_KIB" 'BEGIN { printf "%.1f", k / 1024 }')
HWM_MIB=$(awk -v k="$HWM_KIB" 'BEGIN { printf "%.1f", k / 1024 }')
log "RSS after the load: $RSS_MIB MiB (peak $HWM_MIB MiB)"
kill "$EXPORTER_PID"; wait "$EXPORTER_PID" 2>/dev/null || true

# --- 8. steady state -------------------------------------------------------------------------
steady_s=$(awk -v d="$STEADY_INTERVAL" 'BEGIN { if (d ~ /m$/) { sub(/m$/, "", d); print d * 60 } else { sub(/s$/, "", d); print d + 0 } }')
log "steady state: interval $STEADY_INTERVAL, measuring two intervals"
start_exporter "$WORK/steady.yaml" "$WORK/steady.log"
wait_ready "$predicted_ns" $(( predicted_ns * 10 + 60000000000 )) >/dev/null
r0=$(requests_total "$EXPORTER_URL"); c0=$(cpu_secs "$EXPORTER_PID"); t0=$(now_ns)
sleep "$(awk -v s="$steady_s" 'BEGIN { print s * 2 }')"
r1=$(requests_total "$EXPORTER_URL"); c1=$(cpu_secs "$EXPORTER_PID"); t1=$(now_ns)
STEADY_CPU_PCT=$(awk -v a="$c0" -v b="$c1" -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", (b - a) / (ns / 1e9) * 100 }')
STEADY_CYCLE_S=$(awk -v a="$c0" -v b="$c1" -v ns=$((t1 - t0)) -v i="$steady_s" 'BEGIN { printf "%.2f", (b - a) / (ns / 1e9) * i }')
STEADY_REQS=$((r1 - r0))
STEADY_PER_REQ_US=$(awk -v a="$c0" -v b="$c1" -v n="$STEADY_REQS" 'BEGIN { if (n > 0) printf "%.0f", (b - a) / n * 1e6; else print "?" }')
STEADY_RSS_MIB=$(awk -v k="$(rss_kib "$EXPORTER_PID" VmRSS)" 'BEGIN { printf "%.1f", k / 1024 }')
log "steady: $STEADY_CPU_PCT% of a core, $STEADY_CYCLE_S s CPU per cycle, $STEADY_PER_REQ_US us per request"
kill "$EXPORTER_PID"; wait "$EXPORTER_PID" 2>/dev/null || true
STARTUP_PER_REQ_US=$(awk -v c="$STARTUP_CPU" -v n="$REQUESTS" 'BEGIN { printf "%.0f", c / n * 1e6 }')

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
RENDER_100K_MS=$(awk -v v="$RENDER_100K" 'BEGIN { split(v, a, " "); if (a[2] == "ms") print a[1]; else if (a[2] == "µs") print a[1] / 1000; else if (a[2] == "s") print a[1] * 1000; else print "" }')

# --- 10. report ----------------------------------------------------------------------------------
yes_no() { awk -v c="$1" 'BEGIN { print (c ? "yes" : "**no**") }'; }
MET_FANOUT=$(yes_no "$(awk -v r="$FANOUT_RATIO" 'BEGIN { print (r <= 1.1) }')")
MET_PLAIN=$(yes_no "$(awk -v r="$RATIO_plain" 'BEGIN { print (r >= 0.9) }')")
MET_GZIP=$(yes_no "$(awk -v r="$RATIO_gzip" 'BEGIN { print (r >= 0.9) }')")
MET_RSS=$(yes_no "$(awk -v m="$RSS_MIB" 'BEGIN { print (m <= 32) }')")
MET_IDLE=$(yes_no "$(awk -v p="$IDLE_CPU_PCT" 'BEGIN { print (p < 0.5) }')")
if [ -n "$RENDER_100K_MS" ]; then
  MET_RENDER=$(yes_no "$(awk -v m="$RENDER_100K_MS" 'BEGIN { print (m < 50) }')")
else
  MET_RENDER="not measured"
fi
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
REVISION=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo " (with uncommitted changes)" || true)
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/.*version: //')
RUSTC_VERSION=$(rustc --version)
MEM_TOTAL=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

cat >"$OUTPUT" <<EOF
# Benchmarks

Written by \`bench/run.sh\` (one command; see its header for what it does and its options).
Run on $(date -u '+%Y-%m-%d %H:%M UTC').

- **Machine**: $(nproc) CPUs, $CPU_MODEL, $MEM_TOTAL RAM, Linux $(uname -r); load average
  $LOAD_BEFORE before the run, $LOAD_AFTER after (other work shares the machine: timings are noisy).
- **Versions**: huaweicloud-quota-exporter $REVISION$DIRTY, $RUSTC_VERSION, $WRK_VERSION, $NGINX_VERSION.
- **Setup**: the built-in simulator with $INSTANCES ROMA instances (\`app_quotas: $APP_QUOTAS\`), every answer
  delayed by $LATENCY; the exporter with concurrency $CONCURRENCY and a rate limit that never binds:
  **$TARGETS targets, $SERIES series, $PLAIN_BYTES bytes plain, $GZIP_BYTES bytes gzip**.
  nginx serves the captured bytes: plain with sendfile, gzip with \`gzip_static\`.
  Load: \`wrk -t2 -c16 -d${DURATION}s\`, $ROUNDS interleaved rounds per configuration, medians.

## Against the targets

| what | measured | target | met |
|---|---|---|---|
| start-up fan-out: exec to \`/-/ready\` | $READY_S s; ideal ceil($REQUESTS / $CONCURRENCY) x $LATENCY = $IDEAL_S s: **${FANOUT_RATIO}x** | <= 1.1x | $MET_FANOUT |
| \`/metrics\` plain, req/s | exporter $RPS_plain_exporter, nginx $RPS_plain_nginx: **${RATIO_plain}x** | >= 0.9x | $MET_PLAIN |
| \`/metrics\` gzip, req/s | exporter $RPS_gzip_exporter, nginx $RPS_gzip_nginx: **${RATIO_gzip}x** | >= 0.9x | $MET_GZIP |
| p99 latency plain / gzip | exporter $P99_plain_exporter / $P99_gzip_exporter ms, nginx $P99_plain_nginx / $P99_gzip_nginx ms | | |
| resident memory after the load | **$RSS_MIB MiB** (peak $HWM_MIB MiB) | <= 32 MiB | $MET_RSS |
| CPU, first poll cycle (exec to ready) | $STARTUP_CPU s for $REQUESTS requests ($STARTUP_PER_REQ_US µs each) | | |
| CPU, steady state (interval $STEADY_INTERVAL) | $STEADY_CPU_PCT% of a core: **$STEADY_CYCLE_S s per poll cycle**, $STEADY_PER_REQ_US µs per request ($STEADY_REQS requests; RSS $STEADY_RSS_MIB MiB) | | |
| CPU while idle (no poll due, no scrape) | $IDLE_CPU_S s in $IDLE_WINDOW s ($IDLE_CPU_PCT%) | near zero | $MET_IDLE |
| render 25,000 series (\`cargo bench\`, median) | $RENDER_25K | | |
| render 100,000 series (\`cargo bench\`, median) | **$RENDER_100K** | < 50 ms | $MET_RENDER |

## Rounds

| round | encoding | exporter req/s | exporter p99 ms | nginx req/s | nginx p99 ms | ratio |
|---|---|---|---|---|---|---|
$ROWS
EOF
log "wrote $OUTPUT"
cat "$OUTPUT"
