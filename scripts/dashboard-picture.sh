#!/usr/bin/env bash
# Makes docs/dashboard.png, the dashboard picture in the README, from a real run:
# the simulator (demo world) -> the exporter -> Prometheus (Debian's package) with the alert
# rules loaded; then scripts/render-dashboard.py runs every panel's query of
# dashboards/huaweicloud-quota.json against that Prometheus and draws the panels with
# matplotlib, laid out as in Grafana. (No Grafana here; see docs/operations.md.)
#
#   cargo build --release && pip install matplotlib && scripts/dashboard-picture.sh [DURATION_SECONDS]
#
# DURATION_SECONDS (default 1200) is how long data is collected; the simulator's usage drifts
# with periods of 10-18 minutes, so 20 minutes show a good part of a cycle.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-1200}"
bin="${BIN:-${CARGO_TARGET_DIR:-target}/release/huaweicloud-quota-exporter}"
prometheus="${PROMETHEUS:-prometheus}"
out="${OUT:-docs/dashboard.png}"
[ -x "$bin" ] || { echo "no exporter binary at $bin: run cargo build --release (or set BIN)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Polls URL until it answers 200, for at most 30 s.
wait_http() {
  for _ in $(seq 1 300); do
    if python3 -c "import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2; return 1
}

tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

sim_port="$(free_port)"; exp_port="$(free_port)"; prom_port="$(free_port)"
"$bin" simulator --listen-address "127.0.0.1:$sim_port" --write-config "$tmp/exporter.yaml" --interval 5s 2>"$tmp/simulator.log" &
pids+=($!)
for _ in $(seq 1 300); do [ -s "$tmp/exporter.yaml" ] && break; sleep 0.1; done
[ -s "$tmp/exporter.yaml" ] || { echo "simulator did not start:"; cat "$tmp/simulator.log"; exit 1; } >&2

"$bin" --config.file "$tmp/exporter.yaml" --web.listen-address "127.0.0.1:$exp_port" 2>"$tmp/exporter.log" &
pids+=($!)
wait_http "http://127.0.0.1:$exp_port/-/ready"

cp deploy/prometheus/huaweicloud-quota.rules.yml "$tmp/"
cat >"$tmp/prometheus.yml" <<YAML
global: {scrape_interval: 5s, evaluation_interval: 5s}
rule_files: [huaweicloud-quota.rules.yml]
scrape_configs:
  - job_name: huaweicloud-quota-exporter
    static_configs: [{targets: ['127.0.0.1:$exp_port']}]
YAML
"$prometheus" --config.file "$tmp/prometheus.yml" --storage.tsdb.path "$tmp/data" \
  --web.listen-address "127.0.0.1:$prom_port" 2>"$tmp/prometheus.log" &
pids+=($!)
wait_http "http://127.0.0.1:$prom_port/-/ready"

echo "collecting for ${duration}s (Prometheus at http://127.0.0.1:$prom_port) ..." >&2
sleep "$duration"
python3 scripts/render-dashboard.py --prometheus "http://127.0.0.1:$prom_port" \
  --dashboard dashboards/huaweicloud-quota.json --range "$duration" --out "$out"
echo "wrote $out" >&2
