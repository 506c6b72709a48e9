//! The data layer's runbook actions and reads beyond the database failovers of `actions`:
//! restoring an AWS Backup recovery point in the DR region, failing an ElastiCache global
//! datastore over, and which cluster of a global database writes now.

use super::actions::{wait_until, Env};
use super::deprovision::{created, refuse_existing, Created};
use super::provision::data::describe_datastore;
use super::{api_error, ApiError};
use crate::scenario::{BackupPlan, ElasticacheGlobal, Resource, Step};

/// The name a restore gives the DR copy of a database instance.
pub fn restored_name(instance: &str) -> String {
    format!("{instance}-dr")
}

/// `backup.restore`: the newest recovery point of the plan's databases in the DR vault,
/// restored by an AWS Backup restore job in the DR region into a new instance, which then
/// stands for the database there.
pub async fn backup_restore(env: &Env, b: &BackupPlan) -> Result<(), ApiError> {
    let region = b
        .copy_to
        .as_ref()
        .and_then(|c| c.region.clone())
        .unwrap_or_else(|| env.dr().to_string());
    let c = env.clients.region(&region).clone();
    let vault = b.copy_to.as_ref().map_or(b.vault.clone(), |v| v.vault.clone());
    let points = c
        .backup
        .list_recovery_points_by_backup_vault()
        .backup_vault_name(&vault)
        .send()
        .await
        .map_err(|e| api_error("ListRecoveryPointsByBackupVault", e))?;
    // The plan's databases: (resource id, instance), by the ARN a recovery point names.
    let s = env.scenario.clone();
    let dbs: Vec<(String, String)> = b
        .resources
        .iter()
        .filter_map(|r| match s.resource(r) {
            Some(Resource::RdsInstance(db)) => Some((db.id.clone(), db.instance.clone())),
            _ => None,
        })
        .collect();
    let of_plan = |arn: &str| {
        dbs.iter()
            .find(|(_, inst)| arn.ends_with(&format!(":db:{inst}")))
            .cloned()
    };
    let newest = points
        .recovery_points()
        .iter()
        .filter(|p| p.status().map(|s| s.as_str()) != Some("EXPIRED"))
        .filter_map(|p| Some((p, of_plan(p.resource_arn()?)?)))
        .max_by_key(|(p, _)| p.creation_date().map(|t| t.secs()))
        .ok_or_else(|| {
            ApiError::Failed(format!(
                "no recovery point of {} in vault {vault} ({region})",
                if dbs.is_empty() {
                    "an RDS instance of the plan".to_string()
                } else {
                    dbs.iter().map(|(_, i)| i.as_str()).collect::<Vec<_>>().join(", ")
                }
            ))
        })?;
    let (point, (resource, instance)) = (newest.0.clone(), newest.1);
    let started = std::time::Instant::now();
    let arn = point.recovery_point_arn().unwrap_or_default().to_string();
    // The metadata the recovery point was taken with, the new instance's name set.
    let mut metadata = c
        .backup
        .get_recovery_point_restore_metadata()
        .backup_vault_name(&vault)
        .recovery_point_arn(&arn)
        .send()
        .await
        .ok()
        .and_then(|m| m.restore_metadata().cloned())
        .unwrap_or_default();
    let target = restored_name(&instance);
    // The job fails later, not the call, when the name is taken: an instance of that name that
    // is not drillbit's is refused now, so teardown never deletes it.
    refuse_existing(
        env,
        &Created::DbInstance {
            region: region.clone(),
            id: target.clone(),
        },
    )
    .await?;
    metadata.insert("DBInstanceIdentifier".into(), target.clone());
    let job = c
        .backup
        .start_restore_job()
        .recovery_point_arn(&arn)
        .iam_role_arn(format!(
            "arn:aws:iam::{}:role/service-role/AWSBackupDefaultServiceRole",
            env.names().account
        ))
        .set_metadata(Some(metadata))
        .send()
        .await
        .map_err(|e| api_error("StartRestoreJob", e))?;
    let id = job.restore_job_id().unwrap_or_default().to_string();
    // The instance exists from the job's start: it is drillbit's from now on.
    created(
        env,
        Created::DbInstance {
            region: region.clone(),
            id: target.clone(),
        },
    );
    wait_until(env, || async {
        let d = c
            .backup
            .describe_restore_job()
            .restore_job_id(&id)
            .send()
            .await
            .map_err(|e| api_error("DescribeRestoreJob", e))?;
        match d.status().map(|s| s.as_str().to_string()).as_deref() {
            Some("COMPLETED") => Ok(true),
            Some("ABORTED") | Some("FAILED") => Err(ApiError::Failed(format!(
                "restore job {id}: {}",
                d.status_message().unwrap_or("failed")
            ))),
            _ => Ok(false),
        }
    })
    .await?;
    wait_until(env, || async {
        Ok(super::actions::describe_instance(env, &region, &target)
            .await?
            .is_some_and(|(status, _)| status == "available"))
    })
    .await?;
    let taken = point
        .creation_date()
        .and_then(|t| t.fmt(aws_sdk_backup::primitives::DateTimeFormat::DateTime).ok())
        .unwrap_or_else(|| "at an unknown time".into());
    let emulated = if env.caps.is_some_and(|c| c.extended) {
        " (emulated by drillbit's moto extension: the job's duration is its setting, not AWS Backup's)"
    } else {
        ""
    };
    env.names().notes.push(format!(
        "backup.restore: recovery point {arn} of {instance} (taken {taken}) restored by restore job {id} \
         into {target} in {region} in {:.2} s{emulated}",
        started.elapsed().as_secs_f64()
    ));
    env.names().db_member.insert((resource, region), target);
    Ok(())
}

