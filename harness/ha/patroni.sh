#!/usr/bin/env bash
# A Patroni + etcd stack on loopback for HA integration tests: one etcd member and two
# Patroni nodes (leader + streaming replica), trust auth on 127.0.0.1, short DCS timings,
# use_pg_rewind, watchdog off. SIGKILL of the leader's patroni (its PostgreSQL stays up)
# gives a real split brain: the old primary stays writable, the replica promotes once the
# leader key's lease expires; `restart-agent` brings the old node's patroni back, which
# rewinds the old primary (discarding what it took during the split) and rejoins it.
# Everything lives under DIR; every etcd / Patroni / PostgreSQL process runs as the system
# user drillbit. Needs harness/install-postgres.sh and harness/install-ha.sh first.
#
# Ports from BASEPORT (B): etcd client B, node1 postgres B+1, node2 postgres B+2,
# node1 REST API B+3, node2 REST API B+4, etcd peer B+5.
#
#   patroni.sh up DIR BASEPORT      waits for a leader and a streaming replica, prints KEY='VALUE'
#   patroni.sh leader DIR           port of the current leader, per the DCS (REST API /cluster)
#   patroni.sh state DIR            members as the DCS sees them (name role state port timeline)
#   patroni.sh kill-agent DIR N     SIGKILL node N's patroni only (its PostgreSQL stays up)
#   patroni.sh restart-agent DIR N  start node N's patroni again, in the background, same config
#   patroni.sh down DIR             stop everything started for DIR, wait until it has exited
#
# stdout carries only KEY='VALUE' lines (eval-able; values are always single-quoted and never
# contain a quote); progress and errors go to stderr; logs are in DIR/log.
# Environment: PATRONI_UP_TIMEOUT (seconds, default 90) bounds `up`; DRILLBIT_PG_BIN overrides
# the PostgreSQL bin directory.
set -euo pipefail

PROG=patroni.sh
PGUSER_NAME=postgres
PGDB_NAME=postgres
RUN_USER=drillbit
PY=/usr/bin/python3   # Debian's patroni runs on it; pyenv shims elsewhere on PATH do not matter
# DCS timings: Patroni needs loop_wait + 2*retry_timeout <= ttl.
TTL=5
LOOP_WAIT=1
RETRY_TIMEOUT=2

