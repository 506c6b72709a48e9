//! The scenario's backups, for real, on the local target: the backup plan's vault in the primary
//! region (base backups and the continuous WAL archive), the copy of every backup into the DR
//! vault (checked against its manifest), backups on the plan's schedule through the drill,
//! retention in each vault, and the restores the runbook asks for, into a new instance on the
//! DR side.
//!
//! A vault lives in a region: while a region outage is in force there, its vault cannot be read,
//! so a restore that needs it fails, as it would on AWS.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::pg::{BackupTool, Cluster, PgError, RecoveryPoint, RestoreTarget, Vault};
use crate::scenario::{Action, Resource, Scenario};

/// The backup plan of the scenario's database, as the local target runs it.
#[derive(Debug, Clone)]
pub(super) struct Spec {
    /// The plan's (or the automated backups') name, for notes.
    pub name: String,
    pub vault: String,
    pub every: Duration,
    pub retention: Duration,
    /// The DR vault, its region and retention.
    pub copy: Option<(String, String, Duration)>,
}

fn dur(d: crate::scenario::PosDur) -> Duration {
    Duration::from_micros(d.0 .0)
}

/// The plan protecting the scenario's database: a backup plan naming it, else the instance's
/// automated backups (daily, replicated to the DR region when asked).
pub(super) fn spec(s: &Scenario) -> Option<Spec> {
    let db = s.topology.resources.iter().find_map(|r| match r {
        Resource::RdsInstance(db) => Some(db),
        _ => None,
    })?;
    let dr_region = s.topology.dr_region.clone();
    let plan = s.topology.resources.iter().find_map(|r| match r {
        Resource::BackupPlan(p) if p.resources.contains(&db.id) => Some(p),
        _ => None,
    });
    if let Some(p) = plan {
        return Some(Spec {
            name: p.plan.clone(),
            vault: p.vault.clone(),
            every: dur(p.every),
            retention: dur(p.retention),
            copy: p.copy_to.as_ref().map(|c| {
                (
                    c.vault.clone(),
                    c.region.clone().unwrap_or_else(|| dr_region.clone()),
                    dur(c.retention),
                )
            }),
        });
    }
    let b = db.backups.as_ref()?;
    let vault = format!("{}-automated-backups", db.instance);
    Some(Spec {
        name: format!("automated backups of {}", db.instance),
        vault: vault.clone(),
        every: Duration::from_secs(24 * 3600),
        retention: dur(b.retention),
        copy: b.replicate_to_dr.then(|| (vault, dr_region, dur(b.retention))),
    })
}

/// Whether the runbook restores from a backup (what makes a backup topology worth building).
pub(super) fn runbook_restores(s: &Scenario) -> bool {
    s.all_steps().any(|st| {
        matches!(
            st.action,
            Action::BackupRestore | Action::RdsRestoreFromSnapshot | Action::RdsRestorePointInTime
        )
    })
}

