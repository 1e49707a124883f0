#!/usr/bin/env bash
# Screenshot of the landing page on the demo (README: docs/landing.png), taken with
# headless Chromium. Installs Debian's chromium (and curl) when missing.
#   scripts/screenshot.sh [OUT.png] [WIDTHxHEIGHT]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/landing.png}"
size="${2:-1400x2620}"

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cargo build --release --locked --quiet
bin="${CARGO_TARGET_DIR:-target}/release/huaweicloud-quota-exporter"

work="$(mktemp -d)"
exporter_pid=""
cleanup() {
  if [ -n "$exporter_pid" ]; then kill "$exporter_pid" 2>/dev/null || true; wait "$exporter_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" --demo --web.listen-address 127.0.0.1:0 2>"$work/log" &
exporter_pid=$!

# Where it serves, then readiness (every demo target polled once); 30 s at most.
url=""
for _ in $(seq 300); do
  url="$(sed -n 's|.*serving on \(http://[^/ ]*/\).*|\1|p' "$work/log" | head -1)"
  if [ -n "$url" ] && curl -fsS -o /dev/null "${url}-/ready" 2>/dev/null; then break; fi
  url=""
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "the demo did not become ready; its log:" >&2
  cat "$work/log" >&2
  exit 1
fi

mkdir -p "$(dirname "$out")"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --hide-scrollbars --force-device-scale-factor=1 \
  --user-data-dir="$work/profile" --screenshot="$out" --window-size="${size/x/,}" \
  "$url" 2>"$work/chromium.log" || { cat "$work/chromium.log" >&2; exit 1; }
echo "wrote $out ($size) from $url"