/// `elasticache.failover-global-datastore`: the member in the target region becomes the
/// primary (FailoverGlobalReplicationGroup, sent to that region), waited for until the
/// datastore is available with that member primary.
pub async fn failover_datastore(env: &Env, step: &Step, g: &ElasticacheGlobal) -> Result<(), ApiError> {
    let to = crate::report::runbook::toward(&env.scenario, step).to_string();
    let x = describe_datastore(env, &to, g).await?;
    let id = x.global_replication_group_id().unwrap_or_default().to_string();
    let member = x
        .members()
        .iter()
        .find(|m| m.replication_group_region() == Some(to.as_str()))
        .and_then(|m| m.replication_group_id())
        .map(String::from)
        .ok_or_else(|| ApiError::Failed(format!("global datastore {id} has no member in {to}")))?;
    env.clients
        .region(&to)
        .elasticache
        .failover_global_replication_group()
        .global_replication_group_id(&id)
        .primary_region(&to)
        .primary_replication_group_id(&member)
        .send()
        .await
        .map_err(|e| api_error("FailoverGlobalReplicationGroup", e))?;
    wait_until(env, || async {
        Ok(datastore_primary(env, &to, g).await?.as_deref() == Some(to.as_str()))
    })
    .await
}

/// The region whose member is the global datastore's primary, once it is available (None
/// while it changes).
pub async fn datastore_primary(env: &Env, region: &str, g: &ElasticacheGlobal) -> Result<Option<String>, ApiError> {
    let x = describe_datastore(env, region, g).await?;
    if x.status() != Some("available") {
        return Ok(None);
    }
    Ok(x.members()
        .iter()
        .find(|m| m.role() == Some("PRIMARY"))
        .and_then(|m| m.replication_group_region())
        .map(String::from))
}

/// Whether `cluster` writes for its global database now, as DescribeGlobalClusters says (asked
/// in `region`); None when the answer does not say (no such global cluster or member).
pub async fn global_writer(env: &Env, region: &str, global: &str, cluster: &str) -> Option<bool> {
    let out = env
        .clients
        .region(region)
        .rds
        .describe_global_clusters()
        .global_cluster_identifier(global)
        .send()
        .await
        .ok()?;
    let g = out
        .global_clusters()
        .iter()
        .find(|g| g.global_cluster_identifier() == Some(global))?;
    if g.status() != Some("available") {
        return Some(false);
    }
    let suffix = format!(":cluster:{cluster}");
    g.global_cluster_members()
        .iter()
        .find(|m| m.db_cluster_arn().is_some_and(|a| a.ends_with(&suffix)))
        .map(|m| m.is_writer().unwrap_or(false))
}
