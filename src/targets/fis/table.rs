//! Every AWS FIS action drillbit emits, with what the FIS actions reference demands of it: the
//! target key and resource type, how the target may be selected, and the required and optional
//! parameters. [`check`] holds a template to it, so a template that FIS would refuse (or run
//! without the effect meant) fails a test here instead of a game day.
//!
//! Source: the AWS FIS User Guide, "AWS FIS actions reference"
//! (<https://docs.aws.amazon.com/fis/latest/userguide/fis-actions-reference.html>, read
//! 2026-12-02) and "Targets for AWS FIS" (selection by ARN, tags, filters, parameters).

use serde_json::Value;

/// How FIS lets a target of the action be selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// By `resourceArns` or by `resourceTags` (with optional `filters`).
    ArnsOrTags,
    /// By `resourceTags` only: FIS rejects `resourceArns` and `filters` for it.
    TagsOnly,
}

#[derive(Debug)]
pub struct TargetSpec {
    /// The key of the action's `targets` map (e.g. `Subnets`).
    pub key: &'static str,
    pub resource_type: &'static str,
    pub select: Select,
}

#[derive(Debug)]
pub struct FisAction {
    pub id: &'static str,
    pub target: Option<TargetSpec>,
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
    /// The reference's sentence this row stands on, for the reader.
    pub reference: &'static str,
}

/// The shortest and longest duration FIS accepts for a wait or an action (ISO 8601).
pub const MIN_S: f64 = 60.0;
pub const MAX_S: f64 = 12.0 * 3600.0;

/// The parameters that are ISO 8601 durations bounded by [`MIN_S`]..=[`MAX_S`].
const BOUNDED: &[&str] = &["duration"];

pub const ACTIONS: &[FisAction] = &[
    FisAction {
        id: "aws:fis:wait",
        target: None,
        required: &["duration"],
        optional: &[],
        reference: "Runs the AWS FIS wait action. duration: from one minute to 12 hours.",
    },
    FisAction {
        id: "aws:network:disrupt-connectivity",
        target: Some(TargetSpec {
            key: "Subnets",
            resource_type: "aws:ec2:subnet",
            select: Select::ArnsOrTags,
        }),
        required: &["duration", "scope"],
        optional: &["prefixListIdentifier"],
        reference: "Denies the specified traffic to the target subnets by temporarily cloning the original \
                    network ACL; scope all | availability-zone | dynamodb | prefix-list | s3 | s3express | vpc; \
                    duration from one minute to 12 hours.",
    },
    FisAction {
        id: "aws:rds:reboot-db-instances",
        target: Some(TargetSpec {
            key: "DBInstances",
            resource_type: "aws:rds:db",
            select: Select::ArnsOrTags,
        }),
        required: &[],
        optional: &["forceFailover"],
        reference: "Runs RebootDBInstance on the target instances; forceFailover true fails a Multi-AZ \
                    instance over.",
    },
    FisAction {
        id: "aws:rds:failover-db-cluster",
        target: Some(TargetSpec {
            key: "Clusters",
            resource_type: "aws:rds:cluster",
            select: Select::ArnsOrTags,
        }),
        required: &[],
        optional: &[],
        reference: "Runs FailoverDBCluster on the target Aurora DB cluster.",
    },
    FisAction {
        id: "aws:s3:bucket-pause-replication",
        target: Some(TargetSpec {
            key: "Buckets",
            resource_type: "aws:s3:bucket",
            select: Select::TagsOnly,
        }),
        required: &["duration", "region"],
        optional: &["destinationBuckets", "prefixes"],
        reference: "Pauses replication from the target source buckets to destination buckets in `region`; \
                    targets are selected by resource tags only; duration up to 12 hours; replication may go on \
                    for up to an hour after the action starts.",
    },
    FisAction {
        id: "aws:dynamodb:global-table-pause-replication",
        target: Some(TargetSpec {
            key: "Tables",
            resource_type: "aws:dynamodb:global-table",
            select: Select::ArnsOrTags,
        }),
        required: &["duration"],
        optional: &[],
        reference: "Pauses replication of the target global table to all replica tables; duration up to 12 \
                    hours; replication may go on for up to five minutes after the action starts.",
    },
    FisAction {
        id: "aws:ec2:asg-insufficient-instance-capacity-error",
        target: Some(TargetSpec {
            key: "AutoScalingGroups",
            resource_type: "aws:ec2:autoscaling-group",
            select: Select::ArnsOrTags,
        }),
        required: &["duration", "availabilityZoneIdentifiers"],
        optional: &["percentage"],
        reference: "Injects InsufficientInstanceCapacity errors into the launches of the target Auto Scaling \
                    groups in the given Availability Zones; percentage of launches (default 100).",
    },
];

