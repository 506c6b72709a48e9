//! The `sim` target: a discrete-event model of the AWS resources of a scenario on a virtual
//! clock. Time jumps from one event to the next, so a 4-hour drill costs as much as its events.
//!
//! [`SimModel`] is compiled once per scenario (immutable, shared by Monte Carlo threads);
//! [`SimTarget`] is one drill's world: regions, databases, capacity, DNS and the probing client,
//! driven by the shared engine through the [`Target`] trait and seeded per run.

mod drill;
pub mod montecarlo;

pub use drill::{simulate_once, simulate_once_with};

use std::borrow::Cow;
use std::collections::VecDeque;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::catalogue::models::constants as k;
use crate::engine::Ledger;
use crate::engine::{ActionResult, AlarmSource, Event, Plan, Poll, Target, TargetError, Time, Timers};
use crate::models::sample::{unit, Sampler};
use crate::models::ModelSet;
use crate::scenario::{Action, Consistency, FaultType, Replication, Resource, Routing, Scenario, Side};

/// Default models resolved into fields, so the hot path never looks a name up.
#[derive(Debug, Clone)]
struct Models {
    human: Sampler,
    multi_az: Sampler,
    aurora_in_region: Sampler,
    aurora_no_replica: Sampler,
    promote: Sampler,
    create_replica: Sampler,
    lag_rds: Sampler,
    lag_aurora: Sampler,
    aurora_global_failover: Sampler,
    aurora_switchover: Sampler,
    pitr: Sampler,
    pitr_point: Sampler,
    snapshot: Sampler,
    backup_overhead: Sampler,
    create_snapshot: Sampler,
    lag_dynamodb: Sampler,
    propagation: Sampler,
    stale_tail: Sampler,
    task_start: Sampler,
    ec2_launch: Sampler,
    ec2_bootstrap: Sampler,
    elb: Sampler,
    api: Sampler,
    cache_failover: Sampler,
    iac: Sampler,
    scale_delay: Sampler,
}

impl Models {
    fn new(m: &ModelSet) -> Models {
        Models {
            human: m.get("human-decision"),
            multi_az: m.get("rds.multi-az-failover"),
            aurora_in_region: m.get("aurora.in-region-failover"),
            aurora_no_replica: m.get("aurora.no-replica-recovery"),
            promote: m.get("rds.promote-read-replica"),
            create_replica: m.get("rds.create-read-replica"),
            lag_rds: m.get("replication-lag.rds"),
            lag_aurora: m.get("replication-lag.aurora-global"),
            aurora_global_failover: m.get("aurora.failover-global-cluster"),
            aurora_switchover: m.get("aurora.switchover-global-cluster"),
            pitr: m.get("rds.restore-point-in-time"),
            pitr_point: m.get("rds.pitr-recovery-point"),
            snapshot: m.get("rds.snapshot-restore"),
            backup_overhead: m.get("backup.restore-job-overhead"),
            create_snapshot: m.get("rds.create-snapshot"),
            lag_dynamodb: m.get("replication-lag.dynamodb"),
            propagation: m.get("route53.propagation"),
            stale_tail: m.get("dns.stale-client-tail"),
            task_start: m.get("ecs.task-start"),
            ec2_launch: m.get("ec2.launch"),
            ec2_bootstrap: m.get("ec2.bootstrap"),
            elb: m.get("elb.target-health"),
            api: m.get("api-call"),
            cache_failover: m.get("elasticache.failover-global-datastore"),
            iac: m.get("iac.deploy"),
            scale_delay: m.get("scale-out.delay"),
        }
    }
}

#[derive(Debug, Clone)]
enum Res {
    Rds {
        region: usize,
        multi_az: bool,
        storage_gib: f64,
        replica: Option<(usize, Replication)>,
        backups_in_dr: bool,
    },
    Replica {
        source: usize,
        region: usize,
    },
    Aurora {
        readers: u32,
        rpo_cap: Option<f64>,
        storage_gib: f64,
    },
    Dynamo {
        regions: Vec<usize>,
        strong: bool,
    },
    S3 {
        replicated: bool,
    },
    Ecs {
        primary: u32,
        dr: u32,
        min_healthy: u32,
        image_gib: f64,
    },
    Asg {
        primary: u32,
        dr: u32,
        min_healthy: u32,
        warmup: f64,
    },
    Dns {
        hc: Option<(f64, u32)>,
        ttl: f64,
        automatic: bool,
    },
    Backup {
        every: f64,
        copies_to_dr: bool,
        covers: Vec<usize>,
    },
    Cache {
        required: bool,
    },
}

