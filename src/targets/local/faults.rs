//! How each fault of a scenario is carried out on the local target: drillbit's own cluster and
//! links, a signal by pid file, or a command of the user's (in its own process group, with a
//! timeout); and watching a signalled process for the signal's effect.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use super::exec::{self, Stop};
use super::procs::{read_pid_file, read_stat};
use super::router::LinkMode;
use super::topology::Topology;
use super::{infra, LocalTarget};
use crate::engine::{Event, TargetError};
use crate::scenario::{FaultType, LocalFault, LocalFaultSpec, Scenario, Signal, COMMAND_TIMEOUT_DEFAULT_S};

/// How each fault of the scenario is carried out here.
#[derive(Debug, Clone)]
pub(super) enum FaultPlan {
    Primary(LocalFault),
    SlowLink(Duration),
    PauseReplay,
    HealthCheckPasses,
    /// A bad write on the primary: half the ledger's rows and half the canary deleted in one
    /// committed transaction.
    BadWrite,
    Pidfile {
        path: PathBuf,
        signal: Signal,
        pid: Option<i32>,
    },
    Command {
        command: String,
        repair: Option<String>,
        timeout: Duration,
    },
}

pub(super) fn plan_faults(s: &Scenario, bound: bool) -> Result<Vec<FaultPlan>, TargetError> {
    let mut faults = Vec::new();
    for f in &s.faults {
        let unsupported = |why: &str| {
            TargetError::Infrastructure(format!(
                "fault `{}` ({}) is unsupported on the local target{why}",
                f.id,
                f.kind.as_str()
            ))
        };
        let plan = match (&f.local, f.kind) {
            (Some(LocalFaultSpec::Pidfile { pidfile, signal }), _) => FaultPlan::Pidfile {
                path: PathBuf::from(pidfile),
                signal: *signal,
                pid: None,
            },
            (
                Some(LocalFaultSpec::Command {
                    command,
                    repair,
                    timeout,
                }),
                _,
            ) => FaultPlan::Command {
                command: command.clone(),
                repair: repair.clone(),
                timeout: timeout.map_or(Duration::from_secs(COMMAND_TIMEOUT_DEFAULT_S), |t| {
                    Duration::from_micros(t.dur().micros())
                }),
            },
            (_, FaultType::HealthCheckPassing) if !bound => FaultPlan::HealthCheckPasses,
            _ if bound => {
                return Err(unsupported(
                    ": a bound system needs `local: { pidfile: ... }` or `local: { command: ... }`",
                ))
            }
            (Some(LocalFaultSpec::Method(LocalFault::SlowLink)), _) => {
                let lag = f.lag.as_ref().map_or(0.2, |d| d.median_secs());
                FaultPlan::SlowLink(Duration::from_secs_f64(lag))
            }
            (Some(LocalFaultSpec::Method(m)), _) => FaultPlan::Primary(*m),
            (None, FaultType::RegionOutage) => FaultPlan::Primary(LocalFault::KillAll),
            (None, FaultType::DbPrimaryFailure) => FaultPlan::Primary(LocalFault::KillPostmaster),
            (None, FaultType::ReplicationPause | FaultType::ReplicationLagSpike) => FaultPlan::PauseReplay,
            (None, FaultType::DataCorruption) => FaultPlan::BadWrite,
            (None, _) => return Err(unsupported("")),
        };
        faults.push(plan);
    }
    Ok(faults)
}

