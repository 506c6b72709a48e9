//! The cluster: a primary and a streaming standby set up in a private temp dir, and SQL on them.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::super::procs::{cwd_of, read_pid_file, read_stat, ProcId};
use super::bins::PgBinaries;
use super::client;
use super::node::{append_conf, conf_quote, file_len, free_ports, read_from, Node, Role};
use super::run::{ensure_run_user, failure, run_with_timeout, RunAs};
use super::*;

/// A primary and a streaming standby on loopback in a private temp dir.
#[derive(Debug)]
pub struct Cluster {
    pub root: PathBuf,
    pub primary: Node,
    pub standby: Node,
    pub(super) bins: PgBinaries,
    pub(super) sync: SyncMode,
    pub(super) keep: bool,
    pub(super) replication_via: Option<u16>,
    pub(super) run_as: Option<RunAs>,
    /// Every postmaster ever started here (shared memory clean-up matches on them).
    pub(super) postmasters: Vec<ProcId>,
    /// SysV shared memory ids read from postmaster.pid files.
    pub(super) shm_ids: BTreeSet<i32>,
    pub(super) torn_down: bool,
    pub(super) archive: bool,
}

pub(super) static DIR_COUNTER: AtomicU64 = AtomicU64::new(0);

pub(super) fn create_root(parent: &Path) -> Result<PathBuf, PgError> {
    fs::create_dir_all(parent)?;
    let parent = fs::canonicalize(parent)?;
    loop {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("drillbit-pg-{}-{n}-{nanos:08x}", std::process::id()));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                // Whose environment this is, for the guard and `drillbit clean`.
                if let Err(e) = super::super::guard::write_owner(&dir) {
                    let _ = fs::remove_dir_all(&dir);
                    return Err(e.into());
                }
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

impl Cluster {
    /// Creates the temp dir, chooses two free ports, runs initdb for the primary, configures it,
    /// starts it and creates the drill's tables. The standby comes later
    /// ([`Cluster::start_standby`]), once the caller has put whatever it wants in front of the
    /// primary's port. On error everything created so far is torn down.
    pub fn prepare(bins: &PgBinaries, opts: ClusterOptions) -> Result<Cluster, PgError> {
        // SAFETY: geteuid has no preconditions.
        let run_as = if unsafe { libc::geteuid() } == 0 {
            Some(ensure_run_user()?)
        } else {
            None
        };
        let parent = opts.parent.clone().unwrap_or_else(std::env::temp_dir);
        let root = create_root(&parent)?;
        let ports = match free_ports(2) {
            Ok(p) => p,
            Err(e) => {
                let _ = fs::remove_dir_all(&root);
                return Err(e);
            }
        };
        // From here on, dropping `cluster` (on any `?`) tears down what exists.
        let mut cluster = Cluster {
            primary: Node::new(&root, "primary", ports[0]),
            standby: Node::new(&root, "standby", ports[1]),
            root,
            bins: bins.clone(),
            sync: opts.sync,
            keep: opts.keep,
            replication_via: opts.replication_via,
            run_as,
            postmasters: Vec::new(),
            shm_ids: BTreeSet::new(),
            torn_down: false,
            archive: opts.archive,
        };
        if run_as.is_some() {
            // The servers run as another user: every directory above the temp dir must let them through.
            if let Some(dir) = cluster
                .root
                .ancestors()
                .skip(1)
                .find(|d| fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 == 0))
            {
                return Err(step_err(
                    "prepare",
                    format!(
                        "user {RUN_USER} cannot reach {}: {} is not searchable by others",
                        cluster.root.display(),
                        dir.display()
                    ),
                ));
            }
        }
        cluster.make_dirs()?;
        cluster.initdb()?;
        cluster.configure_primary()?;
        cluster.start_node(Role::Primary, "prepare: start primary")?;
        cluster
            .sql(
                &cluster.primary,
                &format!("SET synchronous_commit = local; {DRILL_TABLES}"),
                DDL_TIMEOUT,
            )
            .map_err(|e| with_detail(e, &cluster.primary.log_tail()))
            .map_err(|e| match e {
                PgError::Step { detail, .. } => step_err("prepare: create drill tables", detail),
                other => other,
            })?;
        Ok(cluster)
    }

    /// The port to pass to [`Cluster::start_standby`]: `replication_via`, or the primary's port.
    pub fn replication_port(&self) -> u16 {
        self.replication_via.unwrap_or(self.primary.port)
    }

    /// Clones the standby from the primary through `replication_port` (pg_basebackup -R -X stream
    /// -c fast), so that its WAL stream later runs through that port too; starts it and waits until
    /// the primary reports it streaming.
    pub fn start_standby(&mut self, replication_port: u16) -> Result<(), PgError> {
        const STEP: &str = "start_standby";
        if self.torn_down {
            return Err(step_err(STEP, "the cluster has been torn down"));
        }
        if self.standby.pid().is_some() {
            return Err(step_err(STEP, "the standby is already running"));
        }
        self.primary
            .live_postmaster(STEP)
            .map_err(|e| with_detail(e, &self.primary.log_tail()))?;
        self.clone_standby(Role::Standby, replication_port, STANDBY_APP_NAME, "standby", STEP)
    }

    /// Makes `role`'s server a streaming standby of the other one: its data directory (left by
    /// an earlier attempt, or discarded) replaced by a clone through `port` (pg_basebackup -R,
    /// so its WAL stream later runs through that port too), configured as `app_name`, started,
    /// and waited for until the other reports it streaming. `what` names it in its
    /// configuration; errors name `step`.
    pub(super) fn clone_standby(
        &mut self,
        role: Role,
        port: u16,
        app_name: &str,
        what: &str,
        step: &str,
    ) -> Result<(), PgError> {
        let upstream = match role {
            Role::Primary => Role::Standby,
            Role::Standby => Role::Primary,
        };
        let node = self.node(role);
        if node.data_dir.exists() {
            fs::remove_dir_all(&node.data_dir)?;
        }
        let clone_step = format!("{step}: pg_basebackup");
        self.basebackup(&node.data_dir, port, self.node(upstream), &clone_step)?;
        let auto_conf = fs::read_to_string(node.data_dir.join("postgresql.auto.conf")).unwrap_or_default();
        if !auto_conf.contains("primary_conninfo") || !node.data_dir.join("standby.signal").exists() {
            return Err(step_err(clone_step, "pg_basebackup -R wrote no standby configuration"));
        }
        // A clone inherits synchronous_standby_names from its source: cleared, or every write
        // hangs after its promotion.
        append_conf(
            &node.data_dir,
            &format!(
                "\n# drillbit {what}\nport = {}\nunix_socket_directories = {}\ncluster_name = '{app_name}'\n\
                 synchronous_standby_names = ''\nhot_standby = on\nwal_retrieve_retry_interval = '{WAL_RETRY_MS}ms'\n",
                node.port,
                conf_quote(&node.socket_dir.to_string_lossy()),
            ),
        )?;
        self.start_node(role, &format!("{step}: start {what}"))?;
        self.wait_streaming(role, app_name, &format!("{step}: wait for streaming"))
    }

    /// Waits until the server upstream of `role`'s reports `app_name` streaming; fails early
    /// when `role`'s server exits.
    fn wait_streaming(&self, role: Role, app_name: &str, step: &str) -> Result<(), PgError> {
        let (node, upstream) = match role {
            Role::Primary => (&self.primary, &self.standby),
            Role::Standby => (&self.standby, &self.primary),
        };
        let query = format!(
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = '{app_name}' \
             AND state = 'streaming'"
        );
        let started = Instant::now();
        loop {
            let last = match self.sql(upstream, &query, Duration::from_secs(5)) {
                Ok(n) if n.trim().parse::<u32>().unwrap_or(0) > 0 => return Ok(()),
                Ok(n) => format!("{} streaming standby(s) in pg_stat_replication", n.trim()),
                Err(e) => e.to_string(),
            };
            if node.pid().is_none() {
                return Err(step_err(step, format!("the {} exited{}", node.name, node.log_tail())));
            }
            if started.elapsed() >= STREAMING_TIMEOUT {
                return Err(step_err(
                    step,
                    format!(
                        "not streaming after {} s (last: {last}){}",
                        STREAMING_TIMEOUT.as_secs(),
                        node.log_tail()
                    ),
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Clones `source` into `data_dir` with pg_basebackup -R (a standby configuration) through
    /// `port`; errors carry the source's log tail.
    pub(super) fn basebackup(&self, data_dir: &Path, port: u16, source: &Node, step: &str) -> Result<(), PgError> {
        let mut cmd = self.command("pg_basebackup");
        cmd.arg("-D")
            .arg(data_dir)
            .args([
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "-w",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-p",
            ])
            .arg(port.to_string())
            .env("PGCONNECT_TIMEOUT", "5");
        let out = run_with_timeout(cmd, step, BASEBACKUP_TIMEOUT).map_err(|e| with_detail(e, &source.log_tail()))?;
        if !out.status.success() {
            return Err(step_err(
                step,
                format!("via port {port}: {}{}", failure(&out), source.log_tail()),
            ));
        }
        Ok(())
    }

    pub(super) fn make_dirs(&self) -> Result<(), PgError> {
        self.chown(&self.root)?;
        for node in [&self.primary, &self.standby] {
            for dir in [node.data_dir.parent().unwrap_or(&self.root), node.socket_dir.as_path()] {
                fs::DirBuilder::new().mode(0o700).create(dir)?;
                self.chown(dir)?;
            }
        }
        Ok(())
    }

    pub(super) fn initdb(&self) -> Result<(), PgError> {
        let step = "prepare: initdb";
        let mut cmd = self.command("initdb");
        cmd.arg("-D").arg(&self.primary.data_dir);
        if self.archive {
            // Small segments: the archive is never more than a segment (or a second) behind.
            cmd.arg("--wal-segsize=1");
        }
        cmd.args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-instructions",
        ]);
        let out = run_with_timeout(cmd, step, INITDB_TIMEOUT)?;
        if !out.status.success() {
            return Err(step_err(step, failure(&out)));
        }
        Ok(())
    }

    pub(super) fn configure_primary(&self) -> Result<(), PgError> {
        let (names, commit) = match self.sync {
            SyncMode::Async => ("", "on"),
            SyncMode::Sync => ("*", "on"),
            SyncMode::RemoteApply => ("*", "remote_apply"),
        };
        let conf = format!(
            "\n# drillbit\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = {sock}\n\
             cluster_name = '{PRIMARY_APP_NAME}'\n\
             wal_level = replica\n\
             max_wal_senders = 10\n\
             max_replication_slots = 10\n\
             wal_keep_size = '256MB'\n\
             hot_standby = on\n\
             fsync = on\n\
             synchronous_standby_names = '{names}'\n\
             synchronous_commit = {commit}\n\
             wal_receiver_status_interval = '1s'\n\
             max_connections = 50\n\
             shared_buffers = '32MB'\n\
             dynamic_shared_memory_type = mmap\n\
             logging_collector = off\n\
             log_line_prefix = '%m [%p] %q%a '\n",
            port = self.primary.port,
            sock = conf_quote(&self.primary.socket_dir.to_string_lossy()),
        );
        append_conf(&self.primary.data_dir, &conf)?;
        if self.archive {
            // Nothing is archived until a vault exists: WAL written before the first base backup
            // is not needed to restore from it.
            append_conf(
                &self.primary.data_dir,
                "archive_mode = on\narchive_command = 'true'\narchive_timeout = '1s'\n",
            )?;
        }
        Ok(())
    }

    /// `pg_ctl start -w`; retried on a new port when the chosen one was taken meanwhile.
    pub(super) fn start_node(&mut self, role: Role, step: &str) -> Result<(), PgError> {
        // A killed postmaster drillbit inherited as subreaper is a zombie until reaped, and
        // PostgreSQL takes a zombie's pid in the socket lock file for a live postmaster.
        super::super::guard::reap_server_zombies();
        for attempt in 1..=3 {
            let node = self.node(role);
            let log_offset = file_len(&node.log_file);
            let mut cmd = self.command("pg_ctl");
            cmd.args(["start", "-w", "-t", &START_WAIT_SECS.to_string(), "-D"])
                .arg(&node.data_dir)
                .arg("-l")
                .arg(&node.log_file);
            let result = run_with_timeout(cmd, step, Duration::from_secs(START_WAIT_SECS + 15));
            self.record_postmaster(role);
            let node = self.node(role);
            let out = result.map_err(|e| with_detail(e, &node.log_tail()))?;
            if out.status.success() && node.pid().is_some() {
                return Ok(());
            }
            let new_log = read_from(&node.log_file, log_offset);
            let port_taken =
                new_log.contains("could not create any TCP/IP sockets") || new_log.contains("Address already in use");
            if port_taken && attempt < 3 && node.pid().is_none() {
                let port = free_ports(1)?[0];
                append_conf(&node.data_dir, &format!("port = {port}\n"))?;
                self.node_mut(role).port = port;
                continue;
            }
            return Err(step_err(
                step,
                format!("pg_ctl start: {}{}", failure(&out), node.log_tail()),
            ));
        }
        unreachable!("the last attempt returns")
    }

    /// Reads the node's postmaster.pid and records the postmaster (if it is alive and really runs
    /// in that data dir) and its shared memory segment id.
    pub(super) fn record_postmaster(&mut self, role: Role) {
        let data_dir = self.node(role).data_dir.clone();
        let Ok(file) = read_pid_file(&data_dir.join("postmaster.pid")) else {
            return;
        };
        if let Some(shmid) = file.shmid {
            self.shm_ids.insert(shmid);
        }
        let Some(stat) = file.pid.and_then(read_stat) else {
            return;
        };
        if !stat.live() || cwd_of(stat.pid).as_deref() != Some(data_dir.as_path()) {
            return;
        }
        let id = stat.id();
        if !self.postmasters.contains(&id) {
            self.postmasters.push(id);
        }
        self.node_mut(role).postmaster = Some(id);
    }

    pub(super) fn node(&self, role: Role) -> &Node {
        match role {
            Role::Primary => &self.primary,
            Role::Standby => &self.standby,
        }
    }

    pub(super) fn node_mut(&mut self, role: Role) -> &mut Node {
        match role {
            Role::Primary => &mut self.primary,
            Role::Standby => &mut self.standby,
        }
    }

    /// One line per replication connection on the primary (state, sync state, sent/write/flush/
    /// replay LSN, lags) plus the primary's current LSN; None when the primary does not answer
    /// within 3 s.
    pub fn replication_status(&self) -> Option<String> {
        let query = "SELECT coalesce(string_agg(format('%s: state=%s sync=%s sent=%s write=%s flush=%s replay=%s \
             write_lag=%s flush_lag=%s replay_lag=%s', application_name, state, sync_state, sent_lsn, write_lsn, \
             flush_lsn, replay_lsn, coalesce(write_lag::text, '-'), coalesce(flush_lag::text, '-'), \
             coalesce(replay_lag::text, '-')), E'\\n'), 'no standby connected') \
             || E'\\nprimary current_lsn=' || pg_current_wal_lsn() FROM pg_stat_replication";
        self.sql(&self.primary, query, STATUS_TIMEOUT)
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// Runs SQL on a node over TCP loopback (the `;`-separated statements of one string run in
    /// one transaction) and returns the rows as psql's unaligned, tuples-only output prints them,
    /// each line ended by a newline. The whole call, connecting included, takes at most
    /// `timeout`.
    pub fn sql(&self, node: &Node, sql: &str, timeout: Duration) -> Result<String, PgError> {
        let step = format!("sql on {}", node.name);
        let (conninfo, sql) = (node.admin_conninfo(), sql.to_owned());
        let rows = client::block_on(async move { client::query_once(&conninfo, &sql, CONNECT_TIMEOUT, timeout).await })
            .map_err(|e| step_err(&step, e))?
            .map_err(|e| step_err(&step, e.to_string()))?;
        Ok(rows.into_iter().map(|row| row + "\n").collect())
    }
}
