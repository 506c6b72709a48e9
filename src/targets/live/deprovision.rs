//! Removes from an emulator what drillbit created in it: the provisioned topology and what
//! the runbook's actions made (a failback replica, a restored instance, a snapshot), newest
//! first. An emulator drillbit started itself goes away with its process; this is for an
//! endpoint that outlives the drill (a LocalStack or moto shared by a CI job), so the next
//! drill there starts from nothing. Never used on a live account: there the runbook's
//! creations are the recovered system.

use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, RrType};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use super::actions::Env;
use super::{api_error, ApiError};

/// One thing drillbit created in an emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    DbInstance {
        region: String,
        id: String,
    },
    DbSnapshot {
        region: String,
        id: String,
    },
    DbCluster {
        region: String,
        id: String,
        global: Option<String>,
    },
    GlobalCluster {
        region: String,
        id: String,
    },
    Table {
        region: String,
        name: String,
    },
    Bucket {
        region: String,
        name: String,
    },
    EcsCluster {
        region: String,
        name: String,
    },
    /// One revision drillbit registered (never the family's other revisions).
    TaskFamily {
        region: String,
        family: String,
        arn: String,
    },
    EcsService {
        region: String,
        cluster: String,
        name: String,
    },
    LaunchConfiguration {
        region: String,
        name: String,
    },
    AutoScalingGroup {
        region: String,
        name: String,
    },
    HostedZone {
        id: String,
    },
    HealthCheck {
        id: String,
    },
    BackupVault {
        region: String,
        name: String,
    },
    BackupPlan {
        region: String,
        id: String,
    },
    FisTemplate {
        region: String,
        id: String,
    },
    /// An AWS Backup recovery point (a backup job's, or a copy job's in the DR vault).
    RecoveryPoint {
        region: String,
        vault: String,
        arn: String,
    },
    /// An ElastiCache replication group.
    ReplicationGroup {
        region: String,
        id: String,
    },
    /// An ElastiCache global datastore: deleted before any replication group, its secondaries
    /// disassociated first and its primary kept (each member goes as its own entry).
    GlobalReplicationGroup {
        region: String,
        id: String,
    },
    /// A CloudFormation stack (`iac.deploy`).
    Stack {
        region: String,
        name: String,
    },
}

impl Created {
    /// What it is, for a line saying it was left behind.
    pub fn describe(&self) -> String {
        match self {
            Created::DbInstance { region, id } => format!("RDS instance {id} ({region})"),
            Created::DbSnapshot { region, id } => format!("RDS snapshot {id} ({region})"),
            Created::DbCluster { region, id, .. } => format!("RDS cluster {id} ({region})"),
            Created::GlobalCluster { id, .. } => format!("global cluster {id}"),
            Created::Table { region, name } => format!("DynamoDB table {name} ({region})"),
            Created::Bucket { region, name } => format!("S3 bucket {name} ({region})"),
            Created::EcsCluster { region, name } => format!("ECS cluster {name} ({region})"),
            Created::TaskFamily { region, family, arn } => {
                format!(
                    "ECS task definition {family} ({}) ({region})",
                    arn.rsplit('/').next().unwrap_or(arn)
                )
            }
            Created::EcsService { region, cluster, name } => format!("ECS service {cluster}/{name} ({region})"),
            Created::LaunchConfiguration { region, name } => format!("launch configuration {name} ({region})"),
            Created::AutoScalingGroup { region, name } => format!("Auto Scaling group {name} ({region})"),
            Created::HostedZone { id } => format!("hosted zone {id}"),
            Created::HealthCheck { id } => format!("health check {id}"),
            Created::BackupVault { region, name } => format!("backup vault {name} ({region})"),
            Created::BackupPlan { region, id } => format!("backup plan {id} ({region})"),
            Created::FisTemplate { region, id } => format!("FIS experiment template {id} ({region})"),
            Created::RecoveryPoint { region, vault, arn } => {
                format!("recovery point {arn} in vault {vault} ({region})")
            }
            Created::ReplicationGroup { region, id, .. } => format!("ElastiCache replication group {id} ({region})"),
            Created::GlobalReplicationGroup { id, .. } => format!("ElastiCache global datastore {id}"),
            Created::Stack { region, name } => format!("CloudFormation stack {name} ({region})"),
        }
    }
}

