#!/usr/bin/env bash
# Installs redis-server (Debian's package) when it is missing: the local target stands the
# ElastiCache global datastore up as a Redis primary and replica. Safe to run again.
set -euo pipefail
if [ -n "${DRILLBIT_REDIS_SERVER:-}" ] && [ -x "$DRILLBIT_REDIS_SERVER" ]; then
  echo "redis-server present ($DRILLBIT_REDIS_SERVER)"
  exit 0
fi
if command -v redis-server >/dev/null 2>&1; then
  echo "redis-server present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: redis-server missing; run as root or install redis-server yourself" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# Debian may start a server of its own on install; drillbit needs none of it.
if command -v service >/dev/null 2>&1; then
  service redis-server stop >/dev/null 2>&1 || true
fi
command -v redis-server >/dev/null 2>&1 && echo "redis-server installed"