#[derive(Debug, Clone)]
struct SimFault {
    kind: FaultType,
    region: usize,
    resource: usize,
    lag: Option<Sampler>,
    delay: Option<Sampler>,
}

/// A scenario compiled for simulation. Immutable; share it between threads.
#[derive(Debug, Clone)]
pub struct SimModel {
    pub plan: Plan,
    res: Vec<Res>,
    regions: usize,
    stores: Vec<usize>,
    computes: Vec<usize>,
    caches: Vec<usize>,
    dns: Option<usize>,
    faults: Vec<SimFault>,
    step_override: Vec<Option<Sampler>>,
    step_params: Vec<(Option<u32>, Option<bool>)>,
    m: Models,
    rate: f64,
    /// How long the workload ran before the drill started: enough for a restore from the
    /// oldest backup the runbook can use to lose real writes.
    history: Time,
    pub overridden_models: Vec<String>,
    /// `dns.client-cache`: when set (e.g. fitted from measured drills), the whole wait between a
    /// record change and the probing client following it; by default uniform(0, TTL) with a
    /// stale tail.
    client_cache: Option<Sampler>,
    /// Sensitivity knobs (1.0 = as modelled): each step's duration, health-check timing, TTL.
    pub step_scale: Vec<f64>,
    pub hc_scale: f64,
    pub ttl_scale: f64,
}