/// Watches a signalled process until the signal shows (it exited, or it stopped), and reports
/// that as the fault's effect. Gives up after `within` (the engine then finds no effect).
pub(super) fn watch_pid(pid: i32, signal: Signal, fault: usize, tx: Sender<(Instant, Event)>, within: Duration) {
    std::thread::spawn(move || {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let state = read_stat(pid).map(|s| s.state);
            let how = match (signal, state) {
                (Signal::Kill | Signal::Term, None | Some('Z' | 'X')) => Some(format!("process {pid} exited")),
                (Signal::Stop, Some('T' | 't')) => Some(format!("process {pid} is stopped (SIGSTOP)")),
                _ => None,
            };
            if let Some(how) = how {
                let _ = tx.send((
                    Instant::now(),
                    Event::FaultEffect {
                        fault,
                        how: Cow::Owned(how),
                    },
                ));
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
}

pub(super) fn read_pid(path: &Path) -> Result<i32, TargetError> {
    let what = format!("pid file {}", path.display());
    read_pid_file(path)
        .map_err(|e| infra(&what, e))?
        .pid
        .filter(|&p| p > 1)
        .ok_or_else(|| infra(&what, "the first line is not a process id"))
}

/// Runs `command` with `sh -c` in a process group of its own. It is stopped (SIGTERM to the
/// group, SIGKILL 2 s later, then waited for) when it outlives `timeout` or the drill is
/// interrupted; its stderr's tail explains a failure.
pub(super) fn run_shell(command: &str, timeout: Duration, abort: &AtomicBool) -> Result<(), TargetError> {
    use std::os::unix::process::ExitStatusExt;
    let what = format!("command `{command}`");
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(command);
    let spec = exec::Spec {
        timeout,
        stdout: false,
        group: true,
        abort: Some(abort),
    };
    let f = exec::run(cmd, &spec).map_err(|e| infra(&format!("fault {what}"), e))?;
    let status = match (&f.stopped, f.status.code()) {
        (None, _) if f.status.success() => return Ok(()),
        (Some(Stop::Interrupted), _) => return Err(TargetError::Aborted(format!("{what} interrupted"))),
        (Some(Stop::TimedOut), _) => format!(
            "timed out after {}, stopped",
            crate::scenario::duration::format_secs(timeout.as_secs_f64())
        ),
        (Some(Stop::WaitFailed(e)), _) => format!("waiting for it failed: {e}, stopped"),
        (None, Some(c)) => format!("exit status {c}"),
        (None, None) => format!("killed by signal {}", f.status.signal().unwrap_or(0)),
    };
    let lines: Vec<&str> = f.stderr.trim().lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    let tail = if tail.is_empty() {
        "no output on stderr".to_string()
    } else {
        format!("stderr: {tail}")
    };
    Err(infra(&what, format!("{status}; {tail}")))
}

impl LocalTarget {
    /// Injects fault `fault` as planned; reports it active (and its effect, when drillbit sees
    /// it at once).
    pub(super) fn inject_fault(&mut self, fault: usize) -> Result<(), TargetError> {
        // Direct evidence of the effect, when drillbit can see it (the engine also counts failed
        // probes and host changes).
        let mut effect: Option<Cow<'static, str>> = None;
        match self.faults[fault].clone() {
            FaultPlan::Primary(LocalFault::KillPostmaster) => {
                let pid = self.with_cluster(|c| Ok(c.primary.pid()))?;
                self.with_cluster(|c| c.kill_primary(false))?;
                if let Some(pid) = pid {
                    watch_pid(pid, Signal::Kill, fault, self.tx.clone(), self.effect_within);
                }
            }
            FaultPlan::Primary(LocalFault::KillAll) => {
                self.with_cluster(|c| c.kill_primary(true))?;
                effect = Some(Cow::Borrowed("every process of the primary is gone"));
                if let Topology::Built { sessions: Some(st), .. } = &self.topology {
                    st.kill_primary();
                }
                // The whole primary region goes: its tasks die with its database.
                if let Topology::Built {
                    services: Some([primary, _]),
                    ..
                } = &self.topology
                {
                    if let Ok(mut g) = primary.lock() {
                        g.kill_all();
                    }
                }
            }
            FaultPlan::Primary(LocalFault::Stop) => {
                self.with_cluster(|c| c.stop_primary())?;
                effect = Some(Cow::Borrowed("every process of the primary is stopped (SIGSTOP)"));
            }
            FaultPlan::Primary(LocalFault::CutLink) => self.link()?.set_mode(LinkMode::Blackhole),
            FaultPlan::Primary(LocalFault::SlowLink) => self.link()?.set_latency(Duration::from_millis(200)),
            FaultPlan::SlowLink(d) => self.link()?.set_latency(d),
            FaultPlan::PauseReplay => self.with_cluster(|c| c.pause_replay())?,
            FaultPlan::HealthCheckPasses => self.hc_passes.store(true, Ordering::SeqCst),
            FaultPlan::BadWrite => {
                let out = self.with_cluster(|c| {
                    c.sql(
                        &c.primary,
                        "WITH l AS (DELETE FROM drill_ledger WHERE seq % 2 = 0 RETURNING 1), \
                         k AS (DELETE FROM drill_canary WHERE id % 2 = 0 RETURNING 1) \
                         SELECT (SELECT count(*) FROM l) || ' ' || (SELECT count(*) FROM k) || ' ' || txid_current()",
                        Duration::from_secs(10),
                    )
                })?;
                let parts: Vec<u64> = out.split_whitespace().filter_map(|v| v.parse().ok()).collect();
                let [ledger, canary, xid] = parts[..] else {
                    return Err(infra("the bad write", format!("unexpected answer {out:?}")));
                };
                if let Ok(mut x) = self.bad_xid.lock() {
                    *x = Some(xid);
                }
                effect = Some(Cow::Owned(format!(
                    "a bad write committed on the primary (transaction {xid}): {ledger} ledger rows and {canary} canary rows deleted"
                )));
            }
            FaultPlan::Pidfile { path, signal, .. } => {
                let pid = read_pid(&path)?;
                let sig = match signal {
                    Signal::Kill => libc::SIGKILL,
                    Signal::Stop => libc::SIGSTOP,
                    Signal::Term => libc::SIGTERM,
                };
                if signal == Signal::Stop {
                    // Told before the signal: if drillbit dies from here on, the guard resumes it.
                    if let Some(g) = self.guard.as_mut() {
                        g.stopped(pid);
                    }
                }
                if unsafe { libc::kill(pid, sig) } != 0 {
                    return Err(infra(&format!("signalling pid {pid}"), std::io::Error::last_os_error()));
                }
                if let FaultPlan::Pidfile { pid: slot, .. } = &mut self.faults[fault] {
                    *slot = Some(pid);
                }
                watch_pid(pid, signal, fault, self.tx.clone(), self.effect_within);
            }
            FaultPlan::Command { command, timeout, .. } => run_shell(&command, timeout, &self.abort)?,
        }
        let now = Instant::now();
        let _ = self.tx.send((now, Event::FaultActive { fault }));
        if let Some(how) = effect {
            let _ = self.tx.send((now, Event::FaultEffect { fault, how }));
        }
        Ok(())
    }

    /// Undoes fault `fault` where it can be undone; reports it repaired.
    pub(super) fn repair_fault(&mut self, fault: usize) -> Result<(), TargetError> {
        match self.faults[fault].clone() {
            FaultPlan::Primary(LocalFault::Stop) => self.with_cluster(|c| c.cont_primary())?,
            FaultPlan::Primary(LocalFault::CutLink) => self.link()?.set_mode(LinkMode::Forward),
            FaultPlan::Primary(LocalFault::SlowLink) | FaultPlan::SlowLink(_) => {
                self.link()?.set_latency(Duration::ZERO)
            }
            FaultPlan::PauseReplay => {
                // The standby may have been promoted meanwhile; resuming is then moot.
                let _ = self.with_cluster(|c| c.resume_replay());
            }
            FaultPlan::HealthCheckPasses => self.hc_passes.store(false, Ordering::SeqCst),
            // What was written stays written: only a restore undoes it.
            FaultPlan::BadWrite => {}
            FaultPlan::Pidfile {
                signal: Signal::Stop,
                pid: Some(pid),
                ..
            } => {
                unsafe {
                    libc::kill(pid, libc::SIGCONT);
                }
                if let Some(g) = self.guard.as_mut() {
                    g.resumed(pid);
                }
            }
            FaultPlan::Command {
                repair: Some(repair),
                timeout,
                ..
            } => run_shell(&repair, timeout, &self.abort)?,
            FaultPlan::Primary(LocalFault::KillAll) => {
                // The region is back: its tasks restart (its database stays dead until failback
                // rebuilds it).
                if let Topology::Built {
                    services: Some([primary, _]),
                    ..
                } = &self.topology
                {
                    if let Ok(mut g) = primary.lock() {
                        g.restore().map_err(|e| infra("restoring the primary service", e))?;
                    }
                }
            }
            // A killed process stays dead; rebuilding it is failback, not repair.
            FaultPlan::Primary(LocalFault::KillPostmaster)
            | FaultPlan::Pidfile { .. }
            | FaultPlan::Command { repair: None, .. } => {}
        }
        let _ = self.tx.send((Instant::now(), Event::FaultRepaired { fault }));
        Ok(())
    }
}
