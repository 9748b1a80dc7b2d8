#!/bin/sh
# Install the Debian packages the integration tests start for real. Idempotent: the package
# index is refreshed once, and only when something is missing.
set -eu

missing=""
command -v rabbitmq-server >/dev/null 2>&1 || missing="$missing rabbitmq-server"

if [ -n "$missing" ]; then
    apt-get update
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi
