//! Runbook actions as AWS SDK calls. Each action makes its call(s), then waits for the state it
//! promised (describe until `available`, running count reached, change `INSYNC`) and returns;
//! the engine stamps its start and end on the timeline and owns its timeout.

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, ResourceRecordSetFailover,
    RrType,
};

use super::deprovision::{created, Created};
pub use super::env::{Done, Env, Names};
pub use super::planned::planned_calls;
use super::{api_error, ApiError};
use crate::scenario::{Action, Resource, Routing, Step};

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs one action to its end state.
pub async fn run(env: &Env, step: &Step) -> Done {
    let name = step.action.as_str();
    if let Some(why) = env.caps.and_then(|c| c.why_unsupported(name)) {
        return Done::Unsupported(format!("unsupported by {}: {why}", env.caps.map_or("", |c| c.emulator)));
    }
    let res = step.resource.as_deref().and_then(|r| env.scenario.resource(r)).cloned();
    let r = match (step.action, res) {
        (Action::RdsPromoteReadReplica, Some(Resource::RdsReadReplica(rr))) => {
            promote(env, &env.side_region(rr.side, true), &rr.instance).await
        }
        (Action::RdsPromoteReadReplica, Some(Resource::RdsInstance(db))) => {
            // Failback: promote the primary-side replica that `rds.create-read-replica` made.
            let region = env.side_region(db.side, false);
            let member = env.db_member(&db.id, &region).unwrap_or(db.instance.clone());
            promote(env, &region, &member).await
        }
        (Action::RdsCreateReadReplica, Some(Resource::RdsInstance(db))) => create_failback_replica(env, &db.id).await,
        (Action::RdsRebootForceFailover, Some(Resource::RdsInstance(db))) => {
            let c = env.clients.region(&env.side_region(db.side, false)).clone();
            match c
                .rds
                .reboot_db_instance()
                .db_instance_identifier(&db.instance)
                .force_failover(db.multi_az)
                .send()
                .await
            {
                Ok(_) => wait_instance(env, &c.region, &db.instance, false).await,
                Err(e) => Err(api_error("RebootDBInstance", e)),
            }
        }
        (Action::RdsCreateSnapshot, Some(Resource::RdsInstance(db))) => {
            let c = env.clients.region(&env.side_region(db.side, false)).clone();
            let id = format!("{}-drill-{}", db.instance, now_secs());
            match c
                .rds
                .create_db_snapshot()
                .db_instance_identifier(&db.instance)
                .db_snapshot_identifier(&id)
                .send()
                .await
            {
                Ok(_) => {
                    created(
                        env,
                        Created::DbSnapshot {
                            region: c.region.clone(),
                            id: id.clone(),
                        },
                    );
                    wait_snapshot(env, &c.region, &id).await
                }
                Err(e) => Err(api_error("CreateDBSnapshot", e)),
            }
        }
        (Action::RdsRestoreFromSnapshot, Some(Resource::RdsInstance(db))) => restore_snapshot(env, &db).await,
        (Action::RdsRestorePointInTime, Some(Resource::RdsInstance(db))) => {
            let c = env.clients.region(&env.side_region(db.side, false)).clone();
            let target = format!("{}-restored", db.instance);
            match c
                .rds
                .restore_db_instance_to_point_in_time()
                .source_db_instance_identifier(&db.instance)
                .target_db_instance_identifier(&target)
                .use_latest_restorable_time(true)
                .send()
                .await
            {
                Ok(_) => {
                    created(
                        env,
                        Created::DbInstance {
                            region: c.region.clone(),
                            id: target.clone(),
                        },
                    );
                    wait_instance(env, &c.region, &target, false).await
                }
                Err(e) => Err(api_error("RestoreDBInstanceToPointInTime", e)),
            }
        }
        (Action::RdsStartBackupReplication, Some(Resource::RdsInstance(db))) => {
            let arn = env.rds_arn(&env.side_region(db.side, false), &db.instance);
            env.clients
                .dr
                .rds
                .start_db_instance_automated_backups_replication()
                .source_db_instance_arn(arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| api_error("StartDBInstanceAutomatedBackupsReplication", e))
        }
        (Action::AuroraFailoverDbCluster, Some(Resource::AuroraGlobal(a))) => {
            let c = env.clients.primary.clone();
            match c
                .rds
                .failover_db_cluster()
                .db_cluster_identifier(&a.primary_cluster)
                .send()
                .await
            {
                Ok(_) => wait_cluster(env, &c.region, &a.primary_cluster).await,
                Err(e) => Err(api_error("FailoverDBCluster", e)),
            }
        }
        (Action::AuroraFailoverGlobalCluster, Some(Resource::AuroraGlobal(a))) => {
            let target = env.cluster_arn(env.dr(), &a.secondary_cluster);
            // Sent in the secondary region: in a region outage the primary's API is down too.
            match env
                .clients
                .dr
                .rds
                .failover_global_cluster()
                .global_cluster_identifier(&a.global_cluster)
                .target_db_cluster_identifier(target)
                .allow_data_loss(step.allow_data_loss != Some(false))
                .send()
                .await
            {
                Ok(_) => {
                    env.names().promoted.insert(a.secondary_cluster.clone());
                    wait_cluster(env, env.dr(), &a.secondary_cluster).await
                }
                Err(e) => Err(api_error("FailoverGlobalCluster", e)),
            }
        }
        (Action::AuroraSwitchoverGlobalCluster, Some(Resource::AuroraGlobal(a))) => {
            let target = env.cluster_arn(env.primary(), &a.primary_cluster);
            match env
                .clients
                .primary
                .rds
                .switchover_global_cluster()
                .global_cluster_identifier(&a.global_cluster)
                .target_db_cluster_identifier(target)
                .send()
                .await
            {
                Ok(_) => wait_cluster(env, env.primary(), &a.primary_cluster).await,
                Err(e) => Err(api_error("SwitchoverGlobalCluster", e)),
            }
        }
        (Action::DynamodbCheckGlobalTable, Some(Resource::DynamodbGlobalTable(t))) => check_table(env, &t).await,
        (Action::S3CheckReplication, Some(Resource::S3Bucket(b))) => check_replica(env, &b).await,
        (Action::EcsUpdateService, Some(Resource::EcsService(e))) => {
            let desired = step.desired.unwrap_or(e.primary.desired);
            scale_ecs(env, env.dr(), &e.dr.cluster, &e.dr.service, desired).await
        }
        (Action::AutoscalingUpdateGroup, Some(Resource::AutoScalingGroup(g))) => {
            let desired = step.desired.unwrap_or(g.primary.desired);
            scale_asg(env, env.dr(), &g.dr.name, desired, step.min).await
        }
        (Action::Route53FailoverToSecondary, Some(Resource::Route53Record(r))) => {
            point_record(env, &r.id, env.dr()).await
        }
        (Action::Route53FailoverToPrimary, Some(Resource::Route53Record(r))) => {
            point_record(env, &r.id, env.primary()).await
        }
        (Action::BackupRestore, Some(Resource::BackupPlan(b))) => super::data::backup_restore(env, &b).await,
        (Action::ElasticacheFailoverGlobalDatastore, Some(Resource::ElasticacheGlobal(g))) => {
            super::data::failover_datastore(env, step, &g).await
        }
        (Action::IacDeploy, Some(r)) => super::iac::deploy(env, &r).await,
        // The runbook itself carries out manual, wait and probe steps; validation keeps the
        // other actions on their kinds (a restore on an aurora-global is simulated only). No
        // catch-all: a new action must be named here.
        (
            a @ (Action::Manual
            | Action::Wait
            | Action::ProbeUntilHealthy
            | Action::RdsPromoteReadReplica
            | Action::RdsRebootForceFailover
            | Action::RdsCreateReadReplica
            | Action::RdsRestoreFromSnapshot
            | Action::RdsRestorePointInTime
            | Action::RdsCreateSnapshot
            | Action::RdsStartBackupReplication
            | Action::AuroraFailoverDbCluster
            | Action::AuroraFailoverGlobalCluster
            | Action::AuroraSwitchoverGlobalCluster
            | Action::DynamodbCheckGlobalTable
            | Action::S3CheckReplication
            | Action::EcsUpdateService
            | Action::AutoscalingUpdateGroup
            | Action::Route53FailoverToSecondary
            | Action::Route53FailoverToPrimary
            | Action::BackupRestore
            | Action::ElasticacheFailoverGlobalDatastore
            | Action::IacDeploy),
            r,
        ) => Err(ApiError::Failed(format!(
            "{} cannot act on {}",
            a.as_str(),
            r.map_or("no resource".to_string(), |r| format!("resource `{}`", r.id()))
        ))),
    };
    match r {
        Ok(()) => Done::Ok,
        Err(e) => e.into(),
    }
}

