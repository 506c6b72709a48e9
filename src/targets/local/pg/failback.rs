//! Failback: the old primary rebuilt as a standby of the promoted one, then a planned switch
//! back to it that leaves no acknowledged write behind.

use std::thread;
use std::time::{Duration, Instant};

use super::super::procs::wait_until;
use super::node::Role;
use super::*;

impl Cluster {
    /// Failback, first half: rebuilds the old primary as a streaming standby of the promoted
    /// standby. Its old data directory is discarded, not rewound: it may hold writes the new
    /// primary never saw (a stopped primary that came back and took writes is a split brain).
    pub fn rebuild_primary_from_standby(&mut self) -> Result<(), PgError> {
        const STEP: &str = "rebuild_primary";
        if self.torn_down {
            return Err(step_err(STEP, "the cluster has been torn down"));
        }
        self.standby
            .live_postmaster(STEP)
            .map_err(|e| with_detail(e, &self.standby.log_tail()))?;
        // Whatever is left of the old primary goes (SIGCONT first: a stopped process cannot die).
        self.primary.signal_tree(libc::SIGCONT);
        self.primary.signal_tree(libc::SIGKILL);
        if !wait_until(Duration::from_secs(5), || self.primary.procs().is_empty()) {
            return Err(step_err(STEP, "the old primary's processes did not exit"));
        }
        self.remove_leaked_shm();
        let port = self.standby.port;
        self.clone_standby(Role::Primary, port, REBUILT_APP_NAME, "rebuilt primary", STEP)
    }

    /// Failback, second half: a planned switchover back to the rebuilt primary. The current
    /// writer (the standby) is fenced first (read-only for new transactions, client sessions
    /// ended), the rebuilt primary replays up to the writer's last WAL position, and only then
    /// is it promoted; so no acknowledged write is left behind.
    pub fn switch_back_to_primary(&self) -> Result<Duration, PgError> {
        const STEP: &str = "switch_back";
        let started = Instant::now();
        self.sql(
            &self.standby,
            "ALTER SYSTEM SET default_transaction_read_only = on",
            QUERY_TIMEOUT,
        )?;
        self.sql(&self.standby, "SELECT pg_reload_conf()", QUERY_TIMEOUT)?;
        // Sessions that began before the reload keep writing: end them.
        self.sql(
            &self.standby,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
            QUERY_TIMEOUT,
        )?;
        let lsn = self.sql(&self.standby, "SELECT pg_current_wal_lsn()", QUERY_TIMEOUT)?;
        let lsn = lsn.trim().to_string();
        let caught_up = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
        loop {
            if self
                .sql(&self.primary, &caught_up, QUERY_TIMEOUT)
                .is_ok_and(|v| v.trim() == "t")
            {
                break;
            }
            if started.elapsed() >= PROMOTE_TIMEOUT {
                return Err(step_err(
                    STEP,
                    format!("the rebuilt primary did not replay up to {lsn}"),
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
        self.promote_node(Role::Primary, "switch_back: promote")?;
        Ok(started.elapsed())
    }
}
