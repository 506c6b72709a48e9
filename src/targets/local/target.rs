//! The engine's side of the local target: faults, runbook actions, events and the ledger's
//! read-back from every host.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use super::topology::Topology;
use super::{hosts, infra, pg, workload, LocalTarget};
use crate::engine::Ledger;
use crate::engine::{ActionResult, Event, HostState, Poll, Target, TargetError, Time};
use crate::scenario::Action;

impl Target for LocalTarget {
    fn name(&self) -> &'static str {
        "local"
    }

    fn hosts(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.label.clone()).collect()
    }

    fn inject(&mut self, fault: usize, _now: Time) -> Result<(), TargetError> {
        self.in_force[fault] = true;
        self.inject_fault(fault)
    }

    fn repair(&mut self, fault: usize, _now: Time) -> Result<(), TargetError> {
        self.in_force[fault] = false;
        self.repair_fault(fault)
    }

    fn start_action(&mut self, step: usize, attempt: u32, _now: Time) -> Result<(), TargetError> {
        let tx = self.tx.clone();
        let done = move |result: ActionResult| {
            let _ = tx.send((Instant::now(), Event::ActionDone { step, attempt, result }));
        };
        let (action, duration) = self.steps[step].clone();
        // What each action is here. No catch-all: a new action must be named.
        let (promote, rebuild, repoint) = match action {
            Action::RdsPromoteReadReplica | Action::AuroraFailoverGlobalCluster | Action::AuroraSwitchoverGlobalCluster => {
                (true, false, false)
            }
            Action::RdsCreateReadReplica => (false, true, false),
            Action::Route53FailoverToSecondary | Action::Route53FailoverToPrimary => (false, false, true),
            Action::Manual
            | Action::Wait
            | Action::ProbeUntilHealthy
            | Action::EcsUpdateService
            | Action::AutoscalingUpdateGroup
            // No counterpart on local processes yet: reported unsupported below.
            | Action::RdsRebootForceFailover
            | Action::RdsRestoreFromSnapshot
            | Action::RdsRestorePointInTime
            | Action::RdsCreateSnapshot
            | Action::RdsStartBackupReplication
            | Action::AuroraFailoverDbCluster
            | Action::DynamodbCheckGlobalTable
            | Action::S3CheckReplication
            | Action::BackupRestore
            | Action::ElasticacheFailoverGlobalDatastore
            | Action::IacDeploy => (false, false, false),
        };
        match (&self.topology, action) {
            (Topology::Bound { .. }, _) if promote || repoint || rebuild => done(ActionResult::Unsupported(
                Cow::Borrowed("the bound system fails over by itself: drillbit does not promote or repoint it"),
            )),
            (
                Topology::Built {
                    cluster,
                    backups: Some(b),
                    ..
                },
                Action::BackupRestore | Action::RdsRestoreFromSnapshot | Action::RdsRestorePointInTime,
            ) => {
                let down: Vec<String> = self
                    .fault_regions
                    .iter()
                    .zip(&self.in_force)
                    .filter_map(|(r, on)| r.clone().filter(|_| *on))
                    .collect();
                let bad_xid = self.bad_xid.lock().ok().and_then(|x| *x);
                let (cluster, b, start) = (cluster.clone(), b.clone(), self.start);
                let step_id = self.step_ids[step].clone();
                std::thread::spawn(move || {
                    let (rp, target, to) = match b.choose(action, &down, bad_xid) {
                        Ok(c) => c,
                        Err(why) => return done(ActionResult::Failed(Cow::Owned(why))),
                    };
                    let t0 = Instant::now();
                    let r = match cluster.lock() {
                        Ok(mut c) => {
                            // A point-in-time restore reaches what the archive holds: the primary,
                            // when it still answers, archives its current segment first.
                            if !matches!(target, pg::RestoreTarget::EndOfBackup) {
                                if let Err(e) = c.flush_archive(Duration::from_secs(10)) {
                                    b.note(format!("restore: the WAL archive could not be brought up to date ({e}): the restore reaches what it holds"));
                                }
                                // The instance being replaced takes no more writes: on RDS the
                                // runbook renames it away; here its port would still take them.
                                match c.fence_primary() {
                                    Ok(true) => b.note("restore: the instance being replaced was set read-only before the restore (on RDS it is renamed away)".into()),
                                    Ok(false) => {}
                                    Err(e) => b.note(format!("restore: the instance being replaced could not be set read-only: {e}")),
                                }
                            }
                            c.restore(&rp, &target)
                        }
                        Err(_) => return done(ActionResult::Failed("cluster lock poisoned".into())),
                    };
                    match r {
                        Ok(st) => {
                            let secs = t0.elapsed().as_secs_f64();
                            let restored = st.bytes as f64 / 1048576.0;
                            if let Ok(mut r) = b.restores.lock() {
                                r.push(crate::scorecard::RestoreOut {
                                    step: step_id.clone(),
                                    recovery_point: rp.label.clone(),
                                    mib: (restored * 10.0).round() / 10.0,
                                    seconds: (secs * 1000.0).round() / 1000.0,
                                    mib_per_s: (restored / secs.max(1e-6) * 10.0).round() / 10.0,
                                });
                            }
                            b.note(format!(
                                "restore: {} restored recovery point {} from vault {} (taken at {:.1} s) {to} into a new instance: {:.1} MiB in {secs:.2} s, {:.0} MiB/s (copy {:.2} s, start and WAL replay {:.2} s)",
                                action.as_str(),
                                rp.label,
                                rp.vault,
                                signed_secs(start, rp.completed),
                                st.bytes as f64 / 1048576.0,
                                st.bytes as f64 / 1048576.0 / secs.max(1e-6),
                                st.copy.as_secs_f64(),
                                st.recovery.as_secs_f64(),
                            ));
                            done(ActionResult::Ok)
                        }
                        Err(e) => done(ActionResult::Failed(Cow::Owned(e.to_string()))),
                    }
                });
            }
            (
                Topology::Built { backups: None, .. },
                Action::BackupRestore | Action::RdsRestoreFromSnapshot | Action::RdsRestorePointInTime,
            ) => done(ActionResult::Unsupported(Cow::Borrowed(
                "a restore runs on the local target where the database has no replica (the restored instance is the DR side's database)",
            ))),
            (Topology::Built { cluster, .. }, Action::RdsCreateReadReplica) => {
                let cluster = cluster.clone();
                std::thread::spawn(move || {
                    let r = match cluster.lock() {
                        Ok(mut c) => c.rebuild_primary_from_standby(),
                        Err(_) => return done(ActionResult::Failed("cluster lock poisoned".into())),
                    };
                    done(match r {
                        Ok(()) => ActionResult::Ok,
                        Err(e) => ActionResult::Failed(Cow::Owned(e.to_string())),
                    })
                });
            }
            (Topology::Built { cluster, .. }, _) if promote => {
                let cluster = cluster.clone();
                // Promoting the primary-side copy is the failback switchover; the DR copy is the
                // failover promotion.
                let back = self.promotes_primary[step];
                std::thread::spawn(move || {
                    let r = match cluster.lock() {
                        Ok(c) if back => c.switch_back_to_primary(),
                        Ok(c) => c.promote_standby(),
                        Err(_) => return done(ActionResult::Failed("cluster lock poisoned".into())),
                    };
                    done(match r {
                        Ok(_) => ActionResult::Ok,
                        Err(e) => ActionResult::Failed(Cow::Owned(e.to_string())),
                    })
                });
            }
            (
                Topology::Built {
                    router,
                    primary_addr,
                    standby_addr,
                    ..
                },
                _,
            ) if repoint => {
                let to = if action == Action::Route53FailoverToSecondary {
                    *standby_addr
                } else {
                    *primary_addr
                };
                router.set_backend(to, true);
                // The step ends when the router has moved; clients follow at once (no DNS cache
                // here), so the traffic switch is stamped right after the step's end.
                done(ActionResult::Ok);
                let _ = self.tx.send((Instant::now(), Event::TrafficSwitched));
            }
            (
                Topology::Built {
                    services: Some([_, dr]),
                    ..
                },
                Action::EcsUpdateService | Action::AutoscalingUpdateGroup,
            ) => {
                let dr = dr.clone();
                let desired = self.desired[step];
                std::thread::spawn(move || {
                    let r = match (dr.lock(), desired) {
                        (Ok(mut g), Some(n)) => g.scale(n).map(|_| ()),
                        (Ok(_), None) => Err("no desired count".to_string()),
                        (Err(_), _) => Err("service lock poisoned".to_string()),
                    };
                    done(match r {
                        Ok(()) => ActionResult::Ok,
                        Err(e) => ActionResult::Failed(Cow::Owned(e)),
                    })
                });
            }
            (
                Topology::Built {
                    services: Some([_, dr]),
                    ..
                },
                Action::IacDeploy,
            ) => {
                // Deploying a stack that exists already changes nothing, as in CloudFormation.
                done(match dr.lock().map(|mut g| g.deploy()) {
                    Ok(_) => ActionResult::Ok,
                    Err(_) => ActionResult::Failed("service lock poisoned".into()),
                });
            }
            (
                Topology::Built {
                    sessions: Some(st), ..
                },
                Action::ElasticacheFailoverGlobalDatastore,
            ) if step < self.rollback_from => {
                let (st, handle) = (st.clone(), self.rt.handle().clone());
                std::thread::spawn(move || {
                    done(match st.fail_over(&handle) {
                        Ok(()) => ActionResult::Ok,
                        Err(e) => ActionResult::Failed(Cow::Owned(e)),
                    })
                });
            }
            (
                Topology::Built {
                    sessions: Some(st), ..
                },
                Action::ElasticacheFailoverGlobalDatastore,
            ) => {
                let (st, handle) = (st.clone(), self.rt.handle().clone());
                std::thread::spawn(move || {
                    done(match st.fail_back(&handle) {
                        Ok(()) => ActionResult::Ok,
                        Err(e) => ActionResult::Failed(Cow::Owned(e)),
                    })
                });
            }
            (_, Action::Wait) => {
                let d = duration.map_or(0.0, |d| d.median_secs());
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs_f64(d));
                    done(ActionResult::Ok)
                });
            }
            // Local drills run unattended: a human step is approved at once (a game day on a
            // live target prompts instead).
            (_, Action::Manual) => done(ActionResult::Ok),
            (_, Action::ProbeUntilHealthy) => {}
            (_, other) => done(ActionResult::Unsupported(Cow::Owned(format!(
                "{} has no counterpart on the local target",
                other.as_str()
            )))),
        }
        Ok(())
    }

    fn cancel_action(&mut self, _step: usize, _now: Time) {}

    fn poll(&mut self, deadline: Time) -> Result<Poll, TargetError> {
        let limit = self.start + Duration::from_micros(deadline.0).min(Duration::from_secs(366 * 86_400));
        loop {
            if self.abort.load(Ordering::SeqCst) {
                return Err(TargetError::Aborted("interrupted".into()));
            }
            let now = Instant::now();
            if now >= limit {
                return Ok(Poll::Deadline);
            }
            let wait = (limit - now).min(Duration::from_millis(50));
            match self.rx.recv_timeout(wait) {
                Ok((i, ev)) => return Ok(Poll::Event(self.at(i), ev)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
            }
        }
    }

    fn other_ledgers(&mut self) -> Vec<(String, Ledger)> {
        self.session_ledger.take().into_iter().collect()
    }

    fn ledger(&mut self, _end: Time) -> Result<Ledger, TargetError> {
        let Some(mut w) = self.workload.take() else {
            return Ok(Ledger::NotMeasurable("the workload was not running".into()));
        };
        w.stop(self.rt.handle());
        self.stop_watch.store(true, Ordering::SeqCst);
        let log = std::mem::take(&mut *w.log.lock().map_err(|_| infra("ledger", "lock poisoned"))?);
        // Read back after the system settled (the engine ended the drill only then), from every
        // host: the final writer's copy is what survived.
        let states: Vec<HostState> = self
            .hosts
            .iter()
            .map(|h| self.rt.block_on(hosts::state_now(&h.conninfo)))
            .collect();
        let writers: Vec<usize> = (0..states.len()).filter(|&n| states[n] == HostState::Writer).collect();
        let per_host: Vec<Option<HashSet<i64>>> = self
            .hosts
            .iter()
            .zip(&states)
            .map(|(h, st)| {
                (*st != HostState::Unreachable)
                    .then(|| self.rt.block_on(workload::survivors(&h.conninfo)).ok())
                    .flatten()
                    .map(|v| v.into_iter().collect())
            })
            .collect();
        let final_writer = match (writers.as_slice(), &self.topology) {
            ([w], Topology::Bound { .. }) => Some(*w),
            _ => None,
        };
        if writers.len() > 1 {
            self.notes.push(format!(
                "read-back: {} hosts were writable when the drill ended ({}): the final writer is ambiguous",
                writers.len(),
                writers
                    .iter()
                    .map(|&n| self.hosts[n].label.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if states.iter().all(|s| *s == HostState::Unreachable)
            && matches!(&self.topology, Topology::Built { backups: Some(_), .. })
        {
            // No restore ran (or it failed) and the primary is down: nothing holds the data.
            return Ok(Ledger::NotMeasurable(
                "no database answered when the drill ended: the primary is down and no restored instance runs".into(),
            ));
        }
        // What survived is what the recovery side holds: on a bound system the one writable
        // host; on drillbit's own, the endpoint clients now reach if it answers, else the
        // standby (the DR copy).
        let survived = match (&self.topology, final_writer) {
            (Topology::Bound { .. }, Some(w)) if per_host[w].is_some() => {
                Ok(per_host[w].clone().unwrap_or_default().into_iter().collect())
            }
            (_, _) => match &self.topology {
                Topology::Built {
                    router,
                    standby_conninfo,
                    ..
                } => {
                    let current = pg::loopback_conninfo(router.backend().port());
                    self.rt
                        .block_on(workload::survivors(&current))
                        .or_else(|_| self.rt.block_on(workload::survivors(standby_conninfo)))
                }
                Topology::Bound { conninfo } => self.rt.block_on(workload::survivors(conninfo)),
            },
        }
        .map_err(|e| infra("reading back the ledger", e))?;
        let survived: HashSet<i64> = survived.into_iter().collect();
        // Compare every reachable host with what survived: a write another host holds and the
        // final copy lacks is lost all the same, and says where the divergence was.
        for (n, h) in self.hosts.iter().enumerate() {
            let acked_here = per_host[n]
                .as_ref()
                .map(|set| log.acked.iter().filter(|(seq, _)| set.contains(seq)).count());
            let extra = per_host[n].as_ref().map(|set| {
                log.acked
                    .iter()
                    .filter(|(seq, _)| set.contains(seq) && !survived.contains(seq))
                    .count()
            });
            self.notes.push(match (acked_here, extra) {
                (Some(a), Some(x)) => format!(
                    "read-back from {} ({}): holds {a} of {} acknowledged writes{}",
                    h.label,
                    states[n].as_str(),
                    log.acked.len(),
                    if x > 0 {
                        format!(", {x} of them missing from the final copy (diverged)")
                    } else {
                        String::new()
                    }
                ),
                _ => format!("read-back from {}: {}", h.label, states[n].as_str()),
            });
        }
        self.read_back_sessions();
        let lost = crate::engine::ledger::lost_runs(log.acked.len(), |i| !survived.contains(&log.acked[i].0));
        let acks = log.acked.iter().map(|(_, t)| self.at(*t)).collect();
        Ok(Ledger::Recorded {
            acks,
            lost,
            indeterminate: log.indeterminate.len() as u64,
        })
    }
}

/// Seconds from `start` to `t`, negative when `t` came first (a backup taken before the drill).
fn signed_secs(start: Instant, t: Instant) -> f64 {
    match t.checked_duration_since(start) {
        Some(d) => d.as_secs_f64(),
        None => -start.duration_since(t).as_secs_f64(),
    }
}

impl LocalTarget {
    /// The session store's read-back: which acknowledged sessions the endpoint's server holds
    /// now, as the sessions' own ledger (measured like the database's writes) and a note.
    fn read_back_sessions(&mut self) {
        let Topology::Built { sessions: Some(st), .. } = &self.topology else {
            return;
        };
        st.stop_writer(self.rt.handle());
        let acked = st
            .log
            .lock()
            .map(|mut l| std::mem::take(&mut l.acked))
            .unwrap_or_default();
        let what = format!("sessions (global datastore {} as a Redis primary and replica)", st.name);
        let (ledger, note) = match st.survivors(self.rt.handle()) {
            Ok(held) => {
                let lost = crate::engine::ledger::lost_runs(acked.len(), |i| !held.contains(&acked[i].0));
                let n_lost: u64 = lost.iter().map(|r| r.end - r.start).sum();
                let note = format!("{what}: {n_lost} of {} acknowledged session writes lost", acked.len());
                let acks = acked.iter().map(|(_, t)| self.at(*t)).collect();
                (
                    Ledger::Recorded {
                        acks,
                        lost,
                        indeterminate: 0,
                    },
                    note,
                )
            }
            Err(e) => {
                let why = format!("{what}: could not be read back: {e}");
                (Ledger::NotMeasurable(why.clone()), why)
            }
        };
        self.notes.push(note);
        self.session_ledger = Some((format!("sessions `{}`", st.name), ledger));
    }
}