/// Describes until `done` says the state is reached; an error of the describe call ends it.
pub(super) async fn wait_until<F, Fut>(env: &Env, mut done: F) -> Result<(), ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, ApiError>>,
{
    loop {
        if done().await? {
            return Ok(());
        }
        tokio::time::sleep(env.poll).await;
    }
}

/// One instance's status and whether it is a read replica, or None when it does not exist.
pub async fn describe_instance(env: &Env, region: &str, id: &str) -> Result<Option<(String, bool)>, ApiError> {
    Ok(describe_instance_full(env, region, id)
        .await?
        .map(|(status, source)| (status, source.is_some())))
}

/// One instance's status and the source it replicates from, or None when it does not exist.
pub async fn describe_instance_full(
    env: &Env,
    region: &str,
    id: &str,
) -> Result<Option<(String, Option<String>)>, ApiError> {
    match env
        .clients
        .region(region)
        .rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().map(|d| {
            (
                d.db_instance_status().unwrap_or("").to_string(),
                d.read_replica_source_db_instance_identifier().map(String::from),
            )
        })),
        Err(e) => {
            use aws_sdk_rds::error::ProvideErrorMetadata;
            if e.code() == Some("DBInstanceNotFound") || e.code() == Some("DBInstanceNotFoundFault") {
                Ok(None)
            } else {
                Err(api_error("DescribeDBInstances", e))
            }
        }
    }
}

