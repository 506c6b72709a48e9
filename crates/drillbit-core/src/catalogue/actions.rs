//! The runbook actions, one row each: the name a scenario writes, the resource kinds it acts
//! on, the step parameters it takes, the default models its duration is drawn from, the AWS
//! calls it makes with the region each goes to, the AWS CLI command the runbook prints, and
//! what the pinned emulator does not serve of it.
//!
//! Validation (`scenario::validate`), `drillbit plan` (`targets::live::planned`), the Markdown
//! runbook (`report::runbook`) and the emulator's capability table (`targets::live`) are
//! derived from these rows; each target carries the action out in one exhaustive `match` (the
//! compiler names every target a new action is missing from). ARCHITECTURE.md walks through
//! adding one.
//!
//! Text in `calls` and `cli` is a template: `{name}` is filled from the scenario, the step and
//! the step's resource by [`crate::report::runbook::fill`]; [`PLACEHOLDERS`] lists every name.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The scenario's primary region.
    Primary,
    /// The scenario's DR region.
    Dr,
    /// The region of the step's resource: its `side`, else the primary region (a read replica's,
    /// the DR region).
    Own,
    /// A global service (Route 53): no region.
    Global,
    /// The region the step moves the service to: the DR region in the runbook, the primary
    /// region in the rollback (failing back).
    Toward,
}

/// One AWS call: where it goes and what it does (a template).
#[derive(Debug, Clone, Copy)]
pub struct Call(pub At, pub &'static str);

/// The step parameters an action may take besides `resource` and `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `desired`: the count to scale to.
    Desired,
    /// `min`: the group's new minimum.
    Min,
    /// `allow_data_loss`: a global failover that need not wait for replication.
    AllowDataLoss,
}

impl Param {
    pub fn key(self) -> &'static str {
        match self {
            Param::Desired => "desired",
            Param::Min => "min",
            Param::AllowDataLoss => "allow_data_loss",
        }
    }
}

/// What an action does on some resource kinds.
#[derive(Debug, Clone, Copy)]
pub struct Form {
    /// The resource kinds of this form (empty: the action takes no resource).
    pub kinds: &'static [&'static str],
    /// The AWS calls, in order, for `drillbit plan` (empty: none; see [`ActionDef::plan`]).
    pub calls: &'static [Call],
    /// The AWS CLI command the runbook prints (None: the runbook prints none).
    pub cli: Option<&'static str>,
}

impl Form {
    const NONE: Form = Form {
        kinds: &[],
        calls: &[],
        cli: None,
    };
}

/// One row of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct ActionDef {
    pub action: Action,
    /// The name a scenario writes (after the AWS CLI command it stands for).
    pub name: &'static str,
    /// One form per group of resource kinds; the kinds of all forms are what validation accepts.
    pub forms: &'static [Form],
    pub params: &'static [Param],
    /// Whether a step needs `duration` (a wait).
    pub needs_duration: bool,
    /// The default models (`catalogue::models`) the simulated duration is drawn from.
    pub models: &'static [&'static str],
    /// Restores data from a backup: what proves a backup can be restored.
    pub restores: bool,
    /// What `drillbit plan` says when the action makes no AWS call.
    pub plan: Option<&'static str>,
    /// Why the pinned moto does not serve it (None: it does).
    pub moto: Option<&'static str>,
}

impl ActionDef {
    const EMPTY: ActionDef = ActionDef {
        action: Action::Manual,
        name: "",
        forms: &[Form::NONE],
        params: &[],
        needs_duration: false,
        models: &[],
        restores: false,
        plan: None,
        moto: None,
    };

    /// The form for a resource kind (None when the action does not act on that kind).
    pub fn form(&self, kind: Option<&str>) -> Option<&'static Form> {
        self.forms.iter().find(|f| match kind {
            Some(k) => f.kinds.contains(&k),
            None => f.kinds.is_empty(),
        })
    }

    /// Every resource kind the action accepts, in the order its forms give (None: it takes no
    /// resource).
    pub fn kinds(&self) -> Option<Vec<&'static str>> {
        let v: Vec<&'static str> = self.forms.iter().flat_map(|f| f.kinds.iter().copied()).collect();
        (!v.is_empty()).then_some(v)
    }
}