die() { echo "$PROG: error: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

find_pg_bin() {
  if [ -n "${DRILLBIT_PG_BIN:-}" ] && [ -x "$DRILLBIT_PG_BIN/initdb" ]; then
    echo "$DRILLBIT_PG_BIN"; return 0
  fi
  local d best=""
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_rewind" ] && best=$d
  done
  [ -n "$best" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql (run harness/install-postgres.sh)"
  echo "$best"
}

# ---------- process helpers (pids are checked, never matched by name) ----------

alive() {
  local st
  st=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

ps_table() { ps -e -o pid=,ppid=,sid=,stat= | awk '$4 !~ /^Z/ {print $1, $2, $3}'; }

descendants_and_self() {
  local table out new p
  table=$(ps_table)
  out=" $* "
  while :; do
    new=$(awk -v set="$out" 'BEGIN{n=split(set,a," "); for(i=1;i<=n;i++) s[a[i]]=1}
      ($2 in s) && !($1 in s) {print $1}' <<<"$table")
    [ -z "$new" ] && break
    for p in $new; do out="$out$p "; done
  done
  for p in $out; do alive "$p" && echo "$p"; done
  return 0
}

cmdline_has() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF -- "$2"; }

# session_pids SIDS...: live processes in the recorded sessions that are drillbit's, or are
# the session leader (runuser, root) with DIR on its command line. A recorded session counts
# while its leader is gone or is alive with DIR on its command line (pid reuse is skipped).
session_pids() {
  local set=" " uid pid sid u
  uid=$(id -u "$RUN_USER")
  for sid in "$@"; do
    if ! alive "$sid" || cmdline_has "$sid" "$DIR/"; then set="$set$sid "; fi
  done
  [ "$set" = " " ] && return 0
  ps -e -o pid=,sid=,uid=,stat= | awk -v set="$set" 'BEGIN{n=split(set,a," "); for(i=1;i<=n;i++) s[a[i]]=1}
      ($2 in s) && $4 !~ /^Z/ {print $1, $2, $3}' |
    while read -r pid sid u; do
      if [ "$u" = "$uid" ]; then echo "$pid"
      elif [ "$pid" = "$sid" ] && cmdline_has "$pid" "$DIR/"; then echo "$pid"
      fi
    done
}

# postmaster_pid PGDATA: pid of the postmaster serving PGDATA, verified by its command line.
postmaster_pid() {
  local pgdata=$1 pid
  [ -r "$pgdata/postmaster.pid" ] || return 1
  pid=$(head -n1 "$pgdata/postmaster.pid" 2>/dev/null | tr -dc 0-9)
  [ -n "$pid" ] && alive "$pid" || return 1
  cmdline_has "$pid" "-D $pgdata " || return 1
  echo "$pid"
}

# pidfile_pid FILE MUST_CONTAIN: the live pid on FILE's first line whose command line
# contains MUST_CONTAIN.
pidfile_pid() {
  local f=$1 what=$2 pid
  [ -r "$f" ] || return 1
  pid=$(head -n1 "$f" 2>/dev/null | tr -dc 0-9)
  [ -n "$pid" ] && alive "$pid" || return 1
  cmdline_has "$pid" "$what" || return 1
  echo "$pid"
}

wait_gone() {
  local t=$1; shift
  local end=$(( $(date +%s) + t )) p any
  while :; do
    any=0
    for p in "$@"; do alive "$p" && { any=1; break; }; done
    [ $any -eq 0 ] && return 0
    [ "$(date +%s)" -ge "$end" ] && return 1
    sleep 0.1
  done
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------- layout ----------

setup_vars() {
  DIR=$1
  case "$DIR" in /*) ;; *) DIR="$(pwd)/$DIR" ;; esac
  DIR=${DIR%/}
  case "$DIR" in *"'"*|*" "*) die "DIR must not contain quotes or spaces: $DIR" ;; esac
  PGBIN=$(find_pg_bin)
  SOCK=$DIR/sock
  LOG=$DIR/log
  RUN=$DIR/run
}

set_ports() {
  ETCD_PORT=$1; P1=$(($1 + 1)); P2=$(($1 + 2)); R1=$(($1 + 3)); R2=$(($1 + 4)); ETCD_PEER=$(($1 + 5))
}

load_ports() {
  [ -r "$RUN/ports" ] || die "no stack recorded under $DIR (run up first)"
  local b; b=$(cat "$RUN/ports")
  set_ports "$b"
}

node_port() { if [ "$1" = 1 ]; then echo "$P1"; else echo "$P2"; fi; }
node_rest() { if [ "$1" = 1 ]; then echo "$R1"; else echo "$R2"; fi; }
node_pgdata() { echo "$DIR/node$1/data"; }
node_conf() { echo "$DIR/node$1/patroni.yml"; }

as_prefix() {
  local envs=(PATH="$PGBIN:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 LC_ALL=C.UTF-8
    HOME="$DIR" PGHOST="$SOCK" PGUSER="$PGUSER_NAME" TMPDIR="$DIR/tmp" PYTHONDONTWRITEBYTECODE=1)
  if [ "$(id -un)" = "$RUN_USER" ]; then
    AS=(env -i "${envs[@]}")
  else
    AS=(runuser -u "$RUN_USER" -- env -i "${envs[@]}")
  fi
}

run_as() { as_prefix; "${AS[@]}" "$@"; }

# start_bg NAME PIDFILE CMD...: start CMD as drillbit in a new session (output to
# DIR/log/NAME.log); CMD is exec'd by a shell that first writes its pid to PIDFILE, so
# PIDFILE's first line is CMD's own pid. The session id goes to DIR/run/NAME.sid.
start_bg() {
  local name=$1 pidfile=$2; shift 2
  rm -f "$pidfile"
  as_prefix
  # A background child of a non-interactive shell is no group leader, so setsid does not
  # fork: $! is the session leader and its pid the session id.
  setsid "${AS[@]}" /bin/sh -c 'echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
    >>"$LOG/$name.log" 2>&1 </dev/null &
  echo "$!" >>"$RUN/$name.sid"
  local end=$(( $(date +%s) + 10 ))
  until [ -s "$pidfile" ]; do
    [ "$(date +%s)" -ge "$end" ] && die "$name did not start (see $LOG/$name.log)"
    sleep 0.05
  done
}

# http GET URL -> prints "STATUS BODY" (STATUS 0 when unreachable); 1 s timeout.
http_get() {
  "$PY" - "$1" <<'EOF'
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=1) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode(errors="replace"))
except Exception:
    print(0)
EOF
}

http_status() { http_get "$1" | head -n1 | cut -d' ' -f1; }

psql_at() { # psql_at PORT SQL
  as_prefix
  timeout -k 2 10 "${AS[@]}" psql -X -q -At "host=127.0.0.1 port=$1 user=$PGUSER_NAME dbname=$PGDB_NAME connect_timeout=1" \
    -v ON_ERROR_STOP=1 -c "$2" 2>/dev/null
}

# members: "name role state port timeline" per member, from the first REST API that
# answers /cluster (it reads the DCS); falls back to etcd itself when no patroni is up.
members() {
  local r out
  for r in "$R1" "$R2"; do
    out=$(http_get "http://127.0.0.1:$r/cluster")
    if [ "${out%% *}" = 200 ]; then
      "$PY" -c '
import json, sys
d = json.loads(sys.stdin.read().split(" ", 1)[1])
for m in d.get("members", []):
    print(m.get("name"), m.get("role"), m.get("state"), m.get("port"), m.get("timeline", "-"))
' <<<"$out"
      return 0
    fi
  done
  "$PY" - "$ETCD_PORT" <<'EOF'
import base64, json, sys, urllib.request
port = sys.argv[1]
def rng(key, prefix=False):
    body = {"key": base64.b64encode(key.encode()).decode()}
    if prefix:
        end = key[:-1] + chr(ord(key[-1]) + 1)
        body["range_end"] = base64.b64encode(end.encode()).decode()
    req = urllib.request.Request("http://127.0.0.1:%s/v3/kv/range" % port, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=1) as r:
        return json.loads(r.read()).get("kvs", [])
try:
    lead = rng("/drillbit/drillbit/leader")
    leader = base64.b64decode(lead[0]["value"]).decode() if lead else None
    for kv in rng("/drillbit/drillbit/members/", True):
        name = base64.b64decode(kv["key"]).decode().rsplit("/", 1)[1]
        m = json.loads(base64.b64decode(kv["value"]))
        port = m.get("conn_url", "").rsplit(":", 1)[-1].split("/")[0]
        role = "leader" if name == leader else "replica"
        print(name, role, m.get("state"), port, m.get("timeline", "-"))
except Exception:
    sys.exit(1)
EOF
}

etcd_pid() { pidfile_pid "$RUN/etcd.pid" "--data-dir $DIR/etcd"; }
patroni_pid() { pidfile_pid "$RUN/node$1.patroni.pid" "$(node_conf "$1")"; }

# ---------- up ----------

write_conf() {
  local n=$1 port rest
  port=$(node_port "$n"); rest=$(node_rest "$n")
  cat >"$(node_conf "$n")" <<EOF
# drillbit HA test harness: Patroni node$n (written by harness/ha/patroni.sh)
scope: drillbit
namespace: /drillbit/
name: node$n

log:
  level: INFO

restapi:
  listen: 127.0.0.1:$rest
  connect_address: 127.0.0.1:$rest

etcd3:
  hosts: 127.0.0.1:$ETCD_PORT
  protocol: http

bootstrap:
  dcs:
    # loop_wait + 2*retry_timeout <= ttl
    ttl: $TTL
    loop_wait: $LOOP_WAIT
    retry_timeout: $RETRY_TIMEOUT
    maximum_lag_on_failover: 1048576
    check_timeline: true
    synchronous_mode: false
    postgresql:
      use_pg_rewind: true
      use_slots: true
      remove_data_directory_on_rewind_failure: true
      remove_data_directory_on_diverged_timelines: true
      parameters:
        wal_log_hints: 'on'
        max_connections: 50
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 128MB
        hot_standby: 'on'
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth: trust

postgresql:
  listen: 127.0.0.1:$port
  connect_address: 127.0.0.1:$port
  data_dir: $(node_pgdata "$n")
  bin_dir: $PGBIN
  pgpass: $DIR/node$n/pgpass
  use_unix_socket: true
  authentication:
    superuser:
      username: $PGUSER_NAME
    replication:
      username: replicator
    rewind:
      username: $PGUSER_NAME
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
  parameters:
    unix_socket_directories: '$SOCK'
    shared_buffers: 32MB
    work_mem: 4MB
    maintenance_work_mem: 32MB
    fsync: 'off'
    logging_collector: 'off'
  basebackup:
    - checkpoint: fast

watchdog:
  mode: 'off'
  # only silences "Watchdog not supported because leader TTL ... is less than 2x loop_wait"
  safety_margin: -1

tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
EOF
}

start_patroni() {
  local n=$1
  start_bg "node$n" "$RUN/node$n.patroni.pid" /usr/bin/patroni "$(node_conf "$n")"
}

wait_until() { # wait_until DEADLINE MESSAGE CMD...
  local deadline=$1 msg=$2; shift 2
  until "$@"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      note "members: $(members 2>/dev/null | tr '\n' ';' || true)"
      die "$msg within ${PATRONI_UP_TIMEOUT:-90}s (see $LOG)"
    fi
    sleep 0.2
  done
}

etcd_healthy() { http_get "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
is_primary() { [ "$(http_status "http://127.0.0.1:$(node_rest "$1")/primary")" = 200 ] && psql_at "$(node_port "$1")" "select pg_is_in_recovery()" | grep -qx f; }
is_streaming_replica() {
  [ "$(http_status "http://127.0.0.1:$(node_rest "$2")/replica")" = 200 ] &&
    [ "$(psql_at "$(node_port "$1")" "select count(*) from pg_stat_replication where state = 'streaming' and application_name = 'node$2'")" = 1 ]
}

cmd_up() {
  [ $# -eq 2 ] || die "usage: $PROG up DIR BASEPORT"
  setup_vars "$1"
  local base=$2
  case "$base" in ''|*[!0-9]*) die "BASEPORT must be a number: $base" ;; esac
  [ "$base" -ge 1024 ] && [ "$base" -le 65530 ] || die "BASEPORT out of range: $base"
  set_ports "$base"
  [ "$(id -u)" -eq 0 ] || [ "$(id -un)" = "$RUN_USER" ] || die "run as root (or as $RUN_USER)"
  [ -x /usr/bin/patroni ] || die "patroni missing (run harness/install-ha.sh)"
  command -v etcd >/dev/null 2>&1 || die "etcd missing (run harness/install-ha.sh)"
  if ! id "$RUN_USER" >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || die "user $RUN_USER missing"
    useradd --system --no-create-home --shell /usr/sbin/nologin "$RUN_USER"
  fi
  local sockpath="$SOCK/.s.PGSQL.$P2"
  [ ${#sockpath} -lt 100 ] || die "DIR is too long for a unix socket path: $DIR"
  if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
    die "DIR must be absent or empty: $DIR"
  fi
  local p
  for p in "$ETCD_PORT" "$P1" "$P2" "$R1" "$R2" "$ETCD_PEER"; do
    port_busy "$p" && die "port $p on 127.0.0.1 is in use"
  done

  local timeout=${PATRONI_UP_TIMEOUT:-90} start deadline
  start=$(date +%s); deadline=$((start + timeout))
  mkdir -p "$DIR"
  mkdir -p "$SOCK" "$LOG" "$RUN" "$DIR/tmp" "$DIR/etcd" "$DIR/node1" "$DIR/node2"
  chmod 700 "$DIR/etcd" "$DIR/node1" "$DIR/node2"
  echo "$base" >"$RUN/ports"
  write_conf 1; write_conf 2
  chown -R "$RUN_USER:" "$DIR"
  run_as test -w "$DIR" || die "$RUN_USER cannot write $DIR (a parent directory is not searchable by it?)"
  trap 'rc=$?; if [ $rc -ne 0 ]; then note "up failed; stopping what was started (logs in $LOG)"; cmd_down_inner || true; fi' EXIT

  # --- etcd: one member, v3 API (Patroni's etcd3 uses its JSON gateway)
  start_bg etcd "$RUN/etcd.pid" etcd --name etcd1 --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster "etcd1=http://127.0.0.1:$ETCD_PEER" --initial-cluster-state new \
    --initial-cluster-token "drillbit-$base-$$" \
    --heartbeat-interval 100 --election-timeout 1000 --logger zap --log-level warn
  wait_until "$deadline" "etcd did not become healthy on port $ETCD_PORT" etcd_healthy

  # --- node1 bootstraps the cluster (initdb) and takes the leader key
  start_patroni 1
  wait_until "$deadline" "node1 did not become the leader" is_primary 1
  # --- node2 clones it (pg_basebackup) and streams
  start_patroni 2
  wait_until "$deadline" "node2 did not become a streaming replica" is_streaming_replica 1 2
  trap - EXIT

  local out="$RUN/stack.env"
  {
    kv CONNINFO "host=127.0.0.1,127.0.0.1 port=$P1,$P2 user=$PGUSER_NAME dbname=$PGDB_NAME target_session_attrs=read-write connect_timeout=1"
    kv NODE1_PORT "$P1"
    kv NODE2_PORT "$P2"
    kv NODE1_REST_URL "http://127.0.0.1:$R1"
    kv NODE2_REST_URL "http://127.0.0.1:$R2"
    kv NODE1_PGDATA "$(node_pgdata 1)"
    kv NODE2_PGDATA "$(node_pgdata 2)"
    kv NODE1_PATRONI_PIDFILE "$RUN/node1.patroni.pid"
    kv NODE2_PATRONI_PIDFILE "$RUN/node2.patroni.pid"
    kv NODE1_POSTMASTER_PIDFILE "$(node_pgdata 1)/postmaster.pid"
    kv NODE2_POSTMASTER_PIDFILE "$(node_pgdata 2)/postmaster.pid"
    kv NODE1_PATRONI_CONFIG "$(node_conf 1)"
    kv NODE2_PATRONI_CONFIG "$(node_conf 2)"
    kv ETCD_URL "http://127.0.0.1:$ETCD_PORT"
    kv LEADER_PORT "$P1"
    kv PGUSER "$PGUSER_NAME"
    kv PGDATABASE "$PGDB_NAME"
    kv TTL "$TTL"
    kv LOOP_WAIT "$LOOP_WAIT"
    kv RETRY_TIMEOUT "$RETRY_TIMEOUT"
  } >"$out"
  chown "$RUN_USER:" "$out"
  note "up in $(( $(date +%s) - start ))s"
  cat "$out"
}

kv() { printf "%s='%s'\n" "$1" "$2"; }

# ---------- other subcommands ----------

cmd_leader() {
  [ $# -eq 1 ] || die "usage: $PROG leader DIR"
  setup_vars "$1"; load_ports
  local m port
  m=$(members) || die "neither a Patroni REST API nor etcd answered"
  port=$(awk '$2 == "leader" || $2 == "standby_leader" {print $4; exit}' <<<"$m")
  [ -n "$port" ] || die "no leader in the DCS (members: $(tr '\n' ';' <<<"$m"))"
  echo "$port"
}

cmd_state() {
  [ $# -eq 1 ] || die "usage: $PROG state DIR"
  setup_vars "$1"; load_ports
  members || die "neither a Patroni REST API nor etcd answered"
}

check_n() { case "$1" in 1|2) ;; *) die "N must be 1 or 2" ;; esac; }

cmd_kill_agent() {
  [ $# -eq 2 ] || die "usage: $PROG kill-agent DIR N"
  setup_vars "$1"; load_ports; check_n "$2"
  local pid
  pid=$(patroni_pid "$2") || die "node$2's patroni is not running"
  kill -KILL "$pid"
  wait_gone 10 "$pid" || die "patroni $pid still alive after SIGKILL"
}

cmd_restart_agent() {
  [ $# -eq 2 ] || die "usage: $PROG restart-agent DIR N"
  setup_vars "$1"; load_ports; check_n "$2"
  patroni_pid "$2" >/dev/null && die "node$2's patroni is already running"
  start_patroni "$2"
  sleep 0.2
  patroni_pid "$2" >/dev/null || die "node$2's patroni exited at once (see $LOG/node$2.log)"
}

cmd_down_inner() {
  local sids="" f pids="" n pid all
  for f in "$RUN"/*.sid; do [ -r "$f" ] && sids="$sids $(cat "$f")"; done
  for n in 1 2; do
    pid=$(patroni_pid "$n" 2>/dev/null || true); [ -n "$pid" ] && pids="$pids $pid"
    pid=$(postmaster_pid "$(node_pgdata "$n")" 2>/dev/null || true); [ -n "$pid" ] && pids="$pids $pid"
  done
  pid=$(etcd_pid 2>/dev/null || true); [ -n "$pid" ] && pids="$pids $pid"
  # shellcheck disable=SC2086
  [ -n "${sids// }" ] && pids="$pids $(session_pids $sids | tr '\n' ' ')"
  pids=$(echo $pids)
  [ -z "$pids" ] && { rm -f "$RUN"/*.sid; return 0; }
  # shellcheck disable=SC2086
  all=$(descendants_and_self $pids | sort -un | tr '\n' ' ')
  # Patroni first (it stops its postgres on SIGTERM), then any postgres it left (fast
  # shutdown), etcd last so a stopping patroni can still release its key.
  local pats="" pms=""
  for n in 1 2; do
    pid=$(patroni_pid "$n" 2>/dev/null || true); [ -n "$pid" ] && { pats="$pats $pid"; kill -TERM "$pid" 2>/dev/null || true; }
  done
  # shellcheck disable=SC2086
  [ -n "$pats" ] && { wait_gone 15 $pats || true; }
  for n in 1 2; do
    pid=$(postmaster_pid "$(node_pgdata "$n")" 2>/dev/null || true); [ -n "$pid" ] && { pms="$pms $pid"; kill -INT "$pid" 2>/dev/null || true; }
  done
  # shellcheck disable=SC2086
  [ -n "$pms" ] && { wait_gone 15 $pms || true; }
  pid=$(etcd_pid 2>/dev/null || true); [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  # shellcheck disable=SC2086
  if ! wait_gone 10 $all; then
    note "some processes did not stop; sending SIGKILL"
    # shellcheck disable=SC2086
    all="$all $(descendants_and_self $all | tr '\n' ' ')"
    # shellcheck disable=SC2086
    kill -KILL $all 2>/dev/null || true
    # shellcheck disable=SC2086
    wait_gone 10 $all || { note "processes still alive: $all"; return 1; }
  fi
  rm -f "$RUN"/*.sid 2>/dev/null || true
  return 0
}

cmd_down() {
  [ $# -eq 1 ] || die "usage: $PROG down DIR"
  setup_vars "$1"
  [ -d "$RUN" ] || return 0
  load_ports
  cmd_down_inner || die "could not stop everything under $DIR"
}

main() {
  [ $# -ge 1 ] || die "usage: $PROG up|leader|state|kill-agent|restart-agent|down DIR ..."
  local sub=$1; shift
  case "$sub" in
    up) cmd_up "$@" ;;
    leader) cmd_leader "$@" ;;
    state) cmd_state "$@" ;;
    kill-agent) cmd_kill_agent "$@" ;;
    restart-agent) cmd_restart_agent "$@" ;;
    down) cmd_down "$@" ;;
    *) die "unknown subcommand: $sub" ;;
  esac
}

main "$@"
