//! The data layer's DR set-up in an emulator, made the way AWS makes it: a DynamoDB global
//! table's replicas through `UpdateTable`, AWS Backup recovery points through backup jobs and
//! their copies to the DR vault through copy jobs, an ElastiCache global datastore with a
//! secondary member in the DR region. With moto alone (no extension), a global table is a
//! table per region and no recovery point exists: the runbook's steps then say so.

use std::time::Duration;

use super::Provisioned;
use crate::scenario::{BackupPlan, DynamodbGlobalTable, ElasticacheGlobal, Resource};
use crate::targets::live::actions::Env;
use crate::targets::live::deprovision::{created, refuse_existing, Created};
use crate::targets::live::{api_error, ApiError};

/// Whether the emulator runs drillbit's extension (replicas, jobs, global datastores).
fn extended(env: &Env) -> bool {
    env.caps.is_some_and(|c| c.extended)
}

/// Describes until `done` answers `Some(result)`, at most `limit`.
async fn poll<T, F, Fut>(env: &Env, what: &str, limit: Duration, mut done: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, ApiError>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(t) = done().await? {
            return Ok(t);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(ApiError::Failed(format!(
                "{what}: not done within {} s",
                limit.as_secs()
            )));
        }
        tokio::time::sleep(env.poll).await;
    }
}

const SETTLE: Duration = Duration::from_secs(60);

async fn create_table(env: &Env, region: &str, name: &str) -> Result<(), ApiError> {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    let bad = |e: aws_sdk_dynamodb::error::BuildError| ApiError::Failed(e.to_string());
    env.clients
        .region(region)
        .dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(bad)?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .map_err(bad)?,
        )
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
                .build()
                .map_err(bad)?,
        )
        .send()
        .await
        .map_err(|e| api_error("CreateTable", e))?;
    created(
        env,
        Created::Table {
            region: region.to_string(),
            name: name.to_string(),
        },
    );
    Ok(())
}

