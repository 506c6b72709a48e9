//! Stands a scenario's topology up in an emulator (both regions), so the runbook has real
//! resources to act on. Only for emulators: a live account's resources already exist, and
//! drillbit never creates infrastructure there.

pub mod data;

use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType};

use super::actions::{record_set, upsert, Env};
use super::deprovision::{created, refuse_existing, refuse_existing_zone, Created};
use super::{api_error, ApiError};
use crate::scenario::{Resource, Routing};

/// The fake load balancer endpoint that serves a region.
pub fn endpoint(app: &str, region: &str) -> String {
    format!("{app}-alb.{region}.elb.amazonaws.com")
}

/// What provisioning created, for the drill's report.
#[derive(Debug, Default, Clone)]
pub struct Provisioned {
    pub calls: Vec<String>,
}

/// Creates every resource of the scenario the emulator can hold. Resources bound to
/// something existing (`bind:`) are left alone.
pub async fn provision(env: &Env) -> Result<Provisioned, ApiError> {
    let s = env.scenario.clone();
    let (p, d) = (s.topology.primary_region.clone(), s.topology.dr_region.clone());
    let mut done = Provisioned::default();
    let (account, _) = env.clients.caller().await?;
    env.names().account = if account.is_empty() {
        "123456789012".into()
    } else {
        account
    };
    let app = s.name.clone();
    for region in [&p, &d] {
        env.names().endpoint.insert(region.clone(), endpoint(&app, region));
    }
    for r in &s.topology.resources {
        match r {
            Resource::RdsInstance(db) if db.bind.is_none() => {
                let region = env.side_region(db.side, false);
                let item = Created::DbInstance {
                    region: region.clone(),
                    id: db.instance.clone(),
                };
                refuse_existing(env, &item).await?;
                let engine = if db.engine.contains("mysql") {
                    "mysql"
                } else {
                    "postgres"
                };
                env.clients
                    .region(&region)
                    .rds
                    .create_db_instance()
                    .db_instance_identifier(&db.instance)
                    .db_instance_class(db.class.as_deref().unwrap_or("db.r6g.large"))
                    .engine(engine)
                    .allocated_storage(db.storage_gib.unwrap_or(100.0).round().max(20.0) as i32)
                    .master_username("drillbit")
                    .master_user_password("drillbit-emulator")
                    .multi_az(db.multi_az)
                    .backup_retention_period(
                        db.backups
                            .as_ref()
                            .map_or(7, |b| (b.retention.secs() / 86_400.0).round().clamp(1.0, 35.0) as i32),
                    )
                    .send()
                    .await
                    .map_err(|e| api_error("CreateDBInstance", e))?;
                created(env, item);
                done.calls
                    .push(format!("rds:CreateDBInstance {} ({region})", db.instance));
            }
            Resource::AuroraGlobal(a) if a.bind.is_none() => {
                let global = Created::GlobalCluster {
                    region: p.clone(),
                    id: a.global_cluster.clone(),
                };
                refuse_existing(env, &global).await?;
                for (region, cluster) in [(&p, &a.primary_cluster), (&d, &a.secondary_cluster)] {
                    let member = Created::DbCluster {
                        region: region.clone(),
                        id: cluster.clone(),
                        global: None,
                    };
                    refuse_existing(env, &member).await?;
                }
                let c = &env.clients.primary;
                c.rds
                    .create_global_cluster()
                    .global_cluster_identifier(&a.global_cluster)
                    .engine(&a.engine)
                    .send()
                    .await
                    .map_err(|e| api_error("CreateGlobalCluster", e))?;
                created(
                    env,
                    Created::GlobalCluster {
                        region: p.clone(),
                        id: a.global_cluster.clone(),
                    },
                );
                for (region, cluster) in [(&p, &a.primary_cluster), (&d, &a.secondary_cluster)] {
                    let mut req = env
                        .clients
                        .region(region)
                        .rds
                        .create_db_cluster()
                        .db_cluster_identifier(cluster)
                        .engine(&a.engine)
                        .global_cluster_identifier(&a.global_cluster);
                    if region == &p {
                        req = req
                            .master_username("drillbit")
                            .master_user_password("drillbit-emulator");
                    }
                    req.send().await.map_err(|e| api_error("CreateDBCluster", e))?;
                    created(
                        env,
                        Created::DbCluster {
                            region: region.clone(),
                            id: cluster.clone(),
                            global: Some(a.global_cluster.clone()),
                        },
                    );
                    done.calls.push(format!("rds:CreateDBCluster {cluster} ({region})"));
                }
            }
            Resource::DynamodbGlobalTable(t) if t.bind.is_none() => data::global_table(env, t, &mut done).await?,
            Resource::ElasticacheGlobal(g) => data::global_datastore(env, g, &mut done).await?,
            Resource::S3Bucket(b) if b.bind.is_none() => {
                use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
                let mut buckets = vec![(p.clone(), b.bucket.clone())];
                if let Some(rep) = &b.replication {
                    buckets.push((d.clone(), rep.replica_bucket().to_string()));
                }
                for (region, bucket) in &buckets {
                    let item = Created::Bucket {
                        region: region.clone(),
                        name: bucket.clone(),
                    };
                    refuse_existing(env, &item).await?;
                    let c = env.clients.region(region);
                    let mut req = c.s3.create_bucket().bucket(bucket);
                    if region != "us-east-1" {
                        req = req.create_bucket_configuration(
                            CreateBucketConfiguration::builder()
                                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                                .build(),
                        );
                    }
                    req.send().await.map_err(|e| api_error("CreateBucket", e))?;
                    created(
                        env,
                        Created::Bucket {
                            region: region.clone(),
                            name: bucket.clone(),
                        },
                    );
                    c.s3.put_bucket_versioning()
                        .bucket(bucket)
                        .versioning_configuration(
                            aws_sdk_s3::types::VersioningConfiguration::builder()
                                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| api_error("PutBucketVersioning", e))?;
                    done.calls.push(format!("s3:CreateBucket {bucket} ({region})"));
                }
                if let Some(rep) = &b.replication {
                    put_replication(env, &b.bucket, &rep.destination, rep.rtc).await?;
                    done.calls.push(format!("s3:PutBucketReplication {}", b.bucket));
                }
            }
            Resource::EcsService(e) if e.bind.is_none() => {
                for (region, side) in [(&p, &e.primary), (&d, &e.dr)] {
                    for item in [
                        Created::EcsCluster {
                            region: region.clone(),
                            name: side.cluster.clone(),
                        },
                        Created::EcsService {
                            region: region.clone(),
                            cluster: side.cluster.clone(),
                            name: side.service.clone(),
                        },
                    ] {
                        refuse_existing(env, &item).await?;
                    }
                    if region == &d && super::iac::deployed_by_runbook(&s, &e.id) {
                        done.calls.push(format!(
                            "ecs: {}/{} left to the runbook's iac.deploy ({d})",
                            side.cluster, side.service
                        ));
                        continue;
                    }
                    let c = env.clients.region(region);
                    c.ecs
                        .create_cluster()
                        .cluster_name(&side.cluster)
                        .send()
                        .await
                        .map_err(|e| api_error("CreateCluster", e))?;
                    created(
                        env,
                        Created::EcsCluster {
                            region: region.clone(),
                            name: side.cluster.clone(),
                        },
                    );
                    let family = side.task_definition.clone().unwrap_or(side.service.clone());
                    let family = family.split(':').next().unwrap_or(&family).to_string();
                    let registered = c
                        .ecs
                        .register_task_definition()
                        .family(&family)
                        .container_definitions(
                            aws_sdk_ecs::types::ContainerDefinition::builder()
                                .name("app")
                                .image("public.ecr.aws/docker/library/nginx:stable")
                                .memory(512)
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| api_error("RegisterTaskDefinition", e))?;
                    if let Some(arn) = registered.task_definition().and_then(|t| t.task_definition_arn()) {
                        created(
                            env,
                            Created::TaskFamily {
                                region: region.clone(),
                                family: family.clone(),
                                arn: arn.to_string(),
                            },
                        );
                    }
                    c.ecs
                        .create_service()
                        .cluster(&side.cluster)
                        .service_name(&side.service)
                        .task_definition(&family)
                        .desired_count(side.desired as i32)
                        .send()
                        .await
                        .map_err(|e| api_error("CreateService", e))?;
                    created(
                        env,
                        Created::EcsService {
                            region: region.clone(),
                            cluster: side.cluster.clone(),
                            name: side.service.clone(),
                        },
                    );
                    // Some emulators start a new service with no running task: ask again for the
                    // desired count, the way a deployment settles.
                    c.ecs
                        .update_service()
                        .cluster(&side.cluster)
                        .service(&side.service)
                        .desired_count(side.desired as i32)
                        .send()
                        .await
                        .map_err(|e| api_error("UpdateService", e))?;
                    done.calls.push(format!(
                        "ecs:CreateService {}/{} desired={} ({region})",
                        side.cluster, side.service, side.desired
                    ));
                }
            }
            Resource::AutoScalingGroup(g) if g.bind.is_none() => {
                for (region, side) in [(&p, &g.primary), (&d, &g.dr)] {
                    let c = env.clients.region(region);
                    let lc = format!("{}-lc", side.name);
                    for item in [
                        Created::LaunchConfiguration {
                            region: region.clone(),
                            name: lc.clone(),
                        },
                        Created::AutoScalingGroup {
                            region: region.clone(),
                            name: side.name.clone(),
                        },
                    ] {
                        refuse_existing(env, &item).await?;
                    }
                    if region == &d && super::iac::deployed_by_runbook(&s, &g.id) {
                        done.calls.push(format!(
                            "autoscaling: {} left to the runbook's iac.deploy ({d})",
                            side.name
                        ));
                        continue;
                    }
                    c.asg
                        .create_launch_configuration()
                        .launch_configuration_name(&lc)
                        .image_id("ami-12c6146b")
                        .instance_type("t3.medium")
                        .send()
                        .await
                        .map_err(|e| api_error("CreateLaunchConfiguration", e))?;
                    created(
                        env,
                        Created::LaunchConfiguration {
                            region: region.clone(),
                            name: lc.clone(),
                        },
                    );
                    let min = side.min.unwrap_or(0);
                    let max = side.max.unwrap_or(side.desired.max(min).max(1) * 4);
                    c.asg
                        .create_auto_scaling_group()
                        .auto_scaling_group_name(&side.name)
                        .launch_configuration_name(&lc)
                        .min_size(min as i32)
                        .max_size(max as i32)
                        .desired_capacity(side.desired as i32)
                        .availability_zones(format!("{region}a"))
                        .send()
                        .await
                        .map_err(|e| api_error("CreateAutoScalingGroup", e))?;
                    created(
                        env,
                        Created::AutoScalingGroup {
                            region: region.clone(),
                            name: side.name.clone(),
                        },
                    );
                    done.calls.push(format!(
                        "autoscaling:CreateAutoScalingGroup {} desired={} ({region})",
                        side.name, side.desired
                    ));
                }
            }
            Resource::Route53Record(rec) if rec.bind.is_none() => {
                let zone_name = rec.record.split_once('.').map_or(rec.record.as_str(), |(_, z)| z);
                refuse_existing_zone(env, zone_name).await?;
                let zone = env
                    .clients
                    .route53
                    .create_hosted_zone()
                    .name(zone_name)
                    .caller_reference(format!("drillbit-{}-{}", rec.id, std::process::id()))
                    .send()
                    .await
                    .map_err(|e| api_error("CreateHostedZone", e))?;
                let id = zone
                    .hosted_zone()
                    .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
                    .unwrap_or_default();
                created(env, Created::HostedZone { id: id.clone() });
                env.names().zone.insert(rec.id.clone(), id);
                if let Some(hc) = &rec.health_check {
                    for region in [&p, &d] {
                        let cfg = HealthCheckConfig::builder()
                            .r#type(HealthCheckType::Https)
                            .fully_qualified_domain_name(endpoint(&app, region))
                            .resource_path(hc.path.as_deref().unwrap_or("/health"))
                            .request_interval(if hc.interval.secs() <= 10.0 { 10 } else { 30 })
                            .failure_threshold(hc.failure_threshold.clamp(1, 10) as i32)
                            .build()
                            .map_err(|e| ApiError::Failed(e.to_string()))?;
                        let out = env
                            .clients
                            .route53
                            .create_health_check()
                            .caller_reference(format!("drillbit-{}-{region}-{}", rec.id, std::process::id()))
                            .health_check_config(cfg)
                            .send()
                            .await
                            .map_err(|e| api_error("CreateHealthCheck", e))?;
                        let id = out.health_check().map(|h| h.id().to_string()).unwrap_or_default();
                        created(env, Created::HealthCheck { id: id.clone() });
                        env.names().health_check.insert((rec.id.clone(), region.clone()), id);
                    }
                }
                let sets = match rec.routing {
                    Routing::Failover | Routing::Latency => {
                        vec![record_set(env, &rec.id, &p, &p)?, record_set(env, &rec.id, &d, &d)?]
                    }
                };
                upsert(env, &rec.id, sets).await?;
                done.calls.push(format!(
                    "route53:ChangeResourceRecordSets {} (2 record sets)",
                    rec.record
                ));
            }
            Resource::BackupPlan(b) => {
                use aws_sdk_backup::types::{BackupRuleInput, CopyAction, Lifecycle};
                let copy_region = b.copy_to.as_ref().and_then(|c| c.region.clone()).unwrap_or(d.clone());
                refuse_existing(
                    env,
                    &Created::BackupVault {
                        region: p.clone(),
                        name: b.vault.clone(),
                    },
                )
                .await?;
                if let Some(copy) = &b.copy_to {
                    refuse_existing(
                        env,
                        &Created::BackupVault {
                            region: copy_region.clone(),
                            name: copy.vault.clone(),
                        },
                    )
                    .await?;
                }
                create_vault(env, &p, &b.vault).await?;
                let mut rule = BackupRuleInput::builder()
                    .rule_name(format!("{}-rule", b.plan))
                    .target_backup_vault_name(&b.vault)
                    .schedule_expression(b.schedule.clone().unwrap_or("cron(0 5 ? * * *)".into()))
                    .lifecycle(
                        Lifecycle::builder()
                            .delete_after_days((b.retention.secs() / 86_400.0).round().max(1.0) as i64)
                            .build(),
                    );
                if let Some(copy) = &b.copy_to {
                    create_vault(env, &copy_region, &copy.vault).await?;
                    rule = rule.copy_actions(
                        CopyAction::builder()
                            .destination_backup_vault_arn(format!(
                                "arn:aws:backup:{copy_region}:{}:backup-vault:{}",
                                env.names().account,
                                copy.vault
                            ))
                            .lifecycle(
                                Lifecycle::builder()
                                    .delete_after_days((copy.retention.secs() / 86_400.0).round().max(1.0) as i64)
                                    .build(),
                            )
                            .build()
                            .map_err(|e| ApiError::Failed(e.to_string()))?,
                    );
                }
                let plan = env
                    .clients
                    .primary
                    .backup
                    .create_backup_plan()
                    .backup_plan(
                        aws_sdk_backup::types::BackupPlanInput::builder()
                            .backup_plan_name(&b.plan)
                            .rules(rule.build().map_err(|e| ApiError::Failed(e.to_string()))?)
                            .build()
                            .map_err(|e| ApiError::Failed(e.to_string()))?,
                    )
                    .send()
                    .await
                    .map_err(|e| api_error("CreateBackupPlan", e))?;
                if let Some(id) = plan.backup_plan_id() {
                    created(
                        env,
                        Created::BackupPlan {
                            region: p.clone(),
                            id: id.to_string(),
                        },
                    );
                }
                done.calls.push(format!("backup:CreateBackupPlan {}", b.plan));
            }
            _ => {}
        }
    }
    // A runbook that restores from a snapshot in DR needs one there: take it and copy it across,
    // as cross-region snapshot copy (or AWS Backup's copy) would have.
    for st in s.all_steps() {
        if st.action != crate::scenario::Action::RdsRestoreFromSnapshot {
            continue;
        }
        let Some(Resource::RdsInstance(db)) = st.resource.as_deref().and_then(|r| s.resource(r)) else {
            continue;
        };
        if db.bind.is_some() {
            continue;
        }
        let src_region = env.side_region(db.side, false);
        let snap = format!("{}-dr-seed", db.instance);
        env.clients
            .region(&src_region)
            .rds
            .create_db_snapshot()
            .db_instance_identifier(&db.instance)
            .db_snapshot_identifier(&snap)
            .send()
            .await
            .map_err(|e| api_error("CreateDBSnapshot", e))?;
        created(
            env,
            Created::DbSnapshot {
                region: src_region.clone(),
                id: snap.clone(),
            },
        );
        let arn = format!("arn:aws:rds:{src_region}:{}:snapshot:{snap}", env.names().account);
        env.clients
            .dr
            .rds
            .copy_db_snapshot()
            .source_db_snapshot_identifier(arn)
            .target_db_snapshot_identifier(format!("{snap}-copy"))
            .send()
            .await
            .map_err(|e| api_error("CopyDBSnapshot", e))?;
        created(
            env,
            Created::DbSnapshot {
                region: d.clone(),
                id: format!("{snap}-copy"),
            },
        );
        done.calls.push(format!(
            "rds:CreateDBSnapshot {snap} ({src_region}); rds:CopyDBSnapshot to {d}"
        ));
    }
    // Read replicas last: their sources exist by now.
    for r in &s.topology.resources {
        if let Resource::RdsReadReplica(rr) = r {
            if rr.bind.is_some() {
                continue;
            }
            let Some(Resource::RdsInstance(src)) = s.resource(&rr.source) else {
                continue;
            };
            let region = env.side_region(rr.side, true);
            let src_arn = env.rds_arn(&env.side_region(src.side, false), &src.instance);
            let mut req = env
                .clients
                .region(&region)
                .rds
                .create_db_instance_read_replica()
                .db_instance_identifier(&rr.instance)
                .source_db_instance_identifier(src_arn);
            if let Some(c) = rr.class.as_ref().or(src.class.as_ref()) {
                req = req.db_instance_class(c);
            }
            req.send()
                .await
                .map_err(|e| api_error("CreateDBInstanceReadReplica", e))?;
            created(
                env,
                Created::DbInstance {
                    region: region.clone(),
                    id: rr.instance.clone(),
                },
            );
            done.calls
                .push(format!("rds:CreateDBInstanceReadReplica {} ({region})", rr.instance));
        }
    }
    // The backup plans' recovery points, once what they protect exists.
    for r in &s.topology.resources {
        if let Resource::BackupPlan(b) = r {
            data::recovery_points(env, b, &mut done).await?;
        }
    }
    Ok(done)
}