/// Declares the enum and the table from one list, in one order.
macro_rules! catalogue {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal { $($field:ident : $value:expr),* $(,)? } )*) => {
        /// Runbook actions. Names follow the AWS CLI command they stand for.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
        pub enum Action {
            $( $(#[$doc])* #[serde(rename = $name)] $variant, )*
        }

        /// Every action, in the order of [`Action`].
        pub const ACTIONS: &[ActionDef] = &[
            $( ActionDef { action: Action::$variant, name: $name, $($field: $value,)* ..ActionDef::EMPTY }, )*
        ];
    };
}

const RDS: &[&str] = &["rds-instance"];
const AVAILABLE: &str = "rds:DescribeDBInstances {instance} until available";
const CLUSTER_AVAILABLE: &str = "rds:DescribeDBClusters until available";

catalogue! {
    /// A human step (decision, notification, approval). Sim: a duration; game day: a prompt.
    Manual = "manual" {
        models: &["human-decision"],
        plan: Some("(operator confirmation)"),
    }
    /// Wait a fixed time (the step's duration).
    Wait = "wait" {
        forms: &[Form { cli: Some("sleep {seconds}"), ..Form::NONE }],
        needs_duration: true,
        plan: Some("(wait)"),
    }
    /// Done when the client probes see K consecutive successes.
    ProbeUntilHealthy = "probe-until-healthy" {
        forms: &[Form {
            cli: Some("curl -fsS https://{service_host}/health   # until {healthy_after} consecutive successes"),
            ..Form::NONE
        }],
        plan: Some("(client probes until healthy)"),
    }
    RdsPromoteReadReplica = "rds.promote-read-replica" {
        forms: &[
            Form {
                kinds: &["rds-read-replica"],
                calls: &[Call(At::Own, "rds:PromoteReadReplica {instance}"), Call(At::Own, AVAILABLE)],
                cli: Some("aws rds promote-read-replica --db-instance-identifier {instance} --region {region}"),
            },
            // Failback: the primary-side replica that rds.create-read-replica made.
            Form {
                kinds: RDS,
                calls: &[
                    Call(At::Own, "rds:PromoteReadReplica <failback replica of {instance}>"),
                    Call(At::Own, "rds:DescribeDBInstances until available"),
                ],
                cli: Some("aws rds promote-read-replica --db-instance-identifier {instance} --region {primary}"),
            },
        ],
        models: &["rds.promote-read-replica"],
    }
    RdsRebootForceFailover = "rds.reboot-force-failover" {
        forms: &[Form {
            kinds: RDS,
            calls: &[Call(At::Own, "rds:RebootDBInstance {instance} ForceFailover={multi_az}"), Call(At::Own, AVAILABLE)],
            cli: Some("aws rds reboot-db-instance --db-instance-identifier {instance} --force-failover"),
        }],
        models: &["rds.multi-az-failover"],
    }
    /// Create a read replica of the database's current writer in the other region (failback:
    /// re-protect, then promote it back).
    RdsCreateReadReplica = "rds.create-read-replica" {
        forms: &[
            Form { kinds: &["rds-read-replica"], ..Form::NONE },
            Form {
                kinds: RDS,
                calls: &[
                    Call(At::Primary, "rds:CreateDBInstanceReadReplica {instance}-fbN from the DR writer"),
                    Call(At::Primary, "rds:DescribeDBInstances until available"),
                ],
                cli: Some(
                    "aws rds create-db-instance-read-replica --db-instance-identifier {instance} \\\n    \
                     --source-db-instance-identifier arn:aws:rds:{dr}:ACCOUNT:db:{replica} --region {primary}",
                ),
            },
        ],
        models: &["rds.create-read-replica"],
    }
    RdsRestoreFromSnapshot = "rds.restore-from-snapshot" {
        forms: &[
            Form {
                kinds: RDS,
                calls: &[
                    Call(At::Dr, "rds:DescribeDBSnapshots"),
                    Call(At::Dr, "rds:RestoreDBInstanceFromDBSnapshot {instance}-dr"),
                    Call(At::Dr, "rds:DescribeDBInstances {instance}-dr until available"),
                ],
                cli: Some(
                    "aws rds restore-db-instance-from-db-snapshot --db-instance-identifier {instance}-dr \\\n    \
                     --db-snapshot-arn <newest snapshot of {instance} in {dr}>{class_flag} --region {dr}",
                ),
            },
            Form { kinds: &["aurora-global"], ..Form::NONE },
        ],
        models: &["rds.snapshot-restore"],
        restores: true,
    }
    RdsRestorePointInTime = "rds.restore-point-in-time" {
        forms: &[
            Form {
                kinds: RDS,
                calls: &[
                    Call(At::Own, "rds:RestoreDBInstanceToPointInTime {instance} -> {instance}-restored"),
                    Call(At::Own, "rds:DescribeDBInstances {instance}-restored until available"),
                ],
                cli: Some(
                    "aws rds restore-db-instance-to-point-in-time --source-db-instance-identifier {instance} \\\n    \
                     --target-db-instance-identifier {instance}-restored --restore-time <the last clean point>",
                ),
            },
            Form { kinds: &["aurora-global"], ..Form::NONE },
        ],
        models: &["rds.restore-point-in-time", "rds.pitr-recovery-point"],
        restores: true,
    }
    RdsCreateSnapshot = "rds.create-snapshot" {
        forms: &[Form {
            kinds: RDS,
            calls: &[
                Call(At::Own, "rds:CreateDBSnapshot {instance}-drill-<time>"),
                Call(At::Own, "rds:DescribeDBSnapshots until available"),
            ],
            cli: Some(
                "aws rds create-db-snapshot --db-instance-identifier {instance} --db-snapshot-identifier {instance}-drill-$(date +%Y%m%d)",
            ),
        }],
        models: &["rds.create-snapshot"],
    }
    RdsStartBackupReplication = "rds.start-backup-replication" {
        forms: &[Form {
            kinds: RDS,
            calls: &[Call(At::Dr, "rds:StartDBInstanceAutomatedBackupsReplication {instance}")],
            cli: Some(
                "aws rds start-db-instance-automated-backups-replication \\\n    \
                 --source-db-instance-arn arn:aws:rds:{primary}:ACCOUNT:db:{instance} --region {dr}",
            ),
        }],
        models: &["api-call"],
    }
    AuroraFailoverDbCluster = "aurora.failover-db-cluster" {
        forms: &[Form {
            kinds: &["aurora-global"],
            calls: &[
                Call(At::Primary, "rds:FailoverDBCluster {primary_cluster}"),
                Call(At::Primary, CLUSTER_AVAILABLE),
            ],
            cli: Some("aws rds failover-db-cluster --db-cluster-identifier {primary_cluster}"),
        }],
        models: &["aurora.in-region-failover"],
    }
    AuroraFailoverGlobalCluster = "aurora.failover-global-cluster" {
        forms: &[Form {
            kinds: &["aurora-global"],
            calls: &[
                // In the secondary region: a failover must not need the failed region's API.
                Call(At::Dr, "rds:FailoverGlobalCluster {global_cluster} -> {secondary_cluster}"),
                Call(At::Dr, CLUSTER_AVAILABLE),
            ],
            cli: Some(
                "aws rds failover-global-cluster --global-cluster-identifier {global_cluster} \
                 --target-db-cluster-identifier {secondary_cluster}{allow_data_loss_flag} --region {dr}",
            ),
        }],
        params: &[Param::AllowDataLoss],
        models: &["aurora.failover-global-cluster"],
        moto: Some("moto answers FailoverGlobalCluster with NotImplemented"),
    }
    AuroraSwitchoverGlobalCluster = "aurora.switchover-global-cluster" {
        forms: &[Form {
            kinds: &["aurora-global"],
            calls: &[
                Call(At::Primary, "rds:SwitchoverGlobalCluster {global_cluster} -> {primary_cluster}"),
                Call(At::Primary, CLUSTER_AVAILABLE),
            ],
            cli: Some(
                "aws rds switchover-global-cluster --global-cluster-identifier {global_cluster} \
                 --target-db-cluster-identifier {primary_cluster}",
            ),
        }],
        models: &["aurora.switchover-global-cluster"],
        moto: Some("moto answers SwitchoverGlobalCluster with NotImplemented"),
    }
    DynamodbCheckGlobalTable = "dynamodb.check-global-table" {
        forms: &[Form {
            kinds: &["dynamodb-global-table"],
            calls: &[Call(At::Dr, "dynamodb:DescribeTable {table}: ACTIVE, replicas in {table_regions}")],
            cli: Some("aws dynamodb describe-table --table-name {table} --region {dr} --query 'Table.Replicas'"),
        }],
        models: &["api-call"],
        moto: Some("moto creates no replica for ReplicaUpdates and answers DescribeGlobalTable with NotImplemented"),
    }
    S3CheckReplication = "s3.check-replication" {
        forms: &[Form {
            kinds: &["s3-bucket"],
            // On the destination, in the DR region: the source's region may be the one down.
            calls: &[Call(At::Dr, "s3:HeadBucket {replica_bucket}")],
            cli: Some("aws s3api head-bucket --bucket {replica_bucket} --region {dr}"),
        }],
        models: &["api-call"],
    }
    EcsUpdateService = "ecs.update-service" {
        forms: &[Form {
            kinds: &["ecs-service"],
            calls: &[
                Call(At::Dr, "ecs:UpdateService {dr_cluster}/{dr_service} desiredCount={desired}"),
                Call(At::Dr, "ecs:DescribeServices until runningCount reaches it"),
            ],
            cli: Some(
                "aws ecs update-service --cluster {dr_cluster} --service {dr_service} --desired-count {desired} --region {dr}",
            ),
        }],
        params: &[Param::Desired],
        models: &["api-call", "ecs.task-start", "elb.target-health", "scale-out.delay"],
    }
    AutoscalingUpdateGroup = "autoscaling.update-group" {
        forms: &[Form {
            kinds: &["auto-scaling-group"],
            calls: &[
                Call(At::Dr, "autoscaling:UpdateAutoScalingGroup {dr_group} DesiredCapacity={desired}{min_size_param}"),
                Call(At::Dr, "autoscaling:DescribeAutoScalingGroups until enough InService"),
            ],
            cli: Some(
                "aws autoscaling update-auto-scaling-group --auto-scaling-group-name {dr_group} \
                 --desired-capacity {desired}{min_size_flag} --region {dr}",
            ),
        }],
        params: &[Param::Desired, Param::Min],
        models: &["api-call", "ec2.launch", "ec2.bootstrap", "scale-out.delay"],
    }
    Route53FailoverToSecondary = "route53.failover-to-secondary" {
        forms: &[Form {
            kinds: &["route53-record"],
            calls: &[
                Call(At::Global, "route53:ChangeResourceRecordSets UPSERT {record} -> the {dr} endpoint"),
                Call(At::Global, "route53:GetChange until INSYNC"),
            ],
            cli: Some(
                "aws route53 change-resource-record-sets --hosted-zone-id {zone} \\\n    \
                 --change-batch file://{record}-to-{dr}.json   # UPSERT {record} to the {dr} endpoint",
            ),
        }],
        models: &["api-call", "route53.propagation"],
    }
    Route53FailoverToPrimary = "route53.failover-to-primary" {
        forms: &[Form {
            kinds: &["route53-record"],
            calls: &[
                Call(At::Global, "route53:ChangeResourceRecordSets UPSERT {record} -> the {primary} endpoint"),
                Call(At::Global, "route53:GetChange until INSYNC"),
            ],
            cli: Some(
                "aws route53 change-resource-record-sets --hosted-zone-id {zone} \\\n    \
                 --change-batch file://{record}-to-{primary}.json   # UPSERT {record} to the {primary} endpoint",
            ),
        }],
        models: &["api-call", "route53.propagation"],
    }
    BackupRestore = "backup.restore" {
        forms: &[Form {
            kinds: &["backup-plan"],
            calls: &[
                Call(At::Dr, "backup:ListRecoveryPointsByBackupVault {dr_vault}"),
                Call(At::Dr, "backup:GetRecoveryPointRestoreMetadata <newest recovery point>"),
                Call(At::Dr, "backup:StartRestoreJob <newest recovery point> DBInstanceIdentifier=<instance>-dr"),
                Call(At::Dr, "backup:DescribeRestoreJob until COMPLETED"),
            ],
            cli: Some(
                "aws backup start-restore-job --recovery-point-arn <newest recovery point in {dr_vault}> \\\n    \
                 --iam-role-arn <restore role> --metadata file://restore-{id}.json --region {dr}",
            ),
        }],
        models: &["backup.restore-job-overhead", "rds.snapshot-restore"],
        restores: true,
        moto: Some("moto has no recovery points: StartBackupJob and CreateBackupSelection fail"),
    }
    ElasticacheFailoverGlobalDatastore = "elasticache.failover-global-datastore" {
        forms: &[Form {
            kinds: &["elasticache-global"],
            calls: &[
                Call(At::Toward, "elasticache:DescribeGlobalReplicationGroups {global_datastore} ShowMemberInfo"),
                Call(At::Toward, "elasticache:FailoverGlobalReplicationGroup {global_datastore} PrimaryRegion={toward}"),
                Call(At::Toward, "elasticache:DescribeGlobalReplicationGroups until available, the {toward} member PRIMARY"),
            ],
            cli: Some(
                "aws elasticache failover-global-replication-group --global-replication-group-id {global_datastore} \
                 --primary-region {toward} \\\n    --primary-replication-group-id <the {toward} member>",
            ),
        }],
        models: &["elasticache.failover-global-datastore"],
        moto: Some("moto does not serve ElastiCache global datastores"),
    }
    /// Deploy the DR infrastructure from IaC templates (backup and restore).
    IacDeploy = "iac.deploy" {
        forms: &[Form {
            kinds: &[
                "ecs-service",
                "auto-scaling-group",
                "rds-instance",
                "rds-read-replica",
                "aurora-global",
                "dynamodb-global-table",
                "s3-bucket",
                "route53-record",
                "elasticache-global",
            ],
            calls: &[
                Call(At::Dr, "cloudformation:CreateStack <scenario>-{id}-dr (on an emulator: the DR side drillbit renders)"),
                Call(At::Dr, "cloudformation:DescribeStacks until CREATE_COMPLETE"),
            ],
            cli: Some(
                "# deploy the DR stack for `{id}` from the IaC templates in {dr} (cloudformation deploy / terraform apply)",
            ),
        }],
        models: &["iac.deploy"],
    }
}

/// Every `{name}` the templates may use.
pub const PLACEHOLDERS: &[&str] = &[
    "primary",
    "dr",
    "toward",
    "region",
    "id",
    "instance",
    "replica",
    "class_flag",
    "multi_az",
    "global_cluster",
    "primary_cluster",
    "secondary_cluster",
    "allow_data_loss_flag",
    "table",
    "table_regions",
    "bucket",
    "replica_bucket",
    "dr_cluster",
    "dr_service",
    "dr_group",
    "desired",
    "min_size_flag",
    "min_size_param",
    "zone",
    "record",
    "dr_vault",
    "global_datastore",
    "seconds",
    "service_host",
    "healthy_after",
];

impl Action {
    /// This action's row.
    pub fn def(self) -> &'static ActionDef {
        &ACTIONS[self as usize]
    }

    pub fn as_str(self) -> &'static str {
        self.def().name
    }

    /// Whether it restores data from a backup.
    pub fn restores(self) -> bool {
        self.def().restores
    }

    /// The action a scenario names `name`.
    pub fn named(name: &str) -> Option<Action> {
        ACTIONS.iter().find(|d| d.name == name).map(|d| d.action)
    }
}