/// A global table (version 2019.11.21): the table in its first region (the primary when it
/// is one), then a replica in each other region through `UpdateTable ReplicaUpdates`.
pub async fn global_table(env: &Env, t: &DynamodbGlobalTable, done: &mut Provisioned) -> Result<(), ApiError> {
    for region in &t.regions {
        refuse_existing(
            env,
            &Created::Table {
                region: region.clone(),
                name: t.table.clone(),
            },
        )
        .await?;
    }
    let home = if t.regions.iter().any(|r| r == env.primary()) {
        env.primary().to_string()
    } else {
        t.regions.first().cloned().unwrap_or_else(|| env.primary().to_string())
    };
    create_table(env, &home, &t.table).await?;
    done.calls.push(format!("dynamodb:CreateTable {} ({home})", t.table));
    for region in t.regions.iter().filter(|r| **r != home) {
        if !extended(env) {
            // moto alone makes no replica: a table of the same name stands for it.
            create_table(env, region, &t.table).await?;
            done.calls
                .push(format!("dynamodb:CreateTable {} ({region}, no replication)", t.table));
            continue;
        }
        env.clients
            .region(&home)
            .dynamodb
            .update_table()
            .table_name(&t.table)
            .replica_updates(
                aws_sdk_dynamodb::types::ReplicationGroupUpdate::builder()
                    .create(
                        aws_sdk_dynamodb::types::CreateReplicationGroupMemberAction::builder()
                            .region_name(region)
                            .build()
                            .map_err(|e| ApiError::Failed(e.to_string()))?,
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| api_error("UpdateTable", e))?;
        created(
            env,
            Created::Table {
                region: region.clone(),
                name: t.table.clone(),
            },
        );
        done.calls.push(format!(
            "dynamodb:UpdateTable {} ReplicaUpdates Create {region}",
            t.table
        ));
    }
    Ok(())
}

fn role_arn(env: &Env) -> String {
    format!(
        "arn:aws:iam::{}:role/service-role/AWSBackupDefaultServiceRole",
        env.names().account
    )
}

fn lifecycle(days: f64) -> aws_sdk_backup::types::Lifecycle {
    aws_sdk_backup::types::Lifecycle::builder()
        .delete_after_days((days / 86_400.0).round().max(1.0) as i64)
        .build()
}

/// The plan's recovery points, as its schedule would have left them before the drill: a
/// backup job of each protected RDS instance into the plan's vault, then a copy job of it into
/// the DR vault. (Jobs are emulated for RDS DB instances; other resources are noted.)
pub async fn recovery_points(env: &Env, b: &BackupPlan, done: &mut Provisioned) -> Result<(), ApiError> {
    if !extended(env) {
        done.calls.push(format!(
            "backup: no recovery point for plan {} (moto alone runs no backup job)",
            b.plan
        ));
        return Ok(());
    }
    let s = env.scenario.clone();
    for rid in &b.resources {
        let Some(Resource::RdsInstance(db)) = s.resource(rid) else {
            done.calls.push(format!(
                "backup: `{rid}` not backed up (the emulator's AWS Backup jobs cover RDS DB instances)"
            ));
            continue;
        };
        let region = env.side_region(db.side, false);
        let c = env.clients.region(&region).clone();
        let job = c
            .backup
            .start_backup_job()
            .backup_vault_name(&b.vault)
            .resource_arn(env.rds_arn(&region, &db.instance))
            .iam_role_arn(role_arn(env))
            .lifecycle(lifecycle(b.retention.secs()))
            .send()
            .await
            .map_err(|e| api_error("StartBackupJob", e))?;
        let id = job.backup_job_id().unwrap_or_default().to_string();
        let point = poll(env, &format!("backup job {id}"), SETTLE, || async {
            let d = c
                .backup
                .describe_backup_job()
                .backup_job_id(&id)
                .send()
                .await
                .map_err(|e| api_error("DescribeBackupJob", e))?;
            match d.state().map(|s| s.as_str()) {
                Some("COMPLETED") => Ok(Some(d.recovery_point_arn().unwrap_or_default().to_string())),
                Some("FAILED") | Some("ABORTED") | Some("EXPIRED") => Err(ApiError::Failed(format!(
                    "backup job {id}: {}",
                    d.status_message().unwrap_or("failed")
                ))),
                _ => Ok(None),
            }
        })
        .await?;
        created(
            env,
            Created::RecoveryPoint {
                region: region.clone(),
                vault: b.vault.clone(),
                arn: point.clone(),
            },
        );
        done.calls.push(format!(
            "backup:StartBackupJob {} into {} ({region})",
            db.instance, b.vault
        ));
        let Some(copy) = &b.copy_to else { continue };
        let to = copy.region.clone().unwrap_or_else(|| env.dr().to_string());
        let job = c
            .backup
            .start_copy_job()
            .recovery_point_arn(&point)
            .source_backup_vault_name(&b.vault)
            .destination_backup_vault_arn(format!(
                "arn:aws:backup:{to}:{}:backup-vault:{}",
                env.names().account,
                copy.vault
            ))
            .iam_role_arn(role_arn(env))
            .lifecycle(lifecycle(copy.retention.secs()))
            .send()
            .await
            .map_err(|e| api_error("StartCopyJob", e))?;
        let id = job.copy_job_id().unwrap_or_default().to_string();
        let copied = poll(env, &format!("copy job {id}"), SETTLE, || async {
            let d = c
                .backup
                .describe_copy_job()
                .copy_job_id(&id)
                .send()
                .await
                .map_err(|e| api_error("DescribeCopyJob", e))?;
            let Some(j) = d.copy_job() else { return Ok(None) };
            match j.state().map(|s| s.as_str()) {
                Some("COMPLETED") => Ok(Some(j.destination_recovery_point_arn().unwrap_or_default().to_string())),
                Some("FAILED") => Err(ApiError::Failed(format!(
                    "copy job {id}: {}",
                    j.status_message().unwrap_or("failed")
                ))),
                _ => Ok(None),
            }
        })
        .await?;
        created(
            env,
            Created::RecoveryPoint {
                region: to.clone(),
                vault: copy.vault.clone(),
                arn: copied,
            },
        );
        done.calls
            .push(format!("backup:StartCopyJob {} to {} ({to})", db.instance, copy.vault));
    }
    Ok(())
}

/// The global datastore's description (with members), found by id or suffix.
pub async fn describe_datastore(
    env: &Env,
    region: &str,
    g: &ElasticacheGlobal,
) -> Result<aws_sdk_elasticache::types::GlobalReplicationGroup, ApiError> {
    let known = env.names().datastore.get(&g.id).cloned();
    if let Some(id) = known {
        let out = env
            .clients
            .region(region)
            .elasticache
            .describe_global_replication_groups()
            .global_replication_group_id(&id)
            .show_member_info(true)
            .send()
            .await
            .map_err(|e| api_error("DescribeGlobalReplicationGroups", e))?;
        if let Some(x) = out.global_replication_groups().first() {
            return Ok(x.clone());
        }
    }
    let out = env
        .clients
        .region(region)
        .elasticache
        .describe_global_replication_groups()
        .show_member_info(true)
        .send()
        .await
        .map_err(|e| api_error("DescribeGlobalReplicationGroups", e))?;
    let found = out
        .global_replication_groups()
        .iter()
        .find(|x| x.global_replication_group_id().is_some_and(|id| g.is_datastore(id)))
        .cloned()
        .ok_or_else(|| ApiError::Failed(format!("no global datastore {} ({region})", g.global_datastore)))?;
    if let Some(id) = found.global_replication_group_id() {
        env.names().datastore.insert(g.id.clone(), id.to_string());
    }
    Ok(found)
}

/// A global datastore: the primary replication group, the datastore made from it, and once
/// it is available, the secondary member in the DR region.
pub async fn global_datastore(env: &Env, g: &ElasticacheGlobal, done: &mut Provisioned) -> Result<(), ApiError> {
    if !extended(env) {
        done.calls.push(format!(
            "elasticache: global datastore {} not made (moto alone has none)",
            g.global_datastore
        ));
        return Ok(());
    }
    let (p, d) = (env.primary().to_string(), env.dr().to_string());
    let (primary, secondary) = (g.primary_group(), g.secondary_group());
    for (region, id) in [(&p, &primary), (&d, &secondary)] {
        refuse_existing(
            env,
            &Created::ReplicationGroup {
                region: region.clone(),
                id: id.clone(),
            },
        )
        .await?;
    }
    let node = g.node_type.clone().unwrap_or_else(|| "cache.r6g.large".into());
    env.clients
        .primary
        .elasticache
        .create_replication_group()
        .replication_group_id(&primary)
        .replication_group_description(format!("{} primary (drillbit)", g.global_datastore))
        .engine(&g.engine)
        .cache_node_type(&node)
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .send()
        .await
        .map_err(|e| api_error("CreateReplicationGroup", e))?;
    created(
        env,
        Created::ReplicationGroup {
            region: p.clone(),
            id: primary.clone(),
        },
    );
    let out = env
        .clients
        .primary
        .elasticache
        .create_global_replication_group()
        .global_replication_group_id_suffix(&g.global_datastore)
        .primary_replication_group_id(&primary)
        .send()
        .await
        .map_err(|e| api_error("CreateGlobalReplicationGroup", e))?;
    let id = out
        .global_replication_group()
        .and_then(|x| x.global_replication_group_id())
        .unwrap_or_default()
        .to_string();
    created(
        env,
        Created::GlobalReplicationGroup {
            region: p.clone(),
            id: id.clone(),
        },
    );
    env.names().datastore.insert(g.id.clone(), id.clone());
    poll(env, &format!("global datastore {id}"), SETTLE, || async {
        let x = describe_datastore(env, &p, g).await?;
        Ok((x.status() == Some("available")).then_some(()))
    })
    .await?;
    env.clients
        .dr
        .elasticache
        .create_replication_group()
        .replication_group_id(&secondary)
        .replication_group_description(format!("{} secondary (drillbit)", g.global_datastore))
        .global_replication_group_id(&id)
        .send()
        .await
        .map_err(|e| api_error("CreateReplicationGroup", e))?;
    created(
        env,
        Created::ReplicationGroup {
            region: d.clone(),
            id: secondary.clone(),
        },
    );
    done.calls.push(format!(
        "elasticache:CreateGlobalReplicationGroup {id} ({primary} in {p}, {secondary} in {d})"
    ));
    Ok(())
}
