#!/usr/bin/env bash
# Installs what shipper needs on a fresh machine: npm dependencies, and Debian's nats-server
# when no nats-server is on PATH. Safe to run again: it does nothing when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules/@nats-io/jetstream ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "shipper: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ] && [ -z "${NATS_SERVER_BIN:-}" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    echo "shipper: installing nats-server from Debian's packages" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  else
    echo "shipper: nats-server is not installed. Install it (Debian/Ubuntu: sudo apt-get install nats-server;" >&2
    echo "  elsewhere: https://docs.nats.io) or set NATS_SERVER_BIN to its path, then run this again." >&2
    exit 1
  fi
fi