/// Replication from `bucket` to `destination` (a bucket name or ARN).
async fn put_replication(env: &Env, bucket: &str, destination: &str, rtc: bool) -> Result<(), ApiError> {
    use aws_sdk_s3::types::{
        Destination, ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter, ReplicationRuleStatus,
        ReplicationTime, ReplicationTimeStatus, ReplicationTimeValue,
    };
    let arn = if destination.starts_with("arn:") {
        destination.to_string()
    } else {
        format!("arn:aws:s3:::{destination}")
    };
    let mut dest = Destination::builder().bucket(arn);
    if rtc {
        dest = dest.replication_time(
            ReplicationTime::builder()
                .status(ReplicationTimeStatus::Enabled)
                .time(ReplicationTimeValue::builder().minutes(15).build())
                .build()
                .map_err(|e| ApiError::Failed(e.to_string()))?,
        );
    }
    let rule = ReplicationRule::builder()
        .id("drillbit-dr")
        .priority(1)
        .status(ReplicationRuleStatus::Enabled)
        .filter(ReplicationRuleFilter::builder().prefix("").build())
        .delete_marker_replication(
            aws_sdk_s3::types::DeleteMarkerReplication::builder()
                .status(aws_sdk_s3::types::DeleteMarkerReplicationStatus::Disabled)
                .build(),
        )
        .destination(dest.build().map_err(|e| ApiError::Failed(e.to_string()))?)
        .build()
        .map_err(|e| ApiError::Failed(e.to_string()))?;
    let account = env.names().account.clone();
    env.clients
        .primary
        .s3
        .put_bucket_replication()
        .bucket(bucket)
        .replication_configuration(
            ReplicationConfiguration::builder()
                .role(format!("arn:aws:iam::{account}:role/drillbit-s3-replication"))
                .rules(rule)
                .build()
                .map_err(|e| ApiError::Failed(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| api_error("PutBucketReplication", e))?;
    Ok(())
}

/// Creates a backup vault in `region` and records it as drillbit's.
async fn create_vault(env: &Env, region: &str, name: &str) -> Result<(), ApiError> {
    env.clients
        .region(region)
        .backup
        .create_backup_vault()
        .backup_vault_name(name)
        .send()
        .await
        .map_err(|e| api_error("CreateBackupVault", e))?;
    created(
        env,
        Created::BackupVault {
            region: region.to_string(),
            name: name.to_string(),
        },
    );
    Ok(())
}
