#!/usr/bin/env bash
# A pg_auto_failover stack on loopback for HA integration tests: one monitor and two data
# nodes (primary + secondary), trust auth on 127.0.0.1, timings tuned for fast failover.
# Everything lives under DIR; every PostgreSQL / pg_autoctl process runs as the system user
# drillbit. Needs harness/install-postgres.sh and harness/install-ha.sh first.
#
#   pgaf.sh up DIR BASEPORT      monitor on BASEPORT, node1 on BASEPORT+1, node2 on BASEPORT+2;
#                                waits for one primary + one secondary, prints KEY='VALUE' lines
#   pgaf.sh primary DIR          port of the current primary, per the monitor
#   pgaf.sh state DIR            the monitor's view of the nodes (one line per node)
#   pgaf.sh kill-node DIR N      SIGKILL node N's keeper (pg_autoctl, all its processes) and
#                                every postgres process of node N
#   pgaf.sh restart-node DIR N   start node N's keeper again (after kill-node), in the background
#   pgaf.sh down DIR             stop everything started for DIR, wait until it has exited
#
# stdout carries only KEY='VALUE' lines (eval-able; values are always single-quoted and never
# contain a quote); progress and errors go to stderr; logs are in DIR/log.
# Environment: PGAF_UP_TIMEOUT (seconds, default 90) bounds `up`; DRILLBIT_PG_BIN overrides
# the PostgreSQL bin directory.
set -euo pipefail

PROG=pgaf.sh
PGUSER_NAME=postgres
PGDB_NAME=postgres
RUN_USER=drillbit

die() { echo "$PROG: error: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

find_pg_bin() {
  if [ -n "${DRILLBIT_PG_BIN:-}" ] && [ -x "$DRILLBIT_PG_BIN/initdb" ]; then
    echo "$DRILLBIT_PG_BIN"; return 0
  fi
  # pg_auto_failover's extension is built for one major version: prefer the one that has it.
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] || continue
    if ls "$d/../lib/pgautofailover.so" >/dev/null 2>&1; then echo "$d"; return 0; fi
  done
  die "no PostgreSQL with the pgautofailover extension under /usr/lib/postgresql (run harness/install-postgres.sh and harness/install-ha.sh)"
}

# ---------- process helpers (pids are checked, never matched by name) ----------

