//! The scenario file, format v1, as typed Rust: what a DR setup is, what breaks, and the
//! runbook that recovers it. Owns the serde shape (and through schemars, the JSON Schema).
//!
//! Resource kinds, fault kinds and actions are target-neutral: every target reads these same
//! types and realizes what it can. Semantic checks (references, cycles, which action fits which
//! resource) live in `validate/`; the few hand-written serde and schema impls in `model_serde.rs`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dist::Dist;
use super::duration::{Dur, PosDur};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
/// A drillbit scenario (format v1).
pub struct Scenario {
    /// Short identifier: lowercase letters, digits and dashes.
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub strategy: Strategy,
    pub targets: Targets,
    pub topology: Topology,
    #[serde(default)]
    pub workload: Workload,
    #[serde(default)]
    pub faults: Vec<Fault>,
    pub runbook: Runbook,
    /// Simulator model overrides, by step id or by model name (see `drillbit models`), or the
    /// path of a models file written by `drillbit calibrate` (relative to the scenario file).
    #[serde(default)]
    pub models: Models,
    #[serde(default)]
    pub drill: DrillSettings,
    /// Standing cost of the setup, for comparing strategies (reported, not simulated).
    #[serde(default)]
    pub cost: Option<Cost>,
    /// Requirements beyond RTO and RPO that `drillbit lint` checks (compliance).
    #[serde(default)]
    pub requirements: Option<Requirements>,
    /// Settings for the `aws` and `emulator` targets: the accounts a live drill may touch, the
    /// FIS role and stop conditions.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// The AWS account ids a live drill may run in (checked against the caller identity).
    #[serde(default)]
    pub accounts: Vec<String>,
    /// The regions a live drill may touch (default: the primary and DR regions).
    #[serde(default)]
    pub regions: Vec<String>,
    /// The IAM role AWS FIS assumes to run the experiment.
    #[serde(default)]
    pub fis_role_arn: Option<String>,
    /// CloudWatch alarm ARNs that stop the FIS experiment when they fire.
    #[serde(default)]
    pub stop_alarms: Vec<String>,
    /// Subnet ids per region for network faults (aws:network:disrupt-connectivity); without
    /// them the template selects the region's subnets by `subnet_tags`, else by the tag
    /// `drillbit:region=<region>`.
    #[serde(default)]
    pub subnets: std::collections::BTreeMap<String, Vec<String>>,
    /// The tags that select a region's subnets for network faults, by region (instead of
    /// `drillbit:region=<region>`), e.g. `{ us-east-1: { Tier: app } }`.
    #[serde(default)]
    pub subnet_tags: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    /// The tags FIS selects a resource by where it takes tags (S3 buckets for a replication
    /// pause; the DR Auto Scaling group for a blocked scale-out), by resource id (instead of
    /// `drillbit:resource=<id>`).
    #[serde(default)]
    pub target_tags: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    /// The availability zones (names or ids) of a region's Auto Scaling groups, by region, for
    /// a blocked scale-out (default: the region's zones a, b and c).
    #[serde(default)]
    pub availability_zones: std::collections::BTreeMap<String, Vec<String>>,
    /// aws target: the service's health URL (http or https) that client probes GET through
    /// the real DNS; a 2xx or 3xx answer within the probe interval is a good probe.
    #[serde(default)]
    pub probe_url: Option<String>,
    /// aws target: the data stores that receive sequence-numbered canary writes, by resource
    /// id (an rds-instance or aurora-global bound to a PostgreSQL `connection` whose DR side is
    /// bound too, a dynamodb-global-table, an s3-bucket with replication). After the failover
    /// drillbit reads back what reached the DR copy; the lost canaries are the data loss.
    #[serde(default)]
    pub canaries: Vec<String>,
    /// aws target: canary writes per second, over all canary stores (default 5).
    #[serde(default)]
    pub canary_rate: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// How long backups must be kept (e.g. 7y for financial records).
    #[serde(default)]
    pub retention: Option<PosDur>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    /// Monthly cost of the DR side in US dollars.
    pub dr_monthly_usd: f64,
    /// Monthly cost of the primary side, for the DR overhead ratio.
    #[serde(default)]
    pub primary_monthly_usd: Option<f64>,
}

/// The `models:` section: a mapping of overrides, or a models file to read them from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Models {
    pub map: BTreeMap<String, Dist>,
    /// Set while the scenario names a file; the loader reads it into `map`.
    #[serde(skip)]
    pub file: Option<String>,
}

