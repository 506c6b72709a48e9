//! Teardown: every server process stopped, the SysV shared memory killed postmasters leak
//! removed, the temp dir removed (or kept and marked so).

use std::fs;
use std::time::{Duration, Instant};

use super::super::procs::{all_procs, members, remove_orphaned_shm, wait_until, ProcId, ProcStat, Shm};
use super::node::Role;
use super::run::{failure, run_with_timeout};
use super::*;

impl Cluster {
    /// Stops both servers (SIGCONT first, `pg_ctl stop -m immediate`, SIGKILL of whatever is left
    /// after 5 s), removes SysV shared memory leaked by killed postmasters and removes the temp dir
    /// unless `keep`. Idempotent; returns what it did.
    pub fn teardown(&mut self) -> Result<Vec<String>, PgError> {
        let mut done = Vec::new();
        let mut problems = Vec::new();
        for role in [Role::Primary, Role::Standby] {
            self.record_postmaster(role); // a server started but not recorded (failed start)
        }

        // Resume anything stopped, or it cannot shut down.
        let procs = self.procs_now();
        let stopped: Vec<i32> = procs
            .iter()
            .filter(|p| matches!(p.state, 'T' | 't'))
            .map(|p| p.pid)
            .collect();
        for p in &procs {
            p.id().signal(libc::SIGCONT);
        }
        if !stopped.is_empty() {
            done.push(format!(
                "sent SIGCONT to {} stopped process(es) {stopped:?}",
                stopped.len()
            ));
        }

        for node in [&self.primary, &self.standby] {
            match node.postmaster.filter(ProcId::alive) {
                Some(pm) => {
                    let t = Instant::now();
                    let mut cmd = self.command("pg_ctl");
                    cmd.args(["stop", "-m", "immediate", "-W", "-D"]).arg(&node.data_dir);
                    let how = match run_with_timeout(cmd, "teardown: pg_ctl stop", Duration::from_secs(10)) {
                        Ok(out) if out.status.success() => "pg_ctl stop -m immediate".to_owned(),
                        other => {
                            let why = match other {
                                Ok(out) => failure(&out),
                                Err(e) => e.to_string(),
                            };
                            pm.signal(libc::SIGQUIT);
                            format!("SIGQUIT (pg_ctl stop failed: {})", why.trim())
                        }
                    };
                    done.push(format!(
                        "stopped {} (postmaster {}) with {how} in {:.3} s",
                        node.name,
                        pm.pid,
                        t.elapsed().as_secs_f64()
                    ));
                }
                None => {
                    // Orphans of a killed postmaster: nothing to be gentle with.
                    let orphans = node.signal_tree(libc::SIGKILL);
                    if !orphans.is_empty() {
                        done.push(format!(
                            "SIGKILLed {} orphaned {} process(es) {orphans:?}",
                            orphans.len(),
                            node.name
                        ));
                    }
                }
            }
        }

        let stopping = Instant::now();
        let had_procs = !self.procs_now().is_empty();
        if wait_until(STOP_GRACE, || self.procs_now().is_empty()) {
            if had_procs {
                done.push(format!(
                    "all server processes gone after {:.3} s",
                    stopping.elapsed().as_secs_f64()
                ));
            }
        } else {
            let left: Vec<ProcStat> = self.procs_now();
            for p in &left {
                p.id().signal(libc::SIGCONT);
                p.id().signal(libc::SIGKILL);
            }
            let pids: Vec<i32> = left.iter().map(|p| p.pid).collect();
            done.push(format!(
                "SIGKILLed {} process(es) still alive after {} s: {pids:?}",
                pids.len(),
                STOP_GRACE.as_secs()
            ));
            if !wait_until(KILL_GRACE, || self.procs_now().is_empty()) {
                let pids: Vec<i32> = self.procs_now().iter().map(|p| p.pid).collect();
                problems.push(format!("processes still alive after SIGKILL: {pids:?}"));
            }
        }

        // Servers drillbit inherited as subreaper are waited for, not left as zombies.
        let reaped = super::super::guard::reap_server_zombies();
        if reaped > 0 {
            done.push(format!("waited for {reaped} exited server process(es)"));
        }
        done.extend(self.remove_leaked_shm());

        if self.root.exists() {
            if self.keep {
                if let Err(e) = super::super::guard::mark_kept(&self.root) {
                    problems.push(format!("cannot mark {} as kept: {e}", self.root.display()));
                }
                done.push(format!("kept {}", self.root.display()));
            } else {
                let t = Instant::now();
                match fs::remove_dir_all(&self.root) {
                    Ok(()) => done.push(format!(
                        "removed {} in {:.3} s",
                        self.root.display(),
                        t.elapsed().as_secs_f64()
                    )),
                    Err(e) => problems.push(format!("cannot remove {}: {e}", self.root.display())),
                }
            }
        }
        if problems.is_empty() {
            self.torn_down = true;
            Ok(done)
        } else {
            Err(step_err(
                "teardown",
                format!("{} (after: {})", problems.join("; "), done.join("; ")),
            ))
        }
    }

    /// Pids of every process this cluster started that is still alive.
    pub fn processes(&self) -> Vec<i32> {
        self.procs_now().iter().map(|p| p.pid).collect()
    }

    pub(super) fn procs_now(&self) -> Vec<ProcStat> {
        members(&all_procs(), &self.postmasters, &self.root)
    }

    /// Removes SysV segments created by our postmasters that nothing is attached to any more
    /// (a SIGKILLed postmaster leaks its segment; a cleanly stopped one removes it itself).
    pub(super) fn remove_leaked_shm(&mut self) -> Vec<String> {
        for role in [Role::Primary, Role::Standby] {
            self.record_postmaster(role);
        }
        let mut ids = self.shm_ids.clone();
        let our_pids: Vec<i32> = self.postmasters.iter().map(|p| p.pid).collect();
        if let Ok(table) = fs::read_to_string("/proc/sysvipc/shm") {
            let mut lines = table.lines();
            let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
            let col = |name: &str| header.iter().position(|h| *h == name);
            if let (Some(id_col), Some(cpid_col)) = (col("shmid"), col("cpid")) {
                for line in lines {
                    let f: Vec<&str> = line.split_whitespace().collect();
                    let cpid = f.get(cpid_col).and_then(|s| s.parse::<i32>().ok());
                    if cpid.is_some_and(|c| our_pids.contains(&c)) {
                        if let Some(id) = f.get(id_col).and_then(|s| s.parse().ok()) {
                            ids.insert(id);
                        }
                    }
                }
            }
        }
        // SAFETY: geteuid has no preconditions.
        let owner = self.run_as.map(|u| u.uid).unwrap_or_else(|| unsafe { libc::geteuid() });
        let mut done = Vec::new();
        for id in ids {
            match remove_orphaned_shm(id, &our_pids, Some(owner)) {
                Shm::Gone => {
                    self.shm_ids.remove(&id);
                }
                Shm::Kept => {}
                Shm::Removed { size, creator } => {
                    self.shm_ids.remove(&id);
                    done.push(format!(
                        "removed leaked SysV shared memory segment {id} ({size} bytes) of postmaster {creator}"
                    ));
                }
            }
        }
        done
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.torn_down {
            let _ = self.teardown();
        }
    }
}