/// The `{name}`s in a template, in order.
pub fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|p| p.split_once('}').map(|(n, _)| n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_in_the_order_of_the_enum() {
        for (n, d) in ACTIONS.iter().enumerate() {
            assert_eq!(d.action as usize, n, "{}", d.name);
            let json = serde_json::to_string(&d.action).unwrap();
            assert_eq!(json, format!("\"{}\"", d.name));
            assert_eq!(Action::named(d.name), Some(d.action));
        }
    }

    #[test]
    fn every_row_is_complete_and_names_what_exists() {
        for d in ACTIONS {
            assert!(!d.forms.is_empty(), "{}", d.name);
            for m in d.models {
                assert!(crate::catalogue::models::is_known(m), "{}: unknown model {m}", d.name);
            }
            let mut kinds: Vec<&str> = d.kinds().unwrap_or_default();
            let n = kinds.len();
            kinds.sort();
            kinds.dedup();
            assert_eq!(kinds.len(), n, "{}: a kind in two forms", d.name);
            for f in d.forms {
                let texts = f.calls.iter().map(|c| c.1).chain(f.cli);
                for t in texts {
                    for p in placeholders(t) {
                        assert!(
                            PLACEHOLDERS.contains(&p),
                            "{}: unknown placeholder {{{p}}} in {t:?}",
                            d.name
                        );
                    }
                }
                // An action that makes AWS calls says which; one that makes none says so.
                if f.calls.is_empty() && !f.kinds.is_empty() {
                    assert!(d.plan.is_none(), "{}", d.name);
                }
            }
        }
    }
}
