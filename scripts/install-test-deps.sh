#!/usr/bin/env bash
# Install the Debian packages the integration tests start for real, when they are missing.
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
if [ ${#packages[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi
