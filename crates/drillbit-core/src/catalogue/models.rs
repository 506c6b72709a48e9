//! The default timing models, as data: each cites its source (Doc = documented, Cfg =
//! configured default, Field = public measurement, Est = estimate where nothing is
//! published). A scenario overrides any of them by name under `models:`; `drillbit models`
//! prints this table; the simulator samples it (`crate::models`).

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
    /// Row of aws-timings.md (or other source) and its type.
    pub source: &'static str,
}

const MIN: f64 = 60.0;
const HOUR: f64 = 3600.0;

/// Every overridable model. Order is the order `drillbit models` prints.
pub const MODELS: &[ModelDef] = &[
    ModelDef {
        name: "human-decision",
        spec: Spec::Ln(15.0 * MIN, 60.0 * MIN),
        source: "aws-timings.md 'Detect and declare DR': human decision LN median 15 min, p95 60 min (Est)",
    },
    ModelDef {
        name: "rds.multi-az-failover",
        spec: Spec::Ln(80.0, 180.0),
        source: "aws-timings.md 'RDS Multi-AZ instance failover': typically 60-120 s (Doc)",
    },
    ModelDef {
        name: "aurora.in-region-failover",
        spec: Spec::Ln(15.0, 45.0),
        source: "aws-timings.md 'Aurora failover in one Region (replica exists)': within 30 s (Doc)",
    },
    ModelDef {
        name: "aurora.no-replica-recovery",
        spec: Spec::Ln(6.0 * MIN, 13.0 * MIN),
        source: "aws-timings.md 'Aurora, no replica': new primary typically < 10 min (Doc)",
    },
    ModelDef {
        name: "rds.promote-read-replica",
        spec: Spec::Ln(5.0 * MIN, 15.0 * MIN),
        source: "aws-timings.md 'RDS read replica promotion': several minutes or longer (Doc)",
    },
    ModelDef {
        name: "replication-lag.rds",
        spec: Spec::Mix(0.05, &Spec::Ln(2.0, 30.0), &Spec::Ln(3.0 * MIN, 15.0 * MIN)),
        source:
            "aws-timings.md 'Cross-Region RDS replica lag': LN median 2 s, p95 30 s; 5% burst mode at minutes (Est)",
    },
    ModelDef {
        name: "replication-lag.aurora-global",
        spec: Spec::Ln(0.4, 1.5),
        source: "aws-timings.md 'Aurora Global Database replication lag': typically < 1 s (Doc)",
    },
    ModelDef {
        name: "aurora.failover-global-cluster",
        spec: Spec::Ln(45.0, 90.0),
        source: "aws-timings.md 'Aurora Global DB unplanned failover': under a minute (Doc)",
    },
    ModelDef {
        name: "aurora.switchover-global-cluster",
        spec: Spec::Ln(60.0, 3.0 * MIN),
        source: "aws-timings.md 'Aurora Global DB switchover (planned)': RPO 0 (Doc; duration Est)",
    },
    ModelDef {
        name: "rds.restore-point-in-time",
        spec: Spec::Ln(45.0 * MIN, 4.0 * HOUR),
        source: "aws-timings.md 'RDS point-in-time restore': restore can take hours (Est)",
    },
    ModelDef {
        name: "rds.pitr-recovery-point",
        spec: Spec::Uniform(0.0, 5.0 * MIN),
        source: "aws-timings.md 'RDS point-in-time restore': latest restorable time within the last 5 min (Doc)",
    },
    ModelDef {
        name: "rds.snapshot-restore",
        spec: Spec::Ln(20.0 * MIN, 60.0 * MIN),
        source: "aws-timings.md 'RDS snapshot restore': available, then lazy-loads; plus size / 100-300 MiB/s (Est)",
    },
    ModelDef {
        name: "backup.restore-job-overhead",
        spec: Spec::Ln(5.0 * MIN, 20.0 * MIN),
        source: "aws-timings.md 'AWS Backup restore': the snapshot rows plus job overhead (Est)",
    },
    ModelDef {
        name: "rds.create-read-replica",
        spec: Spec::Ln(20.0 * MIN, 60.0 * MIN),
        source:
            "estimate: a cross-Region replica starts from a snapshot, then catches up; plus the size-bound load (Est)",
    },
    ModelDef {
        name: "rds.create-snapshot",
        spec: Spec::Ln(10.0 * MIN, 40.0 * MIN),
        source: "estimate; no published duration (Est)",
    },
    ModelDef {
        name: "replication-lag.dynamodb",
        spec: Spec::Ln(0.5, 2.0),
        source: "aws-timings.md 'DynamoDB global tables (MREC)': usually within a second (Doc)",
    },
    ModelDef {
        name: "replication-lag.s3-rtc",
        spec: Spec::Mix(1e-4, &Spec::Ln(10.0, 90.0), &Spec::Uniform(15.0 * MIN, 2.0 * HOUR)),
        source: "aws-timings.md 'S3 replication with RTC': seconds; 99.99% within 15 min (Doc + SLA)",
    },
    ModelDef {
        name: "replication-lag.s3",
        spec: Spec::Ln(2.0 * MIN, 30.0 * MIN),
        source: "aws-timings.md 'S3 replication without RTC': majority within 15 min (Doc)",
    },
    ModelDef {
        name: "route53.propagation",
        spec: Spec::Uniform(5.0, 60.0),
        source: "aws-timings.md 'Route 53 record propagation': within 60 s (Doc; Est uniform 5-60 s)",
    },
    ModelDef {
        name: "dns.stale-client-tail",
        spec: Spec::Ln(3.0 * MIN, 20.0 * MIN),
        source: "aws-timings.md 'DNS TTL and client caching': 5% stale tail LN median 3 min, p95 20 min (Est)",
    },
    ModelDef {
        name: "ecs.task-start",
        spec: Spec::Ln(40.0, 120.0),
        source: "aws-timings.md 'ECS Fargate task start': 30-45 s or longer; image pull ~76% (Field/Doc)",
    },
    ModelDef {
        name: "ec2.launch",
        spec: Spec::Ln(30.0, 60.0),
        source: "aws-timings.md 'EC2 launch to ready': pending->running ~5 s, boot ~17-23 s (Field)",
    },
    ModelDef {
        name: "ec2.bootstrap",
        spec: Spec::Ln(2.0 * MIN, 8.0 * MIN),
        source: "aws-timings.md 'EC2 launch to ready': plus app bootstrap LN median 2 min, p95 8 min (Est)",
    },
    ModelDef {
        name: "elb.target-health",
        spec: Spec::Uniform(0.0, 30.0),
        source: "aws-timings.md 'Load balancer target health': interval 30 s; a new target needs 1 pass (Cfg)",
    },
    ModelDef {
        name: "api-call",
        spec: Spec::Ln(1.0, 3.0),
        source: "estimate for a control-plane call that returns at once (Est)",
    },
    ModelDef {
        name: "elasticache.failover-global-datastore",
        spec: Spec::Ln(60.0, 3.0 * MIN),
        source: "estimate; no published duration (Est)",
    },
    ModelDef {
        name: "iac.deploy",
        spec: Spec::Ln(45.0 * MIN, 2.0 * HOUR),
        source: "estimate for deploying the DR stack from IaC templates (DR whitepaper, Backup and restore; Est)",
    },
    ModelDef {
        name: "scale-out.delay",
        spec: Spec::Ln(5.0 * MIN, 20.0 * MIN),
        source: "aws-timings.md modelling note 2: scale-out delayed or blocked during a regional event (Est)",
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
pub const COMPUTED_MODEL_NAMES: &[&str] = &["dns.client-cache", RESTORE_SECONDS_PER_GIB];

/// Seconds to load one GiB into a restored database: what calibration fits from measured
/// restores (their size and time), so the simulator scales a restore with the database's size.
pub const RESTORE_SECONDS_PER_GIB: &str = "restore.seconds-per-gib";

/// Fixed parameters that are not durations (and so not overridable as distributions).
pub mod constants {
    /// aws-timings.md 'DNS TTL and client caching': ~95% of clients honour the TTL.
    pub const STALE_CLIENT_FRACTION: f64 = 0.05;
    /// aws-timings.md 'RDS snapshot restore': lazy load at 100-300 MiB/s.
    pub const SNAPSHOT_LOAD_MIBPS: (f64, f64) = (100.0, 300.0);
    /// aws-timings.md modelling note 2: 1-5% chance scale-out is delayed in a regional event.
    pub const SCALE_OUT_DISRUPTION_P: f64 = 0.02;
    /// aws-timings.md 'ASG / ECS warm-up settings': instanceWarmupPeriod 300 s (Cfg).
    pub const ASG_WARMUP_S: f64 = 300.0;
    /// aws-timings.md 'ECS Fargate task start': image pull is ~76% of task start; reference
    /// image size the default model stands for (Est).
    pub const IMAGE_PULL_SHARE: f64 = 0.76;
    pub const REFERENCE_IMAGE_GIB: f64 = 0.5;
    /// Default interval of automated snapshots when no backup plan says otherwise (daily).
    pub const DEFAULT_SNAPSHOT_EVERY_S: f64 = 86_400.0;
}
