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

/// The shortest and longest `aws:fis:wait` (and action duration) FIS accepts.
pub const WAIT_MIN_S: f64 = 60.0;
pub const WAIT_MAX_S: f64 = 12.0 * 3600.0;

/// The waits that delay an action by `secs`: none at 0, one up to 12 hours, a chain of
/// 12-hour waits and the rest beyond; None when the delay is under FIS's minimum of a minute
/// (or leaves a remainder under it), which no wait can express.
pub fn waits(secs: f64) -> Option<Vec<f64>> {
    let secs = secs.round();
    if secs <= 0.0 {
        return Some(Vec::new());
    }
    let mut left = secs;
    let mut out = Vec::new();
    while left > WAIT_MAX_S {
        // Keep the last piece at least a minute long.
        let piece = if left - WAIT_MAX_S < WAIT_MIN_S {
            WAIT_MAX_S - WAIT_MIN_S
        } else {
            WAIT_MAX_S
        };
        out.push(piece);
        left -= piece;
    }
    if left < WAIT_MIN_S {
        return None;
    }
    out.push(left);
    Some(out)
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
        // The fault's time as FIS waits, chained; the waits go in only with the fault's action.
        let Some(delays) = waits(f.at.secs()) else {
            skipped.push((
                f.id.clone(),
                format!(
                    "at {}s cannot be an FIS wait: FIS waits last {} minute to {} hours (move the fault to `at: 0s` or to a minute or later)",
                    f.at.secs(),
                    WAIT_MIN_S / 60.0,
                    WAIT_MAX_S / 3600.0
                ),
            ));
            continue;
        };
        let mut chain = Vec::new();
        let mut prev: Option<String> = None;
        for (n, d) in delays.iter().enumerate() {
            let name = if delays.len() == 1 {
                format!("wait-{id}")
            } else {
                format!("wait-{id}-{}", n + 1)
            };
            let mut w = json!({
                "actionId": "aws:fis:wait",
                "description": format!("until fault {} at {}s", f.id, f.at.secs()),
                "parameters": { "duration": iso_duration(*d) }
            });
            if let Some(p) = prev.replace(name.clone()) {
                w["startAfter"] = json!([p]);
            }
            chain.push((name, w));
        }
        let start_after: Vec<Value> = prev.into_iter().map(Value::String).collect();
        let before = actions.len();
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
            (FaultType::ScaleOutBlocked | FaultType::DrDrift, Some(Resource::EcsService(_))) => skipped.push((
                f.id.clone(),
                format!(
                    "{} on an ECS service has no AWS FIS action (aws:ecs:stop-task stops running tasks: it neither blocks a scale-out nor removes a DR resource)",
                    f.kind.as_str()
                ),
            )),
            (kind, _) => skipped.push((
                f.id.clone(),
                format!(
                    "{} has no AWS FIS action; drillbit carries it out itself on the emulator and reports it unsupported on aws",
                    kind.as_str()
                ),
            )),
        }
        // The waits lead to the action that follows them; a fault FIS has no action for
        // leaves none behind.
        if actions.len() > before {
            for (name, w) in chain {
                actions.insert(name, w);
            }
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

    /// Every wait of a template within FIS's bounds and followed by an action that is not a wait.
    fn check_waits(name: &str, tpl: &Template) {
        let actions = tpl.json["actions"].as_object().expect("actions");
        for (k, a) in actions {
            if a["actionId"] != "aws:fis:wait" {
                continue;
            }
            let d = a["parameters"]["duration"].as_str().expect("duration");
            let secs: f64 = match d.trim_start_matches("PT").split_at(d.len() - 3) {
                (n, "H") => n.parse::<f64>().expect("n") * 3600.0,
                (n, "M") => n.parse::<f64>().expect("n") * 60.0,
                (n, _) => n.parse::<f64>().expect("n"),
            };
            assert!((WAIT_MIN_S..=WAIT_MAX_S).contains(&secs), "{name}: {k} waits {d}");
            let followed = actions
                .values()
                .any(|b| b["startAfter"].as_array().is_some_and(|s| s.iter().any(|x| x == k)));
            assert!(followed, "{name}: nothing follows {k}");
        }
    }

    #[test]
    fn every_shipped_template_has_its_waits_in_bounds_and_each_followed() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
        let mut n = 0;
        for dir in [
            root.to_string(),
            format!("{root}/troubleshooting"),
            format!("{root}/local"),
        ] {
            for e in std::fs::read_dir(&dir).expect("dir") {
                let p = e.expect("entry").path();
                if p.extension().is_some_and(|x| x == "yaml") {
                    let text = std::fs::read_to_string(&p).expect("read");
                    let l = crate::scenario::load_str(&p.display().to_string(), &text).expect("valid");
                    check_waits(&p.display().to_string(), &template(&l.scenario, "123456789012"));
                    n += 1;
                }
            }
        }
        assert!(n >= 10, "{n} scenarios");
    }

    #[test]
    fn faults_at_30s_13h_and_one_fis_cannot_do() {
        let text = "name: t\nstrategy: pilot-light\ntargets: { rto: 10m, rpo: 1m }\ntopology:\n  primary_region: us-east-1\n  dr_region: us-west-2\n  resources:\n    - { id: db, kind: rds-instance, instance: app }\n    - { id: api, kind: ecs-service, primary: { cluster: p, service: s, desired: 2 }, dr: { cluster: d, service: s, desired: 0 } }\nfaults:\n  - { id: soon, kind: db-primary-failure, resource: db, at: 30s }\n  - { id: late, kind: db-primary-failure, resource: db, at: 13h }\n  - { id: drift, kind: dr-drift, resource: api, at: 5m }\nrunbook:\n  steps:\n    - { id: w, action: wait, duration: 1s }\ndrill: { horizon: 2d }\n";
        let l = crate::scenario::load_str("t.yaml", text).expect("valid");
        let tpl = template(&l.scenario, "123456789012");
        let skipped: Vec<&str> = tpl.skipped.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(skipped, ["soon", "drift"], "{:?}", tpl.skipped);
        assert!(
            tpl.skipped[0].1.contains("1 minute to 12 hours"),
            "{}",
            tpl.skipped[0].1
        );
        assert!(tpl.skipped[1].1.contains("stop-task"), "{}", tpl.skipped[1].1);
        let a = &tpl.json["actions"];
        assert_eq!(a["wait-late-1"]["parameters"]["duration"], "PT12H");
        assert_eq!(a["wait-late-2"]["parameters"]["duration"], "PT1H");
        assert_eq!(a["wait-late-2"]["startAfter"], json!(["wait-late-1"]));
        assert_eq!(a["late"]["startAfter"], json!(["wait-late-2"]));
        assert!(a.get("soon").is_none() && a.get("wait-soon").is_none() && a.get("wait-drift").is_none());
        assert!(a
            .as_object()
            .expect("actions")
            .values()
            .all(|x| x["actionId"] != "aws:ecs:stop-task"));
        check_waits("t.yaml", &tpl);
    }

    #[test]
    fn waits_stay_within_a_minute_and_twelve_hours() {
        assert_eq!(waits(0.0), Some(vec![]));
        assert_eq!(waits(30.0), None, "under FIS's minute");
        assert_eq!(waits(60.0), Some(vec![60.0]));
        assert_eq!(waits(90.0), Some(vec![90.0]));
        assert_eq!(waits(12.0 * 3600.0), Some(vec![12.0 * 3600.0]));
        assert_eq!(waits(13.0 * 3600.0), Some(vec![12.0 * 3600.0, 3600.0]));
        // A remainder under a minute is avoided by shortening the piece before it.
        let w = waits(12.0 * 3600.0 + 30.0).expect("splits");
        assert_eq!(w.iter().sum::<f64>(), 12.0 * 3600.0 + 30.0);
        for secs in [61.0, 3600.0, 43_230.0, 86_400.0, 86_430.0, 7.0 * 86_400.0] {
            let w = waits(secs).expect("a minute or more");
            assert_eq!(w.iter().sum::<f64>(), secs, "{secs}");
            assert!(w.iter().all(|d| (WAIT_MIN_S..=WAIT_MAX_S).contains(d)), "{secs}: {w:?}");
        }
    }
}
