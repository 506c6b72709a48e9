//! The default timing models, as data: each cites its entry in docs/models.md and the kind of
//! its source (documented = AWS documentation or an SLA, measured = a public or our own
//! measurement, estimate = our assumption, with the reasoning in docs/models.md). A scenario
//! overrides any of them by name under `models:`; `drillbit models` prints this table; the
//! simulator samples it (`crate::models`).

/// A default model as data, so the table can be printed and checked.
#[derive(Debug, Clone, Copy)]
pub enum Spec {
    Fixed(f64),
    Uniform(f64, f64),
    /// median, p95 (seconds)
    Ln(f64, f64),
    /// With probability p the tail, otherwise the body.
    Mix(f64, &'static Spec, &'static Spec),
}

pub struct ModelDef {
    pub name: &'static str,
    pub spec: Spec,
    /// Anchor of docs/models.md, the figure, and the kind of its source.
    pub source: &'static str,
}

const MIN: f64 = 60.0;
const HOUR: f64 = 3600.0;

/// Every overridable model. Order is the order `drillbit models` prints.
pub const MODELS: &[ModelDef] = &[
    ModelDef {
        name: "human-decision",
        spec: Spec::Ln(15.0 * MIN, 60.0 * MIN),
        source: "docs/models.md#human-decision: page, assess and authorise a regional failover (estimate)",
    },
    ModelDef {
        name: "rds.multi-az-failover",
        spec: Spec::Ln(80.0, 180.0),
        source: "docs/models.md#rds-multi-az-failover: typically 60-120 s (documented)",
    },
    ModelDef {
        name: "aurora.in-region-failover",
        spec: Spec::Ln(13.0, 30.0),
        source:
            "docs/models.md#aurora-in-region-failover: typically within 30 s; measured 10-16 s (documented, measured)",
    },
    ModelDef {
        name: "aurora.no-replica-recovery",
        spec: Spec::Ln(6.0 * MIN, 13.0 * MIN),
        source: "docs/models.md#aurora-no-replica-recovery: new primary typically under 10 min (documented)",
    },
    ModelDef {
        name: "rds.promote-read-replica",
        spec: Spec::Ln(5.0 * MIN, 15.0 * MIN),
        source: "docs/models.md#rds-promote-read-replica: several minutes or longer (documented; numbers estimate)",
    },
    ModelDef {
        name: "replication-lag.rds",
        spec: Spec::Mix(0.05, &Spec::Ln(2.0, 30.0), &Spec::Ln(3.0 * MIN, 15.0 * MIN)),
        source: "docs/models.md#replication-lag-rds: nothing published; 5% burst mode at minutes (estimate)",
    },
    ModelDef {
        name: "replication-lag.aurora-global",
        spec: Spec::Ln(0.4, 1.5),
        source: "docs/models.md#replication-lag-aurora-global: typically under 1 s (documented)",
    },
    ModelDef {
        name: "aurora.failover-global-cluster",
        spec: Spec::Ln(45.0, 90.0),
        source: "docs/models.md#aurora-failover-global-cluster: promoted in under a minute (documented)",
    },
    ModelDef {
        name: "aurora.switchover-global-cluster",
        spec: Spec::Ln(25.0, 60.0),
        source: "docs/models.md#aurora-switchover-global-cluster: typically under 30 s (documented)",
    },
    ModelDef {
        name: "rds.restore-point-in-time",
        spec: Spec::Ln(45.0 * MIN, 4.0 * HOUR),
        source: "docs/models.md#rds-restore-point-in-time: restore can take hours (estimate)",
    },
    ModelDef {
        name: "rds.pitr-recovery-point",
        spec: Spec::Uniform(0.0, 5.0 * MIN),
        source: "docs/models.md#rds-pitr-recovery-point: latest restorable time within the last 5 min (documented)",
    },
    ModelDef {
        name: "rds.snapshot-restore",
        spec: Spec::Ln(20.0 * MIN, 60.0 * MIN),
        source: "docs/models.md#rds-snapshot-restore: available, then lazy-loads; plus size / 100-300 MiB/s (estimate)",
    },
    ModelDef {
        name: "backup.restore-job-overhead",
        spec: Spec::Ln(5.0 * MIN, 20.0 * MIN),
        source: "docs/models.md#backup-restore-job-overhead: no published duration; job overhead (estimate)",
    },
    ModelDef {
        name: "rds.create-read-replica",
        spec: Spec::Ln(20.0 * MIN, 60.0 * MIN),
        source: "docs/models.md#rds-create-read-replica: from a snapshot, then catches up (estimate)",
    },
    ModelDef {
        name: "rds.create-snapshot",
        spec: Spec::Ln(10.0 * MIN, 40.0 * MIN),
        source: "docs/models.md#rds-create-snapshot: no published duration (estimate)",
    },
    ModelDef {
        name: "replication-lag.dynamodb",
        spec: Spec::Ln(0.5, 2.0),
        source: "docs/models.md#replication-lag-dynamodb: usually within a second (documented)",
    },
    ModelDef {
        name: "replication-lag.s3-rtc",
        spec: Spec::Mix(1e-4, &Spec::Ln(10.0, 90.0), &Spec::Uniform(15.0 * MIN, 2.0 * HOUR)),
        source: "docs/models.md#replication-lag-s3-rtc: seconds; 99.99% within 15 min (documented, SLA)",
    },
    ModelDef {
        name: "replication-lag.s3",
        spec: Spec::Ln(2.0 * MIN, 30.0 * MIN),
        source: "docs/models.md#replication-lag-s3: majority within 15 min, sometimes hours (estimate)",
    },
    ModelDef {
        name: "route53.propagation",
        spec: Spec::Uniform(5.0, 60.0),
        source: "docs/models.md#route53-propagation: within 60 s (documented; uniform 5-60 s estimate)",
    },
    ModelDef {
        name: "dns.stale-client-tail",
        spec: Spec::Ln(3.0 * MIN, 20.0 * MIN),
        source: "docs/models.md#dns-stale-client-tail: clients that ignore the TTL (estimate)",
    },
    ModelDef {
        name: "ecs.task-start",
        spec: Spec::Ln(40.0, 120.0),
        source: "docs/models.md#ecs-task-start: 30-45 s or longer (estimate); image pull 76% (documented)",
    },
    ModelDef {
        name: "ec2.launch",
        spec: Spec::Ln(30.0, 60.0),
        source: "docs/models.md#ec2-launch: pending->running ~5 s, ready ~29 s (measured)",
    },
    ModelDef {
        name: "ec2.bootstrap",
        spec: Spec::Ln(2.0 * MIN, 8.0 * MIN),
        source: "docs/models.md#ec2-bootstrap: application bootstrap (estimate)",
    },
    ModelDef {
        name: "elb.target-health",
        spec: Spec::Uniform(0.0, 30.0),
        source: "docs/models.md#elb-target-health: interval 30 s (documented); a new target needs 1 pass (estimate)",
    },
    ModelDef {
        name: "api-call",
        spec: Spec::Ln(1.0, 3.0),
        source: "docs/models.md#api-call: a control-plane call that returns at once (estimate)",
    },
    ModelDef {
        name: "elasticache.failover-global-datastore",
        spec: Spec::Ln(60.0, 3.0 * MIN),
        source: "docs/models.md#elasticache-failover-global-datastore: no published duration (estimate)",
    },
    ModelDef {
        name: "iac.deploy",
        spec: Spec::Ln(45.0 * MIN, 2.0 * HOUR),
        source: "docs/models.md#iac-deploy: deploying the DR stack from IaC templates (estimate)",
    },
    ModelDef {
        name: "scale-out.delay",
        spec: Spec::Ln(5.0 * MIN, 20.0 * MIN),
        source: "docs/models.md#scale-out-delay: scale-out delayed during a regional event (estimate)",
    },
];

