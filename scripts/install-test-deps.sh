#!/usr/bin/env bash
# Install the Debian packages the integration tests start for real, and the pinned axe-core the browser
# tests inject into the pages (tests/web/axe/package-lock.json), when they are missing.
# Idempotent: the package index is refreshed once, and only when something is missing.
set -euo pipefail
packages=()
need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ] || packages+=("$2"); }
need rabbitmq-server rabbitmq-server
need prometheus-node-exporter prometheus-node-exporter
need prometheus prometheus
need victoria-metrics victoria-metrics
need prometheus-libvirt-exporter prometheus-libvirt-exporter
need ip iproute2
need chromium chromium
axe_dir="$(dirname "$0")/../tests/web/axe"
axe_js="$axe_dir/node_modules/axe-core/axe.min.js"
if [ ! -f "$axe_js" ]; then
    need node nodejs
    need npm npm
fi
if [ ${#packages[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi
if [ ! -f "$axe_js" ]; then
    npm ci --prefix "$axe_dir" --no-audit --no-fund
fi
