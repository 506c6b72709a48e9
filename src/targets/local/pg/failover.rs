//! The faults drillbit makes on its own cluster (the primary killed, stopped, continued; WAL
//! replay paused and resumed) and the promotion of a standby.

use std::time::{Duration, Instant};

use super::super::procs::{wait_until, ProcStat};
use super::client::{self, QueryError};
use super::node::Role;
use super::*;

impl Cluster {
    /// SIGKILL of the primary's postmaster only (`whole_tree = false`: backends and the walsender
    /// live on until they notice), or of every process of the primary.
    pub fn kill_primary(&self, whole_tree: bool) -> Result<(), PgError> {
        const STEP: &str = "kill_primary";
        let pm = self.primary.live_postmaster(STEP)?;
        if !whole_tree {
            return if pm.signal(libc::SIGKILL) {
                Ok(())
            } else {
                Err(step_err(
                    STEP,
                    format!("kill({}, SIGKILL) failed: {}", pm.pid, std::io::Error::last_os_error()),
                ))
            };
        }
        // Freeze the postmaster so it forks nothing new, then kill its children, then it.
        pm.signal(libc::SIGSTOP);
        for p in self.primary.procs().iter().map(ProcStat::id).filter(|p| *p != pm) {
            p.signal(libc::SIGKILL);
        }
        pm.signal(libc::SIGKILL);
        // Late forks (or anything else with its cwd in the data dir).
        self.primary.signal_tree(libc::SIGKILL);
        if wait_until(Duration::from_secs(5), || self.primary.procs().is_empty()) {
            Ok(())
        } else {
            let left: Vec<i32> = self.primary.procs().iter().map(|p| p.pid).collect();
            Err(step_err(
                STEP,
                format!("primary processes still alive after SIGKILL: {left:?}"),
            ))
        }
    }

    /// SIGSTOP of every process of the primary (a hung primary). Returns once all are stopped.
    pub fn stop_primary(&self) -> Result<(), PgError> {
        const STEP: &str = "stop_primary";
        self.primary.live_postmaster(STEP)?;
        self.primary.signal_tree(libc::SIGSTOP);
        let all_stopped = || self.primary.procs().iter().all(|p| matches!(p.state, 'T' | 't'));
        if wait_until(Duration::from_secs(5), all_stopped) {
            Ok(())
        } else {
            Err(step_err(STEP, "primary processes did not all stop within 5 s"))
        }
    }

    /// SIGCONT of every process of the primary.
    pub fn cont_primary(&self) -> Result<(), PgError> {
        if self.primary.signal_tree(libc::SIGCONT).is_empty() {
            return Err(step_err("cont_primary", "no primary process to continue"));
        }
        Ok(())
    }

    /// `pg_wal_replay_pause()` on the standby; waits (up to 5 s) until replay reports paused.
    pub fn pause_replay(&self) -> Result<(), PgError> {
        self.sql(&self.standby, "SELECT pg_wal_replay_pause()", QUERY_TIMEOUT)?;
        // "pause requested" turns into "paused" at the next check of the startup process; replay
        // applies nothing in between either way.
        wait_until(Duration::from_secs(5), || {
            self.sql(&self.standby, "SELECT pg_get_wal_replay_pause_state()", QUERY_TIMEOUT)
                .is_ok_and(|s| s.trim() == "paused")
        });
        Ok(())
    }

    /// `pg_wal_replay_resume()` on the standby.
    pub fn resume_replay(&self) -> Result<(), PgError> {
        self.sql(&self.standby, "SELECT pg_wal_replay_resume()", QUERY_TIMEOUT)?;
        Ok(())
    }

    /// `pg_promote(false)` on the standby, then a write into `drill_probe` every 5 ms until one
    /// succeeds (timeout 30 s). Returns the time from the promote call to the first successful
    /// write.
    pub fn promote_standby(&self) -> Result<Duration, PgError> {
        self.promote_node(Role::Standby, "promote_standby")
    }

    pub(super) fn promote_node(&self, role: Role, step: &str) -> Result<Duration, PgError> {
        let node = self.node(role);
        let fail = |what: String| step_err(step, format!("{what}{}", node.log_tail()));
        client::block_on(promote(node.admin_conninfo()))
            .map_err(&fail)?
            .map_err(fail)
    }
}

/// `pg_promote(false)` on the server at `conninfo`, then a write into `drill_probe` every 5 ms
/// until one succeeds (timeout 30 s); the time from the promote call to that write. One
/// connection polls, reopened when it breaks. Each INSERT is its own transaction, and a
/// transaction's read-only status is decided when it starts.
pub(super) async fn promote(conninfo: String) -> Result<Duration, String> {
    let connect = || async {
        client::connect(&conninfo, CONNECT_TIMEOUT)
            .await
            .map_err(|e| format!("connecting: {e}"))
    };
    let first = connect().await?;
    client::query(&first, "SELECT 1", QUERY_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    match client::query(&first, "SELECT pg_promote(false)", QUERY_TIMEOUT).await {
        Ok(lines) if lines == ["t"] => {}
        Ok(lines) => return Err(format!("pg_promote(false) returned {lines:?}")),
        Err(QueryError::Sql(msg)) => return Err(format!("pg_promote(false): {msg}")),
        Err(QueryError::Broken(msg)) => return Err(msg),
    }
    let mut session = Some(first);
    loop {
        let left = PROMOTE_TIMEOUT.saturating_sub(started.elapsed());
        let per_try = left.clamp(Duration::from_millis(100), Duration::from_secs(5));
        let last = match &session {
            Some(c) => match client::query(c, PROBE_WRITE, per_try).await {
                Ok(_) => return Ok(started.elapsed()),
                Err(QueryError::Sql(msg)) => msg,
                Err(QueryError::Broken(msg)) => {
                    session = None; // reconnect on the next round
                    msg
                }
            },
            None => match connect().await {
                Ok(c) => {
                    session = Some(c);
                    continue;
                }
                Err(e) => e,
            },
        };
        if started.elapsed() >= PROMOTE_TIMEOUT {
            return Err(format!(
                "no write succeeded within {} s after pg_promote (last: {last})",
                PROMOTE_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(PROMOTE_POLL).await;
    }
}