impl std::ops::Deref for Models {
    type Target = BTreeMap<String, Dist>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl std::ops::DerefMut for Models {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.map
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    BackupRestore,
    PilotLight,
    WarmStandby,
    ActiveActive,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::BackupRestore => "backup-restore",
            Strategy::PilotLight => "pilot-light",
            Strategy::WarmStandby => "warm-standby",
            Strategy::ActiveActive => "active-active",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Recovery time objective: the longest acceptable outage.
    pub rto: PosDur,
    /// Recovery point objective: the most data loss acceptable, as time before the fault.
    pub rpo: Dur,
    /// How likely a drill must be to meet both targets, as a fraction (0.95): `simulate` fails
    /// (exit 1) when the Wilson 95% lower bound of P(meet both) falls short of it.
    #[serde(default)]
    pub confidence: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub primary_region: String,
    pub dr_region: String,
    pub resources: Vec<Resource>,
}

/// Where a resource lives: the primary or the DR region (or a region named explicitly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    Primary,
    Dr,
}

/// Binds a resource to something that already exists instead of one drillbit models or builds.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    pub arn: Option<String>,
    pub endpoint: Option<String>,
    pub connection: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Replication {
    #[default]
    Async,
    Sync,
}

/// A resource of the topology, tagged by `kind`. Deserialized by hand (see the `Deserialize`
/// impl below) so that errors inside a resource keep their exact position.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Resource {
    /// An RDS DB instance (the primary database), optionally Multi-AZ, with automated backups.
    RdsInstance(RdsInstance),
    /// A cross-region (or in-region) read replica of an RDS instance.
    RdsReadReplica(RdsReadReplica),
    /// An Aurora Global Database: a primary cluster and a secondary cluster in the DR region.
    AuroraGlobal(AuroraGlobal),
    /// A DynamoDB global table replicated across regions.
    DynamodbGlobalTable(DynamodbGlobalTable),
    /// An S3 bucket, optionally replicated to the DR region (with or without RTC).
    S3Bucket(S3Bucket),
    /// An ECS service, in the primary and in the DR region.
    EcsService(EcsService),
    /// An EC2 Auto Scaling group, in the primary and in the DR region.
    AutoScalingGroup(AutoScalingGroup),
    /// A Route 53 record (failover or latency routing) with a health check.
    Route53Record(Route53Record),
    /// An AWS Backup plan with schedule, retention and a copy to a DR vault.
    BackupPlan(BackupPlan),
    /// An ElastiCache global datastore (session state).
    ElasticacheGlobal(ElasticacheGlobal),
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsInstance {
    pub id: String,
    /// DB instance identifier.
    pub instance: String,
    #[serde(default = "default_engine")]
    pub engine: String,
    #[serde(default)]
    pub class: Option<String>,
    /// Which side it runs on (default: primary).
    #[serde(default)]
    pub side: Option<Side>,
    #[serde(default)]
    pub multi_az: bool,
    /// Allocated storage; snapshot restores scale with it.
    #[serde(default)]
    pub storage_gib: Option<f64>,
    #[serde(default)]
    pub backups: Option<RdsBackups>,
    #[serde(default)]
    pub bind: Option<Binding>,
}

