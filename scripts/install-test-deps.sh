#!/usr/bin/env bash
# Install the Debian packages the integration tests start (idempotent; installs only what is missing).
set -euo pipefail

packages=(prometheus prometheus-node-exporter iproute2)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
