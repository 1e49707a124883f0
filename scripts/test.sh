#!/usr/bin/env bash
# The whole test suite, as the README and CI run it.
# Installs what the tests need when it is missing, from Debian: promtool and the Prometheus
# server (package `prometheus`), Alertmanager and amtool (package `prometheus-alertmanager`,
# for the Alertmanager example's checks and tests/alerting_e2e.rs), systemd-analyze (package
# `systemd`, for the units' checks and `systemd-socket-activate` in tests/serving.rs), curl
# (HTTP/2 checks in tests/serving.rs), tinyproxy (the HTTP CONNECT proxy of tests/network.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  missing+=(prometheus)
fi
if ! command -v amtool >/dev/null 2>&1 || ! command -v prometheus-alertmanager >/dev/null 2>&1; then
  missing+=(prometheus-alertmanager)
fi
if ! command -v systemd-analyze >/dev/null 2>&1 || ! command -v systemd-socket-activate >/dev/null 2>&1; then
  missing+=(systemd)
fi
if ! command -v curl >/dev/null 2>&1; then
  missing+=(curl)
fi
if ! command -v tinyproxy >/dev/null 2>&1; then
  missing+=(tinyproxy)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages the tests need: ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
promtool --version 2>&1 | head -1
amtool --version 2>&1 | head -1

cargo test --locked
