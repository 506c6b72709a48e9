//! The readiness check (`drillbit check`): without injecting anything, is the DR side there and
//! does it match the scenario? The seed's "weekly automated DR health check" and its "DR
//! resources not maintained" mistake, as API reads.

use super::actions::Env;
use super::{api_error, ApiError};
use crate::scenario::{Resource, Routing};

/// One thing the check looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub resource: String,
    pub what: String,
    /// None: ready; Some: the drift found.
    pub drift: Option<String>,
}

/// Fills what the provider assigned (account, hosted zones, health checks, endpoints) from the
/// live environment, for a topology drillbit did not provision.
pub async fn discover(env: &Env) -> Result<(), ApiError> {
    discover_records(env, false).await
}

/// As [`discover`], for the records bound to existing ones only (an emulator drill provisions
/// the others itself).
pub async fn discover_bound(env: &Env) -> Result<(), ApiError> {
    discover_records(env, true).await
}

async fn discover_records(env: &Env, bound_only: bool) -> Result<(), ApiError> {
    let s = env.scenario.clone();
    env.names().account = env.clients.caller().await?.0;
    for r in &s.topology.resources {
        let Resource::Route53Record(rec) = r else { continue };
        if bound_only && rec.bind.is_none() {
            continue;
        }
        let zone = match &rec.hosted_zone_id {
            Some(z) => Some(z.clone()),
            None => {
                let domain = rec.record.split_once('.').map_or(rec.record.as_str(), |(_, z)| z);
                let out = env
                    .clients
                    .route53
                    .list_hosted_zones_by_name()
                    .dns_name(domain)
                    .send()
                    .await
                    .map_err(|e| api_error("ListHostedZonesByName", e))?;
                out.hosted_zones()
                    .iter()
                    .find(|z| z.name().trim_end_matches('.') == domain.trim_end_matches('.'))
                    .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
            }
        };
        let Some(zone) = zone else { continue };
        env.names().zone.insert(rec.id.clone(), zone.clone());
        let sets = env
            .clients
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(&zone)
            .send()
            .await
            .map_err(|e| api_error("ListResourceRecordSets", e))?;
        for set in sets.resource_record_sets() {
            if set.name().trim_end_matches('.') != rec.record.trim_end_matches('.') {
                continue;
            }
            let region = match rec.routing {
                Routing::Failover => match set.failover().map(|f| f.as_str()) {
                    Some("PRIMARY") => s.topology.primary_region.clone(),
                    Some(_) => s.topology.dr_region.clone(),
                    None => continue,
                },
                Routing::Latency => match set.region() {
                    Some(r) => r.as_str().to_string(),
                    None => continue,
                },
            };
            if let Some(hc) = set.health_check_id() {
                env.names()
                    .health_check
                    .insert((rec.id.clone(), region.clone()), hc.to_string());
            }
            let answer = match (set.alias_target(), set.resource_records().first()) {
                (Some(a), _) => Some(a.dns_name().trim_end_matches('.').to_string()),
                (None, Some(v)) => Some(v.value().to_string()),
                (None, None) => None,
            };
            if let Some(v) = answer {
                env.names().endpoint.entry(region.clone()).or_insert(v);
            }
            env.names()
                .record_sets
                .entry((rec.id.clone(), region))
                .or_insert_with(|| set.clone());
        }
    }
    Ok(())
}

/// Why a failover record looks failed over already: its primary record set gives the same
/// answer as the DR set (a failover that was never failed back). A drill from there would
/// measure nothing, and `discover` could not tell the regions' endpoints apart.
pub fn failed_over(env: &Env, rec: &crate::scenario::Route53Record) -> Option<String> {
    if rec.routing != Routing::Failover {
        return None;
    }
    let s = &env.scenario;
    let names = env.names();
    let (p, d) = (&s.topology.primary_region, &s.topology.dr_region);
    match (names.endpoint.get(p), names.endpoint.get(d)) {
        (Some(a), Some(b)) if a == b => Some(format!(
            "{}: the {p} (primary) record set answers {a}, the same as the {d} set: the traffic is still failed over; fail back first",
            rec.record
        )),
        _ => None,
    }
}