/// Records that drillbit created `c` (provisioning, or a runbook action).
pub fn created(env: &Env, c: Created) {
    env.names().created.push(c);
}

/// Refuses to create what already exists. An emulator answers some creations with the existing
/// resource (moto's CreateCluster) or replaces it (CreateService), and teardown would then
/// delete something drillbit did not create: a resource of the user's is drilled through
/// `bind:`, never taken over. Checked before every creation of provisioning.
pub async fn refuse_existing(env: &Env, c: &Created) -> Result<(), ApiError> {
    let at = |region: &str| env.clients.region(region);
    let exists = match c {
        Created::DbInstance { region, id } => at(region)
            .rds
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .is_ok_and(|o| !o.db_instances().is_empty()),
        Created::DbCluster { region, id, .. } => at(region)
            .rds
            .describe_db_clusters()
            .db_cluster_identifier(id)
            .send()
            .await
            .is_ok_and(|o| !o.db_clusters().is_empty()),
        Created::GlobalCluster { region, id } => at(region)
            .rds
            .describe_global_clusters()
            .global_cluster_identifier(id)
            .send()
            .await
            .is_ok_and(|o| !o.global_clusters().is_empty()),
        Created::Table { region, name } => at(region)
            .dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .is_ok(),
        Created::Bucket { region, name } => at(region).s3.head_bucket().bucket(name).send().await.is_ok(),
        Created::EcsCluster { region, name } => at(region)
            .ecs
            .describe_clusters()
            .clusters(name)
            .send()
            .await
            .is_ok_and(|o| o.clusters().iter().any(|c| c.status() == Some("ACTIVE"))),
        Created::EcsService { region, cluster, name } => at(region)
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(name)
            .send()
            .await
            .is_ok_and(|o| o.services().iter().any(|s| s.status() == Some("ACTIVE"))),
        Created::LaunchConfiguration { region, name } => at(region)
            .asg
            .describe_launch_configurations()
            .launch_configuration_names(name)
            .send()
            .await
            .is_ok_and(|o| !o.launch_configurations().is_empty()),
        Created::AutoScalingGroup { region, name } => at(region)
            .asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .is_ok_and(|o| !o.auto_scaling_groups().is_empty()),
        Created::BackupVault { region, name } => at(region)
            .backup
            .describe_backup_vault()
            .backup_vault_name(name)
            .send()
            .await
            .is_ok(),
        Created::ReplicationGroup { region, id, .. } => at(region)
            .elasticache
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
            .is_ok_and(|o| !o.replication_groups().is_empty()),
        Created::Stack { region, name } => at(region)
            .cloudformation
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .is_ok_and(|o| {
                o.stacks()
                    .iter()
                    .any(|s| s.stack_status().map(|x| x.as_str()) != Some("DELETE_COMPLETE"))
            }),
        // New ids every time: nothing to take over.
        Created::RecoveryPoint { .. } | Created::GlobalReplicationGroup { .. } => false,
        Created::DbSnapshot { .. }
        | Created::TaskFamily { .. }
        | Created::HostedZone { .. }
        | Created::HealthCheck { .. }
        | Created::BackupPlan { .. }
        | Created::FisTemplate { .. } => false,
    };
    if exists {
        return Err(ApiError::Failed(format!(
            "{} already exists and the scenario does not bind it: drillbit never takes over or deletes \
             what it did not create; bind the resource (`bind: {{ arn: ... }}`) to drill it, or name one that does not exist",
            c.describe()
        )));
    }
    Ok(())
}

/// Refuses a hosted zone of this name that already exists (a duplicate zone would take the
/// record drillbit flips out of the one clients resolve).
pub async fn refuse_existing_zone(env: &Env, name: &str) -> Result<(), ApiError> {
    let want = format!("{}.", name.trim_end_matches('.'));
    let out = env
        .clients
        .route53
        .list_hosted_zones_by_name()
        .dns_name(&want)
        .send()
        .await
        .map_err(|e| api_error("ListHostedZonesByName", e))?;
    if let Some(z) = out.hosted_zones().iter().find(|z| z.name() == want) {
        return Err(ApiError::Failed(format!(
            "hosted zone {want} already exists ({}) and the record is not bound: bind it \
             (`bind: {{ arn: arn:aws:route53:::hostedzone/ID }}`) to drill the record there",
            z.id().trim_start_matches("/hostedzone/")
        )));
    }
    Ok(())
}

