//! AWS FIS experiment templates from a scenario's faults (`drillbit fis-template FILE`).
//!
//! The JSON is the input of CreateExperimentTemplate: each fault becomes an FIS action that
//! starts after an `aws:fis:wait` of the fault's `at` (actions run in parallel unless chained
//! with `startAfter`), acting on targets named by ARN (databases, clusters, buckets, tables) or
//! selected by tag (subnets, ECS tasks). Stop conditions are the scenario's CloudWatch alarms.
//! A fault FIS has no action for is listed in [`Template::skipped`] with the reason, never
//! silently dropped.

use serde_json::{json, Map, Value};

use crate::scenario::{FaultType, Resource, Scenario};

pub struct Template {
    pub json: Value,
    /// Faults with no FIS action, and why.
    pub skipped: Vec<(String, String)>,
}

/// ISO 8601 duration for FIS parameters (PT2M, PT30S, PT1H).
pub fn iso_duration(secs: f64) -> String {
    let s = secs.round().max(0.0) as u64;
    if s == 0 {
        "PT0S".into()
    } else if s % 3600 == 0 {
        format!("PT{}H", s / 3600)
    } else if s % 60 == 0 {
        format!("PT{}M", s / 60)
    } else {
        format!("PT{s}S")
    }
}

pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Builds the template. `account` fills ARNs (the allow-listed account, or the emulator's).
pub fn template(s: &Scenario, account: &str) -> Template {
    let settings = s.aws.clone().unwrap_or_default();
    let mut targets = Map::new();
    let mut actions = Map::new();
    let mut skipped = Vec::new();
    // How long the fault lasts: its duration, else until the drill's horizon.
    let horizon = s.drill.horizon.secs().min(12.0 * 3600.0);
    for f in &s.faults {
        let id = slug(&f.id);
        let lasts = f.duration.map_or(horizon, |d| d.secs());
        let wait = format!("wait-{id}");
        let mut start_after = Vec::new();
        if f.at.secs() > 0.0 {
            actions.insert(
                wait.clone(),
                json!({
                    "actionId": "aws:fis:wait",
                    "description": format!("until fault {} at {}s", f.id, f.at.secs()),
                    "parameters": { "duration": iso_duration(f.at.secs()) }
                }),
            );
            start_after.push(Value::String(wait));
        }
        let res = f.resource.as_deref().and_then(|r| s.resource(r));
        let region = f.region.clone().unwrap_or(s.topology.primary_region.clone());
        let subnets = |targets: &mut Map<String, Value>, name: &str, az: Option<&str>| {
            let mut t = json!({ "resourceType": "aws:ec2:subnet", "selectionMode": "ALL" });
            match settings.subnets.get(&region) {
                Some(ids) if !ids.is_empty() => {
                    t["resourceArns"] = json!(ids
                        .iter()
                        .map(|i| format!("arn:aws:ec2:{region}:{account}:subnet/{i}"))
                        .collect::<Vec<_>>());
                }
                _ => t["resourceTags"] = json!({ "drillbit:region": region }),
            }
            if let Some(az) = az {
                t["filters"] = json!([{ "path": "AvailabilityZone", "values": [az] }]);
            }
            targets.insert(name.to_string(), t);
        };
        let mut action = |name: String, action_id: &str, target_key: Option<(&str, String)>, params: Value| {
            let mut a = json!({
                "actionId": action_id,
                "description": format!("drillbit fault {} ({})", f.id, f.kind.as_str()),
                "parameters": params,
                "startAfter": start_after.clone(),
            });
            if let Some((k, t)) = target_key {
                a["targets"] = json!({ k: t });
            }
            if start_after.is_empty() {
                if let Some(o) = a.as_object_mut() {
                    o.remove("startAfter");
                }
            }
            actions.insert(name, a);
        };
        match (f.kind, res) {
            (FaultType::RegionOutage, _) => {
                let t = format!("subnets-{id}");
                subnets(&mut targets, &t, None);
                action(
                    id.clone(),
                    "aws:network:disrupt-connectivity",
                    Some(("Subnets", t)),
                    json!({ "duration": iso_duration(lasts), "scope": "all" }),
                );
            }
            (FaultType::AzOutage, _) => {
                let t = format!("subnets-{id}");
                subnets(&mut targets, &t, f.az.as_deref());
                action(
                    id.clone(),
                    "aws:network:disrupt-connectivity",
                    Some(("Subnets", t)),
                    json!({ "duration": iso_duration(lasts), "scope": "all" }),
                );
            }
            (FaultType::DbPrimaryFailure, Some(Resource::RdsInstance(db))) => {
                let t = format!("db-{id}");
                targets.insert(
                    t.clone(),
                    json!({
                        "resourceType": "aws:rds:db",
                        "resourceArns": [format!("arn:aws:rds:{}:{account}:db:{}", s.topology.primary_region, db.instance)],
                        "selectionMode": "ALL"
                    }),
                );
                action(
                    id.clone(),
                    "aws:rds:reboot-db-instances",
                    Some(("DBInstances", t)),
                    json!({ "forceFailover": if db.multi_az { "true" } else { "false" } }),
                );
            }
            (FaultType::DbPrimaryFailure, Some(Resource::AuroraGlobal(a))) => {
                let t = format!("cluster-{id}");
                targets.insert(
                    t.clone(),
                    json!({
                        "resourceType": "aws:rds:cluster",
                        "resourceArns": [format!("arn:aws:rds:{}:{account}:cluster:{}", s.topology.primary_region, a.primary_cluster)],
                        "selectionMode": "ALL"
                    }),
                );
                action(id.clone(), "aws:rds:failover-db-cluster", Some(("Clusters", t)), json!({}));
            }
            (FaultType::ReplicationPause, Some(Resource::S3Bucket(b))) => {
                let t = format!("bucket-{id}");
                targets.insert(
                    t.clone(),
                    json!({
                        "resourceType": "aws:s3:bucket",
                        "resourceArns": [format!("arn:aws:s3:::{}", b.bucket)],
                        "selectionMode": "ALL"
                    }),
                );
                action(
                    id.clone(),
                    "aws:s3:bucket-pause-replication",
                    Some(("Buckets", t)),
                    json!({ "duration": iso_duration(lasts.min(12.0 * 3600.0)), "region": s.topology.dr_region }),
                );
            }
            (FaultType::ReplicationPause, Some(Resource::DynamodbGlobalTable(tbl))) => {
                let t = format!("table-{id}");
                targets.insert(
                    t.clone(),
                    json!({
                        "resourceType": "aws:dynamodb:global-table",
                        "resourceArns": [format!("arn:aws:dynamodb:{}:{account}:table/{}", s.topology.primary_region, tbl.table)],
                        "selectionMode": "ALL"
                    }),
                );
                action(
                    id.clone(),
                    "aws:dynamodb:global-table-pause-replication",
                    Some(("Tables", t)),
                    json!({ "duration": iso_duration(lasts.min(12.0 * 3600.0)) }),
                );
            }
            (FaultType::ScaleOutBlocked | FaultType::DrDrift, Some(Resource::EcsService(e))) => {
                // No FIS action blocks a scale-out; stopping the DR tasks is the nearest real
                // fault, and drillbit says so.
                let t = format!("tasks-{id}");
                targets.insert(
                    t.clone(),
                    json!({
                        "resourceType": "aws:ecs:task",
                        "parameters": { "cluster": e.dr.cluster, "service": e.dr.service },
                        "selectionMode": "ALL"
                    }),
                );
                action(id.clone(), "aws:ecs:stop-task", Some(("Tasks", t)), json!({}));
            }
            (kind, _) => skipped.push((
                f.id.clone(),
                format!(
                    "{} has no AWS FIS action; drillbit carries it out itself on the emulator and reports it unsupported on aws",
                    kind.as_str()
                ),
            )),
        }
    }
    let stop: Vec<Value> = if settings.stop_alarms.is_empty() {
        vec![json!({ "source": "none" })]
    } else {
        settings
            .stop_alarms
            .iter()
            .map(|a| {
                let arn = if a.starts_with("arn:") {
                    a.clone()
                } else {
                    format!("arn:aws:cloudwatch:{}:{account}:alarm:{a}", s.topology.primary_region)
                };
                json!({ "source": "aws:cloudwatch:alarm", "value": arn })
            })
            .collect()
    };
    let role = settings
        .fis_role_arn
        .clone()
        .unwrap_or(format!("arn:aws:iam::{account}:role/drillbit-fis"));
    let json = json!({
        "description": format!("drillbit drill: {}", s.name),
        "roleArn": role,
        "stopConditions": stop,
        "targets": targets,
        "actions": actions,
        "tags": { "drillbit:scenario": s.name },
    });
    Template { json, skipped }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_iso_8601() {
        assert_eq!(iso_duration(120.0), "PT2M");
        assert_eq!(iso_duration(45.0), "PT45S");
        assert_eq!(iso_duration(7200.0), "PT2H");
        assert_eq!(iso_duration(0.0), "PT0S");
    }
}
