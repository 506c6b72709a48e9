//! Runbook actions in the simulated world: each one's sampled duration and immediate failure
//! (drift, blocked capacity, a region that is down), and what it changes when it ends.

use super::*;

impl SimTarget<'_> {
    /// Samples how long an action takes and whether it fails at once (drift, blocked
    /// capacity, a region that is down).
    pub(super) fn plan_action(&mut self, step: usize) -> (f64, Option<&'static str>) {
        let m = self.model;
        let ps = &m.plan.steps[step];
        let api = m.m.api.clone();
        let r = ps.resource;
        if let Some(r) = r {
            if self.st[r].drift && ps.action != Action::IacDeploy {
                return (self.sample(&api), Some("DR resource missing or drifted (dr-drift)"));
            }
        }
        let scale = matches!(ps.action, Action::EcsUpdateService | Action::AutoscalingUpdateGroup);
        let mut extra = 0.0;
        if scale {
            let r = r.unwrap_or(0);
            if self.st[r].blocked {
                match self.st[r].block_delay {
                    Some(d) => extra += d,
                    None => {
                        return (
                            self.sample(&api),
                            Some("scale-out blocked: insufficient capacity in the DR region"),
                        )
                    }
                }
            }
            if self.regional_event && unit(&mut self.rng) < k::SCALE_OUT_DISRUPTION_P {
                extra += self.sample(&m.m.scale_delay.clone());
            }
        }
        if let Some(o) = m.step_override[step].clone() {
            return (self.sample(&o) + extra, None);
        }
        let d = match ps.action {
            Action::Manual => self.sample(&m.m.human.clone()),
            Action::Wait | Action::ProbeUntilHealthy => 0.0,
            Action::RdsPromoteReadReplica => self.sample(&m.m.promote.clone()),
            Action::RdsCreateReadReplica => {
                let store = self.store_of(r.unwrap_or(0));
                self.sample(&m.m.create_replica.clone()) + self.lazy_load(store)
            }
            Action::RdsRebootForceFailover => self.sample(&m.m.multi_az.clone()),
            Action::RdsRestoreFromSnapshot => self.snapshot_restore(r.unwrap_or(0)),
            Action::RdsRestorePointInTime => {
                // A point-in-time restore is a new instance from the last snapshot plus log
                // replay: the PITR model, then the same size-bound lazy load.
                let base = self.sample(&m.m.pitr.clone());
                base + self.lazy_load(r.unwrap_or(0))
            }
            Action::RdsCreateSnapshot => self.sample(&m.m.create_snapshot.clone()),
            Action::AuroraFailoverDbCluster => self.sample(&m.m.aurora_in_region.clone()),
            Action::AuroraFailoverGlobalCluster => self.sample(&m.m.aurora_global_failover.clone()),
            Action::AuroraSwitchoverGlobalCluster => self.sample(&m.m.aurora_switchover.clone()),
            Action::RdsStartBackupReplication | Action::DynamodbCheckGlobalTable | Action::S3CheckReplication => {
                self.sample(&api)
            }
            Action::EcsUpdateService | Action::AutoscalingUpdateGroup
                if m.step_params[step].0.unwrap_or(0) <= self.st[r.unwrap_or(0)].ready[1] =>
            {
                // Scaling in only stops tasks or instances: the API call is the step.
                self.sample(&api)
            }
            Action::EcsUpdateService => {
                let r = r.unwrap_or(0);
                let desired = m.step_params[step].0.unwrap_or(0);
                let image = match m.res[r] {
                    Res::Ecs { image_gib, .. } => image_gib,
                    _ => k::REFERENCE_IMAGE_GIB,
                };
                // Tasks start in parallel: the step waits for the slowest. Image pull is ~76% of
                // a start and scales with image size.
                let scale = (1.0 - k::IMAGE_PULL_SHARE) + k::IMAGE_PULL_SHARE * image / k::REFERENCE_IMAGE_GIB;
                let n = desired.saturating_sub(self.st[r].ready[1]).clamp(1, 16);
                let ts = m.m.task_start.clone();
                let slowest = (0..n).map(|_| self.sample(&ts)).fold(0.0, f64::max);
                self.sample(&api) + slowest * scale + self.sample(&m.m.elb.clone())
            }
            Action::AutoscalingUpdateGroup => {
                let r = r.unwrap_or(0);
                let desired = m.step_params[step].0.unwrap_or(0);
                let warmup = match m.res[r] {
                    Res::Asg { warmup, .. } => warmup,
                    _ => k::ASG_WARMUP_S,
                };
                let n = desired.saturating_sub(self.st[r].ready[1]).clamp(1, 16);
                let (launch, boot) = (m.m.ec2_launch.clone(), m.m.ec2_bootstrap.clone());
                let slowest = (0..n)
                    .map(|_| self.sample(&launch) + self.sample(&boot))
                    .fold(0.0, f64::max);
                self.sample(&api) + slowest + warmup
            }
            Action::Route53FailoverToSecondary | Action::Route53FailoverToPrimary => {
                self.sample(&api) + self.sample(&m.m.propagation.clone())
            }
            Action::BackupRestore => {
                let covers: Vec<usize> = match &m.res[r.unwrap_or(0)] {
                    Res::Backup { covers, .. } => covers.clone(),
                    _ => Vec::new(),
                };
                let overhead = self.sample(&m.m.backup_overhead.clone());
                // Restore jobs of one plan run in parallel; the slowest decides.
                let slowest = covers
                    .iter()
                    .filter(|&&c| m.stores.contains(&c))
                    .map(|&c| self.snapshot_restore(c))
                    .fold(0.0, f64::max);
                overhead + slowest
            }
            Action::ElasticacheFailoverGlobalDatastore => self.sample(&m.m.cache_failover.clone()),
            Action::IacDeploy => self.sample(&m.m.iac.clone()),
        };
        (d + extra, None)
    }

    /// docs/models.md#rds-snapshot-restore: available after LN(20 min, 60 min), then a slow
    /// period of size / 100-300 MiB/s while it lazy-loads.
    pub(super) fn snapshot_restore(&mut self, store: usize) -> f64 {
        self.sample(&self.model.m.snapshot.clone()) + self.lazy_load(store)
    }

    /// Seconds to load a restored database's storage at 100-300 MiB/s
    /// (docs/models.md#snapshot-load-mibps), or at the calibrated `restore.seconds-per-gib`
    /// (docs/models.md#restore-seconds-per-gib).
    pub(super) fn lazy_load(&mut self, store: usize) -> f64 {
        let gib = match self.model.res[store] {
            Res::Rds { storage_gib, .. } | Res::Aurora { storage_gib, .. } => storage_gib,
            _ => 0.0,
        };
        if let Some(per_gib) = self.model.restore_per_gib.clone() {
            return gib * self.sample(&per_gib);
        }
        let (lo, hi) = k::SNAPSHOT_LOAD_MIBPS;
        let rate = lo + (hi - lo) * unit(&mut self.rng);
        gib * 1024.0 / rate
    }

    /// The newest backup of `store` usable in the DR region, as seconds between backups, or
    /// None when no copy reaches the DR region.
    pub(super) fn dr_backup_interval(&self, store: usize) -> Option<f64> {
        let mut best: Option<f64> = None;
        for r in &self.model.res {
            if let Res::Backup {
                every,
                copies_to_dr: true,
                covers,
            } = r
            {
                if covers.contains(&store) {
                    best = Some(best.map_or(*every, |b: f64| b.min(*every)));
                }
            }
        }
        if let Res::Rds {
            backups_in_dr: true, ..
        } = self.model.res[store]
        {
            best = Some(best.map_or(k::DEFAULT_SNAPSHOT_EVERY_S, |b| b.min(k::DEFAULT_SNAPSHOT_EVERY_S)));
        }
        best
    }

    /// Restores `store` from a backup taken up to `every` seconds before the fault.
    pub(super) fn restore_from_backup(&mut self, store: usize, every: f64, dr: bool) {
        let back = unit(&mut self.rng) * every;
        self.lose_back(back);
        let st = &mut self.st[store];
        if dr {
            st.writer = 1;
        }
        st.writer_ok = true;
        st.corrupted = false;
    }

    pub(super) fn finish_action(&mut self, step: usize) -> Result<(), &'static str> {
        let m = self.model;
        let ps = &m.plan.steps[step];
        let r = ps.resource.unwrap_or(0);
        let dr_down = self.region_down[1];
        match ps.action {
            Action::Manual | Action::Wait | Action::ProbeUntilHealthy | Action::IacDeploy => {
                if ps.action == Action::IacDeploy {
                    self.st[r].drift = false;
                }
            }
            Action::RdsPromoteReadReplica => {
                let store = self.store_of(r);
                let Some(region) = self.st[store].replica_region else {
                    return Err("InvalidDBInstanceState: the database has no read replica to promote");
                };
                if self.region_down[region] {
                    return Err("the replica's region is unavailable");
                }
                // An unplanned promotion loses what had not replicated; a planned one (the
                // writer is healthy, as in a failback) waits for the replica to catch up.
                let writer_lost = self.region_down[self.st[store].writer] || !self.st[store].writer_ok;
                if self.t_fault.is_some() && writer_lost {
                    let lag = self.st[store].lag;
                    self.lose_back(lag);
                }
                let st = &mut self.st[store];
                st.replica_region = None;
                st.writer = region;
                st.writer_ok = true;
            }
            Action::RdsCreateReadReplica => {
                let store = self.store_of(r);
                let writer = self.st[store].writer;
                let other = usize::from(writer == 0);
                if self.region_down[writer] {
                    return Err("the source instance's region is unavailable");
                }
                if self.region_down[other] {
                    return Err("the replica's region is unavailable");
                }
                self.st[store].replica_region = Some(other);
            }
            Action::RdsRebootForceFailover => {
                let Res::Rds { multi_az, .. } = m.res[r] else {
                    return Err("not an RDS instance");
                };
                if !multi_az {
                    return Err("InvalidParameterCombination: instance is not Multi-AZ");
                }
                if self.region_down[self.st[r].writer] {
                    return Err("the instance's region is unavailable");
                }
                self.st[r].writer_ok = true;
            }
            Action::RdsRestoreFromSnapshot | Action::RdsRestorePointInTime => {
                let in_dr = self.region_down[self.st[r].writer];
                if in_dr && dr_down {
                    return Err("both regions are unavailable");
                }
                let pitr = ps.action == Action::RdsRestorePointInTime;
                let every = if in_dr {
                    match (self.dr_backup_interval(r), pitr, &m.res[r]) {
                        (_, true, Res::Rds { backups_in_dr: false, .. }) => {
                            return Err("no automated backups replicated to the DR region (start-db-instance-automated-backups-replication)")
                        }
                        (None, false, _) => return Err("no snapshot copy in the DR region"),
                        (Some(e), false, _) => e,
                        (_, true, _) => -1.0,
                    }
                } else {
                    self.dr_backup_interval(r).unwrap_or(k::DEFAULT_SNAPSHOT_EVERY_S)
                };
                if pitr {
                    let back = self.sample(&m.m.pitr_point.clone());
                    self.lose_back(back);
                    let st = &mut self.st[r];
                    if in_dr {
                        st.writer = 1;
                    }
                    st.writer_ok = true;
                    st.corrupted = false;
                } else {
                    self.restore_from_backup(r, every, in_dr);
                }
            }
            Action::RdsCreateSnapshot | Action::RdsStartBackupReplication => {
                if self.region_down[self.st[r].writer] {
                    return Err("the instance's region is unavailable");
                }
            }
            Action::AuroraFailoverDbCluster => {
                if self.region_down[self.st[r].writer] {
                    return Err("the cluster's region is unavailable");
                }
                self.st[r].writer_ok = true;
            }
            Action::AuroraFailoverGlobalCluster | Action::AuroraSwitchoverGlobalCluster => {
                let target = 1 - self.st[r].writer.min(1);
                if self.region_down[target] {
                    return Err("the target cluster's region is unavailable");
                }
                let switchover = ps.action == Action::AuroraSwitchoverGlobalCluster;
                let primary_down = self.region_down[self.st[r].writer] || !self.st[r].writer_ok;
                if switchover && primary_down {
                    return Err(
                        "switchover needs a healthy primary cluster: use failover-global-cluster --allow-data-loss",
                    );
                }
                if !switchover {
                    if m.step_params[step].1 == Some(false) && primary_down {
                        return Err("failover without --allow-data-loss needs the primary cluster reachable");
                    }
                    let lag = self.st[r].lag;
                    self.lose_back(lag);
                }
                let st = &mut self.st[r];
                st.writer = target;
                st.writer_ok = true;
            }
            Action::DynamodbCheckGlobalTable => {
                if dr_down {
                    return Err("the DR region is unavailable");
                }
            }
            Action::S3CheckReplication => {
                if !matches!(m.res[r], Res::S3 { replicated: true }) {
                    return Err("no replication rule on the bucket");
                }
            }
            Action::EcsUpdateService | Action::AutoscalingUpdateGroup => {
                if dr_down {
                    return Err("the DR region is unavailable");
                }
                self.st[r].ready[1] = m.step_params[step].0.unwrap_or(self.st[r].ready[1]);
            }
            Action::Route53FailoverToSecondary => self.switch_clients(1),
            Action::Route53FailoverToPrimary => {
                if self.region_down[0] {
                    return Err("the primary region is unavailable");
                }
                self.switch_clients(0)
            }
            Action::BackupRestore => {
                let covers: Vec<usize> = match &m.res[r] {
                    Res::Backup { covers, .. } => covers.clone(),
                    _ => Vec::new(),
                };
                for c in covers {
                    if !m.stores.contains(&c) {
                        continue;
                    }
                    let in_dr = self.region_down[self.st[c].writer];
                    let every = match (in_dr, &m.res[r]) {
                        (
                            true,
                            Res::Backup {
                                copies_to_dr: false, ..
                            },
                        ) => return Err("the backup plan has no copy in the DR vault"),
                        (_, Res::Backup { every, .. }) => *every,
                        _ => k::DEFAULT_SNAPSHOT_EVERY_S,
                    };
                    self.restore_from_backup(c, every, in_dr);
                }
            }
            Action::ElasticacheFailoverGlobalDatastore => {
                if dr_down {
                    return Err("the DR region is unavailable");
                }
                self.cache_primary = 1;
            }
        }
        Ok(())
    }
}