/// Deletes everything recorded as created, newest first; returns what could not be deleted
/// and why. Something already gone counts as deleted.
pub async fn deprovision(env: &Env) -> Vec<String> {
    let list: Vec<Created> = std::mem::take(&mut env.names().created);
    let mut left = Vec::new();
    // A hosted zone can only go once its records have; they go first, whatever their order.
    for c in &list {
        if let Created::HostedZone { id } = c {
            if let Err(e) = empty_zone(env, id).await {
                left.push(format!("records of hosted zone {id}: {e}"));
            }
        }
    }
    // A global datastore goes before its members (which cannot be deleted while members).
    let (globals, rest): (Vec<&Created>, Vec<&Created>) = list
        .iter()
        .partition(|c| matches!(c, Created::GlobalReplicationGroup { .. }));
    for c in globals.into_iter().rev().chain(rest.into_iter().rev()) {
        match delete(env, c).await {
            Ok(()) => {}
            Err(e) if gone(&e) => {}
            Err(e) => {
                let moto = env.caps.is_some_and(|k| k.emulator.starts_with("moto"));
                let why = if moto && matches!(c, Created::GlobalCluster { .. }) && e.to_string().contains("not empty") {
                    " (moto cannot take a member in another region out of a global cluster)"
                } else {
                    ""
                };
                left.push(format!("{}: {e}{why}", c.describe()))
            }
        }
    }
    left
}

fn gone(e: &ApiError) -> bool {
    let t = e.to_string();
    ["NotFound", "NoSuch", "does not exist", "not found", "ResourceNotFound"]
        .iter()
        .any(|m| t.contains(m))
}