/// The vaults, their recovery points and the schedule.
pub(super) struct Backups {
    pub spec: Spec,
    tool: BackupTool,
    pub primary: Vault,
    pub dr: Option<Vault>,
    /// Every recovery point in every vault, oldest first.
    pub points: Arc<Mutex<Vec<RecoveryPoint>>>,
    /// What the backups did, for the scorecard's notes.
    pub notes: Arc<Mutex<Vec<String>>>,
    /// Every restore carried out, with its size and time (the scorecard's `restores`).
    pub restores: Arc<Mutex<Vec<crate::scorecard::RestoreOut>>>,
    stop: Arc<AtomicBool>,
    schedule: Mutex<Option<JoinHandle<()>>>,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl Backups {
    /// Makes the vaults, starts archiving the primary's WAL and takes the first backup (and its
    /// copy): the plan has been running before the drill.
    pub fn provision(cluster: &Cluster, spec: Spec, primary_region: &str) -> Result<Backups, PgError> {
        let primary = cluster.make_vault(&spec.vault, primary_region)?;
        let dr = match &spec.copy {
            Some((name, region, _)) => Some(cluster.make_vault(name, region)?),
            None => None,
        };
        cluster.archive_into(&primary)?;
        let b = Backups {
            tool: cluster.backup_tool(),
            primary,
            dr,
            points: Arc::new(Mutex::new(Vec::new())),
            notes: Arc::new(Mutex::new(Vec::new())),
            restores: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
            schedule: Mutex::new(None),
            spec,
        };
        b.take(cluster.primary.port, "rp-0", None)?;
        Ok(b)
    }

    /// One scheduled run of the plan: a base backup into the primary vault, its copy into the DR
    /// vault, then retention in each. `at` is the drill's clock for notes.
    fn take(&self, port: u16, label: &str, at: Option<Duration>) -> Result<(), PgError> {
        let when = at.map_or_else(
            || "before the drill".to_string(),
            |d| format!("at {:.1} s", d.as_secs_f64()),
        );
        let rp = self.tool.base_backup(port, &self.primary, label)?;
        self.note(format!(
            "backup: {} ({}) took recovery point {label} {when} into vault {} ({}): {:.1} MiB in {:.2} s (pg_basebackup, WAL archived continuously beside it)",
            self.spec.name,
            "base backup",
            self.primary.name,
            self.primary.region,
            mib(rp.bytes),
            rp.took.as_secs_f64()
        ));
        let copy = match &self.dr {
            Some(dr) => {
                let c = self.tool.copy(&rp, dr)?;
                self.note(format!(
                    "backup: copy job of {label} to vault {} ({}): {:.1} MiB in {:.2} s, checked against its manifest (pg_verifybackup)",
                    dr.name,
                    dr.region,
                    mib(c.bytes),
                    c.took.as_secs_f64()
                ));
                Some(c)
            }
            None => None,
        };
        let Ok(mut points) = self.points.lock() else {
            return Ok(());
        };
        points.push(rp);
        points.extend(copy);
        let now = Instant::now();
        for (vault, retention) in self.retentions() {
            let mut of_vault: Vec<RecoveryPoint> = points.iter().filter(|p| p.vault == vault).cloned().collect();
            let gone = BackupTool::expire(&mut of_vault, retention, now);
            if !gone.is_empty() {
                points.retain(|p| p.vault != vault || !gone.contains(&p.label));
                self.note(format!(
                    "backup: retention ({:.0} s) deleted {} from vault {vault}",
                    retention.as_secs_f64(),
                    gone.join(", ")
                ));
            }
        }
        Ok(())
    }

    fn retentions(&self) -> Vec<(String, Duration)> {
        let mut v = vec![(self.primary.name.clone(), self.spec.retention)];
        if let (Some(dr), Some((_, _, r))) = (&self.dr, &self.spec.copy) {
            v.push((dr.name.clone(), *r));
        }
        v
    }

    pub fn note(&self, text: String) {
        if let Ok(mut n) = self.notes.lock() {
            n.push(text);
        }
    }

    /// Runs the plan on its schedule from `start` until [`Backups::stop`]; a run that fails (the
    /// primary is down) is noted, and the next one tried.
    pub fn start_schedule(self: &Arc<Self>, port: u16, start: Instant) {
        let me = self.clone();
        let handle = std::thread::spawn(move || {
            let mut n = 1u32;
            while !me.stop.load(Ordering::SeqCst) {
                let due = start + me.spec.every * n;
                while Instant::now() < due {
                    if me.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep((due - Instant::now()).min(Duration::from_millis(50)));
                }
                let label = format!("rp-{n}");
                if let Err(e) = me.take(port, &label, Some(start.elapsed())) {
                    me.note(format!(
                        "backup: the scheduled backup {label} at {:.1} s failed: {e}",
                        start.elapsed().as_secs_f64()
                    ));
                }
                n += 1;
            }
        });
        if let Ok(mut s) = self.schedule.lock() {
            *s = Some(handle);
        }
    }

    /// Stops the schedule and waits for a backup in progress.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.schedule.lock().ok().and_then(|mut s| s.take()) {
            let _ = h.join();
        }
    }

    /// The newest recovery point in `vault`.
    pub fn newest(&self, vault: &str) -> Option<RecoveryPoint> {
        self.points
            .lock()
            .ok()?
            .iter()
            .filter(|p| p.vault == vault)
            .max_by_key(|p| p.completed)
            .cloned()
    }

    /// What a restore action restores from and to, given the regions down; Err says why it
    /// cannot. `bad_xid` is the committed bad write, when a data-corruption fault made one.
    pub fn choose(
        &self,
        action: Action,
        down: &[String],
        bad_xid: Option<u64>,
    ) -> Result<(RecoveryPoint, RestoreTarget, String), String> {
        let usable = |v: &Vault| -> Result<RecoveryPoint, String> {
            if down.contains(&v.region) {
                return Err(format!("vault {} is in {}, which is down", v.name, v.region));
            }
            self.newest(&v.name)
                .ok_or_else(|| format!("vault {} holds no recovery point", v.name))
        };
        match action {
            Action::RdsRestorePointInTime => {
                // The WAL archive is in the primary's vault: a point-in-time restore needs its
                // region.
                let rp = usable(&self.primary)?;
                let wal = self.primary.wal_dir();
                Ok(match bad_xid {
                    Some(xid) => (
                        rp,
                        RestoreTarget::BeforeXid { wal, xid },
                        format!("to just before transaction {xid} (the bad write)"),
                    ),
                    None => (
                        rp,
                        RestoreTarget::Latest { wal },
                        "to the end of the WAL archive".into(),
                    ),
                })
            }
            _ => {
                // The DR vault's copy when there is one and its region is up, else the primary
                // vault's backup.
                let rp = match &self.dr {
                    Some(dr) => usable(dr).or_else(|e| usable(&self.primary).map_err(|e2| format!("{e}; {e2}")))?,
                    None => usable(&self.primary)?,
                };
                Ok((rp, RestoreTarget::EndOfBackup, "to the end of the backup".into()))
            }
        }
    }
}
