//! Local PostgreSQL cluster lifecycle for drillbit's `local` target.
//!
//! This module owns everything about the real PostgreSQL servers a local drill runs against: it
//! finds the server binaries, creates a private temporary directory, runs `initdb` for a primary,
//! configures and starts it on a free loopback port, clones a streaming-replication standby with
//! `pg_basebackup` (optionally through a port the caller controls, such as a link proxy), applies
//! faults (SIGKILL of the postmaster or of the whole tree, SIGSTOP/SIGCONT, paused WAL replay),
//! promotes the standby, and tears everything down again.
//!
//! Clean-up is the first concern: every server process it starts is tracked by pid *and* start
//! time (pids wrap), and also found by its working directory inside the temp dir, so that
//! [`Cluster::teardown`] (also run on drop and on any error during setup) stops all of them,
//! removes the SysV shared-memory segments that SIGKILLed postmasters leak, and removes the temp
//! dir unless [`ClusterOptions::keep`] asks to keep it.
//!
//! SQL goes through tokio-postgres connections over TCP loopback ([`client`]), each call under a
//! short connect timeout and a timeout over the whole call, so a hung server cannot hang the
//! caller; the server programs (initdb, pg_ctl, pg_basebackup) run only to set servers up and stop
//! them. PostgreSQL refuses to run as root: as root, every PostgreSQL program runs as the system
//! user `drillbit`, created on first use.
//!
//! - `bins.rs`: finding the server programs.
//! - `run.rs`: running them (the unprivileged user, their environment, a timeout).
//! - `client.rs`: the database client, for the cluster and the rest of the local target.
//! - `node.rs`: one server (its directories, port, postmaster, processes, log).
//! - `cluster.rs`: the primary and standby set up, and SQL on them.
//! - `failover.rs`: the faults and the promotion.
//! - `failback.rs`: the old primary rebuilt from the promoted standby, and the switch back.
//! - `backup.rs`: vaults, base backups, the WAL archive, copies, restores to a new instance.
//! - `teardown.rs`: every process stopped, leaked shared memory and the temp dir removed.

use std::path::PathBuf;
use std::time::Duration;

mod backup;
mod bins;
pub(crate) mod client;
mod cluster;
mod failback;
mod failover;
mod node;
mod run;
mod teardown;
#[cfg(test)]
mod tests;

pub use backup::{BackupTool, RecoveryPoint, RestoreStats, RestoreTarget, Vault};
pub use bins::PgBinaries;
pub use cluster::Cluster;
pub use node::{loopback_conninfo, Node};

/// System user the servers run as when this process is root.
const RUN_USER: &str = "drillbit";
/// Programs that must all be present in one directory for it to count as a PostgreSQL bin dir.
const REQUIRED_TOOLS: [&str; 4] = ["initdb", "pg_ctl", "postgres", "pg_basebackup"];
/// `cluster_name` of the standby; the walreceiver uses it as its `application_name`.
const STANDBY_APP_NAME: &str = "drill_standby";
/// application_name of the old primary once it is rebuilt as a standby for failback.
const REBUILT_APP_NAME: &str = "drill_rebuilt_primary";
const PRIMARY_APP_NAME: &str = "drill_primary";

const INITDB_TIMEOUT: Duration = Duration::from_secs(120);
/// `pg_ctl start -w -t` (seconds); the process itself gets 15 s more.
const START_WAIT_SECS: u64 = 60;
const BASEBACKUP_TIMEOUT: Duration = Duration::from_secs(120);
const STREAMING_TIMEOUT: Duration = Duration::from_secs(30);
const PROMOTE_TIMEOUT: Duration = Duration::from_secs(30);
const PROMOTE_POLL: Duration = Duration::from_millis(5);
const STOP_GRACE: Duration = Duration::from_secs(5);
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How long a connection's set-up may take (libpq's `connect_timeout`, which psql had here).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
const DDL_TIMEOUT: Duration = Duration::from_secs(60);
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
const LOG_TAIL_LINES: usize = 20;
/// The standby's `wal_retrieve_retry_interval` (default 5 s). After its walreceiver loses the
/// primary, PostgreSQL 15's startup process sleeps this long before it looks at a pending promote
/// request again, so with the default a promotion right after a primary failure sometimes took
/// 5 s instead of 30 ms here. The price: a dead primary is retried every 100 ms (log lines).
const WAL_RETRY_MS: u32 = 100;

/// The drill's two tables, created where they are absent: the writer's ledger and the prober's
/// row. drillbit's own primary gets them at set-up; a bound database before each drill.
pub(crate) const DRILL_TABLES: &str = "CREATE TABLE IF NOT EXISTS drill_ledger \
(seq bigint PRIMARY KEY, acked_at timestamptz NOT NULL DEFAULT clock_timestamp()); \
CREATE TABLE IF NOT EXISTS drill_probe (id int PRIMARY KEY, n bigint, at timestamptz);";

const PROBE_WRITE: &str = "INSERT INTO drill_probe (id, n, at) VALUES (0, 1, clock_timestamp()) \
ON CONFLICT (id) DO UPDATE SET n = drill_probe.n + 1, at = excluded.at";

/// Errors of this module. `Step` names what was being done and carries the details (command
/// output, server log tail).
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("PostgreSQL binaries not found: {0}")]
    NotFound(String),
    #[error("{step}: {detail}")]
    Step { step: String, detail: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn step_err(step: impl Into<String>, detail: impl Into<String>) -> PgError {
    PgError::Step {
        step: step.into(),
        detail: detail.into(),
    }
}

/// Appends text (typically a server log tail) to the detail of a `Step` error.
fn with_detail(err: PgError, extra: &str) -> PgError {
    match err {
        PgError::Step { step, detail } => PgError::Step {
            step,
            detail: format!("{detail}{extra}"),
        },
        other => other,
    }
}

/// How commits on the primary wait for the standby.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// No waiting (`synchronous_standby_names = ''`).
    #[default]
    Async,
    /// `synchronous_standby_names = '*'`, `synchronous_commit = on` (standby flushed the WAL).
    Sync,
    /// `synchronous_standby_names = '*'`, `synchronous_commit = remote_apply` (standby replayed it).
    RemoteApply,
}

#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    pub sync: SyncMode,
    /// Port the standby uses to reach the primary for replication (a proxy in front of the
    /// primary, so a drill can cut the link). None = the primary's own port.
    pub replication_via: Option<u16>,
    /// Keep the data directories after teardown (processes are stopped anyway).
    pub keep: bool,
    /// Parent for the temp dir (default std::env::temp_dir()).
    pub parent: Option<PathBuf>,
    /// Archive the primary's WAL (`archive_mode = on`, 1 MiB segments switched at least every
    /// second); the archive's destination is set once a vault exists ([`Cluster::archive_into`]).
    pub archive: bool,
}
