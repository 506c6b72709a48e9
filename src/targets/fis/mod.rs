//! AWS FIS experiment templates from a scenario's faults (`drillbit fis-template FILE`).
//!
//! Each template is the input of CreateExperimentTemplate, one per region the faults act in
//! (FIS resolves targets in the experiment's own region). Each fault becomes an FIS action
//! that starts after `aws:fis:wait`s adding up to the fault's `at` (actions run in parallel
//! unless chained with `startAfter`); one lasting past FIS's 12 hours is chained actions. Its
//! targets are named by ARN (databases, clusters, tables) or selected by tag (subnets: the tag
//! `drillbit:region` or `aws.subnet_tags`; S3 buckets and Auto Scaling groups: `drillbit:resource`
//! or `aws.target_tags`). [`table`] holds every action drillbit emits to the FIS actions
//! reference. A fault FIS has no action for is listed in [`Template::skipped`] with the reason,
//! never silently dropped.

use serde_json::{json, Map, Value};

use crate::scenario::{FaultType, Resource, Scenario};

pub mod table;

/// One experiment's template: FIS experiments are regional (targets resolve in the region the
/// experiment runs in), so a drill has one per region its faults act in.
#[derive(Debug, Clone)]
pub struct Regional {
    pub region: String,
    /// The CreateExperimentTemplate input.
    pub json: Value,
}

pub struct Template {
    /// The experiments, the primary region's first; none when no fault has an FIS action.
    pub parts: Vec<Regional>,
    /// Faults with no FIS action, and why.
    pub skipped: Vec<(String, String)>,
}

impl Template {
    /// The FIS action id a fault became (empty when it was skipped).
    pub fn action_of(&self, fault_id: &str) -> &str {
        let key = slug(fault_id);
        self.parts
            .iter()
            .find_map(|p| p.json["actions"][&key]["actionId"].as_str())
            .unwrap_or_default()
    }

    /// The region whose experiment holds the fault's action.
    pub fn region_of(&self, fault_id: &str) -> Option<&str> {
        let key = slug(fault_id);
        self.parts
            .iter()
            .find(|p| p.json["actions"].get(&key).is_some())
            .map(|p| p.region.as_str())
    }

    /// What `drillbit fis-template` prints: the one template, or a map of region to template.
    pub fn to_json(&self) -> Value {
        match self.parts.as_slice() {
            [one] => one.json.clone(),
            parts => Value::Object(parts.iter().map(|p| (p.region.clone(), p.json.clone())).collect()),
        }
    }
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
pub const WAIT_MIN_S: f64 = table::MIN_S;
pub const WAIT_MAX_S: f64 = table::MAX_S;

/// The pieces that make `secs` out of FIS durations: none at 0, one up to 12 hours, a chain
/// of 12-hour pieces and the rest beyond; None when it is under FIS's minimum of a minute
/// (or leaves a remainder under it), which no wait or action duration can express.
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

/// The tag a subnet carries for drillbit's network faults in `region`, unless the scenario
/// names its subnets (`aws.subnets`) or its own tags (`aws.subnet_tags`).
pub const SUBNET_TAG: &str = "drillbit:region";
/// The tag FIS selects a resource by where it cannot (or drillbit cannot) name it by ARN: S3
/// buckets for replication pauses, Auto Scaling groups (their ARNs hold a generated id), unless
/// the scenario gives the resource's own tags (`aws.target_tags`).
pub const RESOURCE_TAG: &str = "drillbit:resource";

/// One fault's FIS action, before it is placed in its region's template.
struct Planned {
    region: String,
    target: Option<(&'static str, Value)>,
    action_id: &'static str,
    params: Map<String, Value>,
    /// How long the action must last (split into chained actions past 12 hours), for the
    /// actions that take a duration.
    lasts: Option<f64>,
}

/// Builds the templates. `account` fills ARNs (the allow-listed account, or the emulator's).
pub fn template(s: &Scenario, account: &str) -> Template {
    let settings = s.aws.clone().unwrap_or_default();
    // Per region: its targets and its actions.
    type Part = (String, Map<String, Value>, Map<String, Value>);
    let mut regions: Vec<Part> = Vec::new();
    let mut skipped = Vec::new();
    let (primary, dr) = (s.topology.primary_region.clone(), s.topology.dr_region.clone());
    // How long a fault lasts: its duration, else until the drill's horizon.
    let horizon = s.drill.horizon.secs();
    let tags_of = |id: &str| -> Value {
        match settings.target_tags.get(id) {
            Some(t) if !t.is_empty() => json!(t),
            _ => json!({ RESOURCE_TAG: id }),
        }
    };
    for f in &s.faults {
        let id = slug(&f.id);
        let lasts = f.duration.map_or(horizon, |d| d.secs());
        let res = f.resource.as_deref().and_then(|r| s.resource(r));
        let subnets = |region: &str, az: Option<&str>| {
            let mut t = json!({ "resourceType": "aws:ec2:subnet", "selectionMode": "ALL" });
            match (settings.subnets.get(region), settings.subnet_tags.get(region)) {
                (Some(ids), _) if !ids.is_empty() => {
                    t["resourceArns"] = json!(ids
                        .iter()
                        .map(|i| format!("arn:aws:ec2:{region}:{account}:subnet/{i}"))
                        .collect::<Vec<_>>());
                }
                (_, Some(tags)) if !tags.is_empty() => t["resourceTags"] = json!(tags),
                _ => t["resourceTags"] = json!({ SUBNET_TAG: region }),
            }
            if let Some(az) = az {
                t["filters"] = json!([{ "path": "AvailabilityZone", "values": [az] }]);
            }
            t
        };
        let by_arn =
            |kind: &str, arn: String| json!({ "resourceType": kind, "resourceArns": [arn], "selectionMode": "ALL" });
        let params = |v: Value| v.as_object().cloned().unwrap_or_default();
        let planned = match (f.kind, res) {
            (FaultType::RegionOutage | FaultType::AzOutage, _) => {
                let region = f.region.clone().unwrap_or(primary.clone());
                let az = if f.kind == FaultType::AzOutage { f.az.as_deref() } else { None };
                Ok(Planned {
                    target: Some(("Subnets", subnets(&region, az))),
                    region,
                    action_id: "aws:network:disrupt-connectivity",
                    params: params(json!({ "scope": "all" })),
                    lasts: Some(lasts),
                })
            }
            (FaultType::DbPrimaryFailure, Some(Resource::RdsInstance(db))) => {
                let region = s.side_region(db.side, false).to_string();
                Ok(Planned {
                    target: Some((
                        "DBInstances",
                        by_arn("aws:rds:db", format!("arn:aws:rds:{region}:{account}:db:{}", db.instance)),
                    )),
                    region,
                    action_id: "aws:rds:reboot-db-instances",
                    params: params(json!({ "forceFailover": if db.multi_az { "true" } else { "false" } })),
                    lasts: None,
                })
            }
            (FaultType::DbPrimaryFailure, Some(Resource::AuroraGlobal(a))) => Ok(Planned {
                target: Some((
                    "Clusters",
                    by_arn(
                        "aws:rds:cluster",
                        format!("arn:aws:rds:{primary}:{account}:cluster:{}", a.primary_cluster),
                    ),
                )),
                region: primary.clone(),
                action_id: "aws:rds:failover-db-cluster",
                params: Map::new(),
                lasts: None,
            }),
            // FIS selects the source buckets of a replication pause by tag only.
            (FaultType::ReplicationPause, Some(Resource::S3Bucket(b))) => Ok(Planned {
                target: Some((
                    "Buckets",
                    json!({ "resourceType": "aws:s3:bucket", "resourceTags": tags_of(&b.id), "selectionMode": "ALL" }),
                )),
                region: primary.clone(),
                action_id: "aws:s3:bucket-pause-replication",
                params: params(json!({
                    "region": dr,
                    "destinationBuckets": b.replication.as_ref().map_or(String::new(), |r| r.replica_bucket().to_string()),
                }))
                .into_iter()
                .filter(|(_, v)| v != "")
                .collect(),
                lasts: Some(lasts),
            }),
            (FaultType::ReplicationPause, Some(Resource::DynamodbGlobalTable(tbl))) => Ok(Planned {
                target: Some((
                    "Tables",
                    by_arn(
                        "aws:dynamodb:global-table",
                        format!("arn:aws:dynamodb:{primary}:{account}:table/{}", tbl.table),
                    ),
                )),
                region: primary.clone(),
                action_id: "aws:dynamodb:global-table-pause-replication",
                params: Map::new(),
                lasts: Some(lasts),
            }),
            // The DR group's launches fail for lack of capacity: its scale-out is blocked. A
            // delayed scale-out has no FIS action.
            (FaultType::ScaleOutBlocked, Some(Resource::AutoScalingGroup(g))) if f.delay.is_none() => {
                let zones = settings
                    .availability_zones
                    .get(&dr)
                    .filter(|z| !z.is_empty())
                    .cloned()
                    .unwrap_or_else(|| ["a", "b", "c"].iter().map(|l| format!("{dr}{l}")).collect());
                Ok(Planned {
                    target: Some((
                        "AutoScalingGroups",
                        json!({ "resourceType": "aws:ec2:autoscaling-group", "resourceTags": tags_of(&g.id), "selectionMode": "ALL" }),
                    )),
                    region: dr.clone(),
                    action_id: "aws:ec2:asg-insufficient-instance-capacity-error",
                    params: params(json!({ "availabilityZoneIdentifiers": zones.join(","), "percentage": "100" })),
                    lasts: Some(lasts),
                })
            }
            (FaultType::ScaleOutBlocked, Some(Resource::AutoScalingGroup(_))) => Err(
                "a delayed (not blocked) scale-out has no AWS FIS action: aws:ec2:asg-insufficient-instance-capacity-error blocks launches, it does not delay them".to_string(),
            ),
            (FaultType::ScaleOutBlocked | FaultType::DrDrift, Some(Resource::EcsService(_))) => Err(format!(
                "{} on an ECS service has no AWS FIS action (aws:ecs:stop-task stops running tasks: it neither blocks a scale-out nor removes a DR resource)",
                f.kind.as_str()
            )),
            (kind, _) => Err(format!(
                "{} has no AWS FIS action; drillbit carries it out itself on the emulator and reports it unsupported on aws",
                kind.as_str()
            )),
        };
        let mut p = match planned {
            Ok(p) => p,
            Err(why) => {
                skipped.push((f.id.clone(), why));
                continue;
            }
        };
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
        // Its duration as FIS action durations: one action up to 12 hours, chained past it.
        let pieces = match p.lasts {
            None => vec![None],
            Some(secs) => match waits(secs) {
                Some(w) if !w.is_empty() => w.into_iter().map(Some).collect(),
                _ => {
                    skipped.push((
                        f.id.clone(),
                        format!(
                            "it lasts {secs}s: {} lasts {} minute to {} hours (give the fault a `duration` of a minute or more)",
                            p.action_id,
                            WAIT_MIN_S / 60.0,
                            WAIT_MAX_S / 3600.0
                        ),
                    ));
                    continue;
                }
            },
        };
        let slot = match regions.iter().position(|(r, _, _)| *r == p.region) {
            Some(i) => i,
            None => {
                regions.push((p.region.clone(), Map::new(), Map::new()));
                regions.len() - 1
            }
        };
        let (_, targets, actions) = &mut regions[slot];
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
            if let Some(prev) = prev.replace(name.clone()) {
                w["startAfter"] = json!([prev]);
            }
            actions.insert(name, w);
        }
        let target_name = p.target.as_ref().map(|(_, t)| {
            let kind = t["resourceType"]
                .as_str()
                .unwrap_or("target")
                .rsplit(':')
                .next()
                .unwrap_or("target");
            format!("{kind}-{id}")
        });
        if let (Some(name), Some((_, t))) = (&target_name, p.target.as_mut()) {
            targets.insert(name.clone(), t.take());
        }
        for (n, piece) in pieces.iter().enumerate() {
            // The first piece is the fault's own action (the engine follows it by this name).
            let name = if n == 0 { id.clone() } else { format!("{id}-{}", n + 1) };
            let mut params = p.params.clone();
            if let Some(secs) = piece {
                params.insert("duration".into(), json!(iso_duration(*secs)));
            }
            let mut a = json!({
                "actionId": p.action_id,
                "description": if pieces.len() == 1 {
                    format!("drillbit fault {} ({})", f.id, f.kind.as_str())
                } else {
                    format!("drillbit fault {} ({}), part {} of {}", f.id, f.kind.as_str(), n + 1, pieces.len())
                },
                "parameters": params,
            });
            if let (Some(name), Some((key, _))) = (&target_name, &p.target) {
                a["targets"] = json!({ *key: name });
            }
            if let Some(prev) = prev.replace(name.clone()) {
                a["startAfter"] = json!([prev]);
            }
            actions.insert(name, a);
        }
    }
    let stop = |region: &str| -> Vec<Value> {
        if settings.stop_alarms.is_empty() {
            return vec![json!({ "source": "none" })];
        }
        settings
            .stop_alarms
            .iter()
            .filter_map(|a| {
                if a.starts_with("arn:") {
                    // An alarm stops only the experiment of its own region.
                    (a.split(':').nth(3) == Some(region)).then(|| a.clone())
                } else {
                    (region == primary).then(|| format!("arn:aws:cloudwatch:{region}:{account}:alarm:{a}"))
                }
            })
            .map(|arn| json!({ "source": "aws:cloudwatch:alarm", "value": arn }))
            .collect::<Vec<_>>()
    };
    let role = settings
        .fis_role_arn
        .clone()
        .unwrap_or(format!("arn:aws:iam::{account}:role/drillbit-fis"));
    // The primary's experiment first.
    regions.sort_by_key(|(r, _, _)| *r != primary);
    let parts = regions
        .into_iter()
        .map(|(region, targets, actions)| {
            let mut stops = stop(&region);
            if stops.is_empty() {
                stops.push(json!({ "source": "none" }));
            }
            Regional {
                json: json!({
                    "description": format!("drillbit drill: {} ({region})", s.name),
                    "roleArn": role,
                    "stopConditions": stops,
                    "targets": targets,
                    "actions": actions,
                    "tags": { "drillbit:scenario": s.name },
                }),
                region,
            }
        })
        .collect();
    Template { parts, skipped }
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