/// The row of `id`.
pub fn action(id: &str) -> Option<&'static FisAction> {
    ACTIONS.iter().find(|a| a.id == id)
}

/// Seconds of an ISO 8601 duration as drillbit writes them (`PT{n}H`, `PT{n}M`, `PT{n}S`).
pub fn parse_duration(d: &str) -> Option<f64> {
    let body = d.strip_prefix("PT")?;
    let (n, unit) = body.split_at(body.len().checked_sub(1)?);
    let n: f64 = n.parse().ok()?;
    match unit {
        "H" => Some(n * 3600.0),
        "M" => Some(n * 60.0),
        "S" => Some(n),
        _ => None,
    }
}

/// Everything in a CreateExperimentTemplate input (`tpl`) that FIS would refuse or that would
/// not do what the table says: unknown actions, missing or unknown parameters, durations out of
/// bounds, targets of the wrong key, type or selection, `startAfter` naming nothing, waits that
/// nothing follows. Empty: the template is right.
pub fn check(tpl: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let empty = serde_json::Map::new();
    let actions = tpl["actions"].as_object().unwrap_or(&empty);
    let targets = tpl["targets"].as_object().unwrap_or(&empty);
    if actions.is_empty() {
        bad.push("no actions (CreateExperimentTemplate needs one at least)".into());
    }
    for (name, a) in actions {
        let id = a["actionId"].as_str().unwrap_or_default();
        let Some(row) = action(id) else {
            bad.push(format!("{name}: {id} is not an action drillbit's table knows"));
            continue;
        };
        let params = a["parameters"].as_object().unwrap_or(&empty);
        for p in row.required {
            if !params.contains_key(*p) {
                bad.push(format!("{name}: {id} needs the parameter {p}"));
            }
        }
        for (p, v) in params {
            if !row.required.contains(&p.as_str()) && !row.optional.contains(&p.as_str()) {
                bad.push(format!("{name}: {id} has no parameter {p}"));
            }
            if !v.is_string() {
                bad.push(format!(
                    "{name}: parameter {p} must be a string (FIS parameters are strings)"
                ));
            }
            if BOUNDED.contains(&p.as_str()) {
                match v.as_str().and_then(parse_duration) {
                    Some(s) if (MIN_S..=MAX_S).contains(&s) => {}
                    Some(_) => bad.push(format!(
                        "{name}: {id} {p} {} is outside PT1M-PT12H",
                        v.as_str().unwrap_or_default()
                    )),
                    None => bad.push(format!("{name}: {p} {v} is not an ISO 8601 duration")),
                }
            }
        }
        for s in a["startAfter"].as_array().into_iter().flatten() {
            if !s.as_str().is_some_and(|s| actions.contains_key(s)) {
                bad.push(format!("{name}: startAfter {s} names no action of the template"));
            }
        }
        let used = a["targets"].as_object().unwrap_or(&empty);
        match &row.target {
            None if !used.is_empty() => bad.push(format!("{name}: {id} takes no target")),
            None => {}
            Some(spec) => {
                if used.len() != 1 || !used.contains_key(spec.key) {
                    bad.push(format!(
                        "{name}: {id} takes one target under {}, not {:?}",
                        spec.key,
                        used.keys().collect::<Vec<_>>()
                    ));
                }
                for t in used.values() {
                    let tname = t.as_str().unwrap_or_default();
                    let Some(target) = targets.get(tname) else {
                        bad.push(format!("{name}: target {tname} is not in the template"));
                        continue;
                    };
                    bad.extend(check_target(name, tname, spec, target));
                }
            }
        }
        if id == "aws:fis:wait"
            && !actions
                .values()
                .any(|b| b["startAfter"].as_array().is_some_and(|s| s.iter().any(|x| x == name)))
        {
            bad.push(format!("{name}: a wait that no action follows"));
        }
    }
    for tname in targets.keys() {
        let used = actions
            .values()
            .any(|a| a["targets"].as_object().is_some_and(|t| t.values().any(|v| v == tname)));
        if !used {
            bad.push(format!("target {tname}: no action uses it"));
        }
    }
    bad
}