async fn wait_instance(env: &Env, region: &str, id: &str, writer: bool) -> Result<(), ApiError> {
    let clears = env.caps.is_none_or(|c| c.promote_clears_source);
    wait_until(env, || async {
        Ok(match describe_instance(env, region, id).await? {
            Some((status, replica)) => status == "available" && (!writer || !replica || !clears),
            None => false,
        })
    })
    .await
}

async fn promote(env: &Env, region: &str, instance: &str) -> Result<(), ApiError> {
    let c = env.clients.region(region);
    c.rds
        .promote_read_replica()
        .db_instance_identifier(instance)
        .send()
        .await
        .map_err(|e| api_error("PromoteReadReplica", e))?;
    wait_instance(env, region, instance, true).await?;
    env.names().promoted.insert(instance.to_string());
    Ok(())
}

/// Failback, first half: a read replica of the current (DR) writer in the primary region.
async fn create_failback_replica(env: &Env, resource: &str) -> Result<(), ApiError> {
    let (primary, dr) = (env.primary().to_string(), env.dr().to_string());
    let source = env
        .db_member(resource, &dr)
        .ok_or_else(|| ApiError::Failed(format!("no DR instance of `{resource}` to replicate from")))?;
    let base = env.db_member(resource, &primary).unwrap_or(resource.to_string());
    let name = format!(
        "{}-fb{}",
        base.trim_end_matches(|c: char| c.is_ascii_digit())
            .trim_end_matches("-fb"),
        now_secs() % 100_000
    );
    env.clients
        .primary
        .rds
        .create_db_instance_read_replica()
        .db_instance_identifier(&name)
        .source_db_instance_identifier(env.rds_arn(&dr, &source))
        .send()
        .await
        .map_err(|e| api_error("CreateDBInstanceReadReplica", e))?;
    created(
        env,
        Created::DbInstance {
            region: primary.clone(),
            id: name.clone(),
        },
    );
    wait_instance(env, &primary, &name, false).await?;
    env.names().db_member.insert((resource.to_string(), primary), name);
    Ok(())
}