# alive PID: the process exists and is not a zombie.
alive() {
  local st
  st=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# all_pids: "pid ppid sid" lines of every live process.
ps_table() { ps -e -o pid=,ppid=,sid=,stat= | awk '$4 !~ /^Z/ {print $1, $2, $3}'; }

# descendants_and_self PIDS...: the given pids and all their descendants (live).
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

# session_pids SIDS...: live processes in one of the sessions SIDS that are drillbit's, or
# are the session leader itself (runuser, root) with DIR on its command line.
session_pids() {
  local set=" " uid pid sid u
  uid=$(id -u "$RUN_USER")
  # A recorded session counts while its leader is gone (its leftovers are ours) or is alive
  # with DIR on its command line; a leader pid reused by another session is skipped.
  for sid in "$@"; do
    if ! alive "$sid" || tr '\0' ' ' 2>/dev/null <"/proc/$sid/cmdline" | grep -qF "$DIR/"; then
      set="$set$sid "
    fi
  done
  [ "$set" = " " ] && return 0
  ps -e -o pid=,sid=,uid=,stat= | awk -v set="$set" 'BEGIN{n=split(set,a," "); for(i=1;i<=n;i++) s[a[i]]=1}
      ($2 in s) && $4 !~ /^Z/ {print $1, $2, $3}' |
    while read -r pid sid u; do
      if [ "$u" = "$uid" ]; then echo "$pid"
      elif [ "$pid" = "$sid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$DIR/"; then echo "$pid"
      fi
    done
}

# postmaster_pid PGDATA: pid of the postmaster serving PGDATA, verified by its command line.
postmaster_pid() {
  local pgdata=$1 pid
  [ -r "$pgdata/postmaster.pid" ] || return 1
  pid=$(head -n1 "$pgdata/postmaster.pid" 2>/dev/null | tr -dc 0-9)
  [ -n "$pid" ] && alive "$pid" || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "-D $pgdata " || return 1
  echo "$pid"
}

# wait_gone TIMEOUT PIDS...: wait until none of PIDS is alive; 1 on timeout.
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
  MON_PGDATA=$DIR/monitor
  XDG_RUN=$DIR/xdg/run
}

node_pgdata() { echo "$DIR/node$1"; }
# pg_autoctl's own pid file: first line is the pid of the `pg_autoctl run` supervisor.
autoctl_pidfile() { echo "$XDG_RUN/pg_autoctl$1/pg_autoctl.pid"; }

# as_prefix: sets AS=(command prefix) that runs a command as drillbit with a clean
# environment pointing every XDG dir (pg_autoctl's config, state and pid files) into DIR.
as_prefix() {
  local envs=(PATH="$PGBIN:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 LC_ALL=C.UTF-8
    HOME="$DIR" XDG_CONFIG_HOME="$DIR/xdg/config" XDG_DATA_HOME="$DIR/xdg/data"
    XDG_RUNTIME_DIR="$XDG_RUN" PGHOST="$SOCK" PGUSER="$PGUSER_NAME" TMPDIR="$DIR/tmp")
  if [ "$(id -un)" = "$RUN_USER" ]; then
    AS=(env -i "${envs[@]}")
  else
    AS=(runuser -u "$RUN_USER" -- env -i "${envs[@]}")
  fi
}

run_as() { as_prefix; "${AS[@]}" "$@"; }

# run_t SECONDS CMD...: run_as, killed after SECONDS (or at the `up` deadline if sooner).
run_t() {
  local t=$1; shift
  if [ -n "${UP_DEADLINE:-}" ]; then
    local left=$(( UP_DEADLINE - $(date +%s) ))
    [ "$left" -lt 5 ] && left=5
    [ "$left" -lt "$t" ] && t=$left
  fi
  as_prefix
  timeout -k 5 "$t" "${AS[@]}" "$@"
}

# start_bg NAME CMD...: start CMD as drillbit in a new session, output to DIR/log/NAME.log;
# records the session id in DIR/run/NAME.sid so `down` finds every process it spawns.
start_bg() {
  local name=$1; shift
  as_prefix
  # A background child of a non-interactive shell is no group leader, so setsid does not
  # fork: $! is the session leader and its pid the session id.
  setsid "${AS[@]}" "$@" >>"$LOG/$name.log" 2>&1 </dev/null &
  echo "$!" >>"$RUN/$name.sid"
}

mon_psql() {
  run_t 10 psql -X -q -At "host=127.0.0.1 port=$MON_PORT user=$PGUSER_NAME dbname=pg_auto_failover connect_timeout=2" \
    -v ON_ERROR_STOP=1 -c "$1" 2>>"$LOG/psql.err"
}

load_ports() {
  [ -r "$RUN/ports" ] || die "no stack recorded under $DIR (run up first)"
  # shellcheck disable=SC1090
  . "$RUN/ports"
}

# keeper_pid N: pid of node N's (or "monitor"'s) pg_autoctl supervisor, verified.
keeper_pid() {
  local which=$1 f pid pgdata
  if [ "$which" = monitor ]; then pgdata=$MON_PGDATA; f=$(autoctl_pidfile "$MON_PGDATA")
  else pgdata=$(node_pgdata "$which"); f=$(autoctl_pidfile "$pgdata"); fi
  [ -r "$f" ] || return 1
  pid=$(head -n1 "$f" | tr -dc 0-9)
  [ -n "$pid" ] && alive "$pid" || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "--pgdata $pgdata " || return 1
  echo "$pid"
}

# write_keeper_pidfile N|monitor: DIR/run/nodeN.keeper.pid, first line the supervisor pid.
write_keeper_pidfile() {
  local n=$1 end pid
  local name=node$n; [ "$n" = monitor ] && name=monitor
  end=$(( $(date +%s) + 20 ))
  while ! pid=$(keeper_pid "$n"); do
    [ "$(date +%s)" -ge "$end" ] && die "pg_autoctl for $name did not write its pid file (see $LOG/$name.log)"
    sleep 0.2
  done
  sed -n 5p "$(autoctl_pidfile "$( [ "$n" = monitor ] && echo "$MON_PGDATA" || node_pgdata "$n")")" 2>/dev/null \
    | tr -dc 0-9 >>"$RUN/semids" || true
  echo >>"$RUN/semids"
  echo "$pid" >"$RUN/$name.keeper.pid.tmp"
  mv "$RUN/$name.keeper.pid.tmp" "$RUN/$name.keeper.pid"
  # the session the keeper really runs in (same as recorded, unless setsid had to fork)
  local sid; sid=$(ps -o sid= -p "$pid" | tr -dc 0-9)
  [ -n "$sid" ] && ! grep -qx "$sid" "$RUN/$name.sid" 2>/dev/null && echo "$sid" >>"$RUN/$name.sid"
  return 0
}

# ---------- up ----------

monitor_gucs() {
  cat <<'EOF'
# drillbit harness: fast failover for tests (defaults in comments)
pgautofailover.health_check_period = 500                # 5000 ms
pgautofailover.health_check_timeout = 1000              # 5000 ms
pgautofailover.health_check_max_retries = 1             # 2
pgautofailover.health_check_retry_delay = 250           # 2000 ms
pgautofailover.node_considered_unhealthy_timeout = 1500 # 20000 ms
pgautofailover.primary_demote_timeout = 1500            # 30000 ms
pgautofailover.startup_grace_period = 2000              # 10000 ms
EOF
}

# Appended to postgresql.conf after pg_autoctl's include line, so these win over
# postgresql-auto-failover.conf (which sizes shared_buffers to 1/4 of RAM, 6 GB here).
common_conf() {
  cat <<EOF
# drillbit harness
unix_socket_directories = '$SOCK'
listen_addresses = '127.0.0.1'
shared_buffers = 32MB
work_mem = 4MB
maintenance_work_mem = 32MB
effective_cache_size = 256MB
max_connections = 50
fsync = off
synchronous_commit = on
full_page_writes = on
wal_log_hints = on
logging_collector = off
EOF
}

keeper_tuning() {
  local pgdata=$1 kv
  # keeper timeouts in seconds; defaults 20, 30, 5, 20, 3. network_partition_timeout (an
  # isolated primary demotes itself after it) stays below the monitor's
  # primary_demote_timeout (1.5 s), as pg_auto_failover's defaults (20 s < 30 s) keep it,
  # so the old primary is gone before the secondary is promoted.
  for kv in \
    timeout.network_partition_timeout=1 \
    timeout.prepare_promotion_catchup=5 \
    timeout.prepare_promotion_walreceiver=1 \
    timeout.postgresql_restart_failure_timeout=5 \
    timeout.postgresql_restart_failure_max_retries=3 \
    timeout.listen_notifications_timeout=1; do
    run_t 20 pg_autoctl config set --pgdata "$pgdata" "${kv%%=*}" "${kv#*=}" >>"$LOG/config.log" 2>&1 \
      || die "pg_autoctl config set ${kv%%=*} failed for $pgdata (see $LOG/config.log)"
  done
}

cmd_up() {
  [ $# -eq 2 ] || die "usage: $PROG up DIR BASEPORT"
  setup_vars "$1"
  local base=$2
  case "$base" in ''|*[!0-9]*) die "BASEPORT must be a number: $base" ;; esac
  [ "$base" -ge 1024 ] && [ "$base" -le 65533 ] || die "BASEPORT out of range: $base"
  MON_PORT=$base; P1=$((base + 1)); P2=$((base + 2))
  [ "$(id -u)" -eq 0 ] || [ "$(id -un)" = "$RUN_USER" ] || die "run as root (or as $RUN_USER)"
  command -v pg_autoctl >/dev/null 2>&1 || die "pg_autoctl missing (run harness/install-ha.sh)"
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
  for p in "$MON_PORT" "$P1" "$P2"; do port_busy "$p" && die "port $p on 127.0.0.1 is in use"; done

  local timeout=${PGAF_UP_TIMEOUT:-90}
  local start deadline
  start=$(date +%s); deadline=$((start + timeout)); UP_DEADLINE=$deadline
  mkdir -p "$DIR"
  mkdir -p "$SOCK" "$LOG" "$RUN" "$DIR/xdg/config" "$DIR/xdg/data" "$XDG_RUN" "$DIR/tmp"
  chmod 700 "$XDG_RUN"
  chown -R "$RUN_USER:" "$DIR"
  run_as test -w "$DIR" || die "$RUN_USER cannot write $DIR (a parent directory is not searchable by it?)"
  {
    echo "MON_PORT=$MON_PORT"; echo "P1=$P1"; echo "P2=$P2"
  } >"$RUN/ports"
  # From here on, a failure tears down what was started.
  trap 'rc=$?; if [ $rc -ne 0 ]; then note "up failed; stopping what was started (logs in $LOG)"; cmd_down_inner || true; fi' EXIT

  # --- monitor: initdb ourselves so the socket dir and listen address are set before the
  # first start (pg_autoctl starts postgres with "-h listen_addresses" but no socket dir, and
  # Debian's default /var/run/postgresql is not writable for drillbit).
  initdb_node "$MON_PGDATA"
  run_t 60 pg_autoctl create monitor --pgctl "$PGBIN/pg_ctl" --pgdata "$MON_PGDATA" \
    --pgport "$MON_PORT" --hostname 127.0.0.1 --listen 127.0.0.1 --auth trust --no-ssl \
    >>"$LOG/monitor.log" 2>&1 || die "pg_autoctl create monitor failed (see $LOG/monitor.log)"
  monitor_gucs >>"$MON_PGDATA/postgresql.conf"
  start_bg monitor pg_autoctl run --pgdata "$MON_PGDATA"
  write_keeper_pidfile monitor
  until mon_psql "select 1" >/dev/null; do
    [ "$(date +%s)" -ge "$deadline" ] && die "monitor did not accept connections on $MON_PORT"
    sleep 0.2
  done
  MONITOR_URI="postgres://autoctl_node@127.0.0.1:$MON_PORT/pg_auto_failover?sslmode=disable"

  # --- node1: initdb ourselves for the same reasons; pg_autoctl adopts the data directory
  # and registers it as the first node (single, then primary).
  local n1=$DIR/node1 n2=$DIR/node2
  initdb_node "$n1"
  create_node 1 "$n1" "$P1"
  wait_state "$deadline" "nodeport = $P1 and reportedstate = 'single'" "node1 did not reach single"

  # --- node2: pg_autoctl runs pg_basebackup from node1 (copying its postgresql.conf too).
  create_node 2 "$n2" "$P2"
  wait_state "$deadline" "nodeport = $P1 and reportedstate = 'primary' and goalstate = 'primary'" \
    "node1 did not become primary"
  wait_state "$deadline" "nodeport = $P2 and reportedstate = 'secondary' and goalstate = 'secondary'" \
    "node2 did not become secondary"
  # and the primary accepts writes through the multi-host conninfo
  until run_t 10 psql -X -q -At "host=127.0.0.1 port=$P1 user=$PGUSER_NAME dbname=$PGDB_NAME connect_timeout=1" \
      -c "select pg_is_in_recovery()" 2>/dev/null | grep -qx f; do
    [ "$(date +%s)" -ge "$deadline" ] && die "node1 not writable"
    sleep 0.2
  done
  trap - EXIT

  local out="$RUN/stack.env"
  {
    kv CONNINFO "host=127.0.0.1,127.0.0.1 port=$P1,$P2 user=$PGUSER_NAME dbname=$PGDB_NAME target_session_attrs=read-write connect_timeout=1"
    kv MONITOR_URI "$MONITOR_URI"
    kv MONITOR_PORT "$MON_PORT"
    kv NODE1_PORT "$P1"
    kv NODE2_PORT "$P2"
    kv NODE1_PGDATA "$n1"
    kv NODE2_PGDATA "$n2"
    kv NODE1_KEEPER_PIDFILE "$RUN/node1.keeper.pid"
    kv NODE2_KEEPER_PIDFILE "$RUN/node2.keeper.pid"
    kv NODE1_POSTMASTER_PIDFILE "$n1/postmaster.pid"
    kv NODE2_POSTMASTER_PIDFILE "$n2/postmaster.pid"
    kv PGUSER "$PGUSER_NAME"
    kv PGDATABASE "$PGDB_NAME"
  } >"$out"
  chown "$RUN_USER:" "$out"
  note "up in $(( $(date +%s) - start ))s"
  cat "$out"
}

kv() { printf "%s='%s'\n" "$1" "$2"; }

initdb_node() {
  local pgdata=$1
  run_t 60 "$PGBIN/initdb" -D "$pgdata" -U "$PGUSER_NAME" --auth=trust -E UTF8 --locale=C.UTF-8 \
    >>"$LOG/initdb.log" 2>&1 || die "initdb $pgdata failed (see $LOG/initdb.log)"
  common_conf >>"$pgdata/postgresql.conf"
}

create_node() {
  local n=$1 pgdata=$2 port=$3
  run_t 60 pg_autoctl create postgres --pgctl "$PGBIN/pg_ctl" --pgdata "$pgdata" \
    --pghost "$SOCK" --pgport "$port" --listen 127.0.0.1 --hostname 127.0.0.1 \
    --name "node$n" --username "$PGUSER_NAME" --dbname "$PGDB_NAME" \
    --monitor "$MONITOR_URI" --auth trust --no-ssl \
    >>"$LOG/node$n.log" 2>&1 || die "pg_autoctl create postgres for node$n failed (see $LOG/node$n.log)"
  keeper_tuning "$pgdata"
  start_bg "node$n" pg_autoctl run --pgdata "$pgdata"
  write_keeper_pidfile "$n"
}

# wait_state DEADLINE SQL_CONDITION MESSAGE: until a node row matches on the monitor.
wait_state() {
  local deadline=$1 cond=$2 msg=$3 got
  while :; do
    got=$(mon_psql "select count(*) from pgautofailover.node where $cond" || true)
    [ "$got" = 1 ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      note "monitor state: $(mon_psql "select string_agg(nodename||':'||nodeport||' '||reportedstate||'/'||goalstate, ', ') from pgautofailover.node" || true)"
      die "$msg within ${PGAF_UP_TIMEOUT:-90}s (see $LOG)"
    fi
    sleep 0.2
  done
}

# ---------- other subcommands ----------

cmd_primary() {
  [ $# -eq 1 ] || die "usage: $PROG primary DIR"
  setup_vars "$1"; load_ports
  local port
  port=$(mon_psql "select nodeport from pgautofailover.node
      where reportedstate in ('single','primary','wait_primary','join_primary')
        and goalstate in ('single','primary','wait_primary','join_primary')
      order by nodeid limit 1") || die "monitor on port $MON_PORT unreachable"
  [ -n "$port" ] || die "the monitor reports no primary (state: $(mon_psql "select string_agg(nodename||' '||reportedstate||'/'||goalstate, ', ') from pgautofailover.node" || true))"
  echo "$port"
}

cmd_state() {
  [ $# -eq 1 ] || die "usage: $PROG state DIR"
  setup_vars "$1"; load_ports
  mon_psql "select nodename, nodeport, reportedstate, goalstate, health from pgautofailover.node order by nodeid" \
    || die "monitor on port $MON_PORT unreachable"
}

# node_pids N: the keeper supervisor, everything in its session and below it, and the
# postmaster of node N with all its children.
node_pids() {
  local n=$1 pgdata kp pm sids=""
  pgdata=$(node_pgdata "$n")
  [ -r "$RUN/node$n.sid" ] && sids=$(cat "$RUN/node$n.sid")
  local roots=""
  kp=$(keeper_pid "$n" || true); [ -n "$kp" ] && roots="$roots $kp"
  pm=$(postmaster_pid "$pgdata" || true); [ -n "$pm" ] && roots="$roots $pm"
  # shellcheck disable=SC2086
  [ -n "$sids" ] && roots="$roots $(session_pids $sids | tr '\n' ' ')"
  roots=$(echo $roots)
  [ -z "$roots" ] && return 0
  # shellcheck disable=SC2086
  descendants_and_self $roots | sort -un
}

# only_runuser_owned PIDS...: those of PIDS that belong to drillbit.
only_runuser_owned() {
  local uid p
  uid=$(id -u "$RUN_USER")
  for p in "$@"; do
    [ "$(stat -c %u "/proc/$p" 2>/dev/null)" = "$uid" ] && echo "$p"
  done
  return 0
}

# drop_semaphore SEMID: remove pg_autoctl's SysV semaphore (its pid file's 5th line) once
# its supervisor is gone, if it still exists and is drillbit's.
drop_semaphore() {
  local semid=$1
  [ -n "$semid" ] || return 0
  if ipcs -s | awk -v id="$semid" -v u="$RUN_USER" '$2==id && $3==u {f=1} END{exit !f}'; then
    ipcrm -s "$semid" 2>/dev/null || true
  fi
  return 0
}

cmd_kill_node() {
  [ $# -eq 2 ] || die "usage: $PROG kill-node DIR N"
  setup_vars "$1"; load_ports
  local n=$2
  case "$n" in 1|2) ;; *) die "N must be 1 or 2" ;; esac
  local pids semid="" pf
  pf=$(autoctl_pidfile "$(node_pgdata "$n")")
  keeper_pid "$n" >/dev/null && semid=$(sed -n 5p "$pf" 2>/dev/null | tr -dc 0-9)
  # drillbit's processes only: the root runuser above the keeper is left to reap it and
  # exit (a keeper orphaned to this container's PID 1 stays a zombie for seconds).
  pids=$(only_runuser_owned $(node_pids "$n"))
  [ -n "$pids" ] || die "node$n has no running process"
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  # Postgres children that forked meanwhile, once more.
  local more
  more=$(only_runuser_owned $(node_pids "$n")); [ -n "$more" ] && kill -KILL $more 2>/dev/null || true
  # shellcheck disable=SC2086
  wait_gone 10 $pids $more || die "node$n processes still alive after SIGKILL"
  drop_semaphore "$semid"
  note "killed node$n: $(echo $pids $more | tr '\n' ' ')"
}

cmd_restart_node() {
  [ $# -eq 2 ] || die "usage: $PROG restart-node DIR N"
  setup_vars "$1"; load_ports
  local n=$2
  case "$n" in 1|2) ;; *) die "N must be 1 or 2" ;; esac
  keeper_pid "$n" >/dev/null && die "node$n's keeper is already running"
  # A killed keeper or postmaster may still be a zombie (PID 1 here reaps orphans only every
  # few seconds); pg_autoctl and postgres would take its pid file for a live instance.
  local pgdata f stale="" end
  pgdata=$(node_pgdata "$n")
  for f in "$(autoctl_pidfile "$pgdata")" "$pgdata/postmaster.pid"; do
    [ -r "$f" ] && stale="$stale $(head -n1 "$f" | tr -dc 0-9)"
  done
  end=$(( $(date +%s) + 20 ))
  while :; do
    local z=0 p
    for p in $stale; do
      [ "$(sed -e 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] && z=1
    done
    [ $z -eq 0 ] && break
    [ "$(date +%s)" -ge "$end" ] && { note "pids$stale are still zombies; starting anyway"; break; }
    sleep 0.2
  done
  start_bg "node$n" pg_autoctl run --pgdata "$pgdata"
  write_keeper_pidfile "$n"
}

cmd_down_inner() {
  local sids="" f pids="" comp pm kp pf semids=""
  # pg_autoctl keeps a SysV semaphore per supervisor (5th line of its pid files); a
  # SIGKILLed one leaves it behind, and its children remove the pid file on the way out:
  # the ids were recorded at start (DIR/run/semids), and are read from the pid files too.
  [ -r "$RUN/semids" ] && semids=$(cat "$RUN/semids")
  for pf in "$XDG_RUN/pg_autoctl$DIR"/*/*.pid; do
    [ -r "$pf" ] && semids="$semids $(sed -n 5p "$pf" | tr -dc 0-9)"
  done
  for f in "$RUN"/*.sid; do [ -r "$f" ] && sids="$sids $(cat "$f")"; done
  for comp in monitor 1 2; do
    kp=$(keeper_pid "$comp" 2>/dev/null || true)
    [ -n "$kp" ] && pids="$pids $kp"
  done
  for pm in "$MON_PGDATA" "$DIR/node1" "$DIR/node2"; do
    pm=$(postmaster_pid "$pm" 2>/dev/null || true)
    [ -n "$pm" ] && pids="$pids $pm"
  done
  # shellcheck disable=SC2086
  [ -n "${sids// }" ] && pids="$pids $(session_pids $sids | tr '\n' ' ')"
  pids=$(echo $pids)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    local all; all=$(descendants_and_self $pids | sort -un | tr '\n' ' ')
    # Graceful first: pg_autoctl stops its postgres (fast mode) on SIGTERM. Data nodes first.
    for comp in 2 1 monitor; do
      kp=$(keeper_pid "$comp" 2>/dev/null || true)
      [ -n "$kp" ] && kill -TERM "$kp" 2>/dev/null || true
    done
    # pg_autoctl children whose supervisor was SIGKILLed (a "start/stop postgres" service
    # lives on as an orphan) get it too; only among this DIR's processes.
    local p
    for p in $all; do
      case "$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline")" in
        "pg_autoctl"*) kill -TERM "$p" 2>/dev/null || true ;;
      esac
    done
    for pm in "$DIR/node2" "$DIR/node1" "$MON_PGDATA"; do
      pm=$(postmaster_pid "$pm" 2>/dev/null || true)
      [ -n "$pm" ] && kill -INT "$pm" 2>/dev/null || true
    done
    # shellcheck disable=SC2086
    if ! wait_gone 10 $all; then
      note "some processes ignored SIGTERM; sending SIGKILL"
      # shellcheck disable=SC2086
      all="$all $(descendants_and_self $all | tr '\n' ' ')"
      # shellcheck disable=SC2086
      kill -KILL $all 2>/dev/null || true
      # shellcheck disable=SC2086
      wait_gone 10 $all || { note "processes still alive: $all"; return 1; }
    fi
  fi
  for pf in "$XDG_RUN/pg_autoctl$DIR"/*/*.pid; do
    [ -r "$pf" ] && semids="$semids $(sed -n 5p "$pf" | tr -dc 0-9)"
  done
  local semid
  for semid in $semids; do drop_semaphore "$semid"; done
  rm -f "$RUN"/*.sid 2>/dev/null || true
  return 0
}

cmd_down() {
  [ $# -eq 1 ] || die "usage: $PROG down DIR"
  setup_vars "$1"
  [ -d "$DIR" ] || return 0
  [ -d "$RUN" ] || return 0
  cmd_down_inner || die "could not stop everything under $DIR"
}

main() {
  [ $# -ge 1 ] || die "usage: $PROG up|primary|state|kill-node|restart-node|down DIR ..."
  local sub=$1; shift
  case "$sub" in
    up) cmd_up "$@" ;;
    primary) cmd_primary "$@" ;;
    state) cmd_state "$@" ;;
    kill-node) cmd_kill_node "$@" ;;
    restart-node) cmd_restart_node "$@" ;;
    down) cmd_down "$@" ;;
    *) die "unknown subcommand: $sub" ;;
  esac
}

main "$@"
