//! `drillbit plan`: the AWS calls each runbook step would make, and the region each goes to,
//! without making any.

use crate::scenario::{Action, Resource, Scenario, Step};

/// The AWS API calls an action makes, for `drillbit plan` (nothing is called).
pub fn planned_calls(s: &Scenario, step: &Step) -> Vec<String> {
    let (p, d) = (&s.topology.primary_region, &s.topology.dr_region);
    let res = step.resource.as_deref().and_then(|r| s.resource(r));
    let v: Vec<String> = match (step.action, res) {
        (Action::RdsPromoteReadReplica, Some(Resource::RdsReadReplica(rr))) => vec![
            format!("rds:PromoteReadReplica {} ({d})", rr.instance),
            format!("rds:DescribeDBInstances {} until available ({d})", rr.instance),
        ],
        (Action::RdsPromoteReadReplica, Some(Resource::RdsInstance(db))) => vec![
            format!("rds:PromoteReadReplica <failback replica of {}> ({p})", db.instance),
            "rds:DescribeDBInstances until available".into(),
        ],
        (Action::RdsCreateReadReplica, Some(Resource::RdsInstance(db))) => vec![
            format!(
                "rds:CreateDBInstanceReadReplica {}-fbN from the DR writer ({p})",
                db.instance
            ),
            "rds:DescribeDBInstances until available".into(),
        ],
        (Action::RdsRebootForceFailover, Some(Resource::RdsInstance(db))) => vec![
            format!(
                "rds:RebootDBInstance {} ForceFailover={} ({p})",
                db.instance, db.multi_az
            ),
            "rds:DescribeDBInstances until available".into(),
        ],
        (Action::RdsCreateSnapshot, Some(Resource::RdsInstance(db))) => vec![
            format!("rds:CreateDBSnapshot {}-drill-<time> ({p})", db.instance),
            "rds:DescribeDBSnapshots until available".into(),
        ],
        (Action::RdsRestoreFromSnapshot, Some(Resource::RdsInstance(db))) => vec![
            format!("rds:DescribeDBSnapshots ({d})"),
            format!("rds:RestoreDBInstanceFromDBSnapshot {}-dr ({d})", db.instance),
            "rds:DescribeDBInstances until available".into(),
        ],
        (Action::RdsRestorePointInTime, Some(Resource::RdsInstance(db))) => vec![
            format!(
                "rds:RestoreDBInstanceToPointInTime {} -> {}-restored ({p})",
                db.instance, db.instance
            ),
            "rds:DescribeDBInstances until available".into(),
        ],
        (Action::RdsStartBackupReplication, Some(Resource::RdsInstance(db))) => vec![format!(
            "rds:StartDBInstanceAutomatedBackupsReplication {} ({d})",
            db.instance
        )],
        (Action::AuroraFailoverDbCluster, Some(Resource::AuroraGlobal(a))) => vec![
            format!("rds:FailoverDBCluster {} ({p})", a.primary_cluster),
            "rds:DescribeDBClusters until available".into(),
        ],
        (Action::AuroraFailoverGlobalCluster, Some(Resource::AuroraGlobal(a))) => vec![
            format!(
                "rds:FailoverGlobalCluster {} -> {}",
                a.global_cluster, a.secondary_cluster
            ),
            "rds:DescribeDBClusters until available".into(),
        ],
        (Action::AuroraSwitchoverGlobalCluster, Some(Resource::AuroraGlobal(a))) => vec![
            format!(
                "rds:SwitchoverGlobalCluster {} -> {}",
                a.global_cluster, a.primary_cluster
            ),
            "rds:DescribeDBClusters until available".into(),
        ],
        (Action::DynamodbCheckGlobalTable, Some(Resource::DynamodbGlobalTable(t))) => {
            vec![format!(
                "dynamodb:DescribeTable {} ({d}): ACTIVE, replicas in {}",
                t.table,
                t.regions.join(", ")
            )]
        }
        (Action::S3CheckReplication, Some(Resource::S3Bucket(b))) => {
            vec![format!("s3:GetBucketReplication {} ({p})", b.bucket)]
        }
        (Action::EcsUpdateService, Some(Resource::EcsService(e))) => vec![
            format!(
                "ecs:UpdateService {}/{} desiredCount={} ({d})",
                e.dr.cluster,
                e.dr.service,
                step.desired.unwrap_or(e.primary.desired)
            ),
            "ecs:DescribeServices until runningCount reaches it".into(),
        ],
        (Action::AutoscalingUpdateGroup, Some(Resource::AutoScalingGroup(g))) => vec![
            format!(
                "autoscaling:UpdateAutoScalingGroup {} DesiredCapacity={}{} ({d})",
                g.dr.name,
                step.desired.unwrap_or(g.primary.desired),
                step.min.map(|m| format!(" MinSize={m}")).unwrap_or_default()
            ),
            "autoscaling:DescribeAutoScalingGroups until enough InService".into(),
        ],
        (Action::Route53FailoverToSecondary | Action::Route53FailoverToPrimary, Some(Resource::Route53Record(r))) => {
            let to = if step.action == Action::Route53FailoverToSecondary {
                d
            } else {
                p
            };
            vec![
                format!(
                    "route53:ChangeResourceRecordSets UPSERT {} -> the {to} endpoint",
                    r.record
                ),
                "route53:GetChange until INSYNC".into(),
            ]
        }
        (Action::BackupRestore, Some(Resource::BackupPlan(b))) => vec![
            format!(
                "backup:ListRecoveryPointsByBackupVault {} ({d})",
                b.copy_to.as_ref().map_or(b.vault.as_str(), |c| c.vault.as_str())
            ),
            "backup:StartRestoreJob <newest recovery point>".into(),
            "backup:DescribeRestoreJob until COMPLETED".into(),
        ],
        (Action::Manual, _) => vec!["(operator confirmation)".into()],
        (Action::Wait, _) => vec!["(wait)".into()],
        (Action::ProbeUntilHealthy, _) => vec!["(client probes until healthy)".into()],
        (a, _) => vec![format!("({} is not driven through the AWS API)", a.as_str())],
    };
    v
}