async fn delete(env: &Env, c: &Created) -> Result<(), ApiError> {
    let at = |region: &str| env.clients.region(region).clone();
    match c {
        Created::DbInstance { region, id } => at(region)
            .rds
            .delete_db_instance()
            .db_instance_identifier(id)
            .skip_final_snapshot(true)
            .delete_automated_backups(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteDBInstance", e)),
        Created::DbSnapshot { region, id } => at(region)
            .rds
            .delete_db_snapshot()
            .db_snapshot_identifier(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteDBSnapshot", e)),
        Created::DbCluster { region, id, global } => {
            if let Some(g) = global {
                // A member must leave its global cluster before it can be deleted. Asked in
                // the member's region and in the global cluster's (the primary's): emulators
                // keep the global cluster in one region's state.
                let arn = format!("arn:aws:rds:{region}:{}:cluster:{id}", env.names().account);
                for rds in [&at(region).rds, &env.clients.primary.rds] {
                    let _ = rds
                        .remove_from_global_cluster()
                        .global_cluster_identifier(g)
                        .db_cluster_identifier(&arn)
                        .send()
                        .await;
                }
            }
            at(region)
                .rds
                .delete_db_cluster()
                .db_cluster_identifier(id)
                .skip_final_snapshot(true)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| api_error("DeleteDBCluster", e))
        }
        Created::GlobalCluster { region, id } => at(region)
            .rds
            .delete_global_cluster()
            .global_cluster_identifier(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteGlobalCluster", e)),
        Created::Table { region, name } => at(region)
            .dynamodb
            .delete_table()
            .table_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteTable", e)),
        Created::Bucket { region, name } => {
            empty_bucket(env, region, name).await?;
            at(region)
                .s3
                .delete_bucket()
                .bucket(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| api_error("DeleteBucket", e))
        }
        Created::EcsService { region, cluster, name } => at(region)
            .ecs
            .delete_service()
            .cluster(cluster)
            .service(name)
            .force(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteService", e)),
        Created::TaskFamily { arn, region, .. } => at(region)
            .ecs
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeregisterTaskDefinition", e)),
        Created::EcsCluster { region, name } => at(region)
            .ecs
            .delete_cluster()
            .cluster(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteCluster", e)),
        Created::AutoScalingGroup { region, name } => at(region)
            .asg
            .delete_auto_scaling_group()
            .auto_scaling_group_name(name)
            .force_delete(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteAutoScalingGroup", e)),
        Created::LaunchConfiguration { region, name } => at(region)
            .asg
            .delete_launch_configuration()
            .launch_configuration_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteLaunchConfiguration", e)),
        Created::HealthCheck { id } => env
            .clients
            .route53
            .delete_health_check()
            .health_check_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteHealthCheck", e)),
        Created::HostedZone { id } => env
            .clients
            .route53
            .delete_hosted_zone()
            .id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteHostedZone", e)),
        Created::BackupPlan { region, id } => at(region)
            .backup
            .delete_backup_plan()
            .backup_plan_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteBackupPlan", e)),
        Created::BackupVault { region, name } => at(region)
            .backup
            .delete_backup_vault()
            .backup_vault_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteBackupVault", e)),
        Created::FisTemplate { region, id } => env
            .clients
            .region(region)
            .fis
            .delete_experiment_template()
            .id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteExperimentTemplate", e)),
        Created::RecoveryPoint { region, vault, arn } => at(region)
            .backup
            .delete_recovery_point()
            .backup_vault_name(vault)
            .recovery_point_arn(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteRecoveryPoint", e)),
        Created::ReplicationGroup { region, id } => at(region)
            .elasticache
            .delete_replication_group()
            .replication_group_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteReplicationGroup", e)),
        Created::GlobalReplicationGroup { region, id } => delete_global_datastore(env, region, id).await,
        Created::Stack { region, name } => at(region)
            .cloudformation
            .delete_stack()
            .stack_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("DeleteStack", e)),
    }
}

/// Deletes a global datastore: its secondary members (whichever they are now, after a
/// failover) are disassociated, then it is deleted keeping its primary as a standalone group.
async fn delete_global_datastore(env: &Env, region: &str, id: &str) -> Result<(), ApiError> {
    let ec = env.clients.region(region).elasticache.clone();
    let out = ec
        .describe_global_replication_groups()
        .global_replication_group_id(id)
        .show_member_info(true)
        .send()
        .await
        .map_err(|e| api_error("DescribeGlobalReplicationGroups", e))?;
    for g in out.global_replication_groups() {
        for m in g.members() {
            if m.role() == Some("SECONDARY") {
                let (Some(rg), Some(r)) = (m.replication_group_id(), m.replication_group_region()) else {
                    continue;
                };
                ec.disassociate_global_replication_group()
                    .global_replication_group_id(id)
                    .replication_group_id(rg)
                    .replication_group_region(r)
                    .send()
                    .await
                    .map_err(|e| api_error("DisassociateGlobalReplicationGroup", e))?;
            }
        }
    }
    ec.delete_global_replication_group()
        .global_replication_group_id(id)
        .retain_primary_replication_group(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| api_error("DeleteGlobalReplicationGroup", e))
}

/// Deletes every record set of a zone but its NS and SOA (a zone must be empty to go).
async fn empty_zone(env: &Env, zone: &str) -> Result<(), ApiError> {
    let r53 = &env.clients.route53;
    let sets = r53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .map_err(|e| api_error("ListResourceRecordSets", e))?;
    let changes: Vec<Change> = sets
        .resource_record_sets()
        .iter()
        .filter(|s| !matches!(s.r#type(), RrType::Ns | RrType::Soa))
        .filter_map(|s| {
            Change::builder()
                .action(ChangeAction::Delete)
                .resource_record_set(s.clone())
                .build()
                .ok()
        })
        .collect();
    if changes.is_empty() {
        return Ok(());
    }
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .build()
        .map_err(|e| ApiError::Failed(e.to_string()))?;
    r53.change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| api_error("ChangeResourceRecordSets", e))
}

/// Deletes every object version and delete marker (the buckets are versioned).
async fn empty_bucket(env: &Env, region: &str, bucket: &str) -> Result<(), ApiError> {
    let s3 = env.clients.region(region).s3.clone();
    for _ in 0..1000 {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| api_error("ListObjectVersions", e))?;
        let ids: Vec<ObjectIdentifier> = page
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id()))
            .chain(page.delete_markers().iter().map(|m| (m.key(), m.version_id())))
            .filter_map(|(k, v)| {
                ObjectIdentifier::builder()
                    .key(k?)
                    .set_version_id(v.map(String::from))
                    .build()
                    .ok()
            })
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let delete = Delete::builder()
            .set_objects(Some(ids))
            .quiet(true)
            .build()
            .map_err(|e| ApiError::Failed(e.to_string()))?;
        s3.delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| api_error("DeleteObjects", e))?;
    }
    Err(ApiError::Failed(format!("{bucket} still holds objects")))
}
