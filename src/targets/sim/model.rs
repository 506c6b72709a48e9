//! The compiled world of a scenario ([`SimModel`]): its resources, faults and models resolved
//! once, immutable and shared by the Monte Carlo threads.

use crate::catalogue::models::constants as k;
use crate::engine::{Plan, Time};
use crate::models::sample::Sampler;
use crate::models::ModelSet;
use crate::scenario::{Consistency, FaultType, Replication, Resource, Routing, Scenario, Side};

/// Default models resolved into fields, so the hot path never looks a name up.
#[derive(Debug, Clone)]
pub(super) struct Models {
    pub(super) human: Sampler,
    pub(super) multi_az: Sampler,
    pub(super) aurora_in_region: Sampler,
    pub(super) aurora_no_replica: Sampler,
    pub(super) promote: Sampler,
    pub(super) create_replica: Sampler,
    pub(super) lag_rds: Sampler,
    pub(super) lag_aurora: Sampler,
    pub(super) aurora_global_failover: Sampler,
    pub(super) aurora_switchover: Sampler,
    pub(super) pitr: Sampler,
    pub(super) pitr_point: Sampler,
    pub(super) snapshot: Sampler,
    pub(super) backup_overhead: Sampler,
    pub(super) create_snapshot: Sampler,
    pub(super) lag_dynamodb: Sampler,
    pub(super) propagation: Sampler,
    pub(super) stale_tail: Sampler,
    pub(super) task_start: Sampler,
    pub(super) ec2_launch: Sampler,
    pub(super) ec2_bootstrap: Sampler,
    pub(super) elb: Sampler,
    pub(super) api: Sampler,
    pub(super) cache_failover: Sampler,
    pub(super) iac: Sampler,
    pub(super) scale_delay: Sampler,
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
pub(super) enum Res {
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
pub(super) struct SimFault {
    pub(super) kind: FaultType,
    pub(super) region: usize,
    pub(super) resource: usize,
    pub(super) lag: Option<Sampler>,
    pub(super) delay: Option<Sampler>,
}

/// A scenario compiled for simulation. Immutable; share it between threads.
#[derive(Debug, Clone)]
pub struct SimModel {
    pub plan: Plan,
    pub(super) res: Vec<Res>,
    pub(super) regions: usize,
    pub(super) stores: Vec<usize>,
    pub(super) computes: Vec<usize>,
    pub(super) caches: Vec<usize>,
    pub(super) dns: Option<usize>,
    pub(super) faults: Vec<SimFault>,
    pub(super) step_override: Vec<Option<Sampler>>,
    pub(super) step_params: Vec<(Option<u32>, Option<bool>)>,
    pub(super) m: Models,
    pub(super) rate: f64,
    /// How long the workload ran before the drill started: enough for a restore from the
    /// oldest backup the runbook can use to lose real writes.
    pub(super) history: Time,
    pub overridden_models: Vec<String>,
    /// `dns.client-cache`: when set (e.g. fitted from measured drills), the whole wait between a
    /// record change and the probing client following it; by default uniform(0, TTL) with a
    /// stale tail.
    pub(super) client_cache: Option<Sampler>,
    /// `restore.seconds-per-gib`: when set (fitted from measured restores), the load of a
    /// restored database is its size times this; by default size / 100-300 MiB/s.
    pub(super) restore_per_gib: Option<Sampler>,
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
        let restores = s.runbook.steps.iter().any(|st| st.action.restores());
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
            restore_per_gib: s
                .models
                .get(crate::catalogue::models::RESTORE_SECONDS_PER_GIB)
                .map(Sampler::from_dist),
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
