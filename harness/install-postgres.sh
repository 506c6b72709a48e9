#!/usr/bin/env bash
# Installs the PostgreSQL server binaries the local target needs, when they are missing,
# and the openssl command the TLS tests use.
# Debian's packages; the local target finds them in /usr/lib/postgresql/*/bin (or set
# DRILLBIT_PG_BIN). Safe to run again.
set -euo pipefail
# The aws target's tests serve PostgreSQL over TLS with certificates the openssl command makes.
if ! command -v openssl >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: the openssl command is missing; run as root or install openssl yourself" >&2
    exit 3
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >/dev/null
fi
have_pg() {
  [ -n "${DRILLBIT_PG_BIN:-}" ] && [ -x "$DRILLBIT_PG_BIN/initdb" ] && return 0
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
if have_pg; then
  echo "PostgreSQL server binaries present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: PostgreSQL server binaries missing; run as root or install postgresql yourself" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql postgresql-contrib >/dev/null
# Debian starts a cluster of its own on install; drillbit needs none of it.
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for c in /etc/postgresql/*/main; do
    [ -d "$c" ] && pg_ctlcluster "$(basename "$(dirname "$c")")" main stop 2>/dev/null || true
  done
fi
have_pg && echo "PostgreSQL installed"