fn check_target(name: &str, tname: &str, spec: &TargetSpec, t: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    if t["resourceType"] != spec.resource_type {
        bad.push(format!(
            "{name}: target {tname} is {}, the action takes {}",
            t["resourceType"], spec.resource_type
        ));
    }
    let arns = t["resourceArns"].as_array().is_some_and(|a| !a.is_empty());
    let tags = t["resourceTags"].as_object().is_some_and(|a| !a.is_empty());
    let filters = t["filters"].as_array().is_some_and(|a| !a.is_empty());
    match spec.select {
        Select::TagsOnly if arns || filters || !tags => bad.push(format!(
            "{name}: target {tname} ({}) must be selected by resourceTags only",
            spec.resource_type
        )),
        _ if arns == tags => bad.push(format!(
            "{name}: target {tname} needs either resourceArns or resourceTags"
        )),
        _ if arns && filters => bad.push(format!("{name}: target {tname}: filters go with tags, not ARNs")),
        _ => {}
    }
    let mode = t["selectionMode"].as_str().unwrap_or_default();
    let counted = |p: &str| {
        mode.strip_prefix(p)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
            .is_some_and(|n| n.parse::<u32>().is_ok())
    };
    if mode != "ALL" && !counted("COUNT") && !counted("PERCENT") {
        bad.push(format!(
            "{name}: target {tname}: selectionMode {mode:?} is not ALL, COUNT(n) or PERCENT(n)"
        ));
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("PT12H"), Some(43_200.0));
        assert_eq!(parse_duration("PT90S"), Some(90.0));
        assert_eq!(parse_duration("PT2M"), Some(120.0));
        assert_eq!(parse_duration("P1D"), None);
        assert_eq!(parse_duration("PT"), None);
    }

    #[test]
    fn the_check_catches_what_fis_refuses() {
        let tpl = json!({
            "targets": {
                "b": { "resourceType": "aws:s3:bucket", "resourceArns": ["arn:aws:s3:::x"], "selectionMode": "ALL" },
                "orphan": { "resourceType": "aws:ec2:subnet", "resourceTags": { "k": "v" }, "selectionMode": "ALL" }
            },
            "actions": {
                "w": { "actionId": "aws:fis:wait", "parameters": { "duration": "PT30S" } },
                "p": { "actionId": "aws:s3:bucket-pause-replication", "parameters": { "duration": "PT13H" },
                       "targets": { "Buckets": "b" }, "startAfter": ["nope"] },
                "x": { "actionId": "aws:ecs:stop-task", "parameters": {} }
            }
        });
        let bad = check(&tpl).join("\n");
        for want in [
            "w: aws:fis:wait duration PT30S is outside",
            "w: a wait that no action follows",
            "p: aws:s3:bucket-pause-replication needs the parameter region",
            "PT13H is outside",
            "startAfter \"nope\"",
            "must be selected by resourceTags only",
            "x: aws:ecs:stop-task is not an action",
            "target orphan: no action uses it",
        ] {
            assert!(bad.contains(want), "missing {want:?} in\n{bad}");
        }
    }

    #[test]
    fn a_right_template_passes() {
        let tpl = json!({
            "targets": { "g": { "resourceType": "aws:ec2:autoscaling-group",
                                "resourceTags": { "drillbit:resource": "web" }, "selectionMode": "ALL" } },
            "actions": {
                "wait-f": { "actionId": "aws:fis:wait", "parameters": { "duration": "PT5M" } },
                "f": { "actionId": "aws:ec2:asg-insufficient-instance-capacity-error",
                       "parameters": { "duration": "PT1H", "availabilityZoneIdentifiers": "us-west-2a", "percentage": "100" },
                       "targets": { "AutoScalingGroups": "g" }, "startAfter": ["wait-f"] }
            }
        });
        assert_eq!(check(&tpl), Vec::<String>::new());
    }
}