/// Checks every resource of the scenario; reads only.
pub async fn check(env: &Env) -> Vec<Item> {
    let s = env.scenario.clone();
    let (p, d) = (s.topology.primary_region.clone(), s.topology.dr_region.clone());
    let mut items = Vec::new();
    let mut item = |resource: &str, what: String, r: Result<(), String>| {
        items.push(Item {
            resource: resource.to_string(),
            what,
            drift: r.err(),
        })
    };
    for r in &s.topology.resources {
        match r {
            Resource::EcsService(_) | Resource::AutoScalingGroup(_) if super::iac::deployed_by_runbook(&s, r.id()) => {
                // Backup and restore: the DR side does not exist before the drill; the
                // runbook's iac.deploy makes it.
                item(
                    r.id(),
                    format!("DR side deployed by the runbook's iac.deploy (nothing runs in {d} before the drill)"),
                    Ok(()),
                );
            }
            Resource::RdsReadReplica(rr) => {
                let region = env.side_region(rr.side, true);
                let src = s.resource(&rr.source).and_then(|x| match x {
                    Resource::RdsInstance(db) => Some(db.instance.clone()),
                    _ => None,
                });
                let res = match super::actions::describe_instance_full(env, &region, &rr.instance).await {
                    Ok(Some((status, source))) => match (status.as_str(), source) {
                        ("available", Some(from)) if src.as_ref().is_none_or(|s| from.ends_with(s.as_str())) => Ok(()),
                        ("available", Some(from)) => {
                            Err(format!("replicates from {from}, not {}", src.unwrap_or_default()))
                        }
                        ("available", None) => Err("is not a read replica (promoted, or never one)".into()),
                        (other, _) => Err(format!("is {other}")),
                    },
                    Ok(None) => Err(format!("does not exist in {region}")),
                    Err(e) => Err(e.to_string()),
                };
                item(
                    &rr.id,
                    format!("read replica {} in {region} replicating", rr.instance),
                    res,
                );
            }
            Resource::AuroraGlobal(a) => {
                let res = async {
                    let out = env
                        .clients
                        .primary
                        .rds
                        .describe_global_clusters()
                        .global_cluster_identifier(&a.global_cluster)
                        .send()
                        .await
                        .map_err(|e| api_error("DescribeGlobalClusters", e).to_string())?;
                    let members: Vec<String> = out
                        .global_clusters()
                        .first()
                        .map(|g| {
                            g.global_cluster_members()
                                .iter()
                                .filter_map(|m| m.db_cluster_arn().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                    if members
                        .iter()
                        .any(|m| m.ends_with(&format!(":cluster:{}", a.secondary_cluster)))
                    {
                        Ok(())
                    } else {
                        Err(format!(
                            "{} is not a member of {}",
                            a.secondary_cluster, a.global_cluster
                        ))
                    }
                }
                .await;
                item(&a.id, format!("secondary cluster {} in {d}", a.secondary_cluster), res);
            }
            Resource::EcsService(e) => {
                let c = env.clients.region(&d);
                let res = async {
                    let out = c
                        .ecs
                        .describe_services()
                        .cluster(&e.dr.cluster)
                        .services(&e.dr.service)
                        .send()
                        .await
                        .map_err(|x| api_error("DescribeServices", x).to_string())?;
                    let Some(svc) = out.services().iter().find(|s| s.status() == Some("ACTIVE")) else {
                        return Err(format!(
                            "service {}/{} does not exist in {d}",
                            e.dr.cluster, e.dr.service
                        ));
                    };
                    let td = svc.task_definition().unwrap_or_default().to_string();
                    c.ecs
                        .describe_task_definition()
                        .task_definition(&td)
                        .send()
                        .await
                        .map_err(|x| format!("task definition {td}: {}", api_error("DescribeTaskDefinition", x)))?;
                    Ok(())
                }
                .await;
                item(
                    &e.id,
                    format!("DR service {}/{} and its task definition", e.dr.cluster, e.dr.service),
                    res,
                );
            }
            Resource::AutoScalingGroup(g) => {
                let res = async {
                    let out = env
                        .clients
                        .dr
                        .asg
                        .describe_auto_scaling_groups()
                        .auto_scaling_group_names(&g.dr.name)
                        .send()
                        .await
                        .map_err(|x| api_error("DescribeAutoScalingGroups", x).to_string())?;
                    if out.auto_scaling_groups().is_empty() {
                        Err(format!("{} does not exist in {d}", g.dr.name))
                    } else {
                        Ok(())
                    }
                }
                .await;
                item(&g.id, format!("DR Auto Scaling group {}", g.dr.name), res);
            }
            Resource::Route53Record(rec) => {
                let names = env.names().clone();
                let res = if !names.zone.contains_key(&rec.id) {
                    Err(format!("no hosted zone found for {}", rec.record))
                } else if rec.health_check.is_some() && !names.health_check.contains_key(&(rec.id.clone(), p.clone())) {
                    Err(format!("the {p} record of {} has no health check attached", rec.record))
                } else if !names.endpoint.contains_key(&d) {
                    Err(format!("{} has no record set answering for {d}", rec.record))
                } else if let Some(why) = failed_over(env, rec) {
                    Err(why)
                } else {
                    Ok(())
                };
                item(
                    &rec.id,
                    format!("{} record with health check and a {d} answer", rec.record),
                    res,
                );
            }
            Resource::BackupPlan(b) => {
                let res = check_backup_plan(env, b, s.requirements.as_ref().and_then(|r| r.retention)).await;
                item(&b.id, format!("backup plan {} copies to the DR vault", b.plan), res);
                if let Some((what, res)) = check_recovery_point(env, b).await {
                    item(&b.id, what, res);
                }
            }
            Resource::S3Bucket(b) if b.replication.is_some() => {
                let res = super::actions::check_replication(env, b)
                    .await
                    .map_err(|e| e.to_string());
                item(&b.id, format!("bucket {} replication rule enabled", b.bucket), res);
            }
            Resource::DynamodbGlobalTable(t) => {
                for region in &t.regions {
                    let res = match super::observe::table_status(env, region, &t.table).await {
                        Ok(Some(s)) if s == "ACTIVE" => Ok(()),
                        Ok(other) => Err(format!("is {}", other.unwrap_or_default())),
                        Err(e) => Err(e),
                    };
                    item(&t.id, format!("table {} active in {region}", t.table), res);
                }
            }
            _ => {}
        }
    }
    items
}

/// Whether the DR vault holds a recovery point of each RDS instance the plan protects (what a
/// restore in DR needs); None when the plan protects no RDS instance.
async fn check_recovery_point(env: &Env, b: &crate::scenario::BackupPlan) -> Option<(String, Result<(), String>)> {
    let s = env.scenario.clone();
    let instances: Vec<String> = b
        .resources
        .iter()
        .filter_map(|r| match s.resource(r) {
            Some(Resource::RdsInstance(db)) => Some(db.instance.clone()),
            _ => None,
        })
        .collect();
    if instances.is_empty() {
        return None;
    }
    let region = b
        .copy_to
        .as_ref()
        .and_then(|c| c.region.clone())
        .unwrap_or_else(|| env.dr().to_string());
    let vault = b.copy_to.as_ref().map_or(b.vault.clone(), |c| c.vault.clone());
    let what = format!(
        "a recovery point of {} in vault {vault} ({region})",
        instances.join(", ")
    );
    let res = async {
        let out = env
            .clients
            .region(&region)
            .backup
            .list_recovery_points_by_backup_vault()
            .backup_vault_name(&vault)
            .send()
            .await
            .map_err(|e| api_error("ListRecoveryPointsByBackupVault", e).to_string())?;
        let missing: Vec<&String> = instances
            .iter()
            .filter(|i| {
                !out.recovery_points().iter().any(|p| {
                    p.resource_arn().is_some_and(|a| a.ends_with(&format!(":db:{i}")))
                        && p.status().map(|s| s.as_str()) == Some("COMPLETED")
                })
            })
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "none of {}: the runbook's restore would have nothing to restore",
                missing.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
            ))
        }
    }
    .await;
    Some((what, res))
}