impl SimModel {
    pub fn compile(s: &Scenario) -> SimModel {
        let plan = Plan::compile(s);
        let mut regions: Vec<String> = vec![s.topology.primary_region.clone(), s.topology.dr_region.clone()];
        let mut region = |name: &str| match regions.iter().position(|r| r == name) {
            Some(i) => i,
            None => {
                regions.push(name.to_string());
                regions.len() - 1
            }
        };
        let side = |sd: Option<Side>, default: usize| match sd {
            Some(Side::Primary) => 0,
            Some(Side::Dr) => 1,
            None => default,
        };
        let ids: Vec<&str> = s.topology.resources.iter().map(|r| r.id()).collect();
        let idx = |id: &str| ids.iter().position(|x| *x == id).unwrap_or(0);
        let mut res = Vec::new();
        for r in &s.topology.resources {
            res.push(match r {
                Resource::RdsInstance(db) => Res::Rds {
                    region: side(db.side, 0),
                    multi_az: db.multi_az,
                    storage_gib: db.storage_gib.unwrap_or(100.0),
                    replica: None,
                    backups_in_dr: db.backups.as_ref().is_some_and(|b| b.replicate_to_dr),
                },
                Resource::RdsReadReplica(rr) => Res::Replica {
                    source: idx(&rr.source),
                    region: side(rr.side, 1),
                },
                Resource::AuroraGlobal(a) => Res::Aurora {
                    readers: a.primary_readers,
                    rpo_cap: a.rpo_cap.map(|c| c.secs()),
                    storage_gib: a.storage_gib.unwrap_or(100.0),
                },
                Resource::DynamodbGlobalTable(d) => Res::Dynamo {
                    regions: d.regions.iter().map(|r| region(r)).collect(),
                    strong: d.consistency == Consistency::Strong,
                },
                Resource::S3Bucket(b) => Res::S3 {
                    replicated: b.replication.is_some(),
                },
                Resource::EcsService(e) => Res::Ecs {
                    primary: e.primary.desired,
                    dr: e.dr.desired,
                    min_healthy: e.min_healthy.max(1),
                    image_gib: e.image_gib.unwrap_or(k::REFERENCE_IMAGE_GIB),
                },
                Resource::AutoScalingGroup(g) => Res::Asg {
                    primary: g.primary.desired,
                    dr: g.dr.desired,
                    min_healthy: g.min_healthy.max(1),
                    warmup: g.warmup.map_or(k::ASG_WARMUP_S, |w| w.secs()),
                },
                Resource::Route53Record(d) => Res::Dns {
                    hc: d
                        .health_check
                        .as_ref()
                        .map(|h| (h.interval.secs(), h.failure_threshold.max(1))),
                    ttl: d.ttl.secs(),
                    automatic: d.automatic.unwrap_or(d.health_check.is_some())
                        || d.routing == Routing::Latency && d.health_check.is_some(),
                },
                Resource::BackupPlan(b) => Res::Backup {
                    every: b.every.secs(),
                    copies_to_dr: b.copy_to.is_some(),
                    covers: b.resources.iter().map(|id| idx(id)).collect(),
                },
                Resource::ElasticacheGlobal(c) => Res::Cache { required: c.required },
            });
        }
        // Link replicas to their source instance.
        for n in 0..res.len() {
            if let Res::Replica { source, .. } = res[n] {
                let repl = match &s.topology.resources[n] {
                    Resource::RdsReadReplica(rr) => rr.replication,
                    _ => Replication::Async,
                };
                if let Res::Rds { replica, .. } = &mut res[source] {
                    replica.get_or_insert((n, repl));
                }
            }
        }
        let stores: Vec<usize> = (0..res.len())
            .filter(|&n| matches!(res[n], Res::Rds { .. } | Res::Aurora { .. } | Res::Dynamo { .. }))
            .collect();
        let computes = (0..res.len())
            .filter(|&n| matches!(res[n], Res::Ecs { .. } | Res::Asg { .. }))
            .collect();
        let caches = (0..res.len())
            .filter(|&n| matches!(res[n], Res::Cache { required: true }))
            .collect();
        let dns = (0..res.len()).find(|&n| matches!(res[n], Res::Dns { .. }));
        let faults = s
            .faults
            .iter()
            .map(|f| SimFault {
                kind: f.kind,
                region: f.region.as_deref().map_or(0, &mut region),
                resource: f.resource.as_deref().map_or(0, idx),
                lag: f.lag.as_ref().map(Sampler::from_dist),
                delay: f.delay.as_ref().map(Sampler::from_dist),
            })
            .collect();
        let modelset = ModelSet::new(&s.models);
        let step_override = s
            .all_steps()
            .map(|st| {
                st.duration
                    .as_ref()
                    .or_else(|| s.models.get(&st.id))
                    .map(Sampler::from_dist)
            })
            .collect();
        let step_params = s.all_steps().map(|st| (st.desired, st.allow_data_loss)).collect();
        // Losses can reach back before the drill started (a day-old backup, a lag spike of
        // minutes), so the simulated workload has been writing for a while already: an hour, or
        // the longest backup interval a restore could fall back to, plus an hour.
        let restores = s.runbook.steps.iter().any(|st| {
            matches!(
                st.action,
                Action::RdsRestoreFromSnapshot | Action::RdsRestorePointInTime | Action::BackupRestore
            )
        });
        let longest_backup = if restores {
            res.iter()
                .filter_map(|r| match r {
                    Res::Backup { every, .. } => Some(*every),
                    _ => None,
                })
                .fold(k::DEFAULT_SNAPSHOT_EVERY_S, f64::max)
        } else {
            0.0
        };
        let history = Time::from_secs(longest_backup + 3600.0);
        let n_steps = plan.steps.len();
        SimModel {
            client_cache: s.models.get("dns.client-cache").map(Sampler::from_dist),
            step_scale: vec![1.0; n_steps],
            hc_scale: 1.0,
            ttl_scale: 1.0,
            plan,
            history,
            res,
            regions: regions.len(),
            stores,
            computes,
            caches,
            dns,
            faults,
            step_override,
            step_params,
            m: Models::new(&modelset),
            rate: s.workload.writes_per_second,
            overridden_models: s.models.keys().cloned().collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    FaultOn(usize),
    HcUnhealthy { gen: u64 },
    ClientSwitch { region: usize },
    ActionEnd { step: usize, attempt: u32 },
    AutoRecover { res: usize },
    ProbeTick { gen: u64, left: u32 },
}

/// Per-resource state of one drill. One struct for every kind keeps reset cheap.
#[derive(Debug, Clone, Default)]
struct St {
    writer: usize,
    writer_ok: bool,
    corrupted: bool,
    /// Region of the database's read replica, if it has one (promotion moves the writer there).
    replica_region: Option<usize>,
    lag: f64,
    pause_since: Option<Time>,
    spike: Option<f64>,
    ready: [u32; 2],
    drift: bool,
    blocked: bool,
    block_delay: Option<f64>,
}

/// One simulated drill world. Reusable: [`SimTarget::reset`] starts a new run.
pub struct SimTarget<'m> {
    model: &'m SimModel,
    rng: ChaCha8Rng,
    now: Time,
    queue: Timers<Ev>,
    outbox: VecDeque<(Time, Event)>,
    st: Vec<St>,
    region_down: Vec<bool>,
    fault_seen: bool,
    t_fault: Option<Time>,
    regional_event: bool,
    points_to: usize,
    client: usize,
    hc_failing: bool,
    hc_pass: bool,
    hc_gen: u64,
    cache_primary: usize,
    healthy: bool,
    probe_gen: u64,
    probe_phase: Time,
    pending: Vec<u32>,
    pending_fail: Vec<Option<&'static str>>,
    /// Attempts the engine gave up on (timeout). AWS carries on with the operation, so its
    /// effect still lands; only the report is dropped.
    orphans: Vec<(usize, u32, Option<&'static str>)>,
    spans: Vec<(Time, Time)>,
    span_start: Option<Time>,
    lost: Vec<(Time, Time)>,
    /// How much further back than the model's history a loss reached in this run.
    history_deficit: Time,
}

impl<'m> SimTarget<'m> {
    pub fn new(model: &'m SimModel) -> SimTarget<'m> {
        SimTarget {
            model,
            rng: ChaCha8Rng::seed_from_u64(0),
            now: Time::ZERO,
            queue: Timers::default(),
            outbox: VecDeque::new(),
            st: Vec::new(),
            region_down: Vec::new(),
            fault_seen: false,
            t_fault: None,
            regional_event: false,
            points_to: 0,
            client: 0,
            hc_failing: false,
            hc_pass: false,
            hc_gen: 0,
            cache_primary: 0,
            healthy: true,
            probe_gen: 0,
            probe_phase: Time::ZERO,
            pending: Vec::new(),
            pending_fail: Vec::new(),
            orphans: Vec::new(),
            spans: Vec::new(),
            span_start: None,
            lost: Vec::new(),
            history_deficit: Time::ZERO,
        }
    }

    /// Starts a new run: run `stream` of the seed. Streams are independent, so run i gives the
    /// same drill whichever thread runs it.
    pub fn reset(&mut self, seed: u64, stream: u64) {
        let m = self.model;
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self.rng.set_stream(stream);
        self.now = Time::ZERO;
        self.queue.clear();
        self.outbox.clear();
        self.st.clear();
        for r in &m.res {
            let mut s = St {
                writer_ok: true,
                ..St::default()
            };
            match r {
                Res::Rds { region, replica, .. } => {
                    s.writer = *region;
                    s.replica_region = replica.and_then(|(rr, _)| match m.res[rr] {
                        Res::Replica { region, .. } => Some(region),
                        _ => None,
                    });
                }
                Res::Ecs { primary, dr, .. } | Res::Asg { primary, dr, .. } => s.ready = [*primary, *dr],
                _ => {}
            }
            self.st.push(s);
        }
        self.region_down.clear();
        self.region_down.resize(m.regions, false);
        self.fault_seen = false;
        self.t_fault = None;
        self.regional_event = false;
        self.points_to = 0;
        self.client = 0;
        self.hc_failing = false;
        self.hc_pass = false;
        self.hc_gen = 0;
        self.cache_primary = 0;
        self.healthy = true;
        self.probe_gen = 0;
        self.probe_phase = Time::from_secs(unit(&mut self.rng) * m.plan.probe_interval.secs());
        self.pending.clear();
        self.pending.resize(m.plan.steps.len(), 0);
        self.pending_fail.clear();
        self.pending_fail.resize(m.plan.steps.len(), None);
        self.orphans.clear();
        self.spans.clear();
        self.span_start = Some(Time::ZERO);
        self.lost.clear();
        self.history_deficit = Time::ZERO;
        // The client probes from the start, so the engine sees the service healthy before the fault.
        self.probe_gen = 1;
        self.schedule(self.probe_phase, Ev::ProbeTick { gen: 1, left: 1 });
    }

    fn schedule(&mut self, at: Time, ev: Ev) {
        self.queue.set(at, ev);
    }

    fn sample(&mut self, s: &Sampler) -> f64 {
        s.sample(&mut self.rng).max(0.0)
    }

    fn after(&self, secs: f64) -> Time {
        self.now.plus(Time::from_secs(secs))
    }

    fn side(region: usize) -> usize {
        usize::from(region != 0)
    }

    /// Whether a client whose DNS answer points at `r` gets a write and a read through.
    fn serving_in(&self, r: usize) -> bool {
        let m = self.model;
        if self.region_down.get(r).copied().unwrap_or(true) {
            return false;
        }
        for &c in &m.computes {
            let need = match m.res[c] {
                Res::Ecs { min_healthy, .. } | Res::Asg { min_healthy, .. } => min_healthy,
                _ => 1,
            };
            if self.st[c].ready[Self::side(r)] < need {
                return false;
            }
        }
        for &s in &m.stores {
            let st = &self.st[s];
            if st.corrupted {
                return false;
            }
            let ok = match &m.res[s] {
                Res::Dynamo { regions, .. } => regions.contains(&r),
                Res::Aurora { .. } | Res::Rds { .. } => !self.region_down[st.writer] && st.writer_ok,
                _ => true,
            };
            if !ok {
                return false;
            }
        }
        for &_c in &m.caches {
            if self.region_down[self.cache_primary] {
                return false;
            }
        }
        true
    }

    fn next_tick(&self) -> Time {
        let iv = self.model.plan.probe_interval.0.max(1);
        let ph = self.probe_phase.0;
        if self.now.0 <= ph {
            return Time(ph);
        }
        let n = (self.now.0 - ph).div_ceil(iv);
        Time(ph + n * iv)
    }

    /// After every change of the world: probes, the write workload and the health check follow.
    fn reevaluate(&mut self) {
        let serving = self.serving_in(self.client);
        if serving != self.healthy {
            self.healthy = serving;
            let t = self.now.plus(self.model.history);
            if serving {
                self.span_start = Some(t);
            } else if let Some(a) = self.span_start.take() {
                self.spans.push((a, t));
            }
            self.probe_gen += 1;
            let p = &self.model.plan;
            let left = p.healthy_after.max(p.failure_threshold);
            let tick = self.next_tick();
            self.schedule(
                tick,
                Ev::ProbeTick {
                    gen: self.probe_gen,
                    left,
                },
            );
        }
        let Some(d) = self.model.dns else { return };
        let Res::Dns {
            hc: Some((interval, threshold)),
            ..
        } = self.model.res[d]
        else {
            return;
        };
        let primary_ok = self.serving_in(0);
        if !primary_ok && !self.hc_failing {
            self.hc_failing = true;
            self.hc_gen += 1;
            // aws-timings.md 'Route 53 health check turning unhealthy':
            // threshold x interval + uniform(0, interval).
            let delay = (threshold as f64 * interval + unit(&mut self.rng) * interval) * self.model.hc_scale;
            let at = self.after(delay);
            self.schedule(at, Ev::HcUnhealthy { gen: self.hc_gen });
        } else if primary_ok && self.hc_failing {
            self.hc_failing = false;
            self.hc_gen += 1;
        }
    }

    fn switch_clients(&mut self, region: usize) {
        self.points_to = region;
        if self.client == region {
            return;
        }
        let ttl = match self.model.dns.map(|d| &self.model.res[d]) {
            Some(Res::Dns { ttl, .. }) => *ttl,
            _ => 0.0,
        };
        // aws-timings.md 'DNS TTL and client caching': uniform(0, TTL) for ~95% of clients,
        // a stale tail for the rest.
        let wait = if let Some(cache) = self.model.client_cache.clone() {
            self.sample(&cache) * self.model.ttl_scale
        } else if unit(&mut self.rng) < k::STALE_CLIENT_FRACTION {
            let tail = self.model.m.stale_tail.clone();
            self.sample(&tail) * self.model.ttl_scale
        } else {
            unit(&mut self.rng) * ttl * self.model.ttl_scale
        };
        let at = self.after(wait);
        self.schedule(at, Ev::ClientSwitch { region });
    }

    fn lag_model(&self, s: usize) -> Option<&Sampler> {
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
    fn record_lags(&mut self) {
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

    fn store_of(&self, r: usize) -> usize {
        match self.model.res[r] {
            Res::Replica { source, .. } => source,
            _ => r,
        }
    }

    /// Writes acknowledged in the `back` seconds before the fault (or now) are lost. Ledger
    /// times are shifted by the history the workload had before the drill started, so a
    /// backup taken a day before the drill still has writes after it.
    fn lose_back(&mut self, back: f64) {
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

    fn fault_on(&mut self, f: usize) {
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
    fn fail_writer(&mut self, s: usize) {
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

    fn fault_off(&mut self, f: usize) {
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

    /// Samples how long an action takes and whether it fails at once (drift, blocked
    /// capacity, a region that is down).
    fn plan_action(&mut self, step: usize) -> (f64, Option<&'static str>) {
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

    /// aws-timings.md 'RDS snapshot restore': available after LN(20 min, 60 min), then a slow
    /// period of size / 100-300 MiB/s while it lazy-loads.
    fn snapshot_restore(&mut self, store: usize) -> f64 {
        self.sample(&self.model.m.snapshot.clone()) + self.lazy_load(store)
    }

    /// Seconds to load a restored database's storage at 100-300 MiB/s (aws-timings.md 'RDS
    /// snapshot restore').
    fn lazy_load(&mut self, store: usize) -> f64 {
        let gib = match self.model.res[store] {
            Res::Rds { storage_gib, .. } | Res::Aurora { storage_gib, .. } => storage_gib,
            _ => 0.0,
        };
        let (lo, hi) = k::SNAPSHOT_LOAD_MIBPS;
        let rate = lo + (hi - lo) * unit(&mut self.rng);
        gib * 1024.0 / rate
    }

    /// The newest backup of `store` usable in the DR region, as seconds between backups, or
    /// None when no copy reaches the DR region.
    fn dr_backup_interval(&self, store: usize) -> Option<f64> {
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
    fn restore_from_backup(&mut self, store: usize, every: f64, dr: bool) {
        let back = unit(&mut self.rng) * every;
        self.lose_back(back);
        let st = &mut self.st[store];
        if dr {
            st.writer = 1;
        }
        st.writer_ok = true;
        st.corrupted = false;
    }

    fn finish_action(&mut self, step: usize) -> Result<(), &'static str> {
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

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::FaultOn(f) => self.fault_on(f),
            Ev::HcUnhealthy { gen } => {
                if gen != self.hc_gen || !self.hc_failing || self.hc_pass {
                    return;
                }
                self.outbox.push_back((
                    self.now,
                    Event::Alarm {
                        source: AlarmSource::HealthCheck,
                    },
                ));
                if let Some(Res::Dns { automatic: true, .. }) = self.model.dns.map(|d| &self.model.res[d]) {
                    // Route 53 answers with the secondary as soon as the primary is unhealthy.
                    self.switch_clients(1);
                }
            }
            Ev::ClientSwitch { region } => {
                if self.points_to == region && self.client != region {
                    self.client = region;
                    self.outbox.push_back((self.now, Event::TrafficSwitched));
                    self.reevaluate();
                }
            }
            Ev::ActionEnd { step, attempt } => {
                if let Some(i) = self.orphans.iter().position(|&(s, a, _)| s == step && a == attempt) {
                    let (_, _, fail) = self.orphans.swap_remove(i);
                    if fail.is_none() {
                        let _ = self.finish_action(step);
                        self.reevaluate();
                    }
                    return;
                }
                if self.pending[step] != attempt {
                    return;
                }
                self.pending[step] = 0;
                let result = match self.pending_fail[step].take() {
                    Some(why) => ActionResult::Failed(Cow::Borrowed(why)),
                    None => match self.finish_action(step) {
                        Ok(()) => ActionResult::Ok,
                        Err(why) => ActionResult::Failed(Cow::Borrowed(why)),
                    },
                };
                self.outbox
                    .push_back((self.now, Event::ActionDone { step, attempt, result }));
                self.reevaluate();
            }
            Ev::AutoRecover { res } => {
                match self.model.res[res] {
                    Res::Ecs { primary, .. } | Res::Asg { primary, .. } => self.st[res].ready[0] = primary,
                    _ => {
                        if !self.region_down[self.st[res].writer] {
                            self.st[res].writer_ok = true;
                        }
                    }
                }
                self.reevaluate();
            }
            Ev::ProbeTick { gen, left } => {
                if gen != self.probe_gen {
                    return;
                }
                let ok = self.serving_in(self.client);
                self.outbox.push_back((self.now, Event::Probe { ok }));
                if left > 1 {
                    let at = self.now.plus(self.model.plan.probe_interval);
                    self.schedule(at, Ev::ProbeTick { gen, left: left - 1 });
                }
            }
        }
    }
}

impl Target for SimTarget<'_> {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn inject(&mut self, fault: usize, now: Time) -> Result<(), TargetError> {
        self.now = now;
        self.schedule(now, Ev::FaultOn(fault));
        Ok(())
    }

    fn repair(&mut self, fault: usize, now: Time) -> Result<(), TargetError> {
        self.now = self.now.max(now);
        self.fault_off(fault);
        Ok(())
    }

    fn start_action(&mut self, step: usize, attempt: u32, now: Time) -> Result<(), TargetError> {
        self.now = now;
        let (secs, fail) = self.plan_action(step);
        let secs = secs * self.model.step_scale.get(step).copied().unwrap_or(1.0);
        self.pending[step] = attempt;
        self.pending_fail[step] = fail;
        let at = self.after(secs);
        self.schedule(at, Ev::ActionEnd { step, attempt });
        Ok(())
    }

    fn cancel_action(&mut self, step: usize, _now: Time) {
        if self.pending[step] != 0 {
            self.orphans
                .push((step, self.pending[step], self.pending_fail[step].take()));
        }
        self.pending[step] = 0;
    }

    fn poll(&mut self, deadline: Time) -> Result<Poll, TargetError> {
        loop {
            if let Some((t, ev)) = self.outbox.pop_front() {
                return Ok(Poll::Event(t, ev));
            }
            match self.queue.pop_due(deadline) {
                Some((t, ev)) => {
                    self.now = self.now.max(t);
                    self.handle(ev);
                }
                None => {
                    self.now = self.now.max(deadline);
                    return Ok(Poll::Deadline);
                }
            }
        }
    }

    fn ledger(&mut self, end: Time) -> Result<Ledger, TargetError> {
        let mut spans = self.spans.clone();
        let end = end.plus(self.model.history);
        if let Some(a) = self.span_start {
            spans.push((a, end.max(a)));
        }
        let d = self.history_deficit;
        if d > Time::ZERO {
            // Writes go back `d` further: every instant moves later by `d`, and the workload's
            // first span still starts at 0 (it has been writing all along).
            for (n, (a, b)) in spans.iter_mut().enumerate() {
                *a = if n == 0 && *a == Time::ZERO {
                    Time::ZERO
                } else {
                    a.plus(d)
                };
                *b = b.plus(d);
            }
        }
        let lost = self
            .lost
            .iter()
            .map(|&(until, back)| {
                let until = until.plus(d);
                (until.since(back), until)
            })
            .collect();
        Ok(Ledger::Steady {
            rate: self.model.rate,
            spans,
            lost,
            shift: self.model.history.plus(d),
        })
    }
}