async fn wait_snapshot(env: &Env, region: &str, id: &str) -> Result<(), ApiError> {
    let c = env.clients.region(region);
    wait_until(env, || async {
        let out = c
            .rds
            .describe_db_snapshots()
            .db_snapshot_identifier(id)
            .send()
            .await
            .map_err(|e| api_error("DescribeDBSnapshots", e))?;
        Ok(out.db_snapshots().first().and_then(|s| s.status()) == Some("available"))
    })
    .await
}

async fn restore_snapshot(env: &Env, db: &crate::scenario::RdsInstance) -> Result<(), ApiError> {
    let c = env.clients.dr.clone();
    let snaps = c
        .rds
        .describe_db_snapshots()
        .send()
        .await
        .map_err(|e| api_error("DescribeDBSnapshots", e))?;
    let newest = snaps
        .db_snapshots()
        .iter()
        .filter(|s| s.status() == Some("available"))
        .filter(|s| {
            s.db_instance_identifier() == Some(db.instance.as_str())
                || s.db_snapshot_identifier().is_some_and(|i| i.contains(&db.instance))
        })
        .max_by_key(|s| s.snapshot_create_time().map(|t| t.secs()))
        .and_then(|s| s.db_snapshot_arn().or(s.db_snapshot_identifier()).map(String::from))
        .ok_or_else(|| ApiError::Failed(format!("no available snapshot of {} in {}", db.instance, c.region)))?;
    let target = format!("{}-dr", db.instance);
    let mut req = c
        .rds
        .restore_db_instance_from_db_snapshot()
        .db_instance_identifier(&target)
        .db_snapshot_identifier(newest);
    if let Some(class) = &db.class {
        req = req.db_instance_class(class);
    }
    req.send()
        .await
        .map_err(|e| api_error("RestoreDBInstanceFromDBSnapshot", e))?;
    created(
        env,
        Created::DbInstance {
            region: c.region.clone(),
            id: target.clone(),
        },
    );
    wait_instance(env, &c.region, &target, false).await?;
    env.names().db_member.insert((db.id.clone(), c.region.clone()), target);
    Ok(())
}

async fn wait_cluster(env: &Env, region: &str, id: &str) -> Result<(), ApiError> {
    let c = env.clients.region(region);
    wait_until(env, || async {
        let out = c
            .rds
            .describe_db_clusters()
            .db_cluster_identifier(id)
            .send()
            .await
            .map_err(|e| api_error("DescribeDBClusters", e))?;
        Ok(out.db_clusters().first().and_then(|c| c.status()) == Some("available"))
    })
    .await
}

