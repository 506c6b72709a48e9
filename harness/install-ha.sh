#!/usr/bin/env bash
# Installs the external PostgreSQL HA stacks the HA integration tests drive through
# harness/ha/pgaf.sh and harness/ha/patroni.sh, when they are missing:
#   pg_auto_failover (postgresql-15-auto-failover, command pg_autoctl),
#   Patroni (patroni) and etcd (etcd-server, etcd-client for etcdctl).
# Debian's packages. The PostgreSQL server itself comes from harness/install-postgres.sh.
# Also makes sure the system user `drillbit` exists (PostgreSQL refuses to run as root).
# Debian may start etcd, patroni or a PostgreSQL cluster on install; they are stopped and
# disabled so they do not hold ports the harness needs. Safe to run again.
set -euo pipefail

PKGS=(postgresql-15-auto-failover pg-auto-failover-cli patroni etcd-server etcd-client procps)

pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

have_all() {
  for p in "${PKGS[@]}"; do
    pkg_installed "$p" || return 1
  done
  command -v pg_autoctl >/dev/null 2>&1 || return 1
  [ -e /usr/lib/postgresql/15/lib/pgautofailover.so ] || return 1
  command -v patroni >/dev/null 2>&1 || return 1
  command -v etcd >/dev/null 2>&1 || return 1
  return 0
}

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: $1; run as root or do it yourself" >&2
    exit 3
  fi
}

if ! id drillbit >/dev/null 2>&1; then
  need_root "the system user drillbit is missing"
  useradd --system --no-create-home --shell /usr/sbin/nologin drillbit
fi

stop_services() {
  # Services Debian may have started (when no policy-rc.d forbids it).
  local svc
  for svc in etcd patroni; do
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
      systemctl disable --now "$svc" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$svc" ]; then
      "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1 && [ -x "/etc/init.d/$svc" ]; then
      update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  done
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now postgresql >/dev/null 2>&1 || true
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    local c
    for c in /etc/postgresql/*/*; do
      [ -d "$c" ] || continue
      pg_ctlcluster "$(basename "$(dirname "$c")")" "$(basename "$c")" stop >/dev/null 2>&1 || true
    done
  fi
  # An etcd that the package's init started without a service manager: the Debian
  # package runs it as the user etcd, never as drillbit, so this spares the harness's own.
  if id etcd >/dev/null 2>&1; then
    local pid
    for pid in $(pgrep -u etcd -x etcd 2>/dev/null || true); do
      kill "$pid" 2>/dev/null || true
    done
  fi
}

if have_all; then
  echo "HA packages present (pg_auto_failover, patroni, etcd)"
  exit 0
fi

need_root "HA packages missing (${PKGS[*]})"
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${PKGS[@]}"; do
  pkg_installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  # Only refresh the package lists when apt does not know a package yet.
  for p in "${missing[@]}"; do
    if ! apt-cache show "$p" >/dev/null 2>&1; then
      apt-get update -qq
      break
    fi
  done
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    # A stale list gives 404s for superseded versions: refresh once and try again.
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
stop_services

if have_all; then
  echo "HA packages installed (pg_auto_failover, patroni, etcd)"
else
  echo "error: HA packages still missing after install" >&2
  exit 1
fi
