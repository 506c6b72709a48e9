//! What clients would see, read from the provider: which region the DNS record answers with,
//! and whether a region can serve (reachable, its database a writer, its compute running, its
//! table active). The emulator target's client probe is built on these reads.

use super::actions::{describe_instance, in_service, Env};
use super::api_error;
use crate::scenario::{Resource, Routing};

/// Whether `region` serves clients now; `Err` says why not.
pub async fn region_serves(env: &Env, region: &str) -> Result<(), String> {
    let s = env.scenario.clone();
    let primary = region == s.topology.primary_region;
    let mut checked = false;
    for r in &s.topology.resources {
        match r {
            Resource::RdsInstance(db) => {
                checked = true;
                let Some(member) = env.db_member(&db.id, region) else {
                    return Err(format!("no database of `{}` in {region}", db.id));
                };
                match describe_instance(env, region, &member).await {
                    Ok(Some((status, replica))) => {
                        if status != "available" {
                            return Err(format!("{member} is {status}"));
                        }
                        let promoted = env.names().promoted.contains(&member);
                        if replica && !promoted {
                            return Err(format!("{member} is a read replica"));
                        }
                    }
                    Ok(None) => return Err(format!("{member} does not exist in {region}")),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Resource::AuroraGlobal(a) => {
                checked = true;
                let cluster = if primary {
                    &a.primary_cluster
                } else {
                    &a.secondary_cluster
                };
                let out = env
                    .clients
                    .region(region)
                    .rds
                    .describe_db_clusters()
                    .db_cluster_identifier(cluster)
                    .send()
                    .await
                    .map_err(|e| api_error("DescribeDBClusters", e).to_string())?;
                if out.db_clusters().first().and_then(|c| c.status()) != Some("available") {
                    return Err(format!("cluster {cluster} is not available"));
                }
                // The writer as the global cluster says (an emulator that fails over shows
                // it); else drillbit's own successful failover call.
                let writes = match super::data::global_writer(env, region, &a.global_cluster, cluster).await {
                    Some(w) => w,
                    None => primary != env.names().promoted.contains(&a.secondary_cluster),
                };
                if !writes {
                    return Err(format!("cluster {cluster} is not the global writer"));
                }
            }
            Resource::EcsService(e) => {
                checked = true;
                let side = if primary { &e.primary } else { &e.dr };
                let out = env
                    .clients
                    .region(region)
                    .ecs
                    .describe_services()
                    .cluster(&side.cluster)
                    .services(&side.service)
                    .send()
                    .await
                    .map_err(|e| api_error("DescribeServices", e).to_string())?;
                let running = out.services().first().map_or(0, |s| s.running_count());
                if running < e.min_healthy.max(1) as i32 {
                    return Err(format!("{}/{} runs {running} task(s)", side.cluster, side.service));
                }
            }
            Resource::AutoScalingGroup(g) => {
                checked = true;
                let name = if primary { &g.primary.name } else { &g.dr.name };
                let n = in_service(env, region, name).await.map_err(|e| e.to_string())?;
                if n < g.min_healthy.max(1) as usize {
                    return Err(format!("{name} has {n} instance(s) in service"));
                }
            }
            Resource::DynamodbGlobalTable(t) if t.regions.iter().any(|r| r == region) => {
                checked = true;
                let status = table_status(env, region, &t.table).await?;
                if status.as_deref() != Some("ACTIVE") {
                    return Err(format!(
                        "table {} in {region} is {}",
                        t.table,
                        status.unwrap_or_default()
                    ));
                }
            }
            Resource::ElasticacheGlobal(g) if g.required && env.caps.is_none_or(|c| c.extended) => {
                // Session state must be writable here: this region's member is the primary.
                checked = true;
                match super::data::datastore_primary(env, region, g).await {
                    Ok(Some(p)) if p == region => {}
                    Ok(Some(p)) => return Err(format!("the sessions' global datastore writes in {p}")),
                    Ok(None) => return Err("the sessions' global datastore is changing".into()),
                    Err(e) => return Err(e.to_string()),
                }
            }
            _ => {}
        }
    }
    if !checked {
        // Nothing to serve from but the region itself: is it reachable?
        env.clients
            .region(region)
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| api_error("GetCallerIdentity", e).to_string())?;
    }
    Ok(())
}

/// Whether a Route 53 health check reports healthy (every checker's last report a success).
pub async fn health_check_ok(env: &Env, id: &str) -> Result<bool, String> {
    let out = env
        .clients
        .route53
        .get_health_check_status()
        .health_check_id(id)
        .send()
        .await
        .map_err(|e| api_error("GetHealthCheckStatus", e).to_string())?;
    let obs = out.health_check_observations();
    Ok(!obs.is_empty()
        && obs.iter().all(|o| {
            o.status_report()
                .and_then(|r| r.status())
                .is_some_and(|s| s.starts_with("Success"))
        }))
}

/// The region a record's DNS answer sends clients to (clients sit in the primary region).
pub async fn dns_answer(env: &Env, record: &str) -> Result<String, String> {
    let s = env.scenario.clone();
    let Some(Resource::Route53Record(r)) = s.resource(record) else {
        return Err(format!("`{record}` is not a Route 53 record"));
    };
    let zone = env
        .names()
        .zone
        .get(record)
        .cloned()
        .ok_or_else(|| format!("no hosted zone for `{record}`"))?;
    let out = env
        .clients
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .map_err(|e| api_error("ListResourceRecordSets", e).to_string())?;
    let want = r.record.trim_end_matches('.');
    let endpoints = env.names().endpoint.clone();
    let region_of = |value: &str| {
        endpoints
            .iter()
            .find(|(_, e)| e.trim_end_matches('.') == value.trim_end_matches('.'))
            .map(|(region, _)| region.clone())
    };
    // (order: primary first, region answered, health check)
    let mut sets: Vec<(u8, String, Option<String>)> = Vec::new();
    for set in out.resource_record_sets() {
        if set.name().trim_end_matches('.') != want {
            continue;
        }
        let value = match (set.alias_target(), set.resource_records().first()) {
            (Some(a), _) => a.dns_name().trim_end_matches('.').to_string(),
            (None, Some(v)) => v.value().to_string(),
            (None, None) => continue,
        };
        let Some(region) = region_of(&value) else {
            continue;
        };
        let order = match r.routing {
            Routing::Failover => match set.failover().map(|f| f.as_str()) {
                Some("PRIMARY") => 0,
                _ => 1,
            },
            Routing::Latency => u8::from(set.region().map(|x| x.as_str()) != Some(s.topology.primary_region.as_str())),
        };
        sets.push((order, region, set.health_check_id().map(String::from)));
    }
    sets.sort();
    // A record that does not fail over by itself (`automatic: false`: no health-check-driven
    // failover configured) answers with its primary set, whatever the health checks say; only
    // a change of the record moves clients.
    if r.automatic == Some(false) && r.routing == Routing::Failover {
        return sets
            .first()
            .map(|(_, region, _)| region.clone())
            .ok_or_else(|| format!("no record set of {} points at a known endpoint", r.record));
    }
    for (_, region, hc) in &sets {
        let healthy = match hc {
            Some(id) => health_check_ok(env, id).await?,
            None => true,
        };
        if healthy {
            return Ok(region.clone());
        }
    }
    // Every check failing: Route 53 answers as if all were healthy (fail open).
    sets.first()
        .map(|(_, region, _)| region.clone())
        .ok_or_else(|| format!("no record set of {} points at a known endpoint", r.record))
}

/// A DynamoDB table's status in `region` (`ACTIVE`, `UPDATING`, ...).
pub async fn table_status(env: &Env, region: &str, table: &str) -> Result<Option<String>, String> {
    let out = env
        .clients
        .region(region)
        .dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| api_error("DescribeTable", e).to_string())?;
    Ok(out
        .table()
        .and_then(|t| t.table_status())
        .map(|s| s.as_str().to_string()))
}