async fn check_backup_plan(
    env: &Env,
    b: &crate::scenario::BackupPlan,
    required: Option<crate::scenario::PosDur>,
) -> Result<(), String> {
    let c = &env.clients.primary.backup;
    let plans = c
        .list_backup_plans()
        .send()
        .await
        .map_err(|e| api_error("ListBackupPlans", e).to_string())?;
    let Some(id) = plans
        .backup_plans_list()
        .iter()
        .find(|p| p.backup_plan_name() == Some(b.plan.as_str()))
        .and_then(|p| p.backup_plan_id().map(String::from))
    else {
        return Err(format!("no backup plan named {}", b.plan));
    };
    let plan = c
        .get_backup_plan()
        .backup_plan_id(id)
        .send()
        .await
        .map_err(|e| api_error("GetBackupPlan", e).to_string())?;
    let rules = plan.backup_plan().map(|p| p.rules().to_vec()).unwrap_or_default();
    let days = |secs: f64| (secs / 86_400.0).round() as i64;
    let want = days(required.map_or(b.retention.secs(), |r| r.secs().max(b.retention.secs())));
    let kept = rules
        .iter()
        .filter_map(|r| r.lifecycle().and_then(|l| l.delete_after_days()))
        .max()
        .unwrap_or(i64::MAX);
    if kept < want {
        return Err(format!("recovery points are kept {kept} days, {want} required"));
    }
    if let Some(copy) = &b.copy_to {
        let copies: Vec<_> = rules.iter().flat_map(|r| r.copy_actions().to_vec()).collect();
        let Some(ca) = copies.iter().find(|ca| {
            ca.destination_backup_vault_arn()
                .ends_with(&format!(":backup-vault:{}", copy.vault))
        }) else {
            return Err(format!("no rule copies to the DR vault {}", copy.vault));
        };
        let copy_kept = ca.lifecycle().and_then(|l| l.delete_after_days()).unwrap_or(i64::MAX);
        if copy_kept < days(copy.retention.secs()) {
            return Err(format!(
                "copies in {} are kept {copy_kept} days, {} required",
                copy.vault,
                days(copy.retention.secs())
            ));
        }
    }
    Ok(())
}
