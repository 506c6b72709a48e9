//! Bindings: a resource bound to an existing one (`bind:`) is the user's. Here the ARN forms
//! each resource kind accepts, checked by `validate` with a position, and their application:
//! the identifiers the runbook acts on.

use super::Resource;

/// What is wrong with a resource's `bind.arn`, if anything.
pub fn arn_problem(r: &Resource) -> Option<String> {
    let arn = r.bind()?.arn.as_deref()?;
    let ok = match r {
        Resource::RdsInstance(_) | Resource::RdsReadReplica(_) => rds_instance_of(arn).is_some(),
        Resource::Route53Record(_) => zone_of(arn).is_some(),
        _ => arn.starts_with("arn:"),
    };
    (!ok).then(|| format!("`{arn}` is not of the form {}", expected(r)))
}

fn expected(r: &Resource) -> &'static str {
    match r {
        Resource::RdsInstance(_) | Resource::RdsReadReplica(_) => "arn:aws:rds:REGION:ACCOUNT:db:NAME",
        Resource::Route53Record(_) => "arn:aws:route53:::hostedzone/ID",
        _ => "arn:PARTITION:SERVICE:...",
    }
}

/// A scenario whose resources bound by ARN name what the ARN names: an RDS instance or replica
/// acts on the instance the ARN identifies, a Route 53 record on the hosted zone (or its
/// `hosted_zone_id`). Other kinds are bound by the names the scenario gives them (each side's
/// cluster and service, group, table).
pub fn apply(s: &mut super::Scenario) -> Result<(), String> {
    for r in &mut s.topology.resources {
        let id = r.id().to_string();
        if let Some(why) = arn_problem(r) {
            return Err(format!("resource `{id}`: bind.arn {why}"));
        }
        let Some(arn) = r.bind().and_then(|b| b.arn.clone()) else {
            continue;
        };
        match r {
            Resource::RdsInstance(db) => db.instance = rds_instance_of(&arn).unwrap_or_default(),
            Resource::RdsReadReplica(rr) => rr.instance = rds_instance_of(&arn).unwrap_or_default(),
            Resource::Route53Record(rec) => {
                let zone = zone_of(&arn).unwrap_or_default();
                if rec.hosted_zone_id.as_deref().is_some_and(|z| z != zone) {
                    return Err(format!(
                        "resource `{id}`: bind.arn names hosted zone {zone} but hosted_zone_id says {}",
                        rec.hosted_zone_id.as_deref().unwrap_or("")
                    ));
                }
                rec.hosted_zone_id = Some(zone);
            }
            _ => {}
        }
    }
    Ok(())
}

fn rds_instance_of(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "rds", _, _, "db", name] if !name.is_empty() => Some(name.to_string()),
        _ => None,
    }
}

fn zone_of(arn: &str) -> Option<String> {
    arn.strip_prefix("arn:aws:route53:::hostedzone/")
        .filter(|z| !z.is_empty() && !z.contains('/'))
        .map(str::to_string)
}