fn default_engine() -> String {
    "postgres".into()
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsBackups {
    /// --backup-retention-period
    pub retention: PosDur,
    /// --preferred-backup-window, e.g. "03:00-04:00".
    #[serde(default)]
    pub window: Option<String>,
    /// start-db-instance-automated-backups-replication to the DR region.
    #[serde(default)]
    pub replicate_to_dr: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsReadReplica {
    pub id: String,
    pub instance: String,
    /// The resource id of the source RDS instance.
    pub source: String,
    #[serde(default)]
    pub side: Option<Side>,
    #[serde(default)]
    pub replication: Replication,
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default)]
    pub bind: Option<Binding>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuroraGlobal {
    pub id: String,
    pub global_cluster: String,
    pub primary_cluster: String,
    pub secondary_cluster: String,
    #[serde(default = "default_aurora_engine")]
    pub engine: String,
    /// Number of reader instances in the primary cluster (in-region failover needs one).
    #[serde(default = "one")]
    pub primary_readers: u32,
    /// rds.global_db_rpo: commits block when every secondary lags more than this.
    #[serde(default)]
    pub rpo_cap: Option<PosDur>,
    #[serde(default)]
    pub storage_gib: Option<f64>,
    #[serde(default)]
    pub bind: Option<Binding>,
}

fn default_aurora_engine() -> String {
    "aurora-postgresql".into()
}
fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    /// Multi-Region eventual consistency (MREC): asynchronous, usually within a second.
    #[default]
    Eventual,
    /// Multi-Region strong consistency (MRSC): RPO zero.
    Strong,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DynamodbGlobalTable {
    pub id: String,
    pub table: String,
    /// Replica regions (must include the primary and DR regions).
    pub regions: Vec<String>,
    #[serde(default)]
    pub consistency: Consistency,
    #[serde(default)]
    pub bind: Option<Binding>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Bucket {
    pub id: String,
    pub bucket: String,
    #[serde(default)]
    pub versioning: bool,
    #[serde(default)]
    pub replication: Option<S3Replication>,
    #[serde(default)]
    pub bind: Option<Binding>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Replication {
    /// Destination bucket name (in the DR region).
    pub destination: String,
    /// S3 Replication Time Control (99.99% of objects within 15 minutes).
    #[serde(default)]
    pub rtc: bool,
    #[serde(default)]
    pub delete_markers: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcsSide {
    pub cluster: String,
    pub service: String,
    pub desired: u32,
    #[serde(default)]
    pub task_definition: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcsService {
    pub id: String,
    pub primary: EcsSide,
    pub dr: EcsSide,
    /// Running tasks needed before the service counts as able to serve (default 1).
    #[serde(default = "one")]
    pub min_healthy: u32,
    /// Container image size; Fargate task start scales with it (image pull dominates).
    #[serde(default)]
    pub image_gib: Option<f64>,
    #[serde(default)]
    pub bind: Option<Binding>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AsgSide {
    pub name: String,
    pub desired: u32,
    #[serde(default)]
    pub min: Option<u32>,
    #[serde(default)]
    pub max: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoScalingGroup {
    pub id: String,
    pub primary: AsgSide,
    pub dr: AsgSide,
    /// Instances needed in service before the group counts as able to serve (default 1).
    #[serde(default = "one")]
    pub min_healthy: u32,
    /// Instance warm-up before a new instance takes traffic (default 300s, the console default).
    #[serde(default)]
    pub warmup: Option<Dur>,
    #[serde(default)]
    pub bind: Option<Binding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Routing {
    #[default]
    Failover,
    Latency,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// 30s (standard) or 10s (fast).
    pub interval: PosDur,
    /// Consecutive failures before unhealthy (Route 53 default 3).
    #[serde(default = "three")]
    pub failure_threshold: u32,
    /// Health check path or CloudWatch alarm name, for documentation and live targets.
    #[serde(default)]
    pub path: Option<String>,
}

fn three() -> u32 {
    3
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route53Record {
    pub id: String,
    pub record: String,
    #[serde(default)]
    pub hosted_zone_id: Option<String>,
    #[serde(default)]
    pub routing: Routing,
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    pub ttl: PosDur,
    /// Route 53 fails over by itself when the health check turns unhealthy (default true when a
    /// health check is attached). When false, the runbook must change the record.
    #[serde(default)]
    pub automatic: Option<bool>,
    #[serde(default)]
    pub bind: Option<Binding>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupCopy {
    pub vault: String,
    #[serde(default)]
    pub region: Option<String>,
    pub retention: PosDur,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupPlan {
    pub id: String,
    pub plan: String,
    pub vault: String,
    /// Time between backups (e.g. 24h for the seed's daily cron(0 5 ? * * *)).
    pub every: PosDur,
    /// Original cron expression, kept for documentation and live targets.
    #[serde(default)]
    pub schedule: Option<String>,
    pub retention: PosDur,
    #[serde(default)]
    pub copy_to: Option<BackupCopy>,
    /// Resource ids protected by the plan.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Cold storage tier (e.g. S3 Glacier Deep Archive) after this age.
    #[serde(default)]
    pub cold_storage_after: Option<PosDur>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ElasticacheGlobal {
    pub id: String,
    /// The global datastore: its id (`ldgnf-myapp-sessions`) or the suffix it was created
    /// with (`myapp-sessions`; ElastiCache prefixes the creating region's code).
    pub global_datastore: String,
    #[serde(default = "default_cache_engine")]
    pub engine: String,
    /// The member replication group in the primary region (default `<suffix>-primary`).
    #[serde(default)]
    pub primary_group: Option<String>,
    /// The member replication group in the DR region (default `<suffix>-dr`).
    #[serde(default)]
    pub secondary_group: Option<String>,
    /// The cache node type of the members (default cache.r6g.large).
    #[serde(default)]
    pub node_type: Option<String>,
    /// Whether the service cannot serve without it (session state).
    #[serde(default = "yes")]
    pub required: bool,
}

impl ElasticacheGlobal {
    /// Whether a global datastore id is this one: given in full, or by the suffix it was
    /// created with (ElastiCache puts the creating region's five-letter code before it).
    pub fn is_datastore(&self, id: &str) -> bool {
        let g = self.global_datastore.as_str();
        id == g || (id.len() == g.len() + 6 && id.ends_with(g) && id.as_bytes()[5] == b'-')
    }

    pub fn primary_group(&self) -> String {
        self.primary_group
            .clone()
            .unwrap_or_else(|| format!("{}-primary", self.global_datastore))
    }

    pub fn secondary_group(&self) -> String {
        self.secondary_group
            .clone()
            .unwrap_or_else(|| format!("{}-dr", self.global_datastore))
    }
}

fn default_cache_engine() -> String {
    "redis".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Acknowledged writes per second the client attempts.
    #[serde(default = "default_rate")]
    pub writes_per_second: f64,
    /// Resource id the writes land in (default: the first database resource).
    #[serde(default)]
    pub writes_to: Option<String>,
    #[serde(default)]
    pub probe: Probe,
    /// Data generated in the database before the drill, in GiB (local target): what a backup
    /// copies and a restore loads, so restore time and throughput are measured at that size.
    /// Default: none beyond the drill's own tables.
    #[serde(default)]
    pub data_gib: Option<f64>,
}

fn default_rate() -> f64 {
    100.0
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            writes_per_second: default_rate(),
            writes_to: None,
            probe: Probe::default(),
            data_gib: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// Time between client probes (a write and a read through the service endpoint).
    #[serde(default = "default_probe_interval")]
    pub interval: PosDur,
    /// K: consecutive good probes that mark the service recovered.
    #[serde(default = "three")]
    pub healthy_after: u32,
    /// Consecutive failed probes that raise the drill's own alarm.
    #[serde(default = "three")]
    pub failure_threshold: u32,
}

fn default_probe_interval() -> PosDur {
    PosDur(Dur(1_000_000))
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            interval: default_probe_interval(),
            healthy_after: 3,
            failure_threshold: 3,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub id: String,
    pub kind: FaultType,
    /// When the fault is injected, from the start of the drill.
    pub at: Dur,
    /// How long it lasts before it is repaired (default: until the end of the drill).
    #[serde(default)]
    pub duration: Option<PosDur>,
    /// region-outage, az-outage: the region.
    #[serde(default)]
    pub region: Option<String>,
    /// az-outage: the availability zone, e.g. us-east-1a.
    #[serde(default)]
    pub az: Option<String>,
    /// The resource id the fault acts on (all kinds but region-outage and az-outage).
    #[serde(default)]
    pub resource: Option<String>,
    /// replication-lag-spike: the lag at the fault instant.
    #[serde(default)]
    pub lag: Option<Dist>,
    /// scale-out-blocked: delay scale-out by this instead of blocking it.
    #[serde(default)]
    pub delay: Option<Dist>,
    /// dr-drift: what is missing, for the report (e.g. "task definition myapp:42").
    #[serde(default)]
    pub detail: Option<String>,
    /// How the `local` target carries the fault out: a method on the PostgreSQL it stands up
    /// (default by kind: a region outage kills the primary's whole process tree, a database
    /// primary failure kills its postmaster), or, for a system drillbit did not build, a process
    /// to signal by pid file or a command to run (and one to undo it).
    #[serde(default)]
    pub local: Option<LocalFaultSpec>,
}

/// How the local target carries out a fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LocalFaultSpec {
    /// One of drillbit's own methods on the topology it built.
    Method(LocalFault),
    /// Signal the process whose pid is the first line of `pidfile` (PostgreSQL's
    /// postmaster.pid, a Patroni or HA manager pid file).
    Pidfile {
        pidfile: String,
        #[serde(default)]
        signal: Signal,
    },
    /// Run `command` with `sh -c` to inject, and `repair` (if any) to undo; each is stopped
    /// (its whole process group) after `timeout`, default [`COMMAND_TIMEOUT_DEFAULT_S`].
    Command {
        command: String,
        repair: Option<String>,
        timeout: Option<PosDur>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// SIGKILL
    #[default]
    Kill,
    /// SIGSTOP (SIGCONT on repair)
    Stop,
    /// SIGTERM
    Term,
}

/// How long a local fault's `command` or `repair` may run when the scenario gives no `timeout`.
pub const COMMAND_TIMEOUT_DEFAULT_S: u64 = 60;

/// The `local` target's ways of breaking a real PostgreSQL primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LocalFault {
    /// kill -9 of the postmaster only (backends may keep acknowledging for a moment).
    KillPostmaster,
    /// kill -9 of every process of the primary.
    KillAll,
    /// SIGSTOP of the primary's processes: a hung primary (SIGCONT on repair).
    Stop,
    /// The replication link drops every packet (a partition between regions).
    CutLink,
    /// The replication link adds latency (the fault's `lag`, default 200ms) each way.
    SlowLink,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FaultType {
    /// Every resource in the region is unreachable; its control plane fails too.
    RegionOutage,
    /// One availability zone fails; Multi-AZ resources fail over.
    AzOutage,
    /// The primary instance of a database resource fails.
    DbPrimaryFailure,
    /// Replication from primary to DR stops; lag grows until it resumes.
    ReplicationPause,
    /// Replication lag jumps to `lag` at the fault instant.
    ReplicationLagSpike,
    /// The health check keeps reporting healthy although the region has failed.
    HealthCheckPassing,
    /// A DR resource is missing or out of date: steps acting on it in DR fail.
    DrDrift,
    /// Scale-out in DR is blocked (capacity error) or, with `delay`, delayed.
    ScaleOutBlocked,
    /// Data in a database is corrupted; recovery goes back to the last clean point.
    DataCorruption,
}

/// The typed view of a fault once validation has checked its parameters.
#[derive(Debug, Clone)]
pub enum FaultKind {
    RegionOutage { region: String },
    AzOutage { region: String, az: String },
    DbPrimaryFailure { resource: String },
    ReplicationPause { resource: String },
    ReplicationLagSpike { resource: String, lag: Dist },
    HealthCheckPassing { resource: String },
    DrDrift { resource: String, detail: Option<String> },
    ScaleOutBlocked { resource: String, delay: Option<Dist> },
    DataCorruption { resource: String },
}

impl Fault {
    /// The typed view; None when a required parameter is missing (validation reports it).
    pub fn spec(&self) -> Option<FaultKind> {
        let res = || self.resource.clone();
        Some(match self.kind {
            FaultType::RegionOutage => FaultKind::RegionOutage {
                region: self.region.clone()?,
            },
            FaultType::AzOutage => FaultKind::AzOutage {
                region: self.region.clone()?,
                az: self.az.clone()?,
            },
            FaultType::DbPrimaryFailure => FaultKind::DbPrimaryFailure { resource: res()? },
            FaultType::ReplicationPause => FaultKind::ReplicationPause { resource: res()? },
            FaultType::ReplicationLagSpike => FaultKind::ReplicationLagSpike {
                resource: res()?,
                lag: self.lag.clone()?,
            },
            FaultType::HealthCheckPassing => FaultKind::HealthCheckPassing { resource: res()? },
            FaultType::DrDrift => FaultKind::DrDrift {
                resource: res()?,
                detail: self.detail.clone(),
            },
            FaultType::ScaleOutBlocked => FaultKind::ScaleOutBlocked {
                resource: res()?,
                delay: self.delay.clone(),
            },
            FaultType::DataCorruption => FaultKind::DataCorruption { resource: res()? },
        })
    }
}

impl FaultType {
    /// Parameters each kind requires and accepts, for validation and docs.
    pub fn params(self) -> (&'static [&'static str], &'static [&'static str]) {
        use FaultType::*;
        match self {
            RegionOutage => (&["region"], &["region"]),
            AzOutage => (&["region", "az"], &["region", "az"]),
            DbPrimaryFailure | ReplicationPause | HealthCheckPassing | DataCorruption => (&["resource"], &["resource"]),
            ReplicationLagSpike => (&["resource", "lag"], &["resource", "lag"]),
            DrDrift => (&["resource"], &["resource", "detail"]),
            ScaleOutBlocked => (&["resource"], &["resource", "delay"]),
        }
    }

    pub fn as_str(self) -> &'static str {
        use FaultType::*;
        match self {
            RegionOutage => "region-outage",
            AzOutage => "az-outage",
            DbPrimaryFailure => "db-primary-failure",
            ReplicationPause => "replication-pause",
            ReplicationLagSpike => "replication-lag-spike",
            HealthCheckPassing => "health-check-passing",
            DrDrift => "dr-drift",
            ScaleOutBlocked => "scale-out-blocked",
            DataCorruption => "data-corruption",
        }
    }

    /// Disruptive faults take the service down; the earliest one's effect is t_fault. The
    /// others are conditions that shape how the recovery goes.
    pub fn is_disruptive(self) -> bool {
        use FaultType::*;
        matches!(self, RegionOutage | AzOutage | DbPrimaryFailure | DataCorruption)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    #[serde(default)]
    pub trigger: Trigger,
    pub steps: Vec<Step>,
    #[serde(default)]
    pub rollback: Vec<Step>,
    /// With `--failback`: how long after recovery the primary side is restored and the
    /// rollback steps start (default 0).
    #[serde(default)]
    pub failback_after: Dur,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// How long the outage must have been detected before the runbook starts
    /// (the seed's "primary region unavailable for > 5 minutes").
    #[serde(default)]
    pub after_detection: Dur,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    /// Run when every dependency succeeded (or was skipped).
    #[default]
    OnSuccess,
    /// Run only when a dependency failed or timed out: a fallback.
    OnFailure,
    /// Run when every dependency has finished, whatever the outcome.
    Always,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: String,
    pub action: Action,
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub after: Vec<String>,
    #[serde(default)]
    pub when: When,
    /// Per attempt.
    #[serde(default)]
    pub timeout: Option<PosDur>,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub retry_delay: Option<Dur>,
    /// Simulator duration model for this step (overrides the default model).
    #[serde(default)]
    pub duration: Option<Dist>,
    /// ecs.update-service / autoscaling.update-group: desired count.
    #[serde(default)]
    pub desired: Option<u32>,
    /// autoscaling.update-group: --min-size.
    #[serde(default)]
    pub min: Option<u32>,
    /// aurora.failover-global-cluster: --allow-data-loss (default true for failover).
    #[serde(default)]
    pub allow_data_loss: Option<bool>,
    /// Free text shown in the runbook and the game-day prompt.
    #[serde(default)]
    pub description: Option<String>,
}

pub use crate::catalogue::actions::Action;

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DrillSettings {
    /// The longest a drill runs before it is declared unrecovered (default 48h).
    #[serde(default = "default_horizon")]
    pub horizon: PosDur,
    /// How long the system must stay as it is after it recovered, every step ended and every
    /// fault ran its duration, before the drill ends and data is read back (default 45s when a
    /// resource is bound to an existing system, long enough for an HA manager's lease to run
    /// out; else 5 probe intervals, at least 3s). A relapse inside the window is measured.
    #[serde(default)]
    pub settle: Option<Dur>,
    /// How long after its injection a disruptive fault must show an effect (a failed probe, a
    /// process gone, a host that stopped taking writes, an API call refused) before the drill is
    /// declared inconclusive (default 60s).
    #[serde(default)]
    pub effect_within: Option<PosDur>,
}

fn default_horizon() -> PosDur {
    PosDur(Dur(48 * 3600 * 1_000_000))
}

impl Default for DrillSettings {
    fn default() -> Self {
        DrillSettings {
            horizon: default_horizon(),
            settle: None,
            effect_within: None,
        }
    }
}

/// "a" or "an" before a resource kind, read as it is spoken (an RDS instance, a Route 53 record).
pub fn article(kind: &str) -> &'static str {
    if ["rds", "ecs", "s3", "aurora", "auto", "elasticache"]
        .iter()
        .any(|p| kind.starts_with(p))
    {
        "an"
    } else {
        "a"
    }
}

impl Resource {
    /// What the resource is bound to, when it is an existing one rather than one drillbit builds.
    pub fn bind(&self) -> Option<&Binding> {
        match self {
            Resource::RdsInstance(r) => r.bind.as_ref(),
            Resource::RdsReadReplica(r) => r.bind.as_ref(),
            Resource::AuroraGlobal(r) => r.bind.as_ref(),
            Resource::DynamodbGlobalTable(r) => r.bind.as_ref(),
            Resource::S3Bucket(r) => r.bind.as_ref(),
            Resource::EcsService(r) => r.bind.as_ref(),
            Resource::AutoScalingGroup(r) => r.bind.as_ref(),
            Resource::Route53Record(r) => r.bind.as_ref(),
            Resource::BackupPlan(_) => None,
            Resource::ElasticacheGlobal(_) => None,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Resource::RdsInstance(r) => &r.id,
            Resource::RdsReadReplica(r) => &r.id,
            Resource::AuroraGlobal(r) => &r.id,
            Resource::DynamodbGlobalTable(r) => &r.id,
            Resource::S3Bucket(r) => &r.id,
            Resource::EcsService(r) => &r.id,
            Resource::AutoScalingGroup(r) => &r.id,
            Resource::Route53Record(r) => &r.id,
            Resource::BackupPlan(r) => &r.id,
            Resource::ElasticacheGlobal(r) => &r.id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Resource::RdsInstance(_) => "rds-instance",
            Resource::RdsReadReplica(_) => "rds-read-replica",
            Resource::AuroraGlobal(_) => "aurora-global",
            Resource::DynamodbGlobalTable(_) => "dynamodb-global-table",
            Resource::S3Bucket(_) => "s3-bucket",
            Resource::EcsService(_) => "ecs-service",
            Resource::AutoScalingGroup(_) => "auto-scaling-group",
            Resource::Route53Record(_) => "route53-record",
            Resource::BackupPlan(_) => "backup-plan",
            Resource::ElasticacheGlobal(_) => "elasticache-global",
        }
    }

    /// Database-like resources hold the workload's writes.
    pub fn is_data_store(&self) -> bool {
        matches!(
            self,
            Resource::RdsInstance(_) | Resource::AuroraGlobal(_) | Resource::DynamodbGlobalTable(_)
        )
    }
}

impl S3Replication {
    /// The destination bucket's name (`destination` may be its ARN).
    pub fn replica_bucket(&self) -> &str {
        self.destination.trim_start_matches("arn:aws:s3:::")
    }
}

impl Scenario {
    /// Failover steps, then rollback (failback) steps: the order of `Plan::steps`.
    pub fn all_steps(&self) -> impl Iterator<Item = &Step> {
        self.runbook.steps.iter().chain(&self.runbook.rollback)
    }

    /// The region of a `side`; without one, the DR region when `default_dr` (a read replica's
    /// default), else the primary region.
    pub fn side_region(&self, side: Option<Side>, default_dr: bool) -> &str {
        match side {
            Some(Side::Primary) => &self.topology.primary_region,
            Some(Side::Dr) => &self.topology.dr_region,
            None if default_dr => &self.topology.dr_region,
            None => &self.topology.primary_region,
        }
    }

    pub fn resource(&self, id: &str) -> Option<&Resource> {
        self.topology.resources.iter().find(|r| r.id() == id)
    }
}

#[cfg(test)]
mod tests {
    use super::ElasticacheGlobal;

    fn cache(id: &str) -> ElasticacheGlobal {
        ElasticacheGlobal {
            id: "sessions".into(),
            global_datastore: id.into(),
            engine: "redis".into(),
            primary_group: None,
            secondary_group: None,
            node_type: None,
            required: true,
        }
    }

    #[test]
    fn a_global_datastore_is_known_by_its_id_or_its_suffix() {
        let by_suffix = cache("myapp-sessions");
        assert!(by_suffix.is_datastore("myapp-sessions"));
        assert!(by_suffix.is_datastore("ldgnf-myapp-sessions"));
        assert!(by_suffix.is_datastore("sgaui-myapp-sessions"));
        assert!(!by_suffix.is_datastore("ldgnf-other-sessions"));
        assert!(!by_suffix.is_datastore("xmyapp-sessions"));
        assert!(!by_suffix.is_datastore("ldgnfxmyapp-sessions"));
        let by_id = cache("ldgnf-myapp-sessions");
        assert!(by_id.is_datastore("ldgnf-myapp-sessions"));
        assert!(!by_id.is_datastore("sgaui-myapp-sessions"));
        assert_eq!(by_suffix.primary_group(), "myapp-sessions-primary");
        assert_eq!(by_suffix.secondary_group(), "myapp-sessions-dr");
    }
}
