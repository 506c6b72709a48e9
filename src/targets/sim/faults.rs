//! The scenario's faults in the simulated world: a region, a database writer or replication
//! failing, lag at the fault, corruption, drift, blocked capacity; and their repair.

use super::*;

impl SimTarget<'_> {
    pub(super) fn lag_model(&self, s: usize) -> Option<&Sampler> {
        match &self.model.res[s] {
            Res::Rds {
                replica: Some((_, Replication::Async)),
                ..
            } => Some(&self.model.m.lag_rds),
            Res::Aurora { .. } => Some(&self.model.m.lag_aurora),
            Res::Dynamo { strong: false, .. } => Some(&self.model.m.lag_dynamodb),
            _ => None,
        }
    }

    /// Replication lag of every store at the fault instant; it sets what a failover loses.
    pub(super) fn record_lags(&mut self) {
        for i in 0..self.model.stores.len() {
            let s = self.model.stores[i];
            let mut lag = match self.lag_model(s).cloned() {
                Some(m) => self.sample(&m),
                None => 0.0,
            };
            if let Some(since) = self.st[s].pause_since {
                lag += self.now.since(since).secs();
            }
            if let Some(spike) = self.st[s].spike {
                lag = lag.max(spike);
            }
            if let Res::Aurora { rpo_cap: Some(cap), .. } = self.model.res[s] {
                // rds.global_db_rpo blocks commits beyond the cap, so no more is ever lost.
                lag = lag.min(cap);
            }
            self.st[s].lag = lag;
        }
    }

    pub(super) fn store_of(&self, r: usize) -> usize {
        match self.model.res[r] {
            Res::Replica { source, .. } => source,
            _ => r,
        }
    }

    /// Writes acknowledged in the `back` seconds before the fault (or now) are lost. Ledger
    /// times are shifted by the history the workload had before the drill started, so a
    /// backup taken a day before the drill still has writes after it.
    pub(super) fn lose_back(&mut self, back: f64) {
        let until = self.t_fault.unwrap_or(self.now).plus(self.model.history);
        let back = Time::from_secs(back);
        // A loss reaching back before the workload's history (a lag spike of hours) extends
        // the history by what is missing; the ledger is shifted by it at the end of the run.
        self.history_deficit = self.history_deficit.max(back.since(until));
        if back > Time::ZERO {
            // Kept as (end, length): the start is placed once the history is known.
            self.lost.push((until, back));
        }
    }

    pub(super) fn fault_on(&mut self, f: usize) {
        let fault = self.model.faults[f].clone();
        if fault.kind.is_disruptive() && !self.fault_seen {
            self.fault_seen = true;
            self.t_fault = Some(self.now);
            self.record_lags();
        }
        let target = self.store_of(fault.resource);
        match fault.kind {
            FaultType::RegionOutage => {
                self.region_down[fault.region] = true;
                self.regional_event = true;
                if fault.region == self.client {
                    // Multi-active tables: writes acknowledged in the failed region and not yet
                    // replicated are gone for the clients that move to another region.
                    for i in 0..self.model.stores.len() {
                        let s = self.model.stores[i];
                        if let Res::Dynamo { strong: false, .. } = self.model.res[s] {
                            let lag = self.st[s].lag;
                            self.lose_back(lag);
                        }
                    }
                }
            }
            FaultType::AzOutage => {
                for i in 0..self.model.stores.len() {
                    let s = self.model.stores[i];
                    if self.st[s].writer == fault.region && !matches!(self.model.res[s], Res::Dynamo { .. }) {
                        self.fail_writer(s);
                    }
                }
                for i in 0..self.model.computes.len() {
                    let c = self.model.computes[i];
                    let side = Self::side(fault.region);
                    let lose = self.st[c].ready[side].div_ceil(3);
                    self.st[c].ready[side] -= lose;
                    let replace = match self.model.res[c] {
                        Res::Ecs { .. } => self.sample(&self.model.m.task_start.clone()),
                        _ => {
                            self.sample(&self.model.m.ec2_launch.clone())
                                + self.sample(&self.model.m.ec2_bootstrap.clone())
                        }
                    };
                    if lose > 0 {
                        let at = self.after(replace);
                        self.schedule(at, Ev::AutoRecover { res: c });
                    }
                }
            }
            FaultType::DbPrimaryFailure => self.fail_writer(target),
            FaultType::ReplicationPause => self.st[target].pause_since = Some(self.now),
            FaultType::ReplicationLagSpike => {
                let lag = fault.lag.as_ref().map_or(0.0, |l| l.sample(&mut self.rng));
                self.st[target].spike = Some(lag);
            }
            FaultType::HealthCheckPassing => self.hc_pass = true,
            FaultType::DrDrift => self.st[fault.resource].drift = true,
            FaultType::ScaleOutBlocked => {
                self.st[fault.resource].blocked = true;
                self.st[fault.resource].block_delay = fault.delay.as_ref().map(|d| d.sample(&mut self.rng));
            }
            FaultType::DataCorruption => self.st[target].corrupted = true,
        }
        self.outbox.push_back((self.now, Event::FaultActive { fault: f }));
        if fault.kind.is_disruptive() {
            // The simulator knows its world: the fault is in force from this instant.
            self.outbox.push_back((
                self.now,
                Event::FaultEffect {
                    fault: f,
                    how: std::borrow::Cow::Borrowed("modelled: the simulated world applied it"),
                },
            ));
        }
        self.reevaluate();
    }

    /// The writer instance fails; Multi-AZ and Aurora replicas fail over by themselves.
    pub(super) fn fail_writer(&mut self, s: usize) {
        self.st[s].writer_ok = false;
        let auto = match self.model.res[s] {
            Res::Rds { multi_az: true, .. } => Some(self.model.m.multi_az.clone()),
            Res::Aurora { readers, .. } if readers > 0 => Some(self.model.m.aurora_in_region.clone()),
            Res::Aurora { .. } => Some(self.model.m.aurora_no_replica.clone()),
            _ => None,
        };
        if let Some(model) = auto {
            let d = self.sample(&model);
            let at = self.after(d);
            self.schedule(at, Ev::AutoRecover { res: s });
        }
    }

    pub(super) fn fault_off(&mut self, f: usize) {
        let fault = self.model.faults[f].clone();
        let target = self.store_of(fault.resource);
        match fault.kind {
            FaultType::RegionOutage => self.region_down[fault.region] = false,
            FaultType::ReplicationPause => self.st[target].pause_since = None,
            FaultType::ReplicationLagSpike => self.st[target].spike = None,
            FaultType::HealthCheckPassing => {
                self.hc_pass = false;
                if self.hc_failing {
                    // The health check now reports what it sees.
                    self.hc_failing = false;
                }
            }
            FaultType::DrDrift => self.st[fault.resource].drift = false,
            FaultType::ScaleOutBlocked => {
                self.st[fault.resource].blocked = false;
                self.st[fault.resource].block_delay = None;
            }
            FaultType::AzOutage | FaultType::DbPrimaryFailure | FaultType::DataCorruption => {}
        }
        self.outbox.push_back((self.now, Event::FaultRepaired { fault: f }));
        self.reevaluate();
    }
}
