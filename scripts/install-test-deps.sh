#!/usr/bin/env bash
# Install the Debian packages the integration tests start for real, when they are missing.
set -euo pipefail
packages=()
need() { command -v "$1" >/dev/null 2>&1 || packages+=("$2"); }
# (integration servers are added here as features need them)
need prometheus-node-exporter prometheus-node-exporter
need prometheus prometheus
need victoria-metrics victoria-metrics
need prometheus-libvirt-exporter prometheus-libvirt-exporter
need ip iproute2
if [ ${#packages[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi
