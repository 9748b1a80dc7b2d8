#!/usr/bin/env bash
# Debian packages the integration tests need; safe to run again.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
    apt-get update
    apt-get install -y --no-install-recommends chromium
fi