/// Whether `name` is a model of the table.
pub fn is_known(name: &str) -> bool {
    MODELS.iter().any(|m| m.name == name)
}

/// The models' names, in the table's order.
pub fn names() -> impl Iterator<Item = &'static str> {
    MODELS.iter().map(|m| m.name)
}

/// Models with no fixed default (computed from the scenario) that a scenario or a calibration
/// may still set: `dns.client-cache` replaces uniform(0, TTL) plus the stale tail;
/// `restore.seconds-per-gib` replaces the size / 100-300 MiB/s load of a restored database
/// (a restore, a point-in-time restore, a new replica), multiplied by its `storage_gib`.
/// Sources: docs/models.md#dns-client-cache and docs/models.md#restore-seconds-per-gib.
pub const COMPUTED_MODEL_NAMES: &[&str] = &["dns.client-cache", RESTORE_SECONDS_PER_GIB];

/// Seconds to load one GiB into a restored database: what calibration fits from measured
/// restores (their size and time), so the simulator scales a restore with the database's size.
pub const RESTORE_SECONDS_PER_GIB: &str = "restore.seconds-per-gib";

/// Fixed parameters that are not durations (and so not overridable as distributions).
pub mod constants {
    /// docs/models.md#stale-client-fraction: ~95% of clients honour the TTL (estimate).
    pub const STALE_CLIENT_FRACTION: f64 = 0.05;
    /// docs/models.md#snapshot-load-mibps: lazy load at 100-300 MiB/s (the EBS range).
    pub const SNAPSHOT_LOAD_MIBPS: (f64, f64) = (100.0, 300.0);
    /// docs/models.md#scale-out-disruption-p: 1-5% chance scale-out is delayed in a regional event.
    pub const SCALE_OUT_DISRUPTION_P: f64 = 0.02;
    /// docs/models.md#asg-warmup-s: instanceWarmupPeriod 300 s (AWS's configured default).
    pub const ASG_WARMUP_S: f64 = 300.0;
    /// docs/models.md#image-pull-share: image pull is ~76% of task start (documented).
    pub const IMAGE_PULL_SHARE: f64 = 0.76;
    /// docs/models.md#reference-image-gib: the image size the default model stands for (estimate).
    pub const REFERENCE_IMAGE_GIB: f64 = 0.5;
    /// docs/models.md#default-snapshot-every-s: interval of automated snapshots when no backup
    /// plan says otherwise (daily).
    pub const DEFAULT_SNAPSHOT_EVERY_S: f64 = 86_400.0;
}