    /// Every template of a scenario right by the FIS actions table.
    fn check_all(name: &str, tpl: &Template) {
        for part in &tpl.parts {
            let bad = table::check(&part.json);
            assert!(bad.is_empty(), "{name} ({}):\n{}", part.region, bad.join("\n"));
        }
    }

    fn load(name: &str, text: &str) -> Scenario {
        crate::scenario::load_str(name, text).expect("valid").scenario
    }

    #[test]
    fn every_shipped_template_is_right_by_the_table() {
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
                    let name = p.display().to_string();
                    let s = load(&name, &std::fs::read_to_string(&p).expect("read"));
                    check_all(&name, &template(&s, "123456789012"));
                    n += 1;
                }
            }
        }
        assert!(n >= 10, "{n} scenarios");
    }

    const EVERY: &str = include_str!("../../../tests/fixtures/fis-every-fault.yaml");

    #[test]
    fn every_fault_kind_becomes_a_right_action_or_a_reason() {
        let s = load("fis-every-fault.yaml", EVERY);
        let tpl = template(&s, "123456789012");
        check_all("fis-every-fault.yaml", &tpl);
        // Each fault is an action or skipped with its reason, never dropped.
        for f in &s.faults {
            let acted = !tpl.action_of(&f.id).is_empty();
            let skipped = tpl.skipped.iter().any(|(id, _)| *id == f.id);
            assert!(acted != skipped, "fault {}: acted {acted}, skipped {skipped}", f.id);
        }
        let regions: Vec<&str> = tpl.parts.iter().map(|p| p.region.as_str()).collect();
        assert_eq!(
            regions,
            ["us-east-1", "us-west-2"],
            "one experiment per region, the primary's first"
        );
        let (east, west) = (&tpl.parts[0].json, &tpl.parts[1].json);
        // The blocked scale-out of the DR group, in the DR region's experiment, by tag.
        assert_eq!(
            tpl.action_of("asg-blocked"),
            "aws:ec2:asg-insufficient-instance-capacity-error"
        );
        assert_eq!(tpl.region_of("asg-blocked"), Some("us-west-2"));
        let asg = &west["actions"]["asg-blocked"];
        assert_eq!(asg["parameters"]["availabilityZoneIdentifiers"], "usw2-az1,usw2-az2");
        let t = asg["targets"]["AutoScalingGroups"].as_str().expect("target");
        assert_eq!(
            west["targets"][t]["resourceTags"],
            json!({ "drillbit:resource": "web" })
        );
        // The bucket's pause by the scenario's tags only, toward the DR region.
        let pause = &east["actions"]["s3-pause"];
        let t = pause["targets"]["Buckets"].as_str().expect("target");
        assert_eq!(east["targets"][t]["resourceTags"], json!({ "team": "storage" }));
        assert!(east["targets"][t].get("resourceArns").is_none());
        assert_eq!(pause["parameters"]["region"], "us-west-2");
        // Subnets by the scenario's own tags; a 13-hour AZ outage is two chained actions.
        let t = east["actions"]["az"]["targets"]["Subnets"].as_str().expect("target");
        assert_eq!(east["targets"][t]["resourceTags"], json!({ "Tier": "app" }));
        assert_eq!(east["actions"]["az"]["parameters"]["duration"], "PT12H");
        assert_eq!(east["actions"]["az-2"]["parameters"]["duration"], "PT1H");
        assert_eq!(east["actions"]["az-2"]["startAfter"], json!(["az"]));
        // Under a minute, as a wait or as a duration: refused with the reason.
        let why = |id: &str| {
            tpl.skipped
                .iter()
                .find(|(f, _)| f == id)
                .map(|(_, w)| w.clone())
                .unwrap_or_default()
        };
        assert!(why("too-soon").contains("1 minute to 12 hours"), "{}", why("too-soon"));
        assert!(why("too-short").contains("lasts 20s"), "{}", why("too-short"));
        assert!(why("asg-slow").contains("delayed"), "{}", why("asg-slow"));
        assert!(why("ecs-drift").contains("stop-task"), "{}", why("ecs-drift"));
    }

    #[test]
    fn faults_at_30s_13h_and_one_fis_cannot_do() {
        let text = "name: t\nstrategy: pilot-light\ntargets: { rto: 10m, rpo: 1m }\ntopology:\n  primary_region: us-east-1\n  dr_region: us-west-2\n  resources:\n    - { id: db, kind: rds-instance, instance: app }\n    - { id: api, kind: ecs-service, primary: { cluster: p, service: s, desired: 2 }, dr: { cluster: d, service: s, desired: 0 } }\nfaults:\n  - { id: soon, kind: db-primary-failure, resource: db, at: 30s }\n  - { id: late, kind: db-primary-failure, resource: db, at: 13h }\n  - { id: drift, kind: dr-drift, resource: api, at: 5m }\nrunbook:\n  steps:\n    - { id: w, action: wait, duration: 1s }\ndrill: { horizon: 2d }\n";
        let tpl = template(&load("t.yaml", text), "123456789012");
        let skipped: Vec<&str> = tpl.skipped.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(skipped, ["soon", "drift"], "{:?}", tpl.skipped);
        let a = &tpl.parts[0].json["actions"];
        assert_eq!(a["wait-late-1"]["parameters"]["duration"], "PT12H");
        assert_eq!(a["wait-late-2"]["parameters"]["duration"], "PT1H");
        assert_eq!(a["wait-late-2"]["startAfter"], json!(["wait-late-1"]));
        assert_eq!(a["late"]["startAfter"], json!(["wait-late-2"]));
        assert!(a.get("soon").is_none() && a.get("wait-soon").is_none() && a.get("wait-drift").is_none());
        check_all("t.yaml", &tpl);
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