async fn check_table(env: &Env, t: &crate::scenario::DynamodbGlobalTable) -> Result<(), ApiError> {
    let c = &env.clients.dr;
    let out = c
        .dynamodb
        .describe_table()
        .table_name(&t.table)
        .send()
        .await
        .map_err(|e| api_error("DescribeTable", e))?;
    let table = out
        .table()
        .ok_or_else(|| ApiError::Failed(format!("{} has no table {}", c.region, t.table)))?;
    let status = table.table_status().map(|s| s.as_str().to_string()).unwrap_or_default();
    if status != "ACTIVE" {
        return Err(ApiError::Failed(format!(
            "table {} in {} is {status}, not ACTIVE",
            t.table, c.region
        )));
    }
    let replicas: Vec<&str> = table.replicas().iter().filter_map(|r| r.region_name()).collect();
    let missing: Vec<&String> = t
        .regions
        .iter()
        .filter(|r| **r != c.region && !replicas.contains(&r.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::Failed(format!(
            "global table {} in {} has no replica in {}",
            t.table,
            c.region,
            missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(())
}

pub async fn check_replication(env: &Env, b: &crate::scenario::S3Bucket) -> Result<(), ApiError> {
    let out = env
        .clients
        .primary
        .s3
        .get_bucket_replication()
        .bucket(&b.bucket)
        .send()
        .await
        .map_err(|e| api_error("GetBucketReplication", e))?;
    let cfg = out
        .replication_configuration()
        .ok_or_else(|| ApiError::Failed(format!("bucket {} has no replication configuration", b.bucket)))?;
    let want = b.replication.as_ref().map(|r| r.destination.clone());
    let enabled: Vec<_> = cfg
        .rules()
        .iter()
        .filter(|r| r.status().as_str() == "Enabled")
        .collect();
    let Some(rule) = enabled.iter().find(|r| {
        want.as_deref()
            .is_none_or(|w| r.destination().is_some_and(|d| d.bucket().ends_with(w)))
    }) else {
        return Err(ApiError::Failed(format!(
            "bucket {}: no enabled replication rule to {}",
            b.bucket,
            want.as_deref().unwrap_or("a destination")
        )));
    };
    if b.replication.as_ref().is_some_and(|r| r.rtc) {
        let rtc = rule
            .destination()
            .and_then(|d| d.replication_time())
            .is_some_and(|t| t.status().as_str() == "Enabled");
        if !rtc {
            return Err(ApiError::Failed(format!(
                "bucket {}: Replication Time Control is not enabled on the rule",
                b.bucket
            )));
        }
    }
    Ok(())
}

/// The runbook's replication check, on the destination in the DR region (the source's region
/// may be the one down): the replica bucket exists and answers there. (`check_replication`
/// reads the source's rule: the readiness check, before any fault.)
async fn check_replica(env: &Env, b: &crate::scenario::S3Bucket) -> Result<(), ApiError> {
    let Some(rep) = &b.replication else {
        return Err(ApiError::Failed(format!(
            "bucket {} has no `replication` in the scenario: there is no replica to check",
            b.bucket
        )));
    };
    env.clients
        .dr
        .s3
        .head_bucket()
        .bucket(rep.replica_bucket())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| api_error("HeadBucket", e))
}

async fn scale_ecs(env: &Env, region: &str, cluster: &str, service: &str, desired: u32) -> Result<(), ApiError> {
    let c = env.clients.region(region);
    c.ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .desired_count(desired as i32)
        .send()
        .await
        .map_err(|e| api_error("UpdateService", e))?;
    wait_until(env, || async {
        let out = c
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| api_error("DescribeServices", e))?;
        Ok(out
            .services()
            .first()
            .is_some_and(|s| s.running_count() >= desired as i32))
    })
    .await
}

async fn scale_asg(env: &Env, region: &str, name: &str, desired: u32, min: Option<u32>) -> Result<(), ApiError> {
    let c = env.clients.region(region);
    let mut req = c
        .asg
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .desired_capacity(desired as i32);
    if let Some(m) = min {
        req = req.min_size(m as i32);
    }
    req.send().await.map_err(|e| api_error("UpdateAutoScalingGroup", e))?;
    wait_until(env, || async {
        Ok(in_service(env, region, name).await? >= desired as usize)
    })
    .await
}

/// InService instances of an Auto Scaling group.
pub async fn in_service(env: &Env, region: &str, name: &str) -> Result<usize, ApiError> {
    let out = env
        .clients
        .region(region)
        .asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|e| api_error("DescribeAutoScalingGroups", e))?;
    Ok(out.auto_scaling_groups().first().map_or(0, |g| {
        g.instances()
            .iter()
            .filter(|i| i.lifecycle_state().is_some_and(|s| s.as_str() == "InService"))
            .count()
    }))
}

/// The record set of a Route 53 record resource that answers for the primary region.
pub fn record_set(
    env: &Env,
    record: &str,
    answer_region: &str,
    for_region: &str,
) -> Result<ResourceRecordSet, ApiError> {
    let s = &env.scenario;
    let Some(Resource::Route53Record(r)) = s.resource(record) else {
        return Err(ApiError::Failed(format!("`{record}` is not a Route 53 record")));
    };
    let names = env.names();
    if let (Some(mine), Some(answer)) = (
        names.record_sets.get(&(record.to_string(), for_region.to_string())),
        names.record_sets.get(&(record.to_string(), answer_region.to_string())),
    ) {
        // The user's own set, answering as the other region's set does (alias target or
        // values), everything else kept.
        let mut set = mine.clone();
        set.alias_target = answer.alias_target.clone();
        set.resource_records = answer.resource_records.clone();
        set.ttl = if set.alias_target.is_some() {
            None
        } else {
            answer.ttl.or(mine.ttl)
        };
        return Ok(set);
    }
    let endpoint = names.endpoint.get(answer_region).cloned().unwrap_or_else(|| {
        format!(
            "{}.{answer_region}.elb.amazonaws.com",
            r.record.split('.').next().unwrap_or("app")
        )
    });
    let mut b = ResourceRecordSet::builder()
        .name(&r.record)
        .r#type(RrType::Cname)
        .ttl(r.ttl.secs().round().max(0.0) as i64)
        .set_identifier(for_region)
        .resource_records(
            ResourceRecord::builder()
                .value(endpoint)
                .build()
                .map_err(|e| ApiError::Failed(e.to_string()))?,
        );
    b = match r.routing {
        Routing::Failover => b.failover(if for_region == s.topology.primary_region {
            ResourceRecordSetFailover::Primary
        } else {
            ResourceRecordSetFailover::Secondary
        }),
        Routing::Latency => b.region(aws_sdk_route53::types::ResourceRecordSetRegion::from(for_region)),
    };
    if let Some(hc) = names.health_check.get(&(record.to_string(), for_region.to_string())) {
        b = b.health_check_id(hc);
    }
    b.build().map_err(|e| ApiError::Failed(e.to_string()))
}

/// UPSERTs record sets and waits until the change is INSYNC.
pub async fn upsert(env: &Env, record: &str, sets: Vec<ResourceRecordSet>) -> Result<(), ApiError> {
    let zone = env
        .names()
        .zone
        .get(record)
        .cloned()
        .ok_or_else(|| ApiError::Failed(format!("no hosted zone known for `{record}`")))?;
    let mut batch = ChangeBatch::builder().comment("drillbit");
    for set in sets {
        batch = batch.changes(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(set)
                .build()
                .map_err(|e| ApiError::Failed(e.to_string()))?,
        );
    }
    let out = env
        .clients
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch.build().map_err(|e| ApiError::Failed(e.to_string()))?)
        .send()
        .await
        .map_err(|e| api_error("ChangeResourceRecordSets", e))?;
    let id = out.change_info().map(|c| c.id().to_string()).unwrap_or_default();
    wait_until(env, || async {
        let c = env
            .clients
            .route53
            .get_change()
            .id(&id)
            .send()
            .await
            .map_err(|e| api_error("GetChange", e))?;
        Ok(c.change_info().is_some_and(|i| *i.status() == ChangeStatus::Insync))
    })
    .await
}

/// The runbook's traffic switch: the primary region's record set answers with `to`'s endpoint.
async fn point_record(env: &Env, record: &str, to: &str) -> Result<(), ApiError> {
    let set = record_set(env, record, to, env.primary())?;
    upsert(env, record, vec![set]).await
}
